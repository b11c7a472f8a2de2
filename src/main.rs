//! The `transfersim` binary: a thin `main` that parses flags, calls [`transfersim::cli::run`] and
//! maps the outcome to an exit code (0 success, 1 a check or fuzz failure, 2 bad input or an
//! unavailable command).

use std::process::ExitCode;

/// mimalloc rather than the system allocator: the simulated world allocates and frees many small
/// strings per record, and glibc's malloc spent a third of the standard workload's time in
/// `_int_malloc`, `_int_free` and `malloc_consolidate` (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    transfersim::cli::main()
}
