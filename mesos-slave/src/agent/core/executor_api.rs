//! The v1 executor API as the agent core sees it: SUBSCRIBE, UPDATE and
//! MESSAGE calls, and executor streams going away.

use std::time::Instant;

use http::StatusCode;
use mesos::ids::{ExecutorId, FrameworkId, TaskId};
use mesos::wire::mesos as v0;
use mesos::wire::mesos::internal as msg;
use mesos::wire::mesos::v1::executor as v1e;

use super::{AgentCore, AgentState, CallError, Effect, UpdateSource, call_error, wall_clock_secs};
use crate::agent::state::{ConnId, ExecutorLink, ExecutorState, Pending, create_task};

impl AgentCore {
    /// A v1 executor call arrived over HTTP. For SUBSCRIBE, `conn` is the
    /// stream the runtime opened for the answer.
    pub fn executor_call(
        &mut self,
        call: v1e::Call,
        conn: Option<ConnId>,
        now: Instant,
    ) -> Result<(), CallError> {
        let kind = call
            .r#type
            .and_then(|t| v1e::call::Type::try_from(t).ok())
            .ok_or_else(|| call_error(StatusCode::BAD_REQUEST, "Expecting 'type' to be present"))?;
        if kind == v1e::call::Type::Heartbeat {
            return Ok(());
        }
        if kind == v1e::call::Type::Unknown {
            return Err(call_error(
                StatusCode::NOT_IMPLEMENTED,
                "Received 'UNKNOWN' call",
            ));
        }
        let fid = FrameworkId::from(&call.framework_id);
        let eid = ExecutorId::from(&call.executor_id);
        let framework = self
            .frameworks
            .get(&fid)
            .ok_or_else(|| call_error(StatusCode::BAD_REQUEST, "Framework cannot be found"))?;
        let executor = framework
            .executors
            .get(&eid)
            .ok_or_else(|| call_error(StatusCode::BAD_REQUEST, "Executor cannot be found"))?;
        if executor.state == ExecutorState::Registering && kind != v1e::call::Type::Subscribe {
            return Err(call_error(
                StatusCode::FORBIDDEN,
                "Executor is not subscribed",
            ));
        }
        match kind {
            v1e::call::Type::Subscribe => {
                let subscribe = call.subscribe.ok_or_else(|| {
                    call_error(
                        StatusCode::BAD_REQUEST,
                        "Expecting 'subscribe' to be present",
                    )
                })?;
                let conn =
                    conn.ok_or_else(|| call_error(StatusCode::INTERNAL_SERVER_ERROR, "no stream"))?;
                self.subscribe(&fid, &eid, conn, subscribe, now);
                Ok(())
            }
            v1e::call::Type::Update => {
                let update = call.update.ok_or_else(|| {
                    call_error(StatusCode::BAD_REQUEST, "Expecting 'update' to be present")
                })?;
                let status: v0::TaskStatus = crate::convert_v0(&update.status);
                let uuid = status.uuid.clone().unwrap_or_default();
                if uuid::Uuid::from_slice(&uuid).is_err() {
                    return Err(call_error(
                        StatusCode::BAD_REQUEST,
                        "Failed to validate Executor::Call: 'uuid' must be a valid UUID",
                    ));
                }
                if status.state == v0::TaskState::TaskStaging as i32 {
                    return Err(call_error(
                        StatusCode::BAD_REQUEST,
                        "Failed to validate Executor::Call: TASK_STAGING is not a valid update",
                    ));
                }
                let link = executor.link.clone();
                if self.limitation_wins(&fid, &eid, &status, link.as_ref(), now) {
                    return Ok(());
                }
                let agent_id = self.info.id.clone();
                let mut status = status;
                status.slave_id = agent_id.clone();
                let update = msg::StatusUpdate {
                    framework_id: fid.to_v0(),
                    executor_id: Some(eid.to_v0()),
                    slave_id: agent_id,
                    timestamp: status.timestamp.unwrap_or_else(wall_clock_secs),
                    uuid: Some(uuid),
                    status,
                    latest_state: None,
                };
                // Acknowledged on the executor's stream once taken; with no
                // stream (it went away), the update is taken all the same.
                self.status_update(update, UpdateSource::Executor(link), now);
                Ok(())
            }
            v1e::call::Type::Message => {
                let message = call.message.ok_or_else(|| {
                    call_error(StatusCode::BAD_REQUEST, "Expecting 'message' to be present")
                })?;
                self.forward_executor_message(&fid, &eid, message.data);
                Ok(())
            }
            v1e::call::Type::Heartbeat | v1e::call::Type::Unknown => Ok(()),
        }
    }

    fn subscribe(
        &mut self,
        fid: &FrameworkId,
        eid: &ExecutorId,
        conn: ConnId,
        subscribe: v1e::call::Subscribe,
        now: Instant,
    ) {
        let terminating = self.state == AgentState::Terminating
            || self.frameworks.get(fid).is_some_and(|f| f.terminating);
        let Some(executor) = self
            .frameworks
            .get_mut(fid)
            .and_then(|f| f.executors.get_mut(eid))
        else {
            return;
        };
        tracing::info!(executor_id = %eid, framework_id = %fid, "Received Subscribe request for HTTP executor");
        if terminating
            || matches!(
                executor.state,
                ExecutorState::Terminating | ExecutorState::Terminated
            )
        {
            let event = v1e::Event {
                r#type: Some(v1e::event::Type::Shutdown as i32),
                ..Default::default()
            };
            self.send_event(conn, event);
            self.effects.push(Effect::CloseExecutor { conn });
            return;
        }
        if let Some(ExecutorLink::Http(old)) = executor.link.replace(ExecutorLink::Http(conn)) {
            tracing::warn!(executor_id = %eid, "Closing already existing HTTP connection from executor");
            self.effects.push(Effect::CloseExecutor { conn: old });
        }
        executor.state = ExecutorState::Running;
        executor.registration_deadline = None;
        // A recovered executor: tasks the agent handed over (still
        // staging) that it does not report never reached it.
        let known: std::collections::BTreeSet<TaskId> = subscribe
            .unacknowledged_tasks
            .iter()
            .map(|t| TaskId::from(&t.task_id))
            .collect();
        let never_delivered: Vec<v0::TaskInfo> = executor
            .launched
            .values()
            .filter(|t| t.state == v0::TaskState::TaskStaging as i32)
            .filter(|t| !known.contains(&TaskId::from(&t.task_id)))
            .map(|t| v0::TaskInfo {
                name: t.name.clone(),
                task_id: t.task_id.clone(),
                slave_id: t.slave_id.clone(),
                ..Default::default()
            })
            .collect();
        let executor_info = executor.info.clone();
        let container_id = executor.container_id.clone();
        let container_id_for_checkpoint = container_id.clone();
        let queued = executor.take_queued();
        let fid_wire = fid.to_v0();
        for task in queued.iter().flat_map(Pending::tasks) {
            executor.launched.insert(
                TaskId::from(&task.task_id),
                create_task(task, v0::TaskState::TaskStaging, &fid_wire),
            );
        }
        let framework_info = self
            .frameworks
            .get(fid)
            .map(|f| f.info.clone())
            .unwrap_or_default();
        for update in subscribe.unacknowledged_updates {
            let status: v0::TaskStatus = crate::convert_v0(&update.status);
            let update = msg::StatusUpdate {
                framework_id: fid.to_v0(),
                executor_id: Some(eid.to_v0()),
                slave_id: self.info.id.clone(),
                timestamp: status.timestamp.unwrap_or_else(wall_clock_secs),
                uuid: status.uuid.clone(),
                status,
                latest_state: None,
            };
            self.status_update(
                update,
                UpdateSource::Executor(Some(ExecutorLink::Http(conn))),
                now,
            );
        }
        let event = v1e::Event {
            r#type: Some(v1e::event::Type::Subscribed as i32),
            subscribed: Some(v1e::event::Subscribed {
                executor_info: crate::convert_v1(&executor_info),
                framework_info: crate::convert_v1(&framework_info),
                agent_info: crate::convert_v1(&self.info),
                container_id: Some(mesos::wire::mesos::v1::ContainerId {
                    value: container_id,
                    parent: None,
                }),
            }),
            ..Default::default()
        };
        self.send_event(conn, event);
        if self.checkpointing(fid) {
            self.checkpoint(crate::checkpoint::Checkpoint::ExecutorLink {
                framework_id: fid.clone(),
                executor_id: eid.clone(),
                container_id: container_id_for_checkpoint,
                pid: None,
            });
        }
        let partition_aware = self.frameworks.get(fid).is_some_and(|f| {
            f.has_capability(v0::framework_info::capability::Type::PartitionAware)
        });
        let lost_state = if partition_aware {
            v0::TaskState::TaskDropped
        } else {
            v0::TaskState::TaskLost
        };
        for task in never_delivered {
            self.agent_update(
                fid,
                &task,
                Some(eid),
                lost_state,
                v0::task_status::Reason::SlaveRestarted,
                "Task launched during agent restart".into(),
                now,
            );
        }
        self.deliver_pending(fid, &ExecutorLink::Http(conn), queued);
    }

    /// An executor's event stream went away.
    pub fn executor_disconnected(&mut self, conn: ConnId, now: Instant) {
        let found = self.frameworks.iter().find_map(|(fid, f)| {
            f.executors
                .iter()
                .find(|(_, e)| e.link == Some(ExecutorLink::Http(conn)))
                .map(|(eid, _)| (fid.clone(), eid.clone(), f.checkpoint()))
        });
        let Some((fid, eid, checkpoint)) = found else {
            return;
        };
        tracing::info!(executor_id = %eid, framework_id = %fid, "Executor disconnected");
        if let Some(executor) = self.executor_mut(&fid, &eid) {
            executor.link = None;
        }
        if !checkpoint {
            self.shutdown_executor(&fid, &eid, now);
        }
    }
}
