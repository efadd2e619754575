//! The bench's open-loop steps and its refresh phase on one configuration:
//! running each with the generator in [`load`], measuring
//! around it as the concurrency levels are measured (server, Redis and
//! generator CPU from `/proc`, Redis's commands, the server's peak RSS),
//! and turning what happened into the report's figures.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, Result, bail, ensure};

use super::load::{self, OpenOutcome, Outcome, Schedule, Work};
use super::report::{RateResult, RefreshResult, Signing};
use super::{ConfigBench, Probe, Usage, procfs, redis_stats, rss_mib};

/// The automatic sweep's steps, in flows per second.
const SWEEP_STEP: f64 = 500.0;
const SWEEP_TOP: f64 = 20_000.0;

/// Refresh-token grants made at once before the refresh phase.
const GRANT_CONCURRENCY: usize = 8;

/// The open-loop rates to run, from `--rate` and `--rate-sweep`: `--rate`'s
/// as given, or ascending for a sweep (500 to 20,000 in steps of 500 if
/// `--rate` gave none).
pub(crate) fn rate_steps(rates: &[f64], sweep: bool) -> Result<Vec<f64>> {
    if let Some(bad) = rates
        .iter()
        .find(|rate| !(rate.is_finite() && **rate > 0.0 && **rate <= 1e6))
    {
        bail!("--rate takes flows per second between 0 and 1,000,000, not {bad}");
    }
    let mut steps = rates.to_vec();
    if sweep {
        if steps.is_empty() {
            steps = (1..)
                .map(|n| f64::from(n) * SWEEP_STEP)
                .take_while(|&rate| rate <= SWEEP_TOP)
                .collect();
        }
        steps.sort_by(f64::total_cmp);
        steps.dedup();
    }
    Ok(steps)
}

/// Where a phase's costs are read from.
pub(crate) struct Meter<'a> {
    pub probe: &'a Probe,
    pub redis_port: Option<u16>,
    /// Every server process (replicas): peak RSS is the largest one's.
    pub servers: &'a [u32],
}

/// What was measured around a phase.
struct Measured<T> {
    value: T,
    usage: Usage,
    /// Commands Redis served during it.
    commands: Option<u64>,
    peak_rss_mib: Option<f64>,
}

impl Meter<'_> {
    /// Runs `phase`, reading the costs before and after it.
    fn measure<T>(&self, phase: impl FnOnce() -> Result<T>) -> Result<Measured<T>> {
        for &pid in self.servers {
            procfs::reset_peak_rss(pid);
        }
        let commands_before = self
            .redis_port
            .and_then(|port| redis_stats::commands_served(port).ok());
        let before = self.probe.sample();
        let value = phase()?;
        let usage = self.probe.sample().since(&before, self.probe.ticks);
        let commands = self
            .redis_port
            .and_then(|port| redis_stats::commands_served(port).ok())
            .zip(commands_before)
            .and_then(|(after, before)| after.checked_sub(before));
        Ok(Measured {
            value,
            usage,
            commands,
            peak_rss_mib: rss_mib(self.servers, "VmHWM"),
        })
    }
}

/// `total` (seconds, or a count) per operation, in milliseconds for
/// seconds; `None` without operations.
fn per_op(total: Option<f64>, ops: u64, scale: f64) -> Option<f64> {
    let total = total?;
    (ops > 0).then(|| total * scale / ops as f64)
}

impl ConfigBench<'_> {
    /// The configuration's open-loop steps in order; a sweep stops after
    /// the first that crosses the threshold. The schedule drives one server
    /// (`address`, the first replica with `--replicas`).
    pub(crate) fn rate_steps(
        &self,
        address: SocketAddr,
        flows: &Work,
        meter: &Meter<'_>,
        keep: &mut impl FnMut(&Outcome),
    ) -> Result<Vec<RateResult>> {
        let Work::Flows { target, sessions } = flows else {
            bail!("open-loop steps run flows");
        };
        let mut steps = Vec::new();
        for &rate in &self.config.rates {
            let schedule = Schedule {
                rate,
                duration: self.config.rate_step,
                max_in_flight: self.plan.max_in_flight,
                max_flows: self.plan.max_flows,
            };
            let mut measured = meter.measure(|| {
                load::run_open(self.runtime.handle(), address, target, sessions, schedule)
            })?;
            measured.value.outcome.check_id_tokens_of(target);
            keep(&measured.value.outcome);
            let step = rate_result(&measured, schedule);
            eprintln!(
                "{rate:.0} flows/s offered: {:.1} achieved, flow p99 {:.2} ms, p99.9 {:.2} ms, \
                 {} late starts, {} not started, {} errors",
                step.achieved_per_sec,
                step.flow.p99_ms,
                step.flow.p999_ms,
                step.late_starts,
                step.not_started,
                step.errors
            );
            let crossed = step.crosses();
            steps.push(step);
            if self.plan.sweep && crossed {
                break;
            }
        }
        Ok(steps)
    }

    /// The refresh phase, if the plan has one: makes one refresh-token grant
    /// per virtual user (as many as the top concurrency), then has them
    /// rotate and call userinfo for the phase's duration. The grants are
    /// made at the first of `addresses`; the refreshes, like the closed-loop
    /// levels, go to every replica, round robin by connection.
    pub(crate) fn refreshes(
        &self,
        addresses: &[SocketAddr],
        flows: &Work,
        meter: &Meter<'_>,
        signing: Signing,
        keep: &mut impl FnMut(&Outcome),
    ) -> Result<Option<RefreshResult>> {
        let Some(duration) = self.config.refreshes else {
            return Ok(None);
        };
        let concurrency = self.plan.concurrency.iter().copied().max().unwrap_or(1);
        let Work::Flows { target, sessions } = flows else {
            bail!("refreshes start from flows");
        };
        let address = *addresses.first().context("no server to refresh at")?;
        let grants = self.runtime.block_on(load::grant_all(
            address,
            target,
            sessions,
            concurrency,
            GRANT_CONCURRENCY,
        ))?;
        ensure!(grants.len() == concurrency, "one grant per virtual user");
        let work = Arc::new(Work::Refreshes {
            target: Arc::clone(target),
            grants: grants.into_iter().map(Mutex::new).collect(),
        });
        let mut measured = meter.measure(|| self.phase(addresses, &work, concurrency, duration))?;
        let outcome = &mut measured.value;
        outcome.check_id_tokens(&work);
        keep(outcome);
        let outcome = &measured.value;
        let usage = &measured.usage;
        let steps = outcome.refreshes.unwrap_or_default();
        let server_cpu_ms_per_refresh = per_op(usage.server, outcome.ok, 1000.0);
        let result = RefreshResult {
            concurrency,
            seconds: outcome.elapsed.as_secs_f64(),
            refreshes: outcome.ok,
            refreshes_per_sec: outcome.rate(),
            errors: outcome.errors,
            connections: outcome.connects,
            token: steps.token,
            userinfo: steps.userinfo,
            refresh: steps.refresh,
            server_cpu_ms_per_refresh,
            server_cpu_to_sign_ratio: server_cpu_ms_per_refresh
                .map(|ms| ms * 1000.0 / signing.micros_per_sign),
            server_cores: cores(usage),
            redis_cpu_ms_per_refresh: per_op(usage.redis, outcome.ok, 1000.0),
            redis_commands_per_refresh: per_op(
                measured.commands.map(|c| c as f64),
                outcome.ok,
                1.0,
            ),
            client_cpu_ms_per_refresh: per_op(usage.client, outcome.ok, 1000.0),
        };
        eprintln!(
            "refreshes at C={concurrency}: {:.1}/s, p99 {:.2} ms, {} errors",
            result.refreshes_per_sec, result.refresh.p99_ms, result.errors
        );
        Ok(Some(result))
    }
}

/// Server cores kept busy on average.
fn cores(usage: &Usage) -> Option<f64> {
    usage
        .server
        .filter(|_| usage.wall > 0.0)
        .map(|seconds| seconds / usage.wall)
}

/// One open-loop step's figures.
fn rate_result(measured: &Measured<OpenOutcome>, schedule: Schedule) -> RateResult {
    let open = &measured.value;
    let outcome = &open.outcome;
    let usage = &measured.usage;
    let steps = outcome.steps.unwrap_or_default();
    let ok = outcome.ok;
    RateResult {
        offered_per_sec: schedule.rate,
        achieved_per_sec: outcome.rate(),
        seconds: outcome.elapsed.as_secs_f64(),
        due: open.due,
        started: open.started,
        not_started: open.not_started(),
        flows: ok,
        errors: outcome.errors,
        connections: outcome.connects,
        max_in_flight: schedule.max_in_flight,
        peak_in_flight: open.peak_in_flight,
        bound_waits: open.bound_waits,
        late_starts: open.late_starts,
        start_lateness: open.lateness,
        authorize: steps.authorize,
        token: steps.token,
        userinfo: steps.userinfo,
        flow: steps.flow,
        service: steps.service,
        server_cpu_ms_per_flow: per_op(usage.server, ok, 1000.0),
        server_cores: cores(usage),
        redis_cpu_ms_per_flow: per_op(usage.redis, ok, 1000.0),
        redis_commands_per_flow: per_op(measured.commands.map(|c| c as f64), ok, 1.0),
        client_cpu_ms_per_flow: per_op(usage.client, ok, 1000.0),
        server_peak_rss_mib: measured.peak_rss_mib,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_kept_or_swept_in_order() {
        assert_eq!(rate_steps(&[], false).unwrap(), Vec::<f64>::new());
        assert_eq!(
            rate_steps(&[2500.0, 1000.0], false).unwrap(),
            [2500.0, 1000.0]
        );
        assert_eq!(
            rate_steps(&[2500.0, 1000.0, 2500.0], true).unwrap(),
            [1000.0, 2500.0]
        );
        let auto = rate_steps(&[], true).unwrap();
        assert_eq!(auto.len(), 40);
        assert_eq!(auto.first(), Some(&500.0));
        assert_eq!(auto.last(), Some(&20_000.0));
        for bad in [0.0, -5.0, f64::NAN, f64::INFINITY] {
            assert!(rate_steps(&[bad], false).is_err(), "{bad}");
        }
    }
}
