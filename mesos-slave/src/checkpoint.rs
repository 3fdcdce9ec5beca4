//! The agent's checkpoint under `<work_dir>/meta`, in Mesos 1.11's layout
//! (`src/slave/paths.cpp`, `src/slave/state.cpp`), so that a restarted
//! agent finds its id, its frameworks, their executors and tasks, and the
//! status updates not yet acknowledged:
//!
//! ```text
//! meta/boot_id
//! meta/slaves/latest -> <agent id>
//! meta/slaves/<agent id>/slave.info
//!   frameworks/<fid>/framework.info, framework.pid
//!     executors/<eid>/executor.info, executor_generated_for_command_task
//!       runs/latest -> <container id>
//!       runs/<container id>/pids/forked.pid, pids/libprocess.pid, http.marker, executor.sentinel
//!         tasks/<tid>/task.info, task.updates
//! ```
//!
//! Protobuf files hold one message prefixed by its length (a 4-byte
//! little-endian `uint32`, as stout's `protobuf::write` writes it on
//! x86); `task.updates` is a sequence of such `StatusUpdateRecord`s
//! (an `UPDATE` with the update, or an `ACK` with its uuid). Files are
//! replaced atomically (written beside, then renamed); records are
//! appended and synced. Only frameworks with `checkpoint=true` are
//! checkpointed; the agent's own info always is.
//!
//! [`recover`] reads it all back as a [`RecoveredState`]. As in Mesos, a
//! `task.updates` whose last record was cut short (the agent died while
//! appending) is truncated to its complete records; anything that does
//! not parse is an error, fatal with `--strict` and otherwise counted
//! and skipped.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use mesos::ids::{ExecutorId, FrameworkId, TaskId};
use mesos::upid::Upid;
use mesos::wire::mesos as v0;
use mesos::wire::mesos::internal as msg;
use prost::Message;

use crate::paths::LATEST;

#[cfg(test)]
mod tests;

/// What went wrong reading or writing the checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A file holds something that is not what it should.
    #[error("Failed to read '{}': {message}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn corrupt(path: &Path, message: impl Into<String>) -> CheckpointError {
    CheckpointError::Corrupt {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// `<work_dir>/meta`.
pub fn meta_dir(work_dir: &Path) -> PathBuf {
    work_dir.join("meta")
}

/// The paths of the checkpoint under one meta directory.
#[derive(Debug, Clone)]
pub struct MetaPaths {
    /// `<work_dir>/meta`.
    pub meta: PathBuf,
}

impl MetaPaths {
    /// The checkpoint of the agent working in `work_dir`.
    pub fn new(work_dir: &Path) -> MetaPaths {
        MetaPaths {
            meta: meta_dir(work_dir),
        }
    }

    /// `meta/boot_id`.
    pub fn boot_id(&self) -> PathBuf {
        self.meta.join("boot_id")
    }

    /// `meta/slaves/latest`.
    pub fn latest_agent(&self) -> PathBuf {
        self.meta.join("slaves").join(LATEST)
    }

    /// `meta/slaves/<agent id>`.
    pub fn agent(&self, agent_id: &str) -> PathBuf {
        self.meta.join("slaves").join(agent_id)
    }

    /// `meta/slaves/<agent id>/slave.info`.
    pub fn agent_info(&self, agent_id: &str) -> PathBuf {
        self.agent(agent_id).join("slave.info")
    }

    /// `.../frameworks/<fid>`.
    pub fn framework(&self, agent_id: &str, fid: &str) -> PathBuf {
        self.agent(agent_id).join("frameworks").join(fid)
    }

    /// `.../executors/<eid>`.
    pub fn executor(&self, agent_id: &str, fid: &str, eid: &str) -> PathBuf {
        self.framework(agent_id, fid).join("executors").join(eid)
    }

    /// `.../executors/<eid>/runs/<container id>`.
    pub fn run(&self, agent_id: &str, fid: &str, eid: &str, container_id: &str) -> PathBuf {
        self.executor(agent_id, fid, eid)
            .join("runs")
            .join(container_id)
    }

    /// `.../runs/<container id>/pids/forked.pid`.
    pub fn forked_pid(&self, agent_id: &str, fid: &str, eid: &str, container_id: &str) -> PathBuf {
        self.run(agent_id, fid, eid, container_id)
            .join("pids")
            .join("forked.pid")
    }

    /// `.../runs/<container id>/tasks/<tid>`.
    pub fn task(&self, agent_id: &str, fid: &str, eid: &str, cid: &str, tid: &str) -> PathBuf {
        self.run(agent_id, fid, eid, cid).join("tasks").join(tid)
    }
}

/// Replaces `path` with `bytes` atomically: written to a temporary file
/// beside it, synced, then renamed over it.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    let dir = path
        .parent()
        .ok_or_else(|| corrupt(path, "a checkpoint path needs a directory"))?;
    std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| corrupt(path, "a checkpoint path needs a file name"))?;
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut file = std::fs::File::create(&temp).map_err(io_error(&temp))?;
    file.write_all(bytes).map_err(io_error(&temp))?;
    file.sync_all().map_err(io_error(&temp))?;
    std::fs::rename(&temp, path).map_err(io_error(path))
}

/// A message as stout's `protobuf::write` frames it: its length as a
/// little-endian `uint32`, then its bytes.
pub fn frame<M: Message>(message: &M) -> Vec<u8> {
    let body = message.encode_to_vec();
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// Replaces `path` with one framed message.
pub fn write_message<M: Message>(path: &Path, message: &M) -> Result<(), CheckpointError> {
    write_atomic(path, &frame(message))
}

/// Points the symlink `link` at `target` (a sibling's name), replacing it.
pub fn symlink(link: &Path, target: &str) -> Result<(), CheckpointError> {
    let dir = link
        .parent()
        .ok_or_else(|| corrupt(link, "a symlink needs a directory"))?;
    std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    let temp = dir.join(format!(".{}.{}", target, std::process::id()));
    let _ = std::fs::remove_file(&temp);
    std::os::unix::fs::symlink(target, &temp).map_err(io_error(&temp))?;
    std::fs::rename(&temp, link).map_err(io_error(link))
}

/// Appends one framed `StatusUpdateRecord` to a `task.updates` file and
/// syncs it.
pub fn append_record(path: &Path, record: &msg::StatusUpdateRecord) -> Result<(), CheckpointError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io_error(path))?;
    file.write_all(&frame(record)).map_err(io_error(path))?;
    file.sync_data().map_err(io_error(path))
}

/// One framed message from the start of `bytes`: `Ok(None)` when `bytes`
/// ends before the message does (a partial write); the message and the
/// bytes it took otherwise.
pub fn unframe<M>(bytes: &[u8]) -> Result<Option<(M, usize)>, String>
where
    M: Message + prost_reflect::ReflectMessage + Default,
{
    let Some(prefix) = bytes.get(..4) else {
        return Ok(None);
    };
    let length = u32::from_le_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
    let Some(body) = bytes.get(4..4 + length) else {
        return Ok(None);
    };
    let message = mesos::wire::decode_checked::<M>(body).map_err(|e| e.to_string())?;
    Ok(Some((message, 4 + length)))
}

/// Reads a file holding one framed message; `Ok(None)` when it does not
/// exist.
pub fn read_message<M>(path: &Path) -> Result<Option<M>, CheckpointError>
where
    M: Message + prost_reflect::ReflectMessage + Default,
{
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(path)(e)),
    };
    match unframe::<M>(&bytes).map_err(|e| corrupt(path, e))? {
        Some((message, used)) if used == bytes.len() => Ok(Some(message)),
        Some(_) => Err(corrupt(path, "trailing bytes after the message")),
        None => Err(corrupt(path, "the message is truncated")),
    }
}

fn read_text(path: &Path) -> Result<Option<String>, CheckpointError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text.trim().to_string())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(path)(e)),
    }
}

/// The records of a `task.updates` file. A last record cut short is
/// dropped and the file truncated to the complete ones, as Mesos does.
pub fn read_records(path: &Path) -> Result<Vec<msg::StatusUpdateRecord>, CheckpointError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(path)(e)),
    };
    let mut records = Vec::new();
    let mut offset = 0;
    while offset < bytes.len() {
        match unframe::<msg::StatusUpdateRecord>(&bytes[offset..]) {
            Ok(Some((record, used))) => {
                records.push(record);
                offset += used;
            }
            Ok(None) => {
                tracing::warn!(
                    "Truncating the partial status update record at offset {offset} of '{}'",
                    path.display()
                );
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(io_error(path))?;
                file.set_len(offset as u64).map_err(io_error(path))?;
                break;
            }
            Err(e) => {
                return Err(corrupt(
                    path,
                    format!("status update record at offset {offset}: {e}"),
                ));
            }
        }
    }
    Ok(records)
}

/// Something to checkpoint, as the agent core asks for it.
#[derive(Debug, Clone, PartialEq)]
pub enum Checkpoint {
    /// `slave.info`, and `meta/slaves/latest` pointing at it.
    Agent(Box<v0::SlaveInfo>),
    /// `framework.info` and `framework.pid`.
    Framework {
        /// As the master sent it (with its id).
        info: Box<v0::FrameworkInfo>,
        /// The scheduler's address, for driver-based frameworks.
        pid: Option<Upid>,
    },
    /// `executor.info`, the run directory and `runs/latest`.
    Executor {
        /// Its framework.
        framework_id: FrameworkId,
        /// As launched.
        info: Box<v0::ExecutorInfo>,
        /// The run.
        container_id: String,
        /// Made by the agent for a command task.
        command_executor: bool,
    },
    /// How the executor connected: `pids/libprocess.pid`, or
    /// `http.marker` for the v1 HTTP API.
    ExecutorLink {
        /// Its framework.
        framework_id: FrameworkId,
        /// The executor.
        executor_id: ExecutorId,
        /// The run.
        container_id: String,
        /// The executor's UPID; `None` for an HTTP executor.
        pid: Option<Upid>,
    },
    /// `task.info` of a task handed to an executor.
    Task {
        /// Its executor.
        executor_id: ExecutorId,
        /// The run.
        container_id: String,
        /// The task (its framework id inside).
        task: Box<v0::Task>,
    },
    /// One record appended to a task's `task.updates`.
    Record {
        /// Its framework.
        framework_id: FrameworkId,
        /// Its executor.
        executor_id: ExecutorId,
        /// The run.
        container_id: String,
        /// The task.
        task_id: TaskId,
        /// An update or an acknowledgement.
        record: Box<msg::StatusUpdateRecord>,
    },
    /// `executor.sentinel`: the run has ended.
    Completed {
        /// Its framework.
        framework_id: FrameworkId,
        /// The executor.
        executor_id: ExecutorId,
        /// The run.
        container_id: String,
    },
}

impl MetaPaths {
    /// Writes `checkpoint` of the agent `agent_id`.
    pub fn write(&self, agent_id: &str, checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
        match checkpoint {
            Checkpoint::Agent(info) => {
                write_message(&self.agent_info(agent_id), info.as_ref())?;
                symlink(&self.latest_agent(), agent_id)
            }
            Checkpoint::Framework { info, pid } => {
                let fid = info.id.as_ref().map(|i| i.value.as_str()).unwrap_or("");
                let dir = self.framework(agent_id, fid);
                write_message(&dir.join("framework.info"), info.as_ref())?;
                let pid = pid.as_ref().map(Upid::to_string).unwrap_or_default();
                write_atomic(&dir.join("framework.pid"), pid.as_bytes())
            }
            Checkpoint::Executor {
                framework_id,
                info,
                container_id,
                command_executor,
            } => {
                let eid = info.executor_id.value.as_str();
                let dir = self.executor(agent_id, framework_id.as_str(), eid);
                write_message(&dir.join("executor.info"), info.as_ref())?;
                let generated = if *command_executor { "1" } else { "0" };
                write_atomic(
                    &dir.join("executor_generated_for_command_task"),
                    generated.as_bytes(),
                )?;
                let run = dir.join("runs").join(container_id);
                std::fs::create_dir_all(run.join("pids")).map_err(io_error(&run))?;
                symlink(&dir.join("runs").join(LATEST), container_id)
            }
            Checkpoint::ExecutorLink {
                framework_id,
                executor_id,
                container_id,
                pid,
            } => {
                let run = self.run(
                    agent_id,
                    framework_id.as_str(),
                    executor_id.as_str(),
                    container_id,
                );
                match pid {
                    Some(pid) => write_atomic(
                        &run.join("pids").join("libprocess.pid"),
                        pid.to_string().as_bytes(),
                    ),
                    None => write_atomic(&run.join("http.marker"), b""),
                }
            }
            Checkpoint::Task {
                executor_id,
                container_id,
                task,
            } => {
                let dir = self.task(
                    agent_id,
                    &task.framework_id.value,
                    executor_id.as_str(),
                    container_id,
                    &task.task_id.value,
                );
                write_message(&dir.join("task.info"), task.as_ref())
            }
            Checkpoint::Record {
                framework_id,
                executor_id,
                container_id,
                task_id,
                record,
            } => {
                let dir = self.task(
                    agent_id,
                    framework_id.as_str(),
                    executor_id.as_str(),
                    container_id,
                    task_id.as_str(),
                );
                append_record(&dir.join("task.updates"), record)
            }
            Checkpoint::Completed {
                framework_id,
                executor_id,
                container_id,
            } => {
                let run = self.run(
                    agent_id,
                    framework_id.as_str(),
                    executor_id.as_str(),
                    container_id,
                );
                write_atomic(&run.join("executor.sentinel"), b"")
            }
        }
    }
}

/// What [`recover`] found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecoveredState {
    /// The boot id the last run of the agent checkpointed.
    pub boot_id: Option<String>,
    /// The agent `meta/slaves/latest` names, if any.
    pub agent: Option<RecoveredAgent>,
    /// How many errors were skipped (`--strict=false` only).
    pub errors: u32,
}

/// The checkpointed agent.
#[derive(Debug, Clone, PartialEq)]
pub struct RecoveredAgent {
    /// Its id.
    pub id: String,
    /// Its `SlaveInfo`; `None` when `slave.info` is missing.
    pub info: Option<v0::SlaveInfo>,
    /// Its checkpointing frameworks.
    pub frameworks: Vec<RecoveredFramework>,
}

/// A checkpointed framework.
#[derive(Debug, Clone, PartialEq)]
pub struct RecoveredFramework {
    /// Its id.
    pub id: FrameworkId,
    /// Its info.
    pub info: v0::FrameworkInfo,
    /// Its scheduler's address, if it has one.
    pub pid: Option<Upid>,
    /// Its executors (those with an info and a latest run).
    pub executors: Vec<RecoveredExecutor>,
}

/// A checkpointed executor and its latest run.
#[derive(Debug, Clone, PartialEq)]
pub struct RecoveredExecutor {
    /// Its info.
    pub info: v0::ExecutorInfo,
    /// Made by the agent for a command task.
    pub command_executor: bool,
    /// The latest run's container id.
    pub container_id: String,
    /// The pid the agent forked, if checkpointed.
    pub forked_pid: Option<u32>,
    /// The executor's UPID, when it registered over libprocess.
    pub libprocess_pid: Option<Upid>,
    /// It subscribed over the v1 HTTP API.
    pub http: bool,
    /// The run has ended (`executor.sentinel`).
    pub completed: bool,
    /// Its tasks.
    pub tasks: Vec<RecoveredTask>,
}

/// A checkpointed task and its status updates.
#[derive(Debug, Clone, PartialEq)]
pub struct RecoveredTask {
    /// The task as handed over.
    pub task: v0::Task,
    /// Its status updates, in order.
    pub updates: Vec<msg::StatusUpdate>,
    /// The uuids the master acknowledged, in order.
    pub acks: Vec<Bytes>,
}

/// Collects errors: fatal with `strict`, counted otherwise.
struct Errors {
    strict: bool,
    count: u32,
}

impl Errors {
    fn take<T>(
        &mut self,
        result: Result<T, CheckpointError>,
    ) -> Result<Option<T>, CheckpointError> {
        match result {
            Ok(value) => Ok(Some(value)),
            Err(e) if self.strict => Err(e),
            Err(e) => {
                tracing::warn!("Skipping what cannot be recovered: {e}");
                self.count += 1;
                Ok(None)
            }
        }
    }
}

fn entries(dir: &Path) -> Result<Vec<String>, CheckpointError> {
    let mut names = Vec::new();
    match std::fs::read_dir(dir) {
        Ok(read) => {
            for entry in read {
                let entry = entry.map_err(io_error(dir))?;
                if entry.path().is_dir()
                    && let Some(name) = entry.file_name().to_str()
                    && name != LATEST
                {
                    names.push(name.to_string());
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error(dir)(e)),
    }
    names.sort();
    Ok(names)
}

fn link_target(link: &Path) -> Result<Option<String>, CheckpointError> {
    match std::fs::read_link(link) {
        Ok(target) => target
            .file_name()
            .and_then(|n| n.to_str())
            .map(|n| Some(n.to_string()))
            .ok_or_else(|| corrupt(link, "the link names no directory")),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(link)(e)),
    }
}

/// Reads the checkpoint under `meta` (`<work_dir>/meta`). With `strict`,
/// the first error ends recovery; otherwise errors are logged, counted in
/// [`RecoveredState::errors`], and what they concern is left out.
pub fn recover(meta: &MetaPaths, strict: bool) -> Result<RecoveredState, CheckpointError> {
    let mut errors = Errors { strict, count: 0 };
    let boot_id = errors.take(read_text(&meta.boot_id()))?.flatten();
    let agent = match link_target(&meta.latest_agent())? {
        None => None,
        Some(id) => Some(recover_agent(meta, &id, &mut errors)?),
    };
    Ok(RecoveredState {
        boot_id,
        agent,
        errors: errors.count,
    })
}

fn recover_agent(
    meta: &MetaPaths,
    id: &str,
    errors: &mut Errors,
) -> Result<RecoveredAgent, CheckpointError> {
    let info = errors
        .take(read_message::<v0::SlaveInfo>(&meta.agent_info(id)))?
        .flatten();
    let mut frameworks = Vec::new();
    for fid in entries(&meta.agent(id).join("frameworks"))? {
        let dir = meta.framework(id, &fid);
        let Some(info) = errors
            .take(read_message::<v0::FrameworkInfo>(
                &dir.join("framework.info"),
            ))?
            .flatten()
        else {
            tracing::warn!(framework_id = %fid, "No framework info checkpointed; skipping it");
            continue;
        };
        let pid = match errors
            .take(read_text(&dir.join("framework.pid")))?
            .flatten()
        {
            Some(text) if !text.is_empty() => {
                let parsed = text
                    .parse::<Upid>()
                    .map_err(|e| corrupt(&dir.join("framework.pid"), e.to_string()));
                errors.take(parsed)?
            }
            _ => None,
        };
        let mut executors = Vec::new();
        for eid in entries(&dir.join("executors"))? {
            if let Some(executor) = errors
                .take(recover_executor(meta, id, &fid, &eid))?
                .flatten()
            {
                executors.push(executor);
            }
        }
        frameworks.push(RecoveredFramework {
            id: FrameworkId::new(fid),
            info,
            pid,
            executors,
        });
    }
    Ok(RecoveredAgent {
        id: id.to_string(),
        info,
        frameworks,
    })
}

fn recover_executor(
    meta: &MetaPaths,
    agent_id: &str,
    fid: &str,
    eid: &str,
) -> Result<Option<RecoveredExecutor>, CheckpointError> {
    let dir = meta.executor(agent_id, fid, eid);
    let Some(info) = read_message::<v0::ExecutorInfo>(&dir.join("executor.info"))? else {
        tracing::warn!(
            executor_id = eid,
            "No executor info checkpointed; skipping it"
        );
        return Ok(None);
    };
    let command_executor =
        read_text(&dir.join("executor_generated_for_command_task"))?.as_deref() == Some("1");
    let Some(container_id) = link_target(&dir.join("runs").join(LATEST))? else {
        tracing::warn!(executor_id = eid, "No latest run checkpointed; skipping it");
        return Ok(None);
    };
    let run = meta.run(agent_id, fid, eid, &container_id);
    let forked_path = run.join("pids").join("forked.pid");
    let forked_pid = match read_text(&forked_path)? {
        Some(text) => Some(
            text.parse::<u32>()
                .map_err(|e| corrupt(&forked_path, format!("not a pid: {e}")))?,
        ),
        None => None,
    };
    let libprocess_path = run.join("pids").join("libprocess.pid");
    let libprocess_pid = match read_text(&libprocess_path)? {
        Some(text) if !text.is_empty() => Some(
            text.parse::<Upid>()
                .map_err(|e| corrupt(&libprocess_path, e.to_string()))?,
        ),
        _ => None,
    };
    let mut tasks = Vec::new();
    for tid in entries(&run.join("tasks"))? {
        let task_dir = run.join("tasks").join(&tid);
        let Some(task) = read_message::<v0::Task>(&task_dir.join("task.info"))? else {
            // The agent died between making the directory and writing it.
            tracing::warn!(task_id = tid, "No task info checkpointed; skipping it");
            continue;
        };
        let mut updates = Vec::new();
        let mut acks = Vec::new();
        for record in read_records(&task_dir.join("task.updates"))? {
            match msg::status_update_record::Type::try_from(record.r#type) {
                Ok(msg::status_update_record::Type::Update) => match record.update {
                    Some(update) => updates.push(update),
                    None => {
                        return Err(corrupt(
                            &task_dir.join("task.updates"),
                            "an UPDATE record without its update",
                        ));
                    }
                },
                Ok(msg::status_update_record::Type::Ack) => match record.uuid {
                    Some(uuid) => acks.push(uuid),
                    None => {
                        return Err(corrupt(
                            &task_dir.join("task.updates"),
                            "an ACK record without its uuid",
                        ));
                    }
                },
                Err(_) => {
                    return Err(corrupt(
                        &task_dir.join("task.updates"),
                        "a record of unknown type",
                    ));
                }
            }
        }
        tasks.push(RecoveredTask {
            task,
            updates,
            acks,
        });
    }
    Ok(Some(RecoveredExecutor {
        info,
        command_executor,
        container_id,
        forked_pid,
        libprocess_pid,
        http: run.join("http.marker").exists(),
        completed: run.join("executor.sentinel").exists(),
        tasks,
    }))
}

/// This boot's id (`/proc/sys/kernel/random/boot_id`).
pub fn current_boot_id() -> io::Result<String> {
    Ok(std::fs::read_to_string("/proc/sys/kernel/random/boot_id")?
        .trim()
        .to_string())
}

/// `--reconfiguration_policy`: which changes of the agent's info keep its
/// id across a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReconfigurationPolicy {
    /// Nothing may change (Mesos's default).
    Equal,
    /// Resources and attributes may be added, nothing removed.
    Additive,
}

/// Whether the agent may keep its id with `current` info after running
/// with `previous` (Mesos `compatible()`, `src/slave/compatibility.cpp`);
/// the error says what changed.
pub fn compatible(
    previous: &v0::SlaveInfo,
    current: &v0::SlaveInfo,
    policy: ReconfigurationPolicy,
) -> Result<(), String> {
    if previous.hostname != current.hostname {
        return Err(format!(
            "Hostnames differ: {} != {}",
            previous.hostname, current.hostname
        ));
    }
    if previous.port.unwrap_or(5051) != current.port.unwrap_or(5051) {
        return Err(format!(
            "Ports differ: {} != {}",
            previous.port.unwrap_or(5051),
            current.port.unwrap_or(5051)
        ));
    }
    if previous.domain != current.domain {
        return Err("Domains differ".to_string());
    }
    let resources = |info: &v0::SlaveInfo| mesos::resources::Resources::from_wire(&info.resources);
    let (old, new) = match (resources(previous), resources(current)) {
        (Ok(old), Ok(new)) => (old, new),
        _ => return Err("Resources cannot be parsed".to_string()),
    };
    let mut old_attributes: Vec<Vec<u8>> = previous
        .attributes
        .iter()
        .map(|a| a.encode_to_vec())
        .collect();
    let mut new_attributes: Vec<Vec<u8>> = current
        .attributes
        .iter()
        .map(|a| a.encode_to_vec())
        .collect();
    old_attributes.sort();
    new_attributes.sort();
    match policy {
        ReconfigurationPolicy::Equal => {
            if old != new {
                return Err(format!("Resources differ: {old} != {new}"));
            }
            if old_attributes != new_attributes {
                return Err("Attributes differ".to_string());
            }
        }
        ReconfigurationPolicy::Additive => {
            if !new.contains(&old) {
                return Err(format!("New resources {new} do not contain old {old}"));
            }
            if !old_attributes.iter().all(|a| new_attributes.contains(a)) {
                return Err("Attributes were removed".to_string());
            }
        }
    }
    Ok(())
}

/// What a restarting agent goes on with, once [`plan`] has checked the
/// checkpoint against the agent's current flags.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recovery {
    /// The agent to recover (its id is reused); `None` to start as a new
    /// agent.
    pub agent: Option<RecoveredAgent>,
    /// The host rebooted since the checkpoint: no executor survived.
    pub rebooted: bool,
}

/// Decides what to recover, as Mesos's `Slave::recover` does: the
/// checkpointed agent keeps its id when its info is compatible with
/// `current` (under `policy`); an incompatible change is an error, unless
/// the host rebooted, in which case the agent starts afresh as a new agent
/// (and `meta/slaves/latest` is removed to remember that). After a reboot
/// no executor process is looked for.
pub fn plan(
    state: RecoveredState,
    current: &v0::SlaveInfo,
    policy: ReconfigurationPolicy,
    boot_id: Option<&str>,
    meta: &MetaPaths,
) -> Result<Recovery, String> {
    let rebooted = match (&state.boot_id, boot_id) {
        (Some(previous), Some(now)) => previous != now,
        _ => false,
    };
    if state.errors > 0 {
        tracing::warn!("Errors encountered during agent recovery: {}", state.errors);
    }
    let Some(mut agent) = state.agent else {
        return Ok(Recovery {
            agent: None,
            rebooted,
        });
    };
    let Some(previous) = agent.info.clone() else {
        tracing::warn!(agent_id = %agent.id, "No agent info checkpointed; starting as a new agent");
        return Ok(Recovery {
            agent: None,
            rebooted,
        });
    };
    if let Err(change) = compatible(&previous, current, policy) {
        if !rebooted {
            return Err(format!("Incompatible agent info detected: {change}"));
        }
        tracing::warn!("Falling back to recover as a new agent after a reboot: {change}");
        let latest = meta.latest_agent();
        if let Err(e) = std::fs::remove_file(&latest)
            && e.kind() != io::ErrorKind::NotFound
        {
            return Err(format!("Failed to remove '{}': {e}", latest.display()));
        }
        return Ok(Recovery {
            agent: None,
            rebooted,
        });
    }
    if rebooted {
        tracing::info!("The host rebooted since the agent's last run: no executor survived");
        for executor in agent
            .frameworks
            .iter_mut()
            .flat_map(|f| f.executors.iter_mut())
        {
            executor.forked_pid = None;
        }
    }
    Ok(Recovery {
        agent: Some(agent),
        rebooted,
    })
}
