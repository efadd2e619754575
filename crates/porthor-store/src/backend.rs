//! The byte-level storage interface that Redis and memory both provide.
//!
//! Backends see opaque keys and already-encrypted bytes; they know nothing of
//! records, kinds or encryption. Keeping this seam narrow is what lets the
//! in-memory store behave exactly like Redis for every rule above it.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;

/// Whatever went wrong talking to a backend; reported as
/// [`porthor_models::StoreError::Unavailable`].
pub(crate) type BackendError = Box<dyn std::error::Error + Send + Sync>;

/// The values at two keys.
pub(crate) type Pair = (Option<Vec<u8>>, Option<Vec<u8>>);

#[async_trait]
pub(crate) trait Backend: Send + Sync + fmt::Debug {
    /// Stores `bytes` at `key` for `ttl` (never zero), replacing any value.
    async fn put(&self, key: String, bytes: Vec<u8>, ttl: Duration) -> Result<(), BackendError>;
    /// The live value at `key`.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BackendError>;
    /// Removes and returns the live value at `key` atomically: of concurrent
    /// callers, at most one gets it.
    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, BackendError>;
    /// Removes `key`; whether a live value was there.
    async fn delete(&self, key: &str) -> Result<bool, BackendError>;
    /// Removes every key starting with `prefix` (taken literally); how many
    /// live values were removed.
    async fn delete_matching(&self, prefix: &str) -> Result<u64, BackendError>;
    /// `take(first)` and `get(second)` in one round trip; not atomic as a
    /// pair, only each on its own.
    async fn take_and_get(&self, first: &str, second: &str) -> Result<Pair, BackendError>;
    /// `get` of two keys in one round trip.
    async fn get_pair(&self, first: &str, second: &str) -> Result<Pair, BackendError>;
    /// Whether the backend answers.
    async fn ping(&self) -> Result<(), BackendError>;
}
