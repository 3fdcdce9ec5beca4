//! `mesos-docker-executor`: the executor the Docker containerizer runs
//! for command tasks; it runs the task with `docker run`.

use std::collections::BTreeMap;
use std::time::Duration;

use clap::Parser;
use mesos::flags::parse_duration;
use mesos_slave::executor::docker::DockerFlags;
use mesos_slave::executor::{ExecutorEnv, run_docker};

/// The Mesos Docker executor; the agent sets its flags and `MESOS_*`
/// environment.
#[derive(Debug, Parser)]
#[command(name = "mesos-docker-executor", rename_all = "snake_case")]
struct Flags {
    /// The name of the docker container to run.
    #[arg(long)]
    container: String,
    /// The path to the docker executable.
    #[arg(long, default_value = "docker")]
    docker: String,
    /// The Docker engine's socket.
    #[arg(long, default_value = "/var/run/docker.sock")]
    docker_socket: String,
    /// The sandbox on the host (holding stdout and stderr).
    #[arg(long)]
    sandbox_directory: String,
    /// Where the sandbox is mounted in the container.
    #[arg(long, default_value = "/mnt/mesos/sandbox")]
    mapped_directory: String,
    /// How long docker waits after stopping a container before killing it,
    /// when the task has no kill policy.
    #[arg(long, default_value = "0ns", value_parser = parse_duration)]
    stop_timeout: Duration,
    /// Directory of the Mesos helper binaries.
    #[arg(long)]
    launcher_dir: Option<String>,
    /// A JSON object of variables for the container.
    #[arg(long)]
    task_environment: Option<String>,
    /// JSON default DNS of containers (accepted; not applied yet).
    #[arg(long)]
    default_container_dns: Option<String>,
    /// Hard CPU limits (accepted; not applied yet).
    #[arg(long)]
    cgroups_enable_cfs: Option<String>,
}

fn main() {
    mesos::flags::exit_if_version_requested();
    // Lead a session of our own, so the agent can find and kill everything
    // this executor starts.
    // SAFETY: setsid has no memory-safety preconditions.
    unsafe {
        libc::setsid();
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let flags = Flags::parse();
    if flags.default_container_dns.is_some() || flags.cgroups_enable_cfs.is_some() {
        tracing::warn!(
            "--default_container_dns and --cgroups_enable_cfs are not supported; ignored"
        );
    }
    let task_environment: BTreeMap<String, String> = match &flags.task_environment {
        None => BTreeMap::new(),
        Some(text) => match serde_json::from_str(text) {
            Ok(env) => env,
            Err(e) => {
                eprintln!("mesos-docker-executor: --task_environment: {e}");
                std::process::exit(1);
            }
        },
    };
    let env = match ExecutorEnv::from_lookup(|name| std::env::var(name).ok()) {
        Ok(env) => env,
        Err(e) => {
            eprintln!("mesos-docker-executor: {e}");
            std::process::exit(1);
        }
    };
    let docker = DockerFlags {
        container: flags.container,
        docker: flags.docker,
        docker_socket: flags.docker_socket,
        sandbox_directory: flags.sandbox_directory,
        mapped_directory: flags.mapped_directory,
        stop_timeout: flags.stop_timeout,
        task_environment,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("mesos-docker-executor: cannot start: {e}");
            std::process::exit(1);
        }
    };
    let code = runtime.block_on(run_docker(env, docker));
    std::process::exit(code);
}
