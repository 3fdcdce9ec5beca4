//! Bad input against a running cluster: malformed scheduler calls, calls
//! out of turn, launches on offers that are gone or someone else's,
//! garbage libprocess messages, malformed calls to the agent's executor
//! API. Each is refused the way Mesos refuses it, and afterwards the
//! cluster is healthy and runs a task as before.

use mesos::wire::mesos::internal::RegisterSlaveMessage;
use mesos::wire::mesos::v1::framework_info::capability::Type as Capability;
use mesos::wire::mesos::v1::scheduler::{Call, call, event};
use mesos::wire::mesos::v1::{TaskState, task_status};
use mesos::wire::mesos::{self as v0};
use mesos_e2e::framework::{Framework, event_type, subscribe_call, task};
use mesos_e2e::{Cluster, free_port, http};
use prost::Message as _;

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

/// The master still serves, still has its agents, and still runs a task.
async fn assert_master_unharmed(cluster: &Cluster) {
    let health = http::get(cluster.master.addr, "/health").await.unwrap();
    assert_eq!(health.status, 200, "/health: {}", health.text());
    let state = cluster.master_state().await;
    assert_eq!(
        state["activated_slaves"],
        cluster.agents.len(),
        "agents lost: {state:#}"
    );
    let output = cluster.mesos_execute(&[
        "--name=after-bad-input",
        "--command=echo still-fine",
        "--resources=cpus:0.1;mem:32",
    ]);
    assert!(
        output.status.success(),
        "mesos-execute after bad input failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `POST /api/v1/scheduler` with `headers` and `body`; checks the status
/// and that the explanation contains `says`.
async fn expect_refusal(
    cluster: &Cluster,
    case: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
    status: u16,
    says: &str,
) {
    let response = http::post(cluster.master.addr, "/api/v1/scheduler", headers, body)
        .await
        .unwrap_or_else(|e| panic!("{case}: {e}"));
    assert_eq!(
        response.status.as_u16(),
        status,
        "{case}: answered {} {}",
        response.status,
        response.text()
    );
    assert!(
        response.text().contains(says),
        "{case}: expected the answer to mention {says:?}, got {:?}",
        response.text()
    );
}

fn revive(framework_id: &str) -> Vec<u8> {
    Call {
        framework_id: Some(mesos::wire::mesos::v1::FrameworkId {
            value: framework_id.to_string(),
        }),
        r#type: Some(call::Type::Revive as i32),
        revive: Some(call::Revive::default()),
        ..Default::default()
    }
    .encode_to_vec()
}

#[tokio::test]
async fn malformed_scheduler_calls_are_refused() {
    let cluster = Cluster::start(1).await;
    let subscribe = subscribe_call("bad-input", &[]).encode_to_vec();
    let protobuf = [("Content-Type", PROTOBUF), ("Accept", PROTOBUF)];

    expect_refusal(
        &cluster,
        "garbage protobuf",
        &protobuf,
        b"\xff\xff\xff\xff not a protobuf".to_vec(),
        400,
        "Failed to parse",
    )
    .await;
    expect_refusal(
        &cluster,
        "truncated protobuf",
        &protobuf,
        subscribe[..subscribe.len() / 2].to_vec(),
        400,
        "",
    )
    .await;
    expect_refusal(
        &cluster,
        "garbage JSON",
        &[("Content-Type", JSON), ("Accept", JSON)],
        b"{\"type\": \"SUBSCRIBE\", \"subscribe\": {".to_vec(),
        400,
        "Failed to parse",
    )
    .await;
    expect_refusal(
        &cluster,
        "SUBSCRIBE without its body",
        &[("Content-Type", JSON), ("Accept", JSON)],
        b"{\"type\": \"SUBSCRIBE\"}".to_vec(),
        400,
        "subscribe",
    )
    .await;
    expect_refusal(
        &cluster,
        "wrong Content-Type",
        &[("Content-Type", "text/plain"), ("Accept", PROTOBUF)],
        subscribe.clone(),
        415,
        "Content-Type",
    )
    .await;
    expect_refusal(
        &cluster,
        "missing Content-Type",
        &[("Accept", PROTOBUF)],
        subscribe.clone(),
        400,
        "Content-Type",
    )
    .await;
    expect_refusal(
        &cluster,
        "SUBSCRIBE with a Mesos-Stream-Id",
        &[
            ("Content-Type", PROTOBUF),
            ("Accept", PROTOBUF),
            ("Mesos-Stream-Id", "b9e3a5e2-0000-4000-8000-000000000000"),
        ],
        subscribe.clone(),
        400,
        "Mesos-Stream-Id",
    )
    .await;
    expect_refusal(
        &cluster,
        "SUBSCRIBE accepting neither JSON nor protobuf",
        &[("Content-Type", PROTOBUF), ("Accept", "text/html")],
        subscribe.clone(),
        406,
        "Accept",
    )
    .await;

    let get = http::get(cluster.master.addr, "/api/v1/scheduler")
        .await
        .unwrap();
    assert_eq!(get.status, 405, "GET /api/v1/scheduler: {}", get.text());

    // Calls of a subscribed framework that do not come from its stream.
    let framework = Framework::subscribe(cluster.master.addr, "bad-input", &[]).await;
    let id = framework.id.value.clone();
    expect_refusal(
        &cluster,
        "REVIVE without Mesos-Stream-Id",
        &[("Content-Type", PROTOBUF)],
        revive(&id),
        400,
        "Mesos-Stream-Id",
    )
    .await;
    expect_refusal(
        &cluster,
        "REVIVE with another stream's id",
        &[
            ("Content-Type", PROTOBUF),
            ("Mesos-Stream-Id", "b9e3a5e2-0000-4000-8000-000000000000"),
        ],
        revive(&id),
        400,
        "didn't match",
    )
    .await;
    expect_refusal(
        &cluster,
        "REVIVE for an unknown framework",
        &[
            ("Content-Type", PROTOBUF),
            ("Mesos-Stream-Id", framework.scheduler.stream_id()),
        ],
        revive("no-such-framework-0000"),
        400,
        "Framework cannot be found",
    )
    .await;
    let mut no_id = Call::decode(revive(&id).as_slice()).unwrap();
    no_id.framework_id = None;
    expect_refusal(
        &cluster,
        "REVIVE without framework_id",
        &[
            ("Content-Type", PROTOBUF),
            ("Mesos-Stream-Id", framework.scheduler.stream_id()),
        ],
        no_id.encode_to_vec(),
        400,
        "framework_id",
    )
    .await;
    // The framework itself is unaffected: its own calls still go through.
    framework
        .call(Call {
            r#type: Some(call::Type::Revive as i32),
            revive: Some(call::Revive::default()),
            ..Default::default()
        })
        .await;

    // Not HTTP at all, and a body shorter than its Content-Length.
    let answer = http::raw(cluster.master.addr, b"\x16\x03\x01\x02\x00garbage\r\n\r\n")
        .await
        .unwrap();
    assert!(
        answer.is_empty() || answer.starts_with(b"HTTP/1.1 400"),
        "non-HTTP bytes answered {:?}",
        String::from_utf8_lossy(&answer)
    );
    let short = format!(
        "POST /api/v1/scheduler HTTP/1.1\r\nHost: {}\r\nContent-Type: {PROTOBUF}\r\n\
         Accept: {PROTOBUF}\r\nContent-Length: 1000\r\n\r\n",
        cluster.master.addr
    );
    let mut short = short.into_bytes();
    short.extend_from_slice(&subscribe[..10]);
    let answer = http::raw(cluster.master.addr, &short).await.unwrap();
    assert!(
        answer.is_empty() || answer.starts_with(b"HTTP/1.1 400"),
        "a truncated body answered {:?}",
        String::from_utf8_lossy(&answer)
    );

    drop(framework);
    assert_master_unharmed(&cluster).await;
}

/// Checks `status` is the master's refusal of a launch on invalid offers.
fn assert_invalid_offers(status: &mesos::wire::mesos::v1::TaskStatus, state: TaskState) {
    assert_eq!(status.state, state as i32, "{status:?}");
    assert_eq!(
        status.reason,
        Some(task_status::Reason::InvalidOffers as i32),
        "{status:?}"
    );
    assert_eq!(
        status.source,
        Some(task_status::Source::Master as i32),
        "{status:?}"
    );
}

#[tokio::test]
async fn launch_on_a_rescinded_offer_is_lost() {
    let cluster = Cluster::start_with(1, &["--offer_timeout=1secs"]).await;
    let mut framework = Framework::subscribe(cluster.master.addr, "rescinded", &[]).await;
    let offer = framework.offers().await.remove(0);
    let rescinded = offer.id.clone();
    framework
        .next("RESCIND of the offer", |e| {
            e.rescind.as_ref().is_some_and(|r| r.offer_id == rescinded)
        })
        .await;
    framework
        .launch(
            &offer.id,
            vec![task("on-rescinded", &offer.agent_id, "true")],
        )
        .await;
    let status = framework.update_of("on-rescinded").await;
    assert_invalid_offers(&status, TaskState::TaskLost);

    let state = cluster.master_state().await;
    let tasks = &state["frameworks"][0]["tasks"];
    assert_eq!(tasks.as_array().map(Vec::len), Some(0), "{state:#}");
    drop(framework);
    assert_master_unharmed(&cluster).await;
}

#[tokio::test]
async fn launch_on_a_declined_offer_is_dropped_for_a_partition_aware_framework() {
    let cluster = Cluster::start(1).await;
    let mut framework = Framework::subscribe(
        cluster.master.addr,
        "declined",
        &[Capability::PartitionAware],
    )
    .await;
    let offer = framework.offers().await.remove(0);
    framework.decline(&offer.id).await;
    framework
        .launch(
            &offer.id,
            vec![task("on-declined", &offer.agent_id, "true")],
        )
        .await;
    let status = framework.update_of("on-declined").await;
    assert_invalid_offers(&status, TaskState::TaskDropped);
    drop(framework);
    assert_master_unharmed(&cluster).await;
}

#[tokio::test]
async fn a_foreign_offer_is_refused_and_its_owner_undisturbed() {
    let cluster = Cluster::start(1).await;
    let mut owner = Framework::subscribe(cluster.master.addr, "owner", &[]).await;
    let offer = owner.offers().await.remove(0);
    // The one agent is offered to the owner in full: the thief gets no
    // offer of its own and tries the owner's.
    let mut thief = Framework::subscribe(cluster.master.addr, "thief", &[]).await;
    thief
        .launch(&offer.id, vec![task("stolen", &offer.agent_id, "true")])
        .await;
    let status = thief.update_of("stolen").await;
    assert_invalid_offers(&status, TaskState::TaskLost);

    owner
        .launch(
            &offer.id,
            vec![task("owned", &offer.agent_id, "echo owned")],
        )
        .await;
    let offer_id = offer.id.clone();
    let mut states = Vec::new();
    loop {
        let event = owner
            .next("UPDATE of owned", |e| {
                assert!(
                    e.rescind.as_ref().is_none_or(|r| r.offer_id != offer_id),
                    "the owner's offer was rescinded because of the thief"
                );
                e.update.is_some()
            })
            .await;
        assert_eq!(event_type(&event), event::Type::Update);
        let status = event.update.unwrap().status;
        assert_eq!(status.task_id.value, "owned", "{status:?}");
        if let (Some(uuid), Some(agent)) = (&status.uuid, &status.agent_id) {
            owner
                .call(Call {
                    r#type: Some(call::Type::Acknowledge as i32),
                    acknowledge: Some(call::Acknowledge {
                        agent_id: agent.clone(),
                        task_id: status.task_id.clone(),
                        uuid: uuid.clone(),
                    }),
                    ..Default::default()
                })
                .await;
        }
        let state = TaskState::try_from(status.state).unwrap();
        states.push(state);
        if state != TaskState::TaskStarting && state != TaskState::TaskRunning {
            break;
        }
    }
    assert_eq!(
        states.last(),
        Some(&TaskState::TaskFinished),
        "the owner's task: {states:?}"
    );
    drop((owner, thief));
    assert_master_unharmed(&cluster).await;
}

#[tokio::test]
async fn garbage_libprocess_messages_leave_the_master_alone() {
    let cluster = Cluster::start(1).await;
    let before = cluster.master_state().await;
    // A sender nobody listens on: replies, if any, go nowhere.
    let from = format!("slave(1)@127.0.0.1:{}", free_port());
    let register = RegisterSlaveMessage {
        slave: v0::SlaveInfo {
            hostname: "127.0.0.1".into(),
            ..Default::default()
        },
        version: Some("1.11.0".into()),
        ..Default::default()
    }
    .encode_to_vec();
    let bodies: [(&str, Vec<u8>); 3] = [
        (
            "garbage",
            b"\xff\xfe\xfd this is not a protobuf \x00\x01".to_vec(),
        ),
        ("truncated", register[..register.len() - 3].to_vec()),
        ("empty", Vec::new()),
    ];
    let names = [
        "mesos.internal.RegisterSlaveMessage",
        "mesos.internal.ReregisterSlaveMessage",
        "mesos.internal.StatusUpdateMessage",
        "mesos.internal.RegisterFrameworkMessage",
        "mesos.scheduler.Call",
    ];
    for name in names {
        for (kind, body) in &bodies {
            let response = http::post(
                cluster.master.addr,
                &format!("/master/{name}"),
                &[("Libprocess-From", from.as_str())],
                body.clone(),
            )
            .await
            .unwrap_or_else(|e| panic!("{kind} {name}: {e}"));
            assert_eq!(
                response.status,
                202,
                "{kind} {name}: answered {} {}",
                response.status,
                response.text()
            );
        }
    }
    let response = http::post(
        cluster.master.addr,
        "/master/mesos.internal.RegisterSlaveMessage",
        &[("Libprocess-From", "not a pid")],
        register,
    )
    .await
    .unwrap();
    assert_eq!(
        response.status,
        400,
        "malformed sender: {}",
        response.text()
    );

    let after = cluster.master_state().await;
    assert_eq!(
        before["slaves"].as_array().map(Vec::len),
        after["slaves"].as_array().map(Vec::len),
        "garbage registered an agent: {after:#}"
    );
    assert_eq!(after["slaves"][0]["id"], before["slaves"][0]["id"]);
    assert_eq!(after["frameworks"], serde_json::json!([]));
    assert_master_unharmed(&cluster).await;
}

/// A case, its request headers and body, the status and a word of the
/// answer expected.
type ExpectedRefusal<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [u8], u16, &'a str);

#[tokio::test]
async fn malformed_executor_calls_are_refused_by_the_agent() {
    let cluster = Cluster::start(1).await;
    let agent = cluster.agents[0].addr;
    let update_of_unknown = br#"{"type": "UPDATE", "framework_id": {"value": "no-such-framework"},
        "executor_id": {"value": "no-such-executor"}, "update": {"status": {"task_id": {"value": "t"},
        "state": "TASK_RUNNING", "source": "SOURCE_EXECUTOR", "uuid": "AAAAAAAAAAAAAAAAAAAAAA=="}}}"#;
    let subscribe_of_unknown =
        br#"{"type": "SUBSCRIBE", "framework_id": {"value": "no-such-framework"},
        "executor_id": {"value": "no-such-executor"}, "subscribe": {}}"#;
    let cases: [ExpectedRefusal; 8] = [
        ("missing Content-Type", &[], b"x", 400, "Content-Type"),
        (
            "wrong Content-Type",
            &[("Content-Type", "text/plain")],
            b"x",
            415,
            "Content-Type",
        ),
        (
            "garbage protobuf",
            &[("Content-Type", PROTOBUF)],
            b"\xff\xff\xff",
            400,
            "Failed to parse",
        ),
        // Decodes with prost alone: every field is missing, required ones too.
        (
            "empty protobuf",
            &[("Content-Type", PROTOBUF)],
            b"",
            400,
            "Failed to parse",
        ),
        (
            "garbage JSON",
            &[("Content-Type", JSON)],
            b"{\"type\":",
            400,
            "JSON",
        ),
        (
            "JSON without ids",
            &[("Content-Type", JSON)],
            br#"{"type": "UPDATE"}"#,
            400,
            "executor_id",
        ),
        (
            "UPDATE of an unknown executor",
            &[("Content-Type", JSON)],
            update_of_unknown,
            400,
            "Framework cannot be found",
        ),
        (
            "SUBSCRIBE of an unknown executor",
            &[("Content-Type", JSON), ("Accept", JSON)],
            subscribe_of_unknown,
            400,
            "Framework cannot be found",
        ),
    ];
    for (case, headers, body, status, says) in cases {
        let response = http::post(agent, "/api/v1/executor", headers, body.to_vec())
            .await
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(
            response.status.as_u16(),
            status,
            "{case}: {}",
            response.text()
        );
        assert!(
            response.text().contains(says),
            "{case}: {:?}",
            response.text()
        );
    }
    let get = http::get(agent, "/api/v1/executor").await.unwrap();
    assert_eq!(get.status, 405, "GET /api/v1/executor: {}", get.text());

    let health = http::get(agent, "/health").await.unwrap();
    assert_eq!(health.status, 200, "agent /health: {}", health.text());
    assert_master_unharmed(&cluster).await;
}
