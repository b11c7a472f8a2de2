//! The engine: sessions, transfers, the per-session queue, the provider pipeline, synchronous
//! calls and error records, as a pure state machine.
//!
//! Every input carries `now`. Inputs are API commands (methods below), provider outcomes
//! ([`Engine::on_provider_outcome`]) and timer firings ([`Engine::fire_next_timer`]); outputs
//! ([`Output`]) are provider requests to send, synchronous answers and trace lines, drained with
//! [`Engine::take_outputs`].
//!
//! **Invariant:** the engine decides only from its inputs: no IO, no clock, no OS randomness, no
//! hash-map iteration. Same inputs, same outputs.
//!
//! **Invariant:** a session runs at most one transfer at a time, and a transfer has at most one
//! provider request in flight.

mod pacing;
mod types;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use base64::Engine as _;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use transfersim_mock_providers::{Millis, Outcome, ProviderRequest, ProviderResponse};

pub use pacing::{Budget, Pacer, ReportedUsage};
pub use types::*;

use crate::connector::{Connector, ItemResult, ItemWritten, OutgoingItem, RequestContext};
use crate::limits::{
    PROVIDER_ATTEMPTS_MAX, PROVIDER_BACKOFF_MS, QUEUED_TRANSFERS_MAX, RATE_LIMITED_GIVE_UP_MS,
    SESSION_LIFETIME_MS, SYNCHRONOUS_CAP_MS,
};
#[cfg(feature = "mutations")]
use crate::mutations::Mutation;
use crate::schema::{self, EndgrateType};
use crate::time::SECOND_MS;
use crate::webhook::outbox::{
    AttemptVerdict, DeliveryMode, Outbox, Webhook, WebhookKind, is_delivery_success,
};
use crate::webhook::signature;

/// Whether the engine runs with the named mutation. Without the `mutations` feature this is
/// `false` and the mutation names do not exist.
macro_rules! mutant {
    ($engine:expr, $name:ident) => {{
        #[cfg(feature = "mutations")]
        let on = $engine.config.mutation == Some(Mutation::$name);
        #[cfg(not(feature = "mutations"))]
        let on = false;
        on
    }};
}

/// How an engine instance is set up.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Root of every id and secret the engine mints.
    pub seed: u64,
    /// Keys valid from the start.
    pub api_keys: Vec<String>,
    /// The webhook secret of the keys above (`whsec_...`); minted per key when absent.
    pub webhook_secret: Option<String>,
    /// Whether the driver's clock is virtual (test helpers may advance it).
    pub virtual_clock: bool,
    /// The one deliberate bug this instance runs with.
    #[cfg(feature = "mutations")]
    pub mutation: Option<Mutation>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            api_keys: vec!["test_key".to_owned()],
            webhook_secret: None,
            virtual_clock: true,
            #[cfg(feature = "mutations")]
            mutation: None,
        }
    }
}

/// A caller's mistake or a lookup that found nothing; the API layer maps each to its status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("Invalid or expired session.")]
    SessionNotFound,
    #[error("Transfer not found.")]
    TransferNotFound,
    #[error("Unknown endgrate_type for this session.")]
    UnknownEndgrateType,
    #[error("This session does not support {} transfers.", .0.as_str())]
    WrongDirection(Direction),
    #[error("Session not yet configured.")]
    NotConfigured,
    #[error("Transfer has not yet completed.")]
    NotCompleted,
    #[error("Too many queued transfers.")]
    QueueFull,
    #[error("This transfer is a {} transfer; use /api/{}/data.", .0.as_str(), .0.as_str())]
    DataDirectionMismatch(Direction),
    #[error("endgrate_type does not match the transfer's type.")]
    EndgrateTypeMismatch,
    #[error("The session was initiated for provider {0}.")]
    ProviderMismatch(&'static str),
    /// A field failed validation: (field path, what is wrong).
    #[error("{0}: {1}")]
    Field(String, String),
}

/// A timer the engine has set, ordered by time, then class, then creation.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Timer {
    at: Millis,
    class: u8,
    seq: u64,
    kind: TimerKind,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKind {
    /// A session's 72 h lifetime ends.
    Expire(Id),
    /// A transfer's wait (backoff or rate limit) ends; resend its current request.
    Resume(Id),
    /// A synchronous call reaches its cap.
    SyncCap(u64),
    /// A failed token refresh is tried again.
    RefreshRetry(ConnectionKey),
    /// A token enters the last min(300 s, 10 %) of its life: refresh it if work still needs it.
    ProactiveRefresh(ConnectionKey),
    /// A session's webhook retry is due.
    WebhookWake(Id),
}

impl TimerKind {
    /// Expiry first at an instant; caps last, so that a completion at the cap's instant wins.
    fn class(&self) -> u8 {
        match self {
            TimerKind::Expire(_) => 0,
            TimerKind::Resume(_)
            | TimerKind::RefreshRetry(_)
            | TimerKind::ProactiveRefresh(_)
            | TimerKind::WebhookWake(_) => 1,
            TimerKind::SyncCap(_) => 2,
        }
    }
}

/// An open synchronous trigger.
#[derive(Debug, Clone)]
struct SyncCall {
    transfer_id: Id,
    session_id: Id,
}

/// Where a session's provider requests go and with which token.
#[derive(Debug, Clone)]
struct Route {
    base_url: String,
    api_base_url: String,
    access_token: Option<String>,
}

impl Route {
    fn context(&self, endgrate_type: EndgrateType) -> RequestContext<'_> {
        RequestContext {
            base_url: &self.base_url,
            api_base_url: &self.api_base_url,
            endgrate_type,
            access_token: self.access_token.as_deref(),
        }
    }
}

/// What a transfer's provider requests are built from: the transfer, the connector of its
/// session's provider, and the route of its connection. [`Engine::wire`] is the one lookup.
struct Wire<'a> {
    transfer: &'a Transfer,
    connector: &'a dyn Connector,
    route: Route,
}

impl Wire<'_> {
    fn context(&self) -> RequestContext<'_> {
        self.route.context(self.transfer.endgrate_type)
    }

    /// A push's current batch, and the requests the connector splits it into (each with the
    /// positions in the batch that it carries).
    fn batch_requests(
        &self,
        resend_as_create: bool,
    ) -> (Vec<OutgoingItem<'_>>, Vec<(Vec<usize>, ProviderRequest)>) {
        let batch = outgoing_batch(
            resend_as_create,
            self.transfer,
            self.connector.push_batch_size(),
        );
        let requests = self.connector.push_requests(&self.context(), &batch);
        (batch, requests)
    }

    /// A push's current batch, and the positions each of its requests carries (as
    /// [`Wire::batch_requests`], without building the requests).
    fn batch_split(&self, resend_as_create: bool) -> (Vec<OutgoingItem<'_>>, Vec<Vec<usize>>) {
        let batch = outgoing_batch(
            resend_as_create,
            self.transfer,
            self.connector.push_batch_size(),
        );
        let split = self.connector.push_split(&self.context(), &batch);
        (batch, split)
    }
}

/// A pull page as its connector read it.
pub type ParsedPage = Result<crate::connector::PulledPage, crate::connector::Unusable>;

/// Everything reading a pull page's answer takes, owned, so that a driver can read it on
/// another thread ([`Engine::page_parse`]).
#[derive(Debug, Clone)]
pub struct PageParse {
    connector: Arc<dyn Connector>,
    endgrate_type: EndgrateType,
    base_url: String,
    api_base_url: String,
}

impl PageParse {
    /// The page, read as the engine would read it on delivery; `None` for an answer the engine
    /// does not read as a page (anything but a 2xx).
    pub fn parse(&self, response: &ProviderResponse) -> Option<ParsedPage> {
        if !response.status().is_success() {
            return None;
        }
        let context = RequestContext {
            base_url: &self.base_url,
            api_base_url: &self.api_base_url,
            endgrate_type: self.endgrate_type,
            access_token: None,
        };
        Some(self.connector.parse_pull(&context, response))
    }
}

/// A 2xx provider answer, parsed by the transfer's connector.
enum Parsed {
    Page(crate::connector::PulledPage),
    /// The indices (in `transfer_data`) of the items the request carried, and their results.
    Push(Vec<usize>, Vec<ItemResult>),
}

/// One provider connection: the token state shared by every session configured with the same
/// (provider, base URL, client id, refresh token as configured).
#[derive(Debug, Clone)]
struct Connection {
    provider: ProviderName,
    base_url: String,
    client_id: String,
    client_secret: String,
    /// The refresh token in use now (rotation replaces it).
    refresh_token: String,
    access_token: Option<String>,
    /// When the access token expires, where the provider said (`expires_in`).
    expires_at: Option<Millis>,
    lifetime_ms: Option<Millis>,
    api_base_url: String,
    /// The refresh in flight, if any: at most one per connection.
    refreshing: Option<u64>,
    refresh_attempts: u32,
    /// Transfers waiting for a token, in the order they asked.
    waiting: Vec<Id>,
    /// Refreshes done, for tests and invariants.
    refreshes: u64,
    /// The sliding-window log of this connection's budget; `None` where the provider has none.
    pacer: Option<Pacer>,
}

/// What a provider call in flight is for.
#[derive(Debug, Clone)]
enum InFlight {
    Transfer(Id),
    Refresh(ConnectionKey),
}

/// Per-key state.
#[derive(Debug, Clone, Default)]
struct KeyState {
    webhook_secret: Option<String>,
}

/// The pure transfer service.
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    connectors: BTreeMap<ProviderName, Arc<dyn Connector>>,
    rng: ChaCha8Rng,
    keys: BTreeMap<String, KeyState>,
    sessions: BTreeMap<Id, Session>,
    transfers: BTreeMap<Id, Transfer>,
    errors: Vec<ErrorRecord>,
    timers: BTreeSet<Timer>,
    timer_seq: u64,
    sync_calls: BTreeMap<u64, SyncCall>,
    next_sync_call: u64,
    in_flight: BTreeMap<u64, InFlight>,
    connections: BTreeMap<ConnectionKey, Connection>,
    /// One webhook outbox per session.
    outboxes: BTreeMap<Id, Outbox>,
    /// Webhook attempts out now: delivery id → (session, webhook id).
    deliveries: BTreeMap<u64, (Id, String)>,
    next_delivery: u64,
    next_provider_call: u64,
    outputs: VecDeque<Output>,
    /// Transfers waiting in a session queue, per key (the queue limit's count, kept as the
    /// queues change rather than counted over every transfer at each trigger).
    queued: BTreeMap<String, usize>,
}

impl Engine {
    /// A fresh engine with the keys of `config` and no connectors.
    pub fn new(config: EngineConfig) -> Self {
        let mut keys = BTreeMap::new();
        for key in &config.api_keys {
            keys.insert(
                key.clone(),
                KeyState {
                    webhook_secret: config.webhook_secret.clone(),
                },
            );
        }
        Self {
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            config,
            connectors: BTreeMap::new(),
            keys,
            sessions: BTreeMap::new(),
            transfers: BTreeMap::new(),
            errors: Vec::new(),
            timers: BTreeSet::new(),
            timer_seq: 0,
            sync_calls: BTreeMap::new(),
            next_sync_call: 1,
            in_flight: BTreeMap::new(),
            connections: BTreeMap::new(),
            outboxes: BTreeMap::new(),
            deliveries: BTreeMap::new(),
            next_delivery: 1,
            next_provider_call: 1,
            outputs: VecDeque::new(),
            queued: BTreeMap::new(),
        }
    }

    /// Installs the connector that serves `provider`'s sessions.
    pub fn set_connector(&mut self, provider: ProviderName, connector: Box<dyn Connector>) {
        self.connectors.insert(provider, Arc::from(connector));
    }

    /// The configuration this engine runs with.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    // ----- Driver interface -------------------------------------------------------------------

    /// Drains the outputs produced so far, oldest first.
    pub fn take_outputs(&mut self) -> Vec<Output> {
        self.outputs.drain(..).collect()
    }

    /// The earliest timer as (time, class). At one instant a driver runs its own events (API
    /// calls, provider outcomes) before the engine's timers, and timers in (time, class) order.
    pub fn next_timer(&self) -> Option<(Millis, u8)> {
        self.timers.first().map(|timer| (timer.at, timer.class))
    }

    /// Fires the earliest timer if it is due at `now`. Returns whether one fired.
    pub fn fire_next_timer(&mut self, now: Millis) -> bool {
        let Some(timer) = self.timers.first().cloned() else {
            return false;
        };
        if timer.at > now {
            return false;
        }
        self.timers.remove(&timer);
        match timer.kind {
            TimerKind::Expire(session_id) => self.end_session(now, &session_id, "expired"),
            TimerKind::Resume(transfer_id) => {
                if let Some(transfer) = self.transfers.get_mut(&transfer_id)
                    && transfer.step == Step::Waiting
                {
                    transfer.step = Step::Idle;
                    self.send_current(now, &transfer_id);
                }
            }
            TimerKind::WebhookWake(session_id) => self.pump_outbox(now, &session_id),
            TimerKind::RefreshRetry(key) => {
                // A refresh started meanwhile (by another transfer) may have succeeded already:
                // retry only for transfers still waiting. Found by `transfersim fuzz`, seed 130.
                if self
                    .connections
                    .get(&key)
                    .is_some_and(|connection| !connection.waiting.is_empty())
                {
                    self.start_refresh(now, &key);
                }
            }
            TimerKind::ProactiveRefresh(key) => {
                // A later refresh may have replaced the token this timer was set for.
                let due = self.connections.get(&key).is_some_and(|c| {
                    match (c.expires_at, c.lifetime_ms) {
                        (Some(expires_at), Some(lifetime)) => {
                            now >= expires_at - (lifetime / 10).min(300 * SECOND_MS)
                        }
                        _ => false,
                    }
                });
                if due && self.connection_has_work(&key) {
                    self.start_refresh(now, &key);
                }
            }
            TimerKind::SyncCap(call) => {
                if let Some(open) = self.sync_calls.remove(&call) {
                    self.trace(format!("sync call {call} capped at 300 s"));
                    self.outputs.push_back(Output::SyncAnswer {
                        call,
                        transfer_id: open.transfer_id,
                        end: SyncEnd::Capped,
                    });
                }
            }
        }
        true
    }

    /// Answers every open synchronous call with 503, for a server shutting down. The transfers
    /// go on.
    pub fn shut_down(&mut self) {
        for (call, open) in std::mem::take(&mut self.sync_calls) {
            self.outputs.push_back(Output::SyncAnswer {
                call,
                transfer_id: open.transfer_id,
                end: SyncEnd::ShuttingDown,
            });
        }
    }

    // ----- Keys -------------------------------------------------------------------------------

    /// Whether `key` is a valid API key.
    pub fn is_key(&self, key: &str) -> bool {
        self.keys.contains_key(key)
    }

    /// Mints a fresh key with no state (test helper `api_keys`).
    pub fn mint_api_key(&mut self) -> String {
        loop {
            let key = format!("sk_test_{}", self.random_hex(24));
            if !self.keys.contains_key(&key) {
                self.keys.insert(key.clone(), KeyState::default());
                return key;
            }
        }
    }

    /// The key's webhook secret, created on first use and stable after.
    pub fn webhook_secret(&mut self, key: &str) -> String {
        if let Some(secret) = self
            .keys
            .get(key)
            .and_then(|state| state.webhook_secret.clone())
        {
            return secret;
        }
        let bytes: [u8; 24] = self.rng.random();
        let secret = format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        );
        self.keys.entry(key.to_owned()).or_default().webhook_secret = Some(secret.clone());
        secret
    }

    // ----- Sessions ---------------------------------------------------------------------------

    /// Creates a session. `initiate` of any flavour.
    pub fn initiate(&mut self, now: Millis, key: &str, request: InitiateRequest) -> Id {
        let id = self.mint_id();
        if !request.save_session {
            self.set_timer(now + SESSION_LIFETIME_MS, TimerKind::Expire(id.clone()));
        }
        self.trace(format!("session {id} initiated ({:?})", request.kind));
        let mode = if mutant!(self, WebhookUnordered) {
            DeliveryMode::Concurrent
        } else {
            DeliveryMode::from_webhook_concurrency(request.webhook_concurrency)
        };
        self.outboxes.insert(id.clone(), Outbox::new(mode));
        self.sessions.insert(
            id.clone(),
            Session {
                id: id.clone(),
                key: key.to_owned(),
                kind: request.kind,
                types: request.types,
                provider: request.provider,
                created_at: now,
                save_session: request.save_session,
                sync: request.sync,
                webhook_concurrency: request.webhook_concurrency,
                label: request.label,
                webhooks: request.webhooks,
                binding: None,
                needs_reauthentication: false,
                queue: VecDeque::new(),
                running: None,
                internal_ids: BTreeMap::new(),
                baselines: BTreeMap::new(),
            },
        );
        id
    }

    /// The session `id` as seen by `key` at `now`: foreign, unknown and expired are all absent.
    pub fn session(&self, now: Millis, key: &str, id: &str) -> Option<&Session> {
        self.sessions
            .get(id)
            .filter(|session| session.key == key && !Self::expired(session, now))
    }

    fn expired(session: &Session, now: Millis) -> bool {
        !session.save_session && now >= session.created_at + SESSION_LIFETIME_MS
    }

    /// The configuration body of CONTRACT.md section 2.
    pub fn configuration(&self, now: Millis, key: &str, id: &str) -> Result<Value, EngineError> {
        let session = self
            .session(now, key, id)
            .ok_or(EngineError::SessionNotFound)?;
        Self::configuration_body(session).ok_or(EngineError::NotConfigured)
    }

    fn configuration_body(session: &Session) -> Option<Value> {
        let binding = session.binding.as_ref()?;
        let method = if session.kind == SessionKind::Push {
            "EXPORT"
        } else {
            "IMPORT"
        };
        let schemas: serde_json::Map<String, Value> = session
            .types
            .iter()
            .map(|ty| {
                let entry = json!({
                    "integration": format!("{}-{}", binding.provider.as_str(), ty.as_str()),
                    "integration_info": {"method": method, "endgrate_type": ty.as_str()},
                    "schema": ty.json_schema(),
                });
                (ty.as_str().to_owned(), entry)
            })
            .collect();
        let status = if session.needs_reauthentication {
            "needs_reauthentication"
        } else {
            "configured"
        };
        Some(json!({
            "success": true,
            "session_id": session.id,
            "status": status,
            "endgrate": {"provider": binding.provider.as_str(), "provider_info": binding.provider.info()},
            "schemas": schemas,
            "passthrough_schemas": {},
        }))
    }

    /// Binds a provider account to a session (the hosted flow, or the test helper), releasing
    /// its queued transfers. Re-configuring replaces credentials and clears re-authentication.
    pub fn configure(
        &mut self,
        now: Millis,
        key: &str,
        request: ConfigureRequest,
    ) -> Result<Value, EngineError> {
        let session = self
            .sessions
            .get_mut(&request.session_id)
            .filter(|session| session.key == key && !Self::expired(session, now))
            .ok_or(EngineError::SessionNotFound)?;
        if let Some(wanted) = session.provider
            && wanted != request.provider
        {
            return Err(EngineError::ProviderMismatch(wanted.as_str()));
        }
        let first = session.binding.is_none();
        let base_url = request.base_url.trim_end_matches('/').to_owned();
        let key: ConnectionKey = (
            request.provider,
            base_url.clone(),
            request.credentials.client_id.clone(),
            request.credentials.refresh_token.clone(),
        );
        session.binding = Some(Binding {
            provider: request.provider,
            base_url: base_url.clone(),
            credentials: request.credentials.clone(),
            connection: key.clone(),
        });
        self.connections.entry(key).or_insert_with(|| Connection {
            provider: request.provider,
            api_base_url: base_url.clone(),
            base_url,
            client_id: request.credentials.client_id.clone(),
            client_secret: request.credentials.client_secret.clone(),
            refresh_token: request.credentials.refresh_token.clone(),
            access_token: None,
            expires_at: None,
            lifetime_ms: None,
            refreshing: None,
            refresh_attempts: 0,
            waiting: Vec::new(),
            refreshes: 0,
            pacer: self
                .connectors
                .get(&request.provider)
                .and_then(|c| c.default_budget())
                .map(Pacer::new),
        });
        let Some(session) = self.sessions.get_mut(&request.session_id) else {
            return Err(EngineError::SessionNotFound);
        };
        session.needs_reauthentication = false;
        let body = Self::configuration_body(session).unwrap_or(Value::Null);
        let session_id = session.id.clone();
        self.trace(format!(
            "session {session_id} {} with {}",
            if first { "configured" } else { "re-configured" },
            request.provider.as_str()
        ));
        if first
            && let Some(target) = self
                .sessions
                .get(&session_id)
                .and_then(|s| s.webhooks.configuration.clone())
        {
            self.emit_webhook(
                now,
                &session_id,
                None,
                WebhookKind::Configuration,
                &target,
                body.clone(),
            );
        }
        self.pump(now, &session_id);
        Ok(body)
    }

    /// Deletes a session and everything of it.
    pub fn delete_session(&mut self, now: Millis, key: &str, id: &str) -> Result<(), EngineError> {
        self.session(now, key, id)
            .ok_or(EngineError::SessionNotFound)?;
        self.end_session(now, id, "deleted");
        Ok(())
    }

    /// Removes a session (delete or expiry): cancels its transfers, removes them, answers open
    /// synchronous calls with 404 and drops pending work.
    fn end_session(&mut self, _now: Millis, session_id: &str, why: &str) {
        let Some(session) = self.sessions.remove(session_id) else {
            return;
        };
        if let Some(queued) = self.queued.get_mut(&session.key) {
            *queued = queued.saturating_sub(session.queue.len());
        }
        self.trace(format!("session {session_id} {why}"));
        let doomed: Vec<Id> = self
            .transfers
            .values()
            .filter(|transfer| transfer.session_id == session.id)
            .map(|transfer| transfer.id.clone())
            .collect();
        for transfer_id in &doomed {
            self.transfers.remove(transfer_id);
        }
        self.in_flight
            .retain(|_, purpose| !matches!(purpose, InFlight::Transfer(id) if doomed.contains(id)));
        for connection in self.connections.values_mut() {
            connection.waiting.retain(|id| !doomed.contains(id));
        }
        self.timers.retain(|timer| match &timer.kind {
            TimerKind::Resume(transfer_id) => !doomed.contains(transfer_id),
            TimerKind::Expire(id) => id != session_id,
            TimerKind::WebhookWake(id) => id != session_id,
            TimerKind::SyncCap(_) | TimerKind::RefreshRetry(_) | TimerKind::ProactiveRefresh(_) => {
                true
            }
        });
        let gone: Vec<u64> = self
            .sync_calls
            .iter()
            .filter(|(_, open)| open.session_id == session.id)
            .map(|(call, _)| *call)
            .collect();
        for call in gone {
            if let Some(open) = self.sync_calls.remove(&call) {
                self.outputs.push_back(Output::SyncAnswer {
                    call,
                    transfer_id: open.transfer_id,
                    end: SyncEnd::SessionGone,
                });
            }
        }
        self.errors.retain(|error| error.session_id != session.id);
        if let Some(mut outbox) = self.outboxes.remove(&session.id) {
            outbox.drop_all();
        }
        self.deliveries.retain(|_, (id, _)| id != &session.id);
    }

    // ----- Transfers --------------------------------------------------------------------------

    /// Triggers a transfer, after the checks of CONTRACT.md section 8 that need the session
    /// (session, direction, type, items, queue limit, in that order).
    pub fn trigger(
        &mut self,
        now: Millis,
        key: &str,
        request: TriggerRequest,
    ) -> Result<Triggered, EngineError> {
        let session = self
            .session(now, key, &request.session_id)
            .ok_or(EngineError::SessionNotFound)?;
        if !session.kind.allows(request.direction) {
            return Err(EngineError::WrongDirection(request.direction));
        }
        let endgrate_type = EndgrateType::parse(&request.endgrate_type)
            .filter(|ty| session.types.contains(ty))
            .ok_or(EngineError::UnknownEndgrateType)?;
        let mut items = Vec::new();
        let mut filters = Vec::new();
        match request.direction {
            Direction::Push => items = request.items?,
            Direction::Pull => {
                filters = schema::parse_params(endgrate_type, &request.params)
                    .map_err(|(path, problem)| EngineError::Field(path, problem.to_owned()))?;
            }
        }
        if self.queued_of(key) >= QUEUED_TRANSFERS_MAX {
            return Err(EngineError::QueueFull);
        }
        let transfer_id = self.mint_id();
        let item_count = items.len();
        self.transfers.insert(
            transfer_id.clone(),
            Transfer {
                id: transfer_id.clone(),
                key: key.to_owned(),
                session_id: request.session_id.clone(),
                direction: request.direction,
                endgrate_type,
                state: TransferState::Queued,
                triggered_at: now,
                started_at: None,
                completed_at: None,
                bypass_rate_limit: request.bypass_rate_limit,
                webhooks: request.webhooks,
                filters,
                step: Step::Idle,
                attempts: 0,
                rate_limited_since: None,
                error_count: 0,
                token_used: None,
                refreshed_after_401: false,
                fresh_token: false,
                sent_at: now,
                pending_error_webhooks: Vec::new(),
                outcomes: vec![None; item_count],
                items,
                batch_index: 0,
                sub_request_index: 0,
                batches_success: 0,
                batches_fail: 0,
                batch_had_failure: false,
                cursor: None,
                pulled: Vec::new(),
                pages_read: 0,
                pages_failed: 0,
                records_read: 0,
                seen: Vec::new(),
            },
        );
        if let Some(session) = self.sessions.get_mut(&request.session_id) {
            session.queue.push_back(transfer_id.clone());
            *self.queued.entry(key.to_owned()).or_insert(0) += 1;
        }
        self.trace(format!(
            "transfer {transfer_id} triggered: {} {} ({item_count} items){}",
            request.direction.as_str(),
            endgrate_type.as_str(),
            if request.synchronous {
                ", synchronous"
            } else {
                ""
            }
        ));
        let answer = if request.synchronous {
            let call = self.next_sync_call;
            self.next_sync_call += 1;
            self.sync_calls.insert(
                call,
                SyncCall {
                    transfer_id: transfer_id.clone(),
                    session_id: request.session_id.clone(),
                },
            );
            if !mutant!(self, SyncIgnoresCap) {
                self.set_timer(now + SYNCHRONOUS_CAP_MS, TimerKind::SyncCap(call));
            }
            Triggered::Pending {
                transfer_id: transfer_id.clone(),
                call,
            }
        } else {
            Triggered::Queued {
                transfer_id: transfer_id.clone(),
            }
        };
        self.pump(now, &request.session_id);
        Ok(answer)
    }

    /// The transfer `id` as seen by `key` at `now`.
    pub fn transfer(&self, now: Millis, key: &str, id: &str) -> Option<&Transfer> {
        if mutant!(self, KeyLeak) {
            // The bug: the lookup forgets whose key asks.
            let transfer = self.transfers.get(id)?;
            self.session(now, &transfer.key, &transfer.session_id)?;
            return Some(transfer);
        }
        let transfer = self
            .transfers
            .get(id)
            .filter(|transfer| transfer.key == key)?;
        self.session(now, key, &transfer.session_id)?;
        Some(transfer)
    }

    /// The transfer, if its results may be read: completed (or, under `data-before-complete`,
    /// at all) and of the right direction and type.
    pub fn readable_transfer(
        &self,
        now: Millis,
        key: &str,
        id: &str,
        direction: Direction,
        endgrate_type: Option<&str>,
    ) -> Result<&Transfer, EngineError> {
        let transfer = self
            .transfer(now, key, id)
            .ok_or(EngineError::TransferNotFound)?;
        if transfer.direction != direction {
            return Err(EngineError::DataDirectionMismatch(transfer.direction));
        }
        if let Some(wanted) = endgrate_type
            && wanted != transfer.endgrate_type.as_str()
        {
            return Err(EngineError::EndgrateTypeMismatch);
        }
        if transfer.state != TransferState::Completed && !mutant!(self, DataBeforeComplete) {
            return Err(EngineError::NotCompleted);
        }
        Ok(transfer)
    }

    /// `/api/statistics` for one transfer.
    pub fn statistics(&self, now: Millis, key: &str, id: &str) -> Result<Value, EngineError> {
        let transfer = self
            .transfer(now, key, id)
            .ok_or(EngineError::TransferNotFound)?;
        let connector = self
            .sessions
            .get(&transfer.session_id)
            .and_then(|session| session.binding.as_ref())
            .and_then(|binding| self.connectors.get(&binding.provider));
        let statistics = match transfer.direction {
            Direction::Push => {
                let batch_size = connector.map_or(0, |c| c.push_batch_size());
                let batches = if batch_size == 0 {
                    0
                } else {
                    transfer.items.len().div_ceil(batch_size) as u64
                };
                let done = transfer.batches_success + transfer.batches_fail;
                let transferred = transfer
                    .outcomes
                    .iter()
                    .flatten()
                    .filter(|o| o.success)
                    .count();
                json!({
                    "batch_size": batch_size,
                    "batches": batches,
                    "batches_queued": batches.saturating_sub(done),
                    "batches_success": transfer.batches_success,
                    "batches_fail": transfer.batches_fail,
                    "records": transfer.items.len(),
                    "records_transferred": transferred,
                })
            }
            Direction::Pull => json!({
                "batch_size": connector.map_or(0, |c| c.pull_page_size()),
                "batches": transfer.pages_read + transfer.pages_failed,
                "batches_queued": 0,
                "batches_success": transfer.pages_read,
                "batches_fail": transfer.pages_failed,
                "records": transfer.records_read,
                "records_transferred": transfer.pulled.len(),
            }),
        };
        Ok(json!({
            "success": true,
            "transfer_id": transfer.id,
            "session_id": transfer.session_id,
            "method": if transfer.direction == Direction::Pull { "IMPORT" } else { "EXPORT" },
            "completed": transfer.state == TransferState::Completed,
            "state": transfer.state.as_str(),
            "statistics": statistics,
        }))
    }

    /// The key's error records, optionally filtered, newest last.
    pub fn errors(
        &self,
        now: Millis,
        key: &str,
        session_id: Option<&str>,
        transfer_id: Option<&str>,
    ) -> Result<Vec<&ErrorRecord>, EngineError> {
        if let Some(session_id) = session_id {
            self.session(now, key, session_id)
                .ok_or(EngineError::SessionNotFound)?;
        }
        if let Some(transfer_id) = transfer_id {
            self.transfer(now, key, transfer_id)
                .ok_or(EngineError::TransferNotFound)?;
        }
        Ok(self
            .errors
            .iter()
            .filter(|error| error.key == key)
            .filter(|error| self.session(now, key, &error.session_id).is_some())
            .filter(|error| session_id.is_none_or(|id| error.session_id == id))
            .filter(|error| transfer_id.is_none_or(|id| error.transfer_id.as_deref() == Some(id)))
            .collect())
    }

    // ----- The pipeline -----------------------------------------------------------------------

    /// Starts the session's next transfer if it may run now.
    fn pump(&mut self, now: Millis, session_id: &str) {
        let Some(session) = self.sessions.get_mut(session_id) else {
            return;
        };
        if session.running.is_some() || session.queue.is_empty() {
            return;
        }
        if session.binding.is_none() && !mutant!(self, QueueIgnoresConfiguration) {
            return;
        }
        let next = if mutant!(self, FifoBroken) {
            session.queue.pop_back()
        } else {
            session.queue.pop_front()
        };
        let Some(transfer_id) = next else {
            return;
        };
        if let Some(queued) = self.queued.get_mut(&session.key) {
            *queued = queued.saturating_sub(1);
        }
        session.running = Some(transfer_id.clone());
        let needs_reauthentication = session.needs_reauthentication;
        let provider = session.binding.as_ref().map(|binding| binding.provider);
        let known_ids = &session.internal_ids;
        if let Some(transfer) = self.transfers.get_mut(&transfer_id) {
            transfer.state = TransferState::Running;
            transfer.started_at = Some(now);
            // An item with only `internal_id` whose provider id the session has learnt (from an
            // earlier item with both, or an earlier upsert) is written to that record by id.
            let endgrate_type = transfer.endgrate_type;
            for item in transfer.items.iter_mut().filter(|item| item.id.is_none()) {
                if let Some(internal_id) = &item.internal_id
                    && let Some(id) = known_ids.get(&(endgrate_type, internal_id.to_string()))
                {
                    item.id = Some(id.as_str().into());
                }
            }
        }
        self.trace(format!("transfer {transfer_id} started"));
        if needs_reauthentication {
            self.record_error(
                now,
                &transfer_id,
                ErrorType::Authentication,
                "The session needs re-authentication: configure it again.".to_owned(),
                None,
            );
            self.fail_rest(now, &transfer_id, ErrorType::Authentication);
            self.complete(now, &transfer_id);
            return;
        }
        match provider {
            Some(provider) if self.connectors.contains_key(&provider) => {
                self.send_current(now, &transfer_id)
            }
            Some(provider) => {
                let text = format!(
                    "No connector is installed for provider {}.",
                    provider.as_str()
                );
                self.record_error(now, &transfer_id, ErrorType::Internal, text, None);
                self.complete(now, &transfer_id);
            }
            None => {
                self.record_error(
                    now,
                    &transfer_id,
                    ErrorType::Internal,
                    "The session has no configured provider.".to_owned(),
                    None,
                );
                self.complete(now, &transfer_id);
            }
        }
    }

    /// Builds and sends the transfer's current request (a page, or one request of a batch).
    fn send_current(&mut self, now: Millis, transfer_id: &str) {
        if !self.token_ready(now, transfer_id) {
            return;
        }
        if let Some(room_at) = self.pacing_wait(now, transfer_id) {
            if let Some(transfer) = self.transfers.get_mut(transfer_id) {
                transfer.step = Step::Waiting;
            }
            self.set_timer(room_at, TimerKind::Resume(transfer_id.to_owned()));
            return;
        }
        let resend_as_create = mutant!(self, ResendAsCreate);
        let Some(wire) = self.wire(transfer_id) else {
            return;
        };
        let transfer = wire.transfer;
        let (request, label) = match transfer.direction {
            Direction::Pull => (
                wire.connector
                    .pull_request(&wire.context(), transfer.cursor.as_deref()),
                format!("page {}", transfer.pages_read + transfer.pages_failed + 1),
            ),
            Direction::Push => {
                let (_, mut requests) = wire.batch_requests(resend_as_create);
                if transfer.sub_request_index >= requests.len() {
                    // Every request of this batch is done; cannot happen (advance_push moves on).
                    return;
                }
                let (_, request) = requests.swap_remove(transfer.sub_request_index);
                (
                    request,
                    format!(
                        "batch {} request {}",
                        transfer.batch_index + 1,
                        transfer.sub_request_index + 1
                    ),
                )
            }
        };
        let access_token = wire.route.access_token.clone();
        let call = self.next_provider_call;
        self.next_provider_call += 1;
        self.in_flight
            .insert(call, InFlight::Transfer(transfer_id.to_owned()));
        if let Some(transfer) = self.transfers.get_mut(transfer_id) {
            transfer.step = Step::InFlight(call);
            transfer.token_used = access_token;
            transfer.sent_at = now;
        }
        if let Some(pacer) = self.pacer_of(transfer_id) {
            pacer.record(now);
        }
        self.trace(format!(
            "transfer {transfer_id} {label}: {} {}",
            request.method(),
            request.uri().path()
        ));
        self.outputs
            .push_back(Output::ProviderCall { call, request });
    }

    /// How to read the answer to provider call `call` before it is delivered, when the call is
    /// a pull page: a driver that serves providers on another thread parses the page there and
    /// hands it to [`Engine::on_provider_outcome_parsed`]. `None` for anything else.
    pub fn page_parse(&self, call: u64) -> Option<PageParse> {
        let Some(InFlight::Transfer(transfer_id)) = self.in_flight.get(&call) else {
            return None;
        };
        let transfer = self.transfers.get(transfer_id)?;
        if transfer.direction != Direction::Pull {
            return None;
        }
        let binding = self.sessions.get(&transfer.session_id)?.binding.as_ref()?;
        let connector = self.connectors.get(&binding.provider)?.clone();
        let route = self.route_of(binding);
        Some(PageParse {
            connector,
            endgrate_type: transfer.endgrate_type,
            base_url: route.base_url,
            api_base_url: route.api_base_url,
        })
    }

    /// Takes the outcome of provider call `call`.
    pub fn on_provider_outcome(&mut self, now: Millis, call: u64, outcome: Outcome) {
        self.on_provider_outcome_parsed(now, call, outcome, None);
    }

    /// [`Engine::on_provider_outcome`] with the answer's page already read by
    /// [`PageParse::parse`] (the same reading the engine would do itself).
    pub fn on_provider_outcome_parsed(
        &mut self,
        now: Millis,
        call: u64,
        outcome: Outcome,
        page: Option<ParsedPage>,
    ) {
        let transfer_id = match self.in_flight.remove(&call) {
            None => return, // Its transfer was cancelled meanwhile.
            Some(InFlight::Refresh(key)) => {
                self.on_refresh_outcome(now, &key, outcome);
                return;
            }
            Some(InFlight::Transfer(transfer_id)) => transfer_id,
        };
        let Some(transfer) = self.transfers.get(&transfer_id) else {
            return;
        };
        if let Some(session) = self.sessions.get(&transfer.session_id)
            && Self::expired(session, now)
        {
            let session_id = session.id.clone();
            self.end_session(now, &session_id, "expired");
            return;
        }
        if let Some(transfer) = self.transfers.get_mut(&transfer_id) {
            transfer.step = Step::Idle;
        }
        match outcome {
            Outcome::Timeout => self.transient_failure(
                now,
                &transfer_id,
                "the provider did not answer within 30 s".to_owned(),
            ),
            Outcome::Dropped => self.transient_failure(
                now,
                &transfer_id,
                "the provider dropped the connection".to_owned(),
            ),
            Outcome::Answer(response) => self.on_answer(now, &transfer_id, response, page),
        }
    }

    fn on_answer(
        &mut self,
        now: Millis,
        transfer_id: &str,
        response: ProviderResponse,
        page: Option<ParsedPage>,
    ) {
        let status = response.status().as_u16();
        if self.observe_rate_limit(now, transfer_id, &response) {
            return;
        }
        if let Some(transfer) = self.transfers.get_mut(transfer_id) {
            transfer.rate_limited_since = None;
        }
        if status >= 500 {
            self.transient_failure(now, transfer_id, format!("the provider answered {status}"));
            return;
        }
        if status == 401 && self.refresh_after_401(now, transfer_id) {
            return;
        }
        if status == 401 {
            self.step_failed(
                now,
                transfer_id,
                ErrorType::Authentication,
                "The provider refused the credentials (401).".to_owned(),
            );
            return;
        }
        if !(200..300).contains(&status) {
            self.step_failed(
                now,
                transfer_id,
                ErrorType::Upstream,
                format!(
                    "The provider answered {status}: {}",
                    snippet(response.body())
                ),
            );
            return;
        }
        let resend_as_create = mutant!(self, ResendAsCreate);
        let Some(wire) = self.wire(transfer_id) else {
            return;
        };
        let parsed = match wire.transfer.direction {
            Direction::Pull => page
                .unwrap_or_else(|| wire.connector.parse_pull(&wire.context(), &response))
                .map(Parsed::Page),
            Direction::Push => {
                let (batch, split) = wire.batch_split(resend_as_create);
                let carried: Vec<OutgoingItem<'_>> = split
                    .get(wire.transfer.sub_request_index)
                    .map(|positions| {
                        positions
                            .iter()
                            .filter_map(|&p| batch.get(p).cloned())
                            .collect()
                    })
                    .unwrap_or_default();
                let indices = carried.iter().map(|item| item.index).collect();
                wire.connector
                    .parse_push(&wire.context(), &carried, &response)
                    .map(|results| Parsed::Push(indices, results))
            }
        };
        match parsed {
            Ok(Parsed::Page(page)) => self.on_page(now, transfer_id, page),
            Ok(Parsed::Push(carried, results)) => {
                self.on_push_results(now, transfer_id, &carried, results);
            }
            Err(unusable) => self.step_failed(
                now,
                transfer_id,
                ErrorType::Upstream,
                format!("The provider's answer was not usable: {}", unusable.0),
            ),
        }
    }

    /// A rate-limit answer: wait and resend the same request, burning no attempt, for up to 24 h.
    fn rate_limited(&mut self, now: Millis, transfer_id: &str, wait_ms: Millis) {
        let Some(transfer) = self.transfers.get_mut(transfer_id) else {
            return;
        };
        let since = *transfer.rate_limited_since.get_or_insert(now);
        if now.saturating_sub(since) >= RATE_LIMITED_GIVE_UP_MS {
            transfer.rate_limited_since = None;
            self.step_failed(
                now,
                transfer_id,
                ErrorType::Upstream,
                "The provider answered only with rate limits for 24 h.".to_owned(),
            );
            return;
        }
        transfer.step = Step::Waiting;
        self.trace(format!(
            "transfer {transfer_id} rate-limited; resending in {} ms",
            wait_ms
        ));
        self.set_timer(now + wait_ms, TimerKind::Resume(transfer_id.to_owned()));
    }

    /// A 5xx, timeout or dropped connection: back off and resend, or fail after the last attempt.
    fn transient_failure(&mut self, now: Millis, transfer_id: &str, what: String) {
        let Some(transfer) = self.transfers.get_mut(transfer_id) else {
            return;
        };
        transfer.attempts += 1;
        if transfer.attempts >= PROVIDER_ATTEMPTS_MAX {
            let text =
                format!("The provider request failed {PROVIDER_ATTEMPTS_MAX} times; last: {what}.");
            self.step_failed(now, transfer_id, ErrorType::Upstream, text);
            return;
        }
        let wait_ms = PROVIDER_BACKOFF_MS[(transfer.attempts - 1) as usize];
        transfer.step = Step::Waiting;
        let attempt = transfer.attempts;
        self.trace(format!(
            "transfer {transfer_id} attempt {attempt} failed ({what}); retry in {wait_ms} ms"
        ));
        self.set_timer(now + wait_ms, TimerKind::Resume(transfer_id.to_owned()));
    }

    /// The current page or batch request failed for good: one error record; a push goes on with
    /// its next request, a pull ends.
    fn step_failed(&mut self, now: Millis, transfer_id: &str, error_type: ErrorType, text: String) {
        self.record_error(now, transfer_id, error_type, text.clone(), None);
        let Some(transfer) = self.transfers.get(transfer_id) else {
            return;
        };
        match transfer.direction {
            Direction::Pull => {
                if let Some(transfer) = self.transfers.get_mut(transfer_id) {
                    transfer.pages_failed += 1;
                }
                self.complete(now, transfer_id);
            }
            Direction::Push => {
                let resend_as_create = mutant!(self, ResendAsCreate);
                let Some(wire) = self.wire(transfer_id) else {
                    return;
                };
                let (batch, split) = wire.batch_split(resend_as_create);
                let carried: Vec<usize> = split
                    .into_iter()
                    .nth(wire.transfer.sub_request_index)
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|position| batch.get(position).map(|item| item.index))
                    .collect();
                if let Some(transfer) = self.transfers.get_mut(transfer_id) {
                    for index in carried {
                        {
                            transfer.outcomes[index] = Some(PushOutcome {
                                success: false,
                                id: None,
                                created: None,
                                error: Some(Box::new((error_type, text.clone()))),
                            });
                        }
                    }
                    transfer.batch_had_failure = true;
                }
                self.next_push_request(now, transfer_id);
            }
        }
    }

    /// The one lookup from a transfer to what its provider requests are built from; `None` when
    /// the transfer, its session's binding or the provider's connector is gone.
    fn wire(&self, transfer_id: &str) -> Option<Wire<'_>> {
        let transfer = self.transfers.get(transfer_id)?;
        let binding = self.sessions.get(&transfer.session_id)?.binding.as_ref()?;
        let connector = self.connectors.get(&binding.provider)?.as_ref();
        Some(Wire {
            transfer,
            connector,
            route: self.route_of(binding),
        })
    }

    /// A pull page arrived: record it, apply filters and the sync diff, then read on or finish.
    fn on_page(&mut self, now: Millis, transfer_id: &str, page: crate::connector::PulledPage) {
        let Some(transfer) = self.transfers.get(transfer_id) else {
            return;
        };
        let session_id = transfer.session_id.clone();
        let endgrate_type = transfer.endgrate_type;
        let sync = self.sessions.get(&session_id).is_some_and(|s| s.sync);
        let baseline: BTreeMap<&str, &schema::MappedData> = if sync {
            self.sessions
                .get(&session_id)
                .and_then(|s| s.baselines.get(&endgrate_type))
                .map(|records| {
                    records
                        .iter()
                        .map(|(id, data)| (id.as_str(), data))
                        .collect()
                })
                .unwrap_or_default()
        } else {
            BTreeMap::new()
        };
        let Some(transfer) = self.transfers.get_mut(transfer_id) else {
            return;
        };
        let count = page.records.len();
        let mut delivered = 0;
        let mut records = page.records;
        if mutant!(self, PageSkipsRecord) && page.next_cursor.is_some() {
            // The bug: an off-by-one at the page boundary loses the page's last record.
            records.pop();
        }
        transfer.pulled.reserve(records.len());
        for record in records {
            transfer.records_read += 1;
            let unchanged = sync && baseline.get(record.id.as_str()) == Some(&&record.data);
            let wanted = transfer.filters.is_empty()
                || schema::matches_filters(&record.data.to_map(), &transfer.filters);
            if !unchanged && wanted {
                delivered += 1;
                if sync {
                    transfer.pulled.push(PullItem {
                        id: record.id.clone(),
                        data: Some(record.data.clone()),
                    });
                } else {
                    transfer.pulled.push(PullItem {
                        id: record.id,
                        data: Some(record.data),
                    });
                    continue;
                }
            }
            if sync {
                transfer.seen.push((record.id, record.data));
            }
        }
        transfer.pages_read += 1;
        transfer.attempts = 0;
        transfer.refreshed_after_401 = false;
        transfer.cursor = page.next_cursor.clone();
        let page_number = transfer.pages_read;
        self.trace(format!(
            "transfer {transfer_id} page {page_number}: {count} records, {delivered} delivered"
        ));
        if mutant!(self, SyncAnswersEarly) && page_number == 1 && page.next_cursor.is_some() {
            // The bug: the synchronous caller is told "completed" as soon as data arrives.
            self.answer_sync_calls(transfer_id);
        }
        let last_page = page.next_cursor.is_none();
        if last_page && mutant!(self, CompletedBeforeData) {
            self.finish_pull(now, transfer_id, sync);
            self.emit_data_webhook(now, transfer_id, delivered);
            return;
        }
        self.emit_data_webhook(now, transfer_id, delivered);
        if last_page {
            self.finish_pull(now, transfer_id, sync);
        } else {
            self.send_current(now, transfer_id);
        }
    }

    /// The last page was read: report sync deletions, move the baseline, complete.
    fn finish_pull(&mut self, now: Millis, transfer_id: &str, sync: bool) {
        if sync {
            let Some(transfer) = self.transfers.get(transfer_id) else {
                return;
            };
            let session_id = transfer.session_id.clone();
            let endgrate_type = transfer.endgrate_type;
            let seen_ids: BTreeSet<&String> = transfer.seen.iter().map(|(id, _)| id).collect();
            let previous = self
                .sessions
                .get(&session_id)
                .and_then(|s| s.baselines.get(&endgrate_type))
                .cloned()
                .unwrap_or_default();
            let drop_deletions = mutant!(self, SyncDropsDeletions);
            let deletions: Vec<PullItem> = previous
                .iter()
                .filter(|(id, data)| {
                    !seen_ids.contains(id)
                        && (transfer.filters.is_empty()
                            || schema::matches_filters(&data.to_map(), &transfer.filters))
                })
                .filter(|_| !drop_deletions)
                .map(|(id, _)| PullItem {
                    id: id.clone(),
                    data: None,
                })
                .collect();
            let seen = transfer.seen.clone();
            if let Some(transfer) = self.transfers.get_mut(transfer_id) {
                let deleted = deletions.len();
                transfer.pulled.extend(deletions);
                self.emit_data_webhook(now, transfer_id, deleted);
            }
            if let Some(session) = self.sessions.get_mut(&session_id) {
                session.baselines.insert(endgrate_type, seen);
            }
        }
        self.complete(now, transfer_id);
    }

    /// Results of one push request: per-item outcomes and `transfer_data` errors.
    fn on_push_results(
        &mut self,
        now: Millis,
        transfer_id: &str,
        carried: &[usize],
        results: Vec<ItemResult>,
    ) {
        let mut failures = Vec::new();
        let Some(transfer) = self.transfers.get_mut(transfer_id) else {
            return;
        };
        transfer.attempts = 0;
        transfer.refreshed_after_401 = false;
        let mut learnt = Vec::new();
        // The first result of an index answers for it.
        let mut by_index: BTreeMap<usize, Result<ItemWritten, String>> = BTreeMap::new();
        for result in results {
            by_index.entry(result.index).or_insert(result.outcome);
        }
        for &index in carried {
            let original = &transfer.items[index];
            let outcome = match by_index.remove(&index) {
                Some(Ok(written)) => {
                    if let Some(internal_id) = &original.internal_id {
                        learnt.push((internal_id.to_string(), written.id.clone()));
                    }
                    PushOutcome {
                        success: true,
                        id: Some(written.id.into_boxed_str()),
                        created: Some(written.created),
                        error: None,
                    }
                }
                Some(Err(message)) => {
                    let internal_id = original.internal_id.as_deref().map(str::to_owned);
                    failures.push((index, internal_id, message.clone()));
                    PushOutcome {
                        success: false,
                        id: original.id.clone(),
                        created: None,
                        error: Some(Box::new((ErrorType::TransferData, message))),
                    }
                }
                None => {
                    let message = "The provider's answer did not mention this item.".to_owned();
                    let internal_id = original.internal_id.as_deref().map(str::to_owned);
                    failures.push((index, internal_id, message.clone()));
                    PushOutcome {
                        success: false,
                        id: original.id.clone(),
                        created: None,
                        error: Some(Box::new((ErrorType::Upstream, message))),
                    }
                }
            };
            transfer.outcomes[index] = Some(outcome);
        }
        let endgrate_type = transfer.endgrate_type;
        let session_id = transfer.session_id.clone();
        if let Some(session) = self.sessions.get_mut(&session_id) {
            for (internal_id, id) in learnt {
                session
                    .internal_ids
                    .insert((endgrate_type, internal_id), id);
            }
        }
        for (index, internal_id, message) in failures {
            self.record_error(
                now,
                transfer_id,
                ErrorType::TransferData,
                message,
                Some((index, internal_id)),
            );
        }
        self.next_push_request(now, transfer_id);
    }

    /// Moves a push to its next request, next batch, or completion.
    fn next_push_request(&mut self, now: Millis, transfer_id: &str) {
        let resend_as_create = mutant!(self, ResendAsCreate);
        let Some(wire) = self.wire(transfer_id) else {
            return;
        };
        let batch_size = wire.connector.push_batch_size();
        let request_count = wire.batch_split(resend_as_create).1.len();
        let Some(transfer) = self.transfers.get_mut(transfer_id) else {
            return;
        };
        transfer.attempts = 0;
        transfer.refreshed_after_401 = false;
        transfer.sub_request_index += 1;
        if transfer.sub_request_index < request_count {
            self.send_current(now, transfer_id);
            return;
        }
        if transfer.batch_had_failure {
            transfer.batches_fail += 1;
        } else {
            transfer.batches_success += 1;
        }
        transfer.batch_had_failure = false;
        transfer.sub_request_index = 0;
        transfer.batch_index += 1;
        let batch_number = transfer.batch_index;
        let more = transfer.batch_index * batch_size < transfer.items.len();
        self.trace(format!("transfer {transfer_id} batch {batch_number} done"));
        let batch_items: Vec<usize> = ((batch_number - 1) * batch_size
            ..(batch_number * batch_size)
                .min(self.transfers.get(transfer_id).map_or(0, |t| t.items.len())))
            .collect();
        self.emit_push_data_webhook(now, transfer_id, &batch_items);
        self.flush_error_webhooks(now, transfer_id);
        if more {
            self.send_current(now, transfer_id);
        } else {
            self.complete(now, transfer_id);
        }
    }

    /// Completes a transfer: final state, synchronous answers, and the session's next transfer.
    fn complete(&mut self, now: Millis, transfer_id: &str) {
        let Some(transfer) = self.transfers.get_mut(transfer_id) else {
            return;
        };
        transfer.state = TransferState::Completed;
        transfer.completed_at = Some(now);
        transfer.step = Step::Idle;
        let session_id = transfer.session_id.clone();
        let errors = transfer.transfer_errors();
        self.trace(format!(
            "transfer {transfer_id} completed{}",
            if errors { " with errors" } else { "" }
        ));
        self.flush_error_webhooks(now, transfer_id);
        self.emit_completed_webhook(now, transfer_id);
        self.answer_sync_calls(transfer_id);
        if let Some(session) = self.sessions.get_mut(&session_id)
            && session.running.as_deref() == Some(transfer_id)
        {
            session.running = None;
        }
        self.pump(now, &session_id);
    }

    /// Answers the transfer's open synchronous calls 200 (it completed) and drops their caps.
    fn answer_sync_calls(&mut self, transfer_id: &str) {
        let answered: Vec<u64> = self
            .sync_calls
            .iter()
            .filter(|(_, open)| open.transfer_id == transfer_id)
            .map(|(call, _)| *call)
            .collect();
        for call in answered {
            self.sync_calls.remove(&call);
            self.timers
                .retain(|timer| timer.kind != TimerKind::SyncCap(call));
            self.outputs.push_back(Output::SyncAnswer {
                call,
                transfer_id: transfer_id.to_owned(),
                end: SyncEnd::Completed,
            });
        }
    }

    fn record_error(
        &mut self,
        now: Millis,
        transfer_id: &str,
        error_type: ErrorType,
        text: String,
        item: Option<(usize, Option<String>)>,
    ) {
        let pk = self.mint_id();
        let Some(transfer) = self.transfers.get_mut(transfer_id) else {
            return;
        };
        transfer.error_count += 1;
        let (index, internal_id) = match item {
            Some((index, internal_id)) => (Some(index), internal_id),
            None => (None, None),
        };
        let record = ErrorRecord {
            pk,
            key: transfer.key.clone(),
            transfer_id: Some(transfer.id.clone()),
            session_id: transfer.session_id.clone(),
            timestamp: now,
            error_type,
            resolve_text: text,
            index,
            internal_id,
        };
        self.trace(format!(
            "transfer {transfer_id} error {}: {}",
            error_type.as_str(),
            record.resolve_text
        ));
        if let Some(transfer) = self.transfers.get_mut(transfer_id) {
            transfer.pending_error_webhooks.push(record.pk.clone());
        }
        self.errors.push(record);
    }

    // ----- Webhooks ---------------------------------------------------------------------------

    /// The webhook target of `kind` for a transfer: its own, else its session's.
    fn webhook_target(&self, transfer: &Transfer, kind: WebhookKind) -> Option<WebhookTarget> {
        let pick = |set: &WebhookSet| match kind {
            WebhookKind::Configuration => set.configuration.clone(),
            WebhookKind::Data => set.data.clone(),
            WebhookKind::Error => set.error.clone(),
            WebhookKind::Completed => set.completed.clone(),
        };
        pick(&transfer.webhooks).or_else(|| {
            self.sessions
                .get(&transfer.session_id)
                .and_then(|s| pick(&s.webhooks))
        })
    }

    /// Queues one webhook in the session's outbox (with `metadata` added) and sends what is due.
    fn emit_webhook(
        &mut self,
        now: Millis,
        session_id: &str,
        transfer_id: Option<&str>,
        kind: WebhookKind,
        target: &WebhookTarget,
        mut body: Value,
    ) {
        if let Some(object) = body.as_object_mut() {
            object.insert("metadata".to_owned(), target.metadata.clone());
        }
        let id = format!("msg_{}", self.random_hex(24));
        let Some(outbox) = self.outboxes.get_mut(session_id) else {
            return;
        };
        outbox.push(Webhook {
            id: id.clone(),
            transfer_id: transfer_id.map(str::to_owned),
            kind,
            endpoint: target.endpoint.clone(),
            body: bytes::Bytes::from(body.to_string()),
        });
        self.trace(format!(
            "webhook {id} {} queued for session {session_id}",
            kind.as_str()
        ));
        self.pump_outbox(now, session_id);
    }

    /// A data webhook for the last `delivered` pulled items (none if the page delivered none).
    fn emit_data_webhook(&mut self, now: Millis, transfer_id: &str, delivered: usize) {
        if delivered == 0 {
            return;
        }
        let Some(transfer) = self.transfers.get(transfer_id) else {
            return;
        };
        let Some(target) = self.webhook_target(transfer, WebhookKind::Data) else {
            return;
        };
        let items: Vec<Value> = transfer.pulled[transfer.pulled.len() - delivered..]
            .iter()
            .map(crate::api::pull_item_json)
            .collect();
        self.emit_data_items(now, transfer_id, target, items);
    }

    /// A data webhook for one push batch: the batch's items as `/api/push/data` shows them.
    fn emit_push_data_webhook(&mut self, now: Millis, transfer_id: &str, indices: &[usize]) {
        let Some(transfer) = self.transfers.get(transfer_id) else {
            return;
        };
        let Some(target) = self.webhook_target(transfer, WebhookKind::Data) else {
            return;
        };
        let items: Vec<Value> = indices
            .iter()
            .map(|&index| crate::api::push_item_json(transfer, index))
            .collect();
        self.emit_data_items(now, transfer_id, target, items);
    }

    /// The data webhook body shared by pulls and pushes, around `items`.
    fn emit_data_items(
        &mut self,
        now: Millis,
        transfer_id: &str,
        target: WebhookTarget,
        items: Vec<Value>,
    ) {
        let Some(transfer) = self.transfers.get(transfer_id) else {
            return;
        };
        let body = json!({
            "success": true,
            "transfer_id": transfer.id,
            "session_id": transfer.session_id,
            "endgrate": {"endgrate_type": transfer.endgrate_type.as_str()},
            "completed": false,
            "transfer_data": items,
            "transfer_errors": transfer.transfer_errors(),
        });
        let session_id = transfer.session_id.clone();
        self.emit_webhook(
            now,
            &session_id,
            Some(transfer_id),
            WebhookKind::Data,
            &target,
            body,
        );
    }

    /// One error webhook per error record produced since the last flush.
    fn flush_error_webhooks(&mut self, now: Millis, transfer_id: &str) {
        let Some(transfer) = self.transfers.get_mut(transfer_id) else {
            return;
        };
        let pending = std::mem::take(&mut transfer.pending_error_webhooks);
        let Some(transfer) = self.transfers.get(transfer_id) else {
            return;
        };
        let Some(target) = self.webhook_target(transfer, WebhookKind::Error) else {
            return;
        };
        let session_id = transfer.session_id.clone();
        let endgrate_type = transfer.endgrate_type.as_str();
        let bodies: Vec<Value> = pending
            .iter()
            .filter_map(|pk| self.errors.iter().rev().find(|error| &error.pk == pk))
            .map(|error| {
                let mut body = crate::api::error_json(error);
                if let Some(object) = body.as_object_mut() {
                    object.insert("success".to_owned(), json!(true));
                    object.insert(
                        "endgrate".to_owned(),
                        json!({"endgrate_type": endgrate_type}),
                    );
                    object.insert("transfer_errors".to_owned(), json!(true));
                }
                body
            })
            .collect();
        for body in bodies {
            self.emit_webhook(
                now,
                &session_id,
                Some(transfer_id),
                WebhookKind::Error,
                &target,
                body,
            );
        }
    }

    /// The one completed webhook of a transfer.
    fn emit_completed_webhook(&mut self, now: Millis, transfer_id: &str) {
        let Some(transfer) = self.transfers.get(transfer_id) else {
            return;
        };
        let Some(target) = self.webhook_target(transfer, WebhookKind::Completed) else {
            return;
        };
        let body = json!({
            "success": true,
            "transfer_id": transfer.id,
            "session_id": transfer.session_id,
            "endgrate": {"endgrate_type": transfer.endgrate_type.as_str()},
            "completed": true,
            "transfer_errors": transfer.transfer_errors(),
        });
        let session_id = transfer.session_id.clone();
        self.emit_webhook(
            now,
            &session_id,
            Some(transfer_id),
            WebhookKind::Completed,
            &target,
            body,
        );
    }

    /// Sends every attempt the session's outbox has due, signed at `now`, and sets the retry timer.
    fn pump_outbox(&mut self, now: Millis, session_id: &str) {
        let Some(key) = self.sessions.get(session_id).map(|s| s.key.clone()) else {
            return;
        };
        let Some(outbox) = self.outboxes.get_mut(session_id) else {
            return;
        };
        let attempts = outbox.start_due(now);
        let wake = outbox.next_wake();
        if attempts.is_empty() && wake.is_none() {
            return;
        }
        let secret = if mutant!(self, BadSignature) {
            "whsec_d3Jvbmcgc2VjcmV0".to_owned()
        } else {
            self.webhook_secret(&key)
        };
        for attempt in attempts {
            let mut headers =
                signature::headers(&secret, &attempt.webhook_id, now / 1000, &attempt.body)
                    .unwrap_or_default();
            headers.insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            let delivery = self.next_delivery;
            self.next_delivery += 1;
            self.deliveries.insert(
                delivery,
                (session_id.to_owned(), attempt.webhook_id.clone()),
            );
            self.trace(format!(
                "webhook {} {} attempt {} to {}",
                attempt.webhook_id,
                attempt.kind.as_str(),
                attempt.attempt_number,
                attempt.endpoint
            ));
            self.outputs.push_back(Output::WebhookDelivery {
                delivery,
                endpoint: attempt.endpoint,
                headers,
                body: attempt.body,
            });
        }
        if let Some(at) = wake
            && !self
                .timers
                .iter()
                .any(|t| t.kind == TimerKind::WebhookWake(session_id.to_owned()) && t.at == at)
        {
            self.set_timer(at, TimerKind::WebhookWake(session_id.to_owned()));
        }
    }

    /// How a webhook attempt ended: `status` (None: refused or timed out) after `answered_after_ms`.
    /// `now` is the instant it ended.
    pub fn on_webhook_result(
        &mut self,
        now: Millis,
        delivery: u64,
        status: Option<u16>,
        answered_after_ms: Millis,
    ) {
        let Some((session_id, webhook_id)) = self.deliveries.remove(&delivery) else {
            return; // The session is gone.
        };
        let mut delivered = is_delivery_success(status, answered_after_ms);
        if !delivered && mutant!(self, WebhookNoRetry) {
            delivered = true; // The bug: a failed attempt counts as done and is never retried.
        }
        let Some(outbox) = self.outboxes.get_mut(&session_id) else {
            return;
        };
        let Ok(verdict) = outbox.on_result(now, &webhook_id, delivered) else {
            return;
        };
        match verdict {
            AttemptVerdict::Delivered(_) => self.trace(format!("webhook {webhook_id} delivered")),
            AttemptVerdict::RetryAt(at) => self.trace(format!(
                "webhook {webhook_id} failed ({status:?}); retry at +{} ms",
                at - now
            )),
            AttemptVerdict::Dropped(webhook) => {
                self.trace(format!(
                    "webhook {webhook_id} dropped after its last attempt"
                ));
                self.record_dropped_webhook(now, &session_id, webhook);
            }
        }
        self.pump_outbox(now, &session_id);
    }

    /// A dropped webhook is an `internal` error without an error webhook, and does not change
    /// `transfer_errors`.
    fn record_dropped_webhook(&mut self, now: Millis, session_id: &str, webhook: Webhook) {
        let pk = self.mint_id();
        let Some(session) = self.sessions.get(session_id) else {
            return;
        };
        self.errors.push(ErrorRecord {
            pk,
            key: session.key.clone(),
            transfer_id: webhook.transfer_id.clone(),
            session_id: session_id.to_owned(),
            timestamp: now,
            error_type: ErrorType::Internal,
            resolve_text: format!(
                "The {} webhook {} to {} was dropped after 7 failed attempts.",
                webhook.kind.as_str(),
                webhook.id,
                webhook.endpoint
            ),
            index: None,
            internal_id: None,
        });
    }

    // ----- Pacing -----------------------------------------------------------------------------

    /// The pacing log of the transfer's connection.
    fn pacer_of(&mut self, transfer_id: &str) -> Option<&mut Pacer> {
        let transfer = self.transfers.get(transfer_id)?;
        let key = self
            .sessions
            .get(&transfer.session_id)?
            .binding
            .as_ref()?
            .connection
            .clone();
        self.connections.get_mut(&key)?.pacer.as_mut()
    }

    /// When the transfer's next request may go, if not now: the connection's window is full.
    fn pacing_wait(&mut self, now: Millis, transfer_id: &str) -> Option<Millis> {
        let bypass = self.transfers.get(transfer_id)?.bypass_rate_limit;
        if bypass || mutant!(self, NoPacing) {
            return None;
        }
        let room_at = self.pacer_of(transfer_id)?.room_at(now);
        (room_at > now).then_some(room_at)
    }

    /// Reads the answer's usage headers into the log and, for a rate-limit answer, waits and
    /// resends. Returns whether the answer was a rate limit (and so is handled).
    fn observe_rate_limit(
        &mut self,
        now: Millis,
        transfer_id: &str,
        response: &ProviderResponse,
    ) -> bool {
        let Some(transfer) = self.transfers.get(transfer_id) else {
            return false;
        };
        let sent_at = transfer.sent_at;
        let Some(provider) = self
            .sessions
            .get(&transfer.session_id)
            .and_then(|s| s.binding.as_ref())
            .map(|b| b.provider)
        else {
            return false;
        };
        let Some(connector) = self.connectors.get(&provider) else {
            return false;
        };
        let usage = connector.reported_usage(response);
        let refused = connector.is_rate_limit(response);
        let unexplained_wait_ms = connector.unexplained_rate_limit_wait_ms();
        let retry_after_ms = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|text| text.trim().parse::<u64>().ok())
            .map(|seconds| seconds * SECOND_MS);
        let wait_ms = match self.pacer_of(transfer_id) {
            Some(pacer) => {
                if refused {
                    pacer.uncount(sent_at);
                }
                if let Some(usage) = usage {
                    pacer.observe(sent_at, usage);
                }
                if !refused {
                    return false;
                }
                if pacer.explains_refusal(sent_at) {
                    pacer.room_at(now).saturating_sub(now).max(1)
                } else {
                    unexplained_wait_ms
                }
            }
            None if refused => unexplained_wait_ms,
            None => return false,
        };
        let wait_ms = retry_after_ms.map_or(wait_ms, |retry| retry.max(wait_ms));
        if mutant!(self, FailOnRateLimit) {
            self.step_failed(
                now,
                transfer_id,
                ErrorType::Upstream,
                "The provider answered with a rate limit.".to_owned(),
            );
            return true;
        }
        self.rate_limited(now, transfer_id, wait_ms);
        true
    }

    // ----- Tokens -----------------------------------------------------------------------------

    /// Where the binding's requests go now, with the connection's current token.
    fn route_of(&self, binding: &Binding) -> Route {
        let connection = self.connections.get(&binding.connection);
        Route {
            base_url: binding.base_url.clone(),
            api_base_url: connection
                .map_or_else(|| binding.base_url.clone(), |c| c.api_base_url.clone()),
            access_token: connection.and_then(|c| c.access_token.clone()),
        }
    }

    /// Whether the transfer may send now as far as tokens go. If its connection needs a token
    /// (none yet, or inside the proactive window before expiry), the transfer waits for the one
    /// refresh in flight, starting it if needed.
    fn token_ready(&mut self, now: Millis, transfer_id: &str) -> bool {
        let Some(transfer) = self.transfers.get_mut(transfer_id) else {
            return false;
        };
        if transfer.fresh_token {
            transfer.fresh_token = false;
            return true;
        }
        let Some(binding) = self
            .sessions
            .get(&transfer.session_id)
            .and_then(|s| s.binding.clone())
        else {
            return true;
        };
        let Some(connector) = self.connectors.get(&binding.provider) else {
            return true;
        };
        if !connector.authenticates() {
            return true; // This provider does not authenticate.
        }
        let refresh_per_request = mutant!(self, RefreshPerRequest);
        let Some(connection) = self.connections.get_mut(&binding.connection) else {
            return true;
        };
        let fresh = !refresh_per_request
            && match (&connection.access_token, connection.expires_at) {
                (None, _) => false,
                (Some(_), None) => true,
                (Some(_), Some(expires_at)) => {
                    // Refresh within the last min(300 s, 10 % of the lifetime), never earlier.
                    let window = connection
                        .lifetime_ms
                        .map_or(0, |lifetime| (lifetime / 10).min(300 * SECOND_MS));
                    now < expires_at.saturating_sub(window)
                }
            };
        if fresh {
            return true;
        }
        if !connection.waiting.iter().any(|id| id == transfer_id) {
            connection.waiting.push(transfer_id.to_owned());
        }
        let refreshing = connection.refreshing.is_some();
        if let Some(transfer) = self.transfers.get_mut(transfer_id) {
            transfer.step = Step::WaitingForToken;
        }
        if !refreshing {
            self.start_refresh(now, &binding.connection);
        }
        false
    }

    /// Sends the connection's token refresh (the only one in flight for it).
    fn start_refresh(&mut self, _now: Millis, key: &ConnectionKey) {
        let Some(connection) = self.connections.get(key) else {
            return;
        };
        if connection.refreshing.is_some() {
            return;
        }
        let Some(connector) = self.connectors.get(&connection.provider) else {
            return;
        };
        let Some(request) = connector.token_request(
            &connection.base_url,
            &connection.refresh_token,
            &connection.client_id,
            &connection.client_secret,
        ) else {
            return;
        };
        let call = self.next_provider_call;
        self.next_provider_call += 1;
        self.in_flight.insert(call, InFlight::Refresh(key.clone()));
        if let Some(connection) = self.connections.get_mut(key) {
            connection.refreshing = Some(call);
        }
        self.trace(format!(
            "connection {} refresh: {} {}",
            key.2,
            request.method(),
            request.uri().path()
        ));
        self.outputs
            .push_back(Output::ProviderCall { call, request });
    }

    /// A token refresh came back: resume the waiting transfers, retry, or fail them.
    fn on_refresh_outcome(&mut self, now: Millis, key: &ConnectionKey, outcome: Outcome) {
        let Some(connection) = self.connections.get_mut(key) else {
            return;
        };
        connection.refreshing = None;
        let provider = connection.provider;
        let status = match &outcome {
            Outcome::Answer(response) => Some(response.status().as_u16()),
            Outcome::Timeout | Outcome::Dropped => None,
        };
        match (status, outcome) {
            (Some(200..=299), Outcome::Answer(response)) => {
                let grant = self
                    .connectors
                    .get(&provider)
                    .map(|c| c.parse_token(&response));
                let Some(connection) = self.connections.get_mut(key) else {
                    return;
                };
                match grant {
                    Some(Ok(grant)) => {
                        connection.access_token = Some(grant.access_token);
                        connection.lifetime_ms = grant.expires_in_ms;
                        connection.expires_at = grant.expires_in_ms.map(|lifetime| now + lifetime);
                        let proactive_at = grant
                            .expires_in_ms
                            .map(|lifetime| now + lifetime - (lifetime / 10).min(300 * SECOND_MS));
                        if let Some(rotated) = grant.refresh_token {
                            connection.refresh_token = rotated;
                        }
                        if let Some(instance_url) = grant.instance_url {
                            connection.api_base_url = instance_url;
                        }
                        connection.refresh_attempts = 0;
                        connection.refreshes += 1;
                        let waiting = std::mem::take(&mut connection.waiting);
                        self.trace(format!("connection {} refreshed", key.2));
                        if let Some(at) = proactive_at {
                            self.set_timer(at, TimerKind::ProactiveRefresh(key.clone()));
                        }
                        for transfer_id in waiting {
                            if let Some(transfer) = self.transfers.get_mut(&transfer_id) {
                                transfer.step = Step::Idle;
                                transfer.fresh_token = true;
                            }
                            self.send_current(now, &transfer_id);
                        }
                    }
                    _ => {
                        let waiting = std::mem::take(&mut connection.waiting);
                        for transfer_id in waiting {
                            self.step_failed(
                                now,
                                &transfer_id,
                                ErrorType::Upstream,
                                "The provider's token answer was not usable.".to_owned(),
                            );
                        }
                    }
                }
            }
            (Some(400..=499), _) => {
                // Any 4xx from a token endpoint is an invalid grant.
                let Some(connection) = self.connections.get_mut(key) else {
                    return;
                };
                connection.access_token = None;
                connection.refresh_attempts = 0;
                let waiting = std::mem::take(&mut connection.waiting);
                self.trace(format!(
                    "connection {} refresh refused: invalid grant",
                    key.2
                ));
                for transfer_id in waiting {
                    let Some(transfer) = self.transfers.get(&transfer_id) else {
                        continue;
                    };
                    let session_id = transfer.session_id.clone();
                    if let Some(session) = self.sessions.get_mut(&session_id) {
                        session.needs_reauthentication = true;
                    }
                    self.record_error(now, &transfer_id, ErrorType::Authentication, "The provider refused the refresh token (invalid grant); the session needs re-authentication.".to_owned(), None);
                    self.fail_rest(now, &transfer_id, ErrorType::Authentication);
                    self.complete(now, &transfer_id);
                }
            }
            _ => {
                // 5xx, timeout, dropped (or another status): back off like any request.
                let Some(connection) = self.connections.get_mut(key) else {
                    return;
                };
                connection.refresh_attempts += 1;
                if connection.refresh_attempts >= PROVIDER_ATTEMPTS_MAX {
                    connection.refresh_attempts = 0;
                    let waiting = std::mem::take(&mut connection.waiting);
                    for transfer_id in waiting {
                        self.step_failed(
                            now,
                            &transfer_id,
                            ErrorType::Upstream,
                            "The token refresh failed 8 times.".to_owned(),
                        );
                    }
                    return;
                }
                let wait_ms = PROVIDER_BACKOFF_MS[(connection.refresh_attempts - 1) as usize];
                self.set_timer(now + wait_ms, TimerKind::RefreshRetry(key.clone()));
            }
        }
    }

    /// Whether any transfer on a session bound to this connection is running.
    fn connection_has_work(&self, key: &ConnectionKey) -> bool {
        self.sessions.values().any(|session| {
            session.running.is_some()
                && session
                    .binding
                    .as_ref()
                    .is_some_and(|binding| &binding.connection == key)
        })
    }

    /// Marks every push item not yet written as failed with `error_type` (the transfer ends).
    fn fail_rest(&mut self, _now: Millis, transfer_id: &str, error_type: ErrorType) {
        if let Some(transfer) = self.transfers.get_mut(transfer_id) {
            for outcome in transfer.outcomes.iter_mut().filter(|o| o.is_none()) {
                *outcome = Some(PushOutcome {
                    success: false,
                    id: None,
                    created: None,
                    error: Some(Box::new((
                        error_type,
                        "The transfer ended before this item was sent.".to_owned(),
                    ))),
                });
            }
        }
    }

    /// A 401: drop the token the request used, refresh once and resend. Returns false if this
    /// request already had its refresh (the 401 then fails it).
    fn refresh_after_401(&mut self, now: Millis, transfer_id: &str) -> bool {
        let Some(transfer) = self.transfers.get_mut(transfer_id) else {
            return false;
        };
        if transfer.refreshed_after_401 {
            return false;
        }
        transfer.refreshed_after_401 = true;
        let used = transfer.token_used.clone();
        let session_id = transfer.session_id.clone();
        let Some(key) = self
            .sessions
            .get(&session_id)
            .and_then(|s| s.binding.as_ref())
            .map(|b| b.connection.clone())
        else {
            return false;
        };
        if let Some(connection) = self.connections.get_mut(&key)
            && connection.access_token == used
        {
            connection.access_token = None;
        }
        self.trace(format!("transfer {transfer_id} drew 401; refreshing once"));
        self.send_current(now, transfer_id);
        true
    }

    /// Refreshes done per connection (client id → count), for tests.
    pub fn refresh_counts(&self) -> Vec<(String, u64)> {
        self.connections
            .values()
            .map(|c| (c.client_id.clone(), c.refreshes))
            .collect()
    }

    // ----- Helpers ----------------------------------------------------------------------------

    fn set_timer(&mut self, at: Millis, kind: TimerKind) {
        self.timer_seq += 1;
        self.timers.insert(Timer {
            at,
            class: kind.class(),
            seq: self.timer_seq,
            kind,
        });
    }

    fn trace(&mut self, line: String) {
        self.outputs.push_back(Output::Trace(line));
    }

    fn random_hex(&mut self, length: usize) -> String {
        let mut text = String::with_capacity(length);
        while text.len() < length {
            let value: u64 = self.rng.random();
            text.push_str(&format!("{value:016x}"));
        }
        text.truncate(length);
        text
    }

    /// Transfers of `key` waiting in a session queue.
    fn queued_of(&self, key: &str) -> usize {
        self.queued.get(key).copied().unwrap_or(0)
    }

    /// A fresh 24-hex id, unique across sessions, transfers and errors.
    fn mint_id(&mut self) -> Id {
        loop {
            let id = self.random_hex(24);
            if !self.sessions.contains_key(&id)
                && !self.transfers.contains_key(&id)
                && !self.errors.iter().any(|e| e.pk == id)
            {
                return id;
            }
        }
    }

    /// Every API key the engine knows, for invariant checkers (probe every id with every other
    /// key).
    pub fn api_keys(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// Every session id, for invariant checkers and tests.
    pub fn sessions(&self) -> impl Iterator<Item = &Session> {
        self.sessions.values()
    }

    /// Every transfer, for invariant checkers and tests.
    pub fn transfers(&self) -> impl Iterator<Item = &Transfer> {
        self.transfers.values()
    }

    /// The transfer `id`, whoever's it is (for drivers and checkers; the API asks
    /// [`Engine::transfer`], which checks the key).
    pub fn transfer_by_id(&self, id: &str) -> Option<&Transfer> {
        self.transfers.get(id)
    }
}

/// Validates one push item whose structure the API layer checked (`id` and `internal_id`
/// non-empty strings when present, `data` an object), naming `transfer_data[<index>].data...`
/// in the error. `get` looks a field of `data` up. The API layer calls this for both of its
/// readers of a trigger body, so both validate by one set of rules.
pub fn push_item<'a>(
    ty: EndgrateType,
    index: usize,
    id: Option<&str>,
    internal_id: Option<&str>,
    get: impl Fn(&str) -> Option<schema::ItemField<'a>>,
) -> Result<PushItem, EngineError> {
    let data = schema::validate_item_fields(ty, get).map_err(|(field, problem)| {
        EngineError::Field(
            format!("transfer_data[{index}].data.{field}"),
            problem.to_owned(),
        )
    })?;
    Ok(PushItem {
        id: id.map(Box::from),
        internal_id: internal_id.map(Box::from),
        data,
    })
}

/// The items of the transfer's current logical batch, with their external ids, borrowed from
/// the transfer.
fn outgoing_batch(
    resend_as_create: bool,
    transfer: &Transfer,
    batch_size: usize,
) -> Vec<OutgoingItem<'_>> {
    let start = transfer.batch_index * batch_size;
    let end = (start + batch_size).min(transfer.items.len());
    (start..end)
        .map(|index| {
            let item = &transfer.items[index];
            let mut external_id = match &item.internal_id {
                Some(internal_id) => std::borrow::Cow::Borrowed(&**internal_id),
                None => {
                    let mut derived = String::with_capacity(transfer.id.len() + 6);
                    derived.push_str(&transfer.id);
                    derived.push('-');
                    derived.push_str(itoa::Buffer::new().format(index));
                    std::borrow::Cow::Owned(derived)
                }
            };
            if resend_as_create && transfer.attempts > 0 {
                external_id =
                    std::borrow::Cow::Owned(format!("{external_id}-resend{}", transfer.attempts));
            }
            OutgoingItem {
                index,
                id: item.id.as_deref(),
                external_id,
                data: &item.data,
            }
        })
        .collect()
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    text.chars().take(200).collect()
}
