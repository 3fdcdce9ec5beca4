//! The agent's runtime: one tokio task that feeds the [`AgentCore`] from
//! its libprocess mailbox, its HTTP endpoints, executor exits and timers,
//! and carries out the [`Effect`]s it returns.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Response, StatusCode, header};
use mesos::process::{self, Body, BodySender, Event, HttpHandler, ResponseFuture, Transport};
use mesos::upid::Upid;
use mesos::wire::mesos::v1::agent as v1a;
use mesos::wire::mesos::v1::executor as v1e;
use mesos::wire::{json as mjson, recordio};
use prost::Message;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::core::{AgentCore, CallError, Effect};
use super::gc::{self, GarbageCollector};
use super::state::ConnId;
use super::{api, json, monitor};
use crate::checkpoint::{MetaPaths, Recovery};
use crate::config::AgentConfig;
use crate::containerizer::ContainerExit;
use crate::containerizer::containers::{ContainerEvent, Limitation, MesosContainerizer};
use crate::containerizer::docker;
use crate::files::{AGENT_LOG_VIRTUAL_PATH, Files};

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

/// The largest executor call body accepted.
const MAX_CALL_BODY: usize = 16 * 1024 * 1024;

/// How long [`Agent::shutdown`] waits for executors before killing them.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(10);

/// The encoding of an executor's event stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

/// What the HTTP side and the executor watchers tell the agent task.
enum Input {
    ExecutorCall {
        call: Box<v1e::Call>,
        stream: Option<(BodySender, Encoding)>,
        reply: oneshot::Sender<Result<(), CallError>>,
    },
    State(oneshot::Sender<serde_json::Value>),
    /// An operator API call about the agent's state.
    Api {
        call: Box<v1a::Call>,
        reply: oneshot::Sender<Option<v1a::Response>>,
    },
    Metrics(oneshot::Sender<Vec<(String, f64)>>),
    Flags(oneshot::Sender<serde_json::Value>),
    Statistics(oneshot::Sender<serde_json::Value>),
    StreamClosed(ConnId),
    Exited {
        container_id: String,
        exit: ContainerExit,
    },
    Limited {
        container_id: String,
        limitation: Limitation,
    },
    Shutdown(oneshot::Sender<()>),
    /// A garbage collected directory's removal ended.
    Removed {
        path: PathBuf,
        outcome: Removal,
    },
    /// ZooKeeper detection: the leading master changed.
    MasterDetected(Option<Upid>),
}

/// How removing a garbage collected directory went.
#[derive(Debug)]
enum Removal {
    Removed,
    /// Already gone: counted neither way, as Mesos does.
    Missing,
    Failed(String),
}

/// A running agent.
pub struct Agent {
    pid: Upid,
    inputs: mpsc::UnboundedSender<Input>,
    task: tokio::task::JoinHandle<()>,
}

impl Agent {
    /// Starts an agent as process `process_id` (`slave(1)`, `slave(2)`,
    /// ...) on `transport`: it serves its endpoints under `/<process_id>/`
    /// (and unprefixed, when `delegate` is set) and registers with the
    /// configured master. Must be called within a tokio runtime.
    pub fn start(
        config: AgentConfig,
        transport: Transport,
        process_id: &str,
        delegate: bool,
    ) -> Agent {
        Agent::start_recovered(config, transport, process_id, delegate, None)
    }

    /// [`Agent::start`] after a restart: with `recovery` (what
    /// [`crate::checkpoint::plan`] decided), the agent takes its
    /// checkpointed id, frameworks, executors and tasks back, finds their
    /// containers again, and waits for the executors to reconnect before
    /// re-registering (or, with `--recover=cleanup`, kills them and
    /// stops).
    pub fn start_recovered(
        config: AgentConfig,
        transport: Transport,
        process_id: &str,
        delegate: bool,
        recovery: Option<Recovery>,
    ) -> Agent {
        let pid = transport.upid(process_id);
        let mailbox = transport.spawn(process_id);
        let (inputs, input_rx) = mpsc::unbounded_channel();
        let files = Files::shared(pid.address);
        transport.route(
            process_id,
            Arc::new(AgentHttp {
                inputs: inputs.clone(),
                files: files.clone(),
                metrics: transport.metrics().clone(),
            }),
        );
        if delegate {
            transport.delegate(process_id);
        }
        transport
            .metrics()
            .add(Arc::new(MetricsSource(inputs.clone())));
        let start_time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        transport.route("files", files.handler());
        if let Some(log_dir) = &config.log_dir {
            let log = log_dir.join("mesos-slave.INFO");
            if let Err(e) = files.attach(&log, AGENT_LOG_VIRTUAL_PATH) {
                tracing::warn!("Failed to attach the agent log {}: {e}", log.display());
            }
        }
        let events = inputs.clone();
        let recovered_ids: Vec<String> = recovery
            .iter()
            .flat_map(|r| r.agent.iter())
            .flat_map(|a| a.frameworks.iter())
            .flat_map(|f| f.executors.iter())
            .map(|e| e.container_id.clone())
            .collect();
        let mut containerizer = MesosContainerizer::recovering(
            &config.containerizer,
            Arc::new(move |event| {
                let input = match event {
                    ContainerEvent::Exited { container_id, exit } => {
                        Input::Exited { container_id, exit }
                    }
                    ContainerEvent::Limited {
                        container_id,
                        limitation,
                    } => Input::Limited {
                        container_id,
                        limitation,
                    },
                };
                let _ = events.send(input);
            }),
            Some(files.clone()),
            &recovered_ids,
        );
        let zk = config.master_zk.clone();
        let disk_watch_interval = config.disk_watch_interval;
        let meta = MetaPaths::new(&config.work_dir);
        let mut core = AgentCore::new(config, pid.clone(), start_time);
        let recovering = recovery.is_some();
        let mut docker_containers = HashMap::new();
        if let Some(recovery) = recovery {
            let now = Instant::now().into_std();
            for container in core.recover(recovery.agent, now) {
                containerizer.recover(&container);
                // Its Docker container, stopped and removed when its
                // executor ends, as for a container launched by this run.
                if let (true, Some(config)) = (container.docker, core.config.docker.clone()) {
                    let name = docker::container_name(&container.container_id);
                    tracing::info!(
                        container_id = container.container_id,
                        "Recovering Docker container {name}"
                    );
                    docker_containers.insert(container.container_id.clone(), (name, config));
                }
            }
            match crate::checkpoint::current_boot_id() {
                Ok(boot_id) => {
                    if let Err(e) =
                        crate::checkpoint::write_atomic(&meta.boot_id(), boot_id.as_bytes())
                    {
                        tracing::error!("Failed to checkpoint the boot id: {e}");
                    }
                }
                Err(e) => tracing::error!("Could not retrieve boot id: {e}"),
            }
        }
        match zk {
            // Registration waits for the detected leader.
            Some((url, session_timeout)) => spawn_detector(url, session_timeout, inputs.clone()),
            // Recovery starts registration once it is done.
            None if recovering => {}
            None => core.start(Instant::now().into_std()),
        }
        let runtime = Runtime {
            meta,
            core,
            docker_containers,
            transport,
            pid: pid.clone(),
            inputs: inputs.clone(),
            streams: HashMap::new(),
            next_conn: 1,
            containerizer,
            terminated: false,
            started: Instant::now(),
            container_launch_errors: 0,
            files,
            gc: GarbageCollector::new(),
            gc_removing: 0,
            gc_succeeded: 0,
            gc_failed: 0,
            next_disk_check: Instant::now() + disk_watch_interval,
        };
        let task = tokio::spawn(runtime.run(mailbox, input_rx));
        Agent { pid, inputs, task }
    }

    /// The agent's UPID.
    pub fn pid(&self) -> &Upid {
        &self.pid
    }

    /// Stops the agent, as SIGTERM stops Mesos's: the executors of
    /// frameworks that do not checkpoint are asked to shut down, then
    /// killed; those of checkpointing frameworks keep running, for the
    /// agent's next start to recover.
    pub async fn shutdown(self) {
        let (reply, done) = oneshot::channel();
        if self.inputs.send(Input::Shutdown(reply)).is_ok() {
            let _ = done.await;
        }
        let _ = self.task.await;
    }

    /// Waits until the agent stops on its own (the master told it to).
    pub async fn wait(&mut self) {
        let _ = (&mut self.task).await;
    }
}

/// Follows the leading master in ZooKeeper, telling the agent task of
/// each change; stops with the agent.
fn spawn_detector(
    url: mesos::zk::ZkUrl,
    session_timeout: Duration,
    inputs: mpsc::UnboundedSender<Input>,
) {
    tokio::spawn(async move {
        let detector = mesos::zk::detector::Detector::start(url, session_timeout);
        let mut leader = detector.subscribe();
        // Nobody leads until told otherwise.
        let mut last = None;
        loop {
            let info = leader.borrow_and_update().clone();
            if info != last {
                let master = info.as_ref().and_then(mesos::zk::master_upid);
                last = info;
                if inputs.send(Input::MasterDetected(master)).is_err() {
                    return;
                }
            }
            tokio::select! {
                changed = leader.changed() => if changed.is_err() { return },
                () = inputs.closed() => return,
            }
        }
    });
}

struct Runtime {
    /// Where the checkpoint is written.
    meta: MetaPaths,
    core: AgentCore,
    /// Docker containers of running Docker executors, by container id:
    /// their names and the engine they run on.
    docker_containers: HashMap<String, (String, docker::DockerConfig)>,
    transport: Transport,
    pid: Upid,
    inputs: mpsc::UnboundedSender<Input>,
    /// Open executor event streams.
    streams: HashMap<ConnId, (BodySender, Encoding)>,
    next_conn: ConnId,
    /// The executors' containers.
    containerizer: MesosContainerizer,
    terminated: bool,
    /// For `slave/uptime_secs`.
    started: Instant,
    /// `slave/container_launch_errors`.
    container_launch_errors: u64,
    /// The instance's attached files: removed sandboxes are detached.
    files: Files,
    /// Directories scheduled for removal.
    gc: GarbageCollector,
    /// Removals under way (`gc/path_removals_pending` counts them too).
    gc_removing: u64,
    /// `gc/path_removals_succeeded`.
    gc_succeeded: u64,
    /// `gc/path_removals_failed`.
    gc_failed: u64,
    /// When the work directory's disk usage is checked next.
    next_disk_check: Instant,
}

/// The agent's `/metrics/snapshot` keys, for the libprocess instance's
/// metrics.
struct MetricsSource(mpsc::UnboundedSender<Input>);

impl mesos::metrics::Source for MetricsSource {
    fn snapshot(&self) -> mesos::metrics::SourceFuture {
        let inputs = self.0.clone();
        Box::pin(async move {
            let (reply, answer) = oneshot::channel();
            if inputs.send(Input::Metrics(reply)).is_err() {
                return Vec::new();
            }
            answer.await.unwrap_or_default()
        })
    }
}

async fn sleep_until(at: Option<std::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
}

impl Runtime {
    async fn run(
        mut self,
        mut mailbox: mpsc::UnboundedReceiver<Event>,
        mut inputs: mpsc::UnboundedReceiver<Input>,
    ) {
        let mut shutdown_reply = None;
        self.collect_old_agents();
        loop {
            self.apply();
            if self.terminated {
                break;
            }
            let deadline = self.core.next_deadline();
            let gc_deadline = self.gc.next_deadline();
            tokio::select! {
                () = sleep_until(gc_deadline) => {
                    let due = self.gc.take_due(Instant::now().into_std());
                    self.remove(due);
                }
                () = tokio::time::sleep_until(self.next_disk_check) => self.check_disk(),
                event = mailbox.recv() => match event {
                    Some(Event::Message(m)) => {
                        let now = Instant::now().into_std();
                        if m.name == "mesos.internal.StatusUpdateMessage" {
                            self.check_driver_limitation(&m.body);
                        }
                        self.core.message(&m.from, &m.name, &m.body, now);
                    }
                    Some(Event::Exited(pid)) => self.core.exited(&pid),
                    None => break,
                },
                input = inputs.recv() => match input {
                    Some(Input::Shutdown(reply)) => {
                        shutdown_reply = Some(reply);
                        break;
                    }
                    Some(input) => self.input(input),
                    None => break,
                },
                () = sleep_until(deadline) => self.core.tick(Instant::now().into_std()),
            }
        }
        self.stop(&mut inputs).await;
        if let Some(reply) = shutdown_reply {
            let _ = reply.send(());
        }
    }

    fn input(&mut self, input: Input) {
        let now = Instant::now().into_std();
        match input {
            Input::ExecutorCall {
                call,
                stream,
                reply,
            } => {
                let conn = stream.map(|(sender, encoding)| {
                    let conn = self.next_conn;
                    self.next_conn += 1;
                    let watcher = sender.clone();
                    let inputs = self.inputs.clone();
                    tokio::spawn(async move {
                        watcher.closed().await;
                        let _ = inputs.send(Input::StreamClosed(conn));
                    });
                    self.streams.insert(conn, (sender, encoding));
                    conn
                });
                self.check_limitation(&call);
                let result = self.core.executor_call(*call, conn, now);
                if result.is_err() {
                    if let Some(conn) = conn {
                        self.streams.remove(&conn);
                    }
                }
                let _ = reply.send(result);
            }
            Input::State(reply) => {
                let _ = reply.send(json::state(&self.core));
            }
            Input::Api { call, reply } => {
                let containers = call.r#type == Some(v1a::call::Type::GetContainers as i32);
                let usage = if containers {
                    self.containerizer.usage()
                } else {
                    monitor::ContainerUsage::new()
                };
                let _ = reply.send(api::answer(&self.core, &call, &usage, wall_clock()));
            }
            Input::Flags(reply) => {
                let _ = reply.send(json::flags(&self.core));
            }
            Input::Metrics(reply) => {
                let mut values = Vec::new();
                self.core.metrics_snapshot(&mut values);
                values.push((
                    "slave/uptime_secs".to_string(),
                    self.started.elapsed().as_secs_f64(),
                ));
                values.push((
                    "slave/container_launch_errors".to_string(),
                    self.container_launch_errors as f64,
                ));
                values.push((
                    "gc/path_removals_succeeded".to_string(),
                    self.gc_succeeded as f64,
                ));
                values.push(("gc/path_removals_failed".to_string(), self.gc_failed as f64));
                values.push((
                    "gc/path_removals_pending".to_string(),
                    (self.gc.len() as u64 + self.gc_removing) as f64,
                ));
                self.containerizer.metrics(&mut values);
                let _ = reply.send(values);
            }
            Input::Statistics(reply) => {
                let usage = self.containerizer.usage();
                let timestamp = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64());
                let _ = reply.send(monitor::monitor_statistics(&self.core, &usage, timestamp));
            }
            Input::StreamClosed(conn) => {
                if self.streams.remove(&conn).is_some() {
                    self.core.executor_disconnected(conn, now);
                }
            }
            Input::Exited { container_id, exit } => {
                self.containerizer.remove(&container_id);
                // A Docker executor's container outlives it only briefly:
                // stopped now, removed after --docker_remove_delay.
                if let Some((name, config)) = self.docker_containers.remove(&container_id) {
                    tokio::spawn(async move {
                        docker::stop(&config, &name).await;
                        docker::remove_later(config, name).await;
                    });
                }
                self.core
                    .executor_exited(&container_id, exit.status, &exit.message, now);
            }
            Input::Limited {
                container_id,
                limitation,
            } => {
                if limitation.reason
                    == mesos::wire::mesos::task_status::Reason::ContainerLaunchFailed
                {
                    self.container_launch_errors += 1;
                }
                self.core.container_limited(
                    &container_id,
                    limitation.reason,
                    &limitation.message,
                    limitation.resources,
                );
            }
            Input::Shutdown(_) => {}
            Input::Removed { path, outcome } => {
                self.gc_removing = self.gc_removing.saturating_sub(1);
                match outcome {
                    Removal::Removed => {
                        tracing::info!("Deleted '{}'", path.display());
                        self.gc_succeeded += 1;
                    }
                    Removal::Missing => {
                        tracing::info!("Skipped '{}' which does not exist", path.display());
                    }
                    Removal::Failed(error) => {
                        tracing::warn!("Failed to delete '{}': {error}", path.display());
                        self.gc_failed += 1;
                    }
                }
            }
            Input::MasterDetected(master) => self.core.master_detected(master, now),
        }
    }

    /// Before an executor's terminal update is taken: has its container
    /// hit a limit the core has not heard of yet? (The kernel's OOM event
    /// and the executor's report of its killed task race.)
    fn check_limitation(&mut self, call: &v1e::Call) {
        let terminal = call
            .update
            .as_ref()
            .is_some_and(|u| crate::status_update::is_terminal(u.status.state));
        if terminal {
            self.check_container(
                &mesos::ids::FrameworkId::from(&call.framework_id),
                &mesos::ids::ExecutorId::from(&call.executor_id),
            );
        }
    }

    /// The same for a libprocess executor's `StatusUpdateMessage` (the
    /// core checks who sent it; a malformed one is refused there).
    fn check_driver_limitation(&mut self, body: &[u8]) {
        let Ok(message) =
            mesos::wire::decode_checked::<mesos::wire::mesos::internal::StatusUpdateMessage>(body)
        else {
            return;
        };
        let update = message.update;
        if let Some(eid) = &update.executor_id
            && crate::status_update::is_terminal(update.status.state)
        {
            self.check_container(
                &mesos::ids::FrameworkId::from(&update.framework_id),
                &mesos::ids::ExecutorId::from(eid),
            );
        }
    }

    fn check_container(&mut self, fid: &mesos::ids::FrameworkId, eid: &mesos::ids::ExecutorId) {
        let Some(container_id) = self.core.container_of(fid, eid).map(str::to_string) else {
            return;
        };
        if let Some(limitation) = self.containerizer.check_limitation(&container_id) {
            self.core.container_limited(
                &container_id,
                limitation.reason,
                &limitation.message,
                limitation.resources,
            );
        }
    }

    /// Carries out the core's effects.
    fn apply(&mut self) {
        for effect in self.core.drain() {
            match effect {
                Effect::Send { to, name, body } => self.transport.send(&self.pid, &to, &name, body),
                Effect::Link(to) => self.transport.link(&self.pid, &to),
                Effect::Launch(spec) => {
                    if let Some(container) =
                        docker::launched_container(&spec).zip(self.core.config.docker.clone())
                    {
                        self.docker_containers
                            .insert(spec.container_id.clone(), container);
                    }
                    let fid = mesos::ids::FrameworkId::new(&spec.framework_id);
                    let pid_file = self
                        .core
                        .agent_id()
                        .filter(|_| self.core.checkpointing(&fid))
                        .map(|agent_id| {
                            self.meta.forked_pid(
                                agent_id,
                                &spec.framework_id,
                                &spec.executor_id,
                                &spec.container_id,
                            )
                        });
                    self.containerizer.launch_checkpointed(*spec, pid_file)
                }
                Effect::Checkpoint {
                    agent_id,
                    checkpoint,
                } => {
                    if let Err(e) = self.meta.write(&agent_id, &checkpoint) {
                        tracing::error!("Failed to checkpoint: {e}");
                    }
                }
                Effect::Update {
                    container_id,
                    limits,
                } => self.containerizer.update(&container_id, limits),
                Effect::Destroy { container_id } => self.containerizer.destroy(&container_id),
                Effect::ToExecutor { conn, event } => {
                    if let Some((sender, encoding)) = self.streams.get(&conn) {
                        let record = match encoding {
                            Encoding::Protobuf => event.encode_to_vec(),
                            Encoding::Json => mjson::to_json_string(&event).into_bytes(),
                        };
                        sender.send(Bytes::from(recordio::encode(&record)));
                    }
                }
                Effect::CloseExecutor { conn } => {
                    self.streams.remove(&conn);
                }
                Effect::Terminate => self.terminated = true,
                Effect::GarbageCollect(paths) => {
                    for path in paths {
                        self.schedule_gc(path);
                    }
                }
                Effect::Unschedule(paths) => {
                    for path in paths {
                        if self.gc.unschedule(&path) {
                            tracing::info!("Unscheduling '{}' from gc", path.display());
                        }
                    }
                }
            }
        }
    }

    /// Schedules `path` for removal `--gc_delay` after now (its
    /// modification time is set to now first, as Mesos does).
    fn schedule_gc(&mut self, path: PathBuf) {
        let now = std::time::SystemTime::now();
        let touched = std::fs::File::open(&path).and_then(|dir| dir.set_modified(now));
        let mtime = match touched.and_then(|()| std::fs::metadata(&path)?.modified()) {
            Ok(mtime) => mtime,
            Err(e) => {
                tracing::debug!("Not scheduling '{}' for gc: {e}", path.display());
                return;
            }
        };
        let age = now.duration_since(mtime).unwrap_or_default();
        let delay = gc::delay_for(self.core.config.gc_delay, age);
        tracing::info!(
            "Scheduling '{}' for gc {} in the future",
            path.display(),
            mesos::flags::format_duration(delay)
        );
        self.gc.schedule(path, delay, Instant::now().into_std());
    }

    /// Schedules the directories of earlier agents in `<work_dir>/slaves`
    /// and `<work_dir>/meta/slaves` for removal, as Mesos does once it has
    /// recovered: every agent id there but the recovered one (if any)
    /// belongs to an earlier run.
    fn collect_old_agents(&mut self) {
        let current = self.core.agent_id().map(str::to_string);
        let work_dir = self.core.config.work_dir.clone();
        for root in [
            work_dir.join("slaves"),
            work_dir.join("meta").join("slaves"),
        ] {
            let Ok(entries) = std::fs::read_dir(&root) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                // `meta/slaves/latest` is the link to the current agent.
                if name == "latest" || current.as_deref() == Some(name.as_str()) {
                    continue;
                }
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    tracing::info!("Garbage collecting old agent {name}");
                    self.schedule_gc(entry.path());
                }
            }
        }
    }

    /// Removes `paths` off the agent task; each outcome comes back as
    /// [`Input::Removed`]. Their sandboxes stop being served first.
    fn remove(&mut self, paths: Vec<PathBuf>) {
        for path in paths {
            if let Ok(real) = std::fs::canonicalize(&path) {
                self.files.detach_under(&real);
            }
            self.gc_removing += 1;
            let inputs = self.inputs.clone();
            tracing::info!("Deleting {}", path.display());
            tokio::task::spawn_blocking(move || {
                let outcome = match std::fs::remove_dir_all(&path) {
                    Ok(()) => Removal::Removed,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Removal::Missing,
                    Err(e) => Removal::Failed(e.to_string()),
                };
                let _ = inputs.send(Input::Removed { path, outcome });
            });
        }
    }

    /// The disk watch: directories older than the disk usage allows are
    /// removed now; the next check is `--disk_watch_interval` away.
    fn check_disk(&mut self) {
        let config = &self.core.config;
        self.next_disk_check = Instant::now() + config.disk_watch_interval;
        let Some(usage) = crate::detect::disk_usage(&config.work_dir) else {
            tracing::error!(
                "Failed to get disk usage of '{}'",
                config.work_dir.display()
            );
            return;
        };
        let age = gc::max_allowed_age(config.gc_delay, config.gc_disk_headroom, usage);
        tracing::info!(
            "Current disk usage {:.2}%. Max allowed age: {}",
            100.0 * usage,
            mesos::flags::format_duration(age)
        );
        let within = config.gc_delay.saturating_sub(age);
        let due = self.gc.prune(within, Instant::now().into_std());
        self.remove(due);
    }

    /// Shuts down the executors (all of them when the master said so,
    /// else those of non-checkpointing frameworks), waiting for them a
    /// while, then kills what is left of them.
    async fn stop(&mut self, inputs: &mut mpsc::UnboundedReceiver<Input>) {
        let now = Instant::now().into_std();
        let kept = if self.terminated {
            self.core.shutdown(now);
            Vec::new()
        } else {
            self.core.finalize(now)
        };
        self.apply();
        let ending = |containerizer: &MesosContainerizer| {
            containerizer
                .container_ids()
                .iter()
                .any(|id| !kept.contains(id))
        };
        let give_up = Instant::now() + SHUTDOWN_WAIT;
        while ending(&self.containerizer) {
            tokio::select! {
                input = inputs.recv() => match input {
                    Some(input @ Input::Exited { .. }) => self.input(input),
                    Some(_) => {}
                    None => break,
                },
                () = tokio::time::sleep_until(give_up) => break,
                () = tokio::time::sleep(Duration::from_millis(100)) => {
                    self.core.tick(Instant::now().into_std());
                }
            }
            self.apply();
        }
        // Kill what is left, and wait a little for the cgroups to go.
        self.containerizer.destroy_all_except(&kept);
        let give_up = Instant::now() + SHUTDOWN_WAIT;
        while ending(&self.containerizer) {
            tokio::select! {
                input = inputs.recv() => match input {
                    Some(Input::Exited { container_id, .. }) => self.containerizer.remove(&container_id),
                    Some(_) => {}
                    None => break,
                },
                () = tokio::time::sleep_until(give_up) => break,
            }
        }
        self.transport.terminate(&self.pid.id);
    }
}

/// The agent's HTTP endpoints.
#[derive(Clone)]
struct AgentHttp {
    inputs: mpsc::UnboundedSender<Input>,
    /// The instance's attached files, for `LIST_FILES` and `READ_FILE`.
    files: Files,
    /// The instance's metrics, for `GET_METRICS`.
    metrics: mesos::metrics::Metrics,
}

fn wall_clock() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn text(status: StatusCode, body: &str) -> Response<Body> {
    process::respond(status, body)
}

fn json_response(value: &serde_json::Value) -> Response<Body> {
    let mut response = Response::new(Body::full(value.to_string()));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, header::HeaderValue::from_static(JSON));
    response
}

impl AgentHttp {
    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Input) -> Option<T> {
        let (reply, answer) = oneshot::channel();
        self.inputs.send(make(reply)).ok()?;
        answer.await.ok()
    }

    /// `/api/v1`: checks the request, then answers the call.
    async fn operator_api(&self, request: http::Request<hyper::body::Incoming>) -> Response<Body> {
        let (parts, body) = request.into_parts();
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let body = match process::read_body(body, MAX_CALL_BODY).await {
            Ok(body) => body,
            Err(e) => return text(StatusCode::BAD_REQUEST, &e.to_string()),
        };
        let headers = api::Headers {
            content_type: header("content-type"),
            message_content_type: header("message-content-type"),
            accept: header("accept"),
            message_accept: header("message-accept"),
        };
        let parsed = match api::parse(&parts.method, headers, &body) {
            Ok(parsed) => parsed,
            Err((status, message)) => {
                let mut response = text(status, &message);
                if status == StatusCode::METHOD_NOT_ALLOWED {
                    response
                        .headers_mut()
                        .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
                }
                return response;
            }
        };
        let call = parsed.call;
        let kind = call.r#type.and_then(|t| v1a::call::Type::try_from(t).ok());
        tracing::info!("Processing {} call", api::call_name(&call));
        let answer = match kind {
            Some(v1a::call::Type::GetMetrics) => {
                let values = self.metrics.snapshot(api::metrics_timeout(&call)).await;
                Ok(api::metrics(&values))
            }
            Some(v1a::call::Type::ListFiles) => {
                let path = call.list_files.as_ref().map_or("", |c| c.path.as_str());
                api::list_files(self.files.list(path))
            }
            Some(v1a::call::Type::ReadFile) => match &call.read_file {
                Some(read) => api::read_file(
                    self.files
                        .read_at(&read.path, read.offset, read.length)
                        .await,
                ),
                None => Err(api::not_implemented(&call)),
            },
            _ => {
                let not_implemented = api::not_implemented(&call);
                match self
                    .ask(|reply| Input::Api {
                        call: Box::new(call),
                        reply,
                    })
                    .await
                {
                    Some(Some(answer)) => Ok(answer),
                    Some(None) => Err(not_implemented),
                    None => Err((
                        StatusCode::SERVICE_UNAVAILABLE,
                        "Agent is shutting down".to_string(),
                    )),
                }
            }
        };
        match answer {
            Ok(answer) => {
                let mut response = Response::new(Body::full(parsed.accept.encode(&answer)));
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static(parsed.accept.media_type()),
                );
                response
            }
            Err((status, message)) => text(status, &message),
        }
    }

    async fn executor_api(&self, request: http::Request<hyper::body::Incoming>) -> Response<Body> {
        if request.method() != Method::POST {
            let mut response = text(
                StatusCode::METHOD_NOT_ALLOWED,
                &format!(
                    "Expecting one of {{ 'POST' }}, but received '{}'",
                    request.method()
                ),
            );
            response
                .headers_mut()
                .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
            return response;
        }
        let header_of = |name: header::HeaderName| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let Some(content_type) = header_of(header::CONTENT_TYPE) else {
            return text(
                StatusCode::BAD_REQUEST,
                "Expecting 'Content-Type' to be present",
            );
        };
        let accept = header_of(header::ACCEPT);
        let content_type = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_string();
        if content_type != PROTOBUF && content_type != JSON {
            return text(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                &format!("Expecting 'Content-Type' of {JSON} or {PROTOBUF}"),
            );
        }
        let body = match process::read_body(request.into_body(), MAX_CALL_BODY).await {
            Ok(body) => body,
            Err(e) => return text(StatusCode::BAD_REQUEST, &e.to_string()),
        };
        let call: v1e::Call = if content_type == PROTOBUF {
            match mesos::wire::decode_checked::<v1e::Call>(body.as_ref()) {
                Ok(call) => call,
                Err(_) => {
                    return text(
                        StatusCode::BAD_REQUEST,
                        "Failed to parse body into Call protobuf",
                    );
                }
            }
        } else {
            match mjson::from_json_slice(&body) {
                Ok(call) => call,
                Err(e) => {
                    return text(
                        StatusCode::BAD_REQUEST,
                        &format!("Failed to convert JSON into Call protobuf: {e}"),
                    );
                }
            }
        };
        let subscribe = call.r#type == Some(v1e::call::Type::Subscribe as i32);
        if !subscribe {
            return match self
                .ask(|reply| Input::ExecutorCall {
                    call: Box::new(call),
                    stream: None,
                    reply,
                })
                .await
            {
                Some(Ok(())) => text(StatusCode::ACCEPTED, ""),
                Some(Err(e)) => text(e.status, &e.message),
                None => text(StatusCode::SERVICE_UNAVAILABLE, "Agent is shutting down"),
            };
        }
        let encoding = if mesos::wire::media::accepts(accept.as_deref(), JSON) {
            Encoding::Json
        } else if mesos::wire::media::accepts(accept.as_deref(), PROTOBUF) {
            Encoding::Protobuf
        } else {
            return text(
                StatusCode::NOT_ACCEPTABLE,
                &format!("Expecting 'Accept' to allow '{PROTOBUF}' or '{JSON}'"),
            );
        };
        let (sender, stream_body) = Body::channel();
        match self
            .ask(|reply| Input::ExecutorCall {
                call: Box::new(call),
                stream: Some((sender, encoding)),
                reply,
            })
            .await
        {
            Some(Ok(())) => {
                let mut response = Response::new(stream_body);
                let media = if encoding == Encoding::Json {
                    JSON
                } else {
                    PROTOBUF
                };
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static(media),
                );
                response
            }
            Some(Err(e)) => text(e.status, &e.message),
            None => text(StatusCode::SERVICE_UNAVAILABLE, "Agent is shutting down"),
        }
    }

    async fn serve(
        &self,
        request: http::Request<hyper::body::Incoming>,
        path: String,
    ) -> Response<Body> {
        let path = path
            .split('?')
            .next()
            .unwrap_or("")
            .trim_end_matches('/')
            .to_string();
        match path.as_str() {
            "/api/v1/executor" => self.executor_api(request).await,
            "/api/v1" => self.operator_api(request).await,
            "/state" | "/state.json" => match self.ask(Input::State).await {
                Some(state) => json_response(&state),
                None => text(StatusCode::SERVICE_UNAVAILABLE, "Agent is shutting down"),
            },
            "/flags" => match self.ask(Input::Flags).await {
                Some(flags) => json_response(&flags),
                None => text(StatusCode::SERVICE_UNAVAILABLE, "Agent is shutting down"),
            },
            "/monitor/statistics" => match self.ask(Input::Statistics).await {
                Some(statistics) => json_response(&statistics),
                None => text(StatusCode::SERVICE_UNAVAILABLE, "Agent is shutting down"),
            },
            "/health" => text(StatusCode::OK, ""),
            "/version" => json_response(&json::version()),
            _ => text(
                StatusCode::NOT_IMPLEMENTED,
                &format!("The endpoint '{path}' is not implemented by this agent"),
            ),
        }
    }
}

impl HttpHandler for AgentHttp {
    fn handle(
        &self,
        request: http::Request<hyper::body::Incoming>,
        path: String,
    ) -> ResponseFuture {
        let this = self.clone();
        Box::pin(async move { this.serve(request, path).await })
    }
}
