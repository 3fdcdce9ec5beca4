//! A master's candidacy for leadership.
//!
//! The contender creates `<path>/json.info_<seq>` (ephemeral, sequential)
//! holding the master's `MasterInfo` as JSON, then watches the member just
//! below it; when no member is below, it leads.
//!
//! ```text
//!   connect ──► create json.info_ ──► lowest? ──yes──► Elected ──► (node or session lost) ──► Lost
//!      ▲                                 │ no
//!      │                                 ▼
//!      └──── session lost ◄──── watch the predecessor (re-check on every change)
//! ```
//!
//! A follower whose session is lost contends again on a new session; a
//! leader's loss is final ([`ContenderEvent::Lost`]): Mesos masters exit
//! then and are restarted by their supervisor.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use zookeeper_client as zk;

use super::{MASTER_INFO_JSON_LABEL, RETRY_INTERVAL, ZkError, ZkUrl};

/// What the contender reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContenderEvent {
    /// This master leads now.
    Elected,
    /// This master led and no longer does; it must stop serving.
    Lost(String),
}

/// A running candidacy.
pub struct Contender {
    /// Elected, then Lost.
    pub events: mpsc::UnboundedReceiver<ContenderEvent>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Contender {
    /// Starts contending under `url.path` with `data` (the `MasterInfo`
    /// JSON). Must be called within a tokio runtime.
    pub fn start(url: ZkUrl, session_timeout: Duration, data: Vec<u8>) -> Contender {
        let (events, receiver) = mpsc::unbounded_channel();
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(run(url, session_timeout, data, events, stopped));
        Contender {
            events: receiver,
            stop: Some(stop),
            task,
        }
    }

    /// Withdraws: closes the session so that the node goes at once (and
    /// another master can take over without waiting for the session
    /// timeout).
    pub async fn withdraw(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(3), &mut self.task).await;
    }
}

async fn run(
    url: ZkUrl,
    session_timeout: Duration,
    data: Vec<u8>,
    events: mpsc::UnboundedSender<ContenderEvent>,
    mut stopped: oneshot::Receiver<()>,
) {
    let mut elected = false;
    loop {
        let client = tokio::select! {
            client = super::connect_retrying(&url, session_timeout) => client,
            _ = &mut stopped => return,
        };
        let outcome = tokio::select! {
            outcome = candidacy(&client, &url, &data, &events, &mut elected) => outcome,
            _ = &mut stopped => {
                super::close(client).await;
                return;
            }
        };
        super::close(client).await;
        if elected {
            let _ = events.send(ContenderEvent::Lost(outcome));
            return;
        }
        tracing::warn!("Lost candidacy as a follower ({outcome}); contending again");
        tokio::time::sleep(RETRY_INTERVAL).await;
    }
}

/// One session's candidacy; returns why it ended.
async fn candidacy(
    client: &zk::Client,
    url: &ZkUrl,
    data: &[u8],
    events: &mpsc::UnboundedSender<ContenderEvent>,
    elected: &mut bool,
) -> String {
    let lost = super::session_lost(client);
    tokio::pin!(lost);
    let work = async {
        if let Err(error) = super::ensure_path(client, url).await {
            return error.to_string();
        }
        let prefix = format!("{}/{MASTER_INFO_JSON_LABEL}_", url.path);
        let options = zk::CreateMode::EphemeralSequential.with_acls(super::acls(url));
        let sequence = match client.create(&prefix, data, &options).await {
            Ok((_, sequence)) => sequence.into_i64(),
            Err(error) => return ZkError::request(&prefix, error).to_string(),
        };
        let own = format!("{MASTER_INFO_JSON_LABEL}_{sequence:010}");
        tracing::info!("Created ZooKeeper node {}/{own}", url.path);
        loop {
            // The listing decides leadership: make sure it is current.
            if let Err(error) = client.sync(&url.path).await {
                return ZkError::request(&url.path, error).to_string();
            }
            let children = match client.list_children(&url.path).await {
                Ok(children) => children,
                Err(error) => return ZkError::request(&url.path, error).to_string(),
            };
            let members = super::members(&children);
            if !members.iter().any(|m| m.sequence == sequence) {
                return format!("our node {}/{own} is gone", url.path);
            }
            let predecessor = members.iter().rev().find(|m| m.sequence < sequence);
            let watched = match predecessor {
                None => {
                    if !*elected {
                        *elected = true;
                        tracing::info!("Elected as the leading master ({}/{own})", url.path);
                        let _ = events.send(ContenderEvent::Elected);
                    }
                    format!("{}/{own}", url.path)
                }
                Some(predecessor) => {
                    tracing::info!(
                        "Following; watching {}/{} ahead of us",
                        url.path,
                        predecessor.name
                    );
                    format!("{}/{}", url.path, predecessor.name)
                }
            };
            let watcher = match client.check_and_watch_stat(&watched).await {
                Ok((Some(_), watcher)) => watcher,
                Ok((None, _)) => continue,
                Err(error) => return ZkError::request(&watched, error).to_string(),
            };
            let event = watcher.changed().await;
            if event.event_type == zk::EventType::Session {
                return format!("ZooKeeper session ended ({:?})", event.session_state);
            }
        }
    };
    tokio::select! {
        reason = &mut lost => reason,
        reason = work => reason,
    }
}
