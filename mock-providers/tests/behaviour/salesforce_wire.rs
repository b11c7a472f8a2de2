//! Salesforce's wire answers, pinned: status, every header and the body of each route's success
//! and error answers.

use http::Method;
use insta::assert_snapshot;
use serde_json::json;
use transfersim_mock_providers::{AccountOptions, Budget, Salesforce};

use crate::support::*;

#[test]
fn the_token_endpoint_answers_a_session_without_expires_in_and_refuses_bad_credentials() {
    let mut salesforce = salesforce();
    let credentials = salesforce
        .create_account(EPOCH, &AccountOptions::default())
        .expect("account");
    let ok = send(
        &mut salesforce,
        EPOCH,
        form(
            SALESFORCE_TOKEN,
            &refresh_form(&credentials, &credentials.refresh_token),
        ),
    );
    assert_snapshot!("salesforce_token_ok", ok.render());
    assert_eq!(ok.json()["instance_url"], "http://mock.test/salesforce");
    let bad = send(
        &mut salesforce,
        EPOCH,
        form(
            SALESFORCE_TOKEN,
            &refresh_form(&credentials, "5Aep861unknown"),
        ),
    );
    assert_snapshot!("salesforce_token_bad_refresh_token", bad.render());
    let mut wrong_secret = refresh_form(&credentials, &credentials.refresh_token);
    wrong_secret[3].1 = "wrong";
    let bad = send(
        &mut salesforce,
        EPOCH,
        form(SALESFORCE_TOKEN, &wrong_secret),
    );
    assert_snapshot!("salesforce_token_bad_secret", bad.render());
}

#[test]
fn a_query_pages_with_next_records_url_in_ascending_id_order() {
    let mut salesforce = salesforce();
    let options = AccountOptions {
        page_size: Some(2),
        ..AccountOptions::default()
    };
    let (credentials, token) = salesforce_account(&mut salesforce, &options);
    salesforce
        .seed_records(EPOCH, &credentials.account_id, "Contact", 3)
        .expect("seeded");
    let first = send(
        &mut salesforce,
        EPOCH + 1,
        get(
            &format!("{SF}/query?q=SELECT+Id,+FirstName,+LastName,+Email+FROM+Contact"),
            Some(&token),
        ),
    );
    assert_snapshot!("salesforce_query_first_page", first.render());
    let next = first.json()["nextRecordsUrl"]
        .as_str()
        .expect("more pages")
        .to_owned();
    assert!(
        next.starts_with("/salesforce/services/data/v60.0/query/"),
        "{next}"
    );
    let relative = next.trim_start_matches("/salesforce");
    let second = send(&mut salesforce, EPOCH + 2, get(relative, Some(&token)));
    assert_snapshot!("salesforce_query_last_page", second.render());
    let ids: Vec<String> = [first.json(), second.json()]
        .iter()
        .flat_map(|page| page["records"].as_array().cloned().unwrap_or_default())
        .map(|r| r["Id"].as_str().unwrap_or("").to_owned())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids.len(), 3);
    assert_eq!(ids, sorted);
}

#[test]
fn queries_refuse_malformed_soql_unknown_objects_bad_locators_and_bad_sessions() {
    let mut salesforce = salesforce();
    let (_, token) = salesforce_account(&mut salesforce, &AccountOptions::default());
    let malformed = send(
        &mut salesforce,
        EPOCH,
        get(
            &format!("{SF}/query?q=SELECT+Id+FROM+Contact+WHERE+Id='1'"),
            Some(&token),
        ),
    );
    assert_snapshot!("salesforce_query_malformed", malformed.render());
    let object = send(
        &mut salesforce,
        EPOCH,
        get(
            &format!("{SF}/query?q=SELECT+Id+FROM+Opportunity"),
            Some(&token),
        ),
    );
    assert_snapshot!("salesforce_query_unknown_object", object.render());
    let locator = send(
        &mut salesforce,
        EPOCH,
        get(&format!("{SF}/query/01gDp0000000099AAA-2000"), Some(&token)),
    );
    assert_snapshot!("salesforce_query_bad_locator", locator.render());
    let unauthorized = send(
        &mut salesforce,
        EPOCH,
        get(
            &format!("{SF}/query?q=SELECT+Id+FROM+Contact"),
            Some("expired"),
        ),
    );
    assert_snapshot!("salesforce_unauthorized", unauthorized.render());
}

#[test]
fn composite_upsert_answers_one_result_per_record_in_order() {
    let mut salesforce = salesforce();
    let (_, token) = salesforce_account(&mut salesforce, &AccountOptions::default());
    let path = format!("{SF}/composite/sobjects/Contact/Endgrate_Internal_Id__c");
    let body = json!({"allOrNone": false, "records": [
        {"attributes": {"type": "Contact"}, "Endgrate_Internal_Id__c": "ext-1", "FirstName": "Ada", "LastName": "Lovelace"},
        {"attributes": {"type": "Contact"}, "Endgrate_Internal_Id__c": "ext-2", "FirstName": "Nobody", "LastName": ""},
        {"attributes": {"type": "Contact"}, "Endgrate_Internal_Id__c": "ext-3", "LastName": "Hopper"},
    ]});
    let first = send(
        &mut salesforce,
        EPOCH,
        json_request(Method::PATCH, &path, Some(&token), &body),
    );
    assert_snapshot!("salesforce_upsert_mixed", first.render());
    let again = send(
        &mut salesforce,
        EPOCH + 1,
        json_request(
            Method::PATCH,
            &path,
            Some(&token),
            &json!({"records": [
                {"attributes": {"type": "Contact"}, "Endgrate_Internal_Id__c": "ext-1", "Email": "ada@example.com"},
            ]}),
        ),
    );
    assert_snapshot!("salesforce_upsert_existing", again.render());
    let all_or_none = send(
        &mut salesforce,
        EPOCH + 2,
        json_request(
            Method::PATCH,
            &path,
            Some(&token),
            &json!({"allOrNone": true, "records": [
                {"attributes": {"type": "Contact"}, "Endgrate_Internal_Id__c": "ext-9", "LastName": "Fine"},
                {"attributes": {"type": "Contact"}, "Endgrate_Internal_Id__c": "ext-10"},
            ]}),
        ),
    );
    assert_snapshot!(
        "salesforce_upsert_all_or_none_rolled_back",
        all_or_none.render()
    );
}

#[test]
fn composite_requests_refuse_oversized_batches_unknown_objects_and_bad_json() {
    let mut salesforce = salesforce();
    let (_, token) = salesforce_account(&mut salesforce, &AccountOptions::default());
    let records: Vec<_> = (0..201)
        .map(|i| json!({"attributes": {"type": "Contact"}, "Endgrate_Internal_Id__c": format!("e{i}"), "LastName": "X"}))
        .collect();
    let path = format!("{SF}/composite/sobjects/Contact/Endgrate_Internal_Id__c");
    let big = send(
        &mut salesforce,
        EPOCH,
        json_request(
            Method::PATCH,
            &path,
            Some(&token),
            &json!({"records": records}),
        ),
    );
    assert_snapshot!("salesforce_upsert_over_200", big.render());
    let object = send(
        &mut salesforce,
        EPOCH,
        json_request(
            Method::PATCH,
            &format!("{SF}/composite/sobjects/Lead/Endgrate_Internal_Id__c"),
            Some(&token),
            &json!({"records": []}),
        ),
    );
    assert_snapshot!("salesforce_upsert_unknown_object", object.render());
    let malformed = send(
        &mut salesforce,
        EPOCH,
        request(
            Method::PATCH,
            &path,
            Some(&token),
            Some("application/json"),
            "[1,",
        ),
    );
    assert_snapshot!("salesforce_upsert_malformed", malformed.render());
}

#[test]
fn composite_update_writes_by_id_and_reports_each_failure_in_order() {
    let mut salesforce = salesforce();
    let (credentials, token) = salesforce_account(&mut salesforce, &AccountOptions::default());
    let ids = salesforce
        .seed_records(EPOCH, &credentials.account_id, "Account", 2)
        .expect("seeded");
    let path = format!("{SF}/composite/sobjects");
    let answer = send(
        &mut salesforce,
        EPOCH + 1,
        json_request(
            Method::PATCH,
            &path,
            Some(&token),
            &json!({"allOrNone": false, "records": [
                {"attributes": {"type": "Account"}, "id": ids[0], "Industry": "Energy"},
                {"attributes": {"type": "Account"}, "id": ids[1], "Name": ""},
                {"attributes": {"type": "Account"}, "id": "001Dp0000000zzzAAA", "Name": "Ghost"},
                {"id": ids[1], "Name": "No type"},
            ]}),
        ),
    );
    assert_snapshot!("salesforce_update_mixed", answer.render());
    let record = salesforce
        .record(&credentials.account_id, "Account", &ids[0])
        .expect("exists");
    assert_eq!(record.properties["Industry"], "Energy");
}

#[test]
fn the_quota_answer_unknown_routes_and_wrong_methods_have_salesforce_shapes() {
    let mut salesforce = salesforce();
    let options = AccountOptions {
        budget: Some(Budget::Requests(1)),
        ..AccountOptions::default()
    };
    let (_, token) = salesforce_account(&mut salesforce, &options);
    let query = format!("{SF}/query?q=SELECT+Id+FROM+Account");
    assert_eq!(
        send(&mut salesforce, EPOCH, get(&query, Some(&token))).status,
        200
    );
    let limited = send(&mut salesforce, EPOCH + 1, get(&query, Some(&token)));
    assert_snapshot!("salesforce_request_limit_exceeded", limited.render());
    let missing = send(
        &mut salesforce,
        EPOCH,
        get("/services/apexrest/x", Some(&token)),
    );
    assert_snapshot!("salesforce_not_found", missing.render());
    let wrong = send(
        &mut salesforce,
        EPOCH,
        request(
            Method::POST,
            &format!("{SF}/composite/sobjects"),
            Some(&token),
            None,
            "",
        ),
    );
    assert_snapshot!("salesforce_method_not_allowed", wrong.render());
    assert_eq!(Salesforce::BATCH_MAX, 200);
}
