//! The genuine libmesos 1.11 scheduler driver (what Marathon runs) against
//! a real master and agent, over the libprocess scheduler protocol: tasks
//! with explicit acknowledgements, reconciliation and teardown; a
//! MULTI_ROLE framework; failover of a killed and of a live scheduler;
//! registration retries; Marathon's reconciliation probe; the leader
//! found through ZooKeeper and its successor followed after `kill -9`.
//! Skipped when the driver is not set up (see `mesos_e2e::libmesos`), the
//! high-availability test also when ZooKeeper is not installed (see
//! `mesos_e2e::zookeeper`).

use std::time::{Duration, Instant};

use mesos_e2e::zookeeper::{self, HaCluster, signal};
use mesos_e2e::{Cluster, http, libmesos};
use serde_json::Value;

/// How long a framework run may take, its own `--timeout` included.
const RUN_TIMEOUT: Duration = Duration::from_secs(90);

#[test]
fn libmesos_is_present_when_required() {
    if libmesos::required()
        && let Err(reason) = libmesos::locate()
    {
        panic!("{} is 1 but {reason}", libmesos::REQUIRE_VAR);
    }
}

fn find<'a>(state: &'a Value, list: &str, id: &str) -> Option<&'a Value> {
    state[list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list} in {state:#}"))
        .iter()
        .find(|f| f["id"] == id)
}

/// The live framework `id` in `/master/state`.
fn live<'a>(state: &'a Value, id: &str) -> &'a Value {
    find(state, "frameworks", id).unwrap_or_else(|| panic!("{id} not live: {state:#}"))
}

/// The states of a framework's tasks (`tasks` or `completed_tasks`).
fn task_states(framework: &Value, list: &str) -> Vec<(String, String)> {
    let mut states: Vec<(String, String)> = framework[list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list} in {framework:#}"))
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap().to_string(),
                t["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    states.sort();
    states
}

/// Checks the framework `id` is gone from the master, torn down, with
/// `tasks` completed tasks all in `state`.
async fn assert_torn_down(cluster: &Cluster, id: &str, tasks: usize, state: &str) {
    let master = cluster.master_state().await;
    assert!(
        master["frameworks"].as_array().unwrap().is_empty(),
        "live frameworks remain: {master:#}"
    );
    let completed = find(&master, "completed_frameworks", id)
        .unwrap_or_else(|| panic!("{id} not in completed_frameworks: {master:#}"));
    let states = task_states(completed, "completed_tasks");
    assert_eq!(states.len(), tasks, "{completed:#}");
    assert!(states.iter().all(|(_, s)| s == state), "{completed:#}");
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// The task ids of a summary's `task_states`, sorted.
fn task_ids(summary: &Value) -> Vec<String> {
    let mut ids: Vec<String> = summary["task_states"]
        .as_object()
        .unwrap_or_else(|| panic!("no task_states: {summary}"))
        .keys()
        .cloned()
        .collect();
    ids.sort();
    ids
}

/// Each of `ids` is `state` in the summary's map `key`.
fn assert_all(summary: &Value, key: &str, ids: &[String], state: &str) {
    for id in ids {
        assert_eq!(summary[key][id], state, "{key} of {id}: {summary:#}");
    }
}

/// Runs the framework with 3 tasks against `cluster` and checks the whole
/// life of a Marathon-like framework: registered by the master it was
/// pointed at, tasks launched through both `launchTasks` and
/// `acceptOffers`, every `TASK_FINISHED` acknowledged explicitly, spare
/// offers declined with filters, explicit and implicit reconciliation,
/// and a TEARDOWN the master took.
async fn three_tasks_run(driver: &libmesos::Driver, cluster: &Cluster) {
    let run = driver.run(
        &cluster.master_address(),
        &["--tasks", "3", "--timeout", "60"],
        RUN_TIMEOUT,
    );
    let summary = &run.summary;
    assert!(run.output.status.success(), "{}", run.describe());
    assert_eq!(summary["ok"], true, "{}", run.describe());
    // The driver took the registration from the master it was pointed at.
    assert_eq!(
        summary["master"],
        format!("master@{}", cluster.master_address()),
        "{}",
        run.describe()
    );
    assert_eq!(summary["tasks_launched"], 3, "{}", run.describe());
    assert_eq!(summary["tasks_finished"], 3, "{}", run.describe());
    // At most two tasks an offer: the driver's two launch calls were
    // both used.
    for api in ["launchTasks", "acceptOffers"] {
        assert!(
            summary["launched_with"][api].as_u64() >= Some(1),
            "no launch through {api}: {}",
            run.describe()
        );
    }
    // The offers it had no use for were declined with refuse_seconds.
    assert!(
        summary["offers_declined"].as_u64() >= Some(1),
        "{}",
        run.describe()
    );
    // Every executor update carried a uuid and the agent's pid, so each was
    // acknowledged; reconciliation answers carry neither.
    let updates = summary["updates"].as_u64().unwrap();
    let reconciled = summary["reconcile_updates"].as_u64().unwrap();
    assert_eq!(
        summary["acks_sent"],
        updates - reconciled,
        "{}",
        run.describe()
    );
    assert!(updates - reconciled >= 6, "{}", run.describe());
    // The master forgot the acknowledged finished tasks: explicit
    // reconciliation answers each as unknown (the framework is partition
    // aware), implicit reconciliation has nothing to report.
    assert_eq!(summary["reconciled_explicit"], 3, "{}", run.describe());
    let ids = task_ids(summary);
    assert_all(summary, "reconciled_states", &ids, "TASK_UNKNOWN");
    assert_eq!(summary["reconciled_implicit"], 0, "{}", run.describe());
    assert_eq!(
        summary["driver_status"],
        "DRIVER_STOPPED",
        "{}",
        run.describe()
    );

    let id = summary["framework_id"].as_str().unwrap();
    assert_torn_down(cluster, id, 3, "TASK_FINISHED").await;
    let state = cluster.master_state().await;
    let completed = find(&state, "completed_frameworks", id).unwrap();
    assert_eq!(completed["role"], "harness", "{completed:#}");
    assert_eq!(completed["checkpoint"], true, "{completed:#}");
    assert_eq!(completed["failover_timeout"], 604800.0, "{completed:#}");
    for task in completed["completed_tasks"].as_array().unwrap() {
        assert_eq!(task["role"], "harness", "{task:#}");
    }
}

#[tokio::test]
async fn three_tasks_finish_with_explicit_acks_reconcile_and_teardown() {
    let Some(driver) =
        libmesos::driver_or_skip("three_tasks_finish_with_explicit_acks_reconcile_and_teardown")
    else {
        return;
    };
    // Two agents: one offer each, so the driver both launches and declines.
    let cluster = Cluster::start(2).await;
    three_tasks_run(&driver, &cluster).await;
}

#[tokio::test]
async fn three_tasks_finish_on_mesos_local() {
    let Some(driver) = libmesos::driver_or_skip("three_tasks_finish_on_mesos_local") else {
        return;
    };
    let cluster = Cluster::local().await;
    three_tasks_run(&driver, &cluster).await;
}

#[tokio::test]
async fn a_multi_role_framework_runs_tasks_in_its_role() {
    let Some(driver) = libmesos::driver_or_skip("a_multi_role_framework_runs_tasks_in_its_role")
    else {
        return;
    };
    let cluster = Cluster::start(1).await;
    let run = driver.run(
        &cluster.master_address(),
        &[
            "--tasks",
            "3",
            "--multi-role",
            "--role",
            "web",
            "--timeout",
            "60",
        ],
        RUN_TIMEOUT,
    );
    assert!(run.output.status.success(), "{}", run.describe());
    assert_eq!(run.summary["ok"], true, "{}", run.describe());
    assert_eq!(run.summary["tasks_finished"], 3, "{}", run.describe());

    let id = run.summary["framework_id"].as_str().unwrap();
    assert_torn_down(&cluster, id, 3, "TASK_FINISHED").await;
    let state = cluster.master_state().await;
    let completed = find(&state, "completed_frameworks", id).unwrap();
    assert_eq!(strings(&completed["roles"]), ["web"], "{completed:#}");
    assert!(
        strings(&completed["capabilities"]).contains(&"MULTI_ROLE".to_string()),
        "{completed:#}"
    );
    // The offers carried allocation_info for `web`, which the tasks kept.
    for task in completed["completed_tasks"].as_array().unwrap() {
        assert_eq!(task["role"], "web", "{task:#}");
    }
}

/// The arguments of a first scheduler instance: `tasks` long-running
/// tasks, then hold.
fn long_running(tasks: &str) -> Vec<&str> {
    vec![
        "--tasks",
        tasks,
        "--cmd",
        "sleep 30",
        "--wait-for",
        "running",
        "--hold",
        "--timeout",
        "60",
    ]
}

/// The arguments of a second instance taking over framework `id` and its
/// tasks `adopted`.
fn take_over<'a>(id: &'a str, adopted: &'a [String], extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--framework-id",
        id,
        "--tasks",
        "0",
        "--wait-for",
        "running",
        "--timeout",
        "60",
    ];
    for task in adopted {
        args.extend(["--adopt-task", task.as_str()]);
    }
    args.extend(extra);
    args
}

/// Checks a first instance holds with `tasks` tasks running.
fn assert_holding(summary: &Value, tasks: u64) {
    assert_eq!(summary["ok"], true, "{summary:#}");
    assert_eq!(summary["phase"], "holding", "{summary:#}");
    assert_eq!(summary["tasks_running"], tasks, "{summary:#}");
}

/// Checks a second instance was registered as framework `id` and the
/// master reconciled every adopted task as running.
fn assert_took_over(summary: &Value, id: &str, adopted: &[String]) {
    assert_eq!(summary["ok"], true, "{summary:#}");
    assert_eq!(summary["registered"], true, "{summary:#}");
    assert_eq!(summary["framework_id"], id, "{summary:#}");
    assert!(
        summary["errors"].as_array().unwrap().is_empty(),
        "{summary:#}"
    );
    assert_all(summary, "reconciled_states", adopted, "TASK_RUNNING");
    assert_all(summary, "implicit_states", adopted, "TASK_RUNNING");
}

/// Polls `/master/state` until `check` holds for it, at most `timeout`.
async fn wait_for_state(cluster: &Cluster, timeout: Duration, check: impl Fn(&Value) -> bool) {
    let deadline = Instant::now() + timeout;
    loop {
        let state = cluster.master_state().await;
        if check(&state) {
            return;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?}; /master/state: {state:#}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_killed_scheduler_fails_over_and_adopts_its_running_tasks() {
    let Some(driver) =
        libmesos::driver_or_skip("a_killed_scheduler_fails_over_and_adopts_its_running_tasks")
    else {
        return;
    };
    let cluster = Cluster::start(1).await;
    let master = cluster.master_address();
    let mut first = driver.spawn(&master, &long_running("2"));
    let held = first
        .next_summary(RUN_TIMEOUT)
        .unwrap_or_else(|e| panic!("first instance: {e}"));
    assert_holding(&held, 2);
    let id = held["framework_id"].as_str().unwrap().to_string();
    let tasks = task_ids(&held);

    // It crashes, as Marathon's process would.
    first.signal(libc::SIGKILL);
    let killed = first.wait(Duration::from_secs(10));
    assert!(!killed.output.status.success(), "{}", killed.describe());
    // The master sees the scheduler go; the framework and its tasks stay
    // for its failover timeout (a week).
    wait_for_state(&cluster, Duration::from_secs(10), |state| {
        live(state, &id)["connected"] == false
    })
    .await;
    let state = cluster.master_state().await;
    let framework = live(&state, &id);
    assert_eq!(framework["active"], false, "{framework:#}");
    let running: Vec<(String, String)> = tasks
        .iter()
        .map(|t| (t.clone(), "TASK_RUNNING".to_string()))
        .collect();
    assert_eq!(task_states(framework, "tasks"), running, "{framework:#}");

    // A new instance with the same id takes over within the timeout.
    let second = driver.run(&master, &take_over(&id, &tasks, &[]), RUN_TIMEOUT);
    assert!(second.output.status.success(), "{}", second.describe());
    assert_took_over(&second.summary, &id, &tasks);
    assert_eq!(
        second.summary["reregistered"],
        false,
        "{}",
        second.describe()
    );
    // Its teardown ended the adopted tasks.
    assert_torn_down(&cluster, &id, 2, "TASK_KILLED").await;
}

#[tokio::test]
async fn a_live_scheduler_is_told_it_failed_over() {
    let Some(driver) = libmesos::driver_or_skip("a_live_scheduler_is_told_it_failed_over") else {
        return;
    };
    let cluster = Cluster::start(1).await;
    let master = cluster.master_address();
    let mut first = driver.spawn(&master, &long_running("2"));
    let held = first
        .next_summary(RUN_TIMEOUT)
        .unwrap_or_else(|e| panic!("first instance: {e}"));
    assert_holding(&held, 2);
    let id = held["framework_id"].as_str().unwrap().to_string();
    let tasks = task_ids(&held);
    let first_pid = live(&cluster.master_state().await, &id)["pid"].clone();
    assert!(first_pid.is_string(), "no pid for {id}");

    let mut second = driver.spawn(&master, &take_over(&id, &tasks, &["--hold"]));
    let took_over = second
        .next_summary(RUN_TIMEOUT)
        .unwrap_or_else(|e| panic!("second instance: {e}"));
    assert_took_over(&took_over, &id, &tasks);

    // The first instance's driver heard FrameworkErrorMessage and aborted;
    // the scheduler then stopped it, which sent the master a deactivation
    // and a TEARDOWN from the old pid.
    let failed_over = first.wait(Duration::from_secs(30));
    assert!(
        failed_over.output.status.success(),
        "{}",
        failed_over.describe()
    );
    let summary = &failed_over.summary;
    assert_eq!(summary["phase"], "ended", "{}", failed_over.describe());
    assert_eq!(
        summary["hold_ended_by"],
        "error",
        "{}",
        failed_over.describe()
    );
    assert_eq!(
        strings(&summary["errors"]),
        ["error(): Framework failed over"],
        "{}",
        failed_over.describe()
    );
    // Those came from a pid that is no longer the framework's: ignored.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let state = cluster.master_state().await;
    let framework = live(&state, &id);
    assert_eq!(framework["active"], true, "{framework:#}");
    assert_eq!(framework["connected"], true, "{framework:#}");
    assert!(framework["pid"].is_string(), "{framework:#}");
    assert_ne!(framework["pid"], first_pid, "{framework:#}");
    let running: Vec<(String, String)> = tasks
        .iter()
        .map(|t| (t.clone(), "TASK_RUNNING".to_string()))
        .collect();
    assert_eq!(task_states(framework, "tasks"), running, "{framework:#}");

    // Stopped, the second instance tears the framework down.
    second.signal(libc::SIGTERM);
    let stopped = second.wait(Duration::from_secs(30));
    assert!(stopped.output.status.success(), "{}", stopped.describe());
    assert_eq!(
        stopped.summary["hold_ended_by"],
        "SIGTERM",
        "{}",
        stopped.describe()
    );
    assert_torn_down(&cluster, &id, 2, "TASK_KILLED").await;
}

#[tokio::test]
async fn registration_retries_make_one_framework() {
    let Some(driver) = libmesos::driver_or_skip("registration_retries_make_one_framework") else {
        return;
    };
    let cluster = Cluster::start(1).await;
    // The driver resends SUBSCRIBE until it is registered, at most a tenth
    // of the failover timeout apart: with 10 µs it usually sends several
    // before the first answer arrives. A run the master answered before
    // any retry proves nothing here, so up to three runs are made until
    // one retried; each must have made exactly one framework.
    let mut retried = 0;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let run = driver
            .spawn_verbose(
                &cluster.master_address(),
                &[
                    "--tasks",
                    "1",
                    "--failover-timeout",
                    "0.00001",
                    "--timeout",
                    "60",
                ],
            )
            .wait(RUN_TIMEOUT);
        assert!(run.output.status.success(), "{}", run.describe());
        assert_eq!(run.summary["ok"], true, "{}", run.describe());
        let subscribes = String::from_utf8_lossy(&run.output.stderr)
            .matches("Sending SUBSCRIBE call")
            .count();
        let id = run.summary["framework_id"].as_str().unwrap().to_string();
        assert_torn_down(&cluster, &id, 1, "TASK_FINISHED").await;
        ids.push(id);
        let state = cluster.master_state().await;
        let completed: Vec<&Value> = state["completed_frameworks"]
            .as_array()
            .unwrap()
            .iter()
            .collect();
        assert_eq!(
            completed.len(),
            ids.len(),
            "{subscribes} SUBSCRIBEs from one driver made several frameworks: {state:#}"
        );
        for id in &ids {
            assert!(
                completed.iter().any(|f| f["id"] == id.as_str()),
                "{state:#}"
            );
        }
        if subscribes >= 2 {
            retried = subscribes;
            break;
        }
    }
    assert!(
        retried >= 2,
        "in three runs the driver registered at its first SUBSCRIBE: nothing was retried"
    );
}

#[tokio::test]
async fn an_aborted_driver_is_deactivated_then_torn_down() {
    let Some(driver) = libmesos::driver_or_skip("an_aborted_driver_is_deactivated_then_torn_down")
    else {
        return;
    };
    let cluster = Cluster::start(1).await;
    // abort() sends DeactivateFrameworkMessage; the stop() that follows
    // still sends TEARDOWN, from the same, still connected, scheduler.
    let run = driver.run(
        &cluster.master_address(),
        &["--tasks", "1", "--abort", "--timeout", "60"],
        RUN_TIMEOUT,
    );
    assert!(run.output.status.success(), "{}", run.describe());
    assert_eq!(run.summary["ok"], true, "{}", run.describe());
    let id = run.summary["framework_id"].as_str().unwrap();
    assert_torn_down(&cluster, id, 1, "TASK_FINISHED").await;
    let log = std::fs::read_to_string(&cluster.master.log).unwrap();
    assert!(
        log.contains("Deactivating framework"),
        "no deactivation in the master's log:\n{log}"
    );
}

/// A libprocess peer of our own (the crate's transport), to send what no
/// genuine driver would.
struct Rogue {
    transport: mesos::process::Transport,
    pid: mesos::upid::Upid,
    mailbox: tokio::sync::mpsc::UnboundedReceiver<mesos::process::Event>,
    master: mesos::upid::Upid,
}

impl Rogue {
    async fn start(cluster: &Cluster, id: &str) -> Rogue {
        let transport = mesos::process::Transport::bind(&mesos::process::BindConfig::loopback(0))
            .await
            .expect("bind a loopback port");
        let mailbox = transport.spawn(id);
        Rogue {
            pid: transport.upid(id),
            transport,
            mailbox,
            master: format!("master@{}", cluster.master_address())
                .parse()
                .unwrap(),
        }
    }

    fn send<M: prost::Message + prost_reflect::ReflectMessage>(&self, message: &M) {
        self.transport
            .send_message(&self.pid, &self.master, message);
    }

    fn send_raw(&self, name: &str, body: &[u8]) {
        self.transport.send(
            &self.pid,
            &self.master,
            name,
            bytes::Bytes::copy_from_slice(body),
        );
    }

    /// The next message named `name` the master sends, within 10 s.
    async fn next(&mut self, name: &str) -> bytes::Bytes {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            match tokio::time::timeout_at(deadline, self.mailbox.recv()).await {
                Ok(Some(mesos::process::Event::Message(m))) if m.name == name => {
                    assert_eq!(m.from, self.master, "{name} from another sender");
                    return m.body;
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => panic!("no {name} from the master"),
            }
        }
    }
}

#[tokio::test]
async fn spoofed_foreign_and_malformed_messages_leave_a_driver_framework_alone() {
    use mesos::wire::mesos::{self as v0, internal, scheduler};
    use prost::Message as _;

    let Some(driver) = libmesos::driver_or_skip(
        "spoofed_foreign_and_malformed_messages_leave_a_driver_framework_alone",
    ) else {
        return;
    };
    let cluster = Cluster::start(1).await;
    let master = cluster.master_address();
    let mut victim = driver.spawn(&master, &long_running("2"));
    let held = victim
        .next_summary(RUN_TIMEOUT)
        .unwrap_or_else(|e| panic!("the framework: {e}"));
    assert_holding(&held, 2);
    let id = held["framework_id"].as_str().unwrap().to_string();
    let tasks = task_ids(&held);
    let before = cluster.master_state().await;
    let victim_pid = live(&before, &id)["pid"].clone();
    let victim_id = v0::FrameworkId { value: id.clone() };
    let call = |kind: scheduler::call::Type| scheduler::Call {
        framework_id: Some(victim_id.clone()),
        r#type: Some(kind as i32),
        ..Default::default()
    };
    let task_id = |t: &str| v0::TaskId { value: t.into() };
    let agent_id = v0::SlaveId {
        value: before["slaves"][0]["id"].as_str().unwrap().into(),
    };

    // A framework of its own, acting on the other's id.
    let mut other = Rogue::start(&cluster, "scheduler-other").await;
    other.send(&scheduler::Call {
        r#type: Some(scheduler::call::Type::Subscribe as i32),
        subscribe: Some(scheduler::call::Subscribe {
            framework_info: v0::FrameworkInfo {
                user: mesos_e2e::current_user(),
                name: "other".into(),
                ..Default::default()
            },
            ..Default::default()
        }),
        ..Default::default()
    });
    let registered = internal::FrameworkRegisteredMessage::decode(
        other
            .next("mesos.internal.FrameworkRegisteredMessage")
            .await,
    )
    .unwrap();
    assert_ne!(registered.framework_id, victim_id);
    // An unknown sender: no framework is at its pid.
    let stranger = Rogue::start(&cluster, "scheduler-stranger").await;
    for sender in [&other, &stranger] {
        sender.send(&call(scheduler::call::Type::Teardown));
        let mut kill = call(scheduler::call::Type::Kill);
        kill.kill = Some(scheduler::call::Kill {
            task_id: task_id(&tasks[0]),
            slave_id: None,
            kill_policy: None,
        });
        sender.send(&kill);
        let mut suppress = call(scheduler::call::Type::Suppress);
        suppress.suppress = Some(scheduler::call::Suppress::default());
        sender.send(&suppress);
        let mut reconcile = call(scheduler::call::Type::Reconcile);
        reconcile.reconcile = Some(scheduler::call::Reconcile::default());
        sender.send(&reconcile);
        // Its take-over without force, and the old driver messages.
        sender.send(&scheduler::Call {
            framework_id: Some(victim_id.clone()),
            r#type: Some(scheduler::call::Type::Subscribe as i32),
            subscribe: Some(scheduler::call::Subscribe {
                framework_info: v0::FrameworkInfo {
                    user: mesos_e2e::current_user(),
                    name: "thief".into(),
                    id: Some(victim_id.clone()),
                    failover_timeout: Some(600.0),
                    ..Default::default()
                },
                force: Some(false),
                ..Default::default()
            }),
            ..Default::default()
        });
        sender.send(&internal::DeactivateFrameworkMessage {
            framework_id: victim_id.clone(),
        });
        sender.send(&internal::UnregisterFrameworkMessage {
            framework_id: victim_id.clone(),
        });
        sender.send(&internal::KillTaskMessage {
            framework_id: victim_id.clone(),
            task_id: task_id(&tasks[1]),
            kill_policy: None,
        });
    }
    // A call for a framework nobody knows.
    let mut unknown = call(scheduler::call::Type::Teardown);
    unknown.framework_id = Some(v0::FrameworkId {
        value: "no-such-framework".into(),
    });
    stranger.send(&unknown);
    // A status update from a pid that is no registered agent.
    stranger.send(&internal::StatusUpdateMessage {
        update: internal::StatusUpdate {
            framework_id: victim_id.clone(),
            executor_id: None,
            slave_id: Some(agent_id.clone()),
            status: v0::TaskStatus {
                task_id: task_id(&tasks[0]),
                state: v0::TaskState::TaskFailed as i32,
                slave_id: Some(agent_id.clone()),
                ..Default::default()
            },
            timestamp: 0.0,
            uuid: Some(vec![7; 16].into()),
            latest_state: None,
        },
        pid: Some(stranger.pid.to_string()),
    });
    // Malformed bodies, under every scheduler message name.
    let teardown = call(scheduler::call::Type::Teardown).encode_to_vec();
    let no_type = scheduler::Call {
        framework_id: Some(victim_id.clone()),
        ..Default::default()
    }
    .encode_to_vec();
    let mut missing_accept = call(scheduler::call::Type::Accept);
    missing_accept.accept = None;
    let unknown_type = scheduler::Call {
        framework_id: Some(victim_id.clone()),
        r#type: Some(99),
        ..Default::default()
    }
    .encode_to_vec();
    let bodies: Vec<Vec<u8>> = vec![
        b"\xff\xfe\xfd not a protobuf".to_vec(),
        teardown[..teardown.len() - 1].to_vec(),
        Vec::new(),
        no_type,
        unknown_type,
        missing_accept.encode_to_vec(),
    ];
    for name in [
        "mesos.scheduler.Call",
        "mesos.internal.RegisterFrameworkMessage",
        "mesos.internal.ReregisterFrameworkMessage",
        "mesos.internal.UnregisterFrameworkMessage",
        "mesos.internal.DeactivateFrameworkMessage",
        "mesos.internal.LaunchTasksMessage",
        "mesos.internal.KillTaskMessage",
        "mesos.internal.StatusUpdateAcknowledgementMessage",
        "mesos.internal.ReconcileTasksMessage",
    ] {
        for body in &bodies {
            other.send_raw(name, body);
            stranger.send_raw(name, body);
        }
    }
    // A sender that is no pid at all is refused at the door.
    let response = mesos_e2e::http::post(
        cluster.master.addr,
        "/master/mesos.scheduler.Call",
        &[("Libprocess-From", "not a pid")],
        teardown.clone(),
    )
    .await
    .unwrap();
    assert_eq!(response.status, 400, "{}", response.text());
    // Without a sender it is no message but a request for an endpoint
    // the master does not have.
    let response = mesos_e2e::http::post(
        cluster.master.addr,
        "/master/mesos.scheduler.Call",
        &[],
        teardown.clone(),
    )
    .await
    .unwrap();
    assert_eq!(response.status, 404, "{}", response.text());

    // Each sender's messages go in order on its connection: an answer to
    // its last one means the master has taken all of them. The stranger's
    // forceless take-overs are refused with Mesos's error (the other
    // framework's are dropped: an error would reach that framework).
    let mut stranger = stranger;
    stranger.send(&internal::ReregisterFrameworkMessage {
        framework: v0::FrameworkInfo {
            user: mesos_e2e::current_user(),
            name: "thief".into(),
            id: Some(victim_id.clone()),
            ..Default::default()
        },
        failover: false,
    });
    for _ in 0..2 {
        let error = internal::FrameworkErrorMessage::decode(
            stranger.next("mesos.internal.FrameworkErrorMessage").await,
        )
        .unwrap();
        assert_eq!(error.message, "Framework failed over");
    }
    let mut reconcile = call(scheduler::call::Type::Reconcile);
    reconcile.framework_id = Some(registered.framework_id.clone());
    reconcile.reconcile = Some(scheduler::call::Reconcile {
        tasks: vec![scheduler::call::reconcile::Task {
            task_id: task_id("not-a-task"),
            slave_id: None,
        }],
    });
    other.send(&reconcile);
    let answer = internal::StatusUpdateMessage::decode(
        other.next("mesos.internal.StatusUpdateMessage").await,
    )
    .unwrap();
    assert_eq!(answer.update.status.task_id, task_id("not-a-task"));

    // The master still serves the framework: same pid, active, its tasks
    // running.
    let state = cluster.master_state().await;
    let framework = live(&state, &id);
    assert_eq!(framework["pid"], victim_pid, "{framework:#}");
    assert_eq!(framework["active"], true, "{framework:#}");
    assert_eq!(framework["connected"], true, "{framework:#}");
    let running: Vec<(String, String)> = tasks
        .iter()
        .map(|t| (t.clone(), "TASK_RUNNING".to_string()))
        .collect();
    assert_eq!(task_states(framework, "tasks"), running, "{framework:#}");
    assert!(live(&state, &registered.framework_id.value)["active"] == true);
    let log = std::fs::read_to_string(&cluster.master.log).unwrap();
    for refusal in [
        "is not subscribed from",
        "Framework cannot be found",
        "Dropping invalid 'mesos.scheduler.Call'",
        "Disallowing subscription attempt",
    ] {
        assert!(
            log.contains(refusal),
            "nothing logged as '{refusal}':\n{log}"
        );
    }

    // The driver is intact: stopped, it tears its framework down.
    victim.signal(libc::SIGTERM);
    let stopped = victim.wait(Duration::from_secs(30));
    assert!(stopped.output.status.success(), "{}", stopped.describe());
    assert!(
        stopped.summary["errors"].as_array().unwrap().is_empty(),
        "{}",
        stopped.describe()
    );
    let state = cluster.master_state().await;
    let done = find(&state, "completed_frameworks", &id)
        .unwrap_or_else(|| panic!("{id} not torn down: {state:#}"));
    assert_eq!(task_states(done, "completed_tasks").len(), 2, "{done:#}");
}

#[tokio::test]
async fn a_driver_framework_and_a_v1_http_framework_share_the_cluster() {
    let test = "a_driver_framework_and_a_v1_http_framework_share_the_cluster";
    let Some(driver) = libmesos::driver_or_skip(test) else {
        return;
    };
    let Some(python) = mesos_e2e::pymesos::python_or_skip(test) else {
        return;
    };
    let cluster = Cluster::start(2).await;
    let master = cluster.master_address();
    // The libprocess framework holds two long-running tasks (declining
    // spare offers for 1 s only)...
    let mut args = long_running("2");
    args.extend(["--refuse-seconds", "1"]);
    let mut driver_framework = driver.spawn(&master, &args);
    let held = driver_framework
        .next_summary(RUN_TIMEOUT)
        .unwrap_or_else(|e| panic!("the driver framework: {e}"));
    assert_holding(&held, 2);
    let id = held["framework_id"].as_str().unwrap().to_string();
    let tasks = task_ids(&held);

    // ...while pymesos, over the v1 HTTP API, gets the rest offered (its
    // share is the lower, so the allocator turns to it) and runs its own.
    let run = mesos_e2e::pymesos::run_framework(&python, &master, &["--tasks", "10"]);
    assert!(run.output.status.success(), "{}", run.describe());
    assert_eq!(run.summary["ok"], true, "{}", run.describe());
    assert_eq!(run.summary["finished"], 10, "{}", run.describe());
    let http_id = run.summary["framework_id"].as_str().unwrap().to_string();
    let state = cluster.master_state().await;
    let http_framework = find(&state, "completed_frameworks", &http_id)
        .unwrap_or_else(|| panic!("{http_id} not completed: {state:#}"));
    let finished = task_states(http_framework, "completed_tasks");
    assert_eq!(finished.len(), 10, "{http_framework:#}");
    assert!(
        finished.iter().all(|(_, s)| s == "TASK_FINISHED"),
        "{http_framework:#}"
    );
    // The HTTP framework has no pid; the driver's kept its own, and its
    // tasks ran on throughout.
    assert!(http_framework["pid"].is_null(), "{http_framework:#}");
    let framework = live(&state, &id);
    assert!(framework["pid"].is_string(), "{framework:#}");
    assert_eq!(framework["active"], true, "{framework:#}");
    let running: Vec<(String, String)> = tasks
        .iter()
        .map(|t| (t.clone(), "TASK_RUNNING".to_string()))
        .collect();
    assert_eq!(task_states(framework, "tasks"), running, "{framework:#}");

    // Once its filters lapse the driver framework is offered the agents
    // again (and declines: it has all it needs); then it tears down.
    tokio::time::sleep(Duration::from_secs(3)).await;
    driver_framework.signal(libc::SIGTERM);
    let stopped = driver_framework.wait(Duration::from_secs(30));
    assert!(stopped.output.status.success(), "{}", stopped.describe());
    assert!(
        stopped.summary["offers_declined"].as_u64() > held["offers_declined"].as_u64(),
        "no offers while holding: {}",
        stopped.describe()
    );
    assert_torn_down(&cluster, &id, 2, "TASK_KILLED").await;
}

#[tokio::test]
async fn tasks_are_killed_and_offers_suppressed_and_revived() {
    let Some(driver) =
        libmesos::driver_or_skip("tasks_are_killed_and_offers_suppressed_and_revived")
    else {
        return;
    };
    let cluster = Cluster::start(1).await;
    let run = driver.run(
        &cluster.master_address(),
        &[
            "--tasks",
            "2",
            "--cmd",
            "sleep 30",
            "--wait-for",
            "running",
            "--kill",
            "--timeout",
            "60",
        ],
        RUN_TIMEOUT,
    );
    let summary = &run.summary;
    assert!(run.output.status.success(), "{}", run.describe());
    assert_eq!(summary["ok"], true, "{}", run.describe());
    // KILL calls: each task went through TASK_KILLING (the framework has
    // TASK_KILLING_STATE) to TASK_KILLED, every update acknowledged.
    assert_eq!(summary["killed"], 2, "{}", run.describe());
    assert_eq!(summary["killing_seen"], 2, "{}", run.describe());
    // SUPPRESS: the freed resources were not offered; REVIVE: they were.
    assert_eq!(summary["offers_while_suppressed"], 0, "{}", run.describe());
    assert!(
        summary["offers_after_revive"].as_u64() >= Some(1),
        "{}",
        run.describe()
    );
    let id = summary["framework_id"].as_str().unwrap();
    assert_torn_down(&cluster, id, 2, "TASK_KILLED").await;
}

#[tokio::test]
async fn a_lost_agent_is_reported_to_the_driver() {
    let Some(driver) = libmesos::driver_or_skip("a_lost_agent_is_reported_to_the_driver") else {
        return;
    };
    // Agents that miss two 1 s pings are removed.
    let mut cluster = Cluster::start_with(
        1,
        &["--agent_ping_timeout=1secs", "--max_agent_ping_timeouts=2"],
    )
    .await;
    let mut held = driver.spawn(&cluster.master_address(), &long_running("2"));
    let holding = held
        .next_summary(RUN_TIMEOUT)
        .unwrap_or_else(|e| panic!("the framework: {e}"));
    assert_holding(&holding, 2);
    let id = holding["framework_id"].as_str().unwrap().to_string();
    let agent = cluster.master_state().await["slaves"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();

    // The agent dies; the master marks it unreachable: the driver hears
    // TASK_UNREACHABLE for each task (it is partition aware), then
    // LostSlaveMessage.
    cluster.agents[0].kill();
    wait_for_state(&cluster, Duration::from_secs(20), |state| {
        state["slaves"].as_array().is_some_and(Vec::is_empty)
    })
    .await;
    let state = cluster.master_state().await;
    let framework = live(&state, &id);
    assert!(
        framework["tasks"].as_array().unwrap().is_empty(),
        "{framework:#}"
    );
    held.signal(libc::SIGTERM);
    let stopped = held.wait(Duration::from_secs(30));
    let summary = &stopped.summary;
    assert_eq!(summary["phase"], "ended", "{}", stopped.describe());
    for task in task_ids(&holding) {
        assert_eq!(
            summary["task_states"][&task],
            "TASK_UNREACHABLE",
            "{}",
            stopped.describe()
        );
    }
    assert_eq!(
        strings(&summary["agents_lost"]),
        [agent],
        "{}",
        stopped.describe()
    );
    assert!(
        summary["errors"].as_array().unwrap().is_empty(),
        "{}",
        stopped.describe()
    );
}

#[tokio::test]
async fn a_made_up_task_on_a_made_up_agent_reconciles_as_lost_or_unknown() {
    let Some(driver) =
        libmesos::driver_or_skip("a_made_up_task_on_a_made_up_agent_reconciles_as_lost_or_unknown")
    else {
        return;
    };
    let cluster = Cluster::start(1).await;
    // Marathon's liveness probe: a task and an agent nobody ever had.
    let task = "fake-marathon-pacemaker-task-1b2c3d";
    let agent = "fake-marathon-pacemaker-agent-4e5f6a";
    let probe = format!("{task}:{agent}");
    for (extra, state) in [
        (&[][..], "TASK_UNKNOWN"),
        (&["--no-partition-aware"][..], "TASK_LOST"),
    ] {
        let mut args = vec![
            "--tasks",
            "0",
            "--reconcile-unknown",
            probe.as_str(),
            "--timeout",
            "30",
        ];
        args.extend(extra);
        let run = driver.run(&cluster.master_address(), &args, RUN_TIMEOUT);
        let summary = &run.summary;
        assert!(run.output.status.success(), "{}", run.describe());
        assert_eq!(summary["ok"], true, "{}", run.describe());
        // Counted as a reconciliation answer only with REASON_RECONCILIATION.
        assert_eq!(summary["reconciled_explicit"], 1, "{}", run.describe());
        assert_eq!(
            summary["reconciled_states"][task],
            state,
            "{}",
            run.describe()
        );
        assert_eq!(
            summary["reconciled_agents"][task],
            agent,
            "{}",
            run.describe()
        );
        assert_eq!(
            summary["reconciled_messages"][task],
            "Reconciliation: Task is unknown",
            "{}",
            run.describe()
        );
        // Answers from the master carry no uuid: nothing to acknowledge.
        assert_eq!(summary["acks_sent"], 0, "{}", run.describe());
    }
}

/// Waits for `check` on master `index`'s `/master/state`, at most a
/// minute.
async fn wait_for_ha_state(
    cluster: &HaCluster,
    index: usize,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(response) = http::get(cluster.masters[index].addr, "/master/state").await
            && response.status == 200
        {
            let state = response.json();
            if check(&state) {
                return state;
            }
        }
        assert!(
            Instant::now() < deadline,
            "master {}: {what} not seen within 60s\n{}",
            index + 1,
            cluster.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether framework `id` is in `completed_frameworks` with `tasks` tasks,
/// all `state`.
fn completed_with(state: &Value, id: &str, tasks: usize, want: &str) -> bool {
    find(state, "completed_frameworks", id).is_some_and(|framework| {
        let states = task_states(framework, "completed_tasks");
        states.len() == tasks && states.iter().all(|(_, s)| s == want)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_driver_finds_the_leader_through_zookeeper_and_follows_its_successor() {
    let test = "a_driver_finds_the_leader_through_zookeeper_and_follows_its_successor";
    let Some(driver) = libmesos::driver_or_skip(test) else {
        return;
    };
    let Some(classpath) = zookeeper::classpath_or_skip(test) else {
        return;
    };
    let cluster = HaCluster::start(
        &classpath,
        3,
        1,
        &[
            "--zk_session_timeout=4secs",
            "--agent_reregister_timeout=20secs",
        ],
    )
    .await;
    let leader = cluster.wait_for_leader(&[]).await;
    let leader_addr = cluster.masters[leader].addr;

    // Given zk://, the driver reads the leader from its znode, registers
    // with it, runs its tasks and tears down there.
    let run = driver.run(
        &cluster.zk,
        &["--tasks", "3", "--timeout", "60"],
        RUN_TIMEOUT,
    );
    let summary = &run.summary;
    assert!(run.output.status.success(), "{}", run.describe());
    assert_eq!(summary["ok"], true, "{}", run.describe());
    assert_eq!(
        summary["master"],
        format!("master@{leader_addr}"),
        "{}",
        run.describe()
    );
    assert_eq!(summary["tasks_finished"], 3, "{}", run.describe());
    let id = summary["framework_id"].as_str().unwrap().to_string();
    wait_for_ha_state(&cluster, leader, "the framework torn down", |state| {
        completed_with(state, &id, 3, "TASK_FINISHED")
    })
    .await;

    // A second run's tasks outlive the leader: it is killed while they
    // run, the driver learns its successor from ZooKeeper and re-registers
    // there, and the tasks' TASK_FINISHED reach it through the new leader.
    let running = driver.spawn(
        &cluster.zk,
        &["--tasks", "2", "--cmd", "sleep 12", "--timeout", "80"],
    );
    let state = wait_for_ha_state(&cluster, leader, "2 running tasks", |state| {
        state["frameworks"].as_array().is_some_and(|frameworks| {
            frameworks.len() == 1
                && task_states(&frameworks[0], "tasks").len() == 2
                && task_states(&frameworks[0], "tasks")
                    .iter()
                    .all(|(_, s)| s == "TASK_RUNNING")
        })
    })
    .await;
    let id = state["frameworks"][0]["id"].as_str().unwrap().to_string();
    let tasks: Vec<String> = task_states(&state["frameworks"][0], "tasks")
        .into_iter()
        .map(|(task, _)| task)
        .collect();
    signal(&cluster.masters[leader], libc::SIGKILL);
    let new_leader = cluster.wait_for_leader(&[leader]).await;
    // The framework re-registered with the new leader, which has its tasks
    // from the re-registered agent (or has already seen them finish).
    wait_for_ha_state(
        &cluster,
        new_leader,
        "the framework re-registered",
        |state| {
            find(state, "frameworks", &id).is_some_and(|f| f["connected"] == true)
                || completed_with(state, &id, 2, "TASK_FINISHED")
        },
    )
    .await;

    let run = running.wait(RUN_TIMEOUT);
    let summary = &run.summary;
    assert!(run.output.status.success(), "{}", run.describe());
    assert_eq!(summary["ok"], true, "{}", run.describe());
    assert_eq!(summary["framework_id"], id.as_str(), "{}", run.describe());
    assert_eq!(summary["reregistered"], true, "{}", run.describe());
    assert!(
        summary["disconnected"].as_u64() >= Some(1),
        "{}",
        run.describe()
    );
    assert_eq!(summary["tasks_finished"], 2, "{}", run.describe());
    assert_all(summary, "task_states", &tasks, "TASK_FINISHED");
    // Acknowledged, the finished tasks are forgotten: the new leader
    // reconciles them as unknown (the framework is partition aware).
    assert_all(summary, "reconciled_states", &tasks, "TASK_UNKNOWN");
    assert!(
        summary["errors"].as_array().unwrap().is_empty(),
        "{}",
        run.describe()
    );
    // Its teardown reached the new leader.
    wait_for_ha_state(&cluster, new_leader, "the framework torn down", |state| {
        completed_with(state, &id, 2, "TASK_FINISHED")
    })
    .await;
}
