//! What the world's webhook receivers saw, gathered once per check for the webhook checkers
//! (this module is not a checker).
//!
//! Two sources, both public views of the world:
//! - the **receivers' arrival logs** ([`transfersim_sim::webhook::receiver::Receiver::log`]):
//!   every attempt that reached a hosted endpoint, with its headers, exact body bytes, send
//!   instant and the answer the sender saw (so when the attempt ended and whether it counted
//!   as delivered);
//! - the **trace**, for what a receiver cannot know: the order in which the engine produced
//!   webhooks and for which session (`webhook ID KIND queued for session SID`), and every
//!   attempt the engine sent with its number and endpoint (`webhook ID KIND attempt N to URL`),
//!   which also names every endpoint ever attempted, those of deleted sessions included.
//!
//! An attempt to an endpoint the world does not host is refused at once and logged nowhere; such
//! endpoints are listed in [`WebhookLog::unhosted`] so checkers can leave out what they cannot
//! see.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use transfersim_sim::time::Millis;
use transfersim_sim::webhook::receiver::Arrival;
use transfersim_sim::world::World;

/// The four webhook types, read from a body (CONTRACT.md section 4): `completed: true` is a
/// completed webhook, a body with `transfer_data` a data webhook, one with `error_type` an
/// error webhook, anything else the configuration webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Kind {
    Configuration,
    Data,
    Error,
    Completed,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Configuration => "configuration",
            Kind::Data => "data",
            Kind::Error => "error",
            Kind::Completed => "completed",
        }
    }

    fn of(body: &Value) -> Kind {
        if body.get("completed") == Some(&Value::Bool(true)) {
            Kind::Completed
        } else if body.get("transfer_data").is_some() {
            Kind::Data
        } else if body.get("error_type").is_some() {
            Kind::Error
        } else {
            Kind::Configuration
        }
    }
}

/// One attempt as a receiver logged it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Seen<'w> {
    pub endpoint: &'w str,
    /// Its position in its receiver's log (orders attempts at one receiver within an instant).
    pub index: usize,
    pub arrival: &'w Arrival,
}

impl Seen<'_> {
    /// When it was sent (and arrived: the world has no network delay).
    pub fn start(&self) -> Millis {
        self.arrival.at
    }

    /// When the sender saw it end: the answer, or the 10 s timeout; at once when refused.
    pub fn end(&self) -> Millis {
        match self.arrival.answer.status {
            Some(_) => self.arrival.at + self.arrival.answer.ended_after_ms(),
            None => self.arrival.at,
        }
    }

    pub fn delivered(&self) -> bool {
        self.arrival.is_delivered()
    }

    /// Whether this attempt had ended when `later` was sent: it ended no later than `later`
    /// started and, at one receiver, `later` is further down the log (two attempts at one
    /// instant are ordered by the log; at two receivers one instant is all we know).
    pub fn ended_before(&self, later: &Seen<'_>) -> bool {
        self.end() <= later.start() && (self.endpoint != later.endpoint || self.index < later.index)
    }

    /// `at 12.345 s to URL (attempt #i there)`, for messages.
    pub fn describe(&self, world_start: Millis) -> String {
        let at = self.start().saturating_sub(world_start);
        let status = match self.arrival.answer.status {
            Some(status) => format!("{status} after {} ms", self.arrival.answer.delay_ms),
            None => "refused".to_owned(),
        };
        format!(
            "sent at {}.{:03} s to {} ({status})",
            at / 1000,
            at % 1000,
            self.endpoint
        )
    }
}

/// One webhook id as the receivers saw it: its attempts in arrival order and its body read once.
#[derive(Debug, Clone)]
pub(crate) struct Observed<'w> {
    pub attempts: Vec<Seen<'w>>,
    pub kind: Kind,
    /// The `transfer_id` of the body (`None` for the configuration webhook).
    pub transfer_id: Option<String>,
}

impl Observed<'_> {
    /// Whether one attempt was delivered.
    pub fn delivered(&self) -> bool {
        self.attempts.iter().any(Seen::delivered)
    }

    /// Delivered, or dropped after its last attempt failed.
    pub fn finished(&self) -> bool {
        self.delivered()
            || self.attempts.len() >= transfersim_sim::webhook::outbox::ATTEMPTS_MAX as usize
    }
}

/// One webhook as the engine's trace reports it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Produced {
    /// Its place in the engine's production order (all sessions together).
    pub sequence: usize,
    pub session_id: String,
    /// The attempt numbers the engine sent, in trace order.
    pub attempt_numbers: Vec<u32>,
}

/// Everything the webhook checkers read, gathered once.
#[derive(Debug, Default)]
pub(crate) struct WebhookLog<'w> {
    /// By `webhook-id`, every webhook some hosted receiver saw.
    pub observed: BTreeMap<String, Observed<'w>>,
    /// Arrivals without a readable `webhook-id` header: (endpoint, log index).
    pub without_id: Vec<(String, usize)>,
    /// By `webhook-id`, what the trace says.
    pub produced: BTreeMap<String, Produced>,
    /// Endpoints the engine attempted that the world does not host.
    pub unhosted: BTreeSet<String>,
    /// Every hosted endpoint attempted or named by a live session, with its whole log.
    pub receivers: BTreeMap<String, &'w [Arrival]>,
}

impl<'w> WebhookLog<'w> {
    /// Reads the trace and every receiver an attempt went to or a live session names.
    pub fn of(world: &'w World) -> Self {
        let mut log = WebhookLog::default();
        let mut endpoints: BTreeSet<String> = BTreeSet::new();
        let mut next_sequence = 0;
        for line in world.trace() {
            let Some(event) = webhook_event(line) else {
                continue;
            };
            match event {
                TraceEvent::Queued { id, session_id } => {
                    let produced = log.produced.entry(id.to_owned()).or_default();
                    produced.sequence = next_sequence;
                    next_sequence += 1;
                    session_id.clone_into(&mut produced.session_id);
                }
                TraceEvent::Attempt {
                    id,
                    number,
                    endpoint,
                } => {
                    log.produced
                        .entry(id.to_owned())
                        .or_default()
                        .attempt_numbers
                        .push(number);
                    if !endpoints.contains(endpoint) {
                        endpoints.insert(endpoint.to_owned());
                    }
                }
            }
        }
        let engine = world.engine();
        for session in engine.sessions() {
            endpoints.extend(endpoints_of(&session.webhooks).map(str::to_owned));
        }
        for transfer in engine.transfers() {
            endpoints.extend(endpoints_of(&transfer.webhooks).map(str::to_owned));
        }
        for endpoint in endpoints {
            let Some(receiver) = world.receiver(&endpoint) else {
                log.unhosted.insert(endpoint);
                continue;
            };
            log.receivers.insert(endpoint, receiver.log());
        }
        let hosted: Vec<&'w [Arrival]> = log.receivers.values().copied().collect();
        for arrivals in hosted {
            for (index, arrival) in arrivals.iter().enumerate() {
                let seen = Seen {
                    endpoint: arrival.endpoint.as_str(),
                    index,
                    arrival,
                };
                let Some(id) = arrival.webhook_id() else {
                    log.without_id.push((arrival.endpoint.clone(), index));
                    continue;
                };
                if let Some(observed) = log.observed.get_mut(id) {
                    observed.attempts.push(seen);
                    continue;
                }
                let body = arrival.json().unwrap_or(Value::Null);
                log.observed.insert(
                    id.to_owned(),
                    Observed {
                        attempts: vec![seen],
                        kind: Kind::of(&body),
                        transfer_id: body
                            .get("transfer_id")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                    },
                );
            }
        }
        // One webhook's attempts can sit at two receivers only if its endpoint changed (a bug
        // the stable-id checker reports); keep each id's attempts in time order regardless.
        for observed in log.observed.values_mut() {
            observed
                .attempts
                .sort_by_key(|seen| (seen.start(), seen.endpoint, seen.index));
        }
        log
    }

    /// Whether a webhook target of the session, or of one of its transfers, is an endpoint the
    /// world does not host (its attempts leave no trace at a receiver).
    pub fn session_has_unhosted_endpoint(&self, world: &World, session_id: &str) -> bool {
        session_endpoints(world, session_id)
            .iter()
            .any(|endpoint| self.unhosted.contains(endpoint))
            || self.produced.iter().any(|(id, produced)| {
                produced.session_id == session_id
                    && !produced.attempt_numbers.is_empty()
                    && !self.observed.contains_key(id)
            })
    }
}

/// The webhook endpoints of a session and of its transfers, each once.
pub(crate) fn session_endpoints(world: &World, session_id: &str) -> Vec<String> {
    let engine = world.engine();
    let mut endpoints: Vec<String> = Vec::new();
    let sets = engine
        .sessions()
        .filter(|session| session.id == session_id)
        .map(|session| &session.webhooks)
        .chain(
            engine
                .transfers()
                .filter(|transfer| transfer.session_id == session_id)
                .map(|transfer| &transfer.webhooks),
        );
    for set in sets {
        for endpoint in endpoints_of(set) {
            if !endpoints.iter().any(|known| known == endpoint) {
                endpoints.push(endpoint.to_owned());
            }
        }
    }
    endpoints
}

fn endpoints_of(set: &transfersim_sim::engine::WebhookSet) -> impl Iterator<Item = &str> {
    [&set.configuration, &set.data, &set.error, &set.completed]
        .into_iter()
        .flatten()
        .map(|target| target.endpoint.as_str())
}

enum TraceEvent<'t> {
    Queued {
        id: &'t str,
        session_id: &'t str,
    },
    Attempt {
        id: &'t str,
        number: u32,
        endpoint: &'t str,
    },
}

/// Reads `   12.345 webhook ID KIND queued for session SID` and
/// `   12.345 webhook ID KIND attempt N to URL`; anything else is `None`.
fn webhook_event(line: &str) -> Option<TraceEvent<'_>> {
    let (_, rest) = line.trim_start().split_once(' ')?;
    let rest = rest.strip_prefix("webhook ")?;
    let mut words = rest.splitn(4, ' ');
    let id = words.next()?;
    let _kind = words.next()?;
    let verb = words.next()?;
    let tail = words.next()?;
    match verb {
        "queued" => Some(TraceEvent::Queued {
            id,
            session_id: tail.strip_prefix("for session ")?,
        }),
        "attempt" => {
            let (number, endpoint) = tail.split_once(" to ")?;
            Some(TraceEvent::Attempt {
                id,
                number: number.parse().ok()?,
                endpoint,
            })
        }
        _ => None,
    }
}

/// Worlds with hand-made receiver logs, for the webhook checkers' own tests.
#[cfg(test)]
pub(crate) mod testing {
    use bytes::Bytes;
    use http::{HeaderMap, HeaderValue};
    use serde_json::{Value, json};
    use transfersim_sim::time::Millis;
    use transfersim_sim::webhook::receiver::{Receiver, ReceiverRule, Respond};
    use transfersim_sim::world::{World, WorldConfig};

    /// Where the hand-made receiver is hosted.
    pub const ENDPOINT: &str = "http://receivers.sim/test";

    /// One hand-made arrival: `webhook-id`, milliseconds after the world's start, body, and the
    /// answer (`None`: refused) with its delay.
    pub struct Fake {
        pub id: &'static str,
        pub at: Millis,
        pub body: Value,
        pub status: Option<u16>,
        pub delay_ms: Millis,
    }

    /// A delivered arrival, answered 200 at once.
    pub fn ok(id: &'static str, at: Millis, body: Value) -> Fake {
        Fake {
            id,
            at,
            body,
            status: Some(200),
            delay_ms: 0,
        }
    }

    /// A failed arrival, answered 500 at once.
    pub fn failed(id: &'static str, at: Millis, body: Value) -> Fake {
        Fake {
            status: Some(500),
            ..ok(id, at, body)
        }
    }

    pub fn data(transfer: &str, page: u32) -> Value {
        json!({"success": true, "transfer_id": transfer, "completed": false,
               "transfer_data": [{"id": format!("r{page}")}]})
    }

    pub fn completed(transfer: &str) -> Value {
        json!({"success": true, "transfer_id": transfer, "completed": true})
    }

    /// A world with one session whose four webhooks go to [`ENDPOINT`], where a receiver has
    /// logged `arrivals` (each answered as it says).
    pub fn world_with(arrivals: Vec<Fake>) -> World {
        let mut world = World::new(WorldConfig::default());
        let start = world.now();
        let key = world.engine_mut().mint_api_key();
        let hook = json!({"endpoint": ENDPOINT});
        world.call(
            "POST",
            "/api/session/initiate",
            &key,
            Some(&json!({
                "schema": [{"endgrate_type": "crm-contact"}],
                "completed_webhook": hook, "data_webhook": hook, "error_webhook": hook,
            })),
        );
        // A receiver answering each arrival as told at its instant (the first rule covering an
        // instant wins, so two arrivals at one instant get the first one's answer).
        let respond = |fake: &Fake| match fake.status {
            Some(status) => Respond::Answer {
                status,
                delay_ms: fake.delay_ms,
            },
            None => Respond::Down,
        };
        let rules = arrivals
            .iter()
            .map(|fake| ReceiverRule::between(start + fake.at, start + fake.at + 1, respond(fake)))
            .collect();
        let mut receiver = Receiver::new(rules);
        for fake in arrivals {
            let mut headers = HeaderMap::new();
            headers.insert("webhook-id", HeaderValue::from_static(fake.id));
            let body = Bytes::from(fake.body.to_string());
            receiver.receive(start + fake.at, ENDPOINT, headers, body);
        }
        world.host_receiver(ENDPOINT, receiver);
        world
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_lines_of_webhooks_are_read_and_others_ignored() {
        match webhook_event("     12.345 webhook msg_ab data queued for session s1") {
            Some(TraceEvent::Queued { id, session_id }) => {
                assert_eq!((id, session_id), ("msg_ab", "s1"));
            }
            _ => panic!("a queued line"),
        }
        match webhook_event("      0.000 webhook msg_ab completed attempt 3 to http://r.sim/a b") {
            Some(TraceEvent::Attempt {
                id,
                number,
                endpoint,
            }) => assert_eq!((id, number, endpoint), ("msg_ab", 3, "http://r.sim/a b")),
            _ => panic!("an attempt line"),
        }
        assert!(webhook_event("      1.000 webhook msg_ab delivered").is_none());
        assert!(
            webhook_event("      1.000 webhook msg_ab failed (Some(500)); retry at +5000 ms")
                .is_none()
        );
        assert!(webhook_event("      1.000 transfer t1 page 1: 2 records, 2 delivered").is_none());
        assert!(webhook_event("").is_none());
    }

    #[test]
    fn kinds_are_read_from_bodies() {
        use serde_json::json;
        assert_eq!(
            Kind::of(&json!({"completed": true, "transfer_id": "t"})),
            Kind::Completed
        );
        assert_eq!(
            Kind::of(&json!({"completed": false, "transfer_data": []})),
            Kind::Data
        );
        assert_eq!(Kind::of(&json!({"error_type": "upstream"})), Kind::Error);
        assert_eq!(
            Kind::of(&json!({"session_id": "s", "schemas": {}})),
            Kind::Configuration
        );
    }
}
