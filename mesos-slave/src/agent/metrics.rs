//! The agent's `/metrics/snapshot` keys, with Mesos's names and meanings
//! (`src/slave/metrics.cpp`): gauges read from the state, counters bumped
//! where Mesos bumps them.

use std::collections::BTreeMap;

use mesos::resources::Resources;
use mesos::wire::mesos as v0;

use super::core::{AgentCore, AgentState};
use super::state::ExecutorState;

/// Every counter the agent publishes from its first snapshot on (at 0),
/// without the `slave/` prefix.
const COUNTERS: &[&str] = &[
    "tasks_finished",
    "tasks_failed",
    "tasks_killed",
    "tasks_lost",
    "tasks_gone",
    "executors_terminated",
    "executors_preempted",
    "valid_status_updates",
    "invalid_status_updates",
    "valid_framework_messages",
    "invalid_framework_messages",
    "recovery_errors",
];

/// The agent's counters.
#[derive(Debug, Default, Clone)]
pub struct AgentMetrics {
    counters: BTreeMap<&'static str, u64>,
}

impl AgentMetrics {
    /// Adds one to counter `name` (without the `slave/` prefix).
    pub fn bump(&mut self, name: &'static str) {
        *self.counters.entry(name).or_default() += 1;
    }

    /// The value of counter `name`.
    pub fn counter(&self, name: &str) -> u64 {
        self.counters.get(name).copied().unwrap_or_default()
    }

    /// A task reached terminal `state`: its `slave/tasks_*` counter.
    pub fn task_terminated(&mut self, state: i32) {
        use v0::TaskState::*;
        let name = match v0::TaskState::try_from(state) {
            Ok(TaskFinished) => "tasks_finished",
            Ok(TaskFailed) => "tasks_failed",
            Ok(TaskKilled) => "tasks_killed",
            Ok(TaskLost) => "tasks_lost",
            Ok(TaskGone) => "tasks_gone",
            _ => return,
        };
        self.bump(name);
    }
}

impl AgentCore {
    /// The `slave/...` keys the state and the counters give (the runtime
    /// adds uptime and container launch errors).
    pub fn metrics_snapshot(&self, into: &mut Vec<(String, f64)>) {
        let mut put = |name: &str, value: f64| into.push((format!("slave/{name}"), value));
        put(
            "registered",
            f64::from(u8::from(self.state() == AgentState::Running)),
        );
        put("frameworks_active", self.frameworks.len() as f64);

        let mut executors: BTreeMap<&str, usize> = BTreeMap::new();
        let mut tasks: BTreeMap<i32, usize> = BTreeMap::new();
        let mut used = Resources::new();
        for framework in self.frameworks.values() {
            for executor in framework.executors.values() {
                let name = match executor.state {
                    ExecutorState::Registering => "executors_registering",
                    ExecutorState::Running => "executors_running",
                    ExecutorState::Terminating => "executors_terminating",
                    ExecutorState::Terminated => continue,
                };
                *executors.entry(name).or_default() += 1;
                // Tasks waiting for their executor are staging.
                *tasks.entry(v0::TaskState::TaskStaging as i32).or_default() +=
                    executor.queued.len();
                for task in executor.launched.values() {
                    *tasks.entry(task.state).or_default() += 1;
                }
                if !executor.command_executor
                    && let Ok(resources) = Resources::from_wire(&executor.info.resources)
                {
                    used.add_all(&resources);
                }
                let live = executor
                    .queued
                    .iter()
                    .map(|t| &t.resources)
                    .chain(executor.launched.values().map(|t| &t.resources));
                for resources in live {
                    if let Ok(resources) = Resources::from_wire(resources) {
                        used.add_all(&resources);
                    }
                }
            }
        }
        for name in [
            "executors_registering",
            "executors_running",
            "executors_terminating",
        ] {
            put(
                name,
                executors.get(name).copied().unwrap_or_default() as f64,
            );
        }
        for (state, name) in [
            (v0::TaskState::TaskStaging, "tasks_staging"),
            (v0::TaskState::TaskStarting, "tasks_starting"),
            (v0::TaskState::TaskRunning, "tasks_running"),
            (v0::TaskState::TaskKilling, "tasks_killing"),
        ] {
            put(
                name,
                tasks.get(&(state as i32)).copied().unwrap_or_default() as f64,
            );
        }
        for name in COUNTERS {
            put(name, self.metrics.counter(name) as f64);
        }

        let total = Resources::from_wire(&self.config.resources).unwrap_or_default();
        for name in ["cpus", "gpus", "mem", "disk"] {
            let total = total.scalar(name).unwrap_or(0.0);
            let used = used.scalar(name).unwrap_or(0.0);
            put(&format!("{name}_total"), total);
            put(&format!("{name}_used"), used);
            put(
                &format!("{name}_percent"),
                if total > 0.0 { used / total } else { 0.0 },
            );
            // No revocable resources (no oversubscription).
            put(&format!("{name}_revocable_total"), 0.0);
            put(&format!("{name}_revocable_used"), 0.0);
            put(&format!("{name}_revocable_percent"), 0.0);
        }
    }
}
