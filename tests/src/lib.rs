//! Harness for the end-to-end tests: the real `mesos-master` and
//! `mesos-slave` binaries on loopback ports, driven by real clients.
//!
//! - [`Cluster`]: one master and N agents, each agent with its own work
//!   directory, ready once the master reports every agent activated;
//!   stopped (by the PIDs this harness started) when dropped, their stderr
//!   printed if the test is failing.
//! - [`http`]: a small HTTP/1.1 client, plus raw bytes over TCP.
//! - [`framework`]: a scripted v1 scheduler (protobuf) for calls a real
//!   client would not make.
//! - [`client`]: third-party clients as child processes: skip or require,
//!   read their JSON summaries, signal them.
//! - [`pymesos`], [`pesos`], [`libmesos`]: where each client is and how to
//!   run its framework script.
//! - [`zookeeper`]: a real ZooKeeper server or ensemble, and masters and
//!   agents that find each other through it ([`zookeeper::HaCluster`]).
//! - [`binary`]: the workspace's binaries, found beside the test executable
//!   (build them first with `cargo build --workspace --bins`).
//! - `src/bin/libprocess-test-executor.rs`: a custom executor speaking the
//!   libprocess executor protocol, as libmesos's `MesosExecutorDriver` does.
//!
//! ```no_run
//! # async fn demo() {
//! let cluster = mesos_e2e::Cluster::start(2).await;
//! let state = cluster.master_state().await;
//! assert_eq!(state["activated_slaves"], 2);
//! # }
//! ```
#![deny(missing_docs)]

pub mod client;
pub mod framework;
pub mod http;
pub mod libmesos;
pub mod pesos;
pub mod pymesos;
pub mod zookeeper;

use std::collections::BTreeSet;
use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How long a daemon may take to serve, and a cluster to gather its agents.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How often a wait re-checks its condition.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// The resources each agent offers.
pub const AGENT_RESOURCES: &str = "cpus:2;mem:1024;disk:1000;ports:[31000-32000]";

/// The directory holding the workspace's binaries: the test executable is
/// `target/<profile>/deps/<test>`, the binaries are in `target/<profile>`.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable has a path");
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| panic!("cannot locate target/<profile> from {}", exe.display()))
}

/// The path of the workspace binary `name`.
///
/// # Panics
/// When it has not been built.
pub fn binary(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.is_file(),
        "{} not found: run `cargo build --workspace --bins` (with the same profile as the tests) first",
        path.display()
    );
    path
}

/// A loopback port nobody listens on right now, and that this process has
/// not handed out before (tests run in parallel threads).
pub fn free_port() -> u16 {
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .expect("bind a loopback port")
            .port();
        if handed_out.insert(port) {
            return port;
        }
    }
}

/// A command for a workspace binary with no `MESOS_*` or `LIBPROCESS_*`
/// variables inherited: they are flags to Mesos binaries, and the caller's
/// environment must not change what the test runs.
pub fn command(name: &str) -> Command {
    let mut command = Command::new(binary(name));
    for (key, _) in std::env::vars_os() {
        let key_text = key.to_string_lossy();
        if key_text.starts_with("MESOS_") || key_text.starts_with("LIBPROCESS_") {
            command.env_remove(&key);
        }
    }
    command
}

/// The login name of the user running the tests (tasks run as it).
pub fn current_user() -> String {
    static USER: OnceLock<String> = OnceLock::new();
    USER.get_or_init(|| {
        // SAFETY: getuid cannot fail; getpwuid returns null or a pointer
        // into static storage, read at once. The OnceLock makes this the
        // only getpw* call of the process, so no other thread overwrites it.
        unsafe {
            let entry = libc::getpwuid(libc::getuid());
            if entry.is_null() || (*entry).pw_name.is_null() {
                return "root".into();
            }
            std::ffi::CStr::from_ptr((*entry).pw_name)
                .to_string_lossy()
                .into_owned()
        }
    })
    .clone()
}

/// A daemon this harness started.
pub struct Daemon {
    /// What to call it in messages (`master`, `agent 1`).
    pub name: String,
    /// Where it serves.
    pub addr: SocketAddr,
    /// Its `--work_dir`, if it has one.
    pub work_dir: Option<PathBuf>,
    /// The file its stdout and stderr go to.
    pub log: PathBuf,
    /// The process; killed (by its PID, nothing else) on drop.
    child: Child,
}

impl Daemon {
    /// Starts `binary` with `args`, its output going to `log`.
    pub fn spawn(
        name: &str,
        binary: &str,
        args: Vec<String>,
        addr: SocketAddr,
        work_dir: Option<PathBuf>,
        log: PathBuf,
    ) -> Daemon {
        let stderr =
            File::create(&log).unwrap_or_else(|e| panic!("create log file {}: {e}", log.display()));
        let stdout = stderr.try_clone().expect("clone the log file handle");
        let child = command(binary)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {binary}: {e}"));
        Daemon {
            name: name.to_string(),
            addr,
            work_dir,
            log,
            child,
        }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `Err` with its exit status and log when it is no longer running.
    pub fn check_running(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!(
                "{} exited ({status}); its log:\n{}",
                self.name,
                tail(&self.log, 50)
            )),
            Err(e) => Err(format!("{}: {e}", self.name)),
        }
    }

    /// Kills it (SIGKILL), as a crash or a power cut would, and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops it: SIGTERM, then SIGKILL if it has not exited within a few
    /// seconds.
    pub fn stop(&mut self) {
        if !matches!(self.child.try_wait(), Ok(None)) {
            return;
        }
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: kill has no memory effects; the pid is our own child,
            // not yet reaped, so it cannot have been reused.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(POLL_INTERVAL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The last `lines` lines of a log file.
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| format!("<{e}>"));
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// One master and its agents on loopback.
pub struct Cluster {
    /// The master.
    pub master: Daemon,
    /// The agents, in start order.
    pub agents: Vec<Daemon>,
    /// Logs and work directories; kept (and named) when a test fails.
    root: Option<TempDir>,
    /// Flags every agent gets on top of the harness's own.
    agent_flags: Vec<String>,
}

impl Cluster {
    /// A master with `agents` agents offering [`AGENT_RESOURCES`], once
    /// the master reports all of them activated.
    pub async fn start(agents: usize) -> Cluster {
        Cluster::start_with(agents, &[]).await
    }

    /// [`Cluster::start`] with extra master flags (`--offer_timeout=1secs`).
    pub async fn start_with(agents: usize, master_flags: &[&str]) -> Cluster {
        Cluster::start_with_agent_flags(agents, master_flags, &[]).await
    }

    /// [`Cluster::start_with`] with extra agent flags too
    /// (`--isolation=cgroups/mem`).
    pub async fn start_with_agent_flags(
        agents: usize,
        master_flags: &[&str],
        agent_flags: &[&str],
    ) -> Cluster {
        let root = tempfile::Builder::new()
            .prefix("mesos-e2e-")
            .tempdir()
            .expect("create a temporary directory");
        let master = start_ready("master", 3, |attempt| {
            let port = free_port();
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            let args = vec![
                "--ip=127.0.0.1".to_string(),
                format!("--port={port}"),
                "--registry=in_memory".to_string(),
                "--hostname=127.0.0.1".to_string(),
            ];
            let args = args
                .into_iter()
                .chain(master_flags.iter().map(|f| f.to_string()))
                .collect();
            let log = root.path().join(format!("master.{attempt}.log"));
            Daemon::spawn("master", "mesos-master", args, addr, None, log)
        })
        .await;
        let mut cluster = Cluster {
            master,
            agents: Vec::new(),
            root: Some(root),
            agent_flags: agent_flags.iter().map(|f| f.to_string()).collect(),
        };
        for index in 1..=agents {
            let agent = cluster.start_agent(index).await;
            cluster.agents.push(agent);
        }
        cluster.wait_for_agents(agents).await;
        cluster
    }

    /// `mesos-local`: a master and one agent offering [`AGENT_RESOURCES`]
    /// in one process (as [`Cluster::master`], with no [`Cluster::agents`]),
    /// once the master reports the agent activated.
    pub async fn local() -> Cluster {
        let root = tempfile::Builder::new()
            .prefix("mesos-e2e-")
            .tempdir()
            .expect("create a temporary directory");
        let work_root = root.path().to_path_buf();
        let master = start_ready("mesos-local", 3, |attempt| {
            let port = free_port();
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            let work_dir = work_root.join(format!("local.{attempt}"));
            std::fs::create_dir_all(&work_dir).expect("create the work dir");
            let args = vec![
                "--ip=127.0.0.1".to_string(),
                format!("--port={port}"),
                "--hostname=127.0.0.1".to_string(),
                format!("--work_dir={}", work_dir.display()),
                format!("--resources={AGENT_RESOURCES}"),
            ];
            let log = work_root.join(format!("local.{attempt}.log"));
            Daemon::spawn(
                "mesos-local",
                "mesos-local",
                args,
                addr,
                Some(work_dir),
                log,
            )
        })
        .await;
        let mut cluster = Cluster {
            master,
            agents: Vec::new(),
            root: Some(root),
            agent_flags: Vec::new(),
        };
        cluster.wait_for_agents(1).await;
        cluster
    }

    async fn start_agent(&self, index: usize) -> Daemon {
        let root = self
            .root
            .as_ref()
            .expect("the root lives as long as the cluster");
        let master = self.master.addr;
        let name = format!("agent {index}");
        start_ready(&name, 3, |attempt| {
            let port = free_port();
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            let work_dir = root.path().join(format!("agent{index}.{attempt}"));
            std::fs::create_dir_all(&work_dir).expect("create the agent work dir");
            let args = vec![
                format!("--master={master}"),
                "--ip=127.0.0.1".to_string(),
                format!("--port={port}"),
                "--hostname=127.0.0.1".to_string(),
                format!("--work_dir={}", work_dir.display()),
                format!("--resources={AGENT_RESOURCES}"),
                "--registration_backoff_factor=100ms".to_string(),
            ];
            let args = args
                .into_iter()
                .chain(self.agent_flags.iter().cloned())
                .collect();
            let log = root.path().join(format!("agent{index}.{attempt}.log"));
            Daemon::spawn(&name, "mesos-slave", args, addr, Some(work_dir), log)
        })
        .await
    }

    /// Waits until the master's `/master/state` counts `count` activated
    /// agents.
    ///
    /// # Panics
    /// When that takes longer than [`READY_TIMEOUT`] or a daemon exits.
    pub async fn wait_for_agents(&mut self, count: usize) {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            for daemon in std::iter::once(&mut self.master).chain(self.agents.iter_mut()) {
                if let Err(reason) = daemon.check_running() {
                    panic!("{reason}");
                }
            }
            let activated = match http::get(self.master.addr, "/master/state").await {
                Ok(response) => response.json()["activated_slaves"].as_u64(),
                Err(_) => None,
            };
            if activated == Some(count as u64) {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "timed out after {READY_TIMEOUT:?} waiting for {count} activated agents \
                     (activated_slaves: {activated:?})"
                );
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// The master's `/master/state`.
    ///
    /// # Panics
    /// When it does not answer `200` with JSON.
    pub async fn master_state(&self) -> serde_json::Value {
        let response = http::get(self.master.addr, "/master/state")
            .await
            .unwrap_or_else(|e| panic!("GET /master/state: {e}"));
        assert_eq!(
            response.status,
            200,
            "GET /master/state: {}",
            response.text()
        );
        response.json()
    }

    /// The master's address as clients take it (`127.0.0.1:PORT`).
    pub fn master_address(&self) -> String {
        self.master.addr.to_string()
    }

    /// Runs `mesos-execute` against the master with `args` (after
    /// `--master`) and returns what it did.
    pub fn mesos_execute(&self, args: &[&str]) -> Output {
        command("mesos-execute")
            .arg(format!("--master={}", self.master.addr))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run mesos-execute")
    }

    /// The file `name` (`stdout`, `stderr`) of every executor run's latest
    /// sandbox on every agent:
    /// `slaves/*/frameworks/*/executors/*/runs/latest/<name>`.
    pub fn sandbox_files(&self, name: &str) -> Vec<PathBuf> {
        let pattern = ["slaves", "*", "frameworks", "*", "executors", "*", "runs"];
        let mut found: Vec<PathBuf> = self
            .agents
            .iter()
            .filter_map(|agent| agent.work_dir.as_deref())
            .flat_map(|work_dir| glob_dirs(work_dir, &pattern))
            .map(|runs| runs.join("latest").join(name))
            .filter(|file| file.is_file())
            .collect();
        found.sort();
        found
    }

    /// Every daemon's log, for a failure message.
    pub fn logs(&self) -> String {
        let mut text = String::new();
        for daemon in std::iter::once(&self.master).chain(&self.agents) {
            text.push_str(&format!(
                "----- {} (pid {}, {}) -----\n{}\n",
                daemon.name,
                daemon.pid(),
                daemon.addr,
                tail(&daemon.log, 200)
            ));
        }
        text
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for agent in self.agents.iter_mut().rev() {
            agent.stop();
        }
        self.master.stop();
        self.kill_checkpointed_executors();
        if std::thread::panicking() {
            eprintln!("{}", self.logs());
            if let Some(root) = self.root.take() {
                eprintln!(
                    "logs and work directories kept in {}",
                    root.keep().display()
                );
            }
        }
    }
}

/// Starts a daemon with `spawn` (given the attempt number) until it serves
/// `GET /health` with `200`; a daemon that exits first (a port taken in the
/// meantime) is retried on a new port, up to `attempts` times.
async fn start_ready(
    name: &str,
    attempts: usize,
    mut spawn: impl FnMut(usize) -> Daemon,
) -> Daemon {
    let mut failures = Vec::new();
    for attempt in 1..=attempts {
        let mut daemon = spawn(attempt);
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Err(reason) = daemon.check_running() {
                failures.push(reason);
                break;
            }
            if let Ok(response) = http::get(daemon.addr, "/health").await
                && response.status == 200
            {
                return daemon;
            }
            if Instant::now() >= deadline {
                panic!(
                    "{name} did not serve /health within {READY_TIMEOUT:?}; its log:\n{}",
                    tail(&daemon.log, 50)
                );
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
    panic!(
        "{name} failed to start {attempts} times:\n{}",
        failures.join("\n")
    )
}

/// The directories matching `pattern` under `dir`, one component each,
/// `*` matching any name.
fn glob_dirs(dir: &Path, pattern: &[&str]) -> Vec<PathBuf> {
    let Some((first, rest)) = pattern.split_first() else {
        return vec![dir.to_path_buf()];
    };
    let children: Vec<PathBuf> = if *first == "*" {
        match std::fs::read_dir(dir) {
            Ok(entries) => entries.flatten().map(|e| e.path()).collect(),
            Err(_) => Vec::new(),
        }
    } else {
        vec![dir.join(first)]
    };
    children
        .into_iter()
        .filter(|child| child.is_dir())
        .flat_map(|child| glob_dirs(&child, rest))
        .collect()
}

impl Cluster {
    /// Kills agent `index` (0-based in [`Cluster::agents`]) with SIGKILL, as
    /// a crash would: its executors are left running.
    pub fn kill_agent(&mut self, index: usize) {
        self.agents[index].kill();
    }

    /// Starts agent `index` again, after [`Cluster::kill_agent`], on the
    /// same port and work directory with the same flags, plus `extra`
    /// ones (`--recover=cleanup`); does not wait for it to serve (an agent
    /// cleaning up exits on its own). Its log is a new file.
    pub fn respawn_agent(&mut self, index: usize, extra: &[&str]) {
        let old = &self.agents[index];
        let (addr, work_dir, name) = (old.addr, old.work_dir.clone(), old.name.clone());
        let work_dir = work_dir.expect("agents have a work directory");
        let root = self
            .root
            .as_ref()
            .expect("the root lives as long as the cluster");
        let restarts = std::fs::read_dir(root.path())
            .map(|entries| entries.count())
            .unwrap_or(0);
        let log = root
            .path()
            .join(format!("agent{}.restart{restarts}.log", index + 1));
        let args = vec![
            format!("--master={}", self.master.addr),
            "--ip=127.0.0.1".to_string(),
            format!("--port={}", addr.port()),
            "--hostname=127.0.0.1".to_string(),
            format!("--work_dir={}", work_dir.display()),
            format!("--resources={AGENT_RESOURCES}"),
            "--registration_backoff_factor=100ms".to_string(),
        ];
        let args = args
            .into_iter()
            .chain(self.agent_flags.iter().cloned())
            .chain(extra.iter().map(|f| f.to_string()))
            .collect();
        self.agents[index] = Daemon::spawn(&name, "mesos-slave", args, addr, Some(work_dir), log);
    }

    /// [`Cluster::respawn_agent`], then waits until it serves `/health`.
    ///
    /// # Panics
    /// When it exits or does not serve within [`READY_TIMEOUT`].
    pub async fn restart_agent(&mut self, index: usize, extra: &[&str]) {
        self.respawn_agent(index, extra);
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let agent = &mut self.agents[index];
            if let Err(reason) = agent.check_running() {
                panic!("{reason}");
            }
            if let Ok(response) = http::get(agent.addr, "/health").await
                && response.status == 200
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not serve /health within {READY_TIMEOUT:?} after its restart",
                agent.name
            );
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}

impl Daemon {
    /// Waits up to `timeout` for it to exit on its own; its exit status.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }
}

impl Cluster {
    /// Kills the executors the agents checkpointed that still run: a
    /// stopped agent leaves checkpointing frameworks' executors running
    /// (as Mesos's does, for its next start to recover), and a test must
    /// leave no process behind. Each pid is read from a `forked.pid` under
    /// the cluster's directories and checked to lead its own session
    /// (as every executor does) before its session is killed.
    pub fn kill_checkpointed_executors(&self) {
        fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_symlink() {
                    continue;
                }
                if path.is_dir() {
                    walk(&path, found);
                } else if path.file_name().is_some_and(|n| n == "forked.pid") {
                    found.push(path);
                }
            }
        }
        // Every work directory of the cluster (the agents', mesos-local's).
        let mut files = Vec::new();
        if let Some(root) = &self.root {
            walk(root.path(), &mut files);
        }
        for file in files {
            let Some(pid) = std::fs::read_to_string(&file)
                .ok()
                .and_then(|text| text.trim().parse::<libc::pid_t>().ok())
                .filter(|&pid| pid > 1)
            else {
                continue;
            };
            // SAFETY: getsid has no memory effects.
            if unsafe { libc::getsid(pid) } != pid {
                continue;
            }
            // The whole session: the executor and its tasks' groups.
            let members = std::fs::read_dir("/proc")
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<libc::pid_t>().ok());
            for member in members {
                // SAFETY: getsid and kill have no memory effects; only
                // members of the executor's session are signalled.
                unsafe {
                    if libc::getsid(member) == pid {
                        libc::kill(member, libc::SIGKILL);
                    }
                }
            }
        }
    }
}

impl Cluster {
    /// Waits until agent `index` has checkpointed its info
    /// (`meta/slaves/latest/slave.info`), which it does on taking its
    /// registration: the master counts an agent activated a little
    /// earlier, and a task sent in between finds the agent unregistered.
    ///
    /// # Panics
    /// When that takes longer than [`READY_TIMEOUT`].
    pub async fn wait_for_agent_checkpoint(&self, index: usize) {
        let info = self.agents[index]
            .work_dir
            .as_ref()
            .expect("agents have a work directory")
            .join("meta/slaves/latest/slave.info");
        let deadline = Instant::now() + READY_TIMEOUT;
        while !info.is_file() {
            assert!(Instant::now() < deadline, "no {}", info.display());
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}
