//! The driver loop behind real sockets: one engine behind a mutex, the same phases as the
//! simulated world's `step()`.
//!
//! 1. Inputs (API requests, provider outcomes) go to the engine at the clock's `now`, after the
//!    timers already overdue; at one instant inputs come before timers, as in the world.
//! 2. After every input, the outputs are carried out at once, under the engine lock (so nothing
//!    is in flight unseen): provider calls are spawned on reqwest, synchronous answers complete
//!    the waiting HTTP call, trace lines go to `tracing`.
//! 3. Timers: on a wall clock a driver task sleeps until the earliest one; on a virtual clock only
//!    `advance` fires them, in time order, settling the provider calls each one causes.
//!
//! **Invariant:** the engine lock is never held across an `.await`.
//! **Invariant:** `advance` answers only when no provider call it caused is still in flight.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use tokio::sync::{Notify, oneshot};
use transfersim_mock_providers::{Millis, Outcome, ProviderRequest};
use transfersim_sim::api::{self, ApiError, ApiOutcome};
use transfersim_sim::connectors::{hubspot::HubspotConnector, salesforce::SalesforceConnector};
use transfersim_sim::engine::{Engine, EngineConfig, Output, ProviderName};
use transfersim_sim::limits::PROVIDER_TIMEOUT_MS;

use super::clock::ServeClock;

/// The most timers one advance fires; a runaway engine stops here rather than spinning.
pub const TIMERS_PER_ADVANCE_MAX: u64 = 10_000_000;
/// How long `settle` waits for in-flight provider calls before giving up (each has its own
/// 30 s timeout, so this is only reached if a peer misbehaves in a new way).
pub const SETTLE_WAIT_MAX: Duration = Duration::from_secs(120);

/// The engine and everything the driver keeps beside it. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Service")
            .field("clock", &self.inner.clock)
            .finish_non_exhaustive()
    }
}

struct Inner {
    engine: Mutex<Engine>,
    clock: ServeClock,
    /// Open synchronous calls, by the engine's call id.
    waiting: Mutex<BTreeMap<u64, oneshot::Sender<Response<Bytes>>>>,
    /// Provider calls sent and not yet reported to the engine.
    in_flight: AtomicU64,
    /// Notified when `in_flight` drops to zero.
    settled: Notify,
    /// Concurrent advances run one after the other.
    advance_lock: tokio::sync::Mutex<()>,
    /// Notified when an input may have changed the engine's timers (wakes the wall-clock task).
    timers_changed: Notify,
    shutting_down: AtomicBool,
    /// Synchronous calls whose answer has not yet been handed to the server.
    open_sync_answers: AtomicU64,
    client: reqwest::Client,
}

impl Service {
    /// A service with its engine; `config.virtual_clock` is set from the clock.
    pub fn new(mut config: EngineConfig, clock: ServeClock) -> Self {
        config.virtual_clock = clock.is_virtual();
        let mut engine = Engine::new(config);
        engine.set_connector(ProviderName::Hubspot, Box::new(HubspotConnector));
        engine.set_connector(ProviderName::Salesforce, Box::new(SalesforceConnector));
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(PROVIDER_TIMEOUT_MS))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self {
            inner: Arc::new(Inner {
                engine: Mutex::new(engine),
                clock,
                waiting: Mutex::new(BTreeMap::new()),
                in_flight: AtomicU64::new(0),
                settled: Notify::new(),
                advance_lock: tokio::sync::Mutex::new(()),
                timers_changed: Notify::new(),
                shutting_down: AtomicBool::new(false),
                open_sync_answers: AtomicU64::new(0),
                client,
            }),
        }
    }

    /// The driver's clock.
    pub fn clock(&self) -> &ServeClock {
        &self.inner.clock
    }

    /// Starts the task that fires timers on a wall clock (a virtual clock needs none: only
    /// `advance` moves it). Call once, inside the runtime.
    pub fn spawn_timer_task(&self) -> Option<tokio::task::JoinHandle<()>> {
        if self.inner.clock.is_virtual() {
            return None;
        }
        let inner = self.inner.clone();
        Some(tokio::spawn(async move { inner.run_wall_timers().await }))
    }

    /// Handles one API request (body already read) and answers it; a synchronous trigger waits
    /// here for its end, an advance for its settling.
    pub async fn handle(&self, request: Request<Bytes>) -> Response<Bytes> {
        let inner = &self.inner;
        let entered = catch_unwind(AssertUnwindSafe(|| {
            inner.with_engine(|engine, now| {
                let outcome = api::handle(engine, now, &request);
                let receiver = match &outcome {
                    ApiOutcome::Pending { call, .. } => {
                        let (sender, receiver) = oneshot::channel();
                        inner.open_sync_answers.fetch_add(1, Ordering::SeqCst);
                        inner
                            .waiting
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .insert(*call, sender);
                        Some(receiver)
                    }
                    _ => None,
                };
                (outcome, receiver)
            })
        }));
        let Ok((outcome, receiver)) = entered else {
            tracing::error!("the engine panicked while handling a request");
            return internal_error(inner.clock.now());
        };
        match (outcome, receiver) {
            (ApiOutcome::Respond(response), _) => response,
            (ApiOutcome::Pending { .. }, Some(receiver)) => {
                let answer = receiver.await;
                inner.open_sync_answers.fetch_sub(1, Ordering::SeqCst);
                answer.unwrap_or_else(|_| shutting_down(inner.clock.now()))
            }
            (ApiOutcome::Pending { .. }, None) => internal_error(inner.clock.now()),
            (ApiOutcome::Advance { millis }, _) => {
                let now = inner.advance(millis).await;
                api::advance_response(now)
            }
        }
    }

    /// Answers every open synchronous call with 503 and stops the timer task; transfers are not
    /// cancelled. Returns once those answers have been handed to the server (bounded).
    pub async fn shut_down(&self) {
        let inner = &self.inner;
        inner.shutting_down.store(true, Ordering::SeqCst);
        inner.with_engine(|engine, _| engine.shut_down());
        inner.timers_changed.notify_one();
        // Bounded: 100 turns of 10 ms for the handlers to return their 503s.
        for _ in 0..100 {
            if inner.open_sync_answers.load(Ordering::SeqCst) == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Provider calls in flight (for tests).
    pub fn provider_calls_in_flight(&self) -> u64 {
        self.inner.in_flight.load(Ordering::SeqCst)
    }
}

fn internal_error(now: Millis) -> Response<Bytes> {
    api::error_response(
        now,
        &ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: "Internal error.".to_owned(),
            errors: None,
            retry_after: None,
            allow: None,
        },
    )
}

/// The client for webhook deliveries: redirects are failures (CONTRACT.md section 8) and an
/// attempt ends after 10 s. Built once; `None` only if the TLS-less builder cannot start.
fn webhook_client() -> Option<&'static reqwest::Client> {
    static CLIENT: std::sync::OnceLock<Option<reqwest::Client>> = std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(10))
                .build()
                .ok()
        })
        .as_ref()
}

fn shutting_down(now: Millis) -> Response<Bytes> {
    api::sync_response(now, "", transfersim_sim::engine::SyncEnd::ShuttingDown)
}

impl Inner {
    /// Runs `action` on the engine at the clock's `now`, after the timers already overdue, then
    /// carries out the outputs. The lock is held only for this synchronous section.
    fn with_engine<R>(self: &Arc<Self>, action: impl FnOnce(&mut Engine, Millis) -> R) -> R {
        let mut engine = self.engine.lock().unwrap_or_else(PoisonError::into_inner);
        let now = self.clock.now();
        // Timers strictly before `now` are overdue; at `now` itself inputs go first.
        while engine.next_timer().is_some_and(|(at, _)| at < now) && engine.fire_next_timer(now) {
            self.carry_out(&mut engine, now);
        }
        let result = action(&mut engine, now);
        self.carry_out(&mut engine, now);
        drop(engine);
        self.timers_changed.notify_one();
        result
    }

    /// Carries out the engine's outputs. Adding an output variant is one arm here.
    fn carry_out(self: &Arc<Self>, engine: &mut Engine, now: Millis) {
        for output in engine.take_outputs() {
            match output {
                Output::ProviderCall { call, request } => {
                    self.in_flight.fetch_add(1, Ordering::SeqCst);
                    let inner = self.clone();
                    tokio::spawn(async move { inner.call_provider(call, request).await });
                }
                Output::SyncAnswer {
                    call,
                    transfer_id,
                    end,
                } => {
                    let sender = self
                        .waiting
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .remove(&call);
                    if let Some(sender) = sender {
                        // The caller may have gone away; then nobody needs the answer.
                        let _ = sender.send(api::sync_response(now, &transfer_id, end));
                    }
                }
                Output::WebhookDelivery {
                    delivery,
                    endpoint,
                    headers,
                    body,
                } => {
                    // Counted like a provider call, so `advance` settles deliveries too.
                    self.in_flight.fetch_add(1, Ordering::SeqCst);
                    let inner = self.clone();
                    tokio::spawn(async move {
                        inner
                            .deliver_webhook(delivery, endpoint, headers, body)
                            .await;
                    });
                }
                Output::Trace(line) => tracing::debug!(target: "transfersim::engine", "{line}"),
            }
        }
    }

    /// POSTs one webhook attempt (no redirects, 10 s of wall time) and reports how it ended.
    async fn deliver_webhook(
        self: Arc<Self>,
        delivery: u64,
        endpoint: String,
        headers: http::HeaderMap,
        body: Bytes,
    ) {
        let started = tokio::time::Instant::now();
        let status = match webhook_client() {
            Some(client) => client
                .post(&endpoint)
                .headers(headers)
                .body(body)
                .send()
                .await
                .ok()
                .map(|response| response.status().as_u16()),
            None => None,
        };
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.with_engine(|engine, now| engine.on_webhook_result(now, delivery, status, elapsed_ms));
        if self.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.settled.notify_waiters();
        }
    }

    /// Sends one provider request and reports its outcome to the engine.
    async fn call_provider(self: Arc<Self>, call: u64, request: ProviderRequest) {
        let outcome = send(&self.client, request).await;
        self.with_engine(|engine, now| engine.on_provider_outcome(now, call, outcome));
        // After the outcome is in: calls it caused are already counted, so zero means settled.
        if self.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.settled.notify_waiters();
        }
    }

    /// Waits until no provider call is in flight (bounded by [`SETTLE_WAIT_MAX`]).
    async fn settle(&self) {
        let deadline = tokio::time::Instant::now() + SETTLE_WAIT_MAX;
        // Bounded by the deadline: every turn waits for a notification or 100 ms.
        loop {
            let notified = self.settled.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.in_flight.load(Ordering::SeqCst) == 0 {
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!("provider calls still in flight after {SETTLE_WAIT_MAX:?}");
                return;
            }
            let _ = tokio::time::timeout(Duration::from_millis(100), notified).await;
        }
    }

    /// Advances a virtual clock by `millis`: settles, fires each due timer in time order at its
    /// own instant and settles what it caused, then stands the clock at the end. Answers the end.
    async fn advance(self: &Arc<Self>, millis: Millis) -> Millis {
        let _serialised = self.advance_lock.lock().await;
        let until = self.clock.now().saturating_add(millis);
        for _ in 0..TIMERS_PER_ADVANCE_MAX {
            self.settle().await;
            let fired = {
                let mut engine = self.engine.lock().unwrap_or_else(PoisonError::into_inner);
                match engine.next_timer() {
                    Some((at, _)) if at <= until => {
                        self.clock.move_to(at);
                        let now = self.clock.now();
                        let fired = engine.fire_next_timer(now);
                        self.carry_out(&mut engine, now);
                        fired
                    }
                    _ => false,
                }
            };
            if !fired {
                break;
            }
        }
        self.clock.move_to(until);
        self.settle().await;
        self.clock.now()
    }

    /// The wall-clock timer task: fire what is due, sleep until the next timer or a change.
    async fn run_wall_timers(self: Arc<Self>) {
        // The server's lifetime loop: it ends at shutdown.
        while !self.shutting_down.load(Ordering::SeqCst) {
            let changed = self.timers_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let (now, next) = {
                let mut engine = self.engine.lock().unwrap_or_else(PoisonError::into_inner);
                let now = self.clock.now();
                while engine.next_timer().is_some_and(|(at, _)| at <= now)
                    && engine.fire_next_timer(now)
                {
                    self.carry_out(&mut engine, now);
                }
                (now, engine.next_timer().map(|(at, _)| at))
            };
            match next {
                Some(at) => {
                    let sleep = tokio::time::sleep(Duration::from_millis(at.saturating_sub(now)));
                    tokio::select! {
                        () = sleep => {}
                        () = &mut changed => {}
                    }
                }
                None => changed.await,
            }
        }
    }
}

/// One provider request over reqwest: an answer (any status), a timeout, or a dropped
/// connection (any other failure, a truncated body included).
async fn send(client: &reqwest::Client, request: ProviderRequest) -> Outcome {
    let (parts, body) = request.into_parts();
    let url = parts.uri.to_string();
    let sent = client
        .request(parts.method, &url)
        .headers(parts.headers)
        .body(body)
        .send()
        .await;
    let response = match sent {
        Ok(response) => response,
        Err(error) if error.is_timeout() => return Outcome::Timeout,
        Err(error) => {
            tracing::debug!(%url, %error, "provider connection failed");
            return Outcome::Dropped;
        }
    };
    let status = response.status();
    let headers = response.headers().clone();
    match response.bytes().await {
        Ok(body) => {
            let mut answer = Response::new(body);
            *answer.status_mut() = status;
            *answer.headers_mut() = headers;
            Outcome::Answer(answer)
        }
        Err(error) if error.is_timeout() => Outcome::Timeout,
        Err(_) => Outcome::Dropped,
    }
}
