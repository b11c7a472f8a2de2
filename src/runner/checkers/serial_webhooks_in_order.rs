//! In serial mode, webhooks go out one at a time, in production order.
//!
//! **Invariant** (WEBHOOK-20): for every live session (not deleted, not expired) with
//! `webhook_concurrency` false, take its webhooks in the order the engine produced them (the
//! trace's `queued for session` lines). Then:
//! - a webhook is attempted only if every webhook produced before it was attempted;
//! - its first attempt is sent only after the webhook produced just before it *finished*:
//!   delivered (an attempt answered 2xx within 10 s), or dropped (all 7 attempts failed);
//! - and only after every attempt of that previous webhook ended (answered, timed out at 10 s,
//!   or refused; at one instant and one receiver, earlier in the receiver's log).
//!
//! So a serial session has at most one webhook in flight or waiting for a retry, and its
//! receivers see first attempts in production order. Chained over consecutive webhooks, this
//! orders every pair.
//!
//! Left out: sessions in concurrent mode (order is not kept there, CONTRACT.md section 4),
//! deleted and expired sessions (their pending webhooks were dropped, and their mode is no longer
//! known), and sessions with a webhook endpoint the world does not host (attempts there are
//! refused without leaving an arrival, so their timing cannot be seen).

use transfersim_sim::world::World;

use super::Checker;
use super::webhook_log::{Observed, WebhookLog};

/// A serial session's webhooks are attempted one at a time, in production order.
#[derive(Debug)]
pub struct SerialWebhooksInOrder;

impl Checker for SerialWebhooksInOrder {
    fn name(&self) -> &'static str {
        "serial_webhooks_in_order"
    }

    fn check(&self, world: &World) -> Result<(), String> {
        let engine = world.engine();
        let now = world.now();
        let start = now - world.elapsed_ms();
        let log = WebhookLog::of(world);
        if log.produced.is_empty() {
            return Ok(());
        }
        for session in engine.sessions() {
            if session.webhook_concurrency
                || engine.session(now, &session.key, &session.id).is_none()
                || log.session_has_unhosted_endpoint(world, &session.id)
            {
                continue;
            }
            let mut produced: Vec<(usize, &str)> = log
                .produced
                .iter()
                .filter(|(_, produced)| produced.session_id == session.id)
                .map(|(id, produced)| (produced.sequence, id.as_str()))
                .collect();
            produced.sort_unstable();
            let mut previous: Option<(&str, &Observed<'_>)> = None;
            let mut never_sent: Option<&str> = None;
            for (_, id) in produced {
                let Some(observed) = log.observed.get(id) else {
                    never_sent.get_or_insert(id);
                    continue;
                };
                let Some(first) = observed.attempts.first() else {
                    never_sent.get_or_insert(id);
                    continue;
                };
                if let Some(skipped) = never_sent {
                    return Err(format!(
                        "serial session {}: webhook {id} was {}, but {skipped}, produced before \
                         it, was never sent",
                        session.id,
                        first.describe(start)
                    ));
                }
                if let Some((previous_id, previous)) = previous {
                    if !previous.finished() {
                        return Err(format!(
                            "serial session {}: webhook {id} was {} while {previous_id}, \
                             produced before it, was neither delivered nor dropped ({} failed \
                             attempts)",
                            session.id,
                            first.describe(start),
                            previous.attempts.len()
                        ));
                    }
                    if let Some(overlap) = previous
                        .attempts
                        .iter()
                        .find(|attempt| !attempt.ended_before(first))
                    {
                        return Err(format!(
                            "serial session {}: webhook {id} was {} before an attempt of \
                             {previous_id}, produced before it, ended (that attempt was {})",
                            session.id,
                            first.describe(start),
                            overlap.describe(start)
                        ));
                    }
                }
                previous = Some((id, observed));
            }
        }
        Ok(())
    }
}
