//! The commands that run on a configuration: `serve`, `delete-all-codes`,
//! `revoke-user` and `check-config`. Each validates everything (files, keys,
//! users, clients) before acting; `serve` also opens the store, which pings
//! Redis, before it binds, so a bad configuration never starts a
//! half-working server.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use porthor_oidc::OidcService;
use porthor_server::{Clock, MetricsConfig, MetricsListen, Server, ServerConfig};
use porthor_store::{BackendConfig, Store};

use crate::cli::{ConfigArgs, InsecureArgs, RevokeUserArgs, ServeArgs};
use crate::config::{self, Config, KeyFiles, Loaded, Settings, resolve};
use crate::{alerts, demo, logging, reload, telemetry};

/// `porthor serve`.
pub async fn serve(args: &ServeArgs, out: &mut impl Write) -> Result<()> {
    let loaded = load_settings(args.config.as_deref())?;
    let config = validate(&loaded, args.insecure)?;
    let metrics = match config.metrics {
        Some(metrics) => Some(MetricsConfig {
            listen: metrics
                .listen
                .map_or(MetricsListen::PublicPort, MetricsListen::Separate),
            render: telemetry::install()?,
        }),
        None => None,
    };
    let listen = ServerConfig {
        listen: config.listen,
        workers: config.workers,
        clock: Clock::System,
        trusted_proxies: config.trusted_proxies.clone(),
        limits: config.request_limits,
        shutdown_timeout: config.shutdown.timeout,
        ui: Arc::clone(&config.ui),
        metrics,
        demo: config.demo_app.clone(),
    };
    let shutdown = config.shutdown;
    let demo = config.demo.clone();
    let alerts = config.alerts.clone();
    // A store in this process cannot stop answering: no probe.
    let probe_store = !matches!(config.store.backend, BackendConfig::Memory);
    let service = open(config).await?;
    if let Some(alerts) = alerts {
        alerts::start(alerts, &service, probe_store)?;
    }
    // Before anything is served, so that a SIGHUP never finds the default
    // action (ending the process) in place.
    let signals = reload::Signals::install()?;
    let server = Server::bind(&listen, service.clone()).context("cannot start the server")?;
    let handle = server.handle();
    reload::spawn(
        signals,
        reload::Reloader {
            file: args.config.clone(),
            insecure: args.insecure,
            started: loaded.settings,
            server: handle.clone(),
        },
    );
    // Once bound: a `porthor reload` that reads it finds a process ready
    // for the signal. Removed when `serve` returns.
    let _pid_file = args
        .pid_file
        .as_deref()
        .map(reload::PidFile::create)
        .transpose()?;
    let metadata = service.openid_configuration();
    if let Some(credentials) = &demo {
        demo::print_banner(
            out,
            credentials,
            &metadata.issuer,
            &demo::landing_url(&metadata.issuer),
        )?;
    }
    tracing::info!(
        addr = %server.local_addr(),
        issuer = %metadata.issuer,
        demo = demo.is_some(),
        metrics = ?server.metrics_addr(),
        "porthor is listening"
    );
    let running = server.run();
    tokio::pin!(running);
    let signal = tokio::select! {
        result = &mut running => return result.context("the server failed"),
        signal = stop_signal() => signal?,
    };
    // Drain: /ready answers 503 from now on, so load balancers that probe
    // it send new requests elsewhere while this process still serves them.
    handle.drain();
    if signal == StopSignal::Terminate && !shutdown.drain_delay.is_zero() {
        tracing::info!(delay = ?shutdown.drain_delay, "SIGTERM: draining before the stop");
        tokio::select! {
            result = &mut running => return result.context("the server failed"),
            () = tokio::time::sleep(shutdown.drain_delay) => {}
            // A second signal cuts the drain short.
            signal = stop_signal() => { signal?; }
        }
    }
    tracing::info!(timeout = ?shutdown.timeout, "stopping: no new connections, finishing in-flight requests");
    // The server future carries out the stop, so it is polled alongside.
    let ((), result) = tokio::join!(handle.stop(), running);
    result.context("the server failed")?;
    tracing::info!("porthor stopped");
    Ok(())
}

/// The signals that stop `serve`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StopSignal {
    /// SIGTERM: an orchestrator or init system stopping the service; drain
    /// first.
    Terminate,
    /// SIGINT: an operator's Ctrl-C; stop at once (still finishing
    /// in-flight requests).
    Interrupt,
}

/// Waits for SIGTERM or SIGINT.
async fn stop_signal() -> Result<StopSignal> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    Ok(tokio::select! {
        _ = terminate.recv() => StopSignal::Terminate,
        _ = interrupt.recv() => StopSignal::Interrupt,
    })
}

/// `porthor delete-all-codes`.
pub async fn delete_all_codes(args: &ConfigArgs, out: &mut impl Write) -> Result<()> {
    let config = load(Some(&args.config), args.insecure)?;
    let service = open(config).await?;
    let deleted = service
        .delete_all_codes()
        .await
        .context("cannot delete the authorization codes")?;
    writeln!(out, "deleted {deleted} authorization codes")?;
    Ok(())
}

/// `porthor revoke-user`: an administrator's action, logged as one by the
/// service.
pub async fn revoke_user(args: &RevokeUserArgs, out: &mut impl Write) -> Result<()> {
    let config = load(Some(&args.config.config), args.config.insecure)?;
    if matches!(config.store.backend, BackendConfig::Memory) {
        bail!(
            "revoke-user needs store.backend = \"redis\": a memory store lives inside the serving process, out of this command's reach (restarting it ends every session)"
        );
    }
    let username = args.username.as_str();
    if config
        .oidc
        .users
        .iter()
        .any(|user| user.username == username)
    {
        tracing::warn!(
            user = username,
            "the user can still log in: change their password or remove them from [[users]]"
        );
    }
    let service = open(config).await?;
    let ended = service
        .revoke_user(username)
        .await
        .context("cannot end the user's sessions")?;
    let plural = if ended == 1 { "" } else { "s" };
    writeln!(
        out,
        "ended {ended} session{plural} of {username:?}, and with them every authorization code, access token and refresh token issued under them"
    )?;
    Ok(())
}

/// `porthor check-config`.
pub fn check_config(args: &ConfigArgs, out: &mut impl Write) -> Result<()> {
    let loaded = load_settings(Some(&args.config))?;
    let config = validate(&loaded, args.insecure)?;
    let effective =
        config::to_toml(&redacted(&loaded)).context("cannot show the configuration as TOML")?;
    writeln!(
        out,
        "# Effective configuration from {} and the environment; secrets redacted.",
        args.config.display()
    )?;
    writeln!(
        out,
        "# Signing key: {}, kid {}.",
        config.signer.algorithm(),
        config.signer.kid()
    )?;
    if let Some(demo) = &config.demo_app {
        writeln!(
            out,
            "# The demo relying party is ON at {}, as client {:?} (demo.enabled = true).",
            config.oidc.issuer.endpoint("/demo/"),
            demo.client_id
        )?;
    }
    writeln!(out, "{}", effective.trim_end())?;
    Ok(())
}

/// `porthor config-schema`: the configuration file's JSON Schema.
pub fn config_schema(out: &mut impl Write) -> Result<()> {
    let schema = serde_json::to_string_pretty(&config::json_schema())
        .context("cannot write the schema as JSON")?;
    writeln!(out, "{schema}")?;
    Ok(())
}

/// Loads and validates the configuration, with logging set up as it says.
fn load(file: Option<&Path>, insecure: InsecureArgs) -> Result<Config> {
    let loaded = load_settings(file)?;
    validate(&loaded, insecure)
}

/// The settings of `file` (if any) under the process's `PORTHOR_*`
/// variables, unchecked and without setting anything up.
pub(crate) fn read_settings(file: Option<&Path>) -> Result<Loaded> {
    let env = std::env::vars_os()
        .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)));
    config::load(file, env).with_context(|| match file {
        Some(file) => format!("cannot load {}", file.display()),
        None => "cannot load the configuration from the environment".to_owned(),
    })
}

fn load_settings(file: Option<&Path>) -> Result<Loaded> {
    let loaded = read_settings(file)?;
    let audit_file = loaded
        .settings
        .log
        .audit_file
        .as_deref()
        .map(|path| resolve(loaded.base_dir(), path));
    logging::init(loaded.settings.log.format, audit_file.as_deref()).with_context(|| {
        format!(
            "log.audit_file: cannot open {}",
            audit_file.as_deref().unwrap_or(Path::new("")).display()
        )
    })?;
    for name in &loaded.ignored_env {
        tracing::warn!(
            variable = %name,
            "ignoring an environment variable that names no configuration key"
        );
    }
    Ok(loaded)
}

/// Validates the configuration and logs its warnings.
fn validate(loaded: &Loaded, insecure: InsecureArgs) -> Result<Config> {
    let key_files = if insecure.allow_insecure {
        tracing::warn!("--allow-insecure: key files readable by others are accepted");
        KeyFiles::AnyMode
    } else {
        KeyFiles::OwnerOnly
    };
    let config = config::validate(loaded, key_files).with_context(|| match &loaded.file {
        Some(file) => format!("{} is not valid", file.display()),
        None => "the configuration from the environment is not valid".to_owned(),
    })?;
    for warning in &config.warnings {
        tracing::warn!(%warning, "configuration warning");
    }
    Ok(config)
}

/// Opens the store and builds the service on it.
async fn open(config: Config) -> Result<OidcService> {
    let store = Store::open(config.store)
        .await
        .context("cannot open the authorization store")?;
    tracing::debug!(store = ?store, "store opened");
    OidcService::new(config.oidc, Arc::new(store), config.signer)
        .context("cannot build the OpenID Connect service")
}

/// The settings as loaded, with defaults filled in, key file paths resolved
/// and every secret replaced by `<redacted>`.
fn redacted(loaded: &Loaded) -> Settings {
    const REDACTED: &str = "<redacted>";
    let base_dir = loaded.base_dir();
    let mut settings = loaded.settings.clone();
    if let Some(store) = &mut settings.store {
        let sentinel_urls = store.sentinel.iter_mut().flat_map(|s| s.urls.iter_mut());
        for url in store
            .redis_url
            .iter_mut()
            .chain(store.cluster_urls.iter_mut())
            .chain(sentinel_urls)
        {
            *url = porthor_store::redact_redis_url(url);
        }
        if let Some(path) = &mut store.password_file {
            *path = resolve(base_dir, path);
        }
        if let Some(path) = &mut store.encryption_key_file {
            *path = resolve(base_dir, path);
        }
    }
    if settings.alerts.slack_webhook_url.is_some() {
        settings.alerts.slack_webhook_url = Some(REDACTED.to_owned());
    }
    if let Some(path) = &mut settings.alerts.slack_webhook_url_file {
        *path = resolve(base_dir, path);
    }
    if let Some(path) = settings
        .signing
        .as_mut()
        .and_then(|signing| signing.key_file.as_mut())
    {
        *path = resolve(base_dir, path);
    }
    for hash in settings
        .clients
        .iter_mut()
        .filter_map(|client| client.client_secret_hash.as_mut())
    {
        REDACTED.clone_into(hash);
    }
    for user in &mut settings.users {
        REDACTED.clone_into(&mut user.password_hash);
    }
    settings
}
