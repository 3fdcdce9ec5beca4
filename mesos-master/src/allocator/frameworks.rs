//! Frameworks and the roles they are tracked under.

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};
use std::mem;
use std::sync::Arc;

use mesos::ids::{AgentId, FrameworkId};
use mesos::resources::{Resources, UNRESERVED_ROLE};

use super::quantities::Quantities;
use super::sorter::Sorter;
use super::{
    Allocator, Framework, FrameworkSpec, Held, Role, held_part, min_quantities, split_by_role,
};

impl Allocator {
    /// Adds a framework, with what it already holds (recovered from its
    /// tasks after a master failover) and whether it is connected.
    ///
    /// Usage that agents reported for this framework before it was added is
    /// counted now. An entry of `used` that the agent did not report is
    /// taken from the agent's available resources if they hold it. Adding a
    /// known framework updates it instead.
    pub fn add_framework(
        &mut self,
        id: FrameworkId,
        framework: FrameworkSpec,
        used: HashMap<AgentId, Resources>,
        active: bool,
    ) {
        if self.framework_index.contains_key(&id) {
            tracing::warn!(framework_id = %id, "framework added twice; updating it");
            self.update_framework(&id, framework);
            if active {
                self.activate_framework(&id);
            } else {
                self.deactivate_framework(&id);
            }
            return;
        }
        let min_allocatable = self.min_allocatable_of(&framework);
        let roles: Vec<String> = framework.roles.iter().cloned().collect();
        let f = self.frameworks.insert(Framework {
            id: id.clone(),
            spec: framework,
            min_allocatable,
            active,
            roles: HashMap::new(),
            agents: HashMap::new(),
            filters: HashMap::new(),
        });
        self.framework_index.insert(id.clone(), f);
        for role in &roles {
            self.track_role(f, role);
        }

        for a in self.untracked.remove(&id).unwrap_or_default() {
            let Some(agent) = self.agents.get(a) else {
                continue;
            };
            let pending: Vec<(usize, Arc<str>, Resources)> = agent
                .held
                .iter()
                .enumerate()
                .filter(|(_, h)| h.framework == id && !h.tracked)
                .map(|(i, h)| (i, h.role.clone(), h.resources.clone()))
                .collect();
            for (i, role, resources) in pending {
                let r = self.track_role(f, &role);
                if let Some(h) = self.agents.get_mut(a).and_then(|ag| ag.held.get_mut(i)) {
                    h.tracked = true;
                    h.role_index = r;
                }
                let q = self.quantities(&resources);
                self.count_held(f, r, a, 1);
                self.track_allocated(f, r, &q);
            }
        }

        for (agent_id, resources) in used {
            let Some(&a) = self.agent_index.get(&agent_id) else {
                continue;
            };
            let default_role = self.default_role(f);
            for (role, part) in split_by_role(&resources, &default_role) {
                let agent = self.agents.get(a).expect("indexed agent exists");
                if let Some(i) = agent.held_index(&id, &role) {
                    if agent.held[i].resources.contains(&part) {
                        continue;
                    }
                }
                let part = held_part(&agent.available, &part);
                if part.is_empty() {
                    tracing::warn!(framework_id = %id, agent_id = %agent_id,
                        "used resources not available on the agent; ignored");
                    continue;
                }
                self.hold(a, f, &role, part);
            }
        }

        self.sync_framework(f);
        if active {
            self.all_dirty = true;
        }
        tracing::debug!(framework_id = %id, "added framework");
    }

    /// Changes a framework's roles, suppressed roles, capabilities or
    /// minimum offer sizes. Leaving a role drops its filters for that role;
    /// un-suppressing a role drops them too (a revive), as in Mesos.
    pub fn update_framework(&mut self, id: &FrameworkId, framework: FrameworkSpec) {
        let Some(&f) = self.framework_index.get(id) else {
            tracing::warn!(framework_id = %id, "update of unknown framework");
            return;
        };
        let min_allocatable = self.min_allocatable_of(&framework);
        let fw = self
            .frameworks
            .get_mut(f)
            .expect("indexed framework exists");
        let old = mem::replace(&mut fw.spec, framework);
        fw.min_allocatable = min_allocatable;
        let new = fw.spec.clone();

        for role in new.roles.difference(&old.roles) {
            self.track_role(f, role);
        }
        let left: Vec<&String> = old.roles.difference(&new.roles).collect();
        let revived = old
            .suppressed_roles
            .difference(&new.suppressed_roles)
            .filter(|r| new.roles.contains(*r));
        for role in left.iter().copied().chain(revived) {
            if let Some(&r) = self.role_index.get(role.as_str()) {
                if let Some(fw) = self.frameworks.get_mut(f) {
                    fw.clear_filters(r);
                }
            }
        }
        self.sync_framework(f);
        for role in left {
            if let Some(&r) = self.role_index.get(role.as_str()) {
                self.untrack_role_if_unused(f, r);
            }
        }
        self.all_dirty = true;
    }

    /// Removes a framework and gives back everything it holds.
    pub fn remove_framework(&mut self, id: &FrameworkId) {
        let Some(f) = self.framework_index.remove(id) else {
            return;
        };
        let Some(fw) = self.frameworks.remove(f) else {
            return;
        };
        for &a in fw.agents.keys() {
            let Some(agent) = self.agents.get_mut(a) else {
                continue;
            };
            let mut kept = Vec::with_capacity(agent.held.len());
            let mut freed = Vec::new();
            for h in agent.held.drain(..) {
                if h.framework == *id {
                    freed.push(h);
                } else {
                    kept.push(h);
                }
            }
            agent.held = kept;
            for h in freed {
                agent.available += &h.resources;
                let q = self.names.known_quantities(&h.resources);
                self.role_sorter.unallocated(h.role_index, &q, &self.totals);
            }
            self.mark_dirty(a);
        }
        for &r in fw.roles.keys() {
            let remove_role = match self.roles.get_mut(r) {
                Some(role) => {
                    if role.frameworks.is_active(f) {
                        role.active -= 1;
                        if role.active == 0 {
                            self.role_sorter.deactivate(r);
                        }
                    }
                    role.frameworks.remove(f, &self.totals);
                    role.frameworks.is_empty()
                }
                None => false,
            };
            if remove_role {
                self.remove_role(r);
            }
        }
        tracing::debug!(framework_id = %id, "removed framework");
    }

    /// Makes a framework eligible for offers again.
    pub fn activate_framework(&mut self, id: &FrameworkId) {
        if let Some(&f) = self.framework_index.get(id) {
            if let Some(fw) = self.frameworks.get_mut(f) {
                fw.active = true;
            }
            self.sync_framework(f);
            self.all_dirty = true;
        }
    }

    /// Stops offers to a framework (it disconnected) but keeps what it
    /// holds; its filters are dropped, as in Mesos.
    pub fn deactivate_framework(&mut self, id: &FrameworkId) {
        if let Some(&f) = self.framework_index.get(id) {
            if let Some(fw) = self.frameworks.get_mut(f) {
                fw.active = false;
                fw.filters.clear();
            }
            self.sync_framework(f);
        }
    }

    /// Suppresses offers to a framework for `roles` (`None`: all its
    /// roles) until it revives them.
    pub fn suppress_offers(&mut self, id: &FrameworkId, roles: Option<&BTreeSet<String>>) {
        let Some(&f) = self.framework_index.get(id) else {
            return;
        };
        let Some(fw) = self.frameworks.get_mut(f) else {
            return;
        };
        let targets: Vec<String> = match roles {
            Some(r) => r.intersection(&fw.spec.roles).cloned().collect(),
            None => fw.spec.roles.iter().cloned().collect(),
        };
        fw.spec.suppressed_roles.extend(targets);
        self.sync_framework(f);
    }

    /// Revives offers to a framework for `roles` (`None`: all its roles):
    /// un-suppresses them and drops its filters for them.
    pub fn revive_offers(&mut self, id: &FrameworkId, roles: Option<&BTreeSet<String>>) {
        let Some(&f) = self.framework_index.get(id) else {
            return;
        };
        let Some(fw) = self.frameworks.get_mut(f) else {
            return;
        };
        let targets: Vec<String> = match roles {
            Some(r) => r.iter().cloned().collect(),
            None => fw.spec.roles.iter().cloned().collect(),
        };
        for role in &targets {
            fw.spec.suppressed_roles.remove(role);
            if let Some(&r) = self.role_index.get(role.as_str()) {
                fw.clear_filters(r);
            }
        }
        self.sync_framework(f);
        self.all_dirty = true;
    }

    pub(super) fn min_allocatable_of(
        &mut self,
        spec: &FrameworkSpec,
    ) -> HashMap<String, Vec<Vec<(usize, i64)>>> {
        let out = spec
            .min_allocatable_resources
            .iter()
            .map(|(role, mins)| {
                let mins = mins
                    .iter()
                    .map(|m| min_quantities(&mut self.names, m))
                    .collect();
                (role.clone(), mins)
            })
            .collect();
        self.sync_excluded();
        out
    }

    /// The role resources without an allocation role are taken to be for.
    pub(super) fn default_role(&self, f: u32) -> String {
        match self.frameworks.get(f).map(|fw| &fw.spec.roles) {
            Some(roles) if roles.len() == 1 => roles.iter().next().cloned().unwrap_or_default(),
            _ => UNRESERVED_ROLE.to_string(),
        }
    }

    /// Tracks framework `f` under `role`, creating the role if new.
    pub(super) fn track_role(&mut self, f: u32, role: &str) -> u32 {
        let r = match self.role_index.get(role) {
            Some(&r) => r,
            None => {
                let name: Arc<str> = Arc::from(role);
                let r = self.roles.insert(Role {
                    name: name.clone(),
                    frameworks: Sorter::new(false),
                    active: 0,
                });
                self.role_index.insert(name, r);
                self.role_sorter.add(r, role, &self.totals);
                r
            }
        };
        let Some(fw) = self.frameworks.get_mut(f) else {
            return r;
        };
        if let Entry::Vacant(e) = fw.roles.entry(r) {
            e.insert(0);
            if let Some(role) = self.roles.get_mut(r) {
                role.frameworks.add(f, fw.id.as_str(), &self.totals);
            }
        }
        r
    }

    /// Stops tracking `f` under role `r` if it neither subscribes to it nor
    /// holds anything for it; drops the role when no framework is left.
    pub(super) fn untrack_role_if_unused(&mut self, f: u32, r: u32) {
        let Some(fw) = self.frameworks.get_mut(f) else {
            return;
        };
        let Some(role) = self.roles.get_mut(r) else {
            return;
        };
        if fw.roles.get(&r) != Some(&0) || fw.spec.roles.contains(&*role.name) {
            return;
        }
        fw.roles.remove(&r);
        fw.clear_filters(r);
        if role.frameworks.is_active(f) {
            role.active -= 1;
            if role.active == 0 {
                self.role_sorter.deactivate(r);
            }
        }
        role.frameworks.remove(f, &self.totals);
        if role.frameworks.is_empty() {
            self.remove_role(r);
        }
    }

    pub(super) fn remove_role(&mut self, r: u32) {
        if let Some(role) = self.roles.remove(r) {
            self.role_index.remove(&role.name);
            self.role_sorter.remove(r, &self.totals);
        }
    }

    /// Makes the sorters' activation of `f` match its state in every role
    /// it is tracked under.
    pub(super) fn sync_framework(&mut self, f: u32) {
        let Some(fw) = self.frameworks.get(f) else {
            return;
        };
        for &r in fw.roles.keys() {
            let Some(role) = self.roles.get_mut(r) else {
                continue;
            };
            let want = fw.wants(&role.name);
            if want == role.frameworks.is_active(f) {
                continue;
            }
            if want {
                role.frameworks.activate(f);
                role.active += 1;
                if role.active == 1 {
                    self.role_sorter.activate(r);
                }
            } else {
                role.frameworks.deactivate(f);
                role.active -= 1;
                if role.active == 0 {
                    self.role_sorter.deactivate(r);
                }
            }
        }
    }

    /// Adjusts the holding counters of framework `f` for role `r` on agent
    /// `a` by `delta` held entries.
    pub(super) fn count_held(&mut self, f: u32, r: u32, a: u32, delta: i32) {
        let Some(fw) = self.frameworks.get_mut(f) else {
            return;
        };
        // A role stays tracked at zero; `untrack_role_if_unused` decides.
        let n = fw.roles.entry(r).or_insert(0);
        *n = n.saturating_add_signed(delta);
        let m = fw.agents.entry(a).or_insert(0);
        *m = m.saturating_add_signed(delta);
        if *m == 0 {
            fw.agents.remove(&a);
        }
    }

    pub(super) fn track_allocated(&mut self, f: u32, r: u32, q: &Quantities) {
        self.role_sorter.allocated(r, q, &self.totals);
        if let Some(role) = self.roles.get_mut(r) {
            role.frameworks.allocated(f, q, &self.totals);
        }
    }

    pub(super) fn untrack_allocated(&mut self, f: u32, r: u32, q: &Quantities) {
        self.role_sorter.unallocated(r, q, &self.totals);
        if let Some(role) = self.roles.get_mut(r) {
            role.frameworks.unallocated(f, q, &self.totals);
        }
    }

    /// Moves `resources` (taken from the agent's available ones by the
    /// caller, or about to be) into what known framework `f` holds on agent
    /// `a` for `role`, and counts them in the sorters.
    pub(super) fn hold(&mut self, a: u32, f: u32, role: &str, resources: Resources) {
        let r = self.track_role(f, role);
        let q = self.quantities(&resources);
        let Some(fw_id) = self.frameworks.get(f).map(|fw| fw.id.clone()) else {
            return;
        };
        let Some(agent) = self.agents.get_mut(a) else {
            return;
        };
        agent.available -= &resources;
        let new_entry = match agent.held_index(&fw_id, role) {
            Some(i) => {
                agent.held[i].resources += &resources;
                false
            }
            None => {
                agent.held.push(Held {
                    framework: fw_id,
                    role: self
                        .roles
                        .get(r)
                        .map(|x| x.name.clone())
                        .unwrap_or_else(|| Arc::from(role)),
                    role_index: r,
                    tracked: true,
                    resources,
                });
                true
            }
        };
        if new_entry {
            self.count_held(f, r, a, 1);
        }
        self.track_allocated(f, r, &q);
    }
}
