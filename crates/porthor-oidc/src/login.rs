//! Logging users in and out: passwords and login sessions.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, PasswordHash, PasswordHasher as _, SaltString};
use porthor_models::{RecordKey, SessionData, SessionToken, Timestamp, User};
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

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
#[derive(Debug)]
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
    /// server knows it) and starts a login session. Returns the session
    /// token for the cookie.
    ///
    /// A username or address with too many failed logins is refused before
    /// its password is checked (see `throttle.rs`). The Argon2 check runs on
    /// the blocking pool so it never stalls the request workers, and an
    /// unknown username costs the same as a wrong password so response
    /// times do not reveal which accounts exist.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
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
                    tracing::info!(
                        user = username,
                        client.ip = attempt.ip(),
                        outcome = "busy",
                        "login refused: no password-check slot freed up in time"
                    );
                }
            })?;
        let Some(user) = user.filter(|_| matches) else {
            self.login_failed(&attempt).await?;
            tracing::info!(
                user = username,
                client.ip = attempt.ip(),
                outcome = "refused",
                "login failed"
            );
            return Err(OidcError::InvalidCredentials);
        };
        self.login_succeeded(&attempt).await?;
        let token = SessionToken::generate();
        let data = SessionData {
            secret_hash: token.secret_hash(),
            username: user.username.clone(),
            auth_time: now,
            expires_at: now.after(self.inner.lifetimes.session),
        };
        self.inner
            .store
            .sessions()
            .create(token.key(), &data, self.inner.lifetimes.session)
            .await?;
        tracing::info!(user = %user.username, client.ip = attempt.ip(), outcome = "success", "login");
        Ok(token)
    }

    /// How busy the password checks are (see [`PasswordCheckStats`]).
    pub fn password_checks(&self) -> PasswordCheckStats {
        self.inner.password_checks.stats()
    }

    /// The live session named by a session token (the cookie's value), if
    /// any. A malformed, unknown, expired or unreadable token is no session.
    pub async fn session(
        &self,
        token: &str,
        now: Timestamp,
    ) -> Result<Option<LoginSession>, OidcError> {
        let Ok(token) = SessionToken::parse(token) else {
            return Ok(None);
        };
        let data = self.inner.store.sessions().get(token.key()).await?;
        Ok(data
            .filter(|data| data.secret_hash.verify(&token.secret_hash()) && data.expires_at > now)
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
        let Ok(token) = SessionToken::parse(token) else {
            return Ok(None);
        };
        let data = self.inner.store.sessions().get(token.key()).await?;
        let Some(data) = data.filter(|data| {
            data.secret_hash.verify(&token.secret_hash())
                && only_for.is_none_or(|user| user == data.username)
        }) else {
            return Ok(None);
        };
        self.inner.store.sessions().delete(token.key()).await?;
        tracing::info!(user = %data.username, outcome = "success", "logout");
        Ok(Some(data.username))
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
