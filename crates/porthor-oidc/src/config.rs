//! The service's settings, already validated by whoever loaded them.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use porthor_models::{Client, User};
use url::{Host, Url};

use crate::CsrfKey;

/// The issuer identifier: an `https` URL (or `http` on loopback, for trying
/// Porthor out) with no query or fragment. Used verbatim as `iss`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuer {
    text: String,
    url: Url,
}

impl Issuer {
    /// Validates an issuer identifier (OpenID Connect Core 2, Discovery 3).
    pub fn parse(text: &str) -> Result<Self, String> {
        let url =
            Url::parse(text).map_err(|e| format!("issuer {text:?} is not an absolute URL: {e}"))?;
        let loopback = match url.host() {
            Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
            Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
            Some(Host::Domain(name)) => name == "localhost",
            None => false,
        };
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            _ => {
                return Err(format!(
                    "issuer {text:?} must use https (http is allowed only on loopback)"
                ));
            }
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!("issuer {text:?} must not have a query or fragment"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!("issuer {text:?} must not have userinfo"));
        }
        Ok(Self {
            text: text.to_owned(),
            url,
        })
    }

    /// The identifier exactly as configured.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The parsed URL, for origin checks.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Whether the issuer is plain http on a loopback host, where cookies
    /// cannot be `Secure`.
    pub fn is_insecure_loopback(&self) -> bool {
        self.url.scheme() == "http"
    }

    /// The absolute URL of `path` under the issuer, with exactly one slash
    /// between them whether or not the issuer ends in `/`.
    pub fn endpoint(&self, path: &str) -> String {
        format!(
            "{}/{}",
            self.text.trim_end_matches('/'),
            path.trim_start_matches('/')
        )
    }
}

impl fmt::Display for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// How long each kind of credential lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    /// Authorization codes; RFC 6749 4.1.2 recommends at most ten minutes.
    pub code: Duration,
    /// ID tokens, capped by the session.
    pub id_token: Duration,
    /// Access tokens, capped by the session.
    pub access_token: Duration,
    /// Login sessions.
    pub session: Duration,
    /// Refresh-token families, from the code redemption that starts them,
    /// however actively they are used.
    pub refresh_token: Duration,
    /// How long a refresh-token family lives without being used.
    pub refresh_token_idle: Duration,
    /// How long a user's approval on the consent page is remembered for a
    /// client with `consent = "required"`.
    pub consent: Duration,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Self {
            code: Duration::from_secs(60),
            id_token: Duration::from_secs(3600),
            access_token: Duration::from_secs(3600),
            session: Duration::from_secs(12 * 3600),
            refresh_token: Duration::from_secs(30 * 24 * 3600),
            refresh_token_idle: Duration::from_secs(7 * 24 * 3600),
            consent: Duration::from_secs(90 * 24 * 3600),
        }
    }
}

/// Bounds on what one user may hold at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most login sessions one user may have: a login beyond it ends
    /// the user's earliest login, with everything issued under it. At least
    /// 1.
    pub sessions_per_user: usize,
}

impl Default for Limits {
    /// 50 sessions: more browsers and devices than anyone uses, few enough
    /// that a stolen password cannot pile up sessions without bound.
    fn default() -> Self {
        Self {
            sessions_per_user: 50,
        }
    }
}

/// Throttling of online guessing: failed logins are counted per username
/// and per client address, failed client authentications per client id,
/// in the store (so every replica sees the same counts). See
/// docs/security.md for what each limit defends and trades.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttle {
    /// Whether failures are counted and limits enforced at all.
    pub enabled: bool,
    /// Failures are counted over this window, from a counter's first.
    pub window: Duration,
    /// How long a counter stays locked once a failure brings it to its
    /// limit.
    pub lockout: Duration,
    /// Failed logins per username (known or not) before it is locked.
    pub user_failures: u32,
    /// Failed logins per client address (an IPv6 client's /64) before it
    /// is locked.
    pub ip_failures: u32,
    /// Failed client authentications per registered client id, at the
    /// token, revocation and introspection endpoints, before further
    /// failures answer 429.
    pub client_failures: u32,
}

impl Default for Throttle {
    fn default() -> Self {
        Self {
            enabled: true,
            window: Duration::from_secs(15 * 60),
            lockout: Duration::from_secs(15 * 60),
            user_failures: 10,
            ip_failures: 50,
            client_failures: 50,
        }
    }
}

/// Everything the service needs to know, in plain values.
#[derive(Debug, Clone)]
pub struct OidcConfig {
    /// The issuer identifier.
    pub issuer: Issuer,
    /// Credential lifetimes.
    pub lifetimes: Lifetimes,
    /// Per-user bounds.
    pub limits: Limits,
    /// Signs the CSRF tokens of the provider's forms; replicas must share
    /// it (derive it from the store key).
    pub csrf_key: CsrfKey,
    /// Registered clients; ids must be unique.
    pub clients: Vec<Client>,
    /// User accounts; usernames must be unique.
    pub users: Vec<User>,
    /// Limits on failed logins and client authentications.
    pub throttle: Throttle,
    /// How long a login waits for one of the password-check slots (one per
    /// core) before it is answered "busy, try again".
    pub password_queue_timeout: Duration,
    /// Whether the protocol's counters carry the client id as a label
    /// (`[metrics] per_client`): one series per client, so off by default.
    pub metrics_per_client: bool,
}

impl OidcConfig {
    /// The default [`OidcConfig::password_queue_timeout`]: long enough to
    /// queue behind a burst of honest logins (each check takes tens of
    /// milliseconds), short enough that a flood is answered quickly.
    pub const DEFAULT_PASSWORD_QUEUE_TIMEOUT: Duration = Duration::from_secs(2);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_validation() {
        for good in [
            "https://auth.example.com",
            "https://auth.example.com/",
            "https://x.example/idp",
            "http://127.0.0.1:8080",
        ] {
            assert!(Issuer::parse(good).is_ok(), "refused {good}");
        }
        for bad in [
            "auth.example.com",
            "http://auth.example.com",
            "https://a.example?x=1",
            "https://a.example#f",
            "ftp://a",
        ] {
            assert!(Issuer::parse(bad).is_err(), "accepted {bad}");
        }
    }

    #[test]
    fn endpoints_have_no_double_slash() {
        for issuer in ["https://auth.example.com", "https://auth.example.com/"] {
            let issuer = Issuer::parse(issuer).unwrap();
            assert_eq!(
                issuer.endpoint("/auth/openid/login"),
                "https://auth.example.com/auth/openid/login"
            );
        }
        let issuer = Issuer::parse("https://x.example/idp/").unwrap();
        assert_eq!(
            issuer.endpoint("/.well-known/jwks.json"),
            "https://x.example/idp/.well-known/jwks.json"
        );
    }
}
