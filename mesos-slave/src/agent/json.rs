//! The agent's JSON endpoints: `/state`, `/flags`, `/version`, with the
//! keys Mesos 1.11 prints for what this agent has.

use mesos::resources::Resources;
use mesos::wire::mesos as v0;
use serde_json::{Map, Value as Json, json};

use super::core::{AgentCore, VERSION};
use super::state::{Executor, Framework};
use crate::convert::{attributes_model, resources_from_wire_lenient, resources_model};

fn model(resources: &[v0::Resource]) -> Json {
    resources_model(&resources_from_wire_lenient(resources))
}

fn task_json(task: &v0::Task) -> Json {
    let state = v0::TaskState::try_from(task.state).map_or("TASK_UNKNOWN", |s| s.as_str_name());
    let statuses: Vec<Json> = task
        .statuses
        .iter()
        .map(|s| {
            let state =
                v0::TaskState::try_from(s.state).map_or("TASK_UNKNOWN", |s| s.as_str_name());
            json!({"state": state, "timestamp": s.timestamp.unwrap_or(0.0)})
        })
        .collect();
    let mut object = Map::new();
    object.insert("id".into(), json!(task.task_id.value));
    object.insert("name".into(), json!(task.name));
    object.insert("framework_id".into(), json!(task.framework_id.value));
    object.insert(
        "executor_id".into(),
        json!(
            task.executor_id
                .as_ref()
                .map(|e| e.value.clone())
                .unwrap_or_default()
        ),
    );
    object.insert("slave_id".into(), json!(task.slave_id.value));
    object.insert("state".into(), json!(state));
    object.insert("resources".into(), model(&task.resources));
    if let Some(role) = task
        .resources
        .iter()
        .find_map(|r| r.allocation_info.as_ref().and_then(|a| a.role.clone()))
    {
        object.insert("role".into(), json!(role));
    }
    object.insert("statuses".into(), Json::Array(statuses));
    if let Some(labels) = &task.labels {
        object.insert(
            "labels".into(),
            mesos::wire::json::to_json(labels)["labels"].clone(),
        );
    }
    if let Some(container) = &task.container {
        object.insert("container".into(), mesos::wire::json::to_json(container));
    }
    Json::Object(object)
}

fn task_info_json(task: &v0::TaskInfo, framework_id: &v0::FrameworkId) -> Json {
    task_json(&super::state::create_task(
        task,
        v0::TaskState::TaskStaging,
        framework_id,
    ))
}

fn executor_json(executor: &Executor, framework_id: &v0::FrameworkId) -> Json {
    let mut resources = resources_from_wire_lenient(&executor.info.resources);
    for task in executor.launched.values() {
        resources += &resources_from_wire_lenient(&task.resources);
    }
    let mut object = Map::new();
    object.insert("id".into(), json!(executor.id.as_str()));
    object.insert(
        "name".into(),
        json!(executor.info.name.clone().unwrap_or_default()),
    );
    #[allow(deprecated)]
    let source = executor.info.source.clone().unwrap_or_default();
    object.insert("source".into(), json!(source));
    object.insert("container".into(), json!(executor.container_id));
    object.insert(
        "directory".into(),
        json!(executor.directory.display().to_string()),
    );
    object.insert("resources".into(), resources_model(&resources));
    object.insert("state".into(), json!(executor.state.name()));
    object.insert(
        "tasks".into(),
        Json::Array(
            executor
                .launched
                .values()
                .chain(executor.terminated.values())
                .map(task_json)
                .collect(),
        ),
    );
    object.insert(
        "queued_tasks".into(),
        Json::Array(
            executor
                .queued
                .iter()
                .map(|t| task_info_json(t, framework_id))
                .collect(),
        ),
    );
    object.insert(
        "completed_tasks".into(),
        Json::Array(executor.completed.iter().map(task_json).collect()),
    );
    Json::Object(object)
}

#[allow(deprecated)]
fn framework_json(framework: &Framework) -> Json {
    let info = &framework.info;
    let fid = framework.id.to_v0();
    let capabilities: Vec<Json> = info
        .capabilities
        .iter()
        .filter_map(|c| c.r#type)
        .filter_map(|t| v0::framework_info::capability::Type::try_from(t).ok())
        .map(|t| json!(t.as_str_name()))
        .collect();
    let mut object = Map::new();
    object.insert("id".into(), json!(framework.id.as_str()));
    object.insert("name".into(), json!(info.name));
    object.insert("user".into(), json!(info.user));
    object.insert(
        "failover_timeout".into(),
        json!(info.failover_timeout.unwrap_or(0.0)),
    );
    object.insert("checkpoint".into(), json!(info.checkpoint.unwrap_or(false)));
    object.insert(
        "hostname".into(),
        json!(info.hostname.clone().unwrap_or_default()),
    );
    if let Some(principal) = &info.principal {
        object.insert("principal".into(), json!(principal));
    }
    if info.roles.is_empty() {
        object.insert(
            "role".into(),
            json!(info.role.clone().unwrap_or_else(|| "*".into())),
        );
    } else {
        object.insert("roles".into(), json!(info.roles));
    }
    object.insert("capabilities".into(), Json::Array(capabilities));
    object.insert(
        "executors".into(),
        Json::Array(
            framework
                .executors
                .values()
                .map(|e| executor_json(e, &fid))
                .collect(),
        ),
    );
    object.insert(
        "completed_executors".into(),
        Json::Array(
            framework
                .completed_executors
                .iter()
                .map(|e| executor_json(e, &fid))
                .collect(),
        ),
    );
    Json::Object(object)
}

/// `/state`.
pub fn state(agent: &AgentCore) -> Json {
    let total = resources_from_wire_lenient(&agent.info.resources);
    let reserved: Map<String, Json> = total
        .reservations()
        .into_iter()
        .map(|(role, resources)| (role, resources_model(&resources)))
        .collect();
    let unreserved: Resources = total.unreserved();
    let mut object = Map::new();
    object.insert("version".into(), json!(VERSION));
    object.insert("start_time".into(), json!(agent.start_time));
    if let Some(id) = agent.agent_id() {
        object.insert("id".into(), json!(id));
    }
    object.insert("pid".into(), json!(agent.pid.to_string()));
    object.insert("hostname".into(), json!(agent.info.hostname));
    object.insert(
        "capabilities".into(),
        json!(["MULTI_ROLE", "HIERARCHICAL_ROLE", "RESERVATION_REFINEMENT"]),
    );
    object.insert("resources".into(), resources_model(&total));
    object.insert("reserved_resources".into(), Json::Object(reserved));
    object.insert("unreserved_resources".into(), resources_model(&unreserved));
    object.insert(
        "attributes".into(),
        attributes_model(&agent.info.attributes),
    );
    object.insert(
        "master_hostname".into(),
        json!(agent.master.address.ip().to_string()),
    );
    if let Some(dir) = &agent.config.log_dir {
        object.insert("log_dir".into(), json!(dir.display().to_string()));
    }
    object.insert("flags".into(), json!(agent.config.flags));
    object.insert(
        "frameworks".into(),
        Json::Array(agent.frameworks.values().map(framework_json).collect()),
    );
    object.insert(
        "completed_frameworks".into(),
        Json::Array(
            agent
                .completed_frameworks
                .iter()
                .map(framework_json)
                .collect(),
        ),
    );
    Json::Object(object)
}

/// `/flags`.
pub fn flags(agent: &AgentCore) -> Json {
    json!({ "flags": agent.config.flags })
}

/// `/version`.
pub fn version() -> Json {
    json!({"version": VERSION})
}
