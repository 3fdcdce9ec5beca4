//! Failover and the registry: what frameworks and agents hear waits for
//! the registry write that makes it true; recovered agents that do not
//! come back are marked unreachable within the removal limit, or the
//! master stops; unreachable and gone agents are pruned by age and count;
//! an unreachable agent that comes back is admitted with its tasks.

use super::*;

const DAY: f64 = 24.0 * 3600.0;

/// Takes the registry to store, stores it, and returns what was held for
/// it.
fn store(h: &mut Harness) -> (internal::Registry, Effects) {
    let (number, registry) = h.master.take_registry().expect("a registry to store");
    h.master.registry_stored(number);
    (registry, h.effects())
}

/// Recovers `registry` with `config` and stores the recovery's write.
fn recover_with(h: &mut Harness, registry: internal::Registry, config: RegistryConfig) {
    let now = h.now();
    h.master.recover_with(registry, config, now);
    store(h);
}

fn registry_of(slaves: &[&str]) -> internal::Registry {
    internal::Registry {
        slaves: Some(internal::registry::Slaves {
            slaves: slaves
                .iter()
                .map(|id| recovered_slave(id, &format!("{id}.example")))
                .collect(),
        }),
        ..Default::default()
    }
}

fn reregister(h: &mut Harness, id: &str, n: u8) -> Upid {
    let pid = Upid::new("slave(1)", SocketAddr::from(([10, 0, 1, n], 5051)));
    h.receive(
        &pid,
        &internal::ReregisterSlaveMessage {
            slave: recovered_slave(id, &format!("{id}.example")).info,
            version: Some(VERSION.into()),
            ..Default::default()
        },
    );
    pid
}

fn unreachable_slave(id: &str, unix: f64) -> internal::registry::UnreachableSlave {
    internal::registry::UnreachableSlave {
        id: v0::SlaveId { value: id.into() },
        timestamp: v0::TimeInfo {
            nanoseconds: (unix * 1e9) as i64,
        },
        drain_info: None,
        deactivated: None,
    }
}

fn failures(effects: &Effects, link: &FrameworkLink) -> Vec<v0::SlaveId> {
    effects
        .events_of(link, event::Type::Failure)
        .into_iter()
        .filter_map(|e| e.failure.and_then(|f| f.slave_id))
        .collect()
}

#[test]
fn frameworks_hear_an_agent_is_unreachable_only_once_the_registry_says_so() {
    let mut h = Harness::new();
    recover(&mut h, internal::Registry::default(), secs(600));
    let pid = Upid::new("slave(1)", SocketAddr::from(([10, 0, 0, 7], 5051)));
    h.receive(&pid, &register_message("a.example", "cpus:4;mem:4096"));
    let (_, effects) = store(&mut h);
    let id =
        AgentId::from(&effects.messages_to::<internal::SlaveRegisteredMessage>(&pid)[0].slave_id);
    h.receive(&pid, &internal::PongSlaveMessage {});
    let agent = TestAgent {
        pid: pid.clone(),
        id: id.clone(),
    };
    let aware = h.subscribe(partition_aware("aware"));
    let plain = h.subscribe(framework_info("plain"));
    h.running_task(&aware, &agent, "a1", "cpus:1;mem:128");
    h.running_task(&plain, &agent, "p1", "cpus:1;mem:128");

    // The agent falls silent: it is unreachable in the master at once,
    // but nobody hears of it before the registry is stored.
    let effects = advance_with_pongs(&mut h, secs(100), &[]);
    assert!(h.master.is_unreachable(&id));
    for framework in [&aware, &plain] {
        assert!(effects.updates(&framework.link).is_empty(), "{effects:?}");
        assert!(
            failures(&effects, &framework.link).is_empty(),
            "{effects:?}"
        );
    }

    let (registry, effects) = store(&mut h);
    let unreachable = registry.unreachable.unwrap().slaves;
    assert_eq!(unreachable.len(), 1);
    assert_eq!(AgentId::from(&unreachable[0].id), id);
    assert!(registry.slaves.unwrap().slaves.is_empty());
    let updates = effects.updates(&aware.link);
    assert_eq!(updates.len(), 1, "{effects:?}");
    assert_eq!(state(&updates[0]), TaskState::TaskUnreachable);
    assert_eq!(
        updates[0].unreachable_time.map(|t| t.nanoseconds),
        Some(unreachable[0].timestamp.nanoseconds)
    );
    let updates = effects.updates(&plain.link);
    assert_eq!(updates.len(), 1);
    assert_eq!(state(&updates[0]), TaskState::TaskLost);
    for framework in [&aware, &plain] {
        assert_eq!(failures(&effects, &framework.link), vec![id.to_v0()]);
    }
}

#[test]
fn an_unpersisted_master_tells_frameworks_at_once() {
    let mut h = Harness::new();
    let agent = h.register_agent("cpus:4;mem:4096");
    let plain = h.subscribe(framework_info("plain"));
    h.running_task(&plain, &agent, "p1", "cpus:1;mem:128");
    let effects = advance_with_pongs(&mut h, secs(100), &[]);
    assert_eq!(effects.updates(&plain.link).len(), 1);
    assert_eq!(failures(&effects, &plain.link), vec![agent.id.to_v0()]);
}

#[test]
fn too_many_agents_missing_after_a_failover_stop_the_master() {
    let mut h = Harness::new();
    let config = RegistryConfig {
        reregister_timeout: secs(10),
        removal_limit: 0.5,
        ..RegistryConfig::default()
    };
    recover_with(&mut h, registry_of(&["OLD-S0", "OLD-S1", "OLD-S2"]), config);
    reregister(&mut h, "OLD-S1", 1);
    // Back as recorded: nothing to write.
    assert!(h.master.take_registry().is_none());
    let effects = h.advance(secs(9));
    assert!(!effects.0.iter().any(|e| matches!(e, Effect::Abort { .. })));
    let effects = h.advance(secs(2));
    let aborts: Vec<&String> = effects
        .0
        .iter()
        .filter_map(|e| match e {
            Effect::Abort { message } => Some(message),
            _ => None,
        })
        .collect();
    assert_eq!(
        aborts,
        [
            "Post-recovery agent removal limit exceeded! After 10secs there were 2 (66.6667%) \
             agents recovered from the registry that did not reregister: \n[ OLD-S0, OLD-S2 ]\n  \
             The configured removal limit is 50%. Please investigate or increase this limit to \
             proceed further"
        ]
    );
    // Nothing was marked: the operator decides.
    assert!(!h.master.is_unreachable(&AgentId::new("OLD-S0")));
    assert_eq!(h.master.recovered_agents().count(), 2);
}

#[test]
fn agents_missing_within_the_limit_turn_unreachable_and_frameworks_hear_after_the_write() {
    let mut h = Harness::new();
    let config = RegistryConfig {
        reregister_timeout: secs(10),
        removal_limit: 0.5,
        ..RegistryConfig::default()
    };
    recover_with(&mut h, registry_of(&["OLD-S0", "OLD-S1", "OLD-S2"]), config);
    let plain = h.subscribe(framework_info("plain"));
    reregister(&mut h, "OLD-S1", 1);
    reregister(&mut h, "OLD-S2", 2);
    assert!(h.master.take_registry().is_none());
    let effects = h.advance(secs(11));
    assert!(!effects.0.iter().any(|e| matches!(e, Effect::Abort { .. })));
    let lost = AgentId::new("OLD-S0");
    assert!(h.master.is_unreachable(&lost));
    assert!(failures(&effects, &plain.link).is_empty());
    let (registry, effects) = store(&mut h);
    assert_eq!(registry.unreachable.unwrap().slaves.len(), 1);
    assert_eq!(failures(&effects, &plain.link), vec![lost.to_v0()]);
    let snapshot = snapshot(&h.master);
    assert_eq!(snapshot["master/slave_removals"], 1.0);
    assert_eq!(snapshot["master/recovery_slave_removals"], 1.0);
    // The timer fires once.
    h.advance(secs(20));
    assert!(h.master.take_registry().is_none());
}

#[test]
fn the_limit_counts_only_agents_that_never_came_back() {
    // 100% (the default) never stops the master, even with every agent
    // missing.
    let mut h = Harness::new();
    recover(&mut h, registry_of(&["OLD-S0", "OLD-S1"]), secs(10));
    let effects = h.advance(secs(11));
    assert!(!effects.0.iter().any(|e| matches!(e, Effect::Abort { .. })));
    assert_eq!(h.master.unreachable_agents().count(), 2);
}

#[test]
fn registry_gc_prunes_unreachable_and_gone_agents_by_count_and_age() {
    let mut h = Harness::new();
    let registry = internal::Registry {
        unreachable: Some(internal::registry::UnreachableSlaves {
            slaves: vec![
                unreachable_slave("U-1d", UNIX_START - DAY),
                unreachable_slave("U-10d", UNIX_START - 10.0 * DAY),
                unreachable_slave("U-3d", UNIX_START - 3.0 * DAY),
                unreachable_slave("U-5d", UNIX_START - 5.0 * DAY),
                unreachable_slave("U-2d", UNIX_START - 2.0 * DAY),
            ],
        }),
        gone: Some(internal::registry::GoneSlaves {
            slaves: vec![
                internal::registry::GoneSlave {
                    id: v0::SlaveId {
                        value: "G-1d".into(),
                    },
                    timestamp: v0::TimeInfo {
                        nanoseconds: ((UNIX_START - DAY) * 1e9) as i64,
                    },
                },
                internal::registry::GoneSlave {
                    id: v0::SlaveId {
                        value: "G-3d".into(),
                    },
                    timestamp: v0::TimeInfo {
                        nanoseconds: ((UNIX_START - 3.0 * DAY) * 1e9) as i64,
                    },
                },
            ],
        }),
        ..Default::default()
    };
    let config = RegistryConfig {
        gc_interval: secs(60),
        max_agent_count: 3,
        max_agent_age: Duration::from_secs_f64(2.5 * DAY),
        ..RegistryConfig::default()
    };
    recover_with(&mut h, registry, config);
    h.advance(secs(59));
    assert!(
        h.master.take_registry().is_none(),
        "no GC before the interval"
    );
    assert_eq!(h.master.unreachable_agents().count(), 5);
    h.advance(secs(2));
    // The two oldest go by count (5 > 3), the 3-day-old one by age.
    let mut left: Vec<String> = h
        .master
        .unreachable_agents()
        .map(|(id, _)| id.to_string())
        .collect();
    left.sort();
    assert_eq!(left, ["U-1d", "U-2d"]);
    assert!(h.master.is_gone(&AgentId::new("G-1d")));
    assert!(!h.master.is_gone(&AgentId::new("G-3d")));
    let (registry, _) = store(&mut h);
    assert_eq!(registry.unreachable.unwrap().slaves.len(), 2);
    assert_eq!(registry.gone.unwrap().slaves.len(), 1);
    // A framework asking after a pruned agent's task hears nothing of it.
    let aware = h.subscribe(partition_aware("aware"));
    let updates = h.reconcile(&aware, vec![("t", Some(&AgentId::new("U-10d")))]);
    assert!(
        updates
            .iter()
            .all(|u| state(u) != TaskState::TaskUnreachable),
        "{updates:?}"
    );
    // The next collection finds nothing more to prune.
    h.advance(secs(60));
    assert!(h.master.take_registry().is_none());
}

#[test]
fn registry_gc_by_count_alone_keeps_the_newest() {
    let mut h = Harness::new();
    let slaves = (0..10)
        .map(|i| unreachable_slave(&format!("U{i}"), UNIX_START - 100.0 + f64::from(i)))
        .collect();
    let registry = internal::Registry {
        unreachable: Some(internal::registry::UnreachableSlaves { slaves }),
        ..Default::default()
    };
    let config = RegistryConfig {
        gc_interval: secs(1),
        max_agent_count: 4,
        ..RegistryConfig::default()
    };
    recover_with(&mut h, registry, config);
    h.advance(secs(2));
    let mut left: Vec<String> = h
        .master
        .unreachable_agents()
        .map(|(id, _)| id.to_string())
        .collect();
    left.sort();
    assert_eq!(left, ["U6", "U7", "U8", "U9"]);
}

#[test]
fn an_unreachable_agent_that_comes_back_is_admitted_with_its_tasks() {
    let mut h = Harness::new();
    let registry = internal::Registry {
        unreachable: Some(internal::registry::UnreachableSlaves {
            slaves: vec![unreachable_slave("OLD-S0", UNIX_START - 60.0)],
        }),
        ..Default::default()
    };
    recover(&mut h, registry, secs(600));
    let aware = h.subscribe(partition_aware("aware"));
    let id = AgentId::new("OLD-S0");
    assert_eq!(
        state(&h.reconcile(&aware, vec![("t1", Some(&id))])[0]),
        TaskState::TaskUnreachable
    );
    let mut info = partition_aware("aware");
    info.id = Some(aware.id.to_v0());
    let task = v0::Task {
        name: "t1".into(),
        task_id: v0::TaskId { value: "t1".into() },
        framework_id: aware.id.to_v0(),
        slave_id: id.to_v0(),
        state: TaskState::TaskRunning as i32,
        resources: res("cpus:1;mem:128").to_wire(),
        ..Default::default()
    };
    let pid = Upid::new("slave(1)", SocketAddr::from(([10, 0, 2, 1], 5051)));
    h.receive(
        &pid,
        &internal::ReregisterSlaveMessage {
            slave: recovered_slave("OLD-S0", "back.example").info,
            version: Some(VERSION.into()),
            frameworks: vec![info],
            tasks: vec![task],
            ..Default::default()
        },
    );
    let effects = h.effects();
    assert!(effects.updates(&aware.link).is_empty(), "{effects:?}");
    assert!(
        effects
            .messages_to::<internal::SlaveReregisteredMessage>(&pid)
            .is_empty()
    );
    assert!(!h.master.is_unreachable(&id));
    let (registry, effects) = store(&mut h);
    assert!(registry.unreachable.unwrap().slaves.is_empty());
    assert_eq!(registry.slaves.unwrap().slaves.len(), 1);
    let updates = effects.updates(&aware.link);
    assert_eq!(updates.len(), 1, "{effects:?}");
    assert_eq!(state(&updates[0]), TaskState::TaskRunning);
    assert_eq!(reason(&updates[0]), Some(Reason::SlaveReregistered));
    assert_eq!(
        updates[0].message.as_deref(),
        Some("Unreachable agent re-reregistered")
    );
    assert_eq!(
        effects
            .messages_to::<internal::SlaveReregisteredMessage>(&pid)
            .len(),
        1
    );
    let framework = h.master.framework(&aware.id).unwrap();
    assert!(framework.tasks.contains_key(&TaskId::new("t1")));
}
