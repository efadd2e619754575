//! The alerts without a network: which events become which messages, the
//! escaping, the rate limit, the bounded queue and the webhook URL rules.
//! `tests/it/alerts.rs` runs them against a real webhook.

use tracing_subscriber::layer::SubscriberExt as _;

use super::*;

/// Alerts with a queue of `capacity`, the layer that raises them, and the
/// queue's far end.
fn harness(
    capacity: usize,
) -> (
    Arc<Alerts>,
    &'static OnceLock<Arc<Alerts>>,
    mpsc::Receiver<Alert>,
) {
    let (queue, receiver) = mpsc::channel(capacity);
    let alerts = Arc::new(Alerts {
        queue,
        limiter: Mutex::new(Limiter::new(Duration::from_secs(60))),
        issuer: "https://auth.example.com".to_owned(),
    });
    let running: &'static OnceLock<Arc<Alerts>> = Box::leak(Box::new(OnceLock::new()));
    running.set(Arc::clone(&alerts)).unwrap();
    (alerts, running, receiver)
}

/// The alerts `emit` raises through the layer (filtered as installed).
fn alerts_of(emit: impl FnOnce()) -> Vec<Alert> {
    let (_alerts, running, mut receiver) = harness(16);
    let layer = AlertLayer { running }.with_filter(
        Targets::new()
            .with_target(porthor_oidc::AUDIT, Level::WARN)
            .with_target("porthor_store", Level::ERROR),
    );
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), emit);
    let mut out = Vec::new();
    while let Ok(alert) = receiver.try_recv() {
        out.push(alert);
    }
    out
}

fn one(emit: impl FnOnce()) -> Alert {
    let mut alerts = alerts_of(emit);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    alerts.remove(0)
}

#[test]
fn a_code_replay_names_client_and_user() {
    let alert = one(|| {
        tracing::warn!(target: porthor_oidc::AUDIT, event = events::CODE_REPLAYED, outcome = "revoked", client.id = %"app", user = "alice", "authorization code replayed");
    });
    assert_eq!(alert.kind, Kind::CodeReplay);
    assert!(
        alert.text.starts_with(
            ":rotating_light: *Porthor: authorization code replayed* (https://auth.example.com)\n"
        ),
        "{}",
        alert.text
    );
    assert!(
        alert.text.contains("client `app` for user `alice`"),
        "{}",
        alert.text
    );
}

#[test]
fn refresh_token_reuse_lockouts_and_corrupt_records_are_alerts() {
    let alert = one(|| {
        tracing::warn!(target: porthor_oidc::AUDIT, event = events::REFRESH_TOKEN_REUSED, client.id = %"app", user = "bob", reason = "refresh token reused", "refresh token family revoked");
    });
    assert_eq!(alert.kind, Kind::RefreshTokenReuse);
    assert!(
        alert
            .text
            .contains("client `app` for user `bob` was used again (refresh token reused)"),
        "{}",
        alert.text
    );

    let alert = one(|| {
        tracing::warn!(target: porthor_oidc::AUDIT, event = events::LOGIN_LOCKOUT, user = "carol", client.ip = "192.0.2.1", locked = "user", failures = 5_u64, lockout = 900_u64, "login lockout");
    });
    assert_eq!(alert.kind, Kind::Lockout);
    assert!(alert.text.contains("Logins for user `carol` are refused for 15m after 5 failed attempts (the last from address `192.0.2.1`)"), "{}", alert.text);

    let alert = one(|| {
        tracing::warn!(target: porthor_oidc::AUDIT, event = events::LOGIN_LOCKOUT, user = "carol", client.ip = "192.0.2.1", locked = "ip", failures = 20_u64, lockout = 900_u64, "login lockout");
    });
    assert!(alert.text.contains("Logins from address `192.0.2.1` are refused for 15m after 20 failed attempts (the last for user `carol`)"), "{}", alert.text);

    let alert = one(|| {
        tracing::error!(target: "porthor_store::keyspace", event = porthor_store::CORRUPT_RECORD_EVENT, record.key = "p:v1:session:abc", error = %"authentication tag mismatch", "corrupt record");
    });
    assert_eq!(alert.kind, Kind::CorruptRecord);
    assert!(
        alert
            .text
            .contains("`p:v1:session:abc` (authentication tag mismatch)"),
        "{}",
        alert.text
    );
}

#[test]
fn other_events_are_not_alerts() {
    let alerts = alerts_of(|| {
        // A revocation by the client is routine.
        tracing::warn!(target: porthor_oidc::AUDIT, event = events::REFRESH_FAMILY_REVOKED, client.id = %"app", user = "bob", "refresh token family revoked");
        // No event name, however loud.
        tracing::error!(target: porthor_oidc::AUDIT, user = "bob", "something");
        // Below the layer's level, or another target.
        tracing::info!(target: porthor_oidc::AUDIT, event = events::CODE_REPLAYED, "quiet");
        tracing::error!(target: "porthor_server", event = events::CODE_REPLAYED, "elsewhere");
        tracing::warn!(target: "porthor_store::keyspace", event = porthor_store::CORRUPT_RECORD_EVENT, "not an error");
    });
    assert!(alerts.is_empty(), "{alerts:?}");
}

#[test]
fn values_from_requests_cannot_mention_link_or_break_lines() {
    assert_eq!(
        escape("<!channel> & <https://evil|click>"),
        "&lt;!channel&gt; &amp; &lt;https://evil|click&gt;"
    );
    assert_eq!(escape("a\nb\u{7}`c`"), "a\\nb\\u{7}'c'");
    let long = "x".repeat(300);
    assert_eq!(escape(&long), format!("{}…", "x".repeat(MAX_VALUE_CHARS)));
    let alert = one(|| {
        tracing::warn!(target: porthor_oidc::AUDIT, event = events::LOGIN_LOCKOUT, user = "<!channel>\n*forged*", client.ip = "192.0.2.1", locked = "user", failures = 5_u64, lockout = 60_u64, "login lockout");
    });
    assert!(
        alert.text.contains("user `&lt;!channel&gt;\\n*forged*`"),
        "{}",
        alert.text
    );
    assert_eq!(alert.text.lines().count(), 2, "{}", alert.text);
}

#[test]
fn the_rate_limit_is_per_kind_and_counts_what_it_suppressed() {
    let minute = Duration::from_secs(60);
    let mut limiter = Limiter::new(minute);
    let start = Instant::now();
    assert_eq!(limiter.admit(Kind::CodeReplay, start), Some(0));
    assert_eq!(limiter.admit(Kind::Lockout, start), Some(0));
    assert_eq!(limiter.admit(Kind::CodeReplay, start + minute / 2), None);
    assert_eq!(limiter.admit(Kind::CodeReplay, start + minute / 2), None);
    assert_eq!(limiter.overdue(start + minute / 2), vec![]);
    assert_eq!(limiter.admit(Kind::CodeReplay, start + minute), Some(2));
    assert_eq!(limiter.admit(Kind::CodeReplay, start + minute), None);
    // Nothing more came: a summary reports it once the interval passed,
    // and counts as the kind's message.
    assert_eq!(limiter.overdue(start + minute * 3 / 2), vec![]);
    assert_eq!(
        limiter.overdue(start + minute * 2),
        vec![(Kind::CodeReplay, 1)]
    );
    assert_eq!(limiter.overdue(start + minute * 4), vec![]);
    assert_eq!(limiter.admit(Kind::CodeReplay, start + minute * 2), None);
}

#[test]
fn a_suppressed_count_goes_into_the_next_message() {
    let (alerts, _, mut receiver) = harness(16);
    alerts.raise(Kind::CodeReplay, "first");
    alerts.raise(Kind::CodeReplay, "second");
    alerts.raise(Kind::CodeReplay, "third");
    assert!(!receiver.try_recv().unwrap().text.contains("suppressed"));
    assert!(receiver.try_recv().is_err());
    let summaries = alerts.summaries(Instant::now() + Duration::from_secs(60));
    assert_eq!(summaries.len(), 1);
    assert!(
        summaries[0].text.contains(
            "_2 more authorization code replayed alert(s) were suppressed in the last 1m"
        ),
        "{}",
        summaries[0].text
    );
}

#[test]
fn a_full_queue_drops_instead_of_waiting() {
    let (alerts, _, mut receiver) = harness(1);
    alerts.raise(Kind::CodeReplay, "queued");
    alerts.raise(Kind::Lockout, "dropped");
    assert_eq!(receiver.try_recv().unwrap().kind, Kind::CodeReplay);
    assert!(receiver.try_recv().is_err());
}

#[test]
fn webhook_urls_are_https_or_loopback_and_never_shown() {
    let secret = "T000/B000/XXXXXXXXXXXXXXXX";
    for ok in [
        format!("https://hooks.slack.com/services/{secret}"),
        format!("http://127.0.0.1:9999/{secret}"),
        format!("http://localhost/{secret}"),
        format!("http://[::1]:8080/{secret}"),
    ] {
        let url = WebhookUrl::parse(&ok).unwrap_or_else(|error| panic!("{ok}: {error}"));
        assert!(!format!("{url:?}").contains(secret), "{url:?}");
    }
    for (bad, expected) in [
        (
            format!("http://hooks.slack.com/services/{secret}"),
            "must be https (http only to a loopback address); the host is hooks.slack.com",
        ),
        (
            format!("ftp://hooks.slack.com/{secret}"),
            "has scheme \"ftp\"; expected https",
        ),
        (
            format!("https://user:pw@hooks.slack.com/{secret}"),
            "must not carry a user or password",
        ),
        (
            format!("hooks.slack.com/{secret}"),
            "is not a URL (relative URL without a base; the value is a secret, so not shown)",
        ),
    ] {
        assert_eq!(WebhookUrl::parse(&bad).unwrap_err(), expected);
    }
    let url = WebhookUrl::parse(&format!("https://hooks.slack.com/services/{secret}")).unwrap();
    assert_eq!(
        format!("{url:?}"),
        "WebhookUrl(https://hooks.slack.com/<redacted>)"
    );
}

#[test]
fn the_webhook_client_builds_on_aws_lc_rs() {
    http_client().unwrap();
}
