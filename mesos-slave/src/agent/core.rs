//! The agent's state machine: messages from the master and from
//! libprocess executors, v1 executor API calls, process exits and the
//! passing of time go in; the messages, launches, kills and executor events
//! to carry out come out as [`Effect`]s. No I/O, no clock of its own: time
//! is an argument. Executors speak either protocol (`executor_api` for the
//! v1 HTTP API, `executor_driver` for libmesos's `MesosExecutorDriver`);
//! the rest of the core reaches them through their [`ExecutorLink`].
//!
//! ```text
//! Disconnected ──SlaveRegistered/SlaveReregistered──> Running
//!      ^                                                 │
//!      └──── no ping within the ping timeout, or ────────┘
//!            a ping saying the master lost us
//! ```

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::StatusCode;
use mesos::ids::{ExecutorId, FrameworkId, TaskId};
use mesos::upid::Upid;
use mesos::wire::mesos as v0;
use mesos::wire::mesos::internal as msg;
use mesos::wire::mesos::v1::executor as v1e;
use prost::Message;
use prost_reflect::ReflectMessage;

use super::state::{
    ConnId, Executor, ExecutorLink, ExecutorState, Framework, MAX_COMPLETED_EXECUTORS,
    MAX_COMPLETED_FRAMEWORKS, MAX_COMPLETED_TASKS, Pending, Termination, create_task,
};
use crate::config::AgentConfig;
use crate::containerizer::{self, ContainerLimits, ExecutorEnvironment, LaunchSpec};
use crate::paths;
use crate::status_update::{StatusUpdateManager, is_terminal};

mod executor_api;
mod executor_driver;
pub mod recovery;
#[cfg(test)]
mod recovery_tests;
#[cfg(test)]
mod tests;

/// Mesos's `REGISTER_RETRY_INTERVAL_MAX`.
const REGISTER_RETRY_INTERVAL_MAX: Duration = Duration::from_secs(60);

/// The ping timeout when the master does not say (15 s x 5).
const DEFAULT_MASTER_PING_TIMEOUT: Duration = Duration::from_secs(75);

/// The agent's `--recovery_timeout` default, told to executors.
const RECOVERY_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// The version the agent reports.
pub const VERSION: &str = "1.11.0";

/// Something the runtime must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Send a libprocess message.
    Send {
        /// The receiver.
        to: Upid,
        /// The message name (full protobuf name).
        name: String,
        /// The serialized message.
        body: Bytes,
    },
    /// Watch the connection to a peer.
    Link(Upid),
    /// Create the sandbox and start an executor.
    Launch(Box<LaunchSpec>),
    /// Change what a running container may use (a task was added).
    Update {
        /// The container.
        container_id: String,
        /// Its new limits.
        limits: ContainerLimits,
    },
    /// Kill everything in an executor's container.
    Destroy {
        /// The container to kill.
        container_id: String,
    },
    /// Send an event on an executor's stream.
    ToExecutor {
        /// The stream.
        conn: ConnId,
        /// The event.
        event: Box<v1e::Event>,
    },
    /// End an executor's stream.
    CloseExecutor {
        /// The stream.
        conn: ConnId,
    },
    /// The master told the agent to shut down; executors are being killed.
    Terminate,
    /// Schedule these directories (of an ended executor run, executor or
    /// framework) for removal after `--gc_delay`.
    GarbageCollect(Vec<PathBuf>),
    /// Keep these directories: a new executor uses them again.
    Unschedule(Vec<PathBuf>),
    /// Write to the checkpoint under `<work_dir>/meta`.
    Checkpoint {
        /// The agent whose checkpoint it is.
        agent_id: String,
        /// What to write.
        checkpoint: Box<crate::checkpoint::Checkpoint>,
    },
}

/// An HTTP answer to an executor call that is not a success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    /// The status code.
    pub status: StatusCode,
    /// The body text.
    pub message: String,
}

fn call_error(status: StatusCode, message: impl Into<String>) -> CallError {
    CallError {
        status,
        message: message.into(),
    }
}

/// Who produced a status update.
#[derive(Debug, Clone)]
enum UpdateSource {
    /// The agent itself (`SOURCE_SLAVE`).
    Agent,
    /// An executor, acknowledged on its stream or at its UPID, if it has
    /// one.
    Executor(Option<ExecutorLink>),
}

/// The agent's connection to its master.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentState {
    /// Not registered; registration attempts are under way.
    Disconnected,
    /// Registered.
    Running,
    /// Shutting down.
    Terminating,
}

/// The agent.
#[derive(Debug)]
pub struct AgentCore {
    pub(crate) config: AgentConfig,
    /// Our own address.
    pub(crate) pid: Upid,
    /// Sent to the master; `id` set once registered.
    pub(crate) info: v0::SlaveInfo,
    pub(crate) state: AgentState,
    /// The master we register with (the sender of the last registration).
    pub(crate) master: Upid,
    /// When the next registration attempt goes out.
    registration_at: Option<Instant>,
    /// The bound of the next random registration delay.
    registration_backoff: Duration,
    /// When the master counts as lost for want of pings.
    ping_deadline: Option<Instant>,
    ping_timeout: Duration,
    pub(crate) frameworks: BTreeMap<FrameworkId, Framework>,
    pub(crate) completed_frameworks: VecDeque<Framework>,
    updates: StatusUpdateManager,
    rng: u64,
    effects: Vec<Effect>,
    /// Seconds since the epoch at start, for `/state`.
    pub(crate) start_time: f64,
    /// Counters behind `/metrics/snapshot`.
    pub(crate) metrics: super::metrics::AgentMetrics,
    /// While recovering: when recovered executors that have not
    /// reconnected are killed and registration starts.
    recovery_deadline: Option<Instant>,
    /// Whether there is a master to register with (ZooKeeper detection
    /// may not have found one yet).
    master_known: bool,
    /// `--recover=cleanup` has asked the runtime to stop.
    cleanup_done: bool,
}

/// Spreads a seed over all bits, so nearby seeds give unrelated sequences.
fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn sample_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn uuid_bytes() -> Bytes {
    Bytes::copy_from_slice(uuid::Uuid::new_v4().as_bytes())
}

fn wall_clock_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl AgentCore {
    /// An agent at `pid`, not yet registered. `start_time` is the wall
    /// clock in seconds since the epoch.
    pub fn new(config: AgentConfig, pid: Upid, start_time: f64) -> AgentCore {
        let info = AgentCore::agent_info(&config, pid.address.port());
        AgentCore {
            recovery_deadline: None,
            master_known: config.master_zk.is_none(),
            cleanup_done: false,
            master: config.master.clone(),
            registration_backoff: config.registration_backoff_factor,
            rng: splitmix64(config.seed) | 1,
            config,
            pid,
            info,
            state: AgentState::Disconnected,
            registration_at: None,
            ping_deadline: None,
            ping_timeout: DEFAULT_MASTER_PING_TIMEOUT,
            frameworks: BTreeMap::new(),
            completed_frameworks: VecDeque::new(),
            updates: StatusUpdateManager::new(),
            effects: Vec::new(),
            start_time,
            metrics: Default::default(),
        }
    }

    /// The `SlaveInfo` an agent with `config` listening on `port` sends
    /// (no id yet).
    pub fn agent_info(config: &AgentConfig, port: u16) -> v0::SlaveInfo {
        v0::SlaveInfo {
            hostname: config.hostname.clone(),
            port: Some(i32::from(port)),
            resources: config.resources.clone(),
            attributes: config.attributes.clone(),
            checkpoint: Some(true),
            ..Default::default()
        }
    }

    /// The agent id, once registered.
    pub fn agent_id(&self) -> Option<&str> {
        self.info.id.as_ref().map(|id| id.value.as_str())
    }

    /// The connection state.
    pub fn state(&self) -> AgentState {
        self.state
    }

    /// Takes the effects produced so far.
    pub fn drain(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    fn send<M: Message + ReflectMessage>(&mut self, to: &Upid, message: &M) {
        self.effects.push(Effect::Send {
            to: to.clone(),
            name: message.descriptor().full_name().to_string(),
            body: Bytes::from(message.encode_to_vec()),
        });
    }

    fn send_event(&mut self, conn: ConnId, event: v1e::Event) {
        self.effects.push(Effect::ToExecutor {
            conn,
            event: Box::new(event),
        });
    }

    /// Sends `message` to an executor registered over libprocess, or its
    /// v1 twin (made by `event`) on a subscribed executor's stream.
    fn send_to_executor<M: Message + ReflectMessage>(
        &mut self,
        link: &ExecutorLink,
        message: M,
        event: impl FnOnce(M) -> v1e::Event,
    ) {
        match link {
            ExecutorLink::Http(conn) => {
                let event = event(message);
                self.send_event(*conn, event);
            }
            ExecutorLink::Libprocess(pid) => self.send(pid, &message),
        }
    }

    /// A uniform random fraction in [0, 1), from a seeded xorshift.
    fn random(&mut self) -> f64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Starts registering: the first attempt after a random delay within
    /// `--registration_backoff_factor`.
    pub fn start(&mut self, now: Instant) {
        self.registration_backoff = self.config.registration_backoff_factor;
        let delay = self.registration_backoff.mul_f64(self.random());
        self.registration_at = Some(now + delay);
        tracing::info!(master = %self.master, "Will register with the master in {delay:?}");
    }

    /// The earliest time [`AgentCore::tick`] has work.
    pub fn next_deadline(&self) -> Option<Instant> {
        let executors = self.frameworks.values().flat_map(|f| f.executors.values());
        let executor_deadlines = executors.flat_map(|e| [e.registration_deadline, e.destroy_at]);
        [
            self.recovery_deadline,
            self.registration_at,
            self.ping_deadline,
            self.updates.next_deadline(),
        ]
        .into_iter()
        .chain(executor_deadlines)
        .flatten()
        .min()
    }

    /// Runs what is due at `now`: registration retries, the ping timeout,
    /// status update resends, executor timeouts.
    pub fn tick(&mut self, now: Instant) {
        if self.recovery_deadline.is_some_and(|at| at <= now) {
            self.finish_recovery(now);
        }
        if self.registration_at.is_some_and(|at| at <= now) {
            self.register(now);
        }
        if self.ping_deadline.is_some_and(|at| at <= now) {
            tracing::info!(
                "No pings from master received within {:?}",
                self.ping_timeout
            );
            self.lose_master(now);
        }
        for update in self.updates.tick(now) {
            self.forward(update);
        }
        let mut expired = Vec::new();
        let mut destroy = Vec::new();
        for (fid, framework) in &self.frameworks {
            for (eid, executor) in &framework.executors {
                if executor.registration_deadline.is_some_and(|at| at <= now) {
                    expired.push((fid.clone(), eid.clone()));
                }
                if executor.destroy_at.is_some_and(|at| at <= now) {
                    destroy.push((fid.clone(), eid.clone()));
                }
            }
        }
        for (fid, eid) in expired {
            self.registration_timeout(&fid, &eid);
        }
        for (fid, eid) in destroy {
            if let Some(executor) = self.executor_mut(&fid, &eid) {
                executor.destroy_at = None;
                let container_id = executor.container_id.clone();
                tracing::info!(executor_id = %eid, "Killing executor that did not shut down in time");
                self.effects.push(Effect::Destroy { container_id });
            }
        }
    }

    fn register(&mut self, now: Instant) {
        if self.state != AgentState::Disconnected || self.recovering() {
            self.registration_at = None;
            return;
        }
        let master = self.master.clone();
        self.effects.push(Effect::Link(master.clone()));
        let capabilities = [
            v0::slave_info::capability::Type::MultiRole,
            v0::slave_info::capability::Type::HierarchicalRole,
            v0::slave_info::capability::Type::ReservationRefinement,
        ]
        .into_iter()
        .map(|t| v0::slave_info::Capability {
            r#type: Some(t as i32),
        })
        .collect();
        if self.info.id.is_none() {
            let message = msg::RegisterSlaveMessage {
                slave: self.info.clone(),
                checkpointed_resources: Vec::new(),
                version: Some(VERSION.into()),
                agent_capabilities: capabilities,
                resource_version_uuid: None,
            };
            tracing::info!(master = %master, "Registering with master");
            self.send(&master, &message);
        } else {
            let message = self.reregister_message(capabilities);
            tracing::info!(master = %master, "Re-registering with master");
            self.send(&master, &message);
        }
        self.registration_backoff = self.registration_backoff.min(REGISTER_RETRY_INTERVAL_MAX);
        let delay = self.registration_backoff.mul_f64(self.random());
        self.registration_backoff *= 2;
        self.registration_at = Some(now + delay.max(Duration::from_millis(1)));
    }

    fn reregister_message(
        &self,
        capabilities: Vec<v0::slave_info::Capability>,
    ) -> msg::ReregisterSlaveMessage {
        let mut message = msg::ReregisterSlaveMessage {
            slave: self.info.clone(),
            version: Some(VERSION.into()),
            agent_capabilities: capabilities,
            ..Default::default()
        };
        for framework in self.frameworks.values() {
            message.frameworks.push(framework.info.clone());
            let fid = framework.id.to_v0();
            for executor in framework.executors.values() {
                message.tasks.extend(executor.launched.values().cloned());
                message.tasks.extend(executor.terminated.values().cloned());
                for task in &executor.queued {
                    message
                        .tasks
                        .push(create_task(task, v0::TaskState::TaskStaging, &fid));
                }
                if !executor.command_executor && executor.state != ExecutorState::Terminated {
                    message.executor_infos.push(executor.info.clone());
                }
            }
        }
        message
    }

    fn lose_master(&mut self, now: Instant) {
        self.ping_deadline = None;
        if self.state == AgentState::Running {
            self.state = AgentState::Disconnected;
            self.updates.pause();
            self.start(now);
        }
    }

    /// ZooKeeper detection says who leads now (`None`: nobody). A new
    /// leader is registered (or re-registered) with; losing the leader
    /// stops registration attempts until one is detected.
    pub fn master_detected(&mut self, master: Option<Upid>, now: Instant) {
        if self.state == AgentState::Terminating {
            return;
        }
        match master {
            Some(master) => {
                tracing::info!(master = %master, "New master detected at {master}");
                self.master = master;
                self.master_known = true;
                self.ping_deadline = None;
                if self.state == AgentState::Running {
                    self.state = AgentState::Disconnected;
                    self.updates.pause();
                }
                self.start(now);
            }
            None => {
                tracing::warn!("Lost leading master");
                self.master_known = false;
                self.ping_deadline = None;
                self.registration_at = None;
                if self.state == AgentState::Running {
                    self.state = AgentState::Disconnected;
                    self.updates.pause();
                }
            }
        }
    }

    /// A libprocess message arrived. One that does not decode, or lacks a
    /// required field, is dropped, as the C++ parser Mesos uses refuses it
    /// (prost alone would fill it in: an empty `SlaveRegisteredMessage`
    /// would register the agent under an empty id).
    pub fn message(&mut self, from: &Upid, name: &str, body: &[u8], now: Instant) {
        fn decode<M>(name: &str, body: &[u8]) -> Option<M>
        where
            M: Message + prost_reflect::ReflectMessage + Default,
        {
            match mesos::wire::decode_checked(body) {
                Ok(m) => Some(m),
                Err(e) => {
                    tracing::warn!("Dropping malformed {name}: {e}");
                    None
                }
            }
        }
        let short = name.strip_prefix("mesos.internal.").unwrap_or(name);
        // As in Mesos, what launches, kills or stops is taken only from the
        // master the agent registered with (acknowledgements also come
        // from old scheduler drivers, so only other masters' are dropped):
        // a stray peer must not disturb executors or tasks.
        let master_only = matches!(
            short,
            "RunTaskMessage"
                | "RunTaskGroupMessage"
                | "KillTaskMessage"
                | "ShutdownFrameworkMessage"
                | "ShutdownExecutorMessage"
                | "ShutdownMessage"
        ) || (short == "StatusUpdateAcknowledgementMessage"
            && from.id.starts_with("master"));
        if master_only && *from != self.master {
            tracing::warn!(
                "Ignoring {short} from {from} because it is not the expected master: {}",
                self.master
            );
            return;
        }
        match short {
            "SlaveRegisteredMessage" => {
                if let Some(m) = decode::<msg::SlaveRegisteredMessage>(name, body) {
                    self.registered(from, m.slave_id, m.connection, Vec::new(), now);
                }
            }
            "SlaveReregisteredMessage" => {
                if let Some(m) = decode::<msg::SlaveReregisteredMessage>(name, body) {
                    self.registered(from, m.slave_id, m.connection, m.reconciliations, now);
                }
            }
            "PingSlaveMessage" => {
                if let Some(m) = decode::<msg::PingSlaveMessage>(name, body) {
                    self.ping(from, m.connected, now);
                }
            }
            "RunTaskMessage" => {
                if let Some(m) = decode::<msg::RunTaskMessage>(name, body) {
                    self.run_task(from, m, now);
                }
            }
            "RunTaskGroupMessage" => {
                if let Some(m) = decode::<msg::RunTaskGroupMessage>(name, body) {
                    self.run_task_group(m, now);
                }
            }
            "KillTaskMessage" => {
                if let Some(m) = decode::<msg::KillTaskMessage>(name, body) {
                    self.kill_task(m, now);
                }
            }
            "ShutdownFrameworkMessage" => {
                if let Some(m) = decode::<msg::ShutdownFrameworkMessage>(name, body) {
                    self.shutdown_framework(&FrameworkId::from(&m.framework_id), now);
                }
            }
            "ShutdownExecutorMessage" => {
                if let Some(m) = decode::<msg::ShutdownExecutorMessage>(name, body) {
                    if let (Some(fid), Some(eid)) = (m.framework_id, m.executor_id) {
                        let (fid, eid) = (FrameworkId::from(&fid), ExecutorId::from(&eid));
                        self.shutdown_executor(&fid, &eid, now);
                    }
                }
            }
            "UpdateFrameworkMessage" => {
                if let Some(m) = decode::<msg::UpdateFrameworkMessage>(name, body) {
                    let fid = FrameworkId::from(&m.framework_id);
                    if let Some(framework) = self.frameworks.get_mut(&fid) {
                        if let Some(info) = m.framework_info {
                            framework.info = info;
                        }
                        framework.pid = m.pid.and_then(|p| p.parse().ok());
                        tracing::info!(framework_id = %fid, "Updated framework");
                        self.checkpoint_framework(&fid);
                    }
                }
            }
            "StatusUpdateAcknowledgementMessage" => {
                if let Some(m) = decode::<msg::StatusUpdateAcknowledgementMessage>(name, body) {
                    self.acknowledgement(m, now);
                }
            }
            "FrameworkToExecutorMessage" => {
                if let Some(m) = decode::<msg::FrameworkToExecutorMessage>(name, body) {
                    self.framework_message(m);
                }
            }
            "RegisterExecutorMessage" => {
                if let Some(m) = decode::<msg::RegisterExecutorMessage>(name, body) {
                    self.register_executor(from, m, now);
                }
            }
            "ReregisterExecutorMessage" => {
                if let Some(m) = decode::<msg::ReregisterExecutorMessage>(name, body) {
                    self.reregister_executor(from, m, now);
                }
            }
            "StatusUpdateMessage" => {
                if let Some(m) = decode::<msg::StatusUpdateMessage>(name, body) {
                    self.executor_status_update(from, m, now);
                }
            }
            "ExecutorToFrameworkMessage" => {
                if let Some(m) = decode::<msg::ExecutorToFrameworkMessage>(name, body) {
                    self.executor_message(from, m);
                }
            }
            "ShutdownMessage" => {
                tracing::info!(master = %from, "Agent asked to shut down by the master");
                self.shutdown(now);
                self.effects.push(Effect::Terminate);
            }
            _ => tracing::warn!("Dropping unsupported message {name} from {from}"),
        }
    }

    /// The link to a peer broke.
    pub fn exited(&mut self, pid: &Upid) {
        if *pid == self.master {
            tracing::warn!("Master disconnected! Waiting for a new master to be elected");
            return;
        }
        // As in Mesos, a libprocess executor's broken link changes nothing:
        // its process ending is what ends it.
        let link = Some(ExecutorLink::Libprocess(pid.clone()));
        let executor = self
            .frameworks
            .values()
            .flat_map(|f| f.executors.values())
            .find(|e| e.link == link);
        if let Some(executor) = executor {
            tracing::info!(executor_id = %executor.id, "Got exited event for executor at {pid}");
        }
    }

    fn registered(
        &mut self,
        from: &Upid,
        slave_id: v0::SlaveId,
        connection: Option<msg::MasterSlaveConnection>,
        reconciliations: Vec<msg::ReconcileTasksMessage>,
        now: Instant,
    ) {
        if *from != self.master {
            tracing::info!(master = %from, "Registration answered by {from}; using it as the master");
            self.master = from.clone();
        }
        self.ping_timeout = connection
            .and_then(|c| c.total_ping_timeout_seconds)
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
            .filter(|d| !d.is_zero() && *d <= Duration::from_secs(365 * 86400))
            .unwrap_or(DEFAULT_MASTER_PING_TIMEOUT);
        match self.state {
            AgentState::Disconnected => {
                if let Some(id) = &self.info.id {
                    if *id != slave_id {
                        tracing::error!(
                            "Registered with a new agent id {} (was {})",
                            slave_id.value,
                            id.value
                        );
                    }
                }
                tracing::info!(agent_id = %slave_id.value, master = %self.master, "Registered with master");
                self.info.id = Some(slave_id);
                self.state = AgentState::Running;
                self.registration_at = None;
                self.ping_deadline = Some(now + self.ping_timeout);
                self.checkpoint(crate::checkpoint::Checkpoint::Agent(Box::new(
                    self.info.clone(),
                )));
                for update in self.updates.resume(now) {
                    self.forward(update);
                }
                self.reconcile(reconciliations, now);
            }
            AgentState::Running => tracing::warn!("Already registered with master {}", self.master),
            AgentState::Terminating => {
                tracing::warn!("Ignoring registration because agent is terminating")
            }
        }
    }

    fn ping(&mut self, from: &Upid, connected: bool, now: Instant) {
        if !connected && self.state == AgentState::Running {
            tracing::info!(
                "Master marked the agent as disconnected but the agent considers itself \
                 registered! Forcing re-registration"
            );
            self.lose_master(now);
        }
        if self.state == AgentState::Running {
            self.ping_deadline = Some(now + self.ping_timeout);
        }
        self.send(from, &msg::PongSlaveMessage {});
    }

    fn run_task(&mut self, from: &Upid, message: msg::RunTaskMessage, now: Instant) {
        let task = message.task;
        let task_id = TaskId::from(&task.task_id);
        let Some(fid_wire) = message.framework.id.clone() else {
            tracing::warn!(task_id = %task_id, "Dropping task of a framework without an id");
            return;
        };
        let fid = FrameworkId::from(&fid_wire);
        if self.state != AgentState::Running {
            tracing::warn!(task_id = %task_id, "Ignoring task from {from}: agent is not registered");
            return;
        }
        tracing::info!(task_id = %task_id, framework_id = %fid, "Got assigned task");
        let framework = self
            .frameworks
            .entry(fid.clone())
            .or_insert_with(|| Framework {
                id: fid.clone(),
                info: message.framework.clone(),
                pid: None,
                terminating: false,
                executors: BTreeMap::new(),
                completed_executors: VecDeque::new(),
            });
        framework.info = message.framework.clone();
        if let Some(pid) = message.pid.as_deref().and_then(|p| p.parse().ok()) {
            framework.pid = Some(pid);
        }
        if framework.terminating {
            self.agent_update(
                &fid,
                &task,
                None,
                v0::TaskState::TaskLost,
                v0::task_status::Reason::FrameworkRemoved,
                "Framework is terminating".into(),
                now,
            );
            return;
        }
        let partition_aware =
            framework.has_capability(v0::framework_info::capability::Type::PartitionAware);
        let invalid = |reason: &str| Some(reason.to_string());
        let problem = if !paths::is_safe_component(&task.task_id.value) {
            invalid("Task id is not a valid path component")
        } else if self
            .frameworks
            .values()
            .any(|f| f.executor_of_task(&task_id).is_some())
        {
            invalid("Task has duplicate ID")
        } else {
            None
        };
        if let Some(problem) = problem {
            self.agent_update(
                &fid,
                &task,
                None,
                v0::TaskState::TaskError,
                v0::task_status::Reason::TaskInvalid,
                problem,
                now,
            );
            return;
        }

        let command_executor = task.executor.is_none();
        let executor_info = match &task.executor {
            Some(executor) => {
                let mut executor = executor.clone();
                executor.framework_id.get_or_insert(fid_wire.clone());
                executor
            }
            None => containerizer::command_executor_info(
                &message.framework,
                &task,
                &self.config.launcher_dir,
            ),
        };
        let eid = ExecutorId::from(&executor_info.executor_id);
        let lost_state = if partition_aware {
            v0::TaskState::TaskDropped
        } else {
            v0::TaskState::TaskLost
        };
        let existing = self
            .frameworks
            .get(&fid)
            .and_then(|f| f.executors.get(&eid))
            .map(|e| (e.state, e.link.clone()));
        match existing {
            Some((ExecutorState::Registering, _)) => {
                self.checkpoint_tasks(&fid, &eid, std::slice::from_ref(&task));
                if let Some(executor) = self.executor_mut(&fid, &eid) {
                    executor.queued.push(task);
                }
            }
            Some((ExecutorState::Running, link)) => {
                self.checkpoint_tasks(&fid, &eid, std::slice::from_ref(&task));
                self.add_to_running_executor(&fid, &eid, std::slice::from_ref(&task));
                if let Some(link) = link {
                    self.deliver_task(&fid, &link, task);
                }
            }
            Some((state, _)) => {
                let message = format!("Executor is {}", state.name());
                self.agent_update(
                    &fid,
                    &task,
                    Some(&eid),
                    lost_state,
                    v0::task_status::Reason::ExecutorTerminated,
                    message,
                    now,
                );
            }
            None if message.launch_executor == Some(false) => {
                self.agent_update(
                    &fid,
                    &task,
                    Some(&eid),
                    lost_state,
                    v0::task_status::Reason::ExecutorTerminated,
                    "No executor to run the task on".into(),
                    now,
                );
            }
            None => self.launch_executor(
                &fid,
                executor_info,
                command_executor,
                Pending::Task(Box::new(task)),
                now,
            ),
        }
    }

    fn launch_executor(
        &mut self,
        fid: &FrameworkId,
        info: v0::ExecutorInfo,
        command_executor: bool,
        pending: Pending,
        now: Instant,
    ) {
        let eid = ExecutorId::from(&info.executor_id);
        let agent_id = self.agent_id().unwrap_or_default().to_string();
        if !paths::is_safe_component(eid.as_str()) || !paths::is_safe_component(fid.as_str()) {
            let reason = match pending {
                Pending::Task(_) => v0::task_status::Reason::TaskInvalid,
                Pending::Group(_) => v0::task_status::Reason::TaskGroupInvalid,
            };
            for task in pending.tasks() {
                self.agent_update(
                    fid,
                    task,
                    Some(&eid),
                    v0::TaskState::TaskError,
                    reason,
                    "Executor or framework id is not a valid path component".into(),
                    now,
                );
            }
            return;
        }
        // Directories scheduled for removal stay: they are used again.
        self.effects.push(Effect::Unschedule(vec![
            paths::framework_dir(&self.config.work_dir, &agent_id, fid.as_str()),
            paths::executor_dir(&self.config.work_dir, &agent_id, fid.as_str(), eid.as_str()),
        ]));
        let container_id = sample_id();
        let directory = paths::sandbox_dir(
            &self.config.work_dir,
            &agent_id,
            fid.as_str(),
            eid.as_str(),
            &container_id,
        );
        let checkpoint = self.frameworks.get(fid).is_some_and(Framework::checkpoint);
        let agent_vars = containerizer::executor_environment(&ExecutorEnvironment {
            executor: &info,
            directory: &directory,
            agent_id: &agent_id,
            agent_pid: &self.pid,
            checkpoint,
            shutdown_grace_period: self.config.executor_shutdown_grace_period,
            recovery_timeout: RECOVERY_TIMEOUT,
            subscription_backoff_max: self.config.executor_reregistration_timeout,
        });
        // The default executor brings no command: the agent runs its own.
        let mut command = if info.r#type == Some(v0::executor_info::Type::Default as i32) {
            containerizer::default_executor_command(&self.config.launcher_dir)
        } else {
            info.command.clone().unwrap_or_default()
        };
        if containerizer::docker::wants_docker(info.container.as_ref()) {
            let refusal = match &self.config.docker {
                None => Some(format!(
                    "None of the enabled containerizers ({}) could create a container \
                     for the provided TaskInfo/ExecutorInfo message",
                    self.config
                        .flags
                        .get("containerizers")
                        .map_or("mesos", String::as_str)
                )),
                Some(_) if !command_executor => Some(
                    "The Docker containerizer runs only command tasks; custom executors \
                     in Docker containers are not supported yet"
                        .to_string(),
                ),
                Some(docker) => {
                    command = containerizer::docker::executor_command(
                        docker,
                        &self.config.launcher_dir,
                        &container_id,
                        &directory,
                        &command,
                    );
                    None
                }
            };
            if let Some(message) = refusal {
                tracing::error!(executor_id = %eid, framework_id = %fid, "{message}");
                for task in pending.tasks() {
                    self.agent_update(
                        fid,
                        task,
                        Some(&eid),
                        v0::TaskState::TaskFailed,
                        v0::task_status::Reason::ContainerLaunchFailed,
                        message.clone(),
                        now,
                    );
                }
                return;
            }
        }
        let environment = containerizer::full_environment(
            self.config.libprocess_ip,
            self.config.executor_environment_variables.as_ref(),
            agent_vars,
            &command,
        );
        tracing::info!(executor_id = %eid, framework_id = %fid, container_id, "Launching executor");
        let limits = ContainerLimits::compute(
            &info.resources,
            pending
                .tasks()
                .iter()
                .map(|t| (&t.resources[..], &t.limits)),
            self.config.containerizer.cgroups.enable_cfs,
        );
        self.effects.push(Effect::Launch(Box::new(LaunchSpec {
            container_id: container_id.clone(),
            framework_id: fid.as_str().to_string(),
            executor_id: eid.as_str().to_string(),
            limits,
            sandbox: directory.clone(),
            command,
            environment,
        })));
        let executor = Executor {
            id: eid.clone(),
            info,
            container_id,
            directory,
            state: ExecutorState::Registering,
            command_executor,
            link: None,
            queued_groups: match &pending {
                Pending::Task(_) => Vec::new(),
                Pending::Group(tasks) => {
                    vec![tasks.iter().map(|t| TaskId::from(&t.task_id)).collect()]
                }
            },
            queued: pending.tasks().to_vec(),
            launched: BTreeMap::new(),
            terminated: BTreeMap::new(),
            completed: VecDeque::new(),
            kill_requested: Default::default(),
            registration_deadline: Some(now + self.config.executor_registration_timeout),
            destroy_at: None,
            termination: None,
            recovered_pid: None,
        };
        let tasks = executor.queued.clone();
        let checkpoint = crate::checkpoint::Checkpoint::Executor {
            framework_id: fid.clone(),
            info: Box::new(executor.info.clone()),
            container_id: executor.container_id.clone(),
            command_executor,
        };
        if let Some(framework) = self.frameworks.get_mut(fid) {
            framework.executors.insert(eid.clone(), executor);
        }
        if self.checkpointing(fid) {
            // Before the launch: a restarted agent must know the run.
            let launch = self
                .effects
                .iter()
                .rposition(|e| matches!(e, Effect::Launch(_)))
                .unwrap_or(self.effects.len());
            let launched = self.effects.split_off(launch);
            self.checkpoint_framework(fid);
            self.checkpoint(checkpoint);
            self.checkpoint_tasks(fid, &eid, &tasks);
            self.effects.extend(launched);
        }
    }

    /// `RunTaskGroupMessage`: the tasks go to their executor together, as
    /// one `LAUNCH_GROUP`; a `DEFAULT` executor is the agent's
    /// `mesos-default-executor`.
    fn run_task_group(&mut self, message: msg::RunTaskGroupMessage, now: Instant) {
        let Some(fid_wire) = message.framework.id.clone() else {
            tracing::warn!("Dropping task group of a framework without an id");
            return;
        };
        let fid = FrameworkId::from(&fid_wire);
        if self.state != AgentState::Running {
            tracing::warn!(framework_id = %fid, "Ignoring task group: agent is not registered");
            return;
        }
        let mut executor_info = message.executor.clone();
        executor_info.framework_id.get_or_insert(fid_wire.clone());
        let eid = ExecutorId::from(&executor_info.executor_id);
        let tasks = message.task_group.tasks.clone();
        tracing::info!(framework_id = %fid, executor_id = %eid, "Got assigned task group of {} tasks", tasks.len());
        let framework = self
            .frameworks
            .entry(fid.clone())
            .or_insert_with(|| Framework {
                id: fid.clone(),
                info: message.framework.clone(),
                pid: None,
                terminating: false,
                executors: BTreeMap::new(),
                completed_executors: VecDeque::new(),
            });
        framework.info = message.framework.clone();
        let terminating = framework.terminating;
        let partition_aware =
            framework.has_capability(v0::framework_info::capability::Type::PartitionAware);
        let fail_all = |core: &mut AgentCore,
                        state: v0::TaskState,
                        reason: v0::task_status::Reason,
                        text: String| {
            for task in &tasks {
                core.agent_update(&fid, task, Some(&eid), state, reason, text.clone(), now);
            }
        };
        if terminating {
            fail_all(
                self,
                v0::TaskState::TaskLost,
                v0::task_status::Reason::FrameworkRemoved,
                "Framework is terminating".into(),
            );
            return;
        }
        let mut ids = std::collections::BTreeSet::new();
        let problem = tasks.iter().find_map(|task| {
            let task_id = TaskId::from(&task.task_id);
            if !paths::is_safe_component(&task.task_id.value) {
                Some(format!(
                    "Task '{task_id}' has an id that is not a valid path component"
                ))
            } else if !ids.insert(task_id.clone())
                || self
                    .frameworks
                    .values()
                    .any(|f| f.executor_of_task(&task_id).is_some())
            {
                Some(format!("Task has duplicate ID: {task_id}"))
            } else {
                None
            }
        });
        if let Some(problem) = problem {
            fail_all(
                self,
                v0::TaskState::TaskError,
                v0::task_status::Reason::TaskGroupInvalid,
                problem,
            );
            return;
        }
        let lost_state = if partition_aware {
            v0::TaskState::TaskDropped
        } else {
            v0::TaskState::TaskLost
        };
        let existing = self
            .frameworks
            .get(&fid)
            .and_then(|f| f.executors.get(&eid))
            .map(|e| (e.state, e.link.clone()));
        match existing {
            Some((ExecutorState::Registering, _)) => {
                self.checkpoint_tasks(&fid, &eid, &tasks);
                if let Some(executor) = self.executor_mut(&fid, &eid) {
                    executor
                        .queued_groups
                        .push(tasks.iter().map(|t| TaskId::from(&t.task_id)).collect());
                    executor.queued.extend(tasks);
                }
            }
            Some((ExecutorState::Running, link)) => {
                self.checkpoint_tasks(&fid, &eid, &tasks);
                self.add_to_running_executor(&fid, &eid, &tasks);
                if let Some(link) = link {
                    self.deliver_group(&fid, &link, tasks);
                }
            }
            Some((state, _)) => fail_all(
                self,
                lost_state,
                v0::task_status::Reason::ExecutorTerminated,
                format!("Executor is {}", state.name()),
            ),
            None if message.launch_executor == Some(false) => fail_all(
                self,
                lost_state,
                v0::task_status::Reason::ExecutorTerminated,
                "No executor to run the task group on".into(),
            ),
            None => self.launch_executor(&fid, executor_info, false, Pending::Group(tasks), now),
        }
    }

    /// Tasks for an executor that already runs: tracked as staging, and
    /// its container's limits raised to cover them.
    fn add_to_running_executor(
        &mut self,
        fid: &FrameworkId,
        eid: &ExecutorId,
        tasks: &[v0::TaskInfo],
    ) {
        let enable_cfs = self.config.containerizer.cgroups.enable_cfs;
        let fid_wire = fid.to_v0();
        let Some(executor) = self.executor_mut(fid, eid) else {
            return;
        };
        for task in tasks {
            executor.launched.insert(
                TaskId::from(&task.task_id),
                create_task(task, v0::TaskState::TaskStaging, &fid_wire),
            );
        }
        let limits = ContainerLimits::compute(
            &executor.info.resources,
            executor
                .launched
                .values()
                .map(|t| (&t.resources[..], &t.limits)),
            enable_cfs,
        );
        let update = Effect::Update {
            container_id: executor.container_id.clone(),
            limits,
        };
        self.effects.push(update);
    }

    /// Hands a task group to a connected executor: a LAUNCH_GROUP event,
    /// or a `RunTaskGroupMessage` to an executor on libprocess.
    fn deliver_group(&mut self, fid: &FrameworkId, link: &ExecutorLink, tasks: Vec<v0::TaskInfo>) {
        let Some(framework) = self.frameworks.get(fid) else {
            return;
        };
        let executor = framework
            .executor_of_task(&TaskId::from(
                &tasks.first().map(|t| t.task_id.clone()).unwrap_or_default(),
            ))
            .and_then(|eid| framework.executors.get(eid))
            .map(|e| e.info.clone())
            .unwrap_or_default();
        tracing::info!(framework_id = %fid, "Sending task group of {} tasks to executor", tasks.len());
        let message = msg::RunTaskGroupMessage {
            framework: framework.info.clone(),
            executor,
            task_group: v0::TaskGroupInfo { tasks },
            resource_version_uuids: Vec::new(),
            launch_executor: None,
        };
        self.send_to_executor(link, message, |message| v1e::Event {
            r#type: Some(v1e::event::Type::LaunchGroup as i32),
            launch_group: Some(v1e::event::LaunchGroup {
                task_group: crate::convert_v1(&message.task_group),
            }),
            ..Default::default()
        });
    }

    /// Hands queued work to an executor that just connected.
    fn deliver_pending(&mut self, fid: &FrameworkId, link: &ExecutorLink, pending: Vec<Pending>) {
        for work in pending {
            match work {
                Pending::Task(task) => self.deliver_task(fid, link, *task),
                Pending::Group(tasks) => self.deliver_group(fid, link, tasks),
            }
        }
    }

    fn kill_task(&mut self, message: msg::KillTaskMessage, now: Instant) {
        let fid = FrameworkId::from(&message.framework_id);
        let task_id = TaskId::from(&message.task_id);
        tracing::info!(task_id = %task_id, framework_id = %fid, "Asked to kill task");
        let Some(framework) = self.frameworks.get(&fid) else {
            tracing::warn!(task_id = %task_id, "Ignoring kill of a task of an unknown framework");
            return;
        };
        let Some(eid) = framework.executor_of_task(&task_id).cloned() else {
            let task = v0::TaskInfo {
                task_id: message.task_id.clone(),
                slave_id: self.info.id.clone().unwrap_or_default(),
                ..Default::default()
            };
            let state =
                if framework.has_capability(v0::framework_info::capability::Type::PartitionAware) {
                    v0::TaskState::TaskDropped
                } else {
                    v0::TaskState::TaskLost
                };
            self.agent_update(
                &fid,
                &task,
                None,
                state,
                v0::task_status::Reason::TaskUnknown,
                "Cannot find the task on this agent".into(),
                now,
            );
            return;
        };
        let Some(executor) = self.executor_mut(&fid, &eid) else {
            return;
        };
        executor.kill_requested.insert(task_id.clone());
        if executor
            .queued
            .iter()
            .any(|t| TaskId::from(&t.task_id) == task_id)
        {
            // A task of a queued group takes its whole group with it, as
            // in Mesos.
            let group = executor.queued_group_of(&task_id);
            executor.queued_groups.retain(|g| !g.contains(&task_id));
            let (killed, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut executor.queued)
                .into_iter()
                .partition(|t| group.contains(&TaskId::from(&t.task_id)));
            executor.queued = kept;
            let idle = executor.is_idle();
            for task in &killed {
                self.agent_update(
                    &fid,
                    task,
                    Some(&eid),
                    v0::TaskState::TaskKilled,
                    v0::task_status::Reason::TaskKilledDuringLaunch,
                    "Killed before delivery to the executor".into(),
                    now,
                );
            }
            if idle {
                // Nothing left for the executor to run.
                self.shutdown_executor(&fid, &eid, now);
            }
            return;
        }
        match (executor.state, executor.link.clone()) {
            (ExecutorState::Running | ExecutorState::Terminating, Some(link)) => {
                let kill = msg::KillTaskMessage {
                    framework_id: message.framework_id,
                    task_id: message.task_id,
                    kill_policy: message.kill_policy,
                };
                self.send_to_executor(&link, kill, |kill| v1e::Event {
                    r#type: Some(v1e::event::Type::Kill as i32),
                    kill: Some(v1e::event::Kill {
                        task_id: TaskId::from(&kill.task_id).to_v1(),
                        kill_policy: kill.kill_policy.as_ref().map(crate::convert_v1),
                    }),
                    ..Default::default()
                });
            }
            _ => {
                // Not connected: ending the executor ends the task.
                executor.termination = Some(Termination {
                    state: v0::TaskState::TaskKilled,
                    reason: v0::task_status::Reason::ExecutorTerminated,
                    message: "Killed while the executor was disconnected".into(),
                    limited_resources: Vec::new(),
                });
                let container_id = executor.container_id.clone();
                executor.state = ExecutorState::Terminating;
                self.effects.push(Effect::Destroy { container_id });
            }
        }
    }

    /// Hands a task to a connected executor: a LAUNCH event, or a
    /// `RunTaskMessage` as Mesos sends it (framework, task and the
    /// scheduler's pid, `@0.0.0.0:0` when it has none).
    fn deliver_task(&mut self, fid: &FrameworkId, link: &ExecutorLink, task: v0::TaskInfo) {
        let (framework, pid) = self
            .frameworks
            .get(fid)
            .map(|f| (f.info.clone(), f.pid.as_ref().map(Upid::to_string)))
            .unwrap_or_default();
        tracing::info!(task_id = %TaskId::from(&task.task_id), framework_id = %fid, "Sending task to executor");
        #[allow(deprecated)]
        let message = msg::RunTaskMessage {
            framework_id: None,
            framework,
            task,
            resource_version_uuids: Vec::new(),
            pid: Some(pid.unwrap_or_else(|| "@0.0.0.0:0".into())),
            launch_executor: None,
        };
        self.send_to_executor(link, message, |message| v1e::Event {
            r#type: Some(v1e::event::Type::Launch as i32),
            launch: Some(v1e::event::Launch {
                task: crate::convert_v1(&message.task),
            }),
            ..Default::default()
        });
    }

    fn framework_message(&mut self, message: msg::FrameworkToExecutorMessage) {
        let fid = FrameworkId::from(&message.framework_id);
        let eid = ExecutorId::from(&message.executor_id);
        if self.state != AgentState::Running {
            tracing::warn!(framework_id = %fid, "Dropping message from framework: the agent is not registered");
            return;
        }
        let executor = self
            .frameworks
            .get(&fid)
            .and_then(|f| f.executors.get(&eid));
        let link = match executor {
            None => {
                tracing::warn!(executor_id = %eid, framework_id = %fid, "Dropping message for executor because executor does not exist");
                self.metrics.bump("invalid_framework_messages");
                return;
            }
            Some(e) if e.state != ExecutorState::Running => {
                tracing::warn!(executor_id = %eid, framework_id = %fid, "Dropping message for executor because executor is not running");
                self.metrics.bump("invalid_framework_messages");
                return;
            }
            Some(e) => e.link.clone(),
        };
        match link {
            Some(link) => {
                self.metrics.bump("valid_framework_messages");
                self.send_to_executor(&link, message, |message| v1e::Event {
                    r#type: Some(v1e::event::Type::Message as i32),
                    message: Some(v1e::event::Message { data: message.data }),
                    ..Default::default()
                })
            }
            None => {
                self.metrics.bump("invalid_framework_messages");
                tracing::warn!(executor_id = %eid, "Dropping framework message: executor not connected")
            }
        }
    }

    /// Shuts down every executor of a framework and forgets it once they
    /// have ended.
    pub fn shutdown_framework(&mut self, fid: &FrameworkId, now: Instant) {
        let Some(framework) = self.frameworks.get_mut(fid) else {
            return;
        };
        tracing::info!(framework_id = %fid, "Shutting down framework");
        framework.terminating = true;
        let executors: Vec<ExecutorId> = framework.executors.keys().cloned().collect();
        for eid in executors {
            self.shutdown_executor(fid, &eid, now);
        }
        self.updates.cleanup(fid);
        self.maybe_remove_framework(fid);
    }

    fn shutdown_executor(&mut self, fid: &FrameworkId, eid: &ExecutorId, now: Instant) {
        let grace = self.config.executor_shutdown_grace_period;
        let Some(executor) = self.executor_mut(fid, eid) else {
            return;
        };
        if matches!(executor.state, ExecutorState::Terminated) {
            return;
        }
        tracing::info!(executor_id = %eid, "Shutting down executor");
        let grace = executor
            .info
            .shutdown_grace_period
            .as_ref()
            .map_or(grace, |d| Duration::from_nanos(d.nanoseconds.max(0) as u64));
        executor.state = ExecutorState::Terminating;
        executor.registration_deadline = None;
        match executor.link.clone() {
            Some(link) => {
                executor.destroy_at.get_or_insert(now + grace);
                self.send_to_executor(&link, msg::ShutdownExecutorMessage::default(), |_| {
                    v1e::Event {
                        r#type: Some(v1e::event::Type::Shutdown as i32),
                        ..Default::default()
                    }
                });
            }
            None => {
                let container_id = executor.container_id.clone();
                executor.destroy_at = None;
                self.effects.push(Effect::Destroy { container_id });
            }
        }
    }

    /// The agent process is stopping on its own (SIGTERM), as Mesos's
    /// `Slave::finalize`: the executors of frameworks that do not
    /// checkpoint are shut down; those of checkpointing frameworks are
    /// left running for the next run of the agent to recover. Returns the
    /// containers left running.
    pub fn finalize(&mut self, now: Instant) -> Vec<String> {
        self.registration_at = None;
        self.ping_deadline = None;
        self.recovery_deadline = None;
        let mut kept = Vec::new();
        let fids: Vec<FrameworkId> = self.frameworks.keys().cloned().collect();
        for fid in fids {
            if self.checkpointing(&fid) {
                let framework = &self.frameworks[&fid];
                kept.extend(
                    framework
                        .executors
                        .values()
                        .filter(|e| e.state != ExecutorState::Terminated)
                        .map(|e| e.container_id.clone()),
                );
            } else {
                self.shutdown_framework(&fid, now);
            }
        }
        if !kept.is_empty() {
            tracing::info!(
                "Leaving {} executors of checkpointing frameworks running",
                kept.len()
            );
        }
        kept
    }

    /// Shuts down everything: the agent is stopping.
    pub fn shutdown(&mut self, now: Instant) {
        self.state = AgentState::Terminating;
        self.registration_at = None;
        self.ping_deadline = None;
        let fids: Vec<FrameworkId> = self.frameworks.keys().cloned().collect();
        for fid in fids {
            self.shutdown_framework(&fid, now);
        }
    }

    fn registration_timeout(&mut self, fid: &FrameworkId, eid: &ExecutorId) {
        let timeout = self.config.executor_registration_timeout;
        let Some(executor) = self.executor_mut(fid, eid) else {
            return;
        };
        executor.registration_deadline = None;
        if executor.state != ExecutorState::Registering {
            return;
        }
        tracing::info!(executor_id = %eid, "Terminating executor because it did not register within {timeout:?}");
        executor.state = ExecutorState::Terminating;
        executor.termination = Some(Termination {
            state: v0::TaskState::TaskFailed,
            reason: v0::task_status::Reason::ExecutorRegistrationTimeout,
            message: format!(
                "Executor did not register within {}",
                mesos::flags::format_duration(timeout)
            ),
            limited_resources: Vec::new(),
        });
        let container_id = executor.container_id.clone();
        self.effects.push(Effect::Destroy { container_id });
    }

    /// The container of an executor, while it has one.
    pub fn container_of(&self, fid: &FrameworkId, eid: &ExecutorId) -> Option<&str> {
        let executor = self.frameworks.get(fid)?.executors.get(eid)?;
        (executor.state != ExecutorState::Terminated).then_some(executor.container_id.as_str())
    }

    /// The containerizer ends `container_id`: it hit a limit (the OOM
    /// killer acted), or it could not be launched. Its live tasks end with
    /// `state`, `reason` and `message` (the first such report counts).
    pub fn container_limited(
        &mut self,
        container_id: &str,
        reason: v0::task_status::Reason,
        message: &str,
        limited_resources: Vec<v0::Resource>,
    ) {
        let found = self.frameworks.iter().find_map(|(fid, f)| {
            f.executors
                .iter()
                .find(|(_, e)| e.container_id == container_id)
                .map(|(eid, _)| (fid.clone(), eid.clone()))
        });
        let Some((fid, eid)) = found else {
            return;
        };
        let Some(executor) = self.executor_mut(&fid, &eid) else {
            return;
        };
        if executor.state == ExecutorState::Terminated
            || executor
                .termination
                .as_ref()
                .is_some_and(Termination::is_limitation)
        {
            return;
        }
        tracing::info!(
            executor_id = %eid,
            framework_id = %fid,
            container_id,
            "Container is being destroyed: {}",
            message.lines().next().unwrap_or("")
        );
        executor.termination = Some(Termination {
            state: v0::TaskState::TaskFailed,
            reason,
            message: message.to_string(),
            limited_resources,
        });
        executor.state = ExecutorState::Terminating;
        executor.registration_deadline = None;
        executor.destroy_at = None;
        self.effects.push(Effect::Destroy {
            container_id: container_id.to_string(),
        });
    }

    /// The executor process of `container_id` ended (or never started:
    /// `message` says why).
    pub fn executor_exited(
        &mut self,
        container_id: &str,
        status: Option<i32>,
        message: &str,
        now: Instant,
    ) {
        let found = self.frameworks.iter().find_map(|(fid, f)| {
            f.executors
                .iter()
                .find(|(_, e)| e.container_id == container_id)
                .map(|(eid, _)| (fid.clone(), eid.clone()))
        });
        let Some((fid, eid)) = found else {
            return;
        };
        let agent_id = self.info.id.clone().unwrap_or_default();
        self.metrics.bump("executors_terminated");
        let Some(executor) = self.executor_mut(&fid, &eid) else {
            return;
        };
        tracing::info!(executor_id = %eid, framework_id = %fid, "Executor {message}");
        executor.state = ExecutorState::Terminated;
        executor.registration_deadline = None;
        executor.destroy_at = None;
        let link = executor.link.take();
        let termination = executor.termination.clone();
        let kill_requested = executor.kill_requested.clone();
        let command_executor = executor.command_executor;
        executor.queued_groups.clear();
        let mut live: Vec<v0::TaskInfo> = std::mem::take(&mut executor.queued);
        for task in executor.launched.values() {
            live.push(v0::TaskInfo {
                name: task.name.clone(),
                task_id: task.task_id.clone(),
                slave_id: task.slave_id.clone(),
                ..Default::default()
            });
        }
        if let Some(ExecutorLink::Http(conn)) = link {
            self.effects.push(Effect::CloseExecutor { conn });
        }
        let limited = termination
            .as_ref()
            .map(|t| t.limited_resources.clone())
            .unwrap_or_default();
        for task in live {
            let task_id = TaskId::from(&task.task_id);
            let (state, reason, text) = match &termination {
                Some(t) => (t.state, t.reason, t.message.clone()),
                None if kill_requested.contains(&task_id) => (
                    v0::TaskState::TaskKilled,
                    v0::task_status::Reason::ExecutorTerminated,
                    format!("Executor {message}"),
                ),
                None => (
                    v0::TaskState::TaskFailed,
                    v0::task_status::Reason::ExecutorTerminated,
                    format!("Executor terminated: {message}"),
                ),
            };
            self.agent_update_limited(&fid, &task, Some(&eid), state, reason, text, &limited, now);
        }
        if !command_executor {
            let exited = msg::ExitedExecutorMessage {
                slave_id: agent_id,
                framework_id: fid.to_v0(),
                executor_id: eid.to_v0(),
                status: status.unwrap_or(-1),
            };
            if self.state == AgentState::Running {
                let master = self.master.clone();
                self.send(&master, &exited);
            }
        }
        if self.checkpointing(&fid) {
            self.checkpoint(crate::checkpoint::Checkpoint::Completed {
                framework_id: fid.clone(),
                executor_id: eid.clone(),
                container_id: container_id.to_string(),
            });
        }
        self.maybe_archive_executor(&fid, &eid);
        self.maybe_finish_cleanup();
    }

    /// A status update the agent itself makes (`SOURCE_SLAVE`).
    #[allow(clippy::too_many_arguments)]
    fn agent_update(
        &mut self,
        fid: &FrameworkId,
        task: &v0::TaskInfo,
        eid: Option<&ExecutorId>,
        state: v0::TaskState,
        reason: v0::task_status::Reason,
        message: String,
        now: Instant,
    ) {
        self.agent_update_limited(fid, task, eid, state, reason, message, &[], now);
    }

    /// [`AgentCore::agent_update`] naming the resources whose limit ended
    /// the task (`TaskStatus.limitation`), if any.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn agent_update_limited(
        &mut self,
        fid: &FrameworkId,
        task: &v0::TaskInfo,
        eid: Option<&ExecutorId>,
        state: v0::TaskState,
        reason: v0::task_status::Reason,
        message: String,
        limited: &[v0::Resource],
        now: Instant,
    ) {
        let uuid = uuid_bytes();
        let agent_id = self.info.id.clone();
        let update = msg::StatusUpdate {
            framework_id: fid.to_v0(),
            executor_id: eid.map(ExecutorId::to_v0),
            slave_id: agent_id.clone(),
            status: v0::TaskStatus {
                task_id: task.task_id.clone(),
                state: state as i32,
                message: Some(message),
                source: Some(v0::task_status::Source::Slave as i32),
                reason: Some(reason as i32),
                slave_id: agent_id,
                executor_id: eid.map(ExecutorId::to_v0),
                timestamp: Some(wall_clock_secs()),
                uuid: Some(uuid.clone()),
                limitation: (!limited.is_empty()).then(|| v0::TaskResourceLimitation {
                    resources: limited.to_vec(),
                }),
                ..Default::default()
            },
            timestamp: wall_clock_secs(),
            uuid: Some(uuid),
            latest_state: None,
        };
        self.status_update(update, UpdateSource::Agent, now);
    }

    /// Records an update in the task and hands it to the status update
    /// manager; an executor's update is acknowledged on its stream.
    /// Before an executor's terminal update is taken: when its container
    /// hit a limit, that ends the task as the agent reports it, whatever
    /// the executor saw; the executor's update is acknowledged and
    /// dropped. Returns whether it was.
    pub(crate) fn limitation_wins(
        &mut self,
        fid: &FrameworkId,
        eid: &ExecutorId,
        status: &v0::TaskStatus,
        link: Option<&ExecutorLink>,
        now: Instant,
    ) -> bool {
        let limitation = self
            .frameworks
            .get(fid)
            .and_then(|f| f.executors.get(eid))
            .and_then(|e| e.termination.clone())
            .filter(|t| t.is_limitation() && is_terminal(status.state));
        let Some(t) = limitation else {
            return false;
        };
        let task = v0::TaskInfo {
            task_id: status.task_id.clone(),
            slave_id: self.info.id.clone().unwrap_or_default(),
            ..Default::default()
        };
        self.agent_update_limited(
            fid,
            &task,
            Some(eid),
            t.state,
            t.reason,
            t.message,
            &t.limited_resources,
            now,
        );
        if let Some(link) = link {
            let ack = msg::StatusUpdateAcknowledgementMessage {
                slave_id: self.info.id.clone().unwrap_or_default(),
                framework_id: fid.to_v0(),
                task_id: status.task_id.clone(),
                uuid: status.uuid.clone().unwrap_or_default(),
            };
            self.send_to_executor(link, ack, |ack| v1e::Event {
                r#type: Some(v1e::event::Type::Acknowledged as i32),
                acknowledged: Some(v1e::event::Acknowledged {
                    task_id: TaskId::from(&ack.task_id).to_v1(),
                    uuid: ack.uuid,
                }),
                ..Default::default()
            });
        }
        true
    }

    fn status_update(&mut self, mut update: msg::StatusUpdate, source: UpdateSource, now: Instant) {
        update.status.uuid = update.uuid.clone();
        update.status.source = Some(if matches!(source, UpdateSource::Executor(_)) {
            v0::task_status::Source::Executor as i32
        } else {
            v0::task_status::Source::Slave as i32
        });
        if let Some(eid) = &update.executor_id {
            update.status.executor_id = Some(eid.clone());
        }
        let fid = FrameworkId::from(&update.framework_id);
        let task_id = TaskId::from(&update.status.task_id);
        let state_name =
            v0::TaskState::try_from(update.status.state).map_or("UNKNOWN", |s| s.as_str_name());
        tracing::info!(task_id = %task_id, framework_id = %fid, "Handling status update {state_name}");
        let Some(framework) = self.frameworks.get_mut(&fid) else {
            tracing::warn!(task_id = %task_id, "Ignoring status update for unknown framework {fid}");
            self.metrics.bump("invalid_status_updates");
            return;
        };
        if framework.terminating {
            tracing::warn!(task_id = %task_id, "Ignoring status update for terminating framework {fid}");
            self.metrics.bump("invalid_status_updates");
            return;
        }
        if let Some(eid) = framework.executor_of_task(&task_id).cloned() {
            if let Some(executor) = framework.executors.get_mut(&eid) {
                update_task(executor, &update.status);
            }
        }
        let uuid = update.uuid.clone().unwrap_or_default();
        let state = update.status.state;
        let duplicate = self.updates.has_received(&fid, &task_id, &uuid);
        let record = (!duplicate).then(|| msg::StatusUpdateRecord {
            r#type: msg::status_update_record::Type::Update as i32,
            update: Some(update.clone()),
            uuid: None,
        });
        let mark = self.effects.len();
        match self.updates.update(update, now) {
            Ok(Some(forward)) => self.forward(forward),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(task_id = %task_id, "Failed to handle status update: {e}");
                self.metrics.bump("invalid_status_updates");
                return;
            }
        }
        if let Some(record) = record {
            // Checkpointed before it is forwarded or acknowledged.
            self.checkpoint_record(mark, &fid, &task_id, record);
        }
        self.metrics.bump("valid_status_updates");
        if is_terminal(state) {
            self.metrics.task_terminated(state);
        }
        // Mesos acknowledges the executor once the status update manager
        // has taken the update; the framework's acknowledgement only
        // releases the next update of the stream to the master.
        if let UpdateSource::Executor(Some(link)) = source {
            let ack = msg::StatusUpdateAcknowledgementMessage {
                slave_id: self.info.id.clone().unwrap_or_default(),
                framework_id: fid.to_v0(),
                task_id: task_id.to_v0(),
                uuid,
            };
            if let ExecutorLink::Libprocess(pid) = &link {
                tracing::info!(task_id = %task_id, "Sending acknowledgement for status update {state_name} to {pid}");
            }
            self.send_to_executor(&link, ack, |ack| v1e::Event {
                r#type: Some(v1e::event::Type::Acknowledged as i32),
                acknowledged: Some(v1e::event::Acknowledged {
                    task_id: TaskId::from(&ack.task_id).to_v1(),
                    uuid: ack.uuid,
                }),
                ..Default::default()
            });
        }
    }

    fn forward(&mut self, mut update: msg::StatusUpdate) {
        if self.state != AgentState::Running {
            return;
        }
        update.status.uuid = update.uuid.clone();
        let fid = FrameworkId::from(&update.framework_id);
        let task_id = TaskId::from(&update.status.task_id);
        if let Some(framework) = self.frameworks.get_mut(&fid) {
            if let Some(eid) = framework.executor_of_task(&task_id).cloned() {
                if let Some(executor) = framework.executors.get_mut(&eid) {
                    let task = executor
                        .launched
                        .get_mut(&task_id)
                        .or_else(|| executor.terminated.get_mut(&task_id));
                    if let Some(task) = task {
                        task.status_update_state = Some(update.status.state);
                        task.status_update_uuid = update.uuid.clone();
                        update.latest_state = Some(task.state);
                    }
                }
            }
        }
        let message = msg::StatusUpdateMessage {
            update,
            pid: Some(self.pid.to_string()),
        };
        let master = self.master.clone();
        self.send(&master, &message);
    }

    fn acknowledgement(&mut self, message: msg::StatusUpdateAcknowledgementMessage, now: Instant) {
        let fid = FrameworkId::from(&message.framework_id);
        let task_id = TaskId::from(&message.task_id);
        let mark = self.effects.len();
        let acked = match self.updates.acknowledge(&fid, &task_id, &message.uuid, now) {
            Ok(acked) => acked,
            Err(e) => {
                tracing::warn!(task_id = %task_id, "Ignoring acknowledgement: {e}");
                return;
            }
        };
        let record = msg::StatusUpdateRecord {
            r#type: msg::status_update_record::Type::Ack as i32,
            update: None,
            uuid: Some(message.uuid.clone()),
        };
        self.checkpoint_record(mark, &fid, &task_id, record);
        if let Some(next) = acked.next {
            self.forward(next);
        }
        if acked.terminal {
            let Some(framework) = self.frameworks.get_mut(&fid) else {
                return;
            };
            let Some(eid) = framework.executor_of_task(&task_id).cloned() else {
                self.maybe_remove_framework(&fid);
                return;
            };
            if let Some(executor) = framework.executors.get_mut(&eid) {
                if let Some(task) = executor.terminated.remove(&task_id) {
                    executor.completed.push_back(task);
                    if executor.completed.len() > MAX_COMPLETED_TASKS {
                        executor.completed.pop_front();
                    }
                }
            }
            self.maybe_archive_executor(&fid, &eid);
        }
    }

    fn maybe_archive_executor(&mut self, fid: &FrameworkId, eid: &ExecutorId) {
        let Some(framework) = self.frameworks.get_mut(fid) else {
            return;
        };
        let done = framework
            .executors
            .get(eid)
            .is_some_and(|e| e.state == ExecutorState::Terminated && e.is_idle());
        if done {
            if let Some(executor) = framework.executors.remove(eid) {
                // The run's sandbox, then the executor's directory
                // (`.../executors/<id>`, above `runs/<container id>`).
                let mut paths = vec![executor.directory.clone()];
                if let Some(executor_dir) = executor.directory.parent().and_then(Path::parent) {
                    paths.push(executor_dir.to_path_buf());
                }
                self.effects.push(Effect::GarbageCollect(paths));
                framework.completed_executors.push_back(executor);
                if framework.completed_executors.len() > MAX_COMPLETED_EXECUTORS {
                    framework.completed_executors.pop_front();
                }
            }
        }
        self.maybe_remove_framework(fid);
    }

    fn maybe_remove_framework(&mut self, fid: &FrameworkId) {
        let remove = self
            .frameworks
            .get(fid)
            .is_some_and(|f| f.executors.is_empty() && !self.updates.has_streams(fid));
        if remove {
            if let Some(framework) = self.frameworks.remove(fid) {
                tracing::info!(framework_id = %fid, "Cleaned up framework");
                let path = self
                    .agent_id()
                    .map(|id| paths::framework_dir(&self.config.work_dir, id, fid.as_str()));
                if let Some(path) = path {
                    self.effects.push(Effect::GarbageCollect(vec![path]));
                }
                self.completed_frameworks.push_back(framework);
                if self.completed_frameworks.len() > MAX_COMPLETED_FRAMEWORKS {
                    self.completed_frameworks.pop_front();
                }
            }
        }
    }

    fn executor_mut(&mut self, fid: &FrameworkId, eid: &ExecutorId) -> Option<&mut Executor> {
        self.frameworks.get_mut(fid)?.executors.get_mut(eid)
    }
}

/// Applies a status to the task it names.
fn update_task(executor: &mut Executor, status: &v0::TaskStatus) {
    let task_id = TaskId::from(&status.task_id);
    let Some(task) = executor.launched.get_mut(&task_id) else {
        return;
    };
    task.state = status.state;
    let mut kept = status.clone();
    // Mesos keeps statuses without their (possibly large) data.
    kept.data = None;
    task.statuses.push(kept);
    if is_terminal(status.state) {
        if let Some(task) = executor.launched.remove(&task_id) {
            executor.terminated.insert(task_id, task);
        }
    }
}
