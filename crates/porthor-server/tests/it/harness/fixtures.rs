//! The configuration every test server shares: its clients (each one
//! exercises a registration option), its one user, and the constants tests
//! send.

use std::sync::OnceLock;

use porthor_models::{
    AuthMethod, Client, ClientAuth, ClientSecretHash, Consent, RedirectUri, Scopes, User,
};
use porthor_oidc::hash_password;

pub const CLIENT_ID: &str = "app";
pub const CLIENT_SECRET: &str = "app-secret-0123456789-abcdefghijklmnop";
pub const REDIRECT_URI: &str = "https://app.example.com/callback";
/// The app's second redirect URI, with a query of its own to keep.
pub const OTHER_APP_REDIRECT_URI: &str = "https://app.example.com/other?keep=1";
/// Where the app client may send the user after RP-initiated logout.
pub const POST_LOGOUT_REDIRECT_URI: &str = "https://app.example.com/logged-out";
/// The resource server: it may introspect every client's tokens.
pub const OTHER_CLIENT_ID: &str = "other";
pub const OTHER_CLIENT_SECRET: &str = "other-secret-0123456789-abcdefghijklm";
pub const OTHER_REDIRECT_URI: &str = "http://127.0.0.1:9999/cb";
/// A client whose id and secret need form-urlencoding inside HTTP Basic
/// (RFC 6749 2.3.1).
pub const SPECIAL_CLIENT_ID: &str = "sp:ecial client";
pub const SPECIAL_CLIENT_SECRET: &str = "colon:percent%plus+0123456789-abcdefghij";
/// A client that must use PKCE.
pub const PKCE_CLIENT_ID: &str = "pkce-only";
pub const PKCE_CLIENT_SECRET: &str = "pkce-only-secret-0123456789-abcdefghij";
/// A public client (`token_endpoint_auth_method = "none"`) with one
/// redirect URI, which its requests may therefore omit.
pub const PUBLIC_CLIENT_ID: &str = "public-spa";
pub const PUBLIC_REDIRECT_URI: &str = "http://127.0.0.1:8765/spa";
/// A client that may only use client_secret_basic, and always gets a
/// refresh token.
pub const BASIC_ONLY_CLIENT_ID: &str = "basic-only";
pub const BASIC_ONLY_CLIENT_SECRET: &str = "basic-only-secret-0123456789-abcdefghi";
/// A client the user must consent to (`consent = "required"`), with a
/// display name that needs escaping.
pub const CONSENT_CLIENT_ID: &str = "consenting";
pub const CONSENT_CLIENT_SECRET: &str = "consenting-secret-0123456789-abcdefghij";
pub const CONSENT_CLIENT_NAME: &str = "Lab <Dashboard> & \"Co\"";
/// A client allowed only `openid email`, and no offline access.
pub const NARROW_CLIENT_ID: &str = "narrow";
pub const NARROW_CLIENT_SECRET: &str = "narrow-secret-0123456789-abcdefghijklmn";
/// The demo relying party's client, registered when `Options::demo` is set,
/// and the key its cookie is sealed under.
pub const DEMO_CLIENT_ID: &str = "porthor-demo";
pub const DEMO_CLIENT_SECRET: &str = "demo-secret-0123456789-abcdefghijklmnopq";
pub const DEMO_COOKIE_KEY: [u8; 32] = [0x5d; 32];

/// HTTP Basic credentials of the clients above, as the request helpers
/// take them.
pub const APP: (&str, &str) = (CLIENT_ID, CLIENT_SECRET);
pub const OTHER: (&str, &str) = (OTHER_CLIENT_ID, OTHER_CLIENT_SECRET);
pub const BASIC_ONLY: (&str, &str) = (BASIC_ONLY_CLIENT_ID, BASIC_ONLY_CLIENT_SECRET);
pub const CONSENTING: (&str, &str) = (CONSENT_CLIENT_ID, CONSENT_CLIENT_SECRET);
pub const NARROW: (&str, &str) = (NARROW_CLIENT_ID, NARROW_CLIENT_SECRET);

pub const USERNAME: &str = "alice";
pub const PASSWORD: &str = "correct horse battery staple";
/// A second user, with alice's password: for what one user's login does to
/// another's session.
pub const OTHER_USERNAME: &str = "bob";

/// Scopes that start a refresh-token family, with claims to release.
pub const OFFLINE: &str = "openid profile email offline_access";

/// A PKCE verifier and its `S256` challenge (RFC 7636 appendix B).
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
/// The authorization request parameters that send [`CHALLENGE`].
pub const S256: [(&str, &str); 2] = [
    ("code_challenge", CHALLENGE),
    ("code_challenge_method", "S256"),
];

/// Alice and bob, with their password hash computed once per process:
/// Argon2 is slow on purpose.
pub fn users() -> Vec<User> {
    static HASH: OnceLock<String> = OnceLock::new();
    let password_hash = HASH
        .get_or_init(|| hash_password(PASSWORD).unwrap())
        .clone();
    vec![
        User {
            username: USERNAME.to_owned(),
            name: Some("Alice Example".to_owned()),
            email: Some("alice@example.com".to_owned()),
            groups: vec!["admins".to_owned(), "staff".to_owned()],
            password_hash: password_hash.clone(),
        },
        User {
            username: OTHER_USERNAME.to_owned(),
            name: None,
            email: None,
            groups: Vec::new(),
            password_hash,
        },
    ]
}

/// The clients above.
pub fn clients() -> Vec<Client> {
    let mut app = client(
        CLIENT_ID,
        CLIENT_SECRET,
        &[REDIRECT_URI, OTHER_APP_REDIRECT_URI],
    );
    app.post_logout_redirect_uris = uris(&[POST_LOGOUT_REDIRECT_URI]);
    let mut public =
        Client::confidential(PUBLIC_CLIENT_ID, dummy_hash(), uris(&[PUBLIC_REDIRECT_URI]));
    public.auth = ClientAuth::Public;
    // Public clients get no offline access unless registered for it; this
    // one is, so that its refresh tokens can be tested (clients.rs).
    public.allow_offline_access = true;
    let mut basic_only = client(
        BASIC_ONLY_CLIENT_ID,
        BASIC_ONLY_CLIENT_SECRET,
        &[REDIRECT_URI],
    );
    basic_only.auth = ClientAuth::Secret {
        hash: ClientSecretHash::from_secret(BASIC_ONLY_CLIENT_SECRET).unwrap(),
        method: Some(AuthMethod::ClientSecretBasic),
    };
    basic_only.always_issue_refresh_token = true;
    let mut other = client(OTHER_CLIENT_ID, OTHER_CLIENT_SECRET, &[OTHER_REDIRECT_URI]);
    other.introspect_any = true;
    let mut consenting = client(CONSENT_CLIENT_ID, CONSENT_CLIENT_SECRET, &[REDIRECT_URI]);
    consenting.consent = Consent::Required;
    consenting.name = Some(CONSENT_CLIENT_NAME.to_owned());
    let mut narrow = client(NARROW_CLIENT_ID, NARROW_CLIENT_SECRET, &[REDIRECT_URI]);
    narrow.allowed_scopes = Scopes::parse("openid email");
    narrow.allow_offline_access = false;
    vec![
        app,
        other,
        client(SPECIAL_CLIENT_ID, SPECIAL_CLIENT_SECRET, &[REDIRECT_URI]),
        client(PKCE_CLIENT_ID, PKCE_CLIENT_SECRET, &[REDIRECT_URI]),
        public,
        basic_only,
        consenting,
        narrow,
    ]
}

/// The demo relying party's client under `issuer`, registered as the binary
/// registers it.
pub fn demo_client(issuer: &porthor_oidc::Issuer) -> Client {
    let mut demo = client(
        DEMO_CLIENT_ID,
        DEMO_CLIENT_SECRET,
        &[&porthor_server::demo_redirect_uri(issuer)],
    );
    demo.post_logout_redirect_uris =
        uris(&[&porthor_server::demo_post_logout_redirect_uri(issuer)]);
    demo.require_pkce = true;
    demo
}

fn client(id: &str, secret: &str, redirect_uris: &[&str]) -> Client {
    let mut client = Client::confidential(
        id,
        ClientSecretHash::from_secret(secret).unwrap(),
        uris(redirect_uris),
    );
    client.require_pkce = id == PKCE_CLIENT_ID;
    client
}

fn uris(uris: &[&str]) -> Vec<RedirectUri> {
    uris.iter()
        .map(|u| RedirectUri::parse(u).unwrap())
        .collect()
}

/// A hash of a secret nobody knows, for the public client (which has none).
fn dummy_hash() -> ClientSecretHash {
    ClientSecretHash::from_secret(&ClientSecretHash::generate_secret()).unwrap()
}
