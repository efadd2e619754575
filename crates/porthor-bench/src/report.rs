//! The results: what is kept (JSON under `target/bench/`), the table shown on
//! stdout, where an open-loop sweep's flow p99 crosses its threshold, and
//! the issue's targets with whether each was met.
#![allow(
    clippy::print_stdout,
    reason = "the table is the task's output; progress goes to stderr"
)]

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, Result};
use serde::Serialize;

use super::stats::Latency;

/// Everything one run measured.
#[derive(Debug, Serialize)]
pub struct Report {
    pub quick: bool,
    pub timestamp: String,
    pub git_commit: Option<String>,
    pub machine: Machine,
    pub settings: Settings,
    pub configs: Vec<ConfigResult>,
    pub targets: Vec<TargetCheck>,
    pub total_errors: u64,
}

#[derive(Debug, Serialize)]
pub struct Machine {
    pub nproc: usize,
    pub cpu_model: Option<String>,
    pub kernel: Option<String>,
    pub clock_ticks_per_second: u64,
}

impl Machine {
    pub fn detect(clock_ticks_per_second: u64) -> Self {
        let cpu_model = fs::read_to_string("/proc/cpuinfo").ok().and_then(|text| {
            text.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        });
        Self {
            nproc: std::thread::available_parallelism().map_or(1, usize::from),
            cpu_model,
            kernel: command_line(Command::new("uname").arg("-r")),
            clock_ticks_per_second,
        }
    }
}

/// The first line a command prints, if it succeeds.
pub fn command_line(command: &mut Command) -> Option<String> {
    let output = command.output().ok().filter(|o| o.status.success())?;
    let text = String::from_utf8(output.stdout).ok()?;
    Some(text.lines().next()?.trim().to_owned()).filter(|line| !line.is_empty())
}

#[derive(Debug, Serialize)]
pub struct Settings {
    pub seconds_per_level: f64,
    pub concurrency: Vec<usize>,
    pub max_flows_per_level: u64,
    /// tokio worker threads of the load generator.
    pub client_threads: usize,
    /// The server's workers: unset in its configuration, so one per core.
    pub server_workers: &'static str,
    pub server_rust_log: &'static str,
    /// `--server-env` settings, as given.
    pub server_env: Vec<String>,
    /// `porthor serve` processes per configuration, on one Redis.
    pub replicas: usize,
}

/// One server configuration (store and key) and what it did.
#[derive(Debug, Serialize)]
pub struct ConfigResult {
    pub name: String,
    pub store: &'static str,
    pub alg: String,
    pub users: usize,
    pub signing: Signing,
    pub rss: Rss,
    pub warmup: Option<Rate>,
    pub levels: Vec<LevelResult>,
    /// Open-loop steps, in the order run.
    pub rates: Vec<RateResult>,
    /// Where the open-loop flow p99 crosses [`P99_THRESHOLD_MS`], if any
    /// steps ran.
    pub p99_crossing: Option<Crossing>,
    pub refreshes: Option<RefreshResult>,
    pub discovery_jwks: Option<Rate>,
    pub logins: Option<Rate>,
    pub errors: u64,
    pub error_samples: Vec<String>,
}

/// The configured key's signing cost, measured in-process on one thread.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Signing {
    pub signs_per_sec: f64,
    pub micros_per_sign: f64,
}

#[derive(Debug, Serialize)]
pub struct Rss {
    /// Right after `/ready` answered.
    pub startup_mib: Option<f64>,
    /// After startup and the logins, before any load.
    pub idle_mib: Option<f64>,
    /// The peak up to then (the logins' argon2id memory included).
    pub peak_after_logins_mib: Option<f64>,
}

/// Operations per second of a phase.
#[derive(Debug, Serialize)]
pub struct Rate {
    pub concurrency: usize,
    pub seconds: f64,
    pub count: u64,
    pub per_sec: f64,
    pub errors: u64,
}

/// Full flows at one concurrency.
#[derive(Debug, Serialize)]
pub struct LevelResult {
    pub concurrency: usize,
    pub seconds: f64,
    pub flows: u64,
    pub flows_per_sec: f64,
    pub errors: u64,
    pub connections: u64,
    pub authorize: Latency,
    pub token: Latency,
    pub userinfo: Latency,
    pub flow: Latency,
    /// The server process's user + system CPU per successful flow.
    pub server_cpu_ms_per_flow: Option<f64>,
    /// Server CPU per flow over the cost of one signature.
    pub server_cpu_to_sign_ratio: Option<f64>,
    /// Cores the server kept busy on average.
    pub server_cores: Option<f64>,
    pub redis_cpu_ms_per_flow: Option<f64>,
    /// Commands Redis served per flow (round trips, unless pipelined).
    pub redis_commands_per_flow: Option<f64>,
    /// The load generator's own CPU (it shares the machine with the server).
    pub client_cpu_ms_per_flow: Option<f64>,
    /// The server's peak RSS during this level.
    pub server_peak_rss_mib: Option<f64>,
    /// Whether the peak was reset at the start of the level (else it is the
    /// process's lifetime peak).
    pub peak_rss_is_per_level: bool,
}

/// The flow p99 an open-loop sweep looks for the crossing of.
pub const P99_THRESHOLD_MS: f64 = 10.0;

/// Full flows at one open-loop arrival rate.
#[derive(Debug, Serialize)]
pub struct RateResult {
    /// Flows due per second.
    pub offered_per_sec: f64,
    /// Flows that succeeded per second, from the first due time until the
    /// last flow ended.
    pub achieved_per_sec: f64,
    pub seconds: f64,
    /// Flows due in the window.
    pub due: u64,
    pub started: u64,
    /// Due flows still waiting for a free slot when the window closed.
    pub not_started: u64,
    pub flows: u64,
    pub errors: u64,
    pub connections: u64,
    /// The bound on flows (and connections) in flight.
    pub max_in_flight: usize,
    pub peak_in_flight: usize,
    /// Due flows that found the bound reached, and waited.
    pub bound_waits: u64,
    /// Flows that started more than 1 ms after they were due.
    pub late_starts: u64,
    /// How late the flows started.
    pub start_lateness: Latency,
    pub authorize: Latency,
    pub token: Latency,
    pub userinfo: Latency,
    /// Each flow from when it was due: what a user arriving then waited.
    pub flow: Latency,
    /// Each flow from when it started.
    pub service: Latency,
    pub server_cpu_ms_per_flow: Option<f64>,
    pub server_cores: Option<f64>,
    pub redis_cpu_ms_per_flow: Option<f64>,
    pub redis_commands_per_flow: Option<f64>,
    pub client_cpu_ms_per_flow: Option<f64>,
    pub server_peak_rss_mib: Option<f64>,
}

impl RateResult {
    /// Whether this step is past the threshold: its flow p99 is above it,
    /// or some due flows never started (their latency is unknown, and
    /// longer than the window's rest).
    pub fn crosses(&self) -> bool {
        self.flow.p99_ms > P99_THRESHOLD_MS || self.not_started > 0
    }
}

/// Between which offered rates the open-loop flow p99 crosses
/// [`P99_THRESHOLD_MS`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Crossing {
    pub threshold_ms: f64,
    /// The highest rate below the first crossing step, with its p99 (none
    /// if the lowest step crossed already).
    pub below_per_sec: Option<f64>,
    pub below_p99_ms: Option<f64>,
    /// The lowest rate that crossed, with its p99 (none if no step did).
    pub above_per_sec: Option<f64>,
    pub above_p99_ms: Option<f64>,
    /// The rate at the threshold by linear interpolation of p99 between
    /// the two, when both are measured and the upper step started all its
    /// flows.
    pub interpolated_per_sec: Option<f64>,
}

/// Where the flow p99 of `rates` crosses [`P99_THRESHOLD_MS`]: the first
/// crossing step in ascending rate order and the step below it. `None`
/// without steps.
pub fn crossing(rates: &[RateResult]) -> Option<Crossing> {
    let mut sorted: Vec<&RateResult> = rates.iter().collect();
    sorted.sort_by(|a, b| a.offered_per_sec.total_cmp(&b.offered_per_sec));
    if sorted.is_empty() {
        return None;
    }
    let first = sorted.iter().position(|step| step.crosses());
    let below = match first {
        Some(index) => index.checked_sub(1).and_then(|i| sorted.get(i)),
        None => sorted.last(),
    };
    let above = first.and_then(|index| sorted.get(index));
    let interpolated_per_sec = match (below, above) {
        (Some(low), Some(high)) if high.not_started == 0 && high.flow.p99_ms > low.flow.p99_ms => {
            let share = (P99_THRESHOLD_MS - low.flow.p99_ms) / (high.flow.p99_ms - low.flow.p99_ms);
            Some(low.offered_per_sec + share * (high.offered_per_sec - low.offered_per_sec))
        }
        _ => None,
    };
    Some(Crossing {
        threshold_ms: P99_THRESHOLD_MS,
        below_per_sec: below.map(|step| step.offered_per_sec),
        below_p99_ms: below.map(|step| step.flow.p99_ms),
        above_per_sec: above.map(|step| step.offered_per_sec),
        above_p99_ms: above.map(|step| step.flow.p99_ms),
        interpolated_per_sec,
    })
}

/// Refreshes (rotate the refresh token, then userinfo with the new access
/// token) at one concurrency.
#[derive(Debug, Serialize)]
pub struct RefreshResult {
    pub concurrency: usize,
    pub seconds: f64,
    pub refreshes: u64,
    pub refreshes_per_sec: f64,
    pub errors: u64,
    pub connections: u64,
    /// The token request that rotates the refresh token.
    pub token: Latency,
    /// Userinfo with the new access token.
    pub userinfo: Latency,
    pub refresh: Latency,
    /// The server process's user + system CPU per successful refresh.
    pub server_cpu_ms_per_refresh: Option<f64>,
    /// That over the cost of one signature (a refresh signs an ID token).
    pub server_cpu_to_sign_ratio: Option<f64>,
    pub server_cores: Option<f64>,
    pub redis_cpu_ms_per_refresh: Option<f64>,
    pub redis_commands_per_refresh: Option<f64>,
    pub client_cpu_ms_per_refresh: Option<f64>,
}

/// One of the issue's targets.
#[derive(Debug, Serialize)]
pub struct TargetCheck {
    pub what: String,
    pub target: String,
    pub value: Option<f64>,
    /// `None` when this run did not measure it.
    pub met: Option<bool>,
}

impl Report {
    /// Writes the report as pretty JSON to `path`.
    pub fn write(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(self)?;
        fs::write(path, json + "\n").with_context(|| format!("could not write {}", path.display()))
    }

    /// The human-readable table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let m = &self.machine;
        let _ = writeln!(
            out,
            "\nPorthor bench{} at {} ({}), {} cores ({}), kernel {}",
            if self.quick { " --quick" } else { "" },
            self.git_commit.as_deref().unwrap_or("unknown commit"),
            self.timestamp,
            m.nproc,
            m.cpu_model.as_deref().unwrap_or("unknown CPU"),
            m.kernel.as_deref().unwrap_or("unknown"),
        );
        let _ = writeln!(
            out,
            "{:.1} s per level, generator on {} thread(s), server RUST_LOG={}",
            self.settings.seconds_per_level,
            self.settings.client_threads,
            self.settings.server_rust_log
        );
        if self.settings.replicas > 1 {
            let _ = writeln!(
                out,
                "{} server replicas on one Redis, round robin by connection; CPU summed, RSS the largest",
                self.settings.replicas
            );
        }
        if !self.settings.server_env.is_empty() {
            let _ = writeln!(
                out,
                "server environment: {}",
                self.settings.server_env.join(" ")
            );
        }
        for config in &self.configs {
            config_table(&mut out, config);
        }
        let _ = writeln!(
            out,
            "\nsrv ms/flow: server CPU (user + system) per flow; x sign: that over one \
             signature's cost;\nsrv cores: server CPU per wall second; redis ms/fl, redis cmd: \
             Redis CPU and commands per flow;\ngen ms/flow: the load generator's own CPU (it checks \
             the ID tokens after each level); \
             peak RSS: the server's peak during the level"
        );
        if self.configs.iter().any(|config| !config.rates.is_empty()) {
            let _ = writeln!(
                out,
                "open loop: achieved: successful flows per second; late>1ms: flows that \
                 started over 1 ms after they were due;\nwaits: due flows that found the \
                 bound in flight and waited; unstrt: due flows still waiting at the end; \
                 peak: most flows in flight"
            );
        }
        let _ = writeln!(out, "\nTargets (Redis store, C=64 unless noted):");
        for check in &self.targets {
            let verdict = match check.met {
                Some(true) => "met   ",
                Some(false) => "MISSED",
                None => "n/a   ",
            };
            let value = check
                .value
                .map_or_else(|| "not measured".to_owned(), |v| format!("{v:.2}"));
            let _ = writeln!(
                out,
                "  [{verdict}] {:<52} {:>12}  (target {})",
                check.what, value, check.target
            );
        }
        let _ = writeln!(out, "\nErrors: {}", self.total_errors);
        out
    }

    pub fn print_table(&self) {
        print!("{}", self.table());
    }
}

fn config_table(out: &mut String, config: &ConfigResult) {
    let _ = writeln!(
        out,
        "\n== {} ({} store, {}, {} users) ==",
        config.name, config.store, config.alg, config.users
    );
    let _ = writeln!(
        out,
        "signing: {:.0} signs/s on one core ({:.1} us/sign)",
        config.signing.signs_per_sec, config.signing.micros_per_sign
    );
    let _ = writeln!(
        out,
        "server RSS: startup {}, idle after logins {}, peak through logins {}",
        mib(config.rss.startup_mib),
        mib(config.rss.idle_mib),
        mib(config.rss.peak_after_logins_mib)
    );
    levels_table(out, config);
    rates_table(out, config);
    if let Some(refresh) = &config.refreshes {
        let _ = writeln!(
            out,
            "refreshes (rotate, then userinfo) at C={}: {:.1}/s ({} in {:.1} s, {} errors), \
             srv ms/refresh {} (x sign {}), srv cores {}, redis cmd/refresh {}, \
             gen ms/refresh {}",
            refresh.concurrency,
            refresh.refreshes_per_sec,
            refresh.refreshes,
            refresh.seconds,
            refresh.errors,
            opt(refresh.server_cpu_ms_per_refresh, 3),
            opt(refresh.server_cpu_to_sign_ratio, 2),
            opt(refresh.server_cores, 2),
            opt(refresh.redis_commands_per_refresh, 1),
            opt(refresh.client_cpu_ms_per_refresh, 3),
        );
        let _ = writeln!(
            out,
            "  latency ms, p50 / p90 / p99 / p99.9 / max: token {}; userinfo {}; refresh {}",
            full_percentiles(&refresh.token),
            full_percentiles(&refresh.userinfo),
            full_percentiles(&refresh.refresh),
        );
    }
    if let Some(rate) = &config.discovery_jwks {
        let _ = writeln!(out, "discovery + JWKS: {}", rate_line(rate, "requests"));
    }
    if let Some(rate) = &config.logins {
        let _ = writeln!(
            out,
            "logins (default argon2id): {}",
            rate_line(rate, "logins")
        );
    }
    for sample in &config.error_samples {
        let _ = writeln!(out, "error: {sample}");
    }
}

/// The closed-loop levels, if any ran.
fn levels_table(out: &mut String, config: &ConfigResult) {
    if config.levels.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "{:>4} {:>9} {:>6} {:>5} {:>11} {:>7} {:>9} {:>11} {:>9} {:>11} {:>10}",
        "C",
        "flows/s",
        "errors",
        "conns",
        "srv ms/flow",
        "x sign",
        "srv cores",
        "redis ms/fl",
        "redis cmd",
        "gen ms/flow",
        "peak RSS"
    );
    for level in &config.levels {
        let _ = writeln!(
            out,
            "{:>4} {:>9.1} {:>6} {:>5} {:>11} {:>7} {:>9} {:>11} {:>9} {:>11} {:>10}",
            level.concurrency,
            level.flows_per_sec,
            level.errors,
            level.connections,
            opt(level.server_cpu_ms_per_flow, 3),
            opt(level.server_cpu_to_sign_ratio, 2),
            opt(level.server_cores, 2),
            opt(level.redis_cpu_ms_per_flow, 3),
            opt(level.redis_commands_per_flow, 1),
            opt(level.client_cpu_ms_per_flow, 3),
            mib(level.server_peak_rss_mib),
        );
    }
    let _ = writeln!(
        out,
        "latency in ms, p50 / p90 / p99:\n{:>4}  {:<20} {:<20} {:<20} {:<20}",
        "C", "authorize", "token", "userinfo", "flow"
    );
    for level in &config.levels {
        let _ = writeln!(
            out,
            "{:>4}  {:<20} {:<20} {:<20} {:<20}",
            level.concurrency,
            percentiles(&level.authorize),
            percentiles(&level.token),
            percentiles(&level.userinfo),
            percentiles(&level.flow),
        );
    }
}

/// The open-loop steps and the crossing, if any ran.
fn rates_table(out: &mut String, config: &ConfigResult) {
    let Some(first) = config.rates.first() else {
        return;
    };
    let _ = writeln!(
        out,
        "open loop, at most {} flows in flight:\n{:>8} {:>9} {:>7} {:>6} {:>7} {:>7} {:>6} {:>6} \
         {:>11} {:>9} {:>9}",
        first.max_in_flight,
        "offered",
        "achieved",
        "started",
        "errors",
        "late>1ms",
        "waits",
        "unstrt",
        "peak",
        "srv ms/flow",
        "srv cores",
        "redis cmd"
    );
    for step in &config.rates {
        let _ = writeln!(
            out,
            "{:>8.0} {:>9.1} {:>7} {:>6} {:>7} {:>7} {:>6} {:>6} {:>11} {:>9} {:>9}",
            step.offered_per_sec,
            step.achieved_per_sec,
            step.started,
            step.errors,
            step.late_starts,
            step.bound_waits,
            step.not_started,
            step.peak_in_flight,
            opt(step.server_cpu_ms_per_flow, 3),
            opt(step.server_cores, 2),
            opt(step.redis_commands_per_flow, 1),
        );
    }
    let _ = writeln!(
        out,
        "open-loop latency in ms, p50 / p90 / p99 / p99.9 / max (flow from when it was due; \
         service from its start):"
    );
    for step in &config.rates {
        let _ = writeln!(
            out,
            "{:>8.0}  flow {}  service {}  start lateness {}",
            step.offered_per_sec,
            full_percentiles(&step.flow),
            full_percentiles(&step.service),
            full_percentiles(&step.start_lateness),
        );
        let _ = writeln!(
            out,
            "{:>8}  authorize {}  token {}  userinfo {}",
            "",
            full_percentiles(&step.authorize),
            full_percentiles(&step.token),
            full_percentiles(&step.userinfo),
        );
    }
    if let Some(crossing) = &config.p99_crossing {
        let _ = writeln!(out, "{}", crossing_line(crossing));
    }
}

/// Where the p99 crossed, in words.
fn crossing_line(crossing: &Crossing) -> String {
    let at = |rate: Option<f64>, p99: Option<f64>| match (rate, p99) {
        (Some(rate), Some(p99)) => format!("{rate:.0} flows/s (p99 {p99:.2} ms)"),
        _ => "-".to_owned(),
    };
    match (crossing.below_per_sec, crossing.above_per_sec) {
        (_, None) => format!(
            "flow p99 stays at or under {:.0} ms up to {}",
            crossing.threshold_ms,
            at(crossing.below_per_sec, crossing.below_p99_ms)
        ),
        (None, Some(_)) => format!(
            "flow p99 is over {:.0} ms already at the lowest rate, {}",
            crossing.threshold_ms,
            at(crossing.above_per_sec, crossing.above_p99_ms)
        ),
        (Some(_), Some(_)) => format!(
            "flow p99 crosses {:.0} ms between {} and {}{}",
            crossing.threshold_ms,
            at(crossing.below_per_sec, crossing.below_p99_ms),
            at(crossing.above_per_sec, crossing.above_p99_ms),
            crossing
                .interpolated_per_sec
                .map(|rate| format!(", about {rate:.0} flows/s interpolated"))
                .unwrap_or_default()
        ),
    }
}

fn full_percentiles(latency: &Latency) -> String {
    format!(
        "{:.2}/{:.2}/{:.2}/{:.2}/{:.2}",
        latency.p50_ms, latency.p90_ms, latency.p99_ms, latency.p999_ms, latency.max_ms
    )
}

fn rate_line(rate: &Rate, what: &str) -> String {
    format!(
        "{:.1}/s ({} {what} in {:.1} s at C={}, {} errors)",
        rate.per_sec, rate.count, rate.seconds, rate.concurrency, rate.errors
    )
}

fn percentiles(latency: &Latency) -> String {
    format!(
        "{:.2}/{:.2}/{:.2}",
        latency.p50_ms, latency.p90_ms, latency.p99_ms
    )
}

fn opt(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.decimals$}"))
}

fn mib(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.1} MiB"))
}

/// The issue's targets, checked against `configs` (by name).
pub fn check_targets(configs: &[ConfigResult], total_errors: u64) -> Vec<TargetCheck> {
    let find = |name: &str| configs.iter().find(|c| c.name == name);
    let level = |name: &str| find(name).and_then(|c| c.levels.iter().find(|l| l.concurrency == 64));
    let check = |what: &str, target: &str, value: Option<f64>, ok: fn(f64) -> bool| TargetCheck {
        what: what.to_owned(),
        target: target.to_owned(),
        value,
        met: value.map(ok),
    };
    let rs = level("redis-rs256");
    let es = level("redis-es256");
    // The open-loop step at 2,500 flows/s, if one ran, and whether it
    // started every due flow (else its percentiles leave some out).
    let rs_2500 = find("redis-rs256").and_then(|c| {
        c.rates
            .iter()
            .find(|step| (step.offered_per_sec - 2500.0).abs() < 1.0)
    });
    let open_p99 = |p: fn(&Latency) -> f64| {
        rs_2500.map(|step| {
            if step.not_started > 0 {
                f64::INFINITY
            } else {
                p(&step.flow)
            }
        })
    };
    let refreshes = |name: &str| {
        find(name)
            .and_then(|c| c.refreshes.as_ref())
            .filter(|r| r.concurrency == 64)
            .map(|r| r.refreshes_per_sec)
    };
    vec![
        check(
            "RS256 full flows/s",
            ">= 4500",
            rs.map(|l| l.flows_per_sec),
            |v| v >= 4500.0,
        ),
        check(
            "RS256 p99 flow latency (ms)",
            "<= 15",
            rs.map(|l| l.flow.p99_ms),
            |v| v <= 15.0,
        ),
        check(
            "ES256 full flows/s",
            ">= 8000",
            es.map(|l| l.flows_per_sec),
            |v| v >= 8000.0,
        ),
        check(
            "RS256 server CPU per flow / RS256 sign cost",
            "<= 1.7",
            rs.and_then(|l| l.server_cpu_to_sign_ratio),
            |v| v <= 1.7,
        ),
        check(
            "RS256 open loop at 2,500 flows/s: flow p99 (ms)",
            "<= 5",
            open_p99(|l| l.p99_ms),
            |v| v <= 5.0,
        ),
        check(
            "RS256 open loop at 2,500 flows/s: flow p99.9 (ms)",
            "<= 15",
            open_p99(|l| l.p999_ms),
            |v| v <= 15.0,
        ),
        check(
            "ES256 refreshes/s",
            ">= 6000",
            refreshes("redis-es256"),
            |v| v >= 6000.0,
        ),
        check(
            "RS256 refreshes/s",
            ">= 3500",
            refreshes("redis-rs256"),
            |v| v >= 3500.0,
        ),
        check(
            "RS256 server peak RSS at C=64 (MiB)",
            "<= 40",
            rs.and_then(|l| l.server_peak_rss_mib),
            |v| v <= 40.0,
        ),
        check(
            "RS256 server idle RSS (MiB)",
            "<= 20",
            find("redis-rs256").and_then(|c| c.rss.idle_mib),
            |v| v <= 20.0,
        ),
        check(
            "errors (all configurations)",
            "0",
            Some(total_errors as f64),
            |v| v == 0.0,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(concurrency: usize, flows_per_sec: f64, p99_ms: f64) -> LevelResult {
        LevelResult {
            concurrency,
            seconds: 10.0,
            flows: 100,
            flows_per_sec,
            errors: 0,
            connections: concurrency as u64,
            authorize: Latency::default(),
            token: Latency::default(),
            userinfo: Latency::default(),
            flow: Latency {
                p99_ms,
                ..Latency::default()
            },
            server_cpu_ms_per_flow: Some(0.4),
            server_cpu_to_sign_ratio: Some(1.6),
            server_cores: Some(1.9),
            redis_cpu_ms_per_flow: Some(0.05),
            redis_commands_per_flow: Some(7.0),
            client_cpu_ms_per_flow: Some(0.1),
            server_peak_rss_mib: Some(12.0),
            peak_rss_is_per_level: true,
        }
    }

    fn config(name: &str, levels: Vec<LevelResult>) -> ConfigResult {
        ConfigResult {
            name: name.to_owned(),
            store: "redis",
            alg: "RS256".to_owned(),
            users: 64,
            signing: Signing {
                signs_per_sec: 4000.0,
                micros_per_sign: 250.0,
            },
            rss: Rss {
                startup_mib: Some(8.0),
                idle_mib: Some(9.0),
                peak_after_logins_mib: Some(46.0),
            },
            warmup: None,
            levels,
            rates: Vec::new(),
            p99_crossing: None,
            refreshes: None,
            discovery_jwks: None,
            logins: None,
            errors: 0,
            error_samples: Vec::new(),
        }
    }

    #[test]
    fn targets_are_checked_at_sixty_four() {
        let configs = [
            config(
                "redis-rs256",
                vec![level(1, 900.0, 2.0), level(64, 4600.0, 16.0)],
            ),
            config("memory-rs256", vec![level(64, 9000.0, 1.0)]),
        ];
        let checks = check_targets(&configs, 0);
        let met: Vec<_> = checks.iter().map(|c| (c.what.as_str(), c.met)).collect();
        assert_eq!(
            met,
            [
                ("RS256 full flows/s", Some(true)),
                ("RS256 p99 flow latency (ms)", Some(false)),
                ("ES256 full flows/s", None),
                ("RS256 server CPU per flow / RS256 sign cost", Some(true)),
                ("RS256 open loop at 2,500 flows/s: flow p99 (ms)", None),
                ("RS256 open loop at 2,500 flows/s: flow p99.9 (ms)", None),
                ("ES256 refreshes/s", None),
                ("RS256 refreshes/s", None),
                ("RS256 server peak RSS at C=64 (MiB)", Some(true)),
                ("RS256 server idle RSS (MiB)", Some(true)),
                ("errors (all configurations)", Some(true)),
            ]
        );
        assert_eq!(check_targets(&configs, 2).last().unwrap().met, Some(false));
    }

    fn step(offered_per_sec: f64, p99_ms: f64, not_started: u64) -> RateResult {
        RateResult {
            offered_per_sec,
            achieved_per_sec: offered_per_sec,
            seconds: 10.0,
            due: 100,
            started: 100 - not_started,
            not_started,
            flows: 100 - not_started,
            errors: 0,
            connections: 8,
            max_in_flight: 256,
            peak_in_flight: 8,
            bound_waits: 0,
            late_starts: 0,
            start_lateness: Latency::default(),
            authorize: Latency::default(),
            token: Latency::default(),
            userinfo: Latency::default(),
            flow: Latency {
                p99_ms,
                p999_ms: p99_ms * 2.0,
                ..Latency::default()
            },
            service: Latency::default(),
            server_cpu_ms_per_flow: Some(0.3),
            server_cores: Some(1.0),
            redis_cpu_ms_per_flow: None,
            redis_commands_per_flow: Some(6.0),
            client_cpu_ms_per_flow: None,
            server_peak_rss_mib: None,
        }
    }

    #[test]
    fn the_crossing_is_the_first_step_over_the_threshold() {
        assert_eq!(crossing(&[]), None);
        // Out of order, as `--rate` may give them; 3000 crosses, 4000
        // comes back under (noise), which does not matter.
        let steps = [
            step(4000.0, 8.0, 0),
            step(2000.0, 4.0, 0),
            step(3000.0, 12.0, 0),
        ];
        let found = crossing(&steps).unwrap();
        assert_eq!(found.below_per_sec, Some(2000.0));
        assert_eq!(found.above_per_sec, Some(3000.0));
        assert_eq!(found.above_p99_ms, Some(12.0));
        // 4 ms to 12 ms over 1000 flows/s: 10 ms at 2750.
        assert!((found.interpolated_per_sec.unwrap() - 2750.0).abs() < 1e-6);
        assert!(crossing_line(&found).contains("between 2000 flows/s"));

        // Flows that never started cross, and are not interpolated.
        let found = crossing(&[step(1000.0, 2.0, 0), step(2000.0, 3.0, 5)]).unwrap();
        assert_eq!(found.above_per_sec, Some(2000.0));
        assert_eq!(found.interpolated_per_sec, None);

        let under = crossing(&[step(1000.0, 2.0, 0), step(2000.0, 3.0, 0)]).unwrap();
        assert_eq!(
            (under.below_per_sec, under.above_per_sec),
            (Some(2000.0), None)
        );
        assert!(crossing_line(&under).contains("up to 2000"));
        let over = crossing(&[step(1000.0, 11.0, 0)]).unwrap();
        assert_eq!(
            (over.below_per_sec, over.above_per_sec),
            (None, Some(1000.0))
        );
        assert!(crossing_line(&over).contains("already"));
    }

    #[test]
    fn open_loop_and_refresh_targets_are_checked() {
        let mut rs = config("redis-rs256", Vec::new());
        rs.rates = vec![step(2000.0, 3.0, 0), step(2500.0, 4.0, 0)];
        rs.refreshes = Some(RefreshResult {
            concurrency: 64,
            seconds: 10.0,
            refreshes: 36_000,
            refreshes_per_sec: 3600.0,
            errors: 0,
            connections: 64,
            token: Latency::default(),
            userinfo: Latency::default(),
            refresh: Latency::default(),
            server_cpu_ms_per_refresh: None,
            server_cpu_to_sign_ratio: None,
            server_cores: None,
            redis_cpu_ms_per_refresh: None,
            redis_commands_per_refresh: None,
            client_cpu_ms_per_refresh: None,
        });
        let checks = check_targets(&[rs], 0);
        let get = |what: &str| checks.iter().find(|c| c.what.contains(what)).unwrap();
        assert_eq!(get("flow p99 (ms)").value, Some(4.0));
        assert_eq!(get("flow p99 (ms)").met, Some(true));
        // p99.9 is twice the p99 here: 8 ms.
        assert_eq!(get("flow p99.9").met, Some(true));
        assert_eq!(get("RS256 refreshes/s").met, Some(true));
        assert_eq!(get("ES256 refreshes/s").met, None);

        let mut rs = config("redis-rs256", Vec::new());
        rs.rates = vec![step(2500.0, 4.0, 3)];
        let checks = check_targets(&[rs], 0);
        let p99 = checks
            .iter()
            .find(|c| c.what.contains("flow p99 (ms)"))
            .unwrap();
        assert_eq!(p99.met, Some(false), "flows that never started miss it");
    }

    #[test]
    fn the_table_has_a_column_per_heading() {
        let mut out = String::new();
        config_table(
            &mut out,
            &config("redis-rs256", vec![level(64, 4600.0, 16.0)]),
        );
        let lines: Vec<&str> = out.lines().collect();
        let heading = lines
            .iter()
            .find(|l| l.trim_start().starts_with("C "))
            .unwrap();
        let row = lines
            .iter()
            .find(|l| l.trim_start().starts_with("64 "))
            .unwrap();
        // Headings are right-aligned over their columns: the same width.
        assert_eq!(heading.len(), row.len(), "\n{heading}\n{row}");
        assert!(heading.contains("redis cmd"), "{heading}");
        assert!(row.contains("4600.0") && row.contains("12.0 MiB"), "{row}");
    }
}
