//! `transfersim check`: validates the flags, loads the suite (embedded, or `--scenarios`), and
//! lists, reports coverage, or runs it and writes the reports. Exit codes: 0 nothing failed, 1
//! something failed (or a coverage gap under `--require-full-coverage`), 2 bad input.

use std::io::Write as _;
use std::time::Instant;

use anyhow::Context as _;
use transfersim_sim::engine::EngineConfig;

use crate::cli::{CheckArgs, EXIT_FAILURE, EXIT_USAGE};
use crate::report::{self, Totals};
use crate::runner::{
    self, HttpOptions, HttpTarget, MemoryTarget, RunOptions, SuiteScenario, Target, suite,
};

/// The most scenarios run at once; more would only contend for the same cores.
const JOBS_MAX: usize = 256;

/// Runs `check` with its flags; answers the exit code.
pub fn run(args: &CheckArgs) -> anyhow::Result<u8> {
    if args.jobs > JOBS_MAX {
        anyhow::bail!("`--jobs` must be 0 (one per CPU) to {JOBS_MAX}");
    }
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let requested_jobs = if args.jobs == 0 { cpus } else { args.jobs };
    let engine = engine_config(args)?;
    let loaded = if args.scenarios.is_empty() {
        suite::embedded()
    } else {
        suite::from_dirs(&args.scenarios)
    };
    let all = match loaded {
        Ok(all) => all,
        Err(error) => {
            eprintln!("error: {error}");
            return Ok(EXIT_USAGE);
        }
    };
    let mut stdout = anstream::stdout();
    if args.coverage {
        let requirements = suite::requirements(suite::REQUIREMENTS_MD);
        let (rows, unknown) = suite::coverage(&requirements, &all);
        emit(&mut stdout, &report::coverage(&rows, &unknown))?;
        let gaps = rows.iter().any(suite::Coverage::is_gap) || !unknown.is_empty();
        return Ok(if args.require_full_coverage && gaps {
            EXIT_FAILURE
        } else {
            0
        });
    }
    let chosen: Vec<SuiteScenario> = all
        .into_iter()
        .filter(|item| {
            args.filter
                .as_ref()
                .is_none_or(|text| item.scenario.name.contains(text.as_str()))
        })
        .filter(|item| {
            args.tag.is_empty() || args.tag.iter().any(|tag| item.scenario.tags.contains(tag))
        })
        .collect();
    if args.list {
        for item in &chosen {
            emit(
                &mut stdout,
                &format!(
                    "{}  [{}]  {}\n",
                    item.scenario.name,
                    item.scenario.requirements.join(", "),
                    item.source
                ),
            )?;
        }
        return Ok(0);
    }
    if chosen.is_empty() {
        anyhow::bail!("no scenario matches the given --filter and --tag");
    }
    let options = RunOptions {
        seed: args.seed,
        jobs: if args.target == "memory" {
            requested_jobs
        } else {
            1
        },
        replay_flags: replay_flags(args),
    };
    let target_name = args.target.clone();
    let target_name = target_name.as_str();
    // An HTTP target shares one clock and one set of mocks: scenarios run one at a time.
    let http_target = if args.target == "memory" {
        None
    } else {
        Some(http_target(args)?)
    };
    let jobs = if http_target.is_some() {
        1
    } else {
        requested_jobs
    };
    emit(
        &mut stdout,
        &format!(
            "transfersim check: {} scenarios on {target_name} (jobs {jobs})\n",
            chosen.len(),
        ),
    )?;
    let started = Instant::now();
    let http_slot = std::sync::Mutex::new(http_target);
    let make_target = move || -> Box<dyn Target> {
        let taken = http_slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        match taken {
            Some(target) => Box::new(target),
            None => Box::new(MemoryTarget::new(engine.clone())),
        }
    };
    let total = chosen.len();
    let mut done = 0usize;
    let results = runner::run_suite(&chosen, &options, &make_target, &mut |_, result| {
        done += 1;
        let _ = writeln!(
            anstream::stdout(),
            "{}",
            report::progress_line(done, total, result)
        );
    });
    let totals = Totals::of(&results);
    emit(&mut stdout, &report::failures(&results))?;
    emit(&mut stdout, &report::requirement_table(&results))?;
    emit(
        &mut stdout,
        &format!("{}\n", report::summary(totals, started.elapsed())),
    )?;
    if let Some(path) = &args.junit {
        let xml = report::junit(&results, target_name).context("rendering the JUnit report")?;
        std::fs::write(path, xml).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report::json(&results, target_name))?;
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(if totals.failed > 0 { EXIT_FAILURE } else { 0 })
}

/// Connects to the deployment `--target` names, with the runner's mock providers on `--listen`.
fn http_target(args: &CheckArgs) -> anyhow::Result<HttpTarget> {
    let listen = args
        .listen
        .parse()
        .with_context(|| format!("`--listen {}` is not an address", args.listen))?;
    let max_wait: crate::scenario::Duration = args
        .max_wait
        .parse()
        .map_err(|error| anyhow::anyhow!("`--max-wait {}`: {error}", args.max_wait))?;
    let api_keys = if args.api_keys.is_empty() {
        vec!["test_key".to_owned()]
    } else {
        args.api_keys.clone()
    };
    HttpTarget::connect(HttpOptions {
        base_url: args.target.clone(),
        api_keys,
        listen,
        advertise: args.advertise.clone(),
        max_wait_ms: max_wait.as_millis(),
        configure: args.configure,
    })
    .map_err(|error| anyhow::anyhow!("`--target {}`: {error}", args.target))
}

/// Writes to the terminal; a reader that went away (`| head`) is not an error, so the run still
/// finishes, writes its report files and exits with its real code.
fn emit(out: &mut impl std::io::Write, text: &str) -> anyhow::Result<()> {
    match out.write_all(text.as_bytes()) {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => Err(error.into()),
        _ => Ok(()),
    }
}

/// The flags a replay command must repeat so that it finds and breaks the same scenario.
fn replay_flags(args: &CheckArgs) -> String {
    let mut flags = String::new();
    if args.target != "memory" {
        flags.push_str(&format!(" --target '{}'", args.target));
    }
    for dir in &args.scenarios {
        flags.push_str(&format!(" --scenarios '{}'", dir.display()));
    }
    #[cfg(feature = "mutations")]
    if let Some(mutation) = &args.mutation {
        flags.push_str(&format!(" --mutation {mutation}"));
    }
    flags
}

#[cfg(feature = "mutations")]
fn engine_config(args: &CheckArgs) -> anyhow::Result<EngineConfig> {
    let mut config = EngineConfig::default();
    if let Some(name) = &args.mutation {
        let mutation: transfersim_sim::mutations::Mutation = name
            .parse()
            .map_err(|message: String| anyhow::anyhow!(message))?;
        config.mutation = Some(mutation);
    }
    Ok(config)
}

#[cfg(not(feature = "mutations"))]
fn engine_config(_args: &CheckArgs) -> anyhow::Result<EngineConfig> {
    Ok(EngineConfig::default())
}
