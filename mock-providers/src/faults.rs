//! Fault rules, in the style of turmoil's: an ordered list of one-method rules, each matching a
//! request and returning a verdict.
//!
//! - [`Matcher`] says which requests a rule sees (method, path exact or prefix, account, closure).
//! - [`Verdict`] says what happens to them (pass, delay, a given answer, the provider's own
//!   rate-limit answer, a timeout after or before acting, a dropped connection).
//! - [`FaultRule`] ties a matcher to a verdict with a remaining count and a probability. A matcher
//!   cannot become a rule without a verdict (wiremock's rule: no mock without a responder).
//! - [`FaultRules`] is the ordered list; the first matching rule that fires decides. Probabilities
//!   draw from an RNG seeded from the provider's seed, never from the OS.
//! - [`FaultGuard`] removes a scoped rule when dropped.
//! - [`FaultRuleSpec`] is the JSON form the admin API installs.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http::Method;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::MockError;

/// Identifies an installed rule, so that it can be removed.
pub type RuleId = u64;

/// What a rule knows about a request when it decides.
#[derive(Debug, Clone)]
pub struct RequestFacts<'a> {
    pub method: &'a Method,
    /// The path relative to the provider's base, without the query.
    pub path: &'a str,
    /// The account the request belongs to, when the credentials identify one.
    pub account_id: Option<&'a str>,
}

/// How a rule matches the request path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PathMatch {
    Any,
    Exact(String),
    Prefix(String),
}

impl PathMatch {
    fn matches(&self, path: &str) -> bool {
        match self {
            PathMatch::Any => true,
            PathMatch::Exact(p) => path == p,
            PathMatch::Prefix(p) => path.starts_with(p.as_str()),
        }
    }
}

type Predicate = Arc<dyn Fn(&RequestFacts<'_>) -> bool + Send + Sync>;

/// Which requests a rule sees. Every condition given must hold.
#[derive(Clone)]
pub struct Matcher {
    method: Option<Method>,
    path: PathMatch,
    account_id: Option<String>,
    predicate: Option<Predicate>,
}

impl fmt::Debug for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Matcher")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("account_id", &self.account_id)
            .field("predicate", &self.predicate.as_ref().map(|_| "<closure>"))
            .finish()
    }
}

impl Matcher {
    /// Every request.
    pub fn any() -> Self {
        Self {
            method: None,
            path: PathMatch::Any,
            account_id: None,
            predicate: None,
        }
    }

    /// Requests with this method to exactly this path.
    pub fn exact(method: Method, path: impl Into<String>) -> Self {
        Self {
            method: Some(method),
            path: PathMatch::Exact(path.into()),
            ..Self::any()
        }
    }

    /// Requests with this method to any path starting with `prefix`.
    pub fn prefix(method: Method, prefix: impl Into<String>) -> Self {
        Self {
            method: Some(method),
            path: PathMatch::Prefix(prefix.into()),
            ..Self::any()
        }
    }

    /// Requests to any path starting with `prefix`, whatever their method.
    pub fn any_method_prefix(prefix: impl Into<String>) -> Self {
        Self {
            path: PathMatch::Prefix(prefix.into()),
            ..Self::any()
        }
    }

    /// Narrows the matcher to one account's requests.
    pub fn for_account(mut self, account_id: impl Into<String>) -> Self {
        self.account_id = Some(account_id.into());
        self
    }

    /// Narrows the matcher with a closure over the request facts.
    pub fn when(
        mut self,
        predicate: impl Fn(&RequestFacts<'_>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.predicate = Some(Arc::new(predicate));
        self
    }

    /// Turns the matcher into a rule: a rule always has a verdict.
    pub fn then(self, verdict: Verdict) -> FaultRule {
        FaultRule {
            matcher: self,
            verdict,
            remaining: None,
            probability: 1.0,
        }
    }

    fn matches(&self, facts: &RequestFacts<'_>) -> bool {
        self.method.as_ref().is_none_or(|m| m == facts.method)
            && self.path.matches(facts.path)
            && self
                .account_id
                .as_deref()
                .is_none_or(|a| facts.account_id == Some(a))
            && self.predicate.as_ref().is_none_or(|p| p(facts))
    }
}

/// What happens to a request a rule fires on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Serve normally, and stop looking at later rules.
    Pass,
    /// Serve normally, `ms` later than the account's latency.
    Delay { ms: u64 },
    /// Answer with this status and body without acting. A rate-limit status (HubSpot 429,
    /// Salesforce 403 `REQUEST_LIMIT_EXCEEDED`) is journaled as an injected rate limit.
    Answer {
        status: u16,
        body: Bytes,
        content_type: Option<String>,
    },
    /// Answer with the provider's own rate-limit answer, journaled as injected.
    RateLimit,
    /// Act (write, count), then never answer: the caller sees its own timeout.
    TimeoutAfterActing,
    /// Never answer and do nothing: the caller sees its own timeout.
    TimeoutBeforeActing,
    /// Close the connection without answering or acting.
    Drop,
}

/// One ordered rule: a matcher, a verdict, how many more times it fires (`None` = always) and
/// the probability that it fires on a matching request.
#[derive(Debug, Clone)]
pub struct FaultRule {
    matcher: Matcher,
    verdict: Verdict,
    remaining: Option<u32>,
    probability: f64,
}

impl FaultRule {
    /// Fires on the next `n` matching requests only.
    pub fn times(mut self, n: u32) -> Self {
        self.remaining = Some(n);
        self
    }

    /// Fires on each matching request with probability `p` (drawn from the seeded RNG). Values
    /// outside 0..=1 are clamped.
    pub fn with_probability(mut self, p: f64) -> Self {
        self.probability = if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
        self
    }
}

/// A rule as the admin API lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRuleView {
    pub rule_id: RuleId,
    pub method: Option<String>,
    pub path: PathMatch,
    pub account_id: Option<String>,
    pub has_closure: bool,
    pub verdict: String,
    pub remaining: Option<u32>,
    pub probability: f64,
}

/// The ordered rule list of one provider, with the RNG its probabilities draw from.
#[derive(Debug)]
pub struct FaultRules {
    rules: Vec<(RuleId, FaultRule)>,
    next_id: RuleId,
    rng: ChaCha8Rng,
}

/// At most this many rules at once: a bound on the list every request walks.
pub const RULES_MAX: usize = 10_000;

impl FaultRules {
    /// An empty list whose probabilities draw from `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            rules: Vec::new(),
            next_id: 1,
            // A stream of its own, so that installing a rule does not shift the credentials.
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x6661_756c_7473_0001),
        }
    }

    /// Appends a rule; later rules see only requests earlier rules let through.
    pub fn install(&mut self, rule: FaultRule) -> Result<RuleId, MockError> {
        if self.rules.len() >= RULES_MAX {
            return Err(MockError::Invalid(format!(
                "at most {RULES_MAX} fault rules can be installed"
            )));
        }
        let id = self.next_id;
        self.next_id += 1;
        self.rules.push((id, rule));
        Ok(id)
    }

    /// Removes a rule; answers whether it was there.
    pub fn remove(&mut self, id: RuleId) -> bool {
        let before = self.rules.len();
        self.rules.retain(|(rule_id, _)| *rule_id != id);
        self.rules.len() != before
    }

    /// Removes every rule and restarts the RNG from `seed`; ids are never reused, so old
    /// guards stay harmless.
    pub fn reset(&mut self, seed: u64) {
        let next_id = self.next_id;
        *self = FaultRules::new(seed);
        self.next_id = next_id;
    }

    /// The first rule that matches and fires decides; `None` means serve normally.
    pub fn decide(&mut self, facts: &RequestFacts<'_>) -> Option<(RuleId, Verdict)> {
        for (id, rule) in &mut self.rules {
            if rule.remaining == Some(0) || !rule.matcher.matches(facts) {
                continue;
            }
            if rule.probability < 1.0 && !self.rng.random_bool(rule.probability) {
                continue;
            }
            if let Some(remaining) = rule.remaining.as_mut() {
                *remaining -= 1;
            }
            return Some((*id, rule.verdict.clone()));
        }
        None
    }

    /// The rules in order, for the admin API.
    pub fn views(&self) -> Vec<FaultRuleView> {
        self.rules
            .iter()
            .map(|(id, rule)| FaultRuleView {
                rule_id: *id,
                method: rule.matcher.method.as_ref().map(ToString::to_string),
                path: rule.matcher.path.clone(),
                account_id: rule.matcher.account_id.clone(),
                has_closure: rule.matcher.predicate.is_some(),
                verdict: verdict_name(&rule.verdict).to_owned(),
                remaining: rule.remaining,
                probability: rule.probability,
            })
            .collect()
    }
}

fn verdict_name(verdict: &Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => "pass",
        Verdict::Delay { .. } => "delay",
        Verdict::Answer { .. } => "answer",
        Verdict::RateLimit => "rate_limit",
        Verdict::TimeoutAfterActing => "timeout_after_acting",
        Verdict::TimeoutBeforeActing => "timeout_before_acting",
        Verdict::Drop => "drop",
    }
}

/// The shared handle through which a provider and its guards reach one rule list.
pub type SharedFaultRules = Arc<Mutex<FaultRules>>;

/// Locks a rule list; a poisoned lock only means a panic elsewhere, the list itself is sound.
pub(crate) fn lock(rules: &SharedFaultRules) -> std::sync::MutexGuard<'_, FaultRules> {
    rules.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Removes its rule when dropped, so that a scoped fault cannot outlive its scope.
#[derive(Debug)]
#[must_use = "dropping the guard removes the rule at once"]
pub struct FaultGuard {
    rules: SharedFaultRules,
    id: RuleId,
}

impl FaultGuard {
    pub(crate) fn new(rules: SharedFaultRules, id: RuleId) -> Self {
        Self { rules, id }
    }

    /// The guarded rule's id.
    pub fn rule_id(&self) -> RuleId {
        self.id
    }
}

impl Drop for FaultGuard {
    fn drop(&mut self) {
        lock(&self.rules).remove(self.id);
    }
}

/// The JSON form of a rule, for the admin API: `{"method"?, "path"?, "path_match"?: "exact" |
/// "prefix", "account_id"?, "verdict": {...}, "times"?, "probability"?}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRuleSpec {
    pub method: Option<String>,
    pub path: Option<String>,
    #[serde(default)]
    pub path_match: PathMatchKind,
    pub account_id: Option<String>,
    pub verdict: VerdictSpec,
    pub times: Option<u32>,
    pub probability: Option<f64>,
}

/// How a [`FaultRuleSpec`]'s `path` matches.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PathMatchKind {
    #[default]
    Prefix,
    Exact,
}

/// The JSON form of a verdict: `{"kind": "answer", "status": 500, "body": ...}` and so on.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum VerdictSpec {
    Pass,
    Delay {
        ms: u64,
    },
    Answer {
        status: u16,
        /// A JSON value is sent as JSON; a string is sent as it is.
        #[serde(default)]
        body: serde_json::Value,
        content_type: Option<String>,
    },
    RateLimit,
    TimeoutAfterActing,
    TimeoutBeforeActing,
    Drop,
}

impl FaultRuleSpec {
    /// Validates the spec and builds the rule.
    pub fn into_rule(self) -> Result<FaultRule, MockError> {
        let method = match self.method.as_deref() {
            None => None,
            Some(m) => Some(
                Method::from_bytes(m.to_ascii_uppercase().as_bytes()).map_err(|_| {
                    MockError::Invalid(format!("method {m:?} is not an HTTP method"))
                })?,
            ),
        };
        let path = match (self.path, self.path_match) {
            (None, _) => PathMatch::Any,
            (Some(p), _) if !p.starts_with('/') => {
                return Err(MockError::Invalid(format!(
                    "path {p:?} must start with '/' (relative to the provider's base)"
                )));
            }
            (Some(p), PathMatchKind::Prefix) => PathMatch::Prefix(p),
            (Some(p), PathMatchKind::Exact) => PathMatch::Exact(p),
        };
        let verdict = match self.verdict {
            VerdictSpec::Pass => Verdict::Pass,
            VerdictSpec::Delay { ms } => Verdict::Delay { ms },
            VerdictSpec::Answer {
                status,
                body,
                content_type,
            } => {
                if !(100..=599).contains(&status) {
                    return Err(MockError::Invalid(format!(
                        "status {status} is not in 100..=599"
                    )));
                }
                let body = match body {
                    serde_json::Value::String(text) => Bytes::from(text),
                    serde_json::Value::Null => Bytes::new(),
                    other => Bytes::from(other.to_string()),
                };
                Verdict::Answer {
                    status,
                    body,
                    content_type,
                }
            }
            VerdictSpec::RateLimit => Verdict::RateLimit,
            VerdictSpec::TimeoutAfterActing => Verdict::TimeoutAfterActing,
            VerdictSpec::TimeoutBeforeActing => Verdict::TimeoutBeforeActing,
            VerdictSpec::Drop => Verdict::Drop,
        };
        let mut rule = Matcher {
            method,
            path,
            account_id: self.account_id,
            predicate: None,
        }
        .then(verdict);
        if let Some(n) = self.times {
            rule = rule.times(n);
        }
        if let Some(p) = self.probability {
            if !(0.0..=1.0).contains(&p) {
                return Err(MockError::Invalid(format!(
                    "probability {p} is not in 0..=1"
                )));
            }
            rule = rule.with_probability(p);
        }
        Ok(rule)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(method: &'a Method, path: &'a str, account: Option<&'a str>) -> RequestFacts<'a> {
        RequestFacts {
            method,
            path,
            account_id: account,
        }
    }

    #[test]
    fn the_first_matching_rule_decides_and_a_counted_rule_runs_out() {
        let mut rules = FaultRules::new(1);
        rules
            .install(
                Matcher::prefix(Method::POST, "/crm")
                    .then(Verdict::Drop)
                    .times(1),
            )
            .expect("room");
        rules
            .install(Matcher::any().then(Verdict::Delay { ms: 5 }))
            .expect("room");
        let post = Method::POST;
        assert_eq!(
            rules.decide(&facts(&post, "/crm/v3/x", None)).map(|d| d.1),
            Some(Verdict::Drop)
        );
        assert_eq!(
            rules.decide(&facts(&post, "/crm/v3/x", None)).map(|d| d.1),
            Some(Verdict::Delay { ms: 5 })
        );
    }

    #[test]
    fn an_account_scoped_rule_ignores_other_accounts() {
        let mut rules = FaultRules::new(1);
        rules
            .install(Matcher::any().for_account("a1").then(Verdict::Drop))
            .expect("room");
        let get = Method::GET;
        assert!(rules.decide(&facts(&get, "/", Some("a2"))).is_none());
        assert!(rules.decide(&facts(&get, "/", None)).is_none());
        assert!(rules.decide(&facts(&get, "/", Some("a1"))).is_some());
    }

    #[test]
    fn a_probabilistic_rule_fires_about_as_often_as_asked_and_the_same_way_for_one_seed() {
        let draw = |seed| {
            let mut rules = FaultRules::new(seed);
            rules
                .install(Matcher::any().then(Verdict::Drop).with_probability(0.25))
                .expect("room");
            let get = Method::GET;
            (0..1000)
                .map(|_| rules.decide(&facts(&get, "/", None)).is_some())
                .collect::<Vec<_>>()
        };
        let first = draw(9);
        assert_eq!(first, draw(9));
        let fired = first.iter().filter(|f| **f).count();
        assert!((180..320).contains(&fired), "fired {fired} times");
    }

    #[test]
    fn a_closure_narrows_a_rule() {
        let mut rules = FaultRules::new(1);
        rules
            .install(
                Matcher::any()
                    .when(|f| f.path.ends_with("/upsert"))
                    .then(Verdict::TimeoutAfterActing),
            )
            .expect("room");
        let post = Method::POST;
        assert!(rules.decide(&facts(&post, "/a/update", None)).is_none());
        assert!(rules.decide(&facts(&post, "/a/upsert", None)).is_some());
    }

    #[test]
    fn a_guard_removes_its_rule_when_dropped() {
        let shared: SharedFaultRules = Arc::new(Mutex::new(FaultRules::new(1)));
        let id = lock(&shared)
            .install(Matcher::any().then(Verdict::Drop))
            .expect("room");
        let guard = FaultGuard::new(shared.clone(), id);
        assert_eq!(lock(&shared).views().len(), 1);
        drop(guard);
        assert!(lock(&shared).views().is_empty());
    }

    #[test]
    fn a_spec_with_a_bad_status_or_probability_is_refused() {
        let spec: FaultRuleSpec =
            serde_json::from_str(r#"{"verdict": {"kind": "answer", "status": 1000}}"#)
                .expect("parses");
        assert!(spec.into_rule().is_err());
        let spec: FaultRuleSpec =
            serde_json::from_str(r#"{"verdict": {"kind": "drop"}, "probability": 2}"#)
                .expect("parses");
        assert!(spec.into_rule().is_err());
    }
}
