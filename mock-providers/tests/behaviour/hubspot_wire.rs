//! HubSpot's wire answers, pinned: status, every header and the body of each route's success and
//! error answers.

use http::Method;
use insta::assert_snapshot;
use serde_json::json;
use transfersim_mock_providers::{AccountOptions, Budget};

use crate::support::*;

const CONTACTS: &str = "/crm/v3/objects/contacts";

#[test]
fn the_token_endpoint_answers_tokens_and_refuses_bad_credentials() {
    let mut hubspot = hubspot();
    let credentials = hubspot
        .create_account(EPOCH, &AccountOptions::default())
        .expect("account");
    let ok = send(
        &mut hubspot,
        EPOCH,
        form(
            HUBSPOT_TOKEN,
            &refresh_form(&credentials, &credentials.refresh_token),
        ),
    );
    assert_snapshot!("hubspot_token_ok", ok.render());
    let bad = send(
        &mut hubspot,
        EPOCH,
        form(HUBSPOT_TOKEN, &refresh_form(&credentials, "na1-unknown")),
    );
    assert_snapshot!("hubspot_token_bad_refresh_token", bad.render());
    let mut wrong_client = refresh_form(&credentials, &credentials.refresh_token);
    wrong_client[2].1 = "someone-else";
    let bad = send(&mut hubspot, EPOCH, form(HUBSPOT_TOKEN, &wrong_client));
    assert_snapshot!("hubspot_token_bad_client", bad.render());
    let mut wrong_grant = refresh_form(&credentials, &credentials.refresh_token);
    wrong_grant[0].1 = "authorization_code";
    let bad = send(&mut hubspot, EPOCH, form(HUBSPOT_TOKEN, &wrong_grant));
    assert_snapshot!("hubspot_token_bad_grant_type", bad.render());
}

#[test]
fn listing_pages_with_an_after_cursor_in_ascending_numeric_ids() {
    let mut hubspot = hubspot();
    let (credentials, token) = hubspot_account(&mut hubspot, &AccountOptions::default());
    hubspot
        .seed_records(EPOCH, &credentials.account_id, "contacts", 3)
        .expect("seeded");
    let first = send(
        &mut hubspot,
        EPOCH + 1,
        get(
            &format!("{CONTACTS}?limit=2&properties=firstname,lastname,email,phone"),
            Some(&token),
        ),
    );
    assert_snapshot!("hubspot_list_first_page", first.render());
    let after = first.json()["paging"]["next"]["after"]
        .as_str()
        .expect("a cursor")
        .to_owned();
    let second = send(
        &mut hubspot,
        EPOCH + 2,
        get(
            &format!("{CONTACTS}?limit=2&after={after}&properties=firstname,lastname,email,phone"),
            Some(&token),
        ),
    );
    assert_snapshot!("hubspot_list_last_page", second.render());
    let defaults = send(
        &mut hubspot,
        EPOCH + 3,
        get("/crm/v3/objects/companies", Some(&token)),
    );
    assert_snapshot!(
        "hubspot_list_empty_with_default_properties",
        defaults.render()
    );
}

#[test]
fn listing_refuses_a_bad_limit_an_unknown_object_and_a_bad_token() {
    let mut hubspot = hubspot();
    let (_, token) = hubspot_account(&mut hubspot, &AccountOptions::default());
    let limit = send(
        &mut hubspot,
        EPOCH,
        get(&format!("{CONTACTS}?limit=101"), Some(&token)),
    );
    assert_snapshot!("hubspot_list_limit_over_100", limit.render());
    let object = send(
        &mut hubspot,
        EPOCH,
        get("/crm/v3/objects/deals", Some(&token)),
    );
    assert_snapshot!("hubspot_list_unknown_object", object.render());
    let unauthorized = send(&mut hubspot, EPOCH, get(CONTACTS, Some("not-a-token")));
    assert_snapshot!("hubspot_unauthorized", unauthorized.render());
}

#[test]
fn batch_upsert_answers_200_or_207_with_results_out_of_input_order() {
    let mut hubspot = hubspot();
    let (_, token) = hubspot_account(&mut hubspot, &AccountOptions::default());
    let path = format!("{CONTACTS}/batch/upsert");
    let good = json!({"inputs": [
        {"idProperty": "endgrate_internal_id", "id": "ext-1", "properties": {"firstname": "Ada", "email": "ada@example.com"}},
        {"idProperty": "endgrate_internal_id", "id": "ext-2", "properties": {"firstname": "Alan", "lastname": "Turing"}},
    ]});
    let ok = send(
        &mut hubspot,
        EPOCH,
        json_request(Method::POST, &path, Some(&token), &good),
    );
    assert_snapshot!("hubspot_upsert_ok", ok.render());
    let mixed = json!({"inputs": [
        {"idProperty": "endgrate_internal_id", "id": "ext-1", "properties": {"lastname": "Lovelace"}},
        {"idProperty": "endgrate_internal_id", "id": "ext-3", "properties": {"email": "no-at-sign"}},
        {"idProperty": "endgrate_internal_id", "id": "ext-4", "properties": {"firstname": "Grace"}},
    ]});
    let partial = send(
        &mut hubspot,
        EPOCH + 1,
        json_request(Method::POST, &path, Some(&token), &mixed),
    );
    assert_snapshot!("hubspot_upsert_207", partial.render());
    let body = partial.json();
    let ids: Vec<&str> = body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            r["properties"]["endgrate_internal_id"]
                .as_str()
                .unwrap_or("")
        })
        .collect();
    assert_eq!(ids, ["ext-4", "ext-1"], "results are not in input order");
}

#[test]
fn batch_upsert_refuses_oversized_and_malformed_batches() {
    let mut hubspot = hubspot();
    let (_, token) = hubspot_account(&mut hubspot, &AccountOptions::default());
    let path = format!("{CONTACTS}/batch/upsert");
    let inputs: Vec<_> = (0..101)
        .map(|i| json!({"idProperty": "endgrate_internal_id", "id": format!("e{i}"), "properties": {}}))
        .collect();
    let big = send(
        &mut hubspot,
        EPOCH,
        json_request(
            Method::POST,
            &path,
            Some(&token),
            &json!({"inputs": inputs}),
        ),
    );
    assert_snapshot!("hubspot_upsert_over_100", big.render());
    let malformed = send(
        &mut hubspot,
        EPOCH,
        request(
            Method::POST,
            &path,
            Some(&token),
            Some("application/json"),
            "{not json",
        ),
    );
    assert_snapshot!("hubspot_upsert_malformed", malformed.render());
}

#[test]
fn batch_update_writes_by_id_and_reports_unknown_ids_and_bad_emails() {
    let mut hubspot = hubspot();
    let (credentials, token) = hubspot_account(&mut hubspot, &AccountOptions::default());
    let ids = hubspot
        .seed_records(EPOCH, &credentials.account_id, "contacts", 2)
        .expect("seeded");
    let path = format!("{CONTACTS}/batch/update");
    let ok = send(
        &mut hubspot,
        EPOCH + 5,
        json_request(
            Method::POST,
            &path,
            Some(&token),
            &json!({"inputs": [
                {"id": ids[0], "properties": {"phone": "+1-555-0000"}},
                {"id": ids[1], "properties": {"lastname": "Hopper"}},
            ]}),
        ),
    );
    assert_snapshot!("hubspot_update_ok", ok.render());
    let stored = |hubspot: &transfersim_mock_providers::Hubspot, id: &str, property: &str| {
        hubspot
            .record(&credentials.account_id, "contacts", id)
            .expect("exists")
            .properties
            .get(property)
            .cloned()
    };
    assert_eq!(
        stored(&hubspot, &ids[0], "phone"),
        Some(json!("+1-555-0000"))
    );
    assert_eq!(stored(&hubspot, &ids[1], "lastname"), Some(json!("Hopper")));
    let partial = send(
        &mut hubspot,
        EPOCH + 6,
        json_request(
            Method::POST,
            &path,
            Some(&token),
            &json!({"inputs": [
                {"id": "999999", "properties": {"phone": "1"}},
                {"id": ids[0], "properties": {"email": "broken"}},
                {"id": ids[1], "properties": {"firstname": "Grace"}},
            ]}),
        ),
    );
    assert_snapshot!("hubspot_update_207", partial.render());
    let errors = partial.json()["errors"].clone();
    assert_eq!(errors[0]["context"]["ids"], json!(["999999"]));
    assert_eq!(errors[1]["context"]["ids"], json!([ids[0]]));
    assert_eq!(stored(&hubspot, &ids[1], "firstname"), Some(json!("Grace")));
    assert_ne!(stored(&hubspot, &ids[0], "email"), Some(json!("broken")));
}

#[test]
fn the_budget_answer_unknown_routes_and_wrong_methods_have_hubspot_shapes() {
    let mut hubspot = hubspot();
    let options = AccountOptions {
        budget: Some(Budget::Requests(1)),
        ..AccountOptions::default()
    };
    let (_, token) = hubspot_account(&mut hubspot, &options);
    let first = send(&mut hubspot, EPOCH, get(CONTACTS, Some(&token)));
    assert_eq!(first.status, 200);
    let limited = send(&mut hubspot, EPOCH + 1, get(CONTACTS, Some(&token)));
    assert_snapshot!("hubspot_rate_limited", limited.render());
    let missing = send(&mut hubspot, EPOCH, get("/crm/v4/nothing", Some(&token)));
    assert_snapshot!("hubspot_not_found", missing.render());
    let wrong = send(
        &mut hubspot,
        EPOCH,
        request(Method::DELETE, CONTACTS, Some(&token), None, ""),
    );
    assert_snapshot!("hubspot_method_not_allowed", wrong.render());
}
