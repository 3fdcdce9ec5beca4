//! The master's `/metrics/snapshot` keys, with Mesos's names and meanings
//! (`src/master/metrics.cpp`): gauges read from the state, counters bumped
//! where Mesos bumps them.

use std::collections::{BTreeMap, HashMap};

use mesos::wire::mesos as v0;
use mesos::wire::mesos::scheduler::call;

use super::{Master, is_terminal};

/// Counters behind `/metrics/snapshot`.
#[derive(Debug, Default, Clone)]
pub struct Metrics {
    /// Offers sent.
    pub offers_sent: u64,
    /// Offers declined.
    pub offers_declined: u64,
    /// Offers rescinded.
    pub offers_rescinded: u64,
    /// Tasks per terminal state name (`TASK_FINISHED` → count).
    pub tasks_terminal: HashMap<String, u64>,
    /// Status updates received from agents.
    pub status_updates_received: u64,
    /// Messages that could not be decoded or were invalid.
    pub invalid_messages: u64,
    /// Agents removed after missing pings.
    pub agent_removals: u64,
    /// Mesos's counters by their key without the `master/` prefix
    /// (`messages_launch_tasks`, `slave_registrations`, ...).
    pub counters: BTreeMap<&'static str, u64>,
    /// Tasks that reached a state, by (state, source, reason): Mesos's
    /// `master/task_<state>/source_<source>/reason_<reason>`.
    pub task_states: BTreeMap<(i32, i32, i32), u64>,
    /// Allocation cycles run.
    pub allocation_runs: u64,
}

/// Every counter Mesos publishes from its first snapshot on (at 0).
const COUNTERS: &[&str] = &[
    "dropped_messages",
    "http_cache_hits",
    "messages_authenticate",
    "messages_deactivate_framework",
    "messages_decline_offers",
    "messages_executor_to_framework",
    "messages_exited_executor",
    "messages_framework_to_executor",
    "messages_kill_task",
    "messages_launch_tasks",
    "messages_operation_status_update",
    "messages_operation_status_update_acknowledgement",
    "messages_reconcile_operations",
    "messages_reconcile_tasks",
    "messages_register_framework",
    "messages_register_slave",
    "messages_reregister_framework",
    "messages_reregister_slave",
    "messages_resource_request",
    "messages_revive_offers",
    "messages_status_update",
    "messages_status_update_acknowledgement",
    "messages_suppress_offers",
    "messages_unregister_framework",
    "messages_unregister_slave",
    "messages_update_slave",
    "valid_framework_to_executor_messages",
    "invalid_framework_to_executor_messages",
    "valid_executor_to_framework_messages",
    "invalid_executor_to_framework_messages",
    "valid_status_updates",
    "invalid_status_updates",
    "valid_status_update_acknowledgements",
    "invalid_status_update_acknowledgements",
    "valid_operation_status_updates",
    "invalid_operation_status_updates",
    "valid_operation_status_update_acknowledgements",
    "invalid_operation_status_update_acknowledgements",
    "recovery_slave_removals",
    "slave_registrations",
    "slave_reregistrations",
    "slave_removals",
    "slave_removals/reason_unhealthy",
    "slave_removals/reason_unregistered",
    "slave_removals/reason_registered",
    "slave_shutdowns_scheduled",
    "slave_shutdowns_completed",
    "slave_shutdowns_canceled",
    "slave_unreachable_scheduled",
    "slave_unreachable_completed",
    "slave_unreachable_canceled",
];

/// The terminal-state counters: `master/tasks_finished`, ...
const TERMINAL_COUNTERS: &[(v0::TaskState, &str)] = &[
    (v0::TaskState::TaskFinished, "tasks_finished"),
    (v0::TaskState::TaskFailed, "tasks_failed"),
    (v0::TaskState::TaskKilled, "tasks_killed"),
    (v0::TaskState::TaskLost, "tasks_lost"),
    (v0::TaskState::TaskError, "tasks_error"),
    (v0::TaskState::TaskDropped, "tasks_dropped"),
    (v0::TaskState::TaskGone, "tasks_gone"),
    (v0::TaskState::TaskGoneByOperator, "tasks_gone_by_operator"),
];

impl Metrics {
    /// Adds one to Mesos counter `name` (without the `master/` prefix).
    pub fn bump(&mut self, name: &'static str) {
        *self.counters.entry(name).or_default() += 1;
    }

    /// The value of counter `name`.
    pub fn counter(&self, name: &str) -> u64 {
        self.counters.get(name).copied().unwrap_or_default()
    }

    /// A task reached `state` (told by `source`, for `reason`).
    pub fn task_state(&mut self, state: i32, source: Option<i32>, reason: Option<i32>) {
        let source = source.unwrap_or(v0::task_status::Source::Master as i32);
        // Mesos counts updates without a reason as REASON_COMMAND_EXECUTOR_FAILED
        // (reason 0), the proto default.
        let reason = reason.unwrap_or(0);
        *self.task_states.entry((state, source, reason)).or_default() += 1;
    }

    /// The counter Mesos bumps for a scheduler call, if any. `ACCEPT`
    /// counts as a launch when it launches something and as a decline
    /// otherwise; `SUBSCRIBE` as a registration or, with an id, a
    /// re-registration.
    pub(super) fn count_call(&mut self, call: &mesos::wire::mesos::scheduler::Call) {
        let Some(call_type) = call.r#type.and_then(|t| call::Type::try_from(t).ok()) else {
            return;
        };
        let name = match call_type {
            call::Type::Subscribe => {
                let has_id = call
                    .subscribe
                    .as_ref()
                    .and_then(|s| s.framework_info.id.as_ref())
                    .is_some();
                if has_id {
                    "messages_reregister_framework"
                } else {
                    "messages_register_framework"
                }
            }
            call::Type::Teardown => "messages_unregister_framework",
            call::Type::Accept => {
                let launches = call.accept.as_ref().is_some_and(|accept| {
                    accept.operations.iter().any(|op| {
                        op.launch.as_ref().is_some_and(|l| !l.task_infos.is_empty())
                            || op.launch_group.is_some()
                    })
                });
                if launches {
                    "messages_launch_tasks"
                } else {
                    "messages_decline_offers"
                }
            }
            call::Type::Decline => "messages_decline_offers",
            call::Type::Revive => "messages_revive_offers",
            call::Type::Suppress => "messages_suppress_offers",
            call::Type::Kill => "messages_kill_task",
            call::Type::Acknowledge => "messages_status_update_acknowledgement",
            call::Type::AcknowledgeOperationStatus => {
                "messages_operation_status_update_acknowledgement"
            }
            call::Type::Reconcile => "messages_reconcile_tasks",
            call::Type::ReconcileOperations => "messages_reconcile_operations",
            call::Type::Message => "messages_framework_to_executor",
            call::Type::Request => "messages_resource_request",
            _ => return,
        };
        self.bump(name);
    }

    /// The counter Mesos bumps for a message from an agent, if any.
    pub(super) fn count_agent_message(&mut self, name: &str) {
        let counter = match name {
            "mesos.internal.RegisterSlaveMessage" => "messages_register_slave",
            "mesos.internal.ReregisterSlaveMessage" => "messages_reregister_slave",
            "mesos.internal.UnregisterSlaveMessage" => "messages_unregister_slave",
            "mesos.internal.StatusUpdateMessage" => "messages_status_update",
            "mesos.internal.ExitedExecutorMessage" => "messages_exited_executor",
            "mesos.internal.UpdateSlaveMessage" => "messages_update_slave",
            "mesos.internal.ExecutorToFrameworkMessage" => "messages_executor_to_framework",
            _ => return,
        };
        self.bump(counter);
    }
}

/// The lower-cased protobuf enum name, as Mesos spells it in metric keys.
fn lower(name: &str) -> String {
    name.to_ascii_lowercase()
}

impl Master {
    /// The `master/...` and `allocator/mesos/...` keys the state and the
    /// counters give (the runtime adds uptime, election and queue sizes).
    pub fn metrics_snapshot(&self, into: &mut Vec<(String, f64)>) {
        let mut put = |name: String, value: f64| into.push((name, value));
        let metrics = &self.metrics;

        // Agents.
        let connected = self.agents.values().filter(|a| a.connected).count();
        put("master/slaves_connected".into(), connected as f64);
        put(
            "master/slaves_disconnected".into(),
            (self.agents.len() - connected) as f64,
        );
        put("master/slaves_active".into(), connected as f64);
        put(
            "master/slaves_inactive".into(),
            (self.agents.len() - connected) as f64,
        );
        put("master/slaves_unreachable".into(), 0.0);

        // Frameworks.
        let connected = self
            .frameworks
            .values()
            .filter(|f| f.link.is_some())
            .count();
        let active = self.frameworks.values().filter(|f| f.active).count();
        put("master/frameworks_connected".into(), connected as f64);
        put(
            "master/frameworks_disconnected".into(),
            (self.frameworks.len() - connected) as f64,
        );
        put("master/frameworks_active".into(), active as f64);
        put(
            "master/frameworks_inactive".into(),
            (self.frameworks.len() - active) as f64,
        );
        put("master/outstanding_offers".into(), self.offers.len() as f64);
        put("master/operator_event_stream_subscribers".into(), 0.0);

        // Tasks: gauges by current state, counters by terminal state.
        let mut live: HashMap<i32, usize> = HashMap::new();
        for framework in self.frameworks.values() {
            for entry in framework.tasks.values() {
                *live.entry(entry.task.state).or_default() += 1;
            }
        }
        for (state, name) in [
            (v0::TaskState::TaskStaging, "tasks_staging"),
            (v0::TaskState::TaskStarting, "tasks_starting"),
            (v0::TaskState::TaskRunning, "tasks_running"),
            (v0::TaskState::TaskKilling, "tasks_killing"),
            (v0::TaskState::TaskUnreachable, "tasks_unreachable"),
        ] {
            let count = live.get(&(state as i32)).copied().unwrap_or_default();
            put(format!("master/{name}"), count as f64);
        }
        for (state, name) in TERMINAL_COUNTERS {
            debug_assert!(is_terminal(*state as i32));
            let count = metrics
                .tasks_terminal
                .get(state.as_str_name())
                .copied()
                .unwrap_or_default();
            put(format!("master/{name}"), count as f64);
        }
        for (&(state, source, reason), &count) in &metrics.task_states {
            let state = v0::TaskState::try_from(state).map(|s| lower(s.as_str_name()));
            let source = v0::task_status::Source::try_from(source).map(|s| lower(s.as_str_name()));
            let reason = v0::task_status::Reason::try_from(reason).map(|r| lower(r.as_str_name()));
            if let (Ok(state), Ok(source), Ok(reason)) = (state, source, reason) {
                put(format!("master/{state}/{source}/{reason}"), count as f64);
            }
        }

        // Counters.
        for name in COUNTERS {
            put(format!("master/{name}"), metrics.counter(name) as f64);
        }

        // Resources: totals of the registered agents, used by tasks and
        // executors (offered resources are not used).
        // One pass over the agents: `used_total` holds offered resources
        // too (the allocator's offered_or_allocated); Mesos's "used" is
        // what tasks and executors hold.
        let mut total: BTreeMap<&str, f64> = BTreeMap::new();
        let mut used: BTreeMap<&str, f64> = BTreeMap::new();
        let mut offered_or_allocated: BTreeMap<&str, f64> = BTreeMap::new();
        for agent in self.agents.values() {
            let held = agent.used_total();
            for name in ["cpus", "gpus", "mem", "disk"] {
                let held = held.scalar(name).unwrap_or(0.0);
                *total.entry(name).or_default() += agent.total.scalar(name).unwrap_or(0.0);
                *used.entry(name).or_default() += held - agent.offered.scalar(name).unwrap_or(0.0);
                *offered_or_allocated.entry(name).or_default() += held;
            }
        }
        for name in ["cpus", "gpus", "mem", "disk"] {
            let total = total.get(name).copied().unwrap_or_default();
            let used = used.get(name).copied().unwrap_or_default();
            put(format!("master/{name}_total"), total);
            put(format!("master/{name}_used"), used);
            put(
                format!("master/{name}_percent"),
                if total > 0.0 { used / total } else { 0.0 },
            );
            // No revocable resources are offered (no oversubscription).
            put(format!("master/{name}_revocable_total"), 0.0);
            put(format!("master/{name}_revocable_used"), 0.0);
            put(format!("master/{name}_revocable_percent"), 0.0);
        }

        // The allocator.
        put(
            "allocator/mesos/allocation_runs".into(),
            metrics.allocation_runs as f64,
        );
        for name in ["cpus", "gpus", "mem", "disk"] {
            put(
                format!("allocator/mesos/resources/{name}/total"),
                total.get(name).copied().unwrap_or_default(),
            );
            put(
                format!("allocator/mesos/resources/{name}/offered_or_allocated"),
                offered_or_allocated.get(name).copied().unwrap_or_default(),
            );
        }
        for role in self.allocator.roles() {
            if let Some(share) = self.allocator.role_share(&role) {
                put(
                    format!("allocator/mesos/roles/{role}/shares/dominant"),
                    share,
                );
            }
            put(
                format!("allocator/mesos/offer_filters/roles/{role}/active"),
                self.allocator.active_offer_filters(&role) as f64,
            );
        }
    }
}
