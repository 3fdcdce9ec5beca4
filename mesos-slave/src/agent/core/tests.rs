//! Scenario tests of the agent core: inputs and time in, effects out.
use super::*;

fn config() -> AgentConfig {
    let master: Upid = "master@127.0.0.1:5050".parse().unwrap();
    let resources = mesos::resources::Resources::parse("cpus:2;mem:1024")
        .unwrap()
        .to_wire();
    let mut config = AgentConfig::new(master, "/var/lib/mesos".into(), resources);
    config.launcher_dir = "/libexec".into();
    config
}

fn agent_pid() -> Upid {
    "slave(1)@127.0.0.1:5051".parse().unwrap()
}

fn master() -> Upid {
    "master@127.0.0.1:5050".parse().unwrap()
}

fn sent(effects: &[Effect], name: &str) -> Vec<Bytes> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send { name: n, body, .. } if n == name => Some(body.clone()),
            _ => None,
        })
        .collect()
}

fn events(effects: &[Effect]) -> Vec<(ConnId, v1e::event::Type)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::ToExecutor { conn, event } => Some((
                *conn,
                v1e::event::Type::try_from(event.r#type.unwrap_or(0)).unwrap(),
            )),
            _ => None,
        })
        .collect()
}

fn updates(effects: &[Effect]) -> Vec<msg::StatusUpdate> {
    sent(effects, "mesos.internal.StatusUpdateMessage")
        .iter()
        .map(|b| msg::StatusUpdateMessage::decode(b.as_ref()).unwrap().update)
        .collect()
}

/// A registered agent at `t0`.
fn registered(t0: Instant) -> AgentCore {
    let mut core = AgentCore::new(config(), agent_pid(), 0.0);
    core.start(t0);
    core.tick(t0 + Duration::from_secs(1));
    let effects = core.drain();
    assert_eq!(
        sent(&effects, "mesos.internal.RegisterSlaveMessage").len(),
        1
    );
    let registered = msg::SlaveRegisteredMessage {
        slave_id: v0::SlaveId { value: "S1".into() },
        connection: Some(msg::MasterSlaveConnection {
            total_ping_timeout_seconds: Some(30.0),
        }),
    };
    core.message(
        &master(),
        "mesos.internal.SlaveRegisteredMessage",
        &registered.encode_to_vec(),
        t0 + Duration::from_secs(1),
    );
    core.drain();
    assert_eq!(core.state(), AgentState::Running);
    core
}

fn run_task(core: &mut AgentCore, id: &str, now: Instant) -> String {
    let message = msg::RunTaskMessage {
        framework: v0::FrameworkInfo {
            user: "u".into(),
            name: "f".into(),
            id: Some(v0::FrameworkId { value: "F1".into() }),
            ..Default::default()
        },
        task: v0::TaskInfo {
            name: id.into(),
            task_id: v0::TaskId { value: id.into() },
            slave_id: v0::SlaveId { value: "S1".into() },
            command: Some(v0::CommandInfo {
                value: Some("true".into()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    core.message(
        &master(),
        "mesos.internal.RunTaskMessage",
        &message.encode_to_vec(),
        now,
    );
    let effects = core.drain();
    let launch = effects
        .iter()
        .find_map(|e| match e {
            Effect::Launch(spec) => Some(spec.clone()),
            _ => None,
        })
        .expect("a launch");
    assert!(
        launch
            .sandbox
            .starts_with("/var/lib/mesos/slaves/S1/frameworks/F1/executors")
    );
    assert_eq!(
        launch.command.value.as_deref(),
        Some("/libexec/mesos-executor")
    );
    assert_eq!(
        launch.environment["MESOS_SLAVE_PID"],
        "slave(1)@127.0.0.1:5051"
    );
    launch.container_id
}

fn call(kind: v1e::call::Type, executor: &str) -> v1e::Call {
    v1e::Call {
        executor_id: mesos::wire::mesos::v1::ExecutorId {
            value: executor.into(),
        },
        framework_id: mesos::wire::mesos::v1::FrameworkId { value: "F1".into() },
        r#type: Some(kind as i32),
        ..Default::default()
    }
}

fn update_call(task: &str, state: mesos::wire::mesos::v1::TaskState) -> v1e::Call {
    update_call_for(task, task, state)
}

fn update_call_for(
    executor: &str,
    task: &str,
    state: mesos::wire::mesos::v1::TaskState,
) -> v1e::Call {
    let mut c = call(v1e::call::Type::Update, executor);
    c.update = Some(v1e::call::Update {
        status: mesos::wire::mesos::v1::TaskStatus {
            task_id: mesos::wire::mesos::v1::TaskId { value: task.into() },
            state: state as i32,
            uuid: Some(uuid_bytes()),
            ..Default::default()
        },
    });
    c
}

#[test]
fn retries_registration_with_backoff_until_registered() {
    let t0 = Instant::now();
    let mut core = AgentCore::new(config(), agent_pid(), 0.0);
    core.start(t0);
    let mut now = t0;
    let mut attempts = 0;
    for _ in 0..10 {
        now = core.next_deadline().unwrap();
        core.tick(now);
        attempts += sent(&core.drain(), "mesos.internal.RegisterSlaveMessage").len();
    }
    assert_eq!(attempts, 10);
    // Backoff is capped at a minute.
    assert!(core.next_deadline().unwrap() <= now + Duration::from_secs(60));
}

#[test]
fn ping_timeout_makes_the_agent_reregister() {
    let t0 = Instant::now();
    let mut core = registered(t0);
    let t1 = t0 + Duration::from_secs(20);
    let ping = msg::PingSlaveMessage { connected: true }.encode_to_vec();
    core.message(&master(), "mesos.internal.PingSlaveMessage", &ping, t1);
    assert_eq!(
        sent(&core.drain(), "mesos.internal.PongSlaveMessage").len(),
        1
    );
    // 30 s after the last ping, the master counts as lost.
    core.tick(t1 + Duration::from_secs(29));
    assert_eq!(core.state(), AgentState::Running);
    core.tick(t1 + Duration::from_secs(30));
    assert_eq!(core.state(), AgentState::Disconnected);
    let deadline = core.next_deadline().unwrap();
    core.tick(deadline);
    let effects = core.drain();
    let bodies = sent(&effects, "mesos.internal.ReregisterSlaveMessage");
    let message = msg::ReregisterSlaveMessage::decode(bodies[0].as_ref()).unwrap();
    assert_eq!(message.slave.id.unwrap().value, "S1");
}

#[test]
fn executor_updates_are_acknowledged_forwarded_and_retried() {
    let t0 = Instant::now();
    let mut core = registered(t0);
    run_task(&mut core, "t1", t0);

    let mut subscribe = call(v1e::call::Type::Subscribe, "t1");
    subscribe.subscribe = Some(Default::default());
    core.executor_call(subscribe, Some(7), t0).unwrap();
    let kinds: Vec<_> = events(&core.drain()).into_iter().map(|(_, k)| k).collect();
    assert_eq!(
        kinds,
        [v1e::event::Type::Subscribed, v1e::event::Type::Launch]
    );

    use mesos::wire::mesos::v1::TaskState as S;
    core.executor_call(update_call("t1", S::TaskRunning), None, t0)
        .unwrap();
    let effects = core.drain();
    assert_eq!(events(&effects), [(7, v1e::event::Type::Acknowledged)]);
    let forwarded = updates(&effects);
    assert_eq!(forwarded.len(), 1);
    assert_eq!(
        forwarded[0].latest_state,
        Some(v0::TaskState::TaskRunning as i32)
    );

    // A second update waits for the first to be acknowledged.
    core.executor_call(update_call("t1", S::TaskFinished), None, t0)
        .unwrap();
    assert!(updates(&core.drain()).is_empty());

    // Unacknowledged, the first is resent after 10 s.
    core.tick(t0 + Duration::from_secs(10));
    let resent = updates(&core.drain());
    assert_eq!(resent.len(), 1);
    assert_eq!(resent[0].uuid, forwarded[0].uuid);

    let ack = msg::StatusUpdateAcknowledgementMessage {
        slave_id: v0::SlaveId { value: "S1".into() },
        framework_id: v0::FrameworkId { value: "F1".into() },
        task_id: v0::TaskId { value: "t1".into() },
        uuid: forwarded[0].uuid.clone().unwrap(),
    };
    let t1 = t0 + Duration::from_secs(11);
    core.message(
        &master(),
        "mesos.internal.StatusUpdateAcknowledgementMessage",
        &ack.encode_to_vec(),
        t1,
    );
    let next = updates(&core.drain());
    assert_eq!(next[0].status.state, v0::TaskState::TaskFinished as i32);
}

#[test]
fn executor_calls_are_validated() {
    let t0 = Instant::now();
    let mut core = registered(t0);
    run_task(&mut core, "t1", t0);
    let mut unknown = call(v1e::call::Type::Subscribe, "nope");
    unknown.subscribe = Some(Default::default());
    let err = core.executor_call(unknown, Some(1), t0).unwrap_err();
    assert_eq!(err.status, StatusCode::BAD_REQUEST);
    let err = core
        .executor_call(
            update_call("t1", mesos::wire::mesos::v1::TaskState::TaskRunning),
            None,
            t0,
        )
        .unwrap_err();
    assert_eq!(err.status, StatusCode::FORBIDDEN);
    let mut untyped = call(v1e::call::Type::Update, "t1");
    untyped.r#type = None;
    assert_eq!(
        core.executor_call(untyped, None, t0).unwrap_err().status,
        StatusCode::BAD_REQUEST
    );
}

#[test]
fn killing_a_queued_task_kills_it_at_the_agent() {
    let t0 = Instant::now();
    let mut core = registered(t0);
    run_task(&mut core, "t1", t0);
    let kill = msg::KillTaskMessage {
        framework_id: v0::FrameworkId { value: "F1".into() },
        task_id: v0::TaskId { value: "t1".into() },
        kill_policy: None,
    };
    core.message(
        &master(),
        "mesos.internal.KillTaskMessage",
        &kill.encode_to_vec(),
        t0,
    );
    let effects = core.drain();
    let killed = updates(&effects);
    assert_eq!(killed[0].status.state, v0::TaskState::TaskKilled as i32);
    assert_eq!(
        killed[0].status.reason,
        Some(v0::task_status::Reason::TaskKilledDuringLaunch as i32)
    );
    assert!(effects.iter().any(|e| matches!(e, Effect::Destroy { .. })));
}

#[test]
fn executor_exit_fails_its_live_tasks() {
    let t0 = Instant::now();
    let mut core = registered(t0);
    let container = run_task(&mut core, "t1", t0);
    core.executor_exited(&container, Some(9), "terminated with signal Killed", t0);
    let failed = updates(&core.drain());
    assert_eq!(failed[0].status.state, v0::TaskState::TaskFailed as i32);
    assert_eq!(
        failed[0].status.reason,
        Some(v0::task_status::Reason::ExecutorTerminated as i32)
    );
    assert_eq!(
        failed[0].status.source,
        Some(v0::task_status::Source::Slave as i32)
    );
}

#[test]
fn malformed_messages_are_dropped() {
    let t0 = Instant::now();
    let mut core = registered(t0);
    core.message(
        &master(),
        "mesos.internal.RunTaskMessage",
        b"\xff\xff\xff",
        t0,
    );
    core.message(&master(), "mesos.internal.NoSuchMessage", b"", t0);
    assert!(core.drain().is_empty());
}

#[test]
fn messages_missing_required_fields_are_dropped() {
    let t0 = Instant::now();
    let mut core = AgentCore::new(config(), agent_pid(), 0.0);
    core.start(t0);
    core.tick(t0 + Duration::from_secs(1));
    core.drain();
    // An empty body decodes with prost alone, as an empty agent id.
    core.message(
        &master(),
        "mesos.internal.SlaveRegisteredMessage",
        b"",
        t0 + Duration::from_secs(1),
    );
    assert_eq!(core.state(), AgentState::Disconnected);
    assert_eq!(core.agent_id(), None);
}

// The libprocess executor protocol (libmesos's MesosExecutorDriver).

fn executor_pid() -> Upid {
    "executor(1)@127.0.0.1:40001".parse().unwrap()
}

fn stranger() -> Upid {
    "executor(1)@127.0.0.1:40999".parse().unwrap()
}

/// The messages named `name` sent to `to`.
fn sent_to(effects: &[Effect], to: &Upid, name: &str) -> Vec<Bytes> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send {
                to: t,
                name: n,
                body,
            } if t == to && n == name => Some(body.clone()),
            _ => None,
        })
        .collect()
}

/// Runs task `id` on the custom executor `E1` of framework `F1`; returns
/// the effects.
fn run_custom_task(core: &mut AgentCore, id: &str, now: Instant) -> Vec<Effect> {
    let message = msg::RunTaskMessage {
        framework: v0::FrameworkInfo {
            user: "u".into(),
            name: "f".into(),
            id: Some(v0::FrameworkId { value: "F1".into() }),
            ..Default::default()
        },
        task: v0::TaskInfo {
            name: id.into(),
            task_id: v0::TaskId { value: id.into() },
            slave_id: v0::SlaveId { value: "S1".into() },
            executor: Some(v0::ExecutorInfo {
                executor_id: v0::ExecutorId { value: "E1".into() },
                command: Some(v0::CommandInfo {
                    value: Some("/opt/my-executor".into()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            data: Some(Bytes::from_static(b"payload")),
            ..Default::default()
        },
        pid: Some(String::new()),
        ..Default::default()
    };
    core.message(
        &master(),
        "mesos.internal.RunTaskMessage",
        &message.encode_to_vec(),
        now,
    );
    core.drain()
}

fn register_message() -> Vec<u8> {
    msg::RegisterExecutorMessage {
        framework_id: v0::FrameworkId { value: "F1".into() },
        executor_id: v0::ExecutorId { value: "E1".into() },
    }
    .encode_to_vec()
}

/// A registered agent with executor `E1` running task `t1`, registered
/// from [`executor_pid`].
fn with_driver_executor(t0: Instant) -> AgentCore {
    let mut core = registered(t0);
    run_custom_task(&mut core, "t1", t0);
    core.message(
        &executor_pid(),
        "mesos.internal.RegisterExecutorMessage",
        &register_message(),
        t0,
    );
    core.drain();
    core
}

fn driver_update(task: &str, state: v0::TaskState, uuid: Bytes) -> msg::StatusUpdateMessage {
    let slave_id = Some(v0::SlaveId { value: "S1".into() });
    msg::StatusUpdateMessage {
        update: msg::StatusUpdate {
            framework_id: v0::FrameworkId { value: "F1".into() },
            executor_id: Some(v0::ExecutorId { value: "E1".into() }),
            slave_id: slave_id.clone(),
            status: v0::TaskStatus {
                task_id: v0::TaskId { value: task.into() },
                state: state as i32,
                uuid: Some(uuid.clone()),
                slave_id,
                ..Default::default()
            },
            timestamp: 1.0,
            uuid: Some(uuid),
            latest_state: None,
        },
        pid: Some(executor_pid().to_string()),
    }
}

#[test]
fn libprocess_executor_is_launched_with_the_driver_environment() {
    let t0 = Instant::now();
    let mut core = registered(t0);
    let effects = run_custom_task(&mut core, "t1", t0);
    let spec = effects
        .iter()
        .find_map(|e| match e {
            Effect::Launch(spec) => Some(spec.clone()),
            _ => None,
        })
        .expect("a launch");
    let env = &spec.environment;
    assert_eq!(env["MESOS_FRAMEWORK_ID"], "F1");
    assert_eq!(env["MESOS_EXECUTOR_ID"], "E1");
    assert_eq!(env["MESOS_SLAVE_ID"], "S1");
    assert_eq!(env["MESOS_SLAVE_PID"], "slave(1)@127.0.0.1:5051");
    assert_eq!(env["MESOS_AGENT_ENDPOINT"], "127.0.0.1:5051");
    assert_eq!(env["MESOS_DIRECTORY"], spec.sandbox.display().to_string());
    assert_eq!(env["MESOS_SANDBOX"], spec.sandbox.display().to_string());
    assert_eq!(env["MESOS_CHECKPOINT"], "0");
    assert_eq!(env["MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"], "5secs");
    assert_eq!(env["LIBPROCESS_PORT"], "0");
    assert_eq!(spec.command.value.as_deref(), Some("/opt/my-executor"));
}

#[test]
fn libprocess_executor_registers_and_gets_its_queued_tasks() {
    let t0 = Instant::now();
    let mut core = registered(t0);
    run_custom_task(&mut core, "t1", t0);
    // A second task for the same executor waits for its registration.
    let effects = run_custom_task(&mut core, "t2", t0);
    assert!(!effects.iter().any(|e| matches!(e, Effect::Launch(_))));

    core.message(
        &executor_pid(),
        "mesos.internal.RegisterExecutorMessage",
        &register_message(),
        t0,
    );
    let effects = core.drain();
    assert!(effects.contains(&Effect::Link(executor_pid())));
    let registered = sent_to(
        &effects,
        &executor_pid(),
        "mesos.internal.ExecutorRegisteredMessage",
    );
    let registered = msg::ExecutorRegisteredMessage::decode(registered[0].as_ref()).unwrap();
    assert_eq!(registered.executor_info.executor_id.value, "E1");
    assert_eq!(registered.executor_info.framework_id.unwrap().value, "F1");
    assert_eq!(registered.framework_id.value, "F1");
    assert_eq!(registered.framework_info.name, "f");
    assert_eq!(registered.slave_id.value, "S1");
    assert_eq!(registered.slave_info.id.unwrap().value, "S1");
    let tasks: Vec<_> = sent_to(&effects, &executor_pid(), "mesos.internal.RunTaskMessage")
        .iter()
        .map(|b| msg::RunTaskMessage::decode(b.as_ref()).unwrap())
        .collect();
    let ids: Vec<_> = tasks
        .iter()
        .map(|m| m.task.task_id.value.as_str())
        .collect();
    assert_eq!(ids, ["t1", "t2"]);
    assert_eq!(tasks[0].task.data.as_deref(), Some(&b"payload"[..]));
    assert_eq!(tasks[0].framework.id.as_ref().unwrap().value, "F1");
    assert_eq!(tasks[0].pid.as_deref(), Some("@0.0.0.0:0"));
    // The registration timeout (a minute) no longer applies.
    let ping = msg::PingSlaveMessage { connected: true }.encode_to_vec();
    let mut now = t0;
    for _ in 0..3 {
        now += Duration::from_secs(25);
        core.message(&master(), "mesos.internal.PingSlaveMessage", &ping, now);
        core.tick(now);
        let effects = core.drain();
        assert!(!effects.iter().any(|e| matches!(e, Effect::Destroy { .. })));
    }

    // A task arriving now goes straight to the executor.
    let effects = run_custom_task(&mut core, "t3", now);
    let sent = sent_to(&effects, &executor_pid(), "mesos.internal.RunTaskMessage");
    assert_eq!(
        msg::RunTaskMessage::decode(sent[0].as_ref())
            .unwrap()
            .task
            .task_id
            .value,
        "t3"
    );
}

#[test]
fn libprocess_executor_updates_are_forwarded_and_acknowledged() {
    let t0 = Instant::now();
    let mut core = with_driver_executor(t0);
    let uuid = uuid_bytes();
    let update = driver_update("t1", v0::TaskState::TaskRunning, uuid.clone());
    core.message(
        &executor_pid(),
        "mesos.internal.StatusUpdateMessage",
        &update.encode_to_vec(),
        t0,
    );
    let effects = core.drain();
    let forwarded = updates(&effects);
    assert_eq!(forwarded.len(), 1);
    assert_eq!(
        forwarded[0].status.source,
        Some(v0::task_status::Source::Executor as i32)
    );
    assert_eq!(forwarded[0].uuid.as_ref(), Some(&uuid));
    let acks = sent_to(
        &effects,
        &executor_pid(),
        "mesos.internal.StatusUpdateAcknowledgementMessage",
    );
    let ack = msg::StatusUpdateAcknowledgementMessage::decode(acks[0].as_ref()).unwrap();
    assert_eq!(ack.uuid, uuid);
    assert_eq!(ack.task_id.value, "t1");
    assert_eq!(ack.framework_id.value, "F1");
    assert_eq!(ack.slave_id.value, "S1");
    // The task is RUNNING in the agent's books.
    let state = super::super::json::state(&core);
    let task = &state["frameworks"][0]["executors"][0]["tasks"][0];
    assert_eq!(task["state"], "TASK_RUNNING");
}

#[test]
fn updates_not_from_a_registered_executor_are_refused() {
    let t0 = Instant::now();
    let mut core = with_driver_executor(t0);
    let finished = driver_update("t1", v0::TaskState::TaskFinished, uuid_bytes());
    core.message(
        &stranger(),
        "mesos.internal.StatusUpdateMessage",
        &finished.encode_to_vec(),
        t0,
    );
    assert!(core.drain().is_empty());
    // From the executor, but not valid.
    let mut no_uuid = finished.clone();
    no_uuid.update.uuid = None;
    let mut other_agent = finished.clone();
    other_agent.update.slave_id = Some(v0::SlaveId { value: "S9".into() });
    let mut unknown_framework = finished.clone();
    unknown_framework.update.framework_id.value = "F9".into();
    for bad in [no_uuid, other_agent, unknown_framework] {
        core.message(
            &executor_pid(),
            "mesos.internal.StatusUpdateMessage",
            &bad.encode_to_vec(),
            t0,
        );
        assert!(core.drain().is_empty());
    }
    core.message(
        &executor_pid(),
        "mesos.internal.StatusUpdateMessage",
        b"\x0a\xff",
        t0,
    );
    assert!(core.drain().is_empty());
    // The task is untouched: the real executor's update still goes through.
    let running = driver_update("t1", v0::TaskState::TaskRunning, uuid_bytes());
    core.message(
        &executor_pid(),
        "mesos.internal.StatusUpdateMessage",
        &running.encode_to_vec(),
        t0,
    );
    let forwarded = updates(&core.drain());
    assert_eq!(forwarded[0].status.state, v0::TaskState::TaskRunning as i32);
}

#[test]
fn staging_from_a_libprocess_executor_shuts_it_down() {
    let t0 = Instant::now();
    let mut core = with_driver_executor(t0);
    let staging = driver_update("t1", v0::TaskState::TaskStaging, uuid_bytes());
    core.message(
        &executor_pid(),
        "mesos.internal.StatusUpdateMessage",
        &staging.encode_to_vec(),
        t0,
    );
    let effects = core.drain();
    assert!(updates(&effects).is_empty());
    assert_eq!(
        sent_to(
            &effects,
            &executor_pid(),
            "mesos.internal.ShutdownExecutorMessage"
        )
        .len(),
        1
    );
}

#[test]
fn framework_messages_reach_libprocess_executors_and_back() {
    let t0 = Instant::now();
    let mut core = with_driver_executor(t0);
    let to_executor = msg::FrameworkToExecutorMessage {
        slave_id: v0::SlaveId { value: "S1".into() },
        framework_id: v0::FrameworkId { value: "F1".into() },
        executor_id: v0::ExecutorId { value: "E1".into() },
        data: Bytes::from_static(b"ping"),
    };
    core.message(
        &master(),
        "mesos.internal.FrameworkToExecutorMessage",
        &to_executor.encode_to_vec(),
        t0,
    );
    let effects = core.drain();
    let delivered = sent_to(
        &effects,
        &executor_pid(),
        "mesos.internal.FrameworkToExecutorMessage",
    );
    assert_eq!(
        msg::FrameworkToExecutorMessage::decode(delivered[0].as_ref())
            .unwrap()
            .data,
        &b"ping"[..]
    );

    let reply = msg::ExecutorToFrameworkMessage {
        slave_id: v0::SlaveId { value: "S1".into() },
        framework_id: v0::FrameworkId { value: "F1".into() },
        executor_id: v0::ExecutorId { value: "E1".into() },
        data: Bytes::from_static(b"pong"),
    };
    // From someone else, it goes nowhere.
    core.message(
        &stranger(),
        "mesos.internal.ExecutorToFrameworkMessage",
        &reply.encode_to_vec(),
        t0,
    );
    assert!(core.drain().is_empty());
    core.message(
        &executor_pid(),
        "mesos.internal.ExecutorToFrameworkMessage",
        &reply.encode_to_vec(),
        t0,
    );
    let effects = core.drain();
    // The framework has no libprocess pid: through the master.
    let forwarded = sent_to(
        &effects,
        &master(),
        "mesos.internal.ExecutorToFrameworkMessage",
    );
    let forwarded = msg::ExecutorToFrameworkMessage::decode(forwarded[0].as_ref()).unwrap();
    assert_eq!(forwarded.data, &b"pong"[..]);
    assert_eq!(forwarded.executor_id.value, "E1");
    assert_eq!(forwarded.slave_id.value, "S1");
}

#[test]
fn kill_and_shutdown_reach_libprocess_executors() {
    let t0 = Instant::now();
    let mut core = with_driver_executor(t0);
    let kill = msg::KillTaskMessage {
        framework_id: v0::FrameworkId { value: "F1".into() },
        task_id: v0::TaskId { value: "t1".into() },
        kill_policy: None,
    };
    core.message(
        &master(),
        "mesos.internal.KillTaskMessage",
        &kill.encode_to_vec(),
        t0,
    );
    let effects = core.drain();
    let kills = sent_to(&effects, &executor_pid(), "mesos.internal.KillTaskMessage");
    assert_eq!(
        msg::KillTaskMessage::decode(kills[0].as_ref())
            .unwrap()
            .task_id
            .value,
        "t1"
    );

    let shutdown = msg::ShutdownExecutorMessage {
        executor_id: Some(v0::ExecutorId { value: "E1".into() }),
        framework_id: Some(v0::FrameworkId { value: "F1".into() }),
    };
    core.message(
        &master(),
        "mesos.internal.ShutdownExecutorMessage",
        &shutdown.encode_to_vec(),
        t0,
    );
    let effects = core.drain();
    assert_eq!(
        sent_to(
            &effects,
            &executor_pid(),
            "mesos.internal.ShutdownExecutorMessage"
        )
        .len(),
        1
    );
    assert!(!effects.iter().any(|e| matches!(e, Effect::Destroy { .. })));
    // Killed once the grace period has passed.
    core.tick(t0 + Duration::from_secs(5));
    assert!(
        core.drain()
            .iter()
            .any(|e| matches!(e, Effect::Destroy { .. }))
    );
}

#[test]
fn registrations_the_agent_does_not_expect_are_refused() {
    let t0 = Instant::now();
    let mut core = registered(t0);
    // Nothing launched: the framework is unknown.
    core.message(
        &stranger(),
        "mesos.internal.RegisterExecutorMessage",
        &register_message(),
        t0,
    );
    let effects = core.drain();
    assert_eq!(effects.len(), 1);
    assert_eq!(
        sent_to(
            &effects,
            &stranger(),
            "mesos.internal.ShutdownExecutorMessage"
        )
        .len(),
        1
    );

    run_custom_task(&mut core, "t1", t0);
    let unknown_executor = msg::RegisterExecutorMessage {
        framework_id: v0::FrameworkId { value: "F1".into() },
        executor_id: v0::ExecutorId { value: "E9".into() },
    };
    core.message(
        &stranger(),
        "mesos.internal.RegisterExecutorMessage",
        &unknown_executor.encode_to_vec(),
        t0,
    );
    let effects = core.drain();
    assert_eq!(effects.len(), 1);

    core.message(
        &executor_pid(),
        "mesos.internal.RegisterExecutorMessage",
        &register_message(),
        t0,
    );
    core.drain();
    // Registered once; a second registration (or a re-registration) is
    // refused and changes nothing.
    for name in [
        "mesos.internal.RegisterExecutorMessage",
        "mesos.internal.ReregisterExecutorMessage",
    ] {
        let body = if name.ends_with("ReregisterExecutorMessage") {
            msg::ReregisterExecutorMessage {
                executor_id: v0::ExecutorId { value: "E1".into() },
                framework_id: v0::FrameworkId { value: "F1".into() },
                tasks: Vec::new(),
                updates: Vec::new(),
            }
            .encode_to_vec()
        } else {
            register_message()
        };
        core.message(&stranger(), name, &body, t0);
        let effects = core.drain();
        assert_eq!(effects.len(), 1, "{name}: {effects:?}");
        assert_eq!(
            sent_to(
                &effects,
                &stranger(),
                "mesos.internal.ShutdownExecutorMessage"
            )
            .len(),
            1
        );
    }
    core.message(
        &stranger(),
        "mesos.internal.RegisterExecutorMessage",
        b"garbage",
        t0,
    );
    assert!(core.drain().is_empty());
    let effects = run_custom_task(&mut core, "t2", t0);
    assert_eq!(
        sent_to(&effects, &executor_pid(), "mesos.internal.RunTaskMessage").len(),
        1
    );
}

#[test]
fn a_registering_executor_may_reregister() {
    let t0 = Instant::now();
    let mut core = registered(t0);
    run_custom_task(&mut core, "t1", t0);
    let uuid = uuid_bytes();
    let reregister = msg::ReregisterExecutorMessage {
        executor_id: v0::ExecutorId { value: "E1".into() },
        framework_id: v0::FrameworkId { value: "F1".into() },
        tasks: Vec::new(),
        updates: vec![driver_update("t1", v0::TaskState::TaskRunning, uuid.clone()).update],
    };
    core.message(
        &executor_pid(),
        "mesos.internal.ReregisterExecutorMessage",
        &reregister.encode_to_vec(),
        t0,
    );
    let effects = core.drain();
    let answer = sent_to(
        &effects,
        &executor_pid(),
        "mesos.internal.ExecutorReregisteredMessage",
    );
    let answer = msg::ExecutorReregisteredMessage::decode(answer[0].as_ref()).unwrap();
    assert_eq!(answer.slave_id.value, "S1");
    assert_eq!(answer.slave_info.id.unwrap().value, "S1");
    // Its unacknowledged update is taken and acknowledged.
    assert_eq!(updates(&effects)[0].uuid.as_ref(), Some(&uuid));
    assert_eq!(
        sent_to(
            &effects,
            &executor_pid(),
            "mesos.internal.StatusUpdateAcknowledgementMessage"
        )
        .len(),
        1
    );
    assert_eq!(
        sent_to(&effects, &executor_pid(), "mesos.internal.RunTaskMessage").len(),
        1
    );
}

#[test]
fn libprocess_executor_exit_is_reported_to_the_master() {
    let t0 = Instant::now();
    let mut core = registered(t0);
    let effects = run_custom_task(&mut core, "t1", t0);
    let container_id = effects
        .iter()
        .find_map(|e| match e {
            Effect::Launch(spec) => Some(spec.container_id.clone()),
            _ => None,
        })
        .unwrap();
    core.message(
        &executor_pid(),
        "mesos.internal.RegisterExecutorMessage",
        &register_message(),
        t0,
    );
    core.drain();
    core.executor_exited(&container_id, Some(0), "exited with status 0", t0);
    let effects = core.drain();
    let failed = updates(&effects);
    assert_eq!(failed[0].status.state, v0::TaskState::TaskFailed as i32);
    let exited = sent_to(&effects, &master(), "mesos.internal.ExitedExecutorMessage");
    let exited = msg::ExitedExecutorMessage::decode(exited[0].as_ref()).unwrap();
    assert_eq!(exited.executor_id.value, "E1");
    assert_eq!(exited.status, 0);
    // Messages from its old address are now refused.
    let late = driver_update("t1", v0::TaskState::TaskFinished, uuid_bytes());
    core.message(
        &executor_pid(),
        "mesos.internal.StatusUpdateMessage",
        &late.encode_to_vec(),
        t0,
    );
    assert!(updates(&core.drain()).is_empty());
}

#[test]
fn master_messages_from_anyone_else_are_ignored() {
    let t0 = Instant::now();
    let mut core = with_driver_executor(t0);
    let f1 = v0::FrameworkId { value: "F1".into() };
    let e1 = v0::ExecutorId { value: "E1".into() };
    let kill = msg::KillTaskMessage {
        framework_id: f1.clone(),
        task_id: v0::TaskId { value: "t1".into() },
        kill_policy: None,
    }
    .encode_to_vec();
    let shutdown_executor = msg::ShutdownExecutorMessage {
        executor_id: Some(e1.clone()),
        framework_id: Some(f1.clone()),
    }
    .encode_to_vec();
    let shutdown_framework = msg::ShutdownFrameworkMessage {
        framework_id: f1.clone(),
    }
    .encode_to_vec();
    let ack = msg::StatusUpdateAcknowledgementMessage {
        slave_id: v0::SlaveId { value: "S1".into() },
        framework_id: f1,
        task_id: v0::TaskId { value: "t1".into() },
        uuid: uuid_bytes(),
    }
    .encode_to_vec();
    let other_master: Upid = "master@127.0.0.1:5999".parse().unwrap();
    let cases: [(&Upid, &str, &[u8]); 6] = [
        (&stranger(), "mesos.internal.KillTaskMessage", &kill),
        (
            &stranger(),
            "mesos.internal.ShutdownExecutorMessage",
            &shutdown_executor,
        ),
        (
            &stranger(),
            "mesos.internal.ShutdownFrameworkMessage",
            &shutdown_framework,
        ),
        (&stranger(), "mesos.internal.ShutdownMessage", b""),
        (
            &other_master,
            "mesos.internal.StatusUpdateAcknowledgementMessage",
            &ack,
        ),
        (&executor_pid(), "mesos.internal.KillTaskMessage", &kill),
    ];
    for (from, name, body) in cases {
        core.message(from, name, body, t0);
        assert!(core.drain().is_empty(), "{name} from {from} was taken");
    }
    assert_eq!(core.state(), AgentState::Running);
    run_custom_task(&mut core, "t2", t0);
    // From the master, the same kill reaches the executor.
    core.message(&master(), "mesos.internal.KillTaskMessage", &kill, t0);
    let effects = core.drain();
    assert_eq!(
        sent_to(&effects, &executor_pid(), "mesos.internal.KillTaskMessage").len(),
        1
    );
}

#[test]
fn a_memory_limitation_ends_the_task_whatever_the_executor_reports() {
    let t0 = Instant::now();
    let mut core = registered(t0);
    let container_id = run_task(&mut core, "hog", t0);
    let mut subscribe = call(v1e::call::Type::Subscribe, "hog");
    subscribe.subscribe = Some(Default::default());
    core.executor_call(subscribe, Some(3), t0).unwrap();
    core.drain();
    use mesos::wire::mesos::v1::TaskState as S;
    core.executor_call(update_call("hog", S::TaskRunning), None, t0)
        .unwrap();
    core.drain();

    let fid = FrameworkId::from(&v0::FrameworkId { value: "F1".into() });
    let eid = ExecutorId::from(&v0::ExecutorId {
        value: "hog".into(),
    });
    assert_eq!(core.container_of(&fid, &eid), Some(container_id.as_str()));
    let mem = mesos::resources::Resources::parse("mem:96")
        .unwrap()
        .to_wire();
    core.container_limited(
        &container_id,
        v0::task_status::Reason::ContainerLimitationMemory,
        "Memory limit exceeded: Requested: 96MB Maximum Used: 96MB\n",
        mem.clone(),
    );
    let effects = core.drain();
    assert!(effects.contains(&Effect::Destroy {
        container_id: container_id.clone()
    }));
    // A repeat (the kernel's event after the check) changes nothing.
    core.container_limited(
        &container_id,
        v0::task_status::Reason::ContainerLimitationMemory,
        "again",
        Vec::new(),
    );
    assert!(core.drain().is_empty());

    // The executor saw its task killed by a signal and says so: the agent
    // reports the limitation instead, and acknowledges the executor.
    core.executor_call(update_call("hog", S::TaskFailed), None, t0)
        .unwrap();
    let effects = core.drain();
    assert_eq!(events(&effects), [(3, v1e::event::Type::Acknowledged)]);
    core.executor_exited(&container_id, Some(9), "terminated with signal Killed", t0);
    let effects = core.drain();
    assert!(updates(&effects).is_empty(), "no second update of the task");

    let executor = core
        .frameworks
        .get(&fid)
        .and_then(|f| {
            f.completed_executors
                .back()
                .or_else(|| f.executors.get(&eid))
        })
        .expect("the executor is known");
    let task = executor
        .terminated
        .values()
        .chain(executor.completed.iter())
        .find(|t| t.task_id.value == "hog")
        .expect("the task is terminal");
    let status = task.statuses.last().unwrap();
    assert_eq!(status.state, v0::TaskState::TaskFailed as i32);
    assert_eq!(
        status.reason,
        Some(v0::task_status::Reason::ContainerLimitationMemory as i32)
    );
    assert_eq!(status.source, Some(v0::task_status::Source::Slave as i32));
    assert!(status.message().starts_with("Memory limit exceeded"));
    assert_eq!(status.limitation.as_ref().unwrap().resources, mem);
}

#[test]
fn container_limits_add_the_tasks_to_the_executor() {
    use crate::containerizer::ContainerLimits;
    use std::collections::HashMap;
    let executor = mesos::resources::Resources::parse("cpus:0.1;mem:32")
        .unwrap()
        .to_wire();
    let task = mesos::resources::Resources::parse("cpus:0.5;mem:64")
        .unwrap()
        .to_wire();
    let none = HashMap::new();
    let limits = ContainerLimits::compute(&executor, [(&task[..], &none)], false);
    assert_eq!(limits.cpus, Some(0.6));
    assert_eq!(limits.mem, Some(96.0));
    assert_eq!((limits.cpus_limit, limits.mem_limit), (None, None));

    let limited = HashMap::from([
        ("cpus".to_string(), v0::value::Scalar { value: 2.0 }),
        ("mem".to_string(), v0::value::Scalar { value: 128.0 }),
    ]);
    let limits = ContainerLimits::compute(&executor, [(&task[..], &limited)], false);
    assert!((limits.cpus_limit.unwrap() - 2.1).abs() < 1e-9);
    assert_eq!(limits.mem_limit, Some(160.0));
    // A task without a cpus limit lifts it, unless CFS caps everyone.
    let both = [(&task[..], &limited), (&task[..], &none)];
    let limits = ContainerLimits::compute(&executor, both, false);
    assert_eq!(limits.cpus_limit, None);
    let limits = ContainerLimits::compute(&executor, both, true);
    assert!((limits.cpus_limit.unwrap() - 2.6).abs() < 1e-9);
}

#[test]
fn a_task_for_a_running_executor_grows_its_container() {
    let t0 = Instant::now();
    let mut core = registered(t0);
    let resources = |text: &str| mesos::resources::Resources::parse(text).unwrap().to_wire();
    let message = |id: &str| msg::RunTaskMessage {
        framework: v0::FrameworkInfo {
            user: "u".into(),
            name: "f".into(),
            id: Some(v0::FrameworkId { value: "F1".into() }),
            ..Default::default()
        },
        task: v0::TaskInfo {
            name: id.into(),
            task_id: v0::TaskId { value: id.into() },
            slave_id: v0::SlaveId { value: "S1".into() },
            resources: resources("cpus:1;mem:100"),
            executor: Some(v0::ExecutorInfo {
                executor_id: v0::ExecutorId { value: "E".into() },
                command: Some(v0::CommandInfo {
                    value: Some("my-executor".into()),
                    ..Default::default()
                }),
                resources: resources("cpus:0.5;mem:50"),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let run = |core: &mut AgentCore, id: &str| {
        core.message(
            &master(),
            "mesos.internal.RunTaskMessage",
            &message(id).encode_to_vec(),
            t0,
        );
        core.drain()
    };
    let effects = run(&mut core, "t1");
    let launch = effects
        .iter()
        .find_map(|e| match e {
            Effect::Launch(spec) => Some(spec.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(launch.limits.cpus, Some(1.5));
    assert_eq!(launch.limits.mem, Some(150.0));
    let mut subscribe = call(v1e::call::Type::Subscribe, "E");
    subscribe.subscribe = Some(Default::default());
    core.executor_call(subscribe, Some(1), t0).unwrap();
    core.drain();
    let effects = run(&mut core, "t2");
    let update = effects
        .iter()
        .find_map(|e| match e {
            Effect::Update {
                container_id,
                limits,
            } => Some((container_id.clone(), *limits)),
            _ => None,
        })
        .expect("an update of the container");
    assert_eq!(update.0, launch.container_id);
    assert_eq!(update.1.cpus, Some(2.5));
    assert_eq!(update.1.mem, Some(250.0));
}

fn docker_task(core: &mut AgentCore, id: &str, now: Instant) -> Vec<Effect> {
    let message = msg::RunTaskMessage {
        framework: v0::FrameworkInfo {
            user: "u".into(),
            name: "f".into(),
            id: Some(v0::FrameworkId { value: "F1".into() }),
            ..Default::default()
        },
        task: v0::TaskInfo {
            name: id.into(),
            task_id: v0::TaskId { value: id.into() },
            slave_id: v0::SlaveId { value: "S1".into() },
            command: Some(v0::CommandInfo {
                value: Some("echo hello".into()),
                ..Default::default()
            }),
            container: Some(v0::ContainerInfo {
                r#type: v0::container_info::Type::Docker as i32,
                docker: Some(v0::container_info::DockerInfo {
                    image: "busybox".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    core.message(
        &master(),
        "mesos.internal.RunTaskMessage",
        &message.encode_to_vec(),
        now,
    );
    core.drain()
}

#[test]
fn docker_tasks_need_the_docker_containerizer() {
    let t0 = Instant::now();
    let mut core = registered(t0);
    let effects = docker_task(&mut core, "d1", t0 + Duration::from_secs(2));
    assert!(!effects.iter().any(|e| matches!(e, Effect::Launch(_))));
    let failed = updates(&effects);
    assert_eq!(failed.len(), 1);
    let status = &failed[0].status;
    assert_eq!(status.state, v0::TaskState::TaskFailed as i32);
    assert_eq!(
        status.reason,
        Some(v0::task_status::Reason::ContainerLaunchFailed as i32)
    );
    assert!(
        status
            .message
            .as_deref()
            .unwrap_or_default()
            .starts_with("None of the enabled containerizers (mesos) could create a container"),
        "{status:?}"
    );

    core.config.docker = Some(crate::containerizer::docker::DockerConfig::default());
    let effects = docker_task(&mut core, "d2", t0 + Duration::from_secs(3));
    let launch = effects
        .iter()
        .find_map(|e| match e {
            Effect::Launch(spec) => Some(spec.clone()),
            _ => None,
        })
        .expect("a launch");
    assert_eq!(
        launch.command.value.as_deref(),
        Some("/libexec/mesos-docker-executor")
    );
    let name = format!("--container=mesos-{}", launch.container_id);
    assert!(launch.command.arguments.contains(&name), "{launch:?}");
    assert!(
        launch
            .command
            .arguments
            .contains(&format!("--sandbox_directory={}", launch.sandbox.display()))
    );
}

fn run_task_group(core: &mut AgentCore, tasks: &[&str], now: Instant) -> Vec<Effect> {
    let group = msg::RunTaskGroupMessage {
        framework: v0::FrameworkInfo {
            user: "u".into(),
            name: "f".into(),
            id: Some(v0::FrameworkId { value: "F1".into() }),
            ..Default::default()
        },
        executor: v0::ExecutorInfo {
            r#type: Some(v0::executor_info::Type::Default as i32),
            executor_id: v0::ExecutorId {
                value: "pod".into(),
            },
            framework_id: Some(v0::FrameworkId { value: "F1".into() }),
            ..Default::default()
        },
        task_group: v0::TaskGroupInfo {
            tasks: tasks
                .iter()
                .map(|id| v0::TaskInfo {
                    name: id.to_string(),
                    task_id: v0::TaskId {
                        value: id.to_string(),
                    },
                    slave_id: v0::SlaveId { value: "S1".into() },
                    command: Some(v0::CommandInfo {
                        value: Some("true".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .collect(),
        },
        ..Default::default()
    };
    core.message(
        &master(),
        "mesos.internal.RunTaskGroupMessage",
        &group.encode_to_vec(),
        now,
    );
    core.drain()
}

fn launch_groups(effects: &[Effect]) -> Vec<Vec<String>> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::ToExecutor { event, .. } => event.launch_group.as_ref().map(|l| {
                l.task_group
                    .tasks
                    .iter()
                    .map(|t| t.task_id.value.clone())
                    .collect()
            }),
            _ => None,
        })
        .collect()
}

#[test]
fn a_task_group_runs_on_the_default_executor() {
    let t0 = Instant::now();
    let mut core = registered(t0);
    let effects = run_task_group(&mut core, &["a", "b"], t0);
    let launches: Vec<_> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Launch(spec) => Some(spec.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(launches.len(), 1, "{effects:?}");
    assert_eq!(
        launches[0].command.value.as_deref(),
        Some("/libexec/mesos-default-executor")
    );
    assert_eq!(
        launches[0].command.arguments,
        ["mesos-default-executor", "--launcher_dir=/libexec"]
    );
    assert!(
        launches[0]
            .sandbox
            .starts_with("/var/lib/mesos/slaves/S1/frameworks/F1/executors/pod/runs")
    );
    assert_eq!(launches[0].environment["MESOS_EXECUTOR_ID"], "pod");

    // Subscribing delivers the group as one LAUNCH_GROUP.
    let mut subscribe = call(v1e::call::Type::Subscribe, "pod");
    subscribe.subscribe = Some(Default::default());
    core.executor_call(subscribe, Some(3), t0).unwrap();
    let effects = core.drain();
    let kinds: Vec<_> = events(&effects).into_iter().map(|(_, k)| k).collect();
    assert_eq!(
        kinds,
        [v1e::event::Type::Subscribed, v1e::event::Type::LaunchGroup]
    );
    assert_eq!(launch_groups(&effects), [vec!["a", "b"]]);

    // A second group goes straight to the running executor.
    let effects = run_task_group(&mut core, &["c"], t0);
    assert!(!effects.iter().any(|e| matches!(e, Effect::Launch(_))));
    assert_eq!(launch_groups(&effects), [vec!["c"]]);
    // ... and its container's limits grow to hold it.
    let container_id = &launches[0].container_id;
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::Update { container_id: c, .. } if c == container_id)),
        "{effects:?}"
    );

    // Updates of group tasks are forwarded like any other.
    core.executor_call(
        update_call_for("pod", "b", mesos::wire::mesos::v1::TaskState::TaskRunning),
        None,
        t0,
    )
    .unwrap();
    let forwarded = updates(&core.drain());
    assert_eq!(forwarded.len(), 1);
    assert_eq!(forwarded[0].status.task_id.value, "b");

    // A duplicate task id fails the whole group.
    let effects = run_task_group(&mut core, &["d", "a"], t0);
    let failed = updates(&effects);
    assert_eq!(failed.len(), 2);
    for update in &failed {
        assert_eq!(update.status.state, v0::TaskState::TaskError as i32);
        assert_eq!(
            update.status.reason,
            Some(v0::task_status::Reason::TaskGroupInvalid as i32)
        );
    }
}

#[test]
fn killing_a_queued_task_of_a_group_kills_the_group() {
    let t0 = Instant::now();
    let mut core = registered(t0);
    run_task_group(&mut core, &["a", "b"], t0);
    let kill = msg::KillTaskMessage {
        framework_id: v0::FrameworkId { value: "F1".into() },
        task_id: v0::TaskId { value: "b".into() },
        kill_policy: None,
    };
    core.message(
        &master(),
        "mesos.internal.KillTaskMessage",
        &kill.encode_to_vec(),
        t0,
    );
    let effects = core.drain();
    let mut killed: Vec<_> = updates(&effects)
        .into_iter()
        .map(|u| {
            assert_eq!(u.status.state, v0::TaskState::TaskKilled as i32);
            u.status.task_id.value
        })
        .collect();
    killed.sort();
    assert_eq!(killed, ["a", "b"]);
    // Nothing is left for the executor: it is stopped.
    assert!(effects.iter().any(|e| matches!(e, Effect::Destroy { .. })));
}

#[test]
fn a_memory_limitation_wins_over_a_libprocess_executors_report_too() {
    let t0 = Instant::now();
    let mut core = with_driver_executor(t0);
    let fid = FrameworkId::from(&v0::FrameworkId { value: "F1".into() });
    let eid = ExecutorId::from(&v0::ExecutorId { value: "E1".into() });
    let container_id = core.container_of(&fid, &eid).unwrap().to_string();
    core.container_limited(
        &container_id,
        v0::task_status::Reason::ContainerLimitationMemory,
        "Memory limit exceeded",
        Vec::new(),
    );
    core.drain();

    let uuid = uuid_bytes();
    let failed = driver_update("t1", v0::TaskState::TaskFailed, uuid.clone());
    core.message(
        &executor_pid(),
        "mesos.internal.StatusUpdateMessage",
        &failed.encode_to_vec(),
        t0,
    );
    let effects = core.drain();
    // The executor is acknowledged; the master hears of the limitation.
    let acks = sent_to(
        &effects,
        &executor_pid(),
        "mesos.internal.StatusUpdateAcknowledgementMessage",
    );
    assert_eq!(acks.len(), 1, "{effects:?}");
    let ack = msg::StatusUpdateAcknowledgementMessage::decode(acks[0].as_ref()).unwrap();
    assert_eq!(ack.uuid, uuid);
    let forwarded = updates(&effects);
    assert_eq!(forwarded.len(), 1, "{effects:?}");
    assert_eq!(
        forwarded[0].status.reason,
        Some(v0::task_status::Reason::ContainerLimitationMemory as i32)
    );
    assert_eq!(
        forwarded[0].status.source,
        Some(v0::task_status::Source::Slave as i32)
    );
}

#[test]
fn ended_executors_and_frameworks_are_garbage_collected() {
    let t0 = Instant::now();
    let mut core = registered(t0);
    let message = msg::RunTaskMessage {
        framework: v0::FrameworkInfo {
            user: "u".into(),
            name: "f".into(),
            id: Some(v0::FrameworkId { value: "F1".into() }),
            ..Default::default()
        },
        task: v0::TaskInfo {
            name: "t1".into(),
            task_id: v0::TaskId { value: "t1".into() },
            slave_id: v0::SlaveId { value: "S1".into() },
            command: Some(v0::CommandInfo {
                value: Some("true".into()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    core.message(
        &master(),
        "mesos.internal.RunTaskMessage",
        &message.encode_to_vec(),
        t0,
    );
    let effects = core.drain();
    let framework_dir = PathBuf::from("/var/lib/mesos/slaves/S1/frameworks/F1");
    let executor_dir = framework_dir.join("executors/t1");
    // A launch keeps its framework's and executor's directories.
    assert!(effects.contains(&Effect::Unschedule(vec![
        framework_dir.clone(),
        executor_dir.clone()
    ])));
    let container = effects
        .iter()
        .find_map(|e| match e {
            Effect::Launch(spec) => Some(spec.container_id.clone()),
            _ => None,
        })
        .unwrap();

    core.executor_exited(&container, Some(0), "exited", t0);
    let exit_effects = core.drain();
    let failed = updates(&exit_effects);
    let collected = |effects: &[Effect]| -> Vec<PathBuf> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::GarbageCollect(paths) => Some(paths.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    };
    // The ended run and its executor's directory go once it exited...
    assert_eq!(
        collected(&exit_effects),
        [executor_dir.join("runs").join(&container), executor_dir]
    );
    // ...its framework's once its last update is acknowledged.
    let ack = msg::StatusUpdateAcknowledgementMessage {
        slave_id: v0::SlaveId { value: "S1".into() },
        framework_id: v0::FrameworkId { value: "F1".into() },
        task_id: v0::TaskId { value: "t1".into() },
        uuid: failed[0].uuid.clone().unwrap(),
    };
    core.message(
        &master(),
        "mesos.internal.StatusUpdateAcknowledgementMessage",
        &ack.encode_to_vec(),
        t0,
    );
    let effects = core.drain();
    assert_eq!(collected(&effects), [framework_dir]);
}
