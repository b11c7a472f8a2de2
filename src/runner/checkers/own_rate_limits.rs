//! Rate-limit answers caused by the target itself are rare.
//!
//! **Invariant:** for every provider account, the rate-limit answers the mock journal attributes
//! to the target's own traffic (cause `budget`; injected faults and another app's usage are
//! excluded) are at most 1 % of the target's requests to that account. Requests of transfers
//! with `bypass_rate_limit` are excluded too: when any transfer bypasses, the check stands aside.

use transfersim_mock_providers::RateLimitCause;
use transfersim_mock_providers::budget::Origin;
use transfersim_sim::engine::ProviderName;
use transfersim_sim::world::World;

use super::Checker;

/// Own rate-limit answers are at most 1 % of the target's requests.
#[derive(Debug)]
pub struct OwnRateLimitsAtMostOnePercent;

impl Checker for OwnRateLimitsAtMostOnePercent {
    fn name(&self) -> &'static str {
        "own_rate_limits_at_most_one_percent"
    }

    fn check(&self, world: &World) -> Result<(), String> {
        if world
            .engine()
            .transfers()
            .any(|transfer| transfer.bypass_rate_limit)
        {
            return Ok(());
        }
        for provider in ProviderName::ALL {
            let mock = world.mock(provider);
            for account in mock.account_ids() {
                let mut requests = 0u64;
                let mut own = 0u64;
                for entry in mock.journal() {
                    if entry.origin != Origin::Target
                        || entry.account_id.as_deref() != Some(account.as_str())
                    {
                        continue;
                    }
                    requests += 1;
                    if entry.rate_limit == Some(RateLimitCause::Budget) {
                        own += 1;
                    }
                }
                if own * 100 > requests {
                    return Err(format!(
                        "{} account {account}: {own} of the target's {requests} requests drew a rate limit it caused itself (over 1 %)",
                        provider.as_str()
                    ));
                }
            }
        }
        Ok(())
    }
}
