//! The root package of transfersim: the command-line interface and, as they land, the scenario
//! runner, its targets, reports and the serve driver. The in-memory service itself lives in
//! `transfersim-sim`; the mock providers in `transfersim-mock-providers`.

pub mod check;
pub mod cli;
pub mod fuzz;
pub mod load;
pub mod providers;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod serve;
