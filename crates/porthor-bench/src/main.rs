//! porthor-bench: end-to-end load on a release build of `porthor serve`,
//! run by `cargo xtask bench` (which builds it and `porthor` first).
//!
//! For each configuration (Redis + RS256, Redis + ES256, memory + RS256) it
//! starts a throwaway `redis-server` where needed and a server on a free
//! loopback port, logs the users in through the real login form, and drives
//! full authorization-code flows (authorize, token, userinfo, every answer
//! checked) at each concurrency from the generator in [`load`], or open
//! loop at fixed arrival rates (`--rate`, `--rate-sweep`), and refreshes
//! (rotation, then userinfo) at the top concurrency. Around each
//! phase it reads the server's (and Redis's, and its own) CPU time and the
//! server's RSS from `/proc`, and it measures the configured key's signing
//! cost in-process, so that server CPU per flow can be compared with it.
//! Discovery + JWKS requests/s and logins/s complete the picture.
//!
//! Results go to stdout as a table and to `target/bench/results.json`
//! (`results-quick.json` for `--quick`, the 5-second smoke run CI uses).
//! Any error (an unexpected status, a missing code, a bad state, nonce or
//! signature, a transport failure) makes the run fail; speed never does.
//!
//! It owns the plan (configurations, levels, durations), the load generator
//! and its HTTP/1.1 client, the measurements and the report. It must not
//! know porthor's insides: it meets the server only as a deployment and its
//! users would, through the `porthor` command line, the configuration file
//! (both through the xtask harness) and HTTP. Of the product's crates it
//! uses porthor-signer alone, to verify ID tokens against the configured key
//! and to measure what a signature costs. Nor does it know how it is built:
//! it finds `porthor` beside its own executable, in cargo's release
//! directory.
#![allow(
    clippy::print_stderr,
    reason = "progress and warnings go to the terminal; stdout carries the table"
)]

mod chaos;
mod flows;
mod hostile;
mod http;
mod load;
mod overhead;
mod phases;
mod procfs;
mod redis_stats;
mod report;
mod stats;

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use clap::Parser;
use porthor_signer::Signer;
use serde::Serialize;
use tokio::runtime::Runtime;
use xtask::process::step;
use xtask::redis::Redis;
use xtask::server::{Client, Credentials, Server, Setup, Store};

use self::load::{Bounds, Outcome, Work};
use self::report::{ConfigResult, LevelResult, Machine, Rate, Report, Rss, Settings, Signing};

/// Load-test a release build of `porthor serve` end to end and report
/// throughput, latency, CPU and memory.
///
/// Starts a throwaway redis-server and `porthor serve` on loopback
/// (RUST_LOG=warn), logs 64 users in through the login form, and drives full
/// authorization-code flows (authorize with the session cookie, token with
/// client_secret_basic, userinfo), checking every status and the ID token's
/// signature, state and nonce. Runs at each concurrency for Redis + RS256,
/// Redis + ES256 and the memory store + RS256 (or, with --rate, open loop at
/// each arrival rate), then refreshes at the top concurrency (rotate the
/// refresh token, userinfo with the new access token), and also measures
/// the key's signing cost, discovery + JWKS requests/s and logins/s. Prints
/// a table and writes target/bench/results.json (results-quick.json with
/// --quick). Fails on any error, never on speed. `porthor` must be built
/// (release) beside this program: `cargo xtask bench` builds both and runs
/// it.
#[derive(Debug, Parser)]
#[command(name = "porthor-bench", about, long_about)]
struct Cli {
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
    /// Open-loop steps instead of the concurrency levels: flows fall due at
    /// R per second and start on time whether or not earlier ones have
    /// finished, and each flow's latency counts from when it was due.
    #[arg(long, value_name = "R,...", value_delimiter = ',')]
    rate: Vec<f64>,
    /// Open-loop steps in ascending order (--rate's, or 500, 1000, ...,
    /// 20000 flows/s), stopping after the first whose flow p99 exceeds
    /// 10 ms or whose flows could not all start; reports where p99 crosses
    /// 10 ms.
    #[arg(long)]
    rate_sweep: bool,
    /// Open-loop flows (and so connections) in flight at most; a due flow
    /// waits for a free slot, and the waits are reported.
    #[arg(long, value_name = "N", default_value_t = 256)]
    max_in_flight: usize,
    /// Only these configurations (redis-rs256, redis-es256, memory-rs256).
    #[arg(long, value_name = "NAME,...", value_delimiter = ',')]
    configs: Vec<String>,
    /// Extra environment for `porthor serve`, e.g. to try allocator
    /// settings (repeatable; recorded in the results).
    #[arg(long, value_name = "NAME=VALUE")]
    server_env: Vec<String>,
    /// `porthor serve` processes per Redis configuration, on the one Redis
    /// and configuration file; virtual user `i` connects to replica `i % N`
    /// (round robin by connection). CPU is summed over the replicas, RSS is
    /// the largest one's. Above 1 the memory-store configuration is left
    /// out (a memory store cannot be shared).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=16))]
    replicas: u16,
    /// Instead of the bench, a fault under full load (repeatable, or
    /// comma-separated): `redis-restart` kills Redis and starts it again,
    /// `redis-pause` freezes it (SIGSTOP) for longer than the store's
    /// command timeout. Fails on any 5xx but 503, a failed request that is
    /// not `temporarily_unavailable`, a code or refresh token accepted twice,
    /// a panic, a flow rate not back to 90% within 5 s, or unbounded memory.
    /// Writes `target/bench/chaos-<fault>.json` (`chaos-<fault>-quick.json`
    /// with --quick, the short CI run).
    #[arg(
        long,
        value_name = "FAULT",
        value_delimiter = ',',
        conflicts_with = "hostile"
    )]
    chaos: Vec<chaos::Fault>,
    /// Instead of the bench, measure what metrics cost: ROUNDS runs of
    /// Redis and ES256 at the top concurrency with metrics off and ROUNDS with them
    /// on, alternating, each on a fresh server; prints the median flows/s of
    /// each and their ratio, and writes target/bench/metrics-overhead.json.
    #[arg(long, value_name = "ROUNDS", conflicts_with = "hostile")]
    metrics_overhead: Option<usize>,
    /// Instead of the bench, the hostile run: malformed requests (random
    /// bytes, wrong methods, broken encodings, oversized, duplicated and
    /// truncated parts, slow headers) against one server, failing on any 5xx
    /// but the documented 503s, a panic in its log, a peak RSS over 256 MiB
    /// or a broken happy path afterwards. Writes target/bench/hostile.json.
    #[arg(long)]
    hostile: bool,
    /// Malformed requests in the hostile run.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 100_000,
        requires = "hostile"
    )]
    requests: usize,
    /// Seed of the hostile run's requests (default: from the clock; printed,
    /// so that a failing run can be repeated).
    #[arg(long, value_name = "S", requires = "hostile")]
    seed: Option<u64>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = if cli.hostile {
        run_hostile(&cli)
    } else if !cli.chaos.is_empty() {
        run_chaos(&cli)
    } else if let Some(rounds) = cli.metrics_overhead {
        metrics_overhead(&cli, rounds)
    } else {
        bench(&cli)
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The one client registered on the server.
const CLIENT_ID: &str = "bench";
/// Where the client's authorization responses go (nothing listens there).
const REDIRECT_URI: &str = "http://127.0.0.1:9/cb";

/// The open-loop step of `--quick`, in flows per second.
const QUICK_RATE: f64 = 200.0;

/// Users logged in before the load (and so sessions the flows spread over).
const USERS: usize = 64;

/// Concurrent logins, for the sessions and for the logins/s phase: argon2id
/// is CPU-bound, so more than the cores would only queue.
fn login_concurrency() -> usize {
    std::thread::available_parallelism()
        .map_or(2, usize::from)
        .clamp(2, 4)
}

/// Which store a configuration uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StoreKind {
    Redis,
    Memory,
}

/// What to run against one server configuration.
#[derive(Debug, Clone, PartialEq)]
struct ConfigPlan {
    name: &'static str,
    store: StoreKind,
    alg: &'static str,
    users: usize,
    /// Unmeasured flows before the levels.
    warmup: Duration,
    levels: Vec<usize>,
    level: Duration,
    /// Open-loop steps, in flows per second, each `rate_step` long.
    rates: Vec<f64>,
    rate_step: Duration,
    well_known: Option<Duration>,
    logins: Option<Duration>,
    /// Refreshes at the top concurrency.
    refreshes: Option<Duration>,
    signing: Duration,
}

/// The whole run, from the command line.
#[derive(Debug, Clone, PartialEq)]
struct Plan {
    quick: bool,
    level: Duration,
    concurrency: Vec<usize>,
    max_flows: u64,
    client_threads: usize,
    /// Extra environment for the server.
    server_env: Vec<(String, String)>,
    /// Server processes per configuration.
    replicas: usize,
    configs: Vec<ConfigPlan>,
    /// Whether the open-loop steps stop at the first that crosses the
    /// threshold.
    sweep: bool,
    max_in_flight: usize,
}

impl Plan {
    /// The load generator's runtime, on `client_threads` threads.
    fn runtime(&self) -> Result<Runtime> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(self.client_threads)
            .enable_all()
            .build()
            .context("could not start the load generator's runtime")
    }

    fn new(args: &Cli) -> Result<Self> {
        let mut concurrency = args.concurrency.clone();
        concurrency.retain(|&c| c > 0);
        if concurrency.is_empty() {
            bail!("--concurrency needs at least one level above zero");
        }
        let default_level = if args.quick { 0.7 } else { 10.0 };
        let seconds = args.duration.unwrap_or(default_level);
        if !(seconds.is_finite() && seconds > 0.0 && seconds <= 3600.0) {
            bail!("--duration must be between 0 and 3600 seconds");
        }
        let level = Duration::from_secs_f64(seconds);
        let top = concurrency.iter().copied().max().unwrap_or(1);
        let full = |name, store, alg| ConfigPlan {
            name,
            store,
            alg,
            users: USERS,
            warmup: Duration::from_secs(1),
            levels: concurrency.clone(),
            level,
            rates: Vec::new(),
            rate_step: level,
            well_known: Some(level),
            logins: Some(Duration::from_secs(2)),
            refreshes: Some(level),
            signing: Duration::from_secs(1),
        };
        let mut configs = if args.quick {
            // About five seconds of load in all: the primary configuration
            // in full, the others at the top concurrency only.
            let brief = |name, store, alg| ConfigPlan {
                users: 16,
                warmup: Duration::ZERO,
                levels: vec![top],
                level: level.mul_f64(0.7),
                well_known: None,
                logins: None,
                refreshes: None,
                signing: Duration::from_millis(200),
                ..full(name, store, alg)
            };
            vec![
                ConfigPlan {
                    warmup: Duration::from_millis(200),
                    // A brief open-loop step, so that CI runs that
                    // generator against a real server too.
                    rates: vec![QUICK_RATE],
                    rate_step: Duration::from_millis(200),
                    well_known: Some(Duration::from_millis(300)),
                    logins: Some(Duration::from_millis(500)),
                    refreshes: Some(Duration::from_millis(300)),
                    signing: Duration::from_millis(200),
                    ..full("redis-rs256", StoreKind::Redis, "RS256")
                },
                brief("redis-es256", StoreKind::Redis, "ES256"),
                brief("memory-rs256", StoreKind::Memory, "RS256"),
            ]
        } else {
            vec![
                full("redis-rs256", StoreKind::Redis, "RS256"),
                full("redis-es256", StoreKind::Redis, "ES256"),
                full("memory-rs256", StoreKind::Memory, "RS256"),
            ]
        };
        let replicas = usize::from(args.replicas);
        if replicas > 1 {
            configs.retain(|config| config.store == StoreKind::Redis);
        }
        if !args.configs.is_empty() {
            if let Some(unknown) = args
                .configs
                .iter()
                .find(|name| !configs.iter().any(|c| c.name == name.as_str()))
            {
                bail!("--configs: no configuration is called {unknown:?}");
            }
            configs.retain(|c| args.configs.iter().any(|name| name == c.name));
        }
        let rates = phases::rate_steps(&args.rate, args.rate_sweep)?;
        if !rates.is_empty() {
            for config in &mut configs {
                config.levels.clear();
                config.rates.clone_from(&rates);
                config.rate_step = config.level;
            }
        }
        if args.max_in_flight == 0 {
            bail!("--max-in-flight must be above zero");
        }
        Ok(Self {
            sweep: args.rate_sweep,
            max_in_flight: args.max_in_flight,
            quick: args.quick,
            replicas,
            level,
            concurrency,
            max_flows: args.max_flows,
            client_threads: args.client_threads.max(1),
            server_env: args
                .server_env
                .iter()
                .map(|pair| match pair.split_once('=') {
                    Some((name, value)) if !name.is_empty() => {
                        Ok((name.to_owned(), value.to_owned()))
                    }
                    _ => bail!("--server-env takes NAME=VALUE, not {pair:?}"),
                })
                .collect::<Result<_>>()?,
            configs,
        })
    }
}

/// The release build's `porthor` next to this program, and the target
/// directory above it, with its `bench` directory (results) made;
/// `task` names the xtask command that builds them.
fn release_build(task: &str) -> Result<(PathBuf, PathBuf)> {
    let release = release_dir()?;
    let porthor = release.join("porthor");
    if !porthor.is_file() {
        bail!(
            "{} is missing; `cargo xtask {task}` builds it",
            porthor.display()
        );
    }
    let target_dir = release
        .parent()
        .context("the release directory has no parent")?
        .to_path_buf();
    let out = target_dir.join("bench");
    fs::create_dir_all(&out).with_context(|| format!("could not create {}", out.display()))?;
    Ok((porthor, target_dir))
}

/// Runs the hostile test (see [`hostile`]) as `args` says.
fn run_hostile(args: &Cli) -> Result<()> {
    let (porthor, target_dir) = release_build("hostile")?;
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos() as u64)
    });
    let credentials = Credentials::generate(&porthor)?;
    hostile::run(&porthor, &target_dir, &credentials, args.requests, seed)
}

/// Runs `--metrics-overhead` (see [`overhead`]): the same configuration
/// with metrics off and on, alternating.
#[allow(clippy::print_stdout, reason = "the summary is this program's output")]
fn metrics_overhead(args: &Cli, rounds: usize) -> Result<()> {
    let plan = Plan::new(args)?;
    let (porthor, target_dir) = release_build("bench")?;
    let runtime = plan.runtime()?;
    let ticks = procfs::clock_ticks_per_second();
    let credentials = Credentials::generate(&porthor)?;
    let top = plan.concurrency.iter().copied().max().unwrap_or(1);
    let config = ConfigPlan {
        name: "metrics-overhead",
        store: StoreKind::Redis,
        alg: "ES256",
        users: USERS,
        warmup: Duration::from_secs(1),
        levels: vec![top],
        level: plan.level,
        rates: Vec::new(),
        rate_step: plan.level,
        well_known: None,
        logins: None,
        refreshes: None,
        signing: Duration::from_millis(200),
    };
    let mut results = Vec::new();
    for (number, metrics) in overhead::order(rounds.max(1)).into_iter().enumerate() {
        let mut env = plan.server_env.clone();
        if metrics {
            env.extend(overhead::metrics_env()?);
        }
        let name = format!(
            "round {} of {}, metrics {}",
            number + 1,
            2 * rounds.max(1),
            if metrics { "on" } else { "off" }
        );
        let result = step(&name, || {
            ConfigBench {
                plan: &plan,
                config: &config,
                runtime: &runtime,
                porthor: &porthor,
                target_dir: &target_dir,
                credentials: &credentials,
                env: &env,
                ticks,
            }
            .run()
        })?;
        if result.errors > 0 {
            bail!(
                "{} error(s) in {name}: {:?}",
                result.errors,
                result.error_samples
            );
        }
        let level = result.levels.first().context("a round without a level")?;
        results.push(overhead::Round {
            metrics,
            flows_per_sec: level.flows_per_sec,
            server_cpu_ms_per_flow: level.server_cpu_ms_per_flow,
        });
    }
    let summary = overhead::summarize(results);
    for line in summary.lines() {
        println!("{line}");
    }
    let file = target_dir.join("bench").join("metrics-overhead.json");
    let json = serde_json::to_string_pretty(&summary).context("could not encode the summary")?;
    fs::write(&file, json).with_context(|| format!("could not write {}", file.display()))?;
    eprintln!("results written to {}", file.display());
    Ok(())
}

/// Runs each fault of `--chaos` (see [`chaos`]) as `args` says.
fn run_chaos(args: &Cli) -> Result<()> {
    let plan = Plan::new(args)?;
    let (porthor, target_dir) = release_build("bench")?;
    let runtime = plan.runtime()?;
    let credentials = Credentials::generate(&porthor)?;
    let env = chaos::Env {
        porthor: &porthor,
        target_dir: &target_dir,
        credentials: &credentials,
        runtime: &runtime,
        replicas: plan.replicas,
        quick: plan.quick,
        server_env: &plan.server_env,
    };
    for &fault in &args.chaos {
        step(&format!("chaos {}", fault.name()), || {
            chaos::run(&env, fault)
        })?;
    }
    Ok(())
}

/// Runs the bench as `args` says.
fn bench(args: &Cli) -> Result<()> {
    let plan = Plan::new(args)?;
    let (porthor, target_dir) = release_build("bench")?;
    let out = target_dir.join("bench");
    let runtime = plan.runtime()?;
    let ticks = procfs::clock_ticks_per_second();
    let credentials = Credentials::generate(&porthor)?;

    let mut configs = Vec::new();
    for config in &plan.configs {
        let mut result = None;
        step(&format!("bench {}", config.name), || {
            let bench = ConfigBench {
                plan: &plan,
                config,
                runtime: &runtime,
                porthor: &porthor,
                target_dir: &target_dir,
                credentials: &credentials,
                env: &plan.server_env,
                ticks,
            };
            result = Some(bench.run()?);
            Ok(())
        })?;
        configs.extend(result);
    }

    let total_errors = configs.iter().map(|c| c.errors).sum();
    let report = Report {
        quick: plan.quick,
        timestamp: report::command_line(Command::new("date").args(["-u", "+%Y-%m-%dT%H:%M:%SZ"]))
            .unwrap_or_default(),
        git_commit: report::command_line(Command::new("git").args([
            "rev-parse",
            "--short",
            "HEAD",
        ])),
        machine: Machine::detect(ticks),
        settings: Settings {
            seconds_per_level: plan.level.as_secs_f64(),
            concurrency: plan.concurrency.clone(),
            max_flows_per_level: plan.max_flows,
            client_threads: plan.client_threads,
            server_workers: "one per core (unset)",
            server_rust_log: "warn",
            server_env: args.server_env.clone(),
            replicas: plan.replicas,
        },
        targets: report::check_targets(&configs, total_errors),
        configs,
        total_errors,
    };
    report.print_table();
    let file = out.join(match (plan.quick, plan.replicas) {
        (true, 1) => "results-quick.json".to_owned(),
        (false, 1) => "results.json".to_owned(),
        (true, n) => format!("results-quick-replicas{n}.json"),
        (false, n) => format!("results-replicas{n}.json"),
    });
    report.write(&file)?;
    eprintln!("results written to {}", file.display());
    if total_errors > 0 {
        bail!("{total_errors} error(s) during the bench; see the table above");
    }
    Ok(())
}

/// The directory this program runs from: cargo's release directory, where
/// `porthor` is built beside it.
fn release_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("could not find this program's path")?;
    Ok(exe
        .parent()
        .context("this program's path has no directory")?
        .to_path_buf())
}

/// One configuration's run.
struct ConfigBench<'a> {
    plan: &'a Plan,
    config: &'a ConfigPlan,
    runtime: &'a Runtime,
    porthor: &'a Path,
    target_dir: &'a Path,
    credentials: &'a Credentials,
    env: &'a [(String, String)],
    ticks: u64,
}

impl ConfigBench<'_> {
    fn run(&self) -> Result<ConfigResult> {
        let config = self.config;
        let redis = match config.store {
            StoreKind::Redis => Some(Redis::start(self.target_dir)?),
            StoreKind::Memory => None,
        };
        let setup = Setup {
            porthor: self.porthor,
            dir: self.target_dir.join("bench").join(config.name),
            alg: config.alg,
            store: redis
                .as_ref()
                .map_or(Store::Memory, |redis| Store::Redis(redis.url())),
            client: Client {
                id: CLIENT_ID,
                redirect_uri: REDIRECT_URI,
                require_pkce: false,
            },
            users: config.users,
            credentials: self.credentials,
            env: self.env,
        };
        let pem = setup.keys()?;
        let signer = Arc::new(Signer::from_pem(&pem).context("could not load the new key")?);
        let signing = signing_cost(&signer, config.signing)?;
        eprintln!(
            "{}: {:.0} signs/s on one core",
            config.alg, signing.signs_per_sec
        );

        let mut servers = setup.start_replicas(self.plan.replicas)?;
        let pids: Vec<u32> = servers.iter().map(Server::pid).collect();
        let addresses: Vec<SocketAddr> = servers.iter().map(|server| server.address).collect();
        let address = *addresses.first().context("no server started")?;
        let startup_mib = rss_mib(&pids, "VmRSS");
        let sessions = self.runtime.block_on(load::log_in_all(
            address,
            config.users,
            &self.credentials.password,
            login_concurrency(),
        ))?;
        std::thread::sleep(Duration::from_millis(200));
        let rss = Rss {
            startup_mib,
            idle_mib: rss_mib(&pids, "VmRSS"),
            peak_after_logins_mib: rss_mib(&pids, "VmHWM"),
        };
        eprintln!(
            "server pid(s) {pids:?} on {addresses:?}: {} users logged in",
            sessions.len()
        );

        let target = Arc::new(flows::Target::new(
            address,
            CLIENT_ID,
            &self.credentials.client_secret,
            REDIRECT_URI,
            Arc::clone(&signer),
        ));
        let flows = Arc::new(Work::Flows {
            target,
            sessions: Arc::new(sessions),
        });
        let probe = Probe {
            servers: pids.clone(),
            redis: redis.as_ref().map(Redis::pid),
            ticks: self.ticks,
        };
        let mut errors = 0;
        let mut samples = Vec::new();
        let mut keep = |outcome: &Outcome| {
            errors += outcome.errors;
            for sample in &outcome.error_samples {
                if samples.len() < 5 {
                    samples.push(sample.clone());
                }
            }
        };

        let top = self.plan.concurrency.iter().copied().max().unwrap_or(1);
        let warmup = if config.warmup.is_zero() {
            None
        } else {
            let mut outcome = self.phase(&addresses, &flows, top, config.warmup)?;
            outcome.check_id_tokens(&flows);
            keep(&outcome);
            Some(rate(&outcome, top))
        };
        let redis_port = redis.as_ref().map(Redis::port);
        let mut levels = Vec::new();
        for &concurrency in &config.levels {
            let peak_reset = pids.iter().all(|&pid| procfs::reset_peak_rss(pid));
            let commands_before =
                redis_port.and_then(|port| redis_stats::commands_served(port).ok());
            let before = probe.sample();
            let mut outcome = self.phase(&addresses, &flows, concurrency, config.level)?;
            let usage = probe.sample().since(&before, probe.ticks);
            outcome.check_id_tokens(&flows);
            let commands = redis_port
                .and_then(|port| redis_stats::commands_served(port).ok())
                .zip(commands_before)
                .and_then(|(after, before)| after.checked_sub(before));
            keep(&outcome);
            let mut level = level_result(&outcome, concurrency, &usage, signing, &pids, peak_reset);
            level.redis_commands_per_flow = commands
                .filter(|_| outcome.ok > 0)
                .map(|commands| commands as f64 / outcome.ok as f64);
            eprintln!(
                "C={concurrency}: {:.1} flows/s, p99 {:.2} ms, {} errors",
                level.flows_per_sec, level.flow.p99_ms, level.errors
            );
            levels.push(level);
        }
        let meter = phases::Meter {
            probe: &probe,
            redis_port,
            servers: &pids,
        };
        let rates = self.rate_steps(address, &flows, &meter, &mut keep)?;
        let refreshes = self.refreshes(&addresses, &flows, &meter, signing, &mut keep)?;
        let discovery_jwks = match config.well_known {
            Some(duration) => {
                let outcome = self.phase(&addresses, &Arc::new(Work::WellKnown), 16, duration)?;
                keep(&outcome);
                Some(rate(&outcome, 16))
            }
            None => None,
        };
        let logins = match config.logins {
            Some(duration) => {
                let work = Arc::new(Work::Logins {
                    password: self.credentials.password.clone(),
                    users: config.users,
                });
                let outcome = self.phase(&addresses, &work, login_concurrency(), duration)?;
                keep(&outcome);
                Some(rate(&outcome, login_concurrency()))
            }
            None => None,
        };
        if !servers.iter_mut().all(Server::is_running) {
            bail!(
                "porthor serve died during the bench; see the logs in {}",
                setup.dir.display()
            );
        }
        drop(servers);
        drop(redis);
        Ok(ConfigResult {
            name: config.name.to_owned(),
            store: match config.store {
                StoreKind::Redis => "redis",
                StoreKind::Memory => "memory",
            },
            alg: config.alg.to_owned(),
            users: config.users,
            signing,
            rss,
            warmup,
            levels,
            p99_crossing: report::crossing(&rates),
            rates,
            refreshes,
            discovery_jwks,
            logins,
            errors,
            error_samples: samples,
        })
    }

    fn phase(
        &self,
        addresses: &[SocketAddr],
        work: &Arc<Work>,
        concurrency: usize,
        duration: Duration,
    ) -> Result<Outcome> {
        let bounds = Bounds {
            concurrency,
            duration,
            max_operations: self.plan.max_flows,
        };
        self.runtime
            .block_on(load::run(addresses, Arc::clone(work), bounds))
    }
}

/// Where CPU time is read from around a phase.
struct Probe {
    /// The server processes (replicas), whose CPU is summed.
    servers: Vec<u32>,
    redis: Option<u32>,
    ticks: u64,
}

/// CPU ticks used so far by the server, Redis and this process.
struct CpuSample {
    at: Instant,
    server: Option<u64>,
    redis: Option<u64>,
    client: Option<u64>,
}

/// CPU seconds used during a phase.
struct Usage {
    wall: f64,
    server: Option<f64>,
    redis: Option<f64>,
    client: Option<f64>,
}

impl Probe {
    fn sample(&self) -> CpuSample {
        CpuSample {
            at: Instant::now(),
            server: self
                .servers
                .iter()
                .map(|&pid| procfs::cpu_ticks(Some(pid)).ok())
                .sum(),
            redis: self.redis.and_then(|pid| procfs::cpu_ticks(Some(pid)).ok()),
            client: procfs::cpu_ticks(None).ok(),
        }
    }
}

impl CpuSample {
    /// `self` (later) minus `before`, in seconds; `ticks` per second.
    fn since(&self, before: &CpuSample, ticks: u64) -> Usage {
        let seconds = |after: Option<u64>, before: Option<u64>| {
            Some(after?.checked_sub(before?)? as f64 / ticks as f64)
        };
        Usage {
            wall: self.at.duration_since(before.at).as_secs_f64(),
            server: seconds(self.server, before.server),
            redis: seconds(self.redis, before.redis),
            client: seconds(self.client, before.client),
        }
    }
}

/// One level's figures.
fn level_result(
    outcome: &Outcome,
    concurrency: usize,
    usage: &Usage,
    signing: Signing,
    pids: &[u32],
    peak_reset: bool,
) -> LevelResult {
    let per_flow_ms = |seconds: Option<f64>| {
        let seconds = seconds?;
        (outcome.ok > 0).then(|| seconds * 1000.0 / outcome.ok as f64)
    };
    let server_cpu_ms_per_flow = per_flow_ms(usage.server);
    let steps = outcome.steps.unwrap_or_default();
    LevelResult {
        concurrency,
        seconds: outcome.elapsed.as_secs_f64(),
        flows: outcome.ok,
        flows_per_sec: outcome.rate(),
        errors: outcome.errors,
        connections: outcome.connects,
        authorize: steps.authorize,
        token: steps.token,
        userinfo: steps.userinfo,
        flow: steps.flow,
        server_cpu_ms_per_flow,
        server_cpu_to_sign_ratio: server_cpu_ms_per_flow
            .map(|ms| ms * 1000.0 / signing.micros_per_sign),
        server_cores: usage
            .server
            .filter(|_| usage.wall > 0.0)
            .map(|s| s / usage.wall),
        redis_cpu_ms_per_flow: per_flow_ms(usage.redis),
        redis_commands_per_flow: None,
        client_cpu_ms_per_flow: per_flow_ms(usage.client),
        server_peak_rss_mib: rss_mib(pids, "VmHWM"),
        peak_rss_is_per_level: peak_reset,
    }
}

fn rate(outcome: &Outcome, concurrency: usize) -> Rate {
    Rate {
        concurrency,
        seconds: outcome.elapsed.as_secs_f64(),
        count: outcome.ok,
        per_sec: outcome.rate(),
        errors: outcome.errors,
    }
}

/// A memory figure in MiB, the largest of `pids`'.
fn rss_mib(pids: &[u32], key: &str) -> Option<f64> {
    pids.iter()
        .filter_map(|&pid| procfs::memory_kib(pid, key).ok())
        .max()
        .map(|kib| kib as f64 / 1024.0)
}

/// Claims shaped like the ID tokens the server signs.
#[derive(Serialize)]
struct IdTokenClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    exp: u64,
    iat: u64,
    auth_time: u64,
    jti: &'a str,
    nonce: &'a str,
    sub: &'a str,
    name: &'a str,
    preferred_username: &'a str,
    email: &'a str,
}

/// Signatures per CPU second of this thread through `Signer::sign`, over
/// about `duration` of its CPU time (or five times that of wall time; then,
/// if the thread got less than ten clock ticks, per wall second).
fn signing_cost(signer: &Signer, duration: Duration) -> Result<Signing> {
    let claims = IdTokenClaims {
        iss: "http://127.0.0.1:40000",
        aud: CLIENT_ID,
        exp: 4_000_003_600,
        iat: 4_000_000_000,
        auth_time: 3_999_999_990,
        jti: "ilim2LIPvwNt5vQV29qfCw",
        nonce: "5c0ffee15bad1dea",
        sub: "user00",
        name: "Bench User 00",
        preferred_username: "user00",
        email: "user00@example.invalid",
    };
    // One unmeasured signature: lazy initialisation stays out of the figure.
    signer.sign(&claims)?;
    // The thread's CPU time, not the wall clock: on a busy machine the
    // thread waits for a core, and a signature would seem to cost the wait.
    let ticks = procfs::clock_ticks_per_second() as f64;
    let cpu = || procfs::thread_cpu_ticks().ok().map(|t| t as f64 / ticks);
    let started = Instant::now();
    let cpu_before = cpu();
    let mut signs = 0u64;
    loop {
        for _ in 0..16 {
            std::hint::black_box(signer.sign(std::hint::black_box(&claims))?);
        }
        signs += 16;
        let used = cpu()
            .zip(cpu_before)
            .map_or(0.0, |(after, before)| after - before);
        // Enough CPU time, or enough waiting for it.
        let wall = started.elapsed();
        if used >= duration.as_secs_f64() || wall >= duration * 5 {
            break;
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let seconds = match cpu().zip(cpu_before) {
        // At least ten ticks, for a figure within 10%.
        Some((after, before)) if after - before >= 10.0 / ticks => after - before,
        _ => wall,
    };
    let signs_per_sec = signs as f64 / seconds;
    Ok(Signing {
        signs_per_sec,
        micros_per_sign: 1e6 / signs_per_sec,
    })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    fn parse(args: &[&str]) -> Result<Plan> {
        Plan::new(&Cli::try_parse_from(["porthor-bench"].iter().chain(args))?)
    }

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_full_run_covers_three_configurations_at_every_level() {
        let plan = parse(&[]).unwrap();
        assert!(!plan.quick);
        assert_eq!(plan.concurrency, [1, 16, 64]);
        let names: Vec<_> = plan.configs.iter().map(|c| c.name).collect();
        assert_eq!(names, ["redis-rs256", "redis-es256", "memory-rs256"]);
        for config in &plan.configs {
            assert_eq!(config.levels, [1, 16, 64]);
            assert_eq!(config.level, Duration::from_secs(10));
            assert_eq!(config.users, 64);
            assert!(config.well_known.is_some() && config.logins.is_some());
            assert_eq!(config.refreshes, Some(Duration::from_secs(10)));
        }
        assert!(plan.configs.iter().all(|c| c.rates.is_empty()));
    }

    #[test]
    fn open_loop_rates_replace_the_levels() {
        let plan = parse(&["--rate", "2500", "--configs", "redis-rs256"]).unwrap();
        assert_eq!(plan.configs[0].rates, [2500.0]);
        assert_eq!(plan.configs[0].rate_step, Duration::from_secs(10));
        assert!(!plan.sweep);
        assert_eq!(plan.max_in_flight, 256);
        let names: Vec<_> = plan.configs.iter().map(|c| c.name).collect();
        assert_eq!(names, ["redis-rs256"]);
        assert!(plan.configs[0].levels.is_empty());
        // The refreshes still run at the top concurrency.
        assert_eq!(plan.concurrency.iter().max(), Some(&64));

        let plan = parse(&["--rate-sweep", "--max-in-flight", "32"]).unwrap();
        assert!(plan.sweep);
        assert_eq!(plan.configs[2].rates.first(), Some(&500.0));
        assert_eq!(plan.max_in_flight, 32);
        assert!(plan.configs.iter().all(|c| c.levels.is_empty()));
        let plan = parse(&["--rate-sweep", "--rate", "3000,1000"]).unwrap();
        assert_eq!(plan.configs[1].rates, [1000.0, 3000.0]);

        assert!(parse(&["--rate", "0"]).is_err());
        assert!(parse(&["--max-in-flight", "0"]).is_err());
        assert!(parse(&["--configs", "redis-rs512"]).is_err());
    }

    #[test]
    fn the_quick_run_is_about_five_seconds_of_load() {
        let plan = parse(&["--quick"]).unwrap();
        assert!(plan.quick);
        let load: Duration = plan
            .configs
            .iter()
            .map(|c| {
                c.warmup
                    + c.level * u32::try_from(c.levels.len()).unwrap()
                    + c.well_known.unwrap_or_default()
                    + c.logins.unwrap_or_default()
                    + c.refreshes.unwrap_or_default()
                    + c.rate_step * u32::try_from(c.rates.len()).unwrap()
                    + c.signing
            })
            .sum();
        assert!(load <= Duration::from_millis(5200), "{load:?}");
        assert_eq!(plan.configs[0].levels, [1, 16, 64]);
        // The primary configuration has a refresh phase and an open-loop
        // step, so that CI runs both.
        assert!(plan.configs[0].refreshes.is_some());
        assert_eq!(plan.configs[0].rates, [QUICK_RATE]);
        assert!(plan.configs[1..].iter().all(|c| c.rates.is_empty()));
        assert_eq!(plan.configs[0].users, 64);
        assert_eq!(plan.configs.len(), 3);
    }

    #[test]
    fn durations_and_levels_can_be_chosen() {
        let plan = parse(&["--duration", "2.5", "--concurrency", "4,8"]).unwrap();
        assert_eq!(plan.level, Duration::from_millis(2500));
        assert_eq!(plan.configs[1].levels, [4, 8]);
        assert!(parse(&["--duration", "0"]).is_err());
        assert!(parse(&["--duration", "-1"]).is_err());
        assert!(parse(&["--concurrency", "0"]).is_err());
        let plan = parse(&["--server-env", "A=1", "--server-env", "B=x=y"]).unwrap();
        assert_eq!(
            plan.server_env,
            [("A".into(), "1".into()), ("B".into(), "x=y".into())]
        );
        assert!(parse(&["--server-env", "novalue"]).is_err());
    }

    #[test]
    fn cpu_usage_is_the_difference_in_seconds() {
        let at = Instant::now();
        let before = CpuSample {
            at,
            server: Some(100),
            redis: None,
            client: Some(10),
        };
        let after = CpuSample {
            at: at + Duration::from_secs(2),
            server: Some(250),
            redis: Some(5),
            client: Some(30),
        };
        let usage = after.since(&before, 100);
        assert!((usage.wall - 2.0).abs() < 1e-9);
        assert_eq!(usage.server, Some(1.5));
        assert_eq!(usage.redis, None);
        assert_eq!(usage.client, Some(0.2));
    }

    #[test]
    fn signing_is_measured() {
        let pem = porthor_signer::generate_pem(porthor_signer::SigningAlgorithm::Es256).unwrap();
        let signer = Signer::from_pem(pem.as_bytes()).unwrap();
        let cost = signing_cost(&signer, Duration::from_millis(20)).unwrap();
        assert!(cost.signs_per_sec > 0.0);
        assert!((cost.micros_per_sign * cost.signs_per_sec - 1e6).abs() < 1.0);
    }
}
