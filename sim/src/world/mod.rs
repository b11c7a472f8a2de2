//! The simulated world: the engine, in-process providers, a virtual clock from a fixed epoch,
//! one seeded RNG and a discrete-event queue ordered by (time, class, sequence).
//!
//! One [`World::step`] is the whole scheduler, in plain phases:
//! 1. pick the earliest due thing: a world event (a provider outcome) or an engine timer; at one
//!    instant world events come first, then engine timers in their class order;
//! 2. move the clock there and hand it to the engine;
//! 3. carry out what the engine asked for (provider calls, synchronous answers, trace lines).
//!
//! **Invariant:** the same seed and inputs give a byte-identical trace.

pub mod scripted;

use std::collections::{BTreeMap, VecDeque};
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc;

use bytes::Bytes;
use http::{Request, Response};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use sha2::{Digest, Sha256};
use transfersim_mock_providers::{
    Hubspot, InProcessProvider, Millis, Outcome, ProviderRequest, Salesforce,
};

use crate::api::{self, ApiOutcome};
use crate::connectors::{hubspot::HubspotConnector, salesforce::SalesforceConnector};
use crate::engine::{Engine, EngineConfig, Output, PageParse, ParsedPage, ProviderName, SyncEnd};
use crate::limits::PROVIDER_TIMEOUT_MS;
use crate::time::DEFAULT_EPOCH_MS;
use crate::webhook::receiver::Receiver;
use transfersim_mock_providers::account::DEFAULT_LATENCY_MS;

/// Where the world hosts its hubspot mock (the layout `serve` uses too).
pub const HUBSPOT_BASE_URL: &str = "http://providers.sim/providers/hubspot";
/// Where the world hosts its salesforce mock.
pub const SALESFORCE_BASE_URL: &str = "http://providers.sim/providers/salesforce";

/// The most events one advance may process; a runaway simulation stops here with a panic that
/// names the bound rather than spinning forever.
pub const EVENTS_PER_ADVANCE_MAX: u64 = 50_000_000;

/// Advances at least this long run pipelined (see [`World::advance`]); shorter ones are not worth
/// a thread.
pub const PIPELINE_MIN_ADVANCE_MS: Millis = 1_000;

/// How a world is set up.
#[derive(Debug, Clone)]
pub struct WorldConfig {
    /// The root seed: the engine's ids and every random choice of the world derive from it.
    pub seed: u64,
    /// Virtual time at start.
    pub epoch_ms: Millis,
    pub engine: EngineConfig,
    /// Whether long advances serve provider requests on a second thread (the results are the
    /// same either way; off, everything runs on the caller's thread).
    pub pipeline: bool,
}

impl Default for WorldConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            epoch_ms: DEFAULT_EPOCH_MS,
            engine: EngineConfig::default(),
            pipeline: true,
        }
    }
}

/// A handle to an API call made through the world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CallHandle(u64);

/// An answered API call: when it was answered and what it said.
#[derive(Debug, Clone)]
pub struct Answered {
    pub at: Millis,
    pub response: Response<Bytes>,
}

impl Answered {
    /// The status code.
    pub fn status(&self) -> u16 {
        self.response.status().as_u16()
    }

    /// The body as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(self.response.body()).unwrap_or(Value::Null)
    }
}

/// One synchronous trigger as the world saw it: when it was sent and how and when it was
/// answered. Invariant checkers read this log (a synchronous answer comes at completion, at the
/// cap, or at the session's end, never otherwise).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncCallRecord {
    pub handle: CallHandle,
    pub transfer_id: String,
    pub session_id: String,
    pub sent_at: Millis,
    /// When and why it was answered, once it was.
    pub answered: Option<(Millis, SyncEnd)>,
}

#[derive(Debug)]
enum Event {
    ProviderOutcome {
        call: u64,
        outcome: Outcome,
        /// The answer's page, when the provider thread read it ahead.
        page: Option<ParsedPage>,
    },
    WebhookResult {
        delivery: u64,
        status: Option<u16>,
        answered_after_ms: Millis,
    },
}

/// A provider the world hosts: the two mocks by type (so tests can create accounts, seed
/// records and read journals), or any other in-process provider.
enum Hosted {
    Hubspot(Hubspot),
    Salesforce(Salesforce),
    Other(Box<dyn InProcessProvider + Send>),
}

impl Hosted {
    fn handle(
        &mut self,
        now: Millis,
        request: ProviderRequest,
    ) -> transfersim_mock_providers::Served {
        match self {
            Hosted::Hubspot(mock) => mock.handle(now, request),
            Hosted::Salesforce(mock) => mock.handle(now, request),
            Hosted::Other(provider) => provider.handle(now, request),
        }
    }

    /// The shortest time this provider can take to answer: its accounts' least latency (and
    /// the default latency, for requests that name no account). `None` when it cannot say.
    fn least_latency_ms(&self) -> Option<Millis> {
        let mock = match self {
            Hosted::Hubspot(mock) => &**mock,
            Hosted::Salesforce(mock) => &**mock,
            Hosted::Other(_) => return None,
        };
        let least = mock
            .account_ids()
            .iter()
            .filter_map(|id| mock.account_options(id).ok())
            .map(|options| options.latency_ms)
            .min()
            .unwrap_or(DEFAULT_LATENCY_MS);
        Some(least.min(DEFAULT_LATENCY_MS))
    }
}

/// A provider request handed to the provider thread, with how to read its answer when it is
/// a pull page (the thread reads it too, so that the engine's thread does not).
struct Job {
    provider: usize,
    now: Millis,
    request: ProviderRequest,
    page: Option<PageParse>,
}

/// The provider thread's answer to a job.
struct Done {
    served: transfersim_mock_providers::Served,
    page: Option<ParsedPage>,
}

/// A provider request out on the provider thread.
struct Pending {
    call: u64,
    seq: u64,
    sent_at: Millis,
    /// The earliest instant its outcome can be due.
    earliest: Millis,
}

/// The world's side of a pipelined advance: the provider thread serves requests in the order
/// they were sent and answers in that order.
struct Pipeline {
    jobs: mpsc::Sender<Job>,
    served: mpsc::Receiver<Done>,
    pending: VecDeque<Pending>,
    /// No outcome is due sooner than this after its request (0 once a request may answer at
    /// once, such as an admin route's).
    lookahead: Millis,
}

struct HostedProvider {
    base_url: String,
    provider: Hosted,
}

/// The discrete-event simulation.
pub struct World {
    engine: Engine,
    rng: ChaCha8Rng,
    epoch_ms: Millis,
    now: Millis,
    events: BTreeMap<(Millis, u64), Event>,
    event_seq: u64,
    providers: Vec<HostedProvider>,
    /// The hosted providers' base URLs, in `providers` order (kept while a pipelined advance
    /// has the providers on its thread).
    provider_urls: Vec<String>,
    pipelining: bool,
    pipeline: Option<Pipeline>,
    pipelined_runs: u64,
    /// Webhook receivers by endpoint URL.
    receivers: BTreeMap<String, Receiver>,
    calls: BTreeMap<CallHandle, Option<Answered>>,
    sync_calls: BTreeMap<u64, CallHandle>,
    sync_log: BTreeMap<u64, SyncCallRecord>,
    next_handle: u64,
    trace: Vec<String>,
    events_processed: u64,
}

impl std::fmt::Debug for World {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("World")
            .field("now", &self.now)
            .field("events", &self.events.len())
            .field("providers", &self.providers.len())
            .finish_non_exhaustive()
    }
}

impl World {
    /// A world at its epoch, with no providers.
    pub fn new(config: WorldConfig) -> Self {
        let mut engine_config = config.engine;
        engine_config.seed = config.seed;
        engine_config.virtual_clock = true;
        let mut engine = Engine::new(engine_config);
        engine.set_connector(ProviderName::Hubspot, Box::new(HubspotConnector));
        engine.set_connector(ProviderName::Salesforce, Box::new(SalesforceConnector));
        let providers = vec![
            HostedProvider {
                base_url: HUBSPOT_BASE_URL.to_owned(),
                provider: Hosted::Hubspot(Hubspot::new(
                    HUBSPOT_BASE_URL,
                    config.seed ^ 0x4855_4253,
                )),
            },
            HostedProvider {
                base_url: SALESFORCE_BASE_URL.to_owned(),
                provider: Hosted::Salesforce(Salesforce::new(
                    SALESFORCE_BASE_URL,
                    config.seed ^ 0x5346_4443,
                )),
            },
        ];
        Self {
            engine,
            rng: ChaCha8Rng::seed_from_u64(config.seed ^ 0x5EED_F0A1),
            epoch_ms: config.epoch_ms,
            now: config.epoch_ms,
            events: BTreeMap::new(),
            event_seq: 0,
            provider_urls: providers
                .iter()
                .map(|hosted| hosted.base_url.clone())
                .collect(),
            providers,
            pipelining: config.pipeline,
            pipeline: None,
            pipelined_runs: 0,
            receivers: BTreeMap::new(),
            calls: BTreeMap::new(),
            sync_calls: BTreeMap::new(),
            sync_log: BTreeMap::new(),
            next_handle: 1,
            trace: Vec::new(),
            events_processed: 0,
        }
    }

    /// The engine, to install connectors or inspect state.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The engine, mutably.
    pub fn engine_mut(&mut self) -> &mut Engine {
        &mut self.engine
    }

    /// The world's RNG, for workloads and fault plans derived from the root seed.
    pub fn rng(&mut self) -> &mut ChaCha8Rng {
        &mut self.rng
    }

    /// Hosts `provider` at `base_url` (no trailing slash): requests whose URL starts with it go
    /// there, with the base stripped. The hubspot and salesforce mocks are hosted from the start
    /// at [`HUBSPOT_BASE_URL`] and [`SALESFORCE_BASE_URL`].
    pub fn host_provider(&mut self, base_url: &str, provider: Box<dyn InProcessProvider + Send>) {
        let base_url = base_url.trim_end_matches('/').to_owned();
        self.provider_urls.push(base_url.clone());
        self.providers.push(HostedProvider {
            base_url,
            provider: Hosted::Other(provider),
        });
    }

    /// Hosts a webhook receiver at `endpoint`: deliveries to exactly that URL reach it. Its rule
    /// times are absolute virtual times (add [`World::now`] to times relative to the start).
    pub fn host_receiver(&mut self, endpoint: &str, receiver: Receiver) {
        self.receivers.insert(endpoint.to_owned(), receiver);
    }

    /// The receiver at `endpoint`, with its log of arrivals.
    pub fn receiver(&self, endpoint: &str) -> Option<&Receiver> {
        self.receivers.get(endpoint)
    }

    /// The hosted hubspot mock: create accounts, seed records, read the journal.
    pub fn hubspot(&mut self) -> &mut Hubspot {
        match self
            .providers
            .iter_mut()
            .find_map(|hosted| match &mut hosted.provider {
                Hosted::Hubspot(mock) => Some(mock),
                _ => None,
            }) {
            Some(mock) => mock,
            None => panic!("the world always hosts a hubspot mock"),
        }
    }

    /// The hosted salesforce mock.
    pub fn salesforce(&mut self) -> &mut Salesforce {
        match self
            .providers
            .iter_mut()
            .find_map(|hosted| match &mut hosted.provider {
                Hosted::Salesforce(mock) => Some(mock),
                _ => None,
            }) {
            Some(mock) => mock,
            None => panic!("the world always hosts a salesforce mock"),
        }
    }

    /// The hosted mock of `provider`, read-only: invariant checkers read records and journals.
    pub fn mock(&self, provider: ProviderName) -> &transfersim_mock_providers::Mock {
        let found = self
            .providers
            .iter()
            .find_map(|hosted| match (&hosted.provider, provider) {
                (Hosted::Hubspot(mock), ProviderName::Hubspot) => Some(&**mock),
                (Hosted::Salesforce(mock), ProviderName::Salesforce) => Some(&**mock),
                _ => None,
            });
        match found {
            Some(mock) => mock,
            None => panic!("the world always hosts both mocks"),
        }
    }

    /// Every synchronous trigger so far, in the order they were sent.
    pub fn sync_calls(&self) -> impl Iterator<Item = &SyncCallRecord> {
        self.sync_log.values()
    }

    /// Virtual time now.
    pub fn now(&self) -> Millis {
        self.now
    }

    /// Milliseconds since the epoch.
    pub fn elapsed_ms(&self) -> Millis {
        self.now - self.epoch_ms
    }

    /// Events processed so far.
    pub fn events_processed(&self) -> u64 {
        self.events_processed
    }

    /// How many advances ran pipelined so far (see [`World::advance`]).
    pub fn pipelined_runs(&self) -> u64 {
        self.pipelined_runs
    }

    /// Sends an API request at the current instant. Asynchronous answers are ready at once;
    /// synchronous triggers are answered later; a clock advance runs before it answers.
    pub fn request(&mut self, request: Request<Bytes>) -> CallHandle {
        let handle = CallHandle(self.next_handle);
        self.next_handle += 1;
        self.trace_line(format!("api {} {}", request.method(), request.uri()));
        let outcome = api::handle(&mut self.engine, self.now, &request);
        self.calls.insert(handle, None);
        match outcome {
            ApiOutcome::Respond(response) => self.answer(handle, response),
            ApiOutcome::Pending { call, transfer_id } => {
                self.sync_calls.insert(call, handle);
                let session_id = self
                    .engine
                    .transfer_by_id(&transfer_id)
                    .map(|transfer| transfer.session_id.clone())
                    .unwrap_or_default();
                self.sync_log.insert(
                    call,
                    SyncCallRecord {
                        handle,
                        transfer_id,
                        session_id,
                        sent_at: self.now,
                        answered: None,
                    },
                );
            }
            ApiOutcome::Advance { millis } => {
                self.advance(millis);
                let response = api::advance_response(self.now);
                self.answer(handle, response);
            }
        }
        self.carry_out_outputs();
        handle
    }

    /// Builds and sends a JSON API request with a bearer key.
    pub fn call(
        &mut self,
        method: &str,
        path_and_query: &str,
        key: &str,
        body: Option<&Value>,
    ) -> CallHandle {
        let body = body.map(|value| Bytes::from(value.to_string()));
        self.call_bytes(method, path_and_query, key, body)
    }

    /// [`World::call`] with a body already written as JSON text.
    pub fn call_bytes(
        &mut self,
        method: &str,
        path_and_query: &str,
        key: &str,
        body: Option<Bytes>,
    ) -> CallHandle {
        let mut builder = Request::builder()
            .method(method)
            .uri(path_and_query)
            .header(http::header::AUTHORIZATION, format!("Bearer {key}"));
        if body.is_some() {
            builder = builder.header(http::header::CONTENT_TYPE, "application/json");
        }
        match builder.body(body.unwrap_or_default()) {
            Ok(request) => self.request(request),
            Err(error) => panic!("test built an invalid request to {path_and_query}: {error}"),
        }
    }

    /// The answer of a call, once it has one.
    pub fn answer_of(&self, handle: CallHandle) -> Option<&Answered> {
        self.calls.get(&handle).and_then(Option::as_ref)
    }

    /// Takes the answer of a call out of the world, once it has one, so that a long run (the
    /// load generator) does not keep every answer it has read.
    pub fn take_answer(&mut self, handle: CallHandle) -> Option<Answered> {
        match self.calls.get(&handle) {
            Some(Some(_)) => self.calls.remove(&handle).flatten(),
            _ => None,
        }
    }

    /// Runs everything due up to `now + millis`, then sets the clock there.
    ///
    /// An advance of at least [`PIPELINE_MIN_ADVANCE_MS`] runs **pipelined** when every hosted
    /// provider is a mock (and [`WorldConfig::pipeline`] is on): the mocks serve requests on a
    /// second thread while this one runs the engine. A request's outcome cannot be due before
    /// its send time plus the mocks' least latency (the lookahead), so the scheduler runs every
    /// event before that instant without waiting, and waits for an answer only when the next
    /// thing due could be it. The mocks see the same requests at the same virtual times in the
    /// same order, and the engine the same inputs in the same order, so the trace is the one the
    /// single-threaded run gives (a test compares their hashes).
    pub fn advance(&mut self, millis: Millis) {
        let until = self.now.saturating_add(millis);
        self.run_to(until, millis);
        self.now = until;
    }

    /// Runs until nothing is left to do or `max_ms` of virtual time has passed; returns the time
    /// it stopped at.
    pub fn run_until_idle(&mut self, max_ms: Millis) -> Millis {
        let until = self.now.saturating_add(max_ms);
        self.run_to(until, max_ms);
        self.now
    }

    /// Steps until nothing is due by `until`, pipelined when that is worth it and possible.
    fn run_to(&mut self, until: Millis, span: Millis) {
        if self.pipeline.is_some() {
            // Inside [`World::pipelined`]: the provider thread is already serving.
            self.run_steps(until);
            return;
        }
        match self.lookahead().filter(|_| span >= PIPELINE_MIN_ADVANCE_MS) {
            Some(lookahead) => {
                self.pipelined_runs += 1;
                self.with_provider_thread(lookahead, |world| world.run_steps(until));
            }
            None => self.run_steps(until),
        }
    }

    /// The pipeline's lookahead: the hosted providers' least latency (at most the 30 s timeout),
    /// `None` when pipelining is off, a provider cannot say, or it is 0.
    fn lookahead(&self) -> Option<Millis> {
        if !self.pipelining {
            return None;
        }
        self.providers
            .iter()
            .map(|hosted| hosted.provider.least_latency_ms())
            .collect::<Option<Vec<Millis>>>()
            .and_then(|latencies| latencies.into_iter().min())
            // A timeout is due 30 s after its request, whatever the latency.
            .map(|least| least.min(PROVIDER_TIMEOUT_MS))
            .filter(|&least| least > 0)
    }

    /// Runs `work` with the providers serving on a second thread for its whole length, so that
    /// the provider requests of API calls overlap with the engine's work too (see
    /// [`World::advance`]); without a lookahead, `work` runs as usual. Inside, the mocks are on
    /// that thread: [`World::hubspot`], [`World::salesforce`] and [`World::mock`] must not be
    /// called (they panic). The load generator runs its whole loop this way.
    pub fn pipelined<R>(&mut self, work: impl FnOnce(&mut World) -> R) -> R {
        match self.lookahead().filter(|_| self.pipeline.is_none()) {
            Some(lookahead) => {
                self.pipelined_runs += 1;
                self.with_provider_thread(lookahead, work)
            }
            None => work(self),
        }
    }

    fn run_steps(&mut self, until: Millis) {
        let mut processed = 0u64;
        while self.step(until) {
            processed += 1;
            assert!(
                processed < EVENTS_PER_ADVANCE_MAX,
                "world exceeded {EVENTS_PER_ADVANCE_MAX} events in one advance: a runaway loop"
            );
        }
    }

    /// Runs `work` with the providers on a second thread, then takes them back once every
    /// request out has its outcome scheduled.
    fn with_provider_thread<R>(
        &mut self,
        lookahead: Millis,
        work: impl FnOnce(&mut World) -> R,
    ) -> R {
        let providers = std::mem::take(&mut self.providers);
        let (jobs, inbox) = mpsc::channel::<Job>();
        let (outbox, served) = mpsc::channel();
        let (providers, outcome) = std::thread::scope(|scope| {
            let worker = scope.spawn(move || {
                let mut providers = providers;
                // Bounded: ends when the world drops its sender at the end of `work`.
                for job in inbox {
                    let served = providers[job.provider]
                        .provider
                        .handle(job.now, job.request);
                    let page = match (&job.page, &served.outcome) {
                        (Some(reading), Outcome::Answer(response)) => reading.parse(response),
                        _ => None,
                    };
                    if outbox.send(Done { served, page }).is_err() {
                        break;
                    }
                }
                providers
            });
            self.pipeline = Some(Pipeline {
                jobs,
                served,
                pending: VecDeque::new(),
                lookahead,
            });
            let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
                let result = work(self);
                // Every request out gets its outcome scheduled before the providers come back.
                while self.receive_served() {}
                result
            }));
            // Dropping the sender ends the provider thread's loop.
            self.pipeline = None;
            let providers = match worker.join() {
                Ok(providers) => providers,
                Err(panic) => panic::resume_unwind(panic),
            };
            (providers, outcome)
        });
        self.providers = providers;
        match outcome {
            Ok(result) => result,
            Err(panic) => panic::resume_unwind(panic),
        }
    }

    /// Takes the provider thread's answer to the oldest pending request and schedules its
    /// outcome. `false` when nothing is pending.
    fn receive_served(&mut self) -> bool {
        let Some(pipeline) = &mut self.pipeline else {
            return false;
        };
        let Some(pending) = pipeline.pending.pop_front() else {
            return false;
        };
        let (served, page) = match pipeline.served.recv() {
            Ok(done) => (done.served, done.page),
            // The provider thread only stops early by panicking; its join reports the panic.
            Err(_) => (
                transfersim_mock_providers::Served {
                    outcome: Outcome::Dropped,
                    latency_ms: 0,
                    acted: false,
                },
                None,
            ),
        };
        let (at, outcome) = Self::outcome_at(pending.sent_at, served);
        self.events.insert(
            (at, pending.seq),
            Event::ProviderOutcome {
                call: pending.call,
                outcome,
                page,
            },
        );
        true
    }

    /// When a served request's outcome is due: after its latency, or at the 30 s timeout.
    fn outcome_at(
        sent_at: Millis,
        served: transfersim_mock_providers::Served,
    ) -> (Millis, Outcome) {
        match served.outcome {
            Outcome::Timeout => (sent_at + PROVIDER_TIMEOUT_MS, Outcome::Timeout),
            _ if served.latency_ms >= PROVIDER_TIMEOUT_MS => {
                (sent_at + PROVIDER_TIMEOUT_MS, Outcome::Timeout)
            }
            outcome => (sent_at + served.latency_ms, outcome),
        }
    }

    /// One scheduler step, if anything is due by `until`. Returns whether it did something.
    pub fn step(&mut self, until: Millis) -> bool {
        // Phase 1: the earliest due thing; world events before engine timers at one instant.
        // While pipelined, a request out on the provider thread may become the earliest: wait
        // for it whenever its earliest instant is not after the next thing known.
        let next = loop {
            let world_next = self.events.keys().next().map(|&(at, seq)| (at, 0u8, seq));
            let engine_next = self
                .engine
                .next_timer()
                .map(|(at, class)| (at, class + 1, 0));
            let next = match (world_next, engine_next) {
                (Some(w), Some(e)) => Some(w.min(e)),
                (w, e) => w.or(e),
            };
            let earliest_pending = self
                .pipeline
                .as_ref()
                .and_then(|pipeline| pipeline.pending.front())
                .map(|pending| pending.earliest);
            match earliest_pending {
                Some(earliest)
                    if earliest <= until && next.is_none_or(|(at, _, _)| earliest <= at) =>
                {
                    self.receive_served();
                }
                _ => break next,
            }
        };
        let Some(next) = next else {
            return false;
        };
        if next.0 > until {
            return false;
        }
        // Phase 2: move the clock and deliver.
        self.now = self.now.max(next.0);
        self.events_processed += 1;
        if next.1 == 0 {
            if let Some(event) = self.events.remove(&(next.0, next.2)) {
                match event {
                    Event::ProviderOutcome {
                        call,
                        outcome,
                        page,
                    } => self
                        .engine
                        .on_provider_outcome_parsed(self.now, call, outcome, page),
                    Event::WebhookResult {
                        delivery,
                        status,
                        answered_after_ms,
                    } => {
                        self.engine.on_webhook_result(
                            self.now,
                            delivery,
                            status,
                            answered_after_ms,
                        );
                    }
                }
            }
        } else {
            self.engine.fire_next_timer(self.now);
        }
        // Phase 3: carry out what the engine asked for.
        self.carry_out_outputs();
        true
    }

    fn carry_out_outputs(&mut self) {
        // Bounded: each provider call schedules an event rather than answering inline.
        for output in self.engine.take_outputs() {
            match output {
                Output::Trace(line) => self.trace_line(line),
                Output::SyncAnswer {
                    call,
                    transfer_id,
                    end,
                } => {
                    if let Some(record) = self.sync_log.get_mut(&call) {
                        record.answered = Some((self.now, end));
                    }
                    if let Some(handle) = self.sync_calls.remove(&call) {
                        let response = api::sync_response(self.now, &transfer_id, end);
                        self.answer(handle, response);
                    }
                }
                Output::ProviderCall { call, request } => self.send_to_provider(call, request),
                Output::WebhookDelivery {
                    delivery,
                    endpoint,
                    headers,
                    body,
                } => {
                    // A missing receiver refuses the connection at once.
                    let (status, delay_ms, ended_after_ms) = match self.receivers.get_mut(&endpoint)
                    {
                        Some(receiver) => {
                            let answer = receiver.receive(self.now, &endpoint, headers, body);
                            (answer.status, answer.delay_ms, answer.ended_after_ms())
                        }
                        None => (None, 0, 0),
                    };
                    self.event_seq += 1;
                    let event = Event::WebhookResult {
                        delivery,
                        status,
                        answered_after_ms: delay_ms,
                    };
                    self.events
                        .insert((self.now + ended_after_ms, self.event_seq), event);
                }
            }
        }
    }

    fn send_to_provider(&mut self, call: u64, request: ProviderRequest) {
        let url = request.uri().to_string();
        let Some(index) = self.provider_urls.iter().position(|base_url| {
            url.strip_prefix(base_url.as_str()).is_some_and(|rest| {
                rest.is_empty() || rest.starts_with('/') || rest.starts_with('?')
            })
        }) else {
            // No provider there: the connection is refused at once.
            self.event_seq += 1;
            self.events.insert(
                (self.now, self.event_seq),
                Event::ProviderOutcome {
                    call,
                    outcome: Outcome::Dropped,
                    page: None,
                },
            );
            return;
        };
        let relative = &url[self.provider_urls[index].len()..];
        let relative = if relative.is_empty() { "/" } else { relative };
        let admin = relative == "/__admin" || relative.starts_with("/__admin/");
        let (parts, body) = request.into_parts();
        let mut inner = Request::from_parts(parts, body);
        *inner.uri_mut() = relative
            .parse()
            .unwrap_or_else(|_| http::Uri::from_static("/"));
        self.event_seq += 1;
        let seq = self.event_seq;
        if let Some(pipeline) = &mut self.pipeline {
            if admin && pipeline.lookahead > 0 {
                // An admin route answers at once and may change the accounts' latency: from
                // here on every answer is waited for, as in a single-threaded run.
                pipeline.lookahead = 0;
            }
            let earliest = self.now + pipeline.lookahead;
            let page = self.engine.page_parse(call);
            if pipeline
                .jobs
                .send(Job {
                    provider: index,
                    now: self.now,
                    request: inner,
                    page,
                })
                .is_ok()
            {
                pipeline.pending.push_back(Pending {
                    call,
                    seq,
                    sent_at: self.now,
                    earliest,
                });
                if admin {
                    while self.receive_served() {}
                }
                return;
            }
            // The provider thread is gone (it panicked; the advance will report it).
            self.events.insert(
                (self.now, seq),
                Event::ProviderOutcome {
                    call,
                    outcome: Outcome::Dropped,
                    page: None,
                },
            );
            return;
        }
        let served = self.providers[index].provider.handle(self.now, inner);
        let (at, outcome) = Self::outcome_at(self.now, served);
        self.events.insert(
            (at, seq),
            Event::ProviderOutcome {
                call,
                outcome,
                page: None,
            },
        );
    }

    fn answer(&mut self, handle: CallHandle, response: Response<Bytes>) {
        self.trace_line(format!(
            "answer {} -> {}",
            handle.0,
            response.status().as_u16()
        ));
        self.calls.insert(
            handle,
            Some(Answered {
                at: self.now,
                response,
            }),
        );
    }

    fn trace_line(&mut self, line: String) {
        let elapsed = self.now - self.epoch_ms;
        self.trace.push(format!(
            "{:>7}.{:03} {line}",
            elapsed / 1000,
            elapsed % 1000
        ));
    }

    /// The trace so far, one line per event.
    pub fn trace(&self) -> &[String] {
        &self.trace
    }

    /// SHA-256 of the trace, hex: equal for equal runs.
    pub fn trace_hash(&self) -> String {
        let mut hasher = Sha256::new();
        for line in &self.trace {
            hasher.update(line.as_bytes());
            hasher.update(b"\n");
        }
        hasher
            .finalize()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }
}
