//! `mesos-master`: the Mesos master daemon.

use std::process::ExitCode;

use mesos::process::{BindConfig, Transport};
use mesos_master::registry::{Store, file::FileStore};
use mesos_master::{flags, ha, runtime};

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if mesos::flags::version_requested(&args) && !args.iter().any(|a| a == "--help") {
        println!("{}", mesos::flags::version_line());
        return ExitCode::SUCCESS;
    }
    let parsed = match flags::parse(args) {
        Ok(parsed) => parsed,
        Err(error) => {
            eprintln!("{error}\n\nSee `mesos-master --help` for a list of supported flags.");
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
    for warning in parsed.load_warnings.iter().chain(&flags.warnings()) {
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
    let weights = match flags.weights() {
        Ok(weights) => weights,
        Err(error) => {
            tracing::warn!("{error}");
            Vec::new()
        }
    };
    let persistent = flags.registry == "replicated_log";
    let registry_config = match flags.registry_config() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(zk) = &flags.zk {
        let url = match mesos::zk::ZkUrl::parse(zk) {
            Ok(url) => url,
            Err(error) => {
                eprintln!("Failed to parse --zk: {error}");
                return ExitCode::FAILURE;
            }
        };
        let ha = ha::HaConfig {
            url,
            session_timeout: flags.zk_session_timeout,
            persistent_registry: persistent,
            registry: registry_config.clone(),
            fetch_timeout: flags.registry_fetch_timeout,
            store_timeout: flags.registry_store_timeout,
            weights,
        };
        return match ha::run(
            config,
            transport,
            parsed.effective,
            ha,
            wait_for_termination(),
        )
        .await
        {
            Ok(()) => {
                tracing::info!("Master terminating");
                ExitCode::SUCCESS
            }
            Err(error) => {
                tracing::error!("{error}");
                ExitCode::FAILURE
            }
        };
    }
    // Standalone: this master leads on its own.
    let store = match (&flags.work_dir, persistent) {
        (Some(work_dir), true) => Store::File(FileStore::new(std::path::Path::new(work_dir))),
        _ => Store::InMemory(None),
    };
    let location = store.location();
    let persistence = runtime::Persistence {
        store,
        config: registry_config,
        fetch_timeout: flags.registry_fetch_timeout,
        store_timeout: flags.registry_store_timeout,
    };
    let (handle, mut failure) =
        match runtime::start_leading(config, transport, parsed.effective, persistence).await {
            Ok(started) => started,
            Err(error) => {
                tracing::error!(
                    "Refusing to start: failed to recover the registry from {location}: {error}; \
                     nothing was written, inspect or remove the registry by hand"
                );
                return ExitCode::FAILURE;
            }
        };
    if !weights.is_empty() {
        handle.set_weights(weights);
    }
    tokio::select! {
        () = wait_for_termination() => {}
        failure = failure.recv() => {
            let reason = failure.map(|f| f.to_string()).unwrap_or_else(|| "Registrar failed: the registrar stopped... committing suicide!".into());
            tracing::error!("{reason}");
            return ExitCode::FAILURE;
        }
    }
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
