//! `porthor healthcheck` against a real `porthor serve`: 0 when the probe
//! answers 200, 1 (with the reason) when it answers anything else, nothing
//! listens, or nothing answers in time.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use crate::serve::Running;
use crate::{ConfigDir, free_port, porthor, run, stderr, stdout};

/// A configuration serving on `port` with the store at `redis_url`, under
/// an issuer with a path (the probes live under it).
fn config(dir: &ConfigDir, port: u16, redis_url: &str) -> std::path::PathBuf {
    dir.write_config(&format!(
        r#"
issuer = "http://127.0.0.1:{port}/idp"
[server]
listen = "0.0.0.0:{port}"
workers = 1
[store]
backend = "redis"
redis_url = "{redis_url}"
key_prefix = "healthcheck-{port}"
encryption_key_file = "store.key"
[signing]
key_file = "signing.pem"
"#
    ))
}

#[tokio::test]
async fn healthcheck_probes_a_running_instance() {
    let redis_url = porthor_test_support::redis_url();
    let dir = ConfigDir::new(&porthor_store::EncryptionKey::generate().to_base64());
    let port = free_port();
    let path = config(&dir, port, &redis_url);
    let mut server = Running::start(porthor().arg("serve").arg("--config").arg(&path), port);
    let http = reqwest::Client::new();
    server.wait_until_healthy_at(&http, "/idp/health").await;

    // By URL, by the configuration file (0.0.0.0 probed on loopback, the
    // issuer's path), and /ready.
    let base = format!("http://127.0.0.1:{port}/idp");
    for args in [
        vec!["healthcheck", "--url", &base],
        vec!["healthcheck", "--url", &base, "--ready"],
        vec!["healthcheck", "--config", path.to_str().unwrap()],
        vec!["healthcheck", "--ready", "--config", path.to_str().unwrap()],
    ] {
        let output = run(porthor().args(&args), "");
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        assert!(stdout(&output).contains("answered 200"), "{args:?}");
    }
    // With the environment alone, as in a container.
    let output = run(
        porthor()
            .arg("healthcheck")
            .env("PORTHOR_SERVER__LISTEN", format!("0.0.0.0:{port}"))
            .env("PORTHOR_ISSUER", &base),
        "",
    );
    assert!(output.status.success(), "{}", stderr(&output));

    // A path that is not a probe answers 404, which is a failure.
    let output = run(
        porthor().args(["healthcheck", "--url", &format!("{base}/nowhere")]),
        "",
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("answered 404"),
        "{}",
        stderr(&output)
    );

    // Once the instance is gone, the probe fails at once.
    drop(server);
    let output = run(porthor().args(["healthcheck", "--config"]).arg(&path), "");
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("cannot connect"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn healthcheck_times_out_on_a_silent_server() {
    // Accepts connections (the kernel's backlog does) but never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let started = Instant::now();
    let output = run(
        porthor().args(["healthcheck", "--timeout", "300ms", "--url", &url]),
        "",
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        stderr(&output).contains("timed out") || stderr(&output).contains("within the timeout"),
        "{}",
        stderr(&output)
    );
    drop(listener);
}

#[test]
fn healthcheck_refuses_https_and_bad_arguments() {
    let output = run(
        porthor().args(["healthcheck", "--url", "https://127.0.0.1:8443"]),
        "",
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("only plain http"),
        "{}",
        stderr(&output)
    );
    let output = run(
        porthor().args(["healthcheck", "--url", "http://x", "--config", "p.toml"]),
        "",
    );
    assert!(!output.status.success());
}
