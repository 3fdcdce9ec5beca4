//! The libprocess executor protocol, the one libmesos's
//! `MesosExecutorDriver` speaks (custom executors of Marathon, Aurora,
//! Spark and the like), as Mesos 1.11's agent answers it:
//!
//! ```text
//! executor (its own UPID)                       agent
//!   RegisterExecutorMessage        ─────────>
//!                                  <─────────   ExecutorRegisteredMessage, then a
//!                                               RunTaskMessage per queued task
//!   StatusUpdateMessage            ─────────>   status update manager, master
//!                                  <─────────   StatusUpdateAcknowledgementMessage
//!   ExecutorToFrameworkMessage     ─────────>   the scheduler (or the master)
//!                                  <─────────   RunTaskMessage, KillTaskMessage,
//!                                               FrameworkToExecutorMessage
//!                                  <─────────   ShutdownExecutorMessage
//!   ReregisterExecutorMessage      ─────────>   (only a registering executor)
//!                                  <─────────   ExecutorReregisteredMessage
//! ```
//!
//! A registration for an executor the agent is not waiting for is
//! answered with `ShutdownExecutorMessage`, as Mesos does. Beyond Mesos,
//! status updates and framework messages are taken only from the UPID an
//! executor of that framework registered from: anyone else's are logged and
//! dropped, so a stray peer cannot end or report tasks it does not run.

use std::time::Instant;

use mesos::ids::{ExecutorId, FrameworkId, TaskId};
use mesos::upid::Upid;
use mesos::wire::mesos as v0;
use mesos::wire::mesos::internal as msg;

use super::{AgentCore, AgentState, Effect, UpdateSource};
use crate::agent::state::{ExecutorLink, ExecutorState, Pending, create_task};

impl AgentCore {
    /// `RegisterExecutorMessage`: an executor launched by this agent
    /// starts its driver.
    pub(super) fn register_executor(
        &mut self,
        from: &Upid,
        message: msg::RegisterExecutorMessage,
        now: Instant,
    ) {
        let fid = FrameworkId::from(&message.framework_id);
        let eid = ExecutorId::from(&message.executor_id);
        tracing::info!(executor_id = %eid, framework_id = %fid, "Got registration for executor from {from}");
        let Some(state) = self.driver_executor_state(from, &fid, &eid, "register") else {
            return;
        };
        if state != ExecutorState::Registering {
            tracing::warn!(
                executor_id = %eid,
                framework_id = %fid,
                "Shutting down executor because it is in unexpected state {}",
                state.name()
            );
            self.send(from, &msg::ShutdownExecutorMessage::default());
            return;
        }
        let queued = self.connect_driver(from, &fid, &eid);
        let Some(executor) = self.executor_mut(&fid, &eid) else {
            return;
        };
        if !executor.ever_sent_task() && queued.is_empty() {
            // Everything it was launched for was killed meanwhile.
            tracing::warn!(executor_id = %eid, framework_id = %fid, "Shutting down registering executor because it has no tasks to run");
            self.shutdown_executor(&fid, &eid, now);
            return;
        }
        let executor_info = executor.info.clone();
        let framework_info = self
            .frameworks
            .get(&fid)
            .map(|f| f.info.clone())
            .unwrap_or_default();
        let registered = msg::ExecutorRegisteredMessage {
            executor_info,
            framework_id: fid.to_v0(),
            framework_info,
            slave_id: self.info.id.clone().unwrap_or_default(),
            slave_info: self.info.clone(),
        };
        self.send(from, &registered);
        self.flush_queued(from, &fid, queued);
    }

    /// `ReregisterExecutorMessage`: in Mesos an executor sends it when the
    /// agent asks it to reconnect after a restart; this agent accepts it
    /// from an executor it is still waiting for, and refuses it otherwise,
    /// as Mesos does.
    pub(super) fn reregister_executor(
        &mut self,
        from: &Upid,
        message: msg::ReregisterExecutorMessage,
        now: Instant,
    ) {
        let fid = FrameworkId::from(&message.framework_id);
        let eid = ExecutorId::from(&message.executor_id);
        tracing::info!(executor_id = %eid, framework_id = %fid, "Received re-registration message from executor at {from}");
        let Some(state) = self.driver_executor_state(from, &fid, &eid, "reregister") else {
            return;
        };
        if state != ExecutorState::Registering {
            // Mesos without `--executor_reregistration_retry_interval`.
            tracing::warn!(
                executor_id = %eid,
                framework_id = %fid,
                "Shutting down executor because it is in unexpected state {}",
                state.name()
            );
            self.send(from, &msg::ShutdownExecutorMessage::default());
            return;
        }
        let queued = self.connect_driver(from, &fid, &eid);
        let reregistered = msg::ExecutorReregisteredMessage {
            slave_id: self.info.id.clone().unwrap_or_default(),
            slave_info: self.info.clone(),
        };
        self.send(from, &reregistered);
        for update in message.updates {
            let update = msg::StatusUpdateMessage {
                update,
                pid: Some(from.to_string()),
            };
            self.executor_status_update(from, update, now);
        }
        // A task the agent handed over that the executor does not know of
        // never reached it.
        let known: std::collections::BTreeSet<TaskId> = message
            .tasks
            .iter()
            .map(|t| TaskId::from(&t.task_id))
            .collect();
        let (lost, partition_aware) = match self.frameworks.get(&fid) {
            Some(framework) => (
                framework
                    .executors
                    .get(&eid)
                    .map(|e| {
                        e.launched
                            .values()
                            .filter(|t| t.state == v0::TaskState::TaskStaging as i32)
                            .filter(|t| !known.contains(&TaskId::from(&t.task_id)))
                            .map(|t| v0::TaskInfo {
                                name: t.name.clone(),
                                task_id: t.task_id.clone(),
                                slave_id: t.slave_id.clone(),
                                ..Default::default()
                            })
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default(),
                framework.has_capability(v0::framework_info::capability::Type::PartitionAware),
            ),
            None => (Vec::new(), false),
        };
        let lost_state = if partition_aware {
            v0::TaskState::TaskDropped
        } else {
            v0::TaskState::TaskLost
        };
        for task in lost {
            self.agent_update(
                &fid,
                &task,
                Some(&eid),
                lost_state,
                v0::task_status::Reason::SlaveRestarted,
                "Task launched during agent restart".into(),
                now,
            );
        }
        let idle = self
            .frameworks
            .get(&fid)
            .and_then(|f| f.executors.get(&eid))
            .is_some_and(|e| !e.ever_sent_task());
        if idle && queued.is_empty() {
            tracing::warn!(executor_id = %eid, framework_id = %fid, "Shutting down reregistering executor because it has no tasks to run");
            self.shutdown_executor(&fid, &eid, now);
            return;
        }
        // Mesos leaves tasks queued for a re-registering executor (it only
        // has some when it was never registered); they are handed over
        // here instead of waiting for a registration that cannot come.
        self.flush_queued(from, &fid, queued);
    }

    /// The state of the executor a (re)registration names, or `None`
    /// after refusing it because the agent, the framework or the executor
    /// is not there to take it (Mesos's checks and words).
    fn driver_executor_state(
        &mut self,
        from: &Upid,
        fid: &FrameworkId,
        eid: &ExecutorId,
        what: &str,
    ) -> Option<ExecutorState> {
        let refusal = if self.state == AgentState::Terminating {
            Err("the agent is terminating")
        } else {
            match self.frameworks.get(fid) {
                None => Err("the framework does not exist"),
                Some(f) if f.terminating => Err("the framework is terminating"),
                Some(f) => f
                    .executors
                    .get(eid)
                    .map(|e| e.state)
                    .ok_or("the executor is unknown"),
            }
        };
        match refusal {
            Ok(state) => Some(state),
            Err(reason) => {
                tracing::warn!(executor_id = %eid, framework_id = %fid, "Shutting down executor that tried to {what} from {from} because {reason}");
                self.send(from, &msg::ShutdownExecutorMessage::default());
                None
            }
        }
    }

    /// Marks a registering executor as reached at `from` and takes its
    /// queued tasks, now launched.
    fn connect_driver(&mut self, from: &Upid, fid: &FrameworkId, eid: &ExecutorId) -> Vec<Pending> {
        self.effects.push(Effect::Link(from.clone()));
        let fid_wire = fid.to_v0();
        let Some(executor) = self.executor_mut(fid, eid) else {
            return Vec::new();
        };
        executor.state = ExecutorState::Running;
        executor.link = Some(ExecutorLink::Libprocess(from.clone()));
        executor.registration_deadline = None;
        let queued = executor.take_queued();
        for task in queued.iter().flat_map(Pending::tasks) {
            executor.launched.insert(
                TaskId::from(&task.task_id),
                create_task(task, v0::TaskState::TaskStaging, &fid_wire),
            );
        }
        let container_id = executor.container_id.clone();
        if self.checkpointing(fid) {
            self.checkpoint(crate::checkpoint::Checkpoint::ExecutorLink {
                framework_id: fid.clone(),
                executor_id: eid.clone(),
                container_id,
                pid: Some(from.clone()),
            });
        }
        queued
    }

    fn flush_queued(&mut self, to: &Upid, fid: &FrameworkId, queued: Vec<Pending>) {
        let link = ExecutorLink::Libprocess(to.clone());
        self.deliver_pending(fid, &link, queued);
    }

    /// `StatusUpdateMessage` from an executor's driver.
    pub(super) fn executor_status_update(
        &mut self,
        from: &Upid,
        message: msg::StatusUpdateMessage,
        now: Instant,
    ) {
        let update = message.update;
        let fid = FrameworkId::from(&update.framework_id);
        let task_id = TaskId::from(&update.status.task_id);
        let state_name =
            v0::TaskState::try_from(update.status.state).map_or("UNKNOWN", |s| s.as_str_name());
        let ignore = |why: &str| {
            tracing::warn!(task_id = %task_id, framework_id = %fid, "Ignoring status update {state_name} from {from}: {why}");
        };
        let valid_uuid = update
            .uuid
            .as_deref()
            .is_some_and(|u| uuid::Uuid::from_slice(u).is_ok());
        if !valid_uuid {
            return ignore("no valid 'uuid'");
        }
        if self.info.id.is_none() || update.slave_id != self.info.id {
            return ignore("agent id mismatch");
        }
        if update.status.slave_id.is_some() && update.status.slave_id != self.info.id {
            return ignore("agent id mismatch in the status");
        }
        let Some(framework) = self.frameworks.get(&fid) else {
            return ignore("unknown framework");
        };
        if framework.terminating {
            return ignore("the framework is terminating");
        }
        let link = ExecutorLink::Libprocess(from.clone());
        let Some(sender) = framework
            .executors
            .iter()
            .find(|(_, e)| e.link.as_ref() == Some(&link))
            .map(|(id, _)| id.clone())
        else {
            return ignore("not sent by a registered executor of the framework");
        };
        let owner = framework.executor_of_task(&task_id).cloned();
        if let Some(owner) = &owner {
            if *owner != sender {
                tracing::warn!(task_id = %task_id, "Received status update from {from} on behalf of a different executor '{owner}'");
            }
            if update.status.state == v0::TaskState::TaskStaging as i32 {
                tracing::error!(executor_id = %owner, "Received TASK_STAGING from executor which is not allowed. Shutting down the executor");
                self.shutdown_executor(&fid, owner, now);
                return;
            }
        }
        if self.limitation_wins(&fid, &sender, &update.status, Some(&link), now) {
            return;
        }
        self.status_update(update, UpdateSource::Executor(Some(link)), now);
    }

    /// `ExecutorToFrameworkMessage` from an executor's driver.
    pub(super) fn executor_message(
        &mut self,
        from: &Upid,
        message: msg::ExecutorToFrameworkMessage,
    ) {
        let fid = FrameworkId::from(&message.framework_id);
        let eid = ExecutorId::from(&message.executor_id);
        let link = ExecutorLink::Libprocess(from.clone());
        let sent_by_it = self
            .frameworks
            .get(&fid)
            .and_then(|f| f.executors.get(&eid))
            .is_some_and(|e| e.link.as_ref() == Some(&link));
        if !sent_by_it {
            tracing::warn!(executor_id = %eid, framework_id = %fid, "Ignoring framework message from {from}: not sent by that executor");
            return;
        }
        self.forward_executor_message(&fid, &eid, message.data);
    }

    /// Sends an executor's message to its scheduler, directly when the
    /// scheduler is a libprocess driver, else through the master.
    pub(super) fn forward_executor_message(
        &mut self,
        fid: &FrameworkId,
        eid: &ExecutorId,
        data: bytes::Bytes,
    ) {
        if self.state != AgentState::Running {
            tracing::warn!(executor_id = %eid, framework_id = %fid, "Dropping framework message from executor because the agent is not registered");
            return;
        }
        let Some(framework) = self.frameworks.get(fid) else {
            tracing::warn!(executor_id = %eid, framework_id = %fid, "Cannot send framework message from executor because framework does not exist");
            return;
        };
        if framework.terminating {
            tracing::warn!(executor_id = %eid, framework_id = %fid, "Ignoring framework message from executor because framework is terminating");
            return;
        }
        let to = framework.pid.clone().unwrap_or_else(|| self.master.clone());
        tracing::info!(framework_id = %fid, "Sending message for framework to {to}");
        let message = msg::ExecutorToFrameworkMessage {
            slave_id: self.info.id.clone().unwrap_or_default(),
            framework_id: fid.to_v0(),
            executor_id: eid.to_v0(),
            data,
        };
        self.send(&to, &message);
    }
}
