//! `mesos-local`: a master and `--num_slaves` agents in one process, on one
//! port: the embedded single-node cluster. No ZooKeeper, no registry on
//! disk; the WebUI-facing endpoints are the master's (`/master/state`,
//! `/state`) and each agent's (`/slave(N)/state`).

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use mesos::process::{BindConfig, Transport};
use mesos::resources::Resources;
use mesos_slave::agent::runtime::Agent;
use mesos_slave::config::AgentConfig;

/// Runs a local Mesos cluster: a master and agents in one process.
#[derive(Debug, Parser)]
#[command(name = "mesos-local", rename_all = "snake_case")]
struct Flags {
    /// IP address to listen on.
    #[arg(long, env = "MESOS_IP", default_value = "127.0.0.1")]
    ip: IpAddr,
    /// Port to listen on (the master's; the agents share it).
    #[arg(long, env = "MESOS_PORT", default_value_t = 5050)]
    port: u16,
    /// Number of agents to launch.
    #[arg(long, env = "MESOS_NUM_SLAVES", default_value_t = 1)]
    num_slaves: u32,
    /// Where the agents keep their sandboxes (`<work_dir>/agents/<N>`).
    #[arg(long, env = "MESOS_WORK_DIR", default_value = "/tmp/mesos-local")]
    work_dir: PathBuf,
    /// Each agent's resources (text or JSON form); what is not given is detected.
    #[arg(long, env = "MESOS_RESOURCES")]
    resources: Option<String>,
    /// Each agent's attributes (`rack:r1;zone:z2`).
    #[arg(long, env = "MESOS_ATTRIBUTES")]
    attributes: Option<String>,
    /// The hostname the master and agents advertise.
    #[arg(long, env = "MESOS_HOSTNAME")]
    hostname: Option<String>,
    /// Time between allocation cycles.
    #[arg(long, env = "MESOS_ALLOCATION_INTERVAL", default_value = "1secs", value_parser = mesos::flags::parse_duration)]
    allocation_interval: Duration,
    /// How long an offer may stay unused before it is rescinded.
    #[arg(long, env = "MESOS_OFFER_TIMEOUT", value_parser = mesos::flags::parse_duration)]
    offer_timeout: Option<Duration>,
    /// Where `mesos-executor` lives (default: beside this binary when it is
    /// there, otherwise /usr/libexec/mesos).
    #[arg(long, env = "MESOS_LAUNCHER_DIR")]
    launcher_dir: Option<PathBuf>,
    /// Lowest level logged: INFO, WARNING or ERROR.
    #[arg(long, env = "MESOS_LOGGING_LEVEL", default_value = "INFO")]
    logging_level: String,
    /// Do not log to standard error.
    #[arg(long, env = "MESOS_QUIET", default_value = "false", value_parser = mesos::flags::parse_bool, num_args = 0..=1, default_missing_value = "true")]
    quiet: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    mesos::flags::exit_if_version_requested();
    let args = match mesos::flags::expand_file_values(std::env::args().collect()) {
        Ok(args) => mesos::flags::expand_negations(args, &["quiet"]),
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    let flags = match Flags::try_parse_from(args) {
        Ok(flags) => flags,
        Err(error) => error.exit(),
    };
    if let Err(error) = mesos::logging::init(&flags.logging_level, flags.quiet) {
        eprintln!("{error}");
        return ExitCode::FAILURE;
    }
    match run(flags).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(flags: Flags) -> Result<(), String> {
    if flags.num_slaves == 0 {
        return Err("--num_slaves must be at least 1".into());
    }
    let bind = BindConfig::resolve(Some(flags.ip), Some(flags.port), None, None, 5050);
    let transport = Transport::bind(&bind)
        .await
        .map_err(|e| format!("Failed to bind {}:{}: {e}", bind.ip, bind.port))?;

    let master_args = vec![
        "mesos-local".to_string(),
        "--registry=in_memory".to_string(),
        format!("--ip={}", flags.ip),
        format!("--port={}", transport.address().port()),
        format!(
            "--allocation_interval={}",
            mesos::flags::format_duration(flags.allocation_interval)
        ),
    ];
    let mut master_args = master_args;
    if let Some(timeout) = flags.offer_timeout {
        master_args.push(format!(
            "--offer_timeout={}",
            mesos::flags::format_duration(timeout)
        ));
    }
    if let Some(hostname) = &flags.hostname {
        master_args.push(format!("--hostname={hostname}"));
    }
    let parsed = mesos_master::flags::parse_with_env(master_args, std::iter::empty())?;
    let id = uuid::Uuid::new_v4().to_string();
    let master_pid = transport.upid("master");
    let config = mesos_master::flags::master_config(&parsed.flags, master_pid.clone(), id.clone())
        .map_err(|e| e.to_string())?;
    let hostname = config.hostname.clone();
    let _master = mesos_master::runtime::start(config, transport.clone(), parsed.effective);

    let configured = match &flags.resources {
        Some(text) => mesos_slave::cli::parse_resources(text, "*").map_err(|e| format!("{e:#}"))?,
        None => Vec::new(),
    };
    let mut agents = Vec::new();
    for n in 1..=flags.num_slaves {
        let work_dir = flags.work_dir.join("agents").join(n.to_string());
        std::fs::create_dir_all(&work_dir)
            .map_err(|e| format!("Failed to create {}: {e}", work_dir.display()))?;
        let host = mesos_slave::detect::HostTotals::measure(&work_dir);
        let mut resources = configured.clone();
        for detected in mesos_slave::detect::complete(&Resources::new(), &host, "*").iter() {
            if !configured.iter().any(|r| r.name == detected.name) {
                resources.push(detected.to_wire());
            }
        }
        let mut config = AgentConfig::new(master_pid.clone(), work_dir, resources);
        config.hostname = hostname.clone();
        config.seed = u64::from(n);
        config.libprocess_ip =
            Some(transport.bound_address().ip()).filter(|ip| !ip.is_unspecified());
        if let Some(dir) = &flags.launcher_dir {
            config.launcher_dir = dir.clone();
        }
        if let Some(text) = &flags.attributes {
            config.attributes =
                mesos_slave::convert::parse_attributes(text).map_err(|e| e.to_string())?;
        }
        config.validate().map_err(|e| e.to_string())?;
        agents.push(Agent::start(
            config,
            transport.clone(),
            &format!("slave({n})"),
            false,
        ));
    }
    tracing::info!(
        "Local cluster {id} with {} agent(s) running at http://{}/ (master {master_pid})",
        agents.len(),
        transport.address()
    );
    wait_for_termination().await;
    tracing::info!("Shutting down the local cluster");
    for agent in agents {
        agent.shutdown().await;
    }
    Ok(())
}

async fn wait_for_termination() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
