//! Tests of the configuration through its public face, [`load`] then
//! [`validate`]: one file per feature, the fixtures they share here.

mod alerts;
mod consent;
mod demo;
mod embedded;
mod environment;
mod file;
mod hardening;
mod hostile_input;
mod key_rotation;
mod layering;
mod limits;
mod metrics;
mod problems;
mod shutdown;
mod throttle;

use std::path::PathBuf;
use std::sync::LazyLock;

use porthor_models::ClientSecretHash;
use porthor_signer::SigningAlgorithm;
use porthor_store::EncryptionKey;
use tempfile::TempDir;

use super::problem::ConfigErrors;
use super::{Config, KeyFiles, load, validate};

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
        let fixture = Self { dir };
        fixture.write_key("secrets/signing.pem", SIGNING_PEM.as_str());
        fixture.write_key("secrets/store.key", &format!("{}\n", *STORE_KEY));
        fixture
    }

    /// Writes a key file readable by its owner only, as `porthor keygen`
    /// does.
    fn write_key(&self, relative: &str, text: &str) {
        use std::os::unix::fs::PermissionsExt as _;
        let path = self.dir.path().join(relative);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("porthor.toml")
    }

    fn load(&self, toml: &str, env: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
        std::fs::write(self.config_path(), toml).unwrap();
        let loaded = load(Some(&self.config_path()), env_of(env))?;
        validate(&loaded, KeyFiles::OwnerOnly)
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
