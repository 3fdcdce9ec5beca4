//! What an agent runs with: the plain configuration the binaries build from
//! their flags, and that `mesos-local` builds directly.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use mesos::upid::Upid;
use mesos::wire::mesos as v0;

pub use crate::containerizer::containers::ContainerizerConfig;

/// The process id of the (first) agent on a libprocess instance.
pub const DEFAULT_PROCESS_ID: &str = "slave(1)";

/// The agent's configuration.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The master to register with (standalone detection: fixed address).
    pub master: Upid,
    /// `--master=zk://...`: the leader is detected in ZooKeeper (with this
    /// session timeout) and `master` is only a placeholder until then.
    pub master_zk: Option<(mesos::zk::ZkUrl, Duration)>,
    /// The hostname reported to the master.
    pub hostname: String,
    /// Where sandboxes live (`--work_dir`).
    pub work_dir: PathBuf,
    /// The agent's total resources, as sent in `SlaveInfo`.
    pub resources: Vec<v0::Resource>,
    /// The agent's attributes.
    pub attributes: Vec<v0::Attribute>,
    /// Where `mesos-executor` lives.
    pub launcher_dir: PathBuf,
    /// How long an executor may take to subscribe before it is killed.
    pub executor_registration_timeout: Duration,
    /// How long an executor gets between SHUTDOWN and being killed.
    pub executor_shutdown_grace_period: Duration,
    /// The upper bound of the first registration delay; doubles per retry.
    pub registration_backoff_factor: Duration,
    /// How long an ended executor's or framework's directory stays
    /// (`--gc_delay`).
    pub gc_delay: Duration,
    /// The share of the disk kept free by removing directories sooner
    /// (`--gc_disk_headroom`, in [0, 1]).
    pub gc_disk_headroom: f64,
    /// How often the disk usage is checked (`--disk_watch_interval`).
    pub disk_watch_interval: Duration,
    /// Environment variables for executors, instead of the agent's own.
    pub executor_environment_variables: Option<BTreeMap<String, String>>,
    /// The IP the agent listens on (`--ip`, or `LIBPROCESS_IP`), handed to
    /// executors as `LIBPROCESS_IP` so that libprocess-based executors
    /// listen where the agent can reach them, as Mesos does.
    pub libprocess_ip: Option<IpAddr>,
    /// Where the agent writes its log, if anywhere (`/state` shows it).
    pub log_dir: Option<PathBuf>,
    /// Every flag with its effective value, for `/flags` and `/state`.
    pub flags: BTreeMap<String, String>,
    /// Seeds the registration backoff jitter.
    pub seed: u64,
    /// The isolators (`--isolation`) and the fetcher.
    pub containerizer: ContainerizerConfig,
    /// The Docker containerizer, when `--containerizers` names `docker`.
    pub docker: Option<crate::containerizer::docker::DockerConfig>,
    /// `--recover`: what a restarted agent does with the executors it
    /// finds checkpointed.
    pub recover: RecoverMode,
    /// `--executor_reregistration_timeout`: how long recovered executors
    /// have to reconnect before they are killed.
    pub executor_reregistration_timeout: Duration,
}

/// `--recover`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoverMode {
    /// Reconnect to the executors that still run (Mesos's default).
    Reconnect,
    /// Kill them, then stop the agent.
    Cleanup,
}

/// Why a configuration cannot run.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// `--work_dir` is empty.
    #[error("--work_dir must be set")]
    MissingWorkDir,
    /// The hostname is empty.
    #[error("the agent's hostname must not be empty")]
    EmptyHostname,
    /// A duration that must be positive is zero.
    #[error("--{0} must be positive")]
    ZeroDuration(&'static str),
    /// `--gc_disk_headroom` outside [0, 1].
    #[error("Invalid value '{0}' for --gc_disk_headroom. Must be between 0.0 and 1.0")]
    GcDiskHeadroom(String),
}

impl AgentConfig {
    /// A configuration with Mesos's defaults for everything but the
    /// master, the work directory and the resources.
    pub fn new(master: Upid, work_dir: PathBuf, resources: Vec<v0::Resource>) -> AgentConfig {
        AgentConfig {
            master,
            master_zk: None,
            hostname: mesos::process::hostname(),
            work_dir,
            resources,
            attributes: Vec::new(),
            launcher_dir: default_launcher_dir(),
            executor_registration_timeout: Duration::from_secs(60),
            executor_shutdown_grace_period: Duration::from_secs(5),
            registration_backoff_factor: Duration::from_secs(1),
            gc_delay: Duration::from_secs(7 * 24 * 3600),
            gc_disk_headroom: 0.1,
            disk_watch_interval: Duration::from_secs(60),
            executor_environment_variables: None,
            libprocess_ip: None,
            log_dir: None,
            flags: BTreeMap::new(),
            seed: 0x5eed,
            containerizer: ContainerizerConfig::default(),
            docker: None,
            recover: RecoverMode::Reconnect,
            executor_reregistration_timeout: Duration::from_secs(2),
        }
    }

    /// Checks what the agent cannot run without.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.work_dir.as_os_str().is_empty() {
            return Err(ConfigError::MissingWorkDir);
        }
        if self.hostname.is_empty() {
            return Err(ConfigError::EmptyHostname);
        }
        if self.executor_registration_timeout.is_zero() {
            return Err(ConfigError::ZeroDuration("executor_registration_timeout"));
        }
        if !(0.0..=1.0).contains(&self.gc_disk_headroom) {
            return Err(ConfigError::GcDiskHeadroom(
                self.gc_disk_headroom.to_string(),
            ));
        }
        if self.disk_watch_interval.is_zero() {
            return Err(ConfigError::ZeroDuration("disk_watch_interval"));
        }
        Ok(())
    }
}

/// Where Mesos installs `mesos-executor` (its `PKGLIBEXECDIR`, the
/// `--launcher_dir` default), and so where the `mesos` package puts it.
pub const PACKAGED_LAUNCHER_DIR: &str = "/usr/libexec/mesos";

/// The directory of the running executable when `mesos-executor` is beside
/// it (a build tree), otherwise [`PACKAGED_LAUNCHER_DIR`] (the agent in
/// `/usr/sbin`, `mesos-local` in `/usr/bin`).
pub fn default_launcher_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(PathBuf::from))
        .filter(|dir| dir.join("mesos-executor").is_file())
        .unwrap_or_else(|| PathBuf::from(PACKAGED_LAUNCHER_DIR))
}
