//! Engine steps per second on a mixed workload.
//!
//! Workload: a simulated world with 40 sessions over 8 hubspot accounts with unlimited budgets
//! (4 seeded with 500 contacts for pulls, 4 written by pushes), 400 transfers of 500 records (half
//! pulls, half pushes, 10 % synchronous), run to completion. Throughput is counted in scheduler
//! steps ([`World::step`]: one provider outcome or engine timer delivered, plus the outputs it
//! causes); the set-up (accounts, sessions) is outside the measurement. Test mode runs 40
//! transfers once.

mod common;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use transfersim::load::{Plan, ProviderBudget, generated_keys, memory};
use transfersim_sim::world::World;

fn plan() -> Plan {
    let transfers = if common::measuring() { 400 } else { 40 };
    Plan {
        sessions: 40,
        accounts: 8,
        transfers,
        records_per_transfer: 500,
        sync_ratio: 0.1,
        provider_budget: ProviderBudget::Unlimited,
        api_keys: generated_keys(4),
    }
}

/// Triggers every transfer of the plan at once and runs the world until it is idle.
fn run(mut world: World, sessions: &[String], plan: &Plan) -> u64 {
    for transfer in 0..plan.transfers {
        let session = plan.session_of(transfer);
        let body = plan.trigger_body(transfer, &sessions[session]);
        let path = format!("/api/{}/transfer", plan.kind(session).as_str());
        world.call_bytes("POST", &path, plan.key_of(session), Some(body));
    }
    let before = world.events_processed();
    world.run_until_idle(24 * 3_600_000);
    world.events_processed() - before
}

fn engine_steps(c: &mut Criterion) {
    let plan = plan();
    let prepare = || match memory::prepare(&plan, 7) {
        Ok(prepared) => prepared,
        Err(error) => panic!("the bench workload sets up: {error:#}"),
    };
    let steps = {
        let prepared = prepare();
        run(prepared.world, &prepared.sessions, &plan)
    };
    assert!(steps > 0, "the mixed workload made no steps");
    let mut group = c.benchmark_group("engine");
    group.sample_size(10);
    group.throughput(Throughput::Elements(steps));
    group.bench_function("steps_mixed_workload", |b| {
        b.iter_batched(
            prepare,
            |prepared| run(prepared.world, &prepared.sessions, &plan),
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

criterion_group!(benches, engine_steps);
criterion_main!(benches);
