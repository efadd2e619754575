//! The load generator: `concurrency` virtual users, each a tokio task with
//! its own keep-alive connection, repeating one kind of work until the
//! phase's deadline or its operation budget runs out.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use xtask::server::username;

use super::flows::{self, DISCOVERY_PATH, FlowTimes, IdTokenCheck, JWKS_PATH, Session, Target};
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
    /// The ID tokens of the successful flows, not yet checked.
    id_tokens: Vec<IdTokenCheck>,
}

/// Latencies of the successful flows of a phase.
#[derive(Debug, Clone, Copy, Default)]
pub struct Steps {
    pub authorize: Latency,
    pub token: Latency,
    pub userinfo: Latency,
    pub flow: Latency,
}

impl Outcome {
    /// Runs the ID-token checks the flows left for after the load: a flow
    /// whose token fails them becomes an error.
    pub fn check_id_tokens(&mut self, work: &Work) {
        let Work::Flows { target, .. } = work else {
            return;
        };
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
        outcome.id_tokens.extend(user.id_tokens);
    }
    outcome.elapsed = started.elapsed();
    if matches!(*work, Work::Flows { .. }) {
        let step =
            |f: fn(&FlowTimes) -> u32| Latency::of(&mut times.iter().map(f).collect::<Vec<_>>());
        outcome.steps = Some(Steps {
            authorize: step(|t| t.authorize),
            token: step(|t| t.token),
            userinfo: step(|t| t.userinfo),
            flow: step(|t| t.flow),
        });
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
            nonce: nonce.to_owned(),
            username: username.to_owned(),
        };
        let stranger = signer(porthor_signer::SigningAlgorithm::Es256);
        let mut outcome = Outcome {
            ok: 4,
            id_tokens: vec![
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
        assert_eq!((outcome.ok, outcome.errors), (1, 3));
        assert!(outcome.id_tokens.is_empty());
        let samples = outcome.error_samples.join("\n");
        for expected in ["ID token", "nonce", "sub"] {
            assert!(samples.contains(expected), "{samples}");
        }
    }
}
