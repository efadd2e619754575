//! Failure counters ([`FailureCounters`]): plain integers with a TTL at
//! `{key_prefix}:{throttle}:v2:throttle:{user|ip|client}:{name}`, all with
//! the one slot tag `throttle`, since one script updates several at once.
//!
//! `name` is the unpadded base64url HMAC-SHA-256 of the subject (a
//! username, an address, a client id) under a key derived from the store's
//! encryption key: no name or address is written into Redis, and, unlike
//! a plain hash, the name cannot be recovered by hashing guesses (every
//! IPv4 address can be hashed in minutes). Every replica derives the same
//! key, so they all count on the same keys. Counters are not encrypted:
//! a count is not a secret, and Redis must be able to increment it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use porthor_models::{Counter, CounterLimit, FailureCounters, StoreError, Tally, hmac_sha256};
use zeroize::Zeroizing;

use crate::EncryptionKey;
use crate::backend::Backend;
use crate::keyspace::MAX_TTL;
use crate::layout::{Namespace, THROTTLE_TAG};

/// The kind segment of counter keys, after the layout version.
pub(crate) const THROTTLE: &str = "throttle";

/// What the key that names counters is derived for (see
/// [`EncryptionKey::derive`]).
const SUBJECT_KEY_PURPOSE: &str = "throttle subject names";

/// The failure counters of one store.
pub(crate) struct Counters {
    backend: Arc<Backend>,
    /// `{key_prefix}:{throttle}:v2:throttle:`.
    namespace: Namespace,
    /// The key that names counters by their subject.
    subject_key: Zeroizing<[u8; 32]>,
}

impl Counters {
    pub(crate) fn new(backend: Arc<Backend>, key_prefix: &str, key: &EncryptionKey) -> Self {
        Self {
            backend,
            namespace: Namespace::new(key_prefix, THROTTLE),
            subject_key: key.derive(SUBJECT_KEY_PURPOSE),
        }
    }

    /// Where `counter` is stored.
    pub(crate) fn storage_key(&self, counter: Counter<'_>) -> String {
        let name = URL_SAFE_NO_PAD.encode(hmac_sha256(
            &self.subject_key,
            &[counter.subject.as_bytes()],
        ));
        self.namespace
            .key(THROTTLE_TAG, &format!("{}:{name}", counter.kind.as_str()))
    }
}

#[async_trait]
impl FailureCounters for Counters {
    async fn tallies(&self, counters: &[Counter<'_>]) -> Result<Vec<Tally>, StoreError> {
        let keys: Vec<String> = counters.iter().map(|c| self.storage_key(*c)).collect();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        self.backend
            .tallies(&keys)
            .await
            .map_err(StoreError::Unavailable)
    }

    async fn add_failure(
        &self,
        counters: &[(Counter<'_>, CounterLimit)],
    ) -> Result<Vec<Tally>, StoreError> {
        let keys: Vec<String> = counters.iter().map(|(c, _)| self.storage_key(*c)).collect();
        let counters: Vec<(&str, CounterLimit)> = keys
            .iter()
            .zip(counters)
            .map(|(key, (_, limit))| (key.as_str(), clamped(*limit)))
            .collect();
        self.backend
            .add_failure(&counters)
            .await
            .map_err(StoreError::Unavailable)
    }

    async fn reset(&self, counter: Counter<'_>) -> Result<(), StoreError> {
        self.backend
            .delete(&self.storage_key(counter))
            .await
            .map(drop)
            .map_err(StoreError::Unavailable)
    }
}

/// `limit` with its durations clamped like every record's TTL.
fn clamped(limit: CounterLimit) -> CounterLimit {
    let clamp = |duration: Duration| duration.min(MAX_TTL);
    CounterLimit {
        window: clamp(limit.window),
        lockout: clamp(limit.lockout),
        ..limit
    }
}

impl fmt::Debug for Counters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Counters")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use porthor_models::CounterKind;

    use super::*;
    use crate::memory::MemoryBackend;

    fn counters(key: &EncryptionKey) -> Counters {
        let backend = Arc::new(Backend::Memory(MemoryBackend::default()));
        Counters::new(backend, "p", key)
    }

    #[test]
    fn keys_name_the_kind_and_hide_the_subject() {
        let key = EncryptionKey::generate();
        let store = counters(&key);
        let alice = Counter {
            kind: CounterKind::User,
            subject: "alice",
        };
        let storage_key = store.storage_key(alice);
        let name = storage_key
            .strip_prefix("p:{throttle}:v2:throttle:user:")
            .unwrap();
        assert_eq!(name.len(), 43, "{storage_key}");
        assert!(!storage_key.contains("alice"));
        // The same subject under another kind is another counter.
        let client = store.storage_key(Counter {
            kind: CounterKind::Client,
            ..alice
        });
        assert!(client.starts_with("p:{throttle}:v2:throttle:client:"));
        // Every store with the same key names it alike; another key does not.
        assert_eq!(counters(&key).storage_key(alice), storage_key);
        let other = counters(&EncryptionKey::generate()).storage_key(alice);
        assert_ne!(other, storage_key);
    }
}
