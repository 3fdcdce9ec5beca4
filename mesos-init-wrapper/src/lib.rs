//! `mesos-init-wrapper`: what the init system runs to start `mesos-master`
//! or `mesos-slave`, behaving as the wrapper of the Mesosphere `mesos`
//! packages does, so that a host configured for those packages keeps its
//! configuration unchanged:
//!
//! 1. runs `/usr/bin/mesosphere-dnsconfig -write -service=<service>` when it
//!    is executable (a failure aborts);
//! 2. sources `/etc/default/mesos`, then `/etc/default/mesos-master` (or
//!    `-slave`) with every assignment exported ([`defaults`]);
//! 3. applies `ulimit $ULIMIT` ([`ulimit`]);
//! 4. turns `ZK`, `IP`, `PORT`, `CLUSTER`, `LOGS` (master) or `MASTER`,
//!    `IP`, `LOGS`, `ISOLATION` (agent) into flags, then every regular file
//!    of `/etc/mesos-master/` (or `/etc/mesos-slave/`) into
//!    `--<name>=<content>` (`?<name>` into a bare `--<name>`), then, for the
//!    agent, `attributes/*` and `resources/*` into `--attributes=` and
//!    `--resources=` ([`args`]);
//! 5. execs `/usr/sbin/mesos-master` (or `mesos-slave`, `mesos-agent`) with
//!    standard output and error sent to syslog through `logger`, unless an
//!    argument contains `--no-logger` ([`exec`]). The daemon replaces the
//!    wrapper, so its exit status is the service's.
//!
//! A step that fails ends the wrapper with the status the packaged bash
//! script would have (it runs with `errexit`), e.g. 1 when
//! `/etc/default/mesos-master`'s `` ZK=`cat /etc/mesos/zk` `` finds no file.
//!
//! Two variables relocate the files for tests; they are not passed on to
//! the daemon: [`ROOT_VAR`] (prefix of `/etc` and `/usr/bin`) and
//! [`SBIN_VAR`] (directory of the daemons, `/usr/sbin`).
//!
//! ```
//! use mesos_init_wrapper::Mode;
//! assert_eq!(Mode::parse("agent").unwrap().daemon(), "mesos-agent");
//! assert_eq!(Mode::parse("agent").unwrap().service(), "mesos-slave");
//! ```

#![deny(missing_docs)]

pub mod args;
pub mod defaults;
pub mod exec;
pub mod ulimit;

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

/// Environment variable: directory standing for `/` when looking for
/// `/etc/default/*`, `/etc/mesos-*/` and `/usr/bin/mesosphere-dnsconfig`.
pub const ROOT_VAR: &str = "MESOS_INIT_WRAPPER_ROOT";

/// Environment variable: directory holding the daemons instead of
/// `/usr/sbin`.
pub const SBIN_VAR: &str = "MESOS_INIT_WRAPPER_SBIN";

/// The locale the packaged script exports before anything else, so that
/// the daemon inherits it too.
pub const LOCALE: &str = "en_US.UTF-8";

/// Which daemon to start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `mesos-init-wrapper master`.
    Master,
    /// `mesos-init-wrapper slave`.
    Slave,
    /// `mesos-init-wrapper agent`: the agent's configuration
    /// (`/etc/default/mesos-slave`, `/etc/mesos-slave/`), run as
    /// `mesos-agent`.
    Agent,
}

impl Mode {
    /// The mode named by the wrapper's first argument.
    pub fn parse(word: &str) -> Option<Mode> {
        match word {
            "master" => Some(Mode::Master),
            "slave" => Some(Mode::Slave),
            "agent" => Some(Mode::Agent),
            _ => None,
        }
    }

    /// The service name: names `/etc/default/<service>` and
    /// `/etc/<service>/`.
    pub fn service(self) -> &'static str {
        match self {
            Mode::Master => "mesos-master",
            Mode::Slave | Mode::Agent => "mesos-slave",
        }
    }

    /// The daemon's file name in `/usr/sbin`.
    pub fn daemon(self) -> &'static str {
        match self {
            Mode::Master => "mesos-master",
            Mode::Slave => "mesos-slave",
            Mode::Agent => "mesos-agent",
        }
    }
}

/// Where the wrapper looks for its files.
#[derive(Clone, Debug)]
pub struct Paths {
    /// Stands for `/`.
    pub root: PathBuf,
    /// Stands for `/usr/sbin`.
    pub sbin: PathBuf,
}

impl Paths {
    /// The packaged locations, relocated by [`ROOT_VAR`] and [`SBIN_VAR`]
    /// when they are set in `env`.
    pub fn from_env(env: &[(OsString, OsString)]) -> Paths {
        let get = |name: &str| {
            env.iter()
                .find(|(key, value)| key == name && !value.is_empty())
                .map(|(_, value)| PathBuf::from(value))
        };
        Paths {
            root: get(ROOT_VAR).unwrap_or_else(|| PathBuf::from("/")),
            sbin: get(SBIN_VAR).unwrap_or_else(|| PathBuf::from("/usr/sbin")),
        }
    }

    /// `path` (absolute, as the packages name it) under the root.
    pub fn under_root(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }

    /// The daemon's path.
    pub fn daemon(&self, mode: Mode) -> PathBuf {
        self.sbin.join(mode.daemon())
    }
}

/// Why the wrapper stops before starting the daemon: a message for
/// standard error and the exit status.
#[derive(Debug, PartialEq, Eq)]
pub struct Failure {
    /// The exit status.
    pub status: i32,
    /// What went wrong; empty when the failed step printed it already.
    pub message: String,
}

impl Failure {
    /// A failure with status 1.
    pub fn new(message: impl Into<String>) -> Failure {
        Failure {
            status: 1,
            message: message.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The usage text of `-h` and `--help`.
pub const USAGE: &str = "\
 USAGE: mesos-init-wrapper (master|slave|agent)

  Runs Mesos in master or agent mode: loads the environment files, sends
  the daemon's output to syslog and passes configured flags.

  Configuration:

 *  A ZooKeeper URL in /etc/mesos/zk is used by master and agent through
    ZK= and MASTER= in /etc/default/mesos-master and /etc/default/mesos-slave.

 *  Shell variable assignments (including MESOS_* variables) in
      /etc/default/mesos          # master and agent
      /etc/default/mesos-master   # master only
      /etc/default/mesos-slave    # agent only
    are exported to the daemon. ZK, IP, PORT, CLUSTER, LOGS (master),
    MASTER, IP, LOGS, ISOLATION (agent) become flags; ULIMIT is applied
    with ulimit.

 *  Every file in /etc/mesos-master/ (master) or /etc/mesos-slave/ (agent)
    becomes a flag named after it with its content as value:
      echo 5051 > /etc/mesos-slave/port
    A name starting with '?' gives a flag without a value:
      touch /etc/mesos-slave/?switch_user
      touch /etc/mesos-slave/?no-switch_user

 *  Files in /etc/mesos-slave/attributes/ and /etc/mesos-slave/resources/
    are joined into --attributes and --resources, name:content;...:
      echo north-west > /etc/mesos-slave/attributes/rack

  A file /etc/mesos-master/?no-logger (or -slave) leaves output on the
  daemon's standard output and error instead of syslog.
";

/// Whether `path` is an executable file (the test of `[ -x ]` as far
/// as the wrapper needs it).
pub fn is_executable_path(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}
