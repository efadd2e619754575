//! `--metrics-overhead ROUNDS`: what recording metrics costs, in flows/s.
//!
//! One configuration (Redis + ES256, the cheapest flow, where a fixed cost
//! per request shows most) at one concurrency, run `ROUNDS` times with
//! metrics off and `ROUNDS` times on (`[metrics] enabled` with a separate
//! listener: the exporter installed, every request, store operation and
//! protocol event recorded, nothing scraped), each round a fresh server,
//! the two alternating in the order off, on, on, off, off, on, ... so that
//! drift on a shared machine falls on both sides alike. It reports the
//! median flows/s of each side and their ratio; one pair of runs moves by
//! more than the effect, a median of several does not as much.

use std::net::TcpListener;

use anyhow::{Context as _, Result};
use serde::Serialize;

/// One round's figures.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Round {
    pub metrics: bool,
    pub flows_per_sec: f64,
    pub server_cpu_ms_per_flow: Option<f64>,
}

/// Both sides' medians and what they mean.
#[derive(Debug, Serialize)]
pub(crate) struct Summary {
    pub rounds: Vec<Round>,
    pub median_flows_per_sec_off: f64,
    pub median_flows_per_sec_on: f64,
    /// on / off.
    pub ratio: f64,
    /// Flows/s lost to metrics, in percent of the off median (negative when
    /// the on side was faster: noise).
    pub overhead_percent: f64,
    pub median_server_cpu_ms_per_flow_off: Option<f64>,
    pub median_server_cpu_ms_per_flow_on: Option<f64>,
}

/// Whether each of `2 * rounds` runs has metrics on: off, on, on, off, ...
pub(crate) fn order(rounds: usize) -> Vec<bool> {
    (0..rounds)
        .flat_map(|pair| {
            if pair % 2 == 0 {
                [false, true]
            } else {
                [true, false]
            }
        })
        .collect()
}

/// The environment that turns metrics on, on a free loopback port of their
/// own (a scrape is not part of the cost measured).
pub(crate) fn metrics_env() -> Result<Vec<(String, String)>> {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .context("could not find a free port for the metrics listener")?
        .port();
    Ok(vec![
        ("PORTHOR_METRICS__ENABLED".to_owned(), "true".to_owned()),
        (
            "PORTHOR_METRICS__LISTEN".to_owned(),
            format!("127.0.0.1:{port}"),
        ),
    ])
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => values.get(n / 2).copied(),
        _ => Some((values.get(n / 2 - 1)? + values.get(n / 2)?) / 2.0),
    }
}

/// The medians of `rounds`.
pub(crate) fn summarize(rounds: Vec<Round>) -> Summary {
    let side = |metrics: bool, figure: fn(&Round) -> Option<f64>| {
        median(
            rounds
                .iter()
                .filter(|round| round.metrics == metrics)
                .filter_map(figure)
                .collect(),
        )
    };
    let off = side(false, |round| Some(round.flows_per_sec)).unwrap_or(0.0);
    let on = side(true, |round| Some(round.flows_per_sec)).unwrap_or(0.0);
    let ratio = if off > 0.0 { on / off } else { 0.0 };
    Summary {
        median_flows_per_sec_off: off,
        median_flows_per_sec_on: on,
        ratio,
        overhead_percent: (1.0 - ratio) * 100.0,
        median_server_cpu_ms_per_flow_off: side(false, |round| round.server_cpu_ms_per_flow),
        median_server_cpu_ms_per_flow_on: side(true, |round| round.server_cpu_ms_per_flow),
        rounds,
    }
}

impl Summary {
    /// The summary as the lines the bench prints.
    pub(crate) fn lines(&self) -> Vec<String> {
        let cpu = |ms: Option<f64>| ms.map_or("-".to_owned(), |ms| format!("{ms:.3}"));
        let mut lines = vec!["round  metrics  flows/s  server ms/flow".to_owned()];
        for (number, round) in self.rounds.iter().enumerate() {
            lines.push(format!(
                "{:>5}  {:<7}  {:>7.0}  {:>14}",
                number + 1,
                if round.metrics { "on" } else { "off" },
                round.flows_per_sec,
                cpu(round.server_cpu_ms_per_flow)
            ));
        }
        lines.push(format!(
            "median flows/s: off {:.0}, on {:.0}; on/off {:.3} ({:+.1}% flows/s with metrics); server ms/flow off {}, on {}",
            self.median_flows_per_sec_off,
            self.median_flows_per_sec_on,
            self.ratio,
            -self.overhead_percent,
            cpu(self.median_server_cpu_ms_per_flow_off),
            cpu(self.median_server_cpu_ms_per_flow_on),
        ));
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_alternate_so_both_sides_start_first_as_often() {
        assert_eq!(order(1), [false, true]);
        assert_eq!(order(3), [false, true, true, false, false, true]);
    }

    #[test]
    fn medians_and_ratio() {
        let round = |metrics, flows_per_sec| Round {
            metrics,
            flows_per_sec,
            server_cpu_ms_per_flow: Some(flows_per_sec / 1000.0),
        };
        let summary = summarize(vec![
            round(false, 100.0),
            round(true, 90.0),
            round(true, 99.0),
            round(false, 104.0),
            round(false, 50.0),
            round(true, 98.0),
        ]);
        assert_eq!(summary.median_flows_per_sec_off, 100.0);
        assert_eq!(summary.median_flows_per_sec_on, 98.0);
        assert!((summary.ratio - 0.98).abs() < 1e-9);
        assert!((summary.overhead_percent - 2.0).abs() < 1e-9);
        assert_eq!(median(vec![1.0, 3.0]), Some(2.0));
        assert_eq!(median(Vec::new()), None);
        assert!(summary.lines().last().unwrap().contains("-2.0% flows/s"));
    }
}
