//! Shared by the benches: whether this is a real measurement (`cargo bench`) or criterion's test
//! mode (`cargo test --benches`, each bench once), so that test mode can run a scaled-down
//! workload and stay within CI's budget.

/// `cargo bench` passes `--bench` to the bench binary; `cargo test --benches` does not.
#[allow(dead_code)]
pub fn measuring() -> bool {
    std::env::args().any(|arg| arg == "--bench")
}

/// The allocator of the `transfersim` binary (src/main.rs), so bench figures match the CLI's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
