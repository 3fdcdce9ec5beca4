//! The Mesos master.
//!
//! - [`allocator`]: the hierarchical DRF allocator, pure: the master calls it
//!   with events and the time, and it answers with what to offer.
#![deny(missing_docs)]

pub mod allocator;
