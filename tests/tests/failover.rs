//! Two leader failovers under load: three masters on a three-server
//! ZooKeeper ensemble, two agents, a v1 HTTP framework (pymesos) and a
//! libprocess framework (the genuine libmesos driver), both given
//! `zk://...` and both with running tasks. One ZooKeeper server is killed
//! (the cluster keeps going on two), then the leading master is killed
//! with `kill -9`, the ZooKeeper server and that master come back, and the
//! second leader is killed too. After each failover the new leader has
//! both agents, both frameworks and all their running tasks; released
//! then, every task's `TASK_FINISHED` reaches its framework exactly once
//! and is acknowledged (the agents keep no task waiting for an
//! acknowledgement). Needs ZooKeeper, pymesos and libmesos; skipped (with a
//! message) without them unless their `MESOS_TEST_REQUIRE_*` is set.

use std::path::Path;
use std::time::{Duration, Instant};

use mesos_e2e::client::Running;
use mesos_e2e::zookeeper::{self, HaCluster, signal};
use mesos_e2e::{http, libmesos, pymesos};
use serde_json::Value;

/// Tasks each framework runs.
const TASKS: usize = 4;

const PYMESOS_NAME: &str = "pymesos-failover";
const LIBMESOS_NAME: &str = "libmesos-failover";

/// A task that runs until `release` exists (then finishes), failing after
/// two minutes without it.
fn task_command(release: &Path) -> String {
    format!(
        "i=0; while [ ! -e '{0}' ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done; \
         test -e '{0}'",
        release.display()
    )
}

/// Waits for `check` on master `index`'s `/master/state`, at most a minute.
async fn wait_for_state(
    cluster: &HaCluster,
    index: usize,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = Value::Null;
    loop {
        if let Ok(response) = http::get(cluster.masters[index].addr, "/master/state").await
            && response.status == 200
        {
            let state = response.json();
            if check(&state) {
                return state;
            }
            last = state;
        }
        assert!(
            Instant::now() < deadline,
            "master {}: {what} not seen within 60s; last state:\n{last:#}\n{}",
            index + 1,
            cluster.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The framework named `name` in `state["frameworks"]`.
fn framework<'a>(state: &'a Value, name: &str) -> Option<&'a Value> {
    state["frameworks"]
        .as_array()?
        .iter()
        .find(|f| f["name"] == name)
}

/// The `(id, state)` of each task in `framework[key]`.
fn tasks(framework: &Value, key: &str) -> Vec<(String, String)> {
    framework[key]
        .as_array()
        .map(|tasks| {
            tasks
                .iter()
                .map(|t| {
                    (
                        t["id"].as_str().unwrap_or_default().to_string(),
                        t["state"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Both agents active, both frameworks connected, each with its
/// [`TASKS`] tasks running.
fn everything_running(state: &Value) -> bool {
    state["activated_slaves"] == 2
        && [PYMESOS_NAME, LIBMESOS_NAME].iter().all(|name| {
            framework(state, name).is_some_and(|f| {
                let tasks = tasks(f, "tasks");
                f["connected"] == true
                    && f["active"] == true
                    && tasks.len() == TASKS
                    && tasks.iter().all(|(_, s)| s == "TASK_RUNNING")
            })
        })
}

/// The running tasks' ids, sorted, of framework `name`.
fn task_ids(state: &Value, name: &str) -> Vec<String> {
    let mut ids: Vec<String> = framework(state, name)
        .map(|f| tasks(f, "tasks").into_iter().map(|(id, _)| id).collect())
        .unwrap_or_default();
    ids.sort();
    ids
}

/// The next JSON summary `client` prints, within `timeout`.
fn summary(client: &mut Running, what: &str, timeout: Duration) -> Value {
    tokio::task::block_in_place(|| client.next_summary(timeout))
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// The sum of the client connections the serving ZooKeeper servers hold.
async fn zookeeper_connections(cluster: &mut HaCluster) -> u64 {
    let mut total = 0;
    for index in 0..cluster.zookeeper_servers() {
        total += cluster
            .zookeeper_server(index)
            .connections()
            .await
            .unwrap_or(0);
    }
    total
}

/// Kills the leading master (`kill -9`) and waits for another to lead
/// with both agents and both frameworks re-registered and every task
/// still running; the new leader's index.
async fn fail_over(cluster: &HaCluster, leader: usize, expected: &[Vec<String>]) -> usize {
    signal(&cluster.masters[leader], libc::SIGKILL);
    let killed = Instant::now();
    let new_leader = cluster.wait_for_leader(&[leader]).await;
    let state = wait_for_state(
        cluster,
        new_leader,
        "both agents, both frameworks and their running tasks",
        everything_running,
    )
    .await;
    eprintln!(
        "master {} leads with everything re-registered {:?} after master {} was killed",
        new_leader + 1,
        killed.elapsed(),
        leader + 1
    );
    let known = vec![
        task_ids(&state, PYMESOS_NAME),
        task_ids(&state, LIBMESOS_NAME),
    ];
    assert_eq!(known, expected, "the new leader knows the same tasks");
    new_leader
}

/// Whether the agents' `/state` hold every task in `ids` as a finished,
/// acknowledged task (in a completed executor's `completed_tasks`, no
/// executor left running a task or holding an unacknowledged one).
async fn agents_acknowledged(cluster: &HaCluster, ids: &[String]) -> Result<(), String> {
    let mut completed = Vec::new();
    for agent in &cluster.agents {
        let response = http::get(agent.addr, "/state")
            .await
            .map_err(|e| format!("{}: {e}", agent.name))?;
        let state = response.json();
        // A framework with no executor left is among the completed ones.
        let frameworks = ["frameworks", "completed_frameworks"]
            .into_iter()
            .flat_map(|key| state[key].as_array().into_iter().flatten());
        for framework in frameworks {
            for executor in framework["executors"].as_array().into_iter().flatten() {
                let held = tasks(executor, "tasks");
                if !held.is_empty() {
                    return Err(format!("{} still holds {held:?}", agent.name));
                }
            }
            for executor in framework["completed_executors"]
                .as_array()
                .into_iter()
                .flatten()
            {
                completed.extend(tasks(executor, "completed_tasks"));
            }
        }
    }
    for id in ids {
        match completed.iter().find(|(task, _)| task == id) {
            Some((_, state)) if state == "TASK_FINISHED" => {}
            Some((_, state)) => return Err(format!("task {id} completed as {state}")),
            None => return Err(format!("task {id} is not completed on any agent")),
        }
    }
    Ok(())
}

/// `summary[key]` maps each of `ids` to 1, and names no other task.
fn exactly_once(summary: &Value, key: &str, ids: &[String]) -> bool {
    summary[key]
        .as_object()
        .is_some_and(|counts| counts.len() == ids.len() && ids.iter().all(|id| counts[id] == 1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frameworks_agents_and_tasks_survive_two_leader_failovers() {
    let test = "frameworks_agents_and_tasks_survive_two_leader_failovers";
    let Some(python) = pymesos::python_or_skip(test) else {
        return;
    };
    let Some(driver) = libmesos::driver_or_skip(test) else {
        return;
    };
    let Some(classpath) = zookeeper::classpath_or_skip(test) else {
        return;
    };
    let master_flags = [
        "--zk_session_timeout=4secs",
        "--agent_reregister_timeout=60secs",
    ];
    let mut cluster = HaCluster::start_on_ensemble(&classpath, 3, 3, 2, &master_flags).await;
    assert_eq!(
        cluster.zk.matches("127.0.0.1:").count(),
        3,
        "{}",
        cluster.zk
    );
    let first = cluster.wait_for_leader(&[]).await;
    let release = cluster.root().join("release");
    let command = task_command(&release);
    let tasks_arg = TASKS.to_string();

    // Both frameworks find the leader through ZooKeeper and start their
    // tasks, which run until released.
    let mut py = pymesos::spawn_script(
        &python,
        "pymesos_failover.py",
        &cluster.zk,
        &[
            "--name",
            PYMESOS_NAME,
            "--tasks",
            &tasks_arg,
            "--cmd",
            &command,
            "--timeout",
            "150",
            "--hold",
        ],
    );
    let mut lm = driver.spawn(
        &cluster.zk,
        &[
            "--name",
            LIBMESOS_NAME,
            "--tasks",
            &tasks_arg,
            "--cmd",
            &command,
            "--timeout",
            "150",
            "--reconcile-wait",
            "10",
            "--hold",
        ],
    );
    let state = wait_for_state(&cluster, first, "both frameworks' tasks running", |s| {
        everything_running(s)
    })
    .await;
    let expected = vec![
        task_ids(&state, PYMESOS_NAME),
        task_ids(&state, LIBMESOS_NAME),
    ];
    let first_pid = state["pid"].as_str().unwrap().to_string();

    // The ZooKeeper ensemble's leader dies: the other two elect a new one
    // and every session moves over; no master loses its candidacy.
    let connections = zookeeper_connections(&mut cluster).await;
    let mut zk_leader = None;
    for index in 0..cluster.zookeeper_servers() {
        if cluster.zookeeper_server(index).mode().await.as_deref() == Some("leader") {
            zk_leader = Some(index);
        }
    }
    let zk_leader = zk_leader.expect("the ensemble has a leader");
    cluster.zookeeper_server(zk_leader).stop();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut serving = 0;
        for index in (0..cluster.zookeeper_servers()).filter(|i| *i != zk_leader) {
            serving += usize::from(cluster.zookeeper_server(index).serving().await);
        }
        if serving == 2 && zookeeper_connections(&mut cluster).await >= connections {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the ensemble did not serve all {connections} sessions again on two servers \
             ({} now)\n{}",
            zookeeper_connections(&mut cluster).await,
            cluster.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for master in &mut cluster.masters {
        master.check_running().unwrap();
    }
    assert_eq!(cluster.leader().await, Some(first), "{}", cluster.logs());
    wait_for_state(&cluster, first, "everything still running", |s| {
        everything_running(s)
    })
    .await;

    // Failover 1, on two ZooKeeper servers.
    let second = fail_over(&cluster, first, &expected).await;
    let second_pid = format!("master@{}", cluster.masters[second].addr);

    // The ZooKeeper server and the killed master come back; then the
    // second leader is killed too.
    cluster.zookeeper_server(zk_leader).resume_serving().await;
    cluster.masters[first] = cluster.start_master(first + 1, &master_flags).await;
    let third = fail_over(&cluster, second, &expected).await;
    let third_pid = format!("master@{}", cluster.masters[third].addr);

    // Released, every task finishes; each framework has each TASK_FINISHED
    // once, acknowledges it, reconciles and holds.
    std::fs::write(&release, b"").unwrap();
    let py_held = summary(&mut py, "pymesos", Duration::from_secs(60));
    let lm_held = summary(&mut lm, "libmesos", Duration::from_secs(60));
    let describe = |py: &Value, lm: &Value| format!("pymesos: {py:#}\nlibmesos: {lm:#}");
    assert_eq!(
        py_held["step"],
        "holding",
        "{}",
        describe(&py_held, &lm_held)
    );
    assert_eq!(
        lm_held["phase"],
        "holding",
        "{}",
        describe(&py_held, &lm_held)
    );
    assert!(
        exactly_once(&py_held, "finished_updates", &expected[0]),
        "{}",
        describe(&py_held, &lm_held)
    );
    assert!(
        exactly_once(&lm_held, "finished_updates", &expected[1]),
        "{}",
        describe(&py_held, &lm_held)
    );
    assert_eq!(py_held["ok"], true, "{}", describe(&py_held, &lm_held));
    assert_eq!(lm_held["ok"], true, "{}", describe(&py_held, &lm_held));
    assert_eq!(lm_held["tasks_finished"], TASKS, "{lm_held:#}");
    assert!(
        lm_held["errors"].as_array().unwrap().is_empty(),
        "{lm_held:#}"
    );
    // Explicit acknowledgements: one per update that carried a uuid.
    assert!(
        lm_held["acks_sent"].as_u64() >= Some(2 * TASKS as u64),
        "{lm_held:#}"
    );
    // Each framework followed both failovers.
    assert_eq!(
        lm_held["masters"],
        serde_json::json!([first_pid, second_pid, third_pid]),
        "{lm_held:#}"
    );
    assert!(lm_held["disconnected"].as_u64() >= Some(2), "{lm_held:#}");
    let py_masters: Vec<&str> = py_held["masters"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        py_masters.first().copied(),
        first_pid.strip_prefix("master@"),
        "{py_held:#}"
    );
    assert_eq!(
        py_masters.last().copied(),
        third_pid.strip_prefix("master@"),
        "{py_held:#}"
    );
    assert!(
        py_masters.contains(&second_pid.strip_prefix("master@").unwrap()),
        "{py_held:#}"
    );

    // Nothing waits for an acknowledgement: the agents hold every task
    // completed, the master has none left running.
    let all: Vec<String> = expected.concat();
    let deadline = Instant::now() + Duration::from_secs(30);
    while let Err(reason) = agents_acknowledged(&cluster, &all).await {
        assert!(Instant::now() < deadline, "{reason}\n{}", cluster.logs());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_for_state(&cluster, third, "every task completed", |s| {
        [PYMESOS_NAME, LIBMESOS_NAME].iter().all(|name| {
            framework(s, name).is_some_and(|f| {
                let completed = tasks(f, "completed_tasks");
                tasks(f, "tasks").is_empty()
                    && completed.len() == TASKS
                    && completed.iter().all(|(_, s)| s == "TASK_FINISHED")
            })
        })
    })
    .await;

    // Both tear down at the leader.
    py.signal(libc::SIGTERM);
    lm.signal(libc::SIGTERM);
    let py_run = tokio::task::block_in_place(|| py.wait(Duration::from_secs(30)));
    let lm_run = tokio::task::block_in_place(|| lm.wait(Duration::from_secs(30)));
    assert!(py_run.output.status.success(), "{}", py_run.describe());
    assert_eq!(
        py_run.summary["teardown_accepted"],
        true,
        "{}",
        py_run.describe()
    );
    assert!(lm_run.output.status.success(), "{}", lm_run.describe());
    assert_eq!(
        lm_run.summary["hold_ended_by"],
        "SIGTERM",
        "{}",
        lm_run.describe()
    );
    wait_for_state(&cluster, third, "both frameworks torn down", |s| {
        s["frameworks"].as_array().is_some_and(Vec::is_empty)
            && s["completed_frameworks"]
                .as_array()
                .is_some_and(|f| f.len() == 2)
    })
    .await;
}
