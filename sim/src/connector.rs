//! The per-provider connector: how a transfer's pages and batches become provider requests in
//! the provider's wire format, and how answers become records and item results.
//!
//! **Boundary:** a connector builds and parses bytes only. It never decides retries, pacing,
//! ordering or time; the engine's pipeline does, the same way for every provider.

use std::borrow::Cow;
use std::fmt::Debug;

use bytes::Bytes;
use serde_json::Value;
use transfersim_mock_providers::{ProviderRequest, ProviderResponse};

use crate::schema::{EndgrateType, MappedData, RecordData};

/// What a connector needs to address one request.
#[derive(Debug, Clone)]
pub struct RequestContext<'a> {
    /// The provider base URL the session was configured with (no trailing slash).
    pub base_url: &'a str,
    /// Where API calls go: the token answer's `instance_url` where the provider gives one
    /// (salesforce), else `base_url`.
    pub api_base_url: &'a str,
    pub endgrate_type: EndgrateType,
    /// The current access token, for connectors that authenticate.
    pub access_token: Option<&'a str>,
}

/// One pulled record, mapped to the session schema.
#[derive(Debug, Clone, PartialEq)]
pub struct PulledRecord {
    pub id: String,
    pub data: MappedData,
}

/// One page of a pull.
#[derive(Debug, Clone, PartialEq)]
pub struct PulledPage {
    pub records: Vec<PulledRecord>,
    /// The cursor of the next page, `None` on the last.
    pub next_cursor: Option<String>,
}

/// A push item as the connector sees it: where it goes and what it carries. It borrows from the
/// transfer, so building a batch's items copies no record data.
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingItem<'a> {
    /// Position in the transfer's `transfer_data`.
    pub index: usize,
    /// Provider record id: an update.
    pub id: Option<&'a str>,
    /// External id to upsert on (the caller's `internal_id`, or one derived from the transfer).
    pub external_id: Cow<'a, str>,
    pub data: &'a RecordData,
}

/// The provider's verdict on one pushed item.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemResult {
    pub index: usize,
    pub outcome: Result<ItemWritten, String>,
}

/// A written item: its provider id and whether the provider created it.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemWritten {
    pub id: String,
    pub created: bool,
}

/// An answer the connector could not use: the batch or page fails as `upstream` at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unusable(pub String);

/// What a token refresh gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenGrant {
    pub access_token: String,
    /// A rotated refresh token, where the provider rotates.
    pub refresh_token: Option<String>,
    /// Lifetime, where the provider says (`expires_in`).
    pub expires_in_ms: Option<u64>,
    /// Where API calls go from now on (salesforce's `instance_url`).
    pub instance_url: Option<String>,
}

/// A provider's side of the pipeline. Object-safe, so the engine keeps one per provider name;
/// `Sync`, so a driver may read pages on another thread ([`crate::engine::PageParse`]).
pub trait Connector: Debug + Send + Sync {
    /// Items per logical push batch (the provider's maximum).
    fn push_batch_size(&self) -> usize;
    /// Records per pull page the connector asks for.
    fn pull_page_size(&self) -> usize;
    /// The request for the pull page at `cursor` (`None` for the first page).
    fn pull_request(&self, context: &RequestContext<'_>, cursor: Option<&str>) -> ProviderRequest;
    /// Parses a 2xx answer to [`Connector::pull_request`]. The page may depend on the answer
    /// and the context's `endgrate_type` only (it may be read ahead of delivery, on another
    /// thread, with the addresses of the request and no token).
    fn parse_pull(
        &self,
        context: &RequestContext<'_>,
        response: &ProviderResponse,
    ) -> Result<PulledPage, Unusable>;
    /// Splits one logical batch into provider requests (for example updates and upserts apart),
    /// each with the positions (within `items`) it carries. Sent in order, one at a time.
    fn push_requests(
        &self,
        context: &RequestContext<'_>,
        items: &[OutgoingItem<'_>],
    ) -> Vec<(Vec<usize>, ProviderRequest)>;
    /// The positions each request of [`Connector::push_requests`] carries, in the same order,
    /// without building the requests (the engine asks for them at every answer). The default
    /// builds them; connectors override it with their cheap split.
    fn push_split(
        &self,
        context: &RequestContext<'_>,
        items: &[OutgoingItem<'_>],
    ) -> Vec<Vec<usize>> {
        self.push_requests(context, items)
            .into_iter()
            .map(|(positions, _)| positions)
            .collect()
    }
    /// The budget to pace to before the provider's headers say otherwise; `None` for a
    /// provider without a known budget (no pacing).
    fn default_budget(&self) -> Option<crate::engine::Budget> {
        None
    }
    /// The usage an answer's headers report, where the provider reports it.
    fn reported_usage(&self, response: &ProviderResponse) -> Option<crate::engine::ReportedUsage> {
        let _ = response;
        None
    }
    /// Whether an answer is the provider's rate-limit answer.
    fn is_rate_limit(&self, response: &ProviderResponse) -> bool {
        response.status() == http::StatusCode::TOO_MANY_REQUESTS
    }
    /// How long to wait after a rate-limit answer the log cannot explain (another app used the
    /// budget): one window for a short window, an hourly probe for a daily quota.
    fn unexplained_rate_limit_wait_ms(&self) -> u64 {
        10_000
    }
    /// Whether requests need an access token from [`Connector::token_request`].
    fn authenticates(&self) -> bool {
        false
    }
    /// The token refresh request, or `None` for a provider without authentication.
    fn token_request(
        &self,
        base_url: &str,
        refresh_token: &str,
        client_id: &str,
        client_secret: &str,
    ) -> Option<ProviderRequest> {
        let _ = (base_url, refresh_token, client_id, client_secret);
        None
    }
    /// Parses a 2xx answer to [`Connector::token_request`].
    fn parse_token(&self, response: &ProviderResponse) -> Result<TokenGrant, Unusable> {
        let _ = response;
        Err(Unusable("this provider has no token endpoint".to_owned()))
    }
    /// Parses a 2xx answer to one request of [`Connector::push_requests`] for `items` (the ones it
    /// carried). Returns one result per item.
    fn parse_push(
        &self,
        context: &RequestContext<'_>,
        items: &[OutgoingItem<'_>],
        response: &ProviderResponse,
    ) -> Result<Vec<ItemResult>, Unusable>;
}

/// The split both real providers use: the positions of items without a provider `id` (upserts)
/// and of those with one (updates), each list in input order.
pub fn upserts_and_updates(items: &[OutgoingItem<'_>]) -> (Vec<usize>, Vec<usize>) {
    (0..items.len()).partition(|&position| items[position].id.is_none())
}

/// [`upserts_and_updates`] as [`Connector::push_split`] answers it: upserts first, then
/// updates, leaving out an empty side.
pub fn upserts_then_updates(items: &[OutgoingItem<'_>]) -> Vec<Vec<usize>> {
    let (upserts, updates) = upserts_and_updates(items);
    [upserts, updates]
        .into_iter()
        .filter(|positions| !positions.is_empty())
        .collect()
}

/// A provider answer's body as JSON.
pub fn json_body(response: &ProviderResponse) -> Result<Value, Unusable> {
    serde_json::from_slice(response.body())
        .map_err(|error| Unusable(format!("body is not JSON: {error}")))
}

/// The OAuth token answer both providers share: `access_token` (required) and a rotated
/// `refresh_token` (optional). Answers the body too, for the fields a provider adds, with
/// `expires_in_ms` and `instance_url` left for the connector to fill.
pub fn oauth_grant(response: &ProviderResponse) -> Result<(Value, TokenGrant), Unusable> {
    let body = json_body(response)?;
    let access_token = body
        .get("access_token")
        .and_then(Value::as_str)
        .ok_or_else(|| Unusable("no access_token".to_owned()))?
        .to_owned();
    let refresh_token = body
        .get("refresh_token")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok((
        body,
        TokenGrant {
            access_token,
            refresh_token,
            expires_in_ms: None,
            instance_url: None,
        },
    ))
}

/// Builds a form-encoded POST (token endpoints).
pub fn form_request(url: String, form: String) -> ProviderRequest {
    let builder = http::Request::builder()
        .method(http::Method::POST)
        .uri(url)
        .header(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        );
    match builder.body(Bytes::from(form)) {
        Ok(request) => request,
        Err(error) => panic!("connector built an invalid token request: {error}"),
    }
}

/// Builds a JSON request; connectors share it.
pub fn json_request(
    method: http::Method,
    url: String,
    token: Option<&str>,
    body: &Value,
) -> ProviderRequest {
    let bytes = if body.is_null() {
        Bytes::new()
    } else {
        Bytes::from(body.to_string())
    };
    json_bytes_request(method, url, token, bytes)
}

/// [`json_request`] with a body already written as JSON text (empty: no body).
pub fn json_bytes_request(
    method: http::Method,
    url: String,
    token: Option<&str>,
    bytes: Bytes,
) -> ProviderRequest {
    let mut builder = http::Request::builder().method(method).uri(url);
    if !bytes.is_empty() {
        builder = builder.header(http::header::CONTENT_TYPE, "application/json");
    }
    if let Some(token) = token {
        builder = builder.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    match builder.body(bytes) {
        Ok(request) => request,
        // Only an unparsable URL can fail here; a connector's URL comes from a validated base.
        Err(error) => panic!("connector built an invalid request: {error}"),
    }
}
