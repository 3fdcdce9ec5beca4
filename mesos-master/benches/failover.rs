//! Master failover benchmarks, in the shape of Mesos's
//! `MasterFailover_BENCHMARK_Test.AgentReregistrationDelay`
//! (`src/tests/master_benchmarks.cpp`): every agent of a cluster sends its
//! `ReregisterSlaveMessage` to a master that has just taken over; the time
//! runs from the first message to the last `SlaveReregisteredMessage`.
//!
//! Here the master is the core and its registrar, fed as the runtime
//! feeds them: messages in batches of 256, after each batch the registry
//! as it stands is taken, serialized (what the store writes) and reported
//! stored, which releases the replies it admits. The registry write
//! itself (a file or ZooKeeper) is left out; a write per batch is the
//! worst case, as the runtime writes only the latest registry when the
//! previous write is done.
//!
//! Run with `cargo bench -p mesos-master --bench failover`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use mesos::resources::Resources;
use mesos::upid::Upid;
use mesos::wire::mesos as v0;
use mesos::wire::mesos::internal;
use mesos_master::allocator::AllocatorConfig;
use mesos_master::master::{Effect, Master, MasterConfig, Now};
use prost::Message;

/// As the runtime's batch.
const BATCH: usize = 256;

/// The one clock reading; the core never reads the clock.
#[allow(clippy::disallowed_methods)]
fn base() -> Instant {
    Instant::now()
}

fn config() -> MasterConfig {
    MasterConfig {
        id: "bench-master".into(),
        pid: "master@127.0.0.1:5050".parse().unwrap(),
        hostname: "localhost".into(),
        allocation_interval: Duration::from_secs(1),
        offer_timeout: None,
        agent_ping_timeout: Duration::from_secs(15),
        max_agent_ping_timeouts: 5,
        max_completed_frameworks: 50,
        max_completed_tasks_per_framework: 1000,
        allocator: AllocatorConfig::default(),
    }
}

/// One agent's `ReregisterSlaveMessage` as Mesos's benchmark builds it:
/// `cpus:20;mem:10240`, `frameworks` frameworks each running `tasks`
/// tasks of `cpus:0.1;mem:5` with ten labels.
fn slave_info(agent: usize) -> v0::SlaveInfo {
    let slave_id = v0::SlaveId {
        value: format!("agent{agent}"),
    };
    v0::SlaveInfo {
        hostname: slave_id.value.clone(),
        resources: Resources::parse("cpus:20;mem:10240").unwrap().to_wire(),
        id: Some(slave_id),
        ..Default::default()
    }
}

fn reregister_message(agent: usize, frameworks: usize, tasks: usize) -> Bytes {
    let slave = slave_info(agent);
    let slave_id = slave.id.clone().unwrap();
    let task_resources = Resources::parse("cpus:0.1;mem:5").unwrap().to_wire();
    let labels = v0::Labels {
        labels: (0..10)
            .map(|i| v0::Label {
                key: format!("key{i}"),
                value: Some(format!("value{i}")),
            })
            .collect(),
    };
    let mut message = internal::ReregisterSlaveMessage {
        slave,
        version: Some("1.11.0".into()),
        ..Default::default()
    };
    for f in 0..frameworks {
        let framework_id = v0::FrameworkId {
            value: format!("framework{f}"),
        };
        message.frameworks.push(v0::FrameworkInfo {
            user: "bench".into(),
            name: "default".into(),
            id: Some(framework_id.clone()),
            failover_timeout: Some(3600.0),
            ..Default::default()
        });
        for t in 0..tasks {
            message.tasks.push(v0::Task {
                name: "dummy command".into(),
                task_id: v0::TaskId {
                    value: format!("{agent}-{f}-{t}"),
                },
                framework_id: framework_id.clone(),
                slave_id: slave_id.clone(),
                state: v0::TaskState::TaskRunning as i32,
                resources: task_resources.clone(),
                labels: Some(labels.clone()),
                ..Default::default()
            });
        }
    }
    Bytes::from(message.encode_to_vec())
}

/// A master that has just recovered a persisted registry, and every
/// agent's message. With an empty registry (`listed` false, Mesos's
/// benchmark) every agent is new to it and its reply waits for the
/// registry write admitting it; with the agents listed (`listed` true, a
/// failover: each comes back as the registry holds it) nothing is written.
struct Failover {
    master: Master,
    now: Now,
    agents: Vec<(Upid, Bytes)>,
}

fn failover(agents: usize, frameworks: usize, tasks: usize, listed: bool) -> Failover {
    let now = Now {
        instant: base(),
        unix: 1.7e9,
    };
    let mut master = Master::new(config(), now);
    let mut registry = internal::Registry::default();
    if listed {
        registry.slaves = Some(internal::registry::Slaves {
            slaves: (0..agents)
                .map(|a| internal::registry::Slave {
                    info: slave_info(a),
                    drain_info: None,
                    deactivated: None,
                })
                .collect(),
        });
    }
    master.recover(registry, Duration::from_secs(600), now);
    if let Some((number, _)) = master.take_registry() {
        master.registry_stored(number);
    }
    master.take_effects();
    let agents = (0..agents)
        .map(|a| {
            let port = 10_000 + (a % 50_000) as u16;
            let ip = [127, 1, (a / 50_000) as u8, 1];
            let pid = Upid::new("slave(1)", std::net::SocketAddr::from((ip, port)));
            (pid, reregister_message(a, frameworks, tasks))
        })
        .collect();
    Failover {
        master,
        now,
        agents,
    }
}

/// Feeds every message, batch by batch, storing the registry after each;
/// returns how many agents heard `SlaveReregisteredMessage`.
fn reregister_all(mut f: Failover) -> (usize, Failover) {
    let mut reregistered = 0;
    let mut count = |effects: Vec<Effect>| {
        reregistered += effects
            .iter()
            .filter(|e| {
                matches!(e, Effect::Send { name, .. } if name == "mesos.internal.SlaveReregisteredMessage")
            })
            .count();
    };
    let agents = std::mem::take(&mut f.agents);
    for batch in agents.chunks(BATCH) {
        for (pid, body) in batch {
            f.master
                .receive(pid, "mesos.internal.ReregisterSlaveMessage", body, f.now);
        }
        count(f.master.take_effects());
        if let Some((number, registry)) = f.master.take_registry() {
            std::hint::black_box(registry.encode_to_vec());
            f.master.registry_stored(number);
        }
        count(f.master.take_effects());
    }
    f.agents = agents;
    (reregistered, f)
}

fn agent_reregistration_delay(c: &mut Criterion) {
    let mut group = c.benchmark_group("agent_reregistration_delay");
    group.sample_size(10);
    for (agents, frameworks, tasks, listed) in [
        (20_000, 1, 5, false),
        (2_000, 5, 20, false),
        (20_000, 1, 5, true),
        (2_000, 5, 20, true),
    ] {
        let registry = if listed { "listed" } else { "new" };
        let name = format!("{agents}_agents_{frameworks}_frameworks_{tasks}_tasks_{registry}");
        group.bench_function(&name, |b| {
            b.iter_batched(
                || failover(agents, frameworks, tasks, listed),
                |f| {
                    let (reregistered, f) = reregister_all(f);
                    assert_eq!(reregistered, agents);
                    f
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, agent_reregistration_delay);
criterion_main!(benches);
