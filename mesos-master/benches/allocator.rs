//! Allocator benchmarks, in the shapes of Mesos's
//! `HierarchicalAllocator_BENCHMARK_Test` (`DeclineOffers`,
//! `AddAndUpdateSlave`) in `src/tests/hierarchical_allocator_tests.cpp`.
//!
//! Run with `cargo bench -p mesos-master --bench allocator`. Sample sizes
//! are small so that the whole run takes a few minutes on two cores.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use mesos::ids::{AgentId, FrameworkId};
use mesos::resources::{Resource, Resources};
use mesos_master::allocator::{Allocation, Allocator, AllocatorConfig, FrameworkSpec};

/// The one clock reading; the allocator itself never reads the clock.
#[allow(clippy::disallowed_methods)]
fn base() -> Instant {
    Instant::now()
}

/// An agent as in `DeclineOffers`: 24 cpus, 4 GB, 4 GB of disk, 1001 ports.
fn agent_resources() -> Resources {
    Resources::parse("cpus:24;mem:4096;disk:4096;ports:[31000-32000]").unwrap()
}

/// What one framework already runs on each agent in `DeclineOffers`: 16
/// tasks of one cpu, each with a port, so the ports are in 16 fragments.
fn used_resources(role: &str) -> Resources {
    let mut used = Resources::parse("cpus:16;mem:2014;disk:1024").unwrap();
    let ports = (0..16u64).map(|i| (31000 + i * 60, 31000 + i * 60 + 29));
    used += &Resource::ranges("ports", ports);
    used.allocate(role);
    used
}

fn framework_id(i: usize) -> FrameworkId {
    FrameworkId::new(format!("framework-{i:05}"))
}

fn agent_id(i: usize) -> AgentId {
    AgentId::new(format!("agent-{i:05}"))
}

/// Frameworks spread over `roles` roles, agents each with one framework's
/// tasks (round robin), as `DeclineOffers` sets them up.
fn cluster(agents: usize, frameworks: usize, roles: usize) -> Allocator {
    let mut al = Allocator::new(AllocatorConfig::default());
    let role = |f: usize| format!("role-{}", f % roles);
    for f in 0..frameworks {
        let spec = FrameworkSpec {
            roles: BTreeSet::from([role(f)]),
            ..FrameworkSpec::default()
        };
        al.add_framework(framework_id(f), spec, HashMap::new(), true);
    }
    let total = agent_resources();
    for a in 0..agents {
        let f = a % frameworks;
        let used = HashMap::from([(framework_id(f), used_resources(&role(f)))]);
        al.add_agent(agent_id(a), total.clone(), used);
    }
    al
}

/// Declines every offer for as long as Mesos's benchmark does (`INT_MAX`
/// seconds, cut to a year).
fn decline(al: &mut Allocator, offers: &[Allocation], now: Instant) {
    for o in offers {
        al.recover_resources(
            &o.framework_id,
            &o.agent_id,
            &o.resources,
            Some(Duration::from_secs(i32::MAX as u64)),
            now,
        );
    }
}

fn allocate(c: &mut Criterion) {
    let mut group = c.benchmark_group("allocate");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));

    // The first cycle: every agent's free part goes to some framework.
    for (agents, frameworks, roles) in [(10_000, 1_000, 1), (50_000, 100, 10)] {
        let name = format!("first_cycle/{agents}_agents/{frameworks}_frameworks/{roles}_roles");
        group.bench_function(name, |b| {
            b.iter_batched(
                || cluster(agents, frameworks, roles),
                |mut al| {
                    let offers = al.allocate(base());
                    assert_eq!(offers.len(), agents);
                    (al, offers)
                },
                BatchSize::PerIteration,
            );
        });
    }

    // A later `DeclineOffers` round: every agent has refused five
    // frameworks, which are skipped on the way to the sixth.
    group.bench_function("decline_round_6/10000_agents/1000_frameworks", |b| {
        b.iter_batched(
            || {
                let mut al = cluster(10_000, 1_000, 1);
                let t = base();
                for _ in 0..5 {
                    let offers = al.allocate(t);
                    decline(&mut al, &offers, t);
                }
                al
            },
            |mut al| {
                let offers = al.allocate(base());
                assert_eq!(offers.len(), 10_000);
                (al, offers)
            },
            BatchSize::PerIteration,
        );
    });

    // Nothing changed since the last cycle: no agent is reconsidered.
    group.bench_function("idle_cycle/10000_agents/1000_frameworks", |b| {
        let mut al = cluster(10_000, 1_000, 1);
        let t = base();
        assert_eq!(al.allocate(t).len(), 10_000);
        b.iter(|| {
            let offers = al.allocate(t);
            assert!(offers.is_empty());
            offers
        });
    });

    // Steady churn: 1% of the agents get a finished task back between
    // cycles; only they are reconsidered.
    group.bench_function("churn_100_agents/10000_agents/1000_frameworks", |b| {
        let mut al = cluster(10_000, 1_000, 1);
        let t = base();
        let mut offers: HashMap<AgentId, Allocation> = al
            .allocate(t)
            .into_iter()
            .map(|o| (o.agent_id.clone(), o))
            .collect();
        let order: Vec<AgentId> = (0..10_000).map(agent_id).collect();
        let mut next = 0;
        b.iter(|| {
            for _ in 0..100 {
                let o = &offers[&order[next % order.len()]];
                al.recover_resources(&o.framework_id, &o.agent_id, &o.resources, None, t);
                next += 1;
            }
            let new = al.allocate(t);
            assert_eq!(new.len(), 100);
            // Keep the offers current so that the next recovery is valid.
            for o in new {
                offers.insert(o.agent_id.clone(), o);
            }
        });
    });
    group.finish();
}

fn add_agents(c: &mut Criterion) {
    let mut group = c.benchmark_group("add_agents");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));

    // `AddAndUpdateSlave`: frameworks first, then agents each with a
    // slice used by one framework (round robin).
    group.bench_function("10000_agents/1000_frameworks", |b| {
        b.iter_batched(
            || {
                let al = cluster(0, 1_000, 1);
                let agents: Vec<(AgentId, Resources, HashMap<FrameworkId, Resources>)> = (0
                    ..10_000)
                    .map(|a| {
                        let used =
                            HashMap::from([(framework_id(a % 1_000), used_resources("role-0"))]);
                        (agent_id(a), agent_resources(), used)
                    })
                    .collect();
                (al, agents)
            },
            |(mut al, agents)| {
                for (id, total, used) in agents {
                    al.add_agent(id, total, used);
                }
                al
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

criterion_group!(benches, allocate, add_agents);
criterion_main!(benches);
