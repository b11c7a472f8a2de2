//! A transfer's times are in order.

use transfersim_sim::engine::TransferState;
use transfersim_sim::world::World;

use super::Checker;

/// TRANSFER: triggered ≤ started ≤ completed, and a completed transfer has both times.
#[derive(Debug)]
pub struct TimesInOrder;

impl Checker for TimesInOrder {
    fn name(&self) -> &'static str {
        "times_in_order"
    }

    fn check(&self, world: &World) -> Result<(), String> {
        for transfer in world.engine().transfers() {
            let started_ok = transfer
                .started_at
                .is_none_or(|started| started >= transfer.triggered_at);
            let completed_ok = match (transfer.state, transfer.started_at, transfer.completed_at) {
                (TransferState::Completed, Some(started), Some(completed)) => completed >= started,
                (TransferState::Completed, _, _) => false,
                (_, _, completed) => completed.is_none(),
            };
            if !started_ok || !completed_ok {
                return Err(format!(
                    "transfer {} has times out of order: triggered {}, started {:?}, completed {:?}, state {}",
                    transfer.id,
                    transfer.triggered_at,
                    transfer.started_at,
                    transfer.completed_at,
                    transfer.state.as_str()
                ));
            }
        }
        Ok(())
    }
}
