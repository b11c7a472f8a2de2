//! One session's transfers run one at a time.

use std::collections::BTreeMap;

use transfersim_sim::engine::TransferState;
use transfersim_sim::world::World;

use super::Checker;

/// QUEUE: a session runs at most one transfer at a time.
#[derive(Debug)]
pub struct OneTransferAtATimePerSession;

impl Checker for OneTransferAtATimePerSession {
    fn name(&self) -> &'static str {
        "one_transfer_at_a_time_per_session"
    }

    fn check(&self, world: &World) -> Result<(), String> {
        let mut running: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for transfer in world.engine().transfers() {
            if transfer.state == TransferState::Running {
                running
                    .entry(transfer.session_id.as_str())
                    .or_default()
                    .push(transfer.id.as_str());
            }
        }
        match running.iter().find(|(_, ids)| ids.len() > 1) {
            Some((session, ids)) => Err(format!(
                "session {session} runs {} transfers at once: {}",
                ids.len(),
                ids.join(", ")
            )),
            None => Ok(()),
        }
    }
}
