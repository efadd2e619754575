//! The few HTML pages a user sees: login, logout, consent, errors. Every
//! value put in a page goes through [`escape`].

use std::fmt::Write as _;

use actix_web::http::header;
use actix_web::{HttpResponse, HttpResponseBuilder};

/// Sends `body` as an HTML page that must not be cached, framed, or leak its
/// URL (which may carry an authorization request) in a `Referer`.
pub(crate) fn page(response: &mut HttpResponseBuilder, body: &str) -> HttpResponse {
    response
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
        ))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(body.to_owned())
}

/// Escapes text for an HTML element body or a double-quoted attribute.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn layout(title: &str, content: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Porthor</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:24rem;margin:4rem auto;padding:0 1rem}}\
         label,input,button{{display:block;width:100%;box-sizing:border-box;margin:.3rem 0}}\
         input{{padding:.4rem}}button{{padding:.5rem;margin-top:1rem}}.error{{color:#a00}}</style>\
         </head><body><main><h1>{title}</h1>\n{content}\n</main></body></html>\n",
        title = escape(title),
    )
}

/// The login form. `rd` is where to go afterwards (already validated).
pub(crate) fn login_form(
    action: &str,
    rd: Option<&str>,
    csrf: &str,
    username: &str,
    error: Option<&str>,
) -> String {
    let mut content = String::new();
    // The error is announced when the page loads (role=alert), and tied to
    // the password field, so that a screen reader reads it again there.
    let mut invalid = "";
    if let Some(error) = error {
        let _ = write!(
            content,
            "<p class=\"error\" id=\"login-error\" role=\"alert\">{}</p>",
            escape(error)
        );
        invalid = " aria-invalid=\"true\" aria-describedby=\"login-error\"";
    }
    let _ = write!(
        content,
        "<form method=\"post\" action=\"{action}\">\
         <label for=\"username\">Username</label>\
         <input id=\"username\" name=\"username\" autocomplete=\"username\" required autofocus value=\"{username}\">\
         <label for=\"password\">Password</label>\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required{invalid}>\
         <input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\">",
        action = escape(action),
        username = escape(username),
        csrf = escape(csrf),
    );
    if let Some(rd) = rd {
        let _ = write!(
            content,
            "<input type=\"hidden\" name=\"rd\" value=\"{}\">",
            escape(rd)
        );
    }
    content.push_str("<button type=\"submit\">Log in</button></form>");
    layout("Log in", &content)
}

/// Shown at `/login` to a user who already has a session and nowhere to go.
pub(crate) fn logged_in(username: &str, logout: &str) -> String {
    let content = format!(
        "<p>You are logged in as <strong>{}</strong>.</p><p><a href=\"{}\">Log out</a></p>",
        escape(username),
        escape(logout)
    );
    layout("Logged in", &content)
}

/// The logout confirmation form; `hidden` fields carry an RP-initiated
/// logout request through the confirmation.
pub(crate) fn logout_form(
    action: &str,
    csrf: &str,
    username: Option<&str>,
    hidden: &[(&str, &str)],
) -> String {
    // Without a username the provider cannot see the session (a cross-site
    // POST comes without its cookie), and says no more than it knows.
    let question = username.map_or_else(
        || "Log out?".to_owned(),
        |u| {
            format!(
                "You are logged in as <strong>{}</strong>. Log out?",
                escape(u)
            )
        },
    );
    let mut content = format!(
        "<p>{question}</p>\
         <form method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\">",
        action = escape(action),
        csrf = escape(csrf),
    );
    for (name, value) in hidden {
        let _ = write!(
            content,
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
            escape(name),
            escape(value)
        );
    }
    content.push_str("<button type=\"submit\">Log out</button></form>");
    layout("Log out", &content)
}

/// Shown after a logout that has nowhere else to go.
pub(crate) fn logged_out() -> String {
    layout("Logged out", "<p>You are logged out.</p>")
}

/// An error the user must see here because it cannot be sent anywhere safe.
pub(crate) fn error_page(code: &str, description: &str) -> String {
    let content = format!(
        "<p class=\"error\">{}</p><p><code>{}</code></p>",
        escape(description),
        escape(code)
    );
    layout("Request refused", &content)
}

/// What the consent page shows and carries.
pub(crate) struct ConsentForm<'a> {
    /// Where the form posts.
    pub(crate) action: &'a str,
    pub(crate) csrf: &'a str,
    /// The client's display name.
    pub(crate) client: &'a str,
    /// Who is logged in.
    pub(crate) username: &'a str,
    /// What each requested scope releases, in the user's words.
    pub(crate) releases: &'a [&'a str],
    /// The key of the login session the page is shown to.
    pub(crate) login_session: &'a str,
    /// The authorization request, form-encoded, carried through the form.
    pub(crate) request: &'a str,
}

/// The consent page: who asks for what, and a form to allow or deny it.
pub(crate) fn consent_form(form: &ConsentForm<'_>) -> String {
    let mut content = format!(
        "<p><strong>{client}</strong> asks to access your account \
         <strong>{username}</strong>. It will receive:</p><ul>",
        client = escape(form.client),
        username = escape(form.username),
    );
    for release in form.releases {
        let _ = write!(content, "<li>{}</li>", escape(release));
    }
    let _ = write!(
        content,
        "</ul><form method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\">\
         <input type=\"hidden\" name=\"login_session\" value=\"{session}\">\
         <input type=\"hidden\" name=\"request\" value=\"{request}\">\
         <button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></form>",
        action = escape(form.action),
        csrf = escape(form.csrf),
        session = escape(form.login_session),
        request = escape(form.request),
    );
    layout("Allow access?", &content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn values_in_forms_are_escaped() {
        let form = login_form("/login", Some("\"><script>"), "c", "<u>", Some("<e>"));
        assert!(!form.contains("<script>") && !form.contains("<u>") && !form.contains("<e>"));
        let consent = consent_form(&ConsentForm {
            action: "/consent",
            csrf: "c",
            client: "<b>Evil</b>",
            username: "<u>",
            releases: &["<i>x</i>"],
            login_session: "s",
            request: "a=1&state=\"><script>",
        });
        for raw in ["<b>", "<u>", "<i>", "<script>", "&state"] {
            assert!(!consent.contains(raw), "{raw} in {consent}");
        }
    }
}
