//! The `mesos` crate: what the Mesos master, agent, executors and tools share.
//!
//! - [`wire`]: the Mesos 1.11 protobuf types, generated from our own `.proto`
//!   files in `proto/` (wire-identical to Apache Mesos 1.11), plus the Mesos
//!   JSON mapping in [`wire::json`] and the RecordIO framing of event
//!   streams in [`wire::recordio`].
//! - [`resources`]: the Resources algebra (scalars, ranges, sets, roles,
//!   reservations) and the `--resources` text form.
//! - [`convert`]: wire messages to domain types, v0 to v1.
//! - [`flags`]: Mesos flag conventions (durations, byte sizes, `file://`).
//! - [`http_scheduler`]: a client of the v1 scheduler HTTP API.
//! - [`ids`]: identifier newtypes (`FrameworkId`, `AgentId`, ...).
//! - [`logging`]: the binaries' glog-compatible logging (`--log_dir` files per
//!   severity, `--logging_level`, `--quiet`, `GLOG_v`).
//! - [`process`]: the libprocess transport (messages over HTTP/1.1).
//! - [`upid`]: libprocess process addresses (`id@ip:port`).
//! - [`zk`]: ZooKeeper: `zk://` URLs, leader election and detection.
//!
//! ```
//! use mesos::wire::mesos::v1::FrameworkInfo;
//! let info = FrameworkInfo { user: "root".into(), name: "demo".into(), ..Default::default() };
//! let json = mesos::wire::json::to_json_string(&info);
//! assert!(json.starts_with(r#"{"user":"root","name":"demo""#));
//! ```
#![deny(missing_docs)]

pub mod convert;
pub mod flags;
pub mod http_scheduler;
pub mod ids;
pub mod logging;
pub mod metrics;
pub mod process;
pub mod resources;
pub mod upid;
pub mod wire;
pub mod zk;
