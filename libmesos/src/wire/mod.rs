//! Mesos 1.11 wire types.
//!
//! The modules below are generated at build time from `proto/` and follow the
//! protobuf packages: `wire::mesos` (v0, `mesos.proto`), `wire::mesos::v1`,
//! `wire::mesos::scheduler`, `wire::mesos::v1::scheduler`,
//! `wire::mesos::internal` (the libprocess messages between master, agent,
//! drivers), and so on. prost normalises names (`FrameworkID` becomes
//! `FrameworkId`, `TASK_RUNNING` becomes `TaskState::TaskRunning`); field
//! names and numbers on the wire are unchanged.
//!
//! Every message implements [`prost_reflect::ReflectMessage`] against
//! [`DESCRIPTOR_POOL`], which [`json`] uses for the Mesos JSON mapping.

use std::sync::LazyLock;

use prost_reflect::DescriptorPool;

pub mod json;
pub mod recordio;

/// Descriptors of every message in `proto/`, decoded once on first use.
pub static DESCRIPTOR_POOL: LazyLock<DescriptorPool> = LazyLock::new(|| {
    DescriptorPool::decode(FILE_DESCRIPTOR_SET)
        .expect("the descriptor set embedded at build time decodes")
});

/// The serialized `FileDescriptorSet` of `proto/`, as compiled at build time.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/file_descriptor_set.bin"));

#[allow(missing_docs, clippy::all, clippy::pedantic)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/wire.rs"));
}

pub use generated::*;
