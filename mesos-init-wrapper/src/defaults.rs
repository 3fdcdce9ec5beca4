//! Sourcing `/etc/default/mesos` and `/etc/default/<service>`.
//!
//! These files are shell (the packaged `/etc/default/mesos-master` says
//! `` ZK=`cat /etc/mesos/zk` ``), so bash reads them, as in the packaged
//! script: with `errexit`, `nounset` and `pipefail`, and with `allexport`
//! so that every variable they assign reaches the daemon. The bash runs as
//! a child; it writes its exported environment, NUL-separated, to a pipe on
//! descriptor 3, leaving standard output and error to the files' own
//! output. A failing file ends the wrapper with bash's exit status.

use std::ffi::OsString;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::Command;

use crate::Failure;

/// The shell that reads the files.
pub const BASH: &str = "/bin/bash";

/// Runs by `bash -c`; `$1` and `$2` are the two files, the rest are the
/// wrapper's extra arguments, which the packaged script's files see as
/// `$@` too.
const SCRIPT: &str = r#"__mesos_init_wrapper_first=$1 __mesos_init_wrapper_second=$2
shift 2
set -o errexit -o nounset -o pipefail
set -o allexport
[[ ! -f $__mesos_init_wrapper_first ]] || . "$__mesos_init_wrapper_first"
[[ ! -f $__mesos_init_wrapper_second ]] || . "$__mesos_init_wrapper_second"
set +o allexport
exec env -0 >&3
"#;

/// The environment after sourcing `common` then `service` (each only if
/// it is a regular file) in a bash started with `env`. `extra` are the
/// wrapper's arguments after the mode. The result keeps bash's order and
/// leaves out `_`, which bash sets for each command it runs.
pub fn source(
    common: &Path,
    service: &Path,
    extra: &[OsString],
    env: &[(OsString, OsString)],
) -> Result<Vec<(OsString, OsString)>, Failure> {
    let (reader, writer) = pipe().map_err(|e| Failure::new(format!("pipe: {e}")))?;
    let writer_fd = writer.as_raw_fd();
    let mut command = Command::new(BASH);
    command
        .arg("-c")
        .arg(SCRIPT)
        .arg("mesos-init-wrapper")
        .arg(common)
        .arg(service)
        .args(extra)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)));
    // SAFETY: only dup2, which is async-signal-safe, runs in the child.
    unsafe {
        command.pre_exec(move || {
            if libc::dup2(writer_fd, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .map_err(|e| Failure::new(format!("{BASH}: {e}")))?;
    drop(writer);
    let mut dump = Vec::new();
    let read = std::fs::File::from(reader).read_to_end(&mut dump);
    let status = child
        .wait()
        .map_err(|e| Failure::new(format!("{BASH}: {e}")))?;
    if !status.success() {
        let code = status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
        // bash has said what failed on standard error.
        return Err(Failure {
            status: code,
            message: String::new(),
        });
    }
    read.map_err(|e| Failure::new(format!("reading the environment: {e}")))?;
    Ok(parse_env(&dump))
}

/// `NAME=value\0...` into pairs, without `_`.
fn parse_env(dump: &[u8]) -> Vec<(OsString, OsString)> {
    dump.split(|&b| b == 0)
        .filter(|entry| !entry.is_empty())
        .filter_map(|entry| {
            let eq = entry.iter().position(|&b| b == b'=')?;
            let name = &entry[..eq];
            (name != b"_").then(|| {
                (
                    OsString::from_vec(name.to_vec()),
                    OsString::from_vec(entry[eq + 1..].to_vec()),
                )
            })
        })
        .collect()
}

/// A pipe whose ends close on exec.
fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both descriptors are open and ours.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var<'a>(env: &'a [(OsString, OsString)], name: &str) -> Option<&'a str> {
        env.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.to_str().unwrap())
    }

    #[test]
    fn parse_env_drops_underscore_and_keeps_equals_in_values() {
        let env = parse_env(b"A=1\0_=/usr/bin/env\0B=x=y\0C=\0");
        assert_eq!(
            env,
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "x=y".into()),
                ("C".into(), "".into())
            ]
        );
    }

    #[test]
    fn assignments_are_exported_and_later_files_win() {
        let dir = tempfile::tempdir().unwrap();
        let common = dir.path().join("mesos");
        let service = dir.path().join("mesos-master");
        std::fs::write(&common, "LOGS=/var/log/mesos\nPORT=1\n").unwrap();
        std::fs::write(&service, "PORT=5050\nMESOS_QUORUM=$((1+1))\n").unwrap();
        let env = source(&common, &service, &[], &[("KEEP".into(), "me".into())]).unwrap();
        assert_eq!(var(&env, "LOGS"), Some("/var/log/mesos"));
        assert_eq!(var(&env, "PORT"), Some("5050"));
        assert_eq!(var(&env, "MESOS_QUORUM"), Some("2"));
        assert_eq!(var(&env, "KEEP"), Some("me"));
        assert_eq!(var(&env, "_"), None);
    }

    #[test]
    fn missing_files_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let env = source(
            &dir.path().join("none"),
            &dir.path().join("neither"),
            &[],
            &[],
        )
        .unwrap();
        assert_eq!(var(&env, "PORT"), None);
    }

    #[test]
    fn a_failing_command_substitution_fails_like_errexit() {
        let dir = tempfile::tempdir().unwrap();
        let service = dir.path().join("mesos-master");
        std::fs::write(&service, "ZK=`cat /nonexistent/zk`\nPORT=5050\n").unwrap();
        let failure = source(&dir.path().join("none"), &service, &[], &[]).unwrap_err();
        assert_eq!(failure.status, 1);
    }

    #[test]
    fn unset_variables_are_errors_like_nounset() {
        let dir = tempfile::tempdir().unwrap();
        let service = dir.path().join("mesos-master");
        std::fs::write(&service, "PORT=$NOT_SET_ANYWHERE\n").unwrap();
        assert!(source(&dir.path().join("none"), &service, &[], &[]).is_err());
    }
}
