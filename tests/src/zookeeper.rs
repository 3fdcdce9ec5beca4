//! A real ZooKeeper server for the high-availability tests, and masters
//! and agents that find each other through it.
//!
//! The server is Debian's ZooKeeper (`apt-get install zookeeper`), run as
//! `java ... QuorumPeerMain <config>` with a configuration and data
//! directory of its own, on a loopback port, and stopped by its PID.
//! `MESOS_TEST_ZOOKEEPER_CLASSPATH` overrides where its jars are.
//! [`Ensemble`] runs several such servers as one replicated ensemble
//! (`server.N=127.0.0.1:<peer>:<election>` in each `zoo.cfg`, a `myid` in
//! each data directory).
//! When ZooKeeper is not installed the tests skip, unless
//! `MESOS_TEST_REQUIRE_ZOOKEEPER` is set (as `tests/run` does): then they
//! fail.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::{Daemon, POLL_INTERVAL, READY_TIMEOUT, free_port, http, tail};

/// The jars Debian installs, in `/usr/share/java`: the server (its
/// manifest names its dependencies) and a logging binding.
const DEBIAN_JARS: &[&str] = &["zookeeper.jar", "slf4j-simple.jar"];

/// The classpath to run ZooKeeper with, if it is installed (and `java`
/// runs).
pub fn classpath() -> Option<String> {
    let classpath = match std::env::var("MESOS_TEST_ZOOKEEPER_CLASSPATH") {
        Ok(classpath) if !classpath.is_empty() => classpath,
        _ => {
            let dir = Path::new("/usr/share/java");
            if !dir.join("zookeeper.jar").is_file() {
                return None;
            }
            DEBIAN_JARS
                .iter()
                .map(|jar| dir.join(jar))
                .filter(|jar| jar.is_file())
                .map(|jar| jar.display().to_string())
                .collect::<Vec<_>>()
                .join(":")
        }
    };
    let java = Command::new("java")
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    java.is_ok_and(|s| s.success()).then_some(classpath)
}

/// Whether ZooKeeper tests must run (`MESOS_TEST_REQUIRE_ZOOKEEPER`).
pub fn required() -> bool {
    std::env::var_os("MESOS_TEST_REQUIRE_ZOOKEEPER").is_some_and(|v| !v.is_empty() && v != "0")
}

/// The classpath, or `None` after printing why the test skips.
///
/// # Panics
/// When ZooKeeper is missing and required.
pub fn classpath_or_skip(test: &str) -> Option<String> {
    match classpath() {
        Some(classpath) => Some(classpath),
        None if required() => panic!(
            "{test}: ZooKeeper is required (MESOS_TEST_REQUIRE_ZOOKEEPER is set) but not \
             installed: apt-get install zookeeper, or set MESOS_TEST_ZOOKEEPER_CLASSPATH"
        ),
        None => {
            eprintln!(
                "SKIPPED {test}: ZooKeeper is not installed (apt-get install zookeeper, or set \
                 MESOS_TEST_ZOOKEEPER_CLASSPATH); set MESOS_TEST_REQUIRE_ZOOKEEPER=1 to fail instead"
            );
            None
        }
    }
}

/// A standalone ZooKeeper server on a loopback port.
pub struct ZooKeeper {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its output.
    pub log: PathBuf,
    classpath: String,
    dir: PathBuf,
    child: Option<Child>,
}

impl ZooKeeper {
    /// Starts a server on a free port under `dir` and waits until it
    /// serves.
    pub async fn start(classpath: &str, dir: &Path) -> ZooKeeper {
        ZooKeeper::start_on(classpath, dir, free_port()).await
    }

    /// [`ZooKeeper::start`] on `port`.
    pub async fn start_on(classpath: &str, dir: &Path, port: u16) -> ZooKeeper {
        let mut zookeeper = ZooKeeper::configure(classpath, dir, port);
        zookeeper.resume_serving().await;
        zookeeper
    }

    /// The configuration for a server on `port`, not started.
    pub fn configure(classpath: &str, dir: &Path, port: u16) -> ZooKeeper {
        ZooKeeper::configure_member(classpath, dir, port, None)
    }

    /// The configuration for a server on `port`, not started: standalone
    /// without `ensemble`, else member `myid` (from 1) of the ensemble
    /// whose members' `(peer, election)` ports are listed in order.
    fn configure_member(
        classpath: &str,
        dir: &Path,
        port: u16,
        ensemble: Option<(usize, &[(u16, u16)])>,
    ) -> ZooKeeper {
        let dir = dir.join(format!("zookeeper-{port}"));
        std::fs::create_dir_all(dir.join("data")).expect("create the ZooKeeper data dir");
        // tickTime 1 s: sessions may be as short as 2 s, so that expiry
        // tests are quick.
        let mut config = format!(
            "tickTime=1000\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={port}\n\
             clientPortAddress=127.0.0.1\nadmin.enableServer=false\n\
             4lw.commands.whitelist=*\nmaxClientCnxns=0\n",
            dir.join("data").display()
        );
        if let Some((myid, members)) = ensemble {
            for (index, (peer, election)) in members.iter().enumerate() {
                config.push_str(&format!(
                    "server.{}=127.0.0.1:{peer}:{election}\n",
                    index + 1
                ));
            }
            std::fs::write(dir.join("data").join("myid"), format!("{myid}\n")).expect("write myid");
        }
        std::fs::write(dir.join("zoo.cfg"), config).expect("write zoo.cfg");
        ZooKeeper {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            log: dir.join("zookeeper.log"),
            classpath: classpath.to_string(),
            dir,
            child: None,
        }
    }

    /// Starts (or restarts) the server and waits until it answers.
    ///
    /// # Panics
    /// When it does not serve within [`READY_TIMEOUT`].
    pub async fn resume_serving(&mut self) {
        self.spawn();
        self.wait_serving().await;
    }

    /// Starts the server's process unless it runs.
    fn spawn(&mut self) {
        if self.child.is_none() {
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.log)
                .expect("open the ZooKeeper log");
            let child = Command::new("java")
                .arg("-Xmx256m")
                .arg("-cp")
                .arg(&self.classpath)
                .arg("org.apache.zookeeper.server.quorum.QuorumPeerMain")
                .arg(self.dir.join("zoo.cfg"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("clone the log handle"))
                .stderr(log)
                .spawn()
                .expect("spawn java for ZooKeeper");
            self.child = Some(child);
        }
    }

    /// Waits until the server answers.
    ///
    /// # Panics
    /// When it exits or does not serve within [`READY_TIMEOUT`].
    async fn wait_serving(&mut self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        while !self.serving().await {
            if let Some(child) = &mut self.child
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "ZooKeeper exited ({status}); its log:\n{}",
                    tail(&self.log, 40)
                );
            }
            assert!(
                Instant::now() < deadline,
                "ZooKeeper did not serve within {READY_TIMEOUT:?}; its log:\n{}",
                tail(&self.log, 40)
            );
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// How many client connections it holds besides the one asking
    /// (`srvr`'s `Connections:` counts that too), `None` when it does not
    /// serve.
    pub async fn connections(&self) -> Option<u64> {
        self.srvr()
            .await?
            .lines()
            .find_map(|line| line.strip_prefix("Connections: "))
            .and_then(|count| count.trim().parse::<u64>().ok())
            .map(|count| count.saturating_sub(1))
    }

    /// What the `srvr` four-letter command answers, if it does.
    async fn srvr(&self) -> Option<String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let exchange = async {
            let mut stream = tokio::net::TcpStream::connect(self.addr).await.ok()?;
            stream.write_all(b"srvr").await.ok()?;
            let mut answer = Vec::new();
            stream.read_to_end(&mut answer).await.ok()?;
            Some(String::from_utf8_lossy(&answer).into_owned())
        };
        tokio::time::timeout(Duration::from_secs(2), exchange)
            .await
            .ok()
            .flatten()
    }

    /// Its mode as `srvr` reports it (`standalone`, `leader`, `follower`),
    /// `None` when it does not serve.
    pub async fn mode(&self) -> Option<String> {
        self.srvr()
            .await?
            .lines()
            .find_map(|line| line.strip_prefix("Mode: "))
            .map(|mode| mode.trim().to_string())
    }

    /// Whether it serves clients: the `srvr` four-letter command names its
    /// mode (`standalone`, or `leader` or `follower` in an ensemble with a
    /// quorum; a member without one says it is not serving).
    pub async fn serving(&self) -> bool {
        self.mode().await.is_some()
    }

    /// `zk://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("zk://{}{path}", self.addr)
    }

    /// Sends `signal` to the server's process (its PID, nothing else):
    /// `SIGSTOP` makes it unreachable without closing connections.
    pub fn signal(&self, signal: libc::c_int) {
        if let Some(child) = &self.child
            && let Ok(pid) = libc::pid_t::try_from(child.id())
        {
            // SAFETY: kill has no memory effects; the pid is our own
            // child, not yet reaped, so it cannot have been reused.
            unsafe {
                libc::kill(pid, signal);
            }
        }
    }

    /// Stops the server (SIGKILL by its PID).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A replicated ZooKeeper ensemble: each server on its own loopback client,
/// peer and election ports, with its own configuration and data directory.
pub struct Ensemble {
    /// The servers; `servers[i]` has `myid` `i + 1`.
    pub servers: Vec<ZooKeeper>,
}

impl Ensemble {
    /// Starts `size` servers under `dir` and waits until each serves (the
    /// ensemble has elected its leader).
    pub async fn start(classpath: &str, dir: &Path, size: usize) -> Ensemble {
        let members: Vec<(u16, u16)> = (0..size).map(|_| (free_port(), free_port())).collect();
        let mut servers: Vec<ZooKeeper> = (0..size)
            .map(|index| {
                ZooKeeper::configure_member(
                    classpath,
                    dir,
                    free_port(),
                    Some((index + 1, members.as_slice())),
                )
            })
            .collect();
        // All at once: none serves before a quorum has formed.
        for server in &mut servers {
            server.spawn();
        }
        for server in &mut servers {
            server.wait_serving().await;
        }
        Ensemble { servers }
    }

    /// The client connection string: `127.0.0.1:<port>,...`.
    pub fn connect_string(&self) -> String {
        self.servers
            .iter()
            .map(|s| s.addr.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `zk://127.0.0.1:<port>,...<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("zk://{}{path}", self.connect_string())
    }
}

impl Drop for ZooKeeper {
    fn drop(&mut self) {
        self.signal(libc::SIGCONT);
        self.stop();
    }
}

/// Sends `signal` to the daemon's process (its PID, nothing else).
pub fn signal(daemon: &Daemon, signal: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(daemon.pid()) {
        // SAFETY: kill has no memory effects; the pid is the harness's own
        // child, not yet reaped, so it cannot have been reused.
        unsafe {
            libc::kill(pid, signal);
        }
    }
}

/// Masters contending through one ZooKeeper, and agents that detect the
/// leader through it.
pub struct HaCluster {
    /// The masters, in start order.
    pub masters: Vec<Daemon>,
    /// The agents.
    pub agents: Vec<Daemon>,
    /// The `--zk` URL.
    pub zk: String,
    /// The ZooKeeper server (an ensemble's first); stopped last.
    pub zookeeper: ZooKeeper,
    /// An ensemble's other servers (none with a standalone server).
    pub peers: Vec<ZooKeeper>,
    /// Logs and work directories; kept when a test fails.
    root: Option<TempDir>,
}

impl HaCluster {
    /// A ZooKeeper server, `masters` masters with `master_flags`, and
    /// `agents` agents pointed at `zk://.../mesos`, once a leader counts
    /// every agent activated.
    pub async fn start(
        classpath: &str,
        masters: usize,
        agents: usize,
        master_flags: &[&str],
    ) -> HaCluster {
        HaCluster::start_on_ensemble(classpath, 1, masters, agents, master_flags).await
    }

    /// [`HaCluster::start`] on a standalone server when `servers` is 1, else
    /// on an [`Ensemble`] of `servers`: the masters get
    /// `--zk=zk://127.0.0.1:<port1>,127.0.0.1:<port2>,.../mesos`.
    pub async fn start_on_ensemble(
        classpath: &str,
        servers: usize,
        masters: usize,
        agents: usize,
        master_flags: &[&str],
    ) -> HaCluster {
        let root = tempfile::Builder::new()
            .prefix("mesos-e2e-zk-")
            .tempdir()
            .expect("create a temporary directory");
        let (zookeeper, peers, zk) = if servers <= 1 {
            let zookeeper = ZooKeeper::start(classpath, root.path()).await;
            let zk = zookeeper.url("/mesos");
            (zookeeper, Vec::new(), zk)
        } else {
            let ensemble = Ensemble::start(classpath, root.path(), servers).await;
            let zk = ensemble.url("/mesos");
            let mut servers = ensemble.servers.into_iter();
            let first = servers.next().expect("an ensemble has servers");
            (first, servers.collect(), zk)
        };
        let mut cluster = HaCluster {
            masters: Vec::new(),
            agents: Vec::new(),
            zk,
            zookeeper,
            peers,
            root: Some(root),
        };
        for index in 1..=masters {
            let master = cluster.start_master(index, master_flags).await;
            cluster.masters.push(master);
        }
        for index in 1..=agents {
            let agent = cluster.start_agent(index, &[]).await;
            cluster.agents.push(agent);
        }
        let leader = cluster.wait_for_leader(&[]).await;
        cluster.wait_for_agents(leader, agents).await;
        cluster
    }

    /// ZooKeeper server `index`: 0 is [`HaCluster::zookeeper`], then the
    /// peers.
    pub fn zookeeper_server(&mut self, index: usize) -> &mut ZooKeeper {
        match index {
            0 => &mut self.zookeeper,
            _ => &mut self.peers[index - 1],
        }
    }

    /// How many ZooKeeper servers there are.
    pub fn zookeeper_servers(&self) -> usize {
        1 + self.peers.len()
    }

    /// The root of logs and work directories.
    pub fn root(&self) -> &Path {
        self.root
            .as_ref()
            .expect("root lives as long as the cluster")
            .path()
    }

    /// Starts master `index` with `flags` and waits until it serves
    /// `/health`.
    pub async fn start_master(&self, index: usize, flags: &[&str]) -> Daemon {
        let port = free_port();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let work_dir = self.root().join(format!("master{index}"));
        std::fs::create_dir_all(&work_dir).expect("create the master work dir");
        let mut args = vec![
            "--ip=127.0.0.1".to_string(),
            format!("--port={port}"),
            "--hostname=127.0.0.1".to_string(),
            format!("--zk={}", self.zk),
            "--quorum=2".to_string(),
            format!("--work_dir={}", work_dir.display()),
        ];
        args.extend(flags.iter().map(|f| f.to_string()));
        let log = self.root().join(format!("master{index}.{port}.log"));
        let mut daemon = Daemon::spawn(
            &format!("master {index}"),
            "mesos-master",
            args,
            addr,
            Some(work_dir),
            log,
        );
        wait_healthy(&mut daemon).await;
        daemon
    }

    /// Starts agent `index` with `--master=<zk>` and waits until it serves.
    pub async fn start_agent(&self, index: usize, flags: &[&str]) -> Daemon {
        let port = free_port();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let work_dir = self.root().join(format!("agent{index}"));
        std::fs::create_dir_all(&work_dir).expect("create the agent work dir");
        let mut args = vec![
            format!("--master={}", self.zk),
            "--ip=127.0.0.1".to_string(),
            format!("--port={port}"),
            "--hostname=127.0.0.1".to_string(),
            format!("--work_dir={}", work_dir.display()),
            format!("--resources={}", crate::AGENT_RESOURCES),
            "--registration_backoff_factor=100ms".to_string(),
        ];
        args.extend(flags.iter().map(|f| f.to_string()));
        let log = self.root().join(format!("agent{index}.{port}.log"));
        let mut daemon = Daemon::spawn(
            &format!("agent {index}"),
            "mesos-slave",
            args,
            addr,
            Some(work_dir),
            log,
        );
        wait_healthy(&mut daemon).await;
        daemon
    }

    /// The index of the master that says it leads (`/master/state` answers
    /// `200` with itself as `leader`), if one does.
    pub async fn leader(&self) -> Option<usize> {
        for (index, master) in self.masters.iter().enumerate() {
            let Ok(response) = http::get(master.addr, "/master/state").await else {
                continue;
            };
            if response.status == 200 {
                let state = response.json();
                if state["leader"] == state["pid"] {
                    return Some(index);
                }
            }
        }
        None
    }

    /// Waits for a leader other than the masters in `not`.
    ///
    /// # Panics
    /// When none leads within a minute.
    pub async fn wait_for_leader(&self, not: &[usize]) -> usize {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(leader) = self.leader().await
                && !not.contains(&leader)
            {
                return leader;
            }
            assert!(
                Instant::now() < deadline,
                "no new leader within 60s\n{}",
                self.logs()
            );
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Waits until master `leader` counts `count` activated agents.
    ///
    /// # Panics
    /// When that takes longer than a minute.
    pub async fn wait_for_agents(&self, leader: usize, count: usize) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let state = match http::get(self.masters[leader].addr, "/master/state").await {
                Ok(response) if response.status == 200 => Some(response.json()),
                _ => None,
            };
            if let Some(state) = state
                && state["activated_slaves"].as_u64() == Some(count as u64)
            {
                return state;
            }
            assert!(
                Instant::now() < deadline,
                "master {} did not count {count} activated agents within 60s\n{}",
                leader + 1,
                self.logs()
            );
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Every daemon's log, for a failure message.
    pub fn logs(&self) -> String {
        let mut text = String::new();
        for daemon in self.masters.iter().chain(&self.agents) {
            text.push_str(&format!(
                "----- {} (pid {}, {}) -----\n{}\n",
                daemon.name,
                daemon.pid(),
                daemon.addr,
                tail(&daemon.log, 60)
            ));
        }
        text
    }
}

impl Drop for HaCluster {
    fn drop(&mut self) {
        for daemon in self.agents.iter_mut().rev() {
            signal(daemon, libc::SIGCONT);
            daemon.stop();
        }
        for daemon in self.masters.iter_mut().rev() {
            signal(daemon, libc::SIGCONT);
            daemon.stop();
        }
        for server in &mut self.peers {
            server.signal(libc::SIGCONT);
            server.stop();
        }
        self.zookeeper.signal(libc::SIGCONT);
        self.zookeeper.stop();
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

/// Waits until `daemon` answers `GET /health` with `200`.
///
/// # Panics
/// When it exits or does not answer within [`READY_TIMEOUT`].
pub async fn wait_healthy(daemon: &mut Daemon) {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Err(reason) = daemon.check_running() {
            panic!("{reason}");
        }
        if let Ok(response) = http::get(daemon.addr, "/health").await
            && response.status == 200
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} did not serve /health within {READY_TIMEOUT:?}; its log:\n{}",
            daemon.name,
            tail(&daemon.log, 50)
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
