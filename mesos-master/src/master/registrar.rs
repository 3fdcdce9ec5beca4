//! What the master keeps in its registry, the part of its state that
//! outlives it: the admitted agents, the unreachable ones (since when),
//! the gone ones, and the data it stores for operators (maintenance
//! schedules, quotas, weights).
//!
//! The core tracks these and says when they changed
//! ([`Master::take_registry`]); the runtime persists them (ZooKeeper, a
//! file, or nowhere). A master that starts leading recovers the registry
//! ([`Master::recover`]): the agents it lists are expected to re-register
//! within `--agent_reregister_timeout`, and those that do not are marked
//! unreachable.
//!
//! ```text
//!   admitted ──(missed pings / not re-registered in time)──► unreachable
//!      ▲                                                         │
//!      └──────────────────── re-registers ◄──────────────────────┘
//! ```

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mesos::ids::AgentId;
use mesos::upid::Upid;
use mesos::wire::mesos as v0;
use mesos::wire::mesos::internal::{Registry, registry};

use super::{Master, Now};

/// The registry as the core tracks it, apart from the registered agents
/// (which live in [`Master::agents`]).
#[derive(Debug, Default, Clone)]
pub struct RegistryState {
    /// Agents admitted by an earlier leader that have not re-registered
    /// yet, with the time by which they must.
    pub recovered: BTreeMap<AgentId, (registry::Slave, Instant)>,
    /// Unreachable agents and when they became so.
    pub unreachable: BTreeMap<AgentId, registry::UnreachableSlave>,
    /// Agents marked gone, and when.
    pub gone: BTreeMap<AgentId, registry::GoneSlave>,
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
}

fn time_info(unix: f64) -> v0::TimeInfo {
    v0::TimeInfo {
        nanoseconds: (unix * 1e9) as i64,
    }
}

impl Master {
    /// Takes over `registry` as written by an earlier leader (or by this
    /// master before a restart). Its agents must re-register within
    /// `reregister_timeout`; its weights are applied.
    pub fn recover(&mut self, registry: Registry, reregister_timeout: Duration, now: Now) {
        let deadline = now.instant + reregister_timeout;
        let state = &mut self.registry;
        for slave in registry.slaves.clone().unwrap_or_default().slaves {
            if let Some(id) = slave.info.id.as_ref().map(AgentId::from) {
                state.recovered.insert(id, (slave, deadline));
            }
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
        self.effects
            .extend(ready.into_iter().map(|(_, effect)| effect));
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
            self.registry.held.push((number, effect));
        } else {
            self.effects.push(effect);
        }
    }

    /// The registry as it stands.
    pub fn registry_snapshot(&self) -> Registry {
        let mut agents: Vec<&super::Agent> = self.agents.values().collect();
        agents.sort_by(|a, b| a.id.cmp(&b.id));
        let mut slaves: Vec<registry::Slave> = agents
            .iter()
            .map(|a| registry::Slave {
                info: a.info.clone(),
                drain_info: None,
                deactivated: None,
            })
            .collect();
        slaves.extend(self.registry.recovered.values().map(|(s, _)| s.clone()));
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
        self.registry.recovered.values().map(|(s, _)| &s.info)
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
    pub(super) fn registry_admitted(&mut self, id: &AgentId) {
        self.registry.recovered.remove(id);
        self.registry.unreachable.remove(id);
        self.registry.dirty = true;
    }

    /// An agent left: unreachable (with the time) or removed.
    pub(super) fn registry_removed(&mut self, id: &AgentId, unreachable: bool, now: Now) {
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

    /// Recovered agents past their re-registration deadline become
    /// unreachable.
    pub(super) fn expire_recovered(&mut self, now: Now) {
        let expired: Vec<AgentId> = self
            .registry
            .recovered
            .iter()
            .filter(|(_, (_, deadline))| *deadline <= now.instant)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            tracing::warn!(
                agent_id = %id,
                "Agent did not re-register within the re-registration timeout; marking it unreachable"
            );
            self.metrics.agent_removals += 1;
            self.registry_removed(&id, true, now);
        }
    }
}
