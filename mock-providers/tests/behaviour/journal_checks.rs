//! The journal checks scenarios and fuzzing use.

use transfersim_mock_providers::journal::{
    max_refreshes_in_flight, refreshes_per_connection, requests_by_route,
};
use transfersim_mock_providers::{AccountOptions, Connection};

use crate::support::*;

#[test]
fn refreshes_are_counted_per_connection_and_overlaps_are_seen_in_flight() {
    let mut hubspot = hubspot();
    let options = AccountOptions {
        latency_ms: Some(100),
        ..AccountOptions::default()
    };
    let credentials = hubspot.create_account(EPOCH, &options).expect("account");
    let refresh = || {
        form(
            HUBSPOT_TOKEN,
            &refresh_form(&credentials, &credentials.refresh_token),
        )
    };
    send(&mut hubspot, EPOCH, refresh());
    send(&mut hubspot, EPOCH + 50, refresh()); // overlaps the first (100 ms latency)
    send(&mut hubspot, EPOCH + 1_000, refresh());
    let connection = Connection {
        client_id: credentials.client_id.clone(),
        grant_id: credentials.grant_id.clone(),
    };
    assert_eq!(
        refreshes_per_connection(hubspot.journal()).get(&connection),
        Some(&3)
    );
    assert_eq!(
        max_refreshes_in_flight(hubspot.journal()).get(&connection),
        Some(&2)
    );
}

#[test]
fn requests_are_counted_by_route() {
    let mut salesforce = salesforce();
    let (credentials, token) = salesforce_account(&mut salesforce, &AccountOptions::default());
    for _ in 0..3 {
        send(
            &mut salesforce,
            EPOCH,
            get(
                &format!("{SF}/query?q=SELECT+Id+FROM+Contact"),
                Some(&token),
            ),
        );
    }
    let routes = requests_by_route(salesforce.journal(), Some(&credentials.account_id));
    assert_eq!(routes.get("salesforce.query"), Some(&3));
    assert_eq!(routes.get("salesforce.token"), Some(&1));
}

#[test]
fn records_sharing_an_external_id_are_reported_as_duplicates() {
    let mut hubspot = hubspot();
    let credentials = hubspot
        .create_account(EPOCH, &AccountOptions::default())
        .expect("account");
    let record = |ext: &str| {
        [(
            "endgrate_internal_id".to_owned(),
            serde_json::Value::from(ext),
        )]
        .into_iter()
        .collect()
    };
    let ids = hubspot
        .insert_records(
            EPOCH,
            &credentials.account_id,
            "contacts",
            vec![record("a"), record("b"), record("a")],
        )
        .expect("inserted");
    let duplicates = hubspot
        .duplicate_external_ids(&credentials.account_id)
        .expect("account");
    assert_eq!(duplicates.len(), 1);
    assert_eq!(duplicates[0].external_id, "a");
    assert_eq!(
        duplicates[0].record_ids,
        vec![ids[0].clone(), ids[2].clone()]
    );
}

#[test]
fn the_journal_records_time_account_route_outcome_and_counting() {
    let mut hubspot = hubspot();
    let (credentials, token) = hubspot_account(&mut hubspot, &AccountOptions::default());
    send(
        &mut hubspot,
        EPOCH + 7,
        get("/crm/v3/objects/contacts?limit=5", Some(&token)),
    );
    let entry = hubspot.journal().last().expect("an entry").clone();
    assert_eq!(entry.at_ms, EPOCH + 7);
    assert_eq!(
        entry.account_id.as_deref(),
        Some(credentials.account_id.as_str())
    );
    assert_eq!(entry.route, "hubspot.contacts.list");
    assert_eq!(entry.path, "/crm/v3/objects/contacts?limit=5");
    assert_eq!(entry.status, Some(200));
    assert!(entry.counted && entry.acted);
    assert_eq!(entry.latency_ms, 50);
}
