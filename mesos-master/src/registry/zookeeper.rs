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
//! must stop leading. Old generations are deleted afterwards. Chunks keep
//! each request under ZooKeeper's 1 MB limit (`jute.maxbuffer`).
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
    /// The generation the pointer names.
    generation: Option<String>,
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
            generation: None,
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
                self.generation = None;
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
        self.generation = Some(pointer.generation);
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
                .map(|stat| stat.version),
            None => client
                .create(&pointer_path, &pointer, &persistent)
                .await
                .map(|(stat, _)| stat.version),
        };
        let version = match written {
            Ok(version) => version,
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
                    stat.version
                } else {
                    return Err(error);
                }
            }
        };
        self.version = Some(version);
        if let Some(old) = self.generation.replace(generation) {
            delete_generation(&client, &format!("{}/{old}", self.data_path())).await;
        }
        Ok(())
    }
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
