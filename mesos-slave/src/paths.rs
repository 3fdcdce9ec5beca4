//! The agent's directory layout under `--work_dir`, as Mesos 1.11 lays it
//! out (`src/slave/paths.cpp`):
//!
//! ```text
//! <work_dir>/slaves/<agent_id>/frameworks/<framework_id>/executors/<executor_id>/runs/<container_id>
//! <work_dir>/slaves/<agent_id>/frameworks/<framework_id>/executors/<executor_id>/runs/latest -> <container_id>
//! ```

use std::io;
use std::path::{Path, PathBuf};

/// The name of the symlink to an executor's current run.
pub const LATEST: &str = "latest";

/// `<work_dir>/slaves/<agent_id>`.
pub fn agent_dir(work_dir: &Path, agent_id: &str) -> PathBuf {
    work_dir.join("slaves").join(agent_id)
}

/// `<work_dir>/slaves/<agent_id>/frameworks/<framework_id>`.
pub fn framework_dir(work_dir: &Path, agent_id: &str, framework_id: &str) -> PathBuf {
    agent_dir(work_dir, agent_id)
        .join("frameworks")
        .join(framework_id)
}

/// `.../frameworks/<framework_id>/executors/<executor_id>`.
pub fn executor_dir(
    work_dir: &Path,
    agent_id: &str,
    framework_id: &str,
    executor_id: &str,
) -> PathBuf {
    framework_dir(work_dir, agent_id, framework_id)
        .join("executors")
        .join(executor_id)
}

/// The sandbox of one executor run:
/// `.../executors/<executor_id>/runs/<container_id>`.
pub fn sandbox_dir(
    work_dir: &Path,
    agent_id: &str,
    framework_id: &str,
    executor_id: &str,
    container_id: &str,
) -> PathBuf {
    executor_dir(work_dir, agent_id, framework_id, executor_id)
        .join("runs")
        .join(container_id)
}

/// Whether an id can be used as one path component: ids come from
/// frameworks, so `..` or a `/` would escape the work directory.
pub fn is_safe_component(id: &str) -> bool {
    !id.is_empty() && id != "." && id != ".." && !id.contains('/') && !id.contains('\0')
}

/// Creates the sandbox directory and points `runs/latest` at it.
pub fn create_sandbox(sandbox: &Path) -> io::Result<()> {
    std::fs::create_dir_all(sandbox)?;
    let (Some(runs), Some(name)) = (sandbox.parent(), sandbox.file_name()) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "sandbox path has no parent",
        ));
    };
    let latest = runs.join(LATEST);
    match std::fs::remove_file(&latest) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::os::unix::fs::symlink(name, &latest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandbox_layout_matches_mesos() {
        let path = sandbox_dir(Path::new("/var/lib/mesos"), "S0", "F1", "E2", "C3");
        assert_eq!(
            path,
            Path::new("/var/lib/mesos/slaves/S0/frameworks/F1/executors/E2/runs/C3")
        );
    }

    #[test]
    fn rejects_escaping_ids() {
        assert!(is_safe_component("task-1.2"));
        assert!(!is_safe_component(".."));
        assert!(!is_safe_component("a/b"));
        assert!(!is_safe_component(""));
    }

    #[test]
    fn creates_sandbox_and_latest_link() {
        let dir = tempfile::tempdir().unwrap();
        let first = sandbox_dir(dir.path(), "S0", "F", "E", "C1");
        create_sandbox(&first).unwrap();
        let second = sandbox_dir(dir.path(), "S0", "F", "E", "C2");
        create_sandbox(&second).unwrap();
        let latest = second.parent().unwrap().join(LATEST);
        assert_eq!(std::fs::read_link(&latest).unwrap(), Path::new("C2"));
        assert!(latest.join(".").is_dir());
    }
}
