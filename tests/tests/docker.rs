//! The Docker containerizer against the local Docker engine: real
//! `mesos-master`, `mesos-slave --containerizers=docker,mesos`,
//! `mesos-docker-executor` and `docker`.
//!
//! The image is made here (no registry is reachable): a rootfs holding
//! Debian's static busybox, `docker import`ed under a tag of its own per
//! test, and removed with every container made from it when the test
//! ends. The tests skip when no Docker engine answers (or busybox-static
//! is absent), unless `MESOS_TEST_REQUIRE_DOCKER=1`.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use mesos::wire::mesos::v1;
use mesos_e2e::Cluster;
use mesos_e2e::framework::{Framework, task};

/// Where Debian's busybox-static puts its binary.
const BUSYBOX: &str = "/bin/busybox";

/// The applets the test image links to busybox.
const APPLETS: &[&str] = &[
    "sh", "echo", "sleep", "httpd", "mkdir", "cat", "ls", "env", "test", "true", "false",
];

fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run docker")
}

fn text(output: &Output) -> String {
    format!(
        "exit {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Whether the Docker tests can run; panics instead of skipping when
/// `MESOS_TEST_REQUIRE_DOCKER=1`.
fn docker_available(test: &str) -> bool {
    let required = std::env::var("MESOS_TEST_REQUIRE_DOCKER").as_deref() == Ok("1");
    let engine = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .stdin(Stdio::null())
        .output();
    let problem = match engine {
        Err(e) => Some(format!("cannot run docker: {e}")),
        Ok(output) if !output.status.success() => {
            Some(format!("no Docker engine answers: {}", text(&output)))
        }
        Ok(_) if !Path::new(BUSYBOX).is_file() => Some(format!(
            "{BUSYBOX} is absent (apt-get install busybox-static) to build the test image"
        )),
        Ok(_) => None,
    };
    match problem {
        None => true,
        Some(problem) if required => panic!("{test}: MESOS_TEST_REQUIRE_DOCKER=1 but {problem}"),
        Some(problem) => {
            eprintln!("skipping {test}: {problem}");
            false
        }
    }
}

/// A busybox image of this test's own; on drop, every container made
/// from it and then the image itself are removed.
struct TestImage {
    tag: String,
}

impl TestImage {
    fn build(test: &str) -> TestImage {
        let tag = format!("mesos-test/busybox:{test}-{}", std::process::id());
        let root = tempfile::tempdir().expect("a temporary directory");
        let bin = root.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(root.path().join("tmp")).unwrap();
        std::fs::copy(BUSYBOX, bin.join("busybox")).expect("copy busybox");
        for applet in APPLETS {
            std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
        }
        let mut tar = Command::new("tar")
            .arg("-C")
            .arg(root.path())
            .args(["-c", "."])
            .stdout(Stdio::piped())
            .spawn()
            .expect("run tar");
        let import = Command::new("docker")
            .args(["import", "-", &tag])
            .stdin(tar.stdout.take().expect("tar's stdout"))
            .output()
            .expect("run docker import");
        let archived = tar.wait().expect("wait for tar");
        assert!(archived.success(), "tar of the image rootfs: {archived}");
        assert!(import.status.success(), "docker import: {}", text(&import));
        TestImage { tag }
    }

    /// Names of the containers made from this image.
    fn containers(&self) -> Vec<String> {
        let filter = format!("ancestor={}", self.tag);
        let output = docker(&["ps", "-a", "--filter", &filter, "--format", "{{.Names}}"]);
        assert!(output.status.success(), "docker ps: {}", text(&output));
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for TestImage {
    fn drop(&mut self) {
        for name in self.containers() {
            docker(&["rm", "-f", "-v", &name]);
        }
        docker(&["rmi", "-f", &self.tag]);
    }
}

async fn docker_cluster(remove_delay: &str) -> Cluster {
    Cluster::start_with_agent_flags(
        1,
        &[],
        &[
            "--containerizers=docker,mesos",
            &format!("--docker_remove_delay={remove_delay}"),
        ],
    )
    .await
}

/// The container ids of the executor runs on the cluster's agents (the
/// names of `runs/<container id>` directories).
fn container_ids(cluster: &Cluster) -> Vec<String> {
    cluster
        .sandbox_files("stdout")
        .iter()
        .filter_map(|stdout| stdout.parent())
        .filter_map(|latest| std::fs::canonicalize(latest).ok())
        .filter_map(|run: PathBuf| run.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect()
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test]
async fn echo_runs_in_a_container_named_as_mesos_names_it() {
    if !docker_available("echo_runs_in_a_container_named_as_mesos_names_it") {
        return;
    }
    let image = TestImage::build("echo");
    let cluster = docker_cluster("1hrs").await;
    let output = cluster.mesos_execute(&[
        "--name=hello",
        "--containerizer=docker",
        &format!("--docker_image={}", image.tag),
        "--command=echo hello; echo sandbox=$MESOS_SANDBOX; test -f $MESOS_SANDBOX/stdout && echo mounted",
        "--resources=cpus:0.1;mem:32",
    ]);
    let printed = text(&output);
    assert!(output.status.success(), "{printed}\n{}", cluster.logs());
    assert!(printed.contains("TASK_STARTING"), "{printed}");
    assert!(printed.contains("TASK_RUNNING"), "{printed}");
    assert!(printed.contains("TASK_FINISHED"), "{printed}");
    assert!(
        printed.contains("Container exited with status 0"),
        "{printed}"
    );

    let stdout = cluster.sandbox_files("stdout");
    assert_eq!(stdout.len(), 1, "one executor run expected: {stdout:?}");
    let out = std::fs::read_to_string(&stdout[0]).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.contains(&"hello"), "sandbox stdout:\n{out}");
    assert!(
        lines.contains(&"sandbox=/mnt/mesos/sandbox"),
        "sandbox stdout:\n{out}"
    );
    assert!(lines.contains(&"mounted"), "sandbox stdout:\n{out}");

    // Kept (stopped) until --docker_remove_delay, named mesos-<container id>.
    let ids = container_ids(&cluster);
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(image.containers(), vec![format!("mesos-{}", ids[0])]);
    let env = docker(&[
        "inspect",
        "--format",
        "{{range .Config.Env}}{{println .}}{{end}}",
        &format!("mesos-{}", ids[0]),
    ]);
    let env = String::from_utf8_lossy(&env.stdout);
    assert!(
        env.lines()
            .any(|l| l == format!("MESOS_CONTAINER_NAME=mesos-{}", ids[0])),
        "{env}"
    );
}

#[tokio::test]
async fn exit_3_fails_with_the_exit_code() {
    if !docker_available("exit_3_fails_with_the_exit_code") {
        return;
    }
    let image = TestImage::build("exit3");
    let cluster = docker_cluster("1secs").await;
    let output = cluster.mesos_execute(&[
        "--name=fails",
        "--containerizer=docker",
        &format!("--docker_image={}", image.tag),
        "--command=exit 3",
        "--resources=cpus:0.1;mem:32",
    ]);
    let printed = text(&output);
    assert!(!output.status.success(), "{printed}");
    assert!(printed.contains("TASK_FAILED"), "{printed}");
    assert!(
        printed.contains("Container exited with status 3"),
        "{printed}"
    );
    assert!(!printed.contains("TASK_FINISHED"), "{printed}");
    // Removed after --docker_remove_delay.
    wait_until("the container's removal", Duration::from_secs(30), || {
        image.containers().is_empty()
    });
}

#[tokio::test]
async fn a_killed_task_is_stopped_and_its_container_removed() {
    if !docker_available("a_killed_task_is_stopped_and_its_container_removed") {
        return;
    }
    let image = TestImage::build("kill");
    let cluster = docker_cluster("1secs").await;
    let started = Instant::now();
    let output = cluster.mesos_execute(&[
        "--name=sleeper",
        "--containerizer=docker",
        &format!("--docker_image={}", image.tag),
        "--command=sleep 1000",
        "--resources=cpus:0.1;mem:32",
        "--kill_after=2secs",
    ]);
    let printed = text(&output);
    assert!(printed.contains("TASK_RUNNING"), "{printed}");
    assert!(
        printed.contains("TASK_KILLED"),
        "{printed}\n{}",
        cluster.logs()
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the kill took {:?}",
        started.elapsed()
    );
    wait_until("the container's removal", Duration::from_secs(30), || {
        image.containers().is_empty()
    });
}

#[tokio::test]
async fn bridge_network_maps_a_host_port_to_the_container() {
    if !docker_available("bridge_network_maps_a_host_port_to_the_container") {
        return;
    }
    let image = TestImage::build("bridge");
    let cluster = docker_cluster("1secs").await;
    let mut framework = Framework::subscribe(cluster.master.addr, "bridge", &[]).await;
    let offers = framework.offers().await;
    let offer = &offers[0];
    // A port of the agent's range that nothing on this host listens on.
    let host_port = (31000..32000u16)
        .find(|p| std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, *p)).is_ok())
        .expect("a free port in the agent's range");
    let mut web = task(
        "web",
        &offer.agent_id,
        "mkdir -p /tmp/www && echo served-by-busybox > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www",
    );
    web.resources.push(v1::Resource {
        name: "ports".into(),
        r#type: v1::value::Type::Ranges as i32,
        ranges: Some(v1::value::Ranges {
            range: vec![v1::value::Range {
                begin: u64::from(host_port),
                end: u64::from(host_port),
            }],
        }),
        ..Default::default()
    });
    web.container = Some(v1::ContainerInfo {
        r#type: v1::container_info::Type::Docker as i32,
        docker: Some(v1::container_info::DockerInfo {
            image: image.tag.clone(),
            network: Some(v1::container_info::docker_info::Network::Bridge as i32),
            port_mappings: vec![v1::container_info::docker_info::PortMapping {
                host_port: u32::from(host_port),
                container_port: 8080,
                protocol: Some("tcp".into()),
            }],
            force_pull_image: Some(false),
            ..Default::default()
        }),
        ..Default::default()
    });
    framework.launch(&offer.id, vec![web]).await;
    let starting = framework.update_of("web").await;
    assert_eq!(starting.state, v1::TaskState::TaskStarting as i32);
    let running = framework.update_of("web").await;
    assert_eq!(
        running.state,
        v1::TaskState::TaskRunning as i32,
        "{running:?}\n{}",
        cluster.logs()
    );

    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, host_port));
    let deadline = Instant::now() + Duration::from_secs(20);
    let body = loop {
        match mesos_e2e::http::get(addr, "/index.html").await {
            Ok(response) if response.status == 200 => break response.text(),
            other => {
                assert!(
                    Instant::now() < deadline,
                    "no answer on {addr}: {other:?}\n{}",
                    cluster.logs()
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    assert_eq!(body.trim(), "served-by-busybox");

    framework
        .call(v1::scheduler::Call {
            r#type: Some(v1::scheduler::call::Type::Kill as i32),
            kill: Some(v1::scheduler::call::Kill {
                task_id: v1::TaskId {
                    value: "web".into(),
                },
                ..Default::default()
            }),
            ..Default::default()
        })
        .await;
    let killed = framework.update_of("web").await;
    assert_eq!(killed.state, v1::TaskState::TaskKilled as i32, "{killed:?}");
    wait_until("the container's removal", Duration::from_secs(30), || {
        image.containers().is_empty()
    });
}

#[tokio::test]
async fn without_the_docker_containerizer_docker_tasks_fail() {
    // No engine needed: the agent refuses before any docker call.
    let cluster = Cluster::start(1).await;
    let output = cluster.mesos_execute(&[
        "--name=nodocker",
        "--containerizer=docker",
        "--docker_image=mesos-test/busybox:absent",
        "--command=true",
        "--resources=cpus:0.1;mem:32",
    ]);
    let printed = text(&output);
    assert!(!output.status.success(), "{printed}");
    assert!(printed.contains("TASK_FAILED"), "{printed}");
    assert!(
        printed.contains("None of the enabled containerizers (mesos) could create a container"),
        "{printed}"
    );
    assert!(
        printed.contains("REASON_CONTAINER_LAUNCH_FAILED"),
        "{printed}"
    );
}

#[tokio::test]
async fn an_image_that_cannot_be_had_fails_the_task() {
    if !docker_available("an_image_that_cannot_be_had_fails_the_task") {
        return;
    }
    let cluster = docker_cluster("1secs").await;
    let output = cluster.mesos_execute(&[
        "--name=noimage",
        "--containerizer=docker",
        &format!("--docker_image=mesos-test/absent:{}", std::process::id()),
        "--command=true",
        "--resources=cpus:0.1;mem:32",
    ]);
    let printed = text(&output);
    assert!(!output.status.success(), "{printed}");
    assert!(printed.contains("TASK_FAILED"), "{printed}");
    assert!(
        printed.contains("Failed to launch container: Failed to run 'docker pull"),
        "{printed}"
    );
    assert!(!printed.contains("TASK_RUNNING"), "{printed}");
}

/// Every update until `done` holds, acknowledged, per task in order.
async fn updates_until(
    framework: &mut Framework,
    cluster: &Cluster,
    mut done: impl FnMut(&std::collections::BTreeMap<String, Vec<v1::TaskStatus>>) -> bool,
) -> std::collections::BTreeMap<String, Vec<v1::TaskStatus>> {
    let mut seen = std::collections::BTreeMap::<String, Vec<v1::TaskStatus>>::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done(&seen) {
        assert!(
            Instant::now() < deadline,
            "updates so far: {seen:#?}\n{}",
            cluster.logs()
        );
        let event = framework.next("UPDATE", |e| e.update.is_some()).await;
        let status = event.update.expect("matched").status;
        if let (Some(uuid), Some(agent)) = (&status.uuid, &status.agent_id) {
            framework
                .call(v1::scheduler::Call {
                    r#type: Some(v1::scheduler::call::Type::Acknowledge as i32),
                    acknowledge: Some(v1::scheduler::call::Acknowledge {
                        agent_id: agent.clone(),
                        task_id: status.task_id.clone(),
                        uuid: uuid.clone(),
                    }),
                    ..Default::default()
                })
                .await;
        }
        seen.entry(status.task_id.value.clone())
            .or_default()
            .push(status);
    }
    seen
}

#[tokio::test]
async fn health_checks_run_inside_the_container() {
    if !docker_available("health_checks_run_inside_the_container") {
        return;
    }
    let image = TestImage::build("health");
    let cluster = docker_cluster("1secs").await;
    let mut framework = Framework::subscribe(cluster.master.addr, "docker-health", &[]).await;
    let offer = framework.offers().await.remove(0);
    let agent = offer.agent_id.clone();
    let container = |task: &mut v1::TaskInfo| {
        task.container = Some(v1::ContainerInfo {
            r#type: v1::container_info::Type::Docker as i32,
            docker: Some(v1::container_info::DockerInfo {
                image: image.tag.clone(),
                network: Some(v1::container_info::docker_info::Network::Bridge as i32),
                force_pull_image: Some(false),
                ..Default::default()
            }),
            ..Default::default()
        });
        task.kill_policy = Some(v1::KillPolicy {
            grace_period: Some(v1::DurationInfo {
                nanoseconds: 1_000_000_000,
            }),
        });
    };
    let quick = |kind: v1::health_check::Type, failures: u32| v1::HealthCheck {
        r#type: Some(kind as i32),
        delay_seconds: Some(0.0),
        interval_seconds: Some(0.3),
        timeout_seconds: Some(10.0),
        consecutive_failures: Some(failures),
        grace_period_seconds: Some(10.0),
        ..Default::default()
    };
    // HTTP on the container's own port 8080, unpublished: reachable only
    // from inside its network namespace.
    let mut web = task(
        "web",
        &agent,
        "mkdir -p /tmp/www && echo ok > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www",
    );
    container(&mut web);
    web.health_check = Some(v1::HealthCheck {
        http: Some(v1::health_check::HttpCheckInfo {
            port: 8080,
            path: Some("/index.html".into()),
            ..Default::default()
        }),
        ..quick(v1::health_check::Type::Http, 3)
    });
    // COMMAND through `docker exec`: it sees the container's files.
    let mut sick = task(
        "sick",
        &agent,
        "echo fine > /tmp/state && sleep 2 && echo > /tmp/unwell && sleep 100",
    );
    container(&mut sick);
    sick.health_check = Some(v1::HealthCheck {
        command: Some(v1::CommandInfo {
            shell: Some(true),
            value: Some("test -e /tmp/state && test ! -e /tmp/unwell".into()),
            ..Default::default()
        }),
        ..quick(v1::health_check::Type::Command, 1)
    });
    framework.launch(&offer.id, vec![web, sick]).await;
    let healthy = |s: &v1::TaskStatus, healthy: bool| {
        s.state == v1::TaskState::TaskRunning as i32
            && s.reason == Some(v1::task_status::Reason::TaskHealthCheckStatusUpdated as i32)
            && s.healthy == Some(healthy)
    };
    let terminal = |s: &v1::TaskStatus| s.state == v1::TaskState::TaskKilled as i32;
    let seen = updates_until(&mut framework, &cluster, |seen| {
        seen.get("web")
            .is_some_and(|s| s.iter().any(|s| healthy(s, true)))
            && seen.get("sick").is_some_and(|s| s.iter().any(terminal))
    })
    .await;
    let sick: Vec<(i32, Option<bool>)> =
        seen["sick"].iter().map(|s| (s.state, s.healthy)).collect();
    assert_eq!(
        sick,
        [
            (v1::TaskState::TaskStarting as i32, None),
            (v1::TaskState::TaskRunning as i32, None),
            (v1::TaskState::TaskRunning as i32, Some(true)),
            (v1::TaskState::TaskRunning as i32, Some(false)),
            (v1::TaskState::TaskKilled as i32, Some(false)),
        ],
        "{:#?}",
        seen["sick"]
    );
    framework
        .call(v1::scheduler::Call {
            r#type: Some(v1::scheduler::call::Type::Kill as i32),
            kill: Some(v1::scheduler::call::Kill {
                task_id: v1::TaskId {
                    value: "web".into(),
                },
                ..Default::default()
            }),
            ..Default::default()
        })
        .await;
    let seen = updates_until(&mut framework, &cluster, |seen| {
        seen.get("web").is_some_and(|s| s.iter().any(terminal))
    })
    .await;
    assert_eq!(seen["web"].last().unwrap().healthy, None);
    wait_until("the containers' removal", Duration::from_secs(30), || {
        image.containers().is_empty()
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_docker_task_survives_an_agent_kill_and_its_container_is_removed_after() {
    let test = "a_docker_task_survives_an_agent_kill_and_its_container_is_removed_after";
    if !docker_available(test) {
        return;
    }
    let image = TestImage::build("recover");
    let mut cluster = docker_cluster("1secs").await;
    cluster.wait_for_agent_checkpoint(0).await;
    let mut framework =
        Framework::subscribe_checkpointing(cluster.master.addr, "docker-recovery").await;
    let offer = framework.offers().await.remove(0);
    let mut sleeper = task("sleeper", &offer.agent_id, "sleep 6");
    sleeper.container = Some(v1::ContainerInfo {
        r#type: v1::container_info::Type::Docker as i32,
        docker: Some(v1::container_info::DockerInfo {
            image: image.tag.clone(),
            force_pull_image: Some(false),
            ..Default::default()
        }),
        ..Default::default()
    });
    framework.launch(&offer.id, vec![sleeper]).await;
    loop {
        let status = framework.update_of("sleeper").await;
        match v1::TaskState::try_from(status.state) {
            Ok(v1::TaskState::TaskStaging | v1::TaskState::TaskStarting) => continue,
            Ok(v1::TaskState::TaskRunning) => break,
            other => panic!("{other:?} {status:?}\n{}", cluster.logs()),
        }
    }
    let ids = container_ids(&cluster);
    assert_eq!(ids.len(), 1, "{ids:?}");
    let name = format!("mesos-{}", ids[0]);

    cluster.kill_agent(0);
    assert_eq!(
        image.containers(),
        vec![name.clone()],
        "the container lives on"
    );
    cluster.restart_agent(0, &[]).await;

    // The recovered agent reports the end once, then stops and removes
    // the container (--docker_remove_delay=1secs) as for one it launched.
    let status = loop {
        let status = framework.update_of("sleeper").await;
        if status.state != v1::TaskState::TaskRunning as i32 {
            break status;
        }
    };
    assert_eq!(
        status.state,
        v1::TaskState::TaskFinished as i32,
        "{status:?}\n{}",
        cluster.logs()
    );
    wait_until("the container's removal", Duration::from_secs(30), || {
        image.containers().is_empty()
    });
}
