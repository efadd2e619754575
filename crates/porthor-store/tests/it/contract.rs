//! The `AuthorizationStore` contract, checked against both backends.
//!
//! Each check is written once against a [`Harness`]; the macro at the end
//! runs it as `contract::memory::<check>` and `contract::redis::<check>`.

use std::sync::Arc;
use std::time::Duration;

use porthor_models::{
    AccessToken, AuthorizationCode, AuthorizationStore as _, RecordKey, StoreError,
};
use porthor_store::Store;
use porthor_test_support::{
    memory_store, redis_store, sample_access_token, sample_authorization, sample_session,
    storage_key, unique_prefix,
};
use serde::Serialize;

const TTL: Duration = Duration::from_secs(60);

pub(crate) struct Harness {
    store: Arc<Store>,
}

impl Harness {
    async fn memory() -> Self {
        Self {
            store: Arc::new(memory_store().await),
        }
    }

    async fn redis(test: &str) -> Self {
        Self {
            store: Arc::new(redis_store(&unique_prefix(test)).await),
        }
    }

    fn storage_key(&self, kind: &str, key: &RecordKey) -> String {
        storage_key(self.store.key_prefix(), kind, key)
    }
}

/// Records have no `PartialEq`; their serialized forms say the same thing.
fn assert_same<T: Serialize>(actual: &T, expected: &T) {
    assert_eq!(
        serde_json::to_value(actual).unwrap(),
        serde_json::to_value(expected).unwrap()
    );
}

async fn create_then_get(h: &Harness) {
    let store = &h.store;
    let (code, authorization) = sample_authorization();
    let (session, session_data) = sample_session();
    let (token, token_data) = sample_access_token();
    store
        .codes()
        .create(code.key(), &authorization, TTL)
        .await
        .unwrap();
    store
        .sessions()
        .create(session.key(), &session_data, TTL)
        .await
        .unwrap();
    store
        .access_tokens()
        .create(token.key(), &token_data, TTL)
        .await
        .unwrap();

    // Reading does not consume.
    for _ in 0..2 {
        let read = store.codes().get(code.key()).await.unwrap().unwrap();
        assert_same(&read, &authorization);
        assert!(read.secret_hash.verify(&code.secret_hash()));
    }
    assert_same(
        &store.sessions().get(session.key()).await.unwrap().unwrap(),
        &session_data,
    );
    assert_same(
        &store
            .access_tokens()
            .get(token.key())
            .await
            .unwrap()
            .unwrap(),
        &token_data,
    );

    // Kinds are separate namespaces: a code's key names no session.
    assert!(store.sessions().get(code.key()).await.unwrap().is_none());
    let (unknown, _) = sample_authorization();
    assert!(store.codes().get(unknown.key()).await.unwrap().is_none());
}

async fn create_replaces(h: &Harness) {
    let store = &h.store;
    let (code, first) = sample_authorization();
    let mut second = first.clone();
    second.client_id = "other-client".into();
    store.codes().create(code.key(), &first, TTL).await.unwrap();
    store
        .codes()
        .create(code.key(), &second, TTL)
        .await
        .unwrap();
    let read = store.codes().get(code.key()).await.unwrap().unwrap();
    assert_eq!(read.client_id, "other-client");
}

async fn take_returns_once(h: &Harness) {
    let store = &h.store;
    let (code, authorization) = sample_authorization();
    store
        .codes()
        .create(code.key(), &authorization, TTL)
        .await
        .unwrap();
    let taken = store.codes().take(code.key()).await.unwrap().unwrap();
    assert_same(&taken, &authorization);
    assert!(store.codes().take(code.key()).await.unwrap().is_none());
    assert!(store.codes().get(code.key()).await.unwrap().is_none());
}

async fn concurrent_takes_yield_one_record(h: &Harness) {
    const TAKERS: usize = 32;
    for _round in 0..3 {
        let (code, authorization) = sample_authorization();
        h.store
            .codes()
            .create(code.key(), &authorization, TTL)
            .await
            .unwrap();
        let start = Arc::new(tokio::sync::Barrier::new(TAKERS));
        let takers: Vec<_> = (0..TAKERS)
            .map(|_| {
                let store = Arc::clone(&h.store);
                let key = code.key().clone();
                let start = Arc::clone(&start);
                tokio::spawn(async move {
                    start.wait().await;
                    store.codes().take(&key).await.unwrap()
                })
            })
            .collect();
        let mut winners = 0;
        for taker in takers {
            if let Some(taken) = taker.await.unwrap() {
                assert_same(&taken, &authorization);
                winners += 1;
            }
        }
        assert_eq!(winners, 1, "exactly one concurrent take must win");
    }
}

async fn delete_says_whether_it_existed(h: &Harness) {
    let store = &h.store;
    let (session, data) = sample_session();
    assert!(!store.sessions().delete(session.key()).await.unwrap());
    store
        .sessions()
        .create(session.key(), &data, TTL)
        .await
        .unwrap();
    assert!(store.sessions().delete(session.key()).await.unwrap());
    assert!(!store.sessions().delete(session.key()).await.unwrap());
    assert!(store.sessions().get(session.key()).await.unwrap().is_none());
}

async fn delete_all_removes_only_its_kind_and_prefix(h: &Harness) {
    let store = &h.store;
    let mut codes = Vec::new();
    for _ in 0..3 {
        let (code, authorization) = sample_authorization();
        store
            .codes()
            .create(code.key(), &authorization, TTL)
            .await
            .unwrap();
        codes.push(code);
    }
    let (session, session_data) = sample_session();
    store
        .sessions()
        .create(session.key(), &session_data, TTL)
        .await
        .unwrap();
    let (token, token_data) = sample_access_token();
    store
        .access_tokens()
        .create(token.key(), &token_data, TTL)
        .await
        .unwrap();
    // Keys that share a beginning with this store's code namespace but are
    // not in it: another prefix that extends ours, and a longer kind name.
    let prefix = store.key_prefix();
    let neighbours = [
        format!("{prefix}x:v1:code:{}", codes[0].key()),
        format!("{prefix}:v1:codes:{}", codes[0].key()),
        format!("other-{prefix}:v1:code:{}", codes[0].key()),
    ];
    for neighbour in &neighbours {
        store.put_raw(neighbour, b"neighbour", TTL).await.unwrap();
    }

    assert_eq!(store.codes().delete_all().await.unwrap(), 3);
    for code in &codes {
        assert!(store.codes().get(code.key()).await.unwrap().is_none());
    }
    assert!(store.sessions().get(session.key()).await.unwrap().is_some());
    assert!(
        store
            .access_tokens()
            .get(token.key())
            .await
            .unwrap()
            .is_some()
    );
    for neighbour in &neighbours {
        assert!(store.exists_raw(neighbour).await.unwrap(), "{neighbour}");
    }
    assert_eq!(store.codes().delete_all().await.unwrap(), 0);
    assert_eq!(store.sessions().delete_all().await.unwrap(), 1);
    assert_eq!(store.access_tokens().delete_all().await.unwrap(), 1);
}

async fn records_expire(h: &Harness) {
    let store = &h.store;
    let (code, authorization) = sample_authorization();
    let (session, session_data) = sample_session();
    let (token, token_data) = sample_access_token();
    let short = Duration::from_secs(1);
    store
        .codes()
        .create(code.key(), &authorization, short)
        .await
        .unwrap();
    store
        .sessions()
        .create(session.key(), &session_data, short)
        .await
        .unwrap();
    store
        .access_tokens()
        .create(token.key(), &token_data, TTL)
        .await
        .unwrap();
    assert!(store.codes().get(code.key()).await.unwrap().is_some());

    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(store.codes().get(code.key()).await.unwrap().is_none());
    assert!(store.codes().take(code.key()).await.unwrap().is_none());
    assert!(!store.sessions().delete(session.key()).await.unwrap());
    assert_eq!(store.sessions().delete_all().await.unwrap(), 0);
    // A longer TTL is unaffected.
    assert!(
        store
            .access_tokens()
            .get(token.key())
            .await
            .unwrap()
            .is_some()
    );
}

async fn zero_ttl_stores_nothing(h: &Harness) {
    let store = &h.store;
    let (code, authorization) = sample_authorization();
    store
        .codes()
        .create(code.key(), &authorization, Duration::ZERO)
        .await
        .unwrap();
    assert!(store.codes().get(code.key()).await.unwrap().is_none());

    // It still replaces: the previous value is gone, not left behind.
    store
        .codes()
        .create(code.key(), &authorization, TTL)
        .await
        .unwrap();
    store
        .codes()
        .create(code.key(), &authorization, Duration::ZERO)
        .await
        .unwrap();
    assert!(store.codes().get(code.key()).await.unwrap().is_none());

    // Sub-millisecond TTLs are stored (briefly), not rejected.
    store
        .codes()
        .create(code.key(), &authorization, Duration::from_micros(10))
        .await
        .unwrap();
}

async fn corrupt_records_are_errors(h: &Harness) {
    let store = &h.store;
    let garbage: [&[u8]; 5] = [
        b"",
        b"\x01",
        b"not a sealed record at all, but long enough to look like one",
        b"\x09aaaaaaaaaaaabbbbbbbbbbbbbbbbcccccccc",
        &[1u8; 64],
    ];
    for bytes in garbage {
        let (code, _) = sample_authorization();
        let key = h.storage_key("code", code.key());
        store.put_raw(&key, bytes, TTL).await.unwrap();
        match store.codes().get(code.key()).await {
            Err(StoreError::Corrupt { key: reported, .. }) => assert_eq!(reported, key),
            other => panic!("garbage {bytes:?} read as {other:?}"),
        }
        assert!(matches!(
            store.codes().take(code.key()).await,
            Err(StoreError::Corrupt { .. })
        ));
        // The take removed it all the same: a corrupt code is not retried.
        assert!(store.codes().get(code.key()).await.unwrap().is_none());
    }

    // Garbage in one kind does not spoil reading another.
    let (session, data) = sample_session();
    store
        .sessions()
        .create(session.key(), &data, TTL)
        .await
        .unwrap();
    store
        .put_raw(&h.storage_key("token", session.key()), b"junk", TTL)
        .await
        .unwrap();
    assert!(store.sessions().get(session.key()).await.unwrap().is_some());
    assert!(matches!(
        store.access_tokens().get(session.key()).await,
        Err(StoreError::Corrupt { .. })
    ));
}

/// A linked code comes back with its session, in one call, and only once;
/// an access token likewise (without being consumed).
async fn records_come_with_their_session(h: &Harness) {
    let store = &h.store;
    let (session, session_data) = sample_session();
    store
        .sessions()
        .create(session.key(), &session_data, TTL)
        .await
        .unwrap();
    let code = AuthorizationCode::generate_linked(session.key()).unwrap();
    let (_, mut authorization) = sample_authorization();
    authorization.secret_hash = code.secret_hash();
    authorization.session_key = session.key().clone();
    store
        .codes()
        .create(code.key(), &authorization, TTL)
        .await
        .unwrap();

    let (taken, with) = store.take_code_with_session(code.key()).await.unwrap();
    assert_same(&taken.unwrap(), &authorization);
    assert_same(&with.unwrap(), &session_data);
    let (again, with) = store.take_code_with_session(code.key()).await.unwrap();
    assert!(again.is_none(), "a code is taken once");
    assert!(with.is_some(), "the session is only read");

    let token = AccessToken::generate_linked(session.key()).unwrap();
    let (_, mut token_data) = sample_access_token();
    token_data.session_key = session.key().clone();
    store
        .access_tokens()
        .create(token.key(), &token_data, TTL)
        .await
        .unwrap();
    for _ in 0..2 {
        let (data, with) = store.access_token_with_session(token.key()).await.unwrap();
        assert_same(&data.unwrap(), &token_data);
        assert!(with.is_some());
    }

    // The session gone: the records still come, without it.
    store.sessions().delete(session.key()).await.unwrap();
    let (data, with) = store.access_token_with_session(token.key()).await.unwrap();
    assert!(data.is_some() && with.is_none());
    // An unlinked key has no session to read.
    let (plain, _) = sample_authorization();
    assert!(matches!(
        store.take_code_with_session(plain.key()).await,
        Ok((None, None))
    ));
}

/// Either half corrupt is a `Corrupt` error, and the code is consumed.
async fn corrupt_halves_are_errors(h: &Harness) {
    let store = &h.store;
    let (session, session_data) = sample_session();
    let code = AuthorizationCode::generate_linked(session.key()).unwrap();
    let (_, authorization) = sample_authorization();
    store
        .codes()
        .create(code.key(), &authorization, TTL)
        .await
        .unwrap();
    store
        .put_raw(&h.storage_key("session", session.key()), b"junk", TTL)
        .await
        .unwrap();
    assert!(matches!(
        store.take_code_with_session(code.key()).await,
        Err(StoreError::Corrupt { .. })
    ));
    assert!(store.codes().get(code.key()).await.unwrap().is_none());

    store
        .sessions()
        .create(session.key(), &session_data, TTL)
        .await
        .unwrap();
    let token = AccessToken::generate_linked(session.key()).unwrap();
    store
        .put_raw(&h.storage_key("token", token.key()), b"junk", TTL)
        .await
        .unwrap();
    match store.access_token_with_session(token.key()).await {
        Err(StoreError::Corrupt { key, .. }) => {
            assert_eq!(key, h.storage_key("token", token.key()))
        }
        other => panic!("{other:?}"),
    }
}

async fn ping_answers(h: &Harness) {
    h.store.ping().await.unwrap();
}

macro_rules! contract {
    ($($check:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $check() {
                    super::$check(&super::Harness::memory().await).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $check() {
                    super::$check(&super::Harness::redis(stringify!($check)).await).await;
                }
            )*
        }
    };
}

contract!(
    create_then_get,
    create_replaces,
    take_returns_once,
    concurrent_takes_yield_one_record,
    delete_says_whether_it_existed,
    delete_all_removes_only_its_kind_and_prefix,
    records_expire,
    zero_ttl_stores_nothing,
    corrupt_records_are_errors,
    records_come_with_their_session,
    corrupt_halves_are_errors,
    ping_answers,
);
