//! The fast HubSpot paths against the `Value`-based oracle (`oracle.rs`): the borrowing parse
//! accepts only bodies the `Value` parse reads the same way, and whole answers (status, every
//! header, body bytes), the stored records and the journal are identical for arbitrary
//! sequences of lists and batches, valid or not.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::{Kind, fast, parse_inputs_value};
use crate::mock::Dialect;
use crate::test_support::{EPOCH, J, NUMBERS, Pair, damaged, text, text_of};
use crate::{AccountOptions, Budget};

const NAMES: &[&str] = &[
    "firstname",
    "lastname",
    "email",
    "phone",
    "endgrate_internal_id",
    "name",
    "domain",
];

/// Names that collide with system properties or need care; drawn less often.
const ODD_NAMES: &[&str] = &[
    "hs_object_id",
    "createdate",
    "lastmodifieddate",
    "hs_lastmodifieddate",
    "na\u{e9}me",
    "we\"ird\\",
    "$serde_json::private::RawValue",
    "",
];

fn name() -> impl Strategy<Value = String> {
    prop_oneof![6 => text(NAMES), 1 => text(ODD_NAMES)]
}

const TEXTS: &[&str] = &[
    "Ada",
    "",
    "ada@example.com",
    "t1.2@load.example",
    "no-at-sign",
    "\u{e9}\u{1f600}\n\"\\/\u{7f}\u{2028}",
    "a very long value of more than twenty-four bytes",
    "\u{0}\u{1f}",
];

const IDS: &[&str] = &[
    "e1", "e2", "e3", "e4", "e5", "e6", "e7", "e8", "e9", "e10", "e11", "e12", "1", "2", "3", "4",
    "5", "6", "7", "8", "200", "", "\u{e9}x",
];

fn string(pool: &'static [&'static str]) -> impl Strategy<Value = J> {
    (text(pool), prop::bool::weighted(0.15)).prop_map(|(s, all)| J::Str(s, all))
}

fn scalar() -> impl Strategy<Value = J> {
    prop_oneof![
        6 => string(TEXTS),
        1 => Just(J::Null),
        1 => any::<bool>().prop_map(J::Bool),
        1 => prop::sample::select(NUMBERS).prop_map(J::Num),
    ]
}

fn any_value() -> impl Strategy<Value = J> {
    scalar().prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(J::Arr),
            (
                prop::collection::vec((name(), inner), 0..3),
                prop::bool::weighted(0.1)
            )
                .prop_map(|(m, all)| J::Obj(m, all)),
            Just(J::Raw("{\"$serde_json::private::RawValue\":\"[1,2]\"}")),
        ]
    })
}

fn properties() -> impl Strategy<Value = J> {
    prop_oneof![
        30 => (
            prop::collection::vec(
                (name(), prop_oneof![20 => scalar(), 1 => any_value()]),
                0..6
            ),
            prop::bool::weighted(0.05)
        )
            .prop_map(|(m, all)| J::Obj(m, all)),
        1 => Just(J::Null),
        1 => any_value(),
    ]
}

fn input() -> impl Strategy<Value = J> {
    let id = prop_oneof![40 => string(IDS), 1 => scalar()];
    let id_property = prop_oneof![
        40 => Just(J::Str("endgrate_internal_id".into(), false)),
        1 => Just(J::Str("endgrate_internal_id".into(), true)),
        1 => Just(J::Str("email".into(), false)),
        1 => scalar(),
    ];
    (
        id,
        id_property,
        properties(),
        prop::option::weighted(
            0.15,
            prop_oneof![
                Just("id"),
                Just("idProperty"),
                Just("properties"),
                Just("objectWriteTraceId"),
                Just("$serde_json::private::RawValue"),
            ],
        ),
        any_value(),
        prop::bool::weighted(0.97),
        prop::bool::weighted(0.98),
    )
        .prop_map(
            |(id, id_property, properties, extra, extra_value, with_id_property, with_id)| {
                let mut members = Vec::new();
                if with_id_property {
                    members.push(("idProperty".to_owned(), id_property));
                }
                if with_id {
                    members.push(("id".to_owned(), id));
                }
                members.push(("properties".to_owned(), properties));
                if let Some(key) = extra {
                    members.push((key.to_owned(), extra_value));
                }
                J::Obj(members, false)
            },
        )
}

/// A batch body: mostly the common shape, sometimes anything at all.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let inputs = prop_oneof![
        20 => prop::collection::vec(input(), 0..6).prop_map(J::Arr),
        1 => prop::collection::vec(input(), 99..103).prop_map(J::Arr),
        1 => any_value(),
    ];
    let top = (
        inputs,
        prop::option::weighted(
            0.1,
            (
                prop_oneof![
                    Just("inputs"),
                    Just("other"),
                    Just("$serde_json::private::RawValue")
                ],
                any_value(),
            ),
        ),
    )
        .prop_map(|(inputs, extra)| {
            let mut members = vec![("inputs".to_owned(), inputs)];
            members.extend(extra.into_iter().map(|(k, v)| (k.to_owned(), v)));
            J::Obj(members, false)
        });
    damaged(prop_oneof![
        20 => top.prop_map(|j| text_of(&j)),
        1 => any_value().prop_map(|j| text_of(&j)),
        1 => prop::sample::select(&["", " ", "{", "[]", "{\"inputs\":[]} x", " {\"inputs\":[]} "][..]).prop_map(str::to_owned),
    ])
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![Just(Kind::Upsert), Just(Kind::Update)]
}

// ------------------------------------------------------------------ the parse

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Whatever the fast parse accepts, the `Value` parse reads to the same inputs.
    #[test]
    fn the_fast_parse_accepts_only_what_the_value_parse_reads_alike(body in body(), kind in kind()) {
        if let Some(fast) = fast::inputs(&body, kind) {
            prop_assert_eq!(Ok(fast), parse_inputs_value(&body, kind));
        }
    }
}

#[test]
fn the_fast_parse_takes_the_common_bodies() {
    let upsert = json!({"inputs": [
        {"idProperty": "endgrate_internal_id", "id": "e1", "properties": {"firstname": "Ada", "email": "ada@example.com", "endgrate_internal_id": "e1"}},
        {"id": "e2", "idProperty": "endgrate_internal_id", "properties": {"lastname": "caf\u{e9} \"x\"", "phone": 5, "email": null}, "objectWriteTraceId": "t"},
        {"id": "e3", "idProperty": "endgrate_internal_id", "properties": null},
        {"id": "e4", "idProperty": "endgrate_internal_id"},
    ]})
    .to_string();
    let fast = fast::inputs(upsert.as_bytes(), Kind::Upsert);
    assert!(
        fast.is_some(),
        "the engine's upsert body takes the fast path"
    );
    assert_eq!(
        fast.map(Ok),
        Some(parse_inputs_value(upsert.as_bytes(), Kind::Upsert))
    );
    let update = json!({"inputs": [{"id": "1", "properties": {"firstname": "Grace"}}]}).to_string();
    assert!(fast::inputs(update.as_bytes(), Kind::Update).is_some());
    // Of a repeated property name the last wins, as in a `Value`.
    let repeated = r#"{"inputs":[{"id":"a","properties":{"x":"1","y":null,"x":"2","y":3}}]}"#;
    let parsed = fast::inputs(repeated.as_bytes(), Kind::Update).expect("fast");
    assert_eq!(
        Ok(parsed),
        parse_inputs_value(repeated.as_bytes(), Kind::Update)
    );
    // Unescaped strings are borrowed from the body, not copied.
    let parsed = fast::inputs(update.as_bytes(), Kind::Update).expect("fast");
    assert!(matches!(parsed[0].id, std::borrow::Cow::Borrowed(_)));
}

#[test]
fn the_fast_parse_leaves_the_unusual_to_the_value_parse() {
    for (body, kind) in [
        // A repeated `inputs`: the last wins in a `Value`.
        (
            r#"{"inputs":[{"id":"a","properties":{}}],"inputs":[]}"#,
            Kind::Update,
        ),
        // A nested value: a per-input error.
        (
            r#"{"inputs":[{"id":"a","properties":{"x":{"y":1}}}]}"#,
            Kind::Update,
        ),
        // The raw-value marker reads differently into a `Value`.
        (
            r#"{"inputs":[{"id":"a","properties":{"$serde_json::private::RawValue":"1"}}]}"#,
            Kind::Update,
        ),
        (
            r#"{"inputs":[{"id":"a"}],"x":{"$serde_json::private::RawValue":"nope"}}"#,
            Kind::Update,
        ),
        // Errors of the whole batch.
        (r#"{"inputs":[{"id":"a"},{"id":"a"}]}"#, Kind::Update),
        (r#"{"inputs":[{"id":"a"}]}"#, Kind::Upsert),
        (
            r#"{"inputs":[{"id":"a","idProperty":"email"}]}"#,
            Kind::Upsert,
        ),
        (r#"{"inputs":[{"id":1}]}"#, Kind::Update),
        (r#"[[{"id":"a"}]]"#, Kind::Update),
        (r#"{"inputs":{}}"#, Kind::Update),
        (
            "{\"inputs\":[{\"id\":\"a\",\"x\":\"\u{ff}\"}]} x",
            Kind::Update,
        ),
    ] {
        assert!(fast::inputs(body.as_bytes(), kind).is_none(), "{body}");
    }
    let mut invalid = br#"{"inputs":[{"id":"a","x":"?"}]}"#.to_vec();
    invalid[24] = 0xff;
    assert!(fast::inputs(&invalid, Kind::Update).is_none());
}

// ------------------------------------------------------------------ whole answers

fn pair(seeded: u32, odd_records: &[BTreeMap<String, Value>]) -> Pair {
    let options = AccountOptions {
        budget: Some(Budget::Unlimited),
        ..AccountOptions::default()
    };
    Pair::new(Dialect::Hubspot, &options, |mock, account_id| {
        mock.seed_records(EPOCH, account_id, "contacts", seeded)
            .expect("seeded");
        mock.seed_records(EPOCH, account_id, "companies", 3)
            .expect("seeded");
        mock.insert_records(EPOCH + 1, account_id, "contacts", odd_records.to_vec())
            .expect("inserted");
    })
}

#[derive(Debug, Clone)]
enum Step {
    List(String),
    Batch(&'static str, Kind, Vec<u8>),
}

fn list_query() -> impl Strategy<Value = String> {
    let object = prop_oneof![4 => Just("contacts"), 1 => Just("companies"), 1 => Just("deals")];
    let limit = prop::option::of(prop_oneof![
        Just("1"),
        Just("2"),
        Just("100"),
        Just("101"),
        Just("0"),
        Just("x")
    ]);
    let after = prop::option::of(prop_oneof![
        Just("0"),
        Just("2"),
        Just("5"),
        Just("150"),
        Just("9999"),
        Just("-1")
    ]);
    let names = prop::collection::vec(prop::collection::vec(name(), 0..4), 0..3);
    (object, limit, after, names).prop_map(|(object, limit, after, names)| {
        let mut pairs: Vec<(String, String)> = Vec::new();
        if let Some(limit) = limit {
            pairs.push(("limit".into(), limit.into()));
        }
        if let Some(after) = after {
            pairs.push(("after".into(), after.into()));
        }
        for group in names {
            pairs.push(("properties".into(), group.join(",")));
        }
        let query = serde_urlencoded::to_string(&pairs).expect("encodes");
        format!("/crm/v3/objects/{object}?{query}")
    })
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        1 => list_query().prop_map(Step::List),
        3 => (prop_oneof![6 => Just("contacts"), 1 => Just("companies")], kind(), body())
            .prop_map(|(object, kind, body)| Step::Batch(object, kind, body)),
    ]
}

fn odd_record() -> impl Strategy<Value = BTreeMap<String, Value>> {
    prop::collection::btree_map(
        name(),
        prop_oneof![
            text(TEXTS).prop_map(Value::String),
            Just(json!(5)),
            Just(json!(1.5)),
            Just(json!(true)),
            Just(json!({"nested": [1, "x", null]})),
            Just(Value::Null),
        ],
        0..5,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Lists and batches, valid or not, answer byte for byte as the oracle does and leave the
    /// same records and journal.
    #[test]
    fn answers_records_and_journal_equal_the_oracle(
        seeded in 0u32..8,
        odd in prop::collection::vec(odd_record(), 0..3),
        steps in prop::collection::vec(step(), 1..8),
    ) {
        let mut pair = pair(seeded, &odd);
        for (i, step) in steps.iter().enumerate() {
            let now = EPOCH + 10 + i as u64 * 1_000;
            match step {
                Step::List(path) => {
                    pair.same(now, "GET", path, &[], b"");
                }
                Step::Batch(object, kind, body) => {
                    let verb = if *kind == Kind::Upsert { "upsert" } else { "update" };
                    pair.same(now, "POST", &format!("/crm/v3/objects/{object}/batch/{verb}"), &[], body);
                }
            }
        }
        pair.same_state();
    }
}

#[test]
fn the_standard_workload_answers_equal_the_oracle() {
    let mut pair = pair(250, &[]);
    let path = "/crm/v3/objects/contacts?limit=100&properties=firstname,lastname,email,phone";
    let first = pair.same(EPOCH + 5, "GET", path, &[], b"");
    let after: Value = serde_json::from_slice(first.body()).expect("JSON");
    let after = after["paging"]["next"]["after"].as_str().expect("a cursor");
    pair.same(EPOCH + 6, "GET", &format!("{path}&after={after}"), &[], b"");
    let inputs: Vec<Value> = (0..100)
        .map(|n| {
            let id = format!("{n:024x}");
            json!({"idProperty": "endgrate_internal_id", "id": id, "properties": {
                "firstname": "Load", "lastname": format!("t1-{n}"),
                "email": format!("t1.{n}@load.example"), "endgrate_internal_id": id,
            }})
        })
        .collect();
    let body = json!({ "inputs": inputs }).to_string();
    let upsert = "/crm/v3/objects/contacts/batch/upsert";
    // New, then the same again (existing), then an update by id.
    let created = pair.same(EPOCH + 7, "POST", upsert, &[], body.as_bytes());
    assert_eq!(created.status(), 200);
    pair.same(EPOCH + 8, "POST", upsert, &[], body.as_bytes());
    let update = json!({"inputs": [{"id": "1", "properties": {"firstname": "Grace", "phone": null}}, {"id": "99999", "properties": {}}]}).to_string();
    let partial = pair.same(
        EPOCH + 9,
        "POST",
        "/crm/v3/objects/contacts/batch/update",
        &[],
        update.as_bytes(),
    );
    assert_eq!(partial.status(), 207);
    pair.same_state();
}
