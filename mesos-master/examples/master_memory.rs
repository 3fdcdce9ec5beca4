//! Master memory: bytes per registered agent and per running task, with
//! simulated agents fed straight into the master core (no sockets). A
//! counting allocator measures the heap.
//!
//! ```text
//! cargo run --release -p mesos-master --example master_memory -- 10000 100000
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mesos::resources::Resources;
use mesos::upid::Upid;
use mesos::wire::mesos as v0;
use mesos::wire::mesos::internal;
use mesos::wire::mesos::scheduler::{self, call, event};
use mesos_master::allocator::AllocatorConfig;
use mesos_master::master::{Effect, FrameworkLink, Master, MasterConfig, Now};
use prost::Message;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator, only counting sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

#[allow(clippy::disallowed_methods)]
fn main() {
    let mut args = std::env::args().skip(1);
    let agents: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let tasks: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let start = Instant::now();
    let mut clock = Now {
        instant: start,
        unix: 1.8e9,
    };
    let config = MasterConfig {
        id: "bench".into(),
        pid: "master@127.0.0.1:5050".parse().expect("a valid UPID"),
        hostname: "localhost".into(),
        allocation_interval: Duration::from_secs(1),
        offer_timeout: None,
        agent_ping_timeout: Duration::from_secs(15),
        max_agent_ping_timeouts: 5,
        max_completed_frameworks: 50,
        max_completed_tasks_per_framework: 1000,
        allocator: AllocatorConfig::default(),
    };
    let mut master = Master::new(config, clock);
    let before_agents = live();
    let per_agent_tasks = tasks.div_ceil(agents.max(1));
    let resources = Resources::parse(&format!(
        "cpus:{};mem:{};disk:100000;ports:[31000-32000]",
        per_agent_tasks as f64 * 0.01 + 1.0,
        per_agent_tasks * 2 + 1024
    ))
    .expect("valid resources");
    for n in 0..agents {
        let port = 10_000 + (n % 50_000) as u16;
        let ip = format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255);
        let pid: Upid = format!("slave(1)@{ip}:{port}")
            .parse()
            .expect("a valid UPID");
        let message = internal::RegisterSlaveMessage {
            slave: v0::SlaveInfo {
                hostname: format!("agent-{n}.example"),
                port: Some(5051),
                resources: resources.to_wire(),
                ..Default::default()
            },
            version: Some("1.11.0".into()),
            ..Default::default()
        };
        master.receive(
            &pid,
            "mesos.internal.RegisterSlaveMessage",
            &message.encode_to_vec(),
            clock,
        );
    }
    master.take_effects();
    let agent_bytes = live() - before_agents;

    let link = FrameworkLink::Http {
        stream_id: "s".into(),
    };
    let subscribe = scheduler::Call {
        r#type: Some(call::Type::Subscribe as i32),
        subscribe: Some(call::Subscribe {
            framework_info: v0::FrameworkInfo {
                user: "root".into(),
                name: "memory".into(),
                ..Default::default()
            },
            ..Default::default()
        }),
        ..Default::default()
    };
    let framework = master
        .subscribe(&subscribe, link.clone(), clock)
        .expect("subscribed");
    master.take_effects();
    let before_tasks = live();
    let mut launched = 0usize;
    while launched < tasks {
        clock.instant += Duration::from_secs(2);
        master.allocate(clock);
        let offers: Vec<v0::Offer> = master
            .take_effects()
            .into_iter()
            .filter_map(|effect| match effect {
                Effect::Event { event, .. } if event.r#type == Some(event::Type::Offers as i32) => {
                    event.offers.map(|o| o.offers)
                }
                _ => None,
            })
            .flatten()
            .collect();
        if offers.is_empty() {
            break;
        }
        for offer in offers {
            let count = per_agent_tasks.min(tasks - launched);
            let task_infos: Vec<v0::TaskInfo> = (0..count)
                .map(|i| v0::TaskInfo {
                    name: format!("task-{}", launched + i),
                    task_id: v0::TaskId {
                        value: format!("task-{}", launched + i),
                    },
                    slave_id: offer.slave_id.clone(),
                    resources: Resources::parse("cpus:0.01;mem:2")
                        .expect("valid")
                        .to_wire(),
                    command: Some(v0::CommandInfo {
                        value: Some("sleep 1000".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .collect();
            launched += count;
            let accept = scheduler::Call {
                framework_id: Some(framework.to_v0()),
                r#type: Some(call::Type::Accept as i32),
                accept: Some(call::Accept {
                    offer_ids: vec![offer.id.clone()],
                    operations: vec![v0::offer::Operation {
                        r#type: Some(v0::offer::operation::Type::Launch as i32),
                        launch: Some(v0::offer::operation::Launch { task_infos }),
                        ..Default::default()
                    }],
                    filters: None,
                }),
                ..Default::default()
            };
            master.call(accept, &link, clock).expect("accepted");
            master.take_effects();
            if launched >= tasks {
                break;
            }
        }
    }
    // Outstanding offers are part of neither figure.
    let running: usize = master.frameworks().map(|f| f.tasks.len()).sum();
    let task_bytes = live().saturating_sub(before_tasks);
    println!(
        "{{\"agents\":{agents},\"bytes_per_agent\":{},\"tasks\":{running},\"bytes_per_task\":{},\"seconds\":{:.2}}}",
        agent_bytes / agents.max(1),
        task_bytes / running.max(1),
        start.elapsed().as_secs_f64()
    );
}
