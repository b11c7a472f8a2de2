//! Shrinking: a failing seed's workload is drawn again from the same proptest value tree and
//! simplified (`simplify`/`complicate`, proptest's own search) for as long as the simpler
//! workload still breaks the same invariant. The result is written as a scenario file, tagged
//! `in-memory-only`, ending with an `invariants` step, for `transfersim check` to run.

use std::path::{Path, PathBuf};

use proptest::strategy::{Strategy, ValueTree};
use transfersim_sim::engine::EngineConfig;

use super::workload::{self, Workload};
use super::{run_scenario, runner_for};
use crate::scenario::{Scenario, Step};

/// The most candidate runs one shrink makes.
pub const SHRINK_RUNS_MAX: u32 = 2_000;

/// A shrunk failure.
#[derive(Debug, Clone)]
pub struct Shrunk {
    pub seed: u64,
    pub invariant: String,
    pub workload: Workload,
    pub scenario: Scenario,
    /// Top-level steps of the scenario (setup and tail included).
    pub steps: usize,
    /// Where it was written, if it was.
    pub path: Option<PathBuf>,
}

/// The scenario name of a shrunk failure.
pub fn title(invariant: &str, seed: u64, mutation: Option<&str>) -> String {
    match mutation {
        Some(name) => format!("fuzz regression: {invariant}, seed {seed} (under mutation {name})"),
        None => format!("fuzz regression: {invariant}, seed {seed}"),
    }
}

/// Shrinks the workload of `seed`, which breaks `invariant` on `engine`.
pub fn shrink(seed: u64, engine: &EngineConfig, invariant: &str) -> Shrunk {
    shrink_with_title(seed, engine, invariant, &title(invariant, seed, None))
}

fn fails(workload: &Workload, seed: u64, engine: &EngineConfig, invariant: &str) -> bool {
    run_scenario(&workload.to_scenario("candidate", seed), engine.clone())
        .failure
        .is_some_and(|failure| failure.invariant == invariant)
}

fn shrink_with_title(seed: u64, engine: &EngineConfig, invariant: &str, title: &str) -> Shrunk {
    let mut runner = runner_for(seed);
    let mut tree = match workload::workload().new_tree(&mut runner) {
        Ok(tree) => tree,
        Err(reason) => panic!("the workload strategy never rejects, but said: {reason}"),
    };
    let mut best = tree.current();
    if tree.simplify() {
        // Bounded by SHRINK_RUNS_MAX candidate runs.
        for _ in 0..SHRINK_RUNS_MAX {
            let candidate = tree.current();
            if fails(&candidate, seed, engine, invariant) {
                best = candidate;
                if !tree.simplify() {
                    break;
                }
            } else if !tree.complicate() {
                break;
            }
        }
    }
    let scenario = best.to_scenario(title, seed);
    Shrunk {
        seed,
        invariant: invariant.to_owned(),
        steps: scenario.steps.len(),
        workload: best,
        scenario,
        path: None,
    }
}

/// The YAML text of a scenario, with a comment saying where it came from.
pub fn to_yaml(shrunk: &Shrunk, mutation: Option<&str>) -> Result<String, String> {
    let body = serde_saphyr::to_string(&shrunk.scenario).map_err(|error| error.to_string())?;
    let origin = match mutation {
        Some(name) => format!(
            "# Shrunk by `transfersim fuzz` from seed {} under mutation {name}: breaks `{}` there, passes on the real engine.\n",
            shrunk.seed, shrunk.invariant
        ),
        None => format!(
            "# Shrunk by `transfersim fuzz` from seed {}: breaks `{}`.\n",
            shrunk.seed, shrunk.invariant
        ),
    };
    Ok(format!(
        "# yaml-language-server: $schema=../../spec/scenario.schema.json\n{origin}# Replay the search: {}\n{body}",
        super::replay_command(shrunk.seed, mutation)
    ))
}

/// Writes the shrunk scenario to `dir/<invariant>-<seed>.yaml` (named for the mutation too when
/// there is one), after checking that it parses back to the same scenario.
pub fn write(dir: &Path, shrunk: &Shrunk, mutation: Option<&str>) -> Result<PathBuf, String> {
    let mut shrunk = shrunk.clone();
    shrunk.scenario.name = title(&shrunk.invariant, shrunk.seed, mutation);
    let text = to_yaml(&shrunk, mutation)?;
    let file_name = match mutation {
        Some(name) => format!("{}-{}-{name}.yaml", shrunk.invariant, shrunk.seed),
        None => format!("{}-{}.yaml", shrunk.invariant, shrunk.seed),
    };
    let path = dir.join(file_name);
    let parsed = crate::scenario::parse(&path.display().to_string(), &text)
        .map_err(|error| format!("the shrunk scenario does not parse back: {error}"))?;
    if parsed != shrunk.scenario {
        return Err("the shrunk scenario does not round-trip through YAML".to_owned());
    }
    if !matches!(parsed.steps.last(), Some(Step::Invariants(_))) {
        return Err("the shrunk scenario must end with an `invariants` step".to_owned());
    }
    std::fs::create_dir_all(dir).map_err(|error| format!("{}: {error}", dir.display()))?;
    std::fs::write(&path, text).map_err(|error| format!("{}: {error}", path.display()))?;
    Ok(path)
}
