#!/usr/bin/env bash
# The project's whole test command (README): format, lints, then every test with every feature
# (the `mutations` feature carries the proofs that the tests catch bugs).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --all-features -- -D warnings
cargo test --workspace --all-features
cargo test --workspace --all-features --benches
