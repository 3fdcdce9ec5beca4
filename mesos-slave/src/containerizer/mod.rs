//! Launching executors: the posix containerizer.
//!
//! An executor runs as a child of the agent in its own process group (so
//! the whole tree can be signalled), with its working directory in the
//! sandbox and its stdout/stderr appended to `stdout`/`stderr` there. Its
//! environment is the agent's own (or `--executor_environment_variables`)
//! plus what Mesos sets for executors ([`executor_environment`]) plus the
//! `ExecutorInfo`'s own `CommandInfo.environment`.
//!
//! - [`isolation`]: `--isolation` by Mesos's isolator names.
//! - [`cgroups`]: the `cgroups/*` isolators (v1 and v2).
//! - [`containers`]: the containerizer the agent runtime drives: sandbox,
//!   cgroups, launch, limitation watch, destroy.
//! - [`posix`]: the executor process itself.

pub mod cgroups;
pub mod containers;
pub mod docker;
pub mod isolation;
pub mod posix;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mesos::upid::Upid;
use mesos::wire::mesos as v0;

pub use posix::{Container, ContainerExit};

/// What a container may use: the executor's resources plus its tasks',
/// with the tasks' `limits` (Mesos 1.11 `computeExecutorLimits`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ContainerLimits {
    /// The cpus requested.
    pub cpus: Option<f64>,
    /// The cpus limit (CFS quota), possibly infinite.
    pub cpus_limit: Option<f64>,
    /// The memory requested, in MB.
    pub mem: Option<f64>,
    /// The memory limit in MB, possibly infinite.
    pub mem_limit: Option<f64>,
}

impl ContainerLimits {
    /// The limits of an executor with `executor` resources running tasks
    /// with the given resources and `limits` maps. A task without a limit
    /// counts its request into the container's limit; without
    /// `--cgroups_enable_cfs` such a task removes the cpus limit (it must
    /// not be throttled by its neighbours' limits).
    pub fn compute<'a>(
        executor: &[v0::Resource],
        tasks: impl IntoIterator<
            Item = (
                &'a [v0::Resource],
                &'a std::collections::HashMap<String, v0::value::Scalar>,
            ),
        >,
        enable_cfs: bool,
    ) -> ContainerLimits {
        let scalar = |resources: &[v0::Resource], name: &str| -> Option<f64> {
            let values: Vec<f64> = resources
                .iter()
                .filter(|r| r.name == name)
                .filter_map(|r| r.scalar.as_ref().map(|s| s.value))
                .collect();
            (!values.is_empty()).then(|| values.iter().sum())
        };
        let add = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
        };
        let mut limits = ContainerLimits {
            cpus: scalar(executor, "cpus"),
            mem: scalar(executor, "mem"),
            ..ContainerLimits::default()
        };
        let (mut cpu_unlimited, mut mem_unlimited) = (0.0, 0.0);
        for (resources, task_limits) in tasks {
            let cpus = scalar(resources, "cpus");
            let mem = scalar(resources, "mem");
            limits.cpus = add(limits.cpus, cpus);
            limits.mem = add(limits.mem, mem);
            match task_limits.get("cpus") {
                Some(limit) => limits.cpus_limit = add(limits.cpus_limit, Some(limit.value)),
                None => cpu_unlimited += cpus.unwrap_or(0.0),
            }
            match task_limits.get("mem") {
                Some(limit) => limits.mem_limit = add(limits.mem_limit, Some(limit.value)),
                None => mem_unlimited += mem.unwrap_or(0.0),
            }
        }
        if limits.cpus_limit.is_some() {
            limits.cpus_limit = add(limits.cpus_limit, scalar(executor, "cpus"));
            if cpu_unlimited > 0.0 {
                limits.cpus_limit = if enable_cfs {
                    add(limits.cpus_limit, Some(cpu_unlimited))
                } else {
                    None
                };
            }
        }
        if limits.mem_limit.is_some() {
            limits.mem_limit = add(limits.mem_limit, scalar(executor, "mem"));
            limits.mem_limit = add(limits.mem_limit, Some(mem_unlimited));
        }
        limits
    }
}

/// Everything needed to start one executor.
#[derive(Debug, Clone, PartialEq)]
pub struct LaunchSpec {
    /// The container (run) id; also names the sandbox directory.
    pub container_id: String,
    /// The framework the executor belongs to.
    pub framework_id: String,
    /// The executor.
    pub executor_id: String,
    /// What the container may use.
    pub limits: ContainerLimits,
    /// The sandbox: working directory and home of `stdout`/`stderr`.
    pub sandbox: PathBuf,
    /// The program to run, from `ExecutorInfo.command`.
    pub command: v0::CommandInfo,
    /// The complete environment of the executor.
    pub environment: BTreeMap<String, String>,
}

/// Inputs of [`executor_environment`], named as Mesos names them.
#[derive(Debug, Clone)]
pub struct ExecutorEnvironment<'a> {
    /// The executor being launched.
    pub executor: &'a v0::ExecutorInfo,
    /// Its sandbox on the host.
    pub directory: &'a Path,
    /// This agent's id.
    pub agent_id: &'a str,
    /// This agent's UPID (the executor API lives at its address).
    pub agent_pid: &'a Upid,
    /// Whether the framework checkpoints.
    pub checkpoint: bool,
    /// The agent's `--executor_shutdown_grace_period`.
    pub shutdown_grace_period: Duration,
    /// How long a checkpointing executor waits for the agent to come back.
    pub recovery_timeout: Duration,
    /// The longest backoff between a checkpointing executor's reconnects.
    pub subscription_backoff_max: Duration,
}

/// The `MESOS_*` variables the agent gives every executor (Mesos 1.11
/// `executorEnvironment`).
pub fn executor_environment(input: &ExecutorEnvironment<'_>) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    let mut set = |k: &str, v: String| {
        env.insert(k.to_string(), v);
    };
    // Executors that use libprocess must not take the agent's port.
    set("LIBPROCESS_PORT", "0".into());
    set(
        "MESOS_FRAMEWORK_ID",
        input
            .executor
            .framework_id
            .as_ref()
            .map(|f| f.value.clone())
            .unwrap_or_default(),
    );
    set(
        "MESOS_EXECUTOR_ID",
        input.executor.executor_id.value.clone(),
    );
    set("MESOS_DIRECTORY", input.directory.display().to_string());
    set("MESOS_SANDBOX", input.directory.display().to_string());
    set("MESOS_SLAVE_ID", input.agent_id.to_string());
    set("MESOS_SLAVE_PID", input.agent_pid.to_string());
    set("MESOS_AGENT_ENDPOINT", input.agent_pid.address.to_string());
    set(
        "MESOS_CHECKPOINT",
        if input.checkpoint { "1" } else { "0" }.into(),
    );
    // The command executor here speaks only the v1 HTTP API.
    set("MESOS_HTTP_COMMAND_EXECUTOR", "1".into());
    let grace = input
        .executor
        .shutdown_grace_period
        .as_ref()
        .map(|d| Duration::from_nanos(d.nanoseconds.max(0) as u64))
        .unwrap_or(input.shutdown_grace_period);
    set(
        "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD",
        mesos::flags::format_duration(grace),
    );
    if input.checkpoint {
        set(
            "MESOS_RECOVERY_TIMEOUT",
            mesos::flags::format_duration(input.recovery_timeout),
        );
        set(
            "MESOS_SUBSCRIPTION_BACKOFF_MAX",
            mesos::flags::format_duration(input.subscription_backoff_max),
        );
    }
    env
}

/// The full environment of an executor: the agent's `LIBPROCESS_IP`
/// (`libprocess_ip`, else the agent's own variable), so that libprocess
/// executors listen where the agent reaches them; then the base (the
/// agent's environment without its own `MESOS_*` and `LIBPROCESS_*`
/// variables, or the configured variables, which may set another
/// `LIBPROCESS_IP`); then the agent's variables; then the executor's
/// `CommandInfo.environment`.
pub fn full_environment(
    libprocess_ip: Option<std::net::IpAddr>,
    base: Option<&BTreeMap<String, String>>,
    agent_vars: BTreeMap<String, String>,
    command: &v0::CommandInfo,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    let ip = libprocess_ip
        .map(|ip| ip.to_string())
        .or_else(|| std::env::var("LIBPROCESS_IP").ok());
    if let Some(ip) = ip {
        env.insert("LIBPROCESS_IP".to_string(), ip);
    }
    match base {
        Some(vars) => env.extend(vars.clone()),
        None => env.extend(
            std::env::vars()
                .filter(|(k, _)| !k.starts_with("MESOS_") && !k.starts_with("LIBPROCESS_")),
        ),
    }
    env.extend(agent_vars);
    if let Some(environment) = &command.environment {
        for variable in &environment.variables {
            if let Some(value) = &variable.value {
                env.insert(variable.name.clone(), value.clone());
            }
        }
    }
    env
}

/// How the agent runs the default executor (`ExecutorInfo.type` DEFAULT,
/// which brings no command): `mesos-default-executor` from the launcher
/// directory.
pub fn default_executor_command(launcher_dir: &Path) -> v0::CommandInfo {
    v0::CommandInfo {
        shell: Some(false),
        value: Some(
            launcher_dir
                .join("mesos-default-executor")
                .display()
                .to_string(),
        ),
        arguments: vec![
            "mesos-default-executor".into(),
            format!("--launcher_dir={}", launcher_dir.display()),
        ],
        ..Default::default()
    }
}

/// The `ExecutorInfo` the agent makes for a task without one: the command
/// executor, id and source equal to the task id, with a small resource
/// allowance (0.1 cpus, 32 MB), as Mesos does.
pub fn command_executor_info(
    framework: &v0::FrameworkInfo,
    task: &v0::TaskInfo,
    launcher_dir: &Path,
) -> v0::ExecutorInfo {
    let command = task.command.clone().unwrap_or_default();
    let shown = if command.shell() {
        match &command.value {
            None => "(Command: NO COMMAND)".to_string(),
            Some(value) if value.chars().count() > 15 => {
                format!(
                    "(Command: sh -c '{}...')",
                    value.chars().take(12).collect::<String>()
                )
            }
            Some(value) => format!("(Command: sh -c '{value}')"),
        }
    } else {
        match &command.value {
            None => "(Command: NO EXECUTABLE)".to_string(),
            Some(value) => {
                let mut args = value.clone();
                for a in &command.arguments {
                    args.push_str(", ");
                    args.push_str(a);
                }
                if args.chars().count() > 15 {
                    format!(
                        "(Command: [{}...])",
                        args.chars().take(12).collect::<String>()
                    )
                } else {
                    format!("(Command: [{args}])")
                }
            }
        }
    };
    let executor_path = launcher_dir.join("mesos-executor");
    let mut overhead = mesos::resources::Resources::parse("cpus:0.1;mem:32").unwrap_or_default();
    let role = task
        .resources
        .iter()
        .find_map(|r| r.allocation_info.as_ref().and_then(|a| a.role.clone()));
    if let Some(role) = role {
        overhead.allocate(&role);
    }
    let shutdown_grace_period = task
        .kill_policy
        .as_ref()
        .and_then(|k| k.grace_period.as_ref())
        .map(|g| v0::DurationInfo {
            // Room for the executor to report TASK_KILLED after escalating.
            nanoseconds: g.nanoseconds.saturating_add(2_000_000_000),
        });
    #[allow(deprecated)]
    v0::ExecutorInfo {
        executor_id: v0::ExecutorId {
            value: task.task_id.value.clone(),
        },
        framework_id: framework.id.clone(),
        name: Some(format!(
            "Command Executor (Task: {}) {shown}",
            task.task_id.value
        )),
        source: Some(task.task_id.value.clone()),
        command: Some(v0::CommandInfo {
            uris: command.uris.clone(),
            environment: command.environment.clone(),
            shell: Some(false),
            value: Some(executor_path.display().to_string()),
            arguments: vec![
                "mesos-executor".into(),
                format!("--launcher_dir={}", launcher_dir.display()),
            ],
            user: command.user.clone(),
        }),
        container: task.container.clone(),
        resources: overhead.to_wire(),
        labels: task.labels.clone(),
        discovery: task.discovery.clone(),
        shutdown_grace_period,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(command: &str) -> v0::TaskInfo {
        v0::TaskInfo {
            name: "t".into(),
            task_id: v0::TaskId {
                value: "task-1".into(),
            },
            slave_id: v0::SlaveId { value: "S0".into() },
            command: Some(v0::CommandInfo {
                value: Some(command.into()),
                environment: Some(v0::Environment {
                    variables: vec![v0::environment::Variable {
                        name: "FOO".into(),
                        value: Some("bar".into()),
                        ..Default::default()
                    }],
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn framework() -> v0::FrameworkInfo {
        v0::FrameworkInfo {
            user: "u".into(),
            name: "f".into(),
            id: Some(v0::FrameworkId { value: "F1".into() }),
            ..Default::default()
        }
    }

    #[test]
    fn synthesizes_the_command_executor() {
        let info = command_executor_info(
            &framework(),
            &task("echo hello"),
            Path::new("/usr/libexec/mesos"),
        );
        assert_eq!(info.executor_id.value, "task-1");
        assert_eq!(info.framework_id.as_ref().unwrap().value, "F1");
        assert_eq!(
            info.name.as_deref(),
            Some("Command Executor (Task: task-1) (Command: sh -c 'echo hello')")
        );
        let command = info.command.as_ref().unwrap();
        assert_eq!(
            command.value.as_deref(),
            Some("/usr/libexec/mesos/mesos-executor")
        );
        assert!(!command.shell());
        assert_eq!(
            command.environment.as_ref().unwrap().variables[0].name,
            "FOO"
        );
        let resources = mesos::resources::Resources::from_wire(&info.resources).unwrap();
        assert_eq!(resources.cpus(), Some(0.1));
        assert_eq!(resources.mem(), Some(32.0));

        let long = command_executor_info(
            &framework(),
            &task("sleep 1000 && echo done"),
            Path::new("/x"),
        );
        assert_eq!(
            long.name.as_deref(),
            Some("Command Executor (Task: task-1) (Command: sh -c 'sleep 1000 &...')")
        );
    }

    #[test]
    fn executor_environment_as_mesos_sets_it() {
        let info = command_executor_info(&framework(), &task("true"), Path::new("/x"));
        let pid: Upid = "slave(1)@10.0.0.1:5051".parse().unwrap();
        let env = executor_environment(&ExecutorEnvironment {
            executor: &info,
            directory: Path::new("/w/sandbox"),
            agent_id: "S0",
            agent_pid: &pid,
            checkpoint: false,
            shutdown_grace_period: Duration::from_secs(5),
            recovery_timeout: Duration::from_secs(900),
            subscription_backoff_max: Duration::from_secs(2),
        });
        assert_eq!(env["MESOS_FRAMEWORK_ID"], "F1");
        assert_eq!(env["MESOS_EXECUTOR_ID"], "task-1");
        assert_eq!(env["MESOS_DIRECTORY"], "/w/sandbox");
        assert_eq!(env["MESOS_SANDBOX"], "/w/sandbox");
        assert_eq!(env["MESOS_SLAVE_ID"], "S0");
        assert_eq!(env["MESOS_SLAVE_PID"], "slave(1)@10.0.0.1:5051");
        assert_eq!(env["MESOS_AGENT_ENDPOINT"], "10.0.0.1:5051");
        assert_eq!(env["MESOS_CHECKPOINT"], "0");
        assert_eq!(env["MESOS_HTTP_COMMAND_EXECUTOR"], "1");
        assert_eq!(env["MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"], "5secs");
        assert_eq!(env["LIBPROCESS_PORT"], "0");
        assert!(!env.contains_key("MESOS_RECOVERY_TIMEOUT"));

        let full = full_environment(
            Some("10.0.0.1".parse().unwrap()),
            Some(&BTreeMap::from([("PATH".to_string(), "/bin".to_string())])),
            env.clone(),
            info.command.as_ref().unwrap(),
        );
        assert_eq!(full["PATH"], "/bin");
        assert_eq!(full["LIBPROCESS_IP"], "10.0.0.1");
        // Configured variables may name another address.
        let own_ip = full_environment(
            Some("10.0.0.1".parse().unwrap()),
            Some(&BTreeMap::from([(
                "LIBPROCESS_IP".to_string(),
                "10.0.0.2".to_string(),
            )])),
            env,
            info.command.as_ref().unwrap(),
        );
        assert_eq!(own_ip["LIBPROCESS_IP"], "10.0.0.2");
        assert_eq!(own_ip["LIBPROCESS_PORT"], "0");
        assert_eq!(full["FOO"], "bar");
        assert_eq!(full["MESOS_SLAVE_ID"], "S0");
    }

    #[test]
    fn checkpointing_executors_learn_how_long_to_wait_for_the_agent() {
        let mut info = command_executor_info(&framework(), &task("true"), Path::new("/x"));
        info.shutdown_grace_period = Some(v0::DurationInfo {
            nanoseconds: 30_000_000_000,
        });
        let pid: Upid = "slave(1)@10.0.0.1:5051".parse().unwrap();
        let env = executor_environment(&ExecutorEnvironment {
            executor: &info,
            directory: Path::new("/w/sandbox"),
            agent_id: "S0",
            agent_pid: &pid,
            checkpoint: true,
            shutdown_grace_period: Duration::from_secs(5),
            recovery_timeout: Duration::from_secs(900),
            subscription_backoff_max: Duration::from_secs(2),
        });
        assert_eq!(env["MESOS_CHECKPOINT"], "1");
        assert_eq!(env["MESOS_RECOVERY_TIMEOUT"], "15mins");
        assert_eq!(env["MESOS_SUBSCRIPTION_BACKOFF_MAX"], "2secs");
        // The executor's own grace period wins over the agent's flag.
        assert_eq!(env["MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"], "30secs");
    }

    #[test]
    fn kill_policy_extends_the_shutdown_grace_period() {
        let mut t = task("true");
        t.kill_policy = Some(v0::KillPolicy {
            grace_period: Some(v0::DurationInfo {
                nanoseconds: 10_000_000_000,
            }),
        });
        let info = command_executor_info(&framework(), &t, Path::new("/x"));
        assert_eq!(
            info.shutdown_grace_period.unwrap().nanoseconds,
            12_000_000_000
        );
    }
}
