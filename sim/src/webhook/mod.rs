//! Webhooks: Standard Webhooks signing and verification, the per-session outbox, and the
//! in-process receivers of the simulated world.

pub mod outbox;
pub mod signature;
