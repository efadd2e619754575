//! The results: what is kept (JSON under `target/bench/`), the table shown on
//! stdout, and the issue's targets with whether each was met.
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
                "  [{verdict}] {:<48} {:>12}  (target {})",
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
                ("RS256 server peak RSS at C=64 (MiB)", Some(true)),
                ("RS256 server idle RSS (MiB)", Some(true)),
                ("errors (all configurations)", Some(true)),
            ]
        );
        assert_eq!(check_targets(&configs, 2).last().unwrap().met, Some(false));
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
