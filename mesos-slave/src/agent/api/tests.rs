//! `/api/v1` request checks and answers, without a runtime.
use std::time::{Duration, Instant};

use mesos::upid::Upid;
use mesos::wire::mesos::internal as msg;
use prost::Message;

use super::*;
use crate::config::AgentConfig;

fn json_headers() -> Headers<'static> {
    Headers {
        content_type: Some("application/json"),
        accept: Some("application/json"),
        ..Headers::default()
    }
}

fn refused(method: Method, headers: Headers<'_>, body: &[u8]) -> Refusal {
    parse(&method, headers, body).expect_err("refused")
}

#[test]
fn accepts_json_and_protobuf_calls() {
    let parsed = parse(&Method::POST, json_headers(), br#"{"type":"GET_HEALTH"}"#).unwrap();
    assert_eq!(parsed.call.r#type, Some(CallType::GetHealth as i32));
    assert_eq!(parsed.accept, Format::Json);
    let call = v1a::Call {
        r#type: Some(CallType::GetState as i32),
        ..Default::default()
    };
    let headers = Headers {
        content_type: Some("application/x-protobuf"),
        accept: Some("application/x-protobuf"),
        ..Headers::default()
    };
    let parsed = parse(&Method::POST, headers, &call.encode_to_vec()).unwrap();
    assert_eq!(parsed.call, call);
    assert_eq!(parsed.accept, Format::Protobuf);
}

#[test]
fn refuses_as_mesos_does() {
    let body = br#"{"type":"GET_HEALTH"}"#;
    let (code, message) = refused(Method::GET, json_headers(), body);
    assert_eq!(code, StatusCode::METHOD_NOT_ALLOWED);
    assert!(message.contains("'GET'"), "{message}");

    let no_type = Headers {
        content_type: None,
        ..json_headers()
    };
    let (code, message) = refused(Method::POST, no_type, body);
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert_eq!(message, "Expecting 'Content-Type' to be present");

    let text = Headers {
        content_type: Some("text/plain"),
        ..json_headers()
    };
    assert_eq!(
        refused(Method::POST, text, body).0,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );

    let html = Headers {
        accept: Some("text/html"),
        ..json_headers()
    };
    assert_eq!(
        refused(Method::POST, html, body).0,
        StatusCode::NOT_ACCEPTABLE
    );

    let message_accept = Headers {
        message_accept: Some("application/json"),
        ..json_headers()
    };
    assert_eq!(
        refused(Method::POST, message_accept, body).0,
        StatusCode::NOT_ACCEPTABLE
    );

    let (code, message) = refused(Method::POST, json_headers(), b"{not json");
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(
        message.starts_with("Failed to parse body into JSON"),
        "{message}"
    );

    let (code, message) = refused(Method::POST, json_headers(), b"{}");
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert_eq!(
        message,
        "Failed to validate agent::Call: Expecting 'type' to be present"
    );

    let (code, message) = refused(Method::POST, json_headers(), br#"{"type":"READ_FILE"}"#);
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert_eq!(
        message,
        "Failed to validate agent::Call: Expecting 'read_file' to be present"
    );

    let (code, _) = refused(
        Method::POST,
        Headers {
            content_type: Some("application/x-protobuf"),
            ..json_headers()
        },
        b"\xff\xff\xff",
    );
    assert_eq!(code, StatusCode::BAD_REQUEST);
}

#[test]
fn streaming_requests_only_for_attach() {
    let record = mesos::wire::recordio::encode(br#"{"type":"GET_HEALTH"}"#);
    let streaming = Headers {
        content_type: Some("application/recordio"),
        message_content_type: Some("application/json"),
        ..json_headers()
    };
    let (code, message) = refused(Method::POST, streaming, &record);
    assert_eq!(code, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        message,
        "Streaming 'Content-Type' application/recordio is not supported for GET_HEALTH call"
    );
    let no_message_type = Headers {
        message_content_type: None,
        ..streaming
    };
    assert_eq!(
        refused(Method::POST, no_message_type, &record).0,
        StatusCode::BAD_REQUEST
    );
    let stray = Headers {
        message_content_type: Some("application/json"),
        ..json_headers()
    };
    assert_eq!(
        refused(Method::POST, stray, br#"{"type":"GET_HEALTH"}"#).0,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
}

#[test]
fn unimplemented_calls_name_themselves() {
    let body = br#"{"type":"KILL_CONTAINER","kill_container":{"container_id":{"value":"c"}}}"#;
    let parsed = parse(&Method::POST, json_headers(), body).unwrap();
    let core = AgentCore::new(config(), agent_pid(), 0.0);
    assert!(answer(&core, &parsed.call, &ContainerUsage::new(), 0.0).is_none());
    let (code, message) = not_implemented(&parsed.call);
    assert_eq!(code, StatusCode::NOT_IMPLEMENTED);
    assert!(message.contains("KILL_CONTAINER"), "{message}");
}

fn config() -> AgentConfig {
    let master: Upid = "master@127.0.0.1:5050".parse().unwrap();
    let resources = mesos::resources::Resources::parse("cpus:2;mem:1024")
        .unwrap()
        .to_wire();
    let mut config = AgentConfig::new(master, "/var/lib/mesos".into(), resources);
    config.launcher_dir = "/libexec".into();
    config
        .flags
        .insert("work_dir".into(), "/var/lib/mesos".into());
    config
}

fn agent_pid() -> Upid {
    "slave(1)@127.0.0.1:5051".parse().unwrap()
}

/// A registered agent (id `S1`) running task `t1` of framework `F1`,
/// whose executor has not subscribed yet.
fn agent_with_task() -> AgentCore {
    let master: Upid = "master@127.0.0.1:5050".parse().unwrap();
    let t0 = Instant::now();
    let mut core = AgentCore::new(config(), agent_pid(), 0.0);
    core.start(t0);
    core.tick(t0 + Duration::from_secs(1));
    let registered = msg::SlaveRegisteredMessage {
        slave_id: v0::SlaveId { value: "S1".into() },
        connection: None,
    };
    core.message(
        &master,
        "mesos.internal.SlaveRegisteredMessage",
        &registered.encode_to_vec(),
        t0,
    );
    let run = msg::RunTaskMessage {
        framework: v0::FrameworkInfo {
            user: "u".into(),
            name: "f".into(),
            id: Some(v0::FrameworkId { value: "F1".into() }),
            ..Default::default()
        },
        task: v0::TaskInfo {
            name: "t1".into(),
            task_id: v0::TaskId { value: "t1".into() },
            slave_id: v0::SlaveId { value: "S1".into() },
            command: Some(v0::CommandInfo {
                value: Some("true".into()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    core.message(
        &master,
        "mesos.internal.RunTaskMessage",
        &run.encode_to_vec(),
        t0,
    );
    core.drain();
    core
}

fn ask(core: &AgentCore, kind: CallType) -> v1a::Response {
    let call = v1a::Call {
        r#type: Some(kind as i32),
        ..Default::default()
    };
    answer(core, &call, &ContainerUsage::new(), 1.0).expect("answered")
}

#[test]
fn state_calls_show_the_agents_books() {
    let core = agent_with_task();
    let tasks = ask(&core, CallType::GetTasks).get_tasks.unwrap();
    assert_eq!(tasks.queued_tasks.len(), 1);
    assert_eq!(tasks.queued_tasks[0].task_id.value, "t1");
    assert_eq!(
        tasks.queued_tasks[0].state,
        v1::TaskState::TaskStaging as i32
    );
    assert!(tasks.launched_tasks.is_empty() && tasks.completed_tasks.is_empty());

    let frameworks = ask(&core, CallType::GetFrameworks).get_frameworks.unwrap();
    assert_eq!(frameworks.frameworks.len(), 1);
    assert_eq!(
        frameworks.frameworks[0]
            .framework_info
            .id
            .as_ref()
            .unwrap()
            .value,
        "F1"
    );
    let executors = ask(&core, CallType::GetExecutors).get_executors.unwrap();
    assert_eq!(executors.executors.len(), 1);
    assert_eq!(executors.executors[0].executor_info.executor_id.value, "t1");

    let state = ask(&core, CallType::GetState).get_state.unwrap();
    assert_eq!(state.get_tasks.unwrap(), tasks);
    assert_eq!(state.get_frameworks.unwrap(), frameworks);
    assert_eq!(state.get_executors.unwrap(), executors);

    let agent = ask(&core, CallType::GetAgent).get_agent.unwrap();
    let info = agent.agent_info.unwrap();
    assert_eq!(info.id.unwrap().value, "S1");
    assert_eq!(info.port, Some(5051));

    // Not measured: the container is listed without statistics.
    let containers = ask(&core, CallType::GetContainers).get_containers.unwrap();
    assert_eq!(containers.containers.len(), 1);
    assert_eq!(
        containers.containers[0].executor_id.as_ref().unwrap().value,
        "t1"
    );
    assert!(containers.containers[0].resource_statistics.is_none());

    let flags = ask(&core, CallType::GetFlags).get_flags.unwrap();
    assert!(
        flags
            .flags
            .iter()
            .any(|f| f.name == "work_dir" && f.value.as_deref() == Some("/var/lib/mesos"))
    );
    assert_eq!(
        ask(&core, CallType::GetVersion)
            .get_version
            .unwrap()
            .version_info
            .version,
        "1.11.0"
    );
    assert!(ask(&core, CallType::GetHealth).get_health.unwrap().healthy);
    assert!(
        ask(&core, CallType::GetResourceProviders)
            .get_resource_providers
            .unwrap()
            .resource_providers
            .is_empty()
    );
}

#[test]
fn metrics_and_timeout() {
    let values = [("slave/tasks_running".to_string(), 2.0)]
        .into_iter()
        .collect();
    let answer = metrics(&values);
    assert_eq!(answer.r#type, Some(ResponseType::GetMetrics as i32));
    let list = answer.get_metrics.unwrap().metrics;
    assert_eq!(list[0].name, "slave/tasks_running");
    assert_eq!(list[0].value, Some(2.0));
    let call: v1a::Call = mesos::wire::json::from_json_str(
        r#"{"type":"GET_METRICS","get_metrics":{"timeout":{"nanoseconds":5000000000}}}"#,
    )
    .unwrap();
    assert_eq!(metrics_timeout(&call), Some(Duration::from_secs(5)));
}
