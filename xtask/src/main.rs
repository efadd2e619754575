//! Porthor's automation, run as `cargo xtask <command>`.
//!
//! `cargo xtask ci` is exactly what CI runs: `lint`, `deploy-lint`, `test`
//! (with `e2e`), `interop`, `bench --quick`, `hostile` and the short chaos
//! runs (`bench --quick --chaos redis-restart,redis-pause`). `cargo xtask
//! lint` checks formatting, runs clippy and rustdoc, audits the
//! dependencies for duplicates and checks that the generated docs are
//! current (`cargo xtask codegen` regenerates them); `cargo xtask
//! deploy-lint` lints `deploy/`
//! offline; `cargo xtask test` runs the workspace's tests against a
//! throwaway `redis-server`, then `cargo xtask e2e`, the pages in a real
//! browser (Chromium, playwright-core, axe-core); `cargo xtask interop` runs
//! other ecosystems' relying parties against a release
//! build; `cargo xtask bench` builds porthor-bench and load-tests a release
//! build end to end with it; `cargo xtask hostile` sends it 100,000
//! malformed requests with the same program. Each task is a plain function (mostly over
//! [`std::process::Command`]), so adding one means adding a [`Task`] variant
//! and a function. The harness the tasks share is the crate's library.
#![allow(
    clippy::print_stderr,
    reason = "a CLI tool talks to its user on the terminal; stdout stays with the tools it runs"
)]

mod codegen;
mod deploy_lint;
mod duplicates;
mod e2e;
mod interop;
mod npm;
mod testing;
#[cfg(test)]
mod tidy;

use std::process::{Command, ExitCode};

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use xtask::process::{Reported, cargo, run, step, target_dir, workspace_root};
use xtask::server;

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
    /// not installed), and stops the server again; then, unless packages
    /// were selected with `-p`, runs `e2e`, the browser flow. The relying parties of other ecosystems are a task of
    /// their own, `interop`.
    Test(TestArgs),
    /// Check formatting, run clippy and rustdoc with warnings denied, audit
    /// the dependencies for duplicates, and check that the generated files
    /// are current (`codegen --check`).
    ///
    /// `cargo fmt --check`, `cargo clippy --workspace --all-targets -- -D
    /// warnings` (and porthor-store with each backend feature alone),
    /// `cargo doc --workspace --no-deps` with RUSTDOCFLAGS=-D
    /// warnings, and `cargo tree --workspace --duplicates --edges
    /// normal,build` against xtask/allowed-duplicates.txt: a crate in two
    /// semver-incompatible versions fails unless listed there with a reason;
    /// then `codegen --check`.
    Lint,
    /// Regenerate the files made from the code: docs/porthor.schema.json
    /// and the reference part of docs/configuration.md, from the
    /// configuration types (their doc comments, defaults and `PORTHOR_*`
    /// variables) through `porthor config-schema`.
    ///
    /// With --check, change nothing and fail if a file differs from what
    /// would be generated; `lint` runs that.
    Codegen(CodegenArgs),
    /// Run exactly what CI runs: `lint`, `deploy-lint`, `test`, `interop`,
    /// `bench --quick`, `hostile` and `bench --quick --chaos
    /// redis-restart,redis-pause`, stopping at the first that fails.
    Ci,
    /// Load-test a release build end to end: build `porthor` and
    /// `porthor-bench` in release mode and run the bench.
    ///
    /// porthor-bench starts a throwaway redis-server and `porthor serve` for
    /// each configuration, drives full authorization-code flows at each
    /// concurrency, prints a table and writes target/bench/results.json
    /// (results-quick.json with --quick). It fails on any error, never on
    /// speed. With `--replicas N` it runs N servers on one Redis; with
    /// `--chaos redis-restart` or `--chaos redis-pause` it kills or freezes
    /// Redis under load instead and checks that the servers fail cleanly
    /// and recover. `cargo xtask bench -- --help` describes its options.
    Bench(BenchArgs),
    /// Send 100,000 malformed requests to a release build and check that
    /// it holds: build `porthor` and `porthor-bench` in release mode (unless
    /// --no-build) and run `porthor-bench --hostile`.
    ///
    /// One server (Redis store, RS256) gets random bytes, wrong methods, bad
    /// percent-encoding and UTF-8, oversized and duplicated fields, wrong
    /// content types, truncated bodies, pipelined requests and, meanwhile,
    /// slow headers. Fails on any 5xx but the documented 503s, "panic" in
    /// the server's log, a peak RSS over 256 MiB, or a failed
    /// authorization-code flow afterwards. Prints a table and writes
    /// target/bench/hostile.json. Options (`--requests N`, `--seed S`) are
    /// passed on.
    Hostile(BenchArgs),
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
    /// Lint deploy/ offline: hadolint, yamllint, compose-spec, the Helm
    /// chart rendered and validated against Kubernetes' schemas, and
    /// systemd-analyze.
    ///
    /// Installs the linters pinned in xtask/deploy-lint/requirements.txt
    /// (PyPI) into a venv under target/deploy-lint/ (again only when the
    /// pins change) and systemd-analyze (Debian's systemd, when missing and
    /// running as root), then runs xtask/deploy-lint/lint.py: one line per
    /// check, `N passed, M failed` last. No image is built and no chart
    /// installed (no Docker daemon, no cluster): see docs/operations.md.
    DeployLint,
    /// Drive the login, consent and logout pages in a real browser.
    ///
    /// Builds `porthor`, installs Debian's Chromium when it is missing (as
    /// root; otherwise fails saying so), installs playwright-core and
    /// axe-core, pinned in xtask/e2e/, into target/e2e/ (only when the pins
    /// change), starts a throwaway redis-server and `porthor serve` on
    /// loopback, and runs xtask/e2e/flow.mjs at a desktop and a 360 px phone
    /// viewport: each page is checked with axe-core (any serious or critical
    /// violation fails) and for sideways scrolling, and screenshotted into
    /// target/e2e/screenshots/. Prints every step and ends with one line, `N
    /// passed, M failed`. `test` runs it after the tests.
    E2e,
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
struct CodegenArgs {
    /// Only check that the committed files are current.
    #[arg(long)]
    check: bool,
}

#[derive(Debug, Args)]
struct BenchArgs {
    /// Use the existing release builds instead of building them.
    #[arg(long)]
    no_build: bool,
    /// porthor-bench's options, passed on: `--quick` (the five-second smoke
    /// run CI uses), `--duration SECS`, `--concurrency C,...`, `--max-flows
    /// N`, `--client-threads N`, `--server-env NAME=VALUE`, `--replicas N`,
    /// `--chaos FAULT`, open loop with `--rate R,...`, `--rate-sweep` and
    /// `--max-in-flight N`, `--configs NAME,...`; for `hostile`, `--requests
    /// N` and `--seed S`.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "BENCH_ARGS"
    )]
    bench_args: Vec<String>,
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
        Task::Codegen(args) => codegen::codegen(args.check),
        Task::Ci => ci(),
        Task::Bench(args) => bench(args),
        Task::Hostile(args) => hostile(args),
        Task::Interop => interop::interop(),
        Task::DeployLint => deploy_lint::deploy_lint(),
        Task::E2e => e2e::e2e(),
    }
}

fn ci() -> Result<()> {
    step("lint", lint)?;
    step("deploy-lint", deploy_lint::deploy_lint)?;
    test(&[])?;
    step("interop", interop::interop)?;
    let quick = BenchArgs {
        no_build: false,
        bench_args: vec!["--quick".to_owned()],
    };
    step("bench --quick", || bench(&quick))?;
    // The release binaries were just built for the bench.
    let hostile_args = BenchArgs {
        no_build: true,
        bench_args: Vec::new(),
    };
    step("hostile", || hostile(&hostile_args))?;
    let chaos = BenchArgs {
        no_build: true,
        bench_args: ["--quick", "--chaos", "redis-restart,redis-pause"]
            .map(str::to_owned)
            .into(),
    };
    step("bench --quick --chaos", || bench(&chaos))
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
    })?;
    // porthor-store's backends are features; each must build alone, for a
    // team that takes the memory store without Redis's dependencies (or the
    // reverse). The workspace build above only ever sees both.
    for backend in ["memory", "redis"] {
        step(
            &format!("clippy porthor-store --features {backend}"),
            || {
                run(cargo().args([
                    "clippy",
                    "--package",
                    "porthor-store",
                    "--no-default-features",
                    "--features",
                    backend,
                    "--",
                    "-D",
                    "warnings",
                ]))
            },
        )?;
    }
    step("doc", || {
        run(cargo()
            .env("RUSTDOCFLAGS", "-D warnings")
            .args(["doc", "--workspace", "--no-deps"]))
    })?;
    step("duplicates", duplicates::audit)?;
    step("codegen --check", || codegen::codegen(true))
}

impl BenchArgs {
    /// Whether to build, and porthor-bench's arguments. Everything from the
    /// first of porthor-bench's options on reaches `bench_args`, so an
    /// `--no-build` after one of them is picked out here.
    fn build_and_bench_args(&self) -> (bool, Vec<&str>) {
        let (no_build, bench_args): (Vec<_>, Vec<_>) = self
            .bench_args
            .iter()
            .map(String::as_str)
            .partition(|&arg| arg == "--no-build");
        (!self.no_build && no_build.is_empty(), bench_args)
    }
}

/// Builds the release binaries (unless told not to) and runs porthor-bench
/// with the given options.
fn bench(args: &BenchArgs) -> Result<()> {
    porthor_bench(args, &[])
}

/// Builds the release binaries (unless told not to) and runs
/// `porthor-bench --hostile` with the given options.
fn hostile(args: &BenchArgs) -> Result<()> {
    porthor_bench(args, &["--hostile"])
}

/// Builds the release binaries (unless told not to) and runs porthor-bench
/// with `mode` and then the given options.
fn porthor_bench(args: &BenchArgs, mode: &[&str]) -> Result<()> {
    let (build, bench_args) = args.build_and_bench_args();
    if build {
        step("build", server::build_release)?;
    }
    let release = target_dir()?.join("release");
    run(Command::new(release.join("porthor-bench"))
        .args(mode)
        .args(bench_args)
        .current_dir(workspace_root()))
}

/// The tests, then (even when they failed, to report everything) the
/// browser flow, unless the tests were narrowed to some packages: a run of
/// one crate's tests need not build the server and start a browser.
fn test(runner_args: &[String]) -> Result<()> {
    let tests = step("test", || testing::run_with_redis(runner_args));
    if !testing::is_whole_workspace(runner_args) {
        eprintln!("note: packages were selected with -p, so no e2e (`cargo xtask e2e` runs it)");
        return tests;
    }
    let e2e = step("e2e", e2e::e2e);
    tests?;
    e2e
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

    fn bench_args(args: &[&str]) -> BenchArgs {
        let cli = Cli::try_parse_from(["xtask", "bench"].iter().chain(args)).unwrap();
        let Task::Bench(args) = cli.task else {
            panic!("parsed as {:?}", cli.task);
        };
        args
    }

    #[test]
    fn the_bench_options_go_to_porthor_bench() {
        let args = bench_args(&["--quick", "--server-env", "A=1"]);
        assert_eq!(
            args.build_and_bench_args(),
            (true, ["--quick", "--server-env", "A=1"].into())
        );
        let args = bench_args(&["--no-build", "--quick"]);
        assert_eq!(args.build_and_bench_args(), (false, ["--quick"].into()));
        let args = bench_args(&["--quick", "--duration", "2", "--no-build"]);
        assert_eq!(
            args.build_and_bench_args(),
            (false, ["--quick", "--duration", "2"].into())
        );
        let args = bench_args(&["--", "--help"]);
        assert_eq!(args.build_and_bench_args(), (true, ["--help"].into()));
    }

    #[test]
    fn the_hostile_options_go_to_porthor_bench() {
        let cli =
            Cli::try_parse_from(["xtask", "hostile", "--requests", "10", "--no-build"]).unwrap();
        let Task::Hostile(args) = cli.task else {
            panic!("parsed as {:?}", cli.task);
        };
        assert_eq!(
            args.build_and_bench_args(),
            (false, ["--requests", "10"].into())
        );
    }

    #[test]
    fn runner_args_without_a_double_dash_are_rejected() {
        assert!(Cli::try_parse_from(["xtask", "test", "-p", "porthor-models"]).is_err());
        assert!(Cli::try_parse_from(["xtask", "ci", "--", "-p", "porthor-models"]).is_err());
    }
}
