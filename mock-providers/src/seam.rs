//! The HTTP-shaped seam between a target's connectors and a provider.
//!
//! The engine's connectors emit [`ProviderRequest`]s in the provider's real wire format and take
//! back an [`Outcome`]. In the simulated world a mock answers in-process with a [`Served`] (the
//! outcome plus how long it took and whether the provider acted); over HTTP, reqwest carries the
//! same values. One type on both sides keeps the world and `serve` byte-for-byte alike.

use bytes::Bytes;

/// Milliseconds since the Unix epoch. Every clock reading in the deterministic crates is one of
/// these, handed in by the caller.
pub type Millis = u64;

/// A request to a provider: method, absolute URL, headers and body bytes.
pub type ProviderRequest = http::Request<Bytes>;

/// A provider's answer: status, headers and body bytes.
pub type ProviderResponse = http::Response<Bytes>;

/// What the caller of a provider observes.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// An HTTP answer, whatever its status.
    Answer(ProviderResponse),
    /// No answer within the caller's timeout (30 s for a target's provider requests).
    Timeout,
    /// The connection closed without an answer.
    Dropped,
}

/// How an in-process provider served one request: the outcome the caller sees, the latency
/// before the caller sees it, and whether the provider acted (wrote or counted the request),
/// which the caller cannot see but the journal and invariants can.
#[derive(Debug, Clone)]
pub struct Served {
    pub outcome: Outcome,
    /// Virtual time between the request and its outcome. For [`Outcome::Timeout`] the caller
    /// applies its own timeout instead.
    pub latency_ms: u64,
    pub acted: bool,
}

/// A provider that can be hosted in-process by the simulated world, on virtual time.
///
/// `path_and_query` of the request's URI is relative to the provider's base URL (the world strips
/// the base before calling), so the same definition serves under any prefix.
pub trait InProcessProvider {
    /// Serves one request at virtual time `now`.
    fn handle(&mut self, now: Millis, request: ProviderRequest) -> Served;
}
