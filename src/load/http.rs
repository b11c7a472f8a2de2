//! The HTTP load target: a deployment at a URL, `--concurrency` workers on tokio.
//!
//! The hubspot mock is served by this process on 127.0.0.1:0 on the wall clock (as the HTTP
//! target of `check` does) rather than taken from `serve`'s embedded mocks: then any deployment
//! with the session-configure test helper can be loaded, not only ours, and the accounts'
//! budgets and journals (the rate-limit share) are in our hands. A worker takes the next transfer,
//! triggers it, waits for it (the synchronous answer, or `GET /api/statistics` with a backoff of
//! 5 ms doubling to 100 ms), reads its data pages, and goes on.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::{Value, json};
use transfersim_mock_providers::Hubspot;
use transfersim_mock_providers::http::{ClockSource, router, serve_router};

use super::report::{RunFacts, provider_side};
use super::{Kind, LoadConfig, Plan, Report, Stats, configure_body, data_path, read_page};

/// One request's timeout: past the 300 s synchronous cap, with room.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(330);
/// How long a worker polls one transfer before counting it as an error.
pub const TRANSFER_TIMEOUT: Duration = Duration::from_secs(600);
const POLL_FIRST: Duration = Duration::from_millis(5);
const POLL_MAX: Duration = Duration::from_millis(100);

struct Shared {
    client: reqwest::Client,
    base_url: String,
    plan: Plan,
    sessions: Vec<String>,
    next: AtomicUsize,
    stats: Mutex<Stats>,
    bar: indicatif::ProgressBar,
}

impl Shared {
    fn stats(&self) -> std::sync::MutexGuard<'_, Stats> {
        self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn error(&self, message: String) {
        self.stats().errors.push(message);
    }
}

/// Runs a plan against `base_url`.
pub fn run(config: &LoadConfig, base_url: &str) -> anyhow::Result<Report> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run_async(config, base_url))
}

async fn run_async(config: &LoadConfig, base_url: &str) -> anyhow::Result<Report> {
    let plan = &config.plan;
    let client = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("building the HTTP client")?;
    check_clock(&client, base_url, &plan.api_keys[0]).await?;

    // The runner's hubspot mock on loopback, wall clock.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the mock providers on 127.0.0.1:0")?;
    let address = listener.local_addr()?;
    let hubspot_url = transfersim_mock_providers::http::base_url(address, "/hubspot");
    let mut hubspot = Hubspot::new(hubspot_url.clone(), config.seed);
    let now = crate::serve::system_now_ms();
    let options = super::account_options(plan.provider_budget);
    let mut accounts = Vec::with_capacity(plan.accounts);
    for index in 0..plan.accounts {
        let credentials = hubspot.create_account(now, &options)?;
        if index < plan.pull_accounts() {
            hubspot.seed_records(
                now,
                &credentials.account_id,
                "contacts",
                u32::try_from(plan.records_per_transfer)?,
            )?;
        }
        accounts.push(credentials);
    }
    let hubspot = Arc::new(Mutex::new(hubspot));
    let app = axum::Router::new().nest_service(
        "/hubspot",
        router(
            hubspot.clone(),
            ClockSource::from_fn(crate::serve::clock::system_now_ms),
        ),
    );
    let mocks = tokio::spawn(serve_router(listener, app));

    let wall_start = Instant::now();
    let bar = super::progress_bar(config);
    // Sessions, `--concurrency` at a time.
    let mut sessions = vec![String::new(); plan.sessions];
    let mut set_up = 0u64;
    for chunk_start in (0..plan.sessions).step_by(config.concurrency) {
        let mut tasks = tokio::task::JoinSet::new();
        for session in chunk_start..(chunk_start + config.concurrency).min(plan.sessions) {
            let client = client.clone();
            let base_url = base_url.to_owned();
            let key = plan.key_of(session).to_owned();
            let initiate = plan.initiate_body();
            let credentials = accounts[plan.account_of(session)].clone();
            let hubspot_url = hubspot_url.clone();
            tasks.spawn(async move {
                let answer = send(
                    &client,
                    &base_url,
                    "POST",
                    "/api/session/initiate",
                    &key,
                    Some(&initiate),
                )
                .await?;
                let session_id = answer.1["session_id"]
                    .as_str()
                    .ok_or_else(|| anyhow::anyhow!("initiate answered {}: {}", answer.0, answer.1))?
                    .to_owned();
                let configure = configure_body(&session_id, &hubspot_url, &credentials);
                let answer = send(
                    &client,
                    &base_url,
                    "POST",
                    "/api/test_helpers/session/configure",
                    &key,
                    Some(&configure),
                )
                .await?;
                if answer.0 != 200 {
                    anyhow::bail!(
                        "the session-configure helper answered {}: {}",
                        answer.0,
                        answer.1
                    );
                }
                Ok::<_, anyhow::Error>((session, session_id))
            });
        }
        while let Some(joined) = tasks.join_next().await {
            let (session, session_id) = joined.context("a set-up task failed")??;
            sessions[session] = session_id;
            set_up += 2;
        }
    }

    let shared = Arc::new(Shared {
        client,
        base_url: base_url.to_owned(),
        plan: plan.clone(),
        sessions,
        next: AtomicUsize::new(0),
        stats: Mutex::new(Stats {
            requests: set_up,
            ..Stats::default()
        }),
        bar: bar.clone(),
    });
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..config.concurrency {
        workers.spawn(worker(shared.clone()));
    }
    let all_done = async { while workers.join_next().await.is_some() {} };
    let stopped_by_duration = match config.duration {
        Some(cap) => {
            let remaining = cap.saturating_sub(wall_start.elapsed());
            tokio::select! {
                () = all_done => false,
                () = tokio::time::sleep(remaining) => true,
            }
        }
        None => {
            all_done.await;
            false
        }
    };
    workers.abort_all();
    let wall_s = wall_start.elapsed().as_secs_f64();
    bar.finish_and_clear();
    mocks.abort();
    let provider = {
        let hubspot = hubspot.lock().unwrap_or_else(PoisonError::into_inner);
        provider_side([hubspot.journal()])
    };
    let stats = shared.stats();
    Ok(Report::new(
        plan,
        &stats,
        RunFacts {
            target: base_url.to_owned(),
            concurrency: config.concurrency,
            duration_cap_s: config.duration.map(|cap| cap.as_secs_f64()),
            stopped_by_duration,
            wall_s,
            simulated_s: None,
            clock: "wall",
            provider,
        },
    ))
}

/// The target must have the clock helper and a wall clock (a virtual clock would need the load
/// tool to move time, and then it would measure its own advances).
async fn check_clock(client: &reqwest::Client, base_url: &str, key: &str) -> anyhow::Result<()> {
    let (status, body) = send(
        client,
        base_url,
        "GET",
        "/api/test_helpers/clock",
        key,
        None,
    )
    .await
    .with_context(|| format!("cannot reach the target {base_url}"))?;
    match status {
        200 if body["virtual"] == json!(true) => anyhow::bail!(
            "{base_url} runs a virtual clock; `load` needs a wall-clock target (`transfersim serve --clock wall`)"
        ),
        200 => Ok(()),
        404 => anyhow::bail!(
            "{base_url} has no test helpers; `load` configures sessions with `/api/test_helpers/session/configure`"
        ),
        _ => anyhow::bail!(
            "{base_url}: the clock helper answered {status} (is the --api-key valid?): {body}"
        ),
    }
}

async fn send(
    client: &reqwest::Client,
    base_url: &str,
    method: &str,
    path: &str,
    key: &str,
    body: Option<&Value>,
) -> anyhow::Result<(u16, Value)> {
    let body = body.map(|body| bytes::Bytes::from(body.to_string()));
    let (status, bytes) = send_raw(client, base_url, method, path, key, body).await?;
    Ok((
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

/// [`send`] with a body already written, answering the body's bytes.
async fn send_raw(
    client: &reqwest::Client,
    base_url: &str,
    method: &str,
    path: &str,
    key: &str,
    body: Option<bytes::Bytes>,
) -> anyhow::Result<(u16, bytes::Bytes)> {
    let url = format!("{base_url}{path}");
    let mut request = match method {
        "GET" => client.get(&url),
        _ => client.post(&url),
    }
    .bearer_auth(key);
    if let Some(body) = body {
        request = request
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("{method} {path}"))?;
    let status = response.status().as_u16();
    let bytes = response
        .bytes()
        .await
        .with_context(|| format!("{method} {path}: reading the answer"))?;
    Ok((status, bytes))
}

async fn worker(shared: Arc<Shared>) {
    loop {
        let transfer = shared.next.fetch_add(1, Ordering::Relaxed);
        if transfer >= shared.plan.transfers {
            return;
        }
        if let Err(error) = run_transfer(&shared, transfer).await {
            shared.error(format!("transfer {transfer}: {error:#}"));
        }
        shared.bar.inc(1);
    }
}

async fn run_transfer(shared: &Shared, transfer: usize) -> anyhow::Result<()> {
    let plan = &shared.plan;
    let session = plan.session_of(transfer);
    let kind = plan.kind(session);
    let key = plan.key_of(session);
    let body = plan.trigger_body(transfer, &shared.sessions[session]);
    let path = format!("/api/{}/transfer", kind.as_str());
    let synchronous = plan.is_sync(transfer);
    let started = Instant::now();
    let (status, answer) = send_raw(
        &shared.client,
        &shared.base_url,
        "POST",
        &path,
        key,
        Some(body),
    )
    .await?;
    let answer: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
    let took = micros(started);
    {
        let mut stats = shared.stats();
        stats.requests += 1;
        let histogram = if synchronous {
            &mut stats.sync
        } else {
            &mut stats.trigger
        };
        Stats::record(histogram, took);
    }
    let transfer_id = match (status, answer["transfer_id"].as_str()) {
        (200 | 202, Some(id)) => id.to_owned(),
        _ => anyhow::bail!("trigger answered {status}: {answer}"),
    };
    let completed = synchronous && status == 200 && answer["completed"] == json!(true);
    if !completed {
        wait_for(shared, &transfer_id, key).await?;
    }
    read_data(shared, kind, &transfer_id, key).await
}

async fn wait_for(shared: &Shared, transfer_id: &str, key: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut pause = POLL_FIRST;
    let path = format!("/api/statistics?transfer_id={transfer_id}");
    // Bounded by TRANSFER_TIMEOUT.
    loop {
        let (status, answer) =
            send(&shared.client, &shared.base_url, "GET", &path, key, None).await?;
        shared.stats().requests += 1;
        if status != 200 {
            anyhow::bail!("statistics answered {status}: {answer}");
        }
        if answer["completed"] == json!(true) {
            return Ok(());
        }
        if started.elapsed() > TRANSFER_TIMEOUT {
            anyhow::bail!(
                "{transfer_id} did not complete within {} s",
                TRANSFER_TIMEOUT.as_secs()
            );
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(POLL_MAX);
    }
}

async fn read_data(
    shared: &Shared,
    kind: Kind,
    transfer_id: &str,
    key: &str,
) -> anyhow::Result<()> {
    let mut offset = 0;
    let mut records = 0;
    let mut failed = 0;
    // Bounded: each page moves the offset forward, and a transfer has at most 10,000 records.
    for _ in 0..=super::RECORDS_PER_TRANSFER_MAX {
        let started = Instant::now();
        let (status, page) = send_raw(
            &shared.client,
            &shared.base_url,
            "GET",
            &data_path(kind, transfer_id, offset),
            key,
            None,
        )
        .await?;
        {
            let mut stats = shared.stats();
            Stats::record(&mut stats.data_page, micros(started));
            stats.requests += 1;
        }
        if status != 200 {
            anyhow::bail!(
                "data page at offset {offset} answered {status}: {}",
                String::from_utf8_lossy(&page)
            );
        }
        let (good, bad, next) = read_page(kind, &page);
        records += good;
        failed += bad;
        match next {
            Some(next) if next > offset => offset = next,
            _ => break,
        }
    }
    let mut stats = shared.stats();
    stats.records += records;
    stats.transfers_completed += 1;
    match kind {
        Kind::Pull => stats.pulls_completed += 1,
        Kind::Push => stats.pushes_completed += 1,
    }
    if failed > 0 {
        stats
            .errors
            .push(format!("{transfer_id}: {failed} push items failed"));
    }
    Ok(())
}

fn micros(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX)
}
