//! What a load run measured: counters, HdrHistogram latencies, errors, and the report built from
//! them (terminal text and JSON).

use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::Plan;

/// The most error messages a report keeps (the count is exact).
pub const ERROR_MESSAGES_MAX: usize = 20;

/// Latencies are recorded in microseconds up to an hour.
const LATENCY_MAX_US: u64 = 3_600_000_000;

fn histogram() -> Histogram<u64> {
    match Histogram::new_with_bounds(1, LATENCY_MAX_US, 3) {
        Ok(histogram) => histogram,
        Err(error) => panic!("fixed histogram bounds are valid: {error}"),
    }
}

/// Counters and histograms of one run, filled as it goes.
#[derive(Debug)]
pub struct Stats {
    pub trigger: Histogram<u64>,
    pub sync: Histogram<u64>,
    pub data_page: Histogram<u64>,
    pub transfers_completed: u64,
    pub pulls_completed: u64,
    pub pushes_completed: u64,
    pub records: u64,
    pub requests: u64,
    pub errors: ErrorLog,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            trigger: histogram(),
            sync: histogram(),
            data_page: histogram(),
            transfers_completed: 0,
            pulls_completed: 0,
            pushes_completed: 0,
            records: 0,
            requests: 0,
            errors: ErrorLog::default(),
        }
    }
}

impl Stats {
    /// Records a latency (saturating at the histogram's top).
    pub fn record(histogram: &mut Histogram<u64>, micros: u64) {
        histogram.saturating_record(micros.clamp(1, LATENCY_MAX_US));
    }

    /// Adds another worker's stats.
    pub fn merge(&mut self, other: &Stats) {
        // Same bounds on both sides: adding cannot fail.
        let _ = self.trigger.add(&other.trigger);
        let _ = self.sync.add(&other.sync);
        let _ = self.data_page.add(&other.data_page);
        self.transfers_completed += other.transfers_completed;
        self.pulls_completed += other.pulls_completed;
        self.pushes_completed += other.pushes_completed;
        self.records += other.records;
        self.requests += other.requests;
        for message in &other.errors.messages {
            self.errors.push(message.clone());
        }
        self.errors.count += other.errors.count - other.errors.messages.len() as u64;
    }
}

/// Errors: an exact count and the first messages.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ErrorLog {
    pub count: u64,
    pub messages: Vec<String>,
}

impl ErrorLog {
    /// Counts an error, keeping its message if there is room.
    pub fn push(&mut self, message: String) {
        self.count += 1;
        if self.messages.len() < ERROR_MESSAGES_MAX {
            self.messages.push(message);
        }
    }
}

/// Percentiles of one kind of call, in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct LatencySummary {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl LatencySummary {
    /// From a histogram of microseconds.
    pub fn of(histogram: &Histogram<u64>) -> Self {
        let ms = |micros: u64| micros as f64 / 1_000.0;
        Self {
            count: histogram.len(),
            p50_ms: ms(histogram.value_at_quantile(0.50)),
            p90_ms: ms(histogram.value_at_quantile(0.90)),
            p99_ms: ms(histogram.value_at_quantile(0.99)),
            max_ms: ms(histogram.max()),
        }
    }
}

/// The latencies of the three kinds of calls.
#[derive(Debug, Clone, Serialize)]
pub struct Latencies {
    /// Asynchronous triggers.
    pub trigger: LatencySummary,
    /// Synchronous triggers, from request to answer.
    pub sync: LatencySummary,
    pub data_page: LatencySummary,
    /// `wall`, or `sync_simulated` in memory (synchronous answers come in virtual time).
    pub clock: &'static str,
}

/// The provider side, from the mocks' journals.
#[derive(Debug, Clone, Serialize)]
pub struct ProviderSide {
    pub requests: u64,
    pub rate_limited: u64,
    pub rate_limited_share: f64,
}

/// A finished run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub target: String,
    pub plan: Plan,
    pub concurrency: usize,
    pub duration_cap_s: Option<f64>,
    /// `transfers` (all ran) or `duration` (the cap ended it).
    pub stopped_by: &'static str,
    pub transfers_requested: usize,
    pub transfers_completed: u64,
    pub pulls_completed: u64,
    pub pushes_completed: u64,
    /// Records counted from the data pages (pulled rows, successful push items).
    pub records: u64,
    /// API requests sent to the target (set-up included).
    pub requests: u64,
    pub wall_s: f64,
    /// Virtual time the run spanned (memory only).
    pub simulated_s: Option<f64>,
    pub transfers_per_s: f64,
    pub records_per_s: f64,
    pub latency: Latencies,
    pub provider: ProviderSide,
    pub errors: ErrorLog,
}

/// The parts of a report a target measures besides [`Stats`].
#[derive(Debug)]
pub struct RunFacts {
    pub target: String,
    pub concurrency: usize,
    pub duration_cap_s: Option<f64>,
    pub stopped_by_duration: bool,
    pub wall_s: f64,
    pub simulated_s: Option<f64>,
    pub clock: &'static str,
    pub provider: ProviderSide,
}

impl Report {
    /// Builds the report.
    pub fn new(plan: &Plan, stats: &Stats, facts: RunFacts) -> Self {
        let per_s = |n: u64| {
            if facts.wall_s > 0.0 {
                n as f64 / facts.wall_s
            } else {
                0.0
            }
        };
        Self {
            target: facts.target,
            plan: plan.clone(),
            concurrency: facts.concurrency,
            duration_cap_s: facts.duration_cap_s,
            stopped_by: if facts.stopped_by_duration {
                "duration"
            } else {
                "transfers"
            },
            transfers_requested: plan.transfers,
            transfers_completed: stats.transfers_completed,
            pulls_completed: stats.pulls_completed,
            pushes_completed: stats.pushes_completed,
            records: stats.records,
            requests: stats.requests,
            wall_s: facts.wall_s,
            simulated_s: facts.simulated_s,
            transfers_per_s: per_s(stats.transfers_completed),
            records_per_s: per_s(stats.records),
            latency: Latencies {
                trigger: LatencySummary::of(&stats.trigger),
                sync: LatencySummary::of(&stats.sync),
                data_page: LatencySummary::of(&stats.data_page),
                clock: facts.clock,
            },
            provider: facts.provider,
            errors: stats.errors.clone(),
        }
    }

    /// The terminal report.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "transfersim load: {} ({} sessions, {} accounts, {} keys, {} records per transfer, sync ratio {}, provider budget {:?}, concurrency {})",
            self.target,
            self.plan.sessions,
            self.plan.accounts,
            self.plan.api_keys.len(),
            self.plan.records_per_transfer,
            self.plan.sync_ratio,
            self.plan.provider_budget,
            self.concurrency,
        );
        let _ = writeln!(
            out,
            "transfers: {}/{} completed ({} pulls, {} pushes), stopped by {}",
            self.transfers_completed,
            self.transfers_requested,
            self.pulls_completed,
            self.pushes_completed,
            self.stopped_by
        );
        let simulated = self
            .simulated_s
            .map(|s| format!(", {s:.1} s simulated"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "throughput: {:.1} transfers/s, {:.0} records/s ({} records in {:.2} s wall{simulated}, {} API requests)",
            self.transfers_per_s, self.records_per_s, self.records, self.wall_s, self.requests
        );
        let _ = writeln!(
            out,
            "latency (ms)      count      p50      p90      p99      max{}",
            if self.latency.clock == "wall" {
                ""
            } else {
                "   (sync: simulated time)"
            }
        );
        for (name, summary) in [
            ("trigger", &self.latency.trigger),
            ("synchronous", &self.latency.sync),
            ("data page", &self.latency.data_page),
        ] {
            let _ = writeln!(
                out,
                "  {name:<12} {:>8} {:>8.3} {:>8.3} {:>8.3} {:>8.3}",
                summary.count, summary.p50_ms, summary.p90_ms, summary.p99_ms, summary.max_ms
            );
        }
        let _ = writeln!(
            out,
            "provider: {} requests, {} rate-limit answers ({:.2} %)",
            self.provider.requests,
            self.provider.rate_limited,
            self.provider.rate_limited_share * 100.0
        );
        let _ = writeln!(out, "errors: {}", self.errors.count);
        for message in &self.errors.messages {
            let _ = writeln!(out, "  {message}");
        }
        out
    }
}

/// The provider side of a set of journals.
pub fn provider_side<'a>(
    journals: impl IntoIterator<Item = &'a [transfersim_mock_providers::JournalEntry]>,
) -> ProviderSide {
    let mut requests = 0u64;
    let mut rate_limited = 0u64;
    for journal in journals {
        for entry in journal {
            requests += 1;
            if entry.rate_limit.is_some() {
                rate_limited += 1;
            }
        }
    }
    ProviderSide {
        requests,
        rate_limited,
        rate_limited_share: if requests > 0 {
            rate_limited as f64 / requests as f64
        } else {
            0.0
        },
    }
}
