//! Changing a running `serve` without a restart: SIGHUP reloads the
//! configuration file, `porthor reload` sends that signal, and the pid file
//! lets it find the process.
//!
//! A reload reads the file and the `PORTHOR_*` variables again and validates
//! them with the function `serve` starts with ([`config::validate`]), so a
//! file a reload accepts is one a restart would accept, and everything that
//! function registers (every `[[clients]]` and `[[users]]` entry, and any
//! it adds of its own) is registered again. It then applies what can change
//! under running requests: the clients, the users, the signing keys and the
//! throttle limits ([`porthor_oidc::OidcService::reload`]); the rest (listen
//! address, store, issuer, lifetimes, ...) takes a restart, and a changed
//! key among them is logged as ignored until then. An invalid file changes
//! nothing: every problem is logged, as `check-config` reports them.
//!
//! It must not know what a reload means to requests (the service and the
//! server swap their state), only which settings it hands over.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use porthor_oidc::{AUDIT, ReloadChanges};
use porthor_server::ServerHandle;
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::cli::{InsecureArgs, ReloadArgs};
use crate::config::{self, ConfigErrors, KeyFiles, Settings};
use crate::{commands, logging};

/// The top-level keys a reload applies, whole; every other key's change
/// waits for a restart.
const RELOADED_KEYS: &[&str] = &["clients", "users", "throttle"];
/// The keys of `[signing]` a reload applies (all of them, today: listed so
/// that a key added there later is reported, not silently applied).
const RELOADED_SIGNING_KEYS: &[&str] = &["key_file", "previous_key_files"];

/// The signals `serve` handles besides the stop signals: registered before
/// the server binds, so that none finds its default action (ending the
/// process) in place; one that arrives before the server is up waits.
pub struct Signals {
    hangup: Signal,
    user1: Signal,
}

impl Signals {
    pub fn install() -> Result<Self> {
        Ok(Self {
            hangup: signal(SignalKind::hangup()).context("cannot handle SIGHUP")?,
            user1: signal(SignalKind::user_defined1()).context("cannot handle SIGUSR1")?,
        })
    }
}

/// What a reload needs: where the configuration came from, and what the
/// process started with.
pub struct Reloader {
    /// `None` on the embedded defaults, which a reload leaves alone (it
    /// would make a new demo user's password).
    pub file: Option<PathBuf>,
    pub insecure: InsecureArgs,
    /// The settings `serve` started with: a restart-only key is reported
    /// while the file's differs from them.
    pub started: Settings,
    pub server: ServerHandle,
}

/// Handles SIGHUP (reopen the audit file, then reload) and SIGUSR1 (reopen
/// the audit file) for as long as the runtime runs, one signal at a time.
pub fn spawn(mut signals: Signals, reloader: Reloader) {
    tokio::spawn(async move {
        loop {
            let reload = tokio::select! {
                Some(()) = signals.hangup.recv() => true,
                Some(()) = signals.user1.recv() => false,
                else => return,
            };
            logging::reopen_audit_file();
            if reload {
                reloader.reload().await;
            }
        }
    });
}

impl Reloader {
    /// Reads, validates and applies the configuration file; logs and counts
    /// the outcome, and never fails: on any problem the running
    /// configuration stays.
    pub async fn reload(&self) {
        let Some(file) = &self.file else {
            tracing::warn!(
                "SIGHUP: running on the embedded defaults, there is no configuration file to reload"
            );
            return;
        };
        let (settings, config) = match self.read(file) {
            Ok(read) => read,
            Err(problems) => {
                for problem in &problems {
                    tracing::error!(%problem, "configuration problem");
                }
                refused(file, problems.len(), "the configuration is not valid");
                return;
            }
        };
        for warning in &config.warnings {
            tracing::warn!(%warning, "configuration warning");
        }
        let ignored = restart_only_changes(&self.started, &settings);
        for key in &ignored {
            tracing::warn!(
                key = %key,
                "changed in the configuration file; ignored until porthor restarts"
            );
        }
        let (service, changes) = match self.server.service().reload(config.oidc, config.signer) {
            Ok(reloaded) => reloaded,
            Err(error) => {
                tracing::error!(problem = %error, "configuration problem");
                refused(file, 1, "the service refused the configuration");
                return;
            }
        };
        self.server.replace_service(service.clone());
        applied(file, &changes, &ignored);
        // Their sessions are already refused (every use looks the user up);
        // ending them also keeps them from coming back if the user does.
        for username in &changes.users_removed {
            if let Err(error) = service.revoke_user(username).await {
                tracing::warn!(user = %username, %error, "cannot end the sessions of a removed user; they stay refused while the user is not configured");
            }
        }
    }

    /// The file's settings and their validation, or every problem.
    fn read(&self, file: &Path) -> Result<(Settings, config::Config), Vec<String>> {
        let problems = |errors: &ConfigErrors| {
            errors
                .problems()
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
        };
        let loaded = commands::read_settings(Some(file)).map_err(|error| {
            match error.downcast_ref::<ConfigErrors>() {
                Some(errors) => problems(errors),
                None => vec![format!("{error:#}")],
            }
        })?;
        let key_files = if self.insecure.allow_insecure {
            KeyFiles::AnyMode
        } else {
            KeyFiles::OwnerOnly
        };
        let config = config::validate(&loaded, key_files).map_err(|errors| problems(&errors))?;
        Ok((loaded.settings, config))
    }
}

/// `porthor_config_reloads_total{outcome}`: `applied` or `refused`.
fn count(outcome: &'static str) {
    metrics::counter!("porthor_config_reloads_total", "outcome" => outcome).increment(1);
}

fn refused(file: &Path, problems: usize, reason: &str) {
    tracing::error!(
        target: AUDIT,
        file = %file.display(),
        outcome = "refused",
        problems,
        reason,
        "configuration reload refused; the running configuration stays"
    );
    count("refused");
}

fn applied(file: &Path, changes: &ReloadChanges, ignored: &[String]) {
    tracing::info!(
        target: AUDIT,
        file = %file.display(),
        outcome = "applied",
        clients.added = changes.clients_added.len(),
        clients.removed = changes.clients_removed.len(),
        users.added = changes.users_added.len(),
        users.removed = changes.users_removed.len(),
        signing.kid = changes.signing_kid.as_deref().unwrap_or(""),
        signing.published = %changes.published_kids.join(" "),
        throttle.changed = changes.throttle_changed,
        ignored_until_restart = %ignored.join(" "),
        "configuration reloaded"
    );
    count("applied");
}

/// The dotted keys whose values differ between `running` and `file`,
/// except those a reload applies: `issuer`, `server.listen`,
/// `store.redis_url`, and so on.
fn restart_only_changes(running: &Settings, file: &Settings) -> Vec<String> {
    let table = |settings: &Settings| match toml::Value::try_from(settings) {
        Ok(toml::Value::Table(table)) => table,
        _ => toml::Table::new(),
    };
    let (mut running, mut file) = (table(running), table(file));
    for settings in [&mut running, &mut file] {
        for key in RELOADED_KEYS {
            settings.remove(*key);
        }
        if let Some(toml::Value::Table(signing)) = settings.get_mut("signing") {
            for key in RELOADED_SIGNING_KEYS {
                signing.remove(*key);
            }
        }
    }
    let mut changed = Vec::new();
    differences("", &running, &file, &mut changed);
    changed
}

/// Appends to `out` the path of every leaf that differs between `a` and
/// `b` (a table present in one only counts as one difference).
fn differences(prefix: &str, a: &toml::Table, b: &toml::Table, out: &mut Vec<String>) {
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match (a.get(key), b.get(key)) {
            (Some(toml::Value::Table(a)), Some(toml::Value::Table(b))) => {
                differences(&path, a, b, out);
            }
            (a, b) if a != b => out.push(path),
            _ => {}
        }
    }
}

/// Writes the process id to `path` for `porthor reload --pid-file`, and
/// removes the file when dropped (a clean stop).
pub struct PidFile {
    path: PathBuf,
}

impl PidFile {
    pub fn create(path: &Path) -> Result<Self> {
        fs::write(path, format!("{}\n", std::process::id()))
            .with_context(|| format!("cannot write the pid file {}", path.display()))?;
        Ok(Self {
            path: path.to_owned(),
        })
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        // Gone already, or not ours to remove any more: nothing to do.
        let _ = fs::remove_file(&self.path);
    }
}

/// `porthor reload`: SIGHUP to the `serve` named by the pid file (or the
/// process id).
pub fn send(args: &ReloadArgs, out: &mut impl Write) -> Result<()> {
    let (pid, source) = match (&args.pid_file, args.pid) {
        (Some(file), _) => {
            let shown = file.display().to_string();
            let text = fs::read_to_string(file)
                .with_context(|| format!("cannot read the pid file {shown}"))?;
            let pid = text
                .trim()
                .parse::<i32>()
                .with_context(|| format!("{shown} does not hold a process id"))?;
            (pid, shown)
        }
        (None, Some(pid)) => (pid, "--pid".to_owned()),
        // clap requires one of them.
        (None, None) => bail!("give --pid-file or --pid"),
    };
    // A pid file left by a crash may name a process that reused the id:
    // signal only a process running this same program.
    let comm = |pid: &str| fs::read_to_string(format!("/proc/{pid}/comm"));
    match (comm("self"), comm(&pid.to_string())) {
        (Ok(own), Ok(theirs)) if own != theirs => bail!(
            "{source} names process {pid}, which is {:?}, not porthor (a stale pid file?)",
            theirs.trim()
        ),
        (Ok(_), Err(_)) => bail!("{source} names process {pid}, which is not running"),
        _ => {}
    }
    let target = rustix::process::Pid::from_raw(pid)
        .filter(|_| pid > 0)
        .with_context(|| format!("{source}: {pid} is not a process id"))?;
    rustix::process::kill_process(target, rustix::process::Signal::HUP)
        .with_context(|| format!("cannot signal process {pid}"))?;
    writeln!(
        out,
        "sent SIGHUP to porthor (pid {pid}): it reloads its configuration file; the outcome is in its log (\"configuration reloaded\" or \"configuration reload refused\")"
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(toml: &str) -> Settings {
        toml::from_str(toml).unwrap()
    }

    #[test]
    fn only_restart_only_keys_are_reported() {
        let running = settings(
            r#"
issuer = "https://a.example"
[server]
listen = "127.0.0.1:8080"
[signing]
key_file = "a.pem"
[throttle]
user_failures = 5
"#,
        );
        let file = settings(
            r#"
issuer = "https://b.example"
[server]
listen = "127.0.0.1:9090"
[signing]
key_file = "b.pem"
previous_key_files = ["a.pem"]
[throttle]
user_failures = 3
[tokens]
code_lifetime = "30s"
[[users]]
username = "new"
password_hash = "x"
"#,
        );
        assert_eq!(
            restart_only_changes(&running, &file),
            ["issuer", "server.listen", "tokens.code_lifetime"]
        );
        assert!(restart_only_changes(&running, &running).is_empty());
    }
}
