//! The trigger's typed reader against its `Value` reader, and the data pages' direct writer
//! against the `Value` rendering they replaced.

use proptest::prelude::*;

use super::*;
use crate::engine::{ErrorType, PushOutcome, Step, TransferState};
use crate::schema::{MappedData, RecordData};
use crate::wire::strategies::{any_json, fields, mostly, string, weighted_fields};

fn boolean() -> BoxedStrategy<String> {
    any::<bool>().prop_map(|flag| flag.to_string()).boxed()
}

fn data_value() -> BoxedStrategy<String> {
    prop_oneof![
        6 => string(),
        1 => Just("null".to_owned()),
        1 => any_json(),
        // serde_json's reserved raw-value key (left to the `Value` reader).
        1 => Just(r#"{"$serde_json::private::RawValue": "\"x\""}"#.to_owned()),
    ]
    .boxed()
}

fn item() -> BoxedStrategy<String> {
    let data = fields(vec![
        ("first_name", data_value()),
        ("last_name", data_value()),
        ("email", data_value()),
        ("name", data_value()),
        ("shoe_size", any_json().boxed()),
    ]);
    weighted_fields(vec![
        (
            "id",
            0.5,
            prop_oneof![10 => string(), 1 => Just("\"\"".to_owned()), 1 => any_json()].boxed(),
        ),
        (
            "internal_id",
            0.5,
            prop_oneof![10 => string(), 1 => any_json()].boxed(),
        ),
        (
            "data",
            0.97,
            prop_oneof![20 => data, 1 => any_json()].boxed(),
        ),
        ("extra", 0.3, any_json().boxed()),
    ])
}

fn items() -> BoxedStrategy<String> {
    prop::collection::vec(prop_oneof![12 => item(), 1 => any_json()], 1..4)
        .prop_map(|items| crate::wire::strategies::array(&items))
        .boxed()
}

fn push_body() -> BoxedStrategy<String> {
    let session_id =
        prop_oneof![Just("\"0123456789abcdef01234567\"".to_owned()), string(),].boxed();
    let endgrate_type = prop_oneof![
        Just("\"crm-contact\"".to_owned()),
        Just("\"crm-company\"".to_owned()),
        string(),
    ]
    .boxed();
    let webhook = prop_oneof![
        6 => Just("null".to_owned()),
        1 => Just(r#"{"endpoint": "http://hooks.test/x"}"#.to_owned()),
        1 => any_json(),
    ]
    .boxed();
    weighted_fields(vec![
        ("session_id", 0.97, mostly(session_id)),
        ("endgrate_type", 0.97, mostly(endgrate_type)),
        ("synchronous", 0.7, mostly(boolean())),
        ("bypass_rate_limit", 0.5, mostly(boolean())),
        (
            "transfer_data",
            0.97,
            prop_oneof![12 => items(), 1 => any_json()].boxed(),
        ),
        ("data_webhook", 0.5, webhook),
        ("params", 0.3, any_json().boxed()),
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Whenever the typed reader answers, it answers what the `Value` reader does.
    #[test]
    fn the_typed_trigger_reader_agrees_with_the_value_reader(body in push_body()) {
        let body = Bytes::from(body);
        if let Some(fast) = fast_push_trigger(&body) {
            let original = trigger_request(&body, Direction::Push);
            prop_assert_eq!(format!("{fast:?}"), format!("{original:?}"));
        }
    }
}

#[test]
fn the_typed_trigger_reader_reads_the_common_body() {
    let body = Bytes::from(
        r#"{"session_id": "0123456789abcdef01234567", "endgrate_type": "crm-contact",
            "transfer_data": [{"data": {"last_name": "L", "shoe_size": 44}},
                              {"internal_id": "i-1", "data": {"last_name": "M\n", "email": "m@x"}}],
            "synchronous": true}"#,
    );
    let fast = fast_push_trigger(&body).expect("the common body is read typed");
    assert_eq!(
        format!("{fast:?}"),
        format!("{:?}", trigger_request(&body, Direction::Push))
    );
    let request = fast.expect("valid");
    let items = request.items.expect("valid items");
    assert_eq!(items.len(), 2);
    assert_eq!(items[1].data.get("last_name"), Some("M\n"));
    assert!(request.synchronous);
    // Item errors wait for the engine's own checks, and name the item.
    let bad = Bytes::from(
        r#"{"session_id": "0123456789abcdef01234567", "endgrate_type": "crm-contact",
            "transfer_data": [{"data": {"last_name": "L"}}, {"data": {"last_name": 3}}]}"#,
    );
    let request = fast_push_trigger(&bad)
        .expect("read typed")
        .expect("no field error");
    assert_eq!(
        request.items.map(|items| items.len()),
        Err(EngineError::Field(
            "transfer_data[1].data.last_name".to_owned(),
            "must be a string".to_owned()
        ))
    );
}

fn transfer() -> Transfer {
    let item = |id: Option<&str>, internal_id: Option<&str>| PushItem {
        id: id.map(Box::from),
        internal_id: internal_id.map(Box::from),
        data: RecordData::new(),
    };
    Transfer {
        id: "t".repeat(24),
        key: "k".to_owned(),
        session_id: "s".repeat(24),
        direction: Direction::Push,
        endgrate_type: EndgrateType::CrmContact,
        state: TransferState::Completed,
        triggered_at: 0,
        started_at: None,
        completed_at: None,
        bypass_rate_limit: false,
        webhooks: WebhookSet::default(),
        filters: Vec::new(),
        step: Step::Idle,
        attempts: 0,
        rate_limited_since: None,
        error_count: 1,
        token_used: None,
        refreshed_after_401: false,
        fresh_token: false,
        sent_at: 0,
        pending_error_webhooks: Vec::new(),
        items: vec![
            item(None, None),
            item(Some("9"), Some("in\"t")),
            item(None, Some("i2")),
            item(Some("7"), None),
        ],
        outcomes: vec![
            Some(PushOutcome {
                success: true,
                id: Some("1".into()),
                created: Some(true),
                error: None,
            }),
            Some(PushOutcome {
                success: false,
                id: Some("9".into()),
                created: None,
                error: Some(Box::new((
                    ErrorType::TransferData,
                    "bad\n\"email\"".to_owned(),
                ))),
            }),
            None,
            Some(PushOutcome {
                success: true,
                id: None,
                created: Some(false),
                error: None,
            }),
        ],
        batch_index: 0,
        sub_request_index: 0,
        batches_success: 1,
        batches_fail: 0,
        batch_had_failure: false,
        cursor: None,
        pulled: vec![
            PullItem {
                id: "1".to_owned(),
                data: Some(MappedData::from_map(
                    &json!({"first_name": "Ada", "email": "a\u{1}@x", "n": 1.5})
                        .as_object()
                        .cloned()
                        .unwrap_or_default(),
                )),
            },
            PullItem {
                id: "2\"".to_owned(),
                data: None,
            },
            PullItem {
                id: "3".to_owned(),
                data: Some(MappedData::writer().finish()),
            },
        ],
        pages_read: 1,
        pages_failed: 0,
        records_read: 3,
        seen: Vec::new(),
    }
}

#[test]
fn data_items_are_written_as_their_json() {
    let transfer = transfer();
    for index in 0..transfer.items.len() {
        let mut written = JsonWriter::default();
        write_push_item(&mut written, &transfer, index);
        assert_eq!(
            written.into_string(),
            push_item_json(&transfer, index).to_string(),
            "push item {index}"
        );
    }
    for item in &transfer.pulled {
        let mut written = JsonWriter::default();
        write_pull_item(&mut written, item);
        assert_eq!(written.into_string(), pull_item_json(item).to_string());
    }
}

/// The page as the API rendered it before it wrote pages directly.
fn value_page(
    transfer: &Transfer,
    path: &str,
    fixed: &[(&str, &str)],
    limit: u64,
    offset: u64,
) -> String {
    let (count, items): (usize, Vec<Value>) = match transfer.direction {
        Direction::Pull => (
            transfer.pulled.len(),
            page_of(&transfer.pulled, limit, offset)
                .iter()
                .map(pull_item_json)
                .collect(),
        ),
        Direction::Push => (
            transfer.items.len(),
            page_range(transfer.items.len(), limit, offset)
                .map(|index| push_item_json(transfer, index))
                .collect(),
        ),
    };
    json!({
        "success": true,
        "completed": transfer.state == TransferState::Completed,
        "transfer_errors": transfer.transfer_errors(),
        "meta": meta(path, fixed, count, limit, offset),
        "transfer_data": items,
    })
    .to_string()
}

#[test]
fn data_pages_are_written_as_their_json() {
    let mut transfer = transfer();
    for direction in [Direction::Push, Direction::Pull] {
        transfer.direction = direction;
        for state in [TransferState::Completed, TransferState::Running] {
            transfer.state = state;
            for (limit, offset) in [(1000, 0), (2, 0), (2, 1), (1, 3), (5, 10)] {
                let fixed = [("transfer_id", "t\"x"), ("endgrate_type", "crm-contact")];
                let written = data_page(&transfer, "/api/x/data", &fixed, limit, offset);
                assert_eq!(
                    String::from_utf8(written).expect("UTF-8"),
                    value_page(&transfer, "/api/x/data", &fixed, limit, offset),
                    "{direction:?} {state:?} limit {limit} offset {offset}"
                );
            }
        }
    }
}

#[test]
fn the_strategy_reaches_the_typed_reader() {
    let share = crate::wire::strategies::share_accepted(&push_body(), |body| {
        fast_push_trigger(&Bytes::from(body.to_owned())).is_some()
    });
    assert!(share > 0.1, "typed trigger reads: {share}");
}

#[test]
fn item_data_has_a_slot_for_every_schema_field() {
    assert_eq!(schema_field_names().count(), ITEM_DATA_SLOTS);
    for name in schema_field_names() {
        assert_eq!(
            schema_field_names().position(|field| field == name),
            field_slot(name)
        );
    }
}
