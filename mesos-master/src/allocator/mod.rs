//! The hierarchical DRF allocator (Mesos 1.11's `HierarchicalDRFAllocator`).
//!
//! The master owns one [`Allocator`] and calls it directly: it reports what
//! happens to frameworks and agents, hands back resources as offers are
//! declined and tasks end, and calls [`Allocator::allocate`] once per
//! allocation interval to learn what to offer. The allocator does no I/O and
//! reads no clock: every call that depends on time takes `now`, and the only
//! randomness (the order of agents in a cycle) comes from a generator seeded
//! by [`AllocatorConfig::seed`].
//!
//! # A cycle
//!
//! ```text
//! for agent in candidates (shuffled):
//!     for role in roles by weighted dominant share:       (two-level DRF)
//!         for framework in role's frameworks by share:
//!             offer agent's resources allocatable to role   (unreserved,
//!               if the framework is active, not suppressed   plus reserved
//!               for the role, not filtered on the agent,     to the role or
//!               and they meet min_allocatable_resources      an ancestor)
//!             → the shares change before the next agent
//! ```
//!
//! Words, as in Mesos: a *role* is a node in the `/`-separated role tree; a
//! *share* is the largest fraction of the cluster's total of any scalar
//! resource (not excluded from fair sharing) that a role or framework holds,
//! divided by the role's *weight*; *offered or allocated* resources (this
//! allocator does not tell the two apart) are taken out of an agent's
//! *available* resources until they are recovered; a *filter* is a
//! framework's refusal of some resources on one agent, for one role, until
//! it expires.
//!
//! # Incremental work
//!
//! An agent's leftovers after a cycle could only be offered if the agent's
//! availability changed, a filter on it expired, or some framework became
//! eligible where it was not (added, activated, revived, unsuppressed,
//! subscribed to a role). The allocator keeps a dirty set for the first two
//! and reconsiders every agent only on the third, so a cycle in which
//! nothing changed does nothing; the result is the same as Mesos's full
//! rescan. Quota is not implemented yet; it would be a first stage of
//! [`Allocator::allocate`] before the fair-share stage, as in Mesos.
//!
//! ```
//! use std::collections::{BTreeSet, HashMap};
//! use std::time::{Duration, Instant};
//! use mesos::ids::{AgentId, FrameworkId};
//! use mesos::resources::Resources;
//! use mesos_master::allocator::{Allocator, AllocatorConfig, FrameworkSpec};
//!
//! let mut allocator = Allocator::new(AllocatorConfig::default());
//! let spec = FrameworkSpec {
//!     roles: BTreeSet::from(["web".to_string()]),
//!     ..FrameworkSpec::default()
//! };
//! allocator.add_framework(FrameworkId::new("f1"), spec, HashMap::new(), true);
//! let total = Resources::parse("cpus:4;mem:8192").unwrap();
//! allocator.add_agent(AgentId::new("a1"), total, HashMap::new());
//!
//! let now = Instant::now();
//! let offers = allocator.allocate(now);
//! assert_eq!(offers.len(), 1);
//! assert_eq!(offers[0].role, "web");
//! assert_eq!(offers[0].resources.cpus(), Some(4.0));
//!
//! // Declined for 5 seconds: not offered again before then.
//! let offer = &offers[0];
//! allocator.recover_resources(
//!     &offer.framework_id,
//!     &offer.agent_id,
//!     &offer.resources,
//!     Some(Duration::from_secs(5)),
//!     now,
//! );
//! assert!(allocator.allocate(now + Duration::from_secs(1)).is_empty());
//! assert_eq!(allocator.allocate(now + Duration::from_secs(5)).len(), 1);
//! ```

mod agents;
mod frameworks;
mod quantities;
mod rng;
mod slab;
mod sorter;
#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::mem;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mesos::ids::{AgentId, FrameworkId};
use mesos::resources::{Resources, ResourcesError};

use quantities::{Names, Quantities, from_fixed};
use rng::SplitMix64;
use slab::Slab;
use sorter::{Sorter, Totals};

/// Mesos's `--min_allocatable_resources` default: `cpus:0.01|mem:32`.
pub const DEFAULT_MIN_ALLOCATABLE_RESOURCES: &str = "cpus:0.01|mem:32";

/// Mesos's `--allocation_interval` default.
pub const DEFAULT_ALLOCATION_INTERVAL: Duration = Duration::from_secs(1);

/// The refusal Mesos applies to a `DECLINE` that carries no `Filters`
/// (`Filters.refuse_seconds` defaults to 5); the master passes it to
/// [`Allocator::recover_resources`] in that case.
pub const DEFAULT_REFUSE: Duration = Duration::from_secs(5);

/// The longest a refusal filter lasts; longer `refuse_seconds` are cut to
/// this, as Mesos does.
pub const MAX_REFUSE: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// `expiries` is never swept below this size.
const MIN_EXPIRIES_COMPACTION: usize = 4096;

/// How the allocator is set up; mirrors the master flags it depends on.
#[derive(Debug, Clone, PartialEq)]
pub struct AllocatorConfig {
    /// Resource names left out of dominant shares
    /// (`--fair_sharing_excluded_resource_names`), e.g. `gpus`.
    pub fair_sharing_excluded_resource_names: Vec<String>,
    /// Offers must hold at least one of these scalar quantities
    /// (`--min_allocatable_resources`); empty means any non-empty offer.
    /// Non-scalar resources in an entry are ignored.
    pub min_allocatable_resources: Vec<Resources>,
    /// The master's `--allocation_interval`: a refusal filter lasts at least
    /// this long, so that it outlives the next cycle.
    pub allocation_interval: Duration,
    /// Mesos's `--filter_gpu_resources`: frameworks without the
    /// `GPU_RESOURCES` capability get no offers from agents with GPUs.
    pub filter_gpu_resources: bool,
    /// Seed of the generator that shuffles the agents of each cycle.
    pub seed: u64,
}

impl Default for AllocatorConfig {
    fn default() -> Self {
        AllocatorConfig {
            fair_sharing_excluded_resource_names: Vec::new(),
            min_allocatable_resources: parse_min_allocatable_resources(
                DEFAULT_MIN_ALLOCATABLE_RESOURCES,
            )
            .unwrap_or_default(),
            allocation_interval: DEFAULT_ALLOCATION_INTERVAL,
            filter_gpu_resources: true,
            seed: 0,
        }
    }
}

/// Parses the `--min_allocatable_resources` form: alternatives separated
/// by `|`, each a resources text whose quantities must all be met, e.g.
/// `cpus:0.01|mem:32` or `cpus:1;mem:128|gpus:1`.
pub fn parse_min_allocatable_resources(text: &str) -> Result<Vec<Resources>, ResourcesError> {
    text.split('|').map(Resources::parse).collect()
}

/// What the allocator needs to know about a framework.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FrameworkSpec {
    /// The roles the framework subscribes to (`FrameworkInfo.roles`, or its
    /// single `role`).
    pub roles: BTreeSet<String>,
    /// Roles for which it wants no offers for now; roles it does not
    /// subscribe to are ignored.
    pub suppressed_roles: BTreeSet<String>,
    /// The capabilities that change what it may be offered.
    pub capabilities: FrameworkCapabilities,
    /// Per-role overrides of [`AllocatorConfig::min_allocatable_resources`]
    /// (`FrameworkInfo.offer_filters[role].min_allocatable_resources`).
    pub min_allocatable_resources: BTreeMap<String, Vec<Resources>>,
}

/// Framework capabilities that matter to the allocator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrameworkCapabilities {
    /// `GPU_RESOURCES`: may be offered agents that have GPUs.
    pub gpu_resources: bool,
}

/// Resources to offer: all that one agent offers to one framework for one
/// role in a cycle.
#[derive(Debug, Clone, PartialEq)]
pub struct Allocation {
    /// Who gets the offer.
    pub framework_id: FrameworkId,
    /// Where the resources are.
    pub agent_id: AgentId,
    /// The role they are allocated to.
    pub role: String,
    /// The resources, marked allocated to `role` (for the role `*` they
    /// carry no allocation role: [`Resources::allocate`] leaves `*` out).
    pub resources: Resources,
}

/// Resources one framework holds on one agent for one role.
#[derive(Debug)]
struct Held {
    framework: FrameworkId,
    role: Arc<str>,
    /// The role's index; valid while `tracked`.
    role_index: u32,
    /// Whether the framework is known, so that this counts in the sorters.
    /// Agents may report usage of frameworks the master has not re-added
    /// yet after a failover.
    tracked: bool,
    /// Without allocation roles.
    resources: Resources,
}

#[derive(Debug)]
struct Agent {
    id: AgentId,
    total: Resources,
    total_q: Quantities,
    /// `total` minus everything held; never offered twice.
    available: Resources,
    held: Vec<Held>,
    activated: bool,
    has_gpu: bool,
    /// Queued in [`Allocator::dirty`].
    dirty: bool,
}

impl Agent {
    fn held_index(&self, framework: &FrameworkId, role: &str) -> Option<usize> {
        self.held
            .iter()
            .position(|h| h.framework == *framework && &*h.role == role)
    }
}

/// A refusal: `framework` is not offered resources contained in
/// `resources` on this agent for `role` until `expires`.
#[derive(Debug)]
struct Filter {
    id: u64,
    expires: Instant,
    role: u32,
    resources: Resources,
}

#[derive(Debug)]
struct Framework {
    id: FrameworkId,
    spec: FrameworkSpec,
    /// `spec.min_allocatable_resources` as interned quantities.
    min_allocatable: HashMap<String, Vec<Vec<(usize, i64)>>>,
    active: bool,
    /// Roles the framework is tracked under (subscribed, or holding
    /// resources), with how many agents it holds resources on for each.
    roles: HashMap<u32, u32>,
    /// Agents it holds resources on, with how many roles for each.
    agents: HashMap<u32, u32>,
    /// Refusal filters by agent.
    filters: HashMap<u32, Vec<Filter>>,
}

impl Framework {
    fn wants(&self, role: &str) -> bool {
        self.active && self.spec.roles.contains(role) && !self.spec.suppressed_roles.contains(role)
    }

    fn is_filtered(&self, agent: u32, role: u32, resources: &Resources) -> bool {
        self.filters.get(&agent).is_some_and(|filters| {
            filters
                .iter()
                .any(|f| f.role == role && f.resources.contains(resources))
        })
    }

    fn clear_filters(&mut self, role: u32) {
        for filters in self.filters.values_mut() {
            filters.retain(|f| f.role != role);
        }
        self.filters.retain(|_, v| !v.is_empty());
    }
}

#[derive(Debug)]
struct Role {
    name: Arc<str>,
    /// The frameworks tracked under the role, by framework index.
    frameworks: Sorter,
    /// How many of them are active in `frameworks`; the role is active in
    /// the role sorter while this is positive.
    active: u32,
}

/// The hierarchical DRF allocator. See the [module docs](self).
#[derive(Debug)]
pub struct Allocator {
    allocation_interval: Duration,
    filter_gpu_resources: bool,
    /// [`AllocatorConfig::min_allocatable_resources`] as quantities.
    min_allocatable: Vec<Vec<(usize, i64)>>,
    excluded_names: Vec<String>,
    names: Names,
    totals: Totals,
    agents: Slab<Agent>,
    agent_index: HashMap<AgentId, u32>,
    frameworks: Slab<Framework>,
    framework_index: HashMap<FrameworkId, u32>,
    roles: Slab<Role>,
    role_index: HashMap<Arc<str>, u32>,
    /// Roles with tracked frameworks, by role index; hierarchical.
    role_sorter: Sorter,
    /// Agents holding resources of frameworks not added yet.
    untracked: HashMap<FrameworkId, BTreeSet<u32>>,
    /// Agents to reconsider in the next cycle (each with `dirty` set).
    dirty: Vec<u32>,
    /// Whether every agent must be reconsidered.
    all_dirty: bool,
    /// Filter expiries: (time, filter id, framework index, agent index).
    /// Entries of filters removed early stay until their time and are then
    /// ignored.
    expiries: BinaryHeap<Reverse<(Instant, u64, u32, u32)>>,
    /// Size of `expiries` at which stale entries are swept out, so that
    /// frameworks that decline for long and revive often do not grow it
    /// without bound.
    compact_expiries_at: usize,
    next_filter_id: u64,
    rng: SplitMix64,
    /// Distinguishes sorter walks.
    epoch: u64,
}

/// Whether quantities `q` meet one of `mins` (any, if there is none).
fn allocatable(q: &Quantities, mins: &[Vec<(usize, i64)>]) -> bool {
    mins.is_empty() || mins.iter().any(|m| q.contains(m))
}

/// The part of `available` allocatable to `role`, or `None` if that is
/// all of it.
fn allocatable_part(available: &Resources, role: &str) -> Option<Resources> {
    if available.iter().all(|r| r.is_allocatable_to(role)) {
        None
    } else {
        Some(available.allocatable_to(role))
    }
}

/// `resources` with allocation roles cleared.
fn unallocated(resources: &Resources) -> Resources {
    if resources.iter().all(|r| r.allocation_role.is_none()) {
        return resources.clone();
    }
    let mut r = resources.clone();
    r.unallocate();
    r
}

/// The part of `wanted` that `have` holds, resource by resource (a scalar
/// larger than held is cut to what is held).
fn held_part(have: &Resources, wanted: &Resources) -> Resources {
    if have.contains(wanted) {
        return wanted.clone();
    }
    let mut out = Resources::new();
    for r in wanted {
        if have.contains_resource(r) {
            out.add_resource(r);
        } else if let Some(h) = have.iter().find(|h| h.same_key(r)) {
            if let (mesos::resources::Value::Scalar(_), mesos::resources::Value::Scalar(_)) =
                (&h.value, &r.value)
            {
                out.add_resource(h);
            }
        }
    }
    out
}

impl Allocator {
    /// An allocator with no agents, frameworks or weights.
    pub fn new(config: AllocatorConfig) -> Self {
        let mut names = Names::default();
        let min_allocatable = config
            .min_allocatable_resources
            .iter()
            .map(|r| min_quantities(&mut names, r))
            .collect();
        let mut allocator = Allocator {
            allocation_interval: config.allocation_interval,
            filter_gpu_resources: config.filter_gpu_resources,
            min_allocatable,
            excluded_names: config.fair_sharing_excluded_resource_names,
            names,
            totals: Totals::default(),
            agents: Slab::default(),
            agent_index: HashMap::new(),
            frameworks: Slab::default(),
            framework_index: HashMap::new(),
            roles: Slab::default(),
            role_index: HashMap::new(),
            role_sorter: Sorter::new(true),
            untracked: HashMap::new(),
            dirty: Vec::new(),
            all_dirty: false,
            expiries: BinaryHeap::new(),
            compact_expiries_at: MIN_EXPIRIES_COMPACTION,
            next_filter_id: 0,
            rng: SplitMix64::new(config.seed),
            epoch: 0,
        };
        allocator.sync_excluded();
        allocator
    }

    /// Keeps `totals.excluded` as long as the interned names.
    fn sync_excluded(&mut self) {
        while self.totals.excluded.len() < self.names.len() {
            let name = self.names.name(self.totals.excluded.len());
            let excluded = self.excluded_names.iter().any(|e| e == name);
            self.totals.excluded.push(excluded);
        }
    }

    fn quantities(&mut self, resources: &Resources) -> Quantities {
        let q = self.names.quantities(resources);
        self.sync_excluded();
        q
    }

    fn mark_dirty(&mut self, agent: u32) {
        if let Some(a) = self.agents.get_mut(agent) {
            if !a.dirty && !a.available.is_empty() {
                a.dirty = true;
                self.dirty.push(agent);
            }
        }
    }

    /// Sets role weights (`/weights`); a role's share is divided by its
    /// weight. Weights must be positive and finite; others are ignored.
    /// Weights of roles not known yet apply when they appear.
    pub fn update_weights(&mut self, weights: &[(String, f64)]) {
        for (role, weight) in weights {
            if !(weight.is_finite() && *weight > 0.0) {
                tracing::warn!(role = %role, weight, "ignoring invalid weight");
                continue;
            }
            self.role_sorter.set_weight(role, *weight, &self.totals);
        }
    }

    // ---- Allocation -------------------------------------------------------

    /// Drops the filters that expired by `now`, marking their agents.
    fn expire_filters(&mut self, now: Instant) {
        while let Some(&Reverse((expires, id, f, a))) = self.expiries.peek() {
            if expires > now {
                break;
            }
            self.expiries.pop();
            let mut removed = false;
            if let Some(fw) = self.frameworks.get_mut(f) {
                if let Some(filters) = fw.filters.get_mut(&a) {
                    let before = filters.len();
                    filters.retain(|x| x.id != id);
                    removed = filters.len() != before;
                    if filters.is_empty() {
                        fw.filters.remove(&a);
                    }
                }
            }
            if removed {
                self.mark_dirty(a);
            }
        }
    }

    /// One allocation cycle at time `now`: what to offer, at most one
    /// [`Allocation`] per agent, framework and role. The resources are
    /// counted as held by the framework until recovered.
    pub fn allocate(&mut self, now: Instant) -> Vec<Allocation> {
        self.expire_filters(now);
        let all = mem::take(&mut self.all_dirty);
        let listed = mem::take(&mut self.dirty);
        let mut candidates: Vec<u32> = if all {
            self.agents.iter().map(|(i, _)| i).collect()
        } else {
            listed
        };
        // Clearing the flag as we go also drops duplicates from the list.
        candidates.retain(|&a| match self.agents.get_mut(a) {
            Some(agent) => {
                let listed = mem::take(&mut agent.dirty);
                (all || listed) && agent.activated && !agent.available.is_empty()
            }
            None => false,
        });
        if candidates.is_empty() {
            return Vec::new();
        }
        // The order agents were marked in follows the caller's (often
        // hash-map) iteration; sorting first makes the cycle depend on the
        // seed and the set of candidates alone, so runs can be replayed.
        candidates.sort_unstable();
        self.rng.shuffle(&mut candidates);

        self.role_sorter.refresh(&self.totals);
        for role in self.roles.values_mut() {
            role.frameworks.refresh(&self.totals);
        }
        // This is Mesos's second (fair share) stage. Quota would add a first
        // pass over the same candidates offering only to roles below their
        // guarantees, and make this one hold back the headroom the
        // remaining guarantees need.
        let mut out = Vec::new();
        for a in candidates {
            self.allocate_agent(a, &mut out);
        }
        out
    }

    /// Offers what agent `a` has available, role by role, framework by
    /// framework, in DRF order.
    fn allocate_agent(&mut self, a: u32, out: &mut Vec<Allocation>) {
        let Allocator {
            agents,
            frameworks,
            roles,
            role_sorter,
            totals,
            names,
            min_allocatable,
            filter_gpu_resources,
            epoch,
            ..
        } = self;
        let Some(agent) = agents.get_mut(a) else {
            return;
        };
        *epoch += 1;
        let mut role_cursor = role_sorter.cursor(*epoch);
        while let Some(r) = role_sorter.next(&mut role_cursor) {
            if agent.available.is_empty() {
                break;
            }
            let Some(role) = roles.get_mut(r) else {
                continue;
            };
            // `None` while everything available is allocatable to the role
            // (no other role's reservations): then nothing is copied.
            let mut part = allocatable_part(&agent.available, &role.name);
            if part.as_ref().is_some_and(Resources::is_empty) {
                continue;
            }
            let mut q = names.known_quantities(part.as_ref().unwrap_or(&agent.available));
            *epoch += 1;
            let mut cursor = role.frameworks.cursor(*epoch);
            while let Some(f) = role.frameworks.next(&mut cursor) {
                let Some(fw) = frameworks.get_mut(f) else {
                    continue;
                };
                if *filter_gpu_resources && agent.has_gpu && !fw.spec.capabilities.gpu_resources {
                    continue;
                }
                let mins = fw
                    .min_allocatable
                    .get(&*role.name)
                    .unwrap_or(&*min_allocatable);
                let candidates = part.as_ref().unwrap_or(&agent.available);
                if !allocatable(&q, mins) || fw.is_filtered(a, r, candidates) {
                    continue;
                }

                let offered = match part.take() {
                    None => mem::take(&mut agent.available),
                    Some(p) => {
                        agent.available -= &p;
                        p
                    }
                };
                match agent.held_index(&fw.id, &role.name) {
                    Some(i) => agent.held[i].resources += &offered,
                    None => {
                        agent.held.push(Held {
                            framework: fw.id.clone(),
                            role: role.name.clone(),
                            role_index: r,
                            tracked: true,
                            resources: offered.clone(),
                        });
                        *fw.roles.entry(r).or_insert(0) += 1;
                        *fw.agents.entry(a).or_insert(0) += 1;
                    }
                }
                role_sorter.allocated(r, &q, totals);
                role.frameworks.allocated(f, &q, totals);

                let mut resources = offered;
                resources.allocate(&role.name);
                out.push(Allocation {
                    framework_id: fw.id.clone(),
                    agent_id: agent.id.clone(),
                    role: String::from(&*role.name),
                    resources,
                });

                if agent.available.is_empty() {
                    break;
                }
                part = allocatable_part(&agent.available, &role.name);
                if part.as_ref().is_some_and(Resources::is_empty) {
                    break;
                }
                q = names.known_quantities(part.as_ref().unwrap_or(&agent.available));
            }
        }
    }

    /// Whether a cycle might offer something: some agent's availability or
    /// filters changed, or some framework became eligible, since the last
    /// cycle. Filters expiring later are not counted; see
    /// [`Allocator::next_filter_expiry`].
    pub fn has_pending_work(&self) -> bool {
        self.all_dirty || !self.dirty.is_empty()
    }

    /// Rebuilds `expiries` from the filters in force.
    fn compact_expiries(&mut self) {
        let live: Vec<_> = self
            .frameworks
            .iter()
            .flat_map(|(f, fw)| {
                fw.filters.iter().flat_map(move |(&a, filters)| {
                    filters
                        .iter()
                        .map(move |x| Reverse((x.expires, x.id, f, a)))
                })
            })
            .collect();
        self.expiries = BinaryHeap::from(live);
        self.compact_expiries_at = (2 * self.expiries.len()).max(MIN_EXPIRIES_COMPACTION);
    }

    /// No later than the first time a filter expires, if any; a cycle at
    /// that time may offer what the filter held back.
    pub fn next_filter_expiry(&self) -> Option<Instant> {
        self.expiries.peek().map(|Reverse((t, ..))| *t)
    }

    // ---- Introspection ----------------------------------------------------

    /// Everything held for `role` (offered or allocated), over all
    /// frameworks and agents, marked allocated to it.
    pub fn role_allocated(&self, role: &str) -> Resources {
        let mut out = Resources::new();
        let Some(&r) = self.role_index.get(role) else {
            return out;
        };
        for (_, fw) in self.frameworks.iter() {
            if !fw.roles.contains_key(&r) {
                continue;
            }
            for &a in fw.agents.keys() {
                if let Some(agent) = self.agents.get(a) {
                    for h in agent
                        .held
                        .iter()
                        .filter(|h| h.framework == fw.id && &*h.role == role)
                    {
                        out += &h.resources;
                    }
                }
            }
        }
        out.allocate(role);
        out
    }

    /// Everything a framework holds, per agent, marked with allocation
    /// roles.
    pub fn framework_allocated(&self, id: &FrameworkId) -> BTreeMap<AgentId, Resources> {
        let mut out = BTreeMap::new();
        let Some(fw) = self
            .framework_index
            .get(id)
            .and_then(|&f| self.frameworks.get(f))
        else {
            return out;
        };
        for &a in fw.agents.keys() {
            let Some(agent) = self.agents.get(a) else {
                continue;
            };
            let mut sum = Resources::new();
            for h in agent.held.iter().filter(|h| h.framework == *id) {
                let mut r = h.resources.clone();
                r.allocate(&h.role);
                sum += &r;
            }
            out.insert(agent.id.clone(), sum);
        }
        out
    }

    /// A role's dominant share divided by its weight, the value roles are
    /// ordered by (its whole subtree counts): Mesos's
    /// `allocator/mesos/roles/<role>/shares/dominant` metric.
    pub fn role_share(&self, role: &str) -> Option<f64> {
        let &r = self.role_index.get(role)?;
        self.role_sorter.share(r, &self.totals)
    }

    /// A framework's dominant share within a role.
    pub fn framework_share(&self, id: &FrameworkId, role: &str) -> Option<f64> {
        let &f = self.framework_index.get(id)?;
        let &r = self.role_index.get(role)?;
        self.roles.get(r)?.frameworks.share(f, &self.totals)
    }

    /// The scalar quantities held for a role, by resource name.
    pub fn role_allocated_quantities(&self, role: &str) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        let Some(q) = self
            .role_index
            .get(role)
            .and_then(|&r| self.role_sorter.allocation(r))
        else {
            return out;
        };
        for (i, &v) in q.0.iter().enumerate() {
            if v > 0 {
                out.insert(self.names.name(i).to_string(), from_fixed(v));
            }
        }
        out
    }

    /// The roles known to the allocator (with a framework subscribed or
    /// holding resources), in name order.
    pub fn roles(&self) -> Vec<String> {
        let mut roles: Vec<String> = self.role_index.keys().map(|r| r.to_string()).collect();
        roles.sort();
        roles
    }

    /// An agent's total resources.
    pub fn agent_total(&self, id: &AgentId) -> Option<&Resources> {
        Some(&self.agents.get(*self.agent_index.get(id)?)?.total)
    }

    /// An agent's resources neither offered nor allocated.
    pub fn agent_available(&self, id: &AgentId) -> Option<&Resources> {
        Some(&self.agents.get(*self.agent_index.get(id)?)?.available)
    }

    /// How many refusal filters are in force for `role` (Mesos's
    /// `allocator/mesos/offer_filters/roles/<role>/active`).
    pub fn active_offer_filters(&self, role: &str) -> usize {
        let Some(&r) = self.role_index.get(role) else {
            return 0;
        };
        self.frameworks
            .iter()
            .flat_map(|(_, fw)| fw.filters.values())
            .flatten()
            .filter(|f| f.role == r)
            .count()
    }
}

/// The scalar quantities of a minimum-allocatable entry.
fn min_quantities(names: &mut Names, resources: &Resources) -> Vec<(usize, i64)> {
    let q = names.quantities(resources);
    q.0.iter()
        .enumerate()
        .filter(|(_, v)| **v > 0)
        .map(|(i, v)| (i, *v))
        .collect()
}

/// Groups resources by allocation role (cleared in the result); those
/// without one go to `default_role`.
fn split_by_role(resources: &Resources, default_role: &str) -> Vec<(String, Resources)> {
    let mut out: Vec<(String, Resources)> = Vec::new();
    for r in resources {
        let role = r.allocation_role.as_deref().unwrap_or(default_role);
        let mut r = r.clone();
        r.allocation_role = None;
        match out.iter_mut().find(|(name, _)| name == role) {
            Some((_, res)) => res.add_resource(&r),
            None => out.push((role.to_string(), Resources::from(r))),
        }
    }
    out
}
