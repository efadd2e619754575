//! Discovery, JWKS, the probes, and where the routes live.

use reqwest::StatusCode;

use crate::harness::{Harness, Options, StoreKind, json};

async fn discovery_document(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let response = h.get("/.well-known/openid-configuration").await;
    assert_eq!(response.headers()["content-type"], "application/json");
    let doc = json(response, StatusCode::OK).await;
    assert_eq!(doc["issuer"], h.issuer.as_str());
    assert_eq!(doc["authorization_endpoint"], h.url("/auth/openid/login"));
    assert_eq!(doc["token_endpoint"], h.url("/auth/openid/token"));
    assert_eq!(doc["userinfo_endpoint"], h.url("/auth/openid/userinfo"));
    assert_eq!(doc["jwks_uri"], h.url("/.well-known/jwks.json"));
    assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(
        doc["subject_types_supported"],
        serde_json::json!(["public"])
    );
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        serde_json::json!(["ES256"])
    );
    assert_eq!(
        doc["scopes_supported"],
        serde_json::json!(["openid", "profile", "email", "groups", "offline_access"])
    );
    assert_eq!(
        doc["grant_types_supported"],
        serde_json::json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(doc["revocation_endpoint"], h.url("/auth/openid/revoke"));
    assert_eq!(
        doc["introspection_endpoint"],
        h.url("/auth/openid/introspect")
    );
    assert_eq!(doc["end_session_endpoint"], h.url("/auth/openid/logout"));
    assert_eq!(
        doc["revocation_endpoint_auth_methods_supported"],
        serde_json::json!(["client_secret_basic", "client_secret_post", "none"])
    );
    assert_eq!(
        doc["introspection_endpoint_auth_methods_supported"],
        serde_json::json!(["client_secret_basic", "client_secret_post"])
    );
    assert_eq!(doc["request_parameter_supported"], false);
    assert_eq!(doc["request_uri_parameter_supported"], false);
    assert_eq!(
        doc["response_modes_supported"],
        serde_json::json!(["query"])
    );
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        serde_json::json!(["client_secret_basic", "client_secret_post", "none"])
    );
    // PKCE with S256 only.
    assert_eq!(
        doc["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    for claim in [
        "sub",
        "iss",
        "aud",
        "exp",
        "iat",
        "auth_time",
        "nonce",
        "name",
        "email",
        "preferred_username",
    ] {
        assert!(
            doc["claims_supported"]
                .as_array()
                .unwrap()
                .contains(&claim.into()),
            "{claim}"
        );
    }
}

async fn jwks_publishes_the_signing_key(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let jwks = json(h.get("/.well-known/jwks.json").await, StatusCode::OK).await;
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let key = &keys[0];
    assert_eq!(key["kty"], "EC");
    assert_eq!(key["use"], "sig");
    assert_eq!(key["alg"], "ES256");
    assert_eq!(key["crv"], "P-256");
    assert_eq!(key["kid"], h.service.jwks().keys[0].kid.as_str());
    assert!(
        key.get("d").is_none(),
        "private key material published: {key}"
    );
}

async fn health_and_ready(backend: StoreKind) {
    let h = Harness::start(backend).await;
    assert_eq!(h.get("/health").await.status(), StatusCode::OK);
    assert_eq!(h.get("/ready").await.status(), StatusCode::OK);
}

/// Once the server drains for a shutdown, `/ready` sends load balancers
/// elsewhere while every other route still answers: requests already on
/// their way are served, not refused.
async fn ready_answers_503_once_draining(backend: StoreKind) {
    let h = Harness::start(backend).await;
    h.drain();
    let ready = h.get("/ready").await;
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.text().await.unwrap(), "draining: shutting down\n");
    assert_eq!(h.get("/health").await.status(), StatusCode::OK);
    assert_eq!(h.discovery().await["issuer"], h.issuer.as_str());
}

crate::on_both_stores!(
    discovery_document,
    jwks_publishes_the_signing_key,
    health_and_ready,
    ready_answers_503_once_draining
);

/// An issuer with a path and a trailing slash: endpoints live under the
/// path, with exactly one slash between the parts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issuer_with_path_and_trailing_slash() {
    let h = Harness::start_with(Options {
        issuer_path: "/idp/",
        ..Options::new(StoreKind::Memory)
    })
    .await;
    assert!(h.issuer.ends_with("/idp/"));
    let doc = h.discovery().await;
    assert_eq!(doc["issuer"], h.issuer.as_str());
    let base = h.issuer.trim_end_matches('/');
    assert_eq!(
        doc["authorization_endpoint"],
        format!("{base}/auth/openid/login")
    );
    assert_eq!(doc["jwks_uri"], format!("{base}/.well-known/jwks.json"));
    for key in [
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
    ] {
        let url = doc[key].as_str().unwrap();
        assert!(
            !url.trim_start_matches("http://").contains("//"),
            "{key}: {url}"
        );
    }
    // The documents are served where they say they are.
    assert_eq!(
        h.get("/.well-known/jwks.json").await.status(),
        StatusCode::OK
    );
    let root = base.trim_end_matches("/idp");
    let outside = h
        .http
        .get(format!("{root}/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(outside.status(), StatusCode::NOT_FOUND);
}

/// A known path with the wrong method is 405, not 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_method_is_405() {
    let h = Harness::start(StoreKind::Memory).await;
    assert_eq!(
        h.get("/auth/openid/token").await.status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
    let response = h
        .http
        .post(h.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(h.get("/no/such/path").await.status(), StatusCode::NOT_FOUND);
}
