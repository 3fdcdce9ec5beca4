//! Agents: registration, re-registration, health checks, removal, and the
//! libprocess messages agents send.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use mesos::ids::{AgentId, ExecutorId, FrameworkId, TaskId};
use mesos::resources::Resources;
use mesos::upid::Upid;
use mesos::wire::mesos as v0;
use mesos::wire::mesos::internal;
use mesos::wire::mesos::scheduler::{self, event};

use super::frameworks::{Framework, FrameworkLink, TaskEntry, framework_roles};
use super::{Master, Now, is_terminal};

/// A registered agent.
#[derive(Debug, Clone)]
pub struct Agent {
    /// Its id.
    pub id: AgentId,
    /// What it registered with (its `id` set).
    pub info: v0::SlaveInfo,
    /// Its libprocess address (`slave(1)@ip:port`).
    pub pid: Upid,
    /// The Mesos version it runs.
    pub version: String,
    /// Its capabilities.
    pub capabilities: Vec<v0::slave_info::Capability>,
    /// Whether its connection is up.
    pub connected: bool,
    /// When it registered (Unix seconds).
    pub registered_time: f64,
    /// When it last re-registered (Unix seconds).
    pub reregistered_time: Option<f64>,
    /// Its total resources.
    pub total: Resources,
    /// What frameworks use on it (tasks and offers).
    pub used: HashMap<FrameworkId, Resources>,
    /// What is offered on it right now.
    pub offered: Resources,
    /// Live tasks on it.
    pub tasks: HashSet<(FrameworkId, TaskId)>,
    /// Executors on it, per framework.
    pub executors: HashMap<FrameworkId, HashMap<ExecutorId, v0::ExecutorInfo>>,
    /// Whether it answered the last ping.
    pub ponged: bool,
    /// Pings in a row it did not answer.
    pub missed_pings: u32,
    /// When it was last pinged.
    pub last_ping: Instant,
}

impl Agent {
    /// Resources used by tasks and offers.
    pub fn used_total(&self) -> Resources {
        let mut total = Resources::new();
        for used in self.used.values() {
            total.add_all(used);
        }
        total
    }

    pub(super) fn hold(&mut self, framework: &FrameworkId, resources: &Resources) {
        self.used
            .entry(framework.clone())
            .or_default()
            .add_all(resources);
    }

    pub(super) fn release(&mut self, framework: &FrameworkId, resources: &Resources) {
        if let Some(used) = self.used.get_mut(framework) {
            used.subtract_all(resources);
            if used.is_empty() {
                self.used.remove(framework);
            }
        }
    }
}

impl Master {
    /// A libprocess message arrived. Agents' messages are handled here;
    /// undecodable or unexpected ones are counted and dropped, and so are
    /// ones missing a required field, as the C++ parser Mesos uses refuses
    /// them (prost alone would fill them in: an empty body would register
    /// an agent).
    pub fn receive(&mut self, from: &Upid, name: &str, body: &[u8], now: Now) {
        // Messages both sides send (KillTaskMessage, ...) are scheduler
        // messages when they reach the master.
        if super::libprocess::SCHEDULER_MESSAGES.contains(&name) {
            self.scheduler_message(from, name, body, now);
            return;
        }
        fn decode<M>(body: &[u8]) -> Option<M>
        where
            M: prost::Message + prost_reflect::ReflectMessage + Default,
        {
            mesos::wire::decode_checked(body).ok()
        }
        self.metrics.count_agent_message(name);
        let handled = match name {
            "mesos.internal.RegisterSlaveMessage" => decode(body)
                .map(|m| self.register_agent(from, m, now))
                .is_some(),
            "mesos.internal.ReregisterSlaveMessage" => decode(body)
                .map(|m| self.reregister_agent(from, m, now))
                .is_some(),
            "mesos.internal.PongSlaveMessage" => {
                if let Some(agent) = self.agents.values_mut().find(|a| &a.pid == from) {
                    agent.ponged = true;
                    agent.missed_pings = 0;
                }
                true
            }
            "mesos.internal.StatusUpdateMessage" => decode(body)
                .map(|m| self.status_update(from, m, now))
                .is_some(),
            "mesos.internal.ExitedExecutorMessage" => {
                decode(body).map(|m| self.executor_exited(m)).is_some()
            }
            "mesos.internal.ExecutorToFrameworkMessage" => {
                decode(body).map(|m| self.executor_message(m)).is_some()
            }
            "mesos.internal.UnregisterSlaveMessage" => {
                decode::<internal::UnregisterSlaveMessage>(body)
                    .map(|m| {
                        let id = AgentId::from(&m.slave_id);
                        if self.agents.get(&id).is_some_and(|a| &a.pid == from) {
                            self.metrics.bump("slave_removals");
                            self.metrics.bump("slave_removals/reason_unregistered");
                            self.remove_agent(&id, "Agent unregistered", false, now);
                        }
                    })
                    .is_some()
            }
            "mesos.internal.UpdateSlaveMessage" => {
                decode(body).map(|m| self.update_agent(from, m)).is_some()
            }
            _ => {
                tracing::warn!("Dropping unknown message '{name}' from {from}");
                false
            }
        };
        if !handled {
            self.metrics.invalid_messages += 1;
            tracing::warn!("Dropping malformed message '{name}' from {from}");
        }
    }

    fn register_agent(&mut self, from: &Upid, message: internal::RegisterSlaveMessage, now: Now) {
        if let Some(agent) = self.agents.values().find(|a| &a.pid == from) {
            if agent.connected {
                // A retry of a registration we already took.
                let reply = internal::SlaveRegisteredMessage {
                    slave_id: agent.id.to_v0(),
                    connection: Some(self.connection()),
                };
                self.send_admitted(from, &reply);
                return;
            }
            // A disconnected agent registering anew lost its state (it
            // failed recovery, or rebooted): as Mesos does, the old agent
            // and its tasks go before the new one is admitted. The pid is
            // the new agent's now, so no ShutdownMessage goes to it.
            let old = agent.id.clone();
            tracing::info!(agent_id = %old, "Removing old disconnected agent: a new agent registered at {from}");
            self.forget_agent(
                &old,
                "a new agent registered at the same address",
                false,
                now,
            );
        }
        let mut info = message.slave;
        let total = match Resources::from_wire(&info.resources) {
            Ok(total) => total,
            Err(error) => {
                tracing::warn!("Refusing agent at {from}: invalid resources: {error}");
                self.metrics.invalid_messages += 1;
                return;
            }
        };
        let id = AgentId::new(format!("{}-S{}", self.config.id, self.next_agent));
        self.next_agent += 1;
        info.id = Some(id.to_v0());
        tracing::info!(agent_id = %id, hostname = %info.hostname, pid = %from, "Registered agent with {total}");
        let agent = Agent {
            id: id.clone(),
            info,
            pid: from.clone(),
            version: message.version.unwrap_or_default(),
            capabilities: message.agent_capabilities,
            connected: true,
            registered_time: now.unix,
            reregistered_time: None,
            total: total.clone(),
            used: HashMap::new(),
            offered: Resources::new(),
            tasks: HashSet::new(),
            executors: HashMap::new(),
            // Pinged below, as soon as it is registered.
            ponged: false,
            missed_pings: 0,
            last_ping: now.instant,
        };
        self.agents.insert(id.clone(), agent);
        self.metrics.bump("slave_registrations");
        self.allocator.add_agent(id.clone(), total, HashMap::new());
        self.registry_admitted(&id);
        self.effects.push(super::Effect::Link { to: from.clone() });
        let reply = internal::SlaveRegisteredMessage {
            slave_id: id.to_v0(),
            connection: Some(self.connection()),
        };
        self.send_admitted(from, &reply);
        // Health checks start now, as Mesos's observer pings at once: an
        // agent that never answers is gone after the total ping timeout.
        self.send_admitted(from, &internal::PingSlaveMessage { connected: true });
        self.allocation_pending = true;
    }

    fn reregister_agent(
        &mut self,
        from: &Upid,
        message: internal::ReregisterSlaveMessage,
        now: Now,
    ) {
        let Some(wire_id) = message.slave.id.clone() else {
            tracing::warn!("Dropping re-registration from {from}: no agent id");
            self.metrics.invalid_messages += 1;
            return;
        };
        let id = AgentId::from(&wire_id);
        if self.is_gone(&id) {
            tracing::warn!(agent_id = %id, "Refusing re-registration of agent {id} at {from}: it was marked gone");
            self.send_message(
                from,
                &internal::ShutdownMessage {
                    message: Some("Agent has been marked gone".into()),
                },
            );
            return;
        }
        let total = match Resources::from_wire(&message.slave.resources) {
            Ok(total) => total,
            Err(error) => {
                tracing::warn!("Refusing agent {id} at {from}: invalid resources: {error}");
                self.metrics.invalid_messages += 1;
                return;
            }
        };
        let admitted = !self.agents.contains_key(&id);
        let reconciliations = self.unknown_to_agent(&id, &message.tasks);
        // An agent neither registered nor recovered comes back from being
        // unreachable (or from before this master's registry): its
        // frameworks hear of its tasks again, as in Mesos 1.11.
        let reappeared = if self.is_unreachable(&id) {
            Some("Unreachable agent re-reregistered")
        } else if admitted && !self.is_recovered(&id) {
            Some("Unknown agent reregistered")
        } else {
            None
        };
        let start = self.effects.len();
        if let Some(agent) = self.agents.get_mut(&id) {
            tracing::info!(agent_id = %id, pid = %from, "Agent re-registered");
            self.metrics.bump("slave_reregistrations");
            agent.pid = from.clone();
            agent.connected = true;
            agent.ponged = true;
            agent.missed_pings = 0;
            agent.reregistered_time = Some(now.unix);
            agent.version = message.version.clone().unwrap_or_default();
            self.allocator.activate_agent(&id);
        } else {
            // An agent this master does not know (it restarted with no
            // registry): admit it with its tasks.
            tracing::info!(agent_id = %id, pid = %from, "Admitting re-registering agent");
            self.metrics.bump("slave_reregistrations");
            let mut used: HashMap<FrameworkId, Resources> = HashMap::new();
            for task in &message.tasks {
                if !is_terminal(task.state)
                    && let Ok(resources) = Resources::from_wire(&task.resources)
                {
                    used.entry(FrameworkId::from(&task.framework_id))
                        .or_default()
                        .add_all(&resources);
                }
            }
            let agent = Agent {
                id: id.clone(),
                info: message.slave.clone(),
                pid: from.clone(),
                version: message.version.clone().unwrap_or_default(),
                capabilities: message.agent_capabilities.clone(),
                connected: true,
                registered_time: now.unix,
                reregistered_time: Some(now.unix),
                total: total.clone(),
                used: HashMap::new(),
                offered: Resources::new(),
                tasks: HashSet::new(),
                executors: HashMap::new(),
                // Pinged below, as soon as it is admitted.
                ponged: false,
                missed_pings: 0,
                last_ping: now.instant,
            };
            self.agents.insert(id.clone(), agent);
            for info in &message.frameworks {
                self.recover_framework(info, now);
            }
            for executor in &message.executor_infos {
                if let Some(fid) = &executor.framework_id {
                    let fid = FrameworkId::from(fid);
                    let eid = ExecutorId::from(&executor.executor_id);
                    if let Some(agent) = self.agents.get_mut(&id) {
                        agent
                            .executors
                            .entry(fid.clone())
                            .or_default()
                            .insert(eid.clone(), executor.clone());
                    }
                    if let Some(framework) = self.frameworks.get_mut(&fid) {
                        framework
                            .executors
                            .entry(id.clone())
                            .or_default()
                            .insert(eid, executor.clone());
                    }
                }
            }
            for task in &message.tasks {
                self.recover_task(&id, task);
            }
            self.allocator.add_agent(id.clone(), total, used);
        }
        if let Some(text) = reappeared {
            self.announce_reappeared_tasks(&id, from, &message, text, now);
        }
        // An agent back with what the registry holds of it needs no write,
        // so its reply goes at once, as in Mesos.
        let changed = self.registry_admitted(&id);
        if changed {
            self.hold_effects_since(start);
        }
        self.effects.push(super::Effect::Link { to: from.clone() });
        let reply = internal::SlaveReregisteredMessage {
            slave_id: id.to_v0(),
            reconciliations,
            connection: Some(self.connection()),
        };
        let ping = internal::PingSlaveMessage { connected: true };
        if changed {
            self.send_admitted(from, &reply);
            if admitted {
                self.send_admitted(from, &ping);
            }
        } else {
            self.send_message(from, &reply);
            if admitted {
                self.send_message(from, &ping);
            }
        }
        self.allocation_pending = true;
    }

    /// The tasks the master holds on a re-registering agent that the
    /// agent did not report (it restarted without them: their framework
    /// did not checkpoint), per framework, for the agent to answer with a
    /// terminal update each, as Mesos's `reconcileKnownSlave` asks.
    fn unknown_to_agent(
        &self,
        id: &AgentId,
        reported: &[v0::Task],
    ) -> Vec<internal::ReconcileTasksMessage> {
        let Some(agent) = self.agents.get(id) else {
            return Vec::new();
        };
        let reported: HashSet<(FrameworkId, TaskId)> = reported
            .iter()
            .map(|t| (FrameworkId::from(&t.framework_id), TaskId::from(&t.task_id)))
            .collect();
        let mut missing: std::collections::BTreeMap<FrameworkId, Vec<v0::TaskStatus>> =
            Default::default();
        for (fid, tid) in &agent.tasks {
            if reported.contains(&(fid.clone(), tid.clone())) {
                continue;
            }
            let state = self
                .frameworks
                .get(fid)
                .and_then(|f| f.tasks.get(tid))
                .map_or(v0::TaskState::TaskStaging as i32, |t| t.task.state);
            tracing::warn!(task_id = %tid, framework_id = %fid, agent_id = %id, "Task unknown to the agent during re-registration: reconciling with the agent");
            missing
                .entry(fid.clone())
                .or_default()
                .push(v0::TaskStatus {
                    task_id: tid.to_v0(),
                    state,
                    slave_id: Some(id.to_v0()),
                    ..Default::default()
                });
        }
        missing
            .into_iter()
            .map(|(fid, statuses)| internal::ReconcileTasksMessage {
                framework: self.frameworks.get(&fid).map(|f| f.info.clone()),
                framework_id: fid.to_v0(),
                statuses,
            })
            .collect()
    }

    /// The tasks of an agent back from unreachable (or unknown) go to their
    /// frameworks with the state the agent reports
    /// (`REASON_SLAVE_REREGISTERED`); frameworks removed meanwhile are shut
    /// down on the agent.
    fn announce_reappeared_tasks(
        &mut self,
        id: &AgentId,
        from: &Upid,
        message: &internal::ReregisterSlaveMessage,
        text: &str,
        now: Now,
    ) {
        for task in &message.tasks {
            let fid = FrameworkId::from(&task.framework_id);
            if !self.frameworks.contains_key(&fid) {
                continue;
            }
            let tid = TaskId::from(&task.task_id);
            let state = v0::TaskState::try_from(task.state).unwrap_or(v0::TaskState::TaskStaging);
            let mut status = self.master_status(
                &fid,
                &tid,
                Some(id),
                state,
                v0::task_status::Reason::SlaveReregistered,
                text,
                now,
            );
            status.executor_id = task.executor_id.clone();
            self.forward_master_update(&fid, status);
        }
        let completed: Vec<FrameworkId> = message
            .frameworks
            .iter()
            .filter_map(|f| f.id.as_ref().map(FrameworkId::from))
            .filter(|fid| self.completed_frameworks.iter().any(|f| &f.id == fid))
            .collect();
        for fid in completed {
            tracing::info!(agent_id = %id, "Shutting down framework {fid} at re-registered agent: it was removed at the master");
            self.send_message(
                from,
                &internal::ShutdownFrameworkMessage {
                    framework_id: fid.to_v0(),
                },
            );
        }
    }

    /// A framework an agent reports that the master does not know: kept,
    /// disconnected, until it subscribes again or its failover timeout
    /// passes.
    fn recover_framework(&mut self, info: &v0::FrameworkInfo, now: Now) {
        let Some(id) = info.id.as_ref().map(FrameworkId::from) else {
            return;
        };
        if self.frameworks.contains_key(&id) || self.completed_frameworks.iter().any(|f| f.id == id)
        {
            return;
        }
        let timeout = info.failover_timeout.unwrap_or(0.0);
        let timeout = std::time::Duration::try_from_secs_f64(timeout)
            .unwrap_or(std::time::Duration::from_secs(100 * 365 * 24 * 3600));
        let framework = Framework {
            id: id.clone(),
            info: info.clone(),
            link: None,
            pid: None,
            recovered: true,
            active: false,
            registered_time: now.unix,
            reregistered_time: None,
            unregistered_time: Some(now.unix),
            tasks: HashMap::new(),
            completed_tasks: Default::default(),
            offers: HashSet::new(),
            executors: HashMap::new(),
            failover_deadline: now.instant.checked_add(timeout),
            roles: framework_roles(info),
            suppressed_roles: Default::default(),
        };
        let spec = self.framework_spec(&framework);
        self.allocator
            .add_framework(id.clone(), spec, HashMap::new(), false);
        self.frameworks.insert(id, framework);
    }

    fn recover_task(&mut self, agent_id: &AgentId, task: &v0::Task) {
        let fid = FrameworkId::from(&task.framework_id);
        let tid = TaskId::from(&task.task_id);
        let Ok(resources) = Resources::from_wire(&task.resources) else {
            return;
        };
        let Some(framework) = self.frameworks.get_mut(&fid) else {
            return;
        };
        if is_terminal(task.state) {
            return;
        }
        let mut task = task.clone();
        task.slave_id = agent_id.to_v0();
        framework.tasks.insert(
            tid.clone(),
            TaskEntry {
                latest_status: task.statuses.last().cloned(),
                task,
                resources: resources.clone(),
                resources_recovered: false,
            },
        );
        if let Some(agent) = self.agents.get_mut(agent_id) {
            agent.tasks.insert((fid.clone(), tid));
            agent.hold(&fid, &resources);
        }
    }

    fn update_agent(&mut self, from: &Upid, message: internal::UpdateSlaveMessage) {
        let id = AgentId::from(&message.slave_id);
        if self.agents.get(&id).is_none_or(|a| &a.pid != from) {
            tracing::warn!("Ignoring agent update from {from}: not the registered agent {id}");
            return;
        }
        // Oversubscribed resources and resource providers are not
        // modelled; the agent's total stays what it registered with.
        tracing::debug!(agent_id = %id, "Agent update received");
    }

    fn executor_exited(&mut self, message: internal::ExitedExecutorMessage) {
        let agent_id = AgentId::from(&message.slave_id);
        let fid = FrameworkId::from(&message.framework_id);
        let eid = ExecutorId::from(&message.executor_id);
        if let Some(agent) = self.agents.get_mut(&agent_id)
            && let Some(executors) = agent.executors.get_mut(&fid)
        {
            executors.remove(&eid);
        }
        let Some(framework) = self.frameworks.get_mut(&fid) else {
            return;
        };
        if let Some(executors) = framework.executors.get_mut(&agent_id) {
            executors.remove(&eid);
        }
        if let Some(link) = framework.link.clone() {
            let event = scheduler::Event {
                r#type: Some(event::Type::Failure as i32),
                failure: Some(event::Failure {
                    slave_id: Some(message.slave_id),
                    executor_id: Some(message.executor_id),
                    status: Some(message.status),
                }),
                ..Default::default()
            };
            self.send_event(&link, event);
        }
    }

    fn executor_message(&mut self, message: internal::ExecutorToFrameworkMessage) {
        let fid = FrameworkId::from(&message.framework_id);
        let Some(link) = self.frameworks.get(&fid).and_then(|f| f.link.clone()) else {
            self.metrics.bump("invalid_executor_to_framework_messages");
            return;
        };
        self.metrics.bump("valid_executor_to_framework_messages");
        let event = scheduler::Event {
            r#type: Some(event::Type::Message as i32),
            message: Some(event::Message {
                slave_id: message.slave_id,
                executor_id: message.executor_id,
                data: message.data,
            }),
            ..Default::default()
        };
        self.send_event(&link, event);
    }

    /// A peer's connection broke: an agent (deactivated until it
    /// re-registers or fails its health checks) or a libprocess framework.
    pub fn exited(&mut self, pid: &Upid, now: Now) {
        let agent = self
            .agents
            .values_mut()
            .find(|a| &a.pid == pid && a.connected);
        if let Some(agent) = agent {
            tracing::info!(agent_id = %agent.id, "Agent disconnected");
            agent.connected = false;
            let id = agent.id.clone();
            self.allocator.deactivate_agent(&id);
            self.rescind_agent_offers(&id, now);
            self.remove_non_checkpointing(&id, now);
        }
        let link = super::FrameworkLink::Libprocess { pid: pid.clone() };
        if self
            .frameworks
            .values()
            .any(|f| f.link.as_ref() == Some(&link))
        {
            // As Mesos does: a driver that is still alive (the link broke
            // one way) cannot tell, and would wait for offers forever.
            self.send_framework_error(pid, "Framework disconnected");
        }
        self.framework_disconnected(&link, now);
    }

    /// An agent disconnected: the frameworks on it that do not checkpoint
    /// cannot get their tasks back from a restarted agent, so, as in
    /// Mesos, they are removed from it at once: their tasks `TASK_LOST`
    /// (`REASON_SLAVE_DISCONNECTED`), their executors forgotten.
    fn remove_non_checkpointing(&mut self, id: &AgentId, now: Now) {
        let Some(agent) = self.agents.get(id) else {
            return;
        };
        let hostname = agent.info.hostname.clone();
        let checkpointing = |master: &Master, fid: &FrameworkId| {
            master
                .frameworks
                .get(fid)
                .is_none_or(|f| f.info.checkpoint.unwrap_or(false))
        };
        let mut tasks: Vec<(FrameworkId, TaskId)> = agent
            .tasks
            .iter()
            .filter(|(fid, _)| !checkpointing(self, fid))
            .cloned()
            .collect();
        tasks.sort();
        let executors: Vec<FrameworkId> = agent
            .executors
            .keys()
            .filter(|fid| !checkpointing(self, fid))
            .cloned()
            .collect();
        let message = format!("Agent {hostname} disconnected");
        for (fid, tid) in tasks {
            tracing::info!(framework_id = %fid, agent_id = %id, "Removing framework from disconnected agent because the framework is not checkpointing");
            let mut status = self.master_status(
                &fid,
                &tid,
                Some(id),
                v0::TaskState::TaskLost,
                v0::task_status::Reason::SlaveDisconnected,
                &message,
                now,
            );
            if let Some(entry) = self
                .frameworks
                .get_mut(&fid)
                .and_then(|f| f.tasks.get_mut(&tid))
            {
                status.executor_id = entry.task.executor_id.clone();
                entry.task.state = status.state;
                entry.task.statuses.push(status.clone());
                entry.latest_status = Some(status.clone());
            }
            self.count_terminal(&status);
            self.forward_master_update(&fid, status);
            self.forget_task(&fid, &tid, now);
        }
        for fid in executors {
            if let Some(agent) = self.agents.get_mut(id) {
                agent.executors.remove(&fid);
            }
            if let Some(framework) = self.frameworks.get_mut(&fid) {
                framework.executors.remove(id);
            }
        }
    }

    /// Pings agents every `--agent_ping_timeout`; marks unreachable those
    /// that missed `--max_agent_ping_timeouts` in a row.
    pub(super) fn check_agents(&mut self, now: Now) {
        let interval = self.config.agent_ping_timeout;
        let mut unreachable = Vec::new();
        let mut pings = Vec::new();
        for agent in self.agents.values_mut() {
            if now.instant.duration_since(agent.last_ping) < interval {
                continue;
            }
            if agent.ponged {
                agent.missed_pings = 0;
            } else {
                agent.missed_pings += 1;
            }
            if agent.missed_pings >= self.config.max_agent_ping_timeouts {
                unreachable.push(agent.id.clone());
                continue;
            }
            agent.ponged = false;
            agent.last_ping = now.instant;
            pings.push((agent.pid.clone(), agent.connected));
        }
        for (pid, connected) in pings {
            self.send_message(&pid, &internal::PingSlaveMessage { connected });
        }
        for id in unreachable {
            self.metrics.agent_removals += 1;
            self.metrics.bump("slave_removals");
            self.metrics.bump("slave_removals/reason_unhealthy");
            self.remove_agent(&id, "health check timed out", true, now);
        }
    }

    /// Removes an agent: its offers are rescinded and its tasks reported
    /// `TASK_UNREACHABLE` (partition-aware frameworks) or `TASK_LOST`.
    pub fn remove_agent(&mut self, id: &AgentId, message: &str, unreachable: bool, now: Now) {
        if let Some(pid) = self.forget_agent(id, message, unreachable, now) {
            // Tell the agent, in case it is still up, that it is no longer
            // part of the cluster.
            self.send_message(
                &pid,
                &internal::ShutdownMessage {
                    message: Some(message.to_string()),
                },
            );
        }
    }

    /// [`Master::remove_agent`] without telling the agent; returns its pid.
    fn forget_agent(
        &mut self,
        id: &AgentId,
        message: &str,
        unreachable: bool,
        now: Now,
    ) -> Option<Upid> {
        if !self.agents.contains_key(id) {
            return None;
        }
        let start = self.effects.len();
        self.rescind_agent_offers(id, now);
        let agent = self.agents.remove(id)?;
        tracing::info!(agent_id = %id, "Removing agent: {message}");
        self.registry_removed(id, unreachable, now);
        self.allocator.remove_agent(id);
        let mut tasks: Vec<_> = agent.tasks.iter().cloned().collect();
        tasks.sort();
        for (fid, tid) in tasks {
            let Some(framework) = self.frameworks.get(&fid) else {
                continue;
            };
            let state = if unreachable && framework.partition_aware() {
                v0::TaskState::TaskUnreachable
            } else {
                v0::TaskState::TaskLost
            };
            let mut status = self.master_status(
                &fid,
                &tid,
                Some(id),
                state,
                v0::task_status::Reason::SlaveRemoved,
                message,
                now,
            );
            if let Some(entry) = self.frameworks.get(&fid).and_then(|f| f.tasks.get(&tid)) {
                status.executor_id = entry.task.executor_id.clone();
            }
            if unreachable {
                status.unreachable_time = Some(v0::TimeInfo {
                    nanoseconds: (now.unix * 1e9) as i64,
                });
            }
            // The task leaves with the state it was given, as in Mesos's
            // `updateTask` before `removeTask`.
            if let Some(entry) = self
                .frameworks
                .get_mut(&fid)
                .and_then(|f| f.tasks.get_mut(&tid))
            {
                entry.task.state = status.state;
                entry.task.statuses.push(status.clone());
                entry.latest_status = Some(status.clone());
            }
            self.count_terminal(&status);
            self.forward_master_update(&fid, status);
            self.forget_task(&fid, &tid, now);
        }
        for fid in agent.executors.keys() {
            if let Some(framework) = self.frameworks.get_mut(fid) {
                framework.executors.remove(id);
            }
        }
        // Then every connected framework hears the agent is gone, as in
        // Mesos's `__removeSlave`.
        self.send_agent_lost(id);
        // All of it only once the registry no longer lists the agent as
        // admitted: a master failing over before the write would still
        // expect the agent, and the frameworks would have heard otherwise.
        self.hold_effects_since(start);
        Some(agent.pid)
    }

    /// Every connected framework hears that agent `id` is lost (a FAILURE
    /// without executor; LostSlaveMessage for drivers): Mesos's
    /// `sendSlaveLost`.
    pub(super) fn send_agent_lost(&mut self, id: &AgentId) {
        let mut links: Vec<(FrameworkId, FrameworkLink)> = self
            .frameworks
            .values()
            .filter_map(|f| f.link.clone().map(|link| (f.id.clone(), link)))
            .collect();
        links.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, link) in links {
            let event = scheduler::Event {
                r#type: Some(event::Type::Failure as i32),
                failure: Some(event::Failure {
                    slave_id: Some(id.to_v0()),
                    executor_id: None,
                    status: None,
                }),
                ..Default::default()
            };
            self.send_event(&link, event);
        }
    }

    fn connection(&self) -> internal::MasterSlaveConnection {
        internal::MasterSlaveConnection {
            total_ping_timeout_seconds: Some(
                self.config.agent_ping_timeout.as_secs_f64()
                    * f64::from(self.config.max_agent_ping_timeouts),
            ),
        }
    }
}

#[cfg(test)]
mod fuzz {
    use std::time::{Duration, Instant};

    use proptest::prelude::*;

    use crate::allocator::AllocatorConfig;
    use crate::master::{Master, MasterConfig, Now};

    const NAMES: &[&str] = &[
        "mesos.internal.RegisterSlaveMessage",
        "mesos.internal.ReregisterSlaveMessage",
        "mesos.internal.PongSlaveMessage",
        "mesos.internal.StatusUpdateMessage",
        "mesos.internal.ExitedExecutorMessage",
        "mesos.internal.ExecutorToFrameworkMessage",
        "mesos.internal.UnregisterSlaveMessage",
        "mesos.internal.UpdateSlaveMessage",
        "mesos.internal.Unknown",
    ];

    proptest! {
        /// Hostile agents: any bytes under any message name leave the
        /// master running and consistent.
        #[test]
        fn agent_messages_never_panic(
            messages in proptest::collection::vec((0..NAMES.len(), proptest::collection::vec(any::<u8>(), 0..256)), 1..20)
        ) {
            #[allow(clippy::disallowed_methods)]
            let start = Instant::now();
            let now = Now { instant: start, unix: 1.7e9 };
            let config = MasterConfig {
                id: "M".into(),
                pid: "master@127.0.0.1:5050".parse().unwrap(),
                hostname: "m".into(),
                allocation_interval: Duration::from_secs(1),
                offer_timeout: None,
                agent_ping_timeout: Duration::from_secs(15),
                max_agent_ping_timeouts: 5,
                max_completed_frameworks: 50,
                max_completed_tasks_per_framework: 1000,
                allocator: AllocatorConfig::default(),
            };
            let mut master = Master::new(config, now);
            let from = "slave(1)@127.0.0.1:5051".parse().unwrap();
            for (name, body) in messages {
                master.receive(&from, NAMES[name], &body, now);
            }
            master.tick(Now { instant: start + Duration::from_secs(100), unix: 1.7e9 + 100.0 });
            master.take_effects();
        }
    }
}
