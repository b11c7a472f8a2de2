//! The Salesforce dialect (CONTRACT.md section 6): routes, bodies and error shapes.
//!
//! | route | answer |
//! | --- | --- |
//! | `POST /services/oauth2/token` | `{access_token, instance_url, issued_at, token_type, id, signature}`, no `expires_in` |
//! | `GET /services/data/vNN.N/query?q=SELECT … FROM …` | `{totalSize, done, nextRecordsUrl?, records}` |
//! | `GET /services/data/vNN.N/query/<locator>` | the next page of a query |
//! | `PATCH /services/data/vNN.N/composite/sobjects/{Contact,Account}/Endgrate_Internal_Id__c` | upsert, one result per record, in order |
//! | `PATCH /services/data/vNN.N/composite/sobjects` | update by id, same answer |
//!
//! `nextRecordsUrl` and record `url`s are paths that start with the base URL's own path (e.g.
//! `/salesforce/services/...`), so that they resolve against `instance_url` (the full base URL)
//! as a URL reference. Query cursors are snapshots of the matching ids, so records deleted
//! mid-scan are skipped and none is served twice.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use http::Method;
use rand::Rng;
use serde_json::{Map, Value, json};

use crate::account::Record;
use crate::ids;
use crate::mock::{ApiRoute, CURSORS_MAX, Incoming, Mock, QueryCursor, Route, TokenError};
use crate::seam::{Millis, ProviderResponse};
use crate::time;

/// The external-id field a target's upserts key on.
pub const EXTERNAL_ID_FIELD: &str = "Endgrate_Internal_Id__c";
/// The most records one composite request may carry.
pub const BATCH_MAX: usize = 200;
/// The largest query page.
pub const PAGE_MAX: u32 = 2000;

/// The 3-character key prefix of an object's ids.
pub(crate) fn key_prefix(object: &str) -> &'static str {
    match object {
        "Account" => "001",
        _ => "003",
    }
}

fn object_of_id(id: &str) -> Option<&'static str> {
    match id.get(..3) {
        Some("003") => Some("Contact"),
        Some("001") => Some("Account"),
        _ => None,
    }
}

/// The fields an object knows, in their canonical spelling; anything else is stored as written.
fn known_fields(object: &str) -> &'static [&'static str] {
    match object {
        "Account" => &["Name", "Website", "Industry", EXTERNAL_ID_FIELD],
        _ => &["FirstName", "LastName", "Email", "Phone", EXTERNAL_ID_FIELD],
    }
}

fn required_field(object: &str) -> &'static str {
    match object {
        "Account" => "Name",
        _ => "LastName",
    }
}

fn canonical(object: &str, field: &str) -> String {
    known_fields(object)
        .iter()
        .find(|known| known.eq_ignore_ascii_case(field))
        .map_or_else(|| field.to_owned(), |known| (*known).to_owned())
}

fn is_version(segment: &str) -> bool {
    segment
        .strip_prefix('v')
        .is_some_and(|v| v.parse::<f32>().is_ok() && v.contains('.'))
}

/// Maps a request onto a route.
pub(crate) fn route(incoming: &Incoming) -> Route {
    let segments: Vec<&str> = incoming.path.trim_start_matches('/').split('/').collect();
    let method = &incoming.method;
    match segments.as_slice() {
        ["services", "oauth2", "token"] => only(method, Method::POST, Route::Token),
        ["services", "data", version, "query"] if is_version(version) => only(
            method,
            Method::GET,
            Route::Api(ApiRoute::SalesforceQuery {
                version: (*version).to_owned(),
            }),
        ),
        ["services", "data", version, "query", locator] if is_version(version) => only(
            method,
            Method::GET,
            Route::Api(ApiRoute::SalesforceQueryMore {
                version: (*version).to_owned(),
                locator: (*locator).to_owned(),
            }),
        ),
        ["services", "data", version, "composite", "sobjects"] if is_version(version) => only(
            method,
            Method::PATCH,
            Route::Api(ApiRoute::SalesforceUpdate {
                version: (*version).to_owned(),
            }),
        ),
        [
            "services",
            "data",
            version,
            "composite",
            "sobjects",
            object,
            field,
        ] if is_version(version) => only(
            method,
            Method::PATCH,
            Route::Api(ApiRoute::SalesforceUpsert {
                version: (*version).to_owned(),
                object: (*object).to_owned(),
                field: (*field).to_owned(),
            }),
        ),
        _ => Route::NotFound,
    }
}

fn only(method: &Method, allowed: Method, route: Route) -> Route {
    if *method == allowed {
        route
    } else {
        Route::MethodNotAllowed
    }
}

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

fn error_list(mock: &Mock, status: u16, code: &str, message: &str) -> ProviderResponse {
    mock.json(status, &json!([{"message": message, "errorCode": code}]))
}

// -------------------------------------------------------------------- queries

/// `SELECT f1, f2 FROM Object`, the only SOQL the mock understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Soql {
    pub fields: Vec<String>,
    pub object: String,
}

pub(crate) fn parse_soql(q: &str) -> Result<Soql, String> {
    let words: Vec<&str> = q.split_whitespace().collect();
    let Some(first) = words.first() else {
        return Err("unexpected token: <EOF>".into());
    };
    if !first.eq_ignore_ascii_case("SELECT") {
        return Err(format!("unexpected token: {first}"));
    }
    let Some(from) = words.iter().position(|w| w.eq_ignore_ascii_case("FROM")) else {
        return Err("unexpected token: <EOF>, expecting FROM".into());
    };
    let field_text = words[1..from].join(" ");
    let fields: Vec<String> = field_text.split(',').map(|f| f.trim().to_owned()).collect();
    if fields.iter().any(|f| {
        f.is_empty()
            || !f
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
    }) {
        return Err(format!("unexpected token in field list: {field_text}"));
    }
    match &words[from + 1..] {
        [object]
            if object
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            Ok(Soql {
                fields,
                object: (*object).to_owned(),
            })
        }
        [] => Err("unexpected token: <EOF>, expecting an object".into()),
        [_, rest @ ..] => Err(format!(
            "unexpected token: {} (only SELECT <fields> FROM <object> is supported)",
            rest.first().copied().unwrap_or("")
        )),
    }
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

// -------------------------------------------------------------------- fixed answers

/// `{"access_token", "instance_url", "id", "token_type": "Bearer", "issued_at", "signature"}`,
/// plus `refresh_token` when the account rotates them. No `expires_in`.
pub(crate) fn token_answer(
    mock: &mut Mock,
    now: Millis,
    access_token: &str,
    rotated_refresh_token: Option<&str>,
    org_id: &str,
    account_number: u64,
) -> ProviderResponse {
    let mut signature = [0u8; 32];
    mock.rng.fill(&mut signature);
    let mut body = Map::new();
    body.insert("access_token".into(), access_token.into());
    if let Some(refresh) = rotated_refresh_token {
        body.insert("refresh_token".into(), refresh.into());
    }
    body.insert("instance_url".into(), mock.base_url.clone().into());
    body.insert(
        "id".into(),
        format!(
            "{}/id/{org_id}/{}",
            mock.base_url,
            ids::salesforce_id("005", account_number)
        )
        .into(),
    );
    body.insert("token_type".into(), "Bearer".into());
    body.insert("issued_at".into(), now.to_string().into());
    body.insert(
        "signature".into(),
        base64::engine::general_purpose::STANDARD
            .encode(signature)
            .into(),
    );
    mock.json(200, &Value::Object(body))
}

pub(crate) fn token_error(mock: &Mock, error: TokenError) -> ProviderResponse {
    let (code, description) = match error {
        TokenError::GrantType => ("unsupported_grant_type", "grant type not supported"),
        TokenError::Client => ("invalid_client_id", "client identifier invalid"),
        TokenError::Secret => ("invalid_client", "invalid client credentials"),
        TokenError::RefreshToken => ("invalid_grant", "expired access/refresh token"),
    };
    mock.json(
        400,
        &json!({"error": code, "error_description": description}),
    )
}

/// `401 [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]`.
pub(crate) fn unauthorized_answer(mock: &Mock) -> ProviderResponse {
    error_list(
        mock,
        401,
        "INVALID_SESSION_ID",
        "Session expired or invalid",
    )
}

/// `403 [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]`.
pub(crate) fn rate_limit_answer(mock: &mut Mock) -> ProviderResponse {
    error_list(
        mock,
        403,
        "REQUEST_LIMIT_EXCEEDED",
        "TotalRequests Limit exceeded.",
    )
}

pub(crate) fn not_found_answer(mock: &mut Mock) -> ProviderResponse {
    error_list(
        mock,
        404,
        "NOT_FOUND",
        "The requested resource does not exist",
    )
}

pub(crate) fn method_not_allowed_answer(mock: &mut Mock, method: &Method) -> ProviderResponse {
    error_list(
        mock,
        405,
        "METHOD_NOT_ALLOWED",
        &format!("HTTP Method '{method}' not allowed for this resource"),
    )
}

#[cfg(test)]
mod tests {
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
}
