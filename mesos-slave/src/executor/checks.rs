//! Health checks (`TaskInfo.health_check`) and general checks
//! (`TaskInfo.check`) of a task, run by the executors as Mesos 1.11 runs
//! them.
//!
//! Three parts:
//! - the probes: a COMMAND run in the task's environment and sandbox (for
//!   the Docker executor through `docker exec`), an HTTP `GET` of
//!   `<scheme>://127.0.0.1:<port><path>` and a TCP connect to
//!   `127.0.0.1:<port>` (for the Docker executor inside the container's
//!   network namespace); each gives a `CheckStatusInfo` or an error;
//! - [`spawn`]: a tokio task that waits `delay_seconds`, then probes every
//!   `interval_seconds`, each probe cut off after `timeout_seconds`, and
//!   reports every outcome on a channel; dropping its [`Checker`] stops it;
//! - the pure bookkeeping the executor applies to the outcomes, with time
//!   as an argument: [`HealthTracker`] (grace period, consecutive
//!   failures, when to kill) and [`CheckTracker`] (report a check status
//!   when it changes).
//!
//! ```text
//!              failure within grace period, never healthy yet: ignored
//!                 ┌──┐
//!                 │  ▼
//!  launched ──> initializing ──success──> healthy=true update
//!                 │                          │
//!                 └──failure──> healthy=false update (n consecutive)
//!                                  │ n >= consecutive_failures: kill the task
//!                                  └──success──> healthy=true update, n = 0
//! ```

use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use mesos::wire::mesos::v1;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::docker::DockerFlags;

/// Mesos's default `delay_seconds` of checks and health checks.
pub const DEFAULT_DELAY: Duration = Duration::from_secs(15);
/// Mesos's default `interval_seconds`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
/// Mesos's default `timeout_seconds`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);
/// Mesos's default `HealthCheck.consecutive_failures`.
pub const DEFAULT_CONSECUTIVE_FAILURES: u32 = 3;
/// Mesos's default `HealthCheck.grace_period_seconds`.
pub const DEFAULT_GRACE_PERIOD: Duration = Duration::from_secs(10);

/// Where the network probes connect (Mesos's IPv4 default domain).
const LOCALHOST: std::net::Ipv4Addr = std::net::Ipv4Addr::LOCALHOST;
/// Where the IPv6 network probes connect.
const LOCALHOST_V6: std::net::Ipv6Addr = std::net::Ipv6Addr::LOCALHOST;

/// What one probe does.
#[derive(Debug, Clone, PartialEq)]
pub enum Probe {
    /// Runs a command; healthy when it exits 0.
    Command(v1::CommandInfo),
    /// `GET <scheme>://<localhost>:<port><path>`; healthy on 200..399.
    Http {
        /// `http` or `https`.
        scheme: String,
        /// The port in the task's network.
        port: u16,
        /// Starts with `/`.
        path: String,
        /// Connect to `::1` rather than `127.0.0.1`.
        ipv6: bool,
    },
    /// Connects to `<localhost>:<port>`; healthy when it connects.
    Tcp {
        /// The port in the task's network.
        port: u16,
        /// Connect to `::1` rather than `127.0.0.1`.
        ipv6: bool,
    },
}

impl Probe {
    /// The `CheckInfo.Type` of the probe's results.
    pub fn check_type(&self) -> v1::check_info::Type {
        match self {
            Probe::Command(_) => v1::check_info::Type::Command,
            Probe::Http { .. } => v1::check_info::Type::Http,
            Probe::Tcp { .. } => v1::check_info::Type::Tcp,
        }
    }

    /// The name Mesos logs the probe under (`COMMAND health check`).
    fn kind(&self) -> &'static str {
        match self {
            Probe::Command(_) => "COMMAND",
            Probe::Http { .. } => "HTTP",
            Probe::Tcp { .. } => "TCP",
        }
    }
}

/// When a probe runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    /// From the checker's start to the first probe.
    pub delay: Duration,
    /// From the end of one probe to the start of the next.
    pub interval: Duration,
    /// How long one probe may take; `None` (a timeout of 0) is unlimited.
    pub timeout: Option<Duration>,
}

/// A task's health check, read from its `HealthCheck`.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthCheckSpec {
    /// What to run.
    pub probe: Probe,
    /// When.
    pub schedule: Schedule,
    /// How the outcomes count.
    pub policy: HealthPolicy,
}

/// How health check outcomes turn into health.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HealthPolicy {
    /// Failures in a row that kill the task.
    pub consecutive_failures: u32,
    /// From the start, failures before the first success are ignored
    /// for this long (zero: never ignored).
    pub grace_period: Duration,
}

/// A task's general check, read from its `CheckInfo`.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckSpec {
    /// What to run.
    pub probe: Probe,
    /// When.
    pub schedule: Schedule,
}

/// Seconds from a proto double; negative and unreadable values (which
/// the master refuses) count as zero.
fn seconds(value: Option<f64>, default: Duration) -> Duration {
    match value {
        None => default,
        Some(s) => Duration::try_from_secs_f64(s).unwrap_or(Duration::ZERO),
    }
}

fn schedule(delay: Option<f64>, interval: Option<f64>, timeout: Option<f64>) -> Schedule {
    let timeout = seconds(timeout, DEFAULT_TIMEOUT);
    Schedule {
        delay: seconds(delay, DEFAULT_DELAY),
        interval: seconds(interval, DEFAULT_INTERVAL),
        timeout: (!timeout.is_zero()).then_some(timeout),
    }
}

fn port(port: u32) -> Result<u16, String> {
    u16::try_from(port).map_err(|_| format!("Port {port} is out of range"))
}

fn ipv6(protocol: Option<i32>) -> bool {
    protocol == Some(v1::network_info::Protocol::IPv6 as i32)
}

fn command_probe(command: Option<&v1::CommandInfo>, what: &str) -> Result<Probe, String> {
    let command = command.ok_or(format!("Expecting 'command' to be set for COMMAND {what}"))?;
    if command.value.is_none() {
        let kind = if command.shell() {
            "'shell command'"
        } else {
            "'executable path'"
        };
        return Err(format!("Command {what} must contain {kind}"));
    }
    Ok(Probe::Command(command.clone()))
}

fn http_path(path: Option<&str>, what: &str) -> Result<String, String> {
    let path = path.unwrap_or("");
    if !path.is_empty() && !path.starts_with('/') {
        return Err(format!(
            "The path '{path}' of HTTP {what} must start with '/'"
        ));
    }
    Ok(path.to_string())
}

impl HealthCheckSpec {
    /// Reads a task's `HealthCheck`, refusing what Mesos's validation
    /// refuses. A check without `type` is typed from its `command` or
    /// `http` field, as Mesos's master does for older frameworks.
    pub fn from_proto(check: &v1::HealthCheck) -> Result<HealthCheckSpec, String> {
        use v1::health_check::Type;
        let kind = match check.r#type.map(Type::try_from) {
            Some(Ok(kind)) => kind,
            Some(Err(_)) => Type::Unknown,
            None => match (&check.command, &check.http) {
                (Some(_), None) => Type::Command,
                (None, Some(_)) => Type::Http,
                _ => return Err("HealthCheck must specify 'type'".into()),
            },
        };
        let probe = match kind {
            Type::Command => command_probe(check.command.as_ref(), "health check")?,
            Type::Http => {
                let http = check
                    .http
                    .as_ref()
                    .ok_or("Expecting 'http' to be set for HTTP health check")?;
                let scheme = http.scheme.clone().unwrap_or_else(|| "http".into());
                if scheme != "http" && scheme != "https" {
                    return Err(format!("Unsupported HTTP health check scheme: '{scheme}'"));
                }
                Probe::Http {
                    scheme,
                    port: port(http.port)?,
                    path: http_path(http.path.as_deref(), "health check")?,
                    ipv6: ipv6(http.protocol),
                }
            }
            Type::Tcp => {
                let tcp = check
                    .tcp
                    .as_ref()
                    .ok_or("Expecting 'tcp' to be set for TCP health check")?;
                Probe::Tcp {
                    port: port(tcp.port)?,
                    ipv6: ipv6(tcp.protocol),
                }
            }
            Type::Unknown => return Err("'UNKNOWN' is not a valid health check type".into()),
        };
        Ok(HealthCheckSpec {
            probe,
            schedule: schedule(
                check.delay_seconds,
                check.interval_seconds,
                check.timeout_seconds,
            ),
            policy: HealthPolicy {
                consecutive_failures: check
                    .consecutive_failures
                    .unwrap_or(DEFAULT_CONSECUTIVE_FAILURES),
                grace_period: seconds(check.grace_period_seconds, DEFAULT_GRACE_PERIOD),
            },
        })
    }
}

impl CheckSpec {
    /// Reads a task's `CheckInfo`, refusing what Mesos's validation
    /// refuses.
    pub fn from_proto(check: &v1::CheckInfo) -> Result<CheckSpec, String> {
        use v1::check_info::Type;
        let kind = match check.r#type.map(Type::try_from) {
            Some(Ok(kind)) => kind,
            Some(Err(_)) => Type::Unknown,
            None => return Err("CheckInfo must specify 'type'".into()),
        };
        let probe = match kind {
            Type::Command => command_probe(check.command.as_ref().map(|c| &c.command), "check")?,
            Type::Http => {
                let http = check
                    .http
                    .as_ref()
                    .ok_or("Expecting 'http' to be set for HTTP check")?;
                Probe::Http {
                    scheme: "http".into(),
                    port: port(http.port)?,
                    path: http_path(http.path.as_deref(), "check")?,
                    ipv6: false,
                }
            }
            Type::Tcp => {
                let tcp = check
                    .tcp
                    .as_ref()
                    .ok_or("Expecting 'tcp' to be set for TCP check")?;
                Probe::Tcp {
                    port: port(tcp.port)?,
                    ipv6: false,
                }
            }
            Type::Unknown => return Err("'UNKNOWN' is not a valid check type".into()),
        };
        Ok(CheckSpec {
            probe,
            schedule: schedule(
                check.delay_seconds,
                check.interval_seconds,
                check.timeout_seconds,
            ),
        })
    }
}

/// The outcome of one probe: the check's status, or why there is none.
pub type Outcome = Result<v1::CheckStatusInfo, String>;

/// A `CheckStatusInfo` of `kind` with its result unset, as Mesos attaches
/// it to every status of a checked task until a result is known.
pub fn empty_check_status(kind: v1::check_info::Type) -> v1::CheckStatusInfo {
    v1::CheckStatusInfo {
        r#type: Some(kind as i32),
        command: (kind == v1::check_info::Type::Command)
            .then(v1::check_status_info::Command::default),
        http: (kind == v1::check_info::Type::Http).then(v1::check_status_info::Http::default),
        tcp: (kind == v1::check_info::Type::Tcp).then(v1::check_status_info::Tcp::default),
    }
}

/// Whether a probe's result means healthy; the error says why not.
pub fn interpret(status: &v1::CheckStatusInfo) -> Result<(), String> {
    if let Some(command) = &status.command {
        let code = command.exit_code.unwrap_or(-1);
        if code != 0 {
            return Err(format!("Command exited with status {code}"));
        }
    } else if let Some(http) = &status.http {
        let code = http.status_code.unwrap_or(0);
        if !(200..400).contains(&code) {
            return Err(format!("Unexpected HTTP response code: {code}"));
        }
    } else if let Some(tcp) = &status.tcp {
        if !tcp.succeeded() {
            return Err("TCP connection failed".into());
        }
    }
    Ok(())
}

/// A change of a task's health, to be sent as a TASK_RUNNING update with
/// `healthy` and `REASON_TASK_HEALTH_CHECK_STATUS_UPDATED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthChange {
    /// The task's health.
    pub healthy: bool,
    /// Failures in a row so far (0 when healthy).
    pub consecutive_failures: u32,
    /// The failures reached `consecutive_failures`: kill the task.
    pub kill: bool,
}

/// Counts a task's health check outcomes, as Mesos's health checker:
/// failures in the grace period before the first success are ignored;
/// every other failure is reported, and the one that makes
/// `consecutive_failures` in a row kills the task; the first success,
/// and the first after failures, is reported.
#[derive(Debug, Clone)]
pub struct HealthTracker {
    policy: HealthPolicy,
    /// When the checker started: the grace period runs from here.
    started: Instant,
    /// Failures since the last success.
    consecutive_failures: u32,
    /// No success yet.
    initializing: bool,
}

impl HealthTracker {
    /// A tracker whose grace period starts `now`.
    pub fn new(policy: HealthPolicy, now: Instant) -> HealthTracker {
        HealthTracker {
            policy,
            started: now,
            consecutive_failures: 0,
            initializing: true,
        }
    }

    /// Takes one outcome (its time is `now`); returns the update to send,
    /// if any.
    pub fn record(&mut self, outcome: &Outcome, now: Instant) -> Option<HealthChange> {
        let failure = match outcome {
            Ok(status) => interpret(status).err(),
            Err(e) => Some(e.clone()),
        };
        match failure {
            None => {
                let report = self.initializing || self.consecutive_failures > 0;
                self.initializing = false;
                self.consecutive_failures = 0;
                report.then_some(HealthChange {
                    healthy: true,
                    consecutive_failures: 0,
                    kill: false,
                })
            }
            Some(reason) => {
                let in_grace = self.initializing
                    && !self.policy.grace_period.is_zero()
                    && now.saturating_duration_since(self.started) <= self.policy.grace_period;
                if in_grace {
                    tracing::info!("Ignoring failure of health check: still in grace period");
                    return None;
                }
                self.consecutive_failures += 1;
                tracing::warn!(
                    "Health check failed {} times consecutively: {reason}",
                    self.consecutive_failures
                );
                Some(HealthChange {
                    healthy: false,
                    consecutive_failures: self.consecutive_failures,
                    kill: self.consecutive_failures >= self.policy.consecutive_failures,
                })
            }
        }
    }
}

/// Follows a task's general check: each outcome that differs from the
/// last is reported (an error reports the empty status of its type).
#[derive(Debug, Clone)]
pub struct CheckTracker {
    previous: v1::CheckStatusInfo,
}

impl CheckTracker {
    /// A tracker for checks of `kind`; nothing is known yet.
    pub fn new(kind: v1::check_info::Type) -> CheckTracker {
        CheckTracker {
            previous: empty_check_status(kind),
        }
    }

    /// Takes one outcome; returns the check status to send when it
    /// changed.
    pub fn record(&mut self, outcome: &Outcome) -> Option<v1::CheckStatusInfo> {
        let status = match outcome {
            Ok(status) => *status,
            Err(e) => {
                tracing::warn!("Check failed: {e}");
                let kind = self
                    .previous
                    .r#type
                    .and_then(|t| v1::check_info::Type::try_from(t).ok())
                    .unwrap_or(v1::check_info::Type::Unknown);
                empty_check_status(kind)
            }
        };
        if status == self.previous {
            return None;
        }
        self.previous = status;
        Some(status)
    }
}

/// What a report changed, for the executor to send.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// The task's health changed (or failed once more).
    Health(HealthChange),
    /// The general check's status changed.
    Check(v1::CheckStatusInfo),
}

/// The update that tells the framework what a checker found: the task's
/// latest status again (its state, message and data kept) with a new
/// `uuid` and `timestamp` and the reason, `healthy` or `check_status`.
pub fn followup_status(
    last: &v1::TaskStatus,
    applied: &Applied,
    timestamp: f64,
    uuid: bytes::Bytes,
) -> v1::TaskStatus {
    let mut status = last.clone();
    status.uuid = Some(uuid);
    status.timestamp = Some(timestamp);
    match applied {
        Applied::Health(change) => {
            status.reason = Some(v1::task_status::Reason::TaskHealthCheckStatusUpdated as i32);
            status.healthy = Some(change.healthy);
        }
        Applied::Check(check) => {
            status.reason = Some(v1::task_status::Reason::TaskCheckStatusUpdated as i32);
            status.check_status = Some(*check);
        }
    }
    status
}

/// A task's checkers and their bookkeeping, as an executor keeps them.
#[derive(Debug, Default)]
pub struct TaskChecks {
    health: Option<(HealthTracker, Checker)>,
    check: Option<(CheckTracker, Checker)>,
    /// The type of the task's general check: every status of the task
    /// carries a `check_status` of this type.
    check_type: Option<v1::check_info::Type>,
}

impl TaskChecks {
    /// Starts the checkers `task` asks for (at `now`). A check that
    /// cannot be read is logged and not run, as Mesos's executors do.
    pub fn start(
        task: &v1::TaskInfo,
        runtime: &Runtime,
        reports: &mpsc::UnboundedSender<Report>,
        now: Instant,
    ) -> TaskChecks {
        let task_id = &task.task_id.value;
        let mut checks = TaskChecks {
            check_type: Self::check_type_of(task),
            ..Default::default()
        };
        if let Some(info) = &task.check {
            match CheckSpec::from_proto(info) {
                Ok(spec) => {
                    let tracker = CheckTracker::new(spec.probe.check_type());
                    let checker = spawn(
                        task_id.clone(),
                        Kind::Check,
                        spec.probe,
                        spec.schedule,
                        runtime.clone(),
                        reports.clone(),
                    );
                    checks.check = Some((tracker, checker));
                }
                Err(e) => tracing::error!(task_id, "Failed to create checker: {e}"),
            }
        }
        if let Some(info) = &task.health_check {
            match HealthCheckSpec::from_proto(info) {
                Ok(spec) => {
                    let tracker = HealthTracker::new(spec.policy, now);
                    let checker = spawn(
                        task_id.clone(),
                        Kind::Health,
                        spec.probe,
                        spec.schedule,
                        runtime.clone(),
                        reports.clone(),
                    );
                    checks.health = Some((tracker, checker));
                }
                Err(e) => tracing::error!(task_id, "Failed to create health checker: {e}"),
            }
        }
        checks
    }

    /// The type of `task`'s general check, if it has a valid one.
    pub fn check_type_of(task: &v1::TaskInfo) -> Option<v1::check_info::Type> {
        task.check
            .as_ref()
            .and_then(|c| c.r#type)
            .and_then(|t| v1::check_info::Type::try_from(t).ok())
            .filter(|t| *t != v1::check_info::Type::Unknown)
    }

    /// The empty `check_status` every fresh status of the task carries.
    pub fn empty_status(&self) -> Option<v1::CheckStatusInfo> {
        self.check_type.map(empty_check_status)
    }

    /// Stops the probes (the task is being killed or has ended); later
    /// reports are ignored.
    pub fn stop(&mut self) {
        self.health = None;
        self.check = None;
    }

    /// Takes a checker's report (at `now`): what to tell the framework,
    /// if anything.
    pub fn apply(&mut self, report: &Report, now: Instant) -> Option<Applied> {
        match report.kind {
            Kind::Health => {
                let (tracker, _) = self.health.as_mut()?;
                tracker.record(&report.outcome, now).map(Applied::Health)
            }
            Kind::Check => {
                let (tracker, _) = self.check.as_mut()?;
                tracker.record(&report.outcome).map(Applied::Check)
            }
        }
    }
}

/// Where the probes of a task run.
#[derive(Debug, Clone)]
pub enum Runtime {
    /// Beside the executor: commands in the task's sandbox and
    /// environment, network probes in the executor's network.
    Plain {
        /// The task's sandbox.
        sandbox: PathBuf,
        /// The task's environment.
        environment: BTreeMap<String, String>,
    },
    /// In the task's Docker container: commands through `docker exec`,
    /// network probes in the container's network namespace.
    Docker(DockerFlags),
}

/// Which of a task's checkers reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The `health_check`.
    Health,
    /// The general `check`.
    Check,
}

/// One outcome, as a checker reports it to its executor.
#[derive(Debug)]
pub struct Report {
    /// The checked task.
    pub task_id: String,
    /// Which checker.
    pub kind: Kind,
    /// What the probe gave.
    pub outcome: Outcome,
}

/// A running checker; dropping it stops the probes (a probe under way is
/// killed).
#[derive(Debug)]
pub struct Checker {
    handle: tokio::task::JoinHandle<()>,
}

impl Drop for Checker {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// Starts probing: after `schedule.delay`, then `schedule.interval` after
/// each probe ends, reporting each outcome to `reports`.
pub fn spawn(
    task_id: String,
    kind: Kind,
    probe: Probe,
    schedule: Schedule,
    runtime: Runtime,
    reports: mpsc::UnboundedSender<Report>,
) -> Checker {
    let name = match kind {
        Kind::Health => format!("{} health check", probe.kind()),
        Kind::Check => format!("{} check", probe.kind()),
    };
    tracing::info!(task_id, "Starting {name} in {:?}", schedule.delay);
    let handle = tokio::spawn(async move {
        tokio::time::sleep(schedule.delay).await;
        loop {
            let outcome = match schedule.timeout {
                Some(limit) => match tokio::time::timeout(limit, run(&probe, &runtime)).await {
                    Ok(outcome) => outcome,
                    Err(_) => Err(format!("{name} timed out after {limit:?}")),
                },
                None => run(&probe, &runtime).await,
            };
            match &outcome {
                Ok(status) => tracing::debug!(task_id, "{name} returned {status:?}"),
                Err(e) => tracing::warn!(task_id, "{name} failed: {e}"),
            }
            let report = Report {
                task_id: task_id.clone(),
                kind,
                outcome,
            };
            if reports.send(report).is_err() {
                return;
            }
            tokio::time::sleep(schedule.interval).await;
        }
    });
    Checker { handle }
}

/// Runs one probe to its end.
pub async fn run(probe: &Probe, runtime: &Runtime) -> Outcome {
    match probe {
        Probe::Command(command) => {
            let exit_code = run_command(command, runtime).await?;
            Ok(v1::CheckStatusInfo {
                r#type: Some(v1::check_info::Type::Command as i32),
                command: Some(v1::check_status_info::Command {
                    exit_code: Some(exit_code),
                }),
                ..Default::default()
            })
        }
        Probe::Http {
            scheme,
            port,
            path,
            ipv6,
        } => {
            let status_code = if scheme == "https" {
                https_status(*port, path, *ipv6, runtime).await?
            } else {
                http_status(*port, path, *ipv6, runtime).await?
            };
            Ok(v1::CheckStatusInfo {
                r#type: Some(v1::check_info::Type::Http as i32),
                http: Some(v1::check_status_info::Http {
                    status_code: Some(status_code),
                }),
                ..Default::default()
            })
        }
        Probe::Tcp { port, ipv6 } => {
            let succeeded = match connect(*port, *ipv6, runtime).await {
                Ok(_) => true,
                Err(e) => {
                    tracing::debug!("TCP connection to port {port} failed: {e}");
                    false
                }
            };
            Ok(v1::CheckStatusInfo {
                r#type: Some(v1::check_info::Type::Tcp as i32),
                tcp: Some(v1::check_status_info::Tcp {
                    succeeded: Some(succeeded),
                }),
                ..Default::default()
            })
        }
    }
}

/// The check command's process: in the task's sandbox and environment
/// (with the check's own variables over it), or `docker exec`ed in the
/// container. Its output goes to the executor's stderr, as Mesos's.
fn command_process(
    command: &v1::CommandInfo,
    runtime: &Runtime,
) -> Result<std::process::Command, String> {
    let value = command.value.clone().unwrap_or_default();
    let own: Vec<(String, String)> = command
        .environment
        .iter()
        .flat_map(|e| &e.variables)
        .filter_map(|v| v.value.clone().map(|value| (v.name.clone(), value)))
        .collect();
    let mut process = match runtime {
        Runtime::Plain {
            sandbox,
            environment,
        } => {
            let mut process = super::task_command(command, &value);
            process
                .current_dir(sandbox)
                .env_clear()
                .envs(environment)
                .envs(own);
            process
        }
        Runtime::Docker(flags) => {
            let mut args = vec!["exec".to_string()];
            for (name, value) in own {
                args.push("-e".into());
                args.push(format!("{name}={value}"));
            }
            args.push(flags.container.clone());
            if command.shell() {
                args.extend(["sh".to_string(), "-c".to_string(), value]);
            } else {
                args.push(value);
                args.extend(command.arguments.iter().skip(1).cloned());
            }
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            let argv = flags.docker_argv(&refs);
            let mut process = std::process::Command::new(&argv[0]);
            process.args(&argv[1..]);
            process
        }
    };
    let stderr = std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| format!("Failed to duplicate stderr: {e}"))?;
    let stderr_too = stderr
        .try_clone()
        .map_err(|e| format!("Failed to duplicate stderr: {e}"))?;
    process
        .stdin(Stdio::null())
        .stdout(Stdio::from(stderr))
        .stderr(Stdio::from(stderr_too));
    std::os::unix::process::CommandExt::process_group(&mut process, 0);
    Ok(process)
}

/// Runs the check command; its exit code, or why there is none. When the
/// probe is cut off (dropped), its whole process group is killed.
async fn run_command(command: &v1::CommandInfo, runtime: &Runtime) -> Result<i32, String> {
    let process = command_process(command, runtime)?;
    let mut child = tokio::process::Command::from(process)
        .spawn()
        .map_err(|e| format!("Failed to launch the check command: {e}"))?;
    let group = KillGroupOnDrop(child.id().map_or(0, |p| p as i32));
    let status = child
        .wait()
        .await
        .map_err(|e| format!("Failed to reap the check command: {e}"))?;
    std::mem::forget(group);
    match (status.code(), status.signal()) {
        (Some(code), _) => Ok(code),
        (None, Some(signal)) => Err(format!(
            "Check command terminated with signal {}",
            crate::containerizer::posix::signal_name(signal)
        )),
        (None, None) => Err(format!(
            "Check command ended with wait status {}",
            status.into_raw()
        )),
    }
}

/// Kills a process group when a probe is abandoned mid-way.
struct KillGroupOnDrop(i32);

impl Drop for KillGroupOnDrop {
    fn drop(&mut self) {
        super::signal_group(self.0, libc::SIGKILL);
    }
}

fn address(port: u16, ipv6: bool) -> std::net::SocketAddr {
    if ipv6 {
        (LOCALHOST_V6, port).into()
    } else {
        (LOCALHOST, port).into()
    }
}

/// Connects to the task's port: directly, or from inside the Docker
/// container's network namespace.
async fn connect(
    port: u16,
    ipv6: bool,
    runtime: &Runtime,
) -> Result<tokio::net::TcpStream, String> {
    let address = address(port, ipv6);
    match runtime {
        Runtime::Plain { .. } => tokio::net::TcpStream::connect(address)
            .await
            .map_err(|e| format!("Failed to connect to {address}: {e}")),
        Runtime::Docker(flags) => {
            let pid = container_pid(flags).await?;
            let (tx, rx) = tokio::sync::oneshot::channel();
            // A thread of its own: it changes network namespace and ends.
            std::thread::spawn(move || {
                let _ = tx.send(connect_in_namespace(pid, address));
            });
            let stream = rx
                .await
                .map_err(|_| "The connecting thread ended early".to_string())??;
            stream
                .set_nonblocking(true)
                .map_err(|e| format!("Failed to set the socket non-blocking: {e}"))?;
            tokio::net::TcpStream::from_std(stream)
                .map_err(|e| format!("Failed to use the socket: {e}"))
        }
    }
}

/// Enters process `pid`'s network namespace (this thread only) and
/// connects there. The thread must not be reused afterwards.
fn connect_in_namespace(
    pid: u32,
    address: std::net::SocketAddr,
) -> Result<std::net::TcpStream, String> {
    use std::os::fd::AsRawFd;
    let path = format!("/proc/{pid}/ns/net");
    let namespace =
        std::fs::File::open(&path).map_err(|e| format!("Failed to open '{path}': {e}"))?;
    // SAFETY: setns takes a valid descriptor and changes only this
    // thread's namespace, which is dropped with the thread.
    let rc = unsafe { libc::setns(namespace.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        return Err(format!(
            "Failed to enter the network namespace of {pid}: {}",
            std::io::Error::last_os_error()
        ));
    }
    std::net::TcpStream::connect(address)
        .map_err(|e| format!("Failed to connect to {address}: {e}"))
}

/// The pid of the container's first process.
async fn container_pid(flags: &DockerFlags) -> Result<u32, String> {
    let argv = flags.docker_argv(&["inspect", "--format", "{{.State.Pid}}", &flags.container]);
    let output = tokio::process::Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("Failed to run '{}': {e}", argv[0]))?;
    let text = String::from_utf8_lossy(&output.stdout);
    match text.trim().parse::<u32>() {
        Ok(pid) if output.status.success() && pid > 0 => Ok(pid),
        _ => Err(format!(
            "Failed to find the pid of container '{}'",
            flags.container
        )),
    }
}

/// How many redirects an HTTP probe follows (curl's `-L` follows up to 50).
const MAX_REDIRECTS: usize = 50;

/// `GET http://<localhost>:<port><path>`: the final response's status
/// code, redirects within the task's loopback followed as Mesos's
/// `curl -L` follows them (one elsewhere counts as its 3xx code).
async fn http_status(port: u16, path: &str, ipv6: bool, runtime: &Runtime) -> Result<u32, String> {
    let (mut port, mut path) = (port, path.to_string());
    for _ in 0..MAX_REDIRECTS {
        let (code, location) = http_get(port, &path, ipv6, runtime).await?;
        match location.and_then(|l| redirect_target(&l, port)) {
            Some((next_port, next_path)) if (300..400).contains(&code) => {
                port = next_port;
                path = next_path;
            }
            _ => return Ok(code),
        }
    }
    Err(format!("More than {MAX_REDIRECTS} redirects"))
}

/// One `GET`: the status code and the `Location` header.
async fn http_get(
    port: u16,
    path: &str,
    ipv6: bool,
    runtime: &Runtime,
) -> Result<(u32, Option<String>), String> {
    let mut stream = connect(port, ipv6, runtime).await?;
    let address = address(port, ipv6);
    let path = if path.is_empty() { "/" } else { path };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nUser-Agent: mesos-health-check\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("Failed to send the request to {address}: {e}"))?;
    let mut head = Vec::new();
    let mut buffer = [0u8; 512];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16384 {
        let n = stream
            .read(&mut buffer)
            .await
            .map_err(|e| format!("Failed to read the response from {address}: {e}"))?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buffer[..n]);
    }
    let code =
        parse_status_line(&head).ok_or_else(|| format!("No HTTP response from {address}"))?;
    Ok((code, header(&head, "location")))
}

/// A header's value in a response head.
fn header(head: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(head);
    text.split("\r\n").skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim().to_string())
    })
}

/// Where a redirect leads, when it stays on the probed loopback: a path,
/// or an `http` URL of `127.0.0.1`, `localhost` or `[::1]`.
fn redirect_target(location: &str, port: u16) -> Option<(u16, String)> {
    if location.starts_with('/') {
        return Some((port, location.to_string()));
    }
    let rest = location.strip_prefix("http://")?;
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host, port.parse().ok()?),
        _ => (authority, 80),
    };
    matches!(host, "127.0.0.1" | "localhost" | "[::1]").then(|| (port, path.to_string()))
}

/// The status code of an HTTP response's first line.
fn parse_status_line(head: &[u8]) -> Option<u32> {
    let line = head.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut words = line.split_whitespace();
    if !words.next()?.starts_with("HTTP/") {
        return None;
    }
    words.next()?.parse().ok()
}

/// `https` needs TLS: it goes through `curl`, as Mesos's HTTP checks all
/// do (`-k`: the certificate is not verified; `-L`: redirects followed).
async fn https_status(port: u16, path: &str, ipv6: bool, runtime: &Runtime) -> Result<u32, String> {
    let host = if ipv6 { "[::1]" } else { "127.0.0.1" };
    let url = format!("https://{host}:{port}{path}");
    let curl = [
        "curl",
        "-s",
        "-S",
        "-L",
        "-k",
        "-w",
        "%{http_code}",
        "-o",
        "/dev/null",
        "-g",
        &url,
    ];
    let mut process = match runtime {
        Runtime::Plain { .. } => tokio::process::Command::new(curl[0]),
        Runtime::Docker(flags) => {
            // Inside the container's network: nsenter, as curl cannot
            // be given a namespace.
            let pid = container_pid(flags).await?;
            let mut process = tokio::process::Command::new("nsenter");
            process
                .arg(format!("--net=/proc/{pid}/ns/net"))
                .arg(curl[0]);
            process
        }
    };
    let output = process
        .args(&curl[1..])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("Failed to run curl: {e}"))?;
    let code = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if !output.status.success() {
        return Err(format!(
            "curl exited with {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    code.parse()
        .map_err(|_| format!("Unexpected output from curl: '{code}'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn exit(code: i32) -> Outcome {
        Ok(v1::CheckStatusInfo {
            r#type: Some(v1::check_info::Type::Command as i32),
            command: Some(v1::check_status_info::Command {
                exit_code: Some(code),
            }),
            ..Default::default()
        })
    }

    fn change(healthy: bool, failures: u32, kill: bool) -> Option<HealthChange> {
        Some(HealthChange {
            healthy,
            consecutive_failures: failures,
            kill,
        })
    }

    #[test]
    fn failures_in_the_grace_period_are_ignored_until_the_first_success() {
        let start = Instant::now();
        let policy = HealthPolicy {
            consecutive_failures: 2,
            grace_period: secs(10),
        };
        let mut health = HealthTracker::new(policy, start);
        assert_eq!(health.record(&exit(1), start + secs(1)), None);
        assert_eq!(
            health.record(&Err("timed out".into()), start + secs(10)),
            None
        );
        // Past the grace period, failures count.
        assert_eq!(
            health.record(&exit(1), start + secs(11)),
            change(false, 1, false)
        );
        assert_eq!(
            health.record(&exit(0), start + secs(12)),
            change(true, 0, false)
        );
        // Healthy again: no news.
        assert_eq!(health.record(&exit(0), start + secs(13)), None);
        // Once healthy, the grace period no longer applies.
        let mut early = HealthTracker::new(policy, start);
        assert_eq!(early.record(&exit(0), start), change(true, 0, false));
        assert_eq!(
            early.record(&exit(2), start + secs(1)),
            change(false, 1, false)
        );
        assert_eq!(
            early.record(&exit(2), start + secs(2)),
            change(false, 2, true)
        );
    }

    #[test]
    fn consecutive_failures_kill_and_a_success_resets_them() {
        let start = Instant::now();
        let policy = HealthPolicy {
            consecutive_failures: 3,
            grace_period: Duration::ZERO,
        };
        let mut health = HealthTracker::new(policy, start);
        // No grace period: the first failure counts.
        assert_eq!(health.record(&exit(1), start), change(false, 1, false));
        assert_eq!(health.record(&exit(1), start), change(false, 2, false));
        assert_eq!(health.record(&exit(0), start), change(true, 0, false));
        assert_eq!(health.record(&exit(1), start), change(false, 1, false));
        assert_eq!(health.record(&exit(1), start), change(false, 2, false));
        assert_eq!(health.record(&exit(1), start), change(false, 3, true));
    }

    #[test]
    fn http_and_tcp_results_are_interpreted_as_mesos_does() {
        let http = |code: u32| v1::CheckStatusInfo {
            http: Some(v1::check_status_info::Http {
                status_code: Some(code),
            }),
            ..Default::default()
        };
        assert!(interpret(&http(200)).is_ok());
        assert!(interpret(&http(302)).is_ok());
        assert!(interpret(&http(399)).is_ok());
        assert_eq!(
            interpret(&http(404)),
            Err("Unexpected HTTP response code: 404".into())
        );
        assert!(interpret(&http(199)).is_err());
        let tcp = |succeeded: bool| v1::CheckStatusInfo {
            tcp: Some(v1::check_status_info::Tcp {
                succeeded: Some(succeeded),
            }),
            ..Default::default()
        };
        assert!(interpret(&tcp(true)).is_ok());
        assert_eq!(interpret(&tcp(false)), Err("TCP connection failed".into()));
    }

    #[test]
    fn check_statuses_are_reported_when_they_change() {
        let mut check = CheckTracker::new(v1::check_info::Type::Command);
        assert_eq!(check.record(&exit(0)), Some(exit(0).unwrap()));
        assert_eq!(check.record(&exit(0)), None);
        assert_eq!(check.record(&exit(3)), Some(exit(3).unwrap()));
        // An error reports the empty status, once.
        let empty = empty_check_status(v1::check_info::Type::Command);
        assert_eq!(check.record(&Err("boom".into())), Some(empty));
        assert_eq!(check.record(&Err("boom".into())), None);
        assert_eq!(empty.command, Some(Default::default()));
        assert_eq!(empty.http, None);
    }

    #[test]
    fn health_checks_are_read_with_mesos_defaults_and_validation() {
        let command = v1::CommandInfo {
            value: Some("true".into()),
            ..Default::default()
        };
        // No type: typed from `command`, as the master does.
        let legacy = v1::HealthCheck {
            command: Some(command.clone()),
            ..Default::default()
        };
        let spec = HealthCheckSpec::from_proto(&legacy).unwrap();
        assert_eq!(spec.probe, Probe::Command(command.clone()));
        assert_eq!(
            spec.schedule,
            Schedule {
                delay: secs(15),
                interval: secs(10),
                timeout: Some(secs(20)),
            }
        );
        assert_eq!(
            spec.policy,
            HealthPolicy {
                consecutive_failures: 3,
                grace_period: secs(10),
            }
        );
        let typed = |kind: v1::health_check::Type| v1::HealthCheck {
            r#type: Some(kind as i32),
            delay_seconds: Some(0.25),
            timeout_seconds: Some(0.0),
            ..Default::default()
        };
        let err = |check: v1::HealthCheck| HealthCheckSpec::from_proto(&check).unwrap_err();
        assert_eq!(
            err(typed(v1::health_check::Type::Unknown)),
            "'UNKNOWN' is not a valid health check type"
        );
        assert_eq!(
            err(typed(v1::health_check::Type::Command)),
            "Expecting 'command' to be set for COMMAND health check"
        );
        let mut no_value = typed(v1::health_check::Type::Command);
        no_value.command = Some(v1::CommandInfo::default());
        assert_eq!(
            err(no_value),
            "Command health check must contain 'shell command'"
        );
        assert_eq!(
            err(v1::HealthCheck::default()),
            "HealthCheck must specify 'type'"
        );
        let mut http = typed(v1::health_check::Type::Http);
        http.http = Some(v1::health_check::HttpCheckInfo {
            port: 8080,
            path: Some("health".into()),
            ..Default::default()
        });
        assert_eq!(
            err(http.clone()),
            "The path 'health' of HTTP health check must start with '/'"
        );
        http.http.as_mut().unwrap().path = Some("/health".into());
        let spec = HealthCheckSpec::from_proto(&http).unwrap();
        assert_eq!(
            spec.probe,
            Probe::Http {
                scheme: "http".into(),
                port: 8080,
                path: "/health".into(),
                ipv6: false,
            }
        );
        // A zero timeout is no timeout.
        assert_eq!(spec.schedule.timeout, None);
        assert_eq!(spec.schedule.delay, Duration::from_millis(250));
        http.http.as_mut().unwrap().scheme = Some("ftp".into());
        assert_eq!(err(http), "Unsupported HTTP health check scheme: 'ftp'");
        let mut tcp = typed(v1::health_check::Type::Tcp);
        tcp.tcp = Some(v1::health_check::TcpCheckInfo {
            port: 70000,
            ..Default::default()
        });
        assert_eq!(err(tcp), "Port 70000 is out of range");
    }

    #[test]
    fn followups_repeat_the_latest_status_with_the_news() {
        let last = v1::TaskStatus {
            task_id: v1::TaskId { value: "t".into() },
            state: v1::TaskState::TaskRunning as i32,
            message: Some("running".into()),
            uuid: Some(bytes::Bytes::from_static(b"old")),
            timestamp: Some(1.0),
            check_status: Some(empty_check_status(v1::check_info::Type::Command)),
            ..Default::default()
        };
        let unhealthy = Applied::Health(HealthChange {
            healthy: false,
            consecutive_failures: 1,
            kill: false,
        });
        let status = followup_status(&last, &unhealthy, 2.0, bytes::Bytes::from_static(b"new"));
        assert_eq!(status.state, v1::TaskState::TaskRunning as i32);
        assert_eq!(status.message.as_deref(), Some("running"));
        assert_eq!(status.healthy, Some(false));
        assert_eq!(
            status.reason,
            Some(v1::task_status::Reason::TaskHealthCheckStatusUpdated as i32)
        );
        assert_eq!(status.uuid.as_deref(), Some(&b"new"[..]));
        assert_eq!(status.timestamp, Some(2.0));
        // The check's status is kept on a health update, and replaced on
        // a check update.
        assert_eq!(status.check_status, last.check_status);
        let checked = Applied::Check(exit(0).unwrap());
        let status = followup_status(&last, &checked, 3.0, bytes::Bytes::from_static(b"n2"));
        assert_eq!(status.check_status, Some(exit(0).unwrap()));
        assert_eq!(status.healthy, None);
        assert_eq!(
            status.reason,
            Some(v1::task_status::Reason::TaskCheckStatusUpdated as i32)
        );
    }

    #[test]
    fn redirects_are_followed_on_the_loopback_only() {
        assert_eq!(redirect_target("/next", 8080), Some((8080, "/next".into())));
        assert_eq!(
            redirect_target("http://127.0.0.1:9000/a?b", 8080),
            Some((9000, "/a?b".into()))
        );
        assert_eq!(
            redirect_target("http://localhost", 8080),
            Some((80, "/".into()))
        );
        assert_eq!(redirect_target("http://example.com/", 8080), None);
        assert_eq!(redirect_target("https://127.0.0.1/", 8080), None);
        let head = b"HTTP/1.1 302 Found\r\nlocation: /there\r\n\r\n";
        assert_eq!(header(head, "Location"), Some("/there".into()));
        assert_eq!(header(head, "Host"), None);
    }

    #[test]
    fn status_lines() {
        assert_eq!(parse_status_line(b"HTTP/1.0 200 OK\r\n"), Some(200));
        assert_eq!(parse_status_line(b"HTTP/1.1 503 Busy\r\nX: y"), Some(503));
        assert_eq!(parse_status_line(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(parse_status_line(b""), None);
    }

    #[tokio::test]
    async fn probes_run_commands_and_connect() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = Runtime::Plain {
            sandbox: dir.path().to_path_buf(),
            environment: [("CODE".to_string(), "4".to_string())].into(),
        };
        let shell = |value: &str| {
            Probe::Command(v1::CommandInfo {
                value: Some(value.into()),
                ..Default::default()
            })
        };
        // The task's environment and sandbox.
        assert_eq!(run(&shell("exit $CODE"), &runtime).await, exit(4));
        std::fs::write(dir.path().join("ready"), "").unwrap();
        assert_eq!(run(&shell("test -f ready"), &runtime).await, exit(0));

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 1024];
            let _ = socket.read(&mut request).await.unwrap();
            socket
                .write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
                .await
                .unwrap();
        });
        let http = Probe::Http {
            scheme: "http".into(),
            port,
            path: "/ready".into(),
            ipv6: false,
        };
        let status = run(&http, &runtime).await.unwrap();
        assert_eq!(status.http.unwrap().status_code, Some(204));
        server.await.unwrap();

        // A redirect is followed to its end.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let redirecting = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            for answer in [
                "HTTP/1.1 301 Moved\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n",
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
            ] {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut request = [0u8; 1024];
                let _ = socket.read(&mut request).await.unwrap();
                socket.write_all(answer.as_bytes()).await.unwrap();
            }
        });
        let moved = Probe::Http {
            scheme: "http".into(),
            port: redirecting,
            path: String::new(),
            ipv6: false,
        };
        let status = run(&moved, &runtime).await.unwrap();
        assert_eq!(status.http.unwrap().status_code, Some(404));
        server.await.unwrap();
        // Nobody listens any more.
        let tcp = Probe::Tcp { port, ipv6: false };
        let status = run(&tcp, &runtime).await.unwrap();
        assert_eq!(status.tcp.unwrap().succeeded, Some(false));
        assert!(run(&http, &runtime).await.is_err());
    }

    #[tokio::test]
    async fn a_checker_reports_each_probe_and_times_them_out() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = Runtime::Plain {
            sandbox: dir.path().to_path_buf(),
            environment: BTreeMap::new(),
        };
        let (reports, mut rx) = mpsc::unbounded_channel();
        let probe = Probe::Command(v1::CommandInfo {
            value: Some("sleep 5".into()),
            ..Default::default()
        });
        let schedule = Schedule {
            delay: Duration::ZERO,
            interval: Duration::from_millis(10),
            timeout: Some(Duration::from_millis(100)),
        };
        let checker = spawn("t".into(), Kind::Health, probe, schedule, runtime, reports);
        for _ in 0..2 {
            let report = rx.recv().await.unwrap();
            assert_eq!(report.task_id, "t");
            assert_eq!(report.kind, Kind::Health);
            let error = report.outcome.unwrap_err();
            assert!(error.contains("timed out"), "{error}");
        }
        drop(checker);
        // Stopped: the channel closes once the task is gone.
        assert!(rx.recv().await.is_none());
    }
}
