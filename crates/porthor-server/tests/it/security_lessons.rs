//! One test per applicable row of the security-lessons table (advisories in
//! other OpenID providers, `shared/reference/security-lessons.md`), each named
//! after its row: the attack that worked there, tried here. Rows that do not
//! apply (no SAML, no JWT client authentication) say why in
//! docs/security.md; the first of them is still tested to be refused.

use reqwest::StatusCode;
use reqwest::header::LOCATION;

use crate::harness::{
    APP, CHALLENGE, CLIENT_ID, CLIENT_SECRET, Harness, OTHER_APP_REDIRECT_URI, OTHER_CLIENT_ID,
    OTHER_REDIRECT_URI, PKCE_CLIENT_ID, PKCE_CLIENT_SECRET, REDIRECT_URI, StoreKind, VERIFIER,
    error_page, json, location, query, token_error,
};

/// The parameters of a request by the app client to `redirect_uri`.
fn request(redirect_uri: &str) -> Vec<(&str, &str)> {
    vec![
        ("response_type", "code"),
        ("client_id", CLIENT_ID),
        ("redirect_uri", redirect_uri),
        ("scope", "openid"),
        ("state", "s-1"),
    ]
}

/// Asserts that an authorization request to `redirect_uri`, with a live
/// session, is answered with an error page: no code, no redirect anywhere.
async fn assert_not_redirected(h: &Harness, session: &str, redirect_uri: &str) {
    let response = h.authorize(Some(session), &request(redirect_uri)).await;
    error_page(response, redirect_uri).await;
}

/// Row 1, Dex GHSA-vh7g-p26c-j2cw: an attacker learned the id of a pending
/// authorization request and polled for the code once the victim logged
/// in. Porthor keeps no pending request: nothing is stored for an anonymous
/// request (the request rides along in the login form's `rd`), so there is
/// nothing to poll, and knowing every parameter of the victim's request
/// without the victim's session cookie only leads to the login form.
async fn dex_ghsa_vh7g_p26c_j2cw_no_pollable_request_state(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let params = request(REDIRECT_URI);
    let anonymous = h.authorize(None, &params).await;
    assert_eq!(anonymous.status(), StatusCode::FOUND);
    assert!(location(&anonymous).path().ends_with("/login"));
    if backend == StoreKind::Redis {
        assert!(
            h.stored_keys("*").await.is_empty(),
            "an anonymous request stored state"
        );
    }

    let victim = h.login().await;
    let code = h.authorize(Some(&victim), &params).await;
    assert!(location(&code).as_str().starts_with(REDIRECT_URI));
    // The attacker replays the very same request without the cookie.
    let attacker = h.authorize(None, &params).await;
    assert!(query(&location(&attacker), "code").is_none());
    assert!(location(&attacker).path().ends_with("/login"));
}

/// Row 3, Hydra GHSA-3p3g-vpw6-4w66: a `private_key_jwt` assertion could be
/// replayed. Porthor supports no JWT client authentication: discovery does
/// not offer it, and a client assertion authenticates nobody.
async fn hydra_ghsa_3p3g_vpw6_4w66_no_jwt_client_authentication(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let discovery = h.discovery().await;
    let methods = discovery["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap();
    assert!(
        methods.iter().all(|m| !m.as_str().unwrap().contains("jwt")),
        "{methods:?}"
    );
    let session = h.login().await;
    let code = h.code(&session).await;
    let response = h
        .token(
            None,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT_URI),
                ("client_id", CLIENT_ID),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                (
                    "client_assertion",
                    "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhcHAifQ.",
                ),
            ],
        )
        .await;
    token_error(response, StatusCode::BAD_REQUEST, "invalid_client").await;
}

/// Row 4, fosite GHSA-rfq3-w54c-f9q5: loopback redirect URIs were matched
/// without their query. Porthor compares the whole URI, query included, for
/// loopback URIs as for any other.
async fn fosite_ghsa_rfq3_w54c_f9q5_query_is_part_of_the_match(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    for uri in [
        "https://app.example.com/other",
        "https://app.example.com/other?keep=2",
        "https://app.example.com/other?keep=1&evil=1",
        "https://app.example.com/callback?x=1",
        "http://127.0.0.1:9999/cb?x=1",
    ] {
        assert_not_redirected(&h, &session, uri).await;
    }
    // The registered query itself is kept.
    let response = h
        .authorize(Some(&session), &request(OTHER_APP_REDIRECT_URI))
        .await;
    let url = location(&response);
    assert!(url.as_str().starts_with(OTHER_APP_REDIRECT_URI), "{url}");
    assert_eq!(query(&url, "keep").as_deref(), Some("1"));
}

/// Row 6, Keycloak CVE-2024-8883: a registered `localhost` or `127.0.0.1`
/// URI allowed redirects elsewhere. No loopback widening here: another port,
/// path or loopback name is another URI.
async fn keycloak_cve_2024_8883_no_loopback_widening(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    for uri in [
        "http://127.0.0.1:1234/cb",
        "http://127.0.0.1/cb",
        "http://localhost:9999/cb",
        "http://[::1]:9999/cb",
        "http://127.0.0.2:9999/cb",
        "http://127.0.0.1:9999/cb/evil",
    ] {
        let mut params = request(uri);
        params[1] = ("client_id", OTHER_CLIENT_ID);
        let response = h.authorize(Some(&session), &params).await;
        error_page(response, uri).await;
    }
    let mut params = request(OTHER_REDIRECT_URI);
    params[1] = ("client_id", OTHER_CLIENT_ID);
    let response = h.authorize(Some(&session), &params).await;
    assert!(location(&response).as_str().starts_with(OTHER_REDIRECT_URI));
}

/// Row 7, Keycloak CVE-2026-7504: a redirect URI with userinfo (several `@`)
/// was parsed one way by the check and another by the browser. A request
/// URI is compared as a string, so userinfo never matches; and no URI with
/// userinfo can be registered (porthor-models refuses it).
async fn keycloak_cve_2026_7504_userinfo_never_matches(backend: StoreKind) {
    never_matched_nor_registered(
        backend,
        &[
            "https://app.example.com@evil.example/callback",
            "https://evil.example@app.example.com/callback",
            "https://a@b@app.example.com/callback",
            "https://app.example.com:443@evil.example/callback",
        ],
    )
    .await;
}

/// Row 8, Keycloak CVE-2026-3872: `..;/` slipped past a path check. Exact
/// matching refuses every such variant; registering one is refused too.
async fn keycloak_cve_2026_3872_no_path_traversal(backend: StoreKind) {
    never_matched_nor_registered(
        backend,
        &[
            "https://app.example.com/callback/..;/evil",
            "https://app.example.com/callback/../evil",
            "https://app.example.com/callback/%2e%2e/evil",
            "https://app.example.com/evil/../callback",
            "https://app.example.com/callback;jsessionid=x",
            "https://app.example.com//callback",
        ],
    )
    .await;
}

/// Each of `uris` (none of them registered) is refused at the
/// authorization endpoint with a session, without a redirect, and could not
/// be registered either.
async fn never_matched_nor_registered(backend: StoreKind, uris: &[&str]) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    for uri in uris {
        assert_not_redirected(&h, &session, uri).await;
        assert!(porthor_models::RedirectUri::parse(uri).is_err(), "{uri}");
    }
}

/// Row 9, Keycloak GHSA-mpwq-j3xf-7m5w and GHSA-9vm7-v8wj-3fqw: an open
/// redirect through `response_mode=form_post.jwt`. Unsupported response
/// modes are refused, to an unregistered URI never by redirect, and to a
/// registered one only by the query-string error redirect.
async fn keycloak_ghsa_9vm7_v8wj_3fqw_unsupported_response_mode(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    for mode in ["form_post.jwt", "form_post", "fragment", "jwt"] {
        let mut params = request("https://evil.example/cb");
        params.push(("response_mode", mode));
        let response = h.authorize(Some(&session), &params).await;
        error_page(response, mode).await;

        let mut params = request(REDIRECT_URI);
        params.push(("response_mode", mode));
        let response = h.authorize(Some(&session), &params).await;
        assert_eq!(response.status(), StatusCode::FOUND, "{mode}");
        let url = location(&response);
        assert!(url.as_str().starts_with(REDIRECT_URI), "{mode}: {url}");
        assert_eq!(query(&url, "error").as_deref(), Some("invalid_request"));
        assert!(query(&url, "code").is_none());
    }
}

/// Rows 10 and 11, Kanidm #1097 and Keycloak #26430: a `code_verifier` was
/// accepted for a code issued without a challenge (a PKCE downgrade). Here
/// it is refused, and the code is spent. The error is `invalid_grant`, as
/// RFC 7636 4.6 says for a failed verification: the grant itself is what
/// does not check out.
async fn kanidm_1097_keycloak_26430_no_pkce_downgrade(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let code = h.code(&session).await;
    let response = h
        .token(
            Some(APP),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
    token_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
    // Spent: the same code without the verifier fails too.
    token_error(
        h.redeem(&code).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;

    // And the other way round: a code issued with a challenge needs it.
    let mut params = request(REDIRECT_URI);
    params[1] = ("client_id", PKCE_CLIENT_ID);
    params.extend([
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]);
    let response = h.authorize(Some(&session), &params).await;
    let code = query(&location(&response), "code").unwrap();
    let response = h
        .token(
            Some((PKCE_CLIENT_ID, PKCE_CLIENT_SECRET)),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT_URI),
            ],
        )
        .await;
    token_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

/// Row 12, Kanidm #2775: a code could be exchanged many times within its
/// lifetime. The second redemption is a 400 `invalid_grant` JSON answer.
async fn kanidm_2775_second_redemption_is_invalid_grant(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let code = h.code(&session).await;
    json(h.redeem(&code).await, StatusCode::OK).await;
    let response = h.redeem(&code).await;
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    token_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

/// Row 13, django-oidc-provider #410: concurrent redemptions of one code all
/// succeeded (check, then delete). Of many at once, exactly one wins.
async fn django_oidc_provider_410_concurrent_redemptions_one_wins(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let code = h.code(&session).await;
    let mut redemptions = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let request = h
            .http
            .post(h.url("/auth/openid/token"))
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", REDIRECT_URI),
            ]);
        redemptions.spawn(async move { request.send().await.unwrap().status() });
    }
    let statuses = redemptions.join_all().await;
    let won = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(won, 1, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::BAD_REQUEST),
        "{statuses:?}"
    );
}

/// Row 15, Rauthy #1208: a client's access rule was skipped when an
/// existing session was reused. Every authorization request is checked
/// against its own client's rules, however the session was made: a
/// session started through one client does not excuse another client's
/// required PKCE.
async fn rauthy_1208_client_rules_apply_to_a_reused_session(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    h.code(&session).await;
    let mut params = request(REDIRECT_URI);
    params[1] = ("client_id", PKCE_CLIENT_ID);
    let response = h.authorize(Some(&session), &params).await;
    let url = location(&response);
    assert_eq!(query(&url, "error").as_deref(), Some("invalid_request"));
    assert!(query(&url, "code").is_none());
}

/// Row 16, Authelia CVE-2021-32637: a malformed request was taken for an
/// authorized one. Malformed authorization requests, even with a live
/// session, get an error, never a code.
async fn authelia_cve_2021_32637_malformed_requests_never_succeed(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let base = "response_type=code&scope=openid&state=s";
    let cookie = crate::harness::session_cookie(&session);
    for query_string in [
        format!("{base}&client_id=app&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcallback%00"),
        format!("{base}&client_id=app%00&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcallback"),
        format!("{base}&client_id=app&client_id=other&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcallback"),
        format!("{base}&client_id=app&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcallback&redirect_uri=http%3A%2F%2F127.0.0.1%3A9999%2Fcb"),
        format!("{base}&client_id=app&redirect_uri=%E0%A4%A"),
        format!("{base}&client_id=app&redirect_uri=https://app.example.com/callback%"),
        "client_id=app&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcallback&response_type=token&scope=openid".to_owned(),
        "client_id=app&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcallback&response_type=code%20id_token&scope=openid".to_owned(),
    ] {
        let response = h
            .http
            .get(format!("{}?{query_string}", h.url("/auth/openid/login")))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        let code = response
            .headers()
            .get(LOCATION)
            .and_then(|l| url::Url::parse(l.to_str().unwrap()).ok())
            .and_then(|url| query(&url, "code"));
        assert!(code.is_none(), "{query_string}: a code");
        assert!(
            response.status().is_client_error() || response.status() == StatusCode::FOUND,
            "{query_string}: {}",
            response.status()
        );
    }
}

/// Row 17, Rauthy (code reading): the token request's `redirect_uri` was
/// only checked to be registered, not to equal the authorization request's
/// (RFC 6749 4.1.3). Another registered URI is refused.
async fn rauthy_redirect_uri_must_equal_the_authorization_requests(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let code = h.code(&session).await;
    let response = h
        .token(
            Some(APP),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", OTHER_APP_REDIRECT_URI),
            ],
        )
        .await;
    token_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

/// Rows 18 and 19, Gafaelfawr's baseline and Dex's 30-minute codes: codes
/// live 60 seconds (RFC 6749 4.1.2 allows ten minutes at most), in Redis
/// too; `plain` PKCE is refused.
async fn gafaelfawr_and_dex_code_lifetime_is_60_seconds(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let code = h.code(&session).await;
    if backend == StoreKind::Redis {
        let pttl = porthor_test_support::raw_pttl(
            &porthor_test_support::redis_url(),
            &h.code_storage_key(&code),
        )
        .await;
        assert!((1..=60_000).contains(&pttl), "code PTTL {pttl}");
    }
    h.clock.advance(std::time::Duration::from_secs(60));
    token_error(
        h.redeem(&code).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;

    let mut params = request(REDIRECT_URI);
    params.extend([
        ("code_challenge", VERIFIER),
        ("code_challenge_method", "plain"),
    ]);
    let response = h.authorize(Some(&session), &params).await;
    assert_eq!(
        query(&location(&response), "error").as_deref(),
        Some("invalid_request")
    );
}

/// Row 20, mix-up attacks (RFC 9207): `iss` is on every authorization
/// response, success or error, and discovery says so.
async fn rfc_9207_iss_on_every_authorization_response(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let discovery = h.discovery().await;
    assert_eq!(
        discovery["authorization_response_iss_parameter_supported"],
        true
    );
    let session = h.login().await;
    let success = location(&h.authorize(Some(&session), &request(REDIRECT_URI)).await);
    let mut params = request(REDIRECT_URI);
    params[3] = ("scope", "profile");
    let error = location(&h.authorize(Some(&session), &params).await);
    let mut params = request(REDIRECT_URI);
    params.push(("prompt", "none"));
    let login_required = location(&h.authorize(None, &params).await);
    for url in [success, error, login_required] {
        assert_eq!(
            query(&url, "iss").as_deref(),
            Some(h.issuer.as_str()),
            "{url}"
        );
        assert_eq!(query(&url, "state").as_deref(), Some("s-1"), "{url}");
    }
}

/// Row 21, Dex #1292: every unauthenticated authorization request stored a
/// record, until garbage collection fell over. Here anonymous requests
/// store nothing, and everything a login and a grant store has a TTL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dex_1292_no_state_before_login_and_a_ttl_on_everything() {
    let h = Harness::start(StoreKind::Redis).await;
    for i in 0..200 {
        let state = format!("s-{i}");
        let mut params = request(REDIRECT_URI);
        params[4] = ("state", &state);
        assert_eq!(h.authorize(None, &params).await.status(), StatusCode::FOUND);
    }
    assert!(h.stored_keys("*").await.is_empty());

    let session = h.login().await;
    let grant = h.grant(&session, crate::harness::OFFLINE).await;
    assert!(grant["refresh_token"].is_string());
    let keys = h.stored_keys("*").await;
    assert!(keys.len() >= 4, "{keys:?}");
    for key in keys {
        let pttl = porthor_test_support::raw_pttl(&porthor_test_support::redis_url(), &key).await;
        assert!(pttl > 0, "{key} has no TTL ({pttl})");
    }
}

/// Row 22, Rauthy (code reading): a registered URI ending in `*` matched by
/// raw prefix, so `https://app.example.com*` also matched
/// `https://app.example.com.evil.tld/...`. Porthor matches whole URIs only.
async fn rauthy_wildcard_prefix_never_matches(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    for uri in [
        "https://app.example.com.evil.tld/callback",
        "https://app.example.com/callbackx",
        "https://app.example.com/callback/",
        "https://app.example.com/callback/extra",
        "https://app.example.com:8443/callback",
        "https://APP.example.com/callback",
        "http://app.example.com/callback",
    ] {
        assert_not_redirected(&h, &session, uri).await;
    }
}

crate::on_both_stores!(
    dex_ghsa_vh7g_p26c_j2cw_no_pollable_request_state,
    hydra_ghsa_3p3g_vpw6_4w66_no_jwt_client_authentication,
    fosite_ghsa_rfq3_w54c_f9q5_query_is_part_of_the_match,
    keycloak_cve_2024_8883_no_loopback_widening,
    keycloak_cve_2026_7504_userinfo_never_matches,
    keycloak_cve_2026_3872_no_path_traversal,
    keycloak_ghsa_9vm7_v8wj_3fqw_unsupported_response_mode,
    kanidm_1097_keycloak_26430_no_pkce_downgrade,
    kanidm_2775_second_redemption_is_invalid_grant,
    django_oidc_provider_410_concurrent_redemptions_one_wins,
    rauthy_1208_client_rules_apply_to_a_reused_session,
    authelia_cve_2021_32637_malformed_requests_never_succeed,
    rauthy_redirect_uri_must_equal_the_authorization_requests,
    gafaelfawr_and_dex_code_lifetime_is_60_seconds,
    rfc_9207_iss_on_every_authorization_response,
    rauthy_wildcard_prefix_never_matches,
);
