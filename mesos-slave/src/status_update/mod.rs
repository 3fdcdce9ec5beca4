//! The task status update manager: every update an executor (or the agent
//! itself) produces reaches the master, in order, exactly once acknowledged.
//!
//! One stream per task. The front of a stream is forwarded and then resent
//! with a doubling interval (10 s up to 10 min) until the master
//! acknowledges its uuid; only then is the next update forwarded. While the
//! agent is disconnected the manager is paused: nothing is forwarded, and
//! on [`StatusUpdateManager::resume`] the front of every stream goes out
//! again.
//!
//! ```text
//!   update ──> [pending queue] ──front──> forward ──(no ack in interval)──> resend
//!                                  ^                      │
//!                                  └──── next ◄── ack(uuid of front)
//! ```
//!
//! The manager is pure: it does no I/O and takes the time as an argument.
//! What it returns is what the agent must send.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use mesos::ids::{FrameworkId, TaskId};
use mesos::wire::mesos::TaskState;
use mesos::wire::mesos::internal::StatusUpdate;

/// The first resend interval (Mesos `STATUS_UPDATE_RETRY_INTERVAL_MIN`).
pub const RETRY_INTERVAL_MIN: Duration = Duration::from_secs(10);

/// The largest resend interval (Mesos `STATUS_UPDATE_RETRY_INTERVAL_MAX`).
pub const RETRY_INTERVAL_MAX: Duration = Duration::from_secs(600);

/// Whether a task state is terminal.
pub fn is_terminal(state: i32) -> bool {
    matches!(
        TaskState::try_from(state),
        Ok(TaskState::TaskFinished
            | TaskState::TaskFailed
            | TaskState::TaskKilled
            | TaskState::TaskError
            | TaskState::TaskLost
            | TaskState::TaskDropped
            | TaskState::TaskGone
            | TaskState::TaskGoneByOperator)
    )
}

/// Why an update or acknowledgement was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusUpdateError {
    /// The update carries no uuid, so it could never be acknowledged.
    #[error("status update for task {0} has no uuid")]
    MissingUuid(TaskId),
    /// The stream already holds a terminal update.
    #[error("status update for task {0} after its terminal update")]
    AfterTerminal(TaskId),
    /// No stream exists for the task.
    #[error("no status update stream for task {0}")]
    UnknownStream(TaskId),
    /// The uuid is not the one awaiting acknowledgement.
    #[error("unexpected acknowledgement for task {task}: not the pending update")]
    UnexpectedAck {
        /// The task whose stream got the acknowledgement.
        task: TaskId,
    },
}

/// What an acknowledgement changed.
#[derive(Debug, Default)]
pub struct Acknowledged {
    /// The next update of the stream, to forward now (unless paused).
    pub next: Option<StatusUpdate>,
    /// The acknowledged update was terminal: the stream is closed and the
    /// task can be archived.
    pub terminal: bool,
}

#[derive(Debug)]
struct Stream {
    /// Updates not yet acknowledged; the front is the one in flight.
    pending: VecDeque<StatusUpdate>,
    /// Uuids received so far, to drop duplicates (executors resend).
    received: HashSet<Bytes>,
    /// A terminal update has been received.
    terminated: bool,
    /// When the front is due to be resent; `None` when nothing is in flight.
    resend_at: Option<Instant>,
    /// The interval that will follow the next resend.
    interval: Duration,
}

impl Stream {
    fn new() -> Stream {
        Stream {
            pending: VecDeque::new(),
            received: HashSet::new(),
            terminated: false,
            resend_at: None,
            interval: RETRY_INTERVAL_MIN,
        }
    }

    /// Marks the front as sent at `now` and returns it.
    fn send_front(&mut self, now: Instant) -> Option<StatusUpdate> {
        let front = self.pending.front()?.clone();
        self.resend_at = Some(now + self.interval);
        Some(front)
    }
}

type StreamKey = (FrameworkId, TaskId);

/// Per-task ordered, acknowledged delivery of status updates.
#[derive(Debug, Default)]
pub struct StatusUpdateManager {
    streams: HashMap<StreamKey, Stream>,
    /// While paused (agent not registered), nothing is forwarded.
    paused: bool,
}

fn key_of(update: &StatusUpdate) -> StreamKey {
    (
        FrameworkId::from(&update.framework_id),
        TaskId::from(&update.status.task_id),
    )
}

impl StatusUpdateManager {
    /// A manager that starts paused, as the agent starts unregistered.
    pub fn new() -> StatusUpdateManager {
        StatusUpdateManager {
            streams: HashMap::new(),
            paused: true,
        }
    }

    /// Takes a new update. Returns it if it should be forwarded now (it is
    /// the stream's only pending update and the manager is not paused);
    /// `Ok(None)` for a duplicate or a queued update.
    pub fn update(
        &mut self,
        update: StatusUpdate,
        now: Instant,
    ) -> Result<Option<StatusUpdate>, StatusUpdateError> {
        let key = key_of(&update);
        let Some(uuid) = update.uuid.clone() else {
            return Err(StatusUpdateError::MissingUuid(key.1));
        };
        let stream = self.streams.entry(key.clone()).or_insert_with(Stream::new);
        if stream.received.contains(&uuid) {
            return Ok(None);
        }
        if stream.terminated {
            return Err(StatusUpdateError::AfterTerminal(key.1));
        }
        stream.received.insert(uuid);
        stream.terminated = is_terminal(update.status.state);
        stream.pending.push_back(update);
        if stream.pending.len() == 1 && !self.paused {
            stream.interval = RETRY_INTERVAL_MIN;
            return Ok(stream.send_front(now));
        }
        Ok(None)
    }

    /// Takes the master's acknowledgement of `uuid` for a task.
    pub fn acknowledge(
        &mut self,
        framework_id: &FrameworkId,
        task_id: &TaskId,
        uuid: &[u8],
        now: Instant,
    ) -> Result<Acknowledged, StatusUpdateError> {
        let key = (framework_id.clone(), task_id.clone());
        let Some(stream) = self.streams.get_mut(&key) else {
            return Err(StatusUpdateError::UnknownStream(task_id.clone()));
        };
        let front_uuid = stream.pending.front().and_then(|u| u.uuid.as_deref());
        if front_uuid != Some(uuid) {
            return Err(StatusUpdateError::UnexpectedAck {
                task: task_id.clone(),
            });
        }
        let acked = stream.pending.pop_front();
        let terminal = acked.is_some_and(|u| is_terminal(u.status.state));
        stream.resend_at = None;
        stream.interval = RETRY_INTERVAL_MIN;
        if terminal {
            self.streams.remove(&key);
            return Ok(Acknowledged {
                next: None,
                terminal: true,
            });
        }
        let next = if self.paused {
            None
        } else {
            stream.send_front(now)
        };
        Ok(Acknowledged {
            next,
            terminal: false,
        })
    }

    /// Stops forwarding (the agent lost its master).
    pub fn pause(&mut self) {
        self.paused = true;
        for stream in self.streams.values_mut() {
            stream.resend_at = None;
        }
    }

    /// Starts forwarding again: returns the front of every stream.
    pub fn resume(&mut self, now: Instant) -> Vec<StatusUpdate> {
        self.paused = false;
        let mut out = Vec::new();
        for stream in self.streams.values_mut() {
            stream.interval = RETRY_INTERVAL_MIN;
            out.extend(stream.send_front(now));
        }
        out
    }

    /// Returns the updates due to be resent at `now`, doubling their
    /// interval.
    pub fn tick(&mut self, now: Instant) -> Vec<StatusUpdate> {
        if self.paused {
            return Vec::new();
        }
        let mut out = Vec::new();
        for stream in self.streams.values_mut() {
            if stream.resend_at.is_some_and(|at| at <= now) {
                stream.interval = (stream.interval * 2).min(RETRY_INTERVAL_MAX);
                out.extend(stream.send_front(now));
            }
        }
        out
    }

    /// The earliest time [`StatusUpdateManager::tick`] has work.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.paused {
            return None;
        }
        self.streams.values().filter_map(|s| s.resend_at).min()
    }

    /// Drops every stream of a framework (it was shut down).
    pub fn cleanup(&mut self, framework_id: &FrameworkId) {
        self.streams.retain(|(f, _), _| f != framework_id);
    }

    /// Whether a framework still has updates awaiting acknowledgement.
    pub fn has_streams(&self, framework_id: &FrameworkId) -> bool {
        self.streams.keys().any(|(f, _)| f == framework_id)
    }

    /// Whether the update with `uuid` was taken for the task already (a
    /// duplicate, which is neither checkpointed nor forwarded again).
    pub fn has_received(&self, framework_id: &FrameworkId, task_id: &TaskId, uuid: &[u8]) -> bool {
        self.streams
            .get(&(framework_id.clone(), task_id.clone()))
            .is_some_and(|s| s.received.contains(uuid))
    }

    /// Rebuilds a task's stream from its checkpoint: every update was
    /// received; those whose uuid was not acknowledged are pending, in
    /// order. A stream whose terminal update was acknowledged is closed,
    /// so nothing is kept. Returns whether the stream is still open.
    pub fn recover(
        &mut self,
        framework_id: &FrameworkId,
        task_id: &TaskId,
        updates: &[StatusUpdate],
        acks: &[Bytes],
    ) -> bool {
        let mut stream = Stream::new();
        for update in updates {
            let Some(uuid) = update.uuid.clone() else {
                continue;
            };
            stream.terminated |= is_terminal(update.status.state);
            stream.received.insert(uuid.clone());
            if !acks.contains(&uuid) {
                stream.pending.push_back(update.clone());
            }
        }
        if stream.pending.is_empty() && (stream.terminated || stream.received.is_empty()) {
            return false;
        }
        self.streams
            .insert((framework_id.clone(), task_id.clone()), stream);
        true
    }

    /// The update awaiting acknowledgement for a task, if any.
    pub fn pending_front(
        &self,
        framework_id: &FrameworkId,
        task_id: &TaskId,
    ) -> Option<&StatusUpdate> {
        self.streams
            .get(&(framework_id.clone(), task_id.clone()))
            .and_then(|s| s.pending.front())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos::wire::mesos as v0;

    fn update(task: &str, state: TaskState, uuid: u8) -> StatusUpdate {
        StatusUpdate {
            framework_id: v0::FrameworkId { value: "F".into() },
            status: v0::TaskStatus {
                task_id: v0::TaskId { value: task.into() },
                state: state as i32,
                uuid: Some(Bytes::from(vec![uuid])),
                ..Default::default()
            },
            uuid: Some(Bytes::from(vec![uuid])),
            ..Default::default()
        }
    }

    fn fid() -> FrameworkId {
        FrameworkId::new("F")
    }

    fn running(now: Instant) -> StatusUpdateManager {
        let mut m = StatusUpdateManager::new();
        assert!(m.resume(now).is_empty());
        m
    }

    #[test]
    fn forwards_in_order_one_at_a_time() {
        let t0 = Instant::now();
        let mut m = running(t0);
        let first = m
            .update(update("t", TaskState::TaskStarting, 1), t0)
            .unwrap();
        assert_eq!(first.unwrap().uuid.unwrap()[..], [1]);
        assert!(
            m.update(update("t", TaskState::TaskRunning, 2), t0)
                .unwrap()
                .is_none()
        );
        assert!(
            m.update(update("t", TaskState::TaskFinished, 3), t0)
                .unwrap()
                .is_none()
        );

        // Acknowledging out of order is refused.
        let err = m
            .acknowledge(&fid(), &TaskId::new("t"), &[2], t0)
            .unwrap_err();
        assert!(matches!(err, StatusUpdateError::UnexpectedAck { .. }));

        let ack = m.acknowledge(&fid(), &TaskId::new("t"), &[1], t0).unwrap();
        assert_eq!(ack.next.unwrap().uuid.unwrap()[..], [2]);
        let ack = m.acknowledge(&fid(), &TaskId::new("t"), &[2], t0).unwrap();
        assert_eq!(ack.next.unwrap().uuid.unwrap()[..], [3]);
        let ack = m.acknowledge(&fid(), &TaskId::new("t"), &[3], t0).unwrap();
        assert!(ack.terminal && ack.next.is_none());
        assert!(!m.has_streams(&fid()));
    }

    #[test]
    fn streams_of_different_tasks_are_independent() {
        let t0 = Instant::now();
        let mut m = running(t0);
        assert!(
            m.update(update("a", TaskState::TaskRunning, 1), t0)
                .unwrap()
                .is_some()
        );
        assert!(
            m.update(update("b", TaskState::TaskRunning, 2), t0)
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn resends_with_doubling_interval_until_acknowledged() {
        let t0 = Instant::now();
        let mut m = running(t0);
        m.update(update("t", TaskState::TaskRunning, 1), t0)
            .unwrap();
        assert_eq!(m.next_deadline(), Some(t0 + Duration::from_secs(10)));
        assert!(m.tick(t0 + Duration::from_secs(9)).is_empty());

        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(m.tick(t1).len(), 1);
        assert_eq!(m.next_deadline(), Some(t1 + Duration::from_secs(20)));
        let t2 = t1 + Duration::from_secs(20);
        assert_eq!(m.tick(t2).len(), 1);
        assert_eq!(m.next_deadline(), Some(t2 + Duration::from_secs(40)));

        // The interval stops growing at ten minutes.
        let mut t = t2;
        for _ in 0..10 {
            t = m.next_deadline().unwrap();
            assert_eq!(m.tick(t).len(), 1);
        }
        assert_eq!(m.next_deadline(), Some(t + RETRY_INTERVAL_MAX));

        m.acknowledge(&fid(), &TaskId::new("t"), &[1], t).unwrap();
        assert_eq!(m.next_deadline(), None);
    }

    #[test]
    fn drops_duplicates_and_updates_after_terminal() {
        let t0 = Instant::now();
        let mut m = running(t0);
        m.update(update("t", TaskState::TaskFinished, 1), t0)
            .unwrap();
        assert!(
            m.update(update("t", TaskState::TaskFinished, 1), t0)
                .unwrap()
                .is_none()
        );
        assert_eq!(
            m.update(update("t", TaskState::TaskRunning, 2), t0),
            Err(StatusUpdateError::AfterTerminal(TaskId::new("t")))
        );
        let mut no_uuid = update("u", TaskState::TaskRunning, 3);
        no_uuid.uuid = None;
        assert!(matches!(
            m.update(no_uuid, t0),
            Err(StatusUpdateError::MissingUuid(_))
        ));
    }

    #[test]
    fn paused_manager_holds_updates_until_resumed() {
        let t0 = Instant::now();
        let mut m = StatusUpdateManager::new();
        assert!(
            m.update(update("t", TaskState::TaskRunning, 1), t0)
                .unwrap()
                .is_none()
        );
        assert!(m.tick(t0 + Duration::from_secs(3600)).is_empty());
        assert_eq!(m.next_deadline(), None);
        let resumed = m.resume(t0);
        assert_eq!(resumed.len(), 1);

        m.pause();
        assert_eq!(m.next_deadline(), None);
        assert_eq!(m.resume(t0).len(), 1);
    }

    #[test]
    fn cleanup_drops_a_frameworks_streams() {
        let t0 = Instant::now();
        let mut m = running(t0);
        m.update(update("t", TaskState::TaskRunning, 1), t0)
            .unwrap();
        assert!(m.has_streams(&fid()));
        m.cleanup(&fid());
        assert!(!m.has_streams(&fid()));
        assert!(m.pending_front(&fid(), &TaskId::new("t")).is_none());
    }
}
