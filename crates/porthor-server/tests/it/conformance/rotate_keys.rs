//! `OIDCCServerRotateKeys`: the JWKS before and after a signing key
//! rotation, and tokens signed on either side of it.

use std::str::FromStr as _;

use openidconnect::JsonWebKey as _;
use openidconnect::core::CoreIdToken;
use porthor_signer::{SigningAlgorithm, generate_pem};
use serde_json::Value;

use super::jwks::{
    check_keys_are_valid, check_kid_use_and_alg, check_minimal_encodings,
    check_no_private_or_symmetric_keys, check_unique_kids, keys,
};
use super::suite::{Request, happy, strings};
use crate::harness::{Harness, Options, StoreKind, jwt_header, nonce_is, rp_verifier};

/// `oidcc-server-rotate-keys`: the JWKS before and after a rotation (a new
/// `signing.key_file`, the old key in `signing.previous_key_files`, a
/// restart) must both pass the JWKS checks; the new one has a new signing
/// key (VerifyNewJwksHasNewSigningKey) and still the old one
/// (VerifyNewJwksStillHasOldSigningKey, a WARNING in the suite). Beyond the
/// module: new ID tokens are signed by the new key, and one signed before
/// the rotation still verifies for a relying party that takes the keys and
/// the allowed algorithms from the rotated provider. (The restarted server
/// has another port, so another issuer; a real restart keeps it, and the
/// check uses the issuer the token was issued by.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_server_rotate_keys() {
    let old_key = generate_pem(SigningAlgorithm::Rs256)
        .unwrap()
        .as_str()
        .to_owned();
    let before = Harness::start_with(Options {
        signing_key: Some(old_key.clone()),
        ..Options::new(StoreKind::Redis)
    })
    .await;
    let original = before.jwks().await;
    let checks: [fn(&Value); 5] = [
        check_keys_are_valid,
        check_kid_use_and_alg,
        check_unique_kids,
        check_no_private_or_symmetric_keys,
        check_minimal_encodings,
    ];
    for check in checks {
        check(&original);
    }
    let request = Request::new("openid");
    let old = happy(&before, None, &request).await;
    let old_kid = jwt_header(&old.tokens.id_token)["kid"].clone();
    assert_eq!(keys(&original)[0]["kid"], old_kid);

    let after = Harness::start_with(Options {
        algorithm: SigningAlgorithm::Rs256,
        previous_keys: vec![old_key],
        ..Options::new(StoreKind::Redis)
    })
    .await;
    let rotated = after.jwks().await;
    for check in checks {
        check(&rotated);
    }
    let new_kid = keys(&rotated)[0]["kid"].clone();
    assert!(
        !keys(&original).iter().any(|k| k["kid"] == new_kid),
        "no new signing key"
    );
    assert!(
        keys(&rotated).contains(&keys(&original)[0]),
        "the old key is no longer published"
    );

    let new = happy(&after, None, &Request::new("openid")).await;
    assert_eq!(jwt_header(&new.tokens.id_token)["kid"], new_kid);

    let doc = after.discovery().await;
    let algs = strings(&doc["id_token_signing_alg_values_supported"]);
    let verifier = rp_verifier(&rotated, &before.issuer, &algs);
    let token = CoreIdToken::from_str(&old.tokens.id_token).unwrap();
    token
        .claims(&verifier, nonce_is(request.get("nonce")))
        .unwrap_or_else(|e| panic!("a token from before the rotation was rejected: {e:?}"));
    let key = token.signing_key(&verifier).unwrap();
    assert_eq!(
        key.key_id().map(|kid| kid.as_str()),
        old_kid.as_str(),
        "verified with the old key"
    );
}
