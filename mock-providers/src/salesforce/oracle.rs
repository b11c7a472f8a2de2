//! The Salesforce query and composite answers as they were written before the direct JSON
//! writers and the borrowing parse: `Value` trees for bodies and answers, cursors cloned. Kept,
//! in tests only, as the oracle the fast paths are compared with (`salesforce/tests.rs`): a
//! mock with `oracle` set serves its Salesforce API routes here.
//!
//! Adapted to the stored representation only where it must be (`PropertyValue::to_value`,
//! `CompactString` ids); the logic, key order and messages are the originals'.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::{
    BATCH_MAX, EXTERNAL_ID_FIELD, PAGE_MAX, error_list, known_spelling, object_of_id, parse_soql,
    required_field,
};
use crate::account::Record;
use crate::ids;
use crate::mock::{ApiRoute, CURSORS_MAX, Incoming, Mock, QueryCursor};
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
    match api {
        ApiRoute::SalesforceQuery { version } => query(mock, account_id, version, incoming),
        ApiRoute::SalesforceQueryMore { version, locator } => {
            query_more(mock, account_id, version, locator)
        }
        ApiRoute::SalesforceUpsert {
            version: _,
            object,
            field,
        } => upsert(mock, now, account_id, object, field, incoming),
        ApiRoute::SalesforceUpdate { version: _ } => update(mock, now, account_id, incoming),
        other => unreachable!("a HubSpot route {other:?} reached the Salesforce dialect"),
    }
}

fn canonical(object: &str, field: &str) -> String {
    known_spelling(object, field).map_or_else(|| field.to_owned(), ToOwned::to_owned)
}

fn field_value(record: &Record, field: &str) -> (String, Value) {
    match field.to_ascii_lowercase().as_str() {
        "id" => ("Id".into(), record.id.to_string().into()),
        "createddate" => (
            "CreatedDate".into(),
            time::salesforce_datetime(record.created_at).into(),
        ),
        "lastmodifieddate" => (
            "LastModifiedDate".into(),
            time::salesforce_datetime(record.updated_at).into(),
        ),
        "systemmodstamp" => (
            "SystemModstamp".into(),
            time::salesforce_datetime(record.updated_at).into(),
        ),
        _ => record
            .properties
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(field))
            .map_or_else(
                || (field.to_owned(), Value::Null),
                |(k, v)| (k.to_owned(), v.to_value()),
            ),
    }
}

fn record_json(
    mock: &Mock,
    version: &str,
    object: &str,
    record: &Record,
    fields: &[String],
) -> Value {
    let mut out = Map::new();
    out.insert(
        "attributes".into(),
        json!({
            "type": object,
            "url": format!("{}/services/data/{version}/sobjects/{object}/{}", mock.base_path(), record.id),
        }),
    );
    for field in fields {
        let (name, value) = field_value(record, field);
        out.insert(name, value);
    }
    Value::Object(out)
}

fn query(
    mock: &mut Mock,
    account_id: &str,
    version: &str,
    incoming: &Incoming,
) -> ProviderResponse {
    let pairs = incoming.query_pairs();
    let Some(q) = pairs.iter().find(|(k, _)| k == "q").map(|(_, v)| v.clone()) else {
        return error_list(
            mock,
            400,
            "MALFORMED_QUERY",
            "A query string must be provided in the q parameter.",
        );
    };
    let soql = match parse_soql(&q) {
        Ok(soql) => soql,
        Err(message) => return error_list(mock, 400, "MALFORMED_QUERY", &message),
    };
    let Some(object) = mock
        .dialect
        .objects()
        .iter()
        .find(|o| o.eq_ignore_ascii_case(&soql.object))
        .copied()
    else {
        return error_list(
            mock,
            400,
            "INVALID_TYPE",
            &format!("sObject type '{}' is not supported.", soql.object),
        );
    };
    let requested_batch = incoming
        .headers
        .get("sforce-query-options")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(',')
                .filter_map(|part| part.trim().strip_prefix("batchSize="))
                .find_map(|n| n.trim().parse::<u32>().ok())
        })
        .filter(|n| (200..=PAGE_MAX).contains(n));
    let account_page = mock
        .accounts
        .get(account_id)
        .map_or(PAGE_MAX, |a| a.options.page_size);
    let page_size = requested_batch.map_or(account_page, |n| n.min(account_page));
    let Ok(store) = mock.store(account_id, object) else {
        return error_list(mock, 400, "INVALID_TYPE", "sObject type is not supported.");
    };
    let numbers: Vec<u64> = store.records.keys().copied().collect();
    let cursor_id = ids::salesforce_id("01g", mock.next_cursor);
    mock.next_cursor += 1;
    let cursor = QueryCursor {
        account_id: account_id.to_owned(),
        object: object.to_owned(),
        fields: soql.fields,
        numbers,
        page_size,
    };
    let body = page(mock, version, &cursor_id, &cursor, 0);
    if cursor.numbers.len() > page_size as usize {
        if mock.cursors.len() >= CURSORS_MAX
            && let Some(oldest) = mock.cursors.keys().next().cloned()
        {
            mock.cursors.remove(&oldest);
        }
        mock.cursors.insert(cursor_id, cursor);
    }
    mock.json(200, &body)
}

fn query_more(mock: &mut Mock, account_id: &str, version: &str, locator: &str) -> ProviderResponse {
    let invalid =
        |mock: &Mock| error_list(mock, 400, "INVALID_QUERY_LOCATOR", "invalid query locator");
    let Some((cursor_id, offset)) = locator.rsplit_once('-') else {
        return invalid(mock);
    };
    let Ok(offset) = offset.parse::<usize>() else {
        return invalid(mock);
    };
    let Some(cursor) = mock.cursors.get(cursor_id).cloned() else {
        return invalid(mock);
    };
    if cursor.account_id != account_id || offset > cursor.numbers.len() {
        return invalid(mock);
    }
    let body = page(mock, version, cursor_id, &cursor, offset);
    mock.json(200, &body)
}

fn page(mock: &Mock, version: &str, cursor_id: &str, cursor: &QueryCursor, offset: usize) -> Value {
    let end = (offset + cursor.page_size as usize).min(cursor.numbers.len());
    let store = mock.store(&cursor.account_id, &cursor.object).ok();
    let records: Vec<Value> = cursor.numbers[offset..end]
        .iter()
        .filter_map(|n| store.and_then(|s| s.records.get(n)))
        .map(|r| record_json(mock, version, &cursor.object, r, &cursor.fields))
        .collect();
    let mut body = Map::new();
    body.insert("totalSize".into(), cursor.numbers.len().into());
    body.insert("done".into(), (end >= cursor.numbers.len()).into());
    if end < cursor.numbers.len() {
        body.insert(
            "nextRecordsUrl".into(),
            format!(
                "{}/services/data/{version}/query/{cursor_id}-{end}",
                mock.base_path()
            )
            .into(),
        );
    }
    body.insert("records".into(), Value::Array(records));
    Value::Object(body)
}

// -------------------------------------------------------------------- composite writes

/// The parsed body of a composite request.
struct Composite {
    all_or_none: bool,
    records: Vec<Value>,
}

fn parse_composite(body: &[u8]) -> Result<Composite, (&'static str, String)> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        (
            "JSON_PARSER_ERROR",
            format!(
                "Unexpected character at [line:{}, column:{}]: {e}",
                e.line(),
                e.column()
            ),
        )
    })?;
    let records = value
        .get("records")
        .and_then(Value::as_array)
        .ok_or(("MISSING_ARGUMENT", "records must be an array".to_owned()))?;
    if records.len() > BATCH_MAX {
        return Err((
            "EXCEEDED_ID_LIMIT",
            format!(
                "record limit reached. cannot submit more than {BATCH_MAX} records into this call"
            ),
        ));
    }
    let all_or_none = match value.get("allOrNone") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err((
                "JSON_PARSER_ERROR",
                "allOrNone must be a boolean".to_owned(),
            ));
        }
    };
    Ok(Composite {
        all_or_none,
        records: records.clone(),
    })
}

fn record_error(code: &str, message: &str, fields: &[&str]) -> Value {
    json!({"statusCode": code, "message": message, "fields": fields})
}

/// The fields a record writes, canonicalised, without `attributes`, `Id` and the external id.
fn writable_fields(object: &str, record: &Map<String, Value>) -> BTreeMap<String, Value> {
    record
        .iter()
        .filter(|(k, _)| {
            !k.eq_ignore_ascii_case("attributes")
                && !k.eq_ignore_ascii_case("id")
                && !k.eq_ignore_ascii_case(EXTERNAL_ID_FIELD)
        })
        .map(|(k, v)| (canonical(object, k), v.clone()))
        .collect()
}

fn blank(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.trim().is_empty(),
        Some(_) => false,
    }
}

fn required_missing(object: &str) -> Value {
    let field = required_field(object);
    record_error(
        "REQUIRED_FIELD_MISSING",
        &format!("Required fields are missing: [{field}]"),
        &[field],
    )
}

/// What one record of a composite request will do.
enum Plan {
    Create {
        object: String,
        external_id: String,
        fields: BTreeMap<String, Value>,
    },
    Update {
        object: String,
        id: String,
        fields: BTreeMap<String, Value>,
    },
    Fail {
        id: Option<String>,
        error: Value,
    },
}

fn upsert(
    mock: &mut Mock,
    now: Millis,
    account_id: &str,
    object: &str,
    field: &str,
    incoming: &Incoming,
) -> ProviderResponse {
    let Some(object) = mock
        .dialect
        .objects()
        .iter()
        .find(|o| **o == object)
        .copied()
    else {
        return error_list(
            mock,
            404,
            "NOT_FOUND",
            "The requested resource does not exist",
        );
    };
    if !field.eq_ignore_ascii_case(EXTERNAL_ID_FIELD) {
        return error_list(
            mock,
            404,
            "NOT_FOUND",
            &format!("Provided external ID field does not exist or is not accessible: {field}"),
        );
    }
    let composite = match parse_composite(&incoming.body) {
        Ok(c) => c,
        Err((code, message)) => return error_list(mock, 400, code, &message),
    };
    let Ok(store) = mock.store(account_id, object) else {
        return error_list(
            mock,
            404,
            "NOT_FOUND",
            "The requested resource does not exist",
        );
    };
    let mut created_in_batch = BTreeSet::new();
    let plans: Vec<Plan> = composite
        .records
        .iter()
        .map(|record| {
            let Some(map) = record.as_object() else {
                return Plan::Fail {
                    id: None,
                    error: record_error("JSON_PARSER_ERROR", "each record must be an object", &[]),
                };
            };
            let external_id = map
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(EXTERNAL_ID_FIELD))
                .and_then(|(_, v)| match v {
                    Value::String(s) if !s.is_empty() => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                });
            let Some(external_id) = external_id else {
                return Plan::Fail {
                    id: None,
                    error: record_error(
                        "MISSING_ARGUMENT",
                        &format!("{EXTERNAL_ID_FIELD} not specified"),
                        &[EXTERNAL_ID_FIELD],
                    ),
                };
            };
            let fields = writable_fields(object, map);
            let existing = store
                .by_external_id
                .get(external_id.as_str())
                .and_then(|n| store.records.get(n));
            let required = required_field(object);
            match existing {
                Some(record) => {
                    if fields.contains_key(required) && blank(fields.get(required)) {
                        return Plan::Fail {
                            id: Some(record.id.to_string()),
                            error: required_missing(object),
                        };
                    }
                    Plan::Update {
                        object: object.to_owned(),
                        id: record.id.to_string(),
                        fields,
                    }
                }
                None => {
                    let earlier = created_in_batch.contains(&external_id);
                    // A record created earlier in this batch may be updated without the required field.
                    if (fields.contains_key(required) || !earlier) && blank(fields.get(required)) {
                        return Plan::Fail {
                            id: None,
                            error: required_missing(object),
                        };
                    }
                    created_in_batch.insert(external_id.clone());
                    Plan::Create {
                        object: object.to_owned(),
                        external_id,
                        fields,
                    }
                }
            }
        })
        .collect();
    apply(mock, now, account_id, composite.all_or_none, plans)
}

fn update(mock: &mut Mock, now: Millis, account_id: &str, incoming: &Incoming) -> ProviderResponse {
    let composite = match parse_composite(&incoming.body) {
        Ok(c) => c,
        Err((code, message)) => return error_list(mock, 400, code, &message),
    };
    let plans: Vec<Plan> = composite
        .records
        .iter()
        .map(|record| {
            let Some(map) = record.as_object() else {
                return Plan::Fail {
                    id: None,
                    error: record_error("JSON_PARSER_ERROR", "each record must be an object", &[]),
                };
            };
            let id = map
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("id"))
                .and_then(|(_, v)| v.as_str())
                .map(ToOwned::to_owned);
            let object = map
                .get("attributes")
                .and_then(|a| a.get("type"))
                .and_then(Value::as_str)
                .and_then(|t| mock.dialect.objects().iter().find(|o| **o == t).copied());
            let Some(object) = object else {
                return Plan::Fail {
                    id,
                    error: record_error("INVALID_TYPE", "Must send a concrete entity type.", &[]),
                };
            };
            let Some(id) = id else {
                return Plan::Fail {
                    id: None,
                    error: record_error(
                        "MISSING_ARGUMENT",
                        "Id not specified in an update call",
                        &[],
                    ),
                };
            };
            let exists = object_of_id(&id) == Some(object)
                && mock
                    .store(account_id, object)
                    .is_ok_and(|store| store.get(&id).is_some());
            if !exists {
                return Plan::Fail {
                    id: Some(id),
                    error: record_error(
                        "INVALID_CROSS_REFERENCE_KEY",
                        "invalid cross reference id",
                        &[],
                    ),
                };
            }
            let mut fields = writable_fields(object, map);
            // An update may set the external id too.
            if let Some((_, v)) = map
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(EXTERNAL_ID_FIELD))
            {
                fields.insert(EXTERNAL_ID_FIELD.to_owned(), v.clone());
            }
            let required = required_field(object);
            if fields.contains_key(required) && blank(fields.get(required)) {
                return Plan::Fail {
                    id: Some(id),
                    error: required_missing(object),
                };
            }
            Plan::Update {
                object: object.to_owned(),
                id,
                fields,
            }
        })
        .collect();
    apply(mock, now, account_id, composite.all_or_none, plans)
}

/// Applies the plans in order (or none of them, with `allOrNone` and a failure); one result per
/// record, in input order.
fn apply(
    mock: &mut Mock,
    now: Millis,
    account_id: &str,
    all_or_none: bool,
    plans: Vec<Plan>,
) -> ProviderResponse {
    let any_failed = plans.iter().any(|p| matches!(p, Plan::Fail { .. }));
    let mut results = Vec::with_capacity(plans.len());
    for plan in plans {
        let result = match plan {
            Plan::Fail { id, error } => {
                json!({"id": id, "success": false, "created": false, "errors": [error]})
            }
            Plan::Create { .. } | Plan::Update { .. } if all_or_none && any_failed => {
                json!({"id": null, "success": false, "created": false, "errors": [record_error(
                    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                    "Record rolled back because not all records were valid and the request was using AllOrNone header",
                    &[],
                )]})
            }
            Plan::Create {
                object,
                external_id,
                mut fields,
            } => {
                // An earlier record of this batch may have created it meanwhile.
                let existing = mock
                    .store(account_id, &object)
                    .ok()
                    .and_then(|s| {
                        s.by_external_id
                            .get(external_id.as_str())
                            .and_then(|n| s.records.get(n))
                    })
                    .map(|r| r.id.to_string());
                fields.insert(EXTERNAL_ID_FIELD.to_owned(), external_id.into());
                match existing {
                    Some(id) => match mock.merge_record(now, account_id, &object, &id, fields) {
                        Ok(_) => json!({"id": id, "success": true, "created": false, "errors": []}),
                        Err(e) => {
                            json!({"id": id, "success": false, "created": false, "errors": [record_error("UNKNOWN_EXCEPTION", &e.to_string(), &[])]})
                        }
                    },
                    None => match mock.create_record(now, account_id, &object, fields) {
                        Ok(id) => json!({"id": id, "success": true, "created": true, "errors": []}),
                        Err(e) => {
                            json!({"id": null, "success": false, "created": false, "errors": [record_error("UNKNOWN_EXCEPTION", &e.to_string(), &[])]})
                        }
                    },
                }
            }
            Plan::Update { object, id, fields } => {
                match mock.merge_record(now, account_id, &object, &id, fields) {
                    Ok(_) => json!({"id": id, "success": true, "created": false, "errors": []}),
                    Err(e) => {
                        json!({"id": id, "success": false, "created": false, "errors": [record_error("ENTITY_IS_DELETED", &e.to_string(), &[])]})
                    }
                }
            }
        };
        results.push(result);
    }
    mock.json(200, &Value::Array(results))
}
