//! Registered relying parties and how they authenticate.

use std::fmt;
use std::net::IpAddr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use url::{Host, Url};

use crate::{Scope, Scopes};

/// Shortest client secret accepted. Secrets are hashed with a fast hash so the
/// token endpoint costs microseconds, which is only safe for secrets with
/// enough entropy that guessing is hopeless.
pub const MIN_CLIENT_SECRET_LEN: usize = 32;

const HASH_PREFIX: &str = "sha256:";

/// The stored form of a client secret: `sha256:<base64url digest>`.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecretHash([u8; 32]);

impl ClientSecretHash {
    /// Hashes a secret for the configuration. Refuses short secrets.
    pub fn from_secret(secret: &str) -> Result<Self, String> {
        if secret.chars().count() < MIN_CLIENT_SECRET_LEN {
            return Err(format!(
                "client secret is shorter than {MIN_CLIENT_SECRET_LEN} characters; use a random one (hash-secret --generate)"
            ));
        }
        Ok(Self(Sha256::digest(secret.as_bytes()).into()))
    }

    /// Parses the stored form written by [`ClientSecretHash`]'s `Display`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let digest = text
            .strip_prefix(HASH_PREFIX)
            .ok_or_else(|| format!("client secret hash must start with {HASH_PREFIX:?}"))?;
        let bytes = URL_SAFE_NO_PAD
            .decode(digest)
            .ok()
            .and_then(|bytes| <[u8; 32]>::try_from(bytes.as_slice()).ok())
            .ok_or("client secret hash is not a base64url SHA-256 digest")?;
        Ok(Self(bytes))
    }

    /// A new random secret of 43 base64url characters (256 bits).
    pub fn generate_secret() -> String {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Whether `presented` is the secret, compared in constant time.
    pub fn verify(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        self.0.ct_eq(&digest).into()
    }
}

impl fmt::Display for ClientSecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{HASH_PREFIX}{}", URL_SAFE_NO_PAD.encode(self.0))
    }
}

impl fmt::Debug for ClientSecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecretHash(<redacted>)")
    }
}

/// Why a redirect URI cannot be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("redirect URI {uri:?} {reason}")]
pub struct InvalidRedirectUri {
    uri: String,
    reason: String,
}

/// A registered redirect URI. Requests must match one exactly, byte for byte.
///
/// Registration is strict so that exact matching stays meaningful: the URI must
/// be absolute, already in canonical form (no dot segments, no odd escapes),
/// `https` (or `http` on a loopback address, for native and development
/// clients, RFC 8252 7.3), and free of a fragment and of userinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectUri(String);

impl RedirectUri {
    /// Validates a URI for registration.
    pub fn parse(uri: &str) -> Result<Self, InvalidRedirectUri> {
        let invalid = |reason: &str| InvalidRedirectUri {
            uri: uri.to_owned(),
            reason: reason.to_owned(),
        };
        let parsed =
            Url::parse(uri).map_err(|e| invalid(&format!("is not an absolute URL ({e})")))?;
        match parsed.scheme() {
            "https" => {}
            "http" if is_loopback(&parsed) => {}
            "http" => return Err(invalid("uses http on a non-loopback host; use https")),
            _ => return Err(invalid("must use https")),
        }
        if parsed.fragment().is_some() {
            return Err(invalid("has a fragment, which RFC 6749 3.1.2 forbids"));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(invalid("has userinfo"));
        }
        // Exact matching makes these harmless in requests, but a registered
        // URI that servers and browsers may read differently (Keycloak
        // CVE-2026-3872's `..;/`, Tomcat's matrix parameters, a doubled
        // slash some proxies collapse) is refused outright.
        let path = parsed.path();
        if path.contains(';') {
            return Err(invalid("has a `;` in its path (matrix parameters)"));
        }
        if path.contains("//")
            || path
                .split('/')
                .any(|segment| segment == ".." || segment == ".")
        {
            return Err(invalid("has an empty or dot segment in its path"));
        }
        if parsed.as_str() != uri {
            return Err(invalid(&format!(
                "is not in canonical form; write it as {:?}",
                parsed.as_str()
            )));
        }
        Ok(Self(uri.to_owned()))
    }

    /// The URI as registered.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(Host::Domain(name)) => name == "localhost",
        None => false,
    }
}

/// How a client authenticates at the token, revocation and introspection
/// endpoints (OpenID Connect Discovery's `token_endpoint_auth_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// The secret in an HTTP Basic `Authorization` header (RFC 6749 2.3.1).
    ClientSecretBasic,
    /// The secret as the `client_secret` form parameter.
    ClientSecretPost,
    /// No secret: a public client, which sends only its `client_id`.
    None,
}

impl AuthMethod {
    /// Every method, in the order they are advertised.
    pub const ALL: [AuthMethod; 3] = [
        AuthMethod::ClientSecretBasic,
        AuthMethod::ClientSecretPost,
        AuthMethod::None,
    ];

    /// The method's registered name.
    pub const fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::None => "none",
        }
    }

    /// Parses a registered name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|method| method.as_str() == name)
    }
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a client proves itself with.
#[derive(Debug, Clone)]
pub enum ClientAuth {
    /// A confidential client with a secret.
    Secret {
        /// The hash of its secret.
        hash: ClientSecretHash,
        /// The one method it must use (`client_secret_basic` or
        /// `client_secret_post`); `None` accepts either.
        method: Option<AuthMethod>,
    },
    /// A public client (`none`): it holds no secret, so every code it
    /// redeems must be bound to a PKCE challenge.
    Public,
}

/// Whether the user is asked before a client gets what it requested.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Consent {
    /// Never asked, unless the request says `prompt=consent`: the operator
    /// has consented for its users (a first-party application).
    #[default]
    Implicit,
    /// Asked on a consent page naming the client and what each scope
    /// releases; the approval is remembered for the client and that set of
    /// scopes, and asked for again when the client asks for more.
    Required,
}

impl Consent {
    /// Both policies, in the order they are documented.
    pub const ALL: [Consent; 2] = [Consent::Implicit, Consent::Required];

    /// The policy's configuration name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Consent::Implicit => "implicit",
            Consent::Required => "required",
        }
    }

    /// Parses a configuration name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|consent| consent.as_str() == name)
    }
}

impl fmt::Display for Consent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A registered client (relying party).
#[derive(Debug, Clone)]
pub struct Client {
    /// The public identifier.
    pub client_id: String,
    /// How it authenticates.
    pub auth: ClientAuth,
    /// Where it may receive codes; never empty.
    pub redirect_uris: Vec<RedirectUri>,
    /// Whether every authorization request must carry a PKCE challenge
    /// (always true in effect for a public client).
    pub require_pkce: bool,
    /// Where it may send the user after RP-initiated logout.
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    /// Whether every code redemption also issues a refresh token, as if the
    /// request had asked for `offline_access`.
    pub always_issue_refresh_token: bool,
    /// What the consent page calls the client; its id when `None`.
    pub name: Option<String>,
    /// Whether the user is asked before the client gets a code.
    pub consent: Consent,
    /// The scopes the client may be granted; any other it asks for is
    /// dropped from the request.
    pub allowed_scopes: Scopes,
    /// Whether `offline_access` (a refresh-token family that outlives the
    /// browser session) may be granted at all; dropped from requests
    /// otherwise.
    pub allow_offline_access: bool,
    /// Whether the client may introspect tokens issued to other clients (a
    /// resource server); otherwise it sees only its own as active.
    pub introspect_any: bool,
}

impl Client {
    /// A confidential client accepting either secret method, with no PKCE
    /// requirement, logout redirects or refresh tokens by default, implicit
    /// consent, every scope (`offline_access` included) and introspection of
    /// its own tokens only: the starting point that configuration and tests
    /// adjust.
    pub fn confidential(
        client_id: impl Into<String>,
        secret_hash: ClientSecretHash,
        redirect_uris: Vec<RedirectUri>,
    ) -> Self {
        Self {
            client_id: client_id.into(),
            auth: ClientAuth::Secret {
                hash: secret_hash,
                method: None,
            },
            redirect_uris,
            require_pkce: false,
            post_logout_redirect_uris: Vec::new(),
            always_issue_refresh_token: false,
            name: None,
            consent: Consent::Implicit,
            allowed_scopes: Scopes::all(),
            allow_offline_access: true,
            introspect_any: false,
        }
    }

    /// What the user is shown as the client's name.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.client_id)
    }

    /// Settings of the client that contradict each other, each with the
    /// setting to change and why. A client with any is refused, by the
    /// configuration and by the service, rather than one setting quietly
    /// winning over another.
    pub fn contradictions(&self) -> Vec<(&'static str, &'static str)> {
        let mut found = Vec::new();
        if !self.allowed_scopes.contains(Scope::OpenId) {
            found.push((
                "allowed_scopes",
                "must include openid, which every authorization request asks for",
            ));
        }
        if self.always_issue_refresh_token && !self.allow_offline_access {
            found.push((
                "always_issue_refresh_token",
                "needs allow_offline_access = true: a refresh token is offline access (public clients default to false)",
            ));
        }
        if self.always_issue_refresh_token && self.consent == Consent::Required {
            found.push((
                "always_issue_refresh_token",
                "cannot be combined with consent = \"required\": such a client gets a refresh token only for an offline_access scope the user approved",
            ));
        }
        if self.introspect_any && self.is_public() {
            found.push((
                "introspect_any",
                "has no effect on a public client, which cannot introspect",
            ));
        }
        found
    }

    /// The hash of its secret; `None` for a public client.
    pub fn secret_hash(&self) -> Option<&ClientSecretHash> {
        match &self.auth {
            ClientAuth::Secret { hash, .. } => Some(hash),
            ClientAuth::Public => None,
        }
    }

    /// Whether the client holds no secret.
    pub fn is_public(&self) -> bool {
        matches!(self.auth, ClientAuth::Public)
    }

    /// Whether authorization requests must carry a PKCE challenge.
    pub fn needs_pkce(&self) -> bool {
        self.require_pkce || self.is_public()
    }

    /// Whether `uri` is registered for RP-initiated logout, by exact match.
    pub fn allows_post_logout_redirect(&self, uri: &str) -> bool {
        self.post_logout_redirect_uris
            .iter()
            .any(|registered| registered.as_str() == uri)
    }

    /// Whether `uri` is registered for this client, by exact string match.
    pub fn allows_redirect(&self, uri: &str) -> bool {
        self.redirect_uris
            .iter()
            .any(|registered| registered.as_str() == uri)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uri_registration() {
        let good = [
            "https://app.example.com/callback",
            "https://app.example.com:8443/cb?x=1",
            "http://127.0.0.1:9000/cb",
            "http://[::1]/cb",
            "http://localhost:3000/cb",
        ];
        for uri in good {
            assert!(RedirectUri::parse(uri).is_ok(), "refused {uri}");
        }
        let bad = [
            "/callback",
            "app.example.com/cb",
            "http://app.example.com/cb",
            "ftp://app.example.com/cb",
            "https://app.example.com/cb#frag",
            "https://user@app.example.com/cb",
            "https://app.example.com/a/../cb",
            "https://APP.example.com/cb",
            "https://app.example.com",
            "http://127.0.0.1.evil.com/cb",
            "javascript:alert(1)",
            "https://app.example.com/a/..;/cb",
            "https://app.example.com/cb;jsessionid=1",
            "https://app.example.com//cb",
            "https://app.example.com/a/%2e%2e/cb",
        ];
        for uri in bad {
            assert!(RedirectUri::parse(uri).is_err(), "accepted {uri}");
        }
    }

    /// Security lesson 5, Hydra #1438: bcrypt reads only 72 bytes, so a
    /// secret's 72-byte prefix authenticated. SHA-256 reads all of it.
    #[test]
    fn hydra_1438_a_long_secrets_prefix_does_not_verify() {
        let secret = "s".repeat(72) + "-and-the-rest-of-a-long-secret";
        let hash = ClientSecretHash::from_secret(&secret).unwrap();
        assert!(hash.verify(&secret));
        assert!(!hash.verify(&secret[..72]));
        assert!(!hash.verify(&secret[..secret.len() - 1]));
        assert!(!hash.verify(&format!("{secret}x")));
    }

    /// Security lesson 14, Rauthy #1167: the secret was compared with an
    /// early-exit equality. Here what is compared is two SHA-256 digests, in
    /// constant time (`subtle`), so how much of a wrong secret is right
    /// shows neither in the result nor, best-effort, in the time: the
    /// median time to refuse a secret wrong in its first character and one
    /// wrong in its last are within a factor of two.
    #[test]
    fn rauthy_1167_secret_comparison_is_constant_time() {
        use std::time::Instant;
        let secret = ClientSecretHash::generate_secret();
        let hash = ClientSecretHash::from_secret(&secret).unwrap();
        let wrong_first = format!("#{}", &secret[1..]);
        let wrong_last = format!("{}#", &secret[..secret.len() - 1]);
        let median = |presented: &str| {
            let mut times: Vec<u128> = (0..301)
                .map(|_| {
                    let start = Instant::now();
                    for _ in 0..50 {
                        assert!(!hash.verify(std::hint::black_box(presented)));
                    }
                    start.elapsed().as_nanos()
                })
                .collect();
            times.sort_unstable();
            times[times.len() / 2]
        };
        let (first, last) = (median(&wrong_first), median(&wrong_last));
        let ratio = first.max(last) as f64 / first.min(last).max(1) as f64;
        assert!(ratio < 2.0, "first {first} ns, last {last} ns");
    }

    #[test]
    fn redirect_matching_is_exact() {
        let client = Client::confidential(
            "c",
            ClientSecretHash::from_secret(&ClientSecretHash::generate_secret()).unwrap(),
            vec![RedirectUri::parse("https://app.example.com/cb").unwrap()],
        );
        assert!(client.allows_redirect("https://app.example.com/cb"));
        for other in [
            "https://app.example.com/cb/",
            "https://app.example.com/cb?x=1",
            "https://app.example.com/CB",
            "https://app.example.com:443/cb",
            "https://app.example.com/cb#",
        ] {
            assert!(!client.allows_redirect(other), "matched {other}");
        }
    }

    fn sample() -> Client {
        Client::confidential(
            "c",
            ClientSecretHash::from_secret(&ClientSecretHash::generate_secret()).unwrap(),
            vec![RedirectUri::parse("https://app.example.com/cb").unwrap()],
        )
    }

    #[test]
    fn consent_names() {
        for consent in Consent::ALL {
            assert_eq!(Consent::parse(consent.as_str()), Some(consent));
        }
        assert_eq!(Consent::parse("Required"), None);
        assert_eq!(Consent::default(), Consent::Implicit);
    }

    #[test]
    fn display_name_falls_back_to_the_id() {
        let mut client = sample();
        assert_eq!(client.display_name(), "c");
        client.name = Some("Chronograf".to_owned());
        assert_eq!(client.display_name(), "Chronograf");
    }

    #[test]
    fn contradicting_settings_are_named() {
        let fields = |client: &Client| {
            client
                .contradictions()
                .into_iter()
                .map(|(field, _)| field)
                .collect::<Vec<_>>()
        };
        assert!(fields(&sample()).is_empty());

        let mut no_openid = sample();
        no_openid.allowed_scopes = Scopes::parse("profile email");
        assert_eq!(fields(&no_openid), ["allowed_scopes"]);

        let mut refresh_without_offline = sample();
        refresh_without_offline.always_issue_refresh_token = true;
        refresh_without_offline.allow_offline_access = false;
        assert_eq!(
            fields(&refresh_without_offline),
            ["always_issue_refresh_token"]
        );

        let mut refresh_without_consent = sample();
        refresh_without_consent.always_issue_refresh_token = true;
        refresh_without_consent.consent = Consent::Required;
        assert_eq!(
            fields(&refresh_without_consent),
            ["always_issue_refresh_token"]
        );

        let mut public_introspector = sample();
        public_introspector.auth = ClientAuth::Public;
        public_introspector.introspect_any = true;
        assert_eq!(fields(&public_introspector), ["introspect_any"]);
    }

    #[test]
    fn client_secret_hash() {
        let secret = ClientSecretHash::generate_secret();
        assert_eq!(secret.len(), 43);
        let hash = ClientSecretHash::from_secret(&secret).unwrap();
        assert!(hash.verify(&secret));
        assert!(!hash.verify(&secret[..42]));
        assert!(!hash.verify(&format!("{secret}x")));
        let reparsed = ClientSecretHash::parse(&hash.to_string()).unwrap();
        assert_eq!(reparsed, hash);
        assert!(!format!("{hash:?}").contains(&hash.to_string()[7..]));
        assert!(ClientSecretHash::from_secret("short").is_err());
        assert!(ClientSecretHash::parse("plain-text").is_err());
        assert!(ClientSecretHash::parse("sha256:AAAA").is_err());
    }
}
