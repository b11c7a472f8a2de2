//! The serde types of one scenario file. They are the format: `spec/scenario-format.md`
//! explains each field, and `spec/scenario.schema.json` is generated from them.
//!
//! Every struct denies unknown fields, so a typo is a located error rather than a silently
//! ignored line. Everything is `Serialize` too: the fuzzer writes its shrunk scenarios back out.
//! Maps are `BTreeMap` so that a scenario serialises the same way every time.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::duration::Duration;

/// The tag that makes the runner skip a scenario on any target but the in-memory one (it needs
/// the world's internals, such as invariant checkers or long spans).
pub const TAG_IN_MEMORY_ONLY: &str = "in-memory-only";

/// The tag for scenarios that use only the public API and test helpers, so they hold for any
/// target.
pub const TAG_BLACK_BOX: &str = "black-box";

/// One scenario: a named, seeded script of API calls, time moves and assertions that checks
/// the requirements it names.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// What the scenario shows, in words; also its name in reports.
    pub name: String,
    /// A longer explanation, for people reading the file or the report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The requirement IDs (`AREA-N`, from `spec/requirements.md`) this scenario checks; the
    /// coverage report is built from them.
    pub requirements: Vec<String>,
    /// Free-form tags for `--tag`; the runner itself recognises `in-memory-only` and `black-box`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The root seed of the simulated world; `--seed` overrides it. Absent means 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The virtual clock's start (RFC 3339); absent means 2026-01-01T00:00:00Z. Scenarios assert
    /// only times relative to their start, so this only changes rendered timestamps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<String>,
    /// The most scenario time the scenario may take. The runner fails a scenario that goes past
    /// it, and skips it on wall-clock targets when it is too long to wait for.
    pub span: Duration,
    /// The API keys the scenario uses, by name (`[main, other]`). The runner creates a real key
    /// for each; steps name them with `key:`. The first is the default.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
    /// Mock provider accounts by name; the runner creates each and hands its base URL and
    /// credentials to steps as template variables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub providers: BTreeMap<String, ProviderAccount>,
    /// Webhook receivers by name, each with its behaviour over scenario time.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub receivers: BTreeMap<String, Receiver>,
    /// What the scenario does, in order.
    pub steps: Vec<Step>,
}

/// The two providers the mocks implement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    Hubspot,
    Salesforce,
}

/// One mock provider account: its records, budget, tokens and faults. Absent fields take the
/// provider's defaults from CONTRACT.md section 6.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderAccount {
    /// Which mock serves the account.
    pub provider: ProviderKind,
    /// Requests allowed per provider window (hubspot: per rolling 10 s, default 100; salesforce:
    /// per 24 h, default 15,000), or `unlimited`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<Budget>,
    /// How long an access token lives (hubspot's `expires_in`, default 30m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_lifetime: Option<Duration>,
    /// The most records a page holds (hubspot at most 100, salesforce at most 2000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_size: Option<u32>,
    /// Whether a token refresh also rotates the refresh token (AUTH-15).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rotation: bool,
    /// Virtual time each request takes to answer (default 50ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Duration>,
    /// Usage of the account by another app, which the target can only see in usage headers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub another_app_usage: Option<AnotherAppUsage>,
    /// Seeded records by provider object (`contacts`/`companies` for hubspot,
    /// `Contact`/`Account` for salesforce), in the provider's own property names.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub records: BTreeMap<String, Records>,
    /// Fault rules, checked in order; the first that matches a request decides its fate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<FaultRule>,
}

/// A budget: a number of requests per provider window, or none at all. Deserialised by hand so
/// that a wrong value says what a budget may be, rather than "did not match any variant".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Budget {
    /// This many requests per window.
    Requests(u64),
    /// No rate limit, for scenarios about something else.
    Unlimited(UnlimitedKeyword),
}

/// The word `unlimited`, so that a budget reads as `budget: unlimited`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UnlimitedKeyword {
    Unlimited,
}

impl<'de> Deserialize<'de> for Budget {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Budget;

            fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str("a number of requests or `unlimited`")
            }

            fn visit_u64<E: serde::de::Error>(self, requests: u64) -> Result<Budget, E> {
                Ok(Budget::Requests(requests))
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Budget, E> {
                match text {
                    "unlimited" => Ok(Budget::Unlimited(UnlimitedKeyword::Unlimited)),
                    other => Err(E::custom(format_args!(
                        "expected a number of requests or `unlimited`, found `{other}`"
                    ))),
                }
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// Requests another app makes on the account, which count against its budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnotherAppUsage {
    /// How many requests.
    pub requests: u64,
    /// Repeat that many every this long; absent means once, at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<Duration>,
}

/// Records to seed: written out, or generated so that large workloads stay short to write.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Records {
    /// These records, in this order; each a JSON object of provider properties (an `id` may be
    /// given, else the mock assigns one).
    List(Vec<Value>),
    /// `{generate: N}`: N records with deterministic, valid properties.
    Generate(Generate),
}

/// `{generate: N}`: a count of items for the runner to generate from the scenario's seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Generate {
    /// How many.
    pub generate: u64,
}

/// A fault rule on a provider account, in the spirit of turmoil: match a request, return a
/// verdict, a bounded number of times or with a probability drawn from the seeded RNG.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// A name, so that a `remove_fault` step can take the rule away.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Which requests the rule applies to.
    #[serde(rename = "match", default)]
    pub matches: FaultMatch,
    /// What happens to a matching request.
    pub verdict: Verdict,
    /// Apply to this many matching requests, then stop; absent means every one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Apply to each matching request with this probability (0 to 1); absent means always.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
}

/// Which provider requests a fault rule matches; an absent field matches anything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultMatch {
    /// The HTTP method, e.g. `POST`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// A path prefix, e.g. `/crm/v3/objects/contacts/batch`; `/oauth` matches token requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// What a fault does to the request it matched.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Verdict {
    /// Let it through (useful to count matches, or shadow a later rule).
    Pass,
    /// Answer normally, this much later.
    Delay(Duration),
    /// Answer with this status and body without acting.
    Status {
        /// The HTTP status.
        code: u16,
        /// The JSON body; absent means the provider's usual body for that status.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<Value>,
        /// Extra answer headers, e.g. `Retry-After`.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        headers: BTreeMap<String, String>,
    },
    /// Act on the request, then never answer: the target times out (an ambiguous failure).
    TimeoutAfterActing,
    /// Never answer and do not act.
    TimeoutBeforeActing,
    /// Drop the connection without acting.
    Drop,
}

/// A webhook receiver: either down for the whole scenario, or rules over scenario time.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Receiver {
    /// Rules checked in order; the first whose window holds the delivery's time answers. A
    /// delivery no rule covers is answered `200`.
    Rules(Vec<ReceiverRule>),
    /// `down`: every delivery fails to connect.
    Down(DownKeyword),
}

/// The word `down`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DownKeyword {
    Down,
}

/// How a receiver answers between two instants of scenario time (`from` inclusive, `until`
/// exclusive, both since the scenario's start).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiverRule {
    /// Start of the window; absent means the scenario's start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Duration>,
    /// End of the window; absent means forever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Duration>,
    /// The answer in that window.
    pub respond: Respond,
}

/// A receiver's answer: a status after an optional delay, or no connection at all.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Respond {
    /// Answer with this status, after `delay` (past 10 s counts as a failure, WEBHOOK rules).
    Answer(ReceiverAnswer),
    /// `down`: refuse the connection.
    Down(DownKeyword),
}

/// A receiver's answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiverAnswer {
    /// The HTTP status.
    pub status: u16,
    /// How long the receiver takes to answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Duration>,
}

/// One step of a scenario, written as a one-key map (`- request: {...}`).
// Steps are parsed once per file and number at most 1,000; boxing the expectation-heavy
// variants would buy nothing measurable and cost every match on them.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Make an API call and check its answer.
    Request(Request),
    /// Repeat a call every interval of scenario time until an expectation holds.
    Poll(Poll),
    /// Run step lists side by side, e.g. a synchronous trigger in flight while time advances.
    Concurrently(Vec<Vec<Step>>),
    /// Move scenario time forward and run everything that falls due (`0s` settles what is due).
    Advance(Duration),
    /// Change a provider account: records, faults, tokens, grants, another app's usage.
    Provider(ProviderControl),
    /// Assert on a provider account's records and request journal.
    ProviderExpect(ProviderExpect),
    /// Assert on the webhooks a receiver got.
    WebhooksExpect(WebhooksExpect),
    /// Run the simulated world's invariant checkers over everything so far; `~` or absent list
    /// means all of them. Makes a scenario in-memory-only.
    Invariants(Option<Vec<String>>),
}

/// The HTTP methods the API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum Method {
    #[serde(rename = "GET")]
    Get,
    #[serde(rename = "POST")]
    Post,
    #[serde(rename = "PUT")]
    Put,
    #[serde(rename = "PATCH")]
    Patch,
    #[serde(rename = "DELETE")]
    Delete,
}

/// An API call. `path`, `query` values, `headers` values and every string in `body` may hold
/// `{{variable}}` templates: captures of earlier steps and the runner's own values.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// A name for `answered_after` to refer to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The HTTP method.
    pub method: Method,
    /// The path, e.g. `/api/pull/data`, templated.
    pub path: String,
    /// Query parameters, templated; sent in the order written here (sorted by name).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query: BTreeMap<String, String>,
    /// The JSON body, templated. `transfer_data: {generate: N}` (N at most 10,000) is expanded
    /// by the runner into N valid items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// Which declared key authenticates the call; absent means the first in `keys`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Extra request headers, templated; `Authorization` here replaces the key's.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Headers not to send at all, e.g. `[Authorization]` for the 401 checks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub omit_headers: Vec<String>,
    /// Variables to capture from the JSON answer: name → JSON pointer (`/transfer_id`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub capture: BTreeMap<String, String>,
    /// What the answer must be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<Expect>,
}

/// Assertions on one answer; every present field must hold.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The HTTP status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// A JSON value the body must contain: objects as subsets, arrays and scalars exactly.
    /// Strings are templated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<Value>,
    /// JSON pointer → the exact value there (templated), e.g. `/meta/count: 300`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub paths: BTreeMap<String, Value>,
    /// Header name → exact value (templated).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// When the answer came, relative to when a labelled step's request was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_after: Option<AnsweredAfter>,
    /// JSON pointers that must be absent from the body, e.g. `/meta/previous`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub absent: Vec<String>,
    /// JSON pointer → text (templated) that the string there must contain, e.g.
    /// `/message: transfer_data`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub contains: BTreeMap<String, String>,
    /// JSON pointer → the kind of value there, e.g. `/session_id: id`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub kinds: BTreeMap<String, ValueKind>,
    /// JSON pointer → a value (templated) the one there must differ from, e.g. another
    /// session's id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub differs: BTreeMap<String, Value>,
    /// JSON pointer → an RFC 3339 time there that is `seconds` (± `tolerance`) after another
    /// (templated), e.g. `/now: {since: "{{before}}", seconds: 90}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub time_since: BTreeMap<String, TimeSince>,
}

/// "The time here is `seconds` ± `tolerance` after `since`."
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeSince {
    /// The earlier time, RFC 3339 UTC with milliseconds; templated (`"{{before}}"`).
    pub since: String,
    /// The expected difference in seconds (fractions allowed, negative allowed).
    pub seconds: f64,
    /// How far off it may be, in seconds; absent means exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance: Option<f64>,
}

/// The kind of a JSON value, for `expect.kinds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ValueKind {
    /// 24 lowercase hexadecimal characters (session, transfer and error ids).
    Id,
    /// RFC 3339 UTC with milliseconds: `2026-11-28T09:41:07.123Z`.
    Timestamp,
    /// `whsec_` followed by non-empty standard base64.
    WebhookSecret,
    /// Any string.
    String,
    /// A string of at least one character.
    NonEmptyString,
    /// An integer ≥ 0.
    Count,
    /// `true` or `false`.
    Boolean,
    /// A JSON object.
    Object,
    /// A JSON array.
    Array,
    /// `null`.
    Null,
}

/// "This answer came `seconds` ± `tolerance` after step `step` sent its request."
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnsweredAfter {
    /// The label of an earlier (or this) request; absent means this request itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// The expected delay in seconds of scenario time (fractions allowed).
    pub seconds: f64,
    /// How far off the delay may be, in seconds; absent means exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance: Option<f64>,
}

/// Repeat `request` every `every` of scenario time until `until` holds; fail at `deadline`. On a
/// virtual clock each wait advances time.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Poll {
    /// A name for `answered_after` to refer to (the first attempt's sending).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The call to repeat; its `capture` applies to the answer that satisfied `until`. It must
    /// not carry its own `expect`.
    pub request: Request,
    /// The interval between attempts.
    pub every: Duration,
    /// The expectation that ends the poll.
    pub until: Expect,
    /// The most scenario time the poll may take, counted from its first attempt.
    pub deadline: Duration,
}

/// Changes to one provider account; exactly one action per step.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderControl {
    /// The account, by its name under `providers`.
    pub account: String,
    /// Replace every record of one object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_records: Option<SetRecords>,
    /// Change one record's properties (this counts as an update for sync pulls).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_record: Option<UpdateRecord>,
    /// Delete one record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_record: Option<RecordRef>,
    /// Add a fault rule (after the existing ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_fault: Option<FaultRule>,
    /// Remove the fault rule with this name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remove_fault: Option<String>,
    /// `true`: every access token of the account expires now.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub expire_tokens: bool,
    /// `true`: every refresh token of the account is revoked (the next refresh is
    /// `invalid_grant`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub revoke_grant: bool,
    /// Another app uses the account now (and, with `every`, again and again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub another_app_usage: Option<AnotherAppUsage>,
}

/// Records for one provider object.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRecords {
    /// The provider object (`contacts`, `companies`, `Contact`, `Account`).
    pub object: String,
    /// The records, written out or generated.
    pub records: Records,
}

/// One record by id, with new properties.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRecord {
    /// The provider object.
    pub object: String,
    /// The provider record id (templated).
    pub id: String,
    /// Properties to set, in the provider's names.
    pub properties: BTreeMap<String, Value>,
}

/// One record by id.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordRef {
    /// The provider object.
    pub object: String,
    /// The provider record id (templated).
    pub id: String,
}

/// Assertions on a provider account; every present field must hold.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderExpect {
    /// The account, by its name under `providers`.
    pub account: String,
    /// The provider object that `record_count`, `records_include` and `no_duplicates` look at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// The number of records of `object`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_count: Option<u64>,
    /// Each value must be a subset of some record of `object` (templated).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub records_include: Vec<Value>,
    /// `true`: no two records of `object` share an external id (PUSH-1's exactly once).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_duplicates: bool,
    /// The journal never shows more than `at_most` counted requests in any rolling `window`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_in_window: Option<MaxInWindow>,
    /// At most this share of the target's requests drew a rate-limit answer of this cause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limited_share: Option<RateLimitedShare>,
    /// The number of token refreshes the account answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refreshes: Option<CountRange>,
    /// The number of API requests (token requests aside) the target sent to the account, however
    /// they ended (QUEUE-1's "no provider request", TRANSFER-28's attempts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<CountRange>,
    /// Per HTTP status, how many of the target's requests to the account (token requests
    /// included) were answered with it, e.g. `{401: {max: 0}}` (AUTH-2).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub statuses: BTreeMap<u16, CountRange>,
    /// The most API requests (token requests aside) of the target to the account open at once,
    /// each from its sending until its outcome or the 30 s timeout (QUEUE-7, for an account
    /// that one transfer at a time uses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<u64>,
}

/// A rolling-window bound on the request journal (RATE-9, RATE-10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MaxInWindow {
    /// The window's length.
    pub window: Duration,
    /// The most requests in any such window.
    pub at_most: u64,
}

/// Why a rate-limit answer was given; RATE-8 excludes some causes from the 1 % rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RateLimitCause {
    /// The target went over the budget itself: what RATE-7 bounds.
    Target,
    /// Another app's usage the target could not have seen.
    AnotherApp,
    /// An injected fault.
    Fault,
    /// Any cause.
    Any,
}

/// A bound on the share of rate-limit answers.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitedShare {
    /// Which rate-limit answers count.
    pub cause: RateLimitCause,
    /// The largest allowed share, from 0 to 1 (`0.01` for 1 %).
    pub at_most: f64,
    /// The smallest required share, from 0 to 1; absent means 0 (RATE-19: pacing really off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_least: Option<f64>,
}

/// An inclusive range of counts; an absent bound is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CountRange {
    /// At least this many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<u64>,
    /// At most this many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u64>,
}

/// The four webhook types of CONTRACT.md section 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WebhookType {
    Configuration,
    Data,
    Error,
    Completed,
}

/// Assertions on the webhooks one receiver got. The webhooks considered are those of `type`
/// whose payload contains `payload`; every other present field must hold for them.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhooksExpect {
    /// The receiver, by its name under `receivers`.
    pub receiver: String,
    /// Only webhooks of this type; absent means every type.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub webhook_type: Option<WebhookType>,
    /// Only webhooks whose JSON payload contains this (subset match, templated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    /// Exactly this many (successful deliveries, each webhook once whatever its attempts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// The types of the considered webhooks, in the order they were delivered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub order: Vec<WebhookType>,
    /// Every webhook of `type` matching `payload` that reached the receiver (delivered or not)
    /// arrived in exactly this many attempts, all with the same `webhook-id` and body bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u64>,
    /// `true`: every attempt of the considered webhooks carries a valid Standard Webhooks
    /// signature for the secret of `key`, fresh at its arrival.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub signed: bool,
    /// Whose secret `signed` checks against (the key that owns the session); absent means the
    /// first in `keys`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Wait up to this much scenario time for the expectation to hold (advancing a virtual clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<Duration>,
    /// No considered webhook arrives during this much scenario time from now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub none_within: Option<Duration>,
}
