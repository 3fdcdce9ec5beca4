//! Scenario tests of the agent core: inputs and time in, effects out.
use super::*;

fn config() -> AgentConfig {
    let master: Upid = "master@127.0.0.1:5050".parse().unwrap();
    let resources = mesos::resources::Resources::parse("cpus:2;mem:1024")
        .unwrap()
        .to_wire();
    let mut config = AgentConfig::new(master, "/work".into(), resources);
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
            .starts_with("/work/slaves/S1/frameworks/F1/executors")
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
    let mut c = call(v1e::call::Type::Update, task);
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
