//! The typed layer: records in, encrypted bytes at namespaced keys out.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use porthor_models::{Keyspace, RecordKey, StoreError};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::backend::Backend;
use crate::cipher::Cipher;
use crate::layout::{Namespace, record_tag};

/// The longest TTL stored. Longer ones are clamped: a century is "forever"
/// for any credential, and it keeps millisecond and `Instant` arithmetic far
/// from overflow in both backends.
pub(crate) const MAX_TTL: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// The `event` field of the ERROR event logged for a corrupt record
/// (with its `record.key` and the decryption or decoding error, never its
/// content): a stable name for whatever watches the log, such as the
/// binary's alerts, to recognise it by.
pub const CORRUPT_RECORD_EVENT: &str = "corrupt_record";

/// Whether a value that was read is still stored at its key: a plain read
/// leaves it there, a take or the old value of a replace has already gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Read {
    Kept,
    Removed,
}

/// One kind of record (`code`, `session`, `token` or `refresh`) under one
/// key prefix.
pub(crate) struct EncryptedKeyspace<T> {
    backend: Arc<Backend>,
    cipher: Arc<Cipher>,
    /// `{key_prefix}:{<tag>}:v2:{kind}:` around the record's tag.
    namespace: Namespace,
    record: PhantomData<fn() -> T>,
}

impl<T> EncryptedKeyspace<T> {
    pub(crate) fn new(
        backend: Arc<Backend>,
        cipher: Arc<Cipher>,
        key_prefix: &str,
        kind: &str,
    ) -> Self {
        Self {
            backend,
            cipher,
            namespace: Namespace::new(key_prefix, kind),
            record: PhantomData,
        }
    }

    /// `{key_prefix}:{<tag>}:v2:{kind}:{record_key}`, the tag taken from the
    /// record key itself (see `layout.rs`).
    pub(crate) fn storage_key(&self, key: &RecordKey) -> String {
        self.namespace.key(record_tag(key), key.as_str())
    }
}

impl<T: Serialize> EncryptedKeyspace<T> {
    pub(crate) fn seal(&self, storage_key: &str, value: &T) -> Result<Vec<u8>, StoreError> {
        self.cipher
            .seal(storage_key, value)
            .map_err(|e| StoreError::Unencodable {
                key: storage_key.to_owned(),
                source: e.into(),
            })
    }
}

impl<T: DeserializeOwned> EncryptedKeyspace<T> {
    /// The record in what a read found at `storage_key`.
    ///
    /// A value that does not decrypt or decode (tampering, another
    /// encryption key, garbage) is reported as absent: to every rule above
    /// the store it is as good as missing, and no caller has to remember to
    /// treat it so. It means tampering or a key mix-up, so it is logged
    /// loudly, here and once, and deleted if the read left it in place, so
    /// that it is not reported again on every read.
    pub(crate) async fn decode(
        &self,
        storage_key: &str,
        sealed: Option<Vec<u8>>,
        read: Read,
    ) -> Option<T> {
        let error = match self.cipher.open(storage_key, sealed?) {
            Ok(record) => return Some(record),
            Err(error) => error,
        };
        tracing::error!(event = CORRUPT_RECORD_EVENT, record.key = storage_key, error = %error, "corrupt record in the authorization store: treated as absent and deleted");
        metrics::counter!("porthor_store_errors_total", "kind" => "corrupt_record").increment(1);
        if read == Read::Kept
            && let Err(error) = self.backend.delete(storage_key).await
        {
            tracing::warn!(record.key = storage_key, error = %error, "cannot delete a corrupt record");
        }
        None
    }
}

#[async_trait]
impl<T> Keyspace<T> for EncryptedKeyspace<T>
where
    T: Serialize + DeserializeOwned + Send + Sync,
{
    async fn create(&self, key: &RecordKey, value: &T, ttl: Duration) -> Result<(), StoreError> {
        let storage_key = self.storage_key(key);
        if ttl.is_zero() {
            // Already expired: storing it would only let it be read until the
            // backend noticed. Deleting keeps "replaces any previous value".
            return self
                .backend
                .delete(&storage_key)
                .await
                .map(drop)
                .map_err(StoreError::Unavailable);
        }
        let sealed = self.seal(&storage_key, value)?;
        self.backend
            .put(storage_key, sealed, ttl.min(MAX_TTL))
            .await
            .map_err(StoreError::Unavailable)
    }

    async fn get(&self, key: &RecordKey) -> Result<Option<T>, StoreError> {
        let storage_key = self.storage_key(key);
        let sealed = self
            .backend
            .get(&storage_key)
            .await
            .map_err(StoreError::Unavailable)?;
        Ok(self.decode(&storage_key, sealed, Read::Kept).await)
    }

    async fn take(&self, key: &RecordKey) -> Result<Option<T>, StoreError> {
        let storage_key = self.storage_key(key);
        let sealed = self
            .backend
            .take(&storage_key)
            .await
            .map_err(StoreError::Unavailable)?;
        Ok(self.decode(&storage_key, sealed, Read::Removed).await)
    }

    async fn replace(
        &self,
        key: &RecordKey,
        value: &T,
        ttl: Option<Duration>,
    ) -> Result<Option<T>, StoreError> {
        let storage_key = self.storage_key(key);
        if ttl.is_some_and(|ttl| ttl.is_zero()) {
            // Replaced by something already expired: the same as a take.
            return self.take(key).await;
        }
        let sealed = self.seal(&storage_key, value)?;
        let old = self
            .backend
            .replace(&storage_key, sealed, ttl.map(|ttl| ttl.min(MAX_TTL)))
            .await
            .map_err(StoreError::Unavailable)?;
        Ok(self.decode(&storage_key, old, Read::Removed).await)
    }

    async fn extend(&self, key: &RecordKey, ttl: Duration) -> Result<(), StoreError> {
        if ttl.is_zero() {
            return Ok(());
        }
        self.backend
            .extend(&self.storage_key(key), ttl.min(MAX_TTL))
            .await
            .map_err(StoreError::Unavailable)
    }

    async fn delete(&self, key: &RecordKey) -> Result<bool, StoreError> {
        self.backend
            .delete(&self.storage_key(key))
            .await
            .map_err(StoreError::Unavailable)
    }

    async fn delete_all(&self) -> Result<u64, StoreError> {
        self.backend
            .delete_matching(&self.namespace)
            .await
            .map_err(StoreError::Unavailable)
    }
}

impl<T> fmt::Debug for EncryptedKeyspace<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptedKeyspace")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}
