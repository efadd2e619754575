//! Consent (OpenID Connect Core 3.1.2.4): the consent page for a client
//! with `consent = "required"`, what it shows, remembering an approval per
//! user, client and scope set until `consent_lifetime` ends, asking again
//! for more, `prompt=consent` and `prompt=none`, refusal, and the form's
//! protection: CSRF, the session it was shown to, the request it carries
//! validated again, POST only.

use std::time::Duration;

use porthor_oidc::Lifetimes;
use reqwest::{Response, StatusCode};
use serde_json::Value;

use crate::harness::{
    CLIENT_ID, CONSENT_CLIENT_ID, CONSENT_CLIENT_NAME, CONSENTING, ConsentPage, Harness,
    REDIRECT_URI, StoreKind, USERNAME, consent_page, error_page, json, location, query,
    session_cookie, text,
};
use crate::on_both_stores;

/// An authorization request of `client_id` for `scope`, plus `extra`.
fn request<'a>(
    client_id: &'a str,
    scope: &'a str,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT_URI),
        ("scope", scope),
        ("state", "s-1"),
        ("nonce", "n-1"),
    ];
    params.extend_from_slice(extra);
    params
}

/// The consenting client's authorization request for `scope`, as the
/// browser with `session`.
async fn ask(h: &Harness, session: &str, scope: &str, extra: &[(&str, &str)]) -> Response {
    h.authorize(Some(session), &request(CONSENT_CLIENT_ID, scope, extra))
        .await
}

/// The code delivered to the client by `response` (a 302 or 303 to its
/// redirect URI with the state and `iss`).
fn code_in(h: &Harness, response: &Response) -> String {
    let url = delivered(h, response);
    assert_eq!(query(&url, "error"), None, "{url}");
    query(&url, "code").expect("a code")
}

/// The error delivered to the client by `response`, which carries no code.
fn error_in(h: &Harness, response: &Response) -> String {
    let url = delivered(h, response);
    assert_eq!(query(&url, "code"), None, "{url}");
    assert!(query(&url, "error_description").is_some(), "{url}");
    query(&url, "error").expect("an error")
}

fn delivered(h: &Harness, response: &Response) -> url::Url {
    assert!(
        matches!(response.status(), StatusCode::FOUND | StatusCode::SEE_OTHER),
        "{}",
        response.status()
    );
    let url = location(response);
    assert!(url.as_str().starts_with(REDIRECT_URI), "{url}");
    assert_eq!(query(&url, "state").as_deref(), Some("s-1"));
    assert_eq!(query(&url, "iss").as_deref(), Some(h.issuer.as_str()));
    url
}

/// Redeems a code of the consenting client: the token response.
async fn redeem(h: &Harness, code: &str) -> Value {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT_URI),
    ];
    json(h.token(Some(CONSENTING), &form).await, StatusCode::OK).await
}

/// The consenting client's request for `scope`, through the consent page
/// (which must show) and approved: the code.
async fn approve(h: &Harness, session: &str, scope: &str) -> String {
    let page = consent_page(ask(h, session, scope, &[]).await).await;
    code_in(h, &h.decide_consent(&page, session, "allow").await)
}

/// The storage keys of consent grants (Redis only; none known in memory).
async fn stored_consents(h: &Harness) -> Vec<String> {
    match h.redis_prefix {
        Some(_) => h.stored_keys("consent").await,
        None => Vec::new(),
    }
}

/// The page names the client (escaped), the user, and what each requested
/// scope releases, in canonical order; nothing else is granted and nothing
/// is stored before the user answers.
async fn consent_page_names_the_client_and_what_each_scope_releases(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let page = consent_page(
        ask(
            &h,
            &session,
            "groups email openid profile offline_access",
            &[],
        )
        .await,
    )
    .await;
    let body = &page.body;
    assert!(
        !body.contains(CONSENT_CLIENT_NAME),
        "unescaped name: {body}"
    );
    assert!(
        body.contains("Lab &lt;Dashboard&gt; &amp; &quot;Co&quot;"),
        "{body}"
    );
    assert!(body.contains(&format!("<strong>{USERNAME}</strong>")));
    let releases = [
        "your username",
        "your name",
        "your e-mail address",
        "your group memberships",
        "access to these while you are not logged in",
    ];
    let mut at = 0;
    for release in releases {
        let found = body[at..]
            .find(&format!("<li>{release}</li>"))
            .unwrap_or_else(|| panic!("{release} missing or out of order in {body}"));
        at += found;
    }
    assert!(body.contains("value=\"allow\">Allow</button>"), "{body}");
    assert!(body.contains("value=\"deny\">Deny</button>"), "{body}");
    assert!(stored_consents(&h).await.is_empty());
    // Scopes the client did not ask for are not listed.
    let narrow = consent_page(ask(&h, &session, "openid email", &[]).await).await;
    assert!(!narrow.body.contains("your group memberships"));
    assert!(!narrow.body.contains("while you are not logged in"));
}

/// Approving stores the grant (under a key that names neither the user
/// nor the client) and continues to the client with a code for exactly
/// the approved scopes; the next request for them asks nothing.
async fn approval_is_remembered_and_issues_the_code(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let code = approve(&h, &session, "openid email").await;
    let tokens = redeem(&h, &code).await;
    assert_eq!(tokens["scope"], "openid email");
    let claims = h
        .service
        .verify_token(&text(&tokens, "id_token"), h.clock.now())
        .unwrap();
    assert_eq!(claims.aud, CONSENT_CLIENT_ID);
    assert_eq!(claims.nonce.as_deref(), Some("n-1"));

    if backend == StoreKind::Redis {
        let keys = stored_consents(&h).await;
        assert_eq!(keys.len(), 1, "{keys:?}");
        assert!(!keys[0].contains(USERNAME) && !keys[0].contains(CONSENT_CLIENT_ID));
    }
    // Remembered: straight to the client, for this session and another.
    code_in(&h, &ask(&h, &session, "openid email", &[]).await);
    let again = h.login().await;
    code_in(&h, &ask(&h, &again, "openid email", &[]).await);
}

/// A grant covers requests for the same scopes or fewer; a request for more
/// asks again, and the new grant is the set just approved, not a union: a
/// scope approved only before it is asked about again.
async fn a_grant_covers_fewer_scopes_and_asking_for_more_asks_again(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    approve(&h, &session, "openid profile email").await;
    code_in(&h, &ask(&h, &session, "openid email", &[]).await);
    code_in(&h, &ask(&h, &session, "openid", &[]).await);

    let more = consent_page(ask(&h, &session, "openid email groups", &[]).await).await;
    assert!(more.body.contains("your group memberships"));
    let code = code_in(&h, &h.decide_consent(&more, &session, "allow").await);
    assert_eq!(redeem(&h, &code).await["scope"], "openid email groups");
    code_in(&h, &ask(&h, &session, "openid groups", &[]).await);
    // profile was in the old grant only.
    consent_page(ask(&h, &session, "openid profile", &[]).await).await;
}

/// `prompt=consent` asks even with a grant that covers the request, and
/// for an implicit client, which is otherwise never asked; an implicit
/// client's approval is not stored, since nothing would read it.
async fn prompt_consent_always_asks(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    approve(&h, &session, "openid email").await;
    let page =
        consent_page(ask(&h, &session, "openid email", &[("prompt", "consent")]).await).await;
    code_in(&h, &h.decide_consent(&page, &session, "allow").await);

    let implicit = request(CLIENT_ID, "openid email", &[("prompt", "consent")]);
    let page = consent_page(h.authorize(Some(&session), &implicit).await).await;
    assert!(page.body.contains(&format!("<strong>{CLIENT_ID}</strong>")));
    let code = code_in(&h, &h.decide_consent(&page, &session, "allow").await);
    json(h.redeem(&code).await, StatusCode::OK).await;
    // Only the consenting client's grant is stored; the implicit client
    // still gets codes without a page.
    if backend == StoreKind::Redis {
        assert_eq!(stored_consents(&h).await.len(), 1);
    }
    let plain = request(CLIENT_ID, "openid email", &[]);
    code_in(&h, &h.authorize(Some(&session), &plain).await);
}

/// `prompt=none` never shows the page: with consent still needed the
/// answer is `consent_required` (also after an approval of fewer scopes);
/// with a grant that covers the request, a code.
async fn prompt_none_with_consent_needed_is_consent_required(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let none = [("prompt", "none")];
    let response = ask(&h, &session, "openid email", &none).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(error_in(&h, &response), "consent_required");

    approve(&h, &session, "openid").await;
    let response = ask(&h, &session, "openid email", &none).await;
    assert_eq!(error_in(&h, &response), "consent_required");
    code_in(&h, &ask(&h, &session, "openid", &none).await);
    // Without a session it is still login_required: logging in comes first.
    let response = h
        .authorize(None, &request(CONSENT_CLIENT_ID, "openid", &none))
        .await;
    assert_eq!(error_in(&h, &response), "login_required");
}

/// Refusing sends the user back to the client with `access_denied`, the
/// state and `iss`; nothing is remembered, so the next request asks again.
async fn refusing_redirects_with_access_denied(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let page = consent_page(ask(&h, &session, "openid email", &[]).await).await;
    let response = h.decide_consent(&page, &session, "deny").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(error_in(&h, &response), "access_denied");
    assert!(stored_consents(&h).await.is_empty());
    consent_page(ask(&h, &session, "openid email", &[]).await).await;
}

/// A page on another site can make the browser post the form, but cannot
/// read or set the CSRF cookie: without it, or with a token that is not
/// the cookie's, the form is refused and nothing is granted. Without the
/// session cookie (which a cross-site POST does not carry) no code is
/// issued either: the user is sent to log in. The form is POST only.
async fn a_cross_site_post_cannot_consent(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let page = consent_page(ask(&h, &session, "openid email", &[]).await).await;
    let form = |token| {
        [
            ("csrf_token", token),
            ("login_session", page.login_session.as_str()),
            ("request", page.request.as_str()),
            ("decision", "allow"),
        ]
    };
    let wrong = "A".repeat(22);
    let csrf_cookie = page.csrf_cookie.clone().expect("a CSRF cookie");
    let with_session = |csrf: &str| format!("porthor_csrf={csrf}; {}", session_cookie(&session));
    let forged = [
        (session_cookie(&session), page.csrf_token.as_str()),
        (with_session(&wrong), page.csrf_token.as_str()),
        (with_session(&csrf_cookie), wrong.as_str()),
        (with_session(&csrf_cookie), ""),
    ];
    for (cookies, token) in forged {
        let response = h.post_consent(Some(&cookies), &form(token)).await;
        let body = error_page(response, &format!("{cookies} {token}")).await;
        assert!(body.contains("expired"), "{body}");
    }
    assert!(stored_consents(&h).await.is_empty());

    // The CSRF cookie and token but no session cookie: to the login form.
    let response = h
        .post_consent(
            Some(&format!("porthor_csrf={csrf_cookie}")),
            &form(&page.csrf_token),
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response).path(), "/login");
    assert!(stored_consents(&h).await.is_empty());
    consent_page(ask(&h, &session, "openid email", &[]).await).await;

    let get = h.get("/consent").await;
    assert_eq!(get.status(), StatusCode::METHOD_NOT_ALLOWED);
}

/// The form names the login session it was shown to. Posted with another
/// session (a different user may have logged in since), it is no approval:
/// that session's user is shown the page afresh.
async fn approval_is_bound_to_the_session_that_saw_the_page(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let first = h.login().await;
    let page = consent_page(ask(&h, &first, "openid email", &[]).await).await;
    let second = h.login().await;
    let mut again = consent_page(h.decide_consent(&page, &second, "allow").await).await;
    assert!(stored_consents(&h).await.is_empty());
    assert_ne!(again.login_session, page.login_session);
    // The browser sent its CSRF cookie, so the page sets none and the
    // browser keeps it.
    assert_eq!(again.csrf_cookie, None);
    again.csrf_cookie = page.csrf_cookie;
    code_in(&h, &h.decide_consent(&again, &second, "allow").await);
}

/// The request the form carries is validated again from scratch: an
/// unknown client or an unregistered redirect URI is an error page, never
/// a redirect or a grant; another client's request is approved for that
/// client, not the one the page was shown for. An incomplete or repeated
/// form is refused.
async fn consent_form_validates_the_request_it_carries(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let page = consent_page(ask(&h, &session, "openid email", &[]).await).await;
    let tampered = |from: &str, to: &str| ConsentPage {
        request: page.request.replace(from, to),
        ..page.clone()
    };
    for bad in [
        tampered("client_id=consenting", "client_id=nobody"),
        tampered("redirect_uri=https", "redirect_uri=http"),
    ] {
        let response = h.decide_consent(&bad, &session, "allow").await;
        error_page(response, &bad.request).await;
    }
    assert!(stored_consents(&h).await.is_empty());

    let cookies = format!(
        "porthor_csrf={}; {}",
        page.csrf_cookie.as_deref().unwrap(),
        session_cookie(&session)
    );
    let complete = [
        ("csrf_token", page.csrf_token.as_str()),
        ("login_session", &page.login_session),
        ("request", &page.request),
        ("decision", "allow"),
    ];
    for drop in ["request", "decision", "login_session"] {
        let form: Vec<_> = complete.into_iter().filter(|(n, _)| *n != drop).collect();
        let response = h.post_consent(Some(&cookies), &form).await;
        error_page(response, drop).await;
    }
    let mut maybe = complete.to_vec();
    maybe[3].1 = "maybe";
    error_page(h.post_consent(Some(&cookies), &maybe).await, "maybe").await;
    let mut repeated = complete.to_vec();
    repeated.push(("decision", "deny"));
    error_page(h.post_consent(Some(&cookies), &repeated).await, "repeated").await;
    assert!(stored_consents(&h).await.is_empty());
    code_in(&h, &h.decide_consent(&page, &session, "allow").await);
}

/// A grant lasts `consent_lifetime` from the approval: the user is asked
/// again from the moment it ends.
async fn consent_grant_expires_after_consent_lifetime(backend: StoreKind) {
    let h = Harness::start_with_lifetimes(
        backend,
        Lifetimes {
            consent: Duration::from_secs(60),
            ..Lifetimes::default()
        },
    )
    .await;
    let session = h.login().await;
    approve(&h, &session, "openid email").await;
    h.clock.advance(Duration::from_secs(59));
    code_in(&h, &ask(&h, &session, "openid email", &[]).await);
    h.clock.advance(Duration::from_secs(1));
    consent_page(ask(&h, &session, "openid email", &[]).await).await;
}

/// `prompt=login consent`: the login form first, and after it the consent
/// page, since logging in is no approval (the way back keeps
/// `prompt=consent`, though not `prompt=login`).
async fn prompt_login_and_consent_asks_after_the_login(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    approve(&h, &session, "openid").await;
    let response = ask(&h, &session, "openid", &[("prompt", "login consent")]).await;
    let to_login = location(&response);
    assert_eq!(to_login.path(), "/login");
    let (rd, fresh, back) = h.log_in_and_return(to_login.as_str(), Some(&session)).await;
    let prompts: Vec<_> = url::Url::parse(&rd)
        .unwrap()
        .query_pairs()
        .filter(|(name, _)| name == "prompt")
        .map(|(_, value)| value.into_owned())
        .collect();
    assert_eq!(prompts, ["consent"], "{rd}");
    let page = consent_page(back).await;
    code_in(&h, &h.decide_consent(&page, &fresh, "allow").await);
}

/// For a client that needs consent, `offline_access` is granted only as
/// part of an approval that showed it (OpenID Connect Core 11): a grant
/// without it does not cover a request with it, and the refresh token
/// comes once the user has approved it.
async fn offline_access_needs_consent_for_a_consent_client(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let code = approve(&h, &session, "openid email").await;
    assert!(redeem(&h, &code).await.get("refresh_token").is_none());
    let page = consent_page(ask(&h, &session, "openid email offline_access", &[]).await).await;
    assert!(page.body.contains("while you are not logged in"));
    let code = code_in(&h, &h.decide_consent(&page, &session, "allow").await);
    let tokens = redeem(&h, &code).await;
    assert_eq!(tokens["scope"], "openid email offline_access");
    assert!(tokens["refresh_token"].is_string(), "{tokens}");
}

/// Anonymous first: the login form, then the consent page for the new
/// session, and the code once approved.
async fn anonymous_user_logs_in_then_consents(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let response = h
        .authorize(None, &request(CONSENT_CLIENT_ID, "openid email", &[]))
        .await;
    let to_login = location(&response);
    let (_, session, back) = h.log_in_and_return(to_login.as_str(), None).await;
    let page = consent_page(back).await;
    let response = h.decide_consent(&page, &session, "allow").await;
    redeem(&h, &code_in(&h, &response)).await;
}

on_both_stores!(
    consent_page_names_the_client_and_what_each_scope_releases,
    approval_is_remembered_and_issues_the_code,
    a_grant_covers_fewer_scopes_and_asking_for_more_asks_again,
    prompt_consent_always_asks,
    prompt_none_with_consent_needed_is_consent_required,
    refusing_redirects_with_access_denied,
    a_cross_site_post_cannot_consent,
    approval_is_bound_to_the_session_that_saw_the_page,
    consent_form_validates_the_request_it_carries,
    consent_grant_expires_after_consent_lifetime,
    prompt_login_and_consent_asks_after_the_login,
    offline_access_needs_consent_for_a_consent_client,
    anonymous_user_logs_in_then_consents,
);
