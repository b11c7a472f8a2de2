//! The simulated world on the standard workload.
//!
//! Workload (`Plan::standard()`): 1,000 sessions across 50 hubspot accounts and 10 API keys,
//! 10,000 transfers (half pulls, half pushes, 10 % synchronous) moving 2,000,000 records, real
//! provider budgets (100 requests per 10 s per account: rate limits on), 64 transfers open at a
//! time, every completed transfer's data pages read back: exactly `transfersim load --target
//! memory --sessions 1000 --accounts 50 --transfers 10000 --records 2000000 --provider-budget
//! real --concurrency 64`, set-up included, the world's drop not (as the CLI exits without it). Criterion reports records per wall second (the
//! throughput is in records); the load command prints transfers/s and records/s of one run.
//!
//! Test mode (`cargo test --benches`) runs a scaled-down plan (100 sessions, 1,000 transfers,
//! 20,000 records) once, and asserts every transfer and record was counted.

mod common;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use transfersim::load::{LoadConfig, LoadTarget, Plan, memory};

fn config() -> LoadConfig {
    let mut plan = Plan::standard();
    if !common::measuring() {
        plan.sessions = 100;
        plan.transfers = 1_000;
        plan.records_per_transfer = 20;
    }
    LoadConfig {
        target: LoadTarget::Memory,
        plan,
        concurrency: 64,
        duration: None,
        seed: 0,
        progress: false,
        pipeline: true,
    }
}

fn standard_workload(c: &mut Criterion) {
    let config = config();
    let mut group = c.benchmark_group("world");
    group.sample_size(10);
    group.throughput(Throughput::Elements(config.plan.records_total()));
    group.bench_function("standard_workload", |b| {
        // The world is dropped outside the timing (freeing a million records is not the
        // world's work), as `transfersim load` leaves it to the process's exit.
        b.iter_with_large_drop(|| {
            let started = std::time::Instant::now();
            let prepared = match memory::prepare(&config.plan, config.seed) {
                Ok(prepared) => prepared,
                Err(error) => panic!("the standard workload sets up: {error:#}"),
            };
            let (report, world) = memory::run_prepared(&config, prepared, started);
            assert_eq!(report.transfers_completed, config.plan.transfers as u64);
            assert_eq!(report.records, config.plan.records_total());
            assert_eq!(report.errors.count, 0, "{:?}", report.errors.messages);
            (report, world)
        });
    });
    group.finish();
}

criterion_group!(benches, standard_workload);
criterion_main!(benches);
