//! Health checks and general checks run by the executors, end to end: a
//! v1 framework launches checked tasks on a real master and agent. A
//! passing COMMAND check makes the task healthy; a failing one kills it
//! after `consecutive_failures` (`TASK_KILLED`, `healthy: false`); HTTP
//! and TCP checks probe a server the task runs; a task group's task is
//! checked by the default executor; a general check reports its exit
//! code; the master refuses invalid health checks as Mesos does.

use std::collections::BTreeMap;
use std::time::Duration;

use mesos::wire::mesos::v1::scheduler::{Call, call};
use mesos::wire::mesos::v1::{self, TaskState, task_status::Reason};
use mesos_e2e::Cluster;
use mesos_e2e::framework::{Framework, scalar, task};

/// How long a whole test may wait for the updates it expects.
const TEST_TIMEOUT: Duration = Duration::from_secs(40);

fn command(value: &str) -> v1::CommandInfo {
    v1::CommandInfo {
        shell: Some(true),
        value: Some(value.to_string()),
        ..Default::default()
    }
}

/// A health check probing quickly: first probe at once, then every
/// 300 ms, each allowed 5 s; `failures` in a row kill; no grace period.
fn fast(kind: v1::health_check::Type, failures: u32) -> v1::HealthCheck {
    v1::HealthCheck {
        r#type: Some(kind as i32),
        delay_seconds: Some(0.0),
        interval_seconds: Some(0.3),
        timeout_seconds: Some(5.0),
        consecutive_failures: Some(failures),
        grace_period_seconds: Some(0.0),
        ..Default::default()
    }
}

fn command_check(value: &str, failures: u32) -> v1::HealthCheck {
    v1::HealthCheck {
        command: Some(command(value)),
        ..fast(v1::health_check::Type::Command, failures)
    }
}

/// A kill policy of 1 s, so kills are quick.
fn quick_kill(mut task: v1::TaskInfo) -> v1::TaskInfo {
    task.kill_policy = Some(v1::KillPolicy {
        grace_period: Some(v1::DurationInfo {
            nanoseconds: 1_000_000_000,
        }),
    });
    task
}

fn state(status: &v1::TaskStatus) -> TaskState {
    TaskState::try_from(status.state).unwrap_or(TaskState::TaskUnknown)
}

fn reason(status: &v1::TaskStatus) -> Option<Reason> {
    status.reason.and_then(|r| Reason::try_from(r).ok())
}

fn terminal(status: &v1::TaskStatus) -> bool {
    matches!(
        state(status),
        TaskState::TaskFinished
            | TaskState::TaskFailed
            | TaskState::TaskKilled
            | TaskState::TaskError
            | TaskState::TaskLost
            | TaskState::TaskDropped
    )
}

/// Every update of the framework's tasks, acknowledged, kept per task in
/// order until `done` holds.
async fn updates_until(
    framework: &mut Framework,
    cluster: &Cluster,
    mut done: impl FnMut(&BTreeMap<String, Vec<v1::TaskStatus>>) -> bool,
) -> BTreeMap<String, Vec<v1::TaskStatus>> {
    let mut seen: BTreeMap<String, Vec<v1::TaskStatus>> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + TEST_TIMEOUT;
    while !done(&seen) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "updates so far: {seen:#?}\n{}",
            cluster.logs()
        );
        let event = framework.next("UPDATE", |e| e.update.is_some()).await;
        let status = event.update.expect("matched").status;
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
        seen.entry(status.task_id.value.clone())
            .or_default()
            .push(status);
    }
    seen
}

fn has(statuses: Option<&Vec<v1::TaskStatus>>, accept: impl Fn(&v1::TaskStatus) -> bool) -> bool {
    statuses.is_some_and(|s| s.iter().any(accept))
}

fn healthy_update(status: &v1::TaskStatus, healthy: bool) -> bool {
    state(status) == TaskState::TaskRunning
        && reason(status) == Some(Reason::TaskHealthCheckStatusUpdated)
        && status.healthy == Some(healthy)
}

async fn kill(framework: &Framework, task_id: &str, agent: &v1::AgentId) {
    framework
        .call(Call {
            r#type: Some(call::Type::Kill as i32),
            kill: Some(call::Kill {
                task_id: v1::TaskId {
                    value: task_id.to_string(),
                },
                agent_id: Some(agent.clone()),
                kill_policy: None,
            }),
            ..Default::default()
        })
        .await;
}

/// A port nothing listens on, in the agent's range.
fn free_agent_port(taken: &[u16]) -> u16 {
    (31000..32000u16)
        .find(|p| {
            !taken.contains(p)
                && std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, *p)).is_ok()
        })
        .expect("a free port in the agent's range")
}

fn with_port(mut task: v1::TaskInfo, port: u16) -> v1::TaskInfo {
    task.resources.push(v1::Resource {
        name: "ports".into(),
        r#type: v1::value::Type::Ranges as i32,
        ranges: Some(v1::value::Ranges {
            range: vec![v1::value::Range {
                begin: u64::from(port),
                end: u64::from(port),
            }],
        }),
        ..Default::default()
    });
    task
}

/// A small HTTP server on 127.0.0.1:`port` serving the task's sandbox.
fn http_server(port: u16) -> String {
    if std::path::Path::new("/usr/bin/busybox").exists() {
        format!("exec /usr/bin/busybox httpd -f -p 127.0.0.1:{port} -h .")
    } else {
        format!("exec python3 -m http.server --bind 127.0.0.1 {port}")
    }
}

#[tokio::test]
async fn command_health_checks_make_tasks_healthy_then_kill_them_when_failing() {
    let cluster = Cluster::start(1).await;
    let mut framework = Framework::subscribe(cluster.master.addr, "health", &[]).await;
    let offer = framework.offers().await.remove(0);
    let agent = offer.agent_id.clone();

    // Healthy all along, until the framework kills it.
    let mut steady = quick_kill(task("steady", &agent, "sleep 100"));
    steady.health_check = Some(command_check("test -d .", 3));
    // Healthy (the check runs in its sandbox), then not: after 2
    // failures in a row the executor kills it.
    let mut sickening = quick_kill(task(
        "sickening",
        &agent,
        "sleep 1.5 && touch unwell && sleep 100",
    ));
    sickening.health_check = Some(command_check("test ! -e unwell", 2));
    // A type-less check (older frameworks): typed COMMAND by the master.
    let mut legacy = quick_kill(task("legacy", &agent, "sleep 100"));
    legacy.health_check = Some(v1::HealthCheck {
        r#type: None,
        ..command_check("exit 0", 3)
    });
    framework
        .launch(&offer.id, vec![steady, sickening, legacy])
        .await;

    let seen = updates_until(&mut framework, &cluster, |seen| {
        has(seen.get("steady"), |s| healthy_update(s, true))
            && has(seen.get("legacy"), |s| healthy_update(s, true))
            && has(seen.get("sickening"), terminal)
    })
    .await;
    let sickening = &seen["sickening"];
    let states: Vec<(TaskState, Option<bool>)> =
        sickening.iter().map(|s| (state(s), s.healthy)).collect();
    assert_eq!(
        states,
        [
            (TaskState::TaskStarting, None),
            (TaskState::TaskRunning, None),
            (TaskState::TaskRunning, Some(true)),
            (TaskState::TaskRunning, Some(false)),
            (TaskState::TaskRunning, Some(false)),
            (TaskState::TaskKilled, Some(false)),
        ],
        "{sickening:#?}"
    );
    for status in &sickening[2..5] {
        assert_eq!(
            reason(status),
            Some(Reason::TaskHealthCheckStatusUpdated),
            "{status:?}"
        );
    }
    let killed = sickening.last().unwrap();
    assert_eq!(
        killed.source,
        Some(v1::task_status::Source::Executor as i32)
    );

    // The framework's kill of a healthy task says nothing of health.
    kill(&framework, "steady", &agent).await;
    let seen = updates_until(&mut framework, &cluster, |seen| {
        has(seen.get("steady"), terminal)
    })
    .await;
    let last = seen["steady"].last().unwrap();
    assert_eq!(state(last), TaskState::TaskKilled, "{last:?}");
    assert_eq!(last.healthy, None, "{last:?}");
    // The master's books have the health of the live task.
    let state = cluster.master_state().await;
    let legacy = state["frameworks"][0]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "legacy")
        .cloned()
        .unwrap_or_default();
    assert_eq!(legacy["health_check"]["type"], "COMMAND", "{legacy}");
    kill(&framework, "legacy", &agent).await;
    updates_until(&mut framework, &cluster, |seen| {
        has(seen.get("legacy"), terminal)
    })
    .await;
}

#[tokio::test]
async fn http_and_tcp_health_checks_probe_the_tasks_server() {
    let cluster = Cluster::start(1).await;
    let mut framework = Framework::subscribe(cluster.master.addr, "probes", &[]).await;
    let offer = framework.offers().await.remove(0);
    let agent = offer.agent_id.clone();
    let web_port = free_agent_port(&[]);
    let tcp_port = free_agent_port(&[web_port]);
    let lost_port = free_agent_port(&[web_port, tcp_port]);

    let http_check = |port: u16, path: &str| v1::HealthCheck {
        http: Some(v1::health_check::HttpCheckInfo {
            port: u32::from(port),
            path: Some(path.to_string()),
            ..Default::default()
        }),
        // The server may take a moment to start: failures before its
        // first success are forgiven for 10 s.
        grace_period_seconds: Some(10.0),
        ..fast(v1::health_check::Type::Http, 3)
    };
    // `index.html` is there: 200. `/missing`: 404, unhealthy.
    let mut web = quick_kill(with_port(
        task(
            "web",
            &agent,
            &format!("echo ok > index.html && {}", http_server(web_port)),
        ),
        web_port,
    ));
    web.health_check = Some(http_check(web_port, "/index.html"));
    let mut missing = quick_kill(with_port(
        task(
            "missing",
            &agent,
            &format!("echo ok > index.html && {}", http_server(tcp_port)),
        ),
        tcp_port,
    ));
    missing.health_check = Some(v1::HealthCheck {
        grace_period_seconds: Some(0.0),
        consecutive_failures: Some(1_000),
        ..http_check(tcp_port, "/missing")
    });
    // TCP against the second server's port; and against a port nothing
    // listens on.
    let mut tcp = quick_kill(task("tcp", &agent, "sleep 100"));
    tcp.health_check = Some(v1::HealthCheck {
        tcp: Some(v1::health_check::TcpCheckInfo {
            port: u32::from(tcp_port),
            ..Default::default()
        }),
        grace_period_seconds: Some(10.0),
        ..fast(v1::health_check::Type::Tcp, 3)
    });
    let mut closed = quick_kill(task("closed", &agent, "sleep 100"));
    closed.health_check = Some(v1::HealthCheck {
        tcp: Some(v1::health_check::TcpCheckInfo {
            port: u32::from(lost_port),
            ..Default::default()
        }),
        ..fast(v1::health_check::Type::Tcp, 2)
    });
    framework
        .launch(&offer.id, vec![web, missing, tcp, closed])
        .await;

    let seen = updates_until(&mut framework, &cluster, |seen| {
        has(seen.get("web"), |s| healthy_update(s, true))
            && has(seen.get("missing"), |s| healthy_update(s, false))
            && has(seen.get("tcp"), |s| healthy_update(s, true))
            && has(seen.get("closed"), terminal)
    })
    .await;
    assert!(
        !has(seen.get("missing"), |s| healthy_update(s, true)),
        "{:#?}",
        seen["missing"]
    );
    let closed = seen["closed"].last().unwrap();
    assert_eq!(state(closed), TaskState::TaskKilled, "{closed:?}");
    assert_eq!(closed.healthy, Some(false), "{closed:?}");

    for id in ["web", "missing", "tcp"] {
        kill(&framework, id, &agent).await;
    }
    updates_until(&mut framework, &cluster, |seen| {
        ["web", "missing", "tcp"]
            .iter()
            .all(|id| has(seen.get(*id), terminal))
    })
    .await;
}

#[tokio::test]
async fn the_default_executor_health_checks_each_task_of_a_group() {
    let cluster = Cluster::start(1).await;
    let mut framework = Framework::subscribe(cluster.master.addr, "group-health", &[]).await;
    let offer = framework.offers().await.remove(0);
    let agent = offer.agent_id.clone();
    // Healthy for a while, then failing: killed, and its partner with it.
    let mut checked = quick_kill(task(
        "checked",
        &agent,
        "sleep 1.5 && touch unwell && sleep 100",
    ));
    checked.health_check = Some(command_check("test ! -e unwell", 1));
    let partner = quick_kill(task("partner", &agent, "sleep 100"));
    let executor = v1::ExecutorInfo {
        r#type: Some(v1::executor_info::Type::Default as i32),
        executor_id: v1::ExecutorId {
            value: "pod".into(),
        },
        resources: vec![
            scalar("cpus", 0.1),
            scalar("mem", 32.0),
            scalar("disk", 10.0),
        ],
        ..Default::default()
    };
    framework
        .call(Call {
            r#type: Some(call::Type::Accept as i32),
            accept: Some(call::Accept {
                offer_ids: vec![offer.id.clone()],
                operations: vec![v1::offer::Operation {
                    r#type: Some(v1::offer::operation::Type::LaunchGroup as i32),
                    launch_group: Some(v1::offer::operation::LaunchGroup {
                        executor,
                        task_group: v1::TaskGroupInfo {
                            tasks: vec![checked, partner],
                        },
                    }),
                    ..Default::default()
                }],
                filters: None,
            }),
            ..Default::default()
        })
        .await;
    let seen = updates_until(&mut framework, &cluster, |seen| {
        has(seen.get("checked"), terminal) && has(seen.get("partner"), terminal)
    })
    .await;
    let checked: Vec<(TaskState, Option<bool>)> = seen["checked"]
        .iter()
        .map(|s| (state(s), s.healthy))
        .collect();
    assert_eq!(
        checked,
        [
            (TaskState::TaskStarting, None),
            (TaskState::TaskRunning, None),
            (TaskState::TaskRunning, Some(true)),
            (TaskState::TaskRunning, Some(false)),
            (TaskState::TaskKilled, Some(false)),
        ],
        "{:#?}",
        seen["checked"]
    );
    let partner = seen["partner"].last().unwrap();
    assert_eq!(state(partner), TaskState::TaskKilled, "{partner:?}");
    // As Mesos's default executor: once a task is killed for its health,
    // the executor's later terminal updates say unhealthy.
    assert_eq!(partner.healthy, Some(false), "{partner:?}");
}

#[tokio::test]
async fn general_checks_report_their_results_when_they_change() {
    let cluster = Cluster::start(1).await;
    let mut framework = Framework::subscribe(cluster.master.addr, "checks", &[]).await;
    let offer = framework.offers().await.remove(0);
    let agent = offer.agent_id.clone();
    // Exit code 3 until the file appears, then 0.
    let mut checked = quick_kill(task(
        "checked",
        &agent,
        "sleep 1.5 && touch ready && sleep 100",
    ));
    checked.check = Some(v1::CheckInfo {
        r#type: Some(v1::check_info::Type::Command as i32),
        command: Some(v1::check_info::Command {
            command: command("test -e ready || exit 3"),
        }),
        delay_seconds: Some(0.0),
        interval_seconds: Some(0.3),
        timeout_seconds: Some(5.0),
        ..Default::default()
    });
    framework.launch(&offer.id, vec![checked]).await;
    let exit_code = |s: &v1::TaskStatus| {
        (reason(s) == Some(Reason::TaskCheckStatusUpdated))
            .then(|| s.check_status.as_ref()?.command.as_ref()?.exit_code)
            .flatten()
    };
    let seen = updates_until(&mut framework, &cluster, |seen| {
        has(seen.get("checked"), |s| exit_code(s) == Some(0))
    })
    .await;
    let statuses = &seen["checked"];
    // Every status carries a `check_status`, empty until a result is in.
    let running = &statuses[1];
    assert_eq!(state(running), TaskState::TaskRunning);
    let empty = running.check_status.as_ref().expect("a check_status");
    assert_eq!(empty.r#type, Some(v1::check_info::Type::Command as i32));
    assert_eq!(empty.command.as_ref().and_then(|c| c.exit_code), None);
    let codes: Vec<i32> = statuses.iter().filter_map(exit_code).collect();
    assert_eq!(codes, [3, 0], "{statuses:#?}");
    kill(&framework, "checked", &agent).await;
    let seen = updates_until(&mut framework, &cluster, |seen| {
        has(seen.get("checked"), terminal)
    })
    .await;
    let last = seen["checked"].last().unwrap();
    assert_eq!(state(last), TaskState::TaskKilled);
    assert!(last.check_status.is_some(), "{last:?}");
}

#[tokio::test]
async fn invalid_health_checks_are_refused_by_the_master() {
    let cluster = Cluster::start(1).await;
    let mut framework = Framework::subscribe(cluster.master.addr, "bad-checks", &[]).await;
    let offer = framework.offers().await.remove(0);
    let agent = offer.agent_id.clone();
    let mut unknown = task("unknown", &agent, "sleep 100");
    unknown.health_check = Some(fast(v1::health_check::Type::Unknown, 3));
    let mut no_command = task("no-command", &agent, "sleep 100");
    no_command.health_check = Some(fast(v1::health_check::Type::Command, 3));
    let mut bad_path = task("bad-path", &agent, "sleep 100");
    bad_path.health_check = Some(v1::HealthCheck {
        http: Some(v1::health_check::HttpCheckInfo {
            port: 80,
            path: Some("health".into()),
            ..Default::default()
        }),
        ..fast(v1::health_check::Type::Http, 3)
    });
    let mut negative = task("negative", &agent, "sleep 100");
    negative.health_check = Some(v1::HealthCheck {
        interval_seconds: Some(-1.0),
        ..command_check("true", 3)
    });
    framework
        .launch(&offer.id, vec![unknown, no_command, bad_path, negative])
        .await;
    let seen = updates_until(&mut framework, &cluster, |seen| seen.len() == 4).await;
    let expected = [
        ("unknown", "'UNKNOWN' is not a valid health check type"),
        (
            "no-command",
            "Expecting 'command' to be set for COMMAND health check",
        ),
        (
            "bad-path",
            "The path 'health' of HTTP health check must start with '/'",
        ),
        (
            "negative",
            "Expecting 'interval_seconds' to be non-negative",
        ),
    ];
    for (id, message) in expected {
        let status = &seen[id][0];
        assert_eq!(state(status), TaskState::TaskError, "{status:?}");
        assert_eq!(reason(status), Some(Reason::TaskInvalid), "{status:?}");
        assert_eq!(
            status.message.as_deref(),
            Some(format!("Task uses invalid health check: {message}").as_str()),
        );
    }
    // The cluster still runs tasks.
    let offer = framework.offers().await.remove(0);
    framework
        .launch(&offer.id, vec![task("after", &agent, "true")])
        .await;
    let seen = updates_until(&mut framework, &cluster, |seen| {
        has(seen.get("after"), terminal)
    })
    .await;
    assert_eq!(
        state(seen["after"].last().unwrap()),
        TaskState::TaskFinished
    );
}
