//! Diagnostics: tracing to stderr, filtered by `RUST_LOG` (default `info`),
//! as text or JSON lines. Stdout stays for command output. With `[log]
//! audit_file`, the audit events (target `porthor::audit`: logins, codes,
//! tokens, revocations, logouts, admin actions) also go to that file as
//! JSON lines, whatever `RUST_LOG` says, and the file is reopened on SIGHUP
//! or SIGUSR1 ([`reopen_audit_file`]) so that logrotate can move it away.
//!
//! Log lines carry what requests sent (client ids, usernames, redirect URIs,
//! reasons quoting them), so no value may break a line: the text format
//! escapes every control character in every field ([`EscapedFields`]), and
//! JSON escapes them by construction. Otherwise a `client_id` of
//! `x\nERROR forged` would write a line of the attacker's choosing.

use std::fmt::{self, Write as _};
use std::fs::{File, OpenOptions};
use std::io::{self, IsTerminal as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use tracing::Level;
use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FormatFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

use crate::config::LogFormat;

/// The filter when `RUST_LOG` is unset or unparseable.
const DEFAULT_FILTER: &str = "info";

/// The target of the audit events (`porthor_oidc::AUDIT`).
const AUDIT_TARGET: &str = porthor_oidc::AUDIT;

/// The audit file of this process, once [`init`] opened one.
static AUDIT_FILE: OnceLock<Arc<AuditFile>> = OnceLock::new();

/// Installs the global subscriber, with the audit file at `audit_file` if
/// given (created owner-only: it names users and addresses); fails only if
/// that file cannot be opened. A second call changes nothing.
pub fn init(format: LogFormat, audit_file: Option<&Path>) -> io::Result<()> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let stderr = tracing_subscriber::fmt::layer()
        .with_ansi(io::stderr().is_terminal())
        .with_writer(io::stderr);
    let stderr = match format {
        LogFormat::Text => stderr.fmt_fields(EscapedFields).boxed(),
        LogFormat::Json => stderr.json().boxed(),
    };
    let audit = match audit_file {
        Some(path) => {
            let file = Arc::new(AuditFile::open(path)?);
            let layer = tracing_subscriber::fmt::layer()
                .json()
                .with_writer(AuditWriter(Arc::clone(&file)))
                .with_filter(Targets::new().with_target(AUDIT_TARGET, Level::INFO));
            Some((file, layer))
        }
        None => None,
    };
    let (file, audit) = audit.unzip();
    // Fails only if a subscriber is already installed, which is fine.
    if tracing_subscriber::registry()
        .with(stderr.with_filter(filter))
        .with(audit)
        .with(crate::alerts::layer())
        .try_init()
        .is_ok()
        && let Some(file) = file
    {
        let _ = AUDIT_FILE.set(file);
    }
    Ok(())
}

/// Reopens the audit file, if there is one: after logrotate renames it, new
/// events go to a new file at the configured path. `serve` calls it on
/// every SIGHUP and SIGUSR1 (see `crate::reload`).
pub fn reopen_audit_file() {
    match AUDIT_FILE.get() {
        Some(file) => match file.reopen() {
            Ok(()) => tracing::info!(path = %file.path.display(), "audit file reopened"),
            Err(error) => {
                tracing::error!(path = %file.path.display(), %error, "cannot reopen the audit file; audit events keep going to the old one")
            }
        },
        None => tracing::debug!("there is no audit file to reopen"),
    }
}

/// The audit file: appended to, and swapped for a fresh open of its path by
/// [`AuditFile::reopen`].
struct AuditFile {
    path: PathBuf,
    file: Mutex<File>,
}

impl AuditFile {
    fn open(path: &Path) -> io::Result<Self> {
        Ok(Self {
            path: path.to_owned(),
            file: Mutex::new(append(path)?),
        })
    }

    /// Opens the path again; on failure the old file stays in use.
    fn reopen(&self) -> io::Result<()> {
        let fresh = append(&self.path)?;
        *self.file.lock().unwrap_or_else(PoisonError::into_inner) = fresh;
        Ok(())
    }
}

fn append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

/// Hands the formatter the audit file, one event (one `write`) at a time.
struct AuditWriter(Arc<AuditFile>);

impl<'a> MakeWriter<'a> for AuditWriter {
    type Writer = AuditLine<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        AuditLine(self.0.file.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// The audit file, held for one event, so that events never interleave.
struct AuditLine<'a>(MutexGuard<'a, File>);

impl io::Write for AuditLine<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.write(bytes)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// The text format's fields as tracing-subscriber writes them (the message,
/// then `name=value` pairs; strings quoted), except that every control
/// character, and the Unicode line and paragraph separators, in any value is
/// written as an escape. tracing-subscriber's own formatter escapes only
/// the message and `?`-formatted strings; a `%`-formatted value goes out as
/// it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct EscapedFields;

impl<'writer> FormatFields<'writer> for EscapedFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = FieldVisitor {
            out: Escaping(writer),
            result: Ok(()),
            first: true,
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct FieldVisitor<'writer> {
    out: Escaping<Writer<'writer>>,
    result: fmt::Result,
    first: bool,
}

impl FieldVisitor<'_> {
    fn write(&mut self, field: &Field, value: &dyn fmt::Debug) -> fmt::Result {
        if !std::mem::take(&mut self.first) {
            self.out.0.write_char(' ')?;
        }
        if field.name() != "message" {
            // Field names are the code's own, never a request's.
            write!(self.out.0, "{}=", field.name())?;
        }
        write!(self.out, "{value:?}")
    }
}

impl Visit for FieldVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        // As tracing-subscriber does: the message bare, other strings quoted.
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"));
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_ok() {
            self.result = self.write(field, value);
        }
    }
}

/// Writes through to `W`, escaping every character that could end a line
/// or steer a terminal.
struct Escaping<W>(W);

impl<W: fmt::Write> fmt::Write for Escaping<W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for c in text.chars() {
            match c {
                '\n' => self.0.write_str("\\n")?,
                '\r' => self.0.write_str("\\r")?,
                '\t' => self.0.write_str("\\t")?,
                c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') => {
                    write!(self.0, "\\u{{{:x}}}", u32::from(c))?;
                }
                c => self.0.write_char(c)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A `MakeWriter` into a shared buffer.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// What the text format writes for the events `log` emits.
    fn text_of(log: impl FnOnce()) -> String {
        let buffer = Buffer::default();
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .without_time()
            .fmt_fields(EscapedFields)
            .with_writer(move || sink.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, log);
        let bytes = buffer.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn no_value_can_forge_a_line() {
        let forged = "x\nERROR forged\r\n\u{1b}[31mred\u{2028}";
        let text = text_of(|| {
            tracing::info!(client.id = %forged, user = forged, reason = ?forged, "refused");
        });
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(
            !text.lines().any(|line| line.starts_with("ERROR")),
            "{text}"
        );
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{2028}'),
            "{text}"
        );
        assert!(
            text.contains(r"client.id=x\nERROR forged\r\n\u{1b}[31mred\u{2028}"),
            "{text}"
        );
    }

    #[test]
    fn ordinary_fields_read_as_before() {
        let text = text_of(|| {
            tracing::info!(client.id = %"app", user = "alice", refresh = true, "code redeemed");
        });
        assert!(
            text.trim_end().ends_with(
                r#"porthor::logging::tests: code redeemed client.id=app user="alice" refresh=true"#
            ),
            "{text}"
        );
    }
}
