//! The agent's v1 operator API (`/api/v1`) on a real agent running a
//! task: every implemented call in JSON and in protobuf, and the status
//! codes of bad requests. Also what the agent is configured to offer
//! (`--resources`, `--attributes`, detection) as the agent and the master
//! see it, and sandbox garbage collection with a short `--gc_delay` (of
//! a finished task, and of an earlier agent's directory).

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use mesos::wire::media::Format;
use mesos::wire::mesos::v1;
use mesos::wire::mesos::v1::agent as v1a;
use mesos_e2e::framework::{Framework, task};
use mesos_e2e::{Cluster, Daemon, free_port, http};
use prost::Message;
use serde_json::{Value, json};

use v1a::call::Type;

/// How long the tests wait for something the agent does on its own.
const WAIT: Duration = Duration::from_secs(20);

fn call(kind: Type) -> v1a::Call {
    v1a::Call {
        r#type: Some(kind as i32),
        ..Default::default()
    }
}

/// Posts `call` in `format`, accepting `format`; the decoded answer.
async fn ask(agent: SocketAddr, call: &v1a::Call, format: Format) -> v1a::Response {
    let media = format.media_type();
    let response = http::post(
        agent,
        "/api/v1",
        &[("Content-Type", media), ("Accept", media)],
        format.encode(call),
    )
    .await
    .unwrap();
    assert_eq!(
        response.status,
        200,
        "{call:?} in {media}: {}",
        response.text()
    );
    assert_eq!(response.header("content-type"), Some(media));
    let answer: v1a::Response = match format {
        Format::Protobuf => v1a::Response::decode(response.body.as_ref()).unwrap(),
        Format::Json => mesos::wire::json::from_json_slice(&response.body)
            .unwrap_or_else(|e| panic!("{e}: {}", response.text())),
    };
    assert_eq!(
        answer
            .r#type
            .map(|t| v1a::response::Type::try_from(t).unwrap().as_str_name()),
        call.r#type
            .map(|t| Type::try_from(t).unwrap().as_str_name()),
        "the answer names the call"
    );
    answer
}

/// Waits for `task` to reach `TASK_RUNNING`.
async fn running(framework: &mut Framework, id: &str) {
    loop {
        let status = framework.update_of(id).await;
        match v1::TaskState::try_from(status.state) {
            Ok(v1::TaskState::TaskRunning) => return,
            Ok(v1::TaskState::TaskStaging | v1::TaskState::TaskStarting) => {}
            other => panic!("{id} ended: {other:?} {status:?}"),
        }
    }
}

/// Waits for `task`'s terminal update.
async fn terminal(framework: &mut Framework, id: &str) -> v1::TaskState {
    loop {
        let status = framework.update_of(id).await;
        match v1::TaskState::try_from(status.state) {
            Ok(
                v1::TaskState::TaskStaging
                | v1::TaskState::TaskStarting
                | v1::TaskState::TaskRunning,
            ) => {}
            Ok(state) => return state,
            Err(_) => panic!("bad state {status:?}"),
        }
    }
}

#[tokio::test]
async fn every_call_in_json_and_protobuf() {
    let cluster = Cluster::start(1).await;
    let agent = cluster.agents[0].addr;
    let mut framework = Framework::subscribe(cluster.master.addr, "agent-api", &[]).await;
    let offers = framework.offers().await;
    let agent_id = offers[0].agent_id.clone();
    let info = task(
        "api-task",
        &agent_id,
        "echo from-the-task && exec sleep 1000",
    );
    framework.launch(&offers[0].id, vec![info]).await;
    running(&mut framework, "api-task").await;
    let sandbox = format!(
        "/frameworks/{}/executors/api-task/runs/latest",
        framework.id.value
    );

    for format in [Format::Json, Format::Protobuf] {
        let health = ask(agent, &call(Type::GetHealth), format).await;
        assert!(health.get_health.unwrap().healthy);

        let flags = ask(agent, &call(Type::GetFlags), format).await;
        let flags = flags.get_flags.unwrap().flags;
        let flag = |name: &str| {
            flags
                .iter()
                .find(|f| f.name == name)
                .and_then(|f| f.value.clone())
        };
        assert_eq!(flag("hostname").as_deref(), Some("127.0.0.1"));
        assert_eq!(flag("gc_delay").as_deref(), Some("1weeks"));

        let version = ask(agent, &call(Type::GetVersion), format).await;
        assert_eq!(version.get_version.unwrap().version_info.version, "1.11.0");

        let level = ask(agent, &call(Type::GetLoggingLevel), format).await;
        assert!(level.get_logging_level.is_some());

        let mut metrics_call = call(Type::GetMetrics);
        metrics_call.get_metrics = Some(v1a::call::GetMetrics {
            timeout: Some(v1::DurationInfo {
                nanoseconds: 5_000_000_000,
            }),
        });
        let metrics = ask(agent, &metrics_call, format).await;
        let metrics = metrics.get_metrics.unwrap().metrics;
        let metric = |name: &str| {
            metrics
                .iter()
                .find(|m| m.name == name)
                .and_then(|m| m.value)
        };
        assert_eq!(metric("slave/tasks_running"), Some(1.0), "{metrics:?}");
        assert_eq!(metric("gc/path_removals_pending"), Some(0.0));
        assert!(metric("system/cpus_total").is_some());

        let tasks = ask(agent, &call(Type::GetTasks), format).await;
        let tasks = tasks.get_tasks.unwrap();
        assert_eq!(tasks.launched_tasks.len(), 1, "{tasks:?}");
        let launched = &tasks.launched_tasks[0];
        assert_eq!(launched.task_id.value, "api-task");
        assert_eq!(launched.state, v1::TaskState::TaskRunning as i32);
        assert_eq!(launched.agent_id, agent_id);

        let frameworks = ask(agent, &call(Type::GetFrameworks), format).await;
        let frameworks = frameworks.get_frameworks.unwrap();
        assert_eq!(frameworks.frameworks.len(), 1);
        assert_eq!(
            frameworks.frameworks[0].framework_info.id.as_ref(),
            Some(&framework.id)
        );
        assert_eq!(frameworks.frameworks[0].framework_info.name, "agent-api");

        let executors = ask(agent, &call(Type::GetExecutors), format).await;
        let executors = executors.get_executors.unwrap();
        assert_eq!(executors.executors.len(), 1);
        assert_eq!(
            executors.executors[0].executor_info.executor_id.value,
            "api-task"
        );

        let state = ask(agent, &call(Type::GetState), format).await;
        let state = state.get_state.unwrap();
        assert_eq!(state.get_tasks.unwrap().launched_tasks.len(), 1);
        assert_eq!(state.get_frameworks.unwrap(), frameworks);
        assert_eq!(state.get_executors.unwrap(), executors);

        let mut containers_call = call(Type::GetContainers);
        containers_call.get_containers = Some(v1a::call::GetContainers {
            show_nested: Some(true),
            show_standalone: Some(true),
        });
        let containers = ask(agent, &containers_call, format).await;
        let containers = containers.get_containers.unwrap().containers;
        assert_eq!(containers.len(), 1, "{containers:?}");
        let container = &containers[0];
        assert_eq!(container.framework_id.as_ref(), Some(&framework.id));
        assert_eq!(
            container.executor_id.as_ref().map(|e| e.value.as_str()),
            Some("api-task")
        );
        let status = container.container_status.as_ref().expect("a status");
        assert_eq!(status.container_id.as_ref(), Some(&container.container_id));
        assert!(status.executor_pid.is_some(), "{status:?}");
        let statistics = container.resource_statistics.as_ref().expect("statistics");
        assert!(statistics.timestamp > 0.0);
        assert!(statistics.mem_limit_bytes.is_some(), "{statistics:?}");

        let agent_answer = ask(agent, &call(Type::GetAgent), format).await;
        let agent_info = agent_answer.get_agent.unwrap().agent_info.unwrap();
        assert_eq!(agent_info.id.as_ref(), Some(&agent_id));
        assert_eq!(agent_info.hostname, "127.0.0.1");
        assert_eq!(agent_info.port, Some(i32::from(agent.port())));

        let providers = ask(agent, &call(Type::GetResourceProviders), format).await;
        assert!(
            providers
                .get_resource_providers
                .unwrap()
                .resource_providers
                .is_empty()
        );

        let operations = ask(agent, &call(Type::GetOperations), format).await;
        assert!(operations.get_operations.unwrap().operations.is_empty());

        let mut list = call(Type::ListFiles);
        list.list_files = Some(v1a::call::ListFiles {
            path: sandbox.clone(),
        });
        let listing = ask(agent, &list, format).await.list_files.unwrap();
        let names: Vec<&str> = listing.file_infos.iter().map(|f| f.path.as_str()).collect();
        assert!(
            names.contains(&format!("{sandbox}/stdout").as_str()),
            "{names:?}"
        );
        let stdout_info = listing
            .file_infos
            .iter()
            .find(|f| f.path.ends_with("/stdout"))
            .unwrap();
        assert!(stdout_info.mtime.is_some() && stdout_info.uid.is_some());

        // The task's output reaches its stdout soon after it runs.
        let deadline = Instant::now() + WAIT;
        loop {
            let mut read = call(Type::ReadFile);
            read.read_file = Some(v1a::call::ReadFile {
                path: format!("{sandbox}/stdout"),
                offset: 0,
                length: None,
            });
            let answer = ask(agent, &read, format).await.read_file.unwrap();
            let text = String::from_utf8_lossy(&answer.data).into_owned();
            if text.contains("from-the-task") {
                assert_eq!(answer.size, answer.data.len() as u64);
                break;
            }
            assert!(Instant::now() < deadline, "stdout: {text:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    // The JSON form is Mesos's mapping of the same message.
    let media = "application/json";
    let response = http::post(
        agent,
        "/api/v1",
        &[("Content-Type", media), ("Accept", media)],
        r#"{"type":"GET_AGENT"}"#,
    )
    .await
    .unwrap();
    let answer = response.json();
    assert_eq!(answer["type"], "GET_AGENT");
    assert_eq!(
        answer["get_agent"]["agent_info"]["id"]["value"],
        json!(agent_id.value)
    );

    // /state and GET_STATE agree on the task.
    let state = http::get(agent, "/state").await.unwrap().json();
    assert_eq!(
        state["frameworks"][0]["executors"][0]["tasks"][0]["id"],
        "api-task"
    );
}

/// `POST /api/v1` with `headers` and `body`: status and body text.
async fn post(agent: SocketAddr, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    let response = http::post(agent, "/api/v1", headers, body.to_string())
        .await
        .unwrap();
    (response.status.as_u16(), response.text())
}

#[tokio::test]
async fn bad_requests_get_mesos_status_codes() {
    let cluster = Cluster::start(1).await;
    let agent = cluster.agents[0].addr;
    let json = ("Content-Type", "application/json");
    let accept = ("Accept", "application/json");
    let health = r#"{"type":"GET_HEALTH"}"#;

    let get = http::get(agent, "/api/v1").await.unwrap();
    assert_eq!(get.status, 405, "{}", get.text());

    let (status, text) = post(agent, &[accept], health).await;
    assert_eq!(
        (status, text.as_str()),
        (400, "Expecting 'Content-Type' to be present")
    );
    let (status, _) = post(agent, &[("Content-Type", "text/plain"), accept], health).await;
    assert_eq!(status, 415);
    let (status, _) = post(agent, &[json, ("Accept", "text/html")], health).await;
    assert_eq!(status, 406);
    let (status, _) = post(
        agent,
        &[json, accept, ("Message-Accept", "application/json")],
        health,
    )
    .await;
    assert_eq!(status, 406);
    let (status, text) = post(agent, &[json, accept], "{not json").await;
    assert_eq!(status, 400, "{text}");
    let (status, text) = post(agent, &[json, accept], "{}").await;
    assert_eq!(
        (status, text.as_str()),
        (
            400,
            "Failed to validate agent::Call: Expecting 'type' to be present"
        )
    );
    let (status, text) = post(agent, &[json, accept], r#"{"type":"LIST_FILES"}"#).await;
    assert_eq!(
        (status, text.as_str()),
        (
            400,
            "Failed to validate agent::Call: Expecting 'list_files' to be present"
        )
    );
    let garbage = http::post(
        agent,
        "/api/v1",
        &[("Content-Type", "application/x-protobuf"), accept],
        vec![0xffu8, 0xff, 0xff],
    )
    .await
    .unwrap();
    assert_eq!(garbage.status, 400, "{}", garbage.text());

    // A streaming request for a call that takes none.
    let record = String::from_utf8(mesos::wire::recordio::encode(health.as_bytes())).unwrap();
    let (status, text) = post(
        agent,
        &[
            ("Content-Type", "application/recordio"),
            ("Message-Content-Type", "application/json"),
            accept,
        ],
        &record,
    )
    .await;
    assert_eq!(status, 415, "{text}");

    // Calls this agent does not implement say which.
    for (name, body) in [
        (
            "LAUNCH_NESTED_CONTAINER",
            r#"{"type":"LAUNCH_NESTED_CONTAINER","launch_nested_container":{"container_id":{"value":"c","parent":{"value":"p"}}}}"#,
        ),
        (
            "KILL_CONTAINER",
            r#"{"type":"KILL_CONTAINER","kill_container":{"container_id":{"value":"c"}}}"#,
        ),
        (
            "PRUNE_IMAGES",
            r#"{"type":"PRUNE_IMAGES","prune_images":{}}"#,
        ),
    ] {
        let (status, text) = post(agent, &[json, accept], body).await;
        assert_eq!(status, 501, "{name}: {text}");
        assert!(text.contains(name), "{text}");
    }

    // Files that are not there.
    let (status, _) = post(
        agent,
        &[json, accept],
        r#"{"type":"READ_FILE","read_file":{"path":"/no/such/file","offset":0}}"#,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = post(
        agent,
        &[json, accept],
        r#"{"type":"LIST_FILES","list_files":{"path":"/no/such/dir"}}"#,
    )
    .await;
    assert_eq!(status, 404);

    // Still serving.
    let (status, text) = post(agent, &[json, accept], health).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["get_health"]["healthy"],
        true
    );
}

#[tokio::test]
async fn finished_sandboxes_are_garbage_collected() {
    let cluster = Cluster::start_with_agent_flags(1, &[], &["--gc_delay=2secs"]).await;
    let agent = cluster.agents[0].addr;
    let mut framework = Framework::subscribe(cluster.master.addr, "gc", &[]).await;
    let offers = framework.offers().await;
    let info = task("short", &offers[0].agent_id, "echo done");
    framework.launch(&offers[0].id, vec![info]).await;
    assert_eq!(
        terminal(&mut framework, "short").await,
        v1::TaskState::TaskFinished
    );
    let state = http::get(agent, "/state").await.unwrap().json();
    let executor = &state["completed_frameworks"]
        .as_array()
        .into_iter()
        .chain(state["frameworks"].as_array())
        .flatten()
        .flat_map(|f| {
            // The executor may not have exited yet.
            ["executors", "completed_executors"]
                .iter()
                .filter_map(|k| f[*k].as_array().cloned())
                .flatten()
                .collect::<Vec<_>>()
        })
        .find(|e| e["id"] == "short")
        .unwrap_or_else(|| panic!("the executor: {state:#}"));
    let directory = std::path::PathBuf::from(executor["directory"].as_str().unwrap());
    let executor_dir = directory.parent().unwrap().parent().unwrap().to_path_buf();
    let virtual_path = format!(
        "/frameworks/{}/executors/short/runs/latest",
        framework.id.value
    );

    assert!(
        directory.is_dir(),
        "{} is there at first",
        directory.display()
    );
    let deadline = Instant::now() + WAIT;
    while directory.exists() || executor_dir.exists() {
        assert!(
            Instant::now() < deadline,
            "{} is still there",
            directory.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let browse = http::get(agent, &format!("/files/browse?path={virtual_path}"))
        .await
        .unwrap();
    assert_eq!(browse.status, 404, "{}", browse.text());
    // The run, its executor and (once idle) its framework directory.
    let deadline = Instant::now() + WAIT;
    loop {
        let metrics = http::get(agent, "/metrics/snapshot").await.unwrap().json();
        let succeeded = metrics["gc/path_removals_succeeded"].as_f64().unwrap();
        if succeeded >= 1.0 && metrics["gc/path_removals_pending"] == 0.0 {
            assert_eq!(metrics["gc/path_removals_failed"], 0.0);
            break;
        }
        assert!(Instant::now() < deadline, "{metrics:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let health = http::get(agent, "/health").await.unwrap();
    assert_eq!(health.status, 200);
    let (status, _) = post(
        agent,
        &[("Content-Type", "application/json")],
        r#"{"type":"GET_HEALTH"}"#,
    )
    .await;
    assert_eq!(status, 200);
}

/// The number of online processors, as `nproc` prints it.
fn host_cpus() -> f64 {
    let out = std::process::Command::new("nproc").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[tokio::test]
async fn configured_and_detected_resources_as_agent_and_master_see_them() {
    let mut cluster = Cluster::start(0).await;
    let work_dir = tempfile::tempdir().unwrap();
    // An earlier agent's sandbox: collected after --gc_delay.
    let earlier = work_dir.path().join("slaves/earlier-S0");
    let old_run = earlier.join("frameworks/f/executors/e/runs/r");
    std::fs::create_dir_all(&old_run).unwrap();
    std::fs::write(old_run.join("stdout"), "old output\n").unwrap();
    let port = free_port();
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let args = vec![
        format!("--master={}", cluster.master.addr),
        "--ip=127.0.0.1".to_string(),
        format!("--port={port}"),
        "--hostname=agent.example".to_string(),
        format!("--work_dir={}", work_dir.path().display()),
        // cpus and ports detected; disk statically reserved for `web`.
        "--resources=mem:512;disk(web):100".to_string(),
        "--attributes=rack:r1;zone:z2".to_string(),
        "--registration_backoff_factor=100ms".to_string(),
        "--gc_delay=1secs".to_string(),
    ];
    let log = work_dir.path().join("agent.log");
    let daemon = Daemon::spawn(
        "configured agent",
        "mesos-slave",
        args,
        addr,
        Some(work_dir.path().to_path_buf()),
        log,
    );
    cluster.agents.push(daemon);
    cluster.wait_for_agents(1).await;

    let state = http::get(addr, "/state").await.unwrap().json();
    let resources = &state["resources"];
    assert_eq!(resources["cpus"], host_cpus(), "{state:#}");
    assert_eq!(resources["mem"], 512.0);
    assert_eq!(resources["disk"], 100.0);
    assert_eq!(resources["ports"], "[31000-32000]");
    assert_eq!(state["reserved_resources"]["web"]["disk"], 100.0);
    assert_eq!(state["attributes"], json!({"rack": "r1", "zone": "z2"}));
    assert_eq!(state["hostname"], "agent.example");

    let master = cluster.master_state().await;
    let seen = &master["slaves"][0];
    assert_eq!(seen["hostname"], "agent.example");
    assert_eq!(seen["resources"], state["resources"], "{seen:#}");
    assert_eq!(seen["reserved_resources"], state["reserved_resources"]);
    assert_eq!(seen["unreserved_resources"], state["unreserved_resources"]);
    assert_eq!(seen["attributes"], state["attributes"]);

    // GET_AGENT reports the same totals, with the role on the disk.
    let agent_info = ask(addr, &call(Type::GetAgent), Format::Protobuf)
        .await
        .get_agent
        .unwrap()
        .agent_info
        .unwrap();
    let disk = agent_info
        .resources
        .iter()
        .find(|r| r.name == "disk")
        .expect("disk");
    assert_eq!(disk.scalar.as_ref().unwrap().value, 100.0);
    let reserved_to = disk
        .reservations
        .last()
        .and_then(|r| r.role.clone())
        .or_else(|| {
            #[allow(deprecated)]
            disk.role.clone()
        });
    assert_eq!(reserved_to.as_deref(), Some("web"), "{disk:?}");
    assert_eq!(agent_info.attributes.len(), 2);

    let deadline = Instant::now() + WAIT;
    while earlier.exists() {
        assert!(
            Instant::now() < deadline,
            "{} is still there",
            earlier.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
