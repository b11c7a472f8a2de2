//! Session lifecycle effects that need the world's internals: what a delete does to webhooks
//! still waiting to be delivered.

use serde_json::json;
use transfersim_mock_providers::AccountOptions;
use transfersim_sim::webhook::receiver::Receiver;
use transfersim_sim::world::HUBSPOT_BASE_URL;

use crate::support::{call, mock_world};

const HOOK: &str = "http://receiver.test/down";
const MINUTE: u64 = 60_000;

/// SESSION-35: after a delete no webhook of the session is sent, neither a pending delivery nor
/// a scheduled retry, and no `internal` error is recorded for the webhooks it dropped.
#[test]
fn a_deleted_session_sends_no_more_webhooks_and_records_no_drop() {
    let mut world = mock_world(51, None);
    world.host_receiver(HOOK, Receiver::down());
    let now = world.now();
    let credentials = world
        .hubspot()
        .create_account(now, &AccountOptions::default())
        .expect("an account");
    world
        .hubspot()
        .seed_records(now, &credentials.account_id, "contacts", 5)
        .expect("records");
    let hook = json!({"endpoint": HOOK});
    let initiated = call(
        &mut world,
        "POST",
        "/api/pull/initiate",
        Some(json!({
            "schema": [{"endgrate_type": "crm-contact"}],
            "configuration_webhook": hook, "data_webhook": hook,
            "completed_webhook": hook, "error_webhook": hook,
        })),
    );
    let session_id = initiated.json()["session_id"]
        .as_str()
        .expect("a session id")
        .to_owned();
    let configured = call(
        &mut world,
        "POST",
        "/api/test_helpers/session/configure",
        Some(json!({
            "session_id": session_id, "provider": "hubspot", "provider_base_url": HUBSPOT_BASE_URL,
            "credentials": {"refresh_token": credentials.refresh_token, "client_id": credentials.client_id, "client_secret": credentials.client_secret},
        })),
    );
    assert_eq!(configured.status(), 200, "{}", configured.json());
    let pulled = call(
        &mut world,
        "POST",
        "/api/pull/transfer",
        Some(json!({"session_id": session_id, "endgrate_type": "crm-contact"})),
    );
    assert_eq!(pulled.status(), 200, "{}", pulled.json());
    // The pull completes; its webhooks and the configuration webhook keep failing and wait for
    // retries (the third attempt is 35 s after the first; the seventh, 1 h 42 min).
    world.advance(MINUTE);
    let attempts_before = world.receiver(HOOK).expect("the receiver").log().len();
    assert!(
        attempts_before >= 2,
        "webhook attempts were made before the delete: {attempts_before}"
    );
    let deleted = call(
        &mut world,
        "POST",
        "/api/session/delete",
        Some(json!({"session_id": session_id})),
    );
    assert_eq!(deleted.status(), 200, "{}", deleted.json());
    world.advance(3 * 60 * MINUTE);
    let attempts_after = world.receiver(HOOK).expect("the receiver").log().len();
    assert_eq!(
        attempts_after, attempts_before,
        "webhook attempts were made after the session was deleted"
    );
    let errors = call(&mut world, "GET", "/api/errors", None);
    assert_eq!(errors.status(), 200);
    assert_eq!(
        errors.json()["meta"]["count"],
        json!(0),
        "a dropped webhook of the deleted session was recorded: {}",
        errors.json()
    );
}
