//! The seam between the runner and what it checks: a [`Target`] takes API requests and moves
//! time; its [`Providers`] host the mock accounts the scenario sets up.
//!
//! The trait is synchronous and non-blocking where it matters, so that both kinds of target fit:
//! [`Target::send`] hands back a [`CallId`] at once (an HTTP target spawns the request on its own
//! runtime), [`Target::answer`] looks without waiting, and only [`Target::advance`] and
//! [`Target::wait_for_answer`] take time: virtual time in memory (or a virtual-clock target's
//! test helper), real time on a wall-clock target.
//!
//! **Boundary:** a target never judges an answer; expectations live in the runner.

use bytes::Bytes;
use transfersim_mock_providers::{Millis, Mock};
use transfersim_sim::world::World;

use crate::scenario::{ProviderKind, Receiver};

/// A target's failure to do what the runner asked (not a failed expectation): a connection that
/// could not be made, a helper the target lacks, a mock that refused a control.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// The target cannot do this at all; the scenario is skipped with this reason.
    #[error("{0}")]
    Unsupported(String),
    /// The target tried and failed; the scenario fails with this message.
    #[error("{0}")]
    Failed(String),
}

/// Whose clock a target keeps, which decides how the runner waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// Time moves only when the runner advances it: waits cost nothing.
    Virtual,
    /// Time is real: waits are real, and long scenarios are skipped.
    Wall,
}

/// How a scenario's world starts: its seed and where its clock begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartPlan {
    /// The root seed (the scenario's, or `--seed`).
    pub seed: u64,
    /// Where the clock starts, in milliseconds since the Unix epoch (ignored by targets that
    /// keep their own clock).
    pub epoch_ms: Millis,
    /// The scenario's `span` (a wall-clock target skips scenarios longer than it will wait).
    pub span_ms: Millis,
}

/// Identifies one API call sent to a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CallId(pub u64);

/// An API request as the runner sends it, templates already filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRequest {
    /// `GET`, `POST`, ...
    pub method: &'static str,
    /// The path with its query string, e.g. `/api/pull/data?transfer_id=...`.
    pub path_and_query: String,
    /// Headers in the order to send them (`Authorization` included when the step has a key).
    pub headers: Vec<(String, String)>,
    /// The body, if any.
    pub body: Option<Bytes>,
}

/// An API answer, with when it came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Scenario time (since the scenario's start) when the answer came.
    pub at_ms: Millis,
    /// The HTTP status.
    pub status: u16,
    /// Header names lowercased, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON, `Null` when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// One delivery attempt a webhook receiver got, as `webhooks_expect` reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookArrival {
    /// Scenario time (since the scenario's start) when it arrived.
    pub at_ms: Millis,
    /// The target's clock when it arrived, in milliseconds since the Unix epoch (a signature's
    /// freshness is judged on it).
    pub clock_ms: Millis,
    /// Header names lowercased, in the order received.
    pub headers: Vec<(String, String)>,
    /// The exact body bytes.
    pub body: Bytes,
    /// Whether the sender counted it delivered: the receiver answered a 2xx within 10 s.
    pub delivered: bool,
}

impl WebhookArrival {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// What checks a scenario: a service behind the API of CONTRACT.md, with a clock the runner can
/// move and mock providers the runner controls. One target runs one scenario at a time;
/// [`Target::start`] gives it a fresh world (in memory) or fresh accounts and keys (over HTTP).
pub trait Target {
    /// A short name for reports: `memory`, or the base URL.
    fn describe(&self) -> String;

    /// Whether time is virtual or real.
    fn clock(&self) -> Clock;

    /// Whether this target can run the scenario at all (`Err` is the reason to skip it); for
    /// example an HTTP target refuses `in-memory-only` scenarios.
    fn supports(&self, tags: &[String]) -> Result<(), String>;

    /// Starts a scenario: everything from the previous one is gone.
    fn start(&mut self, plan: StartPlan) -> Result<(), TargetError>;

    /// A fresh API key with no state (one per name in the scenario's `keys`).
    fn mint_key(&mut self) -> Result<String, TargetError>;

    /// The URL of a webhook receiver with this behaviour, for `{{receivers.NAME.url}}`.
    fn receiver_url(&mut self, name: &str, receiver: &Receiver) -> Result<String, TargetError>;

    /// Every delivery attempt the receiver named `name` got so far, in arrival order (refused
    /// and failed ones included).
    fn webhook_arrivals(&self, name: &str) -> Result<Vec<WebhookArrival>, TargetError>;

    /// The mock providers this target's scenarios use.
    fn providers(&mut self) -> &mut dyn Providers;

    /// Sends a request now; its answer may come later (a synchronous trigger).
    fn send(&mut self, request: ApiRequest) -> Result<CallId, TargetError>;

    /// The answer of a call, if it came.
    fn answer(&self, call: CallId) -> Option<Answer>;

    /// Scenario time since [`Target::start`].
    fn elapsed_ms(&self) -> Millis;

    /// Moves time forward by `millis`, running everything that falls due (`0` settles what is
    /// due now).
    fn advance(&mut self, millis: Millis) -> Result<(), TargetError>;

    /// Lets time pass until one of `calls` is answered or scenario time reaches `until_ms`,
    /// whichever is first.
    fn wait_for_answer(&mut self, calls: &[CallId], until_ms: Millis) -> Result<(), TargetError>;

    /// The simulated world, on the in-memory target only: invariant checkers read it.
    fn world(&self) -> Option<&World>;

    /// The target's trace so far, one line per event (empty where the target keeps none).
    fn trace(&self) -> Vec<String>;

    /// A hash of the trace, equal for equal runs (`None` where the target keeps none).
    fn trace_hash(&self) -> Option<String>;
}

/// The mock providers a target uses. In memory they live inside the world; over HTTP the
/// runner serves them itself. Either way the runner reaches a mock through [`Providers::with_mock`],
/// so that a mock behind a lock works as well as one owned outright.
pub trait Providers {
    /// The base URL the target reaches this provider's mock at.
    fn base_url(&self, provider: ProviderKind) -> String;

    /// The mock's clock, in milliseconds since the Unix epoch.
    fn now_ms(&self) -> Millis;

    /// Runs `action` on the provider's mock with the mock's `now`.
    fn with_mock(&mut self, provider: ProviderKind, action: &mut dyn FnMut(&mut Mock, Millis));
}
