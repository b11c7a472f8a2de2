//! The in-memory transfer service: a pure engine, a pure API layer and the simulated world.
//!
//! **Invariant:** nothing in this crate does IO, reads a clock, uses OS randomness or iterates a
//! hash map. `clippy.toml` beside this crate enforces it.
