//! pymesos 0.3.15, a third-party client of the v1 HTTP APIs, against a real
//! master and two agents: many command tasks, then tasks under its own
//! executor (the agent's v1 executor API). Skipped when pymesos is not set
//! up (see `mesos_e2e::pymesos`).

use mesos_e2e::{Cluster, pymesos};
use serde_json::Value;

#[test]
fn pymesos_is_present_when_required() {
    if pymesos::required() {
        if let Err(reason) = pymesos::locate() {
            panic!("{} is 1 but {reason}", pymesos::REQUIRE_VAR);
        }
    }
}

/// Checks the run succeeded and the master has forgotten the framework's
/// tasks: it is completed, and nothing is running.
async fn assert_completed(cluster: &Cluster, run: &pymesos::FrameworkRun, tasks: u64) {
    let summary = &run.summary;
    assert!(run.output.status.success(), "{}", run.describe());
    assert_eq!(summary["ok"], true, "{}", run.describe());
    assert_eq!(summary["step"], "done", "{}", run.describe());
    assert_eq!(summary["launched"], tasks, "{}", run.describe());
    assert_eq!(summary["finished"], tasks, "{}", run.describe());
    assert_eq!(summary["reconciled"], tasks, "{}", run.describe());
    assert_eq!(summary["teardown_accepted"], true, "{}", run.describe());
    let framework_id = summary["framework_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no framework_id: {}", run.describe()))
        .to_string();

    let state = cluster.master_state().await;
    let live: Vec<&Value> = state["frameworks"].as_array().unwrap().iter().collect();
    assert!(
        live.iter().all(|f| f["id"] != framework_id.as_str()),
        "framework {framework_id} still live: {state:#}"
    );
    let running: Vec<&Value> = live
        .iter()
        .flat_map(|f| f["tasks"].as_array().unwrap())
        .collect();
    assert!(running.is_empty(), "live tasks remain: {running:#?}");
    let completed = state["completed_frameworks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == framework_id.as_str())
        .unwrap_or_else(|| panic!("{framework_id} not in completed_frameworks: {state:#}"));
    assert_eq!(
        completed["tasks"].as_array().unwrap().len(),
        0,
        "{completed:#}"
    );
    let finished = completed["completed_tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["state"] == "TASK_FINISHED")
        .count();
    assert_eq!(finished as u64, tasks, "{completed:#}");
}

#[tokio::test]
async fn fifty_command_tasks_on_two_agents() {
    let Some(python) = pymesos::python_or_skip("fifty_command_tasks_on_two_agents") else {
        return;
    };
    let cluster = Cluster::start(2).await;
    let run = pymesos::run_framework(
        &python,
        &cluster.master_address(),
        &["--tasks", "50", "--cmd", "true", "--timeout", "90"],
    );
    assert_completed(&cluster, &run, 50).await;
    let agents_used = {
        let state = cluster.master_state().await;
        let framework = &state["completed_frameworks"][0];
        let mut agents: Vec<&str> = framework["completed_tasks"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t["slave_id"].as_str())
            .collect();
        agents.sort_unstable();
        agents.dedup();
        agents.len()
    };
    assert_eq!(
        agents_used, 2,
        "50 tasks should not fit on one agent at once"
    );
}

#[tokio::test]
async fn three_tasks_under_the_pymesos_executor() {
    let Some(python) = pymesos::python_or_skip("three_tasks_under_the_pymesos_executor") else {
        return;
    };
    let cluster = Cluster::start(2).await;
    let run = pymesos::run_framework(
        &python,
        &cluster.master_address(),
        &[
            "--tasks",
            "3",
            "--executor",
            "--cmd",
            "echo hi-from-executor-task",
            "--timeout",
            "60",
        ],
    );
    assert_completed(&cluster, &run, 3).await;
    assert_eq!(run.summary["mode"], "executor", "{}", run.describe());
    // One sandbox per task, each run by the pymesos executor.
    let stdouts = cluster.sandbox_files("stdout");
    assert_eq!(stdouts.len(), 3, "{stdouts:?}");
    for stdout in &stdouts {
        let text = std::fs::read_to_string(stdout).unwrap();
        assert!(
            text.contains("hi-from-executor-task"),
            "{}: {text}",
            stdout.display()
        );
    }
    for stderr in cluster.sandbox_files("stderr") {
        let text = std::fs::read_to_string(&stderr).unwrap();
        assert!(
            text.contains("registered executor=pymesos-exec-"),
            "{} shows no pymesos executor: {text}",
            stderr.display()
        );
    }
}
