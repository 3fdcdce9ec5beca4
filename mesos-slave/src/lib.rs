//! The Mesos agent (`mesos-slave`, `mesos-agent`) and the command executor
//! (`mesos-executor`).
//!
//! - [`paths`], [`detect`], [`convert`], [`duration`]: the sandbox layout,
//!   resource detection, wire conversions and Mesos durations.
//! - [`status_update`]: the pure status update manager (ordered, retried
//!   until acknowledged).
#![deny(missing_docs)]

pub mod cli;
pub mod config;
pub mod containerizer;
pub mod convert;
pub mod detect;
pub mod duration;
pub mod executor;
pub mod paths;
pub mod status_update;
