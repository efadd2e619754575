//! `[limits]`: its default, the file and the environment, and the range
//! validation holds `sessions_per_user` to.

use std::sync::Arc;

use porthor_oidc::{Limits, OidcService};

use super::{Fixture, edited, good_toml};

#[test]
fn sessions_per_user_defaults_to_50() {
    let config = Fixture::new().load(&good_toml(), &[]).unwrap();
    assert_eq!(config.oidc.limits, Limits::default());
    assert_eq!(config.oidc.limits.sessions_per_user, 50);
}

#[test]
fn sessions_per_user_from_the_file_and_the_environment() {
    let fixture = Fixture::new();
    let toml = edited("[log]", "[limits]\nsessions_per_user = 5\n\n[log]");
    assert_eq!(
        fixture
            .load(&toml, &[])
            .unwrap()
            .oidc
            .limits
            .sessions_per_user,
        5
    );
    let env = [("PORTHOR_LIMITS__SESSIONS_PER_USER", "7")];
    assert_eq!(
        fixture
            .load(&toml, &env)
            .unwrap()
            .oidc
            .limits
            .sessions_per_user,
        7
    );
}

#[test]
fn sessions_per_user_must_be_between_1_and_1000() {
    let fixture = Fixture::new();
    for bad in ["0", "1001"] {
        let toml = edited(
            "[log]",
            &format!("[limits]\nsessions_per_user = {bad}\n\n[log]"),
        );
        let errors = fixture.load(&toml, &[]).unwrap_err();
        let problem = &errors.problems()[0];
        assert_eq!(
            problem.key.as_deref(),
            Some("limits.sessions_per_user"),
            "{errors}"
        );
        assert!(problem.message.contains(bad), "{errors}");
    }
    let toml = edited("[log]", "[limits]\nsessions_per_user = -1\n\n[log]");
    assert_eq!(
        fixture.problem_keys(&toml),
        ["limits.sessions_per_user"],
        "a negative number does not parse"
    );
    let toml = edited("[log]", "[limits]\nsesions_per_user = 3\n\n[log]");
    assert_eq!(fixture.problem_keys(&toml), ["limits.sesions_per_user"]);
}

/// The CSRF key is derived from the store key: replicas with the same
/// store key accept each other's tokens without another secret to share,
/// and a deployment with another store key accepts none of them.
#[tokio::test]
async fn csrf_key_follows_the_store_key() {
    let service = |config: super::Config| async move {
        let store = porthor_test_support::memory_store().await;
        OidcService::new(config.oidc, Arc::new(store), config.signer).unwrap()
    };
    let fixture = Fixture::new();
    let replica = service(fixture.load(&good_toml(), &[]).unwrap()).await;
    let other_replica = service(fixture.load(&good_toml(), &[]).unwrap()).await;
    fixture.write_key(
        "secrets/store.key",
        &porthor_store::EncryptionKey::generate().to_base64(),
    );
    let other_deployment = service(fixture.load(&good_toml(), &[]).unwrap()).await;
    let token = replica.csrf_token();
    assert!(other_replica.is_csrf_token(&token));
    assert!(!other_deployment.is_csrf_token(&token));
}
