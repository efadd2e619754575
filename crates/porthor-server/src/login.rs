//! The login and logout pages, the session cookie and CSRF protection.
//!
//! CSRF uses the double-submit pattern: a token in a `SameSite=Strict`
//! cookie must come back, equal, in the form. A cross-site page can make the
//! browser post the form but can neither read the cookie nor, on an https
//! issuer at the root, set it (see `cookies.rs`). Where a sibling subdomain
//! could still plant the cookie, the token's signature stops it: only tokens
//! the provider issued pass (see `porthor_oidc::CsrfKey`).

use std::time::Duration;

use actix_web::cookie::Cookie;
use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::http::{Method, StatusCode, header};
use actix_web::{HttpRequest, HttpResponse};
use minijinja::context;
use porthor_models::Timestamp;
use porthor_oidc::{END_SESSION_PATH, EndSessionRequest, LoginSession, OidcError};
use subtle::ConstantTimeEq as _;
use url::Url;

use crate::client_ip::client_ip;
use crate::error::{login_form_status, page_error, retry_after};
use crate::limits::FormBody;
use crate::params::Params;
use crate::{AppState, State, html};

/// Where users log in; the authorization endpoint sends them here.
pub(crate) const LOGIN_PATH: &str = "/login";
/// Where users log out.
pub(crate) const LOGOUT_PATH: &str = "/logout";

/// The live login session of the browser making `req`, if any, at `now`.
pub(crate) async fn current_session(
    state: &AppState,
    req: &HttpRequest,
    now: Timestamp,
) -> Result<Option<LoginSession>, OidcError> {
    match state.cookies.session(req) {
        Some(cookie) => state.service.session(&cookie, now).await,
        None => Ok(None),
    }
}

/// `rd` resolved against the issuer's URL, if it stays on the issuer: same
/// origin and under `base_path` (the issuer's path, without its trailing
/// `/`). Anything else would make `/login` an open redirect. A function of
/// its arguments alone, so that the property tests can feed it anything.
fn return_url(issuer: &Url, base_path: &str, rd: &str) -> Option<String> {
    if rd.chars().any(|c| c.is_control() || c == '\\') {
        return None;
    }
    let target = issuer.join(rd).ok()?;
    let prefix = format!("{base_path}/");
    // Userinfo stays on the origin but has no business in a return URL:
    // browsers warn about it or strip it, and it spoofs what a user reads.
    let userinfo = !target.username().is_empty() || target.password().is_some();
    (target.origin() == issuer.origin() && target.path().starts_with(&prefix) && !userinfo)
        .then(|| target.into())
}

/// The CSRF token for the form about to be shown: the browser's current one
/// if the provider issued it, or a fresh one (returned with the cookie that
/// carries it, replacing whatever the browser had).
pub(crate) fn csrf_token(state: &AppState, req: &HttpRequest) -> (String, Option<Cookie<'static>>) {
    if let Some(token) = state
        .cookies
        .csrf(req)
        .filter(|token| state.service.is_csrf_token(token))
    {
        return (token, None);
    }
    let token = state.service.csrf_token();
    let cookie = state.cookies.new_csrf(token.clone());
    (token, Some(cookie))
}

/// Whether the form's `csrf_token` matches the browser's CSRF cookie, and is
/// a token the provider issued.
pub(crate) fn csrf_ok(state: &AppState, req: &HttpRequest, form: &Params) -> bool {
    match (state.cookies.csrf(req), form.get("csrf_token")) {
        (Some(cookie), Some(sent)) => {
            bool::from(cookie.as_bytes().ct_eq(sent.as_bytes()))
                && state.service.is_csrf_token(&cookie)
        }
        _ => false,
    }
}

struct LoginPage<'a> {
    status: StatusCode,
    rd: Option<&'a str>,
    username: &'a str,
    error: Option<String>,
    /// `Retry-After`, in seconds.
    retry_after: Option<u64>,
}

/// The name of the application an authorization request `rd` (a URL on
/// this issuer) is for, to say on the login page where the user is going.
fn client_name(state: &AppState, rd: Option<&str>) -> Option<String> {
    let url = Url::parse(rd?).ok()?;
    let query = Params::parse(url.query()?.as_bytes());
    let client = state.service.client(query.get("client_id")?)?;
    Some(client.display_name().to_owned())
}

fn login_page(state: &AppState, req: &HttpRequest, page: LoginPage<'_>) -> HttpResponse {
    let (csrf, cookie) = csrf_token(state, req);
    let mut response = HttpResponse::build(page.status);
    if let Some(cookie) = cookie {
        response.cookie(cookie);
    }
    if let Some(secs) = page.retry_after {
        response.insert_header((header::RETRY_AFTER, secs));
    }
    let values = context! {
        action => state.path(LOGIN_PATH),
        rd => page.rd,
        csrf => csrf,
        username => page.username,
        error => page.error,
        client_name => client_name(state, page.rd),
    };
    html::render(state, req, &mut response, "login.html", values)
}

/// What the login form says about a refused login the user can act on, in
/// `req`'s language; `None` for errors that get an error page.
fn login_error_message(state: &AppState, req: &HttpRequest, error: &OidcError) -> Option<String> {
    let text = |key: &str, args: &[(&str, &str)]| html::text(state, req, key, args);
    match error {
        OidcError::InvalidCredentials => Some(text("login.invalid_credentials", &[])),
        OidcError::LoginThrottled { retry_after } => Some(match minutes(*retry_after) {
            1 => text("login.throttled_one", &[]),
            n => text("login.throttled_many", &[("minutes", &n.to_string())]),
        }),
        OidcError::PasswordChecksBusy => Some(text("login.busy", &[])),
        _ => None,
    }
}

/// `wait` in whole minutes, rounded up, at least 1.
fn minutes(wait: Duration) -> u64 {
    wait.as_secs().div_ceil(60).max(1)
}

fn bad_request(state: &AppState, req: &HttpRequest, detail: &str) -> HttpResponse {
    page_error(state, req, &OidcError::InvalidRequest(detail.to_owned()))
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// `GET /login`: the login form, or straight on to `rd` for a user who is
/// already logged in.
pub(crate) async fn login_form(state: State, req: HttpRequest) -> HttpResponse {
    let query = Params::parse(req.query_string().as_bytes());
    if let Some(name) = query.repeated(&["rd", "prompt"]) {
        return bad_request(&state, &req, &format!("the {name} parameter is repeated"));
    }
    // Sent by the authorization endpoint when the request demands a fresh
    // login (prompt=login, max_age): show the form despite the session.
    let force = query.get("prompt") == Some("login");
    let rd = match query.get("rd") {
        Some(rd) => match return_url(state.service.issuer().url(), &state.base_path, rd) {
            Some(url) => Some(url),
            None => return bad_request(&state, &req, "rd must be a URL on this issuer"),
        },
        None => None,
    };
    let session = match current_session(&state, &req, state.clock.now()).await {
        Ok(session) => session,
        Err(error) => return page_error(&state, &req, &error),
    };
    match (session, rd) {
        (Some(_), Some(rd)) if !force => see_other(&rd),
        (Some(session), None) => {
            let values = context! {
                username => session.data.username,
                logout_url => state.path(LOGOUT_PATH),
            };
            html::render(
                &state,
                &req,
                &mut HttpResponse::Ok(),
                "logged_in.html",
                values,
            )
        }
        (_, rd) => login_page(
            &state,
            &req,
            LoginPage {
                status: StatusCode::OK,
                rd: rd.as_deref(),
                username: "",
                error: None,
                retry_after: None,
            },
        ),
    }
}

/// `POST /login`: checks the password, starts a session and returns to `rd`.
pub(crate) async fn login(state: State, req: HttpRequest, body: FormBody) -> HttpResponse {
    let form = Params::parse(&body);
    if let Some(name) = form.repeated(&["username", "password", "rd", "csrf_token"]) {
        return bad_request(&state, &req, &format!("the {name} parameter is repeated"));
    }
    let rd = match form
        .get("rd")
        .map(|rd| return_url(state.service.issuer().url(), &state.base_path, rd))
    {
        Some(Some(url)) => Some(url),
        Some(None) => return bad_request(&state, &req, "rd must be a URL on this issuer"),
        None => None,
    };
    let username = form.get("username").unwrap_or_default();
    let page = |status, error: String| LoginPage {
        status,
        rd: rd.as_deref(),
        username,
        error: Some(error),
        retry_after: None,
    };
    if !csrf_ok(&state, &req, &form) {
        tracing::info!(
            outcome = "refused",
            reason = "CSRF token mismatch",
            "login refused"
        );
        let error = html::text(&state, &req, "login.expired", &[]);
        return login_page(&state, &req, page(StatusCode::FORBIDDEN, error));
    }
    let (false, Some(password)) = (username.is_empty(), form.get("password")) else {
        let error = html::text(&state, &req, "login.missing", &[]);
        return login_page(&state, &req, page(StatusCode::BAD_REQUEST, error));
    };
    // The browser's current session, which the login replaces (see
    // `OidcService::login`).
    let browser = state.cookies.session(&req);
    let client_ip = client_ip(&req, &state.trusted_proxies);
    let token = match state
        .service
        .login(
            username,
            password,
            browser.as_deref(),
            client_ip,
            state.clock.now(),
        )
        .await
    {
        Ok(token) => token,
        Err(error) => {
            // The form again, keeping the username (never the password).
            let Some(message) = login_error_message(&state, &req, &error) else {
                return page_error(&state, &req, &error);
            };
            let page = LoginPage {
                retry_after: retry_after(&error),
                ..page(login_form_status(&error), message)
            };
            return login_page(&state, &req, page);
        }
    };
    let max_age = i64::try_from(state.service.lifetimes().session.as_secs()).unwrap_or(i64::MAX);
    let cookie = state
        .cookies
        .new_session(token.expose(), CookieDuration::seconds(max_age));
    let mut response = see_other(&rd.unwrap_or_else(|| state.path(LOGIN_PATH)));
    // Adding a cookie to a response that was just built cannot fail.
    let _ = response.add_cookie(&cookie);
    response
}

/// `GET /logout`: a confirmation form, so that a link or an image cannot log
/// the user out.
pub(crate) async fn logout_form(state: State, req: HttpRequest) -> HttpResponse {
    let session = match current_session(&state, &req, state.clock.now()).await {
        Ok(session) => session,
        Err(error) => return page_error(&state, &req, &error),
    };
    let username = session.as_ref().map(|s| s.data.username.as_str());
    logout_confirmation(&state, &req, LOGOUT_PATH, username, &[])
}

/// The logout confirmation form, posting to `route` with a CSRF token and
/// the `hidden` fields.
fn logout_confirmation(
    state: &AppState,
    req: &HttpRequest,
    route: &str,
    username: Option<&str>,
    hidden: &[(&str, &str)],
) -> HttpResponse {
    let (csrf, cookie) = csrf_token(state, req);
    let mut response = HttpResponse::Ok();
    if let Some(cookie) = cookie {
        response.cookie(cookie);
    }
    let values = context! {
        action => state.path(route),
        csrf => csrf,
        username => username,
        hidden => hidden,
    };
    html::render(state, req, &mut response, "logout.html", values)
}

/// A logout form posted without the browser's CSRF token.
fn logout_refused(state: &AppState, req: &HttpRequest) -> HttpResponse {
    tracing::info!(
        outcome = "refused",
        reason = "CSRF token mismatch",
        "logout refused"
    );
    page_error(
        state,
        req,
        &OidcError::InvalidRequest("the logout form expired; please try again".to_owned()),
    )
}

/// `POST /logout`: ends the session (and so every token issued under it).
pub(crate) async fn logout(state: State, req: HttpRequest, body: FormBody) -> HttpResponse {
    let form = Params::parse(&body);
    if form.repeated(&["csrf_token"]).is_some() || !csrf_ok(&state, &req, &form) {
        return logout_refused(&state, &req);
    }
    end_session(&state, &req, see_other(&state.path(LOGIN_PATH))).await
}

/// Ends the browser's session, if any, and answers with `response` less the
/// session cookie.
async fn end_session(state: &AppState, req: &HttpRequest, response: HttpResponse) -> HttpResponse {
    end_session_of(state, req, None, response).await
}

/// [`end_session`], but only if the session is `only_for`'s.
async fn end_session_of(
    state: &AppState,
    req: &HttpRequest,
    only_for: Option<&str>,
    response: HttpResponse,
) -> HttpResponse {
    if let Some(cookie) = state.cookies.session(req)
        && let Err(error) = state.service.logout(&cookie, only_for).await
    {
        return page_error(state, req, &error);
    }
    without_session_cookie(state, response)
}

/// `response`, telling the browser to drop its session cookie.
fn without_session_cookie(state: &AppState, mut response: HttpResponse) -> HttpResponse {
    let removal = state.cookies.session_removal();
    // Adding a cookie to a response that was just built cannot fail.
    let _ = response.add_cookie(&removal);
    response
}

/// The parameters of an RP-initiated logout request.
const END_SESSION_PARAMETERS: [&str; 4] = [
    "id_token_hint",
    "client_id",
    "post_logout_redirect_uri",
    "state",
];

/// `GET` and `POST /auth/openid/logout`: RP-initiated logout.
///
/// A request whose `id_token_hint` names the session's user ends the session
/// at once: only a client the user signed in to holds such a token. Any
/// other request with a session to end is confirmed by the user first, so
/// that a link on any page cannot log them out; the confirmation posts the
/// request back here with a CSRF token.
///
/// A `POST` without the session cookie is confirmed too. The spec lets a
/// relying party post its logout request from its own site, and a
/// `SameSite=Lax` cookie does not come along on a cross-site `POST`: the
/// session is there, but cannot be seen. The confirmation page is this
/// provider's, so its `POST` is same-site and carries the cookie, and the
/// session really ends. (A cross-site `GET` is a top-level navigation, which
/// does carry the cookie: a `GET` without one has no session to end.)
pub(crate) async fn rp_logout(state: State, req: HttpRequest, body: FormBody) -> HttpResponse {
    let post = req.method() == Method::POST;
    let params = if post {
        Params::parse(&body)
    } else {
        Params::parse(req.query_string().as_bytes())
    };
    let mut names = END_SESSION_PARAMETERS.to_vec();
    names.push("csrf_token");
    let request = EndSessionRequest {
        id_token_hint: params.take("id_token_hint"),
        client_id: params.take("client_id"),
        post_logout_redirect_uri: params.take("post_logout_redirect_uri"),
        state: params.take("state"),
        repeated: params.repeated(&names),
    };
    let end = match state.service.validate_end_session(request) {
        Ok(end) => end,
        Err(error) => return page_error(&state, &req, &error),
    };
    let finish = || match &end.redirect {
        Some(url) => see_other(url),
        None => html::render(
            &state,
            &req,
            &mut HttpResponse::Ok(),
            "logged_out.html",
            context! {},
        ),
    };
    if params.get("csrf_token").is_some() {
        if !csrf_ok(&state, &req, &params) {
            return logout_refused(&state, &req);
        }
        return end_session(&state, &req, finish()).await;
    }
    // The request, carried through the confirmation in hidden fields.
    let hidden: Vec<(&str, &str)> = END_SESSION_PARAMETERS
        .iter()
        .filter_map(|name| params.get(name).map(|value| (*name, value)))
        .collect();
    if post && state.cookies.session(&req).is_none() {
        return logout_confirmation(&state, &req, END_SESSION_PATH, None, &hidden);
    }
    let session = match current_session(&state, &req, state.clock.now()).await {
        Ok(session) => session,
        Err(error) => return page_error(&state, &req, &error),
    };
    match session {
        Some(session) if end.hinted_user.as_deref() != Some(&session.data.username) => {
            let username = Some(session.data.username.as_str());
            logout_confirmation(&state, &req, END_SESSION_PATH, username, &hidden)
        }
        Some(_) => end_session(&state, &req, finish()).await,
        // No live session. The record of an expired one may still anchor
        // refresh-token families: an unconfirmed request ends it only if a
        // hint proves the client's user is its user.
        None => match end.hinted_user.as_deref() {
            Some(user) => end_session_of(&state, &req, Some(user), finish()).await,
            None => without_session_cookie(&state, finish()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockouts_are_shown_in_whole_minutes_rounded_up() {
        let shown = |secs| minutes(Duration::from_secs(secs));
        assert_eq!(shown(0), 1);
        assert_eq!(shown(60), 1);
        assert_eq!(shown(61), 2);
        assert_eq!(shown(900), 15);
    }

    mod hostile_input {
        //! Property tests of the `rd` validator: whatever `rd` says, the
        //! URL it yields (if any) is on the issuer's origin and under its
        //! path, and paths under the issuer resolve as `Url::join` says.

        use proptest::prelude::*;
        use url::Url;

        use super::super::return_url;

        /// Issuers at the root and under a path, https and loopback http.
        const ISSUERS: &[&str] = &[
            "https://idp.example",
            "https://idp.example/idp",
            "https://idp.example/idp/",
            "https://idp.example:8443/a/b",
            "http://127.0.0.1:8080",
        ];

        /// The issuer's URL and base path, as `AppState::new` derives them.
        fn issuer(index: usize) -> (Url, String) {
            let url = Url::parse(ISSUERS[index % ISSUERS.len()]).unwrap();
            let base_path = url.path().trim_end_matches('/').to_owned();
            (url, base_path)
        }

        /// The pieces open redirects are made of.
        const PIECES: &[&str] = &[
            "//evil.example",
            "\\",
            "/\\evil.example",
            "\\\\evil.example",
            "http:evil.example",
            "https:evil.example",
            "https:",
            "javascript:alert(1)",
            "data:text/html,x",
            "%2f%2f",
            "%2F",
            "%5c",
            "%2e%2e",
            "%2E.",
            "\t",
            "\n",
            "\r",
            "\u{0}",
            "\u{7f}",
            "\u{85}",
            "@",
            "evil.example",
            "idp.example.evil",
            "https://idp.example@evil.example",
            "https://evil.example@idp.example",
            "https://idp.example",
            "https://idp.example:8443",
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8081",
            "..",
            "../",
            "/..",
            "./",
            ".",
            "/",
            "//",
            "idp",
            "/idp",
            "/idpx",
            "/a/b",
            "/a/bc",
            ":",
            ":443",
            "?",
            "#",
            " ",
            "é",
            "\u{202e}",
            "\u{ff0f}",
            "\u{3002}",
            "ｅvil",
        ];

        /// Strings glued from those pieces, bits of text, and anything at
        /// all.
        fn hostile_rd() -> impl Strategy<Value = String> {
            let piece = prop_oneof![
                4 => proptest::sample::select(PIECES).prop_map(str::to_owned),
                1 => "[a-z0-9.]{1,6}",
                1 => any::<String>().prop_map(|s| s.chars().take(4).collect()),
            ];
            proptest::collection::vec(piece, 0..8).prop_map(|pieces| pieces.concat())
        }

        /// Path segments that need no escaping, and an optional query.
        fn plain_path() -> impl Strategy<Value = String> {
            (
                proptest::collection::vec("[A-Za-z0-9_~-]{1,8}", 0..4),
                proptest::option::of("[a-z]{1,5}=[A-Za-z0-9]{0,8}"),
            )
                .prop_map(|(segments, query)| {
                    let mut path = segments.join("/");
                    if let Some(query) = query {
                        path.push('?');
                        path.push_str(&query);
                    }
                    path
                })
        }

        proptest! {
            #[test]
            fn accepted_rd_stays_on_the_issuer(index in 0usize..ISSUERS.len(), rd in hostile_rd()) {
                let (issuer, base_path) = issuer(index);
                if let Some(target) = return_url(&issuer, &base_path, &rd) {
                    let parsed = Url::parse(&target).unwrap();
                    prop_assert_eq!(parsed.as_str(), target.as_str(), "canonical");
                    prop_assert_eq!(parsed.origin(), issuer.origin());
                    let prefix = format!("{base_path}/");
                    prop_assert!(parsed.path().starts_with(&prefix), "{} {}", target, prefix);
                    // No dot segment is left for anyone to resolve later.
                    prop_assert!(
                        parsed.path().split('/').all(|s| s != "." && s != ".."),
                        "{}", target
                    );
                    // The Location header is absolute: resolved against any
                    // page, it is the same URL.
                    let elsewhere = Url::parse("https://evil.example/x/y").unwrap();
                    prop_assert_eq!(&elsewhere.join(&target).unwrap(), &parsed);
                    prop_assert!(
                        !target.chars().any(|c| c.is_control() || c.is_whitespace() || c == '\\'),
                        "{:?}", target
                    );
                    prop_assert!(parsed.username().is_empty() && parsed.password().is_none());
                }
            }

            #[test]
            fn rd_with_userinfo_is_refused(
                index in 0usize..ISSUERS.len(),
                user in "[a-z]{1,6}",
                password in proptest::option::of("[a-z]{0,6}"),
                path in plain_path(),
            ) {
                let (issuer, base_path) = issuer(index);
                let userinfo = match password {
                    Some(password) => format!("{user}:{password}@"),
                    None => format!("{user}@"),
                };
                let host = issuer.host_str().unwrap();
                let port = issuer.port().map(|p| format!(":{p}")).unwrap_or_default();
                let rd = format!("{}://{userinfo}{host}{port}{base_path}/{path}", issuer.scheme());
                prop_assert_eq!(return_url(&issuer, &base_path, &rd), None, "{}", rd);
            }

            #[test]
            fn paths_under_the_base_resolve_as_join_says(
                index in 0usize..ISSUERS.len(),
                path in plain_path(),
            ) {
                let (issuer, base_path) = issuer(index);
                let rd = format!("{base_path}/{path}");
                let expected = issuer.join(&rd).unwrap().to_string();
                prop_assert_eq!(return_url(&issuer, &base_path, &rd), Some(expected.clone()));
                // The same target written as an absolute URL.
                let absolute = format!("{}{rd}", issuer.origin().ascii_serialization());
                prop_assert_eq!(return_url(&issuer, &base_path, &absolute), Some(expected));
            }

            #[test]
            fn paths_beside_the_base_are_refused(
                index in 1usize..ISSUERS.len() - 1,
                sibling in "[a-z]{1,4}",
                path in plain_path(),
            ) {
                let (issuer, base_path) = issuer(index);
                // At the root, the whole origin is under the base.
                prop_assume!(!base_path.is_empty());
                // A sibling of the base whose name starts like it (`/idpx`),
                // the base without its slash, a climb out of it.
                let beside = format!("{base_path}{sibling}/{path}");
                prop_assert_eq!(return_url(&issuer, &base_path, &beside), None);
                prop_assert_eq!(return_url(&issuer, &base_path, &base_path), None);
                // (`~` so as not to climb back into the base.)
                let up = format!("{base_path}/../~{sibling}/{path}");
                prop_assert_eq!(return_url(&issuer, &base_path, &up), None);
            }
        }
    }
}
