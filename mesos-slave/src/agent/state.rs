//! What the agent knows: frameworks, their executors, and the tasks in
//! each executor.
//!
//! ```text
//! executor:  Registering ──SUBSCRIBE or RegisterExecutorMessage──> Running ──SHUTDOWN/kill──> Terminating
//!                 │                                                   │                            │
//!                 └────────────────────── exit ───────────────────────┴────────── exit ────────────┴──> Terminated
//!
//! task:  queued (TaskInfo, before the executor subscribed or registered)
//!          ──LAUNCH event or RunTaskMessage──> launched (Task, not terminal)
//!          ──terminal update──> terminated (awaiting the master's ack)
//!          ──ack──> completed
//! ```

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;
use std::time::Instant;

use mesos::ids::{ExecutorId, FrameworkId, TaskId};
use mesos::upid::Upid;
use mesos::wire::mesos as v0;

/// Identifies one subscribed executor HTTP connection.
pub type ConnId = u64;

/// How the agent reaches a connected executor: the two executor
/// protocols Mesos speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecutorLink {
    /// Subscribed through the v1 executor HTTP API: events go on its
    /// stream.
    Http(ConnId),
    /// Registered over libprocess (libmesos's `MesosExecutorDriver`):
    /// messages go to its UPID.
    Libprocess(Upid),
}

/// How many completed executors a framework keeps (Mesos default 150).
pub const MAX_COMPLETED_EXECUTORS: usize = 150;

/// How many completed tasks an executor keeps (Mesos default 200).
pub const MAX_COMPLETED_TASKS: usize = 200;

/// How many completed frameworks the agent keeps (Mesos default 50).
pub const MAX_COMPLETED_FRAMEWORKS: usize = 50;

/// A framework with work on this agent.
#[derive(Debug, Clone)]
pub struct Framework {
    /// Its id.
    pub id: FrameworkId,
    /// As last sent by the master.
    pub info: v0::FrameworkInfo,
    /// The scheduler's libprocess address, for driver-based frameworks.
    pub pid: Option<Upid>,
    /// Shutting down: no new tasks, executors being stopped.
    pub terminating: bool,
    /// Live executors.
    pub executors: BTreeMap<ExecutorId, Executor>,
    /// Executors that ended, newest last.
    pub completed_executors: VecDeque<Executor>,
}

impl Framework {
    /// Whether the framework has the capability.
    pub fn has_capability(&self, capability: v0::framework_info::capability::Type) -> bool {
        self.info
            .capabilities
            .iter()
            .any(|c| c.r#type == Some(capability as i32))
    }

    /// Whether the framework checkpoints (its executors may reconnect).
    pub fn checkpoint(&self) -> bool {
        self.info.checkpoint.unwrap_or(false)
    }

    /// The executor running (or queued to run) a task.
    pub fn executor_of_task(&self, task_id: &TaskId) -> Option<&ExecutorId> {
        self.executors
            .iter()
            .find(|(_, e)| e.has_task(task_id))
            .map(|(id, _)| id)
    }
}

/// An executor's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutorState {
    /// Launched, not yet subscribed.
    Registering,
    /// Subscribed.
    Running,
    /// Asked to shut down, or being killed.
    Terminating,
    /// Its process ended.
    Terminated,
}

impl ExecutorState {
    /// The name Mesos prints.
    pub fn name(self) -> &'static str {
        match self {
            ExecutorState::Registering => "REGISTERING",
            ExecutorState::Running => "RUNNING",
            ExecutorState::Terminating => "TERMINATING",
            ExecutorState::Terminated => "TERMINATED",
        }
    }
}

/// Why the agent ended an executor, reported in the tasks' updates.
#[derive(Debug, Clone, PartialEq)]
pub struct Termination {
    /// The state its live tasks end in.
    pub state: v0::TaskState,
    /// The reason given.
    pub reason: v0::task_status::Reason,
    /// The message given.
    pub message: String,
    /// The resources whose limit the container hit, for a limitation
    /// (`TaskStatus.limitation`).
    pub limited_resources: Vec<v0::Resource>,
}

impl Termination {
    /// Whether the container was ended for exceeding a limit: its tasks
    /// end with that reason even when the executor reports first.
    pub fn is_limitation(&self) -> bool {
        use v0::task_status::Reason;
        matches!(
            self.reason,
            Reason::ContainerLimitation
                | Reason::ContainerLimitationMemory
                | Reason::ContainerLimitationDisk
        )
    }
}

/// One executor run.
#[derive(Debug, Clone)]
pub struct Executor {
    /// Its id.
    pub id: ExecutorId,
    /// As launched.
    pub info: v0::ExecutorInfo,
    /// This run's container id (names the sandbox).
    pub container_id: String,
    /// The sandbox.
    pub directory: PathBuf,
    /// Lifecycle state.
    pub state: ExecutorState,
    /// Made by the agent for a command task.
    pub command_executor: bool,
    /// How to reach it, once subscribed or registered.
    pub link: Option<ExecutorLink>,
    /// Tasks waiting for the executor to subscribe, in arrival order
    /// (those of task groups too).
    pub queued: Vec<v0::TaskInfo>,
    /// Which queued tasks arrived together as a task group, delivered
    /// together (`LAUNCH_GROUP`) and killed together.
    pub queued_groups: Vec<Vec<TaskId>>,
    /// Tasks delivered to the executor and not terminal.
    pub launched: BTreeMap<TaskId, v0::Task>,
    /// Terminal tasks whose terminal update the master has not acked.
    pub terminated: BTreeMap<TaskId, v0::Task>,
    /// Acknowledged terminal tasks, newest last.
    pub completed: VecDeque<v0::Task>,
    /// Tasks the framework asked to kill.
    pub kill_requested: BTreeSet<TaskId>,
    /// When the executor is killed if it has not subscribed.
    pub registration_deadline: Option<Instant>,
    /// When the executor is killed after being asked to shut down.
    pub destroy_at: Option<Instant>,
    /// Why the agent is ending it, if it is.
    pub termination: Option<Termination>,
    /// Recovered after a restart with the UPID it had registered from:
    /// asked to reconnect there.
    pub recovered_pid: Option<Upid>,
}

impl Executor {
    /// The libprocess address of an executor registered over libprocess.
    pub fn pid(&self) -> Option<&Upid> {
        match &self.link {
            Some(ExecutorLink::Libprocess(pid)) => Some(pid),
            _ => None,
        }
    }

    /// Whether the agent has ever handed the executor a task (Mesos
    /// `everSentTask`).
    pub fn ever_sent_task(&self) -> bool {
        !self.launched.is_empty() || !self.terminated.is_empty() || !self.completed.is_empty()
    }

    /// Whether the executor holds the task in any state but completed.
    pub fn has_task(&self, task_id: &TaskId) -> bool {
        self.launched.contains_key(task_id)
            || self.terminated.contains_key(task_id)
            || self
                .queued
                .iter()
                .any(|t| TaskId::from(&t.task_id) == *task_id)
    }

    /// Takes the queued tasks for delivery, single tasks and groups in
    /// arrival order.
    pub fn take_queued(&mut self) -> Vec<Pending> {
        let groups = std::mem::take(&mut self.queued_groups);
        let mut pending: Vec<Pending> = Vec::new();
        let mut placed: BTreeMap<usize, usize> = BTreeMap::new();
        for task in std::mem::take(&mut self.queued) {
            let task_id = TaskId::from(&task.task_id);
            match groups.iter().position(|g| g.contains(&task_id)) {
                Some(group) => match placed.get(&group) {
                    Some(&index) => {
                        if let Pending::Group(tasks) = &mut pending[index] {
                            tasks.push(task);
                        }
                    }
                    None => {
                        placed.insert(group, pending.len());
                        pending.push(Pending::Group(vec![task]));
                    }
                },
                None => pending.push(Pending::Task(Box::new(task))),
            }
        }
        pending
    }

    /// The ids of the queued group holding `task_id` (just `task_id` when
    /// it came alone).
    pub fn queued_group_of(&self, task_id: &TaskId) -> Vec<TaskId> {
        self.queued_groups
            .iter()
            .find(|g| g.contains(task_id))
            .cloned()
            .unwrap_or_else(|| vec![task_id.clone()])
    }

    /// Whether nothing is left to track: no queued, live or unacked task.
    pub fn is_idle(&self) -> bool {
        self.queued.is_empty() && self.launched.is_empty() && self.terminated.is_empty()
    }
}

/// Work for an executor that has not subscribed yet.
#[derive(Debug, Clone, PartialEq)]
pub enum Pending {
    /// A task (`RunTaskMessage`).
    Task(Box<v0::TaskInfo>),
    /// The tasks of a task group (`RunTaskGroupMessage`).
    Group(Vec<v0::TaskInfo>),
}

impl Pending {
    /// Its tasks.
    pub fn tasks(&self) -> &[v0::TaskInfo] {
        match self {
            Pending::Task(task) => std::slice::from_ref(&**task),
            Pending::Group(tasks) => tasks,
        }
    }
}

/// Makes the `Task` the agent tracks from a `TaskInfo` (Mesos
/// `protobuf::createTask`).
pub fn create_task(
    info: &v0::TaskInfo,
    state: v0::TaskState,
    framework_id: &v0::FrameworkId,
) -> v0::Task {
    v0::Task {
        name: info.name.clone(),
        task_id: info.task_id.clone(),
        framework_id: framework_id.clone(),
        executor_id: info.executor.as_ref().map(|e| e.executor_id.clone()),
        slave_id: info.slave_id.clone(),
        state: state as i32,
        resources: info.resources.clone(),
        labels: info.labels.clone(),
        discovery: info.discovery.clone(),
        container: info.container.clone(),
        health_check: info.health_check.clone(),
        kill_policy: info.kill_policy,
        user: info.command.as_ref().and_then(|c| c.user.clone()),
        limits: info.limits.clone(),
        ..Default::default()
    }
}
