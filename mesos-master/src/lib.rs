//! The Mesos master.
//!
//! - [`allocator`]: the hierarchical DRF allocator, pure: the master calls it
//!   with events and the time, and it answers with what to offer.
//! - [`master`]: the master state machine (frameworks, agents, offers,
//!   tasks), pure as well: inputs and the time in, effects out.
#![deny(missing_docs)]

pub mod allocator;
pub mod flags;
pub mod master;
