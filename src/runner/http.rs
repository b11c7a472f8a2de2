//! The HTTP target (`check --target URL`): any deployment behind the API of CONTRACT.md.
//!
//! - Keys: a fresh key per scenario key from `POST /api/test_helpers/api_keys`, else the keys
//!   given with `--api-key`, in order; too few keys skips the scenario.
//! - Providers: the runner serves its own hubspot and salesforce mocks on `--listen` (hubspot
//!   under `/hubspot`, salesforce under `/salesforce`), advertised as `--advertise`; every
//!   scenario creates fresh accounts. On a virtual-clock target each mock request reads the
//!   target's `GET /api/test_helpers/clock`, so windows and token lifetimes pass on its time.
//! - Receivers: the scenario's webhook receivers are served on the same address, one route per
//!   receiver under `/receivers/GENERATION/NAME` (the generation counts scenarios, so a late
//!   retry for an earlier scenario is answered 200 and not logged). Each delivery is judged at the target's time (its clock
//!   helper on a virtual clock, else wall time since the start) against the scenario's rules,
//!   logged, and answered: a status after its `delay` (slept at most [`RECEIVER_SLEEP_MAX`]), or,
//!   for `down` and for a delay past the 10 s window, the connection closed without an answer
//!   (the sender's failure at once, rather than after 10 s of wall time).
//! - Time: on a virtual clock the runner moves time with `advance` (waiting for an open call in
//!   steps of one second, so an answer's time is known to the step) and aligns each scenario's
//!   start on a whole second, so the `Date` header places answers exactly; on a wall clock it
//!   waits for real and skips scenarios whose `span` exceeds `--max-wait`.
//! - `--configure manual`: a configure step is not sent; the runner prints the session's
//!   hosted-flow link (`<base>/session?session_id=…`) with the account a person should connect,
//!   and polls `GET /api/session/configuration` until someone has configured it (answering the
//!   step with that 200). Only `black-box` scenarios run, and keys come from `--api-key` only
//!   (a minted key is one nobody outside the runner knows).
//!
//! **Boundary:** the target never judges answers; it only sends, times and reports them.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{Value, json};
use transfersim_mock_providers::http::{
    ClockSource, HttpOptions as MockHttpOptions, router_with_options, serve_router,
};
use transfersim_mock_providers::{Hubspot, Millis, Mock, Salesforce};
use transfersim_sim::time::parse_rfc3339;
use transfersim_sim::world::World;

use super::target::{
    Answer, ApiRequest, CallId, Clock, Providers, StartPlan, Target, TargetError, WebhookArrival,
};
use crate::scenario::{ProviderKind, Receiver, Respond};

/// The tag of scenarios that depend on simulated provider latency.
pub const IN_MEMORY_ONLY_TAG: &str = "in-memory-only";
/// How long one API call to the target may take (a synchronous trigger answers within 300 s).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(330);
/// The step in which the runner advances a virtual clock while it waits for an answer.
const WAIT_STEP_MS: Millis = 1_000;
/// Real time to let an answer arrive before the virtual clock is moved for it.
const ANSWER_GRACE: Duration = Duration::from_millis(300);
/// Real time to let an answer caused by an advance arrive before the next step.
const STEP_GRACE: Duration = Duration::from_millis(10);
/// The most steps one wait makes on a virtual clock.
const WAIT_STEPS_MAX: u64 = 1_000_000;
/// The tag of scenarios that use only the public API and test helpers.
pub const BLACK_BOX_TAG: &str = "black-box";
/// The configure helper's path, which `--configure manual` replaces by a person.
const CONFIGURE_PATH: &str = "/api/test_helpers/session/configure";
/// How long `--configure manual` waits for a person to configure one session.
pub const MANUAL_CONFIGURE_WAIT: Duration = Duration::from_secs(30 * 60);
/// How often `--configure manual` polls the session's configuration.
const MANUAL_POLL_EVERY: Duration = Duration::from_millis(500);

/// The longest a receiver really sleeps before answering with a `delay` (a delay past the 10 s
/// webhook window closes the connection instead).
pub const RECEIVER_SLEEP_MAX: Duration = Duration::from_secs(1);
/// The largest webhook body a receiver reads.
const RECEIVER_BODY_MAX: usize = 16 * 1024 * 1024;

/// How sessions get configured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ConfigureMode {
    /// Through `POST /api/test_helpers/session/configure`, as the scenarios say.
    #[default]
    Helpers,
    /// A person configures through the hosted flow: the runner prints the link and polls
    /// `GET /api/session/configuration`; only `black-box` scenarios run.
    Manual,
}

/// How to reach a deployment and serve it mock providers.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// The deployment's base URL.
    pub base_url: String,
    /// Keys to mint with, and to fall back on when the helper is absent (the first one mints).
    pub api_keys: Vec<String>,
    /// Where the runner's mock providers listen.
    pub listen: SocketAddr,
    /// The URL the target reaches them at (default: the listening address).
    pub advertise: Option<String>,
    /// On a wall-clock target, scenarios with a longer `span` are skipped.
    pub max_wait_ms: Millis,
    /// How sessions are configured.
    pub configure: ConfigureMode,
}

#[derive(Debug, Default)]
struct TimeState {
    /// The target's time at the scenario's start (virtual) or its wall start.
    epoch_ms: Millis,
    /// The target's time as last learnt (virtual).
    now_ms: Millis,
    /// Scenario time window an answer arriving now falls in (while an advance runs).
    window: (Millis, Millis),
}

/// The current scenario's receivers: their rules and what arrived.
#[derive(Debug, Default)]
struct Receivers {
    /// Counts scenarios, so that a late retry meant for an earlier scenario's receiver (its URL
    /// carries its generation) is answered 200 and not logged.
    generation: u64,
    rules: BTreeMap<String, Receiver>,
    arrivals: BTreeMap<String, Vec<WebhookArrival>>,
}

struct Shared {
    base_url: String,
    receivers: Mutex<Receivers>,
    helper_key: String,
    client: reqwest::Client,
    time: Mutex<TimeState>,
    calls: Mutex<Vec<Option<Answer>>>,
    wall_start: Mutex<Instant>,
    virtual_clock: bool,
    answered: AtomicU64,
}

/// A deployment as a target.
pub struct HttpTarget {
    runtime: tokio::runtime::Runtime,
    shared: Arc<Shared>,
    options: HttpOptions,
    providers_url: String,
    hubspot: Arc<Mutex<Hubspot>>,
    salesforce: Arc<Mutex<Salesforce>>,
    helpers: bool,
    keys_used: usize,
    seed: u64,
    /// Calls that stand for a person configuring a session (`--configure manual`).
    manual_calls: Vec<CallId>,
}

impl std::fmt::Debug for HttpTarget {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("HttpTarget")
            .field("base_url", &self.options.base_url)
            .field("providers", &self.providers_url)
            .finish_non_exhaustive()
    }
}

fn failed(error: impl std::fmt::Display) -> TargetError {
    TargetError::Failed(error.to_string())
}

impl HttpTarget {
    /// Connects: reads the target's clock (which says whether it is virtual and whether it has
    /// the test helpers) and starts the runner's mock providers.
    pub fn connect(options: HttpOptions) -> Result<Self, TargetError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(failed)?;
        let base_url = options.base_url.trim_end_matches('/').to_owned();
        let helper_key = options
            .api_keys
            .first()
            .cloned()
            .unwrap_or_else(|| "test_key".to_owned());
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(failed)?;
        let clock = runtime.block_on(read_clock(&client, &base_url, &helper_key))?;
        let (helpers, virtual_clock, now_ms) = match clock {
            Some((virtual_clock, now_ms)) => (true, virtual_clock, now_ms),
            None => (false, false, crate::serve::system_now_ms()),
        };
        let shared = Arc::new(Shared {
            base_url,
            receivers: Mutex::new(Receivers::default()),
            helper_key,
            client,
            time: Mutex::new(TimeState {
                epoch_ms: now_ms,
                now_ms,
                window: (0, 0),
            }),
            calls: Mutex::new(Vec::new()),
            wall_start: Mutex::new(Instant::now()),
            virtual_clock,
            answered: AtomicU64::new(0),
        });
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(options.listen))
            .map_err(|error| failed(format!("binding {}: {error}", options.listen)))?;
        let address = listener.local_addr().map_err(failed)?;
        let providers_url = options
            .advertise
            .clone()
            .unwrap_or_else(|| transfersim_mock_providers::http::base_url(address, ""))
            .trim_end_matches('/')
            .to_owned();
        let hubspot = Arc::new(Mutex::new(Hubspot::new(
            format!("{providers_url}/hubspot"),
            1,
        )));
        let salesforce = Arc::new(Mutex::new(Salesforce::new(
            format!("{providers_url}/salesforce"),
            2,
        )));
        let mock_clock = if virtual_clock {
            let shared = shared.clone();
            ClockSource::from_async(move || {
                let shared = shared.clone();
                async move {
                    let read =
                        read_clock(&shared.client, &shared.base_url, &shared.helper_key).await;
                    match read {
                        Ok(Some((_, now))) => now,
                        _ => {
                            shared
                                .time
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .now_ms
                        }
                    }
                }
            })
        } else {
            ClockSource::from_fn(crate::serve::clock::system_now_ms)
        };
        // Against a virtual clock a provider request takes no virtual time (HELPER-21), so the
        // mocks answer at once instead of sleeping their latency on the wall clock; against a
        // wall clock they sleep it (up to the mocks' cap), as real providers take time.
        let mock_options = if virtual_clock {
            MockHttpOptions { sleep_max_ms: 0 }
        } else {
            MockHttpOptions::default()
        };
        let app = axum::Router::new()
            .nest_service(
                "/hubspot",
                router_with_options(hubspot.clone(), mock_clock.clone(), mock_options),
            )
            .nest_service(
                "/salesforce",
                router_with_options(salesforce.clone(), mock_clock, mock_options),
            )
            .route(
                "/receivers/{generation}/{name}",
                axum::routing::any(receive_webhook).with_state(shared.clone()),
            );
        runtime.spawn(serve_router(listener, app));
        Ok(Self {
            runtime,
            shared,
            options,
            providers_url,
            hubspot,
            salesforce,
            helpers,
            keys_used: 0,
            seed: 0,
            manual_calls: Vec::new(),
        })
    }

    /// Whether the target has the test helpers.
    pub fn has_helpers(&self) -> bool {
        self.helpers
    }

    fn post_helper(&self, path: &str, body: &Value) -> Result<(u16, Value), TargetError> {
        let shared = self.shared.clone();
        let url = format!("{}{path}", shared.base_url);
        let body = body.to_string();
        self.runtime.block_on(async move {
            let response = shared
                .client
                .post(url)
                .bearer_auth(&shared.helper_key)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .map_err(|error| failed(format!("calling {path}: {error}")))?;
            let status = response.status().as_u16();
            let json = response.json::<Value>().await.unwrap_or(Value::Null);
            Ok((status, json))
        })
    }

    /// Moves the target's virtual clock and learns its new time.
    fn advance_virtual(&mut self, millis: Millis) -> Result<(), TargetError> {
        {
            let mut time = self.time();
            let elapsed = time.now_ms.saturating_sub(time.epoch_ms);
            time.window = (elapsed, elapsed.saturating_add(millis));
        }
        let seconds = millis as f64 / 1000.0;
        let (status, body) = self.post_helper(
            "/api/test_helpers/clock/advance",
            &json!({"seconds": seconds}),
        )?;
        if status == 404 {
            return Err(TargetError::Unsupported(
                "the target has no clock test helper (404)".to_owned(),
            ));
        }
        if status != 200 {
            return Err(failed(format!("advance answered {status}: {body}")));
        }
        let now = body["now"]
            .as_str()
            .and_then(parse_rfc3339)
            .ok_or_else(|| failed(format!("advance answered without a time: {body}")))?;
        let mut time = self.time();
        time.now_ms = time.now_ms.max(now);
        let elapsed = time.now_ms.saturating_sub(time.epoch_ms);
        time.window = (elapsed, elapsed);
        Ok(())
    }

    fn time(&self) -> std::sync::MutexGuard<'_, TimeState> {
        self.shared
            .time
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn any_answered(&self, calls: &[CallId]) -> bool {
        let answers = self
            .shared
            .calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        calls.iter().any(|call| {
            usize::try_from(call.0)
                .ok()
                .and_then(|index| answers.get(index))
                .is_some_and(Option::is_some)
        })
    }

    /// Waits real time, at most `limit`, for one of `calls` to be answered.
    fn wait_real(&self, calls: &[CallId], limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        // Bounded by the deadline.
        loop {
            if self.any_answered(calls) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// `GET /api/test_helpers/clock`: `None` when the target has no helpers (404), else whether the
/// clock is virtual and its time.
async fn read_clock(
    client: &reqwest::Client,
    base_url: &str,
    key: &str,
) -> Result<Option<(bool, Millis)>, TargetError> {
    let response = client
        .get(format!("{base_url}/api/test_helpers/clock"))
        .bearer_auth(key)
        .send()
        .await
        .map_err(|error| failed(format!("cannot reach {base_url}: {error}")))?;
    match response.status().as_u16() {
        404 => Ok(None),
        200 => {
            let body: Value = response.json().await.map_err(failed)?;
            let now = body["now"]
                .as_str()
                .and_then(parse_rfc3339)
                .ok_or_else(|| failed(format!("the clock helper answered {body}")))?;
            Ok(Some((body["virtual"] == json!(true), now)))
        }
        status => Err(failed(format!(
            "the clock helper answered {status} (is the --api-key valid?)"
        ))),
    }
}

/// Parses an HTTP `Date` (IMF-fixdate, `Sat, 28 Nov 2026 12:00:00 GMT`) to milliseconds.
pub fn parse_http_date(text: &str) -> Option<Millis> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mut parts = text.split_whitespace().skip(1);
    let day: u64 = parts.next()?.parse().ok()?;
    let month = MONTHS
        .iter()
        .position(|name| Some(*name) == parts.clone().next())? as u64
        + 1;
    parts.next()?;
    let year: u64 = parts.next()?.parse().ok()?;
    let mut clock = parts.next()?.split(':');
    let hours: u64 = clock.next()?.parse().ok()?;
    let minutes: u64 = clock.next()?.parse().ok()?;
    let seconds: u64 = clock.next()?.parse().ok()?;
    parse_rfc3339(&format!(
        "{year:04}-{month:02}-{day:02}T{hours:02}:{minutes:02}:{seconds:02}Z"
    ))
}

/// `--configure manual`: prints the session's hosted-flow link and the account to connect, and
/// answers the session id the configure step names.
fn print_hosted_flow_link(base_url: &str, request: &ApiRequest) -> Result<String, TargetError> {
    let body: Value = request
        .body
        .as_deref()
        .and_then(|body| serde_json::from_slice(body).ok())
        .unwrap_or(Value::Null);
    let session_id = body["session_id"]
        .as_str()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| failed("a configure step without a session_id"))?
        .to_owned();
    let text = |value: &Value| value.as_str().unwrap_or("").to_owned();
    let credentials = &body["credentials"];
    let mut out = std::io::stdout().lock();
    let printed = writeln!(
        out,
        "configure by hand: {base_url}/session?session_id={session_id}\n  \
         provider={} provider_base_url={} refresh_token={} client_id={} client_secret={}",
        text(&body["provider"]),
        text(&body["provider_base_url"]),
        text(&credentials["refresh_token"]),
        text(&credentials["client_id"]),
        text(&credentials["client_secret"]),
    )
    .and_then(|()| out.flush());
    printed.map_err(|error| failed(format!("printing the hosted-flow link: {error}")))?;
    Ok(session_id)
}

/// `--configure manual`: polls `GET /api/session/configuration` with the step's key until the
/// session is configured (200), then records that answer as the configure step's. Bounded by
/// [`MANUAL_CONFIGURE_WAIT`]; any answer other than 409 (not yet) ends the wait too.
async fn await_configuration(
    shared: Arc<Shared>,
    index: usize,
    request: ApiRequest,
    session_id: String,
) {
    let url = format!(
        "{}/api/session/configuration?session_id={session_id}",
        shared.base_url
    );
    let deadline = tokio::time::Instant::now() + MANUAL_CONFIGURE_WAIT;
    let mut last: String;
    // Bounded by the deadline.
    let answer = loop {
        let mut builder = shared.client.get(&url);
        for (name, value) in &request.headers {
            if name.eq_ignore_ascii_case("authorization") {
                builder = builder.header(name, value);
            }
        }
        match builder.send().await {
            Ok(response) if response.status().as_u16() == 409 => {
                last = "409 (not configured yet)".to_owned();
            }
            Ok(response) => {
                let status = response.status().as_u16();
                let headers = lowercase_headers(response.headers());
                let body = response.bytes().await.unwrap_or_default();
                break Answer {
                    at_ms: shared.answer_time(None),
                    status,
                    headers,
                    body,
                };
            }
            Err(error) => last = error.to_string(),
        }
        if tokio::time::Instant::now() >= deadline {
            break Answer {
                at_ms: shared.answer_time(None),
                status: 0,
                headers: Vec::new(),
                body: Bytes::from(format!(
                    "nobody configured session {session_id} within {} s (last: {last})",
                    MANUAL_CONFIGURE_WAIT.as_secs()
                )),
            };
        }
        tokio::time::sleep(MANUAL_POLL_EVERY).await;
    };
    let mut calls = shared.calls.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(slot) = calls.get_mut(index) {
        *slot = Some(answer);
    }
    shared.answered.fetch_add(1, Ordering::SeqCst);
}

fn lowercase_headers(headers: &http::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect()
}

async fn send_call(shared: Arc<Shared>, index: usize, request: ApiRequest) {
    let method =
        reqwest::Method::from_bytes(request.method.as_bytes()).unwrap_or(reqwest::Method::GET);
    let mut builder = shared.client.request(
        method,
        format!("{}{}", shared.base_url, request.path_and_query),
    );
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    if let Some(body) = request.body {
        builder = builder.body(body);
    }
    let answer = match builder.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let headers = lowercase_headers(response.headers());
            let body = response.bytes().await.unwrap_or_default();
            let date = headers
                .iter()
                .find(|(name, _)| name == "date")
                .and_then(|(_, value)| parse_http_date(value));
            let at_ms = shared.answer_time(date);
            Answer {
                at_ms,
                status,
                headers,
                body,
            }
        }
        Err(error) => Answer {
            at_ms: shared.answer_time(None),
            status: 0,
            headers: Vec::new(),
            body: Bytes::from(format!("no answer from the target: {error}")),
        },
    };
    let mut calls = shared.calls.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(slot) = calls.get_mut(index) {
        *slot = Some(answer);
    }
    shared.answered.fetch_add(1, Ordering::SeqCst);
}

/// One delivery to a receiver: judged at the target's time against the scenario's rules,
/// logged, then answered (or the connection closed, for `down` and delays past 10 s).
async fn receive_webhook(
    axum::extract::State(shared): axum::extract::State<Arc<Shared>>,
    axum::extract::Path((generation, name)): axum::extract::Path<(u64, String)>,
    request: axum::extract::Request,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let (parts, body) = request.into_parts();
    let killer = parts
        .extensions
        .get::<transfersim_mock_providers::http::ConnectionKiller>()
        .cloned();
    let Ok(body) = axum::body::to_bytes(body, RECEIVER_BODY_MAX).await else {
        return (
            http::StatusCode::PAYLOAD_TOO_LARGE,
            "webhook body too large",
        )
            .into_response();
    };
    let (at_ms, clock_ms) = shared.receiver_time().await;
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let answer = {
        let mut receivers = shared
            .receivers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if generation != receivers.generation {
            return http::StatusCode::OK.into_response();
        }
        let Some(receiver) = receivers.rules.get(&name) else {
            return (
                http::StatusCode::NOT_FOUND,
                format!("no receiver `{name}` in this scenario"),
            )
                .into_response();
        };
        let answer = receiver_answer(receiver, at_ms);
        let delivered = match answer {
            Some((status, delay_ms)) => {
                (200..300).contains(&status)
                    && delay_ms <= transfersim_sim::webhook::outbox::DELIVERY_TIMEOUT_MS
            }
            None => false,
        };
        receivers
            .arrivals
            .entry(name)
            .or_default()
            .push(WebhookArrival {
                at_ms,
                clock_ms,
                headers,
                body,
                delivered,
            });
        answer
    };
    match answer {
        Some((status, delay_ms))
            if delay_ms <= transfersim_sim::webhook::outbox::DELIVERY_TIMEOUT_MS =>
        {
            let sleep = Duration::from_millis(delay_ms).min(RECEIVER_SLEEP_MAX);
            if !sleep.is_zero() {
                tokio::time::sleep(sleep).await;
            }
            let status = http::StatusCode::from_u16(status)
                .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
            status.into_response()
        }
        _ => match killer {
            Some(killer) => {
                killer.kill();
                std::future::pending::<()>().await;
                http::StatusCode::SERVICE_UNAVAILABLE.into_response()
            }
            None => http::StatusCode::SERVICE_UNAVAILABLE.into_response(),
        },
    }
}

/// What a receiver answers at scenario time `at_ms`: `Some((status, delay))`, or `None` for no
/// connection. The first rule whose window holds answers; none answers 200 at once.
fn receiver_answer(receiver: &Receiver, at_ms: Millis) -> Option<(u16, Millis)> {
    let rules = match receiver {
        Receiver::Down(_) => return None,
        Receiver::Rules(rules) => rules,
    };
    let rule = rules.iter().find(|rule| {
        rule.from.is_none_or(|from| from.as_millis() <= at_ms)
            && rule.until.is_none_or(|until| at_ms < until.as_millis())
    });
    match rule.map(|rule| &rule.respond) {
        None => Some((200, 0)),
        Some(Respond::Down(_)) => None,
        Some(Respond::Answer(answer)) => Some((
            answer.status,
            answer.delay.map_or(0, |delay| delay.as_millis()),
        )),
    }
}

impl Shared {
    /// Scenario time and the target's clock for a delivery arriving now: the target's clock
    /// helper on a virtual clock (the instant being processed mid-advance), else wall time.
    async fn receiver_time(&self) -> (Millis, Millis) {
        if !self.virtual_clock {
            return (self.answer_time(None), crate::serve::system_now_ms());
        }
        let read = read_clock(&self.client, &self.base_url, &self.helper_key).await;
        let mut time = self.time.lock().unwrap_or_else(PoisonError::into_inner);
        let now = match read {
            Ok(Some((_, now))) => now,
            _ => time.now_ms,
        };
        time.now_ms = time.now_ms.max(now);
        (now.saturating_sub(time.epoch_ms), now)
    }

    /// Scenario time of an answer arriving now: on a virtual clock its `Date` placed inside the
    /// window of the advance in progress; on a wall clock the time since the start.
    fn answer_time(&self, date_ms: Option<Millis>) -> Millis {
        if !self.virtual_clock {
            let start = *self
                .wall_start
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            return u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
        }
        let time = self.time.lock().unwrap_or_else(PoisonError::into_inner);
        let (low, high) = time.window;
        match date_ms {
            Some(date) => date.saturating_sub(time.epoch_ms).clamp(low, high),
            None => high,
        }
    }
}

impl Target for HttpTarget {
    fn describe(&self) -> String {
        self.options.base_url.clone()
    }

    fn clock(&self) -> Clock {
        if self.shared.virtual_clock {
            Clock::Virtual
        } else {
            Clock::Wall
        }
    }

    fn supports(&self, tags: &[String]) -> Result<(), String> {
        if tags.iter().any(|tag| tag == IN_MEMORY_ONLY_TAG) {
            return Err(
                "tagged in-memory-only: it depends on simulated provider latency".to_owned(),
            );
        }
        if self.options.configure == ConfigureMode::Manual
            && !tags.iter().any(|tag| tag == BLACK_BOX_TAG)
        {
            return Err(format!(
                "--configure manual runs only scenarios tagged {BLACK_BOX_TAG}"
            ));
        }
        Ok(())
    }

    fn start(&mut self, plan: StartPlan) -> Result<(), TargetError> {
        self.seed = plan.seed;
        self.keys_used = 0;
        {
            let mut receivers = self
                .shared
                .receivers
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let generation = receivers.generation + 1;
            *receivers = Receivers {
                generation,
                ..Receivers::default()
            };
        }
        self.manual_calls.clear();
        self.shared
            .calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        if !self.shared.virtual_clock {
            if plan.span_ms > self.options.max_wait_ms {
                return Err(TargetError::Unsupported(format!(
                    "its span ({} s) exceeds --max-wait ({} s) on a wall-clock target",
                    plan.span_ms / 1000,
                    self.options.max_wait_ms / 1000
                )));
            }
            *self
                .shared
                .wall_start
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Instant::now();
            let mut time = self.time();
            time.epoch_ms = crate::serve::system_now_ms();
            time.now_ms = time.epoch_ms;
            return Ok(());
        }
        // Learn the target's time, then align the start on a whole second (settling leftovers).
        let now = self
            .runtime
            .block_on(read_clock(
                &self.shared.client,
                &self.shared.base_url,
                &self.shared.helper_key,
            ))?
            .map_or(0, |(_, now)| now);
        {
            let mut time = self.time();
            time.epoch_ms = now;
            time.now_ms = now;
        }
        self.advance_virtual((1000 - now % 1000) % 1000)?;
        let mut time = self.time();
        time.epoch_ms = time.now_ms;
        time.window = (0, 0);
        Ok(())
    }

    fn mint_key(&mut self) -> Result<String, TargetError> {
        if self.helpers && self.options.configure == ConfigureMode::Helpers {
            let (status, body) = self.post_helper("/api/test_helpers/api_keys", &json!({}))?;
            if status == 200
                && let Some(key) = body["api_key"].as_str()
            {
                return Ok(key.to_owned());
            }
            if status != 404 {
                return Err(failed(format!("minting a key answered {status}: {body}")));
            }
        }
        let key = self.options.api_keys.get(self.keys_used).cloned();
        self.keys_used += 1;
        key.ok_or_else(|| {
            TargetError::Unsupported(format!(
                "it needs more API keys than the target can mint or --api-key gives ({})",
                self.options.api_keys.len()
            ))
        })
    }

    fn receiver_url(&mut self, name: &str, receiver: &Receiver) -> Result<String, TargetError> {
        let mut receivers = self
            .shared
            .receivers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        receivers.rules.insert(name.to_owned(), receiver.clone());
        receivers.arrivals.insert(name.to_owned(), Vec::new());
        Ok(format!(
            "{}/receivers/{}/{name}",
            self.providers_url, receivers.generation
        ))
    }

    fn webhook_arrivals(&self, name: &str) -> Result<Vec<WebhookArrival>, TargetError> {
        let receivers = self
            .shared
            .receivers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !receivers.rules.contains_key(name) {
            return Err(failed(format!("receiver `{name}` is not set up")));
        }
        Ok(receivers.arrivals.get(name).cloned().unwrap_or_default())
    }

    fn providers(&mut self) -> &mut dyn Providers {
        self
    }

    fn send(&mut self, request: ApiRequest) -> Result<CallId, TargetError> {
        let manual = self.options.configure == ConfigureMode::Manual
            && request.method.eq_ignore_ascii_case("POST")
            && request.path_and_query == CONFIGURE_PATH;
        if !manual && !self.helpers && request.path_and_query.starts_with("/api/test_helpers/") {
            return Err(TargetError::Unsupported(
                "the target has no test helpers (404)".to_owned(),
            ));
        }
        let index = {
            let mut calls = self
                .shared
                .calls
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            calls.push(None);
            calls.len() - 1
        };
        if manual {
            let session_id = print_hosted_flow_link(&self.shared.base_url, &request)?;
            self.manual_calls.push(CallId(index as u64));
            self.runtime.spawn(await_configuration(
                self.shared.clone(),
                index,
                request,
                session_id,
            ));
        } else {
            self.runtime
                .spawn(send_call(self.shared.clone(), index, request));
        }
        Ok(CallId(index as u64))
    }

    fn answer(&self, call: CallId) -> Option<Answer> {
        let calls = self
            .shared
            .calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        usize::try_from(call.0)
            .ok()
            .and_then(|index| calls.get(index))
            .cloned()
            .flatten()
    }

    fn elapsed_ms(&self) -> Millis {
        if self.shared.virtual_clock {
            let time = self.time();
            time.now_ms.saturating_sub(time.epoch_ms)
        } else {
            self.shared.answer_time(None)
        }
    }

    fn advance(&mut self, millis: Millis) -> Result<(), TargetError> {
        if self.shared.virtual_clock {
            return self.advance_virtual(millis);
        }
        std::thread::sleep(Duration::from_millis(millis));
        Ok(())
    }

    fn wait_for_answer(&mut self, calls: &[CallId], until_ms: Millis) -> Result<(), TargetError> {
        if self.wait_real(calls, ANSWER_GRACE) {
            return Ok(());
        }
        if calls.iter().any(|call| self.manual_calls.contains(call)) {
            // A person is configuring: time on the target must not run on meanwhile.
            self.wait_real(calls, MANUAL_CONFIGURE_WAIT);
            return Ok(());
        }
        if !self.shared.virtual_clock {
            // Bounded by `until_ms`, itself bounded by the span and --max-wait.
            let now = self.elapsed_ms();
            let left = Duration::from_millis(until_ms.saturating_sub(now));
            self.wait_real(calls, left);
            return Ok(());
        }
        for _ in 0..WAIT_STEPS_MAX {
            let now = self.elapsed_ms();
            if now >= until_ms {
                break;
            }
            self.advance_virtual(WAIT_STEP_MS.min(until_ms - now))?;
            if self.wait_real(calls, STEP_GRACE) {
                break;
            }
        }
        Ok(())
    }

    fn world(&self) -> Option<&World> {
        None
    }

    fn trace(&self) -> Vec<String> {
        Vec::new()
    }

    fn trace_hash(&self) -> Option<String> {
        None
    }
}

impl Providers for HttpTarget {
    fn base_url(&self, provider: ProviderKind) -> String {
        match provider {
            ProviderKind::Hubspot => format!("{}/hubspot", self.providers_url),
            ProviderKind::Salesforce => format!("{}/salesforce", self.providers_url),
        }
    }

    fn now_ms(&self) -> Millis {
        if self.shared.virtual_clock {
            self.time().now_ms
        } else {
            crate::serve::system_now_ms()
        }
    }

    fn with_mock(&mut self, provider: ProviderKind, action: &mut dyn FnMut(&mut Mock, Millis)) {
        let now = self.now_ms();
        match provider {
            ProviderKind::Hubspot => {
                let mut mock = self.hubspot.lock().unwrap_or_else(PoisonError::into_inner);
                action(&mut mock, now);
            }
            ProviderKind::Salesforce => {
                let mut mock = self
                    .salesforce
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                action(&mut mock, now);
            }
        }
    }
}
