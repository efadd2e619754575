//! Consent and scope policy: the client keys `name`, `consent`,
//! `allowed_scopes`, `allow_offline_access` and `introspect_any`, and
//! `tokens.consent_lifetime`; their defaults, and every contradiction named
//! at its key.

use std::time::Duration;

use porthor_models::{Consent, Scopes};

use super::{Fixture, edited, secret_hash};

/// A third client after chronograf and grafana, public, with `keys`.
fn with_public_client(keys: &str) -> String {
    edited(
        "[[users]]",
        &format!(
            "[[clients]]\nclient_id = \"third\"\nredirect_uris = [\"https://third.example.com/cb\"]\ntoken_endpoint_auth_method = \"none\"\n{keys}\n\n[[users]]"
        ),
    )
}

/// The same third client, confidential.
fn with_client(keys: &str) -> String {
    with_public_client(&format!(
        "{keys}\nclient_secret_hash = \"{}\"",
        secret_hash()
    ))
    .replace("token_endpoint_auth_method = \"none\"\n", "")
}

#[test]
fn client_consent_and_scope_policy_keys() {
    let fixture = Fixture::new();
    let toml = with_public_client(
        r#"name = "Third <App>"
consent = "required"
allowed_scopes = ["openid", "email", "offline_access"]
allow_offline_access = true"#,
    )
    .replace(
        "id_token_lifetime = \"15m\"",
        "id_token_lifetime = \"15m\"\nconsent_lifetime = \"30d\"",
    );
    let config = fixture.load(&toml, &[]).unwrap();
    assert_eq!(
        config.oidc.lifetimes.consent,
        Duration::from_secs(30 * 24 * 3600)
    );
    let third = &config.oidc.clients[2];
    assert_eq!(third.display_name(), "Third <App>");
    assert_eq!(third.consent, Consent::Required);
    assert_eq!(
        third.allowed_scopes,
        Scopes::parse("openid email offline_access")
    );
    assert!(third.allow_offline_access && !third.introspect_any);

    let resource_server = fixture
        .load(
            &edited(
                "client_id = \"grafana\"",
                "client_id = \"grafana\"\nintrospect_any = true",
            ),
            &[],
        )
        .unwrap();
    assert!(resource_server.oidc.clients[1].introspect_any);
}

/// Unset: implicit consent, every scope, no introspection of other clients'
/// tokens, a 90-day consent lifetime (overridable from the environment),
/// and offline access for confidential clients but not public ones.
#[test]
fn policy_defaults_and_allow_offline_access_defaults_to_false_for_public_clients() {
    let fixture = Fixture::new();
    let config = fixture.load(&with_public_client(""), &[]).unwrap();
    assert_eq!(
        config.oidc.lifetimes.consent,
        Duration::from_secs(90 * 24 * 3600)
    );
    let [chronograf, _, third] = config.oidc.clients.as_slice() else {
        panic!("three clients");
    };
    assert_eq!(chronograf.display_name(), "chronograf");
    assert_eq!(chronograf.consent, Consent::Implicit);
    assert_eq!(chronograf.allowed_scopes, Scopes::all());
    assert!(chronograf.allow_offline_access && !chronograf.introspect_any);
    assert!(third.is_public() && !third.allow_offline_access);

    let config = fixture
        .load(
            &with_client(""),
            &[("PORTHOR_TOKENS__CONSENT_LIFETIME", "1h")],
        )
        .unwrap();
    assert_eq!(config.oidc.lifetimes.consent, Duration::from_secs(3600));
    // A confidential client may still be refused offline access.
    let config = fixture
        .load(&with_client("allow_offline_access = false"), &[])
        .unwrap();
    assert!(!config.oidc.clients[2].allow_offline_access);
}

/// Each bad value, and each pair of keys that contradict each other, is a
/// problem at the key to change.
#[test]
fn bad_policy_keys_and_contradictions_are_named() {
    let fixture = Fixture::new();
    let cases = [
        (with_client("consent = \"sometimes\""), "clients[2].consent"),
        (
            with_client("allowed_scopes = [\"openid\", \"address\"]"),
            "clients[2].allowed_scopes[1]",
        ),
        (
            with_client("allowed_scopes = [\"openid email\"]"),
            "clients[2].allowed_scopes[0]",
        ),
        (
            with_client("allowed_scopes = [\"email\"]"),
            "clients[2].allowed_scopes",
        ),
        (
            with_public_client("always_issue_refresh_token = true"),
            "clients[2].always_issue_refresh_token",
        ),
        (
            with_client("always_issue_refresh_token = true\nallow_offline_access = false"),
            "clients[2].always_issue_refresh_token",
        ),
        (
            with_client("always_issue_refresh_token = true\nconsent = \"required\""),
            "clients[2].always_issue_refresh_token",
        ),
        (
            with_public_client("introspect_any = true"),
            "clients[2].introspect_any",
        ),
        (
            edited(
                "id_token_lifetime = \"15m\"",
                "id_token_lifetime = \"15m\"\nconsent_lifetime = \"0s\"",
            ),
            "tokens.consent_lifetime",
        ),
        (
            edited(
                "id_token_lifetime = \"15m\"",
                "id_token_lifetime = \"15m\"\nconsent_lifetime = \"forever\"",
            ),
            "tokens.consent_lifetime",
        ),
    ];
    for (toml, key) in cases {
        assert_eq!(fixture.problem_keys(&toml), [key], "{key}");
    }
    // A public client that may have offline access may always get it.
    let config = fixture
        .load(
            &with_public_client("always_issue_refresh_token = true\nallow_offline_access = true"),
            &[],
        )
        .unwrap();
    assert!(config.oidc.clients[2].always_issue_refresh_token);
}
