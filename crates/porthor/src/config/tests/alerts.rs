//! `[alerts]`: off by default, the webhook from the file, the environment
//! or a private file of its own, the durations, and every problem named by
//! its key without quoting the URL (a secret).

use std::time::Duration;

use super::{Fixture, edited, good_toml};

const SECRET_PATH: &str = "services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX";

#[test]
fn alerts_are_off_by_default() {
    let config = Fixture::new().load(&good_toml(), &[]).unwrap();
    assert!(config.alerts.is_none());
}

#[test]
fn the_webhook_comes_from_the_file_the_environment_or_its_own_file() {
    let fixture = Fixture::new();
    let url = format!("https://hooks.slack.com/{SECRET_PATH}");
    let toml = edited(
        "[log]",
        &format!(
            "[alerts]\nslack_webhook_url = \"{url}\"\nstore_down_after = \"10s\"\nmin_interval = \"5m\"\n\n[log]"
        ),
    );
    let alerts = fixture.load(&toml, &[]).unwrap().alerts.unwrap();
    assert_eq!(alerts.webhook.host(), "hooks.slack.com");
    assert_eq!(alerts.store_down_after, Duration::from_secs(10));
    assert_eq!(alerts.min_interval, Duration::from_secs(300));
    assert!(!format!("{alerts:?}").contains(SECRET_PATH), "{alerts:?}");

    // The documented defaults, and the environment.
    let env = [("PORTHOR_ALERTS__SLACK_WEBHOOK_URL", url.as_str())];
    let alerts = fixture.load(&good_toml(), &env).unwrap().alerts.unwrap();
    assert_eq!(alerts.store_down_after, Duration::from_secs(30));
    assert_eq!(alerts.min_interval, Duration::from_secs(60));

    // A file of its own, relative to the configuration's directory, with
    // the newline an editor leaves.
    fixture.write_key("secrets/webhook", &format!("{url}\n"));
    let toml = edited(
        "[log]",
        "[alerts]\nslack_webhook_url_file = \"secrets/webhook\"\n\n[log]",
    );
    let alerts = fixture.load(&toml, &[]).unwrap().alerts.unwrap();
    assert_eq!(alerts.webhook.host(), "hooks.slack.com");
}

#[test]
fn bad_alerts_name_their_keys_and_never_the_url() {
    let fixture = Fixture::new();
    let problems = |alerts: &str| {
        let toml = edited("[log]", &format!("[alerts]\n{alerts}\n[log]"));
        let keys = fixture.problem_keys(&toml);
        let errors = fixture.load(&toml, &[]).unwrap_err().to_string();
        assert!(!errors.contains(SECRET_PATH), "{errors}");
        (keys, errors)
    };
    let (keys, errors) = problems(&format!(
        "slack_webhook_url = \"http://hooks.slack.com/{SECRET_PATH}\"\nstore_down_after = \"soon\"\nmin_interval = \"10ms\"\n"
    ));
    assert_eq!(
        keys,
        [
            "alerts.store_down_after",
            "alerts.min_interval",
            "alerts.slack_webhook_url"
        ]
    );
    for message in [
        "must be https (http only to a loopback address); the host is hooks.slack.com",
        "is not a duration",
        "it must be at least 1s",
    ] {
        assert!(errors.contains(message), "{message} missing:\n{errors}");
    }

    let (keys, _) = problems(&format!("slack_webhook_url = \"{SECRET_PATH}\"\n"));
    assert_eq!(keys, ["alerts.slack_webhook_url"]);

    fixture.write_key(
        "secrets/webhook",
        &format!("https://hooks.slack.com/{SECRET_PATH}"),
    );
    let (keys, errors) = problems(&format!(
        "slack_webhook_url = \"https://hooks.slack.com/{SECRET_PATH}\"\nslack_webhook_url_file = \"secrets/webhook\"\n"
    ));
    assert_eq!(keys, ["alerts.slack_webhook_url_file"]);
    assert!(errors.contains("not both"), "{errors}");

    // The file is a secret: refused when others may read it, or missing.
    {
        use std::os::unix::fs::PermissionsExt as _;
        let path = fixture.dir.path().join("secrets/webhook");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let (keys, errors) = problems("slack_webhook_url_file = \"secrets/webhook\"\n");
    assert_eq!(keys, ["alerts.slack_webhook_url_file"]);
    assert!(errors.contains("has mode 644"), "{errors}");
    let (keys, _) = problems("slack_webhook_url_file = \"secrets/nothing\"\n");
    assert_eq!(keys, ["alerts.slack_webhook_url_file"]);

    let (keys, _) = problems("slack_webhok_url = \"x\"\n");
    assert_eq!(keys, ["alerts.slack_webhok_url"]);
}
