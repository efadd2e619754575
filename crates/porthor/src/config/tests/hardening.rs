//! What validation refuses so that a deployment cannot start insecurely:
//! key files others may read, weak password hashes, malformed client
//! secret hashes; and what it only warns about.

use std::os::unix::fs::PermissionsExt as _;

use porthor_store::BackendConfig;

use super::{Fixture, KeyFiles, PASSWORD_HASH, edited, env_of, good_toml, load, validate};

#[test]
fn key_file_readable_by_others_is_refused() {
    for (file, key) in [
        ("secrets/signing.pem", "signing.key_file"),
        ("secrets/store.key", "store.encryption_key_file"),
    ] {
        for mode in [0o644, 0o640, 0o604, 0o620, 0o660, 0o650] {
            let fixture = Fixture::new();
            let path = fixture.dir.path().join(file);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            // Not owned by root, where group read would be allowed.
            if is_root() {
                std::os::unix::fs::chown(&path, Some(NOBODY), None).unwrap();
            }
            let errors = fixture.load(&good_toml(), &[]).unwrap_err();
            let problem = &errors.problems()[0];
            assert_eq!(problem.key.as_deref(), Some(key), "{errors}");
            assert!(
                problem
                    .message
                    .contains(&format!("chmod 600 {}", path.display())),
                "{errors}"
            );

            // --allow-insecure accepts it, for development.
            std::fs::write(fixture.config_path(), good_toml()).unwrap();
            let loaded = load(Some(&fixture.config_path()), env_of(&[])).unwrap();
            assert!(
                validate(&loaded, KeyFiles::AnyMode).is_ok(),
                "{file} {mode:o}"
            );
        }
    }
    // Owner-only modes are fine, including read-only.
    let fixture = Fixture::new();
    let path = fixture.dir.path().join("secrets/signing.pem");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
    assert!(fixture.load(&good_toml(), &[]).is_ok());
}

/// The uid of `nobody`, to own a file that root does not.
const NOBODY: u32 = 65534;

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata("/proc/self").unwrap().uid() == 0
}

/// A Kubernetes Secret volume mounts keys owned by root and readable by the
/// pod's `fsGroup` (0440): group read is allowed on a root-owned file, as
/// PostgreSQL allows for its key, and nothing more. Only root can make a
/// root-owned file, so a run as another user checks the refusal alone (CI
/// runs as root).
#[test]
fn group_read_is_allowed_only_on_a_root_owned_key_file() {
    for mode in [0o440, 0o640] {
        let fixture = Fixture::new();
        let path = fixture.dir.path().join("secrets/store.key");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        if is_root() {
            assert!(fixture.load(&good_toml(), &[]).is_ok(), "{mode:o}");
            std::os::unix::fs::chown(&path, Some(NOBODY), None).unwrap();
        }
        assert_eq!(
            fixture.problem_keys(&good_toml()),
            ["store.encryption_key_file"],
            "{mode:o}"
        );
    }
    // Group write, or anything for others, is refused even from root.
    if is_root() {
        for mode in [0o660, 0o604, 0o460] {
            let fixture = Fixture::new();
            let path = fixture.dir.path().join("secrets/store.key");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            assert_eq!(
                fixture.problem_keys(&good_toml()),
                ["store.encryption_key_file"],
                "{mode:o}"
            );
        }
    }
}

#[test]
fn previous_key_file_readable_by_others_is_refused() {
    let fixture = Fixture::new();
    let old = porthor_signer::generate_pem(porthor_signer::SigningAlgorithm::Es256).unwrap();
    fixture.write_key("secrets/old.pem", old.as_str());
    let path = fixture.dir.path().join("secrets/old.pem");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let toml = edited(
        "key_file = \"secrets/signing.pem\"",
        "key_file = \"secrets/signing.pem\"\nprevious_key_files = [\"secrets/old.pem\"]",
    );
    assert_eq!(
        fixture.problem_keys(&toml),
        ["signing.previous_key_files[0]"]
    );
}

/// OWASP's minimum for Argon2id is 19 MiB with two passes or 46 MiB with
/// one; anything weaker (and anything that is not Argon2) is refused.
#[test]
fn weak_argon2_parameters_are_refused() {
    let weak = [
        "$argon2id$v=19$m=19455,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        "$argon2id$v=19$m=19456,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        "$argon2id$v=19$m=47103,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        "$argon2id$v=19$m=4096,t=3,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
    ];
    let fixture = Fixture::new();
    for hash in weak {
        let toml = good_toml().replacen(PASSWORD_HASH.as_str(), hash, 1);
        let errors = fixture.load(&toml, &[]).unwrap_err();
        assert_eq!(
            errors.problems()[0].key.as_deref(),
            Some("users[0].password_hash"),
            "{hash}"
        );
        assert!(errors.to_string().contains("OWASP"), "{errors}");
    }
    for strong in [
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        "$argon2id$v=19$m=47104,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
    ] {
        let toml = good_toml().replacen(PASSWORD_HASH.as_str(), strong, 1);
        assert!(fixture.load(&toml, &[]).is_ok(), "{strong}");
    }
}

/// A client secret hash is `sha256:` and 32 bytes of base64url, nothing else.
#[test]
fn client_secret_hash_must_be_sha256_of_32_bytes() {
    let fixture = Fixture::new();
    let good = super::secret_hash();
    let digest = good.strip_prefix("sha256:").unwrap();
    for bad in [
        format!("sha512:{digest}"),
        digest.to_owned(),
        format!("sha256:{}", &digest[..42]),
        format!("sha256:{digest}AA"),
        "sha256:".to_owned(),
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".to_owned(),
    ] {
        let toml = good_toml().replacen(&good, &bad, 1);
        assert_eq!(
            fixture.problem_keys(&toml),
            ["clients[0].client_secret_hash"],
            "{bad}"
        );
    }
}

/// `PORTHOR_STORE__BACKEND=memory` overrides a file written for Redis: the
/// Redis URL is then unused, which is a warning, not an error.
#[test]
fn unused_backend_key_is_a_warning() {
    let fixture = Fixture::new();
    let config = fixture
        .load(&good_toml(), &[("PORTHOR_STORE__BACKEND", "memory")])
        .unwrap();
    assert!(matches!(config.store.backend, BackendConfig::Memory));
    let [warning] = config.warnings.as_slice() else {
        panic!("{:?}", config.warnings);
    };
    assert_eq!(warning.key.as_deref(), Some("store.redis_url"));
    // The warning never shows the URL's password.
    assert!(!warning.to_string().contains("hunter2"), "{warning}");
    assert!(fixture.load(&good_toml(), &[]).unwrap().warnings.is_empty());
}
