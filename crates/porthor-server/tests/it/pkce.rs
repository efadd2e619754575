//! PKCE (RFC 7636), `S256` only: the challenge is bound to the code and
//! answered at the token endpoint (discovery.rs checks that only `S256` is
//! advertised; clients.rs, the public client's PKCE).

use reqwest::StatusCode;

use crate::harness::{
    CHALLENGE, CLIENT_ID, CLIENT_SECRET, Harness, PKCE_CLIENT_ID, PKCE_CLIENT_SECRET, REDIRECT_URI,
    S256, StoreKind, VERIFIER, json, location, query, token_error,
};

fn params<'a>(client_id: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT_URI),
        ("scope", "openid"),
        ("state", "pkce-state"),
    ];
    params.extend_from_slice(extra);
    params
}

/// The code from a successful authorization, or the redirect's `error`.
async fn authorize(h: &Harness, session: &str, params: &[(&str, &str)]) -> Result<String, String> {
    let response = h.authorize(Some(session), params).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let url = location(&response);
    assert_eq!(query(&url, "state").as_deref(), Some("pkce-state"));
    match query(&url, "code") {
        Some(code) => Ok(code),
        None => Err(query(&url, "error").expect("an error or a code")),
    }
}

async fn redeem(
    h: &Harness,
    client: (&str, &str),
    code: &str,
    verifier: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT_URI),
    ];
    if let Some(verifier) = verifier {
        form.push(("code_verifier", verifier));
    }
    h.token(Some(client), &form).await
}

async fn s256_round_trip(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let code = authorize(&h, &session, &params(CLIENT_ID, &S256))
        .await
        .unwrap();
    json(
        redeem(&h, (CLIENT_ID, CLIENT_SECRET), &code, Some(VERIFIER)).await,
        StatusCode::OK,
    )
    .await;
    // The client that must use PKCE, using it.
    let code = authorize(&h, &session, &params(PKCE_CLIENT_ID, &S256))
        .await
        .unwrap();
    json(
        redeem(
            &h,
            (PKCE_CLIENT_ID, PKCE_CLIENT_SECRET),
            &code,
            Some(VERIFIER),
        )
        .await,
        StatusCode::OK,
    )
    .await;
}

async fn wrong_or_missing_verifier_is_invalid_grant(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let wrong = VERIFIER.replace('d', "e");
    for verifier in [None, Some(wrong.as_str()), Some(CHALLENGE), Some("short")] {
        let code = authorize(&h, &session, &params(CLIENT_ID, &S256))
            .await
            .unwrap();
        let response = redeem(&h, (CLIENT_ID, CLIENT_SECRET), &code, verifier).await;
        token_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
        // The failed attempt spent the code: no second try with the right one.
        let response = redeem(&h, (CLIENT_ID, CLIENT_SECRET), &code, Some(VERIFIER)).await;
        token_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
    }
    // A verifier for a code issued without a challenge is refused too.
    let code = authorize(&h, &session, &params(CLIENT_ID, &[]))
        .await
        .unwrap();
    let response = redeem(&h, (CLIENT_ID, CLIENT_SECRET), &code, Some(VERIFIER)).await;
    token_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

async fn bad_challenges_are_refused_at_authorization(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let cases: [&[(&str, &str)]; 5] = [
        &[
            ("code_challenge", VERIFIER),
            ("code_challenge_method", "plain"),
        ],
        &[("code_challenge", CHALLENGE)],
        &[("code_challenge_method", "S256")],
        &[
            ("code_challenge", "too-short"),
            ("code_challenge_method", "S256"),
        ],
        &[
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S512"),
        ],
    ];
    for extra in cases {
        assert_eq!(
            authorize(&h, &session, &params(CLIENT_ID, extra))
                .await
                .err()
                .as_deref(),
            Some("invalid_request"),
            "{extra:?}"
        );
    }
    let repeated = [
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        ("code_challenge", CHALLENGE),
    ];
    assert_eq!(
        authorize(&h, &session, &params(CLIENT_ID, &repeated))
            .await
            .err()
            .as_deref(),
        Some("invalid_request")
    );
    // The client configured with require_pkce cannot go without.
    assert_eq!(
        authorize(&h, &session, &params(PKCE_CLIENT_ID, &[]))
            .await
            .err()
            .as_deref(),
        Some("invalid_request")
    );
}

crate::on_both_stores!(
    s256_round_trip,
    wrong_or_missing_verifier_is_invalid_grant,
    bad_challenges_are_refused_at_authorization,
);
