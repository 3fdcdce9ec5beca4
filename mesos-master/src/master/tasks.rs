//! Tasks: launch, status updates and their acknowledgements, kill,
//! reconciliation, and the messages frameworks send their executors.

use mesos::ids::{AgentId, ExecutorId, FrameworkId, TaskId};
use mesos::resources::Resources;
use mesos::wire::mesos as v0;
use mesos::wire::mesos::framework_info::capability::Type as Capability;
use mesos::wire::mesos::internal;
use mesos::wire::mesos::scheduler::{self, call, event};
use mesos::wire::mesos::task_status::{Reason, Source};

use super::frameworks::{TaskEntry, trim};
use super::{CallError, FrameworkLink, Master, Now, is_terminal, state_name};

/// How many statuses a task keeps for `/state`.
const MAX_TASK_STATUSES: usize = 10;

impl Master {
    /// Validates and launches one task from an accepted offer, taking its
    /// resources out of `remaining`.
    pub(super) fn launch(
        &mut self,
        framework_id: &FrameworkId,
        agent_id: &AgentId,
        role: &str,
        mut task: v0::TaskInfo,
        remaining: &mut Resources,
        now: Now,
    ) {
        super::checks::type_legacy_health_check(&mut task);
        let error = |message: String| (v0::TaskState::TaskError, Reason::TaskInvalid, message);
        let validated = self.validate_task(framework_id, agent_id, role, &task, remaining);
        let (resources, executor) = match validated {
            Ok(ok) => ok,
            Err(message) => {
                let (state, reason, message) = error(message);
                self.drop_task(framework_id, &task, state, reason, &message, now);
                return;
            }
        };
        // A new executor's resources are taken from the offer too, or
        // they would go back to the allocator and be offered while in use.
        remaining.subtract_all(&resources);
        if let Some(executor) = &executor {
            remaining.subtract_all(executor);
        }

        let Some(framework) = self.frameworks.get_mut(framework_id) else {
            return;
        };
        let Some(agent) = self.agents.get_mut(agent_id) else {
            return;
        };
        let task_id = TaskId::from(&task.task_id);
        let mut launched = task.clone();
        launched.resources = resources.to_wire();
        if let Some(executor) = launched.executor.as_mut() {
            executor.framework_id = Some(framework_id.to_v0());
        }
        let launch_executor = match &launched.executor {
            Some(info) => {
                let eid = ExecutorId::from(&info.executor_id);
                let known = agent
                    .executors
                    .get(framework_id)
                    .is_some_and(|e| e.contains_key(&eid));
                if !known {
                    agent
                        .executors
                        .entry(framework_id.clone())
                        .or_default()
                        .insert(eid.clone(), info.clone());
                    framework
                        .executors
                        .entry(agent_id.clone())
                        .or_default()
                        .insert(eid, info.clone());
                }
                !known
            }
            None => true,
        };
        let mut used = resources.clone();
        if let Some(executor) = executor {
            used.add_all(&executor);
        }
        agent.hold(framework_id, &used);
        agent.tasks.insert((framework_id.clone(), task_id.clone()));
        let record = v0::Task {
            name: task.name.clone(),
            task_id: task.task_id.clone(),
            framework_id: framework_id.to_v0(),
            executor_id: task.executor.as_ref().map(|e| e.executor_id.clone()),
            slave_id: agent_id.to_v0(),
            state: v0::TaskState::TaskStaging as i32,
            resources: resources.to_wire(),
            statuses: Vec::new(),
            status_update_state: None,
            status_update_uuid: None,
            labels: task.labels.clone(),
            discovery: task.discovery.clone(),
            container: task.container.clone(),
            health_check: task.health_check.clone(),
            kill_policy: task.kill_policy,
            user: Some(framework.info.user.clone()),
            limits: task.limits.clone(),
        };
        framework.tasks.insert(
            task_id.clone(),
            TaskEntry {
                task: record,
                resources: used,
                latest_status: None,
                resources_recovered: false,
            },
        );
        let pid = match &framework.link {
            Some(FrameworkLink::Libprocess { pid }) => pid.to_string(),
            _ => String::new(),
        };
        // `framework_id` is deprecated but older agents still read it.
        #[allow(deprecated)]
        let message = internal::RunTaskMessage {
            framework_id: Some(framework_id.to_v0()),
            framework: framework.info.clone(),
            task: launched,
            resource_version_uuids: Vec::new(),
            pid: Some(pid),
            launch_executor: Some(launch_executor),
        };
        let agent_pid = agent.pid.clone();
        tracing::info!(framework_id = %framework_id, agent_id = %agent_id, task_id = %task_id, "Launching task with {resources}");
        self.send_message(&agent_pid, &message);
    }

    /// Mesos's task validation, in Mesos's order and words. Returns the
    /// task's resources (allocated to `role`) and those of an executor that
    /// is not running yet.
    fn validate_task(
        &self,
        framework_id: &FrameworkId,
        agent_id: &AgentId,
        role: &str,
        task: &v0::TaskInfo,
        remaining: &Resources,
    ) -> Result<(Resources, Option<Resources>), String> {
        let framework = self
            .frameworks
            .get(framework_id)
            .ok_or("Framework is gone")?;
        let task_id = TaskId::from(&task.task_id);
        if task_id.as_str().is_empty() || task_id.as_str().contains(['/', '\0']) {
            return Err(format!("TaskID '{task_id}' contains invalid characters"));
        }
        if framework.tasks.contains_key(&task_id) {
            return Err(format!("Task has duplicate ID: {task_id}"));
        }
        if AgentId::from(&task.slave_id) != *agent_id {
            return Err(format!(
                "Task uses invalid agent: {}",
                AgentId::from(&task.slave_id)
            ));
        }
        super::checks::validate_task_checks(task)?;
        if task.executor.is_some() == task.command.is_some() {
            return Err(
                "Task should have at least one (but not both) of CommandInfo or ExecutorInfo present"
                    .into(),
            );
        }
        let multi_role = framework.has_capability(Capability::MultiRole);
        let allocate = |wire: &[v0::Resource]| -> Result<Resources, String> {
            let mut resources = Resources::from_wire(wire).map_err(|e| e.to_string())?;
            if !multi_role {
                resources.allocate(role);
            }
            Ok(resources)
        };
        let resources = allocate(&task.resources)?;
        if resources.is_empty() {
            return Err("Task uses no resources".into());
        }
        let mut total = resources.clone();
        let mut executor_resources = None;
        if let Some(executor) = &task.executor {
            let eid = ExecutorId::from(&executor.executor_id);
            if eid.as_str().is_empty() {
                return Err("ExecutorID must not be empty".into());
            }
            let running = self
                .agents
                .get(agent_id)
                .and_then(|a| a.executors.get(framework_id))
                .and_then(|e| e.get(&eid));
            match running {
                Some(info) if info.command != executor.command => {
                    return Err(format!(
                        "ExecutorInfo is not compatible with existing ExecutorInfo with same ExecutorID: {eid}"
                    ));
                }
                Some(_) => {}
                None => {
                    let executor = allocate(&executor.resources)?;
                    total.add_all(&executor);
                    executor_resources = Some(executor);
                }
            }
        }
        if !remaining.contains(&total) {
            return Err(format!(
                "Total resources {total} required by task and its executor is more than available {remaining}"
            ));
        }
        Ok((resources, executor_resources))
    }

    /// Answers a task that will not run with a master-generated update.
    pub(super) fn drop_task(
        &mut self,
        framework_id: &FrameworkId,
        task: &v0::TaskInfo,
        state: v0::TaskState,
        reason: Reason,
        message: &str,
        now: Now,
    ) {
        tracing::warn!(framework_id = %framework_id, task_id = %TaskId::from(&task.task_id), "{}: {message}", state.as_str_name());
        let agent = AgentId::from(&task.slave_id);
        let status = self.master_status(
            framework_id,
            &TaskId::from(&task.task_id),
            Some(&agent),
            state,
            reason,
            message,
            now,
        );
        self.count_terminal(&status);
        self.forward_master_update(framework_id, status);
    }

    /// A status the master makes up (no uuid: nothing to acknowledge).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn master_status(
        &self,
        _framework_id: &FrameworkId,
        task_id: &TaskId,
        agent_id: Option<&AgentId>,
        state: v0::TaskState,
        reason: Reason,
        message: &str,
        now: Now,
    ) -> v0::TaskStatus {
        v0::TaskStatus {
            task_id: task_id.to_v0(),
            state: state as i32,
            message: Some(message.to_string()),
            source: Some(Source::Master as i32),
            reason: Some(reason as i32),
            slave_id: agent_id.map(AgentId::to_v0),
            timestamp: Some(now.unix),
            ..Default::default()
        }
    }

    /// Sends a master-generated status to the framework, if connected.
    pub(super) fn forward_master_update(
        &mut self,
        framework_id: &FrameworkId,
        status: v0::TaskStatus,
    ) {
        if let Some(link) = self
            .frameworks
            .get(framework_id)
            .and_then(|f| f.link.clone())
        {
            self.send_event(&link, update_event(status));
        }
    }

    /// Counts a task reaching a terminal state (Mesos's `master/tasks_*`
    /// and, when the status has a reason, the per-reason counter).
    pub(super) fn count_terminal(&mut self, status: &v0::TaskStatus) {
        if is_terminal(status.state) {
            *self
                .metrics
                .tasks_terminal
                .entry(state_name(status.state).to_string())
                .or_default() += 1;
            if status.reason.is_some() {
                self.metrics
                    .task_state(status.state, status.source, status.reason);
            }
        }
    }

    /// An agent forwards a status update.
    pub(super) fn status_update(
        &mut self,
        from: &mesos::upid::Upid,
        message: internal::StatusUpdateMessage,
        now: Now,
    ) {
        let update = message.update;
        self.metrics.status_updates_received += 1;
        let framework_id = FrameworkId::from(&update.framework_id);
        let task_id = TaskId::from(&update.status.task_id);
        let Some(agent_id) = update.slave_id.as_ref().map(AgentId::from) else {
            tracing::warn!("Dropping status update without agent id from {from}");
            self.metrics.invalid_messages += 1;
            self.metrics.bump("invalid_status_updates");
            return;
        };
        if self.agents.get(&agent_id).is_none_or(|a| &a.pid != from) {
            tracing::warn!(agent_id = %agent_id, "Ignoring status update from {from}: not the registered agent");
            self.metrics.bump("invalid_status_updates");
            return;
        }
        let Some(framework) = self.frameworks.get_mut(&framework_id) else {
            tracing::warn!(framework_id = %framework_id, "Ignoring status update for unknown framework");
            self.metrics.bump("invalid_status_updates");
            return;
        };
        let latest = update.latest_state.unwrap_or(update.status.state);
        let mut status = update.status.clone();
        if let Some(uuid) = &update.uuid {
            status.uuid = Some(uuid.clone());
        }
        status.slave_id = Some(agent_id.to_v0());
        let mut recover = None;
        let mut terminal = None;
        let known = framework.tasks.contains_key(&task_id);
        if let Some(entry) = framework.tasks.get_mut(&task_id) {
            let was_terminal = is_terminal(entry.task.state);
            // A terminal state is final: a late or retried older update
            // must not bring the task back (Mesos's `updateTask`).
            if !was_terminal {
                entry.task.state = latest;
            }
            entry.task.status_update_state = Some(status.state);
            entry.task.status_update_uuid = update.uuid.clone();
            let duplicate =
                update.uuid.is_some() && entry.task.statuses.iter().any(|s| s.uuid == update.uuid);
            if !duplicate {
                let mut kept = status.clone();
                kept.data = None;
                entry.task.statuses.push(kept);
                if entry.task.statuses.len() > MAX_TASK_STATUSES {
                    entry.task.statuses.remove(0);
                }
            }
            entry.latest_status = Some(status.clone());
            if is_terminal(entry.task.state) && !entry.resources_recovered {
                entry.resources_recovered = true;
                recover = Some(entry.resources.clone());
            }
            if is_terminal(latest) && !was_terminal {
                terminal = Some(v0::TaskStatus {
                    state: latest,
                    ..status.clone()
                });
            }
        }
        self.metrics.bump(if known {
            "valid_status_updates"
        } else {
            "invalid_status_updates"
        });
        if let Some(status) = terminal {
            self.count_terminal(&status);
        }
        if let Some(resources) = recover {
            if let Some(agent) = self.agents.get_mut(&agent_id) {
                agent.release(&framework_id, &resources);
            }
            self.allocator.recover_resources(
                &framework_id,
                &agent_id,
                &resources,
                None,
                now.instant,
            );
            self.allocation_pending = true;
        }
        // An update that needs no acknowledgement ends the task here.
        if update.uuid.is_none() && is_terminal(latest) {
            self.forget_task(&framework_id, &task_id, now);
        }
        match self
            .frameworks
            .get(&framework_id)
            .and_then(|f| f.link.clone())
        {
            // A driver gets the agent's update as it came (`latest_state`
            // and all), naming the agent to acknowledge, as Mesos's
            // `forward` does.
            Some(FrameworkLink::Libprocess { pid }) => {
                let message = internal::StatusUpdateMessage {
                    update: internal::StatusUpdate { status, ..update },
                    pid: Some(from.to_string()),
                };
                self.send_message(&pid, &message);
            }
            Some(link) => self.send_event(&link, update_event(status)),
            None => {}
        }
    }

    /// `ACKNOWLEDGE`: passed on to the agent; an acknowledged terminal
    /// update removes the task.
    pub(super) fn acknowledge(
        &mut self,
        framework_id: &FrameworkId,
        ack: call::Acknowledge,
        now: Now,
    ) -> Result<(), CallError> {
        if ack.uuid.len() != 16 {
            self.metrics.bump("invalid_status_update_acknowledgements");
            return Err(CallError::BadRequest(format!(
                "Failed to validate scheduler::Call: Not a valid UUID: {} bytes",
                ack.uuid.len()
            )));
        }
        let agent_id = AgentId::from(&ack.slave_id);
        let task_id = TaskId::from(&ack.task_id);
        let Some(agent_pid) = self.agents.get(&agent_id).map(|a| a.pid.clone()) else {
            tracing::warn!(agent_id = %agent_id, "Cannot send acknowledgement: unknown agent");
            self.metrics.bump("invalid_status_update_acknowledgements");
            return Ok(());
        };
        self.metrics.bump("valid_status_update_acknowledgements");
        let terminal_acked = self
            .frameworks
            .get(framework_id)
            .and_then(|f| f.tasks.get(&task_id))
            .is_some_and(|entry| {
                entry.task.status_update_uuid.as_deref() == Some(&ack.uuid[..])
                    && entry.task.status_update_state.is_some_and(is_terminal)
            });
        if terminal_acked {
            self.forget_task(framework_id, &task_id, now);
        }
        let message = internal::StatusUpdateAcknowledgementMessage {
            slave_id: ack.slave_id,
            framework_id: framework_id.to_v0(),
            task_id: ack.task_id,
            uuid: ack.uuid,
        };
        self.send_message(&agent_pid, &message);
        Ok(())
    }

    /// Removes a task from the books, keeping it among completed tasks.
    pub(super) fn forget_task(&mut self, framework_id: &FrameworkId, task_id: &TaskId, now: Now) {
        let Some(framework) = self.frameworks.get_mut(framework_id) else {
            return;
        };
        let Some(entry) = framework.tasks.remove(task_id) else {
            return;
        };
        framework.completed_tasks.push_back(entry.task.clone());
        trim(
            &mut framework.completed_tasks,
            self.config.max_completed_tasks_per_framework,
        );
        let agent_id = AgentId::from(&entry.task.slave_id);
        if let Some(agent) = self.agents.get_mut(&agent_id) {
            agent.tasks.remove(&(framework_id.clone(), task_id.clone()));
            if !entry.resources_recovered {
                agent.release(framework_id, &entry.resources);
            }
        }
        if !entry.resources_recovered && self.agents.contains_key(&agent_id) {
            self.allocator.recover_resources(
                framework_id,
                &agent_id,
                &entry.resources,
                None,
                now.instant,
            );
            self.allocation_pending = true;
        }
    }

    /// `RECONCILE`: the latest state of the named tasks, or of all when
    /// none are named.
    pub(super) fn reconcile(
        &mut self,
        framework_id: &FrameworkId,
        reconcile: call::Reconcile,
        now: Now,
    ) {
        let Some(framework) = self.frameworks.get(framework_id) else {
            return;
        };
        let partition_aware = framework.partition_aware();
        let mut statuses = Vec::new();
        if reconcile.tasks.is_empty() {
            let mut ids: Vec<&TaskId> = framework.tasks.keys().collect();
            ids.sort();
            for id in ids {
                statuses.push(self.latest_status(&framework.tasks[id], now));
            }
        } else {
            for request in &reconcile.tasks {
                let task_id = TaskId::from(&request.task_id);
                let agent_id = request.slave_id.as_ref().map(AgentId::from);
                if let Some(entry) = framework.tasks.get(&task_id) {
                    statuses.push(self.latest_status(entry, now));
                    continue;
                }
                // A recovered agent that has yet to re-register will
                // say; Mesos answers nothing until then.
                if agent_id.as_ref().is_some_and(|a| self.is_recovered(a)) {
                    continue;
                }
                let (state, message) = match &agent_id {
                    Some(agent) if self.is_unreachable(agent) => (
                        if partition_aware {
                            v0::TaskState::TaskUnreachable
                        } else {
                            v0::TaskState::TaskLost
                        },
                        "Reconciliation: Task is unreachable",
                    ),
                    Some(agent) if self.is_gone(agent) => (
                        if partition_aware {
                            v0::TaskState::TaskGoneByOperator
                        } else {
                            v0::TaskState::TaskLost
                        },
                        "Reconciliation: Task is gone",
                    ),
                    Some(agent) if self.agents.contains_key(agent) => (
                        if partition_aware {
                            v0::TaskState::TaskGone
                        } else {
                            v0::TaskState::TaskLost
                        },
                        "Reconciliation: Task is unknown to the agent",
                    ),
                    _ => (
                        if partition_aware {
                            v0::TaskState::TaskUnknown
                        } else {
                            v0::TaskState::TaskLost
                        },
                        "Reconciliation: Task is unknown",
                    ),
                };
                let mut status = self.master_status(
                    framework_id,
                    &task_id,
                    agent_id.as_ref(),
                    state,
                    Reason::Reconciliation,
                    message,
                    now,
                );
                if let Some(agent) = &agent_id {
                    status.unreachable_time =
                        self.registry.unreachable.get(agent).map(|u| u.timestamp);
                }
                statuses.push(status);
            }
        }
        for status in statuses {
            self.forward_master_update(framework_id, status);
        }
    }

    fn latest_status(&self, entry: &TaskEntry, now: Now) -> v0::TaskStatus {
        let task = &entry.task;
        let mut status = entry.latest_status.clone().unwrap_or_default();
        status.task_id = task.task_id.clone();
        // The state the framework was last sent, as Mesos answers: the
        // agent's latest state may be ahead of it.
        status.state = task.status_update_state.unwrap_or(task.state);
        status.message = Some("Reconciliation: Latest task state".into());
        status.source = Some(Source::Master as i32);
        status.reason = Some(Reason::Reconciliation as i32);
        status.slave_id = Some(task.slave_id.clone());
        status.executor_id = task.executor_id.clone();
        status.timestamp = Some(now.unix);
        status.uuid = None;
        status.data = None;
        status
    }

    /// `KILL`: the agent is asked; an unknown task is reconciled instead.
    pub(super) fn kill(&mut self, framework_id: &FrameworkId, kill: call::Kill, now: Now) {
        let task_id = TaskId::from(&kill.task_id);
        let known = self
            .frameworks
            .get(framework_id)
            .and_then(|f| f.tasks.get(&task_id))
            .map(|entry| AgentId::from(&entry.task.slave_id));
        let Some(agent_id) = known else {
            let reconcile = call::Reconcile {
                tasks: vec![call::reconcile::Task {
                    task_id: kill.task_id,
                    slave_id: kill.slave_id,
                }],
            };
            self.reconcile(framework_id, reconcile, now);
            return;
        };
        let Some(pid) = self.agents.get(&agent_id).map(|a| a.pid.clone()) else {
            return;
        };
        let message = internal::KillTaskMessage {
            framework_id: framework_id.to_v0(),
            task_id: kill.task_id,
            kill_policy: kill.kill_policy,
        };
        self.send_message(&pid, &message);
    }

    /// `SHUTDOWN`: the agent shuts the executor down.
    pub(super) fn shutdown_executor(
        &mut self,
        framework_id: &FrameworkId,
        shutdown: call::Shutdown,
    ) {
        let agent_id = AgentId::from(&shutdown.slave_id);
        let Some(pid) = self.agents.get(&agent_id).map(|a| a.pid.clone()) else {
            return;
        };
        let message = internal::ShutdownExecutorMessage {
            executor_id: Some(shutdown.executor_id),
            framework_id: Some(framework_id.to_v0()),
        };
        self.send_message(&pid, &message);
    }

    /// `MESSAGE`: passed to the executor through its agent.
    pub(super) fn framework_message(&mut self, framework_id: &FrameworkId, message: call::Message) {
        let agent_id = AgentId::from(&message.slave_id);
        let Some(pid) = self.agents.get(&agent_id).map(|a| a.pid.clone()) else {
            self.metrics.bump("invalid_framework_to_executor_messages");
            return;
        };
        self.metrics.bump("valid_framework_to_executor_messages");
        let message = internal::FrameworkToExecutorMessage {
            slave_id: message.slave_id,
            framework_id: framework_id.to_v0(),
            executor_id: message.executor_id,
            data: message.data,
        };
        self.send_message(&pid, &message);
    }
}

/// An `UPDATE` event.
pub fn update_event(status: v0::TaskStatus) -> scheduler::Event {
    scheduler::Event {
        r#type: Some(event::Type::Update as i32),
        update: Some(event::Update { status }),
        ..Default::default()
    }
}
