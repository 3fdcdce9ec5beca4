//! A custom executor on the libprocess executor protocol (the one
//! libmesos's `MesosExecutorDriver` speaks) under a real master and agent:
//! it registers, gets its tasks, reports them and is acknowledged, answers
//! a framework message, has a task killed and is shut down. Meanwhile a
//! stray libprocess peer tries to register as that executor and to report
//! its task finished: it is refused and the executor carries on.

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use mesos::process::{BindConfig, Event as ProcessEvent, Transport};
use mesos::upid::Upid;
use mesos::wire::mesos as v0;
use mesos::wire::mesos::internal as msg;
use mesos::wire::mesos::v1;
use mesos::wire::mesos::v1::scheduler::{Call, call, event};
use mesos_e2e::framework::{Framework, event_type, scalar};
use mesos_e2e::{Cluster, http};

/// Our executor on the libprocess protocol.
const EXECUTOR: &str = env!("CARGO_BIN_EXE_libprocess-test-executor");

/// The command of [`EXECUTOR`].
fn test_executor() -> v1::CommandInfo {
    v1::CommandInfo {
        shell: Some(false),
        value: Some(EXECUTOR.into()),
        arguments: vec!["libprocess-test-executor".into()],
        ..Default::default()
    }
}

fn executor_info(command: &v1::CommandInfo) -> v1::ExecutorInfo {
    v1::ExecutorInfo {
        r#type: Some(v1::executor_info::Type::Custom as i32),
        executor_id: v1::ExecutorId {
            value: "driver-executor".into(),
        },
        name: Some("libprocess test executor".into()),
        command: Some(command.clone()),
        resources: vec![scalar("cpus", 0.1), scalar("mem", 32.0)],
        ..Default::default()
    }
}

fn task(
    id: &str,
    agent: &v1::AgentId,
    executor: &v1::CommandInfo,
    data: Option<&'static [u8]>,
) -> v1::TaskInfo {
    v1::TaskInfo {
        name: id.into(),
        task_id: v1::TaskId { value: id.into() },
        agent_id: agent.clone(),
        resources: vec![scalar("cpus", 0.1), scalar("mem", 32.0)],
        executor: Some(executor_info(executor)),
        data: data.map(Bytes::from_static),
        ..Default::default()
    }
}

/// Takes updates (acknowledging each) until every `(task, state)` of
/// `expected` was seen; returns them in arrival order.
async fn updates_until(
    framework: &mut Framework,
    expected: &[(&str, v1::TaskState)],
) -> Vec<v1::TaskStatus> {
    let mut missing: BTreeSet<(String, i32)> = expected
        .iter()
        .map(|(task, state)| (task.to_string(), *state as i32))
        .collect();
    let mut seen = Vec::new();
    while !missing.is_empty() {
        let event = framework
            .next(&format!("UPDATE of {missing:?}"), |e| e.update.is_some())
            .await;
        let status = event.update.expect("matched above").status;
        if let (Some(uuid), Some(agent)) = (&status.uuid, &status.agent_id) {
            framework
                .call(Call {
                    r#type: Some(call::Type::Acknowledge as i32),
                    acknowledge: Some(call::Acknowledge {
                        agent_id: agent.clone(),
                        task_id: status.task_id.clone(),
                        uuid: uuid.clone(),
                    }),
                    ..Default::default()
                })
                .await;
        }
        missing.remove(&(status.task_id.value.clone(), status.state));
        seen.push(status);
    }
    seen
}

/// Waits for the next message to the stray peer's mailbox.
async fn next_message(mailbox: &mut tokio::sync::mpsc::UnboundedReceiver<ProcessEvent>) -> String {
    let wait = async {
        loop {
            match mailbox.recv().await {
                Some(ProcessEvent::Message(m)) => return m.name,
                Some(ProcessEvent::Exited(_)) => continue,
                None => panic!("the stray peer's mailbox closed"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), wait)
        .await
        .expect("an answer to the stray peer within 20 s")
}

#[tokio::test]
async fn libprocess_executor_runs_tasks_talks_and_shuts_down() {
    custom_executor_scenario(&test_executor()).await;
}

/// The scenario, for any executor `command` that behaves as
/// `libprocess-test-executor` does and prints the same lines.
async fn custom_executor_scenario(command: &v1::CommandInfo) {
    let cluster = Cluster::start(1).await;
    let agent_addr = cluster.agents[0].addr;
    let mut framework =
        Framework::subscribe(cluster.master.addr, "libprocess-executor-test", &[]).await;
    let offers = framework.offers().await;
    let offer = &offers[0];
    let agent_id = offer.agent_id.clone();
    framework
        .launch(
            &offer.id,
            vec![
                task("long", &agent_id, command, None),
                task("short", &agent_id, command, Some(b"finish")),
            ],
        )
        .await;

    use v1::TaskState as S;
    let statuses = updates_until(
        &mut framework,
        &[
            ("long", S::TaskRunning),
            ("short", S::TaskRunning),
            ("short", S::TaskFinished),
        ],
    )
    .await;
    for status in &statuses {
        assert_eq!(
            status.source,
            Some(v1::task_status::Source::Executor as i32),
            "{status:?}"
        );
        assert_eq!(
            status.executor_id.as_ref().map(|e| e.value.as_str()),
            Some("driver-executor")
        );
    }

    // A stray peer poses as the executor: its registration is answered
    // with a shutdown, its update and a garbage body go nowhere. Posing
    // as the master, its kill and shutdown are ignored too (the executor
    // answers the framework message below and is killed only once).
    let stray = Transport::bind(&BindConfig::loopback(0))
        .await
        .expect("bind the stray peer");
    let stray_pid = stray.upid("executor(1)");
    let mut stray_mailbox = stray.spawn("executor(1)");
    let agent_pid: Upid = format!("slave(1)@{agent_addr}").parse().unwrap();
    let v0_agent = v0::SlaveId {
        value: agent_id.value.clone(),
    };
    let v0_framework = v0::FrameworkId {
        value: framework.id.value.clone(),
    };
    stray.send_message(
        &stray_pid,
        &agent_pid,
        &msg::RegisterExecutorMessage {
            framework_id: v0_framework.clone(),
            executor_id: v0::ExecutorId {
                value: "driver-executor".into(),
            },
        },
    );
    assert_eq!(
        next_message(&mut stray_mailbox).await,
        "mesos.internal.ShutdownExecutorMessage"
    );
    let uuid = Bytes::copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    stray.send_message(
        &stray_pid,
        &agent_pid,
        &msg::StatusUpdateMessage {
            update: msg::StatusUpdate {
                framework_id: v0_framework,
                executor_id: Some(v0::ExecutorId {
                    value: "driver-executor".into(),
                }),
                slave_id: Some(v0_agent.clone()),
                status: v0::TaskStatus {
                    task_id: v0::TaskId {
                        value: "long".into(),
                    },
                    state: v0::TaskState::TaskFinished as i32,
                    slave_id: Some(v0_agent),
                    uuid: Some(uuid.clone()),
                    ..Default::default()
                },
                timestamp: 1.0,
                uuid: Some(uuid),
                latest_state: None,
            },
            pid: Some(stray_pid.to_string()),
        },
    );
    stray.send(
        &stray_pid,
        &agent_pid,
        "mesos.internal.StatusUpdateMessage",
        Bytes::from_static(b"\x0a\xff\xff"),
    );

    stray.send_message(
        &stray_pid,
        &agent_pid,
        &msg::KillTaskMessage {
            framework_id: v0::FrameworkId {
                value: framework.id.value.clone(),
            },
            task_id: v0::TaskId {
                value: "long".into(),
            },
            kill_policy: None,
        },
    );
    stray.send_message(
        &stray_pid,
        &agent_pid,
        &msg::ShutdownExecutorMessage {
            executor_id: Some(v0::ExecutorId {
                value: "driver-executor".into(),
            }),
            framework_id: Some(v0::FrameworkId {
                value: framework.id.value.clone(),
            }),
        },
    );

    // A framework message reaches the executor, and its answer comes back.
    framework
        .call(Call {
            r#type: Some(call::Type::Message as i32),
            message: Some(call::Message {
                agent_id: agent_id.clone(),
                executor_id: v1::ExecutorId {
                    value: "driver-executor".into(),
                },
                data: Bytes::from_static(b"ping"),
            }),
            ..Default::default()
        })
        .await;
    let answer = framework
        .next("MESSAGE from the executor", |e| {
            event_type(e) == event::Type::Message
        })
        .await
        .message
        .expect("MESSAGE carries `message`");
    assert_eq!(answer.data, &b"echo: ping"[..]);
    assert_eq!(answer.executor_id.value, "driver-executor");
    assert_eq!(answer.agent_id, agent_id);

    // Killing the long task: its next update is the executor's
    // TASK_KILLED (the stray TASK_FINISHED never got through).
    framework
        .call(Call {
            r#type: Some(call::Type::Kill as i32),
            kill: Some(call::Kill {
                task_id: v1::TaskId {
                    value: "long".into(),
                },
                agent_id: Some(agent_id.clone()),
                kill_policy: None,
            }),
            ..Default::default()
        })
        .await;
    let killed = framework.update_of("long").await;
    assert_eq!(killed.state, S::TaskKilled as i32, "{killed:?}");
    assert_eq!(
        killed.source,
        Some(v1::task_status::Source::Executor as i32)
    );

    // Shutting the executor down: it exits 0 and the framework hears so.
    framework
        .call(Call {
            r#type: Some(call::Type::Shutdown as i32),
            shutdown: Some(call::Shutdown {
                executor_id: v1::ExecutorId {
                    value: "driver-executor".into(),
                },
                agent_id: agent_id.clone(),
            }),
            ..Default::default()
        })
        .await;
    let failure = framework
        .next("FAILURE of the executor", |e| {
            event_type(e) == event::Type::Failure
        })
        .await
        .failure
        .expect("FAILURE carries `failure`");
    assert_eq!(
        failure.executor_id.map(|e| e.value).as_deref(),
        Some("driver-executor")
    );
    assert_eq!(failure.status, Some(0));

    // The executor's own account: environment, registration, every update
    // acknowledged, the message, the kill, the shutdown.
    let stdout_files = cluster.sandbox_files("stdout");
    assert_eq!(stdout_files.len(), 1, "{stdout_files:?}");
    let sandbox = stdout_files[0]
        .parent()
        .expect("stdout is in the sandbox")
        .canonicalize()
        .expect("the sandbox exists");
    let stdout = std::fs::read_to_string(&stdout_files[0]).expect("read the executor's stdout");
    let stderr = std::fs::read_to_string(sandbox.join("stderr")).unwrap_or_default();
    let lines: Vec<&str> = stdout.lines().collect();
    let has = |line: &str| lines.contains(&line);
    let environment = lines
        .iter()
        .find(|l| l.starts_with("environment "))
        .unwrap_or_else(|| panic!("no environment line:\n{stdout}\n{stderr}"));
    let directory = environment
        .split(' ')
        .find_map(|word| word.strip_prefix("MESOS_DIRECTORY="))
        .expect("MESOS_DIRECTORY printed");
    assert_eq!(
        std::path::Path::new(directory).canonicalize().ok(),
        Some(sandbox.clone())
    );
    assert!(
        environment.contains(&format!("MESOS_SANDBOX={directory} ")),
        "{environment}"
    );
    assert!(environment.contains("checkpoint=false"), "{environment}");
    assert!(environment.contains("grace=5secs"), "{environment}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("started executor(1)@127.0.0.1:")),
        "the executor listens on the agent's IP:\n{stdout}"
    );
    let registered = format!(
        "registered on {} executor driver-executor framework {} (libprocess-executor-test)",
        agent_id.value, framework.id.value
    );
    for line in [
        registered.as_str(),
        "task long",
        "task short",
        "acknowledged long TASK_RUNNING",
        "acknowledged short TASK_RUNNING",
        "acknowledged short TASK_FINISHED",
        "framework message ping",
        "killed long",
        "acknowledged long TASK_KILLED",
        "shutdown",
    ] {
        assert!(
            has(line),
            "no '{line}' in the executor's stdout:\n{stdout}\n{stderr}"
        );
    }
    assert!(
        !stdout.contains("unknown acknowledgement") && !stdout.contains("unexpected"),
        "{stdout}"
    );
    for once in ["killed long", "shutdown"] {
        assert_eq!(
            lines.iter().filter(|l| **l == once).count(),
            1,
            "'{once}' more than once:\n{stdout}"
        );
    }

    // The agent is unharmed and tells the executor's story.
    let health = http::get(agent_addr, "/health")
        .await
        .expect("agent /health");
    assert_eq!(health.status, 200);
    let state = http::get(agent_addr, "/state")
        .await
        .expect("agent /state")
        .json();
    let completed = &state["completed_frameworks"];
    let framework_state = completed
        .as_array()
        .and_then(|f| f.first())
        .or_else(|| state["frameworks"].as_array().and_then(|f| f.first()))
        .unwrap_or_else(|| panic!("the framework in the agent's /state: {state}"));
    let executors = framework_state["completed_executors"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        executors.iter().any(|e| e["id"] == "driver-executor"),
        "{framework_state}"
    );
}
