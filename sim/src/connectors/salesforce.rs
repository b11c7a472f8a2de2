//! The salesforce connector (CONTRACT.md section 6): OAuth refresh without `expires_in` (API calls
//! go to the token answer's `instance_url`), SOQL `SELECT … FROM …` with `nextRecordsUrl`
//! locators, composite upsert on `Endgrate_Internal_Id__c` and composite update, 200 a batch.

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
            let records: Vec<Value> = upserts
                .iter()
                .map(|&p| {
                    let mut record = Map::new();
                    record.insert("attributes".to_owned(), json!({"type": object}));
                    record.insert(EXTERNAL_ID_FIELD.to_owned(), json!(items[p].external_id));
                    record.extend(to_provider(table, &items[p].data));
                    Value::Object(record)
                })
                .collect();
            let url = format!(
                "{}{API}/composite/sobjects/{object}/{EXTERNAL_ID_FIELD}",
                context.api_base_url
            );
            let body = json!({"allOrNone": false, "records": records});
            requests.push((
                upserts,
                json_request(Method::PATCH, url, context.access_token, &body),
            ));
        }
        if !updates.is_empty() {
            let records: Vec<Value> = updates
                .iter()
                .map(|&p| {
                    let mut record = Map::new();
                    record.insert("attributes".to_owned(), json!({"type": object}));
                    record.insert("id".to_owned(), json!(items[p].id));
                    record.extend(to_provider(table, &items[p].data));
                    Value::Object(record)
                })
                .collect();
            let url = format!("{}{API}/composite/sobjects", context.api_base_url);
            let body = json!({"allOrNone": false, "records": records});
            requests.push((
                updates,
                json_request(Method::PATCH, url, context.access_token, &body),
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
            .as_array()
            .ok_or_else(|| Unusable("the answer is not an array".to_owned()))?;
        if results.len() != items.len() {
            return Err(Unusable(format!(
                "{} results for {} records",
                results.len(),
                items.len()
            )));
        }
        // One result per record, in input order.
        Ok(items
            .iter()
            .zip(results)
            .map(|(item, result)| {
                let outcome = if result.get("success").and_then(Value::as_bool) == Some(true) {
                    Ok(ItemWritten {
                        id: result
                            .get("id")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                        created: result
                            .get("created")
                            .and_then(Value::as_bool)
                            .unwrap_or(false),
                    })
                } else {
                    let first = result.pointer("/errors/0");
                    let code = first
                        .and_then(|e| e.get("statusCode"))
                        .and_then(Value::as_str)
                        .unwrap_or("UNKNOWN_ERROR");
                    let message = first
                        .and_then(|e| e.get("message"))
                        .and_then(Value::as_str)
                        .unwrap_or("refused by salesforce");
                    Err(format!("{code}: {message}"))
                };
                ItemResult {
                    index: item.index,
                    outcome,
                }
            })
            .collect())
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
