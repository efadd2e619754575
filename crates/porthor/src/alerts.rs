//! Alerts: a Slack incoming-webhook notice when something needs an operator
//! (`[alerts]`): a corrupt store record, a store that stopped answering (and
//! answers again), a code replay or refresh-token reuse that revoked a
//! grant, a login lockout.
//!
//! The library crates know nothing of this. They emit well-defined
//! `tracing` events (an `event` field from [`porthor_oidc::events`] on the
//! audit target, [`porthor_store::CORRUPT_RECORD_EVENT`] from the store);
//! [`AlertLayer`], installed beside the log writers, recognises them. The
//! store's health is watched here, by a probe like `/ready`'s: a store that
//! is down emits no events of its own, only failed requests.
//!
//! Nothing here may delay a request. The layer only formats a short text
//! and offers it to a bounded queue (`try_send`: a full queue drops the
//! alert and counts it); one background task posts them one at a time,
//! each with a timeout and no retry, so a slow or dead webhook costs at
//! most a queue's worth of memory. Alerts are rate-limited per kind (at
//! most one per `min_interval`); the next message of a kind, or a summary
//! once the interval has passed, says how many were suppressed.
//!
//! Messages name the event, client, user and address, never a secret: no
//! code, token, password or cookie reaches the events in the first place,
//! and the webhook URL (a secret: whoever has it can post to the channel)
//! is never logged or shown (`Debug` redacts it, and transport errors are
//! logged without it). Values that come from requests (usernames) are
//! escaped for Slack's markup and shortened, so they cannot mention
//! `@channel`, forge links or lines.

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use porthor_oidc::{OidcService, events};
use tokio::sync::mpsc;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::{Filtered, Targets};
use tracing_subscriber::layer::{Context, Layer};

/// How many alerts may wait for the webhook; more are dropped (and
/// counted). Rate limiting keeps the queue short: at most one alert per
/// kind per interval is queued.
const QUEUE_CAPACITY: usize = 64;

/// The longest one post may take, connection included. No retry follows.
const POST_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest a connection to the webhook may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// How often the sender looks for suppressed alerts to summarise.
const SUMMARY_EVERY: Duration = Duration::from_secs(1);

/// The longest value (a username, a client id) quoted in a message.
const MAX_VALUE_CHARS: usize = 160;

/// `[alerts]`, validated.
#[derive(Debug, Clone)]
pub struct AlertsConfig {
    pub webhook: WebhookUrl,
    /// How long the store must fail its probe before the alert.
    pub store_down_after: Duration,
    /// The least time between two alerts of one kind.
    pub min_interval: Duration,
}

/// A Slack incoming-webhook URL: https, or http to a loopback address (a
/// local relay, or a test). A secret: `Debug` shows its host only.
#[derive(Clone)]
pub struct WebhookUrl(url::Url);

impl WebhookUrl {
    /// Checks `text`; the errors never quote it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let url = url::Url::parse(text.trim()).map_err(|error| {
            format!("is not a URL ({error}; the value is a secret, so not shown)")
        })?;
        let loopback = match url.host() {
            Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => return Err("has no host".to_owned()),
        };
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            "http" => {
                return Err(format!(
                    "must be https (http only to a loopback address); the host is {}",
                    url.host_str().unwrap_or_default()
                ));
            }
            other => return Err(format!("has scheme {other:?}; expected https")),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not carry a user or password".to_owned());
        }
        Ok(Self(url))
    }

    /// The host, which may be shown (the secret is in the path).
    pub fn host(&self) -> &str {
        self.0.host_str().unwrap_or_default()
    }
}

impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "WebhookUrl({}://{}/<redacted>)",
            self.0.scheme(),
            self.host()
        )
    }
}

/// What an alert is about: its label in metrics and its rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    CorruptRecord,
    StoreDown,
    StoreRecovered,
    CodeReplay,
    RefreshTokenReuse,
    Lockout,
}

impl Kind {
    const ALL: [Kind; 6] = [
        Kind::CorruptRecord,
        Kind::StoreDown,
        Kind::StoreRecovered,
        Kind::CodeReplay,
        Kind::RefreshTokenReuse,
        Kind::Lockout,
    ];

    /// The `kind` label of the alert metrics.
    fn label(self) -> &'static str {
        match self {
            Kind::CorruptRecord => "corrupt_record",
            Kind::StoreDown => "store_down",
            Kind::StoreRecovered => "store_recovered",
            Kind::CodeReplay => "code_replay",
            Kind::RefreshTokenReuse => "refresh_token_reuse",
            Kind::Lockout => "lockout",
        }
    }

    /// What a message's headline calls it.
    fn title(self) -> &'static str {
        match self {
            Kind::CorruptRecord => "corrupt store record",
            Kind::StoreDown => "store unavailable",
            Kind::StoreRecovered => "store available again",
            Kind::CodeReplay => "authorization code replayed",
            Kind::RefreshTokenReuse => "refresh token reused",
            Kind::Lockout => "login lockout",
        }
    }
}

/// One message for the webhook.
#[derive(Debug)]
struct Alert {
    kind: Kind,
    text: String,
}

/// Per kind: when the last alert was let through, and how many were
/// suppressed since.
#[derive(Debug)]
struct Limiter {
    min_interval: Duration,
    /// One entry per kind that has had an alert.
    kinds: Vec<KindState>,
}

#[derive(Debug)]
struct KindState {
    kind: Kind,
    last_sent: Instant,
    suppressed: u64,
}

impl Limiter {
    fn new(min_interval: Duration) -> Self {
        Self {
            min_interval,
            kinds: Vec::with_capacity(Kind::ALL.len()),
        }
    }

    /// Whether an alert of `kind` may go now: `Some(suppressed before it)`,
    /// or `None` (counted as suppressed).
    fn admit(&mut self, kind: Kind, now: Instant) -> Option<u64> {
        let Some(state) = self.kinds.iter_mut().find(|state| state.kind == kind) else {
            self.kinds.push(KindState {
                kind,
                last_sent: now,
                suppressed: 0,
            });
            return Some(0);
        };
        if now.duration_since(state.last_sent) < self.min_interval {
            state.suppressed += 1;
            return None;
        }
        state.last_sent = now;
        Some(std::mem::take(&mut state.suppressed))
    }

    /// The kinds with suppressed alerts whose interval has passed, with
    /// their counts, each counted as a message sent now.
    fn overdue(&mut self, now: Instant) -> Vec<(Kind, u64)> {
        let mut due = Vec::new();
        for state in &mut self.kinds {
            if state.suppressed > 0 && now.duration_since(state.last_sent) >= self.min_interval {
                due.push((state.kind, std::mem::take(&mut state.suppressed)));
                state.last_sent = now;
            }
        }
        due
    }
}

/// What the layer and the store probe raise alerts through.
#[derive(Debug)]
struct Alerts {
    queue: mpsc::Sender<Alert>,
    limiter: Mutex<Limiter>,
    /// Names the deployment in every message.
    issuer: String,
}

impl Alerts {
    /// Rate-limits and queues an alert; never waits.
    fn raise(&self, kind: Kind, body: &str) {
        let admitted = self
            .limiter
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .admit(kind, Instant::now());
        let Some(suppressed) = admitted else {
            metrics::counter!("porthor_alerts_suppressed_total", "kind" => kind.label())
                .increment(1);
            return;
        };
        let mut text = self.headline(kind);
        text.push('\n');
        text.push_str(body);
        if suppressed > 0 {
            text.push_str(&format!(
                "\n_{suppressed} more {} alert(s) were suppressed before this one (at most one per {})._",
                kind.title(),
                humantime::format_duration(self.min_interval())
            ));
        }
        self.enqueue(Alert { kind, text });
    }

    fn enqueue(&self, alert: Alert) {
        let kind = alert.kind;
        if self.queue.try_send(alert).is_err() {
            metrics::counter!("porthor_alerts_dropped_total", "kind" => kind.label()).increment(1);
        }
    }

    fn headline(&self, kind: Kind) -> String {
        format!(
            ":rotating_light: *Porthor: {}* ({})",
            kind.title(),
            escape(&self.issuer)
        )
    }

    fn min_interval(&self) -> Duration {
        self.limiter
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .min_interval
    }

    /// Messages for the kinds whose suppressed alerts no later alert
    /// reported.
    fn summaries(&self, now: Instant) -> Vec<Alert> {
        let due = self
            .limiter
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .overdue(now);
        let interval = humantime::format_duration(self.min_interval());
        due.into_iter()
            .map(|(kind, suppressed)| Alert {
                kind,
                text: format!(
                    "{}\n_{suppressed} more {} alert(s) were suppressed in the last {interval} (at most one per {interval}); see the audit log._",
                    self.headline(kind),
                    kind.title(),
                ),
            })
            .collect()
    }
}

/// Where [`AlertLayer`] finds the running alerts; empty (and the layer
/// inert) until [`start`] fills it. Process-wide, like the subscriber the
/// layer is part of.
static RUNNING: OnceLock<Arc<Alerts>> = OnceLock::new();

/// The `tracing` layer that turns the events alerts are about into alerts.
/// Installed by `logging::init` whatever the configuration (the
/// configuration is read after logging starts); until [`start`] runs, or
/// without `[alerts]`, it does nothing.
#[derive(Debug)]
pub struct AlertLayer {
    running: &'static OnceLock<Arc<Alerts>>,
}

/// [`AlertLayer`], seeing only the events it may turn into alerts, so that
/// it never makes other callsites (debug events of every crate) live.
pub fn layer<S: Subscriber>() -> Filtered<AlertLayer, Targets, S> {
    AlertLayer { running: &RUNNING }.with_filter(
        Targets::new()
            .with_target(porthor_oidc::AUDIT, Level::WARN)
            .with_target("porthor_store", Level::ERROR),
    )
}

impl<S: Subscriber> Layer<S> for AlertLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let Some(alerts) = self.running.get() else {
            return;
        };
        if event.metadata().fields().field("event").is_none() {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        if let Some((kind, body)) = describe(&fields) {
            alerts.raise(kind, &body);
        }
    }
}

/// The fields of an event that a message may quote.
#[derive(Debug, Default)]
struct Fields {
    event: Option<String>,
    user: Option<String>,
    client: Option<String>,
    ip: Option<String>,
    reason: Option<String>,
    locked: Option<String>,
    record_key: Option<String>,
    error: Option<String>,
    failures: Option<u64>,
    lockout: Option<u64>,
}

impl Fields {
    fn slot(&mut self, field: &Field) -> Option<&mut Option<String>> {
        Some(match field.name() {
            "event" => &mut self.event,
            "user" => &mut self.user,
            "client.id" => &mut self.client,
            "client.ip" => &mut self.ip,
            "reason" => &mut self.reason,
            "locked" => &mut self.locked,
            "record.key" => &mut self.record_key,
            "error" => &mut self.error,
            _ => return None,
        })
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if let Some(slot) = self.slot(field) {
            *slot = Some(value.to_owned());
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "failures" => self.failures = Some(value),
            "lockout" => self.lockout = Some(value),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `%value` fields arrive here; their Debug is the Display.
        if let Some(slot) = self.slot(field) {
            *slot = Some(format!("{value:?}"));
        }
    }
}

/// The alert an event is, if any: its kind and its message's body.
fn describe(fields: &Fields) -> Option<(Kind, String)> {
    let quoted = |value: &Option<String>| match value {
        Some(value) => format!("`{}`", escape(value)),
        None => "an unknown one".to_owned(),
    };
    let event = fields.event.as_deref()?;
    let client = quoted(&fields.client);
    let user = quoted(&fields.user);
    Some(match event {
        events::CODE_REPLAYED => (
            Kind::CodeReplay,
            format!(
                "An authorization code of client {client} for user {user} was presented again after it was redeemed: the tokens issued from it are revoked. Someone other than the client may be seeing its codes (a leaked redirect, a log, a proxy)."
            ),
        ),
        events::REFRESH_TOKEN_REUSED => (
            Kind::RefreshTokenReuse,
            format!(
                "A refresh token of client {client} for user {user} was used again ({}): its family is revoked, and the user must log in again to the client. A copy of the token may be in other hands.",
                escape(fields.reason.as_deref().unwrap_or("reused"))
            ),
        ),
        events::LOGIN_LOCKOUT => {
            let failures = fields
                .failures
                .map_or_else(|| "too many".to_owned(), |n| n.to_string());
            let lockout = fields.lockout.map_or_else(
                || "a while".to_owned(),
                |secs| humantime::format_duration(Duration::from_secs(secs)).to_string(),
            );
            let ip = quoted(&fields.ip);
            let text = if fields.locked.as_deref() == Some("ip") {
                format!(
                    "Logins from address {ip} are refused for {lockout} after {failures} failed attempts (the last for user {user})."
                )
            } else {
                format!(
                    "Logins for user {user} are refused for {lockout} after {failures} failed attempts (the last from address {ip}). Someone may be guessing the password, or locking the user out on purpose."
                )
            };
            (Kind::Lockout, text)
        }
        porthor_store::CORRUPT_RECORD_EVENT => (
            Kind::CorruptRecord,
            format!(
                "A record in the authorization store could not be decrypted or decoded, and was deleted: {} ({}). This means tampering with the store, or replicas with different store keys.",
                quoted(&fields.record_key),
                escape(fields.error.as_deref().unwrap_or("no detail"))
            ),
        ),
        _ => return None,
    })
}

/// `value` made safe to quote in a Slack message: `&`, `<` and `>` escaped
/// as Slack requires (so no `<!channel>` mention or `<url|link>`), control
/// characters and backticks written out, cut to [`MAX_VALUE_CHARS`].
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len().min(MAX_VALUE_CHARS));
    for (index, c) in value.chars().enumerate() {
        if index == MAX_VALUE_CHARS {
            out.push('…');
            break;
        }
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '`' => out.push('\''),
            c if c.is_control() => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    out
}

/// Starts the alerts: the sender task, the store probe (unless the store
/// lives in this process, where it cannot be down), and the layer's
/// access to both. Needs a Tokio runtime; a second call changes nothing.
pub fn start(config: AlertsConfig, service: &OidcService, probe_store: bool) -> Result<()> {
    let client = http_client()?;
    let (queue, receiver) = mpsc::channel(QUEUE_CAPACITY);
    let alerts = Arc::new(Alerts {
        queue,
        limiter: Mutex::new(Limiter::new(config.min_interval)),
        issuer: service.openid_configuration().issuer.clone(),
    });
    if RUNNING.set(Arc::clone(&alerts)).is_err() {
        return Ok(());
    }
    tokio::spawn(send(
        receiver,
        Arc::clone(&alerts),
        client,
        config.webhook.clone(),
    ));
    if probe_store {
        tokio::spawn(watch_store(
            service.clone(),
            alerts,
            config.store_down_after,
        ));
    }
    tracing::info!(
        webhook.host = config.webhook.host(),
        "alerts go to a Slack webhook"
    );
    Ok(())
}

/// An HTTP client for the webhook: rustls on aws-lc-rs (the one crypto
/// library the binary links) with the Mozilla roots compiled in (a
/// container image may have no CA bundle), HTTP/1.1, no redirects (a
/// webhook that redirects is misconfigured, and following it would send
/// the message elsewhere), and the timeouts above.
fn http_client() -> Result<reqwest::Client> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("cannot set up TLS for the alert webhook")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(POST_TIMEOUT)
        .build()
        .context("cannot build the HTTP client for the alert webhook")
}

/// The sender: posts queued alerts one at a time, and the summaries of
/// suppressed ones when they fall due.
async fn send(
    mut queue: mpsc::Receiver<Alert>,
    alerts: Arc<Alerts>,
    client: reqwest::Client,
    webhook: WebhookUrl,
) {
    let mut summaries = tokio::time::interval(SUMMARY_EVERY);
    summaries.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            alert = queue.recv() => match alert {
                Some(alert) => post(&client, &webhook, alert).await,
                None => return,
            },
            _ = summaries.tick() => {
                for alert in alerts.summaries(Instant::now()) {
                    post(&client, &webhook, alert).await;
                }
            }
        }
    }
}

/// Posts one alert as a Slack message; a failure is logged (without the
/// URL) and counted, never retried.
async fn post(client: &reqwest::Client, webhook: &WebhookUrl, alert: Alert) {
    #[derive(serde::Serialize)]
    struct Message<'a> {
        text: &'a str,
    }
    let kind = alert.kind.label();
    let body = match serde_json::to_vec(&Message { text: &alert.text }) {
        Ok(body) => body,
        Err(error) => {
            tracing::error!(alert.kind = kind, %error, "cannot encode an alert");
            return;
        }
    };
    let sent = client
        .post(webhook.0.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await;
    let failure = match sent {
        Ok(response) if response.status().is_success() => None,
        Ok(response) => Some(format!("the webhook answered {}", response.status())),
        Err(error) => Some(error.without_url().to_string()),
    };
    match failure {
        None => {
            metrics::counter!("porthor_alerts_sent_total", "kind" => kind).increment(1);
        }
        Some(error) => {
            metrics::counter!("porthor_alerts_failed_total", "kind" => kind).increment(1);
            tracing::warn!(alert.kind = kind, webhook.host = webhook.host(), %error, "cannot post an alert to the Slack webhook; it is not retried");
        }
    }
}

/// Probes the store as `/ready` does, and raises an alert once it has not
/// answered for `down_after`, and another when it answers again.
async fn watch_store(service: OidcService, alerts: Arc<Alerts>, down_after: Duration) {
    let every = (down_after / 4).clamp(Duration::from_millis(250), Duration::from_secs(5));
    let mut down_since: Option<Instant> = None;
    let mut alerted = false;
    loop {
        let answered = service.ready().await.is_ok();
        let now = Instant::now();
        match (answered, down_since) {
            (true, Some(since)) => {
                if alerted {
                    let down = whole_seconds(now.duration_since(since));
                    tracing::warn!(down = %down, "the authorization store answers again");
                    alerts.raise(
                        Kind::StoreRecovered,
                        &format!("The authorization store answers again, after not answering for about {down}."),
                    );
                }
                down_since = None;
                alerted = false;
            }
            (false, None) => down_since = Some(now),
            (false, Some(since)) if !alerted && now.duration_since(since) >= down_after => {
                let down = whole_seconds(now.duration_since(since));
                tracing::error!(down = %down, "the authorization store has not answered for longer than alerts.store_down_after");
                alerts.raise(
                    Kind::StoreDown,
                    &format!(
                        "The authorization store has not answered for {down}: logins and token requests fail with 503 (temporarily unavailable) until it does."
                    ),
                );
                alerted = true;
            }
            _ => {}
        }
        tokio::time::sleep(every).await;
    }
}

/// `duration` to the second, for people.
fn whole_seconds(duration: Duration) -> humantime::FormattedDuration {
    humantime::format_duration(Duration::from_secs(duration.as_secs().max(1)))
}

#[cfg(test)]
mod tests;
