//! `transfersim serve`: the driver in-process (tower `oneshot`, tokio's paused clock) and as a
//! child process over loopback. Every server is started by its test on 127.0.0.1:0 and stopped by
//! it; every wait is bounded.

mod common;

use common::ServeProcess;
use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use axum::body::Body;
use serde_json::{Value, json};
use tower::ServiceExt as _;
use transfersim::serve::{ServeClock, Service, app};
use transfersim_sim::engine::EngineConfig;

const KEY: &str = "test_key";

fn service(clock: ServeClock) -> Service {
    Service::new(EngineConfig::default(), clock)
}

fn request(method: &str, path: &str, body: Option<Value>) -> http::Request<Body> {
    let builder = http::Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {KEY}"))
        .header("content-type", "application/json");
    let body = body.map_or_else(Body::empty, |value| Body::from(value.to_string()));
    builder.body(body).expect("a valid test request")
}

async fn json_of(response: axum::response::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("a readable body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn a_body_one_byte_over_16_mib_is_answered_413_with_the_envelope() {
    let app = app(service(ServeClock::virtual_at(1_767_225_600_000)));
    let oversized = vec![b' '; 16 * 1024 * 1024 + 1];
    let call = http::Request::builder()
        .method("POST")
        .uri("/api/push/initiate")
        .header("authorization", format!("Bearer {KEY}"))
        .body(Body::from(oversized))
        .expect("a valid request");
    let (status, body) = json_of(app.oneshot(call).await.expect("infallible")).await;
    assert_eq!(status, 413);
    assert_eq!(body["success"], json!(false));
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("16 MiB"))
    );
}

#[tokio::test]
async fn openapi_json_serves_the_embedded_spec() {
    let app = app(service(ServeClock::virtual_at(1_767_225_600_000)));
    let (status, body) = json_of(
        app.oneshot(request("GET", "/openapi.json", None))
            .await
            .expect("infallible"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        body["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3."))
    );
    assert!(body["paths"]["/api/push/transfer"].is_object());
}

/// Initiates a push session and triggers a synchronous push on it (never configured, so the
/// transfer stays queued and only the cap can answer).
async fn open_synchronous_push(app: &axum::Router) -> tokio::task::JoinHandle<(u16, Value)> {
    let (status, session) = json_of(
        app.clone()
            .oneshot(request(
                "POST",
                "/api/push/initiate",
                Some(json!({"schema": [{"endgrate_type": "crm-contact"}]})),
            ))
            .await
            .expect("infallible"),
    )
    .await;
    assert_eq!(status, 200, "{session}");
    let trigger = request(
        "POST",
        "/api/push/transfer",
        Some(json!({
            "session_id": session["session_id"],
            "endgrate_type": "crm-contact",
            "synchronous": true,
            "transfer_data": [{"data": {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"}}],
        })),
    );
    let app = app.clone();
    tokio::spawn(async move { json_of(app.oneshot(trigger).await.expect("infallible")).await })
}

#[tokio::test(start_paused = true)]
async fn synchronous_trigger_is_answered_202_at_300_seconds_on_the_wall_clock() {
    let service = service(ServeClock::wall(1_767_225_600_000));
    let timers = service.spawn_timer_task();
    let app = app(service);
    let started = tokio::time::Instant::now();
    let call = open_synchronous_push(&app).await;
    let (status, body) = tokio::time::timeout(Duration::from_secs(400), call)
        .await
        .expect("answered within 400 s of paused time")
        .expect("the call task ran");
    let waited = started.elapsed();
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["completed"], json!(false));
    assert!(
        waited >= Duration::from_secs(300) && waited < Duration::from_secs(301),
        "answered after {waited:?}"
    );
    if let Some(timers) = timers {
        timers.abort();
    }
}

#[tokio::test]
async fn synchronous_trigger_stays_open_while_another_request_advances_the_virtual_clock() {
    let app = app(service(ServeClock::virtual_at(1_767_225_600_000)));
    let call = open_synchronous_push(&app).await;
    // Bounded: a few short real waits for the trigger to reach the engine.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (status, advanced) = json_of(
        app.clone()
            .oneshot(request(
                "POST",
                "/api/test_helpers/clock/advance",
                Some(json!({"seconds": 299.999})),
            ))
            .await
            .expect("infallible"),
    )
    .await;
    assert_eq!(status, 200, "{advanced}");
    assert!(!call.is_finished(), "answered before the cap");
    let (status, _) = json_of(
        app.clone()
            .oneshot(request(
                "POST",
                "/api/test_helpers/clock/advance",
                Some(json!({"seconds": 0.001})),
            ))
            .await
            .expect("infallible"),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = tokio::time::timeout(Duration::from_secs(5), call)
        .await
        .expect("answered once the clock passed the cap")
        .expect("the call task ran");
    assert_eq!(status, 202, "{body}");
}

#[tokio::test]
async fn advance_on_a_wall_clock_is_409_and_leaves_the_clock_alone() {
    let app = app(service(ServeClock::wall(1_767_225_600_000)));
    let (status, clock) = json_of(
        app.clone()
            .oneshot(request("GET", "/api/test_helpers/clock", None))
            .await
            .expect("infallible"),
    )
    .await;
    assert_eq!(status, 200, "{clock}");
    assert_eq!(clock["virtual"], json!(false), "{clock}");
    let (status, body) = json_of(
        app.clone()
            .oneshot(request(
                "POST",
                "/api/test_helpers/clock/advance",
                Some(json!({"seconds": 3600})),
            ))
            .await
            .expect("infallible"),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        body,
        json!({"success": false, "message": "The clock is not virtual; it cannot be advanced."})
    );
    let (_, after) = json_of(
        app.oneshot(request("GET", "/api/test_helpers/clock", None))
            .await
            .expect("infallible"),
    )
    .await;
    let hour_later = "2026-01-01T01:00";
    assert!(
        after["now"]
            .as_str()
            .is_some_and(|now| !now.starts_with(hour_later)),
        "the refused advance moved the clock: {after}"
    );
}

#[tokio::test]
async fn every_answer_carries_the_virtual_time_in_its_date_header() {
    let app = app(service(ServeClock::virtual_at(1_767_225_600_000)));
    let date_of = |response: &axum::response::Response| {
        response
            .headers()
            .get("date")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let first = app
        .clone()
        .oneshot(request("GET", "/api/errors", None))
        .await
        .expect("infallible");
    assert_eq!(
        date_of(&first).as_deref(),
        Some("Thu, 01 Jan 2026 00:00:00 GMT")
    );
    // A day and a half later in virtual time, on a success, an error and the advance itself.
    let advanced = app
        .clone()
        .oneshot(request(
            "POST",
            "/api/test_helpers/clock/advance",
            Some(json!({"seconds": 129_600})),
        ))
        .await
        .expect("infallible");
    assert_eq!(
        date_of(&advanced).as_deref(),
        Some("Fri, 02 Jan 2026 12:00:00 GMT")
    );
    for (method, path) in [("GET", "/api/errors"), ("GET", "/api/no/such/route")] {
        let response = app
            .clone()
            .oneshot(request(method, path, None))
            .await
            .expect("infallible");
        assert_eq!(
            date_of(&response).as_deref(),
            Some("Fri, 02 Jan 2026 12:00:00 GMT"),
            "{method} {path}"
        );
    }
    let unauthenticated = http::Request::builder()
        .method("GET")
        .uri("/api/errors")
        .body(Body::empty())
        .expect("a valid request");
    let response = app.oneshot(unauthenticated).await.expect("infallible");
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(
        date_of(&response).as_deref(),
        Some("Fri, 02 Jan 2026 12:00:00 GMT")
    );
}

/// While an advance runs, the clock helper answers the instant being processed: a webhook retry
/// due 5 s into a 60 s advance reads the clock at +5 s, not at the advance's end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clock_reads_the_instant_being_processed_during_an_advance() {
    use std::sync::{Arc, Mutex};
    let start = 1_767_225_600_000;
    let app = app(service(ServeClock::virtual_at(start)));
    // A receiver that fails each webhook's first attempt and, on every attempt, asks serve for
    // its clock (bounded: a local in-process call).
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let receiver = {
        let (app, seen) = (app.clone(), Arc::clone(&seen));
        axum::Router::new().route(
            "/hook",
            axum::routing::post(move || {
                let (app, seen) = (app.clone(), Arc::clone(&seen));
                async move {
                    let (_, clock) = json_of(
                        app.oneshot(request("GET", "/api/test_helpers/clock", None))
                            .await
                            .expect("infallible"),
                    )
                    .await;
                    let mut seen = seen.lock().expect("unpoisoned");
                    seen.push(clock["now"].as_str().unwrap_or_default().to_owned());
                    if seen.len() == 1 {
                        http::StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        http::StatusCode::OK
                    }
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let address = listener.local_addr().expect("an address");
    let server = tokio::spawn(async move { axum::serve(listener, receiver).await });
    let (status, initiated) = json_of(
        app.clone()
            .oneshot(request(
                "POST",
                "/api/pull/initiate",
                Some(json!({
                    "schema": [{"endgrate_type": "crm-contact"}],
                    "configuration_webhook": {"endpoint": format!("http://{address}/hook")},
                })),
            ))
            .await
            .expect("infallible"),
    )
    .await;
    assert_eq!(status, 200, "{initiated}");
    let (status, configured) = json_of(
        app.clone()
            .oneshot(request(
                "POST",
                "/api/test_helpers/session/configure",
                Some(json!({
                    "session_id": initiated["session_id"], "provider": "hubspot",
                    "provider_base_url": "http://127.0.0.1:9/",
                    "credentials": {"refresh_token": "r", "client_id": "c", "client_secret": "s"},
                })),
            ))
            .await
            .expect("infallible"),
    )
    .await;
    assert_eq!(status, 200, "{configured}");
    // Bounded wait for the first (failing) attempt, delivered in the background at +0 s.
    for _ in 0..100 {
        if !seen.lock().expect("unpoisoned").is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, advanced) = json_of(
        app.clone()
            .oneshot(request(
                "POST",
                "/api/test_helpers/clock/advance",
                Some(json!({"seconds": 60})),
            ))
            .await
            .expect("infallible"),
    )
    .await;
    assert_eq!(status, 200, "{advanced}");
    assert_eq!(advanced["now"], json!("2026-01-01T00:01:00.000Z"));
    let seen = seen.lock().expect("unpoisoned").clone();
    assert_eq!(
        seen,
        ["2026-01-01T00:00:00.000Z", "2026-01-01T00:00:05.000Z"],
        "the receiver read the clock at the first attempt and at the retry 5 s later"
    );
    server.abort();
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a client")
}

async fn post(base: &str, path: &str, body: Value) -> (u16, Value) {
    let response = client()
        .post(format!("{base}{path}"))
        .bearer_auth(KEY)
        .json(&body)
        .send()
        .await
        .expect("serve answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The README's curl walk-through, request for request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_walkthrough_pushes_three_contacts_and_reads_them_back() {
    let serve = ServeProcess::start(&[]);
    let base = serve.base.clone();
    let (status, session) = post(
        &base,
        "/api/push/initiate",
        json!({"schema": [{"endgrate_type": "crm-contact"}]}),
    )
    .await;
    assert_eq!(status, 200, "{session}");
    let session_id = session["session_id"]
        .as_str()
        .expect("a session id")
        .to_owned();
    let (status, configured) = post(
        &base,
        "/api/test_helpers/session/configure",
        json!({
            "session_id": session_id,
            "provider": "hubspot",
            "provider_base_url": serve.hubspot("url"),
            "credentials": {
                "refresh_token": serve.hubspot("refresh_token"),
                "client_id": serve.hubspot("client_id"),
                "client_secret": serve.hubspot("client_secret"),
            },
        }),
    )
    .await;
    assert_eq!(status, 200, "{configured}");
    let (status, pushed) = post(
        &base,
        "/api/push/transfer",
        json!({
            "session_id": session_id,
            "endgrate_type": "crm-contact",
            "synchronous": true,
            "transfer_data": [
                {"internal_id": "c1", "data": {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"}},
                {"internal_id": "c2", "data": {"first_name": "Alan", "last_name": "Turing", "email": "alan@example.com"}},
                {"internal_id": "c3", "data": {"first_name": "Grace", "last_name": "Hopper", "email": "grace@example.com"}},
            ],
        }),
    )
    .await;
    assert_eq!(status, 200, "{pushed}");
    assert_eq!(pushed["completed"], json!(true), "{pushed}");
    let transfer_id = pushed["transfer_id"].as_str().expect("a transfer id");
    let response = client()
        .get(format!("{base}/api/push/data?transfer_id={transfer_id}"))
        .bearer_auth(KEY)
        .send()
        .await
        .expect("serve answers");
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.headers().contains_key("date"));
    let data: Value = response.json().await.expect("json");
    assert_eq!(data["meta"]["count"], json!(3), "{data}");
    assert_eq!(data["transfer_errors"], json!(false), "{data}");
    for index in 0..3 {
        assert_eq!(
            data["transfer_data"][index]["success"],
            json!(true),
            "{data}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_answers_open_synchronous_calls_503_on_shutdown() {
    let mut serve = ServeProcess::start(&["--clock", "virtual"]);
    let base = serve.base.clone();
    let (status, session) = post(
        &base,
        "/api/push/initiate",
        json!({"schema": [{"endgrate_type": "crm-contact"}]}),
    )
    .await;
    assert_eq!(status, 200);
    let trigger = tokio::spawn({
        let base = base.clone();
        let session_id = session["session_id"].clone();
        async move {
            post(
                &base,
                "/api/push/transfer",
                json!({
                    "session_id": session_id,
                    "endgrate_type": "crm-contact",
                    "synchronous": true,
                    "transfer_data": [{"data": {"first_name": "A", "last_name": "B", "email": "a@example.com"}}],
                }),
            )
            .await
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!trigger.is_finished(), "the synchronous call stays open");
    let killed = Command::new("kill")
        .args(["-TERM", &serve.child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let (status, body) = tokio::time::timeout(Duration::from_secs(10), trigger)
        .await
        .expect("answered within 10 s of SIGTERM")
        .expect("the call task ran");
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["message"], json!("Service is shutting down."));
    // Bounded: 100 polls of 100 ms for the exit.
    let mut exit = None;
    for _ in 0..100 {
        if let Some(status) = serve.child.try_wait().expect("try_wait") {
            exit = Some(status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(exit.and_then(|status| status.code()), Some(0));
}

/// Runs the embedded suite on a `serve` child with `extra` flags over HTTP.
fn suite_over_http(extra: &[&str]) -> Vec<transfersim::runner::ScenarioResult> {
    use transfersim::runner::{self, HttpOptions, HttpTarget, RunOptions, Target, suite};
    let serve = ServeProcess::start(&[&["--clock", "virtual"], extra].concat());
    let items = suite::embedded().expect("the embedded suite loads");
    let target = HttpTarget::connect(HttpOptions {
        base_url: serve.base.clone(),
        api_keys: vec![KEY.to_owned()],
        listen: "127.0.0.1:0".parse().expect("an address"),
        advertise: None,
        max_wait_ms: 600_000,
        configure: runner::ConfigureMode::Helpers,
    })
    .expect("the runner connects to serve");
    assert_eq!(target.clock(), runner::Clock::Virtual);
    let slot = std::sync::Mutex::new(Some(target));
    let make_target = move || -> Box<dyn Target> {
        Box::new(
            slot.lock()
                .expect("unpoisoned")
                .take()
                .expect("one job takes the one target"),
        )
    };
    let options = RunOptions {
        seed: None,
        jobs: 1,
        replay_flags: String::new(),
    };
    runner::run_suite(&items, &options, &make_target, &mut |_, _| {})
}

#[test]
fn the_embedded_suite_over_http_gives_the_in_memory_results() {
    use transfersim::runner::{self, MemoryTarget, RunOptions, Target, suite};
    let items = suite::embedded().expect("the embedded suite loads");
    let options = RunOptions {
        seed: None,
        jobs: 1,
        replay_flags: String::new(),
    };
    let make_memory = || -> Box<dyn Target> { Box::new(MemoryTarget::default()) };
    let in_memory = runner::run_suite(&items, &options, &make_memory, &mut |_, _| {});
    let started = std::time::Instant::now();
    let over_http = suite_over_http(&[]);
    let took = started.elapsed();
    eprintln!("suite over HTTP: {} scenarios in {took:?}", over_http.len());
    assert_eq!(in_memory.len(), over_http.len());
    let mut in_memory_only = 0;
    for (memory, http) in in_memory.iter().zip(&over_http) {
        if memory.tags.iter().any(|tag| tag == "in-memory-only") {
            in_memory_only += 1;
            assert_eq!(http.verdict.word(), "skipped", "{}", http.name);
            continue;
        }
        assert_eq!(
            memory.verdict.word(),
            http.verdict.word(),
            "{}: in memory {:?}, over HTTP {:?}",
            memory.name,
            memory.verdict,
            http.verdict
        );
    }
    assert!(
        in_memory_only >= 1,
        "the in-memory-only scenarios are counted"
    );
    // The 60 s figure of issue 7 is a benchmark, not a timed test (shared, noisy machines):
    // `benches/figures.sh` measures it and BENCHMARKS.md records it.
    eprintln!("the suite over HTTP took {took:?}");
}

#[cfg(feature = "mutations")]
#[test]
fn the_suite_over_http_catches_sync_ignores_cap() {
    let results = suite_over_http(&["--mutation", "sync-ignores-cap"]);
    assert!(
        results
            .iter()
            .any(|result| result.verdict.word() == "failed"),
        "no scenario failed against serve --mutation sync-ignores-cap"
    );
}

#[cfg(feature = "mutations")]
#[test]
fn the_suite_over_http_catches_queue_ignores_configuration() {
    let results = suite_over_http(&["--mutation", "queue-ignores-configuration"]);
    assert!(
        results
            .iter()
            .any(|result| result.verdict.word() == "failed"),
        "no scenario failed against serve --mutation queue-ignores-configuration"
    );
}

/// HELPER-29: against a virtual-clock target the runner runs one scenario at a time, whatever
/// `--jobs` says (the clock is shared by every key).
#[test]
fn runner_runs_scenarios_one_at_a_time_against_a_virtual_clock_target() {
    let serve = ServeProcess::start(&["--clock", "virtual"]);
    let output = Command::new(env!("CARGO_BIN_EXE_transfersim"))
        .args(["check", "--target", &serve.base, "--jobs", "4"])
        .args(["--filter", "test helpers move a shared virtual clock"])
        .env("NO_COLOR", "1")
        .output()
        .expect("check runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{text}");
    assert!(text.contains("(jobs 1)"), "{text}");
    assert!(text.contains("1 passed, 0 failed, 0 skipped"), "{text}");
}

/// HELPER-2: a target without test helpers (404 on their paths) gets the scenarios that need
/// them skipped, never failed, and the others run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runner_skips_scenarios_that_need_test_helpers_on_a_target_without_them() {
    let fake = axum::Router::new()
        .route(
            "/api/integrations",
            axum::routing::get(|| async { axum::Json(json!({"success": true, "providers": []})) }),
        )
        .fallback(|| async {
            (
                http::StatusCode::NOT_FOUND,
                axum::Json(json!({"success": false, "message": "Not found."})),
            )
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let base = format!("http://{}", listener.local_addr().expect("an address"));
    let server = tokio::spawn(async move { axum::serve(listener, fake).await });
    let folder = std::env::temp_dir().join(format!("transfersim-helper-2-{}", std::process::id()));
    std::fs::create_dir_all(&folder).expect("a scratch folder");
    std::fs::write(
        folder.join("needs_helpers.yaml"),
        "name: needs the configure helper\nrequirements: [HELPER-2]\nspan: 1m\nkeys: [main]\nsteps:\n  - request:\n      method: POST\n      path: /api/test_helpers/session/configure\n      body: {session_id: x}\n      expect: {status: 200}\n",
    )
    .expect("a scenario");
    std::fs::write(
        folder.join("public_only.yaml"),
        "name: lists the integrations\nrequirements: [HELPER-2]\nspan: 1m\nkeys: [main]\nsteps:\n  - request:\n      method: GET\n      path: /api/integrations\n      omit_headers: [Authorization]\n      expect: {status: 200, json: {success: true}}\n",
    )
    .expect("a scenario");
    let args = [
        "check".to_owned(),
        "--target".to_owned(),
        base,
        "--api-key".to_owned(),
        "k".to_owned(),
        "--scenarios".to_owned(),
        folder.display().to_string(),
    ];
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_transfersim"))
            .args(args)
            .env("NO_COLOR", "1")
            .output()
            .expect("check runs")
    })
    .await
    .expect("the check ran");
    server.abort();
    let _ = std::fs::remove_dir_all(&folder);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{text}");
    assert!(text.contains("1 passed, 0 failed, 1 skipped"), "{text}");
    assert!(
        text.lines()
            .any(|line| line.contains("skipped") && line.contains("needs the configure helper")),
        "{text}"
    );
}

/// HELPER-24: against a wall-clock target the runner waits for real (an `advance` is a real
/// wait, never the clock helper, which would answer 409) and its mock providers serve the
/// target on wall time.
#[test]
fn runner_runs_mock_providers_on_wall_time_against_a_wall_clock_target() {
    let serve = ServeProcess::start(&["--clock", "wall"]);
    let folder = std::env::temp_dir().join(format!("transfersim-helper-24-{}", std::process::id()));
    std::fs::create_dir_all(&folder).expect("a scratch folder");
    std::fs::write(
        folder.join("wall.yaml"),
        r#"name: waits for real on a wall clock
requirements: [HELPER-24]
span: 1m
keys: [main]
providers:
  hub: {provider: hubspot}
steps:
  - request:
      method: GET
      path: /api/test_helpers/clock
      capture: {t0: /now}
      expect: {status: 200, json: {virtual: false}}
  - advance: 2s
  - request:
      method: GET
      path: /api/test_helpers/clock
      expect: {status: 200, time_since: {/now: {since: "{{t0}}", seconds: 2, tolerance: 1}}}
  - request:
      method: POST
      path: /api/push/initiate
      body: {schema: [{endgrate_type: crm-contact}]}
      capture: {session_id: /session_id}
      expect: {status: 200}
  - request:
      method: POST
      path: /api/test_helpers/session/configure
      body:
        session_id: "{{session_id}}"
        provider: hubspot
        provider_base_url: "{{providers.hub.base_url}}"
        credentials:
          refresh_token: "{{providers.hub.refresh_token}}"
          client_id: "{{providers.hub.client_id}}"
          client_secret: "{{providers.hub.client_secret}}"
      expect: {status: 200}
  - request:
      method: POST
      path: /api/push/transfer
      body:
        session_id: "{{session_id}}"
        endgrate_type: crm-contact
        synchronous: true
        transfer_data: [{internal_id: a, data: {last_name: Lovelace}}]
      expect: {status: 200, json: {completed: true}}
  - provider_expect: {account: hub, object: contacts, record_count: 1, refreshes: {min: 1, max: 1}}
"#,
    )
    .expect("a scenario");
    let started = std::time::Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_transfersim"))
        .args(["check", "--target", &serve.base, "--scenarios"])
        .arg(&folder)
        .env("NO_COLOR", "1")
        .output()
        .expect("check runs");
    let took = started.elapsed();
    let _ = std::fs::remove_dir_all(&folder);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{text}");
    assert!(text.contains("1 passed, 0 failed, 0 skipped"), "{text}");
    assert!(
        took >= Duration::from_secs(2),
        "the 2 s advance was not waited for: {took:?}"
    );
}
#[cfg(feature = "mutations")]
#[test]
fn the_suite_over_http_catches_data_before_complete() {
    let results = suite_over_http(&["--mutation", "data-before-complete"]);
    let failed: Vec<&str> = results
        .iter()
        .filter(|result| result.verdict.word() == "failed")
        .map(|result| result.name.as_str())
        .collect();
    // The in-memory-only scenarios that catch it in memory are skipped here; this one is not.
    assert!(
        failed.contains(&"hubspot 429 storm on a push is waited out without failing"),
        "against serve --mutation data-before-complete, failed: {failed:?}"
    );
}

#[cfg(feature = "mutations")]
#[test]
fn the_suite_over_http_catches_fail_on_rate_limit() {
    let results = suite_over_http(&["--mutation", "fail-on-rate-limit"]);
    let failed: Vec<&str> = results
        .iter()
        .filter(|result| result.verdict.word() == "failed")
        .map(|result| result.name.as_str())
        .collect();
    // The in-memory-only scenarios that catch it in memory are skipped here; this one is not.
    assert!(
        failed.contains(&"hubspot 429 storm on a push is waited out without failing"),
        "against serve --mutation fail-on-rate-limit, failed: {failed:?}"
    );
}

/// `check --target URL --configure manual`: the runner prints the hosted-flow link and waits; a
/// person (this test, from another thread) configures the session out of band with the details
/// printed, and the black-box scenario then passes.
#[test]
fn configure_manual_prints_the_link_and_waits_for_a_person() {
    let serve = ServeProcess::start(&["--clock", "virtual"]);
    let mut check = Command::new(env!("CARGO_BIN_EXE_transfersim"))
        .args(["check", "--target", &serve.base, "--configure", "manual"])
        .args([
            "--api-key",
            KEY,
            "--filter",
            "sync push answered at completion",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("transfersim check starts");
    let stdout = check.stdout.take().expect("piped stdout");
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    // Bounded: lines until the link and the account line, each within 60 s.
    let (link, account) = loop {
        let line = receiver
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no hosted-flow link printed; saw {seen:#?}"));
        if let Some(link) = line.strip_prefix("configure by hand: ") {
            let account = receiver
                .recv_timeout(Duration::from_secs(10))
                .expect("the account line follows the link");
            break (link.to_owned(), account);
        }
        seen.push(line);
    };
    let session_id = link
        .strip_prefix(&format!("{}/session?session_id=", serve.base))
        .unwrap_or_else(|| panic!("the link is <base>/session?session_id=…: {link}"))
        .to_owned();
    let field = |name: &str| -> String {
        account
            .split_whitespace()
            .find_map(|part| part.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("`{name}` in {account}"))
            .to_owned()
    };
    // The runner is waiting: nothing is configured yet.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        check.try_wait().expect("try_wait").is_none(),
        "check finished before anyone configured the session"
    );
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let (status, body) = runtime.block_on(async {
        let (status, _) = get(
            &serve.base,
            &format!("/api/session/configuration?session_id={session_id}"),
        )
        .await;
        assert_eq!(status, 409, "unconfigured while the runner waits");
        post(
            &serve.base,
            "/api/test_helpers/session/configure",
            json!({
                "session_id": session_id,
                "provider": field("provider"),
                "provider_base_url": field("provider_base_url"),
                "credentials": {
                    "refresh_token": field("refresh_token"),
                    "client_id": field("client_id"),
                    "client_secret": field("client_secret"),
                },
            }),
        )
        .await
    });
    assert_eq!(status, 200, "{body}");
    // Bounded: the rest of the scenario, within 120 s.
    let mut exit = None;
    for _ in 0..1200 {
        if let Some(status) = check.try_wait().expect("try_wait") {
            exit = Some(status);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let rest: Vec<String> = receiver.try_iter().collect();
    let _ = check.kill();
    assert_eq!(
        exit.and_then(|status| status.code()),
        Some(0),
        "check --configure manual did not pass: {seen:#?} {rest:#?}"
    );
    assert!(
        rest.iter().any(|line| line.contains("1 passed")),
        "{rest:#?}"
    );
}

#[test]
fn configure_manual_skips_scenarios_not_tagged_black_box() {
    use transfersim::runner::{ConfigureMode, HttpOptions, HttpTarget, Target};
    let serve = ServeProcess::start(&["--clock", "virtual"]);
    let target = HttpTarget::connect(HttpOptions {
        base_url: serve.base.clone(),
        api_keys: vec![KEY.to_owned()],
        listen: "127.0.0.1:0".parse().expect("an address"),
        advertise: None,
        max_wait_ms: 600_000,
        configure: ConfigureMode::Manual,
    })
    .expect("the runner connects to serve");
    assert!(target.supports(&["black-box".to_owned()]).is_ok());
    let refused = target
        .supports(&[])
        .expect_err("an untagged scenario is refused");
    assert!(refused.contains("black-box"), "{refused}");
}

async fn get(base: &str, path: &str) -> (u16, Value) {
    let response = client()
        .get(format!("{base}{path}"))
        .bearer_auth(KEY)
        .send()
        .await
        .expect("serve answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A list shared between the test and the target it records.
type Log<T> = std::sync::Arc<std::sync::Mutex<Vec<T>>>;

/// A target that passes everything to an HTTP target and remembers each call's answer, so the
/// wall-clock test can report when the synchronous trigger was answered.
struct Recording {
    inner: transfersim::runner::HttpTarget,
    /// Path, call and scenario time sent.
    calls: Log<(String, transfersim::runner::CallId, u64)>,
    /// Path, status, scenario time sent and scenario time answered.
    answers: Log<(String, u16, u64, u64)>,
}

impl transfersim::runner::Target for Recording {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn clock(&self) -> transfersim::runner::Clock {
        self.inner.clock()
    }
    fn supports(&self, tags: &[String]) -> Result<(), String> {
        self.inner.supports(tags)
    }
    fn start(
        &mut self,
        plan: transfersim::runner::StartPlan,
    ) -> Result<(), transfersim::runner::TargetError> {
        self.inner.start(plan)
    }
    fn mint_key(&mut self) -> Result<String, transfersim::runner::TargetError> {
        self.inner.mint_key()
    }
    fn receiver_url(
        &mut self,
        name: &str,
        receiver: &transfersim::scenario::Receiver,
    ) -> Result<String, transfersim::runner::TargetError> {
        self.inner.receiver_url(name, receiver)
    }
    fn providers(&mut self) -> &mut dyn transfersim::runner::Providers {
        self.inner.providers()
    }
    fn send(
        &mut self,
        request: transfersim::runner::ApiRequest,
    ) -> Result<transfersim::runner::CallId, transfersim::runner::TargetError> {
        let path = request.path_and_query.clone();
        let sent = self.inner.elapsed_ms();
        let call = self.inner.send(request)?;
        self.calls
            .lock()
            .expect("unpoisoned")
            .push((path, call, sent));
        Ok(call)
    }
    fn answer(&self, call: transfersim::runner::CallId) -> Option<transfersim::runner::Answer> {
        let answer = self.inner.answer(call)?;
        let calls = self.calls.lock().expect("unpoisoned");
        if let Some((path, _, sent)) = calls.iter().find(|(_, id, _)| *id == call) {
            let mut answers = self.answers.lock().expect("unpoisoned");
            let entry = (path.clone(), answer.status, *sent, answer.at_ms);
            if !answers.contains(&entry) {
                answers.push(entry);
            }
        }
        Some(answer)
    }
    fn elapsed_ms(&self) -> u64 {
        self.inner.elapsed_ms()
    }
    fn advance(&mut self, millis: u64) -> Result<(), transfersim::runner::TargetError> {
        self.inner.advance(millis)
    }
    fn wait_for_answer(
        &mut self,
        calls: &[transfersim::runner::CallId],
        until_ms: u64,
    ) -> Result<(), transfersim::runner::TargetError> {
        self.inner.wait_for_answer(calls, until_ms)
    }
    fn world(&self) -> Option<&transfersim_sim::world::World> {
        None
    }
    fn webhook_arrivals(
        &self,
        receiver: &str,
    ) -> Result<Vec<transfersim::runner::target::WebhookArrival>, transfersim::runner::TargetError>
    {
        self.inner.webhook_arrivals(receiver)
    }
    fn trace(&self) -> Vec<String> {
        self.inner.trace()
    }
    fn trace_hash(&self) -> Option<String> {
        self.inner.trace_hash()
    }
}

/// Issue 7's acceptance on real time: `check` against `serve --clock wall`, running the
/// synchronous-cap scenario alone, sees the trigger answered 202 between 300 and 302 s after it
/// was sent. Takes about six minutes: run it with `--ignored`.
#[test]
#[ignore = "waits more than five minutes of real time"]
fn synchronous_cap_scenario_on_serve_clock_wall_is_answered_202_between_300_and_302_seconds() {
    use transfersim::runner::{self, HttpOptions, HttpTarget, RunOptions, Target, suite};
    let serve = ServeProcess::start(&["--clock", "wall"]);
    let items: Vec<_> = suite::embedded()
        .expect("the embedded suite loads")
        .into_iter()
        .filter(|item| {
            item.source
                .ends_with("sync_trigger_answered_202_at_300_seconds.yaml")
        })
        .collect();
    assert_eq!(items.len(), 1, "the synchronous-cap scenario alone");
    let inner = HttpTarget::connect(HttpOptions {
        base_url: serve.base.clone(),
        api_keys: vec![KEY.to_owned()],
        listen: "127.0.0.1:0".parse().expect("an address"),
        advertise: None,
        max_wait_ms: 40 * 60_000,
        configure: runner::ConfigureMode::Helpers,
    })
    .expect("the runner connects to serve");
    assert_eq!(inner.clock(), runner::Clock::Wall);
    let answers = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let recording = Recording {
        inner,
        calls: std::sync::Arc::default(),
        answers: answers.clone(),
    };
    let slot = std::sync::Mutex::new(Some(recording));
    let make_target = move || -> Box<dyn Target> {
        Box::new(slot.lock().expect("unpoisoned").take().expect("one target"))
    };
    let options = RunOptions {
        seed: None,
        jobs: 1,
        replay_flags: String::new(),
    };
    let started = std::time::Instant::now();
    let results = runner::run_suite(&items, &options, &make_target, &mut |_, _| {});
    let answers = answers.lock().expect("unpoisoned").clone();
    let (_, status, sent, at) = answers
        .iter()
        .find(|(path, ..)| path == "/api/pull/transfer")
        .cloned()
        .expect("the trigger was answered");
    let waited = at.saturating_sub(sent);
    eprintln!(
        "synchronous trigger answered {status} {:.3} s of real time after it was sent; \
         scenario {} in {:?}",
        waited as f64 / 1000.0,
        results[0].verdict.word(),
        started.elapsed()
    );
    assert_eq!(status, 202);
    assert!(
        (300_000..=302_000).contains(&waited),
        "answered after {waited} ms"
    );
    assert_eq!(
        results[0].verdict.word(),
        "passed",
        "{:?}",
        results[0].verdict
    );
}

// ----- The serve driver under tokio's paused clock, in-process ---------------------------------

/// A valid Standard Webhooks secret for the keys given to the engine.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const START_MS: u64 = 1_767_225_600_000;

/// One webhook attempt as a receiver saw it.
#[derive(Debug, Clone)]
struct Attempt {
    at: tokio::time::Instant,
    headers: http::HeaderMap,
    body: bytes::Bytes,
}

/// A webhook receiver on 127.0.0.1:0 that answers 500 to its first `failures` attempts and 200
/// after. Stopped when its task is aborted.
async fn failing_receiver(
    failures: usize,
) -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<Attempt>>>,
    tokio::task::JoinHandle<()>,
) {
    let attempts = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Attempt>::new()));
    let seen = attempts.clone();
    let hook = move |headers: http::HeaderMap, body: bytes::Bytes| {
        let seen = seen.clone();
        async move {
            let mut seen = seen.lock().expect("unpoisoned");
            seen.push(Attempt {
                at: tokio::time::Instant::now(),
                headers,
                body,
            });
            if seen.len() <= failures {
                http::StatusCode::INTERNAL_SERVER_ERROR
            } else {
                http::StatusCode::OK
            }
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let address = listener.local_addr().expect("an address");
    let router = axum::Router::new().route("/hook", axum::routing::post(hook));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (format!("http://{address}/hook"), attempts, task)
}

async fn call(app: &axum::Router, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    json_of(
        app.clone()
            .oneshot(request(method, path, body))
            .await
            .expect("infallible"),
    )
    .await
}

/// CONTRACT.md section 4: a webhook that fails is retried 5 s, 30 s, 2 min, ... after the
/// previous failure, every attempt with the same `webhook-id` and a valid signature. Three
/// failures, then success: four attempts at 0, 5, 35 and 155 s, and no fifth.
#[tokio::test(start_paused = true)]
async fn a_failing_receiver_gets_the_webhook_again_on_the_retry_ladder() {
    let config = EngineConfig {
        webhook_secret: Some(SECRET.to_owned()),
        ..EngineConfig::default()
    };
    let (attempts, session) = configuration_webhook_attempts(config).await;
    assert_eq!(attempts.len(), 4, "{attempts:#?}");
    let first = attempts[0].at;
    let offsets: Vec<u64> = attempts
        .iter()
        .map(|attempt| attempt.at.duration_since(first).as_secs())
        .collect();
    assert_eq!(offsets, [0, 5, 35, 155]);
    let id = attempts[0].headers["webhook-id"].clone();
    for attempt in &attempts {
        assert_eq!(
            attempt.headers["webhook-id"], id,
            "one id for every attempt"
        );
        assert_eq!(attempt.headers["content-type"], "application/json");
        let timestamp = timestamp_of(attempt);
        let sent_at = START_MS / 1000 + attempt.at.duration_since(first).as_secs();
        assert!(
            timestamp.abs_diff(sent_at) <= 1,
            "the timestamp is the attempt's: {timestamp} vs {sent_at}"
        );
        transfersim_sim::webhook::signature::verify(
            SECRET,
            &attempt.headers,
            &attempt.body,
            timestamp,
        )
        .expect("a valid Standard Webhooks signature");
        assert_eq!(
            attempt.body, attempts[0].body,
            "the same bytes every attempt"
        );
    }
    let body: Value = serde_json::from_slice(&attempts[0].body).expect("a JSON body");
    assert_eq!(body["session_id"], session["session_id"]);
    assert_eq!(body["metadata"], json!({"n": 1}));
}

fn timestamp_of(attempt: &Attempt) -> u64 {
    attempt.headers["webhook-timestamp"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("unix seconds")
}

/// The ladder test sees the bugs it is about: no retry, or the wrong secret.
#[cfg(feature = "mutations")]
#[tokio::test(start_paused = true)]
async fn the_retry_ladder_test_sees_webhook_no_retry_and_bad_signature() {
    use transfersim_sim::mutations::Mutation;
    let config = EngineConfig {
        webhook_secret: Some(SECRET.to_owned()),
        mutation: Some(Mutation::WebhookNoRetry),
        ..EngineConfig::default()
    };
    let (attempts, _) = configuration_webhook_attempts(config).await;
    assert_eq!(attempts.len(), 1, "no retry after the failure");
    let config = EngineConfig {
        webhook_secret: Some(SECRET.to_owned()),
        mutation: Some(Mutation::BadSignature),
        ..EngineConfig::default()
    };
    let (attempts, _) = configuration_webhook_attempts(config).await;
    let attempt = attempts.first().expect("an attempt");
    let verified = transfersim_sim::webhook::signature::verify(
        SECRET,
        &attempt.headers,
        &attempt.body,
        timestamp_of(attempt),
    );
    assert!(verified.is_err(), "a signature with the wrong secret");
}

/// A push session whose configuration webhook goes to a receiver that fails three times,
/// configured; the attempts the receiver saw over 15 minutes of paused time.
async fn configuration_webhook_attempts(config: EngineConfig) -> (Vec<Attempt>, Value) {
    let service = Service::new(config, ServeClock::wall(START_MS));
    let timers = service.spawn_timer_task();
    let app = app(service);
    let (url, attempts, receiver) = failing_receiver(3).await;
    let session = configured_hubspot_session(
        &app,
        "push",
        json!({
            "schema": [{"endgrate_type": "crm-contact"}],
            "configuration_webhook": {"endpoint": url, "metadata": {"n": 1}},
        }),
        "http://127.0.0.1:9",
        json!({"refresh_token": "r", "client_id": "c", "client_secret": "s"}),
    )
    .await;
    // Paused time: this sleep runs the whole ladder and then some.
    tokio::time::sleep(Duration::from_secs(15 * 60)).await;
    let attempts = attempts.lock().expect("unpoisoned").clone();
    receiver.abort();
    if let Some(timers) = timers {
        timers.abort();
    }
    (attempts, session)
}

/// The embedded hubspot mock and the API on one loopback listener, on the service's clock.
async fn serve_with_hubspot(
    service: &Service,
    options: &transfersim_mock_providers::AccountOptions,
) -> (
    String,
    std::sync::Arc<std::sync::Mutex<transfersim_mock_providers::Hubspot>>,
    transfersim_mock_providers::Credentials,
    tokio::task::JoinHandle<()>,
) {
    use transfersim_mock_providers::http::{ClockSource, base_url, router, serve_router};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let address = listener.local_addr().expect("an address");
    let hubspot_url = base_url(address, "/providers/hubspot");
    let mut hubspot = transfersim_mock_providers::Hubspot::new(hubspot_url.clone(), 7);
    let credentials = hubspot
        .create_account(service.clock().now(), options)
        .expect("an account");
    let hubspot = std::sync::Arc::new(std::sync::Mutex::new(hubspot));
    let clock = service.clock().clone();
    let routes = app(service.clone()).nest_service(
        "/providers/hubspot",
        router(hubspot.clone(), ClockSource::from_fn(move || clock.now())),
    );
    let task = tokio::spawn(async move {
        let _ = serve_router(listener, routes).await;
    });
    (hubspot_url, hubspot, credentials, task)
}

fn refreshes(hubspot: &std::sync::Mutex<transfersim_mock_providers::Hubspot>) -> usize {
    hubspot
        .lock()
        .expect("unpoisoned")
        .journal()
        .iter()
        .filter(|entry| entry.is_refresh())
        .count()
}

async fn push_one(app: &axum::Router, session_id: &Value, email: &str) -> (u16, Value) {
    call(
        app,
        "POST",
        "/api/push/transfer",
        Some(json!({
            "session_id": session_id,
            "endgrate_type": "crm-contact",
            "synchronous": true,
            "transfer_data": [{"data": {"first_name": "A", "last_name": "B", "email": email}}],
        })),
    )
    .await
}

/// A token that expires between two pushes draws exactly one refresh; one still valid draws
/// none.
#[tokio::test(start_paused = true)]
async fn a_token_expiring_between_requests_draws_one_refresh() {
    let counts = refreshes_over_three_pushes(EngineConfig::default()).await;
    assert_eq!(
        counts,
        [1, 1, 2],
        "a first token, reused at 60 s, one refresh after the 600 s lifetime"
    );
}

/// The token test sees a target that refreshes before every request.
#[cfg(feature = "mutations")]
#[tokio::test(start_paused = true)]
async fn the_token_test_sees_refresh_per_request() {
    let config = EngineConfig {
        mutation: Some(transfersim_sim::mutations::Mutation::RefreshPerRequest),
        ..EngineConfig::default()
    };
    let counts = refreshes_over_three_pushes(config).await;
    assert_ne!(counts, [1, 1, 2]);
}

/// Pushes one contact at 0 s, 60 s and 760 s to an account whose tokens live 600 s, each
/// synchronously and without errors, and answers the refresh count after each.
async fn refreshes_over_three_pushes(config: EngineConfig) -> Vec<usize> {
    let service = Service::new(config, ServeClock::wall(START_MS));
    let timers = service.spawn_timer_task();
    let options = transfersim_mock_providers::AccountOptions {
        token_lifetime_s: Some(600),
        ..Default::default()
    };
    let (hubspot_url, hubspot, credentials, server) = serve_with_hubspot(&service, &options).await;
    let app = app(service);
    let session = configured_hubspot_session(
        &app,
        "push",
        json!({"schema": [{"endgrate_type": "crm-contact"}]}),
        &hubspot_url,
        json!({
            "refresh_token": credentials.refresh_token,
            "client_id": credentials.client_id,
            "client_secret": credentials.client_secret,
        }),
    )
    .await;
    let mut counts = Vec::new();
    // The second push 60 s after the first; the third past the 600 s lifetime.
    for (wait_s, email) in [
        (0, "a@example.com"),
        (60, "b@example.com"),
        (700, "c@example.com"),
    ] {
        tokio::time::sleep(Duration::from_secs(wait_s)).await;
        let (status, pushed) = push_one(&app, &session["session_id"], email).await;
        assert_eq!(status, 200, "{pushed}");
        assert_eq!(pushed["completed"], json!(true), "{pushed}");
        let transfer_id = pushed["transfer_id"].as_str().expect("an id");
        let (status, data) = call(
            &app,
            "GET",
            &format!("/api/push/data?transfer_id={transfer_id}"),
            None,
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(data["transfer_errors"], json!(false), "{data}");
        counts.push(refreshes(&hubspot));
    }
    server.abort();
    if let Some(timers) = timers {
        timers.abort();
    }
    counts
}

// ----- Wiremock as a misbehaving provider, on wall time with short limits ------------------------

/// A sound hubspot token answer.
fn token_answer() -> wiremock::ResponseTemplate {
    wiremock::ResponseTemplate::new(200).set_body_json(json!({
        "access_token": "at-1",
        "refresh_token": "rt-1",
        "expires_in": 1800,
        "token_type": "bearer",
    }))
}

/// A synchronous hubspot pull of contacts against `provider` (a wiremock server), through the
/// in-process driver on a wall clock: the trigger's answer, the transfer's `/data` and its
/// `/errors`, and how long the trigger took. Every wait is bounded by 20 s.
async fn pull_from(provider: &wiremock::MockServer) -> (u16, Value, Value, Value, Duration) {
    let service = Service::new(EngineConfig::default(), ServeClock::wall(START_MS));
    let timers = service.spawn_timer_task();
    let app = app(service);
    let session = configured_hubspot_session(
        &app,
        "pull",
        json!({"schema": [{"endgrate_type": "crm-contact"}]}),
        &provider.uri(),
        json!({"refresh_token": "rt-0", "client_id": "c", "client_secret": "s"}),
    )
    .await;
    let started = std::time::Instant::now();
    let (status, answer) = tokio::time::timeout(
        Duration::from_secs(20),
        call(
            &app,
            "POST",
            "/api/pull/transfer",
            Some(json!({
                "session_id": session["session_id"],
                "endgrate_type": "crm-contact",
                "synchronous": true,
            })),
        ),
    )
    .await
    .expect("the synchronous pull is answered within 20 s");
    let took = started.elapsed();
    let transfer_id = answer["transfer_id"].as_str().unwrap_or("").to_owned();
    let (data_status, data) = call(
        &app,
        "GET",
        &format!("/api/pull/data?transfer_id={transfer_id}"),
        None,
    )
    .await;
    assert_eq!(data_status, 200, "{data}");
    let (errors_status, errors) = call(
        &app,
        "GET",
        &format!("/api/errors?transfer_id={transfer_id}"),
        None,
    )
    .await;
    assert_eq!(errors_status, 200, "{errors}");
    if let Some(timers) = timers {
        timers.abort();
    }
    (status, answer, data, errors, took)
}

/// A provider whose token endpoint is sound and whose contacts list answers `list`.
async fn provider_answering(list: wiremock::ResponseTemplate) -> wiremock::MockServer {
    use wiremock::matchers::{method, path};
    let provider = wiremock::MockServer::start().await;
    wiremock::Mock::given(method("POST"))
        .and(path("/oauth/v1/token"))
        .respond_with(token_answer())
        .mount(&provider)
        .await;
    wiremock::Mock::given(method("GET"))
        .and(path("/crm/v3/objects/contacts"))
        .respond_with(list)
        .mount(&provider)
        .await;
    provider
}

/// The pull ended at once (no retry of a 2xx) with one `upstream` error, and the trigger was
/// answered 200 completed with `transfer_errors`, never a 500.
fn assert_ended_upstream(
    case: &str,
    (status, answer, data, errors, took): &(u16, Value, Value, Value, Duration),
) {
    assert_eq!(*status, 200, "{case}: {answer}");
    assert_eq!(answer["completed"], json!(true), "{case}: {answer}");
    assert_eq!(data["transfer_errors"], json!(true), "{case}: {data}");
    assert!(
        errors.to_string().contains(r#""error_type":"upstream""#),
        "{case}: {errors}"
    );
    assert!(*took < Duration::from_secs(5), "{case}: took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_provider_page_ends_the_pull_with_an_upstream_error() {
    let provider = provider_answering(wiremock::ResponseTemplate::new(200).set_body_raw(
        r#"{"results": [{"id": "1", "properties": {"firstname": "#,
        "application/json",
    ))
    .await;
    let outcome = pull_from(&provider).await;
    assert_ended_upstream("truncated JSON", &outcome);
    let lists = provider
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|request| request.url.path() == "/crm/v3/objects/contacts")
        .count();
    assert_eq!(
        lists, 1,
        "a 2xx that is not the expected JSON is not retried"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_html_page_with_the_wrong_content_type_ends_the_pull_with_an_upstream_error() {
    let provider = provider_answering(
        wiremock::ResponseTemplate::new(200)
            .set_body_raw("<html><body>Service Unavailable</body></html>", "text/html"),
    )
    .await;
    assert_ended_upstream("text/html", &pull_from(&provider).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_of_the_wrong_shape_ends_the_pull_with_an_upstream_error() {
    let provider = provider_answering(
        wiremock::ResponseTemplate::new(200).set_body_json(json!({"results": "not a list"})),
    )
    .await;
    assert_ended_upstream("wrong shape", &pull_from(&provider).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_token_answer_fails_the_transfer_without_a_500() {
    use wiremock::matchers::{method, path};
    let provider = wiremock::MockServer::start().await;
    wiremock::Mock::given(method("POST"))
        .and(path("/oauth/v1/token"))
        .respond_with(
            wiremock::ResponseTemplate::new(200).set_body_raw("{\"access_tok", "application/json"),
        )
        .mount(&provider)
        .await;
    let (status, answer, data, errors, took) = pull_from(&provider).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["completed"], json!(true), "{answer}");
    assert_eq!(data["transfer_errors"], json!(true), "{data}");
    let text = errors.to_string();
    assert!(
        text.contains(r#""error_type":"upstream""#)
            || text.contains(r#""error_type":"authentication""#),
        "{errors}"
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

/// A slow but sound provider: the synchronous pull waits for it and completes with the record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_provider_page_is_waited_for() {
    let provider = provider_answering(
        wiremock::ResponseTemplate::new(200)
            .set_body_json(json!({
                "results": [{
                    "id": "1",
                    "properties": {"firstname": "Ada", "lastname": "Lovelace", "email": "ada@example.com"},
                    "createdAt": "2026-01-01T00:00:00Z",
                    "updatedAt": "2026-01-01T00:00:00Z",
                    "archived": false,
                }],
            }))
            .set_delay(Duration::from_millis(1500)),
    )
    .await;
    let (status, answer, data, errors, took) = pull_from(&provider).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["completed"], json!(true), "{answer}");
    assert_eq!(data["transfer_errors"], json!(false), "{data} {errors}");
    assert_eq!(data["meta"]["count"], json!(1), "{data}");
    assert!(took >= Duration::from_millis(1500), "took {took:?}");
}

/// A receiver that answers with a redirect: a failure (redirects are not followed), retried 5 s
/// later on wall time, and never a 500 for the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirecting_receiver_is_a_failed_attempt_retried_after_five_seconds() {
    use wiremock::matchers::method;
    let receiver = wiremock::MockServer::start().await;
    wiremock::Mock::given(method("POST"))
        .respond_with(
            wiremock::ResponseTemplate::new(307).insert_header("location", "http://127.0.0.1:9/"),
        )
        .up_to_n_times(1)
        .mount(&receiver)
        .await;
    wiremock::Mock::given(method("POST"))
        .respond_with(wiremock::ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let service = Service::new(EngineConfig::default(), ServeClock::wall(START_MS));
    let timers = service.spawn_timer_task();
    let app = app(service);
    configured_hubspot_session(
        &app,
        "push",
        json!({
            "schema": [{"endgrate_type": "crm-contact"}],
            "configuration_webhook": {"endpoint": format!("{}/hook", receiver.uri())},
        }),
        "http://127.0.0.1:9",
        json!({"refresh_token": "r", "client_id": "c", "client_secret": "s"}),
    )
    .await;
    // Bounded: 100 polls of 100 ms for the second attempt.
    let mut attempts = Vec::new();
    for _ in 0..100 {
        attempts = receiver.received_requests().await.unwrap_or_default();
        if attempts.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(attempts.len(), 2, "one failed attempt, one retry");
    assert_eq!(
        attempts[0].headers.get("webhook-id"),
        attempts[1].headers.get("webhook-id")
    );
    if let Some(timers) = timers {
        timers.abort();
    }
}

/// HELPER-21: over HTTP on a virtual clock, provider requests and webhook deliveries take no
/// virtual time, and the 30 s provider timeout and the 10 s webhook window run on the wall clock.
/// A provider page that takes 60 s and a receiver that takes 11 s: after 31 s of real waiting the
/// virtual clock has not moved, the page has timed out (the pull did not complete) and the
/// webhook attempt has failed; each is retried only when virtual time reaches its back-off
/// (1 s for the provider, 5 s for the webhook). Without wall-clock timeouts the page would have
/// been read and the webhook delivered, with nothing to retry. Takes about 32 s of wall time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http_provider_calls_and_webhooks_take_no_virtual_time_and_time_out_on_wall_time() {
    use wiremock::matchers::{method, path};
    // The first page request and the first delivery are slow; later ones are answered at once.
    let provider = wiremock::MockServer::start().await;
    wiremock::Mock::given(method("POST"))
        .and(path("/oauth/v1/token"))
        .respond_with(token_answer())
        .mount(&provider)
        .await;
    let page = wiremock::ResponseTemplate::new(200).set_body_json(json!({"results": []}));
    wiremock::Mock::given(method("GET"))
        .and(path("/crm/v3/objects/contacts"))
        .respond_with(page.clone().set_delay(Duration::from_secs(60)))
        .up_to_n_times(1)
        .mount(&provider)
        .await;
    wiremock::Mock::given(method("GET"))
        .and(path("/crm/v3/objects/contacts"))
        .respond_with(page)
        .mount(&provider)
        .await;
    let receiver = wiremock::MockServer::start().await;
    wiremock::Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_delay(Duration::from_secs(11)))
        .up_to_n_times(1)
        .mount(&receiver)
        .await;
    wiremock::Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(wiremock::ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let service = Service::new(EngineConfig::default(), ServeClock::virtual_at(START_MS));
    let timers = service.spawn_timer_task();
    let app = app(service);
    let clock = |app: axum::Router| async move {
        call(&app, "GET", "/api/test_helpers/clock", None).await.1["now"].clone()
    };
    let before = clock(app.clone()).await;
    let session = configured_hubspot_session(
        &app,
        "pull",
        json!({
            "schema": [{"endgrate_type": "crm-contact"}],
            "configuration_webhook": {"endpoint": format!("{}/hook", receiver.uri())},
        }),
        &provider.uri(),
        json!({"refresh_token": "rt-0", "client_id": "c", "client_secret": "s"}),
    )
    .await;
    let (status, triggered) = call(
        &app,
        "POST",
        "/api/pull/transfer",
        Some(json!({"session_id": session["session_id"], "endgrate_type": "crm-contact"})),
    )
    .await;
    assert_eq!(status, 200, "{triggered}");
    let transfer_id = triggered["transfer_id"].as_str().unwrap_or("").to_owned();
    tokio::time::sleep(Duration::from_secs(31)).await;
    assert_eq!(
        clock(app.clone()).await,
        before,
        "31 s of provider and receiver waits moved the virtual clock"
    );
    assert_eq!(
        contact_list_requests(&provider).await,
        1,
        "one page request so far"
    );
    let attempts = receiver.received_requests().await.unwrap_or_default().len();
    assert_eq!(attempts, 1, "one webhook attempt so far");
    let (status, data) = call(
        &app,
        "GET",
        &format!("/api/pull/data?transfer_id={transfer_id}"),
        None,
    )
    .await;
    assert_eq!(
        status, 409,
        "the 60 s page should have timed out at 30 s of wall time, leaving the pull running: {data}"
    );
    let (status, advanced) = call(
        &app,
        "POST",
        "/api/test_helpers/clock/advance",
        Some(json!({"seconds": 6})),
    )
    .await;
    assert_eq!(status, 200, "{advanced}");
    // Bounded: 50 polls of 100 ms for the retries the advance released.
    for _ in 0..50 {
        if contact_list_requests(&provider).await >= 2
            && receiver.received_requests().await.unwrap_or_default().len() >= 2
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        contact_list_requests(&provider).await,
        2,
        "the timed-out page is resent after its 1 s back-off of virtual time"
    );
    assert_eq!(
        receiver.received_requests().await.unwrap_or_default().len(),
        2,
        "the webhook slower than 10 s of wall time failed and is retried 5 s of virtual time later"
    );
    let (status, data) = call(
        &app,
        "GET",
        &format!("/api/pull/data?transfer_id={transfer_id}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "the resent page completed the pull: {data}");
    if let Some(timers) = timers {
        timers.abort();
    }
}

/// How many contact-list requests `provider` has received.
async fn contact_list_requests(provider: &wiremock::MockServer) -> usize {
    provider
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|request| request.url.path() == "/crm/v3/objects/contacts")
        .count()
}

/// Initiates a `kind` (`push` or `pull`) session on `app` with the `initiate` body, configures it
/// against a hubspot at `provider_base_url` with `credentials`, and answers the initiate answer
/// (its `session_id` included).
async fn configured_hubspot_session(
    app: &axum::Router,
    kind: &str,
    initiate: Value,
    provider_base_url: &str,
    credentials: Value,
) -> Value {
    let (status, session) = call(
        app,
        "POST",
        &format!("/api/{kind}/initiate"),
        Some(initiate),
    )
    .await;
    assert_eq!(status, 200, "{session}");
    let (status, configured) = call(
        app,
        "POST",
        "/api/test_helpers/session/configure",
        Some(json!({
            "session_id": session["session_id"],
            "provider": "hubspot",
            "provider_base_url": provider_base_url,
            "credentials": credentials,
        })),
    )
    .await;
    assert_eq!(status, 200, "{configured}");
    session
}
