//! Scenario tests for the master core: feed inputs, check effects. No
//! runtime, no sockets; time is advanced by hand.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use mesos::ids::{AgentId, FrameworkId, OfferId, TaskId};
use mesos::resources::Resources;
use mesos::upid::Upid;
use mesos::wire::mesos as v0;
use mesos::wire::mesos::TaskState;
use mesos::wire::mesos::framework_info::capability::Type as Capability;
use mesos::wire::mesos::internal;
use mesos::wire::mesos::scheduler::{self, call, event};
use mesos::wire::mesos::task_status::Reason;
use prost::Message;
use prost_reflect::ReflectMessage;

use super::*;
use crate::allocator::AllocatorConfig;

mod failover;
mod golden;

/// The Unix time the tests start at.
const UNIX_START: f64 = 1_700_000_000.0;

/// The one clock reading of the tests; every other time is `base() + d`.
#[allow(clippy::disallowed_methods)]
fn base() -> Instant {
    Instant::now()
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn res(text: &str) -> Resources {
    Resources::parse(text).unwrap()
}

fn config() -> MasterConfig {
    MasterConfig {
        id: "M".into(),
        pid: "master@127.0.0.1:5050".parse().unwrap(),
        hostname: "master.example".into(),
        allocation_interval: secs(1),
        offer_timeout: None,
        agent_ping_timeout: secs(15),
        max_agent_ping_timeouts: 5,
        max_completed_frameworks: 50,
        max_completed_tasks_per_framework: 1000,
        allocator: AllocatorConfig::default(),
    }
}

/// What a test holds of a registered agent.
#[derive(Debug, Clone)]
struct TestAgent {
    pid: Upid,
    id: AgentId,
}

/// What a test holds of a subscribed framework.
#[derive(Debug, Clone)]
struct TestFramework {
    id: FrameworkId,
    link: FrameworkLink,
}

/// Effects drained from the master, with decoders.
#[derive(Debug, Default)]
struct Effects(Vec<Effect>);

impl Effects {
    /// The libprocess messages of type `M`, decoded, with their receivers.
    fn messages<M>(&self) -> Vec<(Upid, M)>
    where
        M: Message + ReflectMessage + Default,
    {
        let name = M::default().descriptor().full_name().to_string();
        self.0
            .iter()
            .filter_map(|e| match e {
                Effect::Send { to, name: n, body } if *n == name => {
                    Some((to.clone(), M::decode(body.as_ref()).unwrap()))
                }
                _ => None,
            })
            .collect()
    }

    /// The messages of type `M` sent to `to`.
    fn messages_to<M>(&self, to: &Upid) -> Vec<M>
    where
        M: Message + ReflectMessage + Default,
    {
        self.messages::<M>()
            .into_iter()
            .filter(|(pid, _)| pid == to)
            .map(|(_, m)| m)
            .collect()
    }

    /// Every event sent over `link`.
    fn events(&self, link: &FrameworkLink) -> Vec<scheduler::Event> {
        self.0
            .iter()
            .filter_map(|e| match e {
                Effect::Event { link: l, event } if l == link => Some((**event).clone()),
                _ => None,
            })
            .collect()
    }

    fn events_of(&self, link: &FrameworkLink, kind: event::Type) -> Vec<scheduler::Event> {
        self.events(link)
            .into_iter()
            .filter(|e| e.r#type == Some(kind as i32))
            .collect()
    }

    fn offers(&self, link: &FrameworkLink) -> Vec<v0::Offer> {
        self.events_of(link, event::Type::Offers)
            .into_iter()
            .flat_map(|e| e.offers.unwrap().offers)
            .collect()
    }

    fn updates(&self, link: &FrameworkLink) -> Vec<v0::TaskStatus> {
        self.events_of(link, event::Type::Update)
            .into_iter()
            .map(|e| e.update.unwrap().status)
            .collect()
    }

    fn rescinded(&self, link: &FrameworkLink) -> Vec<OfferId> {
        self.events_of(link, event::Type::Rescind)
            .into_iter()
            .map(|e| OfferId::from(&e.rescind.unwrap().offer_id))
            .collect()
    }

    fn errors(&self, link: &FrameworkLink) -> Vec<String> {
        self.events_of(link, event::Type::Error)
            .into_iter()
            .map(|e| e.error.unwrap().message)
            .collect()
    }

    fn closed(&self, link: &FrameworkLink) -> bool {
        self.0
            .iter()
            .any(|e| matches!(e, Effect::Close { link: l } if l == link))
    }
}

/// A master, a clock and the books of a test.
struct Harness {
    master: Master,
    base: Instant,
    elapsed: Duration,
    next_stream: u64,
    next_agent: u8,
}

impl Harness {
    fn new() -> Harness {
        Harness::with(|_| {})
    }

    fn with(change: impl FnOnce(&mut MasterConfig)) -> Harness {
        let mut config = config();
        change(&mut config);
        let base = base();
        let now = Now {
            instant: base,
            unix: UNIX_START,
        };
        Harness {
            master: Master::new(config, now),
            base,
            elapsed: Duration::ZERO,
            next_stream: 0,
            next_agent: 0,
        }
    }

    fn now(&self) -> Now {
        Now {
            instant: self.base + self.elapsed,
            unix: UNIX_START + self.elapsed.as_secs_f64(),
        }
    }

    fn effects(&mut self) -> Effects {
        Effects(self.master.take_effects())
    }

    /// Lets `d` pass, ticking as the runtime does, and returns what the
    /// master did meanwhile (effects not taken before are included).
    fn advance(&mut self, d: Duration) -> Effects {
        let end = self.elapsed + d;
        while self.elapsed < end {
            self.elapsed = (self.elapsed + HOUSEKEEPING_INTERVAL).min(end);
            let now = self.now();
            self.master.tick(now);
        }
        self.effects()
    }

    /// Runs an allocation now and returns the effects.
    fn allocate(&mut self) -> Effects {
        let now = self.now();
        self.master.allocate(now);
        self.effects()
    }

    fn receive<M: Message + ReflectMessage>(&mut self, from: &Upid, message: &M) {
        let now = self.now();
        let name = message.descriptor().full_name().to_string();
        self.master
            .receive(from, &name, &message.encode_to_vec(), now);
    }

    /// Registers an agent from a fresh pid with `resources`.
    fn register_agent(&mut self, resources: &str) -> TestAgent {
        self.next_agent += 1;
        let n = self.next_agent;
        let pid = Upid::new("slave(1)", SocketAddr::from(([10, 0, 0, n], 5051)));
        self.receive(
            &pid,
            &register_message(&format!("agent{n}.example"), resources),
        );
        let effects = self.effects();
        let replies = effects.messages_to::<internal::SlaveRegisteredMessage>(&pid);
        assert_eq!(replies.len(), 1, "one SlaveRegisteredMessage: {effects:?}");
        // A healthy agent answers the ping that follows its registration.
        for _ in effects.messages_to::<internal::PingSlaveMessage>(&pid) {
            self.receive(&pid, &internal::PongSlaveMessage {});
        }
        TestAgent {
            pid,
            id: AgentId::from(&replies[0].slave_id),
        }
    }

    fn next_link(&mut self) -> FrameworkLink {
        self.next_stream += 1;
        FrameworkLink::Http {
            stream_id: format!("stream-{}", self.next_stream),
        }
    }

    /// Subscribes a framework over a new HTTP stream.
    fn subscribe(&mut self, info: v0::FrameworkInfo) -> TestFramework {
        let link = self.next_link();
        let id = self.subscribe_on(info, &link).unwrap();
        self.effects();
        TestFramework { id, link }
    }

    fn subscribe_on(
        &mut self,
        info: v0::FrameworkInfo,
        link: &FrameworkLink,
    ) -> Result<FrameworkId, CallError> {
        let now = self.now();
        let call = scheduler::Call {
            framework_id: info.id.clone(),
            r#type: Some(call::Type::Subscribe as i32),
            subscribe: Some(call::Subscribe {
                framework_info: info,
                ..Default::default()
            }),
            ..Default::default()
        };
        self.master.subscribe(&call, link.clone(), now)
    }

    /// Sends `call` for `framework` over its link.
    fn call(&mut self, framework: &TestFramework, call: scheduler::Call) -> Result<(), CallError> {
        self.call_on(framework, &framework.link.clone(), call)
    }

    fn call_on(
        &mut self,
        framework: &TestFramework,
        link: &FrameworkLink,
        mut call: scheduler::Call,
    ) -> Result<(), CallError> {
        let now = self.now();
        call.framework_id = Some(framework.id.to_v0());
        self.master.call(call, link, now)
    }

    /// Allocates and returns the offers `framework` got.
    fn offers(&mut self, framework: &TestFramework) -> Vec<v0::Offer> {
        self.allocate().offers(&framework.link)
    }

    /// Lets `d` pass and returns the one offer `framework` got meanwhile.
    fn offer_after(&mut self, framework: &TestFramework, d: Duration) -> v0::Offer {
        let mut offers = self.advance(d).offers(&framework.link);
        assert_eq!(offers.len(), 1, "one offer: {offers:?}");
        offers.remove(0)
    }

    /// Allocates and returns the one offer `framework` got.
    fn offer(&mut self, framework: &TestFramework) -> v0::Offer {
        let mut offers = self.offers(framework);
        assert_eq!(offers.len(), 1, "one offer: {offers:?}");
        offers.remove(0)
    }

    fn accept(
        &mut self,
        framework: &TestFramework,
        offer_ids: &[&v0::OfferId],
        tasks: Vec<v0::TaskInfo>,
        filters: Option<v0::Filters>,
    ) -> Effects {
        self.call(
            framework,
            accept_call(
                offer_ids.iter().map(|id| (*id).clone()).collect(),
                tasks,
                filters,
            ),
        )
        .unwrap();
        self.effects()
    }

    /// Launches one task on `offer` and returns the `RunTaskMessage`.
    fn launch(
        &mut self,
        framework: &TestFramework,
        offer: &v0::Offer,
        task_id: &str,
        resources: &str,
    ) -> internal::RunTaskMessage {
        let effects = self.accept(
            framework,
            &[&offer.id],
            vec![task(task_id, offer, resources)],
            None,
        );
        let mut runs = effects.messages::<internal::RunTaskMessage>();
        assert_eq!(runs.len(), 1, "one RunTaskMessage: {effects:?}");
        runs.remove(0).1
    }

    /// The agent sends a status update for a task.
    fn update(
        &mut self,
        agent: &TestAgent,
        framework: &TestFramework,
        task_id: &str,
        state: TaskState,
        uuid: Option<Bytes>,
    ) -> Effects {
        let message = status_update_message(agent, framework, task_id, state, uuid);
        self.receive(&agent.pid, &message);
        self.effects()
    }

    fn acknowledge(
        &mut self,
        framework: &TestFramework,
        agent: &TestAgent,
        task_id: &str,
        uuid: Bytes,
    ) -> Effects {
        let call = scheduler::Call {
            r#type: Some(call::Type::Acknowledge as i32),
            acknowledge: Some(call::Acknowledge {
                slave_id: agent.id.to_v0(),
                task_id: TaskId::new(task_id).to_v0(),
                uuid,
            }),
            ..Default::default()
        };
        self.call(framework, call).unwrap();
        self.effects()
    }

    fn reconcile(
        &mut self,
        framework: &TestFramework,
        tasks: Vec<(&str, Option<&AgentId>)>,
    ) -> Vec<v0::TaskStatus> {
        let call = scheduler::Call {
            r#type: Some(call::Type::Reconcile as i32),
            reconcile: Some(call::Reconcile {
                tasks: tasks
                    .into_iter()
                    .map(|(task_id, agent)| call::reconcile::Task {
                        task_id: TaskId::new(task_id).to_v0(),
                        slave_id: agent.map(AgentId::to_v0),
                    })
                    .collect(),
            }),
            ..Default::default()
        };
        self.call(framework, call).unwrap();
        self.effects().updates(&framework.link)
    }

    /// Runs a task through STAGING to RUNNING on a fresh offer.
    fn running_task(
        &mut self,
        framework: &TestFramework,
        agent: &TestAgent,
        task_id: &str,
        resources: &str,
    ) {
        let offer = self
            .offers(framework)
            .into_iter()
            .find(|o| AgentId::from(&o.slave_id) == agent.id)
            .expect("an offer on the agent");
        self.launch(framework, &offer, task_id, resources);
        let uuid = uuid(task_id, 1);
        self.update(
            agent,
            framework,
            task_id,
            TaskState::TaskRunning,
            Some(uuid.clone()),
        );
        self.acknowledge(framework, agent, task_id, uuid);
    }
}

fn register_message(hostname: &str, resources: &str) -> internal::RegisterSlaveMessage {
    internal::RegisterSlaveMessage {
        slave: v0::SlaveInfo {
            hostname: hostname.into(),
            port: Some(5051),
            resources: res(resources).to_wire(),
            ..Default::default()
        },
        version: Some(VERSION.into()),
        ..Default::default()
    }
}

fn framework_info(name: &str) -> v0::FrameworkInfo {
    v0::FrameworkInfo {
        user: "root".into(),
        name: name.into(),
        failover_timeout: Some(60.0),
        ..Default::default()
    }
}

fn checkpointing(mut info: v0::FrameworkInfo) -> v0::FrameworkInfo {
    info.checkpoint = Some(true);
    info
}

fn with_capability(mut info: v0::FrameworkInfo, capability: Capability) -> v0::FrameworkInfo {
    info.capabilities.push(v0::framework_info::Capability {
        r#type: Some(capability as i32),
    });
    info
}

fn partition_aware(name: &str) -> v0::FrameworkInfo {
    with_capability(framework_info(name), Capability::PartitionAware)
}

/// A command task on `offer`'s agent.
fn task(id: &str, offer: &v0::Offer, resources: &str) -> v0::TaskInfo {
    v0::TaskInfo {
        name: id.into(),
        task_id: TaskId::new(id).to_v0(),
        slave_id: offer.slave_id.clone(),
        resources: res(resources).to_wire(),
        command: Some(v0::CommandInfo {
            value: Some("sleep 1000".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn accept_call(
    offer_ids: Vec<v0::OfferId>,
    tasks: Vec<v0::TaskInfo>,
    filters: Option<v0::Filters>,
) -> scheduler::Call {
    scheduler::Call {
        r#type: Some(call::Type::Accept as i32),
        accept: Some(call::Accept {
            offer_ids,
            operations: vec![v0::offer::Operation {
                r#type: Some(v0::offer::operation::Type::Launch as i32),
                launch: Some(v0::offer::operation::Launch { task_infos: tasks }),
                ..Default::default()
            }],
            filters,
        }),
        ..Default::default()
    }
}

fn decline_call(offer_ids: Vec<v0::OfferId>, refuse_seconds: Option<f64>) -> scheduler::Call {
    scheduler::Call {
        r#type: Some(call::Type::Decline as i32),
        decline: Some(call::Decline {
            offer_ids,
            filters: refuse_seconds.map(|s| v0::Filters {
                refuse_seconds: Some(s),
            }),
        }),
        ..Default::default()
    }
}

fn simple_call(kind: call::Type) -> scheduler::Call {
    scheduler::Call {
        r#type: Some(kind as i32),
        ..Default::default()
    }
}

fn kill_call(task_id: &str, agent: Option<&AgentId>) -> scheduler::Call {
    scheduler::Call {
        r#type: Some(call::Type::Kill as i32),
        kill: Some(call::Kill {
            task_id: TaskId::new(task_id).to_v0(),
            slave_id: agent.map(AgentId::to_v0),
            kill_policy: None,
        }),
        ..Default::default()
    }
}

/// A 16-byte uuid, distinct per task and sequence number.
fn uuid(task_id: &str, seq: u8) -> Bytes {
    let mut bytes = [seq; 16];
    for (i, b) in task_id.bytes().take(15).enumerate() {
        bytes[i] = b;
    }
    Bytes::copy_from_slice(&bytes)
}

fn status_update_message(
    agent: &TestAgent,
    framework: &TestFramework,
    task_id: &str,
    state: TaskState,
    uuid: Option<Bytes>,
) -> internal::StatusUpdateMessage {
    internal::StatusUpdateMessage {
        update: internal::StatusUpdate {
            framework_id: framework.id.to_v0(),
            executor_id: None,
            slave_id: Some(agent.id.to_v0()),
            status: v0::TaskStatus {
                task_id: TaskId::new(task_id).to_v0(),
                state: state as i32,
                source: Some(v0::task_status::Source::Executor as i32),
                slave_id: Some(agent.id.to_v0()),
                uuid: uuid.clone(),
                ..Default::default()
            },
            timestamp: UNIX_START,
            uuid,
            latest_state: None,
        },
        pid: Some(agent.pid.to_string()),
    }
}

fn offered(offer: &v0::Offer) -> Resources {
    Resources::from_wire(&offer.resources).unwrap()
}

fn state(status: &v0::TaskStatus) -> TaskState {
    TaskState::try_from(status.state).unwrap()
}

fn reason(status: &v0::TaskStatus) -> Option<Reason> {
    status.reason.map(|r| Reason::try_from(r).unwrap())
}

// --- Agents ---------------------------------------------------------------

#[test]
fn agent_registration_assigns_an_id_and_a_retry_gets_the_same() {
    let mut h = Harness::new();
    let pid = Upid::new("slave(1)", SocketAddr::from(([10, 0, 1, 1], 5051)));
    h.receive(&pid, &register_message("agent1.example", "cpus:4;mem:4096"));
    let effects = h.effects();
    let replies = effects.messages_to::<internal::SlaveRegisteredMessage>(&pid);
    assert_eq!(replies.len(), 1);
    let id = AgentId::from(&replies[0].slave_id);
    assert!(!id.as_str().is_empty());
    assert_eq!(
        replies[0]
            .connection
            .as_ref()
            .unwrap()
            .total_ping_timeout_seconds,
        Some(75.0)
    );
    assert!(
        effects
            .0
            .iter()
            .any(|e| matches!(e, Effect::Link { to } if to == &pid))
    );

    h.receive(&pid, &register_message("agent1.example", "cpus:4;mem:4096"));
    let retry = h.effects();
    let replies = retry.messages_to::<internal::SlaveRegisteredMessage>(&pid);
    assert_eq!(replies.len(), 1);
    assert_eq!(AgentId::from(&replies[0].slave_id), id);
    assert_eq!(h.master.agents().count(), 1);

    // Another agent gets another id.
    let other = h.register_agent("cpus:1;mem:512");
    assert_ne!(other.id, id);
    assert_eq!(h.master.agents().count(), 2);
}

#[test]
fn malformed_agent_messages_are_counted_and_change_nothing() {
    let mut h = Harness::new();
    let agent = h.register_agent("cpus:4;mem:4096");
    let pid = Upid::new("slave(1)", SocketAddr::from(([10, 0, 0, 99], 5051)));
    let now = h.now();
    // Not protobuf at all.
    h.master.receive(
        &pid,
        "mesos.internal.RegisterSlaveMessage",
        &[0xff, 0xff],
        now,
    );
    // Valid protobuf, but the required `slave` is missing.
    h.master
        .receive(&pid, "mesos.internal.RegisterSlaveMessage", &[], now);
    h.master.receive(
        &agent.pid,
        "mesos.internal.StatusUpdateMessage",
        &[0xff],
        now,
    );
    h.master
        .receive(&agent.pid, "mesos.internal.StatusUpdateMessage", &[], now);
    h.master
        .receive(&agent.pid, "mesos.internal.NoSuchMessage", &[], now);
    assert_eq!(h.master.metrics().invalid_messages, 5);
    assert_eq!(h.master.agents().count(), 1);
    let effects = h.effects();
    assert!(effects.0.is_empty(), "{effects:?}");
}

// --- Subscription and offers -----------------------------------------------

#[test]
fn subscribed_framework_gets_offers_with_the_agents_resources() {
    let mut h = Harness::new();
    let agent = h.register_agent("cpus:4;mem:4096;ports:[31000-32000]");
    let link = h.next_link();
    let id = h.subscribe_on(framework_info("fw"), &link).unwrap();
    let effects = h.effects();
    let subscribed = effects.events_of(&link, event::Type::Subscribed);
    assert_eq!(subscribed.len(), 1);
    let subscribed = subscribed[0].subscribed.clone().unwrap();
    assert_eq!(FrameworkId::from(&subscribed.framework_id), id);
    assert_eq!(subscribed.heartbeat_interval_seconds, Some(15.0));
    let info = subscribed.master_info.unwrap();
    assert_eq!(info.id, "M");
    assert_eq!(info.port, 5050);
    assert_eq!(info.ip, 16777343);
    assert_eq!(info.version.as_deref(), Some(VERSION));
    assert_eq!(h.master.framework(&id).unwrap().info.id, Some(id.to_v0()));

    let framework = TestFramework {
        id: id.clone(),
        link,
    };
    let offer = h.offer(&framework);
    assert_eq!(FrameworkId::from(&offer.framework_id), id);
    assert_eq!(AgentId::from(&offer.slave_id), agent.id);
    assert_eq!(offer.hostname, "agent1.example");
    assert_eq!(offered(&offer), res("cpus:4;mem:4096;ports:[31000-32000]"));
    let url = offer.url.unwrap();
    assert_eq!(url.scheme, "http");
    assert_eq!(url.address.ip.as_deref(), Some("10.0.0.1"));
    assert_eq!(url.address.port, 5051);
    assert_eq!(url.address.hostname.as_deref(), Some("agent1.example"));
    assert_eq!(url.path.as_deref(), Some("/slave(1)"));
    assert_eq!(h.master.offers().count(), 1);
    assert_eq!(h.master.metrics().offers_sent, 1);

    // Offered resources are not offered again while outstanding.
    assert!(h.advance(secs(3)).offers(&framework.link).is_empty());
}

#[test]
fn multi_role_offers_carry_allocation_info() {
    let mut h = Harness::new();
    h.register_agent("cpus:4;mem:4096");
    let mut info = with_capability(framework_info("fw"), Capability::MultiRole);
    info.roles = vec!["web".into()];
    let framework = h.subscribe(info);
    let offer = h.offer(&framework);
    assert_eq!(
        offer
            .allocation_info
            .as_ref()
            .and_then(|a| a.role.as_deref()),
        Some("web")
    );
    assert!(
        offer
            .resources
            .iter()
            .all(|r| { r.allocation_info.as_ref().and_then(|a| a.role.as_deref()) == Some("web") })
    );
}

// --- Launching tasks -------------------------------------------------------

#[test]
fn launched_task_runs_finishes_and_its_resources_come_back() {
    let mut h = Harness::new();
    let agent = h.register_agent("cpus:4;mem:4096");
    let mut info = framework_info("fw");
    #[allow(deprecated)]
    {
        info.role = Some("web".into());
    }
    let framework = h.subscribe(info);
    let offer = h.offer(&framework);
    assert_eq!(offered(&offer), res("cpus:4;mem:4096"));

    let run = h.launch(&framework, &offer, "t1", "cpus:1;mem:128");
    assert_eq!(TaskId::from(&run.task.task_id), TaskId::new("t1"));
    assert_eq!(
        FrameworkId::from(&run.framework.id.clone().unwrap()),
        framework.id
    );
    assert!(
        run.task
            .resources
            .iter()
            .all(|r| { r.allocation_info.as_ref().and_then(|a| a.role.as_deref()) == Some("web") })
    );
    assert_eq!(
        Resources::from_wire(&run.task.resources).unwrap(),
        res("cpus:1;mem:128").tap_allocate("web")
    );
    assert_eq!(h.master.offers().count(), 0);
    let tasks = &h.master.framework(&framework.id).unwrap().tasks;
    assert_eq!(tasks.len(), 1);
    assert_eq!(
        tasks[&TaskId::new("t1")].task.state,
        TaskState::TaskStaging as i32
    );

    // The rest comes back after the accept's default 5 s filter.
    assert!(h.advance(secs(4)).offers(&framework.link).is_empty());
    let rest = h.advance(secs(2)).offers(&framework.link);
    assert_eq!(rest.len(), 1);
    assert_eq!(offered(&rest[0]), res("cpus:3;mem:3968"));
    h.call(
        &framework,
        decline_call(vec![rest[0].id.clone()], Some(1000.0)),
    )
    .unwrap();

    // RUNNING, forwarded with its uuid, acknowledged to the agent.
    let running = uuid("t1", 1);
    let effects = h.update(
        &agent,
        &framework,
        "t1",
        TaskState::TaskRunning,
        Some(running.clone()),
    );
    let updates = effects.updates(&framework.link);
    assert_eq!(updates.len(), 1);
    assert_eq!(state(&updates[0]), TaskState::TaskRunning);
    assert_eq!(updates[0].uuid.as_ref(), Some(&running));
    assert_eq!(
        AgentId::from(updates[0].slave_id.as_ref().unwrap()),
        agent.id
    );
    let effects = h.acknowledge(&framework, &agent, "t1", running.clone());
    let acks = effects.messages_to::<internal::StatusUpdateAcknowledgementMessage>(&agent.pid);
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0].uuid, running);
    assert_eq!(TaskId::from(&acks[0].task_id), TaskId::new("t1"));
    assert_eq!(FrameworkId::from(&acks[0].framework_id), framework.id);
    assert_eq!(
        h.master.framework(&framework.id).unwrap().tasks[&TaskId::new("t1")]
            .task
            .state,
        TaskState::TaskRunning as i32
    );

    // FINISHED: the resources come back at once (and, being more than the
    // declined rest, pass its filter), the task stays until the update is
    // acknowledged.
    let finished = uuid("t1", 2);
    let effects = h.update(
        &agent,
        &framework,
        "t1",
        TaskState::TaskFinished,
        Some(finished.clone()),
    );
    assert_eq!(effects.updates(&framework.link).len(), 1);
    assert!(
        h.master
            .framework(&framework.id)
            .unwrap()
            .tasks
            .contains_key(&TaskId::new("t1"))
    );
    assert!(h.master.framework(&framework.id).unwrap().used().is_empty());
    let offers = h.offers(&framework);
    assert_eq!(offers.len(), 1);
    assert_eq!(offered(&offers[0]), res("cpus:4;mem:4096"));

    h.acknowledge(&framework, &agent, "t1", finished);
    let framework_state = h.master.framework(&framework.id).unwrap();
    assert!(framework_state.tasks.is_empty());
    assert_eq!(framework_state.completed_tasks.len(), 1);
    assert_eq!(
        framework_state.completed_tasks[0].state,
        TaskState::TaskFinished as i32
    );
    assert_eq!(h.master.metrics().tasks_terminal["TASK_FINISHED"], 1);
    let agent_state = h.master.agents().next().unwrap();
    assert!(agent_state.tasks.is_empty());
}

/// `Resources::allocate` as an expression.
trait TapAllocate {
    fn tap_allocate(self, role: &str) -> Self;
}

impl TapAllocate for Resources {
    fn tap_allocate(mut self, role: &str) -> Self {
        self.allocate(role);
        self
    }
}

#[test]
fn a_terminal_update_without_uuid_ends_the_task() {
    let mut h = Harness::new();
    let agent = h.register_agent("cpus:4;mem:4096");
    let framework = h.subscribe(framework_info("fw"));
    h.running_task(&framework, &agent, "t1", "cpus:1;mem:128");
    h.update(&agent, &framework, "t1", TaskState::TaskFailed, None);
    let state = h.master.framework(&framework.id).unwrap();
    assert!(state.tasks.is_empty());
    assert_eq!(state.completed_tasks.len(), 1);
}

#[test]
fn an_older_update_does_not_revive_a_terminal_task() {
    let mut h = Harness::new();
    let agent = h.register_agent("cpus:4;mem:4096");
    let framework = h.subscribe(framework_info("fw"));
    h.running_task(&framework, &agent, "t1", "cpus:1;mem:128");
    h.update(
        &agent,
        &framework,
        "t1",
        TaskState::TaskKilled,
        Some(uuid("t1", 2)),
    );
    h.update(
        &agent,
        &framework,
        "t1",
        TaskState::TaskRunning,
        Some(uuid("t1", 3)),
    );
    let entry = &h.master.framework(&framework.id).unwrap().tasks[&TaskId::new("t1")];
    assert_eq!(entry.task.state, TaskState::TaskKilled as i32);
}

#[test]
fn status_updates_from_a_stranger_are_ignored() {
    let mut h = Harness::new();
    let agent = h.register_agent("cpus:4;mem:4096");
    let framework = h.subscribe(framework_info("fw"));
    h.running_task(&framework, &agent, "t1", "cpus:1;mem:128");
    let stranger = TestAgent {
        pid: Upid::new("slave(1)", SocketAddr::from(([10, 9, 9, 9], 5051))),
        id: agent.id.clone(),
    };
    let effects = h.update(
        &stranger,
        &framework,
        "t1",
        TaskState::TaskFinished,
        Some(uuid("t1", 2)),
    );
    assert!(effects.updates(&framework.link).is_empty());
    let entry = &h.master.framework(&framework.id).unwrap().tasks[&TaskId::new("t1")];
    assert_eq!(entry.task.state, TaskState::TaskRunning as i32);
}

// --- Invalid launches ------------------------------------------------------

#[test]
fn launch_on_an_unknown_offer_is_lost() {
    let mut h = Harness::new();
    h.register_agent("cpus:4;mem:4096");
    let framework = h.subscribe(framework_info("fw"));
    let offer = h.offer(&framework);
    let mut bogus = offer.clone();
    bogus.id = OfferId::new("no-such-offer").to_v0();
    let effects = h.accept(
        &framework,
        &[&bogus.id],
        vec![task("t1", &offer, "cpus:1")],
        None,
    );
    assert!(effects.messages::<internal::RunTaskMessage>().is_empty());
    let updates = effects.updates(&framework.link);
    assert_eq!(updates.len(), 1);
    assert_eq!(state(&updates[0]), TaskState::TaskLost);
    assert_eq!(reason(&updates[0]), Some(Reason::InvalidOffers));
    assert_eq!(
        updates[0].message.as_deref(),
        Some("Task launched with invalid offers: Offer no-such-offer is no longer valid")
    );
    assert_eq!(updates[0].uuid, None);
    assert_eq!(
        updates[0].source,
        Some(v0::task_status::Source::Master as i32)
    );
    assert!(h.master.framework(&framework.id).unwrap().tasks.is_empty());
    // The real offer is untouched.
    assert_eq!(h.master.offers().count(), 1);
}

#[test]
fn launch_on_an_unknown_offer_is_dropped_for_partition_aware_frameworks() {
    let mut h = Harness::new();
    h.register_agent("cpus:4;mem:4096");
    let framework = h.subscribe(partition_aware("fw"));
    let offer = h.offer(&framework);
    let bogus = OfferId::new("gone").to_v0();
    let effects = h.accept(
        &framework,
        &[&bogus],
        vec![task("t1", &offer, "cpus:1")],
        None,
    );
    let updates = effects.updates(&framework.link);
    assert_eq!(updates.len(), 1);
    assert_eq!(state(&updates[0]), TaskState::TaskDropped);
    assert_eq!(reason(&updates[0]), Some(Reason::InvalidOffers));
    assert_eq!(
        updates[0].message.as_deref(),
        Some("Task launched with invalid offers: Offer gone is no longer valid")
    );
}

#[test]
fn launch_on_another_frameworks_offer_is_lost() {
    let mut h = Harness::new();
    h.register_agent("cpus:4;mem:4096");
    let a = h.subscribe(framework_info("a"));
    let b = h.subscribe(framework_info("b"));
    let effects = h.allocate();
    let (owner, thief) = if effects.offers(&a.link).is_empty() {
        (b, a)
    } else {
        (a, b)
    };
    let offer = effects.offers(&owner.link).remove(0);
    let effects = h.accept(
        &thief,
        &[&offer.id],
        vec![task("t1", &offer, "cpus:1")],
        None,
    );
    assert!(effects.messages::<internal::RunTaskMessage>().is_empty());
    let updates = effects.updates(&thief.link);
    assert_eq!(updates.len(), 1);
    assert_eq!(state(&updates[0]), TaskState::TaskLost);
    assert_eq!(reason(&updates[0]), Some(Reason::InvalidOffers));
    let message = updates[0].message.clone().unwrap();
    assert!(
        message.starts_with("Task launched with invalid offers: Offer ")
            && message.contains("has invalid framework"),
        "{message}"
    );
    // The owner's offer stays valid and usable.
    assert_eq!(h.master.offers().count(), 1);
    h.launch(&owner, &offer, "t1", "cpus:1");
}

#[test]
fn duplicate_task_ids_are_refused() {
    let mut h = Harness::new();
    let agent = h.register_agent("cpus:4;mem:4096");
    let framework = h.subscribe(framework_info("fw"));
    h.running_task(&framework, &agent, "t1", "cpus:1;mem:128");
    let offer = h.offer_after(&framework, secs(6));
    let effects = h.accept(
        &framework,
        &[&offer.id],
        vec![task("t1", &offer, "cpus:1")],
        None,
    );
    assert!(effects.messages::<internal::RunTaskMessage>().is_empty());
    let updates = effects.updates(&framework.link);
    assert_eq!(updates.len(), 1);
    assert_eq!(state(&updates[0]), TaskState::TaskError);
    assert_eq!(reason(&updates[0]), Some(Reason::TaskInvalid));
    assert_eq!(
        updates[0].message.as_deref(),
        Some("Task has duplicate ID: t1")
    );
    // Two tasks with one id in the same call: the second is refused.
    let offer = h.offer_after(&framework, secs(6));
    let effects = h.accept(
        &framework,
        &[&offer.id],
        vec![task("t2", &offer, "cpus:1"), task("t2", &offer, "cpus:1")],
        None,
    );
    assert_eq!(effects.messages::<internal::RunTaskMessage>().len(), 1);
    let updates = effects.updates(&framework.link);
    assert_eq!(updates.len(), 1);
    assert_eq!(
        updates[0].message.as_deref(),
        Some("Task has duplicate ID: t2")
    );
}

#[test]
fn tasks_beyond_the_offer_are_refused() {
    let mut h = Harness::new();
    h.register_agent("cpus:4;mem:4096");
    let framework = h.subscribe(framework_info("fw"));
    let offer = h.offer(&framework);
    let effects = h.accept(
        &framework,
        &[&offer.id],
        vec![
            task("big", &offer, "cpus:5;mem:128"),
            task("a", &offer, "cpus:3"),
            task("b", &offer, "cpus:2"),
        ],
        None,
    );
    let runs = effects.messages::<internal::RunTaskMessage>();
    assert_eq!(runs.len(), 1);
    assert_eq!(TaskId::from(&runs[0].1.task.task_id), TaskId::new("a"));
    let updates = effects.updates(&framework.link);
    assert_eq!(updates.len(), 2);
    for status in &updates {
        assert_eq!(state(status), TaskState::TaskError);
        assert_eq!(reason(status), Some(Reason::TaskInvalid));
        assert!(
            status
                .message
                .as_ref()
                .unwrap()
                .contains("is more than available"),
            "{status:?}"
        );
    }
    assert_eq!(
        updates
            .iter()
            .map(|s| TaskId::from(&s.task_id))
            .collect::<Vec<_>>(),
        vec![TaskId::new("big"), TaskId::new("b")]
    );
}

#[test]
fn tasks_need_a_command_or_an_executor() {
    let mut h = Harness::new();
    h.register_agent("cpus:4;mem:4096");
    let framework = h.subscribe(framework_info("fw"));
    let offer = h.offer(&framework);
    let mut bare = task("bare", &offer, "cpus:1");
    bare.command = None;
    let effects = h.accept(&framework, &[&offer.id], vec![bare], None);
    assert!(effects.messages::<internal::RunTaskMessage>().is_empty());
    let updates = effects.updates(&framework.link);
    assert_eq!(updates.len(), 1);
    assert_eq!(state(&updates[0]), TaskState::TaskError);
    assert_eq!(reason(&updates[0]), Some(Reason::TaskInvalid));
    assert_eq!(
        updates[0].message.as_deref(),
        Some("Task should have at least one (but not both) of CommandInfo or ExecutorInfo present")
    );
}

#[test]
fn a_used_offer_cannot_be_used_again() {
    let mut h = Harness::new();
    h.register_agent("cpus:4;mem:4096");
    let framework = h.subscribe(framework_info("fw"));
    let offer = h.offer(&framework);
    h.launch(&framework, &offer, "t1", "cpus:1");
    let effects = h.accept(
        &framework,
        &[&offer.id],
        vec![task("t2", &offer, "cpus:1")],
        None,
    );
    assert!(effects.messages::<internal::RunTaskMessage>().is_empty());
    let updates = effects.updates(&framework.link);
    assert_eq!(updates.len(), 1);
    assert_eq!(state(&updates[0]), TaskState::TaskLost);
    assert!(
        updates[0]
            .message
            .as_ref()
            .unwrap()
            .ends_with("is no longer valid")
    );

    // A declined offer is gone too.
    let offer = h.offer_after(&framework, secs(6));
    h.call(&framework, decline_call(vec![offer.id.clone()], None))
        .unwrap();
    let effects = h.accept(
        &framework,
        &[&offer.id],
        vec![task("t3", &offer, "cpus:1")],
        None,
    );
    assert!(effects.messages::<internal::RunTaskMessage>().is_empty());
    assert_eq!(
        state(&effects.updates(&framework.link)[0]),
        TaskState::TaskLost
    );
}

// --- Decline, suppress, revive ---------------------------------------------

#[test]
fn declined_offers_are_filtered_for_refuse_seconds() {
    let mut h = Harness::new();
    h.register_agent("cpus:4;mem:4096");
    let framework = h.subscribe(framework_info("fw"));
    let offer = h.offer(&framework);
    h.call(&framework, decline_call(vec![offer.id.clone()], Some(30.0)))
        .unwrap();
    assert_eq!(h.master.metrics().offers_declined, 1);
    assert_eq!(h.master.offers().count(), 0);
    assert!(h.advance(secs(29)).offers(&framework.link).is_empty());
    let offers = h.advance(secs(2)).offers(&framework.link);
    assert_eq!(offers.len(), 1);
    assert_eq!(offered(&offers[0]), res("cpus:4;mem:4096"));
}

#[test]
fn declines_filter_for_five_seconds_by_default() {
    let mut h = Harness::new();
    h.register_agent("cpus:4;mem:4096");
    let framework = h.subscribe(framework_info("fw"));
    let offer = h.offer(&framework);
    h.call(&framework, decline_call(vec![offer.id.clone()], None))
        .unwrap();
    assert!(
        h.advance(Duration::from_millis(4900))
            .offers(&framework.link)
            .is_empty()
    );
    assert_eq!(
        h.advance(Duration::from_millis(1200))
            .offers(&framework.link)
            .len(),
        1
    );
}

#[test]
fn a_declined_agent_goes_to_another_framework() {
    let mut h = Harness::new();
    h.register_agent("cpus:4;mem:4096");
    let a = h.subscribe(framework_info("a"));
    let b = h.subscribe(framework_info("b"));
    let effects = h.allocate();
    let (first, second) = if effects.offers(&a.link).is_empty() {
        (b, a)
    } else {
        (a, b)
    };
    let offer = effects.offers(&first.link).remove(0);
    h.call(&first, decline_call(vec![offer.id.clone()], Some(60.0)))
        .unwrap();
    let effects = h.advance(secs(2));
    assert!(effects.offers(&first.link).is_empty());
    assert_eq!(effects.offers(&second.link).len(), 1);
}

#[test]
fn suppress_stops_offers_and_revive_restores_them() {
    let mut h = Harness::new();
    h.register_agent("cpus:4;mem:4096");
    let framework = h.subscribe(framework_info("fw"));
    h.call(&framework, simple_call(call::Type::Suppress))
        .unwrap();
    assert!(h.advance(secs(10)).offers(&framework.link).is_empty());
    assert_eq!(
        h.master.framework(&framework.id).unwrap().suppressed_roles,
        ["*".to_string()].into()
    );
    h.call(&framework, simple_call(call::Type::Revive)).unwrap();
    assert!(h.master.allocation_pending());
    assert_eq!(
        h.advance(HOUSEKEEPING_INTERVAL)
            .offers(&framework.link)
            .len(),
        1
    );
}

#[test]
fn revive_clears_decline_filters() {
    let mut h = Harness::new();
    h.register_agent("cpus:4;mem:4096");
    let framework = h.subscribe(framework_info("fw"));
    let offer = h.offer(&framework);
    h.call(
        &framework,
        decline_call(vec![offer.id.clone()], Some(3600.0)),
    )
    .unwrap();
    assert!(h.advance(secs(5)).offers(&framework.link).is_empty());
    h.call(&framework, simple_call(call::Type::Revive)).unwrap();
    assert_eq!(
        h.advance(HOUSEKEEPING_INTERVAL)
            .offers(&framework.link)
            .len(),
        1
    );
}

// --- Kill ------------------------------------------------------------------

#[test]
fn kill_asks_the_agent() {
    let mut h = Harness::new();
    let agent = h.register_agent("cpus:4;mem:4096");
    let framework = h.subscribe(framework_info("fw"));
    h.running_task(&framework, &agent, "t1", "cpus:1;mem:128");
    h.call(&framework, kill_call("t1", None)).unwrap();
    let effects = h.effects();
    let kills = effects.messages_to::<internal::KillTaskMessage>(&agent.pid);
    assert_eq!(kills.len(), 1);
    assert_eq!(TaskId::from(&kills[0].task_id), TaskId::new("t1"));
    assert_eq!(FrameworkId::from(&kills[0].framework_id), framework.id);
    assert!(effects.updates(&framework.link).is_empty());
}

#[test]
fn kill_of_an_unknown_task_is_answered_by_reconciliation() {
    let mut h = Harness::new();
    let agent = h.register_agent("cpus:4;mem:4096");
    let framework = h.subscribe(framework_info("fw"));
    h.call(&framework, kill_call("nope", Some(&agent.id)))
        .unwrap();
    let effects = h.effects();
    assert!(effects.messages::<internal::KillTaskMessage>().is_empty());
    let updates = effects.updates(&framework.link);
    assert_eq!(updates.len(), 1);
    assert_eq!(state(&updates[0]), TaskState::TaskLost);
    assert_eq!(reason(&updates[0]), Some(Reason::Reconciliation));
    assert_eq!(
        updates[0].message.as_deref(),
        Some("Reconciliation: Task is unknown to the agent")
    );
    assert_eq!(updates[0].uuid, None);
}

// --- Reconciliation --------------------------------------------------------

#[test]
fn explicit_reconciliation() {
    let mut h = Harness::new();
    let agent = h.register_agent("cpus:4;mem:4096");
    let framework = h.subscribe(framework_info("fw"));
    h.running_task(&framework, &agent, "t1", "cpus:1;mem:128");
    let unknown_agent = AgentId::new("no-such-agent");
    let statuses = h.reconcile(
        &framework,
        vec![
            ("t1", None),
            ("t2", Some(&agent.id)),
            ("t3", Some(&unknown_agent)),
            ("t4", None),
        ],
    );
    assert_eq!(statuses.len(), 4);
    let expected = [
        (
            "t1",
            TaskState::TaskRunning,
            "Reconciliation: Latest task state",
        ),
        (
            "t2",
            TaskState::TaskLost,
            "Reconciliation: Task is unknown to the agent",
        ),
        ("t3", TaskState::TaskLost, "Reconciliation: Task is unknown"),
        ("t4", TaskState::TaskLost, "Reconciliation: Task is unknown"),
    ];
    for (status, (task_id, task_state, message)) in statuses.iter().zip(expected) {
        assert_eq!(TaskId::from(&status.task_id), TaskId::new(task_id));
        assert_eq!(state(status), task_state, "{task_id}");
        assert_eq!(status.message.as_deref(), Some(message), "{task_id}");
        assert_eq!(reason(status), Some(Reason::Reconciliation));
        assert_eq!(status.source, Some(v0::task_status::Source::Master as i32));
        assert_eq!(status.uuid, None, "{task_id}");
    }
    assert_eq!(
        AgentId::from(statuses[0].slave_id.as_ref().unwrap()),
        agent.id
    );
}

#[test]
fn explicit_reconciliation_for_partition_aware_frameworks() {
    let mut h = Harness::new();
    let agent = h.register_agent("cpus:4;mem:4096");
    let framework = h.subscribe(partition_aware("fw"));
    let unknown_agent = AgentId::new("no-such-agent");
    let statuses = h.reconcile(
        &framework,
        vec![
            ("t2", Some(&agent.id)),
            ("t3", Some(&unknown_agent)),
            ("t4", None),
        ],
    );
    let states: Vec<TaskState> = statuses.iter().map(state).collect();
    assert_eq!(
        states,
        vec![
            TaskState::TaskGone,
            TaskState::TaskUnknown,
            TaskState::TaskUnknown
        ]
    );
    assert!(statuses.iter().all(|s| s.uuid.is_none()));
}

#[test]
fn implicit_reconciliation_reports_every_task() {
    let mut h = Harness::new();
    let agent = h.register_agent("cpus:4;mem:4096");
    let framework = h.subscribe(framework_info("fw"));
    h.running_task(&framework, &agent, "t1", "cpus:1;mem:128");
    let offer = h.offer_after(&framework, secs(6));
    h.launch(&framework, &offer, "t2", "cpus:1;mem:128");
    let mut statuses = h.reconcile(&framework, vec![]);
    statuses.sort_by(|a, b| a.task_id.value.cmp(&b.task_id.value));
    assert_eq!(statuses.len(), 2);
    assert_eq!(state(&statuses[0]), TaskState::TaskRunning);
    assert_eq!(state(&statuses[1]), TaskState::TaskStaging);
    for status in &statuses {
        assert_eq!(
            status.message.as_deref(),
            Some("Reconciliation: Latest task state")
        );
        assert_eq!(reason(status), Some(Reason::Reconciliation));
        assert_eq!(status.uuid, None);
    }
}

#[test]
fn reconciliation_reports_the_state_last_sent_to_the_framework() {
    // The agent knows the task finished but the RUNNING update is still
    // unacknowledged: the framework has only been told RUNNING.
    let mut h = Harness::new();
    let agent = h.register_agent("cpus:4;mem:4096");
    let framework = h.subscribe(framework_info("fw"));
    let offer = h.offer(&framework);
    h.launch(&framework, &offer, "t1", "cpus:1;mem:128");
    let mut message = status_update_message(
        &agent,
        &framework,
        "t1",
        TaskState::TaskRunning,
        Some(uuid("t1", 1)),
    );
    message.update.latest_state = Some(TaskState::TaskFinished as i32);
    h.receive(&agent.pid, &message);
    h.effects();
    let statuses = h.reconcile(&framework, vec![("t1", None)]);
    assert_eq!(state(&statuses[0]), TaskState::TaskRunning);
    let statuses = h.reconcile(&framework, vec![]);
    assert_eq!(state(&statuses[0]), TaskState::TaskRunning);
}

// --- Failover, disconnection, teardown -------------------------------------

#[test]
fn a_disconnected_framework_fails_over_within_its_timeout() {
    let mut h = Harness::new();
    let agent = h.register_agent("cpus:4;mem:4096");
    let framework = h.subscribe(framework_info("fw"));
    h.running_task(&framework, &agent, "t1", "cpus:1;mem:128");
    let offer = h.offer_after(&framework, secs(6));
    let now = h.now();
    h.master.framework_disconnected(&framework.link, now);
    let effects = h.effects();
    assert!(
        effects.events(&framework.link).is_empty(),
        "no events to a gone stream"
    );
    assert_eq!(h.master.offers().count(), 0, "offers rescinded");
    let state = h.master.framework(&framework.id).unwrap();
    assert!(!state.active);
    assert!(state.link.is_none());
    // Not subscribed, so calls are refused.
    assert_eq!(
        h.call(&framework, simple_call(call::Type::Revive)),
        Err(CallError::NotSubscribed)
    );
    // No offers while away.
    assert!(h.advance(secs(30)).offers(&framework.link).is_empty());

    let mut info = framework_info("fw");
    info.id = Some(framework.id.to_v0());
    let link = h.next_link();
    assert_eq!(h.subscribe_on(info, &link), Ok(framework.id.clone()));
    let effects = h.effects();
    let subscribed = effects.events_of(&link, event::Type::Subscribed);
    assert_eq!(subscribed.len(), 1);
    assert_eq!(
        FrameworkId::from(&subscribed[0].subscribed.clone().unwrap().framework_id),
        framework.id
    );
    // Agents running its tasks learn where it is now.
    assert_eq!(
        effects
            .messages_to::<internal::UpdateFrameworkMessage>(&agent.pid)
            .len(),
        1
    );
    let state = h.master.framework(&framework.id).unwrap();
    assert!(state.active);
    assert!(state.tasks.contains_key(&TaskId::new("t1")));
    let resubscribed = TestFramework {
        id: framework.id.clone(),
        link,
    };
    let offers = h.offers(&resubscribed);
    assert_eq!(offers.len(), 1);
    assert_eq!(offered(&offers[0]), res("cpus:3;mem:3968"));
    assert_ne!(offers[0].id, offer.id);
}

#[test]
fn a_new_instance_takes_over_from_a_connected_one() {
    let mut h = Harness::new();
    let agent = h.register_agent("cpus:4;mem:4096");
    let framework = h.subscribe(framework_info("fw"));
    h.running_task(&framework, &agent, "t1", "cpus:1;mem:128");
    let offer = h.offer_after(&framework, secs(6));

    let mut info = framework_info("fw");
    info.id = Some(framework.id.to_v0());
    let link = h.next_link();
    assert_eq!(h.subscribe_on(info, &link), Ok(framework.id.clone()));
    let effects = h.effects();
    assert_eq!(
        effects.errors(&framework.link),
        vec!["Framework failed over"]
    );
    assert!(effects.closed(&framework.link));
    assert_eq!(effects.events_of(&link, event::Type::Subscribed).len(), 1);
    assert!(
        !h.master
            .offers()
            .any(|o| OfferId::from(&o.wire.id) == OfferId::from(&offer.id))
    );
    assert!(
        h.master
            .framework(&framework.id)
            .unwrap()
            .tasks
            .contains_key(&TaskId::new("t1"))
    );

    // The old stream is refused, the new one accepted.
    let old = framework.clone();
    let new = TestFramework {
        id: framework.id.clone(),
        link: link.clone(),
    };
    assert!(matches!(
        h.call(&old, simple_call(call::Type::Revive)),
        Err(CallError::StreamMismatch(_))
    ));
    assert_eq!(h.call(&new, simple_call(call::Type::Revive)), Ok(()));
    // The old link closing later does not disconnect the new instance.
    let now = h.now();
    h.master.framework_disconnected(&old.link, now);
    assert!(h.master.framework(&framework.id).unwrap().active);
}

#[test]
fn a_framework_is_removed_after_its_failover_timeout() {
    let mut h = Harness::new();
    let agent = h.register_agent("cpus:4;mem:4096");
    let framework = h.subscribe(framework_info("fw"));
    h.running_task(&framework, &agent, "t1", "cpus:1;mem:128");
    let now = h.now();
    h.master.framework_disconnected(&framework.link, now);
    let effects = h.advance(secs(59));
    assert!(
        effects
            .messages::<internal::ShutdownFrameworkMessage>()
            .is_empty()
    );
    assert!(h.master.framework(&framework.id).is_some());

    let effects = h.advance(secs(2));
    let shutdowns = effects.messages_to::<internal::ShutdownFrameworkMessage>(&agent.pid);
    assert_eq!(shutdowns.len(), 1);
    assert_eq!(FrameworkId::from(&shutdowns[0].framework_id), framework.id);
    assert!(h.master.framework(&framework.id).is_none());
    let completed: Vec<&Framework> = h.master.completed_frameworks().collect();
    assert_eq!(completed.len(), 1);
    assert_eq!(completed[0].id, framework.id);
    assert_eq!(completed[0].completed_tasks.len(), 1);
    // The task's resources are free again.
    let agent_state = h.master.agents().next().unwrap();
    assert!(agent_state.used_total().is_empty());
    assert!(agent_state.tasks.is_empty());

    let mut info = framework_info("fw");
    info.id = Some(framework.id.to_v0());
    let link = h.next_link();
    assert_eq!(
        h.subscribe_on(info, &link),
        Err(CallError::Forbidden(framework.id.to_string()))
    );
    assert_eq!(
        h.call(&framework, simple_call(call::Type::Revive)),
        Err(CallError::FrameworkNotFound)
    );

    // Its resources go to others.
    let other = h.subscribe(framework_info("other"));
    let offer = h.offer(&other);
    assert_eq!(offered(&offer), res("cpus:4;mem:4096"));
}

#[test]
fn a_framework_without_failover_timeout_is_removed_on_disconnection() {
    let mut h = Harness::new();
    h.register_agent("cpus:4;mem:4096");
    let mut info = framework_info("fw");
    info.failover_timeout = None;
    let framework = h.subscribe(info);
    let now = h.now();
    h.master.framework_disconnected(&framework.link, now);
    assert!(h.master.framework(&framework.id).is_none());
    assert_eq!(h.master.completed_frameworks().count(), 1);
}

#[test]
fn teardown_removes_the_framework() {
    let mut h = Harness::new();
    let agent = h.register_agent("cpus:4;mem:4096");
    let framework = h.subscribe(framework_info("fw"));
    h.running_task(&framework, &agent, "t1", "cpus:1;mem:128");
    h.offer_after(&framework, secs(6));
    h.call(&framework, simple_call(call::Type::Teardown))
        .unwrap();
    let effects = h.effects();
    assert_eq!(
        effects
            .messages_to::<internal::ShutdownFrameworkMessage>(&agent.pid)
            .len(),
        1
    );
    assert!(effects.closed(&framework.link));
    assert!(h.master.framework(&framework.id).is_none());
    assert_eq!(h.master.offers().count(), 0);
    let completed: Vec<&Framework> = h.master.completed_frameworks().collect();
    assert_eq!(completed.len(), 1);
    assert_eq!(
        completed[0].completed_tasks[0].state,
        TaskState::TaskKilled as i32
    );
    assert_eq!(
        h.call(&framework, simple_call(call::Type::Revive)),
        Err(CallError::FrameworkNotFound)
    );
    let other = h.subscribe(framework_info("other"));
    assert_eq!(offered(&h.offer(&other)), res("cpus:4;mem:4096"));
}

// --- Agent health ----------------------------------------------------------

/// Lets `d` pass while `agents` answer every ping.
fn advance_with_pongs(h: &mut Harness, d: Duration, agents: &[&TestAgent]) -> Effects {
    let mut all = Effects::default();
    let end = h.elapsed + d;
    while h.elapsed < end {
        let step = h.advance(secs(1).min(end - h.elapsed));
        for agent in agents {
            for _ in step.messages_to::<internal::PingSlaveMessage>(&agent.pid) {
                h.receive(&agent.pid, &internal::PongSlaveMessage {});
            }
        }
        all.0.extend(step.0);
        all.0.extend(h.effects().0);
    }
    all
}

#[test]
fn an_agent_that_stops_answering_pings_is_removed() {
    let mut h = Harness::new();
    let silent = h.register_agent("cpus:4;mem:4096");
    let healthy = h.register_agent("cpus:4;mem:4096");
    let lost = h.subscribe(framework_info("lost"));
    let aware = h.subscribe(partition_aware("aware"));
    h.running_task(&lost, &silent, "l1", "cpus:1;mem:128");
    h.running_task(&aware, &silent, "a1", "cpus:1;mem:128");
    // Outstanding offers on the silent agent.
    let effects = advance_with_pongs(&mut h, secs(6), &[&silent, &healthy]);
    let offers: Vec<v0::Offer> = [&lost, &aware]
        .iter()
        .flat_map(|f| effects.offers(&f.link))
        .collect();
    assert!(
        offers
            .iter()
            .any(|o| AgentId::from(&o.slave_id) == silent.id),
        "{offers:?}"
    );

    // 5 pings of 15 s go unanswered: removed within 5 × 15 s (plus the
    // wait for the first ping), not before.
    let effects = advance_with_pongs(&mut h, secs(74), &[&healthy]);
    assert!(h.master.agents().any(|a| a.id == silent.id));
    assert!(
        effects
            .messages_to::<internal::PingSlaveMessage>(&silent.pid)
            .len()
            >= 4
    );
    let effects = advance_with_pongs(&mut h, secs(16), &[&healthy]);
    assert!(!h.master.agents().any(|a| a.id == silent.id));
    assert!(h.master.agents().any(|a| a.id == healthy.id));
    assert_eq!(h.master.metrics().agent_removals, 1);

    let updates = effects.updates(&lost.link);
    assert_eq!(updates.len(), 1);
    assert_eq!(state(&updates[0]), TaskState::TaskLost);
    assert_eq!(reason(&updates[0]), Some(Reason::SlaveRemoved));
    assert_eq!(updates[0].uuid, None);
    let updates = effects.updates(&aware.link);
    assert_eq!(updates.len(), 1);
    assert_eq!(state(&updates[0]), TaskState::TaskUnreachable);
    assert_eq!(reason(&updates[0]), Some(Reason::SlaveRemoved));
    assert!(updates[0].unreachable_time.is_some());

    let rescinded: Vec<OfferId> = [&lost, &aware]
        .iter()
        .flat_map(|f| effects.rescinded(&f.link))
        .collect();
    for offer in offers
        .iter()
        .filter(|o| AgentId::from(&o.slave_id) == silent.id)
    {
        assert!(rescinded.contains(&OfferId::from(&offer.id)), "{offer:?}");
    }
    assert!(!h.master.offers().any(|o| o.agent_id == silent.id));

    // The tasks leave with the state they were reported in.
    for (framework, expected) in [
        (&lost, TaskState::TaskLost),
        (&aware, TaskState::TaskUnreachable),
    ] {
        let state = h.master.framework(&framework.id).unwrap();
        assert!(state.tasks.is_empty());
        assert_eq!(state.completed_tasks.len(), 1);
        assert_eq!(state.completed_tasks[0].state, expected as i32);
    }
    assert_eq!(h.master.metrics().tasks_terminal["TASK_LOST"], 1);
    let shutdowns = effects.messages_to::<internal::ShutdownMessage>(&silent.pid);
    assert_eq!(shutdowns.len(), 1);
    // After their tasks' updates, the frameworks hear of the agent itself.
    for framework in [&lost, &aware] {
        let events = effects.events(&framework.link);
        let failures: Vec<&scheduler::Event> = events
            .iter()
            .filter(|e| e.r#type == Some(event::Type::Failure as i32))
            .collect();
        assert_eq!(failures.len(), 1, "{events:?}");
        let failure = failures[0].failure.as_ref().unwrap();
        assert_eq!(failure.slave_id, Some(silent.id.to_v0()));
        assert_eq!(failure.executor_id, None);
        let last_update = events
            .iter()
            .rposition(|e| e.r#type == Some(event::Type::Update as i32))
            .unwrap();
        let failure_at = events
            .iter()
            .position(|e| e.r#type == Some(event::Type::Failure as i32))
            .unwrap();
        assert!(last_update < failure_at, "{events:?}");
    }
}

#[test]
fn a_driver_hears_lost_slave_when_an_agent_is_removed() {
    let mut h = Harness::new();
    let agent = h.register_agent("cpus:4;mem:4096");
    let pid = driver_pid(1);
    subscribe_driver(&mut h, &pid, "driver");
    let effects = advance_with_pongs(&mut h, secs(1), &[]);
    assert_eq!(
        effects
            .messages_to::<internal::ResourceOffersMessage>(&pid)
            .len(),
        1
    );
    let effects = advance_with_pongs(&mut h, secs(95), &[]);
    assert!(!h.master.agents().any(|a| a.id == agent.id));
    let lost = effects.messages_to::<internal::LostSlaveMessage>(&pid);
    assert_eq!(lost.len(), 1, "{effects:?}");
    assert_eq!(lost[0].slave_id, agent.id.to_v0());
}

#[test]
fn an_agent_that_answers_pings_stays() {
    let mut h = Harness::new();
    let agent = h.register_agent("cpus:4;mem:4096");
    let effects = advance_with_pongs(&mut h, secs(600), &[&agent]);
    assert!(
        effects
            .messages_to::<internal::PingSlaveMessage>(&agent.pid)
            .len()
            >= 39
    );
    assert!(h.master.agents().any(|a| a.id == agent.id));
    assert_eq!(h.master.metrics().agent_removals, 0);
}

// --- Offer timeout ---------------------------------------------------------

#[test]
fn unused_offers_are_rescinded_after_the_offer_timeout() {
    let mut h = Harness::with(|c| c.offer_timeout = Some(secs(10)));
    h.register_agent("cpus:4;mem:4096");
    let framework = h.subscribe(framework_info("fw"));
    let offer = h.offer(&framework);
    assert!(
        h.advance(Duration::from_millis(9900))
            .rescinded(&framework.link)
            .is_empty()
    );
    let effects = h.advance(Duration::from_millis(200));
    assert_eq!(
        effects.rescinded(&framework.link),
        vec![OfferId::from(&offer.id)]
    );
    assert_eq!(h.master.metrics().offers_rescinded, 1);
    // The resources come back at once (no filter on a rescinded offer).
    let offers = effects.offers(&framework.link);
    assert_eq!(offers.len(), 1);
    assert_eq!(offered(&offers[0]), res("cpus:4;mem:4096"));
}

// --- Refused calls ---------------------------------------------------------

#[test]
fn calls_from_the_wrong_stream_or_an_unknown_framework_are_refused() {
    let mut h = Harness::new();
    h.register_agent("cpus:4;mem:4096");
    let framework = h.subscribe(framework_info("fw"));
    let offer = h.offer(&framework);
    let wrong = FrameworkLink::Http {
        stream_id: "someone-else".into(),
    };
    let result = h.call_on(
        &framework,
        &wrong,
        decline_call(vec![offer.id.clone()], None),
    );
    assert!(
        matches!(result, Err(CallError::StreamMismatch(_))),
        "{result:?}"
    );
    assert_eq!(h.master.offers().count(), 1, "the call had no effect");

    let stranger = TestFramework {
        id: FrameworkId::new("no-such-framework"),
        link: framework.link.clone(),
    };
    assert_eq!(
        h.call(&stranger, simple_call(call::Type::Revive)),
        Err(CallError::FrameworkNotFound)
    );
    let mut missing_type = simple_call(call::Type::Revive);
    missing_type.r#type = None;
    assert!(matches!(
        h.call(&framework, missing_type),
        Err(CallError::BadRequest(_))
    ));
    assert!(h.effects().0.is_empty());
}

#[test]
fn a_silent_agent_is_removed_after_the_total_ping_timeout() {
    // Mesos pings an agent as soon as it registers and removes it when
    // `max_agent_ping_timeouts` pings in a row went unanswered: 5 × 15 s,
    // the total_ping_timeout_seconds the agent is told.
    let mut h = Harness::new();
    let pid = Upid::new("slave(1)", SocketAddr::from(([10, 0, 1, 1], 5051)));
    h.receive(&pid, &register_message("agent1.example", "cpus:4;mem:4096"));
    let effects = h.effects();
    assert_eq!(
        effects
            .messages_to::<internal::PingSlaveMessage>(&pid)
            .len(),
        1,
        "pinged on registration"
    );
    let effects = h.advance(Duration::from_millis(74_900));
    assert_eq!(
        effects
            .messages_to::<internal::PingSlaveMessage>(&pid)
            .len(),
        4
    );
    assert_eq!(h.master.agents().count(), 1);
    h.advance(Duration::from_millis(200));
    assert_eq!(h.master.agents().count(), 0);
}

#[test]
fn a_disconnected_agent_registering_afresh_replaces_the_old_one() {
    // An agent that lost its state (a reboot) registers again from the
    // same address: Mesos removes the old, disconnected agent first.
    let mut h = Harness::new();
    let agent = h.register_agent("cpus:4;mem:4096");
    // A checkpointing framework: its tasks wait for the agent.
    let framework = h.subscribe(checkpointing(framework_info("fw")));
    h.running_task(&framework, &agent, "t1", "cpus:1;mem:128");
    let now = h.now();
    h.master.exited(&agent.pid, now);
    h.effects();

    h.receive(
        &agent.pid,
        &register_message("agent1.example", "cpus:4;mem:4096"),
    );
    let effects = h.effects();
    let replies = effects.messages_to::<internal::SlaveRegisteredMessage>(&agent.pid);
    assert_eq!(replies.len(), 1);
    let new_id = AgentId::from(&replies[0].slave_id);
    assert_ne!(new_id, agent.id);
    assert!(
        effects
            .messages_to::<internal::ShutdownMessage>(&agent.pid)
            .is_empty(),
        "the new agent is not shut down"
    );
    let updates = effects.updates(&framework.link);
    assert_eq!(updates.len(), 1);
    assert_eq!(state(&updates[0]), TaskState::TaskLost);
    assert_eq!(reason(&updates[0]), Some(Reason::SlaveRemoved));
    let agents: Vec<&Agent> = h.master.agents().collect();
    assert_eq!(agents.len(), 1);
    assert_eq!(agents[0].id, new_id);
    assert!(agents[0].connected);
    assert!(h.master.framework(&framework.id).unwrap().tasks.is_empty());

    // The new agent's resources are offered.
    let offer = h.offer(&framework);
    assert_eq!(AgentId::from(&offer.slave_id), new_id);
    assert_eq!(offered(&offer), res("cpus:4;mem:4096"));
}

#[test]
fn every_agent_is_told_to_shut_a_removed_framework_down() {
    // The master may not know everything an agent runs for a framework
    // (a launch in flight, an executor it never heard of): Mesos tells
    // every registered agent.
    let mut h = Harness::new();
    let busy = h.register_agent("cpus:4;mem:4096");
    let idle = h.register_agent("cpus:4;mem:4096");
    let framework = h.subscribe(framework_info("fw"));
    h.running_task(&framework, &busy, "t1", "cpus:1;mem:128");
    h.call(&framework, simple_call(call::Type::Teardown))
        .unwrap();
    let effects = h.effects();
    for agent in [&busy, &idle] {
        let shutdowns = effects.messages_to::<internal::ShutdownFrameworkMessage>(&agent.pid);
        assert_eq!(shutdowns.len(), 1, "{agent:?}");
        assert_eq!(FrameworkId::from(&shutdowns[0].framework_id), framework.id);
    }
}

#[test]
fn a_libprocess_framework_is_linked_and_disconnects_when_its_link_breaks() {
    let mut h = Harness::new();
    let agent = h.register_agent("cpus:4;mem:4096");
    let pid: Upid = "scheduler(1)@10.0.9.1:40000".parse().unwrap();
    let link = FrameworkLink::Libprocess { pid: pid.clone() };
    let id = h.subscribe_on(framework_info("driver"), &link).unwrap();
    let effects = h.effects();
    assert!(
        effects
            .0
            .iter()
            .any(|e| matches!(e, Effect::Link { to } if to == &pid))
    );
    // The driver hears FrameworkRegisteredMessage, not a v1 event.
    let registered = effects.messages::<internal::FrameworkRegisteredMessage>();
    assert_eq!(registered.len(), 1);
    assert_eq!(registered[0].0, pid);
    assert_eq!(FrameworkId::from(&registered[0].1.framework_id), id);
    assert!(effects.events_of(&link, event::Type::Subscribed).is_empty());
    // Offers come as ResourceOffersMessage with one agent pid per offer.
    let offers = h
        .advance(secs(2))
        .messages::<internal::ResourceOffersMessage>();
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0].1.offers.len(), offers[0].1.pids.len());
    assert_eq!(offers[0].1.pids[0], agent.pid.to_string());
    let now = h.now();
    h.master.exited(&pid, now);
    let state = h.master.framework(&id).unwrap();
    assert!(!state.active);
    assert!(state.link.is_none());
    assert_eq!(h.master.offers().count(), 0);
}

#[test]
fn a_disconnected_agent_is_not_offered_until_it_reregisters() {
    let mut h = Harness::new();
    let agent = h.register_agent("cpus:4;mem:4096");
    // A checkpointing framework: its tasks wait for the agent.
    let framework = h.subscribe(checkpointing(framework_info("fw")));
    h.running_task(&framework, &agent, "t1", "cpus:1;mem:128");
    let offer = h.offer_after(&framework, secs(6));
    let now = h.now();
    h.master.exited(&agent.pid, now);
    let effects = h.effects();
    assert_eq!(
        effects.rescinded(&framework.link),
        vec![OfferId::from(&offer.id)]
    );
    assert!(h.advance(secs(10)).offers(&framework.link).is_empty());
    // Its tasks stay while it may come back.
    assert!(
        h.master
            .framework(&framework.id)
            .unwrap()
            .tasks
            .contains_key(&TaskId::new("t1"))
    );

    let mut slave = register_message("agent1.example", "cpus:4;mem:4096").slave;
    slave.id = Some(agent.id.to_v0());
    let reregister = internal::ReregisterSlaveMessage {
        slave,
        version: Some(VERSION.into()),
        ..Default::default()
    };
    h.receive(&agent.pid, &reregister);
    let effects = h.effects();
    let replies = effects.messages_to::<internal::SlaveReregisteredMessage>(&agent.pid);
    assert_eq!(replies.len(), 1);
    assert_eq!(AgentId::from(&replies[0].slave_id), agent.id);
    let offers = h.advance(secs(1)).offers(&framework.link);
    assert_eq!(offers.len(), 1);
    assert_eq!(offered(&offers[0]), res("cpus:3;mem:3968"));
}

#[test]
fn an_executor_is_launched_once_and_its_resources_are_counted() {
    let mut h = Harness::new();
    h.register_agent("cpus:4;mem:4096");
    let framework = h.subscribe(framework_info("fw"));
    let offer = h.offer(&framework);
    let executor = v0::ExecutorInfo {
        executor_id: v0::ExecutorId {
            value: "exec".into(),
        },
        command: Some(v0::CommandInfo {
            value: Some("./executor".into()),
            ..Default::default()
        }),
        resources: res("cpus:0.5;mem:64").to_wire(),
        ..Default::default()
    };
    let with_executor = |id: &str| {
        let mut t = task(id, &offer, "cpus:1;mem:128");
        t.command = None;
        t.executor = Some(executor.clone());
        t
    };
    let effects = h.accept(
        &framework,
        &[&offer.id],
        vec![with_executor("t1"), with_executor("t2")],
        None,
    );
    let runs = effects.messages::<internal::RunTaskMessage>();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].1.launch_executor, Some(true));
    assert_eq!(runs[1].1.launch_executor, Some(false));
    assert_eq!(
        runs[0].1.task.executor.as_ref().unwrap().framework_id,
        Some(framework.id.to_v0())
    );
    // Two tasks and one executor are in use: the rest comes back.
    let rest = h.offer_after(&framework, secs(6));
    assert_eq!(offered(&rest), res("cpus:1.5;mem:3776"));
}

fn snapshot(master: &Master) -> HashMap<String, f64> {
    let mut values = Vec::new();
    master.metrics_snapshot(&mut values);
    values.into_iter().collect()
}

#[test]
fn metrics_follow_agents_frameworks_and_tasks() {
    let mut h = Harness::new();
    let before = snapshot(&h.master);
    assert_eq!(before["master/slaves_active"], 0.0);
    assert_eq!(before["master/cpus_total"], 0.0);
    assert_eq!(before["master/cpus_percent"], 0.0);
    assert_eq!(before["master/messages_register_slave"], 0.0);
    assert_eq!(before["master/tasks_finished"], 0.0);

    let agent = h.register_agent("cpus:4;mem:4096;disk:1000");
    let framework = h.subscribe(framework_info("metrics"));
    let offer = h.offer(&framework);
    let m = snapshot(&h.master);
    assert_eq!(m["master/slaves_active"], 1.0);
    assert_eq!(m["master/slaves_connected"], 1.0);
    assert_eq!(m["master/slave_registrations"], 1.0);
    assert_eq!(m["master/messages_register_slave"], 1.0);
    assert_eq!(m["master/messages_register_framework"], 1.0);
    assert_eq!(m["master/frameworks_active"], 1.0);
    assert_eq!(m["master/frameworks_connected"], 1.0);
    assert_eq!(m["master/outstanding_offers"], 1.0);
    assert_eq!(m["master/cpus_total"], 4.0);
    assert_eq!(m["master/mem_total"], 4096.0);
    assert_eq!(m["master/cpus_used"], 0.0);
    assert!(m["allocator/mesos/allocation_runs"] >= 1.0);
    assert_eq!(
        m["allocator/mesos/resources/cpus/offered_or_allocated"],
        4.0
    );
    assert_eq!(m["allocator/mesos/roles/*/shares/dominant"], 1.0);

    h.launch(&framework, &offer, "t1", "cpus:1;mem:1024");
    let m = snapshot(&h.master);
    assert_eq!(m["master/messages_launch_tasks"], 1.0);
    assert_eq!(m["master/tasks_staging"], 1.0);
    assert_eq!(m["master/cpus_used"], 1.0);
    assert_eq!(m["master/cpus_percent"], 0.25);
    assert_eq!(m["master/outstanding_offers"], 0.0);

    h.update(
        &agent,
        &framework,
        "t1",
        TaskState::TaskRunning,
        Some(uuid("t1", 1)),
    );
    assert_eq!(snapshot(&h.master)["master/tasks_running"], 1.0);
    assert_eq!(snapshot(&h.master)["master/tasks_staging"], 0.0);

    let mut failed = status_update_message(
        &agent,
        &framework,
        "t1",
        TaskState::TaskFailed,
        Some(uuid("t1", 2)),
    );
    failed.update.status.source = Some(v0::task_status::Source::Executor as i32);
    failed.update.status.reason = Some(v0::task_status::Reason::CommandExecutorFailed as i32);
    h.receive(&agent.pid, &failed);
    h.effects();
    let m = snapshot(&h.master);
    assert_eq!(m["master/tasks_running"], 0.0);
    assert_eq!(m["master/tasks_failed"], 1.0);
    assert_eq!(
        m["master/task_failed/source_executor/reason_command_executor_failed"],
        1.0
    );
    assert_eq!(m["master/messages_status_update"], 2.0);
    assert_eq!(m["master/valid_status_updates"], 2.0);
    assert_eq!(m["master/cpus_used"], 0.0);

    // A status update for a task the master does not know is invalid.
    h.update(
        &agent,
        &framework,
        "nope",
        TaskState::TaskRunning,
        Some(uuid("nope", 1)),
    );
    assert_eq!(snapshot(&h.master)["master/invalid_status_updates"], 1.0);

    h.call(&framework, simple_call(call::Type::Teardown))
        .unwrap();
    let m = snapshot(&h.master);
    assert_eq!(m["master/messages_unregister_framework"], 1.0);
    assert_eq!(m["master/frameworks_active"], 0.0);
}

/// A driver's `SUBSCRIBE` call, as libmesos sends it.
fn driver_subscribe(info: v0::FrameworkInfo, force: bool) -> scheduler::Call {
    scheduler::Call {
        framework_id: info.id.clone(),
        r#type: Some(call::Type::Subscribe as i32),
        subscribe: Some(call::Subscribe {
            framework_info: info,
            force: Some(force),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A driver's call for framework `id`.
fn driver_call(id: &FrameworkId, mut call: scheduler::Call) -> scheduler::Call {
    call.framework_id = Some(id.to_v0());
    call
}

fn framework_errors(effects: &Effects, to: &Upid) -> Vec<String> {
    effects
        .messages_to::<internal::FrameworkErrorMessage>(to)
        .into_iter()
        .map(|m| m.message)
        .collect()
}

fn driver_pid(n: u8) -> Upid {
    format!("scheduler-{n}@10.0.9.{n}:40000").parse().unwrap()
}

/// Subscribes a driver at `pid` as a new framework.
fn subscribe_driver(h: &mut Harness, pid: &Upid, name: &str) -> FrameworkId {
    h.receive(pid, &driver_subscribe(framework_info(name), false));
    let registered = h
        .effects()
        .messages_to::<internal::FrameworkRegisteredMessage>(pid);
    assert_eq!(registered.len(), 1);
    FrameworkId::from(&registered[0].framework_id)
}

#[test]
fn a_driver_retrying_its_subscription_is_registered_once() {
    let mut h = Harness::new();
    let pid = driver_pid(1);
    // The driver resends SUBSCRIBE until it hears back.
    for _ in 0..3 {
        h.receive(&pid, &driver_subscribe(framework_info("driver"), false));
    }
    let registered = h
        .effects()
        .messages_to::<internal::FrameworkRegisteredMessage>(&pid);
    assert_eq!(registered.len(), 3);
    assert!(
        registered
            .iter()
            .all(|m| m.framework_id == registered[0].framework_id)
    );
    assert_eq!(h.master.frameworks().count(), 1);
    // Its events name the one framework (the driver checks it).
    let framework = h.master.frameworks().next().unwrap();
    assert_eq!(framework.id, FrameworkId::from(&registered[0].framework_id));
    assert_eq!(framework.pid.as_ref(), Some(&pid));
}

#[test]
fn a_driver_takes_a_framework_over_only_when_forced() {
    let mut h = Harness::new();
    let first = driver_pid(1);
    let id = subscribe_driver(&mut h, &first, "driver");
    let mut info = framework_info("driver");
    info.id = Some(id.to_v0());

    // Not forced (a scheduler partitioned away, back after another
    // instance took over): refused, the framework stays where it is.
    let second = driver_pid(2);
    h.receive(&second, &driver_subscribe(info.clone(), false));
    let effects = h.effects();
    assert_eq!(
        framework_errors(&effects, &second),
        ["Framework failed over"]
    );
    assert!(framework_errors(&effects, &first).is_empty());
    assert!(
        effects
            .messages::<internal::FrameworkRegisteredMessage>()
            .is_empty()
    );
    let framework = h.master.framework(&id).unwrap();
    assert_eq!(framework.pid.as_ref(), Some(&first));

    // Forced (a failover): the old instance is told, the new registered.
    h.receive(&second, &driver_subscribe(info.clone(), true));
    let effects = h.effects();
    assert_eq!(
        framework_errors(&effects, &first),
        ["Framework failed over"]
    );
    let registered = effects.messages_to::<internal::FrameworkRegisteredMessage>(&second);
    assert_eq!(registered.len(), 1);
    assert_eq!(FrameworkId::from(&registered[0].framework_id), id);
    assert_eq!(h.master.framework(&id).unwrap().pid.as_ref(), Some(&second));

    // The old instance's calls are ignored: its driver aborts and stops,
    // which sends a deactivation and a TEARDOWN.
    h.receive(
        &first,
        &internal::DeactivateFrameworkMessage {
            framework_id: id.to_v0(),
        },
    );
    h.receive(&first, &driver_call(&id, simple_call(call::Type::Teardown)));
    let effects = h.effects();
    assert!(framework_errors(&effects, &first).is_empty());
    let framework = h.master.framework(&id).expect("not torn down");
    assert!(framework.active);

    // The same instance subscribing again, not forced: re-registered.
    h.receive(&second, &driver_subscribe(info, false));
    let effects = h.effects();
    let reregistered = effects.messages_to::<internal::FrameworkReregisteredMessage>(&second);
    assert_eq!(reregistered.len(), 1);
    assert!(framework_errors(&effects, &second).is_empty());
}

#[test]
fn a_driver_pid_subscribes_one_framework_only() {
    let mut h = Harness::new();
    let pid = driver_pid(1);
    let first = subscribe_driver(&mut h, &pid, "first");
    let other = h.subscribe(framework_info("other"));
    // The pid asking to be another known framework: dropped, without an
    // error (which would reach the framework already there).
    let mut info = framework_info("other");
    info.id = Some(other.id.to_v0());
    h.receive(&pid, &driver_subscribe(info, true));
    let effects = h.effects();
    assert!(effects.0.is_empty(), "{effects:?}");
    assert_eq!(
        h.master.framework(&other.id).unwrap().link,
        Some(other.link.clone())
    );
    assert_eq!(h.master.framework(&first).unwrap().pid.as_ref(), Some(&pid));
}

#[test]
fn a_disconnected_driver_is_told_so_and_its_calls_refused() {
    let mut h = Harness::new();
    let pid = driver_pid(1);
    let id = subscribe_driver(&mut h, &pid, "driver");
    // The link broke: should the driver still run, it must learn it.
    let now = h.now();
    h.master.exited(&pid, now);
    let effects = h.effects();
    assert_eq!(framework_errors(&effects, &pid), ["Framework disconnected"]);
    let framework = h.master.framework(&id).unwrap();
    assert!(framework.link.is_none());
    assert!(!framework.active);

    // Its calls are refused with the same error; a stranger's are dropped.
    h.receive(&pid, &driver_call(&id, simple_call(call::Type::Revive)));
    assert_eq!(
        framework_errors(&h.effects(), &pid),
        ["Framework disconnected"]
    );
    let stranger = driver_pid(2);
    h.receive(
        &stranger,
        &driver_call(&id, simple_call(call::Type::Revive)),
    );
    assert!(h.effects().0.is_empty());

    // It may subscribe again from the same pid without force.
    let mut info = framework_info("driver");
    info.id = Some(id.to_v0());
    h.receive(&pid, &driver_subscribe(info, false));
    let effects = h.effects();
    assert_eq!(
        effects
            .messages_to::<internal::FrameworkReregisteredMessage>(&pid)
            .len(),
        1
    );
    assert!(h.master.framework(&id).unwrap().active);
}

#[test]
fn a_deactivated_driver_stays_connected_and_can_tear_down() {
    let mut h = Harness::new();
    let agent = h.register_agent("cpus:4;mem:4096");
    let pid = driver_pid(1);
    let id = subscribe_driver(&mut h, &pid, "driver");
    let offers = h
        .advance(secs(1))
        .messages_to::<internal::ResourceOffersMessage>(&pid);
    assert_eq!(offers.len(), 1);
    let offer_id = offers[0].offers[0].id.clone();

    // A driver's abort(): no more offers, the outstanding one rescinded.
    h.receive(
        &pid,
        &internal::DeactivateFrameworkMessage {
            framework_id: id.to_v0(),
        },
    );
    let effects = h.effects();
    let rescinded = effects.messages_to::<internal::RescindResourceOfferMessage>(&pid);
    assert_eq!(rescinded.len(), 1);
    assert_eq!(rescinded[0].offer_id, offer_id);
    let framework = h.master.framework(&id).unwrap();
    assert!(!framework.active);
    assert!(framework.link.is_some());
    assert!(framework.failover_deadline.is_none());
    assert!(
        h.advance(secs(5))
            .messages::<internal::ResourceOffersMessage>()
            .is_empty()
    );

    // Its stop() that follows is a TEARDOWN, taken.
    h.receive(&pid, &driver_call(&id, simple_call(call::Type::Teardown)));
    let effects = h.effects();
    assert!(h.master.framework(&id).is_none());
    assert_eq!(
        effects
            .messages_to::<internal::ShutdownFrameworkMessage>(&agent.pid)
            .len(),
        1
    );
}

#[test]
fn a_recovered_framework_resubscribes_without_force() {
    let mut h = Harness::new();
    // After a master restart an agent reports a framework this master
    // never saw.
    let mut info = framework_info("driver");
    info.id = Some(FrameworkId::new("old-0000").to_v0());
    let mut slave = register_message("agent1.example", "cpus:4;mem:4096").slave;
    slave.id = Some(AgentId::new("old-S0").to_v0());
    let agent_pid = Upid::new("slave(1)", SocketAddr::from(([10, 0, 0, 1], 5051)));
    h.receive(
        &agent_pid,
        &internal::ReregisterSlaveMessage {
            slave,
            frameworks: vec![info.clone()],
            version: Some(VERSION.into()),
            ..Default::default()
        },
    );
    h.effects();
    let id = FrameworkId::new("old-0000");
    assert!(h.master.framework(&id).unwrap().recovered);

    // Its driver detects the new master and subscribes, not forced.
    let pid = driver_pid(1);
    h.receive(&pid, &driver_subscribe(info, false));
    let effects = h.effects();
    assert!(framework_errors(&effects, &pid).is_empty());
    assert_eq!(
        effects
            .messages_to::<internal::FrameworkReregisteredMessage>(&pid)
            .len(),
        1
    );
    let framework = h.master.framework(&id).unwrap();
    assert!(!framework.recovered);
    assert!(framework.active);
    assert_eq!(framework.pid.as_ref(), Some(&pid));
}

#[test]
fn a_driver_framework_and_an_http_framework_share_agents_by_drf() {
    let mut h = Harness::new();
    let first = h.register_agent("cpus:4;mem:4096");
    let second = h.register_agent("cpus:4;mem:4096");
    let pid = driver_pid(1);
    subscribe_driver(&mut h, &pid, "driver");
    let http = h.subscribe(framework_info("http"));
    // Both at a share of 0: whichever gets the first agent has half the
    // cluster, so the other gets the second.
    let effects = h.advance(secs(1));
    let driver_offers: Vec<v0::Offer> = effects
        .messages_to::<internal::ResourceOffersMessage>(&pid)
        .into_iter()
        .flat_map(|m| m.offers)
        .collect();
    let http_offers = effects.offers(&http.link);
    assert_eq!(driver_offers.len(), 1, "{effects:?}");
    assert_eq!(http_offers.len(), 1, "{effects:?}");
    let agents = [
        AgentId::from(&driver_offers[0].slave_id),
        AgentId::from(&http_offers[0].slave_id),
    ];
    assert_ne!(agents[0], agents[1]);
    assert!(agents.contains(&first.id) && agents.contains(&second.id));
}

fn recovered_slave(id: &str, hostname: &str) -> internal::registry::Slave {
    internal::registry::Slave {
        info: v0::SlaveInfo {
            hostname: hostname.into(),
            port: Some(5051),
            resources: res("cpus:1;mem:64").to_wire(),
            id: Some(v0::SlaveId { value: id.into() }),
            ..Default::default()
        },
        drain_info: None,
        deactivated: None,
    }
}

/// Recovers `registry` and stores the recovery's own write.
fn recover(h: &mut Harness, registry: internal::Registry, timeout: Duration) {
    let now = h.now();
    h.master.recover(registry, timeout, now);
    let (number, written) = h.master.take_registry().expect("recovery writes");
    assert_eq!(
        written.master.map(|m| m.info.id),
        Some("M".to_string()),
        "the registry names its leader"
    );
    h.master.registry_stored(number);
}

#[test]
fn an_admitted_agent_hears_of_it_once_the_registry_is_stored() {
    let mut h = Harness::new();
    recover(&mut h, internal::Registry::default(), secs(600));
    let pid = Upid::new("slave(1)", SocketAddr::from(([10, 0, 0, 9], 5051)));
    h.receive(&pid, &register_message("a.example", "cpus:1;mem:64"));
    let effects = h.effects();
    assert!(
        effects
            .messages_to::<internal::SlaveRegisteredMessage>(&pid)
            .is_empty(),
        "no reply before the registry is stored: {effects:?}"
    );
    // A retry does not get ahead of the write either.
    h.receive(&pid, &register_message("a.example", "cpus:1;mem:64"));
    assert!(
        h.effects()
            .messages_to::<internal::SlaveRegisteredMessage>(&pid)
            .is_empty()
    );
    let (number, registry) = h.master.take_registry().expect("the admission is stored");
    let slaves = registry.slaves.expect("admitted agents").slaves;
    assert_eq!(slaves.len(), 1);
    assert_eq!(slaves[0].info.hostname, "a.example");
    h.master.registry_stored(number);
    let effects = h.effects();
    let replies = effects.messages_to::<internal::SlaveRegisteredMessage>(&pid);
    assert_eq!(replies.len(), 2, "{effects:?}");
    assert_eq!(Some(&replies[0].slave_id), slaves[0].info.id.as_ref());
}

#[test]
fn a_task_never_reaches_an_agent_before_its_admission() {
    let mut h = Harness::new();
    recover(&mut h, internal::Registry::default(), secs(600));
    let framework = h.subscribe(framework_info("web"));
    let pid = Upid::new("slave(1)", SocketAddr::from(([10, 0, 0, 9], 5051)));
    h.receive(&pid, &register_message("a.example", "cpus:1;mem:64"));
    h.effects();
    // The agent is offered while its admission is being stored; a task
    // launched on it then waits behind the SlaveRegisteredMessage.
    let offer = h.offer(&framework);
    let effects = h.accept(
        &framework,
        &[&offer.id],
        vec![task("t1", &offer, "cpus:0.5;mem:32")],
        None,
    );
    assert!(
        effects.messages::<internal::RunTaskMessage>().is_empty(),
        "no task before the agent hears it is admitted: {effects:?}"
    );
    let (number, _) = h.master.take_registry().expect("the admission is stored");
    h.master.registry_stored(number);
    let effects = h.effects();
    let to_agent: Vec<&str> = effects
        .0
        .iter()
        .filter_map(|e| match e {
            Effect::Send { to, name, .. } if *to == pid => Some(name.as_str()),
            _ => None,
        })
        .collect();
    let registered = to_agent
        .iter()
        .position(|n| *n == "mesos.internal.SlaveRegisteredMessage");
    let run = to_agent
        .iter()
        .position(|n| *n == "mesos.internal.RunTaskMessage");
    assert!(
        matches!((registered, run), (Some(r), Some(t)) if r < t),
        "admission, then the task: {to_agent:?}"
    );
    // Nothing is held for the agent any more: the next message goes at once.
    assert!(h.master.registry.held_to.is_empty());
}

#[test]
fn recovered_agents_come_back_or_turn_unreachable() {
    let mut h = Harness::new();
    let registry = internal::Registry {
        slaves: Some(internal::registry::Slaves {
            slaves: vec![
                recovered_slave("OLD-S0", "lost.example"),
                recovered_slave("OLD-S1", "back.example"),
            ],
        }),
        weights: vec![internal::registry::Weight {
            info: v0::WeightInfo {
                weight: 2.0,
                role: Some("web".into()),
            },
        }],
        ..Default::default()
    };
    recover(&mut h, registry, secs(10));
    assert_eq!(h.master.recovered_agents().count(), 2);
    let aware = h.subscribe(partition_aware("aware"));
    let plain = h.subscribe(framework_info("plain"));
    let lost = AgentId::new("OLD-S0");
    // Still expected: reconciliation waits for the agent.
    assert!(h.reconcile(&aware, vec![("t", Some(&lost))]).is_empty());

    // One agent re-registers in time and is admitted under its id.
    let pid = Upid::new("slave(1)", SocketAddr::from(([10, 0, 0, 2], 5051)));
    let reregister = internal::ReregisterSlaveMessage {
        slave: recovered_slave("OLD-S1", "back.example").info,
        version: Some(VERSION.into()),
        ..Default::default()
    };
    h.receive(&pid, &reregister);
    // Back with the info the registry holds: no write, the reply at once
    // (as Mesos skips the registry then).
    assert!(h.master.take_registry().is_none());
    let replies = h
        .effects()
        .messages_to::<internal::SlaveReregisteredMessage>(&pid);
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].slave_id.value, "OLD-S1");

    // The other does not: unreachable after the timeout, since then.
    h.advance(secs(11));
    assert!(h.master.is_unreachable(&lost));
    assert_eq!(h.master.recovered_agents().count(), 0);
    let (_, registry) = h.master.take_registry().expect("unreachable is stored");
    let unreachable = registry.unreachable.expect("unreachable agents").slaves;
    assert_eq!(unreachable.len(), 1);
    assert_eq!(unreachable[0].id.value, "OLD-S0");
    assert!(unreachable[0].timestamp.nanoseconds > 0);
    let admitted: Vec<String> = registry
        .slaves
        .expect("admitted")
        .slaves
        .iter()
        .filter_map(|s| s.info.id.as_ref().map(|id| id.value.clone()))
        .collect();
    assert_eq!(admitted, ["OLD-S1"]);
    assert_eq!(registry.weights.len(), 1, "stored data is kept");

    let updates = h.reconcile(&aware, vec![("t", Some(&lost))]);
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].state, TaskState::TaskUnreachable as i32);
    assert!(updates[0].unreachable_time.is_some());
    let updates = h.reconcile(&plain, vec![("t", Some(&lost))]);
    assert_eq!(updates[0].state, TaskState::TaskLost as i32);
}

/// The group's default executor.
fn default_executor(id: &str, resources: &str) -> v0::ExecutorInfo {
    v0::ExecutorInfo {
        r#type: Some(v0::executor_info::Type::Default as i32),
        executor_id: v0::ExecutorId { value: id.into() },
        resources: res(resources).to_wire(),
        ..Default::default()
    }
}

fn launch_group_call(
    offer_ids: Vec<v0::OfferId>,
    executor: v0::ExecutorInfo,
    tasks: Vec<v0::TaskInfo>,
) -> scheduler::Call {
    scheduler::Call {
        r#type: Some(call::Type::Accept as i32),
        accept: Some(call::Accept {
            offer_ids,
            operations: vec![v0::offer::Operation {
                r#type: Some(v0::offer::operation::Type::LaunchGroup as i32),
                launch_group: Some(v0::offer::operation::LaunchGroup {
                    executor,
                    task_group: v0::TaskGroupInfo { tasks },
                }),
                ..Default::default()
            }],
            filters: None,
        }),
        ..Default::default()
    }
}

#[test]
fn a_task_group_goes_to_the_agent_in_one_message() {
    let mut h = Harness::new();
    let agent = h.register_agent("cpus:4;mem:4096;disk:1024");
    let framework = h.subscribe(framework_info("fw"));
    let offer = h.offer(&framework);
    let executor = default_executor("pod", "cpus:0.1;mem:32;disk:10");
    let tasks = vec![
        task("t1", &offer, "cpus:1;mem:128"),
        task("t2", &offer, "cpus:1;mem:128"),
    ];
    h.call(
        &framework,
        launch_group_call(vec![offer.id.clone()], executor, tasks),
    )
    .unwrap();
    let effects = h.effects();
    assert!(effects.updates(&framework.link).is_empty(), "{effects:?}");
    let runs = effects.messages_to::<internal::RunTaskGroupMessage>(&agent.pid);
    assert_eq!(runs.len(), 1, "{effects:?}");
    let run = &runs[0];
    assert_eq!(run.launch_executor, Some(true));
    assert_eq!(
        run.executor.framework_id.as_ref().map(FrameworkId::from),
        Some(framework.id.clone())
    );
    assert_eq!(run.task_group.tasks.len(), 2);
    for task in &run.task_group.tasks {
        assert_eq!(task.executor.as_ref(), Some(&run.executor));
    }
    let books = &h.master.framework(&framework.id).unwrap().tasks;
    assert_eq!(books.len(), 2);
    assert_eq!(
        books[&TaskId::new("t2")].task.executor_id,
        Some(v0::ExecutorId {
            value: "pod".into()
        })
    );

    // The rest of the offer comes back without the group and its executor.
    let rest = h.advance(secs(6)).offers(&framework.link);
    assert_eq!(rest.len(), 1);
    assert_eq!(offered(&rest[0]), res("cpus:1.9;mem:3808;disk:1014"));

    // A second group for the running executor does not launch it again,
    // nor take its resources.
    let tasks = vec![task("t3", &rest[0], "cpus:1;mem:128")];
    let executor = run.executor.clone();
    h.call(
        &framework,
        launch_group_call(vec![rest[0].id.clone()], executor, tasks),
    )
    .unwrap();
    let effects = h.effects();
    let runs = effects.messages_to::<internal::RunTaskGroupMessage>(&agent.pid);
    assert_eq!(runs.len(), 1, "{effects:?}");
    assert_eq!(runs[0].launch_executor, Some(false));

    // Tasks of a group end like any other.
    let effects = h.update(&agent, &framework, "t1", TaskState::TaskFinished, None);
    assert_eq!(effects.updates(&framework.link).len(), 1);
    assert!(
        !h.master
            .framework(&framework.id)
            .unwrap()
            .tasks
            .contains_key(&TaskId::new("t1"))
    );
}

/// How a case spoils a valid group.
type GroupChange = Box<dyn Fn(&mut v0::ExecutorInfo, &mut Vec<v0::TaskInfo>)>;

#[test]
fn invalid_task_groups_fail_every_task() {
    let cases: Vec<(&str, GroupChange)> = vec![
        (
            "'ExecutorInfo.type' must be set",
            Box::new(|e, _| e.r#type = None),
        ),
        (
            "'ExecutorInfo.command' must not be set for 'DEFAULT' executor",
            Box::new(|e, _| e.command = Some(v0::CommandInfo::default())),
        ),
        (
            "Task 't2' is invalid: Task has duplicate ID: t2",
            Box::new(|_, t| t[0].task_id.value = "t2".into()),
        ),
        (
            "Executor 'pod' uses less memory (16MB) than the minimum required (32MB)",
            Box::new(|e, _| e.resources = res("cpus:0.1;mem:16;disk:10").to_wire()),
        ),
        (
            "Executor 'pod' uses no disk",
            Box::new(|e, _| e.resources = res("cpus:0.1;mem:32").to_wire()),
        ),
        (
            "Task 't1' is invalid: Task uses no resources",
            Box::new(|_, t| t[0].resources.clear()),
        ),
        (
            "The `ExecutorInfo` of task 't2' is different from executor 'pod'",
            Box::new(|_, t| {
                let mut other = default_executor("other", "cpus:0.1;mem:32;disk:10");
                other.framework_id = None;
                t[1].executor = Some(other);
            }),
        ),
        (
            "required by task group and its executor are more than available",
            Box::new(|_, t| t[1].resources = res("cpus:4;mem:128").to_wire()),
        ),
    ];
    for (expected, change) in cases {
        let mut h = Harness::new();
        let agent = h.register_agent("cpus:4;mem:4096;disk:1024");
        let framework = h.subscribe(framework_info("fw"));
        let offer = h.offer(&framework);
        let mut executor = default_executor("pod", "cpus:0.1;mem:32;disk:10");
        let mut tasks = vec![
            task("t1", &offer, "cpus:1;mem:128"),
            task("t2", &offer, "cpus:1;mem:128"),
        ];
        change(&mut executor, &mut tasks);
        h.call(
            &framework,
            launch_group_call(vec![offer.id.clone()], executor, tasks),
        )
        .unwrap();
        let effects = h.effects();
        assert!(
            effects
                .messages_to::<internal::RunTaskGroupMessage>(&agent.pid)
                .is_empty(),
            "{expected}: {effects:?}"
        );
        let updates = effects.updates(&framework.link);
        assert_eq!(updates.len(), 2, "{expected}: {updates:?}");
        for status in &updates {
            assert_eq!(state(status), TaskState::TaskError);
            assert_eq!(reason(status), Some(Reason::TaskGroupInvalid));
            let message = status.message.clone().unwrap_or_default();
            assert!(message.contains(expected), "{expected}: {message}");
        }
        assert!(h.master.framework(&framework.id).unwrap().tasks.is_empty());
        // The offer's resources all come back.
        let rest = h.advance(secs(6)).offers(&framework.link);
        assert_eq!(offered(&rest[0]), res("cpus:4;mem:4096;disk:1024"));
    }
}

#[test]
fn a_disconnected_agent_loses_the_tasks_of_frameworks_that_do_not_checkpoint() {
    let mut h = Harness::new();
    let agent = h.register_agent("cpus:4;mem:4096");
    let plain = h.subscribe(framework_info("plain"));
    let durable = h.subscribe(checkpointing(framework_info("durable")));
    h.running_task(&plain, &agent, "t1", "cpus:1;mem:128");
    h.running_task(&durable, &agent, "t2", "cpus:1;mem:128");
    let now = h.now();
    h.master.exited(&agent.pid, now);
    let effects = h.effects();
    let updates = effects.updates(&plain.link);
    assert_eq!(updates.len(), 1);
    assert_eq!(state(&updates[0]), TaskState::TaskLost);
    assert_eq!(reason(&updates[0]), Some(Reason::SlaveDisconnected));
    assert_eq!(
        updates[0].message.as_deref(),
        Some("Agent agent1.example disconnected")
    );
    assert!(effects.updates(&durable.link).is_empty());
    assert!(h.master.framework(&plain.id).unwrap().tasks.is_empty());
    assert!(
        h.master
            .framework(&durable.id)
            .unwrap()
            .tasks
            .contains_key(&TaskId::new("t2"))
    );
}
