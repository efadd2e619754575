//! The Basic OP plan's modules that use a code twice or refresh tokens:
//! `oidcc-codereuse`, `oidcc-codereuse-30seconds` and
//! `oidcc-refresh-token` (with one client and with the suite's two).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use super::suite::{
    ClientAuth, Request, browse, exchange, expect_code, happy, random, start, strings, userinfo_get,
};
use crate::harness::{
    CLIENT_ID, CLIENT_SECRET, Harness, OTHER_CLIENT_ID, OTHER_CLIENT_SECRET, OTHER_REDIRECT_URI,
    consent_page, has_content_type, json, jwt_claims, location, query,
};

/// The second redemption of a code, `wait` after the first (on the
/// server's clock, advanced rather than waited for): HTTP 400, a
/// JSON body, `invalid_grant`; and the access token from the first
/// redemption, which the module says "should be revoked", is.
async fn code_reuse(wait: Duration) {
    let h = start().await;
    let request = Request::new("openid");
    let callback = browse(&h, None, &request).await;
    let code = expect_code(&h, &callback, &request);
    let tokens = exchange(&h, &code, ClientAuth::Basic, None).await;
    userinfo_get(&h, &tokens.access_token).await;
    h.clock.advance(wait);
    let response = h.redeem(&code).await;
    assert!(has_content_type(&response, "application/json"));
    let body = json(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(
        h.userinfo(&tokens.access_token).await.status(),
        StatusCode::UNAUTHORIZED,
        "the access token of the first redemption was not revoked"
    );
}

/// `oidcc-codereuse`: a code redeemed twice at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_codereuse() {
    code_reuse(Duration::ZERO).await;
}

/// `oidcc-codereuse-30seconds`: the same, 30 seconds later on the server's
/// clock (the code's own lifetime is 60 s, so the replay is still
/// recognised as one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_codereuse_30seconds() {
    code_reuse(Duration::from_secs(30)).await;
}

/// `oidcc-refresh-token`: with `offline_access` a refresh token is issued;
/// the refresh grant returns a working access token and an ID token with
/// the original `iss`, `sub`, `aud` and `auth_time` (Core 12.2), and a
/// second use of the old refresh token fails (RefreshTokenRequestExpectingError).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_refresh_token() {
    let h = start().await;
    assert!(strings(&h.discovery().await["grant_types_supported"]).contains(&"refresh_token"));
    let request = Request::new("openid offline_access");
    let flow = happy(&h, None, &request).await;
    let refresh_token = flow.tokens.body["refresh_token"]
        .as_str()
        .expect("a refresh token for offline_access");
    let refreshed = json(h.refresh(refresh_token, None).await, StatusCode::OK).await;
    let id_token = refreshed["id_token"].as_str().expect("an ID token");
    let claims = jwt_claims(id_token);
    for claim in ["iss", "sub", "aud", "auth_time"] {
        assert_eq!(claims[claim], flow.claims[claim], "{claim}");
    }
    assert!(claims.get("nonce").is_none(), "{claims}");
    let access_token = refreshed["access_token"].as_str().unwrap();
    assert_eq!(
        userinfo_get(&h, access_token).await["sub"],
        flow.claims["sub"]
    );
    let again = h.refresh(refresh_token, None).await;
    assert_eq!(
        json(again, StatusCode::BAD_REQUEST).await["error"],
        "invalid_grant"
    );
}

/// RefreshTokenRequestSteps as `oidcc-refresh-token` runs it for `client`:
/// the token checks (EnsureRefreshTokenContainsAllowedCharactersOnly), one
/// second's wait so that the new `iat` differs (WaitForOneSecond), the
/// refresh with `scope` (AddScopeToTokenEndpointRequest, first client
/// only), the response checks (CheckTokenEndpointHttpStatus200,
/// CheckTokenEndpointReturnedJsonContentType,
/// CheckTokenEndpointCacheHeaders, CheckTokenTypeIsBearer,
/// ValidateExpiresIn, EnsureAccessTokenValuesAreDifferent) and
/// CompareIdTokenClaims against `original`. Returns the token response.
async fn suite_refresh(
    h: &Harness,
    client: (&str, &str),
    tokens: &Value,
    scope: Option<&str>,
    original: &Value,
) -> Value {
    let refresh_token = tokens["refresh_token"]
        .as_str()
        .expect("a refresh token for offline_access");
    assert!(
        refresh_token.bytes().all(|b| (0x20..=0x7e).contains(&b)),
        "{refresh_token}"
    );
    h.clock.advance(Duration::from_secs(1));
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    form.extend(scope.map(|scope| ("scope", scope)));
    let response = h.token(Some(client), &form).await;
    let headers = response.headers().clone();
    assert!(has_content_type(&response, "application/json"));
    let has = |name: &str, expected: &str| {
        headers.get(name).is_none_or(|value| {
            value
                .to_str()
                .unwrap()
                .split(',')
                .any(|part| part.trim() == expected)
        })
    };
    assert!(headers.contains_key("cache-control"));
    assert!(has("cache-control", "no-store"), "{headers:?}");
    assert!(has("pragma", "no-cache"), "{headers:?}");
    let body = json(response, StatusCode::OK).await;
    assert!(
        body["token_type"]
            .as_str()
            .is_some_and(|t| t.eq_ignore_ascii_case("bearer")),
        "{body}"
    );
    assert!(body["expires_in"].as_u64().is_some_and(|e| e > 0), "{body}");
    assert_ne!(body["access_token"], tokens["access_token"]);
    let claims = jwt_claims(body["id_token"].as_str().expect("an ID token"));
    for claim in ["iss", "sub", "aud", "azp", "auth_time"] {
        assert_eq!(claims[claim], original[claim], "{claim}");
    }
    assert_ne!(
        claims["iat"], original["iat"],
        "iat must be the new token's"
    );
    body
}

/// `oidcc-refresh-token` as the suite runs it with its two clients
/// (AbstractOIDCCMultipleClient), beyond `oidcc_refresh_token`: each client
/// authorizes with `prompt=consent` (added for offline_access; the user
/// approves on the consent page it brings up), refreshes
/// (the first client repeating its scope, the second sending none) and
/// calls the protected resource with the new token; finally the second
/// client's refresh token, presented by the first client, must be refused
/// with a JSON 400 invalid_grant (RefreshTokenRequestExpectingErrorSteps).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_refresh_token_two_clients() {
    let h = start().await;
    let scope = "openid offline_access";

    let request = Request::new(scope).set("prompt", "consent");
    let first = happy(&h, None, &request).await;
    let refreshed = suite_refresh(
        &h,
        (CLIENT_ID, CLIENT_SECRET),
        &first.tokens.body,
        Some(scope),
        &first.claims,
    )
    .await;
    userinfo_get(&h, refreshed["access_token"].as_str().unwrap()).await;

    let (state, nonce) = (random(22), random(22));
    let session = first.session.as_str();
    let page = consent_page(
        h.authorize(
            Some(session),
            &[
                ("response_type", "code"),
                ("client_id", OTHER_CLIENT_ID),
                ("redirect_uri", OTHER_REDIRECT_URI),
                ("scope", scope),
                ("state", &state),
                ("nonce", &nonce),
                ("prompt", "consent"),
            ],
        )
        .await,
    )
    .await;
    let response = h.decide_consent(&page, session, "allow").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let callback = location(&response);
    assert!(
        callback.as_str().starts_with(OTHER_REDIRECT_URI),
        "{callback}"
    );
    assert_eq!(query(&callback, "state").as_deref(), Some(state.as_str()));
    let code = query(&callback, "code").expect("a code");
    let second_client = (OTHER_CLIENT_ID, OTHER_CLIENT_SECRET);
    let tokens = json(
        h.token(
            Some(second_client),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", OTHER_REDIRECT_URI),
            ],
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let claims = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["aud"], OTHER_CLIENT_ID);
    assert_eq!(claims["nonce"].as_str(), Some(nonce.as_str()));
    let second = suite_refresh(&h, second_client, &tokens, None, &claims).await;
    userinfo_get(&h, second["access_token"].as_str().unwrap()).await;

    let response = h
        .token(
            Some((CLIENT_ID, CLIENT_SECRET)),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", second["refresh_token"].as_str().unwrap()),
                ("scope", scope),
            ],
        )
        .await;
    assert!(has_content_type(&response, "application/json"));
    let body = json(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(body["error"], "invalid_grant");
}
