//! The session lifecycle and the user index: `sessions_per_user`, what a
//! login does to the browser's earlier session (another user's ends; the
//! same user's, re-authenticating, is superseded so that one logout still
//! ends everything), and the index's expiry kept in step with the sessions
//! a refresh-token family keeps alive.

use std::time::Duration;

use porthor_models::SessionToken;
use porthor_oidc::{Lifetimes, Limits};
use porthor_test_support::{logs, raw_pttl, redis_store, redis_url, storage_key};
use reqwest::StatusCode;
use serde_json::Value;

use crate::harness::{
    CLIENT_ID, Harness, OFFLINE, OTHER_USERNAME, Options, REDIRECT_URI, StoreKind, USERNAME, json,
    location, query, text,
};

/// Asserts that everything `grant` issued is dead.
async fn grant_ended(h: &Harness, grant: &Value) {
    assert_eq!(
        h.userinfo_status(&text(grant, "access_token")).await,
        StatusCode::UNAUTHORIZED
    );
    h.assert_refresh_refused(&text(grant, "refresh_token"))
        .await;
}

/// Asserts that `grant`'s access token works and its refresh token
/// rotates; returns the refreshed grant.
async fn grant_works(h: &Harness, grant: &Value) -> Value {
    assert_eq!(
        h.userinfo_status(&text(grant, "access_token")).await,
        StatusCode::OK
    );
    json(
        h.refresh(&text(grant, "refresh_token"), None).await,
        StatusCode::OK,
    )
    .await
}

/// `[limits] sessions_per_user`: a login beyond it ends the user's earliest
/// session and everything issued from it, whatever refresh-token family
/// keeps its record alive; the user's other sessions, and other users',
/// live on.
async fn sessions_per_user_ends_the_oldest_session_and_what_it_issued(backend: StoreKind) {
    let h = Harness::start_with(Options {
        limits: Limits {
            sessions_per_user: 2,
        },
        ..Options::new(backend)
    })
    .await;
    let oldest = h.login().await;
    let oldest_grant = h.grant(&oldest, OFFLINE).await;
    let bobs = h.login_in_browser(OTHER_USERNAME, None).await;
    h.clock.advance(Duration::from_secs(1));
    let second = h.login().await;
    let second_grant = h.grant(&second, OFFLINE).await;
    assert!(h.session_alive(&oldest).await, "within the limit");
    h.clock.advance(Duration::from_secs(1));

    let newest = h.login().await;
    assert!(!h.session_alive(&oldest).await);
    grant_ended(&h, &oldest_grant).await;
    assert!(h.session_alive(&second).await && h.session_alive(&newest).await);
    grant_works(&h, &second_grant).await;
    assert!(
        h.session_alive(&bobs).await,
        "another user's sessions count apart"
    );
    assert!(
        !logs::capture()
            .matching(
                "INFO",
                &[
                    "earliest sessions ended",
                    "user=alice",
                    "sessions=1",
                    "limit=2"
                ]
            )
            .is_empty()
    );
}

/// A login in a browser that holds another user's live session ends that
/// session and what was issued from it: a browser holds one login. The same
/// user logging in from another browser touches neither.
async fn a_login_as_another_user_ends_the_browsers_earlier_session(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let alices = h.login().await;
    let alices_grant = h.grant(&alices, OFFLINE).await;
    let elsewhere = h.login().await;
    let bobs = h.login_in_browser(OTHER_USERNAME, Some(&alices)).await;
    assert!(!h.session_alive(&alices).await);
    grant_ended(&h, &alices_grant).await;
    assert!(h.session_alive(&bobs).await);
    assert!(
        h.session_alive(&elsewhere).await,
        "another browser's session"
    );
    // A cookie that names no live session is just replaced.
    let again = h.login_in_browser(USERNAME, Some(&alices)).await;
    assert!(h.session_alive(&again).await && h.session_alive(&bobs).await);
}

/// Re-authentication for `prompt=login` (or `max_age`) supersedes the
/// browser's session rather than starting one beside it: the earlier
/// cookie stops working, the grants issued under it keep working, and a
/// logout of the new session ends them with its own. (Before, the earlier
/// session lived on unseen, and its refresh tokens outlived the logout.)
async fn a_logout_after_a_relogin_ends_the_earlier_sessions_refresh_tokens(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let first = h.login().await;
    let first_grant = h.grant(&first, OFFLINE).await;
    h.clock.advance(Duration::from_secs(1));
    let params = [
        ("response_type", "code"),
        ("client_id", CLIENT_ID),
        ("redirect_uri", REDIRECT_URI),
        ("scope", OFFLINE),
        ("prompt", "login"),
    ];
    let to_login = location(&h.authorize(Some(&first), &params).await);
    assert_eq!(to_login.path(), "/login");
    let (_, second, back) = h.log_in_and_return(to_login.as_str(), Some(&first)).await;
    assert_ne!(second, first);
    let code = query(&location(&back), "code").expect("a code after the re-login");
    let second_grant = json(h.redeem(&code).await, StatusCode::OK).await;

    // One session, under the same key, with a new secret.
    let key = |cookie: &str| SessionToken::parse(cookie).unwrap().key().clone();
    assert_eq!(key(&second), key(&first));
    assert!(
        !h.session_alive(&first).await,
        "the old cookie stops working"
    );
    assert!(h.session_alive(&second).await);
    let first_grant = grant_works(&h, &first_grant).await;
    if backend == StoreKind::Redis {
        // Superseding kept the TTL the family gave the record, far beyond
        // a browser session's.
        let record = storage_key(h.redis_prefix.as_deref().unwrap(), "session", &key(&second));
        let pttl = Duration::from_millis(raw_pttl(&redis_url(), &record).await as u64);
        assert!(pttl > Lifetimes::default().session, "{pttl:?}");
    }

    h.logout(&second).await;
    assert!(!h.session_alive(&second).await);
    grant_ended(&h, &first_grant).await;
    grant_ended(&h, &second_grant).await;
}

/// The index lives as long as the longest session record it lists: a
/// refresh-token family that keeps its session's record for 30 days keeps
/// the index as long, so that `revoke-user` still finds the session.
/// Redis only (the memory store's expiry is tested by the store's own
/// contract tests).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_user_index_lives_as_long_as_a_family_keeps_a_session() {
    let h = Harness::start(StoreKind::Redis).await;
    let session = h.login().await;
    let store = redis_store(h.redis_prefix.as_deref().unwrap()).await;
    let index = store.user_index_storage_key(USERNAME);
    let pttl = || async { Duration::from_millis(raw_pttl(&redis_url(), &index).await as u64) };
    let minute = Duration::from_secs(60);
    let lifetimes = Lifetimes::default();
    let before = pttl().await;
    assert!(
        before <= lifetimes.session && before > lifetimes.session - minute,
        "{before:?}"
    );
    let grant = h.grant(&session, OFFLINE).await;
    let after = pttl().await;
    assert!(
        after <= lifetimes.refresh_token && after > lifetimes.refresh_token - minute,
        "{after:?}"
    );
    assert!(!index.contains(USERNAME), "{index}");

    // Revoked through the index, every replica refuses the grant.
    assert_eq!(h.service.revoke_user(USERNAME).await.unwrap(), 1);
    grant_ended(&h, &grant).await;
    assert!(!h.session_alive(&session).await);
    assert_eq!(
        raw_pttl(&redis_url(), &index).await,
        -2,
        "the index is gone"
    );
}

crate::on_both_stores!(
    sessions_per_user_ends_the_oldest_session_and_what_it_issued,
    a_login_as_another_user_ends_the_browsers_earlier_session,
    a_logout_after_a_relogin_ends_the_earlier_sessions_refresh_tokens,
);

// The core flows on a Redis Cluster.
crate::on_the_cluster_too!(
    sessions_per_user_ends_the_oldest_session_and_what_it_issued,
    a_login_as_another_user_ends_the_browsers_earlier_session,
);
