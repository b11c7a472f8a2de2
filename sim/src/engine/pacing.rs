//! Pacing: an exact sliding-window log per connection.
//!
//! CONTRACT.md defines budgets as rolling windows: a request processed at `t` counts for every
//! instant `u` with `t ≤ u < t + W`. A token bucket or GCRA with burst `B` lets up to `2B`
//! through one rolling window (a full bucket spent just before a refill boundary, and again just
//! after), which breaks that rule; an exact log of send times cannot. Memory is bounded by the
//! budget: the log never holds more entries than fit in one window.
//!
//! The log holds the target's own requests (counted when sent, removed again if the answer was a
//! rate limit, which the provider does not count) and *phantom* entries for usage the provider's
//! headers report beyond the target's own (another app on the same account). Phantoms are placed
//! at the instant the provider processed the request that revealed them, which is never earlier
//! than the real usage, so the log never under-counts.
//!
//! **Invariant:** with the log as its only guide, the target never sends a paced request that
//! would make more than `limit` entries fall in one window.

use std::collections::VecDeque;

use transfersim_mock_providers::Millis;

/// How long entries stay in the log after they stop counting: longer than any answer can take
/// (the 30 s provider timeout), so `observe` sees the log as it stood when the request went out.
const KEEP_PAST_WINDOW_MS: Millis = 60_000;

/// A provider's budget: `limit` requests per rolling `window_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub limit: u32,
    pub window_ms: Millis,
}

/// What a provider's usage headers said about one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportedUsage {
    /// Requests counted in the window when the provider processed this one, this one included.
    pub used: u32,
    pub budget: Budget,
}

/// The sliding-window log of one connection.
#[derive(Debug, Clone)]
pub struct Pacer {
    budget: Budget,
    /// Send times of counted requests (own and phantom), ascending.
    log: VecDeque<Millis>,
}

impl Pacer {
    /// A log for `budget`.
    pub fn new(budget: Budget) -> Self {
        Self {
            budget,
            log: VecDeque::new(),
        }
    }

    /// The budget the log paces to.
    pub fn budget(&self) -> Budget {
        self.budget
    }

    /// Entries that count at instant `at` (those in `(at - W, at]`).
    pub fn count_at(&self, at: Millis) -> usize {
        let window = self.budget.window_ms;
        self.log
            .iter()
            .filter(|&&t| t <= at && t + window > at)
            .count()
    }

    fn forget_before(&mut self, now: Millis) {
        // Keep entries a while past the window: an answer arriving now may describe a request
        // sent up to a provider timeout ago, and `observe` counts the log as it stood then.
        let horizon = self.budget.window_ms + KEEP_PAST_WINDOW_MS;
        while self.log.front().is_some_and(|&t| t + horizon <= now) {
            self.log.pop_front();
        }
    }

    /// The earliest instant at or after `now` when one more request fits the window.
    pub fn room_at(&mut self, now: Millis) -> Millis {
        self.forget_before(now);
        let limit = self.budget.limit as usize;
        let in_window = self.count_at(now);
        if in_window < limit {
            return now;
        }
        // The (in_window - limit)-th oldest entry in the window must age out first.
        let window = self.budget.window_ms;
        let entries: Vec<Millis> = self
            .log
            .iter()
            .copied()
            .filter(|&t| t <= now && t + window > now)
            .collect();
        entries[in_window - limit] + window
    }

    /// Records a request sent at `now`.
    pub fn record(&mut self, now: Millis) {
        let position = self.log.partition_point(|&t| t <= now);
        self.log.insert(position, now);
    }

    /// Forgets the request sent at `sent_at`: its answer was a rate limit, which does not count.
    pub fn uncount(&mut self, sent_at: Millis) {
        if let Some(position) = self.log.iter().rposition(|&t| t == sent_at) {
            self.log.remove(position);
        }
    }

    /// Takes what the provider reported for a request sent at `sent_at`: adopts its budget, and
    /// adds phantom entries for usage beyond what the log explains.
    pub fn observe(&mut self, sent_at: Millis, reported: ReportedUsage) {
        if reported.budget != self.budget {
            self.budget = reported.budget;
        }
        let known = self.count_at(sent_at);
        let unexplained = (reported.used as usize).saturating_sub(known);
        for _ in 0..unexplained.min(self.budget.limit as usize) {
            self.record(sent_at);
        }
    }

    /// Fills the window at `at` up to the limit: the provider refused, so it is full whatever
    /// the log says.
    pub fn fill(&mut self, at: Millis) {
        let known = self.count_at(at);
        for _ in known..self.budget.limit as usize {
            self.record(at);
        }
    }

    /// Whether the log alone explains a rate-limit answer to a request sent at `sent_at`.
    pub fn explains_refusal(&self, sent_at: Millis) -> bool {
        self.count_at(sent_at) >= self.budget.limit as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUDGET: Budget = Budget {
        limit: 3,
        window_ms: 10_000,
    };

    #[test]
    fn a_full_window_has_room_when_its_oldest_entry_ages_out() {
        let mut pacer = Pacer::new(BUDGET);
        for at in [1_000, 2_000, 3_000] {
            assert_eq!(pacer.room_at(at), at);
            pacer.record(at);
        }
        assert_eq!(
            pacer.room_at(3_500),
            11_000,
            "the entry at 1 s counts until 11 s exclusive"
        );
        pacer.record(11_000);
        assert_eq!(pacer.room_at(11_000), 12_000);
    }

    #[test]
    fn never_more_than_the_limit_in_any_window_when_every_send_waits_for_room() {
        let mut pacer = Pacer::new(BUDGET);
        let mut sent = Vec::new();
        let mut now = 0;
        for step in 0..50u64 {
            now = pacer.room_at(now + step % 3 * 700);
            pacer.record(now);
            sent.push(now);
        }
        for &start in &sent {
            let in_window = sent
                .iter()
                .filter(|&&t| t >= start && t < start + BUDGET.window_ms)
                .count();
            assert!(
                in_window <= 3,
                "{in_window} sends in the window from {start}"
            );
        }
    }

    #[test]
    fn usage_the_log_cannot_explain_becomes_phantom_entries() {
        let mut pacer = Pacer::new(BUDGET);
        pacer.record(5_000);
        pacer.observe(
            5_000,
            ReportedUsage {
                used: 3,
                budget: BUDGET,
            },
        );
        assert_eq!(pacer.count_at(5_000), 3);
        assert_eq!(pacer.room_at(5_001), 15_000);
    }

    #[test]
    fn a_refused_request_is_uncounted_and_an_unexplained_refusal_fills_the_window() {
        let mut pacer = Pacer::new(BUDGET);
        pacer.record(1_000);
        assert!(!pacer.explains_refusal(1_000));
        pacer.uncount(1_000);
        pacer.fill(1_000);
        assert_eq!(pacer.room_at(1_000), 11_000);
    }
}
