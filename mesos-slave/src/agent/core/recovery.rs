//! Agent recovery, as Mesos 1.11's `Slave::recover` and `_recover` do it:
//! the runtime reads the checkpoint and hands it in as data; the core
//! rebuilds its frameworks, executors, tasks and status update streams
//! from it, asks libprocess executors to reconnect, waits
//! `--executor_reregistration_timeout` for them (and for HTTP executors to
//! subscribe again), kills those that did not come back, and only then
//! re-registers with the master as the same agent.
//!
//! ```text
//! start ──recover()──> recovering ──reregistration timeout──> registering (ReregisterSlaveMessage)
//!                         │  ReconnectExecutorMessage to libprocess executors,
//!                         │  SUBSCRIBE / ReregisterExecutorMessage accepted
//!                         └─ --recover=cleanup: executors shut down, then the agent stops
//! ```
//!
//! Checkpointing goes the other way: the core asks for each write as an
//! [`Effect::Checkpoint`], for frameworks with `checkpoint=true` only
//! (the agent's own info always).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use bytes::Bytes;
use mesos::ids::{ExecutorId, FrameworkId, TaskId};
use mesos::wire::mesos as v0;
use mesos::wire::mesos::internal as msg;

use super::{AgentCore, AgentState, Effect};
use crate::agent::state::{Executor, ExecutorState, Framework, Termination};
use crate::checkpoint::{Checkpoint, RecoveredAgent};
use crate::config::RecoverMode;
use crate::paths;
use crate::status_update::is_terminal;

/// A container the runtime must find again after a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveredContainer {
    /// The container (run) id.
    pub container_id: String,
    /// Its framework.
    pub framework_id: String,
    /// Its executor.
    pub executor_id: String,
    /// Its sandbox.
    pub sandbox: PathBuf,
    /// The pid the agent forked for it, if checkpointed.
    pub pid: Option<u32>,
    /// A command task in a Docker container (`mesos-<container id>`),
    /// run by `mesos-docker-executor`.
    pub docker: bool,
}

impl AgentCore {
    /// Whether the framework's state is checkpointed.
    pub(crate) fn checkpointing(&self, fid: &FrameworkId) -> bool {
        self.frameworks.get(fid).is_some_and(Framework::checkpoint)
    }

    /// Asks the runtime to checkpoint `what` (for the agent's id).
    pub(crate) fn checkpoint(&mut self, what: Checkpoint) {
        let Some(agent_id) = self.agent_id().map(str::to_string) else {
            return;
        };
        self.effects.push(Effect::Checkpoint {
            agent_id,
            checkpoint: Box::new(what),
        });
    }

    /// Checkpoints a framework's info and pid, if it checkpoints.
    pub(crate) fn checkpoint_framework(&mut self, fid: &FrameworkId) {
        let Some(framework) = self.frameworks.get(fid).filter(|f| f.checkpoint()) else {
            return;
        };
        let what = Checkpoint::Framework {
            info: Box::new(framework.info.clone()),
            pid: framework.pid.clone(),
        };
        self.checkpoint(what);
    }

    /// Checkpoints the tasks handed to an executor of a checkpointing
    /// framework (as `Task`s in `TASK_STAGING`).
    pub(crate) fn checkpoint_tasks(
        &mut self,
        fid: &FrameworkId,
        eid: &ExecutorId,
        tasks: &[v0::TaskInfo],
    ) {
        if !self.checkpointing(fid) {
            return;
        }
        let Some(container_id) = self
            .frameworks
            .get(fid)
            .and_then(|f| f.executors.get(eid))
            .map(|e| e.container_id.clone())
        else {
            return;
        };
        let fid_wire = fid.to_v0();
        for task in tasks {
            let task =
                crate::agent::state::create_task(task, v0::TaskState::TaskStaging, &fid_wire);
            self.checkpoint(Checkpoint::Task {
                executor_id: eid.clone(),
                container_id: container_id.clone(),
                task: Box::new(task),
            });
        }
    }

    /// Checkpoints a status update record of a task, if its framework
    /// checkpoints and the task has an executor. Inserted at `at` in the
    /// effects, so that it is written before what follows it is sent.
    pub(crate) fn checkpoint_record(
        &mut self,
        at: usize,
        fid: &FrameworkId,
        task_id: &TaskId,
        record: msg::StatusUpdateRecord,
    ) {
        if !self.checkpointing(fid) {
            return;
        }
        let Some(agent_id) = self.agent_id().map(str::to_string) else {
            return;
        };
        let executor = self.frameworks.get(fid).and_then(|f| {
            let eid = f.executor_of_task(task_id)?;
            f.executors.get(eid)
        });
        let Some(executor) = executor else {
            return;
        };
        let effect = Effect::Checkpoint {
            agent_id,
            checkpoint: Box::new(Checkpoint::Record {
                framework_id: fid.clone(),
                executor_id: executor.id.clone(),
                container_id: executor.container_id.clone(),
                task_id: task_id.clone(),
                record: Box::new(record),
            }),
        };
        let at = at.min(self.effects.len());
        self.effects.insert(at, effect);
    }

    /// Whether the agent is still recovering (not yet registering).
    pub fn recovering(&self) -> bool {
        self.recovery_deadline.is_some()
    }

    /// Recovers from the checkpoint (`None`: nothing was checkpointed, or
    /// the agent starts as a new one). Returns the containers the runtime
    /// must find again; each is reported back through
    /// [`AgentCore::executor_exited`] once it is gone (at once, when its
    /// process is no longer there).
    pub fn recover(
        &mut self,
        agent: Option<RecoveredAgent>,
        now: Instant,
    ) -> Vec<RecoveredContainer> {
        let mut containers = Vec::new();
        if let Some(agent) = agent {
            tracing::info!(agent_id = %agent.id, "Recovering agent");
            self.info.id = Some(v0::SlaveId {
                value: agent.id.clone(),
            });
            for recovered in agent.frameworks {
                self.recover_framework(recovered, &mut containers);
            }
        }
        let mode = self.config.recover;
        let executors: Vec<(FrameworkId, ExecutorId, Option<mesos::upid::Upid>)> = self
            .frameworks
            .iter()
            .flat_map(|(fid, f)| {
                f.executors
                    .values()
                    .filter(|e| e.state == ExecutorState::Registering)
                    .map(|e| (fid.clone(), e.id.clone(), e.recovered_pid.clone()))
            })
            .collect();
        let agent_id = self.info.id.clone().unwrap_or_default();
        for (fid, eid, pid) in executors {
            match (mode, pid) {
                (RecoverMode::Reconnect, Some(pid)) => {
                    tracing::info!(executor_id = %eid, framework_id = %fid, "Sending reconnect request to executor at {pid}");
                    let message = msg::ReconnectExecutorMessage {
                        slave_id: agent_id.clone(),
                    };
                    self.send(&pid, &message);
                }
                (RecoverMode::Reconnect, None) => {
                    tracing::info!(executor_id = %eid, framework_id = %fid, "Waiting for executor to subscribe");
                }
                (RecoverMode::Cleanup, pid) => {
                    tracing::info!(executor_id = %eid, framework_id = %fid, "Sending shutdown to executor");
                    let grace = self.config.executor_shutdown_grace_period;
                    if let Some(executor) = self.executor_mut(&fid, &eid) {
                        executor.state = ExecutorState::Terminating;
                        executor.destroy_at = Some(now + grace);
                    }
                    if let Some(pid) = pid {
                        self.send(&pid, &msg::ShutdownExecutorMessage::default());
                    }
                }
            }
        }
        match mode {
            RecoverMode::Reconnect if !self.frameworks.is_empty() => {
                self.recovery_deadline = Some(now + self.config.executor_reregistration_timeout);
            }
            RecoverMode::Reconnect => self.finish_recovery(now),
            RecoverMode::Cleanup => {
                self.state = AgentState::Terminating;
                self.registration_at = None;
                self.maybe_finish_cleanup();
            }
        }
        containers
    }

    fn recover_framework(
        &mut self,
        recovered: crate::checkpoint::RecoveredFramework,
        containers: &mut Vec<RecoveredContainer>,
    ) {
        let fid = recovered.id.clone();
        tracing::info!(framework_id = %fid, "Recovering framework");
        let mut framework = Framework {
            id: fid.clone(),
            info: recovered.info,
            pid: recovered.pid,
            terminating: false,
            executors: BTreeMap::new(),
            completed_executors: Default::default(),
        };
        let agent_id = self.agent_id().unwrap_or_default().to_string();
        for executor in recovered.executors {
            let eid = ExecutorId::from(&executor.info.executor_id);
            if !paths::is_safe_component(eid.as_str())
                || !paths::is_safe_component(&executor.container_id)
            {
                tracing::warn!(executor_id = %eid, "Skipping executor with an unusable id");
                continue;
            }
            let directory = paths::sandbox_dir(
                &self.config.work_dir,
                &agent_id,
                fid.as_str(),
                eid.as_str(),
                &executor.container_id,
            );
            let mut state = Executor {
                id: eid.clone(),
                info: executor.info,
                container_id: executor.container_id.clone(),
                directory: directory.clone(),
                state: ExecutorState::Registering,
                command_executor: executor.command_executor,
                link: None,
                queued: Vec::new(),
                queued_groups: Vec::new(),
                launched: BTreeMap::new(),
                terminated: BTreeMap::new(),
                completed: Default::default(),
                kill_requested: Default::default(),
                registration_deadline: None,
                destroy_at: None,
                termination: None,
                recovered_pid: executor.libprocess_pid.clone(),
            };
            let docker = executor.command_executor
                && executor
                    .tasks
                    .iter()
                    .any(|t| crate::containerizer::docker::wants_docker(t.task.container.as_ref()));
            for task in executor.tasks {
                let task_id = TaskId::from(&task.task.task_id);
                let open = self
                    .updates
                    .recover(&fid, &task_id, &task.updates, &task.acks);
                let mut current = task.task;
                for update in &task.updates {
                    current.state = update.status.state;
                    let mut status = update.status.clone();
                    status.data = None;
                    current.statuses.push(status);
                }
                let terminal = is_terminal(current.state);
                if terminal && !open {
                    state.completed.push_back(current);
                } else if terminal {
                    state.terminated.insert(task_id, current);
                } else {
                    state.launched.insert(task_id, current);
                }
            }
            tracing::info!(
                executor_id = %eid,
                framework_id = %fid,
                container_id = executor.container_id,
                "Recovering executor"
            );
            containers.push(RecoveredContainer {
                container_id: executor.container_id,
                framework_id: fid.as_str().to_string(),
                executor_id: eid.as_str().to_string(),
                sandbox: directory,
                pid: executor.forked_pid.filter(|_| !executor.completed),
                docker,
            });
            framework.executors.insert(eid, state);
        }
        if framework.executors.is_empty() && !self.updates.has_streams(&fid) {
            tracing::info!(framework_id = %fid, "Nothing to recover for framework");
            return;
        }
        self.frameworks.insert(fid, framework);
    }

    /// `--executor_reregistration_timeout` passed: executors that did not
    /// come back are killed, their tasks lost (`TASK_GONE` for
    /// partition-aware frameworks), and the agent registers.
    pub(crate) fn finish_recovery(&mut self, now: Instant) {
        self.recovery_deadline = None;
        let timeout = self.config.executor_reregistration_timeout;
        let mut destroy = Vec::new();
        for framework in self.frameworks.values_mut() {
            let state =
                if framework.has_capability(v0::framework_info::capability::Type::PartitionAware) {
                    v0::TaskState::TaskGone
                } else {
                    v0::TaskState::TaskLost
                };
            for executor in framework.executors.values_mut() {
                if executor.state != ExecutorState::Registering {
                    continue;
                }
                tracing::info!(executor_id = %executor.id, "Killing un-reregistered executor");
                executor.state = ExecutorState::Terminating;
                executor.termination = Some(Termination {
                    state,
                    reason: v0::task_status::Reason::ExecutorReregistrationTimeout,
                    message: format!(
                        "Executor did not reregister within {}",
                        mesos::flags::format_duration(timeout)
                    ),
                    limited_resources: Vec::new(),
                });
                destroy.push(executor.container_id.clone());
            }
        }
        for container_id in destroy {
            self.effects.push(Effect::Destroy { container_id });
        }
        tracing::info!("Finished recovery");
        if self.master_known {
            self.start(now);
        }
    }

    /// `--recover=cleanup`: the agent stops once every recovered executor
    /// is gone.
    pub(crate) fn maybe_finish_cleanup(&mut self) {
        if self.config.recover != RecoverMode::Cleanup || self.cleanup_done {
            return;
        }
        let live = self.frameworks.values().any(|f| {
            f.executors
                .values()
                .any(|e| e.state != ExecutorState::Terminated)
        });
        if !live {
            tracing::info!("Cleanup of recovered executors is complete; terminating the agent");
            self.cleanup_done = true;
            self.effects.push(Effect::Terminate);
        }
    }

    /// The master's `SlaveReregisteredMessage.reconciliations`: tasks it
    /// knows on this agent that the agent did not report end as
    /// `TASK_LOST` (`TASK_DROPPED` for partition-aware frameworks), as
    /// Mesos's agent answers them.
    pub(crate) fn reconcile(
        &mut self,
        reconciliations: Vec<msg::ReconcileTasksMessage>,
        now: Instant,
    ) {
        for reconcile in reconciliations {
            let fid = FrameworkId::from(&reconcile.framework_id);
            let partition_aware = self
                .frameworks
                .get(&fid)
                .map(|f| f.has_capability(v0::framework_info::capability::Type::PartitionAware))
                .or_else(|| {
                    reconcile.framework.as_ref().map(|info| {
                        info.capabilities.iter().any(|c| {
                            c.r#type
                                == Some(v0::framework_info::capability::Type::PartitionAware as i32)
                        })
                    })
                })
                .unwrap_or(false);
            for status in reconcile.statuses {
                let task_id = TaskId::from(&status.task_id);
                let known = self
                    .frameworks
                    .get(&fid)
                    .is_some_and(|f| f.executor_of_task(&task_id).is_some());
                if known {
                    continue;
                }
                let state = if partition_aware {
                    v0::TaskState::TaskDropped
                } else {
                    v0::TaskState::TaskLost
                };
                tracing::info!(task_id = %task_id, framework_id = %fid, "Task unknown to the agent; sending {}", state.as_str_name());
                let uuid = Bytes::copy_from_slice(uuid::Uuid::new_v4().as_bytes());
                let agent_id = self.info.id.clone();
                let update = msg::StatusUpdate {
                    framework_id: fid.to_v0(),
                    executor_id: None,
                    slave_id: agent_id.clone(),
                    status: v0::TaskStatus {
                        task_id: status.task_id.clone(),
                        state: state as i32,
                        message: Some("Reconciliation: task unknown to the agent".into()),
                        source: Some(v0::task_status::Source::Slave as i32),
                        reason: Some(v0::task_status::Reason::Reconciliation as i32),
                        slave_id: agent_id,
                        timestamp: Some(super::wall_clock_secs()),
                        uuid: Some(uuid.clone()),
                        ..Default::default()
                    },
                    timestamp: super::wall_clock_secs(),
                    uuid: Some(uuid),
                    latest_state: None,
                };
                // Not through status_update(): the framework may be
                // unknown here, and Mesos sends these all the same.
                match self.updates.update(update, now) {
                    Ok(Some(forward)) => self.forward(forward),
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(task_id = %task_id, "Failed to handle reconciliation update: {e}")
                    }
                }
            }
        }
    }
}
