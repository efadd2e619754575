//! Registration options over HTTP: the public client (no secret, PKCE
//! mandatory): its whole flow with an independent check of what it gets,
//! secrets it must never send (an empty Basic one included), its PKCE, its
//! one redirect URI left out or named, its refresh tokens against a
//! confidential client's; and the client held to client_secret_basic, which
//! always gets a refresh token, through every back-channel endpoint.

use reqwest::{Response, StatusCode};
use url::Url;

use crate::harness::{
    BASIC_ONLY, BASIC_ONLY_CLIENT_ID, BASIC_ONLY_CLIENT_SECRET, CHALLENGE, CLIENT_ID,
    CLIENT_SECRET, Harness, OTHER, PUBLIC_CLIENT_ID, PUBLIC_REDIRECT_URI, REDIRECT_URI, S256,
    StoreKind, USERNAME, VERIFIER, error_page, json, location, query, text, token_error,
};
use crate::on_both_stores;

/// The public client's authorization request with PKCE, plus `extra`.
async fn authorize(h: &Harness, session: &str, extra: &[(&str, &str)]) -> Response {
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", PUBLIC_CLIENT_ID),
        ("scope", "openid email offline_access"),
        ("state", "st"),
        ("nonce", "nn"),
    ];
    params.extend_from_slice(extra);
    h.authorize(Some(session), &params).await
}

/// Where the authorization response went; asserts it went to the public
/// client's only URI, with its state and the issuer.
fn delivered(h: &Harness, response: &Response) -> Url {
    assert_eq!(response.status(), StatusCode::FOUND);
    let url = location(response);
    assert!(
        url.as_str().starts_with(&format!("{PUBLIC_REDIRECT_URI}?")),
        "{url}"
    );
    assert_eq!(query(&url, "state").as_deref(), Some("st"));
    assert_eq!(query(&url, "iss").as_deref(), Some(h.issuer.as_str()));
    url
}

/// A code for the public client, with PKCE, without `redirect_uri`.
async fn public_code(h: &Harness, session: &str) -> String {
    let url = delivered(h, &authorize(h, session, &S256).await);
    query(&url, "code").expect("a code")
}

/// A token request as the public client: its id in the form, no secret.
async fn public_token(h: &Harness, form: &[(&str, &str)]) -> Response {
    let mut form = form.to_vec();
    form.push(("client_id", PUBLIC_CLIENT_ID));
    h.token(None, &form).await
}

fn redemption(code: &str) -> Vec<(&str, &str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("code_verifier", VERIFIER),
    ]
}

/// The whole flow with nothing but the client id: the ID token is for the
/// public client and bound to the authorization request, the access token
/// works and a resource server sees whose it is, and the token request may
/// name the one redirect URI even though the authorization request did not.
/// It refreshes, and revokes its own tokens, with its id alone too.
async fn public_client_flow(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let code = public_code(&h, &session).await;
    let mut form = redemption(&code);
    form.push(("redirect_uri", PUBLIC_REDIRECT_URI));
    let tokens = json(public_token(&h, &form).await, StatusCode::OK).await;
    assert_eq!(tokens["scope"], "openid email offline_access");
    let claims = h
        .service
        .verify_token(&text(&tokens, "id_token"), h.clock.now())
        .unwrap();
    assert_eq!(claims.aud, PUBLIC_CLIENT_ID);
    assert_eq!(claims.azp, PUBLIC_CLIENT_ID);
    assert_eq!(claims.nonce.as_deref(), Some("nn"));
    assert_eq!(claims.user.sub, USERNAME);

    let access_token = text(&tokens, "access_token");
    let userinfo = json(h.userinfo(&access_token).await, StatusCode::OK).await;
    assert_eq!(userinfo["email"], "alice@example.com");
    let seen = json(
        h.introspect(Some(OTHER), &[("token", &access_token)]).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(seen["client_id"], PUBLIC_CLIENT_ID);

    let refreshed = json(
        public_token(
            &h,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &text(&tokens, "refresh_token")),
            ],
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let claims = h
        .service
        .verify_token(&text(&refreshed, "id_token"), h.clock.now())
        .unwrap();
    assert_eq!(claims.aud, PUBLIC_CLIENT_ID);
    assert_eq!(claims.nonce, None);
    assert_ne!(refreshed["refresh_token"], tokens["refresh_token"]);

    let response = h
        .revoke(
            None,
            &[
                ("token", &text(&refreshed, "refresh_token")),
                ("client_id", PUBLIC_CLIENT_ID),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        h.userinfo_status(&text(&refreshed, "access_token")).await,
        StatusCode::UNAUTHORIZED
    );
}

/// A public client never authenticates with a secret: not by HTTP Basic
/// with an empty secret (as some libraries send), nor with a secret by
/// either method, at any back-channel endpoint. Without even its id it is
/// no client. Client authentication fails before the code is looked at, so
/// the code is still good afterwards.
async fn public_client_sends_no_secret(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let code = public_code(&h, &session).await;
    let form = redemption(&code);

    for secret in ["", "anything"] {
        let response = h.token(Some((PUBLIC_CLIENT_ID, secret)), &form).await;
        token_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
    }
    let mut post = form.clone();
    post.extend([
        ("client_id", PUBLIC_CLIENT_ID),
        ("client_secret", "anything"),
    ]);
    token_error(
        h.token(None, &post).await,
        StatusCode::BAD_REQUEST,
        "invalid_client",
    )
    .await;
    token_error(
        h.token(None, &form).await,
        StatusCode::BAD_REQUEST,
        "invalid_client",
    )
    .await;
    let tokens = json(public_token(&h, &form).await, StatusCode::OK).await;

    // The refresh grant and revocation hold it to the same rule.
    let refresh_token = text(&tokens, "refresh_token");
    let refresh = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.as_str()),
    ];
    token_error(
        h.token(Some((PUBLIC_CLIENT_ID, "")), &refresh).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    )
    .await;
    token_error(
        h.revoke(Some((PUBLIC_CLIENT_ID, "")), &[("token", &refresh_token)])
            .await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    )
    .await;
    json(public_token(&h, &refresh).await, StatusCode::OK).await;
}

/// PKCE is mandatory for a public client and only S256 will do; a missing
/// or wrong verifier spends the code for nothing.
async fn public_client_pkce(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let refusals: [&[(&str, &str)]; 3] = [
        &[],
        &[("code_challenge", CHALLENGE)],
        &[
            ("code_challenge", VERIFIER),
            ("code_challenge_method", "plain"),
        ],
    ];
    for pkce in refusals {
        let url = delivered(&h, &authorize(&h, &session, pkce).await);
        assert_eq!(query(&url, "error").as_deref(), Some("invalid_request"));
        assert_eq!(query(&url, "code"), None);
    }

    let code = public_code(&h, &session).await;
    let without = [("grant_type", "authorization_code"), ("code", &code)];
    token_error(
        public_token(&h, &without).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    token_error(
        public_token(&h, &redemption(&code)).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;

    let code = public_code(&h, &session).await;
    let wrong = "x".repeat(43);
    token_error(
        public_token(
            &h,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", &wrong),
            ],
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
}

/// Named in the authorization request, the redirect URI must be repeated at
/// the token endpoint: left out, the request is invalid and the code not
/// spent; different, the grant is refused. An unregistered URI is never
/// redirected to.
async fn public_client_named_redirect_uri(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let mut named = S256.to_vec();
    named.push(("redirect_uri", PUBLIC_REDIRECT_URI));
    let url = delivered(&h, &authorize(&h, &session, &named).await);
    let code = query(&url, "code").unwrap();
    token_error(
        public_token(&h, &redemption(&code)).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    let mut form = redemption(&code);
    form.push(("redirect_uri", PUBLIC_REDIRECT_URI));
    json(public_token(&h, &form).await, StatusCode::OK).await;

    let url = delivered(&h, &authorize(&h, &session, &named).await);
    let code = query(&url, "code").unwrap();
    let mut form = redemption(&code);
    form.push(("redirect_uri", "http://127.0.0.1:8765/other"));
    token_error(
        public_token(&h, &form).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;

    for unregistered in [
        "http://127.0.0.1:8765/other",
        "http://127.0.0.1:8765/spa/",
        "http://127.0.0.1:8766/spa",
        REDIRECT_URI,
    ] {
        let mut params = S256.to_vec();
        params.push(("redirect_uri", unregistered));
        error_page(authorize(&h, &session, &params).await, unregistered).await;
    }
}

/// A refresh token is bound to its client across the public/confidential
/// line both ways: presented by the other, it is refused and its family
/// ends.
async fn refresh_tokens_do_not_cross_clients(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let code = public_code(&h, &session).await;
    let public = json(public_token(&h, &redemption(&code)).await, StatusCode::OK).await;
    h.assert_refresh_refused(&text(&public, "refresh_token"))
        .await;
    token_error(
        public_token(
            &h,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &text(&public, "refresh_token")),
            ],
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    assert_eq!(
        h.userinfo_status(&text(&public, "access_token")).await,
        StatusCode::UNAUTHORIZED
    );

    let app = h.grant(&session, "openid offline_access").await;
    token_error(
        public_token(
            &h,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &text(&app, "refresh_token")),
            ],
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    h.assert_refresh_refused(&text(&app, "refresh_token")).await;
}

/// The client registered for client_secret_basic: it may leave out its one
/// redirect URI, gets a refresh token without asking for offline_access,
/// and is held to Basic at the token, revocation and introspection
/// endpoints alike (its secret in the form is refused even when right).
async fn basic_only_everywhere(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let response = h
        .authorize(
            Some(&session),
            &[
                ("response_type", "code"),
                ("client_id", BASIC_ONLY_CLIENT_ID),
                ("scope", "openid"),
                ("state", "s"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let url = location(&response);
    assert!(url.as_str().starts_with(REDIRECT_URI), "{url}");
    let code = query(&url, "code").unwrap();
    let form = [("grant_type", "authorization_code"), ("code", &code)];
    token_error(
        h.token(None, &as_post(&form)).await,
        StatusCode::BAD_REQUEST,
        "invalid_client",
    )
    .await;
    let tokens = json(h.token(Some(BASIC_ONLY), &form).await, StatusCode::OK).await;
    assert_eq!(tokens["scope"], "openid");
    let refresh_token = text(&tokens, "refresh_token");

    let refresh = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.as_str()),
    ];
    token_error(
        h.token(None, &as_post(&refresh)).await,
        StatusCode::BAD_REQUEST,
        "invalid_client",
    )
    .await;
    let refreshed = json(h.token(Some(BASIC_ONLY), &refresh).await, StatusCode::OK).await;
    assert_eq!(refreshed["scope"], "openid");
    let access_token = text(&refreshed, "access_token");

    let token = [("token", access_token.as_str())];
    token_error(
        h.introspect(None, &as_post(&token)).await,
        StatusCode::BAD_REQUEST,
        "invalid_client",
    )
    .await;
    let seen = json(h.introspect(Some(BASIC_ONLY), &token).await, StatusCode::OK).await;
    assert_eq!(seen["client_id"], BASIC_ONLY_CLIENT_ID);
    token_error(
        h.revoke(None, &as_post(&token)).await,
        StatusCode::BAD_REQUEST,
        "invalid_client",
    )
    .await;
    assert_eq!(h.userinfo_status(&access_token).await, StatusCode::OK);
    let response = h.revoke(Some(BASIC_ONLY), &token).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        h.userinfo_status(&access_token).await,
        StatusCode::UNAUTHORIZED
    );

    // The app, registered for neither in particular, may use both.
    let code = h.code(&session).await;
    let mut post = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT_URI),
    ];
    post.extend([("client_id", CLIENT_ID), ("client_secret", CLIENT_SECRET)]);
    json(h.token(None, &post).await, StatusCode::OK).await;
}

/// `form` with the basic-only client's credentials in it
/// (client_secret_post).
fn as_post<'a>(form: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut form = form.to_vec();
    form.extend([
        ("client_id", BASIC_ONLY_CLIENT_ID),
        ("client_secret", BASIC_ONLY_CLIENT_SECRET),
    ]);
    form
}

on_both_stores!(
    public_client_flow,
    public_client_sends_no_secret,
    public_client_pkce,
    public_client_named_redirect_uri,
    refresh_tokens_do_not_cross_clients,
    basic_only_everywhere,
);
