//! Recovery scenarios of the agent core: a checkpoint in, the
//! re-registration, reconnect requests, resent updates and executor
//! timeouts out.
use super::*;
use crate::checkpoint::{
    Checkpoint, RecoveredAgent, RecoveredExecutor, RecoveredFramework, RecoveredTask,
};
use crate::config::RecoverMode;

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

fn executor_pid() -> Upid {
    "executor(1)@127.0.0.1:7000".parse().unwrap()
}

fn sent(effects: &[Effect], name: &str) -> Vec<(Upid, Bytes)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send { to, name: n, body } if n == name => Some((to.clone(), body.clone())),
            _ => None,
        })
        .collect()
}

fn updates(effects: &[Effect]) -> Vec<msg::StatusUpdate> {
    sent(effects, "mesos.internal.StatusUpdateMessage")
        .iter()
        .map(|(_, b)| msg::StatusUpdateMessage::decode(b.as_ref()).unwrap().update)
        .collect()
}

fn checkpoints(effects: &[Effect]) -> Vec<Checkpoint> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Checkpoint { checkpoint, .. } => Some((**checkpoint).clone()),
            _ => None,
        })
        .collect()
}

fn framework_info(checkpoint: bool) -> v0::FrameworkInfo {
    v0::FrameworkInfo {
        user: "u".into(),
        name: "f".into(),
        id: Some(v0::FrameworkId { value: "F1".into() }),
        checkpoint: Some(checkpoint),
        ..Default::default()
    }
}

fn status_update(task: &str, state: v0::TaskState, uuid: u8) -> msg::StatusUpdate {
    let uuid = Bytes::from(vec![uuid; 16]);
    msg::StatusUpdate {
        framework_id: v0::FrameworkId { value: "F1".into() },
        executor_id: Some(v0::ExecutorId { value: "E1".into() }),
        slave_id: Some(v0::SlaveId { value: "S1".into() }),
        status: v0::TaskStatus {
            task_id: v0::TaskId { value: task.into() },
            state: state as i32,
            uuid: Some(uuid.clone()),
            ..Default::default()
        },
        timestamp: 1.0,
        uuid: Some(uuid),
        latest_state: None,
    }
}

/// A checkpoint: agent S1, framework F1, executor E1 in container C1
/// (at `pid` over libprocess, else over HTTP) with task `t1` whose
/// `updates` were received and the first `acked` of them acknowledged.
fn checkpointed(
    pid: Option<Upid>,
    updates: Vec<msg::StatusUpdate>,
    acked: usize,
) -> RecoveredAgent {
    let task = v0::Task {
        name: "t1".into(),
        task_id: v0::TaskId { value: "t1".into() },
        framework_id: v0::FrameworkId { value: "F1".into() },
        executor_id: Some(v0::ExecutorId { value: "E1".into() }),
        slave_id: v0::SlaveId { value: "S1".into() },
        state: v0::TaskState::TaskStaging as i32,
        ..Default::default()
    };
    let acks = updates[..acked]
        .iter()
        .filter_map(|u| u.uuid.clone())
        .collect();
    RecoveredAgent {
        id: "S1".into(),
        info: None,
        frameworks: vec![RecoveredFramework {
            id: FrameworkId::new("F1"),
            info: framework_info(true),
            pid: None,
            executors: vec![RecoveredExecutor {
                info: v0::ExecutorInfo {
                    executor_id: v0::ExecutorId { value: "E1".into() },
                    framework_id: Some(v0::FrameworkId { value: "F1".into() }),
                    ..Default::default()
                },
                command_executor: false,
                container_id: "C1".into(),
                forked_pid: Some(4242),
                http: pid.is_none(),
                libprocess_pid: pid,
                completed: false,
                tasks: vec![RecoveredTask {
                    task,
                    updates,
                    acks,
                }],
            }],
        }],
    }
}

/// Registers a recovering core: ticks until it re-registers, answers.
fn reregister(core: &mut AgentCore, now: Instant) -> Vec<Effect> {
    core.tick(now);
    core.tick(now + Duration::from_secs(2));
    let effects = core.drain();
    let message = msg::SlaveReregisteredMessage {
        slave_id: v0::SlaveId { value: "S1".into() },
        reconciliations: Vec::new(),
        connection: None,
    };
    core.message(
        &master(),
        "mesos.internal.SlaveReregisteredMessage",
        &message.encode_to_vec(),
        now + Duration::from_secs(2),
    );
    effects
}

#[test]
fn recovery_reconnects_waits_then_reregisters_as_the_same_agent() {
    let t0 = Instant::now();
    let mut core = AgentCore::new(config(), agent_pid(), 0.0);
    let running = status_update("t1", v0::TaskState::TaskRunning, 1);
    let containers = core.recover(
        Some(checkpointed(Some(executor_pid()), vec![running], 1)),
        t0,
    );
    assert_eq!(containers.len(), 1);
    assert_eq!(containers[0].container_id, "C1");
    assert_eq!(containers[0].pid, Some(4242));
    assert_eq!(
        containers[0].sandbox,
        std::path::Path::new("/var/lib/mesos/slaves/S1/frameworks/F1/executors/E1/runs/C1")
    );
    let effects = core.drain();
    let reconnect = sent(&effects, "mesos.internal.ReconnectExecutorMessage");
    assert_eq!(reconnect.len(), 1);
    assert_eq!(reconnect[0].0, executor_pid());
    let message = msg::ReconnectExecutorMessage::decode(reconnect[0].1.as_ref()).unwrap();
    assert_eq!(message.slave_id.value, "S1");

    // Nothing goes to the master while executors may still reconnect.
    assert_eq!(core.next_deadline(), Some(t0 + Duration::from_secs(2)));
    core.tick(t0 + Duration::from_millis(1900));
    assert!(core.drain().is_empty());

    // The executor never came back: killed, and the agent registers.
    let t2 = t0 + Duration::from_secs(2);
    core.tick(t2);
    let effects = core.drain();
    assert!(effects.contains(&Effect::Destroy {
        container_id: "C1".into()
    }));
    core.tick(t2 + Duration::from_secs(2));
    let effects = core.drain();
    let reregister = sent(&effects, "mesos.internal.ReregisterSlaveMessage");
    assert_eq!(reregister.len(), 1, "{effects:?}");
    assert!(sent(&effects, "mesos.internal.RegisterSlaveMessage").is_empty());
    let message = msg::ReregisterSlaveMessage::decode(reregister[0].1.as_ref()).unwrap();
    assert_eq!(message.slave.id.unwrap().value, "S1");
    assert_eq!(message.frameworks.len(), 1);
    assert_eq!(message.frameworks[0].id.as_ref().unwrap().value, "F1");
    assert_eq!(message.tasks.len(), 1);
    assert_eq!(message.tasks[0].state, v0::TaskState::TaskRunning as i32);
    assert_eq!(message.executor_infos.len(), 1);

    // Its container ends: the task is lost for want of re-registration.
    core.executor_exited("C1", None, "exited", t2 + Duration::from_secs(3));
    let registered = msg::SlaveReregisteredMessage {
        slave_id: v0::SlaveId { value: "S1".into() },
        reconciliations: Vec::new(),
        connection: None,
    };
    core.message(
        &master(),
        "mesos.internal.SlaveReregisteredMessage",
        &registered.encode_to_vec(),
        t2 + Duration::from_secs(3),
    );
    let lost = updates(&core.drain());
    assert_eq!(lost.len(), 1);
    assert_eq!(lost[0].status.state, v0::TaskState::TaskLost as i32);
    assert_eq!(
        lost[0].status.reason,
        Some(v0::task_status::Reason::ExecutorReregistrationTimeout as i32)
    );
    assert_eq!(
        lost[0].status.message.as_deref(),
        Some("Executor did not reregister within 2secs")
    );
}

#[test]
fn unacknowledged_updates_are_resent_and_a_terminal_one_goes_once() {
    let t0 = Instant::now();
    let mut core = AgentCore::new(config(), agent_pid(), 0.0);
    let running = status_update("t1", v0::TaskState::TaskRunning, 1);
    let finished = status_update("t1", v0::TaskState::TaskFinished, 2);
    core.recover(
        Some(checkpointed(None, vec![running, finished.clone()], 1)),
        t0,
    );
    assert!(sent(&core.drain(), "mesos.internal.ReconnectExecutorMessage").is_empty());

    // The HTTP executor subscribes again, resending its terminal update.
    let subscribe = v1e::Call {
        executor_id: mesos::wire::mesos::v1::ExecutorId { value: "E1".into() },
        framework_id: mesos::wire::mesos::v1::FrameworkId { value: "F1".into() },
        r#type: Some(v1e::call::Type::Subscribe as i32),
        subscribe: Some(v1e::call::Subscribe {
            unacknowledged_tasks: Vec::new(),
            unacknowledged_updates: vec![v1e::call::Update {
                status: crate::convert_v1(&finished.status),
            }],
        }),
        ..Default::default()
    };
    core.executor_call(subscribe, Some(7), t0 + Duration::from_millis(100))
        .unwrap();
    let effects = core.drain();
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::ToExecutor { conn: 7, event }
                if event.r#type == Some(v1e::event::Type::Subscribed as i32)))
    );
    assert!(checkpoints(&effects).contains(&Checkpoint::ExecutorLink {
        framework_id: FrameworkId::new("F1"),
        executor_id: ExecutorId::new("E1"),
        container_id: "C1".into(),
        pid: None,
    }));
    // A duplicate: not checkpointed again.
    assert!(
        !checkpoints(&effects)
            .iter()
            .any(|c| matches!(c, Checkpoint::Record { .. }))
    );

    let effects = reregister(&mut core, t0 + Duration::from_secs(2));
    assert!(
        !effects.contains(&Effect::Destroy {
            container_id: "C1".into()
        }),
        "the executor came back"
    );
    let resent = updates(&core.drain());
    assert_eq!(resent.len(), 1, "only the unacknowledged update");
    assert_eq!(resent[0].uuid, finished.uuid);

    let ack = msg::StatusUpdateAcknowledgementMessage {
        slave_id: v0::SlaveId { value: "S1".into() },
        framework_id: v0::FrameworkId { value: "F1".into() },
        task_id: v0::TaskId { value: "t1".into() },
        uuid: finished.uuid.clone().unwrap(),
    };
    let now = t0 + Duration::from_secs(5);
    core.message(
        &master(),
        "mesos.internal.StatusUpdateAcknowledgementMessage",
        &ack.encode_to_vec(),
        now,
    );
    let effects = core.drain();
    let acks: Vec<_> = checkpoints(&effects)
        .into_iter()
        .filter_map(|c| match c {
            Checkpoint::Record { record, .. } => Some(*record),
            _ => None,
        })
        .collect();
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0].r#type, msg::status_update_record::Type::Ack as i32);
    assert_eq!(acks[0].uuid, finished.uuid);
    // Nothing is ever resent after the acknowledgement.
    core.tick(now + Duration::from_secs(3600));
    assert!(updates(&core.drain()).is_empty());
}

#[test]
fn staging_task_the_executor_does_not_know_is_lost() {
    let t0 = Instant::now();
    let mut core = AgentCore::new(config(), agent_pid(), 0.0);
    core.recover(Some(checkpointed(None, Vec::new(), 0)), t0);
    let subscribe = v1e::Call {
        executor_id: mesos::wire::mesos::v1::ExecutorId { value: "E1".into() },
        framework_id: mesos::wire::mesos::v1::FrameworkId { value: "F1".into() },
        r#type: Some(v1e::call::Type::Subscribe as i32),
        subscribe: Some(v1e::call::Subscribe::default()),
        ..Default::default()
    };
    core.executor_call(subscribe, Some(1), t0).unwrap();
    core.drain();
    reregister(&mut core, t0 + Duration::from_secs(2));
    let lost = updates(&core.drain());
    assert_eq!(lost.len(), 1);
    assert_eq!(lost[0].status.state, v0::TaskState::TaskLost as i32);
    assert_eq!(
        lost[0].status.reason,
        Some(v0::task_status::Reason::SlaveRestarted as i32)
    );
}

#[test]
fn cleanup_shuts_recovered_executors_down_then_terminates() {
    let t0 = Instant::now();
    let mut config = config();
    config.recover = RecoverMode::Cleanup;
    let mut core = AgentCore::new(config, agent_pid(), 0.0);
    let running = status_update("t1", v0::TaskState::TaskRunning, 1);
    core.recover(
        Some(checkpointed(Some(executor_pid()), vec![running], 1)),
        t0,
    );
    let effects = core.drain();
    assert_eq!(
        sent(&effects, "mesos.internal.ShutdownExecutorMessage").len(),
        1
    );
    assert!(!effects.contains(&Effect::Terminate));
    // Not gone within the grace period: killed.
    core.tick(t0 + Duration::from_secs(5));
    let effects = core.drain();
    assert!(effects.contains(&Effect::Destroy {
        container_id: "C1".into()
    }));
    assert!(sent(&effects, "mesos.internal.ReregisterSlaveMessage").is_empty());
    core.executor_exited("C1", None, "killed", t0 + Duration::from_secs(6));
    assert!(core.drain().contains(&Effect::Terminate));
}

#[test]
fn cleanup_with_nothing_to_clean_terminates_at_once() {
    let mut config = config();
    config.recover = RecoverMode::Cleanup;
    let mut core = AgentCore::new(config, agent_pid(), 0.0);
    core.recover(None, Instant::now());
    assert_eq!(core.drain(), vec![Effect::Terminate]);
}

#[test]
fn nothing_recovered_registers_as_a_new_agent() {
    let t0 = Instant::now();
    let mut core = AgentCore::new(config(), agent_pid(), 0.0);
    core.recover(None, t0);
    core.tick(t0 + Duration::from_secs(1));
    let effects = core.drain();
    assert_eq!(
        sent(&effects, "mesos.internal.RegisterSlaveMessage").len(),
        1
    );
}

fn registered_core(t0: Instant) -> AgentCore {
    let mut core = AgentCore::new(config(), agent_pid(), 0.0);
    core.start(t0);
    core.tick(t0 + Duration::from_secs(1));
    core.drain();
    let registered = msg::SlaveRegisteredMessage {
        slave_id: v0::SlaveId { value: "S1".into() },
        connection: None,
    };
    core.message(
        &master(),
        "mesos.internal.SlaveRegisteredMessage",
        &registered.encode_to_vec(),
        t0,
    );
    let effects = core.drain();
    let agent = checkpoints(&effects);
    assert_eq!(agent.len(), 1);
    assert!(
        matches!(&agent[0], Checkpoint::Agent(info) if info.id.as_ref().unwrap().value == "S1")
    );
    core
}

fn run_task(core: &mut AgentCore, checkpoint: bool, now: Instant) -> Vec<Effect> {
    let message = msg::RunTaskMessage {
        framework: framework_info(checkpoint),
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
        now,
    );
    core.drain()
}

#[test]
fn a_checkpointing_frameworks_run_is_checkpointed_before_its_launch() {
    let t0 = Instant::now();
    let mut core = registered_core(t0);
    let effects = run_task(&mut core, true, t0);
    let launch = effects
        .iter()
        .position(|e| matches!(e, Effect::Launch(_)))
        .unwrap();
    let kinds: Vec<&str> = effects[..launch]
        .iter()
        .filter_map(|e| match e {
            Effect::Checkpoint { checkpoint, .. } => Some(match **checkpoint {
                Checkpoint::Framework { .. } => "framework",
                Checkpoint::Executor { .. } => "executor",
                Checkpoint::Task { .. } => "task",
                _ => "other",
            }),
            _ => None,
        })
        .collect();
    assert_eq!(kinds, ["framework", "executor", "task"]);
}

#[test]
fn a_non_checkpointing_framework_leaves_no_checkpoint() {
    let t0 = Instant::now();
    let mut core = registered_core(t0);
    let effects = run_task(&mut core, false, t0);
    assert!(checkpoints(&effects).is_empty());
}

#[test]
fn tasks_the_master_knows_and_the_agent_does_not_are_reported_lost() {
    let t0 = Instant::now();
    let mut core = AgentCore::new(config(), agent_pid(), 0.0);
    core.recover(None, t0);
    core.tick(t0 + Duration::from_secs(1));
    core.drain();
    let message = msg::SlaveReregisteredMessage {
        slave_id: v0::SlaveId { value: "S1".into() },
        reconciliations: vec![msg::ReconcileTasksMessage {
            framework_id: v0::FrameworkId { value: "F9".into() },
            statuses: vec![v0::TaskStatus {
                task_id: v0::TaskId {
                    value: "ghost".into(),
                },
                state: v0::TaskState::TaskRunning as i32,
                ..Default::default()
            }],
            framework: None,
        }],
        connection: None,
    };
    core.message(
        &master(),
        "mesos.internal.SlaveReregisteredMessage",
        &message.encode_to_vec(),
        t0 + Duration::from_secs(1),
    );
    let lost = updates(&core.drain());
    assert_eq!(lost.len(), 1);
    assert_eq!(lost[0].status.task_id.value, "ghost");
    assert_eq!(lost[0].status.state, v0::TaskState::TaskLost as i32);
    assert_eq!(
        lost[0].status.reason,
        Some(v0::task_status::Reason::Reconciliation as i32)
    );
}

#[test]
fn finalize_leaves_checkpointing_executors_and_stops_the_others() {
    let t0 = Instant::now();
    let mut core = registered_core(t0);
    let effects = run_task(&mut core, true, t0);
    let kept_container = effects
        .iter()
        .find_map(|e| match e {
            Effect::Launch(spec) => Some(spec.container_id.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(core.finalize(t0), vec![kept_container]);
    let effects = core.drain();
    assert!(
        !effects
            .iter()
            .any(|e| matches!(e, Effect::Destroy { .. } | Effect::ToExecutor { .. })),
        "{effects:?}"
    );

    let mut core = registered_core(t0);
    let effects = run_task(&mut core, false, t0);
    let container_id = effects
        .iter()
        .find_map(|e| match e {
            Effect::Launch(spec) => Some(spec.container_id.clone()),
            _ => None,
        })
        .unwrap();
    assert!(core.finalize(t0).is_empty());
    assert!(core.drain().contains(&Effect::Destroy { container_id }));
}
