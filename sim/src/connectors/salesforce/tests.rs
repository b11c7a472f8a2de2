//! The typed readers and direct writers of the salesforce connector against the original
//! `Value`-based code: same pages, same item results, same request bytes.

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::schema::RecordData;
use crate::wire::strategies::{any_json, fields, list, mostly, string};

fn response(body: &str) -> ProviderResponse {
    ProviderResponse::new(Bytes::from(body.to_owned()))
}

fn boolean() -> BoxedStrategy<String> {
    any::<bool>().prop_map(|flag| flag.to_string()).boxed()
}

fn field_value() -> BoxedStrategy<String> {
    prop_oneof![6 => string(), 2 => Just("null".to_owned()), 1 => any_json()].boxed()
}

fn query_page() -> BoxedStrategy<String> {
    let attributes = fields(vec![
        ("type", Just("\"Contact\"".to_owned()).boxed()),
        ("url", string().boxed()),
    ]);
    let row = fields(vec![
        ("attributes", mostly(attributes)),
        ("Id", mostly(string().boxed())),
        ("FirstName", field_value()),
        ("LastName", field_value()),
        ("Email", field_value()),
        ("Phone", field_value()),
    ]);
    fields(vec![
        ("totalSize", Just("3".to_owned()).boxed()),
        ("done", mostly(boolean())),
        ("nextRecordsUrl", mostly(string().boxed())),
        ("records", mostly(list(row, 4))),
    ])
}

fn composite_answer() -> BoxedStrategy<String> {
    let error = fields(vec![
        ("statusCode", mostly(string().boxed())),
        ("message", mostly(string().boxed())),
        ("fields", Just("[]".to_owned()).boxed()),
    ]);
    let result = fields(vec![
        ("id", mostly(string().boxed())),
        ("success", mostly(boolean())),
        ("created", mostly(boolean())),
        ("errors", mostly(list(mostly(error), 3))),
    ]);
    prop_oneof![8 => list(mostly(result), 4), 1 => any_json()].boxed()
}

fn data(last_name: &str) -> RecordData {
    let mut data = RecordData::new();
    data.insert("last_name", last_name);
    data.insert("first_name", "Zoë");
    data
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn pages_read_typed_equal_pages_read_as_values(body in query_page()) {
        if let Some(page) = fast_page(&CONTACT, body.as_bytes()) {
            prop_assert_eq!(Ok(page), value_page(&CONTACT, &response(&body)));
        }
    }

    #[test]
    fn composite_answers_read_typed_equal_answers_read_as_values(body in composite_answer()) {
        let (a, b, c) = (data("a"), data("b"), data("c"));
        let items = [
            OutgoingItem { index: 0, id: None, external_id: "a".into(), data: &a },
            OutgoingItem { index: 4, id: Some("b"), external_id: "x".into(), data: &b },
            OutgoingItem { index: 9, id: None, external_id: "0".into(), data: &c },
        ];
        let context = RequestContext {
            base_url: "http://s",
            api_base_url: "http://s",
            endgrate_type: EndgrateType::CrmContact,
            access_token: None,
        };
        let answer = response(&body);
        let read = SalesforceConnector.parse_push(&context, &items, &answer);
        let original = json_body(&answer).and_then(|value| {
            let results = value
                .as_array()
                .ok_or_else(|| Unusable("the answer is not an array".to_owned()))?;
            composite_outcomes(&items, results.iter().map(composite_row).collect())
        });
        prop_assert_eq!(read, original);
    }
}

#[test]
fn composite_bodies_are_the_bytes_of_the_original_json() {
    let (a, b) = (data("Ada"), data("Bob\t"));
    let items = [
        OutgoingItem {
            index: 0,
            id: None,
            external_id: "ext-0".into(),
            data: &a,
        },
        OutgoingItem {
            index: 1,
            id: Some("003A"),
            external_id: "ext-1".into(),
            data: &b,
        },
    ];
    let context = RequestContext {
        base_url: "http://s",
        api_base_url: "http://s/i",
        endgrate_type: EndgrateType::CrmContact,
        access_token: Some("tok"),
    };
    let requests = SalesforceConnector.push_requests(&context, &items);
    let upsert = json!({"allOrNone": false, "records": [{
        "attributes": {"type": "Contact"},
        "Endgrate_Internal_Id__c": "ext-0",
        "FirstName": "Zoë",
        "LastName": "Ada",
    }]});
    let update = json!({"allOrNone": false, "records": [{
        "attributes": {"type": "Contact"},
        "id": "003A",
        "FirstName": "Zoë",
        "LastName": "Bob\t",
    }]});
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].1.body(), upsert.to_string().as_bytes());
    assert_eq!(requests[1].1.body(), update.to_string().as_bytes());
    assert_eq!(requests[1].1.method(), "PATCH");
    assert_eq!(
        requests[0].1.uri().to_string(),
        "http://s/i/services/data/v60.0/composite/sobjects/Contact/Endgrate_Internal_Id__c"
    );
}

#[test]
fn the_strategies_reach_the_typed_readers() {
    use crate::wire::strategies::share_accepted;
    let pages = share_accepted(&query_page(), |body| {
        fast_page(&CONTACT, body.as_bytes()).is_some()
    });
    let answers = share_accepted(&composite_answer(), |body| {
        serde_json::from_slice::<Vec<CompositeResult<'_>>>(body.as_bytes()).is_ok()
    });
    assert!(pages > 0.2, "typed page reads: {pages}");
    assert!(answers > 0.2, "typed composite reads: {answers}");
}

#[test]
fn the_typed_reader_keeps_every_mapped_name() {
    use crate::connectors::{SLOTS_MAX, SlotNames};
    assert!(RowNames::NAMES.len() <= SLOTS_MAX);
    for (_, property) in CONTACT.iter().chain(ACCOUNT.iter()) {
        assert!(RowNames::NAMES.contains(property), "{property}");
    }
}
