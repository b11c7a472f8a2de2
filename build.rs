//! Rebuilds the binary when the embedded suite or spec changes: `include_dir!` sees the files
//! that existed at the last build, and a new scenario file must be picked up too.

fn main() {
    println!("cargo:rerun-if-changed=scenarios");
    println!("cargo:rerun-if-changed=spec/requirements.md");
}
