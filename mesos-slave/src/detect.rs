//! What the agent offers when `--resources` leaves a kind out: the host's
//! cpus, memory less a reserve for the system, the work directory's disk
//! less a reserve, and ports 31000-32000 (Mesos 1.11,
//! `src/slave/containerizer/containerizer.cpp`).

use std::path::Path;

use mesos::resources::{Resource, Resources};

const MB: u64 = 1024 * 1024;
const GB: u64 = 1024 * MB;

/// Used when the host cannot say.
const DEFAULT_CPUS: f64 = 1.0;
const DEFAULT_MEM: u64 = GB;
const DEFAULT_DISK: u64 = 10 * GB;

/// The ports an agent offers by default.
pub const DEFAULT_PORTS: (u64, u64) = (31000, 32000);

/// What the host has, as measured (or `None` when it could not be).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HostTotals {
    /// Online processors.
    pub cpus: Option<f64>,
    /// Physical memory in bytes.
    pub mem_bytes: Option<u64>,
    /// Size of the filesystem holding the work directory, in bytes.
    pub disk_bytes: Option<u64>,
}

impl HostTotals {
    /// Measures this host, taking the disk size of `work_dir`'s filesystem.
    pub fn measure(work_dir: &Path) -> HostTotals {
        HostTotals {
            cpus: online_cpus(),
            mem_bytes: total_memory(),
            disk_bytes: filesystem_size(work_dir),
        }
    }
}

/// Memory offered from `total`: all but 1 GB, or half when that is less.
pub fn offered_mem_mb(total_bytes: u64) -> u64 {
    let reserve = GB.min(total_bytes / 2);
    (total_bytes - reserve) / MB
}

/// Disk offered from `total`: all but 5 GB, or half when that is less.
pub fn offered_disk_mb(total_bytes: u64) -> u64 {
    let reserve = (5 * GB).min(total_bytes / 2);
    (total_bytes - reserve) / MB
}

/// Adds the kinds `configured` does not name (`cpus`, `mem`, `disk`,
/// `ports`), measured from `host`, with `default_role` as their role.
pub fn complete(configured: &Resources, host: &HostTotals, default_role: &str) -> Resources {
    let mut out = configured.clone();
    let has = |name: &str| configured.iter().any(|r| r.name == name);
    if !has("cpus") {
        let cpus = host.cpus.unwrap_or(DEFAULT_CPUS);
        out.add_resource(&Resource::scalar("cpus", cpus).with_role(default_role));
    }
    if !has("mem") {
        let mem = offered_mem_mb(host.mem_bytes.unwrap_or(DEFAULT_MEM + DEFAULT_MEM));
        out.add_resource(&Resource::scalar("mem", mem as f64).with_role(default_role));
    }
    if !has("disk") {
        let disk = offered_disk_mb(host.disk_bytes.unwrap_or(DEFAULT_DISK + 5 * GB));
        out.add_resource(&Resource::scalar("disk", disk as f64).with_role(default_role));
    }
    if !has("ports") {
        out.add_resource(&Resource::ranges("ports", [DEFAULT_PORTS]).with_role(default_role));
    }
    out
}

fn online_cpus() -> Option<f64> {
    // SAFETY: sysconf has no memory-safety preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    (n > 0).then_some(n as f64)
}

fn total_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn statvfs(path: &Path) -> Option<libc::statvfs> {
    use std::os::unix::ffi::OsStrExt;
    // The work directory may not exist yet: measure its nearest ancestor.
    let existing = path.ancestors().find(|p| p.exists())?;
    let c_path = std::ffi::CString::new(existing.as_os_str().as_bytes()).ok()?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `c_path` is a valid C string; `stat` is writable storage for
    // one statvfs, initialised by the call when it returns 0.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), stat.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it filled `stat`.
    Some(unsafe { stat.assume_init() })
}

fn filesystem_size(path: &Path) -> Option<u64> {
    let stat = statvfs(path)?;
    Some(stat.f_blocks.saturating_mul(stat.f_frsize))
}

/// The share of the filesystem holding `path` in use, from 0 to 1 (used
/// blocks over all blocks, as Mesos's `fs::usage` counts).
pub fn disk_usage(path: &Path) -> Option<f64> {
    let stat = statvfs(path)?;
    if stat.f_blocks == 0 {
        return None;
    }
    Some(stat.f_blocks.saturating_sub(stat.f_bfree) as f64 / stat.f_blocks as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserves_memory_and_disk_as_mesos() {
        assert_eq!(offered_mem_mb(16 * GB), 15 * 1024);
        assert_eq!(offered_mem_mb(GB), 512);
        assert_eq!(offered_disk_mb(100 * GB), 95 * 1024);
        assert_eq!(offered_disk_mb(8 * GB), 4 * 1024);
    }

    #[test]
    fn completes_only_missing_kinds() {
        let host = HostTotals {
            cpus: Some(8.0),
            mem_bytes: Some(4 * GB),
            disk_bytes: Some(20 * GB),
        };
        let configured = Resources::parse("cpus:2;gpus:1").unwrap();
        let total = complete(&configured, &host, "*");
        assert_eq!(total.cpus(), Some(2.0));
        assert_eq!(total.gpus(), Some(1.0));
        assert_eq!(total.mem(), Some(3072.0));
        assert_eq!(total.disk(), Some(15360.0));
        assert_eq!(total.ports(), Some(vec![(31000, 32000)]));
    }

    #[test]
    fn detected_resources_take_the_default_role() {
        let host = HostTotals {
            cpus: None,
            mem_bytes: None,
            disk_bytes: None,
        };
        let total = complete(&Resources::new(), &host, "web");
        assert_eq!(total.for_role("web").cpus(), Some(1.0));
        assert_eq!(total.for_role("web").mem(), Some(1024.0));
        assert_eq!(total.for_role("web").disk(), Some(10240.0));
    }

    #[test]
    fn measures_this_host() {
        let host = HostTotals::measure(Path::new("/tmp/does-not-exist/work"));
        assert!(host.cpus.unwrap() >= 1.0);
        assert!(host.mem_bytes.unwrap() > 0);
        assert!(host.disk_bytes.unwrap() > 0);
        let usage = disk_usage(Path::new("/tmp")).unwrap();
        assert!((0.0..=1.0).contains(&usage));
    }
}
