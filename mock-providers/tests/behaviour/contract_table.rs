//! Field names and headers checked against a table copied from CONTRACT.md section 6 ("Provider
//! wire profile"). If the mocks and the contract drift apart, this test names the row.

use std::collections::BTreeMap;

use http::Method;
use serde_json::{Value, json};
use transfersim_mock_providers::AccountOptions;

use crate::support::*;

/// `provider | case | status | expectations`. An expectation is `/pointer` (present),
/// `!/pointer` (absent), `/pointer=<json>` (equal), `header name` (present), `!header name`
/// (absent), `header name=value` or `header name~prefix*suffix`. Case `*` applies to every answer
/// of the provider.
const TABLE: &str = r#"
hubspot | token | 200 | /access_token ; /refresh_token ; /expires_in=1800 ; /token_type="bearer"
hubspot | bad_refresh | 400 | /status="BAD_REFRESH_TOKEN" ; /message
hubspot | unauthorized | 401 | /status="error" ; /category="EXPIRED_AUTHENTICATION" ; /message
hubspot | rate_limited | 429 | /status="error" ; /errorType="RATE_LIMIT" ; /policyName="TEN_SECONDLY_ROLLING" ; /message ; /correlationId ; !header retry-after
hubspot | list | 200 | /results/0/id ; /results/0/properties ; /results/0/createdAt ; /results/0/updatedAt ; /results/0/archived=false ; /paging/next/after ; /paging/next/link
hubspot | upsert | 200 | /status="COMPLETE" ; /results/0/id ; /results/0/properties ; /results/0/new=true
hubspot | upsert_207 | 207 | /results/0/id ; /errors/0/status="error" ; /errors/0/message ; /errors/0/context/ids=["bad"]
hubspot | update | 200 | /status="COMPLETE" ; /results/0/id ; /results/0/properties
hubspot | * | * | header x-hubspot-ratelimit-interval-milliseconds=10000 ; header x-hubspot-ratelimit-max=100 ; header x-hubspot-ratelimit-remaining
salesforce | token | 200 | /access_token ; /instance_url ; /issued_at ; /token_type="Bearer" ; /id ; /signature ; !/expires_in
salesforce | bad_refresh | 400 | /error="invalid_grant" ; /error_description="expired access/refresh token"
salesforce | unauthorized | 401 | /0/message="Session expired or invalid" ; /0/errorCode="INVALID_SESSION_ID"
salesforce | rate_limited | 403 | /0/message="TotalRequests Limit exceeded." ; /0/errorCode="REQUEST_LIMIT_EXCEEDED"
salesforce | query | 200 | /totalSize=3 ; /done=false ; /nextRecordsUrl ; /records/0/attributes/type="Contact" ; /records/0/attributes/url ; /records/0/Id
salesforce | upsert | 200 | /0/id ; /0/success=true ; /0/created=true ; /0/errors=[] ; /1/success=false ; /1/errors/0/statusCode="REQUIRED_FIELD_MISSING"
salesforce | update | 200 | /0/id ; /0/success=true ; /0/created=false ; /0/errors=[]
salesforce | * | * | header sforce-limit-info~api-usage=*/15000
"#;

fn hubspot_answers() -> BTreeMap<&'static str, Answer> {
    let mut hubspot = hubspot();
    let (credentials, token) = hubspot_account(&mut hubspot, &AccountOptions::default());
    let ids = hubspot
        .seed_records(EPOCH, &credentials.account_id, "contacts", 3)
        .expect("seeded");
    let mut answers = BTreeMap::new();
    answers.insert(
        "token",
        send(
            &mut hubspot,
            EPOCH,
            form(
                HUBSPOT_TOKEN,
                &refresh_form(&credentials, &credentials.refresh_token),
            ),
        ),
    );
    answers.insert(
        "bad_refresh",
        send(
            &mut hubspot,
            EPOCH,
            form(HUBSPOT_TOKEN, &refresh_form(&credentials, "nope")),
        ),
    );
    answers.insert(
        "unauthorized",
        send(
            &mut hubspot,
            EPOCH,
            get("/crm/v3/objects/contacts", Some("nope")),
        ),
    );
    answers.insert(
        "list",
        send(
            &mut hubspot,
            EPOCH,
            get("/crm/v3/objects/contacts?limit=1", Some(&token)),
        ),
    );
    let upsert = "/crm/v3/objects/contacts/batch/upsert";
    answers.insert(
        "upsert",
        send(
            &mut hubspot,
            EPOCH,
            json_request(
                Method::POST,
                upsert,
                Some(&token),
                &json!({"inputs": [
        {"idProperty": "endgrate_internal_id", "id": "good", "properties": {"email": "a@b.c"}}]}),
            ),
        ),
    );
    answers.insert(
        "upsert_207",
        send(
            &mut hubspot,
            EPOCH,
            json_request(
                Method::POST,
                upsert,
                Some(&token),
                &json!({"inputs": [
        {"idProperty": "endgrate_internal_id", "id": "fine", "properties": {}},
        {"idProperty": "endgrate_internal_id", "id": "bad", "properties": {"email": "no-at"}}]}),
            ),
        ),
    );
    answers.insert(
        "update",
        send(
            &mut hubspot,
            EPOCH,
            json_request(
                Method::POST,
                "/crm/v3/objects/contacts/batch/update",
                Some(&token),
                &json!({"inputs": [
        {"id": ids[0], "properties": {"phone": "1"}}]}),
            ),
        ),
    );
    // Another app fills the default budget, so the answer shows the default limit.
    hubspot
        .another_app_uses(EPOCH, &credentials.account_id, 100)
        .expect("account");
    let rate_limited = send(
        &mut hubspot,
        EPOCH,
        get("/crm/v3/objects/contacts", Some(&token)),
    );
    answers.insert("rate_limited", rate_limited);
    answers
}

fn salesforce_answers() -> BTreeMap<&'static str, Answer> {
    let mut salesforce = salesforce();
    let options = AccountOptions {
        page_size: Some(1),
        ..AccountOptions::default()
    };
    let (credentials, token) = salesforce_account(&mut salesforce, &options);
    let ids = salesforce
        .seed_records(EPOCH, &credentials.account_id, "Contact", 3)
        .expect("seeded");
    let mut answers = BTreeMap::new();
    answers.insert(
        "token",
        send(
            &mut salesforce,
            EPOCH,
            form(
                SALESFORCE_TOKEN,
                &refresh_form(&credentials, &credentials.refresh_token),
            ),
        ),
    );
    answers.insert(
        "bad_refresh",
        send(
            &mut salesforce,
            EPOCH,
            form(SALESFORCE_TOKEN, &refresh_form(&credentials, "nope")),
        ),
    );
    answers.insert(
        "unauthorized",
        send(
            &mut salesforce,
            EPOCH,
            get(
                &format!("{SF}/query?q=SELECT+Id+FROM+Contact"),
                Some("nope"),
            ),
        ),
    );
    answers.insert(
        "query",
        send(
            &mut salesforce,
            EPOCH,
            get(
                &format!("{SF}/query?q=SELECT+Id,LastName+FROM+Contact"),
                Some(&token),
            ),
        ),
    );
    answers.insert(
        "upsert",
        send(
            &mut salesforce,
            EPOCH,
            json_request(
                Method::PATCH,
                &format!("{SF}/composite/sobjects/Contact/Endgrate_Internal_Id__c"),
                Some(&token),
                &json!({"allOrNone": false, "records": [
        {"attributes": {"type": "Contact"}, "Endgrate_Internal_Id__c": "a", "LastName": "A"},
        {"attributes": {"type": "Contact"}, "Endgrate_Internal_Id__c": "b", "LastName": ""}]}),
            ),
        ),
    );
    answers.insert(
        "update",
        send(
            &mut salesforce,
            EPOCH,
            json_request(
                Method::PATCH,
                &format!("{SF}/composite/sobjects"),
                Some(&token),
                &json!({"allOrNone": false, "records": [
        {"attributes": {"type": "Contact"}, "id": ids[0], "Phone": "1"}]}),
            ),
        ),
    );
    salesforce
        .another_app_uses(EPOCH, &credentials.account_id, 15_000)
        .expect("account");
    let rate_limited = send(
        &mut salesforce,
        EPOCH,
        get(
            &format!("{SF}/query?q=SELECT+Id+FROM+Contact"),
            Some(&token),
        ),
    );
    answers.insert("rate_limited", rate_limited);
    answers
}

fn check(provider: &str, case: &str, answer: &Answer, expectation: &str) -> Result<(), String> {
    let fail = |why: String| Err(format!("{provider} {case}: {expectation}: {why}"));
    if let Some(rest) = expectation.strip_prefix("!header ") {
        return match answer.header(rest) {
            None => Ok(()),
            Some(v) => fail(format!("header present with {v:?}")),
        };
    }
    if let Some(rest) = expectation.strip_prefix("header ") {
        let (name, want) = match rest.split_once(['=', '~']) {
            Some((n, w)) => (n, Some((rest.as_bytes()[n.len()], w))),
            None => (rest, None),
        };
        let Some(got) = answer.header(name) else {
            return fail("header missing".into());
        };
        return match want {
            None => Ok(()),
            Some((b'=', w)) if got == w => Ok(()),
            Some((b'~', pattern)) => {
                let (prefix, suffix) = pattern.split_once('*').unwrap_or((pattern, ""));
                if got.starts_with(prefix) && got.ends_with(suffix) {
                    Ok(())
                } else {
                    fail(format!("got {got:?}"))
                }
            }
            Some(_) => fail(format!("got {got:?}")),
        };
    }
    let body = answer.json();
    if let Some(pointer) = expectation.strip_prefix('!') {
        return match body.pointer(pointer) {
            None => Ok(()),
            Some(v) => fail(format!("present with {v}")),
        };
    }
    let (pointer, want) = match expectation.split_once('=') {
        Some((p, w)) => (
            p,
            Some(serde_json::from_str::<Value>(w).expect("the table's value is JSON")),
        ),
        None => (expectation, None),
    };
    match (body.pointer(pointer), want) {
        (None, _) => fail(format!("missing in {body}")),
        (Some(_), None) => Ok(()),
        (Some(got), Some(want)) if *got == want => Ok(()),
        (Some(got), Some(_)) => fail(format!("got {got}")),
    }
}

#[test]
fn every_field_name_and_header_matches_the_contract_table() {
    let answers = [
        ("hubspot", hubspot_answers()),
        ("salesforce", salesforce_answers()),
    ];
    let mut failures = Vec::new();
    let mut checked = 0;
    for row in TABLE.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let [provider, case, status, expectations] = cells[..] else {
            panic!("a table row has four cells: {row}");
        };
        let of_provider = &answers
            .iter()
            .find(|(p, _)| *p == provider)
            .expect("a known provider")
            .1;
        let selected: Vec<(&str, &Answer)> = if case == "*" {
            of_provider.iter().map(|(c, a)| (*c, a)).collect()
        } else {
            vec![(
                case,
                of_provider
                    .get(case)
                    .unwrap_or_else(|| panic!("no answer for {provider} {case}")),
            )]
        };
        for (case, answer) in selected {
            if status != "*" && answer.status.to_string() != status {
                failures.push(format!(
                    "{provider} {case}: status {} instead of {status}",
                    answer.status
                ));
            }
            for expectation in expectations.split(" ; ").map(str::trim) {
                checked += 1;
                if let Err(failure) = check(provider, case, answer, expectation) {
                    failures.push(failure);
                }
            }
        }
    }
    assert!(checked > 60, "the table was read ({checked} checks)");
    assert!(
        failures.is_empty(),
        "drift from CONTRACT.md section 6:\n{}",
        failures.join("\n")
    );
}
