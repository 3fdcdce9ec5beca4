//! Golden tests against the genuine libmesos 1.11 scheduler driver: the
//! messages it sent in two recorded runs (`tests/data/libmesos-*.txt`) are
//! fed to the master core as they were sent, and every reply is held
//! against the reply of the recording master that the driver accepted:
//! our reply must carry every field that one carried (recursively), with
//! the values the driver checks.

use prost_reflect::{DynamicMessage, ReflectMessage, Value};

use super::*;

/// One recorded message: whether the driver sent it, its name and body.
struct Recorded {
    inbound: bool,
    name: String,
    body: Vec<u8>,
}

fn hex(text: &str) -> Vec<u8> {
    assert!(text.len().is_multiple_of(2), "odd hex: {text}");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn recording(text: &str) -> Vec<Recorded> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let mut parts = line.split(' ');
            let (dir, name, body) = (
                parts.next().unwrap(),
                parts.next().unwrap(),
                parts.next().unwrap(),
            );
            assert!(dir == "in" || dir == "out", "{line}");
            Recorded {
                inbound: dir == "in",
                name: name.to_string(),
                body: hex(body),
            }
        })
        .collect()
}

fn decode<M: Message + Default>(recorded: &Recorded) -> M {
    M::decode(recorded.body.as_slice()).unwrap_or_else(|e| panic!("{}: {e}", recorded.name))
}

/// The recorded replies of type `M`, in order.
fn replies<M: Message + ReflectMessage + Default>(recording: &[Recorded]) -> Vec<M> {
    let name = M::default().descriptor().full_name().to_string();
    recording
        .iter()
        .filter(|r| !r.inbound && r.name == name)
        .map(decode)
        .collect()
}

/// The driver's calls, in order.
fn calls(recording: &[Recorded]) -> Vec<scheduler::Call> {
    recording
        .iter()
        .filter(|r| r.inbound)
        .map(|r| {
            assert_eq!(r.name, "mesos.scheduler.Call");
            // As the master takes it: required fields checked.
            mesos::wire::decode_checked(&r.body).unwrap()
        })
        .collect()
}

/// Where `ours` lacks a field `golden` has: `path.field` for each,
/// skipping `except` (full field names the driver does not read).
fn missing_fields(
    golden: &DynamicMessage,
    ours: &DynamicMessage,
    path: &str,
    except: &[&str],
) -> Vec<String> {
    let mut missing = Vec::new();
    for field in golden.descriptor().fields() {
        if !golden.has_field(&field) || except.contains(&field.full_name()) {
            continue;
        }
        let here = format!("{path}.{}", field.name());
        if !ours.has_field(&field) {
            missing.push(here);
            continue;
        }
        match (&*golden.get_field(&field), &*ours.get_field(&field)) {
            (Value::Message(g), Value::Message(o)) => {
                missing.extend(missing_fields(g, o, &here, except));
            }
            (Value::List(g), Value::List(o)) => {
                // Each recorded element must be matched by one of ours
                // carrying at least its fields (order may differ).
                for (i, g) in g.iter().enumerate() {
                    let Value::Message(g) = g else { continue };
                    let covered = o.iter().any(|o| {
                        matches!(o, Value::Message(o) if missing_fields(g, o, "", except).is_empty())
                    });
                    if !covered {
                        let best = o
                            .iter()
                            .filter_map(|o| match o {
                                Value::Message(o) => {
                                    Some(missing_fields(g, o, &format!("{here}[{i}]"), except))
                                }
                                _ => None,
                            })
                            .min_by_key(Vec::len)
                            .unwrap_or_else(|| vec![format!("{here}[{i}]")]);
                        missing.extend(best);
                    }
                }
            }
            _ => {}
        }
    }
    missing
}

/// Checks `ours` carries every field of `golden` but `except`.
fn assert_covers<M: ReflectMessage + std::fmt::Debug>(golden: &M, ours: &M, except: &[&str]) {
    let missing = missing_fields(
        &golden.transcode_to_dynamic(),
        &ours.transcode_to_dynamic(),
        golden.descriptor().name(),
        except,
    );
    assert!(
        missing.is_empty(),
        "our reply lacks {missing:?} that the driver was given\nours: {ours:#?}\nrecorded: {golden:#?}"
    );
}

/// The pid the recorded driver had (its uuid is in no message body).
fn driver() -> Upid {
    "scheduler-2ed3a775-6d45-4a81-a5ca-1678f3aeacd1@127.0.0.1:43237"
        .parse()
        .unwrap()
}

/// Replays `recording` against a master with the recorded master's id
/// and pid, three agents at the recorded agents' pids, and checks each
/// reply.
fn replay(recording: &[Recorded]) {
    let registered = replies::<internal::FrameworkRegisteredMessage>(recording);
    assert_eq!(registered.len(), 1);
    let recorded_info = &registered[0].master_info;
    let mut h = Harness::with(|c| {
        c.id = recorded_info.id.clone();
        c.pid = recorded_info.pid.as_ref().unwrap().parse().unwrap();
        c.hostname = recorded_info.hostname.clone().unwrap();
    });
    let recorded_offers = replies::<internal::ResourceOffersMessage>(recording);
    assert_eq!(recorded_offers.len(), 1);
    let recorded_offers = &recorded_offers[0];
    // The recorded agents, in the order their ids were given.
    let mut agents = Vec::new();
    for (offer, pid) in recorded_offers.offers.iter().zip(&recorded_offers.pids) {
        let pid: Upid = pid.parse().unwrap();
        let mut message = register_message(&offer.hostname, "cpus:1");
        message.slave.resources = offer
            .resources
            .iter()
            .cloned()
            .map(|mut r| {
                r.allocation_info = None;
                r
            })
            .collect();
        message.slave.port = Some(i32::from(pid.address.port()));
        h.receive(&pid, &message);
        let effects = h.effects();
        let ids = effects.messages_to::<internal::SlaveRegisteredMessage>(&pid);
        assert_eq!(ids.len(), 1, "{effects:?}");
        // Our agent ids are the recorded master's: the same scheme.
        assert_eq!(ids[0].slave_id, offer.slave_id);
        for _ in effects.messages_to::<internal::PingSlaveMessage>(&pid) {
            h.receive(&pid, &internal::PongSlaveMessage {});
        }
        agents.push((offer.slave_id.clone(), pid));
    }
    let agent_pid = |id: &v0::SlaveId| {
        agents
            .iter()
            .find(|(a, _)| a == id)
            .map(|(_, pid)| pid.clone())
            .unwrap()
    };

    let framework = driver();
    let mut framework_id = None;
    let mut our_offers = None;
    // The effects of the driver's last call, and our reconciliation
    // answers not yet held against the recorded ones.
    let mut effects = Effects::default();
    let mut answers = std::collections::VecDeque::new();
    let (mut launched, mut declined, mut acknowledged) = (0, 0, 0);
    for recorded in recording {
        match (recorded.inbound, recorded.name.as_str()) {
            (true, "mesos.scheduler.Call") => {
                let call: scheduler::Call = mesos::wire::decode_checked(&recorded.body).unwrap();
                let kind = call::Type::try_from(call.r#type.unwrap()).unwrap();
                if kind != call::Type::Subscribe {
                    assert_eq!(call.framework_id, framework_id);
                }
                let call = with_our_offer_ids(call, recorded_offers, our_offers.as_ref());
                h.receive(&framework, &call);
                effects = h.effects();
                match kind {
                    call::Type::Subscribe => {}
                    call::Type::Accept => {
                        let tasks = &call.accept.as_ref().unwrap().operations[0]
                            .launch
                            .as_ref()
                            .unwrap()
                            .task_infos;
                        let runs = effects.messages::<internal::RunTaskMessage>();
                        assert_eq!(runs.len(), tasks.len(), "{effects:?}");
                        for (to, run) in &runs {
                            assert_eq!(*to, agent_pid(&run.task.slave_id));
                            assert_eq!(run.framework.id, framework_id);
                        }
                        assert!(
                            effects
                                .messages_to::<internal::StatusUpdateMessage>(&framework)
                                .is_empty(),
                            "a launch failed: {effects:?}"
                        );
                        launched += tasks.len();
                    }
                    call::Type::Decline => {
                        assert_eq!(h.master.offers().count(), 0, "an offer is outstanding");
                        declined += 1;
                    }
                    call::Type::Acknowledge => {
                        let ack = call.acknowledge.as_ref().unwrap();
                        let acks =
                            effects.messages::<internal::StatusUpdateAcknowledgementMessage>();
                        assert_eq!(acks.len(), 1, "{effects:?}");
                        assert_eq!(acks[0].0, agent_pid(&ack.slave_id));
                        assert_eq!(acks[0].1.uuid, ack.uuid);
                        acknowledged += 1;
                    }
                    call::Type::Reconcile => {
                        let ours = effects.messages_to::<internal::StatusUpdateMessage>(&framework);
                        // Acknowledged terminal tasks are forgotten: an
                        // explicit reconciliation answers each as unknown,
                        // an implicit one has nothing to say (the recording
                        // master still knew them).
                        assert_eq!(
                            ours.len(),
                            call.reconcile.as_ref().unwrap().tasks.len(),
                            "{effects:?}"
                        );
                        answers.extend(ours);
                    }
                    call::Type::Teardown => {
                        let id = FrameworkId::from(framework_id.as_ref().unwrap());
                        assert!(h.master.framework(&id).is_none());
                        for (_, pid) in &agents {
                            let shutdowns =
                                effects.messages_to::<internal::ShutdownFrameworkMessage>(pid);
                            assert_eq!(shutdowns.len(), 1, "{effects:?}");
                        }
                    }
                    other => panic!("a call the replay has no case for: {other:?}"),
                }
            }
            (false, "mesos.internal.FrameworkRegisteredMessage") => {
                let golden: internal::FrameworkRegisteredMessage = decode(recorded);
                let ours = effects.messages_to::<internal::FrameworkRegisteredMessage>(&framework);
                assert_eq!(ours.len(), 1, "{effects:?}");
                // We add `capabilities`; nothing recorded is missing.
                assert_covers(&golden, &ours[0], &[]);
                // The driver checks the id on every later message and
                // reaches the master at `pid` (as from ZooKeeper).
                assert_eq!(ours[0].framework_id, golden.framework_id);
                assert_eq!(ours[0].master_info.pid, golden.master_info.pid);
                assert_eq!(ours[0].master_info.ip, golden.master_info.ip);
                assert_eq!(ours[0].master_info.port, golden.master_info.port);
                framework_id = Some(ours[0].framework_id.clone());
            }
            (false, "mesos.internal.ResourceOffersMessage") => {
                effects = h.advance(secs(1));
                let mut ours = effects.messages_to::<internal::ResourceOffersMessage>(&framework);
                assert_eq!(ours.len(), 1, "{effects:?}");
                let ours = ours.remove(0);
                assert_covers(recorded_offers, &ours, &[]);
                // The driver aborts unless there is one pid per offer; each
                // is the offering agent's.
                assert_eq!(ours.offers.len(), ours.pids.len());
                assert_eq!(ours.offers.len(), recorded_offers.offers.len());
                for (offer, pid) in ours.offers.iter().zip(&ours.pids) {
                    assert_eq!(Some(&offer.framework_id), framework_id.as_ref());
                    assert_eq!(*pid, agent_pid(&offer.slave_id).to_string());
                }
                our_offers = Some(ours);
            }
            (false, "mesos.internal.StatusUpdateMessage") => {
                let golden: internal::StatusUpdateMessage = decode(recorded);
                if golden.update.uuid.is_none() {
                    // A reconciliation answer: no uuid and no pid, so the
                    // driver does not acknowledge it.
                    let Some(ours) = answers.pop_front() else {
                        continue;
                    };
                    assert_covers(
                        &golden,
                        &ours,
                        // Asked without agent ids about tasks it no longer
                        // knows, the master cannot name their agents.
                        &[
                            "mesos.internal.StatusUpdate.slave_id",
                            "mesos.TaskStatus.slave_id",
                        ],
                    );
                    assert_eq!(Some(&ours.update.framework_id), framework_id.as_ref());
                    assert_eq!(ours.update.status.task_id, golden.update.status.task_id);
                    assert_eq!(ours.update.uuid, None);
                    assert_eq!(ours.update.status.uuid, None);
                    assert_eq!(ours.pid.as_deref(), Some(""));
                    assert_eq!(state(&ours.update.status), TaskState::TaskUnknown);
                    assert_eq!(reason(&ours.update.status), Some(Reason::Reconciliation));
                    continue;
                }
                // An agent's update, sent to the master by the agent (the
                // recording master kept the agent's pid in `pid`).
                let agent = agent_pid(golden.update.slave_id.as_ref().unwrap());
                assert_eq!(golden.pid, Some(agent.to_string()));
                h.receive(&agent, &golden);
                effects = h.effects();
                let ours = effects.messages_to::<internal::StatusUpdateMessage>(&framework);
                assert_eq!(ours.len(), 1, "{effects:?}");
                assert_covers(&golden, &ours[0], &[]);
                // Forwarded as the agent sent it, naming the agent to
                // acknowledge: what the driver checks and acknowledges
                // with.
                assert_eq!(Some(&ours[0].update.framework_id), framework_id.as_ref());
                assert_eq!(ours[0].update, golden.update);
                assert_eq!(ours[0].pid, golden.pid);
            }
            (inbound, name) => panic!("a message the replay has no case for: {inbound} {name}"),
        }
    }
    assert_eq!(launched, 3);
    assert_eq!(declined, 1);
    assert_eq!(acknowledged, 9);
    assert!(answers.is_empty(), "answers left over: {answers:?}");
}

/// `call` with the recorded offer ids it names replaced by ours for the
/// same agents.
fn with_our_offer_ids(
    mut call: scheduler::Call,
    recorded: &internal::ResourceOffersMessage,
    ours: Option<&internal::ResourceOffersMessage>,
) -> scheduler::Call {
    let map = |id: &v0::OfferId| {
        let agent = &recorded
            .offers
            .iter()
            .find(|o| &o.id == id)
            .unwrap()
            .slave_id;
        ours.expect("offers made")
            .offers
            .iter()
            .find(|o| &o.slave_id == agent)
            .unwrap()
            .id
            .clone()
    };
    if let Some(accept) = call.accept.as_mut() {
        accept.offer_ids = accept.offer_ids.iter().map(map).collect();
    }
    if let Some(decline) = call.decline.as_mut() {
        decline.offer_ids = decline.offer_ids.iter().map(map).collect();
    }
    call
}

#[test]
fn the_genuine_drivers_standalone_run_gets_every_field_it_read() {
    replay(&recording(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/libmesos-1.11.0-standalone.txt"
    ))));
}

#[test]
fn the_genuine_drivers_multi_role_run_gets_every_field_it_read() {
    let recording = recording(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/libmesos-1.11.0-multirole.txt"
    )));
    let subscribe = &calls(&recording)[0];
    let info = &subscribe.subscribe.as_ref().unwrap().framework_info;
    assert_eq!(info.roles, ["harness"]);
    #[allow(deprecated)]
    let role = &info.role;
    assert!(role.is_none());
    replay(&recording);
}
