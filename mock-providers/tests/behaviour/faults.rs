//! Fault rules as a target sees them: timeouts after and before acting, drops, injected answers,
//! delays, counts, probabilities and scoped guards.

use http::Method;
use serde_json::json;
use transfersim_mock_providers::{
    AccountOptions, InProcessProvider, JournalOutcome, Matcher, Outcome, Verdict,
};

use crate::support::*;

const UPSERT: &str = "/crm/v3/objects/contacts/batch/upsert";

fn upsert_body() -> serde_json::Value {
    json!({"inputs": [{"idProperty": "endgrate_internal_id", "id": "ext-1", "properties": {"firstname": "Ada"}}]})
}

#[test]
fn a_hubspot_upsert_that_times_out_after_acting_is_written_once_however_often_it_is_resent() {
    let mut hubspot = hubspot();
    let (credentials, token) = hubspot_account(&mut hubspot, &AccountOptions::default());
    let _guard = hubspot
        .scoped_fault(
            Matcher::exact(Method::POST, UPSERT)
                .then(Verdict::TimeoutAfterActing)
                .times(1),
        )
        .expect("room");
    let served = hubspot.handle(
        EPOCH,
        json_request(Method::POST, UPSERT, Some(&token), &upsert_body()),
    );
    assert!(matches!(served.outcome, Outcome::Timeout));
    assert!(served.acted);
    assert_eq!(served.latency_ms, 0, "the caller applies its own timeout");
    let records = hubspot
        .records(&credentials.account_id, "contacts")
        .expect("records");
    assert_eq!(records.len(), 1, "the provider acted before timing out");

    let resent = send(
        &mut hubspot,
        EPOCH + 30_000,
        json_request(Method::POST, UPSERT, Some(&token), &upsert_body()),
    );
    assert_eq!(resent.status, 200);
    assert_eq!(resent.json()["results"][0]["new"], false);
    assert_eq!(
        hubspot
            .records(&credentials.account_id, "contacts")
            .expect("records")
            .len(),
        1
    );
    assert!(
        hubspot
            .duplicate_external_ids(&credentials.account_id)
            .expect("account")
            .is_empty()
    );
    let entry = &hubspot.journal()[hubspot.journal().len() - 2];
    assert_eq!(entry.outcome, JournalOutcome::Timeout);
    assert!(entry.counted && entry.acted);
}

#[test]
fn a_salesforce_upsert_that_times_out_after_acting_is_written_once_however_often_it_is_resent() {
    let mut salesforce = salesforce();
    let (credentials, token) = salesforce_account(&mut salesforce, &AccountOptions::default());
    let path = format!("{SF}/composite/sobjects/Contact/Endgrate_Internal_Id__c");
    let body = json!({"allOrNone": false, "records": [{"attributes": {"type": "Contact"}, "Endgrate_Internal_Id__c": "x", "LastName": "L"}]});
    let _guard = salesforce
        .scoped_fault(
            Matcher::prefix(Method::PATCH, "/services/data/")
                .then(Verdict::TimeoutAfterActing)
                .times(1),
        )
        .expect("room");
    assert!(matches!(
        salesforce
            .handle(
                EPOCH,
                json_request(Method::PATCH, &path, Some(&token), &body)
            )
            .outcome,
        Outcome::Timeout
    ));
    let resent = send(
        &mut salesforce,
        EPOCH + 1,
        json_request(Method::PATCH, &path, Some(&token), &body),
    );
    assert_eq!(resent.json()[0]["created"], false);
    assert_eq!(
        salesforce
            .records(&credentials.account_id, "Contact")
            .expect("records")
            .len(),
        1
    );
}

#[test]
fn a_timeout_before_acting_and_a_drop_write_nothing_and_count_nothing() {
    let mut hubspot = hubspot();
    let (credentials, token) = hubspot_account(&mut hubspot, &AccountOptions::default());
    let id = hubspot
        .install_fault(
            Matcher::exact(Method::POST, UPSERT)
                .then(Verdict::TimeoutBeforeActing)
                .times(1),
        )
        .expect("room");
    let served = hubspot.handle(
        EPOCH,
        json_request(Method::POST, UPSERT, Some(&token), &upsert_body()),
    );
    assert!(matches!(served.outcome, Outcome::Timeout) && !served.acted);
    hubspot.remove_fault(id).expect("installed");
    let _drop = hubspot
        .scoped_fault(Matcher::any_method_prefix("/crm").then(Verdict::Drop))
        .expect("room");
    let served = hubspot.handle(
        EPOCH + 1,
        json_request(Method::POST, UPSERT, Some(&token), &upsert_body()),
    );
    assert!(matches!(served.outcome, Outcome::Dropped) && !served.acted);
    assert_eq!(served.latency_ms, 50);
    assert!(
        hubspot
            .records(&credentials.account_id, "contacts")
            .expect("records")
            .is_empty()
    );
    assert!(hubspot.journal().iter().all(|e| !e.counted));
}

#[test]
fn an_injected_answer_is_served_verbatim_with_usage_headers_and_counts() {
    let mut hubspot = hubspot();
    let (_, token) = hubspot_account(&mut hubspot, &AccountOptions::default());
    let _guard = hubspot
        .scoped_fault(Matcher::any().then(Verdict::Answer {
            status: 502,
            body: bytes::Bytes::from_static(b"<html>Bad gateway</html>"),
            content_type: None,
        }))
        .expect("room");
    let answer = send(
        &mut hubspot,
        EPOCH,
        get("/crm/v3/objects/contacts", Some(&token)),
    );
    assert_eq!(answer.status, 502);
    assert_eq!(&answer.body[..], b"<html>Bad gateway</html>");
    assert_eq!(
        answer.header("content-type"),
        Some("text/plain;charset=utf-8")
    );
    assert_eq!(answer.header("x-hubspot-ratelimit-remaining"), Some("99"));
}

#[test]
fn a_delay_adds_to_the_latency_and_a_guard_ends_the_fault() {
    let mut hubspot = hubspot();
    let options = AccountOptions {
        latency_ms: Some(10),
        ..AccountOptions::default()
    };
    let (_, token) = hubspot_account(&mut hubspot, &options);
    let guard = hubspot
        .scoped_fault(Matcher::any().then(Verdict::Delay { ms: 5_000 }))
        .expect("room");
    assert_eq!(
        hubspot
            .handle(EPOCH, get("/crm/v3/objects/contacts", Some(&token)))
            .latency_ms,
        5_010
    );
    drop(guard);
    assert_eq!(
        hubspot
            .handle(EPOCH, get("/crm/v3/objects/contacts", Some(&token)))
            .latency_ms,
        10
    );
    assert!(hubspot.faults().is_empty());
}

#[test]
fn a_pass_rule_shields_requests_from_later_rules() {
    let mut hubspot = hubspot();
    let (_, token) = hubspot_account(&mut hubspot, &AccountOptions::default());
    hubspot
        .install_fault(Matcher::exact(Method::GET, "/crm/v3/objects/companies").then(Verdict::Pass))
        .expect("room");
    hubspot
        .install_fault(Matcher::any().then(Verdict::Drop))
        .expect("room");
    assert!(matches!(
        hubspot
            .handle(EPOCH, get("/crm/v3/objects/companies", Some(&token)))
            .outcome,
        Outcome::Answer(_)
    ));
    assert!(matches!(
        hubspot
            .handle(EPOCH, get("/crm/v3/objects/contacts", Some(&token)))
            .outcome,
        Outcome::Dropped
    ));
}

#[test]
fn a_probabilistic_fault_replays_identically_for_one_seed() {
    let run = || {
        let mut hubspot = hubspot();
        let (_, token) = hubspot_account(&mut hubspot, &AccountOptions::default());
        hubspot
            .install_fault(Matcher::any().then(Verdict::Drop).with_probability(0.3))
            .expect("room");
        (0..200)
            .map(|i| {
                matches!(
                    hubspot
                        .handle(
                            EPOCH + i * 200,
                            get("/crm/v3/objects/contacts", Some(&token))
                        )
                        .outcome,
                    Outcome::Dropped
                )
            })
            .collect::<Vec<_>>()
    };
    let first = run();
    assert_eq!(first, run());
    let dropped = first.iter().filter(|d| **d).count();
    assert!((30..90).contains(&dropped), "{dropped} of 200 dropped");
}
