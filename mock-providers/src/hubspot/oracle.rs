//! The HubSpot list and batch answers as they were written before the direct JSON writers and
//! the borrowing parse: `Value` trees for bodies and answers, records cloned. Kept, in tests
//! only, as the oracle the fast paths are compared with (`hubspot/tests.rs`): a mock with
//! `oracle` set serves its HubSpot API routes here.
//!
//! Adapted to the stored representation only where it must be (`PropertyValue::to_value`,
//! `CompactString` ids); the logic, key order and messages are the originals'.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::{
    BATCH_MAX, DEFAULT_LIMIT, EXTERNAL_ID_PROPERTY, Kind, default_properties,
    lastmodified_property, validation_error,
};
use crate::account::{PropertyValue, Record};
use crate::mock::{ApiRoute, Incoming, Mock};
use crate::seam::{Millis, ProviderResponse};
use crate::time;

/// Serves an authenticated, counted request.
pub(crate) fn handle(
    mock: &mut Mock,
    now: Millis,
    account_id: &str,
    api: &ApiRoute,
    incoming: &Incoming,
) -> ProviderResponse {
    let (object, kind) = match api {
        ApiRoute::HubspotList { object } => (object, Kind::List),
        ApiRoute::HubspotUpsert { object } => (object, Kind::Upsert),
        ApiRoute::HubspotUpdate { object } => (object, Kind::Update),
        other => unreachable!("a Salesforce route {other:?} reached the HubSpot dialect"),
    };
    if mock.check_object(object).is_err() {
        return validation_error(mock, &format!("Unable to infer object type from: {object}"));
    }
    match kind {
        Kind::List => list(mock, account_id, object, incoming),
        Kind::Upsert | Kind::Update => batch(mock, now, account_id, object, kind, incoming),
    }
}

/// The record's properties as HubSpot shows them: the asked-for ones (null when unset) plus the
/// system properties it always includes.
fn shown_properties(record: &Record, object: &str, names: &[String]) -> Map<String, Value> {
    let mut shown = Map::new();
    for name in names {
        shown.insert(
            name.clone(),
            record
                .properties
                .get(name)
                .map_or(Value::Null, PropertyValue::to_value),
        );
    }
    system_properties(&mut shown, record, object);
    shown
}

fn system_properties(shown: &mut Map<String, Value>, record: &Record, object: &str) {
    shown.insert("hs_object_id".into(), record.id.to_string().into());
    shown.insert("createdate".into(), time::rfc3339(record.created_at).into());
    shown.insert(
        lastmodified_property(object).into(),
        time::rfc3339(record.updated_at).into(),
    );
}

fn record_json(record: &Record, properties: Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("id".into(), record.id.to_string().into());
    out.insert("properties".into(), Value::Object(properties));
    out.insert("createdAt".into(), time::rfc3339(record.created_at).into());
    out.insert("updatedAt".into(), time::rfc3339(record.updated_at).into());
    out.insert("archived".into(), false.into());
    out
}

fn list(mock: &mut Mock, account_id: &str, object: &str, incoming: &Incoming) -> ProviderResponse {
    let pairs = incoming.query_pairs();
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let limit = match get("limit").map(str::parse::<u32>) {
        None => DEFAULT_LIMIT,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        Some(_) => {
            return validation_error(mock, "limit must be an integer between 1 and 100");
        }
    };
    let after = match get("after").map(str::parse::<u64>) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            return validation_error(mock, "after must be a paging cursor returned by this API");
        }
    };
    let mut names: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "properties")
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(ToOwned::to_owned)
        .collect();
    if names.is_empty() && get("properties").is_none() {
        names = default_properties(object)
            .iter()
            .map(|p| (*p).to_owned())
            .collect();
    }
    let page_size = mock
        .accounts
        .get(account_id)
        .map_or(limit, |a| a.options.page_size.min(limit));
    let Ok(store) = mock.store(account_id, object) else {
        return validation_error(mock, &format!("Unable to infer object type from: {object}"));
    };
    let page: Vec<&Record> = store
        .records
        .range(after..)
        .map(|(_, r)| r)
        .take(page_size as usize + 1)
        .collect();
    let more = page.len() > page_size as usize;
    let results: Vec<Value> = page
        .iter()
        .take(page_size as usize)
        .map(|r| Value::Object(record_json(r, shown_properties(r, object, &names))))
        .collect();
    let mut body = Map::new();
    body.insert("results".into(), Value::Array(results));
    if more {
        let next_after = page[page_size as usize - 1].number + 1;
        let mut link = format!(
            "{}{}?after={next_after}&limit={limit}",
            mock.base_url, incoming.path
        );
        if let Some(properties) = get("properties") {
            link.push_str("&properties=");
            link.push_str(
                &serde_urlencoded::to_string([("", properties)])
                    .map_or_else(|_| String::new(), |s| s.trim_start_matches('=').to_owned()),
            );
        }
        body.insert(
            "paging".into(),
            json!({"next": {"after": next_after.to_string(), "link": link}}),
        );
    }
    mock.json(200, &Value::Object(body))
}

/// One validated batch input.
struct Input {
    /// The external id (upsert) or record id (update), as the input gave it.
    id: String,
    properties: BTreeMap<String, Value>,
}

fn parse_inputs(body: &[u8], kind: Kind) -> Result<Vec<Input>, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        format!(
            "Invalid input JSON on line {}, column {}: {e}",
            e.line(),
            e.column()
        )
    })?;
    let inputs = value
        .get("inputs")
        .and_then(Value::as_array)
        .ok_or("Invalid input JSON: inputs must be an array")?;
    if inputs.len() > BATCH_MAX {
        return Err(format!("Batch input cannot exceed {BATCH_MAX} inputs"));
    }
    let mut parsed = Vec::with_capacity(inputs.len());
    let mut seen = BTreeSet::new();
    for (index, input) in inputs.iter().enumerate() {
        let id = input
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("Invalid input JSON: inputs[{index}].id must be a string"))?;
        if kind == Kind::Upsert {
            match input.get("idProperty").and_then(Value::as_str) {
                Some(EXTERNAL_ID_PROPERTY) => {}
                Some(other) => {
                    return Err(format!(
                        "Property {other:?} is not a unique identifier property; use {EXTERNAL_ID_PROPERTY:?}"
                    ));
                }
                None => {
                    return Err(format!(
                        "Invalid input JSON: inputs[{index}].idProperty must be a string"
                    ));
                }
            }
        }
        let properties = match input.get("properties") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(Value::Object(map)) => map.clone().into_iter().collect(),
            Some(_) => {
                return Err(format!(
                    "Invalid input JSON: inputs[{index}].properties must be an object"
                ));
            }
        };
        if !seen.insert(id.to_owned()) {
            return Err(format!("Duplicate IDs found in batch input: [{id}]"));
        }
        parsed.push(Input {
            id: id.to_owned(),
            properties,
        });
    }
    Ok(parsed)
}

/// Why one input failed: HubSpot's per-input error, before the `context` is added.
fn input_problem(input: &Input) -> Option<(&'static str, String)> {
    if input.id.is_empty() {
        return Some(("VALIDATION_ERROR", "id must not be empty".into()));
    }
    for (name, value) in &input.properties {
        if matches!(value, Value::Object(_) | Value::Array(_)) {
            return Some((
                "VALIDATION_ERROR",
                format!("Property values were not valid: {name} must be a string"),
            ));
        }
    }
    if let Some(email) = input.properties.get("email").and_then(Value::as_str)
        && !email.contains('@')
    {
        return Some((
            "VALIDATION_ERROR",
            format!(
                "Property values were not valid: [{{\"isValid\":false,\"message\":\"Email address {email} is invalid\",\"error\":\"INVALID_EMAIL\",\"name\":\"email\"}}]"
            ),
        ));
    }
    None
}

fn batch(
    mock: &mut Mock,
    now: Millis,
    account_id: &str,
    object: &str,
    kind: Kind,
    incoming: &Incoming,
) -> ProviderResponse {
    let inputs = match parse_inputs(&incoming.body, kind) {
        Ok(inputs) => inputs,
        Err(message) => return validation_error(mock, &message),
    };
    let mut results = Vec::with_capacity(inputs.len());
    let mut errors = Vec::new();
    for input in inputs {
        if let Some((category, message)) = input_problem(&input) {
            errors.push(json!({
                "status": "error",
                "category": category,
                "message": message,
                "context": {"ids": [input.id]},
            }));
            continue;
        }
        let written = match kind {
            Kind::Upsert => upsert_one(mock, now, account_id, object, &input),
            Kind::Update | Kind::List => update_one(mock, now, account_id, object, &input),
        };
        match written {
            Some((record, new)) => {
                let mut properties: Map<String, Value> = input
                    .properties
                    .keys()
                    .map(|k| {
                        (
                            k.clone(),
                            record.properties.get(k).map_or(Value::Null, PropertyValue::to_value),
                        )
                    })
                    .collect();
                if kind == Kind::Upsert {
                    properties.insert(EXTERNAL_ID_PROPERTY.into(), input.id.clone().into());
                }
                system_properties(&mut properties, &record, object);
                let mut result = record_json(&record, properties);
                result.insert("new".into(), new.into());
                results.push(Value::Object(result));
            }
            None => errors.push(json!({
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": format!("Could not get some {} objects, they may be deleted or not exist. Check that ids are valid.", object.to_uppercase()),
                "context": {"ids": [input.id]},
            })),
        }
    }
    // Not in input order, as HubSpot: a target must match results by id.
    results.reverse();
    let stamp = time::rfc3339(now);
    let mut body = Map::new();
    body.insert("status".into(), "COMPLETE".into());
    body.insert("results".into(), Value::Array(results));
    body.insert("startedAt".into(), stamp.clone().into());
    body.insert("completedAt".into(), stamp.into());
    if errors.is_empty() {
        mock.json(200, &Value::Object(body))
    } else {
        body.insert("numErrors".into(), errors.len().into());
        body.insert("errors".into(), Value::Array(errors));
        mock.json(207, &Value::Object(body))
    }
}

fn upsert_one(
    mock: &mut Mock,
    now: Millis,
    account_id: &str,
    object: &str,
    input: &Input,
) -> Option<(Record, bool)> {
    let existing = mock
        .store(account_id, object)
        .ok()?
        .by_external_id
        .get(input.id.as_str())
        .and_then(|n| mock.store(account_id, object).ok()?.records.get(n))
        .map(|r| r.id.to_string());
    let mut properties = input.properties.clone();
    properties.insert(EXTERNAL_ID_PROPERTY.into(), input.id.clone().into());
    match existing {
        Some(id) => mock
            .merge_record(now, account_id, object, &id, properties)
            .ok()
            .map(|r| (r, false)),
        None => {
            let id = mock
                .create_record(now, account_id, object, properties)
                .ok()?;
            mock.store(account_id, object)
                .ok()?
                .get(&id)
                .cloned()
                .map(|r| (r, true))
        }
    }
}

fn update_one(
    mock: &mut Mock,
    now: Millis,
    account_id: &str,
    object: &str,
    input: &Input,
) -> Option<(Record, bool)> {
    mock.store(account_id, object).ok()?.get(&input.id)?;
    mock.merge_record(now, account_id, object, &input.id, input.properties.clone())
        .ok()
        .map(|r| (r, false))
}
