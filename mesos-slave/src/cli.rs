//! The `mesos-slave` / `mesos-agent` command line: Mesos 1.11's flag names,
//! defaults and `MESOS_<FLAG>` environment variables, turned into an
//! [`AgentConfig`].

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{ArgAction, Parser};
use mesos::resources::Resources;
use mesos::upid::Upid;
use mesos::wire::mesos as v0;

use crate::checkpoint::ReconfigurationPolicy;
use crate::config::{AgentConfig, ContainerizerConfig, RecoverMode, default_launcher_dir};
use crate::containerizer::cgroups::CgroupsConfig;
use crate::containerizer::docker::DockerConfig;
use crate::containerizer::isolation::Isolation;
use crate::fetcher::FetcherConfig;
use crate::{convert, detect};

pub mod unimplemented;

#[cfg(test)]
mod table_tests;

/// Reads a flag value written `file://path` from that file, as Mesos does.
fn value_or_file(text: &str) -> Result<String, String> {
    match text.strip_prefix("file://") {
        Some(path) => std::fs::read_to_string(path)
            .map(|s| s.trim().to_string())
            .map_err(|e| format!("cannot read '{path}': {e}")),
        None => Ok(text.to_string()),
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    mesos::flags::parse_duration(&value_or_file(text)?).map_err(|e| e.to_string())
}

/// The Mesos agent.
#[derive(Debug, Parser)]
#[command(
    name = "mesos-slave",
    rename_all = "snake_case",
    disable_version_flag = true,
    about = "The Mesos agent: registers with a master and runs its tasks"
)]
pub struct AgentFlags {
    /// May be one of: `host:port`, `master@host:port`,
    /// `zk://host1:port1,host2:port2,.../path` (the leader is detected in
    /// ZooKeeper), `zk://username:password@host1:port1,.../path`, or
    /// `file:///path/to/file` holding one of those.
    #[arg(long, env = "MESOS_MASTER", value_parser = value_or_file)]
    pub master: Option<String>,

    /// IP address to listen on (and advertise unless --advertise_ip).
    #[arg(long, env = "MESOS_IP")]
    pub ip: Option<IpAddr>,

    /// Port to listen on.
    #[arg(long, env = "MESOS_PORT", default_value_t = 5051)]
    pub port: u16,

    /// IP address advertised to reach this agent (NAT, containers).
    #[arg(long, env = "MESOS_ADVERTISE_IP")]
    pub advertise_ip: Option<IpAddr>,

    /// Port advertised to reach this agent.
    #[arg(long, env = "MESOS_ADVERTISE_PORT")]
    pub advertise_port: Option<u16>,

    /// The hostname the agent reports; defaults to this machine's name.
    #[arg(long, env = "MESOS_HOSTNAME", value_parser = value_or_file)]
    pub hostname: Option<String>,

    /// Path of the agent work directory: sandboxes live under it.
    #[arg(long, env = "MESOS_WORK_DIR")]
    pub work_dir: Option<PathBuf>,

    /// Total consumable resources: `cpus:4;mem:4096;ports:[31000-32000]`,
    /// `cpus(role):2`, or a JSON array of Resource objects. Kinds left out
    /// (cpus, mem, disk, ports) are detected.
    #[arg(long, env = "MESOS_RESOURCES", value_parser = value_or_file)]
    pub resources: Option<String>,

    /// Attributes of the machine: `rack:r1;zone:z2`.
    #[arg(long, env = "MESOS_ATTRIBUTES", value_parser = value_or_file)]
    pub attributes: Option<String>,

    /// Directory holding `mesos-executor`; defaults to the directory of
    /// this executable when `mesos-executor` is there, otherwise
    /// `/usr/libexec/mesos` (Mesos's default).
    #[arg(long, env = "MESOS_LAUNCHER_DIR")]
    pub launcher_dir: Option<PathBuf>,

    /// Amount of time to wait for an executor to register before
    /// destroying it.
    #[arg(long, env = "MESOS_EXECUTOR_REGISTRATION_TIMEOUT", default_value = "1mins", value_parser = parse_duration)]
    pub executor_registration_timeout: Duration,

    /// Default amount of time to wait for an executor to shut down (it
    /// is then killed); `ExecutorInfo.shutdown_grace_period` overrides it.
    #[arg(long, env = "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", default_value = "5secs", value_parser = parse_duration)]
    pub executor_shutdown_grace_period: Duration,

    /// The first registration attempt waits a random time in [0, this];
    /// retries double it, up to 1 minute.
    #[arg(long, env = "MESOS_REGISTRATION_BACKOFF_FACTOR", default_value = "1secs", value_parser = parse_duration)]
    pub registration_backoff_factor: Duration,

    /// How long after an executor or framework ends its sandbox stays
    /// before it is removed (sooner when the disk fills: see
    /// `--gc_disk_headroom`).
    #[arg(long, env = "MESOS_GC_DELAY", default_value = "1weeks", value_parser = parse_duration)]
    pub gc_delay: Duration,

    /// The share of the work directory's disk to keep free: sandboxes
    /// older than `gc_delay * max(0, 1 - gc_disk_headroom - disk usage)`
    /// are removed at each disk check. Between 0.0 and 1.0.
    #[arg(long, env = "MESOS_GC_DISK_HEADROOM", default_value_t = 0.1)]
    pub gc_disk_headroom: f64,

    /// How often the work directory's disk usage is checked, pruning
    /// sandboxes as `--gc_disk_headroom` says.
    #[arg(long, env = "MESOS_DISK_WATCH_INTERVAL", default_value = "1mins", value_parser = parse_duration)]
    pub disk_watch_interval: Duration,

    /// ZooKeeper session timeout, for master detection with `--master=zk://`.
    #[arg(long, env = "MESOS_ZK_SESSION_TIMEOUT", default_value = "10secs", value_parser = parse_duration)]
    pub zk_session_timeout: Duration,

    /// Role of resources that name none in --resources, and of detected
    /// resources.
    #[arg(long, env = "MESOS_DEFAULT_ROLE", default_value = "*")]
    pub default_role: String,

    /// Isolation mechanisms, by Mesos's isolator names: `posix/cpu`,
    /// `posix/mem` (no enforcement), `cgroups/cpu`, `cgroups/mem`,
    /// `cgroups/pids`, `cgroups/all`, `namespaces/pid`. Other Mesos
    /// isolators are accepted
    /// with a warning; unknown names are refused.
    #[arg(long, env = "MESOS_ISOLATION", default_value = "posix/cpu,posix/mem")]
    pub isolation: String,

    /// The base directory of the cgroup hierarchies (v1: one per
    /// subsystem under it; v2 when it is a cgroup2 mount).
    #[arg(
        long,
        env = "MESOS_CGROUPS_HIERARCHY",
        default_value = "/sys/fs/cgroup"
    )]
    pub cgroups_hierarchy: PathBuf,

    /// The cgroup under which each container's cgroup is made
    /// (`<root>/<container_id>`).
    #[arg(long, env = "MESOS_CGROUPS_ROOT", default_value = "mesos")]
    pub cgroups_root: String,

    /// Cap each container's CPU time at its cpus (CFS bandwidth control),
    /// not just weigh it.
    #[arg(long, env = "MESOS_CGROUPS_ENABLE_CFS", default_value_t = false, action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true")]
    pub cgroups_enable_cfs: bool,

    /// Limit memory plus swap (not memory alone) to the container's mem.
    #[arg(long, env = "MESOS_CGROUPS_LIMIT_SWAP", default_value_t = false, action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true")]
    pub cgroups_limit_swap: bool,

    /// Directory prepended to relative URI paths the fetcher is given.
    #[arg(long, env = "MESOS_FRAMEWORKS_HOME")]
    pub frameworks_home: Option<PathBuf>,

    /// The fetcher cache's directory (URIs marked `cache`); emptied when
    /// the agent starts.
    #[arg(
        long,
        env = "MESOS_FETCHER_CACHE_DIR",
        default_value = "/tmp/mesos/fetch"
    )]
    pub fetcher_cache_dir: PathBuf,

    /// The fetcher cache's size (`2GB`): the least recently used
    /// downloads are evicted to stay within it.
    #[arg(long, env = "MESOS_FETCHER_CACHE_SIZE", default_value = "2GB")]
    pub fetcher_cache_size: String,

    /// A download that receives nothing for this long fails.
    #[arg(long, env = "MESOS_FETCHER_STALL_TIMEOUT", default_value = "1mins", value_parser = parse_duration)]
    pub fetcher_stall_timeout: Duration,

    /// Containerizer implementations, comma-separated: `mesos` (posix
    /// processes) and `docker` (command tasks with a DOCKER ContainerInfo
    /// in containers of the local Docker engine).
    #[arg(long, env = "MESOS_CONTAINERIZERS", default_value = "mesos")]
    pub containerizers: String,

    /// The docker executable of the Docker containerizer.
    #[arg(long, env = "MESOS_DOCKER", default_value = "docker")]
    pub docker: String,

    /// The Docker engine's socket, used by the agent and the Docker
    /// executor.
    #[arg(
        long,
        env = "MESOS_DOCKER_SOCKET",
        default_value = "/var/run/docker.sock"
    )]
    pub docker_socket: String,

    /// How long `docker stop` waits before killing a container when the
    /// task names no kill grace period (deprecated in Mesos in favour of
    /// kill policies).
    #[arg(long, env = "MESOS_DOCKER_STOP_TIMEOUT", default_value = "0ns", value_parser = parse_duration)]
    pub docker_stop_timeout: Duration,

    /// How long to keep a terminated Docker container before `docker rm`.
    #[arg(long, env = "MESOS_DOCKER_REMOVE_DELAY", default_value = "6hrs", value_parser = parse_duration)]
    pub docker_remove_delay: Duration,

    /// Whether the Docker containerizer kills containers it did not start
    /// or no longer knows. Accepted; orphans are not looked for yet
    /// (recovered containers are found through the checkpoint).
    #[arg(long, env = "MESOS_DOCKER_KILL_ORPHANS", default_value_t = true, action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true")]
    pub docker_kill_orphans: bool,

    /// The Docker image this agent runs in, to launch executors in
    /// containers too. Accepted; not supported yet (executors run as
    /// processes).
    #[arg(long, env = "MESOS_DOCKER_MESOS_IMAGE")]
    pub docker_mesos_image: Option<String>,

    /// Where the sandbox is mounted inside containers.
    #[arg(
        long,
        env = "MESOS_SANDBOX_DIRECTORY",
        default_value = "/mnt/mesos/sandbox"
    )]
    pub sandbox_directory: String,

    /// What a restarted agent does with the executors of checkpointing
    /// frameworks it finds still running: `reconnect` to them, or
    /// `cleanup` (kill them, then exit).
    #[arg(long, env = "MESOS_RECOVER", default_value = "reconnect")]
    pub recover: String,

    /// How long recovered executors have to reconnect after a restart
    /// before they are killed.
    #[arg(long, env = "MESOS_EXECUTOR_REREGISTRATION_TIMEOUT", default_value = "2secs", value_parser = parse_duration)]
    pub executor_reregistration_timeout: Duration,

    /// Which changes of the agent's info (resources, attributes) keep its
    /// id across a restart: `equal` (none) or `additive` (additions only).
    #[arg(long, env = "MESOS_RECONFIGURATION_POLICY", default_value = "equal")]
    pub reconfiguration_policy: String,

    /// Whether errors reading the checkpoint at recovery are fatal; with
    /// `--strict=false` what cannot be read is skipped.
    #[arg(long, env = "MESOS_STRICT", default_value_t = true, action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true")]
    pub strict: bool,

    /// Run tasks as the framework's user. Accepted; tasks currently run as
    /// the agent's user.
    #[arg(long, env = "MESOS_SWITCH_USER", default_value_t = true, action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true")]
    pub switch_user: bool,

    /// Whether the command executor uses the v1 HTTP executor API. The
    /// command executor here always does.
    #[arg(long, env = "MESOS_HTTP_COMMAND_EXECUTOR", default_value_t = false, action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true")]
    pub http_command_executor: bool,

    /// JSON object of environment variables for executors (and so their
    /// tasks), instead of the agent's own environment.
    #[arg(long, env = "MESOS_EXECUTOR_ENVIRONMENT_VARIABLES", value_parser = value_or_file)]
    pub executor_environment_variables: Option<String>,

    /// Directory for glog-style log files, one per severity
    /// (`mesos-slave.<host>.<user>.log.INFO.<time>.<pid>`, linked from
    /// `mesos-slave.INFO`); logs go to stderr too, unless --quiet.
    #[arg(long, env = "MESOS_LOG_DIR")]
    pub log_dir: Option<PathBuf>,

    /// Least severe level logged: INFO, WARNING or ERROR.
    #[arg(long, env = "MESOS_LOGGING_LEVEL", default_value = "INFO")]
    pub logging_level: String,

    /// Do not log to standard error (the log file, if any, still gets it).
    #[arg(long, env = "MESOS_QUIET", default_value_t = false, action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true")]
    pub quiet: bool,

    /// A log file kept by something else (syslog, journald) for /files to
    /// show: accepted; there is no /files yet.
    #[arg(long, env = "MESOS_EXTERNAL_LOG_FILE")]
    pub external_log_file: Option<PathBuf>,

    /// Seconds glog may buffer lines: accepted; lines are written at once.
    #[arg(long, env = "MESOS_LOGBUFSECS")]
    pub logbufsecs: Option<u32>,

    /// Whether schedulers and executors built with libmesos log too: our
    /// command executor logs to its sandbox's stderr either way.
    #[arg(long, env = "MESOS_INITIALIZE_DRIVER_LOGGING", default_value_t = true,
          action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub initialize_driver_logging: bool,

    /// Print the version and exit.
    #[arg(long, action = ArgAction::SetTrue)]
    pub version: bool,

    /// Mesos flags accepted but not implemented yet.
    #[command(flatten)]
    pub unimplemented: unimplemented::Unimplemented,
}

/// Reads the agent's flags from `args` (program name first) and `env` as
/// Mesos's flag loader does, with its error messages: `MESOS_<FLAG>`
/// variables fill what the command line leaves, `--no-<flag>` for false
/// booleans, `file://` values read, unknown flags, duplicates and a
/// missing `--work_dir` refused. Returns the flags and Mesos's warnings
/// about deprecated names.
pub fn load<E>(args: Vec<String>, env: E) -> Result<(AgentFlags, Vec<String>), String>
where
    E: IntoIterator<Item = (String, String)>,
{
    use clap::{CommandFactory, FromArgMatches};
    let command = AgentFlags::command();
    let args = mesos::flags::with_environment(&command, args, env);
    let normalized = mesos::flags::normalize(&command, args, unimplemented::BOOLEANS)?;
    let args = mesos::flags::expand_file_values_except(normalized.args, unimplemented::PATHS)
        .map_err(|e| e.to_string())?;
    let booleans: Vec<(&str, mesos::flags::Kind)> = unimplemented::BOOLEANS
        .iter()
        .map(|b| (*b, mesos::flags::Kind::Bool))
        .collect();
    mesos::flags::check_values(&args, &booleans)?;
    mesos::flags::check_values(&args, unimplemented::KINDS)?;
    let matches = command.try_get_matches_from(args).map_err(|e| {
        if e.kind() == clap::error::ErrorKind::DisplayHelp {
            e.exit()
        }
        mesos_style(&e)
    })?;
    let flags = AgentFlags::from_arg_matches(&matches).map_err(|e| mesos_style(&e))?;
    if flags.work_dir.is_none() && !flags.version {
        return Err("Flag 'work_dir' is required, but it was not provided".into());
    }
    Ok((flags, normalized.warnings))
}

/// A value clap refused, in Mesos's words: "Failed to load flag 'x': ...".
fn mesos_style(error: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue};
    use std::error::Error as _;
    match error.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(arg)) => {
            let flag = arg
                .trim_start_matches("--")
                .split([' ', '='])
                .next()
                .unwrap_or_default();
            let detail = error
                .source()
                .map(|s| s.to_string())
                .unwrap_or_else(|| error.kind().to_string());
            format!("Failed to load flag '{flag}': {detail}")
        }
        _ => error.to_string(),
    }
}

/// Parses `host:port` or `master@host:port` (after `file://` reading).
pub fn parse_master(text: &str) -> anyhow::Result<Upid> {
    let text = text.trim();
    if text.starts_with("zk://") {
        bail!(
            "--master={text}: ZooKeeper master detection is not supported yet; \
             give the leading master as host:port"
        );
    }
    let (id, address) = match text.split_once('@') {
        Some((id, address)) => (id, address),
        None => ("master", text),
    };
    if id.is_empty() {
        bail!("--master={text}: empty process id");
    }
    let address: SocketAddr = match address.parse() {
        Ok(address) => address,
        Err(_) => address
            .to_socket_addrs()
            .with_context(|| format!("--master={text}: cannot resolve '{address}'"))?
            .find(SocketAddr::is_ipv4)
            .with_context(|| format!("--master={text}: '{address}' has no IPv4 address"))?,
    };
    Ok(Upid::new(id, address))
}

/// Gives `resource` the role `default_role` when it names no role and no
/// reservation (the pre-refinement `role` field, as the text form fills).
#[allow(deprecated)]
fn give_default_role(resource: &mut v0::Resource, default_role: &str) {
    if resource.role.is_none() && resource.reservations.is_empty() {
        resource.role = Some(default_role.to_string());
    }
}

/// Parses `--resources` in its text or JSON-array form (empty: none).
pub fn parse_resources(text: &str, default_role: &str) -> anyhow::Result<Vec<v0::Resource>> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    if text.starts_with('[') {
        let items: Vec<serde_json::Value> =
            serde_json::from_str(text).context("--resources: invalid JSON")?;
        // As Mesos reads them: a resource naming no role (and no
        // reservation) takes the default role; each must be valid.
        return items
            .iter()
            .map(|item| {
                let mut wire = mesos::wire::json::from_json::<v0::Resource>(item)
                    .context("--resources: invalid Resource object")?;
                give_default_role(&mut wire, default_role);
                let resource = mesos::resources::Resource::from_wire(&wire)
                    .with_context(|| format!("--resources: invalid resource '{}'", wire.name))?;
                Ok(resource.to_wire())
            })
            .collect();
    }
    let resources = Resources::parse_with_role(text, default_role)
        .with_context(|| format!("--resources={text}"))?;
    Ok(resources.to_wire())
}

impl AgentFlags {
    /// Warns about flags accepted but not acted on, and refuses values
    /// the agent cannot honour.
    pub fn check(&self) -> anyhow::Result<()> {
        let unimplemented = &self.unimplemented;
        for (given, conflicting) in [
            (
                self.master.is_some() && unimplemented.master_detector.is_some(),
                "Only one of `--master` or `--master_detector` should be specified",
            ),
            (
                self.ip.is_some() && unimplemented.ip_discovery_command.is_some(),
                "Only one of `--ip` or `--ip_discovery_command` should be specified",
            ),
            (
                unimplemented.ip6.is_some() && unimplemented.ip6_discovery_command.is_some(),
                "Only one of `--ip6` or `--ip6_discovery_command` should be specified",
            ),
            (
                unimplemented.modules.is_some() && unimplemented.modules_dir.is_some(),
                "Only one of --modules or --modules_dir should be specified",
            ),
        ] {
            if given {
                bail!("{conflicting}");
            }
        }
        for (name, value) in self.unimplemented.given() {
            tracing::warn!(
                "Flag --{name}={value} is accepted for compatibility but not implemented yet; \
                 it has no effect"
            );
        }
        let (isolation, ignored) = self.isolation()?;
        for isolator in ignored {
            tracing::warn!(
                "Isolator '{isolator}' is not implemented by this agent; it has no effect"
            );
        }
        if isolation.cgroups.enabled() {
            crate::containerizer::cgroups::Cgroups::detect(&isolation.cgroups)
                .context("--isolation asks for cgroups")?;
        }
        mesos::flags::parse_bytes(&self.fetcher_cache_size).map_err(|e| {
            anyhow::anyhow!("--fetcher_cache_size={}: {e}", self.fetcher_cache_size)
        })?;
        for containerizer in self.containerizers.split(',').map(str::trim) {
            if containerizer != "mesos" && containerizer != "docker" {
                bail!("--containerizers: unknown or unsupported containerizer '{containerizer}'");
            }
        }
        if self.docker_mesos_image.is_some() {
            tracing::warn!(
                "--docker_mesos_image is not supported; executors run as processes of the agent"
            );
        }
        self.recover_mode()?;
        self.reconfiguration()?;
        if self.switch_user {
            tracing::info!("Tasks run as the agent's user: --switch_user is not implemented");
        }
        if self.external_log_file.is_some() {
            tracing::warn!("--external_log_file has no effect: there is no /files endpoint yet");
        }
        if self.logbufsecs.is_some_and(|secs| secs > 0) {
            tracing::warn!("--logbufsecs has no effect: log lines are written at once");
        }
        Ok(())
    }

    /// `--recover`.
    pub fn recover_mode(&self) -> anyhow::Result<RecoverMode> {
        match self.recover.as_str() {
            "reconnect" => Ok(RecoverMode::Reconnect),
            "cleanup" => Ok(RecoverMode::Cleanup),
            other => bail!(
                "Unknown option for 'recover' flag {other}. Expected 'reconnect' or 'cleanup'"
            ),
        }
    }

    /// `--reconfiguration_policy`.
    pub fn reconfiguration(&self) -> anyhow::Result<ReconfigurationPolicy> {
        match self.reconfiguration_policy.as_str() {
            "equal" => Ok(ReconfigurationPolicy::Equal),
            "additive" => Ok(ReconfigurationPolicy::Additive),
            other => bail!(
                "Unknown option for 'reconfiguration_policy' flag {other}. \
                 Expected 'equal' or 'additive'"
            ),
        }
    }

    /// `--isolation` with the `--cgroups_*` flags, and the isolators
    /// accepted without effect.
    pub fn isolation(&self) -> anyhow::Result<(Isolation, Vec<String>)> {
        let cgroups = CgroupsConfig {
            hierarchy: self.cgroups_hierarchy.clone(),
            root: self.cgroups_root.trim_matches('/').to_string(),
            enable_cfs: self.cgroups_enable_cfs,
            limit_swap: self.cgroups_limit_swap,
            ..CgroupsConfig::new()
        };
        if cgroups.root.is_empty() || cgroups.root.split('/').any(|p| p == "..") {
            bail!(
                "--cgroups_root={}: expected a relative cgroup path",
                self.cgroups_root
            );
        }
        Ok(Isolation::parse(&self.isolation, cgroups)?)
    }

    /// Every flag with its effective value, as `/flags` shows them.
    pub fn to_map(&self) -> BTreeMap<String, String> {
        let mut map = BTreeMap::new();
        let mut put = |name: &str, value: String| {
            map.insert(name.to_string(), value);
        };
        if let Some(v) = &self.master {
            // No password in /flags.
            let shown = match mesos::zk::ZkUrl::parse(v) {
                Ok(url) => url.to_string(),
                Err(_) => v.clone(),
            };
            put("master", shown);
        }
        if let Some(v) = self.ip {
            put("ip", v.to_string());
        }
        put("port", self.port.to_string());
        if let Some(v) = self.advertise_ip {
            put("advertise_ip", v.to_string());
        }
        if let Some(v) = self.advertise_port {
            put("advertise_port", v.to_string());
        }
        if let Some(v) = &self.hostname {
            put("hostname", v.clone());
        }
        if let Some(v) = &self.work_dir {
            put("work_dir", v.display().to_string());
        }
        if let Some(v) = &self.resources {
            put("resources", v.clone());
        }
        if let Some(v) = &self.attributes {
            put("attributes", v.clone());
        }
        let launcher_dir = self
            .launcher_dir
            .clone()
            .unwrap_or_else(default_launcher_dir);
        put("launcher_dir", launcher_dir.display().to_string());
        put(
            "executor_registration_timeout",
            mesos::flags::format_duration(self.executor_registration_timeout),
        );
        put(
            "executor_shutdown_grace_period",
            mesos::flags::format_duration(self.executor_shutdown_grace_period),
        );
        put(
            "registration_backoff_factor",
            mesos::flags::format_duration(self.registration_backoff_factor),
        );
        put("gc_delay", mesos::flags::format_duration(self.gc_delay));
        put("gc_disk_headroom", format!("{}", self.gc_disk_headroom));
        put(
            "disk_watch_interval",
            mesos::flags::format_duration(self.disk_watch_interval),
        );
        put(
            "zk_session_timeout",
            mesos::flags::format_duration(self.zk_session_timeout),
        );
        put("default_role", self.default_role.clone());
        put("isolation", self.isolation.clone());
        put(
            "cgroups_hierarchy",
            self.cgroups_hierarchy.display().to_string(),
        );
        put("cgroups_root", self.cgroups_root.clone());
        put("cgroups_enable_cfs", self.cgroups_enable_cfs.to_string());
        put("cgroups_limit_swap", self.cgroups_limit_swap.to_string());
        if let Some(v) = &self.frameworks_home {
            put("frameworks_home", v.display().to_string());
        }
        put(
            "fetcher_cache_dir",
            self.fetcher_cache_dir.display().to_string(),
        );
        put("fetcher_cache_size", self.fetcher_cache_size.clone());
        put(
            "fetcher_stall_timeout",
            mesos::flags::format_duration(self.fetcher_stall_timeout),
        );
        put("containerizers", self.containerizers.clone());
        put("docker", self.docker.clone());
        put("docker_socket", self.docker_socket.clone());
        put(
            "docker_stop_timeout",
            mesos::flags::format_duration(self.docker_stop_timeout),
        );
        put(
            "docker_remove_delay",
            mesos::flags::format_duration(self.docker_remove_delay),
        );
        put("sandbox_directory", self.sandbox_directory.clone());
        put("docker_kill_orphans", self.docker_kill_orphans.to_string());
        if let Some(v) = &self.docker_mesos_image {
            put("docker_mesos_image", v.clone());
        }
        put("recover", self.recover.clone());
        put(
            "executor_reregistration_timeout",
            mesos::flags::format_duration(self.executor_reregistration_timeout),
        );
        put(
            "reconfiguration_policy",
            self.reconfiguration_policy.clone(),
        );
        put("strict", self.strict.to_string());
        put("switch_user", self.switch_user.to_string());
        put(
            "http_command_executor",
            self.http_command_executor.to_string(),
        );
        if let Some(v) = &self.executor_environment_variables {
            put("executor_environment_variables", v.clone());
        }
        if let Some(v) = &self.log_dir {
            put("log_dir", v.display().to_string());
        }
        put("logging_level", self.logging_level.clone());
        put("quiet", self.quiet.to_string());
        if let Some(v) = &self.external_log_file {
            put("external_log_file", v.display().to_string());
        }
        put("logbufsecs", self.logbufsecs.unwrap_or(0).to_string());
        put(
            "initialize_driver_logging",
            self.initialize_driver_logging.to_string(),
        );
        for (name, value) in self.unimplemented.given() {
            map.insert(name.to_string(), value.to_string());
        }
        for (name, value) in unimplemented::DEFAULTS {
            map.entry(name.to_string())
                .or_insert_with(|| value.to_string());
        }
        map
    }

    /// Builds the agent's configuration, detecting the resources the
    /// flags leave out.
    pub fn to_config(&self) -> anyhow::Result<AgentConfig> {
        let Some(master) = &self.master else {
            bail!("Missing required option `--master` or `--master_detector`");
        };
        let (master, zk) = if master.trim().starts_with("zk://") {
            let url =
                mesos::zk::ZkUrl::parse(master).map_err(|e| anyhow::anyhow!("--master: {e}"))?;
            // Replaced by the detected leader before any registration.
            let placeholder = Upid::new("master", SocketAddr::from(([127, 0, 0, 1], 0)));
            (placeholder, Some((url, self.zk_session_timeout)))
        } else {
            (parse_master(master)?, None)
        };
        let Some(work_dir) = self.work_dir.clone() else {
            bail!("--work_dir is required");
        };
        let configured =
            parse_resources(self.resources.as_deref().unwrap_or(""), &self.default_role)?;
        let host = detect::HostTotals::measure(&work_dir);
        let mut total = configured.clone();
        let named = |name: &str| configured.iter().any(|r| r.name == name);
        let detected = detect::complete(&Resources::new(), &host, &self.default_role);
        for resource in detected.iter() {
            if !named(&resource.name) {
                total.push(resource.to_wire());
            }
        }
        let attributes = match &self.attributes {
            Some(text) => convert::parse_attributes(text).context("--attributes")?,
            None => Vec::new(),
        };
        let executor_environment_variables = match &self.executor_environment_variables {
            Some(text) => {
                let object: BTreeMap<String, serde_json::Value> = serde_json::from_str(text)
                    .context("--executor_environment_variables: expected a JSON object")?;
                let mut env = BTreeMap::new();
                for (key, value) in object {
                    let serde_json::Value::String(value) = value else {
                        bail!("--executor_environment_variables: '{key}' must be a string");
                    };
                    env.insert(key, value);
                }
                Some(env)
            }
            None => None,
        };
        let mut config = AgentConfig::new(master, work_dir, total);
        config.master_zk = zk;
        if let Some(hostname) = &self.hostname {
            config.hostname = hostname.clone();
        }
        config.attributes = attributes;
        config.launcher_dir = self
            .launcher_dir
            .clone()
            .unwrap_or_else(default_launcher_dir);
        config.executor_registration_timeout = self.executor_registration_timeout;
        config.executor_reregistration_timeout = self.executor_reregistration_timeout;
        config.recover = self.recover_mode()?;
        config.executor_shutdown_grace_period = self.executor_shutdown_grace_period;
        config.registration_backoff_factor = self.registration_backoff_factor;
        config.gc_delay = self.gc_delay;
        config.gc_disk_headroom = self.gc_disk_headroom;
        config.disk_watch_interval = self.disk_watch_interval;
        config.executor_environment_variables = executor_environment_variables;
        config.log_dir = self.log_dir.clone();
        let (isolation, _) = self.isolation()?;
        config.containerizer = ContainerizerConfig {
            cgroups: isolation.cgroups,
            pid_namespace: isolation.pid_namespace,
            fetcher: FetcherConfig {
                frameworks_home: self.frameworks_home.clone(),
                stall_timeout: self.fetcher_stall_timeout,
                cache: Some((
                    self.fetcher_cache_dir.clone(),
                    mesos::flags::parse_bytes(&self.fetcher_cache_size).map_err(|e| {
                        anyhow::anyhow!("--fetcher_cache_size={}: {e}", self.fetcher_cache_size)
                    })?,
                )),
            },
        };
        if self.containerizers.split(',').any(|c| c.trim() == "docker") {
            config.docker = Some(DockerConfig {
                docker: self.docker.clone(),
                socket: self.docker_socket.clone(),
                stop_timeout: self.docker_stop_timeout,
                remove_delay: self.docker_remove_delay,
                mapped_directory: self.sandbox_directory.clone(),
            });
        }
        config.flags = self.to_map();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos() as u64);
        config.seed = (std::process::id() as u64) << 32 ^ nanos;
        config.validate()?;
        Ok(config)
    }
}

fn init_logging(flags: &AgentFlags) -> anyhow::Result<()> {
    let program = mesos::logging::program_name("mesos-slave");
    mesos::logging::init_with(&mesos::logging::Config {
        program: &program,
        logging_level: &flags.logging_level,
        quiet: flags.quiet,
        log_dir: flags.log_dir.as_deref(),
    })
    .map_err(anyhow::Error::msg)
}

async fn serve(flags: AgentFlags, config: AgentConfig) -> anyhow::Result<()> {
    let bind = mesos::process::BindConfig::resolve(
        flags.ip,
        Some(flags.port),
        flags.advertise_ip,
        flags.advertise_port,
        5051,
    );
    let transport = mesos::process::Transport::bind(&bind)
        .await
        .with_context(|| format!("cannot listen on {}:{}", bind.ip, bind.port))?;
    std::fs::create_dir_all(&config.work_dir)
        .with_context(|| format!("cannot create --work_dir {}", config.work_dir.display()))?;
    let mut config = config;
    config.libprocess_ip = Some(bind.ip).filter(|ip| !ip.is_unspecified());
    let recovery = recover(&flags, &config, &transport)?;
    let mut agent = crate::agent::runtime::Agent::start_recovered(
        config,
        transport,
        crate::config::DEFAULT_PROCESS_ID,
        true,
        Some(recovery),
    );
    tracing::info!(pid = %agent.pid(), "Agent started");
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        () = agent.wait() => {
            tracing::info!("Agent terminated");
            return Ok(());
        }
        _ = tokio::signal::ctrl_c() => tracing::info!("Received SIGINT; shutting down"),
        _ = terminate.recv() => tracing::info!("Received SIGTERM; shutting down"),
    }
    agent.shutdown().await;
    Ok(())
}

/// Reads the checkpoint under `<work_dir>/meta` and decides what to
/// recover; an error here is fatal (with `--strict`, any error reading the
/// checkpoint is), and says how to start afresh.
fn recover(
    flags: &AgentFlags,
    config: &AgentConfig,
    transport: &mesos::process::Transport,
) -> anyhow::Result<crate::checkpoint::Recovery> {
    let meta = crate::checkpoint::MetaPaths::new(&config.work_dir);
    let port = transport
        .upid(crate::config::DEFAULT_PROCESS_ID)
        .address
        .port();
    let current = crate::agent::core::AgentCore::agent_info(config, port);
    let boot_id = crate::checkpoint::current_boot_id()
        .map_err(|e| tracing::error!("Could not retrieve boot id: {e}"))
        .ok();
    let policy = flags.reconfiguration()?;
    let planned = crate::checkpoint::recover(&meta, flags.strict)
        .map_err(|e| e.to_string())
        .and_then(|state| {
            crate::checkpoint::plan(state, &current, policy, boot_id.as_deref(), &meta)
        });
    planned.map_err(|e| {
        anyhow::anyhow!(
            "Failed to perform recovery: {e}\n\
             If the agent's configuration changed and it should keep its id, a more \
             permissive --reconfiguration_policy may allow the change.\n\
             To start this agent with a new id instead (its live executors are then \
             not recovered), remove the checkpoint's latest-agent link and restart:\n\
             rm -f {}",
            meta.latest_agent().display()
        )
    })
}

/// Runs `mesos-slave` / `mesos-agent` with the process's arguments.
pub fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if mesos::flags::version_requested(&args) && !args.iter().any(|a| a == "--help") {
        println!("{}", mesos::flags::version_line());
        return std::process::ExitCode::SUCCESS;
    }
    let (flags, load_warnings) = match load(args, std::env::vars()) {
        Ok(loaded) => loaded,
        Err(error) => {
            eprintln!("{error}\n\nSee `mesos-agent --help` for a list of supported flags.");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = init_logging(&flags).and_then(|()| {
        for warning in &load_warnings {
            tracing::warn!("{warning}");
        }
        flags.check()?;
        let config = flags.to_config()?;
        if let Some(docker) = &config.docker {
            let version = crate::containerizer::docker::validate(docker).map_err(|e| {
                anyhow::anyhow!(
                    "Failed to create a containerizer: Could not create DockerContainerizer: \
                     Failed to create docker: {e}"
                )
            })?;
            tracing::info!("Docker containerizer enabled (Docker {version})");
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("cannot start the runtime")?;
        runtime.block_on(serve(flags, config))
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("mesos-slave: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<AgentFlags, clap::Error> {
        let mut argv = vec!["mesos-slave"];
        argv.extend_from_slice(args);
        AgentFlags::try_parse_from(argv)
    }

    #[test]
    fn mesos_flag_names_and_defaults() {
        let flags = parse(&["--master=127.0.0.1:5050", "--work_dir=/tmp/w"]).unwrap();
        assert_eq!(flags.port, 5051);
        assert_eq!(flags.executor_registration_timeout, Duration::from_secs(60));
        assert_eq!(flags.executor_shutdown_grace_period, Duration::from_secs(5));
        assert_eq!(flags.registration_backoff_factor, Duration::from_secs(1));
        assert_eq!(flags.default_role, "*");
        assert_eq!(flags.isolation, "posix/cpu,posix/mem");
        assert_eq!(flags.recover, "reconnect");
        assert_eq!(flags.recover_mode().unwrap(), RecoverMode::Reconnect);
        assert_eq!(
            flags.executor_reregistration_timeout,
            Duration::from_secs(2)
        );
        assert_eq!(
            flags.reconfiguration().unwrap(),
            ReconfigurationPolicy::Equal
        );
        assert!(flags.strict);
        let cleanup = parse(&["--work_dir=/w", "--recover=cleanup"]).unwrap();
        assert_eq!(cleanup.recover_mode().unwrap(), RecoverMode::Cleanup);
        assert!(
            parse(&["--work_dir=/w", "--recover=sometimes"])
                .unwrap()
                .recover_mode()
                .is_err()
        );
        assert!(
            parse(&["--work_dir=/w", "--reconfiguration_policy=whatever"])
                .unwrap()
                .reconfiguration()
                .is_err()
        );
        assert_eq!(flags.work_dir, Some(PathBuf::from("/tmp/w")));
        assert!(parse(&["--version"]).unwrap().version);
    }

    #[test]
    fn docker_flags_take_mesos_defaults() {
        let flags = parse(&["--master=127.0.0.1:5050", "--work_dir=/w"]).unwrap();
        assert_eq!(flags.containerizers, "mesos");
        assert_eq!(flags.docker, "docker");
        assert_eq!(flags.docker_socket, "/var/run/docker.sock");
        assert_eq!(flags.docker_stop_timeout, Duration::ZERO);
        assert_eq!(flags.docker_remove_delay, Duration::from_secs(6 * 3600));
        assert_eq!(flags.sandbox_directory, "/mnt/mesos/sandbox");
        assert!(flags.to_config().unwrap().docker.is_none());
        let docker = parse(&[
            "--master=127.0.0.1:5050",
            "--work_dir=/w",
            "--containerizers=docker,mesos",
            "--docker_remove_delay=1secs",
        ])
        .unwrap();
        docker.check().unwrap();
        let config = docker.to_config().unwrap().docker.unwrap();
        assert_eq!(config.remove_delay, Duration::from_secs(1));
        assert!(
            parse(&[
                "--master=127.0.0.1:5050",
                "--work_dir=/w",
                "--containerizers=rkt"
            ])
            .unwrap()
            .check()
            .is_err()
        );
    }

    #[test]
    fn work_dir_is_required_and_unknown_flags_fail() {
        let load = |args: &[&str]| {
            load(
                std::iter::once("mesos-slave")
                    .chain(args.iter().copied())
                    .map(String::from)
                    .collect(),
                std::iter::empty(),
            )
        };
        assert!(load(&["--master=127.0.0.1:5050"]).is_err());
        assert!(load(&["--work_dir=/w", "--no_such_flag=1"]).is_err());
        assert!(parse(&["--work_dir=/w", "--no_such_flag=1"]).is_err());
    }

    #[test]
    fn all_of_mesos_logging_flags_are_accepted() {
        let args = mesos::flags::expand_negations(
            [
                "mesos-slave",
                "--work_dir=/w",
                "--log_dir=/var/log/mesos",
                "--logging_level=WARNING",
                "--quiet",
                "--external_log_file=/var/log/syslog",
                "--logbufsecs=0",
                "--no-initialize_driver_logging",
            ]
            .map(String::from)
            .to_vec(),
            &["quiet", "initialize_driver_logging"],
        );
        let flags = AgentFlags::try_parse_from(args).unwrap();
        assert!(flags.quiet);
        assert_eq!(
            flags.external_log_file,
            Some(PathBuf::from("/var/log/syslog"))
        );
        assert_eq!(flags.logbufsecs, Some(0));
        assert!(!flags.initialize_driver_logging);
        assert!(parse(&["--work_dir=/w"]).unwrap().initialize_driver_logging);
    }

    #[test]
    fn booleans_take_mesos_forms() {
        assert!(!parse(&["--work_dir=/w", "--strict=false"]).unwrap().strict);
        assert!(parse(&["--work_dir=/w", "--strict"]).unwrap().strict);
    }

    #[test]
    fn durations_in_mesos_units() {
        let flags = parse(&[
            "--work_dir=/w",
            "--executor_registration_timeout=10mins",
            "--executor_shutdown_grace_period=500ms",
        ])
        .unwrap();
        assert_eq!(
            flags.executor_registration_timeout,
            Duration::from_secs(600)
        );
        assert_eq!(
            flags.executor_shutdown_grace_period,
            Duration::from_millis(500)
        );
        assert!(parse(&["--work_dir=/w", "--registration_backoff_factor=1"]).is_err());
    }

    #[test]
    fn file_values_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("resources");
        std::fs::write(&path, "cpus:3\n").unwrap();
        let arg = format!("--resources=file://{}", path.display());
        let flags = parse(&["--work_dir=/w", &arg]).unwrap();
        assert_eq!(flags.resources.as_deref(), Some("cpus:3"));
        assert!(parse(&["--work_dir=/w", "--resources=file:///no/such/file"]).is_err());
    }

    #[test]
    fn master_forms() {
        let pid = parse_master("127.0.0.1:5050").unwrap();
        assert_eq!(pid.to_string(), "master@127.0.0.1:5050");
        let pid = parse_master("master@10.0.0.1:5050").unwrap();
        assert_eq!(pid.to_string(), "master@10.0.0.1:5050");
        assert_eq!(parse_master("localhost:5050").unwrap().address.port(), 5050);
        assert!(parse_master("nonsense").is_err());
    }

    #[test]
    fn resources_text_roles_and_json() {
        let wire = parse_resources("cpus:4;mem:4096;ports:[31000-32000];cpus(web):2", "*").unwrap();
        let total = Resources::from_wire(&wire).unwrap();
        assert_eq!(total.cpus(), Some(6.0));
        assert_eq!(total.for_role("web").cpus(), Some(2.0));
        let wire = parse_resources("cpus:1", "dev").unwrap();
        assert_eq!(
            Resources::from_wire(&wire).unwrap().for_role("dev").cpus(),
            Some(1.0)
        );
        let json = r#"[{"name":"cpus","type":"SCALAR","scalar":{"value":2}},
                      {"name":"ports","type":"RANGES","ranges":{"range":[{"begin":1,"end":5}]}}]"#;
        let wire = parse_resources(json, "*").unwrap();
        assert_eq!(wire.len(), 2);
        assert_eq!(wire[0].scalar.unwrap().value, 2.0);
        assert!(parse_resources("", "*").unwrap().is_empty());
        assert!(parse_resources("cpus:x", "*").is_err());
    }

    #[test]
    fn config_detects_what_resources_leave_out() {
        let dir = tempfile::tempdir().unwrap();
        let work_dir = format!("--work_dir={}", dir.path().display());
        let flags = parse(&[
            "--master=127.0.0.1:5050",
            &work_dir,
            "--resources=cpus:2",
            "--attributes=rack:r1",
        ])
        .unwrap();
        let config = flags.to_config().unwrap();
        let total = Resources::from_wire(&config.resources).unwrap();
        assert_eq!(total.cpus(), Some(2.0));
        assert!(total.mem().unwrap() > 0.0);
        assert!(total.disk().unwrap() > 0.0);
        assert_eq!(total.ports(), Some(vec![(31000, 32000)]));
        assert_eq!(config.attributes.len(), 1);
        assert_eq!(config.flags["resources"], "cpus:2");
        assert_eq!(config.flags["executor_registration_timeout"], "1mins");
    }

    #[test]
    fn json_resources_take_the_default_role_and_keep_reservations() {
        let json = r#"[{"name":"cpus","type":"SCALAR","scalar":{"value":2}},
            {"name":"disk","type":"SCALAR","scalar":{"value":100},
             "reservations":[{"type":"STATIC","role":"web"}]}]"#;
        let total = Resources::from_wire(&parse_resources(json, "dev").unwrap()).unwrap();
        assert_eq!(total.for_role("dev").cpus(), Some(2.0));
        assert_eq!(total.for_role("web").disk(), Some(100.0));
        assert_eq!(total.unreserved().disk(), None);
        let negative = r#"[{"name":"cpus","type":"SCALAR","scalar":{"value":-1}}]"#;
        assert!(parse_resources(negative, "*").is_err());
        assert!(parse_resources("[{]", "*").is_err());
    }

    #[test]
    fn statically_reserved_kinds_are_not_detected() {
        let dir = tempfile::tempdir().unwrap();
        let work_dir = format!("--work_dir={}", dir.path().display());
        let flags = parse(&[
            "--master=127.0.0.1:5050",
            &work_dir,
            "--resources=mem:512;disk(web):100;ports(web):[5000-5001]",
            "--default_role=dev",
            "--hostname=agent.example",
            "--attributes=rack:r1;cores:8;slots:[1-4]",
        ])
        .unwrap();
        let config = flags.to_config().unwrap();
        let total = Resources::from_wire(&config.resources).unwrap();
        assert_eq!(total.for_role("dev").mem(), Some(512.0));
        assert_eq!(total.for_role("web").disk(), Some(100.0));
        assert_eq!(total.disk(), Some(100.0));
        assert_eq!(total.ports(), Some(vec![(5000, 5001)]));
        // cpus come from the host, in the default role.
        assert!(total.for_role("dev").cpus().unwrap() >= 1.0);
        assert_eq!(config.hostname, "agent.example");
        let types: Vec<i32> = config.attributes.iter().map(|a| a.r#type).collect();
        assert_eq!(
            types,
            [
                v0::value::Type::Text as i32,
                v0::value::Type::Scalar as i32,
                v0::value::Type::Ranges as i32
            ]
        );
    }

    #[test]
    fn gc_flags_take_mesos_defaults() {
        let flags = parse(&["--work_dir=/w"]).unwrap();
        assert_eq!(flags.gc_delay, Duration::from_secs(7 * 24 * 3600));
        assert_eq!(flags.gc_disk_headroom, 0.1);
        assert_eq!(flags.disk_watch_interval, Duration::from_secs(60));
        let flags = parse(&[
            "--master=127.0.0.1:5050",
            "--work_dir=/w",
            "--gc_delay=2secs",
            "--gc_disk_headroom=1.5",
        ])
        .unwrap();
        assert_eq!(flags.gc_delay, Duration::from_secs(2));
        let error = flags.to_config().unwrap_err().to_string();
        assert!(error.contains("--gc_disk_headroom"), "{error}");
    }

    #[test]
    fn missing_master_is_an_error() {
        let flags = parse(&["--work_dir=/w"]).unwrap();
        assert!(flags.to_config().is_err());
    }
}
