//! The HTTP form: byte-identical to the in-process form, and able to drop a connection without
//! answering, under its own server layer and under `axum::serve`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use transfersim_mock_providers::http::{
    ClockSource, HttpOptions, SLEEP_MAX_MS, base_url, router, router_with_options, serve_both,
    serve_router,
};
use transfersim_mock_providers::{
    AccountOptions, Hubspot, InProcessProvider, Matcher, Salesforce, Verdict,
};

use crate::support::*;

/// Status, headers in order, body.
type Wire = (u16, Vec<(String, String)>, Bytes);

fn wire_of(answer: &Answer) -> Wire {
    let headers = answer
        .headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    (answer.status, headers, answer.body.clone())
}

async fn over_http(
    client: &reqwest::Client,
    method: Method,
    url: &str,
    content_type: &str,
    body: Bytes,
) -> Wire {
    let mut request = client.request(method, url).body(body);
    if !content_type.is_empty() {
        request = request.header("content-type", content_type);
    }
    let response = request.send().await.expect("an answer over HTTP");
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    (status, headers, response.bytes().await.expect("a body"))
}

struct Pair {
    client: reqwest::Client,
    address: std::net::SocketAddr,
    clock: Arc<AtomicU64>,
    hubspot: Hubspot,
    salesforce: Salesforce,
}

impl Pair {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let address = listener.local_addr().expect("an address");
        let clock = Arc::new(AtomicU64::new(EPOCH));
        let reading = clock.clone();
        tokio::spawn(serve_both(
            listener,
            Arc::new(Mutex::new(Hubspot::new("unset", SEED))),
            Arc::new(Mutex::new(Salesforce::new("unset", SEED))),
            ClockSource::from_fn(move || reading.load(Ordering::SeqCst)),
        ));
        Self {
            client: reqwest::Client::new(),
            address,
            clock,
            hubspot: Hubspot::new(base_url(address, "/hubspot"), SEED),
            salesforce: Salesforce::new(base_url(address, "/salesforce"), SEED),
        }
    }

    /// Sends the same request both ways at `now`; asserts identical bytes; answers the in-process
    /// answer. Every argument is one part of the request, so they stay flat.
    #[allow(clippy::too_many_arguments)]
    async fn both(
        &mut self,
        now: u64,
        prefix: &str,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: &str,
    ) -> Answer {
        let request = request(
            method.clone(),
            path,
            token,
            (!content_type.is_empty()).then_some(content_type),
            body.to_owned(),
        );
        let local = match prefix {
            "/hubspot" => send(&mut self.hubspot, now, request),
            _ => send(&mut self.salesforce, now, request),
        };
        self.clock.store(now, Ordering::SeqCst);
        let url = format!("http://{}{prefix}{path}", self.address);
        let mut builder = self
            .client
            .request(method.clone(), &url)
            .body(body.to_owned());
        if let Some(token) = token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        if !content_type.is_empty() {
            builder = builder.header("content-type", content_type);
        }
        let response = builder.send().await.expect("an answer over HTTP");
        let remote: Wire = (
            response.status().as_u16(),
            response
                .headers()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                .collect(),
            response.bytes().await.expect("a body"),
        );
        assert_eq!(
            remote,
            wire_of(&local),
            "{method} {prefix}{path} differs over HTTP"
        );
        local
    }
}

const JSON: &str = "application/json";
const FORM: &str = "application/x-www-form-urlencoded";

fn form_body(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).expect("encodes")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_form_answers_byte_for_byte_what_the_in_process_form_answers() {
    let mut pair = Pair::start().await;
    let hs = "/hubspot";
    // HubSpot: admin, token, pages, batch, errors.
    let created = pair
        .both(
            EPOCH,
            hs,
            Method::POST,
            "/__admin/accounts",
            None,
            JSON,
            r#"{"budget": 4}"#,
        )
        .await;
    let account = created.json()["account_id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let (client_id, secret, refresh) = (
        created.json()["client_id"]
            .as_str()
            .unwrap_or("")
            .to_owned(),
        created.json()["client_secret"]
            .as_str()
            .unwrap_or("")
            .to_owned(),
        created.json()["refresh_token"]
            .as_str()
            .unwrap_or("")
            .to_owned(),
    );
    pair.both(
        EPOCH,
        hs,
        Method::POST,
        &format!("/__admin/accounts/{account}/records/contacts"),
        None,
        JSON,
        r#"{"count": 3}"#,
    )
    .await;
    let refresh_body = form_body(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", &refresh),
        ("client_id", &client_id),
        ("client_secret", &secret),
    ]);
    let token = pair
        .both(
            EPOCH + 10,
            hs,
            Method::POST,
            HUBSPOT_TOKEN,
            None,
            FORM,
            &refresh_body,
        )
        .await;
    let token = token.json()["access_token"]
        .as_str()
        .expect("a token")
        .to_owned();
    let first = pair
        .both(
            EPOCH + 20,
            hs,
            Method::GET,
            "/crm/v3/objects/contacts?limit=2&properties=email",
            Some(&token),
            "",
            "",
        )
        .await;
    let after = first.json()["paging"]["next"]["after"]
        .as_str()
        .expect("a cursor")
        .to_owned();
    pair.both(
        EPOCH + 1_500,
        hs,
        Method::GET,
        &format!("/crm/v3/objects/contacts?limit=2&after={after}"),
        Some(&token),
        "",
        "",
    )
    .await;
    let upsert = json!({"inputs": [
        {"idProperty": "endgrate_internal_id", "id": "a", "properties": {"email": "a@example.com"}},
        {"idProperty": "endgrate_internal_id", "id": "b", "properties": {"email": "broken"}},
    ]});
    pair.both(
        EPOCH + 2_000,
        hs,
        Method::POST,
        "/crm/v3/objects/contacts/batch/upsert",
        Some(&token),
        JSON,
        &upsert.to_string(),
    )
    .await;
    pair.both(
        EPOCH + 2_001,
        hs,
        Method::GET,
        "/crm/v3/objects/contacts",
        Some(&token),
        "",
        "",
    )
    .await;
    let limited = pair
        .both(
            EPOCH + 2_002,
            hs,
            Method::GET,
            "/crm/v3/objects/contacts",
            Some(&token),
            "",
            "",
        )
        .await;
    assert_eq!(limited.status, 429);
    pair.both(
        EPOCH + 2_003,
        hs,
        Method::GET,
        "/nothing/here",
        Some(&token),
        "",
        "",
    )
    .await;
    pair.both(
        EPOCH + 2_004,
        hs,
        Method::POST,
        HUBSPOT_TOKEN,
        None,
        FORM,
        "grant_type=refresh_token&refresh_token=x",
    )
    .await;
    pair.both(
        EPOCH + 2_005,
        hs,
        Method::GET,
        &format!("/__admin/journal?account_id={account}"),
        None,
        "",
        "",
    )
    .await;

    // Salesforce: admin, token with instance_url, a query followed through nextRecordsUrl, upsert.
    let sf = "/salesforce";
    let created = pair
        .both(
            EPOCH,
            sf,
            Method::POST,
            "/__admin/accounts",
            None,
            JSON,
            r#"{"page_size": 2}"#,
        )
        .await;
    let account = created.json()["account_id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let field = |name: &str| created.json()[name].as_str().unwrap_or("").to_owned();
    pair.both(
        EPOCH,
        sf,
        Method::POST,
        &format!("/__admin/accounts/{account}/records/Contact"),
        None,
        JSON,
        r#"{"count": 3}"#,
    )
    .await;
    let refresh_body = form_body(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", &field("refresh_token")),
        ("client_id", &field("client_id")),
        ("client_secret", &field("client_secret")),
    ]);
    let session = pair
        .both(
            EPOCH + 5,
            sf,
            Method::POST,
            SALESFORCE_TOKEN,
            None,
            FORM,
            &refresh_body,
        )
        .await;
    let instance_url = session.json()["instance_url"]
        .as_str()
        .expect("an instance")
        .to_owned();
    assert_eq!(instance_url, format!("http://{}/salesforce", pair.address));
    let token = session.json()["access_token"]
        .as_str()
        .expect("a token")
        .to_owned();
    let page = pair
        .both(
            EPOCH + 6,
            sf,
            Method::GET,
            &format!("{SF}/query?q=SELECT+Id,LastName+FROM+Contact"),
            Some(&token),
            "",
            "",
        )
        .await;
    let next = page.json()["nextRecordsUrl"]
        .as_str()
        .expect("more")
        .to_owned();
    // Resolved against instance_url as a URL reference, nextRecordsUrl lands on the mock.
    let resolved = reqwest::Url::parse(&instance_url)
        .expect("a URL")
        .join(&next)
        .expect("resolves");
    assert!(resolved.as_str().starts_with(&instance_url), "{resolved}");
    pair.both(
        EPOCH + 7,
        sf,
        Method::GET,
        next.trim_start_matches("/salesforce"),
        Some(&token),
        "",
        "",
    )
    .await;
    let upsert = json!({"allOrNone": false, "records": [
        {"attributes": {"type": "Contact"}, "Endgrate_Internal_Id__c": "x", "LastName": ""},
        {"attributes": {"type": "Contact"}, "Endgrate_Internal_Id__c": "y", "LastName": "Y"},
    ]});
    pair.both(
        EPOCH + 8,
        sf,
        Method::PATCH,
        &format!("{SF}/composite/sobjects/Contact/Endgrate_Internal_Id__c"),
        Some(&token),
        JSON,
        &upsert.to_string(),
    )
    .await;
    pair.both(
        EPOCH + 9,
        sf,
        Method::GET,
        &format!("{SF}/query?q=SELECT+Id+FROM+Contact"),
        Some("bad"),
        "",
        "",
    )
    .await;
}

async fn assert_closed_without_answer(address: std::net::SocketAddr, path: &str) {
    assert_raw_request_closed_without_answer(
        address,
        &format!("GET {path} HTTP/1.1\r\nhost: mock\r\n\r\n"),
    )
    .await;
}

/// Sends one raw HTTP/1.1 request and asserts that the connection closes with not a byte of
/// answer (or is reset), within a bound.
async fn assert_raw_request_closed_without_answer(address: std::net::SocketAddr, raw: &str) {
    let mut stream = TcpStream::connect(address).await.expect("connects");
    stream.write_all(raw.as_bytes()).await.expect("writes");
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut received))
        .await
        .expect("the connection closes instead of hanging");
    match read {
        Ok(_) => assert!(
            received.is_empty(),
            "got an answer: {}",
            String::from_utf8_lossy(&received)
        ),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_and_timeout_verdicts_close_the_connection_without_an_answer() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let address = listener.local_addr().expect("an address");
    let hubspot = Arc::new(Mutex::new(Hubspot::new("unset", SEED)));
    tokio::spawn(serve_both(
        listener,
        hubspot.clone(),
        Arc::new(Mutex::new(Salesforce::new("unset", SEED))),
        ClockSource::from_fn(|| EPOCH),
    ));
    let client = reqwest::Client::new();
    let admin = |path: &str| format!("http://{address}/hubspot/__admin{path}");
    let (status, _, _) = over_http(
        &client,
        Method::POST,
        &admin("/faults"),
        JSON,
        Bytes::from(r#"{"path": "/crm/v3/objects/companies", "verdict": {"kind": "drop"}}"#),
    )
    .await;
    assert_eq!(status, 200);
    assert_closed_without_answer(address, "/hubspot/crm/v3/objects/companies").await;

    // A timeout after acting: the caller sees no answer, yet the record is written.
    let (_, _, created) = over_http(
        &client,
        Method::POST,
        &admin("/accounts"),
        JSON,
        Bytes::from("{}"),
    )
    .await;
    let created: Value = serde_json::from_slice(&created).expect("JSON");
    let account = created["account_id"].as_str().expect("an id").to_owned();
    let token_body = form_body(&[
        ("grant_type", "refresh_token"),
        (
            "refresh_token",
            created["refresh_token"].as_str().unwrap_or(""),
        ),
        ("client_id", created["client_id"].as_str().unwrap_or("")),
        (
            "client_secret",
            created["client_secret"].as_str().unwrap_or(""),
        ),
    ]);
    let (_, _, token) = over_http(
        &client,
        Method::POST,
        &format!("http://{address}/hubspot{HUBSPOT_TOKEN}"),
        FORM,
        Bytes::from(token_body),
    )
    .await;
    let token: Value = serde_json::from_slice(&token).expect("JSON");
    over_http(&client, Method::POST, &admin("/faults"), JSON, Bytes::from(r#"{"path": "/crm/v3/objects/contacts/batch/upsert", "verdict": {"kind": "timeout_after_acting"}, "times": 1}"#)).await;
    let sent = client
        .post(format!("http://{address}/hubspot/crm/v3/objects/contacts/batch/upsert"))
        .bearer_auth(token["access_token"].as_str().unwrap_or(""))
        .header("content-type", JSON)
        .body(json!({"inputs": [{"idProperty": "endgrate_internal_id", "id": "e", "properties": {}}]}).to_string())
        .send()
        .await;
    assert!(sent.is_err(), "no answer expected, got {sent:?}");
    let records = hubspot
        .lock()
        .expect("unpoisoned")
        .records(&account, "contacts")
        .expect("records");
    assert_eq!(records.len(), 1);
    // The server goes on serving.
    let (status, _, _) = over_http(&client, Method::GET, &admin("/faults"), "", Bytes::new()).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mock_router_nested_under_plain_axum_serve_still_drops_without_answering() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let address = listener.local_addr().expect("an address");
    let hubspot = Arc::new(Mutex::new(Hubspot::new(
        base_url(address, "/providers/hubspot"),
        SEED,
    )));
    let app = axum::Router::new().nest_service(
        "/providers/hubspot",
        router(hubspot.clone(), ClockSource::from_fn(|| EPOCH)),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    hubspot
        .lock()
        .expect("unpoisoned")
        .install_fault(
            transfersim_mock_providers::Matcher::any()
                .then(transfersim_mock_providers::Verdict::TimeoutBeforeActing),
        )
        .expect("room");
    assert_closed_without_answer(address, "/providers/hubspot/crm/v3/objects/contacts").await;
    // Other connections are unaffected.
    let _ = hubspot
        .lock()
        .expect("unpoisoned")
        .handle(EPOCH, get("/__admin", None));
    assert_closed_without_answer(address, "/providers/hubspot/crm/v3/objects/contacts").await;
}

/// PROVIDER-33: over HTTP, a timeout fault before acting and one after acting both close the
/// connection without a byte of answer; only the one after acting has written the record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_timeout_fault_drops_the_connection_without_an_answer() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let address = listener.local_addr().expect("an address");
    let hubspot = Arc::new(Mutex::new(Hubspot::new("unset", SEED)));
    let server = tokio::spawn(serve_both(
        listener,
        hubspot.clone(),
        Arc::new(Mutex::new(Salesforce::new("unset", SEED))),
        ClockSource::from_fn(|| EPOCH),
    ));
    let upsert = "/crm/v3/objects/contacts/batch/upsert";
    let (account, token) = {
        let mut hubspot = hubspot.lock().expect("unpoisoned");
        let (credentials, token) = hubspot_account(&mut hubspot, &AccountOptions::default());
        (credentials.account_id, token)
    };
    let records = || {
        hubspot
            .lock()
            .expect("unpoisoned")
            .records(&account, "contacts")
            .expect("records")
            .len()
    };
    let raw_upsert = |external_id: &str| {
        let body = json!({"inputs": [{"idProperty": "endgrate_internal_id", "id": external_id, "properties": {}}]})
            .to_string();
        format!(
            "POST /hubspot{upsert} HTTP/1.1\r\nhost: mock\r\nauthorization: Bearer {token}\r\n\
             content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    for (verdict, external_id, written) in [
        (Verdict::TimeoutBeforeActing, "before", 0),
        (Verdict::TimeoutAfterActing, "after", 1),
    ] {
        hubspot
            .lock()
            .expect("unpoisoned")
            .install_fault(Matcher::exact(Method::POST, upsert).then(verdict).times(1))
            .expect("room");
        assert_raw_request_closed_without_answer(address, &raw_upsert(external_id)).await;
        assert_eq!(records(), written, "after the {external_id}-acting timeout");
    }
    // The rules are used up: the same request is answered again.
    let answered = reqwest::Client::new()
        .post(format!("http://{address}/hubspot{upsert}"))
        .bearer_auth(&token)
        .header("content-type", JSON)
        .body(json!({"inputs": [{"idProperty": "endgrate_internal_id", "id": "after", "properties": {}}]}).to_string())
        .send()
        .await
        .expect("an answer");
    assert_eq!(answered.status().as_u16(), 200);
    assert_eq!(
        records(),
        1,
        "the resend updated the record written before the timeout"
    );
    server.abort();
}

/// PROVIDER-34: over HTTP a latency is slept in wall time, but only up to a short cap (1 s by
/// default); the full simulated latency is what the in-process form reports.
// Measuring the HTTP form's real sleep needs the wall clock, like the HTTP form itself (the
// crate's one wall-clock boundary, `src/http.rs`).
#[allow(clippy::disallowed_methods, clippy::disallowed_types)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_latency_faults_are_short_wall_time_delays() {
    assert_eq!(HttpOptions::default().sleep_max_ms, SLEEP_MAX_MS);
    const { assert!(SLEEP_MAX_MS <= 1_000, "the default cap is short") };
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let address = listener.local_addr().expect("an address");
    let hubspot = Arc::new(Mutex::new(Hubspot::new("unset", SEED)));
    let app = router_with_options(
        hubspot.clone(),
        ClockSource::from_fn(|| EPOCH),
        HttpOptions { sleep_max_ms: 400 },
    );
    let server = tokio::spawn(serve_router(listener, app));
    let options = AccountOptions {
        latency_ms: Some(0),
        ..AccountOptions::default()
    };
    let token = {
        let mut hubspot = hubspot.lock().expect("unpoisoned");
        let (_, token) = hubspot_account(&mut hubspot, &options);
        hubspot
            .install_fault(
                Matcher::exact(Method::GET, "/crm/v3/objects/companies")
                    .then(Verdict::Delay { ms: 200 }),
            )
            .expect("room");
        hubspot
            .install_fault(
                Matcher::exact(Method::GET, "/crm/v3/objects/contacts")
                    .then(Verdict::Delay { ms: 3_600_000 }),
            )
            .expect("room");
        token
    };
    let client = reqwest::Client::new();
    let timed = |path: &'static str| {
        let request = client
            .get(format!("http://{address}{path}"))
            .bearer_auth(&token)
            .timeout(Duration::from_secs(10));
        async move {
            let started = std::time::Instant::now();
            let response = request.send().await.expect("an answer");
            assert_eq!(response.status().as_u16(), 200, "{path}");
            started.elapsed()
        }
    };
    let short = timed("/crm/v3/objects/companies").await;
    assert!(
        short >= Duration::from_millis(200),
        "slept for real: {short:?}"
    );
    let long = timed("/crm/v3/objects/contacts").await;
    assert!(
        long >= Duration::from_millis(400),
        "slept up to the cap: {long:?}"
    );
    assert!(
        long < Duration::from_secs(5),
        "an hour's latency is cut short: {long:?}"
    );
    // In process, the hour stays an hour: the in-memory world simulates it.
    let served = hubspot
        .lock()
        .expect("unpoisoned")
        .handle(EPOCH, get("/crm/v3/objects/contacts", Some(&token)));
    assert_eq!(served.latency_ms, 3_600_000);
    server.abort();
}
