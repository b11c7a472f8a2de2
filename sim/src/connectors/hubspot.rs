//! The hubspot connector (CONTRACT.md section 6): OAuth refresh with `expires_in`, `after`-cursor
//! listing, batch upsert on `endgrate_internal_id` and batch update, 100 items a batch.

use std::collections::BTreeMap;

use http::Method;
use serde_json::{Map, Value, json};
use transfersim_mock_providers::{ProviderRequest, ProviderResponse};

use super::{refresh_form, to_provider, to_schema};
use crate::connector::{
    Connector, ItemResult, ItemWritten, OutgoingItem, PulledPage, PulledRecord, RequestContext,
    TokenGrant, Unusable, form_request, json_body, json_request, oauth_grant, upserts_and_updates,
    upserts_then_updates,
};
use crate::engine::{Budget, ReportedUsage};
use crate::schema::EndgrateType;

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

    fn push_split(&self, _context: &RequestContext<'_>, items: &[OutgoingItem]) -> Vec<Vec<usize>> {
        upserts_then_updates(items)
    }

    fn push_requests(
        &self,
        context: &RequestContext<'_>,
        items: &[OutgoingItem],
    ) -> Vec<(Vec<usize>, ProviderRequest)> {
        let (object, table) = mapping(context.endgrate_type);
        let (upserts, updates) = upserts_and_updates(items);
        let mut requests = Vec::new();
        if !upserts.is_empty() {
            let inputs: Vec<Value> = upserts
                .iter()
                .map(|&p| {
                    let mut properties = to_provider(table, &items[p].data);
                    properties.insert(EXTERNAL_ID_PROPERTY.to_owned(), json!(items[p].external_id));
                    json!({"idProperty": EXTERNAL_ID_PROPERTY, "id": items[p].external_id, "properties": properties})
                })
                .collect();
            let url = format!(
                "{}/crm/v3/objects/{object}/batch/upsert",
                context.api_base_url
            );
            requests.push((
                upserts,
                json_request(
                    Method::POST,
                    url,
                    context.access_token,
                    &json!({"inputs": inputs}),
                ),
            ));
        }
        if !updates.is_empty() {
            let inputs: Vec<Value> = updates
                .iter()
                .map(|&p| json!({"id": items[p].id, "properties": to_provider(table, &items[p].data)}))
                .collect();
            let url = format!(
                "{}/crm/v3/objects/{object}/batch/update",
                context.api_base_url
            );
            requests.push((
                updates,
                json_request(
                    Method::POST,
                    url,
                    context.access_token,
                    &json!({"inputs": inputs}),
                ),
            ));
        }
        requests
    }

    fn parse_push(
        &self,
        _context: &RequestContext<'_>,
        items: &[OutgoingItem],
        response: &ProviderResponse,
    ) -> Result<Vec<ItemResult>, Unusable> {
        let body = json_body(response)?;
        let results = body
            .get("results")
            .and_then(Value::as_array)
            .ok_or_else(|| Unusable("no `results` array".to_owned()))?;
        let errors: &[Value] = body
            .get("errors")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice);
        // Results are not in input order: an upsert is matched by its external id property, an
        // update by its record id; errors name the input's `id` in `context.ids`. Each is
        // indexed once (the first of equal keys wins), so a batch costs O(n log n).
        let mut by_id: BTreeMap<&str, &Value> = BTreeMap::new();
        let mut by_external_id: BTreeMap<&str, &Value> = BTreeMap::new();
        for result in results {
            if let Some(id) = result.get("id").and_then(Value::as_str) {
                by_id.entry(id).or_insert(result);
            }
            if let Some(external_id) = result
                .get("properties")
                .and_then(|properties| properties.get(EXTERNAL_ID_PROPERTY))
                .and_then(Value::as_str)
            {
                by_external_id.entry(external_id).or_insert(result);
            }
        }
        let mut refusals: BTreeMap<&str, &Value> = BTreeMap::new();
        for error in errors {
            let ids = error
                .get("context")
                .and_then(|context| context.get("ids"))
                .and_then(Value::as_array);
            for id in ids.into_iter().flatten().filter_map(Value::as_str) {
                refusals.entry(id).or_insert(error);
            }
        }
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let key = item.id.as_deref().unwrap_or(&item.external_id);
            let found = match &item.id {
                Some(id) => by_id.get(id.as_str()).copied(),
                None => by_external_id.get(item.external_id.as_str()).copied(),
            };
            let refused = refusals.get(key).copied();
            let outcome = match (found, refused) {
                (Some(result), _) => Ok(ItemWritten {
                    id: result
                        .get("id")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    created: item.id.is_none()
                        && result.get("new").and_then(Value::as_bool).unwrap_or(false),
                }),
                (None, Some(error)) => Err(error
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("refused by hubspot")
                    .to_owned()),
                (None, None) => continue,
            };
            out.push(ItemResult {
                index: item.index,
                outcome,
            });
        }
        Ok(out)
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
