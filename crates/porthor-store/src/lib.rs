//! Porthor's authorization store: where codes, sessions, access tokens,
//! refresh-token families and consent grants live between requests. Implements
//! [`porthor_models::AuthorizationStore`] twice, on Redis and in memory,
//! behind one type, [`Store`].
//!
//! # What this crate owns
//!
//! - **Key layout.** Every record lives at
//!
//!   ```text
//!   {key_prefix}:{<tag>}:v2:code:{record_key}      authorization codes  (CodeState)
//!   {key_prefix}:{<tag>}:v2:session:{record_key}   login sessions       (SessionData)
//!   {key_prefix}:{<tag>}:v2:token:{record_key}     access tokens        (AccessTokenData)
//!   {key_prefix}:{<tag>}:v2:refresh:{record_key}   refresh families     (RefreshFamily)
//!   {key_prefix}:{<tag>}:v2:user:{user_name}       the user index       (a sorted set)
//!   {key_prefix}:{<tag>}:v2:consent:{record_key}   consent grants       (ConsentGrant)
//!   {key_prefix}:{throttle}:v2:throttle:{kind}:{name} failure counters  (an integer)
//!   ```
//!
//!   where `key_prefix` comes from [`StoreConfig`] (so several deployments or
//!   test runs can share one Redis), `v2` is the layout version, and
//!   `record_key` is the credential's public [`RecordKey`]. `{<tag>}` is a
//!   Redis Cluster hash tag that keeps every combined operation in one hash
//!   slot: a user's tag is a keyed hash of the username, a login session's
//!   key begins with it ([`AuthorizationStore::new_session_key`]), and every
//!   code, refresh family and access token issued under the session has a
//!   key that begins with the session's, so a record's tag is the first 8
//!   characters of its record key (see `layout.rs`). The user index
//!   ([`porthor_models::UserIndex`]) is a sorted set per user of session
//!   record keys scored by login time (Unix seconds), named by `user_name`,
//!   the unpadded base64url HMAC-SHA256 of the username under a key derived
//!   from the [`EncryptionKey`], so that no key name reveals a username.
//!   A consent grant is at a `record_key` derived from the user and the
//!   client with HMAC-SHA256 under a key derived from the [`EncryptionKey`]
//!   (see `derive.rs`), after the user's tag: no username or client id
//!   appears in a storage key.
//!   `delete_all` on a kind removes `{key_prefix}:{*}:v2:{kind}:*` and
//!   nothing else; the prefix is matched literally even if it contains glob
//!   characters (it must not contain `{` or `}`, which would move the tag).
//!   Failure counters ([`porthor_models::FailureCounters`]) are named by
//!   kind (`user`, `ip`, `client`) and a keyed hash of their subject, and
//!   hold a plain count that Redis increments (see `counters.rs`).
//!   The layout of earlier releases (`v1`, no tags) is not read: its records
//!   are simply absent to this one.
//!
//! - **Encryption at rest.** Each value is the JSON record sealed with
//!   AES-256-GCM under the [`EncryptionKey`]: one format-version byte (`1`), a
//!   fresh random 96-bit nonce, then ciphertext and tag. The full storage key
//!   is the associated data, so a record copied to another key does not
//!   decrypt. A record that fails to decrypt or decode (wrong key, tampering,
//!   unknown version, garbage) is logged (an ERROR event with
//!   `event = `[`CORRUPT_RECORD_EVENT`], for whatever watches the log),
//!   deleted and read as absent, never
//!   an error for the caller to handle and never a panic. Every replica must
//!   therefore share the encryption key: one with another key deletes what
//!   it cannot read.
//!   Random nonces stay safe for about 2^32 writes per key; rotate the key
//!   (which invalidates the live records) well before that. The user index
//!   is not encrypted: it holds only record keys and login times.
//!
//! - **TTLs.** Records expire in the backend (`SET … PX` on Redis, a deadline
//!   checked on every read in memory). A zero TTL means already expired: the
//!   record is not stored and any previous value at its key is removed. TTLs
//!   above a century are clamped to one.
//!
//! - **The Redis connection pool**, its timeouts (a few seconds at most for
//!   connecting, queuing and each reply, so a down Redis fails requests with
//!   [`StoreError::Unavailable`]
//!   quickly instead of hanging them) and the startup `PING` in [`Store::open`].
//!
//! # What it must not know
//!
//! HTTP, the OpenID Connect protocol rules (what a record means, when a code
//! may be redeemed, the records' own `expires_at`: that is `porthor-oidc`),
//! signing keys and JWTs, and configuration files or environment variables:
//! callers build a [`StoreConfig`] and hand it in. `deadpool-redis` appears in
//! this crate and nowhere else.
#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

#[cfg(not(any(feature = "memory", feature = "redis")))]
compile_error!(
    "porthor-store needs a backend: enable the `memory` or the `redis` feature (or both, the default)"
);

mod backend;
mod cipher;
mod counters;
mod derive;
mod key;
mod keyspace;
mod layout;
#[cfg(feature = "memory")]
mod memory;
#[cfg(feature = "redis")]
mod redis_backend;
mod user_index;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use porthor_models::{
    AccessTokenData, AuthorizationStore, CodeState, ConsentGrant, FailureCounters, Keyspace,
    RecordKey, RefreshFamily, SessionData, StoreError, UserIndex,
};

pub use key::EncryptionKey;
pub use keyspace::CORRUPT_RECORD_EVENT;
#[cfg(feature = "redis")]
pub use redis_backend::redact_redis_url;

use backend::Backend;
use cipher::Cipher;
use counters::Counters;
use derive::KeyDeriver;
use keyspace::{EncryptedKeyspace, Read};
use layout::{Namespace, Tagger};
#[cfg(feature = "memory")]
use memory::MemoryBackend;
#[cfg(feature = "redis")]
use redis_backend::{RedisBackend, Topology};
use user_index::UserIndexspace;

const CODE: &str = "code";
const SESSION: &str = "session";
const TOKEN: &str = "token";
const REFRESH: &str = "refresh";
const USER: &str = "user";
const CONSENT: &str = "consent";

/// Everything [`Store::open`] needs. Built by the caller from its own
/// configuration; this crate reads no files and no environment.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Where records are kept.
    pub backend: BackendConfig,
    /// Starts every storage key; must not be empty, nor contain `{` or `}`
    /// (Redis Cluster would read them as a hash tag).
    pub key_prefix: String,
    /// Encrypts every record at rest.
    pub encryption_key: EncryptionKey,
}

/// Which backend keeps the records, and how to reach it.
#[derive(Clone)]
pub enum BackendConfig {
    /// A map in this process: lost on restart and not shared between
    /// processes. For tests, development and single-instance setups.
    #[cfg(feature = "memory")]
    Memory,
    /// A Redis server (7.0 or later, for `SET … XX GET` and `PEXPIRE … GT`).
    #[cfg(feature = "redis")]
    Redis {
        /// `redis://[user:password@]host[:port][/db]`, `rediss://…` for TLS
        /// (rustls, verifying the server against the system's roots), or
        /// `redis+unix:///path/to/socket`. `Debug` hides the password.
        url: String,
        /// The most connections per thread, at least 1. A connection
        /// multiplexes all of its thread's concurrent commands, so one is
        /// enough; more only stand by while the first is being replaced.
        pool_size: usize,
    },
    /// A Redis Cluster (7.0 or later). The key layout keeps every combined
    /// operation in one hash slot.
    #[cfg(feature = "redis")]
    RedisCluster {
        /// Some of the cluster's nodes, as `redis://` or `rediss://` URLs
        /// (the client discovers the rest). `Debug` hides the passwords.
        urls: Vec<String>,
        /// As for [`BackendConfig::Redis`]: a cluster connection multiplexes
        /// a connection per node.
        pool_size: usize,
    },
    /// The master of a Redis Sentinel group (7.0 or later), followed
    /// through failovers.
    #[cfg(feature = "redis")]
    RedisSentinel {
        /// The name the sentinels know the master by.
        master_name: String,
        /// The sentinels, as `redis://` or `rediss://` URLs. The first one's
        /// user, password, database and TLS are also the master's. `Debug`
        /// hides the passwords.
        urls: Vec<String>,
        /// As for [`BackendConfig::Redis`].
        pool_size: usize,
    },
}

impl fmt::Debug for BackendConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            #[cfg(feature = "memory")]
            BackendConfig::Memory => f.write_str("Memory"),
            #[cfg(feature = "redis")]
            BackendConfig::Redis { url, pool_size } => f
                .debug_struct("Redis")
                .field("url", &redact_redis_url(url))
                .field("pool_size", pool_size)
                .finish(),
            #[cfg(feature = "redis")]
            BackendConfig::RedisCluster { urls, pool_size } => f
                .debug_struct("RedisCluster")
                .field("urls", &redacted_urls(urls))
                .field("pool_size", pool_size)
                .finish(),
            #[cfg(feature = "redis")]
            BackendConfig::RedisSentinel {
                master_name,
                urls,
                pool_size,
            } => f
                .debug_struct("RedisSentinel")
                .field("master_name", master_name)
                .field("urls", &redacted_urls(urls))
                .field("pool_size", pool_size)
                .finish(),
        }
    }
}

#[cfg(feature = "redis")]
fn redacted_urls(urls: &[String]) -> Vec<String> {
    urls.iter().map(|url| redact_redis_url(url)).collect()
}

/// Why the store cannot be opened: its configuration is unusable (an
/// encryption key that does not parse, an empty prefix, a bad Redis URL) or
/// Redis is unreachable or too old.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The encryption key text is unusable; says why without echoing it.
    #[error("invalid store encryption key: {0}")]
    InvalidKey(String),
    /// The key prefix is unusable.
    #[error("invalid store key prefix: {0}")]
    InvalidKeyPrefix(&'static str),
    /// The Redis pool size is zero.
    #[error("invalid redis pool size: it must be at least 1")]
    InvalidPoolSize,
    /// The Redis URL does not parse, or names an unsupported scheme.
    #[error("invalid redis url {url}")]
    InvalidRedisUrl {
        /// The URL, password redacted.
        url: String,
        /// What the Redis client objected to.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The connection pool could not be built.
    #[error("cannot build the redis connection pool")]
    Pool(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Redis is older than 7.0, whose commands the store needs.
    #[error("redis at {url} is {version}; porthor needs redis 7.0 or later")]
    UnsupportedRedis {
        /// The URL, password redacted.
        url: String,
        /// The version it reported.
        version: String,
    },
    /// Redis did not answer the startup `PING`.
    #[error("cannot reach redis at {url}")]
    Unreachable {
        /// The URL, password redacted.
        url: String,
        /// Why the connection or the `PING` failed.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// The authorization store: encrypted records with TTLs on Redis or in memory.
///
/// `Debug` shows the backend and prefix, never the key or a Redis password.
pub struct Store {
    backend: Arc<Backend>,
    key_prefix: String,
    codes: EncryptedKeyspace<CodeState>,
    sessions: EncryptedKeyspace<SessionData>,
    access_tokens: EncryptedKeyspace<AccessTokenData>,
    refresh_families: EncryptedKeyspace<RefreshFamily>,
    user_index: UserIndexspace,
    consents: EncryptedKeyspace<ConsentGrant>,
    /// Names consent grants by user and client.
    consent_keys: KeyDeriver,
    /// Tags users' records with their slot.
    tagger: Arc<Tagger>,
    counters: Counters,
}

impl Store {
    /// Opens the store. For Redis this builds the pool and sends one `PING`,
    /// so a bad URL or an unreachable server is an error here, at startup.
    pub async fn open(config: StoreConfig) -> Result<Store, OpenError> {
        if config.key_prefix.is_empty() {
            return Err(OpenError::InvalidKeyPrefix("it is empty"));
        }
        if config.key_prefix.contains(['{', '}']) {
            return Err(OpenError::InvalidKeyPrefix(
                "it contains `{` or `}`, which Redis Cluster reads as a hash tag",
            ));
        }
        let backend = Arc::new(match &config.backend {
            #[cfg(feature = "memory")]
            BackendConfig::Memory => Backend::Memory(MemoryBackend::default()),
            #[cfg(feature = "redis")]
            BackendConfig::Redis { url, pool_size } => {
                Backend::Redis(RedisBackend::open(Topology::Single(url.clone()), *pool_size).await?)
            }
            #[cfg(feature = "redis")]
            BackendConfig::RedisCluster { urls, pool_size } => Backend::Redis(
                RedisBackend::open(Topology::Cluster(urls.clone()), *pool_size).await?,
            ),
            #[cfg(feature = "redis")]
            BackendConfig::RedisSentinel {
                master_name,
                urls,
                pool_size,
            } => {
                let topology = Topology::Sentinel {
                    master_name: master_name.clone(),
                    urls: urls.clone(),
                };
                Backend::Redis(RedisBackend::open(topology, *pool_size).await?)
            }
        });
        let cipher = Arc::new(Cipher::new(&config.encryption_key));
        let prefix = &config.key_prefix;
        let tagger = Arc::new(Tagger::new(&config.encryption_key));
        Ok(Store {
            user_index: UserIndexspace::new(
                backend.clone(),
                &config.encryption_key,
                tagger.clone(),
                Namespace::new(prefix, USER),
                Namespace::new(prefix, SESSION),
            ),
            codes: EncryptedKeyspace::new(backend.clone(), cipher.clone(), prefix, CODE),
            sessions: EncryptedKeyspace::new(backend.clone(), cipher.clone(), prefix, SESSION),
            access_tokens: EncryptedKeyspace::new(backend.clone(), cipher.clone(), prefix, TOKEN),
            refresh_families: EncryptedKeyspace::new(
                backend.clone(),
                cipher.clone(),
                prefix,
                REFRESH,
            ),
            consents: EncryptedKeyspace::new(backend.clone(), cipher, prefix, CONSENT),
            consent_keys: KeyDeriver::new(&config.encryption_key),
            tagger,
            counters: Counters::new(backend.clone(), prefix, &config.encryption_key),
            backend,
            key_prefix: config.key_prefix,
        })
    }

    /// The prefix that starts every storage key of this store.
    pub fn key_prefix(&self) -> &str {
        &self.key_prefix
    }
}

/// Raw access below the encryption layer, for tests that plant corrupt
/// records. Compiled only with the `testing` feature, which only
/// `porthor-test-support` enables.
#[cfg(feature = "testing")]
impl Store {
    /// Writes `bytes` as they are at the full `storage_key`.
    pub async fn put_raw(
        &self,
        storage_key: &str,
        bytes: &[u8],
        ttl: std::time::Duration,
    ) -> Result<(), StoreError> {
        self.backend
            .put(storage_key.to_owned(), bytes.to_vec(), ttl)
            .await
            .map_err(StoreError::Unavailable)
    }

    /// The storage key of `username`'s user index.
    pub fn user_index_storage_key(&self, username: &str) -> String {
        self.user_index.storage_key(username)
    }

    /// The full storage key of a failure counter.
    pub fn counter_storage_key(&self, counter: porthor_models::Counter<'_>) -> String {
        self.counters.storage_key(counter)
    }

    /// Whether anything live is stored at the full `storage_key`.
    pub async fn exists_raw(&self, storage_key: &str) -> Result<bool, StoreError> {
        self.backend
            .get(storage_key)
            .await
            .map(|value| value.is_some())
            .map_err(StoreError::Unavailable)
    }
}

#[async_trait]
impl AuthorizationStore for Store {
    fn codes(&self) -> &dyn Keyspace<CodeState> {
        &self.codes
    }

    fn sessions(&self) -> &dyn Keyspace<SessionData> {
        &self.sessions
    }

    fn access_tokens(&self) -> &dyn Keyspace<AccessTokenData> {
        &self.access_tokens
    }

    fn refresh_families(&self) -> &dyn Keyspace<RefreshFamily> {
        &self.refresh_families
    }

    /// Index operations are one command each on Redis: `add` and `end_all`
    /// a Lua script, `remove` a `ZREM`, `extend` a `PEXPIRE … GT`.
    fn user_index(&self) -> &dyn UserIndex {
        &self.user_index
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.backend.ping().await.map_err(StoreError::Unavailable)
    }

    fn consents(&self) -> &dyn Keyspace<ConsentGrant> {
        &self.consents
    }

    /// The user's slot tag, then 80 bits of the keyed hash of user and
    /// client.
    fn consent_key(&self, username: &str, client_id: &str) -> RecordKey {
        let digest = self.consent_keys.digest(CONSENT, &[username, client_id]);
        self.tagger.tagged_key(username, &digest)
    }

    /// The user's slot tag, then 80 random bits (see `layout.rs`).
    fn new_session_key(&self, username: &str) -> RecordKey {
        self.tagger.session_key(username)
    }

    fn failure_counters(&self) -> &dyn FailureCounters {
        &self.counters
    }

    /// One round trip: a pipelined `SET … XX KEEPTTL GET` and `GET` on Redis.
    async fn redeem_code_with_session(
        &self,
        code: &RecordKey,
        redeemed: &CodeState,
    ) -> Result<(Option<CodeState>, Option<SessionData>), StoreError> {
        let Some(session) = code.session() else {
            return Ok((self.codes.replace(code, redeemed, None).await?, None));
        };
        let (code_key, session_key) = (
            self.codes.storage_key(code),
            self.sessions.storage_key(&session),
        );
        let sealed = self.codes.seal(&code_key, redeemed)?;
        let (previous, session) = self
            .backend
            .replace_and_get(&code_key, sealed, &session_key)
            .await
            .map_err(StoreError::Unavailable)?;
        Ok((
            self.codes.decode(&code_key, previous, Read::Removed).await,
            self.sessions
                .decode(&session_key, session, Read::Kept)
                .await,
        ))
    }

    /// One round trip: an `MGET` of three keys on Redis.
    async fn access_token_with_grant(
        &self,
        token: &RecordKey,
    ) -> Result<
        (
            Option<AccessTokenData>,
            Option<SessionData>,
            Option<RefreshFamily>,
        ),
        StoreError,
    > {
        let (Some(session), Some(family)) = (token.session(), token.parent()) else {
            return Ok((self.access_tokens.get(token).await?, None, None));
        };
        let keys = [
            self.access_tokens.storage_key(token),
            self.sessions.storage_key(&session),
            self.refresh_families.storage_key(&family),
        ];
        let [token_bytes, session_bytes, family_bytes] = self.get_many(&keys).await?;
        let [token_key, session_key, family_key] = &keys;
        Ok((
            self.access_tokens
                .decode(token_key, token_bytes, Read::Kept)
                .await,
            self.sessions
                .decode(session_key, session_bytes, Read::Kept)
                .await,
            self.refresh_families
                .decode(family_key, family_bytes, Read::Kept)
                .await,
        ))
    }

    /// One round trip: an `MGET` of two keys on Redis.
    async fn refresh_family_with_session(
        &self,
        family: &RecordKey,
    ) -> Result<(Option<RefreshFamily>, Option<SessionData>), StoreError> {
        let Some(session) = family.session() else {
            return Ok((self.refresh_families.get(family).await?, None));
        };
        let keys = [
            self.refresh_families.storage_key(family),
            self.sessions.storage_key(&session),
        ];
        let [family_bytes, session_bytes] = self.get_many(&keys).await?;
        let [family_key, session_key] = &keys;
        Ok((
            self.refresh_families
                .decode(family_key, family_bytes, Read::Kept)
                .await,
            self.sessions
                .decode(session_key, session_bytes, Read::Kept)
                .await,
        ))
    }
}

impl Store {
    /// The values at `N` storage keys in one round trip.
    async fn get_many<const N: usize>(
        &self,
        keys: &[String; N],
    ) -> Result<[Option<Vec<u8>>; N], StoreError> {
        let keys = keys.each_ref().map(String::as_str);
        let values = self
            .backend
            .get_many(&keys)
            .await
            .map_err(StoreError::Unavailable)?;
        <[_; N]>::try_from(values).map_err(|values| {
            StoreError::Unavailable(format!("asked for {N} values, got {}", values.len()).into())
        })
    }
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .field("key_prefix", &self.key_prefix)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(backend: BackendConfig) -> StoreConfig {
        StoreConfig {
            backend,
            key_prefix: "porthor-unit".into(),
            encryption_key: EncryptionKey::generate(),
        }
    }

    #[test]
    fn namespaces_follow_the_documented_layout() {
        for kind in [
            CODE,
            SESSION,
            TOKEN,
            REFRESH,
            USER,
            CONSENT,
            counters::THROTTLE,
        ] {
            assert_eq!(
                Namespace::new("p", kind).key("t", "k"),
                format!("p:{{t}}:v2:{kind}:k")
            );
        }
    }

    #[test]
    fn debug_hides_key_and_password() {
        let config = config(BackendConfig::Redis {
            url: "redis://:hunter2@127.0.0.1:1/0".into(),
            pool_size: 4,
        });
        let key = config.encryption_key.to_base64();
        let debug = format!("{config:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(!debug.contains(&key), "{debug}");
        assert!(debug.contains("127.0.0.1:1"), "{debug}");
        let urls = vec![
            "redis://:hunter2@10.0.0.1:6379".to_owned(),
            "rediss://porthor:hunter3@10.0.0.2:26379".to_owned(),
        ];
        for backend in [
            BackendConfig::RedisCluster {
                urls: urls.clone(),
                pool_size: 1,
            },
            BackendConfig::RedisSentinel {
                master_name: "porthor".into(),
                urls,
                pool_size: 1,
            },
        ] {
            let debug = format!("{backend:?}");
            assert!(!debug.contains("hunter"), "{debug}");
            assert!(debug.contains("10.0.0.2:26379"), "{debug}");
        }
    }

    #[tokio::test]
    async fn memory_store_debug_hides_key() {
        let config = config(BackendConfig::Memory);
        let key = config.encryption_key.to_base64();
        let store = Store::open(config).await.unwrap();
        let debug = format!("{store:?}");
        assert!(debug.contains("porthor-unit"), "{debug}");
        assert!(!debug.contains(&key), "{debug}");
    }

    #[tokio::test]
    async fn configuration_errors() {
        let mut empty_prefix = config(BackendConfig::Memory);
        empty_prefix.key_prefix.clear();
        assert!(matches!(
            Store::open(empty_prefix).await,
            Err(OpenError::InvalidKeyPrefix(_))
        ));
        for prefix in ["p{x}", "p}", "{"] {
            let mut braces = config(BackendConfig::Memory);
            braces.key_prefix = prefix.into();
            assert!(matches!(
                Store::open(braces).await,
                Err(OpenError::InvalidKeyPrefix(_))
            ));
        }
        let zero_pool = config(BackendConfig::Redis {
            url: "redis://127.0.0.1:1/0".into(),
            pool_size: 0,
        });
        assert!(matches!(
            Store::open(zero_pool).await,
            Err(OpenError::InvalidPoolSize)
        ));
        for url in [
            "not a url",
            "http://127.0.0.1:1/0",
            "redis://:pw@h/not-a-db",
        ] {
            for bad in [
                BackendConfig::RedisCluster {
                    urls: vec![url.into()],
                    pool_size: 1,
                },
                BackendConfig::RedisSentinel {
                    master_name: "m".into(),
                    urls: vec![url.into()],
                    pool_size: 1,
                },
            ] {
                let error = Store::open(config(bad)).await.unwrap_err();
                assert!(
                    matches!(error, OpenError::InvalidRedisUrl { .. }),
                    "{url}: {error}"
                );
                assert!(!error.to_string().contains("pw@"), "{error}");
            }
            let bad = config(BackendConfig::Redis {
                url: url.into(),
                pool_size: 1,
            });
            let error = Store::open(bad).await.unwrap_err();
            assert!(
                matches!(error, OpenError::InvalidRedisUrl { .. }),
                "{url}: {error}"
            );
            assert!(!error.to_string().contains("pw@"), "{error}");
        }
    }
}
