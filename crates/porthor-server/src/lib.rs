//! Porthor's HTTP face: the actix-web application.
//!
//! This crate owns the routes and their paths, parsing query strings, forms
//! and headers into the plain request structs of `porthor-oidc`, the login,
//! logout and consent pages with their CSRF protection and session cookie,
//! the templates, stylesheet and message catalogue every page is made from
//! (`ui`, with the operator's overrides), the landing page at `/`, the
//! built-in demo relying party under `/demo/` (`demo`, a client of the
//! server's own endpoints over HTTP),
//! the one place where errors become HTTP responses (`error`), the size
//! limits on requests (`limits`) and which address a request comes from,
//! through trusted proxies (`client_ip`), and the request id on its log
//! lines and response (`request_id`). It also owns the clock
//! ([`Clock`], given in [`ServerConfig`]): handlers read the time
//! once per request and pass it down, so tests can run the server on a
//! [`ManualClock`] and expire things without waiting.
//!
//! It must not know the protocol rules themselves (which request is valid,
//! what a code is bound to: that is `porthor-oidc`), how anything is stored,
//! or where its settings come from (the binary builds [`ServerConfig`] and the
//! service). Metrics: it counts and times requests and serves `/metrics`
//! (`telemetry`), but the exporter that renders them is the binary's.
#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod authorize;
mod client_ip;
mod clock;
mod consent;
mod cookies;
mod demo;
mod error;
mod html;
mod landing;
mod limits;
mod login;
mod params;
mod request_id;
mod telemetry;
mod token;
mod ui;
mod wellknown;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix_web::http::header;
use actix_web::middleware::from_fn;
use actix_web::middleware::{Condition, DefaultHeaders};
use actix_web::{App, FromRequest, HttpRequest, HttpServer, web};
use arc_swap::ArcSwap;
use porthor_oidc::{
    AUTHORIZATION_PATH, DISCOVERY_PATH, END_SESSION_PATH, INTROSPECTION_PATH, JWKS_PATH,
    OidcService, REVOCATION_PATH, TOKEN_PATH, USERINFO_PATH,
};

pub use crate::client_ip::TrustedProxies;
pub use crate::clock::{Clock, ManualClock};
use crate::cookies::Cookies;
pub use crate::demo::{
    DEMO_CALLBACK_PATH, DEMO_LOGGED_OUT_PATH, DemoConfig, demo_post_logout_redirect_uri,
    demo_redirect_uri,
};
pub use crate::limits::{BODY_TIMEOUT, RequestLimits};
pub use crate::telemetry::{MetricsConfig, MetricsListen, RenderMetrics};
pub use crate::ui::{DEFAULT_PRODUCT_NAME, Ui, UiError, UiSettings};

/// How the server listens, what it accepts, and the clock it reads.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The socket address to bind.
    pub listen: SocketAddr,
    /// Request workers; `None` means one per core.
    pub workers: Option<usize>,
    /// Where the time comes from: [`Clock::System`] but in tests.
    pub clock: Clock,
    /// The proxies whose `X-Forwarded-For` names the client's address.
    pub trusted_proxies: TrustedProxies,
    /// How large a request may be.
    pub limits: RequestLimits,
    /// How long a graceful stop waits for in-flight requests before it
    /// drops them (whole seconds; actix-web counts in seconds).
    pub shutdown_timeout: Duration,
    /// The pages people see: templates, messages, stylesheet, logo
    /// ([`Ui::default`] for the built-in ones).
    pub ui: Arc<Ui>,
    /// Metrics: off when `None` (requests are then not even timed).
    pub metrics: Option<MetricsConfig>,
    /// The built-in demo relying party under `/demo/`, and the landing
    /// page's button to it: off when `None`. Its client must be registered
    /// with the service (see [`DemoConfig`]).
    pub demo: Option<DemoConfig>,
}

impl ServerConfig {
    /// How long a stop waits for in-flight requests unless told otherwise.
    pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

    /// Listens on `listen` with everything else at its default: a worker
    /// per core, the system clock, no trusted proxies, the default request
    /// limits and shutdown timeout, the built-in pages, no metrics, no demo.
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            workers: None,
            clock: Clock::System,
            trusted_proxies: TrustedProxies::default(),
            limits: RequestLimits::default(),
            shutdown_timeout: Self::DEFAULT_SHUTDOWN_TIMEOUT,
            ui: Arc::new(Ui::default()),
            metrics: None,
            demo: None,
        }
    }
}

/// A failure to start or run the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The listening socket could not be bound or configured.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The server stopped with an I/O error.
    #[error("server failed")]
    Run(#[source] std::io::Error),
    /// The demo relying party's HTTP client could not be made.
    #[error("cannot start the demo relying party")]
    Demo(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A bound, not yet running, Porthor server.
///
/// It does not handle signals itself: whoever runs it decides what SIGTERM
/// and SIGINT mean (the binary drains, then stops through [`ServerHandle`]).
pub struct Server {
    server: actix_web::dev::Server,
    local_addr: SocketAddr,
    draining: Arc<AtomicBool>,
    state: web::Data<Current>,
    /// The separate metrics listener's server, if there is one.
    metrics: Option<(actix_web::dev::Server, SocketAddr)>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

/// Drains, stops and reconfigures a running [`Server`].
#[derive(Clone)]
pub struct ServerHandle {
    main: actix_web::dev::ServerHandle,
    metrics: Option<actix_web::dev::ServerHandle>,
    draining: Arc<AtomicBool>,
    state: web::Data<Current>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("draining", &self.draining.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl ServerHandle {
    /// From now on `/ready` answers 503, so that load balancers probing it
    /// send new requests elsewhere; everything else is still served.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Serves every request from now on with `service`, a reload of the
    /// current one ([`OidcService::reload`]: same issuer and store), its
    /// discovery document and JWKS serialized once here. Requests already
    /// running finish with the service they started with; connections and
    /// everything else the server holds stay. Reloads are meant to come one
    /// at a time (the binary's signal task): of two at once, the last wins.
    pub fn replace_service(&self, service: OidcService) {
        let next = self.state.load().with_service(service);
        self.state.store(Arc::new(next));
    }

    /// The service requests are served with now.
    pub fn service(&self) -> OidcService {
        self.state.load().service.clone()
    }

    /// Stops accepting connections and waits for in-flight requests, at
    /// most [`ServerConfig::shutdown_timeout`]; [`Server::run`] then returns.
    pub async fn stop(&self) {
        self.drain();
        if let Some(metrics) = &self.metrics {
            metrics.stop(true).await;
        }
        self.main.stop(true).await;
    }
}

impl Server {
    /// Binds `config.listen` and prepares the application.
    pub fn bind(config: &ServerConfig, service: OidcService) -> Result<Self, ServerError> {
        let listener = TcpListener::bind(config.listen).map_err(|source| ServerError::Bind {
            addr: config.listen.to_string(),
            source,
        })?;
        Self::from_listener(listener, config, service)
    }

    /// Serves on an already bound listener, instead of binding
    /// `config.listen` (tests bind port 0 first, so that the issuer can name
    /// the port).
    pub fn from_listener(
        listener: TcpListener,
        config: &ServerConfig,
        service: OidcService,
    ) -> Result<Self, ServerError> {
        let addr = || {
            listener
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_default()
        };
        let local_addr = listener.local_addr().map_err(|source| ServerError::Bind {
            addr: addr(),
            source,
        })?;
        let https = !service.issuer().is_insecure_loopback();
        let draining = Arc::new(AtomicBool::new(false));
        let first = AppState::new(service, config, draining.clone(), local_addr)?;
        let base_path = first.base_path.clone();
        let public_metrics = first.public_metrics.clone();
        let demo = first.demo.is_some();
        let state: web::Data<Current> = web::Data::new(ArcSwap::from_pointee(first));
        let proxies = web::Data::new(config.trusted_proxies.clone());
        let request_limits = web::Data::new(config.limits);
        let measured = config.metrics.is_some();
        let app_state = state.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(request_limits.get_ref().payload_config())
                .app_data(request_limits.clone())
                .app_data(proxies.clone())
                .wrap(from_fn(limits::limit_headers))
                .wrap(default_headers(https))
                .wrap(Condition::new(measured, from_fn(telemetry::record)))
                // Outermost: every log line of the request carries its id.
                .wrap(from_fn(request_id::request_id))
                .configure(|cfg| {
                    routes(
                        cfg,
                        &base_path,
                        public_metrics.clone(),
                        demo,
                        app_state.clone(),
                    );
                })
        });
        if let Some(workers) = config.workers {
            server = server.workers(workers.max(1));
        }
        server = server
            .disable_signals()
            .shutdown_timeout(config.shutdown_timeout.as_secs());
        let server = server
            .listen(listener)
            .map_err(|source| ServerError::Bind {
                addr: local_addr.to_string(),
                source,
            })?
            .run();
        let metrics = match &config.metrics {
            Some(MetricsConfig {
                listen: MetricsListen::Separate(addr),
                render,
            }) => Some(metrics_server(*addr, render.clone())?),
            _ => None,
        };
        Ok(Self {
            server,
            local_addr,
            metrics,
            draining,
            state,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address of the separate metrics listener, if there is one.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|(_, addr)| *addr)
    }

    /// A handle that can drain and stop the server once it runs.
    pub fn handle(&self) -> ServerHandle {
        ServerHandle {
            main: self.server.handle(),
            metrics: self.metrics.as_ref().map(|(server, _)| server.handle()),
            draining: self.draining.clone(),
            state: self.state.clone(),
        }
    }

    /// Serves until stopped by [`ServerHandle::stop`]; the metrics listener
    /// stops with the main one.
    pub async fn run(self) -> Result<(), ServerError> {
        let Some((metrics, _)) = self.metrics else {
            return self.server.await.map_err(ServerError::Run);
        };
        let metrics_handle = metrics.handle();
        // An actix server is a future that must be polled to act on its
        // commands, so the metrics one runs beside the main one.
        let metrics = tokio::spawn(metrics);
        let result = self.server.await.map_err(ServerError::Run);
        metrics_handle.stop(true).await;
        // A join error means the task panicked or was cancelled with the
        // runtime: nothing left to stop either way.
        if let Ok(stopped) = metrics.await {
            stopped.map_err(ServerError::Run)?;
        }
        result
    }
}

/// The metrics listener: one worker, `/metrics` and nothing else.
fn metrics_server(
    addr: SocketAddr,
    render: RenderMetrics,
) -> Result<(actix_web::dev::Server, SocketAddr), ServerError> {
    let bind_error = |source| ServerError::Bind {
        addr: addr.to_string(),
        source,
    };
    let listener = TcpListener::bind(addr).map_err(bind_error)?;
    let local_addr = listener.local_addr().map_err(bind_error)?;
    let render = web::Data::new(render);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(render.clone())
            .service(web::resource("/metrics").get(telemetry::scrape))
    })
    .workers(1)
    // SIGINT and SIGTERM stop the main server, which stops this one.
    .disable_signals()
    .listen(listener)
    .map_err(bind_error)?
    .run();
    Ok((server, local_addr))
}

/// The state requests are served with, swapped whole by
/// [`ServerHandle::replace_service`]; every request loads it once (the
/// [`State`] extractor), so one request sees one configuration.
type Current = ArcSwap<AppState>;

/// What every handler shares: the [`Current`] state, loaded once per
/// request, dereferencing to [`AppState`].
pub(crate) struct State(Arc<AppState>);

impl std::ops::Deref for State {
    type Target = AppState;

    fn deref(&self) -> &AppState {
        &self.0
    }
}

impl FromRequest for State {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        // By reference: one atomic load and a reference count, as the
        // `web::Data` this replaced cost.
        std::future::ready(match req.app_data::<web::Data<Current>>() {
            Some(current) => Ok(Self(current.load_full())),
            None => Err(actix_web::error::ErrorInternalServerError(
                "the application state is not registered",
            )),
        })
    }
}

/// What a request is served with.
pub(crate) struct AppState {
    pub(crate) service: OidcService,
    /// Read once per request; see [`Clock`].
    pub(crate) clock: Clock,
    /// The discovery document and JWKS change only with the service, so
    /// they are serialized once per service.
    pub(crate) discovery: web::Bytes,
    pub(crate) jwks: web::Bytes,
    /// The issuer's path ("" or "/idp"): every route lives under it.
    pub(crate) base_path: String,
    /// The session and CSRF cookies, named and set for the issuer.
    pub(crate) cookies: Cookies,
    pub(crate) trusted_proxies: TrustedProxies,
    pub(crate) limits: RequestLimits,
    /// Set by [`ServerHandle::drain`]: `/ready` then answers 503.
    pub(crate) draining: Arc<AtomicBool>,
    pub(crate) ui: Arc<Ui>,
    /// Renders `/metrics` when it is served on the public port.
    pub(crate) public_metrics: Option<RenderMetrics>,
    /// The demo relying party, when it runs. Shared across reloads: it
    /// fetches the JWKS at each use, but accepts the signing algorithms of
    /// the service it started with.
    pub(crate) demo: Option<Arc<demo::Demo>>,
}

impl AppState {
    fn new(
        service: OidcService,
        config: &ServerConfig,
        draining: Arc<AtomicBool>,
        local_addr: SocketAddr,
    ) -> Result<Self, ServerError> {
        let (discovery, jwks) = documents(&service);
        let issuer = service.issuer();
        let base_path = issuer.url().path().trim_end_matches('/').to_owned();
        let cookies = Cookies::for_issuer(issuer, &base_path);
        let demo = match &config.demo {
            Some(demo) => Some(Arc::new(
                demo::Demo::new(
                    demo,
                    issuer,
                    &service
                        .openid_configuration()
                        .id_token_signing_alg_values_supported,
                    local_addr,
                    &base_path,
                )
                .map_err(|error| ServerError::Demo(Box::new(error)))?,
            )),
            None => None,
        };
        Ok(Self {
            service,
            clock: config.clock.clone(),
            discovery,
            jwks,
            base_path,
            cookies,
            trusted_proxies: config.trusted_proxies.clone(),
            limits: config.limits,
            draining,
            ui: Arc::clone(&config.ui),
            public_metrics: config
                .metrics
                .as_ref()
                .filter(|metrics| metrics.listen == MetricsListen::PublicPort)
                .map(|metrics| metrics.render.clone()),
            demo,
        })
    }

    /// This state with `service` in place of its own, and that service's
    /// documents.
    fn with_service(&self, service: OidcService) -> Self {
        let (discovery, jwks) = documents(&service);
        Self {
            service,
            clock: self.clock.clone(),
            discovery,
            jwks,
            base_path: self.base_path.clone(),
            cookies: self.cookies.clone(),
            trusted_proxies: self.trusted_proxies.clone(),
            limits: self.limits,
            draining: Arc::clone(&self.draining),
            ui: Arc::clone(&self.ui),
            public_metrics: self.public_metrics.clone(),
            demo: self.demo.clone(),
        }
    }

    /// The path of a route under the issuer, for cookies and redirects.
    pub(crate) fn path(&self, route: &str) -> String {
        format!("{}{route}", self.base_path)
    }
}

/// The discovery document and the JWKS of `service`, serialized.
fn documents(service: &OidcService) -> (web::Bytes, web::Bytes) {
    // Serializing these plain structs cannot fail.
    let json = |value: serde_json::Result<Vec<u8>>| web::Bytes::from(value.unwrap_or_default());
    (
        json(serde_json::to_vec(service.openid_configuration())),
        json(serde_json::to_vec(service.jwks())),
    )
}

/// Headers on every response that does not set its own. `nosniff` keeps a
/// browser from reading a JSON body (a token response, an error carrying a
/// reflected value) as anything else. HSTS (a year) on an https issuer: once
/// a browser has been here over https it never comes back over plain http,
/// where a network attacker could take the session cookie's first request.
/// Not `includeSubDomains`: other hosts under the issuer's domain are not
/// Porthor's to decide for. Never on the plain-http loopback demo.
fn default_headers(https: bool) -> DefaultHeaders {
    let headers = DefaultHeaders::new().add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    if https {
        headers.add((header::STRICT_TRANSPORT_SECURITY, "max-age=31536000"))
    } else {
        headers
    }
}

fn routes(
    cfg: &mut web::ServiceConfig,
    base: &str,
    state_metrics: Option<RenderMetrics>,
    demo: bool,
    state: web::Data<Current>,
) {
    // Resources rather than bare routes, so that a known path with the wrong
    // method answers 405 with an `Allow` header instead of 404.
    cfg.app_data(state).service(
        web::scope(base)
            .service(web::resource(["", "/"]).get(landing::landing))
            .service(web::resource(ui::STYLE_PATH).get(html::style))
            .service(web::resource(ui::LOGO_PATH).get(html::logo))
            .service(web::resource(ui::ICON_PATH).get(html::icon))
            .service(web::resource(DISCOVERY_PATH).get(wellknown::discovery))
            .service(web::resource(JWKS_PATH).get(wellknown::jwks))
            .service(
                web::resource(AUTHORIZATION_PATH)
                    .get(authorize::get)
                    .post(authorize::post),
            )
            .service(web::resource(TOKEN_PATH).post(token::token))
            .service(web::resource(REVOCATION_PATH).post(token::revoke))
            .service(web::resource(INTROSPECTION_PATH).post(token::introspect))
            .service(
                web::resource(END_SESSION_PATH)
                    .get(login::rp_logout)
                    .post(login::rp_logout),
            )
            .service(
                web::resource(USERINFO_PATH)
                    .get(token::userinfo)
                    .post(token::userinfo),
            )
            .service(
                web::resource(login::LOGIN_PATH)
                    .get(login::login_form)
                    .post(login::login),
            )
            .service(web::resource(consent::CONSENT_PATH).post(consent::decide))
            .service(
                web::resource(login::LOGOUT_PATH)
                    .get(login::logout_form)
                    .post(login::logout),
            )
            .configure(|cfg| {
                if demo {
                    demo::routes(cfg);
                }
            })
            .configure(|cfg| {
                if let Some(metrics) = state_metrics {
                    cfg.app_data(web::Data::new(metrics))
                        .service(web::resource("/metrics").get(telemetry::scrape));
                }
            })
            .service(web::resource("/health").get(wellknown::health))
            .service(web::resource("/ready").get(wellknown::ready)),
    );
}
