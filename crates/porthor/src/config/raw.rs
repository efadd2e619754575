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
use serde::{Deserialize, Serialize};

use super::problem::{ConfigErrors, Problem};

/// The prefix of every configuration variable, without its separator.
const ENV_PREFIX: &str = "PORTHOR";
/// Between the prefix and the first key segment.
const ENV_PREFIX_SEPARATOR: &str = "_";
/// Between nesting levels.
const ENV_SEPARATOR: &str = "__";

/// Every key a variable may set. Checked against the structs by a test.
const ENV_KEYS: &[&str] = &[
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
    "alerts.slack_webhook_url",
    "alerts.slack_webhook_url_file",
    "alerts.store_down_after",
    "alerts.min_interval",
];

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Required with a file; `http://{server.listen}` without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(default)]
    pub server: ServerSettings,
    /// Required with a file; an in-memory store without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<StoreSettings>,
    /// Required with a file; a fresh RS256 key without one.
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
    pub alerts: AlertsSettings,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clients: Vec<ClientSettings>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<UserSettings>,
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    pub listen: String,
    /// One per core when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workers: Option<usize>,
    /// CIDRs (or addresses) of the proxies whose `X-Forwarded-For` names
    /// the client. File only, like every list.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trusted_proxies: Vec<String>,
    /// Larger request headers answer 431.
    pub max_header_bytes: usize,
    /// Larger form bodies answer 413.
    pub max_form_bytes: usize,
    /// How long a stop waits for in-flight requests.
    pub shutdown_timeout: String,
    /// How long SIGTERM keeps serving, with `/ready` answering 503, before
    /// the stop begins.
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

/// `[store]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<BackendKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_url: Option<String>,
    pub pool_size: usize,
    pub key_prefix: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_key_file: Option<PathBuf>,
}

/// What an absent key in `[store]` takes.
impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            backend: None,
            redis_url: None,
            pool_size: 1,
            key_prefix: "porthor".to_owned(),
            encryption_key_file: None,
        }
    }
}

/// `store.backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    Redis,
    Memory,
}

/// `[signing]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SigningSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// Keys used before a rotation: published in the JWKS so that tokens
    /// they signed keep verifying, never used to sign.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous_key_files: Vec<PathBuf>,
}

/// `[tokens]`: humantime durations such as `"60s"`, `"1h"`, `"1h 30m"`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenSettings {
    pub code_lifetime: String,
    pub id_token_lifetime: String,
    pub access_token_lifetime: String,
    pub session_lifetime: String,
    pub refresh_token_lifetime: String,
    pub refresh_token_idle_timeout: String,
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

/// `[limits]`: bounds on what one user may hold.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSettings {
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

/// `[throttle]`: limits on failed logins and client authentications.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThrottleSettings {
    pub enabled: bool,
    pub window: String,
    pub lockout: String,
    pub user_failures: u32,
    pub ip_failures: u32,
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

/// `[login]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginSettings {
    /// How long a login waits for a password-check slot.
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

/// `[ui]`: the pages people see. Paths are relative to the configuration
/// file's directory.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct UiSettings {
    /// Named in every page's header and title.
    pub product_name: String,
    /// An image shown beside the product name, served by Porthor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo_file: Option<PathBuf>,
    /// Replaces the built-in stylesheet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub css_file: Option<PathBuf>,
    /// Templates (`login.html`, ...) and `messages.<lang>.toml` here replace
    /// the built-in ones.
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

/// `[metrics]`. Off unless enabled; once enabled, served on the public
/// port only when no `listen` is given (and the validation warns then), so
/// metrics never appear on the public port without the operator asking.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSettings {
    pub enabled: bool,
    /// A separate listener for `/metrics`, such as "127.0.0.1:9090".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// Label the protocol's counters with client ids.
    pub per_client: bool,
}

/// `[alerts]`: Slack notices of what needs an operator: a corrupt store
/// record, a store that stopped answering (and answers again), a code
/// replay or refresh-token reuse that revoked a grant, a login lockout.
/// Off unless a webhook is given. Messages name the event, client, user
/// and address, never a secret.
#[derive(Debug, Clone, Deserialize, Serialize)]
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

/// `[log]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    #[serde(default)]
    pub format: LogFormat,
    /// Where the audit events also go, as JSON lines (relative to the
    /// file's directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_file: Option<PathBuf>,
}

/// `log.format`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// One `[[clients]]` entry.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSettings {
    pub client_id: String,
    /// Required unless `token_endpoint_auth_method = "none"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret_hash: Option<String>,
    /// `client_secret_basic`, `client_secret_post` or `none` (a public
    /// client); unset accepts either secret method.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<String>,
    pub redirect_uris: Vec<String>,
    /// Refuse authorization requests without a PKCE challenge.
    #[serde(default)]
    pub require_pkce: bool,
    /// Where RP-initiated logout may send the user afterwards.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_logout_redirect_uris: Vec<String>,
    /// Issue a refresh token on every code redemption, not only when the
    /// request asked for `offline_access`.
    #[serde(default)]
    pub always_issue_refresh_token: bool,
    /// What the consent page calls the client; its id when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `implicit` or `required`; absent is `porthor_models::Consent`'s
    /// default, `implicit`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consent: Option<String>,
    /// The scopes the client may be granted; absent, every scope Porthor
    /// knows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_scopes: Option<Vec<String>>,
    /// Whether `offline_access` may be granted; absent, true for a
    /// confidential client and false for a public one (decided once the
    /// authentication method says which the client is).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_offline_access: Option<bool>,
    /// Whether the client may introspect other clients' tokens.
    #[serde(default)]
    pub introspect_any: bool,
}

/// One `[[users]]` entry.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UserSettings {
    pub username: String,
    pub password_hash: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Released under the `groups` scope.
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
                pool_size: 1,
                key_prefix: "p".into(),
                encryption_key_file: Some("k".into()),
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
