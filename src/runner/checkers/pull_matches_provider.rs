//! Pulled data equals the provider's records.
//!
//! **Invariant:** a completed pull with no page failures and no error records, on a live
//! session that is not a sync session, without filters, whose provider object did not change
//! since the pull started (no record created, updated or removed since `started_at`), delivered
//! exactly the provider's records of that object, in provider order (ascending id): none lost,
//! none repeated, none invented.

use transfersim_sim::engine::{Direction, TransferState};
use transfersim_sim::world::World;

use super::{Checker, account_of, object_of};

/// A clean pull delivers exactly the provider's records, in order.
#[derive(Debug)]
pub struct PullMatchesProvider;

impl Checker for PullMatchesProvider {
    fn name(&self) -> &'static str {
        "pull_matches_provider"
    }

    fn check(&self, world: &World) -> Result<(), String> {
        let engine = world.engine();
        let now = world.now();
        for transfer in engine.transfers() {
            if transfer.direction != Direction::Pull
                || transfer.state != TransferState::Completed
                || transfer.pages_failed > 0
                || transfer.error_count > 0
                || !transfer.filters.is_empty()
            {
                continue;
            }
            let (Some(started), Some(session)) = (
                transfer.started_at,
                engine.session(now, &transfer.key, &transfer.session_id),
            ) else {
                continue;
            };
            let Some(binding) = session.binding.as_ref().filter(|_| !session.sync) else {
                continue;
            };
            let Some((mock, account)) = account_of(world, binding) else {
                continue;
            };
            let object = object_of(binding.provider, transfer.endgrate_type);
            let Ok(records) = mock.records(&account, object) else {
                continue;
            };
            let changed = mock
                .last_removal_ms(&account, object)
                .is_some_and(|removed| removed >= started)
                || records
                    .iter()
                    .any(|record| record_changed_since(record, started));
            if changed {
                continue;
            }
            let expected: Vec<&str> = records.iter().map(|record| record.id.as_str()).collect();
            let pulled: Vec<&str> = transfer
                .pulled
                .iter()
                .map(|item| item.id.as_str())
                .collect();
            if pulled != expected {
                let lost: Vec<&&str> = expected.iter().filter(|id| !pulled.contains(id)).collect();
                return Err(format!(
                    "pull {} delivered {} records but the provider holds {} ({object}); lost: {:?}; delivered: {:?}",
                    transfer.id,
                    pulled.len(),
                    expected.len(),
                    lost.iter().take(10).collect::<Vec<_>>(),
                    pulled.iter().take(20).collect::<Vec<_>>()
                ));
            }
        }
        Ok(())
    }
}

/// Whether a record was created or updated at or after `instant` (its RFC 3339 times compared
/// as milliseconds).
fn record_changed_since(record: &transfersim_mock_providers::RecordView, instant: u64) -> bool {
    let at = |text: &str| transfersim_sim::time::parse_rfc3339(text).unwrap_or(u64::MAX);
    at(&record.created_at) >= instant || at(&record.updated_at) >= instant
}
