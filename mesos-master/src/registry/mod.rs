//! Where the registry is kept: the `mesos.internal.Registry` protobuf,
//! serialized, in one of three stores.
//!
//! - [`zookeeper`]: with `--zk`, under the masters' ZooKeeper path, written
//!   with compare-and-set on a small pointer node so that only the
//!   current leader commits, in chunks so that it may outgrow ZooKeeper's
//!   1 MB request limit.
//! - [`file`](mod@file): standalone, `<work_dir>/registry.pb`, replaced atomically.
//! - in memory (`--registry=in_memory`): forgotten when the master stops.
//!
//! A registry that cannot be read back is an error, never an empty
//! registry: the master refuses to lead rather than overwrite it.

pub mod file;
pub mod metrics;
pub mod zookeeper;

use std::time::Duration;

use mesos::wire::mesos::internal::Registry;

/// Why the registry could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// What is stored does not decode.
    #[error("The registry in {location} is corrupt: {reason}")]
    Corrupt {
        /// Where it is.
        location: String,
        /// What is wrong.
        reason: String,
    },
    /// Someone else (another master) wrote the registry since we read it.
    #[error("The registry in {0} was changed by another master")]
    Conflict(String),
    /// The store did not answer in time (`--registry_fetch_timeout`,
    /// `--registry_store_timeout`).
    #[error("Failed to perform {operation} within {timeout}")]
    Timeout {
        /// `fetch` or `store`.
        operation: &'static str,
        /// The timeout, as Mesos prints durations.
        timeout: String,
    },
    /// The store could not be reached or written.
    #[error("Failed to access the registry in {location}: {reason}")]
    Io {
        /// Where it is.
        location: String,
        /// The error.
        reason: String,
    },
}

/// A registry store.
pub enum Store {
    /// `--registry=in_memory`.
    InMemory(Option<Box<Registry>>),
    /// A file under `--work_dir`.
    File(file::FileStore),
    /// ZooKeeper (`--zk`).
    ZooKeeper(Box<zookeeper::ZkStore>),
}

impl Store {
    /// Reads the registry; an empty one if none was ever written.
    pub async fn fetch(&mut self) -> Result<Registry, StoreError> {
        match self {
            Store::InMemory(registry) => Ok(registry.as_deref().cloned().unwrap_or_default()),
            Store::File(store) => store.fetch(),
            Store::ZooKeeper(store) => store.fetch().await,
        }
    }

    /// Replaces the registry with `registry`.
    pub async fn store(&mut self, registry: &Registry) -> Result<(), StoreError> {
        match self {
            Store::InMemory(stored) => {
                *stored = Some(Box::new(registry.clone()));
                Ok(())
            }
            Store::File(store) => store.store(registry),
            Store::ZooKeeper(store) => store.store(registry).await,
        }
    }

    /// [`Store::fetch`] within `timeout`.
    pub async fn fetch_within(&mut self, timeout: Duration) -> Result<Registry, StoreError> {
        tokio::time::timeout(timeout, self.fetch())
            .await
            .unwrap_or_else(|_| Err(timed_out("fetch", timeout)))
    }

    /// [`Store::store`] within `timeout`.
    pub async fn store_within(
        &mut self,
        registry: &Registry,
        timeout: Duration,
    ) -> Result<(), StoreError> {
        tokio::time::timeout(timeout, self.store(registry))
            .await
            .unwrap_or_else(|_| Err(timed_out("store", timeout)))
    }

    /// Where the registry lives, for logs.
    pub fn location(&self) -> String {
        match self {
            Store::InMemory(_) => "memory".into(),
            Store::File(store) => store.path().display().to_string(),
            Store::ZooKeeper(store) => store.location(),
        }
    }
}

fn timed_out(operation: &'static str, timeout: Duration) -> StoreError {
    StoreError::Timeout {
        operation,
        timeout: mesos::flags::format_duration(timeout),
    }
}

/// Decodes a stored registry, checking required fields.
fn decode(bytes: &[u8], location: &str) -> Result<Registry, StoreError> {
    mesos::wire::decode_checked::<Registry>(bytes).map_err(|e| StoreError::Corrupt {
        location: location.to_string(),
        reason: e.to_string(),
    })
}
