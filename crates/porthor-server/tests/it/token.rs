//! The token endpoint's authorization-code grant (RFC 6749 4.1.3, 5;
//! OpenID Connect Core 3.1.3): the token response, client authentication,
//! malformed requests, and what a code is bound to, including its single
//! use and what a replay revokes. The refresh grant is refresh.rs's.

use std::time::Duration;

use porthor_models::AuthorizationCode;
use porthor_oidc::Lifetimes;
use porthor_test_support::{logs, raw_get, raw_set, redis_url};
use reqwest::StatusCode;

use crate::harness::{
    CLIENT_ID, CLIENT_SECRET, Harness, OFFLINE, OTHER_APP_REDIRECT_URI, OTHER_CLIENT_ID,
    OTHER_CLIENT_SECRET, OTHER_REDIRECT_URI, REDIRECT_URI, SPECIAL_CLIENT_ID,
    SPECIAL_CLIENT_SECRET, StoreKind, json, jwt_header, text, token_error,
};

fn form(code: &str) -> Vec<(&str, &str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT_URI),
    ]
}

async fn code_is_redeemed_for_tokens(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let code = h.code(&session).await;
    let response = h.redeem(&code).await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["pragma"], "no-cache");
    let body = json(response, StatusCode::OK).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "openid profile email");
    let expires_in = body["expires_in"].as_u64().unwrap();
    assert!((3590..=3600).contains(&expires_in), "{expires_in}");
    let access_token = body["access_token"].as_str().unwrap();
    let id_token = body["id_token"].as_str().unwrap();
    assert!(access_token.starts_with("pat-"));
    assert_ne!(access_token, id_token);

    assert_eq!(
        jwt_header(id_token)["kid"],
        h.service.jwks().keys[0].kid.as_str()
    );
    assert_eq!(jwt_header(id_token)["alg"], "ES256");
    let claims = h.service.verify_token(id_token, h.clock.now()).unwrap();
    assert_eq!(claims.iss, h.issuer);
    assert_eq!(claims.aud, CLIENT_ID);
    assert_eq!(claims.azp, CLIENT_ID);
    assert_eq!(claims.amr, ["pwd"]);
    assert_eq!(
        claims.at_hash.as_ref().map(String::len),
        Some(22),
        "SHA-256 half, base64url"
    );
    assert_eq!(claims.user.sub, "alice");
    assert_eq!(claims.nonce.as_deref(), Some("n-1"));
    assert_eq!(claims.user.name.as_deref(), Some("Alice Example"));
    assert_eq!(claims.user.email.as_deref(), Some("alice@example.com"));
    assert!(claims.exp > claims.iat && claims.iat >= claims.auth_time);
    assert!(!claims.jti.is_empty());
}

async fn client_secret_post_works(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let code = h.code(&session).await;
    let mut form = form(&code);
    form.extend([("client_id", CLIENT_ID), ("client_secret", CLIENT_SECRET)]);
    json(h.token(None, &form).await, StatusCode::OK).await;
}

async fn basic_credentials_are_form_urldecoded(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let code = h
        .code_for(&session, SPECIAL_CLIENT_ID, REDIRECT_URI, "openid")
        .await;
    let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let (id, secret) = (encode(SPECIAL_CLIENT_ID), encode(SPECIAL_CLIENT_SECRET));
    assert!(id.contains('+') && secret.contains("%3A"), "{id} {secret}");
    let response = h.token(Some((&id, &secret)), &form(&code)).await;
    json(response, StatusCode::OK).await;
}

async fn client_authentication_failures(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let code = h.code(&session).await;
    // Over HTTP Basic: 401 with a Basic challenge, whatever went wrong.
    let mut descriptions = Vec::new();
    for (id, secret) in [
        (CLIENT_ID, "wrong-secret-wrong-secret-wrong-secret"),
        ("nobody", CLIENT_SECRET),
        (CLIENT_ID, ""),
    ] {
        let response = h.token(Some((id, secret)), &form(&code)).await;
        assert_eq!(
            response.headers()["www-authenticate"].to_str().unwrap(),
            r#"Basic realm="porthor""#
        );
        descriptions.push(token_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await);
    }
    // Unknown client and wrong secret read the same.
    assert!(
        descriptions.windows(2).all(|pair| pair[0] == pair[1]),
        "{descriptions:?}"
    );
    // A malformed Authorization header is a failed Basic attempt too.
    let response = h
        .http
        .post(h.url("/auth/openid/token"))
        .header("authorization", "Basic !!!not-base64")
        .form(&form(&code))
        .send()
        .await
        .unwrap();
    token_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
    // In the form, or not at all: 400.
    let mut wrong = form(&code);
    wrong.extend([
        ("client_id", CLIENT_ID),
        ("client_secret", "wrong-secret-wrong-secret-wrong-secret"),
    ]);
    let body = token_error(
        h.token(None, &wrong).await,
        StatusCode::BAD_REQUEST,
        "invalid_client",
    )
    .await;
    assert_eq!(body, descriptions[0]);
    let mut id_only = form(&code);
    id_only.push(("client_id", CLIENT_ID));
    token_error(
        h.token(None, &id_only).await,
        StatusCode::BAD_REQUEST,
        "invalid_client",
    )
    .await;
    token_error(
        h.token(None, &form(&code)).await,
        StatusCode::BAD_REQUEST,
        "invalid_client",
    )
    .await;
    // None of that spent the code.
    json(h.redeem(&code).await, StatusCode::OK).await;
}

async fn two_authentication_methods_are_invalid_request(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let code = h.code(&session).await;
    let mut both = form(&code);
    both.extend([("client_id", CLIENT_ID), ("client_secret", CLIENT_SECRET)]);
    token_error(
        h.token(Some((CLIENT_ID, CLIENT_SECRET)), &both).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    // A client_id in the form naming the Basic client is harmless.
    let mut same_id = form(&code);
    same_id.push(("client_id", CLIENT_ID));
    json(
        h.token(Some((CLIENT_ID, CLIENT_SECRET)), &same_id).await,
        StatusCode::OK,
    )
    .await;
}

async fn malformed_requests(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let code = h.code(&session).await;
    let basic = Some((CLIENT_ID, CLIENT_SECRET));
    let drop = |name: &str| {
        form(&code)
            .into_iter()
            .filter(|(n, _)| *n != name)
            .collect::<Vec<_>>()
    };
    token_error(
        h.token(basic, &drop("grant_type")).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    token_error(
        h.token(basic, &drop("code")).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    token_error(
        h.token(basic, &drop("redirect_uri")).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    let mut password = drop("grant_type");
    password.push(("grant_type", "password"));
    token_error(
        h.token(basic, &password).await,
        StatusCode::BAD_REQUEST,
        "unsupported_grant_type",
    )
    .await;
    for name in ["code", "grant_type", "redirect_uri"] {
        let mut repeated = form(&code);
        repeated.push((
            name,
            if name == "grant_type" {
                "authorization_code"
            } else {
                "x"
            },
        ));
        token_error(
            h.token(basic, &repeated).await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        )
        .await;
    }
    // A JSON body is not a form.
    let response = h
        .http
        .post(h.url("/auth/openid/token"))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .json(&serde_json::json!({"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}))
        .send()
        .await
        .unwrap();
    token_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    // None of these reached the code.
    json(h.redeem(&code).await, StatusCode::OK).await;
}

async fn malformed_codes_are_invalid_grant(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let unknown = AuthorizationCode::generate().expose();
    let (key, _) = unknown.split_once('.').unwrap();
    let wrong_secret = format!("{key}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    for code in [
        "garbage",
        "pc-",
        "pc-abc.def",
        "pat-AAAA.BBBB",
        "pc-\u{e9}\u{e9}.x",
        &unknown,
        &wrong_secret,
    ] {
        token_error(
            h.redeem(code).await,
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        )
        .await;
    }
}

/// A code redeems once. Presented again it is invalid_grant, and the
/// replay revokes what the first redemption issued: its access token and
/// its refresh-token family, even after the family has rotated (every
/// access token refreshed from it dies too). A presentation with the code's
/// key but another secret is no replay and revokes nothing.
async fn code_replay_revokes_what_it_issued(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let code = h.code_for(&session, CLIENT_ID, REDIRECT_URI, OFFLINE).await;
    let mut grants = vec![json(h.redeem(&code).await, StatusCode::OK).await];

    let (key, secret) = code.split_once('.').unwrap();
    let flipped = if secret.starts_with('A') { "B" } else { "A" };
    let forged = format!("{key}.{flipped}{}", &secret[1..]);
    token_error(
        h.redeem(&forged).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    assert_eq!(
        h.userinfo_status(&text(&grants[0], "access_token")).await,
        StatusCode::OK
    );

    for _ in 0..2 {
        let current = text(grants.last().unwrap(), "refresh_token");
        grants.push(json(h.refresh(&current, None).await, StatusCode::OK).await);
    }
    token_error(
        h.redeem(&code).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    for (i, grant) in grants.iter().enumerate() {
        assert_eq!(
            h.userinfo_status(&text(grant, "access_token")).await,
            StatusCode::UNAUTHORIZED,
            "access token {i}"
        );
    }
    h.assert_refresh_refused(&text(grants.last().unwrap(), "refresh_token"))
        .await;
}

async fn concurrent_redemptions_one_wins(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    for _ in 0..10 {
        let code = h.code(&session).await;
        let (a, b, c) = tokio::join!(h.redeem(&code), h.redeem(&code), h.redeem(&code));
        let statuses = [a.status(), b.status(), c.status()];
        let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
        assert_eq!(ok, 1, "{statuses:?}");
        assert_eq!(
            statuses
                .iter()
                .filter(|s| **s == StatusCode::BAD_REQUEST)
                .count(),
            2,
            "{statuses:?}"
        );
    }
}

async fn code_is_bound_to_its_client(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let code = h.code(&session).await;
    let mut other = form(&code);
    other.retain(|(n, _)| *n != "redirect_uri");
    other.push(("redirect_uri", OTHER_REDIRECT_URI));
    let response = h
        .token(Some((OTHER_CLIENT_ID, OTHER_CLIENT_SECRET)), &other)
        .await;
    token_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
    // The attempt spent the code: a stolen code is dead once tried.
    token_error(
        h.redeem(&code).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
}

async fn code_is_bound_to_its_redirect_uri(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let code = h.code(&session).await;
    let mut moved = form(&code);
    moved.retain(|(n, _)| *n != "redirect_uri");
    moved.push(("redirect_uri", OTHER_APP_REDIRECT_URI));
    token_error(
        h.token(Some((CLIENT_ID, CLIENT_SECRET)), &moved).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
}

async fn code_dies_with_its_session(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let code = h.code(&session).await;
    h.logout(&session).await;
    token_error(
        h.redeem(&code).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
}

/// A code is refused from the moment its lifetime ends.
async fn expired_code_is_invalid_grant(backend: StoreKind) {
    let h = Harness::start_with_lifetimes(
        backend,
        Lifetimes {
            code: Duration::from_secs(1),
            ..Lifetimes::default()
        },
    )
    .await;
    let session = h.login().await;
    let code = h.code(&session).await;
    h.clock.advance(Duration::from_secs(1));
    token_error(
        h.redeem(&code).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
}

crate::on_both_stores!(
    code_is_redeemed_for_tokens,
    client_secret_post_works,
    basic_credentials_are_form_urldecoded,
    client_authentication_failures,
    two_authentication_methods_are_invalid_request,
    malformed_requests,
    malformed_codes_are_invalid_grant,
    code_replay_revokes_what_it_issued,
    concurrent_redemptions_one_wins,
    code_is_bound_to_its_client,
    code_is_bound_to_its_redirect_uri,
    code_dies_with_its_session,
    expired_code_is_invalid_grant,
);

/// A record that does not decrypt is refused as invalid_grant, logged as
/// an error, and replaced by the redeemed marker; the server does not fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_record_in_redis_is_invalid_grant() {
    let h = Harness::start(StoreKind::Redis).await;
    let session = h.login().await;
    for garbage in [
        &b"not a record"[..],
        &[0x01; 64][..],
        &[][..],
        &[0x02, 0, 0][..],
    ] {
        let code = h.code(&session).await;
        let key = h.code_storage_key(&code);
        raw_set(&redis_url(), &key, garbage).await;
        token_error(
            h.redeem(&code).await,
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        )
        .await;
        let stored = raw_get(&redis_url(), &key).await.unwrap();
        assert_ne!(stored, garbage, "corrupt record left behind");
        // What replaced it is a marker, not a redeemable code.
        token_error(
            h.redeem(&code).await,
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        )
        .await;
        let logged = logs::capture().matching("ERROR", &["corrupt record", &key]);
        assert_eq!(logged.len(), 1, "{:?}", logs::capture().lines());
    }
    assert_eq!(h.get("/ready").await.status(), StatusCode::OK);
}

// The core flows on a Redis Cluster.
crate::on_the_cluster_too!(
    code_is_redeemed_for_tokens,
    code_replay_revokes_what_it_issued,
    concurrent_redemptions_one_wins,
    code_dies_with_its_session,
);
