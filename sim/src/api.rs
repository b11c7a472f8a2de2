//! The API layer: an HTTP request becomes an engine command, and the engine's answer an HTTP
//! response, for every route of CONTRACT.md. Shared by every driver, so the simulated world and
//! `serve` give byte-identical answers.
//!
//! **Invariant:** no input makes this layer panic or answer 500; every non-2xx carries the error
//! envelope `{"success": false, "message", "errors"?}`.
//!
//! Check order (CONTRACT.md section 8): auth; unknown path (404) and wrong method (405); body size
//! (413); JSON syntax (400); field types and required fields (400); `transfer_data` length (413);
//! then what the engine checks (session, direction, type, items, queue limit).

use std::collections::BTreeMap;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use std::borrow::Cow;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value, json};
use transfersim_mock_providers::Millis;

use crate::engine::PushItem;
use crate::engine::{
    ConfigureRequest, Credentials, Direction, Engine, EngineError, ErrorRecord, InitiateRequest,
    ProviderName, PullItem, SessionKind, SyncEnd, Transfer, TriggerRequest, Triggered, WebhookSet,
    WebhookTarget, is_id,
};
use crate::limits::{
    ADVANCE_SECONDS_MAX, BODY_LIMIT_BYTES, PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX,
    QUEUE_RETRY_AFTER_SECONDS, TRANSFER_ITEMS_MAX,
};
use crate::schema::{EndgrateType, ItemField};
use crate::time::rfc3339;
use crate::wire::{JsonWriter, ObjectFields, Text, skip};

/// Every route the layer serves: (method, path). `spec/openapi.yaml` documents the same set.
pub const ROUTES: [(&str, &str); 17] = [
    ("GET", "/api/integrations"),
    ("POST", "/api/session/initiate"),
    ("POST", "/api/pull/initiate"),
    ("POST", "/api/push/initiate"),
    ("GET", "/api/session/configuration"),
    ("POST", "/api/session/delete"),
    ("POST", "/api/pull/transfer"),
    ("POST", "/api/push/transfer"),
    ("GET", "/api/pull/data"),
    ("GET", "/api/push/data"),
    ("GET", "/api/statistics"),
    ("GET", "/api/errors"),
    ("POST", "/api/test_helpers/session/configure"),
    ("GET", "/api/test_helpers/clock"),
    ("POST", "/api/test_helpers/clock/advance"),
    ("POST", "/api/test_helpers/webhook_secret"),
    ("POST", "/api/test_helpers/api_keys"),
];

/// What the driver does with a request.
#[derive(Debug)]
pub enum ApiOutcome {
    /// Answer now.
    Respond(Response<Bytes>),
    /// A synchronous trigger: answer when the engine emits `Output::SyncAnswer` for `call`
    /// (render it with [`sync_response`]).
    Pending { call: u64, transfer_id: String },
    /// The clock helper: advance the virtual clock by `millis`, settle, then answer with
    /// [`advance_response`].
    Advance { millis: Millis },
}

/// A refused request: status, message, field errors and headers.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub errors: Option<BTreeMap<String, String>>,
    pub retry_after: Option<u64>,
    /// The `Allow` header of a 405.
    pub allow: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            errors: None,
            retry_after: None,
            allow: None,
        }
    }

    fn field(path: impl Into<String>, problem: impl Into<String>) -> Self {
        let (path, problem) = (path.into(), problem.into());
        Self {
            status: StatusCode::BAD_REQUEST,
            message: format!("{path}: {problem}"),
            errors: Some(BTreeMap::from([(path, problem)])),
            retry_after: None,
            allow: None,
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> Self {
        let status = match &error {
            EngineError::SessionNotFound | EngineError::TransferNotFound => StatusCode::NOT_FOUND,
            EngineError::NotConfigured | EngineError::NotCompleted => StatusCode::CONFLICT,
            EngineError::QueueFull => StatusCode::TOO_MANY_REQUESTS,
            EngineError::Field(path, problem) => {
                return ApiError::field(path.clone(), problem.clone());
            }
            // A 400 for a field names it in `errors` too (ERROR-3).
            EngineError::UnknownEndgrateType
            | EngineError::EndgrateTypeMismatch
            | EngineError::ProviderMismatch(_) => {
                let field = if matches!(error, EngineError::ProviderMismatch(_)) {
                    "provider"
                } else {
                    "endgrate_type"
                };
                let mut refused = ApiError::new(StatusCode::BAD_REQUEST, error.to_string());
                refused.errors = Some(BTreeMap::from([(field.to_owned(), error.to_string())]));
                return refused;
            }
            _ => StatusCode::BAD_REQUEST,
        };
        let mut refused = ApiError::new(status, error.to_string());
        if status == StatusCode::TOO_MANY_REQUESTS {
            refused.retry_after = Some(QUEUE_RETRY_AFTER_SECONDS);
        }
        refused
    }
}

/// Handles one request at `now`.
pub fn handle(engine: &mut Engine, now: Millis, request: &Request<Bytes>) -> ApiOutcome {
    match route(engine, now, request) {
        Ok(outcome) => outcome,
        Err(error) => ApiOutcome::Respond(error_response(now, &error)),
    }
}

/// Renders the end of a synchronous call.
pub fn sync_response(now: Millis, transfer_id: &str, end: SyncEnd) -> Response<Bytes> {
    match end {
        SyncEnd::Completed => json_response(
            now,
            StatusCode::OK,
            &json!({"success": true, "transfer_id": transfer_id, "completed": true}),
        ),
        SyncEnd::Capped => json_response(
            now,
            StatusCode::ACCEPTED,
            &json!({
                "success": true,
                "transfer_id": transfer_id,
                "completed": false,
                "message": "Transfer did not complete within 300 seconds; it continues in the background.",
            }),
        ),
        SyncEnd::SessionGone => error_response(now, &EngineError::SessionNotFound.into()),
        SyncEnd::ShuttingDown => error_response(
            now,
            &ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "Service is shutting down."),
        ),
    }
}

/// Renders the answer of a finished clock advance.
pub fn advance_response(now: Millis) -> Response<Bytes> {
    json_response(
        now,
        StatusCode::OK,
        &json!({"success": true, "now": rfc3339(now)}),
    )
}

/// Renders any error with the envelope.
pub fn error_response(now: Millis, error: &ApiError) -> Response<Bytes> {
    let mut body = json!({"success": false, "message": error.message});
    if let Some(errors) = &error.errors {
        body["errors"] = json!(errors);
    }
    let mut response = json_response(now, error.status, &body);
    if let Some(seconds) = error.retry_after
        && let Ok(value) = header::HeaderValue::from_str(&seconds.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    if let Some(allow) = &error.allow
        && let Ok(value) = header::HeaderValue::from_str(allow)
    {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}

fn json_response(now: Millis, status: StatusCode, body: &Value) -> Response<Bytes> {
    bytes_response(now, status, body.to_string().into_bytes())
}

/// A JSON answer whose body is already written.
fn bytes_response(now: Millis, status: StatusCode, body: Vec<u8>) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    if let Ok(date) = header::HeaderValue::from_str(&crate::time::http_date(now)) {
        headers.insert(header::DATE, date);
    }
    response
}

fn ok(now: Millis, body: Value) -> Result<ApiOutcome, ApiError> {
    Ok(ApiOutcome::Respond(json_response(
        now,
        StatusCode::OK,
        &body,
    )))
}

fn route(
    engine: &mut Engine,
    now: Millis,
    request: &Request<Bytes>,
) -> Result<ApiOutcome, ApiError> {
    let path = request.uri().path();
    let method = request.method();
    let known = ROUTES
        .iter()
        .filter(|(_, route)| *route == path)
        .collect::<Vec<_>>();
    let public = path == "/api/integrations" && method == Method::GET;
    if !public && (path == "/api" || path.starts_with("/api/")) {
        let key = bearer(request).filter(|key| engine.is_key(key));
        let Some(key) = key else {
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, "Invalid API key."));
        };
        if known.is_empty() {
            return Err(ApiError::new(StatusCode::NOT_FOUND, "Not found."));
        }
        if !known.iter().any(|(verb, _)| *verb == method.as_str()) {
            let allowed: Vec<&str> = known.iter().map(|(verb, _)| *verb).collect();
            let mut refused = ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed.");
            refused.allow = Some(allowed.join(", "));
            return Err(refused);
        }
        if request.body().len() > BODY_LIMIT_BYTES {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request body exceeds the 16 MiB limit.",
            ));
        }
        let query = Query::parse(request.uri().query());
        let key = key.to_owned();
        return dispatch(engine, now, &key, method, path, &query, request.body());
    }
    if public {
        return ok(now, integrations());
    }
    Err(ApiError::new(StatusCode::NOT_FOUND, "Not found."))
}

fn bearer(request: &Request<Bytes>) -> Option<&str> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn integrations() -> Value {
    let providers: Vec<Value> = ProviderName::ALL
        .iter()
        .map(|provider| {
            let integrations: Vec<Value> = EndgrateType::ALL
                .iter()
                .map(|ty| json!({"endgrate_type": ty.as_str(), "supports_push": true, "supports_pull": true}))
                .collect();
            json!({"provider": provider.info(), "integrations": integrations})
        })
        .collect();
    json!({"success": true, "providers": providers})
}

fn dispatch(
    engine: &mut Engine,
    now: Millis,
    key: &str,
    method: &Method,
    path: &str,
    query: &Query,
    body: &Bytes,
) -> Result<ApiOutcome, ApiError> {
    match (method.as_str(), path) {
        ("POST", "/api/session/initiate") => {
            initiate(engine, now, key, body, SessionKind::PushAndPull)
        }
        ("POST", "/api/pull/initiate") => initiate(engine, now, key, body, SessionKind::Pull),
        ("POST", "/api/push/initiate") => initiate(engine, now, key, body, SessionKind::Push),
        ("GET", "/api/session/configuration") => {
            let session_id = query.required("session_id")?;
            let body = engine.configuration(
                now,
                key,
                &checked_id(session_id, EngineError::SessionNotFound)?,
            )?;
            ok(now, body)
        }
        ("POST", "/api/session/delete") => {
            let body = Fields::parse(body)?;
            let session_id = body.required_string("session_id")?;
            engine.delete_session(
                now,
                key,
                &checked_id(&session_id, EngineError::SessionNotFound)?,
            )?;
            ok(now, json!({"success": true, "session_id": session_id}))
        }
        ("POST", "/api/pull/transfer") => trigger(engine, now, key, body, Direction::Pull),
        ("POST", "/api/push/transfer") => trigger(engine, now, key, body, Direction::Push),
        ("GET", "/api/pull/data") => read_data(engine, now, key, query, Direction::Pull),
        ("GET", "/api/push/data") => read_data(engine, now, key, query, Direction::Push),
        ("GET", "/api/statistics") => {
            let transfer_id = query.required("transfer_id")?;
            let body = engine.statistics(
                now,
                key,
                &checked_id(transfer_id, EngineError::TransferNotFound)?,
            )?;
            ok(now, body)
        }
        ("GET", "/api/errors") => read_errors(engine, now, key, query),
        ("POST", "/api/test_helpers/session/configure") => configure(engine, now, key, body),
        ("GET", "/api/test_helpers/clock") => ok(
            now,
            json!({"success": true, "now": rfc3339(now), "virtual": engine.config().virtual_clock}),
        ),
        ("POST", "/api/test_helpers/clock/advance") => {
            let body = Fields::parse(body)?;
            let seconds = match body.get("seconds") {
                Some(Value::Number(number)) => number.as_f64().unwrap_or(-1.0),
                None | Some(Value::Null) => return Err(ApiError::field("seconds", "is required")),
                Some(_) => return Err(ApiError::field("seconds", "must be a number")),
            };
            if !(0.0..=ADVANCE_SECONDS_MAX).contains(&seconds) {
                return Err(ApiError::field(
                    "seconds",
                    "must be between 0 and 10000000000",
                ));
            }
            if !engine.config().virtual_clock {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "The clock is not virtual; it cannot be advanced.",
                ));
            }
            Ok(ApiOutcome::Advance {
                millis: (seconds * 1000.0).round() as Millis,
            })
        }
        ("POST", "/api/test_helpers/webhook_secret") => {
            Fields::parse_optional(body)?;
            ok(
                now,
                json!({"success": true, "secret": engine.webhook_secret(key)}),
            )
        }
        ("POST", "/api/test_helpers/api_keys") => {
            Fields::parse_optional(body)?;
            ok(
                now,
                json!({"success": true, "api_key": engine.mint_api_key()}),
            )
        }
        _ => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method not allowed.",
        )),
    }
}

/// A malformed id is as unknown as a missing one.
fn checked_id(id: &str, otherwise: EngineError) -> Result<String, ApiError> {
    if is_id(id) {
        Ok(id.to_owned())
    } else {
        Err(otherwise.into())
    }
}

fn initiate(
    engine: &mut Engine,
    now: Millis,
    key: &str,
    body: &Bytes,
    kind: SessionKind,
) -> Result<ApiOutcome, ApiError> {
    let fields = Fields::parse(body)?;
    let schema = match fields.get("schema") {
        Some(Value::Array(entries)) if !entries.is_empty() => entries,
        None | Some(Value::Null) => return Err(ApiError::field("schema", "is required")),
        Some(_) => return Err(ApiError::field("schema", "must be a non-empty array")),
    };
    let mut types = Vec::new();
    for (index, entry) in schema.iter().enumerate() {
        let path = format!("schema[{index}]");
        let Some(entry) = entry.as_object() else {
            return Err(ApiError::field(path, "must be an object"));
        };
        if let Some(other) = entry
            .keys()
            .find(|k| !["endgrate_type", "title", "properties", "required"].contains(&k.as_str()))
        {
            return Err(ApiError::field(
                format!("{path}.{other}"),
                "is not a supported schema entry field",
            ));
        }
        let ty = match entry.get("endgrate_type") {
            Some(Value::String(name)) => EndgrateType::parse(name).ok_or_else(|| {
                ApiError::field(
                    format!("{path}.endgrate_type"),
                    "must be crm-contact or crm-company",
                )
            })?,
            None | Some(Value::Null) => {
                return Err(ApiError::field(
                    format!("{path}.endgrate_type"),
                    "is required",
                ));
            }
            Some(_) => {
                return Err(ApiError::field(
                    format!("{path}.endgrate_type"),
                    "must be a string",
                ));
            }
        };
        if types.contains(&ty) {
            return Err(ApiError::field(
                format!("{path}.endgrate_type"),
                "appears more than once",
            ));
        }
        types.push(ty);
    }
    let provider = match fields.optional_string("provider")? {
        Some(name) => Some(
            ProviderName::parse(&name)
                .ok_or_else(|| ApiError::field("provider", "must be hubspot or salesforce"))?,
        ),
        None => None,
    };
    fields.optional_string("redirect_url")?;
    // Accepted and not used (no passthrough fields are supported), but typed like the others.
    fields.optional_bool("passthrough_fields")?;
    let request = InitiateRequest {
        kind,
        types,
        provider,
        sync: fields.optional_bool("sync")?,
        save_session: fields.optional_bool("save_session")?,
        webhook_concurrency: fields.optional_bool("webhook_concurrency")?,
        label: fields.optional_string("label")?,
        webhooks: fields.webhooks(true)?,
    };
    let session_id = engine.initiate(now, key, request);
    ok(now, json!({"success": true, "session_id": session_id}))
}

fn configure(
    engine: &mut Engine,
    now: Millis,
    key: &str,
    body: &Bytes,
) -> Result<ApiOutcome, ApiError> {
    let fields = Fields::parse(body)?;
    let session_id = fields.required_string("session_id")?;
    let provider_name = fields.required_string("provider")?;
    let provider = ProviderName::parse(&provider_name)
        .ok_or_else(|| ApiError::field("provider", "must be hubspot or salesforce"))?;
    let base_url = fields.required_string("provider_base_url")?;
    let credentials = match fields.get("credentials") {
        Some(Value::Object(object)) => {
            let inner = Fields(object.clone());
            let get = |name: &str| {
                inner.required_string(name).map_err(|_| {
                    ApiError::field(
                        format!("credentials.{name}"),
                        "is required and must be a string",
                    )
                })
            };
            Credentials {
                refresh_token: get("refresh_token")?,
                client_id: get("client_id")?,
                client_secret: get("client_secret")?,
            }
        }
        None | Some(Value::Null) => return Err(ApiError::field("credentials", "is required")),
        Some(_) => return Err(ApiError::field("credentials", "must be an object")),
    };
    if !valid_base_url(&base_url) {
        return Err(ApiError::field(
            "provider_base_url",
            "must be an absolute http or https URL",
        ));
    }
    let request = ConfigureRequest {
        session_id: checked_id(&session_id, EngineError::SessionNotFound)?,
        provider,
        base_url,
        credentials,
    };
    let body = engine.configure(now, key, request)?;
    ok(now, body)
}

fn valid_base_url(text: &str) -> bool {
    match text.parse::<http::Uri>() {
        Ok(uri) => {
            matches!(uri.scheme_str(), Some("http" | "https"))
                && uri.authority().is_some()
                && uri.query().is_none()
        }
        Err(_) => false,
    }
}

fn trigger(
    engine: &mut Engine,
    now: Millis,
    key: &str,
    body: &Bytes,
    direction: Direction,
) -> Result<ApiOutcome, ApiError> {
    let fast = match direction {
        Direction::Push => fast_push_trigger(body),
        Direction::Pull => None,
    };
    let request = match fast {
        Some(request) => request?,
        None => trigger_request(body, direction)?,
    };
    match engine.trigger(now, key, request)? {
        Triggered::Queued { transfer_id } => ok(
            now,
            json!({"success": true, "transfer_id": transfer_id, "completed": false}),
        ),
        Triggered::Pending { transfer_id, call } => Ok(ApiOutcome::Pending { call, transfer_id }),
    }
}

/// Reads a trigger body with the `Value`-based field checks, in CONTRACT.md's order.
fn trigger_request(body: &Bytes, direction: Direction) -> Result<TriggerRequest, ApiError> {
    let fields = Fields::parse(body)?;
    let session_id = fields.required_string("session_id")?;
    let endgrate_type = fields.required_string("endgrate_type")?;
    let synchronous = fields.optional_bool("synchronous")?;
    let bypass_rate_limit = fields.optional_bool("bypass_rate_limit")?;
    let webhooks = fields.webhooks(false)?;
    let mut params = Map::new();
    let mut transfer_data: &[Value] = &[];
    match direction {
        Direction::Pull => match fields.get("params") {
            None | Some(Value::Null) => {}
            Some(Value::Object(object)) => params = object.clone(),
            Some(_) => return Err(ApiError::field("params", "must be an object")),
        },
        Direction::Push => match fields.get("transfer_data") {
            Some(Value::Array(items)) if !items.is_empty() => transfer_data = items,
            None | Some(Value::Null) => {
                return Err(ApiError::field("transfer_data", "is required"));
            }
            Some(_) => {
                return Err(ApiError::field(
                    "transfer_data",
                    "must be a non-empty array",
                ));
            }
        },
    }
    // Item structure is a field-type check: it wins over the item count (ERROR-17) and over
    // everything the engine checks (session, direction, type, schema).
    for (index, item) in transfer_data.iter().enumerate() {
        check_item_structure(index, item)?;
    }
    if transfer_data.len() > TRANSFER_ITEMS_MAX {
        return Err(too_many_items());
    }
    let text = |item: &Value, name: &str| item.get(name).and_then(Value::as_str).map(str::to_owned);
    let items = validated_items(&endgrate_type, transfer_data.len(), |ty, index| {
        let item = &transfer_data[index];
        let data = item.get("data").and_then(Value::as_object);
        crate::engine::push_item(
            ty,
            index,
            text(item, "id").as_deref(),
            text(item, "internal_id").as_deref(),
            |name| {
                data.and_then(|data| data.get(name))
                    .map(|value| match value {
                        Value::String(text) => ItemField::Text(text),
                        Value::Null => ItemField::Null,
                        _ => ItemField::Other,
                    })
            },
        )
    });
    Ok(TriggerRequest {
        session_id: checked_id(&session_id, EngineError::SessionNotFound)?,
        direction,
        endgrate_type,
        synchronous,
        bypass_rate_limit,
        webhooks,
        params,
        items,
    })
}

fn too_many_items() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "transfer_data exceeds the limit of 10,000 items.",
    )
}

/// Validates `count` items against the type `endgrate_type` names, stopping at the first
/// failure; no items when it names no type (the engine refuses the type first).
fn validated_items(
    endgrate_type: &str,
    count: usize,
    item: impl Fn(EndgrateType, usize) -> Result<PushItem, EngineError>,
) -> Result<Vec<PushItem>, EngineError> {
    match EndgrateType::parse(endgrate_type) {
        Some(ty) => (0..count).map(|index| item(ty, index)).collect(),
        None => Ok(Vec::new()),
    }
}

/// The typed reader of a push trigger, for the common body: `session_id`, `endgrate_type`,
/// optional flags and a non-empty `transfer_data` of well-formed items, no webhook objects.
/// `None` hands the body to [`trigger_request`], which reads anything else with the exact
/// errors; when this reader answers, it gives what that one would.
fn fast_push_trigger(body: &Bytes) -> Option<Result<TriggerRequest, ApiError>> {
    let parsed: FastTrigger<'_> = serde_json::from_slice(body).ok()?;
    if parsed.webhooks.iter().any(|&present| present) {
        return None;
    }
    let session_id = parsed.session_id?;
    let endgrate_type = parsed.endgrate_type?;
    let items = parsed
        .transfer_data
        .map(|items| items.0)
        .filter(|items| !items.is_empty())?;
    let non_empty = |text: &Option<Text<'_>>| text.as_ref().is_none_or(|text| !text.0.is_empty());
    if !items
        .iter()
        .all(|item| item.data.is_some() && non_empty(&item.id) && non_empty(&item.internal_id))
    {
        return None;
    }
    if items.len() > TRANSFER_ITEMS_MAX {
        return Some(Err(too_many_items()));
    }
    let validated = validated_items(endgrate_type.as_str(), items.len(), |ty, index| {
        let item = &items[index];
        let data = item.data.as_ref();
        crate::engine::push_item(
            ty,
            index,
            item.id.as_ref().map(Text::as_str),
            item.internal_id.as_ref().map(Text::as_str),
            |name| {
                data.and_then(|data| data.get(name))
                    .map(|value| match value {
                        DataValue::Text(text) => ItemField::Text(text),
                        DataValue::Null => ItemField::Null,
                        DataValue::Other => ItemField::Other,
                    })
            },
        )
    });
    Some(
        checked_id(session_id.as_str(), EngineError::SessionNotFound).map(|session_id| {
            TriggerRequest {
                session_id,
                direction: Direction::Push,
                endgrate_type: endgrate_type.0.into_owned(),
                synchronous: parsed.synchronous.unwrap_or(false),
                bypass_rate_limit: parsed.bypass_rate_limit.unwrap_or(false),
                webhooks: WebhookSet::default(),
                params: Map::new(),
                items: validated,
            }
        }),
    )
}

#[derive(Default)]
struct FastTrigger<'de> {
    session_id: Option<Text<'de>>,
    endgrate_type: Option<Text<'de>>,
    synchronous: Option<bool>,
    bypass_rate_limit: Option<bool>,
    transfer_data: Option<FastItems<'de>>,
    /// Whether `completed_webhook`, `data_webhook` and `error_webhook` are present and not
    /// null: a body with any is left to the `Value` reader.
    webhooks: [bool; 3],
}

#[derive(Default)]
struct FastItem<'de> {
    id: Option<Text<'de>>,
    internal_id: Option<Text<'de>>,
    data: Option<ItemData<'de>>,
}

/// Every schema field name of every type, in one list (`ItemData`'s slots).
fn schema_field_names() -> impl Iterator<Item = &'static str> {
    EndgrateType::ALL
        .into_iter()
        .flat_map(|ty| ty.fields().iter().map(|field| field.name))
}

/// The slot of a schema field name in `ItemData`.
fn field_slot(name: &str) -> Option<usize> {
    schema_field_names().position(|field| field == name)
}

/// A push item's `data`, keeping only the values of schema fields (of any type: the trigger's
/// type may come later in the body), the last of a repeated key winning; others are skipped
/// unread, since validation ignores them.
#[derive(Default)]
struct ItemData<'de> {
    slots: [Option<DataValue<'de>>; ITEM_DATA_SLOTS],
}

/// A `data` value as validation sees it: a string (borrowed where it can be), null, or
/// anything else (read past, not kept).
enum DataValue<'de> {
    Text(Cow<'de, str>),
    Null,
    Other,
}

impl<'de> Deserialize<'de> for DataValue<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DataVisitor;
        impl<'de> Visitor<'de> for DataVisitor {
            type Value = DataValue<'de>;
            fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
                Ok(DataValue::Text(Cow::Borrowed(text)))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
                Ok(DataValue::Text(Cow::Owned(text.to_owned())))
            }
            fn visit_string<E: de::Error>(self, text: String) -> Result<Self::Value, E> {
                Ok(DataValue::Text(Cow::Owned(text)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(DataValue::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(DataValue::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, inner: D) -> Result<Self::Value, D::Error> {
                DataValue::deserialize(inner)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(DataValue::Other)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(DataValue::Other)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(DataValue::Other)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(DataValue::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(DataValue::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                // An object led by serde_json's raw-value key goes to the `Value` reader
                // (see `wire::RAW_VALUE_TOKEN`).
                if let Some(first) = map.next_key::<Text<'de>>()? {
                    if first.as_str() == crate::wire::RAW_VALUE_TOKEN {
                        return Err(de::Error::custom("serde_json's raw-value key"));
                    }
                    map.next_value::<IgnoredAny>()?;
                    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                }
                Ok(DataValue::Other)
            }
        }
        deserializer.deserialize_any(DataVisitor)
    }
}

/// `transfer_data`'s items, collected into a vector that starts with room for a typical push
/// (JSON gives no length, and an item is a few hundred bytes to move at each doubling).
struct FastItems<'de>(Vec<FastItem<'de>>);

impl<'de> Deserialize<'de> for FastItems<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ItemsVisitor;
        impl<'de> Visitor<'de> for ItemsVisitor {
            type Value = FastItems<'de>;
            fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str("an array of items")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(256).min(1024));
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(FastItems(items))
            }
        }
        deserializer.deserialize_seq(ItemsVisitor)
    }
}

/// How many schema field names there are over all types.
const ITEM_DATA_SLOTS: usize = 7;

impl<'de> ItemData<'de> {
    fn get(&self, name: &str) -> Option<&DataValue<'de>> {
        self.slots.get(field_slot(name)?)?.as_ref()
    }
}

impl<'de> ObjectFields<'de> for ItemData<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: Text<'de>, map: &mut A) -> Result<(), A::Error> {
        match field_slot(key.as_str()).and_then(|slot| self.slots.get_mut(slot)) {
            Some(slot) => *slot = Some(map.next_value()?),
            None => skip(map)?,
        }
        Ok(())
    }
}

crate::deserialize_object!(FastTrigger, ItemData);

impl<'de> ObjectFields<'de> for FastTrigger<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: Text<'de>, map: &mut A) -> Result<(), A::Error> {
        match key.as_str() {
            "session_id" => self.session_id = map.next_value()?,
            "endgrate_type" => self.endgrate_type = map.next_value()?,
            "synchronous" => self.synchronous = map.next_value()?,
            "bypass_rate_limit" => self.bypass_rate_limit = map.next_value()?,
            "transfer_data" => self.transfer_data = map.next_value()?,
            "completed_webhook" | "data_webhook" | "error_webhook" => {
                let slot = match key.as_str() {
                    "completed_webhook" => 0,
                    "data_webhook" => 1,
                    _ => 2,
                };
                // The last of a repeated key counts, as in the `Value` reader.
                self.webhooks[slot] = map.next_value::<Option<IgnoredAny>>()?.is_some();
            }
            _ => skip(map)?,
        }
        Ok(())
    }
}

crate::object_fields! {
    FastItem {
        "id" => id,
        "internal_id" => internal_id,
        "data" => data,
    }
}

/// The structure of one push item (TRANSFER-5, TRANSFER-6): an object with an object `data`,
/// and non-empty string `id` and `internal_id` when present. Its `data` is validated against the
/// schema later, by the engine, once the session is known.
fn check_item_structure(index: usize, item: &Value) -> Result<(), ApiError> {
    let path = |suffix: &str| format!("transfer_data[{index}]{suffix}");
    let Some(object) = item.as_object() else {
        return Err(ApiError::field(path(""), "must be an object"));
    };
    for name in ["id", "internal_id"] {
        match object.get(name) {
            None | Some(Value::Null) => {}
            Some(Value::String(text)) if !text.is_empty() => {}
            Some(_) => {
                return Err(ApiError::field(
                    path(&format!(".{name}")),
                    "must be a non-empty string",
                ));
            }
        }
    }
    match object.get("data") {
        Some(Value::Object(_)) => Ok(()),
        None | Some(Value::Null) => Err(ApiError::field(path(".data"), "is required")),
        Some(_) => Err(ApiError::field(path(".data"), "must be an object")),
    }
}

/// `limit` and `offset` of a paged read, validated.
fn paging(query: &Query) -> Result<(u64, u64), ApiError> {
    let limit = match query.get("limit") {
        None => PAGE_LIMIT_DEFAULT,
        Some(text) => match text.parse::<u64>() {
            Ok(limit) if (1..=PAGE_LIMIT_MAX).contains(&limit) => limit,
            _ => {
                return Err(ApiError::field(
                    "limit",
                    "must be an integer from 1 to 1000",
                ));
            }
        },
    };
    let offset = match query.get("offset") {
        None => 0,
        Some(text) => text
            .parse::<u64>()
            .map_err(|_| ApiError::field("offset", "must be a non-negative integer"))?,
    };
    Ok((limit, offset))
}

/// `meta` of a paged read, with links relative to the base URL.
fn meta(path: &str, fixed: &[(&str, &str)], count: usize, limit: u64, offset: u64) -> Value {
    let link = |offset: u64| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in fixed {
            query.append_pair(name, value);
        }
        query.append_pair("limit", &limit.to_string());
        query.append_pair("offset", &offset.to_string());
        json!({"offset": offset, "link": format!("{path}?{}", query.finish())})
    };
    let mut meta = json!({"count": count});
    if offset > 0 {
        meta["previous"] = link(offset.saturating_sub(limit));
    }
    if offset.saturating_add(limit) < count as u64 {
        meta["next"] = link(offset + limit);
    }
    meta
}

fn page_of<T>(items: &[T], limit: u64, offset: u64) -> &[T] {
    &items[page_range(items.len(), limit, offset)]
}

/// The positions of page (`limit`, `offset`) among `len` items.
fn page_range(len: usize, limit: u64, offset: u64) -> std::ops::Range<usize> {
    let start = usize::try_from(offset).unwrap_or(usize::MAX).min(len);
    let end = start
        .saturating_add(usize::try_from(limit).unwrap_or(usize::MAX))
        .min(len);
    start..end
}

fn read_data(
    engine: &Engine,
    now: Millis,
    key: &str,
    query: &Query,
    direction: Direction,
) -> Result<ApiOutcome, ApiError> {
    let (limit, offset) = paging(query)?;
    let transfer_id = query.required("transfer_id")?;
    let endgrate_type = match direction {
        Direction::Pull => query.get("endgrate_type"),
        Direction::Push => None,
    };
    let transfer_id = checked_id(transfer_id, EngineError::TransferNotFound)?;
    let transfer = engine.readable_transfer(now, key, &transfer_id, direction, endgrate_type)?;
    let path = format!("/api/{}/data", direction.as_str());
    let mut fixed = vec![("transfer_id", transfer_id.as_str())];
    if let Some(ty) = endgrate_type {
        fixed.push(("endgrate_type", ty));
    }
    Ok(ApiOutcome::Respond(bytes_response(
        now,
        StatusCode::OK,
        data_page(transfer, &path, &fixed, limit, offset),
    )))
}

/// The body of a data page. Written directly rather than built as a `Value`: a page holds up
/// to 1,000 records. The bytes are those of `{"success", "completed", "transfer_errors",
/// "meta", "transfer_data"}` serialised (a test holds the two equal).
fn data_page(
    transfer: &Transfer,
    path: &str,
    fixed: &[(&str, &str)],
    limit: u64,
    offset: u64,
) -> Vec<u8> {
    let count = match transfer.direction {
        Direction::Pull => transfer.pulled.len(),
        Direction::Push => transfer.items.len(),
    };
    let mut body = JsonWriter::with_capacity(256 + 128 * limit.min(count as u64) as usize);
    body.raw("{\"success\":true,\"completed\":")
        .bool(transfer.state == crate::engine::TransferState::Completed)
        .raw(",\"transfer_errors\":")
        .bool(transfer.transfer_errors())
        .raw(",\"meta\":")
        .value(&meta(path, fixed, count, limit, offset))
        .raw(",\"transfer_data\":[");
    let mut first = true;
    match transfer.direction {
        Direction::Pull => {
            for item in page_of(&transfer.pulled, limit, offset) {
                body.comma(&mut first);
                write_pull_item(&mut body, item);
            }
        }
        Direction::Push => {
            for index in page_range(transfer.items.len(), limit, offset) {
                body.comma(&mut first);
                write_push_item(&mut body, transfer, index);
            }
        }
    }
    body.raw("]}");
    body.into_bytes()
}

/// Writes a pull item as [`pull_item_json`] serialises.
fn write_pull_item(body: &mut JsonWriter, item: &PullItem) {
    body.raw("{").key("id").string(&item.id);
    match &item.data {
        Some(data) => body.raw(",").key("data").raw(data.as_json()),
        None => body.raw(",\"deleted\":true,\"data\":null"),
    };
    body.raw("}");
}

/// Writes a push item's outcome as [`push_item_json`] serialises.
fn write_push_item(body: &mut JsonWriter, transfer: &Transfer, index: usize) {
    let item = &transfer.items[index];
    let outcome = transfer.outcomes.get(index).and_then(Option::as_ref);
    body.raw("{").key("index").number(index as u64);
    let id = outcome.and_then(|o| o.id.as_deref()).or(item.id.as_deref());
    if let Some(id) = id {
        body.raw(",").key("id").string(id);
    }
    if let Some(internal_id) = &item.internal_id {
        body.raw(",").key("internal_id").string(internal_id);
    }
    body.raw(",")
        .key("success")
        .bool(outcome.is_some_and(|o| o.success));
    if let Some(created) = outcome.and_then(|o| o.created) {
        body.raw(",").key("created").bool(created);
    }
    if let Some((error_type, text)) = outcome.and_then(|o| o.error.as_deref()) {
        body.raw(",")
            .key("error")
            .raw("{")
            .key("error_type")
            .string(error_type.as_str())
            .raw(",")
            .key("error_resolve_text")
            .string(text)
            .raw("}");
    }
    body.raw("}");
}

/// A pull item as `/data` and data webhooks show it.
pub fn pull_item_json(item: &PullItem) -> Value {
    match &item.data {
        Some(data) => json!({"id": item.id, "data": data.to_value()}),
        None => json!({"id": item.id, "deleted": true, "data": null}),
    }
}

/// A push item's outcome as `/data` and data webhooks show it.
pub fn push_item_json(transfer: &Transfer, index: usize) -> Value {
    let item = &transfer.items[index];
    let mut value = json!({"index": index});
    let outcome = transfer.outcomes.get(index).and_then(Option::as_ref);
    let id = outcome
        .and_then(|o| o.id.clone())
        .or_else(|| item.id.clone());
    if let Some(id) = id {
        value["id"] = json!(id);
    }
    if let Some(internal_id) = &item.internal_id {
        value["internal_id"] = json!(internal_id);
    }
    value["success"] = json!(outcome.is_some_and(|o| o.success));
    if let Some(created) = outcome.and_then(|o| o.created) {
        value["created"] = json!(created);
    }
    if let Some((error_type, text)) = outcome.and_then(|o| o.error.as_deref()) {
        value["error"] = json!({"error_type": error_type.as_str(), "error_resolve_text": text});
    }
    value
}

/// An error record as `/api/errors` and error webhooks show it.
pub fn error_json(error: &ErrorRecord) -> Value {
    let mut value = json!({
        "pk": error.pk,
        "transfer_id": error.transfer_id,
        "session_id": error.session_id,
        "timestamp": rfc3339(error.timestamp),
        "error_type": error.error_type.as_str(),
        "error_resolve_text": error.resolve_text,
        "resolved": false,
    });
    if let Some(index) = error.index {
        value["index"] = json!(index);
    }
    if let Some(internal_id) = &error.internal_id {
        value["internal_id"] = json!(internal_id);
    }
    value
}

fn read_errors(
    engine: &Engine,
    now: Millis,
    key: &str,
    query: &Query,
) -> Result<ApiOutcome, ApiError> {
    let (limit, offset) = paging(query)?;
    let session_id = match query.get("session_id") {
        Some(id) => Some(checked_id(id, EngineError::SessionNotFound)?),
        None => None,
    };
    let transfer_id = match query.get("transfer_id") {
        Some(id) => Some(checked_id(id, EngineError::TransferNotFound)?),
        None => None,
    };
    let errors = engine.errors(now, key, session_id.as_deref(), transfer_id.as_deref())?;
    let mut fixed = Vec::new();
    if let Some(id) = &session_id {
        fixed.push(("session_id", id.as_str()));
    }
    if let Some(id) = &transfer_id {
        fixed.push(("transfer_id", id.as_str()));
    }
    let page: Vec<Value> = page_of(&errors, limit, offset)
        .iter()
        .map(|e| error_json(e))
        .collect();
    ok(
        now,
        json!({"success": true, "meta": meta("/api/errors", &fixed, errors.len(), limit, offset), "errors": page}),
    )
}

/// Decoded query parameters; the first occurrence of a name wins.
#[derive(Debug, Default)]
struct Query(BTreeMap<String, String>);

impl Query {
    fn parse(query: Option<&str>) -> Self {
        let mut pairs = BTreeMap::new();
        for (name, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            pairs
                .entry(name.into_owned())
                .or_insert_with(|| value.into_owned());
        }
        Self(pairs)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    fn required(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name)
            .ok_or_else(|| ApiError::field(name, "is required"))
    }
}

/// A JSON object body, with typed, path-naming accessors.
#[derive(Debug)]
struct Fields(Map<String, Value>);

impl Fields {
    fn parse(body: &Bytes) -> Result<Self, ApiError> {
        let value: Value = serde_json::from_slice(body).map_err(|error| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("Request body is not valid JSON: {error}."),
            )
        })?;
        match value {
            Value::Object(object) => Ok(Self(object)),
            _ => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "Request body must be a JSON object.",
            )),
        }
    }

    /// Like [`Fields::parse`], but an empty body is an empty object.
    fn parse_optional(body: &Bytes) -> Result<Self, ApiError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            Ok(Self(Map::new()))
        } else {
            Self::parse(body)
        }
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    fn required_string(&self, name: &str) -> Result<String, ApiError> {
        match self.0.get(name) {
            Some(Value::String(text)) => Ok(text.clone()),
            None | Some(Value::Null) => Err(ApiError::field(name, "is required")),
            Some(_) => Err(ApiError::field(name, "must be a string")),
        }
    }

    fn optional_string(&self, name: &str) -> Result<Option<String>, ApiError> {
        match self.0.get(name) {
            Some(Value::String(text)) => Ok(Some(text.clone())),
            None | Some(Value::Null) => Ok(None),
            Some(_) => Err(ApiError::field(name, "must be a string")),
        }
    }

    fn optional_bool(&self, name: &str) -> Result<bool, ApiError> {
        match self.0.get(name) {
            Some(Value::Bool(flag)) => Ok(*flag),
            None | Some(Value::Null) => Ok(false),
            Some(_) => Err(ApiError::field(name, "must be a boolean")),
        }
    }

    fn webhook(&self, name: &str) -> Result<Option<WebhookTarget>, ApiError> {
        let object = match self.0.get(name) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Object(object)) => object,
            Some(_) => return Err(ApiError::field(name, "must be an object")),
        };
        let endpoint = match object.get("endpoint") {
            Some(Value::String(endpoint))
                if valid_base_url(endpoint)
                    || endpoint
                        .parse::<http::Uri>()
                        .is_ok_and(|u| u.scheme().is_some() && u.authority().is_some()) =>
            {
                endpoint.clone()
            }
            Some(Value::String(_)) => {
                return Err(ApiError::field(
                    format!("{name}.endpoint"),
                    "must be an absolute http or https URL",
                ));
            }
            None | Some(Value::Null) => {
                return Err(ApiError::field(format!("{name}.endpoint"), "is required"));
            }
            Some(_) => {
                return Err(ApiError::field(
                    format!("{name}.endpoint"),
                    "must be a string",
                ));
            }
        };
        let metadata = match object.get("metadata") {
            None | Some(Value::Null) => json!({}),
            Some(Value::Object(metadata)) => Value::Object(metadata.clone()),
            Some(_) => {
                return Err(ApiError::field(
                    format!("{name}.metadata"),
                    "must be an object",
                ));
            }
        };
        Ok(Some(WebhookTarget { endpoint, metadata }))
    }

    fn webhooks(&self, with_configuration: bool) -> Result<WebhookSet, ApiError> {
        Ok(WebhookSet {
            configuration: if with_configuration {
                self.webhook("configuration_webhook")?
            } else {
                None
            },
            completed: self.webhook("completed_webhook")?,
            data: self.webhook("data_webhook")?,
            error: self.webhook("error_webhook")?,
        })
    }
}

#[cfg(test)]
mod tests;
