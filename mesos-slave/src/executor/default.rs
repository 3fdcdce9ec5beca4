//! The default executor (`mesos-default-executor`): runs task groups
//! (`LAUNCH_GROUP`) under the agent's v1 executor API, the executor of
//! `ExecutorInfo.type` DEFAULT.
//!
//! Each task runs as its own process group, a child of the executor, in a
//! sandbox of its own, laid out as Mesos lays out nested containers:
//!
//! ```text
//!  <executor sandbox>/containers/<container id>/{stdout,stderr}   the task's sandbox
//!  <executor sandbox>/tasks/<task id> -> <executor sandbox>/containers/<container id>
//! ```
//!
//! ```text
//!  LAUNCH_GROUP ──> TASK_STARTING, spawn, TASK_RUNNING  (each task)
//!                      │
//!     reaped ──> TASK_FINISHED | TASK_FAILED | TASK_KILLED
//!                      │ FAILED or KILLED: the group's other tasks are
//!                      │ killed (SIGTERM, their kill policy's grace, SIGKILL)
//!                      ▼
//!  every task terminal and every update acknowledged ──> exit 0
//! ```
//!
//! KILL kills one task (and so, once it ends killed, its group); SHUTDOWN
//! kills them all.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use mesos::wire::mesos::v1;
use mesos::wire::mesos::v1::executor::{Call, Event, call, event};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::checks::{Applied, Report, Runtime, TaskChecks, empty_check_status, followup_status};
use super::client::{AgentEndpoint, EventStream};
use super::{
    DEFAULT_KILL_GRACE_PERIOD, ExecutorEnv, FIRST_SUBSCRIBE_TIMEOUT, TERMINAL_ACK_TIMEOUT,
    executor_call, grace_of, killing_capable, now_secs, sender, signal_group, sleep_until_opt,
    task_command, task_environment, terminal_state,
};

/// The directory of the task sandboxes, under the executor's.
pub const CONTAINERS_DIRECTORY: &str = "containers";

/// The directory of the links from task ids to their sandboxes.
pub const TASKS_DIRECTORY: &str = "tasks";

/// One task of a group.
struct TaskRun {
    info: v1::TaskInfo,
    /// Index into `DefaultExecutor::groups`.
    group: usize,
    /// The task's process group while it runs.
    pgid: Option<i32>,
    /// Being killed: it ends `TASK_KILLED`.
    killing: bool,
    /// When SIGKILL follows the SIGTERM of a kill.
    escalate_at: Option<Instant>,
    /// Its terminal update was sent.
    terminal: bool,
    /// Some update of it was acknowledged: the agent knows we have it.
    acknowledged: bool,
    /// Its health check and general check.
    checks: TaskChecks,
    /// Its latest status sent: the checkers' updates repeat it.
    last_status: Option<v1::TaskStatus>,
}

/// A process exit, reported by the task that waits for it.
type Exit = (String, std::io::Result<std::process::ExitStatus>);

struct DefaultExecutor {
    env: ExecutorEnv,
    framework_info: Option<v1::FrameworkInfo>,
    tasks: BTreeMap<String, TaskRun>,
    /// The task ids of each group, in launch order.
    groups: Vec<Vec<String>>,
    /// Groups being killed because one of their tasks failed or was
    /// killed.
    killing_groups: BTreeSet<usize>,
    /// Updates sent and not yet acknowledged, in order.
    unacknowledged: Vec<call::Update>,
    shutting_down: bool,
    /// When every task became terminal (the last acknowledgements are
    /// awaited from then on).
    all_terminal_at: Option<Instant>,
    outbox: mpsc::UnboundedSender<Call>,
    exits: mpsc::UnboundedSender<Exit>,
    /// Where the checkers report.
    reports: mpsc::UnboundedSender<Report>,
    /// A task was killed for failing its health check: from then on
    /// every terminal update says `healthy: false`, as Mesos's default
    /// executor does.
    unhealthy: bool,
}

impl DefaultExecutor {
    fn subscribe_call(&self) -> Call {
        let mut call = executor_call(&self.env, call::Type::Subscribe);
        call.subscribe = Some(call::Subscribe {
            unacknowledged_tasks: self
                .tasks
                .values()
                .filter(|t| !t.acknowledged)
                .map(|t| t.info.clone())
                .collect(),
            unacknowledged_updates: self.unacknowledged.clone(),
        });
        call
    }

    fn update(&mut self, task_id: &str, state: v1::TaskState, message: Option<String>) {
        let task = self.tasks.get(task_id);
        let mut status = v1::TaskStatus {
            task_id: v1::TaskId {
                value: task_id.to_string(),
            },
            state: state as i32,
            message,
            source: Some(v1::task_status::Source::Executor as i32),
            executor_id: Some(v1::ExecutorId {
                value: self.env.executor_id.clone(),
            }),
            timestamp: Some(now_secs()),
            uuid: Some(Bytes::copy_from_slice(uuid::Uuid::new_v4().as_bytes())),
            check_status: task
                .and_then(|t| TaskChecks::check_type_of(&t.info))
                .map(empty_check_status),
            ..Default::default()
        };
        if self.unhealthy && crate::status_update::is_terminal(state as i32) {
            status.healthy = Some(false);
        }
        self.forward(status);
    }

    fn forward(&mut self, status: v1::TaskStatus) {
        let state = v1::TaskState::try_from(status.state).unwrap_or(v1::TaskState::TaskUnknown);
        let task_id = status.task_id.value.clone();
        tracing::info!(task_id, "Sending {}", state.as_str_name());
        if let Some(task) = self.tasks.get_mut(&task_id) {
            task.last_status = Some(status.clone());
        }
        let update = call::Update { status };
        self.unacknowledged.push(update.clone());
        let mut call = executor_call(&self.env, call::Type::Update);
        call.update = Some(update);
        let _ = self.outbox.send(call);
    }

    /// Ends a task that never ran.
    fn fail(&mut self, task_id: &str, message: String) {
        tracing::error!(task_id, "{message}");
        if let Some(task) = self.tasks.get_mut(task_id) {
            task.terminal = true;
        }
        self.update(task_id, v1::TaskState::TaskFailed, Some(message));
        self.task_ended(task_id, v1::TaskState::TaskFailed);
    }

    fn launch_group(&mut self, group: v1::TaskGroupInfo) {
        if self.shutting_down {
            tracing::warn!("Ignoring the task group: the executor is shutting down");
            return;
        }
        let index = self.groups.len();
        let mut ids = Vec::new();
        for task in &group.tasks {
            let id = task.task_id.value.clone();
            if self.tasks.contains_key(&id) || ids.contains(&id) {
                tracing::error!(task_id = %id, "Ignoring a task with a duplicate id");
                continue;
            }
            ids.push(id.clone());
            self.tasks.insert(
                id,
                TaskRun {
                    info: task.clone(),
                    group: index,
                    pgid: None,
                    killing: false,
                    escalate_at: None,
                    terminal: false,
                    acknowledged: false,
                    checks: TaskChecks::default(),
                    last_status: None,
                },
            );
        }
        self.groups.push(ids.clone());
        self.all_terminal_at = None;
        for id in &ids {
            self.update(id, v1::TaskState::TaskStarting, None);
        }
        for id in ids {
            self.spawn(&id);
        }
    }

    fn spawn(&mut self, task_id: &str) {
        let Some(task) = self.tasks.get(task_id).map(|t| t.info.clone()) else {
            return;
        };
        if self.tasks.get(task_id).is_some_and(|t| t.terminal) {
            // Killed along with its group before it could start.
            return;
        }
        let command = task.command.clone().unwrap_or_default();
        let Some(value) = command.value.clone() else {
            self.fail(task_id, "Task has no command to run".into());
            return;
        };
        let sandbox = match task_sandbox(&self.env.sandbox, task_id) {
            Ok(sandbox) => sandbox,
            Err(e) => {
                self.fail(task_id, format!("Failed to create the task's sandbox: {e}"));
                return;
            }
        };
        let open = |name: &str| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(sandbox.join(name))
        };
        let (stdout, stderr) = match (open("stdout"), open("stderr")) {
            (Ok(out), Ok(err)) => (out, err),
            (Err(e), _) | (_, Err(e)) => {
                self.fail(task_id, format!("Failed to open the task's output: {e}"));
                return;
            }
        };
        let mut environment = task_environment(std::env::vars(), &task);
        environment.insert("MESOS_SANDBOX".into(), sandbox.display().to_string());
        // As Mesos's default executor: the executor's own address, which
        // tasks sharing its network also have.
        let ip = std::env::var("LIBPROCESS_IP")
            .unwrap_or_else(|_| self.env.agent.address.ip().to_string());
        environment.insert("MESOS_CONTAINER_IP".into(), ip);
        let mut process = task_command(&command, &value);
        process
            .current_dir(&sandbox)
            .env_clear()
            .envs(&environment)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        std::os::unix::process::CommandExt::process_group(&mut process, 0);
        match tokio::process::Command::from(process).spawn() {
            Ok(mut child) => {
                let pgid = child.id().map_or(0, |p| p as i32);
                tracing::info!(task_id, "Forked the task's command at {pgid}");
                let runtime = Runtime::Plain {
                    sandbox,
                    environment,
                };
                let checks = TaskChecks::start(&task, &runtime, &self.reports, Instant::now());
                if let Some(run) = self.tasks.get_mut(task_id) {
                    run.pgid = Some(pgid);
                    run.checks = checks;
                }
                let exits = self.exits.clone();
                let id = task_id.to_string();
                tokio::spawn(async move {
                    let status = child.wait().await;
                    let _ = exits.send((id, status));
                });
                self.update(task_id, v1::TaskState::TaskRunning, None);
            }
            Err(e) => self.fail(task_id, format!("Failed to launch the task's command: {e}")),
        }
    }

    /// Starts (or shortens) the kill of a task.
    fn kill(&mut self, task_id: &str, grace: Duration) {
        let capable = killing_capable(self.framework_info.as_ref());
        let Some(task) = self.tasks.get_mut(task_id) else {
            tracing::warn!(task_id, "Ignoring kill of an unknown task");
            return;
        };
        if task.terminal {
            return;
        }
        task.checks.stop();
        let now = Instant::now();
        let Some(pgid) = task.pgid else {
            // Not started yet (its group is being launched): it never will.
            task.terminal = true;
            task.killing = true;
            self.update(
                task_id,
                v1::TaskState::TaskKilled,
                Some("Killed before it was started".into()),
            );
            if self.tasks.values().all(|t| t.terminal) {
                self.all_terminal_at = Some(Instant::now());
            }
            return;
        };
        if task.killing {
            // A repeated kill may only shorten the grace period.
            if let Some(at) = task.escalate_at {
                task.escalate_at = Some(at.min(now + grace));
            }
            return;
        }
        task.killing = true;
        task.escalate_at = Some(now + grace);
        tracing::info!(
            task_id,
            "Sending SIGTERM to process group {pgid}; SIGKILL in {grace:?}"
        );
        signal_group(pgid, libc::SIGTERM);
        if capable {
            self.update(task_id, v1::TaskState::TaskKilling, None);
        }
    }

    fn kill_grace(&self, task_id: &str, policy: Option<&v1::KillPolicy>) -> Duration {
        grace_of(policy)
            .or_else(|| {
                grace_of(
                    self.tasks
                        .get(task_id)
                        .and_then(|t| t.info.kill_policy.as_ref()),
                )
            })
            .unwrap_or(DEFAULT_KILL_GRACE_PERIOD)
    }

    fn reaped(&mut self, task_id: &str, status: std::io::Result<std::process::ExitStatus>) {
        let Some(task) = self.tasks.get_mut(task_id) else {
            return;
        };
        task.pgid = None;
        task.escalate_at = None;
        task.terminal = true;
        task.checks.stop();
        let (state, message) = match status {
            Ok(status) => terminal_state(status, task.killing),
            Err(e) => (
                v1::TaskState::TaskFailed,
                format!("Failed to get exit status for Command: {e}"),
            ),
        };
        tracing::info!(task_id, "{message}");
        self.update(task_id, state, Some(message));
        self.task_ended(task_id, state);
    }

    /// A checker's report: an update when it changed something, a kill
    /// when the health check failed too often. Nothing is sent once the
    /// task is being killed or has ended, as Mesos's default executor does.
    fn checked(&mut self, report: Report) {
        let Some(task) = self.tasks.get_mut(&report.task_id) else {
            return;
        };
        if task.terminal || task.killing || task.pgid.is_none() {
            return;
        }
        let Some(applied) = task.checks.apply(&report, Instant::now()) else {
            return;
        };
        let Some(last) = &task.last_status else {
            return;
        };
        let uuid = Bytes::copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        let status = followup_status(last, &applied, now_secs(), uuid);
        self.forward(status);
        if let Applied::Health(change) = applied {
            if change.kill {
                tracing::info!(
                    task_id = %report.task_id,
                    "Killing the task: its health check failed {} times",
                    change.consecutive_failures
                );
                self.unhealthy = true;
                let grace = self.kill_grace(&report.task_id, None);
                self.kill(&report.task_id, grace);
            }
        }
    }

    /// Mesos's restart policy for task groups: when one task fails or is
    /// killed, the other tasks of its group are killed.
    fn task_ended(&mut self, task_id: &str, state: v1::TaskState) {
        if self.tasks.values().all(|t| t.terminal) {
            self.all_terminal_at = Some(Instant::now());
        }
        if self.shutting_down
            || !matches!(state, v1::TaskState::TaskFailed | v1::TaskState::TaskKilled)
        {
            return;
        }
        let Some(group) = self.tasks.get(task_id).map(|t| t.group) else {
            return;
        };
        if !self.killing_groups.insert(group) {
            return;
        }
        let others: Vec<String> = self.groups[group]
            .iter()
            .filter(|id| id.as_str() != task_id)
            .cloned()
            .collect();
        tracing::info!(
            "Killing task group containing tasks {:?}",
            self.groups[group]
        );
        for id in others {
            let grace = self.kill_grace(&id, None);
            self.kill(&id, grace);
        }
    }

    /// SHUTDOWN, or the agent is gone: every task is killed.
    fn shutdown(&mut self) {
        if self.shutting_down {
            return;
        }
        tracing::info!("Shutting down");
        self.shutting_down = true;
        let grace = self
            .env
            .shutdown_grace_period
            .saturating_sub(Duration::from_secs(1));
        let live: Vec<String> = self
            .tasks
            .iter()
            .filter(|(_, t)| !t.terminal)
            .map(|(id, _)| id.clone())
            .collect();
        for id in live {
            self.kill(&id, grace);
        }
    }

    /// Sends SIGKILL where a kill's grace period ran out.
    fn escalate(&mut self) {
        let now = Instant::now();
        for (id, task) in &mut self.tasks {
            if task.escalate_at.is_some_and(|at| at <= now) {
                task.escalate_at = None;
                if let Some(pgid) = task.pgid {
                    tracing::info!(task_id = %id, "Sending SIGKILL to process group {pgid}");
                    signal_group(pgid, libc::SIGKILL);
                }
            }
        }
    }

    fn kill_everything_now(&mut self) {
        for task in self.tasks.values() {
            if let Some(pgid) = task.pgid {
                signal_group(pgid, libc::SIGKILL);
            }
        }
    }

    fn next_escalation(&self) -> Option<Instant> {
        self.tasks.values().filter_map(|t| t.escalate_at).min()
    }

    /// Whether the executor's work is done: it ran something (or was told
    /// to stop), everything ended and every update was acknowledged.
    fn done(&self) -> bool {
        let all_terminal = self.tasks.values().all(|t| t.terminal);
        (self.shutting_down || !self.tasks.is_empty())
            && all_terminal
            && self.unacknowledged.is_empty()
    }

    fn handle(&mut self, event: Event) {
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
            Some(event::Type::LaunchGroup) => {
                if let Some(launch) = event.launch_group {
                    self.launch_group(launch.task_group);
                }
            }
            Some(event::Type::Launch) => {
                // Mesos's default executor takes task groups only.
                if let Some(launch) = event.launch {
                    let id = launch.task.task_id.value.clone();
                    tracing::error!(task_id = %id, "LAUNCH event is not supported by the default executor");
                    self.update(
                        &id,
                        v1::TaskState::TaskFailed,
                        Some("The default executor runs task groups only".into()),
                    );
                }
            }
            Some(event::Type::Kill) => {
                let kill = event.kill.unwrap_or_default();
                let id = kill.task_id.value.clone();
                let grace = self.kill_grace(&id, kill.kill_policy.as_ref());
                self.kill(&id, grace);
            }
            Some(event::Type::Acknowledged) => {
                let Some(ack) = event.acknowledged else {
                    return;
                };
                let Some(index) = self
                    .unacknowledged
                    .iter()
                    .position(|u| u.status.uuid.as_deref() == Some(&ack.uuid[..]))
                else {
                    tracing::warn!("Received acknowledgement for unknown status update");
                    return;
                };
                let update = self.unacknowledged.remove(index);
                if let Some(task) = self.tasks.get_mut(&update.status.task_id.value) {
                    task.acknowledged = true;
                }
            }
            Some(event::Type::Shutdown) => self.shutdown(),
            Some(event::Type::Error) => {
                let message = event.error.map(|e| e.message).unwrap_or_default();
                tracing::error!("Error event from agent: {message}");
            }
            Some(event::Type::Message | event::Type::Heartbeat) => {}
            Some(event::Type::Unknown) | None => tracing::warn!("Ignoring unknown event"),
        }
    }
}

/// Makes a task's sandbox, `containers/<new id>` under the executor's,
/// and the `tasks/<task id>` link to it.
fn task_sandbox(executor_sandbox: &Path, task_id: &str) -> std::io::Result<PathBuf> {
    let container_id = uuid::Uuid::new_v4().to_string();
    let sandbox = executor_sandbox
        .join(CONTAINERS_DIRECTORY)
        .join(container_id);
    std::fs::create_dir_all(&sandbox)?;
    let tasks = executor_sandbox.join(TASKS_DIRECTORY);
    std::fs::create_dir_all(&tasks)?;
    std::os::unix::fs::symlink(&sandbox, tasks.join(task_id))?;
    Ok(sandbox)
}

/// Runs the default executor until its tasks are done; returns the exit
/// code.
pub async fn run(env: ExecutorEnv) -> i32 {
    let endpoint = AgentEndpoint {
        address: env.agent.address,
        path: env.agent.path.clone(),
    };
    let (outbox, outbox_rx) = mpsc::unbounded_channel();
    tokio::spawn(sender(endpoint.clone(), outbox_rx));
    let (exits, mut exits_rx) = mpsc::unbounded_channel::<Exit>();
    let (reports, mut reports_rx) = mpsc::unbounded_channel::<Report>();
    let mut executor = DefaultExecutor {
        env,
        framework_info: None,
        tasks: BTreeMap::new(),
        groups: Vec::new(),
        killing_groups: BTreeSet::new(),
        unacknowledged: Vec::new(),
        shutting_down: false,
        all_terminal_at: None,
        outbox,
        exits,
        reports,
        unhealthy: false,
    };

    let started = Instant::now();
    let mut stream: Option<EventStream> = None;
    // Without checkpointing, losing the agent ends the executor once its
    // tasks are killed: nobody is left to acknowledge their updates.
    let mut abandoned = false;
    let mut disconnected_at: Option<Instant> = None;
    let mut reconnect_at: Option<Instant> = Some(Instant::now());
    let mut backoff = Duration::from_millis(100);

    loop {
        if executor.done() {
            tracing::info!("All tasks are terminal and acknowledged; exiting");
            return 0;
        }
        if abandoned && executor.tasks.values().all(|t| t.terminal) {
            return 1;
        }
        let ack_deadline = executor
            .all_terminal_at
            .filter(|_| !executor.unacknowledged.is_empty())
            .map(|t| t + TERMINAL_ACK_TIMEOUT);
        tokio::select! {
            event = async {
                match stream.as_mut() {
                    Some(s) => s.next().await,
                    None => std::future::pending().await,
                }
            } => {
                match event {
                    Some(Ok(event)) => executor.handle(event),
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
                    if executor.env.checkpoint {
                        disconnected_at = Some(Instant::now());
                        reconnect_at = Some(Instant::now() + backoff);
                    } else {
                        tracing::info!("Disconnected from agent; shutting down");
                        abandoned = true;
                        executor.shutdown();
                    }
                }
            }
            Some((task_id, status)) = exits_rx.recv() => executor.reaped(&task_id, status),
            Some(report) = reports_rx.recv() => executor.checked(report),
            () = sleep_until_opt(executor.next_escalation()) => executor.escalate(),
            () = sleep_until_opt(ack_deadline) => {
                tracing::error!("Did not receive ACK for the terminal status updates from the agent");
                return 1;
            }
            () = sleep_until_opt(reconnect_at) => {
                reconnect_at = None;
                match endpoint.subscribe(&executor.subscribe_call()).await {
                    Ok(s) => {
                        tracing::info!("Subscribed to agent at {}", executor.env.agent.address);
                        stream = Some(s);
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
                            executor.kill_everything_now();
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

    fn executor(sandbox: &Path) -> (DefaultExecutor, mpsc::UnboundedReceiver<Call>) {
        let sandbox = sandbox.display().to_string();
        let env = ExecutorEnv::from_lookup(|name| match name {
            "MESOS_FRAMEWORK_ID" => Some("F1".into()),
            "MESOS_EXECUTOR_ID" => Some("pod".into()),
            "MESOS_SANDBOX" => Some(sandbox.clone()),
            "MESOS_AGENT_ENDPOINT" => Some("127.0.0.1:5051".into()),
            _ => None,
        })
        .unwrap();
        let (outbox, calls) = mpsc::unbounded_channel();
        let (exits, _) = mpsc::unbounded_channel();
        let (reports, _) = mpsc::unbounded_channel();
        let executor = DefaultExecutor {
            env,
            framework_info: None,
            tasks: BTreeMap::new(),
            groups: Vec::new(),
            killing_groups: BTreeSet::new(),
            unacknowledged: Vec::new(),
            shutting_down: false,
            all_terminal_at: None,
            outbox,
            exits,
            reports,
            unhealthy: false,
        };
        (executor, calls)
    }

    fn sent(calls: &mut mpsc::UnboundedReceiver<Call>) -> Vec<(String, v1::TaskState)> {
        let mut sent = Vec::new();
        while let Ok(call) = calls.try_recv() {
            let status = call.update.unwrap().status;
            sent.push((
                status.task_id.value,
                v1::TaskState::try_from(status.state).unwrap(),
            ));
        }
        sent
    }

    #[test]
    fn a_task_that_cannot_start_takes_its_group_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let (mut executor, mut calls) = executor(dir.path());
        let task = |id: &str, command: Option<&str>| v1::TaskInfo {
            task_id: v1::TaskId { value: id.into() },
            command: command.map(|c| v1::CommandInfo {
                value: Some(c.into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        executor.launch_group(v1::TaskGroupInfo {
            tasks: vec![task("broken", None), task("sleeper", Some("sleep 1000"))],
        });
        use v1::TaskState as S;
        assert_eq!(
            sent(&mut calls),
            [
                ("broken".to_string(), S::TaskStarting),
                ("sleeper".to_string(), S::TaskStarting),
                ("broken".to_string(), S::TaskFailed),
                ("sleeper".to_string(), S::TaskKilled),
            ]
        );
        assert!(
            executor
                .tasks
                .values()
                .all(|t| t.terminal && t.pgid.is_none())
        );
        // Done once the agent has acknowledged every update.
        assert!(!executor.done());
        executor.unacknowledged.clear();
        assert!(executor.done());
    }

    #[test]
    fn task_sandboxes_are_linked_from_tasks() {
        let dir = tempfile::tempdir().unwrap();
        let sandbox = task_sandbox(dir.path(), "web").unwrap();
        assert_eq!(
            sandbox.parent().unwrap(),
            dir.path().join(CONTAINERS_DIRECTORY)
        );
        let link = dir.path().join(TASKS_DIRECTORY).join("web");
        assert_eq!(std::fs::read_link(&link).unwrap(), sandbox);
        assert!(link.is_dir());
        // A second task gets a sandbox of its own.
        let other = task_sandbox(dir.path(), "db").unwrap();
        assert_ne!(other, sandbox);
    }
}
