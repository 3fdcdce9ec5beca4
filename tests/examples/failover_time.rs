//! Failover time on the real binaries: a real ZooKeeper, two
//! `mesos-master`s keeping the registry in it, and `--agents` simulated
//! agents (libprocess processes `slave(1)`, `slave(2)`, ... on one
//! loopback socket, speaking `RegisterSlaveMessage`,
//! `ReregisterSlaveMessage` and `PongSlaveMessage` as agents do) plus one
//! libprocess scheduler.
//!
//! The leader is killed (SIGKILL); the agents, following the leader in
//! ZooKeeper, re-register with the new one as soon as it is detected (and
//! every 500 ms until answered, as agents retry), and the scheduler
//! registers with it. Printed: the time from the kill to the new leader in
//! ZooKeeper, to its first offers (and on how many of the agents), and to
//! the last agent's `SlaveReregisteredMessage`.
//!
//! ```text
//! cargo build --release -p mesos-master --bins
//! cargo run --release -p mesos-e2e --example failover_time -- --agents=1000 --zk_session_timeout=10secs
//! ```

use std::collections::HashMap;
use std::time::{Duration, Instant};

use mesos::process::{BindConfig, Event, Transport};
use mesos::resources::Resources;
use mesos::upid::Upid;
use mesos::wire::mesos as v0;
use mesos::wire::mesos::internal;
use mesos::zk::ZkUrl;
use mesos::zk::detector::Detector;
use mesos_e2e::zookeeper::{self, HaCluster};
use prost::Message as _;
use tokio::sync::mpsc;

/// What the simulated processes report to the driver.
enum Report {
    Registered(usize, v0::SlaveId),
    Reregistered(usize),
    FrameworkRegistered,
    Offers(usize),
}

fn flag(name: &str, default: &str) -> String {
    let prefix = format!("--{name}=");
    std::env::args()
        .find_map(|a| a.strip_prefix(&prefix).map(String::from))
        .unwrap_or_else(|| default.to_string())
}

fn slave_info(id: Option<v0::SlaveId>) -> v0::SlaveInfo {
    v0::SlaveInfo {
        hostname: "127.0.0.1".into(),
        port: Some(5051),
        resources: Resources::parse("cpus:2;mem:1024").unwrap().to_wire(),
        id,
        ..Default::default()
    }
}

/// Serves process `id`: answers pings, reports replies.
fn serve(transport: &Transport, id: String, index: usize, reports: mpsc::UnboundedSender<Report>) {
    let mut mailbox = transport.spawn(&id);
    let transport = transport.clone();
    let me = transport.upid(&id);
    tokio::spawn(async move {
        while let Some(event) = mailbox.recv().await {
            let Event::Message(message) = event else {
                continue;
            };
            let report = match message.name.as_str() {
                "mesos.internal.PingSlaveMessage" => {
                    transport.send_message(&me, &message.from, &internal::PongSlaveMessage {});
                    None
                }
                "mesos.internal.SlaveRegisteredMessage" => {
                    internal::SlaveRegisteredMessage::decode(message.body.as_ref())
                        .ok()
                        .map(|m| Report::Registered(index, m.slave_id))
                }
                "mesos.internal.SlaveReregisteredMessage" => Some(Report::Reregistered(index)),
                "mesos.internal.FrameworkRegisteredMessage" => Some(Report::FrameworkRegistered),
                "mesos.internal.ResourceOffersMessage" => {
                    internal::ResourceOffersMessage::decode(message.body.as_ref())
                        .ok()
                        .map(|m| Report::Offers(m.offers.len()))
                }
                _ => None,
            };
            if let Some(report) = report {
                let _ = reports.send(report);
            }
        }
    });
}

fn leader_pid(info: &v0::MasterInfo) -> Upid {
    info.pid
        .as_deref()
        .and_then(|p| p.parse().ok())
        .expect("the leader's MasterInfo has a pid")
}

#[tokio::main]
async fn main() {
    let agents: usize = flag("agents", "1000").parse().expect("--agents=<number>");
    let session_timeout = flag("zk_session_timeout", "10secs");
    let Some(classpath) = zookeeper::classpath() else {
        eprintln!("ZooKeeper is not installed (apt-get install zookeeper)");
        std::process::exit(1);
    };
    let master_flags = [format!("--zk_session_timeout={session_timeout}")];
    let master_flags: Vec<&str> = master_flags.iter().map(String::as_str).collect();
    let mut cluster = HaCluster::start(&classpath, 2, 0, &master_flags).await;
    let url = ZkUrl::parse(&cluster.zk).expect("the cluster's zk URL");
    let detector = Detector::start(url, Duration::from_secs(10));
    let mut leaders = detector.subscribe();
    let first = loop {
        if let Some(info) = leaders.borrow_and_update().clone() {
            break info;
        }
        leaders.changed().await.expect("detector runs");
    };

    let transport = Transport::bind(&BindConfig::loopback(0))
        .await
        .expect("bind the agents' socket");
    let (reports, mut inbox) = mpsc::unbounded_channel();
    let pids: Vec<Upid> = (0..agents)
        .map(|i| {
            let id = format!("slave({})", i + 1);
            serve(&transport, id.clone(), i, reports.clone());
            transport.upid(&id)
        })
        .collect();
    serve(
        &transport,
        "scheduler(1)".into(),
        usize::MAX,
        reports.clone(),
    );
    let scheduler = transport.upid("scheduler(1)");

    // Every agent registers with the first leader.
    let master = leader_pid(&first);
    let mut ids: HashMap<usize, v0::SlaveId> = HashMap::new();
    while ids.len() < agents {
        for (i, pid) in pids.iter().enumerate() {
            if !ids.contains_key(&i) {
                let message = internal::RegisterSlaveMessage {
                    slave: slave_info(None),
                    version: Some("1.11.0".into()),
                    ..Default::default()
                };
                transport.send_message(pid, &master, &message);
            }
        }
        let until = tokio::time::Instant::now() + Duration::from_secs(2);
        while let Ok(Some(report)) = tokio::time::timeout_at(until, inbox.recv()).await {
            if let Report::Registered(i, id) = report {
                ids.insert(i, id);
            }
            if ids.len() == agents {
                break;
            }
        }
    }
    eprintln!("{agents} agents registered with {master}");
    // Let the registry of all agents be stored.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let leader = cluster.leader().await.expect("a leader");
    let killed = Instant::now();
    cluster.masters[leader].kill();
    let new = loop {
        leaders.changed().await.expect("detector runs");
        if let Some(info) = leaders.borrow_and_update().clone()
            && info.id != first.id
        {
            break info;
        }
    };
    let elected = killed.elapsed();
    let master = leader_pid(&new);

    let mut reregistered = vec![false; agents];
    let mut count = 0;
    let mut framework_registered = false;
    let mut first_offer: Option<(Duration, usize, usize)> = None;
    let mut last = Duration::ZERO;
    let deadline = Instant::now() + Duration::from_secs(120);
    while (count < agents || first_offer.is_none()) && Instant::now() < deadline {
        for (i, pid) in pids.iter().enumerate() {
            if !reregistered[i] {
                let message = internal::ReregisterSlaveMessage {
                    slave: slave_info(Some(ids[&i].clone())),
                    version: Some("1.11.0".into()),
                    ..Default::default()
                };
                transport.send_message(pid, &master, &message);
            }
        }
        if !framework_registered {
            let message = internal::RegisterFrameworkMessage {
                framework: v0::FrameworkInfo {
                    user: "bench".into(),
                    name: "failover_time".into(),
                    ..Default::default()
                },
            };
            transport.send_message(&scheduler, &master, &message);
        }
        let until = tokio::time::Instant::now() + Duration::from_millis(500);
        while let Ok(Some(report)) = tokio::time::timeout_at(until, inbox.recv()).await {
            match report {
                Report::Reregistered(i) if !reregistered[i] => {
                    reregistered[i] = true;
                    count += 1;
                    last = killed.elapsed();
                }
                Report::FrameworkRegistered => framework_registered = true,
                Report::Offers(offers) if first_offer.is_none() => {
                    first_offer = Some((killed.elapsed(), count, offers));
                }
                _ => {}
            }
        }
    }
    println!("agents: {agents}, --zk_session_timeout={session_timeout}");
    println!(
        "new leader in ZooKeeper: {:.3} s after the kill",
        elected.as_secs_f64()
    );
    match first_offer {
        Some((at, by_then, offers)) => println!(
            "first offers from the new leader: {:.3} s after the kill, on {offers} of {agents} agents ({:.1}%); \
             {by_then} agents had their SlaveReregisteredMessage by then",
            at.as_secs_f64(),
            100.0 * offers as f64 / agents as f64
        ),
        None => println!("no offer within 120 s"),
    }
    println!(
        "agents re-registered: {count} of {agents}, the last {:.3} s after the kill ({:.3} s after the new leader was seen)",
        last.as_secs_f64(),
        (last.saturating_sub(elected)).as_secs_f64()
    );
}
