//! The salesforce connector (CONTRACT.md section 6): OAuth refresh without `expires_in` (API calls
//! go to the token answer's `instance_url`), SOQL `SELECT … FROM …` with `nextRecordsUrl`
//! locators, composite upsert on `Endgrate_Internal_Id__c` and composite update, 200 a batch.

use std::borrow::Cow;

use bytes::Bytes;
use http::Method;
use serde_json::{Map, Value};
use transfersim_mock_providers::{ProviderRequest, ProviderResponse};

use super::{SlotNames, Slots, refresh_form, slots_to_schema, to_schema, write_provider_fields};
use crate::connector::{
    Connector, ItemResult, ItemWritten, OutgoingItem, PulledPage, PulledRecord, RequestContext,
    TokenGrant, Unusable, form_request, json_body, json_bytes_request, json_request, oauth_grant,
    upserts_and_updates, upserts_then_updates,
};
use crate::engine::{Budget, ReportedUsage};
use crate::schema::EndgrateType;
use crate::wire::{JsonWriter, Text};

/// Salesforce's largest composite batch.
pub const BATCH_SIZE: usize = 200;
/// Salesforce's largest query page.
pub const PAGE_SIZE: usize = 2_000;
/// The external-id field salesforce upserts on.
pub const EXTERNAL_ID_FIELD: &str = "Endgrate_Internal_Id__c";
const API: &str = "/services/data/v60.0";

const CONTACT: [(&str, &str); 4] = [
    ("first_name", "FirstName"),
    ("last_name", "LastName"),
    ("email", "Email"),
    ("phone", "Phone"),
];
const ACCOUNT: [(&str, &str); 3] = [
    ("name", "Name"),
    ("domain", "Website"),
    ("industry", "Industry"),
];

/// The mapping and sObject of one type: the one place that knows them.
fn mapping(ty: EndgrateType) -> (&'static str, &'static [(&'static str, &'static str)]) {
    match ty {
        EndgrateType::CrmContact => ("Contact", &CONTACT),
        EndgrateType::CrmCompany => ("Account", &ACCOUNT),
    }
}

/// `scheme://authority` of a URL (everything before its path).
fn origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |at| at + 3);
    match url[after_scheme..].find('/') {
        Some(slash) => &url[..after_scheme + slash],
        None => url,
    }
}

/// Speaks salesforce's REST API v60.0.
#[derive(Debug, Clone, Default)]
pub struct SalesforceConnector;

impl Connector for SalesforceConnector {
    fn push_batch_size(&self) -> usize {
        BATCH_SIZE
    }

    fn pull_page_size(&self) -> usize {
        PAGE_SIZE
    }

    fn pull_request(&self, context: &RequestContext<'_>, cursor: Option<&str>) -> ProviderRequest {
        let url = match cursor {
            // `nextRecordsUrl` is an absolute path: resolve it against the instance's origin
            // (scheme and authority), as a URL reference, so a base path is not doubled.
            Some(next) if next.starts_with('/') => {
                format!("{}{next}", origin(context.api_base_url))
            }
            Some(next) => next.to_owned(),
            None => {
                let (object, table) = mapping(context.endgrate_type);
                let mut fields = vec!["Id"];
                fields.extend(table.iter().map(|(_, field)| *field));
                let soql = format!("SELECT {} FROM {object}", fields.join(", "));
                let query = form_urlencoded::Serializer::new(String::new())
                    .append_pair("q", &soql)
                    .finish();
                format!("{}{API}/query?{query}", context.api_base_url)
            }
        };
        json_request(Method::GET, url, context.access_token, &Value::Null)
    }

    fn parse_pull(
        &self,
        context: &RequestContext<'_>,
        response: &ProviderResponse,
    ) -> Result<PulledPage, Unusable> {
        let (_, table) = mapping(context.endgrate_type);
        match fast_page(table, response.body()) {
            Some(page) => Ok(page),
            None => value_page(table, response),
        }
    }

    fn push_split(
        &self,
        _context: &RequestContext<'_>,
        items: &[OutgoingItem<'_>],
    ) -> Vec<Vec<usize>> {
        upserts_then_updates(items)
    }

    fn push_requests(
        &self,
        context: &RequestContext<'_>,
        items: &[OutgoingItem<'_>],
    ) -> Vec<(Vec<usize>, ProviderRequest)> {
        let (object, table) = mapping(context.endgrate_type);
        let (upserts, updates) = upserts_and_updates(items);
        // {"allOrNone":false,"records":[{"attributes":{"type":…},<key>:…,…mapped…}]}, where the
        // key is the external id field (upserts) or `id` (updates).
        let body = |positions: &[usize], upsert: bool| {
            let mut body = JsonWriter::with_capacity(positions.len() * 200 + 32);
            body.raw("{\"allOrNone\":false,\"records\":[");
            let mut first_record = true;
            for &p in positions {
                let item = &items[p];
                body.comma(&mut first_record)
                    .raw("{")
                    .key("attributes")
                    .raw("{")
                    .key("type")
                    .string(object)
                    .raw("},");
                if upsert {
                    body.key(EXTERNAL_ID_FIELD).string(&item.external_id);
                } else {
                    body.key("id");
                    match item.id {
                        Some(id) => body.string(id),
                        None => body.raw("null"),
                    };
                }
                let mut first = false;
                write_provider_fields(&mut body, &mut first, table, item.data);
                body.raw("}");
            }
            body.raw("]}");
            Bytes::from(body.into_bytes())
        };
        let mut requests = Vec::new();
        if !upserts.is_empty() {
            let url = format!(
                "{}{API}/composite/sobjects/{object}/{EXTERNAL_ID_FIELD}",
                context.api_base_url
            );
            let bytes = body(&upserts, true);
            requests.push((
                upserts,
                json_bytes_request(Method::PATCH, url, context.access_token, bytes),
            ));
        }
        if !updates.is_empty() {
            let url = format!("{}{API}/composite/sobjects", context.api_base_url);
            let bytes = body(&updates, false);
            requests.push((
                updates,
                json_bytes_request(Method::PATCH, url, context.access_token, bytes),
            ));
        }
        requests
    }

    fn parse_push(
        &self,
        _context: &RequestContext<'_>,
        items: &[OutgoingItem<'_>],
        response: &ProviderResponse,
    ) -> Result<Vec<ItemResult>, Unusable> {
        let rows: Vec<CompositeRow<'_>> =
            match serde_json::from_slice::<Vec<CompositeResult<'_>>>(response.body()) {
                Ok(results) => results
                    .into_iter()
                    .map(|result| {
                        let first = result.errors.and_then(|errors| errors.into_iter().next());
                        CompositeRow {
                            success: result.success == Some(true),
                            id: result.id.map(|id| id.0),
                            created: result.created.unwrap_or(false),
                            code: first
                                .as_ref()
                                .and_then(|error| error.status_code.clone())
                                .map(|code| code.0),
                            message: first
                                .and_then(|error| error.message)
                                .map(|message| message.0),
                        }
                    })
                    .collect(),
                Err(_) => {
                    let body = json_body(response)?;
                    let results = body
                        .as_array()
                        .ok_or_else(|| Unusable("the answer is not an array".to_owned()))?;
                    return composite_outcomes(items, results.iter().map(composite_row).collect());
                }
            };
        composite_outcomes(items, rows)
    }

    fn default_budget(&self) -> Option<Budget> {
        Some(Budget {
            limit: 15_000,
            window_ms: 24 * 3_600_000,
        })
    }

    fn reported_usage(&self, response: &ProviderResponse) -> Option<ReportedUsage> {
        // `Sforce-Limit-Info: api-usage=<used>/<limit>`, over a rolling 24 h.
        let info = response.headers().get("sforce-limit-info")?.to_str().ok()?;
        let usage = info
            .split(',')
            .find_map(|part| part.trim().strip_prefix("api-usage="))?;
        let (used, limit) = usage.split_once('/')?;
        Some(ReportedUsage {
            used: used.trim().parse().ok()?,
            budget: Budget {
                limit: limit.trim().parse().ok()?,
                window_ms: 24 * 3_600_000,
            },
        })
    }

    fn is_rate_limit(&self, response: &ProviderResponse) -> bool {
        response.status() == http::StatusCode::FORBIDDEN
            && String::from_utf8_lossy(response.body()).contains("REQUEST_LIMIT_EXCEEDED")
    }

    fn unexplained_rate_limit_wait_ms(&self) -> u64 {
        3_600_000
    }

    fn authenticates(&self) -> bool {
        true
    }

    fn token_request(
        &self,
        base_url: &str,
        refresh_token: &str,
        client_id: &str,
        client_secret: &str,
    ) -> Option<ProviderRequest> {
        Some(form_request(
            format!("{base_url}/services/oauth2/token"),
            refresh_form(refresh_token, client_id, client_secret),
        ))
    }

    fn parse_token(&self, response: &ProviderResponse) -> Result<TokenGrant, Unusable> {
        let (body, grant) = oauth_grant(response)?;
        Ok(TokenGrant {
            instance_url: body
                .get("instance_url")
                .and_then(Value::as_str)
                .map(|url| url.trim_end_matches('/').to_owned()),
            ..grant
        })
    }
}

/// One composite result, however it was read: fields of an unexpected type count as absent.
struct CompositeRow<'a> {
    success: bool,
    id: Option<Cow<'a, str>>,
    created: bool,
    /// `statusCode` and `message` of the first error.
    code: Option<Cow<'a, str>>,
    message: Option<Cow<'a, str>>,
}

/// The original reading of one composite result, for answers the typed reader refuses.
fn composite_row<'a>(result: &'a Value) -> CompositeRow<'a> {
    let text = |value: Option<&'a Value>| value.and_then(Value::as_str).map(Cow::Borrowed);
    let first = result.pointer("/errors/0");
    CompositeRow {
        success: result.get("success").and_then(Value::as_bool) == Some(true),
        id: text(result.get("id")),
        created: result
            .get("created")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        code: text(first.and_then(|error| error.get("statusCode"))),
        message: text(first.and_then(|error| error.get("message"))),
    }
}

/// One result per record, in input order.
fn composite_outcomes(
    items: &[OutgoingItem<'_>],
    rows: Vec<CompositeRow<'_>>,
) -> Result<Vec<ItemResult>, Unusable> {
    if rows.len() != items.len() {
        return Err(Unusable(format!(
            "{} results for {} records",
            rows.len(),
            items.len()
        )));
    }
    Ok(items
        .iter()
        .zip(rows)
        .map(|(item, row)| {
            let outcome = if row.success {
                Ok(ItemWritten {
                    id: row.id.as_deref().unwrap_or_default().to_owned(),
                    created: row.created,
                })
            } else {
                Err(format!(
                    "{}: {}",
                    row.code.as_deref().unwrap_or("UNKNOWN_ERROR"),
                    row.message.as_deref().unwrap_or("refused by salesforce")
                ))
            };
            ItemResult {
                index: item.index,
                outcome,
            }
        })
        .collect())
}

/// A query page, read typed; `None` sends the caller to the original reading.
fn fast_page(table: &[(&str, &str)], body: &[u8]) -> Option<PulledPage> {
    let answer: QueryAnswer<'_> = serde_json::from_slice(body).ok()?;
    let rows = answer.records?;
    let mut records = Vec::with_capacity(rows.len());
    for row in rows {
        let id = row.get("Id")?.as_str()?.to_owned();
        records.push(PulledRecord {
            id,
            data: slots_to_schema(table, &row),
        });
    }
    let next_cursor = if answer.done.unwrap_or(true) {
        None
    } else {
        answer.next_records_url.map(|url| url.0.into_owned())
    };
    Some(PulledPage {
        records,
        next_cursor,
    })
}

#[derive(Default)]
struct QueryAnswer<'de> {
    records: Option<Vec<QueryRow<'de>>>,
    done: Option<bool>,
    next_records_url: Option<Text<'de>>,
}

/// A record's fields: only `Id` and those a mapping table names are kept (the others, such
/// as `attributes`, are skipped unread).
type QueryRow<'de> = Slots<'de, RowNames>;

/// `Id` and every field a salesforce mapping table names.
struct RowNames;

impl SlotNames for RowNames {
    const NAMES: &'static [&'static str] = &[
        "Id",
        "FirstName",
        "LastName",
        "Email",
        "Phone",
        "Name",
        "Website",
        "Industry",
    ];
}

#[derive(Default)]
struct CompositeResult<'de> {
    success: Option<bool>,
    id: Option<Text<'de>>,
    created: Option<bool>,
    errors: Option<Vec<CompositeError<'de>>>,
}

#[derive(Default)]
struct CompositeError<'de> {
    status_code: Option<Text<'de>>,
    message: Option<Text<'de>>,
}

crate::object_fields! {
    QueryAnswer {
        "records" => records,
        "done" => done,
        "nextRecordsUrl" => next_records_url,
    }
    CompositeResult {
        "success" => success,
        "id" => id,
        "created" => created,
        "errors" => errors,
    }
    CompositeError {
        "statusCode" => status_code,
        "message" => message,
    }
}

/// The original reading of a page, for answers the typed reader refuses.
fn value_page(table: &[(&str, &str)], response: &ProviderResponse) -> Result<PulledPage, Unusable> {
    let body = json_body(response)?;
    let rows = body
        .get("records")
        .and_then(Value::as_array)
        .ok_or_else(|| Unusable("no `records` array".to_owned()))?;
    let mut records = Vec::with_capacity(rows.len());
    for row in rows {
        let empty = Map::new();
        let fields = row.as_object().unwrap_or(&empty);
        let id = fields
            .get("Id")
            .and_then(Value::as_str)
            .ok_or_else(|| Unusable("a record without `Id`".to_owned()))?;
        records.push(PulledRecord {
            id: id.to_owned(),
            data: to_schema(table, fields),
        });
    }
    let done = body.get("done").and_then(Value::as_bool).unwrap_or(true);
    let next_cursor = if done {
        None
    } else {
        body.get("nextRecordsUrl")
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    Ok(PulledPage {
        records,
        next_cursor,
    })
}

#[cfg(test)]
mod tests;
