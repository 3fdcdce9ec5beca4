//! A small custom executor that speaks the libprocess executor protocol
//! the way libmesos's `MesosExecutorDriver` does (Mesos 1.11
//! `src/exec/exec.cpp`), built on this project's libprocess transport. The
//! end-to-end tests launch it as a framework's own executor.
//!
//! Like the driver it reads `MESOS_SLAVE_PID`, `MESOS_SLAVE_ID`,
//! `MESOS_FRAMEWORK_ID`, `MESOS_EXECUTOR_ID` and `MESOS_DIRECTORY` (exiting
//! when one is missing), `MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD`,
//! `MESOS_CHECKPOINT` and, when checkpointing, `MESOS_RECOVERY_TIMEOUT`;
//! listens where `LIBPROCESS_IP`/`LIBPROCESS_PORT` say; links to the agent
//! and registers. Then, scripted for the tests:
//!
//! - each task gets `TASK_RUNNING`; a task whose data is `finish` then
//!   gets `TASK_FINISHED`;
//! - a framework message `X` is answered with `echo: X`;
//! - a kill ends the task with `TASK_KILLED`;
//! - a shutdown ends the executor (exit 0); losing the agent too (exit 1).
//!
//! Each step is printed on stdout (the sandbox's `stdout`) as one line:
//! `registered on S1`, `task t1`, `acknowledged t1 TASK_RUNNING`, ...

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use mesos::process::{BindConfig, Event, Transport};
use mesos::upid::Upid;
use mesos::wire::mesos as v0;
use mesos::wire::mesos::internal as msg;

/// What the executor knows from its environment.
struct Env {
    agent: Upid,
    agent_id: v0::SlaveId,
    framework_id: v0::FrameworkId,
    executor_id: v0::ExecutorId,
}

fn required(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("Expecting '{name}' to be set in the environment"))
}

fn read_env() -> Result<Env, String> {
    let agent = required("MESOS_SLAVE_PID")?;
    let agent: Upid = agent
        .parse()
        .map_err(|_| format!("Cannot parse MESOS_SLAVE_PID '{agent}'"))?;
    let env = Env {
        agent,
        agent_id: v0::SlaveId {
            value: required("MESOS_SLAVE_ID")?,
        },
        framework_id: v0::FrameworkId {
            value: required("MESOS_FRAMEWORK_ID")?,
        },
        executor_id: v0::ExecutorId {
            value: required("MESOS_EXECUTOR_ID")?,
        },
    };
    let directory = required("MESOS_DIRECTORY")?;
    let grace = match std::env::var("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD") {
        Ok(text) => mesos::flags::parse_duration(&text)
            .map_err(|e| format!("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD '{text}': {e}"))?,
        Err(_) => Duration::from_secs(5),
    };
    let checkpoint = std::env::var("MESOS_CHECKPOINT").is_ok_and(|v| v == "1");
    if checkpoint {
        let text = required("MESOS_RECOVERY_TIMEOUT")?;
        mesos::flags::parse_duration(&text)
            .map_err(|e| format!("MESOS_RECOVERY_TIMEOUT '{text}': {e}"))?;
    }
    println!(
        "environment MESOS_DIRECTORY={directory} MESOS_SANDBOX={} checkpoint={checkpoint} grace={}",
        std::env::var("MESOS_SANDBOX").unwrap_or_default(),
        mesos::flags::format_duration(grace)
    );
    Ok(env)
}

fn state_name(state: i32) -> &'static str {
    v0::TaskState::try_from(state).map_or("UNKNOWN", |s| s.as_str_name())
}

struct Executor {
    env: Env,
    transport: Transport,
    me: Upid,
    /// Updates sent and not yet acknowledged, by uuid: (task, state).
    unacknowledged: HashMap<Bytes, (String, i32)>,
}

impl Executor {
    fn send<M>(&self, message: &M)
    where
        M: prost::Message + prost_reflect::ReflectMessage,
    {
        self.transport
            .send_message(&self.me, &self.env.agent, message);
    }

    /// Sends a status update as the driver's `sendStatusUpdate` does.
    fn update(&mut self, task_id: &v0::TaskId, state: v0::TaskState) {
        let uuid = Bytes::copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let update = msg::StatusUpdate {
            framework_id: self.env.framework_id.clone(),
            executor_id: Some(self.env.executor_id.clone()),
            slave_id: Some(self.env.agent_id.clone()),
            status: v0::TaskStatus {
                task_id: task_id.clone(),
                state: state as i32,
                slave_id: Some(self.env.agent_id.clone()),
                timestamp: Some(now),
                uuid: Some(uuid.clone()),
                ..Default::default()
            },
            timestamp: now,
            uuid: Some(uuid.clone()),
            latest_state: None,
        };
        self.unacknowledged
            .insert(uuid, (task_id.value.clone(), state as i32));
        self.send(&msg::StatusUpdateMessage {
            update,
            pid: Some(self.me.to_string()),
        });
    }

    /// Handles one message; `Some(code)` ends the executor.
    fn handle(&mut self, from: &Upid, name: &str, body: &[u8]) -> Option<ExitCode> {
        fn decode<M: prost::Message + Default>(body: &[u8]) -> Option<M> {
            M::decode(body).ok()
        }
        let short = name.strip_prefix("mesos.internal.").unwrap_or(name);
        match short {
            "ExecutorRegisteredMessage" => {
                let m: msg::ExecutorRegisteredMessage = decode(body)?;
                println!(
                    "registered on {} executor {} framework {} ({})",
                    m.slave_id.value,
                    m.executor_info.executor_id.value,
                    m.framework_id.value,
                    m.framework_info.name
                );
            }
            "ExecutorReregisteredMessage" => {
                let m: msg::ExecutorReregisteredMessage = decode(body)?;
                println!("reregistered on {}", m.slave_id.value);
            }
            "RunTaskMessage" => {
                let m: msg::RunTaskMessage = decode(body)?;
                println!("task {}", m.task.task_id.value);
                self.update(&m.task.task_id, v0::TaskState::TaskRunning);
                if m.task.data.as_deref() == Some(b"finish") {
                    self.update(&m.task.task_id, v0::TaskState::TaskFinished);
                }
            }
            "KillTaskMessage" => {
                let m: msg::KillTaskMessage = decode(body)?;
                println!("killed {}", m.task_id.value);
                self.update(&m.task_id, v0::TaskState::TaskKilled);
            }
            "StatusUpdateAcknowledgementMessage" => {
                let m: msg::StatusUpdateAcknowledgementMessage = decode(body)?;
                match self.unacknowledged.remove(&m.uuid) {
                    Some((task, state)) => {
                        println!("acknowledged {task} {}", state_name(state))
                    }
                    None => println!("unknown acknowledgement for {}", m.task_id.value),
                }
            }
            "FrameworkToExecutorMessage" => {
                let m: msg::FrameworkToExecutorMessage = decode(body)?;
                let data = String::from_utf8_lossy(&m.data).into_owned();
                println!("framework message {data}");
                self.send(&msg::ExecutorToFrameworkMessage {
                    slave_id: self.env.agent_id.clone(),
                    framework_id: self.env.framework_id.clone(),
                    executor_id: self.env.executor_id.clone(),
                    data: Bytes::from(format!("echo: {data}")),
                });
            }
            "ShutdownExecutorMessage" => {
                println!("shutdown");
                return Some(ExitCode::SUCCESS);
            }
            other => println!("unexpected {other} from {from}"),
        }
        None
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let env = match read_env() {
        Ok(env) => env,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let bind = BindConfig::resolve(None, None, None, None, 0);
    let transport = match Transport::bind(&bind).await {
        Ok(transport) => transport,
        Err(e) => {
            eprintln!("Failed to listen on {}:{}: {e}", bind.ip, bind.port);
            return ExitCode::FAILURE;
        }
    };
    let me = transport.upid("executor(1)");
    let mut mailbox = transport.spawn("executor(1)");
    println!("started {me}");
    transport.link(&me, &env.agent);
    let mut executor = Executor {
        env,
        transport,
        me,
        unacknowledged: HashMap::new(),
    };
    executor.send(&msg::RegisterExecutorMessage {
        framework_id: executor.env.framework_id.clone(),
        executor_id: executor.env.executor_id.clone(),
    });
    while let Some(event) = mailbox.recv().await {
        match event {
            Event::Message(m) => {
                if let Some(code) = executor.handle(&m.from, &m.name, &m.body) {
                    return code;
                }
            }
            Event::Exited(pid) if pid == executor.env.agent => {
                println!("agent exited");
                return ExitCode::FAILURE;
            }
            Event::Exited(_) => {}
        }
    }
    ExitCode::FAILURE
}
