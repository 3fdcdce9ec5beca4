//! The checkpoint's writer and reader: round trips in Mesos's layout,
//! torn `task.updates` records, garbage, and the agent info checks.
use super::*;

fn agent_info(resources: &str) -> v0::SlaveInfo {
    v0::SlaveInfo {
        hostname: "host".into(),
        port: Some(5051),
        resources: mesos::resources::Resources::parse(resources)
            .unwrap()
            .to_wire(),
        id: Some(v0::SlaveId { value: "S1".into() }),
        checkpoint: Some(true),
        ..Default::default()
    }
}

fn framework() -> v0::FrameworkInfo {
    v0::FrameworkInfo {
        user: "u".into(),
        name: "f".into(),
        id: Some(v0::FrameworkId { value: "F1".into() }),
        checkpoint: Some(true),
        ..Default::default()
    }
}

fn executor() -> v0::ExecutorInfo {
    v0::ExecutorInfo {
        executor_id: v0::ExecutorId { value: "E1".into() },
        framework_id: Some(v0::FrameworkId { value: "F1".into() }),
        command: Some(v0::CommandInfo {
            value: Some("/libexec/mesos-executor".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn task() -> v0::Task {
    v0::Task {
        name: "t1".into(),
        task_id: v0::TaskId { value: "t1".into() },
        framework_id: v0::FrameworkId { value: "F1".into() },
        executor_id: Some(v0::ExecutorId { value: "E1".into() }),
        slave_id: v0::SlaveId { value: "S1".into() },
        state: v0::TaskState::TaskStaging as i32,
        ..Default::default()
    }
}

fn update(state: v0::TaskState, uuid: u8) -> msg::StatusUpdate {
    let uuid = Bytes::from(vec![uuid; 16]);
    msg::StatusUpdate {
        framework_id: v0::FrameworkId { value: "F1".into() },
        executor_id: Some(v0::ExecutorId { value: "E1".into() }),
        slave_id: Some(v0::SlaveId { value: "S1".into() }),
        status: v0::TaskStatus {
            task_id: v0::TaskId { value: "t1".into() },
            state: state as i32,
            uuid: Some(uuid.clone()),
            ..Default::default()
        },
        timestamp: 1.0,
        uuid: Some(uuid),
        latest_state: None,
    }
}

fn record_update(update: msg::StatusUpdate) -> Checkpoint {
    Checkpoint::Record {
        framework_id: FrameworkId::new("F1"),
        executor_id: ExecutorId::new("E1"),
        container_id: "C1".into(),
        task_id: TaskId::new("t1"),
        record: Box::new(msg::StatusUpdateRecord {
            r#type: msg::status_update_record::Type::Update as i32,
            update: Some(update),
            uuid: None,
        }),
    }
}

fn record_ack(uuid: u8) -> Checkpoint {
    Checkpoint::Record {
        framework_id: FrameworkId::new("F1"),
        executor_id: ExecutorId::new("E1"),
        container_id: "C1".into(),
        task_id: TaskId::new("t1"),
        record: Box::new(msg::StatusUpdateRecord {
            r#type: msg::status_update_record::Type::Ack as i32,
            update: None,
            uuid: Some(Bytes::from(vec![uuid; 16])),
        }),
    }
}

/// A checkpoint of agent S1 with one framework, one HTTP executor in C1
/// (forked as 4242), one task with a RUNNING (acknowledged) and a
/// FINISHED update.
fn write_all(meta: &MetaPaths) {
    let writes = [
        Checkpoint::Agent(Box::new(agent_info("cpus:2;mem:1024"))),
        Checkpoint::Framework {
            info: Box::new(framework()),
            pid: Some("scheduler(1)@127.0.0.1:9000".parse().unwrap()),
        },
        Checkpoint::Executor {
            framework_id: FrameworkId::new("F1"),
            info: Box::new(executor()),
            container_id: "C1".into(),
            command_executor: true,
        },
        Checkpoint::ExecutorLink {
            framework_id: FrameworkId::new("F1"),
            executor_id: ExecutorId::new("E1"),
            container_id: "C1".into(),
            pid: None,
        },
        Checkpoint::Task {
            executor_id: ExecutorId::new("E1"),
            container_id: "C1".into(),
            task: Box::new(task()),
        },
        record_update(update(v0::TaskState::TaskRunning, 1)),
        record_ack(1),
        record_update(update(v0::TaskState::TaskFinished, 2)),
    ];
    for write in &writes {
        meta.write("S1", write).unwrap();
    }
    write_atomic(&meta.forked_pid("S1", "F1", "E1", "C1"), b"4242").unwrap();
}

fn updates_file(meta: &MetaPaths) -> PathBuf {
    meta.task("S1", "F1", "E1", "C1", "t1").join("task.updates")
}

#[test]
fn writes_mesos_layout_and_reads_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let meta = MetaPaths::new(dir.path());
    write_all(&meta);
    write_atomic(&meta.boot_id(), b"boot-1\n").unwrap();

    let root = dir.path().join("meta");
    let run = root.join("slaves/S1/frameworks/F1/executors/E1/runs/C1");
    for path in [
        root.join("boot_id"),
        root.join("slaves/S1/slave.info"),
        root.join("slaves/S1/frameworks/F1/framework.info"),
        root.join("slaves/S1/frameworks/F1/framework.pid"),
        root.join("slaves/S1/frameworks/F1/executors/E1/executor.info"),
        run.join("pids/forked.pid"),
        run.join("http.marker"),
        run.join("tasks/t1/task.info"),
        run.join("tasks/t1/task.updates"),
    ] {
        assert!(path.is_file(), "{}", path.display());
    }
    assert_eq!(
        std::fs::read_link(root.join("slaves/latest")).unwrap(),
        Path::new("S1")
    );
    assert_eq!(
        std::fs::read_link(root.join("slaves/S1/frameworks/F1/executors/E1/runs/latest")).unwrap(),
        Path::new("C1")
    );
    // stout's framing: a little-endian length, then the message.
    let bytes = std::fs::read(root.join("slaves/S1/slave.info")).unwrap();
    let length = u32::from_le_bytes(bytes[..4].try_into().unwrap()) as usize;
    assert_eq!(length + 4, bytes.len());
    assert_eq!(
        v0::SlaveInfo::decode(&bytes[4..]).unwrap(),
        agent_info("cpus:2;mem:1024")
    );

    let state = recover(&meta, true).unwrap();
    assert_eq!(state.boot_id.as_deref(), Some("boot-1"));
    assert_eq!(state.errors, 0);
    let agent = state.agent.unwrap();
    assert_eq!(agent.id, "S1");
    assert_eq!(agent.info, Some(agent_info("cpus:2;mem:1024")));
    assert_eq!(agent.frameworks.len(), 1);
    let framework_state = &agent.frameworks[0];
    assert_eq!(framework_state.info, framework());
    assert_eq!(
        framework_state.pid.as_ref().map(Upid::to_string).as_deref(),
        Some("scheduler(1)@127.0.0.1:9000")
    );
    let executor_state = &framework_state.executors[0];
    assert_eq!(executor_state.info, executor());
    assert!(executor_state.command_executor);
    assert_eq!(executor_state.container_id, "C1");
    assert_eq!(executor_state.forked_pid, Some(4242));
    assert!(executor_state.http);
    assert_eq!(executor_state.libprocess_pid, None);
    assert!(!executor_state.completed);
    let task_state = &executor_state.tasks[0];
    assert_eq!(task_state.task, task());
    assert_eq!(
        task_state.updates,
        vec![
            update(v0::TaskState::TaskRunning, 1),
            update(v0::TaskState::TaskFinished, 2)
        ]
    );
    assert_eq!(task_state.acks, vec![Bytes::from(vec![1u8; 16])]);
}

#[test]
fn a_torn_last_record_is_dropped_and_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let meta = MetaPaths::new(dir.path());
    write_all(&meta);
    let path = updates_file(&meta);
    let complete = std::fs::metadata(&path).unwrap().len();
    // The agent died halfway through appending a record.
    let torn = frame(&msg::StatusUpdateRecord {
        r#type: msg::status_update_record::Type::Ack as i32,
        update: None,
        uuid: Some(Bytes::from(vec![2u8; 16])),
    });
    for cut in [2, torn.len() - 1] {
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        file.write_all(&torn[..cut]).unwrap();
        drop(file);
        let state = recover(&meta, true).unwrap();
        let task = &state.agent.unwrap().frameworks[0].executors[0].tasks[0];
        assert_eq!(task.updates.len(), 2);
        assert_eq!(task.acks.len(), 1, "the torn ACK is not taken");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), complete);
    }
}

#[test]
fn garbage_is_refused_with_strict_and_skipped_without() {
    let dir = tempfile::tempdir().unwrap();
    let meta = MetaPaths::new(dir.path());
    write_all(&meta);
    // A complete record whose body is not a StatusUpdateRecord.
    let path = updates_file(&meta);
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    file.write_all(&[3, 0, 0, 0, 0xff, 0xff, 0xff]).unwrap();
    drop(file);
    let error = recover(&meta, true).unwrap_err().to_string();
    assert!(error.contains("task.updates"), "{error}");
    assert!(error.contains("offset"), "{error}");
    let lenient = recover(&meta, false).unwrap();
    assert_eq!(lenient.errors, 1);
    assert!(lenient.agent.unwrap().frameworks[0].executors.is_empty());

    // A slave.info that is not one.
    write_atomic(&meta.agent_info("S1"), b"\x05\x00\x00\x00garbage").unwrap();
    let error = recover(&meta, true).unwrap_err().to_string();
    assert!(error.contains("slave.info"), "{error}");
    write_atomic(&meta.agent_info("S1"), b"\x01\x00").unwrap();
    assert!(
        recover(&meta, true)
            .unwrap_err()
            .to_string()
            .contains("truncated")
    );
    let lenient = recover(&meta, false).unwrap();
    assert_eq!(lenient.agent.unwrap().info, None);

    // A pid that is not a number.
    meta.write(
        "S1",
        &Checkpoint::Agent(Box::new(agent_info("cpus:2;mem:1024"))),
    )
    .unwrap();
    write_atomic(&meta.forked_pid("S1", "F1", "E1", "C1"), b"forty-two").unwrap();
    let error = recover(&meta, true).unwrap_err().to_string();
    assert!(error.contains("forked.pid"), "{error}");
}

#[test]
fn an_empty_work_dir_has_nothing_to_recover() {
    let dir = tempfile::tempdir().unwrap();
    let state = recover(&MetaPaths::new(dir.path()), true).unwrap();
    assert_eq!(state, RecoveredState::default());
}

#[test]
fn agent_info_changes_under_each_policy() {
    let old = agent_info("cpus:2;mem:1024");
    assert!(compatible(&old, &old, ReconfigurationPolicy::Equal).is_ok());
    let more = agent_info("cpus:4;mem:1024");
    let error = compatible(&old, &more, ReconfigurationPolicy::Equal).unwrap_err();
    assert!(error.starts_with("Resources differ"), "{error}");
    assert!(compatible(&old, &more, ReconfigurationPolicy::Additive).is_ok());
    assert!(compatible(&more, &old, ReconfigurationPolicy::Additive).is_err());
    let mut moved = old.clone();
    moved.port = Some(5052);
    assert!(compatible(&old, &moved, ReconfigurationPolicy::Additive).is_err());
    let mut renamed = old.clone();
    renamed.hostname = "other".into();
    assert!(compatible(&old, &renamed, ReconfigurationPolicy::Additive).is_err());
}

#[test]
fn plan_keeps_the_agent_refuses_changes_and_starts_afresh_after_a_reboot() {
    let dir = tempfile::tempdir().unwrap();
    let meta = MetaPaths::new(dir.path());
    write_all(&meta);
    write_atomic(&meta.boot_id(), b"boot-1").unwrap();
    let same = agent_info("cpus:2;mem:1024");
    let changed = agent_info("cpus:8;mem:1024");
    let policy = ReconfigurationPolicy::Equal;

    let kept = plan(
        recover(&meta, true).unwrap(),
        &same,
        policy,
        Some("boot-1"),
        &meta,
    )
    .unwrap();
    assert!(!kept.rebooted);
    let agent = kept.agent.unwrap();
    assert_eq!(agent.frameworks[0].executors[0].forked_pid, Some(4242));

    // Same info after a reboot: same id, but no executor survived.
    let rebooted = plan(
        recover(&meta, true).unwrap(),
        &same,
        policy,
        Some("boot-2"),
        &meta,
    )
    .unwrap();
    assert!(rebooted.rebooted);
    assert_eq!(
        rebooted.agent.unwrap().frameworks[0].executors[0].forked_pid,
        None
    );

    // A change without a reboot is an error.
    let error = plan(
        recover(&meta, true).unwrap(),
        &changed,
        policy,
        Some("boot-1"),
        &meta,
    )
    .unwrap_err();
    assert!(
        error.starts_with("Incompatible agent info detected"),
        "{error}"
    );
    assert!(meta.latest_agent().is_symlink());

    // After a reboot it makes a new agent, and the decision is kept.
    let fresh = plan(
        recover(&meta, true).unwrap(),
        &changed,
        policy,
        Some("boot-2"),
        &meta,
    )
    .unwrap();
    assert_eq!(fresh.agent, None);
    assert!(!meta.latest_agent().is_symlink());
    assert_eq!(recover(&meta, true).unwrap().agent, None);
}
