//! Logging users in and out: passwords and login sessions.

use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, SaltString};
use argon2::{Argon2, PasswordVerifier as _};
use porthor_models::{RecordKey, SessionData, SessionToken, Timestamp};
use zeroize::Zeroizing;

use crate::error::or_if_corrupt;
use crate::{OidcError, OidcService};

/// A live login session, found from its token.
#[derive(Debug, Clone)]
pub struct LoginSession {
    /// The session's record key.
    pub key: RecordKey,
    /// The stored session.
    pub data: SessionData,
}

impl OidcService {
    /// Checks a username and password and starts a login session. Returns the
    /// session token for the cookie.
    ///
    /// The Argon2 check runs on the blocking pool so it never stalls the
    /// request workers, and an unknown username costs the same as a wrong
    /// password so response times do not reveal which accounts exist.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        now: Timestamp,
    ) -> Result<SessionToken, OidcError> {
        let user = self.inner.users.get(username).cloned();
        let checked = user
            .clone()
            .unwrap_or_else(|| Arc::clone(&self.inner.dummy_user));
        let password = Zeroizing::new(password.to_owned());
        let matches = tokio::task::spawn_blocking(move || {
            verify_password(&checked.password_hash, password.as_bytes())
        })
        .await
        .map_err(|e| OidcError::Internal(e.into()))?;
        let Some(user) = user.filter(|_| matches) else {
            tracing::info!(user = username, outcome = "refused", "login failed");
            return Err(OidcError::InvalidCredentials);
        };
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
        tracing::info!(user = %user.username, outcome = "success", "login");
        Ok(token)
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
        // A corrupt session is logged and treated as logged out.
        let data = or_if_corrupt(self.inner.store.sessions().get(token.key()).await, || {
            Ok(None)
        })?;
        Ok(data
            .filter(|data| data.secret_hash.verify(&token.secret_hash()) && data.expires_at > now)
            .map(|data| LoginSession {
                key: token.key().clone(),
                data,
            }))
    }

    /// Ends the session named by `token`, and with it every access token
    /// issued under it (they are checked against their session on use).
    pub async fn logout(&self, token: &str, now: Timestamp) -> Result<(), OidcError> {
        if let Some(session) = self.session(token, now).await? {
            self.inner.store.sessions().delete(&session.key).await?;
            tracing::info!(user = %session.data.username, outcome = "success", "logout");
        }
        Ok(())
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

/// Whether `hash` is a PHC string this service can verify passwords against.
pub fn is_valid_password_hash(hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|hash| hash.algorithm.as_str().starts_with("argon2"))
}

fn verify_password(hash: &str, password: &[u8]) -> bool {
    PasswordHash::new(hash)
        .is_ok_and(|hash| Argon2::default().verify_password(password, &hash).is_ok())
}
