//! The in-memory load target: one simulated world, driven from this thread.
//!
//! Up to `--concurrency` transfers are open at once. Each round triggers new ones to fill the
//! window, moves virtual time by [`ROUND_MS`], then checks every open transfer: an asynchronous one
//! by `GET /api/statistics`, a synchronous one by its answer; a completed one has its data pages
//! read back and counted. Every call goes through the world's API layer.

use std::time::Instant;

use serde_json::Value;
use transfersim_mock_providers::{Credentials, Millis};
use transfersim_sim::engine::{EngineConfig, ProviderName};
use transfersim_sim::world::{CallHandle, HUBSPOT_BASE_URL, World, WorldConfig};

use super::report::{RunFacts, provider_side};
use super::{Kind, LoadConfig, Plan, Report, Stats, configure_body, data_path, read_page};

/// Virtual time per round.
pub const ROUND_MS: Millis = 1_000;
/// A transfer open longer than this (virtual) is counted as an error and dropped.
pub const TRANSFER_TIMEOUT_MS: Millis = 6 * 3_600_000;

#[derive(Debug)]
struct Open {
    transfer: usize,
    kind: Kind,
    key: usize,
    transfer_id: Option<String>,
    sync_handle: Option<CallHandle>,
    sent_at: Millis,
}

/// A world set up for a plan: accounts, sessions (initiated and configured), their ids.
#[derive(Debug)]
pub struct Prepared {
    pub world: World,
    pub sessions: Vec<String>,
    pub requests: u64,
}

/// Builds the world of a plan: the engine with the plan's keys, the hubspot accounts (pull
/// accounts seeded with one transfer's records), every session initiated and configured.
pub fn prepare(plan: &Plan, seed: u64) -> anyhow::Result<Prepared> {
    prepare_with(plan, seed, true)
}

/// [`prepare`], choosing whether the world's long advances run pipelined (the results are the
/// same; a test compares them).
pub fn prepare_with(plan: &Plan, seed: u64, pipeline: bool) -> anyhow::Result<Prepared> {
    let mut world = World::new(WorldConfig {
        seed,
        engine: EngineConfig {
            api_keys: plan.api_keys.clone(),
            ..EngineConfig::default()
        },
        pipeline,
        ..WorldConfig::default()
    });
    let now = world.now();
    let options = super::account_options(plan.provider_budget);
    let mut accounts: Vec<Credentials> = Vec::with_capacity(plan.accounts);
    for index in 0..plan.accounts {
        let credentials = world.hubspot().create_account(now, &options)?;
        if index < plan.pull_accounts() {
            let count = u32::try_from(plan.records_per_transfer)?;
            world
                .hubspot()
                .seed_records(now, &credentials.account_id, "contacts", count)?;
        }
        accounts.push(credentials);
    }
    let mut sessions = Vec::with_capacity(plan.sessions);
    let mut requests = 0;
    for session in 0..plan.sessions {
        let key = plan.key_of(session).to_owned();
        let answer = immediate(
            &mut world,
            "POST",
            "/api/session/initiate",
            &key,
            Some(&plan.initiate_body()),
        )?;
        let session_id = answer["session_id"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("initiate answered without a session_id: {answer}"))?
            .to_owned();
        let credentials = &accounts[plan.account_of(session)];
        immediate(
            &mut world,
            "POST",
            "/api/test_helpers/session/configure",
            &key,
            Some(&configure_body(&session_id, HUBSPOT_BASE_URL, credentials)),
        )?;
        requests += 2;
        sessions.push(session_id);
    }
    Ok(Prepared {
        world,
        sessions,
        requests,
    })
}

/// A call that must answer 200 at once.
fn immediate(
    world: &mut World,
    method: &str,
    path: &str,
    key: &str,
    body: Option<&Value>,
) -> anyhow::Result<Value> {
    let handle = world.call(method, path, key, body);
    let answer = world
        .take_answer(handle)
        .ok_or_else(|| anyhow::anyhow!("{method} {path} was not answered at once"))?;
    if answer.status() != 200 {
        anyhow::bail!(
            "{method} {path} answered {}: {}",
            answer.status(),
            answer.json()
        );
    }
    Ok(answer.json())
}

/// Runs a plan in memory, for `transfersim load`. The world is not freed: the process is about
/// to exit, and freeing millions of records one by one takes it a second or more. A caller
/// that runs many plans should use [`prepare`] and [`run_prepared`].
pub fn run(config: &LoadConfig) -> anyhow::Result<Report> {
    let wall_start = Instant::now();
    let prepared = prepare_with(&config.plan, config.seed, config.pipeline)?;
    let (report, world) = run_prepared(config, prepared, wall_start);
    std::mem::forget(world);
    Ok(report)
}

/// Runs a plan on a prepared world; answers the report and the world as the run left it.
pub fn run_prepared(
    config: &LoadConfig,
    prepared: Prepared,
    wall_start: Instant,
) -> (Report, World) {
    let plan = &config.plan;
    let bar = super::progress_bar(config);
    let Prepared {
        mut world,
        sessions,
        requests,
    } = prepared;
    let mut stats = Stats {
        requests,
        ..Stats::default()
    };
    let virtual_start = world.now();
    let deadline = config.duration.map(|cap| wall_start + cap);
    // The whole loop runs pipelined: the mocks serve on a second thread, the provider requests
    // of triggers included (the world's results are the same; a test compares them).
    let stopped_by_duration = world.pipelined(|world| {
        let mut open: Vec<Open> = Vec::with_capacity(config.concurrency);
        let mut next = 0usize;
        // Bounded: every round either triggers, or moves virtual time towards each open
        // transfer's timeout, after which it is dropped.
        loop {
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                return next < plan.transfers || !open.is_empty();
            }
            while open.len() < config.concurrency && next < plan.transfers {
                let session = plan.session_of(next);
                open.push(trigger(world, plan, next, &sessions[session], &mut stats));
                next += 1;
            }
            if open.is_empty() {
                return false;
            }
            world.advance(ROUND_MS);
            let mut still_open = Vec::with_capacity(open.len());
            for transfer in open {
                match check(world, plan, transfer, &mut stats) {
                    Some(transfer) => still_open.push(transfer),
                    None => bar.inc(1),
                }
            }
            open = still_open;
        }
    });
    bar.finish_and_clear();
    let wall_s = wall_start.elapsed().as_secs_f64();
    let provider = provider_side([
        world.mock(ProviderName::Hubspot).journal(),
        world.mock(ProviderName::Salesforce).journal(),
    ]);
    let report = Report::new(
        plan,
        &stats,
        RunFacts {
            target: "memory".to_owned(),
            concurrency: config.concurrency,
            duration_cap_s: config.duration.map(|cap| cap.as_secs_f64()),
            stopped_by_duration,
            wall_s,
            simulated_s: Some((world.now() - virtual_start) as f64 / 1_000.0),
            clock: "sync_simulated",
            provider,
        },
    );
    (report, world)
}

fn trigger(
    world: &mut World,
    plan: &Plan,
    transfer: usize,
    session_id: &str,
    stats: &mut Stats,
) -> Open {
    let session = plan.session_of(transfer);
    let kind = plan.kind(session);
    let key = session % plan.api_keys.len();
    let body = plan.trigger_body(transfer, session_id);
    let path = format!("/api/{}/transfer", kind.as_str());
    let started = Instant::now();
    let handle = world.call_bytes("POST", &path, &plan.api_keys[key], Some(body));
    stats.requests += 1;
    let mut open = Open {
        transfer,
        kind,
        key,
        transfer_id: None,
        sync_handle: None,
        sent_at: world.now(),
    };
    if plan.is_sync(transfer) {
        open.sync_handle = Some(handle);
        return open;
    }
    Stats::record(&mut stats.trigger, micros(started));
    match world.take_answer(handle) {
        Some(answer) if answer.status() == 200 => {
            open.transfer_id = answer.json()["transfer_id"].as_str().map(str::to_owned);
        }
        Some(answer) => stats.errors.push(format!(
            "transfer {transfer}: trigger answered {}: {}",
            answer.status(),
            answer.json()
        )),
        None => stats.errors.push(format!(
            "transfer {transfer}: an asynchronous trigger was not answered at once"
        )),
    }
    open
}

/// Checks one open transfer; `Some` while it stays open.
fn check(world: &mut World, plan: &Plan, mut open: Open, stats: &mut Stats) -> Option<Open> {
    let key = plan.api_keys[open.key].clone();
    if let Some(handle) = open.sync_handle {
        let Some(answer) = world.take_answer(handle) else {
            // Not answered yet: a synchronous call answers by the 300 s cap at the latest.
            return Some(open);
        };
        let (status, body, at) = (answer.status(), answer.json(), answer.at);
        Stats::record(&mut stats.sync, (at - open.sent_at) * 1_000);
        open.sync_handle = None;
        open.transfer_id = body["transfer_id"].as_str().map(str::to_owned);
        match status {
            200 => {}
            // Past the cap: it goes on in the background; poll it like an asynchronous one.
            202 => return Some(open),
            _ => {
                stats.errors.push(format!(
                    "transfer {}: synchronous trigger answered {status}: {body}",
                    open.transfer
                ));
                return None;
            }
        }
    } else {
        let Some(transfer_id) = &open.transfer_id else {
            // Its trigger failed (already counted).
            return None;
        };
        let path = format!("/api/statistics?transfer_id={transfer_id}");
        let handle = world.call("GET", &path, &key, None);
        stats.requests += 1;
        let completed = world
            .take_answer(handle)
            .is_some_and(|answer| answer.status() == 200 && answer.json()["completed"] == true);
        if !completed {
            if world.now() - open.sent_at > TRANSFER_TIMEOUT_MS {
                stats.errors.push(format!(
                    "transfer {} ({transfer_id}) did not complete within {} s of virtual time",
                    open.transfer,
                    TRANSFER_TIMEOUT_MS / 1_000
                ));
                return None;
            }
            return Some(open);
        }
    }
    let transfer_id = open.transfer_id.clone().unwrap_or_default();
    read_data(world, open.kind, &transfer_id, &key, open.transfer, stats);
    None
}

fn read_data(
    world: &mut World,
    kind: Kind,
    transfer_id: &str,
    key: &str,
    transfer: usize,
    stats: &mut Stats,
) {
    let mut offset = 0;
    let mut records = 0;
    // Bounded: each page moves the offset forward, and a transfer has at most 10,000 records.
    for _ in 0..=super::RECORDS_PER_TRANSFER_MAX {
        let started = Instant::now();
        let handle = world.call("GET", &data_path(kind, transfer_id, offset), key, None);
        Stats::record(&mut stats.data_page, micros(started));
        stats.requests += 1;
        let Some(answer) = world.take_answer(handle) else {
            stats
                .errors
                .push(format!("transfer {transfer}: a data page was not answered"));
            return;
        };
        if answer.status() != 200 {
            stats.errors.push(format!(
                "transfer {transfer}: data page answered {}: {}",
                answer.status(),
                answer.json()
            ));
            return;
        }
        let (good, bad, next) = read_page(kind, answer.response.body());
        records += good;
        if bad > 0 {
            stats.errors.push(format!(
                "transfer {transfer}: {bad} push items failed on a data page"
            ));
        }
        match next {
            Some(next) if next > offset => offset = next,
            _ => break,
        }
    }
    stats.records += records;
    stats.transfers_completed += 1;
    match kind {
        Kind::Pull => stats.pulls_completed += 1,
        Kind::Push => stats.pushes_completed += 1,
    }
}

fn micros(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{ProviderBudget, generated_keys};

    /// The pipelined world (mocks on a second thread) and the single-threaded one give the same
    /// run: the same trace, the same provider journal, the same counts.
    #[test]
    fn a_pipelined_run_is_the_single_threaded_run() {
        let config = LoadConfig {
            target: super::super::LoadTarget::Memory,
            plan: Plan {
                sessions: 40,
                accounts: 10,
                transfers: 160,
                records_per_transfer: 150,
                sync_ratio: 0.2,
                provider_budget: ProviderBudget::Real,
                api_keys: generated_keys(3),
            },
            concurrency: 24,
            duration: None,
            seed: 11,
            progress: false,
            pipeline: true,
        };
        let run = |pipeline: bool| {
            let prepared = prepare_with(&config.plan, config.seed, pipeline).expect("set up");
            run_prepared(&config, prepared, Instant::now())
        };
        let (single_report, single) = run(false);
        let (piped_report, piped) = run(true);
        assert_eq!(single_report.errors.count, 0, "{:?}", single_report.errors);
        assert_eq!(single_report.records, config.plan.records_total());
        assert_eq!(piped_report.records, single_report.records);
        assert_eq!(piped_report.requests, single_report.requests);
        assert_eq!(piped.now(), single.now());
        assert_eq!(piped.events_processed(), single.events_processed());
        assert_eq!(piped.trace_hash(), single.trace_hash());
        let journal = |world: &World| format!("{:?}", world.mock(ProviderName::Hubspot).journal());
        assert!(
            single.mock(ProviderName::Hubspot).journal().len() > 300,
            "the run made provider calls"
        );
        assert_eq!(single.pipelined_runs(), 0);
        assert!(piped.pipelined_runs() >= 1, "{}", piped.pipelined_runs());
        assert_eq!(journal(&piped), journal(&single));
    }
}
