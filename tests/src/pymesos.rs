//! The pymesos 0.3.15 client (v1 HTTP scheduler and executor APIs, JSON):
//! the acceptance framework and executor scripts in `clients/python/`,
//! run by the Python of the venv `clients/python/setup.sh` builds.
//!
//! Tests find that Python through [`PYTHON_VAR`]; without it they are
//! skipped, saying so, unless [`REQUIRE_VAR`] is `1` (as in CI).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub use crate::client::FrameworkRun;
use crate::client::{Client, FrameworkRun as Run, Running};

/// The variable naming the venv's Python (`DEST/pymesos/bin/python`).
pub const PYTHON_VAR: &str = "MESOS_TEST_PYMESOS";

/// Set to `1` to make a missing pymesos a failure instead of a skip.
pub const REQUIRE_VAR: &str = "MESOS_TEST_REQUIRE_PYMESOS";

const CLIENT: Client = Client {
    name: "pymesos",
    var: PYTHON_VAR,
    require_var: REQUIRE_VAR,
};

/// Where the client scripts and their `setup.sh` are.
pub fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("clients")
        .join("python")
}

/// Why pymesos is not usable, or its Python.
pub fn locate() -> Result<PathBuf, String> {
    let Some(python) = CLIENT.configured().map(PathBuf::from) else {
        return Err(format!(
            "{} not set up: run tests/clients/python/setup.sh DEST and set \
             {PYTHON_VAR}=DEST/pymesos/bin/python",
            CLIENT.name
        ));
    };
    let probe = Command::new(&python)
        .args(["-c", "import http_parser.parser, pymesos"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{PYTHON_VAR}={}: cannot run it: {e}", python.display()))?;
    if !probe.status.success() {
        return Err(format!(
            "{PYTHON_VAR}={}: it cannot import pymesos: {}",
            python.display(),
            String::from_utf8_lossy(&probe.stderr)
        ));
    }
    Ok(python)
}

/// The Python to run pymesos with, or `None` when the test should be
/// skipped: [`PYTHON_VAR`] is unset, which is said on stderr (past the test
/// harness's capture, so it shows in a normal run).
///
/// # Panics
/// When [`PYTHON_VAR`] is set but unusable, or unset while [`REQUIRE_VAR`]
/// is `1`.
pub fn python_or_skip(test: &str) -> Option<PathBuf> {
    CLIENT.or_skip(test, locate())
}

/// Whether CI asked for pymesos to be present.
pub fn required() -> bool {
    CLIENT.required()
}

/// Runs `pymesos_framework.py MASTER args...` with `python`, as the
/// current user, and returns its exit and summary.
pub fn run_framework(python: &Path, master: &str, args: &[&str]) -> Run {
    let script = clients_dir().join("pymesos_framework.py");
    let output = Command::new(python)
        .arg(&script)
        .arg(master)
        .args(["--user", &crate::current_user()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", script.display()));
    Run::from_output(output)
}

/// Starts `script` (a file in `clients/python/`) as `script MASTER --user
/// <current user> args...` with `python`, without waiting for it.
pub fn spawn_script(python: &Path, script: &str, master: &str, args: &[&str]) -> Running {
    let mut command = crate::client::command(python);
    command
        .arg(clients_dir().join(script))
        .arg(master)
        .args(["--user", &crate::current_user()])
        .args(args);
    Running::spawn(command)
}
