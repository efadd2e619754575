//! The Prometheus exporter behind the `metrics` facade the library crates
//! emit through, and the process metrics it adds at each scrape.
//!
//! The exporter is installed once, as the process-wide recorder, only when
//! `[metrics] enabled`; the server gets a function that renders the text
//! (it serves it, this module never listens). Process metrics are read from
//! `/proc/self` at scrape time (Linux; elsewhere they are left out).
//!
//! It must not know HTTP, nor what the counters mean.

use std::sync::Arc;

use anyhow::{Context as _, Result};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use porthor_server::RenderMetrics;

/// Buckets of the latency histograms, in seconds: from a cache hit to a
/// password check (Argon2, tens of milliseconds) queued behind others.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Installs the Prometheus recorder and returns how to render a scrape.
pub fn install() -> Result<RenderMetrics> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("duration_seconds".into()), LATENCY_BUCKETS)
        .context("cannot set the latency buckets")?
        .install_recorder()
        .context("cannot install the metrics recorder")?;
    metrics::gauge!("porthor_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    // The exporter keeps histogram samples until a render drains them; the
    // upkeep bounds that between scrapes.
    let upkeep = handle.clone();
    std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(std::time::Duration::from_secs(5));
                upkeep.run_upkeep();
            }
        })
        .context("cannot start the metrics upkeep thread")?;
    Ok(Arc::new(move || {
        process::record();
        handle.render()
    }))
}

/// `process_*` metrics, the names Prometheus' own client libraries use.
mod process {
    use std::fs;

    /// Clock ticks per second of `/proc/self/stat`'s CPU times: USER_HZ,
    /// 100 on every Linux architecture.
    const TICKS_PER_SECOND: f64 = 100.0;

    pub(super) fn record() {
        if let Some(cpu) = cpu_seconds() {
            metrics::gauge!("process_cpu_seconds_total").set(cpu);
        }
        if let Some(rss) = resident_bytes() {
            metrics::gauge!("process_resident_memory_bytes").set(rss);
        }
        if let Ok(fds) = fs::read_dir("/proc/self/fd") {
            metrics::gauge!("process_open_fds").set(fds.count() as f64);
        }
    }

    /// User and system CPU seconds, from `/proc/self/stat`. The command
    /// name in parentheses may contain spaces, so fields are counted after
    /// its closing parenthesis.
    fn cpu_seconds() -> Option<f64> {
        let text = fs::read_to_string("/proc/self/stat").ok()?;
        let (_, rest) = text.rsplit_once(')')?;
        // After ")": field 3 (state) first; utime is field 14, stime 15.
        let mut fields = rest.split_whitespace().skip(14 - 3);
        let mut next = || fields.next()?.parse::<f64>().ok();
        Some((next()? + next()?) / TICKS_PER_SECOND)
    }

    /// `VmRSS` of `/proc/self/status`, which the kernel gives in kB.
    fn resident_bytes() -> Option<f64> {
        let text = fs::read_to_string("/proc/self/status").ok()?;
        let kb = text.lines().find_map(|line| line.strip_prefix("VmRSS:"))?;
        let kb = kb
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse::<f64>()
            .ok()?;
        Some(kb * 1024.0)
    }
}
