//! The HubSpot dialect (CONTRACT.md section 6): routes, bodies and error shapes.
//!
//! | route | answer |
//! | --- | --- |
//! | `POST /oauth/v1/token` | `{access_token, refresh_token, expires_in, token_type}`; `400 BAD_REFRESH_TOKEN` |
//! | `GET /crm/v3/objects/{contacts,companies}` | `after`-cursor pages in ascending numeric id |
//! | `POST /crm/v3/objects/{type}/batch/upsert` | on `endgrate_internal_id`; 200 or 207 with errors |
//! | `POST /crm/v3/objects/{type}/batch/update` | by id; 200 or 207 with errors |
//!
//! Batch results come back in reverse input order: HubSpot does not keep input order, and a
//! target that matches results by position must fail here rather than in production.

use std::collections::{BTreeMap, BTreeSet};

use http::Method;
use serde_json::{Map, Value, json};

use crate::account::Record;
use crate::ids;
use crate::mock::{ApiRoute, Incoming, Mock, Route, TokenError};
use crate::seam::{Millis, ProviderResponse};
use crate::time;

/// The unique property a target's upserts key on.
pub const EXTERNAL_ID_PROPERTY: &str = "endgrate_internal_id";
/// The most inputs one batch may carry.
pub const BATCH_MAX: usize = 100;
/// The page size when `limit` is absent (as real HubSpot).
pub const DEFAULT_LIMIT: u32 = 10;

/// Maps a request onto a route.
pub(crate) fn route(incoming: &Incoming) -> Route {
    let segments: Vec<&str> = incoming.path.trim_start_matches('/').split('/').collect();
    let method = &incoming.method;
    match segments.as_slice() {
        ["oauth", "v1", "token"] => only(method, Method::POST, Route::Token),
        ["crm", "v3", "objects", object] => only(
            method,
            Method::GET,
            Route::Api(ApiRoute::HubspotList {
                object: (*object).to_owned(),
            }),
        ),
        ["crm", "v3", "objects", object, "batch", "upsert"] => only(
            method,
            Method::POST,
            Route::Api(ApiRoute::HubspotUpsert {
                object: (*object).to_owned(),
            }),
        ),
        ["crm", "v3", "objects", object, "batch", "update"] => only(
            method,
            Method::POST,
            Route::Api(ApiRoute::HubspotUpdate {
                object: (*object).to_owned(),
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    List,
    Upsert,
    Update,
}

fn lastmodified_property(object: &str) -> &'static str {
    if object == "companies" {
        "hs_lastmodifieddate"
    } else {
        "lastmodifieddate"
    }
}

fn default_properties(object: &str) -> &'static [&'static str] {
    if object == "companies" {
        &["domain", "name"]
    } else {
        &["email", "firstname", "lastname"]
    }
}

/// The record's properties as HubSpot shows them: the asked-for ones (null when unset) plus the
/// system properties it always includes.
fn shown_properties(record: &Record, object: &str, names: &[String]) -> Map<String, Value> {
    let mut shown = Map::new();
    for name in names {
        shown.insert(
            name.clone(),
            record.properties.get(name).cloned().unwrap_or(Value::Null),
        );
    }
    system_properties(&mut shown, record, object);
    shown
}

fn system_properties(shown: &mut Map<String, Value>, record: &Record, object: &str) {
    shown.insert("hs_object_id".into(), record.id.clone().into());
    shown.insert("createdate".into(), time::rfc3339(record.created_at).into());
    shown.insert(
        lastmodified_property(object).into(),
        time::rfc3339(record.updated_at).into(),
    );
}

fn record_json(record: &Record, properties: Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("id".into(), record.id.clone().into());
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
                            record.properties.get(k).cloned().unwrap_or(Value::Null),
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
        .get(&input.id)
        .and_then(|n| mock.store(account_id, object).ok()?.records.get(n))
        .map(|r| r.id.clone());
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

// -------------------------------------------------------------------- fixed answers

/// `{"access_token", "refresh_token", "expires_in", "token_type": "bearer"}`.
pub(crate) fn token_answer(
    mock: &Mock,
    access_token: &str,
    refresh_token: &str,
    lifetime_s: u64,
) -> ProviderResponse {
    mock.json(
        200,
        &json!({
            "access_token": access_token,
            "refresh_token": refresh_token,
            "expires_in": lifetime_s,
            "token_type": "bearer",
        }),
    )
}

pub(crate) fn token_error(mock: &Mock, error: TokenError) -> ProviderResponse {
    let (status, message) = match error {
        TokenError::GrantType => ("BAD_GRANT_TYPE", "grant_type must be refresh_token"),
        TokenError::Client => ("BAD_CLIENT_ID", "missing or unknown client id"),
        TokenError::Secret => (
            "BAD_CLIENT_SECRET",
            "client secret does not match client id",
        ),
        TokenError::RefreshToken => ("BAD_REFRESH_TOKEN", "missing or unknown refresh token"),
    };
    mock.json(400, &json!({"status": status, "message": message}))
}

/// `401 {"status": "error", "category": "EXPIRED_AUTHENTICATION", "message"}`.
pub(crate) fn unauthorized_answer(mock: &Mock) -> ProviderResponse {
    mock.json(
        401,
        &json!({
            "status": "error",
            "category": "EXPIRED_AUTHENTICATION",
            "message": "The OAuth token used to make this call expired or is not valid.",
        }),
    )
}

/// `429` with the `TEN_SECONDLY_ROLLING` body and no `Retry-After`.
pub(crate) fn rate_limit_answer(mock: &mut Mock) -> ProviderResponse {
    let correlation_id = ids::uuid(&mut mock.rng);
    mock.json(
        429,
        &json!({
            "status": "error",
            "errorType": "RATE_LIMIT",
            "policyName": "TEN_SECONDLY_ROLLING",
            "message": "You have reached your ten_secondly_rolling limit.",
            "correlationId": correlation_id,
        }),
    )
}

fn validation_error(mock: &mut Mock, message: &str) -> ProviderResponse {
    let correlation_id = ids::uuid(&mut mock.rng);
    mock.json(
        400,
        &json!({
            "status": "error",
            "category": "VALIDATION_ERROR",
            "message": message,
            "correlationId": correlation_id,
        }),
    )
}

pub(crate) fn not_found_answer(mock: &mut Mock) -> ProviderResponse {
    let correlation_id = ids::uuid(&mut mock.rng);
    mock.json(
        404,
        &json!({
            "status": "error",
            "category": "OBJECT_NOT_FOUND",
            "message": "Resource not found",
            "correlationId": correlation_id,
        }),
    )
}

pub(crate) fn method_not_allowed_answer(mock: &mut Mock, method: &Method) -> ProviderResponse {
    let correlation_id = ids::uuid(&mut mock.rng);
    mock.json(
        405,
        &json!({
            "status": "error",
            "category": "VALIDATION_ERROR",
            "message": format!("HTTP method {method} is not supported by this URL"),
            "correlationId": correlation_id,
        }),
    )
}
