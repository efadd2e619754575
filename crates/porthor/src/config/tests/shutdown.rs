//! How `serve` stops: `[server] shutdown_timeout` and `drain_delay`, their
//! defaults, the environment, and bad values named by their keys.

use std::time::Duration;

use super::{Fixture, edited, good_toml};

#[test]
fn shutdown_defaults_and_overrides() {
    let fixture = Fixture::new();
    let config = fixture.load(&good_toml(), &[]).unwrap();
    assert_eq!(config.shutdown.timeout, Duration::from_secs(30));
    assert_eq!(config.shutdown.drain_delay, Duration::from_secs(5));

    let toml = edited(
        "workers = 2\n",
        "workers = 2\nshutdown_timeout = \"2m\"\ndrain_delay = \"0s\"\n",
    );
    let config = fixture
        .load(&toml, &[("PORTHOR_SERVER__SHUTDOWN_TIMEOUT", "45s")])
        .unwrap();
    assert_eq!(config.shutdown.timeout, Duration::from_secs(45));
    assert_eq!(config.shutdown.drain_delay, Duration::ZERO);
}

#[test]
fn bad_shutdown_settings_name_their_keys() {
    let fixture = Fixture::new();
    let toml = edited(
        "workers = 2\n",
        "workers = 2\nshutdown_timeout = \"forever\"\ndrain_delay = \"2h\"\n",
    );
    assert_eq!(
        fixture.problem_keys(&toml),
        ["server.shutdown_timeout", "server.drain_delay"]
    );
    let errors = fixture.load(&toml, &[]).unwrap_err().to_string();
    assert!(errors.contains("\"forever\" is not a duration"), "{errors}");
    assert!(errors.contains("it must be at most 1h"), "{errors}");
}
