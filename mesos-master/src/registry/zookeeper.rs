//! The registry in ZooKeeper, under the masters' path:
//!
//! ```text
//!   <path>/registry                          pointer: {"generation":"<uuid>","chunks":N,"size":S}
//!   <path>/registry_data/<generation>/<i>    the serialized Registry, in chunks of CHUNK bytes
//! ```
//!
//! A write puts the new chunks under a fresh generation, then moves the
//! pointer with a compare-and-set on its version: if another master wrote
//! in between, the write fails ([`StoreError::Conflict`]) and the writer
//! must stop leading. Chunks keep each request under ZooKeeper's 1 MB
//! limit (`jute.maxbuffer`).
//!
//! After a write, every other generation created before the pointer moved
//! is deleted: the previous one, and any a master left behind when it died
//! between writing its chunks and moving the pointer. None of them can
//! become current any more: its writer read the pointer before creating
//! it, so its compare-and-set must fail. A generation created after the
//! pointer moved (another master's write in progress) is left alone.
//!
//! Neither name parses as a `json.info_<seq>` member, so detectors ignore
//! them, as they ignore Mesos's `log_replicas`.

use std::time::Duration;

use mesos::wire::mesos::internal::Registry;
use mesos::zk::{self as mzk, ZkUrl};
use prost::Message as _;
use zookeeper_client as zk;

use super::StoreError;

/// The largest chunk written in one request.
pub const CHUNK: usize = 512 * 1024;

/// How often a failed ZooKeeper request is retried before the write
/// counts as failed.
const ATTEMPTS: usize = 5;

/// The registry in ZooKeeper.
pub struct ZkStore {
    url: ZkUrl,
    session_timeout: Duration,
    client: Option<zk::Client>,
    /// The pointer's version as last read or written: the condition of
    /// the next write. `None`: no pointer existed.
    version: Option<i32>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Pointer {
    generation: String,
    chunks: usize,
    size: usize,
}

impl ZkStore {
    /// The registry under `url.path`.
    pub fn new(url: ZkUrl, session_timeout: Duration) -> ZkStore {
        ZkStore {
            url,
            session_timeout,
            client: None,
            version: None,
        }
    }

    /// Where the registry lives, for logs.
    pub fn location(&self) -> String {
        format!("ZooKeeper node {}", self.pointer_path())
    }

    fn pointer_path(&self) -> String {
        format!("{}/registry", self.url.path)
    }

    fn data_path(&self) -> String {
        format!("{}/registry_data", self.url.path)
    }

    async fn client(&mut self) -> zk::Client {
        if let Some(client) = &self.client
            && !client.state().is_terminated()
        {
            return client.clone();
        }
        let client = mzk::connect_retrying(&self.url, self.session_timeout).await;
        self.client = Some(client.clone());
        client
    }

    fn io(&self, path: &str, error: impl std::fmt::Display) -> StoreError {
        StoreError::Io {
            location: format!("ZooKeeper node {path}"),
            reason: error.to_string(),
        }
    }

    fn corrupt(&self, reason: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            location: self.location(),
            reason: reason.into(),
        }
    }

    /// Reads the registry (empty when there is no pointer yet) and
    /// remembers the pointer's version for the next write.
    pub async fn fetch(&mut self) -> Result<Registry, StoreError> {
        let mut last = None;
        for _ in 0..ATTEMPTS {
            match self.try_fetch().await {
                Err(StoreError::Io { location, reason }) => {
                    tracing::warn!("Reading the registry failed: {location}: {reason}; retrying");
                    last = Some(StoreError::Io { location, reason });
                    self.client = None;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                other => return other,
            }
        }
        Err(last.unwrap_or_else(|| self.io(&self.pointer_path(), "no attempt")))
    }

    async fn try_fetch(&mut self) -> Result<Registry, StoreError> {
        let client = self.client().await;
        let pointer_path = self.pointer_path();
        client
            .sync(&self.url.path)
            .await
            .or_else(|e| {
                if e == zk::Error::NoNode {
                    Ok(())
                } else {
                    Err(e)
                }
            })
            .map_err(|e| self.io(&self.url.path, e))?;
        let (data, stat) = match client.get_data(&pointer_path).await {
            Ok(found) => found,
            Err(zk::Error::NoNode) => {
                self.version = None;
                return Ok(Registry::default());
            }
            Err(e) => return Err(self.io(&pointer_path, e)),
        };
        let pointer: Pointer = serde_json::from_slice(&data)
            .map_err(|e| self.corrupt(format!("unreadable pointer: {e}")))?;
        let mut bytes = Vec::with_capacity(pointer.size);
        for index in 0..pointer.chunks {
            let path = format!("{}/{}/{index}", self.data_path(), pointer.generation);
            match client.get_data(&path).await {
                Ok((chunk, _)) => bytes.extend_from_slice(&chunk),
                Err(zk::Error::NoNode) => {
                    return Err(self.corrupt(format!("chunk {path} is missing")));
                }
                Err(e) => return Err(self.io(&path, e)),
            }
        }
        if bytes.len() != pointer.size {
            return Err(self.corrupt(format!(
                "{} bytes in the chunks, the pointer says {}",
                bytes.len(),
                pointer.size
            )));
        }
        let registry = super::decode(&bytes, &self.location())?;
        self.version = Some(stat.version);
        Ok(registry)
    }

    /// Writes `registry` if nobody wrote since our last read or write.
    pub async fn store(&mut self, registry: &Registry) -> Result<(), StoreError> {
        let mut last = None;
        for _ in 0..ATTEMPTS {
            match self.try_store(registry).await {
                Err(StoreError::Io { location, reason }) => {
                    tracing::warn!("Writing the registry failed: {location}: {reason}; retrying");
                    last = Some(StoreError::Io { location, reason });
                    self.client = None;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                other => return other,
            }
        }
        Err(last.unwrap_or_else(|| self.io(&self.pointer_path(), "no attempt")))
    }

    async fn try_store(&mut self, registry: &Registry) -> Result<(), StoreError> {
        let client = self.client().await;
        let acls = mzk::acls(&self.url);
        let persistent = zk::CreateMode::Persistent.with_acls(acls);
        let bytes = registry.encode_to_vec();
        let generation = uuid::Uuid::new_v4().to_string();
        let generation_path = format!("{}/{generation}", self.data_path());
        client
            .mkdir(&generation_path, &persistent)
            .await
            .map_err(|e| self.io(&generation_path, e))?;
        let chunks: Vec<&[u8]> = if bytes.is_empty() {
            vec![&[][..]]
        } else {
            bytes.chunks(CHUNK).collect()
        };
        for (index, chunk) in chunks.iter().enumerate() {
            let path = format!("{generation_path}/{index}");
            match client.create(&path, chunk, &persistent).await {
                Ok(_) | Err(zk::Error::NodeExists) => {}
                Err(e) => return Err(self.io(&path, e)),
            }
        }
        let pointer = serde_json::to_vec(&Pointer {
            generation: generation.clone(),
            chunks: chunks.len(),
            size: bytes.len(),
        })
        .unwrap_or_default();
        let pointer_path = self.pointer_path();
        let written = match self.version {
            Some(version) => client
                .set_data(&pointer_path, &pointer, Some(version))
                .await
                .map(|stat| (stat.version, stat.mzxid)),
            None => client
                .create(&pointer_path, &pointer, &persistent)
                .await
                .map(|(stat, _)| (stat.version, stat.mzxid)),
        };
        let (version, moved) = match written {
            Ok(written) => written,
            Err(zk::Error::BadVersion) | Err(zk::Error::NodeExists) => {
                delete_generation(&client, &generation_path).await;
                return Err(StoreError::Conflict(self.location()));
            }
            Err(e) => {
                // The pointer may or may not have moved: read it back.
                let error = self.io(&pointer_path, e);
                if let Ok((data, stat)) = client.get_data(&pointer_path).await
                    && serde_json::from_slice::<Pointer>(&data)
                        .is_ok_and(|p| p.generation == generation)
                {
                    (stat.version, stat.mzxid)
                } else {
                    return Err(error);
                }
            }
        };
        self.version = Some(version);
        delete_superseded(&client, &self.data_path(), &generation, moved).await;
        Ok(())
    }
}

/// Deletes the generations under `data_path` other than `current` that
/// were created before the pointer moved to `current` (at zxid `moved`);
/// best effort.
async fn delete_superseded(client: &zk::Client, data_path: &str, current: &str, moved: i64) {
    let Ok(generations) = client.list_children(data_path).await else {
        return;
    };
    for generation in generations.iter().filter(|g| g.as_str() != current) {
        let path = format!("{data_path}/{generation}");
        if let Ok(Some(stat)) = client.check_stat(&path).await
            && superseded(stat.czxid, moved)
        {
            tracing::info!("Deleting the superseded registry generation {path}");
            delete_generation(client, &path).await;
        }
    }
}

/// Whether a generation created at zxid `created` can no longer become
/// current once the pointer moved at zxid `moved`.
fn superseded(created: i64, moved: i64) -> bool {
    created < moved
}

/// Deletes a generation's chunks and its node; best effort.
async fn delete_generation(client: &zk::Client, path: &str) {
    if let Ok(children) = client.list_children(path).await {
        for child in children {
            let _ = client.delete(&format!("{path}/{child}"), None).await;
        }
    }
    let _ = client.delete(path, None).await;
}
