//! The master's runtime: one tokio task that owns the [`Master`] core,
//! feeds it what arrives (libprocess messages, HTTP calls, closed streams,
//! time) and carries out its effects.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use mesos::ids::FrameworkId;
use mesos::process::{BodySender, Event as ProcessEvent, Transport};
use mesos::upid::Upid;
use mesos::wire::mesos::internal::Registry;
use mesos::wire::mesos::scheduler;
use prost::Message as _;
use tokio::sync::{mpsc, oneshot, watch};

use crate::master::{
    CallError, Effect, FrameworkLink, HEARTBEAT_INTERVAL, Master, MasterConfig, Now, RegistryConfig,
};
use crate::registry::{Store, StoreError};

/// How an HTTP framework wants its events encoded.
pub use mesos::wire::media::Format;

/// A request for the master task.
pub(crate) enum Input {
    /// An HTTP framework subscribes; events go to `sender`.
    Subscribe {
        call: scheduler::Call,
        format: Format,
        sender: BodySender,
        reply: oneshot::Sender<Result<(FrameworkId, String), CallError>>,
    },
    /// Another HTTP scheduler call.
    Call {
        call: scheduler::Call,
        stream_id: Option<String>,
        reply: oneshot::Sender<Result<(), CallError>>,
    },
    /// An HTTP framework's stream ended.
    StreamClosed { stream_id: String },
    /// Set role weights.
    Weights(Vec<(String, f64)>),
    /// Read the master's state.
    Read(Box<dyn FnOnce(&Master) + Send>),
    /// Take a metrics snapshot.
    Metrics(oneshot::Sender<Vec<(String, f64)>>),
    /// The registry with this number is stored.
    RegistryStored(u64),
}

/// A handle on a running master: how the HTTP API reaches it.
#[derive(Clone)]
pub struct MasterHandle {
    inputs: mpsc::UnboundedSender<Input>,
    /// The effective flags, for `/flags` and `/state`.
    pub flags: Arc<Vec<(String, String)>>,
    /// The master's UPID.
    pub pid: Upid,
}

impl MasterHandle {
    pub(crate) fn send(&self, input: Input) -> bool {
        self.inputs.send(input).is_ok()
    }

    /// Sets role weights (`--weights`).
    pub fn set_weights(&self, weights: Vec<(String, f64)>) {
        self.send(Input::Weights(weights));
    }

    /// Runs `read` on the master's state and returns what it computes.
    pub async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Master) -> T + Send + 'static,
    ) -> Option<T> {
        let (reply, answer) = oneshot::channel();
        let read = Box::new(move |master: &Master| {
            let _ = reply.send(read(master));
        });
        if !self.send(Input::Read(read)) {
            return None;
        }
        answer.await.ok()
    }
}

/// The master's `/metrics/snapshot` keys, for the libprocess instance's
/// metrics.
struct MetricsSource(MasterHandle);

impl mesos::metrics::Source for MetricsSource {
    fn snapshot(&self) -> mesos::metrics::SourceFuture {
        let handle = self.0.clone();
        Box::pin(async move {
            let (reply, answer) = oneshot::channel();
            if !handle.send(Input::Metrics(reply)) {
                return Vec::new();
            }
            answer.await.unwrap_or_default()
        })
    }
}

/// The current time. The runtime is the one place of the master that
/// reads the clock; the core and the allocator are handed it.
#[allow(clippy::disallowed_methods)]
pub fn now() -> Now {
    Now {
        instant: Instant::now(),
        unix: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or_default(),
    }
}

/// Starts the master on `transport`: process `master`, its HTTP endpoints,
/// and the delegate for unprefixed paths. Its registry is not persisted.
pub fn start(
    config: MasterConfig,
    transport: Transport,
    flags: Vec<(String, String)>,
) -> MasterHandle {
    let master = Master::new(config, now());
    spawn(master, transport, flags, None, None)
}

/// A leading master's registry: where it is stored, and how.
pub struct Persistence {
    /// The store.
    pub store: Store,
    /// How long recovered agents have, the removal limit, GC.
    pub config: RegistryConfig,
    /// `--registry_fetch_timeout`.
    pub fetch_timeout: Duration,
    /// `--registry_store_timeout`.
    pub store_timeout: Duration,
}

/// Why a leading master must stop.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// A registry write failed or did not finish in time: Mesos's
    /// registrar aborts and its master with it.
    #[error("Registrar failed: Failed to update registry: {0}... committing suicide!")]
    Registrar(StoreError),
    /// The core stopped the master ([`Effect::Abort`]).
    #[error("{0}")]
    Abort(String),
}

/// Starts a master that leads with a persisted registry: the registry is
/// recovered first (a master that cannot read it within
/// `--registry_fetch_timeout` does not start), then every change is
/// written back. The returned receiver yields why the master must stop
/// (a write failed or timed out, or the core aborted); the caller then
/// exits, as Mesos's master does.
#[allow(clippy::disallowed_methods)]
pub async fn start_leading(
    config: MasterConfig,
    transport: Transport,
    flags: Vec<(String, String)>,
    mut persistence: Persistence,
) -> Result<(MasterHandle, mpsc::UnboundedReceiver<Failure>), StoreError> {
    let location = persistence.store.location();
    let registrar = crate::registry::metrics::RegistrarMetrics::default();
    let fetching = Instant::now();
    let registry = persistence
        .store
        .fetch_within(persistence.fetch_timeout)
        .await?;
    registrar.fetched(&registry, fetching.elapsed());
    tracing::info!("Recovered the registry from {location}");
    let mut master = Master::new(config, now());
    master.recover_with(registry, persistence.config.clone(), now());
    let store_timeout = persistence.store_timeout;
    // The first write names this master as the leader; it fails if
    // another master wrote since we read.
    if let Some((number, first)) = master.take_registry() {
        registrar.storing(number);
        let storing = Instant::now();
        persistence
            .store
            .store_within(&first, store_timeout)
            .await?;
        registrar.stored(&first, storing.elapsed());
        master.registry_stored(number);
    }
    let (updates, mut pending) = watch::channel(None::<(u64, Registry)>);
    let (failed, failure) = mpsc::unbounded_channel();
    let mut store = persistence.store;
    transport.metrics().add(registrar.source(pending.clone()));
    let handle = spawn(
        master,
        transport,
        flags,
        Some(updates),
        Some(failed.clone()),
    );
    let stored = handle.clone();
    tokio::spawn(async move {
        while pending.changed().await.is_ok() {
            let Some((number, registry)) = pending.borrow_and_update().clone() else {
                continue;
            };
            registrar.storing(number);
            let storing = Instant::now();
            if let Err(error) = store.store_within(&registry, store_timeout).await {
                let _ = failed.send(Failure::Registrar(error));
                return;
            }
            registrar.stored(&registry, storing.elapsed());
            stored.send(Input::RegistryStored(number));
        }
    });
    Ok((handle, failure))
}

fn spawn(
    master: Master,
    transport: Transport,
    flags: Vec<(String, String)>,
    registry: Option<watch::Sender<Option<(u64, Registry)>>>,
    failures: Option<mpsc::UnboundedSender<Failure>>,
) -> MasterHandle {
    let config = master.config().clone();
    let (inputs, receiver) = mpsc::unbounded_channel();
    let handle = MasterHandle {
        inputs: inputs.clone(),
        flags: Arc::new(flags),
        pid: config.pid.clone(),
    };
    let mailbox = transport.spawn(&config.pid.id);
    transport.route(
        &config.pid.id,
        Arc::new(crate::api::Api::new(handle.clone())),
    );
    transport.delegate(&config.pid.id);
    transport
        .metrics()
        .add(Arc::new(MetricsSource(handle.clone())));
    let tick = config
        .allocation_interval
        .min(crate::master::HOUSEKEEPING_INTERVAL);
    let runtime = Runtime {
        master,
        transport,
        inputs,
        streams: HashMap::new(),
        started: now().instant,
        allocation_run: mesos::metrics::Timer::default(),
        queued: (0, 0),
        registry,
        failures,
        writing: None,
    };
    tokio::spawn(runtime.run(mailbox, receiver, tick));
    handle
}

/// An HTTP framework's open event stream.
struct Stream {
    sender: BodySender,
    format: Format,
    /// Dropping it stops the stream's heartbeat task.
    _stop: oneshot::Sender<()>,
}

struct Runtime {
    master: Master,
    transport: Transport,
    /// For the tasks the runtime spawns (heartbeats) to report back.
    inputs: mpsc::UnboundedSender<Input>,
    /// Open HTTP event streams by `Mesos-Stream-Id`.
    streams: HashMap<String, Stream>,
    /// For `master/uptime_secs`.
    started: Instant,
    /// `allocator/mesos/allocation_run_ms`.
    allocation_run: mesos::metrics::Timer,
    /// Messages and requests waiting, as of the last batch.
    queued: (usize, usize),
    /// Where registry changes go to be persisted (latest wins), if
    /// anywhere.
    registry: Option<watch::Sender<Option<(u64, Registry)>>>,
    /// Where to say the master must stop, if anyone listens.
    failures: Option<mpsc::UnboundedSender<Failure>>,
    /// The number of the registry being written, if one is.
    writing: Option<u64>,
}

/// Inputs handled before the effects are carried out and the allocator is
/// given a chance to run.
const BATCH: usize = 256;

impl Runtime {
    async fn run(
        mut self,
        mut mailbox: mpsc::UnboundedReceiver<ProcessEvent>,
        mut inputs: mpsc::UnboundedReceiver<Input>,
        tick: Duration,
    ) {
        let mut ticker = tokio::time::interval(tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                event = mailbox.recv() => match event {
                    Some(event) => self.process_event(event),
                    None => return,
                },
                input = inputs.recv() => match input {
                    Some(input) => self.input(input),
                    None => return,
                },
                _ = ticker.tick() => self.tick(),
            }
            self.queued = (mailbox.len(), inputs.len());
            for _ in 0..BATCH {
                let mut progressed = false;
                if let Ok(event) = mailbox.try_recv() {
                    self.process_event(event);
                    progressed = true;
                }
                if let Ok(input) = inputs.try_recv() {
                    self.input(input);
                    progressed = true;
                }
                if !progressed {
                    break;
                }
            }
            if self.master.allocation_pending() {
                self.tick();
            }
            if !self.perform() {
                return;
            }
        }
    }

    /// [`Master::tick`], timing the allocation cycle if one ran.
    #[allow(clippy::disallowed_methods)]
    fn tick(&mut self) {
        let runs = self.master.metrics().allocation_runs;
        let started = Instant::now();
        self.master.tick(now());
        if self.master.metrics().allocation_runs != runs {
            self.allocation_run.record(started.elapsed());
        }
    }

    /// The master's metrics: the core's, and the runtime's own.
    #[allow(clippy::disallowed_methods)]
    fn metrics(&self) -> Vec<(String, f64)> {
        let mut values = Vec::new();
        self.master.metrics_snapshot(&mut values);
        values.push(("master/elected".into(), 1.0));
        values.push((
            "master/uptime_secs".into(),
            self.started.elapsed().as_secs_f64(),
        ));
        let (messages, requests) = self.queued;
        values.push(("master/event_queue_messages".into(), messages as f64));
        values.push(("master/event_queue_dispatches".into(), 0.0));
        values.push(("master/event_queue_http_requests".into(), requests as f64));
        values.push(("allocator/mesos/event_queue_dispatches".into(), 0.0));
        self.allocation_run
            .publish("allocator/mesos/allocation_run_ms", &mut values);
        values
    }

    fn process_event(&mut self, event: ProcessEvent) {
        match event {
            ProcessEvent::Message(message) => {
                self.master
                    .receive(&message.from, &message.name, &message.body, now());
            }
            ProcessEvent::Exited(pid) => self.master.exited(&pid, now()),
        }
    }

    fn input(&mut self, input: Input) {
        match input {
            Input::Subscribe {
                call,
                format,
                sender,
                reply,
            } => {
                let stream_id = uuid::Uuid::new_v4().to_string();
                let link = FrameworkLink::Http {
                    stream_id: stream_id.clone(),
                };
                // Register the stream first: SUBSCRIBED is among the
                // effects of subscribing.
                let (stop, stopped) = oneshot::channel();
                self.streams.insert(
                    stream_id.clone(),
                    Stream {
                        sender: sender.clone(),
                        format,
                        _stop: stop,
                    },
                );
                match self.master.subscribe(&call, link, now()) {
                    Ok(id) => {
                        self.spawn_heartbeat(stream_id.clone(), sender, format, stopped);
                        let _ = reply.send(Ok((id, stream_id)));
                    }
                    Err(error) => {
                        self.streams.remove(&stream_id);
                        let _ = reply.send(Err(error));
                    }
                }
            }
            Input::Call {
                call,
                stream_id,
                reply,
            } => {
                let _ = reply.send(self.call(call, stream_id));
            }
            Input::StreamClosed { stream_id } => {
                if self.streams.remove(&stream_id).is_some() {
                    self.master
                        .framework_disconnected(&FrameworkLink::Http { stream_id }, now());
                }
            }
            Input::Read(read) => read(&self.master),
            Input::Metrics(reply) => {
                let _ = reply.send(self.metrics());
            }
            Input::Weights(weights) => self.master.update_weights(&weights),
            Input::RegistryStored(number) => {
                if self.writing == Some(number) {
                    self.writing = None;
                }
                self.master.registry_stored(number);
            }
        }
    }

    /// Mesos's order of checks for a non-subscribe HTTP call: the framework
    /// exists, is connected, the stream id is present and matches.
    fn call(&mut self, call: scheduler::Call, stream_id: Option<String>) -> Result<(), CallError> {
        let id = call
            .framework_id
            .as_ref()
            .map(FrameworkId::from)
            .ok_or_else(|| {
                CallError::BadRequest("Expecting 'framework_id' to be present".into())
            })?;
        let framework = self
            .master
            .framework(&id)
            .ok_or(CallError::FrameworkNotFound)?;
        if framework.link.is_none() {
            return Err(CallError::NotSubscribed);
        }
        if matches!(framework.link, Some(FrameworkLink::Libprocess { .. })) {
            return Err(CallError::Forbidden(format!(
                "{id} is not connected via HTTP"
            )));
        }
        let stream_id = stream_id.ok_or_else(|| {
            CallError::BadRequest(
                "All non-subscribe calls should include the 'Mesos-Stream-Id' header".into(),
            )
        })?;
        self.master
            .call(call, &FrameworkLink::Http { stream_id }, now())
    }

    fn spawn_heartbeat(
        &self,
        stream_id: String,
        sender: BodySender,
        format: Format,
        mut stopped: oneshot::Receiver<()>,
    ) {
        let heartbeat = encode_event(
            &scheduler::Event {
                r#type: Some(scheduler::event::Type::Heartbeat as i32),
                ..Default::default()
            },
            format,
        );
        let inputs = self.inputs.clone();
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(HEARTBEAT_INTERVAL);
            interval.tick().await;
            loop {
                tokio::select! {
                    _ = &mut stopped => return,
                    _ = sender.closed() => break,
                    _ = interval.tick() => {
                        if !sender.send(heartbeat.clone()) {
                            break;
                        }
                    }
                }
            }
            let _ = inputs.send(Input::StreamClosed { stream_id });
        });
    }

    /// Carries out the core's effects; false once the master must stop.
    fn perform(&mut self) -> bool {
        // One write at a time: while one is under way, changes accumulate
        // into the next registry (and what waits for them, into the next
        // write) rather than into snapshots nobody would store.
        if let Some(updates) = &self.registry
            && self.writing.is_none()
            && let Some(registry) = self.master.take_registry()
        {
            self.writing = Some(registry.0);
            let _ = updates.send(Some(registry));
        }
        let from = self.transport.upid(&self.master.config().pid.id);
        for effect in self.master.take_effects() {
            match effect {
                Effect::Send { to, name, body } => self.transport.send(&from, &to, &name, body),
                Effect::Link { to } => self.transport.link(&from, &to),
                Effect::Event { link, event } => match &link {
                    FrameworkLink::Http { stream_id } => {
                        if let Some(stream) = self.streams.get(stream_id) {
                            let record = encode_event(&event, stream.format);
                            if !stream.sender.send(record) {
                                let _ = self.inputs.send(Input::StreamClosed {
                                    stream_id: stream_id.clone(),
                                });
                            }
                        }
                    }
                    FrameworkLink::Libprocess { pid } => {
                        // The core turns events for drivers into their
                        // messages (`Effect::Send`); a v1 event here has
                        // no stream to go to.
                        tracing::error!("Dropping v1 event for libprocess framework {pid}");
                    }
                },
                Effect::Close { link } => {
                    if let FrameworkLink::Http { stream_id } = link {
                        self.streams.remove(&stream_id);
                    }
                }
                Effect::Abort { message } => {
                    match &self.failures {
                        Some(failures) => {
                            let _ = failures.send(Failure::Abort(message));
                        }
                        None => tracing::error!("{message}"),
                    }
                    return false;
                }
            }
        }
        true
    }
}

/// One RecordIO record of `event` in `format` (v0 and v1 events share
/// their encoding; JSON uses the v1 field names).
pub fn encode_event(event: &scheduler::Event, format: Format) -> Bytes {
    let body = match format {
        Format::Protobuf => event.encode_to_vec(),
        Format::Json => {
            match mesos::convert::evolve::<_, mesos::wire::mesos::v1::scheduler::Event>(event) {
                Ok(v1) => mesos::wire::json::to_json_string(&v1).into_bytes(),
                Err(error) => {
                    tracing::error!("Failed to convert event to v1: {error}");
                    Vec::new()
                }
            }
        }
    };
    Bytes::from(mesos::wire::recordio::encode(&body))
}
