//! Liveness.
//!
//! **Invariant:** once faults have stopped and quota has freed (the fuzzer removes every fault
//! and advances 26 h, longer than the 24 h salesforce window and the 24 h rate-limit give-up),
//! every transfer of a configured session that is still live (not deleted, not expired) has
//! completed. Checked only in `invariants` steps ([`Phase::Settled`]), which fuzz workloads
//! put after that settle; it does not hold mid-run, where transfers are legitimately running.

use transfersim_sim::engine::TransferState;
use transfersim_sim::world::World;

use super::{Checker, Phase};

/// Every transfer of a configured, live session completes once the world settles.
#[derive(Debug)]
pub struct Liveness;

impl Checker for Liveness {
    fn name(&self) -> &'static str {
        "liveness"
    }

    fn phase(&self) -> Phase {
        Phase::Settled
    }

    fn check(&self, world: &World) -> Result<(), String> {
        let engine = world.engine();
        let now = world.now();
        for transfer in engine.transfers() {
            let Some(session) = engine.session(now, &transfer.key, &transfer.session_id) else {
                continue;
            };
            if session.binding.is_none() || transfer.state == TransferState::Completed {
                continue;
            }
            return Err(format!(
                "transfer {} of configured session {} is still {} after the settle (triggered at {} ms)",
                transfer.id,
                session.id,
                transfer.state.as_str(),
                transfer
                    .triggered_at
                    .saturating_sub(now - world.elapsed_ms())
            ));
        }
        Ok(())
    }
}
