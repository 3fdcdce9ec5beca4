//! Executors as child processes, each the leader of its own session, so
//! the agent can find and kill everything an executor started (tasks may
//! move into process groups of their own, but not out of the session).

use std::fs::OpenOptions;
use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::Stdio;

use super::LaunchSpec;

/// A running executor process.
#[derive(Debug)]
pub struct Container {
    /// The executor's pid, which is also its session id.
    pid: u32,
    child: tokio::process::Child,
}

/// How an executor process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerExit {
    /// The raw wait status, when the process could be reaped.
    pub status: Option<i32>,
    /// A description: "exited with status 0", "terminated with signal 9".
    pub message: String,
}

impl Container {
    /// Starts the executor described by `spec`: a new session, working
    /// directory and output files in the sandbox, exactly `spec`'s
    /// environment.
    pub fn launch(spec: &LaunchSpec) -> io::Result<Container> {
        Container::launch_in(spec, &[], false)
    }

    /// [`Container::launch`], the executor joining the cgroups whose
    /// `cgroup.procs` files are given before it runs: it writes itself
    /// into them between fork and exec, so whatever it starts is in them.
    ///
    /// With `pid_namespace` (`namespaces/pid`) the executor is process 1
    /// of a new pid namespace, with its own `/proc` in a new mount
    /// namespace: the forked child unshares both and forks the executor,
    /// then stays to wait for it and end as it ends (the agent's child is
    /// that waiter; both are in the session and the cgroups).
    pub fn launch_in(
        spec: &LaunchSpec,
        cgroup_procs: &[std::path::PathBuf],
        pid_namespace: bool,
    ) -> io::Result<Container> {
        let open = |name: &str| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(spec.sandbox.join(name))
        };
        let stdout = open("stdout")?;
        let stderr = open("stderr")?;
        let value = spec.command.value.clone().unwrap_or_default();
        let mut command = if spec.command.shell() {
            let mut c = std::process::Command::new("/bin/sh");
            c.arg("-c").arg(&value);
            c
        } else {
            let mut c = std::process::Command::new(&value);
            if let Some((argv0, rest)) = spec.command.arguments.split_first() {
                c.arg0(argv0).args(rest);
            }
            c
        };
        command
            .current_dir(&spec.sandbox)
            .env_clear()
            .envs(&spec.environment)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        // Our command executor makes itself a session leader as it starts,
        // which lets the process be spawned without a pre-exec hook, so
        // with posix_spawn instead of a fork of the whole agent (whose page
        // tables cost more to copy than the executor costs to run). Other
        // executors get the session from a hook in the forked child.
        // Joining cgroups needs the hook too.
        let join: Vec<std::ffi::CString> = cgroup_procs
            .iter()
            .map(|p| std::ffi::CString::new(p.as_os_str().as_encoded_bytes()))
            .collect::<Result<_, _>>()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let hooked = !is_command_executor(spec) || pid_namespace;
        if hooked {
            // SAFETY: the closure runs in the forked child before exec and
            // only makes async-signal-safe calls (setsid, open, write,
            // close) on memory prepared before the fork.
            unsafe {
                command.pre_exec(move || {
                    // Our command executor's own setsid then fails, which
                    // it ignores.
                    if libc::setsid() == -1 {
                        return Err(io::Error::last_os_error());
                    }
                    for path in &join {
                        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                        if fd < 0 {
                            return Err(io::Error::last_os_error());
                        }
                        // "0" is the writing process itself.
                        let written = libc::write(fd, c"0".as_ptr().cast(), 1);
                        let error = io::Error::last_os_error();
                        libc::close(fd);
                        if written != 1 {
                            return Err(error);
                        }
                    }
                    if pid_namespace {
                        enter_pid_namespace()?;
                    }
                    Ok(())
                });
            }
        }
        // Spawned without the hook, our executor waits on its standard input
        // for one byte, written once it is in its cgroups.
        let sync = !hooked && !cgroup_procs.is_empty();
        if sync {
            command
                .stdin(Stdio::piped())
                .env(CGROUPS_JOINED_ENV, "stdin");
        }
        let mut child = tokio::process::Command::from(command).spawn()?;
        let pid = child
            .id()
            .ok_or_else(|| io::Error::other("executor exited before its pid was read"))?;
        if sync {
            for path in cgroup_procs {
                if let Err(e) = std::fs::write(path, pid.to_string()) {
                    let _ = child.start_kill();
                    return Err(io::Error::new(
                        e.kind(),
                        format!("failed to move the executor into {}: {e}", path.display()),
                    ));
                }
            }
        }
        if sync {
            let written = child.stdin.take().map(|stdin| {
                stdin
                    .into_owned_fd()
                    .map(std::fs::File::from)
                    .and_then(|mut stdin| std::io::Write::write_all(&mut stdin, b"1"))
            });
            if let Some(Err(e)) = written {
                let _ = child.start_kill();
                return Err(io::Error::new(
                    e.kind(),
                    format!("failed to let the executor start: {e}"),
                ));
            }
        }
        Ok(Container { pid, child })
    }

    /// The executor's pid (and session id).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Waits for the executor to exit, then kills whatever it left
    /// behind in its session.
    pub async fn wait(mut self) -> ContainerExit {
        let exit = match self.child.wait().await {
            Ok(status) => ContainerExit {
                status: Some(status.into_raw()),
                message: describe(status),
            },
            Err(e) => ContainerExit {
                status: None,
                message: format!("failed to reap executor: {e}"),
            },
        };
        sweep_session(self.pid);
        exit
    }
}

/// In the forked child: unshares a pid and a mount namespace and forks
/// the future executor into them (it returns, to exec, as process 1 with
/// a fresh `/proc`); the first child waits for it and exits as it exits.
///
/// # Safety
/// Only to be called between fork and exec: it makes only
/// async-signal-safe calls.
unsafe fn enter_pid_namespace() -> io::Result<()> {
    // SAFETY: plain system calls on no shared memory; see the function's
    // contract.
    unsafe {
        if libc::unshare(libc::CLONE_NEWPID | libc::CLONE_NEWNS) != 0 {
            return Err(io::Error::last_os_error());
        }
        let executor = libc::fork();
        if executor < 0 {
            return Err(io::Error::last_os_error());
        }
        if executor > 0 {
            // The waiter. Close what it inherited (the spawn's error pipe
            // among it, which the executor's exec closes for the agent).
            libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
            let mut status = 0;
            loop {
                let reaped = libc::waitpid(executor, &mut status, 0);
                if reaped == executor {
                    break;
                }
                if reaped < 0 && *libc::__errno_location() != libc::EINTR {
                    libc::_exit(127);
                }
            }
            if libc::WIFSIGNALED(status) {
                let signal = libc::WTERMSIG(status);
                libc::signal(signal, libc::SIG_DFL);
                libc::kill(libc::getpid(), signal);
            }
            libc::_exit(if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                127
            });
        }
        // Process 1 of the new namespace: gone with the waiter.
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        // Mounts made here stay here.
        if libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ) != 0
        {
            return Err(io::Error::last_os_error());
        }
        if libc::mount(
            c"proc".as_ptr(),
            c"/proc".as_ptr(),
            c"proc".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            std::ptr::null(),
        ) != 0
        {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Whether `pid` runs and leads its own session, as every executor this
/// agent launches does: a recovered pid that fails this was reused by an
/// unrelated process (or never got as far as `setsid`).
pub fn is_live_session_leader(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    if pid <= 1 || !is_running(pid) {
        return false;
    }
    // SAFETY: getsid has no memory-safety preconditions.
    unsafe { libc::getsid(pid) == pid }
}

/// Whether `pid` exists and is not a zombie.
fn is_running(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks for existence.
    if unsafe { libc::kill(pid, 0) } != 0
        && std::io::Error::last_os_error().raw_os_error() != Some(libc::EPERM)
    {
        return false;
    }
    // The state is the field after the parenthesised command name.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next().map(str::to_string))
        })
        .is_some_and(|state| state != "Z" && state != "X")
}

/// Waits until `pid`, a process this agent did not fork (one a previous
/// run of the agent launched, now reparented), ends. Through a pidfd,
/// which the kernel makes readable when the process exits; by polling
/// where pidfds are not available. The exit status of a process that is
/// not our child cannot be had.
pub async fn wait_foreign(pid: u32) {
    let Ok(raw) = i32::try_from(pid) else {
        return;
    };
    // SAFETY: pidfd_open takes a pid and flags, and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, raw, 0) };
    if let Ok(fd) = i32::try_from(fd)
        && fd >= 0
    {
        // SAFETY: the fd was just returned by pidfd_open and is owned here.
        let owned = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        // SAFETY: the AsyncFd owns the fd, which nothing else closes or
        // reuses while it is registered.
        let registered = unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(owned, tokio::io::Interest::READABLE)
        };
        if let Ok(watched) = registered {
            let _ = watched.readable().await;
            return;
        }
    }
    while is_running(raw) {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// Sessions whose leftovers are to be killed by the next sweep.
static PENDING_SWEEPS: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());

/// How long exited executors' sessions wait to be swept together: one
/// scan of `/proc` serves every executor that exited meanwhile, instead of
/// one scan per executor (which is quadratic when hundreds run).
const SWEEP_DELAY: std::time::Duration = std::time::Duration::from_secs(1);

/// Kills, soon and off the async runtime, whatever an exited executor left
/// behind in its session.
pub fn sweep_session(sid: u32) {
    let first = {
        let mut pending = PENDING_SWEEPS.lock().unwrap_or_else(|e| e.into_inner());
        pending.push(sid);
        pending.len() == 1
    };
    if !first {
        return;
    }
    let sweep = || {
        std::thread::sleep(SWEEP_DELAY);
        let sessions =
            std::mem::take(&mut *PENDING_SWEEPS.lock().unwrap_or_else(|e| e.into_inner()));
        kill_sessions(&sessions, libc::SIGKILL);
    };
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            handle.spawn_blocking(sweep);
        }
        Err(_) => sweep(),
    }
}

/// Whether `spec` runs our `mesos-executor` or `mesos-default-executor`,
/// which call `setsid` themselves.
/// Set for our executors spawned without a pre-exec hook: they read one
/// byte from standard input, which the agent writes once they are in their
/// cgroups, before they start (see [`wait_until_contained`]).
pub const CGROUPS_JOINED_ENV: &str = "MESOS_EXECUTOR_WAIT_FOR_CGROUPS";

/// Run first by our executors: when the agent spawned this one to move it
/// into its cgroups from outside, waits until it has (one byte on
/// standard input). An end of input means the agent gave up: exit.
pub fn wait_until_contained() {
    if std::env::var_os(CGROUPS_JOINED_ENV).is_none() {
        return;
    }
    let mut byte = [0u8; 1];
    match std::io::Read::read(&mut std::io::stdin(), &mut byte) {
        Ok(1) => {}
        _ => std::process::exit(1),
    }
}

fn is_command_executor(spec: &LaunchSpec) -> bool {
    !spec.command.shell()
        && spec
            .command
            .value
            .as_deref()
            .and_then(|v| std::path::Path::new(v).file_name())
            .is_some_and(|name| name == "mesos-executor" || name == "mesos-default-executor")
}

fn describe(status: std::process::ExitStatus) -> String {
    if let Some(code) = status.code() {
        format!("exited with status {code}")
    } else if let Some(signal) = status.signal() {
        format!("terminated with signal {}", signal_name(signal))
    } else {
        format!("ended with wait status {}", status.into_raw())
    }
}

/// The name `strsignal` gives a signal ("Killed", "Terminated").
pub fn signal_name(signal: i32) -> String {
    // SAFETY: strsignal returns a pointer to a static or thread-local
    // string (or null), which is copied at once.
    unsafe {
        let text = libc::strsignal(signal);
        if text.is_null() {
            return signal.to_string();
        }
        std::ffi::CStr::from_ptr(text)
            .to_string_lossy()
            .into_owned()
    }
}

/// Sends `signal` to every process in session `sid`. Returns how many
/// processes were signalled.
pub fn kill_session(sid: u32, signal: i32) -> usize {
    // The leader itself first: an executor that has not made itself a
    // session leader yet (or never does) still goes.
    // SAFETY: kill has no memory-safety preconditions.
    let leader = usize::from(unsafe { libc::kill(sid as i32, signal) } == 0);
    leader + kill_sessions(&[sid], signal)
}

/// Sends `signal` to every process in any of `sessions`, in one scan of
/// `/proc`. Returns how many processes were signalled.
pub fn kill_sessions(sessions: &[u32], signal: i32) -> usize {
    if sessions.is_empty() {
        return 0;
    }
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut count = 0;
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if session_of(pid).is_some_and(|sid| sessions.contains(&sid)) {
            // SAFETY: kill has no memory-safety preconditions.
            if unsafe { libc::kill(pid, signal) } == 0 {
                count += 1;
            }
        }
    }
    count
}

/// The session id of `pid` (`getsid`: a syscall, far cheaper than
/// reading `/proc/<pid>/stat`).
fn session_of(pid: i32) -> Option<u32> {
    // SAFETY: getsid has no memory-safety preconditions.
    let sid = unsafe { libc::getsid(pid) };
    u32::try_from(sid).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos::wire::mesos as v0;
    use std::collections::BTreeMap;

    fn spec(dir: &std::path::Path, shell: &str) -> LaunchSpec {
        LaunchSpec {
            container_id: "c1".into(),
            framework_id: "F".into(),
            executor_id: "E".into(),
            limits: Default::default(),
            sandbox: dir.to_path_buf(),
            command: v0::CommandInfo {
                value: Some(shell.into()),
                ..Default::default()
            },
            environment: BTreeMap::from([("GREETING".to_string(), "hello".to_string())]),
        }
    }

    #[tokio::test]
    async fn runs_in_the_sandbox_with_its_environment() {
        let dir = tempfile::tempdir().unwrap();
        let c = Container::launch(&spec(dir.path(), "echo $GREETING; pwd; echo err >&2")).unwrap();
        let exit = c.wait().await;
        assert_eq!(exit.message, "exited with status 0");
        let out = std::fs::read_to_string(dir.path().join("stdout")).unwrap();
        let canonical = dir.path().canonicalize().unwrap();
        assert_eq!(out, format!("hello\n{}\n", canonical.display()));
        assert_eq!(
            std::fs::read_to_string(dir.path().join("stderr")).unwrap(),
            "err\n"
        );
    }

    #[tokio::test]
    async fn killing_the_session_kills_the_tree() {
        let dir = tempfile::tempdir().unwrap();
        let c = Container::launch(&spec(dir.path(), "sleep 100 & sleep 100; exit 3")).unwrap();
        let pid = c.pid();
        // Wait for the shell to fork its background child.
        for _ in 0..100 {
            if session_members(pid) >= 3 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let members = session_members(pid);
        let killed = kill_session(pid, libc::SIGKILL);
        assert!(killed >= 2, "members {members} killed {killed}");
        let exit = c.wait().await;
        assert_eq!(exit.message, "terminated with signal Killed");
        for _ in 0..100 {
            if session_members(pid) == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(session_members(pid), 0);
    }

    #[tokio::test]
    async fn namespaces_pid_makes_the_executor_process_1() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: pid namespaces need root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let script = "echo $$ > pid; cat /proc/1/comm > comm; \
                      ls /proc | grep -c '^[0-9]' > count; exit 3";
        let c = Container::launch_in(&spec(dir.path(), script), &[], true).unwrap();
        let exit = c.wait().await;
        assert_eq!(exit.message, "exited with status 3");
        let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
        assert_eq!(read("pid").trim(), "1");
        assert_eq!(read("comm").trim(), "sh");
        let count: u32 = read("count").trim().parse().unwrap();
        assert!(count <= 4, "{count} processes seen in the namespace");

        // Killed, the waiter ends as the executor does.
        let c = Container::launch_in(&spec(dir.path(), "sleep 100"), &[], true).unwrap();
        let pid = c.pid();
        for _ in 0..100 {
            if session_members(pid) >= 2 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(kill_session(pid, libc::SIGKILL) >= 2);
        assert_eq!(c.wait().await.message, "terminated with signal Killed");
    }

    fn session_members(sid: u32) -> usize {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()))
            .filter(|pid| session_of(*pid) == Some(sid) && !is_zombie(*pid))
            .count()
    }

    fn is_zombie(pid: i32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s[s.rfind(')').unwrap() + 1..].split_whitespace().next() == Some("Z"))
            .unwrap_or(true)
    }
}
