//! The refresh-token grant (RFC 6749 6, OpenID Connect Core 12): which
//! grants get a refresh token, rotation and what a refreshed ID token is
//! bound to, scope narrowing per request, reuse anywhere in a rotation chain
//! and racing refreshes, tokens that are not the family's, a family bound to
//! its client and ended by logout, its lifetimes, its Redis record, and the
//! logs. (A code replay ending a family is token.rs's; public clients'
//! refresh tokens, clients.rs's; `offline_access` dropped by a client's
//! policy, scope_policy.rs's.)

use std::time::Duration;

use porthor_oidc::Lifetimes;
use porthor_test_support::{logs, raw_get, raw_pttl, redis_url};
use reqwest::StatusCode;
use serde_json::Value;

use crate::harness::{
    APP, CLIENT_ID, CLIENT_SECRET, Harness, OFFLINE, OTHER, PUBLIC_CLIENT_ID, REDIRECT_URI,
    StoreKind, USERNAME, has_content_type, json, jwt_claims, jwt_header, rp_verifier, text,
    token_error, verify_id_token,
};
use crate::on_both_stores;

/// Unpadded base64url length of one part of a record key.
const KEY_PART_LEN: usize = 22;

/// Verifies `id_token` as the app would (openidconnect, the JWKS the
/// server publishes), with the nonce `n-1` of the harness's codes or none,
/// asserts that its `at_hash` is `access_token`'s, and returns its claims.
async fn verified(h: &Harness, id_token: &str, access_token: &str, nonce: bool) -> Value {
    let alg = text(&jwt_header(id_token), "alg");
    let verifier = rp_verifier(&h.jwks().await, &h.issuer, &[&alg]);
    verify_id_token(&verifier, id_token, nonce.then_some("n-1"), access_token)
}

/// The scopes of a `scope` value, sorted.
fn scope_set(value: &Value) -> Vec<String> {
    let mut scopes: Vec<String> = value
        .as_str()
        .unwrap_or_else(|| panic!("scope {value}"))
        .split(' ')
        .map(str::to_owned)
        .collect();
    scopes.sort();
    scopes
}

/// Only `offline_access` gets a refresh token (or a client registered for
/// one: clients.rs). A refreshed ID token is the original's, re-issued
/// (Core 12.2): same `iss`, `sub`, `aud`, `azp` and `auth_time`, its own
/// `iat` and `jti`, no `nonce`, and an `at_hash` for the new access token.
/// The response itself is a token response like the code's, and the
/// family's earlier access token keeps working.
async fn refreshed_tokens_are_bound_and_shaped(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let plain = h.grant(&session, "openid email").await;
    assert!(plain.get("refresh_token").is_none(), "{plain}");
    let first = h.grant(&session, OFFLINE).await;
    let first_refresh = text(&first, "refresh_token");
    assert!(first_refresh.starts_with("prt-"), "{first_refresh}");
    let original = verified(
        &h,
        &text(&first, "id_token"),
        &text(&first, "access_token"),
        true,
    )
    .await;
    assert_eq!(original["nonce"], "n-1");

    // A second later, so that the new `iat` shows.
    h.clock.advance(Duration::from_secs(1));
    let response = h.refresh(&first_refresh, None).await;
    assert!(has_content_type(&response, "application/json"));
    let headers = response.headers().clone();
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["pragma"], "no-cache");
    let second = json(response, StatusCode::OK).await;
    assert_eq!(second["token_type"], "Bearer");
    assert_eq!(second["expires_in"], 3600);
    assert_eq!(second["scope"], OFFLINE);
    let second_refresh = text(&second, "refresh_token");
    assert!(second_refresh.starts_with("prt-"), "{second_refresh}");
    assert_ne!(second_refresh, first_refresh);
    // Rotation keeps the family's key and changes its secret.
    assert_eq!(
        second_refresh.split_once('.').unwrap().0,
        first_refresh.split_once('.').unwrap().0
    );

    let access_token = text(&second, "access_token");
    let refreshed = verified(&h, &text(&second, "id_token"), &access_token, false).await;
    for claim in ["iss", "sub", "aud", "azp", "auth_time"] {
        assert_eq!(refreshed[claim], original[claim], "{claim}");
    }
    assert_eq!(refreshed["sub"], USERNAME);
    assert!(refreshed.get("nonce").is_none(), "{refreshed}");
    // Issued now, not copied.
    assert_eq!(
        refreshed["iat"].as_u64().unwrap(),
        original["iat"].as_u64().unwrap() + 1
    );
    assert_ne!(refreshed["jti"], original["jti"]);
    assert_eq!(
        refreshed["exp"].as_u64().unwrap() - refreshed["iat"].as_u64().unwrap(),
        3600
    );
    // The claims follow the family's scopes, like the original's.
    assert_eq!(refreshed["email"], "alice@example.com");
    let claims = json(h.userinfo(&access_token).await, StatusCode::OK).await;
    assert_eq!(claims["sub"], USERNAME);
    assert_eq!(claims["email"], "alice@example.com");
    assert_eq!(
        h.userinfo_status(&text(&first, "access_token")).await,
        StatusCode::OK
    );
}

/// A narrower `scope` on a refresh narrows only that refresh: the next
/// refresh without one gets the family's scopes back. An empty `scope` is
/// no scope, order does not matter, the whole original scope is fine (as
/// authlib sends it); a wider or unknown scope is invalid_scope and a
/// repeated `scope` invalid_request, neither touching the family.
async fn scope_narrowing_is_per_request(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let first = h.grant(&session, OFFLINE).await;

    let narrow = json(
        h.refresh(&text(&first, "refresh_token"), Some("openid"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(narrow["scope"], "openid");
    let id_token = jwt_claims(&text(&narrow, "id_token"));
    assert!(id_token.get("email").is_none(), "{id_token}");
    let claims = json(
        h.userinfo(&text(&narrow, "access_token")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(claims, serde_json::json!({"sub": USERNAME}));

    let back = json(
        h.refresh(&text(&narrow, "refresh_token"), None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(back["scope"], OFFLINE);
    let claims = json(
        h.userinfo(&text(&back, "access_token")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(claims["email"], "alice@example.com");

    let empty = json(
        h.refresh(&text(&back, "refresh_token"), Some("")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(empty["scope"], OFFLINE);

    let reordered = json(
        h.refresh(&text(&empty, "refresh_token"), Some("email openid"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(scope_set(&reordered["scope"]), ["email", "openid"]);

    let current = text(&reordered, "refresh_token");
    for scope in ["openid groups", "openid admin"] {
        token_error(
            h.refresh(&current, Some(scope)).await,
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        )
        .await;
    }
    let full = json(h.refresh(&current, Some(OFFLINE)).await, StatusCode::OK).await;
    assert_eq!(full["scope"], OFFLINE);

    let current = text(&full, "refresh_token");
    token_error(
        h.token(
            Some(APP),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &current),
                ("scope", "openid"),
                ("scope", "email"),
            ],
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    json(h.refresh(&current, None).await, StatusCode::OK).await;
}

/// Presenting any retired token of a rotation chain, not just the one
/// before the newest, revokes the whole family: every access token it
/// issued and its newest refresh token. Other families of the same login,
/// and the login itself, are untouched.
async fn reuse_anywhere_in_the_chain_revokes_the_family(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let bystander = h.grant(&session, OFFLINE).await;
    let mut grants = vec![h.grant(&session, OFFLINE).await];
    for _ in 0..3 {
        let current = text(grants.last().unwrap(), "refresh_token");
        grants.push(json(h.refresh(&current, None).await, StatusCode::OK).await);
    }
    for grant in &grants {
        assert_eq!(
            h.userinfo_status(&text(grant, "access_token")).await,
            StatusCode::OK
        );
    }

    // The second of four refresh tokens: neither the first nor the newest.
    h.assert_refresh_refused(&text(&grants[1], "refresh_token"))
        .await;
    h.assert_refresh_refused(&text(&grants[3], "refresh_token"))
        .await;
    for (i, grant) in grants.iter().enumerate() {
        assert_eq!(
            h.userinfo_status(&text(grant, "access_token")).await,
            StatusCode::UNAUTHORIZED,
            "access token {i} of the family"
        );
    }
    let answer = json(
        h.introspect(
            Some(OTHER),
            &[("token", &text(&grants[3], "refresh_token"))],
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(answer, serde_json::json!({"active": false}));

    assert!(h.session_alive(&session).await);
    assert_eq!(
        h.userinfo_status(&text(&bystander, "access_token")).await,
        StatusCode::OK
    );
    json(
        h.refresh(&text(&bystander, "refresh_token"), None).await,
        StatusCode::OK,
    )
    .await;
}

/// Reuse detection must be about tokens the family really had. A family's
/// key is no secret: it is in the code (which travels through the browser)
/// and in every access token (which resource servers see). Someone who has
/// either, and can call the token endpoint as any client (a public client
/// needs no secret), must not be able to end the user's grant by making up
/// a refresh token with that key.
async fn a_made_up_refresh_token_revokes_nothing(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let code = h.code_for(&session, CLIENT_ID, REDIRECT_URI, OFFLINE).await;
    let grant = json(h.redeem(&code).await, StatusCode::OK).await;
    let refresh_token = text(&grant, "refresh_token");
    let access_token = text(&grant, "access_token");

    let (code_key, code_secret) = code.trim_start_matches("pc-").split_once('.').unwrap();
    let (access_key, _) = access_token
        .trim_start_matches("pat-")
        .split_once('.')
        .unwrap();
    let family_key = &access_key[..access_key.len() - KEY_PART_LEN];
    assert_eq!(family_key, code_key);
    assert!(refresh_token.starts_with(&format!("prt-{family_key}.")));

    // From an observed code, as the public client.
    let made_up = format!("prt-{code_key}.{code_secret}");
    token_error(
        h.token(
            None,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &made_up),
                ("client_id", PUBLIC_CLIENT_ID),
            ],
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    // From an access token, as the resource server's own client.
    let made_up = format!("prt-{family_key}.{}", "A".repeat(43));
    token_error(
        h.token(
            Some(OTHER),
            &[("grant_type", "refresh_token"), ("refresh_token", &made_up)],
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;

    assert_eq!(
        h.userinfo_status(&access_token).await,
        StatusCode::OK,
        "a made-up refresh token (the family's key, a secret it never had) revoked the family"
    );
    let response = h.refresh(&refresh_token, None).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "a made-up refresh token (the family's key, a secret it never had) revoked the family"
    );
}

/// Nothing but the family's refresh token refreshes it, and none of the
/// refusals (wrong kind of token, bad request, bad client) touches the
/// family or spends a code.
async fn other_credentials_are_not_refresh_tokens(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let grant = h.grant(&session, OFFLINE).await;
    let refresh_token = text(&grant, "refresh_token");
    let unspent = h.code_for(&session, CLIENT_ID, REDIRECT_URI, OFFLINE).await;
    let (_, secret) = refresh_token.split_once('.').unwrap();

    let not_refresh_tokens = [
        text(&grant, "access_token"),
        text(&grant, "id_token"),
        unspent.clone(),
        session.clone(),
        CLIENT_SECRET.to_owned(),
        "prt-".to_owned(),
        "prt-x.y".to_owned(),
        format!("prt-{}.{secret}", "A".repeat(KEY_PART_LEN)),
        refresh_token.to_uppercase(),
        format!("{refresh_token}x"),
    ];
    for token in &not_refresh_tokens {
        token_error(
            h.refresh(token, None).await,
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        )
        .await;
    }
    // The refresh token as a code.
    token_error(
        h.token(
            Some(APP),
            &[
                ("grant_type", "authorization_code"),
                ("code", &refresh_token),
                ("redirect_uri", REDIRECT_URI),
            ],
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    // Missing (an empty value is no value) or repeated.
    for missing in [
        &[("grant_type", "refresh_token")][..],
        &[("grant_type", "refresh_token"), ("refresh_token", "")],
    ] {
        token_error(
            h.token(Some(APP), missing).await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        )
        .await;
    }
    token_error(
        h.token(
            Some(APP),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh_token),
                ("refresh_token", &refresh_token),
            ],
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    // No client, or a wrong secret: the client is refused before the token
    // is looked at.
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.as_str()),
    ];
    token_error(
        h.token(None, &form).await,
        StatusCode::BAD_REQUEST,
        "invalid_client",
    )
    .await;
    token_error(
        h.token(Some((CLIENT_ID, "wrong")), &form).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    )
    .await;
    let mut post = form.to_vec();
    post.extend([("client_id", CLIENT_ID), ("client_secret", "wrong")]);
    token_error(
        h.token(None, &post).await,
        StatusCode::BAD_REQUEST,
        "invalid_client",
    )
    .await;

    // The family and the code are as they were; client_secret_post works.
    let mut post = form.to_vec();
    post.extend([("client_id", CLIENT_ID), ("client_secret", CLIENT_SECRET)]);
    json(h.token(None, &post).await, StatusCode::OK).await;
    json(h.redeem(&unspent).await, StatusCode::OK).await;
}

/// A refresh token is bound to its client: another client presenting it is
/// refused, and the leaked family is revoked.
async fn refresh_token_is_bound_to_its_client(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let grant = h.grant(&session, OFFLINE).await;
    let refresh_token = text(&grant, "refresh_token");
    token_error(
        h.token(
            Some(OTHER),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh_token),
            ],
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    h.assert_refresh_refused(&refresh_token).await;
    assert_eq!(
        h.userinfo_status(&text(&grant, "access_token")).await,
        StatusCode::UNAUTHORIZED
    );
}

/// Logging out ends the family, with its access tokens (the browser
/// session's own expiry does not: see the lifetimes below).
async fn logout_ends_the_family(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let grant = h.grant(&session, OFFLINE).await;
    h.logout(&session).await;
    h.assert_refresh_refused(&text(&grant, "refresh_token"))
        .await;
    assert_eq!(
        h.userinfo_status(&text(&grant, "access_token")).await,
        StatusCode::UNAUTHORIZED
    );
}

/// Of simultaneous refreshes with one token at most one succeeds, the
/// others are invalid_grant (not a server error), and the duplicate counts
/// as reuse: the family ends, the winner's new token included.
async fn duplicate_refreshes_end_the_family(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let grant = h.grant(&session, OFFLINE).await;
    let token = text(&grant, "refresh_token");
    let responses = four_refreshes(&h, &token).await;
    let mut winners = Vec::new();
    for response in responses {
        if response.status() == StatusCode::OK {
            winners.push(json(response, StatusCode::OK).await);
        } else {
            token_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
        }
    }
    assert!(winners.len() <= 1, "{} refreshes succeeded", winners.len());
    for winner in &winners {
        h.assert_refresh_refused(&text(winner, "refresh_token"))
            .await;
        assert_eq!(
            h.userinfo_status(&text(winner, "access_token")).await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        h.userinfo_status(&text(&grant, "access_token")).await,
        StatusCode::UNAUTHORIZED
    );
}

/// Four refreshes with `token` at once.
async fn four_refreshes(h: &Harness, token: &str) -> Vec<reqwest::Response> {
    let (a, b, c, d) = tokio::join!(
        h.refresh(token, None),
        h.refresh(token, None),
        h.refresh(token, None),
        h.refresh(token, None)
    );
    vec![a, b, c, d]
}

/// No token, code or secret ever reaches the logs, whatever happens to it:
/// redemption, refresh, reuse, revocation, introspection.
async fn credentials_never_reach_the_logs(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let code = h.code_for(&session, CLIENT_ID, REDIRECT_URI, OFFLINE).await;
    let first = json(h.redeem(&code).await, StatusCode::OK).await;
    let second = json(
        h.refresh(&text(&first, "refresh_token"), None).await,
        StatusCode::OK,
    )
    .await;
    json(
        h.introspect(Some(OTHER), &[("token", &text(&second, "access_token"))])
            .await,
        StatusCode::OK,
    )
    .await;
    h.assert_refresh_refused(&text(&first, "refresh_token"))
        .await;
    let _ = h.redeem(&code).await;
    let _ = h
        .revoke(Some(APP), &[("token", &text(&second, "refresh_token"))])
        .await;
    let secrets: Vec<String> = [
        code,
        session,
        text(&first, "access_token"),
        text(&first, "refresh_token"),
        text(&second, "access_token"),
        text(&second, "refresh_token"),
    ]
    .iter()
    .map(|credential| credential.split_once('.').unwrap().1.to_owned())
    .chain([CLIENT_SECRET.to_owned()])
    .collect();
    for line in logs::capture().lines() {
        for secret in &secrets {
            assert!(
                !line.contains(secret.as_str()),
                "a secret in the log: {line}"
            );
        }
    }
}

/// The family outlives the browser session that started it (a code-flow
/// access token without one does not), and the browser's own logout, even
/// after the session expired, still ends it.
async fn family_outlives_the_browser_session(backend: StoreKind) {
    let h = Harness::start_with_lifetimes(
        backend,
        Lifetimes {
            session: Duration::from_secs(2),
            ..Lifetimes::default()
        },
    )
    .await;
    let session = h.login().await;
    let plain = h.grant(&session, "openid").await;
    let offline = h.grant(&session, OFFLINE).await;
    h.clock.advance(Duration::from_secs(2));

    assert!(!h.session_alive(&session).await, "the session is over");
    assert_eq!(
        h.userinfo_status(&text(&plain, "access_token")).await,
        StatusCode::UNAUTHORIZED
    );
    let refreshed = json(
        h.refresh(&text(&offline, "refresh_token"), None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(refreshed["expires_in"], 3600);
    let claims = json(
        h.userinfo(&text(&refreshed, "access_token")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(claims["sub"], USERNAME);
    let refreshed = json(
        h.refresh(&text(&refreshed, "refresh_token"), None).await,
        StatusCode::OK,
    )
    .await;

    h.logout(&session).await;
    h.assert_refresh_refused(&text(&refreshed, "refresh_token"))
        .await;
    assert_eq!(
        h.userinfo_status(&text(&refreshed, "access_token")).await,
        StatusCode::UNAUTHORIZED
    );
}

/// Unused for its idle timeout, a family ends, with its access tokens,
/// while one in use lives on (each refresh restarts the timeout). On Redis
/// the record's TTL is the idle timeout, so it expires with the family
/// (read rather than waited out: Redis runs on real time, the server on
/// the test's clock).
async fn idle_family_ends(backend: StoreKind) {
    let h = Harness::start_with_lifetimes(
        backend,
        Lifetimes {
            refresh_token_idle: Duration::from_secs(2),
            ..Lifetimes::default()
        },
    )
    .await;
    let session = h.login().await;
    let idle = h.grant(&session, OFFLINE).await;
    if h.redis_prefix.is_some() {
        let keys = h.stored_keys("refresh").await;
        assert_eq!(keys.len(), 1);
        let ttl = raw_pttl(&redis_url(), &keys[0]).await;
        assert!((1..=2000).contains(&ttl), "PTTL {ttl}");
    }
    let busy = h.grant(&session, OFFLINE).await;
    h.clock.advance(Duration::from_secs(1));
    let busy = json(
        h.refresh(&text(&busy, "refresh_token"), None).await,
        StatusCode::OK,
    )
    .await;
    // 2 s: the unused family's idle timeout; the busy one's refresh at 1 s
    // moved its own on to 3 s.
    h.clock.advance(Duration::from_secs(1));
    h.assert_refresh_refused(&text(&idle, "refresh_token"))
        .await;
    assert_eq!(
        h.userinfo_status(&text(&idle, "access_token")).await,
        StatusCode::UNAUTHORIZED
    );
    json(
        h.refresh(&text(&busy, "refresh_token"), None).await,
        StatusCode::OK,
    )
    .await;
    // The login itself is fine.
    assert!(h.session_alive(&session).await);
}

/// However busy, a family ends at its absolute lifetime, and nothing it
/// issues outlives that: a refreshed access token's `expires_in` and ID
/// token's lifetime are capped by it, and rotation does not push the
/// record's TTL past it.
async fn busy_family_ends_at_its_lifetime(backend: StoreKind) {
    let h = Harness::start_with_lifetimes(
        backend,
        Lifetimes {
            refresh_token: Duration::from_secs(2),
            ..Lifetimes::default()
        },
    )
    .await;
    let session = h.login().await;
    let grant = h.grant(&session, OFFLINE).await;
    let refreshed = json(
        h.refresh(&text(&grant, "refresh_token"), None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(refreshed["expires_in"], 2);
    let id_token = jwt_claims(&text(&refreshed, "id_token"));
    let lifetime = id_token["exp"].as_u64().unwrap() - id_token["iat"].as_u64().unwrap();
    assert_eq!(lifetime, 2, "the ID token lives {lifetime} s");
    if h.redis_prefix.is_some() {
        let keys = h.stored_keys("refresh").await;
        assert_eq!(keys.len(), 1);
        let ttl = raw_pttl(&redis_url(), &keys[0]).await;
        assert!((1..=2000).contains(&ttl), "PTTL {ttl}");
    }
    // Used a second before the end: what it issues lives one second.
    h.clock.advance(Duration::from_secs(1));
    let refreshed = json(
        h.refresh(&text(&refreshed, "refresh_token"), None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(refreshed["expires_in"], 1);
    h.clock.advance(Duration::from_secs(1));
    h.assert_refresh_refused(&text(&refreshed, "refresh_token"))
        .await;
    assert_eq!(
        h.userinfo_status(&text(&refreshed, "access_token")).await,
        StatusCode::UNAUTHORIZED
    );
}

on_both_stores!(
    refreshed_tokens_are_bound_and_shaped,
    scope_narrowing_is_per_request,
    reuse_anywhere_in_the_chain_revokes_the_family,
    a_made_up_refresh_token_revokes_nothing,
    other_credentials_are_not_refresh_tokens,
    refresh_token_is_bound_to_its_client,
    logout_ends_the_family,
    duplicate_refreshes_end_the_family,
    credentials_never_reach_the_logs,
    family_outlives_the_browser_session,
    idle_family_ends,
    busy_family_ends_at_its_lifetime,
);

/// On Redis a family is one encrypted record under `refresh:`, with the
/// family's expiry as its TTL; rotation keeps it in place, and reuse
/// detection, a code replay and a refresh by the wrong client remove it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn family_record_on_redis() {
    let h = Harness::start(StoreKind::Redis).await;
    let url = redis_url();
    let session = h.login().await;

    let grant = h.grant(&session, OFFLINE).await;
    let refresh_token = text(&grant, "refresh_token");
    let keys = h.stored_keys("refresh").await;
    assert_eq!(keys.len(), 1);
    let family_key = refresh_token
        .trim_start_matches("prt-")
        .split_once('.')
        .unwrap()
        .0;
    assert!(keys[0].ends_with(&format!(":{family_key}")), "{keys:?}");
    // The family's expiry is its idle timeout, a week by default.
    let week_ms = 7 * 24 * 3600 * 1000;
    let ttl = raw_pttl(&url, &keys[0]).await;
    assert!(
        (week_ms - 60_000..=week_ms).contains(&ttl),
        "PTTL {ttl}, a week is {week_ms}"
    );
    let stored = raw_get(&url, &keys[0]).await.unwrap();
    let secret = refresh_token.split_once('.').unwrap().1;
    for clear in [USERNAME.as_bytes(), secret.as_bytes(), OFFLINE.as_bytes()] {
        assert!(
            !stored.windows(clear.len()).any(|window| window == clear),
            "the record holds {:?} in the clear",
            String::from_utf8_lossy(clear)
        );
    }

    json(h.refresh(&refresh_token, None).await, StatusCode::OK).await;
    assert_eq!(h.stored_keys("refresh").await, keys, "rotated in place");
    h.assert_refresh_refused(&refresh_token).await;
    assert!(h.stored_keys("refresh").await.is_empty(), "after reuse");

    let code = h.code_for(&session, CLIENT_ID, REDIRECT_URI, OFFLINE).await;
    json(h.redeem(&code).await, StatusCode::OK).await;
    assert_eq!(h.stored_keys("refresh").await.len(), 1);
    let _ = h.redeem(&code).await;
    assert!(
        h.stored_keys("refresh").await.is_empty(),
        "after a code replay"
    );

    let grant = h.grant(&session, OFFLINE).await;
    assert_eq!(h.stored_keys("refresh").await.len(), 1);
    token_error(
        h.token(
            Some(OTHER),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &text(&grant, "refresh_token")),
            ],
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    assert!(
        h.stored_keys("refresh").await.is_empty(),
        "after another client's attempt"
    );
}

// The core flows on a Redis Cluster.
crate::on_the_cluster_too!(
    refreshed_tokens_are_bound_and_shaped,
    reuse_anywhere_in_the_chain_revokes_the_family,
    logout_ends_the_family,
);
