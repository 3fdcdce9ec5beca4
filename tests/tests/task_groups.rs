//! Task groups on the default executor, end to end: a v1 framework
//! launches two groups with LAUNCH_GROUP on a real master and agent. In
//! one, both tasks finish; in the other, one task fails and the other (a
//! `sleep 1000`) is killed with it; in a third, the framework kills one
//! task and its partner is killed too. Each task's output lands in its own
//! sandbox, `tasks/<task id>` -> `containers/<container id>`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mesos::http_scheduler;
use mesos::wire::mesos::v1::scheduler::{self, call, event};
use mesos::wire::mesos::v1::{self, TaskState};
use mesos_e2e::Cluster;

fn scalar(name: &str, value: f64, role: Option<&String>) -> v1::Resource {
    v1::Resource {
        name: name.into(),
        r#type: v1::value::Type::Scalar as i32,
        scalar: Some(v1::value::Scalar { value }),
        allocation_info: role.map(|r| v1::resource::AllocationInfo {
            role: Some(r.clone()),
        }),
        ..Default::default()
    }
}

fn shell_task(id: &str, command: &str, agent: &v1::AgentId, role: Option<&String>) -> v1::TaskInfo {
    v1::TaskInfo {
        name: id.into(),
        task_id: v1::TaskId { value: id.into() },
        agent_id: agent.clone(),
        resources: vec![scalar("cpus", 0.1, role), scalar("mem", 32.0, role)],
        command: Some(v1::CommandInfo {
            value: Some(command.into()),
            shell: Some(true),
            ..Default::default()
        }),
        kill_policy: Some(v1::KillPolicy {
            grace_period: Some(v1::DurationInfo {
                nanoseconds: 1_000_000_000,
            }),
        }),
        ..Default::default()
    }
}

fn launch_group(
    executor_id: &str,
    tasks: Vec<v1::TaskInfo>,
    role: Option<&String>,
) -> v1::offer::Operation {
    v1::offer::Operation {
        r#type: Some(v1::offer::operation::Type::LaunchGroup as i32),
        launch_group: Some(v1::offer::operation::LaunchGroup {
            executor: v1::ExecutorInfo {
                r#type: Some(v1::executor_info::Type::Default as i32),
                executor_id: v1::ExecutorId {
                    value: executor_id.into(),
                },
                resources: vec![
                    scalar("cpus", 0.1, role),
                    scalar("mem", 32.0, role),
                    scalar("disk", 10.0, role),
                ],
                ..Default::default()
            },
            task_group: v1::TaskGroupInfo { tasks },
        }),
        ..Default::default()
    }
}

fn terminal(state: i32) -> bool {
    [
        TaskState::TaskFinished,
        TaskState::TaskFailed,
        TaskState::TaskKilled,
        TaskState::TaskError,
        TaskState::TaskLost,
        TaskState::TaskDropped,
    ]
    .iter()
    .any(|s| *s as i32 == state)
}

/// The executor's latest run directory on the cluster's only agent.
fn executor_run(cluster: &Cluster, executor_id: &str) -> PathBuf {
    let work_dir = cluster.agents[0].work_dir.clone().expect("a work dir");
    let slaves = std::fs::read_dir(work_dir.join("slaves")).expect("slaves dir");
    for agent in slaves.flatten() {
        let frameworks = std::fs::read_dir(agent.path().join("frameworks")).expect("frameworks");
        for framework in frameworks.flatten() {
            let run = framework
                .path()
                .join("executors")
                .join(executor_id)
                .join("runs")
                .join("latest");
            if run.is_dir() {
                return run;
            }
        }
    }
    panic!("no sandbox of executor {executor_id}");
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

#[tokio::test]
async fn task_groups_finish_together_or_fail_together() {
    let cluster = Cluster::start(1).await;
    let master = cluster.master.addr;
    let subscribe = scheduler::Call {
        r#type: Some(call::Type::Subscribe as i32),
        subscribe: Some(call::Subscribe {
            framework_info: v1::FrameworkInfo {
                user: mesos_e2e::current_user(),
                name: "task-groups".into(),
                ..Default::default()
            },
            ..Default::default()
        }),
        ..Default::default()
    };
    let (client, mut events) = http_scheduler::subscribe(master, &subscribe)
        .await
        .expect("subscribe");
    let mut framework_id = None;
    let mut launched = false;
    // Every state each task went through, in order.
    let mut states: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let all_done = states.len() == 6 && states.values().all(|s| s.iter().any(|s| terminal(*s)));
        if all_done {
            break;
        }
        let event = tokio::time::timeout_at(deadline, events.next())
            .await
            .unwrap_or_else(|_| panic!("timed out; states so far {states:?}\n{}", cluster.logs()))
            .expect("the master closed the stream")
            .expect("a well-formed event");
        match event.r#type.and_then(|t| event::Type::try_from(t).ok()) {
            Some(event::Type::Subscribed) => {
                framework_id = event.subscribed.map(|s| s.framework_id);
            }
            Some(event::Type::Offers) => {
                let id = framework_id.clone().expect("subscribed first");
                for offer in event.offers.map(|o| o.offers).unwrap_or_default() {
                    let operations = if launched {
                        Vec::new()
                    } else {
                        launched = true;
                        let role = offer.allocation_info.as_ref().and_then(|a| a.role.as_ref());
                        let agent = &offer.agent_id;
                        vec![
                            launch_group(
                                "pod-ok",
                                vec![
                                    shell_task("ok-1", "echo one", agent, role),
                                    shell_task(
                                        "ok-2",
                                        "echo two; echo oops >&2; echo \"$MESOS_CONTAINER_IP $(pwd)\" > env",
                                        agent,
                                        role,
                                    ),
                                ],
                                role,
                            ),
                            launch_group(
                                "pod-bad",
                                vec![
                                    shell_task("bad", "sleep 0.5; exit 3", agent, role),
                                    shell_task("sleeper", "sleep 1000", agent, role),
                                ],
                                role,
                            ),
                            launch_group(
                                "pod-kill",
                                vec![
                                    shell_task("victim", "sleep 1000", agent, role),
                                    shell_task("bystander", "sleep 1000", agent, role),
                                ],
                                role,
                            ),
                        ]
                    };
                    let accept = scheduler::Call {
                        framework_id: Some(id.clone()),
                        r#type: Some(call::Type::Accept as i32),
                        accept: Some(call::Accept {
                            offer_ids: vec![offer.id.clone()],
                            operations,
                            filters: None,
                        }),
                        ..Default::default()
                    };
                    client.call(&accept).await.expect("accept");
                }
            }
            Some(event::Type::Update) => {
                let status = event.update.expect("an update").status;
                states
                    .entry(status.task_id.value.clone())
                    .or_default()
                    .push(status.state);
                if status.task_id.value == "victim" && status.state == TaskState::TaskRunning as i32
                {
                    let kill = scheduler::Call {
                        framework_id: framework_id.clone(),
                        r#type: Some(call::Type::Kill as i32),
                        kill: Some(call::Kill {
                            task_id: status.task_id.clone(),
                            agent_id: status.agent_id.clone(),
                            kill_policy: None,
                        }),
                        ..Default::default()
                    };
                    client.call(&kill).await.expect("kill");
                }
                if let (Some(uuid), Some(agent)) = (&status.uuid, &status.agent_id) {
                    let ack = scheduler::Call {
                        framework_id: framework_id.clone(),
                        r#type: Some(call::Type::Acknowledge as i32),
                        acknowledge: Some(call::Acknowledge {
                            agent_id: agent.clone(),
                            task_id: status.task_id.clone(),
                            uuid: uuid.clone(),
                        }),
                        ..Default::default()
                    };
                    client.call(&ack).await.expect("acknowledge");
                }
            }
            _ => {}
        }
    }
    let last = |id: &str| *states[id].last().expect("a state");
    let seen = |id: &str, state: TaskState| states[id].contains(&(state as i32));
    assert_eq!(last("ok-1"), TaskState::TaskFinished as i32, "{states:?}");
    assert_eq!(last("ok-2"), TaskState::TaskFinished as i32, "{states:?}");
    assert_eq!(last("bad"), TaskState::TaskFailed as i32, "{states:?}");
    assert_eq!(last("sleeper"), TaskState::TaskKilled as i32, "{states:?}");
    assert_eq!(last("victim"), TaskState::TaskKilled as i32, "{states:?}");
    assert_eq!(
        last("bystander"),
        TaskState::TaskKilled as i32,
        "{states:?}"
    );
    for id in ["ok-1", "ok-2", "bad", "sleeper", "victim", "bystander"] {
        assert!(seen(id, TaskState::TaskStarting), "{id}: {states:?}");
        assert!(seen(id, TaskState::TaskRunning), "{id}: {states:?}");
    }

    // Each task has its own sandbox under the executor's, linked from
    // tasks/<task id> to containers/<container id>.
    let run = executor_run(&cluster, "pod-ok");
    for (id, out) in [("ok-1", "one\n"), ("ok-2", "two\n")] {
        let link = run.join("tasks").join(id);
        let target = std::fs::read_link(&link).expect("tasks/<id> is a link");
        assert!(
            target.parent().is_some_and(|p| p.ends_with("containers")),
            "{}",
            target.display()
        );
        assert_eq!(read(&link.join("stdout")), out);
    }
    assert_eq!(read(&run.join("tasks/ok-2/stderr")), "oops\n");
    // Tasks run in their own sandbox and know the container's address.
    let sandbox = std::fs::read_link(run.join("tasks/ok-2")).unwrap();
    assert_eq!(
        read(&run.join("tasks/ok-2/env")),
        format!("127.0.0.1 {}\n", sandbox.display())
    );
    let bad_run = executor_run(&cluster, "pod-bad");
    assert!(bad_run.join("tasks/sleeper/stdout").is_file());

    // Both executors exit once their tasks are terminal and acknowledged.
    let kill_run = executor_run(&cluster, "pod-kill");
    for run in [&run, &bad_run, &kill_run] {
        let log = run.join("stderr");
        let mut waited = Duration::ZERO;
        while !read(&log).contains("All tasks are terminal and acknowledged; exiting") {
            assert!(
                waited < Duration::from_secs(20),
                "executor did not exit: {}",
                read(&log)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
            waited += Duration::from_millis(100);
        }
    }

    // The master tracked the tasks like any others.
    let state = cluster.master_state().await;
    let framework = &state["frameworks"][0];
    let mut known: Vec<(String, String, String)> = framework["completed_tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(framework["tasks"].as_array().into_iter().flatten())
        .map(|t| {
            (
                t["id"].as_str().unwrap_or_default().to_string(),
                t["executor_id"].as_str().unwrap_or_default().to_string(),
                t["state"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    known.sort();
    assert_eq!(
        known,
        [
            ("bad".into(), "pod-bad".into(), "TASK_FAILED".into()),
            ("bystander".into(), "pod-kill".into(), "TASK_KILLED".into()),
            ("ok-1".into(), "pod-ok".into(), "TASK_FINISHED".into()),
            ("ok-2".into(), "pod-ok".into(), "TASK_FINISHED".into()),
            ("sleeper".into(), "pod-bad".into(), "TASK_KILLED".into()),
            ("victim".into(), "pod-kill".into(), "TASK_KILLED".into()),
        ],
        "{state}"
    );
}
