//! The embedded defaults of `porthor serve` without `--config`: a way to try
//! Porthor out with nothing prepared, never to run it for real.
//!
//! What the environment leaves unset becomes: an in-memory store under a
//! random key, a fresh RS256 signing key, the issuer
//! `http://{server.listen}` (`http://127.0.0.1:8080` by default), the client
//! [`DEMO_CLIENT_ID`] with a random secret and the one redirect URI
//! [`DEMO_REDIRECT_URI`], and the user [`DEMO_USERNAME`] with a random
//! password. Nothing persists across restarts, and the credentials are new on
//! every start; [`print_banner`] shows them once, on stdout.

use std::io::{self, Write};

use porthor_models::{Client, ClientSecretHash, RedirectUri, User};
use rand::Rng as _;
use rand::distr::Alphanumeric;

/// The demo client's id.
pub const DEMO_CLIENT_ID: &str = "demo";
/// Where the demo client receives codes: a loopback callback, so any local
/// tool (or a browser's address bar, showing the failed page's URL) can
/// collect the code.
pub const DEMO_REDIRECT_URI: &str = "http://127.0.0.1:9000/callback";
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

/// Makes the demo client and user with fresh random secrets.
pub fn accounts() -> Result<DemoAccounts, String> {
    let client_secret = ClientSecretHash::generate_secret();
    let client = Client::confidential(
        DEMO_CLIENT_ID,
        ClientSecretHash::from_secret(&client_secret)?,
        vec![RedirectUri::parse(DEMO_REDIRECT_URI).map_err(|e| e.to_string())?],
    );
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
            redirect_uri: DEMO_REDIRECT_URI.to_owned(),
            username: DEMO_USERNAME.to_owned(),
            password,
        },
    })
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

    #[test]
    fn accounts_are_random_and_consistent() {
        let a = accounts().unwrap();
        let b = accounts().unwrap();
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
        assert!(a.client.allows_redirect(DEMO_REDIRECT_URI));
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
        let accounts = accounts().unwrap();
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
}
