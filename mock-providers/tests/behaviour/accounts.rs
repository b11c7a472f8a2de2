//! Accounts of one mock are isolated from each other (spec PROVIDER-1).

use http::Method;
use serde_json::json;
use transfersim_mock_providers::{
    AccountOptions, Budget, InProcessProvider, Matcher, Outcome, Verdict,
};

use crate::support::*;

const CONTACTS: &str = "/crm/v3/objects/contacts";

/// PROVIDER-1: two accounts on one mock share no records, credentials, budget or faults.
#[test]
fn mock_provider_accounts_are_isolated() {
    let mut hubspot = hubspot();
    let tight = AccountOptions {
        budget: Some(Budget::Requests(1)),
        ..AccountOptions::default()
    };
    let (a, a_token) = hubspot_account(&mut hubspot, &tight);
    let (b, b_token) = hubspot_account(&mut hubspot, &AccountOptions::default());
    assert_ne!(a.account_id, b.account_id);

    // Records: A's seeded records and B's write stay in their own account.
    hubspot
        .seed_records(EPOCH, &a.account_id, "contacts", 3)
        .expect("seeded");
    let upsert = json!({"inputs": [{"idProperty": "endgrate_internal_id", "id": "only-b", "properties": {}}]});
    let written = send(
        &mut hubspot,
        EPOCH,
        json_request(
            Method::POST,
            &format!("{CONTACTS}/batch/upsert"),
            Some(&b_token),
            &upsert,
        ),
    );
    assert_eq!(written.status, 200);
    let listed = |hubspot: &mut transfersim_mock_providers::Hubspot, token: &str, now| {
        let answer = send(hubspot, now, get(CONTACTS, Some(token)));
        assert_eq!(answer.status, 200, "{}", answer.render());
        answer.json()["results"].as_array().map_or(0, Vec::len)
    };
    assert_eq!(
        listed(&mut hubspot, &b_token, EPOCH + 1),
        1,
        "B sees only its own"
    );
    assert_eq!(
        listed(&mut hubspot, &a_token, EPOCH + 1),
        3,
        "A sees only its own"
    );
    assert_eq!(
        hubspot.records(&a.account_id, "contacts").map(|r| r.len()),
        Ok(3)
    );
    assert_eq!(
        hubspot.records(&b.account_id, "contacts").map(|r| r.len()),
        Ok(1)
    );

    // Credentials: A's refresh token is no good with B's client, nor B's with A's.
    let crossed = send(
        &mut hubspot,
        EPOCH + 2,
        form(HUBSPOT_TOKEN, &refresh_form(&b, &a.refresh_token)),
    );
    assert_eq!(crossed.status, 400, "{}", crossed.render());
    let crossed = send(
        &mut hubspot,
        EPOCH + 2,
        form(HUBSPOT_TOKEN, &refresh_form(&a, &b.refresh_token)),
    );
    assert_eq!(crossed.status, 400, "{}", crossed.render());

    // Budget: A has used its 1 request; B's usage did not count against A, and A's refusal
    // leaves B untouched.
    let refused = send(&mut hubspot, EPOCH + 3, get(CONTACTS, Some(&a_token)));
    assert_eq!(refused.status, 429);
    let fine = send(&mut hubspot, EPOCH + 3, get(CONTACTS, Some(&b_token)));
    assert_eq!(fine.status, 200);
    assert_eq!(fine.header("x-hubspot-ratelimit-remaining"), Some("97"));

    // Faults: a rule scoped to B drops B's requests only.
    let _guard = hubspot
        .scoped_fault(
            Matcher::any()
                .for_account(b.account_id.clone())
                .then(Verdict::Drop),
        )
        .expect("room");
    let b_served = hubspot.handle(EPOCH + 20_000, get(CONTACTS, Some(&b_token)));
    assert!(matches!(b_served.outcome, Outcome::Dropped));
    assert_eq!(listed(&mut hubspot, &a_token, EPOCH + 20_000), 3);

    // The same holds for salesforce records.
    let mut salesforce = salesforce();
    let (sa, sa_token) = salesforce_account(&mut salesforce, &AccountOptions::default());
    let (_, sb_token) = salesforce_account(&mut salesforce, &AccountOptions::default());
    salesforce
        .seed_records(EPOCH, &sa.account_id, "Contact", 2)
        .expect("seeded");
    let size = |salesforce: &mut transfersim_mock_providers::Salesforce, token: &str| {
        send(
            salesforce,
            EPOCH + 1,
            get(&format!("{SF}/query?q=SELECT+Id+FROM+Contact"), Some(token)),
        )
        .json()["totalSize"]
            .clone()
    };
    assert_eq!(size(&mut salesforce, &sa_token), 2);
    assert_eq!(size(&mut salesforce, &sb_token), 0);
}
