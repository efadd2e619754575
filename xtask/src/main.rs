//! Porthor's automation, run as `cargo xtask <command>`.
fn main() {}
