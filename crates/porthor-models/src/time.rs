//! Points in time as whole Unix seconds, the resolution of every JWT claim.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Seconds since the Unix epoch.
///
/// The domain never reads the clock: the edge of the system reads it once per
/// request and passes the value down, which keeps every rule testable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The timestamp `secs` seconds after the epoch.
    pub const fn from_unix(secs: u64) -> Self {
        Self(secs)
    }

    /// Seconds since the epoch.
    pub const fn as_unix(self) -> u64 {
        self.0
    }

    /// This instant moved `by` into the future, saturating rather than wrapping.
    pub fn after(self, by: Duration) -> Self {
        Self(self.0.saturating_add(by.as_secs()))
    }

    /// Whole seconds from `self` until `later`, or zero if `later` has passed.
    pub fn until(self, later: Self) -> Duration {
        Duration::from_secs(later.0.saturating_sub(self.0))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let t = Timestamp::from_unix(100);
        assert_eq!(t.after(Duration::from_secs(60)).as_unix(), 160);
        assert_eq!(t.until(Timestamp::from_unix(160)), Duration::from_secs(60));
        assert_eq!(t.until(Timestamp::from_unix(10)), Duration::ZERO);
        assert_eq!(
            Timestamp::from_unix(u64::MAX)
                .after(Duration::from_secs(1))
                .as_unix(),
            u64::MAX
        );
    }
}
