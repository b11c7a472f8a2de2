//! Pacing stays within the budget.
//!
//! **Invariant:** for every provider account, the target's own requests the provider counted
//! never exceed the account's budget in any rolling window of the provider's length (hubspot
//! 10 s, salesforce 24 h), per the mock journal's `max_counted_from_target_in_window`.

use transfersim_mock_providers::journal::max_counted_from_target_in_window;
use transfersim_sim::engine::ProviderName;
use transfersim_sim::world::World;

use super::Checker;

/// The target's counted requests fit the budget in every rolling window.
#[derive(Debug)]
pub struct PacingWithinBudget;

impl Checker for PacingWithinBudget {
    fn name(&self) -> &'static str {
        "pacing_within_budget"
    }

    fn check(&self, world: &World) -> Result<(), String> {
        for provider in ProviderName::ALL {
            let mock = world.mock(provider);
            let window_ms = mock.dialect().limits().window_ms;
            for account in mock.account_ids() {
                let Some(budget) = mock
                    .account_options(&account)
                    .ok()
                    .and_then(|options| options.budget.limit())
                else {
                    continue;
                };
                let most = max_counted_from_target_in_window(mock.journal(), &account, window_ms);
                if most > budget {
                    return Err(format!(
                        "{} account {account}: {most} of the target's requests counted in one {window_ms} ms window, over the budget of {budget}",
                        provider.as_str()
                    ));
                }
            }
        }
        Ok(())
    }
}
