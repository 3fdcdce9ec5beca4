//! Waiting for the kernel's OOM killer to act in a container's memory
//! cgroup: on v1 an eventfd registered on `memory.oom_control` (through
//! `cgroup.event_control`, as Mesos listens), on v2 the `oom_kill` count
//! of `memory.events`, read at an interval.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use super::Version;

/// How often v2 (and a v1 cgroup that refuses event registration) is
/// polled for OOM kills.
const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// How often, and how many times, the OOM kill count is read after a v1
/// OOM event.
const AFTER_EVENT_INTERVAL: Duration = Duration::from_millis(10);
const AFTER_EVENT_CHECKS: usize = 200;

fn oom_kills(version: Version, dir: &Path) -> Option<u64> {
    let file = match version {
        Version::V1 => "memory.oom_control",
        Version::V2 => "memory.events",
    };
    let text = std::fs::read_to_string(dir.join(file)).ok()?;
    let value = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.trim().parse::<u64>().ok())
    };
    match version {
        Version::V1 => value("oom_kill ").or_else(|| value("under_oom ")),
        Version::V2 => value("oom_kill "),
    }
}

/// An eventfd the kernel signals when the cgroup hits its memory limit
/// (and when the cgroup is removed).
struct V1Listener {
    eventfd: AsyncFd<OwnedFd>,
    /// `memory.oom_control`, open for as long as the registration lasts.
    _control: std::fs::File,
}

impl V1Listener {
    fn register(dir: &Path) -> io::Result<V1Listener> {
        // SAFETY: eventfd has no memory-safety preconditions; the result
        // is checked before being owned.
        let raw = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: raw is a fresh descriptor nothing else owns.
        let eventfd = unsafe { OwnedFd::from_raw_fd(raw) };
        let control = std::fs::File::open(dir.join("memory.oom_control"))?;
        std::fs::write(
            dir.join("cgroup.event_control"),
            format!("{} {}", eventfd.as_raw_fd(), control.as_raw_fd()),
        )?;
        // SAFETY: the OwnedFd is a valid open descriptor, owned by the
        // AsyncFd for its whole life and never replaced.
        let eventfd = unsafe { AsyncFd::register_with_interest(eventfd, Interest::READABLE) }
            .map_err(io::Error::from)?;
        Ok(V1Listener {
            eventfd,
            _control: control,
        })
    }

    async fn notified(&self) -> io::Result<()> {
        loop {
            let mut guard = self.eventfd.readable().await?;
            let mut count = [0u8; 8];
            // SAFETY: reads at most 8 bytes into the 8-byte buffer.
            let n = unsafe {
                libc::read(
                    self.eventfd.get_ref().as_raw_fd(),
                    count.as_mut_ptr().cast(),
                    count.len(),
                )
            };
            if n == 8 {
                return Ok(());
            }
            let error = io::Error::last_os_error();
            if error.kind() == io::ErrorKind::WouldBlock {
                guard.clear_ready();
                continue;
            }
            return Err(error);
        }
    }
}

/// Resolves `true` once the OOM killer has killed a process in the memory
/// cgroup `dir`, `false` once the cgroup is gone without that.
pub async fn watch(version: Version, dir: PathBuf) -> bool {
    let listener = match version {
        Version::V1 => match V1Listener::register(&dir) {
            Ok(listener) => Some(listener),
            Err(e) => {
                tracing::warn!(
                    "Cannot listen for OOM events of {}: {e}; polling instead",
                    dir.display()
                );
                None
            }
        },
        Version::V2 => None,
    };
    loop {
        match oom_kills(version, &dir) {
            None => return false,
            Some(n) if n > 0 => return true,
            Some(_) => {}
        }
        match &listener {
            Some(listener) => {
                if listener.notified().await.is_err() {
                    return false;
                }
                // The event comes as the cgroup runs out of memory, before
                // the killer has picked and counted its victim.
                for _ in 0..AFTER_EVENT_CHECKS {
                    match oom_kills(version, &dir) {
                        None => return false,
                        Some(n) if n > 0 => return true,
                        Some(_) => tokio::time::sleep(AFTER_EVENT_INTERVAL).await,
                    }
                }
            }
            None => tokio::time::sleep(POLL_INTERVAL).await,
        }
    }
}
