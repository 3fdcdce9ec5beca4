//! The `cgroups/cpu` and `cgroups/mem` isolators on the host's real
//! cgroups: a task over its memory ends `TASK_FAILED` with
//! `REASON_CONTAINER_LIMITATION_MEMORY`; the cgroups carry the shares and
//! limit Mesos computes; a container's cgroups are gone once it ends.
//! Skipped, saying why, where cgroups are not available (not root, no
//! memory or cpu hierarchy).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use mesos::wire::mesos::v1::{self, scheduler::Call, scheduler::call};
use mesos_e2e::Cluster;
use mesos_e2e::framework::{Framework, scalar, task};
use mesos_slave::containerizer::cgroups::{Cgroups, CgroupsConfig, Version};

/// The host's cgroups under a test's own root; whatever a failing test
/// leaves there is destroyed when this goes.
struct Host(Cgroups);

impl std::ops::Deref for Host {
    type Target = Cgroups;
    fn deref(&self) -> &Cgroups {
        &self.0
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        for container_id in self.0.orphans() {
            let _ = self.0.open(&container_id).destroy();
        }
        remove_roots(&self.0);
    }
}

/// The host's cgroups for cpu and memory under a root of the test's own,
/// or `None` (the test skips) where they are not available.
fn host_cgroups(test: &str) -> Option<Host> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: the cgroups isolators need root");
        return None;
    }
    let config = CgroupsConfig {
        root: format!("mesos-e2e-{test}-{}", std::process::id()),
        cpu: true,
        mem: true,
        ..CgroupsConfig::new()
    };
    match Cgroups::detect(&config) {
        Ok(cgroups) => Some(Host(cgroups)),
        Err(e) => {
            eprintln!("skipped: cgroups are not available here: {e}");
            None
        }
    }
}

/// The agent flags for `cgroups`.
fn agent_flags(cgroups: &Cgroups) -> Vec<String> {
    vec![
        "--isolation=cgroups/cpu,cgroups/mem".to_string(),
        format!("--cgroups_root={}", cgroups.config().root),
    ]
}

/// The container cgroups under the test's root, in every hierarchy.
fn container_cgroups(cgroups: &Cgroups) -> Vec<PathBuf> {
    cgroups
        .root_dirs()
        .iter()
        .flat_map(|root| std::fs::read_dir(root).into_iter().flatten().flatten())
        .map(|entry| entry.path())
        .filter(|path| path.is_dir())
        .collect()
}

/// Waits until no container cgroup is left under the test's root.
async fn wait_for_no_cgroups(cgroups: &Cgroups) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = container_cgroups(cgroups);
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "container cgroups still there: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn remove_roots(cgroups: &Cgroups) {
    for root in cgroups.root_dirs() {
        let _ = std::fs::remove_dir(root);
    }
}

fn state(status: &v1::TaskStatus) -> v1::TaskState {
    v1::TaskState::try_from(status.state).unwrap_or(v1::TaskState::TaskUnknown)
}

/// Launches one command task with `resources` on the first offer.
/// Returns the agent it runs on.
async fn launch(
    framework: &mut Framework,
    id: &str,
    command: &str,
    cpus: f64,
    mem: f64,
) -> v1::AgentId {
    let offers = framework.offers().await;
    let offer = &offers[0];
    let mut info = task(id, &offer.agent_id, command);
    info.resources = vec![scalar("cpus", cpus), scalar("mem", mem)];
    framework.launch(&offer.id, vec![info]).await;
    offer.agent_id.clone()
}

/// The updates of `id` until a terminal one, which is returned.
async fn terminal_update(framework: &mut Framework, id: &str) -> v1::TaskStatus {
    loop {
        let status = framework.update_of(id).await;
        match state(&status) {
            v1::TaskState::TaskStaging
            | v1::TaskState::TaskStarting
            | v1::TaskState::TaskRunning
            | v1::TaskState::TaskKilling => continue,
            _ => return status,
        }
    }
}

/// The `statistics` of executor `id` in the agent's `/monitor/statistics`.
async fn executor_statistics(cluster: &Cluster, id: &str) -> serde_json::Value {
    let response = mesos_e2e::http::get(cluster.agents[0].addr, "/monitor/statistics")
        .await
        .unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    let entries = response.json();
    let entry = entries
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["executor_id"] == id)
        .unwrap_or_else(|| panic!("no {id} in {entries}"))
        .clone();
    assert!(entry["framework_id"].is_string());
    assert!(
        entry["executor_name"]
            .as_str()
            .unwrap()
            .starts_with("Command Executor")
    );
    assert_eq!(entry["source"], id);
    let statistics = entry["statistics"].clone();
    assert!(statistics["timestamp"].as_f64().unwrap() > 0.0);
    statistics
}

#[tokio::test]
async fn monitor_statistics_without_cgroups_read_the_processes() {
    let cluster = Cluster::start(1).await;
    let mut framework = Framework::subscribe(cluster.master.addr, "monitor", &[]).await;
    launch(&mut framework, "watched", "sleep 1000", 0.5, 64.0).await;
    loop {
        let status = framework.update_of("watched").await;
        match state(&status) {
            v1::TaskState::TaskRunning => break,
            v1::TaskState::TaskStaging | v1::TaskState::TaskStarting => continue,
            _ => panic!("watched did not start: {status:?}"),
        }
    }
    let statistics = executor_statistics(&cluster, "watched").await;
    assert_eq!(statistics["cpus_limit"], 0.6, "{statistics}");
    assert_eq!(statistics["mem_limit_bytes"], 96u64 << 20, "{statistics}");
    assert!(
        statistics["mem_rss_bytes"].as_u64().unwrap() > 0,
        "{statistics}"
    );
    assert!(
        statistics["cpus_system_time_secs"].is_number(),
        "{statistics}"
    );
    // The executor and the task's shell and sleep.
    assert!(
        statistics["processes"].as_u64().unwrap() >= 2,
        "{statistics}"
    );
}

#[tokio::test]
async fn a_task_over_its_memory_fails_with_container_limitation_memory() {
    let Some(cgroups) = host_cgroups("oom") else {
        return;
    };
    let flags = agent_flags(&cgroups);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let cluster = Cluster::start_with_agent_flags(1, &[], &flags).await;
    let mut framework = Framework::subscribe(cluster.master.addr, "oom", &[]).await;
    // `tail` holds a line without a newline in memory: 300 MB of it,
    // against a limit of 64 MB plus the command executor's 32 MB.
    launch(
        &mut framework,
        "hog",
        "head -c 300M /dev/zero | tail",
        0.1,
        64.0,
    )
    .await;
    let status = terminal_update(&mut framework, "hog").await;
    assert_eq!(state(&status), v1::TaskState::TaskFailed, "{status:?}");
    assert_eq!(
        status.reason,
        Some(v1::task_status::Reason::ContainerLimitationMemory as i32),
        "{status:?}"
    );
    assert_eq!(
        status.source,
        Some(v1::task_status::Source::Agent as i32),
        "{status:?}"
    );
    let message = status.message.clone().unwrap_or_default();
    assert!(
        message.starts_with("Memory limit exceeded: Requested: 96MB Maximum Used: "),
        "{message}"
    );
    let limited = status
        .limitation
        .as_ref()
        .map(|l| l.resources.clone())
        .unwrap_or_default();
    assert!(
        limited.iter().any(|r| r.name == "mem"),
        "no mem limitation in {status:?}"
    );
    wait_for_no_cgroups(&cgroups).await;
    drop(cluster);
    remove_roots(&cgroups);
}

#[tokio::test]
async fn cgroups_carry_the_shares_and_limit_of_the_resources_and_go_with_the_task() {
    let Some(cgroups) = host_cgroups("shares") else {
        return;
    };
    let flags = agent_flags(&cgroups);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let cluster = Cluster::start_with_agent_flags(1, &[], &flags).await;
    let mut framework = Framework::subscribe(cluster.master.addr, "shares", &[]).await;
    let agent_id = launch(&mut framework, "sleeper", "sleep 1000", 0.5, 64.0).await;
    loop {
        let status = framework.update_of("sleeper").await;
        match state(&status) {
            v1::TaskState::TaskRunning => break,
            v1::TaskState::TaskStaging | v1::TaskState::TaskStarting => continue,
            _ => panic!("sleeper did not start: {status:?}"),
        }
    }
    let dirs = container_cgroups(&cgroups);
    assert_eq!(
        dirs.len(),
        cgroups.root_dirs().len(),
        "one container cgroup per hierarchy expected: {dirs:?}"
    );
    let read = |file: &str| -> String {
        dirs.iter()
            .find_map(|d| std::fs::read_to_string(d.join(file)).ok())
            .unwrap_or_else(|| panic!("no {file} in {dirs:?}"))
            .trim()
            .to_string()
    };
    // 0.5 cpus for the task and 0.1 for the command executor; 64 MB and 32.
    match cgroups.version() {
        Version::V1 => {
            assert_eq!(read("cpu.shares"), "614");
            assert_eq!(read("memory.limit_in_bytes"), (96u64 << 20).to_string());
        }
        Version::V2 => {
            assert_eq!(read("cpu.weight"), "60");
            assert_eq!(read("memory.max"), (96u64 << 20).to_string());
        }
    }
    // The task's processes are in the container's cgroup.
    let procs = read("cgroup.procs");
    assert!(
        procs.lines().count() >= 2,
        "executor and task expected: {procs}"
    );
    // And /monitor/statistics reads the cgroups.
    let statistics = executor_statistics(&cluster, "sleeper").await;
    assert_eq!(statistics["cpus_limit"], 0.6, "{statistics}");
    assert_eq!(statistics["mem_limit_bytes"], 96u64 << 20, "{statistics}");
    assert!(
        statistics["mem_total_bytes"].as_u64().unwrap() > 0,
        "{statistics}"
    );
    assert!(
        statistics["cpus_user_time_secs"].is_number(),
        "{statistics}"
    );

    framework
        .call(Call {
            r#type: Some(call::Type::Kill as i32),
            kill: Some(call::Kill {
                task_id: v1::TaskId {
                    value: "sleeper".into(),
                },
                agent_id: Some(agent_id),
                kill_policy: None,
            }),
            ..Default::default()
        })
        .await;
    let status = terminal_update(&mut framework, "sleeper").await;
    assert_eq!(state(&status), v1::TaskState::TaskKilled, "{status:?}");
    wait_for_no_cgroups(&cgroups).await;
    drop(cluster);
    remove_roots(&cgroups);
}

#[tokio::test]
async fn containers_an_earlier_agent_left_are_destroyed_at_start() {
    let Some(cgroups) = host_cgroups("orphans") else {
        return;
    };
    let orphan = cgroups
        .create("orphan-of-an-earlier-run", &Default::default())
        .unwrap();
    let mut sleeper = std::process::Command::new("sleep")
        .arg("1000")
        .spawn()
        .unwrap();
    orphan.assign(sleeper.id()).unwrap();
    drop(orphan);
    assert_eq!(container_cgroups(&cgroups).len(), cgroups.root_dirs().len());

    let flags = agent_flags(&cgroups);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let cluster = Cluster::start_with_agent_flags(1, &[], &flags).await;
    wait_for_no_cgroups(&cgroups).await;
    let status = sleeper.wait().unwrap();
    assert!(!status.success(), "the orphan's process was killed");
    drop(cluster);
    remove_roots(&cgroups);
}

#[tokio::test]
async fn namespaces_pid_makes_the_executor_process_1_of_the_task() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: namespaces/pid needs root");
        return;
    }
    let cluster = Cluster::start_with_agent_flags(1, &[], &["--isolation=namespaces/pid"]).await;
    let mut framework = Framework::subscribe(cluster.master.addr, "pidns", &[]).await;
    // Process 1 is the command executor, and the task sees only its own
    // namespace's processes in its /proc.
    let check = "test \"$(cat /proc/1/comm)\" = mesos-executor && \
                 test \"$(ls /proc | grep -c '^[0-9]')\" -le 6";
    launch(&mut framework, "inside", check, 0.1, 32.0).await;
    let status = terminal_update(&mut framework, "inside").await;
    assert_eq!(state(&status), v1::TaskState::TaskFinished, "{status:?}");
    // The agent's own /proc is untouched.
    assert_ne!(
        std::fs::read_to_string("/proc/1/comm").unwrap().trim(),
        "mesos-executor"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovered_containers_cgroups_are_kept_then_removed_with_it() {
    let Some(cgroups) = host_cgroups("recover") else {
        return;
    };
    let flags = agent_flags(&cgroups);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let mut cluster = Cluster::start_with_agent_flags(1, &[], &flags).await;
    cluster.wait_for_agent_checkpoint(0).await;
    let mut framework =
        Framework::subscribe_checkpointing(cluster.master.addr, "cgroups-recovery").await;
    launch(&mut framework, "kept", "sleep 6", 0.1, 64.0).await;
    loop {
        let status = framework.update_of("kept").await;
        match state(&status) {
            v1::TaskState::TaskStaging | v1::TaskState::TaskStarting => continue,
            v1::TaskState::TaskRunning => break,
            other => panic!("{other:?} {status:?}"),
        }
    }
    let before = container_cgroups(&cgroups);
    assert!(!before.is_empty());

    cluster.kill_agent(0);
    cluster.restart_agent(0, &[]).await;
    // Not destroyed as an orphan: the checkpoint names it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(container_cgroups(&cgroups), before);
    let status = terminal_update(&mut framework, "kept").await;
    assert_eq!(
        state(&status),
        v1::TaskState::TaskFinished,
        "{status:?}\n{}",
        cluster.logs()
    );
    wait_for_no_cgroups(&cgroups).await;
}
