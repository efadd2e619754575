//! What happens to tokens after the code exchange: refresh-token rotation
//! and reuse detection, code replay revoking what the code issued,
//! revocation (RFC 7009) and introspection (RFC 7662).

use std::time::Duration;

use porthor_oidc::Lifetimes;
use porthor_test_support::raw_keys;
use reqwest::StatusCode;

use crate::harness::{
    BASIC_ONLY_CLIENT_ID, BASIC_ONLY_CLIENT_SECRET, Backend, CLIENT_ID, CLIENT_SECRET, Harness,
    OTHER_CLIENT_ID, OTHER_CLIENT_SECRET, Options, PUBLIC_CLIENT_ID, REDIRECT_URI, USERNAME, json,
    text, token_error,
};
use crate::on_both_stores;

const OFFLINE: &str = "openid profile email offline_access";

async fn introspect(h: &Harness, basic: (&str, &str), token: &str) -> serde_json::Value {
    let response = h
        .back_channel("/auth/openid/introspect", Some(basic), &[("token", token)])
        .await;
    json(response, StatusCode::OK).await
}

async fn revoke(h: &Harness, basic: (&str, &str), token: &str) {
    let response = h
        .back_channel("/auth/openid/revoke", Some(basic), &[("token", token)])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "");
}

const APP: (&str, &str) = (CLIENT_ID, CLIENT_SECRET);
const OTHER: (&str, &str) = (OTHER_CLIENT_ID, OTHER_CLIENT_SECRET);

/// Refresh tokens only for offline_access (or a client configured for
/// them); each refresh rotates the token and issues a new access token and
/// ID token for the same user, narrower scopes allowed.
async fn refresh_rotates(h: Harness) {
    let session = h.login().await;
    let plain = h.grant(&session, "openid email").await;
    assert!(plain.get("refresh_token").is_none(), "{plain}");
    let always = h
        .code_for(&session, BASIC_ONLY_CLIENT_ID, REDIRECT_URI, "openid")
        .await;
    let always = h
        .token(
            Some((BASIC_ONLY_CLIENT_ID, BASIC_ONLY_CLIENT_SECRET)),
            &[
                ("grant_type", "authorization_code"),
                ("code", &always),
                ("redirect_uri", REDIRECT_URI),
            ],
        )
        .await;
    assert!(text(&json(always, StatusCode::OK).await, "refresh_token").starts_with("prt-"));

    let first = h.grant(&session, OFFLINE).await;
    assert_eq!(first["scope"], OFFLINE);
    let first_refresh = text(&first, "refresh_token");
    let response = h.refresh(&first_refresh, None).await;
    assert_eq!(
        response.headers()["cache-control"].to_str().unwrap(),
        "no-store"
    );
    let second = json(response, StatusCode::OK).await;
    let second_refresh = text(&second, "refresh_token");
    assert_ne!(second_refresh, first_refresh);
    assert_ne!(second["access_token"], first["access_token"]);
    assert_eq!(second["scope"], OFFLINE);
    let claims = h
        .service
        .verify_token(&text(&second, "id_token"), h.clock.now())
        .unwrap();
    assert_eq!(claims.user.sub, USERNAME);
    assert_eq!(claims.aud, CLIENT_ID);
    assert_eq!(claims.nonce, None);
    let first_claims = h
        .service
        .verify_token(&text(&first, "id_token"), h.clock.now())
        .unwrap();
    assert_eq!(claims.auth_time, first_claims.auth_time);
    // Both access tokens of the family work until something ends it.
    assert_eq!(
        h.userinfo_status(&text(&first, "access_token")).await,
        StatusCode::OK
    );
    assert_eq!(
        h.userinfo_status(&text(&second, "access_token")).await,
        StatusCode::OK
    );

    // Narrower: openid only releases no email; the family keeps its scopes.
    let narrow = json(
        h.refresh(&second_refresh, Some("openid")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(narrow["scope"], "openid");
    let claims = json(
        h.userinfo(&text(&narrow, "access_token")).await,
        StatusCode::OK,
    )
    .await;
    assert!(claims.get("email").is_none(), "{claims}");
    // Wider or unknown: invalid_scope, and the token is still good.
    let narrow_refresh = text(&narrow, "refresh_token");
    for scope in ["openid groups", "openid admin"] {
        token_error(
            h.refresh(&narrow_refresh, Some(scope)).await,
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        )
        .await;
    }
    // Refreshing with the whole original scope, as authlib does, is fine.
    let full = json(
        h.refresh(&narrow_refresh, Some(OFFLINE)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(full["scope"], OFFLINE);
}

/// Presenting a rotated refresh token again revokes the whole family: the
/// newest refresh token and every access token issued from the grant.
async fn refresh_reuse_revokes_the_family(h: Harness) {
    let session = h.login().await;
    let first = h.grant(&session, OFFLINE).await;
    let old = text(&first, "refresh_token");
    let second = json(h.refresh(&old, None).await, StatusCode::OK).await;
    h.assert_refresh_refused(&old).await;
    h.assert_refresh_refused(&text(&second, "refresh_token"))
        .await;
    for tokens in [&first, &second] {
        assert_eq!(
            h.userinfo_status(&text(tokens, "access_token")).await,
            StatusCode::UNAUTHORIZED
        );
    }
    // The session itself, and grants outside the family, are untouched.
    let other = h.grant(&session, "openid").await;
    assert_eq!(
        h.userinfo_status(&text(&other, "access_token")).await,
        StatusCode::OK
    );
}

/// A refresh token is bound to its client: another client presenting it is
/// refused, and the leaked family is revoked.
async fn refresh_token_is_bound_to_its_client(h: Harness) {
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
    // Malformed and missing refresh tokens.
    h.assert_refresh_refused("prt-not-a-token").await;
    token_error(
        h.token(Some(APP), &[("grant_type", "refresh_token")]).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
}

/// Of simultaneous refreshes with one token, at most one succeeds (and the
/// race counts as reuse).
async fn concurrent_refreshes_yield_at_most_one(h: Harness) {
    let session = h.login().await;
    let grant = h.grant(&session, OFFLINE).await;
    let token = text(&grant, "refresh_token");
    let (a, b, c) = tokio::join!(
        h.refresh(&token, None),
        h.refresh(&token, None),
        h.refresh(&token, None)
    );
    let successes = [a, b, c]
        .iter()
        .filter(|response| response.status() == StatusCode::OK)
        .count();
    assert!(successes <= 1, "{successes} refreshes succeeded");
}

/// Logging out ends the family; the browser session's own expiry does not.
async fn logout_ends_the_family(h: Harness) {
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

/// A second redemption of a code is refused as invalid_grant, and revokes
/// the access token and the refresh-token family of the first. A
/// presentation with the right key but a wrong secret revokes nothing.
async fn code_replay_revokes_its_tokens(h: Harness) {
    let session = h.login().await;
    let code = h.code_for(&session, CLIENT_ID, REDIRECT_URI, OFFLINE).await;
    let first = json(h.redeem(&code).await, StatusCode::OK).await;
    let access_token = text(&first, "access_token");

    let (key, secret) = code.split_once('.').unwrap();
    let flipped = if secret.starts_with('A') { "B" } else { "A" };
    let forged = format!("{key}.{flipped}{}", &secret[1..]);
    token_error(
        h.redeem(&forged).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    assert_eq!(h.userinfo_status(&access_token).await, StatusCode::OK);

    token_error(
        h.redeem(&code).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    assert_eq!(
        h.userinfo_status(&access_token).await,
        StatusCode::UNAUTHORIZED
    );
    h.assert_refresh_refused(&text(&first, "refresh_token"))
        .await;
}

/// RFC 7009: a client revokes its own tokens; any other token is answered
/// with the same empty 200 and left alone.
async fn revocation(h: Harness) {
    let session = h.login().await;
    let plain = h.grant(&session, "openid").await;
    let offline = h.grant(&session, OFFLINE).await;

    // Another client's attempt: 200, nothing revoked.
    revoke(&h, OTHER, &text(&plain, "access_token")).await;
    assert_eq!(
        h.userinfo_status(&text(&plain, "access_token")).await,
        StatusCode::OK
    );
    // Unknown, garbage: 200.
    revoke(&h, APP, "pat-garbage").await;
    revoke(&h, APP, "not a token at all").await;

    // An access token: it alone ends.
    let response = h
        .back_channel(
            "/auth/openid/revoke",
            Some(APP),
            &[
                ("token", &text(&plain, "access_token")),
                ("token_type_hint", "access_token"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        h.userinfo_status(&text(&plain, "access_token")).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        h.userinfo_status(&text(&offline, "access_token")).await,
        StatusCode::OK
    );
    // Again: still 200.
    revoke(&h, APP, &text(&plain, "access_token")).await;

    // A refresh token: its family ends, access tokens included.
    revoke(&h, APP, &text(&offline, "refresh_token")).await;
    h.assert_refresh_refused(&text(&offline, "refresh_token"))
        .await;
    assert_eq!(
        h.userinfo_status(&text(&offline, "access_token")).await,
        StatusCode::UNAUTHORIZED
    );

    // Client authentication is required; the token parameter too.
    token_error(
        h.back_channel(
            "/auth/openid/revoke",
            Some((CLIENT_ID, "wrong")),
            &[("token", "x")],
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    )
    .await;
    token_error(
        h.back_channel("/auth/openid/revoke", None, &[("token", "x")])
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_client",
    )
    .await;
    token_error(
        h.back_channel("/auth/openid/revoke", Some(APP), &[]).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
}

/// RFC 7662: a resource server, authenticated as a confidential client,
/// learns what a live token grants, and nothing about any other.
async fn introspection(h: Harness) {
    let session = h.login().await;
    let grant = h.grant(&session, OFFLINE).await;
    let now = h.clock.now().as_unix();

    let active = introspect(&h, OTHER, &text(&grant, "access_token")).await;
    assert_eq!(active["active"], true);
    assert_eq!(active["scope"], OFFLINE);
    assert_eq!(active["client_id"], CLIENT_ID);
    assert_eq!(active["aud"], CLIENT_ID);
    assert_eq!(active["sub"], USERNAME);
    assert_eq!(active["username"], USERNAME);
    assert_eq!(active["token_type"], "Bearer");
    assert_eq!(active["iss"], h.issuer.as_str());
    let iat = active["iat"].as_u64().unwrap();
    let exp = active["exp"].as_u64().unwrap();
    assert_eq!(iat, now);
    assert_eq!(exp - iat, 3600);

    let refresh = introspect(&h, APP, &text(&grant, "refresh_token")).await;
    assert_eq!(refresh["active"], true);
    assert_eq!(refresh["token_type"], "refresh_token");
    assert_eq!(refresh["sub"], USERNAME);

    let inactive = serde_json::json!({"active": false});
    for token in ["pat-garbage", "prt-x.y", "hello"] {
        assert_eq!(introspect(&h, APP, token).await, inactive, "{token:?}");
    }
    revoke(&h, APP, &text(&grant, "refresh_token")).await;
    assert_eq!(
        introspect(&h, APP, &text(&grant, "access_token")).await,
        inactive
    );
    assert_eq!(
        introspect(&h, APP, &text(&grant, "refresh_token")).await,
        inactive
    );
    let plain = h.grant(&session, "openid").await;
    h.logout(&session).await;
    assert_eq!(
        introspect(&h, APP, &text(&plain, "access_token")).await,
        inactive
    );

    // Only confidential clients may ask.
    token_error(
        h.back_channel(
            "/auth/openid/introspect",
            None,
            &[("client_id", PUBLIC_CLIENT_ID), ("token", "x")],
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_client",
    )
    .await;
    token_error(
        h.back_channel(
            "/auth/openid/introspect",
            Some((CLIENT_ID, "wrong")),
            &[("token", "x")],
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    )
    .await;
}

on_both_stores!(
    refresh_rotates,
    refresh_reuse_revokes_the_family,
    refresh_token_is_bound_to_its_client,
    concurrent_refreshes_yield_at_most_one,
    logout_ends_the_family,
    code_replay_revokes_its_tokens,
    revocation,
    introspection,
);

/// The family lives in its own Redis namespace, and revocation removes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_family_record_on_redis() {
    let h = Harness::start(Backend::Redis).await;
    let session = h.login().await;
    let grant = h.grant(&session, OFFLINE).await;
    let prefix = h.redis_prefix.clone().unwrap();
    let url = porthor_test_support::redis_url();
    let pattern = format!("{prefix}:v1:refresh:*");
    assert_eq!(raw_keys(&url, &pattern).await.len(), 1);
    revoke(&h, APP, &text(&grant, "refresh_token")).await;
    assert!(raw_keys(&url, &pattern).await.is_empty());
}

/// A family outlives the browser session (a code-flow token without one
/// does not), ends when unused for the idle timeout, and ends at its
/// absolute lifetime however it is used. Each deadline is checked exactly:
/// what must still work runs a second before it, what must be refused at it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_family_lifetimes() {
    let h = Harness::start_with(Options {
        lifetimes: Lifetimes {
            session: Duration::from_secs(2),
            refresh_token: Duration::from_secs(8),
            refresh_token_idle: Duration::from_secs(4),
            ..Lifetimes::default()
        },
        ..Options::new(Backend::Redis)
    })
    .await;
    let session = h.login().await;
    let plain = h.grant(&session, "openid").await;
    let idle = h.grant(&session, OFFLINE).await;
    let busy = h.grant(&session, OFFLINE).await;
    let step = Duration::from_secs(2);
    h.clock.advance(Duration::from_secs(1));
    // 1 s: the browser session and its plain token are still alive.
    assert_eq!(
        h.userinfo_status(&text(&plain, "access_token")).await,
        StatusCode::OK
    );
    h.clock.advance(Duration::from_secs(1));
    // 2 s: the browser session is over, and the plain token with it.
    assert_eq!(
        h.userinfo_status(&text(&plain, "access_token")).await,
        StatusCode::UNAUTHORIZED
    );
    let mut busy_token = text(&busy, "refresh_token");
    for at in ["2 s", "4 s", "6 s"] {
        let refreshed = h.refresh(&busy_token, None).await;
        assert_eq!(refreshed.status(), StatusCode::OK, "at {at}");
        busy_token = text(&json(refreshed, StatusCode::OK).await, "refresh_token");
        if at == "4 s" {
            // Unused for 4 s.
            h.assert_refresh_refused(&text(&idle, "refresh_token"))
                .await;
        }
        h.clock.advance(step);
    }
    // 8 s: at the absolute lifetime, though used 2 s ago.
    h.assert_refresh_refused(&busy_token).await;
}
