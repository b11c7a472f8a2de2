//! `serve` on loopback: triggers per second and data pages per second over HTTP/1.1.
//!
//! Workload: the serve driver (wall clock, `serve::app` plus an embedded hubspot mock with
//! unlimited budget, as `transfersim serve` builds them) on 127.0.0.1:0 in this process, its
//! own 2-thread tokio runtime; a reqwest client sends batches of 64 requests, 16 at a time
//! (keep-alive connections).
//! - `triggers`: `POST /api/push/transfer` with one item on an unconfigured session (accepted and
//!   queued: this measures the HTTP path and the API layer, not provider work). A key may have
//!   10,000 transfers queued, so every 9,000 triggers the session is deleted and a fresh one
//!   initiated (two requests in 9,000, inside the timing).
//! - `data_pages`: `GET /api/pull/data` of a completed pull of 100 contacts, 100 rows a page.
//!
//! The throughput element is one request.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};
use transfersim::serve::{self, ServeClock, Service, system_now_ms};
use transfersim_mock_providers::http::{ClockSource, base_url, router, serve_router};
use transfersim_mock_providers::{AccountOptions, Budget, Hubspot};
use transfersim_sim::engine::EngineConfig;

const KEY: &str = "bench_key";
const BATCH: usize = 64;
const AT_ONCE: usize = 16;

struct Server {
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
    base: String,
    /// The unconfigured push session and how many triggers it has queued.
    push_session: Mutex<(String, usize)>,
    pull_transfer: String,
}

/// Triggers queued on one push session before it is replaced (the key's limit is 10,000).
const TRIGGERS_PER_SESSION: usize = 9_000;

/// A push session to queue triggers on.
async fn push_session(client: &reqwest::Client, base: &str) -> String {
    let initiate = json!({"schema": [{"endgrate_type": "crm-contact"}], "save_session": true});
    let (status, push) = call(
        client,
        "POST",
        &format!("{base}/api/session/initiate"),
        Some(&initiate),
    )
    .await;
    assert_eq!(status, 200, "initiate: {push}");
    push["session_id"].as_str().unwrap_or_default().to_owned()
}

async fn call(
    client: &reqwest::Client,
    method: &str,
    url: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut request = if method == "GET" {
        client.get(url)
    } else {
        client.post(url)
    }
    .bearer_auth(KEY);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|error| panic!("{method} {url}: {error}"));
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

fn start() -> Server {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|error| panic!("a runtime: {error}"));
    let (base, push_session, pull_transfer, client) = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|error| panic!("binding 127.0.0.1:0: {error}"));
        let address = listener.local_addr().unwrap_or_else(|error| panic!("{error}"));
        let start_ms = system_now_ms();
        let clock = ServeClock::wall(start_ms);
        let service = Service::new(
            EngineConfig { api_keys: vec![KEY.to_owned()], ..EngineConfig::default() },
            clock.clone(),
        );
        let hubspot_url = base_url(address, "/providers/hubspot");
        let mut hubspot = Hubspot::new(hubspot_url.clone(), 0);
        let options = AccountOptions { budget: Some(Budget::Unlimited), latency_ms: Some(0), ..AccountOptions::default() };
        let account = hubspot.create_account(start_ms, &options).unwrap_or_else(|error| panic!("{error}"));
        hubspot
            .seed_records(start_ms, &account.account_id, "contacts", 100)
            .unwrap_or_else(|error| panic!("{error}"));
        let mock_clock = ClockSource::from_fn(move || clock.now());
        let app = serve::app(service.clone())
            .nest_service("/providers/hubspot", router(Arc::new(Mutex::new(hubspot)), mock_clock));
        let _timers = service.spawn_timer_task();
        tokio::spawn(serve_router(listener, app));
        let base = format!("http://{address}");
        let client = reqwest::Client::new();
        let initiate = json!({"schema": [{"endgrate_type": "crm-contact"}], "save_session": true});
        let (_, pull) = call(&client, "POST", &format!("{base}/api/session/initiate"), Some(&initiate)).await;
        let pull_session = pull["session_id"].as_str().unwrap_or_default().to_owned();
        let configure = json!({
            "session_id": pull_session, "provider": "hubspot", "provider_base_url": hubspot_url,
            "credentials": {"refresh_token": account.refresh_token, "client_id": account.client_id, "client_secret": account.client_secret},
        });
        let (status, answer) = call(&client, "POST", &format!("{base}/api/test_helpers/session/configure"), Some(&configure)).await;
        assert_eq!(status, 200, "configure: {answer}");
        let trigger = json!({"session_id": pull_session, "endgrate_type": "crm-contact", "synchronous": true});
        let (status, answer) = call(&client, "POST", &format!("{base}/api/pull/transfer"), Some(&trigger)).await;
        assert_eq!(status, 200, "the synchronous pull: {answer}");
        let pull_transfer = answer["transfer_id"].as_str().unwrap_or_default().to_owned();
        let push_session = push_session(&client, &base).await;
        (base, push_session, pull_transfer, client)
    });
    Server {
        runtime,
        client,
        base,
        push_session: Mutex::new((push_session, 0)),
        pull_transfer,
    }
}

/// Sends `BATCH` requests, `AT_ONCE` at a time, and checks each answered 200.
fn batch(server: &Server, method: &'static str, url: &str, body: Option<Value>) {
    server.runtime.block_on(async {
        let mut sent = 0;
        while sent < BATCH {
            let mut set = tokio::task::JoinSet::new();
            for _ in 0..AT_ONCE.min(BATCH - sent) {
                let client = server.client.clone();
                let url = url.to_owned();
                let body = body.clone();
                set.spawn(async move { call(&client, method, &url, body.as_ref()).await });
                sent += 1;
            }
            while let Some(joined) = set.join_next().await {
                let (status, answer) = joined.unwrap_or_else(|error| panic!("{error}"));
                assert_eq!(status, 200, "{method} {url}: {answer}");
            }
        }
    });
}

/// The push session for the next batch of triggers: the current one, or a fresh one once the
/// current one has queued [`TRIGGERS_PER_SESSION`].
fn next_push_session(server: &Server) -> String {
    let mut current = server
        .push_session
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if current.1 + BATCH > TRIGGERS_PER_SESSION {
        let old = current.0.clone();
        let fresh = server.runtime.block_on(async {
            let delete = json!({"session_id": old});
            let url = format!("{}/api/session/delete", server.base);
            let (status, answer) = call(&server.client, "POST", &url, Some(&delete)).await;
            assert_eq!(status, 200, "delete: {answer}");
            push_session(&server.client, &server.base).await
        });
        *current = (fresh, 0);
    }
    current.1 += BATCH;
    current.0.clone()
}

fn serve_loopback(c: &mut Criterion) {
    let server = start();
    let mut group = c.benchmark_group("serve");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(5));
    let trigger_url = format!("{}/api/push/transfer", server.base);
    group.bench_function("triggers", |b| {
        b.iter(|| {
            let session_id = next_push_session(&server);
            let trigger = json!({
                "session_id": session_id,
                "endgrate_type": "crm-contact",
                "transfer_data": [{"data": {"last_name": "Bench", "email": "b@example.com"}}],
            });
            batch(&server, "POST", &trigger_url, Some(trigger));
        });
    });
    let data_url = format!(
        "{}/api/pull/data?transfer_id={}&endgrate_type=crm-contact&limit=100",
        server.base, server.pull_transfer
    );
    group.bench_function("data_pages", |b| {
        b.iter(|| batch(&server, "GET", &data_url, None));
    });
    group.finish();
}

criterion_group!(benches, serve_loopback);
criterion_main!(benches);
