//! A Redis outage: every endpoint that needs the store answers "temporarily
//! unavailable" in its own dialect (never 500), the endpoints that do not
//! need it keep working, and the server recovers by itself once Redis is
//! back.
//!
//! The test runs its own `redis-server` so that it can kill and restart it,
//! and points the harness's server at it.

use std::time::{Duration, Instant};

use porthor_test_support::{RedisProcess, logs};
use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::{Response, StatusCode};

use crate::harness::{
    CLIENT_ID, Harness, Options, PASSWORD, REDIRECT_URI, StoreKind, USERNAME, json, location,
    query, session_cookie, token_error,
};

/// The harness's server on the test's own Redis.
struct Outage(Harness);

impl std::ops::Deref for Outage {
    type Target = Harness;

    fn deref(&self) -> &Harness {
        &self.0
    }
}

impl Outage {
    async fn start(redis_url: String) -> Self {
        let options = Options {
            redis_url: Some(redis_url),
            ..Options::new(StoreKind::Redis)
        };
        Self(Harness::start_with(options).await)
    }

    async fn authorize(&self, session: Option<&str>, state: &str) -> Response {
        let params = [
            ("response_type", "code"),
            ("client_id", CLIENT_ID),
            ("redirect_uri", REDIRECT_URI),
            ("scope", "openid profile email"),
            ("state", state),
            ("nonce", "n-1"),
        ];
        self.0.authorize(session, &params).await
    }

    /// Polls /ready until it answers `status`; panics after `within`.
    async fn wait_ready(&self, status: StatusCode, within: Duration) -> Duration {
        let start = Instant::now();
        loop {
            let actual = self.get("/ready").await.status();
            if actual == status {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < within,
                "/ready still answers {actual}, not {status}, after {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A 503 with a retry hint and no caching.
fn assert_unavailable_headers(response: &Response) {
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "5");
    assert_eq!(response.headers()["cache-control"], "no-store");
}

/// Kills Redis under a running server, checks each endpoint's answer, then
/// restarts Redis and checks that the server recovers without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_is_temporarily_unavailable_and_recovers() {
    let mut redis = tokio::task::spawn_blocking(RedisProcess::start)
        .await
        .unwrap();
    let server = Outage::start(redis.url()).await;

    // Before: everything works, and we keep credentials for later.
    server
        .wait_ready(StatusCode::OK, Duration::from_secs(1))
        .await;
    let session = server.login().await;
    let unredeemed_code = server.code(&session).await;
    let code = server.code(&session).await;
    let tokens = json(server.redeem(&code).await, StatusCode::OK).await;
    let access_token = tokens["access_token"].as_str().unwrap().to_owned();
    let claims = json(server.userinfo(&access_token).await, StatusCode::OK).await;
    assert_eq!(claims["sub"], USERNAME);

    redis = tokio::task::spawn_blocking(move || {
        redis.kill();
        redis
    })
    .await
    .unwrap();

    // Readiness fails, liveness does not.
    let elapsed = server
        .wait_ready(StatusCode::SERVICE_UNAVAILABLE, Duration::from_secs(10))
        .await;
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    let ready = server.get("/ready").await;
    assert_unavailable_headers(&ready);
    assert!(
        ready
            .text()
            .await
            .unwrap()
            .contains("temporarily_unavailable"),
        "the readiness page names the error"
    );
    let health = server.get("/health").await;
    assert_eq!(health.status(), StatusCode::OK);

    // Token endpoint: RFC 6749 5.2 JSON, temporarily_unavailable, 503. The
    // client authenticates without the store, so this is the store's error.
    let started = Instant::now();
    let response = server.redeem(&unredeemed_code).await;
    assert_unavailable_headers(&response);
    token_error(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the token request hung for {:?}",
        started.elapsed()
    );
    // A wrong client secret is still refused as such: no store needed,
    // but for counting the failure, which is skipped and logged.
    let wrong = server
        .http
        .post(server.url("/auth/openid/token"))
        .basic_auth(CLIENT_ID, Some("wrong-secret"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", unredeemed_code.as_str()),
            ("redirect_uri", REDIRECT_URI),
        ])
        .send()
        .await
        .unwrap();
    token_error(wrong, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let uncounted = logs::capture().matching(
        "WARN",
        &[
            "cannot count a failed client authentication",
            "client.id=app",
        ],
    );
    assert!(!uncounted.is_empty());

    // Authorization endpoint with a session: the session cannot be looked
    // up, and the redirect URI is trusted, so the client hears about it.
    let response = server.authorize(Some(&session), "outage-state").await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let redirect = location(&response);
    assert!(redirect.as_str().starts_with(REDIRECT_URI), "{redirect}");
    assert_eq!(
        query(&redirect, "error").as_deref(),
        Some("temporarily_unavailable")
    );
    assert_eq!(query(&redirect, "state").as_deref(), Some("outage-state"));
    assert_eq!(
        query(&redirect, "iss").as_deref(),
        Some(server.issuer.as_str())
    );
    assert_eq!(query(&redirect, "code"), None);
    // Without a session nothing is looked up: off to the login page.
    let response = server.authorize(None, "anon").await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert!(
        location(&response)
            .as_str()
            .starts_with(&server.url("/login?rd=")),
        "{}",
        location(&response)
    );

    // Userinfo: 503 with the error in JSON (not an invalid_token challenge,
    // which would make the client throw the token away).
    let response = server.userinfo(&access_token).await;
    assert_unavailable_headers(&response);
    assert!(response.headers().get("www-authenticate").is_none());
    let body = json(response, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");

    // Login: the form still renders (no store needed), but good credentials
    // cannot start a session: 503, no cookie.
    let response = server
        .post_login(&[("username", USERNAME), ("password", PASSWORD)])
        .await;
    assert_unavailable_headers(&response);
    assert!(
        response
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .all(|c| !c.to_str().unwrap().starts_with("porthor_session=")),
        "a session cookie was set without a session"
    );
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("temporarily_unavailable")
    );
    // The login page for a browser with a session cookie needs the store.
    let response = server
        .http
        .get(server.url("/login"))
        .header(COOKIE, session_cookie(&session))
        .send()
        .await
        .unwrap();
    assert_unavailable_headers(&response);

    assert!(
        !logs::capture()
            .matching("WARN", &["authorization store unavailable"])
            .is_empty(),
        "the outage was not logged"
    );

    // Redis comes back (empty: it kept nothing): the pool reconnects.
    let redis = tokio::task::spawn_blocking(move || {
        redis.restart();
        redis
    })
    .await
    .unwrap();
    server
        .wait_ready(StatusCode::OK, Duration::from_secs(5))
        .await;
    // The old session died with Redis' memory: the browser is anonymous.
    let response = server.authorize(Some(&session), "after").await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert!(
        location(&response)
            .as_str()
            .starts_with(&server.url("/login?rd=")),
        "{}",
        location(&response)
    );
    // So is the access token, now unknown.
    let response = server.userinfo(&access_token).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // A fresh login and the whole flow work again.
    let session = server.login().await;
    let code = server.code(&session).await;
    let tokens = json(server.redeem(&code).await, StatusCode::OK).await;
    let claims = json(
        server
            .userinfo(tokens["access_token"].as_str().unwrap())
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(claims["email"], "alice@example.com");
    drop(redis);
}
