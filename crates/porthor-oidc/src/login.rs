//! Logging users in and out: passwords and login sessions.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, PasswordHash, PasswordHasher as _, SaltString};
use porthor_models::{RecordKey, SessionData, SessionToken, StoreError, Timestamp, User};
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

use crate::telemetry::AUDIT;
use crate::{OidcError, OidcService};

/// A live login session, found from its token.
#[derive(Debug, Clone)]
pub struct LoginSession {
    /// The session's record key.
    pub key: RecordKey,
    /// The stored session.
    pub data: SessionData,
}

/// The password-check slots: at most one Argon2 check per core at a time.
/// Each takes 19 MiB and a core for tens of milliseconds, so more at once
/// would only add memory and latency, and a login flood could exhaust both.
///
/// A login waits for a slot at most the queue timeout. The slot then
/// belongs to the blocking task that runs the check, not to the request:
/// a client that disconnects mid-check drops its request, but the check
/// runs on to the end holding its slot, so disconnecting cannot start more
/// checks than there are slots.
///
/// Clones share the slots and the gauge: a configuration reload keeps them.
#[derive(Debug, Clone)]
pub(crate) struct PasswordChecks {
    slots: Arc<Semaphore>,
    size: usize,
    queue_timeout: Duration,
    gauge: Arc<Gauge>,
}

/// Checks running now, the most ever at once, and how many have run.
#[derive(Debug, Default)]
struct Gauge {
    running: AtomicUsize,
    peak: AtomicUsize,
    started: AtomicU64,
}

/// One check in [`Gauge::running`] while it lives.
struct Running<'a>(&'a Gauge);

impl Gauge {
    fn enter(&self) -> Running<'_> {
        self.started.fetch_add(1, Ordering::SeqCst);
        let running = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(running, Ordering::SeqCst);
        Running(self)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

/// How busy the password checks are, for monitoring and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordCheckStats {
    /// Checks that may run at once: one per core.
    pub slots: usize,
    /// Checks running now.
    pub running: usize,
    /// The most that ever ran at once since the service started.
    pub peak: usize,
    /// Checks started since the service started.
    pub started: u64,
}

impl PasswordChecks {
    pub(crate) fn new(size: usize, queue_timeout: Duration) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(size)),
            size,
            queue_timeout,
            gauge: Arc::default(),
        }
    }

    /// Whether `password` is `user`'s, checked in a slot on the blocking
    /// pool; [`OidcError::PasswordChecksBusy`] if no slot frees up within
    /// the queue timeout.
    async fn check(&self, user: Arc<User>, password: &str) -> Result<bool, OidcError> {
        let password = Zeroizing::new(password.to_owned());
        let slot =
            tokio::time::timeout(self.queue_timeout, Arc::clone(&self.slots).acquire_owned())
                .await
                .map_err(|_| OidcError::PasswordChecksBusy)?
                .map_err(|closed| OidcError::Internal(closed.into()))?;
        let gauge = Arc::clone(&self.gauge);
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let _running = gauge.enter();
            verify_password(&user.password_hash, password.as_bytes())
        })
        .await
        .map_err(|e| OidcError::Internal(e.into()))
    }

    fn stats(&self) -> PasswordCheckStats {
        PasswordCheckStats {
            slots: self.size,
            running: self.gauge.running.load(Ordering::SeqCst),
            peak: self.gauge.peak.load(Ordering::SeqCst),
            started: self.gauge.started.load(Ordering::SeqCst),
        }
    }
}

impl OidcService {
    /// Checks a username and password from a client at `client_ip` (if the
    /// server knows it) and starts a login session in a browser whose
    /// session cookie, if it sent one, is `browser`. Returns the session
    /// token for the cookie.
    ///
    /// A username or address with too many failed logins is refused before
    /// its password is checked (see `throttle.rs`). The Argon2 check runs on
    /// the blocking pool so it never stalls the request workers, and an
    /// unknown username costs the same as a wrong password so response
    /// times do not reveal which accounts exist.
    ///
    /// The browser's earlier session does not live on beside the new one:
    ///
    /// - The browser's session of the same user (re-authentication for
    ///   `prompt=login` or `max_age`) is superseded: the same record key,
    ///   so that everything issued under it stays chained to it and one
    ///   logout ends it all, with a new secret (the old cookie stops
    ///   working) and a new login time and expiry.
    /// - A live session of another user ends, with everything issued under
    ///   it: a browser holds one login. (One that has expired is left to
    ///   the refresh-token families that may still anchor it.)
    ///
    /// Past the user's `sessions_per_user`, their earliest logins end.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        browser: Option<&str>,
        client_ip: Option<IpAddr>,
        now: Timestamp,
    ) -> Result<SessionToken, OidcError> {
        let attempt = self.login_attempt(username, client_ip).await?;
        let user = self.inner.users.get(username).cloned();
        let checked = user
            .clone()
            .unwrap_or_else(|| Arc::clone(&self.inner.dummy_user));
        let matches = self
            .inner
            .password_checks
            .check(checked, password)
            .await
            .inspect_err(|error| {
                if matches!(error, OidcError::PasswordChecksBusy) {
                    tracing::info!(target: AUDIT,
                        user = username,
                        client.ip = attempt.ip(),
                        outcome = "busy",
                        "login refused: no password-check slot freed up in time"
                    );
                }
            })?;
        let Some(user) = user.filter(|_| matches) else {
            crate::telemetry::login("failure");
            self.login_failed(&attempt).await?;
            tracing::info!(target: AUDIT,
                user = username,
                client.ip = attempt.ip(),
                outcome = "refused",
                "login failed"
            );
            return Err(OidcError::InvalidCredentials);
        };
        self.login_succeeded(&attempt).await?;
        let (token, reauthenticated) = self.start_session(&user.username, browser, now).await?;
        tracing::info!(target: AUDIT, user = %user.username, client.ip = attempt.ip(), outcome = "success", reauthenticated, "login");
        crate::telemetry::login("success");
        Ok(token)
    }

    /// Starts `username`'s login session in a browser whose session cookie
    /// is `browser`, as [`OidcService::login`] says, and returns its token
    /// and whether it re-authenticated the browser's session.
    async fn start_session(
        &self,
        username: &str,
        browser: Option<&str>,
        now: Timestamp,
    ) -> Result<(SessionToken, bool), OidcError> {
        let earlier = match browser {
            Some(cookie) => self.session_record(cookie).await?,
            None => None,
        };
        if let Some(earlier) = earlier {
            if earlier.data.username == username {
                if let Some(token) = self.reauthenticate(&earlier.key, username, now).await? {
                    return Ok((token, true));
                }
            } else if earlier.data.expires_at > now {
                self.end_session(&earlier).await?;
                tracing::info!(user = %earlier.data.username, outcome = "ended", reason = "another user logged in in the same browser", "session ended");
            }
        }
        let store = &self.inner.store;
        let lifetime = self.inner.lifetimes.session;
        // A key the store made for this user: it locates the user's records
        // (a Redis Cluster slot), see `AuthorizationStore::new_session_key`.
        let token = SessionToken::with_key(store.new_session_key(username));
        let data = self.new_session_data(&token, username, now);
        // Concurrent, so one round trip: the index never ends the session it
        // adds, whether or not its record is there yet.
        tokio::try_join!(
            store.sessions().create(token.key(), &data, lifetime),
            self.index_login(username, token.key(), now),
        )?;
        Ok((token, false))
    }

    /// Supersedes `username`'s session at `key` with a fresh login; `None`
    /// if its record went meanwhile (a logout): then there is nothing to
    /// supersede.
    async fn reauthenticate(
        &self,
        key: &RecordKey,
        username: &str,
        now: Timestamp,
    ) -> Result<Option<SessionToken>, OidcError> {
        let store = &self.inner.store;
        let lifetime = self.inner.lifetimes.session;
        let token = SessionToken::with_key(key.clone());
        let data = self.new_session_data(&token, username, now);
        // Keeping the record's TTL, then extending it: a refresh-token family
        // may have made it longer than a session's, and that must not shrink.
        if store.sessions().replace(key, &data, None).await?.is_none() {
            return Ok(None);
        }
        tokio::try_join!(
            store.sessions().extend(key, lifetime),
            self.index_login(username, key, now),
        )?;
        Ok(Some(token))
    }

    fn new_session_data(
        &self,
        token: &SessionToken,
        username: &str,
        now: Timestamp,
    ) -> SessionData {
        SessionData {
            secret_hash: token.secret_hash(),
            username: username.to_owned(),
            auth_time: now,
            expires_at: now.after(self.inner.lifetimes.session),
        }
    }

    /// Records in the user index that `username` logged in with `session`
    /// at `now`, for a session's lifetime; the index ends the user's
    /// earliest sessions beyond `sessions_per_user`.
    async fn index_login(
        &self,
        username: &str,
        session: &RecordKey,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let limit = self.inner.limits.sessions_per_user;
        let ended = self
            .inner
            .store
            .user_index()
            .add(username, session, now, self.inner.lifetimes.session, limit)
            .await?;
        if !ended.is_empty() {
            tracing::info!(
                user = username,
                sessions = ended.len(),
                limit,
                outcome = "ended",
                reason = "sessions_per_user reached",
                "earliest sessions ended"
            );
        }
        Ok(())
    }

    /// How busy the password checks are (see [`PasswordCheckStats`]).
    pub fn password_checks(&self) -> PasswordCheckStats {
        self.inner.password_checks.stats()
    }

    /// The live session named by a session token (the cookie's value), if
    /// any. A malformed, unknown, expired or unreadable token is no session,
    /// and so is a session of a user the configuration no longer has (a
    /// reload removed them): the browser is asked to log in again.
    pub async fn session(
        &self,
        token: &str,
        now: Timestamp,
    ) -> Result<Option<LoginSession>, OidcError> {
        Ok(self.session_record(token).await?.filter(|session| {
            session.data.expires_at > now && self.is_user(&session.data.username)
        }))
    }

    /// The session record a session token names, if its secret matches,
    /// whether or not the browser session has expired (a refresh-token
    /// family may keep the record).
    async fn session_record(&self, token: &str) -> Result<Option<LoginSession>, OidcError> {
        let Ok(token) = SessionToken::parse(token) else {
            return Ok(None);
        };
        let data = self.inner.store.sessions().get(token.key()).await?;
        Ok(data
            .filter(|data| data.secret_hash.verify(&token.secret_hash()))
            .map(|data| LoginSession {
                key: token.key().clone(),
                data,
            }))
    }

    /// Ends the session named by `token`, and with it every code, access
    /// token and refresh-token family issued under it (they are checked
    /// against their session on use). A session past its browser lifetime
    /// whose record a refresh-token family keeps alive is ended too. With
    /// `only_for`, only a session of that user is ended.
    pub async fn logout(
        &self,
        token: &str,
        only_for: Option<&str>,
    ) -> Result<Option<String>, OidcError> {
        let Some(session) = self
            .session_record(token)
            .await?
            .filter(|session| only_for.is_none_or(|user| user == session.data.username))
        else {
            return Ok(None);
        };
        self.end_session(&session).await?;
        tracing::info!(target: AUDIT, user = %session.data.username, outcome = "success", "logout");
        Ok(Some(session.data.username))
    }

    /// Deletes a session's record, which ends everything issued under it,
    /// then its entry in the user index. In that order: a failure between
    /// the two leaves an entry for a record that is gone, which the index
    /// skips, never a live session the index has lost.
    async fn end_session(&self, session: &LoginSession) -> Result<(), OidcError> {
        let store = &self.inner.store;
        store.sessions().delete(&session.key).await?;
        store
            .user_index()
            .remove(&session.data.username, &session.key)
            .await?;
        Ok(())
    }

    /// Ends every login session of `username`, and so every code, access
    /// token and refresh-token family issued under them, on every replica
    /// at once (they all read the one store): for a compromised account.
    /// Returns how many sessions ended. It does not stop new logins: change
    /// the password or remove the user first.
    pub async fn revoke_user(&self, username: &str) -> Result<usize, OidcError> {
        let ended = self.inner.store.user_index().end_all(username).await?;
        tracing::warn!(
            target: AUDIT,
            user = username,
            sessions = ended.len(),
            outcome = "revoked",
            "administrator ended every session of a user"
        );
        Ok(ended.len())
    }
}

/// Hashes a password for the configuration: Argon2id with the crate's
/// default (OWASP-recommended) parameters and a random salt, in PHC form.
pub fn hash_password(password: &str) -> Result<String, OidcError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| OidcError::Internal(e.to_string().into()))
}

/// OWASP's minimum for Argon2 (Password Storage Cheat Sheet): 19 MiB of
/// memory with two passes, or 46 MiB with one (and a lane, which every valid
/// hash has). [`hash_password`] uses the first.
const OWASP_MINIMUM: [(u32, u32); 2] = [(19 * 1024, 2), (46 * 1024, 1)];

/// Accepts an Argon2 hash in PHC string form with valid parameters at least
/// as strong as OWASP's minimum, such as [`hash_password`] makes. Errors
/// never echo the hash.
pub fn check_password_hash(text: &str) -> Result<(), String> {
    const HINT: &str = "make one with `porthor hash-password`";
    let hash = PasswordHash::new(text)
        .map_err(|error| format!("not a PHC password hash ({error}); {HINT}"))?;
    argon2::Algorithm::try_from(hash.algorithm).map_err(|_| {
        format!(
            "uses {:?}, not an argon2 algorithm; {HINT}",
            hash.algorithm.as_str()
        )
    })?;
    let params = argon2::Params::try_from(&hash)
        .map_err(|error| format!("has invalid argon2 parameters ({error}); {HINT}"))?;
    let strong = OWASP_MINIMUM
        .iter()
        .any(|&(memory, passes)| params.m_cost() >= memory && params.t_cost() >= passes);
    if !strong {
        return Err(format!(
            "has argon2 parameters m={}, t={} below OWASP's minimum (m=19456 KiB with t=2, or m=47104 KiB with t=1); {HINT}",
            params.m_cost(),
            params.t_cost()
        ));
    }
    if hash.salt.is_none() || hash.hash.is_none() {
        return Err(format!("has no salt or no hash; {HINT}"));
    }
    Ok(())
}

/// Argon2's working memory is reserved at least this large (in 1 KiB
/// blocks): above glibc's largest dynamic mmap threshold (32 MiB), so every
/// buffer is mapped fresh and unmapped when freed. At the usual 19 MiB,
/// glibc raises its threshold after the first free and keeps later buffers in
/// its heaps: a burst of logins left the process at ~500 MiB for good.
const MIN_WORK_BLOCKS: usize = 33 * 1024;

/// Checks `password` against a PHC Argon2 hash, in constant time.
fn verify_password(hash: &str, password: &[u8]) -> bool {
    let Ok(hash) = PasswordHash::new(hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params), Some(salt), Some(expected)) = (
        argon2::Algorithm::try_from(hash.algorithm),
        argon2::Params::try_from(&hash),
        hash.salt,
        hash.hash,
    ) else {
        return false;
    };
    let version = match hash.version.map(argon2::Version::try_from) {
        None => argon2::Version::default(),
        Some(Ok(version)) => version,
        Some(Err(_)) => return false,
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let mut out = Zeroizing::new(vec![0u8; expected.len()]);
    // Reserved at the mmap size, but only the blocks Argon2 uses are touched.
    let mut memory = Vec::with_capacity(params.block_count().max(MIN_WORK_BLOCKS));
    memory.resize(params.block_count(), argon2::Block::default());
    let argon2 = Argon2::new(algorithm, version, params);
    if argon2
        .hash_password_into_with_memory(password, salt, &mut out, &mut memory)
        .is_err()
    {
        return false;
    }
    // `Output`'s equality is constant-time.
    Output::new(&out).is_ok_and(|computed| computed == expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Security lesson 5, Hydra #1438 (bcrypt's 72-byte limit), for
    /// passwords: Argon2 reads all of a long password.
    #[test]
    fn hydra_1438_a_long_passwords_prefix_does_not_verify() {
        let password = "p".repeat(72) + " and then some more words";
        let hash = hash_password(&password).unwrap();
        assert!(verify_password(&hash, password.as_bytes()));
        assert!(!verify_password(&hash, &password.as_bytes()[..72]));
    }

    #[test]
    fn password_hash_check() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(check_password_hash(&hash).is_ok());
        assert!(verify_password(&hash, b"correct horse"));
        assert!(!verify_password(&hash, b"wrong horse"));
        for bad in [
            "",
            "plain",
            "$argon2id$",
            "$pbkdf2-sha256$i=1000$c2FsdA$aGFzaA",
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ",
            "$argon2id$v=19$m=1,t=0,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        ] {
            let error = check_password_hash(bad).unwrap_err();
            assert!(error.contains("hash-password"), "{bad:?}: {error}");
        }
    }
}
