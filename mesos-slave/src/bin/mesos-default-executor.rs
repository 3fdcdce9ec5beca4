//! `mesos-default-executor`: the executor the agent runs for
//! `ExecutorInfo.type` DEFAULT, which runs task groups.

use clap::Parser;
use mesos_slave::executor::{ExecutorEnv, default};

/// The Mesos default executor; the agent sets its `MESOS_*` environment.
#[derive(Debug, Parser)]
#[command(name = "mesos-default-executor", rename_all = "snake_case")]
struct Flags {
    /// Directory of the Mesos helper binaries.
    #[arg(long)]
    launcher_dir: Option<String>,
}

fn main() {
    mesos_slave::containerizer::posix::wait_until_contained();
    mesos::flags::exit_if_version_requested();
    // Lead a session of our own, so the agent can find and kill everything
    // this executor and its tasks start (the agent spawns us without doing
    // it for us). Fails only when already a session leader.
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
    let _flags = Flags::parse();
    let env = match ExecutorEnv::from_lookup(|name| std::env::var(name).ok()) {
        Ok(env) => env,
        Err(e) => {
            eprintln!("mesos-default-executor: {e}");
            std::process::exit(1);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("mesos-default-executor: cannot start: {e}");
            std::process::exit(1);
        }
    };
    let code = runtime.block_on(default::run(env));
    std::process::exit(code);
}
