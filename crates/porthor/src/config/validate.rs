//! Raw settings to the validated configuration: every key checked, and
//! turned into the plain structs each crate takes (`OidcConfig`,
//! `StoreConfig`, a loaded `Signer`, the listen address).
//!
//! Every problem names its key, and all of them are reported at once. Key
//! files are read and parsed here, so a configuration that validates starts;
//! only reaching Redis is left to `Store::open`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use porthor_models::{
    AuthMethod, Client, ClientAuth, ClientSecretHash, Consent, RedirectUri, Scope, Scopes, User,
};
use porthor_oidc::{CsrfKey, Issuer, Lifetimes, Limits, OidcConfig, Throttle};
use porthor_server::{DemoConfig, RequestLimits, TrustedProxies, Ui};
use porthor_signer::{Signer, SigningAlgorithm};
use porthor_store::{BackendConfig, EncryptionKey, StoreConfig};
use zeroize::Zeroizing;

use super::problem::{ConfigErrors, Problem, Problems};
use super::raw::{
    AlertsSettings, BackendKind, ClientSettings, LimitsSettings, Loaded, LoginSettings,
    MetricsSettings, ServerSettings, Settings, SigningSettings, StoreSettings, ThrottleSettings,
    TokenSettings, UiSettings, UserSettings, resolve,
};
use crate::alerts::{AlertsConfig, WebhookUrl};
use crate::demo::{self, DemoCredentials};

/// The longest authorization code lifetime accepted; RFC 6749 4.1.2
/// recommends ten minutes at most.
const MAX_CODE_LIFETIME: Duration = Duration::from_secs(600);

/// The longest duration any key accepts: a hundred years, far beyond any
/// sensible lifetime, and far below what the stores can expire (Redis
/// refuses `PX` beyond about 292 million years, and humantime reads up to
/// `u64::MAX` seconds). Without it, a slip of the keyboard such as
/// `"1000000000y"` validated and then failed every login at the store.
pub(super) const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// The highest `limits.sessions_per_user` accepted: every login walks the
/// user's sessions (in one Redis script), so the bound keeps that short.
const MAX_SESSIONS_PER_USER: usize = 1000;
/// The range of `server.max_header_bytes`: below 1 KiB a browser's
/// ordinary headers would not fit; actix-web refuses a request head over
/// 128 KiB whatever this says.
const HEADER_BYTES_RANGE: std::ops::RangeInclusive<usize> = 1024..=128 * 1024;
/// The range of `server.max_form_bytes`: every form Porthor reads is a few
/// kilobytes at most.
const FORM_BYTES_RANGE: std::ops::RangeInclusive<usize> = 1024..=1024 * 1024;
/// The longest `login.queue_timeout`: a user waiting longer for the form
/// to answer has given up.
const MAX_QUEUE_TIMEOUT: Duration = Duration::from_secs(60);

/// The longest `server.shutdown_timeout` and `server.drain_delay`: an
/// orchestrator kills a process that takes longer to stop anyway.
const MAX_SHUTDOWN_WAIT: Duration = Duration::from_secs(3600);

/// How `porthor serve` stops (see `commands::serve`).
#[derive(Debug, Clone, Copy)]
pub struct Shutdown {
    /// How long SIGTERM keeps serving with `/ready` at 503 before stopping,
    /// so that load balancers probing it move away first. SIGINT (an
    /// operator's Ctrl-C) skips it.
    pub drain_delay: Duration,
    /// How long a stop waits for in-flight requests.
    pub timeout: Duration,
}

/// The configuration, checked and ready to build the service from.
#[derive(Debug)]
pub struct Config {
    pub listen: SocketAddr,
    /// Worker threads; one per core when `None`.
    pub workers: Option<usize>,
    pub oidc: OidcConfig,
    /// The proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: TrustedProxies,
    pub request_limits: RequestLimits,
    pub shutdown: Shutdown,
    /// The pages, with the operator's overrides read and checked.
    pub ui: Arc<Ui>,
    /// Whether and where metrics are served; the binary installs the
    /// exporter only when they are.
    pub metrics: Option<Metrics>,
    /// Where alerts go, if anywhere.
    pub alerts: Option<AlertsConfig>,
    pub store: StoreConfig,
    pub signer: Signer,
    /// Set when running on the embedded defaults (no file): the generated
    /// credentials to show the operator once.
    pub demo: Option<DemoCredentials>,
    /// The built-in demo relying party, when `[demo] enabled` (on by
    /// default without a file); its client is among `oidc.clients`.
    pub demo_app: Option<DemoConfig>,
    /// What is odd but harmless, for the operator to read.
    pub warnings: Vec<Problem>,
}

/// `[metrics]`, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metrics {
    /// `None`: `/metrics` on the public port.
    pub listen: Option<SocketAddr>,
}

/// Whether key files must be private to their owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFiles {
    /// A signing or store key file that its group or others may read (or
    /// write) is refused: anyone who reads it can sign tokens or decrypt the
    /// store.
    OwnerOnly,
    /// Any mode is accepted (`--allow-insecure`, for development).
    AnyMode,
}

/// Validates `loaded`. Without a file, whatever the environment leaves unset
/// takes the embedded defaults (see [`crate::demo`]).
pub fn validate(loaded: &Loaded, key_files: KeyFiles) -> Result<Config, ConfigErrors> {
    let embedded = loaded.file.is_none();
    let settings = &loaded.settings;
    let base_dir = loaded.base_dir();
    let mut problems = Problems::default();
    let reader = KeyReader { key_files };

    let listen = problems.check(
        "server.listen",
        settings.server.listen.parse::<SocketAddr>().map_err(|_| {
            format!(
                "{:?} is not an ip address and port such as \"127.0.0.1:8080\"",
                settings.server.listen
            )
        }),
    );
    if settings.server.workers == Some(0) {
        problems.push("server.workers", "must be at least 1");
    }
    let issuer = issuer(settings, embedded, listen, &mut problems);
    let lifetimes = lifetimes(&settings.tokens, &mut problems);
    let limits = limits(&settings.limits, &mut problems);
    let trusted_proxies = trusted_proxies(&settings.server, &mut problems);
    let request_limits = request_limits(&settings.server, &mut problems);
    let shutdown = shutdown(&settings.server, &mut problems);
    let throttle = throttle(&settings.throttle, &mut problems);
    let password_queue_timeout = queue_timeout(&settings.login, &mut problems);
    let ui = ui(&settings.ui, base_dir, &mut problems);
    let metrics = metrics(&settings.metrics, listen, &mut problems);
    let alerts = alerts(&settings.alerts, base_dir, reader, &mut problems);
    let store = store(
        settings.store.as_ref(),
        embedded,
        base_dir,
        reader,
        &mut problems,
    );
    let signer = signer(
        settings.signing.as_ref(),
        embedded,
        base_dir,
        reader,
        &mut problems,
    );
    let mut clients = clients(&settings.clients, &mut problems);
    let mut users = users(&settings.users, &mut problems);

    let (demo, demo_app) = match (&issuer, &store) {
        (Some(issuer), Some(store)) => demo_accounts(
            settings,
            embedded,
            issuer,
            &store.encryption_key,
            (&mut clients, &mut users),
            &mut problems,
        ),
        _ => (None, None),
    };

    let warnings = std::mem::take(&mut problems.warnings);
    let limits = (
        limits,
        trusted_proxies,
        request_limits,
        throttle,
        password_queue_timeout,
        shutdown,
        ui,
    );
    let config = match (listen, issuer, lifetimes, store, signer, limits) {
        (
            Some(listen),
            Some(issuer),
            Some(lifetimes),
            Some(store),
            Some(signer),
            (
                Some(limits),
                Some(trusted_proxies),
                Some(request_limits),
                Some(throttle),
                Some(password_queue_timeout),
                Some(shutdown),
                Some(ui),
            ),
        ) => Some(Config {
            listen,
            workers: settings.server.workers,
            oidc: OidcConfig {
                issuer,
                lifetimes,
                limits,
                // From the store key, so that every replica signs and
                // accepts the same tokens without another secret to share.
                csrf_key: CsrfKey::new(&store.encryption_key.derive("csrf")),
                clients,
                users,
                throttle,
                password_queue_timeout,
                metrics_per_client: settings.metrics.per_client,
            },
            trusted_proxies,
            request_limits,
            shutdown,
            ui,
            metrics: metrics.flatten(),
            alerts: alerts.flatten(),
            store,
            signer,
            demo,
            demo_app,
            warnings,
        }),
        _ => None,
    };
    problems.finish(config)
}

/// The embedded defaults' demo client and user, and the demo relying
/// party when `[demo] enabled` says so (see [`crate::demo`]). This is where
/// the demo's client is registered, with the rest of the `OidcConfig`, so
/// that anything rebuilding the service from the settings registers it
/// again.
fn demo_accounts(
    settings: &Settings,
    embedded: bool,
    issuer: &Issuer,
    store_key: &EncryptionKey,
    (clients, users): (&mut Vec<Client>, &mut Vec<User>),
    problems: &mut Problems,
) -> (Option<DemoCredentials>, Option<DemoConfig>) {
    let enabled = settings.demo.enabled.unwrap_or(embedded);
    if embedded {
        return match demo::accounts(issuer) {
            Ok(accounts) => {
                let relying_party = enabled.then(|| accounts.relying_party(store_key));
                clients.push(accounts.client);
                users.push(accounts.user);
                (Some(accounts.credentials), relying_party)
            }
            Err(error) => {
                problems.push("users", format!("cannot make the demo user: {error}"));
                (None, None)
            }
        };
    }
    if !enabled {
        return (None, None);
    }
    if let Some(index) = settings
        .clients
        .iter()
        .position(|client| client.client_id == demo::DEMO_APP_CLIENT_ID)
    {
        problems.push(
            format!("clients[{index}].client_id"),
            format!(
                "{:?} is the demo relying party's client while demo.enabled is true; use another id",
                demo::DEMO_APP_CLIENT_ID
            ),
        );
        return (None, None);
    }
    match demo::configured_client(issuer, store_key) {
        Ok((client, relying_party)) => {
            problems.warn(
                "demo.enabled",
                format!(
                    "the demo relying party is on: anyone who can log in can use {} (client {:?}); set demo.enabled = false to turn it off",
                    issuer.endpoint("/demo/"),
                    demo::DEMO_APP_CLIENT_ID
                ),
            );
            clients.push(client);
            (None, Some(relying_party))
        }
        Err(error) => {
            problems.push(
                "demo.enabled",
                format!("cannot register the demo relying party's client: {error}"),
            );
            (None, None)
        }
    }
}

fn issuer(
    settings: &Settings,
    embedded: bool,
    listen: Option<SocketAddr>,
    problems: &mut Problems,
) -> Option<Issuer> {
    match (&settings.issuer, embedded) {
        (Some(text), _) => problems.check("issuer", Issuer::parse(text)),
        (None, true) => {
            let listen = listen?;
            if listen.port() == 0 {
                problems.push(
                    "issuer",
                    "missing, and it cannot default to http://{server.listen} when the port is 0",
                );
                return None;
            }
            let text = format!("http://{listen}");
            problems.check(
                "issuer",
                Issuer::parse(&text).map_err(|error| {
                    format!("{error} (it defaults to http://{{server.listen}}; set PORTHOR_ISSUER)")
                }),
            )
        }
        (None, false) => {
            problems.push(
                "issuer",
                "missing; set it to the URL relying parties know this provider by, such as \"https://auth.example.com\"",
            );
            None
        }
    }
}

/// The duration `text` at `key`, which must be at least `minimum`.
fn duration(problems: &mut Problems, key: &str, text: &str, minimum: Duration) -> Option<Duration> {
    let duration = problems.check(
        key,
        humantime::parse_duration(text).map_err(|error| {
            format!("{text:?} is not a duration such as \"60s\" or \"1h\": {error}")
        }),
    )?;
    if duration < minimum {
        let minimum = humantime::format_duration(minimum);
        problems.push(
            key,
            format!("{text:?} is too short; it must be at least {minimum}"),
        );
        return None;
    }
    if duration > MAX_DURATION {
        problems.push(
            key,
            format!("{text:?} is too long; it must be at most 100 years (\"36500d\")"),
        );
        return None;
    }
    Some(duration)
}

fn lifetimes(tokens: &TokenSettings, problems: &mut Problems) -> Option<Lifetimes> {
    let mut parse = |key: &str, text: &str| {
        duration(
            problems,
            &format!("tokens.{key}"),
            text,
            Duration::from_secs(1),
        )
    };
    let code = parse("code_lifetime", &tokens.code_lifetime);
    let id_token = parse("id_token_lifetime", &tokens.id_token_lifetime);
    let access_token = parse("access_token_lifetime", &tokens.access_token_lifetime);
    let session = parse("session_lifetime", &tokens.session_lifetime);
    let refresh_token = parse("refresh_token_lifetime", &tokens.refresh_token_lifetime);
    let refresh_token_idle = parse(
        "refresh_token_idle_timeout",
        &tokens.refresh_token_idle_timeout,
    );
    let consent = parse("consent_lifetime", &tokens.consent_lifetime);
    if let Some(code) = code
        && code > MAX_CODE_LIFETIME
    {
        problems.push(
            "tokens.code_lifetime",
            format!(
                "{:?} is longer than 10 minutes, the most RFC 6749 section 4.1.2 allows",
                tokens.code_lifetime
            ),
        );
        return None;
    }
    Some(Lifetimes {
        code: code?,
        id_token: id_token?,
        access_token: access_token?,
        session: session?,
        refresh_token: refresh_token?,
        refresh_token_idle: refresh_token_idle?,
        consent: consent?,
    })
}

fn limits(settings: &LimitsSettings, problems: &mut Problems) -> Option<Limits> {
    let sessions_per_user = settings.sessions_per_user;
    if !(1..=MAX_SESSIONS_PER_USER).contains(&sessions_per_user) {
        problems.push(
            "limits.sessions_per_user",
            format!(
                "{sessions_per_user} is out of range; it must be between 1 and {MAX_SESSIONS_PER_USER}"
            ),
        );
        return None;
    }
    Some(Limits { sessions_per_user })
}

fn trusted_proxies(server: &ServerSettings, problems: &mut Problems) -> Option<TrustedProxies> {
    TrustedProxies::parse(&server.trusted_proxies)
        .map_err(|bad| {
            for (index, problem) in bad {
                problems.push(format!("server.trusted_proxies[{index}]"), problem);
            }
        })
        .ok()
}

fn request_limits(server: &ServerSettings, problems: &mut Problems) -> Option<RequestLimits> {
    let mut in_range = |key: &str, bytes: usize, range: std::ops::RangeInclusive<usize>| {
        if range.contains(&bytes) {
            return Some(bytes);
        }
        problems.push(
            format!("server.{key}"),
            format!(
                "{bytes} is out of range; it must be {} to {} bytes",
                range.start(),
                range.end()
            ),
        );
        None
    };
    let max_header_bytes = in_range(
        "max_header_bytes",
        server.max_header_bytes,
        HEADER_BYTES_RANGE,
    );
    let max_form_bytes = in_range("max_form_bytes", server.max_form_bytes, FORM_BYTES_RANGE);
    Some(RequestLimits {
        max_header_bytes: max_header_bytes?,
        max_form_bytes: max_form_bytes?,
    })
}

/// `[ui]`: reads every override and renders every page once, so that a
/// broken template or an unreadable file fails here, not in front of a
/// user.
fn ui(settings: &UiSettings, base_dir: &Path, problems: &mut Problems) -> Option<Arc<Ui>> {
    if settings.product_name.trim().is_empty() {
        problems.push("ui.product_name", "must not be empty");
        return None;
    }
    let path = |path: &Option<PathBuf>| path.as_deref().map(|path| resolve(base_dir, path));
    let loaded = Ui::load(&porthor_server::UiSettings {
        product_name: settings.product_name.clone(),
        logo_file: path(&settings.logo_file),
        css_file: path(&settings.css_file),
        template_dir: path(&settings.template_dir),
    });
    let key = match &loaded {
        Err(porthor_server::UiError::LogoType { .. }) => "ui.logo_file",
        Err(porthor_server::UiError::Read { path: read, .. })
            if Some(read.as_path()) == path(&settings.logo_file).as_deref() =>
        {
            "ui.logo_file"
        }
        Err(porthor_server::UiError::Read { path: read, .. })
            if Some(read.as_path()) == path(&settings.css_file).as_deref() =>
        {
            "ui.css_file"
        }
        _ => "ui.template_dir",
    };
    problems
        .check(
            key,
            loaded.map_err(|error| {
                let mut text = error.to_string();
                if let Some(source) = std::error::Error::source(&error)
                    && !matches!(error, porthor_server::UiError::Template { .. })
                {
                    text = format!("{text}: {source}");
                }
                text
            }),
        )
        .map(Arc::new)
}

/// `[throttle]`. Checked whether or not it is enabled, so that turning it
/// on never uncovers a mistake.
fn throttle(settings: &ThrottleSettings, problems: &mut Problems) -> Option<Throttle> {
    let second = Duration::from_secs(1);
    let window = duration(problems, "throttle.window", &settings.window, second);
    let lockout = duration(problems, "throttle.lockout", &settings.lockout, second);
    let mut at_least_one = |key: &str, failures: u32| {
        if failures == 0 {
            problems.push(
                format!("throttle.{key}"),
                "must be at least 1 (set throttle.enabled = false to turn throttling off)",
            );
            return None;
        }
        Some(failures)
    };
    let user_failures = at_least_one("user_failures", settings.user_failures);
    let ip_failures = at_least_one("ip_failures", settings.ip_failures);
    let client_failures = at_least_one("client_failures", settings.client_failures);
    Some(Throttle {
        enabled: settings.enabled,
        window: window?,
        lockout: lockout?,
        user_failures: user_failures?,
        ip_failures: ip_failures?,
        client_failures: client_failures?,
    })
}

/// `[alerts]`: `Some(None)` without a webhook, `None` on a problem. The
/// durations are checked either way, so that adding a webhook never
/// uncovers a mistake. The URL is a secret: no message quotes it.
fn alerts(
    settings: &AlertsSettings,
    base_dir: &Path,
    reader: KeyReader,
    problems: &mut Problems,
) -> Option<Option<AlertsConfig>> {
    let second = Duration::from_secs(1);
    let store_down_after = duration(
        problems,
        "alerts.store_down_after",
        &settings.store_down_after,
        second,
    );
    let min_interval = duration(
        problems,
        "alerts.min_interval",
        &settings.min_interval,
        second,
    );
    let webhook = match (
        &settings.slack_webhook_url,
        &settings.slack_webhook_url_file,
    ) {
        (None, None) => return Some(None),
        (Some(_), Some(_)) => {
            problems.push(
                "alerts.slack_webhook_url_file",
                "set either alerts.slack_webhook_url or alerts.slack_webhook_url_file, not both",
            );
            None
        }
        (Some(url), None) => problems.check("alerts.slack_webhook_url", WebhookUrl::parse(url)),
        (None, Some(path)) => {
            let path = resolve(base_dir, path);
            problems.check(
                "alerts.slack_webhook_url_file",
                reader.text(&path).and_then(|text| {
                    WebhookUrl::parse(&text)
                        .map_err(|error| format!("{}: the URL {error}", path.display()))
                }),
            )
        }
    };
    Some(Some(AlertsConfig {
        webhook: webhook?,
        store_down_after: store_down_after?,
        min_interval: min_interval?,
    }))
}

/// `[metrics]`: `Some(None)` when off, `None` on a problem.
fn metrics(
    settings: &MetricsSettings,
    public: Option<SocketAddr>,
    problems: &mut Problems,
) -> Option<Option<Metrics>> {
    const LISTEN: &str = "metrics.listen";
    let listen = match &settings.listen {
        None => None,
        Some(text) => Some(problems.check(
            LISTEN,
            text.parse::<SocketAddr>().map_err(|_| {
                format!("{text:?} is not an ip address and port such as \"127.0.0.1:9090\"")
            }),
        )?),
    };
    if !settings.enabled {
        if listen.is_some() || settings.per_client {
            problems.warn(
                "metrics.enabled",
                "metrics are off: metrics.listen and metrics.per_client have no effect",
            );
        }
        return Some(None);
    }
    match listen {
        Some(addr) if public.is_some_and(|public| public == addr && addr.port() != 0) => {
            problems.push(LISTEN, "must differ from server.listen");
            return None;
        }
        Some(_) => {}
        None => problems.warn(
            LISTEN,
            "not set: /metrics is served on the public port, to anyone who can reach it; set metrics.listen to a private address to keep it off",
        ),
    }
    Some(Some(Metrics { listen }))
}

fn queue_timeout(settings: &LoginSettings, problems: &mut Problems) -> Option<Duration> {
    let text = &settings.queue_timeout;
    bounded_duration(problems, "login.queue_timeout", text, MAX_QUEUE_TIMEOUT)
}

fn shutdown(settings: &ServerSettings, problems: &mut Problems) -> Option<Shutdown> {
    let mut parse =
        |key: &str, text: &str| bounded_duration(problems, key, text, MAX_SHUTDOWN_WAIT);
    let timeout = parse("server.shutdown_timeout", &settings.shutdown_timeout);
    let drain_delay = parse("server.drain_delay", &settings.drain_delay);
    Some(Shutdown {
        drain_delay: drain_delay?,
        timeout: timeout?,
    })
}

/// The duration `text` at `key`, which may be zero but at most `maximum`.
fn bounded_duration(
    problems: &mut Problems,
    key: &str,
    text: &str,
    maximum: Duration,
) -> Option<Duration> {
    let duration = duration(problems, key, text, Duration::ZERO)?;
    if duration > maximum {
        let maximum = humantime::format_duration(maximum);
        problems.push(
            key,
            format!("{text:?} is too long; it must be at most {maximum}"),
        );
        return None;
    }
    Some(duration)
}

fn store(
    settings: Option<&StoreSettings>,
    embedded: bool,
    base_dir: &Path,
    reader: KeyReader,
    problems: &mut Problems,
) -> Option<StoreConfig> {
    let default = StoreSettings::default();
    let settings = match settings {
        Some(settings) => settings,
        None if embedded => &default,
        None => {
            problems.push(
                "store",
                "missing; add a [store] table with backend = \"redis\" or \"memory\"",
            );
            return None;
        }
    };
    let backend_kind = match settings.backend {
        Some(kind) => kind,
        None if embedded => BackendKind::Memory,
        None => {
            problems.push("store.backend", "missing; set \"redis\" or \"memory\"");
            return None;
        }
    };
    if settings.pool_size == 0 {
        problems.push("store.pool_size", "must be at least 1");
    }
    if settings.key_prefix.is_empty() {
        problems.push("store.key_prefix", "must not be empty");
    }
    let key_file = settings
        .encryption_key_file
        .as_deref()
        .map(|path| resolve(base_dir, path));
    let encryption_key = match &key_file {
        Some(path) => problems.check(
            "store.encryption_key_file",
            reader.text(path).and_then(|text| {
                EncryptionKey::parse(text.trim())
                    .map_err(|error| format!("{}: {error}", path.display()))
            }),
        ),
        // Without a file the backend is memory (Redis requires one, below):
        // records live as long as the process, so a key that does too is
        // enough.
        None => Some(EncryptionKey::generate()),
    };
    let backend = match backend_kind {
        BackendKind::Memory => {
            // A warning, not an error: `PORTHOR_STORE__BACKEND=memory` may
            // override a file written for Redis.
            for (key, set) in [
                ("store.redis_url", settings.redis_url.is_some()),
                ("store.cluster_urls", !settings.cluster_urls.is_empty()),
                ("store.sentinel", settings.sentinel.is_some()),
                ("store.password_file", settings.password_file.is_some()),
            ] {
                if set {
                    problems.warn(
                        key,
                        "is ignored: it is only used with store.backend = \"redis\"",
                    );
                }
            }
            Some(BackendConfig::Memory)
        }
        BackendKind::Redis => {
            if key_file.is_none() {
                problems.push(
                    "store.encryption_key_file",
                    "missing; it is required with store.backend = \"redis\" (make one with `porthor keygen --store-key --output PATH`)",
                );
            }
            redis_backend(settings, base_dir, reader, problems)
        }
    };
    Some(StoreConfig {
        backend: backend?,
        key_prefix: settings.key_prefix.clone(),
        encryption_key: encryption_key?,
    })
}

/// Where Redis is: exactly one of `redis_url`, `cluster_urls` and
/// `[store.sentinel]`, each URL checked, and `password_file`'s password put
/// into every URL.
fn redis_backend(
    settings: &StoreSettings,
    base_dir: &Path,
    reader: KeyReader,
    problems: &mut Problems,
) -> Option<BackendConfig> {
    const ONE_OF: &str = "store.redis_url, store.cluster_urls or [store.sentinel]";
    let given: Vec<&str> = [
        ("store.redis_url", settings.redis_url.is_some()),
        ("store.cluster_urls", !settings.cluster_urls.is_empty()),
        ("store.sentinel", settings.sentinel.is_some()),
    ]
    .into_iter()
    .filter_map(|(key, set)| set.then_some(key))
    .collect();
    match given.as_slice() {
        [] => {
            problems.push(
                "store.redis_url",
                format!("missing; with store.backend = \"redis\" set one of {ONE_OF}"),
            );
            return None;
        }
        [_] => {}
        [first, rest @ ..] => {
            problems.push(
                *first,
                format!(
                    "is set together with {}; set exactly one of {ONE_OF}",
                    rest.join(" and ")
                ),
            );
            return None;
        }
    }
    let password = settings.password_file.as_deref().and_then(|path| {
        let path = resolve(base_dir, path);
        problems.check(
            "store.password_file",
            reader.text(&path).and_then(|text| {
                let password = Zeroizing::new(text.trim().to_owned());
                if password.is_empty() {
                    Err(format!("{} is empty", path.display()))
                } else {
                    Ok(password)
                }
            }),
        )
    });
    if settings.password_file.is_some() && password.is_none() {
        return None;
    }
    let password = password.as_ref().map(|password| password.as_str());
    let urls = |key: &str, urls: &[String], problems: &mut Problems| -> Option<Vec<String>> {
        if urls.is_empty() {
            problems.push(key, "must list at least one URL");
            return None;
        }
        let checked: Vec<Option<String>> = urls
            .iter()
            .enumerate()
            .map(|(i, url)| {
                problems.check(
                    &format!("{key}[{i}]"),
                    check_redis_url(url, password, false),
                )
            })
            .collect();
        checked.into_iter().collect()
    };
    let pool_size = settings.pool_size;
    if let Some(url) = &settings.redis_url {
        return problems
            .check("store.redis_url", check_redis_url(url, password, true))
            .map(|url| BackendConfig::Redis { url, pool_size });
    }
    if !settings.cluster_urls.is_empty() {
        return urls("store.cluster_urls", &settings.cluster_urls, problems)
            .map(|urls| BackendConfig::RedisCluster { urls, pool_size });
    }
    let sentinel = settings.sentinel.as_ref()?;
    let master_name = sentinel.master_name.trim();
    if master_name.is_empty() {
        problems.push(
            "store.sentinel.master_name",
            "missing; the name the sentinels know the master by",
        );
    }
    let urls = urls("store.sentinel.urls", &sentinel.urls, problems)?;
    (!master_name.is_empty()).then(|| BackendConfig::RedisSentinel {
        master_name: master_name.to_owned(),
        urls,
        pool_size,
    })
}

/// Checks what can be checked of a Redis URL without connecting (the store
/// checks the rest when it opens), and puts `password` into it if given.
/// Unix sockets only where `unix` says (one server). Errors never echo a
/// password.
fn check_redis_url(text: &str, password: Option<&str>, unix: bool) -> Result<String, String> {
    let shown = || porthor_store::redact_redis_url(text);
    let mut url =
        url::Url::parse(text).map_err(|error| format!("{} is not a URL: {error}", shown()))?;
    match url.scheme() {
        "redis" | "rediss" => {}
        "redis+unix" | "unix" if unix => {}
        other => {
            let expected = if unix {
                "redis://, rediss:// or redis+unix://"
            } else {
                "redis:// or rediss://"
            };
            return Err(format!(
                "{} has scheme {other:?}; expected {expected}",
                shown()
            ));
        }
    }
    if let Some(password) = password {
        url.set_password(Some(password))
            .map_err(|()| format!("{} cannot carry a password", shown()))?;
    }
    Ok(url.into())
}

fn signer(
    settings: Option<&SigningSettings>,
    embedded: bool,
    base_dir: &Path,
    reader: KeyReader,
    problems: &mut Problems,
) -> Option<Signer> {
    const KEY: &str = "signing.key_file";
    let signer = match settings.and_then(|signing| signing.key_file.as_deref()) {
        Some(path) => {
            let path = resolve(base_dir, path);
            problems.check(
                KEY,
                reader.bytes(&path).and_then(|pem| {
                    Signer::from_pem(&pem)
                        .map_err(|error| format!("{}: {}", path.display(), chain(&error)))
                }),
            )
        }
        None if embedded => problems.check(
            KEY,
            porthor_signer::generate_pem(SigningAlgorithm::Rs256)
                .and_then(|pem| Signer::from_pem(pem.as_bytes()))
                .map_err(|error| format!("cannot generate a key: {}", chain(&error))),
        ),
        None => {
            problems.push(
                KEY,
                "missing; make a key with `porthor keygen --output PATH` and name it here",
            );
            None
        }
    };
    let previous = settings.map_or(&[][..], |signing| signing.previous_key_files.as_slice());
    previous_keys(signer, previous, base_dir, reader, problems)
}

/// Adds `signing.previous_key_files` to the signer, each checked on its
/// own so that a problem names the file's index.
fn previous_keys(
    mut signer: Option<Signer>,
    files: &[PathBuf],
    base_dir: &Path,
    reader: KeyReader,
    problems: &mut Problems,
) -> Option<Signer> {
    for (index, path) in files.iter().enumerate() {
        let key = format!("signing.previous_key_files[{index}]");
        let path = resolve(base_dir, path);
        let pem = reader.bytes(&path).and_then(|pem| {
            Signer::from_pem(&pem)
                .map(|_| pem)
                .map_err(|error| format!("{}: {}", path.display(), chain(&error)))
        });
        let Some(pem) = problems.check(&key, pem) else {
            continue;
        };
        signer = match signer.map(|signer| signer.with_previous_keys(&[&pem])) {
            Some(result) => problems.check(&key, result.map_err(|error| chain(&error))),
            None => None,
        };
    }
    signer
}

/// Checks `[[clients]]` and `[[users]]` entries on their own, by the rules
/// [`validate`] applies to them within a whole file: for `porthor client
/// add` and `user add`, so that what they write is what `check-config`
/// accepts.
pub fn check_entries(
    clients: &[ClientSettings],
    users: &[UserSettings],
) -> Result<(), ConfigErrors> {
    let mut problems = Problems::default();
    self::clients(clients, &mut problems);
    self::users(users, &mut problems);
    problems.finish(Some(()))
}

fn clients(settings: &[ClientSettings], problems: &mut Problems) -> Vec<Client> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut clients = Vec::new();
    for (index, client) in settings.iter().enumerate() {
        let key = |field: &str| format!("clients[{index}].{field}");
        let id = client.client_id.as_str();
        if id.is_empty() {
            problems.push(key("client_id"), "must not be empty");
        } else if let Some(first) = seen.insert(id, index) {
            problems.push(
                key("client_id"),
                format!("{id:?} is already used by clients[{first}]"),
            );
        }
        let method = match client.token_endpoint_auth_method.as_deref() {
            None => Some(None),
            Some(name) => problems
                .check(
                    &key("token_endpoint_auth_method"),
                    AuthMethod::parse(name).ok_or_else(|| {
                        format!("{name:?} is not client_secret_basic, client_secret_post or none")
                    }),
                )
                .map(Some),
        };
        let auth = match (method, client.client_secret_hash.as_deref()) {
            (None, _) => None,
            (Some(Some(AuthMethod::None)), None) => Some(ClientAuth::Public),
            (Some(Some(AuthMethod::None)), Some(_)) => {
                problems.push(
                    key("client_secret_hash"),
                    "must not be set for a public client (token_endpoint_auth_method = \"none\")",
                );
                None
            }
            (Some(_), None) => {
                problems.push(
                    key("client_secret_hash"),
                    "missing; make one with `porthor hash-secret`, or set token_endpoint_auth_method = \"none\" for a public client",
                );
                None
            }
            (Some(method), Some(hash)) => problems
                .check(
                    &key("client_secret_hash"),
                    ClientSecretHash::parse(hash)
                        .map_err(|error| format!("{error} (make one with `porthor hash-secret`)")),
                )
                .map(|hash| ClientAuth::Secret { hash, method }),
        };
        if client.redirect_uris.is_empty() {
            problems.push(key("redirect_uris"), "must list at least one URI");
        }
        let mut uris = |field: &str, list: &[String]| {
            list.iter()
                .enumerate()
                .filter_map(|(uri_index, uri)| {
                    problems.check(
                        &format!("clients[{index}].{field}[{uri_index}]"),
                        RedirectUri::parse(uri),
                    )
                })
                .collect::<Vec<_>>()
        };
        let redirect_uris = uris("redirect_uris", &client.redirect_uris);
        let post_logout_redirect_uris = uris(
            "post_logout_redirect_uris",
            &client.post_logout_redirect_uris,
        );
        let consent = consent(client.consent.as_deref(), &key("consent"), problems);
        let allowed_scopes = allowed_scopes(client.allowed_scopes.as_deref(), index, problems);
        if let Some(auth) = auth {
            // A public client cannot keep a refresh token safe from whoever
            // controls the browser or device, so it gets none unless asked.
            let allow_offline_access = client
                .allow_offline_access
                .unwrap_or(!matches!(auth, ClientAuth::Public));
            let registered = Client {
                client_id: client.client_id.clone(),
                auth,
                redirect_uris,
                require_pkce: client.require_pkce,
                post_logout_redirect_uris,
                always_issue_refresh_token: client.always_issue_refresh_token,
                name: client.name.clone(),
                consent: consent.unwrap_or_default(),
                allowed_scopes: allowed_scopes.unwrap_or_else(Scopes::all),
                allow_offline_access,
                introspect_any: client.introspect_any,
            };
            for (field, problem) in registered.contradictions() {
                problems.push(key(field), problem);
            }
            clients.push(registered);
        }
    }
    clients
}

/// `clients[].consent`; `None` when absent or invalid (reported).
fn consent(name: Option<&str>, key: &str, problems: &mut Problems) -> Option<Consent> {
    let name = name?;
    problems.check(
        key,
        Consent::parse(name).ok_or_else(|| format!("{name:?} is not \"implicit\" or \"required\"")),
    )
}

/// `clients[].allowed_scopes`: each a scope Porthor knows, by its exact
/// name. `None` when absent or invalid (reported).
fn allowed_scopes(
    names: Option<&[String]>,
    index: usize,
    problems: &mut Problems,
) -> Option<Scopes> {
    let names = names?;
    let mut scopes = Vec::new();
    for (scope_index, name) in names.iter().enumerate() {
        match Scope::ALL.into_iter().find(|scope| scope.as_str() == name) {
            Some(scope) => scopes.push(scope),
            None => {
                let known: Vec<&str> = Scope::ALL.iter().map(|scope| scope.as_str()).collect();
                problems.push(
                    format!("clients[{index}].allowed_scopes[{scope_index}]"),
                    format!(
                        "{name:?} is not a scope Porthor knows ({})",
                        known.join(", ")
                    ),
                );
            }
        }
    }
    (scopes.len() == names.len()).then(|| scopes.into_iter().collect())
}

fn users(settings: &[UserSettings], problems: &mut Problems) -> Vec<User> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut users = Vec::new();
    for (index, user) in settings.iter().enumerate() {
        let key = |field: &str| format!("users[{index}].{field}");
        let name = user.username.as_str();
        if name.is_empty() {
            problems.push(key("username"), "must not be empty");
        } else if let Some(first) = seen.insert(name, index) {
            problems.push(
                key("username"),
                format!("{name:?} is already used by users[{first}]"),
            );
        }
        if problems
            .check(
                &key("password_hash"),
                porthor_oidc::check_password_hash(&user.password_hash),
            )
            .is_some()
        {
            users.push(User {
                username: user.username.clone(),
                name: user.name.clone(),
                email: user.email.clone(),
                groups: user.groups.clone(),
                password_hash: user.password_hash.clone(),
            });
        }
    }
    users
}

/// Reads key files, refusing ones others may read unless told not to.
#[derive(Debug, Clone, Copy)]
struct KeyReader {
    key_files: KeyFiles,
}

impl KeyReader {
    fn bytes(self, path: &Path) -> Result<Zeroizing<Vec<u8>>, String> {
        self.check_mode(path)?;
        std::fs::read(path)
            .map(Zeroizing::new)
            .map_err(|error| format!("cannot read {}: {error}", path.display()))
    }

    fn text(self, path: &Path) -> Result<Zeroizing<String>, String> {
        self.check_mode(path)?;
        std::fs::read_to_string(path)
            .map(Zeroizing::new)
            .map_err(|error| format!("cannot read {}: {error}", path.display()))
    }

    /// Refuses a file with any permission for its group or others, except
    /// group read on a file owned by root (PostgreSQL's rule for its key
    /// file, and for the same reason): a Kubernetes Secret volume mounts
    /// keys as root-owned and readable by the pod's `fsGroup` (0440), and
    /// root could read the key anyway. A file that cannot be inspected is
    /// left to the read, which says why.
    #[cfg(unix)]
    fn check_mode(self, path: &Path) -> Result<(), String> {
        use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
        if self.key_files == KeyFiles::AnyMode {
            return Ok(());
        }
        let Ok(metadata) = std::fs::metadata(path) else {
            return Ok(());
        };
        let mode = metadata.permissions().mode() & 0o777;
        let allowed = if metadata.uid() == 0 { 0o040 } else { 0 };
        if mode & 0o077 & !allowed == 0 {
            return Ok(());
        }
        Err(format!(
            "{path} has mode {mode:03o}, so users other than its owner can read or change the key; run `chmod 600 {path}` (group read is allowed only on a file owned by root, such as a Kubernetes Secret volume's; or pass --allow-insecure, for development only)",
            path = path.display()
        ))
    }

    #[cfg(not(unix))]
    fn check_mode(self, _path: &Path) -> Result<(), String> {
        Ok(())
    }
}

/// An error and its sources, `: `-separated.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
