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
    /// Replaces the live value at `key` with `bytes` and returns the old one,
    /// atomically; stores nothing if there is none. `ttl` (never zero) is the
    /// new time to live, `None` keeps the old one.
    async fn replace(
        &self,
        key: &str,
        bytes: Vec<u8>,
        ttl: Option<Duration>,
    ) -> Result<Option<Vec<u8>>, BackendError>;
    /// Makes the live value at `key` live at least `ttl` from now, never
    /// shortening it; nothing if there is none.
    async fn extend(&self, key: &str, ttl: Duration) -> Result<(), BackendError>;
    /// `replace(first, bytes, None)` and `get(second)` in one round trip; not
    /// atomic as a pair, only each on its own.
    async fn replace_and_get(
        &self,
        first: &str,
        bytes: Vec<u8>,
        second: &str,
    ) -> Result<Pair, BackendError>;
    /// `get` of several keys in one round trip, in order.
    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>, BackendError>;
    /// Whether the backend answers.
    async fn ping(&self) -> Result<(), BackendError>;
}
