//! A real Porthor server on a loopback port, on the memory store or the test
//! Redis, and a client that speaks to it like a browser and a relying party.

use std::net::TcpListener;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use porthor_models::{
    AuthMethod, AuthorizationCode, Client, ClientAuth, ClientSecretHash, RedirectUri, User,
};
use porthor_oidc::{Issuer, Lifetimes, OidcConfig, OidcService, hash_password};
use porthor_server::{Clock, ManualClock, Server, ServerConfig, ServerHandle};
use porthor_signer::{Signer, SigningAlgorithm, generate_pem};
use porthor_store::{Backend as StoreBackend, Store, StoreConfig};
use porthor_test_support::{logs, memory_store, redis_store, test_encryption_key, unique_prefix};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Response, StatusCode};
use url::Url;

pub const CLIENT_ID: &str = "app";
pub const CLIENT_SECRET: &str = "app-secret-0123456789-abcdefghijklmnop";
pub const REDIRECT_URI: &str = "https://app.example.com/callback";
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
/// Where the app client may send the user after RP-initiated logout.
pub const POST_LOGOUT_REDIRECT_URI: &str = "https://app.example.com/logged-out";
/// A public client (`token_endpoint_auth_method = "none"`) with one
/// redirect URI, which its requests may therefore omit.
pub const PUBLIC_CLIENT_ID: &str = "public-spa";
pub const PUBLIC_REDIRECT_URI: &str = "http://127.0.0.1:8765/spa";
/// A client that may only use client_secret_basic, and always gets a
/// refresh token.
pub const BASIC_ONLY_CLIENT_ID: &str = "basic-only";
pub const BASIC_ONLY_CLIENT_SECRET: &str = "basic-only-secret-0123456789-abcdefghi";
pub const USERNAME: &str = "alice";
pub const PASSWORD: &str = "correct horse battery staple";

/// Which store the server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Memory,
    Redis,
}

/// Runs the same async test body once per backend, as two tests.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name($crate::harness::Harness::start($crate::harness::Backend::Memory).await).await;
            })*
        }
        mod redis {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name($crate::harness::Harness::start($crate::harness::Backend::Redis).await).await;
            })*
        }
    };
}

/// What a test can change about the server.
#[derive(Debug, Clone)]
pub struct Options {
    pub backend: Backend,
    pub lifetimes: Lifetimes,
    pub algorithm: SigningAlgorithm,
    /// A path under the host for the issuer, such as "/idp/", or "".
    pub issuer_path: &'static str,
    /// With `Backend::Redis`: a Redis of the test's own instead of the
    /// shared test Redis (to kill it, say), with a pool of two.
    pub redis_url: Option<String>,
    /// The signing key (PEM), instead of a fresh key of `algorithm`.
    pub signing_key: Option<String>,
    /// Verification-only keys (PEM) published after the signing key, as
    /// `signing.previous_key_files` does after a key rotation.
    pub previous_keys: Vec<String>,
}

impl Options {
    pub fn new(backend: Backend) -> Self {
        Self {
            backend,
            lifetimes: Lifetimes::default(),
            algorithm: SigningAlgorithm::Es256,
            issuer_path: "",
            redis_url: None,
            signing_key: None,
            previous_keys: Vec::new(),
        }
    }
}

pub struct Harness {
    /// The issuer, exactly as configured.
    pub issuer: String,
    /// The Redis key prefix, when on Redis.
    pub redis_prefix: Option<String>,
    pub service: OidcService,
    pub http: reqwest::Client,
    /// The server's clock: it stands still until a test advances it.
    pub clock: ManualClock,
    handle: ServerHandle,
}

impl Drop for Harness {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        tokio::spawn(async move { handle.stop().await });
    }
}

/// Alice's password hash, computed once per process: Argon2 is slow on
/// purpose.
fn alice_hash() -> String {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| hash_password(PASSWORD).unwrap())
        .clone()
}

fn uris(uris: &[&str]) -> Vec<RedirectUri> {
    uris.iter()
        .map(|u| RedirectUri::parse(u).unwrap())
        .collect()
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

/// The harness's clients: each one exercises a registration option.
fn clients() -> Vec<Client> {
    let mut app = client(
        CLIENT_ID,
        CLIENT_SECRET,
        &[REDIRECT_URI, "https://app.example.com/other?keep=1"],
    );
    app.post_logout_redirect_uris = uris(&[POST_LOGOUT_REDIRECT_URI]);
    let mut public =
        Client::confidential(PUBLIC_CLIENT_ID, dummy_hash(), uris(&[PUBLIC_REDIRECT_URI]));
    public.auth = ClientAuth::Public;
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
    vec![
        app,
        client(OTHER_CLIENT_ID, OTHER_CLIENT_SECRET, &[OTHER_REDIRECT_URI]),
        client(SPECIAL_CLIENT_ID, SPECIAL_CLIENT_SECRET, &[REDIRECT_URI]),
        client(PKCE_CLIENT_ID, PKCE_CLIENT_SECRET, &[REDIRECT_URI]),
        public,
        basic_only,
    ]
}

fn dummy_hash() -> ClientSecretHash {
    ClientSecretHash::from_secret(&ClientSecretHash::generate_secret()).unwrap()
}

impl Harness {
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(Options::new(backend)).await
    }

    pub async fn start_with(options: Options) -> Self {
        logs::capture();
        let (store, redis_prefix): (Arc<dyn porthor_models::AuthorizationStore>, _) =
            match options.backend {
                Backend::Memory => (Arc::new(memory_store().await), None),
                Backend::Redis => {
                    let prefix = unique_prefix("server");
                    let store = match &options.redis_url {
                        None => redis_store(&prefix).await,
                        Some(url) => Store::open(StoreConfig {
                            backend: StoreBackend::Redis {
                                url: url.clone(),
                                pool_size: 2,
                            },
                            key_prefix: prefix.clone(),
                            encryption_key: test_encryption_key(),
                        })
                        .await
                        .unwrap(),
                    };
                    (Arc::new(store), Some(prefix))
                }
            };
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let issuer = format!(
            "http://{}{}",
            listener.local_addr().unwrap(),
            options.issuer_path
        );
        let pem = match &options.signing_key {
            Some(pem) => pem.clone(),
            None => generate_pem(options.algorithm).unwrap().as_str().to_owned(),
        };
        let previous: Vec<&[u8]> = options.previous_keys.iter().map(String::as_bytes).collect();
        let signer = Signer::from_pem(pem.as_bytes())
            .unwrap()
            .with_previous_keys(&previous)
            .unwrap();
        let config = OidcConfig {
            issuer: Issuer::parse(&issuer).unwrap(),
            lifetimes: options.lifetimes,
            clients: clients(),
            users: vec![User {
                username: USERNAME.to_owned(),
                name: Some("Alice Example".to_owned()),
                email: Some("alice@example.com".to_owned()),
                groups: vec!["admins".to_owned(), "staff".to_owned()],
                password_hash: alice_hash(),
            }],
        };
        let service = OidcService::new(config, store, signer).unwrap();
        // The real time to start with: relying-party libraries check the
        // tokens' `iat` and `exp` against the system clock.
        let clock = ManualClock::starting_now();
        let config = ServerConfig {
            listen: listener.local_addr().unwrap(),
            workers: Some(2),
            clock: Clock::Manual(clock.clone()),
        };
        let server = Server::from_listener(listener, &config, service.clone()).unwrap();
        let handle = server.handle();
        tokio::spawn(server.run());
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        Self {
            issuer,
            redis_prefix,
            service,
            http,
            clock,
            handle,
        }
    }

    /// The absolute URL of `path` under the issuer.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.issuer.trim_end_matches('/'), path)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.http.get(self.url(path)).send().await.unwrap()
    }

    /// The CSRF cookie and token of a fresh login form.
    pub async fn login_form(&self) -> (String, String) {
        let response = self.get("/login").await;
        assert_eq!(response.status(), StatusCode::OK);
        let cookie = set_cookie(&response, "porthor_csrf").expect("CSRF cookie");
        let body = response.text().await.unwrap();
        let token = hidden_field(&body, "csrf_token").expect("csrf_token field");
        assert_eq!(cookie, token);
        (cookie, token)
    }

    /// Posts the login form; returns the response.
    pub async fn post_login(&self, form: &[(&str, &str)]) -> Response {
        let (cookie, token) = self.login_form().await;
        let mut form = form.to_vec();
        form.push(("csrf_token", &token));
        self.http
            .post(self.url("/login"))
            .header(COOKIE, format!("porthor_csrf={cookie}"))
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    /// The browser's way through the login form at `form_url` (where the
    /// authorization endpoint sent it): GET the form (with `session`, if
    /// any), which must show, then post alice's credentials with its CSRF
    /// token and hidden `rd`. Returns that `rd`, unescaped, and the POST's
    /// response.
    pub async fn log_in_through_form(
        &self,
        form_url: &str,
        session: Option<&str>,
    ) -> (String, Response) {
        let mut request = self.http.get(form_url);
        if let Some(session) = session {
            request = request.header(COOKIE, format!("porthor_session={session}"));
        }
        let form = request.send().await.unwrap();
        assert_eq!(form.status(), StatusCode::OK, "the login form must show");
        let csrf_cookie = set_cookie(&form, "porthor_csrf").expect("CSRF cookie");
        let body = form.text().await.unwrap();
        let csrf = hidden_field(&body, "csrf_token").expect("csrf_token field");
        let rd = hidden_field(&body, "rd")
            .expect("rd field")
            .replace("&amp;", "&");
        let mut cookies = format!("porthor_csrf={csrf_cookie}");
        if let Some(session) = session {
            cookies.push_str(&format!("; porthor_session={session}"));
        }
        let response = self
            .http
            .post(self.url("/login"))
            .header(COOKIE, cookies)
            .form(&[
                ("username", USERNAME),
                ("password", PASSWORD),
                ("rd", &rd),
                ("csrf_token", &csrf),
            ])
            .send()
            .await
            .unwrap();
        (rd, response)
    }

    /// Logs alice in; returns the session cookie's value.
    pub async fn login(&self) -> String {
        let response = self
            .post_login(&[("username", USERNAME), ("password", PASSWORD)])
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        set_cookie(&response, "porthor_session").expect("session cookie")
    }

    /// Logs the session out through the logout form.
    pub async fn logout(&self, session: &str) {
        let (cookie, token) = self.login_form().await;
        let response = self
            .http
            .post(self.url("/logout"))
            .header(
                COOKIE,
                format!("porthor_csrf={cookie}; porthor_session={session}"),
            )
            .form(&[("csrf_token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
    }

    /// A GET to the authorization endpoint with `params`, as a browser with
    /// `session` (if any).
    pub async fn authorize(&self, session: Option<&str>, params: &[(&str, &str)]) -> Response {
        let mut request = self.http.get(self.url("/auth/openid/login")).query(params);
        if let Some(session) = session {
            request = request.header(COOKIE, format!("porthor_session={session}"));
        }
        request.send().await.unwrap()
    }

    /// A code for the default client, nonce `n-1` and state `s-1`.
    pub async fn code(&self, session: &str) -> String {
        self.code_for(session, CLIENT_ID, REDIRECT_URI, "openid profile email")
            .await
    }

    pub async fn code_for(
        &self,
        session: &str,
        client_id: &str,
        redirect_uri: &str,
        scope: &str,
    ) -> String {
        let params = [
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", redirect_uri),
            ("scope", scope),
            ("state", "s-1"),
            ("nonce", "n-1"),
        ];
        let response = self.authorize(Some(session), &params).await;
        assert_eq!(response.status(), StatusCode::FOUND);
        let location = location(&response);
        assert!(location.as_str().starts_with(redirect_uri), "{location}");
        assert_eq!(query(&location, "state").as_deref(), Some("s-1"));
        assert_eq!(
            query(&location, "iss").as_deref(),
            Some(self.issuer.as_str())
        );
        query(&location, "code").expect("code in the redirect")
    }

    /// Redeems `code` as the default client with HTTP Basic.
    pub async fn redeem(&self, code: &str) -> Response {
        self.token(
            Some((CLIENT_ID, CLIENT_SECRET)),
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT_URI),
            ],
        )
        .await
    }

    /// A token request with optional HTTP Basic credentials.
    pub async fn token(&self, basic: Option<(&str, &str)>, form: &[(&str, &str)]) -> Response {
        self.back_channel("/auth/openid/token", basic, form).await
    }

    /// A form POST to a back-channel endpoint (token, revoke, introspect)
    /// with optional HTTP Basic credentials.
    pub async fn back_channel(
        &self,
        path: &str,
        basic: Option<(&str, &str)>,
        form: &[(&str, &str)],
    ) -> Response {
        let mut request = self.http.post(self.url(path)).form(form);
        if let Some((id, secret)) = basic {
            request = request.basic_auth(id, Some(secret));
        }
        request.send().await.unwrap()
    }

    /// Redeems a fresh code for the default client with `scope`: the token
    /// response.
    pub async fn grant(&self, session: &str, scope: &str) -> serde_json::Value {
        let code = self.code_for(session, CLIENT_ID, REDIRECT_URI, scope).await;
        json(self.redeem(&code).await, StatusCode::OK).await
    }

    /// A refresh-token grant for the default client.
    pub async fn refresh(&self, refresh_token: &str, scope: Option<&str>) -> Response {
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ];
        form.extend(scope.map(|scope| ("scope", scope)));
        self.token(Some((CLIENT_ID, CLIENT_SECRET)), &form).await
    }

    /// The status of a userinfo request with `access_token`.
    pub async fn userinfo_status(&self, access_token: &str) -> StatusCode {
        self.userinfo(access_token).await.status()
    }

    pub async fn userinfo(&self, access_token: &str) -> Response {
        self.http
            .get(self.url("/auth/openid/userinfo"))
            .bearer_auth(access_token)
            .send()
            .await
            .unwrap()
    }

    /// The storage key of the record behind `code` (Redis only).
    pub fn code_storage_key(&self, code: &str) -> String {
        let code = AuthorizationCode::parse(code).unwrap();
        porthor_test_support::storage_key(self.redis_prefix.as_deref().unwrap(), "code", code.key())
    }
}

pub fn location(response: &Response) -> Url {
    let location = response
        .headers()
        .get(LOCATION)
        .expect("Location header")
        .to_str()
        .unwrap();
    Url::parse(location).unwrap_or_else(|_| panic!("Location {location} is not absolute"))
}

pub fn query(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The value a response's `Set-Cookie` gives cookie `name`, if it sets it.
pub fn set_cookie(response: &Response, name: &str) -> Option<String> {
    set_cookie_header(response, name).and_then(|header| {
        header
            .split(';')
            .next()
            .and_then(|pair| pair.split_once('='))
            .map(|(_, value)| value.to_owned())
    })
}

/// The whole `Set-Cookie` header for cookie `name`.
pub fn set_cookie_header(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

/// The value of `<input type="hidden" name="{name}" value="...">` in a page.
pub fn hidden_field(body: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = body.find(&marker)? + marker.len();
    let end = body.get(start..)?.find('"')? + start;
    body.get(start..end).map(str::to_owned)
}

/// Decodes a JSON body, asserting the status first.
pub async fn json(response: Response, status: StatusCode) -> serde_json::Value {
    let actual = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(actual, status, "body: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// Asserts a token endpoint error: status, error code, no-store.
pub async fn token_error(response: Response, status: StatusCode, code: &str) -> serde_json::Value {
    assert_eq!(
        response
            .headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap()),
        Some("no-store")
    );
    let body = json(response, status).await;
    assert_eq!(body["error"], code, "{body}");
    assert!(body["error_description"].is_string(), "{body}");
    body
}

/// A string member of a JSON object, such as a token in a token response.
pub fn text(value: &serde_json::Value, name: &str) -> String {
    value[name]
        .as_str()
        .unwrap_or_else(|| panic!("no string {name} in {value}"))
        .to_owned()
}

impl Harness {
    /// A revocation request (RFC 7009) with optional HTTP Basic credentials.
    pub async fn revoke(&self, basic: Option<(&str, &str)>, form: &[(&str, &str)]) -> Response {
        self.back_channel("/auth/openid/revoke", basic, form).await
    }

    /// An introspection request (RFC 7662) with optional HTTP Basic
    /// credentials.
    pub async fn introspect(&self, basic: Option<(&str, &str)>, form: &[(&str, &str)]) -> Response {
        self.back_channel("/auth/openid/introspect", basic, form)
            .await
    }

    /// Asserts that the default client's refresh with `refresh_token` is
    /// refused as invalid_grant.
    pub async fn assert_refresh_refused(&self, refresh_token: &str) {
        token_error(
            self.refresh(refresh_token, None).await,
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        )
        .await;
    }

    /// Whether the browser session `session` still works: the
    /// authorization endpoint issues a code without asking for a login.
    pub async fn session_alive(&self, session: &str) -> bool {
        let response = self
            .authorize(
                Some(session),
                &[
                    ("response_type", "code"),
                    ("client_id", CLIENT_ID),
                    ("redirect_uri", REDIRECT_URI),
                    ("scope", "openid"),
                ],
            )
            .await;
        response.status() == StatusCode::FOUND && query(&location(&response), "code").is_some()
    }
}

/// Like `on_both_stores!`, for tests that start their own server (with
/// their own [`Options`]): runs `$name(backend)` once per backend, as two
/// tests under module `$module`.
#[macro_export]
macro_rules! for_both_backends {
    ($module:ident: $($name:ident),* $(,)?) => {
        mod $module {
            mod memory {
                $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::super::$name($crate::harness::Backend::Memory).await;
                })*
            }
            mod redis {
                $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::super::$name($crate::harness::Backend::Redis).await;
                })*
            }
        }
    };
}

/// A server on `backend` with `lifetimes`.
pub async fn start_with_lifetimes(backend: Backend, lifetimes: Lifetimes) -> Harness {
    Harness::start_with(Options {
        lifetimes,
        ..Options::new(backend)
    })
    .await
}
