//! Third-party clients run as child processes: whether a test skips for
//! want of one, and what a run printed. Each client script prints one JSON
//! summary line when it is done (and the libmesos framework one more while
//! it holds); progress goes to stderr.

use std::fs::File;
use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// How a client is found: the variable naming it, and the one that makes
/// its absence a failure.
#[derive(Debug, Clone, Copy)]
pub struct Client {
    /// What to call it in messages (`pymesos`).
    pub name: &'static str,
    /// The variable naming where it is.
    pub var: &'static str,
    /// Set to `1` to make a missing client a failure instead of a skip.
    pub require_var: &'static str,
}

impl Client {
    /// Whether CI asked for the client to be present.
    pub fn required(&self) -> bool {
        std::env::var(self.require_var).is_ok_and(|v| v == "1")
    }

    /// The value of [`Client::var`], if set and not empty.
    pub fn configured(&self) -> Option<std::ffi::OsString> {
        std::env::var_os(self.var).filter(|v| !v.is_empty())
    }

    /// `located`, or `None` when the test should be skipped: the variable
    /// is unset and the client not required, which is said on stderr (past
    /// the test harness's capture, so it shows in a normal run).
    ///
    /// # Panics
    /// When the variable is set but the client unusable, or unset while
    /// [`Client::require_var`] is `1`.
    pub fn or_skip<T>(&self, test: &str, located: Result<T, String>) -> Option<T> {
        match located {
            Ok(found) => Some(found),
            Err(reason) if self.configured().is_none() && !self.required() => {
                let _ = writeln!(std::io::stderr(), "{test}: skipped: {reason}");
                None
            }
            Err(reason) if self.configured().is_none() => {
                panic!("{} is 1 but {reason}", self.require_var)
            }
            Err(reason) => panic!("{reason}"),
        }
    }
}

/// What one run of a client script did.
#[derive(Debug)]
pub struct FrameworkRun {
    /// The process's exit status and output.
    pub output: Output,
    /// Its last JSON summary line (`Null` if it printed none).
    pub summary: Value,
}

impl FrameworkRun {
    /// A run from its output: the summary is the last line that is JSON.
    pub fn from_output(output: Output) -> FrameworkRun {
        let summary = String::from_utf8_lossy(&output.stdout)
            .lines()
            .rev()
            .find_map(|line| serde_json::from_str(line).ok())
            .unwrap_or(Value::Null);
        FrameworkRun { output, summary }
    }

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

/// A client script still running: its stdout read line by line, its
/// stderr kept in a file. Killed (by its PID) when dropped.
pub struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    stdout: Vec<String>,
    stderr: File,
    status: Option<ExitStatus>,
}

impl Running {
    /// Starts `command` with stdin closed.
    ///
    /// # Panics
    /// When it cannot be started.
    pub fn spawn(mut command: Command) -> Running {
        let stderr = tempfile::tempfile().expect("create a file for stderr");
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr.try_clone().expect("clone the stderr file handle"))
            .spawn()
            .unwrap_or_else(|e| panic!("run {command:?}: {e}"));
        let stdout = child.stdout.take().expect("stdout is piped");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines,
            stdout: Vec::new(),
            stderr,
            status: None,
        }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next JSON line it prints, waiting at most `timeout`.
    pub fn next_summary(&mut self, timeout: Duration) -> Result<Value, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let parsed = serde_json::from_str::<Value>(&line).ok();
                    self.stdout.push(line);
                    if let Some(summary) = parsed.filter(Value::is_object) {
                        return Ok(summary);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "no summary within {timeout:?}\n{}",
                        self.describe()
                    ));
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(format!("it ended without a summary\n{}", self.describe()));
                }
            }
        }
    }

    /// Sends it `signal` (`libc::SIGKILL`, `libc::SIGTERM`).
    pub fn signal(&mut self, signal: libc::c_int) {
        if !matches!(self.child.try_wait(), Ok(None)) {
            return;
        }
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: kill has no memory effects; the pid is our own child,
            // not yet reaped, so it cannot have been reused.
            unsafe {
                libc::kill(pid, signal);
            }
        }
    }

    /// Waits at most `timeout` for it to exit (then kills it) and returns
    /// all it printed.
    pub fn wait(mut self, timeout: Duration) -> FrameworkRun {
        let deadline = Instant::now() + timeout;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                _ => {
                    let _ = self.child.kill();
                    break self.child.wait().expect("reap the client");
                }
            }
        };
        self.status = Some(status);
        // The reader ends with the pipe.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.stdout.push(line);
        }
        FrameworkRun::from_output(Output {
            status,
            stdout: self.stdout_text().into_bytes(),
            stderr: self.stderr_text().into_bytes(),
        })
    }

    fn stdout_text(&self) -> String {
        self.stdout.iter().map(|l| format!("{l}\n")).collect()
    }

    fn stderr_text(&self) -> String {
        // Read at offsets: the child writes through a descriptor sharing
        // this file's position, which must not move under it.
        use std::os::unix::fs::FileExt as _;
        let mut bytes = Vec::new();
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            match self.stderr.read_at(&mut buffer, bytes.len() as u64) {
                Ok(0) | Err(_) => break,
                Ok(n) => bytes.extend_from_slice(&buffer[..n]),
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// What it printed so far, for a failure message.
    pub fn describe(&self) -> String {
        format!(
            "stdout:\n{}\nstderr:\n{}",
            self.stdout_text(),
            self.stderr_text()
        )
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.status.is_none() && matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A command for a client: no `MESOS_*` or `LIBPROCESS_*` variables
/// inherited (libmesos reads both as flags).
pub fn command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new(program);
    for (key, _) in std::env::vars_os() {
        let key_text = key.to_string_lossy();
        if key_text.starts_with("MESOS_") || key_text.starts_with("LIBPROCESS_") {
            command.env_remove(&key);
        }
    }
    command
}
