//! The request journal and the checks scenarios and fuzzing run over it.
//!
//! Every provider request (not admin calls) becomes one [`JournalEntry`]: when, for which account
//! and connection, which route, what the caller saw, whether it counted against the budget,
//! whether the provider acted, and why a rate-limit answer was given. Another app's usage is
//! journaled too (origin `another_app`, `requests` = how many of its requests counted), because
//! it fills the same window.
//!
//! The checks are free functions over a slice of entries, so they run as well on a journal read
//! back over HTTP (`GET /__admin/journal`) as on one in memory:
//! - [`max_counted_in_window`], [`max_counted_from_target_in_window`]: the most requests accepted
//!   in any rolling window;
//! - [`rate_limits_by_cause`]: rate-limit answers split by cause;
//! - [`requests_by_route`];
//! - [`refreshes_per_connection`], [`max_refreshes_in_flight`].
//!
//! Records with duplicate external ids are a check on provider state, not on the journal:
//! see `Mock::duplicate_external_ids`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::budget::Origin;
use crate::seam::Millis;

/// Why a request drew a rate-limit answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateLimitCause {
    /// The target's own requests filled the window.
    Budget,
    /// A fault rule answered it.
    Injected,
    /// The window had room for the target's own requests; another app's usage filled it.
    AnotherApp,
}

/// What the caller saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JournalOutcome {
    Answer,
    Timeout,
    Dropped,
}

/// One journaled request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// Position in the journal, from 1, never reused (survives the cap dropping old entries).
    pub sequence: u64,
    /// When the provider processed it.
    pub at_ms: Millis,
    pub origin: Origin,
    pub account_id: Option<String>,
    /// The OAuth client of the connection (token requests and API calls with a known token).
    pub client_id: Option<String>,
    /// The grant (one refresh-token family) of the connection.
    pub grant_id: Option<String>,
    pub method: String,
    /// Path relative to the provider's base, with its query.
    pub path: String,
    /// A stable route name, e.g. `hubspot.contacts.list` or `salesforce.token`.
    pub route: String,
    pub outcome: JournalOutcome,
    /// The answer's status, when there was an answer.
    pub status: Option<u16>,
    /// Whether it counted against the account's budget.
    pub counted: bool,
    /// How many requests the entry stands for (1, or the counted part of another app's burst).
    pub requests: u32,
    /// Whether the provider acted (counted it, or changed state).
    pub acted: bool,
    pub rate_limit: Option<RateLimitCause>,
    /// Time before the caller saw the outcome (0 for timeouts: the caller's own timeout applies).
    pub latency_ms: u64,
    /// The fault rule that fired, if any.
    pub fault_rule: Option<u64>,
}

impl JournalEntry {
    /// Whether this is a token request (a refresh).
    pub fn is_refresh(&self) -> bool {
        self.route.ends_with(".token")
    }
}

/// One connection, as CONTRACT.md section 8 defines it: a client and a grant.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Connection {
    pub client_id: String,
    pub grant_id: String,
}

/// The most requests that counted at any one instant for `account_id`, over windows of
/// `window_ms`, from every origin. With the provider's own window this never exceeds the
/// account's budget.
pub fn max_counted_in_window(entries: &[JournalEntry], account_id: &str, window_ms: u64) -> u32 {
    max_in_window(
        entries
            .iter()
            .filter(|e| e.counted && e.account_id.as_deref() == Some(account_id)),
        window_ms,
    )
}

/// Like [`max_counted_in_window`], for the target's own requests only.
pub fn max_counted_from_target_in_window(
    entries: &[JournalEntry],
    account_id: &str,
    window_ms: u64,
) -> u32 {
    max_in_window(
        entries.iter().filter(|e| {
            e.counted && e.origin == Origin::Target && e.account_id.as_deref() == Some(account_id)
        }),
        window_ms,
    )
}

/// A request at `t` counts for `t ≤ u < t + W`, so the count at `u` is the weight with
/// `u − W < t ≤ u`; its maximum is reached at some entry's instant.
fn max_in_window<'a>(entries: impl Iterator<Item = &'a JournalEntry>, window_ms: u64) -> u32 {
    let mut points: Vec<(Millis, u64)> =
        entries.map(|e| (e.at_ms, u64::from(e.requests))).collect();
    points.sort_unstable();
    let mut best = 0u64;
    let mut sum = 0u64;
    let mut start = 0usize;
    for end in 0..points.len() {
        sum += points[end].1;
        // Bounded: `start` only moves forward, at most `points.len()` times in all.
        while points[start].0.saturating_add(window_ms) <= points[end].0 {
            sum -= points[start].1;
            start += 1;
        }
        best = best.max(sum);
    }
    u32::try_from(best).unwrap_or(u32::MAX)
}

/// Rate-limit answers by cause; `account_id` `None` means every account.
pub fn rate_limits_by_cause(
    entries: &[JournalEntry],
    account_id: Option<&str>,
) -> BTreeMap<RateLimitCause, u32> {
    let mut causes = BTreeMap::new();
    for entry in entries.iter().filter(|e| matches_account(e, account_id)) {
        if let Some(cause) = entry.rate_limit {
            *causes.entry(cause).or_insert(0) += 1;
        }
    }
    causes
}

/// Target requests by route name; `account_id` `None` means every account.
pub fn requests_by_route(
    entries: &[JournalEntry],
    account_id: Option<&str>,
) -> BTreeMap<String, u32> {
    let mut routes = BTreeMap::new();
    for entry in entries
        .iter()
        .filter(|e| e.origin == Origin::Target && matches_account(e, account_id))
    {
        *routes.entry(entry.route.clone()).or_insert(0) += 1;
    }
    routes
}

/// Token requests per connection (requests whose refresh token named no grant are left out).
pub fn refreshes_per_connection(entries: &[JournalEntry]) -> BTreeMap<Connection, u32> {
    let mut counts = BTreeMap::new();
    for (connection, _) in refreshes(entries) {
        *counts.entry(connection).or_insert(0) += 1;
    }
    counts
}

/// How long a refresh that timed out stays in flight: the target's provider timeout (also the
/// longest an answered refresh stays in flight, since a later answer is a timeout to the target).
pub const TIMEOUT_IN_FLIGHT_MS: u64 = 30_000;

/// The most refreshes in flight at once per connection. A refresh is in flight from its request
/// until its outcome (`at + latency`, or the 30 s caller timeout for a timeout). CONTRACT.md
/// section 3 allows at most one.
pub fn max_refreshes_in_flight(entries: &[JournalEntry]) -> BTreeMap<Connection, u32> {
    let mut intervals: BTreeMap<Connection, Vec<(Millis, Millis)>> = BTreeMap::new();
    for (connection, entry) in refreshes(entries) {
        let span = match entry.outcome {
            JournalOutcome::Timeout => TIMEOUT_IN_FLIGHT_MS,
            // An answer slower than the caller's timeout is a timeout to the caller: from then
            // on it may refresh again.
            JournalOutcome::Answer | JournalOutcome::Dropped => {
                entry.latency_ms.clamp(1, TIMEOUT_IN_FLIGHT_MS)
            }
        };
        intervals
            .entry(connection)
            .or_default()
            .push((entry.at_ms, entry.at_ms.saturating_add(span)));
    }
    intervals
        .into_iter()
        .map(|(connection, spans)| {
            // Half-open intervals: an end at `t` comes before a start at `t`.
            let mut events: Vec<(Millis, i8)> = spans
                .iter()
                .flat_map(|(start, end)| [(*start, 1i8), (*end, -1i8)])
                .collect();
            events.sort_unstable();
            let mut open = 0i64;
            let mut best = 0i64;
            for (_, delta) in events {
                open += i64::from(delta);
                best = best.max(open);
            }
            (connection, u32::try_from(best).unwrap_or(u32::MAX))
        })
        .collect()
}

fn refreshes(entries: &[JournalEntry]) -> impl Iterator<Item = (Connection, &JournalEntry)> {
    entries.iter().filter(|e| e.is_refresh()).filter_map(|e| {
        Some((
            Connection {
                client_id: e.client_id.clone()?,
                grant_id: e.grant_id.clone()?,
            },
            e,
        ))
    })
}

fn matches_account(entry: &JournalEntry, account_id: Option<&str>) -> bool {
    account_id.is_none_or(|a| entry.account_id.as_deref() == Some(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(at_ms: Millis, counted: bool) -> JournalEntry {
        JournalEntry {
            sequence: 0,
            at_ms,
            origin: Origin::Target,
            account_id: Some("a".into()),
            client_id: Some("c".into()),
            grant_id: Some("g".into()),
            method: "GET".into(),
            path: "/".into(),
            route: "hubspot.contacts.list".into(),
            outcome: JournalOutcome::Answer,
            status: Some(200),
            counted,
            requests: 1,
            acted: counted,
            rate_limit: None,
            latency_ms: 50,
            fault_rule: None,
        }
    }

    #[test]
    fn the_window_count_uses_half_open_windows() {
        let entries = vec![entry(0, true), entry(9_999, true), entry(10_000, true)];
        assert_eq!(max_counted_in_window(&entries, "a", 10_000), 2);
        assert_eq!(max_counted_in_window(&entries, "a", 10_001), 3);
        assert_eq!(max_counted_in_window(&entries, "b", 10_000), 0);
    }

    #[test]
    fn uncounted_requests_are_not_accepted_requests() {
        let entries = vec![entry(0, true), entry(1, false), entry(2, true)];
        assert_eq!(max_counted_in_window(&entries, "a", 10_000), 2);
    }

    #[test]
    fn overlapping_refreshes_of_one_connection_are_seen_in_flight_together() {
        let mut first = entry(0, false);
        first.route = "hubspot.token".into();
        let mut second = first.clone();
        second.at_ms = 49;
        let mut third = first.clone();
        third.at_ms = 99; // starts as the second ends
        let counts = max_refreshes_in_flight(&[first.clone(), second, third]);
        let connection = Connection {
            client_id: "c".into(),
            grant_id: "g".into(),
        };
        assert_eq!(counts.get(&connection), Some(&2));
        assert_eq!(
            refreshes_per_connection(&[first]).get(&connection),
            Some(&1)
        );
    }
}
