//! `PORTHOR_*` variables over a file: which override what, how their values
//! are checked, and which are ignored.

use std::time::Duration;

use porthor_store::BackendConfig;

use super::{Fixture, KeyFiles, env_of, good_toml, load, validate};

/// The three variables the documentation promises, over a file.
#[test]
fn environment_overrides_the_file() {
    let fixture = Fixture::new();
    let env = [
        ("PORTHOR_ISSUER", "https://login.example.org"),
        ("PORTHOR_STORE__REDIS_URL", "redis://10.0.0.7:6380/3"),
        ("PORTHOR_TOKENS__CODE_LIFETIME", "2m"),
        ("PORTHOR_SERVER__LISTEN", "0.0.0.0:9999"),
        ("PORTHOR_SERVER__WORKERS", "7"),
        ("PORTHOR_STORE__POOL_SIZE", "3"),
    ];
    let config = fixture.load(&good_toml(), &env).unwrap();
    assert_eq!(config.oidc.issuer.as_str(), "https://login.example.org");
    assert!(
        matches!(&config.store.backend, BackendConfig::Redis { url, pool_size: 3 } if url == "redis://10.0.0.7:6380/3"),
        "{:?}",
        config.store.backend
    );
    assert_eq!(config.oidc.lifetimes.code, Duration::from_secs(120));
    // Untouched keys keep the file's values.
    assert_eq!(config.oidc.lifetimes.id_token, Duration::from_secs(15 * 60));
    assert_eq!(config.listen, "0.0.0.0:9999".parse().unwrap());
    assert_eq!(config.workers, Some(7));
    assert_eq!(config.oidc.clients.len(), 2);
}

#[test]
fn environment_values_are_validated_by_key() {
    let fixture = Fixture::new();
    let env = [("PORTHOR_TOKENS__CODE_LIFETIME", "1h")];
    let errors = fixture.load(&good_toml(), &env).unwrap_err();
    assert_eq!(
        errors.problems()[0].key.as_deref(),
        Some("tokens.code_lifetime")
    );

    let env = [("PORTHOR_STORE__POOL_SIZE", "lots")];
    let message = fixture.load(&good_toml(), &env).unwrap_err().to_string();
    assert!(message.contains("store.pool_size: "), "{message}");
    assert!(message.contains("from the environment"), "{message}");
}

#[test]
fn prefix_takes_one_underscore_and_unknown_variables_are_ignored() {
    let fixture = Fixture::new();
    std::fs::write(fixture.config_path(), good_toml()).unwrap();
    let env = env_of(&[
        // `__` after the prefix names the key `_issuer`, which does not exist.
        ("PORTHOR__ISSUER", "https://wrong.example.com"),
        ("PORTHOR_STORE__REDIS_ULR", "redis://typo"),
        ("PORTHOR_TEST_REDIS_URL", "redis://127.0.0.1:1/0"),
        ("PORTHORISSUER", "https://wrong.example.com"),
        ("OTHER_ISSUER", "https://wrong.example.com"),
        // Variable names are case-insensitive, as config-rs lowercases them.
        ("porthor_server__listen", "127.0.0.1:1234"),
    ]);
    let loaded = load(Some(&fixture.config_path()), env).unwrap();
    assert_eq!(
        loaded.ignored_env,
        [
            "PORTHOR_STORE__REDIS_ULR",
            "PORTHOR_TEST_REDIS_URL",
            "PORTHOR__ISSUER"
        ]
    );
    let config = validate(&loaded, KeyFiles::OwnerOnly).unwrap();
    assert_eq!(config.oidc.issuer.as_str(), "https://auth.example.com");
    assert_eq!(config.listen, "127.0.0.1:1234".parse().unwrap());
}
