//! Token refreshes: one at a time, and only when due.
//!
//! **Invariant:** per connection (an OAuth client and grant, as the mock journal names them):
//! - at most one token refresh is in flight at any instant;
//! - a refresh is the connection's first, follows a refresh that failed (an error answer, a
//!   timeout, an answer slower than the 30 s timeout, or a dropped connection), follows a 401 answered on the account since the last
//!   refresh, or falls in the last min(300 s, 10 %) of the previous token's lifetime (measured
//!   from when the provider issued it, which is no later than when the target received it).

use std::collections::BTreeMap;

use transfersim_mock_providers::JournalOutcome;
use transfersim_mock_providers::journal::{TIMEOUT_IN_FLIGHT_MS, max_refreshes_in_flight};
use transfersim_sim::engine::ProviderName;
use transfersim_sim::world::World;

use super::Checker;

/// Never two refreshes at once per connection, and never one before it is due.
#[derive(Debug)]
pub struct RefreshesOneAtATimeAndOnlyWhenDue;

impl Checker for RefreshesOneAtATimeAndOnlyWhenDue {
    fn name(&self) -> &'static str {
        "refreshes_one_at_a_time_and_only_when_due"
    }

    fn check(&self, world: &World) -> Result<(), String> {
        for provider in ProviderName::ALL {
            let mock = world.mock(provider);
            let journal = mock.journal();
            if let Some((connection, most)) = max_refreshes_in_flight(journal)
                .into_iter()
                .find(|(_, most)| *most > 1)
            {
                return Err(format!(
                    "{} client {} grant {}: {most} token refreshes in flight at once",
                    provider.as_str(),
                    connection.client_id,
                    connection.grant_id
                ));
            }
            // Per connection: (when the last refresh was processed, whether it succeeded).
            let mut last: BTreeMap<(String, String), (u64, bool)> = BTreeMap::new();
            // Per account: when a 401 was last answered.
            let mut last_401: BTreeMap<String, u64> = BTreeMap::new();
            for entry in journal {
                let account = entry.account_id.clone().unwrap_or_default();
                if !entry.is_refresh() {
                    if entry.status == Some(401) {
                        last_401.insert(account, entry.at_ms);
                    }
                    continue;
                }
                let (Some(client), Some(grant)) = (&entry.client_id, &entry.grant_id) else {
                    continue;
                };
                let key = (client.clone(), grant.clone());
                // An answer slower than the target's timeout is a timeout to the target.
                let succeeded = entry.outcome == JournalOutcome::Answer
                    && entry.latency_ms < TIMEOUT_IN_FLIGHT_MS
                    && entry
                        .status
                        .is_some_and(|status| (200..300).contains(&status));
                if let Some(&(previous_at, previous_ok)) = last.get(&key) {
                    let lifetime_ms = mock
                        .account_options(&account)
                        .map(|options| options.token_lifetime_s * 1000)
                        .unwrap_or(0);
                    let window_ms = (lifetime_ms / 10).min(300_000);
                    let due = entry.at_ms >= previous_at + lifetime_ms - window_ms;
                    // A 401 for a token the provider no longer knows names no account.
                    let after_401 = [account.as_str(), ""]
                        .iter()
                        .filter_map(|name| last_401.get(*name))
                        .any(|&at| at >= previous_at);
                    if previous_ok && !due && !after_401 {
                        return Err(format!(
                            "{} client {client}: a token refresh at {} ms came {} ms after the last, before the token's refresh window and with no 401",
                            provider.as_str(),
                            entry.at_ms - (world.now() - world.elapsed_ms()),
                            entry.at_ms - previous_at
                        ));
                    }
                }
                last.insert(key, (entry.at_ms, succeeded));
            }
        }
        Ok(())
    }
}
