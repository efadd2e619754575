//! A real Porthor server on a loopback port, on the memory store or the
//! test Redis, with a clock of its own that tests move by hand.

use std::net::SocketAddr;
use std::net::TcpListener;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use porthor_models::AuthorizationStore;
use porthor_oidc::{CsrfKey, Issuer, Lifetimes, Limits, OidcConfig, OidcService, Throttle};
use porthor_server::{
    Clock, DemoConfig, ManualClock, MetricsConfig, MetricsListen, RequestLimits, Server,
    ServerConfig, ServerHandle, TrustedProxies, Ui,
};
use porthor_signer::{Signer, SigningAlgorithm, generate_pem};
use porthor_store::{BackendConfig, Store, StoreConfig};
use porthor_test_support::{
    logs, memory_store, redis_cluster_store, redis_store, test_encryption_key, unique_prefix,
};

use super::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_COOKIE_KEY, clients, demo_client, users};

/// Which store the server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Memory,
    Redis,
    /// The test Redis Cluster (three masters) that `cargo xtask test`
    /// starts. Raw access to its keys is not offered: a plain connection to
    /// one node would meet `MOVED`.
    Cluster,
}

/// What a test can change about the server.
#[derive(Debug, Clone)]
pub struct Options {
    pub backend: StoreKind,
    pub lifetimes: Lifetimes,
    pub limits: Limits,
    pub algorithm: SigningAlgorithm,
    /// A path under the host for the issuer, such as "/idp/", or "".
    pub issuer_path: &'static str,
    /// Name the issuer `https://…` while serving plain HTTP on loopback
    /// (the issuer is only a name to the server): for what only an https
    /// issuer does, such as its cookie names and HSTS.
    pub https_issuer: bool,
    /// With `StoreKind::Redis`: a Redis of the test's own instead of the
    /// shared test Redis (to kill it, say), with a pool of two.
    pub redis_url: Option<String>,
    /// The signing key (PEM), instead of a fresh key of `algorithm`.
    pub signing_key: Option<String>,
    /// Verification-only keys (PEM) published after the signing key, as
    /// `signing.previous_key_files` does after a key rotation.
    pub previous_keys: Vec<String>,
    /// With `StoreKind::Redis`: this key prefix instead of a fresh one, so
    /// that two servers share their records, as replicas do.
    pub redis_prefix: Option<String>,
    pub throttle: Throttle,
    pub password_queue_timeout: Duration,
    pub trusted_proxies: TrustedProxies,
    pub request_limits: RequestLimits,
    /// The pages: the built-in ones unless a test loads overrides.
    pub ui: Arc<Ui>,
    /// Serve metrics: on the public port, or on a listener of their own
    /// (given port 0, see [`Harness::metrics_addr`]). Installs the
    /// Prometheus recorder, process-wide (each test is its own process).
    pub metrics: Option<MetricsListen>,
    pub metrics_per_client: bool,
    /// Run the demo relying party, its client [`DEMO_CLIENT_ID`]
    /// registered (see `demo.rs`).
    pub demo: bool,
}

/// The Prometheus recorder, installed once per test process: a test that
/// starts two servers shares it, as replicas in one process would.
fn prometheus() -> metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: OnceLock<metrics_exporter_prometheus::PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            metrics_exporter_prometheus::PrometheusBuilder::new()
                .install_recorder()
                .unwrap()
        })
        .clone()
}

impl Options {
    pub fn new(backend: StoreKind) -> Self {
        Self {
            backend,
            lifetimes: Lifetimes::default(),
            limits: Limits::default(),
            algorithm: SigningAlgorithm::Es256,
            issuer_path: "",
            https_issuer: false,
            redis_url: None,
            signing_key: None,
            previous_keys: Vec::new(),
            redis_prefix: None,
            throttle: Throttle::default(),
            password_queue_timeout: OidcConfig::DEFAULT_PASSWORD_QUEUE_TIMEOUT,
            trusted_proxies: TrustedProxies::default(),
            request_limits: RequestLimits::default(),
            ui: Arc::new(Ui::default()),
            metrics: None,
            metrics_per_client: false,
            demo: false,
        }
    }
}

/// A running server and a client that speaks to it like a browser and a
/// relying party (see `client.rs`). Dropping it stops the server.
pub struct Harness {
    /// The issuer, exactly as configured.
    pub issuer: String,
    /// Where the server answers: the issuer, but always `http`.
    base: String,
    /// The Redis key prefix, when on Redis.
    pub redis_prefix: Option<String>,
    pub service: OidcService,
    pub http: reqwest::Client,
    /// The server's clock. It stands still until a test advances it, which
    /// expires codes, tokens, sessions and families at once (each record
    /// carries its own expiry, checked against this clock); storage TTLs in
    /// Redis or the memory store still run on real time.
    pub clock: ManualClock,
    /// The separate metrics listener, when there is one.
    pub metrics_addr: Option<SocketAddr>,
    handle: ServerHandle,
}

impl Drop for Harness {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        tokio::spawn(async move { handle.stop().await });
    }
}

impl Harness {
    /// Puts the server into its shutdown drain (`/ready` answers 503), as
    /// the binary does on SIGTERM.
    pub fn drain(&self) {
        self.handle.drain();
    }

    /// A server on `backend` with the default [`Options`].
    pub async fn start(backend: StoreKind) -> Self {
        Self::start_with(Options::new(backend)).await
    }

    /// A server on `backend` with `lifetimes`.
    pub async fn start_with_lifetimes(backend: StoreKind, lifetimes: Lifetimes) -> Self {
        Self::start_with(Options {
            lifetimes,
            ..Options::new(backend)
        })
        .await
    }

    pub async fn start_with(options: Options) -> Self {
        logs::capture();
        let (store, redis_prefix): (Arc<dyn AuthorizationStore>, _) = match options.backend {
            StoreKind::Memory => (Arc::new(memory_store().await), None),
            StoreKind::Cluster => (
                Arc::new(redis_cluster_store(&unique_prefix("server")).await),
                None,
            ),
            StoreKind::Redis => {
                let prefix = options
                    .redis_prefix
                    .clone()
                    .unwrap_or_else(|| unique_prefix("server"));
                let store = match &options.redis_url {
                    None => redis_store(&prefix).await,
                    Some(url) => Store::open(StoreConfig {
                        backend: BackendConfig::Redis {
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
        let base = format!(
            "http://{}{}",
            listener.local_addr().unwrap(),
            options.issuer_path
        );
        let issuer = if options.https_issuer {
            base.replacen("http://", "https://", 1)
        } else {
            base.clone()
        };
        let pem = match &options.signing_key {
            Some(pem) => pem.clone(),
            None => generate_pem(options.algorithm).unwrap().as_str().to_owned(),
        };
        let previous: Vec<&[u8]> = options.previous_keys.iter().map(String::as_bytes).collect();
        let signer = Signer::from_pem(pem.as_bytes())
            .unwrap()
            .with_previous_keys(&previous)
            .unwrap();
        let parsed_issuer = Issuer::parse(&issuer).unwrap();
        let mut clients = clients();
        if options.demo {
            clients.push(demo_client(&parsed_issuer));
        }
        let config = OidcConfig {
            issuer: parsed_issuer,
            lifetimes: options.lifetimes,
            limits: options.limits,
            csrf_key: CsrfKey::generate(),
            clients,
            users: users(),
            throttle: options.throttle,
            password_queue_timeout: options.password_queue_timeout,
            metrics_per_client: options.metrics_per_client,
        };
        let service = OidcService::new(config, store, signer).unwrap();
        // The real time to start with: relying-party libraries check the
        // tokens' `exp` against the system clock.
        let clock = ManualClock::starting_now();
        let config = ServerConfig {
            listen: listener.local_addr().unwrap(),
            workers: Some(2),
            clock: Clock::Manual(clock.clone()),
            trusted_proxies: options.trusted_proxies.clone(),
            limits: options.request_limits,
            shutdown_timeout: Duration::from_secs(1),
            ui: Arc::clone(&options.ui),
            metrics: options.metrics.map(|listen| {
                let handle = prometheus();
                MetricsConfig {
                    listen,
                    render: Arc::new(move || handle.render()),
                }
            }),
            demo: options.demo.then(|| DemoConfig {
                client_id: DEMO_CLIENT_ID.to_owned(),
                client_secret: DEMO_CLIENT_SECRET.to_owned(),
                cookie_key: DEMO_COOKIE_KEY,
            }),
        };
        let server = Server::from_listener(listener, &config, service.clone()).unwrap();
        let handle = server.handle();
        let metrics_addr = server.metrics_addr();
        tokio::spawn(server.run());
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        Self {
            issuer,
            base,
            redis_prefix,
            service,
            http,
            clock,
            metrics_addr,
            handle,
        }
    }

    /// The absolute URL of `path` under the issuer (served over `http`,
    /// whatever the issuer's name says).
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base.trim_end_matches('/'), path)
    }
}
