//! Salesforce requirements (spec PROVIDER-*) that no wire snapshot or contract-table row proves
//! on its own: each test is named in `spec/requirements.md` and asserts that requirement's
//! substance.

use http::Method;
use serde_json::{Value, json};
use transfersim_mock_providers::AccountOptions;

use crate::support::*;

fn query_path(soql: &str) -> String {
    format!(
        "{SF}/query?{}",
        serde_urlencoded::to_string([("q", soql)]).expect("encodes")
    )
}

/// PROVIDER-22: with the default quota, 15,000 requests fit in a rolling 24 h and no more; room
/// comes back exactly when the oldest requests leave the window.
#[test]
fn salesforce_never_accepts_more_than_its_quota_in_any_rolling_day() {
    const DAY: u64 = 86_400_000;
    let mut salesforce = salesforce();
    let options = AccountOptions {
        token_lifetime_s: Some(3 * 86_400),
        ..AccountOptions::default()
    };
    let (credentials, token) = salesforce_account(&mut salesforce, &options);
    // Another app on the same org uses 14,999 of the default 15,000 at the epoch.
    assert_eq!(
        salesforce.another_app_uses(EPOCH, &credentials.account_id, 14_999),
        Ok(14_999)
    );
    let query = || get(&query_path("SELECT Id FROM Contact"), Some(&token));
    let last = send(&mut salesforce, EPOCH + 1, query());
    assert_eq!(last.status, 200, "the 15,000th request fits");
    assert_eq!(
        last.header("sforce-limit-info"),
        Some("api-usage=15000/15000")
    );
    assert_eq!(send(&mut salesforce, EPOCH + 2, query()).status, 403);
    assert_eq!(
        send(&mut salesforce, EPOCH + DAY - 1, query()).status,
        403,
        "still inside the 24 h window"
    );
    // The other app's 14,999 leave the window at exactly 24 h; the target's own request stays.
    let later = send(&mut salesforce, EPOCH + DAY, query());
    assert_eq!(later.status, 200);
    assert_eq!(later.header("sforce-limit-info"), Some("api-usage=2/15000"));
    assert_eq!(
        salesforce.another_app_uses(EPOCH + DAY, &credentials.account_id, 15_000),
        Ok(14_998),
        "only the room left counts"
    );
    assert_eq!(send(&mut salesforce, EPOCH + DAY, query()).status, 403);
    // One millisecond later the target's request at EPOCH + 1 leaves the window: one more fits.
    let next = send(&mut salesforce, EPOCH + DAY + 1, query());
    assert_eq!(next.status, 200);
    assert_eq!(
        next.header("sforce-limit-info"),
        Some("api-usage=15000/15000")
    );
    assert_eq!(send(&mut salesforce, EPOCH + DAY + 2, query()).status, 403);
}

/// PROVIDER-25: a query answers at most 2,000 records a page in ascending `Id` order, each with
/// `attributes`; `nextRecordsUrl` is there exactly when `done` is false.
#[test]
fn salesforce_query_pages_2000_records_in_ascending_id_order() {
    let mut salesforce = salesforce();
    let options = AccountOptions {
        token_lifetime_s: Some(86_400),
        ..AccountOptions::default()
    };
    let (credentials, token) = salesforce_account(&mut salesforce, &options);
    salesforce
        .seed_records(EPOCH, &credentials.account_id, "Contact", 2_001)
        .expect("seeded");
    let first = send(
        &mut salesforce,
        EPOCH + 1,
        get(
            &query_path("SELECT Id, LastName FROM Contact"),
            Some(&token),
        ),
    );
    assert_eq!(first.status, 200);
    let first = first.json();
    assert_eq!(first["totalSize"], 2_001);
    assert_eq!(first["done"], false);
    let next = first["nextRecordsUrl"]
        .as_str()
        .expect("a next page while not done")
        .to_owned();
    let records = |page: &Value| page["records"].as_array().cloned().expect("records");
    assert_eq!(records(&first).len(), 2_000, "a page holds at most 2,000");
    let second = send(
        &mut salesforce,
        EPOCH + 2,
        get(next.trim_start_matches("/salesforce"), Some(&token)),
    );
    assert_eq!(second.status, 200);
    let second = second.json();
    assert_eq!(second["done"], true);
    assert!(second.get("nextRecordsUrl").is_none(), "{second}");
    let all: Vec<Value> = records(&first)
        .into_iter()
        .chain(records(&second))
        .collect();
    assert_eq!(all.len(), 2_001);
    for record in &all {
        assert_eq!(record["attributes"]["type"], "Contact");
        assert!(record["attributes"]["url"].is_string(), "{record}");
        assert!(record["LastName"].is_string(), "{record}");
    }
    let ids: Vec<&str> = all.iter().map(|r| r["Id"].as_str().expect("Id")).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ascending Id order without repeats"
    );
}

/// PROVIDER-27: only `SELECT <field list> FROM <object>` is understood; anything else is a 400
/// `MALFORMED_QUERY`.
#[test]
fn salesforce_refuses_queries_beyond_select_fields_from_object() {
    let mut salesforce = salesforce();
    let (_, token) = salesforce_account(&mut salesforce, &AccountOptions::default());
    let plain = send(
        &mut salesforce,
        EPOCH,
        get(
            &query_path("SELECT Id, LastName FROM Contact"),
            Some(&token),
        ),
    );
    assert_eq!(plain.status, 200, "{}", plain.render());
    for soql in [
        "SELECT Id FROM Contact WHERE LastName = 'x'",
        "SELECT Id FROM Contact ORDER BY Id",
        "SELECT Id FROM Contact LIMIT 5",
        "SELECT Id, (SELECT Id FROM Contacts) FROM Account",
        "SELECT FROM Contact",
        "SELECT Id Contact",
        "DELETE FROM Contact",
        "",
    ] {
        let answer = send(
            &mut salesforce,
            EPOCH + 1,
            get(&query_path(soql), Some(&token)),
        );
        assert_eq!(answer.status, 400, "{soql:?}: {}", answer.render());
        assert_eq!(answer.json()[0]["errorCode"], "MALFORMED_QUERY", "{soql:?}");
    }
}

/// PROVIDER-31: 201 records to the composite upsert or update are refused whole with a 400 and
/// nothing is written; 200 are accepted.
#[test]
fn salesforce_composite_over_200_records_is_refused_whole() {
    let mut salesforce = salesforce();
    let (credentials, token) = salesforce_account(&mut salesforce, &AccountOptions::default());
    let upsert_path = format!("{SF}/composite/sobjects/Contact/Endgrate_Internal_Id__c");
    let upserts = |n: usize| {
        let records: Vec<_> = (0..n)
            .map(|i| json!({"attributes": {"type": "Contact"}, "Endgrate_Internal_Id__c": format!("e{i}"), "LastName": "X"}))
            .collect();
        json!({"allOrNone": false, "records": records})
    };
    let big = send(
        &mut salesforce,
        EPOCH,
        json_request(Method::PATCH, &upsert_path, Some(&token), &upserts(201)),
    );
    assert_eq!(big.status, 400, "{}", big.render());
    assert!(
        salesforce
            .records(&credentials.account_id, "Contact")
            .expect("records")
            .is_empty(),
        "a refused upsert writes nothing"
    );
    let ok = send(
        &mut salesforce,
        EPOCH + 1,
        json_request(Method::PATCH, &upsert_path, Some(&token), &upserts(200)),
    );
    assert_eq!(ok.status, 200);
    let records = salesforce
        .records(&credentials.account_id, "Contact")
        .expect("records");
    assert_eq!(records.len(), 200);
    let mut updates: Vec<_> = records
        .iter()
        .map(|r| json!({"attributes": {"type": "Contact"}, "id": r.id, "LastName": "Changed"}))
        .collect();
    updates.push(
        json!({"attributes": {"type": "Contact"}, "id": records[0].id, "LastName": "Changed"}),
    );
    let big = send(
        &mut salesforce,
        EPOCH + 2,
        json_request(
            Method::PATCH,
            &format!("{SF}/composite/sobjects"),
            Some(&token),
            &json!({"allOrNone": false, "records": updates}),
        ),
    );
    assert_eq!(big.status, 400, "{}", big.render());
    assert!(
        salesforce
            .records(&credentials.account_id, "Contact")
            .expect("records")
            .iter()
            .all(|r| r.properties["LastName"] == "X"),
        "a refused update writes nothing"
    );
}
