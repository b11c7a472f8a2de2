//! Command-line parsing (clap derive) and dispatch. Parsing is two-stage, as in ripgrep: clap
//! gives raw flags, and each command validates them into its own configuration before running.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit code for bad input, a malformed file, or a command that is not available in this build.
pub const EXIT_USAGE: u8 = 2;
/// Exit code for a run that completed but found failures.
pub const EXIT_FAILURE: u8 = 1;

/// Deterministic simulator and conformance kit for Endgrate-style transfer APIs.
#[derive(Debug, Parser)]
#[command(name = "transfersim", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The product's jobs. With no subcommand, `check` runs on the in-memory target.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the conformance scenario suite against a target (in-memory by default).
    Check(CheckArgs),
    /// Serve the in-memory implementation over HTTP, with embedded mock providers.
    Serve(crate::serve::ServeArgs),
    /// Serve the hubspot and salesforce mock providers standalone.
    Providers(crate::providers::ProvidersArgs),
    /// Run seeded random workloads with faults, check invariants and shrink failures.
    Fuzz(FuzzArgs),
    /// Generate load against a target and report throughput and latency.
    Load(crate::load::LoadArgs),
}

/// Flags of `check`.
#[derive(Debug, clap::Args, Default)]
pub struct CheckArgs {
    /// `memory` (the default) or the base URL of a deployment.
    #[arg(long, default_value = "memory")]
    pub target: String,
    /// Run only scenarios whose name contains this text.
    #[arg(long, value_name = "SUBSTRING")]
    pub filter: Option<String>,
    /// Run only scenarios with this tag (repeatable: any of them).
    #[arg(long, value_name = "TAG")]
    pub tag: Vec<String>,
    /// Override every scenario's seed (the replay command uses this).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Scenarios to run at once; results are the same for any value. 0, the default, runs one
    /// per CPU on the in-memory target (an HTTP target always runs one at a time).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub jobs: usize,
    /// List the scenarios that would run, and exit.
    #[arg(long)]
    pub list: bool,
    /// Run the scenarios in this folder instead of the embedded suite (repeatable).
    #[arg(long, value_name = "DIR")]
    pub scenarios: Vec<std::path::PathBuf>,
    /// Write a JUnit XML report here (one test case per scenario).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<std::path::PathBuf>,
    /// Write a JSON report here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<std::path::PathBuf>,
    /// List every requirement with the scenarios (or named test) that check it, and exit.
    #[arg(long)]
    pub coverage: bool,
    /// With `--coverage`: exit 1 when some requirement has no scenario and no named test.
    #[arg(long, requires = "coverage")]
    pub require_full_coverage: bool,
    /// With an HTTP target: an API key to mint fresh keys with, and to fall back on when the
    /// target cannot mint (repeatable; default `test_key`).
    #[arg(long = "api-key", value_name = "KEY")]
    pub api_keys: Vec<String>,
    /// With an HTTP target: where the runner's mock providers listen.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub listen: String,
    /// With an HTTP target: the URL the target reaches the runner's mock providers at.
    #[arg(long, value_name = "URL")]
    pub advertise: Option<String>,
    /// With a wall-clock target: skip scenarios whose span is longer than this.
    #[arg(long, value_name = "DURATION", default_value = "10m")]
    pub max_wait: String,
    /// With an HTTP target: `helpers` (the test helper configures sessions) or `manual`.
    #[arg(long, value_enum, default_value_t = crate::runner::ConfigureMode::Helpers)]
    pub configure: crate::runner::ConfigureMode,
    /// Run every world with this deliberate engine bug (mutation builds only).
    #[cfg(feature = "mutations")]
    #[arg(long, value_name = "NAME")]
    pub mutation: Option<String>,
}

/// Flags of `fuzz`.
#[derive(Debug, clap::Args, Default)]
pub struct FuzzArgs {
    /// How many seeds to run (before `--shard` picks its share).
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub seeds: u64,
    /// The first seed.
    #[arg(long, value_name = "S", default_value_t = 0)]
    pub from: u64,
    /// Start no new seed after this much wall time (`60s`, `10m`).
    #[arg(long, value_name = "DURATION")]
    pub time_limit: Option<crate::scenario::Duration>,
    /// Run only this share of the seeds, `i/n` (seeds with `seed % n == i`), for CI matrices
    /// and indexed Kubernetes Jobs.
    #[arg(long, value_name = "i/n")]
    pub shard: Option<String>,
    /// Run one seed and print its full trace.
    #[arg(long, value_name = "SEED", conflicts_with_all = ["seeds", "from", "shard", "check_determinism"])]
    pub replay: Option<u64>,
    /// Run each seed twice and compare trace hashes.
    #[arg(long)]
    pub check_determinism: bool,
    /// Where shrunk failures are written.
    #[arg(long, value_name = "DIR", default_value = "scenarios/regressions")]
    pub regressions: std::path::PathBuf,
    /// Report failures without shrinking them.
    #[arg(long)]
    pub no_shrink: bool,
    /// Run every world with this deliberate engine bug (mutation builds only).
    #[cfg(feature = "mutations")]
    #[arg(long, value_name = "NAME")]
    pub mutation: Option<String>,
}

/// Parses the command line, runs the command and maps its outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// Runs one parsed command line; `Ok` carries the exit code of a run that completed.
pub fn run(cli: Cli) -> anyhow::Result<u8> {
    let command = cli.command.unwrap_or(Command::Check(CheckArgs {
        target: "memory".to_owned(),
        jobs: 0,
        listen: "127.0.0.1:0".to_owned(),
        max_wait: "10m".to_owned(),
        ..CheckArgs::default()
    }));
    match command {
        Command::Check(args) => crate::check::run(&args),
        Command::Serve(args) => crate::serve::run(&args),
        Command::Providers(args) => crate::providers::run(&args),
        Command::Fuzz(args) => crate::fuzz::command(&args),
        Command::Load(args) => crate::load::command(&args),
    }
}
