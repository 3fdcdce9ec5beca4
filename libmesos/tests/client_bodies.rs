//! Calls exactly as pymesos 0.3.15 sends them (v1 scheduler and executor
//! APIs, JSON) parse into our types with the values the client meant, and
//! print back to JSON that is a fixed point (printing only adds the
//! explicit defaults Mesos prints).

use mesos::wire::json;
use mesos::wire::mesos::v1::{executor, scheduler};

fn bodies() -> Vec<(String, serde_json::Value)> {
    include_str!("data/pymesos-calls.jsonl")
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            (v["api"].as_str().unwrap().to_string(), v["body"].clone())
        })
        .collect()
}

#[test]
fn pymesos_calls_parse_and_round_trip() {
    let mut seen = 0;
    for (api, body) in bodies() {
        if api == "scheduler" {
            let call: scheduler::Call = json::from_json(&body).unwrap();
            let again: scheduler::Call = json::from_json(&json::to_json(&call)).unwrap();
            assert_eq!(json::to_json(&call), json::to_json(&again));
        } else {
            let call: executor::Call = json::from_json(&body).unwrap();
            let again: executor::Call = json::from_json(&json::to_json(&call)).unwrap();
            assert_eq!(json::to_json(&call), json::to_json(&again));
        }
        seen += 1;
    }
    assert_eq!(seen, 6);
}

#[test]
fn pymesos_values_arrive_as_sent() {
    let all = bodies();
    let subscribe: scheduler::Call = json::from_json(&all[0].1).unwrap();
    let info = subscribe.subscribe.unwrap().framework_info;
    assert_eq!(info.name, "pymesos-acceptance");
    assert_eq!(info.failover_timeout, Some(0.0));
    assert_eq!(info.capabilities.len(), 2);

    let accept: scheduler::Call = json::from_json(&all[1].1).unwrap();
    let accept = accept.accept.unwrap();
    let launch = accept.operations[0].launch.as_ref().unwrap();
    assert_eq!(launch.task_infos.len(), 3);
    assert_eq!(
        launch.task_infos[0].resources[1]
            .scalar
            .as_ref()
            .unwrap()
            .value,
        32.0
    );
    assert_eq!(
        launch.task_infos[0].command.as_ref().unwrap().shell,
        Some(true)
    );

    let ack: scheduler::Call = json::from_json(&all[2].1).unwrap();
    assert_eq!(ack.acknowledge.unwrap().uuid.len(), 16);

    let update: executor::Call = json::from_json(&all[4].1).unwrap();
    let status = update.update.unwrap().status;
    assert_eq!(status.timestamp, Some(1795498121.0));
    assert_eq!(
        status.source,
        Some(mesos::wire::mesos::v1::task_status::Source::Executor as i32)
    );
}
