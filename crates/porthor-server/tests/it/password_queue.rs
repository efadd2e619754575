//! The bounded password queue: at most one Argon2 check per core, a login
//! waits for a slot at most `[login] queue_timeout`, and a client that
//! disconnects mid-check cannot start more checks than there are slots.
//!
//! Throttling is off here: these tests send many wrong passwords from one
//! address on purpose.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use porthor_oidc::Throttle;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, RETRY_AFTER};
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;

use crate::harness::{Harness, Options, StoreKind, USERNAME};

fn unthrottled(backend: StoreKind, queue_timeout: Duration) -> Options {
    Options {
        throttle: Throttle {
            enabled: false,
            ..Throttle::default()
        },
        password_queue_timeout: queue_timeout,
        ..Options::new(backend)
    }
}

/// With no time to queue, logins beyond the free slots are answered at
/// once: 503 with `Retry-After`, and the form saying to try again, the
/// username kept.
async fn password_queue_timeout_answers_503_with_retry_after(backend: StoreKind) {
    let h = Harness::start_with(unthrottled(backend, Duration::ZERO)).await;
    let (cookie, token) = h.login_form().await;
    let attempts = 4 * h.service.password_checks().slots + 4;
    let logins: Vec<_> = (0..attempts)
        .map(|_| {
            let login = h
                .http
                .post(h.url("/login"))
                .header(COOKIE, format!("porthor_csrf={cookie}"))
                .form(&[
                    ("username", USERNAME),
                    ("password", "wrong password"),
                    ("csrf_token", &token),
                ])
                .send();
            tokio::spawn(login)
        })
        .collect();
    let (mut checked, mut busy) = (0, 0);
    for login in logins {
        let response = login.await.unwrap().unwrap();
        match response.status() {
            StatusCode::UNAUTHORIZED => checked += 1,
            StatusCode::SERVICE_UNAVAILABLE => {
                busy += 1;
                assert_eq!(response.headers()[RETRY_AFTER], "5");
                let body = response.text().await.unwrap();
                assert!(body.contains("Try again in a few seconds."), "{body}");
                assert!(body.contains(r#"value="alice""#), "{body}");
                assert!(!body.contains("wrong password"));
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(checked >= 1 && busy >= 1, "{checked} checked, {busy} busy");
}

/// Connections that send a login and reset after 1 to 40 ms, from this
/// many clients at once.
const ATTACKERS: usize = 32;
/// How long a real login may take in the middle of the flood: well inside
/// the queue timeout (so it is never answered 503), on a machine whose
/// two cores the flood's checks keep busy.
const REAL_LOGIN_BOUND: Duration = Duration::from_secs(2);

/// The flood: many concurrent logins whose connections are reset while
/// their check is queued or running. A reset drops the request, but the
/// check it started runs on holding its slot, so the checks running at
/// once never exceed the slots; and a real login still gets through.
async fn login_flood_with_resets_never_exceeds_the_password_slots(backend: StoreKind) {
    let h = Harness::start_with(unthrottled(backend, Duration::from_secs(2))).await;
    let slots = h.service.password_checks().slots;
    let (cookie, token) = h.login_form().await;
    let host = h.issuer.strip_prefix("http://").unwrap().to_owned();
    let body = format!("username={USERNAME}&password=guess&csrf_token={token}");
    let request = Arc::new(format!(
        "POST /login HTTP/1.1\r\nHost: {host}\r\nCookie: porthor_csrf={cookie}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let attackers: Vec<_> = (0..ATTACKERS)
        .map(|attacker| {
            let (host, request, stop) = (host.clone(), Arc::clone(&request), Arc::clone(&stop));
            tokio::spawn(async move {
                let mut sent = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let mut stream = TcpStream::connect(&host).await.unwrap();
                    stream.write_all(request.as_bytes()).await.unwrap();
                    // Spread over a check's length, so resets land both
                    // while requests queue and while their checks run.
                    let wait = (attacker as u64 * 7 + sent * 13) % 40 + 1;
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                    stream.set_zero_linger().unwrap();
                    drop(stream);
                    sent += 1;
                }
                sent
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    h.login().await;
    let real_login = started.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut sent = 0;
    for attacker in attackers {
        sent += attacker.await.unwrap();
    }
    // Let the checks the flood started finish.
    let deadline = Instant::now() + Duration::from_secs(10);
    while h.service.password_checks().running > 0 {
        assert!(Instant::now() < deadline, "checks still running");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let stats = h.service.password_checks();
    assert!(
        stats.peak <= slots,
        "{} checks ran at once, with {slots} slots",
        stats.peak
    );
    // Not vacuous: the flood did fill every slot, and most of its logins
    // were reset before their check ran.
    assert_eq!(stats.peak, slots);
    assert!(
        sent > 2 * stats.started,
        "{sent} sent, {} checked",
        stats.started
    );
    assert!(
        real_login < REAL_LOGIN_BOUND,
        "the real login took {real_login:?}"
    );
}

crate::on_both_stores!(
    password_queue_timeout_answers_503_with_retry_after,
    login_flood_with_resets_never_exceeds_the_password_slots,
);
