//! `[metrics]`: off by default, a separate listener or the public port
//! (with a warning), per-client labels, and bad values named by their key.

use std::net::SocketAddr;

use super::{Fixture, edited, good_toml};
use crate::config::validate::Metrics;

#[test]
fn metrics_are_off_by_default() {
    let fixture = Fixture::new();
    let config = fixture.load(&good_toml(), &[]).unwrap();
    assert_eq!(config.metrics, None);
    assert!(!config.oidc.metrics_per_client);
    assert!(
        config
            .warnings
            .iter()
            .all(|w| !w.key.as_deref().is_some_and(|k| k.starts_with("metrics")))
    );
}

#[test]
fn a_separate_listener_comes_from_the_file_or_the_environment() {
    let fixture = Fixture::new();
    let toml = edited(
        "[server]\n",
        "[metrics]\nenabled = true\nlisten = \"127.0.0.1:9090\"\nper_client = true\n\n[server]\n",
    );
    let config = fixture.load(&toml, &[]).unwrap();
    let listen: SocketAddr = "127.0.0.1:9090".parse().unwrap();
    assert_eq!(
        config.metrics,
        Some(Metrics {
            listen: Some(listen)
        })
    );
    assert!(config.oidc.metrics_per_client);
    assert!(
        config
            .warnings
            .iter()
            .all(|w| !w.key.as_deref().is_some_and(|k| k.starts_with("metrics")))
    );

    let env = [
        ("PORTHOR_METRICS__ENABLED", "true"),
        ("PORTHOR_METRICS__LISTEN", "10.0.0.5:9100"),
    ];
    let config = fixture.load(&good_toml(), &env).unwrap();
    let listen: SocketAddr = "10.0.0.5:9100".parse().unwrap();
    assert_eq!(
        config.metrics,
        Some(Metrics {
            listen: Some(listen)
        })
    );
    assert!(!config.oidc.metrics_per_client);
}

#[test]
fn metrics_on_the_public_port_are_warned_about() {
    let fixture = Fixture::new();
    let config = fixture
        .load(&good_toml(), &[("PORTHOR_METRICS__ENABLED", "true")])
        .unwrap();
    assert_eq!(config.metrics, Some(Metrics { listen: None }));
    assert!(
        config
            .warnings
            .iter()
            .any(|w| w.key.as_deref() == Some("metrics.listen")),
        "{:?}",
        config.warnings
    );
}

#[test]
fn settings_of_disabled_metrics_are_warned_about() {
    let fixture = Fixture::new();
    let config = fixture
        .load(
            &good_toml(),
            &[("PORTHOR_METRICS__LISTEN", "127.0.0.1:9090")],
        )
        .unwrap();
    assert_eq!(config.metrics, None);
    assert!(
        config
            .warnings
            .iter()
            .any(|w| w.key.as_deref() == Some("metrics.enabled"))
    );
}

#[test]
fn bad_metrics_settings_name_their_keys() {
    let fixture = Fixture::new();
    let bad = edited(
        "[server]\n",
        "[metrics]\nenabled = true\nlisten = \"nowhere\"\n\n[server]\n",
    );
    assert_eq!(fixture.problem_keys(&bad), ["metrics.listen"]);
    let same = edited(
        "[server]\n",
        "[metrics]\nenabled = true\nlisten = \"127.0.0.1:8080\"\n\n[server]\n",
    );
    assert_eq!(fixture.problem_keys(&same), ["metrics.listen"]);
}
