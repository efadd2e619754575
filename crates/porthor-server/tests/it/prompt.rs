//! `prompt` and `max_age` (OpenID Connect Core 3.1.2.1): silent
//! authentication and forced re-authentication.

use std::time::Duration;

use reqwest::StatusCode;

use crate::harness::{CLIENT_ID, Harness, REDIRECT_URI, StoreKind, json, location, query};

fn params<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", CLIENT_ID),
        ("redirect_uri", REDIRECT_URI),
        ("scope", "openid"),
        ("state", "st"),
        ("nonce", "nn"),
    ];
    params.extend_from_slice(extra);
    params
}

async fn prompt_none_without_session_is_login_required(backend: StoreKind) {
    let h = Harness::start(backend).await;
    for cookie in [None, Some("garbage")] {
        let response = h.authorize(cookie, &params(&[("prompt", "none")])).await;
        assert_eq!(response.status(), StatusCode::FOUND);
        let url = location(&response);
        assert!(url.as_str().starts_with(REDIRECT_URI), "{url}");
        assert_eq!(query(&url, "error").as_deref(), Some("login_required"));
        assert_eq!(query(&url, "state").as_deref(), Some("st"));
    }
}

async fn prompt_none_with_session_issues_a_code(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let response = h
        .authorize(Some(&session), &params(&[("prompt", "none")]))
        .await;
    assert!(query(&location(&response), "code").is_some());
    // ... unless max_age says the session is too old.
    h.clock.advance(Duration::from_secs(1));
    let response = h
        .authorize(
            Some(&session),
            &params(&[("prompt", "none"), ("max_age", "0")]),
        )
        .await;
    assert_eq!(
        query(&location(&response), "error").as_deref(),
        Some("login_required")
    );
}

/// `prompt=login` and an exceeded `max_age` send a logged-in user back to
/// the login form, which shows despite the session; after logging in again
/// the flow completes with a fresh `auth_time`, in the browser's session
/// under its new cookie (the re-login supersedes the session: see
/// `sessions.rs`).
async fn forced_login_shows_the_form_and_completes(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let mut session = h.login().await;
    for extra in [[("prompt", "login")], [("max_age", "0")]] {
        h.clock.advance(Duration::from_secs(1));
        let response = h.authorize(Some(&session), &params(&extra)).await;
        let to_login = location(&response);
        assert_eq!(to_login.path(), "/login", "{extra:?}");
        assert_eq!(query(&to_login, "prompt").as_deref(), Some("login"));
        let rd = query(&to_login, "rd").unwrap();
        assert!(!rd.contains("prompt=") && !rd.contains("max_age="), "{rd}");

        // The form shows despite the session. The last login was a second
        // ago on the server's clock; this one is now.
        let relogin_time = h.clock.now().as_unix();
        let (_, fresh, back) = h.log_in_and_return(to_login.as_str(), Some(&session)).await;
        assert_ne!(fresh, session);
        let code = query(&location(&back), "code").expect("a code after the fresh login");
        let tokens = json(h.redeem(&code).await, StatusCode::OK).await;
        let claims = h
            .service
            .verify_token(tokens["id_token"].as_str().unwrap(), h.clock.now())
            .unwrap();
        assert_eq!(
            claims.auth_time, relogin_time,
            "auth_time is the fresh login"
        );
        session = fresh;
    }
    // A generous max_age lets the existing session through.
    let response = h
        .authorize(Some(&session), &params(&[("max_age", "3600")]))
        .await;
    assert!(query(&location(&response), "code").is_some());
}

async fn bad_prompt_or_max_age_is_invalid_request(backend: StoreKind) {
    let h = Harness::start(backend).await;
    for extra in [
        [("prompt", "none login")],
        [("prompt", "sometimes")],
        [("max_age", "-5")],
        [("max_age", "soon")],
    ] {
        let response = h.authorize(None, &params(&extra)).await;
        assert_eq!(
            query(&location(&response), "error").as_deref(),
            Some("invalid_request"),
            "{extra:?}"
        );
    }
}

crate::on_both_stores!(
    prompt_none_without_session_is_login_required,
    prompt_none_with_session_issues_a_code,
    forced_login_shows_the_form_and_completes,
    bad_prompt_or_max_age_is_invalid_request,
);
