//! Finds the leading master under a `zk://` URL and follows it.
//!
//! The leader is the member of `<path>` with the lowest sequence, whatever
//! its label; its data is decoded by label (`json.info`: JSON, `info`:
//! protobuf, none: a PID). Each change of the children is re-read. When the
//! session is lost (expired, or disconnected for the session timeout) the
//! leader is unknown until a new session says otherwise.

use std::time::Duration;

use tokio::sync::watch;
use zookeeper_client as zk;

use super::{RETRY_INTERVAL, ZkError, ZkUrl};
use crate::wire::mesos::MasterInfo;

/// A running detector.
pub struct Detector {
    leader: watch::Receiver<Option<MasterInfo>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Detector {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Detector {
    /// Starts following the leader under `url`. Must be called within a
    /// tokio runtime.
    pub fn start(url: ZkUrl, session_timeout: Duration) -> Detector {
        let (sender, leader) = watch::channel(None);
        let task = tokio::spawn(run(url, session_timeout, sender));
        Detector { leader, task }
    }

    /// The leader as last detected.
    pub fn leader(&self) -> Option<MasterInfo> {
        self.leader.borrow().clone()
    }

    /// A receiver that sees every change of leader.
    pub fn subscribe(&self) -> watch::Receiver<Option<MasterInfo>> {
        self.leader.clone()
    }

    /// Waits until a leader is known and returns it.
    pub async fn leading(&mut self) -> MasterInfo {
        loop {
            if let Some(info) = self.leader.borrow_and_update().clone() {
                return info;
            }
            if self.leader.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

/// Finds the leader once: connects, reads, and closes the session; gives
/// up after `timeout`.
pub async fn detect_once(url: &ZkUrl, timeout: Duration) -> Result<MasterInfo, String> {
    let mut detector = Detector::start(url.clone(), super::DEFAULT_SESSION_TIMEOUT);
    tokio::time::timeout(timeout, detector.leading())
        .await
        .map_err(|_| format!("no leading master found at {url} within {timeout:?}"))
}

async fn run(url: ZkUrl, session_timeout: Duration, sender: watch::Sender<Option<MasterInfo>>) {
    loop {
        let client = super::connect_retrying(&url, session_timeout).await;
        let reason = tokio::select! {
            reason = super::session_lost(&client) => reason,
            error = follow(&client, &url, &sender) => error.to_string(),
        };
        tracing::warn!("Master detection at {url} interrupted: {reason}");
        super::close(client).await;
        sender.send_if_modified(|leader| {
            let changed = leader.is_some();
            if changed {
                tracing::warn!("Lost the leading master: {reason}");
            }
            *leader = None;
            changed
        });
        tokio::time::sleep(RETRY_INTERVAL).await;
    }
}

/// Follows the leader on one session; returns only on error.
async fn follow(
    client: &zk::Client,
    url: &ZkUrl,
    sender: &watch::Sender<Option<MasterInfo>>,
) -> ZkError {
    loop {
        let (children, watcher) = match client.get_and_watch_children(&url.path).await {
            Ok((children, _, watcher)) => (children, watcher),
            Err(zk::Error::NoNode) => {
                // No master ever ran here: wait for the path to appear.
                publish(sender, None, url);
                match client.check_and_watch_stat(&url.path).await {
                    Ok((Some(_), _)) => continue,
                    Ok((None, watcher)) => {
                        if watcher.changed().await.event_type == zk::EventType::Session {
                            return ZkError::request(&url.path, zk::Error::SessionExpired);
                        }
                        continue;
                    }
                    Err(error) => return ZkError::request(&url.path, error),
                }
            }
            Err(error) => return ZkError::request(&url.path, error),
        };
        let mut leader = None;
        if let Some(member) = super::members(&children).into_iter().next() {
            let path = format!("{}/{}", url.path, member.name);
            match client.get_data(&path).await {
                Ok((data, _)) => match super::decode_master_info(&member, &data) {
                    Ok(info) => leader = Some(info),
                    Err(reason) => {
                        tracing::error!("Failed to detect the leading master: {path}: {reason}");
                    }
                },
                // Gone since the listing: the watch fires with the change.
                Err(zk::Error::NoNode) => {}
                Err(error) => return ZkError::request(&path, error),
            }
        }
        publish(sender, leader, url);
        let event = watcher.changed().await;
        if event.event_type == zk::EventType::Session {
            return ZkError::request(&url.path, zk::Error::SessionExpired);
        }
    }
}

fn publish(sender: &watch::Sender<Option<MasterInfo>>, leader: Option<MasterInfo>, url: &ZkUrl) {
    sender.send_if_modified(|current| {
        if *current == leader {
            return false;
        }
        match &leader {
            Some(info) => tracing::info!(
                "Detected a new leader: {} (id {}) at {url}",
                info.pid.as_deref().unwrap_or("?"),
                info.id
            ),
            None => tracing::info!("No leading master at {url}"),
        }
        *current = leader;
        true
    });
}
