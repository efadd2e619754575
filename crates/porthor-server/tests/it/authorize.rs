//! The authorization endpoint (RFC 6749 4.1.1-4.1.2, OpenID Connect Core
//! 3.1.2).

use reqwest::StatusCode;
use reqwest::header::COOKIE;

use crate::harness::{
    CLIENT_ID, Harness, OTHER_APP_REDIRECT_URI, OTHER_REDIRECT_URI, REDIRECT_URI, StoreKind,
    error_page, location, query, session_cookie,
};

fn valid() -> Vec<(&'static str, &'static str)> {
    vec![
        ("response_type", "code"),
        ("client_id", CLIENT_ID),
        ("redirect_uri", REDIRECT_URI),
        ("scope", "openid profile"),
        ("state", "st&te"),
        ("nonce", "n0nce"),
    ]
}

fn with(name: &'static str, value: &'static str) -> Vec<(&'static str, &'static str)> {
    let mut params: Vec<_> = valid().into_iter().filter(|(n, _)| *n != name).collect();
    params.push((name, value));
    params
}

fn without(name: &str) -> Vec<(&'static str, &'static str)> {
    valid().into_iter().filter(|(n, _)| *n != name).collect()
}

/// Every key the server's store holds (none known on the memory store), to
/// prove a request wrote nothing.
async fn stored_keys(h: &Harness) -> Vec<String> {
    match h.redis_prefix {
        Some(_) => h.stored_keys("*").await,
        None => Vec::new(),
    }
}

async fn anonymous_user_is_sent_to_login_and_nothing_is_stored(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let response = h.authorize(None, &valid()).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let login = location(&response);
    assert_eq!(login.path(), "/login");
    let rd = url::Url::parse(&query(&login, "rd").unwrap()).unwrap();
    assert_eq!(
        rd.as_str().split('?').next(),
        Some(h.url("/auth/openid/login").as_str())
    );
    let original: Vec<(String, String)> = valid()
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
    let carried: Vec<(String, String)> = rd
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    assert_eq!(carried, original);
    for _ in 0..20 {
        assert_eq!(
            h.authorize(None, &valid()).await.status(),
            StatusCode::FOUND
        );
    }
    assert_eq!(stored_keys(&h).await, Vec::<String>::new());
}

/// Without a trusted client and redirect URI the user sees an error page
/// and is never redirected, logged in or not.
async fn untrusted_client_or_redirect_uri_gets_an_error_page(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let repeated_client = {
        let mut p = valid();
        p.push(("client_id", "other"));
        p
    };
    let repeated_redirect = {
        let mut p = valid();
        p.push(("redirect_uri", REDIRECT_URI));
        p
    };
    let cases = [
        ("unknown client", with("client_id", "nobody")),
        ("missing client_id", without("client_id")),
        ("missing redirect_uri", without("redirect_uri")),
        (
            "unregistered redirect_uri",
            with("redirect_uri", "https://evil.example/callback"),
        ),
        (
            "trailing slash",
            with("redirect_uri", "https://app.example.com/callback/"),
        ),
        (
            "extra query",
            with("redirect_uri", "https://app.example.com/callback?x=1"),
        ),
        (
            "other client's uri",
            with("redirect_uri", OTHER_REDIRECT_URI),
        ),
        (
            "case changed",
            with("redirect_uri", "https://APP.example.com/callback"),
        ),
        (
            "fragment",
            with("redirect_uri", "https://app.example.com/callback#f"),
        ),
        ("repeated client_id", repeated_client),
        ("repeated redirect_uri", repeated_redirect),
    ];
    for (what, params) in cases {
        for cookie in [None, Some(session.as_str())] {
            let body = error_page(h.authorize(cookie, &params).await, what).await;
            assert!(body.contains("invalid_request"), "{what}: {body}");
        }
    }
}

/// With a trusted redirect URI, errors go back to the client with the
/// state, before any login.
async fn other_errors_redirect_to_the_client(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let repeated_state = {
        let mut p = valid();
        p.push(("state", "again"));
        p
    };
    let cases = [
        (without("response_type"), "invalid_request"),
        (with("response_type", "token"), "unsupported_response_type"),
        (
            with("response_type", "code id_token"),
            "unsupported_response_type",
        ),
        (without("scope"), "invalid_scope"),
        (with("scope", "profile email"), "invalid_scope"),
        (repeated_state, "invalid_request"),
        (
            with("request", "eyJhbGciOiJub25lIn0.e30."),
            "request_not_supported",
        ),
        (
            with("request_uri", "https://app.example.com/request.jwt"),
            "request_uri_not_supported",
        ),
        (with("response_mode", "fragment"), "invalid_request"),
        (with("response_mode", "form_post"), "invalid_request"),
    ];
    for (params, code) in cases {
        let response = h.authorize(None, &params).await;
        assert_eq!(response.status(), StatusCode::FOUND, "{code}");
        let url = location(&response);
        assert!(url.as_str().starts_with(REDIRECT_URI), "{url}");
        assert_eq!(query(&url, "error").as_deref(), Some(code), "{url}");
        assert!(query(&url, "error_description").is_some());
        assert_eq!(query(&url, "iss").as_deref(), Some(h.issuer.as_str()));
        assert!(query(&url, "code").is_none());
        if code != "invalid_request" {
            assert_eq!(query(&url, "state").as_deref(), Some("st&te"));
        }
    }
}

async fn logged_in_user_gets_a_code(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let response = h.authorize(Some(&session), &valid()).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let url = location(&response);
    assert!(
        url.as_str().starts_with(&format!("{REDIRECT_URI}?")),
        "{url}"
    );
    assert!(query(&url, "code").unwrap().starts_with("pc-"));
    assert_eq!(query(&url, "state").as_deref(), Some("st&te"));
    assert_eq!(query(&url, "iss").as_deref(), Some(h.issuer.as_str()));
    if h.redis_prefix.is_some() {
        let keys = h.stored_keys("code").await;
        assert_eq!(keys.len(), 1, "{keys:?}");
    }

    // response_mode=query is what Porthor does anyway.
    let response = h
        .authorize(Some(&session), &with("response_mode", "query"))
        .await;
    assert!(query(&location(&response), "code").is_some());

    // A registered redirect URI's own query is kept.
    let response = h
        .authorize(
            Some(&session),
            &with("redirect_uri", OTHER_APP_REDIRECT_URI),
        )
        .await;
    let url = location(&response);
    assert_eq!(query(&url, "keep").as_deref(), Some("1"));
    assert!(query(&url, "code").is_some());
}

async fn post_form_is_accepted(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let response = h
        .http
        .post(h.url("/auth/openid/login"))
        .header(COOKIE, session_cookie(&session))
        .form(&valid())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(query(&location(&response), "code").is_some());
}

async fn unknown_or_forged_session_is_anonymous(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let (head, _) = session.split_once('.').unwrap();
    for cookie in [
        "garbage",
        &format!("{head}.forgedsecretforgedsecretforgedsecret0"),
    ] {
        let response = h.authorize(Some(cookie), &valid()).await;
        assert_eq!(response.status(), StatusCode::FOUND);
        assert_eq!(location(&response).path(), "/login", "{cookie}");
    }
}

/// `state` and `nonce` over 1,024 bytes and a `code_challenge` outside
/// RFC 7636's 43 to 128 characters are refused as invalid_request,
/// redirected to the client (the redirect URI is trusted), with a logged
/// in user too, and nothing stored; an oversized state is not echoed.
async fn oversized_state_nonce_and_code_challenge_are_invalid_request(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let long = "x".repeat(1025);
    let longest = "x".repeat(1024);
    let cases = [
        ("state", long.as_str()),
        ("nonce", long.as_str()),
        ("code_challenge", &long[..42]),
        ("code_challenge", &long[..129]),
    ];
    let before = stored_keys(&h).await;
    for (name, value) in cases {
        let mut params = without(name);
        params.push((name, value));
        if name == "code_challenge" {
            params.push(("code_challenge_method", "S256"));
        }
        for session in [None, Some(session.as_str())] {
            let response = h.authorize(session, &params).await;
            assert_eq!(response.status(), StatusCode::FOUND, "{name}");
            let to = location(&response);
            assert!(to.as_str().starts_with(REDIRECT_URI), "{name}: {to}");
            assert_eq!(query(&to, "error").as_deref(), Some("invalid_request"));
            assert!(query(&to, "code").is_none());
            let state = query(&to, "state");
            let expected = (name != "state").then(|| "st&te".to_owned());
            assert_eq!(state, expected, "{name}");
        }
    }
    assert_eq!(stored_keys(&h).await, before);
    // At the limit, both are accepted.
    let mut params = without("state");
    params.retain(|(name, _)| *name != "nonce");
    params.push(("state", &longest));
    params.push(("nonce", &longest));
    let response = h.authorize(Some(&session), &params).await;
    let to = location(&response);
    assert!(query(&to, "code").is_some(), "{to}");
    assert_eq!(query(&to, "state").as_deref(), Some(longest.as_str()));
}

crate::on_both_stores!(
    anonymous_user_is_sent_to_login_and_nothing_is_stored,
    oversized_state_nonce_and_code_challenge_are_invalid_request,
    untrusted_client_or_redirect_uri_gets_an_error_page,
    other_errors_redirect_to_the_client,
    logged_in_user_gets_a_code,
    post_form_is_accepted,
    unknown_or_forged_session_is_anonymous,
);
