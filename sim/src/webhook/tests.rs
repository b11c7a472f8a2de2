//! The three parts together, driven the way the engine and the world will drive them: the
//! outbox decides attempts, each is signed at its send time, a receiver answers on its schedule,
//! and the result goes back to the outbox at the answer or the timeout. These are issue 5's
//! acceptance criteria at the scale of the webhook module.

use std::collections::BTreeMap;

use bytes::Bytes;
use http::HeaderValue;
use http::header::CONTENT_TYPE;

use super::outbox::{AttemptVerdict, DeliveryMode, Outbox, Webhook, WebhookKind};
use super::receiver::{Receiver, ReceiverRule, Respond};
use super::signature;
use crate::time::{HOUR_MS, MINUTE_MS, Millis, SECOND_MS};

const SECRET: &str = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const ENDPOINT: &str = "https://receiver.test/hooks";
/// The world's default epoch: signatures carry realistic timestamps.
const START: Millis = 1_767_225_600_000;

/// A session's outbox wired to one receiver, on a virtual clock.
struct Harness {
    now: Millis,
    outbox: Outbox,
    receiver: Receiver,
    /// Attempt results not yet reported, by the instant they end.
    ending: BTreeMap<(Millis, u64), (String, bool)>,
    sequence: u64,
    dropped: Vec<Webhook>,
}

impl Harness {
    fn new(mode: DeliveryMode, rules: Vec<ReceiverRule>) -> Self {
        Self {
            now: START,
            outbox: Outbox::new(mode),
            receiver: Receiver::new(rules),
            ending: BTreeMap::new(),
            sequence: 0,
            dropped: Vec::new(),
        }
    }

    /// Produces `count` data webhooks and then the completed webhook of transfer `t1`.
    fn push_transfer(&mut self, count: usize) -> Vec<String> {
        let mut ids = Vec::new();
        for index in 0..=count {
            let (kind, body) = if index < count {
                (WebhookKind::Data, format!("{{\"page\":{index}}}"))
            } else {
                (WebhookKind::Completed, "{\"completed\":true}".to_owned())
            };
            let id = format!("{:024x}", index + 1);
            self.outbox.push(Webhook {
                id: id.clone(),
                transfer_id: Some("t1".to_owned()),
                kind,
                endpoint: ENDPOINT.to_owned(),
                body: Bytes::from(body),
            });
            ids.push(id);
        }
        ids
    }

    /// Runs until the outbox is idle, within a bound of simulated time.
    fn run(&mut self) {
        let deadline = self.now + 24 * HOUR_MS;
        while self.now <= deadline {
            for attempt in self.outbox.start_due(self.now) {
                let mut headers = signature::headers(
                    SECRET,
                    &attempt.webhook_id,
                    self.now / SECOND_MS,
                    &attempt.body,
                )
                .expect("valid secret");
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                let answer =
                    self.receiver
                        .receive(self.now, &attempt.endpoint, headers, attempt.body);
                let ends = self.now + answer.ended_after_ms();
                self.ending.insert(
                    (ends, self.sequence),
                    (attempt.webhook_id, answer.is_delivered()),
                );
                self.sequence += 1;
            }
            let next_end = self.ending.keys().next().map(|&(at, _)| at);
            self.now = match (next_end, self.outbox.next_wake()) {
                (None, None) => return,
                (Some(at), None) | (None, Some(at)) => at,
                (Some(end), Some(wake)) => end.min(wake),
            };
            while let Some(entry) = self.ending.first_entry() {
                if entry.key().0 > self.now {
                    break;
                }
                let (id, delivered) = entry.remove();
                match self.outbox.on_result(self.now, &id, delivered) {
                    Ok(AttemptVerdict::Dropped(webhook)) => self.dropped.push(webhook),
                    Ok(_) => {}
                    Err(error) => panic!("{error}"),
                }
            }
        }
        panic!("the outbox was still busy after a simulated day");
    }

    fn delivered_ids(&self) -> Vec<String> {
        self.receiver
            .delivered()
            .iter()
            .map(|arrival| arrival.webhook_id().expect("signed").to_owned())
            .collect()
    }
}

#[test]
fn a_receiver_down_for_twenty_minutes_gets_every_webhook_after_it_recovers_in_order() {
    let mut harness = Harness::new(
        DeliveryMode::Serial,
        vec![ReceiverRule::between(
            START,
            START + 20 * MINUTE_MS,
            Respond::Down,
        )],
    );
    let produced = harness.push_transfer(5);
    harness.run();
    assert_eq!(harness.delivered_ids(), produced);
    assert!(harness.dropped.is_empty());
    let first_delivery = harness.receiver.delivered()[0].at;
    assert_eq!(
        first_delivery - START,
        2_555 * SECOND_MS,
        "the 6th attempt, 5 s + 30 s + 2 min + 10 min + 30 min after the first"
    );
    for id in &produced {
        let attempts = harness.receiver.arrivals_of(id);
        assert!(
            attempts
                .iter()
                .all(|arrival| arrival.body == attempts[0].body)
        );
    }
    assert_eq!(harness.receiver.verify_all(SECRET), []);
}

#[test]
fn a_three_hour_outage_in_serial_mode_loses_exactly_the_webhook_whose_seven_attempts_it_covers() {
    let mut harness = Harness::new(
        DeliveryMode::Serial,
        vec![ReceiverRule::between(
            START,
            START + 3 * HOUR_MS,
            Respond::Down,
        )],
    );
    let produced = harness.push_transfer(3);
    harness.run();
    let dropped: Vec<&str> = harness.dropped.iter().map(|w| w.id.as_str()).collect();
    assert_eq!(dropped, [produced[0].as_str()]);
    assert_eq!(harness.receiver.arrivals_of(&produced[0]).len(), 7);
    assert_eq!(harness.delivered_ids(), produced[1..]);
    assert_eq!(harness.receiver.verify_all(SECRET), []);
}

#[test]
fn data_webhooks_then_completed_in_order_when_the_third_fails_twice() {
    // Each answer takes 100 ms, so the 3rd data webhook's first attempt goes at +200 ms and its
    // second at +5.3 s; both fall in the failing spell, the third attempt does not.
    let mut harness = Harness::new(
        DeliveryMode::Serial,
        vec![
            ReceiverRule::between(
                START + 200,
                START + 5_400,
                Respond::Answer {
                    status: 500,
                    delay_ms: 100,
                },
            ),
            ReceiverRule::always(Respond::Answer {
                status: 200,
                delay_ms: 100,
            }),
        ],
    );
    let produced = harness.push_transfer(10);
    harness.run();
    assert_eq!(harness.delivered_ids(), produced);
    assert_eq!(harness.receiver.arrivals_of(&produced[2]).len(), 3);
    let kinds: Vec<bool> = harness
        .receiver
        .delivered_json()
        .expect("JSON bodies")
        .iter()
        .map(|body| body.get("completed").is_some())
        .collect();
    assert_eq!(kinds, [[false; 10].as_slice(), &[true]].concat());
}

#[test]
fn concurrent_mode_against_a_slow_receiver_holds_eight_deliveries_open_never_nine() {
    let mut harness = Harness::new(
        DeliveryMode::Concurrent,
        vec![ReceiverRule::always(Respond::Answer {
            status: 200,
            delay_ms: 9 * SECOND_MS,
        })],
    );
    let produced = harness.push_transfer(30);
    harness.run();
    assert_eq!(harness.receiver.max_in_flight(0..Millis::MAX), 8);
    let delivered = harness.delivered_ids();
    assert_eq!(delivered.len(), produced.len());
    assert_eq!(
        delivered.last(),
        produced.last(),
        "completed is delivered last"
    );
    assert_eq!(harness.receiver.verify_all(SECRET), []);
}

#[test]
fn concurrent_mode_with_timeouts_and_retries_still_holds_at_most_eight_open() {
    // Answers come after 20 s for the first 5 minutes: every attempt there times out at 10 s.
    let mut harness = Harness::new(
        DeliveryMode::Concurrent,
        vec![ReceiverRule::between(
            START,
            START + 5 * MINUTE_MS,
            Respond::Answer {
                status: 200,
                delay_ms: 20 * SECOND_MS,
            },
        )],
    );
    let produced = harness.push_transfer(20);
    harness.run();
    assert_eq!(harness.receiver.max_in_flight(0..Millis::MAX), 8);
    let mut delivered = harness.delivered_ids();
    delivered.sort();
    assert_eq!(delivered, produced, "each webhook delivered exactly once");
    assert!(harness.dropped.is_empty());
}
