//! Tests of loading and validation: a good file, each bad key reported by its
//! name, and the `PORTHOR_*` environment with and without a file.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Duration;

use porthor_models::ClientSecretHash;
use porthor_signer::SigningAlgorithm;
use porthor_store::{BackendConfig, EncryptionKey};
use tempfile::TempDir;

use super::*;
use crate::settings;

/// A secret of the right length, and its hash.
const SECRET: &str = "0123456789abcdefghijklmnopqrstuvwxyz";

/// One Argon2 hash for every test (hashing is slow on purpose).
static PASSWORD_HASH: LazyLock<String> =
    LazyLock::new(|| porthor_oidc::hash_password("correct horse").unwrap());

/// One ES256 key (fast to make) for every test.
static SIGNING_PEM: LazyLock<String> = LazyLock::new(|| {
    porthor_signer::generate_pem(SigningAlgorithm::Es256)
        .unwrap()
        .to_string()
});

static STORE_KEY: LazyLock<String> = LazyLock::new(|| EncryptionKey::generate().to_base64());

/// A directory with `porthor.toml` and the key files it names, relative to it.
struct Fixture {
    dir: TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("secrets")).unwrap();
        std::fs::write(dir.path().join("secrets/signing.pem"), SIGNING_PEM.as_str()).unwrap();
        std::fs::write(
            dir.path().join("secrets/store.key"),
            format!("{}\n", *STORE_KEY),
        )
        .unwrap();
        Self { dir }
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("porthor.toml")
    }

    fn load(&self, toml: &str, env: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
        std::fs::write(self.config_path(), toml).unwrap();
        let loaded = settings::load(Some(&self.config_path()), env_of(env))?;
        validate(&loaded)
    }

    /// The keys of the problems with `toml`, which must not load.
    fn problem_keys(&self, toml: &str) -> Vec<String> {
        let errors = self.load(toml, &[]).unwrap_err();
        errors
            .problems()
            .iter()
            .map(|problem| problem.key.clone().unwrap_or_default())
            .collect()
    }
}

fn env_of(env: &[(&str, &str)]) -> Vec<(String, String)> {
    env.iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

fn secret_hash() -> String {
    ClientSecretHash::from_secret(SECRET).unwrap().to_string()
}

/// A complete, valid file.
fn good_toml() -> String {
    format!(
        r#"
issuer = "https://auth.example.com"

[server]
listen = "127.0.0.1:8080"
workers = 2

[store]
backend = "redis"
redis_url = "redis://:hunter2@127.0.0.1:6399/0"
pool_size = 8
key_prefix = "porthor-test"
encryption_key_file = "secrets/store.key"

[signing]
key_file = "secrets/signing.pem"

[tokens]
code_lifetime = "30s"
id_token_lifetime = "15m"

[log]
format = "json"

[[clients]]
client_id = "chronograf"
client_secret_hash = "{hash}"
redirect_uris = ["https://chronograf.example.com/oauth/OIDC/callback"]

[[clients]]
client_id = "grafana"
client_secret_hash = "{hash}"
redirect_uris = ["https://grafana.example.com/login/generic_oauth", "http://127.0.0.1:3000/cb"]

[[users]]
username = "alice"
password_hash = "{password}"
name = "Alice Example"
email = "alice@example.com"

[[users]]
username = "bob"
password_hash = "{password}"
"#,
        hash = secret_hash(),
        password = *PASSWORD_HASH,
    )
}

/// `good_toml` with `from` replaced by `to` (which must occur).
fn edited(from: &str, to: &str) -> String {
    let toml = good_toml();
    assert!(toml.contains(from), "{from:?} is not in the good file");
    toml.replacen(from, to, 1)
}

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
        BackendConfig::Memory => panic!("expected redis"),
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
fn each_bad_key_is_named() {
    let fixture = Fixture::new();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "plain http issuer",
            edited("https://auth.example.com", "http://auth.example.com"),
            "issuer",
        ),
        (
            "issuer with a query",
            edited("https://auth.example.com", "https://auth.example.com/?x=1"),
            "issuer",
        ),
        (
            "no issuer",
            edited("issuer = \"https://auth.example.com\"", ""),
            "issuer",
        ),
        (
            "redirect uri with a fragment",
            edited(
                "https://grafana.example.com/login/generic_oauth",
                "https://grafana.example.com/cb#frag",
            ),
            "clients[1].redirect_uris[0]",
        ),
        (
            "second redirect uri on plain http",
            edited("http://127.0.0.1:3000/cb", "http://grafana.example.com/cb"),
            "clients[1].redirect_uris[1]",
        ),
        (
            "no redirect uris",
            edited(
                r#"["https://chronograf.example.com/oauth/OIDC/callback"]"#,
                "[]",
            ),
            "clients[0].redirect_uris",
        ),
        (
            "plain-text client secret",
            edited(&secret_hash(), SECRET),
            "clients[0].client_secret_hash",
        ),
        (
            "unknown client authentication method",
            edited(
                "client_id = \"chronograf\"",
                "client_id = \"chronograf\"\ntoken_endpoint_auth_method = \"private_key_jwt\"",
            ),
            "clients[0].token_endpoint_auth_method",
        ),
        (
            "public client with a secret",
            edited(
                "client_id = \"chronograf\"",
                "client_id = \"chronograf\"\ntoken_endpoint_auth_method = \"none\"",
            ),
            "clients[0].client_secret_hash",
        ),
        (
            "confidential client without a secret",
            edited(&format!("client_secret_hash = \"{}\"\n", secret_hash()), ""),
            "clients[0].client_secret_hash",
        ),
        (
            "post-logout redirect uri with a fragment",
            edited(
                "client_id = \"chronograf\"",
                "client_id = \"chronograf\"\npost_logout_redirect_uris = [\"https://c.example.com/#x\"]",
            ),
            "clients[0].post_logout_redirect_uris[0]",
        ),
        (
            "refresh token lifetime that is not a duration",
            edited(
                "code_lifetime = \"30s\"",
                "refresh_token_lifetime = \"forever\"",
            ),
            "tokens.refresh_token_lifetime",
        ),
        (
            "refresh token idle timeout of zero",
            edited(
                "code_lifetime = \"30s\"",
                "refresh_token_idle_timeout = \"0s\"",
            ),
            "tokens.refresh_token_idle_timeout",
        ),
        (
            "bcrypt password hash",
            edited(
                &PASSWORD_HASH,
                "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
            ),
            "users[0].password_hash",
        ),
        (
            "password in clear",
            edited(&PASSWORD_HASH, "hunter2"),
            "users[0].password_hash",
        ),
        (
            "argon2 hash with bad parameters",
            edited(
                &PASSWORD_HASH,
                "$argon2id$v=19$m=1,t=0,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            ),
            "users[0].password_hash",
        ),
        (
            "unknown key in a table",
            edited("pool_size = 8", "pool_sise = 8"),
            "store.pool_sise",
        ),
        (
            "unknown top-level key",
            edited("issuer =", "isuer ="),
            "isuer",
        ),
        (
            "unknown key in a client",
            edited(
                "client_id = \"grafana\"",
                "client_id = \"grafana\"\nscope = \"openid\"",
            ),
            "clients[1].scope",
        ),
        (
            "zero lifetime",
            edited("id_token_lifetime = \"15m\"", "id_token_lifetime = \"0s\""),
            "tokens.id_token_lifetime",
        ),
        (
            "sub-second lifetime",
            edited(
                "id_token_lifetime = \"15m\"",
                "id_token_lifetime = \"500ms\"",
            ),
            "tokens.id_token_lifetime",
        ),
        (
            "code lifetime over ten minutes",
            edited("code_lifetime = \"30s\"", "code_lifetime = \"10m 1s\""),
            "tokens.code_lifetime",
        ),
        (
            "not a duration",
            edited("code_lifetime = \"30s\"", "code_lifetime = \"soon\""),
            "tokens.code_lifetime",
        ),
        (
            "duplicate client",
            edited("client_id = \"grafana\"", "client_id = \"chronograf\""),
            "clients[1].client_id",
        ),
        (
            "duplicate user",
            edited("username = \"bob\"", "username = \"alice\""),
            "users[1].username",
        ),
        (
            "empty client id",
            edited("client_id = \"grafana\"", "client_id = \"\""),
            "clients[1].client_id",
        ),
        (
            "missing client field",
            edited("client_id = \"grafana\"\n", ""),
            "clients[1].client_id",
        ),
        (
            "redis without an encryption key file",
            edited("encryption_key_file = \"secrets/store.key\"", ""),
            "store.encryption_key_file",
        ),
        (
            "encryption key file that does not exist",
            edited("secrets/store.key", "secrets/missing.key"),
            "store.encryption_key_file",
        ),
        (
            "encryption key file that is not a key",
            edited("secrets/store.key", "secrets/signing.pem"),
            "store.encryption_key_file",
        ),
        (
            "redis without a url",
            edited("redis_url = \"redis://:hunter2@127.0.0.1:6399/0\"", ""),
            "store.redis_url",
        ),
        (
            "redis url with the wrong scheme",
            edited(
                "redis://:hunter2@127.0.0.1:6399/0",
                "http://127.0.0.1:6399/0",
            ),
            "store.redis_url",
        ),
        (
            "unknown backend",
            edited("backend = \"redis\"", "backend = \"mysql\""),
            "store.backend",
        ),
        (
            "pool size of the wrong type",
            edited("pool_size = 8", "pool_size = \"many\""),
            "store.pool_size",
        ),
        (
            "zero pool size",
            edited("pool_size = 8", "pool_size = 0"),
            "store.pool_size",
        ),
        (
            "empty key prefix",
            edited("key_prefix = \"porthor-test\"", "key_prefix = \"\""),
            "store.key_prefix",
        ),
        (
            "signing key that does not exist",
            edited("secrets/signing.pem", "secrets/nope.pem"),
            "signing.key_file",
        ),
        (
            "signing key that is not a key",
            edited("secrets/signing.pem", "secrets/store.key"),
            "signing.key_file",
        ),
        (
            "previous signing key that does not exist",
            edited(
                "key_file = \"secrets/signing.pem\"",
                "key_file = \"secrets/signing.pem\"\nprevious_key_files = [\"secrets/nope.pem\"]",
            ),
            "signing.previous_key_files[0]",
        ),
        (
            "previous signing key that is not a key",
            edited(
                "key_file = \"secrets/signing.pem\"",
                "key_file = \"secrets/signing.pem\"\nprevious_key_files = [\"secrets/store.key\"]",
            ),
            "signing.previous_key_files[0]",
        ),
        (
            "no signing key",
            edited("key_file = \"secrets/signing.pem\"", ""),
            "signing.key_file",
        ),
        (
            "listen without a port",
            edited("listen = \"127.0.0.1:8080\"", "listen = \"localhost\""),
            "server.listen",
        ),
        (
            "zero workers",
            edited("workers = 2", "workers = 0"),
            "server.workers",
        ),
        (
            "unknown log format",
            edited("format = \"json\"", "format = \"xml\""),
            "log.format",
        ),
    ];
    for (name, toml, key) in cases {
        let keys = fixture.problem_keys(&toml);
        assert_eq!(keys, [key], "{name}");
    }
}

#[test]
fn messages_explain_and_do_not_leak_secrets() {
    let fixture = Fixture::new();
    let toml = edited(
        "redis://:hunter2@127.0.0.1:6399/0",
        "ftp://:hunter2@127.0.0.1/0",
    );
    let message = fixture.load(&toml, &[]).unwrap_err().to_string();
    assert!(
        message.starts_with("invalid configuration: store.redis_url: "),
        "{message}"
    );
    assert!(!message.contains("hunter2"), "{message}");

    let toml = edited(&secret_hash(), SECRET);
    let message = fixture.load(&toml, &[]).unwrap_err().to_string();
    assert!(message.contains("hash-secret"), "{message}");
    assert!(!message.contains(SECRET), "{message}");

    let toml = edited("code_lifetime = \"30s\"", "code_lifetime = \"11m\"");
    let message = fixture.load(&toml, &[]).unwrap_err().to_string();
    assert!(message.contains("RFC 6749"), "{message}");

    let toml = edited("pool_size = 8", "pool_sise = 8");
    let message = fixture.load(&toml, &[]).unwrap_err().to_string();
    assert!(
        message.contains("store.pool_sise: unknown key"),
        "{message}"
    );
}

#[test]
fn all_problems_are_reported_at_once() {
    let fixture = Fixture::new();
    let toml = edited("https://auth.example.com", "auth.example.com")
        .replace("workers = 2", "workers = 0")
        .replace("client_id = \"grafana\"", "client_id = \"chronograf\"");
    let keys = fixture.problem_keys(&toml);
    assert_eq!(keys, ["server.workers", "issuer", "clients[1].client_id"]);
    let message = fixture.load(&toml, &[]).unwrap_err().to_string();
    assert!(
        message.starts_with("invalid configuration (3 problems):\n  "),
        "{message}"
    );
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

    let missing = settings::load(Some(Path::new("/nonexistent/porthor.toml")), Vec::new());
    assert!(
        missing
            .unwrap_err()
            .to_string()
            .contains("cannot read /nonexistent/porthor.toml")
    );
}

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
    let loaded = settings::load(Some(&fixture.config_path()), env).unwrap();
    assert_eq!(
        loaded.ignored_env,
        [
            "PORTHOR_STORE__REDIS_ULR",
            "PORTHOR_TEST_REDIS_URL",
            "PORTHOR__ISSUER"
        ]
    );
    let config = validate(&loaded).unwrap();
    assert_eq!(config.oidc.issuer.as_str(), "https://auth.example.com");
    assert_eq!(config.listen, "127.0.0.1:1234".parse().unwrap());
}

fn load_without_file(env: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
    let loaded = settings::load(None, env_of(env))?;
    assert!(loaded.file.is_none());
    validate(&loaded)
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
    assert!(client.allows_redirect("http://127.0.0.1:9000/callback"));
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

    // A Redis URL alone does not switch the embedded memory store to Redis.
    let errors =
        load_without_file(&[("PORTHOR_STORE__REDIS_URL", "redis://127.0.0.1:6390/2")]).unwrap_err();
    assert_eq!(errors.problems()[0].key.as_deref(), Some("store.redis_url"));
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

/// Key rotation: previous keys are published after the current one, and a
/// token signed by one of them still verifies; the current key signs.
#[test]
fn previous_signing_keys_are_published() {
    let fixture = Fixture::new();
    let old = porthor_signer::generate_pem(SigningAlgorithm::Rs256).unwrap();
    std::fs::write(fixture.dir.path().join("secrets/old.pem"), old.as_bytes()).unwrap();
    let toml = good_toml().replace(
        "key_file = \"secrets/signing.pem\"",
        "key_file = \"secrets/signing.pem\"\nprevious_key_files = [\"secrets/old.pem\"]",
    );
    let config = fixture.load(&toml, &[]).unwrap();
    let old_signer = Signer::from_pem(old.as_bytes()).unwrap();
    let kids: Vec<&str> = config
        .signer
        .jwks()
        .keys
        .iter()
        .map(|key| key.kid.as_str())
        .collect();
    assert_eq!(kids, [config.signer.kid(), old_signer.kid()]);
    let claims = serde_json::json!({"iss": "https://auth.example.com", "exp": 4_000_000_000u64});
    let by_old = old_signer.sign(&claims).unwrap();
    let verified: serde_json::Value = config
        .signer
        .verify(&by_old, "https://auth.example.com", 1)
        .unwrap();
    assert_eq!(verified["exp"], 4_000_000_000u64);
}
