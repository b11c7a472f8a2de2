//! Requirements a scenario cannot reach within its bounds (at most 1,000 steps), checked on the
//! simulated world directly: the queue limit of 10,000 queued transfers per key (QUEUE-9 to
//! QUEUE-12), the form and uniqueness of transfer ids (TRANSFER-20), and `Retry-After` (RATE-4,
//! which the mock providers cannot inject yet). spec/requirements.md
//! names these tests.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use transfersim_mock_providers::{AccountOptions, InProcessProvider, Matcher, Verdict};
use transfersim_sim::world::{Answered, HUBSPOT_BASE_URL, World, WorldConfig};

const KEY: &str = "test_key";
const QUEUED_MAX: usize = 10_000;

fn call(world: &mut World, key: &str, method: &str, path: &str, body: Value) -> Answered {
    let handle = world.call(method, path, key, Some(&body));
    world
        .answer_of(handle)
        .cloned()
        .unwrap_or_else(|| panic!("{method} {path} was not answered at once"))
}

fn pull_session(world: &mut World, key: &str) -> String {
    let answer = call(
        world,
        key,
        "POST",
        "/api/pull/initiate",
        json!({"schema": [{"endgrate_type": "crm-contact"}], "save_session": true}),
    );
    assert_eq!(answer.status(), 200, "{}", answer.json());
    answer.json()["session_id"]
        .as_str()
        .expect("a session id")
        .to_owned()
}

fn trigger(world: &mut World, key: &str, session_id: &str, synchronous: bool) -> Answered {
    let handle = world.call(
        "POST",
        "/api/pull/transfer",
        key,
        Some(&json!({"session_id": session_id, "endgrate_type": "crm-contact", "synchronous": synchronous})),
    );
    match world.answer_of(handle) {
        Some(answer) => answer.clone(),
        // A synchronous trigger that was accepted stays open; report it as a 0 status.
        None => Answered {
            at: world.now(),
            response: http::Response::builder()
                .status(299)
                .body(bytes::Bytes::new())
                .expect("a response"),
        },
    }
}

fn state(world: &mut World, transfer_id: &str) -> String {
    let answer = call(
        world,
        KEY,
        "GET",
        &format!("/api/statistics?transfer_id={transfer_id}"),
        Value::Null,
    );
    answer.json()["state"].as_str().unwrap_or("?").to_owned()
}

fn transfer_id(answer: &Answered) -> String {
    assert_eq!(answer.status(), 200, "{}", answer.json());
    answer.json()["transfer_id"]
        .as_str()
        .expect("a transfer id")
        .to_owned()
}

/// QUEUE-9 to QUEUE-12: a key may have 10,000 transfers in state `queued`, over all its
/// sessions; running and completed transfers and other keys' transfers do not count; the next
/// trigger, synchronous or not, is answered 429 `Too many queued transfers.` with `Retry-After:
/// 60` at once and creates no transfer.
#[test]
fn the_queue_limit_counts_only_the_keys_queued_transfers_and_answers_429_with_retry_after() {
    let mut world = World::new(WorldConfig::default());
    let other_key = world.engine_mut().mint_api_key();

    // One completed and one running transfer of the key, on a configured session whose
    // hubspot account answers every page request 429 after the first pull.
    let now = world.now();
    let credentials = world
        .hubspot()
        .create_account(now, &AccountOptions::default())
        .expect("an account");
    world
        .hubspot()
        .seed_records(now, &credentials.account_id, "contacts", 10)
        .expect("records");
    let configured = pull_session(&mut world, KEY);
    let answer = call(
        &mut world,
        KEY,
        "POST",
        "/api/test_helpers/session/configure",
        json!({"session_id": configured, "provider": "hubspot", "provider_base_url": HUBSPOT_BASE_URL,
               "credentials": {"refresh_token": credentials.refresh_token, "client_id": credentials.client_id, "client_secret": credentials.client_secret}}),
    );
    assert_eq!(answer.status(), 200, "{}", answer.json());
    let completed = transfer_id(&trigger(&mut world, KEY, &configured, false));
    world.advance(60_000);
    assert_eq!(state(&mut world, &completed), "completed");
    world
        .hubspot()
        .install_fault(
            Matcher::any_method_prefix("/crm")
                .for_account(credentials.account_id.clone())
                .then(Verdict::RateLimit),
        )
        .expect("a fault");
    let running = transfer_id(&trigger(&mut world, KEY, &configured, false));
    world.advance(1_000);
    assert_eq!(state(&mut world, &running), "running");

    // 10,000 queued transfers over two unconfigured sessions of the key are all accepted.
    let first = pull_session(&mut world, KEY);
    let second = pull_session(&mut world, KEY);
    for index in 0..QUEUED_MAX {
        let session = if index % 2 == 0 { &first } else { &second };
        let answer = trigger(&mut world, KEY, session, false);
        assert_eq!(answer.status(), 200, "trigger {index}: {}", answer.json());
    }

    // The next one, on either session, asynchronous or synchronous, is refused at once.
    for (session, synchronous) in [(&first, false), (&second, true), (&configured, false)] {
        let refused = trigger(&mut world, KEY, session, synchronous);
        assert_eq!(refused.status(), 429, "{}", refused.json());
        assert_eq!(
            refused.json(),
            json!({"success": false, "message": "Too many queued transfers."})
        );
        assert_eq!(
            refused
                .response
                .headers()
                .get("retry-after")
                .and_then(|value| value.to_str().ok()),
            Some("60")
        );
    }
    let queued = world
        .engine()
        .transfers()
        .filter(|transfer| transfer.id != completed && transfer.id != running)
        .count();
    assert_eq!(queued, QUEUED_MAX, "a refused trigger created a transfer");

    // Another key's queue is its own.
    let foreign = pull_session(&mut world, &other_key);
    assert_eq!(
        trigger(&mut world, &other_key, &foreign, false).status(),
        200
    );

    // Deleting a session with queued transfers frees room again.
    let answer = call(
        &mut world,
        KEY,
        "POST",
        "/api/session/delete",
        json!({"session_id": second}),
    );
    assert_eq!(answer.status(), 200);
    assert_eq!(trigger(&mut world, KEY, &first, false).status(), 200);
}

/// TRANSFER-20: every transfer id is 24 lowercase hexadecimal characters, different from every
/// other the target issued (across sessions and keys).
#[test]
fn transfer_ids_are_24_lowercase_hex_characters_and_never_repeat() {
    let mut world = World::new(WorldConfig {
        seed: 20,
        ..WorldConfig::default()
    });
    let other_key = world.engine_mut().mint_api_key();
    let mut seen = BTreeSet::new();
    for key in [KEY.to_owned(), other_key] {
        for _ in 0..5 {
            let session = pull_session(&mut world, &key);
            for _ in 0..200 {
                let id = transfer_id(&trigger(&mut world, &key, &session, false));
                assert_eq!(id.len(), 24, "{id}");
                assert!(
                    id.chars()
                        .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
                    "{id}"
                );
                assert!(seen.insert(id.clone()), "{id} issued twice");
            }
        }
    }
    assert_eq!(seen.len(), 2_000);
}

/// The scripted provider, except that its first `refusals` page requests are answered 429 with
/// `Retry-After: 30`; it notes when each page request arrived.
struct RetryAfterProvider {
    inner: transfersim_sim::world::scripted::ScriptedProvider,
    refusals: usize,
    arrivals: std::sync::Arc<std::sync::Mutex<Vec<u64>>>,
}

impl InProcessProvider for RetryAfterProvider {
    fn handle(
        &mut self,
        now: transfersim_mock_providers::Millis,
        request: transfersim_mock_providers::ProviderRequest,
    ) -> transfersim_mock_providers::Served {
        let is_page = request.uri().path().starts_with("/records");
        if is_page && let Ok(mut arrivals) = self.arrivals.lock() {
            arrivals.push(now);
        }
        if is_page && self.refusals > 0 {
            self.refusals -= 1;
            let mut response =
                transfersim_mock_providers::ProviderResponse::new(bytes::Bytes::from("{}"));
            *response.status_mut() = http::StatusCode::TOO_MANY_REQUESTS;
            response.headers_mut().insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from_static("30"),
            );
            return transfersim_mock_providers::Served {
                outcome: transfersim_mock_providers::Outcome::Answer(response),
                latency_ms: 50,
                acted: false,
            };
        }
        self.inner.handle(now, request)
    }
}

/// RATE-4: after a rate-limit answer carrying `Retry-After: 30`, the same request is not sent
/// again before 30 s passed (here the log-based wait alone would be 10 s), and the pull then
/// completes with every record.
#[test]
fn a_retry_after_answer_holds_the_resend_for_that_many_seconds() {
    use transfersim_sim::engine::ProviderName;
    use transfersim_sim::world::scripted::{ScriptedConnector, ScriptedProvider};

    const BASE: &str = "http://retry-after.test";
    let mut world = World::new(WorldConfig::default());
    world.engine_mut().set_connector(
        ProviderName::Hubspot,
        Box::new(ScriptedConnector {
            page_size: 100,
            batch_size: 100,
        }),
    );
    let arrivals = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    world.host_provider(
        BASE,
        Box::new(RetryAfterProvider {
            inner: ScriptedProvider::with_contacts(150, 50),
            refusals: 2,
            arrivals: arrivals.clone(),
        }),
    );
    let session = pull_session(&mut world, KEY);
    let answer = call(
        &mut world,
        KEY,
        "POST",
        "/api/test_helpers/session/configure",
        json!({"session_id": session, "provider": "hubspot", "provider_base_url": BASE,
               "credentials": {"refresh_token": "r", "client_id": "c", "client_secret": "s"}}),
    );
    assert_eq!(answer.status(), 200, "{}", answer.json());
    let pull = transfer_id(&trigger(&mut world, KEY, &session, false));
    world.advance(120_000);
    assert_eq!(state(&mut world, &pull), "completed");
    let times = arrivals
        .lock()
        .map(|times| times.clone())
        .unwrap_or_default();
    // Two refusals, then the two pages: four page requests.
    assert_eq!(times.len(), 4, "{times:?}");
    for pair in times.windows(2).take(2) {
        let gap = pair[1] - pair[0];
        assert!(
            (30_000..=31_000).contains(&gap),
            "resent {gap} ms after a Retry-After: 30 answer: {times:?}"
        );
    }
    let data = call(
        &mut world,
        KEY,
        "GET",
        &format!("/api/pull/data?transfer_id={pull}"),
        Value::Null,
    );
    assert_eq!(data.json()["meta"]["count"], 150, "{}", data.json());
}
