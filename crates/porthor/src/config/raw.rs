//! What the configuration says: the TOML file and the `PORTHOR_*`
//! environment, layered and deserialized as written, not yet checked.
//!
//! Layering, lowest first: the defaults written on these structs, then the
//! file given by `--config` (if any), then environment variables. A variable
//! names a key by its path: the prefix `PORTHOR_`, then the path's segments
//! joined by `__`, in any case (`PORTHOR_ISSUER` is `issuer`,
//! `PORTHOR_STORE__REDIS_URL` is `store.redis_url`). Lists (`clients`, `users`)
//! come only from the file. Unknown keys in the file are errors; `PORTHOR_*`
//! variables that name no key are ignored with a warning, because other tools
//! (tests, wrappers) share the prefix.

use std::path::{Path, PathBuf};
use std::time::Duration;

use config_rs::{Config as Layers, ConfigError, Environment, File, FileFormat};
use porthor_oidc::{Lifetimes, Limits, OidcConfig, Throttle};
use porthor_server::{RequestLimits, ServerConfig};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::problem::{ConfigErrors, Problem};

/// The prefix of every configuration variable, without its separator.
const ENV_PREFIX: &str = "PORTHOR";
/// Between the prefix and the first key segment.
const ENV_PREFIX_SEPARATOR: &str = "_";
/// Between nesting levels.
const ENV_SEPARATOR: &str = "__";

/// Every key a variable may set. Checked against the structs by a test
/// (`schema.rs`: every key whose schema is a scalar, and only those).
pub(super) const ENV_KEYS: &[&str] = &[
    "issuer",
    "server.listen",
    "server.workers",
    "server.max_header_bytes",
    "server.max_form_bytes",
    "server.shutdown_timeout",
    "server.drain_delay",
    "store.backend",
    "store.redis_url",
    "store.pool_size",
    "store.key_prefix",
    "store.encryption_key_file",
    "store.password_file",
    "store.sentinel.master_name",
    "signing.key_file",
    "tokens.code_lifetime",
    "tokens.id_token_lifetime",
    "tokens.access_token_lifetime",
    "tokens.session_lifetime",
    "tokens.refresh_token_lifetime",
    "tokens.refresh_token_idle_timeout",
    "limits.sessions_per_user",
    "tokens.consent_lifetime",
    "log.format",
    "log.audit_file",
    "throttle.enabled",
    "throttle.window",
    "throttle.lockout",
    "throttle.user_failures",
    "throttle.ip_failures",
    "throttle.client_failures",
    "login.queue_timeout",
    "ui.product_name",
    "ui.logo_file",
    "ui.css_file",
    "ui.template_dir",
    "metrics.enabled",
    "metrics.listen",
    "metrics.per_client",
    "demo.enabled",
    "alerts.slack_webhook_url",
    "alerts.slack_webhook_url_file",
    "alerts.store_down_after",
    "alerts.min_interval",
];

/// The variable that sets the dotted `key`: `store.redis_url` is
/// `PORTHOR_STORE__REDIS_URL`.
pub(super) fn env_var(key: &str) -> String {
    format!(
        "{ENV_PREFIX}{ENV_PREFIX_SEPARATOR}{}",
        key.replace('.', ENV_SEPARATOR).to_uppercase()
    )
}

/// The whole file.
///
/// The doc comments of these structs and their fields are the reference in
/// docs/configuration.md and the descriptions in docs/porthor.schema.json
/// (`cargo xtask codegen`): write them for operators. A field's comment may
/// end with a paragraph `Default: ...` for a default that is not a plain
/// value.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The issuer identifier, used verbatim as `iss`. `https`, or `http` on a
    /// loopback host (`127.0.0.0/8`, `::1`, `localhost`) for trying Porthor
    /// out. No query, fragment or userinfo. A path is allowed: every route is
    /// served under it, and a trailing slash never produces `//` in the
    /// endpoints.
    ///
    /// Default: required with a file; `http://{server.listen}` without.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(default)]
    pub server: ServerSettings,
    /// Required with a file; an in-memory store without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<StoreSettings>,
    /// Required with a file; a fresh RS256 key without one (so ID tokens stop
    /// verifying at every restart).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing: Option<SigningSettings>,
    #[serde(default)]
    pub tokens: TokenSettings,
    #[serde(default)]
    pub limits: LimitsSettings,
    #[serde(default)]
    pub log: LogSettings,
    #[serde(default)]
    pub throttle: ThrottleSettings,
    #[serde(default)]
    pub login: LoginSettings,
    #[serde(default)]
    pub ui: UiSettings,
    #[serde(default)]
    pub metrics: MetricsSettings,
    #[serde(default)]
    pub demo: DemoSettings,
    #[serde(default)]
    pub alerts: AlertsSettings,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clients: Vec<ClientSettings>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<UserSettings>,
}

/// The HTTP listener.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Socket address to bind.
    pub listen: String,
    /// actix-web worker threads (at least 1).
    ///
    /// Default: one per core.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workers: Option<usize>,
    /// CIDRs (`"10.0.0.0/8"`, `"2001:db8::/32"`) or single addresses of the
    /// proxies in front of Porthor. A request from one of them is counted
    /// (for login throttling and in audit events) as coming from the
    /// right-most address in `X-Forwarded-For` that is not a trusted proxy;
    /// from any other peer, `X-Forwarded-For` is ignored. A CIDR with bits
    /// set past its prefix length (`10.1.2.3/8`) is refused. An error names
    /// its index (`server.trusted_proxies[1]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trusted_proxies: Vec<String>,
    /// Requests whose header fields (names, values, separators) are larger
    /// answer 431. 1024 to 131072 (the default is 16 KiB).
    pub max_header_bytes: usize,
    /// Form bodies larger than this answer 413, on every endpoint that reads
    /// one. 1024 to 1048576 (the default is 64 KiB).
    pub max_form_bytes: usize,
    /// Once stopping, how long in-flight requests may take to finish before
    /// they are dropped. Counted in whole seconds. `0s` to `1h`.
    pub shutdown_timeout: String,
    /// After SIGTERM, how long Porthor keeps serving with `/ready` answering
    /// 503, so that load balancers probing it move traffic away before it
    /// stops accepting. SIGINT (Ctrl-C) skips it; a second signal cuts it
    /// short. `0s` to `1h`.
    pub drain_delay: String,
}

/// What an absent key in `[server]` (or an absent table) takes; the
/// request limits are the server's own defaults,
/// [`RequestLimits::default`].
impl Default for ServerSettings {
    fn default() -> Self {
        let limits = RequestLimits::default();
        Self {
            listen: "127.0.0.1:8080".to_owned(),
            workers: None,
            trusted_proxies: Vec::new(),
            max_header_bytes: limits.max_header_bytes,
            max_form_bytes: limits.max_form_bytes,
            shutdown_timeout: duration_text(ServerConfig::DEFAULT_SHUTDOWN_TIMEOUT),
            drain_delay: "5s".to_owned(),
        }
    }
}

/// Where codes, sessions, tokens, refresh-token families, consent grants
/// and failure counters live: Redis (shared by every replica), or memory.
/// With `backend = "redis"`, exactly one of `redis_url`, `cluster_urls` and
/// `[store.sentinel]` says where Redis is.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSettings {
    /// `redis`, or `memory` (one process, lost on restart).
    ///
    /// Default: required with a file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<BackendKind>,
    /// One Redis server: `redis://[user:password@]host:port/db`,
    /// `rediss://…` for TLS (certificates checked against the system's
    /// roots), or `redis+unix:///path/to/socket`. Set with the memory
    /// backend it is ignored, with a warning (so
    /// that `PORTHOR_STORE__BACKEND=memory` can override a file written for
    /// Redis).
    ///
    /// Default: one of the three is required for `redis`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_url: Option<String>,
    /// A Redis Cluster, by some of its nodes: `redis://` or `rediss://`
    /// URLs, each with an optional ACL user and password (the client finds
    /// the other nodes). File only, not from the environment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_urls: Vec<String>,
    /// The most Redis connections per thread that uses the store (each
    /// actix worker has its own pool, opened on demand, so that a
    /// connection's I/O stays on the worker's thread). A connection is
    /// multiplexed: every concurrent command of its thread shares it, and
    /// their writes and replies coalesce, which is what keeps Redis's CPU per
    /// flow low. Raising it only adds connections that stand by while the
    /// first is being replaced.
    pub pool_size: usize,
    /// Starts every Redis key (`{key_prefix}:{<tag>}:v2:{kind}:{name}`, the
    /// Cluster hash tag after it); give each deployment sharing a Redis its
    /// own. No `{` or `}`. Redis 7.0 or later is required.
    pub key_prefix: String,
    /// 32 random bytes in base64, from `porthor keygen --store-key`. Records
    /// are AES-256-GCM encrypted with it. Changing it makes every stored
    /// record unreadable (sessions end, codes fail as `invalid_grant`).
    ///
    /// Default: required for `redis`; random for `memory`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_key_file: Option<PathBuf>,
    /// A file holding the Redis password (surrounding whitespace ignored),
    /// so that it stays out of this file: it replaces the password of every
    /// Redis URL (`redis_url`, `cluster_urls`, the sentinels' `urls`).
    /// Never logged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// `[store.sentinel]`: Redis behind Sentinel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sentinel: Option<SentinelSettings>,
}

/// A Redis master watched by Redis Sentinel, the third way to say where
/// Redis is (instead of `redis_url` or `cluster_urls`). Porthor asks the
/// sentinels for the master when it connects, and again whenever a
/// connection fails or finds that its server has become a replica, so it
/// follows a failover without a restart; operations.md says what a failover
/// can lose.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SentinelSettings {
    /// The name the sentinels know the master by (`sentinel monitor NAME …`).
    ///
    /// Default: required.
    pub master_name: String,
    /// The sentinels: `redis://` or `rediss://` URLs, usually on port
    /// 26379. The first one's user, password, database and TLS are also
    /// the master's. File only, not from the environment.
    ///
    /// Default: required (at least one).
    pub urls: Vec<String>,
}

/// What an absent key in `[store]` takes.
impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            backend: None,
            redis_url: None,
            cluster_urls: Vec::new(),
            pool_size: 1,
            key_prefix: "porthor".to_owned(),
            encryption_key_file: None,
            password_file: None,
            sentinel: None,
        }
    }
}

/// `store.backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    Redis,
    Memory,
}

/// The keys that sign ID tokens, and the keys retired by a rotation.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SigningSettings {
    /// PEM private key: RSA (RS256), P-256 (ES256) or Ed25519 (EdDSA), from
    /// `porthor keygen --output FILE [--alg ...]`. The JWKS publishes its
    /// public half with `kid` = the RFC 7638 thumbprint.
    ///
    /// Default: required with a file; a fresh RS256 key without.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// Keys used before a rotation (any supported type): published in the
    /// JWKS after the current key, so ID tokens they signed keep verifying;
    /// never used to sign. Each is checked like `key_file`; an error names
    /// its index (`signing.previous_key_files[1]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous_key_files: Vec<PathBuf>,
}

/// How long what Porthor issues lives. Durations in humantime form (`60s`,
/// `5m`, `1h 30m`); each at least `1s` and at most 100 years (`36500d`), as
/// is every duration in this file: a longer one could not be expired by
/// Redis.
///
/// Refresh tokens rotate: each refresh returns a new one and only the
/// newest is accepted. Presenting one it replaced (the last eight are
/// remembered: a replay, or two refreshes racing with the same token)
/// revokes the family: its refresh token and every access token issued
/// from it. A made-up secret under a family's key is only refused, so that
/// knowing a key (which codes and access tokens contain) is not enough to
/// end someone's grant. Access tokens issued from a family live as long as
/// `access_token_lifetime` allows within the family's life, not the browser
/// session's.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TokenSettings {
    /// Authorization codes; at most `10m` (RFC 6749 4.1.2).
    pub code_lifetime: String,
    /// ID token `exp`, capped by the login session.
    pub id_token_lifetime: String,
    /// Access tokens (`expires_in`), capped by the login session.
    pub access_token_lifetime: String,
    /// Login sessions (the session cookie: `__Host-porthor_session` on an
    /// https issuer at the root of its host, `__Secure-porthor_session` under
    /// a path, `porthor_session` on the http loopback demo; see
    /// [security.md](security.md#sessions-the-user-index-and-cookies)).
    pub session_lifetime: String,
    /// Refresh-token families, from the code redemption that starts them,
    /// however often they are refreshed. A family outlives the browser
    /// session (that is what `offline_access` asks for), but logging out, at
    /// `/logout` or through RP-initiated logout, ends it.
    pub refresh_token_lifetime: String,
    /// A family not refreshed for this long ends.
    pub refresh_token_idle_timeout: String,
    /// How long a user's approval on the consent page is remembered, per
    /// user, client and set of scopes, for clients with `consent =
    /// "required"`; then the user is asked again.
    pub consent_lifetime: String,
}

/// The service's own defaults, [`Lifetimes::default`], written out as a file
/// would write them: they are decided there, and `check-config` shows them
/// here.
impl Default for TokenSettings {
    fn default() -> Self {
        let lifetimes = Lifetimes::default();
        Self {
            code_lifetime: duration_text(lifetimes.code),
            id_token_lifetime: duration_text(lifetimes.id_token),
            access_token_lifetime: duration_text(lifetimes.access_token),
            session_lifetime: duration_text(lifetimes.session),
            refresh_token_lifetime: duration_text(lifetimes.refresh_token),
            refresh_token_idle_timeout: duration_text(lifetimes.refresh_token_idle),
            consent_lifetime: duration_text(lifetimes.consent),
        }
    }
}

/// `duration` in humantime form, in the units docs/configuration.md uses:
/// whole days (`30d`), else whole hours (`12h`), else whole minutes over
/// one (`15m`), else seconds (`60s`, where humantime's own formatter would
/// say `1m`).
fn duration_text(duration: Duration) -> String {
    if duration.subsec_nanos() != 0 {
        return humantime::format_duration(duration).to_string();
    }
    let secs = duration.as_secs();
    let units = [("d", 24 * 3600), ("h", 3600)];
    let minutes = (secs > 60).then_some(("m", 60));
    for (unit, length) in units.into_iter().chain(minutes) {
        if secs != 0 && secs.is_multiple_of(length) {
            return format!("{}{unit}", secs / length);
        }
    }
    format!("{secs}s")
}

/// Bounds on what one user may hold.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSettings {
    /// The most login sessions one user may have at once, 1 to 1000. A
    /// login beyond it ends the user's earliest login (by login time), with
    /// every code, access token and refresh-token family issued under it.
    /// Sessions that have ended do not count. See
    /// [security.md](security.md#sessions-the-user-index-and-cookies).
    pub sessions_per_user: usize,
}

/// The service's own defaults, [`Limits::default`], as for `[tokens]`.
impl Default for LimitsSettings {
    fn default() -> Self {
        Self {
            sessions_per_user: Limits::default().sessions_per_user,
        }
    }
}

/// Online guessing: failed logins are counted per username (known or not)
/// and per client address (an IPv6 client's /64; see
/// `server.trusted_proxies`), failed client authentications per registered
/// client id, in the store, so every replica sees the same counts. See
/// [security.md](security.md) for what each limit defends and trades. Each
/// limit is at least 1, and checked even when `enabled = false`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ThrottleSettings {
    /// `false` counts nothing and refuses nothing.
    pub enabled: bool,
    /// Failures are counted over this window, from a counter's first failure
    /// (`1s` to `36500d`).
    pub window: String,
    /// How long a username, address or client id stays locked once a failure
    /// brings it to its limit (`1s` to `36500d`).
    pub lockout: String,
    /// Failed logins per username. The next attempt, even with the right
    /// password, answers `429` with `Retry-After` and the form saying when
    /// to try again, without checking the password; a successful login
    /// forgets the username's failures.
    pub user_failures: u32,
    /// Failed logins per client address, whatever the usernames; locked the
    /// same way.
    pub ip_failures: u32,
    /// Failed client authentications per registered client id at the token,
    /// revocation and introspection endpoints. Failures after these answer
    /// `429` with `Retry-After` and `{"error":"invalid_client",...}`; a
    /// correct secret keeps working.
    pub client_failures: u32,
}

/// The service's own defaults, [`Throttle::default`], written out.
impl Default for ThrottleSettings {
    fn default() -> Self {
        let throttle = Throttle::default();
        Self {
            enabled: throttle.enabled,
            window: duration_text(throttle.window),
            lockout: duration_text(throttle.lockout),
            user_failures: throttle.user_failures,
            ip_failures: throttle.ip_failures,
            client_failures: throttle.client_failures,
        }
    }
}

/// The login form's password checks.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LoginSettings {
    /// Password checks (Argon2) run one per core at a time; a login waits at
    /// most this long for a free one, then answers `503` with `Retry-After`
    /// and the form saying to try again. `0s` to `60s`; `0s` means never
    /// wait.
    pub queue_timeout: String,
}

/// The service's own default, written out.
impl Default for LoginSettings {
    fn default() -> Self {
        Self {
            queue_timeout: duration_text(OidcConfig::DEFAULT_PASSWORD_QUEUE_TIMEOUT),
        }
    }
}

/// The pages people see: login, consent, logout confirmation, errors and
/// the landing page at the issuer's `/`. Paths are relative to the
/// configuration file's directory. Every override is read, parsed and
/// rendered once (with sample values, in every language) at start and by
/// `porthor check-config`, so a broken one is reported with its key, file
/// and line instead of failing in front of a user. Changing a file takes a
/// restart.
///
/// Templates are [minijinja](https://docs.rs/minijinja) (Jinja2 syntax),
/// HTML-escaped by default. Text comes from the catalogue:
/// `{{ t("login.title") }}`, with values filled in as
/// `{{ t("login.to_client", client=client_name) }}` (`t_strong` sets the
/// values in `<strong>`). An unknown key is an error. Each page's language
/// is chosen from the browser's `Accept-Language` (q-values honoured,
/// `de-CH` matches `de`) among the catalogue's languages, English
/// otherwise.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct UiSettings {
    /// Named in every page's header and title, and on the landing page.
    pub product_name: String,
    /// An image (`.png`, `.jpg`, `.jpeg`, `.gif`, `.webp` or `.svg`) shown
    /// beside the product name, served by Porthor at `/static/logo`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo_file: Option<PathBuf>,
    /// Replaces the stylesheet every page links to (`/static/style.css`).
    /// Pages may load styles and images only from Porthor itself
    /// (`Content-Security-Policy: style-src 'self'; img-src 'self'`): no
    /// inline styles, no external fonts or images.
    ///
    /// Default: the built-in stylesheet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub css_file: Option<PathBuf>,
    /// A template of the same name here replaces the built-in one:
    /// `layout.html` (shared by every page), `login.html`,
    /// `logged_in.html`, `logout.html`, `logged_out.html`, `consent.html`,
    /// `error.html`, `landing.html`. Copy the built-in ones from
    /// `crates/porthor-server/src/ui/templates/` to start.
    /// `messages.<lang>.toml` here overrides strings of a language
    /// (`messages.en.toml`, `messages.de.toml`) or adds one
    /// (`messages.fr.toml`); keys missing from a language fall back to
    /// English. The built-in catalogues are
    /// `crates/porthor-server/src/ui/messages/*.toml`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template_dir: Option<PathBuf>,
}

/// The server's own default name.
impl Default for UiSettings {
    fn default() -> Self {
        Self {
            product_name: porthor_server::DEFAULT_PRODUCT_NAME.to_owned(),
            logo_file: None,
            css_file: None,
            template_dir: None,
        }
    }
}

/// Prometheus metrics (see [operations.md](operations.md#metrics)). Off
/// unless enabled; once enabled, served on the public port only when no
/// `listen` is given (and the validation warns then), so metrics never
/// appear on the public port without the operator asking. Setting `listen`
/// or `per_client` with `enabled = false` is warned about and has no
/// effect.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSettings {
    /// Serve Prometheus metrics at `/metrics`.
    pub enabled: bool,
    /// An address and port of their own for `/metrics`, such as
    /// `"127.0.0.1:9090"` (nothing else is served there). Must differ from
    /// `server.listen`. Without it, an enabled `/metrics` is served on the
    /// public port, under the issuer's path, to anyone who can reach it, and
    /// `check-config` warns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// Label `porthor_codes_total` and `porthor_tokens_issued_total` with the
    /// client id: one series per registered client.
    pub per_client: bool,
}

/// The built-in demo relying party, an application under
/// `/demo/` on the issuer that logs in with Porthor over HTTP, as any
/// relying party would, and shows what it received: the ID token's header
/// and verified claims, the userinfo answer, a refresh and an RP-initiated
/// logout. The landing page at `/` links to it ("Try a login").
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DemoSettings {
    /// Whether the demo runs: on without a configuration file (the
    /// embedded defaults of `porthor serve`, where it logs in as the client
    /// `demo`), off with one. When a configuration file turns it on,
    /// Porthor registers a client of its own for it, `porthor-demo` (its
    /// redirect URI `{issuer}/demo/callback`, its secret derived from the
    /// store key, so the same on every replica; a `[[clients]]` entry may
    /// not use that id), logs a warning at start, and `check-config` says
    /// it is on. Anyone who can log in can then use it: leave it off in
    /// production unless you want that page there.
    ///
    /// Default: on without a file, off with one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// Slack notices of what needs an operator: a corrupt store
/// record, a store that stopped answering (and answers again), a code
/// replay or refresh-token reuse that revoked a grant, a login lockout.
/// Off unless a webhook is given. Messages name the event, client, user
/// and address, never a secret.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsSettings {
    /// A Slack incoming-webhook URL to post alerts to: https (http only to
    /// a loopback address). A secret (whoever has it can post to the
    /// channel): prefer `slack_webhook_url_file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slack_webhook_url: Option<String>,
    /// A file holding the webhook URL, readable by its owner only (like
    /// key files), relative to the configuration file's directory. Not
    /// with `slack_webhook_url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slack_webhook_url_file: Option<PathBuf>,
    /// How long the store must fail to answer (probed as `/ready` does)
    /// before the alert; another follows when it answers again.
    pub store_down_after: String,
    /// The least time between two alerts of one kind; the next message
    /// says how many were suppressed meanwhile.
    pub min_interval: String,
}

/// Alerts' defaults.
impl Default for AlertsSettings {
    fn default() -> Self {
        Self {
            slack_webhook_url: None,
            slack_webhook_url_file: None,
            store_down_after: "30s".to_owned(),
            min_interval: "1m".to_owned(),
        }
    }
}

/// Logs and audit events (see [operations.md](operations.md#logs)).
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// `text` or `json` (one object per line). The level comes from
    /// `RUST_LOG` (default `info`). In `text`, every control character in a
    /// field's value is escaped (`\n`, `\u{1b}`), so no value a request sends
    /// can start a log line of its own; JSON escapes them by construction.
    #[serde(default)]
    pub format: LogFormat,
    /// A file (relative to the configuration file's directory) that also
    /// receives the audit events (target `porthor::audit`) as JSON lines,
    /// whatever `RUST_LOG` says; created mode 0600, appended to, reopened on
    /// SIGHUP or SIGUSR1 (for logrotate). A file that cannot be opened stops
    /// the command with `log.audit_file: cannot open PATH`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_file: Option<PathBuf>,
}

/// `log.format`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// The relying parties, one entry each. `porthor client add` writes an
/// entry for you, printed or appended to the file with `--append` (see
/// [operations.md](operations.md#adding-clients-and-users)).
///
/// Clients authenticate at the token, revocation and introspection
/// endpoints with HTTP Basic (`client_secret_basic`, id and secret
/// form-urlencoded as RFC 6749 2.3.1 says) or with `client_id` and
/// `client_secret` form fields (`client_secret_post`); never both at once.
/// Public clients send `client_id` alone. Introspection is for resource
/// servers, which register as confidential clients with `introspect_any =
/// true`: a public client cannot introspect, and any other client sees only
/// its own tokens.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientSettings {
    /// Unique.
    pub client_id: String,
    /// `sha256:<base64url>` from `porthor hash-secret` (stdin) or `porthor
    /// hash-secret --generate` (prints a new secret and its hash). Secrets
    /// shorter than 32 characters are refused: they are high-entropy, so a
    /// fast hash keeps the token endpoint at microseconds per check.
    ///
    /// Default: required unless the client is public.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret_hash: Option<String>,
    /// `client_secret_basic` or `client_secret_post` accepts only that
    /// method; `none` makes the client public (a browser or native app that
    /// cannot keep a secret): it sends only its `client_id`, must not have a
    /// `client_secret_hash`, and must use PKCE. Unset, a client with a
    /// secret may use either secret method.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<String>,
    /// Non-empty, compared with the request's `redirect_uri` by exact
    /// string. `https`, or `http` on a loopback host; no fragment; written in
    /// canonical form. A client with exactly one may omit `redirect_uri`
    /// from its requests; the token request must then repeat it only if the
    /// authorization request sent it (RFC 6749 4.1.3).
    pub redirect_uris: Vec<String>,
    /// When `true`, an authorization request without a PKCE
    /// `code_challenge` is refused (`invalid_request`). Any client may use
    /// PKCE: a code issued with a challenge is redeemed only with the
    /// matching `code_verifier`. Only `S256` is accepted; `plain` is
    /// refused. Public clients always require it.
    #[serde(default)]
    pub require_pkce: bool,
    /// Same rules as `redirect_uris`: where RP-initiated logout may send the
    /// user afterwards, by exact match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_logout_redirect_uris: Vec<String>,
    /// When `true`, every code redemption also returns a refresh token;
    /// otherwise only requests with the `offline_access` scope get one. A
    /// refresh token is offline access, so this needs `allow_offline_access
    /// = true` (explicitly, for a public client) and cannot be combined with
    /// `consent = "required"`: either contradiction is refused rather than
    /// one key quietly winning.
    #[serde(default)]
    pub always_issue_refresh_token: bool,
    /// What the login and consent pages call the client.
    ///
    /// Default: the client's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `"implicit"`: the user is never asked (a first-party application; the
    /// operator consents for its users), unless the request says
    /// `prompt=consent`. `"required"`: before the first code, the user sees
    /// a consent page naming the client and what each requested scope
    /// releases, and approves or refuses; the approval is remembered
    /// (`tokens.consent_lifetime`) for that client and that set of scopes,
    /// and a request for any scope beyond it asks again. See
    /// [security.md](security.md#consent-and-scope-policy).
    ///
    /// Default: `implicit`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consent: Option<String>,
    /// Requested scopes outside it are dropped from the request, as unknown
    /// scopes are: the client gets the rest, and the token response's
    /// `scope` says what. Must include `openid`.
    ///
    /// Default: every scope Porthor knows (`openid`, `profile`, `email`,
    /// `groups`, `offline_access`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_scopes: Option<Vec<String>>,
    /// Without it `offline_access` is dropped from requests: no refresh
    /// token. For a `consent = "required"` client, `offline_access` is
    /// granted only as part of an approval that showed it (OpenID Connect
    /// Core 11).
    ///
    /// Default: `true` for a confidential client, `false` for a public one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_offline_access: Option<bool>,
    /// A client may introspect only tokens issued to itself; any other token
    /// answers `{"active":false}`. Set it for resource servers, which
    /// introspect every client's tokens. Not for public clients (they cannot
    /// introspect).
    #[serde(default)]
    pub introspect_any: bool,
}

/// The people who can log in, one entry each. `porthor user add` writes an
/// entry for you, the password read from stdin or generated (see
/// [operations.md](operations.md#adding-clients-and-users)).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserSettings {
    /// Unique; the `sub` and `preferred_username` claims.
    pub username: String,
    /// Argon2 PHC string from `porthor hash-password` (stdin). Parameters
    /// below OWASP's minimum (19 MiB of memory with two passes, or 46 MiB
    /// with one) are refused; `hash-password` uses 19 MiB, two passes, one
    /// lane.
    pub password_hash: String,
    /// The `name` claim (scope `profile`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The `email` claim (scope `email`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Group names; the `groups` claim (scope `groups`), in the ID token and
    /// userinfo.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

/// Raw settings and where they came from.
#[derive(Debug)]
pub struct Loaded {
    pub settings: Settings,
    /// The file, if one was given.
    pub file: Option<PathBuf>,
    /// `PORTHOR_*` variables that name no key, ignored.
    pub ignored_env: Vec<String>,
}

impl Loaded {
    /// Relative key file paths resolve against this: the file's directory,
    /// or the working directory without a file.
    pub fn base_dir(&self) -> &Path {
        self.file
            .as_deref()
            .and_then(Path::parent)
            .unwrap_or(Path::new(""))
    }
}

/// `path` against the configuration file's directory (see
/// [`Loaded::base_dir`]), unless absolute.
pub fn resolve(base_dir: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base_dir.join(path)
    }
}

/// Layers the file (if any) and the environment `env` (the process's, or a
/// test's) over the defaults.
pub fn load(
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Loaded, ConfigErrors> {
    let (env, ignored_env) = config_variables(env);
    let mut layers = Layers::builder();
    if let Some(file) = file {
        let text = std::fs::read_to_string(file).map_err(|error| {
            ConfigErrors::one(Problem::file(format!(
                "cannot read {}: {error}",
                file.display()
            )))
        })?;
        layers = layers.add_source(File::from_str(&text, FileFormat::Toml));
    }
    let layers = layers
        .add_source(
            Environment::with_prefix(ENV_PREFIX)
                .prefix_separator(ENV_PREFIX_SEPARATOR)
                .separator(ENV_SEPARATOR)
                .source(Some(env)),
        )
        .build()
        .map_err(|error| ConfigErrors::one(problem_from(error)))?;
    let settings = layers
        .try_deserialize::<Settings>()
        .map_err(|error| ConfigErrors::one(problem_from(error)))?;
    Ok(Loaded {
        settings,
        file: file.map(Path::to_path_buf),
        ignored_env,
    })
}

/// The key a `PORTHOR_*` variable names, the way config-rs derives it: the
/// name lowercased, the prefix and its `_` removed, each `__` a `.`.
fn env_key(name: &str) -> Option<String> {
    let lower = name.to_lowercase();
    let pattern = format!("{ENV_PREFIX}{ENV_PREFIX_SEPARATOR}").to_lowercase();
    let rest = lower.strip_prefix(&pattern)?;
    Some(rest.replace(ENV_SEPARATOR, "."))
}

/// Splits the environment into the variables that set a key, and the names of
/// `PORTHOR_*` variables that set none.
fn config_variables(
    env: impl IntoIterator<Item = (String, String)>,
) -> (config_rs::Map<String, String>, Vec<String>) {
    let mut known = config_rs::Map::new();
    let mut ignored = Vec::new();
    for (name, value) in env {
        let Some(key) = env_key(&name) else { continue };
        if ENV_KEYS.contains(&key.as_str()) {
            known.insert(name, value);
        } else {
            ignored.push(name);
        }
    }
    ignored.sort();
    (known, ignored)
}

/// Rewrites config-rs's errors into `key: message`, the form every
/// configuration error takes.
fn problem_from(error: ConfigError) -> Problem {
    match error {
        ConfigError::At {
            error,
            origin,
            key: Some(key),
        } => at_key(&normalize_key(&key), *error, origin),
        ConfigError::Type {
            origin,
            unexpected,
            expected,
            key: Some(key),
        } => Problem::new(
            normalize_key(&key),
            format!(
                "invalid type: {unexpected}, expected {expected}{}",
                from_origin(origin)
            ),
        ),
        ConfigError::NotFound(key) => Problem::new(normalize_key(&key), "missing".to_owned()),
        ConfigError::Message(message) => unknown_field("", &message, None)
            .or_else(|| missing_field("", &message))
            .unwrap_or_else(|| Problem::file(message)),
        ConfigError::FileParse { cause, .. } => {
            Problem::file(format!("not valid TOML: {}", cause.to_string().trim_end()))
        }
        other => Problem::file(other.to_string()),
    }
}

fn at_key(key: &str, error: ConfigError, origin: Option<String>) -> Problem {
    let message = match error {
        ConfigError::Message(message) => message,
        other => other.to_string(),
    };
    unknown_field(key, &message, origin.as_deref())
        .or_else(|| missing_field(key, &message))
        .unwrap_or_else(|| {
            Problem::new(key.to_owned(), format!("{message}{}", from_origin(origin)))
        })
}

/// serde's "unknown field `x`, expected one of ..." becomes a problem at
/// `{parent}.x`.
fn unknown_field(parent: &str, message: &str, origin: Option<&str>) -> Option<Problem> {
    let rest = message.strip_prefix("unknown field `")?;
    let (field, expected) = rest.split_once('`')?;
    let expected = expected.trim_start_matches(", ");
    let from = from_origin(origin.map(str::to_owned));
    Some(Problem::new(
        join_key(parent, field),
        format!("unknown key ({expected}){from}"),
    ))
}

/// serde's "missing field `x`" becomes a problem at `{parent}.x`.
fn missing_field(parent: &str, message: &str) -> Option<Problem> {
    let rest = message.strip_prefix("missing field `")?;
    let (field, _) = rest.split_once('`')?;
    Some(Problem::new(join_key(parent, field), "missing".to_owned()))
}

/// config-rs joins an index and a field with no dot (`clients[1]client_id`)
/// when the field is missing; put the dot back.
fn normalize_key(key: &str) -> String {
    let mut normal = String::with_capacity(key.len() + 1);
    let mut after_index = false;
    for c in key.chars() {
        if after_index && c != '[' && c != '.' {
            normal.push('.');
        }
        after_index = c == ']';
        normal.push(c);
    }
    normal
}

fn join_key(parent: &str, field: &str) -> String {
    if parent.is_empty() {
        field.to_owned()
    } else {
        format!("{parent}.{field}")
    }
}

fn from_origin(origin: Option<String>) -> String {
    match origin {
        Some(origin) if origin == "the environment" => " (from the environment)".to_owned(),
        _ => String::new(),
    }
}

/// The settings in TOML, for `check-config`.
pub fn to_toml(settings: &Settings) -> Result<String, toml::ser::Error> {
    toml::to_string(settings)
}

/// Every key path of `settings` that holds a scalar, for the test that keeps
/// [`ENV_KEYS`] complete.
#[cfg(test)]
fn scalar_keys(settings: &Settings) -> Vec<String> {
    fn walk(prefix: &str, value: &toml::Value, out: &mut Vec<String>) {
        match value {
            toml::Value::Table(table) => {
                for (key, value) in table {
                    walk(&join_key(prefix, key), value, out);
                }
            }
            toml::Value::Array(_) => {}
            _ => out.push(prefix.to_owned()),
        }
    }
    let mut out = Vec::new();
    if let Ok(value) = toml::Value::try_from(settings) {
        walk("", &value, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_keys_cover_every_scalar_key() {
        let full = Settings {
            issuer: Some("https://a.example".into()),
            server: ServerSettings {
                workers: Some(1),
                ..ServerSettings::default()
            },
            store: Some(StoreSettings {
                backend: Some(BackendKind::Redis),
                redis_url: Some("redis://h".into()),
                cluster_urls: vec!["redis://h".into()],
                pool_size: 1,
                key_prefix: "p".into(),
                encryption_key_file: Some("k".into()),
                password_file: Some("pw".into()),
                sentinel: Some(SentinelSettings {
                    master_name: "m".into(),
                    urls: vec!["redis://h".into()],
                }),
            }),
            signing: Some(SigningSettings {
                key_file: Some("k".into()),
                previous_key_files: vec![],
            }),
            ui: UiSettings {
                logo_file: Some("l".into()),
                css_file: Some("c".into()),
                template_dir: Some("t".into()),
                ..UiSettings::default()
            },
            metrics: MetricsSettings {
                listen: Some("127.0.0.1:9090".into()),
                ..MetricsSettings::default()
            },
            demo: DemoSettings {
                enabled: Some(true),
            },
            log: LogSettings {
                audit_file: Some("a".into()),
                ..LogSettings::default()
            },
            alerts: AlertsSettings {
                slack_webhook_url: Some("https://hooks.example".into()),
                slack_webhook_url_file: Some("w".into()),
                ..AlertsSettings::default()
            },
            ..Settings::default()
        };
        let mut keys = scalar_keys(&full);
        keys.sort();
        let mut expected: Vec<String> = ENV_KEYS.iter().map(|k| (*k).to_owned()).collect();
        expected.sort();
        assert_eq!(keys, expected);
    }

    #[test]
    fn durations_are_written_in_the_documented_units() {
        let text = |secs| duration_text(Duration::from_secs(secs));
        assert_eq!(text(0), "0s");
        assert_eq!(text(60), "60s");
        assert_eq!(text(2), "2s");
        assert_eq!(text(120), "2m");
        assert_eq!(text(90 * 60), "90m");
        assert_eq!(text(15 * 60), "15m");
        assert_eq!(text(601), "601s");
        assert_eq!(text(3600), "1h");
        assert_eq!(text(36 * 3600), "36h");
        assert_eq!(text(30 * 24 * 3600), "30d");
        assert_eq!(duration_text(Duration::from_millis(1500)), "1s 500ms");
    }

    #[test]
    fn keys_are_dotted() {
        assert_eq!(normalize_key("clients[1]client_id"), "clients[1].client_id");
        assert_eq!(
            normalize_key("clients[1].client_id"),
            "clients[1].client_id"
        );
        assert_eq!(
            normalize_key("clients[0].redirect_uris[2]"),
            "clients[0].redirect_uris[2]"
        );
        assert_eq!(normalize_key("a[0][1]b"), "a[0][1].b");
    }

    #[test]
    fn env_key_follows_config_rs() {
        assert_eq!(env_key("PORTHOR_ISSUER").as_deref(), Some("issuer"));
        assert_eq!(
            env_key("PORTHOR_STORE__REDIS_URL").as_deref(),
            Some("store.redis_url")
        );
        assert_eq!(
            env_key("porthor_tokens__code_lifetime").as_deref(),
            Some("tokens.code_lifetime")
        );
        assert_eq!(env_key("PORTHORISSUER"), None);
        assert_eq!(env_key("OTHER_ISSUER"), None);
    }
}
