//! Faults under load (`porthor-bench --chaos FAULT`): Redis is killed and
//! restarted, or frozen with SIGSTOP for longer than the store's command
//! timeout, while 64 virtual users run full flows, and the run proves that
//! the provider fails cleanly and comes back.
//!
//! Each virtual user repeats: authorize (scope `openid offline_access`),
//! redeem the code, userinfo, refresh; then it replays the rotated refresh
//! token and the redeemed code, which must be refused. Every answer is
//! classified: the expected one, a *fault answer* (a 503 with
//! `temporarily_unavailable` from the token endpoint, a 503 elsewhere, or an
//! authorization redirect carrying `error=temporarily_unavailable`), a
//! refusal where one is due, or a *bad answer*, anything else (a 500 above
//! all), which fails the run. A user whose session was lost logs in again.
//! A code or refresh token whose fate a fault answer left open is tried
//! twice more once the load has stopped: across all tries, each is
//! accepted at most once.
//!
//! Measured and checked: zero bad answers, zero 5xx but 503, nothing
//! accepted twice, no panic in the servers' logs, the flow rate (flows
//! started after Redis answers again) back to 90% of its pre-fault level in
//! a one-second window ending within 5 s, and the servers' RSS while Redis
//! is away at most [`RSS_HEADROOM_MIB`] above its pre-fault peak. The table
//! goes to stdout, the figures to `target/bench/chaos-<fault>.json`.
//!
//! Redis is persistent (append-only file): a killed Redis restarts with
//! every write it acknowledged, as docs/operations.md advises, so sessions
//! and tokens survive the restart and a replay after it is a real test.
#![allow(
    clippy::print_stdout,
    reason = "the summary is the run's output; progress goes to stderr"
)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use porthor_signer::Signer;
use serde::Serialize;
use serde_json::Value;
use tokio::runtime::Runtime;
use xtask::redis::Redis;
use xtask::server::{Client, Credentials, Server, Setup, Store};

use super::flows::{
    self, AUTHORIZE_PATH, LOGIN_PATH, TOKEN_PATH, Target, USERINFO_PATH, form_encode,
};
use super::http::{Conn, Response};
use super::{load, procfs, report};

/// What goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fault {
    /// Redis is killed (SIGKILL), stays down a while, and is started again.
    RedisRestart,
    /// Redis is frozen (SIGSTOP) for longer than the command timeout, then
    /// thawed (SIGCONT).
    RedisPause,
}

impl Fault {
    pub fn name(self) -> &'static str {
        match self {
            Self::RedisRestart => "redis-restart",
            Self::RedisPause => "redis-pause",
        }
    }
}

/// The store's command timeout (porthor-store's `RESPONSE_TIMEOUT`): a pause
/// must outlast it to turn into failed commands.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// The flow rate must be back to this share of its pre-fault level...
const RECOVERY_SHARE: f64 = 0.9;
/// ...in a one-second window ending this long after Redis answers again.
const RECOVERY_WITHIN: Duration = Duration::from_secs(5);
/// The servers' RSS while Redis is away may exceed the pre-fault peak by
/// at most this.
const RSS_HEADROOM_MIB: f64 = 16.0;
/// Virtual users (and logged-in users).
const CONCURRENCY: usize = 64;
/// How long a virtual user waits after a fault answer before going on, as
/// a client honouring `Retry-After` would (but shorter, to find the
/// moment of recovery).
const BACKOFF: Duration = Duration::from_millis(50);
/// Bad answers kept to show.
const SAMPLES: usize = 8;

const CLIENT_ID: &str = "chaos";
const REDIRECT_URI: &str = "http://127.0.0.1:9/cb";

/// The timing of one run.
#[derive(Debug, Clone, Copy)]
struct Timing {
    /// Load before the fault (the first second is not measured).
    before: Duration,
    /// How long Redis is away: killed, or frozen.
    away: Duration,
    /// Load after Redis answers again, at most.
    after: Duration,
    /// Whether to stop a second after the rate has recovered (the short
    /// run CI does) rather than run all of `after`.
    stop_when_recovered: bool,
}

impl Timing {
    fn new(fault: Fault, quick: bool) -> Self {
        let away = match (fault, quick) {
            (Fault::RedisRestart, true) => Duration::from_millis(500),
            (Fault::RedisRestart, false) => Duration::from_secs(3),
            (Fault::RedisPause, true) => COMMAND_TIMEOUT + Duration::from_secs(1),
            (Fault::RedisPause, false) => COMMAND_TIMEOUT * 2,
        };
        Self {
            before: Duration::from_secs(if quick { 2 } else { 6 }),
            away,
            after: RECOVERY_WITHIN + Duration::from_secs(if quick { 1 } else { 5 }),
            stop_when_recovered: quick,
        }
    }
}

/// What the run needs from the bench.
#[derive(Debug)]
pub struct Env<'a> {
    pub porthor: &'a Path,
    pub target_dir: &'a Path,
    pub credentials: &'a Credentials,
    pub runtime: &'a Runtime,
    pub replicas: usize,
    pub quick: bool,
    pub server_env: &'a [(String, String)],
}

/// Runs `fault` under load, prints the table and writes the JSON; fails if
/// any check failed.
pub fn run(env: &Env<'_>, fault: Fault) -> Result<()> {
    let timing = Timing::new(fault, env.quick);
    let mut redis = Redis::start_persistent(env.target_dir)?;
    let setup = Setup {
        porthor: env.porthor,
        dir: env
            .target_dir
            .join("bench")
            .join(format!("chaos-{}", fault.name())),
        alg: "RS256",
        store: Store::Redis(redis.url()),
        client: Client {
            id: CLIENT_ID,
            redirect_uri: REDIRECT_URI,
            require_pkce: false,
        },
        users: CONCURRENCY,
        credentials: env.credentials,
        env: env.server_env,
    };
    let pem = setup.keys()?;
    let signer = Arc::new(Signer::from_pem(&pem).context("could not load the new key")?);
    let mut servers = setup.start_replicas(env.replicas)?;
    let pids: Vec<u32> = servers.iter().map(Server::pid).collect();
    let addresses: Vec<SocketAddr> = servers.iter().map(|server| server.address).collect();
    let first = *addresses.first().context("no server started")?;
    let sessions = env.runtime.block_on(load::log_in_all(
        first,
        CONCURRENCY,
        &env.credentials.password,
        2,
    ))?;
    let target = Target::new(
        first,
        CLIENT_ID,
        &env.credentials.client_secret,
        REDIRECT_URI,
        signer,
    );
    let shared = Arc::new(Shared {
        started: Instant::now(),
        stop: AtomicBool::new(false),
        flows: Mutex::new(Vec::new()),
        authorize_prefix: format!(
            "{AUTHORIZE_PATH}?response_type=code&client_id={}&redirect_uri={}\
             &scope=openid%20offline_access",
            form_encode(CLIENT_ID),
            form_encode(REDIRECT_URI)
        ),
        target,
        password: env.credentials.password.clone(),
    });
    let memory = Arc::new(Mutex::new(Vec::new()));
    let sampler = {
        let (shared, memory, pids) = (Arc::clone(&shared), Arc::clone(&memory), pids.clone());
        std::thread::spawn(move || sample_rss(&shared, &pids, &memory))
    };
    let users: Vec<_> = sessions
        .into_iter()
        .enumerate()
        .map(|(index, session)| {
            let address = addresses.get(index % addresses.len()).copied();
            let user = virtual_user(
                Arc::clone(&shared),
                address.unwrap_or(first),
                session.username.clone(),
                Some(session.cookie.clone()),
            );
            env.runtime.spawn(user)
        })
        .collect();

    eprintln!(
        "{}: {CONCURRENCY} virtual users on {} server(s), {:?} of load before the fault",
        fault.name(),
        addresses.len(),
        timing.before
    );
    std::thread::sleep(timing.before);
    let fault_at = shared.started.elapsed();
    match fault {
        Fault::RedisRestart => {
            redis.kill()?;
            std::thread::sleep(timing.away);
            redis.start_again()?;
        }
        Fault::RedisPause => {
            redis.pause()?;
            std::thread::sleep(timing.away);
            redis.resume()?;
        }
    }
    let back_at = shared.started.elapsed();
    eprintln!(
        "{}: Redis away from {:.2} s to {:.2} s",
        fault.name(),
        fault_at.as_secs_f64(),
        back_at.as_secs_f64()
    );
    let back_ms = millis(back_at);
    let give_up = Instant::now() + timing.after;
    while Instant::now() < give_up {
        std::thread::sleep(Duration::from_millis(100));
        if !timing.stop_when_recovered {
            continue;
        }
        let flows = shared.flows.lock().map(|f| f.clone()).unwrap_or_default();
        let now = shared.millis();
        let before = rate_before(&flows, millis(fault_at));
        if recovered_at(&flows, before, back_ms, now).is_some_and(|at| at + 1000 <= now) {
            break;
        }
    }
    shared.stop.store(true, Ordering::Relaxed);
    let ended_at = shared.started.elapsed();

    let mut tally = Tally::default();
    for user in users {
        let user = env
            .runtime
            .block_on(user)
            .context("a virtual user panicked")?;
        tally.merge(user);
    }
    let _ = sampler.join();
    // Settle what fault answers left open, with Redis up and no load.
    let settled = env.runtime.block_on(settle(&shared, first, &mut tally));

    let running = servers.iter_mut().all(Server::is_running);
    let logs = read_logs(&setup.dir);
    let panics = logs.to_lowercase().matches("panic").count();
    let rss = memory.lock().map(|m| m.clone()).unwrap_or_default();
    let flows = shared.flows.lock().map(|f| f.clone()).unwrap_or_default();
    let result = ChaosResult::new(
        &flows,
        fault,
        env,
        Times {
            fault_at,
            back_at,
            ended_at,
        },
        &tally,
        settled,
        panics,
        running,
        &rss,
    );
    drop(servers);
    drop(redis);
    print!("{}", result.table());
    let out = env.target_dir.join("bench").join(format!(
        "chaos-{}{}.json",
        fault.name(),
        if env.quick { "-quick" } else { "" }
    ));
    let json = serde_json::to_string_pretty(&result)?;
    std::fs::write(&out, json + "\n")
        .with_context(|| format!("could not write {}", out.display()))?;
    eprintln!("results written to {}", out.display());
    let failed: Vec<_> = result
        .checks
        .iter()
        .filter(|check| !check.met)
        .map(|check| check.what.as_str())
        .collect();
    if !failed.is_empty() {
        bail!("{}: failed: {}", fault.name(), failed.join("; "));
    }
    Ok(())
}

/// What the virtual users share.
#[derive(Debug)]
struct Shared {
    started: Instant,
    stop: AtomicBool,
    /// Each complete flow's start and end, in ms since the load started.
    flows: Mutex<Vec<(u32, u32)>>,
    /// The authorization request up to `&state=`.
    authorize_prefix: String,
    target: Target,
    password: String,
}

impl Shared {
    fn millis(&self) -> u32 {
        millis(self.started.elapsed())
    }
}

fn millis(duration: Duration) -> u32 {
    u32::try_from(duration.as_millis()).unwrap_or(u32::MAX)
}

/// Flows completed in `[from, to)` ms.
fn ended_in(flows: &[(u32, u32)], from: u32, to: u32) -> usize {
    flows
        .iter()
        .filter(|&&(_, end)| end >= from && end < to)
        .count()
}

/// Flows/s before the fault at `fault_ms`, the first second left out.
fn rate_before(flows: &[(u32, u32)], fault_ms: u32) -> f64 {
    let from = 1000.min(fault_ms);
    ended_in(flows, from, fault_ms) as f64 * 1000.0 / f64::from(fault_ms - from).max(1.0)
}

/// The end (ms) of the first one-second window, in 100 ms steps from
/// Redis's return at `back_ms`, holding [`RECOVERY_SHARE`] of `before`
/// flows/s in flows started after the return; `None` if none by `end_ms`.
fn recovered_at(flows: &[(u32, u32)], before: f64, back_ms: u32, end_ms: u32) -> Option<u32> {
    let needed = before * RECOVERY_SHARE;
    (0..)
        .map(|step| back_ms + step * 100)
        .take_while(|start| start + 1000 <= end_ms)
        .find(|&start| {
            let count = flows
                .iter()
                .filter(|&&(begun, end)| begun >= back_ms && end >= start && end < start + 1000)
                .count();
            count as f64 >= needed
        })
        .map(|start| start + 1000)
}

/// How a step ended.
#[derive(Debug)]
enum Answer<T> {
    Ok(T),
    /// The documented answer to a store outage.
    Fault,
    /// A refusal (`invalid_grant`), or the authorization endpoint sending
    /// the browser to log in.
    Refused,
    /// Anything else: fails the run.
    Bad(String),
}

/// What one virtual user saw.
#[derive(Debug, Default)]
struct Tally {
    requests: u64,
    /// Fault answers by step.
    faults: BTreeMap<&'static str, u64>,
    bad: u64,
    bad_samples: Vec<String>,
    /// Answers with a 5xx status other than 503.
    server_errors: u64,
    /// A code or refresh token accepted a second time.
    accepted_twice: u64,
    /// Replays refused as they must be.
    replays_refused: u64,
    logins: u64,
    /// Codes and refresh tokens whose fate a fault answer left open, with
    /// whether each was accepted before.
    open_codes: Vec<(String, bool)>,
    open_refresh_tokens: Vec<(String, bool)>,
}

impl Tally {
    fn merge(&mut self, other: Self) {
        self.requests += other.requests;
        for (step, count) in other.faults {
            *self.faults.entry(step).or_default() += count;
        }
        self.bad += other.bad;
        for sample in other.bad_samples {
            if self.bad_samples.len() < SAMPLES {
                self.bad_samples.push(sample);
            }
        }
        self.server_errors += other.server_errors;
        self.accepted_twice += other.accepted_twice;
        self.replays_refused += other.replays_refused;
        self.logins += other.logins;
        self.open_codes.extend(other.open_codes);
        self.open_refresh_tokens.extend(other.open_refresh_tokens);
    }

    fn bad(&mut self, step: &str, message: String) {
        self.bad += 1;
        if self.bad_samples.len() < SAMPLES {
            self.bad_samples.push(format!("{step}: {message}"));
        }
    }

    fn fault(&mut self, step: &'static str) {
        *self.faults.entry(step).or_default() += 1;
    }

    /// Counts `answer` to `step`: `Some(value)` for a success, `None` (after
    /// a back-off, for a fault) otherwise.
    async fn take<T>(&mut self, step: &'static str, answer: Answer<T>) -> Option<T> {
        match answer {
            Answer::Ok(value) => Some(value),
            Answer::Fault => {
                self.fault(step);
                tokio::time::sleep(BACKOFF).await;
                None
            }
            Answer::Refused => {
                self.bad(step, "refused".to_owned());
                None
            }
            Answer::Bad(message) => {
                if message.starts_with("status 5") && !message.starts_with("status 503") {
                    self.server_errors += 1;
                }
                self.bad(step, message);
                tokio::time::sleep(BACKOFF).await;
                None
            }
        }
    }
}

/// Tokens from the token endpoint.
#[derive(Debug)]
struct Tokens {
    access_token: String,
    refresh_token: String,
}

/// One virtual user's loop until the run stops.
async fn virtual_user(
    shared: Arc<Shared>,
    address: SocketAddr,
    username: String,
    mut session: Option<String>,
) -> Tally {
    let mut conn = Conn::new(address);
    let mut tally = Tally::default();
    while !shared.stop.load(Ordering::Relaxed) {
        let Some(cookie) = session.clone() else {
            tally.requests += 2;
            let answer = log_in(&mut conn, &username, &shared.password).await;
            if let Some(cookie) = tally.take("login", answer).await {
                tally.logins += 1;
                session = Some(cookie);
            }
            continue;
        };
        let started = shared.millis();
        tally.requests += 1;
        let code = match authorize(&mut conn, &shared, &cookie).await {
            Answer::Refused => {
                // The session is gone: log in again.
                session = None;
                continue;
            }
            answer => match tally.take("authorize", answer).await {
                Some(code) => code,
                None => continue,
            },
        };
        tally.requests += 1;
        let first = match redeem(&mut conn, &shared.target, &code).await {
            Answer::Fault => {
                tally.open_codes.push((code, false));
                tally.take::<()>("token", Answer::Fault).await;
                continue;
            }
            answer => match tally.take("token", answer).await {
                Some(tokens) => tokens,
                None => continue,
            },
        };
        tally.requests += 1;
        let answer = userinfo(&mut conn, &first.access_token, &username).await;
        if tally.take("userinfo", answer).await.is_none() {
            continue;
        }
        tally.requests += 1;
        let second = match refresh(&mut conn, &shared.target, &first.refresh_token).await {
            Answer::Fault => {
                tally.open_refresh_tokens.push((first.refresh_token, false));
                tally.take::<()>("refresh", Answer::Fault).await;
                continue;
            }
            answer => match tally.take("refresh", answer).await {
                Some(tokens) => tokens,
                None => continue,
            },
        };
        if let Ok(mut flows) = shared.flows.lock() {
            flows.push((started, shared.millis()));
        }
        drop(second);

        // The replays: the rotated refresh token, then the redeemed code.
        tally.requests += 2;
        let replay = refresh(&mut conn, &shared.target, &first.refresh_token).await;
        replayed(&mut tally, "refresh replay", replay, |tally| {
            tally
                .open_refresh_tokens
                .push((first.refresh_token.clone(), true));
        })
        .await;
        let replay = redeem(&mut conn, &shared.target, &code).await;
        replayed(&mut tally, "code replay", replay, |tally| {
            tally.open_codes.push((code.clone(), true));
        })
        .await;
    }
    tally
}

/// Counts the answer to a replay, which must not be accepted; a fault
/// answer leaves it open (`open` records it).
async fn replayed(
    tally: &mut Tally,
    step: &'static str,
    answer: Answer<Tokens>,
    open: impl FnOnce(&mut Tally),
) {
    match answer {
        Answer::Ok(_) => {
            tally.accepted_twice += 1;
            tally.bad(step, "accepted a second time".to_owned());
        }
        Answer::Refused => tally.replays_refused += 1,
        Answer::Fault => {
            open(tally);
            tally.take::<()>(step, Answer::Fault).await;
        }
        Answer::Bad(message) => {
            tally.take::<()>(step, Answer::Bad(message)).await;
        }
    }
}

/// What settling the open codes and refresh tokens found.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Settled {
    pub codes: usize,
    pub refresh_tokens: usize,
    /// Of those, accepted by a retry (for the first time).
    pub accepted_late: usize,
    /// Accepted although accepted before: must be zero.
    pub accepted_twice: usize,
    /// Retries answered with neither success nor refusal.
    pub bad: usize,
}

/// Tries each open code and refresh token twice, on one connection to
/// `address`: across all tries each is accepted at most once.
async fn settle(shared: &Shared, address: SocketAddr, tally: &mut Tally) -> Settled {
    let mut conn = Conn::new(address);
    let mut settled = Settled {
        codes: tally.open_codes.len(),
        refresh_tokens: tally.open_refresh_tokens.len(),
        ..Settled::default()
    };
    let codes = std::mem::take(&mut tally.open_codes);
    let refresh_tokens = std::mem::take(&mut tally.open_refresh_tokens);
    let tries = codes
        .iter()
        .map(|(code, before)| (true, code, *before))
        .chain(
            refresh_tokens
                .iter()
                .map(|(token, before)| (false, token, *before)),
        );
    for (is_code, credential, accepted_before) in tries {
        let mut accepted = usize::from(accepted_before);
        for _ in 0..2 {
            let answer = if is_code {
                redeem(&mut conn, &shared.target, credential).await
            } else {
                refresh(&mut conn, &shared.target, credential).await
            };
            match answer {
                Answer::Ok(_) => accepted += 1,
                Answer::Refused => {}
                Answer::Fault | Answer::Bad(_) => settled.bad += 1,
            }
        }
        if accepted > 1 {
            settled.accepted_twice += 1;
        } else if accepted == 1 && !accepted_before {
            settled.accepted_late += 1;
        }
    }
    settled
}

/// `GET /login` and `POST /login`: the session cookie.
async fn log_in(conn: &mut Conn, username: &str, password: &str) -> Answer<String> {
    let form = match conn.get(LOGIN_PATH, &[]).await {
        Ok(form) if form.status == 200 => form,
        Ok(form) => return unexpected(&form, "GET /login"),
        Err(error) => return Answer::Bad(format!("GET /login: {error:#}")),
    };
    let (Some(csrf), Some(token)) = (
        flows::set_cookie(&form, "porthor_csrf"),
        std::str::from_utf8(&form.body)
            .ok()
            .and_then(flows::csrf_field),
    ) else {
        return Answer::Bad("GET /login: no CSRF cookie or field".to_owned());
    };
    let fields = format!(
        "username={}&password={}&csrf_token={}",
        form_encode(username),
        form_encode(password),
        form_encode(token)
    );
    let cookie = format!("porthor_csrf={csrf}");
    match conn
        .post_form(LOGIN_PATH, &[("cookie", &cookie)], &fields)
        .await
    {
        Ok(response) if response.status == 303 => {
            match flows::set_cookie(&response, "porthor_session") {
                Some(session) => Answer::Ok(format!("porthor_session={session}")),
                None => Answer::Bad("POST /login: no session cookie".to_owned()),
            }
        }
        Ok(response) => unexpected(&response, "POST /login"),
        Err(error) => Answer::Bad(format!("POST /login: {error:#}")),
    }
}

/// The authorization request: the code, a fault (a 503 or a redirect with
/// `error=temporarily_unavailable`), or `Refused` when the browser is sent
/// to log in.
async fn authorize(conn: &mut Conn, shared: &Shared, cookie: &str) -> Answer<String> {
    let state = format!("{:016x}", rand::random::<u64>());
    let path = format!("{}&state={state}", shared.authorize_prefix);
    let response = match conn.get(&path, &[("cookie", cookie)]).await {
        Ok(response) => response,
        Err(error) => return Answer::Bad(format!("{error:#}")),
    };
    if response.status != 302 {
        return unexpected(&response, "authorize");
    }
    let Some(location) = response.header("location") else {
        return Answer::Bad("302 without a Location".to_owned());
    };
    let target = &shared.target;
    if !location.starts_with(&target.redirect_uri) {
        // To the login page: the session is gone.
        return if location.contains(LOGIN_PATH) {
            Answer::Refused
        } else {
            Answer::Bad(format!("redirected to {location}"))
        };
    }
    if location.contains("error=temporarily_unavailable") {
        return Answer::Fault;
    }
    match flows::code_from_redirect(location, &target.redirect_uri, &state, &target.issuer) {
        Ok(code) => Answer::Ok(code),
        Err(error) => Answer::Bad(format!("{error:#}")),
    }
}

/// Redeems `code`.
async fn redeem(conn: &mut Conn, target: &Target, code: &str) -> Answer<Tokens> {
    let form = format!(
        "grant_type=authorization_code&code={}&redirect_uri={}",
        form_encode(code),
        form_encode(&target.redirect_uri)
    );
    token_request(conn, target, &form).await
}

/// Rotates `refresh_token`.
async fn refresh(conn: &mut Conn, target: &Target, refresh_token: &str) -> Answer<Tokens> {
    let form = format!(
        "grant_type=refresh_token&refresh_token={}",
        form_encode(refresh_token)
    );
    token_request(conn, target, &form).await
}

async fn token_request(conn: &mut Conn, target: &Target, form: &str) -> Answer<Tokens> {
    let response = match conn
        .post_form(TOKEN_PATH, &[("authorization", &target.basic_auth)], form)
        .await
    {
        Ok(response) => response,
        Err(error) => return Answer::Bad(format!("{error:#}")),
    };
    let body: Option<Value> = serde_json::from_slice(&response.body).ok();
    let field = |name: &str| {
        body.as_ref()
            .and_then(|body| body.get(name))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    match (response.status, field("error").as_deref()) {
        (200, _) => match (field("access_token"), field("refresh_token")) {
            (Some(access_token), Some(refresh_token)) => Answer::Ok(Tokens {
                access_token,
                refresh_token,
            }),
            _ => Answer::Bad("200 without an access and a refresh token".to_owned()),
        },
        (503, Some("temporarily_unavailable")) => Answer::Fault,
        (503, error) => Answer::Bad(format!("503 at token with error {error:?}")),
        (400, Some("invalid_grant")) => Answer::Refused,
        _ => unexpected(&response, "token"),
    }
}

/// Userinfo with `access_token`, which must name `username`.
async fn userinfo(conn: &mut Conn, access_token: &str, username: &str) -> Answer<()> {
    let bearer = format!("Bearer {access_token}");
    match conn.get(USERINFO_PATH, &[("authorization", &bearer)]).await {
        Ok(response) if response.status == 200 => {
            let sub = serde_json::from_slice::<Value>(&response.body)
                .ok()
                .and_then(|body| body.get("sub").and_then(Value::as_str).map(str::to_owned));
            if sub.as_deref() == Some(username) {
                Answer::Ok(())
            } else {
                Answer::Bad(format!("userinfo: sub is {sub:?}"))
            }
        }
        Ok(response) => unexpected(&response, "userinfo"),
        Err(error) => Answer::Bad(format!("{error:#}")),
    }
}

/// A 503 is a fault answer; any other status a bad one.
fn unexpected<T>(response: &Response, what: &str) -> Answer<T> {
    if response.status == 503 {
        return Answer::Fault;
    }
    let body = String::from_utf8_lossy(&response.body);
    let body: String = body.chars().take(160).collect();
    Answer::Bad(format!("status {} at {what}: {body}", response.status))
}

/// Samples the servers' RSS (the largest) every 100 ms until the run stops.
fn sample_rss(shared: &Shared, pids: &[u32], samples: &Mutex<Vec<(u32, f64)>>) {
    while !shared.stop.load(Ordering::Relaxed) {
        let largest = pids
            .iter()
            .filter_map(|&pid| procfs::memory_kib(pid, "VmRSS").ok())
            .max();
        if let (Some(kib), Ok(mut samples)) = (largest, samples.lock()) {
            samples.push((shared.millis(), kib as f64 / 1024.0));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every server log in `dir`, concatenated.
fn read_logs(dir: &Path) -> String {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return String::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            name.starts_with("porthor") && name.ends_with(".log")
        })
        .filter_map(|entry| std::fs::read_to_string(entry.path()).ok())
        .collect()
}

/// When things happened, since the load started.
#[derive(Debug, Clone, Copy)]
struct Times {
    fault_at: Duration,
    back_at: Duration,
    ended_at: Duration,
}

/// One of the run's checks.
#[derive(Debug, Serialize)]
pub struct Check {
    pub what: String,
    pub value: String,
    pub met: bool,
}

/// Everything one chaos run measured.
#[derive(Debug, Serialize)]
pub struct ChaosResult {
    pub fault: Fault,
    pub quick: bool,
    pub timestamp: String,
    pub git_commit: Option<String>,
    pub replicas: usize,
    pub concurrency: usize,
    pub fault_at_s: f64,
    pub redis_back_at_s: f64,
    pub ended_at_s: f64,
    pub requests: u64,
    pub flows: usize,
    pub fault_answers: BTreeMap<&'static str, u64>,
    pub bad_answers: u64,
    pub bad_samples: Vec<String>,
    pub server_errors: u64,
    pub replays_refused: u64,
    pub accepted_twice: u64,
    pub settled: Settled,
    pub logins_again: u64,
    pub panics: usize,
    pub servers_running: bool,
    /// Flows/s over the pre-fault load, its first second left out.
    pub flows_per_sec_before: f64,
    /// Seconds from Redis answering again to the end of the first
    /// one-second window at 90% of that (flows started after it only).
    pub recovery_s: Option<f64>,
    /// Flows/s from the end of that window to the end of the run.
    pub flows_per_sec_after: f64,
    /// Flows completed in each second of the run.
    pub flows_per_second: Vec<usize>,
    pub rss_peak_before_mib: f64,
    pub rss_peak_away_mib: f64,
    pub rss_peak_mib: f64,
    pub checks: Vec<Check>,
}

impl ChaosResult {
    #[allow(clippy::too_many_arguments, reason = "one call site, all named")]
    fn new(
        flows: &[(u32, u32)],
        fault: Fault,
        env: &Env<'_>,
        times: Times,
        tally: &Tally,
        settled: Settled,
        panics: usize,
        servers_running: bool,
        rss: &[(u32, f64)],
    ) -> Self {
        let (fault_ms, back_ms, end_ms) = (
            millis(times.fault_at),
            millis(times.back_at),
            millis(times.ended_at),
        );
        let flows_per_sec_before = rate_before(flows, fault_ms);
        let recovered = recovered_at(flows, flows_per_sec_before, back_ms, end_ms);
        let recovery_s = recovered.map(|at| f64::from(at - back_ms) / 1000.0);
        let after_from = recovered.unwrap_or(end_ms);
        let flows_per_sec_after = ended_in(flows, after_from, end_ms) as f64 * 1000.0
            / f64::from(end_ms.saturating_sub(after_from)).max(1.0);
        let flows_per_second = (0..end_ms.div_ceil(1000))
            .map(|second| ended_in(flows, second * 1000, (second + 1) * 1000))
            .collect();
        let peak = |from: u32, to: u32| {
            rss.iter()
                .filter(|&&(at, _)| at >= from && at < to)
                .map(|&(_, mib)| mib)
                .fold(0.0, f64::max)
        };
        let rss_peak_before_mib = peak(0, fault_ms);
        let rss_peak_away_mib = peak(fault_ms, back_ms + 1000);
        let rss_peak_mib = peak(0, u32::MAX);
        let accepted_twice = tally.accepted_twice + settled.accepted_twice as u64;
        let check = |what: &str, value: String, met: bool| Check {
            what: what.to_owned(),
            value,
            met,
        };
        let fault_total: u64 = tally.faults.values().sum();
        let checks = vec![
            check(
                "5xx answers other than 503",
                tally.server_errors.to_string(),
                tally.server_errors == 0,
            ),
            check(
                "failed requests not 503 / temporarily_unavailable",
                tally.bad.to_string(),
                tally.bad == 0 && settled.bad == 0,
            ),
            check(
                "the fault was seen (fault answers)",
                fault_total.to_string(),
                fault_total > 0,
            ),
            check(
                "codes or refresh tokens accepted twice",
                accepted_twice.to_string(),
                accepted_twice == 0,
            ),
            check("panics in the server logs", panics.to_string(), panics == 0),
            check(
                "servers still running",
                servers_running.to_string(),
                servers_running,
            ),
            check(
                "flow rate at 90% within 5 s of Redis's return (s)",
                recovery_s.map_or_else(|| "never".to_owned(), |s| format!("{s:.1}")),
                recovery_s.is_some_and(|s| s <= RECOVERY_WITHIN.as_secs_f64()),
            ),
            check(
                "RSS while Redis is away (MiB, pre-fault peak + 16)",
                format!("{rss_peak_away_mib:.1} (before {rss_peak_before_mib:.1})"),
                rss_peak_away_mib <= rss_peak_before_mib + RSS_HEADROOM_MIB,
            ),
        ];
        Self {
            fault,
            quick: env.quick,
            timestamp: report::command_line(
                std::process::Command::new("date").args(["-u", "+%Y-%m-%dT%H:%M:%SZ"]),
            )
            .unwrap_or_default(),
            git_commit: report::command_line(std::process::Command::new("git").args([
                "rev-parse",
                "--short",
                "HEAD",
            ])),
            replicas: env.replicas,
            concurrency: CONCURRENCY,
            fault_at_s: times.fault_at.as_secs_f64(),
            redis_back_at_s: times.back_at.as_secs_f64(),
            ended_at_s: times.ended_at.as_secs_f64(),
            requests: tally.requests,
            flows: flows.len(),
            fault_answers: tally.faults.clone(),
            bad_answers: tally.bad,
            bad_samples: tally.bad_samples.clone(),
            server_errors: tally.server_errors,
            replays_refused: tally.replays_refused,
            accepted_twice,
            settled,
            logins_again: tally.logins,
            panics,
            servers_running,
            flows_per_sec_before,
            recovery_s,
            flows_per_sec_after,
            flows_per_second,
            rss_peak_before_mib,
            rss_peak_away_mib,
            rss_peak_mib,
            checks,
        }
    }

    /// The human-readable summary.
    fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\nPorthor chaos {}{} at {} ({}), {} server(s), C={}",
            self.fault.name(),
            if self.quick { " --quick" } else { "" },
            self.git_commit.as_deref().unwrap_or("unknown commit"),
            self.timestamp,
            self.replicas,
            self.concurrency
        );
        let _ = writeln!(
            out,
            "Redis away from {:.2} s to {:.2} s; load ended at {:.2} s",
            self.fault_at_s, self.redis_back_at_s, self.ended_at_s
        );
        let _ = writeln!(
            out,
            "{} requests, {} flows (authorize, token, userinfo, refresh), {} replays refused, {} logins again",
            self.requests, self.flows, self.replays_refused, self.logins_again
        );
        let faults: Vec<String> = self
            .fault_answers
            .iter()
            .map(|(step, count)| format!("{step} {count}"))
            .collect();
        let _ = writeln!(
            out,
            "fault answers (503 / temporarily_unavailable): {}",
            if faults.is_empty() {
                "none".to_owned()
            } else {
                faults.join(", ")
            }
        );
        let _ = writeln!(
            out,
            "left open by a fault and retried twice afterwards: {} codes, {} refresh tokens; \
             {} accepted late (once), {} accepted twice",
            self.settled.codes,
            self.settled.refresh_tokens,
            self.settled.accepted_late,
            self.settled.accepted_twice
        );
        let _ = writeln!(
            out,
            "flows/s: {:.1} before, {:.1} once recovered; per second: {:?}",
            self.flows_per_sec_before, self.flows_per_sec_after, self.flows_per_second
        );
        let _ = writeln!(
            out,
            "server RSS: peak {:.1} MiB before, {:.1} MiB while Redis was away, {:.1} MiB overall",
            self.rss_peak_before_mib, self.rss_peak_away_mib, self.rss_peak_mib
        );
        for check in &self.checks {
            let _ = writeln!(
                out,
                "  [{}] {:<52} {}",
                if check.met { "met   " } else { "FAILED" },
                check.what,
                check.value
            );
        }
        for sample in &self.bad_samples {
            let _ = writeln!(out, "bad answer: {sample}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pause_outlasts_the_command_timeout_and_recovery_is_watched() {
        for quick in [true, false] {
            let pause = Timing::new(Fault::RedisPause, quick);
            assert!(pause.away > COMMAND_TIMEOUT);
            for fault in [Fault::RedisPause, Fault::RedisRestart] {
                let timing = Timing::new(fault, quick);
                assert!(timing.after > RECOVERY_WITHIN);
                assert!(timing.before >= Duration::from_secs(2));
            }
        }
        let quick = Timing::new(Fault::RedisRestart, true);
        let pause = Timing::new(Fault::RedisPause, true);
        // The CI run of both stays well under half a minute of load.
        let load =
            quick.before + quick.away + quick.after + pause.before + pause.away + pause.after;
        assert!(load <= Duration::from_secs(26), "{load:?}");
    }

    #[test]
    fn recovery_is_the_first_window_at_ninety_percent_of_flows_started_after() {
        // 100 flows/s before the fault at 3 s (the first second left out).
        let mut flows: Vec<(u32, u32)> = (0..300).map(|n| (n * 10, n * 10 + 5)).collect();
        assert!((rate_before(&flows, 3000) - 100.0).abs() < 1e-9);
        // Flows stuck across the outage, done just after Redis is back at
        // 4 s, do not count; of 95 started after it, 90 (the 90% needed)
        // end within [4.4 s, 5.4 s).
        flows.extend((0..200).map(|_| (3500, 4100)));
        assert_eq!(recovered_at(&flows, 100.0, 4000, 9000), None);
        flows.extend((0..95).map(|n| (4400, 4500 + n * 10)));
        assert_eq!(recovered_at(&flows, 100.0, 4000, 9000), Some(5400));
        assert_eq!(recovered_at(&flows, 100.0, 4000, 5300), None);
        assert_eq!(recovered_at(&flows, 120.0, 4000, 9000), None);
    }

    #[test]
    fn faults_parse_by_their_names() {
        use clap::ValueEnum as _;
        for fault in [Fault::RedisRestart, Fault::RedisPause] {
            assert_eq!(Fault::from_str(fault.name(), false), Ok(fault));
        }
    }

    #[test]
    fn unexpected_answers_are_faults_only_when_503() {
        let response = |status| Response {
            status,
            headers: Vec::new(),
            body: b"x".to_vec(),
        };
        assert!(matches!(
            unexpected::<()>(&response(503), "t"),
            Answer::Fault
        ));
        let Answer::Bad(message) = unexpected::<()>(&response(500), "t") else {
            panic!("a 500 is bad");
        };
        assert!(message.starts_with("status 500"), "{message}");
    }
}
