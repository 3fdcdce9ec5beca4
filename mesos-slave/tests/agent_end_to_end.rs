//! A real agent, in process, against a minimal libprocess peer playing the
//! master: registration, a command task end to end, kills, timeouts.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use mesos::process::{BindConfig, Event, Message, Transport};
use mesos::upid::Upid;
use mesos::wire::mesos as v0;
use mesos::wire::mesos::internal as msg;
use mesos_slave::agent::runtime::Agent;
use mesos_slave::config::AgentConfig;
use prost::Message as _;
use tokio::sync::mpsc::UnboundedReceiver;

const TIMEOUT: Duration = Duration::from_secs(30);

struct FakeMaster {
    transport: Transport,
    pid: Upid,
    mailbox: UnboundedReceiver<Event>,
}

impl FakeMaster {
    async fn start() -> FakeMaster {
        let transport = Transport::bind(&BindConfig::loopback(0)).await.unwrap();
        let mailbox = transport.spawn("master");
        FakeMaster {
            pid: transport.upid("master"),
            transport,
            mailbox,
        }
    }

    /// The next message named `name`, skipping others (pongs, exits).
    async fn expect(&mut self, name: &str) -> Message {
        let wait = async {
            loop {
                match self.mailbox.recv().await {
                    Some(Event::Message(m)) if m.name == name => return m,
                    Some(_) => continue,
                    None => panic!("mailbox closed"),
                }
            }
        };
        tokio::time::timeout(TIMEOUT, wait)
            .await
            .unwrap_or_else(|_| panic!("no {name} within {TIMEOUT:?}"))
    }

    fn send<M: prost::Message + prost_reflect::ReflectMessage>(&self, to: &Upid, m: &M) {
        self.transport.send_message(&self.pid, to, m);
    }

    /// Waits for registration and admits the agent as `S1`.
    async fn admit(&mut self) -> Upid {
        let m = self.expect("mesos.internal.RegisterSlaveMessage").await;
        let register = msg::RegisterSlaveMessage::decode(m.body.as_ref()).unwrap();
        assert_eq!(register.version.as_deref(), Some("1.11.0"));
        assert!(!register.slave.resources.is_empty());
        let types: Vec<i32> = register
            .agent_capabilities
            .iter()
            .filter_map(|c| c.r#type)
            .collect();
        assert!(types.contains(&(v0::slave_info::capability::Type::MultiRole as i32)));
        self.send(
            &m.from,
            &msg::SlaveRegisteredMessage {
                slave_id: v0::SlaveId { value: "S1".into() },
                connection: None,
            },
        );
        m.from
    }

    /// Receives the next status update of any task and acknowledges it.
    async fn next_update(&mut self, agent: &Upid) -> msg::StatusUpdate {
        let m = self.expect("mesos.internal.StatusUpdateMessage").await;
        let update = msg::StatusUpdateMessage::decode(m.body.as_ref()).unwrap();
        assert_eq!(update.pid.as_deref(), Some(agent.to_string().as_str()));
        let u = update.update;
        self.send(
            agent,
            &msg::StatusUpdateAcknowledgementMessage {
                slave_id: v0::SlaveId { value: "S1".into() },
                framework_id: u.framework_id.clone(),
                task_id: u.status.task_id.clone(),
                uuid: u.uuid.clone().unwrap(),
            },
        );
        u
    }

    /// Acknowledges updates until a terminal one; returns all states seen.
    async fn updates_until_terminal(&mut self, agent: &Upid) -> Vec<msg::StatusUpdate> {
        let mut seen = Vec::new();
        loop {
            let u = self.next_update(agent).await;
            let terminal = mesos_slave::status_update::is_terminal(u.status.state);
            seen.push(u);
            if terminal {
                return seen;
            }
        }
    }
}

fn launcher_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_mesos-executor"))
        .parent()
        .unwrap()
        .to_path_buf()
}

async fn start_agent(
    master: &FakeMaster,
    work_dir: &Path,
    launcher_dir: PathBuf,
) -> (Agent, Transport) {
    // Generous: executors are real processes, and CI machines are busy.
    start_agent_with(master, work_dir, launcher_dir, Duration::from_secs(20)).await
}

async fn start_agent_with(
    master: &FakeMaster,
    work_dir: &Path,
    launcher_dir: PathBuf,
    executor_registration_timeout: Duration,
) -> (Agent, Transport) {
    let transport = Transport::bind(&BindConfig::loopback(0)).await.unwrap();
    let resources =
        mesos::resources::Resources::parse("cpus:2;mem:1024;disk:1000;ports:[31000-31100]")
            .unwrap()
            .to_wire();
    let mut config = AgentConfig::new(master.pid.clone(), work_dir.to_path_buf(), resources);
    config.launcher_dir = launcher_dir;
    config.registration_backoff_factor = Duration::from_millis(10);
    config.executor_registration_timeout = executor_registration_timeout;
    let agent = Agent::start(config, transport.clone(), "slave(1)", true);
    (agent, transport)
}

fn run_task(id: &str, command: &str) -> msg::RunTaskMessage {
    let framework_id = v0::FrameworkId { value: "F1".into() };
    msg::RunTaskMessage {
        framework: v0::FrameworkInfo {
            user: "nobody".into(),
            name: "test".into(),
            id: Some(framework_id.clone()),
            ..Default::default()
        },
        task: v0::TaskInfo {
            name: id.into(),
            task_id: v0::TaskId { value: id.into() },
            slave_id: v0::SlaveId { value: "S1".into() },
            resources: mesos::resources::Resources::parse("cpus:0.1;mem:32")
                .unwrap()
                .to_wire(),
            command: Some(v0::CommandInfo {
                value: Some(command.into()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn state_of(u: &msg::StatusUpdate) -> v0::TaskState {
    v0::TaskState::try_from(u.status.state).unwrap()
}

async fn http_get(address: std::net::SocketAddr, path: &str) -> (http::StatusCode, String) {
    use http_body_util::BodyExt;
    let stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let request = http::Request::get(path)
        .header(http::header::HOST, address.to_string())
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_a_command_task_end_to_end() {
    let work_dir = tempfile::tempdir().unwrap();
    let mut master = FakeMaster::start().await;
    let (agent, transport) = start_agent(&master, work_dir.path(), launcher_dir()).await;
    let agent_pid = master.admit().await;
    assert_eq!(agent_pid, *agent.pid());

    master.send(&agent_pid, &run_task("t1", "echo hello"));
    let updates = master.updates_until_terminal(&agent_pid).await;
    let states: Vec<v0::TaskState> = updates.iter().map(state_of).collect();
    assert_eq!(
        states,
        [
            v0::TaskState::TaskStarting,
            v0::TaskState::TaskRunning,
            v0::TaskState::TaskFinished
        ]
    );
    let finished = updates.last().unwrap();
    assert_eq!(
        finished.status.message.as_deref(),
        Some("Command exited with status 0")
    );
    assert_eq!(
        finished.status.source,
        Some(v0::task_status::Source::Executor as i32)
    );
    assert_eq!(finished.slave_id.as_ref().unwrap().value, "S1");
    assert_eq!(finished.status.uuid, finished.uuid);

    let sandbox = work_dir
        .path()
        .join("slaves/S1/frameworks/F1/executors/t1/runs/latest");
    let stdout = std::fs::read_to_string(sandbox.join("stdout")).unwrap();
    assert!(stdout.contains("hello"), "stdout: {stdout}");

    // The executor exits once its terminal update is acknowledged, and the
    // framework moves to completed_frameworks.
    let address = transport.bound_address();
    let mut state = serde_json::Value::Null;
    for _ in 0..200 {
        let (status, body) = http_get(address, "/state").await;
        assert_eq!(status, http::StatusCode::OK);
        state = serde_json::from_str(&body).unwrap();
        if state["completed_frameworks"]
            .as_array()
            .is_some_and(|f| !f.is_empty())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(state["id"], "S1");
    assert_eq!(state["version"], "1.11.0");
    assert_eq!(state["resources"]["cpus"], 2.0);
    let completed = &state["completed_frameworks"][0]["completed_executors"][0];
    assert_eq!(completed["id"], "t1");
    assert_eq!(completed["completed_tasks"][0]["state"], "TASK_FINISHED");

    let (status, _) = http_get(address, "/slave(1)/health").await;
    assert_eq!(status, http::StatusCode::OK);
    let (status, body) = http_get(address, "/version").await;
    assert_eq!(status, http::StatusCode::OK);
    assert!(body.contains("1.11.0"));
    let (status, body) = http_get(address, "/slave(1)/monitor/statistics").await;
    assert_eq!(status, http::StatusCode::OK);
    assert_eq!(body, "[]", "no executor runs any more");
    let (status, _) = http_get(address, "/slave(1)/containers").await;
    assert_eq!(status, http::StatusCode::NOT_IMPLEMENTED);
    let (status, _) = http_get(address, "/api/v1/executor").await;
    assert_eq!(status, http::StatusCode::METHOD_NOT_ALLOWED);

    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_and_killed_tasks() {
    let work_dir = tempfile::tempdir().unwrap();
    let mut master = FakeMaster::start().await;
    let (agent, _transport) = start_agent(&master, work_dir.path(), launcher_dir()).await;
    let agent_pid = master.admit().await;

    master.send(&agent_pid, &run_task("fails", "exit 3"));
    let updates = master.updates_until_terminal(&agent_pid).await;
    let last = updates.last().unwrap();
    assert_eq!(state_of(last), v0::TaskState::TaskFailed);
    assert_eq!(
        last.status.message.as_deref(),
        Some("Command exited with status 3")
    );

    master.send(&agent_pid, &run_task("sleeper", "sleep 100"));
    loop {
        let u = master.next_update(&agent_pid).await;
        if state_of(&u) == v0::TaskState::TaskRunning {
            break;
        }
    }
    master.send(
        &agent_pid,
        &msg::KillTaskMessage {
            framework_id: v0::FrameworkId { value: "F1".into() },
            task_id: v0::TaskId {
                value: "sleeper".into(),
            },
            kill_policy: None,
        },
    );
    let updates = master.updates_until_terminal(&agent_pid).await;
    let last = updates.last().unwrap();
    assert_eq!(state_of(last), v0::TaskState::TaskKilled);
    assert_eq!(
        last.status.message.as_deref(),
        Some("Command terminated with signal Terminated")
    );

    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executor_that_never_subscribes_times_out() {
    let work_dir = tempfile::tempdir().unwrap();
    let fake_launcher = tempfile::tempdir().unwrap();
    let script = fake_launcher.path().join("mesos-executor");
    std::fs::write(&script, "#!/bin/sh\nexec sleep 100\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();

    let mut master = FakeMaster::start().await;
    let (agent, _transport) = start_agent_with(
        &master,
        work_dir.path(),
        fake_launcher.path().to_path_buf(),
        Duration::from_secs(2),
    )
    .await;
    let agent_pid = master.admit().await;
    master.send(&agent_pid, &run_task("t1", "true"));
    let u = master.next_update(&agent_pid).await;
    assert_eq!(state_of(&u), v0::TaskState::TaskFailed);
    assert_eq!(
        u.status.reason,
        Some(v0::task_status::Reason::ExecutorRegistrationTimeout as i32)
    );
    assert_eq!(u.status.source, Some(v0::task_status::Source::Slave as i32));
    assert_eq!(
        u.status.message.as_deref(),
        Some("Executor did not register within 2secs")
    );
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_pings_and_retries_registration() {
    let work_dir = tempfile::tempdir().unwrap();
    let mut master = FakeMaster::start().await;
    let (agent, _transport) = start_agent(&master, work_dir.path(), launcher_dir()).await;
    // Unanswered registrations are retried.
    master.expect("mesos.internal.RegisterSlaveMessage").await;
    let agent_pid = master.admit().await;
    master.send(&agent_pid, &msg::PingSlaveMessage { connected: true });
    master.expect("mesos.internal.PongSlaveMessage").await;
    // A ping saying the master lost the agent makes it re-register.
    master.send(&agent_pid, &msg::PingSlaveMessage { connected: false });
    let m = master.expect("mesos.internal.ReregisterSlaveMessage").await;
    let reregister = msg::ReregisterSlaveMessage::decode(m.body.as_ref()).unwrap();
    assert_eq!(reregister.slave.id.unwrap().value, "S1");
    agent.shutdown().await;
}
