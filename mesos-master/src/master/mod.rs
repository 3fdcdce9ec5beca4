//! The master state machine: frameworks, agents, offers and tasks.
//!
//! [`Master`] does no I/O and reads no clock. The runtime feeds it what
//! happened (a framework subscribed, a call arrived, an agent sent a
//! message, a connection broke, time passed) together with the current
//! time, then drains [`Master::take_effects`] and carries them out: send a
//! libprocess message, send an event to a framework, close a framework's
//! stream. The allocator is owned and called directly.
//!
//! Task states, as the master sees them:
//!
//! ```text
//!   ACCEPT(LAUNCH) ──► TASK_STAGING ──► TASK_STARTING ──► TASK_RUNNING ──┬─► TASK_FINISHED
//!        │                  │                                 │          ├─► TASK_FAILED
//!        │ invalid          │ agent lost                      │ KILL     ├─► TASK_KILLED
//!        ▼                  ▼                                 ▼          └─► TASK_LOST / _UNREACHABLE
//!   TASK_ERROR /        TASK_LOST /                       TASK_KILLING
//!   TASK_DROPPED /      TASK_UNREACHABLE
//!   TASK_LOST
//! ```
//!
//! A task of a `LAUNCH_GROUP` takes the same path; an invalid group
//! fails all its tasks with `TASK_ERROR`.
//!
//! A task leaves the master once its terminal update is acknowledged; its
//! resources go back to the allocator as soon as the terminal state is
//! known.

mod agents;
mod checks;
mod frameworks;
mod groups;
mod libprocess;
mod metrics;
mod offers;
mod registrar;
mod tasks;

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use mesos::ids::{AgentId, FrameworkId, OfferId};
use mesos::upid::Upid;
use mesos::wire::mesos as v0;
use mesos::wire::mesos::scheduler;

use crate::allocator::{Allocator, AllocatorConfig};

pub use agents::Agent;
pub use frameworks::{Framework, FrameworkLink};
pub use metrics::Metrics;
pub use offers::Offer;
pub use registrar::{RegistryConfig, RegistryState};

/// The master's version, reported everywhere Mesos reports it.
pub const VERSION: &str = "1.11.0";

/// How often HTTP frameworks get a `HEARTBEAT` (Mesos's default).
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(15);

/// How often [`Master::tick`] looks for expired offers, silent agents and
/// frameworks past their failover timeout.
pub const HOUSEKEEPING_INTERVAL: Duration = Duration::from_millis(100);

/// The current time, as the runtime read it.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    /// For deadlines and the allocator.
    pub instant: Instant,
    /// Seconds since the Unix epoch, for timestamps on the wire.
    pub unix: f64,
}

/// What the master core needs to know from its flags.
#[derive(Debug, Clone)]
pub struct MasterConfig {
    /// This master's `MasterInfo.id`, unique per master run.
    pub id: String,
    /// The master's UPID (`master@ip:port`).
    pub pid: Upid,
    /// The advertised host name.
    pub hostname: String,
    /// `--allocation_interval`.
    pub allocation_interval: Duration,
    /// `--offer_timeout`, if any.
    pub offer_timeout: Option<Duration>,
    /// `--agent_ping_timeout`.
    pub agent_ping_timeout: Duration,
    /// `--max_agent_ping_timeouts`.
    pub max_agent_ping_timeouts: u32,
    /// `--max_completed_frameworks`.
    pub max_completed_frameworks: usize,
    /// `--max_completed_tasks_per_framework`.
    pub max_completed_tasks_per_framework: usize,
    /// The allocator's settings.
    pub allocator: AllocatorConfig,
}

/// Something for the runtime to carry out.
#[derive(Debug, Clone)]
pub enum Effect {
    /// Send a libprocess message.
    Send {
        /// The receiver.
        to: Upid,
        /// The message name (the protobuf's full type name).
        name: String,
        /// The serialized protobuf.
        body: Bytes,
    },
    /// Send an event to a framework over its connection.
    Event {
        /// Where the framework listens.
        link: FrameworkLink,
        /// The event (v0 types; wire-identical to v1).
        event: Box<scheduler::Event>,
    },
    /// Watch a peer's connection (agents, libprocess frameworks).
    Link {
        /// The peer.
        to: Upid,
    },
    /// End a framework's event stream.
    Close {
        /// The stream to end.
        link: FrameworkLink,
    },
    /// The master must stop (Mesos's `EXIT(EXIT_FAILURE)`): carrying on
    /// would do harm, e.g. mark unreachable more agents than the operator
    /// allows after a failover.
    Abort {
        /// Why, in Mesos's words.
        message: String,
    },
}

/// Why a scheduler call is refused. Each variant maps onto the HTTP status
/// Mesos answers with; the text is Mesos's.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    /// Malformed or invalid call: 400.
    #[error("{0}")]
    BadRequest(String),
    /// The framework is not subscribed (or was removed): 400 in Mesos's
    /// HTTP API, a dropped message for libprocess frameworks.
    #[error("Framework cannot be found")]
    FrameworkNotFound,
    /// The framework is known but disconnected: 403.
    #[error("Framework is not subscribed")]
    NotSubscribed,
    /// The caller is not the subscribed instance of the framework: 400.
    #[error("{0}")]
    StreamMismatch(String),
    /// The framework was torn down; it cannot subscribe again: 403.
    #[error("Framework {0} has been removed")]
    Forbidden(String),
}

/// The master state machine.
pub struct Master {
    config: MasterConfig,
    /// The DRF allocator: what is free, and who gets it next.
    allocator: Allocator,
    /// Registered frameworks, connected or not.
    frameworks: HashMap<FrameworkId, Framework>,
    /// Removed frameworks, newest last, for `/state`.
    completed_frameworks: VecDeque<Framework>,
    /// Registered agents.
    agents: HashMap<AgentId, Agent>,
    /// Outstanding offers.
    offers: HashMap<OfferId, Offer>,
    /// When the allocator last ran.
    last_allocation: Option<Instant>,
    /// When offers, agents and frameworks were last checked for timeouts.
    last_housekeeping: Option<Instant>,
    /// An event happened that may make an allocation worthwhile before the
    /// next interval.
    allocation_pending: bool,
    /// Counters for ids: frameworks, agents, offers.
    next_framework: u64,
    next_agent: u64,
    next_offer: u64,
    /// Effects not yet taken by the runtime.
    effects: Vec<Effect>,
    /// When the master started (Unix seconds).
    start_time: f64,
    /// When the master was elected (Unix seconds).
    elected_time: f64,
    /// Counters.
    metrics: Metrics,
    /// Recovered, unreachable and gone agents, and the stored registry
    /// data.
    registry: RegistryState,
}

impl Master {
    /// A master that has just started and leads.
    pub fn new(config: MasterConfig, now: Now) -> Master {
        let allocator = Allocator::new(config.allocator.clone());
        Master {
            config,
            allocator,
            frameworks: HashMap::new(),
            completed_frameworks: VecDeque::new(),
            agents: HashMap::new(),
            offers: HashMap::new(),
            last_allocation: None,
            last_housekeeping: None,
            allocation_pending: false,
            next_framework: 0,
            next_agent: 0,
            next_offer: 0,
            effects: Vec::new(),
            start_time: now.unix,
            elected_time: now.unix,
            metrics: Metrics::default(),
            registry: RegistryState::default(),
        }
    }

    /// The effects produced since the last call.
    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    /// Time passed: allocate when due, expire offers, ping agents, remove
    /// frameworks whose failover timeout ran out.
    pub fn tick(&mut self, now: Now) {
        let housekeeping_due = self
            .last_housekeeping
            .is_none_or(|last| now.instant.duration_since(last) >= HOUSEKEEPING_INTERVAL);
        if housekeeping_due {
            self.last_housekeeping = Some(now.instant);
            self.expire_offers(now);
            self.check_agents(now);
            self.expire_frameworks(now);
            self.expire_recovered(now);
            self.collect_registry(now);
        }
        let due = match self.last_allocation {
            None => true,
            Some(last) => now.instant.duration_since(last) >= self.config.allocation_interval,
        };
        if due || self.allocation_pending {
            self.allocate(now);
        }
    }

    /// Whether an event asked for an allocation before the next interval.
    pub fn allocation_pending(&self) -> bool {
        self.allocation_pending
    }

    /// Runs one allocation cycle now and sends the offers.
    pub fn allocate(&mut self, now: Now) {
        self.allocation_pending = false;
        self.last_allocation = Some(now.instant);
        self.metrics.allocation_runs += 1;
        let allocations = self.allocator.allocate(now.instant);
        self.send_offers(allocations, now);
    }

    /// The master's `MasterInfo`.
    pub fn info(&self) -> v0::MasterInfo {
        master_info(&self.config)
    }

    /// The configuration the master runs with.
    pub fn config(&self) -> &MasterConfig {
        &self.config
    }

    /// Registered frameworks.
    pub fn frameworks(&self) -> impl Iterator<Item = &Framework> {
        self.frameworks.values()
    }

    /// A registered framework.
    pub fn framework(&self, id: &FrameworkId) -> Option<&Framework> {
        self.frameworks.get(id)
    }

    /// Removed frameworks, oldest first.
    pub fn completed_frameworks(&self) -> impl Iterator<Item = &Framework> {
        self.completed_frameworks.iter()
    }

    /// Registered agents.
    pub fn agents(&self) -> impl Iterator<Item = &Agent> {
        self.agents.values()
    }

    /// Outstanding offers.
    pub fn offers(&self) -> impl Iterator<Item = &Offer> {
        self.offers.values()
    }

    /// Counters.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// When the master started (Unix seconds).
    pub fn start_time(&self) -> f64 {
        self.start_time
    }

    /// When the master was elected (Unix seconds).
    pub fn elected_time(&self) -> f64 {
        self.elected_time
    }

    /// Sets role weights.
    pub fn update_weights(&mut self, weights: &[(String, f64)]) {
        self.allocator.update_weights(weights);
        self.allocation_pending = true;
    }

    /// The allocator (for introspection).
    pub fn allocator(&self) -> &Allocator {
        &self.allocator
    }

    fn send_message<M>(&mut self, to: &Upid, message: &M)
    where
        M: prost::Message + prost_reflect::ReflectMessage,
    {
        self.send_in_order(Effect::Send {
            to: to.clone(),
            name: message.descriptor().full_name().to_string(),
            body: Bytes::from(message.encode_to_vec()),
        });
    }

    fn send_event(&mut self, link: &FrameworkLink, event: scheduler::Event) {
        if let FrameworkLink::Libprocess { pid } = link {
            let framework_id = self
                .frameworks
                .values()
                .find(|f| f.link.as_ref() == Some(link))
                .map(|f| f.id.to_v0())
                .unwrap_or_default();
            self.send_driver_event(pid, framework_id, &event, false);
            return;
        }
        self.effects.push(Effect::Event {
            link: link.clone(),
            event: Box::new(event),
        });
    }
}

/// The `MasterInfo` of a master configured with `config`: what it
/// writes into ZooKeeper and reports as `leader_info`.
pub fn master_info(config: &MasterConfig) -> v0::MasterInfo {
    let address = config.pid.address;
    let ip = match address.ip() {
        // MasterInfo.ip is the IPv4 address in network order read as
        // a little-endian integer (127.0.0.1 is 16777343).
        std::net::IpAddr::V4(v4) => u32::from_le_bytes(v4.octets()),
        std::net::IpAddr::V6(_) => 0,
    };
    v0::MasterInfo {
        id: config.id.clone(),
        ip,
        port: u32::from(address.port()),
        pid: Some(config.pid.to_string()),
        hostname: Some(config.hostname.clone()),
        version: Some(VERSION.to_string()),
        address: Some(v0::Address {
            hostname: Some(config.hostname.clone()),
            ip: Some(address.ip().to_string()),
            port: i32::from(address.port()),
        }),
        domain: None,
        capabilities: vec![v0::master_info::Capability {
            r#type: Some(v0::master_info::capability::Type::AgentUpdate as i32),
        }],
    }
}

/// Whether a task state is terminal.
pub fn is_terminal(state: i32) -> bool {
    use v0::TaskState::*;
    [
        TaskFinished,
        TaskFailed,
        TaskKilled,
        TaskError,
        TaskLost,
        TaskDropped,
        TaskGone,
        TaskGoneByOperator,
    ]
    .iter()
    .any(|s| *s as i32 == state)
}

/// The Mesos name of a task state (`TASK_RUNNING`).
pub fn state_name(state: i32) -> &'static str {
    v0::TaskState::try_from(state)
        .map(|s| s.as_str_name())
        .unwrap_or("TASK_UNKNOWN")
}

#[cfg(test)]
mod tests;
