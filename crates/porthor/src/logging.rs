//! Diagnostics: tracing to stderr, filtered by `RUST_LOG` (default `info`),
//! as text or JSON lines. Stdout stays for command output.
//!
//! Log lines carry what requests sent (client ids, usernames, redirect URIs,
//! reasons quoting them), so no value may break a line: the text format
//! escapes every control character in every field ([`EscapedFields`]), and
//! JSON escapes them by construction. Otherwise a `client_id` of
//! `x\nERROR forged` would write a line of the attacker's choosing.

use std::fmt::{self, Write as _};
use std::io::IsTerminal as _;

use tracing::field::{Field, Visit};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::Writer;

use crate::config::LogFormat;

/// The filter when `RUST_LOG` is unset or unparseable.
const DEFAULT_FILTER: &str = "info";

/// Installs the global subscriber; a second call changes nothing.
pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    // Fails only if a subscriber is already installed, which is fine.
    let _ = match format {
        LogFormat::Text => builder.fmt_fields(EscapedFields).try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
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
