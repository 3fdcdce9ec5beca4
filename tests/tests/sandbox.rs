//! Sandboxes end to end: the fetcher puts a task's URIs (a local archive,
//! an executable over HTTP) into its sandbox before it runs; the agent's
//! `/files/*` endpoints serve the sandbox under the paths the WebUI and
//! Marathon use; a URI that cannot be fetched fails the task.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};

use mesos::wire::mesos::v1;
use mesos_e2e::Cluster;
use mesos_e2e::framework::{Framework, task};
use mesos_e2e::http;

/// Serves `body` for every GET on a loopback port, from a thread.
fn serve_file(body: &'static [u8]) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else {
                return;
            };
            let mut request = Vec::new();
            let mut buffer = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buffer[..n]),
                }
            }
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(body);
        }
    });
    address
}

fn uri(value: String) -> v1::command_info::Uri {
    v1::command_info::Uri {
        value,
        ..Default::default()
    }
}

fn state(status: &v1::TaskStatus) -> v1::TaskState {
    v1::TaskState::try_from(status.state).unwrap_or(v1::TaskState::TaskUnknown)
}

async fn terminal_update(framework: &mut Framework, id: &str) -> v1::TaskStatus {
    loop {
        let status = framework.update_of(id).await;
        match state(&status) {
            v1::TaskState::TaskStaging
            | v1::TaskState::TaskStarting
            | v1::TaskState::TaskRunning => {
                continue;
            }
            _ => return status,
        }
    }
}

/// The `directory` of executor `id` in the agent's `/state`, live or
/// completed.
fn executor_directory(state: &serde_json::Value, id: &str) -> Option<String> {
    let frameworks = ["frameworks", "completed_frameworks"]
        .iter()
        .filter_map(|k| state[*k].as_array())
        .flatten();
    frameworks
        .flat_map(|f| {
            ["executors", "completed_executors"]
                .iter()
                .filter_map(|k| f[*k].as_array())
                .flatten()
                .collect::<Vec<_>>()
        })
        .find(|e| e["id"] == id)
        .and_then(|e| e["directory"].as_str().map(str::to_string))
}

#[tokio::test]
async fn fetched_uris_are_in_the_sandbox_and_files_serves_it() {
    let source = tempfile::tempdir().unwrap();
    std::fs::create_dir(source.path().join("pkg")).unwrap();
    std::fs::write(source.path().join("pkg/data.txt"), "from the archive\n").unwrap();
    let tarred = std::process::Command::new("tar")
        .arg("-C")
        .arg(source.path())
        .args(["-czf", "pkg.tgz", "pkg"])
        .current_dir(source.path())
        .status()
        .unwrap();
    assert!(tarred.success());
    let server = serve_file(b"#!/bin/sh\necho from the script\n");

    let cluster = Cluster::start(1).await;
    let agent = cluster.agents[0].addr;
    let mut framework = Framework::subscribe(cluster.master.addr, "sandbox", &[]).await;
    let offers = framework.offers().await;
    let mut info = task(
        "fetching",
        &offers[0].agent_id,
        "cat pkg/data.txt && ./bin/tool && echo to stderr >&2",
    );
    let mut script = uri(format!("http://{server}/download/tool.sh"));
    script.executable = Some(true);
    script.output_file = Some("bin/tool".into());
    let archive = uri(format!(
        "file://{}",
        source.path().join("pkg.tgz").display()
    ));
    info.command.as_mut().unwrap().uris = vec![script, archive];
    framework.launch(&offers[0].id, vec![info]).await;
    let status = terminal_update(&mut framework, "fetching").await;
    assert_eq!(state(&status), v1::TaskState::TaskFinished, "{status:?}");

    let agent_state = http::get(agent, "/state").await.unwrap().json();
    let directory = executor_directory(&agent_state, "fetching").expect("the executor's directory");
    let framework_id = &framework.id.value;
    let virtual_path = format!("/frameworks/{framework_id}/executors/fetching/runs/latest");

    // Browse: by the virtual path and by the directory /state gives.
    for path in [virtual_path.clone(), directory.clone()] {
        let response = http::get(agent, &format!("/files/browse?path={path}"))
            .await
            .unwrap();
        assert_eq!(response.status, 200, "{path}: {}", response.text());
        let listing = response.json();
        let names: Vec<String> = listing
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["path"].as_str().unwrap().to_string())
            .collect();
        for name in ["bin", "pkg", "pkg.tgz", "stderr", "stdout"] {
            assert!(
                names.contains(&format!("{path}/{name}")),
                "{name} missing from {names:?}"
            );
        }
    }

    // Read: the size first, then pages, as the WebUI's pailer reads.
    let stdout = format!("{virtual_path}/stdout");
    let size = http::get(agent, &format!("/files/read?path={stdout}&offset=-1"))
        .await
        .unwrap()
        .json();
    let length = size["offset"].as_u64().unwrap();
    assert_eq!(size["data"], "");
    let page = http::get(
        agent,
        &format!("/files/read?path={stdout}&offset=0&length={length}"),
    )
    .await
    .unwrap()
    .json();
    let text = page["data"].as_str().unwrap();
    assert_eq!(page["offset"], 0);
    assert!(
        text.contains("from the archive\nfrom the script\n"),
        "{text:?}"
    );
    let download = http::get(agent, &format!("/files/download?path={directory}/stderr"))
        .await
        .unwrap();
    assert_eq!(download.status, 200);
    let stderr = download.text();
    assert!(stderr.contains("to stderr"), "{stderr}");
    assert!(
        stderr.contains("Fetching URI"),
        "the fetcher logs to stderr: {stderr}"
    );

    let debug = http::get(agent, "/files/debug").await.unwrap().json();
    assert!(debug.get(&virtual_path).is_some(), "{debug}");

    // Out of the sandbox: refused.
    let escape = http::get(
        agent,
        &format!("/files/read?path={virtual_path}/../../../../../../../../etc/passwd&offset=0"),
    )
    .await
    .unwrap();
    assert_ne!(escape.status, 200, "{}", escape.text());
}

#[tokio::test]
async fn a_uri_that_cannot_be_fetched_fails_the_task() {
    let cluster = Cluster::start(1).await;
    let mut framework = Framework::subscribe(cluster.master.addr, "fetch-fails", &[]).await;
    let offers = framework.offers().await;
    let mut info = task("unfetchable", &offers[0].agent_id, "true");
    info.command.as_mut().unwrap().uris = vec![uri("/nonexistent/archive.tar.gz".into())];
    framework.launch(&offers[0].id, vec![info]).await;
    let status = terminal_update(&mut framework, "unfetchable").await;
    assert_eq!(state(&status), v1::TaskState::TaskFailed, "{status:?}");
    assert_eq!(
        status.reason,
        Some(v1::task_status::Reason::ContainerLaunchFailed as i32),
        "{status:?}"
    );
    let message = status.message.unwrap_or_default();
    assert!(
        message.starts_with("Failed to launch container: Failed to fetch all URIs for container"),
        "{message}"
    );
    assert!(message.contains("/nonexistent/archive.tar.gz"), "{message}");
}
