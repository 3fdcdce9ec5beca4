//! Agent checkpointing and recovery end to end: an agent killed with
//! SIGKILL while a task runs is started again on the same work directory
//! and port. A checkpointing framework's task keeps running (its command
//! executor reconnects), the agent re-registers under the same id, and
//! the framework hears `TASK_FINISHED` exactly once. With
//! `--recover=cleanup` the restarted agent kills the task and exits. A
//! framework that does not checkpoint has its task reported lost.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mesos::wire::mesos::v1;
use mesos_e2e::Cluster;
use mesos_e2e::framework::{Framework, task};

fn state(status: &v1::TaskStatus) -> v1::TaskState {
    v1::TaskState::try_from(status.state).unwrap_or(v1::TaskState::TaskUnknown)
}

/// Launches `command` as task `id` on the first offer; returns the agent
/// id once the task runs.
async fn run_task(framework: &mut Framework, id: &str, command: &str) -> v1::AgentId {
    let offer = framework.offers().await.remove(0);
    framework
        .launch(&offer.id, vec![task(id, &offer.agent_id, command)])
        .await;
    loop {
        let status = framework.update_of(id).await;
        match state(&status) {
            v1::TaskState::TaskStaging | v1::TaskState::TaskStarting => continue,
            v1::TaskState::TaskRunning => return offer.agent_id,
            other => panic!("task {id} ended before running: {other:?} {status:?}"),
        }
    }
}

/// The `forked.pid` files the agent checkpointed under `work_dir`.
fn forked_pids(work_dir: &Path) -> Vec<u32> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_symlink() {
                continue;
            }
            if path.is_dir() {
                walk(&path, found);
            } else if path.file_name().is_some_and(|n| n == "forked.pid") {
                found.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&work_dir.join("meta"), &mut files);
    files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .filter_map(|text| text.trim().parse().ok())
        .collect()
}

/// Kills, when dropped, the executors a test's agent checkpointed: those
/// of checkpointing frameworks outlive a killed agent by design, waiting
/// for it to come back, and a failing test must not leave them behind.
struct Executors(Vec<u32>);

impl Drop for Executors {
    fn drop(&mut self) {
        for &pid in &self.0 {
            if let Ok(pid) = i32::try_from(pid)
                && running(pid as u32)
            {
                // SAFETY: kill has no memory effects; the pid was read
                // from the agent's checkpoint and still runs.
                unsafe {
                    libc::kill(-pid, libc::SIGKILL);
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
    }
}

/// Whether `pid` still runs (a zombie does not).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next().map(str::to_string))
        })
        .is_some_and(|s| s != "Z" && s != "X")
}

/// A master and one agent, once the agent has checkpointed its info: it
/// has taken its registration (the master counts it a little earlier,
/// and a task sent in between would find it unregistered).
async fn cluster() -> Cluster {
    let cluster = Cluster::start(1).await;
    cluster.wait_for_agent_checkpoint(0).await;
    cluster
}

async fn agent_ids(cluster: &Cluster) -> Vec<String> {
    let state = cluster.master_state().await;
    state["slaves"]
        .as_array()
        .map(|agents| {
            agents
                .iter()
                .filter(|a| a["active"] == true)
                .filter_map(|a| a["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpointed_task_survives_an_agent_kill() {
    let mut cluster = cluster().await;
    let mut framework =
        Framework::subscribe_checkpointing(cluster.master.addr, "recovery-reconnect").await;
    let agent_id = run_task(&mut framework, "survivor", "sleep 6").await;
    let work_dir = cluster.agents[0].work_dir.clone().unwrap();
    let pids = forked_pids(&work_dir);
    let _executors = Executors(pids.clone());
    assert_eq!(pids.len(), 1, "one executor pid checkpointed: {pids:?}");

    cluster.kill_agent(0);
    assert!(running(pids[0]), "the executor outlives its agent");
    cluster.restart_agent(0, &[]).await;
    // The recovered agent's own directories are not garbage to collect
    // (earlier agents' are): nothing is scheduled for removal.
    let metrics = mesos_e2e::http::get(cluster.agents[0].addr, "/metrics/snapshot")
        .await
        .expect("agent metrics")
        .json();
    assert_eq!(metrics["gc/path_removals_pending"], 0.0, "{metrics}");

    // The task ends as it would have without the restart, reported once
    // (a TASK_RUNNING whose acknowledgement the agent did not live to
    // checkpoint is sent again).
    let status = loop {
        let status = framework.update_of("survivor").await;
        if state(&status) != v1::TaskState::TaskRunning {
            break status;
        }
    };
    assert_eq!(
        state(&status),
        v1::TaskState::TaskFinished,
        "{status:?}\n{}",
        cluster.logs()
    );
    assert_eq!(agent_ids(&cluster).await, vec![agent_id.value.clone()]);
    let quiet = tokio::time::timeout(
        Duration::from_secs(3),
        framework.next("another update of survivor", |e| {
            e.update
                .as_ref()
                .is_some_and(|u| u.status.task_id.value == "survivor")
        }),
    )
    .await;
    assert!(quiet.is_err(), "a second update: {quiet:?}");
    let state = cluster.master_state().await;
    assert!(
        state["slaves"][0]["reregistered_time"].is_number(),
        "{}",
        state["slaves"][0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recover_cleanup_kills_the_recovered_task() {
    let mut cluster = cluster().await;
    let mut framework =
        Framework::subscribe_checkpointing(cluster.master.addr, "recovery-cleanup").await;
    run_task(&mut framework, "doomed", "sleep 60").await;
    let work_dir = cluster.agents[0].work_dir.clone().unwrap();
    let pids = forked_pids(&work_dir);
    let _executors = Executors(pids.clone());
    assert_eq!(pids.len(), 1, "one executor pid checkpointed: {pids:?}");

    cluster.kill_agent(0);
    assert!(running(pids[0]));
    cluster.respawn_agent(0, &["--recover=cleanup"]);
    let exit = cluster.agents[0].wait_exit(Duration::from_secs(20));
    assert!(
        exit.is_some_and(|s| s.success()),
        "the cleaning agent exits: {exit:?}\n{}",
        cluster.logs()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while running(pids[0]) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !running(pids[0]),
        "the executor is killed\n{}",
        cluster.logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_checkpointing_task_is_lost_with_its_agent() {
    let mut cluster = cluster().await;
    let mut framework =
        Framework::subscribe(cluster.master.addr, "recovery-no-checkpoint", &[]).await;
    let agent_id = run_task(&mut framework, "ephemeral", "sleep 60").await;
    let work_dir = cluster.agents[0].work_dir.clone().unwrap();
    assert!(forked_pids(&work_dir).is_empty(), "nothing checkpointed");

    cluster.kill_agent(0);
    let status = framework.update_of("ephemeral").await;
    assert_eq!(state(&status), v1::TaskState::TaskLost, "{status:?}");
    assert_eq!(
        status.reason,
        Some(v1::task_status::Reason::AgentDisconnected as i32),
        "{status:?}"
    );
    cluster.restart_agent(0, &[]).await;
    // The agent keeps its id (its own info is always checkpointed) and
    // re-registers with no task.
    let deadline = Instant::now() + Duration::from_secs(20);
    while agent_ids(&cluster).await != vec![agent_id.value.clone()] {
        assert!(
            Instant::now() < deadline,
            "the agent did not re-register\n{}",
            cluster.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let state = cluster.master_state().await;
    assert_eq!(state["slaves"][0]["used_resources"]["cpus"], 0.0, "{state}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_agent_info_is_refused_and_the_same_flags_recover() {
    let mut cluster = cluster().await;
    let before = agent_ids(&cluster).await;
    assert_eq!(before.len(), 1);
    cluster.kill_agent(0);

    // New attributes: not the agent that checkpointed (Mesos's default
    // --reconfiguration_policy=equal), and the host did not reboot.
    cluster.respawn_agent(0, &["--attributes=rack:r2"]);
    let exit = cluster.agents[0].wait_exit(Duration::from_secs(20));
    assert!(
        exit.is_some_and(|s| !s.success()),
        "the agent refuses to start: {exit:?}"
    );
    let log = std::fs::read_to_string(&cluster.agents[0].log).unwrap();
    assert!(
        log.contains("Incompatible agent info detected: Attributes differ"),
        "{log}"
    );
    assert!(log.contains("rm -f "), "{log}");
    assert!(log.contains("meta/slaves/latest"), "{log}");

    // With its old flags it comes back as the same agent.
    cluster.restart_agent(0, &[]).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while agent_ids(&cluster).await != before {
        assert!(
            Instant::now() < deadline,
            "the agent did not re-register\n{}",
            cluster.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_leaves_checkpointed_executors_running_for_the_next_start() {
    let mut cluster = cluster().await;
    let mut framework =
        Framework::subscribe_checkpointing(cluster.master.addr, "recovery-sigterm").await;
    run_task(&mut framework, "upgraded", "sleep 5").await;
    let work_dir = cluster.agents[0].work_dir.clone().unwrap();
    let pids = forked_pids(&work_dir);
    let _executors = Executors(pids.clone());
    assert_eq!(pids.len(), 1, "{pids:?}");

    // An operator's restart (`systemctl restart`): SIGTERM, then a start.
    cluster.agents[0].stop();
    assert!(running(pids[0]), "the executor outlives a stopped agent");
    cluster.restart_agent(0, &[]).await;
    let status = loop {
        let status = framework.update_of("upgraded").await;
        if state(&status) != v1::TaskState::TaskRunning {
            break status;
        }
    };
    assert_eq!(
        state(&status),
        v1::TaskState::TaskFinished,
        "{status:?}\n{}",
        cluster.logs()
    );
}
