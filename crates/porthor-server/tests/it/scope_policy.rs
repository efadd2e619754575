//! Per-client scope policy: requested scopes outside a client's
//! `allowed_scopes` are dropped, as unknown ones are, and `offline_access`
//! only reaches a client with `allow_offline_access`. What is dropped is
//! neither in the token response's `scope` nor released as claims, and
//! discovery still lists every scope Porthor knows. (Consent to
//! `offline_access` is consent.rs's.)

use reqwest::StatusCode;
use serde_json::{Value, json as array};

use crate::harness::{Harness, NARROW, NARROW_CLIENT_ID, REDIRECT_URI, StoreKind, json, text};
use crate::on_both_stores;

/// The narrow client's token response for a request of `scope`.
async fn narrow_grant(h: &Harness, session: &str, scope: &str) -> Value {
    let code = h
        .code_for(session, NARROW_CLIENT_ID, REDIRECT_URI, scope)
        .await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT_URI),
    ];
    json(h.token(Some(NARROW), &form).await, StatusCode::OK).await
}

/// The narrow client, allowed `openid email`, asks for everything and gets
/// `openid email`: the ID token and userinfo release the e-mail address
/// and nothing of profile or groups. Asking only for what it may not have
/// leaves `openid`.
async fn scopes_outside_allowed_scopes_are_dropped(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let tokens = narrow_grant(&h, &session, "openid profile email groups").await;
    assert_eq!(tokens["scope"], "openid email");
    let claims = h
        .service
        .verify_token(&text(&tokens, "id_token"), h.clock.now())
        .unwrap();
    assert_eq!(claims.user.email.as_deref(), Some("alice@example.com"));
    assert_eq!(claims.user.name, None);
    assert_eq!(claims.user.groups, None);
    let userinfo = json(
        h.userinfo(&text(&tokens, "access_token")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(userinfo["email"], "alice@example.com");
    for dropped in ["name", "preferred_username", "groups"] {
        assert!(userinfo.get(dropped).is_none(), "{dropped}: {userinfo}");
    }

    let tokens = narrow_grant(&h, &session, "openid profile groups").await;
    assert_eq!(tokens["scope"], "openid");
    // The global list is unchanged.
    assert_eq!(
        h.discovery().await["scopes_supported"],
        array!(["openid", "profile", "email", "groups", "offline_access"])
    );
}

/// Without `allow_offline_access`, `offline_access` is dropped: no refresh
/// token, and the scope is not granted.
async fn offline_access_is_dropped_without_allow_offline_access(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let tokens = narrow_grant(&h, &session, "openid email offline_access").await;
    assert_eq!(tokens["scope"], "openid email");
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");
}

on_both_stores!(
    scopes_outside_allowed_scopes_are_dropped,
    offline_access_is_dropped_without_allow_offline_access,
);
