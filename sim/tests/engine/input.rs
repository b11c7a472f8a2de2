//! Malformed input: every refusal has its status, the envelope and, for a field, its path; and
//! no input at all makes the API layer panic or answer 500.

use bytes::Bytes;
use proptest::prelude::*;
use serde_json::{Value, json};
use transfersim_sim::api::ROUTES;
use transfersim_sim::world::World;

use crate::support::*;

fn raw(
    world: &mut World,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Bytes,
) -> (u16, Value) {
    let mut builder = http::Request::builder().method(method).uri(path);
    if let Some(key) = key {
        builder = builder.header("authorization", format!("Bearer {key}"));
    }
    let request = builder.body(body).expect("valid request");
    let handle = world.request(request);
    let answer = world.answer_of(handle).expect("answered at once");
    (answer.status(), answer.json())
}

#[test]
fn every_malformed_input_gets_its_status_envelope_and_field_path() {
    let mut world = world_with(9, None, 10, 50, 100);
    let session = initiate(&mut world, json!({})).expect("initiate");
    let pull_session = {
        let answer = call(
            &mut world,
            "POST",
            "/api/pull/initiate",
            Some(json!({"schema": [{"endgrate_type": "crm-contact"}]})),
        );
        answer.json()["session_id"].as_str().expect("id").to_owned()
    };
    let unknown = "0123456789abcdef01234567";
    let contact = |data: Value| json!({"session_id": session, "endgrate_type": "crm-contact", "transfer_data": [{"data": {"last_name": "L"}}, {"data": data}]});
    // (method, path, key, body, status, message fragment, field path)
    let cases: Vec<(&str, String, Option<&str>, Bytes, u16, &str, Option<&str>)> = vec![
        ("GET", "/api/statistics?transfer_id=x".into(), None, Bytes::new(), 401, "Invalid API key.", None),
        ("GET", "/api/statistics?transfer_id=x".into(), Some("wrong"), Bytes::new(), 401, "Invalid API key.", None),
        ("GET", "/api/nope".into(), Some(KEY), Bytes::new(), 404, "Not found.", None),
        ("GET", "/api/nope".into(), None, Bytes::new(), 401, "Invalid API key.", None),
        ("GET", "/api/push/transfer".into(), Some(KEY), Bytes::new(), 405, "Method not allowed.", None),
        ("POST", "/api/session/initiate".into(), Some(KEY), Bytes::from_static(b"{not json"), 400, "not valid JSON", None),
        ("POST", "/api/session/initiate".into(), Some(KEY), Bytes::from_static(b"[1]"), 400, "JSON object", None),
        ("POST", "/api/session/initiate".into(), Some(KEY), Bytes::from_static(b"{}"), 400, "schema", Some("schema")),
        ("POST", "/api/session/initiate".into(), Some(KEY), Bytes::from(json!({"schema": []}).to_string()), 400, "schema", Some("schema")),
        ("POST", "/api/session/initiate".into(), Some(KEY), Bytes::from(json!({"schema": [{"endgrate_type": "crm-deal"}]}).to_string()), 400, "crm-contact", Some("schema[0].endgrate_type")),
        ("POST", "/api/session/initiate".into(), Some(KEY), Bytes::from(json!({"schema": [{"endgrate_type": "crm-contact"}, {"endgrate_type": "crm-contact"}]}).to_string()), 400, "more than once", Some("schema[1].endgrate_type")),
        ("POST", "/api/session/initiate".into(), Some(KEY), Bytes::from(json!({"schema": [{"endgrate_type": "crm-contact"}], "sync": "yes"}).to_string()), 400, "boolean", Some("sync")),
        ("POST", "/api/session/initiate".into(), Some(KEY), Bytes::from(json!({"schema": [{"endgrate_type": "crm-contact"}], "data_webhook": {"metadata": {}}}).to_string()), 400, "required", Some("data_webhook.endpoint")),
        ("GET", format!("/api/session/configuration?session_id={unknown}"), Some(KEY), Bytes::new(), 404, "Invalid or expired session.", None),
        ("GET", "/api/session/configuration?session_id=XYZ".into(), Some(KEY), Bytes::new(), 404, "Invalid or expired session.", None),
        ("GET", format!("/api/session/configuration?session_id={session}"), Some(KEY), Bytes::new(), 409, "Session not yet configured.", None),
        ("POST", "/api/push/transfer".into(), Some(KEY), Bytes::from(json!({"session_id": session, "endgrate_type": "crm-contact"}).to_string()), 400, "required", Some("transfer_data")),
        ("POST", "/api/push/transfer".into(), Some(KEY), Bytes::from(json!({"session_id": 5, "endgrate_type": "crm-contact", "transfer_data": [{"data": {}}]}).to_string()), 400, "string", Some("session_id")),
        ("POST", "/api/push/transfer".into(), Some(KEY), Bytes::from(json!({"session_id": unknown, "endgrate_type": "crm-contact", "transfer_data": [{"data": {}}]}).to_string()), 404, "Invalid or expired session.", None),
        ("POST", "/api/push/transfer".into(), Some(KEY), Bytes::from(json!({"session_id": pull_session, "endgrate_type": "crm-contact", "transfer_data": [{"data": {}}]}).to_string()), 400, "push", None),
        ("POST", "/api/push/transfer".into(), Some(KEY), Bytes::from(json!({"session_id": session, "endgrate_type": "crm-company", "transfer_data": [{"data": {}}]}).to_string()), 400, "Unknown endgrate_type for this session.", None),
        ("POST", "/api/push/transfer".into(), Some(KEY), Bytes::from(contact(json!({"first_name": "A"})).to_string()), 400, "required", Some("transfer_data[1].data.last_name")),
        ("POST", "/api/push/transfer".into(), Some(KEY), Bytes::from(contact(json!({"last_name": 3})).to_string()), 400, "string", Some("transfer_data[1].data.last_name")),
        ("POST", "/api/push/transfer".into(), Some(KEY), Bytes::from(contact(json!({"last_name": "L", "email": null})).to_string()), 400, "null", Some("transfer_data[1].data.email")),
        ("POST", "/api/pull/transfer".into(), Some(KEY), Bytes::from(json!({"session_id": session, "endgrate_type": "crm-contact", "params": {"age": 3}}).to_string()), 400, "schema", Some("params.age")),
        ("POST", "/api/pull/transfer".into(), Some(KEY), Bytes::from(json!({"session_id": session, "endgrate_type": "crm-contact", "params": {"email__range": [1]}}).to_string()), 400, "two-element", Some("params.email__range")),
        ("GET", "/api/pull/data?transfer_id=x&limit=0".into(), Some(KEY), Bytes::new(), 400, "limit", Some("limit")),
        ("GET", "/api/pull/data?transfer_id=x&limit=1001".into(), Some(KEY), Bytes::new(), 400, "limit", Some("limit")),
        ("GET", "/api/pull/data?transfer_id=x&offset=-1".into(), Some(KEY), Bytes::new(), 400, "offset", Some("offset")),
        ("GET", "/api/pull/data?transfer_id=x&offset=1.5".into(), Some(KEY), Bytes::new(), 400, "offset", Some("offset")),
        ("GET", "/api/pull/data".into(), Some(KEY), Bytes::new(), 400, "required", Some("transfer_id")),
        ("GET", format!("/api/pull/data?transfer_id={unknown}"), Some(KEY), Bytes::new(), 404, "Transfer not found.", None),
        ("POST", "/api/test_helpers/clock/advance".into(), Some(KEY), Bytes::from_static(b"{\"seconds\": -1}"), 400, "seconds", Some("seconds")),
        ("POST", "/api/test_helpers/session/configure".into(), Some(KEY), Bytes::from(json!({"session_id": session, "provider": "hubspot", "provider_base_url": "not a url", "credentials": {"refresh_token": "r", "client_id": "c", "client_secret": "s"}}).to_string()), 400, "URL", Some("provider_base_url")),
        ("POST", "/api/test_helpers/session/configure".into(), Some(KEY), Bytes::from(json!({"session_id": session, "provider": "hubspot", "provider_base_url": BASE, "credentials": {"refresh_token": "r"}}).to_string()), 400, "credentials", Some("credentials.client_id")),
    ];
    for (method, path, key, body, status, fragment, field) in cases {
        let (got, body) = raw(&mut world, method, &path, key, body);
        assert_eq!(
            got, status,
            "{method} {path}: expected {status}, got {got}: {body}"
        );
        assert_eq!(
            body["success"],
            json!(false),
            "{method} {path}: envelope lacks success false: {body}"
        );
        let message = body["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(fragment),
            "{method} {path}: message {message:?} lacks {fragment:?}"
        );
        if let Some(field) = field {
            assert!(
                body["errors"].get(field).is_some(),
                "{method} {path}: errors {} lacks {field}",
                body["errors"]
            );
            assert!(
                message.starts_with(field),
                "{method} {path}: message {message:?} does not name {field}"
            );
        }
    }
}

#[test]
fn push_of_over_10000_items_is_413_before_the_session_is_looked_up() {
    let mut world = world_with(10, None, 0, 50, 100);
    let items: Vec<Value> = (0..10_001)
        .map(|_| json!({"data": {"last_name": "L"}}))
        .collect();
    let body = json!({"session_id": "0123456789abcdef01234567", "endgrate_type": "crm-contact", "transfer_data": items});
    let (status, body) = raw(
        &mut world,
        "POST",
        "/api/push/transfer",
        Some(KEY),
        Bytes::from(body.to_string()),
    );
    assert_eq!(status, 413, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("10,000")
    );
}

#[test]
fn body_over_16_mib_is_413_before_parsing() {
    let mut world = world_with(11, None, 0, 50, 100);
    let junk = Bytes::from(vec![b'{'; 16 * 1024 * 1024 + 1]);
    let (status, body) = raw(&mut world, "POST", "/api/session/initiate", Some(KEY), junk);
    assert_eq!(
        status, 413,
        "an oversized body of invalid JSON must be 413, not a parse error: {body}"
    );
    assert_eq!(
        body["message"],
        json!("Request body exceeds the 16 MiB limit.")
    );
}

#[test]
fn integrations_needs_no_key_and_lists_both_providers() {
    let mut world = world_with(12, None, 0, 50, 100);
    let (status, body) = raw(&mut world, "GET", "/api/integrations", None, Bytes::new());
    assert_eq!(status, 200);
    let names: Vec<&str> = body["providers"]
        .as_array()
        .expect("providers")
        .iter()
        .filter_map(|p| p["provider"]["name"].as_str())
        .collect();
    assert_eq!(names, ["hubspot", "salesforce"]);
    assert_eq!(
        body["providers"][0]["provider"]["auth_type"],
        json!("oauth")
    );
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "[a-z_\\-]{0,12}".prop_map(Value::String),
        Just(json!("0123456789abcdef01234567")),
        Just(json!("crm-contact")),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("session_id".to_owned()),
                    Just("endgrate_type".to_owned()),
                    Just("transfer_data".to_owned()),
                    Just("schema".to_owned()),
                    Just("data".to_owned()),
                    Just("params".to_owned()),
                    Just("synchronous".to_owned()),
                    Just("seconds".to_owned()),
                    Just("credentials".to_owned()),
                    "[a-z_]{1,8}",
                ],
                inner,
                0..5
            )
            .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn api_layer_never_panics_or_answers_500_on_arbitrary_input(
        route in 0..ROUTES.len(),
        method in prop_oneof![Just("GET"), Just("POST"), Just("PUT")],
        as_json in any::<bool>(),
        value in arbitrary_json(),
        bytes in prop::collection::vec(any::<u8>(), 0..64),
        query in "[a-z_=&%0-9]{0,40}",
        with_key in any::<bool>(),
    ) {
        let mut world = world_with(13, None, 5, 50, 100);
        let session = initiate(&mut world, json!({"schema": [{"endgrate_type": "crm-contact"}, {"endgrate_type": "crm-company"}]})).expect("initiate");
        configure(&mut world, &session).expect("configure");
        let (_, path) = ROUTES[route];
        let body = if as_json { Bytes::from(value.to_string()) } else { Bytes::from(bytes) };
        let uri = if query.is_empty() { path.to_owned() } else { format!("{path}?{query}") };
        let mut builder = http::Request::builder().method(method).uri(uri.as_str());
        if with_key {
            builder = builder.header("authorization", format!("Bearer {KEY}"));
        }
        let Ok(request) = builder.body(body) else { return Ok(()); };
        let handle = world.request(request);
        world.advance(400_000);
        let answer = world.answer_of(handle).expect("every call is answered within the cap");
        prop_assert!(answer.status() < 500, "{method} {uri} answered {}", answer.status());
        if answer.status() >= 400 {
            prop_assert_eq!(&answer.json()["success"], &json!(false));
            prop_assert!(answer.json()["message"].is_string());
        } else {
            prop_assert_eq!(&answer.json()["success"], &json!(true));
        }
    }
}

#[test]
fn auth_is_checked_before_path_method_size_and_body() {
    let mut world = world_with(14, None, 0, 50, 100);
    let oversized = Bytes::from(vec![b'{'; 16 * 1024 * 1024 + 1]);
    let cases: Vec<(&str, &str, Bytes)> = vec![
        ("GET", "/api/nope", Bytes::new()),
        ("DELETE", "/api/session/initiate", Bytes::new()),
        ("POST", "/api/session/initiate", oversized),
        (
            "POST",
            "/api/session/initiate",
            Bytes::from_static(b"{not json"),
        ),
        ("POST", "/api/push/transfer", Bytes::from_static(b"[1]")),
    ];
    for (method, path, body) in cases {
        for key in [None, Some("not-a-key")] {
            let (status, answer) = raw(&mut world, method, path, key, body.clone());
            assert_eq!(status, 401, "{method} {path} with {key:?}: {answer}");
            assert_eq!(
                answer,
                json!({"success": false, "message": "Invalid API key."}),
                "{method} {path}"
            );
        }
    }
}

#[test]
fn json_syntax_is_checked_before_field_types_and_required_fields() {
    let mut world = world_with(15, None, 0, 50, 100);
    // Broken JSON whose readable part has a wrong type and lacks a required field.
    for (path, body) in [
        (
            "/api/push/transfer",
            &b"{\"session_id\": 5, \"endgrate_type\": "[..],
        ),
        ("/api/session/initiate", &b"{\"schema\": 3,"[..]),
        (
            "/api/test_helpers/clock/advance",
            &b"{\"seconds\": \"x\""[..],
        ),
    ] {
        let (status, answer) = raw(&mut world, "POST", path, Some(KEY), Bytes::from(body));
        assert_eq!(status, 400, "{path}: {answer}");
        let message = answer["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with("Request body is not valid JSON"),
            "{path}: a syntax error must win over field checks: {message:?}"
        );
        assert!(answer.get("errors").is_none(), "{path}: {answer}");
    }
}

#[test]
fn item_structure_is_checked_before_the_item_count_and_the_session() {
    let mut world = world_with(16, None, 0, 50, 100);
    let unknown = "0123456789abcdef01234567";
    let mut items: Vec<Value> = (0..10_001)
        .map(|_| json!({"data": {"last_name": "L"}}))
        .collect();
    items[10_000] = json!(5);
    let cases = [
        (json!(items), "transfer_data[10000]"),
        (json!([{"data": 3}]), "transfer_data[0].data"),
        (
            json!([{"data": {}}, {"id": "", "data": {}}]),
            "transfer_data[1].id",
        ),
        (
            json!([{"internal_id": 7, "data": {}}]),
            "transfer_data[0].internal_id",
        ),
    ];
    for (transfer_data, field) in cases {
        let body = json!({"session_id": unknown, "endgrate_type": "crm-contact", "transfer_data": transfer_data});
        let (status, answer) = raw(
            &mut world,
            "POST",
            "/api/push/transfer",
            Some(KEY),
            Bytes::from(body.to_string()),
        );
        assert_eq!(status, 400, "{field}: {}", answer["message"]);
        assert!(
            answer["errors"].get(field).is_some(),
            "{field}: {}",
            answer["errors"]
        );
    }
}

#[test]
fn item_and_params_validation_win_over_the_queue_limit() {
    let mut world = world_with(17, None, 0, 50, 100);
    let session = initiate(
        &mut world,
        json!({"schema": [{"endgrate_type": "crm-contact"}], "save_session": true}),
    )
    .expect("initiate");
    let pull = json!({"session_id": session, "endgrate_type": "crm-contact"});
    for n in 0..10_000 {
        let answer = call(&mut world, "POST", "/api/pull/transfer", Some(pull.clone()));
        assert_eq!(answer.status(), 200, "trigger {n}: {}", answer.json());
    }
    let cases = [
        (
            "/api/push/transfer",
            json!({"session_id": session, "endgrate_type": "crm-contact", "transfer_data": [{"data": {"first_name": "A"}}]}),
            400,
            Some("transfer_data[0].data.last_name"),
        ),
        (
            "/api/pull/transfer",
            json!({"session_id": session, "endgrate_type": "crm-contact", "params": {"age": 3}}),
            400,
            Some("params.age"),
        ),
        ("/api/pull/transfer", pull.clone(), 429, None),
    ];
    for (path, body, status, field) in cases {
        let answer = call(&mut world, "POST", path, Some(body));
        assert_eq!(answer.status(), status, "{path}: {}", answer.json());
        if let Some(field) = field {
            assert!(
                answer.json()["errors"].get(field).is_some(),
                "{path}: {}",
                answer.json()
            );
        } else {
            assert_eq!(
                answer.json()["message"],
                json!("Too many queued transfers.")
            );
        }
    }
}
