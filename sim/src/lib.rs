//! The in-memory transfer service: a pure engine, a pure API layer and the simulated world.
//!
//! - [`engine`]: sessions, transfers, the per-session queue and the provider pipeline.
//! - [`api`]: HTTP request → engine command → HTTP response, for every route.
//! - [`connector`]: the per-provider seam the pipeline drives.
//! - [`wire`]: typed JSON reading and direct JSON writing for the record-carrying bodies.
//! - [`world`]: the discrete-event simulation that hosts the engine, providers and the clock.
//!
//! **Invariant:** nothing in this crate does IO, reads a clock, uses OS randomness or iterates a
//! hash map. `clippy.toml` beside this crate enforces it.

pub mod api;
pub mod connector;
pub mod connectors;
pub mod engine;
pub mod limits;
#[cfg(feature = "mutations")]
pub mod mutations;
pub mod schema;
pub mod time;
pub mod webhook;
pub mod wire;
pub mod world;
