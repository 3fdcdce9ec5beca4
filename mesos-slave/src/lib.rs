//! The Mesos agent (`mesos-slave`, `mesos-agent`), the command executor
//! (`mesos-executor`) and the default executor (`mesos-default-executor`).
//!
//! - [`agent`]: the agent itself. [`agent::core::AgentCore`] is a pure
//!   state machine (messages, executor calls, exits and time in; effects
//!   out) that serves executors on the v1 executor HTTP API and on the
//!   libprocess protocol of libmesos's `MesosExecutorDriver`; [`agent::runtime::Agent`] runs it on a libprocess
//!   [`mesos::process::Transport`], so several agents (`slave(1)`,
//!   `slave(2)`, ...) can share one process, as `mesos-local` does.
//! - [`status_update`]: the pure status update manager (ordered, retried
//!   until acknowledged).
//! - [`checkpoint`]: the checkpoint under `<work_dir>/meta` in Mesos's
//!   layout, written as the core asks and read back on restart.
//! - [`containerizer`]: the Mesos containerizer: executors as session
//!   leaders in their sandbox, `cgroups/*` isolators (v1 and v2, OOM
//!   detection); the command executor's `ExecutorInfo` and environment.
//! - [`fetcher`]: `CommandInfo.uris` into the sandbox.
//! - [`files`]: `/files/*`, the sandboxes and the agent log for the
//!   WebUI.
//!   [`containerizer::docker`]: command tasks in Docker containers.
//! - [`executor`]: the command executor (`mesos-executor`), the Docker
//!   executor (`mesos-docker-executor`, [`executor::docker`]) that runs its
//!   task with `docker run`, and, in [`executor::default`], the default
//!   executor that runs task groups (`mesos-default-executor`); all v1
//!   executor API clients. All three run tasks' health checks and checks
//!   ([`executor::checks`]).
//! - [`cli`] and [`config`]: the daemon's flags and the plain
//!   configuration they become.
//! - [`paths`], [`detect`], [`convert`]: the sandbox layout,
//!   resource detection, attributes and JSON models.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use mesos::process::{BindConfig, Transport};
//! use mesos_slave::{agent::runtime::Agent, config::AgentConfig};
//! let transport = Transport::bind(&BindConfig::loopback(5051)).await?;
//! let master = "master@127.0.0.1:5050".parse().unwrap();
//! let resources = mesos::resources::Resources::parse("cpus:2;mem:1024").unwrap().to_wire();
//! let config = AgentConfig::new(master, "/var/lib/mesos".into(), resources);
//! let agent = Agent::start(config, transport, "slave(1)", true);
//! agent.shutdown().await;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod agent;
pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod containerizer;
pub mod convert;
pub mod detect;
pub mod executor;
pub mod fetcher;
pub mod files;
pub mod paths;
pub mod status_update;

/// Re-reads a v0 message as its v1 twin (or back); a mismatched pair of
/// types cannot decode and yields the default message.
pub(crate) fn convert_v1<From: prost::Message, To: prost::Message + Default>(message: &From) -> To {
    mesos::convert::evolve(message).unwrap_or_default()
}

/// The same as [`convert_v1`], for the v1 -> v0 direction.
pub(crate) fn convert_v0<From: prost::Message, To: prost::Message + Default>(message: &From) -> To {
    mesos::convert::devolve(message).unwrap_or_default()
}
