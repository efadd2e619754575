//! Shared helpers for Porthor's tests: the test Redis, stores on it or in
//! memory, raw access for planting corrupt records, and sample records.
//!
//! Only ever a dev-dependency. Tests that need Redis get its URL from
//! `PORTHOR_TEST_REDIS_URL`, which `cargo xtask test` sets after starting a
//! throwaway `redis-server`; without it they fail loudly instead of being
//! skipped, so a green run always means Redis was exercised.
//!
//! Each test uses its own key prefix from [`unique_prefix`], so tests running
//! in parallel on the one Redis never see each other's keys.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test support code fails loudly"
)]

pub mod logs;
mod redis_process;

use std::time::Duration;

use porthor_models::{
    AccessToken, AccessTokenData, Authorization, AuthorizationCode, RecordKey, Scopes, SessionData,
    SessionToken, Timestamp,
};
use porthor_store::{BackendConfig, EncryptionKey, Store, StoreConfig};
use rand::RngCore as _;

pub use redis_process::RedisProcess;

/// The environment variable naming the test Redis.
pub const REDIS_URL_ENV: &str = "PORTHOR_TEST_REDIS_URL";

/// The fixed encryption key of every test store, as base64. Fixed so that a
/// test can open a second store on the same prefix (say, the server's) and
/// read what the first wrote.
pub const TEST_ENCRYPTION_KEY: &str = "cG9ydGhvci10ZXN0LWtleS1ub3QtZm9yLXByb2R1Y3Q=";

/// The environment variable listing the test Redis Cluster's nodes,
/// comma-separated (`cargo xtask test` starts a cluster of three masters).
pub const CLUSTER_URLS_ENV: &str = "PORTHOR_TEST_REDIS_CLUSTER_URLS";

/// The environment variable listing the test Sentinel group's sentinels,
/// comma-separated (`cargo xtask test` starts a master, a replica and three
/// sentinels).
pub const SENTINEL_URLS_ENV: &str = "PORTHOR_TEST_REDIS_SENTINEL_URLS";

/// The name the test sentinels know their master by.
pub const SENTINEL_MASTER: &str = "porthor-test";

/// The key prefix of [`memory_store`]s (each has its own map, so they need
/// no unique prefix).
pub const MEMORY_PREFIX: &str = "porthor-test";

/// Pool size of [`redis_store`]s: small, but more than one so that pooling
/// is exercised.
const TEST_POOL_SIZE: usize = 4;

/// How long raw records planted by [`raw_set`] live, so that a reused Redis
/// does not fill up with them.
const RAW_TTL_SECS: u64 = 600;

/// The test Redis URL, from `PORTHOR_TEST_REDIS_URL`.
///
/// # Panics
///
/// If the variable is not set: a Redis test is never silently skipped.
pub fn redis_url() -> String {
    match std::env::var(REDIS_URL_ENV) {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "{REDIS_URL_ENV} is not set: run the tests with `cargo xtask test`, which starts a throwaway redis-server"
        ),
    }
}

/// The URLs listed in the environment variable `name`.
///
/// # Panics
///
/// If the variable is not set: a Redis test is never silently skipped.
fn url_list(name: &str) -> Vec<String> {
    match std::env::var(name) {
        Ok(urls) if !urls.trim().is_empty() => {
            urls.split(',').map(|url| url.trim().to_owned()).collect()
        }
        _ => panic!(
            "{name} is not set: run the tests with `cargo xtask test`, which starts the Redis topologies"
        ),
    }
}

/// The test Redis Cluster's node URLs, from `PORTHOR_TEST_REDIS_CLUSTER_URLS`.
pub fn cluster_urls() -> Vec<String> {
    url_list(CLUSTER_URLS_ENV)
}

/// The test sentinels' URLs, from `PORTHOR_TEST_REDIS_SENTINEL_URLS`.
pub fn sentinel_urls() -> Vec<String> {
    url_list(SENTINEL_URLS_ENV)
}

/// A key prefix unique to this test and this run:
/// `porthor-test:{test}:{16 random hex digits}`.
pub fn unique_prefix(test: &str) -> String {
    format!("porthor-test:{test}:{:016x}", rand::rng().next_u64())
}

/// The encryption key of every test store ([`TEST_ENCRYPTION_KEY`]).
pub fn test_encryption_key() -> EncryptionKey {
    EncryptionKey::parse(TEST_ENCRYPTION_KEY).expect("TEST_ENCRYPTION_KEY is a valid key")
}

/// The configuration of a store on the test Redis under `prefix`.
pub fn redis_config(prefix: &str) -> StoreConfig {
    StoreConfig {
        backend: BackendConfig::Redis {
            url: redis_url(),
            pool_size: TEST_POOL_SIZE,
        },
        key_prefix: prefix.to_owned(),
        encryption_key: test_encryption_key(),
    }
}

/// A store on the test Redis under `prefix` (use [`unique_prefix`]).
///
/// # Panics
///
/// If `PORTHOR_TEST_REDIS_URL` is unset or Redis does not answer.
pub async fn redis_store(prefix: &str) -> Store {
    match Store::open(redis_config(prefix)).await {
        Ok(store) => store,
        Err(e) => panic!("cannot open the test redis store ({REDIS_URL_ENV}): {e} ({e:?})"),
    }
}

/// The configuration of a store on the test Redis Cluster under `prefix`.
pub fn redis_cluster_config(prefix: &str) -> StoreConfig {
    StoreConfig {
        backend: BackendConfig::RedisCluster {
            urls: cluster_urls(),
            pool_size: TEST_POOL_SIZE,
        },
        key_prefix: prefix.to_owned(),
        encryption_key: test_encryption_key(),
    }
}

/// A store on the test Redis Cluster under `prefix`.
///
/// # Panics
///
/// If `PORTHOR_TEST_REDIS_CLUSTER_URLS` is unset or the cluster does not
/// answer.
pub async fn redis_cluster_store(prefix: &str) -> Store {
    match Store::open(redis_cluster_config(prefix)).await {
        Ok(store) => store,
        Err(e) => {
            panic!("cannot open the test redis cluster store ({CLUSTER_URLS_ENV}): {e} ({e:?})")
        }
    }
}

/// The configuration of a store on the test Sentinel group's master under
/// `prefix`.
pub fn redis_sentinel_config(prefix: &str) -> StoreConfig {
    StoreConfig {
        backend: BackendConfig::RedisSentinel {
            master_name: SENTINEL_MASTER.to_owned(),
            urls: sentinel_urls(),
            pool_size: TEST_POOL_SIZE,
        },
        key_prefix: prefix.to_owned(),
        encryption_key: test_encryption_key(),
    }
}

/// A fresh in-memory store with the test key and [`MEMORY_PREFIX`].
pub async fn memory_store() -> Store {
    Store::open(StoreConfig {
        backend: BackendConfig::Memory,
        key_prefix: MEMORY_PREFIX.to_owned(),
        encryption_key: test_encryption_key(),
    })
    .await
    .expect("memory store opens")
}

/// The storage key of a record, following porthor-store's documented layout
/// `{prefix}:{<tag>}:v2:{kind}:{key}` with kind `code`, `session`, `token`,
/// `refresh` or `consent`, the tag being the record key's first 8 characters.
pub fn storage_key(prefix: &str, kind: &str, key: &RecordKey) -> String {
    let tag = key.as_str().get(..8).unwrap_or(key.as_str());
    format!("{prefix}:{{{tag}}}:v2:{kind}:{key}")
}

async fn connection(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .expect("valid redis url")
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test redis: {e}"))
}

/// Writes `bytes` at `key` directly in Redis, bypassing the store (to plant
/// corrupt records). The key expires after ten minutes.
pub async fn raw_set(url: &str, key: &str, bytes: &[u8]) {
    let mut connection = connection(url).await;
    redis::cmd("SET")
        .arg(key)
        .arg(bytes)
        .arg("EX")
        .arg(RAW_TTL_SECS)
        .query_async::<()>(&mut connection)
        .await
        .expect("raw SET");
}

/// Whether `key` exists in Redis, read directly.
pub async fn raw_exists(url: &str, key: &str) -> bool {
    let mut connection = connection(url).await;
    redis::cmd("EXISTS")
        .arg(key)
        .query_async::<u64>(&mut connection)
        .await
        .expect("raw EXISTS")
        > 0
}

/// The bytes at `key` in Redis, read directly.
pub async fn raw_get(url: &str, key: &str) -> Option<Vec<u8>> {
    let mut connection = connection(url).await;
    redis::cmd("GET")
        .arg(key)
        .query_async::<Option<Vec<u8>>>(&mut connection)
        .await
        .expect("raw GET")
}

/// The keys matching `pattern` in Redis (`KEYS`; fine on a test Redis).
pub async fn raw_keys(url: &str, pattern: &str) -> Vec<String> {
    let mut connection = connection(url).await;
    redis::cmd("KEYS")
        .arg(pattern)
        .query_async::<Vec<String>>(&mut connection)
        .await
        .expect("raw KEYS")
}

/// The milliseconds `key` has left to live in Redis (`PTTL`): -2 if absent,
/// -1 if it has no expiry.
pub async fn raw_pttl(url: &str, key: &str) -> i64 {
    let mut connection = connection(url).await;
    redis::cmd("PTTL")
        .arg(key)
        .query_async::<i64>(&mut connection)
        .await
        .expect("raw PTTL")
}

/// The system clock's current time, in whole seconds (the domain has no
/// clock; a test server reads its own `porthor_server::ManualClock`).
pub fn now() -> Timestamp {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs();
    Timestamp::from_unix(secs)
}

/// The time every sample record is issued at.
pub const SAMPLE_NOW: Timestamp = Timestamp::from_unix(1_700_000_000);

/// A fresh code and the authorization behind it, for user `alice`.
pub fn sample_authorization() -> (AuthorizationCode, Authorization) {
    let code = AuthorizationCode::generate();
    let record = Authorization {
        secret_hash: code.secret_hash(),
        client_id: "test-client".into(),
        redirect_uri: "https://app.example.com/callback".into(),
        redirect_uri_sent: true,
        session_key: SessionToken::generate().key().clone(),
        username: "alice".into(),
        scopes: Scopes::parse("openid profile email"),
        nonce: Some("n-0S6_WzA2Mj".into()),
        code_challenge: None,
        auth_time: SAMPLE_NOW,
        expires_at: SAMPLE_NOW.after(Duration::from_secs(60)),
    };
    (code, record)
}

/// A fresh session token and its session, for user `alice`.
pub fn sample_session() -> (SessionToken, SessionData) {
    let token = SessionToken::generate();
    let record = SessionData {
        secret_hash: token.secret_hash(),
        username: "alice".into(),
        auth_time: SAMPLE_NOW,
        expires_at: SAMPLE_NOW.after(Duration::from_secs(3600)),
    };
    (token, record)
}

/// A fresh access token and what it grants, for user `alice`.
pub fn sample_access_token() -> (AccessToken, AccessTokenData) {
    let token = AccessToken::generate();
    let record = AccessTokenData {
        secret_hash: token.secret_hash(),
        client_id: "test-client".into(),
        session_key: SessionToken::generate().key().clone(),
        refreshable: false,
        username: "alice".into(),
        scopes: Scopes::parse("openid profile"),
        issued_at: SAMPLE_NOW,
        expires_at: SAMPLE_NOW.after(Duration::from_secs(600)),
    };
    (token, record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_unique_and_named() {
        let a = unique_prefix("some_test");
        let b = unique_prefix("some_test");
        assert_ne!(a, b);
        assert!(a.starts_with("porthor-test:some_test:"), "{a}");
    }

    #[test]
    fn test_key_parses() {
        assert_eq!(test_encryption_key().to_base64(), TEST_ENCRYPTION_KEY);
    }

    #[test]
    fn storage_key_follows_the_layout() {
        let (code, _) = sample_authorization();
        assert_eq!(
            storage_key("p", "code", code.key()),
            format!("p:{{{}}}:v2:code:{}", &code.key().as_str()[..8], code.key())
        );
    }
}
