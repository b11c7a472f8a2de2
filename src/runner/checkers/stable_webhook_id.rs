//! `webhook-id` is stable across attempts.
//!
//! **Invariant** (WEBHOOK-19, WEBHOOK-16), over every attempt that reached a hosted receiver,
//! deleted and expired sessions included:
//! - every attempt carries a `webhook-id` header;
//! - all attempts with one `webhook-id` carry byte-identical bodies and go to one endpoint;
//! - a retry never comes as a new webhook: no two `webhook-id`s carry byte-identical bodies
//!   (every payload names its transfer or session, and a data payload its page or batch, so
//!   two distinct webhooks never have the same bytes);
//! - one webhook has at most 7 attempts, never two at once (each is sent after the previous one
//!   ended), and none after one was delivered;
//! - the engine numbers one webhook's attempts 1, 2, 3, ... in the trace, so an id is never
//!   produced afresh for a retry.

use std::collections::BTreeMap;

use transfersim_sim::webhook::outbox::ATTEMPTS_MAX;
use transfersim_sim::world::World;

use super::Checker;
use super::webhook_log::WebhookLog;

/// Every attempt of one webhook has its id and bytes; no retry gets a new id.
#[derive(Debug)]
pub struct StableWebhookId;

impl Checker for StableWebhookId {
    fn name(&self) -> &'static str {
        "stable_webhook_id"
    }

    fn check(&self, world: &World) -> Result<(), String> {
        let log = WebhookLog::of(world);
        let start = world.now() - world.elapsed_ms();
        if let Some((endpoint, index)) = log.without_id.first() {
            return Err(format!(
                "arrival #{index} at {endpoint} carries no readable webhook-id header"
            ));
        }
        let mut id_of_body: BTreeMap<&[u8], &str> = BTreeMap::new();
        for (id, observed) in &log.observed {
            let Some(first) = observed.attempts.first() else {
                continue;
            };
            let body = first.arrival.body.as_ref();
            if let Some(other) = id_of_body.insert(body, id.as_str()) {
                return Err(format!(
                    "webhooks {other} and {id} carry the same {} bytes: one webhook was sent \
                     under two ids",
                    body.len()
                ));
            }
            if observed.attempts.len() > ATTEMPTS_MAX as usize {
                return Err(format!(
                    "webhook {id} was attempted {} times (at most {ATTEMPTS_MAX})",
                    observed.attempts.len()
                ));
            }
            for pair in observed.attempts.windows(2) {
                let [earlier, later] = pair else {
                    continue;
                };
                if later.arrival.body != earlier.arrival.body {
                    return Err(format!(
                        "webhook {id}: the attempt {} carries other bytes than the one {}",
                        later.describe(start),
                        earlier.describe(start)
                    ));
                }
                if later.endpoint != earlier.endpoint {
                    return Err(format!(
                        "webhook {id} went to {} and then to {}",
                        earlier.endpoint, later.endpoint
                    ));
                }
                if earlier.delivered() {
                    return Err(format!(
                        "webhook {id} was attempted again ({}) after it was delivered ({})",
                        later.describe(start),
                        earlier.describe(start)
                    ));
                }
                if !earlier.ended_before(later) {
                    return Err(format!(
                        "webhook {id}: an attempt {} before the previous one ({}) ended",
                        later.describe(start),
                        earlier.describe(start)
                    ));
                }
            }
            if let Some(produced) = log.produced.get(id) {
                let numbered = produced
                    .attempt_numbers
                    .iter()
                    .zip(1u32..)
                    .all(|(number, expected)| *number == expected);
                if !numbered || produced.attempt_numbers.len() != observed.attempts.len() {
                    return Err(format!(
                        "webhook {id}: the engine numbered its attempts {:?}, and {} arrived",
                        produced.attempt_numbers,
                        observed.attempts.len()
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::webhook_log::testing::{Fake, completed, data, failed, ok, world_with};
    use super::*;

    fn verdict(arrivals: Vec<Fake>) -> Result<(), String> {
        StableWebhookId.check(&world_with(arrivals))
    }

    #[test]
    fn retries_with_one_id_and_one_body_hold() {
        assert_eq!(
            verdict(vec![
                failed("a", 0, data("t1", 1)),
                ok("a", 5_000, data("t1", 1)),
                ok("b", 5_000, completed("t1")),
            ]),
            Ok(())
        );
    }

    #[test]
    fn a_retry_under_a_new_id_is_caught() {
        let error = verdict(vec![
            failed("a", 0, data("t1", 1)),
            ok("b", 5_000, data("t1", 1)),
        ])
        .unwrap_err();
        assert!(error.contains("webhooks a and b carry the same"), "{error}");
    }

    #[test]
    fn a_retry_with_other_bytes_is_caught() {
        let error = verdict(vec![
            failed("a", 0, data("t1", 1)),
            ok("a", 5_000, data("t1", 2)),
        ])
        .unwrap_err();
        assert!(error.contains("carries other bytes"), "{error}");
    }

    #[test]
    fn an_attempt_after_delivery_is_caught() {
        let error = verdict(vec![
            ok("a", 0, data("t1", 1)),
            ok("a", 5_000, data("t1", 1)),
        ])
        .unwrap_err();
        assert!(error.contains("after it was delivered"), "{error}");
    }

    #[test]
    fn overlapping_attempts_and_an_eighth_attempt_are_caught() {
        let slow = Fake {
            status: Some(200),
            delay_ms: 20_000,
            ..ok("a", 0, data("t1", 1))
        };
        let error = verdict(vec![slow, failed("a", 5_000, data("t1", 1))]).unwrap_err();
        assert!(error.contains("before the previous one"), "{error}");
        let eight = (0..8)
            .map(|attempt| failed("a", attempt * 100_000, data("t1", 1)))
            .collect();
        let error = verdict(eight).unwrap_err();
        assert!(error.contains("attempted 8 times"), "{error}");
    }
}
