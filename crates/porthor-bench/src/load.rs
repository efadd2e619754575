//! The load generator, in two shapes.
//!
//! Closed loop ([`run`]): `concurrency` virtual users, each a tokio task
//! with its own keep-alive connection, repeating one kind of work until the
//! phase's deadline or its operation budget runs out. A slow server slows
//! the arrivals down with it, so its latencies flatter the server under
//! overload.
//!
//! Open loop ([`run_open`]): flows are due at a fixed rate, each at its own
//! time, and start then whether or not earlier ones have finished; a flow's
//! latency counts from when it was due, so a stall delays (and is charged
//! to) every flow that should have started during it, and no coordinated
//! omission hides it. At most `max_in_flight` flows (and so connections)
//! are in flight: a due flow that finds them all taken waits, its wait
//! counted, and one still waiting when the window closes is reported as
//! not started, so an overloaded server cannot make the generator grow
//! without bound.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use tokio::runtime::Handle;
use xtask::server::username;

use super::flows::{
    self, DISCOVERY_PATH, FlowTimes, IdTokenCheck, JWKS_PATH, RefreshGrant, RefreshTimes, Session,
    Target,
};
use super::http::Conn;
use super::stats::Latency;

/// How many error messages a phase keeps to show.
const ERROR_SAMPLES: usize = 5;

/// What the virtual users of a phase do, over and over.
#[derive(Debug)]
pub enum Work {
    /// Full flows; virtual user `i` uses session `i % sessions.len()`.
    Flows {
        target: Arc<Target>,
        sessions: Arc<Vec<Session>>,
    },
    /// Discovery and JWKS requests, alternately.
    WellKnown,
    /// Logins through the form, cycling through `users` users.
    Logins { password: String, users: usize },
    /// Refreshes: virtual user `i` rotates the refresh token of `grants[i]`
    /// (there must be one per virtual user: two rotating one family would
    /// be reuse, and revoke it) and calls userinfo with the new access
    /// token. Each grant keeps its newest token for the next phase.
    Refreshes {
        target: Arc<Target>,
        grants: Vec<Mutex<RefreshGrant>>,
    },
}

/// The bounds of a phase.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub concurrency: usize,
    pub duration: Duration,
    /// Operations started at most, over all virtual users.
    pub max_operations: u64,
}

/// What a phase did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Operations that succeeded (flows, requests or logins).
    pub ok: u64,
    pub errors: u64,
    pub error_samples: Vec<String>,
    /// TCP connections opened (one per virtual user unless one broke).
    pub connects: u64,
    /// Wall time from the start until the last virtual user finished.
    pub elapsed: Duration,
    /// Per-step latencies of the successful flows (`Work::Flows` only).
    pub steps: Option<Steps>,
    /// Per-step latencies of the successful refreshes (`Work::Refreshes`
    /// only).
    pub refreshes: Option<RefreshSteps>,
    /// The ID tokens of the successful flows, not yet checked.
    id_tokens: Vec<IdTokenCheck>,
}

/// Latencies of the successful flows of a phase.
#[derive(Debug, Clone, Copy, Default)]
pub struct Steps {
    pub authorize: Latency,
    pub token: Latency,
    pub userinfo: Latency,
    /// From when each flow was due (in a closed loop, when it started).
    pub flow: Latency,
    /// From when each flow started.
    pub service: Latency,
}

impl Steps {
    fn of(times: &[FlowTimes]) -> Self {
        let step =
            |f: fn(&FlowTimes) -> u32| Latency::of(&mut times.iter().map(f).collect::<Vec<_>>());
        Self {
            authorize: step(|t| t.authorize),
            token: step(|t| t.token),
            userinfo: step(|t| t.userinfo),
            flow: step(|t| t.flow),
            service: step(|t| t.service),
        }
    }
}

/// Latencies of the successful refreshes of a phase.
#[derive(Debug, Clone, Copy, Default)]
pub struct RefreshSteps {
    /// The token request that rotates the refresh token.
    pub token: Latency,
    /// Userinfo with the new access token.
    pub userinfo: Latency,
    pub refresh: Latency,
}

impl Outcome {
    /// Runs the ID-token checks the flows left for after the load: a flow
    /// whose token fails them becomes an error.
    pub fn check_id_tokens(&mut self, work: &Work) {
        match work {
            Work::Flows { target, .. } | Work::Refreshes { target, .. } => {
                self.check_id_tokens_of(target);
            }
            Work::WellKnown | Work::Logins { .. } => {}
        }
    }

    /// [`Outcome::check_id_tokens`] against `target`'s key.
    pub fn check_id_tokens_of(&mut self, target: &Target) {
        for check in self.id_tokens.drain(..) {
            if let Err(error) = check.run(target) {
                self.ok = self.ok.saturating_sub(1);
                self.errors += 1;
                if self.error_samples.len() < ERROR_SAMPLES {
                    self.error_samples.push(format!("{error:#}"));
                }
            }
        }
    }

    /// Successful operations per second.
    pub fn rate(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 {
            self.ok as f64 / seconds
        } else {
            0.0
        }
    }
}

/// One virtual user's share of an [`Outcome`].
#[derive(Debug, Default)]
struct UserOutcome {
    ok: u64,
    errors: u64,
    error_samples: Vec<String>,
    connects: u64,
    times: Vec<FlowTimes>,
    refresh_times: Vec<RefreshTimes>,
    id_tokens: Vec<IdTokenCheck>,
}

/// Runs `work` within `bounds`, virtual user `i` on `addresses[i % len]`
/// (round robin by connection over the replicas).
pub async fn run(addresses: &[SocketAddr], work: Arc<Work>, bounds: Bounds) -> Result<Outcome> {
    let Some(&first) = addresses.first() else {
        bail!("no server to load");
    };
    let started = Instant::now();
    let deadline = started + bounds.duration;
    let budget = Arc::new(AtomicU64::new(bounds.max_operations));
    let users: Vec<_> = (0..bounds.concurrency)
        .map(|index| {
            let work = Arc::clone(&work);
            let budget = Arc::clone(&budget);
            let address = addresses.get(index % addresses.len()).copied();
            tokio::spawn(virtual_user(
                address.unwrap_or(first),
                work,
                index,
                bounds.concurrency,
                deadline,
                budget,
            ))
        })
        .collect();
    let mut outcome = Outcome::default();
    let mut times = Vec::new();
    let mut refresh_times = Vec::new();
    for user in users {
        let user = user.await.context("a virtual user panicked")?;
        outcome.ok += user.ok;
        outcome.errors += user.errors;
        outcome.connects += user.connects;
        for sample in user.error_samples {
            if outcome.error_samples.len() < ERROR_SAMPLES {
                outcome.error_samples.push(sample);
            }
        }
        times.extend(user.times);
        refresh_times.extend(user.refresh_times);
        outcome.id_tokens.extend(user.id_tokens);
    }
    outcome.elapsed = started.elapsed();
    match *work {
        Work::Flows { .. } => outcome.steps = Some(Steps::of(&times)),
        Work::Refreshes { .. } => {
            let step = |f: fn(&RefreshTimes) -> u32| {
                Latency::of(&mut refresh_times.iter().map(f).collect::<Vec<_>>())
            };
            outcome.refreshes = Some(RefreshSteps {
                token: step(|t| t.token),
                userinfo: step(|t| t.userinfo),
                refresh: step(|t| t.refresh),
            });
        }
        Work::WellKnown | Work::Logins { .. } => {}
    }
    Ok(outcome)
}

async fn virtual_user(
    address: SocketAddr,
    work: Arc<Work>,
    index: usize,
    concurrency: usize,
    deadline: Instant,
    budget: Arc<AtomicU64>,
) -> UserOutcome {
    let mut conn = Conn::new(address);
    let mut outcome = UserOutcome::default();
    let mut round = 0usize;
    // A refreshing user's grant, taken for the phase and put back after.
    let mut grant = match &*work {
        Work::Refreshes { grants, .. } => {
            let grant = grants
                .get(index)
                .map(|grant| grant.lock().unwrap_or_else(PoisonError::into_inner).clone());
            if grant.is_none() {
                outcome.errors += 1;
                outcome
                    .error_samples
                    .push(format!("no refresh token for virtual user {index}"));
                return outcome;
            }
            grant
        }
        _ => None,
    };
    while Instant::now() < deadline && take_one(&budget) {
        let result = match &*work {
            Work::Flows { target, sessions } => {
                let Some(session) = sessions.get(index % sessions.len().max(1)) else {
                    outcome.errors += 1;
                    outcome
                        .error_samples
                        .push("no logged-in session".to_owned());
                    break;
                };
                flows::flow(&mut conn, target, session)
                    .await
                    .map(|(times, check)| {
                        outcome.times.push(times);
                        outcome.id_tokens.push(check);
                    })
            }
            Work::WellKnown => {
                let path = if round.is_multiple_of(2) {
                    DISCOVERY_PATH
                } else {
                    JWKS_PATH
                };
                flows::get_ok(&mut conn, path).await
            }
            Work::Logins { password, users } => {
                let user = username((index + round * concurrency) % (*users).max(1));
                flows::login(&mut conn, &user, password).await.map(drop)
            }
            Work::Refreshes { target, .. } => match grant.as_mut() {
                Some(grant) => {
                    flows::refresh(&mut conn, target, grant)
                        .await
                        .map(|(times, check)| {
                            outcome.refresh_times.push(times);
                            outcome.id_tokens.push(check);
                        })
                }
                None => Err(anyhow::anyhow!("no refresh token")),
            },
        };
        round += 1;
        match result {
            Ok(()) => outcome.ok += 1,
            Err(error) => {
                outcome.errors += 1;
                if outcome.error_samples.len() < ERROR_SAMPLES {
                    outcome.error_samples.push(format!("{error:#}"));
                }
                // Do not spin on a server that refuses connections.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    if let (Work::Refreshes { grants, .. }, Some(grant)) = (&*work, grant)
        && let Some(slot) = grants.get(index)
    {
        *slot.lock().unwrap_or_else(PoisonError::into_inner) = grant;
    }
    outcome.connects = conn.connects;
    outcome
}

/// Takes one operation from the budget; false once it is spent.
fn take_one(budget: &AtomicU64) -> bool {
    budget
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
            left.checked_sub(1)
        })
        .is_ok()
}

/// A due flow that starts later than this after its time is a late start.
pub const LATE_START: Duration = Duration::from_millis(1);

/// An open-loop phase: flows due at `rate` per second for `duration`.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub rate: f64,
    pub duration: Duration,
    /// Flows (and so connections) in flight at most.
    pub max_in_flight: usize,
    /// Flows due at most, whatever the duration.
    pub max_flows: u64,
}

impl Schedule {
    /// How many flows fall due in the window: those due strictly before its
    /// end.
    pub fn due(&self) -> u64 {
        let exact = self.duration.as_secs_f64() * self.rate;
        // Flow n is due at n / rate, so those with n < exact are.
        (exact.ceil() as u64).min(self.max_flows)
    }

    /// When flow `n` is due, after the start.
    fn offset(&self, n: u64) -> Duration {
        Duration::from_secs_f64(n as f64 / self.rate)
    }
}

/// What an open-loop phase did.
#[derive(Debug, Default)]
pub struct OpenOutcome {
    /// The successful flows, their errors and latencies (the flow's from
    /// when it was due), and the connections they opened.
    pub outcome: Outcome,
    /// Flows due in the window.
    pub due: u64,
    /// Flows started; the rest were still waiting for a free slot when the
    /// window closed.
    pub started: u64,
    /// Due flows that found every slot in flight taken, and waited.
    pub bound_waits: u64,
    /// The most flows in flight at once.
    pub peak_in_flight: usize,
    /// Flows that started more than [`LATE_START`] after they were due.
    pub late_starts: u64,
    /// How late each flow started.
    pub lateness: Latency,
}

impl OpenOutcome {
    /// Due flows that never started.
    pub fn not_started(&self) -> u64 {
        self.due.saturating_sub(self.started)
    }
}

/// The slots for flows in flight: taken by the scheduler, given back by
/// each flow's task as it ends (also if it panics).
#[derive(Debug, Default)]
struct Slots {
    in_flight: Mutex<usize>,
    freed: Condvar,
}

impl Slots {
    fn lock(&self) -> std::sync::MutexGuard<'_, usize> {
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes a slot if fewer than `max` are taken: the number now in flight.
    fn try_take(&self, max: usize) -> Option<usize> {
        let mut in_flight = self.lock();
        (*in_flight < max).then(|| {
            *in_flight += 1;
            *in_flight
        })
    }

    /// Waits for a slot until `until`: the number now in flight, or `None`
    /// if the time came first.
    fn take_by(&self, max: usize, until: Instant) -> Option<usize> {
        let mut in_flight = self.lock();
        while *in_flight >= max {
            let left = until.checked_duration_since(Instant::now())?;
            in_flight = self
                .freed
                .wait_timeout(in_flight, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        *in_flight += 1;
        Some(*in_flight)
    }

    /// Waits until no flow is in flight.
    fn wait_empty(&self) {
        let mut in_flight = self.lock();
        while *in_flight > 0 {
            in_flight = self
                .freed
                .wait(in_flight)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// Gives a slot back when dropped.
struct SlotGuard(Arc<Slots>);

impl Drop for SlotGuard {
    fn drop(&mut self) {
        let mut in_flight = self.0.lock();
        *in_flight = in_flight.saturating_sub(1);
        drop(in_flight);
        self.0.freed.notify_all();
    }
}

/// What one open-loop flow sends back.
struct Finished {
    /// How late it started, in microseconds.
    lateness: u32,
    result: Result<(FlowTimes, IdTokenCheck), String>,
}

/// Runs full flows on `address` at `schedule`'s rate, open loop (see the
/// module's documentation): this thread keeps the schedule, sleeping until
/// each flow is due and then spawning it on `runtime`; flow `n` uses session
/// `n % sessions.len()` and an idle connection, or a new one.
pub fn run_open(
    runtime: &Handle,
    address: SocketAddr,
    target: &Arc<Target>,
    sessions: &Arc<Vec<Session>>,
    schedule: Schedule,
) -> Result<OpenOutcome> {
    ensure!(
        schedule.rate.is_finite() && schedule.rate > 0.0,
        "the rate must be above zero"
    );
    ensure!(schedule.max_in_flight > 0, "at least one flow in flight");
    ensure!(!sessions.is_empty(), "no logged-in session");
    let slots = Arc::new(Slots::default());
    let idle: Arc<Mutex<Vec<Conn>>> = Arc::default();
    let (done, finished) = mpsc::channel::<Finished>();
    let due = schedule.due();
    let mut open = OpenOutcome {
        due,
        ..OpenOutcome::default()
    };

    let start = Instant::now();
    let end = start + schedule.duration;
    for n in 0..due {
        let at = start + schedule.offset(n);
        if let Some(wait) = at.checked_duration_since(Instant::now()) {
            // A thread's sleep wakes within tens of microseconds; tokio's
            // timer would round each wait up to the next millisecond.
            std::thread::sleep(wait);
        }
        let in_flight = match slots.try_take(schedule.max_in_flight) {
            Some(in_flight) => in_flight,
            None => {
                open.bound_waits += 1;
                match slots.take_by(schedule.max_in_flight, end) {
                    Some(in_flight) => in_flight,
                    None => break,
                }
            }
        };
        open.peak_in_flight = open.peak_in_flight.max(in_flight);
        open.started += 1;
        let guard = SlotGuard(Arc::clone(&slots));
        let session = usize::try_from(n).unwrap_or(0) % sessions.len();
        let sessions = Arc::clone(sessions);
        let target = Arc::clone(target);
        let idle = Arc::clone(&idle);
        let done = done.clone();
        runtime.spawn(async move {
            let started = Instant::now();
            let taken = idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
            let mut conn = taken.unwrap_or_else(|| Conn::new(address));
            let result = match sessions.get(session) {
                Some(session) => flows::flow_due(&mut conn, &target, session, at).await,
                None => Err(anyhow::anyhow!("no logged-in session")),
            };
            idle.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(conn);
            // The receiver outlives every flow: it is read after they end.
            let _ = done.send(Finished {
                lateness: micros(started.saturating_duration_since(at)),
                result: result.map_err(|error| format!("{error:#}")),
            });
            drop(guard);
        });
    }
    drop(done);
    slots.wait_empty();
    let outcome = &mut open.outcome;
    outcome.elapsed = start.elapsed();
    let mut times = Vec::with_capacity(usize::try_from(open.started).unwrap_or(0));
    let mut lateness = Vec::with_capacity(times.capacity());
    for flow in finished.try_iter() {
        lateness.push(flow.lateness);
        match flow.result {
            Ok((flow_times, check)) => {
                outcome.ok += 1;
                times.push(flow_times);
                outcome.id_tokens.push(check);
            }
            Err(error) => {
                outcome.errors += 1;
                if outcome.error_samples.len() < ERROR_SAMPLES {
                    outcome.error_samples.push(error);
                }
            }
        }
    }
    let late = micros(LATE_START);
    open.late_starts = lateness.iter().filter(|&&us| us > late).count() as u64;
    open.lateness = Latency::of(&mut lateness);
    outcome.steps = Some(Steps::of(&times));
    outcome.connects = idle
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .map(|conn| conn.connects)
        .sum();
    Ok(open)
}

fn micros(duration: Duration) -> u32 {
    u32::try_from(duration.as_micros()).unwrap_or(u32::MAX)
}

/// Makes one flow with `offline_access` per grant wanted, `count` in all,
/// flow `i` for session `i % sessions.len()`, each on its own connection
/// `concurrency` at a time, and returns the refresh-token grants in order.
/// Any failure is an error.
pub async fn grant_all(
    address: SocketAddr,
    target: &Arc<Target>,
    sessions: &Arc<Vec<Session>>,
    count: usize,
    concurrency: usize,
) -> Result<Vec<RefreshGrant>> {
    ensure!(!sessions.is_empty(), "no logged-in session");
    let concurrency = concurrency.clamp(1, count.max(1));
    let tasks: Vec<_> = (0..concurrency)
        .map(|first| {
            let target = Arc::clone(target);
            let sessions = Arc::clone(sessions);
            tokio::spawn(async move {
                let mut conn = Conn::new(address);
                let mut grants = Vec::new();
                for n in (first..count).step_by(concurrency) {
                    let session = sessions
                        .get(n % sessions.len())
                        .context("no logged-in session")?;
                    let grant = flows::grant(&mut conn, &target, session)
                        .await
                        .with_context(|| format!("could not get a refresh token ({n})"))?;
                    grants.push((n, grant));
                }
                anyhow::Ok(grants)
            })
        })
        .collect();
    let mut grants = Vec::with_capacity(count);
    for task in tasks {
        grants.extend(task.await.context("a grant task panicked")??);
    }
    grants.sort_by_key(|(n, _)| *n);
    ensure!(
        grants.len() == count,
        "got {} grants of {count}",
        grants.len()
    );
    Ok(grants.into_iter().map(|(_, grant)| grant).collect())
}

/// Logs users `0..users` in through the form, `concurrency` at a time, and
/// returns their sessions in order. Any failure is an error.
pub async fn log_in_all(
    address: SocketAddr,
    users: usize,
    password: &str,
    concurrency: usize,
) -> Result<Vec<Session>> {
    let concurrency = concurrency.clamp(1, users.max(1));
    let tasks: Vec<_> = (0..concurrency)
        .map(|first| {
            let password = password.to_owned();
            tokio::spawn(async move {
                let mut conn = Conn::new(address);
                let mut sessions = Vec::new();
                for n in (first..users).step_by(concurrency) {
                    let user = username(n);
                    let session = flows::login(&mut conn, &user, &password)
                        .await
                        .with_context(|| format!("could not log {user} in"))?;
                    sessions.push((n, session));
                }
                anyhow::Ok(sessions)
            })
        })
        .collect();
    let mut sessions = Vec::with_capacity(users);
    for task in tasks {
        sessions.extend(task.await.context("a login task panicked")??);
    }
    sessions.sort_by_key(|(n, _)| *n);
    if sessions.len() != users {
        bail!("logged in {} users of {users}", sessions.len());
    }
    Ok(sessions.into_iter().map(|(_, session)| session).collect())
}

#[cfg(test)]
mod tests {
    use std::time::{SystemTime, UNIX_EPOCH};

    use super::*;

    #[test]
    fn the_budget_bounds_the_operations() {
        let budget = AtomicU64::new(2);
        assert!(take_one(&budget));
        assert!(take_one(&budget));
        assert!(!take_one(&budget));
        assert!(!take_one(&budget));
    }

    #[test]
    fn a_phase_against_nothing_counts_errors_and_ends() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let port = xtask::redis::free_port().unwrap();
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let bounds = Bounds {
            concurrency: 2,
            duration: Duration::from_secs(5),
            max_operations: 6,
        };
        let outcome = runtime
            .block_on(run(&[address], Arc::new(Work::WellKnown), bounds))
            .unwrap();
        assert_eq!(outcome.ok, 0);
        assert_eq!(outcome.errors, 6);
        assert!(
            outcome.error_samples[0].contains("could not connect"),
            "{:?}",
            outcome.error_samples
        );
        assert!(outcome.steps.is_none());
    }

    #[test]
    fn a_schedule_counts_the_flows_due_before_its_end() {
        let schedule = |rate, seconds, max_flows| Schedule {
            rate,
            duration: Duration::from_secs_f64(seconds),
            max_in_flight: 8,
            max_flows,
        };
        assert_eq!(schedule(2500.0, 10.0, u64::MAX).due(), 25_000);
        assert_eq!(schedule(3.0, 1.0, u64::MAX).due(), 3);
        // Due at 0, 0.4 and 0.8 s.
        assert_eq!(schedule(2.5, 1.0, u64::MAX).due(), 3);
        assert_eq!(schedule(2500.0, 10.0, 7).due(), 7);
        assert_eq!(
            schedule(2000.0, 1.0, 10).offset(3),
            Duration::from_micros(1500)
        );
    }

    #[test]
    fn slots_bound_the_flows_in_flight() {
        let slots = Arc::new(Slots::default());
        assert_eq!(slots.try_take(2), Some(1));
        assert_eq!(slots.try_take(2), Some(2));
        assert_eq!(slots.try_take(2), None);
        let soon = Instant::now() + Duration::from_millis(20);
        assert_eq!(slots.take_by(2, soon), None, "none frees in time");
        let guard = SlotGuard(Arc::clone(&slots));
        let freeing = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            drop(guard);
        });
        let later = Instant::now() + Duration::from_secs(5);
        assert_eq!(slots.take_by(2, later), Some(2), "the freed slot is taken");
        freeing.join().unwrap();
        drop([SlotGuard(Arc::clone(&slots)), SlotGuard(Arc::clone(&slots))]);
        slots.wait_empty();
        assert_eq!(*slots.lock(), 0);
    }

    #[test]
    fn an_open_loop_phase_against_nothing_starts_every_flow_on_time() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let port = xtask::redis::free_port().unwrap();
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let pem = porthor_signer::generate_pem(porthor_signer::SigningAlgorithm::Es256).unwrap();
        let signer = Arc::new(porthor_signer::Signer::from_pem(pem.as_bytes()).unwrap());
        let target = Arc::new(Target::new(
            address,
            "app",
            "s",
            "http://127.0.0.1:9/cb",
            signer,
        ));
        let sessions = Arc::new(vec![Session::for_test("user00")]);
        let schedule = Schedule {
            rate: 200.0,
            duration: Duration::from_millis(100),
            max_in_flight: 4,
            max_flows: 1000,
        };
        let started = Instant::now();
        let open = run_open(runtime.handle(), address, &target, &sessions, schedule).unwrap();
        // The last flow is due at 95 ms; refused connections end at once.
        assert!(started.elapsed() >= Duration::from_millis(95));
        assert_eq!((open.due, open.started, open.not_started()), (20, 20, 0));
        assert_eq!((open.outcome.ok, open.outcome.errors), (0, 20));
        assert!(open.peak_in_flight >= 1 && open.peak_in_flight <= 4);
        assert_eq!(open.lateness.count, 20);
        assert!(
            open.outcome.error_samples[0].contains("could not connect"),
            "{:?}",
            open.outcome.error_samples
        );
        assert_eq!(open.outcome.steps.unwrap().flow.count, 0);
        assert!(
            run_open(
                runtime.handle(),
                address,
                &target,
                &Arc::new(Vec::new()),
                schedule
            )
            .is_err()
        );
    }

    #[test]
    fn id_tokens_that_fail_their_deferred_checks_are_errors() {
        let signer = |alg| {
            let pem = porthor_signer::generate_pem(alg).unwrap();
            Arc::new(porthor_signer::Signer::from_pem(pem.as_bytes()).unwrap())
        };
        let server = signer(porthor_signer::SigningAlgorithm::Es256);
        let address = SocketAddr::from(([127, 0, 0, 1], 8080));
        let target = Arc::new(Target::new(
            address,
            "app",
            "secret",
            "http://127.0.0.1:9/cb",
            Arc::clone(&server),
        ));
        let exp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 60;
        let claims = serde_json::json!({
            "iss": target.issuer, "aud": "app", "sub": "u1", "nonce": "n1", "exp": exp,
        });
        let check = |by: &porthor_signer::Signer, nonce: &str, username: &str| IdTokenCheck {
            id_token: by.sign(&claims).unwrap(),
            nonce: Some(nonce.to_owned()),
            username: username.to_owned(),
        };
        // A refresh's ID token must carry no nonce.
        let refreshed = IdTokenCheck {
            nonce: None,
            ..check(&server, "n1", "u1")
        };
        let stranger = signer(porthor_signer::SigningAlgorithm::Es256);
        let mut outcome = Outcome {
            ok: 5,
            id_tokens: vec![
                refreshed,
                check(&server, "n1", "u1"),
                check(&stranger, "n1", "u1"),
                check(&server, "n2", "u1"),
                check(&server, "n1", "u2"),
            ],
            ..Outcome::default()
        };
        let work = Work::Flows {
            target,
            sessions: Arc::new(Vec::new()),
        };
        outcome.check_id_tokens(&work);
        assert_eq!((outcome.ok, outcome.errors), (1, 4));
        assert!(outcome.id_tokens.is_empty());
        let samples = outcome.error_samples.join("\n");
        for expected in ["ID token", "nonce", "sub"] {
            assert!(samples.contains(expected), "{samples}");
        }
    }
}
