//! The typed readers and direct writers of the hubspot connector against the original
//! `Value`-based code: same pages, same item results, same request bytes.

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::schema::RecordData;
use crate::wire::strategies::{any_json, fields, list, mostly, string};

fn response(body: &str) -> ProviderResponse {
    ProviderResponse::new(Bytes::from(body.to_owned()))
}

fn property_value() -> BoxedStrategy<String> {
    prop_oneof![6 => string(), 2 => Just("null".to_owned()), 1 => any_json()].boxed()
}

fn properties() -> BoxedStrategy<String> {
    fields(vec![
        ("firstname", property_value()),
        ("lastname", property_value()),
        ("email", property_value()),
        ("phone", property_value()),
        ("hs_object_id", string().boxed()),
        ("endgrate_internal_id", mostly(string().boxed())),
    ])
}

fn list_result() -> BoxedStrategy<String> {
    fields(vec![
        ("id", mostly(string().boxed())),
        ("properties", mostly(properties())),
        (
            "archived",
            any::<bool>().prop_map(|f| f.to_string()).boxed(),
        ),
    ])
}

fn list_page() -> BoxedStrategy<String> {
    let next = fields(vec![
        ("after", mostly(string().boxed())),
        ("link", string().boxed()),
    ]);
    let paging = fields(vec![("next", mostly(next))]);
    fields(vec![
        ("results", mostly(list(list_result(), 4))),
        ("paging", mostly(paging)),
    ])
}

fn batch_answer() -> BoxedStrategy<String> {
    let echoed = fields(vec![
        ("endgrate_internal_id", mostly(string().boxed())),
        ("email", string().boxed()),
    ]);
    let result = fields(vec![
        ("id", mostly(string().boxed())),
        ("properties", mostly(echoed)),
        (
            "new",
            mostly(any::<bool>().prop_map(|f| f.to_string()).boxed()),
        ),
    ]);
    let context = fields(vec![("ids", mostly(list(mostly(string().boxed()), 3)))]);
    let error = fields(vec![
        ("message", mostly(string().boxed())),
        ("context", mostly(context)),
        ("status", Just("\"error\"".to_owned()).boxed()),
    ]);
    fields(vec![
        ("results", mostly(list(result, 4))),
        ("errors", mostly(list(error, 3))),
        ("status", Just("\"COMPLETE\"".to_owned()).boxed()),
    ])
}

fn data(last_name: &str) -> RecordData {
    let mut data = RecordData::new();
    data.insert("last_name", last_name);
    data.insert("email", "é\"@x");
    data
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn pages_read_typed_equal_pages_read_as_values(body in list_page()) {
        let typed = fast_page(&CONTACT, body.as_bytes());
        let original = value_page(&CONTACT, &response(&body));
        if let Some(page) = typed {
            prop_assert_eq!(Ok(page), original);
        }
    }

    #[test]
    fn batch_answers_read_typed_equal_answers_read_as_values(body in batch_answer()) {
        // Ids and external ids from the strategies' alphabet, so results and errors match some.
        let (a, b, c) = (data("a"), data("b"), data("c"));
        let items = [
            OutgoingItem { index: 0, id: None, external_id: "a".into(), data: &a },
            OutgoingItem { index: 1, id: Some("b"), external_id: "x".into(), data: &b },
            OutgoingItem { index: 2, id: None, external_id: "0".into(), data: &c },
        ];
        let context = RequestContext {
            base_url: "http://h",
            api_base_url: "http://h",
            endgrate_type: EndgrateType::CrmContact,
            access_token: None,
        };
        let answer = response(&body);
        let read = HubspotConnector.parse_push(&context, &items, &answer);
        let original = json_body(&answer).and_then(|value| parse_push_value(&items, &value));
        prop_assert_eq!(read, original);
    }
}

#[test]
fn the_typed_reader_reads_a_mock_page() {
    let body = r#"{"results":[{"id":"1","properties":{"email":"a@b.c","firstname":"A","lastname":"B","phone":null,"hs_object_id":"1"},"archived":false}],"paging":{"next":{"after":"2","link":"http://x/y?after=2"}}}"#;
    let page = fast_page(&CONTACT, body.as_bytes()).expect("the typed reader reads it");
    assert_eq!(page.next_cursor.as_deref(), Some("2"));
    assert_eq!(
        page.records[0].data.as_json(),
        r#"{"first_name":"A","last_name":"B","email":"a@b.c"}"#
    );
    assert_eq!(Ok(page), value_page(&CONTACT, &response(body)));
}

#[test]
fn batch_bodies_are_the_bytes_of_the_original_json() {
    let (a, b) = (data("Ada"), data("Bob\n"));
    let items = [
        OutgoingItem {
            index: 0,
            id: None,
            external_id: "ext-0".into(),
            data: &a,
        },
        OutgoingItem {
            index: 1,
            id: Some("77"),
            external_id: "ext-1".into(),
            data: &b,
        },
    ];
    let context = RequestContext {
        base_url: "http://h",
        api_base_url: "http://h/api",
        endgrate_type: EndgrateType::CrmContact,
        access_token: Some("tok"),
    };
    let requests = HubspotConnector.push_requests(&context, &items);
    let upsert = json!({"inputs": [{
        "idProperty": EXTERNAL_ID_PROPERTY,
        "id": "ext-0",
        "properties": {"lastname": "Ada", "email": "é\"@x", "endgrate_internal_id": "ext-0"},
    }]});
    let update =
        json!({"inputs": [{"id": "77", "properties": {"lastname": "Bob\n", "email": "é\"@x"}}]});
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].0, vec![0]);
    assert_eq!(requests[0].1.body(), upsert.to_string().as_bytes());
    assert_eq!(requests[1].0, vec![1]);
    assert_eq!(requests[1].1.body(), update.to_string().as_bytes());
    assert_eq!(requests[0].1.headers()["content-type"], "application/json");
    assert_eq!(
        requests[0].1.uri().to_string(),
        "http://h/api/crm/v3/objects/contacts/batch/upsert"
    );
}

#[test]
fn the_strategies_reach_the_typed_readers() {
    use crate::wire::strategies::share_accepted;
    let pages = share_accepted(&list_page(), |body| {
        fast_page(&CONTACT, body.as_bytes()).is_some()
    });
    let answers = share_accepted(&batch_answer(), |body| {
        serde_json::from_slice::<BatchAnswer<'_>>(body.as_bytes())
            .is_ok_and(|a| a.results.is_some())
    });
    assert!(pages > 0.2, "typed page reads: {pages}");
    assert!(answers > 0.2, "typed batch answer reads: {answers}");
}

#[test]
fn the_typed_reader_keeps_every_mapped_name() {
    use crate::connectors::{SLOTS_MAX, SlotNames};
    assert!(MappedNames::NAMES.len() <= SLOTS_MAX);
    for (_, property) in CONTACT.iter().chain(COMPANY.iter()) {
        assert!(MappedNames::NAMES.contains(property), "{property}");
    }
}
