//! Invariant checkers over the simulated world, run by the `invariants` step (and, later, after
//! every fuzz step). Each is one question about global state, answered from the world's public
//! view, in the spirit of TigerBeetle's VOPR checkers.
//!
//! The registry is a plain list: [`all`] gives every checker in a fixed order, [`by_name`] finds
//! one. The fuzz issue adds the rest.

use std::collections::BTreeMap;

use transfersim_sim::engine::TransferState;
use transfersim_sim::world::World;

/// One global invariant.
pub trait Checker: Send + Sync {
    /// The name a scenario uses in `invariants: [NAME]`.
    fn name(&self) -> &'static str;

    /// `Err` says what is broken, naming the ids involved.
    fn check(&self, world: &World) -> Result<(), String>;
}

/// Every registered checker, in a fixed order.
pub fn all() -> Vec<Box<dyn Checker>> {
    vec![
        Box::new(NoTransferBeforeConfiguration),
        Box::new(OneTransferAtATimePerSession),
        Box::new(FifoPerSession),
        Box::new(TimesInOrder),
    ]
}

/// The checker with this name.
pub fn by_name(name: &str) -> Option<Box<dyn Checker>> {
    all().into_iter().find(|checker| checker.name() == name)
}

/// The names of every checker, for messages.
pub fn names() -> Vec<&'static str> {
    all().iter().map(|checker| checker.name()).collect()
}

/// QUEUE: a transfer leaves `queued` only once its session is configured.
#[derive(Debug)]
struct NoTransferBeforeConfiguration;

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

/// QUEUE: a session runs at most one transfer at a time.
#[derive(Debug)]
struct OneTransferAtATimePerSession;

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

/// QUEUE: a session's transfers start in trigger order (and completed ones completed in it).
#[derive(Debug)]
struct FifoPerSession;

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

/// TRANSFER: triggered ≤ started ≤ completed, and a completed transfer has both times.
#[derive(Debug)]
struct TimesInOrder;

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
