//! Without a file: the embedded demo defaults, and the environment over them.

use std::time::Duration;

use porthor_oidc::Lifetimes;
use porthor_signer::SigningAlgorithm;
use porthor_store::BackendConfig;

use super::{Config, ConfigErrors, Fixture, KeyFiles, STORE_KEY, env_of, load, validate};

fn load_without_file(env: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
    let loaded = load(None, env_of(env))?;
    assert!(loaded.file.is_none());
    validate(&loaded, KeyFiles::OwnerOnly)
}

#[test]
fn without_a_file_the_embedded_defaults_apply() {
    let config = load_without_file(&[]).unwrap();
    assert_eq!(config.listen, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(config.oidc.issuer.as_str(), "http://127.0.0.1:8080");
    assert!(matches!(config.store.backend, BackendConfig::Memory));
    assert_eq!(config.signer.algorithm(), SigningAlgorithm::Rs256);
    assert_eq!(config.oidc.lifetimes, Lifetimes::default());
    let demo = config.demo.unwrap();
    let [client] = config.oidc.clients.as_slice() else {
        panic!("expected only the demo client");
    };
    assert_eq!(client.client_id, "demo");
    assert!(client.secret_hash().unwrap().verify(&demo.client_secret));
    // The demo relying party's callback: it logs in as this client.
    assert!(client.allows_redirect("http://127.0.0.1:8080/demo/callback"));
    assert_eq!(demo.redirect_uri, "http://127.0.0.1:8080/demo/callback");
    let relying_party = config.demo_app.expect("the demo relying party is on");
    assert_eq!(relying_party.client_id, "demo");
    assert_eq!(relying_party.client_secret, demo.client_secret);
    let [user] = config.oidc.users.as_slice() else {
        panic!("expected only the demo user");
    };
    assert_eq!(user.username, demo.username);
    assert!(porthor_oidc::check_password_hash(&user.password_hash).is_ok());
}

/// The three documented variables, and the listen address the issuer
/// follows, without a file.
#[test]
fn environment_applies_without_a_file() {
    let config = load_without_file(&[("PORTHOR_SERVER__LISTEN", "127.0.0.1:9123")]).unwrap();
    assert_eq!(config.oidc.issuer.as_str(), "http://127.0.0.1:9123");
    assert_eq!(config.listen.port(), 9123);

    let fixture = Fixture::new();
    let key_file = fixture.dir.path().join("secrets/store.key");
    let config = load_without_file(&[
        ("PORTHOR_ISSUER", "https://demo.example.com"),
        ("PORTHOR_STORE__BACKEND", "redis"),
        ("PORTHOR_STORE__REDIS_URL", "redis://127.0.0.1:6390/2"),
        (
            "PORTHOR_STORE__ENCRYPTION_KEY_FILE",
            key_file.to_str().unwrap(),
        ),
        ("PORTHOR_TOKENS__CODE_LIFETIME", "45s"),
    ])
    .unwrap();
    assert_eq!(config.oidc.issuer.as_str(), "https://demo.example.com");
    assert!(
        matches!(&config.store.backend, BackendConfig::Redis { url, pool_size: 1 } if url == "redis://127.0.0.1:6390/2"),
        "{:?}",
        config.store.backend
    );
    assert_eq!(config.store.encryption_key.to_base64(), *STORE_KEY);
    assert_eq!(config.oidc.lifetimes.code, Duration::from_secs(45));

    // A Redis URL alone does not switch the embedded memory store to Redis:
    // it is ignored, with a warning.
    let config =
        load_without_file(&[("PORTHOR_STORE__REDIS_URL", "redis://127.0.0.1:6390/2")]).unwrap();
    assert!(matches!(config.store.backend, BackendConfig::Memory));
    assert_eq!(config.warnings[0].key.as_deref(), Some("store.redis_url"));
}

/// `PORTHOR_DEMO__ENABLED=false` turns the demo relying party off; the
/// demo client and user stay, for the README's curl quickstart.
#[test]
fn the_embedded_demo_can_be_turned_off() {
    let config = load_without_file(&[("PORTHOR_DEMO__ENABLED", "false")]).unwrap();
    assert!(config.demo_app.is_none());
    assert!(config.demo.is_some());
    assert_eq!(config.oidc.clients.len(), 1);
    // Its redirect URI follows the issuer.
    let config = load_without_file(&[("PORTHOR_SERVER__LISTEN", "127.0.0.1:9123")]).unwrap();
    assert!(config.oidc.clients[0].allows_redirect("http://127.0.0.1:9123/demo/callback"));
    assert!(config.demo_app.is_some());
}

#[test]
fn embedded_issuer_must_still_be_valid() {
    // 0.0.0.0 is not loopback, so http://0.0.0.0:8080 is not an issuer.
    let errors = load_without_file(&[("PORTHOR_SERVER__LISTEN", "0.0.0.0:8080")]).unwrap_err();
    assert_eq!(errors.problems()[0].key.as_deref(), Some("issuer"));
    assert!(errors.to_string().contains("PORTHOR_ISSUER"), "{errors}");
    let config = load_without_file(&[
        ("PORTHOR_SERVER__LISTEN", "0.0.0.0:8080"),
        ("PORTHOR_ISSUER", "https://auth.example.com"),
    ])
    .unwrap();
    assert_eq!(config.oidc.issuer.as_str(), "https://auth.example.com");
}
