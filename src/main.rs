//! The `transfersim` binary: a thin `main` that parses flags, calls [`transfersim::cli::run`] and
//! maps the outcome to an exit code (0 success, 1 a check or fuzz failure, 2 bad input or an
//! unavailable command).

use std::process::ExitCode;

fn main() -> ExitCode {
    transfersim::cli::main()
}
