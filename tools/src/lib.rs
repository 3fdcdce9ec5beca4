//! `mesos-local` (a master and agents in one process, the embedded
//! single-node cluster) and `mesos-execute` (run one task from the shell).

use std::net::{SocketAddr, ToSocketAddrs};

/// Resolves a `--master` value: `HOST:PORT` or `master@IP:PORT`.
/// ZooKeeper URLs are refused with a clear message until master
/// detection through ZooKeeper exists.
pub fn resolve_master(master: &str) -> Result<SocketAddr, String> {
    let master = master.trim();
    if master.starts_with("zk://") {
        return Err(format!(
            "Failed to detect a master from '{master}': ZooKeeper detection is not implemented yet; give HOST:PORT"
        ));
    }
    let address = master.rsplit_once('@').map(|(_, a)| a).unwrap_or(master);
    address
        .to_socket_addrs()
        .map_err(|e| format!("Failed to resolve master '{master}': {e}"))?
        .next()
        .ok_or_else(|| format!("Failed to resolve master '{master}'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_forms() {
        assert_eq!(resolve_master("127.0.0.1:5050").unwrap().port(), 5050);
        assert_eq!(
            resolve_master("master@127.0.0.1:5051").unwrap().port(),
            5051
        );
        assert!(resolve_master("localhost:5050").is_ok());
        assert!(
            resolve_master("zk://127.0.0.1:2181/mesos")
                .unwrap_err()
                .contains("ZooKeeper")
        );
        assert!(resolve_master("nonsense").is_err());
    }
}
