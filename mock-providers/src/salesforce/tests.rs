//! The SOQL parser and routes, and the fast Salesforce paths against the `Value`-based oracle
//! (`oracle.rs`).

use super::*;

#[test]
fn a_plain_select_parses_and_anything_more_is_refused() {
    assert_eq!(
        parse_soql("SELECT Id, FirstName,LastName FROM Contact"),
        Ok(Soql {
            fields: vec!["Id".into(), "FirstName".into(), "LastName".into()],
            object: "Contact".into(),
        })
    );
    assert!(parse_soql("select id from Account").is_ok());
    assert!(parse_soql("SELECT Id FROM Contact WHERE Name = 'x'").is_err());
    assert!(parse_soql("SELECT FROM Contact").is_err());
    assert!(parse_soql("DELETE Contact").is_err());
    assert!(parse_soql("").is_err());
}

#[test]
fn api_versions_are_recognised() {
    assert!(is_version("v60.0"));
    assert!(is_version("v59.0"));
    assert!(!is_version("60.0"));
    assert!(!is_version("vX"));
}

// ------------------------------------------------------------------ the fast paths

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::json;

use crate::mock::Dialect;
use crate::test_support::{EPOCH, J, NUMBERS, Pair, damaged, text, text_of};
use crate::{AccountOptions, Budget};

const KEYS: &[&str] = &[
    "attributes",
    "Endgrate_Internal_Id__c",
    "FirstName",
    "LastName",
    "Email",
    "Phone",
    "Name",
    "Website",
    "Id",
    "lastname",
    "EMAIL",
];

/// Keys in other spellings, unknown fields and the raw-value marker; drawn less often.
const ODD_KEYS: &[&str] = &[
    "Attributes",
    "endgrate_internal_id__c",
    "id",
    "ID",
    "firstname",
    "LASTNAME",
    "email",
    "Custom__c",
    "url",
    "$serde_json::private::RawValue",
    "",
];

const TEXTS: &[&str] = &[
    "Ada",
    "",
    "   ",
    "ada@example.com",
    "\u{e9}\u{1f600}\n\"\\/\u{7f}\u{2028}",
    "a very long value of more than twenty-four bytes",
];

const EXTERNAL_IDS: &[&str] = &["x1", "x2", "x3", "x4", "x5", "", "\u{e9}"];

const TYPES: &[&str] = &["Contact", "Account", "contact", "Lead"];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![8 => text(KEYS), 1 => text(ODD_KEYS)]
}

fn string(pool: &'static [&'static str]) -> impl Strategy<Value = J> {
    (text(pool), prop::bool::weighted(0.1)).prop_map(|(s, all)| J::Str(s, all))
}

/// The ids of the seeded records, and some that name none.
fn record_id() -> impl Strategy<Value = J> {
    prop_oneof![
        (1u64..12).prop_map(|n| J::Str(ids::salesforce_id("003", n), false)),
        (1u64..12).prop_map(|n| J::Str(ids::salesforce_id("001", n), false)),
        Just(J::Str("003Dp0000000001XYZ".into(), false)),
        Just(J::Num("5")),
    ]
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
            prop::collection::vec((key(), inner), 0..3).prop_map(|m| J::Obj(m, false)),
            Just(J::Raw("{\"$serde_json::private::RawValue\":\"[1,2]\"}")),
        ]
    })
}

fn attributes() -> impl Strategy<Value = J> {
    prop_oneof![
        10 => string(TYPES).prop_map(|t| J::Obj(vec![("type".into(), t)], false)),
        1 => (string(TYPES), any_value()).prop_map(|(t, other)| J::Obj(
            vec![("url".into(), other), ("type".into(), t)],
            false
        )),
        1 => (string(TYPES), string(TYPES)).prop_map(|(a, b)| J::Obj(
            vec![("type".into(), a), ("type".into(), b)],
            false
        )),
        1 => any_value(),
    ]
}

fn member_value(key: &str) -> BoxedStrategy<J> {
    match key {
        "attributes" | "Attributes" => attributes().boxed(),
        "Endgrate_Internal_Id__c" | "endgrate_internal_id__c" => prop_oneof![
            10 => string(EXTERNAL_IDS),
            1 => prop::sample::select(NUMBERS).prop_map(J::Num),
            1 => Just(J::Null),
        ]
        .boxed(),
        "Id" | "id" | "ID" => record_id().boxed(),
        _ => prop_oneof![20 => scalar(), 1 => any_value()].boxed(),
    }
}

fn record() -> impl Strategy<Value = J> {
    prop_oneof![
        30 => prop::collection::vec(key().prop_flat_map(|k| (Just(k.clone()), member_value(&k))), 0..7)
            .prop_map(|members| J::Obj(members, false)),
        1 => any_value(),
    ]
}

/// A composite body: mostly the common shape, sometimes anything at all.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let records = prop_oneof![
        20 => prop::collection::vec(record(), 0..6).prop_map(J::Arr),
        1 => prop::collection::vec(record(), 199..202).prop_map(J::Arr),
        1 => any_value(),
    ];
    let all_or_none = prop::option::weighted(
        0.8,
        prop_oneof![
            8 => any::<bool>().prop_map(J::Bool),
            1 => Just(J::Null),
            1 => scalar(),
        ],
    );
    let top = (
        records,
        all_or_none,
        prop::option::weighted(
            0.1,
            (
                prop_oneof![
                    Just("records"),
                    Just("allOrNone"),
                    Just("other"),
                    Just("$serde_json::private::RawValue")
                ],
                any_value(),
            ),
        ),
        any::<bool>(),
    )
        .prop_map(|(records, all_or_none, extra, records_first)| {
            let mut members = Vec::new();
            if let Some(all_or_none) = all_or_none {
                members.push(("allOrNone".to_owned(), all_or_none));
            }
            let at = if records_first { 0 } else { members.len() };
            members.insert(at, ("records".to_owned(), records));
            members.extend(extra.map(|(k, v)| (k.to_owned(), v)));
            J::Obj(members, false)
        });
    damaged(prop_oneof![
        20 => top.prop_map(|j| text_of(&j)),
        1 => any_value().prop_map(|j| text_of(&j)),
        1 => prop::sample::select(&["", "{", "[]", "{\"records\":[]} x"][..]).prop_map(str::to_owned),
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Whatever the fast parse accepts, the `Value` parse reads to the same records.
    #[test]
    fn the_fast_parse_accepts_only_what_the_value_parse_reads_alike(body in body()) {
        if let Some(fast) = fast::composite(&body) {
            prop_assert_eq!(Ok(fast), parse_composite_value(&body));
        }
    }
}

#[test]
fn the_fast_parse_takes_the_common_bodies_and_leaves_the_rest() {
    let upsert = json!({"allOrNone": false, "records": [
        {"attributes": {"type": "Contact"}, "Endgrate_Internal_Id__c": "x1", "FirstName": "Ada", "LastName": "Lovelace", "Email": null},
        {"attributes": {"type": "Contact", "url": "/x"}, "id": "003Dp0000000001AAA", "LastName": "caf\u{e9} \"x\"", "Phone": 5},
    ]})
    .to_string();
    let fast = fast::composite(upsert.as_bytes());
    assert!(fast.is_some(), "the engine's body takes the fast path");
    assert_eq!(fast.map(Ok), Some(parse_composite_value(upsert.as_bytes())));
    // A repeated key keeps its place and takes the last value, as in a `Value`.
    let repeated = r#"{"records":[{"LastName":"a","FirstName":"b","LastName":"c","attributes":{"type":"Account"},"attributes":{"type":"Contact","type":7}}]}"#;
    let parsed = fast::composite(repeated.as_bytes()).expect("fast");
    assert_eq!(Ok(parsed), parse_composite_value(repeated.as_bytes()));
    for body in [
        r#"{"records":[],"records":[]}"#,
        r#"{"records":[{"LastName":{"nested":1}}]}"#,
        r#"{"records":[7]}"#,
        r#"{"records":[{"$serde_json::private::RawValue":"1"}]}"#,
        r#"{"records":[{"attributes":{"$serde_json::private::RawValue":"1"}}]}"#,
        r#"{"records":[],"allOrNone":"yes"}"#,
        r#"{"allOrNone":true}"#,
        r#"[]"#,
    ] {
        assert!(fast::composite(body.as_bytes()).is_none(), "{body}");
    }
}

fn pair(contacts: u32, accounts: u32, page_size: u32, odd: &[BTreeMap<String, Value>]) -> Pair {
    let options = AccountOptions {
        budget: Some(Budget::Unlimited),
        page_size: Some(page_size),
        ..AccountOptions::default()
    };
    Pair::new(Dialect::Salesforce, &options, |mock, account_id| {
        mock.seed_records(EPOCH, account_id, "Contact", contacts)
            .expect("seeded");
        mock.seed_records(EPOCH, account_id, "Account", accounts)
            .expect("seeded");
        mock.insert_records(EPOCH + 1, account_id, "Contact", odd.to_vec())
            .expect("inserted");
    })
}

const FIELDS: &[&str] = &[
    "Id",
    "id",
    "FirstName",
    "firstname",
    "LastName",
    "Email",
    "EMAIL",
    "Phone",
    "CreatedDate",
    "LastModifiedDate",
    "systemmodstamp",
    "Name",
    "Website",
    "Custom__c",
    "attributes",
    "Nope",
];

fn soql() -> impl Strategy<Value = String> {
    let fields = prop::collection::vec(text(FIELDS), 1..6);
    let object = prop_oneof![4 => Just("Contact"), 1 => Just("account"), 1 => Just("Lead")];
    prop_oneof![
        20 => (fields, object).prop_map(|(f, o)| format!("SELECT {} FROM {o}", f.join(", "))),
        1 => Just("SELECT FROM Contact".to_owned()),
        1 => Just("SELECT Id FROM Contact WHERE Name = 'x'".to_owned()),
    ]
}

#[derive(Debug, Clone)]
enum Step {
    /// A query, with `batchSize` if given; then `more` further pages by `nextRecordsUrl`.
    Query(String, Option<&'static str>, usize),
    /// A queryMore with a locator of the last query, or a made-up one.
    Locator(&'static str),
    Upsert(&'static str, &'static str, Vec<u8>),
    Update(Vec<u8>),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => (soql(), prop::option::of(prop_oneof![Just("batchSize=200"), Just("batchSize=5")]), 0usize..3)
            .prop_map(|(q, b, more)| Step::Query(q, b, more)),
        1 => prop_oneof![Just("bad"), Just("01gDp0000000001ABC-1"), Just("01gDp0000000001ABC-99999"), Just("x-1")]
            .prop_map(Step::Locator),
        4 => (
            prop_oneof![8 => Just("Contact"), 2 => Just("Account"), 1 => Just("Lead")],
            prop_oneof![8 => Just("Endgrate_Internal_Id__c"), 1 => Just("endgrate_internal_id__c"), 1 => Just("Email")],
            body()
        )
            .prop_map(|(o, f, b)| Step::Upsert(o, f, b)),
        2 => body().prop_map(Step::Update),
    ]
}

fn odd_record() -> impl Strategy<Value = BTreeMap<String, Value>> {
    prop::collection::btree_map(
        key(),
        prop_oneof![
            text(TEXTS).prop_map(Value::String),
            Just(json!(5)),
            Just(json!(true)),
            Just(json!({"nested": [1, "x", null]})),
            Just(Value::Null),
        ],
        0..5,
    )
}

const SF: &str = "/services/data/v60.0";

fn run(pair: &mut Pair, steps: &[Step]) {
    let mut now = EPOCH + 10;
    for step in steps {
        now += 1_000;
        match step {
            Step::Query(q, batch, more) => {
                let query = serde_urlencoded::to_string([("q", q)]).expect("encodes");
                let headers: Vec<(&str, &str)> =
                    batch.iter().map(|b| ("sforce-query-options", *b)).collect();
                let mut answer =
                    pair.same(now, "GET", &format!("{SF}/query?{query}"), &headers, b"");
                for _ in 0..*more {
                    let body: Value = serde_json::from_slice(answer.body()).unwrap_or(Value::Null);
                    let Some(next) = body["nextRecordsUrl"]
                        .as_str()
                        .and_then(|url| url.strip_prefix("/salesforce"))
                    else {
                        break;
                    };
                    now += 1;
                    answer = pair.same(now, "GET", next, &[], b"");
                }
            }
            Step::Locator(locator) => {
                pair.same(now, "GET", &format!("{SF}/query/{locator}"), &[], b"");
            }
            Step::Upsert(object, field, body) => {
                let path = format!("{SF}/composite/sobjects/{object}/{field}");
                pair.same(now, "PATCH", &path, &[], body);
            }
            Step::Update(body) => {
                pair.same(now, "PATCH", &format!("{SF}/composite/sobjects"), &[], body);
            }
        }
    }
    pair.same_state();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Queries, query locators and composite writes, valid or not, answer byte for byte as the
    /// oracle does and leave the same records and journal.
    #[test]
    fn answers_records_and_journal_equal_the_oracle(
        contacts in 0u32..8,
        accounts in 0u32..3,
        page_size in prop_oneof![Just(2u32), Just(3), Just(2000)],
        odd in prop::collection::vec(odd_record(), 0..3),
        steps in prop::collection::vec(step(), 1..8),
    ) {
        let mut pair = pair(contacts, accounts, page_size, &odd);
        run(&mut pair, &steps);
    }
}

#[test]
fn the_engine_workload_answers_equal_the_oracle() {
    let mut pair = pair(4_500, 0, 2000, &[]);
    let q = Step::Query(
        "SELECT Id, FirstName, LastName, Email, Phone FROM Contact".into(),
        None,
        3,
    );
    let records: Vec<Value> = (0..200)
        .map(|n| {
            json!({"attributes": {"type": "Contact"}, "Endgrate_Internal_Id__c": format!("{n:024x}"),
                "FirstName": "Load", "LastName": format!("t1-{n}"), "Email": format!("t1.{n}@load.example")})
        })
        .collect();
    let upsert = json!({"allOrNone": false, "records": records})
        .to_string()
        .into_bytes();
    let updates = json!({"allOrNone": false, "records": [
        {"attributes": {"type": "Contact"}, "id": ids::salesforce_id("003", 1), "FirstName": "Grace", "Phone": null},
        {"attributes": {"type": "Contact"}, "id": ids::salesforce_id("003", 99_999), "FirstName": "Nobody"},
        {"attributes": {"type": "Contact"}, "id": ids::salesforce_id("003", 2), "LastName": " "},
    ]})
    .to_string()
    .into_bytes();
    // Fields that canonicalise alike: the last wins.
    let alike = br#"{"records":[{"attributes":{"type":"Contact"},"Endgrate_Internal_Id__c":"x9","LastName":"a","lastname":"b","EMAIL":"1","Email":"2","email":null}]}"#.to_vec();
    let rolled_back = json!({"allOrNone": true, "records": [
        {"attributes": {"type": "Contact"}, "Endgrate_Internal_Id__c": "new-1", "LastName": "New"},
        {"attributes": {"type": "Contact"}, "Endgrate_Internal_Id__c": "new-2"},
    ]})
    .to_string()
    .into_bytes();
    let steps = [
        q.clone(),
        Step::Upsert("Contact", "Endgrate_Internal_Id__c", upsert.clone()),
        Step::Upsert("Contact", "Endgrate_Internal_Id__c", upsert),
        Step::Update(updates),
        Step::Upsert("Contact", "Endgrate_Internal_Id__c", rolled_back),
        Step::Upsert("Contact", "Endgrate_Internal_Id__c", alike),
        q,
    ];
    run(&mut pair, &steps);
}
