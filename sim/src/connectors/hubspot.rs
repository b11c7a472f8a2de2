//! The hubspot connector (CONTRACT.md section 6): OAuth refresh with `expires_in`, `after`-cursor
//! listing, batch upsert on `endgrate_internal_id` and batch update, 100 items a batch.

use std::borrow::Cow;
use std::collections::BTreeMap;

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

/// Hubspot's largest batch and page.
pub const BATCH_SIZE: usize = 100;
/// The property hubspot upserts on.
pub const EXTERNAL_ID_PROPERTY: &str = "endgrate_internal_id";

const CONTACT: [(&str, &str); 4] = [
    ("first_name", "firstname"),
    ("last_name", "lastname"),
    ("email", "email"),
    ("phone", "phone"),
];
const COMPANY: [(&str, &str); 3] = [
    ("name", "name"),
    ("domain", "domain"),
    ("industry", "industry"),
];

/// The mapping and object name of one type: the one place that knows them.
fn mapping(ty: EndgrateType) -> (&'static str, &'static [(&'static str, &'static str)]) {
    match ty {
        EndgrateType::CrmContact => ("contacts", &CONTACT),
        EndgrateType::CrmCompany => ("companies", &COMPANY),
    }
}

/// Speaks hubspot's CRM v3 API.
#[derive(Debug, Clone, Default)]
pub struct HubspotConnector;

impl Connector for HubspotConnector {
    fn push_batch_size(&self) -> usize {
        BATCH_SIZE
    }

    fn pull_page_size(&self) -> usize {
        BATCH_SIZE
    }

    fn pull_request(&self, context: &RequestContext<'_>, cursor: Option<&str>) -> ProviderRequest {
        let (object, table) = mapping(context.endgrate_type);
        let properties: Vec<&str> = table.iter().map(|(_, property)| *property).collect();
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("limit", &BATCH_SIZE.to_string());
        if let Some(after) = cursor {
            query.append_pair("after", after);
        }
        query.append_pair("properties", &properties.join(","));
        let url = format!(
            "{}/crm/v3/objects/{object}?{}",
            context.api_base_url,
            query.finish()
        );
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
        let mut requests = Vec::new();
        if !upserts.is_empty() {
            // {"inputs":[{"idProperty":…,"id":…,"properties":{…mapped…,"endgrate_internal_id":…}}]}
            let mut body = JsonWriter::with_capacity(upserts.len() * 200 + 16);
            body.raw("{\"inputs\":[");
            let mut first_input = true;
            for &p in &upserts {
                let item = &items[p];
                body.comma(&mut first_input)
                    .raw("{")
                    .key("idProperty")
                    .string(EXTERNAL_ID_PROPERTY)
                    .raw(",")
                    .key("id")
                    .string(&item.external_id)
                    .raw(",")
                    .key("properties")
                    .raw("{");
                let mut first = true;
                write_provider_fields(&mut body, &mut first, table, item.data);
                body.comma(&mut first)
                    .key(EXTERNAL_ID_PROPERTY)
                    .string(&item.external_id)
                    .raw("}}");
            }
            body.raw("]}");
            let url = format!(
                "{}/crm/v3/objects/{object}/batch/upsert",
                context.api_base_url
            );
            requests.push((
                upserts,
                json_bytes_request(
                    Method::POST,
                    url,
                    context.access_token,
                    Bytes::from(body.into_bytes()),
                ),
            ));
        }
        if !updates.is_empty() {
            // {"inputs":[{"id":…,"properties":{…mapped…}}]}
            let mut body = JsonWriter::with_capacity(updates.len() * 160 + 16);
            body.raw("{\"inputs\":[");
            let mut first_input = true;
            for &p in &updates {
                let item = &items[p];
                body.comma(&mut first_input).raw("{").key("id");
                match item.id {
                    Some(id) => body.string(id),
                    None => body.raw("null"),
                };
                body.raw(",").key("properties").raw("{");
                let mut first = true;
                write_provider_fields(&mut body, &mut first, table, item.data);
                body.raw("}}");
            }
            body.raw("]}");
            let url = format!(
                "{}/crm/v3/objects/{object}/batch/update",
                context.api_base_url
            );
            requests.push((
                updates,
                json_bytes_request(
                    Method::POST,
                    url,
                    context.access_token,
                    Bytes::from(body.into_bytes()),
                ),
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
        let answer = match serde_json::from_slice::<BatchAnswer<'_>>(response.body()) {
            Ok(BatchAnswer {
                results: Some(results),
                errors,
            }) => BatchOutcome {
                results: results
                    .into_iter()
                    .map(|row| BatchRow {
                        id: row.id.map(|id| id.0),
                        external_id: row
                            .properties
                            .and_then(|properties| properties.external_id)
                            .map(|id| id.0),
                        new: row.new.unwrap_or(false),
                    })
                    .collect(),
                refusals: errors
                    .unwrap_or_default()
                    .into_iter()
                    .map(|error| BatchRefusal {
                        message: error.message.map(|message| message.0),
                        ids: error
                            .context
                            .and_then(|context| context.ids)
                            .unwrap_or_default()
                            .into_iter()
                            .map(|id| id.0)
                            .collect(),
                    })
                    .collect(),
            },
            _ => return parse_push_value(items, &json_body(response)?),
        };
        Ok(match_results(items, &answer))
    }

    fn default_budget(&self) -> Option<Budget> {
        Some(Budget {
            limit: 100,
            window_ms: 10_000,
        })
    }

    fn reported_usage(&self, response: &ProviderResponse) -> Option<ReportedUsage> {
        let header = |name: &str| {
            response
                .headers()
                .get(name)?
                .to_str()
                .ok()?
                .trim()
                .parse::<u64>()
                .ok()
        };
        let limit = header("x-hubspot-ratelimit-max")?;
        let remaining = header("x-hubspot-ratelimit-remaining")?;
        let window_ms = header("x-hubspot-ratelimit-interval-milliseconds").unwrap_or(10_000);
        let limit = u32::try_from(limit).ok()?;
        let used = limit.saturating_sub(u32::try_from(remaining).unwrap_or(u32::MAX));
        Some(ReportedUsage {
            used,
            budget: Budget { limit, window_ms },
        })
    }

    fn unexplained_rate_limit_wait_ms(&self) -> u64 {
        10_000
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
            format!("{base_url}/oauth/v1/token"),
            refresh_form(refresh_token, client_id, client_secret),
        ))
    }

    fn parse_token(&self, response: &ProviderResponse) -> Result<TokenGrant, Unusable> {
        let (body, grant) = oauth_grant(response)?;
        Ok(TokenGrant {
            expires_in_ms: body
                .get("expires_in")
                .and_then(Value::as_u64)
                .map(|seconds| seconds * 1000),
            ..grant
        })
    }
}

/// What a batch answer says, however it was read.
struct BatchOutcome<'a> {
    results: Vec<BatchRow<'a>>,
    refusals: Vec<BatchRefusal<'a>>,
}

/// One result: its record id, the external id property it echoes, and `new`.
struct BatchRow<'a> {
    id: Option<Cow<'a, str>>,
    external_id: Option<Cow<'a, str>>,
    new: bool,
}

/// One per-input error: its message and the input ids of `context.ids`.
struct BatchRefusal<'a> {
    message: Option<Cow<'a, str>>,
    ids: Vec<Cow<'a, str>>,
}

/// The original reading of a batch answer, for answers the typed reader refuses: fields of an
/// unexpected type count as absent.
fn parse_push_value<'a>(
    items: &[OutgoingItem<'_>],
    body: &'a Value,
) -> Result<Vec<ItemResult>, Unusable> {
    let results = body
        .get("results")
        .and_then(Value::as_array)
        .ok_or_else(|| Unusable("no `results` array".to_owned()))?;
    let errors: &[Value] = body
        .get("errors")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    let text = |value: Option<&'a Value>| value.and_then(Value::as_str).map(Cow::Borrowed);
    let answer = BatchOutcome {
        results: results
            .iter()
            .map(|result| BatchRow {
                id: text(result.get("id")),
                external_id: text(
                    result
                        .get("properties")
                        .and_then(|properties| properties.get(EXTERNAL_ID_PROPERTY)),
                ),
                new: result.get("new").and_then(Value::as_bool).unwrap_or(false),
            })
            .collect(),
        refusals: errors
            .iter()
            .map(|error| BatchRefusal {
                message: text(error.get("message")),
                ids: error
                    .get("context")
                    .and_then(|context| context.get("ids"))
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(Cow::Borrowed)
                    .collect(),
            })
            .collect(),
    };
    Ok(match_results(items, &answer))
}

/// Matches results to items. Results are not in input order: an upsert is matched by its
/// external id property, an update by its record id; errors name the input's `id` in
/// `context.ids`. Each is indexed once (the first of equal keys wins), so a batch costs
/// O(n log n).
fn match_results(items: &[OutgoingItem<'_>], answer: &BatchOutcome<'_>) -> Vec<ItemResult> {
    // Only the index the items need: updates look results up by id, upserts by external id.
    let updates = items.iter().any(|item| item.id.is_some());
    let upserts = items.iter().any(|item| item.id.is_none());
    let mut by_id: BTreeMap<&str, &BatchRow<'_>> = BTreeMap::new();
    let mut by_external_id: BTreeMap<&str, &BatchRow<'_>> = BTreeMap::new();
    for row in &answer.results {
        if updates && let Some(id) = &row.id {
            by_id.entry(id).or_insert(row);
        }
        if upserts && let Some(external_id) = &row.external_id {
            by_external_id.entry(external_id).or_insert(row);
        }
    }
    let mut refusals: BTreeMap<&str, &BatchRefusal<'_>> = BTreeMap::new();
    for refusal in &answer.refusals {
        for id in &refusal.ids {
            refusals.entry(id).or_insert(refusal);
        }
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let key = item.id.unwrap_or(&item.external_id);
        let found = match item.id {
            Some(id) => by_id.get(id).copied(),
            None => by_external_id.get(item.external_id.as_ref()).copied(),
        };
        let refused = refusals.get(key).copied();
        let outcome = match (found, refused) {
            (Some(row), _) => Ok(ItemWritten {
                id: row.id.as_deref().unwrap_or_default().to_owned(),
                created: item.id.is_none() && row.new,
            }),
            (None, Some(refusal)) => Err(refusal
                .message
                .as_deref()
                .unwrap_or("refused by hubspot")
                .to_owned()),
            (None, None) => continue,
        };
        out.push(ItemResult {
            index: item.index,
            outcome,
        });
    }
    out
}

/// A list page, read typed; `None` sends the caller to the original reading (which gives the
/// same page or the right complaint).
fn fast_page(table: &[(&str, &str)], body: &[u8]) -> Option<PulledPage> {
    let answer: ListAnswer<'_> = serde_json::from_slice(body).ok()?;
    let mut records = Vec::with_capacity(answer.results.as_ref()?.len());
    for result in answer.results? {
        let id = result.id?;
        let data = match &result.properties {
            Some(properties) => slots_to_schema(table, properties),
            None => slots_to_schema(table, &MappedProperties::default()),
        };
        records.push(PulledRecord {
            id: id.0.into_owned(),
            data,
        });
    }
    let next_cursor = answer
        .paging
        .and_then(|paging| paging.next)
        .and_then(|next| next.after)
        .map(|after| after.0.into_owned());
    Some(PulledPage {
        records,
        next_cursor,
    })
}

#[derive(Default)]
struct ListAnswer<'de> {
    results: Option<Vec<ListResult<'de>>>,
    paging: Option<Paging<'de>>,
}

#[derive(Default)]
struct ListResult<'de> {
    id: Option<Text<'de>>,
    properties: Option<MappedProperties<'de>>,
}

/// A result's properties: only those a mapping table names are kept (the others, such as the
/// system properties hubspot always adds, are skipped unread).
type MappedProperties<'de> = Slots<'de, MappedNames>;

/// Every property a hubspot mapping table names.
struct MappedNames;

impl SlotNames for MappedNames {
    const NAMES: &'static [&'static str] = &[
        "firstname",
        "lastname",
        "email",
        "phone",
        "name",
        "domain",
        "industry",
    ];
}

#[derive(Default)]
struct Paging<'de> {
    next: Option<PagingNext<'de>>,
}

#[derive(Default)]
struct PagingNext<'de> {
    after: Option<Text<'de>>,
}

#[derive(Default)]
struct BatchAnswer<'de> {
    results: Option<Vec<BatchResult<'de>>>,
    errors: Option<Vec<BatchError<'de>>>,
}

#[derive(Default)]
struct BatchResult<'de> {
    id: Option<Text<'de>>,
    properties: Option<EchoedProperties<'de>>,
    new: Option<bool>,
}

#[derive(Default)]
struct EchoedProperties<'de> {
    external_id: Option<Text<'de>>,
}

#[derive(Default)]
struct BatchError<'de> {
    message: Option<Text<'de>>,
    context: Option<ErrorContext<'de>>,
}

#[derive(Default)]
struct ErrorContext<'de> {
    ids: Option<Vec<Text<'de>>>,
}

crate::object_fields! {
    ListAnswer {
        "results" => results,
        "paging" => paging,
    }
    ListResult {
        "id" => id,
        "properties" => properties,
    }
    Paging {
        "next" => next,
    }
    PagingNext {
        "after" => after,
    }
    BatchAnswer {
        "results" => results,
        "errors" => errors,
    }
    BatchResult {
        "id" => id,
        "properties" => properties,
        "new" => new,
    }
    EchoedProperties {
        EXTERNAL_ID_PROPERTY => external_id,
    }
    BatchError {
        "message" => message,
        "context" => context,
    }
    ErrorContext {
        "ids" => ids,
    }
}

/// The original reading of a page, for answers the typed reader refuses.
fn value_page(table: &[(&str, &str)], response: &ProviderResponse) -> Result<PulledPage, Unusable> {
    let body = json_body(response)?;
    let results = body
        .get("results")
        .and_then(Value::as_array)
        .ok_or_else(|| Unusable("no `results` array".to_owned()))?;
    let mut records = Vec::with_capacity(results.len());
    for result in results {
        let id = result
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| Unusable("a result without `id`".to_owned()))?;
        let empty = Map::new();
        let properties = result
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        records.push(PulledRecord {
            id: id.to_owned(),
            data: to_schema(table, properties),
        });
    }
    let next_cursor = body
        .pointer("/paging/next/after")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(PulledPage {
        records,
        next_cursor,
    })
}

#[cfg(test)]
mod tests;
