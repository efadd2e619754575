//! Porthor's cookies, the login session and the CSRF token, and the demo
//! relying party's own: the one place that names, reads and writes them.
//!
//! Their names depend on the issuer, so that the browser itself keeps
//! others from setting them:
//!
//! - `__Host-` on an https issuer at the root of its host: the browser
//!   accepts such a cookie only with `Secure`, `Path=/` and no `Domain`,
//!   set by this very origin; a sibling subdomain cannot plant one.
//! - `__Secure-` on an https issuer under a path: `__Host-` requires
//!   `Path=/`, which would hand the cookies to every application on the
//!   host. `__Secure-` still requires `Secure` (set over https only).
//! - No prefix on the plain-http loopback demo, where cookies cannot be
//!   `Secure` and a prefixed one would be dropped.

use actix_web::HttpRequest;
use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::cookie::{Cookie, SameSite};
use porthor_oidc::Issuer;

const SESSION: &str = "porthor_session";
const CSRF: &str = "porthor_csrf";
const DEMO: &str = "porthor_demo";

/// The cookies' names and attributes for one issuer.
#[derive(Debug, Clone)]
pub(crate) struct Cookies {
    session: String,
    csrf: String,
    demo: String,
    /// The issuer's path, with a trailing `/`: the cookies go to its routes.
    path: String,
    /// The demo's routes: its cookie goes to them alone.
    demo_path: String,
    /// `Secure`, unless the issuer is plain-http loopback.
    secure: bool,
}

impl Cookies {
    /// The cookies of `issuer`, whose routes live under `base_path` (`""`
    /// or `"/idp"`).
    pub(crate) fn for_issuer(issuer: &Issuer, base_path: &str) -> Self {
        let secure = !issuer.is_insecure_loopback();
        let prefix = match (secure, base_path.is_empty()) {
            (false, _) => "",
            (true, true) => "__Host-",
            (true, false) => "__Secure-",
        };
        // `__Host-` requires `Path=/`; the demo's cookie is for `/demo/`.
        let demo_prefix = if secure { "__Secure-" } else { "" };
        Self {
            session: format!("{prefix}{SESSION}"),
            csrf: format!("{prefix}{CSRF}"),
            demo: format!("{demo_prefix}{DEMO}"),
            path: format!("{base_path}/"),
            demo_path: format!("{base_path}/demo/"),
            secure,
        }
    }

    /// The session cookie's value, if the browser sent one.
    pub(crate) fn session(&self, req: &HttpRequest) -> Option<String> {
        req.cookie(&self.session).map(|c| c.value().to_owned())
    }

    /// The CSRF cookie's value, if the browser sent one.
    pub(crate) fn csrf(&self, req: &HttpRequest) -> Option<String> {
        req.cookie(&self.csrf).map(|c| c.value().to_owned())
    }

    /// The session cookie for `token`, for `max_age`. `SameSite=Lax`: it
    /// must come along when a relying party sends the browser here, a
    /// top-level GET from another site.
    pub(crate) fn new_session(&self, token: String, max_age: CookieDuration) -> Cookie<'static> {
        self.build(self.session.clone(), token, SameSite::Lax)
            .max_age(max_age)
            .finish()
    }

    /// Tells the browser to drop its session cookie. The attributes match
    /// the cookie's: a browser ignores a `__Host-` removal without them.
    pub(crate) fn session_removal(&self) -> Cookie<'static> {
        let mut removal = self
            .build(self.session.clone(), String::new(), SameSite::Lax)
            .finish();
        removal.make_removal();
        removal
    }

    /// The CSRF cookie for `token`, for the browser session. `Strict`:
    /// only this provider's own pages post forms here.
    pub(crate) fn new_csrf(&self, token: String) -> Cookie<'static> {
        self.build(self.csrf.clone(), token, SameSite::Strict)
            .finish()
    }

    /// The demo's cookie's name (the associated data of its sealing).
    pub(crate) fn demo_name(&self) -> &str {
        &self.demo
    }

    /// The demo's cookie's value, if the browser sent one.
    pub(crate) fn demo(&self, req: &HttpRequest) -> Option<String> {
        req.cookie(&self.demo).map(|c| c.value().to_owned())
    }

    /// The demo's cookie, sealed `value`, for `max_age`. `SameSite=Lax`:
    /// the authorization response comes back to the demo as a top-level
    /// navigation, and cross-site posts to its forms must not carry it.
    pub(crate) fn new_demo(&self, value: String, max_age: std::time::Duration) -> Cookie<'static> {
        let max_age = i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX);
        self.build(self.demo.clone(), value, SameSite::Lax)
            .path(self.demo_path.clone())
            .max_age(CookieDuration::seconds(max_age))
            .finish()
    }

    /// Tells the browser to drop the demo's cookie.
    pub(crate) fn demo_removal(&self) -> Cookie<'static> {
        let mut removal = self
            .build(self.demo.clone(), String::new(), SameSite::Lax)
            .path(self.demo_path.clone())
            .finish();
        removal.make_removal();
        removal
    }

    fn build(
        &self,
        name: String,
        value: String,
        same_site: SameSite,
    ) -> actix_web::cookie::CookieBuilder<'static> {
        Cookie::build(name, value)
            .path(self.path.clone())
            .http_only(true)
            .secure(self.secure)
            .same_site(same_site)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookies(issuer: &str) -> Cookies {
        let issuer = Issuer::parse(issuer).unwrap();
        let base_path = issuer.url().path().trim_end_matches('/').to_owned();
        Cookies::for_issuer(&issuer, &base_path)
    }

    #[test]
    fn names_follow_the_issuer() {
        for (issuer, session, csrf, path) in [
            (
                "https://auth.example.com",
                "__Host-porthor_session",
                "__Host-porthor_csrf",
                "/",
            ),
            (
                "https://auth.example.com/",
                "__Host-porthor_session",
                "__Host-porthor_csrf",
                "/",
            ),
            (
                "https://example.com/idp",
                "__Secure-porthor_session",
                "__Secure-porthor_csrf",
                "/idp/",
            ),
            (
                "http://127.0.0.1:8080",
                "porthor_session",
                "porthor_csrf",
                "/",
            ),
            (
                "http://localhost:8080/idp/",
                "porthor_session",
                "porthor_csrf",
                "/idp/",
            ),
        ] {
            let cookies = cookies(issuer);
            let session_cookie = cookies.new_session("v".into(), CookieDuration::seconds(60));
            let csrf_cookie = cookies.new_csrf("v".into());
            let removal = cookies.session_removal();
            let demo = cookies.new_demo("v".into(), std::time::Duration::from_secs(60));
            let demo_removal = cookies.demo_removal();
            for cookie in [&demo, &demo_removal] {
                assert_eq!(cookie.path(), Some(format!("{path}demo/").as_str()));
                assert_eq!(cookie.http_only(), Some(true), "{issuer}");
                assert_eq!(cookie.same_site(), Some(SameSite::Lax));
                assert_eq!(
                    cookie.secure(),
                    Some(issuer.starts_with("https")),
                    "{issuer}"
                );
                let prefix = if issuer.starts_with("https") {
                    "__Secure-"
                } else {
                    ""
                };
                assert_eq!(cookie.name(), format!("{prefix}porthor_demo"));
            }
            assert_eq!(demo.max_age(), Some(CookieDuration::seconds(60)));
            assert_eq!(demo_removal.max_age(), Some(CookieDuration::ZERO));
            for cookie in [&session_cookie, &csrf_cookie, &removal] {
                assert_eq!(cookie.path(), Some(path), "{issuer}");
                assert_eq!(cookie.domain(), None, "{issuer}");
                assert_eq!(cookie.http_only(), Some(true), "{issuer}");
                assert_eq!(
                    cookie.secure(),
                    Some(issuer.starts_with("https")),
                    "{issuer}"
                );
            }
            assert_eq!(session_cookie.name(), session, "{issuer}");
            assert_eq!(removal.name(), session, "{issuer}");
            assert_eq!(csrf_cookie.name(), csrf, "{issuer}");
            assert_eq!(session_cookie.same_site(), Some(SameSite::Lax));
            assert_eq!(csrf_cookie.same_site(), Some(SameSite::Strict));
            assert_eq!(removal.max_age(), Some(CookieDuration::ZERO));
        }
    }
}
