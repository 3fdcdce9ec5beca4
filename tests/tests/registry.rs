//! The standalone master's file registry: a restarted master remembers
//! the agents it admitted, and refuses to start on a corrupt registry,
//! leaving it as it is.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use mesos_e2e::zookeeper::wait_healthy;
use mesos_e2e::{AGENT_RESOURCES, Daemon, free_port, http, tail};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_master_remembers_its_agents_and_refuses_a_corrupt_registry() {
    let root = tempfile::tempdir().unwrap();
    let work_dir = root.path().join("master");
    let port = free_port();
    let mut first = master(root.path(), port, &work_dir, 1);
    wait_healthy(&mut first).await;

    let agent_port = free_port();
    let agent_dir = root.path().join("agent");
    std::fs::create_dir_all(&agent_dir).unwrap();
    let mut agent = Daemon::spawn(
        "agent",
        "mesos-slave",
        vec![
            format!("--master=127.0.0.1:{port}"),
            "--ip=127.0.0.1".to_string(),
            format!("--port={agent_port}"),
            "--hostname=127.0.0.1".to_string(),
            format!("--work_dir={}", agent_dir.display()),
            format!("--resources={AGENT_RESOURCES}"),
            "--registration_backoff_factor=100ms".to_string(),
        ],
        SocketAddr::from(([127, 0, 0, 1], agent_port)),
        Some(agent_dir.clone()),
        root.path().join("agent.log"),
    );
    wait_healthy(&mut agent).await;
    let state = state_until(&first, "the agent", |s| s["activated_slaves"] == 1).await;
    let agent_id = state["slaves"][0]["id"].as_str().unwrap().to_string();
    // The agent has its id too (not only the master): it re-registers
    // under it rather than registering anew.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(response) = http::get(agent.addr, "/state").await
            && response.json()["id"] == agent_id.as_str()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "agent not registered:\n{}",
            tail(&agent.log, 40)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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
