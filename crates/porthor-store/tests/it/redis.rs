//! What only the Redis backend has: startup checks, an outage mid-flight,
//! several stores on one server, and the bytes as Redis holds them.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use deadpool_redis::redis as client;
use porthor_models::{
    AccessToken, AuthorizationCode, AuthorizationStore as _, CodeState, SessionToken, StoreError,
};
use porthor_store::{BackendConfig, EncryptionKey, OpenError, Store, StoreConfig};
use porthor_test_support::{
    SENTINEL_MASTER, logs, raw_exists, raw_get, raw_pttl, raw_set, redis_config,
    redis_sentinel_config, redis_store, redis_url, sample_access_token, sample_authorization,
    sample_session, sentinel_urls, storage_key, unique_prefix,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const TTL: Duration = Duration::from_secs(60);

/// Failing fast is the point of these tests; this is the most they may take.
const FAIL_FAST: Duration = Duration::from_secs(6);

/// A fresh code and its record as issued, ready to store.
fn sample_code() -> (AuthorizationCode, CodeState) {
    let (code, authorization) = sample_authorization();
    (code, CodeState::Issued(authorization))
}

fn config_for(url: String) -> StoreConfig {
    StoreConfig {
        backend: BackendConfig::Redis { url, pool_size: 2 },
        key_prefix: unique_prefix("config"),
        encryption_key: EncryptionKey::generate(),
    }
}

/// A loopback port with nothing listening on it.
async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn open_fails_when_nothing_listens() {
    let url = format!("redis://:hunter2@127.0.0.1:{}/0", closed_port().await);
    let started = Instant::now();
    let error = Store::open(config_for(url)).await.unwrap_err();
    assert!(
        started.elapsed() < FAIL_FAST,
        "took {:?}",
        started.elapsed()
    );
    assert!(matches!(error, OpenError::Unreachable { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.starts_with("cannot reach redis at redis://"),
        "{message}"
    );
    assert!(!message.contains("hunter2"), "{message}");
}

#[tokio::test]
async fn open_fails_fast_when_redis_never_answers() {
    // Accepts connections and then says nothing, like a hung server.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let started = Instant::now();
    let error = Store::open(config_for(format!("redis://127.0.0.1:{port}/0")))
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < FAIL_FAST,
        "took {:?}",
        started.elapsed()
    );
    assert!(matches!(error, OpenError::Unreachable { .. }), "{error:?}");
    silent.abort();
}

#[tokio::test]
async fn open_rejects_bad_urls() {
    for url in ["", "redis//missing-colon", "http://127.0.0.1:6379/0"] {
        let error = Store::open(config_for(url.into())).await.unwrap_err();
        assert!(
            matches!(error, OpenError::InvalidRedisUrl { .. }),
            "{url:?}: {error:?}"
        );
    }
}

#[tokio::test]
async fn stored_bytes_are_sealed_with_a_ttl() {
    let url = redis_url();
    let prefix = unique_prefix("sealed");
    let store = redis_store(&prefix).await;
    let (code, issued) = sample_code();
    store
        .codes()
        .create(code.key(), &issued, TTL)
        .await
        .unwrap();
    let key = storage_key(&prefix, "code", code.key());
    assert!(raw_exists(&url, &key).await, "not at the documented key");

    let bytes = raw_get(&url, &key).await.unwrap();
    assert_eq!(bytes[0], 1, "format version");
    for visible in ["alice", "test-client", "callback"] {
        assert!(
            !bytes
                .windows(visible.len())
                .any(|w| w == visible.as_bytes()),
            "{visible} stored in the clear"
        );
    }
    let pttl = raw_pttl(&url, &key).await;
    assert!((59_000..=60_000).contains(&pttl), "PTTL {pttl}");
}

#[tokio::test]
async fn garbage_written_by_hand_reads_as_absent_and_is_deleted() {
    logs::capture();
    let url = redis_url();
    let prefix = unique_prefix("garbage");
    let store = redis_store(&prefix).await;
    let (code, _) = sample_authorization();
    let key = storage_key(&prefix, "code", code.key());
    raw_set(&url, &key, b"\x01definitely not AES-GCM output, no").await;
    assert!(store.codes().get(code.key()).await.unwrap().is_none());
    assert!(!raw_exists(&url, &key).await);
    let logged = logs::capture().matching("ERROR", &["corrupt record", &key]);
    assert_eq!(logged.len(), 1, "{:?}", logs::capture().lines());
}

#[tokio::test]
async fn a_record_moved_to_another_key_reads_as_absent() {
    let url = redis_url();
    let prefix = unique_prefix("moved");
    let store = redis_store(&prefix).await;
    let (code, issued) = sample_code();
    let (other, _) = sample_authorization();
    store
        .codes()
        .create(code.key(), &issued, TTL)
        .await
        .unwrap();
    let bytes = raw_get(&url, &storage_key(&prefix, "code", code.key()))
        .await
        .unwrap();
    for target in [
        storage_key(&prefix, "code", other.key()),
        storage_key(&prefix, "session", code.key()),
        // A code and its refresh family share a record key.
        storage_key(&prefix, "refresh", code.key()),
    ] {
        raw_set(&url, &target, &bytes).await;
    }
    assert!(store.codes().get(other.key()).await.unwrap().is_none());
    assert!(store.sessions().get(code.key()).await.unwrap().is_none());
    assert!(
        store
            .refresh_families()
            .get(code.key())
            .await
            .unwrap()
            .is_none()
    );
    // The original still reads.
    assert!(store.codes().get(code.key()).await.unwrap().is_some());
}

#[tokio::test]
async fn stores_on_one_server_share_only_their_own_prefix() {
    let prefix = unique_prefix("shared");
    let writer = redis_store(&prefix).await;
    let reader = redis_store(&prefix).await;
    let neighbour = redis_store(&unique_prefix("neighbour")).await;
    // A prefix full of glob characters must still match only itself.
    let globby = redis_store(&format!("{prefix}*?[a]\\")).await;

    let (code, issued) = sample_code();
    for store in [&writer, &neighbour, &globby] {
        store
            .codes()
            .create(code.key(), &issued, TTL)
            .await
            .unwrap();
    }
    // Same prefix and key: another process (say, a second server instance)
    // reads what this one wrote.
    assert!(reader.codes().get(code.key()).await.unwrap().is_some());

    assert_eq!(globby.codes().delete_all().await.unwrap(), 1);
    assert!(writer.codes().get(code.key()).await.unwrap().is_some());
    assert_eq!(writer.codes().delete_all().await.unwrap(), 1);
    assert!(neighbour.codes().get(code.key()).await.unwrap().is_some());
    assert!(reader.codes().get(code.key()).await.unwrap().is_none());
}

/// A replica with the wrong encryption key cannot read the records, and
/// deletes them as corrupt: every replica must share the key.
#[tokio::test]
async fn a_store_with_another_key_reads_absent_and_deletes() {
    let prefix = unique_prefix("rekeyed");
    let store = redis_store(&prefix).await;
    let (session, data) = sample_session();
    store
        .sessions()
        .create(session.key(), &data, TTL)
        .await
        .unwrap();
    let mut config = redis_config(&prefix);
    config.encryption_key = EncryptionKey::generate();
    let rekeyed = Store::open(config).await.unwrap();
    assert!(store.sessions().get(session.key()).await.unwrap().is_some());
    assert!(
        rekeyed
            .sessions()
            .get(session.key())
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.sessions().get(session.key()).await.unwrap().is_none());
}

#[tokio::test]
async fn many_concurrent_operations_share_a_small_pool() {
    let store = Arc::new(redis_store(&unique_prefix("busy")).await);
    let workers: Vec<_> = (0..64)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                for _ in 0..10 {
                    let (code, issued) = sample_code();
                    store
                        .codes()
                        .create(code.key(), &issued, TTL)
                        .await
                        .unwrap();
                    assert!(store.codes().take(code.key()).await.unwrap().is_some());
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
}

/// A TCP proxy in front of the test Redis that can be cut off and restored,
/// to simulate an outage without touching the shared server.
struct Proxy {
    port: u16,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(port: u16, upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let tasks = Arc::new(Mutex::new(Vec::new()));
        let accepted = Arc::clone(&tasks);
        let acceptor = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let relay = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                accepted.lock().unwrap().push(relay);
            }
        });
        tasks.lock().unwrap().push(acceptor);
        Self { port, tasks }
    }

    /// Stops listening and drops every relayed connection.
    fn cut(self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

/// The test Redis's address and database, from its URL.
fn upstream() -> (SocketAddr, String) {
    let url = url::Url::parse(&redis_url()).unwrap();
    let host = url.host_str().unwrap().trim_matches(['[', ']']).to_owned();
    let port = url.port().unwrap_or(6379);
    let address = format!("{host}:{port}")
        .parse()
        .or_else(|_| format!("127.0.0.1:{port}").parse())
        .unwrap();
    (address, url.path().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_is_unavailable_quickly_and_recovery_is_automatic() {
    let (address, db) = upstream();
    let proxy = Proxy::start(0, address).await;
    let port = proxy.port;
    let mut config = redis_config(&unique_prefix("outage"));
    config.backend = BackendConfig::Redis {
        url: format!("redis://127.0.0.1:{port}{db}"),
        pool_size: 1,
    };
    let store = Store::open(config).await.unwrap();
    let (code, issued) = sample_code();
    store
        .codes()
        .create(code.key(), &issued, TTL)
        .await
        .unwrap();

    proxy.cut();
    let started = Instant::now();
    for _ in 0..3 {
        assert!(matches!(
            store.codes().get(code.key()).await,
            Err(StoreError::Unavailable(_))
        ));
        assert!(matches!(
            store.ping().await,
            Err(StoreError::Unavailable(_))
        ));
    }
    assert!(
        started.elapsed() < FAIL_FAST,
        "took {:?}",
        started.elapsed()
    );

    // Redis is back: the pool reconnects without help, and nothing was lost.
    let proxy = Proxy::start(port, address).await;
    assert!(store.codes().get(code.key()).await.unwrap().is_some());
    store.ping().await.unwrap();
    proxy.cut();
}

/// One authorization flow at the store: a login (session and user index),
/// a code under it, its redemption with the session, an access token under
/// the code read back with its session. `Err` if the store failed; every
/// failure must be `Unavailable`, never a wrong answer.
async fn store_flow(store: &Store) -> Result<(), StoreError> {
    const TTL: Duration = Duration::from_secs(60);
    let (_, mut session_data) = sample_session();
    let session = SessionToken::with_key(store.new_session_key("alice"));
    session_data.secret_hash = session.secret_hash();
    store
        .sessions()
        .create(session.key(), &session_data, TTL)
        .await?;
    store
        .user_index()
        .add(
            "alice",
            session.key(),
            porthor_test_support::now(),
            TTL,
            100,
        )
        .await?;
    let code = AuthorizationCode::generate_linked(session.key()).unwrap();
    let (_, authorization) = sample_authorization();
    store
        .codes()
        .create(code.key(), &CodeState::Issued(authorization), TTL)
        .await?;
    let token = AccessToken::generate_linked(code.key()).unwrap();
    let redeemed = CodeState::Redeemed {
        secret_hash: code.secret_hash(),
        access_token: token.key().clone(),
    };
    let (issued, found) = store
        .redeem_code_with_session(code.key(), &redeemed)
        .await?;
    assert!(matches!(issued, Some(CodeState::Issued(_))), "{issued:?}");
    assert!(found.is_some());
    let (_, token_data) = sample_access_token();
    store
        .access_tokens()
        .create(token.key(), &token_data, TTL)
        .await?;
    let (token_found, session_found, _) = store.access_token_with_grant(token.key()).await?;
    assert!(token_found.is_some() && session_found.is_some());
    Ok(())
}

/// The master the test sentinels name now: `host:port`.
async fn sentinel_master() -> String {
    let url = sentinel_urls().remove(0);
    let mut sentinel = client::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let (host, port): (String, String) = client::cmd("SENTINEL")
        .arg("get-master-addr-by-name")
        .arg(SENTINEL_MASTER)
        .query_async(&mut sentinel)
        .await
        .unwrap();
    format!("{host}:{port}")
}

/// Flows run while the master of a Sentinel group is shut down: they fail
/// as `Unavailable` while Sentinel promotes the replica, then succeed on
/// the new master with the same store (no restart, no reconfiguration).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sentinel_failover_is_followed_without_a_restart() {
    let store = Store::open(redis_sentinel_config(&unique_prefix("failover")))
        .await
        .unwrap();
    for _ in 0..20 {
        store_flow(&store).await.unwrap();
    }
    let old_master = sentinel_master().await;
    let mut master = client::Client::open(format!("redis://{old_master}"))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    // The server closes the connection instead of answering.
    let _ = client::cmd("SHUTDOWN")
        .arg("NOSAVE")
        .query_async::<()>(&mut master)
        .await;

    let started = Instant::now();
    let (mut failed, mut succeeded_after) = (0, 0);
    while succeeded_after < 20 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no failover within a minute ({failed} flows failed)"
        );
        match store_flow(&store).await {
            Ok(()) => succeeded_after += 1,
            Err(StoreError::Unavailable(_)) => {
                failed += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => panic!("a flow failed otherwise than unavailable: {error:?}"),
        }
    }
    let new_master = sentinel_master().await;
    assert_ne!(new_master, old_master, "sentinel promoted the replica");
    assert!(
        failed > 0,
        "the outage was seen (else the test proves nothing)"
    );
}
