//! The harness shared by `cargo xtask` and porthor-bench: running programs
//! and reporting on them ([`process`]), a throwaway `redis-server`
//! ([`redis`]), and a `porthor serve` under test with generated keys and
//! configuration ([`server`]).
//!
//! The tasks themselves live in the `xtask` binary (`src/main.rs`). Like the
//! binary, this library depends on nothing in the workspace: it drives
//! `porthor` through its command line and its configuration file only.
#![allow(
    clippy::print_stderr,
    reason = "a CLI tool talks to its user on the terminal; stdout stays with the tools it runs"
)]

pub mod process;
pub mod redis;
pub mod server;
