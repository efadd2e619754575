//! Throttling online guessing: failed logins per username and per client
//! address, failed client authentications per client id; which address a
//! request comes from, through trusted proxies.
//!
//! Lockouts are storage TTLs, which run on real time: the one test that
//! waits one out uses a lockout of a second.

use std::time::Duration;

use porthor_oidc::Throttle;
use porthor_server::TrustedProxies;
use porthor_test_support::logs;
use reqwest::header::RETRY_AFTER;
use reqwest::{Response, StatusCode};

use crate::harness::{
    APP, CLIENT_ID, CLIENT_SECRET, Harness, Options, PASSWORD, REDIRECT_URI, StoreKind, USERNAME,
    set_cookie, token_error,
};

/// Default limits but for those given.
fn limits(user_failures: u32, ip_failures: u32, client_failures: u32) -> Throttle {
    Throttle {
        user_failures,
        ip_failures,
        client_failures,
        ..Throttle::default()
    }
}

async fn server(backend: StoreKind, throttle: Throttle) -> Harness {
    Harness::start_with(Options {
        throttle,
        ..Options::new(backend)
    })
    .await
}

/// A login as `username` with `password`, from `forwarded_for` if given.
async fn attempt(
    h: &Harness,
    username: &str,
    password: &str,
    forwarded_for: Option<&str>,
) -> Response {
    let headers: Vec<(&str, &str)> = forwarded_for
        .map(|ip| ("x-forwarded-for", ip))
        .into_iter()
        .collect();
    h.post_login_with_headers(&[("username", username), ("password", password)], &headers)
        .await
}

/// A code redemption with client credentials `basic`; the code is made up,
/// so only a failed client authentication is of interest.
async fn redeem(h: &Harness, basic: (&str, &str)) -> Response {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", "pc-AAAAAAAAAAAAAAAAAAAAAA.BBBB"),
        ("redirect_uri", REDIRECT_URI),
    ];
    h.token(Some(basic), &form).await
}

/// Fails `times` logins as `username`, each answered 401.
async fn fail_logins(h: &Harness, username: &str, times: u32, forwarded_for: Option<&str>) {
    for _ in 0..times {
        let response = attempt(h, username, "wrong password", forwarded_for).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{username}");
    }
}

/// `Retry-After` in seconds.
fn retry_after(response: &Response) -> u64 {
    response
        .headers()
        .get(RETRY_AFTER)
        .expect("Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// Asserts a refused login answered with the form: 429, `Retry-After`
/// within the default 15-minute lockout, a message saying when to try
/// again, the username kept, the password never echoed, no session.
async fn assert_locked_out(response: Response, username: &str, password: &str) {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait = retry_after(&response);
    assert!((890..=900).contains(&wait), "Retry-After {wait}");
    assert!(set_cookie(&response, "porthor_session").is_none());
    let body = response.text().await.unwrap();
    assert!(
        body.contains("Too many failed logins. Try again in 15 minutes."),
        "{body}"
    );
    assert!(body.contains(r#"name="password""#), "the form: {body}");
    assert_eq!(typed_username(&body).as_deref(), Some(username));
    assert!(!body.contains(password), "the password was echoed");
}

/// The value of the login form's username input.
fn typed_username(body: &str) -> Option<String> {
    let start = body.find(r#"name="username""#)?;
    let marker = "value=\"";
    let value = body.get(start..)?.find(marker)? + start + marker.len();
    let end = body.get(value..)?.find('"')? + value;
    body.get(value..end).map(str::to_owned)
}

async fn failed_logins_lock_the_username(backend: StoreKind) {
    let h = server(backend, limits(3, 100, 50)).await;
    fail_logins(&h, USERNAME, 3, None).await;
    let started = h.service.password_checks().started;
    let response = attempt(&h, USERNAME, "another guess", None).await;
    assert_locked_out(response, USERNAME, "another guess").await;
    // Refused before the password was looked at: no Argon2 check ran.
    assert_eq!(h.service.password_checks().started, started);

    let throttled = logs::capture().matching(
        "INFO",
        &[
            "login refused",
            "user=alice",
            "client.ip=127.0.0.1",
            "outcome=throttled",
        ],
    );
    assert!(!throttled.is_empty(), "the lockout hit was not logged");
    let locked = logs::capture().matching("WARN", &["login lockout", "user=alice", "locked=user"]);
    assert!(!locked.is_empty(), "the lockout's start was not logged");
    let lines = logs::capture().lines();
    assert!(lines.iter().all(|line| !line.contains("another guess")));
}

async fn correct_password_during_a_lockout_is_refused_the_same_way(backend: StoreKind) {
    let h = server(backend, limits(3, 100, 50)).await;
    fail_logins(&h, USERNAME, 3, None).await;
    let started = h.service.password_checks().started;
    let right = attempt(&h, USERNAME, PASSWORD, None).await;
    assert_locked_out(right, USERNAME, PASSWORD).await;
    assert_eq!(h.service.password_checks().started, started);
}

async fn unknown_usernames_are_counted_too(backend: StoreKind) {
    let h = server(backend, limits(3, 100, 50)).await;
    fail_logins(&h, "mallory", 3, None).await;
    assert_locked_out(
        attempt(&h, "mallory", "guess", None).await,
        "mallory",
        "guess",
    )
    .await;
    // Another username has its own count.
    assert_eq!(
        attempt(&h, USERNAME, PASSWORD, None).await.status(),
        StatusCode::SEE_OTHER
    );
}

async fn failed_logins_lock_the_client_ip(backend: StoreKind) {
    let h = server(backend, limits(100, 3, 50)).await;
    for username in ["bob", "carol", "dave"] {
        fail_logins(&h, username, 1, None).await;
    }
    // Any username, even with the right password, from the same address.
    assert_locked_out(
        attempt(&h, USERNAME, PASSWORD, None).await,
        USERNAME,
        PASSWORD,
    )
    .await;
    let locked = logs::capture().matching("WARN", &["login lockout", "locked=ip"]);
    assert!(!locked.is_empty());
}

async fn a_success_resets_the_username_count(backend: StoreKind) {
    let h = server(backend, limits(3, 100, 50)).await;
    fail_logins(&h, USERNAME, 2, None).await;
    assert_eq!(
        attempt(&h, USERNAME, PASSWORD, None).await.status(),
        StatusCode::SEE_OTHER
    );
    // Counted from zero again: two more failures do not lock.
    fail_logins(&h, USERNAME, 2, None).await;
    assert_eq!(
        attempt(&h, USERNAME, PASSWORD, None).await.status(),
        StatusCode::SEE_OTHER
    );
}

async fn the_lockout_ends_after_the_lockout(backend: StoreKind) {
    let throttle = Throttle {
        lockout: Duration::from_secs(1),
        ..limits(2, 100, 50)
    };
    let h = server(backend, throttle).await;
    fail_logins(&h, USERNAME, 2, None).await;
    let locked = attempt(&h, USERNAME, PASSWORD, None).await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after(&locked), 1);
    assert!(
        locked
            .text()
            .await
            .unwrap()
            .contains("Try again in 1 minute.")
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        attempt(&h, USERNAME, PASSWORD, None).await.status(),
        StatusCode::SEE_OTHER
    );
}

async fn throttle_disabled_counts_nothing(backend: StoreKind) {
    let throttle = Throttle {
        enabled: false,
        ..limits(1, 1, 1)
    };
    let h = server(backend, throttle).await;
    fail_logins(&h, USERNAME, 3, None).await;
    assert_eq!(
        attempt(&h, USERNAME, PASSWORD, None).await.status(),
        StatusCode::SEE_OTHER
    );
    for _ in 0..3 {
        let wrong = redeem(&h, (CLIENT_ID, "wrong-secret")).await;
        token_error(wrong, StatusCode::UNAUTHORIZED, "invalid_client").await;
    }
    if backend == StoreKind::Redis {
        assert!(h.stored_keys("throttle").await.is_empty());
    }
}

/// Over the limit, a failed client authentication is still
/// `invalid_client`, answered 429 with `Retry-After`, whichever method
/// the client used.
async fn client_authentication_failures_answer_429_over_the_limit(backend: StoreKind) {
    let h = server(backend, limits(10, 50, 3)).await;
    for _ in 0..3 {
        let wrong = redeem(&h, (CLIENT_ID, "wrong-secret")).await;
        token_error(wrong, StatusCode::UNAUTHORIZED, "invalid_client").await;
    }
    let over = redeem(&h, (CLIENT_ID, "wrong-secret")).await;
    let wait = retry_after(&over);
    assert!((890..=900).contains(&wait), "Retry-After {wait}");
    assert!(over.headers().get("www-authenticate").is_none());
    let body = token_error(over, StatusCode::TOO_MANY_REQUESTS, "invalid_client").await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("Retry-After"),
        "{body}"
    );
    // client_secret_post counts on the same client id.
    let posted = h
        .token(
            None,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", "prt-x.y"),
                ("client_id", CLIENT_ID),
                ("client_secret", "wrong-secret"),
            ],
        )
        .await;
    token_error(posted, StatusCode::TOO_MANY_REQUESTS, "invalid_client").await;
    let logged = logs::capture().matching(
        "INFO",
        &[
            "client authentication throttled",
            "client.id=app",
            "outcome=throttled",
        ],
    );
    assert!(!logged.is_empty());
}

/// A client id is public, so a lockout must not cut the client off: its
/// correct secret keeps working while failures answer 429.
async fn a_correct_client_secret_works_during_a_client_lockout(backend: StoreKind) {
    let h = server(backend, limits(10, 50, 2)).await;
    for _ in 0..3 {
        redeem(&h, (CLIENT_ID, "wrong-secret")).await;
    }
    let locked = redeem(&h, (CLIENT_ID, "wrong-secret")).await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    let session = h.login().await;
    let tokens = h.grant(&session, "openid").await;
    assert!(tokens["access_token"].is_string(), "{tokens}");
}

async fn client_failures_are_counted_at_revocation_and_introspection(backend: StoreKind) {
    let h = server(backend, limits(10, 50, 2)).await;
    let wrong = Some((CLIENT_ID, "wrong-secret"));
    let revoked = h.revoke(wrong, &[("token", "pat-x.y")]).await;
    token_error(revoked, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let introspected = h.introspect(wrong, &[("token", "pat-x.y")]).await;
    token_error(introspected, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let over = h.revoke(wrong, &[("token", "pat-x.y")]).await;
    assert!(retry_after(&over) > 0);
    token_error(over, StatusCode::TOO_MANY_REQUESTS, "invalid_client").await;
    let token = redeem(&h, (CLIENT_ID, "wrong-secret")).await;
    token_error(token, StatusCode::TOO_MANY_REQUESTS, "invalid_client").await;
    // The right secret still revokes.
    let right = h.revoke(Some(APP), &[("token", "pat-x.y")]).await;
    assert_eq!(right.status(), StatusCode::OK);
}

/// An unregistered client id has nothing to guess, and counting it would
/// let any request write to the store.
async fn unregistered_client_ids_are_not_counted(backend: StoreKind) {
    let h = server(backend, limits(10, 50, 2)).await;
    for _ in 0..5 {
        let response = redeem(&h, ("nobody", CLIENT_SECRET)).await;
        token_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
    }
    if backend == StoreKind::Redis {
        assert!(h.stored_keys("throttle").await.is_empty());
    }
}

/// Without trusted proxies, `X-Forwarded-For` is the client's to write and
/// is ignored: every attempt counts on the TCP peer.
async fn spoofed_x_forwarded_for_from_an_untrusted_peer_changes_nothing(backend: StoreKind) {
    let h = server(backend, limits(100, 3, 50)).await;
    for (username, spoofed) in [
        ("bob", "198.51.100.1"),
        ("carol", "198.51.100.2"),
        ("dave", "::1"),
    ] {
        fail_logins(&h, username, 1, Some(spoofed)).await;
    }
    let fresh = attempt(&h, USERNAME, PASSWORD, Some("203.0.113.77")).await;
    assert_locked_out(fresh, USERNAME, PASSWORD).await;
}

/// Behind a trusted proxy (the test's loopback peer), the client is the
/// right-most untrusted `X-Forwarded-For` address: what a client writes
/// left of its own address changes nothing.
async fn x_forwarded_for_from_a_trusted_proxy_names_the_client(backend: StoreKind) {
    let h = Harness::start_with(Options {
        throttle: limits(100, 2, 50),
        trusted_proxies: TrustedProxies::parse(&["127.0.0.0/8", "10.0.0.0/8"]).unwrap(),
        ..Options::new(backend)
    })
    .await;
    fail_logins(&h, "bob", 1, Some("198.51.100.1")).await;
    // The client prepends an address of its own; a second proxy appends.
    fail_logins(&h, "carol", 1, Some("203.0.113.5, 198.51.100.1, 10.0.0.9")).await;
    let locked = attempt(&h, USERNAME, PASSWORD, Some("198.51.100.1")).await;
    assert_locked_out(locked, USERNAME, PASSWORD).await;
    let logged = logs::capture().matching("INFO", &["outcome=throttled", "client.ip=198.51.100.1"]);
    assert!(!logged.is_empty());
    // Another client behind the same proxy, and the proxy itself, are not.
    for other in [Some("198.51.100.2"), None] {
        let response = attempt(&h, USERNAME, PASSWORD, other).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{other:?}");
    }
}

crate::on_both_stores!(
    failed_logins_lock_the_username,
    correct_password_during_a_lockout_is_refused_the_same_way,
    unknown_usernames_are_counted_too,
    failed_logins_lock_the_client_ip,
    a_success_resets_the_username_count,
    the_lockout_ends_after_the_lockout,
    throttle_disabled_counts_nothing,
    client_authentication_failures_answer_429_over_the_limit,
    a_correct_client_secret_works_during_a_client_lockout,
    client_failures_are_counted_at_revocation_and_introspection,
    unregistered_client_ids_are_not_counted,
    spoofed_x_forwarded_for_from_an_untrusted_peer_changes_nothing,
    x_forwarded_for_from_a_trusted_proxy_names_the_client,
);

/// Every replica sharing the store sees the same counts: failures at one
/// server lock the username at another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_are_shared_by_all_replicas() {
    let first = server(StoreKind::Redis, limits(3, 100, 2)).await;
    let prefix = first.redis_prefix.clone();
    let second = Harness::start_with(Options {
        redis_prefix: prefix,
        throttle: limits(3, 100, 2),
        ..Options::new(StoreKind::Redis)
    })
    .await;
    fail_logins(&first, USERNAME, 2, None).await;
    fail_logins(&second, USERNAME, 1, None).await;
    for replica in [&first, &second] {
        let response = attempt(replica, USERNAME, PASSWORD, None).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    redeem(&first, (CLIENT_ID, "wrong-secret")).await;
    redeem(&second, (CLIENT_ID, "wrong-secret")).await;
    let over = redeem(&first, (CLIENT_ID, "wrong-secret")).await;
    token_error(over, StatusCode::TOO_MANY_REQUESTS, "invalid_client").await;
    // Counters name no username, address or client id in the clear.
    let keys = first.stored_keys("throttle").await;
    assert!(!keys.is_empty());
    for key in keys {
        for subject in [USERNAME, "127.0.0.1", CLIENT_ID] {
            assert!(!key.rsplit(':').next().unwrap().contains(subject), "{key}");
        }
    }
}

// The core flows on a Redis Cluster.
crate::on_the_cluster_too!(
    failed_logins_lock_the_username,
    failed_logins_lock_the_client_ip,
);
