//! Invariant checkers over the simulated world, run by the `invariants` step and, in `transfersim
//! fuzz`, after every turn of a run. Each is one question about global state, answered from the
//! world's public view (engine state, the mocks' records and journals, the world's log of
//! synchronous calls, the webhook receivers' arrival logs, the trace), in the spirit of
//! TigerBeetle's VOPR checkers. Each lives in its own module whose doc comment states its
//! invariant precisely.
//!
//! The registry is a plain list: [`all`] gives every checker in a fixed order, [`by_name`] finds
//! one, [`every_step`] the ones that hold at any instant (the fuzzer runs those after every
//! turn; [`Phase::Settled`] ones, liveness and the delivery of `completed` webhooks, only hold
//! once the world has settled, so they run in `invariants` steps, which fuzz workloads put at
//! the end after a long settle). `webhook_log` is not a checker: it gathers what the receivers
//! saw for the four webhook checkers.

mod completed_webhook_delivered;
mod fifo;
mod key_isolation;
mod liveness;
mod no_transfer_before_configuration;
mod one_completed_webhook_after_data;
mod one_transfer_at_a_time;
mod own_rate_limits;
mod pacing;
mod pull_matches_provider;
mod push_exactly_once;
mod refreshes;
mod serial_webhooks_in_order;
mod stable_webhook_id;
mod sync_answer_timing;
mod times_in_order;
mod webhook_log;

use transfersim_mock_providers::Mock;
use transfersim_sim::engine::{Binding, ProviderName};
use transfersim_sim::schema::EndgrateType;
use transfersim_sim::world::World;

/// When a checker's invariant holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// At every instant: checked after every step.
    EveryStep,
    /// Once the world has settled (faults stopped, a long advance): checked at the end.
    Settled,
}

/// One global invariant.
pub trait Checker: Send + Sync {
    /// The name a scenario uses in `invariants: [NAME]`.
    fn name(&self) -> &'static str;

    /// `Err` says what is broken, naming the ids involved.
    fn check(&self, world: &World) -> Result<(), String>;

    /// When the invariant holds; most hold at every instant.
    fn phase(&self) -> Phase {
        Phase::EveryStep
    }
}

/// Every registered checker, in a fixed order.
pub fn all() -> Vec<Box<dyn Checker>> {
    vec![
        Box::new(no_transfer_before_configuration::NoTransferBeforeConfiguration),
        Box::new(one_transfer_at_a_time::OneTransferAtATimePerSession),
        Box::new(fifo::FifoPerSession),
        Box::new(times_in_order::TimesInOrder),
        Box::new(pull_matches_provider::PullMatchesProvider),
        Box::new(push_exactly_once::PushExactlyOnce),
        Box::new(pacing::PacingWithinBudget),
        Box::new(own_rate_limits::OwnRateLimitsAtMostOnePercent),
        Box::new(sync_answer_timing::SyncAnswerTiming),
        Box::new(refreshes::RefreshesOneAtATimeAndOnlyWhenDue),
        Box::new(key_isolation::KeyIsolation),
        Box::new(one_completed_webhook_after_data::OneCompletedWebhookAfterData),
        Box::new(serial_webhooks_in_order::SerialWebhooksInOrder),
        Box::new(stable_webhook_id::StableWebhookId),
        Box::new(liveness::Liveness),
        Box::new(completed_webhook_delivered::CompletedWebhookDelivered),
    ]
}

/// The checkers that hold at every instant, for the fuzzer's per-step checks.
pub fn every_step() -> Vec<Box<dyn Checker>> {
    all()
        .into_iter()
        .filter(|checker| checker.phase() == Phase::EveryStep)
        .collect()
}

/// The checker with this name.
pub fn by_name(name: &str) -> Option<Box<dyn Checker>> {
    all().into_iter().find(|checker| checker.name() == name)
}

/// The names of every checker, for messages.
pub fn names() -> Vec<&'static str> {
    all().iter().map(|checker| checker.name()).collect()
}

/// Runs `checkers` over `world`; the first broken one as (name, message).
pub fn first_broken(
    checkers: &[Box<dyn Checker>],
    world: &World,
) -> Option<(&'static str, String)> {
    checkers.iter().find_map(|checker| {
        checker
            .check(world)
            .err()
            .map(|message| (checker.name(), message))
    })
}

/// The provider account a configured session is bound to: the account holding a grant of the
/// binding's client (preferring the one whose refresh token the binding was configured with).
pub(crate) fn account_of<'w>(world: &'w World, binding: &Binding) -> Option<(&'w Mock, String)> {
    let mock = world.mock(binding.provider);
    let mut fallback = None;
    for account in mock.account_ids() {
        let Ok(grants) = mock.grants_of(&account) else {
            continue;
        };
        for grant in grants {
            if grant.client_id != binding.credentials.client_id {
                continue;
            }
            if grant.refresh_token == binding.credentials.refresh_token {
                return Some((mock, account));
            }
            fallback.get_or_insert_with(|| account.clone());
        }
    }
    fallback.map(|account| (mock, account))
}

/// The provider object an endgrate type maps to.
pub(crate) fn object_of(provider: ProviderName, endgrate_type: EndgrateType) -> &'static str {
    match (provider, endgrate_type) {
        (ProviderName::Hubspot, EndgrateType::CrmCompany) => "companies",
        (ProviderName::Hubspot, EndgrateType::CrmContact) => "contacts",
        (ProviderName::Salesforce, EndgrateType::CrmCompany) => "Account",
        (ProviderName::Salesforce, EndgrateType::CrmContact) => "Contact",
    }
}
