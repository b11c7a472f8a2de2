//! One session's transfers start in trigger order.

use std::collections::BTreeMap;

use transfersim_sim::world::World;

use super::Checker;

/// QUEUE: a session's transfers start in trigger order (and completed ones completed in it).
#[derive(Debug)]
pub struct FifoPerSession;

impl Checker for FifoPerSession {
    fn name(&self) -> &'static str {
        "fifo_per_session"
    }

    fn check(&self, world: &World) -> Result<(), String> {
        let mut by_session: BTreeMap<&str, Vec<_>> = BTreeMap::new();
        for transfer in world.engine().transfers() {
            by_session
                .entry(transfer.session_id.as_str())
                .or_default()
                .push(transfer);
        }
        for (session, transfers) in by_session {
            for earlier in &transfers {
                for later in &transfers {
                    if earlier.triggered_at >= later.triggered_at {
                        continue;
                    }
                    let out_of_order = match (earlier.started_at, later.started_at) {
                        (None, Some(_)) => true,
                        (Some(first), Some(second)) => first > second,
                        _ => false,
                    };
                    if out_of_order {
                        return Err(format!(
                            "session {session}: transfer {} (triggered later) started before {}",
                            later.id, earlier.id
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}
