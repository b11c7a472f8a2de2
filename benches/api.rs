//! The API layer: request to response through `api::handle` (routing, auth, body parsing, the
//! engine command, the JSON answer), no sockets and no scheduler.
//!
//! Workload: a world with one pull session on a hubspot account seeded with 100 contacts (its
//! pull completed) and one unconfigured push session.
//! - `trigger`: `POST /api/push/transfer` with one item (asynchronous; queued behind the
//!   unconfigured session, so no provider work follows). A fresh world every 10,000 triggers,
//!   outside the timing, keeps the queue from growing without end.
//! - `data_page`: `GET /api/pull/data` of the completed pull, 100 rows.
//! - `statistics`: `GET /api/statistics` of the same transfer.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http::Request;
use serde_json::json;
use transfersim::load::{Plan, ProviderBudget, memory};
use transfersim_sim::api::{self, ApiOutcome};
use transfersim_sim::world::World;

const KEY: &str = "bench_key";

struct Fixture {
    world: World,
    push_session: String,
    pull_transfer: String,
}

fn fixture() -> Fixture {
    let plan = Plan {
        sessions: 1,
        accounts: 1,
        transfers: 1,
        records_per_transfer: 100,
        sync_ratio: 0.0,
        provider_budget: ProviderBudget::Unlimited,
        api_keys: vec![KEY.to_owned()],
    };
    let prepared = match memory::prepare(&plan, 3) {
        Ok(prepared) => prepared,
        Err(error) => panic!("the API bench sets up: {error:#}"),
    };
    let mut world = prepared.world;
    let pull = world.call(
        "POST",
        "/api/pull/transfer",
        KEY,
        Some(&json!({"session_id": prepared.sessions[0], "endgrate_type": "crm-contact"})),
    );
    let pull_transfer = world
        .answer_of(pull)
        .and_then(|answer| answer.json()["transfer_id"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("the pull was not accepted"));
    world.run_until_idle(3_600_000);
    let initiate = world.call(
        "POST",
        "/api/session/initiate",
        KEY,
        Some(&json!({"schema": [{"endgrate_type": "crm-contact"}], "save_session": true})),
    );
    let push_session = world
        .answer_of(initiate)
        .and_then(|answer| answer.json()["session_id"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("the push session was not initiated"));
    Fixture {
        world,
        push_session,
        pull_transfer,
    }
}

fn request(method: &str, uri: &str, body: Option<&serde_json::Value>) -> Request<Bytes> {
    let mut builder = Request::builder()
        .method(method)
        .uri(uri)
        .header(http::header::AUTHORIZATION, format!("Bearer {KEY}"));
    if body.is_some() {
        builder = builder.header(http::header::CONTENT_TYPE, "application/json");
    }
    let body = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
    builder
        .body(body)
        .unwrap_or_else(|error| panic!("a valid bench request: {error}"))
}

fn answered_200(outcome: ApiOutcome) {
    match outcome {
        ApiOutcome::Respond(response) if response.status() == 200 => {}
        ApiOutcome::Respond(response) => panic!(
            "answered {}: {}",
            response.status(),
            String::from_utf8_lossy(response.body())
        ),
        other => panic!("not answered at once: {other:?}"),
    }
}

fn api_layer(c: &mut Criterion) {
    let mut group = c.benchmark_group("api");
    group.throughput(Throughput::Elements(1));
    if !common::measuring() {
        group.sample_size(10);
    }

    group.bench_function("trigger", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            let mut done = 0;
            while done < iterations {
                let mut fixture = fixture();
                let body = json!({
                    "session_id": fixture.push_session,
                    "endgrate_type": "crm-contact",
                    "transfer_data": [{"data": {"last_name": "Bench", "email": "b@example.com"}}],
                });
                let batch = (iterations - done).min(10_000);
                let now = fixture.world.now();
                let started = Instant::now();
                for _ in 0..batch {
                    let request = request("POST", "/api/push/transfer", Some(&body));
                    answered_200(api::handle(fixture.world.engine_mut(), now, &request));
                }
                total += started.elapsed();
                done += batch;
            }
            total
        });
    });

    let mut fixture = fixture();
    let now = fixture.world.now();
    let data = format!(
        "/api/pull/data?transfer_id={}&endgrate_type=crm-contact&limit=100",
        fixture.pull_transfer
    );
    group.bench_function("data_page", |b| {
        b.iter(|| {
            let request = request("GET", &data, None);
            answered_200(api::handle(fixture.world.engine_mut(), now, &request));
        });
    });
    let statistics = format!("/api/statistics?transfer_id={}", fixture.pull_transfer);
    group.bench_function("statistics", |b| {
        b.iter(|| {
            let request = request("GET", &statistics, None);
            answered_200(api::handle(fixture.world.engine_mut(), now, &request));
        });
    });
    group.finish();
}

criterion_group!(benches, api_layer);
criterion_main!(benches);
