//! No transfer starts before its session is configured.

use std::collections::BTreeMap;

use transfersim_sim::world::World;

use super::Checker;

/// QUEUE: a transfer leaves `queued` only once its session is configured.
#[derive(Debug)]
pub struct NoTransferBeforeConfiguration;

impl Checker for NoTransferBeforeConfiguration {
    fn name(&self) -> &'static str {
        "no_transfer_before_configuration"
    }

    fn check(&self, world: &World) -> Result<(), String> {
        let sessions: BTreeMap<&str, bool> = world
            .engine()
            .sessions()
            .map(|session| (session.id.as_str(), session.binding.is_some()))
            .collect();
        for transfer in world.engine().transfers() {
            let configured = sessions.get(transfer.session_id.as_str()).copied();
            if transfer.started_at.is_some() && configured == Some(false) {
                return Err(format!(
                    "transfer {} started while its session {} is not configured",
                    transfer.id, transfer.session_id
                ));
            }
        }
        Ok(())
    }
}
