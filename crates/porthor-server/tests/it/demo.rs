//! The built-in demo relying party under `/demo/`, driven as a browser
//! drives it: from the landing page's button through the login form (one
//! failed attempt first), the callback, the claims page, a refresh and a
//! logout through the end_session endpoint; and every way its callback and
//! forms refuse what this browser did not start (another state, no cookie,
//! an expired one, a replayed callback, a denied login, a forged form).

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::{Response, StatusCode};
use url::Url;

use crate::harness::{
    DEMO_CLIENT_ID, Harness, Options, PASSWORD, StoreKind, USERNAME, hidden_field, location, query,
};
use crate::on_both_stores;

/// A browser: it keeps the cookies the server sets (by name: the demo's,
/// the session's and the CSRF cookie are all distinct) and sends them all
/// back. Redirects are followed by the test, one at a time.
struct Browser<'h> {
    harness: &'h Harness,
    cookies: BTreeMap<String, String>,
}

impl<'h> Browser<'h> {
    fn new(harness: &'h Harness) -> Self {
        Self {
            harness,
            cookies: BTreeMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, response: &Response) {
        for header in response.headers().get_all(SET_COOKIE) {
            let header = header.to_str().unwrap();
            let (pair, attributes) = header.split_once(';').unwrap_or((header, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || attributes.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    /// `url`, absolute or a path under the issuer.
    fn absolute(&self, url: &str) -> String {
        if url.starts_with("http") {
            url.to_owned()
        } else {
            self.harness.url(url)
        }
    }

    async fn get(&mut self, url: &str) -> Response {
        let response = self
            .harness
            .http
            .get(self.absolute(url))
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep(&response);
        response
    }

    async fn post(&mut self, url: &str, form: &[(&str, &str)]) -> Response {
        let response = self
            .harness
            .http
            .post(self.absolute(url))
            .header(COOKIE, self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.keep(&response);
        response
    }

    fn demo_cookie(&self) -> Option<String> {
        self.cookies.get("porthor_demo").cloned()
    }
}

async fn demo_server(backend: StoreKind) -> Harness {
    Harness::start_with(Options {
        demo: true,
        ..Options::new(backend)
    })
    .await
}

fn see_other(response: &Response) -> Url {
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{response:?}");
    location(response)
}

async fn page(response: Response, status: StatusCode) -> String {
    assert_eq!(response.status(), status, "{}", response.url());
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    response.text().await.unwrap()
}

/// From `/demo/start` to the callback URL the authorization endpoint sends
/// the browser to, through the login form: a wrong password first when
/// `fail_once`. Returns the authorization request's URL and the callback's.
async fn to_callback(browser: &mut Browser<'_>, fail_once: bool) -> (Url, Url) {
    let harness = browser.harness;
    let authorization = see_other(&browser.get("/demo/start").await);
    let to_form = browser.get(authorization.as_str()).await;
    assert!(to_form.status().is_redirection(), "{to_form:?}");
    let form_url = location(&to_form);
    let form = page(browser.get(form_url.as_str()).await, StatusCode::OK).await;
    let csrf = hidden_field(&form, "csrf_token").unwrap();
    let rd = hidden_field(&form, "rd").unwrap().replace("&amp;", "&");
    if fail_once {
        let wrong = browser
            .post(
                "/login",
                &[
                    ("username", USERNAME),
                    ("password", "not the password"),
                    ("rd", &rd),
                    ("csrf_token", &csrf),
                ],
            )
            .await;
        let body = page(wrong, StatusCode::UNAUTHORIZED).await;
        assert!(body.contains("Invalid username or password"), "{body}");
    }
    let logged_in = browser
        .post(
            "/login",
            &[
                ("username", USERNAME),
                ("password", PASSWORD),
                ("rd", &rd),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(see_other(&logged_in).as_str(), rd);
    let back = browser.get(&rd).await;
    assert!(back.status().is_redirection(), "{back:?}");
    let callback = location(&back);
    assert_eq!(
        callback.as_str().split('?').next().unwrap(),
        harness.url("/demo/callback")
    );
    (authorization, callback)
}

on_both_stores!(
    the_whole_demo_from_the_landing_page_to_the_logout,
    a_callback_with_another_state_is_refused,
    a_callback_without_the_demo_cookie_is_refused,
    an_expired_demo_login_is_refused,
    a_replayed_callback_is_refused_and_revokes_its_tokens,
    a_denied_login_ends_on_a_clear_page,
    the_claims_page_forms_need_its_token,
);

async fn the_whole_demo_from_the_landing_page_to_the_logout(backend: StoreKind) {
    let harness = demo_server(backend).await;
    let mut browser = Browser::new(&harness);

    let landing = page(browser.get("/").await, StatusCode::OK).await;
    let start_link = format!("href=\"{}/demo/start\"", harness.issuer);
    assert!(landing.contains(&start_link), "{landing}");
    // /demo/ itself starts a login too.
    assert_eq!(
        see_other(&browser.get("/demo/").await).path(),
        "/demo/start"
    );

    // The start: the authorization request, and the login bound to this
    // browser in a sealed cookie.
    let start = browser.get("/demo/start").await;
    let authorization = see_other(&start);
    let cookie = start
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .find(|value| value.starts_with("porthor_demo="))
        .expect("the demo's cookie");
    for attribute in ["HttpOnly", "Path=/demo/", "SameSite=Lax", "Max-Age=600"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(
        authorization
            .as_str()
            .starts_with(&format!("{}/auth/openid/login?", harness.issuer))
    );
    let param = |name| query(&authorization, name).unwrap_or_default();
    assert_eq!(param("response_type"), "code");
    assert_eq!(param("client_id"), DEMO_CLIENT_ID);
    assert_eq!(param("redirect_uri"), harness.url("/demo/callback"));
    assert_eq!(param("code_challenge_method"), "S256");
    assert_eq!(param("code_challenge").len(), 43);
    assert_eq!(param("scope"), "openid profile email groups offline_access");
    let sealed = browser.demo_cookie().unwrap();
    for value in [param("state"), param("nonce")] {
        assert!(value.len() >= 43, "{value}");
        assert!(!sealed.contains(&value), "the cookie shows {value}");
    }

    // The login, one failure first, and the way back to the callback.
    let (authorization, callback) = to_callback(&mut browser, true).await;
    assert_eq!(query(&callback, "state"), query(&authorization, "state"));
    assert_eq!(
        query(&callback, "iss").as_deref(),
        Some(harness.issuer.as_str())
    );
    let code = query(&callback, "code").unwrap();

    // The callback redeems the code and keeps the tokens, sealed.
    let claims_url = see_other(&browser.get(callback.as_str()).await);
    assert_eq!(claims_url.path(), "/demo/claims");
    let sealed = browser.demo_cookie().unwrap();
    for clear in ["eyJ", "pat-", "prt-", code.as_str()] {
        assert!(!sealed.contains(clear), "the cookie shows {clear}");
    }

    // The claims page: the verified ID token and userinfo's answer.
    let jwks = harness.jwks().await;
    let kid = jwks["keys"][0]["kid"].as_str().unwrap().to_owned();
    let claims = page(browser.get(claims_url.as_str()).await, StatusCode::OK).await;
    for shown in [
        "Logged in to the demo application",
        &format!("key <strong>{kid}</strong>"),
        "<strong>ES256</strong>",
        "&quot;kid&quot;",
        "<code>iss</code>",
        &harness.issuer,
        "<code>nonce</code>",
        "<code>preferred_username</code></th><td>alice</td>",
        "Alice Example",
        "alice@example.com",
        "What the userinfo endpoint answered",
        "Refresh tokens",
    ] {
        assert!(claims.contains(shown), "{shown} not in {claims}");
    }
    assert_eq!(claims.matches("<td>alice@example.com</td>").count(), 2);
    assert!(!claims.contains("Tokens refreshed"), "{claims}");
    assert!(!claims.contains("eyJ"), "a token on the page");
    // Shown again on a reload: nothing on the page is single-use.
    let again = page(browser.get(claims_url.as_str()).await, StatusCode::OK).await;
    assert!(again.contains("Alice Example"));

    // A refresh: new tokens, verified, shown.
    let form_token = hidden_field(&claims, "form_token").unwrap();
    harness.clock.advance(Duration::from_secs(5));
    let refreshed = browser
        .post("/demo/refresh", &[("form_token", &form_token)])
        .await;
    assert_eq!(see_other(&refreshed).path(), "/demo/claims");
    let claims = page(browser.get("/demo/claims").await, StatusCode::OK).await;
    assert!(
        claims.contains("Tokens refreshed with the refresh token (1 so far)"),
        "{claims}"
    );
    // A refreshed ID token carries no nonce (OpenID Connect Core 12.2).
    assert!(!claims.contains("<code>nonce</code>"), "{claims}");
    assert!(claims.contains("Alice Example"));

    // The logout: to the end_session endpoint with the ID token as a hint,
    // which ends Porthor's session at once and comes back to the demo.
    let session = browser.cookies["porthor_session"].clone();
    assert!(harness.session_alive(&session).await);
    let logout = browser
        .post("/demo/logout", &[("form_token", &form_token)])
        .await;
    let end_session = see_other(&logout);
    assert!(browser.demo_cookie().is_none(), "the tokens are forgotten");
    assert_eq!(end_session.path(), "/auth/openid/logout");
    assert_eq!(
        query(&end_session, "post_logout_redirect_uri"),
        Some(harness.url("/demo/logged-out"))
    );
    assert!(query(&end_session, "id_token_hint").is_some());
    let back = browser.get(end_session.as_str()).await;
    assert_eq!(see_other(&back).as_str(), harness.url("/demo/logged-out"));
    assert!(!harness.session_alive(&session).await);
    let logged_out = page(browser.get("/demo/logged-out").await, StatusCode::OK).await;
    assert!(
        logged_out.contains("Logged out of the demo"),
        "{logged_out}"
    );
    assert!(logged_out.contains(&start_link), "{logged_out}");
}

/// An error page of the demo's: 4xx, HTML, naming what happened, offering
/// a new start, and ending the demo's cookie.
async fn demo_error(
    browser: &mut Browser<'_>,
    url: &str,
    status: StatusCode,
    title: &str,
) -> String {
    let response = browser.get(url).await;
    assert!(browser.demo_cookie().is_none(), "the cookie must end");
    let body = page(response, status).await;
    assert!(body.contains(title), "{title} not in {body}");
    let start_link = format!("href=\"{}/demo/start\"", browser.harness.issuer);
    assert!(body.contains(&start_link), "{body}");
    body
}

async fn a_callback_with_another_state_is_refused(backend: StoreKind) {
    let harness = demo_server(backend).await;
    let mut browser = Browser::new(&harness);
    let (_, mut callback) = to_callback(&mut browser, false).await;
    let genuine = callback.clone();
    let pairs: Vec<(String, String)> = callback
        .query_pairs()
        .map(|(name, value)| {
            let value = if name == "state" {
                format!("{value}x")
            } else {
                value.into_owned()
            };
            (name.into_owned(), value)
        })
        .collect();
    callback.query_pairs_mut().clear().extend_pairs(pairs);
    let body = demo_error(
        &mut browser,
        callback.as_str(),
        StatusCode::BAD_REQUEST,
        "Login not started here",
    )
    .await;
    assert!(body.contains("invalid_state"), "{body}");
    // The pending login is spent: the genuine callback finds none.
    demo_error(
        &mut browser,
        genuine.as_str(),
        StatusCode::BAD_REQUEST,
        "Demo login expired",
    )
    .await;
}

async fn a_callback_without_the_demo_cookie_is_refused(backend: StoreKind) {
    let harness = demo_server(backend).await;
    let mut browser = Browser::new(&harness);
    let (_, callback) = to_callback(&mut browser, false).await;
    // Another browser (or this one, its cookie lost) at the callback.
    let mut other = Browser::new(&harness);
    demo_error(
        &mut other,
        callback.as_str(),
        StatusCode::BAD_REQUEST,
        "Demo login expired",
    )
    .await;
    // A cookie that does not open is no better.
    browser.cookies.insert(
        "porthor_demo".into(),
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
    );
    demo_error(
        &mut browser,
        callback.as_str(),
        StatusCode::BAD_REQUEST,
        "Demo login expired",
    )
    .await;
}

async fn an_expired_demo_login_is_refused(backend: StoreKind) {
    let harness = demo_server(backend).await;
    let mut browser = Browser::new(&harness);
    // The login starts, then the browser comes back eleven minutes later.
    let authorization = see_other(&browser.get("/demo/start").await);
    harness.clock.advance(Duration::from_secs(11 * 60));
    let to_form = browser.get(authorization.as_str()).await;
    let form = page(
        browser.get(location(&to_form).as_str()).await,
        StatusCode::OK,
    )
    .await;
    let rd = hidden_field(&form, "rd").unwrap().replace("&amp;", "&");
    let logged_in = browser
        .post(
            "/login",
            &[
                ("username", USERNAME),
                ("password", PASSWORD),
                ("rd", &rd),
                ("csrf_token", &hidden_field(&form, "csrf_token").unwrap()),
            ],
        )
        .await;
    see_other(&logged_in);
    let callback = location(&browser.get(&rd).await);
    demo_error(
        &mut browser,
        callback.as_str(),
        StatusCode::BAD_REQUEST,
        "Demo login expired",
    )
    .await;
}

async fn a_replayed_callback_is_refused_and_revokes_its_tokens(backend: StoreKind) {
    let harness = demo_server(backend).await;
    let mut browser = Browser::new(&harness);
    let (_, callback) = to_callback(&mut browser, false).await;
    let pending = browser.demo_cookie().unwrap();
    see_other(&browser.get(callback.as_str()).await);
    let first = browser.demo_cookie().unwrap();
    // An attacker holding the callback's URL and the pending cookie (say,
    // from a proxy's log) replays it: the code is spent, and its replay
    // revokes what its redemption issued (RFC 6749 4.1.2).
    let mut attacker = Browser::new(&harness);
    attacker.cookies.insert("porthor_demo".into(), pending);
    let body = demo_error(
        &mut attacker,
        callback.as_str(),
        StatusCode::BAD_REQUEST,
        "Demo login failed",
    )
    .await;
    assert!(body.contains("invalid_grant"), "{body}");
    // The first redemption's access token no longer reads userinfo.
    browser.cookies.insert("porthor_demo".into(), first);
    let claims = page(browser.get("/demo/claims").await, StatusCode::OK).await;
    assert!(
        claims.contains("The userinfo endpoint refused the access token"),
        "{claims}"
    );
}

async fn a_denied_login_ends_on_a_clear_page(backend: StoreKind) {
    let harness = demo_server(backend).await;
    let mut browser = Browser::new(&harness);
    let authorization = see_other(&browser.get("/demo/start").await);
    let state = query(&authorization, "state").unwrap();
    let mut denied = Url::parse(&harness.url("/demo/callback")).unwrap();
    denied
        .query_pairs_mut()
        .append_pair("error", "access_denied")
        .append_pair("error_description", "the user denied the request")
        .append_pair("state", &state)
        .append_pair("iss", &harness.issuer);
    let body = demo_error(
        &mut browser,
        denied.as_str(),
        StatusCode::BAD_REQUEST,
        "Login cancelled",
    )
    .await;
    assert!(body.contains("access_denied"), "{body}");

    // A response naming another issuer (a mix-up) is refused too.
    let authorization = see_other(&browser.get("/demo/start").await);
    let mut mixed = Url::parse(&harness.url("/demo/callback")).unwrap();
    mixed
        .query_pairs_mut()
        .append_pair("code", "pc-x.y")
        .append_pair("state", &query(&authorization, "state").unwrap())
        .append_pair("iss", "https://evil.example");
    let body = demo_error(
        &mut browser,
        mixed.as_str(),
        StatusCode::BAD_REQUEST,
        "Demo login failed",
    )
    .await;
    assert!(body.contains("iss is not this provider"), "{body}");
}

async fn the_claims_page_forms_need_its_token(backend: StoreKind) {
    let harness = demo_server(backend).await;
    let mut browser = Browser::new(&harness);
    // Without a demo session: the pages say so.
    demo_error(
        &mut browser,
        "/demo/claims",
        StatusCode::BAD_REQUEST,
        "Demo login expired",
    )
    .await;
    let (_, callback) = to_callback(&mut browser, false).await;
    see_other(&browser.get(callback.as_str()).await);
    let sealed = browser.demo_cookie().unwrap();
    for path in ["/demo/refresh", "/demo/logout"] {
        browser
            .cookies
            .insert("porthor_demo".into(), sealed.clone());
        let forged = browser.post(path, &[("form_token", "forged")]).await;
        assert!(browser.demo_cookie().is_none());
        let body = page(forged, StatusCode::FORBIDDEN).await;
        assert!(body.contains("did not come from this browser"), "{body}");
    }
}

/// Off unless configured: no routes, no button.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_demo_there_is_no_demo() {
    let harness = Harness::start(StoreKind::Memory).await;
    let landing = harness.get("/").await.text().await.unwrap();
    assert!(!landing.contains("/demo/"), "{landing}");
    for path in ["/demo/", "/demo/start", "/demo/callback", "/demo/claims"] {
        assert_eq!(
            harness.get(path).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
}

/// Under an issuer with a path, the demo's routes, cookie, redirect URI
/// and calls to the server's own endpoints all carry it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_lives_under_the_issuers_path() {
    let harness = Harness::start_with(Options {
        demo: true,
        issuer_path: "/idp/",
        ..Options::new(StoreKind::Memory)
    })
    .await;
    let mut browser = Browser::new(&harness);
    let start = browser.get("/demo/start").await;
    let cookie = start.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(cookie.contains("Path=/idp/demo/"), "{cookie}");
    let (_, callback) = to_callback(&mut browser, false).await;
    assert_eq!(callback.path(), "/idp/demo/callback");
    let claims = see_other(&browser.get(callback.as_str()).await);
    assert_eq!(claims.path(), "/idp/demo/claims");
    let page = page(browser.get(claims.as_str()).await, StatusCode::OK).await;
    assert!(page.contains("Alice Example"), "{page}");
    assert!(
        page.contains(&format!(
            "action=\"{}/demo/refresh\"",
            harness.issuer.trim_end_matches('/')
        )),
        "{page}"
    );
}
