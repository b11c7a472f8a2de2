//! The per-session webhook outbox (CONTRACT.md section 4 "Delivery" and "Ordering", section 8
//! "Webhooks"): which webhook attempt goes out when, as a pure state machine.
//!
//! The engine owns one [`Outbox`] per session and drives it like its other timers:
//!
//! 1. [`Outbox::push`] each webhook as it is produced (its `webhook-id` and bytes are fixed here
//!    and never change across attempts).
//! 2. After every input that touched the outbox, call [`Outbox::start_due`] with `now` and send
//!    the [`Attempt`]s it returns, signing each at `now` ([`super::signature::headers`]) with
//!    `Content-Type: application/json`. `start_due` is the only way an attempt starts, so a push
//!    or a result that makes room sends nothing until it is called.
//! 3. When an attempt ends, decide success with [`is_delivery_success`] (2xx within
//!    [`DELIVERY_TIMEOUT_MS`]; a 3xx, any other status, a refused connection or a timeout is a
//!    failure) and report it with [`Outbox::on_result`] at the instant of the answer, or of the
//!    timeout (send time + 10 s). The [`AttemptVerdict`] says what happened: a `Dropped`
//!    webhook is recorded by the engine as an `internal` error, with no error webhook.
//! 4. Set a timer at [`Outbox::next_wake`] (the earliest retry) and call `start_due` again when
//!    it fires.
//! 5. On session delete or expiry, [`Outbox::drop_all`]; results that arrive later for those
//!    webhooks answer [`OutboxError::NotInFlight`] and are to be ignored.
//!
//! **Invariant:** serial mode has at most one webhook active (in flight or waiting for a retry),
//! and it is the oldest one; concurrent mode has at most [`IN_FLIGHT_MAX`] active. A transfer's
//! `completed` webhook never starts while a `data` or `error` webhook of that transfer is still
//! in the outbox. Every attempt of one webhook carries the same id, endpoint and bytes, numbered
//! 1 to [`ATTEMPTS_MAX`].
//!
//! **Boundary:** the outbox decides order and timing only. It never signs, sends, reads a clock
//! or judges an answer; `now` and success come from the caller.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use crate::time::{HOUR_MS, MINUTE_MS, Millis, SECOND_MS};

/// Attempts of one webhook before it is dropped: the first and six retries.
pub const ATTEMPTS_MAX: u32 = 7;
/// Waits before attempts 2 to 7, each counted from the failure of the previous attempt.
pub const RETRY_DELAYS_MS: [Millis; 6] = [
    5 * SECOND_MS,
    30 * SECOND_MS,
    2 * MINUTE_MS,
    10 * MINUTE_MS,
    30 * MINUTE_MS,
    HOUR_MS,
];
/// Webhooks active at once per session in concurrent mode, retry-waiters included, so a failing
/// receiver cannot be flooded by ever more webhooks while earlier ones wait.
pub const IN_FLIGHT_MAX: usize = 8;
/// An answer later than this after sending is a failure (the sender stops waiting).
pub const DELIVERY_TIMEOUT_MS: Millis = 10 * SECOND_MS;

/// Whether an attempt was delivered: a 2xx answer (`status` is `None` when the connection was
/// refused or dropped) within [`DELIVERY_TIMEOUT_MS`] of sending, that instant included. A 3xx
/// is a failure: redirects are not followed. The engine and the receivers' log both use this,
/// so they agree on what "delivered" means.
pub fn is_delivery_success(status: Option<u16>, answered_after_ms: Millis) -> bool {
    matches!(status, Some(200..=299)) && answered_after_ms <= DELIVERY_TIMEOUT_MS
}

/// The four webhook types of CONTRACT.md section 4. Only `Completed` is ordered in concurrent
/// mode (behind its transfer's `Data` and `Error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum WebhookKind {
    /// The session's first configuration.
    Configuration,
    /// A pull page that delivered records, or a push batch.
    Data,
    /// One error record.
    Error,
    /// The end of a transfer: exactly one, after all of its `Data` and `Error`.
    Completed,
}

impl WebhookKind {
    /// The wire name, as in scenario files and trace lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Configuration => "configuration",
            Self::Data => "data",
            Self::Error => "error",
            Self::Completed => "completed",
        }
    }
}

/// One webhook as produced: everything that stays the same across its attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// The `webhook-id` header: unique per outbox, the receiver's idempotency key.
    pub id: String,
    /// The transfer it reports on; `None` for the configuration webhook.
    pub transfer_id: Option<String>,
    /// Which payload it is; `Completed` is ordered behind its transfer's reports.
    pub kind: WebhookKind,
    /// The URL it is POSTed to.
    pub endpoint: String,
    /// The exact JSON bytes sent, and signed, at every attempt.
    pub body: Bytes,
}

/// One attempt to send now. The caller signs it at its send time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The `webhook-id` to send, the same at every attempt.
    pub webhook_id: String,
    /// 1 for the first try, up to [`ATTEMPTS_MAX`].
    pub attempt_number: u32,
    /// The webhook's kind, for trace lines.
    pub kind: WebhookKind,
    /// Where to POST it.
    pub endpoint: String,
    /// The webhook's bytes, unchanged since [`Outbox::push`].
    pub body: Bytes,
}

/// What became of a webhook after one attempt's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptVerdict {
    /// It arrived; it leaves the outbox.
    Delivered(Webhook),
    /// It failed and is tried again at this instant ([`Outbox::next_wake`] reports it).
    RetryAt(Millis),
    /// Its last attempt failed; it leaves the outbox. The engine records an `internal` error.
    Dropped(Webhook),
}

/// How a session's webhooks share the receiver, from the session's `webhook_concurrency`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryMode {
    /// One at a time in production order; the next waits until the previous was delivered or
    /// dropped (head-of-line blocking). The default, because it lets receivers rely on order.
    Serial,
    /// Up to [`IN_FLIGHT_MAX`] at once, order not kept, except that a transfer's `completed`
    /// still waits for its `data` and `error` webhooks.
    Concurrent,
}

impl DeliveryMode {
    /// The mode a session's `webhook_concurrency` flag asks for.
    pub fn from_webhook_concurrency(webhook_concurrency: bool) -> Self {
        if webhook_concurrency {
            Self::Concurrent
        } else {
            Self::Serial
        }
    }
}

/// A result reported for a webhook that has no attempt in flight.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboxError {
    /// Unknown here, already finished, dropped by [`Outbox::drop_all`], or waiting for a retry
    /// rather than in flight. After `drop_all` this is expected and the result is ignored.
    #[error("webhook {webhook_id} has no attempt in flight")]
    NotInFlight {
        /// The id the result was reported for.
        webhook_id: String,
    },
}

/// Where a webhook stands in the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Never attempted; starts when its mode allows.
    Queued,
    /// An attempt is out; its result has not been reported.
    InFlight,
    /// The last attempt failed; the next starts at this instant.
    RetryAt(Millis),
}

#[derive(Debug, Clone)]
struct Entry {
    webhook: Webhook,
    attempts_made: u32,
    state: State,
}

/// One session's webhooks not yet delivered or dropped, and when each may go out.
#[derive(Debug, Clone)]
pub struct Outbox {
    mode: DeliveryMode,
    /// Production sequence number of the next push.
    next_sequence: u64,
    /// Every webhook still here, in production order.
    entries: BTreeMap<u64, Entry>,
    sequence_of: BTreeMap<String, u64>,
    /// Webhooks never attempted, in production order.
    queued: BTreeSet<u64>,
    /// Webhooks waiting for a retry, by due time.
    retries: BTreeSet<(Millis, u64)>,
    /// Webhooks in flight or waiting for a retry.
    active: usize,
    /// Per transfer, its `data` and `error` webhooks still here (what holds its `completed`).
    unfinished_reports: BTreeMap<String, usize>,
}

impl Outbox {
    /// An empty outbox; `mode` comes from the session's `webhook_concurrency` and is fixed for
    /// the session's lifetime.
    pub fn new(mode: DeliveryMode) -> Self {
        Self {
            mode,
            next_sequence: 0,
            entries: BTreeMap::new(),
            sequence_of: BTreeMap::new(),
            queued: BTreeSet::new(),
            retries: BTreeSet::new(),
            active: 0,
            unfinished_reports: BTreeMap::new(),
        }
    }

    /// Serial or concurrent, as created.
    pub fn mode(&self) -> DeliveryMode {
        self.mode
    }

    /// Queues a webhook behind those already produced. It goes out at the next
    /// [`Outbox::start_due`] that has room for it.
    ///
    /// # Panics
    /// If a webhook with the same id is still in the outbox: ids are minted unique, so a repeat
    /// is an engine bug that would merge two webhooks at the receiver.
    pub fn push(&mut self, webhook: Webhook) {
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        let previous = self.sequence_of.insert(webhook.id.clone(), sequence);
        assert!(
            previous.is_none(),
            "webhook id {} pushed twice into one outbox",
            webhook.id
        );
        if let (WebhookKind::Data | WebhookKind::Error, Some(transfer_id)) =
            (webhook.kind, &webhook.transfer_id)
        {
            *self
                .unfinished_reports
                .entry(transfer_id.clone())
                .or_insert(0) += 1;
        }
        self.queued.insert(sequence);
        self.entries.insert(
            sequence,
            Entry {
                webhook,
                attempts_made: 0,
                state: State::Queued,
            },
        );
    }

    /// Starts every attempt that may go out at `now`: retries that are due, then never-tried
    /// webhooks in production order while the mode has room. Call it after every push, every
    /// result and every [`Outbox::next_wake`] timer.
    pub fn start_due(&mut self, now: Millis) -> Vec<Attempt> {
        let mut attempts = Vec::new();
        while let Some(&(due, sequence)) = self.retries.first() {
            if due > now {
                break;
            }
            self.retries.pop_first();
            attempts.push(self.start(sequence));
        }
        let fresh: Vec<u64> = match self.mode {
            DeliveryMode::Serial => {
                if self.active == 0 {
                    // With nothing active, every webhook here is queued: the first is the head.
                    self.queued.first().copied().into_iter().collect()
                } else {
                    Vec::new()
                }
            }
            DeliveryMode::Concurrent => self
                .queued
                .iter()
                .copied()
                .filter(|&sequence| !self.is_held(sequence))
                .take(IN_FLIGHT_MAX.saturating_sub(self.active))
                .collect(),
        };
        for sequence in fresh {
            self.queued.remove(&sequence);
            self.active += 1;
            attempts.push(self.start(sequence));
        }
        self.assert_limits();
        attempts
    }

    /// Reports how the attempt in flight for `webhook_id` ended, at the instant it ended (the
    /// answer, the refused connection, or the timeout). `delivered` comes from
    /// [`is_delivery_success`].
    pub fn on_result(
        &mut self,
        now: Millis,
        webhook_id: &str,
        delivered: bool,
    ) -> Result<AttemptVerdict, OutboxError> {
        let not_in_flight = || OutboxError::NotInFlight {
            webhook_id: webhook_id.to_owned(),
        };
        let sequence = *self.sequence_of.get(webhook_id).ok_or_else(not_in_flight)?;
        let entry = self
            .entries
            .get_mut(&sequence)
            .unwrap_or_else(|| panic!("outbox index names webhook {webhook_id} but holds none"));
        if entry.state != State::InFlight {
            return Err(not_in_flight());
        }
        if !delivered && entry.attempts_made < ATTEMPTS_MAX {
            let wait_index = usize::try_from(entry.attempts_made - 1)
                .unwrap_or_else(|_| unreachable!("attempts are at most {ATTEMPTS_MAX}"));
            let due = now + RETRY_DELAYS_MS[wait_index];
            entry.state = State::RetryAt(due);
            self.retries.insert((due, sequence));
            return Ok(AttemptVerdict::RetryAt(due));
        }
        let webhook = self.finish(sequence);
        Ok(if delivered {
            AttemptVerdict::Delivered(webhook)
        } else {
            AttemptVerdict::Dropped(webhook)
        })
    }

    /// The earliest retry, for the engine's timer. Never-tried webhooks start at the
    /// [`Outbox::start_due`] that follows the push or result making room, so they need no timer.
    pub fn next_wake(&self) -> Option<Millis> {
        self.retries.first().map(|&(due, _)| due)
    }

    /// Nothing queued, in flight or waiting for a retry.
    pub fn is_idle(&self) -> bool {
        self.entries.is_empty()
    }

    /// Webhooks still here (queued, in flight or waiting for a retry).
    pub fn pending(&self) -> usize {
        self.entries.len()
    }

    /// Webhooks in flight or waiting for a retry: what [`IN_FLIGHT_MAX`] bounds.
    pub fn active(&self) -> usize {
        self.active
    }

    /// Empties the outbox when its session is deleted or expires, returning what was pending in
    /// production order. No error is recorded for them (CONTRACT.md section 8 "Sessions").
    pub fn drop_all(&mut self) -> Vec<Webhook> {
        self.sequence_of.clear();
        self.queued.clear();
        self.retries.clear();
        self.active = 0;
        self.unfinished_reports.clear();
        std::mem::take(&mut self.entries)
            .into_values()
            .map(|entry| entry.webhook)
            .collect()
    }

    /// Moves an active or queued webhook into flight and describes its next attempt.
    fn start(&mut self, sequence: u64) -> Attempt {
        let entry = self
            .entries
            .get_mut(&sequence)
            .unwrap_or_else(|| panic!("outbox starts webhook #{sequence}, which it does not hold"));
        assert!(
            entry.state != State::InFlight && entry.attempts_made < ATTEMPTS_MAX,
            "webhook {} started while in flight or after its last attempt",
            entry.webhook.id
        );
        entry.attempts_made += 1;
        entry.state = State::InFlight;
        Attempt {
            webhook_id: entry.webhook.id.clone(),
            attempt_number: entry.attempts_made,
            kind: entry.webhook.kind,
            endpoint: entry.webhook.endpoint.clone(),
            body: entry.webhook.body.clone(),
        }
    }

    /// Removes a webhook whose attempt just ended for good (delivered or dropped).
    fn finish(&mut self, sequence: u64) -> Webhook {
        let entry = self.entries.remove(&sequence).unwrap_or_else(|| {
            panic!("outbox finishes webhook #{sequence}, which it does not hold")
        });
        self.sequence_of.remove(&entry.webhook.id);
        self.active -= 1;
        if let (WebhookKind::Data | WebhookKind::Error, Some(transfer_id)) =
            (entry.webhook.kind, &entry.webhook.transfer_id)
        {
            let count = self
                .unfinished_reports
                .get_mut(transfer_id)
                .unwrap_or_else(|| panic!("transfer {transfer_id} has no unfinished reports"));
            *count -= 1;
            if *count == 0 {
                self.unfinished_reports.remove(transfer_id);
            }
        }
        entry.webhook
    }

    /// A `completed` webhook whose transfer still has `data` or `error` webhooks here.
    fn is_held(&self, sequence: u64) -> bool {
        let webhook = &self.entries[&sequence].webhook;
        match (&webhook.kind, &webhook.transfer_id) {
            (WebhookKind::Completed, Some(transfer_id)) => {
                self.unfinished_reports.contains_key(transfer_id)
            }
            _ => false,
        }
    }

    fn assert_limits(&self) {
        let limit = match self.mode {
            DeliveryMode::Serial => 1,
            DeliveryMode::Concurrent => IN_FLIGHT_MAX,
        };
        assert!(
            self.active <= limit,
            "{} webhooks active in {:?} mode, above {limit}",
            self.active,
            self.mode
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn webhook(id: &str, transfer: Option<&str>, kind: WebhookKind) -> Webhook {
        Webhook {
            id: id.to_owned(),
            transfer_id: transfer.map(str::to_owned),
            kind,
            endpoint: "https://receiver.test/hook".to_owned(),
            body: Bytes::from(format!("{{\"id\":\"{id}\"}}")),
        }
    }

    fn data(id: &str, transfer: &str) -> Webhook {
        webhook(id, Some(transfer), WebhookKind::Data)
    }

    fn ids(attempts: &[Attempt]) -> Vec<(&str, u32)> {
        attempts
            .iter()
            .map(|attempt| (attempt.webhook_id.as_str(), attempt.attempt_number))
            .collect()
    }

    /// One attempt as a receiver saw it: (sent at, webhook id, attempt number).
    type Sent = (Millis, String, u32);

    /// Drives an outbox to idle against a receiver that answers `latency_ms` after each send,
    /// successfully when `answer` says so. Returns every attempt with its send time.
    fn drive(
        outbox: &mut Outbox,
        latency_ms: Millis,
        mut answer: impl FnMut(Millis, &Attempt) -> bool,
    ) -> Vec<Sent> {
        let mut now = 0;
        let mut sent = Vec::new();
        let mut pending: BTreeMap<(Millis, u64), (String, bool)> = BTreeMap::new();
        let mut order = 0;
        for _ in 0..100_000 {
            for attempt in outbox.start_due(now) {
                let delivered = answer(now, &attempt);
                sent.push((now, attempt.webhook_id.clone(), attempt.attempt_number));
                pending.insert((now + latency_ms, order), (attempt.webhook_id, delivered));
                order += 1;
            }
            let next_result = pending.keys().next().map(|&(at, _)| at);
            now = match (next_result, outbox.next_wake()) {
                (None, None) => return sent,
                (Some(at), None) | (None, Some(at)) => at,
                (Some(a), Some(b)) => a.min(b),
            };
            while let Some(entry) = pending.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                let (id, delivered) = entry.remove();
                outbox.on_result(now, &id, delivered).expect("in flight");
            }
        }
        panic!("the outbox did not go idle within 100,000 steps");
    }

    #[test]
    fn serial_delivers_in_production_order_with_retries_in_between() {
        let mut outbox = Outbox::new(DeliveryMode::Serial);
        for id in ["a", "b", "c"] {
            outbox.push(data(id, "t"));
        }
        let sent = drive(&mut outbox, 100, |_, attempt| {
            attempt.webhook_id != "b" || attempt.attempt_number > 2
        });
        let order: Vec<(&str, u32)> = sent.iter().map(|(_, id, n)| (id.as_str(), *n)).collect();
        assert_eq!(order, [("a", 1), ("b", 1), ("b", 2), ("b", 3), ("c", 1)]);
        let times: Vec<Millis> = sent.iter().map(|(at, _, _)| *at).collect();
        assert_eq!(times, [0, 100, 5_200, 35_300, 35_400]);
        assert!(outbox.is_idle());
    }

    #[test]
    fn serial_holds_the_next_webhook_while_the_head_waits_for_a_retry() {
        let mut outbox = Outbox::new(DeliveryMode::Serial);
        outbox.push(data("a", "t"));
        outbox.push(data("b", "t"));
        assert_eq!(ids(&outbox.start_due(0)), [("a", 1)]);
        assert_eq!(outbox.start_due(0), []);
        assert_eq!(
            outbox.on_result(1_000, "a", false),
            Ok(AttemptVerdict::RetryAt(6_000))
        );
        assert_eq!(outbox.next_wake(), Some(6_000));
        assert_eq!(outbox.start_due(5_999), []);
        assert_eq!(ids(&outbox.start_due(6_000)), [("a", 2)]);
        assert!(matches!(
            outbox.on_result(6_050, "a", true),
            Ok(AttemptVerdict::Delivered(_))
        ));
        assert_eq!(ids(&outbox.start_due(6_050)), [("b", 1)]);
    }

    #[test]
    fn a_receiver_failing_every_attempt_sees_seven_attempts_at_the_ladder_times_then_the_next_webhook()
     {
        let mut outbox = Outbox::new(DeliveryMode::Serial);
        outbox.push(data("a", "t"));
        outbox.push(data("b", "t"));
        // Every attempt times out: the failure comes 10 s after sending.
        let sent = drive(&mut outbox, DELIVERY_TIMEOUT_MS, |_, attempt| {
            attempt.webhook_id == "b"
        });
        let a_times: Vec<Millis> = sent
            .iter()
            .filter(|(_, id, _)| id == "a")
            .map(|(at, _, _)| *at)
            .collect();
        let mut expected = vec![0];
        for delay in RETRY_DELAYS_MS {
            expected.push(expected.last().unwrap() + DELIVERY_TIMEOUT_MS + delay);
        }
        assert_eq!(a_times, expected);
        assert_eq!(
            expected,
            [0, 15_000, 55_000, 185_000, 795_000, 2_605_000, 6_215_000]
        );
        let last = sent.last().unwrap();
        assert_eq!(
            (last.0, last.1.as_str(), last.2),
            (6_225_000, "b", 1),
            "b goes when a's seventh attempt fails"
        );
    }

    #[test]
    fn the_seventh_failure_drops_the_webhook_and_hands_it_back() {
        let mut outbox = Outbox::new(DeliveryMode::Serial);
        outbox.push(data("a", "t"));
        let mut now = 0;
        for number in 1..=ATTEMPTS_MAX {
            assert_eq!(ids(&outbox.start_due(now)), [("a", number)]);
            match outbox.on_result(now, "a", false) {
                Ok(AttemptVerdict::RetryAt(due)) => now = due,
                Ok(AttemptVerdict::Dropped(webhook)) => {
                    assert_eq!(number, ATTEMPTS_MAX);
                    assert_eq!(webhook, data("a", "t"));
                }
                other => panic!("attempt {number}: {other:?}"),
            }
        }
        assert!(outbox.is_idle());
        assert_eq!(outbox.next_wake(), None);
    }

    #[test]
    fn concurrent_mode_keeps_eight_active_counting_those_waiting_for_a_retry() {
        let mut outbox = Outbox::new(DeliveryMode::Concurrent);
        for index in 0..20 {
            outbox.push(data(&format!("w{index:02}"), "t"));
        }
        let first = outbox.start_due(0);
        assert_eq!(first.len(), IN_FLIGHT_MAX);
        for attempt in &first {
            outbox.on_result(10, &attempt.webhook_id, false).unwrap();
        }
        assert_eq!(outbox.active(), 8);
        assert_eq!(outbox.start_due(10), [], "retry-waiters still count");
        let retries = outbox.start_due(5_010);
        assert_eq!(retries.len(), 8);
        assert!(retries.iter().all(|attempt| attempt.attempt_number == 2));
        outbox
            .on_result(5_020, &retries[3].webhook_id, true)
            .unwrap();
        assert_eq!(ids(&outbox.start_due(5_020)), [("w08", 1)]);
    }

    #[test]
    fn concurrent_completed_waits_for_its_transfers_data_and_error_webhooks() {
        let mut outbox = Outbox::new(DeliveryMode::Concurrent);
        outbox.push(data("d1", "t1"));
        outbox.push(webhook("e1", Some("t1"), WebhookKind::Error));
        outbox.push(webhook("c1", Some("t1"), WebhookKind::Completed));
        outbox.push(webhook("c2", Some("t2"), WebhookKind::Completed));
        let started = outbox.start_due(0);
        assert_eq!(ids(&started), [("d1", 1), ("e1", 1), ("c2", 1)]);
        outbox.on_result(1, "d1", true).unwrap();
        assert_eq!(outbox.start_due(1), [], "e1 is still unfinished");
        // e1 fails all seven attempts; c1 starts only once it is dropped.
        let mut now = 1;
        outbox.on_result(now, "e1", false).unwrap();
        while let Some(due) = outbox.next_wake() {
            now = due;
            let attempts = outbox.start_due(now);
            assert_eq!(attempts.len(), 1);
            assert_eq!(attempts[0].webhook_id, "e1");
            if let Ok(AttemptVerdict::Dropped(_)) = outbox.on_result(now, "e1", false) {
                break;
            }
        }
        assert_eq!(ids(&outbox.start_due(now)), [("c1", 1)]);
    }

    #[test]
    fn results_for_webhooks_not_in_flight_are_refused() {
        let mut outbox = Outbox::new(DeliveryMode::Serial);
        outbox.push(data("a", "t"));
        outbox.push(data("b", "t"));
        let not_in_flight = |id: &str| {
            Err(OutboxError::NotInFlight {
                webhook_id: id.to_owned(),
            })
        };
        assert_eq!(outbox.on_result(0, "a", true), not_in_flight("a"));
        outbox.start_due(0);
        assert_eq!(outbox.on_result(0, "b", true), not_in_flight("b"));
        assert_eq!(outbox.on_result(0, "zzz", true), not_in_flight("zzz"));
        outbox.on_result(0, "a", false).unwrap();
        assert_eq!(
            outbox.on_result(1, "a", true),
            not_in_flight("a"),
            "waiting for a retry is not in flight"
        );
    }

    #[test]
    fn drop_all_empties_the_outbox_and_later_results_are_refused() {
        let mut outbox = Outbox::new(DeliveryMode::Concurrent);
        outbox.push(data("a", "t"));
        outbox.push(data("b", "t"));
        outbox.start_due(0);
        outbox.on_result(0, "b", false).unwrap();
        let dropped: Vec<String> = outbox.drop_all().into_iter().map(|w| w.id).collect();
        assert_eq!(dropped, ["a", "b"]);
        assert!(outbox.is_idle());
        assert_eq!(outbox.next_wake(), None);
        assert!(outbox.on_result(1, "a", true).is_err());
        assert_eq!(outbox.start_due(10_000), []);
    }

    #[test]
    #[should_panic(expected = "pushed twice")]
    fn a_repeated_webhook_id_is_an_engine_bug() {
        let mut outbox = Outbox::new(DeliveryMode::Serial);
        outbox.push(data("a", "t"));
        outbox.push(data("a", "t"));
    }

    #[test]
    fn success_is_a_2xx_within_ten_seconds_and_a_redirect_is_a_failure() {
        assert!(is_delivery_success(Some(200), 0));
        assert!(is_delivery_success(Some(204), DELIVERY_TIMEOUT_MS));
        assert!(!is_delivery_success(Some(200), DELIVERY_TIMEOUT_MS + 1));
        assert!(!is_delivery_success(Some(301), 0));
        assert!(!is_delivery_success(Some(199), 0));
        assert!(!is_delivery_success(Some(500), 0));
        assert!(!is_delivery_success(None, 0));
    }

    #[test]
    fn the_session_flag_picks_the_mode() {
        assert_eq!(
            DeliveryMode::from_webhook_concurrency(false),
            DeliveryMode::Serial
        );
        assert_eq!(
            DeliveryMode::from_webhook_concurrency(true),
            DeliveryMode::Concurrent
        );
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        #[derive(Debug, Clone)]
        enum Op {
            /// Produce a webhook of this kind for the transfer in slot 0..3 (`Configuration` has none).
            Push(WebhookKind, u8),
            /// The attempt in flight at this index (modulo) ends, delivered or not.
            Answer(usize, bool),
            /// Time passes by this much.
            Wait(Millis),
            /// Time jumps to the next retry.
            WakeUp,
        }

        fn op() -> impl Strategy<Value = Op> {
            let kind = prop_oneof![
                Just(WebhookKind::Configuration),
                Just(WebhookKind::Data),
                Just(WebhookKind::Error),
                Just(WebhookKind::Completed),
            ];
            prop_oneof![
                3 => (kind, 0u8..3).prop_map(|(kind, transfer)| Op::Push(kind, transfer)),
                5 => (any::<usize>(), prop::bool::weighted(0.6))
                    .prop_map(|(index, ok)| Op::Answer(index, ok)),
                1 => prop_oneof![Just(0), Just(4_999), Just(5_000), 1..4_000_000u64]
                    .prop_map(Op::Wait),
                2 => Just(Op::WakeUp),
            ]
        }

        /// What the test itself saw of one webhook.
        #[derive(Debug, Default)]
        struct Seen {
            pushed: Option<Webhook>,
            attempts: u32,
            failed_at: Option<Millis>,
            finished: bool,
        }

        /// Runs `ops`, then answers everything successfully until idle, checking every rule
        /// of the module docs after each step.
        fn check(mode: DeliveryMode, ops: &[Op]) -> Result<(), TestCaseError> {
            let mut outbox = Outbox::new(mode);
            let mut now: Millis = 0;
            let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
            let mut produced: Vec<String> = Vec::new();
            let mut first_started: Vec<String> = Vec::new();
            let mut in_flight: Vec<String> = Vec::new();
            let mut generations = [0u32; 3];
            let limit = match mode {
                DeliveryMode::Serial => 1,
                DeliveryMode::Concurrent => IN_FLIGHT_MAX,
            };
            let mut step = |op: &Op,
                            outbox: &mut Outbox,
                            now: &mut Millis,
                            in_flight: &mut Vec<String>|
             -> Result<(), TestCaseError> {
                match *op {
                    Op::Push(kind, transfer) => {
                        let id = format!("w{}", produced.len());
                        // As the engine produces them: a transfer's completed comes last,
                        // so the slot moves on to a fresh transfer after it.
                        let slot = usize::from(transfer);
                        let transfer = (kind != WebhookKind::Configuration)
                            .then(|| format!("t{slot}-{}", generations[slot]));
                        if kind == WebhookKind::Completed {
                            generations[slot] += 1;
                        }
                        let pushed = webhook(&id, transfer.as_deref(), kind);
                        outbox.push(pushed.clone());
                        seen.entry(id.clone()).or_default().pushed = Some(pushed);
                        produced.push(id);
                    }
                    Op::Answer(index, delivered) if !in_flight.is_empty() => {
                        let id = in_flight.remove(index % in_flight.len());
                        let verdict = outbox.on_result(*now, &id, delivered);
                        let record = seen.get_mut(&id).expect("seen");
                        match verdict {
                            Ok(AttemptVerdict::Delivered(webhook)) => {
                                prop_assert!(delivered);
                                prop_assert_eq!(Some(webhook), record.pushed.clone());
                                record.finished = true;
                            }
                            Ok(AttemptVerdict::RetryAt(due)) => {
                                prop_assert!(!delivered && record.attempts < ATTEMPTS_MAX);
                                let wait = RETRY_DELAYS_MS[record.attempts as usize - 1];
                                prop_assert_eq!(due, *now + wait);
                                record.failed_at = Some(*now);
                            }
                            Ok(AttemptVerdict::Dropped(webhook)) => {
                                prop_assert!(!delivered && record.attempts == ATTEMPTS_MAX);
                                prop_assert_eq!(Some(webhook), record.pushed.clone());
                                record.finished = true;
                            }
                            Err(error) => return Err(TestCaseError::fail(error.to_string())),
                        }
                    }
                    Op::Answer(..) => {}
                    Op::Wait(ms) => *now += ms,
                    Op::WakeUp => *now = outbox.next_wake().unwrap_or(*now).max(*now),
                }
                for attempt in outbox.start_due(*now) {
                    let record = &seen[&attempt.webhook_id];
                    let pushed = record.pushed.as_ref().expect("pushed");
                    prop_assert!(!record.finished, "an attempt after the webhook finished");
                    prop_assert_eq!(attempt.attempt_number, record.attempts + 1);
                    prop_assert_eq!(&attempt.body, &pushed.body);
                    prop_assert_eq!(&attempt.endpoint, &pushed.endpoint);
                    prop_assert_eq!(attempt.kind, pushed.kind);
                    if let Some(failed_at) = record.failed_at {
                        let wait = RETRY_DELAYS_MS[record.attempts as usize - 1];
                        prop_assert!(*now >= failed_at + wait, "a retry came early");
                    }
                    if attempt.kind == WebhookKind::Completed {
                        let unfinished_report = seen.values().find_map(|other| {
                            let other = other.pushed.as_ref().filter(|_| !other.finished)?;
                            let is_report =
                                matches!(other.kind, WebhookKind::Data | WebhookKind::Error);
                            (is_report && other.transfer_id == pushed.transfer_id)
                                .then(|| other.id.clone())
                        });
                        prop_assert_eq!(unfinished_report, None, "completed started too early");
                    }
                    if attempt.attempt_number == 1 {
                        first_started.push(attempt.webhook_id.clone());
                    }
                    seen.get_mut(&attempt.webhook_id).expect("pushed").attempts += 1;
                    in_flight.push(attempt.webhook_id);
                }
                let active = seen
                    .values()
                    .filter(|record| record.attempts > 0 && !record.finished)
                    .count();
                prop_assert_eq!(active, outbox.active());
                prop_assert!(active <= limit, "{} active, limit {}", active, limit);
                Ok(())
            };
            for op in ops {
                step(op, &mut outbox, &mut now, &mut in_flight)?;
            }
            // Drain: every attempt now succeeds, and time moves to each retry.
            for _ in 0..10_000 {
                if outbox.is_idle() {
                    break;
                }
                let op = if in_flight.is_empty() {
                    Op::WakeUp
                } else {
                    Op::Answer(0, true)
                };
                step(&op, &mut outbox, &mut now, &mut in_flight)?;
            }
            prop_assert!(outbox.is_idle(), "the outbox never drained");
            prop_assert!(seen.values().all(|record| record.finished));
            if mode == DeliveryMode::Serial {
                prop_assert_eq!(first_started, produced, "serial keeps production order");
            }
            Ok(())
        }

        proptest! {
            #[test]
            fn serial_outbox_keeps_order_and_every_rule(ops in prop::collection::vec(op(), 0..200)) {
                check(DeliveryMode::Serial, &ops)?;
            }

            #[test]
            fn concurrent_outbox_keeps_every_rule(ops in prop::collection::vec(op(), 0..200)) {
                check(DeliveryMode::Concurrent, &ops)?;
            }
        }
    }
}
