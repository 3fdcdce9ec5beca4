//! Frameworks: subscription, failover, disconnection, teardown, and the
//! dispatch of scheduler calls.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use mesos::ids::{AgentId, ExecutorId, FrameworkId, OfferId, TaskId};
use mesos::resources::Resources;
use mesos::upid::Upid;
use mesos::wire::mesos as v0;
use mesos::wire::mesos::framework_info::capability::Type as Capability;
use mesos::wire::mesos::scheduler::{self, call, event};

use super::{CallError, Effect, HEARTBEAT_INTERVAL, Master, Now};
use crate::allocator::{FrameworkCapabilities, FrameworkSpec};

/// Where a framework's events go.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FrameworkLink {
    /// A v1 HTTP subscriber: the stream with this `Mesos-Stream-Id`.
    Http {
        /// The stream id handed out on `SUBSCRIBE`.
        stream_id: String,
    },
    /// A libmesos driver at this UPID.
    Libprocess {
        /// The scheduler process.
        pid: Upid,
    },
}

/// A task the master tracks.
#[derive(Debug, Clone)]
pub struct TaskEntry {
    /// The task as `/state` shows it and as reconciliation reports it.
    pub task: v0::Task,
    /// Its resources, allocated to its role.
    pub resources: Resources,
    /// The latest status (state, reason, message), what reconciliation sends.
    pub latest_status: Option<v0::TaskStatus>,
    /// Whether the resources went back to the allocator already (the task
    /// reached a terminal state, its update not acknowledged yet).
    pub resources_recovered: bool,
}

/// A registered framework.
#[derive(Debug, Clone)]
pub struct Framework {
    /// Its id.
    pub id: FrameworkId,
    /// What it subscribed with (its `id` set).
    pub info: v0::FrameworkInfo,
    /// Where its events go; `None` while disconnected.
    pub link: Option<FrameworkLink>,
    /// For a framework on a libmesos driver, the driver's UPID; kept while
    /// it is disconnected, to know its calls and registration retries.
    pub pid: Option<Upid>,
    /// Known only from an agent's report (after a master restart), not yet
    /// subscribed to this master.
    pub recovered: bool,
    /// Whether it gets offers (connected and not deactivated).
    pub active: bool,
    /// When it first registered (Unix seconds).
    pub registered_time: f64,
    /// When it last re-registered (Unix seconds).
    pub reregistered_time: Option<f64>,
    /// When it disconnected or was removed (Unix seconds).
    pub unregistered_time: Option<f64>,
    /// Its live tasks.
    pub tasks: HashMap<TaskId, TaskEntry>,
    /// Its finished tasks, newest last, bounded.
    pub completed_tasks: VecDeque<v0::Task>,
    /// Its outstanding offers.
    pub offers: HashSet<OfferId>,
    /// Executors it runs, per agent.
    pub executors: HashMap<AgentId, HashMap<ExecutorId, v0::ExecutorInfo>>,
    /// When a disconnected framework is removed.
    pub failover_deadline: Option<Instant>,
    /// Roles it subscribed to.
    pub roles: BTreeSet<String>,
    /// Roles for which it suppressed offers.
    pub suppressed_roles: BTreeSet<String>,
}

impl Framework {
    /// Whether it declared `capability`.
    pub fn has_capability(&self, capability: Capability) -> bool {
        has_capability(&self.info, capability)
    }

    /// `PARTITION_AWARE`: gets `TASK_UNREACHABLE`/`TASK_DROPPED`/... instead
    /// of `TASK_LOST`.
    pub fn partition_aware(&self) -> bool {
        self.has_capability(Capability::PartitionAware)
    }

    /// Resources its live tasks use, per agent.
    pub fn used_by_agent(&self) -> HashMap<AgentId, Resources> {
        let mut used: HashMap<AgentId, Resources> = HashMap::new();
        for entry in self.tasks.values() {
            if !entry.resources_recovered {
                used.entry(AgentId::from(&entry.task.slave_id))
                    .or_default()
                    .add_all(&entry.resources);
            }
        }
        used
    }

    /// Total resources its live tasks use.
    pub fn used(&self) -> Resources {
        let mut total = Resources::new();
        for entry in self.tasks.values() {
            if !entry.resources_recovered {
                total.add_all(&entry.resources);
            }
        }
        total
    }
}

/// The driver's UPID, for a libprocess link.
fn link_pid(link: &FrameworkLink) -> Option<Upid> {
    match link {
        FrameworkLink::Libprocess { pid } => Some(pid.clone()),
        FrameworkLink::Http { .. } => None,
    }
}

fn has_capability(info: &v0::FrameworkInfo, capability: Capability) -> bool {
    info.capabilities
        .iter()
        .any(|c| c.r#type == Some(capability as i32))
}

/// The roles of a framework: `roles` for `MULTI_ROLE`, else its `role`
/// (default `*`).
pub(super) fn framework_roles(info: &v0::FrameworkInfo) -> BTreeSet<String> {
    #[allow(deprecated)]
    let role = info.role.clone();
    if has_capability(info, Capability::MultiRole) {
        info.roles.iter().cloned().collect()
    } else {
        BTreeSet::from([role.unwrap_or_else(|| "*".to_string())])
    }
}

fn validate_framework_info(info: &v0::FrameworkInfo) -> Result<(), String> {
    #[allow(deprecated)]
    let has_role = info.role.is_some();
    let multi_role = has_capability(info, Capability::MultiRole);
    if multi_role && has_role {
        return Err(
            "'FrameworkInfo.role' must not be set when the framework is MULTI_ROLE capable".into(),
        );
    }
    if !multi_role && !info.roles.is_empty() {
        return Err(
            "'FrameworkInfo.roles' must be empty when the framework is not MULTI_ROLE capable"
                .into(),
        );
    }
    for role in framework_roles(info) {
        if mesos::resources::Resource::scalar("cpus", 1.0)
            .with_role(role.clone())
            .validate()
            .is_err()
            && role != "*"
        {
            return Err(format!("Role '{role}' is invalid"));
        }
    }
    if let Some(timeout) = info.failover_timeout
        && (!timeout.is_finite() || timeout < 0.0)
    {
        return Err(format!("Invalid 'failover_timeout' {timeout}"));
    }
    Ok(())
}

impl Master {
    /// A framework subscribes (or re-subscribes, or fails over) through
    /// `link`. Returns its id; the `SUBSCRIBED` event is among the effects.
    pub fn subscribe(
        &mut self,
        call: &scheduler::Call,
        link: FrameworkLink,
        now: Now,
    ) -> Result<FrameworkId, CallError> {
        self.metrics.count_call(call);
        let subscribe = call
            .subscribe
            .as_ref()
            .ok_or_else(|| CallError::BadRequest("Expecting 'subscribe' to be present".into()))?;
        let mut info = subscribe.framework_info.clone();
        validate_framework_info(&info).map_err(CallError::BadRequest)?;
        if let (Some(a), Some(b)) = (&call.framework_id, &info.id)
            && a != b
        {
            return Err(CallError::BadRequest(
                "'framework_id' differs from 'subscribe.framework_info.id'".into(),
            ));
        }
        let suppressed: BTreeSet<String> = subscribe.suppressed_roles.iter().cloned().collect();
        let roles = framework_roles(&info);

        let requested = info.id.as_ref().map(FrameworkId::from);
        if let Some(id) = &requested
            && self.completed_frameworks.iter().any(|f| &f.id == id)
        {
            return Err(CallError::Forbidden(id.to_string()));
        }

        if let Some(id) = requested.filter(|id| self.frameworks.contains_key(id)) {
            let force = subscribe.force.unwrap_or(false);
            self.resubscribe(id.clone(), info, roles, suppressed, link, force, now);
            return Ok(id);
        }

        // A new framework, or one we do not know (e.g. after a master
        // restart with an in-memory registry): admit it with its id.
        let id = match info.id.as_ref() {
            Some(id) => FrameworkId::from(id),
            None => {
                let id = FrameworkId::new(format!("{}-{:04}", self.config.id, self.next_framework));
                self.next_framework += 1;
                id
            }
        };
        info.id = Some(id.to_v0());
        tracing::info!(framework_id = %id, name = %info.name, "Framework registered");
        let framework = Framework {
            id: id.clone(),
            info,
            pid: link_pid(&link),
            recovered: false,
            link: Some(link.clone()),
            active: true,
            registered_time: now.unix,
            reregistered_time: None,
            unregistered_time: None,
            tasks: HashMap::new(),
            completed_tasks: VecDeque::new(),
            offers: HashSet::new(),
            executors: HashMap::new(),
            failover_deadline: None,
            roles,
            suppressed_roles: suppressed,
        };
        let spec = self.framework_spec(&framework);
        self.allocator
            .add_framework(id.clone(), spec, HashMap::new(), true);
        self.frameworks.insert(id.clone(), framework);
        self.link_framework(&link);
        self.send_subscribed(&id, &link, false);
        self.allocation_pending = true;
        Ok(id)
    }

    #[allow(clippy::too_many_arguments)]
    fn resubscribe(
        &mut self,
        id: FrameworkId,
        mut info: v0::FrameworkInfo,
        roles: BTreeSet<String>,
        suppressed: BTreeSet<String>,
        link: FrameworkLink,
        force: bool,
        now: Now,
    ) {
        info.id = Some(id.to_v0());
        let old_link = {
            let framework = self.frameworks.get_mut(&id).expect("checked by caller");
            let old = framework.link.replace(link.clone());
            framework.pid = link_pid(&link);
            framework.recovered = false;
            framework.info = info;
            framework.roles = roles;
            framework.suppressed_roles = suppressed;
            framework.active = true;
            framework.failover_deadline = None;
            framework.unregistered_time = None;
            framework.reregistered_time = Some(now.unix);
            old
        };
        if let Some(old) = old_link.filter(|old| old != &link) {
            tracing::info!(framework_id = %id, "Framework failed over");
            self.send_event(&old, error_event("Framework failed over"));
            self.effects.push(Effect::Close { link: old });
        }
        // Offers made to the previous instance are void.
        self.rescind_framework_offers(&id, false, now);
        let spec = self.framework_spec(&self.frameworks[&id]);
        self.allocator.update_framework(&id, spec);
        self.allocator.activate_framework(&id);
        self.link_framework(&link);
        self.send_subscribed(&id, &link, !force);
        // Tell the agents where the framework is now.
        let pid = match &link {
            FrameworkLink::Libprocess { pid } => Some(pid.to_string()),
            FrameworkLink::Http { .. } => None,
        };
        let framework = &self.frameworks[&id];
        let message = mesos::wire::mesos::internal::UpdateFrameworkMessage {
            framework_id: id.to_v0(),
            pid: Some(pid.unwrap_or_default()),
            framework_info: Some(framework.info.clone()),
        };
        let agents: BTreeSet<AgentId> = framework
            .tasks
            .values()
            .map(|t| AgentId::from(&t.task.slave_id))
            .chain(framework.executors.keys().cloned())
            .collect();
        for agent in agents {
            if let Some(pid) = self.agents.get(&agent).map(|a| a.pid.clone()) {
                self.send_message(&pid, &message);
            }
        }
        self.allocation_pending = true;
    }

    fn link_framework(&mut self, link: &FrameworkLink) {
        if let FrameworkLink::Libprocess { pid } = link {
            self.effects.push(Effect::Link { to: pid.clone() });
        }
    }

    /// `SUBSCRIBED`; drivers get `FrameworkReregisteredMessage` when
    /// `reregistered` (same id, no failover), else
    /// `FrameworkRegisteredMessage`.
    fn send_subscribed(&mut self, id: &FrameworkId, link: &FrameworkLink, reregistered: bool) {
        let event = scheduler::Event {
            r#type: Some(event::Type::Subscribed as i32),
            subscribed: Some(event::Subscribed {
                framework_id: id.to_v0(),
                heartbeat_interval_seconds: Some(HEARTBEAT_INTERVAL.as_secs_f64()),
                master_info: Some(self.info()),
            }),
            ..Default::default()
        };
        if let FrameworkLink::Libprocess { pid } = link {
            self.send_driver_event(pid, id.to_v0(), &event, reregistered);
            return;
        }
        self.send_event(link, event);
    }

    pub(super) fn framework_spec(&self, framework: &Framework) -> FrameworkSpec {
        FrameworkSpec {
            roles: framework.roles.clone(),
            suppressed_roles: framework.suppressed_roles.clone(),
            capabilities: FrameworkCapabilities {
                gpu_resources: framework.has_capability(Capability::GpuResources),
            },
            ..Default::default()
        }
    }

    /// A non-`SUBSCRIBE` call from `link`.
    pub fn call(
        &mut self,
        call: scheduler::Call,
        link: &FrameworkLink,
        now: Now,
    ) -> Result<(), CallError> {
        let call_type = call
            .r#type
            .and_then(|t| call::Type::try_from(t).ok())
            .filter(|t| *t != call::Type::Unknown)
            .ok_or_else(|| CallError::BadRequest("Expecting 'type' to be present".into()))?;
        if call_type == call::Type::Subscribe {
            return self.subscribe(&call, link.clone(), now).map(|_| ());
        }
        let id = call
            .framework_id
            .as_ref()
            .map(FrameworkId::from)
            .ok_or_else(|| {
                CallError::BadRequest("Expecting 'framework_id' to be present".into())
            })?;
        let framework = self
            .frameworks
            .get(&id)
            .ok_or(CallError::FrameworkNotFound)?;
        if framework.link.is_none() {
            return Err(CallError::NotSubscribed);
        }
        if framework.link.as_ref() != Some(link) {
            return Err(CallError::StreamMismatch(match link {
                FrameworkLink::Http { stream_id } => format!(
                    "The stream ID '{stream_id}' included in this request didn't match the stream ID \
                     currently associated with framework ID {id}"
                ),
                FrameworkLink::Libprocess { pid } => {
                    format!("Framework {id} is not subscribed from {pid}")
                }
            }));
        }
        self.metrics.count_call(&call);
        match call_type {
            call::Type::Subscribe | call::Type::Unknown => unreachable!("handled above"),
            call::Type::Teardown => {
                self.remove_framework(&id, now);
                Ok(())
            }
            call::Type::Accept => {
                let accept = call.accept.ok_or_else(|| missing("accept"))?;
                self.accept(&id, accept, now);
                Ok(())
            }
            call::Type::Decline => {
                let decline = call.decline.ok_or_else(|| missing("decline"))?;
                self.decline(&id, &decline.offer_ids, decline.filters.as_ref(), now);
                Ok(())
            }
            call::Type::AcceptInverseOffers | call::Type::DeclineInverseOffers => {
                // No maintenance schedules exist, so no inverse offers are
                // outstanding: every id is unknown, which Mesos ignores.
                Ok(())
            }
            call::Type::Revive => {
                let roles = call.revive.map(|r| r.roles).unwrap_or_default();
                self.revive(&id, roles);
                Ok(())
            }
            call::Type::Suppress => {
                let roles = call.suppress.map(|s| s.roles).unwrap_or_default();
                self.suppress(&id, roles, now);
                Ok(())
            }
            call::Type::Kill => {
                let kill = call.kill.ok_or_else(|| missing("kill"))?;
                self.kill(&id, kill, now);
                Ok(())
            }
            call::Type::Shutdown => {
                let shutdown = call.shutdown.ok_or_else(|| missing("shutdown"))?;
                self.shutdown_executor(&id, shutdown);
                Ok(())
            }
            call::Type::Acknowledge => {
                let ack = call.acknowledge.ok_or_else(|| missing("acknowledge"))?;
                self.acknowledge(&id, ack, now)
            }
            call::Type::AcknowledgeOperationStatus => Err(CallError::BadRequest(
                "Operation feedback is not supported: no operations are tracked".into(),
            )),
            call::Type::Reconcile => {
                let reconcile = call.reconcile.ok_or_else(|| missing("reconcile"))?;
                self.reconcile(&id, reconcile, now);
                Ok(())
            }
            call::Type::ReconcileOperations => Err(CallError::BadRequest(
                "Operation reconciliation is not supported: no operations are tracked".into(),
            )),
            call::Type::Message => {
                let message = call.message.ok_or_else(|| missing("message"))?;
                self.framework_message(&id, message);
                Ok(())
            }
            call::Type::Request => {
                // Mesos hands requests to the allocator, which ignores them.
                tracing::info!(framework_id = %id, "Ignoring resource request");
                Ok(())
            }
            call::Type::UpdateFramework => {
                let update = call
                    .update_framework
                    .ok_or_else(|| missing("update_framework"))?;
                self.update_framework(&id, update, now)
            }
        }
    }

    fn update_framework(
        &mut self,
        id: &FrameworkId,
        update: call::UpdateFramework,
        now: Now,
    ) -> Result<(), CallError> {
        let mut info = update.framework_info;
        validate_framework_info(&info).map_err(CallError::BadRequest)?;
        if info.id.as_ref().map(FrameworkId::from).as_ref() != Some(id) {
            return Err(CallError::BadRequest(
                "'framework_info.id' must match the framework's id".into(),
            ));
        }
        info.id = Some(id.to_v0());
        let roles = framework_roles(&info);
        let framework = self
            .frameworks
            .get_mut(id)
            .ok_or(CallError::FrameworkNotFound)?;
        let removed_roles: Vec<String> = framework.roles.difference(&roles).cloned().collect();
        framework.info = info;
        framework.roles = roles;
        framework.suppressed_roles = update.suppressed_roles.into_iter().collect();
        if !removed_roles.is_empty() {
            self.rescind_framework_offers(id, true, now);
        }
        let spec = self.framework_spec(&self.frameworks[id]);
        self.allocator.update_framework(id, spec);
        self.allocation_pending = true;
        Ok(())
    }

    fn revive(&mut self, id: &FrameworkId, roles: Vec<String>) {
        let roles: BTreeSet<String> = roles.into_iter().collect();
        if let Some(framework) = self.frameworks.get_mut(id) {
            if roles.is_empty() {
                framework.suppressed_roles.clear();
            } else {
                framework.suppressed_roles.retain(|r| !roles.contains(r));
            }
        }
        self.allocator
            .revive_offers(id, (!roles.is_empty()).then_some(&roles));
        self.allocation_pending = true;
    }

    fn suppress(&mut self, id: &FrameworkId, roles: Vec<String>, _now: Now) {
        let roles: BTreeSet<String> = roles.into_iter().collect();
        if let Some(framework) = self.frameworks.get_mut(id) {
            if roles.is_empty() {
                framework.suppressed_roles = framework.roles.clone();
            } else {
                framework.suppressed_roles.extend(roles.iter().cloned());
            }
        }
        self.allocator
            .suppress_offers(id, (!roles.is_empty()).then_some(&roles));
    }

    /// The framework asked to get no more offers (a driver's `abort()`):
    /// it stays connected, its calls are still taken, and subscribing
    /// again activates it.
    pub(super) fn deactivate_framework(&mut self, id: &FrameworkId, now: Now) {
        let Some(framework) = self.frameworks.get_mut(id) else {
            return;
        };
        if !framework.active {
            return;
        }
        tracing::info!(framework_id = %id, "Deactivating framework");
        framework.active = false;
        self.allocator.deactivate_framework(id);
        self.rescind_framework_offers(id, true, now);
    }

    /// The connection of a framework went away (its HTTP stream closed or
    /// its libprocess link broke). It keeps its tasks until its failover
    /// timeout passes.
    pub fn framework_disconnected(&mut self, link: &FrameworkLink, now: Now) {
        let Some(id) = self
            .frameworks
            .values()
            .find(|f| f.link.as_ref() == Some(link))
            .map(|f| f.id.clone())
        else {
            return;
        };
        let framework = self.frameworks.get_mut(&id).expect("found above");
        framework.link = None;
        framework.active = false;
        framework.unregistered_time = Some(now.unix);
        let timeout = framework.info.failover_timeout.unwrap_or(0.0);
        let timeout = Duration::try_from_secs_f64(timeout).unwrap_or(Duration::MAX);
        framework.failover_deadline = Some(
            now.instant
                .checked_add(timeout)
                .unwrap_or(now.instant + Duration::from_secs(100 * 365 * 24 * 3600)),
        );
        tracing::info!(framework_id = %id, failover_timeout = ?timeout, "Framework disconnected");
        self.allocator.deactivate_framework(&id);
        self.rescind_framework_offers(&id, false, now);
        self.expire_frameworks(now);
    }

    /// Removes disconnected frameworks whose failover timeout passed.
    pub(super) fn expire_frameworks(&mut self, now: Now) {
        let expired: Vec<FrameworkId> = self
            .frameworks
            .values()
            .filter(|f| f.failover_deadline.is_some_and(|d| d <= now.instant))
            .map(|f| f.id.clone())
            .collect();
        for id in expired {
            tracing::info!(framework_id = %id, "Framework failover timeout, removing framework");
            self.remove_framework(&id, now);
        }
    }

    /// Removes a framework: its offers, its tasks (agents are told to shut
    /// it down), its allocation.
    pub fn remove_framework(&mut self, id: &FrameworkId, now: Now) {
        self.rescind_framework_offers(id, false, now);
        let Some(mut framework) = self.frameworks.remove(id) else {
            return;
        };
        tracing::info!(framework_id = %id, "Removing framework");
        for (task_id, entry) in framework.tasks.drain() {
            let agent_id = AgentId::from(&entry.task.slave_id);
            if let Some(agent) = self.agents.get_mut(&agent_id) {
                agent.tasks.remove(&(id.clone(), task_id));
                if !entry.resources_recovered {
                    agent.release(id, &entry.resources);
                }
            }
            let mut task = entry.task;
            if !super::is_terminal(task.state) {
                task.state = v0::TaskState::TaskKilled as i32;
            }
            framework.completed_tasks.push_back(task);
        }
        trim(
            &mut framework.completed_tasks,
            self.config.max_completed_tasks_per_framework,
        );
        // Every agent is told, as in Mesos: one may run something of the
        // framework the master does not know of (a launch in flight).
        let message = mesos::wire::mesos::internal::ShutdownFrameworkMessage {
            framework_id: id.to_v0(),
        };
        let mut pids = Vec::with_capacity(self.agents.len());
        for agent in self.agents.values_mut() {
            agent.executors.remove(id);
            pids.push(agent.pid.clone());
        }
        pids.sort_by_key(|pid| pid.to_string());
        for pid in pids {
            self.send_message(&pid, &message);
        }
        self.allocator.remove_framework(id);
        if let Some(link) = framework.link.take() {
            self.effects.push(Effect::Close { link });
        }
        framework.active = false;
        framework.unregistered_time = Some(now.unix);
        framework.failover_deadline = None;
        self.completed_frameworks.push_back(framework);
        trim(
            &mut self.completed_frameworks,
            self.config.max_completed_frameworks,
        );
    }
}

fn missing(field: &str) -> CallError {
    CallError::BadRequest(format!("Expecting '{field}' to be present"))
}

pub(super) fn trim<T>(queue: &mut VecDeque<T>, max: usize) {
    while queue.len() > max {
        queue.pop_front();
    }
}

/// An `ERROR` event.
pub fn error_event(message: &str) -> scheduler::Event {
    scheduler::Event {
        r#type: Some(event::Type::Error as i32),
        error: Some(event::Error {
            message: message.to_string(),
        }),
        ..Default::default()
    }
}
