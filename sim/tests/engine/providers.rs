//! End to end through the real connectors and the hosted mock providers: pulls, pushes,
//! per-record errors, token refresh after a 401, and a revoked grant.

use serde_json::{Value, json};
use transfersim_mock_providers::{AccountOptions, Budget, Credentials};
use transfersim_sim::world::{World, WorldConfig};

use crate::support::{call, provider_session};

fn world(seed: u64) -> World {
    World::new(WorldConfig {
        seed,
        ..WorldConfig::default()
    })
}

fn hubspot_account(world: &mut World, options: AccountOptions) -> Credentials {
    let now = world.now();
    world
        .hubspot()
        .create_account(now, &options)
        .expect("account")
}

fn salesforce_account(world: &mut World, options: AccountOptions) -> Credentials {
    let now = world.now();
    world
        .salesforce()
        .create_account(now, &options)
        .expect("account")
}

/// Initiates a session of `kind` (`session`, `pull` or `push`) and configures it.
fn session(world: &mut World, kind: &str, provider: &str, credentials: &Credentials) -> String {
    provider_session(world, kind, provider, credentials, json!({})).expect("a configured session")
}

fn trigger(world: &mut World, direction: &str, body: Value) -> String {
    let answer = call(
        world,
        "POST",
        &format!("/api/{direction}/transfer"),
        Some(body),
    );
    assert_eq!(answer.status(), 200, "{}", answer.json());
    answer.json()["transfer_id"]
        .as_str()
        .expect("transfer id")
        .to_owned()
}

fn all_data(world: &mut World, direction: &str, transfer_id: &str) -> Value {
    let answer = call(
        world,
        "GET",
        &format!("/api/{direction}/data?transfer_id={transfer_id}&limit=1000"),
        None,
    );
    assert_eq!(answer.status(), 200, "{}", answer.json());
    answer.json()
}

#[test]
fn hubspot_pull_reads_every_contact_in_ascending_id_order_through_the_real_connector() {
    let mut world = world(21);
    let credentials = hubspot_account(&mut world, AccountOptions::default());
    let now = world.now();
    world
        .hubspot()
        .seed_records(now, &credentials.account_id, "contacts", 250)
        .expect("seed");
    let session_id = session(&mut world, "pull", "hubspot", &credentials);
    let transfer = trigger(
        &mut world,
        "pull",
        json!({"session_id": session_id, "endgrate_type": "crm-contact"}),
    );
    world.advance(60_000);
    let data = all_data(&mut world, "pull", &transfer);
    assert_eq!(data["meta"]["count"], json!(250));
    let ids: Vec<u64> = data["transfer_data"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| {
            item["id"]
                .as_str()
                .and_then(|id| id.parse().ok())
                .expect("numeric id")
        })
        .collect();
    assert!(
        ids.windows(2).all(|pair| pair[0] < pair[1]),
        "ids not ascending"
    );
    assert!(
        data["transfer_data"][0]["data"]["last_name"].is_string(),
        "mapped data: {}",
        data["transfer_data"][0]
    );
    let stats = call(
        &mut world,
        "GET",
        &format!("/api/statistics?transfer_id={transfer}"),
        None,
    )
    .json();
    assert_eq!(stats["statistics"]["batches"], json!(3), "{stats}");
    let refreshes = world
        .hubspot()
        .journal()
        .iter()
        .filter(|entry| entry.is_refresh())
        .count();
    assert_eq!(refreshes, 1, "one token for the whole pull");
}

#[test]
fn hubspot_push_upserts_every_item_once_and_reports_bad_emails_per_item() {
    let mut world = world(22);
    let credentials = hubspot_account(&mut world, AccountOptions::default());
    let session_id = session(&mut world, "push", "hubspot", &credentials);
    let items: Vec<Value> = (0..250)
        .map(|n| {
            let email = if n == 17 { "no-at-sign".to_owned() } else { format!("p{n}@example.com") };
            json!({"internal_id": format!("int-{n}"), "data": {"last_name": format!("L{n}"), "email": email}})
        })
        .collect();
    let transfer = trigger(
        &mut world,
        "push",
        json!({"session_id": session_id, "endgrate_type": "crm-contact", "transfer_data": items}),
    );
    world.advance(60_000);
    let data = all_data(&mut world, "push", &transfer);
    assert_eq!(data["transfer_errors"], json!(true));
    let items = data["transfer_data"].as_array().expect("items");
    assert_eq!(items.len(), 250);
    assert_eq!(items[17]["success"], json!(false), "{}", items[17]);
    assert!(
        items
            .iter()
            .enumerate()
            .filter(|(n, _)| *n != 17)
            .all(|(_, item)| item["success"] == json!(true) && item["created"] == json!(true))
    );
    let records = world
        .hubspot()
        .records(&credentials.account_id, "contacts")
        .expect("records");
    assert_eq!(records.len(), 249);
    assert!(
        world
            .hubspot()
            .duplicate_external_ids(&credentials.account_id)
            .expect("check")
            .is_empty()
    );
    let errors = call(
        &mut world,
        "GET",
        &format!("/api/errors?transfer_id={transfer}"),
        None,
    )
    .json();
    assert_eq!(errors["meta"]["count"], json!(1), "{errors}");
    assert_eq!(errors["errors"][0]["error_type"], json!("transfer_data"));
    assert_eq!(errors["errors"][0]["index"], json!(17));
    assert_eq!(errors["errors"][0]["internal_id"], json!("int-17"));
}

#[test]
fn salesforce_empty_last_name_is_a_transfer_data_error_with_the_items_index() {
    let mut world = world(23);
    let credentials = salesforce_account(&mut world, AccountOptions::default());
    let session_id = session(&mut world, "push", "salesforce", &credentials);
    let items = json!([
        {"data": {"last_name": "Lovelace", "first_name": "Ada"}},
        {"data": {"last_name": ""}},
        {"data": {"last_name": "Hopper"}},
    ]);
    let transfer = trigger(
        &mut world,
        "push",
        json!({"session_id": session_id, "endgrate_type": "crm-contact", "transfer_data": items}),
    );
    world.advance(60_000);
    let data = all_data(&mut world, "push", &transfer);
    let results: Vec<bool> = data["transfer_data"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["success"] == json!(true))
        .collect();
    assert_eq!(results, [true, false, true]);
    let errors = call(
        &mut world,
        "GET",
        &format!("/api/errors?transfer_id={transfer}"),
        None,
    )
    .json();
    assert_eq!(errors["errors"][0]["error_type"], json!("transfer_data"));
    assert_eq!(errors["errors"][0]["index"], json!(1));
    assert!(
        errors["errors"][0]["error_resolve_text"]
            .as_str()
            .unwrap_or_default()
            .contains("REQUIRED_FIELD_MISSING")
    );
    assert_eq!(
        world
            .salesforce()
            .records(&credentials.account_id, "Contact")
            .expect("records")
            .len(),
        2
    );
}

#[test]
fn salesforce_pull_follows_next_records_url_against_the_instance_url() {
    let mut world = world(24);
    let credentials = salesforce_account(
        &mut world,
        AccountOptions {
            page_size: Some(200),
            ..AccountOptions::default()
        },
    );
    let now = world.now();
    world
        .salesforce()
        .seed_records(now, &credentials.account_id, "Contact", 1_000)
        .expect("seed");
    let session_id = session(&mut world, "pull", "salesforce", &credentials);
    let transfer = trigger(
        &mut world,
        "pull",
        json!({"session_id": session_id, "endgrate_type": "crm-contact"}),
    );
    world.advance(60_000);
    let data = all_data(&mut world, "pull", &transfer);
    assert_eq!(
        data["meta"]["count"],
        json!(1_000),
        "{}",
        data["transfer_errors"]
    );
    let stats = call(
        &mut world,
        "GET",
        &format!("/api/statistics?transfer_id={transfer}"),
        None,
    )
    .json();
    assert_eq!(stats["statistics"]["batches"], json!(5), "{stats}");
}

#[test]
fn an_expired_token_draws_one_401_one_refresh_and_one_resend() {
    let mut world = world(25);
    let credentials = hubspot_account(
        &mut world,
        AccountOptions {
            latency_ms: Some(1_000),
            ..AccountOptions::default()
        },
    );
    let now = world.now();
    world
        .hubspot()
        .seed_records(now, &credentials.account_id, "contacts", 500)
        .expect("seed");
    let session_id = session(&mut world, "pull", "hubspot", &credentials);
    let transfer = trigger(
        &mut world,
        "pull",
        json!({"session_id": session_id, "endgrate_type": "crm-contact"}),
    );
    world.advance(2_500);
    let now = world.now();
    world
        .hubspot()
        .expire_tokens(now, &credentials.account_id)
        .expect("expire");
    world.advance(60_000);
    let data = all_data(&mut world, "pull", &transfer);
    assert_eq!(data["meta"]["count"], json!(500));
    assert_eq!(data["transfer_errors"], json!(false));
    let journal = world.hubspot().journal();
    let refreshes = journal.iter().filter(|entry| entry.is_refresh()).count();
    let unauthorized = journal
        .iter()
        .filter(|entry| entry.status == Some(401))
        .count();
    assert_eq!((refreshes, unauthorized), (2, 1), "refreshes and 401s");
}

#[test]
fn a_revoked_grant_gives_one_authentication_error_and_fails_the_next_transfer_without_provider_calls()
 {
    let mut world = world(26);
    let credentials = hubspot_account(
        &mut world,
        AccountOptions {
            budget: Some(Budget::Unlimited),
            ..AccountOptions::default()
        },
    );
    let now = world.now();
    world
        .hubspot()
        .seed_records(now, &credentials.account_id, "contacts", 10)
        .expect("seed");
    world
        .hubspot()
        .revoke_grants(&credentials.account_id, None)
        .expect("revoke");
    let session_id = session(&mut world, "pull", "hubspot", &credentials);
    let first = trigger(
        &mut world,
        "pull",
        json!({"session_id": session_id, "endgrate_type": "crm-contact"}),
    );
    world.advance(10_000);
    let errors = call(
        &mut world,
        "GET",
        &format!("/api/errors?transfer_id={first}"),
        None,
    )
    .json();
    assert_eq!(errors["meta"]["count"], json!(1), "{errors}");
    assert_eq!(errors["errors"][0]["error_type"], json!("authentication"));
    let configuration = call(
        &mut world,
        "GET",
        &format!("/api/session/configuration?session_id={session_id}"),
        None,
    )
    .json();
    assert_eq!(configuration["status"], json!("needs_reauthentication"));
    let requests_before = world.hubspot().journal().len();
    let second = trigger(
        &mut world,
        "pull",
        json!({"session_id": session_id, "endgrate_type": "crm-contact"}),
    );
    world.advance(10_000);
    let data = all_data(&mut world, "pull", &second);
    assert_eq!(data["transfer_errors"], json!(true));
    assert_eq!(
        world.hubspot().journal().len(),
        requests_before,
        "the second transfer called the provider"
    );
    let errors = call(
        &mut world,
        "GET",
        &format!("/api/errors?transfer_id={second}"),
        None,
    )
    .json();
    assert_eq!(errors["errors"][0]["error_type"], json!("authentication"));
}
