//! The JSON of `/state`, `/frameworks`, `/slaves`, `/tasks` and friends,
//! with Mesos's keys.

use mesos::resources::{Resources, Value};
use mesos::wire::json::to_json;
use mesos::wire::mesos as v0;
use serde_json::{Map, Value as Json, json};

use crate::master::{Agent, Framework, Master, VERSION, state_name};

/// `/version`.
pub fn version() -> Json {
    json!({ "version": VERSION })
}

/// `/flags`.
pub fn flags(flags: &[(String, String)]) -> Json {
    json!({ "flags": flags_object(flags) })
}

fn flags_object(flags: &[(String, String)]) -> Json {
    let mut map = Map::new();
    for (name, value) in flags {
        map.insert(name.clone(), Json::String(value.clone()));
    }
    Json::Object(map)
}

/// Resources as Mesos's `model(Resources)`: scalars as numbers (cpus, mem,
/// disk, gpus always present), ranges and sets as text.
pub fn resources(resources: &Resources) -> Json {
    let mut map = Map::new();
    for name in ["cpus", "disk", "gpus", "mem"] {
        map.insert(name.into(), json!(0.0));
    }
    let mut ranges: std::collections::BTreeMap<String, Vec<(u64, u64)>> = Default::default();
    for resource in resources.iter() {
        match &resource.value {
            Value::Scalar(value) => {
                let total = map
                    .get(&resource.name)
                    .and_then(Json::as_f64)
                    .unwrap_or(0.0)
                    + value;
                map.insert(
                    resource.name.clone(),
                    json!((total * 1000.0).round() / 1000.0),
                );
            }
            Value::Ranges(list) => ranges
                .entry(resource.name.clone())
                .or_default()
                .extend(list),
            Value::Set(_) => {
                map.insert(
                    resource.name.clone(),
                    Json::String(resource.value.to_string()),
                );
            }
        }
    }
    for (name, list) in ranges {
        let value = Value::Ranges(mesos::resources::coalesce_ranges(&list));
        map.insert(name, Json::String(value.to_string()));
    }
    Json::Object(map)
}

/// The full resources, as Mesos's `*_full` keys: wire `Resource` JSON.
fn resources_full(resources: &Resources) -> Json {
    Json::Array(resources.to_wire().iter().map(to_json).collect())
}

fn attributes(list: &[v0::Attribute]) -> Json {
    let mut map = Map::new();
    for attribute in list {
        let value = if let Some(scalar) = &attribute.scalar {
            json!(scalar.value)
        } else if let Some(text) = &attribute.text {
            Json::String(text.value.clone())
        } else if let Some(ranges) = &attribute.ranges {
            let list: Vec<(u64, u64)> = ranges.range.iter().map(|r| (r.begin, r.end)).collect();
            Json::String(Value::Ranges(list).to_string())
        } else if let Some(set) = &attribute.set {
            Json::String(Value::Set(set.item.iter().cloned().collect()).to_string())
        } else {
            Json::Null
        };
        map.insert(attribute.name.clone(), value);
    }
    Json::Object(map)
}

fn task(task: &v0::Task) -> Json {
    let resources_model = Resources::from_wire(&task.resources).unwrap_or_default();
    let role = resources_model
        .iter()
        .find_map(|r| r.allocation_role.clone())
        .unwrap_or_else(|| "*".into());
    let statuses: Vec<Json> = task
        .statuses
        .iter()
        .map(|status| {
            let mut entry = json!({
                "state": state_name(status.state),
                "timestamp": status.timestamp.unwrap_or_default(),
            });
            if let Some(healthy) = status.healthy {
                entry["healthy"] = json!(healthy);
            }
            if let Some(labels) = &status.labels {
                entry["labels"] = to_json(labels)["labels"].clone();
            }
            if let Some(container_status) = &status.container_status {
                entry["container_status"] = to_json(container_status);
            }
            entry
        })
        .collect();
    let mut object = json!({
        "id": task.task_id.value,
        "name": task.name,
        "framework_id": task.framework_id.value,
        "executor_id": task.executor_id.as_ref().map(|e| e.value.clone()).unwrap_or_default(),
        "slave_id": task.slave_id.value,
        "state": state_name(task.state),
        "resources": resources(&resources_model),
        "role": role,
        "statuses": statuses,
    });
    if let Some(user) = &task.user {
        object["user"] = json!(user);
    }
    if let Some(labels) = &task.labels {
        object["labels"] = to_json(labels)["labels"].clone();
    }
    if let Some(discovery) = &task.discovery {
        object["discovery"] = to_json(discovery);
    }
    if let Some(container) = &task.container {
        object["container"] = to_json(container);
    }
    if let Some(check) = &task.health_check {
        object["health_check"] = to_json(check);
    }
    object
}

fn capability_names(info: &v0::FrameworkInfo) -> Vec<String> {
    info.capabilities
        .iter()
        .filter_map(|c| c.r#type)
        .filter_map(|t| v0::framework_info::capability::Type::try_from(t).ok())
        .map(|t| t.as_str_name().to_string())
        .collect()
}

fn framework(master: &Master, framework: &Framework) -> Json {
    let info = &framework.info;
    let mut offered = Resources::new();
    let offers: Vec<Json> = master
        .offers()
        .filter(|o| o.framework_id == framework.id)
        .map(|offer| {
            offered.add_all(&offer.resources);
            json!({
                "id": offer.id.as_str(),
                "framework_id": offer.framework_id.as_str(),
                "slave_id": offer.agent_id.as_str(),
                "resources": resources(&offer.resources),
            })
        })
        .collect();
    let used = framework.used();
    let mut tasks: Vec<&v0::Task> = framework.tasks.values().map(|t| &t.task).collect();
    tasks.sort_by(|a, b| a.task_id.value.cmp(&b.task_id.value));
    let executors: Vec<Json> = framework
        .executors
        .iter()
        .flat_map(|(agent, executors)| {
            executors.values().map(move |executor| {
                let mut object = to_json(executor);
                object["slave_id"] = json!(agent.as_str());
                object
            })
        })
        .collect();
    let pid = match &framework.link {
        Some(crate::master::FrameworkLink::Libprocess { pid }) => Some(pid.to_string()),
        _ => None,
    };
    let mut total = used.clone();
    total.add_all(&offered);
    let mut object = json!({
        "id": framework.id.as_str(),
        "name": info.name,
        "used_resources": resources(&used),
        "offered_resources": resources(&offered),
        "capabilities": capability_names(info),
        "hostname": info.hostname.clone().unwrap_or_default(),
        "webui_url": info.webui_url.clone().unwrap_or_default(),
        "active": framework.active,
        "connected": framework.link.is_some(),
        "recovered": framework.recovered,
        "user": info.user,
        "failover_timeout": info.failover_timeout.unwrap_or(0.0),
        "checkpoint": info.checkpoint.unwrap_or(false),
        "registered_time": framework.registered_time,
        "unregistered_time": framework.unregistered_time.unwrap_or(0.0),
        "resources": resources(&total),
        "tasks": tasks.into_iter().map(task).collect::<Vec<_>>(),
        "unreachable_tasks": [],
        "completed_tasks": framework.completed_tasks.iter().map(task).collect::<Vec<_>>(),
        "offers": offers,
        "executors": executors,
    });
    if let Some(pid) = pid {
        object["pid"] = json!(pid);
    }
    if let Some(time) = framework.reregistered_time {
        object["reregistered_time"] = json!(time);
    }
    if let Some(principal) = &info.principal {
        object["principal"] = json!(principal);
    }
    let multi_role = info
        .capabilities
        .iter()
        .any(|c| c.r#type == Some(v0::framework_info::capability::Type::MultiRole as i32));
    if multi_role {
        object["roles"] = json!(info.roles);
    } else {
        #[allow(deprecated)]
        let role = info.role.clone().unwrap_or_else(|| "*".into());
        object["role"] = json!(role);
    }
    if let Some(labels) = &info.labels {
        object["labels"] = to_json(labels)["labels"].clone();
    }
    object
}

fn agent(agent: &Agent) -> Json {
    let used = agent.used_total();
    let mut used_by_tasks = used.clone();
    used_by_tasks.subtract_all(&agent.offered);
    let mut reserved = Map::new();
    for (role, resources_of_role) in agent.total.reservations() {
        reserved.insert(role, resources(&resources_of_role));
    }
    let capabilities: Vec<String> = agent
        .capabilities
        .iter()
        .filter_map(|c| c.r#type)
        .filter_map(|t| v0::slave_info::capability::Type::try_from(t).ok())
        .map(|t| t.as_str_name().to_string())
        .collect();
    let mut object = json!({
        "id": agent.id.as_str(),
        "pid": agent.pid.to_string(),
        "hostname": agent.info.hostname,
        "port": agent.pid.address.port(),
        "registered_time": agent.registered_time,
        "resources": resources(&agent.total),
        "used_resources": resources(&used_by_tasks),
        "offered_resources": resources(&agent.offered),
        "reserved_resources": Json::Object(reserved),
        "unreserved_resources": resources(&agent.total.unreserved()),
        "attributes": attributes(&agent.info.attributes),
        "active": agent.connected,
        "deactivated": !agent.connected,
        "version": agent.version,
        "capabilities": capabilities,
        "reserved_resources_full": {},
        "unreserved_resources_full": resources_full(&agent.total.unreserved()),
        "used_resources_full": resources_full(&used_by_tasks),
        "offered_resources_full": resources_full(&agent.offered),
    });
    if let Some(time) = agent.reregistered_time {
        object["reregistered_time"] = json!(time);
    }
    if let Some(domain) = &agent.info.domain {
        object["domain"] = to_json(domain);
    }
    object
}

fn sorted_frameworks(master: &Master) -> Vec<&Framework> {
    let mut frameworks: Vec<&Framework> = master.frameworks().collect();
    frameworks.sort_by(|a, b| a.id.cmp(&b.id));
    frameworks
}

fn sorted_agents(master: &Master) -> Vec<&Agent> {
    let mut agents: Vec<&Agent> = master.agents().collect();
    agents.sort_by(|a, b| a.id.cmp(&b.id));
    agents
}

/// `/master/state`.
pub fn state(master: &Master, flags: &[(String, String)]) -> Json {
    let info = master.info();
    let pid = master.config().pid.to_string();
    let agents = sorted_agents(master);
    let activated = agents.iter().filter(|a| a.connected).count();
    let mut object = json!({
        "version": VERSION,
        "start_time": master.start_time(),
        "elected_time": master.elected_time(),
        "id": info.id,
        "pid": pid,
        "hostname": master.config().hostname,
        "capabilities": ["AGENT_UPDATE"],
        "activated_slaves": activated,
        "deactivated_slaves": agents.len() - activated,
        "unreachable_slaves": master.unreachable_agents().count(),
        "leader": pid,
        "leader_info": to_json(&info),
        "flags": flags_object(flags),
        "slaves": agents.iter().map(|a| agent(a)).collect::<Vec<_>>(),
        "recovered_slaves": master.recovered_agents().map(to_json).collect::<Vec<_>>(),
        "frameworks": sorted_frameworks(master).iter().map(|f| framework(master, f)).collect::<Vec<_>>(),
        "completed_frameworks": master.completed_frameworks().map(|f| framework(master, f)).collect::<Vec<_>>(),
        "orphan_tasks": [],
        "unregistered_frameworks": [],
    });
    if let Some(cluster) = flags.iter().find(|(k, _)| k == "cluster") {
        object["cluster"] = json!(cluster.1);
    }
    if let Some(dir) = flags.iter().find(|(k, _)| k == "log_dir") {
        object["log_dir"] = json!(dir.1);
    }
    object
}

/// `/master/frameworks`.
pub fn frameworks(master: &Master) -> Json {
    json!({
        "frameworks": sorted_frameworks(master).iter().map(|f| framework(master, f)).collect::<Vec<_>>(),
        "completed_frameworks": master.completed_frameworks().map(|f| framework(master, f)).collect::<Vec<_>>(),
        "unregistered_frameworks": [],
    })
}

/// `/master/slaves`.
pub fn slaves(master: &Master) -> Json {
    json!({
        "slaves": sorted_agents(master).iter().map(|a| agent(a)).collect::<Vec<_>>(),
        "recovered_slaves": [],
    })
}

/// `/master/tasks` with `limit` (default 100), `offset`, `order`
/// (`asc`/`des`), `framework_id`, `task_id`.
pub fn tasks(master: &Master, query: &str) -> Json {
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
            .map(str::to_string)
    };
    let limit = param("limit")
        .and_then(|v| v.parse().ok())
        .unwrap_or(100usize);
    let offset = param("offset")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0usize);
    let descending = param("order").as_deref() == Some("des");
    let framework_id = param("framework_id");
    let task_id = param("task_id");
    let mut all: Vec<&v0::Task> = master
        .frameworks()
        .filter(|f| framework_id.as_deref().is_none_or(|id| id == f.id.as_str()))
        .flat_map(|f| {
            f.tasks
                .values()
                .map(|t| &t.task)
                .chain(f.completed_tasks.iter())
        })
        .filter(|t| task_id.as_deref().is_none_or(|id| id == t.task_id.value))
        .collect();
    all.sort_by(|a, b| {
        let time = |t: &v0::Task| t.statuses.first().and_then(|s| s.timestamp).unwrap_or(0.0);
        time(a)
            .total_cmp(&time(b))
            .then_with(|| a.task_id.value.cmp(&b.task_id.value))
    });
    if descending {
        all.reverse();
    }
    json!({
        "tasks": all.into_iter().skip(offset).take(limit).map(task).collect::<Vec<_>>(),
    })
}

/// `/master/state-summary`.
pub fn summary(master: &Master) -> Json {
    let count = |tasks: &mut dyn Iterator<Item = &v0::Task>| {
        let mut counts: std::collections::BTreeMap<&'static str, u64> = Default::default();
        for name in [
            "TASK_STAGING",
            "TASK_STARTING",
            "TASK_RUNNING",
            "TASK_KILLING",
            "TASK_FINISHED",
            "TASK_KILLED",
            "TASK_FAILED",
            "TASK_LOST",
            "TASK_ERROR",
            "TASK_UNREACHABLE",
        ] {
            counts.insert(name, 0);
        }
        for task in tasks {
            *counts.entry(state_name(task.state)).or_default() += 1;
        }
        counts
    };
    let frameworks: Vec<Json> = sorted_frameworks(master)
        .iter()
        .map(|f| {
            let mut object = framework(master, f);
            for key in [
                "tasks",
                "completed_tasks",
                "unreachable_tasks",
                "offers",
                "executors",
            ] {
                if let Some(map) = object.as_object_mut() {
                    map.remove(key);
                }
            }
            let mut tasks = f
                .tasks
                .values()
                .map(|t| &t.task)
                .chain(f.completed_tasks.iter());
            for (state, n) in count(&mut tasks) {
                object[state] = json!(n);
            }
            object["slave_ids"] = json!(
                f.tasks
                    .values()
                    .map(|t| t.task.slave_id.value.clone())
                    .collect::<std::collections::BTreeSet<_>>()
            );
            object
        })
        .collect();
    let agents: Vec<Json> = sorted_agents(master)
        .iter()
        .map(|a| {
            let mut object = agent(a);
            let mut tasks = master
                .frameworks()
                .flat_map(|f| f.tasks.values().map(|t| &t.task))
                .filter(|t| t.slave_id.value == a.id.as_str());
            for (state, n) in count(&mut tasks) {
                object[state] = json!(n);
            }
            object
        })
        .collect();
    json!({
        "hostname": master.config().hostname,
        "slaves": agents,
        "frameworks": frameworks,
    })
}
