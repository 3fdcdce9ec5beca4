//! The Docker executor (`mesos-docker-executor`): the command executor's
//! protocol, with the task run by `docker run` in a container named by
//! the agent, as Mesos 1.11's Docker executor runs it.
//!
//! `docker run` stays attached, so the container's output goes to this
//! executor's stdout/stderr (the sandbox's files) and its exit status is
//! the container's. A kill is `docker stop -t <grace>`; the agent removes
//! the container later (`--docker_remove_delay`).

use std::collections::BTreeMap;
use std::time::Duration;

use mesos::wire::mesos::v1;

use crate::containerizer::docker::host_argument;

/// Mesos's CPU shares per CPU and its floor.
const CPU_SHARES_PER_CPU: f64 = 1024.0;
const MIN_CPU_SHARES: u64 = 2;
/// Mesos's memory floor for containers, in MB.
const MIN_MEMORY_MB: f64 = 32.0;

/// The flags the agent gives `mesos-docker-executor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerFlags {
    /// `--container`: the container's name.
    pub container: String,
    /// `--docker`: the docker CLI.
    pub docker: String,
    /// `--docker_socket`: the engine's socket.
    pub docker_socket: String,
    /// `--sandbox_directory`: the sandbox on the host.
    pub sandbox_directory: String,
    /// `--mapped_directory`: where the sandbox is mounted in the container.
    pub mapped_directory: String,
    /// `--stop_timeout`: the kill grace period when the task names none.
    pub stop_timeout: Duration,
    /// `--task_environment`: extra variables for the container.
    pub task_environment: BTreeMap<String, String>,
}

impl DockerFlags {
    /// `docker -H <socket> <args>` as an argv.
    pub fn docker_argv(&self, args: &[&str]) -> Vec<String> {
        let mut argv = vec![
            self.docker.clone(),
            "-H".into(),
            host_argument(&self.docker_socket),
        ];
        argv.extend(args.iter().map(|a| a.to_string()));
        argv
    }
}

fn scalar(resources: &[v1::Resource], name: &str) -> Option<f64> {
    let values: Vec<f64> = resources
        .iter()
        .filter(|r| r.name == name)
        .filter_map(|r| r.scalar.as_ref().map(|s| s.value))
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

fn port_included(resources: &[v1::Resource], port: u32) -> bool {
    resources
        .iter()
        .filter(|r| r.name == "ports")
        .filter_map(|r| r.ranges.as_ref())
        .flat_map(|r| r.range.iter())
        .any(|range| range.begin <= u64::from(port) && u64::from(port) <= range.end)
}

/// The `docker run` argv of `task` (Mesos's `Docker::RunOptions::create`
/// followed by `Docker::run`), or why it cannot run.
#[allow(deprecated)] // DockerInfo.volume_driver, still honoured as Mesos does.
pub fn run_argv(flags: &DockerFlags, task: &v1::TaskInfo) -> Result<Vec<String>, String> {
    let container = task
        .container
        .as_ref()
        .filter(|c| c.r#type == v1::container_info::Type::Docker as i32)
        .ok_or("Task has no DOCKER ContainerInfo")?;
    let docker = container
        .docker
        .as_ref()
        .ok_or("No docker info found in container info")?;
    let command = task.command.clone().unwrap_or_default();
    let mut argv = flags.docker_argv(&["run"]);
    let mut push = |a: &str, b: String| {
        argv.push(a.to_string());
        argv.push(b);
    };
    let mut resources = task.resources.clone();
    if let Some(executor) = &task.executor {
        resources.extend(executor.resources.iter().cloned());
    }
    if let Some(cpus) = scalar(&resources, "cpus") {
        let shares = ((CPU_SHARES_PER_CPU * cpus) as u64).max(MIN_CPU_SHARES);
        push("--cpu-shares", shares.to_string());
    }
    if let Some(mem) = scalar(&resources, "mem") {
        let bytes = (mem.max(MIN_MEMORY_MB) * 1024.0 * 1024.0) as u64;
        push("--memory", bytes.to_string());
    }

    let mut env = flags.task_environment.clone();
    if let Some(environment) = &command.environment {
        for variable in &environment.variables {
            if !flags.task_environment.contains_key(&variable.name) {
                env.insert(
                    variable.name.clone(),
                    variable.value.clone().unwrap_or_default(),
                );
            }
        }
    }
    env.insert("MESOS_SANDBOX".into(), flags.mapped_directory.clone());
    env.insert("MESOS_CONTAINER_NAME".into(), flags.container.clone());
    let role = resources
        .iter()
        .find_map(|r| r.allocation_info.as_ref().and_then(|a| a.role.clone()));
    if let Some(role) = role {
        env.insert("MESOS_ALLOCATION_ROLE".into(), role);
    }
    for (key, value) in &env {
        push("-e", format!("{key}={value}"));
    }

    let mut volume_driver: Option<String> = None;
    for volume in &container.volumes {
        let inside = if volume.container_path.starts_with('/') {
            volume.container_path.clone()
        } else {
            format!("{}/{}", flags.mapped_directory, volume.container_path)
        };
        let mode = match v1::volume::Mode::try_from(volume.mode) {
            Ok(v1::volume::Mode::Rw) => "rw",
            Ok(v1::volume::Mode::Ro) => "ro",
            Err(_) => return Err("Unsupported volume mode".into()),
        };
        let config = if let Some(host) = &volume.host_path {
            if !host.starts_with('/') && !volume.container_path.starts_with('/') {
                return Err(format!(
                    "Both host_path '{host}' and container_path '{}' of a volume are relative",
                    volume.container_path
                ));
            }
            if !host.starts_with('/') && docker.volume_driver.is_none() {
                format!("{}/{host}:{inside}:{mode}", flags.sandbox_directory)
            } else {
                format!("{host}:{inside}:{mode}")
            }
        } else if let Some(source) = &volume.source {
            let Some(docker_volume) = source
                .docker_volume
                .as_ref()
                .filter(|_| source.r#type == Some(v1::volume::source::Type::DockerVolume as i32))
            else {
                tracing::info!(
                    "Ignored a volume of container '{}': only DOCKER_VOLUME sources are supported by docker",
                    flags.container
                );
                continue;
            };
            if let Some(driver) = &docker_volume.driver {
                if volume_driver.as_ref().is_some_and(|d| d != driver) {
                    return Err("Only one volume driver is supported".into());
                }
                volume_driver = Some(driver.clone());
            }
            format!("{}:{inside}:{mode}", docker_volume.name)
        } else {
            return Err("Host path or volume source is required".into());
        };
        push("-v", config);
    }
    push(
        "-v",
        format!("{}:{}", flags.sandbox_directory, flags.mapped_directory),
    );
    if let Some(driver) = &docker.volume_driver {
        if volume_driver.as_ref().is_some_and(|d| d != driver) {
            return Err("Only one volume driver per task is supported".into());
        }
        volume_driver = Some(driver.clone());
    }
    if let Some(driver) = volume_driver {
        argv.push(format!("--volume-driver={driver}"));
    }

    use v1::container_info::docker_info::Network;
    let mut network = match docker.network.map(Network::try_from) {
        None | Some(Ok(Network::Host)) => "host".to_string(),
        Some(Ok(Network::Bridge)) => "bridge".to_string(),
        Some(Ok(Network::None)) => "none".to_string(),
        Some(Ok(Network::User)) => match container.network_infos.as_slice() {
            [] => return Err("No network info found in container info".into()),
            [info] => info
                .name
                .clone()
                .ok_or("No network name found in network info")?,
            _ => return Err("Only a single network can be defined in Docker run".into()),
        },
        Some(Err(_)) => return Err("Unsupported Network mode".into()),
    };
    let mut additional = Vec::new();
    let mut network_parameter = false;
    for parameter in &docker.parameters {
        if !network_parameter && (parameter.key == "net" || parameter.key == "network") {
            network = parameter.value.clone();
            network_parameter = true;
        } else {
            additional.push(format!("--{}={}", parameter.key, parameter.value));
        }
    }
    if container.hostname.is_some() && network == "host" {
        return Err("Unable to set hostname with host network mode".into());
    }
    let mut ports = Vec::new();
    if !docker.port_mappings.is_empty() {
        if network == "host" || network == "none" {
            return Err(
                "Port mappings are only supported for bridge and user-defined networks".into(),
            );
        }
        if !resources.iter().any(|r| r.name == "ports") {
            return Err("Port mappings require port resources".into());
        }
        for mapping in &docker.port_mappings {
            if !port_included(&resources, mapping.host_port) {
                return Err(format!(
                    "Port [{}] not included in resources",
                    mapping.host_port
                ));
            }
            let mut text = format!("{}:{}", mapping.host_port, mapping.container_port);
            if let Some(protocol) = &mapping.protocol {
                text.push('/');
                text.push_str(&protocol.to_lowercase());
            }
            ports.push(text);
        }
    }
    if docker.privileged() {
        argv.insert(4, "--privileged".into());
    }
    argv.push("--net".into());
    argv.push(network);
    if let Some(hostname) = &container.hostname {
        argv.push("--hostname".into());
        argv.push(hostname.clone());
    }
    for port in ports {
        argv.push("-p".into());
        argv.push(port);
    }
    if command.shell() {
        argv.push("--entrypoint".into());
        argv.push("/bin/sh".into());
    }
    argv.push("--name".into());
    argv.push(flags.container.clone());
    argv.extend(additional);
    argv.push(docker.image.clone());
    if command.shell() {
        let value = command
            .value
            .clone()
            .ok_or("Shell specified but no command value provided")?;
        argv.push("-c".into());
        argv.push(value);
    } else {
        argv.extend(command.value.clone());
        argv.extend(command.arguments.iter().cloned());
    }
    Ok(argv)
}

/// A step of a container's launch, reported to the executor's loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The image is there (or why it could not be had).
    Pulled(Result<(), String>),
    /// The engine knows the container.
    Created,
}

async fn output(flags: &DockerFlags, args: &[&str]) -> Result<std::process::Output, String> {
    let argv = flags.docker_argv(args);
    tokio::process::Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("Failed to run '{}': {e}", flags.docker))
}

/// Makes sure the image of `task` is there: `docker pull` when
/// `force_pull_image` is set or `docker inspect` does not find it.
pub async fn pull(flags: &DockerFlags, task: &v1::TaskInfo) -> Result<(), String> {
    let Some(docker) = task.container.as_ref().and_then(|c| c.docker.as_ref()) else {
        return Ok(());
    };
    if !docker.force_pull_image() {
        let inspect = output(flags, &["inspect", "--type=image", &docker.image]).await?;
        if inspect.status.success() {
            return Ok(());
        }
    }
    tracing::info!("Pulling image '{}'", docker.image);
    let pulled = output(flags, &["pull", &docker.image]).await?;
    if pulled.status.success() {
        Ok(())
    } else {
        Err(format!(
            "Failed to run 'docker pull {}': {}",
            docker.image,
            String::from_utf8_lossy(&pulled.stderr).trim()
        ))
    }
}

/// Whether the engine knows container `flags.container`.
pub async fn exists(flags: &DockerFlags) -> bool {
    output(flags, &["inspect", "--type=container", &flags.container])
        .await
        .is_ok_and(|o| o.status.success())
}

/// Waits (up to `limit`) until the engine knows the container, as Mesos's
/// executor waits on `docker inspect` before TASK_RUNNING.
pub async fn wait_created(flags: &DockerFlags, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if exists(flags).await {
            return true;
        }
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags() -> DockerFlags {
        DockerFlags {
            container: "mesos-c1".into(),
            docker: "docker".into(),
            docker_socket: "/var/run/docker.sock".into(),
            sandbox_directory: "/w/sandbox".into(),
            mapped_directory: "/mnt/mesos/sandbox".into(),
            stop_timeout: Duration::ZERO,
            task_environment: BTreeMap::new(),
        }
    }

    fn task(network: v1::container_info::docker_info::Network) -> v1::TaskInfo {
        v1::TaskInfo {
            task_id: v1::TaskId { value: "t".into() },
            command: Some(v1::CommandInfo {
                value: Some("echo hello".into()),
                environment: Some(v1::Environment {
                    variables: vec![v1::environment::Variable {
                        name: "FOO".into(),
                        value: Some("bar".into()),
                        ..Default::default()
                    }],
                }),
                ..Default::default()
            }),
            resources: mesos::resources::Resources::parse("cpus:0.5;mem:64;ports:[31000-31001]")
                .unwrap()
                .to_wire()
                .iter()
                .map(crate::convert_v1)
                .collect(),
            container: Some(v1::ContainerInfo {
                r#type: v1::container_info::Type::Docker as i32,
                volumes: vec![v1::Volume {
                    mode: v1::volume::Mode::Ro as i32,
                    container_path: "data".into(),
                    host_path: Some("/srv/data".into()),
                    ..Default::default()
                }],
                docker: Some(v1::container_info::DockerInfo {
                    image: "mesos-test/busybox:latest".into(),
                    network: Some(network as i32),
                    port_mappings: vec![v1::container_info::docker_info::PortMapping {
                        host_port: 31000,
                        container_port: 80,
                        protocol: Some("TCP".into()),
                    }],
                    privileged: Some(true),
                    parameters: vec![v1::Parameter {
                        key: "label".into(),
                        value: "a=b".into(),
                    }],
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn run_options_as_mesos_builds_them() {
        use v1::container_info::docker_info::Network;
        let argv = run_argv(&flags(), &task(Network::Bridge)).unwrap();
        let expected: Vec<String> = [
            "docker",
            "-H",
            "unix:///var/run/docker.sock",
            "run",
            "--privileged",
            "--cpu-shares",
            "512",
            "--memory",
            "67108864",
            "-e",
            "FOO=bar",
            "-e",
            "MESOS_CONTAINER_NAME=mesos-c1",
            "-e",
            "MESOS_SANDBOX=/mnt/mesos/sandbox",
            "-v",
            "/srv/data:/mnt/mesos/sandbox/data:ro",
            "-v",
            "/w/sandbox:/mnt/mesos/sandbox",
            "--net",
            "bridge",
            "-p",
            "31000:80/tcp",
            "--entrypoint",
            "/bin/sh",
            "--name",
            "mesos-c1",
            "--label=a=b",
            "mesos-test/busybox:latest",
            "-c",
            "echo hello",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(argv, expected);

        let host = run_argv(&flags(), &task(Network::Host));
        assert_eq!(
            host,
            Err("Port mappings are only supported for bridge and user-defined networks".into())
        );
        let mut outside = task(Network::Bridge);
        outside
            .container
            .as_mut()
            .unwrap()
            .docker
            .as_mut()
            .unwrap()
            .port_mappings[0]
            .host_port = 40000;
        assert_eq!(
            run_argv(&flags(), &outside),
            Err("Port [40000] not included in resources".into())
        );
        assert_eq!(
            run_argv(&flags(), &task(Network::User)),
            Err("No network info found in container info".into())
        );
    }
}
