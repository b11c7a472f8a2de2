//! Nothing is visible across API keys.
//!
//! **Invariant:** for every session and transfer, and every API key other than its owner's, the
//! engine's lookups answer "not found": the session, the transfer, its statistics and its error
//! records. Every id is probed with every other key the engine knows.

use transfersim_sim::world::World;

use super::Checker;

/// Every id probed with every other key is unknown to it.
#[derive(Debug)]
pub struct KeyIsolation;

impl Checker for KeyIsolation {
    fn name(&self) -> &'static str {
        "key_isolation"
    }

    fn check(&self, world: &World) -> Result<(), String> {
        let engine = world.engine();
        let now = world.now();
        let keys: Vec<&str> = engine.api_keys().collect();
        for session in engine.sessions() {
            for key in keys.iter().filter(|key| **key != session.key) {
                if engine.session(now, key, &session.id).is_some() {
                    return Err(format!("session {} is visible to another key", session.id));
                }
                if engine.errors(now, key, Some(&session.id), None).is_ok() {
                    return Err(format!(
                        "the error records of session {} are visible to another key",
                        session.id
                    ));
                }
            }
        }
        for transfer in engine.transfers() {
            for key in keys.iter().filter(|key| **key != transfer.key) {
                if engine.transfer(now, key, &transfer.id).is_some()
                    || engine.statistics(now, key, &transfer.id).is_ok()
                {
                    return Err(format!(
                        "transfer {} (session {}) is visible to another key",
                        transfer.id, transfer.session_id
                    ));
                }
            }
        }
        Ok(())
    }
}
