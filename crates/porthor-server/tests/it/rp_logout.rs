//! RP-initiated logout at `/auth/openid/logout`: an `id_token_hint` naming
//! the session's user logs out at once; anything else asks the user first;
//! the redirect afterwards goes only to a registered
//! `post_logout_redirect_uri`.

use std::time::Duration;

use porthor_oidc::Lifetimes;
use reqwest::header::COOKIE;
use reqwest::{Response, StatusCode};

use crate::harness::{
    Backend, CLIENT_ID, Harness, OTHER_CLIENT_ID, Options, POST_LOGOUT_REDIRECT_URI, hidden_field,
    json, location, query, set_cookie_header,
};
use crate::on_both_stores;

const PATH: &str = "/auth/openid/logout";

async fn end_session(h: &Harness, session: Option<&str>, params: &[(&str, &str)]) -> Response {
    let mut request = h.http.get(h.url(PATH)).query(params);
    if let Some(session) = session {
        request = request.header(COOKIE, format!("porthor_session={session}"));
    }
    request.send().await.unwrap()
}

/// The common case: the application sends the user here with the ID token
/// it holds, a registered URI and its state. The session, and every token
/// issued under it, ends; the user goes back with the state.
async fn hint_for_the_session_user_logs_out_at_once(h: Harness) {
    let session = h.login().await;
    let grant = h.grant(&session, "openid offline_access").await;
    let hint = grant["id_token"].as_str().unwrap();
    let response = end_session(
        &h,
        Some(&session),
        &[
            ("id_token_hint", hint),
            ("post_logout_redirect_uri", POST_LOGOUT_REDIRECT_URI),
            ("state", "st ate"),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let to = location(&response);
    assert!(to.as_str().starts_with(POST_LOGOUT_REDIRECT_URI), "{to}");
    assert_eq!(query(&to, "state").as_deref(), Some("st ate"));
    let removal = set_cookie_header(&response, "porthor_session").expect("cookie removed");
    assert!(removal.contains("Max-Age=0"), "{removal}");

    assert!(!h.session_alive(&session).await);
    assert_eq!(
        h.userinfo_status(grant["access_token"].as_str().unwrap())
            .await,
        StatusCode::UNAUTHORIZED
    );
    let refresh = h
        .refresh(grant["refresh_token"].as_str().unwrap(), None)
        .await;
    assert_eq!(refresh.status(), StatusCode::BAD_REQUEST);
}

/// Without a hint for the session's user, anyone could have sent the
/// browser here: the user confirms, through a form with a CSRF token that
/// carries the request along.
async fn without_a_hint_the_user_confirms(h: Harness) {
    let session = h.login().await;
    let params = [
        ("client_id", CLIENT_ID),
        ("post_logout_redirect_uri", POST_LOGOUT_REDIRECT_URI),
        ("state", "s"),
    ];
    let response = end_session(&h, Some(&session), &params).await;
    assert_eq!(response.status(), StatusCode::OK);
    let csrf_cookie = set_cookie_header(&response, "porthor_csrf")
        .map(|header| header.split(';').next().unwrap().to_owned())
        .expect("a CSRF cookie");
    let page = response.text().await.unwrap();
    let csrf = hidden_field(&page, "csrf_token").expect("a CSRF token");
    assert_eq!(
        hidden_field(&page, "post_logout_redirect_uri").as_deref(),
        Some(POST_LOGOUT_REDIRECT_URI)
    );
    assert!(h.session_alive(&session).await, "asking is not logging out");

    let post = |token: &str| {
        let mut form = params.to_vec();
        form.push(("csrf_token", token));
        h.http
            .post(h.url(PATH))
            .header(COOKIE, format!("{csrf_cookie}; porthor_session={session}"))
            .form(&form)
            .send()
    };
    let forged = post("not-the-token").await.unwrap();
    assert_eq!(forged.status(), StatusCode::BAD_REQUEST);
    assert!(h.session_alive(&session).await);

    let confirmed = post(&csrf).await.unwrap();
    assert_eq!(confirmed.status(), StatusCode::SEE_OTHER);
    assert_eq!(query(&location(&confirmed), "state").as_deref(), Some("s"));
    assert!(!h.session_alive(&session).await);
}

/// Nothing here redirects anywhere not registered for the client, and a
/// request that cannot be trusted is an error page.
async fn bad_requests_are_error_pages(h: Harness) {
    let session = h.login().await;
    let grant = h.grant(&session, "openid").await;
    let hint = grant["id_token"].as_str().unwrap();
    let mut forged = hint.to_owned();
    let at = forged.len() - 10;
    let flipped = if &forged[at..=at] == "A" { "B" } else { "A" };
    forged.replace_range(at..=at, flipped);
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![
            ("client_id", CLIENT_ID),
            ("post_logout_redirect_uri", "https://evil.example/"),
        ],
        vec![("post_logout_redirect_uri", POST_LOGOUT_REDIRECT_URI)],
        vec![
            ("client_id", OTHER_CLIENT_ID),
            ("post_logout_redirect_uri", POST_LOGOUT_REDIRECT_URI),
        ],
        vec![("id_token_hint", hint), ("client_id", OTHER_CLIENT_ID)],
        vec![("id_token_hint", forged.as_str())],
        vec![("id_token_hint", "not.a.jwt")],
        vec![("client_id", "nobody")],
        vec![("state", "a"), ("state", "b")],
    ];
    for params in cases {
        let response = end_session(&h, Some(&session), &params).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{params:?}");
        assert!(response.headers().get("location").is_none(), "{params:?}");
    }
    assert!(h.session_alive(&session).await);
}

/// With no session there is nothing to end: straight to the registered
/// URI, or a page saying so.
async fn without_a_session(h: Harness) {
    let response = end_session(
        &h,
        None,
        &[
            ("client_id", CLIENT_ID),
            ("post_logout_redirect_uri", POST_LOGOUT_REDIRECT_URI),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response).as_str(), POST_LOGOUT_REDIRECT_URI);
    let response = end_session(&h, None, &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.text().await.unwrap().contains("logged out"));
    // Advertised.
    let discovery = json(
        h.get("/.well-known/openid-configuration").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(discovery["end_session_endpoint"], h.url(PATH));
}

on_both_stores!(
    hint_for_the_session_user_logs_out_at_once,
    without_a_hint_the_user_confirms,
    bad_requests_are_error_pages,
    without_a_session,
);

/// Relying parties often send an ID token long expired: it still
/// identifies the user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_hint_is_accepted() {
    let h = Harness::start_with(Options {
        lifetimes: Lifetimes {
            id_token: Duration::from_secs(1),
            ..Lifetimes::default()
        },
        ..Options::new(Backend::Redis)
    })
    .await;
    let session = h.login().await;
    let grant = h.grant(&session, "openid").await;
    h.clock.advance(Duration::from_secs(2));
    let response = end_session(
        &h,
        Some(&session),
        &[("id_token_hint", grant["id_token"].as_str().unwrap())],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.text().await.unwrap().contains("logged out"));
    assert!(!h.session_alive(&session).await);
}
