//! The authorization store port: where codes, sessions and tokens live.
//!
//! Implemented by `porthor-store` (Redis and in-memory). The domain only sees
//! typed records by key; encryption, serialization and key layout are the
//! implementation's business.

use std::time::Duration;

use async_trait::async_trait;

use crate::{AccessTokenData, Authorization, RecordKey, SessionData};

/// A failure of the store itself, as opposed to a missing record.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend could not be reached or refused the command.
    #[error("authorization store unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A record exists but cannot be decrypted or decoded.
    #[error("corrupt record at {key}")]
    Corrupt {
        /// The storage key of the record (names it; reveals no secret).
        key: String,
        /// What went wrong reading it.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// One kind of record, stored by [`RecordKey`] with a time to live.
#[async_trait]
pub trait Keyspace<T>: Send + Sync {
    /// Stores `value` under `key` for `ttl`, replacing any previous value.
    async fn create(&self, key: &RecordKey, value: &T, ttl: Duration) -> Result<(), StoreError>;
    /// Reads the record, if it exists and has not expired.
    async fn get(&self, key: &RecordKey) -> Result<Option<T>, StoreError>;
    /// Reads and deletes the record in one atomic step: of any number of
    /// concurrent callers, at most one receives it.
    async fn take(&self, key: &RecordKey) -> Result<Option<T>, StoreError>;
    /// Deletes the record; says whether it existed.
    async fn delete(&self, key: &RecordKey) -> Result<bool, StoreError>;
    /// Deletes every record of this kind; returns how many there were.
    async fn delete_all(&self) -> Result<u64, StoreError>;
}

/// Everything the provider keeps between requests.
#[async_trait]
pub trait AuthorizationStore: Send + Sync + std::fmt::Debug {
    /// Authorization codes, by code key.
    fn codes(&self) -> &dyn Keyspace<Authorization>;
    /// Login sessions, by session key.
    fn sessions(&self) -> &dyn Keyspace<SessionData>;
    /// Access tokens, by token key.
    fn access_tokens(&self) -> &dyn Keyspace<AccessTokenData>;
    /// Checks that the backend answers, for readiness probes.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Takes (reads and deletes) the code at `code` and reads the session
    /// its key is linked to (see [`RecordKey::session`]); `None` for the
    /// session of an unlinked key. Redemption needs both, so an
    /// implementation should fetch them in one round trip; the two reads need
    /// not be atomic together.
    async fn take_code_with_session(
        &self,
        code: &RecordKey,
    ) -> Result<(Option<Authorization>, Option<SessionData>), StoreError> {
        let authorization = self.codes().take(code).await?;
        let session = match code.session() {
            Some(session) => self.sessions().get(&session).await?,
            None => None,
        };
        Ok((authorization, session))
    }

    /// Reads the access token at `token` and the session its key is linked
    /// to, like [`AuthorizationStore::take_code_with_session`].
    async fn access_token_with_session(
        &self,
        token: &RecordKey,
    ) -> Result<(Option<AccessTokenData>, Option<SessionData>), StoreError> {
        let data = self.access_tokens().get(token).await?;
        let session = match token.session() {
            Some(session) => self.sessions().get(&session).await?,
            None => None,
        };
        Ok((data, session))
    }
}
