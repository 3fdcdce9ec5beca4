//! pesos 0.2.2, a third-party driver speaking the pre-1.0 libprocess
//! scheduler messages (RegisterFrameworkMessage, LaunchTasksMessage,
//! StatusUpdateAcknowledgementMessage, ReconcileTasksMessage,
//! UnregisterFrameworkMessage), against a real master and agent. Skipped
//! when pesos is not set up (see `mesos_e2e::pesos`).

use std::time::Duration;

use mesos_e2e::{Cluster, pesos};

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
