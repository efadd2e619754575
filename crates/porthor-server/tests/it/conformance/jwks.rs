//! The JWKS checks `oidcc-discovery-endpoint-verification` makes (and
//! `oidcc-server-rotate-keys` repeats), one test each, on the key set of
//! every algorithm Porthor signs with and on one after rotations.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::CoreJsonWebKeySet;
use porthor_signer::{SigningAlgorithm, generate_pem};
use serde_json::Value;

use super::suite::start_signing;
use crate::harness::{Harness, Options, StoreKind};

/// The key sets the JWKS checks run on: one server per algorithm Porthor
/// signs with, and one after two rotations (an RS256 key with a previous
/// ES256 and EdDSA key).
async fn published_key_sets() -> Vec<Value> {
    let mut sets = Vec::new();
    for algorithm in [
        SigningAlgorithm::Rs256,
        SigningAlgorithm::Es256,
        SigningAlgorithm::EdDsa,
    ] {
        sets.push(start_signing(algorithm).await.jwks().await);
    }
    let previous = [SigningAlgorithm::Es256, SigningAlgorithm::EdDsa]
        .map(|alg| generate_pem(alg).unwrap().as_str().to_owned())
        .to_vec();
    let rotated = Harness::start_with(Options {
        algorithm: SigningAlgorithm::Rs256,
        previous_keys: previous,
        ..Options::new(StoreKind::Redis)
    })
    .await;
    let rotated = rotated.jwks().await;
    assert_eq!(rotated["keys"].as_array().unwrap().len(), 3);
    sets.push(rotated);
    sets
}

pub(super) fn keys(jwks: &Value) -> &Vec<Value> {
    jwks["keys"].as_array().expect("a keys array")
}

fn base64url(key: &Value, member: &str) -> Vec<u8> {
    let value = key[member]
        .as_str()
        .unwrap_or_else(|| panic!("{member} missing from {key}"));
    assert!(
        value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "{member} is not unpadded base64url: {value}"
    );
    URL_SAFE_NO_PAD.decode(value).unwrap()
}

/// ValidateServerJWKs: each key has a `kty` and that type's public members,
/// in unpadded base64url, and parses as a JWK (openidconnect here, Nimbus in
/// the suite).
pub(super) fn check_keys_are_valid(jwks: &Value) {
    assert!(!keys(jwks).is_empty(), "{jwks}");
    for key in keys(jwks) {
        match key["kty"].as_str().expect("kty") {
            "RSA" => {
                base64url(key, "n");
                base64url(key, "e");
            }
            "EC" => {
                assert_eq!(key["crv"], "P-256");
                base64url(key, "x");
                base64url(key, "y");
            }
            "OKP" => {
                assert_eq!(key["crv"], "Ed25519");
                base64url(key, "x");
            }
            other => panic!("kty {other}"),
        }
    }
    let parsed: CoreJsonWebKeySet = serde_json::from_value(jwks.clone()).expect("a JWKS");
    assert_eq!(parsed.keys().len(), keys(jwks).len());
}

/// CheckForKeyIdInServerJWKs (OIDCC-10.1), with `use: sig` (or `key_ops`)
/// and an `alg` that fits the key type.
pub(super) fn check_kid_use_and_alg(jwks: &Value) {
    for key in keys(jwks) {
        assert!(
            key["kid"].as_str().is_some_and(|kid| !kid.is_empty()),
            "{key}"
        );
        let signing = key["use"] == "sig"
            || key["key_ops"]
                .as_array()
                .is_some_and(|ops| ops.contains(&Value::from("verify")));
        assert!(signing, "not a signature key: {key}");
        let expected = match key["kty"].as_str() {
            Some("RSA") => "RS256",
            Some("EC") => "ES256",
            _ => "EdDSA",
        };
        assert_eq!(key["alg"], expected, "{key}");
    }
}

/// CheckDistinctKeyIdValueInServerJWKs (RFC 7517 4.5).
pub(super) fn check_unique_kids(jwks: &Value) {
    let mut kids: Vec<&str> = keys(jwks)
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    let count = kids.len();
    kids.sort_unstable();
    kids.dedup();
    assert_eq!(kids.len(), count, "{jwks}");
}

/// EnsureServerJwksDoesNotContainPrivateOrSymmetricKeys (RFC 7518
/// 6.3.2.1): no private members, no `oct` keys.
pub(super) fn check_no_private_or_symmetric_keys(jwks: &Value) {
    for key in keys(jwks) {
        assert_ne!(key["kty"], "oct", "{key}");
        for member in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
            assert!(key.get(member).is_none(), "{member} published: {key}");
        }
    }
}

/// RFC 7518 6.3.1 (RSA `n` and `e`: big-endian with the fewest octets, so
/// no leading zero octet; 2048 bits at least), 6.2.1.2-3 (EC coordinates:
/// exactly the field size, 32 octets for P-256) and RFC 8037 2 (Ed25519 `x`:
/// 32 octets).
pub(super) fn check_minimal_encodings(jwks: &Value) {
    for key in keys(jwks) {
        match key["kty"].as_str().unwrap() {
            "RSA" => {
                let n = base64url(key, "n");
                let e = base64url(key, "e");
                assert_ne!(n.first(), Some(&0), "n has a leading zero: {key}");
                assert_ne!(e.first(), Some(&0), "e has a leading zero: {key}");
                assert!(n.len() >= 256, "{} bit modulus", n.len() * 8);
                assert_eq!(e, [1, 0, 1], "e is 65537");
            }
            "EC" => {
                assert_eq!(base64url(key, "x").len(), 32, "{key}");
                assert_eq!(base64url(key, "y").len(), 32, "{key}");
            }
            _ => assert_eq!(base64url(key, "x").len(), 32, "{key}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_jwks_keys_are_valid() {
    for jwks in published_key_sets().await {
        check_keys_are_valid(&jwks);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_jwks_keys_have_kid_use_and_alg() {
    for jwks in published_key_sets().await {
        check_kid_use_and_alg(&jwks);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_jwks_kids_are_unique() {
    for jwks in published_key_sets().await {
        check_unique_kids(&jwks);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_jwks_no_private_or_symmetric_keys() {
    for jwks in published_key_sets().await {
        check_no_private_or_symmetric_keys(&jwks);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_jwks_minimal_encodings() {
    for jwks in published_key_sets().await {
        check_minimal_encodings(&jwks);
    }
}
