//! Porthor's automation, run as `cargo xtask <command>`.
//!
//! `cargo xtask ci` is exactly what CI runs; `cargo xtask test` runs the
//! workspace's tests against a throwaway `redis-server`; `cargo xtask lint`
//! checks formatting and runs clippy; `cargo xtask bench` load-tests a
//! release build end to end. Each task is a plain function (mostly over
//! [`std::process::Command`]), so adding one means adding a [`Task`] variant
//! and a function.
#![allow(
    clippy::print_stderr,
    reason = "a CLI tool talks to its user on the terminal; stdout stays with the tools it runs"
)]

mod bench;
mod interop;
mod process;
mod redis;
mod server;
mod testing;
#[cfg(test)]
mod tidy;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use crate::process::{Reported, cargo, run, step};

/// Porthor's build and test automation.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", about)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Run the workspace's tests against a throwaway redis-server.
    ///
    /// Starts `redis-server` on a free loopback port, exports
    /// PORTHOR_TEST_REDIS_URL, runs `cargo nextest run --workspace
    /// --no-fail-fast` and then `cargo test --workspace --doc --no-fail-fast`
    /// (or just `cargo test --workspace --no-fail-fast` when cargo-nextest is
    /// not installed), and stops the server again. Then, unless the runner
    /// arguments select part of the suite, runs `interop`: the relying
    /// parties of other ecosystems are part of the test suite.
    Test(TestArgs),
    /// Check formatting and run clippy with warnings denied.
    Lint,
    /// Run exactly what CI runs: `lint`, then `test`.
    Ci,
    /// Load-test a release build end to end and report throughput, latency,
    /// CPU and memory.
    ///
    /// Builds `porthor` in release mode, starts a throwaway redis-server and
    /// `porthor serve` on loopback (RUST_LOG=warn), logs 64 users in through
    /// the login form, and drives full authorization-code flows (authorize
    /// with the session cookie, token with client_secret_basic, userinfo),
    /// checking every status and the ID token's signature, state and nonce.
    /// Runs at each concurrency for Redis + RS256, Redis + ES256 and the
    /// memory store + RS256, and also measures the key's signing cost,
    /// discovery + JWKS requests/s and logins/s. Prints a table and writes
    /// target/bench/results.json (results-quick.json with --quick). Fails on
    /// any error, never on speed. The load generator is xtask itself, built
    /// in release mode alongside porthor and re-run from there.
    Bench(BenchArgs),
    /// Run real relying-party libraries against a release build.
    ///
    /// Builds `porthor` in release mode, installs Python's authlib (in a
    /// venv) and Node's openid-client 6, pinned in xtask/interop/, into
    /// target/interop/ (again only when the pins change), starts a
    /// throwaway redis-server and `porthor serve` on loopback, and runs one
    /// relying-party script per library: discovery, an authorization URL
    /// with PKCE S256, nonce and state, a login through the form, the code
    /// exchange with ID token validation against the JWKS, userinfo, and the
    /// refresh-token grant. Prints every check and ends with one line, `N
    /// passed, M failed`, counting checks; fails if any check failed or
    /// anything could not start.
    Interop,
}

#[derive(Debug, Args)]
struct TestArgs {
    /// Extra arguments for the test runner, after `--`.
    ///
    /// All of them go to `cargo nextest run` (or `cargo test`). Package,
    /// feature and profile selection (`-p`, `--exclude`, `-F`,
    /// `--all-features`, `--no-default-features`, `--release`, `--locked`,
    /// `--frozen`, `--offline`, `--target-dir`) also goes to the doctest run.
    /// Selecting packages with `-p` replaces `--workspace`.
    /// Example: `cargo xtask test -- -p porthor-models`.
    #[arg(last = true, value_name = "RUNNER_ARGS")]
    runner_args: Vec<String>,
}

#[derive(Debug, Args)]
struct BenchArgs {
    /// A smoke run of about five seconds of load (what CI runs): every step
    /// and configuration once, briefly. Fails if any error occurred.
    #[arg(long)]
    quick: bool,
    /// Seconds per concurrency level (default 10; 0.7 with --quick).
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
    /// Concurrency levels: virtual users, each with its own keep-alive
    /// connection.
    #[arg(
        long,
        value_name = "C,...",
        value_delimiter = ',',
        default_value = "1,16,64"
    )]
    concurrency: Vec<usize>,
    /// The most flows started per level, whatever the duration.
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    max_flows: u64,
    /// Threads of the load generator (it shares the machine with the
    /// server, so keep it small).
    #[arg(long, value_name = "N", default_value_t = 1)]
    client_threads: usize,
    /// Extra environment for `porthor serve`, e.g. to try allocator
    /// settings (repeatable; recorded in the results).
    #[arg(long, value_name = "NAME=VALUE")]
    server_env: Vec<String>,
    /// Use the existing release builds instead of building them.
    #[arg(long)]
    no_build: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run_task(&cli.task) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.is::<Reported>() => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_task(task: &Task) -> Result<()> {
    match task {
        Task::Test(args) => test(&args.runner_args),
        Task::Lint => lint(),
        Task::Ci => {
            lint()?;
            test(&[])
        }
        Task::Bench(args) => bench::bench(args),
        Task::Interop => interop::interop(),
    }
}

fn lint() -> Result<()> {
    step("fmt", || {
        run(cargo().args(["fmt", "--all", "--", "--check"]))
    })?;
    step("clippy", || {
        run(cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))
    })
}

fn test(runner_args: &[String]) -> Result<()> {
    step("test", || testing::run_with_redis(runner_args))?;
    // A selection (`-- -p porthor-models`, a test filter) is a quick check
    // of part of the code; only the whole suite includes the interop run,
    // which needs a release build.
    if runner_args.is_empty() {
        interop::interop()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn runner_args_come_after_a_double_dash() {
        let cli = Cli::try_parse_from(["xtask", "test", "--", "-p", "porthor-models", "--", "x"])
            .unwrap();
        let Task::Test(args) = cli.task else {
            panic!("parsed as {:?}", cli.task);
        };
        assert_eq!(args.runner_args, ["-p", "porthor-models", "--", "x"]);
    }

    #[test]
    fn runner_args_without_a_double_dash_are_rejected() {
        assert!(Cli::try_parse_from(["xtask", "test", "-p", "porthor-models"]).is_err());
        assert!(Cli::try_parse_from(["xtask", "ci", "--", "-p", "porthor-models"]).is_err());
    }
}
