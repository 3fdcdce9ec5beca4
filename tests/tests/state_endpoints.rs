//! The JSON endpoints operators, the WebUI and clients read, on a real
//! master and agent: the keys Mesos 1.11 has and their values.

use mesos_e2e::{Cluster, http};
use serde_json::Value;

async fn get_json(addr: std::net::SocketAddr, path: &str) -> Value {
    let response = http::get(addr, path)
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    assert_eq!(response.status, 200, "GET {path}: {}", response.text());
    assert_eq!(
        response.header("content-type"),
        Some("application/json"),
        "GET {path}"
    );
    response.json()
}

#[tokio::test]
async fn master_state_endpoints() {
    let cluster = Cluster::start(1).await;
    let master = cluster.master.addr;
    let pid = format!("master@{master}");
    for path in [
        "/master/state",
        "/state",
        "/master/state.json",
        "/state.json",
    ] {
        let state = get_json(master, path).await;
        for key in [
            "version",
            "id",
            "pid",
            "hostname",
            "leader",
            "activated_slaves",
            "frameworks",
            "completed_frameworks",
            "slaves",
            "flags",
            "start_time",
        ] {
            assert!(state.get(key).is_some(), "{path} has no {key:?}: {state:#}");
        }
        assert_eq!(state["version"], "1.11.0", "{path}");
        assert_eq!(state["pid"], pid.as_str(), "{path}");
        assert_eq!(state["leader"], pid.as_str(), "{path}");
        assert_eq!(state["hostname"], "127.0.0.1", "{path}");
        assert_eq!(state["activated_slaves"], 1, "{path}");
        assert_eq!(state["frameworks"], serde_json::json!([]), "{path}");
        let slaves = state["slaves"].as_array().expect("slaves is a list");
        assert_eq!(slaves.len(), 1, "{path}: {slaves:#?}");
        let agent = &slaves[0];
        assert_eq!(
            agent["pid"],
            format!("slave(1)@{}", cluster.agents[0].addr).as_str(),
            "{path}"
        );
        assert_eq!(agent["resources"]["cpus"], 2.0, "{path}: {agent:#}");
        assert_eq!(agent["resources"]["mem"], 1024.0, "{path}: {agent:#}");
        assert_eq!(agent["resources"]["ports"], "[31000-32000]", "{path}");
        assert_eq!(agent["active"], true, "{path}");
    }

    for path in ["/version", "/master/version"] {
        assert_eq!(get_json(master, path).await["version"], "1.11.0", "{path}");
    }
    for path in ["/flags", "/master/flags"] {
        let flags = get_json(master, path).await;
        let flags = &flags["flags"];
        assert_eq!(flags["port"], master.port().to_string().as_str(), "{path}");
        assert_eq!(flags["registry"], "in_memory", "{path}");
    }
    for path in ["/health", "/master/health"] {
        let health = http::get(master, path).await.unwrap();
        assert_eq!(health.status, 200, "{path}");
    }
    let missing = http::get(master, "/master/no-such-endpoint").await.unwrap();
    assert_eq!(missing.status, 404);
}

#[tokio::test]
async fn agent_state_endpoints() {
    let cluster = Cluster::start(1).await;
    let agent = cluster.agents[0].addr;
    let master_state = cluster.master_state().await;
    let agent_id = master_state["slaves"][0]["id"].clone();
    assert!(agent_id.is_string(), "{master_state:#}");

    let output = cluster.mesos_execute(&[
        "--name=seen-by-agent",
        "--command=true",
        "--resources=cpus:0.1;mem:32",
    ]);
    assert!(output.status.success(), "{output:?}");

    for path in [
        "/state",
        "/slave(1)/state",
        "/slave%281%29/state",
        "/state.json",
    ] {
        let state = get_json(agent, path).await;
        for key in [
            "id",
            "pid",
            "hostname",
            "resources",
            "frameworks",
            "version",
        ] {
            assert!(state.get(key).is_some(), "{path} has no {key:?}: {state:#}");
        }
        assert_eq!(state["id"], agent_id, "{path}");
        assert_eq!(state["pid"], format!("slave(1)@{agent}").as_str(), "{path}");
        assert_eq!(state["version"], "1.11.0", "{path}");
        assert_eq!(state["resources"]["cpus"], 2.0, "{path}: {state:#}");
        assert_eq!(state["resources"]["mem"], 1024.0, "{path}: {state:#}");
        assert_eq!(state["resources"]["disk"], 1000.0, "{path}: {state:#}");
        // The framework that ran is remembered, live or completed.
        let known = ["frameworks", "completed_frameworks"]
            .iter()
            .flat_map(|key| {
                state[*key]
                    .as_array()
                    .unwrap_or_else(|| panic!("{path}: {key}"))
            })
            .any(|f| f["name"] == "seen-by-agent");
        assert!(
            known,
            "{path} does not know the framework that ran: {state:#}"
        );
    }

    for path in ["/version", "/slave(1)/version"] {
        assert_eq!(get_json(agent, path).await["version"], "1.11.0", "{path}");
    }
    for path in ["/flags", "/slave(1)/flags"] {
        let flags = get_json(agent, path).await;
        let flags = &flags["flags"];
        assert_eq!(flags["port"], agent.port().to_string().as_str(), "{path}");
        assert_eq!(
            flags["work_dir"],
            cluster.agents[0]
                .work_dir
                .as_ref()
                .unwrap()
                .display()
                .to_string()
                .as_str(),
            "{path}"
        );
    }
    for path in ["/health", "/slave(1)/health"] {
        let health = http::get(agent, path).await.unwrap();
        assert_eq!(health.status, 200, "{path}");
    }
}
