//! `/monitor/statistics`: one entry per running executor, with Mesos's
//! `ResourceStatistics` keys. With the cgroups isolators the numbers come
//! from the container's cgroups; without them (`posix/cpu`, `posix/mem`),
//! from `/proc` for the processes of the executor's session, as Mesos's
//! posix isolators read the executor's process tree.

use std::collections::HashMap;

use serde_json::{Map, Value as Json, json};

use super::core::AgentCore;
use super::state::{Executor, ExecutorState};
use crate::containerizer::ContainerLimits;
use crate::containerizer::cgroups::Usage;

/// What one container has used, by container id: its cgroups' usage (if
/// it has cgroups) and its executor's pid (its session id).
pub type ContainerUsage = HashMap<String, (Option<Usage>, Option<u32>)>;

/// CPU times and resident memory of the processes in session `sid`.
fn session_usage(sid: u32) -> Usage {
    // SAFETY: sysconf has no memory-safety preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    // SAFETY: as above.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64;
    let (mut user, mut system, mut rss, mut processes) = (0u64, 0u64, 0u64, 0u64);
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Usage::default();
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the parenthesised command name, from field 3 on.
        let Some(rest) = stat.rfind(')').map(|at| &stat[at + 1..]) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
        if field(6) != Some(u64::from(sid)) {
            continue;
        }
        processes += 1;
        user += field(14).unwrap_or(0);
        system += field(15).unwrap_or(0);
        rss += field(24).unwrap_or(0) * page;
    }
    Usage {
        cpus_user_time_secs: Some(user as f64 / ticks),
        cpus_system_time_secs: Some(system as f64 / ticks),
        mem_rss_bytes: Some(rss),
        processes: Some(processes),
        ..Usage::default()
    }
}

fn statistics(limits: &ContainerLimits, usage: &Usage, timestamp: f64) -> Json {
    let mut object = Map::new();
    let mut put = |key: &str, value: Json| {
        object.insert(key.to_string(), value);
    };
    put("timestamp", json!(timestamp));
    if let Some(v) = usage.processes {
        put("processes", json!(v));
    }
    if let Some(v) = usage.cpus_user_time_secs {
        put("cpus_user_time_secs", json!(v));
    }
    if let Some(v) = usage.cpus_system_time_secs {
        put("cpus_system_time_secs", json!(v));
    }
    if let Some(cpus) = limits.cpus {
        put("cpus_limit", json!(cpus));
    }
    if let Some(v) = usage.cpus_nr_periods {
        put("cpus_nr_periods", json!(v));
    }
    if let Some(v) = usage.cpus_nr_throttled {
        put("cpus_nr_throttled", json!(v));
    }
    if let Some(v) = usage.cpus_throttled_time_secs {
        put("cpus_throttled_time_secs", json!(v));
    }
    if let Some(v) = usage.mem_rss_bytes {
        put("mem_rss_bytes", json!(v));
    }
    // The limit is the container's memory, as Mesos's containerizer
    // reports it.
    if let Some(mem) = limits.mem {
        put("mem_limit_bytes", json!((mem * 1024.0 * 1024.0) as u64));
    }
    if let Some(v) = usage.mem_total_bytes {
        put("mem_total_bytes", json!(v));
    }
    if let Some(v) = usage.mem_cache_bytes {
        put("mem_cache_bytes", json!(v));
    }
    if let Some(v) = usage.mem_swap_bytes {
        put("mem_swap_bytes", json!(v));
    }
    Json::Object(object)
}

/// The `ResourceStatistics` JSON of one live executor's container, from
/// its entry in `usage` (`None` when the container is not measured).
pub(crate) fn executor_statistics(
    enable_cfs: bool,
    executor: &Executor,
    usage: &ContainerUsage,
    timestamp: f64,
) -> Option<Json> {
    let (cgroups, pid) = usage.get(&executor.container_id)?;
    let measured = match (cgroups, pid) {
        (Some(cgroups), _) => cgroups.clone(),
        (None, Some(pid)) => session_usage(*pid),
        (None, None) => return None,
    };
    let limits = ContainerLimits::compute(
        &executor.info.resources,
        executor
            .launched
            .values()
            .map(|t| (&t.resources[..], &t.limits)),
        enable_cfs,
    );
    Some(statistics(&limits, &measured, timestamp))
}

/// The `/monitor/statistics` array.
pub fn monitor_statistics(core: &AgentCore, usage: &ContainerUsage, timestamp: f64) -> Json {
    let enable_cfs = core.config.containerizer.cgroups.enable_cfs;
    let mut entries = Vec::new();
    for framework in core.frameworks.values() {
        for executor in framework.executors.values() {
            if executor.state == ExecutorState::Terminated {
                continue;
            }
            let Some(statistics) = executor_statistics(enable_cfs, executor, usage, timestamp)
            else {
                continue;
            };
            #[allow(deprecated)]
            let source = executor.info.source.clone().unwrap_or_default();
            entries.push(json!({
                "executor_id": executor.id.as_str(),
                "executor_name": executor.info.name.clone().unwrap_or_default(),
                "framework_id": framework.id.as_str(),
                "source": source,
                "statistics": statistics,
            }));
        }
    }
    Json::Array(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_usage_counts_this_session() {
        // SAFETY: getsid(0) has no preconditions.
        let sid = unsafe { libc::getsid(0) } as u32;
        let usage = session_usage(sid);
        assert!(usage.processes.unwrap() >= 1);
        assert!(usage.mem_rss_bytes.unwrap() > 0);
    }

    #[test]
    fn statistics_use_mesos_keys() {
        let limits = ContainerLimits {
            cpus: Some(0.6),
            mem: Some(96.0),
            ..ContainerLimits::default()
        };
        let usage = Usage {
            cpus_user_time_secs: Some(1.5),
            cpus_system_time_secs: Some(0.5),
            mem_rss_bytes: Some(4096),
            ..Usage::default()
        };
        let json = statistics(&limits, &usage, 12.0);
        assert_eq!(json["cpus_limit"], 0.6);
        assert_eq!(json["mem_limit_bytes"], 96 * 1024 * 1024);
        assert_eq!(json["cpus_user_time_secs"], 1.5);
        assert_eq!(json["cpus_system_time_secs"], 0.5);
        assert_eq!(json["mem_rss_bytes"], 4096);
        assert_eq!(json["timestamp"], 12.0);
    }
}
