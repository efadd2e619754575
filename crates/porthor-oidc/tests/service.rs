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

use porthor_models::{AuthorizationStore, Client, ClientSecretHash, RedirectUri, Timestamp, User};
use porthor_oidc::{
    AuthorizationRequest, ClientCredentials, Issuer, Lifetimes, OidcConfig, OidcError, OidcService,
    TokenRequest, hash_password,
};
use porthor_signer::{Signer, SigningAlgorithm, generate_pem};
use porthor_test_support::{memory_store, now};
use url::Url;

const SECRET: &str = "a-client-secret-that-is-long-enough-0123";
const CALLBACK: &str = "https://app.example.com/cb";

fn client(id: &str) -> Client {
    Client {
        client_id: id.into(),
        secret_hash: ClientSecretHash::from_secret(SECRET).unwrap(),
        redirect_uris: vec![RedirectUri::parse(CALLBACK).unwrap()],
        require_pkce: false,
    }
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
        clients,
        users,
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
    let session = service.session(cookie, at).await.unwrap().unwrap();
    let request = AuthorizationRequest {
        client_id: Some(client_id.into()),
        redirect_uri: Some(CALLBACK.into()),
        response_type: Some("code".into()),
        scope: Some("openid email".into()),
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
        client: Some(ClientCredentials {
            client_id: client_id.into(),
            client_secret: Some(SECRET.into()),
        }),
        grant_type: Some("authorization_code".into()),
        code: Some(code),
        redirect_uri: Some(CALLBACK.into()),
        code_verifier: None,
        malformed: None,
    };
    service.redeem_code(request, at).await.unwrap()
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

/// Codes, access tokens and ID tokens never outlive the login session.
#[tokio::test]
async fn tokens_are_capped_by_the_session() {
    let lifetimes = Lifetimes {
        session: Duration::from_secs(100),
        ..Lifetimes::default()
    };
    let service = service(config(
        vec![client("app")],
        vec![user("alice", hash_password("pw").unwrap())],
        lifetimes,
    ))
    .await
    .unwrap();
    let t0 = now();
    assert!(matches!(
        service.login("alice", "wrong", t0).await,
        Err(OidcError::InvalidCredentials)
    ));
    assert!(matches!(
        service.login("bob", "pw", t0).await,
        Err(OidcError::InvalidCredentials)
    ));
    let cookie = service.login("alice", "pw", t0).await.unwrap().expose();
    // The flow runs 60 s into a 100 s session.
    let now = t0.after(Duration::from_secs(60));
    let response = flow(&service, "app", &cookie, now).await;
    // 40 seconds of session left, though access and ID tokens live an hour.
    assert_eq!(response.expires_in, 40);
    let claims = service.verify_token(&response.id_token, now).unwrap();
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
    let cookie = issuer.login("alice", "pw", now()).await.unwrap().expose();
    let id_token = flow(&issuer, "app", &cookie, now()).await.id_token;
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
