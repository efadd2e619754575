//! The embedded defaults of `porthor serve` without `--config`: a way to try
//! Porthor out with nothing prepared, never to run it for real.
//!
//! What the environment leaves unset becomes: an in-memory store under a
//! random key, a fresh RS256 signing key, the issuer
//! `http://{server.listen}` (`http://127.0.0.1:8080` by default), the client
//! [`DEMO_CLIENT_ID`] with a random secret, whose one redirect URI is the
//! built-in demo relying party's callback (`{issuer}/demo/callback`), and the
//! user [`DEMO_USERNAME`] with a random password. Nothing persists across
//! restarts, and the credentials are new on every start; [`print_banner`]
//! shows them once, on stdout.
//!
//! It also registers the demo relying party's client when `[demo] enabled`
//! asks for it in a configured deployment ([`configured_client`]).

use std::io::{self, Write};

use porthor_models::{Client, ClientSecretHash, RedirectUri, User};
use porthor_oidc::Issuer;
use porthor_server::{DemoConfig, demo_post_logout_redirect_uri, demo_redirect_uri};
use porthor_store::EncryptionKey;
use rand::Rng as _;
use rand::distr::Alphanumeric;

/// The demo client's id in the embedded defaults: the README's curl
/// quickstart and the demo relying party share it.
pub const DEMO_CLIENT_ID: &str = "demo";
/// The demo relying party's client in a configured deployment.
pub const DEMO_APP_CLIENT_ID: &str = "porthor-demo";
/// The purposes of the keys derived from the store key for the demo.
const COOKIE_KEY_PURPOSE: &str = "demo relying party cookie";
const CLIENT_SECRET_PURPOSE: &str = "demo relying party client secret";
/// The demo user's login name.
pub const DEMO_USERNAME: &str = "demo";
/// Length of the demo user's random password (alphanumeric, about 119 bits).
const DEMO_PASSWORD_LEN: usize = 20;

/// The demo credentials in clear, shown once at start.
#[derive(Clone)]
pub struct DemoCredentials {
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uri: String,
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for DemoCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoCredentials")
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// The demo client and user, and their credentials in clear.
#[derive(Debug)]
pub struct DemoAccounts {
    pub client: Client,
    pub user: User,
    pub credentials: DemoCredentials,
}

/// The demo relying party's client `client_id`, with `client_secret`,
/// registered at the demo's callback and logged-out page under `issuer`.
fn demo_client(issuer: &Issuer, client_id: &str, client_secret: &str) -> Result<Client, String> {
    let uri = |text: String| RedirectUri::parse(&text).map_err(|error| error.to_string());
    let mut client = Client::confidential(
        client_id,
        ClientSecretHash::from_secret(client_secret)?,
        vec![uri(demo_redirect_uri(issuer))?],
    );
    client.post_logout_redirect_uris = vec![uri(demo_post_logout_redirect_uri(issuer))?];
    client.name = Some("Porthor demo".to_owned());
    Ok(client)
}

/// The demo relying party's settings for the client `client_id` and its
/// secret, its cookie key derived from the store key.
fn demo_config(client_id: &str, client_secret: String, store_key: &EncryptionKey) -> DemoConfig {
    DemoConfig {
        client_id: client_id.to_owned(),
        client_secret,
        cookie_key: *store_key.derive(COOKIE_KEY_PURPOSE),
    }
}

/// The demo relying party of a configured deployment (`[demo] enabled =
/// true`): the client [`DEMO_APP_CLIENT_ID`] and its settings.
///
/// Its secret is derived from the store key rather than drawn at random,
/// so that every replica on one store registers the same client and the
/// demo's token requests authenticate on whichever replica answers; it
/// changes with the store key, and is never written anywhere.
pub fn configured_client(
    issuer: &Issuer,
    store_key: &EncryptionKey,
) -> Result<(Client, DemoConfig), String> {
    let secret: String = store_key
        .derive(CLIENT_SECRET_PURPOSE)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let mut client = demo_client(issuer, DEMO_APP_CLIENT_ID, &secret)?;
    // The demo always sends a challenge; requiring one costs it nothing and
    // makes the client an example of the safer registration.
    client.require_pkce = true;
    Ok((client, demo_config(DEMO_APP_CLIENT_ID, secret, store_key)))
}

/// Makes the demo client and user with fresh random secrets; the client
/// is the demo relying party's (see [`DemoAccounts::relying_party`]).
pub fn accounts(issuer: &Issuer) -> Result<DemoAccounts, String> {
    let client_secret = ClientSecretHash::generate_secret();
    let client = demo_client(issuer, DEMO_CLIENT_ID, &client_secret)?;
    let password: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(DEMO_PASSWORD_LEN)
        .map(char::from)
        .collect();
    let user = User {
        username: DEMO_USERNAME.to_owned(),
        name: Some("Demo User".to_owned()),
        email: Some("demo@example.invalid".to_owned()),
        groups: vec!["demo".to_owned()],
        password_hash: porthor_oidc::hash_password(&password).map_err(|error| error.to_string())?,
    };
    Ok(DemoAccounts {
        client,
        user,
        credentials: DemoCredentials {
            client_id: DEMO_CLIENT_ID.to_owned(),
            client_secret,
            redirect_uri: demo_redirect_uri(issuer),
            username: DEMO_USERNAME.to_owned(),
            password,
        },
    })
}

impl DemoAccounts {
    /// The demo relying party's settings on the embedded demo client.
    pub fn relying_party(&self, store_key: &EncryptionKey) -> DemoConfig {
        demo_config(
            DEMO_CLIENT_ID,
            self.credentials.client_secret.clone(),
            store_key,
        )
    }
}

/// Writes the demo warning, the credentials and the URL of the landing page
/// (`landing_url`, the issuer's `/`) to `out`. The landing page links to
/// everything else, so the banner ends on the one URL to open.
pub fn print_banner(
    out: &mut impl Write,
    credentials: &DemoCredentials,
    issuer: &str,
    landing_url: &str,
) -> io::Result<()> {
    let lines = [
        "================================================================".to_owned(),
        "WARNING: Porthor is running on its embedded demo configuration".to_owned(),
        "(no --config given). It is for trying Porthor out, NOT for".to_owned(),
        "production: nothing persists (in-memory store, a new signing key".to_owned(),
        "on every start) and these credentials change on every restart.".to_owned(),
        "================================================================".to_owned(),
        format!("issuer        = {issuer}"),
        format!("client_id     = {}", credentials.client_id),
        format!("client_secret = {}", credentials.client_secret),
        format!("redirect_uri  = {}", credentials.redirect_uri),
        format!("username      = {}", credentials.username),
        format!("password      = {}", credentials.password),
        String::new(),
        "Open this page in a browser:".to_owned(),
        landing_url.to_owned(),
        "================================================================".to_owned(),
    ];
    for line in lines {
        writeln!(out, "{line}")?;
    }
    out.flush()
}

/// The landing page of `issuer`: its `/`.
pub fn landing_url(issuer: &str) -> String {
    format!("{}/", issuer.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::PasswordHash;
    use argon2::{Argon2, PasswordVerifier as _};

    use super::*;

    fn issuer() -> Issuer {
        Issuer::parse("http://127.0.0.1:8080").unwrap()
    }

    #[test]
    fn accounts_are_random_and_consistent() {
        let a = accounts(&issuer()).unwrap();
        let b = accounts(&issuer()).unwrap();
        assert_ne!(a.credentials.password, b.credentials.password);
        assert_ne!(a.credentials.client_secret, b.credentials.client_secret);
        assert_eq!(a.credentials.password.len(), DEMO_PASSWORD_LEN);
        assert!(
            a.credentials
                .password
                .chars()
                .all(|c| c.is_ascii_alphanumeric())
        );
        assert!(
            a.client
                .secret_hash()
                .unwrap()
                .verify(&a.credentials.client_secret)
        );
        assert!(
            a.client
                .allows_redirect("http://127.0.0.1:8080/demo/callback")
        );
        assert_eq!(
            a.credentials.redirect_uri,
            "http://127.0.0.1:8080/demo/callback"
        );
        assert!(
            a.client
                .allows_post_logout_redirect("http://127.0.0.1:8080/demo/logged-out")
        );
        let key = EncryptionKey::generate();
        let relying_party = a.relying_party(&key);
        assert_eq!(relying_party.client_id, DEMO_CLIENT_ID);
        assert_eq!(relying_party.client_secret, a.credentials.client_secret);
        assert!(!format!("{relying_party:?}").contains(&a.credentials.client_secret));
        let hash = PasswordHash::new(&a.user.password_hash).unwrap();
        assert!(
            Argon2::default()
                .verify_password(a.credentials.password.as_bytes(), &hash)
                .is_ok()
        );
        assert!(!format!("{:?}", a.credentials).contains(&a.credentials.password));
    }

    #[test]
    fn banner_shows_credentials_and_ends_on_the_landing_page() {
        let accounts = accounts(&issuer()).unwrap();
        let mut out = Vec::new();
        print_banner(
            &mut out,
            &accounts.credentials,
            "http://127.0.0.1:8080",
            &landing_url("http://127.0.0.1:8080"),
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("NOT for\nproduction"), "{text}");
        assert!(text.contains(&format!(
            "client_secret = {}",
            accounts.credentials.client_secret
        )));
        assert!(text.contains(&format!(
            "password      = {}",
            accounts.credentials.password
        )));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines.get(lines.len() - 2),
            Some(&"http://127.0.0.1:8080/"),
            "{text}"
        );
        assert_eq!(
            landing_url("https://id.example/idp/"),
            "https://id.example/idp/"
        );
    }

    /// Replicas on one store register the same client, and its secret is
    /// the store key's alone.
    #[test]
    fn the_configured_client_is_the_same_on_every_replica() {
        let issuer = Issuer::parse("https://id.example/idp").unwrap();
        let key = EncryptionKey::generate();
        let (client, config) = configured_client(&issuer, &key).unwrap();
        let (_, again) = configured_client(&issuer, &key).unwrap();
        assert_eq!(config.client_secret, again.client_secret);
        assert_eq!(config.cookie_key, again.cookie_key);
        assert_eq!(client.client_id, DEMO_APP_CLIENT_ID);
        assert!(client.require_pkce);
        assert!(client.secret_hash().unwrap().verify(&config.client_secret));
        assert!(client.allows_redirect("https://id.example/idp/demo/callback"));
        assert!(client.allows_post_logout_redirect("https://id.example/idp/demo/logged-out"));
        let (_, other) = configured_client(&issuer, &EncryptionKey::generate()).unwrap();
        assert_ne!(config.client_secret, other.client_secret);
        assert_ne!(config.cookie_key, other.cookie_key);
        assert_ne!(config.cookie_key.as_slice(), key.derive("csrf").as_slice());
    }
}
