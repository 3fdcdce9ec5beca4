//! What the master keeps in its registry, the part of its state that
//! outlives it: the admitted agents, the unreachable ones (since when),
//! the gone ones, and the data it stores for operators (maintenance
//! schedules, quotas, weights).
//!
//! The core tracks these and says when they changed
//! ([`Master::take_registry`]); the runtime persists them (ZooKeeper, a
//! file, or nowhere) and reports each write done
//! ([`Master::registry_stored`]). What depends on a change being durable
//! waits for that report, as Mesos's master waits for its registrar: an
//! agent hears it is admitted, and frameworks hear an agent's tasks are
//! lost or unreachable, only once a new leader would know it too.
//!
//! A master that starts leading recovers the registry
//! ([`Master::recover_with`]): the agents it lists are expected to
//! re-register within `--agent_reregister_timeout`. Those that do not are
//! marked unreachable, unless more than `--recovery_agent_removal_limit`
//! of them are missing: then the master stops ([`Effect::Abort`]) and
//! leaves the decision to an operator. Every `--registry_gc_interval`,
//! unreachable and gone agents older than `--registry_max_agent_age`, or
//! beyond the newest `--registry_max_agent_count`, are pruned.
//!
//! ```text
//!   admitted ──(missed pings / not re-registered in time)──► unreachable ──(GC: age, count)──► forgotten
//!      ▲                                                         │
//!      └──────────────────── re-registers ◄──────────────────────┘
//! ```

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mesos::ids::AgentId;
use mesos::upid::Upid;
use mesos::wire::mesos as v0;
use mesos::wire::mesos::internal::{Registry, registry};

use super::{Effect, Master, Now};

/// How a leading master keeps its registry (Mesos's flags and defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct RegistryConfig {
    /// `--agent_reregister_timeout`: how long recovered agents have.
    pub reregister_timeout: Duration,
    /// `--recovery_agent_removal_limit` as a fraction in `[0, 1]`.
    pub removal_limit: f64,
    /// `--registry_gc_interval`.
    pub gc_interval: Duration,
    /// `--registry_max_agent_age`.
    pub max_agent_age: Duration,
    /// `--registry_max_agent_count`.
    pub max_agent_count: usize,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            reregister_timeout: Duration::from_secs(600),
            removal_limit: 1.0,
            gc_interval: Duration::from_secs(15 * 60),
            max_agent_age: Duration::from_secs(14 * 24 * 3600),
            max_agent_count: 100 * 1024,
        }
    }
}

/// The registry as the core tracks it, apart from the registered agents
/// (which live in [`Master::agents`]).
#[derive(Debug, Default, Clone)]
pub struct RegistryState {
    /// How the registry is kept.
    pub config: RegistryConfig,
    /// The registry entries of the registered agents, in step with
    /// [`Master::agents`], so that a snapshot copies them in order rather
    /// than rebuilding and sorting them.
    pub admitted: BTreeMap<AgentId, registry::Slave>,
    /// Agents admitted by an earlier leader that have not re-registered
    /// yet.
    pub recovered: BTreeMap<AgentId, registry::Slave>,
    /// When recovered agents must have re-registered, and how many agents
    /// the recovered registry listed; cleared once that time is past.
    pub recovery: Option<(Instant, usize)>,
    /// Unreachable agents and when they became so.
    pub unreachable: BTreeMap<AgentId, registry::UnreachableSlave>,
    /// Agents marked gone, and when.
    pub gone: BTreeMap<AgentId, registry::GoneSlave>,
    /// When the registry is next garbage-collected.
    pub next_gc: Option<Instant>,
    /// What the master stores but does not act on here: maintenance,
    /// quotas, weights, minimum capabilities, resource providers.
    pub stored: Registry,
    /// The registry changed since it was last taken.
    pub dirty: bool,
    /// Whether replies to admitted agents wait until the registry that
    /// admits them is stored (a recovered, persisted registry).
    pub gated: bool,
    /// How many registries were taken to be stored.
    pub taken: u64,
    /// Messages held until registry number `.0` is stored.
    pub held: Vec<(u64, super::Effect)>,
    /// Per receiver of a held message: the latest registry number one
    /// waits for and how many are held. A later message to the same
    /// receiver waits behind them, so that each peer hears in order.
    pub held_to: std::collections::HashMap<Upid, (u64, usize)>,
}

fn time_info(unix: f64) -> v0::TimeInfo {
    v0::TimeInfo {
        nanoseconds: (unix * 1e9) as i64,
    }
}

/// A number as C++ streams print a double (six significant digits, no
/// trailing zeros): `66.6667`, `100`, `0.5`.
fn g6(value: f64) -> String {
    if value == 0.0 || !value.is_finite() {
        return format!("{value}");
    }
    let digits = 5 - value.abs().log10().floor() as i32;
    let text = format!("{:.*}", digits.max(0) as usize, value);
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// The oldest entries beyond `max_count`, and any older than `max_age`
/// (Mesos's registry GC). Entries are taken in the order they became
/// unreachable or gone: by timestamp, then id.
fn prune<'a>(
    entries: impl Iterator<Item = (&'a AgentId, &'a v0::TimeInfo)>,
    max_count: usize,
    max_age: Duration,
    now: Now,
) -> Vec<AgentId> {
    let mut entries: Vec<(&AgentId, i64)> = entries.map(|(id, t)| (id, t.nanoseconds)).collect();
    entries.sort_by_key(|(id, nanos)| (*nanos, *id));
    let count = entries.len();
    let now_nanos = (now.unix * 1e9) as i64;
    let max_age = i64::try_from(max_age.as_nanos()).unwrap_or(i64::MAX);
    let mut remove = Vec::new();
    for (id, nanos) in entries {
        let live = count - remove.len();
        if live > max_count || now_nanos.saturating_sub(nanos) > max_age {
            remove.push(id.clone());
        }
    }
    remove
}

impl Master {
    /// Takes over `registry` as written by an earlier leader (or by this
    /// master before a restart). Its agents must re-register within
    /// `reregister_timeout`; its weights are applied. The other registry
    /// settings are Mesos's defaults.
    pub fn recover(&mut self, registry: Registry, reregister_timeout: Duration, now: Now) {
        let config = RegistryConfig {
            reregister_timeout,
            ..RegistryConfig::default()
        };
        self.recover_with(registry, config, now);
    }

    /// [`Master::recover`] with all the registry settings.
    pub fn recover_with(&mut self, registry: Registry, config: RegistryConfig, now: Now) {
        let state = &mut self.registry;
        state.recovery = Some((now.instant + config.reregister_timeout, 0));
        state.next_gc = Some(now.instant + config.gc_interval);
        state.config = config;
        let mut listed = 0;
        for slave in registry.slaves.clone().unwrap_or_default().slaves {
            if let Some(id) = slave.info.id.as_ref().map(AgentId::from) {
                state.recovered.insert(id, slave);
                listed += 1;
            }
        }
        if let Some((_, total)) = &mut state.recovery {
            *total = listed;
        }
        for slave in registry.unreachable.clone().unwrap_or_default().slaves {
            state.unreachable.insert(AgentId::from(&slave.id), slave);
        }
        for slave in registry.gone.clone().unwrap_or_default().slaves {
            state.gone.insert(AgentId::from(&slave.id), slave);
        }
        let weights: Vec<(String, f64)> = registry
            .weights
            .iter()
            .map(|w| (w.info.role.clone().unwrap_or_default(), w.info.weight))
            .collect();
        state.stored = Registry {
            master: None,
            slaves: None,
            unreachable: None,
            gone: None,
            ..registry
        };
        // The registry names its leader, as Mesos's does.
        state.dirty = true;
        state.gated = true;
        if !weights.is_empty() {
            self.update_weights(&weights);
        }
        tracing::info!(
            "Recovered registry: {} agents admitted, {} unreachable, {} gone",
            self.registry.recovered.len(),
            self.registry.unreachable.len(),
            self.registry.gone.len()
        );
    }

    /// The registry to persist, if it changed since the last call, with
    /// its number for [`Master::registry_stored`].
    pub fn take_registry(&mut self) -> Option<(u64, Registry)> {
        if !std::mem::take(&mut self.registry.dirty) {
            return None;
        }
        self.registry.taken += 1;
        Some((self.registry.taken, self.registry_snapshot()))
    }

    /// Registry number `number` (and so every earlier one) is stored: the
    /// replies to the agents it admits go out.
    pub fn registry_stored(&mut self, number: u64) {
        let held = std::mem::take(&mut self.registry.held);
        let (ready, waiting): (Vec<_>, Vec<_>) = held.into_iter().partition(|(n, _)| *n <= number);
        self.registry.held = waiting;
        for (_, effect) in &ready {
            if let super::Effect::Send { to, .. } = effect
                && let Some((_, count)) = self.registry.held_to.get_mut(to)
            {
                *count -= 1;
                if *count == 0 {
                    self.registry.held_to.remove(to);
                }
            }
        }
        self.effects
            .extend(ready.into_iter().map(|(_, effect)| effect));
    }

    /// Holds `effect` until registry `number` is stored.
    fn hold(&mut self, number: u64, effect: super::Effect) {
        if let super::Effect::Send { to, .. } = &effect {
            let entry = self.registry.held_to.entry(to.clone()).or_insert((0, 0));
            entry.0 = entry.0.max(number);
            entry.1 += 1;
        }
        self.registry.held.push((number, effect));
    }

    /// Sends `effect` now, unless an earlier message to the same receiver
    /// is held until a registry is stored: then it waits behind that one
    /// (so an agent never hears of a task before it hears it is admitted).
    pub(super) fn send_in_order(&mut self, effect: super::Effect) {
        let waiting = match &effect {
            super::Effect::Send { to, .. } => self.registry.held_to.get(to).map(|(n, _)| *n),
            _ => None,
        };
        match waiting {
            Some(number) => self.hold(number, effect),
            None => self.effects.push(effect),
        }
    }

    /// Sends `message` to an agent once the registry as it stands now is
    /// stored (at once when the registry is not persisted): an agent is
    /// told it is admitted only when a new leader would know it.
    pub(super) fn send_admitted<M>(&mut self, to: &Upid, message: &M)
    where
        M: prost::Message + prost_reflect::ReflectMessage,
    {
        let effect = super::Effect::Send {
            to: to.clone(),
            name: message.descriptor().full_name().to_string(),
            body: bytes::Bytes::from(message.encode_to_vec()),
        };
        if self.registry.gated {
            self.registry.dirty = true;
            let number = self.registry.taken + 1;
            self.hold(number, effect);
        } else {
            self.send_in_order(effect);
        }
    }

    /// The registry as it stands.
    pub fn registry_snapshot(&self) -> Registry {
        let slaves: Vec<registry::Slave> = self
            .registry
            .admitted
            .values()
            .chain(self.registry.recovered.values())
            .cloned()
            .collect();
        Registry {
            master: Some(registry::Master { info: self.info() }),
            slaves: Some(registry::Slaves { slaves }),
            unreachable: Some(registry::UnreachableSlaves {
                slaves: self.registry.unreachable.values().cloned().collect(),
            }),
            gone: Some(registry::GoneSlaves {
                slaves: self.registry.gone.values().cloned().collect(),
            }),
            ..self.registry.stored.clone()
        }
    }

    /// Agents of an earlier leader still expected to re-register.
    pub fn recovered_agents(&self) -> impl Iterator<Item = &v0::SlaveInfo> {
        self.registry.recovered.values().map(|s| &s.info)
    }

    /// Unreachable agents and when they became so (Unix seconds).
    pub fn unreachable_agents(&self) -> impl Iterator<Item = (&AgentId, f64)> {
        self.registry
            .unreachable
            .iter()
            .map(|(id, s)| (id, s.timestamp.nanoseconds as f64 / 1e9))
    }

    /// Whether `id` is unreachable.
    pub fn is_unreachable(&self, id: &AgentId) -> bool {
        self.registry.unreachable.contains_key(id)
    }

    /// Whether `id` was marked gone.
    pub fn is_gone(&self, id: &AgentId) -> bool {
        self.registry.gone.contains_key(id)
    }

    /// Whether `id` is a recovered agent yet to re-register.
    pub fn is_recovered(&self, id: &AgentId) -> bool {
        self.registry.recovered.contains_key(id)
    }

    /// An agent was admitted (registered, or re-registered after being
    /// recovered or unreachable).
    pub(super) fn registry_admitted(&mut self, id: &AgentId) -> bool {
        let Some(agent) = self.agents.get(id) else {
            return false;
        };
        let entry = |info: &v0::SlaveInfo| registry::Slave {
            info: info.clone(),
            drain_info: None,
            deactivated: None,
        };
        // Mesos skips the registry when an admitted or recovered agent
        // comes back with the same `SlaveInfo`: nothing stored changes.
        let mut changed = match self.registry.admitted.get(id) {
            Some(known) => known.info != agent.info,
            None => self
                .registry
                .recovered
                .get(id)
                .is_none_or(|recovered| recovered.info != agent.info),
        };
        if changed || !self.registry.admitted.contains_key(id) {
            self.registry
                .admitted
                .insert(id.clone(), entry(&agent.info));
        }
        self.registry.recovered.remove(id);
        changed |= self.registry.unreachable.remove(id).is_some();
        if changed {
            self.registry.dirty = true;
        }
        changed
    }

    /// An agent left: unreachable (with the time) or removed.
    pub(super) fn registry_removed(&mut self, id: &AgentId, unreachable: bool, now: Now) {
        self.registry.admitted.remove(id);
        self.registry.recovered.remove(id);
        if unreachable {
            self.registry.unreachable.insert(
                id.clone(),
                registry::UnreachableSlave {
                    id: id.to_v0(),
                    timestamp: time_info(now.unix),
                    drain_info: None,
                    deactivated: None,
                },
            );
        }
        self.registry.dirty = true;
    }

    /// Effects produced since `start` wait until the registry as it
    /// stands now is stored (at once when it is not persisted): what
    /// frameworks and agents hear of a registry change follows the change.
    pub(super) fn hold_effects_since(&mut self, start: usize) {
        self.registry.dirty = true;
        if !self.registry.gated || start >= self.effects.len() {
            return;
        }
        let number = self.registry.taken + 1;
        let held: Vec<Effect> = self.effects.drain(start..).collect();
        for effect in held {
            self.hold(number, effect);
        }
    }

    /// Once `--agent_reregister_timeout` has passed since recovery, the
    /// recovered agents that did not re-register are marked unreachable
    /// and every framework hears they are lost; unless they are more than
    /// `--recovery_agent_removal_limit` of the agents recovered, then the
    /// master stops instead, as Mesos's does.
    pub(super) fn expire_recovered(&mut self, now: Now) {
        let Some((deadline, listed)) = self.registry.recovery else {
            return;
        };
        if now.instant < deadline {
            return;
        }
        self.registry.recovery = None;
        let missing = self.registry.recovered.len();
        if missing == 0 {
            return;
        }
        let share = missing as f64 / listed.max(1) as f64;
        let limit = self.registry.config.removal_limit;
        let timeout = mesos::flags::format_duration(self.registry.config.reregister_timeout);
        if share > limit {
            let ids: Vec<&str> = self
                .registry
                .recovered
                .keys()
                .map(|id| id.as_str())
                .collect();
            let message = format!(
                "Post-recovery agent removal limit exceeded! After {timeout} there were \
                 {missing} ({}%) agents recovered from the registry that did not reregister: \n\
                 [ {} ]\n  The configured removal limit is {}%. Please investigate or \
                 increase this limit to proceed further",
                g6(share * 100.0),
                ids.join(", "),
                g6(limit * 100.0),
            );
            tracing::error!("{message}");
            self.effects.push(Effect::Abort { message });
            return;
        }
        let expired: Vec<(AgentId, String)> = self
            .registry
            .recovered
            .iter()
            .map(|(id, slave)| (id.clone(), slave.info.hostname.clone()))
            .collect();
        for (id, hostname) in expired {
            tracing::warn!(
                agent_id = %id,
                "Marking agent {id} ({hostname}) unreachable: did not reregister within \
                 {timeout} after master failover"
            );
            self.metrics.agent_removals += 1;
            self.metrics.bump("slave_removals");
            self.metrics.bump("slave_removals/reason_unhealthy");
            self.metrics.bump("recovery_slave_removals");
            self.registry_removed(&id, true, now);
            // Frameworks hear of it once it is stored, as after Mesos's
            // `MarkSlaveUnreachable`.
            let start = self.effects.len();
            self.send_agent_lost(&id);
            self.hold_effects_since(start);
        }
    }

    /// Every `--registry_gc_interval`, prunes unreachable and gone agents
    /// by age and count (Mesos's `doRegistryGc`).
    pub(super) fn collect_registry(&mut self, now: Now) {
        let Some(due) = self.registry.next_gc else {
            return;
        };
        if now.instant < due {
            return;
        }
        let config = self.registry.config.clone();
        self.registry.next_gc = Some(now.instant + config.gc_interval);
        let unreachable = prune(
            self.registry
                .unreachable
                .iter()
                .map(|(id, s)| (id, &s.timestamp)),
            config.max_agent_count,
            config.max_agent_age,
            now,
        );
        let gone = prune(
            self.registry.gone.iter().map(|(id, s)| (id, &s.timestamp)),
            config.max_agent_count,
            config.max_agent_age,
            now,
        );
        if unreachable.is_empty() && gone.is_empty() {
            tracing::debug!(
                "Skipping periodic registry garbage collection: no agents qualify for removal"
            );
            return;
        }
        for id in &unreachable {
            self.registry.unreachable.remove(id);
        }
        for id in &gone {
            self.registry.gone.remove(id);
        }
        self.registry.dirty = true;
        tracing::info!(
            "Garbage collected {} unreachable and {} gone agents from the registry",
            unreachable.len(),
            gone.len()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_as_mesos_prints_them() {
        assert_eq!(g6(100.0), "100");
        assert_eq!(g6(200.0 / 3.0), "66.6667");
        assert_eq!(g6(50.0), "50");
        assert_eq!(g6(0.5), "0.5");
        assert_eq!(g6(0.0), "0");
        assert_eq!(g6(12.5), "12.5");
    }
}
