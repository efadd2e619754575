//! The server's clock. Handlers read it once per request and pass the
//! [`Timestamp`] down: `porthor-oidc` and the layers below it take the time
//! as an argument and never read a clock of their own.
//!
//! Production runs on [`Clock::System`]. Tests hand the server a
//! [`ManualClock`] and move it by hand: every record carries its own expiry,
//! checked against the time the server is given, so advancing the clock
//! expires codes, tokens, sessions and refresh-token families without
//! waiting. (Storage TTLs, in Redis or the memory store, still run on real
//! time.)

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use porthor_models::Timestamp;

/// Where the server gets the time.
#[derive(Debug, Clone, Default)]
pub enum Clock {
    /// The system clock.
    #[default]
    System,
    /// A clock that moves only when told to, shared with whoever holds a
    /// clone of it.
    Manual(ManualClock),
}

impl Clock {
    /// The current time, in whole seconds.
    pub fn now(&self) -> Timestamp {
        match self {
            Self::System => Timestamp::from_unix(
                // A system clock set before 1970 reads as the epoch.
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |since| since.as_secs()),
            ),
            Self::Manual(clock) => clock.now(),
        }
    }
}

impl From<ManualClock> for Clock {
    fn from(clock: ManualClock) -> Self {
        Self::Manual(clock)
    }
}

/// A clock that stands still until it is advanced or set. Clones share one
/// time, so a test keeps a clone and moves the server's clock with it.
///
/// It counts milliseconds, so that advancing it by less than a second at a
/// time adds up; [`ManualClock::now`] reads whole seconds, like
/// [`Timestamp`].
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: Timestamp) -> Self {
        Self(Arc::new(AtomicU64::new(millis_of(start))))
    }

    /// A clock standing at the system clock's current time (what a test
    /// wants when something outside the server, such as a relying-party
    /// library, checks issued tokens against the real time).
    pub fn starting_now() -> Self {
        Self::new(Clock::System.now())
    }

    /// The time the clock shows, in whole seconds.
    pub fn now(&self) -> Timestamp {
        Timestamp::from_unix(self.0.load(Ordering::SeqCst) / 1000)
    }

    /// Moves the clock `by` into the future (saturating, never wrapping).
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        // The closure always returns `Some`, so the update cannot fail.
        let _ = self
            .0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |millis| {
                Some(millis.saturating_add(by))
            });
    }

    /// Sets the clock to `to`, forwards or backwards.
    pub fn set(&self, to: Timestamp) {
        self.0.store(millis_of(to), Ordering::SeqCst);
    }
}

fn millis_of(time: Timestamp) -> u64 {
    time.as_unix().saturating_mul(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_clock_is_the_real_time() {
        let real = || {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs()
        };
        let before = real();
        let now = Clock::default().now().as_unix();
        let after = real();
        assert!((before..=after).contains(&now), "{before} {now} {after}");
    }

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(Timestamp::from_unix(100));
        let server = Clock::from(clock.clone());
        assert_eq!(server.now(), Timestamp::from_unix(100));
        clock.advance(Duration::from_secs(30));
        assert_eq!(server.now(), Timestamp::from_unix(130));
        // Fractions add up; the time reads in whole seconds.
        clock.advance(Duration::from_millis(600));
        assert_eq!(server.now(), Timestamp::from_unix(130));
        clock.advance(Duration::from_millis(600));
        assert_eq!(server.now(), Timestamp::from_unix(131));
        clock.set(Timestamp::from_unix(50));
        assert_eq!(server.now(), Timestamp::from_unix(50));
        clock.advance(Duration::MAX);
        assert_eq!(clock.now(), Timestamp::from_unix(u64::MAX / 1000));
    }

    #[test]
    fn a_manual_clock_can_start_at_the_real_time() {
        let before = Clock::System.now();
        let clock = ManualClock::starting_now();
        assert!(clock.now() >= before && clock.now() <= Clock::System.now());
    }
}
