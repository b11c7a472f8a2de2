//! HubSpot requirements (spec PROVIDER-*) that no wire snapshot or contract-table row proves on
//! its own: each test is named in `spec/requirements.md` and asserts that requirement's substance.

use http::Method;
use serde_json::json;
use transfersim_mock_providers::{AccountOptions, InProcessProvider, Matcher, Verdict};

use crate::support::*;

const CONTACTS: &str = "/crm/v3/objects/contacts";
const UPSERT: &str = "/crm/v3/objects/contacts/batch/upsert";
const UPDATE: &str = "/crm/v3/objects/contacts/batch/update";

/// PROVIDER-3: an unknown and a revoked refresh token are both `400 BAD_REFRESH_TOKEN` with a
/// message.
#[test]
fn hubspot_bad_refresh_token_is_400_bad_refresh_token() {
    let mut hubspot = hubspot();
    let credentials = hubspot
        .create_account(EPOCH, &AccountOptions::default())
        .expect("account");
    let assert_bad = |answer: &Answer, what: &str| {
        assert_eq!(answer.status, 400, "{what}: {}", answer.render());
        let body = answer.json();
        assert_eq!(body["status"], "BAD_REFRESH_TOKEN", "{what}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: a message in {body}"
        );
    };
    let unknown = send(
        &mut hubspot,
        EPOCH,
        form(
            HUBSPOT_TOKEN,
            &refresh_form(&credentials, "na1-not-a-token"),
        ),
    );
    assert_bad(&unknown, "an unknown refresh token");
    // The real token works until its grant is revoked.
    let good = send(
        &mut hubspot,
        EPOCH + 1,
        form(
            HUBSPOT_TOKEN,
            &refresh_form(&credentials, &credentials.refresh_token),
        ),
    );
    assert_eq!(good.status, 200);
    assert_eq!(hubspot.revoke_grants(&credentials.account_id, None), Ok(1));
    let revoked = send(
        &mut hubspot,
        EPOCH + 2,
        form(
            HUBSPOT_TOKEN,
            &refresh_form(&credentials, &credentials.refresh_token),
        ),
    );
    assert_bad(&revoked, "a revoked refresh token");
}

/// PROVIDER-5: with the default lifetime an access token works for 1800 s and not a millisecond
/// longer; an expired or unknown token is `401 {"status": "error", "category":
/// "EXPIRED_AUTHENTICATION", "message"}`.
#[test]
fn hubspot_expired_access_token_is_401_expired_authentication() {
    let mut hubspot = hubspot();
    let (_, token) = hubspot_account(&mut hubspot, &AccountOptions::default());
    let assert_expired = |answer: &Answer, what: &str| {
        assert_eq!(answer.status, 401, "{what}: {}", answer.render());
        let body = answer.json();
        assert_eq!(body["status"], "error", "{what}");
        assert_eq!(body["category"], "EXPIRED_AUTHENTICATION", "{what}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: a message in {body}"
        );
    };
    let still = send(&mut hubspot, EPOCH + 1_799_999, get(CONTACTS, Some(&token)));
    assert_eq!(still.status, 200, "the token lives 1800 s");
    let expired = send(&mut hubspot, EPOCH + 1_800_000, get(CONTACTS, Some(&token)));
    assert_expired(&expired, "an expired token");
    let unknown = send(&mut hubspot, EPOCH, get(CONTACTS, Some("never-issued")));
    assert_expired(&unknown, "an unknown token");
}

/// PROVIDER-6: with the default budget, 100 requests fit in any 10 s window and the 101st is
/// refused; the window rolls, so room comes back request by request as the oldest leave it.
#[test]
fn hubspot_never_accepts_more_than_its_budget_in_any_rolling_window() {
    let mut hubspot = hubspot();
    let (_, token) = hubspot_account(&mut hubspot, &AccountOptions::default());
    let list = || get(CONTACTS, Some(&token));
    // 100 requests spread over 0..=9_900 ms.
    for i in 0..100 {
        let answer = send(&mut hubspot, EPOCH + i * 100, list());
        assert_eq!(answer.status, 200, "request {i} is within the budget");
    }
    assert_eq!(send(&mut hubspot, EPOCH + 9_999, list()).status, 429);
    // At 10 000 the first request (at 0) has left the window: exactly one more fits.
    assert_eq!(send(&mut hubspot, EPOCH + 10_000, list()).status, 200);
    assert_eq!(send(&mut hubspot, EPOCH + 10_050, list()).status, 429);
    // At 10 100 the request at 100 has left: one more again.
    assert_eq!(send(&mut hubspot, EPOCH + 10_100, list()).status, 200);
    assert_eq!(send(&mut hubspot, EPOCH + 10_101, list()).status, 429);
    let accepted = hubspot
        .journal()
        .iter()
        .filter(|e| e.counted && e.account_id.is_some())
        .map(|e| e.at_ms)
        .collect::<Vec<_>>();
    for start in &accepted {
        let in_window = accepted
            .iter()
            .filter(|at| *start <= **at && **at < start + 10_000)
            .count();
        assert!(
            in_window <= 100,
            "{in_window} accepted in 10 s from {start}"
        );
    }
}

/// PROVIDER-9: a 400 answer and a timeout after acting count against the budget; a rate-limited
/// answer and token requests never do.
#[test]
fn mock_budget_counts_every_processed_request_except_rate_limited_and_token_requests() {
    let mut hubspot = hubspot();
    let options = AccountOptions {
        budget: Some(transfersim_mock_providers::Budget::Requests(3)),
        ..AccountOptions::default()
    };
    let (credentials, token) = hubspot_account(&mut hubspot, &options);
    let remaining = |answer: &Answer| {
        answer
            .header("x-hubspot-ratelimit-remaining")
            .and_then(|v| v.parse::<u32>().ok())
            .expect("a remaining header")
    };
    // Token requests, however many, leave the budget whole.
    for i in 0..5 {
        let refreshed = send(
            &mut hubspot,
            EPOCH + i,
            form(
                HUBSPOT_TOKEN,
                &refresh_form(&credentials, &credentials.refresh_token),
            ),
        );
        assert_eq!(refreshed.status, 200);
    }
    // A malformed write: answered 400, counted.
    let malformed = send(
        &mut hubspot,
        EPOCH + 10,
        request(
            Method::POST,
            UPSERT,
            Some(&token),
            Some("application/json"),
            "{",
        ),
    );
    assert_eq!(malformed.status, 400);
    assert_eq!(remaining(&malformed), 2);
    // A timeout after acting: no answer, counted.
    let guard = hubspot
        .scoped_fault(
            Matcher::exact(Method::POST, UPSERT)
                .then(Verdict::TimeoutAfterActing)
                .times(1),
        )
        .expect("room");
    let body =
        json!({"inputs": [{"idProperty": "endgrate_internal_id", "id": "e1", "properties": {}}]});
    let served = hubspot.handle(
        EPOCH + 11,
        json_request(Method::POST, UPSERT, Some(&token), &body),
    );
    assert!(served.acted);
    drop(guard);
    let ok = send(&mut hubspot, EPOCH + 12, get(CONTACTS, Some(&token)));
    assert_eq!(ok.status, 200);
    assert_eq!(remaining(&ok), 0, "the 400 and the timeout were counted");
    // Rate-limited answers are not counted: once the window rolls past the three counted
    // requests, the full budget is back although several 429s came after them.
    for i in 0..4 {
        assert_eq!(
            send(&mut hubspot, EPOCH + 100 + i, get(CONTACTS, Some(&token))).status,
            429
        );
    }
    let fresh = send(&mut hubspot, EPOCH + 10_012, get(CONTACTS, Some(&token)));
    assert_eq!(fresh.status, 200);
    assert_eq!(remaining(&fresh), 2);
    // Counted: the 400, the timeout, and the two 200s; not the 6 refreshes and 4 refusals.
    let counted = hubspot.journal().iter().filter(|e| e.counted).count();
    assert_eq!(counted, 4, "{:#?}", hubspot.journal());
}

/// PROVIDER-11: ids are decimal numbers and lists come in ascending numeric (not lexical) order,
/// across pages.
#[test]
fn hubspot_lists_records_in_ascending_numeric_id_order() {
    let mut hubspot = hubspot();
    let (credentials, token) = hubspot_account(&mut hubspot, &AccountOptions::default());
    hubspot
        .seed_records(EPOCH, &credentials.account_id, "contacts", 25)
        .expect("seeded");
    let mut ids: Vec<u64> = Vec::new();
    let mut after: Option<String> = None;
    for page in 0..10 {
        let path = match &after {
            Some(a) => format!("{CONTACTS}?limit=7&after={a}"),
            None => format!("{CONTACTS}?limit=7"),
        };
        let answer = send(&mut hubspot, EPOCH + 1 + page, get(&path, Some(&token)));
        assert_eq!(answer.status, 200);
        let body = answer.json();
        for record in body["results"].as_array().expect("results") {
            let id = record["id"].as_str().expect("a string id");
            assert!(
                !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()),
                "{id} is a decimal number"
            );
            ids.push(id.parse().expect("fits u64"));
        }
        after = body["paging"]["next"]["after"].as_str().map(str::to_owned);
        if after.is_none() {
            break;
        }
    }
    assert_eq!(ids.len(), 25, "every record listed once");
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ascending numeric order: {ids:?}"
    );
    // The ids cross a digit boundary, so lexical order would differ.
    assert!(ids.iter().any(|id| *id < 10) && ids.iter().any(|id| *id >= 10));
}

/// PROVIDER-14: a batch with per-input failures answers 207 with the good inputs' results and one
/// error per bad input naming its id in `context.ids`; only the good inputs are written.
#[test]
fn hubspot_per_input_failures_answer_207_with_context_ids() {
    let mut hubspot = hubspot();
    let (credentials, token) = hubspot_account(&mut hubspot, &AccountOptions::default());
    let body = json!({"inputs": [
        {"idProperty": "endgrate_internal_id", "id": "good-1", "properties": {"email": "a@example.com"}},
        {"idProperty": "endgrate_internal_id", "id": "bad-1", "properties": {"email": "nope"}},
        {"idProperty": "endgrate_internal_id", "id": "good-2", "properties": {"firstname": "B"}},
        {"idProperty": "endgrate_internal_id", "id": "bad-2", "properties": {"email": "also.nope"}},
    ]});
    let answer = send(
        &mut hubspot,
        EPOCH,
        json_request(Method::POST, UPSERT, Some(&token), &body),
    );
    assert_eq!(answer.status, 207, "{}", answer.render());
    let json = answer.json();
    let mut written: Vec<&str> = json["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            r["properties"]["endgrate_internal_id"]
                .as_str()
                .unwrap_or("")
        })
        .collect();
    written.sort_unstable();
    assert_eq!(written, ["good-1", "good-2"]);
    let errors = json["errors"].as_array().expect("errors");
    let mut failed: Vec<String> = errors
        .iter()
        .map(|e| {
            assert_eq!(e["status"], "error");
            assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()));
            let ids = e["context"]["ids"].as_array().expect("context.ids");
            assert_eq!(ids.len(), 1, "{e}");
            ids[0].as_str().unwrap_or("").to_owned()
        })
        .collect();
    failed.sort_unstable();
    assert_eq!(failed, ["bad-1", "bad-2"]);
    let mut stored: Vec<String> = hubspot
        .records(&credentials.account_id, "contacts")
        .expect("records")
        .iter()
        .map(|r| {
            r.properties["endgrate_internal_id"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    stored.sort_unstable();
    assert_eq!(
        stored,
        ["good-1", "good-2"],
        "only the good inputs are written"
    );
}

/// PROVIDER-17: 101 inputs to `batch/upsert` or `batch/update` are refused whole with a 400 and
/// nothing is written; 100 are accepted.
#[test]
fn hubspot_batch_over_100_inputs_is_refused_whole() {
    let mut hubspot = hubspot();
    let (credentials, token) = hubspot_account(&mut hubspot, &AccountOptions::default());
    let upserts = |n: usize| {
        let inputs: Vec<_> = (0..n)
            .map(|i| json!({"idProperty": "endgrate_internal_id", "id": format!("e{i}"), "properties": {"firstname": "X"}}))
            .collect();
        json!({ "inputs": inputs })
    };
    let big = send(
        &mut hubspot,
        EPOCH,
        json_request(Method::POST, UPSERT, Some(&token), &upserts(101)),
    );
    assert_eq!(big.status, 400, "{}", big.render());
    assert!(
        hubspot
            .records(&credentials.account_id, "contacts")
            .expect("records")
            .is_empty(),
        "a refused upsert writes nothing"
    );
    let ok = send(
        &mut hubspot,
        EPOCH + 1,
        json_request(Method::POST, UPSERT, Some(&token), &upserts(100)),
    );
    assert_eq!(ok.status, 200);
    let records = hubspot
        .records(&credentials.account_id, "contacts")
        .expect("records");
    assert_eq!(records.len(), 100);
    let mut updates: Vec<_> = records
        .iter()
        .map(|r| json!({"id": r.id, "properties": {"firstname": "Changed"}}))
        .collect();
    updates.push(json!({"id": records[0].id, "properties": {"firstname": "Changed"}}));
    let big = send(
        &mut hubspot,
        EPOCH + 2,
        json_request(
            Method::POST,
            UPDATE,
            Some(&token),
            &json!({ "inputs": updates }),
        ),
    );
    assert_eq!(big.status, 400, "{}", big.render());
    assert!(
        hubspot
            .records(&credentials.account_id, "contacts")
            .expect("records")
            .iter()
            .all(|r| r.properties["firstname"] == "X"),
        "a refused update writes nothing"
    );
}
