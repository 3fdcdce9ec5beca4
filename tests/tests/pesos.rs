//! pesos 0.2.2, a third-party driver speaking the pre-1.0 libprocess
//! scheduler messages (RegisterFrameworkMessage, LaunchTasksMessage,
//! StatusUpdateAcknowledgementMessage, ReconcileTasksMessage,
//! UnregisterFrameworkMessage), against a real master and agent, and its
//! failover to a second process (ReregisterFrameworkMessage). Skipped when
//! pesos is not set up (see `mesos_e2e::pesos`).

use std::time::Duration;

use mesos_e2e::{Cluster, free_port, pesos};
use serde_json::Value;

#[test]
fn pesos_is_present_when_required() {
    if pesos::required()
        && let Err(reason) = pesos::locate()
    {
        panic!("{} is 1 but {reason}", pesos::REQUIRE_VAR);
    }
}

#[tokio::test]
async fn five_tasks_with_the_pre_1_0_messages() {
    let Some(python) = pesos::python_or_skip("five_tasks_with_the_pre_1_0_messages") else {
        return;
    };
    let cluster = Cluster::start(1).await;
    let run = pesos::run_framework(
        &python,
        &cluster.master_address(),
        &["--tasks", "5", "--timeout", "60"],
        Duration::from_secs(90),
    );
    let summary = &run.summary;
    assert!(run.output.status.success(), "{}", run.describe());
    assert_eq!(summary["ok"], true, "{}", run.describe());
    assert_eq!(summary["step"], "done", "{}", run.describe());
    assert_eq!(summary["launched"], 5, "{}", run.describe());
    assert_eq!(summary["finished"], 5, "{}", run.describe());
    assert_eq!(summary["reconciled"], 5, "{}", run.describe());
    let id = summary["framework_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no framework_id: {}", run.describe()));

    // Gone: UnregisterFrameworkMessage tore it down (or, had that been
    // lost, its failover timeout of 0 once it left).
    let state = cluster.master_state().await;
    assert!(
        state["frameworks"].as_array().unwrap().is_empty(),
        "{state:#}"
    );
    let completed = state["completed_frameworks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id)
        .unwrap_or_else(|| panic!("{id} not in completed_frameworks: {state:#}"));
    let finished = completed["completed_tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["state"] == "TASK_FINISHED")
        .count();
    assert_eq!(finished, 5, "{completed:#}");
}

/// The framework `id` in `/master/state`'s `list`.
fn framework<'a>(state: &'a Value, list: &str, id: &str) -> &'a Value {
    state[list]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id)
        .unwrap_or_else(|| panic!("{id} not in {list}: {state:#}"))
}

/// The ids and states of a framework's `list` of tasks, sorted.
fn tasks(framework: &Value, list: &str) -> Vec<(String, String)> {
    let mut tasks: Vec<(String, String)> = framework[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap().to_string(),
                t["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    tasks.sort();
    tasks
}

#[tokio::test]
async fn a_restarted_scheduler_reregisters_and_keeps_its_tasks() {
    let Some(python) =
        pesos::python_or_skip("a_restarted_scheduler_reregisters_and_keeps_its_tasks")
    else {
        return;
    };
    let cluster = Cluster::start(1).await;
    let master = cluster.master_address();
    // pesos names itself scheduler(1)@ip:port: the restarted process has
    // the first one's pid when it listens on the same port.
    let port = free_port();
    let mut first = pesos::spawn_framework_at(
        &python,
        &master,
        &[
            "--tasks",
            "2",
            "--cmd",
            "sleep 30",
            "--wait-for",
            "running",
            "--failover-timeout",
            "60",
            "--hold",
            "--timeout",
            "60",
        ],
        port,
    );
    let held = first
        .next_summary(Duration::from_secs(90))
        .unwrap_or_else(|e| panic!("first instance: {e}"));
    assert_eq!(held["ok"], true, "{held:#}");
    assert_eq!(held["step"], "holding", "{held:#}");
    assert_eq!(held["running"], 2, "{held:#}");
    let id = held["framework_id"].as_str().unwrap().to_string();
    let mut task_ids: Vec<String> = held["task_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    task_ids.sort();
    let running: Vec<(String, String)> = task_ids
        .iter()
        .map(|t| (t.clone(), "TASK_RUNNING".to_string()))
        .collect();

    // It crashes: the master sees its link break and keeps the framework
    // and its tasks for the failover timeout.
    first.signal(libc::SIGKILL);
    first.wait(Duration::from_secs(10));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let state = cluster.master_state().await;
        if framework(&state, "frameworks", &id)["connected"] == false {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still connected: {state:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let state = cluster.master_state().await;
    let gone = framework(&state, "frameworks", &id);
    assert_eq!(gone["active"], false, "{gone:#}");
    assert_eq!(tasks(gone, "tasks"), running, "{gone:#}");

    // Restarted on the same port with the framework id.
    let mut args = vec![
        "--framework-id",
        id.as_str(),
        "--tasks",
        "0",
        "--wait-for",
        "running",
        "--failover-timeout",
        "60",
        "--timeout",
        "60",
    ];
    for task in &task_ids {
        args.extend(["--adopt-task", task.as_str()]);
    }
    let second =
        pesos::spawn_framework_at(&python, &master, &args, port).wait(Duration::from_secs(90));
    let summary = &second.summary;
    assert!(second.output.status.success(), "{}", second.describe());
    assert_eq!(summary["ok"], true, "{}", second.describe());
    assert_eq!(summary["reregistered"], true, "{}", second.describe());
    assert_eq!(
        summary["framework_id"],
        id.as_str(),
        "{}",
        second.describe()
    );
    for task in &task_ids {
        assert_eq!(
            summary["reconciled_states"][task],
            "TASK_RUNNING",
            "{}",
            second.describe()
        );
    }
    // It unregistered at the end: the adopted tasks were killed.
    let state = cluster.master_state().await;
    let done = framework(&state, "completed_frameworks", &id);
    let killed: Vec<(String, String)> = task_ids
        .iter()
        .map(|t| (t.clone(), "TASK_KILLED".to_string()))
        .collect();
    assert_eq!(tasks(done, "completed_tasks"), killed, "{done:#}");
}
