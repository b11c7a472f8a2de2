//! `transfersim fuzz`: seeded random workloads on the simulated world, invariant checkers after
//! every turn, and failures shrunk to a scenario file (FoundationDB's simulation testing and
//! TigerBeetle's VOPR, plus proptest's shrinking).
//!
//! - `workload.rs`: the proptest strategies and the workload → [`Scenario`] translation;
//! - `shrink.rs`: shrinking a failing seed's workload and writing it under
//!   `scenarios/regressions/`;
//! - this file: one seed's run ([`run_scenario`], [`run_seed`]) and the command ([`run`]):
//!   seeds, shards, the time limit, determinism checks, replay and the summary.
//!
//! A seed fixes everything: the workload is drawn from a proptest runner seeded with it, and the
//! scenario's world is seeded with it too. So `--replay SEED` reruns exactly one failure.
//!
//! **Boundary:** the only wall time here is the time limit and the rates in the summary; a
//! seed's result never depends on them.

pub mod shrink;
pub mod workload;

use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::time::{Duration as WallDuration, Instant};

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use transfersim_sim::engine::EngineConfig;
use transfersim_sim::time::DEFAULT_EPOCH_MS;

use crate::runner::checkers;
use crate::runner::execute::{Execution, Failure, Stop};
use crate::runner::{MemoryTarget, Mismatch, StartPlan, Target};
use crate::scenario::Scenario;
use workload::Workload;

/// The failure name of a scenario step that failed without breaking a checker (an expectation,
/// the span, a target error).
pub const SCENARIO_FAILURE: &str = "scenario";
/// The failure name of a panic inside the world.
pub const PANIC_FAILURE: &str = "panic";

/// Why a run failed: the broken invariant's name (or [`SCENARIO_FAILURE`], [`PANIC_FAILURE`])
/// and what it said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuzzFailure {
    pub invariant: String,
    pub step: String,
    pub message: String,
}

/// One run of one scenario.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub failure: Option<FuzzFailure>,
    /// World events processed.
    pub events: u64,
    pub trace_hash: String,
    pub trace: Vec<String>,
}

/// The proptest runner a seed draws its workload from: no failure persistence (nothing is
/// written next to the sources), ChaCha seeded with the seed.
pub fn runner_for(seed: u64) -> TestRunner {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..16].copy_from_slice(b"xfersim!");
    let config = Config {
        failure_persistence: None,
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
}

/// The workload of `seed`.
pub fn workload_for(seed: u64) -> Workload {
    let mut runner = runner_for(seed);
    match workload::workload().new_tree(&mut runner) {
        Ok(tree) => tree.current(),
        Err(reason) => panic!("the workload strategy never rejects, but said: {reason}"),
    }
}

/// The scenario of `seed`.
pub fn scenario_for(seed: u64) -> Scenario {
    workload_for(seed).to_scenario(&format!("fuzz seed {seed}"), seed)
}

/// Runs `scenario` on a fresh in-memory target with `engine`, checking every per-step invariant
/// after every scheduler turn (the scenario's final `invariants` step checks them all).
pub fn run_scenario(scenario: &Scenario, engine: EngineConfig) -> RunReport {
    let mut target = MemoryTarget::new(engine);
    let seed = scenario.seed.unwrap_or(0);
    let every_step = checkers::every_step();
    let outcome = catch_unwind(AssertUnwindSafe(|| -> Result<(), Stop> {
        target
            .start(StartPlan {
                seed,
                epoch_ms: DEFAULT_EPOCH_MS,
                span_ms: scenario.span.as_millis(),
            })
            .map_err(|error| {
                Stop::Failed(Failure {
                    step: "setup".to_owned(),
                    message: error.to_string(),
                    mismatches: Vec::new(),
                })
            })?;
        let mut execution = Execution::prepare(&mut target, scenario, seed)?;
        execution.run_observed(&mut |target| {
            let Some(world) = target.world() else {
                return Ok(());
            };
            match checkers::first_broken(&every_step, world) {
                None => Ok(()),
                Some((name, message)) => Err(Stop::Failed(Failure {
                    step: format!("after {} ms", world.elapsed_ms()),
                    message: "an invariant is broken".to_owned(),
                    mismatches: vec![Mismatch {
                        what: name.to_owned(),
                        expected: "holds".to_owned(),
                        actual: message,
                    }],
                })),
            }
        })
    }));
    let known = checkers::names();
    let failure = match outcome {
        Ok(Ok(())) | Ok(Err(Stop::Skipped(_))) => None,
        Ok(Err(Stop::Failed(failure))) => {
            let named = failure
                .mismatches
                .iter()
                .find(|mismatch| known.contains(&mismatch.what.as_str()));
            Some(match named {
                Some(mismatch) => FuzzFailure {
                    invariant: mismatch.what.clone(),
                    step: failure.step.clone(),
                    message: mismatch.actual.clone(),
                },
                None => {
                    // A step failed on its own (the span, an expectation): a checker may name
                    // the cause better, so ask them over the final world.
                    let broken = target
                        .world()
                        .and_then(|world| checkers::first_broken(&every_step, world));
                    match broken {
                        Some((name, message)) => FuzzFailure {
                            invariant: name.to_owned(),
                            step: failure.step.clone(),
                            message,
                        },
                        None => FuzzFailure {
                            invariant: SCENARIO_FAILURE.to_owned(),
                            step: failure.step.clone(),
                            message: failure.message.clone(),
                        },
                    }
                }
            })
        }
        Err(panic) => Some(FuzzFailure {
            invariant: PANIC_FAILURE.to_owned(),
            step: "(the world panicked)".to_owned(),
            message: panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|text| (*text).to_owned()))
                .unwrap_or_else(|| "a panic without a message".to_owned()),
        }),
    };
    RunReport {
        failure,
        events: target.world().map_or(0, |world| world.events_processed()),
        trace_hash: target.trace_hash().unwrap_or_default(),
        trace: target.trace(),
    }
}

/// Runs the workload of `seed`.
pub fn run_seed(seed: u64, engine: &EngineConfig) -> RunReport {
    run_scenario(&scenario_for(seed), engine.clone())
}

/// How `transfersim fuzz` runs, validated from its flags.
#[derive(Debug, Clone)]
pub struct FuzzConfig {
    /// The first seed.
    pub from: u64,
    /// How many seeds (before sharding).
    pub seeds: u64,
    /// Stop starting new seeds after this much wall time.
    pub time_limit: Option<WallDuration>,
    /// `(index, count)`: run only seeds with `seed % count == index`.
    pub shard: (u64, u64),
    /// Run each seed twice and compare trace hashes.
    pub check_determinism: bool,
    /// Shrink failures and write them here (`None`: do not shrink).
    pub regressions: Option<PathBuf>,
    /// The engine the worlds run (a mutation build sets a mutation here).
    pub engine: EngineConfig,
    /// The name of the mutation, for messages and replay commands.
    pub mutation: Option<String>,
}

/// A failing seed, with where its shrunk scenario went.
#[derive(Debug, Clone)]
pub struct SeedFailure {
    pub seed: u64,
    pub failure: FuzzFailure,
    pub shrunk: Option<shrink::Shrunk>,
}

/// What a fuzz run found.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub simulations: u64,
    pub events: u64,
    pub wall: WallDuration,
    pub failures: Vec<SeedFailure>,
}

impl Summary {
    /// Simulations per second of wall time.
    pub fn simulations_per_second(&self) -> f64 {
        self.simulations as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    /// World events per second of wall time.
    pub fn events_per_second(&self) -> f64 {
        self.events as f64 / self.wall.as_secs_f64().max(1e-9)
    }
}

/// The seeds a configuration runs, in order.
pub fn seeds_of(config: &FuzzConfig) -> impl Iterator<Item = u64> + '_ {
    let (index, count) = config.shard;
    (config.from..config.from.saturating_add(config.seeds))
        .filter(move |seed| seed % count.max(1) == index)
}

/// Runs the seeds; `progress` gets a line now and then on long runs.
pub fn fuzz(config: &FuzzConfig, progress: &mut dyn FnMut(&str)) -> Summary {
    let started = Instant::now();
    let mut summary = Summary::default();
    let mut last_progress = Instant::now();
    for seed in seeds_of(config) {
        if config
            .time_limit
            .is_some_and(|limit| started.elapsed() >= limit)
        {
            progress(&format!(
                "time limit reached after {} simulations",
                summary.simulations
            ));
            break;
        }
        let report = run_seed(seed, &config.engine);
        summary.simulations += 1;
        summary.events += report.events;
        let mut failure = report.failure.clone();
        if config.check_determinism && failure.is_none() {
            let again = run_seed(seed, &config.engine);
            summary.simulations += 1;
            summary.events += again.events;
            if again.trace_hash != report.trace_hash {
                failure = Some(FuzzFailure {
                    invariant: "determinism".to_owned(),
                    step: "(whole run)".to_owned(),
                    message: format!(
                        "two runs of seed {seed} gave trace hashes {} and {}",
                        report.trace_hash, again.trace_hash
                    ),
                });
            }
        }
        if let Some(failure) = failure {
            progress(&format!(
                "seed {seed} failed: {}: {}",
                failure.invariant, failure.message
            ));
            let shrunk = config.regressions.as_ref().and_then(|dir| {
                if failure.invariant == "determinism" {
                    return None;
                }
                let shrunk = shrink::shrink(seed, &config.engine, &failure.invariant);
                match shrink::write(dir, &shrunk, config.mutation.as_deref()) {
                    Ok(path) => Some(shrink::Shrunk {
                        path: Some(path),
                        ..shrunk
                    }),
                    Err(error) => {
                        progress(&format!("cannot write the shrunk scenario: {error}"));
                        Some(shrunk)
                    }
                }
            });
            summary.failures.push(SeedFailure {
                seed,
                failure,
                shrunk,
            });
        }
        if last_progress.elapsed() >= WallDuration::from_secs(5) {
            last_progress = Instant::now();
            progress(&format!(
                "{} simulations, {:.0}/s, {} failures",
                summary.simulations,
                summary.simulations as f64 / started.elapsed().as_secs_f64().max(1e-9),
                summary.failures.len()
            ));
        }
    }
    summary.wall = started.elapsed();
    summary
}

/// The command that replays one seed.
pub fn replay_command(seed: u64, mutation: Option<&str>) -> String {
    match mutation {
        Some(name) => format!("transfersim fuzz --replay {seed} --mutation {name}"),
        None => format!("transfersim fuzz --replay {seed}"),
    }
}

/// `transfersim fuzz --replay SEED`: the full trace, then the verdict. Exit 1 on failure.
pub fn replay(seed: u64, engine: &EngineConfig, out: &mut dyn Write) -> std::io::Result<u8> {
    let report = run_seed(seed, engine);
    for line in &report.trace {
        writeln!(out, "{line}")?;
    }
    writeln!(out, "trace hash {}", report.trace_hash)?;
    match &report.failure {
        None => {
            writeln!(out, "seed {seed} passed ({} events)", report.events)?;
            Ok(0)
        }
        Some(failure) => {
            writeln!(
                out,
                "seed {seed} FAILED at {}: {}: {}",
                failure.step, failure.invariant, failure.message
            )?;
            Ok(crate::cli::EXIT_FAILURE)
        }
    }
}

/// Prints the summary; answers the exit code (1 on any failure).
pub fn print_summary(
    summary: &Summary,
    mutation: Option<&str>,
    out: &mut dyn Write,
) -> std::io::Result<u8> {
    for failure in &summary.failures {
        writeln!(
            out,
            "FAILED seed {}: {} at {}: {}",
            failure.seed, failure.failure.invariant, failure.failure.step, failure.failure.message
        )?;
        writeln!(out, "  replay: {}", replay_command(failure.seed, mutation))?;
        if let Some(shrunk) = &failure.shrunk {
            match &shrunk.path {
                Some(path) => writeln!(
                    out,
                    "  shrunk to {} steps: {}\n  check it: transfersim check --scenarios {}",
                    shrunk.steps,
                    path.display(),
                    path.parent()
                        .map_or_else(String::new, |dir| dir.display().to_string())
                )?,
                None => writeln!(out, "  shrunk to {} steps (not written)", shrunk.steps)?,
            }
        }
    }
    writeln!(
        out,
        "{} simulations in {:.2}s: {:.1} simulations/s, {} events, {:.0} events/s, {} failures",
        summary.simulations,
        summary.wall.as_secs_f64(),
        summary.simulations_per_second(),
        summary.events,
        summary.events_per_second(),
        summary.failures.len()
    )?;
    Ok(if summary.failures.is_empty() {
        0
    } else {
        crate::cli::EXIT_FAILURE
    })
}

/// `transfersim fuzz`: flags to a [`FuzzConfig`], then replay or run and summarise.
pub fn command(args: &crate::cli::FuzzArgs) -> anyhow::Result<u8> {
    let (engine, mutation) = engine_config(args)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if let Some(seed) = args.replay {
        return Ok(replay(seed, &engine, &mut out)?);
    }
    let shard = match &args.shard {
        None => (0, 1),
        Some(text) => parse_shard(text)?,
    };
    let config = FuzzConfig {
        from: args.from,
        seeds: args.seeds,
        time_limit: args
            .time_limit
            .map(|limit| WallDuration::from_millis(limit.as_millis())),
        shard,
        check_determinism: args.check_determinism,
        regressions: (!args.no_shrink).then(|| args.regressions.clone()),
        engine,
        mutation: mutation.clone(),
    };
    let summary = fuzz(&config, &mut |line| eprintln!("fuzz: {line}"));
    Ok(print_summary(&summary, mutation.as_deref(), &mut out)?)
}

/// `i/n` with `i < n`.
fn parse_shard(text: &str) -> anyhow::Result<(u64, u64)> {
    let parsed = text
        .split_once('/')
        .and_then(|(index, count)| Some((index.parse::<u64>().ok()?, count.parse::<u64>().ok()?)));
    match parsed {
        Some((index, count)) if count > 0 && index < count => Ok((index, count)),
        _ => anyhow::bail!("--shard must be i/n with 0 <= i < n, e.g. 0/4; got `{text}`"),
    }
}

#[cfg(feature = "mutations")]
fn engine_config(args: &crate::cli::FuzzArgs) -> anyhow::Result<(EngineConfig, Option<String>)> {
    let mut config = EngineConfig::default();
    if let Some(name) = &args.mutation {
        let mutation: transfersim_sim::mutations::Mutation = name
            .parse()
            .map_err(|message: String| anyhow::anyhow!(message))?;
        config.mutation = Some(mutation);
    }
    Ok((config, args.mutation.clone()))
}

#[cfg(not(feature = "mutations"))]
fn engine_config(_args: &crate::cli::FuzzArgs) -> anyhow::Result<(EngineConfig, Option<String>)> {
    Ok((EngineConfig::default(), None))
}
