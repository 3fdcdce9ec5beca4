//! Allocator behaviour, one Mesos semantic per test, plus a property test
//! over random sequences of operations.

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use mesos::ids::{AgentId, FrameworkId};
use mesos::resources::{Resource, Resources};
use proptest::prelude::*;

use super::*;

/// The one clock reading of the tests; every other time is `base() + d`.
#[allow(clippy::disallowed_methods)]
fn base() -> Instant {
    Instant::now()
}

fn res(s: &str) -> Resources {
    Resources::parse(s).unwrap()
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn spec(roles: &[&str]) -> FrameworkSpec {
    FrameworkSpec {
        roles: roles.iter().map(|r| r.to_string()).collect(),
        ..FrameworkSpec::default()
    }
}

fn roles(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|r| r.to_string()).collect()
}

fn fid(s: &str) -> FrameworkId {
    FrameworkId::new(s)
}

fn aid(s: &str) -> AgentId {
    AgentId::new(s)
}

fn allocator() -> Allocator {
    Allocator::new(AllocatorConfig::default())
}

/// Declines every offer with `refuse`.
fn decline_all(al: &mut Allocator, offers: &[Allocation], refuse: Option<Duration>, now: Instant) {
    for o in offers {
        al.recover_resources(&o.framework_id, &o.agent_id, &o.resources, refuse, now);
    }
}

/// Frameworks A and B share one agent; each one offered resources launches
/// one task (`task_a` or `task_b`) if it fits and declines the rest with no
/// filter, until nothing fits. Every offer must go to the framework with
/// the smaller dominant share. Returns the tasks launched by A and B.
fn drf_simulation(
    total: &str,
    (role_a, task_a): (&str, &str),
    (role_b, task_b): (&str, &str),
) -> (usize, usize) {
    let mut al = allocator();
    al.add_agent(aid("agent"), res(total), HashMap::new());
    al.add_framework(fid("A"), spec(&[role_a]), HashMap::new(), true);
    al.add_framework(fid("B"), spec(&[role_b]), HashMap::new(), true);
    let tasks = HashMap::from([(fid("A"), res(task_a)), (fid("B"), res(task_b))]);
    let mut launched: HashMap<FrameworkId, usize> = HashMap::new();
    let mut idle_cycles = 0;
    // The share that decides the order: the role's if they differ, else
    // the framework's within the role.
    let share = |al: &Allocator, f: &str, role: &str| {
        if role_a == role_b {
            al.framework_share(&fid(f), role).unwrap()
        } else {
            al.role_share(role).unwrap()
        }
    };
    for cycle in 0..100 {
        let now = base() + secs(cycle);
        let (share_a, share_b) = (share(&al, "A", role_a), share(&al, "B", role_b));
        let offers = al.allocate(now);
        if let Some(o) = offers.first() {
            let (mine, other) = if o.framework_id == fid("A") {
                (share_a, share_b)
            } else {
                (share_b, share_a)
            };
            assert!(
                mine <= other,
                "offered to the larger share ({mine} > {other})"
            );
        }
        assert!(offers.len() <= 1, "one agent, one offer per cycle");
        let mut any = false;
        for o in offers {
            let mut task = tasks[&o.framework_id].clone();
            task.allocate(&o.role);
            let rest = if o.resources.contains(&task) {
                *launched.entry(o.framework_id.clone()).or_default() += 1;
                any = true;
                &o.resources - &task
            } else {
                o.resources.clone()
            };
            al.recover_resources(&o.framework_id, &o.agent_id, &rest, None, now);
        }
        idle_cycles = if any { 0 } else { idle_cycles + 1 };
        if idle_cycles == 4 {
            break;
        }
    }
    assert_eq!(idle_cycles, 4, "the simulation settles");
    (
        launched.get(&fid("A")).copied().unwrap_or(0),
        launched.get(&fid("B")).copied().unwrap_or(0),
    )
}

/// The DRF paper's example (Ghodsi et al., NSDI 2011): 9 CPUs and 18 GB;
/// A's tasks need <1 CPU, 4 GB>, B's <3 CPUs, 1 GB>. DRF ends with A
/// running 3 tasks and B 2, both at a dominant share of 2/3.
fn drf_paper(role_a: &str, role_b: &str) -> (usize, usize) {
    drf_simulation(
        "cpus:9;mem:18432",
        (role_a, "cpus:1;mem:4096"),
        (role_b, "cpus:3;mem:1024"),
    )
}

#[test]
fn drf_paper_example_between_frameworks_of_one_role() {
    assert_eq!(drf_paper("analytics", "analytics"), (3, 2));
}

#[test]
fn drf_paper_example_between_roles() {
    assert_eq!(drf_paper("a", "b"), (3, 2));
}

/// Where DRF and taking turns differ: B's tasks weigh three times A's, so
/// A gets three offers for each of B's (round robin would alternate, and
/// offer B at a share of 1/3 while A is at 2/9).
#[test]
fn drf_offers_the_smaller_dominant_share_not_turns() {
    let small = ("a", "cpus:1;mem:1024");
    let large = ("b", "cpus:1;mem:6144");
    assert_eq!(drf_simulation("cpus:9;mem:18432", small, large), (6, 2));
    let small = ("r", "cpus:1;mem:1024");
    let large = ("r", "cpus:1;mem:6144");
    assert_eq!(drf_simulation("cpus:9;mem:18432", small, large), (6, 2));
}

#[test]
fn offers_everything_allocatable_marked_with_the_role() {
    let mut al = allocator();
    al.add_framework(fid("f"), spec(&["web"]), HashMap::new(), true);
    al.add_agent(
        aid("a"),
        res("cpus:4;mem:1024;ports:[31000-32000]"),
        HashMap::new(),
    );
    let offers = al.allocate(base());
    assert_eq!(offers.len(), 1);
    let mut want = res("cpus:4;mem:1024;ports:[31000-32000]");
    want.allocate("web");
    assert_eq!(offers[0].resources, want);
    assert_eq!(offers[0].role, "web");
    assert!(al.agent_available(&aid("a")).unwrap().is_empty());
    assert_eq!(al.role_allocated("web"), want);
    assert_eq!(al.framework_allocated(&fid("f"))[&aid("a")], want);
    assert_eq!(al.role_share("web"), Some(1.0));
    assert!(
        al.allocate(base() + secs(1)).is_empty(),
        "nothing offered twice"
    );
}

#[test]
fn filters_hold_until_refuse_seconds_pass() {
    let mut al = allocator();
    al.add_framework(fid("f"), spec(&["r"]), HashMap::new(), true);
    al.add_agent(aid("a"), res("cpus:4;mem:1024"), HashMap::new());
    let t = base();
    let offers = al.allocate(t);
    decline_all(&mut al, &offers, Some(secs(10)), t);
    assert_eq!(al.active_offer_filters("r"), 1);
    assert_eq!(al.next_filter_expiry(), Some(t + secs(10)));
    for s in 1..10 {
        assert!(al.allocate(t + secs(s)).is_empty(), "filtered at {s}s");
    }
    let offers = al.allocate(t + secs(10));
    assert_eq!(offers.len(), 1, "offered again once the filter expired");
    assert_eq!(al.active_offer_filters("r"), 0);

    // No filter (or a zero one): offered again in the next cycle.
    decline_all(&mut al, &offers, Some(Duration::ZERO), t + secs(10));
    let offers = al.allocate(t + secs(10));
    assert_eq!(offers.len(), 1);
    decline_all(&mut al, &offers, None, t + secs(10));
    assert_eq!(al.allocate(t + secs(10)).len(), 1);
}

#[test]
fn filters_last_at_least_one_allocation_interval() {
    let mut al = allocator();
    al.add_framework(fid("f"), spec(&["r"]), HashMap::new(), true);
    al.add_agent(aid("a"), res("cpus:4;mem:1024"), HashMap::new());
    let t = base();
    let offers = al.allocate(t);
    decline_all(&mut al, &offers, Some(Duration::from_millis(100)), t);
    assert!(al.allocate(t + Duration::from_millis(500)).is_empty());
    assert_eq!(al.allocate(t + secs(1)).len(), 1);
}

#[test]
fn filters_only_hold_back_what_they_contain() {
    let mut al = allocator();
    al.add_framework(fid("f"), spec(&["r"]), HashMap::new(), true);
    al.add_agent(aid("a"), res("cpus:4;mem:1024"), HashMap::new());
    let t = base();
    let offer = al.allocate(t).remove(0);
    // A task keeps 1 cpu; the rest is declined for an hour.
    let mut task = res("cpus:1;mem:256");
    task.allocate("r");
    al.recover_resources(
        &fid("f"),
        &aid("a"),
        &(&offer.resources - &task),
        Some(secs(3600)),
        t,
    );
    assert!(al.allocate(t + secs(1)).is_empty());
    // The task ends: now more is available than was refused.
    al.recover_resources(&fid("f"), &aid("a"), &task, None, t + secs(2));
    let offers = al.allocate(t + secs(2));
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0].resources.cpus(), Some(4.0));
}

#[test]
fn filters_are_per_framework() {
    let mut al = allocator();
    al.add_framework(fid("f1"), spec(&["r"]), HashMap::new(), true);
    al.add_framework(fid("f2"), spec(&["r"]), HashMap::new(), true);
    al.add_agent(aid("a"), res("cpus:4;mem:1024"), HashMap::new());
    let t = base();
    let offers = al.allocate(t);
    assert_eq!(offers[0].framework_id, fid("f1"), "equal shares: by id");
    decline_all(&mut al, &offers, Some(secs(60)), t);
    let offers = al.allocate(t + secs(1));
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0].framework_id, fid("f2"), "f1 refused, f2 did not");
    decline_all(&mut al, &offers, Some(secs(60)), t + secs(1));
    assert!(al.allocate(t + secs(2)).is_empty());
    assert!(!al.has_pending_work(), "nothing changed: an idle cycle");
}

#[test]
fn revive_clears_filters() {
    let mut al = allocator();
    al.add_framework(fid("f"), spec(&["r"]), HashMap::new(), true);
    al.add_agent(aid("a"), res("cpus:4;mem:1024"), HashMap::new());
    let t = base();
    let offers = al.allocate(t);
    decline_all(&mut al, &offers, Some(secs(3600)), t);
    assert!(al.allocate(t + secs(1)).is_empty());
    al.revive_offers(&fid("f"), None);
    assert!(al.has_pending_work());
    assert_eq!(al.allocate(t + secs(2)).len(), 1);
}

#[test]
fn revive_of_one_role_keeps_other_roles_filters() {
    let mut al = allocator();
    al.add_framework(fid("f"), spec(&["x", "y"]), HashMap::new(), true);
    al.add_agent(
        aid("a"),
        res("cpus(x):1;mem(x):64;cpus(y):1;mem(y):64"),
        HashMap::new(),
    );
    let t = base();
    let offers = al.allocate(t);
    assert_eq!(offers.len(), 2, "one offer per role");
    decline_all(&mut al, &offers, Some(secs(3600)), t);
    assert!(al.allocate(t + secs(1)).is_empty());
    al.revive_offers(&fid("f"), Some(&roles(&["y"])));
    let offers = al.allocate(t + secs(2));
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0].role, "y");
}

#[test]
fn declining_for_long_and_reviving_often_keeps_bookkeeping_bounded() {
    let mut al = allocator();
    al.add_framework(fid("f"), spec(&["r"]), HashMap::new(), true);
    al.add_agent(aid("a"), res("cpus:4;mem:1024"), HashMap::new());
    let t = base();
    for i in 0..20_000 {
        let now = t + Duration::from_millis(i);
        let offers = al.allocate(now);
        assert_eq!(offers.len(), 1, "revived at {i}");
        decline_all(&mut al, &offers, Some(secs(3600)), now);
        al.revive_offers(&fid("f"), None);
    }
    assert!(
        al.expiries.len() <= MIN_EXPIRIES_COMPACTION,
        "{}",
        al.expiries.len()
    );
    // The one filter in force still expires on time.
    let now = t + secs(100);
    let offers = al.allocate(now);
    decline_all(&mut al, &offers, Some(secs(10)), now);
    al.compact_expiries();
    assert_eq!(al.expiries.len(), 1);
    assert!(al.allocate(now + secs(9)).is_empty());
    assert_eq!(al.allocate(now + secs(10)).len(), 1);
}

#[test]
fn suppress_stops_offers_and_revive_restores_them() {
    let mut al = allocator();
    al.add_framework(fid("f"), spec(&["r"]), HashMap::new(), true);
    al.suppress_offers(&fid("f"), None);
    al.add_agent(aid("a"), res("cpus:4;mem:1024"), HashMap::new());
    let t = base();
    assert!(al.allocate(t).is_empty());
    assert!(al.allocate(t + secs(100)).is_empty());
    al.revive_offers(&fid("f"), None);
    assert_eq!(al.allocate(t + secs(101)).len(), 1);
}

#[test]
fn suppressing_one_role_leaves_the_others() {
    let mut al = allocator();
    let mut s = spec(&["x", "y"]);
    s.suppressed_roles = roles(&["x"]);
    al.add_framework(fid("f"), s, HashMap::new(), true);
    al.add_agent(
        aid("a"),
        res("cpus(x):1;mem(x):64;cpus(y):1;mem(y):64"),
        HashMap::new(),
    );
    let offers = al.allocate(base());
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0].role, "y");
    // Un-suppressing through an update works like a revive.
    al.update_framework(&fid("f"), spec(&["x", "y"]));
    let offers = al.allocate(base() + secs(1));
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0].role, "x");
}

#[test]
fn inactive_framework_gets_nothing_but_keeps_its_allocation() {
    let mut al = allocator();
    al.add_framework(fid("f"), spec(&["r"]), HashMap::new(), false);
    al.add_agent(aid("a"), res("cpus:4;mem:1024"), HashMap::new());
    al.add_agent(aid("b"), res("cpus:4;mem:1024"), HashMap::new());
    let t = base();
    assert!(al.allocate(t).is_empty());
    al.activate_framework(&fid("f"));
    let offers = al.allocate(t + secs(1));
    assert_eq!(offers.len(), 2);
    // It launches on `a`, declines `b`, then disconnects.
    let on_b = offers.iter().find(|o| o.agent_id == aid("b")).unwrap();
    al.recover_resources(&fid("f"), &aid("b"), &on_b.resources, None, t + secs(1));
    al.deactivate_framework(&fid("f"));
    assert!(al.allocate(t + secs(2)).is_empty());
    let held = al.framework_allocated(&fid("f"));
    assert_eq!(held.len(), 1);
    assert_eq!(held[&aid("a")].cpus(), Some(4.0));
    al.activate_framework(&fid("f"));
    let offers = al.allocate(t + secs(3));
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0].agent_id, aid("b"));
}

#[test]
fn reserved_resources_go_only_to_their_role() {
    let mut al = allocator();
    al.add_framework(fid("dev"), spec(&["dev"]), HashMap::new(), true);
    al.add_agent(
        aid("a"),
        res("cpus:1;mem:64;cpus(prod):4;mem(prod):256"),
        HashMap::new(),
    );
    let t = base();
    let offers = al.allocate(t);
    assert_eq!(offers.len(), 1);
    let mut want = res("cpus:1;mem:64");
    want.allocate("dev");
    assert_eq!(
        offers[0].resources, want,
        "dev gets the unreserved part only"
    );
    decline_all(&mut al, &offers, Some(secs(3600)), t);

    // A framework of a descendant role may use its ancestor's reservations.
    al.add_framework(fid("web"), spec(&["prod/web"]), HashMap::new(), true);
    let offers = al.allocate(t + secs(1));
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0].framework_id, fid("web"));
    let mut want = res("cpus:1;mem:64;cpus(prod):4;mem(prod):256");
    want.allocate("prod/web");
    assert_eq!(offers[0].resources, want);
}

#[test]
fn reservations_are_offered_even_after_the_unreserved_part_is_gone() {
    let mut al = allocator();
    al.add_framework(fid("dev"), spec(&["dev"]), HashMap::new(), true);
    al.add_framework(fid("prod"), spec(&["prod"]), HashMap::new(), true);
    al.add_agent(
        aid("a"),
        res("cpus:1;mem:64;cpus(prod):4;mem(prod):256"),
        HashMap::new(),
    );
    let offers = al.allocate(base());
    // `dev` sorts first (by name) and takes the unreserved part; `prod`
    // still gets its reservation on the same agent in the same cycle.
    assert_eq!(offers.len(), 2);
    let by_fw: HashMap<_, _> = offers.iter().map(|o| (o.framework_id.clone(), o)).collect();
    assert_eq!(by_fw[&fid("dev")].resources.cpus(), Some(1.0));
    assert_eq!(by_fw[&fid("prod")].resources.cpus(), Some(4.0));
}

/// Two roles, each with one framework that keeps everything it is offered,
/// over 100 identical agents.
fn split_with_weights(weights: &[(String, f64)]) -> (usize, usize) {
    let mut al = allocator();
    al.update_weights(weights);
    al.add_framework(fid("fa"), spec(&["a"]), HashMap::new(), true);
    al.add_framework(fid("fb"), spec(&["b"]), HashMap::new(), true);
    for i in 0..100 {
        al.add_agent(
            aid(&format!("agent-{i}")),
            res("cpus:1;mem:1024"),
            HashMap::new(),
        );
    }
    let offers = al.allocate(base());
    assert_eq!(offers.len(), 100);
    let a = offers.iter().filter(|o| o.role == "a").count();
    (a, offers.len() - a)
}

#[test]
fn weights_shift_the_split() {
    assert_eq!(split_with_weights(&[]), (50, 50));
    assert_eq!(split_with_weights(&[("a".into(), 3.0)]), (75, 25));
    assert_eq!(split_with_weights(&[("b".into(), 4.0)]), (20, 80));
    // Invalid weights are ignored.
    assert_eq!(
        split_with_weights(&[("a".into(), 0.0), ("b".into(), f64::NAN)]),
        (50, 50)
    );
}

#[test]
fn a_parent_weight_applies_to_its_subtree() {
    let mut al = allocator();
    al.update_weights(&[("a".into(), 3.0)]);
    for (f, role) in [("fx", "a/x"), ("fy", "a/y"), ("fb", "b")] {
        al.add_framework(fid(f), spec(&[role]), HashMap::new(), true);
    }
    for i in 0..80 {
        al.add_agent(
            aid(&format!("agent-{i}")),
            res("cpus:1;mem:1024"),
            HashMap::new(),
        );
    }
    let offers = al.allocate(base());
    let count = |role: &str| offers.iter().filter(|o| o.role == role).count();
    // `a` weighs three times `b`; inside `a` the two children split evenly.
    assert_eq!((count("a/x"), count("a/y"), count("b")), (30, 30, 20));
}

#[test]
fn weights_changed_at_runtime_apply_to_the_next_cycle() {
    let mut al = allocator();
    al.add_framework(fid("fa"), spec(&["a"]), HashMap::new(), true);
    al.add_framework(fid("fb"), spec(&["b"]), HashMap::new(), true);
    for i in 0..40 {
        al.add_agent(
            aid(&format!("x-{i}")),
            res("cpus:1;mem:1024"),
            HashMap::new(),
        );
    }
    assert_eq!(al.allocate(base()).len(), 40);
    al.update_weights(&[("a".into(), 3.0)]);
    for i in 0..40 {
        al.add_agent(
            aid(&format!("y-{i}")),
            res("cpus:1;mem:1024"),
            HashMap::new(),
        );
    }
    let offers = al.allocate(base() + secs(1));
    let a = offers.iter().filter(|o| o.role == "a").count();
    // 20 + a = 3 * (20 + 40 - a) at the balance point.
    assert_eq!(a, 40);
    assert_eq!(al.role_share("a"), Some(60.0 / 80.0 / 3.0));
    assert_eq!(al.role_share("b"), Some(20.0 / 80.0));
}

#[test]
fn min_allocatable_resources_are_respected() {
    let mut al = allocator();
    al.add_framework(fid("f"), spec(&["r"]), HashMap::new(), true);
    al.add_agent(
        aid("tiny"),
        res("cpus:0.005;mem:16;disk:1000"),
        HashMap::new(),
    );
    assert!(
        al.allocate(base()).is_empty(),
        "neither cpus:0.01 nor mem:32"
    );
    al.add_agent(aid("memory"), res("mem:32"), HashMap::new());
    let offers = al.allocate(base() + secs(1));
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0].agent_id, aid("memory"));
    al.add_agent(aid("cpu"), res("cpus:0.01"), HashMap::new());
    assert_eq!(al.allocate(base() + secs(2)).len(), 1);

    // A framework may ask for more per role.
    let mut s = spec(&["r"]);
    s.min_allocatable_resources
        .insert("r".into(), vec![res("cpus:2;mem:512")]);
    al.add_framework(fid("picky"), s, HashMap::new(), true);
    al.add_agent(aid("small"), res("cpus:1;mem:1024"), HashMap::new());
    al.add_agent(aid("big"), res("cpus:2;mem:512"), HashMap::new());
    al.remove_framework(&fid("f"));
    let offers = al.allocate(base() + secs(3));
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0].agent_id, aid("big"));

    // And an empty list means anything goes.
    let config = AllocatorConfig {
        min_allocatable_resources: Vec::new(),
        ..AllocatorConfig::default()
    };
    let mut al = Allocator::new(config);
    al.add_framework(fid("f"), spec(&["r"]), HashMap::new(), true);
    al.add_agent(aid("tiny"), res("disk:1"), HashMap::new());
    assert_eq!(al.allocate(base()).len(), 1);
}

#[test]
fn min_allocatable_resources_flag_form() {
    let parsed = parse_min_allocatable_resources("cpus:0.01|mem:32").unwrap();
    assert_eq!(parsed, vec![res("cpus:0.01"), res("mem:32")]);
    let parsed = parse_min_allocatable_resources("cpus:1;mem:128|gpus:1").unwrap();
    assert_eq!(parsed, vec![res("cpus:1;mem:128"), res("gpus:1")]);
    assert!(parse_min_allocatable_resources("cpus:x").is_err());
    assert_eq!(
        AllocatorConfig::default().min_allocatable_resources,
        vec![res("cpus:0.01"), res("mem:32")]
    );
}

#[test]
fn deactivated_agents_are_not_offered() {
    let mut al = allocator();
    al.add_framework(fid("f"), spec(&["r"]), HashMap::new(), true);
    al.add_agent(aid("a"), res("cpus:1;mem:64"), HashMap::new());
    al.deactivate_agent(&aid("a"));
    assert!(al.allocate(base()).is_empty());
    al.activate_agent(&aid("a"));
    assert_eq!(al.allocate(base() + secs(1)).len(), 1);
}

#[test]
fn gpu_agents_only_go_to_gpu_capable_frameworks() {
    let mut al = allocator();
    al.add_framework(fid("plain"), spec(&["r"]), HashMap::new(), true);
    al.add_agent(aid("gpu"), res("cpus:4;mem:1024;gpus:1"), HashMap::new());
    assert!(al.allocate(base()).is_empty());
    let mut s = spec(&["r"]);
    s.capabilities.gpu_resources = true;
    al.add_framework(fid("ml"), s, HashMap::new(), true);
    let offers = al.allocate(base() + secs(1));
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0].framework_id, fid("ml"));
    assert_eq!(offers[0].resources.gpus(), Some(1.0));
}

#[test]
fn excluded_resources_do_not_count_in_shares() {
    let config = AllocatorConfig {
        fair_sharing_excluded_resource_names: vec!["gpus".into()],
        ..AllocatorConfig::default()
    };
    let mut al = Allocator::new(config);
    let mut s = spec(&["x"]);
    s.capabilities.gpu_resources = true;
    al.add_agent(aid("a"), res("cpus:10;mem:1000;gpus:4"), HashMap::new());
    let mut held = res("cpus:1;gpus:4");
    held.allocate("x");
    al.add_framework(fid("f"), s, HashMap::from([(aid("a"), held)]), true);
    assert_eq!(al.role_share("x"), Some(0.1), "gpus left out: 1 of 10 cpus");
}

#[test]
fn hierarchical_roles_count_children_in_the_parent() {
    let mut al = allocator();
    // `a/x` holds 5 of 10 cpus: subtree `a` is at 0.5, `b` at 0.
    let mut used = res("cpus:5;mem:10");
    used.allocate("a/x");
    al.add_agent(
        aid("old"),
        res("cpus:5;mem:10"),
        HashMap::from([(fid("fx"), used)]),
    );
    al.add_framework(fid("fx"), spec(&["a/x"]), HashMap::new(), true);
    al.suppress_offers(&fid("fx"), None);
    al.add_framework(fid("fy"), spec(&["a/y"]), HashMap::new(), true);
    al.add_framework(fid("fb"), spec(&["b"]), HashMap::new(), true);
    al.add_agent(aid("new"), res("cpus:5;mem:1000"), HashMap::new());
    assert_eq!(al.role_share("a/x"), Some(0.5));
    let offers = al.allocate(base());
    assert_eq!(offers.len(), 1);
    // `a/y` holds nothing, but its parent holds more than `b`.
    assert_eq!(offers[0].framework_id, fid("fb"));
    assert_eq!(al.roles(), ["a/x", "a/y", "b"]);
}

#[test]
fn usage_reported_before_the_framework_is_added_counts_once_it_is() {
    let mut al = allocator();
    let mut used = res("cpus:3;mem:300");
    used.allocate("r");
    al.add_agent(
        aid("a"),
        res("cpus:4;mem:400"),
        HashMap::from([(fid("old"), used.clone())]),
    );
    assert_eq!(al.agent_available(&aid("a")), Some(&res("cpus:1;mem:100")));
    assert_eq!(
        al.role_share("r"),
        None,
        "unknown framework: not counted yet"
    );
    al.add_framework(
        fid("old"),
        spec(&["r"]),
        HashMap::from([(aid("a"), used.clone())]),
        true,
    );
    assert_eq!(al.role_share("r"), Some(0.75));
    assert_eq!(al.framework_allocated(&fid("old"))[&aid("a")], used);
    assert_eq!(al.role_allocated_quantities("r")["cpus"], 3.0);
    let offers = al.allocate(base());
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0].resources.cpus(), Some(1.0));
}

#[test]
fn removing_a_framework_frees_what_it_held() {
    let mut al = allocator();
    al.add_framework(fid("f1"), spec(&["r"]), HashMap::new(), true);
    al.add_agent(aid("a"), res("cpus:4;mem:1024"), HashMap::new());
    assert_eq!(al.allocate(base()).len(), 1);
    al.add_framework(fid("f2"), spec(&["r"]), HashMap::new(), true);
    assert!(al.allocate(base() + secs(1)).is_empty());
    al.remove_framework(&fid("f1"));
    assert_eq!(al.roles(), ["r"]);
    let offers = al.allocate(base() + secs(2));
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0].framework_id, fid("f2"));
    al.remove_framework(&fid("f2"));
    assert!(
        al.roles().is_empty(),
        "a role without frameworks is dropped"
    );
}

#[test]
fn leaving_a_role_keeps_what_is_held_there_until_recovered() {
    let mut al = allocator();
    al.add_framework(fid("f"), spec(&["x"]), HashMap::new(), true);
    al.add_agent(aid("a"), res("cpus:4;mem:1024"), HashMap::new());
    let offer = al.allocate(base()).remove(0);
    al.update_framework(&fid("f"), spec(&["y"]));
    assert_eq!(al.roles(), ["x", "y"]);
    assert_eq!(al.role_share("x"), Some(1.0));
    al.recover_resources(&fid("f"), &aid("a"), &offer.resources, None, base());
    assert_eq!(al.roles(), ["y"]);
    let offers = al.allocate(base() + secs(1));
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0].role, "y");
}

#[test]
fn operations_on_held_resources_change_the_allocation_and_the_total() {
    let mut al = allocator();
    al.add_framework(fid("f"), spec(&["r"]), HashMap::new(), true);
    al.add_framework(fid("g"), spec(&["other"]), HashMap::new(), true);
    al.suppress_offers(&fid("g"), None);
    al.add_agent(aid("a"), res("cpus:4;mem:1024"), HashMap::new());
    let t = base();
    let offer = al.allocate(t).remove(0);
    assert_eq!(offer.framework_id, fid("f"));
    // `f` accepts with RESERVE of 2 cpus for its role.
    let mut from = res("cpus:2");
    from.allocate("r");
    let mut to = res("cpus(r):2");
    to.allocate("r");
    assert!(al.update_allocation(&fid("f"), &aid("a"), &from, &to));
    assert_eq!(
        al.agent_total(&aid("a")),
        Some(&res("cpus:2;cpus(r):2;mem:1024"))
    );
    let mut held = res("cpus:2;cpus(r):2;mem:1024");
    held.allocate("r");
    assert_eq!(al.framework_allocated(&fid("f"))[&aid("a")], held);
    assert_eq!(
        al.role_share("r"),
        Some(1.0),
        "a reservation keeps the quantity"
    );
    // Not held: nothing changes.
    let mut three = res("cpus:3");
    three.allocate("r");
    assert!(!al.update_allocation(&fid("f"), &aid("a"), &three, &to));
    assert!(!al.update_allocation(&fid("g"), &aid("a"), &from, &to));

    // Everything comes back; the other role only sees the unreserved part.
    al.recover_resources(&fid("f"), &aid("a"), &held, Some(secs(3600)), t);
    al.revive_offers(&fid("g"), None);
    let offers = al.allocate(t + secs(1));
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0].framework_id, fid("g"));
    let mut want = res("cpus:2;mem:1024");
    want.allocate("other");
    assert_eq!(offers[0].resources, want);
}

#[test]
fn agent_changes() {
    let mut al = allocator();
    al.add_framework(fid("f"), spec(&["r"]), HashMap::new(), true);
    al.add_agent(aid("a"), res("cpus:4;mem:1024"), HashMap::new());
    let offer = al.allocate(base()).remove(0);
    // Grown while the offer is out: only the growth is offered.
    al.update_agent_total(&aid("a"), res("cpus:6;mem:1024"));
    let offers = al.allocate(base() + secs(1));
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0].resources.cpus(), Some(2.0));
    assert!(offers[0].resources.mem().is_none());
    al.remove_agent(&aid("a"));
    assert!(al.framework_allocated(&fid("f")).is_empty());
    assert_eq!(al.role_share("r"), Some(0.0));
    // A late recovery for a removed agent is ignored.
    al.recover_resources(&fid("f"), &aid("a"), &offer.resources, None, base());
    assert!(al.allocate(base() + secs(2)).is_empty());
}

#[test]
fn an_idle_cycle_does_no_work() {
    let mut al = allocator();
    al.add_framework(fid("f"), spec(&["r"]), HashMap::new(), true);
    for i in 0..10 {
        al.add_agent(aid(&format!("a{i}")), res("cpus:1;mem:64"), HashMap::new());
    }
    assert!(al.has_pending_work());
    assert_eq!(al.allocate(base()).len(), 10);
    assert!(!al.has_pending_work());
    assert!(al.allocate(base() + secs(1)).is_empty());
}

#[test]
fn the_agent_order_is_a_function_of_the_seed() {
    let run = |seed| {
        let mut al = Allocator::new(AllocatorConfig {
            seed,
            ..AllocatorConfig::default()
        });
        for f in 0..3 {
            al.add_framework(fid(&format!("f{f}")), spec(&["r"]), HashMap::new(), true);
        }
        for i in 0..30 {
            al.add_agent(aid(&format!("a{i}")), res("cpus:1;mem:64"), HashMap::new());
        }
        al.allocate(base())
            .into_iter()
            .map(|o| (o.framework_id, o.agent_id))
            .collect::<Vec<_>>()
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
}

// ---- Property test ------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    AddAgent(u8),
    RemoveAgent(u8),
    ToggleAgent(u8),
    ResizeAgent(u8),
    AddFramework(u8, u8),
    RemoveFramework(u8),
    ToggleFramework(u8),
    Suppress(u8),
    Revive(u8),
    UpdateRoles(u8, u8),
    /// Recover the n-th outstanding holding, all of it or only its cpus,
    /// with a filter of that many seconds.
    Recover(u8, bool, u8),
    Weight(u8, u8),
    Allocate(u8),
    /// Reserve one held unreserved cpu of the n-th holding for its role.
    Reserve(u8),
}

const ROLES: [&str; 3] = ["r1", "r2", "r1/sub"];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..6).prop_map(Op::AddAgent),
        (0u8..6).prop_map(Op::RemoveAgent),
        (0u8..6).prop_map(Op::ToggleAgent),
        (0u8..6).prop_map(Op::ResizeAgent),
        (0u8..4, 1u8..8).prop_map(|(f, m)| Op::AddFramework(f, m)),
        (0u8..4).prop_map(Op::RemoveFramework),
        (0u8..4).prop_map(Op::ToggleFramework),
        (0u8..4).prop_map(Op::Suppress),
        (0u8..4).prop_map(Op::Revive),
        (0u8..4, 1u8..8).prop_map(|(f, m)| Op::UpdateRoles(f, m)),
        (any::<u8>(), any::<bool>(), 0u8..4).prop_map(|(i, all, s)| Op::Recover(i, all, s)),
        (0u8..3, 1u8..5).prop_map(|(r, w)| Op::Weight(r, w)),
        (0u8..3).prop_map(Op::Allocate),
        (0u8..3).prop_map(Op::Allocate),
        any::<u8>().prop_map(Op::Reserve),
    ]
}

fn role_set(mask: u8) -> Vec<&'static str> {
    ROLES
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, r)| *r)
        .collect()
}

fn agent_total(i: u8, big: bool) -> Resources {
    let cpus = if big { 8 } else { 4 };
    res(&format!(
        "cpus:{cpus};mem:1024;ports:[{}-{}];cpus(r1):2;mem(r2):128",
        1000 * i as u32,
        1000 * i as u32 + 99
    ))
}

/// What the test knows the frameworks hold.
#[derive(Default)]
struct Model {
    agents: HashMap<AgentId, (Resources, bool)>,
    frameworks: HashMap<FrameworkId, (FrameworkSpec, bool)>,
    /// Offered and not recovered, per framework and agent, with roles.
    held: Vec<(FrameworkId, AgentId, Resources)>,
}

impl Model {
    fn held_on(&self, agent: &AgentId) -> Resources {
        let mut sum = Resources::new();
        for (_, a, r) in &self.held {
            if a == agent {
                let mut r = r.clone();
                r.unallocate();
                sum += &r;
            }
        }
        sum
    }
}

fn check(al: &Allocator, model: &Model) -> Result<(), TestCaseError> {
    for (id, (total, _)) in &model.agents {
        prop_assert_eq!(al.agent_total(id), Some(total));
        let available = al.agent_available(id).unwrap();
        let held = model.held_on(id);
        prop_assert_eq!(&(available + &held), total, "agent {}", id);
    }
    for id in model.frameworks.keys() {
        let mut want: BTreeMap<AgentId, Resources> = BTreeMap::new();
        for (f, a, r) in &model.held {
            if f == id {
                *want.entry(a.clone()).or_default() += r;
            }
        }
        prop_assert_eq!(al.framework_allocated(id), want, "framework {}", id);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn offered_plus_held_plus_available_is_total(ops in prop::collection::vec(op(), 1..60)) {
        let mut al = allocator();
        let mut model = Model::default();
        let mut now = base();
        for op in ops {
            match op {
                Op::AddAgent(i) => {
                    let id = aid(&format!("a{i}"));
                    if let Entry::Vacant(e) = model.agents.entry(id.clone()) {
                        let total = agent_total(i, false);
                        al.add_agent(id, total.clone(), HashMap::new());
                        e.insert((total, true));
                    }
                }
                Op::RemoveAgent(i) => {
                    let id = aid(&format!("a{i}"));
                    al.remove_agent(&id);
                    model.agents.remove(&id);
                    model.held.retain(|(_, a, _)| *a != id);
                }
                Op::ToggleAgent(i) => {
                    let id = aid(&format!("a{i}"));
                    if let Some((_, active)) = model.agents.get_mut(&id) {
                        *active = !*active;
                        if *active { al.activate_agent(&id) } else { al.deactivate_agent(&id) }
                    }
                }
                Op::ResizeAgent(i) => {
                    let id = aid(&format!("a{i}"));
                    // Grow only: shrinking below what is held is the
                    // master's business.
                    let bigger = agent_total(i, true);
                    let held = model.held_on(&id);
                    if let Some((total, _)) = model.agents.get_mut(&id) {
                        if !bigger.contains(&held) || *total == bigger {
                            continue;
                        }
                        *total = bigger.clone();
                        al.update_agent_total(&id, bigger);
                    }
                }
                Op::AddFramework(f, mask) => {
                    let id = fid(&format!("f{f}"));
                    if let Entry::Vacant(e) = model.frameworks.entry(id.clone()) {
                        let s = spec(&role_set(mask));
                        al.add_framework(id, s.clone(), HashMap::new(), true);
                        e.insert((s, true));
                    }
                }
                Op::RemoveFramework(f) => {
                    let id = fid(&format!("f{f}"));
                    al.remove_framework(&id);
                    model.frameworks.remove(&id);
                    model.held.retain(|(fw, _, _)| *fw != id);
                }
                Op::ToggleFramework(f) => {
                    let id = fid(&format!("f{f}"));
                    if let Some((_, active)) = model.frameworks.get_mut(&id) {
                        *active = !*active;
                        if *active { al.activate_framework(&id) } else { al.deactivate_framework(&id) }
                    }
                }
                Op::Suppress(f) => {
                    let id = fid(&format!("f{f}"));
                    if let Some((s, _)) = model.frameworks.get_mut(&id) {
                        al.suppress_offers(&id, None);
                        s.suppressed_roles = s.roles.clone();
                    }
                }
                Op::Revive(f) => {
                    let id = fid(&format!("f{f}"));
                    if let Some((s, _)) = model.frameworks.get_mut(&id) {
                        al.revive_offers(&id, None);
                        s.suppressed_roles.clear();
                    }
                }
                Op::UpdateRoles(f, mask) => {
                    let id = fid(&format!("f{f}"));
                    if let Some((s, _)) = model.frameworks.get_mut(&id) {
                        s.roles = role_set(mask).iter().map(|r| r.to_string()).collect();
                        s.suppressed_roles.retain(|r| s.roles.contains(r));
                        al.update_framework(&id, s.clone());
                    }
                }
                Op::Recover(i, all, refuse) => {
                    if model.held.is_empty() {
                        continue;
                    }
                    let i = i as usize % model.held.len();
                    let (f, a, held) = model.held[i].clone();
                    let part = if all { held.clone() } else { held.filter(|r| r.name == "cpus") };
                    let refuse = (refuse > 0).then(|| secs(refuse as u64));
                    al.recover_resources(&f, &a, &part, refuse, now);
                    let rest = &held - &part;
                    if rest.is_empty() {
                        model.held.remove(i);
                    } else {
                        model.held[i].2 = rest;
                    }
                }
                Op::Reserve(i) => {
                    if model.held.is_empty() {
                        continue;
                    }
                    let i = i as usize % model.held.len();
                    let (f, a, held) = model.held[i].clone();
                    let Some(role) = held.iter().find_map(|r| r.allocation_role.clone()) else {
                        continue;
                    };
                    let mut from = res("cpus:1");
                    from.allocate(&role);
                    let mut to: Resources = Resource::scalar("cpus", 1.0).with_role(role.as_str()).into();
                    to.allocate(&role);
                    let applied = al.update_allocation(&f, &a, &from, &to);
                    prop_assert_eq!(applied, held.contains(&from));
                    if applied {
                        model.held[i].2 = &(&held - &from) + &to;
                        let total = &mut model.agents.get_mut(&a).unwrap().0;
                        *total = &(&*total - &res("cpus:1")) + &to.iter().map(|r| {
                            let mut r = r.clone();
                            r.allocation_role = None;
                            r
                        }).collect::<Resources>();
                    }
                }
                Op::Weight(r, w) => {
                    al.update_weights(&[(ROLES[r as usize].to_string(), w as f64)]);
                }
                Op::Allocate(advance) => {
                    now += secs(advance as u64);
                    let before: HashMap<AgentId, Resources> = model
                        .agents
                        .keys()
                        .map(|a| (a.clone(), al.agent_available(a).unwrap().clone()))
                        .collect();
                    let offers = al.allocate(now);
                    let mut offered: HashMap<AgentId, Resources> = HashMap::new();
                    for o in &offers {
                        let (s, active) = &model.frameworks[&o.framework_id];
                        prop_assert!(*active, "offer to an inactive framework");
                        prop_assert!(s.roles.contains(&o.role), "offer for a role not subscribed");
                        prop_assert!(!s.suppressed_roles.contains(&o.role), "offer to a suppressed role");
                        prop_assert!(model.agents[&o.agent_id].1, "offer from a deactivated agent");
                        prop_assert!(!o.resources.is_empty());
                        let mut plain = o.resources.clone();
                        plain.unallocate();
                        prop_assert!(
                            plain.iter().all(|r| r.is_allocatable_to(&o.role)),
                            "{} offered to role {}", plain, o.role
                        );
                        *offered.entry(o.agent_id.clone()).or_default() += &plain;
                        model.held.push((o.framework_id.clone(), o.agent_id.clone(), o.resources.clone()));
                    }
                    for (a, sum) in &offered {
                        // Disjoint offers: together no more than was free.
                        prop_assert!(before[a].contains(sum), "{} offered from {}", sum, before[a]);
                        prop_assert_eq!(&(&before[a] - sum), al.agent_available(a).unwrap());
                    }
                    // Merge holdings of the same framework, agent and role
                    // so that recovering one entry recovers whole offers.
                    let mut merged: Vec<(FrameworkId, AgentId, Resources)> = Vec::new();
                    for (f, a, r) in model.held.drain(..) {
                        match merged.iter_mut().find(|(mf, ma, _)| *mf == f && *ma == a) {
                            Some(m) => m.2 += &r,
                            None => merged.push((f, a, r)),
                        }
                    }
                    model.held = merged;
                }
            }
            check(&al, &model)?;
        }
    }
}

#[test]
fn allocation_order_depends_on_the_seed_not_on_the_order_agents_freed_up() {
    let run = |order: &[usize]| {
        let mut al = allocator();
        let t = base();
        for i in 0..16 {
            al.add_agent(aid(&format!("a{i}")), res("cpus:1;mem:64"), HashMap::new());
        }
        al.add_framework(fid("f"), spec(&["*"]), HashMap::new(), true);
        let offers = al.allocate(t);
        assert_eq!(offers.len(), 16);
        for &i in order {
            let o = &offers[i];
            al.recover_resources(&o.framework_id, &o.agent_id, &o.resources, None, t);
        }
        al.allocate(t + secs(1))
            .into_iter()
            .map(|o| o.agent_id)
            .collect::<Vec<_>>()
    };
    let forward: Vec<usize> = (0..16).collect();
    let backward: Vec<usize> = (0..16).rev().collect();
    assert_eq!(run(&forward), run(&backward));
}
