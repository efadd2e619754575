//! Commands that open the store: `delete-all-codes` on the test Redis, and
//! `serve` refusing to start when the store cannot be opened.

use std::time::{Duration, Instant};

use porthor_models::{AuthorizationStore as _, CodeState};
use porthor_test_support::{
    TEST_ENCRYPTION_KEY, redis_store, redis_url, sample_authorization, sample_session,
    unique_prefix,
};

use crate::{ConfigDir, free_port, porthor, run, stderr, stdout};

fn redis_config(redis_url: &str, prefix: &str) -> String {
    format!(
        r#"
issuer = "https://auth.example.com"
[store]
backend = "redis"
redis_url = "{redis_url}"
pool_size = 2
key_prefix = "{prefix}"
encryption_key_file = "store.key"
[signing]
key_file = "signing.pem"
"#
    )
}

#[tokio::test]
async fn delete_all_codes_on_redis() {
    let prefix = unique_prefix("porthor_delete_all_codes");
    let store = redis_store(&prefix).await;
    let mut codes = Vec::new();
    for _ in 0..3 {
        let (code, record) = sample_authorization();
        store
            .codes()
            .create(
                code.key(),
                &CodeState::Issued(record),
                Duration::from_secs(600),
            )
            .await
            .unwrap();
        codes.push(code);
    }
    let (session, session_record) = sample_session();
    store
        .sessions()
        .create(session.key(), &session_record, Duration::from_secs(600))
        .await
        .unwrap();

    let dir = ConfigDir::new(TEST_ENCRYPTION_KEY);
    let path = dir.write_config(&redis_config(&redis_url(), &prefix));
    let output = run(
        porthor().args(["delete-all-codes", "--config"]).arg(&path),
        "",
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "deleted 3 authorization codes\n");
    for code in &codes {
        assert!(store.codes().get(code.key()).await.unwrap().is_none());
    }
    // Only codes go.
    assert!(store.sessions().get(session.key()).await.unwrap().is_some());

    let output = run(
        porthor().args(["delete-all-codes", "--config"]).arg(&path),
        "",
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "deleted 0 authorization codes\n");
    store.sessions().delete(session.key()).await.unwrap();
}

#[test]
fn serve_does_not_start_without_its_store() {
    let dir = ConfigDir::new(TEST_ENCRYPTION_KEY);
    // Nothing listens on a fresh free port.
    let redis = format!("redis://:hunter2@127.0.0.1:{}/0", free_port());
    let path = dir.write_config(&redis_config(&redis, "porthor-unreachable"));
    let port = free_port();
    let started = Instant::now();
    let output = run(
        porthor()
            .env("PORTHOR_SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .args(["serve", "--config"])
            .arg(&path),
        "",
    );
    assert!(!output.status.success());
    assert!(started.elapsed() < Duration::from_secs(30));
    let message = stderr(&output);
    assert!(
        message.contains("cannot open the authorization store"),
        "{message}"
    );
    assert!(!message.contains("hunter2"), "{message}");
    assert!(!message.contains("porthor is listening"), "{message}");
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());

    let output = run(
        porthor().args(["delete-all-codes", "--config"]).arg(&path),
        "",
    );
    assert!(!output.status.success());
    assert!(stderr(&output).contains("cannot open the authorization store"));
}
