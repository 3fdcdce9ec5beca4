//! The fetcher cache (`URI.cache`): downloads kept under
//! `--fetcher_cache_dir`, per user, as `c<serial>-<name>` (Mesos's names),
//! reused by later fetches of the same URI for the same user, evicted
//! least recently used first to stay within `--fetcher_cache_size`. The
//! directory is wiped when the agent starts, as Mesos wipes it: the cache
//! does not outlive the agent.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// One cached download.
#[derive(Debug)]
struct Entry {
    path: PathBuf,
    size: u64,
    /// The cache's clock when it was last used.
    last_used: u64,
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<String, Entry>,
    /// The sum of the entries' sizes.
    total: u64,
    serial: u64,
    clock: u64,
}

/// The cache of one agent.
#[derive(Debug)]
pub struct Cache {
    dir: PathBuf,
    limit: u64,
    state: Mutex<State>,
}

/// Mesos's cache key: `user@uri`, or the URI alone.
pub fn key(user: Option<&str>, uri: &str) -> String {
    match user {
        Some(user) => format!("{user}@{uri}"),
        None => uri.to_string(),
    }
}

impl Cache {
    /// A cache in `dir` (emptied now) holding at most `limit` bytes.
    pub fn new(dir: PathBuf, limit: u64) -> Cache {
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!("Could not clear the fetcher cache {}: {e}", dir.display()),
        }
        Cache {
            dir,
            limit,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached file of `key`, marked used.
    pub fn get(&self, key: &str) -> Option<PathBuf> {
        let mut state = self.lock();
        state.clock += 1;
        let clock = state.clock;
        let entry = state.entries.get_mut(key)?;
        entry.last_used = clock;
        Some(entry.path.clone())
    }

    /// A fresh file name in the user's directory to download `name` to.
    pub fn new_path(&self, user: Option<&str>, name: &str) -> PathBuf {
        let serial = {
            let mut state = self.lock();
            state.serial += 1;
            state.serial
        };
        // Keep the extension (extraction looks at it), not too much else.
        let short = if name.chars().count() > 20 {
            let chars: Vec<char> = name.chars().collect();
            let head: String = chars[..10].iter().collect();
            let tail: String = chars[chars.len() - 10..].iter().collect();
            format!("{head}_{tail}")
        } else {
            name.to_string()
        };
        let dir = match user {
            Some(user) => self.dir.join(user),
            None => self.dir.clone(),
        };
        dir.join(format!("c{serial}-{short}"))
    }

    /// Keeps the downloaded `path` (`size` bytes) as `key`, evicting the
    /// least recently used entries to make room. False (the file is left
    /// to the caller) when it cannot fit at all.
    pub fn insert(&self, key: &str, path: &Path, size: u64) -> bool {
        if size > self.limit {
            return false;
        }
        let mut state = self.lock();
        if let Some(old) = state.entries.remove(key) {
            state.total -= old.size;
            let _ = std::fs::remove_file(&old.path);
        }
        while state.total + size > self.limit {
            let Some(oldest) = state
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(evicted) = state.entries.remove(&oldest) {
                tracing::info!("Evicting fetcher cache entry {oldest}");
                state.total -= evicted.size;
                let _ = std::fs::remove_file(&evicted.path);
            }
        }
        state.clock += 1;
        let clock = state.clock;
        state.total += size;
        state.entries.insert(
            key.to_string(),
            Entry {
                path: path.to_path_buf(),
                size,
                last_used: clock,
            },
        );
        true
    }

    /// The most bytes it may hold (`--fetcher_cache_size`).
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// The bytes held.
    pub fn size(&self) -> u64 {
        self.lock().total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_the_least_recently_used() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().join("cache"), 10);
        let file = |name: &str, size: usize| {
            let path = cache.new_path(Some("u"), name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, vec![b'x'; size]).unwrap();
            path
        };
        let a = file("a.tar.gz", 4);
        assert!(
            a.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("c1-a.tar.gz")
        );
        assert!(cache.insert(&key(Some("u"), "http://h/a"), &a, 4));
        let b = file("b", 4);
        assert!(cache.insert(&key(Some("u"), "http://h/b"), &b, 4));
        // a is used again, so b is the one to go.
        assert_eq!(cache.get("u@http://h/a"), Some(a.clone()));
        let c = file("c", 4);
        assert!(cache.insert("u@http://h/c", &c, 4));
        assert!(cache.get("u@http://h/b").is_none());
        assert!(!b.exists());
        assert!(a.exists());
        assert_eq!(cache.size(), 8);
        assert!(!cache.insert("u@http://h/big", &c, 11));
        let long = cache.new_path(None, "a-very-long-name-of-an-archive.tar.gz");
        assert_eq!(
            long.file_name().unwrap().to_str().unwrap(),
            "c4-a-very-lon_ive.tar.gz"
        );
    }
}
