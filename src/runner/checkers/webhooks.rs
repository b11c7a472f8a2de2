//! Webhook invariants: not applicable yet.
//!
//! TODO(issue 8, webhooks): the engine does not emit webhooks yet (there is no
//! `Output::Webhook`); the pure parts live in `sim/src/webhook/` and are being wired into the
//! engine separately. Until then these checkers are registered, report themselves as not
//! applicable, and pass. Once `Output::Webhook` exists, each checks the world's receiver
//! arrival log:
//! - [`OneCompletedWebhookAfterData`]: each transfer gets exactly one successfully delivered
//!   `completed` webhook, and it starts after every `data` and `error` webhook of the transfer
//!   finished;
//! - [`SerialWebhooksInOrder`]: for a session in serial mode, webhooks arrive in the order they
//!   were produced;
//! - [`StableWebhookId`]: every attempt of one webhook carries the same `webhook-id` and bytes.

use transfersim_sim::world::World;

use super::Checker;

/// Each transfer gets exactly one `completed` webhook, after its `data` and `error` webhooks.
#[derive(Debug)]
pub struct OneCompletedWebhookAfterData;

/// In serial mode, webhooks arrive in production order.
#[derive(Debug)]
pub struct SerialWebhooksInOrder;

/// `webhook-id` is stable across attempts.
#[derive(Debug)]
pub struct StableWebhookId;

macro_rules! not_applicable_yet {
    ($type:ty, $name:literal) => {
        impl Checker for $type {
            fn name(&self) -> &'static str {
                $name
            }

            fn applicable(&self) -> bool {
                false
            }

            fn check(&self, _world: &World) -> Result<(), String> {
                Ok(())
            }
        }
    };
}

not_applicable_yet!(
    OneCompletedWebhookAfterData,
    "one_completed_webhook_after_data"
);
not_applicable_yet!(SerialWebhooksInOrder, "serial_webhooks_in_order");
not_applicable_yet!(StableWebhookId, "stable_webhook_id");
