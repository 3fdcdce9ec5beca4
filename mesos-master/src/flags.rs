//! `mesos-master` flags: Mesos 1.11's names, defaults and aliases.
//!
//! Every flag also reads `MESOS_<FLAG>` from the environment (the command
//! line wins; unknown `MESOS_*` variables are ignored, as in Mesos). Flags Mesos has that this master does not implement yet are
//! accepted so that existing flag files keep working, and each logs a
//! warning when set.

use std::net::IpAddr;
use std::time::Duration;

use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser};
use mesos::flags::{Kind, parse_bool, parse_duration};
use mesos::resources::Resources;

/// The flags of `mesos-master`.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "mesos-master",
    disable_version_flag = true,
    about = "The Mesos master: registers agents and frameworks and offers agents' resources to frameworks",
    rename_all = "snake_case"
)]
pub struct MasterFlags {
    /// IP address to listen on (also `LIBPROCESS_IP`).
    #[arg(long)]
    pub ip: Option<IpAddr>,
    /// Port to listen on.
    #[arg(long, default_value_t = 5050)]
    pub port: u16,
    /// IP address advertised to reach this master (NAT, containers).
    #[arg(long)]
    pub advertise_ip: Option<IpAddr>,
    /// Port advertised to reach this master.
    #[arg(long)]
    pub advertise_port: Option<u16>,
    /// The hostname the master advertises (default: from a reverse lookup of the IP, or the IP with --hostname_lookup=false).
    #[arg(long)]
    pub hostname: Option<String>,
    /// Whether to look the hostname up when --hostname is not given.
    #[arg(long, default_value = "true", value_parser = parse_bool, num_args = 0..=1, default_missing_value = "true")]
    pub hostname_lookup: bool,
    /// Where the master keeps its registry (required with --registry=replicated_log).
    #[arg(long)]
    pub work_dir: Option<String>,
    /// Where the registry lives: `replicated_log` (in ZooKeeper with --zk, else the file registry.pb under --work_dir) or `in_memory`.
    #[arg(long, default_value = "replicated_log")]
    pub registry: String,
    /// ZooKeeper URL for leader election (`zk://host:port/path`).
    #[arg(long)]
    pub zk: Option<String>,
    /// Size of the quorum of masters (required with --zk).
    #[arg(long)]
    pub quorum: Option<u32>,
    /// ZooKeeper session timeout.
    #[arg(long, default_value = "10secs", value_parser = parse_duration)]
    pub zk_session_timeout: Duration,
    /// How long agents admitted before a failover (or restart) have to
    /// re-register before they are marked unreachable.
    #[arg(long, alias = "slave_reregister_timeout", default_value = "10mins", value_parser = parse_duration)]
    pub agent_reregister_timeout: Duration,
    /// After a failover, the largest share of the recovered agents that may
    /// fail to re-register within --agent_reregister_timeout and be marked
    /// unreachable; beyond it the master exits rather than mark them
    /// (`0%`-`100%`).
    #[arg(long, alias = "recovery_slave_removal_limit", default_value = "100%")]
    pub recovery_agent_removal_limit: String,
    /// How long reading the registry at recovery may take before it fails.
    #[arg(long, default_value = "1mins", value_parser = parse_duration)]
    pub registry_fetch_timeout: Duration,
    /// How long a registry write may take; a write that fails or times out
    /// stops the master, as in Mesos.
    #[arg(long, default_value = "20secs", value_parser = parse_duration)]
    pub registry_store_timeout: Duration,
    /// How often unreachable and gone agents are pruned from the registry.
    #[arg(long, default_value = "15mins", value_parser = parse_duration)]
    pub registry_gc_interval: Duration,
    /// How long an unreachable or gone agent stays in the registry.
    #[arg(long, default_value = "2weeks", value_parser = parse_duration)]
    pub registry_max_agent_age: Duration,
    /// How many unreachable (and, apart, gone) agents the registry keeps,
    /// the oldest dropped first.
    #[arg(long, default_value_t = 100 * 1024)]
    pub registry_max_agent_count: usize,
    /// Deprecated in Mesos and disabled: only `false` is accepted.
    #[arg(long, default_value = "false", value_parser = parse_bool, num_args = 0..=1, default_missing_value = "true")]
    pub registry_strict: bool,
    /// Human readable cluster name, shown in the WebUI and /state.
    #[arg(long)]
    pub cluster: Option<String>,
    /// Time between allocation cycles.
    #[arg(long, default_value = "1secs", value_parser = parse_duration)]
    pub allocation_interval: Duration,
    /// How long an offer may stay unused before it is rescinded (default: never).
    #[arg(long, value_parser = parse_duration)]
    pub offer_timeout: Option<Duration>,
    /// How long the master waits for an agent to answer a ping.
    #[arg(long, alias = "slave_ping_timeout", default_value = "15secs", value_parser = parse_duration)]
    pub agent_ping_timeout: Duration,
    /// Missed pings after which an agent is marked unreachable.
    #[arg(long, alias = "max_slave_ping_timeouts", default_value_t = 5)]
    pub max_agent_ping_timeouts: u32,
    /// Removed frameworks kept for /state.
    #[arg(long, default_value_t = 50)]
    pub max_completed_frameworks: usize,
    /// Finished tasks kept per framework for /state.
    #[arg(long, default_value_t = 1000)]
    pub max_completed_tasks_per_framework: usize,
    /// Unreachable tasks kept per framework for /state.
    #[arg(long, default_value_t = 1000)]
    pub max_unreachable_tasks_per_framework: usize,
    /// Smallest offers worth making: `|`-separated alternatives of `;`-separated quantities.
    #[arg(long, default_value = "cpus:0.01|mem:32")]
    pub min_allocatable_resources: String,
    /// Resource names left out of fair-share computations (e.g. `gpus`).
    #[arg(long)]
    pub fair_sharing_excluded_resource_names: Option<String>,
    /// Only offer agents with GPUs to frameworks with the GPU_RESOURCES capability.
    #[arg(long, default_value = "true", value_parser = parse_bool, num_args = 0..=1, default_missing_value = "true")]
    pub filter_gpu_resources: bool,
    /// Role weights: `role1=weight1,role2=weight2`.
    #[arg(long)]
    pub weights: Option<String>,
    /// Where to write glog-style log files, one per severity (linked from
    /// `mesos-master.INFO`, `.WARNING`, `.ERROR`); standard error gets
    /// the lines too, unless --quiet.
    #[arg(long)]
    pub log_dir: Option<String>,
    /// Lowest level logged: INFO, WARNING or ERROR.
    #[arg(long, default_value = "INFO")]
    pub logging_level: String,
    /// Do not log to standard error.
    #[arg(long, default_value = "false", value_parser = parse_bool, num_args = 0..=1, default_missing_value = "true")]
    pub quiet: bool,
    /// Where the WebUI's files are.
    #[arg(long)]
    pub webui_dir: Option<String>,

    /// Mesos flags accepted but not implemented yet.
    #[command(flatten)]
    pub unimplemented: Unimplemented,
}

macro_rules! unimplemented_flags {
    ($($name:ident $(= $alias:literal)?),* $(,)?) => {
        /// Mesos master flags accepted for compatibility but not acted on yet.
        #[derive(Debug, Clone, clap::Args)]
        #[command(rename_all = "snake_case", next_help_heading = "Mesos flags accepted for compatibility, not implemented yet (each given logs a warning)")]
        pub struct Unimplemented {
            $(
                #[doc = concat!("Mesos's `--", stringify!($name), "` (accepted; not implemented yet).")]
                #[arg(long, value_name = "VALUE", help = concat!("Mesos's --", stringify!($name), " (not implemented yet)") $(, alias = $alias)?)]
                pub $name: Option<String>,
            )*
        }

        impl Unimplemented {
            /// The flags given, by name.
            pub fn given(&self) -> Vec<(&'static str, &str)> {
                let mut given = Vec::new();
                $(if let Some(value) = &self.$name {
                    given.push((stringify!($name), value.as_str()));
                })*
                given
            }
        }
    };
}

unimplemented_flags!(
    root_submissions,
    log_auto_initialize,
    agent_removal_rate_limit = "slave_removal_rate_limit",
    whitelist,
    role_sorter = "user_sorter",
    framework_sorter,
    roles,
    authenticate_frameworks = "authenticate",
    authenticate_agents = "authenticate_slaves",
    authentication_v0_timeout,
    authenticate_http_readwrite = "authenticate_http",
    authenticate_http_readonly,
    authenticate_http_frameworks,
    credentials,
    acls,
    firewall_rules,
    rate_limits,
    max_executors_per_agent = "max_executors_per_slave",
    modules,
    modules_dir,
    authenticators,
    allocator,
    allocator_agent_recovery_factor,
    allocator_recovery_timeout,
    hooks,
    authorizers,
    http_authenticators,
    http_framework_authenticators,
    max_operator_event_stream_subscribers,
    master_contender,
    master_detector,
    memory_profiling,
    ip_discovery_command,
    require_agent_domain,
    publish_per_framework_metrics,
    domain,
    offer_constraints_re2_max_mem,
    offer_constraints_re2_max_program_size,
    logbufsecs,
    external_log_file,
    initialize_driver_logging,
);

/// The boolean flags, which also take `--<flag>` alone and `--no-<flag>`.
pub const BOOLEANS: &[&str] = &[
    "hostname_lookup",
    "filter_gpu_resources",
    "quiet",
    "root_submissions",
    "registry_strict",
    "log_auto_initialize",
    "authenticate_frameworks",
    "authenticate_agents",
    "authenticate_http_readwrite",
    "authenticate_http_readonly",
    "authenticate_http_frameworks",
    "memory_profiling",
    "require_agent_domain",
    "publish_per_framework_metrics",
    "initialize_driver_logging",
];

/// The types of the flags accepted but not implemented that are not
/// text, so that their values are checked as Mesos checks them.
const UNIMPLEMENTED_KINDS: &[(&str, Kind)] = &[
    ("registry_fetch_timeout", Kind::Duration),
    ("registry_store_timeout", Kind::Duration),
    ("authentication_v0_timeout", Kind::Duration),
    ("allocator_agent_recovery_factor", Kind::Number),
    ("allocator_recovery_timeout", Kind::Duration),
    ("max_executors_per_agent", Kind::Integer),
    ("max_operator_event_stream_subscribers", Kind::Integer),
    ("offer_constraints_re2_max_mem", Kind::Bytes),
    ("offer_constraints_re2_max_program_size", Kind::Integer),
    ("logbufsecs", Kind::Integer),
];

/// Mesos's defaults of the flags accepted but not implemented, as Mesos's
/// `/flags` shows them (flags without a default are left out there too).
const UNIMPLEMENTED_DEFAULTS: &[(&str, &str)] = &[
    ("root_submissions", "true"),
    ("log_auto_initialize", "true"),
    ("role_sorter", "drf"),
    ("framework_sorter", "drf"),
    ("authenticate_frameworks", "false"),
    ("authenticate_agents", "false"),
    ("authentication_v0_timeout", "15secs"),
    ("authenticate_http_readwrite", "false"),
    ("authenticate_http_readonly", "false"),
    ("authenticate_http_frameworks", "false"),
    ("authenticators", "crammd5"),
    ("allocator", "hierarchical"),
    ("allocator_agent_recovery_factor", "0.8"),
    ("allocator_recovery_timeout", "10mins"),
    ("authorizers", "local"),
    ("http_authenticators", "basic"),
    ("max_operator_event_stream_subscribers", "1000"),
    ("memory_profiling", "false"),
    ("require_agent_domain", "false"),
    ("publish_per_framework_metrics", "true"),
    ("offer_constraints_re2_max_mem", "4KB"),
    ("offer_constraints_re2_max_program_size", "100"),
    ("logbufsecs", "0"),
    ("initialize_driver_logging", "true"),
];

/// Why the flags cannot run a master.
#[derive(Debug, thiserror::Error)]
pub enum FlagsError {
    /// Mesos's own check: the replicated log needs a directory.
    #[error("--work_dir needed for replicated log based registry")]
    MissingWorkDir,
    /// An unknown registry.
    #[error("'{0}' is not a supported registry (use 'replicated_log' or 'in_memory')")]
    Registry(String),
    /// `--min_allocatable_resources` does not parse.
    #[error("invalid --min_allocatable_resources: {0}")]
    MinAllocatable(String),
    /// `--weights` does not parse.
    #[error("invalid --weights '{0}': expected role=weight,...")]
    Weights(String),
    /// `--registry_strict=true`, which Mesos refuses.
    #[error(
        "Support for '--registry_strict' has been disabled and will be removed in a future version of Mesos"
    )]
    RegistryStrict,
    /// `--recovery_agent_removal_limit` is not a percentage in range.
    #[error("Invalid value '{value}' for --recovery_agent_removal_percent_limit: {reason}")]
    RemovalLimit {
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `--zk` without `--quorum`.
    #[error("Need to specify --quorum for replicated log based registry when using ZooKeeper")]
    MissingQuorum,
    /// Two flags Mesos refuses together, in Mesos's words.
    #[error("{0}")]
    Exclusive(&'static str),
}

/// Parsed flags and, for `/flags`, every flag's effective value as text.
pub struct Parsed {
    /// The flags.
    pub flags: MasterFlags,
    /// Every flag with a value (given or default), as text, by name.
    pub effective: Vec<(String, String)>,
    /// Mesos's warnings about how the flags were given (deprecated names).
    pub load_warnings: Vec<String>,
}

/// Parses `args` (with the program name first) the way Mesos does:
/// `file://` values read, `--no-<flag>` for false booleans, `MESOS_*`
/// from the environment.
pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Parsed, String> {
    parse_with_env(args, std::env::vars())
}

/// [`parse`] with the environment given. Errors carry Mesos's text
/// ("Failed to load unknown flag 'x'"). `--version` is left to the caller
/// (Mesos prints it before looking at the other flags).
pub fn parse_with_env<I, E>(args: I, env: E) -> Result<Parsed, String>
where
    I: IntoIterator<Item = String>,
    E: IntoIterator<Item = (String, String)>,
{
    let command = MasterFlags::command();
    let args = mesos::flags::with_environment(&command, args.into_iter().collect(), env);
    let normalized = mesos::flags::normalize(&command, args, BOOLEANS)?;
    let args: Vec<String> = normalized
        .args
        .into_iter()
        .filter(|a| a != "--version")
        .collect();
    let args = mesos::flags::expand_file_values_except(args, &["credentials", "whitelist"])
        .map_err(|e| e.to_string())?;
    let booleans: Vec<(&str, Kind)> = BOOLEANS.iter().map(|b| (*b, Kind::Bool)).collect();
    mesos::flags::check_values(&args, &booleans)?;
    mesos::flags::check_values(&args, UNIMPLEMENTED_KINDS)?;
    let matches = command
        .try_get_matches_from(args)
        .map_err(|e| match e.kind() {
            clap::error::ErrorKind::DisplayHelp => e.exit(),
            _ => mesos_style(&e),
        })?;
    let flags = MasterFlags::from_arg_matches(&matches).map_err(|e| mesos_style(&e))?;
    Ok(Parsed {
        effective: effective(&matches),
        flags,
        load_warnings: normalized.warnings,
    })
}

/// A value clap refused, in Mesos's words: "Failed to load flag 'x': ...".
fn mesos_style(error: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue};
    use std::error::Error as _;
    let flag = match error.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(arg)) => arg
            .trim_start_matches("--")
            .split([' ', '='])
            .next()
            .unwrap_or_default()
            .to_string(),
        _ => String::new(),
    };
    let detail = error
        .source()
        .map(|s| s.to_string())
        .unwrap_or_else(|| error.kind().to_string());
    if flag.is_empty() {
        error.to_string()
    } else {
        format!("Failed to load flag '{flag}': {detail}")
    }
}

fn effective(matches: &ArgMatches) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = matches
        .ids()
        .filter_map(|id| {
            let raw = matches.get_raw(id.as_str())?;
            let values: Vec<String> = raw.map(|v| v.to_string_lossy().into_owned()).collect();
            Some((id.to_string(), values.join(",")))
        })
        .collect();
    for (name, default) in UNIMPLEMENTED_DEFAULTS {
        if !out.iter().any(|(n, _)| n == name) {
            out.push((name.to_string(), default.to_string()));
        }
    }
    out.sort();
    out
}

impl MasterFlags {
    /// Checks the combination of flags, logging the accepted but not
    /// implemented ones.
    pub fn validate(&self) -> Result<(), FlagsError> {
        match self.registry.as_str() {
            "in_memory" => {}
            "replicated_log" => {
                if self.work_dir.is_none() {
                    return Err(FlagsError::MissingWorkDir);
                }
            }
            other => return Err(FlagsError::Registry(other.to_string())),
        }
        if self.zk.is_some() && self.quorum.is_none() && self.registry == "replicated_log" {
            return Err(FlagsError::MissingQuorum);
        }
        let unimplemented = &self.unimplemented;
        if self.ip.is_some() && unimplemented.ip_discovery_command.is_some() {
            return Err(FlagsError::Exclusive(
                "Only one of `--ip` or `--ip_discovery_command` should be specified",
            ));
        }
        let (contender, detector) = (
            unimplemented.master_contender.is_some(),
            unimplemented.master_detector.is_some(),
        );
        if self.zk.is_none() && contender != detector {
            return Err(FlagsError::Exclusive(
                "Both --master_contender and --master_detector should be specified or omitted.",
            ));
        }
        if self.zk.is_some() && (contender || detector) {
            return Err(FlagsError::Exclusive(
                "Only one of --zk or the --master_contender/--master_detector pair should be specified.",
            ));
        }
        if unimplemented.modules.is_some() && unimplemented.modules_dir.is_some() {
            return Err(FlagsError::Exclusive(
                "Only one of --modules or --modules_dir should be specified",
            ));
        }
        if self.registry_strict {
            return Err(FlagsError::RegistryStrict);
        }
        self.removal_limit()?;
        self.min_allocatable()?;
        self.weights()?;
        Ok(())
    }

    /// `--recovery_agent_removal_limit` as a fraction in `[0, 1]`, checked
    /// as Mesos checks it (a number followed by `%`, within 0-100).
    pub fn removal_limit(&self) -> Result<f64, FlagsError> {
        let value = &self.recovery_agent_removal_limit;
        let invalid = |reason: String| FlagsError::RemovalLimit {
            value: value.clone(),
            reason,
        };
        let number = value
            .strip_suffix('%')
            .ok_or_else(|| invalid("missing '%'".into()))?;
        let percent: f64 = number
            .trim()
            .parse()
            .map_err(|_| invalid(format!("Failed to convert '{number}' to number")))?;
        if !(0.0..=100.0).contains(&percent) {
            return Err(invalid("Must be within [0%-100%]".into()));
        }
        Ok(percent / 100.0)
    }

    /// The registry settings of a leading master.
    pub fn registry_config(&self) -> Result<crate::master::RegistryConfig, FlagsError> {
        Ok(crate::master::RegistryConfig {
            reregister_timeout: self.agent_reregister_timeout,
            removal_limit: self.removal_limit()?,
            gc_interval: self.registry_gc_interval,
            max_agent_age: self.registry_max_agent_age,
            max_agent_count: self.registry_max_agent_count,
        })
    }

    /// Warnings for flags that are accepted but do nothing yet.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings: Vec<String> = self
            .unimplemented
            .given()
            .into_iter()
            .map(|(name, value)| {
                format!("Flag --{name}={value} is accepted for compatibility but not implemented yet; it has no effect")
            })
            .collect();
        if self.zk.is_some() && self.registry == "replicated_log" {
            warnings.push(
                "The replicated log is not used: with --zk the registry is kept in ZooKeeper \
                 under the --zk path (--quorum is checked but has no further effect)"
                    .into(),
            );
        }
        if self.webui_dir.is_some() {
            warnings.push("Flag --webui_dir is not implemented yet: there is no WebUI".into());
        }
        warnings
    }

    /// `--min_allocatable_resources` parsed.
    pub fn min_allocatable(&self) -> Result<Vec<Resources>, FlagsError> {
        crate::allocator::parse_min_allocatable_resources(&self.min_allocatable_resources)
            .map_err(|e| FlagsError::MinAllocatable(e.to_string()))
    }

    /// `--weights` parsed.
    pub fn weights(&self) -> Result<Vec<(String, f64)>, FlagsError> {
        let Some(text) = &self.weights else {
            return Ok(Vec::new());
        };
        text.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|pair| {
                let (role, weight) = pair
                    .split_once('=')
                    .ok_or_else(|| FlagsError::Weights(text.clone()))?;
                let weight: f64 = weight
                    .trim()
                    .parse()
                    .ok()
                    .filter(|w: &f64| *w > 0.0 && w.is_finite())
                    .ok_or_else(|| FlagsError::Weights(text.clone()))?;
                Ok((role.trim().to_string(), weight))
            })
            .collect()
    }
}

/// The core's configuration from the flags, for a master at `pid`.
pub fn master_config(
    flags: &MasterFlags,
    pid: mesos::upid::Upid,
    id: String,
) -> Result<crate::master::MasterConfig, FlagsError> {
    let hostname = match &flags.hostname {
        Some(hostname) => hostname.clone(),
        None if !flags.hostname_lookup => pid.address.ip().to_string(),
        None if pid.address.ip().is_loopback() => "localhost".to_string(),
        None => mesos::process::hostname(),
    };
    let fair_sharing_excluded_resource_names = flags
        .fair_sharing_excluded_resource_names
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    Ok(crate::master::MasterConfig {
        id,
        pid,
        hostname,
        allocation_interval: flags.allocation_interval,
        offer_timeout: flags.offer_timeout,
        agent_ping_timeout: flags.agent_ping_timeout,
        max_agent_ping_timeouts: flags.max_agent_ping_timeouts.max(1),
        max_completed_frameworks: flags.max_completed_frameworks,
        max_completed_tasks_per_framework: flags.max_completed_tasks_per_framework,
        allocator: crate::allocator::AllocatorConfig {
            fair_sharing_excluded_resource_names,
            min_allocatable_resources: flags.min_allocatable()?,
            allocation_interval: flags.allocation_interval,
            filter_gpu_resources: flags.filter_gpu_resources,
            seed: 0,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: Vec<String>) -> Result<Parsed, String> {
        parse_with_env(args, std::iter::empty())
    }

    #[test]
    fn environment_fills_what_the_command_line_leaves() {
        let env = [
            ("MESOS_WORK_DIR".to_string(), "/var/lib/mesos".to_string()),
            ("MESOS_PORT".to_string(), "6060".to_string()),
            ("MESOS_UNKNOWN_THING".to_string(), "x".to_string()),
        ];
        let parsed = parse_with_env(args(&["--port=7070"]), env).unwrap();
        assert_eq!(parsed.flags.work_dir.as_deref(), Some("/var/lib/mesos"));
        assert_eq!(parsed.flags.port, 7070);
    }

    fn args(list: &[&str]) -> Vec<String> {
        std::iter::once("mesos-master")
            .chain(list.iter().copied())
            .map(String::from)
            .collect()
    }

    #[test]
    fn defaults_match_mesos() {
        let parsed = parse(args(&["--work_dir=/tmp/m"])).unwrap();
        let flags = &parsed.flags;
        assert_eq!(flags.port, 5050);
        assert_eq!(flags.allocation_interval, Duration::from_secs(1));
        assert_eq!(flags.agent_ping_timeout, Duration::from_secs(15));
        assert_eq!(flags.max_agent_ping_timeouts, 5);
        assert_eq!(flags.registry, "replicated_log");
        assert!(flags.offer_timeout.is_none());
        flags.validate().unwrap();
        let effective: std::collections::HashMap<_, _> = parsed.effective.into_iter().collect();
        assert_eq!(effective["allocation_interval"], "1secs");
        assert_eq!(effective["work_dir"], "/tmp/m");
    }

    #[test]
    fn aliases_negations_and_unknown_flags() {
        let parsed = parse(args(&[
            "--registry=in_memory",
            "--slave_ping_timeout=3secs",
            "--no-hostname_lookup",
            "--authenticators=crammd5",
        ]))
        .unwrap();
        assert_eq!(parsed.flags.agent_ping_timeout, Duration::from_secs(3));
        assert!(!parsed.flags.hostname_lookup);
        assert!(
            parsed
                .flags
                .warnings()
                .iter()
                .any(|w| w.contains("--authenticators=crammd5"))
        );
        assert!(parse(args(&["--no_such_flag=1"])).is_err());
        assert!(parse(args(&["--allocation_interval=soon"])).is_err());
    }

    #[test]
    fn high_availability_flags() {
        let flags = parse(args(&["--work_dir=/w", "--zk=zk://127.0.0.1:2181/mesos"]))
            .unwrap()
            .flags;
        assert!(matches!(flags.validate(), Err(FlagsError::MissingQuorum)));
        assert_eq!(flags.zk_session_timeout, Duration::from_secs(10));
        assert_eq!(flags.agent_reregister_timeout, Duration::from_secs(600));
        let flags = parse(args(&[
            "--work_dir=/w",
            "--zk=zk://127.0.0.1:2181/mesos",
            "--quorum=2",
            "--zk_session_timeout=4secs",
            "--slave_reregister_timeout=5secs",
        ]))
        .unwrap()
        .flags;
        assert!(flags.validate().is_ok());
        assert_eq!(flags.zk_session_timeout, Duration::from_secs(4));
        assert_eq!(flags.agent_reregister_timeout, Duration::from_secs(5));
        // The in-memory registry needs no quorum, as in Mesos.
        let flags = parse(args(&["--registry=in_memory", "--zk=zk://h:1/m"]))
            .unwrap()
            .flags;
        assert!(flags.validate().is_ok());
    }

    #[test]
    fn registry_flags_as_mesos() {
        let flags = parse(args(&["--registry=in_memory"])).unwrap().flags;
        assert_eq!(flags.registry_fetch_timeout, Duration::from_secs(60));
        assert_eq!(flags.registry_store_timeout, Duration::from_secs(20));
        assert_eq!(flags.registry_gc_interval, Duration::from_secs(900));
        assert_eq!(
            flags.registry_max_agent_age,
            Duration::from_secs(14 * 86400)
        );
        assert_eq!(flags.registry_max_agent_count, 102400);
        assert!(!flags.registry_strict);
        assert_eq!(flags.removal_limit().unwrap(), 1.0);
        assert!(flags.warnings().is_empty());
        let config = flags.registry_config().unwrap();
        assert_eq!(config, crate::master::RegistryConfig::default());

        let flags = parse(args(&[
            "--registry=in_memory",
            "--recovery_slave_removal_limit=25%",
            "--registry_max_agent_count=3",
            "--registry_gc_interval=1secs",
            "--registry_store_timeout=5secs",
            "--no-registry_strict",
        ]))
        .unwrap()
        .flags;
        flags.validate().unwrap();
        assert!(flags.warnings().is_empty(), "{:?}", flags.warnings());
        let config = flags.registry_config().unwrap();
        assert_eq!(config.removal_limit, 0.25);
        assert_eq!(config.max_agent_count, 3);
        assert_eq!(config.gc_interval, Duration::from_secs(1));
        assert_eq!(flags.registry_store_timeout, Duration::from_secs(5));

        for (value, error) in [
            (
                "50",
                "Invalid value '50' for --recovery_agent_removal_percent_limit: missing '%'",
            ),
            (
                "x%",
                "Invalid value 'x%' for --recovery_agent_removal_percent_limit: Failed to convert 'x' to number",
            ),
            (
                "101%",
                "Invalid value '101%' for --recovery_agent_removal_percent_limit: Must be within [0%-100%]",
            ),
        ] {
            let flags = parse(args(&[
                "--registry=in_memory",
                &format!("--recovery_agent_removal_limit={value}"),
            ]))
            .unwrap()
            .flags;
            assert_eq!(flags.validate().unwrap_err().to_string(), error);
        }
        let flags = parse(args(&["--registry=in_memory", "--registry_strict"]))
            .unwrap()
            .flags;
        assert_eq!(
            flags.validate().unwrap_err().to_string(),
            "Support for '--registry_strict' has been disabled and will be removed in a future version of Mesos"
        );
    }

    #[test]
    fn validation_as_mesos() {
        let flags = parse(args(&[])).unwrap().flags;
        assert!(matches!(flags.validate(), Err(FlagsError::MissingWorkDir)));
        let flags = parse(args(&["--registry=in_memory", "--weights=a=2,b=0.5"]))
            .unwrap()
            .flags;
        assert_eq!(
            flags.weights().unwrap(),
            vec![("a".into(), 2.0), ("b".into(), 0.5)]
        );
        let flags = parse(args(&["--registry=in_memory", "--weights=a"]))
            .unwrap()
            .flags;
        assert!(flags.validate().is_err());
    }
}

#[cfg(test)]
#[path = "flags_table_tests.rs"]
mod table_tests;
