//! The pages people see: the landing page, the shared stylesheet and its
//! policy, the language chosen by `Accept-Language`, error pages that say
//! what to do next, accessible forms, and an operator's overrides of the
//! templates, messages, stylesheet and logo.

use std::sync::Arc;

use porthor_server::{Ui, UiError, UiSettings};
use reqwest::StatusCode;
use reqwest::header::{
    ACCEPT_LANGUAGE, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH,
};

use crate::harness::{
    CLIENT_ID, CONSENT_CLIENT_ID, Harness, Options, PASSWORD, REDIRECT_URI, StoreKind, USERNAME,
    hidden_field,
};

/// The value of the attribute `name` on the first tag holding `marker`.
fn attribute_after(body: &str, marker: &str, name: &str) -> Option<String> {
    let at = body.find(marker)?;
    let tag_end = body[at..].find('>')? + at;
    let tag_start = body[..at].rfind('<')?;
    let tag = &body[tag_start..tag_end];
    let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
    let len = tag[start..].find('"')?;
    Some(tag[start..start + len].to_owned())
}

async fn get_in(h: &Harness, path: &str, language: &str) -> (StatusCode, String) {
    let response = h
        .http
        .get(h.url(path))
        .header(ACCEPT_LANGUAGE, language)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

async fn landing_page_says_what_runs_and_links_to_discovery_and_jwks(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let response = h.get("/").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
    let body = response.text().await.unwrap();
    assert!(body.contains("<title>Porthor · Porthor</title>"), "{body}");
    assert!(
        body.contains(&format!(
            "Porthor</strong> <strong>{}",
            env!("CARGO_PKG_VERSION")
        )) || body.contains(&format!("Porthor {}", env!("CARGO_PKG_VERSION"))),
        "{body}"
    );
    assert!(
        body.contains(&format!("<code>{}</code>", h.issuer)),
        "{body}"
    );
    let discovery = format!("{}/.well-known/openid-configuration", h.issuer);
    assert!(body.contains(&format!("href=\"{discovery}\"")), "{body}");
    let jwks = h.discovery().await["jwks_uri"].as_str().unwrap().to_owned();
    assert!(body.contains(&format!("href=\"{jwks}\"")), "{body}");
    // The demo relying party is off: no button to it.
    assert!(!body.contains("/demo/"), "{body}");
}

async fn landing_page_lives_under_the_issuers_path(backend: StoreKind) {
    let h = Harness::start_with(Options {
        issuer_path: "/idp/",
        ..Options::new(backend)
    })
    .await;
    for path in ["", "/"] {
        let response = h.http.get(h.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let body = response.text().await.unwrap();
        let css = attribute_after(&body, "rel=\"stylesheet\"", "href").unwrap();
        assert!(css.starts_with("/idp/static/style.css?v="), "{css}");
    }
}

async fn pages_share_one_cacheable_stylesheet_under_a_strict_policy(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let response = h.get("/login").await;
    let policy = response.headers()[CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(policy.contains("default-src 'none'"), "{policy}");
    assert!(policy.contains("style-src 'self'"), "{policy}");
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    assert!(!policy.contains("script-src"), "{policy}");
    let body = response.text().await.unwrap();
    assert!(
        !body.contains("<script") && !body.contains("style="),
        "{body}"
    );
    assert!(!body.contains("<style"), "{body}");
    let css = attribute_after(&body, "rel=\"stylesheet\"", "href").unwrap();
    let response = h.get(&css).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CONTENT_TYPE], "text/css; charset=utf-8");
    let cache = response.headers()[CACHE_CONTROL].to_str().unwrap();
    assert!(
        cache.contains("public") && cache.contains("immutable"),
        "{cache}"
    );
    let etag = response.headers()[ETAG].clone();
    let text = response.text().await.unwrap();
    // No external assets: nothing loads from elsewhere.
    assert!(
        !text.contains("url(") && !text.contains("@import"),
        "{text}"
    );
    assert!(text.contains("max-width"), "{text}");
    let again = h
        .http
        .get(h.url(&css))
        .header(IF_NONE_MATCH, etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    // No logo configured: nothing there, and the page's icon (which
    // browsers fetch on a first visit, a 404 otherwise) is the built-in one.
    assert_eq!(h.get("/static/logo").await.status(), StatusCode::NOT_FOUND);
    let icon = attribute_after(&body, "rel=\"icon\"", "href").unwrap();
    assert!(icon.starts_with("/static/icon.svg?v="), "{icon}");
    let response = h.get(&icon).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CONTENT_TYPE], "image/svg+xml");
}

async fn german_is_chosen_by_accept_language_with_q_values(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let (status, body) = get_in(&h, "/login", "de-CH, en;q=0.5").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("<html lang=\"de\">"), "{body}");
    assert!(
        body.contains("<label for=\"username\">Benutzername</label>"),
        "{body}"
    );
    assert!(body.contains(">Anmelden</button>"), "{body}");
    for (header, german) in [
        ("en;q=0.9, de;q=0.8", false),
        ("fr, de;q=0.3", true),
        ("de;q=0, en", false),
        ("fr", false),
        ("", false),
    ] {
        let (_, body) = get_in(&h, "/login", header).await;
        assert_eq!(body.contains("Benutzername"), german, "{header:?}: {body}");
        assert_eq!(body.contains("lang=\"de\""), german, "{header:?}");
    }
    // A refused login answers in the browser's language too.
    let (cookie, token) = h.login_form().await;
    let response = h
        .http
        .post(h.url("/login"))
        .header(ACCEPT_LANGUAGE, "de")
        .header(reqwest::header::COOKIE, format!("porthor_csrf={cookie}"))
        .form(&[
            ("username", USERNAME),
            ("password", "wrong"),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body = response.text().await.unwrap();
    assert!(
        body.contains("Benutzername oder Passwort ist falsch."),
        "{body}"
    );
}

async fn a_refused_login_is_announced_and_tied_to_the_fields(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let (status, body) = get_in(&h, "/login", "en").await;
    assert_eq!(status, StatusCode::OK);
    // The live region is there before anything goes wrong, so that screen
    // readers announce what appears in it; fields are labelled.
    assert!(body.contains("id=\"form-error\" role=\"alert\""), "{body}");
    assert!(body.contains("<label for=\"username\">"), "{body}");
    assert!(body.contains("<label for=\"password\">"), "{body}");
    assert!(body.contains("name=\"viewport\""), "{body}");
    assert!(!body.contains("aria-invalid"), "{body}");
    let response = h
        .post_login(&[("username", USERNAME), ("password", "wrong")])
        .await;
    let body = response.text().await.unwrap();
    assert!(body.contains("Invalid username or password."), "{body}");
    assert_eq!(
        attribute_after(&body, "id=\"password\"", "aria-describedby").as_deref(),
        Some("form-error"),
        "{body}"
    );
    assert_eq!(
        attribute_after(&body, "id=\"username\"", "aria-invalid").as_deref(),
        Some("true")
    );
    // The username is kept; the password never comes back.
    assert_eq!(
        attribute_after(&body, "id=\"username\"", "value").as_deref(),
        Some(USERNAME)
    );
    assert!(!body.contains(PASSWORD));
}

async fn the_login_page_names_the_application(backend: StoreKind) {
    let h = Harness::start(backend).await;
    for (client_id, shown) in [
        (
            CONSENT_CLIENT_ID,
            "to continue to <strong>Lab &lt;Dashboard&gt; &amp; &quot;Co&quot;</strong>".to_owned(),
        ),
        // A client without a name is shown by its id.
        (
            CLIENT_ID,
            format!("to continue to <strong>{CLIENT_ID}</strong>"),
        ),
    ] {
        let response = h
            .authorize(
                None,
                &[
                    ("response_type", "code"),
                    ("client_id", client_id),
                    ("redirect_uri", REDIRECT_URI),
                    ("scope", "openid"),
                ],
            )
            .await;
        let login = crate::harness::location(&response);
        let body = h
            .http
            .get(login)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(body.contains(&shown), "{body}");
    }
}

async fn an_unknown_client_is_told_to_contact_its_administrator(backend: StoreKind) {
    let h = Harness::start(backend).await;
    for (language, what, next) in [
        (
            "en",
            "This application is not registered here.",
            "Contact the application&#39;s administrator",
        ),
        (
            "de",
            "Diese Anwendung ist hier nicht registriert.",
            "Wenden Sie sich an die Administration der Anwendung",
        ),
    ] {
        let response = h
            .http
            .get(h.url("/auth/openid/login"))
            .header(ACCEPT_LANGUAGE, language)
            .query(&[
                ("response_type", "code"),
                ("client_id", "nobody-registered-me"),
                ("redirect_uri", REDIRECT_URI),
                ("scope", "openid"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body = response.text().await.unwrap();
        assert!(body.contains(what), "{body}");
        assert!(body.contains(next), "{body}");
        assert!(body.contains("<code>invalid_request</code>"), "{body}");
    }
    // A redirect URI the client never registered gets its own explanation.
    let response = h
        .authorize(
            None,
            &[
                ("response_type", "code"),
                ("client_id", CLIENT_ID),
                ("redirect_uri", "https://evil.example/cb"),
                ("scope", "openid"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = response.text().await.unwrap();
    assert!(body.contains("an address it has not registered"), "{body}");
    assert!(!body.contains("evil.example"), "{body}");
}

/// A template directory with a login page, English and German message
/// overrides and a new language, a stylesheet and a logo.
fn overrides() -> (tempfile::TempDir, UiSettings) {
    let dir = tempfile::tempdir().unwrap();
    let templates = dir.path().join("templates");
    std::fs::create_dir(&templates).unwrap();
    std::fs::write(
        templates.join("login.html"),
        r#"{% extends "layout.html" %}{% block title %}{{ t("login.title") }}{% endblock %}
{% block content %}<h1 class="acme">{{ t("login.title") }}</h1>
<form method="post" action="{{ action }}"><label for="username">{{ t("login.username") }}</label>
<input id="username" name="username"><label for="password">{{ t("login.password") }}</label>
<input id="password" name="password" type="password">
<input type="hidden" name="csrf_token" value="{{ csrf }}"><button>{{ t("login.submit") }}</button></form>
{% endblock %}"#,
    )
    .unwrap();
    std::fs::write(
        templates.join("messages.en.toml"),
        "[login]\ntitle = \"Sign in to ACME\"\n",
    )
    .unwrap();
    std::fs::write(
        templates.join("messages.fr.toml"),
        "[login]\ntitle = \"Connexion\"\n",
    )
    .unwrap();
    let css = dir.path().join("acme.css");
    std::fs::write(
        &css,
        "body { background: #fff }\n.acme { color: #123456 }\n",
    )
    .unwrap();
    let logo = dir.path().join("acme.svg");
    std::fs::write(
        &logo,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>"#,
    )
    .unwrap();
    let settings = UiSettings {
        product_name: "ACME <Login>".to_owned(),
        logo_file: Some(logo),
        css_file: Some(css),
        template_dir: Some(templates),
    };
    (dir, settings)
}

async fn operators_override_templates_messages_stylesheet_and_logo(backend: StoreKind) {
    let (_dir, settings) = overrides();
    let h = Harness::start_with(Options {
        ui: Arc::new(Ui::load(&settings).unwrap()),
        ..Options::new(backend)
    })
    .await;
    let (status, body) = get_in(&h, "/login", "en").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("<h1 class=\"acme\">Sign in to ACME</h1>"),
        "{body}"
    );
    assert!(body.contains("ACME &lt;Login&gt;"), "{body}");
    // The login still works on the operator's form.
    let token = hidden_field(&body, "csrf_token").unwrap();
    assert!(!token.is_empty());
    // Another language added by the operator, falling back to English for
    // what it does not say.
    let (_, body) = get_in(&h, "/login", "fr-FR").await;
    assert!(body.contains("<h1 class=\"acme\">Connexion</h1>"), "{body}");
    assert!(body.contains(">Username</label>"), "{body}");
    // Untouched templates are the built-in ones, with the operator's name.
    let (_, body) = get_in(&h, "/", "en").await;
    assert!(
        body.contains("<title>ACME &lt;Login&gt; · ACME &lt;Login&gt;</title>"),
        "{body}"
    );
    let css = attribute_after(&body, "rel=\"stylesheet\"", "href").unwrap();
    let text = h.get(&css).await.text().await.unwrap();
    assert!(text.contains(".acme { color: #123456 }"), "{text}");
    let logo = attribute_after(&body, "class=\"logo\"", "src").unwrap();
    assert!(logo.starts_with("/static/logo?v="), "{logo}");
    let response = h.get(&logo).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CONTENT_TYPE], "image/svg+xml");
    // An SVG opened on its own runs in a sandbox.
    let policy = response.headers()[CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(policy.contains("sandbox"), "{policy}");
}

crate::on_both_stores!(
    landing_page_says_what_runs_and_links_to_discovery_and_jwks,
    landing_page_lives_under_the_issuers_path,
    pages_share_one_cacheable_stylesheet_under_a_strict_policy,
    german_is_chosen_by_accept_language_with_q_values,
    a_refused_login_is_announced_and_tied_to_the_fields,
    the_login_page_names_the_application,
    an_unknown_client_is_told_to_contact_its_administrator,
    operators_override_templates_messages_stylesheet_and_logo,
);

#[test]
fn broken_overrides_are_refused_with_the_file_and_line() {
    let (_dir, settings) = overrides();
    let templates = settings.template_dir.clone().unwrap();
    std::fs::write(
        templates.join("consent.html"),
        "{% extends \"layout.html\" %}\n{% block content %}\n{% if %}\n{% endblock %}",
    )
    .unwrap();
    let error = Ui::load(&settings).unwrap_err();
    assert!(matches!(error, UiError::Template { ref name, .. } if name == "consent.html"));
    assert!(error.to_string().contains("consent.html:3"), "{error}");

    // A message key that does not exist fails when the page is rendered,
    // which loading does for every page.
    std::fs::write(
        templates.join("consent.html"),
        "{% extends \"layout.html\" %}{% block content %}{{ t(\"consent.titel\") }}{% endblock %}",
    )
    .unwrap();
    let error = Ui::load(&settings).unwrap_err().to_string();
    assert!(error.contains("consent.titel"), "{error}");
    std::fs::remove_file(templates.join("consent.html")).unwrap();

    std::fs::write(templates.join("messages.de.toml"), "[login]\ntitle = 3\n").unwrap();
    let error = Ui::load(&settings).unwrap_err().to_string();
    assert!(
        error.contains("messages.de.toml") && error.contains("login.title"),
        "{error}"
    );
    std::fs::remove_file(templates.join("messages.de.toml")).unwrap();

    let missing = UiSettings {
        css_file: Some(templates.join("nope.css")),
        ..settings.clone()
    };
    let error = Ui::load(&missing).unwrap_err().to_string();
    assert!(error.contains("nope.css"), "{error}");
    let bad_logo = UiSettings {
        logo_file: settings.css_file.clone(),
        ..settings
    };
    assert!(matches!(
        Ui::load(&bad_logo).unwrap_err(),
        UiError::LogoType { .. }
    ));
}
