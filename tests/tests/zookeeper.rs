//! High availability through a real ZooKeeper server: election, the
//! znodes as any ZooKeeper client reads them, redirects from followers,
//! failover after `kill -9`, abdication after a session expiry, and a
//! ZooKeeper that is not there yet. Skipped (with a message) when
//! ZooKeeper is not installed, unless MESOS_TEST_REQUIRE_ZOOKEEPER is set.

use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use mesos_e2e::zookeeper::{self, HaCluster, ZooKeeper, signal, wait_healthy};
use mesos_e2e::{Daemon, command, free_port, http, tail};

fn describe(output: &Output) -> String {
    format!(
        "exit {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `mesos-execute --master=<zk>` running `echo <name>`.
async fn execute_through_zk(zk: &str, name: &str) -> Output {
    let mut command = command("mesos-execute");
    command
        .arg(format!("--master={zk}"))
        .arg(format!("--name={name}"))
        .arg(format!("--command=echo {name}"))
        .arg("--resources=cpus:0.1;mem:32")
        .stdin(Stdio::null());
    tokio::task::spawn_blocking(move || command.output().expect("run mesos-execute"))
        .await
        .expect("join mesos-execute")
}

/// Waits for `check` on master `index`'s `/master/state`.
async fn wait_for_state(
    cluster: &HaCluster,
    index: usize,
    what: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
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

/// Waits until `daemon` exits; its exit status.
async fn wait_for_exit(daemon: &mut Daemon, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        if let Err(reason) = daemon.check_running() {
            return reason;
        }
        assert!(
            Instant::now() < deadline,
            "{} still running after {within:?}; its log:\n{}",
            daemon.name,
            tail(&daemon.log, 40)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_elects_a_new_leader_that_agents_and_frameworks_follow() {
    let Some(classpath) = zookeeper::classpath_or_skip("failover") else {
        return;
    };
    let cluster = HaCluster::start(
        &classpath,
        3,
        2,
        &[
            "--zk_session_timeout=4secs",
            "--agent_reregister_timeout=5secs",
        ],
    )
    .await;
    let leader = cluster.wait_for_leader(&[]).await;
    let leader_addr = cluster.masters[leader].addr;

    // What any ZooKeeper client reads: three json.info_ members, the
    // lowest holding the leader's MasterInfo as JSON.
    let client = zookeeper_client::Client::connect(&cluster.zookeeper.addr.to_string())
        .await
        .expect("connect to ZooKeeper");
    let mut members: Vec<String> = client
        .list_children("/mesos")
        .await
        .expect("list /mesos")
        .into_iter()
        .filter(|c| c.starts_with("json.info_"))
        .collect();
    members.sort();
    assert_eq!(members.len(), 3, "{members:?}");
    assert!(members.iter().all(|m| m.len() == "json.info_".len() + 10));
    let (data, stat) = client
        .get_data(&format!("/mesos/{}", members[0]))
        .await
        .expect("read the leader's node");
    assert_ne!(stat.ephemeral_owner, 0, "the member node is ephemeral");
    let info: serde_json::Value = serde_json::from_slice(&data).expect("MasterInfo as JSON");
    assert_eq!(info["pid"], format!("master@{leader_addr}"));
    assert_eq!(info["ip"], 16777343, "127.0.0.1 in network order: {info}");
    assert_eq!(info["port"], leader_addr.port());
    assert_eq!(info["hostname"], "127.0.0.1");
    assert_eq!(info["version"], "1.11.0");
    assert_eq!(info["address"]["ip"], "127.0.0.1");
    assert_eq!(info["address"]["port"], leader_addr.port());
    let typed: mesos::wire::mesos::MasterInfo =
        mesos::wire::json::from_json_slice(&data).expect("parses as MasterInfo");
    assert!(!typed.id.is_empty());
    drop(client);

    // Followers point at the leader.
    let follower = (0..3).find(|i| *i != leader).unwrap();
    let follower_addr = cluster.masters[follower].addr;
    let response = http::post(
        follower_addr,
        "/api/v1/scheduler",
        &[("Content-Type", "application/json")],
        "{}",
    )
    .await
    .unwrap();
    assert_eq!(response.status, 307, "{}", response.text());
    assert_eq!(
        response.header("location"),
        Some(format!("//127.0.0.1:{}/api/v1/scheduler", leader_addr.port()).as_str())
    );
    let response = http::get(follower_addr, "/master/redirect").await.unwrap();
    assert_eq!(response.status, 307);
    assert_eq!(
        response.header("location"),
        Some(format!("//127.0.0.1:{}", leader_addr.port()).as_str())
    );
    let response = http::get(follower_addr, "/master/state").await.unwrap();
    assert_eq!(response.status, 307);
    let state = wait_for_state(&cluster, leader, "leader_info", |s| {
        s["leader_info"]["id"] == typed.id
    })
    .await;
    assert_eq!(state["leader"], format!("master@{leader_addr}"));

    // A framework finds the leader through ZooKeeper.
    let output = execute_through_zk(&cluster.zk, "before").await;
    assert!(output.status.success(), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("TASK_FINISHED"));

    // kill -9 the leader, and agent 2 with it.
    let agent_ids: Vec<String> = state["slaves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(agent_ids.len(), 2);
    signal(&cluster.masters[leader], libc::SIGKILL);
    signal(&cluster.agents[1], libc::SIGKILL);
    let started = Instant::now();
    let new_leader = cluster.wait_for_leader(&[leader]).await;
    eprintln!("new leader after {:?}", started.elapsed());

    // Agent 1 re-registers with the new leader under its id; agent 2,
    // admitted before the failover, does not and becomes unreachable.
    let state = wait_for_state(
        &cluster,
        new_leader,
        "1 active and 1 unreachable agent",
        |s| s["activated_slaves"] == 1 && s["unreachable_slaves"] == 1,
    )
    .await;
    let ids: Vec<&str> = state["slaves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 1);
    assert!(
        agent_ids.iter().any(|id| id == ids[0]),
        "{ids:?} vs {agent_ids:?}"
    );

    // Frameworks keep working, on the new leader.
    let output = execute_through_zk(&cluster.zk, "after").await;
    assert!(output.status.success(), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("TASK_FINISHED"));
    let state = wait_for_state(&cluster, new_leader, "the framework", |s| {
        s["completed_frameworks"]
            .as_array()
            .is_some_and(|f| !f.is_empty())
            || s["frameworks"].as_array().is_some_and(|f| !f.is_empty())
    })
    .await;
    assert_eq!(
        state["leader"],
        format!("master@{}", cluster.masters[new_leader].addr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_whose_session_expires_abdicates() {
    let Some(classpath) = zookeeper::classpath_or_skip("session expiry") else {
        return;
    };
    let mut cluster = HaCluster::start(&classpath, 2, 0, &["--zk_session_timeout=3secs"]).await;
    let leader = cluster.wait_for_leader(&[]).await;
    // Paused past its session timeout: ZooKeeper expires the session and
    // the other master takes over.
    signal(&cluster.masters[leader], libc::SIGSTOP);
    let other = cluster.wait_for_leader(&[leader]).await;
    assert_ne!(other, leader);
    // Resumed, the old leader finds its session gone and exits rather
    // than serve next to the new one.
    signal(&cluster.masters[leader], libc::SIGCONT);
    let exit = wait_for_exit(&mut cluster.masters[leader], Duration::from_secs(30)).await;
    assert!(!exit.contains("exit status: 0"), "{exit}");
    let log = std::fs::read_to_string(&cluster.masters[leader].log).unwrap();
    assert!(log.contains("committing suicide"), "{log}");
    assert_eq!(cluster.leader().await, Some(other));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_zookeeper_is_reported_and_retried() {
    let Some(classpath) = zookeeper::classpath_or_skip("unreachable ZooKeeper") else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let zk_port = free_port();
    let port = free_port();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let log = root.path().join("master.log");
    let args = vec![
        "--ip=127.0.0.1".to_string(),
        format!("--port={port}"),
        "--hostname=127.0.0.1".to_string(),
        format!("--zk=zk://127.0.0.1:{zk_port}/mesos"),
        "--quorum=1".to_string(),
        "--registry=in_memory".to_string(),
        "--zk_session_timeout=2secs".to_string(),
    ];
    let mut master = Daemon::spawn("master", "mesos-master", args, addr, None, log.clone());
    wait_healthy(&mut master).await;
    // Up, but nobody leads: the scheduler API says so.
    let response = http::post(addr, "/api/v1/scheduler", &[], "{}")
        .await
        .unwrap();
    assert_eq!(response.status, 503, "{}", response.text());
    assert_eq!(response.text(), "No leader elected");
    // It says why, and keeps trying.
    let expected = format!("Failed to connect to ZooKeeper at 127.0.0.1:{zk_port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::read_to_string(&log)
        .unwrap()
        .matches(&expected)
        .count()
        < 2
    {
        assert!(
            Instant::now() < deadline,
            "no retried connection error:\n{}",
            tail(&log, 40)
        );
        master.check_running().unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // ZooKeeper comes up: the master is elected.
    let _zookeeper = ZooKeeper::start_on(&classpath, root.path(), zk_port).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(response) = http::get(addr, "/master/state").await
            && response.status == 200
        {
            let state = response.json();
            assert_eq!(state["leader"], format!("master@{addr}"));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not elected:\n{}",
            tail(&log, 40)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    master.stop();
}

/// The next event matching `accept` within `within`, `None` if the
/// stream ends or nothing matches in time.
async fn next_event(
    events: &mut mesos::http_scheduler::Events,
    within: Duration,
    mut accept: impl FnMut(&v1s::Event) -> bool,
) -> Option<v1s::Event> {
    tokio::time::timeout(within, async {
        loop {
            match events.next().await {
                Some(Ok(event)) if accept(&event) => return Some(event),
                Some(Ok(_)) => {}
                _ => return None,
            }
        }
    })
    .await
    .ok()
    .flatten()
}

use mesos::wire::mesos::v1;
use mesos::wire::mesos::v1::scheduler as v1s;
use mesos_e2e::framework::{event_type, subscribe_call, task};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_framework_fails_over_with_the_master_and_keeps_its_task() {
    let Some(classpath) = zookeeper::classpath_or_skip("framework failover") else {
        return;
    };
    let cluster = HaCluster::start(&classpath, 2, 1, &["--zk_session_timeout=4secs"]).await;
    let leader = cluster.wait_for_leader(&[]).await;
    let timeout = Duration::from_secs(30);
    let master = mesos::http_scheduler::resolve_master(&cluster.zk, timeout)
        .await
        .expect("the leader from ZooKeeper");
    assert_eq!(master, cluster.masters[leader].addr);

    let mut subscribe = subscribe_call("failover", &[]);
    if let Some(s) = subscribe.subscribe.as_mut() {
        s.framework_info.failover_timeout = Some(3600.0);
    }
    let (scheduler, mut events) = mesos::http_scheduler::subscribe(master, &subscribe)
        .await
        .expect("subscribe");
    let subscribed = next_event(&mut events, timeout, |e| {
        event_type(e) == v1s::event::Type::Subscribed
    })
    .await
    .expect("SUBSCRIBED");
    let framework_id = subscribed.subscribed.unwrap().framework_id;
    let offers = next_event(&mut events, timeout, |e| {
        event_type(e) == v1s::event::Type::Offers
    })
    .await
    .expect("OFFERS")
    .offers
    .unwrap()
    .offers;
    let offer = &offers[0];
    let accept = v1s::Call {
        framework_id: Some(framework_id.clone()),
        r#type: Some(v1s::call::Type::Accept as i32),
        accept: Some(v1s::call::Accept {
            offer_ids: vec![offer.id.clone()],
            operations: vec![v1::offer::Operation {
                r#type: Some(v1::offer::operation::Type::Launch as i32),
                launch: Some(v1::offer::operation::Launch {
                    task_infos: vec![task("long", &offer.agent_id, "sleep 300")],
                }),
                ..Default::default()
            }],
            filters: None,
        }),
        ..Default::default()
    };
    scheduler.call(&accept).await.expect("ACCEPT");
    let acknowledge = |status: &v1::TaskStatus| v1s::Call {
        framework_id: Some(framework_id.clone()),
        r#type: Some(v1s::call::Type::Acknowledge as i32),
        acknowledge: Some(v1s::call::Acknowledge {
            agent_id: status.agent_id.clone().unwrap(),
            task_id: status.task_id.clone(),
            uuid: status.uuid.clone().unwrap(),
        }),
        ..Default::default()
    };
    // Updates are acknowledged as they come (the agent sends the next
    // only then), up to TASK_RUNNING.
    let status = loop {
        let update = next_event(&mut events, timeout, |e| e.update.is_some())
            .await
            .expect("an update before TASK_RUNNING");
        let status = update.update.unwrap().status;
        if status.uuid.is_some() {
            scheduler
                .call(&acknowledge(&status))
                .await
                .expect("ACKNOWLEDGE");
        }
        if status.state == v1::TaskState::TaskRunning as i32 {
            break status;
        }
    };
    drop(scheduler);

    // The leader dies; the framework's stream ends with it.
    signal(&cluster.masters[leader], libc::SIGKILL);
    assert!(next_event(&mut events, timeout, |_| false).await.is_none());
    drop(events);

    // It finds the new leader through ZooKeeper and subscribes again
    // under its id.
    let deadline = Instant::now() + Duration::from_secs(60);
    let master = loop {
        if let Ok(found) = mesos::http_scheduler::resolve_master(&cluster.zk, timeout).await
            && found != master
        {
            break found;
        }
        assert!(
            Instant::now() < deadline,
            "no new leader\n{}",
            cluster.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let new_leader = cluster.wait_for_leader(&[leader]).await;
    assert_eq!(master, cluster.masters[new_leader].addr);
    let mut resubscribe = subscribe.clone();
    resubscribe.framework_id = Some(framework_id.clone());
    if let Some(s) = resubscribe.subscribe.as_mut() {
        s.framework_info.id = Some(framework_id.clone());
    }
    let (scheduler, mut events) = mesos::http_scheduler::subscribe(master, &resubscribe)
        .await
        .expect("subscribe to the new leader");
    let subscribed = next_event(&mut events, timeout, |e| {
        event_type(e) == v1s::event::Type::Subscribed
    })
    .await
    .expect("SUBSCRIBED by the new leader");
    assert_eq!(subscribed.subscribed.unwrap().framework_id, framework_id);

    // Once the agent has re-registered, the new leader knows the task.
    let reconcile = v1s::Call {
        framework_id: Some(framework_id.clone()),
        r#type: Some(v1s::call::Type::Reconcile as i32),
        reconcile: Some(v1s::call::Reconcile {
            tasks: vec![v1s::call::reconcile::Task {
                task_id: status.task_id.clone(),
                agent_id: status.agent_id.clone(),
            }],
        }),
        ..Default::default()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        scheduler.call(&reconcile).await.expect("RECONCILE");
        let answer = next_event(&mut events, Duration::from_secs(1), |e| e.update.is_some()).await;
        if let Some(answer) = answer {
            // The agent may resend an update whose acknowledgement died
            // with the old leader: acknowledge it, as frameworks do.
            let status = answer.update.unwrap().status;
            if status.uuid.is_some() {
                scheduler
                    .call(&acknowledge(&status))
                    .await
                    .expect("ACKNOWLEDGE");
            }
            assert_eq!(
                status.state,
                v1::TaskState::TaskRunning as i32,
                "{}",
                cluster.logs()
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no reconciliation\n{}",
            cluster.logs()
        );
    }

    // And it can still act on it.
    let kill = v1s::Call {
        framework_id: Some(framework_id.clone()),
        r#type: Some(v1s::call::Type::Kill as i32),
        kill: Some(v1s::call::Kill {
            task_id: status.task_id.clone(),
            agent_id: status.agent_id.clone(),
            kill_policy: None,
        }),
        ..Default::default()
    };
    scheduler.call(&kill).await.expect("KILL");
    loop {
        let update = next_event(&mut events, timeout, |e| e.update.is_some()).await;
        let Some(update) = update else {
            panic!("no TASK_KILLED\n{}", cluster.logs());
        };
        let status = update.update.unwrap().status;
        if status.uuid.is_some() {
            scheduler
                .call(&acknowledge(&status))
                .await
                .expect("ACKNOWLEDGE");
        }
        if status.state == v1::TaskState::TaskKilled as i32 {
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_cut_off_from_zookeeper_steps_down_after_the_session_timeout() {
    let Some(classpath) = zookeeper::classpath_or_skip("cut off from ZooKeeper") else {
        return;
    };
    let mut cluster = HaCluster::start(&classpath, 1, 0, &["--zk_session_timeout=4secs"]).await;
    let leader = cluster.wait_for_leader(&[]).await;
    // ZooKeeper stops answering (its connections stay open): the client
    // library would report the expiry only much later, so the master's
    // own timer must make it step down once the session timeout passed.
    let paused = Instant::now();
    cluster.zookeeper.signal(libc::SIGSTOP);
    let exit = wait_for_exit(&mut cluster.masters[leader], Duration::from_secs(20)).await;
    let after = paused.elapsed();
    cluster.zookeeper.signal(libc::SIGCONT);
    assert!(!exit.contains("exit status: 0"), "{exit}");
    assert!(exit.contains("committing suicide"), "{exit}");
    assert!(
        after >= Duration::from_secs(4) && after < Duration::from_secs(12),
        "stepped down after {after:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_registry_in_zookeeper_is_refused_and_left_untouched() {
    let Some(classpath) = zookeeper::classpath_or_skip("corrupt ZooKeeper registry") else {
        return;
    };
    let flags = ["--zk_session_timeout=2secs"];
    let mut cluster = HaCluster::start(&classpath, 1, 1, &flags).await;
    // The leader admitted the agent: the registry is in ZooKeeper. Killed,
    // it writes no more.
    cluster.masters[0].kill();
    let client = zookeeper_client::Client::connect(&cluster.zookeeper.addr.to_string())
        .await
        .expect("connect to ZooKeeper");
    let (pointer, pointer_stat) = client
        .get_data("/mesos/registry")
        .await
        .expect("the registry pointer");
    let parsed: serde_json::Value = serde_json::from_slice(&pointer).expect("a JSON pointer");
    let generation = parsed["generation"]
        .as_str()
        .expect("a generation")
        .to_string();
    assert!(parsed["chunks"].as_u64() >= Some(1), "{parsed}");

    // Its first chunk garbled, same length: no longer a Registry.
    let chunk = format!("/mesos/registry_data/{generation}/0");
    let (data, _) = client.get_data(&chunk).await.expect("the first chunk");
    let garbage = vec![0xff; data.len()];
    let chunk_stat = client
        .set_data(&chunk, &garbage, None)
        .await
        .expect("garble the chunk");

    // (A generation the killed master was writing may be left too.)
    let generations = client.list_children("/mesos/registry_data").await.unwrap();
    assert!(generations.contains(&generation), "{generations:?}");

    // A master elected on it refuses to lead, says why, and exits.
    cluster.masters[0] = cluster.start_master(1, &flags).await;
    let exit = wait_for_exit(&mut cluster.masters[0], Duration::from_secs(30)).await;
    assert!(!exit.contains("exit status: 0"), "{exit}");
    assert!(exit.contains("Refusing to lead"), "{exit}");
    assert!(exit.contains("is corrupt"), "{exit}");
    assert!(exit.contains("nothing was written"), "{exit}");

    // Nothing was overwritten, and its candidacy is withdrawn.
    let (after, stat) = client.get_data("/mesos/registry").await.unwrap();
    assert_eq!(after, pointer);
    assert_eq!(stat.version, pointer_stat.version);
    let (after, stat) = client.get_data(&chunk).await.unwrap();
    assert_eq!(after, garbage);
    assert_eq!(stat.version, chunk_stat.version);
    let after = client.list_children("/mesos/registry_data").await.unwrap();
    assert_eq!(after, generations);
    let members: Vec<String> = client
        .list_children("/mesos")
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.starts_with("json.info_"))
        .collect();
    assert!(members.is_empty(), "{members:?}");
}
