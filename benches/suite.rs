//! The whole conformance suite, in memory.
//!
//! Workload: every scenario of the embedded suite (`scenarios/`, as `transfersim check` runs
//! it), each on a fresh in-memory target, one job (one thread). The throughput element is one
//! scenario. The simulated span of the suite (the sum of the scenarios' virtual time) is printed
//! once, so its ratio to the wall time can be read off the bench output.

mod common;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use transfersim::runner::memory::MemoryTarget;
use transfersim::runner::target::Target;
use transfersim::runner::{self, RunOptions, suite};
use transfersim_sim::engine::EngineConfig;

fn whole_suite(c: &mut Criterion) {
    let items = match suite::embedded() {
        Ok(items) => items,
        Err(error) => panic!("the embedded suite loads: {error}"),
    };
    let options = RunOptions {
        jobs: 1,
        ..RunOptions::default()
    };
    let make_target =
        || -> Box<dyn Target> { Box::new(MemoryTarget::new(EngineConfig::default())) };
    let run = || {
        let results = runner::run_suite(&items, &options, &make_target, &mut |_, _| {});
        assert_eq!(results.len(), items.len(), "every scenario has a result");
        results
    };
    let started = std::time::Instant::now();
    let results = run();
    let wall = started.elapsed().as_secs_f64();
    let span_ms: u64 = results.iter().map(|result| result.scenario_ms).sum();
    eprintln!(
        "suite: {} scenarios, simulated span {:.1} s, one run {:.3} s wall: {:.0}x faster than its span",
        results.len(),
        span_ms as f64 / 1_000.0,
        wall,
        span_ms as f64 / 1_000.0 / wall
    );
    let mut group = c.benchmark_group("suite");
    group.sample_size(10);
    group.throughput(Throughput::Elements(items.len() as u64));
    group.bench_function("in_memory", |b| b.iter(run));
    group.finish();
}

criterion_group!(benches, whole_suite);
criterion_main!(benches);
