//! Every completed transfer gets its `completed` webhook, once.
//!
//! **Invariant** (WEBHOOK-12, WEBHOOK-17), checked once the world has settled
//! ([`Phase::Settled`]): every transfer that
//! - is completed, in a session that is still live (not deleted, not expired), and
//! - has a `completed` webhook target (its own or its session's), and
//! - belongs to a session whose receivers have settled: every webhook endpoint of the session
//!   and of its transfers is hosted by the world, and at least [`QUIET_MS`] (2 h) have passed
//!   since both the transfer's completion and the end of the last failed attempt at any of those
//!   receivers,
//!
//! has exactly one `completed` webhook, delivered exactly once (one attempt answered 2xx within
//! 10 s), unless that webhook was dropped: all 7 of its attempts failed.
//!
//! Why 2 h suffice: after the last failure every attempt at those receivers succeeded; a webhook
//! waiting for a retry then was retried within 1 h (the longest retry delay) and delivered, and
//! what was queued behind it went out one by one, each in at most 10 s.
//!
//! Left out, because nothing says they get a `completed` webhook: transfers of deleted or
//! expired sessions (delete and expiry drop pending webhooks), transfers without a `completed`
//! target, and sessions whose receivers still fail (their webhooks are retried, then dropped
//! after 7 attempts; a permanently failing or slow receiver drops every webhook). The ordering
//! half ("at most one, after its data and error webhooks") holds at every step:
//! [`super::one_completed_webhook_after_data`].

use transfersim_sim::engine::TransferState;
use transfersim_sim::time::{HOUR_MS, Millis};
use transfersim_sim::world::World;

use super::webhook_log::{Kind, WebhookLog, session_endpoints};
use super::{Checker, Phase};

/// How long a session's receivers must have answered every attempt with a delivery.
pub const QUIET_MS: Millis = 2 * HOUR_MS;

/// Every completed transfer of a live session with settled receivers got its `completed`.
#[derive(Debug)]
pub struct CompletedWebhookDelivered;

impl Checker for CompletedWebhookDelivered {
    fn name(&self) -> &'static str {
        "completed_webhook_delivered"
    }

    fn phase(&self) -> Phase {
        Phase::Settled
    }

    fn check(&self, world: &World) -> Result<(), String> {
        let engine = world.engine();
        let now = world.now();
        let start = now - world.elapsed_ms();
        let log = WebhookLog::of(world);
        for transfer in engine.transfers() {
            let Some(completed_at) = transfer.completed_at else {
                continue;
            };
            if transfer.state != TransferState::Completed {
                continue;
            }
            let Some(session) = engine.session(now, &transfer.key, &transfer.session_id) else {
                continue;
            };
            if transfer
                .webhooks
                .completed
                .as_ref()
                .or(session.webhooks.completed.as_ref())
                .is_none()
            {
                continue;
            }
            if log.session_has_unhosted_endpoint(world, &session.id) {
                continue;
            }
            let endpoints = session_endpoints(world, &session.id);
            let last_failure = endpoints
                .iter()
                .filter_map(|endpoint| log.receivers.get(endpoint.as_str()))
                .flat_map(|arrivals| arrivals.iter())
                .filter(|arrival| !arrival.is_delivered())
                .map(|arrival| match arrival.answer.status {
                    Some(_) => arrival.at + arrival.answer.ended_after_ms(),
                    None => arrival.at,
                })
                .max()
                .unwrap_or(0);
            if now < last_failure.max(completed_at).saturating_add(QUIET_MS) {
                continue;
            }
            let completed: Vec<_> = log
                .observed
                .iter()
                .filter(|(_, observed)| {
                    observed.kind == Kind::Completed
                        && observed.transfer_id.as_deref() == Some(transfer.id.as_str())
                })
                .collect();
            let at = |millis: Millis| {
                let since = millis.saturating_sub(start);
                format!("{}.{:03} s", since / 1000, since % 1000)
            };
            let [(id, observed)] = completed.as_slice() else {
                return Err(format!(
                    "transfer {} (session {}) completed at {} but has {} completed webhooks \
                     after the settle, not one",
                    transfer.id,
                    session.id,
                    at(completed_at),
                    completed.len()
                ));
            };
            let delivered = observed
                .attempts
                .iter()
                .filter(|attempt| attempt.delivered())
                .count();
            let dropped = delivered == 0 && observed.finished();
            if delivered != 1 && !dropped {
                return Err(format!(
                    "transfer {}: its completed webhook {id} was delivered {delivered} times in \
                     {} attempts (once, or dropped after 7 failures, was due)",
                    transfer.id,
                    observed.attempts.len()
                ));
            }
        }
        Ok(())
    }
}
