//! The limits on abuse: `[throttle]`, `[login] queue_timeout`, and
//! `[server]`'s `trusted_proxies`, `max_header_bytes` and `max_form_bytes`:
//! their defaults, the file and the environment, and every bad value named
//! by its key.

use std::time::Duration;

use porthor_oidc::{OidcConfig, Throttle};
use porthor_server::{RequestLimits, TrustedProxies};

use super::{Fixture, edited, env_of, good_toml, load};
use crate::config::to_toml;

#[test]
fn throttle_and_request_limits_default_to_the_documented_values() {
    let fixture = Fixture::new();
    let config = fixture.load(&good_toml(), &[]).unwrap();
    assert_eq!(
        config.oidc.throttle,
        Throttle {
            enabled: true,
            window: Duration::from_secs(15 * 60),
            lockout: Duration::from_secs(15 * 60),
            user_failures: 10,
            ip_failures: 50,
            client_failures: 50,
        }
    );
    assert_eq!(config.oidc.password_queue_timeout, Duration::from_secs(2));
    assert_eq!(
        config.request_limits,
        RequestLimits {
            max_header_bytes: 16 * 1024,
            max_form_bytes: 64 * 1024,
        }
    );
    assert_eq!(config.trusted_proxies, TrustedProxies::default());

    // check-config shows the defaults as a file would write them.
    let loaded = load(Some(&fixture.config_path()), env_of(&[])).unwrap();
    let shown = to_toml(&loaded.settings).unwrap();
    for line in [
        "[throttle]",
        "enabled = true",
        "window = \"15m\"",
        "lockout = \"15m\"",
        "user_failures = 10",
        "ip_failures = 50",
        "client_failures = 50",
        "[login]",
        "queue_timeout = \"2s\"",
        "max_header_bytes = 16384",
        "max_form_bytes = 65536",
    ] {
        assert!(shown.lines().any(|l| l == line), "{line} missing:\n{shown}");
    }
}

#[test]
fn throttle_and_request_limits_come_from_the_file_and_the_environment() {
    let fixture = Fixture::new();
    let toml = edited(
        "workers = 2\n",
        "workers = 2\ntrusted_proxies = [\"10.0.0.0/8\", \"2001:db8::/32\", \"192.0.2.1\"]\n\
         max_form_bytes = 4096\n\n[throttle]\nenabled = false\nwindow = \"5m\"\nlockout = \"1h\"\n\
         ip_failures = 20\n\n[login]\nqueue_timeout = \"1s\"\n",
    );
    let env = [
        ("PORTHOR_THROTTLE__USER_FAILURES", "3"),
        ("PORTHOR_THROTTLE__CLIENT_FAILURES", "7"),
        ("PORTHOR_LOGIN__QUEUE_TIMEOUT", "500ms"),
        ("PORTHOR_SERVER__MAX_HEADER_BYTES", "8192"),
    ];
    let config = fixture.load(&toml, &env).unwrap();
    assert_eq!(
        config.oidc.throttle,
        Throttle {
            enabled: false,
            window: Duration::from_secs(5 * 60),
            lockout: Duration::from_secs(3600),
            user_failures: 3,
            ip_failures: 20,
            client_failures: 7,
        }
    );
    assert_eq!(
        config.oidc.password_queue_timeout,
        Duration::from_millis(500)
    );
    assert_eq!(
        config.request_limits,
        RequestLimits {
            max_header_bytes: 8192,
            max_form_bytes: 4096,
        }
    );
    assert_eq!(
        config.trusted_proxies,
        TrustedProxies::parse(&["10.0.0.0/8", "2001:db8::/32", "192.0.2.1"]).unwrap()
    );
    // A queue timeout of zero is allowed: no queueing at all.
    let zero = fixture
        .load(&good_toml(), &[("PORTHOR_LOGIN__QUEUE_TIMEOUT", "0s")])
        .unwrap();
    assert_eq!(zero.oidc.password_queue_timeout, Duration::ZERO);
    assert_ne!(OidcConfig::DEFAULT_PASSWORD_QUEUE_TIMEOUT, Duration::ZERO);
}

#[test]
fn bad_throttle_and_request_limits_name_their_keys() {
    let fixture = Fixture::new();
    let toml = edited(
        "workers = 2\n",
        "workers = 2\ntrusted_proxies = [\"10.0.0.0/8\", \"10.1.2.3/8\", \"the proxy\"]\n\
         max_header_bytes = 100\nmax_form_bytes = 104857600\n\n\
         [throttle]\nwindow = \"soon\"\nlockout = \"500ms\"\nuser_failures = 0\nip_failures = 0\n\
         client_failures = 0\n\n[login]\nqueue_timeout = \"2m\"\n",
    );
    let mut keys = fixture.problem_keys(&toml);
    keys.sort();
    assert_eq!(
        keys,
        [
            "login.queue_timeout",
            "server.max_form_bytes",
            "server.max_header_bytes",
            "server.trusted_proxies[1]",
            "server.trusted_proxies[2]",
            "throttle.client_failures",
            "throttle.ip_failures",
            "throttle.lockout",
            "throttle.user_failures",
            "throttle.window",
        ]
    );
    let errors = fixture.load(&toml, &[]).unwrap_err().to_string();
    for message in [
        "the network is 10.0.0.0/8",
        "must be 1024 to 131072 bytes",
        "set throttle.enabled = false to turn throttling off",
        "it must be at most 1m",
        "it must be at least 1s",
    ] {
        assert!(errors.contains(message), "{message} missing:\n{errors}");
    }
    // Unknown keys in the new tables are refused like any other.
    let typo = edited("[log]", "[throttle]\nuser_failure = 3\n\n[log]");
    assert_eq!(fixture.problem_keys(&typo), ["throttle.user_failure"]);
}
