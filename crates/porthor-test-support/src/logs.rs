//! Captures `tracing` events so tests can assert what was (and was not)
//! logged. A process-wide subscriber, because the server under test logs
//! from its own worker threads.

use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Every event logged in this process since [`capture`] was first called,
/// one line each: `LEVEL message field=value ...`.
#[derive(Debug, Default)]
pub struct Logs {
    lines: Mutex<Vec<String>>,
    next_span: AtomicU64,
}

impl Logs {
    /// A copy of the captured lines.
    pub fn lines(&self) -> Vec<String> {
        self.lines
            .lock()
            .map(|lines| lines.clone())
            .unwrap_or_default()
    }

    /// The captured lines at `level` (`"ERROR"`, `"INFO"`...) containing
    /// every one of `needles`.
    pub fn matching(&self, level: &str, needles: &[&str]) -> Vec<String> {
        self.lines()
            .into_iter()
            .filter(|line| line.starts_with(level) && needles.iter().all(|n| line.contains(n)))
            .collect()
    }
}

/// Installs the capturing subscriber (once per process) and returns it.
///
/// # Panics
///
/// If another global subscriber was installed first.
pub fn capture() -> &'static Logs {
    static LOGS: OnceLock<&'static Logs> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs: &'static Logs = Box::leak(Box::default());
        tracing::subscriber::set_global_default(Capture(logs)).expect("no other global subscriber");
        logs
    })
}

struct Capture(&'static Logs);

struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, " {value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, " {}={value}", field.name());
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(self.0.next_span.fetch_add(1, Ordering::Relaxed) + 1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        // The level first (what `matching` filters on), then the target,
        // so tests can tell audit events (`target=porthor::audit`) apart.
        let metadata = event.metadata();
        let mut line = Line(format!("{} target={}", metadata.level(), metadata.target()));
        event.record(&mut line);
        if let Ok(mut lines) = self.0.lines.lock() {
            lines.push(line.0);
        }
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}
