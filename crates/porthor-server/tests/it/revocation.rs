//! Token revocation (RFC 7009) at `/auth/openid/revoke`: what revoking each
//! kind of token ends and spares, the same empty 200 for every token the
//! client may not or cannot revoke, who may ask, and the records it removes
//! on Redis.

use porthor_models::AccessToken;
use porthor_test_support::{raw_exists, redis_url, storage_key};
use reqwest::header::WWW_AUTHENTICATE;
use reqwest::{Response, StatusCode};

use crate::harness::{
    APP, BASIC_ONLY, BASIC_ONLY_CLIENT_ID, BASIC_ONLY_CLIENT_SECRET, CLIENT_ID, CLIENT_SECRET,
    Harness, OFFLINE, OTHER, PUBLIC_CLIENT_ID, REDIRECT_URI, StoreKind, json, text, token_error,
};
use crate::on_both_stores;

/// Asserts RFC 7009 2.2's answer: 200 and an empty body.
async fn revoked(response: Response) {
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "");
}

/// The app revokes `token` with client_secret_post.
async fn revoke_by_post(h: &Harness, token: &str, hint: Option<&str>) {
    let mut form = vec![
        ("token", token),
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
    ];
    form.extend(hint.map(|hint| ("token_type_hint", hint)));
    revoked(h.revoke(None, &form).await).await;
}

/// Revoking an access token ends it alone: the refresh token and the other
/// access tokens of its family live on. The hint, right or wrong, changes
/// nothing.
async fn an_access_token_alone(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let first = h.grant(&session, OFFLINE).await;
    let second = json(
        h.refresh(&text(&first, "refresh_token"), None).await,
        StatusCode::OK,
    )
    .await;
    revoke_by_post(&h, &text(&first, "access_token"), Some("refresh_token")).await;
    assert_eq!(
        h.userinfo_status(&text(&first, "access_token")).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        h.userinfo_status(&text(&second, "access_token")).await,
        StatusCode::OK
    );
    let third = json(
        h.refresh(&text(&second, "refresh_token"), None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        h.userinfo_status(&text(&third, "access_token")).await,
        StatusCode::OK
    );
    // A plain grant's access token, by HTTP Basic with the right hint.
    let plain = h.grant(&session, "openid").await;
    revoked(
        h.revoke(
            Some(APP),
            &[
                ("token", &text(&plain, "access_token")),
                ("token_type_hint", "access_token"),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(
        h.userinfo_status(&text(&plain, "access_token")).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        h.userinfo_status(&text(&third, "access_token")).await,
        StatusCode::OK
    );
    assert!(h.session_alive(&session).await);
}

/// Revoking a refresh token ends its family: every access token issued
/// from the code and from each refresh. The login and other families live
/// on.
async fn a_refresh_token_and_its_family(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let bystander = h.grant(&session, OFFLINE).await;
    let mut grants = vec![h.grant(&session, OFFLINE).await];
    for _ in 0..2 {
        let current = text(grants.last().unwrap(), "refresh_token");
        grants.push(json(h.refresh(&current, None).await, StatusCode::OK).await);
    }
    let newest = text(grants.last().unwrap(), "refresh_token");
    revoke_by_post(&h, &newest, Some("refresh_token")).await;
    h.assert_refresh_refused(&newest).await;
    for (i, grant) in grants.iter().enumerate() {
        assert_eq!(
            h.userinfo_status(&text(grant, "access_token")).await,
            StatusCode::UNAUTHORIZED,
            "access token {i}"
        );
    }
    let answer = json(
        h.introspect(Some(OTHER), &[("token", &newest)]).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(answer, serde_json::json!({"active": false}));
    // Again: the same answer.
    revoke_by_post(&h, &newest, None).await;

    assert!(h.session_alive(&session).await);
    json(
        h.refresh(&text(&bystander, "refresh_token"), None).await,
        StatusCode::OK,
    )
    .await;
}

/// A client can revoke only its own tokens; another's, including a public
/// client's or a public client asking about a confidential client's, get
/// the same 200 and stay live.
async fn other_clients_tokens_are_left_alone(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let grant = h.grant(&session, OFFLINE).await;
    let access_token = text(&grant, "access_token");
    let refresh_token = text(&grant, "refresh_token");
    for token in [&access_token, &refresh_token] {
        revoked(h.revoke(Some(OTHER), &[("token", token)]).await).await;
        revoked(
            h.revoke(None, &[("token", token), ("client_id", PUBLIC_CLIENT_ID)])
                .await,
        )
        .await;
        revoked(
            h.revoke(
                Some(BASIC_ONLY),
                &[("token", token), ("token_type_hint", "access_token")],
            )
            .await,
        )
        .await;
    }
    assert_eq!(h.userinfo_status(&access_token).await, StatusCode::OK);
    let refreshed = json(h.refresh(&refresh_token, None).await, StatusCode::OK).await;

    // The basic-only client's tokens, likewise, are its own to revoke.
    let code = h
        .code_for(&session, BASIC_ONLY_CLIENT_ID, REDIRECT_URI, "openid")
        .await;
    let theirs = json(
        h.token(
            Some(BASIC_ONLY),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT_URI),
            ],
        )
        .await,
        StatusCode::OK,
    )
    .await;
    revoked(
        h.revoke(Some(APP), &[("token", &text(&theirs, "refresh_token"))])
            .await,
    )
    .await;
    assert_eq!(
        h.userinfo_status(&text(&theirs, "access_token")).await,
        StatusCode::OK
    );
    revoked(
        h.revoke(
            Some(BASIC_ONLY),
            &[("token", &text(&theirs, "refresh_token"))],
        )
        .await,
    )
    .await;
    assert_eq!(
        h.userinfo_status(&text(&theirs, "access_token")).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        h.userinfo_status(&text(&refreshed, "access_token")).await,
        StatusCode::OK
    );
}

/// Anything that is not a live token of the client is answered with the
/// same empty 200 and changes nothing: unknown tokens of the right shape,
/// garbage, an ID token, an unredeemed code (which still redeems), the
/// session cookie (whose session lives on), a dead token, an unknown hint.
async fn anything_else_gets_the_same_answer(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let grant = h.grant(&session, OFFLINE).await;
    let code = h.code(&session).await;
    let dead = h.grant(&session, "openid").await;
    revoke_by_post(&h, &text(&dead, "access_token"), None).await;
    let unknown_access = AccessToken::generate().expose();
    let key = "A".repeat(22);
    let secret = "B".repeat(43);
    let tokens = [
        unknown_access,
        format!("prt-{key}.{secret}"),
        format!("prt-{key}{key}.{secret}"),
        "garbage".to_owned(),
        "pat-".to_owned(),
        "🦀".repeat(100),
        "x".repeat(10_000),
        text(&grant, "id_token"),
        code.clone(),
        session.clone(),
        CLIENT_SECRET.to_owned(),
        text(&dead, "access_token"),
    ];
    for token in &tokens {
        revoked(h.revoke(Some(APP), &[("token", token)]).await).await;
    }
    revoked(
        h.revoke(
            Some(APP),
            &[("token", "garbage"), ("token_type_hint", "no_such_type")],
        )
        .await,
    )
    .await;

    assert!(h.session_alive(&session).await);
    assert_eq!(
        h.userinfo_status(&text(&grant, "access_token")).await,
        StatusCode::OK
    );
    json(h.redeem(&code).await, StatusCode::OK).await;
    json(
        h.refresh(&text(&grant, "refresh_token"), None).await,
        StatusCode::OK,
    )
    .await;
}

/// Client authentication comes first and is required (RFC 7009 2.1): a
/// failed HTTP Basic gets 401 with a challenge, a failed form 400; a client
/// registered for one method cannot use the other; a public client can
/// never send a secret, not even an empty one. A malformed request is
/// invalid_request. None of these revokes the token it names.
async fn who_may_revoke(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let grant = h.grant(&session, OFFLINE).await;
    let access_token = text(&grant, "access_token");
    let token = [("token", access_token.as_str())];

    for basic in [
        (CLIENT_ID, "wrong"),
        ("nobody", "whatever"),
        (PUBLIC_CLIENT_ID, ""),
        (PUBLIC_CLIENT_ID, "a-secret"),
    ] {
        let response = h.revoke(Some(basic), &token).await;
        assert!(
            response
                .headers()
                .get(WWW_AUTHENTICATE)
                .is_some_and(|v| v.to_str().unwrap().starts_with("Basic")),
            "{basic:?}"
        );
        token_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
    }
    let forms: [&[(&str, &str)]; 4] = [
        &[],
        &[("client_id", CLIENT_ID)],
        &[("client_id", CLIENT_ID), ("client_secret", "wrong")],
        &[
            ("client_id", BASIC_ONLY_CLIENT_ID),
            ("client_secret", BASIC_ONLY_CLIENT_SECRET),
        ],
    ];
    for auth in forms {
        let mut form = token.to_vec();
        form.extend_from_slice(auth);
        token_error(
            h.revoke(None, &form).await,
            StatusCode::BAD_REQUEST,
            "invalid_client",
        )
        .await;
    }

    // Missing, empty, repeated; two authentication methods; not a form.
    let malformed: [&[(&str, &str)]; 4] = [
        &[],
        &[("token", "")],
        &[("token", &access_token), ("token", &access_token)],
        &[
            ("token", &access_token),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ],
    ];
    for form in malformed {
        token_error(
            h.revoke(Some(APP), form).await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        )
        .await;
    }
    let json_body = h
        .http
        .post(h.url("/auth/openid/revoke"))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .json(&serde_json::json!({"token": access_token}))
        .send()
        .await
        .unwrap();
    token_error(json_body, StatusCode::BAD_REQUEST, "invalid_request").await;
    // Only POST.
    let get = h
        .http
        .get(h.url("/auth/openid/revoke"))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .query(&token)
        .send()
        .await
        .unwrap();
    assert!(get.status().is_client_error(), "{}", get.status());

    assert_eq!(h.userinfo_status(&access_token).await, StatusCode::OK);
    // The basic-only client by its own method.
    revoked(h.revoke(Some(BASIC_ONLY), &token).await).await;
    assert_eq!(h.userinfo_status(&access_token).await, StatusCode::OK);
}

on_both_stores!(
    an_access_token_alone,
    a_refresh_token_and_its_family,
    other_clients_tokens_are_left_alone,
    anything_else_gets_the_same_answer,
    who_may_revoke,
);

/// On Redis, revoking an access token removes its record and revoking a
/// refresh token its family's; nothing else goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_on_redis() {
    let h = Harness::start(StoreKind::Redis).await;
    let url = redis_url();
    let prefix = h.redis_prefix.clone().unwrap();
    let session = h.login().await;
    let grant = h.grant(&session, OFFLINE).await;
    let access_token = text(&grant, "access_token");
    let access_key = storage_key(
        &prefix,
        "token",
        AccessToken::parse(&access_token).unwrap().key(),
    );
    assert!(raw_exists(&url, &access_key).await);
    assert_eq!(h.stored_keys("refresh").await.len(), 1);
    assert_eq!(h.stored_keys("session").await.len(), 1);

    revoked(h.revoke(Some(APP), &[("token", &access_token)]).await).await;
    assert!(!raw_exists(&url, &access_key).await);
    assert_eq!(h.stored_keys("refresh").await.len(), 1);

    revoked(
        h.revoke(Some(APP), &[("token", &text(&grant, "refresh_token"))])
            .await,
    )
    .await;
    assert!(h.stored_keys("refresh").await.is_empty());
    assert_eq!(h.stored_keys("session").await.len(), 1);
}
