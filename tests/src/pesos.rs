//! pesos 0.2.2, a pure-Python scheduler driver speaking the pre-1.0
//! libprocess messages (`RegisterFrameworkMessage`, `LaunchTasksMessage`,
//! `StatusUpdateAcknowledgementMessage`, ...): `clients/python/setup.sh`
//! builds its venv, `clients/python/pesos_framework.py` is the framework.
//!
//! Tests find the venv's Python through [`PYTHON_VAR`]; without it they
//! are skipped, saying so, unless [`REQUIRE_VAR`] is `1` (as in CI).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::client::{self, Client, FrameworkRun, Running};

/// The variable naming the venv's Python (`DEST/pesos/bin/python`).
pub const PYTHON_VAR: &str = "MESOS_TEST_PESOS";

/// Set to `1` to make a missing pesos a failure instead of a skip.
pub const REQUIRE_VAR: &str = "MESOS_TEST_REQUIRE_PESOS";

const CLIENT: Client = Client {
    name: "pesos",
    var: PYTHON_VAR,
    require_var: REQUIRE_VAR,
};

/// The framework script.
pub fn framework_script() -> PathBuf {
    crate::pymesos::clients_dir().join("pesos_framework.py")
}

/// Why pesos is not usable, or its Python.
pub fn locate() -> Result<PathBuf, String> {
    let Some(python) = CLIENT.configured().map(PathBuf::from) else {
        return Err(format!(
            "pesos not set up: run tests/clients/python/setup.sh DEST and set \
             {PYTHON_VAR}=DEST/pesos/bin/python"
        ));
    };
    let probe = client::command(&python)
        .args([
            "-c",
            "import sys; sys.path.insert(0, sys.argv[1]); import pesos_compat, pesos.scheduler",
        ])
        .arg(crate::pymesos::clients_dir())
        .env("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION", "python")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{PYTHON_VAR}={}: cannot run it: {e}", python.display()))?;
    if !probe.status.success() {
        return Err(format!(
            "{PYTHON_VAR}={}: it cannot import pesos: {}",
            python.display(),
            String::from_utf8_lossy(&probe.stderr)
        ));
    }
    Ok(python)
}

/// The Python to run pesos with, or `None` when the test should be
/// skipped: [`PYTHON_VAR`] is unset, which is said on stderr.
///
/// # Panics
/// When [`PYTHON_VAR`] is set but unusable, or unset while [`REQUIRE_VAR`]
/// is `1`.
pub fn python_or_skip(test: &str) -> Option<PathBuf> {
    CLIENT.or_skip(test, locate())
}

/// Whether CI asked for pesos to be present.
pub fn required() -> bool {
    CLIENT.required()
}

fn framework_command(
    python: &Path,
    master: &str,
    args: &[&str],
    port: Option<u16>,
) -> std::process::Command {
    let mut command = client::command(python);
    command
        .arg(framework_script())
        .arg(master)
        .args(["--user", &crate::current_user()])
        .args(args);
    if let Some(port) = port {
        command.env("LIBPROCESS_PORT", port.to_string());
    }
    command
}

/// Runs `pesos_framework.py MASTER args...` with `python`, as the current
/// user, for at most `timeout`, and returns its exit and summary.
pub fn run_framework(
    python: &Path,
    master: &str,
    args: &[&str],
    timeout: Duration,
) -> FrameworkRun {
    Running::spawn(framework_command(python, master, args, None)).wait(timeout)
}

/// Starts `pesos_framework.py MASTER args...` with its libprocess server
/// on `port` (`LIBPROCESS_PORT`), so that its pid is
/// `scheduler(1)@127.0.0.1:port`.
pub fn spawn_framework_at(python: &Path, master: &str, args: &[&str], port: u16) -> Running {
    Running::spawn(framework_command(python, master, args, Some(port)))
}
