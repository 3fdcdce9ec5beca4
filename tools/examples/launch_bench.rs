//! Agent launch benchmarks: a v1 HTTP framework that measures how long
//! an agent takes to start tasks on the command executor, and how long it
//! takes to start and then destroy many containers.
//!
//! `--mode=latency`: `--tasks` tasks (`sleep 1000`) launched one at a
//! time, each once the previous is `TASK_RUNNING`; for each, the time from
//! its `ACCEPT` to its `TASK_RUNNING` at the framework and to the
//! `TASK_RUNNING` timestamp the executor wrote (same host, same clock).
//! Median and p99 of both; then all are killed.
//!
//! `--mode=fleet`: `--tasks` tasks launched as fast as offers allow: the
//! time from the first `ACCEPT` to the last `TASK_RUNNING`; then all
//! killed at once: the time to the last `TASK_KILLED` and, with
//! `--cgroups_dir`, until the agent has removed every container cgroup
//! under it.
//!
//! ```text
//! cargo run --release -p mesos-tools --example launch_bench -- \
//!     --master=127.0.0.1:5050 --mode=latency --tasks=200
//! ```

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use mesos::http_scheduler::{self, Events, Scheduler};
use mesos::wire::mesos::v1::scheduler::{self, call, event};
use mesos::wire::mesos::v1::{self, TaskState};

#[derive(Debug, Parser)]
#[command(rename_all = "snake_case")]
struct Flags {
    /// The master, HOST:PORT.
    #[arg(long)]
    master: String,
    /// `latency` (one task at a time) or `fleet` (all at once).
    #[arg(long, default_value = "latency")]
    mode: String,
    /// How many tasks.
    #[arg(long, default_value_t = 200)]
    tasks: usize,
    /// CPUs per task.
    #[arg(long, default_value_t = 0.01)]
    cpus: f64,
    /// Memory per task (MB).
    #[arg(long, default_value_t = 1.0)]
    mem: f64,
    /// A cgroup directory holding the agent's containers (e.g.
    /// `/sys/fs/cgroup/memory/mesos`): fleet mode waits until it has no
    /// container left.
    #[arg(long)]
    cgroups_dir: Option<PathBuf>,
}

fn scalar(name: &str, value: f64, role: Option<&String>) -> v1::Resource {
    v1::Resource {
        name: name.into(),
        r#type: v1::value::Type::Scalar as i32,
        scalar: Some(v1::value::Scalar { value }),
        allocation_info: role.map(|r| v1::resource::AllocationInfo {
            role: Some(r.clone()),
        }),
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

fn wall_clock() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The framework's connection and what it has seen.
struct Bench {
    flags: Flags,
    client: Scheduler,
    events: Events,
    id: v1::FrameworkId,
    /// Offers not used yet.
    offers: Vec<v1::Offer>,
    /// The latest state of each task.
    states: HashMap<String, i32>,
    /// Each task's `TASK_RUNNING` timestamp (the executor's clock).
    running_at: HashMap<String, f64>,
    /// When the framework got each task's `TASK_RUNNING`.
    running_seen: HashMap<String, Instant>,
}

impl Bench {
    async fn call(&self, mut call: scheduler::Call) -> Result<(), String> {
        call.framework_id = Some(self.id.clone());
        self.client.call(&call).await.map_err(|e| e.to_string())
    }

    /// Takes the next event: offers are kept, updates acknowledged.
    async fn step(&mut self) -> Result<(), String> {
        let event = match tokio::time::timeout(Duration::from_secs(120), self.events.next()).await {
            Ok(Some(event)) => event.map_err(|e| e.to_string())?,
            Ok(None) => return Err("the master closed the stream".into()),
            Err(_) => return Err("no event for 120 s".into()),
        };
        match event.r#type.and_then(|t| event::Type::try_from(t).ok()) {
            Some(event::Type::Offers) => {
                self.offers
                    .extend(event.offers.map(|o| o.offers).unwrap_or_default());
            }
            Some(event::Type::Rescind) => {
                if let Some(rescind) = event.rescind {
                    self.offers.retain(|o| o.id != rescind.offer_id);
                }
            }
            Some(event::Type::Update) => {
                let Some(status) = event.update.map(|u| u.status) else {
                    return Ok(());
                };
                let task = status.task_id.value.clone();
                if status.state == TaskState::TaskRunning as i32 {
                    self.running_seen
                        .entry(task.clone())
                        .or_insert_with(Instant::now);
                    if let Some(at) = status.timestamp {
                        self.running_at.entry(task.clone()).or_insert(at);
                    }
                }
                if status.state == TaskState::TaskFailed as i32
                    || status.state == TaskState::TaskError as i32
                    || status.state == TaskState::TaskLost as i32
                {
                    return Err(format!("task {task}: {status:?}"));
                }
                self.states.insert(task, status.state);
                if let (Some(uuid), Some(agent)) = (&status.uuid, &status.agent_id) {
                    self.call(scheduler::Call {
                        r#type: Some(call::Type::Acknowledge as i32),
                        acknowledge: Some(call::Acknowledge {
                            agent_id: agent.clone(),
                            task_id: status.task_id.clone(),
                            uuid: uuid.clone(),
                        }),
                        ..Default::default()
                    })
                    .await?;
                }
            }
            Some(event::Type::Error) => return Err(format!("ERROR event: {:?}", event.error)),
            _ => {}
        }
        Ok(())
    }

    /// Launches tasks `names` on one offer (as many as fit); returns how
    /// many went.
    async fn launch_on(&mut self, offer: v1::Offer, names: &[String]) -> Result<usize, String> {
        let role = offer.allocation_info.as_ref().and_then(|a| a.role.clone());
        // The command executor adds 0.1 cpus and 32 MB to each task.
        let (cpus_each, mem_each) = (self.flags.cpus + 0.1, self.flags.mem + 32.0);
        let (mut cpus, mut mem) = (offered(&offer, "cpus"), offered(&offer, "mem"));
        let mut tasks = Vec::new();
        for name in names {
            if cpus < cpus_each - 1e-9 || mem < mem_each - 1e-9 {
                break;
            }
            cpus -= cpus_each;
            mem -= mem_each;
            tasks.push(v1::TaskInfo {
                name: name.clone(),
                task_id: v1::TaskId {
                    value: name.clone(),
                },
                agent_id: offer.agent_id.clone(),
                resources: vec![
                    scalar("cpus", self.flags.cpus, role.as_ref()),
                    scalar("mem", self.flags.mem, role.as_ref()),
                ],
                command: Some(v1::CommandInfo {
                    value: Some("sleep 1000".into()),
                    shell: Some(true),
                    ..Default::default()
                }),
                kill_policy: Some(v1::KillPolicy {
                    grace_period: Some(v1::DurationInfo {
                        nanoseconds: 1_000_000_000,
                    }),
                }),
                ..Default::default()
            });
        }
        let count = tasks.len();
        let operations = if tasks.is_empty() {
            Vec::new()
        } else {
            vec![v1::offer::Operation {
                r#type: Some(v1::offer::operation::Type::Launch as i32),
                launch: Some(v1::offer::operation::Launch { task_infos: tasks }),
                ..Default::default()
            }]
        };
        self.call(scheduler::Call {
            r#type: Some(call::Type::Accept as i32),
            accept: Some(call::Accept {
                offer_ids: vec![offer.id.clone()],
                operations,
                filters: Some(v1::Filters {
                    refuse_seconds: Some(0.0),
                }),
            }),
            ..Default::default()
        })
        .await?;
        Ok(count)
    }

    async fn next_offer(&mut self) -> Result<v1::Offer, String> {
        while self.offers.is_empty() {
            self.step().await?;
        }
        Ok(self.offers.remove(0))
    }

    fn count(&self, state: TaskState) -> usize {
        self.states.values().filter(|s| **s == state as i32).count()
    }

    /// Kills every task; returns when all are `TASK_KILLED`.
    async fn kill_all(&mut self) -> Result<(), String> {
        let tasks: Vec<String> = self.states.keys().cloned().collect();
        for task in &tasks {
            self.call(scheduler::Call {
                r#type: Some(call::Type::Kill as i32),
                kill: Some(call::Kill {
                    task_id: v1::TaskId {
                        value: task.clone(),
                    },
                    agent_id: None,
                    kill_policy: None,
                }),
                ..Default::default()
            })
            .await?;
        }
        while self.count(TaskState::TaskKilled) < tasks.len() {
            self.step().await?;
        }
        Ok(())
    }
}

/// The value below which `p` of `values` lie (nearest rank).
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn summary(name: &str, mut millis: Vec<f64>) -> String {
    millis.sort_by(f64::total_cmp);
    format!(
        "\"{name}\":{{\"median_ms\":{:.2},\"p99_ms\":{:.2},\"min_ms\":{:.2},\"max_ms\":{:.2}}}",
        percentile(&millis, 50.0),
        percentile(&millis, 99.0),
        millis.first().copied().unwrap_or(f64::NAN),
        millis.last().copied().unwrap_or(f64::NAN)
    )
}

/// Container directories under `dir` (each a cgroup of its own).
fn containers_in(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .count()
        })
        .unwrap_or(0)
}

async fn latency(bench: &mut Bench) -> Result<(), String> {
    let mut to_framework = Vec::new();
    let mut to_executor = Vec::new();
    for i in 0..bench.flags.tasks {
        let name = format!("latency-{i}");
        let offer = bench.next_offer().await?;
        let sent = Instant::now();
        let sent_wall = wall_clock();
        if bench.launch_on(offer, std::slice::from_ref(&name)).await? == 0 {
            return Err("an offer too small for one task".into());
        }
        while !bench.running_seen.contains_key(&name) {
            bench.step().await?;
        }
        to_framework.push(bench.running_seen[&name].duration_since(sent).as_secs_f64() * 1e3);
        if let Some(at) = bench.running_at.get(&name) {
            to_executor.push((at - sent_wall) * 1e3);
        }
    }
    println!(
        "{{\"mode\":\"latency\",\"tasks\":{},{},{}}}",
        bench.flags.tasks,
        summary("accept_to_running_at_framework", to_framework),
        summary("accept_to_running_timestamp", to_executor)
    );
    bench.kill_all().await
}

async fn fleet(bench: &mut Bench) -> Result<(), String> {
    let total = bench.flags.tasks;
    let mut pending: Vec<String> = (0..total).map(|i| format!("fleet-{i}")).collect();
    let started = Instant::now();
    while !pending.is_empty() {
        let offer = bench.next_offer().await?;
        let launched = bench.launch_on(offer, &pending).await?;
        pending.drain(..launched);
    }
    let accepted = started.elapsed();
    while bench.running_seen.len() < total {
        bench.step().await?;
    }
    let launch_all = started.elapsed();
    let containers = bench.flags.cgroups_dir.as_deref().map(containers_in);

    let killing = Instant::now();
    bench.kill_all().await?;
    let killed = killing.elapsed();
    let mut destroyed = None;
    if let Some(dir) = bench.flags.cgroups_dir.clone() {
        loop {
            let left = containers_in(&dir);
            if left == 0 {
                destroyed = Some(killing.elapsed());
                break;
            }
            if killing.elapsed() > Duration::from_secs(300) {
                return Err(format!("{left} container cgroups left after 300 s"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    println!(
        "{{\"mode\":\"fleet\",\"tasks\":{total},\"all_accepted_s\":{:.3},\"all_running_s\":{:.3},\"container_cgroups_while_running\":{},\"all_killed_s\":{:.3},\"all_cgroups_removed_s\":{}}}",
        accepted.as_secs_f64(),
        launch_all.as_secs_f64(),
        containers.map_or("null".to_string(), |c| c.to_string()),
        killed.as_secs_f64(),
        destroyed.map_or("null".to_string(), |d| format!("{:.3}", d.as_secs_f64())),
    );
    Ok(())
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
                name: "launch-bench".into(),
                ..Default::default()
            },
            ..Default::default()
        }),
        ..Default::default()
    };
    let (client, mut events) = http_scheduler::subscribe(master, &subscribe)
        .await
        .map_err(|e| e.to_string())?;
    let id = loop {
        let event = events
            .next()
            .await
            .ok_or("the master closed the stream")?
            .map_err(|e| e.to_string())?;
        if let Some(subscribed) = event.subscribed {
            break subscribed.framework_id;
        }
    };
    let mode = flags.mode.clone();
    let mut bench = Bench {
        flags,
        client,
        events,
        id,
        offers: Vec::new(),
        states: HashMap::new(),
        running_at: HashMap::new(),
        running_seen: HashMap::new(),
    };
    let result = match mode.as_str() {
        "latency" => latency(&mut bench).await,
        "fleet" => fleet(&mut bench).await,
        other => Err(format!("unknown --mode '{other}'")),
    };
    let _ = bench
        .call(scheduler::Call {
            r#type: Some(call::Type::Teardown as i32),
            ..Default::default()
        })
        .await;
    result
}
