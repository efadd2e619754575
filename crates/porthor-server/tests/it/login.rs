//! The login and logout pages: passwords, CSRF, the session cookie, no open
//! redirects, and logs that never carry a secret.

use porthor_test_support::logs;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION};

use crate::harness::{
    CLIENT_ID, CLIENT_SECRET, Harness, PASSWORD, REDIRECT_URI, StoreKind, USERNAME, hidden_field,
    json, location, query, session_cookie, set_cookie, set_cookie_header,
};

async fn form_has_the_fields_and_a_strict_csrf_cookie(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let response = h.get("/login?rd=%2Fauth%2Fopenid%2Flogin%3Fx%3D1").await;
    assert_eq!(response.status(), StatusCode::OK);
    let csrf = set_cookie_header(&response, "porthor_csrf").unwrap();
    assert!(
        csrf.contains("HttpOnly") && csrf.contains("SameSite=Strict"),
        "{csrf}"
    );
    assert_eq!(response.headers()["x-frame-options"], "DENY");
    let body = response.text().await.unwrap();
    for field in [
        r#"name="username""#,
        r#"name="password""#,
        r#"type="password""#,
        r#"name="csrf_token""#,
    ] {
        assert!(body.contains(field), "{field} missing: {body}");
    }
    assert_eq!(
        hidden_field(&body, "rd").unwrap(),
        h.url("/auth/openid/login?x=1")
    );
}

async fn good_password_starts_a_session(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let rd = h.url("/auth/openid/login?client_id=app");
    let response = h
        .post_login(&[("username", USERNAME), ("password", PASSWORD), ("rd", &rd)])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response).as_str(), rd);
    let cookie = set_cookie_header(&response, "porthor_session").unwrap();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    // Plain-http loopback issuer: the browser would drop a Secure cookie.
    assert!(!cookie.contains("Secure"), "{cookie}");
    let session = set_cookie(&response, "porthor_session").unwrap();
    assert!(session.starts_with("ps-"));
    // Logged in: /login shows who, and goes straight on to a valid rd.
    let page = h
        .http
        .get(h.url("/login"))
        .header(COOKIE, session_cookie(&session))
        .send()
        .await
        .unwrap();
    assert!(page.text().await.unwrap().contains("alice"));
    let again = h
        .http
        .get(h.url("/login"))
        .query(&[("rd", rd.as_str())])
        .header(COOKIE, session_cookie(&session))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&again).as_str(), rd);
}

async fn wrong_password_or_user_reshows_the_form(backend: StoreKind) {
    let h = Harness::start(backend).await;
    for (username, password) in [
        (USERNAME, "wrong password"),
        ("mallory", PASSWORD),
        (USERNAME, ""),
    ] {
        let response = h
            .post_login(&[("username", username), ("password", password)])
            .await;
        let expected = if password.is_empty() {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::UNAUTHORIZED
        };
        assert_eq!(response.status(), expected, "{username}");
        assert!(set_cookie(&response, "porthor_session").is_none());
        let body = response.text().await.unwrap();
        assert!(
            body.contains(r#"name="password""#) && body.contains("class=\"error\""),
            "{body}"
        );
        if !password.is_empty() {
            assert!(!body.contains(password), "the password was echoed");
        }
    }
}

async fn csrf_token_is_required(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let (cookie, token) = h.login_form().await;
    let attempts = [
        (None, Some(token.as_str())),
        (Some(cookie.as_str()), None),
        (Some(cookie.as_str()), Some("AAAAAAAAAAAAAAAAAAAAAA")),
    ];
    for (cookie, token) in attempts {
        let mut form = vec![("username", USERNAME), ("password", PASSWORD)];
        if let Some(token) = token {
            form.push(("csrf_token", token));
        }
        let mut request = h.http.post(h.url("/login")).form(&form);
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, format!("porthor_csrf={cookie}"));
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert!(set_cookie(&response, "porthor_session").is_none());
    }
}

/// `rd` must stay on the issuer; anything else is refused before and after
/// the password check, and nothing redirects off-site.
async fn open_redirects_are_refused(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let port = h.issuer.rsplit(':').next().unwrap().to_owned();
    let other_port = format!(
        "http://127.0.0.1:{}/login",
        port.parse::<u16>().unwrap() ^ 1
    );
    let attacks = [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example/x",
        "\\\\evil.example",
        "https:evil.example",
        "javascript:alert(1)",
        "data:text/html,hi",
        "http://localhost/login",
        "http://127.0.0.1@evil.example/",
        other_port.as_str(),
        "/login\r\nX-Injected: 1",
    ];
    for rd in attacks {
        let response = h
            .http
            .get(h.url("/login"))
            .query(&[("rd", rd)])
            .send()
            .await
            .unwrap();
        let status = response.status();
        assert!(
            response.headers().get(LOCATION).is_none(),
            "GET rd={rd} redirected"
        );
        if status == StatusCode::OK {
            // Resolved on the issuer ("https:evil.example" is a relative path).
            let body = response.text().await.unwrap();
            let kept = hidden_field(&body, "rd").unwrap();
            assert!(
                kept.starts_with(&format!("{}/", h.issuer)),
                "rd={rd} kept as {kept}"
            );
        } else {
            assert_eq!(status, StatusCode::BAD_REQUEST, "GET rd={rd}");
        }
        let response = h
            .post_login(&[("username", USERNAME), ("password", PASSWORD), ("rd", rd)])
            .await;
        match response.status() {
            StatusCode::SEE_OTHER => {
                let target = location(&response);
                assert!(
                    target.as_str().starts_with(&format!("{}/", h.issuer)),
                    "POST rd={rd} went to {target}"
                );
            }
            status => {
                assert_eq!(status, StatusCode::BAD_REQUEST, "POST rd={rd}");
                assert!(set_cookie(&response, "porthor_session").is_none());
            }
        }
    }
}

async fn logout_needs_the_form_and_ends_the_session(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let session = h.login().await;
    // GET shows a form and does not log out.
    let response = h
        .http
        .get(h.url("/logout"))
        .header(COOKIE, session_cookie(&session))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(hidden_field(&response.text().await.unwrap(), "csrf_token").is_some());
    // A POST without the CSRF token does not either.
    let response = h
        .http
        .post(h.url("/logout"))
        .header(COOKIE, session_cookie(&session))
        .form(&[("csrf_token", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let code = h.code(&session).await;
    let token = json(h.redeem(&code).await, StatusCode::OK).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    h.logout(&session).await;
    let response = h
        .authorize(
            Some(&session),
            &[
                ("response_type", "code"),
                ("client_id", CLIENT_ID),
                ("redirect_uri", REDIRECT_URI),
                ("scope", "openid"),
            ],
        )
        .await;
    assert_eq!(location(&response).path(), "/login");
    assert_eq!(h.userinfo(&token).await.status(), StatusCode::UNAUTHORIZED);
}

/// The browser's whole trip: client -> authorize -> login -> authorize ->
/// client, then the code exchange; and no secret in any log line.
async fn browser_flow_and_clean_logs(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let params = [
        ("response_type", "code"),
        ("client_id", CLIENT_ID),
        ("redirect_uri", REDIRECT_URI),
        ("scope", "openid email"),
        ("state", "xyz"),
        ("nonce", "abc"),
    ];
    let to_login = location(&h.authorize(None, &params).await);
    let (rd, session, back) = h.log_in_and_return(to_login.as_str(), None).await;
    assert_eq!(rd, query(&to_login, "rd").unwrap());
    let callback = location(&back);
    assert_eq!(query(&callback, "state").as_deref(), Some("xyz"));
    let code = query(&callback, "code").unwrap();
    let tokens = json(h.redeem(&code).await, StatusCode::OK).await;
    let access_token = tokens["access_token"].as_str().unwrap();
    assert_eq!(
        json(h.userinfo(access_token).await, StatusCode::OK).await["email"],
        "alice@example.com"
    );

    let lines = logs::capture().lines();
    let (_, code_secret) = code.split_once('.').unwrap();
    let (_, session_secret) = session.split_once('.').unwrap();
    let (_, token_secret) = access_token.split_once('.').unwrap();
    for secret in [
        code_secret,
        session_secret,
        token_secret,
        PASSWORD,
        CLIENT_SECRET,
        &code,
        &session,
        access_token,
    ] {
        assert!(
            lines.iter().all(|line| !line.contains(secret)),
            "a secret was logged"
        );
    }
    let logged = |needles: &[&str]| !logs::capture().matching("INFO", needles).is_empty();
    assert!(
        logged(&["target=porthor::audit login user=alice", "outcome=success"]),
        "{lines:?}"
    );
    assert!(
        logged(&[
            "code issued",
            "client.id=app",
            "user=alice",
            "outcome=issued"
        ]),
        "{lines:?}"
    );
    assert!(
        logged(&[
            "code redeemed",
            "client.id=app",
            "user=alice",
            "outcome=redeemed"
        ]),
        "{lines:?}"
    );
}

crate::on_both_stores!(
    form_has_the_fields_and_a_strict_csrf_cookie,
    good_password_starts_a_session,
    wrong_password_or_user_reshows_the_form,
    csrf_token_is_required,
    open_redirects_are_refused,
    logout_needs_the_form_and_ends_the_session,
    browser_flow_and_clean_logs,
);

// The core flows on a Redis Cluster.
crate::on_the_cluster_too!(
    good_password_starts_a_session,
    logout_needs_the_form_and_ends_the_session,
);
