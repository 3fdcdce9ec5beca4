//! The Mesos master.
//!
//! - [`allocator`]: the hierarchical DRF allocator, pure: the master calls it
//!   with events and the time, and it answers with what to offer.
//! - [`master`]: the master state machine (frameworks, agents, offers,
//!   tasks), pure as well: inputs and the time in, effects out.
//! - [`runtime`]: the tokio task that drives the core and performs effects.
//! - [`api`]: the HTTP endpoints (v1 scheduler API, `/state`, ...).
//! - [`registry`]: where the registry is kept (ZooKeeper, a file, memory).
//! - [`ha`]: high availability: contending for leadership through
//!   ZooKeeper and redirecting while not leading.
//! - [`flags`]: the `mesos-master` flags.
#![deny(missing_docs)]

pub mod allocator;
pub mod api;
pub mod flags;
pub mod ha;
pub mod master;
pub mod registry;
pub mod runtime;
