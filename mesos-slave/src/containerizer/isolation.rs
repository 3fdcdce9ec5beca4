//! `--isolation`: the Mesos containerizer's isolators by their Mesos names.
//!
//! Provided: `posix/cpu`, `posix/mem` (no enforcement, as in Mesos),
//! `cgroups/cpu`, `cgroups/mem`, `cgroups/pids` and `cgroups/all` (those
//! three), `namespaces/pid`. Other isolators Mesos knows are accepted with a warning that
//! they have no effect here; names Mesos does not know are refused, as
//! Mesos refuses them.

use super::cgroups::CgroupsConfig;

/// Every isolator name Mesos 1.11 accepts.
const MESOS_ISOLATORS: &[&str] = &[
    "posix/cpu",
    "posix/mem",
    "posix/disk",
    "posix/rlimits",
    "cgroups/all",
    "cgroups/blkio",
    "cgroups/cpu",
    "cgroups/cpuset",
    "cgroups/devices",
    "cgroups/hugetlb",
    "cgroups/mem",
    "cgroups/net_cls",
    "cgroups/net_prio",
    "cgroups/perf_event",
    "cgroups/pids",
    "filesystem/posix",
    "filesystem/linux",
    "filesystem/shared",
    "filesystem/windows",
    "appc/runtime",
    "docker/runtime",
    "docker/volume",
    "linux/devices",
    "linux/capabilities",
    "linux/nnp",
    "linux/seccomp",
    "namespaces/ipc",
    "namespaces/pid",
    "volume/sandbox_path",
    "volume/host_path",
    "volume/image",
    "volume/secret",
    "volume/csi",
    "disk/du",
    "disk/xfs",
    "gpu/nvidia",
    "network/cni",
    "network/port_mapping",
    "network/ports",
    "environment_secret",
    "windows/cpu",
    "windows/mem",
];

/// Isolators whose effect this agent provides.
const PROVIDED: &[&str] = &[
    "posix/cpu",
    "posix/mem",
    "cgroups/all",
    "cgroups/cpu",
    "cgroups/mem",
    "cgroups/pids",
    "namespaces/pid",
    // The sandbox is the executor's working directory.
    "filesystem/posix",
];

/// The isolators of `--isolation`, ready for the containerizer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Isolation {
    /// The names as given, in order, duplicates dropped.
    pub names: Vec<String>,
    /// What the `cgroups/*` isolators do.
    pub cgroups: CgroupsConfig,
    /// `namespaces/pid`: executors in pid namespaces of their own.
    pub pid_namespace: bool,
}

/// Why `--isolation` cannot be honoured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IsolationError {
    /// A name Mesos does not know.
    #[error("Unknown or unsupported isolator '{0}'")]
    Unknown(String),
}

impl Isolation {
    /// Parses `--isolation` (comma-separated names); `cgroups` carries the
    /// `--cgroups_*` flags and gets the isolators switched on. Returns the
    /// isolation and the names accepted without effect.
    pub fn parse(
        text: &str,
        mut cgroups: CgroupsConfig,
    ) -> Result<(Isolation, Vec<String>), IsolationError> {
        let mut names: Vec<String> = Vec::new();
        let mut ignored = Vec::new();
        let mut pid_namespace = false;
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if !MESOS_ISOLATORS.contains(&name) {
                return Err(IsolationError::Unknown(name.to_string()));
            }
            if names.iter().any(|n| n == name) {
                continue;
            }
            names.push(name.to_string());
            match name {
                "cgroups/cpu" => cgroups.cpu = true,
                "cgroups/mem" => cgroups.mem = true,
                "cgroups/pids" => cgroups.pids = true,
                "namespaces/pid" => pid_namespace = true,
                "cgroups/all" => {
                    cgroups.cpu = true;
                    cgroups.mem = true;
                    cgroups.pids = true;
                }
                _ if PROVIDED.contains(&name) => {}
                _ => ignored.push(name.to_string()),
            }
        }
        Ok((
            Isolation {
                names,
                cgroups,
                pid_namespace,
            },
            ignored,
        ))
    }

    /// The default, `posix/cpu,posix/mem`: no enforcement.
    pub fn posix() -> Isolation {
        Isolation {
            names: vec!["posix/cpu".into(), "posix/mem".into()],
            cgroups: CgroupsConfig::new(),
            pid_namespace: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mesos_names() {
        let (isolation, ignored) =
            Isolation::parse("cgroups/cpu,cgroups/mem", CgroupsConfig::new()).unwrap();
        assert!(isolation.cgroups.cpu && isolation.cgroups.mem && !isolation.cgroups.pids);
        assert!(ignored.is_empty());

        let (isolation, ignored) = Isolation::parse(
            "cgroups/all, namespaces/pid,posix/cpu,cgroups/all",
            CgroupsConfig::new(),
        )
        .unwrap();
        assert!(isolation.cgroups.cpu && isolation.cgroups.mem && isolation.cgroups.pids);
        assert!(isolation.pid_namespace);
        assert!(ignored.is_empty());
        assert_eq!(isolation.names.len(), 3);
        let (_, ignored) = Isolation::parse("docker/runtime", CgroupsConfig::new()).unwrap();
        assert_eq!(ignored, vec!["docker/runtime".to_string()]);

        let (posix, _) = Isolation::parse("posix/cpu,posix/mem", CgroupsConfig::new()).unwrap();
        assert!(!posix.cgroups.enabled());
        assert_eq!(posix, Isolation::posix());
    }

    #[test]
    fn refuses_unknown_names() {
        assert_eq!(
            Isolation::parse("cgroups/cpu,cgroups/bogus", CgroupsConfig::new()),
            Err(IsolationError::Unknown("cgroups/bogus".into()))
        );
    }
}
