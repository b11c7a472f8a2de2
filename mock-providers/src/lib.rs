//! Hubspot and Salesforce mock providers: one pure definition per provider, served in-process on
//! virtual time or, behind the `http` feature, as an axum router on wall time.
//!
//! **Invariant:** outside the `http` feature, nothing here does IO, reads a clock, uses OS
//! randomness or iterates a hash map (`clippy.toml` enforces it).

pub mod seam;

pub use seam::{InProcessProvider, Millis, Outcome, ProviderRequest, ProviderResponse, Served};
