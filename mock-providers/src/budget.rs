//! The rolling-window request budget of one provider account.
//!
//! CONTRACT.md section 8: a request processed at instant `t` counts for every instant `u` with
//! `t ≤ u < t + W`. The window is an exact log of the instants that counted, never a token bucket,
//! so that "how many requests were accepted in any window" has one answer that the journal checks
//! can reproduce. Each entry remembers whether the target or another app caused it, so that a
//! rate-limit answer can be attributed.
//!
//! **Invariant:** with a finite limit, the log never holds more than `limit` entries that count at
//! any instant, because [`RollingWindow::try_count`] refuses the request that would exceed it.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::seam::Millis;

/// Who sent a request that counted against an account's budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// The target under test (any of its grants on the account).
    Target,
    /// Another app installed on the same account, whose usage the target only sees in headers.
    AnotherApp,
}

/// An account's exact request log over one rolling window.
#[derive(Debug, Clone)]
pub struct RollingWindow {
    window_ms: u64,
    entries: VecDeque<(Millis, Origin)>,
}

impl RollingWindow {
    /// An empty log for windows of `window_ms`.
    pub fn new(window_ms: u64) -> Self {
        assert!(window_ms > 0, "a rolling window has a positive length");
        Self {
            window_ms,
            entries: VecDeque::new(),
        }
    }

    /// The window's length.
    pub fn window_ms(&self) -> u64 {
        self.window_ms
    }

    /// Forgets the entries that no longer count at `now` (those with `t + W ≤ now`). Bounded by
    /// the log's length.
    fn forget_before(&mut self, now: Millis) {
        while let Some(&(t, _)) = self.entries.front() {
            if t.saturating_add(self.window_ms) <= now {
                self.entries.pop_front();
            } else {
                break;
            }
        }
    }

    /// How many requests count at instant `now`, from every origin.
    pub fn used(&mut self, now: Millis) -> u32 {
        self.forget_before(now);
        u32::try_from(self.entries.len()).unwrap_or(u32::MAX)
    }

    /// How many requests of `origin` count at instant `now`.
    pub fn used_by(&mut self, now: Millis, origin: Origin) -> u32 {
        self.forget_before(now);
        let n = self.entries.iter().filter(|(_, o)| *o == origin).count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// Counts a request at `now` if the log has room under `limit` (`None` = unlimited); answers
    /// whether it counted. The caller answers a refused request with the rate-limit answer.
    pub fn try_count(&mut self, now: Millis, origin: Origin, limit: Option<u32>) -> bool {
        let used = self.used(now);
        if limit.is_some_and(|limit| used >= limit) {
            return false;
        }
        self.entries.push_back((now, origin));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_stops_counting_exactly_one_window_after_it_was_processed() {
        let mut window = RollingWindow::new(10_000);
        assert!(window.try_count(1_000, Origin::Target, Some(1)));
        assert!(!window.try_count(10_999, Origin::Target, Some(1)));
        assert_eq!(window.used(10_999), 1);
        assert_eq!(window.used(11_000), 0);
        assert!(window.try_count(11_000, Origin::Target, Some(1)));
    }

    #[test]
    fn another_apps_usage_fills_the_same_window() {
        let mut window = RollingWindow::new(10_000);
        assert!(window.try_count(0, Origin::AnotherApp, Some(2)));
        assert!(window.try_count(1, Origin::Target, Some(2)));
        assert!(!window.try_count(2, Origin::Target, Some(2)));
        assert_eq!(window.used_by(2, Origin::AnotherApp), 1);
        assert_eq!(window.used_by(2, Origin::Target), 1);
    }

    #[test]
    fn an_unlimited_window_counts_everything() {
        let mut window = RollingWindow::new(10);
        for t in 0..1000 {
            assert!(window.try_count(t / 200, Origin::Target, None));
        }
        assert_eq!(window.used(4), 1000);
    }
}
