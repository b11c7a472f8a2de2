//! When a synchronous trigger is answered.
//!
//! **Invariant:** a synchronous trigger sent at `t` is answered no later than `t + 300 s`, and
//! - `200 completed` exactly at its transfer's completion (the transfer is completed, with
//!   `completed_at` equal to the answer's instant), or
//! - `202` exactly at `t + 300 s` (the cap), or
//! - `404` when its session is gone (deleted or expired): the session no longer exists.
//!
//! An answer whose transfer has since been removed with its session is checked for time only.
//! Reads the world's log of synchronous calls (when each was sent and answered, and why).

use transfersim_sim::engine::{SyncEnd, TransferState};
use transfersim_sim::limits::SYNCHRONOUS_CAP_MS;
use transfersim_sim::world::World;

use super::Checker;

/// A synchronous answer comes at completion, at 300 s, or at the session's end.
#[derive(Debug)]
pub struct SyncAnswerTiming;

impl Checker for SyncAnswerTiming {
    fn name(&self) -> &'static str {
        "sync_answer_timing"
    }

    fn check(&self, world: &World) -> Result<(), String> {
        let engine = world.engine();
        let now = world.now();
        let epoch = now - world.elapsed_ms();
        for call in world.sync_calls() {
            let sent = call.sent_at - epoch;
            let Some((at, end)) = call.answered else {
                if now - call.sent_at > SYNCHRONOUS_CAP_MS {
                    return Err(format!(
                        "the synchronous trigger of transfer {} sent at {sent} ms is still open after {} ms, past the 300 s cap",
                        call.transfer_id,
                        now - call.sent_at
                    ));
                }
                continue;
            };
            let waited = at - call.sent_at;
            if waited > SYNCHRONOUS_CAP_MS {
                return Err(format!(
                    "the synchronous trigger of transfer {} sent at {sent} ms was answered after {waited} ms, past the 300 s cap",
                    call.transfer_id
                ));
            }
            match end {
                SyncEnd::Capped if waited != SYNCHRONOUS_CAP_MS => {
                    return Err(format!(
                        "the synchronous trigger of transfer {} was answered 202 after {waited} ms, not at the 300 s cap",
                        call.transfer_id
                    ));
                }
                SyncEnd::Completed => {
                    let transfer = engine
                        .transfers()
                        .find(|transfer| transfer.id == call.transfer_id);
                    if let Some(transfer) = transfer
                        && (transfer.state != TransferState::Completed
                            || transfer.completed_at != Some(at))
                    {
                        return Err(format!(
                            "the synchronous trigger of transfer {} was answered 200 at {} ms, but the transfer is {} (completed at {:?})",
                            call.transfer_id,
                            at - epoch,
                            transfer.state.as_str(),
                            transfer.completed_at.map(|completed| completed - epoch)
                        ));
                    }
                }
                SyncEnd::SessionGone
                    if engine
                        .sessions()
                        .any(|session| session.id == call.session_id) =>
                {
                    return Err(format!(
                        "the synchronous trigger of transfer {} was answered 404 while its session {} still exists",
                        call.transfer_id, call.session_id
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }
}
