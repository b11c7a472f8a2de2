//! A scripted provider and its connector: the smallest provider the pipeline can drive, for
//! the engine's own tests before (and beside) the real hubspot and salesforce connectors.
//!
//! Wire format (ours, not a real provider's):
//! - `GET /records?cursor=N&limit=P` → `{"records": [{"id", "data"}], "next": "M" | null}`
//! - `POST /batch {"items": [{"external_id", "id"?, "data"}]}` →
//!   `{"results": [{"external_id", "id", "created"} | {"external_id", "error"}]}`
//!
//! An item whose `last_name` is `""` is refused per record, as salesforce does.

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;
use http::Method;
use serde_json::{Map, Value, json};
use transfersim_mock_providers::{
    InProcessProvider, Millis, Outcome, ProviderRequest, ProviderResponse, Served,
};

use crate::connector::{
    Connector, ItemResult, ItemWritten, OutgoingItem, PulledPage, PulledRecord, RequestContext,
    Unusable, json_request,
};
use crate::schema::MappedData;

/// What the scripted provider does with one request, overriding its normal answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptedFault {
    /// Answer with this status and an empty JSON object, without acting.
    Status(u16),
    /// Act, then let the caller time out.
    TimeoutAfterActing,
    /// Drop the connection without acting.
    Drop,
}

/// An in-process provider with a fixed record set and a per-request latency.
#[derive(Debug, Clone)]
pub struct ScriptedProvider {
    /// Records served by `GET /records`, in provider order.
    pub records: Vec<(String, Map<String, Value>)>,
    /// Written items by external id: (provider id, data).
    pub written: BTreeMap<String, (String, Map<String, Value>)>,
    /// Latency of every request.
    pub latency_ms: Millis,
    /// Faults applied to the next requests, in order.
    pub faults: VecDeque<ScriptedFault>,
    /// Requests served so far, with the time each arrived.
    pub journal: Vec<(Millis, String)>,
    next_id: u64,
}

impl ScriptedProvider {
    /// A provider with `count` contacts (`c1`, `c2`, … in order) and `latency_ms` per request.
    pub fn with_contacts(count: usize, latency_ms: Millis) -> Self {
        let records = (1..=count)
            .map(|n| {
                let mut data = Map::new();
                data.insert("first_name".to_owned(), json!(format!("First{n}")));
                data.insert("last_name".to_owned(), json!(format!("Last{n}")));
                data.insert("email".to_owned(), json!(format!("person{n}@example.com")));
                (format!("c{n}"), data)
            })
            .collect();
        Self {
            records,
            written: BTreeMap::new(),
            latency_ms,
            faults: VecDeque::new(),
            journal: Vec::new(),
            next_id: 1,
        }
    }

    fn answer(&self, status: u16, body: Value) -> Served {
        let mut response = ProviderResponse::new(Bytes::from(body.to_string()));
        *response.status_mut() =
            http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        Served {
            outcome: Outcome::Answer(response),
            latency_ms: self.latency_ms,
            acted: true,
        }
    }

    fn list(&self, query: &str) -> Served {
        let mut cursor = 0usize;
        let mut limit = 100usize;
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            match name.as_ref() {
                "cursor" => cursor = value.parse().unwrap_or(0),
                "limit" => limit = value.parse().unwrap_or(100).max(1),
                _ => {}
            }
        }
        let end = (cursor + limit).min(self.records.len());
        let start = cursor.min(end);
        let records: Vec<Value> = self.records[start..end]
            .iter()
            .map(|(id, data)| json!({"id": id, "data": data}))
            .collect();
        let next = if end < self.records.len() {
            json!(end.to_string())
        } else {
            Value::Null
        };
        self.answer(200, json!({"records": records, "next": next}))
    }

    fn batch(&mut self, body: &[u8]) -> Served {
        let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(body) else {
            return self.answer(400, json!({"error": "body must be a JSON object"}));
        };
        let Some(Value::Array(items)) = body.get("items") else {
            return self.answer(400, json!({"error": "items must be an array"}));
        };
        let mut results = Vec::new();
        for item in items {
            let external_id = item
                .get("external_id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let data = item
                .get("data")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            if data.get("last_name").and_then(Value::as_str) == Some("") {
                results.push(json!({"external_id": external_id, "error": "REQUIRED_FIELD_MISSING: last_name"}));
                continue;
            }
            let (id, created) = match self.written.get(&external_id) {
                Some((id, _)) => (id.clone(), false),
                None => {
                    let id = format!("w{}", self.next_id);
                    self.next_id += 1;
                    (id, true)
                }
            };
            self.written.insert(external_id.clone(), (id.clone(), data));
            results.push(json!({"external_id": external_id, "id": id, "created": created}));
        }
        self.answer(200, json!({"results": results}))
    }
}

impl InProcessProvider for ScriptedProvider {
    fn handle(&mut self, now: Millis, request: ProviderRequest) -> Served {
        let path = request.uri().path().to_owned();
        self.journal
            .push((now, format!("{} {}", request.method(), path)));
        match self.faults.pop_front() {
            Some(ScriptedFault::Status(status)) => return self.answer(status, json!({})),
            Some(ScriptedFault::Drop) => {
                return Served {
                    outcome: Outcome::Dropped,
                    latency_ms: self.latency_ms,
                    acted: false,
                };
            }
            Some(ScriptedFault::TimeoutAfterActing) => {
                if request.method() == Method::POST && path == "/batch" {
                    self.batch(request.body());
                }
                return Served {
                    outcome: Outcome::Timeout,
                    latency_ms: 0,
                    acted: true,
                };
            }
            None => {}
        }
        match (request.method().as_str(), path.as_str()) {
            ("GET", "/records") => self.list(request.uri().query().unwrap_or("")),
            ("POST", "/batch") => self.batch(request.body()),
            _ => self.answer(404, json!({"error": "no such route"})),
        }
    }
}

/// The connector for [`ScriptedProvider`].
#[derive(Debug, Clone)]
pub struct ScriptedConnector {
    pub page_size: usize,
    pub batch_size: usize,
}

impl Default for ScriptedConnector {
    fn default() -> Self {
        Self {
            page_size: 100,
            batch_size: 100,
        }
    }
}

impl Connector for ScriptedConnector {
    fn push_batch_size(&self) -> usize {
        self.batch_size
    }

    fn pull_page_size(&self) -> usize {
        self.page_size
    }

    fn pull_request(&self, context: &RequestContext<'_>, cursor: Option<&str>) -> ProviderRequest {
        let url = format!(
            "{}/records?cursor={}&limit={}",
            context.base_url,
            cursor.unwrap_or("0"),
            self.page_size
        );
        json_request(Method::GET, url, context.access_token, &Value::Null)
    }

    fn parse_pull(
        &self,
        _context: &RequestContext<'_>,
        response: &ProviderResponse,
    ) -> Result<PulledPage, Unusable> {
        let body: Value =
            serde_json::from_slice(response.body()).map_err(|e| Unusable(e.to_string()))?;
        let records = body
            .get("records")
            .and_then(Value::as_array)
            .ok_or_else(|| Unusable("no records array".to_owned()))?
            .iter()
            .map(|record| {
                let id = record
                    .get("id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| Unusable("record without id".to_owned()))?;
                let data = record
                    .get("data")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                Ok(PulledRecord {
                    id: id.to_owned(),
                    data: MappedData::from_map(&data),
                })
            })
            .collect::<Result<Vec<_>, Unusable>>()?;
        let next_cursor = body.get("next").and_then(Value::as_str).map(str::to_owned);
        Ok(PulledPage {
            records,
            next_cursor,
        })
    }

    fn push_requests(
        &self,
        context: &RequestContext<'_>,
        items: &[OutgoingItem<'_>],
    ) -> Vec<(Vec<usize>, ProviderRequest)> {
        let body: Vec<Value> = items
            .iter()
            .map(|item| json!({"external_id": item.external_id, "id": item.id, "data": item.data}))
            .collect();
        let request = json_request(
            Method::POST,
            format!("{}/batch", context.base_url),
            context.access_token,
            &json!({"items": body}),
        );
        vec![((0..items.len()).collect(), request)]
    }

    fn parse_push(
        &self,
        _context: &RequestContext<'_>,
        items: &[OutgoingItem<'_>],
        response: &ProviderResponse,
    ) -> Result<Vec<ItemResult>, Unusable> {
        let body: Value =
            serde_json::from_slice(response.body()).map_err(|e| Unusable(e.to_string()))?;
        let results = body
            .get("results")
            .and_then(Value::as_array)
            .ok_or_else(|| Unusable("no results array".to_owned()))?;
        Ok(items
            .iter()
            .filter_map(|item| {
                let result = results.iter().find(|r| {
                    r.get("external_id").and_then(Value::as_str) == Some(item.external_id.as_ref())
                })?;
                let outcome = match result.get("error").and_then(Value::as_str) {
                    Some(error) => Err(error.to_owned()),
                    None => Ok(ItemWritten {
                        id: result
                            .get("id")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                        created: result
                            .get("created")
                            .and_then(Value::as_bool)
                            .unwrap_or(false),
                    }),
                };
                Some(ItemResult {
                    index: item.index,
                    outcome,
                })
            })
            .collect())
    }
}
