//! Task throughput benchmark: a v1 HTTP framework that launches `--tasks`
//! tasks running `--command` (default `true`) as fast as offers allow,
//! acknowledges every update, and reports tasks per second to
//! `TASK_FINISHED` plus the resident memory of the processes named by
//! `--pid` (the master, the agent, or `mesos-local`).
//!
//! ```text
//! cargo run --release -p mesos-tools --example task_throughput -- \
//!     --master=127.0.0.1:5050 --tasks=1000 --cpus=0.01 --mem=1 --pid=<mesos-local pid>
//! ```

use std::collections::HashMap;
use std::time::Instant;

use clap::Parser;
use mesos::http_scheduler::{self, Scheduler};
use mesos::wire::mesos::v1::scheduler::{self, call, event};
use mesos::wire::mesos::v1::{self, TaskState};

#[derive(Debug, Parser)]
#[command(rename_all = "snake_case")]
struct Flags {
    /// The master, HOST:PORT.
    #[arg(long)]
    master: String,
    /// How many tasks to run.
    #[arg(long, default_value_t = 1000)]
    tasks: usize,
    /// CPUs per task.
    #[arg(long, default_value_t = 0.01)]
    cpus: f64,
    /// Memory per task (MB).
    #[arg(long, default_value_t = 1.0)]
    mem: f64,
    /// The task's shell command.
    #[arg(long, default_value = "true")]
    command: String,
    /// Processes whose resident memory to report.
    #[arg(long)]
    pid: Vec<u32>,
}

fn scalar(name: &str, value: f64) -> v1::Resource {
    v1::Resource {
        name: name.into(),
        r#type: v1::value::Type::Scalar as i32,
        scalar: Some(v1::value::Scalar { value }),
        ..Default::default()
    }
}

fn offered(offer: &v1::Offer, name: &str) -> f64 {
    offer
        .resources
        .iter()
        .filter(|r| r.name == name)
        .filter_map(|r| r.scalar.as_ref())
        .map(|s| s.value)
        .sum()
}

/// `VmRSS` and `VmHWM` of a process, in KiB.
fn memory(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), String> {
    let flags = Flags::parse();
    let master = mesos_tools::resolve_master(&flags.master).await?;
    let subscribe = scheduler::Call {
        r#type: Some(call::Type::Subscribe as i32),
        subscribe: Some(call::Subscribe {
            framework_info: v1::FrameworkInfo {
                user: "root".into(),
                name: "task-throughput".into(),
                ..Default::default()
            },
            ..Default::default()
        }),
        ..Default::default()
    };
    let (client, mut events) = http_scheduler::subscribe(master, &subscribe)
        .await
        .map_err(|e| e.to_string())?;
    let mut framework_id = None;
    let mut launched = 0usize;
    let mut finished = 0usize;
    let mut failed = 0usize;
    let mut states: HashMap<String, i32> = HashMap::new();
    let mut started: Option<Instant> = None;
    while let Some(event) = events.next().await {
        let event = event.map_err(|e| e.to_string())?;
        match event.r#type.and_then(|t| event::Type::try_from(t).ok()) {
            Some(event::Type::Subscribed) => {
                framework_id = event.subscribed.map(|s| s.framework_id);
            }
            Some(event::Type::Offers) => {
                let Some(id) = framework_id.clone() else {
                    continue;
                };
                for offer in event.offers.map(|o| o.offers).unwrap_or_default() {
                    let (mut cpus, mut mem) = (offered(&offer, "cpus"), offered(&offer, "mem"));
                    let mut tasks = Vec::new();
                    while launched < flags.tasks
                        && cpus >= flags.cpus - 1e-9
                        && mem >= flags.mem - 1e-9
                    {
                        let role = offer.allocation_info.as_ref().and_then(|a| a.role.clone());
                        let mut resources =
                            vec![scalar("cpus", flags.cpus), scalar("mem", flags.mem)];
                        for r in &mut resources {
                            r.allocation_info = role
                                .clone()
                                .map(|role| v1::resource::AllocationInfo { role: Some(role) });
                        }
                        tasks.push(v1::TaskInfo {
                            name: format!("t{launched}"),
                            task_id: v1::TaskId {
                                value: format!("t{launched}"),
                            },
                            agent_id: offer.agent_id.clone(),
                            resources,
                            command: Some(v1::CommandInfo {
                                value: Some(flags.command.clone()),
                                shell: Some(true),
                                ..Default::default()
                            }),
                            ..Default::default()
                        });
                        launched += 1;
                        cpus -= flags.cpus;
                        mem -= flags.mem;
                    }
                    started.get_or_insert_with(Instant::now);
                    let operations = if tasks.is_empty() {
                        Vec::new()
                    } else {
                        vec![v1::offer::Operation {
                            r#type: Some(v1::offer::operation::Type::Launch as i32),
                            launch: Some(v1::offer::operation::Launch { task_infos: tasks }),
                            ..Default::default()
                        }]
                    };
                    let accept = scheduler::Call {
                        framework_id: Some(id.clone()),
                        r#type: Some(call::Type::Accept as i32),
                        accept: Some(call::Accept {
                            offer_ids: vec![offer.id.clone()],
                            operations,
                            filters: Some(v1::Filters {
                                refuse_seconds: Some(0.0),
                            }),
                        }),
                        ..Default::default()
                    };
                    client.call(&accept).await.map_err(|e| e.to_string())?;
                }
            }
            Some(event::Type::Update) => {
                let Some(status) = event.update.map(|u| u.status) else {
                    continue;
                };
                let Some(id) = framework_id.clone() else {
                    continue;
                };
                acknowledge(&client, &id, &status).await?;
                let previous = states.insert(status.task_id.value.clone(), status.state);
                let terminal = status.state == TaskState::TaskFinished as i32
                    || status.state == TaskState::TaskFailed as i32
                    || status.state == TaskState::TaskLost as i32
                    || status.state == TaskState::TaskError as i32
                    || status.state == TaskState::TaskKilled as i32;
                if terminal && previous != Some(status.state) {
                    if status.state == TaskState::TaskFinished as i32 {
                        finished += 1;
                    } else {
                        failed += 1;
                    }
                }
                if finished + failed == flags.tasks {
                    let elapsed = started.map(|s| s.elapsed()).unwrap_or_default();
                    println!(
                        "{{\"tasks\":{},\"finished\":{finished},\"failed\":{failed},\"seconds\":{:.3},\"tasks_per_second\":{:.1}}}",
                        flags.tasks,
                        elapsed.as_secs_f64(),
                        flags.tasks as f64 / elapsed.as_secs_f64()
                    );
                    for pid in &flags.pid {
                        if let Some((rss, hwm)) = memory(*pid) {
                            println!("{{\"pid\":{pid},\"rss_kib\":{rss},\"peak_rss_kib\":{hwm}}}");
                        }
                    }
                    let teardown = scheduler::Call {
                        framework_id: Some(id),
                        r#type: Some(call::Type::Teardown as i32),
                        ..Default::default()
                    };
                    let _ = client.call(&teardown).await;
                    return Ok(());
                }
            }
            Some(event::Type::Error) => {
                return Err(format!("ERROR event: {:?}", event.error));
            }
            _ => {}
        }
    }
    Err("the master closed the stream".into())
}

async fn acknowledge(
    client: &Scheduler,
    id: &v1::FrameworkId,
    status: &v1::TaskStatus,
) -> Result<(), String> {
    let (Some(uuid), Some(agent)) = (&status.uuid, &status.agent_id) else {
        return Ok(());
    };
    let call = scheduler::Call {
        framework_id: Some(id.clone()),
        r#type: Some(call::Type::Acknowledge as i32),
        acknowledge: Some(call::Acknowledge {
            agent_id: agent.clone(),
            task_id: status.task_id.clone(),
            uuid: uuid.clone(),
        }),
        ..Default::default()
    };
    client.call(&call).await.map_err(|e| e.to_string())
}
