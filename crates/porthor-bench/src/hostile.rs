//! The hostile run (`porthor-bench --hostile`, `cargo xtask hostile`):
//! at least 100,000 malformed requests against a release `porthor serve`
//! (Redis store, RS256, RUST_LOG=warn), then the happy path.
//!
//! Request `i` is built from its own `StdRng` seeded with the run's seed and
//! `i`, so a request that fails can be rebuilt from the seed and its number
//! whatever the scheduling. Its category is `i % categories`; its endpoint is
//! drawn from every route the server has (paths of the revocation,
//! introspection and end-session endpoints read from discovery) and an
//! unknown one. Each request goes on a fresh TCP connection (the pipelined
//! category sends three requests on one), and the answer's status line is
//! parsed; an answer may also be a close without any status (counted), or
//! nothing within eight seconds (a timeout). Meanwhile ~50 connections
//! dribble one header byte per 100 ms and then stall.
//!
//! The run fails on any 5xx other than 503 (the documented "password checks
//! busy" and "store unavailable"), on "panic" in the server's log, on a peak
//! RSS over [`MAX_PEAK_RSS_MIB`], on a timeout, on slow-header connections
//! the server never ends, on a server that stops, and on any failure of the
//! authorization-code flows run afterwards. It knows the server only
//! as HTTP, its log file and `/proc`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use porthor_signer::Signer;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng as _};
use serde::Serialize;
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::{sleep, timeout_at};
use xtask::redis::Redis;
use xtask::server::{Client, Credentials, Setup, Store};

use super::flows::{self, Target};
use super::http::Conn;
use super::{load, procfs};

/// Concurrent request tasks.
const TASKS: usize = 48;
/// Connections kept dribbling header bytes during the run.
const SLOW_CONNECTIONS: usize = 50;
/// How long one malformed exchange may take before it counts as a timeout
/// (which fails the run). Longer than the server's 5-second request timeout
/// (actix-web's default `client_request_timeout`), after which it answers an
/// unfinished head with 408: a server that does its job always answers
/// first, even on this busy machine.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(8);
/// A run at least this long must see the server end slow-header
/// connections (it does so after its 5-second request timeout).
const SLOW_CLOSE_WITHIN: Duration = Duration::from_secs(8);
/// The run fails if the server's peak RSS exceeds this.
const MAX_PEAK_RSS_MIB: f64 = 256.0;
/// Users configured (and logged in for the happy path afterwards).
const USERS: usize = 4;
/// Bad requests shown in full when the run fails.
const MAX_SAMPLES: usize = 5;

const CLIENT_ID: &str = "hostile";
const REDIRECT_URI: &str = "http://127.0.0.1:9/cb";

/// What kind of malformation a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Category {
    RandomBytes,
    WrongMethod,
    BadQuery,
    BadForm,
    OversizedHeader,
    OversizedBody,
    TruncatedBody,
    DuplicateParams,
    DuplicateHeaders,
    WrongContentType,
    BadAuthorization,
    BadCookies,
    OldHttp,
    Pipelined,
}

const CATEGORIES: [Category; 14] = [
    Category::RandomBytes,
    Category::WrongMethod,
    Category::BadQuery,
    Category::BadForm,
    Category::OversizedHeader,
    Category::OversizedBody,
    Category::TruncatedBody,
    Category::DuplicateParams,
    Category::DuplicateHeaders,
    Category::WrongContentType,
    Category::BadAuthorization,
    Category::BadCookies,
    Category::OldHttp,
    Category::Pipelined,
];

impl Category {
    fn name(self) -> &'static str {
        match self {
            Self::RandomBytes => "random-bytes",
            Self::WrongMethod => "wrong-method",
            Self::BadQuery => "bad-query",
            Self::BadForm => "bad-form",
            Self::OversizedHeader => "oversized-header",
            Self::OversizedBody => "oversized-body",
            Self::TruncatedBody => "truncated-body",
            Self::DuplicateParams => "duplicate-params",
            Self::DuplicateHeaders => "duplicate-headers",
            Self::WrongContentType => "wrong-content-type",
            Self::BadAuthorization => "bad-authorization",
            Self::BadCookies => "bad-cookies",
            Self::OldHttp => "http1.0-absolute-form",
            Self::Pipelined => "pipelined",
        }
    }
}

/// A route and the method it is meant for.
#[derive(Debug, Clone)]
struct Endpoint {
    method: &'static str,
    path: String,
}

/// Bytes to send and how.
#[derive(Debug)]
struct Request {
    bytes: Vec<u8>,
    /// Half-close after writing (a truncated body).
    shutdown: bool,
    /// Read every answer to the end, not just the first status line.
    pipelined: bool,
}

/// What came back for one connection.
#[derive(Debug, Default)]
struct Answer {
    /// Every status line seen, in order.
    statuses: Vec<u16>,
    timed_out: bool,
    connect_failed: bool,
    /// From connecting to the end of reading.
    ms: f64,
}

/// Counts for one category (or the total).
#[derive(Debug, Default, Clone, Serialize)]
pub struct Counts {
    pub sent: u64,
    /// Responses per status code (a pipelined request can have three).
    pub statuses: BTreeMap<u16, u64>,
    /// Connections closed or reset before any status line.
    pub closed_without_answer: u64,
    pub timeouts: u64,
    pub connect_failures: u64,
    /// Sum and maximum of the exchanges' durations, in milliseconds.
    pub total_ms: f64,
    pub max_ms: f64,
}

impl Counts {
    fn add(&mut self, answer: &Answer) {
        self.sent += 1;
        self.total_ms += answer.ms;
        self.max_ms = self.max_ms.max(answer.ms);
        for &status in &answer.statuses {
            *self.statuses.entry(status).or_default() += 1;
        }
        if answer.connect_failed {
            self.connect_failures += 1;
        } else if answer.timed_out && answer.statuses.is_empty() {
            self.timeouts += 1;
        } else if answer.statuses.is_empty() {
            self.closed_without_answer += 1;
        }
    }

    fn merge(&mut self, other: &Counts) {
        self.sent += other.sent;
        for (&status, &count) in &other.statuses {
            *self.statuses.entry(status).or_default() += count;
        }
        self.closed_without_answer += other.closed_without_answer;
        self.timeouts += other.timeouts;
        self.connect_failures += other.connect_failures;
        self.total_ms += other.total_ms;
        self.max_ms = self.max_ms.max(other.max_ms);
    }

    fn mean_ms(&self) -> f64 {
        if self.sent == 0 {
            0.0
        } else {
            self.total_ms / self.sent as f64
        }
    }

    fn count_where(&self, keep: impl Fn(u16) -> bool) -> u64 {
        self.statuses
            .iter()
            .filter(|&(&status, _)| keep(status))
            .map(|(_, count)| count)
            .sum()
    }
}

/// A request that got a forbidden answer.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub request: usize,
    pub category: &'static str,
    pub endpoint: String,
    pub statuses: Vec<u16>,
    /// The bytes sent, escaped, truncated to 300 characters.
    pub bytes: String,
}

/// The slow-header connections' fate.
#[derive(Debug, Default, Clone, Serialize)]
pub struct SlowCounts {
    pub connections: u64,
    /// Closed by the server with this status first.
    pub answered: BTreeMap<u16, u64>,
    /// Closed or reset by the server without a status.
    pub closed_without_answer: u64,
    /// Still open when the main run ended.
    pub open_at_end: u64,
    pub connect_failures: u64,
    /// The longest a connection the server ended stayed open, in seconds.
    pub longest_open_seconds: f64,
}

#[derive(Debug, Serialize)]
struct RssFigures {
    start_mib: Option<f64>,
    peak_mib: Option<f64>,
    end_mib: Option<f64>,
}

#[derive(Debug, Serialize)]
struct HostileReport {
    seed: u64,
    requests: usize,
    wall_seconds: f64,
    requests_per_sec: f64,
    /// CPU the server used during the run.
    server_cpu_seconds: Option<f64>,
    categories: BTreeMap<&'static str, Counts>,
    total: Counts,
    allowed_503s: u64,
    forbidden_5xx: u64,
    forbidden_samples: Vec<Sample>,
    timeouts: u64,
    slow_headers: SlowCounts,
    server_rss: RssFigures,
    panic_lines_in_log: usize,
    happy_path_flows: usize,
    failures: Vec<String>,
}

/// Runs the hostile test: `requests` malformed requests from `seed`.
pub fn run(
    porthor: &Path,
    target_dir: &Path,
    credentials: &Credentials,
    requests: usize,
    seed: u64,
) -> Result<()> {
    eprintln!("hostile: {requests} requests, seed {seed}");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("could not start the generator's runtime")?;
    let redis = Redis::start(target_dir)?;
    let setup = Setup {
        porthor,
        dir: target_dir.join("bench").join("hostile"),
        alg: "RS256",
        store: Store::Redis(redis.url()),
        client: Client {
            id: CLIENT_ID,
            redirect_uri: REDIRECT_URI,
            require_pkce: false,
        },
        users: USERS,
        credentials,
        env: &[],
    };
    let pem = setup.keys()?;
    let signer = Arc::new(Signer::from_pem(&pem).context("could not load the new key")?);
    let mut server = setup.start()?;
    let pid = server.pid();
    let address = server.address;
    let start_mib = rss_mib(pid, "VmRSS");
    let endpoints = runtime.block_on(endpoints(address))?;

    let cpu_before = procfs::cpu_ticks(Some(pid)).ok();
    let started = Instant::now();
    let (counts, samples, slow) = runtime.block_on(hostile(address, endpoints, requests, seed));
    let wall = started.elapsed().as_secs_f64();
    let ticks = procfs::clock_ticks_per_second() as f64;
    let server_cpu_seconds = procfs::cpu_ticks(Some(pid))
        .ok()
        .zip(cpu_before)
        .and_then(|(after, before)| after.checked_sub(before))
        .map(|used| used as f64 / ticks);
    let peak_mib = rss_mib(pid, "VmHWM");
    let end_mib = rss_mib(pid, "VmRSS");

    let mut failures = Vec::new();
    if !server.is_running() {
        failures.push("porthor serve stopped during the run".to_owned());
    }
    let happy = runtime.block_on(happy_path(address, credentials, signer));
    let happy_flows = match happy {
        Ok(flows) => flows,
        Err(error) => {
            failures.push(format!("the happy path failed afterwards: {error:#}"));
            0
        }
    };
    let log_path = setup.dir.join("porthor.log");
    let log =
        fs::read(&log_path).with_context(|| format!("could not read {}", log_path.display()))?;
    let log = String::from_utf8_lossy(&log);
    let panic_lines: Vec<&str> = log
        .lines()
        .filter(|line| line.to_ascii_lowercase().contains("panic"))
        .collect();
    if let Some(first) = panic_lines.first() {
        failures.push(format!(
            "{} line(s) of the server's log mention a panic; the first: {first}",
            panic_lines.len()
        ));
    }
    drop(server);
    drop(redis);

    let mut total = Counts::default();
    for (_, category) in &counts {
        total.merge(category);
    }
    let forbidden = forbidden_5xx(&total, &slow);
    failures.extend(verdict(&total, &slow, wall, peak_mib));
    let report = HostileReport {
        seed,
        requests,
        wall_seconds: wall,
        server_cpu_seconds,
        requests_per_sec: requests as f64 / wall,
        categories: counts
            .iter()
            .map(|(c, counts)| (c.name(), counts.clone()))
            .collect(),
        allowed_503s: total.count_where(|status| status == 503),
        forbidden_5xx: forbidden,
        forbidden_samples: samples,
        timeouts: total.timeouts,
        total,
        slow_headers: slow,
        server_rss: RssFigures {
            start_mib,
            peak_mib,
            end_mib,
        },
        panic_lines_in_log: panic_lines.len(),
        happy_path_flows: happy_flows,
        failures,
    };
    print_table(&report);
    let file = target_dir.join("bench").join("hostile.json");
    let json = serde_json::to_string_pretty(&report)?;
    fs::write(&file, json + "\n").with_context(|| format!("could not write {}", file.display()))?;
    eprintln!("results written to {}", file.display());
    if !report.failures.is_empty() {
        for sample in &report.forbidden_samples {
            eprintln!(
                "request {} ({}, {}): {:?}: {}",
                sample.request, sample.category, sample.endpoint, sample.statuses, sample.bytes
            );
        }
        bail!("the hostile run failed: {}", report.failures.join("; "));
    }
    Ok(())
}

/// Answers that are a 5xx other than 503, in the main run and among the
/// slow-header connections.
fn forbidden_5xx(total: &Counts, slow: &SlowCounts) -> u64 {
    let forbidden = |status: u16| status >= 500 && status != 503;
    total.count_where(forbidden)
        + slow
            .answered
            .iter()
            .filter(|&(&status, _)| forbidden(status))
            .map(|(_, count)| count)
            .sum::<u64>()
}

/// What is wrong with a run's figures: forbidden 5xx, timeouts, slow-header
/// connections never ended, connections refused, a peak RSS too high or
/// unknown. Empty when the figures pass.
fn verdict(total: &Counts, slow: &SlowCounts, wall: f64, peak_mib: Option<f64>) -> Vec<String> {
    let mut failures = Vec::new();
    let forbidden = forbidden_5xx(total, slow);
    if forbidden > 0 {
        failures.push(format!("{forbidden} answer(s) were a 5xx other than 503"));
    }
    if total.timeouts > 0 {
        failures.push(format!(
            "{} request(s) got no answer within {ANSWER_TIMEOUT:?}",
            total.timeouts
        ));
    }
    let slow_ended = slow.closed_without_answer + slow.answered.values().sum::<u64>();
    if wall >= SLOW_CLOSE_WITHIN.as_secs_f64() && slow_ended == 0 {
        failures.push(format!(
            "the server ended no slow-header connection in {wall:.1} s"
        ));
    }
    if total.connect_failures > 0 || slow.connect_failures > 0 {
        failures.push(format!(
            "{} connection(s) could not be opened",
            total.connect_failures + slow.connect_failures
        ));
    }
    match peak_mib {
        Some(peak) if peak > MAX_PEAK_RSS_MIB => failures.push(format!(
            "the server's peak RSS was {peak:.1} MiB, over {MAX_PEAK_RSS_MIB} MiB"
        )),
        Some(_) => {}
        None => failures.push("could not read the server's peak RSS".to_owned()),
    }
    failures
}

/// Every route, the paths of the revocation, introspection and end-session
/// endpoints as discovery names them.
async fn endpoints(address: SocketAddr) -> Result<Vec<Endpoint>> {
    let mut conn = Conn::new(address);
    let response = conn.get(flows::DISCOVERY_PATH, &[]).await?;
    if response.status != 200 {
        bail!("discovery answered {}", response.status);
    }
    let discovery: Value =
        serde_json::from_slice(&response.body).context("discovery is not JSON")?;
    let issuer = format!("http://{address}");
    let path_of = |key: &str| -> Result<String> {
        let url = discovery
            .get(key)
            .and_then(Value::as_str)
            .with_context(|| format!("discovery has no {key}"))?;
        Ok(url.strip_prefix(&issuer).unwrap_or(url).to_owned())
    };
    let endpoint = |method, path: &str| Endpoint {
        method,
        path: path.to_owned(),
    };
    Ok(vec![
        endpoint("GET", flows::DISCOVERY_PATH),
        endpoint("GET", flows::JWKS_PATH),
        endpoint("GET", flows::AUTHORIZE_PATH),
        endpoint("POST", flows::AUTHORIZE_PATH),
        endpoint("POST", flows::TOKEN_PATH),
        endpoint("POST", &path_of("revocation_endpoint")?),
        endpoint("POST", &path_of("introspection_endpoint")?),
        endpoint("GET", flows::USERINFO_PATH),
        endpoint("POST", flows::USERINFO_PATH),
        endpoint("GET", &path_of("end_session_endpoint")?),
        endpoint("POST", "/consent"),
        endpoint("GET", flows::LOGIN_PATH),
        endpoint("POST", flows::LOGIN_PATH),
        endpoint("POST", "/logout"),
        endpoint("GET", "/health"),
        endpoint("GET", "/ready"),
        endpoint("GET", "/no/such/route"),
    ])
}

type Tally = Vec<(Category, Counts)>;

/// The main run and, beside it, the slow-header connections.
async fn hostile(
    address: SocketAddr,
    endpoints: Vec<Endpoint>,
    requests: usize,
    seed: u64,
) -> (Tally, Vec<Sample>, SlowCounts) {
    let next = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let endpoints = Arc::new(endpoints);
    let samples = Arc::new(Mutex::new(Vec::new()));
    let host = address.to_string();
    let slow = tokio::spawn(slow_headers(address, host.clone(), Arc::clone(&stop)));
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let next = Arc::clone(&next);
            let endpoints = Arc::clone(&endpoints);
            let samples = Arc::clone(&samples);
            let host = host.clone();
            tokio::spawn(async move {
                let mut counts: Tally =
                    CATEGORIES.iter().map(|&c| (c, Counts::default())).collect();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= requests {
                        break;
                    }
                    let mut rng = StdRng::seed_from_u64(
                        seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
                    );
                    let index = i % CATEGORIES.len();
                    let category = CATEGORIES
                        .get(index)
                        .copied()
                        .unwrap_or(Category::RandomBytes);
                    let endpoint = endpoints
                        .get(rng.random_range(0..endpoints.len()))
                        .cloned()
                        .unwrap_or(Endpoint {
                            method: "GET",
                            path: "/".to_owned(),
                        });
                    let request = build(category, &endpoint, &host, &mut rng);
                    let answer = exchange(address, &request).await;
                    if answer.statuses.iter().any(|&s| s >= 500 && s != 503)
                        && let Ok(mut samples) = samples.lock()
                        && samples.len() < MAX_SAMPLES
                    {
                        samples.push(Sample {
                            request: i,
                            category: category.name(),
                            endpoint: format!("{} {}", endpoint.method, endpoint.path),
                            statuses: answer.statuses.clone(),
                            bytes: escape(&request.bytes, 300),
                        });
                    }
                    if let Some((_, counts)) = counts.get_mut(index) {
                        counts.add(&answer);
                    }
                }
                counts
            })
        })
        .collect();
    let mut tally: Tally = CATEGORIES.iter().map(|&c| (c, Counts::default())).collect();
    for task in tasks {
        if let Ok(counts) = task.await {
            for ((_, total), (_, counts)) in tally.iter_mut().zip(&counts) {
                total.merge(counts);
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let slow = slow.await.unwrap_or_default();
    let samples = samples.lock().map(|s| s.clone()).unwrap_or_default();
    (tally, samples, slow)
}

/// Sends one request on a fresh connection and reads its answer.
async fn exchange(address: SocketAddr, request: &Request) -> Answer {
    let started = tokio::time::Instant::now();
    let deadline = started + ANSWER_TIMEOUT;
    let mut answer = Answer::default();
    let Ok(Ok(mut stream)) = timeout_at(deadline, TcpStream::connect(address)).await else {
        answer.connect_failed = true;
        return answer;
    };
    let mut received = Vec::new();
    let finished = timeout_at(deadline, async {
        // A write the server cut short (it answered and closed early) still
        // leaves its answer to read.
        let written = stream.write_all(&request.bytes).await;
        if written.is_ok() && request.shutdown {
            let _ = stream.shutdown().await;
        }
        let mut chunk = [0u8; 8192];
        loop {
            if !request.pipelined && received.windows(2).any(|w| w == b"\r\n") {
                break;
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            }
            if received.len() > 1 << 20 {
                break;
            }
        }
    })
    .await;
    answer.timed_out = finished.is_err();
    answer.statuses = statuses(&received, request.pipelined);
    answer.ms = started.elapsed().as_secs_f64() * 1000.0;
    answer
}

/// The status codes of the responses in `received`: the first only, or
/// (pipelined) each in turn, a response's body skipped by its
/// Content-Length (the server never sends chunked answers).
fn statuses(received: &[u8], all: bool) -> Vec<u16> {
    let mut found = Vec::new();
    let mut rest = received;
    while let Some((status, next)) = response_at(rest) {
        found.push(status);
        if !all {
            break;
        }
        rest = next;
    }
    found
}

/// The status of the response at the start of `bytes` and what follows its
/// body; a status line alone (the head still incomplete) counts, with
/// nothing after it.
fn response_at(bytes: &[u8]) -> Option<(u16, &[u8])> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut head = httparse::Response::new(&mut headers);
    match head.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => {
            let status = head.code?;
            let body = head
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| {
                    std::str::from_utf8(h.value)
                        .ok()?
                        .trim()
                        .parse::<usize>()
                        .ok()
                })
                .unwrap_or(0);
            let next = bytes.get(len.saturating_add(body)..).unwrap_or_default();
            Some((status, next))
        }
        Ok(httparse::Status::Partial) => head.code.map(|status| (status, &[][..])),
        Err(_) => None,
    }
}

/// `bytes` with everything but printable ASCII escaped, cut at `max` chars.
fn escape(bytes: &[u8], max: usize) -> String {
    let mut text = String::new();
    for &byte in bytes {
        if text.len() >= max {
            text.push_str("...");
            break;
        }
        match byte {
            b'\r' => text.push_str("\\r"),
            b'\n' => text.push_str("\\n"),
            b'\\' => text.push_str("\\\\"),
            0x20..=0x7e => text.push(char::from(byte)),
            _ => {
                let _ = write!(text, "\\x{byte:02x}");
            }
        }
    }
    text
}

/// Parameter names the server reads somewhere.
const NAMES: [&str; 16] = [
    "client_id",
    "response_type",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "grant_type",
    "code",
    "token",
    "id_token_hint",
    "post_logout_redirect_uri",
    "rd",
    "username",
    "password",
    "csrf_token",
];

/// Broken percent-encoding and bytes that are not UTF-8.
const BAD_PIECES: [&[u8]; 18] = [
    b"%",
    b"%z",
    b"%zz",
    b"%4",
    b"%ff",
    b"%c3%28",
    b"%e2%82",
    b"%00",
    b"%%",
    b"\xff\xfe",
    b"\xc3\x28",
    b"+%2",
    b"=%",
    b"&&&",
    b"%ed%a0%80",
    b"%f4%90%80%80",
    b"openid%20%c0%af",
    b"http%3a%2f%2f%ZZ",
];

fn pick<'a, T: ?Sized>(rng: &mut StdRng, items: &[&'a T]) -> &'a T
where
    &'a T: Default,
{
    items
        .get(rng.random_range(0..items.len()))
        .copied()
        .unwrap_or_default()
}

/// `name=value&...` with broken encodings in names and values.
fn bad_pairs(rng: &mut StdRng) -> Vec<u8> {
    let mut out = Vec::new();
    for n in 0..rng.random_range(1..6) {
        if n > 0 {
            out.push(b'&');
        }
        if rng.random_bool(0.2) {
            out.extend_from_slice(pick(rng, &BAD_PIECES));
        } else {
            out.extend_from_slice(pick(rng, &NAMES).as_bytes());
        }
        out.push(b'=');
        for _ in 0..rng.random_range(1..4) {
            out.extend_from_slice(pick(rng, &BAD_PIECES));
            if rng.random_bool(0.3) {
                out.extend_from_slice(b"abc");
            }
        }
    }
    out
}

/// Plausible parameters, each name repeated with another value.
fn duplicate_pairs(rng: &mut StdRng) -> Vec<u8> {
    let mut out = Vec::new();
    let pairs = [
        ("client_id", CLIENT_ID),
        ("response_type", "code"),
        ("redirect_uri", "http%3A%2F%2F127.0.0.1%3A9%2Fcb"),
        ("scope", "openid"),
        ("grant_type", "authorization_code"),
        ("code", "abc"),
        ("token", "xyz"),
        ("username", "user00"),
        ("state", "s"),
    ];
    for (name, value) in pairs {
        if rng.random_bool(0.6) {
            let others = ["", "other", "token", "x%20y", value];
            let other = others
                .get(rng.random_range(0..others.len()))
                .copied()
                .unwrap_or_default();
            let _ = write!(Cursor(&mut out), "{name}={value}&{name}={other}&");
        }
    }
    out.extend_from_slice(b"nonce=n");
    out
}

/// `fmt::Write` into a byte buffer.
struct Cursor<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Cursor<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

fn random_bytes(rng: &mut StdRng, len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    rng.fill(bytes.as_mut_slice());
    bytes
}

/// A request head: `method target HTTP/1.1`, Host, `headers`, `Connection:
/// close`, then the body with its Content-Length when there is one.
fn request(
    method: &[u8],
    target: &[u8],
    host: &str,
    headers: &[&[u8]],
    body: Option<&[u8]>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + body.map_or(0, <[u8]>::len));
    out.extend_from_slice(method);
    out.push(b' ');
    out.extend_from_slice(target);
    let _ = write!(Cursor(&mut out), " HTTP/1.1\r\nHost: {host}\r\n");
    for header in headers {
        out.extend_from_slice(header);
        out.extend_from_slice(b"\r\n");
    }
    if let Some(body) = body {
        let _ = write!(Cursor(&mut out), "Content-Length: {}\r\n", body.len());
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    out.extend_from_slice(body.unwrap_or_default());
    out
}

const FORM: &[u8] = b"Content-Type: application/x-www-form-urlencoded";

/// The bytes of request `category` to `endpoint`.
fn build(category: Category, endpoint: &Endpoint, host: &str, rng: &mut StdRng) -> Request {
    let method = endpoint.method.as_bytes();
    let path = endpoint.path.as_bytes();
    let post = endpoint.method == "POST";
    let plain = |bytes| Request {
        bytes,
        shutdown: false,
        pipelined: false,
    };
    match category {
        Category::RandomBytes => {
            let len = rng.random_range(1..2048);
            let mut bytes = if rng.random_bool(0.5) {
                format!("{} {} HTTP/1.1\r\n", endpoint.method, endpoint.path).into_bytes()
            } else {
                Vec::new()
            };
            bytes.extend(random_bytes(rng, len));
            if rng.random_bool(0.5) {
                bytes.extend_from_slice(b"\r\n\r\n");
            }
            plain(bytes)
        }
        Category::WrongMethod => {
            let token = format!("X{:08x}", rng.random::<u32>());
            let methods: [&[u8]; 11] = [
                b"PUT",
                b"DELETE",
                b"PATCH",
                b"OPTIONS",
                b"TRACE",
                b"CONNECT",
                b"PROPFIND",
                b"get",
                b"G\x01T",
                b"P\xffST",
                token.as_bytes(),
            ];
            let method = pick(rng, &methods);
            plain(request(method, path, host, &[], Some(b"")))
        }
        Category::BadQuery => {
            let mut target = path.to_vec();
            target.push(b'?');
            target.extend(bad_pairs(rng));
            let body: Option<&[u8]> = post.then_some(b"");
            plain(request(method, &target, host, &[FORM], body))
        }
        Category::BadForm => plain(request(b"POST", path, host, &[FORM], Some(&bad_pairs(rng)))),
        Category::OversizedHeader => {
            let mut headers = Vec::new();
            if rng.random_bool(0.5) {
                let mut pad = b"X-Pad: ".to_vec();
                pad.resize(pad.len() + rng.random_range(17 * 1024..64 * 1024), b'a');
                headers.push(pad);
            } else {
                for n in 0..rng.random_range(100..400) {
                    headers.push(format!("X-Many-{n}: {}", "b".repeat(60)).into_bytes());
                }
            }
            let headers: Vec<&[u8]> = headers.iter().map(Vec::as_slice).collect();
            plain(request(method, path, host, &headers, None))
        }
        Category::OversizedBody => {
            let mut body = b"grant_type=authorization_code&code=".to_vec();
            body.resize(rng.random_range(65 * 1024..256 * 1024), b'a');
            plain(request(b"POST", path, host, &[FORM], Some(&body)))
        }
        Category::TruncatedBody => {
            let declared = rng.random_range(100..10_000_usize);
            let sent = rng.random_range(0..declared);
            let mut bytes = request(b"POST", path, host, &[FORM], None);
            // Put the lying Content-Length before the blank line.
            bytes.truncate(bytes.len() - 2);
            let _ = write!(Cursor(&mut bytes), "Content-Length: {declared}\r\n\r\n");
            bytes.resize(bytes.len() + sent, b'a');
            Request {
                bytes,
                shutdown: true,
                pipelined: false,
            }
        }
        Category::DuplicateParams => {
            let pairs = duplicate_pairs(rng);
            if post {
                plain(request(method, path, host, &[FORM], Some(&pairs)))
            } else {
                let mut target = path.to_vec();
                target.push(b'?');
                target.extend(pairs);
                plain(request(method, &target, host, &[], None))
            }
        }
        Category::DuplicateHeaders => {
            let variants: [&[&[u8]]; 6] = [
                &[b"Content-Length: 5", b"Content-Length: 3"],
                &[b"Host: evil.example"],
                &[
                    b"Authorization: Basic aG9zdGlsZTp4",
                    b"Authorization: Bearer abc",
                ],
                &[b"Transfer-Encoding: chunked", b"Content-Length: 3"],
                &[b"Transfer-Encoding: chunked"],
                &[FORM, b"Content-Type: application/json"],
            ];
            let headers = pick(rng, &variants);
            let mut bytes = request(b"POST", path, host, headers, None);
            bytes.extend_from_slice(if rng.random_bool(0.5) {
                b"abcde"
            } else {
                b"zz\r\nnot a chunk\r\n0\r\n\r\n"
            });
            // The body may be shorter than one of the lengths (or an
            // unfinished chunked body): the half-close tells the server no
            // more is coming instead of leaving it waiting.
            Request {
                bytes,
                shutdown: true,
                pipelined: false,
            }
        }
        Category::WrongContentType => {
            let types: [&[u8]; 8] = [
                b"Content-Type: application/json",
                b"Content-Type: multipart/form-data",
                b"Content-Type: multipart/form-data; boundary=x",
                b"Content-Type: text/plain",
                b"Content-Type: application/x-www-form-urlencoded; charset=utf-16",
                b"Content-Type: \x01\xff",
                b"Content-Type: ",
                b"X-No-Content-Type: 1",
            ];
            let bodies: [&[u8]; 4] = [
                b"{\"grant_type\":\"authorization_code\",\"code\":\"x\"}",
                b"--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nb\r\n--x--\r\n",
                b"grant_type=authorization_code&code=x",
                b"\x00\x01\x02",
            ];
            let content_type = pick(rng, &types);
            let body = pick(rng, &bodies);
            plain(request(b"POST", path, host, &[content_type], Some(body)))
        }
        Category::BadAuthorization => {
            let len = rng.random_range(1..64);
            let garbage = STANDARD.encode(random_bytes(rng, len));
            let huge = "A".repeat(rng.random_range(4096..15_000));
            let values: [String; 12] = [
                "Basic !!!!".to_owned(),
                format!("Basic {garbage}"),
                format!("Basic {}", STANDARD.encode("nocolon")),
                format!("Basic {}", STANDARD.encode(":")),
                format!("Basic {}", STANDARD.encode("hostile:%zz")),
                "Basic".to_owned(),
                "Bearer".to_owned(),
                format!("Bearer {garbage}"),
                format!("Bearer {huge}"),
                format!("Basic {huge}"),
                "Bearer a.b.c".to_owned(),
                "Digest username=x".to_owned(),
            ];
            let value = values
                .get(rng.random_range(0..values.len()))
                .cloned()
                .unwrap_or_default();
            let mut header = b"Authorization: ".to_vec();
            if rng.random_bool(0.1) {
                header.extend_from_slice(b"Bearer \xff\xfe\x80");
            } else {
                header.extend_from_slice(value.as_bytes());
            }
            let body: Option<&[u8]> = post.then_some(b"token=abc&grant_type=refresh_token");
            plain(request(method, path, host, &[FORM, &header], body))
        }
        Category::BadCookies => {
            let len = rng.random_range(1..200);
            let garbage = STANDARD.encode(random_bytes(rng, len));
            let mut header = b"Cookie: ".to_vec();
            match rng.random_range(0..5) {
                0 => {
                    let _ = write!(
                        Cursor(&mut header),
                        "porthor_session={garbage}; porthor_csrf={garbage}"
                    );
                }
                1 => header.resize(header.len() + rng.random_range(4096..15_000), b'c'),
                2 => {
                    for n in 0..200 {
                        let _ = write!(Cursor(&mut header), "c{n}=v; ");
                    }
                }
                3 => header.extend_from_slice(b"porthor_session=\xff\xfe; porthor_csrf=%zz"),
                _ => header.extend_from_slice(b"porthor_session; =; ;;porthor_session=a=b"),
            }
            let body: Option<&[u8]> =
                post.then_some(b"username=user00&password=x&csrf_token=abc&rd=%2F");
            plain(request(method, path, host, &[FORM, &header], body))
        }
        Category::OldHttp => {
            let bytes = match rng.random_range(0..7) {
                0 => format!("GET {} HTTP/1.0\r\n\r\n", endpoint.path),
                1 => format!(
                    "{} http://{host}{} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
                    endpoint.method, endpoint.path
                ),
                2 => format!(
                    "GET http://evil.example{} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n",
                    endpoint.path
                ),
                3 => format!("OPTIONS * HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
                4 => format!("GET {} HTTP/0.9\r\n\r\n", endpoint.path),
                5 => format!("GET {} HTTP/2.0\r\nHost: {host}\r\n\r\n", endpoint.path),
                _ => format!(
                    "GET no-slash{} http/1.1\r\nHost: {host}\r\n\r\n",
                    endpoint.path
                ),
            };
            plain(bytes.into_bytes())
        }
        Category::Pipelined => {
            let mut bytes = format!(
                "GET {} HTTP/1.1\r\nHost: {host}\r\n\r\n",
                flows::DISCOVERY_PATH
            )
            .into_bytes();
            let inner = [
                Category::BadQuery,
                Category::BadAuthorization,
                Category::BadCookies,
                Category::WrongMethod,
                Category::DuplicateParams,
                Category::RandomBytes,
            ];
            let middle = inner
                .get(rng.random_range(0..inner.len()))
                .copied()
                .unwrap_or(Category::BadQuery);
            let mut malformed = build(middle, endpoint, host, rng).bytes;
            // Keep the connection open past the malformed request when it
            // parses; the server may still close it.
            if let Some(at) = find(&malformed, b"Connection: close\r\n") {
                malformed.drain(at..at + b"Connection: close\r\n".len());
            }
            bytes.extend(malformed);
            let _ = write!(
                Cursor(&mut bytes),
                "GET /health HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
            );
            Request {
                bytes,
                shutdown: false,
                pipelined: true,
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Keeps [`SLOW_CONNECTIONS`] connections sending one header byte every
/// 100 ms (then nothing) until `stop`, reopening each one the server ends.
async fn slow_headers(address: SocketAddr, host: String, stop: Arc<AtomicBool>) -> SlowCounts {
    let head = Arc::new(
        format!(
            "GET /health HTTP/1.1\r\nHost: {host}\r\nX-Slow: {}",
            "s".repeat(40)
        )
        .into_bytes(),
    );
    let tasks: Vec<_> = (0..SLOW_CONNECTIONS)
        .map(|_| {
            let stop = Arc::clone(&stop);
            let head = Arc::clone(&head);
            tokio::spawn(async move {
                let mut counts = SlowCounts::default();
                while !stop.load(Ordering::Relaxed) {
                    slow_connection(address, &head, &stop, &mut counts).await;
                }
                counts
            })
        })
        .collect();
    let mut total = SlowCounts::default();
    for task in tasks {
        if let Ok(counts) = task.await {
            total.connections += counts.connections;
            for (status, count) in counts.answered {
                *total.answered.entry(status).or_default() += count;
            }
            total.closed_without_answer += counts.closed_without_answer;
            total.open_at_end += counts.open_at_end;
            total.connect_failures += counts.connect_failures;
            total.longest_open_seconds =
                total.longest_open_seconds.max(counts.longest_open_seconds);
        }
    }
    total
}

async fn slow_connection(
    address: SocketAddr,
    head: &[u8],
    stop: &AtomicBool,
    counts: &mut SlowCounts,
) {
    let opened = Instant::now();
    let Ok(mut stream) = TcpStream::connect(address).await else {
        counts.connect_failures += 1;
        sleep(Duration::from_millis(100)).await;
        return;
    };
    counts.connections += 1;
    let mut sent = 0;
    let mut received = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        if stop.load(Ordering::Relaxed) {
            counts.open_at_end += 1;
            return;
        }
        tokio::select! {
            read = stream.read(&mut chunk) => match read {
                Ok(n) if n > 0 => {
                    received.extend_from_slice(chunk.get(..n).unwrap_or_default());
                    if let Some(&status) = statuses(&received, false).first() {
                        *counts.answered.entry(status).or_default() += 1;
                        break;
                    }
                }
                _ => {
                    counts.closed_without_answer += 1;
                    break;
                }
            },
            () = sleep(Duration::from_millis(100)) => {
                if let Some(byte) = head.get(sent..=sent) {
                    if stream.write_all(byte).await.is_err() {
                        counts.closed_without_answer += 1;
                        break;
                    }
                    sent += 1;
                }
            }
        }
    }
    counts.longest_open_seconds = counts
        .longest_open_seconds
        .max(opened.elapsed().as_secs_f64());
}

/// Logs every user in and runs one full flow each, ID token checked.
async fn happy_path(
    address: SocketAddr,
    credentials: &Credentials,
    signer: Arc<Signer>,
) -> Result<usize> {
    let sessions = load::log_in_all(address, USERS, &credentials.password, 2).await?;
    let target = Target::new(
        address,
        CLIENT_ID,
        &credentials.client_secret,
        REDIRECT_URI,
        signer,
    );
    let mut conn = Conn::new(address);
    let mut done = 0;
    for session in &sessions {
        for _ in 0..2 {
            let (_, check) = flows::flow(&mut conn, &target, session).await?;
            check.run(&target)?;
            done += 1;
        }
    }
    Ok(done)
}

fn rss_mib(pid: u32, key: &str) -> Option<f64> {
    procfs::memory_kib(pid, key)
        .ok()
        .map(|kib| kib as f64 / 1024.0)
}

fn statuses_text(statuses: &BTreeMap<u16, u64>) -> String {
    statuses
        .iter()
        .map(|(status, count)| format!("{status}:{count}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[allow(clippy::print_stdout, reason = "the table is this program's output")]
fn print_table(report: &HostileReport) {
    println!(
        "{:<22} {:>7} {:>7} {:>7} {:>7} {:>8} {:>8}  statuses",
        "category", "sent", "closed", "timeout", "5xx!503", "mean ms", "max ms"
    );
    let row = |name: &str, counts: &Counts| {
        println!(
            "{name:<22} {:>7} {:>7} {:>7} {:>7} {:>8.1} {:>8.0}  {}",
            counts.sent,
            counts.closed_without_answer,
            counts.timeouts,
            counts.count_where(|s| s >= 500 && s != 503),
            counts.mean_ms(),
            counts.max_ms,
            statuses_text(&counts.statuses)
        );
    };
    for (name, counts) in &report.categories {
        row(name, counts);
    }
    row("total", &report.total);
    let slow = &report.slow_headers;
    println!(
        "slow headers: {} connections, answered {}, closed without answer {}, open at end {}, longest {:.1} s",
        slow.connections,
        statuses_text(&slow.answered),
        slow.closed_without_answer,
        slow.open_at_end,
        slow.longest_open_seconds
    );
    let mib = |v: Option<f64>| v.map_or("?".to_owned(), |v| format!("{v:.1}"));
    println!(
        "server RSS: start {} MiB, peak {} MiB, end {} MiB",
        mib(report.server_rss.start_mib),
        mib(report.server_rss.peak_mib),
        mib(report.server_rss.end_mib)
    );
    println!(
        "server CPU during the run: {} s",
        mib(report.server_cpu_seconds)
    );
    println!(
        "{} requests in {:.1} s ({:.0}/s), seed {}; 503s {}; 5xx other than 503: {}; panics in log: {}; happy-path flows afterwards: {}",
        report.requests,
        report.wall_seconds,
        report.requests_per_sec,
        report.seed,
        report.allowed_503s,
        report.forbidden_5xx,
        report.panic_lines_in_log,
        report.happy_path_flows
    );
    if report.failures.is_empty() {
        println!("verdict: pass");
    } else {
        println!("verdict: FAIL");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_are_found() {
        assert_eq!(statuses(b"HTTP/1.1 400 Bad Request\r\n\r\n", false), [400]);
        let two = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\nHTTP/1.1 404 Not Found\r\n\r\n";
        assert_eq!(statuses(two, true), [200, 404]);
        assert_eq!(statuses(two, false), [200]);
        assert!(statuses(b"", true).is_empty());
        assert!(statuses(b"HTTP/1.1 20", false).is_empty());
    }

    #[test]
    fn every_category_builds_from_a_seed_alike() {
        let endpoint = Endpoint {
            method: "POST",
            path: "/auth/openid/token".to_owned(),
        };
        for category in CATEGORIES {
            let a = build(category, &endpoint, "h", &mut StdRng::seed_from_u64(7));
            let b = build(category, &endpoint, "h", &mut StdRng::seed_from_u64(7));
            assert_eq!(a.bytes, b.bytes, "{}", category.name());
            assert!(!a.bytes.is_empty());
        }
    }

    #[test]
    fn only_503_is_an_allowed_5xx() {
        let mut total = Counts::default();
        let slow = SlowCounts {
            answered: [(408, 3)].into(),
            ..SlowCounts::default()
        };
        for status in [200, 400, 431, 503] {
            total.add(&Answer {
                statuses: vec![status],
                ..Answer::default()
            });
        }
        assert!(verdict(&total, &slow, 10.0, Some(30.0)).is_empty());
        total.add(&Answer {
            statuses: vec![200, 500],
            ..Answer::default()
        });
        assert_eq!(forbidden_5xx(&total, &slow), 1);
        assert_eq!(verdict(&total, &slow, 10.0, Some(30.0)).len(), 1);
        let slow = SlowCounts {
            answered: [(502, 1)].into(),
            ..SlowCounts::default()
        };
        assert_eq!(forbidden_5xx(&Counts::default(), &slow), 1);
    }

    #[test]
    fn timeouts_memory_and_unended_slow_connections_fail() {
        let mut total = Counts::default();
        total.add(&Answer {
            timed_out: true,
            ..Answer::default()
        });
        assert_eq!(total.timeouts, 1);
        assert_eq!(
            verdict(&total, &SlowCounts::default(), 1.0, Some(30.0)).len(),
            1
        );
        let quiet = Counts::default();
        let never_ended = SlowCounts::default();
        assert!(verdict(&quiet, &never_ended, 1.0, Some(30.0)).is_empty());
        assert_eq!(verdict(&quiet, &never_ended, 9.0, Some(30.0)).len(), 1);
        let ended = SlowCounts {
            closed_without_answer: 1,
            ..SlowCounts::default()
        };
        assert!(verdict(&quiet, &ended, 9.0, Some(256.0)).is_empty());
        assert_eq!(verdict(&quiet, &ended, 9.0, Some(256.5)).len(), 1);
        assert_eq!(verdict(&quiet, &ended, 9.0, None).len(), 1);
    }

    #[test]
    fn escaping_shows_bytes_and_cuts() {
        assert_eq!(escape(b"a\r\n\xff", 300), "a\\r\\n\\xff");
        assert_eq!(escape(&[b'x'; 400], 300).len(), 303);
    }
}
