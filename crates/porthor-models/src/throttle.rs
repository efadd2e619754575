//! Failure counters, the part of the store port that throttling uses:
//! failed logins per username and per client address, failed client
//! authentications per client id.
//!
//! The store counts opaque subjects of a few kinds and knows nothing of
//! what a username or an address is, or which limits apply: that is the
//! protocol's rule (`porthor-oidc`), which hands the limits in with each
//! failure. Counters live in the store rather than in each process so that
//! every replica sharing it sees the same counts.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;

use crate::StoreError;

/// What a counter counts the failures of. Each kind is its own namespace,
/// so a username and a client id that happen to be equal never share a
/// counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CounterKind {
    /// Failed logins for a username, whether or not an account has it.
    User,
    /// Failed logins from a client address (or address block).
    Ip,
    /// Failed client authentications of a client id.
    Client,
}

impl CounterKind {
    /// The kind's name in storage keys and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            CounterKind::User => "user",
            CounterKind::Ip => "ip",
            CounterKind::Client => "client",
        }
    }
}

/// One counter: a kind and the subject it counts (a username, an address,
/// a client id). The store never writes the subject down in the clear: it
/// names the counter by a keyed hash of it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Counter<'a> {
    /// Whose failures.
    pub kind: CounterKind,
    /// The subject, as the caller identifies it.
    pub subject: &'a str,
}

impl fmt::Debug for Counter<'_> {
    /// The kind only: subjects are names and addresses, which belong in
    /// logs only where a log line chooses to carry them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Counter")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// When a counter locks, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CounterLimit {
    /// The failures that lock the counter; at least 1.
    pub failures: u32,
    /// How long a counter lives after its first failure: the failures of
    /// one window are counted together (a fixed window, not a sliding one).
    pub window: Duration,
    /// How long a counter lives once a failure has brought it to
    /// `failures`, from that failure. Later failures do not lengthen it.
    pub lockout: Duration,
}

/// What a counter holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Failures counted in the current window (or lockout); 0 when the
    /// counter does not exist.
    pub failures: u64,
    /// How long until the counter is forgotten: the end of its window, or
    /// of its lockout. Zero when it does not exist.
    pub expires_in: Duration,
}

impl Tally {
    /// Whether the counter has reached `limit`: it stays locked until it
    /// is forgotten, [`Tally::expires_in`] from now.
    pub fn is_locked(&self, limit: &CounterLimit) -> bool {
        self.failures >= u64::from(limit.failures)
    }
}

/// Failure counters with expiry, shared by every process using the store.
///
/// Each counter is forgotten by itself when its window or lockout ends,
/// so nothing needs sweeping and no counter outlives its longest duration.
#[async_trait]
pub trait FailureCounters: Send + Sync {
    /// The counters' tallies, in order, in one round trip.
    async fn tallies(&self, counters: &[Counter<'_>]) -> Result<Vec<Tally>, StoreError>;

    /// Adds one failure to each counter, in one atomic step, and returns
    /// their new tallies in order.
    ///
    /// A counter's first failure starts its window: it is forgotten
    /// `window` later. The failure that brings it to `failures` locks it:
    /// it is forgotten `lockout` after that failure, however many more are
    /// added meanwhile. A counter is never left without an expiry.
    async fn add_failure(
        &self,
        counters: &[(Counter<'_>, CounterLimit)],
    ) -> Result<Vec<Tally>, StoreError>;

    /// Forgets a counter (a username's, after a successful login).
    async fn reset(&self, counter: Counter<'_>) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locked_from_the_limit_on() {
        let limit = CounterLimit {
            failures: 3,
            window: Duration::from_secs(60),
            lockout: Duration::from_secs(60),
        };
        let tally = |failures| Tally {
            failures,
            expires_in: Duration::from_secs(1),
        };
        assert!(!Tally::default().is_locked(&limit));
        assert!(!tally(2).is_locked(&limit));
        assert!(tally(3).is_locked(&limit));
        assert!(tally(4).is_locked(&limit));
    }

    #[test]
    fn debug_hides_the_subject() {
        let counter = Counter {
            kind: CounterKind::User,
            subject: "alice",
        };
        let debug = format!("{counter:?}");
        assert!(
            debug.contains("User") && !debug.contains("alice"),
            "{debug}"
        );
    }
}
