//! Token introspection (RFC 7662) at `/auth/openid/introspect`: the whole
//! answer for each kind of live token, exactly `{"active": false}` for
//! everything else (expired tokens included), no side effects, who may ask,
//! and whose tokens they may see (their own, or any with `introspect_any`).

use std::collections::BTreeSet;
use std::time::Duration;

use porthor_models::AccessToken;
use porthor_oidc::Lifetimes;
use reqwest::header::WWW_AUTHENTICATE;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json as object};

use crate::harness::{
    APP, BASIC_ONLY, BASIC_ONLY_CLIENT_ID, BASIC_ONLY_CLIENT_SECRET, CLIENT_ID, CLIENT_SECRET,
    Harness, OFFLINE, OTHER, OTHER_CLIENT_ID, OTHER_CLIENT_SECRET, PUBLIC_CLIENT_ID, REDIRECT_URI,
    SPECIAL_CLIENT_ID, SPECIAL_CLIENT_SECRET, StoreKind, USERNAME, has_content_type, json, text,
    token_error,
};
use crate::on_both_stores;

const WEEK: u64 = 7 * 24 * 3600;

/// Asserts a successful introspection response (JSON, not cacheable) and
/// returns it.
async fn answer(response: Response) -> Value {
    assert!(has_content_type(&response, "application/json"));
    assert_eq!(response.headers()["cache-control"], "no-store");
    json(response, StatusCode::OK).await
}

/// What `other`, a resource server (`introspect_any`), learns about
/// `token`.
async fn introspect(h: &Harness, token: &str) -> Value {
    answer(h.introspect(Some(OTHER), &[("token", token)]).await).await
}

async fn assert_inactive(h: &Harness, token: &str, what: &str) {
    assert_eq!(
        introspect(h, token).await,
        object!({"active": false}),
        "{what}"
    );
}

fn members(value: &Value) -> BTreeSet<&str> {
    value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

const ACTIVE_MEMBERS: [&str; 10] = [
    "active",
    "aud",
    "client_id",
    "exp",
    "iat",
    "iss",
    "scope",
    "sub",
    "token_type",
    "username",
];

/// A live access token: the whole answer, exactly these members, whichever
/// way the resource server authenticates and whatever it hints.
async fn a_live_access_token(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let grant = h.grant(&session, "openid email").await;
    let access_token = text(&grant, "access_token");
    let now = h.clock.now().as_unix();

    let by_basic = introspect(&h, &access_token).await;
    assert_eq!(members(&by_basic), BTreeSet::from(ACTIVE_MEMBERS));
    assert_eq!(by_basic["active"], true);
    assert_eq!(by_basic["scope"], "openid email");
    assert_eq!(by_basic["client_id"], CLIENT_ID);
    assert_eq!(by_basic["aud"], CLIENT_ID);
    assert_eq!(by_basic["sub"], USERNAME);
    assert_eq!(by_basic["username"], USERNAME);
    assert_eq!(by_basic["token_type"], "Bearer");
    assert_eq!(by_basic["iss"], h.issuer.as_str());
    let iat = by_basic["iat"].as_u64().unwrap();
    assert_eq!(iat, now);
    assert_eq!(by_basic["exp"].as_u64().unwrap() - iat, 3600);

    let by_post = answer(
        h.introspect(
            None,
            &[
                ("token", &access_token),
                ("token_type_hint", "refresh_token"),
                ("client_id", OTHER_CLIENT_ID),
                ("client_secret", OTHER_CLIENT_SECRET),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(by_post, by_basic);
    // The token's own client gets the same. A client whose credentials need
    // form-encoding inside Basic authenticates, and learns nothing about a
    // token that is not its own.
    let own = answer(h.introspect(Some(APP), &[("token", &access_token)]).await).await;
    assert_eq!(own, by_basic);
    let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let special = (encode(SPECIAL_CLIENT_ID), encode(SPECIAL_CLIENT_SECRET));
    let basic = (special.0.as_str(), special.1.as_str());
    let foreign = answer(h.introspect(Some(basic), &[("token", &access_token)]).await).await;
    assert_eq!(foreign, object!({"active": false}));
    // Introspection is a read: the token is as live as before.
    assert_eq!(h.userinfo_status(&access_token).await, StatusCode::OK);
}

/// A live refresh token: its family's client, user and original scopes, its
/// expiry the family's, `token_type` "refresh_token". A narrowed refresh's
/// access token shows its own narrower scope, and a retired refresh token is
/// inactive, without its introspection counting as reuse.
async fn a_live_refresh_token(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let grant = h.grant(&session, OFFLINE).await;
    let refresh_token = text(&grant, "refresh_token");
    let now = h.clock.now().as_unix();

    let family = introspect(&h, &refresh_token).await;
    assert_eq!(members(&family), BTreeSet::from(ACTIVE_MEMBERS));
    assert_eq!(family["active"], true);
    assert_eq!(family["token_type"], "refresh_token");
    assert_eq!(family["scope"], OFFLINE);
    assert_eq!(family["client_id"], CLIENT_ID);
    assert_eq!(family["aud"], CLIENT_ID);
    assert_eq!(family["sub"], USERNAME);
    assert_eq!(family["username"], USERNAME);
    assert_eq!(family["iss"], h.issuer.as_str());
    let iat = family["iat"].as_u64().unwrap();
    assert_eq!(iat, now);
    // Idle for a week by default, before the 30-day absolute lifetime.
    assert_eq!(family["exp"].as_u64().unwrap() - iat, WEEK);

    let narrow = json(
        h.refresh(&refresh_token, Some("openid")).await,
        StatusCode::OK,
    )
    .await;
    let access = introspect(&h, &text(&narrow, "access_token")).await;
    assert_eq!(access["scope"], "openid");
    assert_eq!(access["token_type"], "Bearer");
    let renewed = introspect(&h, &text(&narrow, "refresh_token")).await;
    assert_eq!(renewed["active"], true);
    assert_eq!(renewed["scope"], OFFLINE);

    assert_inactive(&h, &refresh_token, "a retired refresh token").await;
    json(
        h.refresh(&text(&narrow, "refresh_token"), None).await,
        StatusCode::OK,
    )
    .await;
}

/// Everything but a live token is `{"active": false}` and nothing more:
/// unknown tokens of the right shape, garbage, other credentials (an
/// unredeemed code, which still redeems; the session cookie; an ID token;
/// a client secret), and tokens ended by revocation, by a code replay, by
/// refresh-token reuse and by logout.
async fn everything_else_is_inactive(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let code = h.code(&session).await;
    let grant = h.grant(&session, OFFLINE).await;
    let key = "A".repeat(22);
    let secret = "B".repeat(43);
    let shapes = [
        AccessToken::generate().expose(),
        format!("pat-{key}{key}{key}.{secret}"),
        format!("prt-{key}{key}.{secret}"),
        "garbage".to_owned(),
        "🦀".to_owned(),
        code.clone(),
        session.clone(),
        text(&grant, "id_token"),
        CLIENT_SECRET.to_owned(),
    ];
    for token in &shapes {
        assert_inactive(&h, token, token).await;
    }
    json(h.redeem(&code).await, StatusCode::OK).await;
    assert!(h.session_alive(&session).await);

    // Revoked.
    let revoked = h.grant(&session, "openid").await;
    let response = h
        .revoke(Some(APP), &[("token", &text(&revoked, "access_token"))])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_inactive(&h, &text(&revoked, "access_token"), "revoked").await;

    // A replayed code's tokens.
    let replayed = h.code_for(&session, CLIENT_ID, REDIRECT_URI, OFFLINE).await;
    let tokens = json(h.redeem(&replayed).await, StatusCode::OK).await;
    let _ = h.redeem(&replayed).await;
    assert_inactive(&h, &text(&tokens, "access_token"), "code replayed").await;
    assert_inactive(&h, &text(&tokens, "refresh_token"), "code replayed").await;

    // A family ended by reuse.
    let rotated = json(
        h.refresh(&text(&grant, "refresh_token"), None).await,
        StatusCode::OK,
    )
    .await;
    h.assert_refresh_refused(&text(&grant, "refresh_token"))
        .await;
    for name in ["access_token", "refresh_token"] {
        assert_inactive(&h, &text(&rotated, name), "family reused").await;
    }

    // Logged out: a family's tokens and a plain grant's.
    let last = h.grant(&session, OFFLINE).await;
    let plain = h.grant(&session, "openid").await;
    h.logout(&session).await;
    for name in ["access_token", "refresh_token"] {
        assert_inactive(&h, &text(&last, name), "logged out").await;
    }
    assert_inactive(&h, &text(&plain, "access_token"), "logged out").await;
}

/// Only an authenticated confidential client may ask: a public client is
/// refused by either method, with or without a secret. A malformed request
/// is invalid_request.
async fn who_may_introspect(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let grant = h.grant(&session, "openid").await;
    let access_token = text(&grant, "access_token");
    let token = [("token", access_token.as_str())];

    for basic in [
        (PUBLIC_CLIENT_ID, ""),
        (PUBLIC_CLIENT_ID, "a-secret"),
        (CLIENT_ID, "wrong"),
        ("nobody", "whatever"),
    ] {
        let response = h.introspect(Some(basic), &token).await;
        assert!(
            response.headers().contains_key(WWW_AUTHENTICATE),
            "{basic:?}"
        );
        token_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
    }
    let forms: [&[(&str, &str)]; 5] = [
        &[],
        &[("client_id", PUBLIC_CLIENT_ID)],
        &[("client_id", PUBLIC_CLIENT_ID), ("client_secret", "s")],
        &[("client_id", CLIENT_ID)],
        &[
            ("client_id", BASIC_ONLY_CLIENT_ID),
            ("client_secret", BASIC_ONLY_CLIENT_SECRET),
        ],
    ];
    for auth in forms {
        let mut form = token.to_vec();
        form.extend_from_slice(auth);
        token_error(
            h.introspect(None, &form).await,
            StatusCode::BAD_REQUEST,
            "invalid_client",
        )
        .await;
    }
    // Held to Basic, it authenticates (and the token is not its own).
    let basic_only = answer(h.introspect(Some(BASIC_ONLY), &token).await).await;
    assert_eq!(basic_only, object!({"active": false}));

    let malformed: [&[(&str, &str)]; 4] = [
        &[],
        &[("token", "")],
        &[("token", &access_token), ("token", &access_token)],
        &[
            ("token", &access_token),
            ("client_id", OTHER_CLIENT_ID),
            ("client_secret", OTHER_CLIENT_SECRET),
        ],
    ];
    for form in malformed {
        token_error(
            h.introspect(Some(OTHER), form).await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        )
        .await;
    }
    let json_body = h
        .http
        .post(h.url("/auth/openid/introspect"))
        .basic_auth(OTHER_CLIENT_ID, Some(OTHER_CLIENT_SECRET))
        .json(&object!({"token": access_token}))
        .send()
        .await
        .unwrap();
    token_error(json_body, StatusCode::BAD_REQUEST, "invalid_request").await;
    let get = h
        .http
        .get(h.url("/auth/openid/introspect"))
        .basic_auth(OTHER_CLIENT_ID, Some(OTHER_CLIENT_SECRET))
        .query(&token)
        .send()
        .await
        .unwrap();
    assert!(get.status().is_client_error(), "{}", get.status());
}

/// A client without `introspect_any` sees its own live tokens and nothing
/// of any other client's: another client's access and refresh tokens are
/// `{"active": false}`, exactly as a dead token is, and introspecting them
/// leaves them live. The resource server sees every client's.
async fn a_client_introspects_only_its_own_tokens(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let apps = h.grant(&session, OFFLINE).await;
    let code = h
        .code_for(&session, BASIC_ONLY_CLIENT_ID, REDIRECT_URI, "openid")
        .await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT_URI),
    ];
    let own = json(h.token(Some(BASIC_ONLY), &form).await, StatusCode::OK).await;

    for name in ["access_token", "refresh_token"] {
        let token = text(&own, name);
        let seen = answer(h.introspect(Some(BASIC_ONLY), &[("token", &token)]).await).await;
        assert_eq!(seen["active"], true, "its own {name}");
        assert_eq!(seen["client_id"], BASIC_ONLY_CLIENT_ID);

        let foreign = text(&apps, name);
        let seen = answer(h.introspect(Some(BASIC_ONLY), &[("token", &foreign)]).await).await;
        assert_eq!(seen, object!({"active": false}), "the app's {name}");
        // The resource server sees both clients' tokens.
        assert_eq!(introspect(&h, &token).await["active"], true);
        assert_eq!(introspect(&h, &foreign).await["client_id"], CLIENT_ID);
    }
    // Nothing was revoked by asking.
    json(
        h.refresh(&text(&apps, "refresh_token"), None).await,
        StatusCode::OK,
    )
    .await;
}

/// An expired access token, and a refresh token past its idle timeout, are
/// inactive like any other dead token: live to their last second, inactive
/// at their deadline.
async fn expired_tokens_are_inactive(backend: StoreKind) {
    let h = Harness::start_with_lifetimes(
        backend,
        Lifetimes {
            access_token: Duration::from_secs(2),
            refresh_token_idle: Duration::from_secs(2),
            ..Lifetimes::default()
        },
    )
    .await;
    let session = h.login().await;
    let plain = h.grant(&session, "openid").await;
    let offline = h.grant(&session, OFFLINE).await;
    let tokens = [
        ("a plain access token", text(&plain, "access_token")),
        ("a family's access token", text(&offline, "access_token")),
        ("a refresh token", text(&offline, "refresh_token")),
    ];
    for (what, token) in &tokens {
        let live = introspect(&h, token).await;
        assert_eq!(live["active"], true, "{what}");
        assert_eq!(
            live["exp"].as_u64().unwrap() - live["iat"].as_u64().unwrap(),
            2,
            "{what}: {live}"
        );
    }
    h.clock.advance(Duration::from_secs(1));
    for (what, token) in &tokens {
        assert_eq!(introspect(&h, token).await["active"], true, "{what}");
    }
    h.clock.advance(Duration::from_secs(1));
    for (what, token) in &tokens {
        assert_inactive(&h, token, &format!("expired: {what}")).await;
    }
}

on_both_stores!(
    a_live_access_token,
    a_live_refresh_token,
    everything_else_is_inactive,
    who_may_introspect,
    a_client_introspects_only_its_own_tokens,
    expired_tokens_are_inactive,
);
