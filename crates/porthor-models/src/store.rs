//! The authorization store port: where codes, sessions, tokens and consent
//! grants live.
//!
//! Implemented by `porthor-store` (Redis and in-memory). The domain only sees
//! typed records by key; encryption, serialization and key layout are the
//! implementation's business.
//!
//! A stored record that cannot be decrypted or decoded (tampering, a
//! mismatched encryption key) is never handed to a caller as an error to
//! decide about: every read reports it as absent, and the implementation
//! logs it and deletes it. A caller can therefore use `?` on any store call
//! and only ever see the store being unreachable.

use std::time::Duration;

use async_trait::async_trait;

use crate::{
    AccessTokenData, CodeState, ConsentGrant, FailureCounters, RecordKey, RefreshFamily,
    SessionData, Timestamp,
};

/// A failure of the store itself, as opposed to a missing record.
///
/// Corrupt records are not among them: reads report those as absent (see
/// the module documentation).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend could not be reached or refused the command; the request
    /// may be retried.
    #[error("authorization store unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A record could not be encoded for storage: a bug, since every record
    /// type serializes.
    #[error("cannot encode the record for {key}")]
    Unencodable {
        /// The storage key it was meant for (names it; reveals no secret).
        key: String,
        /// What went wrong.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// One kind of record, stored by [`RecordKey`] with a time to live.
///
/// Whatever reads a record (`get`, `take`, `replace` and the combined
/// operations of [`AuthorizationStore`]) reports a corrupt one as absent,
/// having logged and deleted it.
#[async_trait]
pub trait Keyspace<T>: Send + Sync {
    /// Stores `value` under `key` for `ttl`, replacing any previous value.
    async fn create(&self, key: &RecordKey, value: &T, ttl: Duration) -> Result<(), StoreError>;
    /// Reads the record, if it exists and has not expired.
    async fn get(&self, key: &RecordKey) -> Result<Option<T>, StoreError>;
    /// Reads and deletes the record in one atomic step: of any number of
    /// concurrent callers, at most one receives it.
    async fn take(&self, key: &RecordKey) -> Result<Option<T>, StoreError>;
    /// Replaces the live record at `key` with `value` and returns the old
    /// one, in one atomic step; does nothing if there is none. `ttl` is the
    /// record's new time to live, or `None` to keep the old one.
    async fn replace(
        &self,
        key: &RecordKey,
        value: &T,
        ttl: Option<Duration>,
    ) -> Result<Option<T>, StoreError>;
    /// Makes the live record at `key` live for at least `ttl` from now,
    /// without ever shortening it; does nothing if there is none.
    async fn extend(&self, key: &RecordKey, ttl: Duration) -> Result<(), StoreError>;
    /// Deletes the record; says whether it existed.
    async fn delete(&self, key: &RecordKey) -> Result<bool, StoreError>;
    /// Deletes every record of this kind; returns how many there were.
    async fn delete_all(&self) -> Result<u64, StoreError>;
}

/// Each user's login sessions: what ending all of a user's sessions, or all
/// but their newest, needs.
///
/// Per username, the index holds the record keys of that user's sessions,
/// ordered by login time. Ending a session here means deleting its session
/// record: every code, access token and refresh-token family issued under
/// it is chained to that record (see [`RecordKey::session`]) and dies with
/// it. A member whose session record is gone (expired, logged out) is
/// dropped whenever the index meets it, and never counts. An implementation
/// must not reveal usernames in what it stores in the clear.
#[async_trait]
pub trait UserIndex: Send + Sync {
    /// Records that `username` logged in with `session` at `login_time` (a
    /// session already listed is moved to that time: a re-authentication),
    /// keeps the index for at least `ttl` from now without ever shortening
    /// it, and ends the user's sessions beyond the `keep` most recent logins,
    /// oldest first, never `session` itself. Returns the sessions it ended.
    /// One atomic step.
    async fn add(
        &self,
        username: &str,
        session: &RecordKey,
        login_time: Timestamp,
        ttl: Duration,
        keep: usize,
    ) -> Result<Vec<RecordKey>, StoreError>;
    /// Forgets `session`, whose record is gone (a logout).
    async fn remove(&self, username: &str, session: &RecordKey) -> Result<(), StoreError>;
    /// Keeps the index for at least `ttl` from now, never shortening it: one
    /// of its sessions' records was made to live that long.
    async fn extend(&self, username: &str, ttl: Duration) -> Result<(), StoreError>;
    /// Ends every session of `username` and forgets them all, in one atomic
    /// step. Returns the sessions that were still there.
    async fn end_all(&self, username: &str) -> Result<Vec<RecordKey>, StoreError>;
}

/// Everything the provider keeps between requests.
#[async_trait]
pub trait AuthorizationStore: Send + Sync + std::fmt::Debug {
    /// Authorization codes, issued and redeemed, by code key.
    fn codes(&self) -> &dyn Keyspace<CodeState>;
    /// Login sessions, by session key.
    fn sessions(&self) -> &dyn Keyspace<SessionData>;
    /// Access tokens, by token key.
    fn access_tokens(&self) -> &dyn Keyspace<AccessTokenData>;
    /// Refresh-token families, by the key of the code that started them.
    fn refresh_families(&self) -> &dyn Keyspace<RefreshFamily>;
    /// Each user's login sessions, by username.
    fn user_index(&self) -> &dyn UserIndex;
    /// Checks that the backend answers, for readiness probes.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Consent grants, by the key [`AuthorizationStore::consent_key`]
    /// derives from a user and a client.
    fn consents(&self) -> &dyn Keyspace<ConsentGrant>;
    /// The key of `username`'s consent grant for `client_id`. Derived with a
    /// keyed hash under a secret of the store's, so that storage keys name
    /// neither (usernames and client ids are few enough to guess through a
    /// plain hash), while the same pair always finds the same record.
    fn consent_key(&self, username: &str, client_id: &str) -> RecordKey;
    /// A fresh key for a login session of `username`. The store may make it
    /// carry something of the user's (a Redis Cluster slot), so that the
    /// user's sessions, and every credential linked to them, can be reached
    /// together; [`UserIndex::add`] may refuse a session whose key it did not
    /// make for that user.
    fn new_session_key(&self, username: &str) -> RecordKey;
    /// Failure counters for throttling (see [`FailureCounters`]).
    fn failure_counters(&self) -> &dyn FailureCounters;

    /// Replaces the code at `code` with `redeemed` (keeping its time to live)
    /// and reads the session its key is linked to (see
    /// [`RecordKey::session`]); returns what the code's key held before, and
    /// the session (`None` for an unlinked key). Redemption needs both, so an
    /// implementation should do it in one round trip; the replacement must be
    /// atomic on its own, the pair need not be.
    async fn redeem_code_with_session(
        &self,
        code: &RecordKey,
        redeemed: &CodeState,
    ) -> Result<(Option<CodeState>, Option<SessionData>), StoreError> {
        let previous = self.codes().replace(code, redeemed, None).await?;
        Ok((previous, self.session_of(code).await?))
    }

    /// Reads the access token at `token`, the login session its key's chain
    /// starts with and the refresh-token family at its key's parent, in one
    /// round trip if the implementation can.
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
        let data = self.access_tokens().get(token).await?;
        let family = match token.parent() {
            Some(family) => self.refresh_families().get(&family).await?,
            None => None,
        };
        Ok((data, self.session_of(token).await?, family))
    }

    /// Reads the refresh-token family at `family` and the login session its
    /// key is linked to, in one round trip if the implementation can.
    async fn refresh_family_with_session(
        &self,
        family: &RecordKey,
    ) -> Result<(Option<RefreshFamily>, Option<SessionData>), StoreError> {
        let data = self.refresh_families().get(family).await?;
        Ok((data, self.session_of(family).await?))
    }

    /// The session a linked key's chain starts with; `None` for a plain key.
    async fn session_of(&self, key: &RecordKey) -> Result<Option<SessionData>, StoreError> {
        match key.session() {
            Some(session) => self.sessions().get(&session).await,
            None => Ok(None),
        }
    }
}
