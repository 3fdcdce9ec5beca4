//! The Mesos containerizer as the agent runtime drives it: for each
//! container, the sandbox, the URIs fetched into it, the isolators'
//! cgroups, the executor process, a watch for resource limitations, and
//! the destruction of everything at the end.
//!
//! ```text
//! launch ──> sandbox ──> fetch ──> cgroups ──> executor runs ──> exit ──> cgroups killed, removed
//!                │          │          │            │
//!                └──────────┴──────────┴─ failure ──┴─ OOM ──> Limited, then Exited
//! ```
//!
//! What happens is reported through a callback as [`ContainerEvent`]s: a
//! container ends with exactly one `Exited`, after at most one `Limited`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use mesos::wire::mesos as v0;

use super::cgroups::{self, Cgroups, CgroupsConfig, ContainerCgroups};
use super::{ContainerExit, ContainerLimits, LaunchSpec, posix};
use crate::fetcher::{Fetcher, FetcherConfig};
use crate::files::Files;
use crate::paths;

/// Why a container is being ended by the agent: a limit it exceeded, or a
/// launch that failed.
#[derive(Debug, Clone, PartialEq)]
pub struct Limitation {
    /// The reason its tasks fail with.
    pub reason: v0::task_status::Reason,
    /// What happened, for the tasks' status message.
    pub message: String,
    /// The resources whose limit was hit (`TaskStatus.limitation`).
    pub resources: Vec<v0::Resource>,
}

/// Something that happened to a container.
#[derive(Debug, Clone, PartialEq)]
pub enum ContainerEvent {
    /// The container hit a limit or failed to launch; it is being
    /// destroyed.
    Limited {
        /// The container.
        container_id: String,
        /// Why.
        limitation: Limitation,
    },
    /// The executor process ended and the container is gone.
    Exited {
        /// The container.
        container_id: String,
        /// How the executor ended.
        exit: ContainerExit,
    },
}

/// Where the containerizer reports.
pub type EventSink = Arc<dyn Fn(ContainerEvent) + Send + Sync>;

/// The containerizer's configuration.
#[derive(Debug, Clone, Default)]
pub struct ContainerizerConfig {
    /// The `cgroups/*` isolators.
    pub cgroups: CgroupsConfig,
    /// How URIs are fetched.
    pub fetcher: FetcherConfig,
    /// `namespaces/pid`: each executor is process 1 of its own pid
    /// namespace, with its own `/proc`.
    pub pid_namespace: bool,
}

/// One container, shared with the task that runs it.
#[derive(Default)]
struct Slot {
    state: Mutex<SlotState>,
    /// Its cgroups once made; locked while they are destroyed.
    cgroups: Mutex<Option<ContainerCgroups>>,
    /// The containerizer's `containerizer/mesos/container_destroy_errors`.
    destroy_errors: Arc<AtomicU64>,
}

#[derive(Default)]
struct SlotState {
    /// The executor's pid (its session id), once running.
    pid: Option<u32>,
    /// Destroy was asked for: do not start, or kill.
    destroyed: bool,
    /// A limitation was reported (there is only ever one).
    limited: bool,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The containers of one agent.
pub struct MesosContainerizer {
    /// The cgroups in use, or why they cannot be (every launch then
    /// fails, saying so); `None` without a cgroups isolator.
    cgroups: Option<Result<Arc<Cgroups>, String>>,
    fetcher: Arc<Fetcher>,
    pid_namespace: bool,
    containers: HashMap<String, Arc<Slot>>,
    events: EventSink,
    /// Where sandboxes are attached for `/files`.
    files: Option<Files>,
    /// Containers whose cgroups could not be destroyed
    /// (`containerizer/mesos/container_destroy_errors`).
    destroy_errors: Arc<AtomicU64>,
}

impl MesosContainerizer {
    /// A containerizer reporting to `events`. Cgroups are detected now;
    /// when they cannot be used, the error is logged and containers fail
    /// to launch with it.
    pub fn new(
        config: &ContainerizerConfig,
        events: EventSink,
        files: Option<Files>,
    ) -> MesosContainerizer {
        MesosContainerizer::recovering(config, events, files, &[])
    }

    /// [`MesosContainerizer::new`] for an agent that recovers the
    /// containers `recovered` (see [`MesosContainerizer::recover`]): their
    /// cgroups are not orphans.
    pub fn recovering(
        config: &ContainerizerConfig,
        events: EventSink,
        files: Option<Files>,
        recovered: &[String],
    ) -> MesosContainerizer {
        let cgroups = config.cgroups.enabled().then(|| {
            Cgroups::detect(&config.cgroups)
                .map(|c| {
                    tracing::info!(
                        "Using cgroups {:?} under --cgroups_hierarchy={} with --cgroups_root={}",
                        c.version(),
                        config.cgroups.hierarchy.display(),
                        config.cgroups.root
                    );
                    let c = Arc::new(c);
                    destroy_orphans(Arc::clone(&c), recovered);
                    c
                })
                .map_err(|e| {
                    tracing::error!("Cgroups isolation is not available: {e}");
                    e.to_string()
                })
        });
        MesosContainerizer {
            cgroups,
            fetcher: Arc::new(Fetcher::new(config.fetcher.clone())),
            pid_namespace: config.pid_namespace,
            containers: HashMap::new(),
            events,
            files,
            destroy_errors: Arc::default(),
        }
    }

    /// The `containerizer/...` keys of `/metrics/snapshot`: the fetcher's
    /// and `containerizer/mesos/container_destroy_errors`.
    pub fn metrics(&self, into: &mut Vec<(String, f64)>) {
        self.fetcher.metrics(into);
        into.push((
            "containerizer/mesos/container_destroy_errors".into(),
            self.destroy_errors.load(Ordering::Relaxed) as f64,
        ));
    }

    /// Whether no container is left.
    pub fn is_empty(&self) -> bool {
        self.containers.is_empty()
    }

    /// The ids of the containers.
    pub fn container_ids(&self) -> Vec<String> {
        self.containers.keys().cloned().collect()
    }

    /// Starts launching the container `spec` describes. Must be called
    /// within a tokio runtime.
    pub fn launch(&mut self, spec: LaunchSpec) {
        self.launch_checkpointed(spec, None);
    }

    /// [`MesosContainerizer::launch`], writing the executor's pid to
    /// `pid_file` (the run's `forked.pid`) once it runs, so that a
    /// restarted agent finds it again.
    pub fn launch_checkpointed(&mut self, spec: LaunchSpec, pid_file: Option<std::path::PathBuf>) {
        // The sandbox at once, so that it can be browsed from now on.
        let sandbox = paths::create_sandbox(&spec.sandbox).map_err(|e| e.to_string());
        if let (Ok(()), Some(files)) = (&sandbox, &self.files) {
            files.attach_sandbox(&spec.sandbox, &spec.framework_id, &spec.executor_id);
        }
        let slot = Arc::new(Slot {
            destroy_errors: Arc::clone(&self.destroy_errors),
            ..Slot::default()
        });
        self.containers
            .insert(spec.container_id.clone(), Arc::clone(&slot));
        let cgroups = self.cgroups.clone();
        let pid_namespace = self.pid_namespace;
        let fetcher = Arc::clone(&self.fetcher);
        let events = Arc::clone(&self.events);
        tokio::spawn(async move {
            let container_id = spec.container_id.clone();
            let exit = run(
                spec,
                pid_file,
                sandbox,
                cgroups,
                pid_namespace,
                fetcher,
                &slot,
                &events,
            )
            .await;
            events(ContainerEvent::Exited { container_id, exit });
        });
    }

    /// Takes over a container a previous run of the agent launched: its
    /// executor's pid (if it still runs and leads its session) and its
    /// cgroups. Its `Exited` follows when the executor ends, at once when
    /// it is already gone; the exit status of a process that is not the
    /// agent's child is unknown.
    pub fn recover(&mut self, container: &crate::agent::core::recovery::RecoveredContainer) {
        if let Some(files) = &self.files {
            files.attach_sandbox(
                &container.sandbox,
                &container.framework_id,
                &container.executor_id,
            );
        }
        let container_id = container.container_id.clone();
        let pid = container
            .pid
            .filter(|&pid| posix::is_live_session_leader(pid));
        let slot = Arc::new(Slot::default());
        lock(&slot.state).pid = pid;
        if let Some(Ok(cgroups)) = &self.cgroups {
            *lock(&slot.cgroups) = Some(cgroups.open(&container_id));
        }
        self.containers
            .insert(container_id.clone(), Arc::clone(&slot));
        tracing::info!(container_id, "Recovering container (executor pid {pid:?})");
        let events = Arc::clone(&self.events);
        tokio::spawn(async move {
            let message = match pid {
                Some(pid) => {
                    watch_recovered(pid, &container_id, &slot, &events).await;
                    posix::sweep_session(pid);
                    "exited; its exit status is unknown after the agent's restart"
                }
                None => "was not running when the agent recovered",
            };
            cleanup(&slot).await;
            events(ContainerEvent::Exited {
                container_id,
                exit: ContainerExit {
                    status: None,
                    message: message.to_string(),
                },
            });
        });
    }

    /// Kills everything in the container: its executor's session and its
    /// cgroups. Its `Exited` follows.
    pub fn destroy(&self, container_id: &str) {
        let Some(slot) = self.containers.get(container_id) else {
            return;
        };
        tracing::info!(container_id, "Destroying container");
        kill(slot);
    }

    /// Applies new limits to a running container's cgroups.
    pub fn update(&self, container_id: &str, limits: ContainerLimits) {
        let Some(slot) = self.containers.get(container_id) else {
            return;
        };
        let slot = Arc::clone(slot);
        let container_id = container_id.to_string();
        tokio::task::spawn_blocking(move || {
            if let Some(cgroups) = lock(&slot.cgroups).as_mut() {
                if let Err(e) = cgroups.update(&limits) {
                    tracing::error!(container_id, "Failed to update container: {e}");
                }
            }
        });
    }

    /// Forgets a container that has exited.
    pub fn remove(&mut self, container_id: &str) {
        self.containers.remove(container_id);
    }

    /// Kills every container (the agent is stopping); their `Exited`s
    /// follow once their cgroups are gone.
    pub fn destroy_all(&self) {
        self.destroy_all_except(&[]);
    }

    /// [`MesosContainerizer::destroy_all`] but for the containers `kept`
    /// (checkpointing frameworks' executors, left for the agent's next
    /// run to recover).
    pub fn destroy_all_except(&self, kept: &[String]) {
        for (container_id, slot) in &self.containers {
            if kept.contains(container_id) {
                continue;
            }
            tracing::info!(container_id, "Killing container at shutdown");
            kill(slot);
        }
    }

    /// The container's limitation, if it has hit one, looked for now:
    /// asked before an executor's terminal update is taken, so that a
    /// task the OOM killer ended is reported as such, whichever of the
    /// kernel's event and the executor's update comes first. (The agent
    /// takes the first limitation of a container and ignores repeats.)
    pub fn check_limitation(&self, container_id: &str) -> Option<Limitation> {
        let slot = self.containers.get(container_id)?;
        let cgroups = slot.cgroups.try_lock().ok()?;
        oom_limitation(cgroups.as_ref()?)
    }

    /// What each running container has used, by container id: its
    /// cgroups' usage (with cgroups isolation) and its executor's pid.
    pub fn usage(&self) -> crate::agent::monitor::ContainerUsage {
        self.containers
            .iter()
            .map(|(id, slot)| {
                let usage = slot
                    .cgroups
                    .try_lock()
                    .ok()
                    .and_then(|c| c.as_ref().map(ContainerCgroups::usage));
                let pid = lock(&slot.state).pid;
                (id.clone(), (usage, pid))
            })
            .collect()
    }
}

/// Destroys the containers an earlier run of the agent left in the
/// cgroups and did not checkpoint: nothing recovers them, and they hold resources the agent
/// offers again.
fn destroy_orphans(cgroups: Arc<Cgroups>, recovered: &[String]) {
    let mut orphans = cgroups.orphans();
    orphans.retain(|id| !recovered.contains(id));
    if orphans.is_empty() {
        return;
    }
    tokio::task::spawn_blocking(move || {
        for container_id in orphans {
            tracing::warn!(
                container_id,
                "Destroying orphan container: it is not in the agent's checkpoint"
            );
            if let Err(e) = cgroups.open(&container_id).destroy() {
                tracing::error!(container_id, "Failed to destroy orphan container: {e}");
            }
        }
    });
}

/// Waits for a recovered executor to end, watching its memory cgroup for
/// the OOM killer as a launched container's is watched.
async fn watch_recovered(pid: u32, container_id: &str, slot: &Arc<Slot>, events: &EventSink) {
    let memory = lock(&slot.cgroups)
        .as_ref()
        .and_then(|c| c.memory_dir().map(|d| (c.version(), d.to_path_buf())));
    let wait = posix::wait_foreign(pid);
    tokio::pin!(wait);
    let Some((version, dir)) = memory else {
        return wait.await;
    };
    tokio::select! {
        () = &mut wait => {}
        oom = cgroups::oom::watch(version, dir) => {
            if oom {
                let limitation = lock(&slot.cgroups).as_ref().and_then(oom_limitation);
                if let Some(limitation) = limitation {
                    let first = !std::mem::replace(&mut lock(&slot.state).limited, true);
                    if first {
                        events(ContainerEvent::Limited {
                            container_id: container_id.to_string(),
                            limitation,
                        });
                    }
                }
                kill(slot);
            }
            wait.await
        }
    }
}

fn kill(slot: &Arc<Slot>) {
    let pid = {
        let mut state = lock(&slot.state);
        state.destroyed = true;
        state.pid
    };
    if let Some(pid) = pid {
        posix::kill_session(pid, libc::SIGKILL);
    }
    let slot = Arc::clone(slot);
    // Freezing and killing may take a moment; not on the agent's task.
    tokio::task::spawn_blocking(move || {
        if let Ok(cgroups) = slot.cgroups.try_lock() {
            if let Some(cgroups) = cgroups.as_ref() {
                cgroups.kill_all();
            }
        }
    });
}

/// The memory limitation of a container the OOM killer has acted in.
fn oom_limitation(cgroups: &ContainerCgroups) -> Option<Limitation> {
    if cgroups.oom_kills()? == 0 {
        return None;
    }
    let (message, used_mb) = cgroups.oom_message();
    tracing::info!(
        container_id = cgroups.container_id(),
        "OOM detected for container: {}",
        message.trim()
    );
    Some(Limitation {
        reason: v0::task_status::Reason::ContainerLimitationMemory,
        message,
        resources: mesos::resources::Resources::parse(&format!("mem:{used_mb}"))
            .map(|r| r.to_wire())
            .unwrap_or_default(),
    })
}

fn launch_failed(message: String) -> Limitation {
    Limitation {
        reason: v0::task_status::Reason::ContainerLaunchFailed,
        message: format!("Failed to launch container: {message}"),
        resources: Vec::new(),
    }
}

/// Runs one container from start to end; returns how its executor ended.
#[allow(clippy::too_many_arguments)]
async fn run(
    spec: LaunchSpec,
    pid_file: Option<std::path::PathBuf>,
    sandbox: Result<(), String>,
    cgroups: Option<Result<Arc<Cgroups>, String>>,
    pid_namespace: bool,
    fetcher: Arc<Fetcher>,
    slot: &Arc<Slot>,
    events: &EventSink,
) -> ContainerExit {
    let container_id = spec.container_id.clone();
    let limited = |limitation: Limitation| {
        let mut state = lock(&slot.state);
        if !state.limited {
            state.limited = true;
            drop(state);
            events(ContainerEvent::Limited {
                container_id: container_id.clone(),
                limitation,
            });
        }
    };
    let failed = |limitation: Limitation| {
        let message = limitation.message.clone();
        limited(limitation);
        ContainerExit {
            status: None,
            message: message.to_string(),
        }
    };
    if let Err(e) = sandbox {
        return failed(launch_failed(format!("Failed to create sandbox: {e}")));
    }
    if let Err(e) = fetcher.fetch(&spec).await {
        // Mesos 1.11 has no reason of its own for this.
        return failed(launch_failed(format!(
            "Failed to fetch all URIs for container '{container_id}': {e}"
        )));
    }
    if lock(&slot.state).destroyed {
        return ContainerExit {
            status: None,
            message: "destroyed before it started".into(),
        };
    }
    // The cgroups, made off the async runtime (a few file writes).
    let procs = match cgroups {
        None => Vec::new(),
        Some(Err(e)) => return failed(launch_failed(format!("Cgroups are not available: {e}"))),
        Some(Ok(cgroups)) => {
            let id = container_id.clone();
            let limits = spec.limits;
            let made = tokio::task::spawn_blocking(move || cgroups.create(&id, &limits)).await;
            match made {
                Ok(Ok(made)) => {
                    let procs = made.procs_files();
                    *lock(&slot.cgroups) = Some(made);
                    procs
                }
                Ok(Err(e)) => {
                    return failed(launch_failed(format!("Failed to prepare cgroups: {e}")));
                }
                Err(e) => return failed(launch_failed(format!("Failed to prepare cgroups: {e}"))),
            }
        }
    };
    // Off the async runtime too: the agent moves our executors into their
    // cgroups itself, and those writes can take milliseconds each.
    let launched = {
        let spec = spec.clone();
        tokio::task::spawn_blocking(move || {
            posix::Container::launch_in(&spec, &procs, pid_namespace)
        })
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)))
    };
    let container = match launched {
        Ok(container) => container,
        Err(e) => {
            let exit = failed(launch_failed(format!("Failed to launch executor: {e}")));
            cleanup(slot).await;
            return exit;
        }
    };
    let pid = container.pid();
    if let Some(path) = &pid_file {
        if let Err(e) = crate::checkpoint::write_atomic(path, pid.to_string().as_bytes()) {
            tracing::error!(container_id, "Failed to checkpoint the executor's pid: {e}");
        }
    }
    let destroyed = {
        let mut state = lock(&slot.state);
        state.pid = Some(pid);
        state.destroyed
    };
    if destroyed {
        posix::kill_session(pid, libc::SIGKILL);
    }
    let memory = lock(&slot.cgroups)
        .as_ref()
        .and_then(|c| c.memory_dir().map(|d| (c.version(), d.to_path_buf())));
    let wait = container.wait();
    tokio::pin!(wait);
    let exit = match memory {
        Some((version, dir)) => {
            tokio::select! {
                exit = &mut wait => exit,
                oom = cgroups::oom::watch(version, dir) => {
                    if oom {
                        let limitation = lock(&slot.cgroups).as_ref().and_then(oom_limitation);
                        if let Some(limitation) = limitation {
                            limited(limitation);
                        }
                        kill(slot);
                    }
                    wait.await
                }
            }
        }
        None => wait.await,
    };
    // An OOM the event has not told of yet.
    let limitation = lock(&slot.cgroups).as_ref().and_then(oom_limitation);
    if let Some(limitation) = limitation {
        limited(limitation);
    }
    cleanup(slot).await;
    exit
}

/// Kills what is left in the container's cgroups and removes them.
async fn cleanup(slot: &Arc<Slot>) {
    let taken = lock(&slot.cgroups).take();
    if let Some(mut cgroups) = taken {
        let result = tokio::task::spawn_blocking(move || {
            let id = cgroups.container_id().to_string();
            (id, cgroups.destroy())
        })
        .await;
        if let Ok((container_id, Err(e))) = result {
            slot.destroy_errors.fetch_add(1, Ordering::Relaxed);
            tracing::error!(container_id, "Failed to destroy cgroups: {e}");
        }
    }
}
