//! The command executor (`mesos-executor`): runs one task's `CommandInfo`
//! under the agent's v1 executor API.
//!
//! ```text
//!  subscribe ──> SUBSCRIBED ──> LAUNCH ──> TASK_STARTING, spawn, TASK_RUNNING
//!                                             │
//!        KILL / SHUTDOWN ──> SIGTERM group ──(grace)──> SIGKILL group
//!                                             │
//!            reaped ──> TASK_FINISHED | TASK_FAILED | TASK_KILLED
//!                                             │
//!                  ACKNOWLEDGED(terminal) ──> exit 0
//! ```
//!
//! Every update stays unacknowledged until the agent says ACKNOWLEDGED; a
//! reconnect (checkpointing frameworks only) sends them again in
//! SUBSCRIBE. Without checkpointing, losing the agent kills the task.

pub mod checks;
pub mod client;
pub mod default;
pub mod docker;

use std::collections::BTreeMap;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use mesos::upid::Upid;
use mesos::wire::mesos::v1;
use mesos::wire::mesos::v1::executor::{Call, Event, call, event};
use tokio::time::Instant;

use crate::containerizer::posix::signal_name;
use client::{AgentEndpoint, EventStream};

/// The kill grace period when neither the task nor the kill names one.
pub const DEFAULT_KILL_GRACE_PERIOD: Duration = Duration::from_secs(3);

/// How long to wait for the acknowledgement of the terminal update.
pub(crate) const TERMINAL_ACK_TIMEOUT: Duration = Duration::from_secs(60);

/// How long to keep trying the first subscription.
pub(crate) const FIRST_SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(60);

/// Why the executor cannot start.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvError {
    /// A variable the agent always sets is missing.
    #[error("expecting '{0}' to be set in the environment")]
    Missing(&'static str),
    /// A variable holds something unreadable.
    #[error("invalid value of '{name}': {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// What the agent told the executor through its environment.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutorEnv {
    /// `MESOS_FRAMEWORK_ID`.
    pub framework_id: String,
    /// `MESOS_EXECUTOR_ID`.
    pub executor_id: String,
    /// The sandbox (`MESOS_SANDBOX`, else `MESOS_DIRECTORY`).
    pub sandbox: PathBuf,
    /// The agent's executor API.
    pub agent: AgentEndpointSpec,
    /// `MESOS_CHECKPOINT=1`: reconnect after losing the agent.
    pub checkpoint: bool,
    /// `MESOS_RECOVERY_TIMEOUT`: how long to keep reconnecting.
    pub recovery_timeout: Duration,
    /// `MESOS_SUBSCRIPTION_BACKOFF_MAX`: the longest pause between tries.
    pub subscription_backoff_max: Duration,
    /// `MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD`.
    pub shutdown_grace_period: Duration,
}

/// The agent endpoint as found in the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentEndpointSpec {
    /// `ip:port`.
    pub address: std::net::SocketAddr,
    /// `/<agent id>/api/v1/executor`.
    pub path: String,
}

impl ExecutorEnv {
    /// Reads the environment through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<ExecutorEnv, EnvError> {
        let required = |name: &'static str| lookup(name).ok_or(EnvError::Missing(name));
        let duration_of = |name: &'static str, default: Duration| match lookup(name) {
            None => Ok(default),
            Some(text) => mesos::flags::parse_duration(&text).map_err(|e| EnvError::Invalid {
                name,
                reason: e.to_string(),
            }),
        };
        let framework_id = required("MESOS_FRAMEWORK_ID")?;
        let executor_id = required("MESOS_EXECUTOR_ID")?;
        let sandbox = lookup("MESOS_SANDBOX")
            .or_else(|| lookup("MESOS_DIRECTORY"))
            .map(PathBuf::from)
            .ok_or(EnvError::Missing("MESOS_SANDBOX"))?;
        let agent_pid = lookup("MESOS_SLAVE_PID").and_then(|p| p.parse::<Upid>().ok());
        let address = match lookup("MESOS_AGENT_ENDPOINT") {
            Some(text) => text.parse().map_err(|_| EnvError::Invalid {
                name: "MESOS_AGENT_ENDPOINT",
                reason: format!("'{text}' is not ip:port"),
            })?,
            None => agent_pid
                .as_ref()
                .map(|p| p.address)
                .ok_or(EnvError::Missing("MESOS_AGENT_ENDPOINT"))?,
        };
        let path = match &agent_pid {
            Some(pid) => format!("/{}/api/v1/executor", pid.id),
            None => "/api/v1/executor".to_string(),
        };
        Ok(ExecutorEnv {
            framework_id,
            executor_id,
            sandbox,
            agent: AgentEndpointSpec { address, path },
            checkpoint: lookup("MESOS_CHECKPOINT").as_deref() == Some("1"),
            recovery_timeout: duration_of("MESOS_RECOVERY_TIMEOUT", Duration::from_secs(900))?,
            subscription_backoff_max: duration_of(
                "MESOS_SUBSCRIPTION_BACKOFF_MAX",
                Duration::from_secs(2),
            )?,
            shutdown_grace_period: duration_of(
                "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD",
                Duration::from_secs(5),
            )?,
        })
    }
}

/// The environment of the task: the executor's own, then `MESOS_TASK_ID`
/// and `MESOS_ALLOCATION_ROLE`, then the task's `CommandInfo.environment`.
pub fn task_environment(
    executor_env: impl IntoIterator<Item = (String, String)>,
    task: &v1::TaskInfo,
) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = executor_env.into_iter().collect();
    env.insert("MESOS_TASK_ID".into(), task.task_id.value.clone());
    let role = task
        .resources
        .iter()
        .find_map(|r| r.allocation_info.as_ref().and_then(|a| a.role.clone()));
    if let Some(role) = role {
        env.insert("MESOS_ALLOCATION_ROLE".into(), role);
    }
    if let Some(environment) = task.command.as_ref().and_then(|c| c.environment.as_ref()) {
        for variable in &environment.variables {
            if let Some(value) = &variable.value {
                env.insert(variable.name.clone(), value.clone());
            }
        }
    }
    env
}

/// The process a task's `CommandInfo` asks for: `/bin/sh -c value` for a
/// shell command, else `value` run with `arguments` (the first is `argv[0]`).
pub fn task_command(command: &v1::CommandInfo, value: &str) -> std::process::Command {
    if command.shell() {
        let mut c = std::process::Command::new("/bin/sh");
        c.arg("-c").arg(value);
        c
    } else {
        let mut c = std::process::Command::new(value);
        if let Some((argv0, rest)) = command.arguments.split_first() {
            c.arg0(argv0).args(rest);
        }
        c
    }
}

/// The calls' common head: who is calling.
pub fn executor_call(env: &ExecutorEnv, kind: call::Type) -> Call {
    Call {
        executor_id: v1::ExecutorId {
            value: env.executor_id.clone(),
        },
        framework_id: v1::FrameworkId {
            value: env.framework_id.clone(),
        },
        r#type: Some(kind as i32),
        ..Default::default()
    }
}

/// Whether the framework wants `TASK_KILLING` before `TASK_KILLED`.
pub fn killing_capable(framework: Option<&v1::FrameworkInfo>) -> bool {
    framework.is_some_and(|f| {
        f.capabilities.iter().any(|c| {
            c.r#type == Some(v1::framework_info::capability::Type::TaskKillingState as i32)
        })
    })
}

/// The task's end as the command executor reports it.
pub fn terminal_state(status: std::process::ExitStatus, killed: bool) -> (v1::TaskState, String) {
    let message = if let Some(code) = status.code() {
        format!("Command exited with status {code}")
    } else if let Some(signal) = status.signal() {
        format!("Command terminated with signal {}", signal_name(signal))
    } else {
        format!("Command ended with wait status {}", status.into_raw())
    };
    let state = if killed {
        v1::TaskState::TaskKilled
    } else if status.success() {
        v1::TaskState::TaskFinished
    } else {
        v1::TaskState::TaskFailed
    };
    (state, message)
}

pub(crate) fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

pub(crate) fn grace_of(policy: Option<&v1::KillPolicy>) -> Option<Duration> {
    policy
        .and_then(|p| p.grace_period.as_ref())
        .map(|g| Duration::from_nanos(g.nanoseconds.max(0) as u64))
}

/// The running task.
struct Running {
    child: tokio::process::Child,
    /// The task's process group (its pid).
    pgid: i32,
}

/// The command executor's state.
struct CommandExecutor {
    env: ExecutorEnv,
    endpoint: AgentEndpoint,
    framework_info: Option<v1::FrameworkInfo>,
    task: Option<v1::TaskInfo>,
    /// Whether any update of the task was acknowledged (the agent then
    /// knows the executor has the task).
    task_acknowledged: bool,
    /// Updates sent and not yet acknowledged, in order.
    unacknowledged: Vec<call::Update>,
    running: Option<Running>,
    killed: bool,
    /// When SIGKILL follows the SIGTERM of a kill.
    escalate_at: Option<Instant>,
    /// The terminal update was sent; exit when it is acknowledged.
    terminal_sent: Option<Instant>,
    /// Queue of calls to send, in order, by the sender task.
    outbox: tokio::sync::mpsc::UnboundedSender<Call>,
    /// Set for the Docker executor: the task runs in this container.
    docker: Option<docker::DockerFlags>,
    /// Where the Docker executor's launch steps report back.
    steps: tokio::sync::mpsc::UnboundedSender<docker::Step>,
    /// The `docker run` argv while the image is being made sure of.
    pending_run: Option<Vec<String>>,
    /// Whether TASK_RUNNING was sent.
    running_sent: bool,
    /// The task's health check and general check.
    checks: checks::TaskChecks,
    /// Where the checkers report.
    reports: tokio::sync::mpsc::UnboundedSender<checks::Report>,
    /// The kill came from a failing health check: the terminal update
    /// says `healthy: false`, as Mesos's.
    killed_by_health_check: bool,
    /// The latest status sent: the checkers' updates repeat it.
    last_status: Option<v1::TaskStatus>,
}

impl CommandExecutor {
    fn call(&self, kind: call::Type) -> Call {
        executor_call(&self.env, kind)
    }

    fn subscribe_call(&self) -> Call {
        let mut call = self.call(call::Type::Subscribe);
        let unacknowledged_tasks = match (&self.task, self.task_acknowledged) {
            (Some(task), false) => vec![task.clone()],
            _ => Vec::new(),
        };
        call.subscribe = Some(call::Subscribe {
            unacknowledged_tasks,
            unacknowledged_updates: self.unacknowledged.clone(),
        });
        call
    }

    fn update(&mut self, state: v1::TaskState, message: Option<String>) {
        let Some(task) = &self.task else {
            return;
        };
        let mut status = v1::TaskStatus {
            task_id: task.task_id.clone(),
            state: state as i32,
            message,
            source: Some(v1::task_status::Source::Executor as i32),
            executor_id: Some(v1::ExecutorId {
                value: self.env.executor_id.clone(),
            }),
            timestamp: Some(now_secs()),
            uuid: Some(Bytes::copy_from_slice(uuid::Uuid::new_v4().as_bytes())),
            check_status: checks::TaskChecks::check_type_of(task).map(checks::empty_check_status),
            ..Default::default()
        };
        if self.killed_by_health_check && state == v1::TaskState::TaskKilled {
            status.healthy = Some(false);
        }
        self.forward(status);
    }

    fn forward(&mut self, status: v1::TaskStatus) {
        let state = v1::TaskState::try_from(status.state).unwrap_or(v1::TaskState::TaskUnknown);
        tracing::info!(task_id = %status.task_id.value, "Sending {}", state.as_str_name());
        self.last_status = Some(status.clone());
        let update = call::Update { status };
        self.unacknowledged.push(update.clone());
        let mut call = self.call(call::Type::Update);
        call.update = Some(update);
        let _ = self.outbox.send(call);
    }

    /// Starts the task's checkers in `runtime`.
    fn start_checks(&mut self, runtime: checks::Runtime) {
        if let Some(task) = &self.task {
            self.checks = checks::TaskChecks::start(task, &runtime, &self.reports, Instant::now());
        }
    }

    /// A checker's report: an update when it changed something, a kill
    /// when the health check failed too often. Nothing is sent once the
    /// task is being killed or has ended, as Mesos's executor does.
    fn checked(&mut self, report: checks::Report) {
        if self.killed || self.terminal_sent.is_some() || self.running.is_none() {
            return;
        }
        let Some(applied) = self.checks.apply(&report, Instant::now()) else {
            return;
        };
        let Some(last) = &self.last_status else {
            return;
        };
        let uuid = Bytes::copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        let status = checks::followup_status(last, &applied, now_secs(), uuid);
        self.forward(status);
        if let checks::Applied::Health(change) = applied {
            tracing::info!(
                "Task health: {}",
                if change.healthy {
                    "healthy"
                } else {
                    "not healthy"
                }
            );
            if change.kill {
                self.killed_by_health_check = true;
                let grace = grace_of(self.task.as_ref().and_then(|t| t.kill_policy.as_ref()))
                    .unwrap_or(match &self.docker {
                        Some(flags) => flags.stop_timeout,
                        None => DEFAULT_KILL_GRACE_PERIOD,
                    });
                tracing::info!(
                    "Killing the task: its health check failed {} times",
                    change.consecutive_failures
                );
                self.kill(grace);
            }
        }
    }

    fn launch(&mut self, task: v1::TaskInfo) {
        if self.task.is_some() {
            let kind = if self.docker.is_some() {
                "docker"
            } else {
                "command"
            };
            let message = format!("Attempted to run multiple tasks using a \"{kind}\" executor");
            tracing::error!("{message}");
            let other = self.task.replace(task);
            self.update(v1::TaskState::TaskFailed, Some(message));
            self.task = other;
            return;
        }
        self.task = Some(task.clone());
        self.update(v1::TaskState::TaskStarting, None);
        if let Some(flags) = self.docker.clone() {
            self.launch_container(&flags, &task);
            return;
        }
        let command = task.command.clone().unwrap_or_default();
        let Some(value) = command.value.clone() else {
            self.update(
                v1::TaskState::TaskFailed,
                Some("Task has no command to run".into()),
            );
            self.terminal_sent = Some(Instant::now());
            return;
        };
        let mut process = task_command(&command, &value);
        process
            .current_dir(&self.env.sandbox)
            .env_clear()
            .envs(task_environment(std::env::vars(), &task))
            .stdin(Stdio::null())
            .process_group(0);
        match tokio::process::Command::from(process).spawn() {
            Ok(child) => {
                let pgid = child.id().map_or(0, |p| p as i32);
                tracing::info!("Forked command at {pgid}");
                self.running = Some(Running { child, pgid });
                self.start_checks(checks::Runtime::Plain {
                    sandbox: self.env.sandbox.clone(),
                    environment: task_environment(std::env::vars(), &task),
                });
                self.update(v1::TaskState::TaskRunning, None);
            }
            Err(e) => {
                self.update(
                    v1::TaskState::TaskFailed,
                    Some(format!("Failed to launch command: {e}")),
                );
                self.terminal_sent = Some(Instant::now());
            }
        }
    }

    /// Runs the task in its Docker container: the image pulled if need
    /// be, `docker run` attached, TASK_RUNNING once the engine knows the
    /// container.
    fn launch_container(&mut self, flags: &docker::DockerFlags, task: &v1::TaskInfo) {
        let argv = match docker::run_argv(flags, task) {
            Ok(argv) => argv,
            Err(e) => {
                let message = format!("Failed to create docker run options: {e}");
                tracing::error!("{message}");
                self.update(v1::TaskState::TaskFailed, Some(message));
                self.terminal_sent = Some(Instant::now());
                return;
            }
        };
        // The pull may take long: it runs beside the loop, which keeps
        // taking events (a kill meanwhile ends the launch).
        self.pending_run = Some(argv);
        let steps = self.steps.clone();
        let flags = flags.clone();
        let task = task.clone();
        tokio::spawn(async move {
            let pulled = docker::pull(&flags, &task).await;
            let _ = steps.send(docker::Step::Pulled(pulled));
        });
    }

    /// Carries on a container's launch after one of its steps.
    fn launch_step(&mut self, step: docker::Step) {
        let Some(flags) = self.docker.clone() else {
            return;
        };
        match step {
            docker::Step::Pulled(pulled) => {
                let Some(argv) = self.pending_run.take() else {
                    return;
                };
                if self.killed {
                    self.update(
                        v1::TaskState::TaskKilled,
                        Some("Task was killed before its container started".into()),
                    );
                    self.terminal_sent = Some(Instant::now());
                    return;
                }
                if let Err(e) = pulled {
                    let message = format!("Failed to launch container: {e}");
                    tracing::error!("{message}");
                    self.update(v1::TaskState::TaskFailed, Some(message));
                    self.terminal_sent = Some(Instant::now());
                    return;
                }
                self.run_container(&flags, &argv);
            }
            docker::Step::Created => {
                if self.running.is_some() && !self.running_sent && !self.killed {
                    self.running_sent = true;
                    self.start_checks(checks::Runtime::Docker(flags));
                    self.update(v1::TaskState::TaskRunning, None);
                }
            }
        }
    }

    /// Starts the attached `docker run`.
    fn run_container(&mut self, flags: &docker::DockerFlags, argv: &[String]) {
        tracing::info!("Running '{}'", argv.join(" "));
        let mut process = std::process::Command::new(&argv[0]);
        process
            .args(&argv[1..])
            .current_dir(&self.env.sandbox)
            .stdin(Stdio::null())
            .process_group(0);
        match tokio::process::Command::from(process).spawn() {
            Ok(child) => {
                let pgid = child.id().map_or(0, |p| p as i32);
                self.running = Some(Running { child, pgid });
                let steps = self.steps.clone();
                let flags = flags.clone();
                tokio::spawn(async move {
                    if docker::wait_created(&flags, Duration::from_secs(60)).await {
                        let _ = steps.send(docker::Step::Created);
                    }
                });
            }
            Err(e) => {
                self.update(
                    v1::TaskState::TaskFailed,
                    Some(format!("Failed to run docker container: {e}")),
                );
                self.terminal_sent = Some(Instant::now());
            }
        }
    }

    /// Starts (or shortens) the kill of the task.
    fn kill(&mut self, grace: Duration) {
        let Some(running) = &self.running else {
            return;
        };
        let pgid = running.pgid;
        let now = Instant::now();
        if self.killed {
            // A repeated kill may only shorten the grace period.
            if let Some(at) = self.escalate_at {
                self.escalate_at = Some(at.min(now + grace));
            }
            return;
        }
        self.killed = true;
        self.checks.stop();
        if killing_capable(self.framework_info.as_ref()) {
            self.update(v1::TaskState::TaskKilling, None);
        }
        if let Some(flags) = &self.docker {
            // docker stop escalates by itself; a second late, we kill.
            let timeout = grace.as_secs().to_string();
            let argv = flags.docker_argv(&["stop", "-t", &timeout, &flags.container]);
            tracing::info!("Running '{}'", argv.join(" "));
            let stop = tokio::process::Command::new(&argv[0])
                .args(&argv[1..])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn();
            if let Err(e) = stop {
                tracing::error!("Failed to run docker stop: {e}");
            }
            self.escalate_at = Some(now + grace + Duration::from_secs(1));
            return;
        }
        tracing::info!("Sending SIGTERM to process group {pgid}; SIGKILL in {grace:?}");
        signal_group(pgid, libc::SIGTERM);
        self.escalate_at = Some(now + grace);
    }

    fn handle(&mut self, event: Event) -> Option<i32> {
        let kind = event.r#type.and_then(|t| event::Type::try_from(t).ok());
        tracing::info!(
            "Received {} event",
            kind.map_or("UNKNOWN", |k| k.as_str_name())
        );
        match kind {
            Some(event::Type::Subscribed) => {
                if let Some(subscribed) = event.subscribed {
                    self.framework_info = Some(subscribed.framework_info);
                }
            }
            Some(event::Type::Launch) => {
                if let Some(launch) = event.launch {
                    self.launch(launch.task);
                }
            }
            Some(event::Type::LaunchGroup) => {
                tracing::error!("LAUNCH_GROUP event is not supported by the command executor");
                return self.shutdown();
            }
            Some(event::Type::Kill) => {
                let kill = event.kill.unwrap_or_default();
                let grace = grace_of(kill.kill_policy.as_ref())
                    .or_else(|| grace_of(self.task.as_ref().and_then(|t| t.kill_policy.as_ref())))
                    .unwrap_or(match &self.docker {
                        Some(flags) => flags.stop_timeout,
                        None => DEFAULT_KILL_GRACE_PERIOD,
                    });
                if self.pending_run.is_some() {
                    tracing::info!("Kill received while the container's image is made sure of");
                    self.killed = true;
                    return None;
                }
                if self.running.is_none() && self.terminal_sent.is_none() {
                    tracing::warn!("Kill received before the task was launched; exiting");
                    return Some(0);
                }
                self.kill(grace);
            }
            Some(event::Type::Acknowledged) => {
                let ack = event.acknowledged?;
                let Some(index) = self
                    .unacknowledged
                    .iter()
                    .position(|u| u.status.uuid.as_deref() == Some(&ack.uuid[..]))
                else {
                    tracing::warn!("Received acknowledgement for unknown status update");
                    return None;
                };
                let update = self.unacknowledged.remove(index);
                self.task_acknowledged = true;
                if crate::status_update::is_terminal(update.status.state) {
                    tracing::info!("Terminal update acknowledged; exiting");
                    return Some(0);
                }
            }
            Some(event::Type::Shutdown) => return self.shutdown(),
            Some(event::Type::Error) => {
                let message = event.error.map(|e| e.message).unwrap_or_default();
                tracing::error!("Error event from agent: {message}");
            }
            Some(event::Type::Message | event::Type::Heartbeat) => {}
            Some(event::Type::Unknown) | None => tracing::warn!("Ignoring unknown event"),
        }
        None
    }

    fn shutdown(&mut self) -> Option<i32> {
        if self.running.is_some() {
            let grace = self
                .env
                .shutdown_grace_period
                .saturating_sub(Duration::from_secs(1));
            self.kill(grace);
            None
        } else if self.terminal_sent.is_some() {
            None
        } else {
            Some(0)
        }
    }

    fn reaped(&mut self, status: std::process::ExitStatus) {
        self.running = None;
        self.checks.stop();
        self.escalate_at = None;
        let (state, mut message) = terminal_state(status, self.killed);
        if self.docker.is_some() {
            message = message.replacen("Command", "Container", 1);
        }
        tracing::info!("{message}");
        self.update(state, Some(message));
        self.terminal_sent = Some(Instant::now());
    }

    fn kill_now(&mut self) {
        if let (Some(flags), Some(_)) = (&self.docker, &self.running) {
            let argv = flags.docker_argv(&["kill", &flags.container]);
            tracing::info!("Running '{}'", argv.join(" "));
            let _ = std::process::Command::new(&argv[0])
                .args(&argv[1..])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .status();
        }
        if let Some(running) = &self.running {
            tracing::info!("Sending SIGKILL to process group {}", running.pgid);
            signal_group(running.pgid, libc::SIGKILL);
        }
        self.escalate_at = None;
    }
}

pub(crate) fn signal_group(pgid: i32, signal: i32) {
    if pgid > 0 {
        // SAFETY: killpg has no memory-safety preconditions.
        unsafe {
            libc::killpg(pgid, signal);
        }
    }
}

pub(crate) async fn sender(
    endpoint: AgentEndpoint,
    mut outbox: tokio::sync::mpsc::UnboundedReceiver<Call>,
) {
    while let Some(call) = outbox.recv().await {
        if let Err(e) = endpoint.send(&call).await {
            // Kept as unacknowledged: it goes again with the next SUBSCRIBE.
            tracing::warn!("Failed to send call: {e}");
        }
    }
}

async fn wait_child(running: &mut Option<Running>) -> std::io::Result<std::process::ExitStatus> {
    match running {
        Some(r) => r.child.wait().await,
        None => std::future::pending().await,
    }
}

pub(crate) async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Runs the command executor until its task is done; returns the exit code.
pub async fn run(env: ExecutorEnv) -> i32 {
    run_executor(env, None).await
}

/// Runs the Docker executor until its task is done; returns the exit code.
pub async fn run_docker(env: ExecutorEnv, flags: docker::DockerFlags) -> i32 {
    run_executor(env, Some(flags)).await
}

async fn run_executor(env: ExecutorEnv, docker: Option<docker::DockerFlags>) -> i32 {
    let endpoint = AgentEndpoint {
        address: env.agent.address,
        path: env.agent.path.clone(),
    };
    let (outbox, outbox_rx) = tokio::sync::mpsc::unbounded_channel();
    let (steps, mut steps_rx) = tokio::sync::mpsc::unbounded_channel();
    let (reports, mut reports_rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(sender(endpoint.clone(), outbox_rx));
    let mut executor = CommandExecutor {
        env,
        endpoint,
        framework_info: None,
        task: None,
        task_acknowledged: false,
        unacknowledged: Vec::new(),
        running: None,
        killed: false,
        escalate_at: None,
        terminal_sent: None,
        outbox,
        docker,
        steps,
        pending_run: None,
        running_sent: false,
        checks: checks::TaskChecks::default(),
        reports,
        killed_by_health_check: false,
        last_status: None,
    };

    let started = Instant::now();
    let mut stream: Option<EventStream> = None;
    let mut ever_subscribed = false;
    let mut disconnected_at: Option<Instant> = None;
    let mut reconnect_at: Option<Instant> = Some(Instant::now());
    let mut backoff = Duration::from_millis(100);

    loop {
        let terminal_deadline = executor.terminal_sent.map(|t| t + TERMINAL_ACK_TIMEOUT);
        tokio::select! {
            event = async {
                match stream.as_mut() {
                    Some(s) => s.next().await,
                    None => std::future::pending().await,
                }
            } => {
                match event {
                    Some(Ok(event)) => {
                        if let Some(code) = executor.handle(event) {
                            executor.kill_now();
                            return code;
                        }
                    }
                    Some(Err(e)) => {
                        tracing::warn!("Event stream failed: {e}");
                        stream = None;
                    }
                    None => {
                        tracing::warn!("Agent closed the event stream");
                        stream = None;
                    }
                }
                if stream.is_none() {
                    if !executor.env.checkpoint {
                        tracing::info!("Disconnected from agent; shutting down");
                        if let Some(code) = executor.shutdown() {
                            return code;
                        }
                        if executor.terminal_sent.is_some() && executor.running.is_none() {
                            return 1;
                        }
                    } else {
                        disconnected_at = Some(Instant::now());
                        reconnect_at = Some(Instant::now() + backoff);
                    }
                }
            }
            Some(step) = steps_rx.recv() => executor.launch_step(step),
            Some(report) = reports_rx.recv() => executor.checked(report),
            status = wait_child(&mut executor.running) => {
                match status {
                    Ok(status) => {
                        if let Some(flags) = executor.docker.clone() {
                            // A container quicker than the inspect loop
                            // still ran: TASK_RUNNING before its end, as
                            // Mesos reports it.
                            if !executor.running_sent && !executor.killed && docker::exists(&flags).await {
                                executor.running_sent = true;
                                executor.update(v1::TaskState::TaskRunning, None);
                            }
                        }
                        executor.reaped(status)
                    }
                    Err(e) => {
                        tracing::error!("Failed to reap the task: {e}");
                        executor.running = None;
                        executor.update(
                            v1::TaskState::TaskFailed,
                            Some(format!("Failed to get exit status for Command: {e}")),
                        );
                        executor.terminal_sent = Some(Instant::now());
                    }
                }
                if stream.is_none() && !executor.env.checkpoint && ever_subscribed {
                    // Nobody left to acknowledge the terminal update.
                    return 1;
                }
            }
            () = sleep_until_opt(executor.escalate_at) => executor.kill_now(),
            () = sleep_until_opt(terminal_deadline) => {
                tracing::error!("Did not receive ACK for the terminal status update from the agent");
                return 1;
            }
            () = sleep_until_opt(reconnect_at) => {
                reconnect_at = None;
                match executor.endpoint.subscribe(&executor.subscribe_call()).await {
                    Ok(s) => {
                        tracing::info!("Subscribed to agent at {}", executor.env.agent.address);
                        stream = Some(s);
                        ever_subscribed = true;
                        disconnected_at = None;
                        backoff = Duration::from_millis(100);
                    }
                    Err(e) => {
                        tracing::warn!("Failed to subscribe: {e}");
                        let now = Instant::now();
                        let (since, limit) = match disconnected_at {
                            Some(at) => (at, executor.env.recovery_timeout),
                            None => (started, FIRST_SUBSCRIBE_TIMEOUT),
                        };
                        if now.duration_since(since) > limit {
                            tracing::error!("Could not reach the agent within {limit:?}; shutting down");
                            executor.kill_now();
                            return 1;
                        }
                        let cap = executor.env.subscription_backoff_max.max(Duration::from_millis(100));
                        backoff = (backoff * 2).min(cap);
                        reconnect_at = Some(now + backoff);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn reads_the_agent_environment() {
        let env = ExecutorEnv::from_lookup(lookup(&[
            ("MESOS_FRAMEWORK_ID", "F1"),
            ("MESOS_EXECUTOR_ID", "E1"),
            ("MESOS_SANDBOX", "/sandbox"),
            ("MESOS_SLAVE_PID", "slave(2)@127.0.0.1:5051"),
            ("MESOS_AGENT_ENDPOINT", "127.0.0.1:5051"),
            ("MESOS_CHECKPOINT", "1"),
            ("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "7secs"),
        ]))
        .unwrap();
        assert_eq!(env.framework_id, "F1");
        assert_eq!(env.agent.path, "/slave(2)/api/v1/executor");
        assert_eq!(env.agent.address.port(), 5051);
        assert!(env.checkpoint);
        assert_eq!(env.shutdown_grace_period, Duration::from_secs(7));
        assert_eq!(env.sandbox, PathBuf::from("/sandbox"));
    }

    #[test]
    fn missing_or_bad_variables_are_errors() {
        assert_eq!(
            ExecutorEnv::from_lookup(lookup(&[])),
            Err(EnvError::Missing("MESOS_FRAMEWORK_ID"))
        );
        let bad = ExecutorEnv::from_lookup(lookup(&[
            ("MESOS_FRAMEWORK_ID", "F"),
            ("MESOS_EXECUTOR_ID", "E"),
            ("MESOS_DIRECTORY", "/d"),
            ("MESOS_AGENT_ENDPOINT", "nope"),
        ]));
        assert!(matches!(bad, Err(EnvError::Invalid { .. })));
    }

    #[test]
    fn task_environment_layers() {
        let task = v1::TaskInfo {
            task_id: v1::TaskId { value: "t1".into() },
            command: Some(v1::CommandInfo {
                environment: Some(v1::Environment {
                    variables: vec![v1::environment::Variable {
                        name: "HOME".into(),
                        value: Some("/task".into()),
                        ..Default::default()
                    }],
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let env = task_environment(
            [
                ("HOME".to_string(), "/x".to_string()),
                ("MESOS_SANDBOX".to_string(), "/s".to_string()),
            ],
            &task,
        );
        assert_eq!(env["HOME"], "/task");
        assert_eq!(env["MESOS_SANDBOX"], "/s");
        assert_eq!(env["MESOS_TASK_ID"], "t1");
    }

    #[test]
    fn terminal_states_and_messages() {
        use std::process::ExitStatus;
        let exited = |code: i32| ExitStatus::from_raw(code << 8);
        assert_eq!(
            terminal_state(exited(0), false),
            (
                v1::TaskState::TaskFinished,
                "Command exited with status 0".to_string()
            )
        );
        assert_eq!(
            terminal_state(exited(3), false),
            (
                v1::TaskState::TaskFailed,
                "Command exited with status 3".to_string()
            )
        );
        assert_eq!(
            terminal_state(ExitStatus::from_raw(libc::SIGTERM), true),
            (
                v1::TaskState::TaskKilled,
                "Command terminated with signal Terminated".to_string()
            )
        );
    }
}
