//! The genuine libmesos 1.11 scheduler driver (the C++
//! `MesosSchedulerDriver` Marathon runs, from PyPI's `mesos.scheduler`
//! build) under a private Python 2.7: `clients/libmesos/setup.sh ENV_DIR`
//! builds it, `clients/libmesos/framework.py` is the Marathon-like
//! framework it runs.
//!
//! Tests find the environment through [`ENV_VAR`] (the directory, or its
//! `bin/framework`); without it they are skipped, saying so, unless
//! [`REQUIRE_VAR`] is `1` (as in CI). The framework script is always the
//! one beside this crate, whatever checkout built the environment.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::client::{self, Client, FrameworkRun, Running};

/// The variable naming the environment (`ENV_DIR` or `ENV_DIR/bin/framework`).
pub const ENV_VAR: &str = "MESOS_TEST_LIBMESOS";

/// Set to `1` to make a missing driver a failure instead of a skip.
pub const REQUIRE_VAR: &str = "MESOS_TEST_REQUIRE_LIBMESOS";

const CLIENT: Client = Client {
    name: "libmesos",
    var: ENV_VAR,
    require_var: REQUIRE_VAR,
};

/// The framework script.
pub fn framework_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("clients")
        .join("libmesos")
        .join("framework.py")
}

/// A usable driver environment.
#[derive(Debug, Clone)]
pub struct Driver {
    /// Its `bin/python2`: Python 2.7 with the driver importable.
    pub python: PathBuf,
}

/// Why the driver is not usable, or where it is.
pub fn locate() -> Result<Driver, String> {
    let Some(value) = CLIENT.configured().map(PathBuf::from) else {
        return Err(format!(
            "the libmesos driver is not set up: run tests/clients/libmesos/setup.sh ENV_DIR \
             and set {ENV_VAR}=ENV_DIR"
        ));
    };
    let env_dir = if value.is_dir() {
        value.clone()
    } else if let Some(env_dir) = value
        .parent()
        .filter(|_| value.is_file())
        .and_then(Path::parent)
    {
        // ENV_DIR/bin/framework
        env_dir.to_path_buf()
    } else {
        return Err(format!(
            "{ENV_VAR}={}: neither the environment directory nor its bin/framework",
            value.display()
        ));
    };
    let python = env_dir.join("bin").join("python2");
    let probe = client::command(&python)
        .args(["-c", "from mesos.scheduler import MesosSchedulerDriver"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            format!(
                "{ENV_VAR}={}: cannot run {}: {e}",
                value.display(),
                python.display()
            )
        })?;
    if !probe.status.success() {
        return Err(format!(
            "{ENV_VAR}={}: it cannot import the driver: {}",
            value.display(),
            String::from_utf8_lossy(&probe.stderr)
        ));
    }
    Ok(Driver { python })
}

/// The driver, or `None` when the test should be skipped: [`ENV_VAR`] is
/// unset, which is said on stderr.
///
/// # Panics
/// When [`ENV_VAR`] is set but unusable, or unset while [`REQUIRE_VAR`] is
/// `1`.
pub fn driver_or_skip(test: &str) -> Option<Driver> {
    CLIENT.or_skip(test, locate())
}

/// Whether CI asked for the driver to be present.
pub fn required() -> bool {
    CLIENT.required()
}

impl Driver {
    fn command(&self, master: &str, args: &[&str]) -> std::process::Command {
        let mut command = client::command(&self.python);
        command
            .arg(framework_script())
            .args(["--master", master, "--user", &crate::current_user()])
            .args(args);
        command
    }

    /// Runs the framework against `master` with `args` until it exits (at
    /// most `timeout`) and returns what it did.
    pub fn run(&self, master: &str, args: &[&str], timeout: Duration) -> FrameworkRun {
        self.spawn(master, args).wait(timeout)
    }

    /// Starts the framework against `master` with `args`.
    pub fn spawn(&self, master: &str, args: &[&str]) -> Running {
        Running::spawn(self.command(master, args))
    }

    /// Starts the framework with the driver's own logs (`GLOG_v=1`) on
    /// stderr.
    pub fn spawn_verbose(&self, master: &str, args: &[&str]) -> Running {
        let mut command = self.command(master, args);
        command.env("GLOG_v", "1");
        Running::spawn(command)
    }
}
