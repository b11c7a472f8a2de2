//! In-process webhook receivers for the simulated world (issue 5 "In the simulated world"):
//! endpoints that answer on a schedule (fast, slow, failing, down, recovering) and keep a log
//! of everything that arrived, for scenario expectations and invariant checks.
//!
//! The world hosts one [`Receiver`] per receiver name and, for each [`super::outbox::Attempt`],
//! calls [`Receiver::receive`] with the send time, the endpoint, the signed headers and the
//! body. The [`ReceiverAnswer`] says what the sender sees and when:
//!
//! - `status: None`: the connection was refused, a failure at the send instant;
//! - `status: Some(s)` after `delay_ms`: the sender sees `s` at `now + delay_ms`, unless
//!   `delay_ms` exceeds [`DELIVERY_TIMEOUT_MS`], in which case it gives up (a failure) at
//!   `now + DELIVERY_TIMEOUT_MS`. [`ReceiverAnswer::ended_after_ms`] and
//!   [`ReceiverAnswer::is_delivered`] say both, using the outbox's own definition of success.
//!
//! Rule times are on the same clock as `now` (the world's milliseconds since the Unix epoch);
//! the world adds the scenario's start to the scenario file's relative times.
//!
//! **Boundary:** a receiver answers and records; it never decides retries or order (that is the
//! outbox) and never reads a clock.

use std::ops::Range;

use bytes::Bytes;
use http::HeaderMap;
use serde_json::Value;

use super::outbox::{DELIVERY_TIMEOUT_MS, is_delivery_success};
use super::signature::{self, VerifyError};
use crate::time::{Millis, SECOND_MS};

/// How a receiver behaves during one window of time: `from` inclusive, `until` exclusive,
/// `None` meaning unbounded on that side (as in scenario files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiverRule {
    /// First instant covered; `None` is the beginning of time.
    pub from: Option<Millis>,
    /// First instant no longer covered; `None` is forever.
    pub until: Option<Millis>,
    /// The answer to deliveries arriving in the window.
    pub respond: Respond,
}

impl ReceiverRule {
    /// A rule for all time, to answer one way for a whole run.
    pub fn always(respond: Respond) -> Self {
        Self {
            from: None,
            until: None,
            respond,
        }
    }

    /// A rule for `[from, until)`, the usual shape of an outage or a slow spell.
    pub fn between(from: Millis, until: Millis, respond: Respond) -> Self {
        Self {
            from: Some(from),
            until: Some(until),
            respond,
        }
    }

    fn covers(&self, now: Millis) -> bool {
        self.from.is_none_or(|from| from <= now) && self.until.is_none_or(|until| now < until)
    }
}

/// What a receiver does with a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Respond {
    /// Answer with `status` after `delay_ms` (past 10 s the sender has already given up).
    Answer {
        /// Any status; only 2xx counts as delivered.
        status: u16,
        /// How long the receiver takes to answer.
        delay_ms: Millis,
    },
    /// Refuse the connection.
    Down,
}

impl Respond {
    /// `status` at once.
    pub fn status(status: u16) -> Self {
        Self::Answer {
            status,
            delay_ms: 0,
        }
    }
}

/// What the sender of one delivery experiences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiverAnswer {
    /// The answered status; `None` when the connection was refused.
    pub status: Option<u16>,
    /// How long after sending the status comes (0 for a refused connection).
    pub delay_ms: Millis,
}

impl ReceiverAnswer {
    /// Whether the sender counts this as delivered (2xx within 10 s).
    pub fn is_delivered(&self) -> bool {
        is_delivery_success(self.status, self.delay_ms)
    }

    /// How long after sending the attempt ends for the sender: at the answer, or at the
    /// timeout when the answer is later than [`DELIVERY_TIMEOUT_MS`].
    pub fn ended_after_ms(&self) -> Millis {
        self.delay_ms.min(DELIVERY_TIMEOUT_MS)
    }
}

/// One delivery as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Arrival {
    /// When it arrived (the sender's send time; the world has no network delay).
    pub at: Millis,
    /// The URL it was sent to.
    pub endpoint: String,
    /// Everything the sender sent, signature headers included.
    pub headers: HeaderMap,
    /// The exact bytes received.
    pub body: Bytes,
    /// What the receiver answered, hence whether the sender counted it delivered.
    pub answer: ReceiverAnswer,
}

impl Arrival {
    /// The `webhook-id` header, the key that groups the attempts of one webhook.
    pub fn webhook_id(&self) -> Option<&str> {
        self.headers
            .get(signature::WEBHOOK_ID)
            .and_then(|value| value.to_str().ok())
    }

    /// The body as JSON.
    pub fn json(&self) -> Result<Value, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    /// Whether the sender counted this arrival as delivered.
    pub fn is_delivered(&self) -> bool {
        self.answer.is_delivered()
    }

    /// The half-open interval the sender kept this delivery open; empty when refused or
    /// answered at once.
    fn open_interval(&self) -> Range<Millis> {
        match self.answer.status {
            Some(_) => self.at..self.at + self.answer.ended_after_ms(),
            None => self.at..self.at,
        }
    }
}

/// An arrival that did not verify, for [`Receiver::verify_all`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyFailure {
    /// Its position in [`Receiver::log`].
    pub index: usize,
    /// Its `webhook-id`, when it had a readable one.
    pub webhook_id: Option<String>,
    /// Why it did not verify.
    pub error: VerifyError,
}

/// One simulated webhook endpoint: rules over time, and the log of what arrived.
#[derive(Debug, Clone, Default)]
pub struct Receiver {
    rules: Vec<ReceiverRule>,
    log: Vec<Arrival>,
}

impl Receiver {
    /// A receiver whose answer at any instant is that of the first rule covering it, and
    /// `200` at once where none does (so a scenario lists only the unusual spells).
    pub fn new(rules: Vec<ReceiverRule>) -> Self {
        Self {
            rules,
            log: Vec::new(),
        }
    }

    /// A receiver that refuses every connection.
    pub fn down() -> Self {
        Self::new(vec![ReceiverRule::always(Respond::Down)])
    }

    /// What a delivery arriving at `now` would get, without recording it.
    pub fn answer_at(&self, now: Millis) -> ReceiverAnswer {
        let respond = self
            .rules
            .iter()
            .find(|rule| rule.covers(now))
            .map_or(Respond::status(200), |rule| rule.respond);
        match respond {
            Respond::Answer { status, delay_ms } => ReceiverAnswer {
                status: Some(status),
                delay_ms,
            },
            Respond::Down => ReceiverAnswer {
                status: None,
                delay_ms: 0,
            },
        }
    }

    /// Takes one delivery at `now`, logs it, and says how it is answered.
    pub fn receive(
        &mut self,
        now: Millis,
        endpoint: &str,
        headers: HeaderMap,
        body: Bytes,
    ) -> ReceiverAnswer {
        let answer = self.answer_at(now);
        self.log.push(Arrival {
            at: now,
            endpoint: endpoint.to_owned(),
            headers,
            body,
            answer,
        });
        answer
    }

    /// Every arrival, refused and failed ones included, in arrival order.
    pub fn log(&self) -> &[Arrival] {
        &self.log
    }

    /// The attempts of one webhook, in arrival order.
    pub fn arrivals_of(&self, webhook_id: &str) -> Vec<&Arrival> {
        self.log
            .iter()
            .filter(|arrival| arrival.webhook_id() == Some(webhook_id))
            .collect()
    }

    /// The arrivals the sender counted as delivered, in arrival order: what a client of the
    /// service actually received.
    pub fn delivered(&self) -> Vec<&Arrival> {
        self.log
            .iter()
            .filter(|arrival| arrival.is_delivered())
            .collect()
    }

    /// The bodies of [`Receiver::delivered`] as JSON, for assertions on payloads and order.
    pub fn delivered_json(&self) -> Result<Vec<Value>, serde_json::Error> {
        self.delivered().into_iter().map(Arrival::json).collect()
    }

    /// The most deliveries the sender held open at once at any instant of `window`, from each
    /// arrival's time and answer delay (capped at the timeout). A refused connection or an
    /// answer at once holds nothing open. The check behind "8 in flight, never 9".
    pub fn max_in_flight(&self, window: Range<Millis>) -> usize {
        // +1 at an interval's start, -1 at its end; ends sort first at one instant, since an
        // interval ending there no longer holds the connection.
        let mut edges: Vec<(Millis, i8)> = Vec::new();
        for arrival in &self.log {
            let open = arrival.open_interval();
            let start = open.start.max(window.start);
            let end = open.end.min(window.end);
            if start < end {
                edges.push((start, 1));
                edges.push((end, -1));
            }
        }
        edges.sort_unstable();
        let (mut open, mut most) = (0usize, 0usize);
        for (_, change) in edges {
            if change > 0 {
                open += 1;
                most = most.max(open);
            } else {
                open -= 1;
            }
        }
        most
    }

    /// Verifies every arrival with `secret` at its own arrival time (whole seconds), returning
    /// those that fail. Empty means every webhook received was authentic and fresh.
    pub fn verify_all(&self, secret: &str) -> Vec<VerifyFailure> {
        self.log
            .iter()
            .enumerate()
            .filter_map(|(index, arrival)| {
                let now_seconds = arrival.at / SECOND_MS;
                signature::verify(secret, &arrival.headers, &arrival.body, now_seconds)
                    .err()
                    .map(|error| VerifyFailure {
                        index,
                        webhook_id: arrival.webhook_id().map(str::to_owned),
                        error,
                    })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::time::MINUTE_MS;

    const SECRET: &str = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    fn signed(id: &str, at: Millis, body: &'static [u8]) -> (HeaderMap, Bytes) {
        let headers = signature::headers(SECRET, id, at / SECOND_MS, body).expect("valid secret");
        (headers, Bytes::from_static(body))
    }

    fn deliver(receiver: &mut Receiver, id: &str, at: Millis) -> ReceiverAnswer {
        let (headers, body) = signed(id, at, b"{\"kind\":\"data\"}");
        receiver.receive(at, "https://receiver.test/hook", headers, body)
    }

    #[test]
    fn a_receiver_without_rules_answers_200_at_once() {
        let mut receiver = Receiver::default();
        let answer = deliver(&mut receiver, "a", 5);
        assert_eq!(
            answer,
            ReceiverAnswer {
                status: Some(200),
                delay_ms: 0
            }
        );
        assert!(answer.is_delivered());
        assert_eq!(receiver.log().len(), 1);
        assert_eq!(receiver.log()[0].at, 5);
        assert_eq!(receiver.log()[0].endpoint, "https://receiver.test/hook");
    }

    #[test]
    fn the_first_rule_covering_the_instant_answers_from_inclusive_until_exclusive() {
        let receiver = Receiver::new(vec![
            ReceiverRule::between(1_000, 2_000, Respond::Down),
            ReceiverRule::between(1_500, 3_000, Respond::status(500)),
            ReceiverRule {
                from: Some(3_000),
                until: None,
                respond: Respond::Answer {
                    status: 204,
                    delay_ms: 700,
                },
            },
        ]);
        let status_at = |now| receiver.answer_at(now).status;
        assert_eq!(status_at(999), Some(200));
        assert_eq!(status_at(1_000), None);
        assert_eq!(status_at(1_999), None, "the earlier rule wins the overlap");
        assert_eq!(status_at(2_000), Some(500));
        assert_eq!(status_at(2_999), Some(500));
        assert_eq!(
            receiver.answer_at(3_000),
            ReceiverAnswer {
                status: Some(204),
                delay_ms: 700
            }
        );
        assert_eq!(status_at(u64::MAX), Some(204));
    }

    #[test]
    fn refused_slow_and_redirecting_answers_are_not_delivered() {
        let mut receiver = Receiver::new(vec![
            ReceiverRule::between(0, 10, Respond::Down),
            ReceiverRule::between(10, 20, Respond::status(302)),
            ReceiverRule::between(
                20,
                30,
                Respond::Answer {
                    status: 200,
                    delay_ms: 10_001,
                },
            ),
        ]);
        for (id, at) in [("down", 0), ("redirect", 10), ("slow", 20), ("ok", 30)] {
            deliver(&mut receiver, id, at);
        }
        let delivered: Vec<_> = receiver
            .delivered()
            .iter()
            .map(|arrival| arrival.webhook_id())
            .collect();
        assert_eq!(delivered, [Some("ok")]);
        assert_eq!(
            receiver.log()[2].answer.ended_after_ms(),
            DELIVERY_TIMEOUT_MS
        );
        assert_eq!(receiver.log().len(), 4, "failures are logged too");
    }

    #[test]
    fn arrivals_of_a_webhook_gather_its_attempts_in_order() {
        let mut receiver = Receiver::new(vec![ReceiverRule::between(0, 100, Respond::Down)]);
        deliver(&mut receiver, "a", 0);
        deliver(&mut receiver, "b", 1);
        deliver(&mut receiver, "a", 50);
        deliver(&mut receiver, "a", 200);
        let attempts: Vec<_> = receiver
            .arrivals_of("a")
            .iter()
            .map(|arrival| (arrival.at, arrival.answer.status))
            .collect();
        assert_eq!(attempts, [(0, None), (50, None), (200, Some(200))]);
        assert!(receiver.arrivals_of("zzz").is_empty());
    }

    #[test]
    fn delivered_bodies_parse_as_json_in_arrival_order() {
        let mut receiver = Receiver::new(vec![ReceiverRule::between(0, 1, Respond::Down)]);
        for (at, body) in [
            (0, &b"{\"n\":0}"[..]),
            (1, &b"{\"n\":1}"[..]),
            (2, &b"{\"n\":2}"[..]),
        ] {
            receiver.receive(at, "e", HeaderMap::new(), Bytes::from_static(body));
        }
        assert_eq!(
            receiver.delivered_json().expect("JSON bodies"),
            [json!({"n": 1}), json!({"n": 2})]
        );
        receiver.receive(3, "e", HeaderMap::new(), Bytes::from_static(b"not json"));
        assert!(receiver.delivered_json().is_err());
    }

    #[test]
    fn max_in_flight_counts_overlapping_open_deliveries_in_the_window() {
        let mut receiver = Receiver::new(vec![ReceiverRule::always(Respond::Answer {
            status: 200,
            delay_ms: 8_000,
        })]);
        // Nine deliveries one second apart, each open for 8 s: at most 8 overlap.
        for index in 0..9 {
            deliver(&mut receiver, &format!("w{index}"), index * 1_000);
        }
        assert_eq!(receiver.max_in_flight(0..Millis::MAX), 8);
        assert_eq!(receiver.max_in_flight(0..1_000), 1);
        assert_eq!(receiver.max_in_flight(8_000..9_000), 8);
        assert_eq!(receiver.max_in_flight(16_000..20_000), 0);
    }

    #[test]
    fn back_to_back_deliveries_and_refusals_do_not_overlap() {
        let mut receiver = Receiver::new(vec![
            ReceiverRule::between(0, 10_000, Respond::Down),
            ReceiverRule::always(Respond::Answer {
                status: 500,
                delay_ms: 60_000,
            }),
        ]);
        for at in [0, 0, 0, 10_000, 20_000] {
            deliver(&mut receiver, "a", at);
        }
        assert_eq!(
            receiver.max_in_flight(0..Millis::MAX),
            1,
            "the timeout ends the first before the second starts"
        );
    }

    #[test]
    fn verify_all_reports_tampered_and_stale_arrivals_only() {
        let mut receiver = Receiver::default();
        let at = 1_767_225_600_000;
        deliver(&mut receiver, "good", at);
        let (headers, _) = signed("tampered", at, b"{\"kind\":\"data\"}");
        receiver.receive(at, "e", headers, Bytes::from_static(b"{\"kind\":\"date\"}"));
        let (headers, body) = signed("stale", at, b"{}");
        receiver.receive(at + 6 * MINUTE_MS, "e", headers, body);
        let (headers, body) = signed("late-but-fresh", at, b"{}");
        receiver.receive(at + 4 * MINUTE_MS, "e", headers, body);
        let failures: Vec<_> = receiver
            .verify_all(SECRET)
            .into_iter()
            .map(|failure| (failure.index, failure.webhook_id.unwrap(), failure.error))
            .collect();
        assert_eq!(
            failures,
            [
                (1, "tampered".to_owned(), VerifyError::NoMatchingSignature),
                (
                    2,
                    "stale".to_owned(),
                    VerifyError::StaleTimestamp {
                        timestamp_seconds: at / SECOND_MS,
                        now_seconds: at / SECOND_MS + 360
                    }
                ),
            ]
        );
    }

    #[test]
    fn a_down_receiver_refuses_everything() {
        let mut receiver = Receiver::down();
        let answer = deliver(&mut receiver, "a", 0);
        assert_eq!(answer.status, None);
        assert!(!answer.is_delivered());
        assert!(receiver.delivered().is_empty());
    }
}
