//! Logging set-up for the binaries, with Mesos's `--logging_level`
//! (`INFO`, `WARNING`, `ERROR`) and `--quiet`. `RUST_LOG`, when set, refines
//! the level per module.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber: standard error, unless `quiet`.
pub fn init(logging_level: &str, quiet: bool) -> Result<(), String> {
    let level = match logging_level.to_ascii_uppercase().as_str() {
        "INFO" => "info",
        "WARNING" => "warn",
        "ERROR" => "error",
        other => {
            return Err(format!(
                "'{other}' is not a valid logging level: expected INFO, WARNING or ERROR"
            ));
        }
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let filter = if quiet { EnvFilter::new("off") } else { filter };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init()
        .map_err(|e| e.to_string())
}
