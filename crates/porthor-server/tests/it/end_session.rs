//! RP-initiated logout at `/auth/openid/logout`: an `id_token_hint` naming
//! the session's user logs out at once (GET or POST), anything else asks the
//! user first, through a confirmation round trip (with hostile parameter
//! values); everything that must not log out (a missing CSRF cookie,
//! tampered hidden fields, hints not of this provider, redirect URIs not
//! registered for the client the request establishes); expired hints and
//! sessions, and what happens without a session.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use porthor_oidc::Lifetimes;
use reqwest::header::COOKIE;
use reqwest::{Response, StatusCode};

use crate::harness::{
    CLIENT_ID, CLIENT_SECRET, Harness, OFFLINE, OTHER, OTHER_CLIENT_ID, OTHER_REDIRECT_URI,
    POST_LOGOUT_REDIRECT_URI, REDIRECT_URI, StoreKind, error_page, hidden_field, json, location,
    query, session_cookie, set_cookie_header, text, with_altered_signature,
};
use crate::on_both_stores;

const PATH: &str = "/auth/openid/logout";

async fn get(h: &Harness, cookies: Option<&str>, params: &[(&str, &str)]) -> Response {
    let mut request = h.http.get(h.url(PATH)).query(params);
    if let Some(cookies) = cookies {
        request = request.header(COOKIE, cookies);
    }
    request.send().await.unwrap()
}

async fn post(h: &Harness, cookies: Option<&str>, form: &[(&str, &str)]) -> Response {
    let mut request = h.http.post(h.url(PATH)).form(form);
    if let Some(cookies) = cookies {
        request = request.header(COOKIE, cookies);
    }
    request.send().await.unwrap()
}

/// Asserts a 303 to the post-logout URI with `state` (or none), and that
/// the session cookie is removed.
fn redirected_out(response: &Response, state: Option<&str>) {
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let to = location(response);
    assert_eq!(
        to.as_str().split('?').next(),
        Some(POST_LOGOUT_REDIRECT_URI),
        "{to}"
    );
    assert_eq!(query(&to, "state").as_deref(), state, "{to}");
    let removal = set_cookie_header(response, "porthor_session").expect("the cookie is removed");
    assert!(removal.contains("Max-Age=0"), "{removal}");
}

/// An error page (400, HTML, no redirect) that leaves the session cookie
/// alone.
async fn refused(response: Response, what: &str) {
    assert!(
        set_cookie_header(&response, "porthor_session").is_none(),
        "{what}: the session cookie was touched"
    );
    error_page(response, what).await;
}

/// Asserts that everything `grant` issued is dead.
async fn grant_ended(h: &Harness, grant: &serde_json::Value) {
    assert_eq!(
        h.userinfo_status(&text(grant, "access_token")).await,
        StatusCode::UNAUTHORIZED
    );
    if grant.get("refresh_token").is_some() {
        h.assert_refresh_refused(&text(grant, "refresh_token"))
            .await;
    }
}

/// An ID token for the `other` client, from `session`.
async fn other_clients_id_token(h: &Harness, session: &str) -> String {
    let code = h
        .code_for(session, OTHER_CLIENT_ID, OTHER_REDIRECT_URI, "openid")
        .await;
    let tokens = json(
        h.token(
            Some(OTHER),
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
    text(&tokens, "id_token")
}

/// RP-Initiated Logout 2: the OP supports POST as well as GET. A form post
/// with a hint for the session's user logs out at once, like the GET, and
/// ends everything issued under the session.
async fn post_with_a_hint_logs_out_at_once(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let grant = h.grant(&session, OFFLINE).await;
    let plain = h.grant(&session, "openid").await;
    let response = post(
        &h,
        Some(&session_cookie(&session)),
        &[
            ("id_token_hint", &text(&grant, "id_token")),
            ("post_logout_redirect_uri", POST_LOGOUT_REDIRECT_URI),
            ("state", "a b&c=d"),
            ("ui_locales", "fr"),
        ],
    )
    .await;
    redirected_out(&response, Some("a b&c=d"));
    assert!(!h.session_alive(&session).await);
    grant_ended(&h, &grant).await;
    grant_ended(&h, &plain).await;
}

/// Without a hint the user confirms. The page carries the request in hidden
/// fields, escaped however hostile the values; posted back as a browser
/// would, it logs out, removes the cookie, ends the session's tokens and
/// returns the state intact.
async fn confirmation_round_trip(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let grant = h.grant(&session, OFFLINE).await;
    let state = "x\"><script>alert(1)</script>&y='z'";
    let response = get(
        &h,
        Some(&session_cookie(&session)),
        &[
            ("client_id", CLIENT_ID),
            ("post_logout_redirect_uri", POST_LOGOUT_REDIRECT_URI),
            ("state", state),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["x-frame-options"], "DENY");
    let csrf_cookie = set_cookie_header(&response, "porthor_csrf")
        .map(|header| header.split(';').next().unwrap().to_owned())
        .expect("a CSRF cookie");
    let page = response.text().await.unwrap();
    assert!(!page.contains("<script>"), "{page}");
    assert_eq!(
        hidden_field(&page, "state").as_deref(),
        Some("x&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&amp;y=&#39;z&#39;")
    );
    assert_eq!(hidden_field(&page, "client_id").as_deref(), Some(CLIENT_ID));
    assert_eq!(
        hidden_field(&page, "post_logout_redirect_uri").as_deref(),
        Some(POST_LOGOUT_REDIRECT_URI)
    );
    assert_eq!(hidden_field(&page, "id_token_hint"), None);
    let csrf = hidden_field(&page, "csrf_token").expect("a CSRF token");
    assert!(h.session_alive(&session).await, "asking is not logging out");

    let cookies = format!("{csrf_cookie}; {}", session_cookie(&session));
    let response = post(
        &h,
        Some(&cookies),
        &[
            ("csrf_token", &csrf),
            ("client_id", CLIENT_ID),
            ("post_logout_redirect_uri", POST_LOGOUT_REDIRECT_URI),
            ("state", state),
        ],
    )
    .await;
    redirected_out(&response, Some(state));
    assert!(!h.session_alive(&session).await);
    grant_ended(&h, &grant).await;
}

/// The confirmation only counts with the browser's CSRF cookie and token,
/// and the request it carries is checked again: tampered hidden fields get
/// an error page, never a redirect, and the session lives on. A bare
/// confirmation logs out to the "logged out" page.
async fn the_confirmation_is_checked_again(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let grant = h.grant(&session, OFFLINE).await;
    let response = get(&h, Some(&session_cookie(&session)), &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let csrf_cookie = set_cookie_header(&response, "porthor_csrf")
        .map(|header| header.split(';').next().unwrap().to_owned())
        .expect("a CSRF cookie");
    let csrf = hidden_field(&response.text().await.unwrap(), "csrf_token").unwrap();
    let with_csrf = format!("{csrf_cookie}; {}", session_cookie(&session));

    // The token without the cookie, or the cookie with another token.
    refused(
        post(
            &h,
            Some(&session_cookie(&session)),
            &[("csrf_token", &csrf)],
        )
        .await,
        "no CSRF cookie",
    )
    .await;
    refused(
        post(
            &h,
            Some(&with_csrf),
            &[("csrf_token", "A".repeat(22).as_str())],
        )
        .await,
        "another CSRF token",
    )
    .await;
    refused(
        post(
            &h,
            Some(&with_csrf),
            &[("csrf_token", &csrf), ("csrf_token", &csrf)],
        )
        .await,
        "a repeated CSRF token",
    )
    .await;
    // The right token, a tampered request.
    let tampered: [&[(&str, &str)]; 3] = [
        &[
            ("client_id", CLIENT_ID),
            ("post_logout_redirect_uri", "https://evil.example/"),
        ],
        &[
            ("client_id", OTHER_CLIENT_ID),
            ("post_logout_redirect_uri", POST_LOGOUT_REDIRECT_URI),
        ],
        &[("post_logout_redirect_uri", POST_LOGOUT_REDIRECT_URI)],
    ];
    for params in tampered {
        let mut form = params.to_vec();
        form.push(("csrf_token", &csrf));
        refused(
            post(&h, Some(&with_csrf), &form).await,
            &format!("{params:?}"),
        )
        .await;
    }
    assert!(h.session_alive(&session).await);
    assert_eq!(
        h.userinfo_status(&text(&grant, "access_token")).await,
        StatusCode::OK
    );

    let response = post(&h, Some(&with_csrf), &[("csrf_token", &csrf)]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(set_cookie_header(&response, "porthor_session").is_some());
    assert!(response.text().await.unwrap().contains("logged out"));
    assert!(!h.session_alive(&session).await);
    grant_ended(&h, &grant).await;
}

/// The client the request establishes, from `client_id` or the hint's
/// audience, decides which URIs are allowed, by exact match (and a URI needs
/// a client); the two must agree; a hint must be a token this provider
/// signed (not forged, unsigned, another provider's or no JWT at all); no
/// parameter may repeat. Every refusal is an error page and leaves the
/// session alone.
async fn only_this_providers_hints_and_the_clients_uris(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let app_hint = text(&h.grant(&session, "openid").await, "id_token");
    let other_hint = other_clients_id_token(&h, &session).await;

    let mut parts = app_hint.split('.');
    let (_, payload) = (parts.next().unwrap(), parts.next().unwrap());
    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let unsigned = format!("{none_header}.{payload}.");
    let forged = with_altered_signature(&app_hint);
    let stranger = {
        let elsewhere = Harness::start(StoreKind::Memory).await;
        let session = elsewhere.login().await;
        text(&elsewhere.grant(&session, "openid").await, "id_token")
    };
    let extended = format!("{POST_LOGOUT_REDIRECT_URI}?next=1");
    let suffixed = format!("{POST_LOGOUT_REDIRECT_URI}/x");
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![
            ("client_id", CLIENT_ID),
            ("post_logout_redirect_uri", "https://evil.example/"),
        ],
        // A URI, but no client to have registered it.
        vec![("post_logout_redirect_uri", POST_LOGOUT_REDIRECT_URI)],
        vec![
            ("client_id", OTHER_CLIENT_ID),
            ("post_logout_redirect_uri", POST_LOGOUT_REDIRECT_URI),
        ],
        vec![("client_id", "nobody")],
        // The hint's client and `client_id` disagree.
        vec![("id_token_hint", &app_hint), ("client_id", OTHER_CLIENT_ID)],
        // The other client's hint: the app's URI is not its.
        vec![
            ("id_token_hint", &other_hint),
            ("post_logout_redirect_uri", POST_LOGOUT_REDIRECT_URI),
        ],
        vec![("id_token_hint", &other_hint), ("client_id", CLIENT_ID)],
        // The app's redirect URI is not a post-logout one.
        vec![
            ("id_token_hint", &app_hint),
            ("post_logout_redirect_uri", REDIRECT_URI),
        ],
        vec![
            ("id_token_hint", &app_hint),
            ("post_logout_redirect_uri", &extended),
        ],
        vec![
            ("client_id", CLIENT_ID),
            ("post_logout_redirect_uri", &suffixed),
        ],
        vec![("id_token_hint", &forged)],
        vec![("id_token_hint", &unsigned)],
        vec![("id_token_hint", "not.a.jwt")],
        vec![("id_token_hint", &stranger)],
        vec![("id_token_hint", CLIENT_SECRET)],
        vec![("id_token_hint", &app_hint), ("id_token_hint", &app_hint)],
        vec![
            ("client_id", CLIENT_ID),
            ("post_logout_redirect_uri", POST_LOGOUT_REDIRECT_URI),
            ("post_logout_redirect_uri", POST_LOGOUT_REDIRECT_URI),
        ],
        vec![("state", "a"), ("state", "b")],
    ];
    for params in &cases {
        refused(
            get(&h, Some(&session_cookie(&session)), params).await,
            &format!("GET {params:?}"),
        )
        .await;
        refused(
            post(&h, Some(&session_cookie(&session)), params).await,
            &format!("POST {params:?}"),
        )
        .await;
    }
    assert!(h.session_alive(&session).await);

    // Any client's hint for the session's user is proof enough to log out.
    let response = get(
        &h,
        Some(&session_cookie(&session)),
        &[("id_token_hint", &other_hint)],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.text().await.unwrap().contains("logged out"));
    assert!(!h.session_alive(&session).await);
}

/// Without a session there is nothing to end and nothing to confirm: with
/// a hint or a client, straight to the registered URI with the state;
/// otherwise the "logged out" page. A stale or forged cookie is no session.
/// (A POST with no session cookie at all may be a cross-site POST that
/// left the cookie behind: see the next test.)
async fn without_a_session(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let hint = text(&h.grant(&session, "openid").await, "id_token");
    let forged =
        "porthor_session=ps-AAAAAAAAAAAAAAAAAAAAAA.BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";
    for cookies in [None, Some(forged), Some("porthor_session=garbage")] {
        for params in [
            vec![
                ("id_token_hint", hint.as_str()),
                ("post_logout_redirect_uri", POST_LOGOUT_REDIRECT_URI),
                ("state", "s"),
            ],
            vec![
                ("client_id", CLIENT_ID),
                ("post_logout_redirect_uri", POST_LOGOUT_REDIRECT_URI),
                ("state", "s"),
            ],
        ] {
            let mut responses = vec![get(&h, cookies, &params).await];
            if cookies.is_some() {
                responses.push(post(&h, cookies, &params).await);
            }
            for response in responses {
                assert_eq!(response.status(), StatusCode::SEE_OTHER, "{cookies:?}");
                let to = location(&response);
                assert!(to.as_str().starts_with(POST_LOGOUT_REDIRECT_URI), "{to}");
                assert_eq!(query(&to, "state").as_deref(), Some("s"));
            }
        }
        for params in [&[("client_id", CLIENT_ID)][..], &[]] {
            let response = get(&h, cookies, params).await;
            assert_eq!(response.status(), StatusCode::OK, "{params:?}");
            assert!(response.text().await.unwrap().contains("logged out"));
        }
    }
    // The browser that did have the session was not this one.
    assert!(h.session_alive(&session).await);
}

/// RP-initiated logout by cross-site POST, which the spec allows, arrives
/// without the `SameSite=Lax` session cookie. It is not answered as if
/// there were no session (which let the session survive): the user
/// confirms on this provider's page, whose same-site POST carries the
/// cookie, and the session and what it issued really end. As a browser
/// does it: the relying party's POST with no cookie, then the confirmation
/// with the cookies the browser holds by then.
async fn a_cross_site_post_logout_is_confirmed_and_ends_the_session(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    let grant = h.grant(&session, OFFLINE).await;
    let hint = text(&grant, "id_token");
    let form = vec![
        ("id_token_hint", hint.as_str()),
        ("post_logout_redirect_uri", POST_LOGOUT_REDIRECT_URI),
        ("state", "after"),
    ];

    // The relying party's page posts the form: no cookie comes along.
    let response = post(&h, None, &form).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(set_cookie_header(&response, "porthor_session").is_none());
    let csrf_cookie = set_cookie_header(&response, "porthor_csrf")
        .map(|header| header.split(';').next().unwrap().to_owned())
        .expect("a CSRF cookie, which a top-level navigation may set");
    let page = response.text().await.unwrap();
    let csrf = hidden_field(&page, "csrf_token").expect("a confirmation form");
    for (name, value) in &form {
        assert_eq!(hidden_field(&page, name).as_deref(), Some(*value), "{name}");
    }
    assert!(h.session_alive(&session).await, "asking is not logging out");
    assert_eq!(
        h.userinfo_status(&text(&grant, "access_token")).await,
        StatusCode::OK
    );

    // The user confirms: a same-site POST, with the browser's cookies.
    let mut confirmation = form.clone();
    confirmation.push(("csrf_token", &csrf));
    let cookies = format!("{csrf_cookie}; {}", session_cookie(&session));
    let response = post(&h, Some(&cookies), &confirmation).await;
    redirected_out(&response, Some("after"));
    assert!(!h.session_alive(&session).await);
    grant_ended(&h, &grant).await;
}

/// Relying parties often send an ID token long expired: it still
/// identifies the user. Without a redirect URI the user sees the "logged
/// out" page; with a registered one, goes straight back there with the
/// state. Either way the session ends.
async fn an_expired_hint_is_accepted(backend: StoreKind) {
    let h = Harness::start_with_lifetimes(
        backend,
        Lifetimes {
            id_token: Duration::from_secs(1),
            ..Lifetimes::default()
        },
    )
    .await;
    let (first, second) = (h.login().await, h.login().await);
    let first_hint = text(&h.grant(&first, "openid").await, "id_token");
    let grant = h.grant(&second, OFFLINE).await;
    h.clock.advance(Duration::from_secs(2));

    let response = get(
        &h,
        Some(&session_cookie(&first)),
        &[("id_token_hint", &first_hint)],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.text().await.unwrap().contains("logged out"));
    assert!(!h.session_alive(&first).await);

    let response = get(
        &h,
        Some(&session_cookie(&second)),
        &[
            ("id_token_hint", &text(&grant, "id_token")),
            ("post_logout_redirect_uri", POST_LOGOUT_REDIRECT_URI),
            ("state", "late"),
        ],
    )
    .await;
    redirected_out(&response, Some("late"));
    assert!(!h.session_alive(&second).await);
    grant_ended(&h, &grant).await;
}

/// After the browser session has expired, its record lives on for the
/// refresh-token families it started. A logout request that nobody
/// confirmed and that carries no hint (a link or an image on any page can
/// send one) must not end them: without a live session there is nothing to
/// confirm, and so nothing it may end. The relying party's own request,
/// with its ID token, still may.
async fn an_unconfirmed_logout_spares_offline_grants(backend: StoreKind) {
    let h = Harness::start_with_lifetimes(
        backend,
        Lifetimes {
            session: Duration::from_secs(2),
            ..Lifetimes::default()
        },
    )
    .await;
    let session = h.login().await;
    let grant = h.grant(&session, OFFLINE).await;
    h.clock.advance(Duration::from_secs(2));
    assert!(!h.session_alive(&session).await);

    let response = get(
        &h,
        Some(&session_cookie(&session)),
        &[
            ("client_id", CLIENT_ID),
            ("post_logout_redirect_uri", POST_LOGOUT_REDIRECT_URI),
        ],
    )
    .await;
    assert!(
        response.status().is_success() || response.status().is_redirection(),
        "{}",
        response.status()
    );
    let refreshed = h.refresh(&text(&grant, "refresh_token"), None).await;
    assert_eq!(
        refreshed.status(),
        StatusCode::OK,
        "a drive-by logout link ended an offline grant after the browser session expired"
    );
    let refreshed = json(refreshed, StatusCode::OK).await;

    let response = get(
        &h,
        Some(&session_cookie(&session)),
        &[
            ("id_token_hint", &text(&grant, "id_token")),
            ("post_logout_redirect_uri", POST_LOGOUT_REDIRECT_URI),
        ],
    )
    .await;
    redirected_out(&response, None);
    grant_ended(&h, &refreshed).await;
}

on_both_stores!(
    post_with_a_hint_logs_out_at_once,
    confirmation_round_trip,
    the_confirmation_is_checked_again,
    only_this_providers_hints_and_the_clients_uris,
    without_a_session,
    a_cross_site_post_logout_is_confirmed_and_ends_the_session,
    an_expired_hint_is_accepted,
    an_unconfirmed_logout_spares_offline_grants,
);

/// Error pages do not echo what they were sent: a hint may be a credential,
/// a URI hostile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_pages_do_not_echo_the_request() {
    let h = Harness::start(StoreKind::Memory).await;
    let response = get(
        &h,
        None,
        &[
            ("id_token_hint", CLIENT_SECRET),
            ("post_logout_redirect_uri", "https://evil.example/<b>x</b>"),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let page = response.text().await.unwrap();
    assert!(!page.contains(CLIENT_SECRET), "{page}");
    assert!(!page.contains("evil.example"), "{page}");
}
