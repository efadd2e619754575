//! `OIDCCBasicTestPlan` (certification profile "Basic OP"): its modules on
//! the authorization request, the ID token, userinfo, scopes, `prompt` and
//! `max_age`, request objects and PKCE. (Its code reuse and refresh-token
//! modules are `code_reuse_and_refresh.rs`'s.)

use std::str::FromStr as _;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::PkceCodeChallenge;
use openidconnect::core::CoreIdToken;
use porthor_signer::SigningAlgorithm;
use reqwest::StatusCode;
use reqwest::header::COOKIE;

use super::suite::{
    ClientAuth, Request, browse, check_standard_claims, complete, expect_error, expect_error_page,
    first_login, follow, happy, query_beside_request_object, random, same_authentication,
    scopes_supported, start, start_signing, strings, unsigned_request_object, userinfo_get,
};
use crate::harness::{
    REDIRECT_URI, USERNAME, has_content_type, json, jwt_header, location, nonce_is, rp_verifier,
    session_cookie, with_altered_signature,
};

/// `oidcc-server`: the happy path. A fresh browser logs in, the code comes
/// back with the state and `iss`, the token request with HTTP Basic returns
/// an ID token that verifies against the JWKS and carries the nonce, and the
/// access token reaches userinfo.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_server() {
    let h = start().await;
    let request = Request::new("openid");
    let flow = happy(&h, None, &request).await;
    assert!(flow.showed_login);
    assert_eq!(flow.claims["sub"], USERNAME);
    assert_eq!(flow.tokens.body["scope"], "openid");
}

/// `oidcc-response-type-missing`: without `response_type` the server shows
/// an error page or sends `invalid_request` (or
/// `unsupported_response_type`) back to the client; never a code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_response_type_missing() {
    let h = start().await;
    let session = h.login().await;
    let request = Request::new("openid").remove("response_type");
    for cookie in [None, Some(session.as_str())] {
        let response = h.authorize(cookie, &request.pairs()).await;
        assert_eq!(response.status(), StatusCode::FOUND);
        expect_error(
            &h,
            &location(&response),
            request.get("state"),
            &["invalid_request", "unsupported_response_type"],
        );
    }
}

/// `oidcc-idtoken-signature` (OP-IDToken-Signature and OP-IDToken-kid): the
/// ID token is signed with an advertised algorithm by a key the header names
/// by `kid` and the JWKS publishes; an altered signature does not verify.
/// For each algorithm Porthor signs with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_idtoken_signature() {
    for algorithm in [
        SigningAlgorithm::Rs256,
        SigningAlgorithm::Es256,
        SigningAlgorithm::EdDsa,
    ] {
        let h = start_signing(algorithm).await;
        let request = Request::new("openid");
        let flow = happy(&h, None, &request).await;
        let header = jwt_header(&flow.tokens.id_token);
        assert_eq!(header["alg"], algorithm.as_str());
        assert_eq!(header["kid"], h.service.jwks().keys[0].kid.as_str());

        let keys = h.jwks().await;
        let verifier = rp_verifier(&keys, &h.issuer, &[algorithm.as_str()]);
        let forged = CoreIdToken::from_str(&with_altered_signature(&flow.tokens.id_token)).unwrap();
        assert!(
            forged
                .claims(&verifier, nonce_is(request.get("nonce")))
                .is_err(),
            "{algorithm:?}: an altered signature verified"
        );
    }
}

/// `oidcc-idtoken-unsigned` (OP-IDToken-none): not applicable to static
/// clients, and skipped when `none` is not in
/// `id_token_signing_alg_values_supported`. Porthor never issues unsigned ID
/// tokens: `none` is not advertised, the issued token is signed, and Porthor
/// itself refuses an unsigned copy of its own token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_idtoken_unsigned() {
    let h = start().await;
    let algs = h.discovery().await["id_token_signing_alg_values_supported"].clone();
    assert!(!strings(&algs).contains(&"none"), "{algs}");
    let flow = happy(&h, None, &Request::new("openid")).await;
    let header = jwt_header(&flow.tokens.id_token);
    assert_ne!(header["alg"], "none");
    let parts: Vec<&str> = flow.tokens.id_token.split('.').collect();
    assert!(!parts[2].is_empty(), "no signature");
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        parts[1]
    );
    let now = h.clock.now();
    assert!(h.service.verify_token(&unsigned, now).is_err());
    assert!(h.service.verify_token(&flow.tokens.id_token, now).is_ok());
}

/// `oidcc-userinfo-get`: userinfo by GET with the bearer token in the
/// header returns JSON with the ID token's `sub`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_userinfo_get() {
    let h = start().await;
    let flow = happy(&h, None, &Request::new("openid")).await;
    // `happy` called userinfo by GET and compared the subjects; again, as
    // the module's own step.
    let claims = userinfo_get(&h, &flow.tokens.access_token).await;
    assert_eq!(claims, serde_json::json!({"sub": USERNAME}));
}

/// `oidcc-userinfo-post-header`: userinfo by POST with the bearer token in
/// the `Authorization` header (and no body).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_userinfo_post_header() {
    let h = start().await;
    let flow = happy(&h, None, &Request::new("openid")).await;
    let response = h
        .http
        .post(h.url("/auth/openid/userinfo"))
        .bearer_auth(&flow.tokens.access_token)
        .send()
        .await
        .unwrap();
    assert!(has_content_type(&response, "application/json"));
    let claims = json(response, StatusCode::OK).await;
    assert_eq!(claims["sub"], flow.claims["sub"]);
    check_standard_claims(&claims);
}

/// `oidcc-userinfo-post-body`: the access token as the `access_token` form
/// parameter (RFC 6750 2.2, which servers MAY support). The module passes
/// with a WARNING on an HTTP error; Porthor reads bearer tokens from the
/// header only, so the request counts as unauthenticated: 401 with a bare
/// `Bearer` challenge (RFC 6750 3.1), and the token stays good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_userinfo_post_body() {
    let h = start().await;
    let flow = happy(&h, None, &Request::new("openid")).await;
    let response = h
        .http
        .post(h.url("/auth/openid/userinfo"))
        .form(&[("access_token", flow.tokens.access_token.as_str())])
        .send()
        .await
        .unwrap();
    match response.status() {
        StatusCode::OK => {
            let claims = json(response, StatusCode::OK).await;
            assert_eq!(claims["sub"], flow.claims["sub"]);
        }
        StatusCode::UNAUTHORIZED => {
            let challenge = response.headers()["www-authenticate"].to_str().unwrap();
            assert!(challenge.starts_with("Bearer"), "{challenge}");
        }
        status => panic!("userinfo with the token in the body answered {status}"),
    }
    userinfo_get(&h, &flow.tokens.access_token).await;
}

/// `oidcc-ensure-request-without-nonce-succeeds-for-code-flow`: `nonce` is
/// optional in the code flow; the ID token then has none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_ensure_request_without_nonce_succeeds_for_code_flow() {
    let h = start().await;
    let request = Request::new("openid").remove("nonce");
    let flow = happy(&h, None, &request).await;
    assert!(flow.claims.get("nonce").is_none(), "{}", flow.claims);
}

/// `oidcc-scope-profile`: skipped unless `profile` is advertised; userinfo
/// then returns the profile claims Porthor has.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_scope_profile() {
    let h = start().await;
    assert!(scopes_supported(&h).await.contains(&"profile".to_owned()));
    let flow = happy(&h, None, &Request::new("openid profile")).await;
    assert_eq!(flow.tokens.body["scope"], "openid profile");
    assert_eq!(flow.userinfo["name"], "Alice Example");
    assert_eq!(flow.userinfo["preferred_username"], USERNAME);
    assert!(flow.userinfo.get("email").is_none(), "{}", flow.userinfo);
}

/// `oidcc-scope-email`: skipped unless `email` is advertised; userinfo then
/// returns `email`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_scope_email() {
    let h = start().await;
    assert!(scopes_supported(&h).await.contains(&"email".to_owned()));
    let flow = happy(&h, None, &Request::new("openid email")).await;
    assert_eq!(flow.tokens.body["scope"], "openid email");
    assert_eq!(flow.userinfo["email"], "alice@example.com");
    assert!(flow.userinfo.get("name").is_none(), "{}", flow.userinfo);
}

/// A scope Porthor does not support: absent from `scopes_supported`, so the
/// module skips itself (OIDCCCheckScopesSupportedContainScopeTest). The
/// request must still not break: Porthor ignores the unknown scope (RFC 6749
/// 3.3 lets it grant less than asked, and says so in the token response's
/// `scope`) and releases none of its claims.
async fn unsupported_scope(scope: &str, claims: &[&str]) {
    let h = start().await;
    assert!(
        !scopes_supported(&h).await.contains(&scope.to_owned()),
        "{scope} is advertised"
    );
    let flow = happy(&h, None, &Request::new(&format!("openid {scope}"))).await;
    assert_eq!(flow.tokens.body["scope"], "openid");
    for claim in claims {
        assert!(flow.userinfo.get(claim).is_none(), "{}", flow.userinfo);
        assert!(flow.claims.get(claim).is_none(), "{}", flow.claims);
    }
}

/// `oidcc-scope-address`: see [`unsupported_scope`].
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_scope_address() {
    unsupported_scope("address", &["address"]).await;
}

/// `oidcc-scope-phone`: see [`unsupported_scope`].
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_scope_phone() {
    unsupported_scope("phone", &["phone_number", "phone_number_verified"]).await;
}

/// `oidcc-scope-all`: `openid profile email address phone`. Skipped by the
/// suite because `address` and `phone` are not advertised; the request
/// still succeeds with the scopes Porthor has.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_scope_all() {
    let h = start().await;
    let supported = scopes_supported(&h).await;
    assert!(!supported.contains(&"address".to_owned()) && !supported.contains(&"phone".to_owned()));
    let flow = happy(
        &h,
        None,
        &Request::new("openid profile email address phone"),
    )
    .await;
    assert_eq!(flow.tokens.body["scope"], "openid profile email");
    assert_eq!(
        flow.userinfo,
        serde_json::json!({
            "sub": USERNAME,
            "name": "Alice Example",
            "preferred_username": USERNAME,
            "email": "alice@example.com",
        })
    );
}

/// `oidcc-ensure-other-scope-order-succeeds`: `email openid`, the reverse of
/// `oidcc-scope-email`; order does not matter (RFC 6749 3.3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_ensure_other_scope_order_succeeds() {
    let h = start().await;
    let flow = happy(&h, None, &Request::new("email openid")).await;
    assert_eq!(flow.userinfo["email"], "alice@example.com");
}

/// `oidcc-display-page`: `display=page` must not break the flow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_display_page() {
    let h = start().await;
    let flow = happy(&h, None, &Request::new("openid").set("display", "page")).await;
    assert!(flow.showed_login);
}

/// `oidcc-display-popup`: `display=popup` must not break the flow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_display_popup() {
    let h = start().await;
    let flow = happy(&h, None, &Request::new("openid").set("display", "popup")).await;
    assert!(flow.showed_login);
}

/// `oidcc-prompt-login`: authorize, then again with `prompt=login`: the
/// user must see the login page again (the suite asks for a screenshot), and
/// the second `auth_time` differs (CheckIdTokenAuthTimeClaimsDifferIfPresent).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_prompt_login() {
    let h = start().await;
    let first = first_login(&h).await;
    // A person takes a while to log in again; auth_time is in whole
    // seconds.
    h.clock.advance(Duration::from_secs(1));
    let request = Request::new("openid").set("prompt", "login");
    let second = happy(&h, Some(&first.session), &request).await;
    assert!(
        second.showed_login,
        "prompt=login did not show the login page"
    );
    assert_eq!(second.claims["sub"], first.claims["sub"]);
    assert_ne!(second.claims["auth_time"], first.claims["auth_time"]);
}

/// `oidcc-prompt-none-not-logged-in`: `prompt=none` without a session (and
/// with a cookie that is no session) redirects at once with an error that
/// "requires a user interface", a 128-character state intact, and `iss`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_prompt_none_not_logged_in() {
    let h = start().await;
    let state = random(128);
    let request = Request::new("openid")
        .set("prompt", "none")
        .set("state", &state);
    for cookie in [None, Some("ps-garbage.garbage")] {
        let response = h.authorize(cookie, &request.pairs()).await;
        assert_eq!(response.status(), StatusCode::FOUND);
        expect_error(
            &h,
            &location(&response),
            Some(&state),
            &[
                "login_required",
                "interaction_required",
                "account_selection_required",
                "consent_required",
            ],
        );
    }
}

/// `oidcc-prompt-none-logged-in`: authorize, then again with `prompt=none`:
/// a code at once, for the same login.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_prompt_none_logged_in() {
    let h = start().await;
    let first = first_login(&h).await;
    let request = Request::new("openid").set("prompt", "none");
    let second = happy(&h, Some(&first.session), &request).await;
    same_authentication(&first, &second);
}

/// `oidcc-max-age-1`: authorize, wait two seconds, then again with
/// `max_age=1`: the user must log in again, and the second ID token has an
/// `auth_time` that is later than the first and recent
/// (CheckIdTokenAuthTimeClaimPresentDueToMaxAge,
/// CheckSecondIdTokenAuthTimeIsLaterIfPresent,
/// CheckIdTokenAuthTimeIsRecentIfPresent).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_max_age_1() {
    let h = start().await;
    let first = first_login(&h).await;
    h.clock.advance(Duration::from_secs(2));
    let request = Request::new("openid").set("max_age", "1");
    let second = happy(&h, Some(&first.session), &request).await;
    assert!(second.showed_login, "max_age=1 did not show the login page");
    let auth_time = second.claims["auth_time"]
        .as_i64()
        .expect("auth_time is required with max_age");
    assert!(auth_time > first.claims["auth_time"].as_i64().unwrap());
    let now = i64::try_from(h.clock.now().as_unix()).unwrap();
    assert!(
        (now - 60..=now).contains(&auth_time),
        "auth_time {auth_time}"
    );
}

/// `oidcc-max-age-10000`: authorize, then again with `max_age=10000`: the
/// login is recent enough, so no new login and the same `auth_time`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_max_age_10000() {
    let h = start().await;
    let first = first_login(&h).await;
    let request = Request::new("openid").set("max_age", "10000");
    let second = happy(&h, Some(&first.session), &request).await;
    same_authentication(&first, &second);
    assert!(second.claims["auth_time"].is_i64());
}

/// `oidcc-ensure-request-with-unknown-parameter-succeeds`: an unknown
/// parameter is ignored (RFC 6749 3.1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_ensure_request_with_unknown_parameter_succeeds() {
    let h = start().await;
    happy(&h, None, &Request::new("openid").set("extra", "foobar")).await;
}

/// `oidcc-id-token-hint`: authorize, then again with `prompt=none` and the
/// first ID token as `id_token_hint`: a code at once, for the same login.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_id_token_hint() {
    let h = start().await;
    let first = first_login(&h).await;
    let request = Request::new("openid")
        .set("prompt", "none")
        .set("id_token_hint", &first.tokens.id_token);
    let second = happy(&h, Some(&first.session), &request).await;
    same_authentication(&first, &second);
}

/// `oidcc-login-hint`: `login_hint` must not break the flow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_login_hint() {
    let h = start().await;
    let flow = happy(
        &h,
        None,
        &Request::new("openid").set("login_hint", USERNAME),
    )
    .await;
    assert_eq!(flow.claims["sub"], USERNAME);
}

/// `oidcc-ui-locales`: `ui_locales` must not break the flow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_ui_locales() {
    let h = start().await;
    happy(&h, None, &Request::new("openid").set("ui_locales", "se")).await;
}

/// `oidcc-claims-locales`: `claims_locales` must not break the flow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_claims_locales() {
    let h = start().await;
    happy(
        &h,
        None,
        &Request::new("openid profile").set("claims_locales", "se"),
    )
    .await;
}

/// `oidcc-ensure-request-with-acr-values-succeeds`: `acr_values` (Porthor
/// advertises no `acr_values_supported`, so the suite sends `1 2`) must not
/// break the flow (Core 15.1: "the minimum level of support required for
/// this parameter is simply to have its use not result in an error"). The
/// suite WARNS when the ID token has no `acr` with a requested value:
/// Porthor sends no `acr`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_ensure_request_with_acr_values_succeeds() {
    let h = start().await;
    assert!(h.discovery().await.get("acr_values_supported").is_none());
    let flow = happy(&h, None, &Request::new("openid").set("acr_values", "1 2")).await;
    if let Some(acr) = flow.claims.get("acr") {
        assert!(acr == "1" || acr == "2", "acr {acr}");
    }
}

/// `oidcc-ensure-registered-redirect-uri`: an unregistered `redirect_uri`
/// gets an error page (the suite asks for a screenshot) and is never
/// redirected to, logged in or not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_ensure_registered_redirect_uri() {
    let h = start().await;
    let session = h.login().await;
    let unregistered = format!("{REDIRECT_URI}/{}", random(10));
    let request = Request::new("openid").set("redirect_uri", &unregistered);
    for cookie in [None, Some(session.as_str())] {
        let response = h.authorize(cookie, &request.pairs()).await;
        expect_error_page(response, &unregistered).await;
    }
}

/// `oidcc-ensure-post-request-succeeds`: the authorization request as a
/// form POST (Core 3.1.2.1). A browser without a session is sent to log in
/// (303, so it follows with GET) and then on to the client, and one with a
/// session straight to the client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_ensure_post_request_succeeds() {
    let h = start().await;
    let post = |session: Option<String>, request: Request| {
        let mut builder = h
            .http
            .post(h.url("/auth/openid/login"))
            .form(&request.params);
        if let Some(session) = session {
            builder = builder.header(COOKIE, session_cookie(&session));
        }
        builder.send()
    };
    let request = Request::new("openid");
    let response = post(None, request.clone()).await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let callback = follow(&h, None, response).await;
    assert!(callback.showed_login);
    let first = complete(&h, callback, &request, ClientAuth::Basic, None).await;

    let request = Request::new("openid");
    let response = post(Some(first.session.clone()), request.clone())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let callback = follow(&h, Some(&first.session), response).await;
    let second = complete(&h, callback, &request, ClientAuth::Basic, None).await;
    same_authentication(&first, &second);
}

/// `oidcc-server-client-secret-post`: the happy path with the client's
/// credentials in the token request's body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_server_client_secret_post() {
    let h = start().await;
    let doc = h.discovery().await;
    assert!(strings(&doc["token_endpoint_auth_methods_supported"]).contains(&"client_secret_post"));
    let request = Request::new("openid");
    let callback = browse(&h, None, &request).await;
    complete(&h, callback, &request, ClientAuth::Post, None).await;
}

/// `oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported`
/// (the Basic plan's `request_uri` module): the request by reference must
/// work or be refused with `request_uri_not_supported`. Porthor refuses it,
/// says so in discovery, and redirects with the error and `iss`, and the
/// state when the query has one (the suite sends it only inside the request
/// object, so it does not expect it back).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_request_uri_unsigned_supported_correctly_or_rejected_as_unsupported() {
    let h = start().await;
    assert_eq!(
        h.discovery().await["request_uri_parameter_supported"],
        false
    );
    let request = Request::new("openid");
    let request_uri = format!("https://app.example.com/requests/{}", random(16));
    let state = request.get("state").unwrap();
    for (extra, state) in [
        (vec![("request_uri", request_uri.as_str())], None),
        (
            vec![("request_uri", request_uri.as_str()), ("state", state)],
            Some(state),
        ),
    ] {
        let params = query_beside_request_object(&request, &extra);
        let response = h.authorize(None, &params).await;
        assert_eq!(response.status(), StatusCode::FOUND);
        expect_error(
            &h,
            &location(&response),
            state,
            &["request_uri_not_supported"],
        );
    }
}

/// `oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported`:
/// an unsigned request object by value must be processed or refused with
/// `request_not_supported` (ignoring it is not compliant). Porthor refuses
/// it and says so in discovery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_unsigned_request_object_supported_correctly_or_rejected_as_unsupported() {
    let h = start().await;
    let doc = h.discovery().await;
    assert_eq!(doc["request_parameter_supported"], false);
    assert!(
        doc.get("request_object_signing_alg_values_supported")
            .is_none()
    );
    let request = Request::new("openid");
    let object = unsigned_request_object(&h, &request);
    let state = request.get("state").unwrap();
    let session = h.login().await;
    for cookie in [None, Some(session.as_str())] {
        for (extra, state) in [
            (vec![("request", object.as_str())], None),
            (
                vec![("request", object.as_str()), ("state", state)],
                Some(state),
            ),
        ] {
            let params = query_beside_request_object(&request, &extra);
            let response = h.authorize(cookie, &params).await;
            assert_eq!(response.status(), StatusCode::FOUND);
            expect_error(&h, &location(&response), state, &["request_not_supported"]);
        }
    }
}

/// `oidcc-claims-essential`: `name` requested as an essential userinfo claim
/// with the `claims` parameter must not break the flow, and the ID token
/// must not carry `name` (a WARNING). Porthor does not support `claims`
/// (`claims_parameter_supported` is not true) and ignores it, so userinfo
/// has `name` only when the `profile` scope asks for it: with `openid`
/// alone it does not, which the suite reports as a WARNING.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_claims_essential() {
    let h = start().await;
    assert_ne!(h.discovery().await["claims_parameter_supported"], true);
    let claims = r#"{"userinfo":{"name":{"essential":true}}}"#;
    let flow = happy(&h, None, &Request::new("openid").set("claims", claims)).await;
    assert!(flow.claims.get("name").is_none(), "{}", flow.claims);
    assert_eq!(flow.userinfo["sub"], USERNAME);
}

/// `oidcc-ensure-request-object-with-redirect-uri`: the request object (by
/// value) has the registered `redirect_uri`, the query an unregistered one.
/// The server must use the request object's (and complete) or show an
/// invalid redirect_uri error page; redirecting `request_not_supported` to
/// the registered URI would mean it trusted a URI the query did not name
/// (EnsureOPDoesNotUseDefaultRedirectUriInCaseOfInvalidRedirectUri). Porthor
/// shows the page, logged in or not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_ensure_request_object_with_redirect_uri() {
    let h = start().await;
    let session = h.login().await;
    let request = Request::new("openid");
    let object = unsigned_request_object(&h, &request);
    let invalid = format!("{REDIRECT_URI}_invalid");
    let mut params = query_beside_request_object(&request, &[("request", object.as_str())]);
    params.retain(|(name, _)| *name != "redirect_uri");
    params.push(("redirect_uri", invalid.as_str()));
    for cookie in [None, Some(session.as_str())] {
        let response = h.authorize(cookie, &params).await;
        expect_error_page(response, "redirect_uri outside the request object").await;
    }
}

/// `oidcc-ensure-request-with-valid-pkce-succeeds`: a valid S256 PKCE
/// request must succeed, the verifier going with the token request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_ensure_request_with_valid_pkce_succeeds() {
    let h = start().await;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let request = Request::new("openid")
        .set("code_challenge", challenge.as_str())
        .set("code_challenge_method", "S256");
    let callback = browse(&h, None, &request).await;
    complete(
        &h,
        callback,
        &request,
        ClientAuth::Basic,
        Some(verifier.secret().as_str()),
    )
    .await;
}
