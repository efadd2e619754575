//! `[demo]`: the built-in demo relying party, off in a configured
//! deployment unless `enabled = true` (file or environment), then with a
//! client of its own whose secret every replica on one store derives
//! alike, a warning, and its client id reserved.

use super::{Fixture, edited, good_toml};
use crate::demo::DEMO_APP_CLIENT_ID;

const ON: &str = "[demo]\nenabled = true\n\n[server]\n";

#[test]
fn a_configured_deployment_has_no_demo_unless_asked() {
    let fixture = Fixture::new();
    for toml in [
        good_toml(),
        edited("[server]\n", "[demo]\nenabled = false\n\n[server]\n"),
    ] {
        let config = fixture.load(&toml, &[]).unwrap();
        assert!(config.demo_app.is_none());
        assert!(config.demo.is_none());
        assert!(
            config
                .oidc
                .clients
                .iter()
                .all(|client| client.client_id != DEMO_APP_CLIENT_ID)
        );
        assert!(
            config
                .warnings
                .iter()
                .all(|w| w.key.as_deref() != Some("demo.enabled"))
        );
    }
}

#[test]
fn turned_on_it_registers_its_client_and_warns() {
    let fixture = Fixture::new();
    for (toml, env) in [
        (edited("[server]\n", ON), vec![]),
        (good_toml(), vec![("PORTHOR_DEMO__ENABLED", "true")]),
    ] {
        let config = fixture.load(&toml, &env).unwrap();
        let demo = config.demo_app.expect("the demo relying party");
        assert_eq!(demo.client_id, DEMO_APP_CLIENT_ID);
        let client = config
            .oidc
            .clients
            .iter()
            .find(|client| client.client_id == DEMO_APP_CLIENT_ID)
            .expect("its client");
        assert!(client.secret_hash().unwrap().verify(&demo.client_secret));
        assert!(client.allows_redirect("https://auth.example.com/demo/callback"));
        assert!(client.allows_post_logout_redirect("https://auth.example.com/demo/logged-out"));
        assert!(client.require_pkce);
        // The configured clients are all still there.
        assert_eq!(config.oidc.clients.len(), 3);
        let warning = config
            .warnings
            .iter()
            .find(|w| w.key.as_deref() == Some("demo.enabled"))
            .expect("a warning that the demo is on");
        assert!(
            warning
                .to_string()
                .contains("https://auth.example.com/demo/"),
            "{warning}"
        );
        // Not the embedded defaults: no demo user, no banner.
        assert!(config.demo.is_none());
        assert_eq!(config.oidc.users.len(), 2);
    }
}

/// Replicas load the same file and store key: the same client secret and
/// cookie key, so a demo login started on one finishes on another.
#[test]
fn every_replica_derives_the_same_secret_from_the_store_key() {
    let fixture = Fixture::new();
    let toml = edited("[server]\n", ON);
    let one = fixture.load(&toml, &[]).unwrap().demo_app.unwrap();
    let two = fixture.load(&toml, &[]).unwrap().demo_app.unwrap();
    assert_eq!(one.client_secret, two.client_secret);
    assert_eq!(one.cookie_key, two.cookie_key);
    assert!(one.client_secret.len() >= 32);
    // Another store key, another secret.
    let other = Fixture::new();
    other.write_key(
        "secrets/store.key",
        &porthor_store::EncryptionKey::generate().to_base64(),
    );
    let three = other.load(&toml, &[]).unwrap().demo_app.unwrap();
    assert_ne!(one.client_secret, three.client_secret);
    assert_ne!(one.cookie_key, three.cookie_key);
    // Never printed.
    assert!(!format!("{one:?}").contains(&one.client_secret));
}

#[test]
fn its_client_id_is_reserved_while_it_runs() {
    let fixture = Fixture::new();
    let toml = edited("client_id = \"chronograf\"", "client_id = \"porthor-demo\"");
    assert!(
        fixture.load(&toml, &[]).is_ok(),
        "free while the demo is off"
    );
    let on = toml.replacen("[server]\n", ON, 1);
    assert_eq!(fixture.problem_keys(&on), ["clients[0].client_id"]);
}

#[test]
fn a_misspelt_key_is_an_error() {
    let fixture = Fixture::new();
    let unknown = edited("[server]\n", "[demo]\nenable = true\n\n[server]\n");
    assert_eq!(fixture.problem_keys(&unknown), ["demo.enable"]);
}
