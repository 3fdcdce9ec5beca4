//! The pymesos 0.3.15 client (v1 HTTP scheduler and executor APIs, JSON):
//! the acceptance framework and executor scripts in `clients/python/`,
//! run by the Python of the venv `clients/python/setup.sh` builds.
//!
//! Tests find that Python through [`PYTHON_VAR`]; without it they are
//! skipped, saying so, unless [`REQUIRE_VAR`] is `1` (as in CI).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The variable naming the venv's Python (`DEST/pymesos/bin/python`).
pub const PYTHON_VAR: &str = "MESOS_TEST_PYMESOS";

/// Set to `1` to make a missing pymesos a failure instead of a skip.
pub const REQUIRE_VAR: &str = "MESOS_TEST_REQUIRE_PYMESOS";

/// Where the client scripts and their `setup.sh` are.
pub fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("clients")
        .join("python")
}

/// Why pymesos is not usable, or its Python.
pub fn locate() -> Result<PathBuf, String> {
    let python = match std::env::var_os(PYTHON_VAR) {
        Some(value) if !value.is_empty() => PathBuf::from(value),
        _ => {
            return Err(format!(
                "pymesos not set up: run tests/clients/python/setup.sh DEST and set \
                 {PYTHON_VAR}=DEST/pymesos/bin/python"
            ));
        }
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
    match locate() {
        Ok(python) => Some(python),
        Err(reason) if std::env::var_os(PYTHON_VAR).is_none() && !required() => {
            let _ = writeln!(std::io::stderr(), "{test}: skipped: {reason}");
            None
        }
        Err(reason) => panic!("{reason}"),
    }
}

/// Whether CI asked for pymesos to be present.
pub fn required() -> bool {
    std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "1")
}

/// What one run of `pymesos_framework.py` did.
#[derive(Debug)]
pub struct FrameworkRun {
    /// The process's exit status and output.
    pub output: Output,
    /// Its one JSON summary line (`Null` if it printed none).
    pub summary: serde_json::Value,
}

impl FrameworkRun {
    /// Everything it printed, for a failure message.
    pub fn describe(&self) -> String {
        format!(
            "exit {}\nstdout:\n{}\nstderr:\n{}",
            self.output.status,
            String::from_utf8_lossy(&self.output.stdout),
            String::from_utf8_lossy(&self.output.stderr)
        )
    }
}

/// Runs `pymesos_framework.py MASTER args...` with `python`, as the
/// current user, and returns its exit and summary.
pub fn run_framework(python: &Path, master: &str, args: &[&str]) -> FrameworkRun {
    let script = clients_dir().join("pymesos_framework.py");
    let output = Command::new(python)
        .arg(&script)
        .arg(master)
        .args(["--user", &crate::current_user()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", script.display()));
    let summary = String::from_utf8_lossy(&output.stdout)
        .lines()
        .rev()
        .find_map(|line| serde_json::from_str(line).ok())
        .unwrap_or(serde_json::Value::Null);
    FrameworkRun { output, summary }
}
