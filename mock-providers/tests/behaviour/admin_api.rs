//! The admin API: accounts, records, faults, tokens, journal and reset, and 400 (never a panic)
//! for bad input.

use http::Method;
use proptest::prelude::*;
use serde_json::{Value, json};
use transfersim_mock_providers::{Hubspot, InProcessProvider, Salesforce};

use crate::support::*;

fn admin(
    provider: &mut impl InProcessProvider,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Answer {
    let request = match body {
        Some(body) => json_request(method, path, None, &body),
        None => request(method, path, None, None, ""),
    };
    send(provider, EPOCH, request)
}

#[test]
fn an_account_made_over_the_admin_api_can_be_seeded_read_changed_and_deleted() {
    let mut hubspot = hubspot();
    let created = admin(
        &mut hubspot,
        Method::POST,
        "/__admin/accounts",
        Some(json!({"budget": 50, "page_size": 10, "latency_ms": 5})),
    );
    assert_eq!(created.status, 200, "{}", created.render());
    let account = created.json()["account_id"]
        .as_str()
        .expect("an id")
        .to_owned();
    for field in ["client_id", "client_secret", "refresh_token", "grant_id"] {
        assert!(created.json()[field].is_string(), "{field}");
    }
    let seeded = admin(
        &mut hubspot,
        Method::POST,
        &format!("/__admin/accounts/{account}/records/contacts"),
        Some(json!({"count": 3})),
    );
    assert_eq!(seeded.json()["ids"].as_array().map(Vec::len), Some(3));
    let given = admin(
        &mut hubspot,
        Method::POST,
        &format!("/__admin/accounts/{account}/records/companies"),
        Some(json!({"records": [{"name": "Acme"}]})),
    );
    let company = given.json()["ids"][0].as_str().expect("an id").to_owned();
    let base = format!("/__admin/accounts/{account}/records/companies/{company}");
    let patched = admin(
        &mut hubspot,
        Method::PATCH,
        &base,
        Some(json!({"properties": {"industry": "RETAIL"}})),
    );
    assert_eq!(
        patched.json()["properties"],
        json!({"industry": "RETAIL", "name": "Acme"})
    );
    assert_eq!(admin(&mut hubspot, Method::DELETE, &base, None).status, 200);
    assert_eq!(admin(&mut hubspot, Method::GET, &base, None).status, 404);
    let view = admin(
        &mut hubspot,
        Method::GET,
        &format!("/__admin/accounts/{account}"),
        None,
    );
    assert_eq!(view.json()["options"]["budget"], 50);
    let changed = admin(
        &mut hubspot,
        Method::PATCH,
        &format!("/__admin/accounts/{account}"),
        Some(json!({"budget": "unlimited"})),
    );
    assert_eq!(changed.json()["options"]["budget"], "unlimited");
    let listed = admin(
        &mut hubspot,
        Method::GET,
        &format!("/__admin/accounts/{account}/records/contacts"),
        None,
    );
    assert_eq!(listed.json()["records"].as_array().map(Vec::len), Some(3));
}

#[test]
fn faults_tokens_journal_checks_and_reset_work_over_the_admin_api() {
    let mut salesforce = salesforce();
    let created = admin(
        &mut salesforce,
        Method::POST,
        "/__admin/accounts",
        Some(json!({})),
    );
    let account = created.json()["account_id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let credentials: transfersim_mock_providers::Credentials =
        serde_json::from_value(created.json()).expect("credentials");
    let rule = admin(
        &mut salesforce,
        Method::POST,
        "/__admin/faults",
        Some(json!({
            "method": "POST", "path": "/services/oauth2/token", "path_match": "exact",
            "verdict": {"kind": "answer", "status": 503, "body": {"error": "unavailable"}}, "times": 1,
        })),
    );
    assert_eq!(rule.status, 200, "{}", rule.render());
    let refresh = || {
        form(
            SALESFORCE_TOKEN,
            &refresh_form(&credentials, &credentials.refresh_token),
        )
    };
    assert_eq!(send(&mut salesforce, EPOCH, refresh()).status, 503);
    assert_eq!(send(&mut salesforce, EPOCH, refresh()).status, 200);
    let listed = admin(&mut salesforce, Method::GET, "/__admin/faults", None);
    assert_eq!(listed.json()["faults"][0]["remaining"], 0);
    let rule_id = rule.json()["rule_id"].as_u64().expect("an id");
    assert_eq!(
        admin(
            &mut salesforce,
            Method::DELETE,
            &format!("/__admin/faults/{rule_id}"),
            None
        )
        .status,
        200
    );
    assert_eq!(
        admin(
            &mut salesforce,
            Method::DELETE,
            &format!("/__admin/faults/{rule_id}"),
            None
        )
        .status,
        404
    );
    let expired = admin(
        &mut salesforce,
        Method::POST,
        &format!("/__admin/accounts/{account}/expire_tokens"),
        None,
    );
    assert_eq!(expired.json()["expired"], 1);
    let revoked = admin(
        &mut salesforce,
        Method::POST,
        &format!("/__admin/accounts/{account}/revoke"),
        Some(json!({})),
    );
    assert_eq!(revoked.json()["revoked"], 1);
    assert_eq!(
        send(&mut salesforce, EPOCH, refresh()).json()["error"],
        "invalid_grant"
    );
    let other_app = admin(
        &mut salesforce,
        Method::POST,
        &format!("/__admin/accounts/{account}/another_app"),
        Some(json!({"requests": 7})),
    );
    assert_eq!(other_app.json()["counted"], 7);
    let journal = admin(
        &mut salesforce,
        Method::GET,
        &format!("/__admin/journal?account_id={account}"),
        None,
    );
    assert_eq!(journal.json()["journal"].as_array().map(Vec::len), Some(4));
    let checks = admin(
        &mut salesforce,
        Method::GET,
        &format!("/__admin/accounts/{account}/checks"),
        None,
    );
    assert_eq!(checks.json()["max_counted_in_window"], 7);
    assert_eq!(checks.json()["refreshes_per_connection"][0]["count"], 3);
    assert_eq!(
        admin(&mut salesforce, Method::POST, "/__admin/reset", None).status,
        200
    );
    assert_eq!(
        admin(
            &mut salesforce,
            Method::GET,
            &format!("/__admin/accounts/{account}"),
            None
        )
        .status,
        404
    );
    assert!(salesforce.journal().is_empty());
}

#[test]
fn bad_admin_input_gets_400_with_a_message() {
    let mut hubspot = hubspot();
    let account = hubspot
        .create_account(EPOCH, &Default::default())
        .expect("account")
        .account_id;
    let cases: Vec<(Method, String, &str)> = vec![
        (Method::POST, "/__admin/accounts".into(), "{not json"),
        (
            Method::POST,
            "/__admin/accounts".into(),
            r#"{"budgett": 5}"#,
        ),
        (
            Method::POST,
            "/__admin/accounts".into(),
            r#"{"budget": -1}"#,
        ),
        (
            Method::POST,
            "/__admin/accounts".into(),
            r#"{"page_size": 101}"#,
        ),
        (
            Method::POST,
            "/__admin/accounts".into(),
            r#"{"another_app": {"requests": 1, "every_ms": 0}}"#,
        ),
        (
            Method::POST,
            "/__admin/accounts".into(),
            r#"{"client_id": "c"}"#,
        ),
        (
            Method::POST,
            format!("/__admin/accounts/{account}/records/contacts"),
            r#"{"count": 1, "records": []}"#,
        ),
        (
            Method::POST,
            format!("/__admin/accounts/{account}/records/deals"),
            r#"{"count": 1}"#,
        ),
        (
            Method::POST,
            format!("/__admin/accounts/{account}/records/contacts"),
            r#"{"count": 99999999}"#,
        ),
        (
            Method::POST,
            "/__admin/faults".into(),
            r#"{"verdict": {"kind": "explode"}}"#,
        ),
        (
            Method::POST,
            "/__admin/faults".into(),
            r#"{"path": "no-slash", "verdict": {"kind": "drop"}}"#,
        ),
        (
            Method::POST,
            "/__admin/faults".into(),
            r#"{"verdict": {"kind": "answer", "status": 99}}"#,
        ),
        (Method::DELETE, "/__admin/faults/abc".into(), ""),
        (
            Method::GET,
            format!("/__admin/accounts/{account}/checks?window_ms=0"),
            "",
        ),
    ];
    for (method, path, body) in cases {
        let answer = send(
            &mut hubspot,
            EPOCH,
            request(method.clone(), &path, None, Some("application/json"), body),
        );
        assert_eq!(
            answer.status,
            400,
            "{method} {path} {body}: {}",
            answer.render()
        );
        assert_eq!(answer.json()["success"], false);
        assert!(
            answer.json()["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    let unknown = send(&mut hubspot, EPOCH, get("/__admin/accounts/nope", None));
    assert_eq!(unknown.status, 404);
    let wrong = send(
        &mut hubspot,
        EPOCH,
        request(Method::PUT, "/__admin/faults", None, None, ""),
    );
    assert_eq!(wrong.status, 405);
}

fn admin_paths() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("/__admin/accounts".to_owned()),
        Just("/__admin/accounts/1001".to_owned()),
        Just("/__admin/accounts/1001/records/contacts".to_owned()),
        Just("/__admin/accounts/1001/records/contacts/1".to_owned()),
        Just("/__admin/accounts/1001/revoke".to_owned()),
        Just("/__admin/accounts/1001/another_app".to_owned()),
        Just("/__admin/faults".to_owned()),
        "/__admin/[a-z/0-9]{0,30}",
    ]
}

proptest! {
    #[test]
    fn no_admin_request_panics_or_answers_a_server_error(
        method in prop_oneof![Just(Method::GET), Just(Method::POST), Just(Method::PATCH), Just(Method::DELETE)],
        path in admin_paths(),
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..64),
            Just(br#"{"count": 2}"#.to_vec()),
            Just(br#"{"records": [{"a": 1}]}"#.to_vec()),
            Just(br#"{"requests": 4294967295}"#.to_vec()),
            Just(br#"{"verdict": {"kind": "delay", "ms": 18446744073709551615}}"#.to_vec()),
        ],
    ) {
        let mut hubspot = Hubspot::new("http://x", 1);
        hubspot.create_account(EPOCH, &Default::default()).expect("account");
        let answer = send(&mut hubspot, EPOCH, request(method.clone(), &path, None, None, body.clone()));
        prop_assert!(answer.status < 500, "{} {} → {}", method, path, answer.render());
        let mut salesforce = Salesforce::new("http://x", 1);
        let answer = send(&mut salesforce, EPOCH, request(method, &path.replace("contacts", "Contact"), None, None, body));
        prop_assert!(answer.status < 500);
    }
}
