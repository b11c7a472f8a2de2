//! The engine's vocabulary: ids, sessions, transfers, error records, commands' inputs and the
//! outputs a driver carries out.

use std::collections::{BTreeMap, VecDeque};

use serde_json::Value;
use transfersim_mock_providers::{Millis, ProviderRequest};

use crate::schema::{EndgrateType, Filter, MappedData, RecordData};

/// Sessions, transfers and errors are named by 24 lowercase hex characters.
pub type Id = String;

/// Whether a string is shaped like an id; anything else is unknown (404) without a lookup.
pub fn is_id(text: &str) -> bool {
    text.len() == 24
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Which transfers a session allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    PushAndPull,
    Pull,
    Push,
}

impl SessionKind {
    /// Whether this kind allows transfers in `direction`.
    pub fn allows(self, direction: Direction) -> bool {
        match self {
            SessionKind::PushAndPull => true,
            SessionKind::Pull => direction == Direction::Pull,
            SessionKind::Push => direction == Direction::Push,
        }
    }
}

/// A transfer's direction: pull reads from the provider, push writes to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Direction {
    Pull,
    Push,
}

impl Direction {
    /// The wire word, as in `/api/pull/...`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Pull => "pull",
            Direction::Push => "push",
        }
    }
}

/// The supported providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ProviderName {
    Hubspot,
    Salesforce,
}

impl ProviderName {
    /// Every provider, in the order `/api/integrations` lists them.
    pub const ALL: [ProviderName; 2] = [ProviderName::Hubspot, ProviderName::Salesforce];

    pub fn as_str(self) -> &'static str {
        match self {
            ProviderName::Hubspot => "hubspot",
            ProviderName::Salesforce => "salesforce",
        }
    }

    pub fn display_name(self) -> &'static str {
        match self {
            ProviderName::Hubspot => "HubSpot",
            ProviderName::Salesforce => "Salesforce",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|provider| provider.as_str() == text)
    }

    /// `provider_info` as the configuration body and `/api/integrations` show it.
    pub fn info(self) -> Value {
        serde_json::json!({
            "name": self.as_str(),
            "display_name": self.display_name(),
            "auth_type": "oauth",
            "endgrate_provider_type": "CRM",
        })
    }
}

/// A webhook object of initiate or trigger.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookTarget {
    pub endpoint: String,
    /// Echoed in every payload; `{}` when absent.
    pub metadata: Value,
}

/// The four webhook objects a session or transfer may carry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WebhookSet {
    pub configuration: Option<WebhookTarget>,
    pub completed: Option<WebhookTarget>,
    pub data: Option<WebhookTarget>,
    pub error: Option<WebhookTarget>,
}

/// A validated initiate body.
#[derive(Debug, Clone)]
pub struct InitiateRequest {
    pub kind: SessionKind,
    pub types: Vec<EndgrateType>,
    pub provider: Option<ProviderName>,
    pub sync: bool,
    pub save_session: bool,
    pub webhook_concurrency: bool,
    pub label: Option<String>,
    pub webhooks: WebhookSet,
}

/// The credentials a configuration binds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Credentials {
    pub refresh_token: String,
    pub client_id: String,
    pub client_secret: String,
}

/// A validated configure body (test helper, or the hosted flow).
#[derive(Debug, Clone)]
pub struct ConfigureRequest {
    pub session_id: Id,
    pub provider: ProviderName,
    pub base_url: String,
    pub credentials: Credentials,
}

/// Names a provider connection: (provider, base URL, client id, refresh token as configured).
/// Sessions configured with the same four share one token state and one budget.
pub type ConnectionKey = (ProviderName, String, String, String);

/// What configuration bound to a session.
#[derive(Debug, Clone)]
pub struct Binding {
    pub provider: ProviderName,
    pub base_url: String,
    pub credentials: Credentials,
    pub connection: ConnectionKey,
}

/// A session and its per-session queue.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: Id,
    pub key: String,
    pub kind: SessionKind,
    pub types: Vec<EndgrateType>,
    pub provider: Option<ProviderName>,
    pub created_at: Millis,
    pub save_session: bool,
    pub sync: bool,
    pub webhook_concurrency: bool,
    pub label: Option<String>,
    pub webhooks: WebhookSet,
    pub binding: Option<Binding>,
    pub needs_reauthentication: bool,
    /// Transfers waiting for configuration or their turn, in trigger order.
    pub queue: VecDeque<Id>,
    /// The one transfer running now.
    pub running: Option<Id>,
    /// `internal_id` → provider id, per type, learnt from pushes.
    pub internal_ids: BTreeMap<(EndgrateType, String), String>,
    /// The record set of the last clean pull per type, in provider order, for sync pulls.
    pub baselines: BTreeMap<EndgrateType, Vec<SeenRecord>>,
}

/// A record as a pull saw it: provider id and mapped data.
pub type SeenRecord = (String, MappedData);

/// A transfer's lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferState {
    Queued,
    Running,
    Completed,
}

impl TransferState {
    pub fn as_str(self) -> &'static str {
        match self {
            TransferState::Queued => "queued",
            TransferState::Running => "running",
            TransferState::Completed => "completed",
        }
    }
}

/// One item of a push, validated. Kept small (a transfer holds up to 10,000, and the standard
/// workload a million): boxed strings, and the external id it upserts on (its `internal_id`,
/// else `<transfer id>-<index>`) derived when a batch is built rather than stored.
#[derive(Debug, Clone, PartialEq)]
pub struct PushItem {
    pub id: Option<Box<str>>,
    pub internal_id: Option<Box<str>>,
    pub data: RecordData,
}

/// What became of one push item (32 bytes: the rare error is boxed).
#[derive(Debug, Clone, PartialEq)]
pub struct PushOutcome {
    pub success: bool,
    pub id: Option<Box<str>>,
    pub created: Option<bool>,
    pub error: Option<Box<(ErrorType, String)>>,
}

/// One delivered pull item; `data: None` marks a deletion (sync pulls).
#[derive(Debug, Clone, PartialEq)]
pub struct PullItem {
    pub id: String,
    pub data: Option<MappedData>,
}

/// The kinds of error record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    Internal,
    TransferData,
    Upstream,
    Authentication,
}

impl ErrorType {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::Internal => "internal",
            ErrorType::TransferData => "transfer_data",
            ErrorType::Upstream => "upstream",
            ErrorType::Authentication => "authentication",
        }
    }
}

/// One error record (CONTRACT.md section 5).
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorRecord {
    pub pk: Id,
    pub key: String,
    pub transfer_id: Option<Id>,
    pub session_id: Id,
    pub timestamp: Millis,
    pub error_type: ErrorType,
    pub resolve_text: String,
    pub index: Option<usize>,
    pub internal_id: Option<String>,
}

/// Where a transfer's pipeline stands between provider requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Not started, or between requests.
    Idle,
    /// A request is out; its outcome will come back under this provider call id.
    InFlight(u64),
    /// Waiting for a retry or rate-limit timer.
    Waiting,
    /// Waiting for its connection's token refresh.
    WaitingForToken,
}

/// A transfer and its progress.
#[derive(Debug, Clone)]
pub struct Transfer {
    pub id: Id,
    pub key: String,
    pub session_id: Id,
    pub direction: Direction,
    pub endgrate_type: EndgrateType,
    pub state: TransferState,
    pub triggered_at: Millis,
    pub started_at: Option<Millis>,
    pub completed_at: Option<Millis>,
    pub bypass_rate_limit: bool,
    pub webhooks: WebhookSet,
    pub filters: Vec<Filter>,
    pub step: Step,
    /// Attempts of the current request that drew a transient failure.
    pub attempts: u32,
    /// When the current request first drew a rate-limit answer, while it draws nothing else.
    pub rate_limited_since: Option<Millis>,
    pub error_count: usize,
    /// The access token the current request went out with.
    pub token_used: Option<String>,
    /// Whether the current request already drew a 401 and a refresh (a second 401 fails it).
    pub refreshed_after_401: bool,
    /// Set when a refresh this transfer waited for just finished: send without re-checking.
    pub fresh_token: bool,
    /// When the current request was sent (the pacing log's entry for it).
    pub sent_at: Millis,
    /// Error records whose error webhooks wait for the current batch's data webhook.
    pub pending_error_webhooks: Vec<Id>,
    // Push progress.
    pub items: Vec<PushItem>,
    pub outcomes: Vec<Option<PushOutcome>>,
    pub batch_index: usize,
    pub sub_request_index: usize,
    pub batches_success: u64,
    pub batches_fail: u64,
    pub batch_had_failure: bool,
    // Pull progress.
    pub cursor: Option<String>,
    pub pulled: Vec<PullItem>,
    pub pages_read: u64,
    pub pages_failed: u64,
    pub records_read: u64,
    /// Every record read so far, unfiltered, for the sync baseline (kept by sync sessions
    /// only).
    pub seen: Vec<SeenRecord>,
}

impl Transfer {
    /// Whether the transfer has produced at least one error record.
    pub fn transfer_errors(&self) -> bool {
        self.error_count > 0
    }
}

/// A validated trigger.
#[derive(Debug, Clone)]
pub struct TriggerRequest {
    pub session_id: Id,
    pub direction: Direction,
    pub endgrate_type: String,
    pub synchronous: bool,
    pub bypass_rate_limit: bool,
    pub webhooks: WebhookSet,
    /// Raw `params` (pull); validated against the session's schema once the session is known.
    pub params: serde_json::Map<String, Value>,
    /// `transfer_data` (push), validated by the API layer against the schema of the type that
    /// `endgrate_type` names (empty when it names none, or for a pull). The engine reports the
    /// first item's error only after its session, direction and type checks pass, in the order
    /// of CONTRACT.md section 8.
    pub items: Result<Vec<PushItem>, super::EngineError>,
}

/// How a trigger was answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Triggered {
    /// Asynchronous: answered at once.
    Queued { transfer_id: Id },
    /// Synchronous: answered later by an [`Output::SyncAnswer`] with this call id.
    Pending { transfer_id: Id, call: u64 },
}

/// How an open synchronous call ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncEnd {
    /// The transfer completed in time: 200 `completed: true`.
    Completed,
    /// The cap passed first: 202 `completed: false`.
    Capped,
    /// The session was deleted or expired: 404.
    SessionGone,
    /// The server is shutting down: 503.
    ShuttingDown,
}

/// Work the engine hands its driver. Short-lived (drained after every input), so the size of
/// the request variant does not matter.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub enum Output {
    /// Send this request; report its outcome with `Engine::on_provider_outcome(call, ..)`.
    ProviderCall { call: u64, request: ProviderRequest },
    /// Answer an open synchronous trigger.
    SyncAnswer {
        call: u64,
        transfer_id: Id,
        end: SyncEnd,
    },
    /// Deliver one webhook attempt (signed, bytes final); report how it ended with
    /// `Engine::on_webhook_result(delivery, ..)` at the instant it ended.
    WebhookDelivery {
        delivery: u64,
        endpoint: String,
        headers: http::HeaderMap,
        body: bytes::Bytes,
    },
    /// One line of the trace (the driver stamps the time).
    Trace(String),
}
