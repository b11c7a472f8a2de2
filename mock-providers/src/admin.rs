//! The admin API, WireMock style, at `/__admin/...` under each provider's base. It is pure request
//! handling like the provider routes, so it works in-process and over HTTP alike. Admin calls
//! are neither journaled nor subject to fault rules. `spec/mock-providers.md` documents it.
//!
//! Every answer is JSON: `{"success": true, ...}`, or `{"success": false, "message"}` with 400
//! for bad input and 404 for an unknown account, record or rule. Nothing a caller sends panics.

use std::collections::BTreeMap;

use http::{Method, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::account::AccountOptions;
use crate::error::MockError;
use crate::faults::FaultRuleSpec;
use crate::journal;
use crate::mock::{Incoming, Mock, json_response, stamp};
use crate::seam::{Millis, ProviderResponse};

const CONTENT_TYPE: &str = "application/json";

/// Serves one admin request.
pub(crate) fn handle(mock: &mut Mock, now: Millis, incoming: &Incoming) -> ProviderResponse {
    let mut response = match route(mock, now, incoming) {
        Ok(body) => {
            let mut body = body;
            if let Value::Object(map) = &mut body {
                map.insert("success".into(), true.into());
            }
            json_response(200, &body, CONTENT_TYPE)
        }
        Err(AdminError::Mock(error)) => json_response(
            error.status(),
            &json!({"success": false, "message": error.to_string()}),
            CONTENT_TYPE,
        ),
        Err(AdminError::NotFound) => json_response(
            404,
            &json!({"success": false, "message": format!("no admin route {} {}", incoming.method, incoming.path)}),
            CONTENT_TYPE,
        ),
        Err(AdminError::MethodNotAllowed) => json_response(
            405,
            &json!({"success": false, "message": format!("method {} not allowed on {}", incoming.method, incoming.path)}),
            CONTENT_TYPE,
        ),
    };
    debug_assert_ne!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    stamp(&mut response, now);
    response
}

#[derive(Debug)]
enum AdminError {
    Mock(MockError),
    NotFound,
    MethodNotAllowed,
}

impl From<MockError> for AdminError {
    fn from(error: MockError) -> Self {
        AdminError::Mock(error)
    }
}

fn invalid(message: impl Into<String>) -> AdminError {
    AdminError::Mock(MockError::Invalid(message.into()))
}

/// Parses a JSON body; an empty body reads as `{}`.
fn body<T: DeserializeOwned>(incoming: &Incoming) -> Result<T, AdminError> {
    let bytes: &[u8] = if incoming.body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        &incoming.body
    };
    serde_json::from_slice(bytes).map_err(|e| invalid(format!("invalid JSON body: {e}")))
}

fn query(incoming: &Incoming, name: &str) -> Option<String> {
    incoming
        .query_pairs()
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

fn to_value<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("admin views serialise to JSON")
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedBody {
    count: Option<u32>,
    records: Option<Vec<BTreeMap<String, Value>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PropertiesBody {
    properties: BTreeMap<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeBody {
    refresh_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnotherAppBody {
    requests: u32,
}

fn route(mock: &mut Mock, now: Millis, incoming: &Incoming) -> Result<Value, AdminError> {
    let rest = incoming.path.trim_start_matches("/__admin");
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let method = &incoming.method;
    match (segments.as_slice(), method) {
        ([], &Method::GET) => Ok(json!({
            "provider": mock.dialect().name(),
            "base_url": mock.base_url(),
        })),
        (["accounts"], &Method::POST) => {
            let options: AccountOptions = body(incoming)?;
            let credentials = mock.create_account(now, &options)?;
            let mut view = to_value(&credentials);
            if let Value::Object(map) = &mut view {
                map.insert("base_url".into(), mock.base_url().into());
            }
            Ok(view)
        }
        (["accounts"], &Method::GET) => {
            let accounts: Vec<Value> = mock
                .account_ids()
                .iter()
                .map(|id| account_view(mock, now, id))
                .collect::<Result<_, _>>()?;
            Ok(json!({"accounts": accounts}))
        }
        (["accounts", id], &Method::GET) => account_view(mock, now, id),
        (["accounts", id], &Method::PATCH) => {
            let options: AccountOptions = body(incoming)?;
            mock.update_account(id, &options)?;
            account_view(mock, now, id)
        }
        (["accounts", id, "grants"], &Method::POST) => {
            let client: AccountOptions = body(incoming)?;
            Ok(to_value(&mock.add_grant(id, &client)?))
        }
        (["accounts", id, "expire_tokens"], &Method::POST) => {
            Ok(json!({"expired": mock.expire_tokens(now, id)?}))
        }
        (["accounts", id, "revoke"], &Method::POST) => {
            let revoke: RevokeBody = body(incoming)?;
            Ok(json!({"revoked": mock.revoke_grants(id, revoke.refresh_token.as_deref())?}))
        }
        (["accounts", id, "another_app"], &Method::POST) => {
            let usage: AnotherAppBody = body(incoming)?;
            Ok(json!({"counted": mock.another_app_uses(now, id, usage.requests)?}))
        }
        (["accounts", id, "duplicates"], &Method::GET) => {
            Ok(json!({"duplicates": to_value(&mock.duplicate_external_ids(id)?)}))
        }
        (["accounts", id, "checks"], &Method::GET) => checks(mock, incoming, id),
        (["accounts", id, "records", object], &Method::GET) => {
            Ok(json!({"records": to_value(&mock.records(id, object)?)}))
        }
        (["accounts", id, "records", object], &Method::POST) => {
            let seed: SeedBody = body(incoming)?;
            let ids = match (seed.count, seed.records) {
                (Some(count), None) => mock.seed_records(now, id, object, count)?,
                (None, Some(records)) => mock.insert_records(now, id, object, records)?,
                _ => return Err(invalid("give exactly one of count and records")),
            };
            Ok(json!({"ids": ids}))
        }
        (["accounts", id, "records", object, record], &Method::GET) => {
            Ok(to_value(&mock.record(id, object, record)?))
        }
        (["accounts", id, "records", object, record], &Method::PATCH) => {
            let patch: PropertiesBody = body(incoming)?;
            Ok(to_value(&mock.update_record(
                now,
                id,
                object,
                record,
                patch.properties,
            )?))
        }
        (["accounts", id, "records", object, record], &Method::DELETE) => {
            mock.delete_record(now, id, object, record)?;
            Ok(json!({"deleted": record}))
        }
        (["faults"], &Method::GET) => Ok(json!({"faults": to_value(&mock.faults())})),
        (["faults"], &Method::POST) => {
            let spec: FaultRuleSpec = body(incoming)?;
            let rule_id = mock.install_fault(spec.into_rule()?)?;
            Ok(json!({"rule_id": rule_id}))
        }
        (["faults", rule], &Method::DELETE) => {
            let rule_id: u64 = rule
                .parse()
                .map_err(|_| invalid(format!("rule id {rule:?} is not a number")))?;
            mock.remove_fault(rule_id)?;
            Ok(json!({"removed": rule_id}))
        }
        (["journal"], &Method::GET) => {
            let account = query(incoming, "account_id");
            let entries: Vec<&journal::JournalEntry> = mock
                .journal()
                .iter()
                .filter(|e| account.is_none() || e.account_id == account)
                .collect();
            Ok(json!({"journal": to_value(&entries)}))
        }
        (["reset"], &Method::POST) => {
            mock.reset();
            Ok(json!({}))
        }
        (
            []
            | ["accounts"]
            | ["accounts", _]
            | ["accounts", _, _]
            | ["accounts", _, "records", _]
            | ["accounts", _, "records", _, _]
            | ["faults"]
            | ["faults", _]
            | ["journal"]
            | ["reset"],
            _,
        ) => Err(AdminError::MethodNotAllowed),
        _ => Err(AdminError::NotFound),
    }
}

fn account_view(mock: &mut Mock, now: Millis, id: &str) -> Result<Value, AdminError> {
    let usage = mock.usage(now, id)?;
    let options = mock.account_options(id)?;
    let grants = mock.grants_of(id)?;
    Ok(json!({
        "account_id": id,
        "options": to_value(&options),
        "usage": usage,
        "grants": to_value(&grants),
    }))
}

fn checks(mock: &Mock, incoming: &Incoming, id: &str) -> Result<Value, AdminError> {
    mock.account_options(id)?;
    let window_ms = match query(incoming, "window_ms") {
        None => mock.dialect().limits().window_ms,
        Some(text) => text
            .parse::<u64>()
            .ok()
            .filter(|w| *w > 0)
            .ok_or_else(|| invalid("window_ms must be a positive integer"))?,
    };
    let entries = mock.journal();
    let connections = |map: BTreeMap<journal::Connection, u32>| -> Vec<Value> {
        map.into_iter()
            .map(|(c, n)| json!({"client_id": c.client_id, "grant_id": c.grant_id, "count": n}))
            .collect()
    };
    let account_entries: Vec<journal::JournalEntry> = entries
        .iter()
        .filter(|e| e.account_id.as_deref() == Some(id))
        .cloned()
        .collect();
    Ok(json!({
        "window_ms": window_ms,
        "max_counted_in_window": journal::max_counted_in_window(entries, id, window_ms),
        "max_counted_from_target_in_window": journal::max_counted_from_target_in_window(entries, id, window_ms),
        "rate_limits_by_cause": to_value(&journal::rate_limits_by_cause(entries, Some(id))),
        "requests_by_route": to_value(&journal::requests_by_route(entries, Some(id))),
        "refreshes_per_connection": connections(journal::refreshes_per_connection(&account_entries)),
        "max_refreshes_in_flight": connections(journal::max_refreshes_in_flight(&account_entries)),
        "duplicates": to_value(&mock.duplicate_external_ids(id)?),
    }))
}
