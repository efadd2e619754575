//! The service without HTTP: configuration checks and the flow's edges that
//! are awkward to reach over the wire (lifetimes capped by the session).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::sync::Arc;
use std::time::Duration;

use porthor_models::{
    AuthMethod, AuthorizationStore, Client, ClientSecretHash, RedirectUri, Timestamp, User,
};
use porthor_oidc::{
    AuthorizationRequest, ClientCredentials, CsrfKey, EndSessionRequest, Issuer, Lifetimes, Limits,
    OidcConfig, OidcError, OidcService, Throttle, TokenRequest, hash_password,
};
use porthor_signer::{Signer, SigningAlgorithm, generate_pem};
use porthor_test_support::{memory_store, now};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use url::Url;

const SECRET: &str = "a-client-secret-that-is-long-enough-0123";
const CALLBACK: &str = "https://app.example.com/cb";

fn client(id: &str) -> Client {
    Client::confidential(
        id,
        ClientSecretHash::from_secret(SECRET).unwrap(),
        vec![RedirectUri::parse(CALLBACK).unwrap()],
    )
}

fn user(name: &str, password_hash: String) -> User {
    User {
        username: name.into(),
        name: None,
        email: Some(format!("{name}@example.com")),
        groups: vec![],
        password_hash,
    }
}

fn config(clients: Vec<Client>, users: Vec<User>, lifetimes: Lifetimes) -> OidcConfig {
    OidcConfig {
        issuer: Issuer::parse("https://auth.example.com").unwrap(),
        lifetimes,
        limits: Limits::default(),
        csrf_key: CsrfKey::generate(),
        clients,
        users,
        throttle: Throttle::default(),
        password_queue_timeout: OidcConfig::DEFAULT_PASSWORD_QUEUE_TIMEOUT,
        metrics_per_client: false,
    }
}

async fn service(config: OidcConfig) -> Result<OidcService, OidcError> {
    service_with_key(
        config,
        generate_pem(SigningAlgorithm::Es256).unwrap().as_bytes(),
    )
    .await
}

async fn service_with_key(config: OidcConfig, pem: &[u8]) -> Result<OidcService, OidcError> {
    let store: Arc<dyn AuthorizationStore> = Arc::new(memory_store().await);
    OidcService::new(config, store, Signer::from_pem(pem).unwrap())
}

/// Runs the flow for `client_id` in the session named by `cookie`.
async fn flow(
    service: &OidcService,
    client_id: &str,
    cookie: &str,
    at: Timestamp,
) -> porthor_models::TokenResponse {
    flow_with_scope(service, client_id, cookie, "openid email", at).await
}

fn credentials(client_id: &str) -> Option<ClientCredentials> {
    Some(ClientCredentials {
        client_id: client_id.into(),
        client_secret: Some(SECRET.into()),
        method: AuthMethod::ClientSecretPost,
    })
}

async fn flow_with_scope(
    service: &OidcService,
    client_id: &str,
    cookie: &str,
    scope: &str,
    at: Timestamp,
) -> porthor_models::TokenResponse {
    let session = service.session(cookie, at).await.unwrap().unwrap();
    let request = AuthorizationRequest {
        client_id: Some(client_id.into()),
        redirect_uri: Some(CALLBACK.into()),
        response_type: Some("code".into()),
        scope: Some(scope.into()),
        nonce: Some("n".into()),
        ..AuthorizationRequest::default()
    };
    let valid = service.validate_authorization(request).unwrap();
    let redirect = Url::parse(&service.issue_code(&valid, &session, at).await.unwrap()).unwrap();
    let code = redirect
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let request = TokenRequest {
        client: credentials(client_id),
        grant_type: Some("authorization_code".into()),
        code: Some(code),
        redirect_uri: Some(CALLBACK.into()),
        ..TokenRequest::default()
    };
    service.token(request, at).await.unwrap()
}

#[tokio::test]
async fn contradictory_configuration_is_refused() {
    let hash = hash_password("pw").unwrap();
    let cases = [
        (
            "duplicate client",
            config(vec![client("a"), client("a")], vec![], Lifetimes::default()),
        ),
        (
            "client without redirect URIs",
            config(
                vec![Client {
                    redirect_uris: vec![],
                    ..client("a")
                }],
                vec![],
                Lifetimes::default(),
            ),
        ),
        (
            "client whose settings contradict each other",
            config(
                vec![Client {
                    always_issue_refresh_token: true,
                    allow_offline_access: false,
                    ..client("a")
                }],
                vec![],
                Lifetimes::default(),
            ),
        ),
        (
            "duplicate user",
            config(
                vec![],
                vec![user("u", hash.clone()), user("u", hash.clone())],
                Lifetimes::default(),
            ),
        ),
        (
            "bad password hash",
            config(
                vec![],
                vec![user("u", "plaintext".into())],
                Lifetimes::default(),
            ),
        ),
        (
            "no session allowed per user",
            OidcConfig {
                limits: Limits {
                    sessions_per_user: 0,
                },
                ..config(vec![], vec![], Lifetimes::default())
            },
        ),
    ];
    for (what, config) in cases {
        match service(config).await {
            Err(OidcError::InvalidConfig(message)) => {
                assert!(!message.contains("plaintext"), "{what}: {message}")
            }
            other => panic!("{what}: {other:?}"),
        }
    }
}

/// A service with the client `app` and the user `alice` (password `pw`).
async fn alice_and_app(lifetimes: Lifetimes) -> OidcService {
    service(config(
        vec![client("app")],
        vec![user("alice", hash_password("pw").unwrap())],
        lifetimes,
    ))
    .await
    .unwrap()
}

async fn refresh(
    service: &OidcService,
    refresh_token: &str,
    at: Timestamp,
) -> Result<porthor_models::TokenResponse, OidcError> {
    let request = TokenRequest {
        client: credentials("app"),
        grant_type: Some("refresh_token".into()),
        refresh_token: Some(refresh_token.into()),
        ..TokenRequest::default()
    };
    service.token(request, at).await
}

/// A refresh-token family outlives the browser session, is renewed by each
/// refresh up to its idle timeout, and ends at its absolute lifetime
/// however active; its access tokens end with it.
#[tokio::test]
async fn refresh_family_deadlines() {
    let lifetimes = Lifetimes {
        session: Duration::from_secs(100),
        refresh_token: Duration::from_secs(1000),
        refresh_token_idle: Duration::from_secs(300),
        ..Lifetimes::default()
    };
    let service = alice_and_app(lifetimes).await;
    let t0 = now();
    let at = |secs| t0.after(Duration::from_secs(secs));
    let cookie = service
        .login("alice", "pw", None, None, t0)
        .await
        .unwrap()
        .expose();
    let first = flow_with_scope(&service, "app", &cookie, "openid email offline_access", t0).await;
    assert_eq!(first.scope, "openid email offline_access");
    // Within the session, as usual.
    assert_eq!(first.expires_in, 100);

    // Past the browser session, inside the idle timeout: refreshes work and
    // their access tokens live their full hour, within the family's life.
    assert!(service.session(&cookie, at(200)).await.unwrap().is_none());
    let mut token = first.refresh_token.unwrap();
    for step in [250, 500, 750] {
        let refreshed = refresh(&service, &token, at(step)).await.unwrap();
        assert_eq!(refreshed.expires_in, (1000 - step).min(300));
        let claims = service
            .verify_token(refreshed.id_token.as_deref().unwrap(), at(step))
            .unwrap();
        assert_eq!(claims.auth_time, t0.as_unix());
        assert_eq!(claims.nonce, None);
        let userinfo = service.userinfo(&refreshed.access_token, at(step)).await;
        assert_eq!(
            userinfo.unwrap().email.as_deref(),
            Some("alice@example.com")
        );
        token = refreshed.refresh_token.unwrap();
    }
    // Idle too long: 750 + 300.
    assert!(matches!(
        refresh(&service, &token, at(1050)).await,
        Err(OidcError::InvalidGrant(_))
    ));

    // Absolute lifetime: refreshing every 200 s, the family still ends at
    // 1000 s.
    let cookie = service
        .login("alice", "pw", None, None, at(2000))
        .await
        .unwrap()
        .expose();
    let grant = flow_with_scope(&service, "app", &cookie, "openid offline_access", at(2000)).await;
    let mut token = grant.refresh_token.unwrap();
    for step in [2200, 2400, 2600, 2800] {
        token = refresh(&service, &token, at(step))
            .await
            .unwrap()
            .refresh_token
            .unwrap();
    }
    assert!(matches!(
        refresh(&service, &token, at(3000)).await,
        Err(OidcError::InvalidGrant(_))
    ));
}

/// Codes, access tokens and ID tokens never outlive the login session.
#[tokio::test]
async fn tokens_are_capped_by_the_session() {
    let lifetimes = Lifetimes {
        session: Duration::from_secs(100),
        ..Lifetimes::default()
    };
    let service = alice_and_app(lifetimes).await;
    let t0 = now();
    assert!(matches!(
        service.login("alice", "wrong", None, None, t0).await,
        Err(OidcError::InvalidCredentials)
    ));
    assert!(matches!(
        service.login("bob", "pw", None, None, t0).await,
        Err(OidcError::InvalidCredentials)
    ));
    let cookie = service
        .login("alice", "pw", None, None, t0)
        .await
        .unwrap()
        .expose();
    // The flow runs 60 s into a 100 s session.
    let now = t0.after(Duration::from_secs(60));
    let response = flow(&service, "app", &cookie, now).await;
    // 40 seconds of session left, though access and ID tokens live an hour.
    assert_eq!(response.expires_in, 40);
    let claims = service
        .verify_token(response.id_token.as_deref().unwrap(), now)
        .unwrap();
    assert_eq!(claims.exp, now.as_unix() + 40);
    assert_eq!(claims.auth_time, t0.as_unix());
    assert_eq!(claims.user.email.as_deref(), Some("alice@example.com"));
    assert_eq!(claims.user.name, None, "profile was not granted");
    let userinfo = service.userinfo(&response.access_token, now).await.unwrap();
    assert_eq!(userinfo.sub, "alice");
    // After the session's end, the token is refused even inside its own TTL.
    let later = t0.after(Duration::from_secs(101));
    assert!(matches!(
        service.userinfo(&response.access_token, later).await,
        Err(OidcError::InvalidToken(_))
    ));
    assert!(service.session(&cookie, later).await.unwrap().is_none());
}

/// An ID token verifies only with this provider's key, for a client this
/// provider knows.
#[tokio::test]
async fn verify_token_checks_key_and_audience() {
    let pem = generate_pem(SigningAlgorithm::Es256).unwrap();
    let alice = || vec![user("alice", hash_password("pw").unwrap())];
    let issuer = service_with_key(
        config(vec![client("app")], alice(), Lifetimes::default()),
        pem.as_bytes(),
    )
    .await
    .unwrap();
    let cookie = issuer
        .login("alice", "pw", None, None, now())
        .await
        .unwrap()
        .expose();
    let id_token = flow(&issuer, "app", &cookie, now()).await.id_token.unwrap();
    assert_eq!(issuer.verify_token(&id_token, now()).unwrap().aud, "app");

    let same_key_other_clients = service_with_key(
        config(vec![client("other")], alice(), Lifetimes::default()),
        pem.as_bytes(),
    )
    .await
    .unwrap();
    assert!(matches!(
        same_key_other_clients.verify_token(&id_token, now()),
        Err(OidcError::InvalidToken(_))
    ));
    let other_key = service(config(vec![client("app")], alice(), Lifetimes::default()))
        .await
        .unwrap();
    assert!(matches!(
        other_key.verify_token(&id_token, now()),
        Err(OidcError::InvalidToken(_))
    ));
    assert!(matches!(
        issuer.verify_token("not.a.jwt", now()),
        Err(OidcError::InvalidToken(_))
    ));
}

/// A CSRF token verifies only under the key that signed it: on the service
/// that issued it and on a replica sharing its key, never on another, and
/// never once altered. A value the service did not issue (planted in a
/// cookie by a sibling subdomain, say) never verifies.
#[tokio::test]
async fn csrf_tokens_are_signed_by_the_providers_key() {
    let key = CsrfKey::generate();
    let with_key = |key: CsrfKey| {
        let mut config = config(vec![], vec![], Lifetimes::default());
        config.csrf_key = key;
        service(config)
    };
    let issuer = with_key(key.clone()).await.unwrap();
    let replica = with_key(key.clone()).await.unwrap();
    let stranger = with_key(CsrfKey::generate()).await.unwrap();
    let token = issuer.csrf_token();
    assert_ne!(token, issuer.csrf_token(), "fresh each time");
    assert!(issuer.is_csrf_token(&token));
    assert!(replica.is_csrf_token(&token));
    assert!(!stranger.is_csrf_token(&token));

    let (nonce, signature) = token.split_once('.').unwrap();
    let other_nonce = issuer.csrf_token();
    let (other_nonce, _) = other_nonce.split_once('.').unwrap();
    for forged in [
        String::new(),
        ".".to_owned(),
        nonce.to_owned(),
        format!("{nonce}."),
        format!("{other_nonce}.{signature}"),
        format!("{nonce}.{}", &signature[1..]),
        format!("{nonce}.{signature}A"),
        format!("{nonce}.{}", "A".repeat(signature.len())),
        // A bare random value, the form of the old unsigned tokens.
        "AAAAAAAAAAAAAAAAAAAAAA".to_owned(),
    ] {
        assert!(!issuer.is_csrf_token(&forged), "{forged:?}");
    }
    let debug = format!("{key:?}");
    assert_eq!(debug, "CsrfKey(<redacted>)");
}

/// A logout's `id_token_hint` is whatever a browser brings: property tests
/// (256 cases) that no hint but the provider's own unchanged ID token names
/// a user, that a bad hint is a clear `invalid_request` and never a panic,
/// and that nothing without a registered URI redirects. One login and one
/// token, made before the cases.
#[tokio::test]
async fn only_the_providers_own_id_token_hint_names_a_user() {
    let service = alice_and_app(Lifetimes::default()).await;
    let cookie = service
        .login("alice", "pw", None, None, now())
        .await
        .unwrap()
        .expose();
    let id_token = flow(&service, "app", &cookie, now())
        .await
        .id_token
        .unwrap();
    let sub = service.verify_token(&id_token, now()).unwrap().user.sub;

    // The token as it was issued: the user and the client, no redirect.
    let request = |hint: &str, client_id: Option<&str>| EndSessionRequest {
        id_token_hint: Some(hint.to_owned()),
        client_id: client_id.map(str::to_owned),
        ..EndSessionRequest::default()
    };
    for client_id in [None, Some("app")] {
        let end = service
            .validate_end_session(request(&id_token, client_id))
            .unwrap();
        assert_eq!(end.hinted_user.as_deref(), Some(sub.as_str()));
        assert_eq!(end.client_id.as_deref(), Some("app"));
        assert!(end.redirect.is_none());
    }

    // Any one character changed, or any text at all.
    let token_len = id_token.len();
    let hint = prop_oneof![
        (0..token_len, "[A-Za-z0-9_.=+/ -]").prop_map({
            let id_token = id_token.clone();
            move |(at, with)| format!("{}{with}{}", &id_token[..at], &id_token[at + 1..])
        }),
        any::<String>(),
        "[A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_-]{0,40}",
    ];
    let client_id = proptest::option::of(prop_oneof![Just("app".to_owned()), any::<String>()]);
    let redirect = proptest::option::of(prop_oneof![Just(CALLBACK.to_owned()), any::<String>()]);
    TestRunner::default()
        .run(
            &(hint, client_id, redirect),
            |(hint, client_id, redirect)| {
                let result = service.validate_end_session(EndSessionRequest {
                    id_token_hint: Some(hint.clone()),
                    client_id,
                    post_logout_redirect_uri: redirect,
                    state: Some("s".to_owned()),
                    repeated: None,
                });
                if hint == id_token {
                    return Ok(());
                }
                prop_assert!(
                    matches!(&result, Err(OidcError::InvalidRequest(_))),
                    "{:?} for {:?}",
                    result,
                    hint
                );
                Ok(())
            },
        )
        .unwrap();
}

/// A reload hands back a new service on the same store: what it no longer
/// configures is refused at its next use (a user's sessions and tokens, a
/// client's tokens), what it keeps carries over, and the service it came
/// from, which in-flight requests hold, is unchanged.
#[tokio::test]
async fn a_reload_refuses_what_its_configuration_no_longer_has() {
    let hash = hash_password("pw").unwrap();
    let service = service(config(
        vec![client("app"), client("other")],
        vec![user("alice", hash.clone()), user("bob", hash.clone())],
        Lifetimes::default(),
    ))
    .await
    .unwrap();
    let at = now();
    let log_in = |name: &'static str| {
        let service = service.clone();
        async move {
            service
                .login(name, "pw", None, None, at)
                .await
                .unwrap()
                .expose()
        }
    };
    let (alice, bob) = (log_in("alice").await, log_in("bob").await);
    let alices = flow_with_scope(&service, "app", &alice, "openid offline_access", at).await;
    let bobs_at_other = flow(&service, "other", &bob, at).await;
    let bobs_at_app = flow(&service, "app", &bob, at).await;

    let pem = generate_pem(SigningAlgorithm::EdDsa).unwrap();
    let signer = Signer::from_pem(pem.as_bytes()).unwrap();
    let kid = signer.kid().to_owned();
    let (reloaded, changes) = service
        .reload(
            config(
                vec![client("app"), client("new")],
                vec![user("bob", hash.clone())],
                Lifetimes::default(),
            ),
            signer,
        )
        .unwrap();
    assert_eq!(changes.clients_added, ["new"]);
    assert_eq!(changes.clients_removed, ["other"]);
    assert!(changes.users_added.is_empty());
    assert_eq!(changes.users_removed, ["alice"]);
    assert_eq!(changes.signing_kid.as_deref(), Some(kid.as_str()));
    assert_eq!(changes.published_kids, std::slice::from_ref(&kid));
    assert!(!changes.throttle_changed);
    assert_eq!(reloaded.jwks().keys.len(), 1);
    assert_eq!(
        reloaded
            .openid_configuration()
            .id_token_signing_alg_values_supported,
        ["EdDSA"]
    );

    // Alice's session and tokens, and Bob's at the removed client: refused.
    assert!(reloaded.session(&alice, at).await.unwrap().is_none());
    assert!(reloaded.userinfo(&alices.access_token, at).await.is_err());
    let refused = refresh(&reloaded, alices.refresh_token.as_deref().unwrap(), at).await;
    assert!(
        matches!(refused, Err(OidcError::InvalidGrant(_))),
        "{refused:?}"
    );
    assert!(
        reloaded
            .userinfo(&bobs_at_other.access_token, at)
            .await
            .is_err()
    );
    // Bob's session and his tokens at the client that stays: as before.
    assert!(reloaded.session(&bob, at).await.unwrap().is_some());
    assert!(
        reloaded
            .userinfo(&bobs_at_app.access_token, at)
            .await
            .is_ok()
    );
    let at_new = flow(&reloaded, "new", &bob, at).await;
    assert!(at_new.id_token.is_some());

    // The service requests started on still knows Alice.
    assert!(service.session(&alice, at).await.unwrap().is_some());
    assert_ne!(service.jwks().keys[0].kid, kid);

    // A configuration the service refuses leaves nothing half-applied.
    let refused = reloaded.reload(
        config(
            vec![client("app"), client("app")],
            vec![user("bob", hash)],
            Lifetimes::default(),
        ),
        Signer::from_pem(pem.as_bytes()).unwrap(),
    );
    assert!(matches!(refused, Err(OidcError::InvalidConfig(_))));
}
