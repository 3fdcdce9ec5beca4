//! Task groups (`LAUNCH_GROUP`): several tasks run by one executor,
//! usually the agent's default executor, launched and validated together.
//! An invalid group fails as a whole: every task gets `TASK_ERROR` with
//! `REASON_TASK_GROUP_INVALID` and the first error found.

use std::collections::BTreeSet;

use mesos::ids::{AgentId, ExecutorId, FrameworkId, TaskId};
use mesos::resources::Resources;
use mesos::wire::mesos as v0;
use mesos::wire::mesos::framework_info::capability::Type as Capability;
use mesos::wire::mesos::internal;
use mesos::wire::mesos::task_status::Reason;

use super::frameworks::TaskEntry;
use super::{Master, Now};

/// Mesos's `MIN_CPUS`: the least an executor of a task group may use.
const MIN_CPUS: f64 = 0.01;

/// Mesos's `MIN_MEM` in megabytes.
const MIN_MEM: f64 = 32.0;

/// What a valid group needs: the tasks' resources (allocated to the
/// role) and the executor's, when it is not running yet.
struct ValidGroup {
    tasks: Vec<(v0::TaskInfo, Resources)>,
    executor_resources: Option<Resources>,
}

fn invalid_id(id: &str) -> bool {
    id.chars().any(|c| c.is_control() || c == '/' || c == '\\')
}

fn grace_negative(duration: Option<&v0::DurationInfo>) -> bool {
    duration.is_some_and(|d| d.nanoseconds < 0)
}

impl Master {
    /// `LAUNCH_GROUP`: validates the group as Mesos does and sends it to
    /// the agent in one `RunTaskGroupMessage`, taking its resources out of
    /// `remaining`.
    pub(super) fn launch_group(
        &mut self,
        framework_id: &FrameworkId,
        agent_id: &AgentId,
        role: &str,
        launch: v0::offer::operation::LaunchGroup,
        remaining: &mut Resources,
        now: Now,
    ) {
        let mut executor = launch.executor;
        executor
            .framework_id
            .get_or_insert_with(|| framework_id.to_v0());
        let mut group = launch.task_group;
        // As in Mesos, each task names the group's executor, so that the
        // operator API and `/state` show it.
        for task in &mut group.tasks {
            if task.executor.is_none() {
                task.executor = Some(executor.clone());
            }
        }
        let valid =
            match self.validate_group(framework_id, agent_id, role, &group, &executor, remaining) {
                Ok(valid) => valid,
                Err(message) => {
                    for task in &group.tasks {
                        self.drop_task(
                            framework_id,
                            task,
                            v0::TaskState::TaskError,
                            Reason::TaskGroupInvalid,
                            &message,
                            now,
                        );
                    }
                    return;
                }
            };
        let Some(framework) = self.frameworks.get_mut(framework_id) else {
            return;
        };
        let Some(agent) = self.agents.get_mut(agent_id) else {
            return;
        };
        let eid = ExecutorId::from(&executor.executor_id);
        let launch_executor = valid.executor_resources.is_some();
        if launch_executor {
            agent
                .executors
                .entry(framework_id.clone())
                .or_default()
                .insert(eid.clone(), executor.clone());
            framework
                .executors
                .entry(agent_id.clone())
                .or_default()
                .insert(eid, executor.clone());
        }
        let mut executor_resources = valid.executor_resources;
        if let Some(resources) = &executor_resources {
            remaining.subtract_all(resources);
        }
        let mut tasks = Vec::new();
        for (task, resources) in valid.tasks {
            remaining.subtract_all(&resources);
            let task_id = TaskId::from(&task.task_id);
            let mut launched = task.clone();
            launched.resources = resources.to_wire();
            // The executor's resources are booked with the first task, as
            // for a task launching a custom executor.
            let mut used = resources.clone();
            if let Some(executor) = executor_resources.take() {
                used.add_all(&executor);
            }
            agent.hold(framework_id, &used);
            agent.tasks.insert((framework_id.clone(), task_id.clone()));
            let record = v0::Task {
                name: task.name.clone(),
                task_id: task.task_id.clone(),
                framework_id: framework_id.to_v0(),
                executor_id: Some(executor.executor_id.clone()),
                slave_id: agent_id.to_v0(),
                state: v0::TaskState::TaskStaging as i32,
                resources: resources.to_wire(),
                labels: task.labels.clone(),
                discovery: task.discovery.clone(),
                container: task.container.clone(),
                health_check: task.health_check.clone(),
                kill_policy: task.kill_policy,
                user: Some(framework.info.user.clone()),
                limits: task.limits.clone(),
                ..Default::default()
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
            tracing::info!(framework_id = %framework_id, agent_id = %agent_id, task_id = %task_id, "Launching task of a group with {resources}");
            tasks.push(launched);
        }
        let message = internal::RunTaskGroupMessage {
            framework: framework.info.clone(),
            executor,
            task_group: v0::TaskGroupInfo { tasks },
            resource_version_uuids: Vec::new(),
            launch_executor: Some(launch_executor),
        };
        let agent_pid = agent.pid.clone();
        self.send_message(&agent_pid, &message);
    }

    /// Mesos's task group validation (`validation::task::group`), in its
    /// order and words; the group's tasks already name its executor.
    fn validate_group(
        &self,
        framework_id: &FrameworkId,
        agent_id: &AgentId,
        role: &str,
        group: &v0::TaskGroupInfo,
        executor: &v0::ExecutorInfo,
        offered: &Resources,
    ) -> Result<ValidGroup, String> {
        let framework = self
            .frameworks
            .get(framework_id)
            .ok_or("Framework is gone")?;
        if group.tasks.is_empty() {
            return Err("Task group is empty".into());
        }
        let multi_role = framework.has_capability(Capability::MultiRole);
        let allocate = |wire: &[v0::Resource]| -> Result<Resources, String> {
            let mut resources = Resources::from_wire(wire).map_err(|e| e.to_string())?;
            if !multi_role {
                resources.allocate(role);
            }
            Ok(resources)
        };
        let mut seen = BTreeSet::new();
        let mut tasks = Vec::new();
        for task in &group.tasks {
            let task_id = TaskId::from(&task.task_id);
            let check = || -> Result<Resources, String> {
                if task_id.as_str().is_empty() || invalid_id(task_id.as_str()) {
                    return Err(format!("TaskID '{task_id}' contains invalid characters"));
                }
                if framework.tasks.contains_key(&task_id) || seen.contains(&task_id) {
                    return Err(format!("Task has duplicate ID: {task_id}"));
                }
                let task_agent = AgentId::from(&task.slave_id);
                if task_agent != *agent_id {
                    return Err(format!(
                        "Task uses invalid agent {task_agent} while agent {agent_id} is expected"
                    ));
                }
                if grace_negative(
                    task.kill_policy
                        .as_ref()
                        .and_then(|k| k.grace_period.as_ref()),
                ) {
                    return Err("Task's 'kill_policy.grace_period' must be non-negative".into());
                }
                super::checks::validate_task_checks(task)?;
                if task.resources.is_empty() {
                    return Err("Task uses no resources".into());
                }
                let resources = allocate(&task.resources)
                    .map_err(|e| format!("Task uses invalid resources: {e}"))?;
                if task.executor.is_none() {
                    return Err("'TaskInfo.executor' must be set".into());
                }
                if let Some(container) = &task.container {
                    let network_check = task.health_check.as_ref().is_some_and(|c| {
                        c.r#type == Some(v0::health_check::Type::Http as i32)
                            || c.r#type == Some(v0::health_check::Type::Tcp as i32)
                    });
                    if !container.network_infos.is_empty() && network_check {
                        return Err("HTTP and TCP health checks are not supported for nested containers not joining parent's network".into());
                    }
                    if container.r#type == v0::container_info::Type::Docker as i32 {
                        return Err("Docker ContainerInfo is not supported on the task".into());
                    }
                }
                Ok(resources)
            };
            let resources = check().map_err(|e| format!("Task '{task_id}' is invalid: {e}"))?;
            seen.insert(task_id);
            tasks.push((task.clone(), resources));
        }

        let eid = ExecutorId::from(&executor.executor_id);
        if eid.as_str().is_empty() {
            return Err("'ExecutorInfo.executor_id' must not be empty".into());
        }
        if invalid_id(eid.as_str()) {
            return Err(format!(
                "'ExecutorInfo.executor_id' '{eid}' contains invalid characters"
            ));
        }
        use v0::executor_info::Type as ExecutorType;
        let kind = executor.r#type.and_then(|t| ExecutorType::try_from(t).ok());
        match kind {
            Some(ExecutorType::Default) => {
                if executor.command.is_some() {
                    return Err(
                        "'ExecutorInfo.command' must not be set for 'DEFAULT' executor".into(),
                    );
                }
                if let Some(container) = &executor.container {
                    if container.r#type != v0::container_info::Type::Mesos as i32 {
                        return Err(
                            "'ExecutorInfo.container.type' must be 'MESOS' for 'DEFAULT' executor"
                                .into(),
                        );
                    }
                }
            }
            Some(ExecutorType::Custom) if executor.command.is_none() => {
                return Err("'ExecutorInfo.command' must be set for 'CUSTOM' executor".into());
            }
            _ => {}
        }
        if executor.framework_id.as_ref() != Some(&framework_id.to_v0()) {
            return Err(format!(
                "ExecutorInfo has an invalid FrameworkID (Actual: {} vs Expected: {framework_id})",
                executor
                    .framework_id
                    .as_ref()
                    .map(|f| f.value.as_str())
                    .unwrap_or_default()
            ));
        }
        if grace_negative(executor.shutdown_grace_period.as_ref()) {
            return Err("ExecutorInfo's 'shutdown_grace_period' must be non-negative".into());
        }
        let executor_resources = allocate(&executor.resources)
            .map_err(|e| format!("Executor uses invalid resources: {e}"))?;
        let running = self
            .agents
            .get(agent_id)
            .and_then(|a| a.executors.get(framework_id))
            .and_then(|e| e.get(&eid));
        if let Some(existing) = running {
            if existing != executor {
                return Err(format!(
                    "ExecutorInfo is not compatible with existing ExecutorInfo with same ExecutorID: {eid}"
                ));
            }
        }
        match kind {
            None => return Err("'ExecutorInfo.type' must be set".into()),
            Some(ExecutorType::Unknown) => return Err("Unknown executor type".into()),
            _ => {}
        }
        if let Some(container) = &executor.container {
            if container.r#type == v0::container_info::Type::Docker as i32 {
                return Err("Docker ContainerInfo is not supported on the executor".into());
            }
        }
        for task in &group.tasks {
            if task.executor.as_ref() != Some(executor) {
                return Err(format!(
                    "The `ExecutorInfo` of task '{}' is different from executor '{eid}'",
                    task.task_id.value
                ));
            }
        }
        let cpus = executor_resources.cpus();
        if cpus.is_none_or(|c| c < MIN_CPUS) {
            return Err(format!(
                "Executor '{eid}' uses less CPUs ({}) than the minimum required ({MIN_CPUS})",
                cpus.map_or("None".to_string(), |c| c.to_string())
            ));
        }
        let mem = executor_resources.mem();
        if mem.is_none_or(|m| m < MIN_MEM) {
            return Err(format!(
                "Executor '{eid}' uses less memory ({}) than the minimum required ({MIN_MEM}MB)",
                mem.map_or("None".to_string(), |m| format!("{m}MB"))
            ));
        }
        if executor_resources.disk().is_none() {
            return Err(format!("Executor '{eid}' uses no disk"));
        }
        let mut total = Resources::new();
        for (_, resources) in &tasks {
            total.add_all(resources);
        }
        let launch_executor = running.is_none();
        if launch_executor {
            total.add_all(&executor_resources);
        }
        if !offered.contains(&total) {
            return Err(format!(
                "Total resources {total} required by task group and its executor are more than available {offered}"
            ));
        }
        Ok(ValidGroup {
            tasks,
            executor_resources: launch_executor.then_some(executor_resources),
        })
    }
}
