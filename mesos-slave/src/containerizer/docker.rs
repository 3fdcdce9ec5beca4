//! The Docker containerizer (`--containerizers=docker`): command tasks
//! whose `ContainerInfo.type` is `DOCKER` run in a container of the local
//! Docker engine, driven through the `docker` CLI as Mesos drives it.
//!
//! As in Mesos, the agent does not run the container itself: it launches
//! `mesos-docker-executor` (a posix child, like every executor here) with
//! the container's name and the engine's address as flags; that executor
//! pulls the image if needed, runs `docker run` attached (so the
//! container's output lands in the sandbox's `stdout`/`stderr`), and
//! reports the task's states. When the executor is gone, the agent stops
//! the container (`docker stop`) and removes it (`docker rm -f -v`) after
//! `--docker_remove_delay`.
//!
//! Containers are named `mesos-<container id>` (Mesos 1.11's
//! `DOCKER_NAME_PREFIX` followed by the container id).
//!
//! Not yet: custom executors in Docker containers (`<name>.executor`),
//! recovery of containers after an agent restart, `--docker_kill_orphans`,
//! `--docker_mesos_image`, usage statistics.

use std::path::Path;
use std::time::Duration;

use mesos::wire::mesos as v0;

use super::LaunchSpec;

/// What every container the Docker containerizer creates is named after.
pub const DOCKER_NAME_PREFIX: &str = "mesos-";

/// The executor binary that runs a command task in a Docker container.
pub const DOCKER_EXECUTOR: &str = "mesos-docker-executor";

/// The Docker containerizer's configuration (the agent's `--docker*`
/// flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerConfig {
    /// `--docker`: the docker CLI.
    pub docker: String,
    /// `--docker_socket`: the engine's Unix socket.
    pub socket: String,
    /// `--docker_stop_timeout`: how long `docker stop` waits before
    /// killing, when the task names no kill grace period.
    pub stop_timeout: Duration,
    /// `--docker_remove_delay`: how long a stopped container is kept.
    pub remove_delay: Duration,
    /// `--sandbox_directory`: where the sandbox is mounted in containers.
    pub mapped_directory: String,
}

impl Default for DockerConfig {
    /// Mesos 1.11's defaults.
    fn default() -> Self {
        DockerConfig {
            docker: "docker".into(),
            socket: "/var/run/docker.sock".into(),
            stop_timeout: Duration::ZERO,
            remove_delay: Duration::from_secs(6 * 3600),
            mapped_directory: "/mnt/mesos/sandbox".into(),
        }
    }
}

/// The name of the Docker container of `container_id`.
pub fn container_name(container_id: &str) -> String {
    format!("{DOCKER_NAME_PREFIX}{container_id}")
}

/// Whether `container` asks for the Docker containerizer.
pub fn wants_docker(container: Option<&v0::ContainerInfo>) -> bool {
    container.is_some_and(|c| c.r#type == v0::container_info::Type::Docker as i32)
}

/// The `-H` argument for `socket`: a path becomes a `unix://` address.
pub fn host_argument(socket: &str) -> String {
    if socket.contains("://") {
        socket.to_string()
    } else {
        format!("unix://{socket}")
    }
}

/// The oldest Docker engine Mesos 1.11 works with.
const MIN_DOCKER_VERSION: (u64, u64) = (1, 8);

/// Asks the engine for its version (`docker version`), as Mesos does
/// before it creates the Docker containerizer; an error says why the
/// containerizer cannot be made.
pub fn validate(config: &DockerConfig) -> Result<String, String> {
    let output = std::process::Command::new(&config.docker)
        .arg("-H")
        .arg(host_argument(&config.socket))
        .args(["version", "--format", "{{.Server.Version}}"])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("Failed to run '{}': {e}", config.docker))?;
    if !output.status.success() {
        return Err(format!(
            "Failed to get docker version: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let version = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let mut parts = version
        .split(['.', '-', '+', '~'])
        .map(|p| p.parse::<u64>().ok());
    let found = (parts.next().flatten(), parts.next().flatten());
    match found {
        (Some(major), Some(minor)) if (major, minor) >= MIN_DOCKER_VERSION => Ok(version),
        (Some(_), Some(_)) => Err(format!(
            "Insufficient version '{version}' of Docker. Please upgrade to >= {}.{}.0",
            MIN_DOCKER_VERSION.0, MIN_DOCKER_VERSION.1
        )),
        _ => Err(format!("Failed to parse docker version '{version}'")),
    }
}

/// The command that launches `mesos-docker-executor` for a command task
/// in container `container_id` with sandbox `sandbox`, with the flags
/// Mesos gives it.
pub fn executor_command(
    config: &DockerConfig,
    launcher_dir: &Path,
    container_id: &str,
    sandbox: &Path,
    base: &v0::CommandInfo,
) -> v0::CommandInfo {
    let flag = |name: &str, value: String| format!("--{name}={value}");
    v0::CommandInfo {
        shell: Some(false),
        value: Some(launcher_dir.join(DOCKER_EXECUTOR).display().to_string()),
        arguments: vec![
            DOCKER_EXECUTOR.to_string(),
            flag("container", container_name(container_id)),
            flag("docker", config.docker.clone()),
            flag("docker_socket", config.socket.clone()),
            flag("launcher_dir", launcher_dir.display().to_string()),
            flag("mapped_directory", config.mapped_directory.clone()),
            flag("sandbox_directory", sandbox.display().to_string()),
            flag(
                "stop_timeout",
                mesos::flags::format_duration(config.stop_timeout),
            ),
        ],
        environment: base.environment.clone(),
        uris: base.uris.clone(),
        user: base.user.clone(),
    }
}

/// The Docker container a launch runs in, when it runs
/// `mesos-docker-executor`: read back from the executor's `--container`
/// flag, so that the runtime needs nothing beyond the launch itself.
pub fn launched_container(spec: &LaunchSpec) -> Option<String> {
    let program = spec.command.value.as_deref()?;
    if Path::new(program).file_name()? != DOCKER_EXECUTOR {
        return None;
    }
    spec.command
        .arguments
        .iter()
        .find_map(|a| a.strip_prefix("--container="))
        .map(str::to_string)
}

/// A `docker -H <socket>` command with `args`.
pub fn docker_command(config: &DockerConfig, args: &[&str]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(&config.docker);
    command
        .arg("-H")
        .arg(host_argument(&config.socket))
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Runs `docker <args>`; an error carries docker's stderr.
pub async fn docker(config: &DockerConfig, args: &[&str]) -> Result<(), String> {
    let output = docker_command(config, args)
        .output()
        .await
        .map_err(|e| format!("Failed to run '{}': {e}", config.docker))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "Failed to run 'docker {}': {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// Stops the Docker container of an executor that is gone (a no-op for
/// a container that already exited), as Mesos's destroy does.
pub async fn stop(config: &DockerConfig, name: &str) {
    let timeout = config.stop_timeout.as_secs().to_string();
    if let Err(e) = docker(config, &["stop", "-t", &timeout, name]).await {
        tracing::debug!(container = name, "{e}");
    }
}

/// Removes a stopped container (`docker rm -f -v`) after
/// `--docker_remove_delay`.
pub async fn remove_later(config: DockerConfig, name: String) {
    tracing::info!(
        container = name,
        "Scheduling removal of the Docker container in {}",
        mesos::flags::format_duration(config.remove_delay)
    );
    tokio::time::sleep(config.remove_delay).await;
    match docker(&config, &["rm", "-f", "-v", &name]).await {
        Ok(()) => tracing::info!(container = name, "Removed Docker container"),
        Err(e) => tracing::warn!(container = name, "Failed to remove Docker container: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn names_and_flags_as_mesos_sets_them() {
        assert_eq!(container_name("abc-123"), "mesos-abc-123");
        assert_eq!(
            host_argument("/var/run/docker.sock"),
            "unix:///var/run/docker.sock"
        );
        assert_eq!(
            host_argument("tcp://127.0.0.1:2375"),
            "tcp://127.0.0.1:2375"
        );
        let command = executor_command(
            &DockerConfig::default(),
            Path::new("/usr/libexec/mesos"),
            "c1",
            Path::new("/w/sandbox"),
            &v0::CommandInfo::default(),
        );
        assert_eq!(
            command.value.as_deref(),
            Some("/usr/libexec/mesos/mesos-docker-executor")
        );
        assert!(command.arguments.contains(&"--container=mesos-c1".into()));
        assert!(
            command
                .arguments
                .contains(&"--mapped_directory=/mnt/mesos/sandbox".into())
        );
        let spec = LaunchSpec {
            container_id: "c1".into(),
            framework_id: "f1".into(),
            executor_id: "e1".into(),
            limits: Default::default(),
            sandbox: "/w/sandbox".into(),
            command,
            environment: BTreeMap::new(),
        };
        assert_eq!(launched_container(&spec).as_deref(), Some("mesos-c1"));
        let plain = LaunchSpec {
            command: v0::CommandInfo {
                value: Some("/x/mesos-executor".into()),
                ..Default::default()
            },
            ..spec
        };
        assert_eq!(launched_container(&plain), None);
    }

    #[test]
    fn a_missing_docker_cli_cannot_make_the_containerizer() {
        let config = DockerConfig {
            docker: "/nonexistent/docker".into(),
            ..DockerConfig::default()
        };
        let error = validate(&config).unwrap_err();
        assert!(
            error.starts_with("Failed to run '/nonexistent/docker'"),
            "{error}"
        );
    }
}
