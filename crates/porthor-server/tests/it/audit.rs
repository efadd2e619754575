//! Audit events: one event per security-relevant outcome on the `tracing`
//! target `porthor::audit`, with its user, client, address and outcome,
//! and never a secret.

use porthor_test_support::logs;
use reqwest::StatusCode;

use crate::harness::{CLIENT_SECRET, Harness, OFFLINE, PASSWORD, StoreKind, USERNAME, json};

const AUDIT: &str = "target=porthor::audit";

fn audited(level: &str, needles: &[&str]) -> usize {
    let mut needles = needles.to_vec();
    needles.push(AUDIT);
    logs::capture().matching(level, &needles).len()
}

async fn flows_leave_an_audit_trail(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let refused = h
        .post_login(&[("username", USERNAME), ("password", "wrong")])
        .await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let session = h.login().await;
    let grant = h.grant(&session, OFFLINE).await;
    let first = grant["refresh_token"].as_str().unwrap();
    json(h.refresh(first, None).await, StatusCode::OK).await;
    h.assert_refresh_refused(first).await;
    h.logout(&session).await;

    assert_eq!(
        audited(
            "INFO",
            &[
                "login failed",
                "user=alice",
                "client.ip=127.0.0.1",
                "outcome=refused"
            ]
        ),
        1
    );
    assert_eq!(
        audited(
            "INFO",
            &[
                "reauthenticated=",
                "user=alice",
                "client.ip=127.0.0.1",
                "outcome=success"
            ]
        ),
        1
    );
    assert_eq!(
        audited(
            "INFO",
            &["authorization code issued", "client.id=app", "user=alice"]
        ),
        1
    );
    assert_eq!(
        audited(
            "INFO",
            &["authorization code redeemed", "client.id=app", "user=alice"]
        ),
        1
    );
    assert_eq!(
        audited(
            "INFO",
            &["refresh token rotated", "client.id=app", "user=alice"]
        ),
        1
    );
    assert_eq!(
        audited(
            "WARN",
            &[
                "refresh token family revoked",
                "client.id=app",
                "reason=refresh token reused"
            ]
        ),
        1
    );
    assert_eq!(
        audited("INFO", &["logout", "user=alice", "outcome=success"]),
        1
    );
    // No secret in any line.
    let refresh = first.split('.').nth(1).unwrap();
    for line in logs::capture().lines() {
        for secret in [PASSWORD, CLIENT_SECRET, refresh] {
            assert!(!line.contains(secret), "{line}");
        }
    }
}

crate::on_both_stores!(flows_leave_an_audit_trail);
