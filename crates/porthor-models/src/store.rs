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
}
