//! The user index: per user, the record keys of their login sessions, in a
//! sorted set scored by login time.
//!
//! The set is named by a keyed hash of the username (HMAC-SHA256 under a key
//! derived from the store key), so that key names, which Redis keeps in the
//! clear, reveal no username: a plain hash of one would, to anyone guessing
//! names. Members are session record keys, already visible as key names,
//! and scores are login times; neither is encrypted.
//!
//! The set and every session it lists carry the user's slot tag (see
//! `layout.rs`), so its scripts touch one Redis Cluster slot: a session
//! whose key does not carry its user's tag is refused.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use porthor_models::{RecordKey, StoreError, Timestamp, UserIndex, hmac_sha256};
use zeroize::Zeroizing;

use crate::backend::Backend;
use crate::key::EncryptionKey;
use crate::keyspace::MAX_TTL;
use crate::layout::{Namespace, Tagger, record_tag};

/// What [`EncryptionKey::derive`] is asked for, to name the sets.
const NAMING_PURPOSE: &str = "user index names";

pub(crate) struct UserIndexspace {
    backend: Arc<Backend>,
    /// `{key_prefix}:{<tag>}:v2:user:`.
    namespace: Namespace,
    /// `{key_prefix}:{<tag>}:v2:session:`: where the members' records are.
    sessions: Namespace,
    naming_key: Zeroizing<[u8; 32]>,
    tagger: Arc<Tagger>,
}

impl UserIndexspace {
    pub(crate) fn new(
        backend: Arc<Backend>,
        key: &EncryptionKey,
        tagger: Arc<Tagger>,
        namespace: Namespace,
        sessions: Namespace,
    ) -> Self {
        Self {
            backend,
            namespace,
            sessions,
            naming_key: key.derive(NAMING_PURPOSE),
            tagger,
        }
    }

    /// `{key_prefix}:{<user tag>}:v2:user:{base64url(HMAC(naming key, username))}`.
    pub(crate) fn storage_key(&self, username: &str) -> String {
        self.located(username).0
    }

    /// The index's storage key and the prefix of its sessions' storage keys.
    fn located(&self, username: &str) -> (String, String) {
        let tag = self.tagger.user_tag(username);
        let name = hmac_sha256(&self.naming_key, &[username.as_bytes()]);
        (
            self.namespace.key(&tag, &URL_SAFE_NO_PAD.encode(name)),
            self.sessions.within(&tag),
        )
    }
}

/// Members as record keys. Only this module writes them, so one that does
/// not parse was planted: it is skipped, and logged.
fn record_keys(index: &str, members: Vec<String>) -> Vec<RecordKey> {
    members
        .into_iter()
        .filter_map(|member| {
            let key = RecordKey::parse(&member);
            if key.is_none() {
                tracing::error!(
                    record.key = index,
                    "a user index member is not a record key; skipped"
                );
            }
            key
        })
        .collect()
}

#[async_trait]
impl UserIndex for UserIndexspace {
    async fn add(
        &self,
        username: &str,
        session: &RecordKey,
        login_time: Timestamp,
        ttl: Duration,
        keep: usize,
    ) -> Result<Vec<RecordKey>, StoreError> {
        let (index, sessions) = self.located(username);
        if record_tag(session) != self.tagger.user_tag(username) {
            return Err(StoreError::Unencodable {
                key: index,
                source: "the session's key does not carry its user's slot tag (make it with `new_session_key`)".into(),
            });
        }
        // A zero TTL cannot be stored (Redis refuses `PX 0`); a second is
        // less than any session lives.
        let ttl = ttl.clamp(Duration::from_secs(1), MAX_TTL);
        let ended = self
            .backend
            .index_add(
                &index,
                &sessions,
                session.as_str(),
                login_time.as_unix(),
                ttl,
                keep,
            )
            .await
            .map_err(StoreError::Unavailable)?;
        Ok(record_keys(&index, ended))
    }

    async fn remove(&self, username: &str, session: &RecordKey) -> Result<(), StoreError> {
        self.backend
            .index_remove(&self.storage_key(username), session.as_str())
            .await
            .map_err(StoreError::Unavailable)
    }

    async fn extend(&self, username: &str, ttl: Duration) -> Result<(), StoreError> {
        if ttl.is_zero() {
            return Ok(());
        }
        self.backend
            .index_extend(&self.storage_key(username), ttl.min(MAX_TTL))
            .await
            .map_err(StoreError::Unavailable)
    }

    async fn end_all(&self, username: &str) -> Result<Vec<RecordKey>, StoreError> {
        let (index, sessions) = self.located(username);
        let ended = self
            .backend
            .index_end_all(&index, &sessions)
            .await
            .map_err(StoreError::Unavailable)?;
        Ok(record_keys(&index, ended))
    }
}

impl fmt::Debug for UserIndexspace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserIndexspace")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}
