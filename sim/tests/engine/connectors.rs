//! The real connectors' bytes: requests in each provider's wire format, answers parsed back,
//! checked against hand-written provider answers shaped as CONTRACT.md section 6 gives them.

use bytes::Bytes;
use serde_json::{Value, json};
use transfersim_mock_providers::ProviderResponse;
use transfersim_sim::connector::{Connector, OutgoingItem, RequestContext};
use transfersim_sim::connectors::{hubspot::HubspotConnector, salesforce::SalesforceConnector};
use transfersim_sim::schema::{EndgrateType, RecordData};

fn context<'a>(api: &'a str, token: Option<&'a str>) -> RequestContext<'a> {
    RequestContext {
        base_url: "http://mock.test/hubspot",
        api_base_url: api,
        endgrate_type: EndgrateType::CrmContact,
        access_token: token,
    }
}

fn answer(status: u16, body: Value) -> ProviderResponse {
    let mut response = ProviderResponse::new(Bytes::from(body.to_string()));
    *response.status_mut() = http::StatusCode::from_u16(status).expect("status");
    response
}

/// A push item for the connectors; its data is leaked so that the item can borrow it for the
/// rest of the test (a few bytes per test).
fn item(
    index: usize,
    id: Option<&'static str>,
    external_id: &'static str,
    last_name: &str,
) -> OutgoingItem<'static> {
    let mut data = RecordData::new();
    data.insert("last_name", last_name);
    data.insert("email", format!("{last_name}@example.com"));
    OutgoingItem {
        index,
        id,
        external_id: external_id.into(),
        data: Box::leak(Box::new(data)),
    }
}

fn body_json(request: &http::Request<Bytes>) -> Value {
    serde_json::from_slice(request.body()).expect("JSON body")
}

#[test]
fn hubspot_pull_asks_for_mapped_properties_with_the_cursor_and_bearer_token() {
    let request =
        HubspotConnector.pull_request(&context("http://h.test", Some("tok")), Some("105"));
    assert_eq!(request.method(), "GET");
    assert_eq!(
        request.uri().to_string(),
        "http://h.test/crm/v3/objects/contacts?limit=100&after=105&properties=firstname%2Clastname%2Cemail%2Cphone"
    );
    assert_eq!(request.headers()["authorization"], "Bearer tok");
}

#[test]
fn hubspot_page_maps_properties_omits_nulls_and_follows_paging() {
    let page = HubspotConnector
        .parse_pull(
            &context("http://h.test", None),
            &answer(200, json!({"results": [{"id": "7", "properties": {"firstname": "Ada", "lastname": "L", "email": null}, "archived": false}], "paging": {"next": {"after": "8", "link": "x"}}})),
        )
        .expect("usable page");
    assert_eq!(page.records[0].id, "7");
    assert_eq!(
        page.records[0].data.to_value(),
        json!({"first_name": "Ada", "last_name": "L"})
    );
    assert_eq!(page.next_cursor.as_deref(), Some("8"));
}

#[test]
fn hubspot_push_splits_upserts_and_updates_and_matches_unordered_results() {
    let items = vec![
        item(0, None, "ext-0", "A"),
        item(1, Some("55"), "ext-1", "B"),
        item(2, None, "ext-2", "C"),
    ];
    let requests = HubspotConnector.push_requests(&context("http://h.test", Some("t")), &items);
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].0, vec![0, 2]);
    assert_eq!(
        requests[0].1.uri().path(),
        "/crm/v3/objects/contacts/batch/upsert"
    );
    let upsert = body_json(&requests[0].1);
    assert_eq!(
        upsert["inputs"][0]["idProperty"],
        json!("endgrate_internal_id")
    );
    assert_eq!(upsert["inputs"][1]["id"], json!("ext-2"));
    assert_eq!(upsert["inputs"][1]["properties"]["lastname"], json!("C"));
    assert_eq!(
        requests[1].1.uri().path(),
        "/crm/v3/objects/contacts/batch/update"
    );
    assert_eq!(body_json(&requests[1].1)["inputs"][0]["id"], json!("55"));
    let carried = vec![items[0].clone(), items[2].clone()];
    let results = HubspotConnector
        .parse_push(
            &context("http://h.test", None),
            &carried,
            &answer(207, json!({"status": "COMPLETE", "results": [{"id": "901", "properties": {"endgrate_internal_id": "ext-2"}, "new": true}], "errors": [{"status": "error", "message": "Email invalid", "context": {"ids": ["ext-0"]}}]})),
        )
        .expect("usable answer");
    assert_eq!(results.len(), 2);
    assert_eq!(results[0].index, 0);
    assert_eq!(results[0].outcome, Err("Email invalid".to_owned()));
    assert_eq!(
        results[1]
            .outcome
            .as_ref()
            .map(|w| (w.id.as_str(), w.created)),
        Ok(("901", true))
    );
}

#[test]
fn hubspot_token_request_is_a_refresh_token_form_and_its_answer_gives_a_lifetime() {
    let request = HubspotConnector
        .token_request("http://h.test", "r1", "cid", "sec")
        .expect("hubspot authenticates");
    assert_eq!(request.uri().to_string(), "http://h.test/oauth/v1/token");
    assert_eq!(
        request.body(),
        &Bytes::from_static(
            b"grant_type=refresh_token&refresh_token=r1&client_id=cid&client_secret=sec"
        )
    );
    let grant = HubspotConnector
        .parse_token(&answer(200, json!({"access_token": "a", "refresh_token": "r2", "expires_in": 1800, "token_type": "bearer"})))
        .expect("grant");
    assert_eq!(
        (
            grant.access_token.as_str(),
            grant.refresh_token.as_deref(),
            grant.expires_in_ms
        ),
        ("a", Some("r2"), Some(1_800_000))
    );
}

#[test]
fn salesforce_first_page_is_a_soql_query_and_later_pages_resolve_next_records_url() {
    let first = SalesforceConnector.pull_request(&context("http://s.test/sf", Some("t")), None);
    assert_eq!(
        first.uri().to_string(),
        "http://s.test/sf/services/data/v60.0/query?q=SELECT+Id%2C+FirstName%2C+LastName%2C+Email%2C+Phone+FROM+Contact"
    );
    let next = SalesforceConnector.pull_request(
        &context("http://s.test/sf", Some("t")),
        Some("/sf/services/data/v60.0/query/01gX-2000"),
    );
    assert_eq!(
        next.uri().to_string(),
        "http://s.test/sf/services/data/v60.0/query/01gX-2000"
    );
    let page = SalesforceConnector
        .parse_pull(
            &context("http://s.test/sf", None),
            &answer(200, json!({"totalSize": 3, "done": false, "nextRecordsUrl": "/services/data/v60.0/query/01gX-2000", "records": [{"attributes": {"type": "Contact", "url": "u"}, "Id": "003A", "LastName": "L", "Phone": null}]})),
        )
        .expect("usable page");
    assert_eq!(page.records[0].data.to_value(), json!({"last_name": "L"}));
    assert_eq!(
        page.next_cursor.as_deref(),
        Some("/services/data/v60.0/query/01gX-2000")
    );
}

#[test]
fn salesforce_composite_results_are_read_in_order_with_their_status_codes() {
    let items = vec![item(4, None, "e4", ""), item(5, None, "e5", "B")];
    let requests = SalesforceConnector.push_requests(&context("http://s.test", Some("t")), &items);
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].1.method(), "PATCH");
    assert_eq!(
        requests[0].1.uri().path(),
        "/services/data/v60.0/composite/sobjects/Contact/Endgrate_Internal_Id__c"
    );
    let body = body_json(&requests[0].1);
    assert_eq!(body["allOrNone"], json!(false));
    assert_eq!(body["records"][1]["Endgrate_Internal_Id__c"], json!("e5"));
    assert_eq!(body["records"][1]["attributes"]["type"], json!("Contact"));
    let results = SalesforceConnector
        .parse_push(
            &context("http://s.test", None),
            &items,
            &answer(200, json!([{"success": false, "errors": [{"statusCode": "REQUIRED_FIELD_MISSING", "message": "Required fields are missing: [LastName]", "fields": ["LastName"]}]}, {"id": "003B", "success": true, "created": true, "errors": []}])),
        )
        .expect("usable answer");
    assert_eq!(results[0].index, 4);
    assert!(
        results[0]
            .outcome
            .as_ref()
            .is_err_and(|e| e.starts_with("REQUIRED_FIELD_MISSING"))
    );
    assert_eq!(results[1].outcome.as_ref().map(|w| w.created), Ok(true));
}

#[test]
fn salesforce_token_answer_moves_api_calls_to_its_instance_url() {
    let grant = SalesforceConnector
        .parse_token(&answer(200, json!({"access_token": "a", "instance_url": "http://s.test/sf/", "issued_at": "1", "token_type": "Bearer", "id": "x", "signature": "y"})))
        .expect("grant");
    assert_eq!(grant.instance_url.as_deref(), Some("http://s.test/sf"));
    assert_eq!(grant.expires_in_ms, None);
}

#[test]
fn push_split_gives_the_positions_push_requests_carries_for_both_providers() {
    let connectors: [Box<dyn Connector>; 2] =
        [Box::new(HubspotConnector), Box::new(SalesforceConnector)];
    let batches = [
        vec![item(0, None, "a", "A"), item(1, None, "b", "B")],
        vec![item(0, Some("7"), "x", "X"), item(1, Some("8"), "y", "Y")],
        vec![
            item(0, Some("7"), "x", "X"),
            item(1, None, "b", "B"),
            item(2, Some("9"), "z", "Z"),
            item(3, None, "c", "C"),
        ],
        Vec::new(),
    ];
    for connector in &connectors {
        for batch in &batches {
            let ctx = context("http://api.test", Some("tok"));
            let built: Vec<Vec<usize>> = connector
                .push_requests(&ctx, batch)
                .into_iter()
                .map(|(positions, _)| positions)
                .collect();
            assert_eq!(connector.push_split(&ctx, batch), built);
        }
    }
    let ctx = context("http://api.test", Some("tok"));
    assert_eq!(
        HubspotConnector.push_split(&ctx, &batches[2]),
        vec![vec![1, 3], vec![0, 2]],
        "upserts first, then updates"
    );
}
