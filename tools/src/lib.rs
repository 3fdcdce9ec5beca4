//! `mesos-local` (a master and agents in one process, the embedded
//! single-node cluster) and `mesos-execute` (run one task from the shell).

use std::net::SocketAddr;
use std::time::Duration;

/// How long the tools wait for ZooKeeper to name a leader.
pub const DETECTION_TIMEOUT: Duration = Duration::from_secs(30);

/// Resolves a `--master` value: `HOST:PORT`, `master@IP:PORT`, or
/// `zk://host:port,.../path` (the leader is detected in ZooKeeper).
pub async fn resolve_master(master: &str) -> Result<SocketAddr, String> {
    mesos::http_scheduler::resolve_master(master, DETECTION_TIMEOUT)
        .await
        .map_err(|e| format!("Failed to resolve master '{}': {e}", master.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn master_forms() {
        assert_eq!(resolve_master("127.0.0.1:5050").await.unwrap().port(), 5050);
        assert_eq!(
            resolve_master("master@127.0.0.1:5051")
                .await
                .unwrap()
                .port(),
            5051
        );
        assert!(resolve_master("localhost:5050").await.is_ok());
        assert!(
            resolve_master("zk://127.0.0.1:2181")
                .await
                .unwrap_err()
                .contains("'/' is not supported")
        );
        assert!(resolve_master("nonsense").await.is_err());
    }
}
