//! The standalone registry: `<work_dir>/registry.pb`, replaced atomically
//! (written beside it, synced, renamed over it, directory synced).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use mesos::wire::mesos::internal::Registry;
use prost::Message as _;

use super::StoreError;

/// The file's name under `--work_dir`.
pub const FILE_NAME: &str = "registry.pb";

/// A registry kept in a file.
pub struct FileStore {
    path: PathBuf,
}

impl FileStore {
    /// The registry under `work_dir`.
    pub fn new(work_dir: &Path) -> FileStore {
        FileStore {
            path: work_dir.join(FILE_NAME),
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, error: std::io::Error) -> StoreError {
        StoreError::Io {
            location: self.path.display().to_string(),
            reason: error.to_string(),
        }
    }

    /// Reads the registry; empty when the file does not exist.
    pub fn fetch(&self) -> Result<Registry, StoreError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Registry::default()),
            Err(e) => return Err(self.io(e)),
        };
        let location = self.path.display().to_string();
        if bytes.is_empty() {
            // What we write always names the master: an empty file was
            // not written by us.
            return Err(StoreError::Corrupt {
                location,
                reason: "the file is empty".into(),
            });
        }
        super::decode(&bytes, &location)
    }

    /// Replaces the file with `registry`.
    pub fn store(&self, registry: &Registry) -> Result<(), StoreError> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| self.io(e))?;
        let temporary = self.path.with_extension("pb.new");
        let mut file = std::fs::File::create(&temporary).map_err(|e| self.io(e))?;
        file.write_all(&registry.encode_to_vec())
            .and_then(|()| file.sync_all())
            .map_err(|e| self.io(e))?;
        drop(file);
        std::fs::rename(&temporary, &self.path).map_err(|e| self.io(e))?;
        if let Ok(dir) = std::fs::File::open(dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos::wire::mesos as v0;
    use mesos::wire::mesos::internal::registry;

    fn sample() -> Registry {
        Registry {
            slaves: Some(registry::Slaves {
                slaves: vec![registry::Slave {
                    info: v0::SlaveInfo {
                        hostname: "a1".into(),
                        id: Some(v0::SlaveId { value: "S1".into() }),
                        ..Default::default()
                    },
                    drain_info: None,
                    deactivated: None,
                }],
            }),
            ..Default::default()
        }
    }

    #[test]
    fn round_trip_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path());
        assert_eq!(store.fetch().unwrap(), Registry::default());
        store.store(&sample()).unwrap();
        assert_eq!(store.fetch().unwrap(), sample());
        assert!(!dir.path().join("registry.pb.new").exists());
        std::fs::write(store.path(), b"\xff\xff\xff garbage").unwrap();
        let error = store.fetch().unwrap_err();
        assert!(matches!(error, StoreError::Corrupt { .. }), "{error}");
        std::fs::write(store.path(), b"").unwrap();
        assert!(matches!(
            store.fetch().unwrap_err(),
            StoreError::Corrupt { .. }
        ));
    }
}
