//! Registration options over HTTP: public clients (no secret, PKCE
//! mandatory), a client held to one authentication method, and the
//! redirect URI a client with exactly one may leave out.

use reqwest::StatusCode;

use crate::harness::{
    BASIC_ONLY_CLIENT_ID, BASIC_ONLY_CLIENT_SECRET, CLIENT_ID, CLIENT_SECRET, Harness,
    PUBLIC_CLIENT_ID, PUBLIC_REDIRECT_URI, REDIRECT_URI, json, location, query, token_error,
};
use crate::on_both_stores;

/// RFC 7636 appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// The public client's authorization request, without `redirect_uri`
/// (it has only one) and with or without PKCE.
async fn public_authorize(h: &Harness, session: &str, pkce: bool) -> reqwest::Response {
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", PUBLIC_CLIENT_ID),
        ("scope", "openid offline_access"),
        ("state", "s"),
    ];
    if pkce {
        params.extend([
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ]);
    }
    h.authorize(Some(session), &params).await
}

/// A code for the public client, delivered to its only redirect URI.
async fn public_code(h: &Harness, session: &str) -> String {
    let delivered = location(&public_authorize(h, session, true).await);
    assert!(
        delivered.as_str().starts_with(PUBLIC_REDIRECT_URI),
        "{delivered}"
    );
    query(&delivered, "code").unwrap()
}

/// A public client authenticates with its id alone, must use PKCE, and may
/// never send a secret; it gets and rotates refresh tokens like any other.
async fn public_client(h: Harness) {
    let session = h.login().await;
    let refused = public_authorize(&h, &session, false).await;
    assert_eq!(refused.status(), StatusCode::FOUND);
    let refused = location(&refused);
    assert!(
        refused.as_str().starts_with(PUBLIC_REDIRECT_URI),
        "{refused}"
    );
    assert_eq!(query(&refused, "error").as_deref(), Some("invalid_request"));

    let code = public_code(&h, &session).await;

    // With a secret, by either method, a public client is refused.
    token_error(
        h.token(
            None,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", VERIFIER),
                ("client_id", PUBLIC_CLIENT_ID),
                ("client_secret", "a-secret-it-was-never-given-0123456789"),
            ],
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_client",
    )
    .await;
    let code = public_code(&h, &session).await;
    token_error(
        h.token(
            Some((PUBLIC_CLIENT_ID, "x")),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", VERIFIER),
            ],
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    )
    .await;

    // Its id alone, the verifier, and no redirect_uri (the request had none).
    let code = public_code(&h, &session).await;
    let tokens = h
        .token(
            None,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", VERIFIER),
                ("client_id", PUBLIC_CLIENT_ID),
            ],
        )
        .await;
    let tokens = json(tokens, StatusCode::OK).await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    let refreshed = h
        .token(
            None,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
                ("client_id", PUBLIC_CLIENT_ID),
            ],
        )
        .await;
    let refreshed = json(refreshed, StatusCode::OK).await;
    assert_ne!(refreshed["refresh_token"].as_str().unwrap(), refresh_token);
    // It may revoke its own token, with its id alone.
    let response = h
        .back_channel(
            "/auth/openid/revoke",
            None,
            &[
                ("token", refreshed["refresh_token"].as_str().unwrap()),
                ("client_id", PUBLIC_CLIENT_ID),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        h.userinfo(refreshed["access_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

/// A confidential client without a secret is refused, and a client
/// registered for one method cannot use the other.
async fn registered_auth_method_is_enforced(h: Harness) {
    let session = h.login().await;
    let code = h
        .code_for(&session, BASIC_ONLY_CLIENT_ID, REDIRECT_URI, "openid")
        .await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT_URI),
    ];
    let mut post = form.to_vec();
    post.extend([
        ("client_id", BASIC_ONLY_CLIENT_ID),
        ("client_secret", BASIC_ONLY_CLIENT_SECRET),
    ]);
    token_error(
        h.token(None, &post).await,
        StatusCode::BAD_REQUEST,
        "invalid_client",
    )
    .await;
    let mut no_secret = form.to_vec();
    no_secret.push(("client_id", CLIENT_ID));
    token_error(
        h.token(None, &no_secret).await,
        StatusCode::BAD_REQUEST,
        "invalid_client",
    )
    .await;
    // Client authentication fails before the code is looked at, so the code
    // is still good for the right method.
    let response = h
        .token(
            Some((BASIC_ONLY_CLIENT_ID, BASIC_ONLY_CLIENT_SECRET)),
            &form,
        )
        .await;
    json(response, StatusCode::OK).await;
}

/// `redirect_uri` may be left out only by a client with exactly one; a
/// token request must repeat it when the authorization request had it, and
/// leaving it out then does not spend the code.
async fn redirect_uri_omission(h: Harness) {
    let session = h.login().await;
    let several = h
        .authorize(
            Some(&session),
            &[
                ("response_type", "code"),
                ("client_id", CLIENT_ID),
                ("scope", "openid"),
            ],
        )
        .await;
    assert_eq!(several.status(), StatusCode::BAD_REQUEST);
    assert!(several.headers().get("location").is_none());

    let code = h.code(&session).await;
    let without = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
    ];
    token_error(
        h.token(Some((CLIENT_ID, CLIENT_SECRET)), &without).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    json(h.redeem(&code).await, StatusCode::OK).await;
}

on_both_stores!(
    public_client,
    registered_auth_method_is_enforced,
    redirect_uri_omission,
);
