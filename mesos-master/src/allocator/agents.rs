//! Agents, and resources coming back from frameworks.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mesos::ids::{AgentId, FrameworkId};
use mesos::resources::{Resources, UNRESERVED_ROLE};

use super::{Agent, Allocator, Filter, Held, MAX_REFUSE, held_part, split_by_role, unallocated};

impl Allocator {
    /// Adds an agent with its total resources and what frameworks already
    /// use on it (with allocation roles; resources without one are taken to
    /// be for the framework's only role, or `*`). Usage beyond the total is
    /// cut to it. Adding a known agent replaces it.
    pub fn add_agent(
        &mut self,
        id: AgentId,
        total: Resources,
        used: HashMap<FrameworkId, Resources>,
    ) {
        if self.agent_index.contains_key(&id) {
            tracing::warn!(agent_id = %id, "agent added twice; replacing it");
            self.remove_agent(&id);
        }
        let total = unallocated(&total);
        let total_q = self.quantities(&total);
        self.totals.total.add(&total_q);
        self.totals.generation += 1;
        let has_gpu = total.gpus().is_some_and(|g| g > 0.0);
        let a = self.agents.insert(Agent {
            id: id.clone(),
            available: total.clone(),
            total,
            total_q,
            held: Vec::new(),
            activated: true,
            has_gpu,
            dirty: false,
        });
        self.agent_index.insert(id.clone(), a);

        for (framework_id, resources) in used {
            let f = self.framework_index.get(&framework_id).copied();
            let default_role = match f {
                Some(f) => self.default_role(f),
                None => UNRESERVED_ROLE.to_string(),
            };
            for (role, part) in split_by_role(&resources, &default_role) {
                let agent = self.agents.get_mut(a).expect("just inserted");
                let part = held_part(&agent.available, &part);
                if part.is_empty() {
                    continue;
                }
                match f {
                    Some(f) => self.hold(a, f, &role, part),
                    None => {
                        agent.available -= &part;
                        match agent.held_index(&framework_id, &role) {
                            Some(i) => agent.held[i].resources += &part,
                            None => agent.held.push(Held {
                                framework: framework_id.clone(),
                                role: Arc::from(role.as_str()),
                                role_index: 0,
                                tracked: false,
                                resources: part,
                            }),
                        }
                        self.untracked
                            .entry(framework_id.clone())
                            .or_default()
                            .insert(a);
                    }
                }
            }
        }
        self.mark_dirty(a);
        tracing::debug!(agent_id = %id, "added agent");
    }

    /// Changes an agent's total (a resize, or a reservation changed by an
    /// operation). What frameworks hold is kept; the available resources
    /// become the new total minus that.
    pub fn update_agent_total(&mut self, id: &AgentId, total: Resources) {
        let Some(&a) = self.agent_index.get(id) else {
            return;
        };
        let total = unallocated(&total);
        let total_q = self.quantities(&total);
        let Some(agent) = self.agents.get_mut(a) else {
            return;
        };
        if agent.total == total {
            return;
        }
        self.totals.total.sub(&agent.total_q);
        self.totals.total.add(&total_q);
        self.totals.generation += 1;
        let mut available = total.clone();
        for h in &agent.held {
            available -= &h.resources;
        }
        agent.has_gpu = total.gpus().is_some_and(|g| g > 0.0);
        agent.total = total;
        agent.total_q = total_q;
        agent.available = available;
        self.mark_dirty(a);
    }

    /// Removes an agent; what frameworks held on it is forgotten.
    pub fn remove_agent(&mut self, id: &AgentId) {
        let Some(a) = self.agent_index.remove(id) else {
            return;
        };
        let Some(agent) = self.agents.remove(a) else {
            return;
        };
        self.totals.total.sub(&agent.total_q);
        self.totals.generation += 1;
        for h in agent.held {
            if !h.tracked {
                if let Some(set) = self.untracked.get_mut(&h.framework) {
                    set.remove(&a);
                    if set.is_empty() {
                        self.untracked.remove(&h.framework);
                    }
                }
                continue;
            }
            let Some(&f) = self.framework_index.get(&h.framework) else {
                continue;
            };
            let q = self.names.known_quantities(&h.resources);
            self.untrack_allocated(f, h.role_index, &q);
            self.count_held(f, h.role_index, a, -1);
            self.untrack_role_if_unused(f, h.role_index);
        }
        for fw in self.frameworks.values_mut() {
            fw.filters.remove(&a);
        }
        tracing::debug!(agent_id = %id, "removed agent");
    }

    /// Makes an agent's resources offerable again (it reconnected).
    pub fn activate_agent(&mut self, id: &AgentId) {
        if let Some(&a) = self.agent_index.get(id) {
            if let Some(agent) = self.agents.get_mut(a) {
                agent.activated = true;
            }
            self.mark_dirty(a);
        }
    }

    /// Stops offering an agent's resources (disconnected or unreachable);
    /// what frameworks hold there is kept.
    pub fn deactivate_agent(&mut self, id: &AgentId) {
        if let Some(&a) = self.agent_index.get(id) {
            if let Some(agent) = self.agents.get_mut(a) {
                agent.activated = false;
            }
        }
    }

    /// Applies the outcome of operations on resources a framework holds on
    /// an agent (Mesos's `updateAllocation`): an `ACCEPT` that reserves,
    /// unreserves, creates or destroys volumes turns `from` into `to`.
    /// Both carry the allocation role they are held under (or none, for the
    /// role the framework holds resources under there); the agent's total
    /// changes the same way. The master computes `to` with the resources
    /// algebra. Returns `false`, changing nothing, if the framework does not
    /// hold `from` there.
    pub fn update_allocation(
        &mut self,
        framework: &FrameworkId,
        agent: &AgentId,
        from: &Resources,
        to: &Resources,
    ) -> bool {
        let (Some(&a), Some(&f)) = (
            self.agent_index.get(agent),
            self.framework_index.get(framework),
        ) else {
            return false;
        };
        let ag = self.agents.get(a).expect("indexed agent exists");
        let mut held_roles = ag.held.iter().filter(|h| h.framework == *framework);
        let default_role = match (held_roles.next(), held_roles.next()) {
            (Some(h), None) => h.role.to_string(),
            _ => self.default_role(f),
        };
        let from = split_by_role(from, &default_role);
        let to = split_by_role(to, &default_role);
        let [(role, from)] = &from[..] else {
            tracing::warn!(framework_id = %framework, agent_id = %agent,
                "allocation update across roles; ignored");
            return false;
        };
        let to = match &to[..] {
            [] => Resources::new(),
            [(r, to)] if r == role => to.clone(),
            _ => {
                tracing::warn!(framework_id = %framework, agent_id = %agent,
                    "allocation update across roles; ignored");
                return false;
            }
        };
        let Some(i) = ag.held_index(framework, role) else {
            return false;
        };
        if !ag.held[i].resources.contains(from) {
            return false;
        }
        let mut total = ag.total.clone();
        total -= from;
        total += &to;
        let (old_q, new_q) = (self.quantities(from), self.quantities(&to));
        let total_q = self.quantities(&total);
        let ag = self.agents.get_mut(a).expect("indexed agent exists");
        let h = &mut ag.held[i];
        h.resources -= from;
        h.resources += &to;
        let r = h.role_index;
        let emptied = h.resources.is_empty();
        if emptied {
            ag.held.swap_remove(i);
        }
        ag.has_gpu = total.gpus().is_some_and(|g| g > 0.0);
        ag.total = total;
        self.totals.total.sub(&ag.total_q);
        self.totals.total.add(&total_q);
        self.totals.generation += 1;
        ag.total_q = total_q;
        self.role_sorter
            .reallocated(r, &old_q, &new_q, &self.totals);
        if let Some(role) = self.roles.get_mut(r) {
            role.frameworks.reallocated(f, &old_q, &new_q, &self.totals);
        }
        if emptied {
            self.count_held(f, r, a, -1);
            self.untrack_role_if_unused(f, r);
        }
        true
    }

    /// Takes back resources a framework held on an agent: a declined or
    /// rescinded offer, or the resources of a finished task.
    ///
    /// `resources` are grouped by allocation role; resources without one
    /// are taken to be for the role under which the framework holds them
    /// (or its only role). Resources the framework does not hold are
    /// ignored. A `refuse` longer than zero installs a filter: until
    /// `now + max(refuse, allocation_interval)` (at most [`MAX_REFUSE`]) the
    /// framework is not offered, for that role on that agent, anything
    /// these resources contain. `None` means no filter, as for rescinded
    /// offers and finished tasks; a `DECLINE` without `Filters` means
    /// [`DEFAULT_REFUSE`](super::DEFAULT_REFUSE).
    pub fn recover_resources(
        &mut self,
        framework: &FrameworkId,
        agent: &AgentId,
        resources: &Resources,
        refuse: Option<Duration>,
        now: Instant,
    ) {
        if resources.is_empty() {
            return;
        }
        let Some(&a) = self.agent_index.get(agent) else {
            return;
        };
        let f = self.framework_index.get(framework).copied();
        let default_role = {
            let ag = self.agents.get(a).expect("indexed agent exists");
            let mut roles = ag.held.iter().filter(|h| h.framework == *framework);
            match (roles.next(), roles.next()) {
                (Some(h), None) => h.role.to_string(),
                _ => f.map_or_else(|| UNRESERVED_ROLE.to_string(), |f| self.default_role(f)),
            }
        };
        for (role, part) in split_by_role(resources, &default_role) {
            let ag = self.agents.get_mut(a).expect("indexed agent exists");
            let Some(i) = ag.held_index(framework, &role) else {
                tracing::warn!(framework_id = %framework, agent_id = %agent, role = %role,
                    "recovered resources not held; ignored");
                continue;
            };
            let part = held_part(&ag.held[i].resources, &part);
            if part.is_empty() {
                continue;
            }
            ag.held[i].resources -= &part;
            ag.available += &part;
            let emptied = ag.held[i].resources.is_empty();
            let (tracked, r) = (ag.held[i].tracked, ag.held[i].role_index);
            if emptied {
                ag.held.swap_remove(i);
            }
            if tracked {
                if let Some(f) = f {
                    let q = self.names.known_quantities(&part);
                    self.untrack_allocated(f, r, &q);
                    if emptied {
                        self.count_held(f, r, a, -1);
                    }
                }
            } else if emptied
                && self
                    .agents
                    .get(a)
                    .is_some_and(|ag| !ag.held.iter().any(|h| h.framework == *framework))
            {
                if let Some(set) = self.untracked.get_mut(framework) {
                    set.remove(&a);
                    if set.is_empty() {
                        self.untracked.remove(framework);
                    }
                }
            }
            self.mark_dirty(a);

            let refuse = refuse.unwrap_or(Duration::ZERO).min(MAX_REFUSE);
            if let (Some(f), true) = (f, tracked && !refuse.is_zero()) {
                let timeout = refuse.max(self.allocation_interval);
                let id = self.next_filter_id;
                self.next_filter_id += 1;
                if let Some(fw) = self.frameworks.get_mut(f) {
                    if fw.spec.roles.contains(&role) {
                        let expires = now.checked_add(timeout).unwrap_or(now);
                        fw.filters.entry(a).or_default().push(Filter {
                            id,
                            expires,
                            role: r,
                            resources: part,
                        });
                        self.expiries.push(Reverse((expires, id, f, a)));
                        if self.expiries.len() >= self.compact_expiries_at {
                            self.compact_expiries();
                        }
                    }
                }
            }
            if tracked && emptied {
                if let Some(f) = f {
                    self.untrack_role_if_unused(f, r);
                }
            }
        }
    }
}
