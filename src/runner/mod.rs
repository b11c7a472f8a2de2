//! The scenario runner: runs scenarios against a [`Target`] and gives one [`ScenarioResult`]
//! each.
//!
//! - `target.rs`: the [`Target`] and [`Providers`] traits, the seam to what is checked;
//! - `memory.rs`: the in-memory target, one fresh simulated world per scenario;
//! - `http.rs`: the HTTP target, any deployment, with the runner's own mock providers;
//! - `execute.rs`: one scenario's steps, as branches driven by one scheduler loop;
//! - `template.rs`, `expect.rs`, `generate.rs`: templates, expectations, generated bodies;
//! - `accounts.rs`: provider accounts, `provider` and `provider_expect` steps;
//! - `checkers.rs`: the invariant checker registry;
//! - `suite.rs`: the embedded suite and spec, `--scenarios` folders, coverage.
//!
//! **Invariant:** a scenario's result depends only on the scenario, its seed and the target:
//! `--jobs N` gives the same results as `--jobs 1`, and no input makes the runner panic (a panic
//! inside the world is caught and reported as that scenario's failure).

pub mod accounts;
pub mod checkers;
pub mod execute;
pub mod expect;
pub mod generate;
pub mod http;
pub mod memory;
pub mod suite;
pub mod target;
pub mod template;
pub mod webhooks;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use serde::Serialize;
use transfersim_sim::time::{DEFAULT_EPOCH_MS, parse_rfc3339};

pub use execute::{Failure, Stop};
pub use expect::Mismatch;
pub use http::{ConfigureMode, HttpOptions, HttpTarget};
pub use memory::MemoryTarget;
pub use suite::{Requirement, SuiteScenario};
pub use target::{Answer, ApiRequest, CallId, Clock, Providers, StartPlan, Target, TargetError};

use crate::scenario::Scenario;

/// How many trace lines a failure shows.
pub const TRACE_TAIL_LINES: usize = 30;

/// How a scenario ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Verdict {
    Passed,
    Failed {
        step: String,
        message: String,
        mismatches: Vec<MismatchReport>,
    },
    Skipped {
        reason: String,
    },
}

/// A mismatch as reports show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MismatchReport {
    pub what: String,
    pub expected: String,
    pub actual: String,
}

impl Verdict {
    /// `passed`, `failed` or `skipped`.
    pub fn word(&self) -> &'static str {
        match self {
            Verdict::Passed => "passed",
            Verdict::Failed { .. } => "failed",
            Verdict::Skipped { .. } => "skipped",
        }
    }
}

/// One scenario's result.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    pub name: String,
    /// The file it came from (`scenarios/x.yaml` for the embedded suite).
    pub source: String,
    pub requirements: Vec<String>,
    pub tags: Vec<String>,
    pub seed: u64,
    #[serde(flatten)]
    pub verdict: Verdict,
    /// Scenario time it took, in milliseconds.
    pub scenario_ms: u64,
    /// Wall time it took, in milliseconds (the only field that varies between equal runs).
    pub wall_ms: u64,
    /// The hash of the target's trace, where it keeps one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_hash: Option<String>,
    /// The last trace lines, for failures.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trace_tail: Vec<String>,
    /// The command that runs this scenario again, alone, with the same seed.
    pub replay: String,
}

/// How a suite runs.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Overrides every scenario's seed.
    pub seed: Option<u64>,
    /// Scenarios run at once (at least 1).
    pub jobs: usize,
    /// Flags the replay command repeats after `--filter` and `--seed` (e.g. `--scenarios DIR`).
    pub replay_flags: String,
}

/// Runs one scenario on `target`.
pub fn run_one(
    target: &mut dyn Target,
    item: &SuiteScenario,
    options: &RunOptions,
) -> ScenarioResult {
    let scenario = &item.scenario;
    let seed = options.seed.or(scenario.seed).unwrap_or(0);
    let started = Instant::now();
    let outcome = catch_unwind(AssertUnwindSafe(|| run_steps(target, scenario, seed)));
    let (verdict, failed) = match outcome {
        Ok(Ok(())) => (Verdict::Passed, false),
        Ok(Err(Stop::Skipped(reason))) => (Verdict::Skipped { reason }, false),
        Ok(Err(Stop::Failed(failure))) => (
            Verdict::Failed {
                step: failure.step,
                message: failure.message,
                mismatches: failure
                    .mismatches
                    .into_iter()
                    .map(|mismatch| MismatchReport {
                        what: mismatch.what,
                        expected: mismatch.expected,
                        actual: mismatch.actual,
                    })
                    .collect(),
            },
            true,
        ),
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|text| (*text).to_owned()))
                .unwrap_or_else(|| "a panic without a message".to_owned());
            (
                Verdict::Failed {
                    step: "(the target panicked)".to_owned(),
                    message,
                    mismatches: Vec::new(),
                },
                true,
            )
        }
    };
    let wall_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let trace_tail = if failed {
        let trace = target.trace();
        let start = trace.len().saturating_sub(TRACE_TAIL_LINES);
        trace[start..].to_vec()
    } else {
        Vec::new()
    };
    ScenarioResult {
        name: scenario.name.clone(),
        source: item.source.clone(),
        requirements: scenario.requirements.clone(),
        tags: scenario.tags.clone(),
        seed,
        verdict,
        scenario_ms: target.elapsed_ms(),
        wall_ms,
        trace_hash: target.trace_hash(),
        trace_tail,
        replay: replay_command(&scenario.name, seed, &options.replay_flags),
    }
}

fn run_steps(target: &mut dyn Target, scenario: &Scenario, seed: u64) -> Result<(), Stop> {
    target.supports(&scenario.tags).map_err(Stop::Skipped)?;
    let epoch_ms = match &scenario.epoch {
        Some(text) => parse_rfc3339(text).ok_or_else(|| {
            Stop::Failed(Failure {
                step: "epoch".to_owned(),
                message: format!("`{text}` is not an RFC 3339 UTC time"),
                mismatches: Vec::new(),
            })
        })?,
        None => DEFAULT_EPOCH_MS,
    };
    target
        .start(StartPlan {
            seed,
            epoch_ms,
            span_ms: scenario.span.as_millis(),
        })
        .map_err(|error| match error {
            TargetError::Unsupported(reason) => Stop::Skipped(reason),
            TargetError::Failed(message) => Stop::Failed(Failure {
                step: "setup".to_owned(),
                message,
                mismatches: Vec::new(),
            }),
        })?;
    execute::Execution::prepare(target, scenario, seed)?.run()
}

/// `transfersim check --filter '<name>' --seed N`, quoted for a POSIX shell.
pub fn replay_command(name: &str, seed: u64, extra_flags: &str) -> String {
    let quoted = name.replace('\'', "'\\''");
    format!("transfersim check --filter '{quoted}' --seed {seed}{extra_flags}")
}

/// Runs every scenario, `options.jobs` at a time, each on a target from `make_target`, and
/// answers the results in suite order. `on_result` sees each result as it completes (for the
/// progress line).
pub fn run_suite(
    items: &[SuiteScenario],
    options: &RunOptions,
    make_target: &(dyn Fn() -> Box<dyn Target> + Sync),
    on_result: &mut dyn FnMut(usize, &ScenarioResult),
) -> Vec<ScenarioResult> {
    let jobs = options.jobs.clamp(1, items.len().max(1));
    let next = AtomicUsize::new(0);
    let (sender, receiver) = mpsc::channel::<(usize, ScenarioResult)>();
    let mut results: Vec<Option<ScenarioResult>> = vec![None; items.len()];
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let sender = sender.clone();
            let next = &next;
            scope.spawn(move || {
                let mut target = make_target();
                // Bounded by the number of scenarios: each turn takes the next index.
                loop {
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    let Some(item) = items.get(index) else {
                        break;
                    };
                    let result = run_one(target.as_mut(), item, options);
                    if sender.send((index, result)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(sender);
        for (index, result) in receiver {
            on_result(index, &result);
            if let Some(slot) = results.get_mut(index) {
                *slot = Some(result);
            }
        }
    });
    results.into_iter().flatten().collect()
}
