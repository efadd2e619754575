//! The userinfo endpoint (OpenID Connect Core 5.3, RFC 6750).

use std::time::Duration;

use porthor_models::AccessToken;
use porthor_oidc::Lifetimes;
use reqwest::StatusCode;

use crate::harness::{CLIENT_ID, Harness, REDIRECT_URI, StoreKind, json};

async fn access_token(h: &Harness, session: &str, scope: &str) -> String {
    let code = h.code_for(session, CLIENT_ID, REDIRECT_URI, scope).await;
    let body = json(h.redeem(&code).await, StatusCode::OK).await;
    body["access_token"].as_str().unwrap().to_owned()
}

fn www_authenticate(response: &reqwest::Response) -> String {
    response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned()
}

async fn claims_follow_granted_scopes(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let cases = [
        ("openid", serde_json::json!({"sub": "alice"})),
        (
            "openid email",
            serde_json::json!({"sub": "alice", "email": "alice@example.com"}),
        ),
        (
            "openid profile",
            serde_json::json!({"sub": "alice", "name": "Alice Example", "preferred_username": "alice"}),
        ),
        (
            "openid groups",
            serde_json::json!({"sub": "alice", "groups": ["admins", "staff"]}),
        ),
        (
            "openid profile email unknown",
            serde_json::json!({"sub": "alice", "name": "Alice Example", "preferred_username": "alice", "email": "alice@example.com"}),
        ),
    ];
    for (scope, expected) in cases {
        let token = access_token(&h, &session, scope).await;
        assert_eq!(
            json(h.userinfo(&token).await, StatusCode::OK).await,
            expected,
            "scope {scope}"
        );
    }
}

async fn post_works_too(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let token = access_token(&h, &session, "openid email").await;
    let response = h
        .http
        .post(h.url("/auth/openid/userinfo"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        json(response, StatusCode::OK).await["email"],
        "alice@example.com"
    );
}

async fn missing_token_gets_a_bare_challenge(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let response = h
        .http
        .get(h.url("/auth/openid/userinfo"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = www_authenticate(&response);
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    assert!(!challenge.contains("error="), "{challenge}");
}

async fn bad_tokens_are_invalid_token(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let code = h.code(&session).await;
    let id_token = json(h.redeem(&code).await, StatusCode::OK).await["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let unknown = AccessToken::generate().expose();
    for token in [
        "nonsense",
        "pat-short.x",
        unknown.as_str(),
        id_token.as_str(),
    ] {
        let response = h.userinfo(token).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{token}");
        let challenge = www_authenticate(&response);
        assert!(
            challenge.starts_with("Bearer") && challenge.contains(r#"error="invalid_token""#),
            "{challenge}"
        );
    }
    // Another scheme is no bearer authentication at all: a bare challenge.
    let response = h
        .http
        .get(h.url("/auth/openid/userinfo"))
        .basic_auth("a", Some("b"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = www_authenticate(&response);
    assert!(
        challenge.starts_with("Bearer") && !challenge.contains("error="),
        "{challenge}"
    );
}

async fn tokens_die_with_the_session(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let token = access_token(&h, &session, "openid").await;
    assert_eq!(h.userinfo(&token).await.status(), StatusCode::OK);
    h.logout(&session).await;
    let response = h.userinfo(&token).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(www_authenticate(&response).contains("invalid_token"));
}

/// An access token is refused from the moment its lifetime ends, with the
/// same challenge as any other bad token.
async fn expired_access_token_is_refused(backend: StoreKind) {
    let h = Harness::start_with_lifetimes(
        backend,
        Lifetimes {
            access_token: Duration::from_secs(1),
            ..Lifetimes::default()
        },
    )
    .await;
    let session = h.login().await;
    let code = h.code(&session).await;
    let body = json(h.redeem(&code).await, StatusCode::OK).await;
    assert_eq!(body["expires_in"], 1);
    let token = body["access_token"].as_str().unwrap();
    h.clock.advance(Duration::from_secs(1));
    let response = h.userinfo(token).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(www_authenticate(&response).contains("invalid_token"));
}

crate::on_both_stores!(
    claims_follow_granted_scopes,
    post_works_too,
    missing_token_gets_a_bare_challenge,
    bad_tokens_are_invalid_token,
    tokens_die_with_the_session,
    expired_access_token_is_refused,
);

// The core flows on a Redis Cluster.
crate::on_the_cluster_too!(claims_follow_granted_scopes, tokens_die_with_the_session,);
