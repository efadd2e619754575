//! A file loads: every key it sets, the defaults for the rest, and broken
//! TOML reported as such.

use std::path::Path;
use std::time::Duration;

use porthor_models::{AuthMethod, ClientAuth};
use porthor_oidc::Lifetimes;
use porthor_signer::SigningAlgorithm;
use porthor_store::BackendConfig;

use super::{Fixture, SECRET, STORE_KEY, edited, good_toml, load, secret_hash};

#[test]
fn good_file_loads() {
    let fixture = Fixture::new();
    // Relative key paths resolve against the file's directory, not the
    // working directory (the crate directory, under cargo test).
    assert!(!Path::new("secrets/signing.pem").exists());
    let config = fixture.load(&good_toml(), &[]).unwrap();

    assert_eq!(config.listen, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(config.workers, Some(2));
    assert_eq!(config.oidc.issuer.as_str(), "https://auth.example.com");
    assert_eq!(
        config.oidc.lifetimes,
        Lifetimes {
            code: Duration::from_secs(30),
            id_token: Duration::from_secs(15 * 60),
            access_token: Duration::from_secs(3600),
            session: Duration::from_secs(12 * 3600),
            refresh_token: Duration::from_secs(30 * 24 * 3600),
            refresh_token_idle: Duration::from_secs(7 * 24 * 3600),
            consent: Duration::from_secs(90 * 24 * 3600),
        }
    );
    let clients: Vec<_> = config
        .oidc
        .clients
        .iter()
        .map(|c| c.client_id.as_str())
        .collect();
    assert_eq!(clients, ["chronograf", "grafana"]);
    let grafana = &config.oidc.clients[1];
    assert!(grafana.secret_hash().unwrap().verify(SECRET));
    assert!(grafana.allows_redirect("http://127.0.0.1:3000/cb"));
    let alice = &config.oidc.users[0];
    assert_eq!(alice.username, "alice");
    assert_eq!(alice.name.as_deref(), Some("Alice Example"));
    assert_eq!(alice.email.as_deref(), Some("alice@example.com"));
    assert_eq!(config.oidc.users[1].email, None);
    match &config.store.backend {
        BackendConfig::Redis { url, pool_size } => {
            assert_eq!(url, "redis://:hunter2@127.0.0.1:6399/0");
            assert_eq!(*pool_size, 8);
        }
        other => panic!("expected redis, got {other:?}"),
    }
    assert_eq!(config.store.key_prefix, "porthor-test");
    assert_eq!(config.store.encryption_key.to_base64(), *STORE_KEY);
    assert_eq!(config.signer.algorithm(), SigningAlgorithm::Es256);
    assert!(config.demo.is_none());
}

#[test]
fn client_registration_options() {
    let fixture = Fixture::new();
    let toml = edited(
        "[[users]]",
        r#"[[clients]]
client_id = "spa"
token_endpoint_auth_method = "none"
redirect_uris = ["https://spa.example.com/cb"]
post_logout_redirect_uris = ["https://spa.example.com/", "https://spa.example.com/bye"]
always_issue_refresh_token = true
allow_offline_access = true

[[clients]]
client_id = "strict"
client_secret_hash = "HASH"
token_endpoint_auth_method = "client_secret_post"
redirect_uris = ["https://strict.example.com/cb"]

[[users]]"#,
    )
    .replace("HASH", &secret_hash())
    .replace(
        "id_token_lifetime = \"15m\"",
        "id_token_lifetime = \"15m\"\nrefresh_token_lifetime = \"90d\"\nrefresh_token_idle_timeout = \"1d\"",
    );
    let config = fixture.load(&toml, &[]).unwrap();
    assert_eq!(
        config.oidc.lifetimes.refresh_token,
        Duration::from_secs(90 * 24 * 3600)
    );
    assert_eq!(
        config.oidc.lifetimes.refresh_token_idle,
        Duration::from_secs(24 * 3600)
    );
    let client = |id: &str| {
        config
            .oidc
            .clients
            .iter()
            .find(|client| client.client_id == id)
            .unwrap()
    };
    let spa = client("spa");
    assert!(spa.is_public() && spa.needs_pkce() && spa.always_issue_refresh_token);
    assert!(spa.secret_hash().is_none());
    assert!(spa.allows_post_logout_redirect("https://spa.example.com/bye"));
    assert!(!spa.allows_post_logout_redirect("https://spa.example.com/cb"));
    match &client("strict").auth {
        ClientAuth::Secret { hash, method } => {
            assert!(hash.verify(SECRET));
            assert_eq!(*method, Some(AuthMethod::ClientSecretPost));
        }
        ClientAuth::Public => panic!("strict is confidential"),
    }
    // Unset: either secret method, no PKCE requirement, no refresh tokens
    // without offline_access, no logout redirects.
    let grafana = client("grafana");
    assert!(matches!(
        grafana.auth,
        ClientAuth::Secret { method: None, .. }
    ));
    assert!(!grafana.needs_pkce() && !grafana.always_issue_refresh_token);
    assert!(grafana.post_logout_redirect_uris.is_empty());
}

#[test]
fn minimal_file_takes_the_defaults() {
    let fixture = Fixture::new();
    let toml = r#"
issuer = "https://auth.example.com/"
[store]
backend = "memory"
[signing]
key_file = "secrets/signing.pem"
"#;
    let config = fixture.load(toml, &[]).unwrap();
    assert_eq!(config.listen, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(config.workers, None);
    assert_eq!(config.oidc.lifetimes, Lifetimes::default());
    assert!(matches!(config.store.backend, BackendConfig::Memory));
    assert_eq!(config.store.key_prefix, "porthor");
    assert!(config.oidc.clients.is_empty() && config.oidc.users.is_empty());
}

#[test]
fn broken_toml_is_a_file_problem() {
    let fixture = Fixture::new();
    let errors = fixture.load("issuer = \"unterminated\n", &[]).unwrap_err();
    let [problem] = errors.problems() else {
        panic!("{errors}");
    };
    assert_eq!(problem.key, None);
    assert!(problem.message.contains("TOML"), "{problem}");

    let missing = load(Some(Path::new("/nonexistent/porthor.toml")), Vec::new());
    assert!(
        missing
            .unwrap_err()
            .to_string()
            .contains("cannot read /nonexistent/porthor.toml")
    );
}

/// A Redis Cluster or a Sentinel group instead of one server, with the
/// password from `password_file` put into every URL (and nowhere in the
/// file); TLS (`rediss://`) accepted.
#[test]
fn redis_cluster_and_sentinel_with_a_password_file() {
    let fixture = Fixture::new();
    fixture.write_key("secrets/redis.password", "s3cret/pw\n");
    let cluster = edited(
        "redis_url = \"redis://:hunter2@127.0.0.1:6399/0\"",
        "cluster_urls = [\"redis://10.0.0.1:6379\", \"rediss://porthor@10.0.0.2:6379\"]\npassword_file = \"secrets/redis.password\"",
    );
    let config = fixture.load(&cluster, &[]).unwrap();
    match &config.store.backend {
        BackendConfig::RedisCluster { urls, pool_size } => {
            assert_eq!(
                urls,
                &[
                    "redis://:s3cret%2Fpw@10.0.0.1:6379",
                    "rediss://porthor:s3cret%2Fpw@10.0.0.2:6379"
                ]
            );
            assert_eq!(*pool_size, 8);
        }
        other => panic!("expected a cluster, got {other:?}"),
    }
    assert!(!format!("{:?}", config.store).contains("s3cret"));

    let sentinel = edited(
        "[signing]",
        "[store.sentinel]\nmaster_name = \"porthor\"\nurls = [\"redis://10.0.0.1:26379\", \"redis://10.0.0.2:26379\"]\n\n[signing]",
    )
    .replace("redis_url = \"redis://:hunter2@127.0.0.1:6399/0\"\n", "");
    let config = fixture.load(&sentinel, &[]).unwrap();
    match &config.store.backend {
        BackendConfig::RedisSentinel {
            master_name, urls, ..
        } => {
            assert_eq!(master_name, "porthor");
            assert_eq!(urls, &["redis://10.0.0.1:26379", "redis://10.0.0.2:26379"]);
        }
        other => panic!("expected sentinels, got {other:?}"),
    }
}
