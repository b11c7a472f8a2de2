//! The mock providers' per-record work, in-process through `InProcessProvider::handle` (the
//! whole request pipeline: routing, identity, budget, auth, the dialect, usage headers, journal),
//! with no engine and no world around them.
//!
//! Workload, each on a fresh mock with an unlimited budget and a valid access token, at one
//! fixed virtual instant:
//! - `hubspot/list_page`: `GET /crm/v3/objects/contacts?limit=100&properties=firstname,lastname,
//!   email,phone` on an account seeded with 200 contacts (`seed_records`): a full page of 100
//!   with a `paging.next` link, as the standard workload's pulls read it.
//! - `hubspot/upsert_new`: `POST /crm/v3/objects/contacts/batch/upsert` with 100 inputs the
//!   account has not seen, in the body the engine's hubspot connector writes (`idProperty`, `id`,
//!   `properties` with `firstname`, `lastname`, `email` and `endgrate_internal_id`). Every
//!   10,000 batches (1,000,000 stored records) the mock is rebuilt outside the timing, so the
//!   store stays about the size the standard workload leaves in the mock.
//! - `hubspot/upsert_existing`: the same batch of 100 sent again and again (every input updates
//!   a record it created the first time).
//! - `salesforce/query_page`: `GET /services/data/v60.0/query?q=SELECT Id, FirstName, LastName,
//!   Email, Phone FROM Contact` on an org seeded with 2,000 contacts: one full page of 2,000.
//! - `salesforce/query_more_page`: `GET .../query/<locator>-2000`, the second page of 2,000 of
//!   a query over 20,000 contacts (the cursor is kept, so the same page can be read repeatedly).
//! - `salesforce/upsert_new` and `salesforce/upsert_existing`: `PATCH
//!   .../composite/sobjects/Contact/Endgrate_Internal_Id__c` with 200 records in the body the
//!   engine's salesforce connector writes (`attributes`, the external id, `FirstName`,
//!   `LastName`, `Email`), new ones (rebuilt every 5,000 batches) and the same ones again.
//!
//! External ids are the engine's shape (`{24 hex digits}-{index}`, 200 per transfer), so they
//! are longer than 24 bytes and the ids of one transfer share a long prefix.
//!
//! Criterion reports records per second (`Throughput::Elements` = records per request). Test
//! mode (`cargo test --benches`) runs each once, checking every answer's status.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http::Request;
use serde_json::{Value, json};
use transfersim_mock_providers::{
    AccountOptions, Budget, Credentials, Hubspot, InProcessProvider, Millis, Outcome,
    ProviderRequest, Salesforce,
};

/// 2026-01-01T00:00:00Z, the world's default epoch.
const EPOCH: Millis = 1_767_225_600_000;
/// A fixed instant inside the first access token's lifetime.
const NOW: Millis = EPOCH + 1_000;
const HUBSPOT_BATCH: usize = 100;
const SALESFORCE_BATCH: usize = 200;
const SF: &str = "/services/data/v60.0";

fn unlimited() -> AccountOptions {
    AccountOptions {
        budget: Some(Budget::Unlimited),
        ..AccountOptions::default()
    }
}

fn request(method: &str, uri: &str, token: &str, body: Bytes) -> ProviderRequest {
    let mut builder = Request::builder()
        .method(method)
        .uri(uri)
        .header(http::header::AUTHORIZATION, format!("Bearer {token}"));
    if !body.is_empty() {
        builder = builder.header(http::header::CONTENT_TYPE, "application/json");
    }
    builder
        .body(body)
        .unwrap_or_else(|error| panic!("a valid bench request: {error}"))
}

/// The refresh form. The mocks' credentials are letters, digits and `-`, so no escaping.
fn token_form(credentials: &Credentials) -> Bytes {
    Bytes::from(format!(
        "grant_type=refresh_token&refresh_token={}&client_id={}&client_secret={}",
        credentials.refresh_token, credentials.client_id, credentials.client_secret
    ))
}

/// Serves `request` and checks the status; answers the body.
fn expect(provider: &mut impl InProcessProvider, request: ProviderRequest, status: u16) -> Bytes {
    match provider.handle(NOW, request).outcome {
        Outcome::Answer(response) if response.status() == status => response.into_body(),
        Outcome::Answer(response) => panic!(
            "answered {}: {}",
            response.status(),
            String::from_utf8_lossy(response.body())
        ),
        other => panic!("not answered: {other:?}"),
    }
}

fn access_token(provider: &mut impl InProcessProvider, path: &str, form: Bytes) -> String {
    let request = Request::builder()
        .method("POST")
        .uri(path)
        .header(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(form)
        .unwrap_or_else(|error| panic!("a valid token request: {error}"));
    let body = expect(provider, request, 200);
    let answer: Value = serde_json::from_slice(&body)
        .unwrap_or_else(|error| panic!("the token answer is JSON: {error}"));
    answer["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("a token answer: {answer}"))
        .to_owned()
}

fn hubspot_fixture(seeded: u32) -> (Hubspot, String) {
    let mut hubspot = Hubspot::new("http://mock.bench/hubspot", 9);
    let credentials = hubspot
        .create_account(EPOCH, &unlimited())
        .unwrap_or_else(|error| panic!("a hubspot account: {error}"));
    hubspot
        .seed_records(EPOCH, &credentials.account_id, "contacts", seeded)
        .unwrap_or_else(|error| panic!("seeded contacts: {error}"));
    let token = access_token(&mut hubspot, "/oauth/v1/token", token_form(&credentials));
    (hubspot, token)
}

fn salesforce_fixture(seeded: u32) -> (Salesforce, String) {
    let mut salesforce = Salesforce::new("http://mock.bench/salesforce", 9);
    let credentials = salesforce
        .create_account(EPOCH, &unlimited())
        .unwrap_or_else(|error| panic!("a salesforce org: {error}"));
    salesforce
        .seed_records(EPOCH, &credentials.account_id, "Contact", seeded)
        .unwrap_or_else(|error| panic!("seeded contacts: {error}"));
    let token = access_token(
        &mut salesforce,
        "/services/oauth2/token",
        token_form(&credentials),
    );
    (salesforce, token)
}

/// The external id the engine gives the `n`-th pushed record: `{transfer id}-{index}`, where a
/// transfer id is 24 random-looking hex digits and a transfer carries 200 records (as in the
/// standard workload). So the ids of one transfer share a 25-character prefix and are longer
/// than 24 bytes, as the mocks' indexes see them in the standard workload.
fn external_id(n: u64) -> String {
    let transfer = n / 200;
    let mix = |x: u64| {
        let x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        let x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^ (x >> 31)
    };
    let high = mix(transfer.wrapping_add(0x9E37_79B9_7F4A_7C15));
    let low = mix(high) as u32;
    format!("{high:016x}{low:08x}-{}", n % 200)
}

/// The batch upsert body of the engine's hubspot connector for inputs `first..first + 100`,
/// written directly (the bench builds one per batch; `json!` would dominate its wall time). Test
/// mode checks it against the connector's `json!` form.
fn hubspot_upsert_body(first: u64) -> Bytes {
    let mut body = String::with_capacity(200 * HUBSPOT_BATCH);
    body.push_str("{\"inputs\":[");
    for n in first..first + HUBSPOT_BATCH as u64 {
        if n > first {
            body.push(',');
        }
        let id = external_id(n);
        let (t, i) = (n / 200, n % 200);
        body.push_str(&format!(
            "{{\"idProperty\":\"endgrate_internal_id\",\"id\":\"{id}\",\"properties\":{{\"firstname\":\"Load\",\"lastname\":\"t{t}-{i}\",\"email\":\"t{t}.{i}@load.example\",\"endgrate_internal_id\":\"{id}\"}}}}"
        ));
    }
    body.push_str("]}");
    Bytes::from(body)
}

fn hubspot_upsert_json(first: u64) -> Bytes {
    let inputs: Vec<Value> = (first..first + HUBSPOT_BATCH as u64)
        .map(|n| {
            let id = external_id(n);
            json!({
                "idProperty": "endgrate_internal_id",
                "id": id,
                "properties": {
                    "firstname": "Load",
                    "lastname": format!("t{}-{}", n / 200, n % 200),
                    "email": format!("t{}.{}@load.example", n / 200, n % 200),
                    "endgrate_internal_id": id,
                },
            })
        })
        .collect();
    Bytes::from(json!({ "inputs": inputs }).to_string())
}

/// The composite upsert body of the engine's salesforce connector for records
/// `first..first + 200`, written directly like [`hubspot_upsert_body`].
fn salesforce_upsert_body(first: u64) -> Bytes {
    let mut body = String::with_capacity(200 * SALESFORCE_BATCH);
    body.push_str("{\"allOrNone\":false,\"records\":[");
    for n in first..first + SALESFORCE_BATCH as u64 {
        if n > first {
            body.push(',');
        }
        let id = external_id(n);
        let (t, i) = (n / 200, n % 200);
        body.push_str(&format!(
            "{{\"attributes\":{{\"type\":\"Contact\"}},\"Endgrate_Internal_Id__c\":\"{id}\",\"FirstName\":\"Load\",\"LastName\":\"t{t}-{i}\",\"Email\":\"t{t}.{i}@load.example\"}}"
        ));
    }
    body.push_str("]}");
    Bytes::from(body)
}

fn salesforce_upsert_json(first: u64) -> Bytes {
    let records: Vec<Value> = (first..first + SALESFORCE_BATCH as u64)
        .map(|n| {
            json!({
                "attributes": {"type": "Contact"},
                "Endgrate_Internal_Id__c": external_id(n),
                "FirstName": "Load",
                "LastName": format!("t{}-{}", n / 200, n % 200),
                "Email": format!("t{}.{}@load.example", n / 200, n % 200),
            })
        })
        .collect();
    Bytes::from(json!({"allOrNone": false, "records": records}).to_string())
}

fn hubspot(c: &mut Criterion) {
    let mut group = c.benchmark_group("hubspot");
    if !common::measuring() {
        group.sample_size(10);
        assert_eq!(hubspot_upsert_body(300), hubspot_upsert_json(300));
    }
    group.throughput(Throughput::Elements(HUBSPOT_BATCH as u64));

    let (mut mock, token) = hubspot_fixture(200);
    let page = "/crm/v3/objects/contacts?limit=100&properties=firstname,lastname,email,phone";
    group.bench_function("list_page", |b| {
        b.iter(|| expect(&mut mock, request("GET", page, &token, Bytes::new()), 200));
    });

    const REBUILD_EVERY: u64 = 10_000;
    group.bench_function("upsert_new", |b| {
        b.iter_custom(|iterations| {
            let path = "/crm/v3/objects/contacts/batch/upsert";
            let mut total = Duration::ZERO;
            let mut done = 0;
            while done < iterations {
                let (mut mock, token) = hubspot_fixture(0);
                let batches = (iterations - done).min(REBUILD_EVERY);
                for batch in 0..batches {
                    let body = hubspot_upsert_body(batch * HUBSPOT_BATCH as u64);
                    let request = request("POST", path, &token, body);
                    let started = Instant::now();
                    expect(&mut mock, request, 200);
                    total += started.elapsed();
                }
                done += batches;
            }
            total
        });
    });

    let (mut mock, token) = hubspot_fixture(0);
    let path = "/crm/v3/objects/contacts/batch/upsert";
    let body = hubspot_upsert_body(0);
    expect(&mut mock, request("POST", path, &token, body.clone()), 200);
    group.bench_function("upsert_existing", |b| {
        b.iter(|| expect(&mut mock, request("POST", path, &token, body.clone()), 200));
    });
    group.finish();
}

fn salesforce(c: &mut Criterion) {
    let mut group = c.benchmark_group("salesforce");
    if !common::measuring() {
        group.sample_size(10);
        assert_eq!(salesforce_upsert_body(400), salesforce_upsert_json(400));
    }
    let query = format!("{SF}/query?q=SELECT+Id,+FirstName,+LastName,+Email,+Phone+FROM+Contact");

    group.throughput(Throughput::Elements(2_000));
    let (mut mock, token) = salesforce_fixture(2_000);
    group.bench_function("query_page", |b| {
        b.iter(|| expect(&mut mock, request("GET", &query, &token, Bytes::new()), 200));
    });

    let (mut mock, token) = salesforce_fixture(20_000);
    let first = expect(&mut mock, request("GET", &query, &token, Bytes::new()), 200);
    let first: Value = serde_json::from_slice(&first)
        .unwrap_or_else(|error| panic!("the first page is JSON: {error}"));
    let next = first["nextRecordsUrl"]
        .as_str()
        .and_then(|url| url.strip_prefix("/salesforce"))
        .unwrap_or_else(|| panic!("a nextRecordsUrl: {}", first["nextRecordsUrl"]))
        .to_owned();
    group.bench_function("query_more_page", |b| {
        b.iter(|| expect(&mut mock, request("GET", &next, &token, Bytes::new()), 200));
    });

    group.throughput(Throughput::Elements(SALESFORCE_BATCH as u64));
    let path = format!("{SF}/composite/sobjects/Contact/Endgrate_Internal_Id__c");
    const REBUILD_EVERY: u64 = 5_000;
    group.bench_function("upsert_new", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            let mut done = 0;
            while done < iterations {
                let (mut mock, token) = salesforce_fixture(0);
                let batches = (iterations - done).min(REBUILD_EVERY);
                for batch in 0..batches {
                    let body = salesforce_upsert_body(batch * SALESFORCE_BATCH as u64);
                    let request = request("PATCH", &path, &token, body);
                    let started = Instant::now();
                    expect(&mut mock, request, 200);
                    total += started.elapsed();
                }
                done += batches;
            }
            total
        });
    });

    let (mut mock, token) = salesforce_fixture(0);
    let body = salesforce_upsert_body(0);
    expect(
        &mut mock,
        request("PATCH", &path, &token, body.clone()),
        200,
    );
    group.bench_function("upsert_existing", |b| {
        b.iter(|| {
            expect(
                &mut mock,
                request("PATCH", &path, &token, body.clone()),
                200,
            )
        });
    });
    group.finish();
}

criterion_group!(benches, hubspot, salesforce);
criterion_main!(benches);
