//! A transfer's `completed` webhook is its only one, and its last.
//!
//! **Invariant** (WEBHOOK-12, WEBHOOK-13, WEBHOOK-23), over every attempt that reached a hosted
//! receiver, whatever became of the session since (deleted and expired sessions included, since
//! what already arrived cannot be taken back), in serial and concurrent mode alike:
//! - a transfer has at most one `completed` webhook (one `webhook-id`, however many attempts);
//! - the first attempt of a transfer's `completed` webhook is sent only after every attempt of
//!   every `data` and `error` webhook of that transfer has ended (answered, timed out at 10 s,
//!   or refused), so no `data` or `error` webhook of the transfer is attempted, let alone
//!   delivered, after its `completed` one started: `completed` is last in delivery order;
//! - a `completed` webhook is sent only for a transfer that has completed (when the engine still
//!   holds the transfer, it is completed and its `completed_at` is no later than that send).
//!
//! "Ended before" compares the instant an attempt ended with the instant the next was sent; at
//! one instant, two attempts at the same receiver are ordered by its log. Webhooks sent to an
//! endpoint the world does not host leave no arrival and are not seen. That every transfer
//! *gets* its `completed` webhook is [`super::completed_webhook_delivered`], which only holds
//! once the world has settled.

use std::collections::BTreeMap;

use transfersim_sim::engine::TransferState;
use transfersim_sim::world::World;

use super::Checker;
use super::webhook_log::{Kind, Observed, WebhookLog};

/// At most one `completed` webhook per transfer, sent after its `data` and `error` webhooks.
#[derive(Debug)]
pub struct OneCompletedWebhookAfterData;

impl Checker for OneCompletedWebhookAfterData {
    fn name(&self) -> &'static str {
        "one_completed_webhook_after_data"
    }

    fn check(&self, world: &World) -> Result<(), String> {
        let log = WebhookLog::of(world);
        let start = world.now() - world.elapsed_ms();
        let mut by_transfer: BTreeMap<&str, Vec<(&str, &Observed<'_>)>> = BTreeMap::new();
        for (id, observed) in &log.observed {
            if let Some(transfer_id) = &observed.transfer_id {
                by_transfer
                    .entry(transfer_id.as_str())
                    .or_default()
                    .push((id.as_str(), observed));
            }
        }
        for (transfer_id, webhooks) in by_transfer {
            let completed: Vec<&(&str, &Observed<'_>)> = webhooks
                .iter()
                .filter(|(_, observed)| observed.kind == Kind::Completed)
                .collect();
            let Some((completed_id, completed_webhook)) = completed.first() else {
                continue;
            };
            if completed.len() > 1 {
                let ids: Vec<&str> = completed.iter().map(|(id, _)| *id).collect();
                return Err(format!(
                    "transfer {transfer_id} has {} completed webhooks: {}",
                    ids.len(),
                    ids.join(", ")
                ));
            }
            let Some(first) = completed_webhook.attempts.first() else {
                continue;
            };
            for (id, report) in &webhooks {
                if !matches!(report.kind, Kind::Data | Kind::Error) {
                    continue;
                }
                if let Some(late) = report
                    .attempts
                    .iter()
                    .find(|attempt| !attempt.ended_before(first))
                {
                    return Err(format!(
                        "transfer {transfer_id}: its completed webhook {completed_id} was first \
                         {}, before an attempt of its {} webhook {id} had ended (that attempt \
                         was {}{})",
                        first.describe(start),
                        report.kind.as_str(),
                        late.describe(start),
                        if late.endpoint == first.endpoint && late.index > first.index {
                            ", later in the receiver's log"
                        } else {
                            ""
                        }
                    ));
                }
            }
            if let Some(transfer) = world
                .engine()
                .transfers()
                .find(|transfer| transfer.id == transfer_id)
            {
                let in_time = transfer.state == TransferState::Completed
                    && transfer
                        .completed_at
                        .is_some_and(|completed_at| completed_at <= first.start());
                if !in_time {
                    return Err(format!(
                        "transfer {transfer_id} is {} (completed at {:?}), yet its completed \
                         webhook {completed_id} was {}",
                        transfer.state.as_str(),
                        transfer.completed_at.map(|at| at.saturating_sub(start)),
                        first.describe(start)
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
        OneCompletedWebhookAfterData.check(&world_with(arrivals))
    }

    #[test]
    fn completed_after_every_data_attempt_holds_even_at_one_instant() {
        assert_eq!(
            verdict(vec![
                failed("d1", 0, data("t1", 1)),
                ok("d1", 5_000, data("t1", 1)),
                ok("d2", 5_000, data("t1", 2)),
                ok("c", 5_000, completed("t1")),
                ok("c2", 6_000, completed("t2")),
            ]),
            Ok(())
        );
    }

    #[test]
    fn completed_before_a_data_webhook_is_caught() {
        let error = verdict(vec![
            ok("c", 1_000, completed("t1")),
            ok("d1", 1_000, data("t1", 1)),
        ])
        .unwrap_err();
        assert!(
            error.contains("transfer t1: its completed webhook c"),
            "{error}"
        );
        assert!(error.contains("data webhook d1"), "{error}");
        assert!(error.contains("later in the receiver's log"), "{error}");
    }

    #[test]
    fn completed_while_a_data_attempt_is_still_open_or_retrying_is_caught() {
        let slow = Fake {
            delay_ms: 4_000,
            ..ok("d1", 0, data("t1", 1))
        };
        assert!(verdict(vec![slow, ok("c", 1_000, completed("t1"))]).is_err());
        let error = verdict(vec![
            failed("d1", 0, data("t1", 1)),
            ok("c", 1_000, completed("t1")),
            ok("d1", 5_000, data("t1", 1)),
        ])
        .unwrap_err();
        assert!(error.contains("data webhook d1"), "{error}");
    }

    #[test]
    fn two_completed_webhooks_for_one_transfer_are_caught() {
        let error = verdict(vec![
            ok("c1", 0, completed("t1")),
            ok("c2", 1_000, completed("t1")),
        ])
        .unwrap_err();
        assert!(
            error.contains("transfer t1 has 2 completed webhooks"),
            "{error}"
        );
    }
}
