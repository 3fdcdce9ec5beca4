//! ZooKeeper as Mesos uses it: `zk://` URLs, the masters' leader election
//! and the detection of the leading master.
//!
//! - [`url`]: `zk://[user:password@]host:port,.../path` and `file://`.
//! - [`contender`]: a master's candidacy, an ephemeral sequential node
//!   `<path>/json.info_<seq>` holding its `MasterInfo` as JSON; the lowest
//!   sequence leads.
//! - [`detector`]: who leads, followed as it changes; what agents,
//!   schedulers and non-leading masters use.
//!
//! The masters' nodes, as Mesos 1.11 lays them out:
//!
//! ```text
//!   /mesos                         persistent, created on demand
//!   /mesos/json.info_0000000007    ephemeral sequential: MasterInfo as JSON
//!   /mesos/json.info_0000000009    (the lowest sequence leads)
//! ```
//!
//! Sessions are watched with a timer of our own: the client library
//! reports `Expired` only well after the server expired the session (and
//! another master may lead by then), so a session disconnected for the
//! negotiated session timeout counts as lost.

pub mod contender;
pub mod detector;
pub mod url;

use std::time::Duration;

use zookeeper_client as zk;

use crate::wire::mesos::MasterInfo;
pub use url::{UrlError, ZkUrl};

/// `--zk_session_timeout`'s default, and the detectors' session timeout.
pub const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(10);

/// The label of the masters' nodes since Mesos 0.24 (`json.info_<seq>`).
pub const MASTER_INFO_JSON_LABEL: &str = "json.info";

/// The label of Mesos 0.23's nodes (binary `MasterInfo`).
pub const MASTER_INFO_LABEL: &str = "info";

/// How long to wait before trying ZooKeeper again after a failure.
const RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// What went wrong talking to ZooKeeper.
#[derive(Debug, thiserror::Error)]
pub enum ZkError {
    /// Connecting (or authenticating) failed.
    #[error("Failed to connect to ZooKeeper at {servers}: {reason}")]
    Connect {
        /// The servers tried.
        servers: String,
        /// The client's error.
        reason: String,
    },
    /// A request failed.
    #[error("ZooKeeper request on '{path}' failed: {source}")]
    Request {
        /// The node.
        path: String,
        /// The client's error.
        source: zk::Error,
    },
    /// A node's content is not what Mesos writes.
    #[error("Invalid content in '{path}': {reason}")]
    Content {
        /// The node.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl ZkError {
    fn request(path: &str, source: zk::Error) -> ZkError {
        ZkError::Request {
            path: path.to_string(),
            source,
        }
    }
}

/// Mesos's ACL when credentials are given (`EVERYONE_READ_CREATOR_ALL`).
static EVERYONE_READ_CREATOR_ALL: [zk::Acl; 2] = [
    zk::Acl::new_const(zk::Permission::ALL, "auth", ""),
    zk::Acl::new_const(zk::Permission::READ, "world", "anyone"),
];

/// The ACL for the nodes created under `url`: open without credentials,
/// world-readable and creator-writable with them.
pub fn acls(url: &ZkUrl) -> zk::Acls<'static> {
    if url.credentials.is_some() {
        zk::Acls::new(&EVERYONE_READ_CREATOR_ALL)
    } else {
        zk::Acls::anyone_all()
    }
}

/// Opens a session on `url`'s servers with `url`'s credentials. No chroot:
/// the URL's path is a prefix, as in Mesos.
pub async fn connect(url: &ZkUrl, session_timeout: Duration) -> Result<zk::Client, ZkError> {
    let mut connector = zk::Client::connector().with_session_timeout(session_timeout);
    if let Some(credentials) = &url.credentials {
        connector = connector.with_auth("digest", credentials.as_bytes());
    }
    connector
        .connect(&url.servers)
        .await
        .map_err(|e| ZkError::Connect {
            servers: url.servers.clone(),
            reason: e.to_string(),
        })
}

/// [`connect`], retried until it succeeds; each failure is logged.
pub async fn connect_retrying(url: &ZkUrl, session_timeout: Duration) -> zk::Client {
    loop {
        match connect(url, session_timeout).await {
            Ok(client) => {
                tracing::info!(
                    "Connected to ZooKeeper at {} (session {:#x}, timeout {:?})",
                    url.servers,
                    client.session_id().0,
                    client.session_timeout()
                );
                return client;
            }
            Err(error) => {
                tracing::error!("{error}; retrying in {RETRY_INTERVAL:?}");
                tokio::time::sleep(RETRY_INTERVAL).await;
            }
        }
    }
}

/// Creates `url.path` and its parents when missing.
pub async fn ensure_path(client: &zk::Client, url: &ZkUrl) -> Result<(), ZkError> {
    let options = zk::CreateMode::Persistent.with_acls(acls(url));
    match client.mkdir(&url.path, &options).await {
        Ok(()) | Err(zk::Error::NodeExists) => Ok(()),
        Err(error) => Err(ZkError::request(&url.path, error)),
    }
}

/// A member node of the masters' group: `[label_]<sequence>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The child's name (`json.info_0000000003`).
    pub name: String,
    /// Its label (`json.info`), if any.
    pub label: Option<String>,
    /// Its sequence number.
    pub sequence: i64,
}

impl Member {
    /// Parses a child name as Mesos does: the last `_`-separated token is
    /// the sequence, the first (when there are several) the label. Names
    /// whose last token is not a number are not members (`log_replicas`).
    pub fn parse(name: &str) -> Option<Member> {
        let tokens: Vec<&str> = name.split('_').collect();
        let last = tokens.last()?;
        if last.is_empty() || !last.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let sequence = last.parse().ok()?;
        let label = (tokens.len() > 1).then(|| tokens[0].to_string());
        Some(Member {
            name: name.to_string(),
            label,
            sequence,
        })
    }
}

/// The members among `children`, lowest sequence (the leader) first.
pub fn members(children: &[String]) -> Vec<Member> {
    let mut members: Vec<Member> = children.iter().filter_map(|c| Member::parse(c)).collect();
    members.sort_by_key(|m| m.sequence);
    members
}

/// Decodes a member's data by its label: JSON (`json.info`), binary
/// protobuf (`info`), or a bare PID (no label).
pub fn decode_master_info(member: &Member, data: &[u8]) -> Result<MasterInfo, String> {
    match member.label.as_deref() {
        Some(MASTER_INFO_JSON_LABEL) => {
            crate::wire::json::from_json_slice::<MasterInfo>(data).map_err(|e| e.to_string())
        }
        Some(MASTER_INFO_LABEL) => {
            crate::wire::decode_checked::<MasterInfo>(data).map_err(|e| e.to_string())
        }
        None => {
            let text = std::str::from_utf8(data).map_err(|e| e.to_string())?.trim();
            let pid: crate::upid::Upid = text.parse().map_err(|e| format!("{e}"))?;
            let ip = match pid.address.ip() {
                std::net::IpAddr::V4(v4) => u32::from_le_bytes(v4.octets()),
                std::net::IpAddr::V6(_) => 0,
            };
            Ok(MasterInfo {
                id: String::new(),
                ip,
                port: u32::from(pid.address.port()),
                pid: Some(pid.to_string()),
                ..Default::default()
            })
        }
        Some(other) => Err(format!("unknown label '{other}'")),
    }
}

/// The libprocess address of a detected master: its `pid`, else its
/// `address`, else its legacy `ip`/`port`.
pub fn master_upid(info: &MasterInfo) -> Option<crate::upid::Upid> {
    if let Some(pid) = info.pid.as_deref().and_then(|p| p.parse().ok()) {
        return Some(pid);
    }
    let address = info.address.as_ref();
    let ip: std::net::Ipv4Addr = match address.and_then(|a| a.ip.as_deref()) {
        Some(ip) => ip.parse().ok()?,
        None => std::net::Ipv4Addr::from(info.ip.to_le_bytes()),
    };
    let port = address.map(|a| a.port as u32).unwrap_or(info.port);
    format!("master@{ip}:{port}").parse().ok()
}

/// Waits until `client`'s session is lost: a terminal state, or
/// disconnected for the negotiated session timeout. Returns why.
pub async fn session_lost(client: &zk::Client) -> String {
    let timeout = client.session_timeout();
    let mut states = client.state_watcher();
    let mut deadline: Option<tokio::time::Instant> = match states.peek_state() {
        zk::SessionState::Disconnected => Some(tokio::time::Instant::now() + timeout),
        _ => None,
    };
    loop {
        let state = match deadline {
            Some(at) => tokio::select! {
                state = states.changed() => state,
                () = tokio::time::sleep_until(at) => {
                    return format!("disconnected from ZooKeeper for the session timeout ({timeout:?})");
                }
            },
            None => states.changed().await,
        };
        match state {
            zk::SessionState::Disconnected => {
                tracing::warn!("Disconnected from ZooKeeper");
                deadline.get_or_insert(tokio::time::Instant::now() + timeout);
            }
            zk::SessionState::SyncConnected | zk::SessionState::ConnectedReadOnly => {
                if deadline.take().is_some() {
                    tracing::info!("Reconnected to ZooKeeper");
                }
            }
            zk::SessionState::Expired => return "ZooKeeper session expired".into(),
            zk::SessionState::AuthFailed => return "ZooKeeper authentication failed".into(),
            zk::SessionState::Closed => return "ZooKeeper session closed".into(),
        }
    }
}

/// Closes `client`'s session and waits (briefly) until the server has
/// taken note, so that its ephemeral nodes go at once.
pub async fn close(client: zk::Client) {
    let mut states = client.state_watcher();
    drop(client);
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            if matches!(
                states.changed().await,
                zk::SessionState::Closed | zk::SessionState::Expired | zk::SessionState::AuthFailed
            ) {
                return;
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_names() {
        let m = Member::parse("json.info_0000000042").unwrap();
        assert_eq!(m.label.as_deref(), Some("json.info"));
        assert_eq!(m.sequence, 42);
        assert_eq!(Member::parse("0000000007").unwrap().label, None);
        assert!(Member::parse("log_replicas").is_none());
        assert!(Member::parse("json.info_").is_none());
        let ordered = members(&[
            "json.info_0000000010".into(),
            "log_replicas".into(),
            "info_0000000003".into(),
            "json.info_0000000005".into(),
        ]);
        let names: Vec<_> = ordered.iter().map(|m| m.sequence).collect();
        assert_eq!(names, [3, 5, 10]);
    }

    #[test]
    fn decodes_each_label() {
        let info = MasterInfo {
            id: "id".into(),
            ip: 16777343,
            port: 5050,
            pid: Some("master@127.0.0.1:5050".into()),
            ..Default::default()
        };
        let json = crate::wire::json::to_json_string(&info);
        let member = Member::parse("json.info_0000000001").unwrap();
        assert_eq!(decode_master_info(&member, json.as_bytes()).unwrap(), info);
        let member = Member::parse("info_0000000001").unwrap();
        let bytes = prost::Message::encode_to_vec(&info);
        assert_eq!(decode_master_info(&member, &bytes).unwrap(), info);
        let member = Member::parse("0000000001").unwrap();
        let pid = decode_master_info(&member, b"master@127.0.0.1:5050").unwrap();
        assert_eq!(
            master_upid(&pid).unwrap().to_string(),
            "master@127.0.0.1:5050"
        );
        assert_eq!(pid.ip, 16777343);
        let member = Member::parse("other_0000000001").unwrap();
        assert!(decode_master_info(&member, b"").is_err());
        let member = Member::parse("json.info_0000000001").unwrap();
        assert!(decode_master_info(&member, b"{not json").is_err());
    }

    #[test]
    fn upid_from_address_or_ip() {
        let info = MasterInfo {
            ip: 16777343,
            port: 5051,
            ..Default::default()
        };
        assert_eq!(
            master_upid(&info).unwrap().to_string(),
            "master@127.0.0.1:5051"
        );
        let info = MasterInfo {
            address: Some(crate::wire::mesos::Address {
                ip: Some("127.0.0.2".into()),
                port: 5052,
                hostname: None,
            }),
            ..Default::default()
        };
        assert_eq!(
            master_upid(&info).unwrap().to_string(),
            "master@127.0.0.2:5052"
        );
    }
}
