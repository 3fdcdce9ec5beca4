//! Starting the daemon: through `logger` to syslog, or directly.

use std::ffi::OsString;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::Failure;

/// The argument that, when any argument contains it, keeps the daemon's
/// output off syslog; arguments equal to it are not passed on.
pub const NO_LOGGER: &str = "--no-logger";

/// How the daemon will be started.
#[derive(Debug, PartialEq, Eq)]
pub struct Launch {
    /// The arguments after the daemon's path.
    pub args: Vec<OsString>,
    /// Whether standard output and error go to `logger`.
    pub logged: bool,
}

/// Decides between syslog and plain output as the packaged script does:
/// an argument containing `--no-logger` anywhere (`?no-logger` is the
/// usual way) turns syslog off and arguments equal to it are dropped.
/// Through syslog an empty argument list is passed as one empty argument,
/// as the script's `"${args[@]:-}"` does; the daemon skips it.
pub fn plan(args: Vec<OsString>) -> Launch {
    let no_logger = args
        .iter()
        .any(|arg| contains(arg.as_bytes(), NO_LOGGER.as_bytes()));
    if no_logger {
        Launch {
            args: args.into_iter().filter(|arg| arg != NO_LOGGER).collect(),
            logged: false,
        }
    } else if args.is_empty() {
        Launch {
            args: vec![OsString::new()],
            logged: true,
        }
    } else {
        Launch { args, logged: true }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// Replaces this process with `daemon`, with `env` as its whole
/// environment. When `launch.logged`, first starts `logger -p user.info`
/// for standard output and `logger -p user.err` for standard error, both
/// tagged `<daemon name>[<pid>]` (the pid stays the daemon's). Returns
/// only on failure: 127 when the daemon is missing, 126 when it cannot be
/// run, as bash's `exec` exits.
pub fn exec(daemon: &Path, launch: Launch, env: &[(OsString, OsString)]) -> Failure {
    if launch.logged
        && let Err(failure) = redirect_to_syslog(daemon, env)
    {
        return failure;
    }
    let error = Command::new(daemon)
        .args(&launch.args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("_", daemon)
        .exec();
    Failure {
        status: if error.kind() == std::io::ErrorKind::NotFound {
            127
        } else {
            126
        },
        message: format!("exec: {}: {error}", daemon.display()),
    }
}

fn redirect_to_syslog(daemon: &Path, env: &[(OsString, OsString)]) -> Result<(), Failure> {
    let name = daemon
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tag = format!("{name}[{}]", std::process::id());
    for (priority, fd) in [("user.info", 1), ("user.err", 2)] {
        let logger = Command::new("logger")
            .args(["-p", priority, "-t", &tag])
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .spawn()
            .map_err(|e| Failure::new(format!("logger: {e}")))?;
        let stdin = logger.stdin.expect("stdin was piped");
        // SAFETY: both descriptors are open; dup2 replaces `fd` atomically.
        if unsafe { libc::dup2(stdin.as_raw_fd(), fd) } < 0 {
            return Err(Failure::new(format!(
                "dup2: {}",
                std::io::Error::last_os_error()
            )));
        }
        // `stdin` closes on drop; the copy on `fd` stays for the daemon.
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn logged_by_default_and_an_empty_list_becomes_one_empty_argument() {
        assert_eq!(
            plan(os(&["--port=5050"])),
            Launch {
                args: os(&["--port=5050"]),
                logged: true
            }
        );
        assert_eq!(
            plan(vec![]),
            Launch {
                args: os(&[""]),
                logged: true
            }
        );
    }

    #[test]
    fn no_logger_anywhere_turns_syslog_off_and_only_exact_copies_go() {
        assert_eq!(
            plan(os(&["--no-logger", "--port=1", "--x=a--no-loggerb"])),
            Launch {
                args: os(&["--port=1", "--x=a--no-loggerb"]),
                logged: false
            }
        );
        assert_eq!(
            plan(os(&["--no-logger"])),
            Launch {
                args: vec![],
                logged: false
            }
        );
    }
}
