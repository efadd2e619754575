//! Cookies and the headers every response carries: `__Host-` and
//! `__Secure-` names on an https issuer, HSTS on its every response,
//! `nosniff` on JSON too, and CSRF tokens that only pass if this provider
//! issued them. The issuer is only a name to the server, so these servers
//! are named `https://…` and serve plain HTTP on loopback.

use reqwest::header::COOKIE;
use reqwest::{Response, StatusCode};

use crate::harness::{
    CLIENT_ID, CLIENT_SECRET, Harness, Options, PASSWORD, StoreKind, USERNAME, hidden_field,
    session_cookie, set_cookie, set_cookie_header,
};

async fn https_issuer(issuer_path: &'static str) -> Harness {
    Harness::start_with(Options {
        https_issuer: true,
        issuer_path,
        ..Options::new(StoreKind::Memory)
    })
    .await
}

/// The cookies' `Set-Cookie` attributes other than the value, split.
fn attributes(header: &str) -> Vec<String> {
    header
        .split(';')
        .skip(1)
        .map(|attribute| attribute.trim().to_owned())
        .collect()
}

/// Logs alice in through the form of `h`, whose cookies have `prefix`;
/// returns the session cookie's `Set-Cookie` header.
async fn log_in(h: &Harness, prefix: &str) -> String {
    let form = h.get("/login").await;
    assert_eq!(form.status(), StatusCode::OK);
    let csrf_header =
        set_cookie_header(&form, &format!("{prefix}porthor_csrf")).expect("a prefixed CSRF cookie");
    let csrf_cookie = csrf_header.split(';').next().unwrap().to_owned();
    let token = hidden_field(&form.text().await.unwrap(), "csrf_token").unwrap();
    let response = h
        .http
        .post(h.url("/login"))
        .header(COOKIE, &csrf_cookie)
        .form(&[
            ("username", USERNAME),
            ("password", PASSWORD),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let csrf = attributes(&csrf_header);
    for expected in ["Secure", "HttpOnly", "SameSite=Strict"] {
        assert!(csrf.iter().any(|a| a == expected), "{csrf_header}");
    }
    set_cookie_header(&response, &format!("{prefix}porthor_session")).expect("a session cookie")
}

/// Whether a browser with `cookie` (a whole `name=value`) is logged in, as
/// `/login` tells it.
async fn logged_in(h: &Harness, cookie: &str) -> bool {
    let page = h
        .http
        .get(h.url("/login"))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap();
    page.text().await.unwrap().contains("You are logged in as")
}

/// On an https issuer at the root of its host, both cookies are
/// `__Host-`: `Secure`, `Path=/`, no `Domain`, so a sibling subdomain
/// cannot set them. The unprefixed names are not read at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_issuer_at_the_root_uses_host_prefixed_cookies() {
    let h = https_issuer("").await;
    assert!(h.issuer.starts_with("https://"));
    let header = log_in(&h, "__Host-").await;
    let set = attributes(&header);
    for expected in ["Secure", "HttpOnly", "Path=/", "SameSite=Lax"] {
        assert!(set.iter().any(|a| a == expected), "{header}");
    }
    assert!(!set.iter().any(|a| a.starts_with("Domain")), "{header}");
    let cookie = header.split(';').next().unwrap().to_owned();
    assert!(logged_in(&h, &cookie).await);
    let (_, value) = cookie.split_once('=').unwrap();
    assert!(
        !logged_in(&h, &session_cookie(value)).await,
        "an unprefixed cookie is someone else's"
    );

    // Logging out removes it with the attributes a browser requires of a
    // `__Host-` cookie, or it would keep it.
    let form = h.get("/login").await;
    let csrf = set_cookie_header(&form, "__Host-porthor_csrf").unwrap();
    let csrf_cookie = csrf.split(';').next().unwrap();
    let token = hidden_field(&form.text().await.unwrap(), "csrf_token").unwrap();
    let response = h
        .http
        .post(h.url("/logout"))
        .header(COOKIE, format!("{csrf_cookie}; {cookie}"))
        .form(&[("csrf_token", &token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let removal = set_cookie_header(&response, "__Host-porthor_session").unwrap();
    let set = attributes(&removal);
    for expected in ["Secure", "Path=/", "Max-Age=0"] {
        assert!(set.iter().any(|a| a == expected), "{removal}");
    }
    assert!(!logged_in(&h, &cookie).await);
}

/// Under a path, `__Host-` is impossible (it requires `Path=/`, which would
/// hand the cookies to every application on the host): `__Secure-`, scoped
/// to the issuer's path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_issuer_under_a_path_uses_secure_prefixed_cookies() {
    let h = https_issuer("/idp").await;
    let header = log_in(&h, "__Secure-").await;
    let set = attributes(&header);
    for expected in ["Secure", "HttpOnly", "Path=/idp/"] {
        assert!(set.iter().any(|a| a == expected), "{header}");
    }
    assert!(logged_in(&h, header.split(';').next().unwrap()).await);
}

/// The requests below, as a browser and a relying party make them: pages,
/// JSON, redirects, errors of each kind, a path that does not exist.
async fn assorted_responses(h: &Harness) -> Vec<(String, Response)> {
    let mut responses = Vec::new();
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/jwks.json",
        "/login",
        "/logout",
        "/auth/openid/login?client_id=app&response_type=code&scope=openid",
        "/auth/openid/login",
        "/auth/openid/userinfo",
        "/auth/openid/token",
        "/health",
        "/no/such/path",
    ] {
        responses.push((format!("GET {path}"), h.get(path).await));
    }
    responses.push((
        "POST token".to_owned(),
        h.token(
            Some((CLIENT_ID, CLIENT_SECRET)),
            &[("grant_type", "authorization_code"), ("code", "x")],
        )
        .await,
    ));
    responses.push((
        "POST introspect".to_owned(),
        h.introspect(Some((CLIENT_ID, CLIENT_SECRET)), &[("token", "x")])
            .await,
    ));
    responses
}

/// HSTS on every response of an https issuer, whatever its kind or status;
/// never on the plain-http loopback demo, where it would mean nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hsts_on_every_response_of_an_https_issuer() {
    let h = https_issuer("").await;
    for (what, response) in assorted_responses(&h).await {
        assert_eq!(
            response
                .headers()
                .get("strict-transport-security")
                .map(|v| v.to_str().unwrap()),
            Some("max-age=31536000"),
            "{what}: {}",
            response.status()
        );
    }
    let plain = Harness::start(StoreKind::Memory).await;
    for (what, response) in assorted_responses(&plain).await {
        assert!(
            response
                .headers()
                .get("strict-transport-security")
                .is_none(),
            "{what}"
        );
    }
}

/// `X-Content-Type-Options: nosniff` on every response, JSON included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nosniff_on_json_responses_too() {
    let h = Harness::start(StoreKind::Memory).await;
    let session = h.login().await;
    let mut responses = assorted_responses(&h).await;
    let code = h.code(&session).await;
    responses.push(("POST token (success)".to_owned(), h.redeem(&code).await));
    for (what, response) in responses {
        assert_eq!(
            response
                .headers()
                .get("x-content-type-options")
                .map(|v| v.to_str().unwrap()),
            Some("nosniff"),
            "{what}"
        );
    }
}

/// A CSRF cookie planted by a sibling subdomain (or by any means but this
/// provider's own forms) cannot pass, even with a form that carries the
/// same value: the token must bear this provider's signature. Nor does a
/// token another deployment signed. A planted cookie shown a form is
/// replaced with a genuine one.
async fn a_csrf_cookie_planted_by_a_sibling_subdomain_cannot_pass(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let (genuine, _) = h.login_form().await;
    let (nonce, signature) = genuine.split_once('.').unwrap();
    let elsewhere = Harness::start(StoreKind::Memory).await;
    let (other_deployments, _) = elsewhere.login_form().await;
    let planted = [
        // The unsigned form tokens had before.
        "AAAAAAAAAAAAAAAAAAAAAA".to_owned(),
        "planted-by-a-sibling".to_owned(),
        format!("{nonce}.{}", "A".repeat(signature.len())),
        format!("AAAAAAAAAAAAAAAAAAAAAA.{signature}"),
        other_deployments,
    ];
    let session = h.login().await;
    for value in &planted {
        let cookie = format!("porthor_csrf={value}");
        let login = h
            .http
            .post(h.url("/login"))
            .header(COOKIE, &cookie)
            .form(&[
                ("username", USERNAME),
                ("password", PASSWORD),
                ("csrf_token", value),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(login.status(), StatusCode::FORBIDDEN, "{value}");
        assert!(set_cookie(&login, "porthor_session").is_none(), "{value}");

        let logout = h
            .http
            .post(h.url("/logout"))
            .header(COOKIE, format!("{cookie}; {}", session_cookie(&session)))
            .form(&[("csrf_token", value)])
            .send()
            .await
            .unwrap();
        assert_eq!(logout.status(), StatusCode::BAD_REQUEST, "{value}");

        let form = h
            .http
            .get(h.url("/login"))
            .header(COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        let fresh = set_cookie(&form, "porthor_csrf").expect("a genuine cookie replaces it");
        assert_ne!(&fresh, value);
        let token = hidden_field(&form.text().await.unwrap(), "csrf_token").unwrap();
        assert_eq!(fresh, token);
    }
    assert!(h.session_alive(&session).await);

    // The genuine cookie, still sent, is kept and works.
    let form = h
        .http
        .get(h.url("/login"))
        .header(COOKIE, format!("porthor_csrf={genuine}"))
        .send()
        .await
        .unwrap();
    assert!(set_cookie(&form, "porthor_csrf").is_none());
    let login = h
        .http
        .post(h.url("/login"))
        .header(COOKIE, format!("porthor_csrf={genuine}"))
        .form(&[
            ("username", USERNAME),
            ("password", PASSWORD),
            ("csrf_token", genuine.as_str()),
            ("rd", &h.url("/auth/openid/login?client_id=app")),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::SEE_OTHER);
    assert!(set_cookie(&login, "porthor_session").is_some());
}

crate::on_both_stores!(a_csrf_cookie_planted_by_a_sibling_subdomain_cannot_pass);
