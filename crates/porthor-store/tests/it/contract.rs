//! The `AuthorizationStore` contract, checked against both backends.
//!
//! Each check is written once against a [`Harness`]; the macro at the end
//! runs it as `contract::memory::<check>`, `contract::redis::<check>` and
//! `contract::cluster::<check>` (on a Redis Cluster).

use std::collections::HashSet;
use std::fmt::Debug;
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;

use porthor_models::{
    AccessToken, AccessTokenData, Authorization, AuthorizationCode, AuthorizationStore as _,
    CodeState, ConsentGrant, Counter, CounterKind, CounterLimit, Keyspace, RecordKey,
    RefreshFamily, RefreshToken, Scopes, SessionData, SessionToken, StoreError, Tally, Timestamp,
};
use porthor_store::{BackendConfig, EncryptionKey, Store, StoreConfig};
use porthor_test_support::{
    SAMPLE_NOW, logs, memory_store, raw_exists, raw_keys, raw_pttl, redis_cluster_store,
    redis_store, redis_url, sample_access_token, sample_authorization, sample_session, storage_key,
    test_encryption_key, unique_prefix,
};
use serde::Serialize;

const TTL: Duration = Duration::from_secs(60);
/// Long enough that nothing expires during the steps before a wait, short
/// enough to wait out.
const SHORT: Duration = Duration::from_secs(1);
/// Comfortably past [`SHORT`]. The waits for it are real: the store has no
/// clock to advance, its records expire by the backend's own TTL (`PX` on
/// Redis, an `Instant` deadline in memory), and those TTLs are what these
/// checks are about.
const PAST_SHORT: Duration = Duration::from_millis(1500);

pub(crate) struct Harness {
    store: Arc<Store>,
    /// The Redis behind the store, for checks that bypass it (`EXISTS`,
    /// `PTTL`); `None` for the memory backend.
    redis_url: Option<String>,
}

impl Harness {
    async fn memory() -> Self {
        logs::capture();
        Self {
            store: Arc::new(memory_store().await),
            redis_url: None,
        }
    }

    async fn redis(test: &str) -> Self {
        logs::capture();
        Self {
            store: Arc::new(redis_store(&unique_prefix(test)).await),
            redis_url: Some(redis_url()),
        }
    }

    /// On the test Redis Cluster. Raw checks go through the store (a plain
    /// connection to one node would meet `MOVED`), so TTLs are checked by
    /// waiting them out only, as in memory.
    async fn cluster(test: &str) -> Self {
        logs::capture();
        Self {
            store: Arc::new(redis_cluster_store(&unique_prefix(test)).await),
            redis_url: None,
        }
    }

    fn storage_key(&self, kind: &str, key: &RecordKey) -> String {
        storage_key(self.store.key_prefix(), kind, key)
    }

    /// Whether anything at all is stored at the record's key. On Redis this
    /// is a raw `EXISTS`, which also sees a value without a TTL or one the
    /// store could not read back.
    async fn exists(&self, kind: &str, key: &RecordKey) -> bool {
        let storage_key = self.storage_key(kind, key);
        match &self.redis_url {
            Some(url) => raw_exists(url, &storage_key).await,
            None => self.store.exists_raw(&storage_key).await.unwrap(),
        }
    }

    /// On Redis, asserts that the record's `PTTL` is within `expected`. In
    /// memory a TTL is only observable by waiting it out, which the checks
    /// using this do as well.
    async fn assert_pttl(&self, kind: &str, key: &RecordKey, expected: RangeInclusive<Duration>) {
        self.assert_storage_pttl(&self.storage_key(kind, key), expected)
            .await;
    }

    /// [`Harness::assert_pttl`] for `username`'s user index.
    async fn assert_index_pttl(&self, username: &str, expected: RangeInclusive<Duration>) {
        self.assert_storage_pttl(&self.store.user_index_storage_key(username), expected)
            .await;
    }

    async fn assert_storage_pttl(&self, storage_key: &str, expected: RangeInclusive<Duration>) {
        let Some(url) = &self.redis_url else { return };
        let pttl = raw_pttl(url, storage_key).await;
        let millis = |d: &Duration| i64::try_from(d.as_millis()).unwrap();
        let (low, high) = (millis(expected.start()), millis(expected.end()));
        assert!(
            (low..=high).contains(&pttl),
            "{storage_key} PTTL {pttl}, expected {low}..={high}"
        );
    }
}

/// Records have no `PartialEq`; their serialized forms say the same thing.
fn assert_same<T: Serialize>(actual: &T, expected: &T) {
    assert_eq!(
        serde_json::to_value(actual).unwrap(),
        serde_json::to_value(expected).unwrap()
    );
}

/// What a redemption leaves at `code`'s key: the code's hash and the key of
/// a fresh access token under it, so that every marker is distinct.
fn redeemed(code: &AuthorizationCode) -> CodeState {
    CodeState::Redeemed {
        secret_hash: code.secret_hash(),
        access_token: AccessToken::generate_linked(code.key())
            .unwrap()
            .key()
            .clone(),
    }
}

/// The access token key a redeemed marker names; `None` for an issued code.
fn marker_token(state: &CodeState) -> Option<&RecordKey> {
    match state {
        CodeState::Issued(_) => None,
        CodeState::Redeemed { access_token, .. } => Some(access_token),
    }
}

/// A refresh-token family at `key` (the key of the code that started it),
/// for user `alice`.
fn sample_family(key: &RecordKey) -> RefreshFamily {
    RefreshFamily {
        secret_hash: RefreshToken::with_key(key.clone()).secret_hash(),
        retired: Vec::new(),
        client_id: "test-client".into(),
        session_key: key
            .session()
            .unwrap_or_else(|| SessionToken::generate().key().clone()),
        username: "alice".into(),
        scopes: Scopes::parse("openid offline_access"),
        auth_time: SAMPLE_NOW,
        issued_at: SAMPLE_NOW,
        expires_at: SAMPLE_NOW.after(Duration::from_secs(30 * 24 * 3600)),
        idle_expires_at: SAMPLE_NOW.after(Duration::from_secs(24 * 3600)),
    }
}

/// `username`'s approval of `openid email` for `client_id`.
fn sample_consent(username: &str, client_id: &str) -> ConsentGrant {
    ConsentGrant {
        username: username.into(),
        client_id: client_id.into(),
        scopes: Scopes::parse("openid email"),
        granted_at: SAMPLE_NOW,
        expires_at: SAMPLE_NOW.after(Duration::from_secs(90 * 24 * 3600)),
    }
}

/// One grant as the provider issues it, with keys chained the same way: a
/// login session, a code linked to it (44 characters), the refresh-token
/// family at the code's key, and an access token linked to the code (66).
struct Grant {
    session: SessionToken,
    session_data: SessionData,
    code: AuthorizationCode,
    authorization: Authorization,
    family: RefreshFamily,
    token: AccessToken,
    token_data: AccessTokenData,
}

impl Grant {
    fn sample() -> Self {
        let (session, session_data) = sample_session();
        let code = AuthorizationCode::generate_linked(session.key()).unwrap();
        let (_, mut authorization) = sample_authorization();
        authorization.secret_hash = code.secret_hash();
        authorization.session_key = session.key().clone();
        let token = AccessToken::generate_linked(code.key()).unwrap();
        let (_, mut token_data) = sample_access_token();
        token_data.secret_hash = token.secret_hash();
        token_data.session_key = session.key().clone();
        token_data.refreshable = true;
        Self {
            family: sample_family(code.key()),
            session,
            session_data,
            code,
            authorization,
            token,
            token_data,
        }
    }

    fn issued(&self) -> CodeState {
        CodeState::Issued(self.authorization.clone())
    }

    /// Stores the session, the issued code, the family and the token.
    async fn store(&self, store: &Store) {
        store
            .sessions()
            .create(self.session.key(), &self.session_data, TTL)
            .await
            .unwrap();
        store
            .codes()
            .create(self.code.key(), &self.issued(), TTL)
            .await
            .unwrap();
        store
            .refresh_families()
            .create(self.code.key(), &self.family, TTL)
            .await
            .unwrap();
        store
            .access_tokens()
            .create(self.token.key(), &self.token_data, TTL)
            .await
            .unwrap();
    }
}

async fn create_then_get(h: &Harness) {
    let store = &h.store;
    let (code, authorization) = sample_authorization();
    let issued = CodeState::Issued(authorization);
    let (session, session_data) = sample_session();
    let (token, token_data) = sample_access_token();
    let family = sample_family(code.key());
    store
        .codes()
        .create(code.key(), &issued, TTL)
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
    store
        .refresh_families()
        .create(code.key(), &family, TTL)
        .await
        .unwrap();

    // Reading does not consume.
    for _ in 0..2 {
        let read = store.codes().get(code.key()).await.unwrap().unwrap();
        assert_same(&read, &issued);
        let CodeState::Issued(read) = read else {
            panic!("read back as {read:?}")
        };
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
    assert_same(
        &store
            .refresh_families()
            .get(code.key())
            .await
            .unwrap()
            .unwrap(),
        &family,
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
    let second = CodeState::Issued(second);
    store
        .codes()
        .create(code.key(), &CodeState::Issued(first), TTL)
        .await
        .unwrap();
    store
        .codes()
        .create(code.key(), &second, TTL)
        .await
        .unwrap();
    let read = store.codes().get(code.key()).await.unwrap().unwrap();
    assert_same(&read, &second);
}

async fn take_returns_once(h: &Harness) {
    let store = &h.store;
    let (code, authorization) = sample_authorization();
    let issued = CodeState::Issued(authorization);
    store
        .codes()
        .create(code.key(), &issued, TTL)
        .await
        .unwrap();
    let taken = store.codes().take(code.key()).await.unwrap().unwrap();
    assert_same(&taken, &issued);
    assert!(store.codes().take(code.key()).await.unwrap().is_none());
    assert!(store.codes().get(code.key()).await.unwrap().is_none());
}

async fn concurrent_takes_yield_one_record(h: &Harness) {
    const TAKERS: usize = 32;
    for _round in 0..3 {
        let (code, authorization) = sample_authorization();
        let issued = CodeState::Issued(authorization);
        h.store
            .codes()
            .create(code.key(), &issued, TTL)
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
                assert_same(&taken, &issued);
                winners += 1;
            }
        }
        assert_eq!(winners, 1, "exactly one concurrent take must win");
    }
}

async fn replace_swaps_a_live_record(h: &Harness) {
    let codes = h.store.codes();
    let (code, authorization) = sample_authorization();
    let issued = CodeState::Issued(authorization);
    let (first, second) = (redeemed(&code), redeemed(&code));
    codes.create(code.key(), &issued, TTL).await.unwrap();

    let old = codes.replace(code.key(), &first, None).await.unwrap();
    assert_same(&old.unwrap(), &issued);
    assert_same(&codes.get(code.key()).await.unwrap().unwrap(), &first);
    // Each replacement hands back what the one before it stored, with or
    // without a new TTL.
    let old = codes.replace(code.key(), &second, Some(TTL)).await.unwrap();
    assert_same(&old.unwrap(), &first);
    assert_same(&codes.get(code.key()).await.unwrap().unwrap(), &second);
}

/// A spent code must never come back: replacing a missing or expired record
/// stores nothing (on Redis, a `SET` without `XX` would even store it with no
/// TTL at all).
async fn replace_never_creates(h: &Harness) {
    let (code, authorization) = sample_authorization();
    assert_replace_finds_nothing(h, &code).await;

    // Expired counts as missing, even before the backend has swept it.
    h.store
        .codes()
        .create(
            code.key(),
            &CodeState::Issued(authorization),
            Duration::from_millis(100),
        )
        .await
        .unwrap();
    // A real wait past the backend's TTL (see [`PAST_SHORT`]).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_replace_finds_nothing(h, &code).await;
}

/// Replacing `code`, with or without a TTL, returns nothing and leaves no
/// key behind.
async fn assert_replace_finds_nothing(h: &Harness, code: &AuthorizationCode) {
    let codes = h.store.codes();
    for ttl in [None, Some(TTL)] {
        let old = codes.replace(code.key(), &redeemed(code), ttl).await;
        assert!(old.unwrap().is_none(), "ttl {ttl:?}");
        assert!(codes.get(code.key()).await.unwrap().is_none());
        assert!(!h.exists("code", code.key()).await, "ttl {ttl:?}");
    }
}

async fn replace_sets_or_keeps_the_ttl(h: &Harness) {
    let codes = h.store.codes();
    // One record per case: a replacement that shortens the TTL, one that
    // keeps a short TTL, and one that lengthens it.
    let [shortened, kept, lengthened] = [(); 3].map(|()| sample_authorization());
    let started = [(&shortened, TTL), (&kept, SHORT), (&lengthened, SHORT)];
    for ((code, authorization), ttl) in started {
        codes
            .create(code.key(), &CodeState::Issued(authorization.clone()), ttl)
            .await
            .unwrap();
    }
    let replaced = [
        (&shortened, Some(SHORT)),
        (&kept, None),
        (&lengthened, Some(TTL)),
    ];
    for ((code, _), ttl) in replaced {
        let old = codes.replace(code.key(), &redeemed(code), ttl).await;
        assert!(old.unwrap().is_some(), "ttl {ttl:?}");
    }
    // `None` must keep the old TTL, not drop it (a Redis `SET` without
    // `KEEPTTL` makes the key permanent, PTTL -1).
    h.assert_pttl("code", shortened.0.key(), Duration::from_millis(1)..=SHORT)
        .await;
    h.assert_pttl("code", kept.0.key(), Duration::from_millis(1)..=SHORT)
        .await;
    h.assert_pttl("code", lengthened.0.key(), TTL - SHORT..=TTL)
        .await;

    tokio::time::sleep(PAST_SHORT).await;
    assert!(codes.get(shortened.0.key()).await.unwrap().is_none());
    assert!(codes.get(kept.0.key()).await.unwrap().is_none());
    assert!(matches!(
        codes.get(lengthened.0.key()).await.unwrap(),
        Some(CodeState::Redeemed { .. })
    ));

    // A zero TTL replaces with something already expired: the old record
    // comes back and nothing is left behind.
    let (code, authorization) = sample_authorization();
    let issued = CodeState::Issued(authorization);
    codes.create(code.key(), &issued, TTL).await.unwrap();
    let old = codes
        .replace(code.key(), &redeemed(&code), Some(Duration::ZERO))
        .await
        .unwrap();
    assert_same(&old.unwrap(), &issued);
    assert!(!h.exists("code", code.key()).await);
}

/// Concurrent replacements of one record form a single chain of swaps: one
/// replacer gets the original, every other gets the value of exactly one
/// other replacer, and the last value written is the one left stored. So a
/// code is redeemed once, however many presentations race.
async fn concurrent_replaces_see_the_original_once(h: &Harness) {
    const REPLACERS: usize = 32;
    for _round in 0..3 {
        let (code, authorization) = sample_authorization();
        let issued = CodeState::Issued(authorization);
        h.store
            .codes()
            .create(code.key(), &issued, TTL)
            .await
            .unwrap();
        let markers: Vec<CodeState> = (0..REPLACERS).map(|_| redeemed(&code)).collect();
        let start = Arc::new(tokio::sync::Barrier::new(REPLACERS));
        let replacers: Vec<_> = markers
            .iter()
            .cloned()
            .map(|marker| {
                let store = Arc::clone(&h.store);
                let key = code.key().clone();
                let start = Arc::clone(&start);
                tokio::spawn(async move {
                    start.wait().await;
                    store.codes().replace(&key, &marker, None).await.unwrap()
                })
            })
            .collect();
        let mut originals = 0;
        let mut seen = Vec::new();
        for replacer in replacers {
            // The record is never absent, so every replacer sees something.
            let old = replacer.await.unwrap().unwrap();
            match marker_token(&old) {
                None => {
                    assert_same(&old, &issued);
                    originals += 1;
                }
                Some(token) => seen.push(token.clone()),
            }
        }
        assert_eq!(originals, 1, "exactly one replacer sees the original");
        let last = h.store.codes().get(code.key()).await.unwrap().unwrap();
        seen.push(marker_token(&last).unwrap().clone());
        let written: HashSet<_> = markers.iter().filter_map(marker_token).collect();
        assert_eq!(seen.len(), REPLACERS);
        assert_eq!(
            seen.iter().collect::<HashSet<_>>(),
            written,
            "every marker written is seen exactly once: none lost, none duplicated"
        );
    }
}

async fn extend_lengthens_never_shortens(h: &Harness) {
    let sessions = h.store.sessions();
    let [lengthened, unchanged, lapsed, missing] = [(); 4].map(|()| sample_session());
    for ((session, data), ttl) in [(&lengthened, SHORT), (&unchanged, TTL), (&lapsed, SHORT)] {
        sessions.create(session.key(), data, ttl).await.unwrap();
    }
    sessions.extend(lengthened.0.key(), TTL).await.unwrap();
    // Neither a shorter TTL nor a zero one cuts a record's life short.
    sessions.extend(unchanged.0.key(), SHORT).await.unwrap();
    sessions
        .extend(unchanged.0.key(), Duration::ZERO)
        .await
        .unwrap();
    sessions.extend(missing.0.key(), TTL).await.unwrap();
    h.assert_pttl("session", lengthened.0.key(), TTL - SHORT..=TTL)
        .await;
    h.assert_pttl("session", unchanged.0.key(), TTL - SHORT..=TTL)
        .await;
    assert!(sessions.get(missing.0.key()).await.unwrap().is_none());
    assert!(!h.exists("session", missing.0.key()).await);

    tokio::time::sleep(PAST_SHORT).await;
    assert!(sessions.get(lengthened.0.key()).await.unwrap().is_some());
    assert!(sessions.get(unchanged.0.key()).await.unwrap().is_some());
    // An expired record is missing: extending it does not bring it back.
    sessions.extend(lapsed.0.key(), TTL).await.unwrap();
    assert!(sessions.get(lapsed.0.key()).await.unwrap().is_none());
    assert!(!h.exists("session", lapsed.0.key()).await);
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
            .create(code.key(), &CodeState::Issued(authorization), TTL)
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
    // A family at a code's key: same record key, another kind.
    store
        .refresh_families()
        .create(codes[0].key(), &sample_family(codes[0].key()), TTL)
        .await
        .unwrap();
    // Keys that share a beginning with this store's code namespace but are
    // not in it: another prefix that extends ours, and a longer kind name.
    let prefix = store.key_prefix();
    let documented = storage_key(prefix, "code", codes[0].key());
    let neighbours = [
        documented.replacen(prefix, &format!("{prefix}x"), 1),
        documented.replace(":code:", ":codes:"),
        format!("other-{documented}"),
        // The layout before slot tags, which this one does not read.
        format!("{prefix}:v1:code:{}", codes[0].key()),
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
    assert!(
        store
            .refresh_families()
            .get(codes[0].key())
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
    assert_eq!(store.refresh_families().delete_all().await.unwrap(), 1);
}

/// Refresh families live at `{prefix}:{<tag>}:v2:refresh:{key}`, under the key of
/// the code that started them: the code and its family share a record key
/// and must not see each other.
async fn refresh_keyspace_is_its_own_namespace(h: &Harness) {
    let store = &h.store;
    let grant = Grant::sample();
    let key = grant.code.key();
    store
        .refresh_families()
        .create(key, &grant.family, TTL)
        .await
        .unwrap();
    let tag = &key.as_str()[..8];
    let documented = format!("{}:{{{tag}}}:v2:refresh:{key}", store.key_prefix());
    assert!(store.exists_raw(&documented).await.unwrap(), "{documented}");
    assert!(store.codes().get(key).await.unwrap().is_none());
    assert!(store.access_tokens().get(key).await.unwrap().is_none());

    // The code at the same key: each reads its own, and deleting one kind
    // leaves the other.
    store
        .codes()
        .create(key, &grant.issued(), TTL)
        .await
        .unwrap();
    assert_same(
        &store.refresh_families().get(key).await.unwrap().unwrap(),
        &grant.family,
    );
    assert!(store.codes().delete(key).await.unwrap());
    assert!(store.refresh_families().get(key).await.unwrap().is_some());
    assert!(store.refresh_families().delete(key).await.unwrap());
    assert!(!h.exists("refresh", key).await);
}

/// Consent grants live at `{prefix}:{<tag>}:v2:consent:{key}`, the key
/// derived from the user and the client, after the user's slot tag: the same pair finds the same record (in any
/// store instance with the same store key, as replicas have), other pairs
/// never do, and the key names neither.
async fn consent_grants_live_at_a_key_derived_from_user_and_client(h: &Harness) {
    let store = &h.store;
    let key = store.consent_key("alice", "app");
    assert_eq!(store.consent_key("alice", "app"), key);
    for other in [
        store.consent_key("alice", "app2"),
        store.consent_key("bob", "app"),
        store.consent_key("app", "alice"),
        store.consent_key("alic", "eapp"),
        store.consent_key("", "aliceapp"),
    ] {
        assert_ne!(other, key);
    }
    let grant = sample_consent("alice", "app");
    store.consents().create(&key, &grant, TTL).await.unwrap();
    let tag = &key.as_str()[..8];
    let documented = format!("{}:{{{tag}}}:v2:consent:{key}", store.key_prefix());
    // The user's tag: the tag of every session key minted for alice.
    assert_eq!(&store.new_session_key("alice").as_str()[..8], tag);
    assert!(store.exists_raw(&documented).await.unwrap(), "{documented}");
    for name in ["alice", "app"] {
        assert!(!documented.contains(name), "{documented} names {name}");
    }
    h.assert_pttl("consent", &key, TTL - Duration::from_secs(5)..=TTL)
        .await;
    assert_same(&store.consents().get(&key).await.unwrap().unwrap(), &grant);
    assert!(
        store
            .consents()
            .get(&store.consent_key("bob", "app"))
            .await
            .unwrap()
            .is_none()
    );

    // A new approval replaces the old one.
    let mut wider = sample_consent("alice", "app");
    wider.scopes = Scopes::parse("openid email groups");
    store.consents().create(&key, &wider, TTL).await.unwrap();
    assert_same(&store.consents().get(&key).await.unwrap().unwrap(), &wider);

    // Derived under the store key: a replica with the same key derives the
    // same, a deployment with another key something else.
    let replica = |encryption_key| {
        Store::open(StoreConfig {
            backend: BackendConfig::Memory,
            key_prefix: "replica".into(),
            encryption_key,
        })
    };
    let same_key = replica(test_encryption_key()).await.unwrap();
    assert_eq!(same_key.consent_key("alice", "app"), key);
    let other_key = replica(EncryptionKey::generate()).await.unwrap();
    assert_ne!(other_key.consent_key("alice", "app"), key);

    // Consents are a kind of their own.
    let (session, session_data) = sample_session();
    store
        .sessions()
        .create(session.key(), &session_data, TTL)
        .await
        .unwrap();
    assert_eq!(store.consents().delete_all().await.unwrap(), 1);
    assert!(store.consents().get(&key).await.unwrap().is_none());
    assert!(store.sessions().get(session.key()).await.unwrap().is_some());
}

async fn records_expire(h: &Harness) {
    let store = &h.store;
    let (code, authorization) = sample_authorization();
    let (session, session_data) = sample_session();
    let (token, token_data) = sample_access_token();
    store
        .codes()
        .create(code.key(), &CodeState::Issued(authorization), SHORT)
        .await
        .unwrap();
    store
        .sessions()
        .create(session.key(), &session_data, SHORT)
        .await
        .unwrap();
    store
        .access_tokens()
        .create(token.key(), &token_data, TTL)
        .await
        .unwrap();
    assert!(store.codes().get(code.key()).await.unwrap().is_some());

    tokio::time::sleep(PAST_SHORT).await;
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
    let issued = CodeState::Issued(authorization);
    store
        .codes()
        .create(code.key(), &issued, Duration::ZERO)
        .await
        .unwrap();
    assert!(store.codes().get(code.key()).await.unwrap().is_none());

    // It still replaces: the previous value is gone, not left behind.
    store
        .codes()
        .create(code.key(), &issued, TTL)
        .await
        .unwrap();
    store
        .codes()
        .create(code.key(), &issued, Duration::ZERO)
        .await
        .unwrap();
    assert!(store.codes().get(code.key()).await.unwrap().is_none());

    // Sub-millisecond TTLs are stored (briefly), not rejected.
    store
        .codes()
        .create(code.key(), &issued, Duration::from_micros(10))
        .await
        .unwrap();
}

/// Asserts that the store logged the record at `storage_key` as corrupt.
fn assert_logged_corrupt(storage_key: &str) {
    let logged = logs::capture().matching("ERROR", &["corrupt record", storage_key]);
    assert!(
        !logged.is_empty(),
        "no corrupt-record error for {storage_key}"
    );
}

/// Plants each kind of garbage in `keyspace` (storage kind `kind`) and
/// checks that every read reports it as absent, having logged it and
/// removed it: a plain read deletes it, a replace swaps `value` in over it,
/// a take removes it.
async fn assert_garbage_is_absent<T: Debug + Serialize>(
    h: &Harness,
    keyspace: &dyn Keyspace<T>,
    kind: &str,
    value: &T,
) {
    let garbage: [&[u8]; 5] = [
        b"",
        b"\x01",
        b"not a sealed record at all, but long enough to look like one",
        b"\x09aaaaaaaaaaaabbbbbbbbbbbbbbbbcccccccc",
        &[1u8; 64],
    ];
    for bytes in garbage {
        let key = RecordKey::random();
        let storage_key = h.storage_key(kind, &key);
        h.store.put_raw(&storage_key, bytes, TTL).await.unwrap();
        let read = keyspace.get(&key).await.unwrap();
        assert!(read.is_none(), "{kind}: garbage {bytes:?} read as {read:?}");
        assert_logged_corrupt(&storage_key);
        assert!(!h.exists(kind, &key).await, "{kind}: {bytes:?} not deleted");

        // A swap hands back the old value, so it is read too: none, and the
        // new value is in place.
        h.store.put_raw(&storage_key, bytes, TTL).await.unwrap();
        let old = keyspace.replace(&key, value, None).await.unwrap();
        assert!(old.is_none(), "{kind}: replace of {bytes:?} gave {old:?}");
        assert_same(&keyspace.get(&key).await.unwrap().unwrap(), value);

        h.store.put_raw(&storage_key, bytes, TTL).await.unwrap();
        assert!(keyspace.take(&key).await.unwrap().is_none(), "{kind}");
        assert!(!h.exists(kind, &key).await, "{kind}");
    }
}

async fn corrupt_records_read_as_absent(h: &Harness) {
    let store = &h.store;
    let grant = Grant::sample();
    assert_garbage_is_absent(h, store.codes(), "code", &redeemed(&grant.code)).await;
    assert_garbage_is_absent(h, store.refresh_families(), "refresh", &grant.family).await;
    let consent = sample_consent("alice", "app");
    assert_garbage_is_absent(h, store.consents(), "consent", &consent).await;

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
    assert!(
        store
            .access_tokens()
            .get(session.key())
            .await
            .unwrap()
            .is_none()
    );
}

/// A redemption swaps the issued code for the marker and reads the session
/// in one call; the marker keeps the code's TTL, and a replay gets the
/// marker back.
async fn redeem_code_with_session(h: &Harness) {
    let store = &h.store;
    let grant = Grant::sample();
    let code = grant.code.key();
    store
        .sessions()
        .create(grant.session.key(), &grant.session_data, TTL)
        .await
        .unwrap();
    store
        .codes()
        .create(code, &grant.issued(), SHORT)
        .await
        .unwrap();
    let marker = redeemed(&grant.code);

    let (previous, session) = store.redeem_code_with_session(code, &marker).await.unwrap();
    assert_same(&previous.unwrap(), &grant.issued());
    assert_same(&session.unwrap(), &grant.session_data);
    assert_same(&store.codes().get(code).await.unwrap().unwrap(), &marker);
    h.assert_pttl("code", code, Duration::from_millis(1)..=SHORT)
        .await;

    // A replay, with whatever marker it would have written, sees the first.
    let (previous, session) = store
        .redeem_code_with_session(code, &redeemed(&grant.code))
        .await
        .unwrap();
    assert_same(&previous.unwrap(), &marker);
    assert!(session.is_some(), "the session is only read");

    // The marker lives exactly as long as the code would have; after that a
    // redemption finds nothing and leaves nothing.
    tokio::time::sleep(PAST_SHORT).await;
    let (previous, session) = store.redeem_code_with_session(code, &marker).await.unwrap();
    assert!(previous.is_none());
    assert!(session.is_some());
    assert!(!h.exists("code", code).await);

    // An unlinked key has no session to read, but is redeemed all the same.
    let (plain, authorization) = sample_authorization();
    let issued = CodeState::Issued(authorization);
    let marker = redeemed(&plain);
    assert!(matches!(
        store.redeem_code_with_session(plain.key(), &marker).await,
        Ok((None, None))
    ));
    assert!(!h.exists("code", plain.key()).await);
    store
        .codes()
        .create(plain.key(), &issued, TTL)
        .await
        .unwrap();
    let (previous, session) = store
        .redeem_code_with_session(plain.key(), &marker)
        .await
        .unwrap();
    assert_same(&previous.unwrap(), &issued);
    assert!(session.is_none());
    assert_same(
        &store.codes().get(plain.key()).await.unwrap().unwrap(),
        &marker,
    );
}

/// An access token comes with the session its chain starts with and the
/// family at its key's parent (the code's key), in one call, without being
/// consumed; whichever of the three is missing comes back as `None`.
async fn access_token_with_grant(h: &Harness) {
    let store = &h.store;
    let grant = Grant::sample();
    grant.store(store).await;
    assert_eq!(grant.token.key().as_str().len(), 66);

    for _ in 0..2 {
        let (data, session, family) = store
            .access_token_with_grant(grant.token.key())
            .await
            .unwrap();
        assert_same(&data.unwrap(), &grant.token_data);
        assert_same(&session.unwrap(), &grant.session_data);
        assert_same(&family.unwrap(), &grant.family);
    }

    // Another code of the same session with its own family: a token under
    // the first code must not pick up the second's.
    let other = AuthorizationCode::generate_linked(grant.session.key()).unwrap();
    store
        .refresh_families()
        .create(other.key(), &sample_family(other.key()), TTL)
        .await
        .unwrap();
    // The family gone (revoked): the token and session still come, without
    // it, for the caller to refuse.
    assert!(
        store
            .refresh_families()
            .delete(grant.code.key())
            .await
            .unwrap()
    );
    let (data, session, family) = store
        .access_token_with_grant(grant.token.key())
        .await
        .unwrap();
    assert_same(&data.unwrap(), &grant.token_data);
    assert_same(&session.unwrap(), &grant.session_data);
    assert!(family.is_none());

    // The session gone too.
    store.sessions().delete(grant.session.key()).await.unwrap();
    let (data, session, family) = store
        .access_token_with_grant(grant.token.key())
        .await
        .unwrap();
    assert!(data.is_some() && session.is_none() && family.is_none());

    // An unlinked key has neither session nor family to read.
    let (plain, plain_data) = sample_access_token();
    store
        .access_tokens()
        .create(plain.key(), &plain_data, TTL)
        .await
        .unwrap();
    let (data, session, family) = store.access_token_with_grant(plain.key()).await.unwrap();
    assert_same(&data.unwrap(), &plain_data);
    assert!(session.is_none() && family.is_none());
    // And an unknown token is simply not there.
    let unknown = AccessToken::generate_linked(grant.code.key()).unwrap();
    let (data, _, _) = store.access_token_with_grant(unknown.key()).await.unwrap();
    assert!(data.is_none());
}

/// A family comes with the session its key is linked to, in one call.
async fn refresh_family_with_session(h: &Harness) {
    let store = &h.store;
    let grant = Grant::sample();
    grant.store(store).await;
    let key = grant.code.key();

    for _ in 0..2 {
        let (family, session) = store.refresh_family_with_session(key).await.unwrap();
        assert_same(&family.unwrap(), &grant.family);
        assert_same(&session.unwrap(), &grant.session_data);
    }

    store.sessions().delete(grant.session.key()).await.unwrap();
    let (family, session) = store.refresh_family_with_session(key).await.unwrap();
    assert_same(&family.unwrap(), &grant.family);
    assert!(session.is_none());

    store
        .sessions()
        .create(grant.session.key(), &grant.session_data, TTL)
        .await
        .unwrap();
    store.refresh_families().delete(key).await.unwrap();
    let (family, session) = store.refresh_family_with_session(key).await.unwrap();
    assert!(family.is_none());
    assert!(session.is_some());

    // An unlinked key has no session to read.
    let plain = RecordKey::random();
    let plain_family = sample_family(&plain);
    store
        .refresh_families()
        .create(&plain, &plain_family, TTL)
        .await
        .unwrap();
    let (family, session) = store.refresh_family_with_session(&plain).await.unwrap();
    assert_same(&family.unwrap(), &plain_family);
    assert!(session.is_none());
}

/// Any part of a paired read that is corrupt reads as absent, is logged and
/// deleted, and spoils none of the other parts; a redemption still leaves
/// its marker, so a code whose session is unreadable cannot be redeemed
/// twice.
async fn corrupt_parts_read_as_absent(h: &Harness) {
    let store = &h.store;
    let grant = Grant::sample();
    grant.store(store).await;
    let corrupt = |kind: &'static str, key: &RecordKey| {
        let storage_key = h.storage_key(kind, key);
        async move {
            store.put_raw(&storage_key, b"junk", TTL).await.unwrap();
            storage_key
        }
    };

    // The session: every combined read sees no session, and the first
    // deletes it.
    let session_key = corrupt("session", grant.session.key()).await;
    let marker = redeemed(&grant.code);
    let (previous, session) = store
        .redeem_code_with_session(grant.code.key(), &marker)
        .await
        .unwrap();
    assert_same(&previous.unwrap(), &grant.issued());
    assert!(session.is_none());
    assert_logged_corrupt(&session_key);
    assert!(!h.exists("session", grant.session.key()).await);
    assert_same(
        &store.codes().get(grant.code.key()).await.unwrap().unwrap(),
        &marker,
    );
    for check in 0..2 {
        corrupt("session", grant.session.key()).await;
        let session = if check == 0 {
            let (token, session, family) = store
                .access_token_with_grant(grant.token.key())
                .await
                .unwrap();
            assert!(token.is_some() && family.is_some());
            session
        } else {
            let (family, session) = store
                .refresh_family_with_session(grant.code.key())
                .await
                .unwrap();
            assert!(family.is_some());
            session
        };
        assert!(session.is_none());
        assert!(!h.exists("session", grant.session.key()).await);
    }
    store
        .sessions()
        .create(grant.session.key(), &grant.session_data, TTL)
        .await
        .unwrap();

    // The code: the redemption finds none, and its marker replaces it.
    let code_key = corrupt("code", grant.code.key()).await;
    let (previous, session) = store
        .redeem_code_with_session(grant.code.key(), &marker)
        .await
        .unwrap();
    assert!(previous.is_none());
    assert!(session.is_some());
    assert_logged_corrupt(&code_key);
    assert_same(
        &store.codes().get(grant.code.key()).await.unwrap().unwrap(),
        &marker,
    );

    // The family, then the access token.
    for kind in ["refresh", "token"] {
        let key = if kind == "refresh" {
            grant.code.key()
        } else {
            grant.token.key()
        };
        corrupt(kind, key).await;
        let (token, session, family) = store
            .access_token_with_grant(grant.token.key())
            .await
            .unwrap();
        assert!(session.is_some(), "{kind}");
        assert_eq!(token.is_none(), kind == "token");
        assert_eq!(family.is_none(), kind == "refresh");
        assert!(!h.exists(kind, key).await, "{kind} not deleted");
        grant.store(store).await;
    }
    let family_key = corrupt("refresh", grant.code.key()).await;
    let (family, session) = store
        .refresh_family_with_session(grant.code.key())
        .await
        .unwrap();
    assert!(family.is_none() && session.is_some());
    assert_logged_corrupt(&family_key);
    assert!(!h.exists("refresh", grant.code.key()).await);
}

/// A stored login session for each of `users`, living [`TTL`], under a key
/// the store made for its user.
async fn stored_sessions<const N: usize>(h: &Harness, users: [&str; N]) -> [SessionToken; N] {
    let sessions = users.map(|user| {
        let (_, mut data) = sample_session();
        let token = SessionToken::with_key(h.store.new_session_key(user));
        data.secret_hash = token.secret_hash();
        data.username = user.to_owned();
        (token, data)
    });
    for (token, data) in &sessions {
        h.store
            .sessions()
            .create(token.key(), data, TTL)
            .await
            .unwrap();
    }
    sessions.map(|(token, _)| token)
}

/// Whether the session's record is still there.
async fn session_exists(h: &Harness, session: &SessionToken) -> bool {
    h.store
        .sessions()
        .get(session.key())
        .await
        .unwrap()
        .is_some()
}

/// The login time `seconds` after [`SAMPLE_NOW`].
fn at(seconds: u64) -> Timestamp {
    SAMPLE_NOW.after(Duration::from_secs(seconds))
}

/// `sessions_per_user`: past `keep`, a login ends the user's earliest
/// logins, records included; a re-authentication moves a session to its
/// new login time; and the session being added is never the one ended,
/// whatever the clocks that timed the others.
async fn user_index_ends_the_oldest_sessions_beyond_keep(h: &Harness) {
    let index = h.store.user_index();
    let [a, b, c, d, e] = stored_sessions(h, ["alice", "alice", "alice", "alice", "bob"]).await;
    assert!(
        index
            .add("alice", a.key(), at(0), TTL, 2)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        index
            .add("alice", b.key(), at(1), TTL, 2)
            .await
            .unwrap()
            .is_empty()
    );
    // Another user's sessions are counted apart.
    assert!(
        index
            .add("bob", e.key(), at(0), TTL, 1)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        index.add("alice", c.key(), at(2), TTL, 2).await.unwrap(),
        [a.key().clone()]
    );
    assert!(!session_exists(h, &a).await);
    assert!(session_exists(h, &b).await && session_exists(h, &e).await);

    // b re-authenticates: now c is the earliest login.
    assert!(
        index
            .add("alice", b.key(), at(3), TTL, 2)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        index.add("alice", d.key(), at(4), TTL, 2).await.unwrap(),
        [c.key().clone()]
    );
    // A session timed before the others (a replica's clock behind) is the
    // new one, and stays; the others make room.
    let [late] = stored_sessions(h, ["alice"]).await;
    let mut ended = index.add("alice", late.key(), at(1), TTL, 1).await.unwrap();
    ended.sort_by(|x, y| x.as_str().cmp(y.as_str()));
    let mut expected = [b.key().clone(), d.key().clone()];
    expected.sort_by(|x, y| x.as_str().cmp(y.as_str()));
    assert_eq!(ended, expected);
    assert!(session_exists(h, &late).await);
    assert_eq!(index.end_all("alice").await.unwrap(), [late.key().clone()]);
    assert_eq!(index.end_all("bob").await.unwrap(), [e.key().clone()]);
}

/// A member whose session record is gone (expired, logged out) neither
/// counts against `keep` nor is reported as ended; one that was forgotten
/// is neither counted nor ended.
async fn user_index_skips_sessions_that_are_gone(h: &Harness) {
    let index = h.store.user_index();
    let [gone, forgotten, kept, new] = stored_sessions(h, ["alice"; 4]).await;
    for (session, time) in [(&gone, 0), (&forgotten, 1), (&kept, 2)] {
        index
            .add("alice", session.key(), at(time), TTL, 3)
            .await
            .unwrap();
    }
    h.store.sessions().delete(gone.key()).await.unwrap();
    index.remove("alice", forgotten.key()).await.unwrap();
    // Removing what is not there is no error.
    index.remove("alice", forgotten.key()).await.unwrap();
    index.remove("nobody", kept.key()).await.unwrap();
    assert!(
        index
            .add("alice", new.key(), at(3), TTL, 2)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        index.end_all("alice").await.unwrap(),
        [kept.key().clone(), new.key().clone()],
        "in login order"
    );
    assert!(session_exists(h, &forgotten).await, "forgotten, not ended");
    assert!(!session_exists(h, &kept).await && !session_exists(h, &new).await);
    assert!(index.end_all("alice").await.unwrap().is_empty());
}

/// The index lives at least as long as the longest TTL it was given, by
/// `add` or `extend`; neither ever shortens it. Once it has expired, its
/// sessions are no longer found (so it must never expire before them).
async fn user_index_ttl_only_grows(h: &Harness) {
    let index = h.store.user_index();
    let [lapsing, extended, long] = stored_sessions(h, ["lapsing", "extended", "long"]).await;
    index
        .add("lapsing", lapsing.key(), at(0), SHORT, 5)
        .await
        .unwrap();
    index
        .add("extended", extended.key(), at(0), SHORT, 5)
        .await
        .unwrap();
    index.extend("extended", TTL).await.unwrap();
    index.add("long", long.key(), at(0), TTL, 5).await.unwrap();
    index
        .add("long", long.key(), at(1), SHORT, 5)
        .await
        .unwrap();
    index.extend("long", SHORT).await.unwrap();
    index.extend("long", Duration::ZERO).await.unwrap();
    // Extending an index that is not there creates nothing.
    index.extend("nobody", TTL).await.unwrap();
    h.assert_index_pttl("lapsing", Duration::ZERO..=SHORT).await;
    h.assert_index_pttl("extended", TTL - SHORT..=TTL).await;
    h.assert_index_pttl("long", TTL - SHORT..=TTL).await;
    if let Some(url) = &h.redis_url {
        assert!(!raw_exists(url, &h.store.user_index_storage_key("nobody")).await);
    }

    tokio::time::sleep(PAST_SHORT).await;
    assert!(index.end_all("lapsing").await.unwrap().is_empty());
    assert!(session_exists(h, &lapsing).await);
    assert_eq!(
        index.end_all("extended").await.unwrap(),
        [extended.key().clone()]
    );
    assert_eq!(index.end_all("long").await.unwrap(), [long.key().clone()]);
}

/// `end_all` ends one user's sessions and no one else's, and the index's
/// key names no user.
async fn user_index_end_all_is_per_user(h: &Harness) {
    let index = h.store.user_index();
    let [a1, a2, b1] = stored_sessions(h, ["alice", "alice", "bob"]).await;
    index.add("alice", a1.key(), at(0), TTL, 5).await.unwrap();
    index.add("alice", a2.key(), at(1), TTL, 5).await.unwrap();
    index.add("bob", b1.key(), at(0), TTL, 5).await.unwrap();
    if let Some(url) = &h.redis_url {
        let keys = raw_keys(url, &format!("{}:{{*}}:v2:user:*", h.store.key_prefix())).await;
        assert_eq!(keys.len(), 2, "{keys:?}");
        assert!(
            keys.iter()
                .all(|key| !key.contains("alice") && !key.contains("bob"))
        );
    }
    assert_eq!(
        index.end_all("alice").await.unwrap(),
        [a1.key().clone(), a2.key().clone()]
    );
    assert!(!session_exists(h, &a1).await && !session_exists(h, &a2).await);
    assert!(session_exists(h, &b1).await);
    assert!(index.end_all("alice").await.unwrap().is_empty());
    assert_eq!(index.end_all("bob").await.unwrap(), [b1.key().clone()]);
}

/// Every key of a user's index and sessions carries the user's slot tag,
/// so that the index's atomic steps stay in one Redis Cluster slot; a
/// session whose key was not made for its user is refused, and nothing is
/// stored for it.
async fn user_index_refuses_a_session_of_another_slot(h: &Harness) {
    let index = h.store.user_index();
    let [alice, bob] = stored_sessions(h, ["alice", "bob"]).await;
    let (random, data) = sample_session();
    h.store
        .sessions()
        .create(random.key(), &data, TTL)
        .await
        .unwrap();
    for stranger in [&bob, &random] {
        let refused = index.add("alice", stranger.key(), at(0), TTL, 5).await;
        assert!(
            matches!(refused, Err(StoreError::Unencodable { .. })),
            "{refused:?}"
        );
    }
    assert!(index.end_all("alice").await.unwrap().is_empty());
    index
        .add("alice", alice.key(), at(0), TTL, 5)
        .await
        .unwrap();
    let index_key = h.store.user_index_storage_key("alice");
    let tag = &alice.key().as_str()[..8];
    assert!(index_key.contains(&format!(":{{{tag}}}:")), "{index_key}");
    assert!(session_exists(h, &bob).await && session_exists(h, &random).await);
    assert_eq!(index.end_all("alice").await.unwrap(), [alice.key().clone()]);
}

async fn ping_answers(h: &Harness) {
    h.store.ping().await.unwrap();
}

// Failure counters.

/// Three failures lock; the lockout is longer than the window, so that a
/// tally's `expires_in` tells which of the two a counter is in.
const LIMIT: CounterLimit = CounterLimit {
    failures: 3,
    window: TTL,
    lockout: Duration::from_secs(120),
};

fn counter(kind: CounterKind, subject: &str) -> Counter<'_> {
    Counter { kind, subject }
}

/// Adds one failure to `counter` alone; its new tally.
async fn fail(h: &Harness, counter: Counter<'_>, limit: CounterLimit) -> Tally {
    let tallies = h
        .store
        .failure_counters()
        .add_failure(&[(counter, limit)])
        .await
        .unwrap();
    let [tally] = tallies.as_slice() else {
        panic!("one counter, {} tallies", tallies.len())
    };
    *tally
}

async fn tally(h: &Harness, counter: Counter<'_>) -> Tally {
    let tallies = h
        .store
        .failure_counters()
        .tallies(&[counter])
        .await
        .unwrap();
    tallies[0]
}

/// On Redis, asserts that the counter's `PTTL` is within `expected`.
async fn assert_counter_pttl(
    h: &Harness,
    counter: Counter<'_>,
    expected: RangeInclusive<Duration>,
) {
    let Some(url) = &h.redis_url else { return };
    let pttl = raw_pttl(url, &h.store.counter_storage_key(counter)).await;
    let millis = |d: &Duration| i64::try_from(d.as_millis()).unwrap();
    assert!(
        (millis(expected.start())..=millis(expected.end())).contains(&pttl),
        "counter PTTL {pttl}, expected {expected:?}"
    );
}

async fn failure_counters_count_per_kind_and_subject(h: &Harness) {
    let counters = h.store.failure_counters();
    let alice = counter(CounterKind::User, "alice");
    let others = [
        counter(CounterKind::Client, "alice"),
        counter(CounterKind::Ip, "alice"),
        counter(CounterKind::User, "bob"),
    ];
    assert_eq!(tally(h, alice).await, Tally::default());

    for expected in 1..=2 {
        let added = fail(h, alice, LIMIT).await;
        assert_eq!(added.failures, expected);
        assert!(added.expires_in > Duration::ZERO && added.expires_in <= LIMIT.window);
        let read = tally(h, alice).await;
        assert_eq!(read.failures, expected);
        assert!(read.expires_in <= added.expires_in);
    }
    assert_counter_pttl(h, alice, TTL - Duration::from_secs(5)..=TTL).await;

    // Several counters in one call, each by its own limit, in order.
    let bob_ip = counter(CounterKind::Ip, "192.0.2.1");
    let one = CounterLimit {
        failures: 1,
        ..LIMIT
    };
    let added = counters
        .add_failure(&[(bob_ip, one), (alice, LIMIT)])
        .await
        .unwrap();
    assert_eq!(added.len(), 2);
    assert_eq!(added[0].failures, 1);
    assert!(added[0].is_locked(&one));
    assert_eq!(added[1].failures, 3);
    assert!(added[1].is_locked(&LIMIT));

    // The same subject under another kind, or another subject, is another
    // counter; the tallies come back in the order asked.
    let mut asked = others.to_vec();
    asked.push(alice);
    let read = counters.tallies(&asked).await.unwrap();
    assert_eq!(
        read.iter().map(|t| t.failures).collect::<Vec<_>>(),
        [0, 0, 0, 3]
    );
    assert!(counters.tallies(&[]).await.unwrap().is_empty());
}

/// The failure that reaches the limit gives the counter the lockout's
/// expiry; later failures are counted but do not lengthen it.
async fn failure_counter_locks_at_the_limit_for_the_lockout(h: &Harness) {
    let key = counter(CounterKind::Client, "app");
    for _ in 0..2 {
        let tally = fail(h, key, LIMIT).await;
        assert!(!tally.is_locked(&LIMIT));
        assert!(tally.expires_in <= LIMIT.window);
    }
    let locked = fail(h, key, LIMIT).await;
    assert!(locked.is_locked(&LIMIT));
    assert!(locked.expires_in > LIMIT.window && locked.expires_in <= LIMIT.lockout);
    assert_counter_pttl(h, key, LIMIT.window..=LIMIT.lockout).await;

    let later = fail(h, key, LIMIT).await;
    assert_eq!(later.failures, 4);
    assert!(later.is_locked(&LIMIT));
    assert!(later.expires_in <= locked.expires_in, "the lockout grew");
    assert!(later.expires_in > LIMIT.window);
}

/// Counters are forgotten when their window or lockout ends; the next
/// failure starts a fresh window.
async fn failure_counters_expire(h: &Harness) {
    let short = CounterLimit {
        failures: 2,
        window: SHORT,
        lockout: SHORT,
    };
    let in_window = counter(CounterKind::User, "carol");
    let locked = counter(CounterKind::Ip, "2001:db8::/64");
    fail(h, in_window, short).await;
    fail(h, locked, short).await;
    assert!(fail(h, locked, short).await.is_locked(&short));

    tokio::time::sleep(PAST_SHORT).await;
    let read = h
        .store
        .failure_counters()
        .tallies(&[in_window, locked])
        .await
        .unwrap();
    assert_eq!(read, [Tally::default(), Tally::default()]);
    assert_eq!(fail(h, locked, short).await.failures, 1);
}

async fn failure_counter_reset_forgets(h: &Harness) {
    let alice = counter(CounterKind::User, "alice");
    let ip = counter(CounterKind::Ip, "192.0.2.7");
    for key in [alice, ip] {
        fail(h, key, LIMIT).await;
    }
    h.store.failure_counters().reset(alice).await.unwrap();
    assert_eq!(tally(h, alice).await, Tally::default());
    assert_eq!(tally(h, ip).await.failures, 1);
    // Resetting a counter that does not exist is fine.
    h.store.failure_counters().reset(alice).await.unwrap();
    assert_eq!(fail(h, alice, LIMIT).await.failures, 1);
}

/// Concurrent failures are each counted once, and exactly one of them is
/// the one that reaches the limit.
async fn concurrent_failures_are_each_counted(h: &Harness) {
    const FAILURES: u64 = 32;
    let limit = CounterLimit {
        failures: 10,
        ..LIMIT
    };
    let start = Arc::new(tokio::sync::Barrier::new(32));
    let tasks: Vec<_> = (0..FAILURES)
        .map(|_| {
            let store = Arc::clone(&h.store);
            let start = Arc::clone(&start);
            tokio::spawn(async move {
                start.wait().await;
                let key = counter(CounterKind::Client, "racy");
                let tallies = store
                    .failure_counters()
                    .add_failure(&[(key, limit)])
                    .await
                    .unwrap();
                tallies[0].failures
            })
        })
        .collect();
    let mut seen = HashSet::new();
    for task in tasks {
        assert!(seen.insert(task.await.unwrap()), "a count was seen twice");
    }
    assert_eq!(seen, (1..=FAILURES).collect::<HashSet<_>>());
    let key = counter(CounterKind::Client, "racy");
    assert_eq!(tally(h, key).await.failures, FAILURES);
    assert_counter_pttl(h, key, LIMIT.window..=LIMIT.lockout).await;
}

/// What a counter's key says on Redis: its kind, but not its subject, and
/// it always has an expiry.
async fn failure_counter_keys_hide_their_subjects(h: &Harness) {
    let subjects = ["alice", "192.0.2.1", "app"];
    let kinds = [CounterKind::User, CounterKind::Ip, CounterKind::Client];
    for (kind, subject) in kinds.into_iter().zip(subjects) {
        fail(h, counter(kind, subject), LIMIT).await;
        let storage_key = h.store.counter_storage_key(counter(kind, subject));
        let prefix = format!(
            "{}:{{throttle}}:v2:throttle:{}:",
            h.store.key_prefix(),
            kind.as_str()
        );
        assert!(storage_key.starts_with(&prefix), "{storage_key}");
        assert!(!storage_key.contains(subject), "{storage_key}");
        assert!(h.store.exists_raw(&storage_key).await.unwrap());
    }
    let Some(url) = &h.redis_url else { return };
    let keys = raw_keys(
        url,
        &format!("{}:{{throttle}}:v2:throttle:*", h.store.key_prefix()),
    )
    .await;
    assert_eq!(keys.len(), 3, "{keys:?}");
    for key in keys {
        assert!(
            subjects.iter().all(|subject| !key.contains(subject)),
            "{key}"
        );
        assert!(raw_pttl(url, &key).await > 0, "{key} has no expiry");
    }
}

/// Something that is not a count where a counter should be (only a bug or
/// another writer could put it there) reads as no failures, and the next
/// failure replaces it with a count and a window.
async fn garbage_in_a_counter_reads_as_no_failures(h: &Harness) {
    let key = counter(CounterKind::User, "mallory");
    let storage_key = h.store.counter_storage_key(key);
    for garbage in [&b"junk"[..], b"", b"-3", b"1.5", b"\x01\x02"] {
        h.store
            .put_raw(&storage_key, garbage, TTL * 10)
            .await
            .unwrap();
        assert_eq!(tally(h, key).await, Tally::default(), "{garbage:?}");
        let added = fail(h, key, LIMIT).await;
        assert_eq!(added.failures, 1, "{garbage:?}");
        assert!(added.expires_in <= LIMIT.window, "{garbage:?}");
    }
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
        /// Every check on a Redis Cluster of three masters: a combined
        /// operation whose keys were in two slots would fail there with
        /// `CROSSSLOT`.
        mod cluster {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $check() {
                    super::$check(&super::Harness::cluster(stringify!($check)).await).await;
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
    replace_swaps_a_live_record,
    replace_never_creates,
    replace_sets_or_keeps_the_ttl,
    concurrent_replaces_see_the_original_once,
    extend_lengthens_never_shortens,
    delete_says_whether_it_existed,
    delete_all_removes_only_its_kind_and_prefix,
    refresh_keyspace_is_its_own_namespace,
    consent_grants_live_at_a_key_derived_from_user_and_client,
    records_expire,
    zero_ttl_stores_nothing,
    corrupt_records_read_as_absent,
    redeem_code_with_session,
    access_token_with_grant,
    refresh_family_with_session,
    corrupt_parts_read_as_absent,
    user_index_ends_the_oldest_sessions_beyond_keep,
    user_index_skips_sessions_that_are_gone,
    user_index_ttl_only_grows,
    user_index_end_all_is_per_user,
    user_index_refuses_a_session_of_another_slot,
    ping_answers,
    failure_counters_count_per_kind_and_subject,
    failure_counter_locks_at_the_limit_for_the_lockout,
    failure_counters_expire,
    failure_counter_reset_forgets,
    concurrent_failures_are_each_counted,
    failure_counter_keys_hide_their_subjects,
    garbage_in_a_counter_reads_as_no_failures,
);
