//! The harness's HTTP client, speaking to the server as a browser (login,
//! logout, authorization requests with a session cookie) and as a relying
//! party (token, revocation, introspection and userinfo requests).

use porthor_models::AuthorizationCode;
use porthor_test_support::{raw_keys, redis_url, storage_key};
use reqwest::header::COOKIE;
use reqwest::{Response, StatusCode};
use serde_json::Value;

use super::{
    CLIENT_ID, CLIENT_SECRET, ConsentPage, Harness, PASSWORD, REDIRECT_URI, USERNAME, hidden_field,
    json, location, query, set_cookie, token_error,
};

/// The `Cookie` header of a browser with login session `session`.
pub fn session_cookie(session: &str) -> String {
    format!("porthor_session={session}")
}

impl Harness {
    pub async fn get(&self, path: &str) -> Response {
        self.http.get(self.url(path)).send().await.unwrap()
    }

    /// The discovery document.
    pub async fn discovery(&self) -> Value {
        json(
            self.get("/.well-known/openid-configuration").await,
            StatusCode::OK,
        )
        .await
    }

    /// The JWKS, fetched from the `jwks_uri` the discovery document names,
    /// as a relying party does.
    pub async fn jwks(&self) -> Value {
        let doc = self.discovery().await;
        let uri = doc["jwks_uri"].as_str().expect("jwks_uri");
        json(self.http.get(uri).send().await.unwrap(), StatusCode::OK).await
    }

    /// The CSRF cookie and token of a fresh login form.
    pub async fn login_form(&self) -> (String, String) {
        let response = self.get("/login").await;
        assert_eq!(response.status(), StatusCode::OK);
        let cookie = set_cookie(&response, "porthor_csrf").expect("CSRF cookie");
        let body = response.text().await.unwrap();
        let token = hidden_field(&body, "csrf_token").expect("csrf_token field");
        assert_eq!(cookie, token);
        (cookie, token)
    }

    /// Posts the login form; returns the response.
    pub async fn post_login(&self, form: &[(&str, &str)]) -> Response {
        self.post_login_with_headers(form, &[]).await
    }

    /// Posts the login form with extra request `headers` (such as
    /// `X-Forwarded-For`); returns the response.
    pub async fn post_login_with_headers(
        &self,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Response {
        let (cookie, token) = self.login_form().await;
        let mut form = form.to_vec();
        form.push(("csrf_token", &token));
        let mut request = self
            .http
            .post(self.url("/login"))
            .header(COOKIE, format!("porthor_csrf={cookie}"))
            .form(&form);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    }

    /// The browser's way through the login form at `form_url` (where the
    /// authorization endpoint sent it): GET the form (with `session`, if
    /// any), which must show, then post alice's credentials with its CSRF
    /// token and hidden `rd`. Returns that `rd`, unescaped, and the POST's
    /// response.
    pub async fn log_in_through_form(
        &self,
        form_url: &str,
        session: Option<&str>,
    ) -> (String, Response) {
        let mut request = self.http.get(form_url);
        if let Some(session) = session {
            request = request.header(COOKIE, session_cookie(session));
        }
        let form = request.send().await.unwrap();
        assert_eq!(form.status(), StatusCode::OK, "the login form must show");
        let csrf_cookie = set_cookie(&form, "porthor_csrf").expect("CSRF cookie");
        let body = form.text().await.unwrap();
        let csrf = hidden_field(&body, "csrf_token").expect("csrf_token field");
        let rd = hidden_field(&body, "rd")
            .expect("rd field")
            .replace("&amp;", "&");
        let cookies = browser_cookies(&csrf_cookie, session);
        let response = self
            .http
            .post(self.url("/login"))
            .header(COOKIE, cookies)
            .form(&[
                ("username", USERNAME),
                ("password", PASSWORD),
                ("rd", &rd),
                ("csrf_token", &csrf),
            ])
            .send()
            .await
            .unwrap();
        (rd, response)
    }

    /// The rest of the browser's trip once the authorization endpoint has
    /// sent it to the login form at `form_url`: through the form
    /// ([`Harness::log_in_through_form`]), then back to the authorization
    /// endpoint (the form's `rd`) with the new session. Returns `rd`, the
    /// new session and the authorization endpoint's answer.
    pub async fn log_in_and_return(
        &self,
        form_url: &str,
        session: Option<&str>,
    ) -> (String, String, Response) {
        let (rd, logged_in) = self.log_in_through_form(form_url, session).await;
        assert_eq!(logged_in.status(), StatusCode::SEE_OTHER);
        let fresh = set_cookie(&logged_in, "porthor_session").expect("a session cookie");
        let to = location(&logged_in);
        assert_eq!(to.as_str(), rd, "the login must return to rd");
        let back = self
            .http
            .get(to.as_str())
            .header(COOKIE, session_cookie(&fresh))
            .send()
            .await
            .unwrap();
        (rd, fresh, back)
    }

    /// Logs `username` in (with [`PASSWORD`], which every user has) in a
    /// browser that holds the session cookie `session`, if any, as that
    /// browser would: the login form's CSRF cookie, and the session cookie,
    /// go with the post. Returns the new session cookie's value.
    pub async fn login_in_browser(&self, username: &str, session: Option<&str>) -> String {
        let (csrf_cookie, csrf) = self.login_form().await;
        let cookies = browser_cookies(&csrf_cookie, session);
        let response = self
            .http
            .post(self.url("/login"))
            .header(COOKIE, cookies)
            .form(&[
                ("username", username),
                ("password", PASSWORD),
                ("csrf_token", &csrf),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        set_cookie(&response, "porthor_session").expect("session cookie")
    }

    /// Logs alice in; returns the session cookie's value.
    pub async fn login(&self) -> String {
        let response = self
            .post_login(&[("username", USERNAME), ("password", PASSWORD)])
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        set_cookie(&response, "porthor_session").expect("session cookie")
    }

    /// Logs the session out through the logout form.
    pub async fn logout(&self, session: &str) {
        let (cookie, token) = self.login_form().await;
        let response = self
            .http
            .post(self.url("/logout"))
            .header(
                COOKIE,
                format!("porthor_csrf={cookie}; {}", session_cookie(session)),
            )
            .form(&[("csrf_token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
    }

    /// A GET to the authorization endpoint with `params`, as a browser with
    /// `session` (if any).
    pub async fn authorize(&self, session: Option<&str>, params: &[(&str, &str)]) -> Response {
        let mut request = self.http.get(self.url("/auth/openid/login")).query(params);
        if let Some(session) = session {
            request = request.header(COOKIE, session_cookie(session));
        }
        request.send().await.unwrap()
    }

    /// Posts `form` to the consent form's action with the `Cookie` header
    /// `cookies` (if any).
    pub async fn post_consent(&self, cookies: Option<&str>, form: &[(&str, &str)]) -> Response {
        let mut request = self.http.post(self.url("/consent")).form(form);
        if let Some(cookies) = cookies {
            request = request.header(COOKIE, cookies);
        }
        request.send().await.unwrap()
    }

    /// Answers the consent `page` with `decision` (`allow` or `deny`) as the
    /// browser it was shown to (with the CSRF cookie the page set), now with
    /// login session `session`.
    pub async fn decide_consent(
        &self,
        page: &ConsentPage,
        session: &str,
        decision: &str,
    ) -> Response {
        let csrf = page.csrf_cookie.as_deref().expect("the page's CSRF cookie");
        let cookies = format!("porthor_csrf={csrf}; {}", session_cookie(session));
        let form = [
            ("csrf_token", page.csrf_token.as_str()),
            ("login_session", page.login_session.as_str()),
            ("request", page.request.as_str()),
            ("decision", decision),
        ];
        self.post_consent(Some(&cookies), &form).await
    }

    /// A code for the default client, nonce `n-1` and state `s-1`.
    pub async fn code(&self, session: &str) -> String {
        self.code_for(session, CLIENT_ID, REDIRECT_URI, "openid profile email")
            .await
    }

    pub async fn code_for(
        &self,
        session: &str,
        client_id: &str,
        redirect_uri: &str,
        scope: &str,
    ) -> String {
        let params = [
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", redirect_uri),
            ("scope", scope),
            ("state", "s-1"),
            ("nonce", "n-1"),
        ];
        let response = self.authorize(Some(session), &params).await;
        assert_eq!(response.status(), StatusCode::FOUND);
        let location = location(&response);
        assert!(location.as_str().starts_with(redirect_uri), "{location}");
        assert_eq!(query(&location, "state").as_deref(), Some("s-1"));
        assert_eq!(
            query(&location, "iss").as_deref(),
            Some(self.issuer.as_str())
        );
        query(&location, "code").expect("code in the redirect")
    }

    /// Redeems `code` as the default client with HTTP Basic.
    pub async fn redeem(&self, code: &str) -> Response {
        self.token(
            Some((CLIENT_ID, CLIENT_SECRET)),
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT_URI),
            ],
        )
        .await
    }

    /// A token request with optional HTTP Basic credentials.
    pub async fn token(&self, basic: Option<(&str, &str)>, form: &[(&str, &str)]) -> Response {
        self.back_channel("/auth/openid/token", basic, form).await
    }

    /// A revocation request (RFC 7009) with optional HTTP Basic credentials.
    pub async fn revoke(&self, basic: Option<(&str, &str)>, form: &[(&str, &str)]) -> Response {
        self.back_channel("/auth/openid/revoke", basic, form).await
    }

    /// An introspection request (RFC 7662) with optional HTTP Basic
    /// credentials.
    pub async fn introspect(&self, basic: Option<(&str, &str)>, form: &[(&str, &str)]) -> Response {
        self.back_channel("/auth/openid/introspect", basic, form)
            .await
    }

    /// A form POST to a back-channel endpoint with optional HTTP Basic
    /// credentials.
    async fn back_channel(
        &self,
        path: &str,
        basic: Option<(&str, &str)>,
        form: &[(&str, &str)],
    ) -> Response {
        let mut request = self.http.post(self.url(path)).form(form);
        if let Some((id, secret)) = basic {
            request = request.basic_auth(id, Some(secret));
        }
        request.send().await.unwrap()
    }

    /// Redeems a fresh code for the default client with `scope`: the token
    /// response.
    pub async fn grant(&self, session: &str, scope: &str) -> Value {
        let code = self.code_for(session, CLIENT_ID, REDIRECT_URI, scope).await;
        json(self.redeem(&code).await, StatusCode::OK).await
    }

    /// A refresh-token grant for the default client.
    pub async fn refresh(&self, refresh_token: &str, scope: Option<&str>) -> Response {
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ];
        form.extend(scope.map(|scope| ("scope", scope)));
        self.token(Some((CLIENT_ID, CLIENT_SECRET)), &form).await
    }

    /// Asserts that the default client's refresh with `refresh_token` is
    /// refused as invalid_grant.
    pub async fn assert_refresh_refused(&self, refresh_token: &str) {
        token_error(
            self.refresh(refresh_token, None).await,
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        )
        .await;
    }

    pub async fn userinfo(&self, access_token: &str) -> Response {
        self.http
            .get(self.url("/auth/openid/userinfo"))
            .bearer_auth(access_token)
            .send()
            .await
            .unwrap()
    }

    /// The status of a userinfo request with `access_token`.
    pub async fn userinfo_status(&self, access_token: &str) -> StatusCode {
        self.userinfo(access_token).await.status()
    }

    /// Whether the browser session `session` still works: the
    /// authorization endpoint issues a code without asking for a login.
    pub async fn session_alive(&self, session: &str) -> bool {
        let response = self
            .authorize(
                Some(session),
                &[
                    ("response_type", "code"),
                    ("client_id", CLIENT_ID),
                    ("redirect_uri", REDIRECT_URI),
                    ("scope", "openid"),
                ],
            )
            .await;
        response.status() == StatusCode::FOUND && query(&location(&response), "code").is_some()
    }

    /// The Redis keys of the server's records of `kind` (`code`, `session`,
    /// `token`, `refresh`, or `*` for all). Redis only.
    pub async fn stored_keys(&self, kind: &str) -> Vec<String> {
        let prefix = self.redis_prefix.as_deref().expect("a server on Redis");
        let pattern = match kind {
            "*" => format!("{prefix}:*"),
            kind => format!("{prefix}:{{*}}:v2:{kind}:*"),
        };
        raw_keys(&redis_url(), &pattern).await
    }

    /// The storage key of the record behind `code` (Redis only).
    pub fn code_storage_key(&self, code: &str) -> String {
        let code = AuthorizationCode::parse(code).unwrap();
        storage_key(self.redis_prefix.as_deref().unwrap(), "code", code.key())
    }
}

/// The `Cookie` header of a browser posting a form: the CSRF cookie, and the
/// session cookie if it holds one.
fn browser_cookies(csrf_cookie: &str, session: Option<&str>) -> String {
    match session {
        Some(session) => format!("porthor_csrf={csrf_cookie}; {}", session_cookie(session)),
        None => format!("porthor_csrf={csrf_cookie}"),
    }
}
