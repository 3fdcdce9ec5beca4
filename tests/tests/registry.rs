//! The standalone master's file registry: a restarted master remembers
//! the agents it admitted, and refuses to start on a corrupt registry,
//! leaving it as it is.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use mesos::wire::mesos as v0;
use mesos::wire::mesos::internal::{Registry, registry};
use mesos_e2e::zookeeper::wait_healthy;
use mesos_e2e::{AGENT_RESOURCES, Daemon, free_port, http, tail};
use mesos_master::registry::file::FileStore;

fn master(root: &Path, port: u16, work_dir: &Path, run: usize) -> Daemon {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let args = vec![
        "--ip=127.0.0.1".to_string(),
        format!("--port={port}"),
        "--hostname=127.0.0.1".to_string(),
        format!("--work_dir={}", work_dir.display()),
        // Agents notice a restarted master after 2 s without pings.
        "--agent_ping_timeout=1secs".to_string(),
        "--max_agent_ping_timeouts=2".to_string(),
    ];
    let log = root.join(format!("master.{run}.log"));
    Daemon::spawn(
        "master",
        "mesos-master",
        args,
        addr,
        Some(work_dir.into()),
        log,
    )
}

async fn state_until(
    daemon: &Daemon,
    what: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(response) = http::get(daemon.addr, "/master/state").await
            && response.status == 200
        {
            let state = response.json();
            if check(&state) {
                return state;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{what} not seen within 30s:\n{}",
            tail(&daemon.log, 40)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An agent of the master on `master_port`, its work directory and log
/// under `root`.
fn spawn_agent(root: &Path, master_port: u16) -> Daemon {
    let agent_port = free_port();
    let agent_dir = root.join("agent");
    std::fs::create_dir_all(&agent_dir).unwrap();
    Daemon::spawn(
        "agent",
        "mesos-slave",
        vec![
            format!("--master=127.0.0.1:{master_port}"),
            "--ip=127.0.0.1".to_string(),
            format!("--port={agent_port}"),
            "--hostname=127.0.0.1".to_string(),
            format!("--work_dir={}", agent_dir.display()),
            format!("--resources={AGENT_RESOURCES}"),
            "--registration_backoff_factor=100ms".to_string(),
        ],
        SocketAddr::from(([127, 0, 0, 1], agent_port)),
        Some(agent_dir),
        root.join("agent.log"),
    )
}

/// Waits until the agent's own `/state` shows it was told `agent_id`.
async fn agent_knows_its_id(agent: &Daemon, agent_id: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(response) = http::get(agent.addr, "/state").await
            && response.status == 200
            && response.json()["id"] == agent_id
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the agent never heard it was registered:\n{}",
            tail(&agent.log, 40)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_master_remembers_its_agents_and_refuses_a_corrupt_registry() {
    let root = tempfile::tempdir().unwrap();
    let work_dir = root.path().join("master");
    let port = free_port();
    let mut first = master(root.path(), port, &work_dir, 1);
    wait_healthy(&mut first).await;

    let mut agent = spawn_agent(root.path(), port);
    wait_healthy(&mut agent).await;
    let state = state_until(&first, "the agent", |s| s["activated_slaves"] == 1).await;
    let agent_id = state["slaves"][0]["id"].as_str().unwrap().to_string();
    // The agent has its id too (not only the master): it re-registers
    // under it rather than registering anew.
    agent_knows_its_id(&agent, &agent_id).await;
    assert!(work_dir.join("registry.pb").is_file());
    first.stop();

    // The restarted master knows the agent before it re-registers, and
    // takes it back under the same id.
    let mut second = master(root.path(), port, &work_dir, 2);
    wait_healthy(&mut second).await;
    let log = std::fs::read_to_string(&second.log).unwrap();
    assert!(log.contains("1 agents admitted"), "{log}");
    let state = state_until(&second, "the agent back", |s| s["activated_slaves"] == 1).await;
    assert_eq!(state["slaves"][0]["id"], agent_id.as_str());
    assert_eq!(state["recovered_slaves"], serde_json::json!([]));
    agent.stop();
    second.stop();

    // A registry that does not decode: the master stops, loudly, and
    // leaves the file alone.
    let garbage = b"\xff\xff\xff\xff not a registry".to_vec();
    std::fs::write(work_dir.join("registry.pb"), &garbage).unwrap();
    let mut third = master(root.path(), port, &work_dir, 3);
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Err(exit) = third.check_running() {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "the master runs on a corrupt registry"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(!exit.contains("exit status: 0"), "{exit}");
    assert!(exit.contains("corrupt"), "{exit}");
    assert_eq!(
        std::fs::read(work_dir.join("registry.pb")).unwrap(),
        garbage
    );
}

/// A standalone master on `work_dir` with `extra` flags.
fn master_with(root: &Path, port: u16, work_dir: &Path, run: &str, extra: &[&str]) -> Daemon {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut args = vec![
        "--ip=127.0.0.1".to_string(),
        format!("--port={port}"),
        "--hostname=127.0.0.1".to_string(),
        format!("--work_dir={}", work_dir.display()),
        "--agent_ping_timeout=1secs".to_string(),
        "--max_agent_ping_timeouts=2".to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let log = root.join(format!("master.{run}.log"));
    Daemon::spawn(
        "master",
        "mesos-master",
        args,
        addr,
        Some(work_dir.into()),
        log,
    )
}

/// Waits for `daemon` to exit; its exit status and log.
async fn exit_of(daemon: &mut Daemon, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        if let Err(exit) = daemon.check_running() {
            return exit;
        }
        assert!(
            Instant::now() < deadline,
            "{} still runs after {within:?}:\n{}",
            daemon.name,
            tail(&daemon.log, 40)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn admitted(id: &str) -> registry::Slave {
    registry::Slave {
        info: v0::SlaveInfo {
            hostname: format!("{id}.example"),
            port: Some(5051),
            id: Some(v0::SlaveId { value: id.into() }),
            ..Default::default()
        },
        drain_info: None,
        deactivated: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_with_too_many_agents_missing_stops_the_master() {
    let root = tempfile::tempdir().unwrap();
    let work_dir = root.path().join("master");
    let port = free_port();
    let mut first = master(root.path(), port, &work_dir, 1);
    wait_healthy(&mut first).await;
    let mut agent = spawn_agent(root.path(), port);
    wait_healthy(&mut agent).await;
    let state = state_until(&first, "the agent", |s| s["activated_slaves"] == 1).await;
    let agent_id = state["slaves"][0]["id"].as_str().unwrap().to_string();
    // The master lists an agent before its admission is stored and the
    // agent told; stopping the master before then would leave the agent
    // without its id, registering anew with the next master.
    agent_knows_its_id(&agent, &agent_id).await;
    first.stop();

    // Two more agents were admitted that will never come back: 2 of 3
    // missing is beyond a 50% limit.
    let store = FileStore::new(&work_dir);
    let mut stored = store.fetch().unwrap();
    let slaves = stored.slaves.get_or_insert_with(Default::default);
    assert_eq!(slaves.slaves.len(), 1);
    slaves.slaves.push(admitted("GONE-S1"));
    slaves.slaves.push(admitted("GONE-S2"));
    store.store(&stored).unwrap();

    let mut second = master_with(
        root.path(),
        port,
        &work_dir,
        "2",
        &[
            "--agent_reregister_timeout=4secs",
            "--recovery_agent_removal_limit=50%",
        ],
    );
    wait_healthy(&mut second).await;
    // The live agent comes back in time; the master still stops.
    state_until(&second, "the agent back", |s| s["activated_slaves"] == 1).await;
    let exit = exit_of(&mut second, Duration::from_secs(20)).await;
    assert!(!exit.contains("exit status: 0"), "{exit}");
    let log = std::fs::read_to_string(&second.log).unwrap();
    assert!(
        log.contains(
            "Post-recovery agent removal limit exceeded! After 4secs there were 2 (66.6667%) \
             agents recovered from the registry that did not reregister: \n[ GONE-S1, GONE-S2 ]\n  \
             The configured removal limit is 50%. Please investigate or increase this limit to \
             proceed further"
        ),
        "{log}"
    );
    // Nothing was marked unreachable: the registry still lists all three
    // as admitted.
    let after = store.fetch().unwrap();
    let mut ids: Vec<String> = after
        .slaves
        .unwrap()
        .slaves
        .iter()
        .map(|s| s.info.id.as_ref().unwrap().value.clone())
        .collect();
    ids.sort();
    let mut expected = vec![agent_id, "GONE-S1".to_string(), "GONE-S2".to_string()];
    expected.sort();
    assert_eq!(ids, expected);
    assert!(after.unreachable.unwrap_or_default().slaves.is_empty());
    agent.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_keeps_only_the_newest_unreachable_agents() {
    let root = tempfile::tempdir().unwrap();
    let work_dir = root.path().join("master");
    let store = FileStore::new(&work_dir);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let slaves = (0..5)
        .map(|i| registry::UnreachableSlave {
            id: v0::SlaveId {
                value: format!("U{i}"),
            },
            timestamp: v0::TimeInfo {
                nanoseconds: ((now - 100.0 + f64::from(i)) * 1e9) as i64,
            },
            drain_info: None,
            deactivated: None,
        })
        .collect();
    store
        .store(&Registry {
            unreachable: Some(registry::UnreachableSlaves { slaves }),
            ..Default::default()
        })
        .unwrap();
    let port = free_port();
    let mut daemon = master_with(
        root.path(),
        port,
        &work_dir,
        "gc",
        &[
            "--registry_max_agent_count=2",
            "--registry_gc_interval=1secs",
        ],
    );
    wait_healthy(&mut daemon).await;
    state_until(&daemon, "the registry pruned", |s| {
        s["unreachable_slaves"] == 2
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let left = loop {
        let stored = store.fetch().unwrap();
        let mut left: Vec<String> = stored
            .unreachable
            .unwrap_or_default()
            .slaves
            .iter()
            .map(|s| s.id.value.clone())
            .collect();
        left.sort();
        if left.len() == 2 || Instant::now() > deadline {
            break left;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(left, ["U3", "U4"]);
    let log = std::fs::read_to_string(&daemon.log).unwrap();
    assert!(
        log.contains("Garbage collected 3 unreachable and 0 gone agents from the registry"),
        "{log}"
    );
    daemon.stop();
}
