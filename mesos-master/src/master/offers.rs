//! Offers: made from the allocator's allocations, accepted, declined,
//! rescinded, expired.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use mesos::ids::{AgentId, FrameworkId, OfferId};
use mesos::resources::Resources;
use mesos::wire::mesos as v0;
use mesos::wire::mesos::framework_info::capability::Type as Capability;
use mesos::wire::mesos::scheduler::{self, call, event};

use super::{Master, Now};
use crate::allocator::Allocation;

/// Mesos's default `Filters.refuse_seconds`.
pub const DEFAULT_REFUSE: Duration = Duration::from_secs(5);

/// An outstanding offer.
#[derive(Debug, Clone)]
pub struct Offer {
    /// Its id.
    pub id: OfferId,
    /// Who it was made to.
    pub framework_id: FrameworkId,
    /// Where the resources are.
    pub agent_id: AgentId,
    /// The role the resources are allocated to.
    pub role: String,
    /// The resources, allocated to `role`.
    pub resources: Resources,
    /// When it is rescinded unless used (`--offer_timeout`).
    pub expires: Option<Instant>,
    /// The offer as sent.
    pub wire: v0::Offer,
}

impl Master {
    pub(super) fn send_offers(&mut self, allocations: Vec<Allocation>, now: Now) {
        let mut by_framework: Vec<(FrameworkId, Vec<v0::Offer>)> = Vec::new();
        for allocation in allocations {
            let Some(framework) = self.frameworks.get(&allocation.framework_id) else {
                self.allocator.recover_resources(
                    &allocation.framework_id,
                    &allocation.agent_id,
                    &allocation.resources,
                    None,
                    now.instant,
                );
                continue;
            };
            let multi_role = framework.has_capability(Capability::MultiRole);
            let usable = framework.active && framework.link.is_some();
            let Some(agent) = self.agents.get_mut(&allocation.agent_id).filter(|_| usable) else {
                self.allocator.recover_resources(
                    &allocation.framework_id,
                    &allocation.agent_id,
                    &allocation.resources,
                    None,
                    now.instant,
                );
                continue;
            };
            let id = OfferId::new(format!("{}-O{}", self.config.id, self.next_offer));
            self.next_offer += 1;
            agent.offered.add_all(&allocation.resources);
            agent.hold(&allocation.framework_id, &allocation.resources);
            let mut resources = allocation.resources.clone();
            if !multi_role {
                resources.unallocate();
            }
            let executor_ids = agent
                .executors
                .get(&allocation.framework_id)
                .map(|e| e.values().map(|info| info.executor_id.clone()).collect())
                .unwrap_or_default();
            let address = agent.pid.address;
            let wire = v0::Offer {
                id: id.to_v0(),
                framework_id: allocation.framework_id.to_v0(),
                slave_id: allocation.agent_id.to_v0(),
                hostname: agent.info.hostname.clone(),
                url: Some(v0::Url {
                    scheme: "http".into(),
                    address: v0::Address {
                        hostname: Some(agent.info.hostname.clone()),
                        ip: Some(address.ip().to_string()),
                        port: i32::from(address.port()),
                    },
                    path: Some(format!("/{}", agent.pid.id)),
                    query: Vec::new(),
                    fragment: None,
                }),
                domain: agent.info.domain.clone(),
                resources: resources.to_wire(),
                attributes: agent.info.attributes.clone(),
                executor_ids,
                unavailability: None,
                allocation_info: multi_role.then(|| v0::resource::AllocationInfo {
                    role: Some(allocation.role.clone()),
                }),
            };
            let expires = self.config.offer_timeout.map(|t| now.instant + t);
            let offer = Offer {
                id: id.clone(),
                framework_id: allocation.framework_id.clone(),
                agent_id: allocation.agent_id.clone(),
                role: allocation.role,
                resources: allocation.resources,
                expires,
                wire: wire.clone(),
            };
            if let Some(framework) = self.frameworks.get_mut(&allocation.framework_id) {
                framework.offers.insert(id.clone());
            }
            self.offers.insert(id, offer);
            match by_framework
                .iter_mut()
                .find(|(f, _)| f == &allocation.framework_id)
            {
                Some((_, offers)) => offers.push(wire),
                None => by_framework.push((allocation.framework_id, vec![wire])),
            }
        }
        for (framework_id, offers) in by_framework {
            let Some(link) = self
                .frameworks
                .get(&framework_id)
                .and_then(|f| f.link.clone())
            else {
                continue;
            };
            self.metrics.offers_sent += offers.len() as u64;
            tracing::debug!(framework_id = %framework_id, "Sending {} offers", offers.len());
            let event = scheduler::Event {
                r#type: Some(event::Type::Offers as i32),
                offers: Some(event::Offers { offers }),
                ..Default::default()
            };
            self.send_event(&link, event);
        }
    }

    /// Takes an offer out of the books without giving its resources back.
    pub(super) fn take_offer(&mut self, id: &OfferId) -> Option<Offer> {
        let offer = self.offers.remove(id)?;
        if let Some(framework) = self.frameworks.get_mut(&offer.framework_id) {
            framework.offers.remove(id);
        }
        if let Some(agent) = self.agents.get_mut(&offer.agent_id) {
            agent.offered.subtract_all(&offer.resources);
            agent.release(&offer.framework_id, &offer.resources);
        }
        Some(offer)
    }

    /// Gives an offer's resources back to the allocator.
    fn recover_offer(&mut self, offer: &Offer, refuse: Option<Duration>, now: Now) {
        self.allocator.recover_resources(
            &offer.framework_id,
            &offer.agent_id,
            &offer.resources,
            refuse,
            now.instant,
        );
        self.allocation_pending = true;
    }

    /// Rescinds an offer: the framework is told, the resources go back.
    fn rescind(&mut self, id: &OfferId, tell: bool, now: Now) {
        let Some(offer) = self.take_offer(id) else {
            return;
        };
        self.metrics.offers_rescinded += 1;
        if tell
            && let Some(link) = self
                .frameworks
                .get(&offer.framework_id)
                .and_then(|f| f.link.clone())
        {
            let event = scheduler::Event {
                r#type: Some(event::Type::Rescind as i32),
                rescind: Some(event::Rescind {
                    offer_id: id.to_v0(),
                }),
                ..Default::default()
            };
            self.send_event(&link, event);
        }
        self.recover_offer(&offer, None, now);
    }

    pub(super) fn rescind_framework_offers(
        &mut self,
        framework: &FrameworkId,
        tell: bool,
        now: Now,
    ) {
        let ids: BTreeSet<OfferId> = self
            .frameworks
            .get(framework)
            .map(|f| f.offers.iter().cloned().collect())
            .unwrap_or_default();
        for id in ids {
            self.rescind(&id, tell, now);
        }
    }

    pub(super) fn rescind_agent_offers(&mut self, agent: &AgentId, now: Now) {
        let ids: BTreeSet<OfferId> = self
            .offers
            .values()
            .filter(|o| &o.agent_id == agent)
            .map(|o| o.id.clone())
            .collect();
        for id in ids {
            self.rescind(&id, true, now);
        }
    }

    pub(super) fn expire_offers(&mut self, now: Now) {
        if self.config.offer_timeout.is_none() {
            return;
        }
        let expired: BTreeSet<OfferId> = self
            .offers
            .values()
            .filter(|o| o.expires.is_some_and(|e| e <= now.instant))
            .map(|o| o.id.clone())
            .collect();
        for id in expired {
            tracing::info!(offer_id = %id, "Offer timed out, rescinding");
            self.rescind(&id, true, now);
        }
    }

    /// `DECLINE`: the resources go back, filtered for `refuse_seconds`.
    pub(super) fn decline(
        &mut self,
        framework: &FrameworkId,
        offer_ids: &[v0::OfferId],
        filters: Option<&v0::Filters>,
        now: Now,
    ) {
        let refuse = refuse_duration(filters);
        for wire in offer_ids {
            let id = OfferId::from(wire);
            if self
                .offers
                .get(&id)
                .is_none_or(|o| &o.framework_id != framework)
            {
                tracing::info!(offer_id = %id, "Ignoring decline of unknown offer");
                continue;
            }
            if let Some(offer) = self.take_offer(&id) {
                self.metrics.offers_declined += 1;
                self.recover_offer(&offer, refuse, now);
            }
        }
    }

    /// `ACCEPT`: validates the offers, runs the operations, gives the rest
    /// back with the call's filter.
    pub(super) fn accept(&mut self, framework: &FrameworkId, accept: call::Accept, now: Now) {
        let refuse = refuse_duration(accept.filters.as_ref());
        let error = self.validate_offers(framework, &accept.offer_ids);
        let mut offers = Vec::new();
        for wire in &accept.offer_ids {
            let id = OfferId::from(wire);
            if self
                .offers
                .get(&id)
                .is_some_and(|o| &o.framework_id == framework)
                && let Some(offer) = self.take_offer(&id)
            {
                offers.push(offer);
            }
        }
        if let Some(error) = error {
            tracing::warn!(framework_id = %framework, "ACCEPT call used invalid offers: {error}");
            for offer in &offers {
                self.recover_offer(offer, None, now);
            }
            self.drop_launches(framework, &accept.operations, &error, now);
            return;
        }
        let Some(first) = offers.first() else {
            return;
        };
        let agent_id = first.agent_id.clone();
        let role = first.role.clone();
        let mut remaining = Resources::new();
        for offer in &offers {
            remaining.add_all(&offer.resources);
        }
        for operation in accept.operations {
            use v0::offer::operation::Type;
            match operation.r#type.and_then(|t| Type::try_from(t).ok()) {
                Some(Type::Launch) => {
                    let tasks = operation.launch.map(|l| l.task_infos).unwrap_or_default();
                    for task in tasks {
                        self.launch(framework, &agent_id, &role, task, &mut remaining, now);
                    }
                }
                Some(Type::LaunchGroup) => {
                    if let Some(launch) = operation.launch_group {
                        self.launch_group(framework, &agent_id, &role, launch, &mut remaining, now);
                    }
                }
                other => {
                    tracing::warn!(
                        framework_id = %framework,
                        "Dropping unsupported offer operation {other:?}"
                    );
                }
            }
        }
        if !remaining.is_empty() {
            self.allocator
                .recover_resources(framework, &agent_id, &remaining, refuse, now.instant);
            self.allocation_pending = true;
        }
    }

    /// Mesos's offer validation: every id known, owned by this framework,
    /// one agent, one role, no duplicates.
    fn validate_offers(&self, framework: &FrameworkId, ids: &[v0::OfferId]) -> Option<String> {
        if ids.is_empty() {
            return Some("No offers specified".into());
        }
        let mut seen = BTreeSet::new();
        let mut agent: Option<&AgentId> = None;
        let mut role: Option<&str> = None;
        for wire in ids {
            let id = OfferId::from(wire);
            if !seen.insert(id.clone()) {
                return Some(format!("Duplicate offer {id} in the same call"));
            }
            let Some(offer) = self.offers.get(&id) else {
                return Some(format!("Offer {id} is no longer valid"));
            };
            if &offer.framework_id != framework {
                return Some(format!(
                    "Offer {id} has invalid framework {} while framework {framework} is expected",
                    offer.framework_id
                ));
            }
            if agent.is_some_and(|a| a != &offer.agent_id) {
                return Some(format!(
                    "Aggregated offers must belong to one single agent. Offer {id} uses agent {} and agent {}",
                    offer.agent_id,
                    agent.map(|a| a.to_string()).unwrap_or_default()
                ));
            }
            if role.is_some_and(|r| r != offer.role) {
                return Some(format!(
                    "Aggregated offers must be allocated to the same role. Offer {id} uses role {} and {}",
                    offer.role,
                    role.unwrap_or_default()
                ));
            }
            agent = Some(&offer.agent_id);
            role = Some(&offer.role);
        }
        None
    }

    fn drop_launches(
        &mut self,
        framework: &FrameworkId,
        operations: &[v0::offer::Operation],
        error: &str,
        now: Now,
    ) {
        let partition_aware = self
            .frameworks
            .get(framework)
            .is_some_and(|f| f.partition_aware());
        let state = if partition_aware {
            v0::TaskState::TaskDropped
        } else {
            v0::TaskState::TaskLost
        };
        let message = format!("Task launched with invalid offers: {error}");
        for operation in operations {
            let tasks = operation
                .launch
                .iter()
                .flat_map(|l| l.task_infos.iter())
                .chain(
                    operation
                        .launch_group
                        .iter()
                        .flat_map(|l| l.task_group.tasks.iter()),
                );
            for task in tasks.cloned().collect::<Vec<_>>() {
                self.drop_task(
                    framework,
                    &task,
                    state,
                    v0::task_status::Reason::InvalidOffers,
                    &message,
                    now,
                );
            }
        }
    }
}

/// The filter a decline or accept asks for; Mesos's default is 5 s, and a
/// non-positive or invalid value means none.
fn refuse_duration(filters: Option<&v0::Filters>) -> Option<Duration> {
    let seconds = match filters {
        Some(filters) => filters
            .refuse_seconds
            .unwrap_or(DEFAULT_REFUSE.as_secs_f64()),
        None => DEFAULT_REFUSE.as_secs_f64(),
    };
    if !seconds.is_finite() || seconds <= 0.0 {
        return None;
    }
    Some(Duration::try_from_secs_f64(seconds).unwrap_or(crate::allocator::MAX_REFUSE))
}
