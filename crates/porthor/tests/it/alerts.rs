//! `[alerts]`: `porthor serve` posts to a real webhook (a small HTTP server
//! in the test that records what it receives) when a code is replayed, a
//! refresh token reused, a login locked out, a store record corrupt, and
//! the store down and back; rate-limited per kind with the count of what
//! was suppressed; and a webhook that fails or never answers delays no
//! request.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use porthor_models::SessionToken;
use porthor_test_support::{
    RedisProcess, TEST_ENCRYPTION_KEY, raw_set, storage_key, unique_prefix,
};
use reqwest::StatusCode;
use reqwest::header::COOKIE;

use crate::revoke_user::{Browser, CLIENT, PASSWORD, REDIRECT_URI, config, cookie};
use crate::serve::Running;
use crate::{ConfigDir, SECRET, free_port, porthor, run, stderr, stdout};

/// The secret part of the webhook's URL, which must appear nowhere.
const WEBHOOK_PATH: &str = "services/T0TEST/B0TEST/webhook-secret-path";

/// How the webhook answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Answer {
    Ok = 0,
    Fail = 1,
    /// Reads the request and never answers.
    Silent = 2,
}

/// A Slack incoming webhook stand-in: records the `text` of every post.
struct Webhook {
    url: String,
    texts: Arc<Mutex<Vec<String>>>,
    answer: Arc<AtomicU8>,
}

impl Webhook {
    fn start(answer: Answer) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://127.0.0.1:{}/{WEBHOOK_PATH}",
            listener.local_addr().unwrap().port()
        );
        let texts = Arc::new(Mutex::new(Vec::new()));
        let answer = Arc::new(AtomicU8::new(answer as u8));
        let (sink, mode) = (Arc::clone(&texts), Arc::clone(&answer));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (sink, mode) = (Arc::clone(&sink), Arc::clone(&mode));
                std::thread::spawn(move || serve(stream, &sink, &mode));
            }
        });
        Self { url, texts, answer }
    }

    fn answer(&self, answer: Answer) {
        self.answer.store(answer as u8, Ordering::SeqCst);
    }

    fn texts(&self) -> Vec<String> {
        self.texts.lock().unwrap().clone()
    }

    /// The posts once there are at least `count`.
    async fn wait_for(&self, count: usize, within: Duration) -> Vec<String> {
        let deadline = Instant::now() + within;
        loop {
            let texts = self.texts();
            if texts.len() >= count {
                return texts;
            }
            assert!(
                Instant::now() < deadline,
                "{} posts, not {count}: {texts:#?}",
                texts.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// One request per connection: reads it, records its `text`, answers as
/// told.
fn serve(stream: TcpStream, sink: &Mutex<Vec<String>>, mode: &AtomicU8) {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).unwrap();
    assert!(
        request_line.starts_with(&format!("POST /{WEBHOOK_PATH} HTTP/1.1")),
        "{request_line}"
    );
    let mut length = 0;
    let mut json = false;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end().to_ascii_lowercase();
        if line.is_empty() {
            break;
        }
        if let Some(value) = line.strip_prefix("content-length:") {
            length = value.trim().parse().unwrap();
        }
        json |= line == "content-type: application/json";
    }
    assert!(json, "not JSON");
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    sink.lock()
        .unwrap()
        .push(body["text"].as_str().unwrap().to_owned());
    let mut stream = reader.into_inner();
    let answer = match mode.load(Ordering::SeqCst) {
        0 => "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
        1 => "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        _ => {
            // Holds the connection open, unanswered, past any timeout.
            std::thread::sleep(Duration::from_secs(60));
            return;
        }
    };
    let _ = stream.write_all(answer.as_bytes());
}

/// `porthor serve` on Redis (the test Redis unless `redis_url`), posting
/// to `webhook` with `env` on top.
/// The configuration's directory comes back too: it must outlive the
/// server's start.
fn start(
    webhook: &Webhook,
    redis_url: Option<&str>,
    env: &[(&str, &str)],
) -> (Running, String, ConfigDir) {
    let port = free_port();
    let prefix = unique_prefix("porthor_alerts");
    let dir = ConfigDir::new(TEST_ENCRYPTION_KEY);
    let path = dir.write_config(&config(port, "redis", &prefix));
    let mut command = porthor();
    command
        .arg("serve")
        .arg("--config")
        .arg(&path)
        .env("PORTHOR_ALERTS__SLACK_WEBHOOK_URL", &webhook.url);
    if let Some(url) = redis_url {
        command.env("PORTHOR_STORE__REDIS_URL", url);
    }
    for (name, value) in env {
        command.env(name, value);
    }
    (Running::start(&mut command, port), prefix, dir)
}

fn browser(base: &str) -> Browser<'_> {
    Browser {
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        base,
        client: CLIENT,
    }
}

/// A login with the wrong password: its status.
async fn failed_login(browser: &Browser<'_>, username: &str) -> StatusCode {
    let form = browser
        .http
        .get(format!("{}/login", browser.base))
        .send()
        .await
        .unwrap();
    let csrf = cookie(&form, "porthor_csrf");
    browser
        .http
        .post(format!("{}/login", browser.base))
        .header(COOKIE, format!("porthor_csrf={csrf}"))
        .form(&[
            ("username", username),
            ("password", "not the password"),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .unwrap()
        .status()
}

/// Asserts no secret of the test is in `text`.
fn no_secret(text: &str, also: &[&str]) {
    for secret in [PASSWORD, SECRET, WEBHOOK_PATH, "not the password"]
        .iter()
        .chain(also)
    {
        assert!(!text.contains(secret), "{secret:?} in {text}");
    }
}

/// A replayed code and a reused refresh token each make one post naming
/// the client and the user, and no code or token; a second replay within
/// `min_interval` is held back, and counted in the next post of its kind.
#[tokio::test]
async fn replays_and_reuse_are_posted_rate_limited_without_secrets() {
    let webhook = Webhook::start(Answer::Ok);
    let (mut server, _, _dir) = start(&webhook, None, &[("PORTHOR_ALERTS__MIN_INTERVAL", "2s")]);
    let http = reqwest::Client::new();
    server.wait_until_healthy(&http).await;
    let browser = browser(&server.base);

    // alice's refresh token, used after it was rotated.
    let (_, tokens) = browser.grant("alice").await;
    assert_eq!(browser.refresh(&tokens).await, StatusCode::OK);
    assert_eq!(browser.refresh(&tokens).await, StatusCode::BAD_REQUEST);
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    let posts = webhook.wait_for(1, Duration::from_secs(10)).await;
    assert!(
        posts[0].contains("*Porthor: refresh token reused*"),
        "{posts:#?}"
    );
    assert!(
        posts[0].contains("client `app` for user `alice`"),
        "{posts:#?}"
    );
    no_secret(&posts[0], &[refresh_token]);

    // Two codes replayed at once: one post, the second held back.
    let mut codes = Vec::new();
    for user in ["alice", "bob"] {
        let session = browser.log_in(user).await;
        let code = browser.code(&session).await.unwrap();
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
        ];
        assert_eq!(browser.token(&form).await.status(), StatusCode::OK);
        assert_eq!(browser.token(&form).await.status(), StatusCode::BAD_REQUEST);
        codes.push((code, session));
    }
    let posts = webhook.wait_for(2, Duration::from_secs(10)).await;
    let replay = &posts[1];
    assert!(
        replay.contains("*Porthor: authorization code replayed* (http://127.0.0.1:"),
        "{replay}"
    );
    assert!(replay.contains("client `app` for user `alice`"), "{replay}");
    assert!(!replay.contains("suppressed"), "{replay}");
    // Once the interval is over, the count of what was held back.
    let posts = webhook.wait_for(3, Duration::from_secs(10)).await;
    assert!(
        posts[2].contains("_1 more authorization code replayed alert(s) were suppressed"),
        "{posts:#?}"
    );
    for (code, session) in &codes {
        for text in &posts {
            let code_secret = code.rsplit('.').next().unwrap();
            let session_secret = session.rsplit('.').next().unwrap();
            no_secret(text, &[code, code_secret, session_secret]);
        }
    }
    // Nothing more: one post per event or summary.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(webhook.texts().len(), 3, "{:#?}", webhook.texts());
    no_secret(&server.logs(), &[]);
}

/// A lockout is posted naming the user; a webhook that never answers, then
/// one that fails, delays no login (the post waits in the background, its
/// timeout bounded, never retried), and alerts keep going once it answers.
#[tokio::test]
async fn lockouts_are_posted_and_a_dead_webhook_delays_no_login() {
    let webhook = Webhook::start(Answer::Silent);
    let (mut server, _, _dir) = start(
        &webhook,
        None,
        &[
            ("PORTHOR_THROTTLE__USER_FAILURES", "2"),
            ("PORTHOR_ALERTS__MIN_INTERVAL", "1s"),
        ],
    );
    let http = reqwest::Client::new();
    server.wait_until_healthy(&http).await;
    let browser = browser(&server.base);

    // What a login takes here (debug build, Argon2) with nothing to post.
    let started = Instant::now();
    browser.log_in("alice").await;
    let baseline = started.elapsed();

    // bob is locked out by his second failure: the post goes out, and the
    // webhook holds it unanswered.
    assert_eq!(
        failed_login(&browser, "bob").await,
        StatusCode::UNAUTHORIZED
    );
    let started = Instant::now();
    assert_eq!(
        failed_login(&browser, "bob").await,
        StatusCode::UNAUTHORIZED
    );
    let locking = started.elapsed();
    let posts = webhook.wait_for(1, Duration::from_secs(10)).await;
    assert!(posts[0].contains("*Porthor: login lockout*"), "{posts:#?}");
    assert!(
        posts[0].contains("Logins for user `bob` are refused for 15m after 2 failed attempts (the last from address `127.0.0.1`)"),
        "{posts:#?}"
    );
    no_secret(&posts[0], &[]);
    assert_eq!(
        failed_login(&browser, "bob").await,
        StatusCode::TOO_MANY_REQUESTS
    );

    // While the post hangs: more lockouts (queued behind it, or held back
    // by the rate limit) and logins, none slower for it.
    let mut slowest = locking;
    for user in ["carol", "dave", "erin"] {
        for _ in 0..2 {
            let started = Instant::now();
            assert_eq!(failed_login(&browser, user).await, StatusCode::UNAUTHORIZED);
            slowest = slowest.max(started.elapsed());
        }
        let started = Instant::now();
        browser.log_in("alice").await;
        slowest = slowest.max(started.elapsed());
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    // A post that waited for the webhook would take its 5 s timeout.
    assert!(
        slowest < baseline * 2 + Duration::from_secs(1),
        "a login took {slowest:?} (baseline {baseline:?})"
    );

    // The webhook fails instead: the sender moved on after the timeout,
    // posts what was queued, is refused, and does not retry.
    webhook.answer(Answer::Fail);
    let posts = webhook.wait_for(2, Duration::from_secs(20)).await;
    assert!(posts[1].contains("*Porthor: login lockout*"), "{posts:#?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server
        .logs()
        .contains("cannot post an alert to the Slack webhook")
    {
        assert!(Instant::now() < deadline, "{}", server.logs());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    webhook.answer(Answer::Ok);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let posts = webhook.texts();
    // Three lockouts after bob's, one per second at most: each went out,
    // or was counted in a later post as suppressed; none twice.
    let suppressed: u32 = posts
        .iter()
        .filter_map(|text| {
            let (_, rest) = text.split_once("\n_")?;
            rest.split(' ').next()?.parse::<u32>().ok()
        })
        .sum();
    let named = |user: &str| {
        posts
            .iter()
            .filter(|text| text.contains(&format!("user `{user}`")))
            .count()
    };
    let users = ["bob", "carol", "dave", "erin"];
    let posted: usize = users.iter().map(|user| named(user)).sum();
    assert_eq!(posted + suppressed as usize, 4, "{posts:#?}");
    for user in users {
        assert!(named(user) <= 1, "{user} posted twice: {posts:#?}");
    }
    for text in &posts {
        no_secret(text, &[]);
    }
    no_secret(&server.logs(), &[]);
}

/// A corrupt session record is posted (and the browser sent to log in
/// again); the store killed for longer than `store_down_after` is posted,
/// and its return.
#[tokio::test]
async fn a_corrupt_record_and_a_store_outage_are_posted() {
    let mut redis = tokio::task::spawn_blocking(RedisProcess::start)
        .await
        .unwrap();
    let webhook = Webhook::start(Answer::Ok);
    let (mut server, prefix, _dir) = start(
        &webhook,
        Some(&redis.url()),
        &[
            ("PORTHOR_ALERTS__STORE_DOWN_AFTER", "1s"),
            ("PORTHOR_ALERTS__MIN_INTERVAL", "1s"),
        ],
    );
    let http = reqwest::Client::new();
    server.wait_until_healthy(&http).await;
    let browser = browser(&server.base);

    let session = browser.log_in("alice").await;
    let token = SessionToken::parse(&session).unwrap();
    raw_set(
        &redis.url(),
        &storage_key(&prefix, "session", token.key()),
        b"\x01not a sealed record",
    )
    .await;
    assert_eq!(browser.code(&session).await, None);
    let posts = webhook.wait_for(1, Duration::from_secs(10)).await;
    assert!(
        posts[0].contains("*Porthor: corrupt store record*"),
        "{posts:#?}"
    );
    assert!(
        posts[0].contains(&format!(
            "`{}`",
            storage_key(&prefix, "session", token.key())
        )),
        "{posts:#?}"
    );
    no_secret(&posts[0], &[session.rsplit('.').next().unwrap()]);

    // Redis dies; after a second without an answer, the alert.
    let killed = Instant::now();
    redis.kill();
    let posts = webhook.wait_for(2, Duration::from_secs(20)).await;
    assert!(
        killed.elapsed() >= Duration::from_secs(1),
        "posted after {:?}",
        killed.elapsed()
    );
    assert!(
        posts[1].contains("*Porthor: store unavailable*"),
        "{posts:#?}"
    );
    assert!(posts[1].contains("has not answered for"), "{posts:#?}");
    // Logins meanwhile fail as unavailable, and promptly.
    let started = Instant::now();
    assert_eq!(
        failed_login(&browser, "alice").await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert!(started.elapsed() < Duration::from_secs(5));

    let _redis = tokio::task::spawn_blocking(move || {
        redis.restart();
        redis
    })
    .await
    .unwrap();
    let posts = webhook.wait_for(3, Duration::from_secs(20)).await;
    assert!(
        posts[2].contains("*Porthor: store available again*"),
        "{posts:#?}"
    );
    assert_eq!(posts.len(), 3, "{posts:#?}");
    no_secret(&server.logs(), &[]);
}

/// `check-config` shows `[alerts]` with the URL redacted, and names a bad
/// webhook's key without quoting it.
#[test]
fn check_config_redacts_the_webhook_and_reports_its_problems() {
    let dir = ConfigDir::new(TEST_ENCRYPTION_KEY);
    let path = dir.write_config(&config(free_port(), "redis", "porthor-alerts-check"));
    let check = |url: &str| {
        run(
            porthor()
                .env("PORTHOR_ALERTS__SLACK_WEBHOOK_URL", url)
                .env("PORTHOR_ALERTS__MIN_INTERVAL", "5m")
                .args(["check-config", "--config"])
                .arg(&path),
            "",
        )
    };
    let output = check(&format!("https://hooks.slack.com/{WEBHOOK_PATH}"));
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    no_secret(&text, &[]);
    let effective: toml::Value = toml::from_str(&text).unwrap();
    let alerts = &effective["alerts"];
    assert_eq!(alerts["slack_webhook_url"].as_str(), Some("<redacted>"));
    assert_eq!(alerts["min_interval"].as_str(), Some("5m"));
    assert_eq!(alerts["store_down_after"].as_str(), Some("30s"));

    let output = check(&format!("http://hooks.slack.com/{WEBHOOK_PATH}"));
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("alerts.slack_webhook_url: must be https (http only to a loopback address); the host is hooks.slack.com"),
        "{message}"
    );
    no_secret(&message, &[]);
}
