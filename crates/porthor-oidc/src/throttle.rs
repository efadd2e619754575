//! Throttling online guessing: which failures are counted, against which
//! limits, and what a locked counter does to a request. The counters
//! themselves are the store's ([`porthor_models::FailureCounters`]).
//!
//! - **Logins** are counted per username (known or not, so that the answer
//!   does not tell which exist) and per client address. Both are checked
//!   before the password is: a locked attempt costs no Argon2 check, and
//!   is refused even with the right password, or the lockout would only
//!   slow a guesser down until the right guess. A failure counts on both; a
//!   success forgets the username's failures (not the address's, or an
//!   attacker could clear their address by logging into their own account).
//! - **Client authentication** failures are counted per registered client
//!   id, and a failure once the id is over its limit is answered 429. A
//!   success is never checked against the counter, so a correct secret
//!   keeps working during a lockout: client ids are public (every
//!   authorization URL carries one), so refusing correct secrets would let
//!   anyone cut an application off, while client secrets are 32 or more
//!   random characters that no online guessing finds. Unregistered ids are
//!   not counted: there is nothing to guess, and counting them would let
//!   anyone write a key to the store with every request.

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use porthor_models::{Counter, CounterKind, CounterLimit, FailureCounters};

use crate::telemetry::{AUDIT, events};
use crate::{OidcError, OidcService, Throttle};

/// One login attempt, as the counters see it.
pub(crate) struct LoginAttempt<'a> {
    username: &'a str,
    /// `None` when the server could not tell the client's address.
    ip: Option<IpSubject>,
    /// Whether the username had failures to forget on success.
    user_failed_before: bool,
}

/// The part of a client address whose failures are counted together: the
/// address itself for IPv4, the /64 for IPv6 (the smallest block one
/// subscriber is usually given, so that an attacker cannot step through
/// the addresses of their own block).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IpSubject(String);

impl IpSubject {
    pub(crate) fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Self(v4.to_string()),
            IpAddr::V6(v6) => {
                let block = Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX));
                Self(format!("{block}/64"))
            }
        }
    }
}

impl<'a> LoginAttempt<'a> {
    fn user(&self) -> Counter<'a> {
        Counter {
            kind: CounterKind::User,
            subject: self.username,
        }
    }

    /// The username's counter, then the address's if it is known.
    fn counters(&self) -> Vec<Counter<'_>> {
        let ip = self.ip.as_ref().map(|ip| Counter {
            kind: CounterKind::Ip,
            subject: &ip.0,
        });
        std::iter::once(self.user()).chain(ip).collect()
    }

    /// The client address for logs: its counted block, or `unknown`.
    pub(crate) fn ip(&self) -> &str {
        self.ip.as_ref().map_or("unknown", |ip| ip.0.as_str())
    }
}

/// `duration` in whole seconds, rounded up, at least one: what
/// `Retry-After` can say.
fn whole_seconds(duration: Duration) -> Duration {
    let secs = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
    Duration::from_secs(secs.max(1))
}

impl Throttle {
    fn limit(&self, kind: CounterKind) -> CounterLimit {
        let failures = match kind {
            CounterKind::User => self.user_failures,
            CounterKind::Ip => self.ip_failures,
            CounterKind::Client => self.client_failures,
        };
        CounterLimit {
            failures,
            window: self.window,
            lockout: self.lockout,
        }
    }
}

impl OidcService {
    fn throttle(&self) -> Option<&Throttle> {
        let throttle = &self.inner.throttle;
        throttle.enabled.then_some(throttle)
    }

    fn counters(&self) -> &dyn FailureCounters {
        self.inner.store.failure_counters()
    }

    /// Reads the counters of a login by `username` from `ip` before the
    /// password is checked, and refuses the attempt if either is locked.
    /// One store round trip when throttling is on, none when it is off.
    pub(crate) async fn login_attempt<'a>(
        &self,
        username: &'a str,
        ip: Option<IpAddr>,
    ) -> Result<LoginAttempt<'a>, OidcError> {
        let mut attempt = LoginAttempt {
            username,
            ip: ip.map(IpSubject::of),
            user_failed_before: false,
        };
        let Some(throttle) = self.throttle() else {
            return Ok(attempt);
        };
        let counters = attempt.counters();
        let tallies = self.counters().tallies(&counters).await?;
        let locked = counters
            .iter()
            .zip(&tallies)
            .filter(|(counter, tally)| tally.is_locked(&throttle.limit(counter.kind)))
            .map(|(_, tally)| tally.expires_in)
            .max();
        attempt.user_failed_before = tallies.first().is_some_and(|user| user.failures > 0);
        if let Some(remaining) = locked {
            let retry_after = whole_seconds(remaining);
            tracing::info!(target: AUDIT,
                user = username,
                client.ip = attempt.ip(),
                outcome = "throttled",
                retry_after = retry_after.as_secs(),
                "login refused: too many failed logins"
            );
            crate::telemetry::login("throttled");
            return Err(OidcError::LoginThrottled { retry_after });
        }
        Ok(attempt)
    }

    /// Counts a failed login on its username and address, in one round
    /// trip.
    pub(crate) async fn login_failed(&self, attempt: &LoginAttempt<'_>) -> Result<(), OidcError> {
        let Some(throttle) = self.throttle() else {
            return Ok(());
        };
        let counters: Vec<(Counter<'_>, CounterLimit)> = attempt
            .counters()
            .into_iter()
            .map(|counter| (counter, throttle.limit(counter.kind)))
            .collect();
        let tallies = self.counters().add_failure(&counters).await?;
        for ((counter, limit), tally) in counters.iter().zip(tallies) {
            if tally.failures == u64::from(limit.failures) {
                tracing::warn!(target: AUDIT,
                    event = events::LOGIN_LOCKOUT,
                    outcome = "locked",
                    user = attempt.username,
                    client.ip = attempt.ip(),
                    locked = counter.kind.as_str(),
                    failures = tally.failures,
                    lockout = limit.lockout.as_secs(),
                    "login lockout: too many failed logins"
                );
            }
        }
        Ok(())
    }

    /// Forgets the username's failures after a successful login: no store
    /// command unless it had some.
    pub(crate) async fn login_succeeded(
        &self,
        attempt: &LoginAttempt<'_>,
    ) -> Result<(), OidcError> {
        if self.throttle().is_some() && attempt.user_failed_before {
            self.counters().reset(attempt.user()).await?;
        }
        Ok(())
    }

    /// What a failed client authentication of `client_id` answers: counted
    /// if the id is registered; `invalid_client` for the first
    /// `client_failures`, [`OidcError::ClientThrottled`] for the failures
    /// after them until the counter is forgotten.
    pub(crate) async fn client_authentication_failed(&self, client_id: &str) -> OidcError {
        let Some(throttle) = self.throttle() else {
            return OidcError::InvalidClient;
        };
        if !self.inner.clients.contains_key(client_id) {
            return OidcError::InvalidClient;
        }
        let counter = Counter {
            kind: CounterKind::Client,
            subject: client_id,
        };
        let limit = throttle.limit(CounterKind::Client);
        let tally = match self.counters().add_failure(&[(counter, limit)]).await {
            Ok(tallies) => tallies.first().copied().unwrap_or_default(),
            // The answer is invalid_client either way, and a correct
            // secret is never refused: a store outage costs only the count.
            Err(error) => {
                tracing::warn!(client.id = client_id, error = %error, "cannot count a failed client authentication");
                return OidcError::InvalidClient;
            }
        };
        if tally.failures == u64::from(limit.failures) {
            tracing::warn!(
                client.id = client_id,
                failures = tally.failures,
                lockout = limit.lockout.as_secs(),
                "client authentication failures over the limit: further failures answer 429"
            );
        }
        // Like a login, the attempt after the limit-th failure is the first
        // one answered 429.
        if tally.failures <= u64::from(limit.failures) {
            return OidcError::InvalidClient;
        }
        let retry_after = whole_seconds(tally.expires_in);
        tracing::info!(
            client.id = client_id,
            outcome = "throttled",
            retry_after = retry_after.as_secs(),
            "client authentication throttled"
        );
        OidcError::ClientThrottled { retry_after }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_counted_by_their_block() {
        let subject = |text: &str| IpSubject::of(text.parse().unwrap()).0;
        assert_eq!(subject("192.0.2.1"), "192.0.2.1");
        // An IPv4 client seen through a dual-stack socket is the same client.
        assert_eq!(subject("::ffff:192.0.2.1"), "192.0.2.1");
        assert_eq!(subject("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
        assert_eq!(subject("2001:db8:1:2::ffff"), "2001:db8:1:2::/64");
        assert_ne!(subject("2001:db8:1:3::1"), "2001:db8:1:2::/64");
        assert_eq!(subject("::1"), "::/64");
    }

    #[test]
    fn retry_after_is_whole_seconds_rounded_up() {
        let secs = |millis| whole_seconds(Duration::from_millis(millis)).as_secs();
        assert_eq!(secs(0), 1);
        assert_eq!(secs(1), 1);
        assert_eq!(secs(1000), 1);
        assert_eq!(secs(1001), 2);
        assert_eq!(secs(899_999), 900);
    }
}
