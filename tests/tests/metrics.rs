//! `/metrics/snapshot` and `/metrics` on a real master and agent: the
//! Mesos keys exist and move when agents, frameworks and tasks come and
//! go.

use mesos_e2e::{Cluster, http};
use serde_json::Value;

async fn snapshot(addr: std::net::SocketAddr) -> Value {
    let response = http::get(addr, "/metrics/snapshot")
        .await
        .expect("GET /metrics/snapshot");
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("content-type"), Some("application/json"));
    response.json()
}

fn value(snapshot: &Value, key: &str) -> f64 {
    snapshot[key]
        .as_f64()
        .unwrap_or_else(|| panic!("no {key:?} in {snapshot:#}"))
}

#[tokio::test]
async fn master_metrics_move_with_the_cluster() {
    let cluster = Cluster::start(1).await;
    let master = cluster.master.addr;

    let before = snapshot(master).await;
    for key in [
        "master/elected",
        "master/uptime_secs",
        "master/slaves_active",
        "master/frameworks_active",
        "master/tasks_running",
        "master/tasks_finished",
        "master/cpus_total",
        "master/cpus_used",
        "master/mem_total",
        "master/messages_register_slave",
        "master/dropped_messages",
        "allocator/mesos/allocation_runs",
        "allocator/mesos/allocation_run_ms",
        "allocator/mesos/allocation_run_ms/p99",
        "system/cpus_total",
        "system/mem_total_bytes",
        "system/load_1min",
    ] {
        value(&before, key);
    }
    assert_eq!(value(&before, "master/elected"), 1.0);
    assert_eq!(value(&before, "master/slaves_active"), 1.0);
    assert_eq!(value(&before, "master/slave_registrations"), 1.0);
    assert!(value(&before, "master/cpus_total") > 0.0);
    assert_eq!(value(&before, "master/tasks_finished"), 0.0);

    let output = cluster.mesos_execute(&[
        "--name=metrics",
        "--command=true",
        "--resources=cpus:0.1;mem:32",
    ]);
    assert!(output.status.success(), "mesos-execute: {output:?}");

    let after = snapshot(master).await;
    let agent = snapshot(cluster.agents[0].addr).await;
    assert_eq!(value(&agent, "slave/registered"), 1.0);
    assert_eq!(value(&agent, "slave/tasks_finished"), 1.0);
    assert_eq!(value(&agent, "slave/tasks_running"), 0.0);
    assert!(value(&agent, "slave/valid_status_updates") >= 2.0);
    // The executor exits on its own shortly after its task's last update.
    let mut terminated = value(&agent, "slave/executors_terminated");
    for _ in 0..100 {
        if terminated >= 1.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        terminated = value(
            &snapshot(cluster.agents[0].addr).await,
            "slave/executors_terminated",
        );
    }
    assert_eq!(terminated, 1.0);
    assert!(value(&agent, "slave/cpus_total") > 0.0);
    assert!(value(&agent, "slave/uptime_secs") > 0.0);
    assert_eq!(value(&agent, "slave/container_launch_errors"), 0.0);
    assert!(
        agent.get("master/elected").is_none(),
        "a lone agent publishes no master keys"
    );
    assert_eq!(value(&after, "master/tasks_finished"), 1.0);
    assert_eq!(value(&after, "master/messages_register_framework"), 1.0);
    assert_eq!(value(&after, "master/messages_launch_tasks"), 1.0);
    assert!(value(&after, "master/messages_status_update") >= 2.0);
    assert!(value(&after, "master/valid_status_updates") >= 2.0);
    assert!(
        value(&after, "master/uptime_secs") > value(&before, "master/uptime_secs"),
        "uptime moves"
    );

    // JSONP, as the WebUI reads it.
    let response = http::get(master, "/metrics/snapshot?jsonp=cb")
        .await
        .expect("GET jsonp");
    assert_eq!(response.header("content-type"), Some("text/javascript"));
    assert!(response.text().starts_with("cb({"), "{}", response.text());

    // A bad timeout is refused.
    let response = http::get(master, "/metrics/snapshot?timeout=soon")
        .await
        .expect("GET bad timeout");
    assert_eq!(response.status, 400, "{}", response.text());

    // The same figures for Prometheus.
    let response = http::get(master, "/metrics").await.expect("GET /metrics");
    assert_eq!(response.status, 200);
    let text = response.text();
    assert!(text.contains("\nmaster_tasks_finished 1\n"), "{text}");
    assert!(text.contains("# TYPE master_elected gauge\nmaster_elected 1\n"));
}

#[tokio::test]
async fn registrar_containerizer_and_system_metrics() {
    let cluster = Cluster::start(1).await;
    let master = cluster.master.addr;
    let agent_addr = cluster.agents[0].addr;

    let output = cluster.mesos_execute(&[
        "--name=registrar-metrics",
        "--command=true",
        "--resources=cpus:0.1;mem:32",
    ]);
    assert!(output.status.success(), "mesos-execute: {output:?}");

    let snapshot_master = snapshot(master).await;
    // The registry was read once, at recovery, and written at least when
    // the master took over and when the agent was admitted.
    assert_eq!(
        value(&snapshot_master, "registrar/state_fetch_ms/count"),
        1.0
    );
    assert!(value(&snapshot_master, "registrar/state_store_ms/count") >= 2.0);
    for key in [
        "registrar/state_fetch_ms",
        "registrar/state_store_ms",
        "registrar/state_store_ms/p50",
        "registrar/state_store_ms/p99",
        "registrar/state_store_ms/max",
    ] {
        assert!(value(&snapshot_master, key) >= 0.0, "{key}");
    }
    assert_eq!(value(&snapshot_master, "registrar/queued_operations"), 0.0);
    // The registry holds the agent (its id, hostname, resources).
    assert!(value(&snapshot_master, "registrar/registry_size_bytes") > 50.0);

    let agent = snapshot(agent_addr).await;
    assert_eq!(
        value(&agent, "containerizer/fetcher/task_fetches_succeeded"),
        1.0
    );
    assert_eq!(
        value(&agent, "containerizer/fetcher/task_fetches_failed"),
        0.0
    );
    assert_eq!(
        value(&agent, "containerizer/fetcher/cache_size_total_bytes"),
        2.0 * 1024.0 * 1024.0 * 1024.0,
        "--fetcher_cache_size's default"
    );
    assert_eq!(
        value(&agent, "containerizer/fetcher/cache_size_used_bytes"),
        0.0
    );
    assert_eq!(
        value(&agent, "containerizer/mesos/container_destroy_errors"),
        0.0
    );

    // libprocess's system keys, from /proc, on both daemons.
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let total_kb: f64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    for snapshot in [&snapshot_master, &agent] {
        assert!(value(snapshot, "system/cpus_total") >= 1.0);
        assert_eq!(value(snapshot, "system/mem_total_bytes"), total_kb * 1024.0);
        let free = value(snapshot, "system/mem_free_bytes");
        assert!(free > 0.0 && free <= total_kb * 1024.0, "{free}");
        for key in ["system/load_1min", "system/load_5min", "system/load_15min"] {
            assert!(value(snapshot, key) >= 0.0, "{key}");
        }
    }
}
