//! `mesos-master`: the Mesos master daemon.

use std::process::ExitCode;

use mesos::process::{BindConfig, Transport};
use mesos_master::{flags, runtime};

#[tokio::main]
async fn main() -> ExitCode {
    let parsed = match flags::parse(std::env::args()) {
        Ok(parsed) => parsed,
        Err(error) => {
            eprintln!("{error}");
            eprintln!("See `mesos-master --help` for a list of supported flags");
            return ExitCode::FAILURE;
        }
    };
    let flags = parsed.flags;
    let program = mesos::logging::program_name("mesos-master");
    let logging = mesos::logging::Config {
        program: &program,
        logging_level: &flags.logging_level,
        quiet: flags.quiet,
        log_dir: flags.log_dir.as_deref().map(std::path::Path::new),
    };
    if let Err(error) = mesos::logging::init_with(&logging) {
        eprintln!("{error}");
        return ExitCode::FAILURE;
    }
    if let Err(error) = flags.validate() {
        eprintln!("{error}");
        return ExitCode::FAILURE;
    }
    for warning in flags.warnings() {
        tracing::warn!("{warning}");
    }
    let bind = BindConfig::resolve(
        flags.ip,
        Some(flags.port),
        flags.advertise_ip,
        flags.advertise_port,
        5050,
    );
    let transport = match Transport::bind(&bind).await {
        Ok(transport) => transport,
        Err(error) => {
            eprintln!(
                "Failed to initialize: failed to bind {}:{}: {error}",
                bind.ip, bind.port
            );
            return ExitCode::FAILURE;
        }
    };
    let id = uuid::Uuid::new_v4().to_string();
    let config = match flags::master_config(&flags, transport.upid("master"), id.clone()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        "Master {id} ({}) started on {}",
        config.hostname,
        transport.address()
    );
    let handle = runtime::start(config, transport, parsed.effective);
    if let Err(error) = flags.weights().map(|w| handle.set_weights(w)) {
        tracing::warn!("{error}");
    }
    wait_for_termination().await;
    tracing::info!("Master terminating");
    ExitCode::SUCCESS
}

async fn wait_for_termination() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = match signal(SignalKind::terminate()) {
        Ok(signal) => signal,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = terminate.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
