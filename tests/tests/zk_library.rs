//! The ZooKeeper pieces on their own, against a real server: the
//! registry store (chunks past the 1 MB request limit, compare-and-set,
//! superseded generations deleted, corruption), digest credentials and
//! Mesos's ACL, and election order as a detector sees it. Skipped without
//! ZooKeeper unless MESOS_TEST_REQUIRE_ZOOKEEPER is set.

use std::time::Duration;

use mesos::wire::mesos as v0;
use mesos::wire::mesos::internal::{Registry, registry};
use mesos::zk::ZkUrl;
use mesos::zk::contender::{Contender, ContenderEvent};
use mesos::zk::detector::Detector;
use mesos_e2e::zookeeper::{self, ZooKeeper};
use mesos_master::registry::StoreError;
use mesos_master::registry::zookeeper::ZkStore;
use zookeeper_client as zk;

const TIMEOUT: Duration = Duration::from_secs(20);

/// A registry of `agents` agents with long attributes: big enough to
/// need several chunks.
fn big_registry(agents: usize) -> Registry {
    let slaves = (0..agents)
        .map(|i| registry::Slave {
            info: v0::SlaveInfo {
                hostname: format!("agent-{i}.example"),
                id: Some(v0::SlaveId {
                    value: format!("S{i}"),
                }),
                attributes: vec![v0::Attribute {
                    name: "rack".into(),
                    r#type: v0::value::Type::Text as i32,
                    text: Some(v0::value::Text {
                        value: "x".repeat(1000),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            },
            drain_info: None,
            deactivated: None,
        })
        .collect();
    Registry {
        slaves: Some(registry::Slaves { slaves }),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_store_chunks_and_compares_and_sets() {
    let Some(classpath) = zookeeper::classpath_or_skip("registry store") else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let server = ZooKeeper::start(&classpath, root.path()).await;
    let url = ZkUrl::parse(&server.url("/mesos")).unwrap();
    let timeout = Duration::from_secs(10);

    let mut a = ZkStore::new(url.clone(), timeout);
    assert_eq!(a.fetch().await.unwrap(), Registry::default());
    // About 3 MB: over ZooKeeper's 1 MB request limit.
    let big = big_registry(3000);
    a.store(&big).await.expect("store a 3 MB registry");
    let mut b = ZkStore::new(url.clone(), timeout);
    assert_eq!(b.fetch().await.unwrap(), big);

    // B writes; A's next write is based on what it read before: refused.
    let small = big_registry(2);
    b.store(&small).await.unwrap();
    match a.store(&big_registry(1)).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(a.fetch().await.unwrap(), small);
    a.store(&big_registry(1)).await.expect("after a fresh read");

    // Old generations are gone: one generation of chunks remains.
    let client = zk::Client::connect(&server.addr.to_string()).await.unwrap();
    let generations = client.list_children("/mesos/registry_data").await.unwrap();
    assert_eq!(generations.len(), 1, "{generations:?}");

    // A master that died between writing its chunks and moving the
    // pointer left a generation behind: the next write deletes it too.
    let persistent = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    client
        .mkdir("/mesos/registry_data/left-behind", &persistent)
        .await
        .unwrap();
    client
        .create("/mesos/registry_data/left-behind/0", b"chunk", &persistent)
        .await
        .unwrap();
    a.store(&big_registry(2)).await.unwrap();
    let after = client.list_children("/mesos/registry_data").await.unwrap();
    assert_eq!(after.len(), 1, "{after:?}");
    assert!(!after.contains(&"left-behind".to_string()), "{after:?}");
    assert!(!after.contains(&generations[0]), "{after:?}");
    assert_eq!(b.fetch().await.unwrap(), big_registry(2));

    // A pointer that does not parse is corruption, not an empty registry.
    client
        .set_data("/mesos/registry", b"garbage", None)
        .await
        .unwrap();
    let mut c = ZkStore::new(url, timeout);
    match c.fetch().await {
        Err(StoreError::Corrupt { .. }) => {}
        other => panic!("expected corruption, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_give_mesos_acl_and_detectors_follow_the_lowest_member() {
    let Some(classpath) = zookeeper::classpath_or_skip("credentials and election") else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let server = ZooKeeper::start(&classpath, root.path()).await;
    let url = ZkUrl::parse(&format!("zk://mesos:secret@{}/a/b/mesos", server.addr)).unwrap();
    let timeout = Duration::from_secs(4);
    let info = |port: u32| v0::MasterInfo {
        id: format!("master-{port}"),
        ip: 16777343,
        port,
        pid: Some(format!("master@127.0.0.1:{port}")),
        ..Default::default()
    };
    let json = |port| mesos::wire::json::to_json_string(&info(port)).into_bytes();

    let mut first = Contender::start(url.clone(), timeout, json(1));
    assert_eq!(
        tokio::time::timeout(TIMEOUT, first.events.recv())
            .await
            .unwrap(),
        Some(ContenderEvent::Elected)
    );
    let mut second = Contender::start(url.clone(), timeout, json(2));
    let mut detector = Detector::start(url.clone(), timeout);
    let leader = tokio::time::timeout(TIMEOUT, detector.leading())
        .await
        .unwrap();
    assert_eq!(leader.id, "master-1");

    // Nodes carry Mesos's ACL: the creator's digest may do anything,
    // the world may only read.
    let anonymous = zk::Client::connect(&server.addr.to_string()).await.unwrap();
    let children = anonymous.list_children("/a/b/mesos").await.unwrap();
    let mut members: Vec<&String> = children
        .iter()
        .filter(|c| c.starts_with("json.info_"))
        .collect();
    members.sort();
    assert_eq!(members.len(), 2, "{children:?}");
    let path = format!("/a/b/mesos/{}", members[0]);
    let (acl, _) = anonymous.get_acl(&path).await.unwrap();
    let schemes: Vec<(&str, bool)> = acl
        .iter()
        .map(|a| (a.scheme(), a.permission() == zk::Permission::ALL))
        .collect();
    assert!(schemes.contains(&("digest", true)), "{acl:?}");
    assert!(
        acl.iter()
            .any(|a| a.scheme() == "world" && a.permission() == zk::Permission::READ),
        "{acl:?}"
    );
    assert_eq!(
        anonymous.set_data(&path, b"x", None).await.unwrap_err(),
        zk::Error::NoAuth
    );
    assert_eq!(
        anonymous
            .create(
                "/a/b/mesos/json.info_",
                b"{}",
                &zk::CreateMode::EphemeralSequential.with_acls(zk::Acls::anyone_all())
            )
            .await
            .unwrap_err(),
        zk::Error::NoAuth
    );

    // The leader withdraws: the second leads, the detector follows.
    first.withdraw().await;
    assert_eq!(
        tokio::time::timeout(TIMEOUT, second.events.recv())
            .await
            .unwrap(),
        Some(ContenderEvent::Elected)
    );
    let mut leader = detector.subscribe();
    let followed = tokio::time::timeout(TIMEOUT, async {
        loop {
            if let Some(info) = leader.borrow_and_update().clone()
                && info.id == "master-2"
            {
                return info;
            }
            leader.changed().await.unwrap();
        }
    })
    .await
    .expect("the detector follows the new leader");
    assert_eq!(
        mesos::zk::master_upid(&followed).unwrap().to_string(),
        "master@127.0.0.1:2"
    );
    second.withdraw().await;
}
