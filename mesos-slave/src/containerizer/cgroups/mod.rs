//! Linux control groups for the Mesos containerizer's `cgroups/cpu`,
//! `cgroups/mem` and `cgroups/pids` isolators, on cgroups v1 or v2
//! (detected at start from `--cgroups_hierarchy`).
//!
//! Each container gets one cgroup named `<--cgroups_root>/<container_id>`,
//! as Mesos names them:
//!
//! ```text
//! v1:  <hierarchy>/<subsystem>/<root>/<container_id>   one per hierarchy in use
//!      (cpu and cpuacct for cgroups/cpu, memory, pids; freezer to kill)
//! v2:  <hierarchy>/<root>/<container_id>               one, controllers enabled
//!      in <hierarchy> and <hierarchy>/<root>
//! ```
//!
//! The executor joins its cgroups before it runs (the child writes itself
//! into `cgroup.procs` between fork and exec), so everything it starts is
//! accounted and limited. When the container ends, every process still in
//! its cgroup is killed (frozen first, so none can fork meanwhile) and the
//! cgroups are removed.

mod control;
pub mod oom;

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use control::{Usage, format_bytes};

/// The magic number of a cgroup2 file system (`statfs`).
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// How long the processes of a container may take to die once killed.
const DESTROY_TIMEOUT: Duration = Duration::from_secs(30);

/// Which cgroups interface the host offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// One hierarchy per subsystem (or group of co-mounted subsystems).
    V1,
    /// The unified hierarchy.
    V2,
}

/// What the `cgroups/*` isolators were asked to do (`--isolation`,
/// `--cgroups_*`).
#[derive(Debug, Clone, PartialEq)]
pub struct CgroupsConfig {
    /// `--cgroups_hierarchy`: where the hierarchies are mounted.
    pub hierarchy: PathBuf,
    /// `--cgroups_root`: the parent cgroup of every container's.
    pub root: String,
    /// `--cgroups_enable_cfs`: cap CPU time at the cpus requested.
    pub enable_cfs: bool,
    /// `--cgroups_limit_swap`: limit memory plus swap, not memory alone.
    pub limit_swap: bool,
    /// `cgroups/cpu`: `cpu.shares` (v1) or `cpu.weight` (v2), CFS quota.
    pub cpu: bool,
    /// `cgroups/mem`: the memory limit, and OOM detection.
    pub mem: bool,
    /// `cgroups/pids`: the pids controller (accounting).
    pub pids: bool,
}

impl CgroupsConfig {
    /// Mesos's defaults, with no isolator enabled.
    pub fn new() -> CgroupsConfig {
        CgroupsConfig {
            hierarchy: PathBuf::from("/sys/fs/cgroup"),
            root: "mesos".into(),
            enable_cfs: false,
            limit_swap: false,
            cpu: false,
            mem: false,
            pids: false,
        }
    }

    /// Whether any cgroups isolator is on.
    pub fn enabled(&self) -> bool {
        self.cpu || self.mem || self.pids
    }
}

impl Default for CgroupsConfig {
    fn default() -> CgroupsConfig {
        CgroupsConfig::new()
    }
}

/// Why cgroups cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CgroupsError {
    /// The kernel or the mounts do not offer what was asked.
    #[error("{0}")]
    Unavailable(String),
    /// A cgroup file or directory could not be read, written or made.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: io::Error,
    },
}

pub(crate) fn io_error(path: &Path, source: io::Error) -> CgroupsError {
    CgroupsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The cgroups the agent uses, found once at start.
#[derive(Debug, Clone)]
pub struct Cgroups {
    config: CgroupsConfig,
    version: Version,
    /// v1: each hierarchy (mount point) in use and the subsystems the
    /// isolators need from it. v2: the unified mount alone.
    hierarchies: Vec<(PathBuf, BTreeSet<String>)>,
}

/// One v1 cgroup mount: where, and which subsystems it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mount {
    point: PathBuf,
    fs_type: String,
    subsystems: BTreeSet<String>,
}

/// The cgroup mounts listed in `/proc/self/mountinfo`.
fn cgroup_mounts(mountinfo: &str) -> Vec<Mount> {
    let known = [
        "blkio",
        "cpu",
        "cpuacct",
        "cpuset",
        "devices",
        "freezer",
        "hugetlb",
        "memory",
        "net_cls",
        "net_prio",
        "perf_event",
        "pids",
        "rdma",
        "misc",
    ];
    mountinfo
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let point = left.split(' ').nth(4)?;
            let mut right = right.split(' ');
            let fs_type = right.next()?;
            if fs_type != "cgroup" && fs_type != "cgroup2" {
                return None;
            }
            let options = right.nth(1).unwrap_or("");
            let subsystems = options
                .split(',')
                .filter(|o| known.contains(o))
                .map(str::to_string)
                .collect();
            Some(Mount {
                point: PathBuf::from(unescape_mount(point)),
                fs_type: fs_type.to_string(),
                subsystems,
            })
        })
        .collect()
}

/// Mount points in mountinfo escape space, tab, newline and backslash
/// as octal.
fn unescape_mount(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            if let Some(code) = text
                .get(i + 1..i + 4)
                .and_then(|digits| u8::from_str_radix(digits, 8).ok())
            {
                out.push(code);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether `path` is the mount point of a cgroup2 file system.
fn is_cgroup2(path: &Path) -> bool {
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: statfs writes only into the zeroed struct passed; the path
    // is a valid NUL-terminated string.
    unsafe {
        let mut stat: libc::statfs = std::mem::zeroed();
        libc::statfs(c_path.as_ptr(), &mut stat) == 0 && stat.f_type as i64 == CGROUP2_SUPER_MAGIC
    }
}

impl Cgroups {
    /// Finds the hierarchies `config` needs: v2 when `--cgroups_hierarchy`
    /// is a cgroup2 mount, else the v1 mount of each subsystem (preferring
    /// `<hierarchy>/<subsystem>`). Fails, saying what is missing, when a
    /// subsystem or controller is not available.
    pub fn detect(config: &CgroupsConfig) -> Result<Cgroups, CgroupsError> {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
            .map_err(|e| io_error(Path::new("/proc/self/mountinfo"), e))?;
        Cgroups::detect_in(config, &mountinfo)
    }

    fn detect_in(config: &CgroupsConfig, mountinfo: &str) -> Result<Cgroups, CgroupsError> {
        if is_cgroup2(&config.hierarchy) {
            return Cgroups::detect_v2(config);
        }
        let mounts = cgroup_mounts(mountinfo);
        if !mounts.iter().any(|m| m.fs_type == "cgroup") {
            return Err(CgroupsError::Unavailable(format!(
                "no cgroup hierarchies are mounted (--cgroups_hierarchy={} is not a cgroup2 \
                 mount and no cgroup v1 hierarchy exists)",
                config.hierarchy.display()
            )));
        }
        let mut wanted: Vec<&str> = Vec::new();
        if config.cpu {
            wanted.extend(["cpu", "cpuacct"]);
        }
        if config.mem {
            wanted.push("memory");
        }
        if config.pids {
            wanted.push("pids");
        }
        let find = |subsystem: &str| {
            let candidates: Vec<&Mount> = mounts
                .iter()
                .filter(|m| m.fs_type == "cgroup" && m.subsystems.contains(subsystem))
                .collect();
            candidates
                .iter()
                .find(|m| m.point.starts_with(&config.hierarchy))
                .or(candidates.first())
                .map(|m| (*m).clone())
        };
        let mut hierarchies: Vec<(PathBuf, BTreeSet<String>)> = Vec::new();
        let mut add = |mount: &Mount, subsystem: &str| match hierarchies
            .iter_mut()
            .find(|(p, _)| *p == mount.point)
        {
            Some((_, subsystems)) => {
                subsystems.insert(subsystem.to_string());
            }
            None => {
                hierarchies.push((mount.point.clone(), BTreeSet::from([subsystem.to_string()])))
            }
        };
        for subsystem in wanted {
            let Some(mount) = find(subsystem) else {
                return Err(CgroupsError::Unavailable(format!(
                    "the cgroup subsystem '{subsystem}' is not mounted (expected at {})",
                    config.hierarchy.join(subsystem).display()
                )));
            };
            add(&mount, subsystem);
        }
        // The freezer stops a container's processes from forking while
        // they are being killed, as Mesos's Linux launcher uses it.
        if let Some(mount) = find("freezer") {
            add(&mount, "freezer");
        }
        Ok(Cgroups {
            config: config.clone(),
            version: Version::V1,
            hierarchies,
        })
    }

    fn detect_v2(config: &CgroupsConfig) -> Result<Cgroups, CgroupsError> {
        let unified = config.hierarchy.clone();
        let path = unified.join("cgroup.controllers");
        let available = std::fs::read_to_string(&path).map_err(|e| io_error(&path, e))?;
        let available: BTreeSet<&str> = available.split_whitespace().collect();
        let mut wanted = BTreeSet::new();
        for (on, controller) in [
            (config.cpu, "cpu"),
            (config.mem, "memory"),
            (config.pids, "pids"),
        ] {
            if !on {
                continue;
            }
            if !available.contains(controller) {
                return Err(CgroupsError::Unavailable(format!(
                    "the cgroup v2 controller '{controller}' is not available in {} \
                     (it may be bound to a cgroup v1 hierarchy)",
                    unified.display()
                )));
            }
            wanted.insert(controller.to_string());
        }
        Ok(Cgroups {
            config: config.clone(),
            version: Version::V2,
            hierarchies: vec![(unified, wanted)],
        })
    }

    /// The interface in use.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The configuration it was detected for.
    pub fn config(&self) -> &CgroupsConfig {
        &self.config
    }

    /// The cgroup of `container_id` relative to each hierarchy.
    pub fn cgroup_name(&self, container_id: &str) -> PathBuf {
        Path::new(&self.config.root).join(container_id)
    }

    /// The `--cgroups_root` directory in each hierarchy used.
    pub fn root_dirs(&self) -> Vec<PathBuf> {
        self.hierarchies
            .iter()
            .map(|(mount, _)| mount.join(&self.config.root))
            .collect()
    }

    /// The directory of the container's cgroup in each hierarchy used.
    pub fn container_dirs(&self, container_id: &str) -> Vec<PathBuf> {
        let name = self.cgroup_name(container_id);
        self.hierarchies
            .iter()
            .map(|(mount, _)| mount.join(&name))
            .collect()
    }

    /// Creates the container's cgroups (and `--cgroups_root` where it is
    /// missing) and applies `limits`.
    pub fn create(
        &self,
        container_id: &str,
        limits: &crate::containerizer::ContainerLimits,
    ) -> Result<ContainerCgroups, CgroupsError> {
        let mut cgroups = self.layout(container_id, |_| true);
        let dirs = std::mem::take(&mut cgroups.dirs);
        for (mount, subsystems) in &self.hierarchies {
            if self.version == Version::V2 {
                enable_controllers(mount, &self.config.root, subsystems)?;
            }
        }
        for dir in dirs {
            if let Err(e) = std::fs::create_dir_all(&dir) {
                let error = io_error(&dir, e);
                let _ = cgroups.remove_dirs();
                return Err(error);
            }
            cgroups.dirs.push(dir);
        }
        if let Err(e) = cgroups.update(limits) {
            let _ = cgroups.destroy();
            return Err(e);
        }
        Ok(cgroups)
    }

    /// The container's cgroups in the hierarchies for which `keep`
    /// holds, made or not.
    fn layout(&self, container_id: &str, keep: impl Fn(&Path) -> bool) -> ContainerCgroups {
        let name = self.cgroup_name(container_id);
        let mut cgroups = ContainerCgroups {
            version: self.version,
            container_id: container_id.to_string(),
            dirs: Vec::new(),
            cpu: None,
            cpuacct: None,
            memory: None,
            freezer: None,
            enable_cfs: self.config.enable_cfs,
            limit_swap: self.config.limit_swap,
            hard_limit_set: false,
        };
        for (mount, subsystems) in &self.hierarchies {
            let dir = mount.join(&name);
            if !keep(&dir) {
                continue;
            }
            cgroups.dirs.push(dir.clone());
            let has = |s: &str| subsystems.contains(s);
            if has("cpu") {
                cgroups.cpu = Some(dir.clone());
            }
            if has("cpuacct") || (self.version == Version::V2 && has("cpu")) {
                cgroups.cpuacct = Some(dir.clone());
            }
            if has("memory") {
                cgroups.memory = Some(dir.clone());
            }
            if has("freezer") || self.version == Version::V2 {
                cgroups.freezer = Some(dir.clone());
            }
        }
        cgroups
    }

    /// The containers that have cgroups under `--cgroups_root`. At start
    /// they are those of an earlier run of the agent, which it does not
    /// recover (Mesos destroys such orphans too).
    pub fn orphans(&self) -> Vec<String> {
        let mut ids = BTreeSet::new();
        for root in self.root_dirs() {
            for entry in std::fs::read_dir(&root).into_iter().flatten().flatten() {
                if entry.path().is_dir() {
                    if let Some(name) = entry.file_name().to_str() {
                        ids.insert(name.to_string());
                    }
                }
            }
        }
        ids.into_iter().collect()
    }

    /// The existing cgroups of `container_id` (to destroy them).
    pub fn open(&self, container_id: &str) -> ContainerCgroups {
        self.layout(container_id, Path::is_dir)
    }
}

/// Turns the controllers on for the children of the hierarchy's root and
/// of `--cgroups_root` (v2 distributes controllers top-down).
fn enable_controllers(
    unified: &Path,
    root: &str,
    controllers: &BTreeSet<String>,
) -> Result<(), CgroupsError> {
    if controllers.is_empty() {
        return Ok(());
    }
    let line = controllers
        .iter()
        .map(|c| format!("+{c}"))
        .collect::<Vec<_>>()
        .join(" ");
    let mut dir = unified.to_path_buf();
    let mut levels = vec![dir.clone()];
    for part in Path::new(root).components() {
        dir = dir.join(part);
        levels.push(dir.clone());
    }
    for (index, level) in levels.iter().enumerate() {
        if index > 0 {
            std::fs::create_dir_all(level).map_err(|e| io_error(level, e))?;
        }
        let file = level.join("cgroup.subtree_control");
        let current = std::fs::read_to_string(&file).unwrap_or_default();
        let enabled: BTreeSet<&str> = current.split_whitespace().collect();
        if controllers.iter().all(|c| enabled.contains(c.as_str())) {
            continue;
        }
        std::fs::write(&file, &line).map_err(|e| io_error(&file, e))?;
    }
    Ok(())
}

/// One container's cgroups.
#[derive(Debug)]
pub struct ContainerCgroups {
    version: Version,
    container_id: String,
    /// Every directory made for the container, one per hierarchy.
    dirs: Vec<PathBuf>,
    /// Where `cpu.*` lives, with `cgroups/cpu`.
    cpu: Option<PathBuf>,
    /// Where CPU time is accounted (`cpuacct.*` on v1, `cpu.stat` on v2).
    cpuacct: Option<PathBuf>,
    /// Where `memory.*` lives, with `cgroups/mem`.
    memory: Option<PathBuf>,
    /// Where the container can be frozen (v1 freezer, v2 `cgroup.freeze`).
    freezer: Option<PathBuf>,
    enable_cfs: bool,
    limit_swap: bool,
    /// Whether a hard memory limit has been written (it is only raised
    /// afterwards: lowering it under usage would OOM the container).
    hard_limit_set: bool,
}

impl ContainerCgroups {
    /// The container id.
    pub fn container_id(&self) -> &str {
        &self.container_id
    }

    /// The interface in use.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The container's cgroup directories, one per hierarchy.
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// The memory cgroup, with `cgroups/mem`.
    pub fn memory_dir(&self) -> Option<&Path> {
        self.memory.as_deref()
    }

    /// The `cgroup.procs` files a process writes itself into to join.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|d| d.join("cgroup.procs")).collect()
    }

    /// Moves process `pid` (and its threads) into the container's cgroups.
    pub fn assign(&self, pid: u32) -> Result<(), CgroupsError> {
        for file in self.procs_files() {
            std::fs::write(&file, pid.to_string()).map_err(|e| io_error(&file, e))?;
        }
        Ok(())
    }

    /// The processes in the container's cgroup.
    pub fn processes(&self) -> Vec<i32> {
        let Some(dir) = self.dirs.first() else {
            return Vec::new();
        };
        std::fs::read_to_string(dir.join("cgroup.procs"))
            .map(|text| text.lines().filter_map(|l| l.trim().parse().ok()).collect())
            .unwrap_or_default()
    }

    /// Kills every process in the container's cgroups and removes them.
    /// Blocks until the processes are gone (at most 30 s).
    pub fn destroy(&mut self) -> Result<(), CgroupsError> {
        self.kill_all();
        let deadline = Instant::now() + DESTROY_TIMEOUT;
        while !self.processes().is_empty() {
            if Instant::now() >= deadline {
                return Err(CgroupsError::Unavailable(format!(
                    "processes of container {} did not die within {DESTROY_TIMEOUT:?}: {:?}",
                    self.container_id,
                    self.processes()
                )));
            }
            self.kill_all();
            std::thread::sleep(Duration::from_millis(10));
        }
        self.remove_dirs()
    }

    /// Sends SIGKILL to every process in the cgroup, frozen first so none
    /// can fork a child the kill would miss.
    pub fn kill_all(&self) {
        if self.version == Version::V2 {
            if let Some(dir) = self.dirs.first() {
                if std::fs::write(dir.join("cgroup.kill"), "1").is_ok() {
                    return;
                }
            }
        }
        let frozen = self.freeze(true);
        for pid in self.processes() {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        if frozen {
            self.freeze(false);
        }
    }

    /// Freezes (or thaws) the cgroup; whether it could.
    fn freeze(&self, frozen: bool) -> bool {
        let Some(dir) = &self.freezer else {
            return false;
        };
        let (file, value, expected) = match (self.version, frozen) {
            (Version::V1, true) => ("freezer.state", "FROZEN", "FROZEN"),
            (Version::V1, false) => ("freezer.state", "THAWED", "THAWED"),
            (Version::V2, true) => ("cgroup.freeze", "1", "frozen 1"),
            (Version::V2, false) => ("cgroup.freeze", "0", "frozen 0"),
        };
        if std::fs::write(dir.join(file), value).is_err() {
            return false;
        }
        if !frozen {
            return true;
        }
        let (check, want) = match self.version {
            Version::V1 => ("freezer.state", expected),
            Version::V2 => ("cgroup.events", expected),
        };
        let deadline = Instant::now() + Duration::from_secs(1);
        while Instant::now() < deadline {
            let state = std::fs::read_to_string(dir.join(check)).unwrap_or_default();
            if state.lines().any(|l| l.trim() == want) {
                return true;
            }
            // Writing again makes a v1 freezer retry tasks it could not
            // freeze yet.
            if self.version == Version::V1 {
                let _ = std::fs::write(dir.join(file), value);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        false
    }

    /// Removes the cgroup directories (retrying briefly: the kernel may
    /// still be releasing the last processes).
    fn remove_dirs(&mut self) -> Result<(), CgroupsError> {
        let mut last_error = None;
        for dir in std::mem::take(&mut self.dirs) {
            let mut attempts = 0;
            loop {
                match std::fs::remove_dir(&dir) {
                    Ok(()) => break,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                    Err(e) if attempts < 100 => {
                        attempts += 1;
                        let _ = e;
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err(e) => {
                        tracing::warn!(
                            container_id = self.container_id,
                            "Failed to remove cgroup {}: {e}",
                            dir.display()
                        );
                        last_error = Some(io_error(&dir, e));
                        break;
                    }
                }
            }
        }
        match last_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;
