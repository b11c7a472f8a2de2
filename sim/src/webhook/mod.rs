//! Webhooks: Standard Webhooks signing and verification, the per-session outbox, and the
//! in-process receivers of the simulated world (CONTRACT.md sections 4 and 8, issue 5).
//!
//! - [`signature`]: `sign`, `headers` and `verify` (the last is for the runner and for users'
//!   own receivers: authentic and fresh within 5 minutes).
//! - [`outbox`]: one per session; decides which attempt goes out when (serial head-of-line or
//!   up to 8 concurrent, the 7-attempt retry ladder, `completed` held behind its transfer's
//!   `data` and `error`). `is_delivery_success` is the one definition of a delivered attempt.
//! - [`receiver`]: simulated endpoints answering on a schedule, with a log and checks
//!   (`arrivals_of`, `delivered_json`, `max_in_flight`, `verify_all`).
//!
//! How a driver wires them, per session, at each instant `now` (the tests in `tests.rs` do
//! exactly this):
//!
//! ```text
//! outbox.push(webhook)                                  as the engine produces webhooks
//! for attempt in outbox.start_due(now):                 after every input touching the outbox
//!     headers = signature::headers(secret, id, now / 1000, body) + Content-Type: application/json
//!     answer  = send (world: receiver.receive(now, endpoint, headers, body))
//!     at now + answer.ended_after_ms():                 the answer, or the 10 s timeout
//!         match outbox.on_result(that instant, id, answer.is_delivered())
//!             Dropped(webhook) => record an `internal` error (no error webhook)
//! timer at outbox.next_wake()                           the earliest retry; then start_due again
//! outbox.drop_all()                                     session deleted or expired
//! ```
//!
//! **Boundary:** all three are pure: time comes in as `now`, nothing here does IO or keeps a
//! clock. The engine and the world own the outboxes and receivers; nothing here knows sessions,
//! transfers' states or payload shapes.

pub mod outbox;
pub mod receiver;
pub mod signature;

#[cfg(test)]
mod tests;
