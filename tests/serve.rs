//! `transfersim serve`: the driver in-process (tower `oneshot`, tokio's paused clock) and as a
//! child process over loopback. Every server is started by its test on 127.0.0.1:0 and stopped by
//! it; every wait is bounded.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
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

/// A `transfersim serve` child process, killed on drop.
struct ServeProcess {
    child: Child,
    base: String,
    lines: Vec<String>,
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServeProcess {
    fn start(extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_transfersim"))
            .args(["serve", "--port", "0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("transfersim serve starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut lines = Vec::new();
        // Bounded: the start-up lines, each within 30 s.
        while !lines
            .iter()
            .any(|line: &String| line.starts_with("salesforce"))
        {
            let line = receiver
                .recv_timeout(Duration::from_secs(30))
                .expect("serve prints its start-up lines");
            lines.push(line);
        }
        let base = lines[0]
            .strip_prefix("listening on ")
            .expect("the first line names the address")
            .to_owned();
        Self { child, base, lines }
    }

    /// `field=value` from the hubspot line.
    fn hubspot(&self, field: &str) -> String {
        let line = self
            .lines
            .iter()
            .find(|line| line.starts_with("hubspot"))
            .expect("a hubspot line");
        if field == "url" {
            return line.split_whitespace().nth(1).expect("a url").to_owned();
        }
        line.split_whitespace()
            .find_map(|part| part.strip_prefix(&format!("{field}=")))
            .expect("the field")
            .to_owned()
    }
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
    assert!(
        took < Duration::from_secs(60),
        "the suite over HTTP took {took:?}"
    );
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
