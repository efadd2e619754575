//! The request id: generated per request and echoed in `X-Request-Id`; a
//! trusted proxy's own id kept when it is well formed, anyone else's
//! ignored.

use porthor_server::TrustedProxies;
use reqwest::StatusCode;

use crate::harness::{Harness, Options, StoreKind};

async fn id_sent(h: &Harness, sent: Option<&str>) -> String {
    let mut request = h.http.get(h.url("/health"));
    if let Some(id) = sent {
        request = request.header("x-request-id", id);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned()
}

async fn every_response_has_a_fresh_id(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let (a, b) = (id_sent(&h, None).await, id_sent(&h, None).await);
    assert_ne!(a, b);
    for id in [&a, &b] {
        assert!(
            id.len() <= 128 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'),
            "{id}"
        );
    }
    // Errors carry one too.
    let missing = h.get("/no/such/path").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(missing.headers().contains_key("x-request-id"));
}

async fn an_untrusted_peer_cannot_choose_the_id(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let echoed = id_sent(&h, Some("chosen-by-the-client")).await;
    assert_ne!(echoed, "chosen-by-the-client");
}

async fn a_trusted_proxy_id_is_kept_if_well_formed(backend: StoreKind) {
    let h = Harness::start_with(Options {
        trusted_proxies: TrustedProxies::parse(&["127.0.0.1"]).unwrap(),
        ..Options::new(backend)
    })
    .await;
    let uuid = "5f0c8d7e-2b1a-4c3d-9e8f-0a1b2c3d4e5f";
    assert_eq!(id_sent(&h, Some(uuid)).await, uuid);
    let longest = "a".repeat(128);
    assert_eq!(id_sent(&h, Some(&longest)).await, longest);
    for bad in ["has space", "quote\"d", "k=v", &"a".repeat(129)] {
        let echoed = id_sent(&h, Some(bad)).await;
        assert_ne!(echoed, bad);
        assert!(!echoed.is_empty());
    }
}

crate::on_both_stores!(
    every_response_has_a_fresh_id,
    an_untrusted_peer_cannot_choose_the_id,
    a_trusted_proxy_id_is_kept_if_well_formed,
);
