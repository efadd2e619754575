//! ID tokens checked as a relying party checks them: openidconnect's
//! verifier over the keys the server publishes.

use std::str::FromStr as _;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::{
    CoreIdToken, CoreIdTokenVerifier, CoreJsonWebKeySet, CoreJwsSigningAlgorithm,
};
use openidconnect::{AccessToken, AccessTokenHash, ClientId, ClientSecret, IssuerUrl, Nonce};
use serde_json::Value;

use super::{CLIENT_ID, CLIENT_SECRET, jwt_claims};

/// The app client's verifier: the keys of `jwks`, `issuer`, and the signing
/// algorithms `algs` (the JWS names).
pub fn rp_verifier(jwks: &Value, issuer: &str, algs: &[&str]) -> CoreIdTokenVerifier<'static> {
    let keys: CoreJsonWebKeySet = serde_json::from_value(jwks.clone()).expect("a JWKS");
    let algs: Vec<CoreJwsSigningAlgorithm> = algs
        .iter()
        .map(|alg| serde_json::from_value(Value::from(*alg)).expect("a JWS algorithm"))
        .collect();
    CoreIdTokenVerifier::new_confidential_client(
        ClientId::new(CLIENT_ID.to_owned()),
        ClientSecret::new(CLIENT_SECRET.to_owned()),
        IssuerUrl::new(issuer.to_owned()).unwrap(),
        keys,
    )
    .set_allowed_algs(algs)
}

/// A nonce check for openidconnect: the claim must be exactly `expected`,
/// absent when no nonce was sent.
pub fn nonce_is(expected: Option<&str>) -> impl FnOnce(Option<&Nonce>) -> Result<(), String> + '_ {
    move |claim: Option<&Nonce>| {
        let claim = claim.map(|n| n.secret().as_str());
        if claim == expected {
            Ok(())
        } else {
            Err(format!("nonce {claim:?}, expected {expected:?}"))
        }
    }
}

/// Verifies `id_token` with `verifier` (signature, issuer, audience,
/// expiry, `nonce`), asserts that its `at_hash` is `access_token`'s (Core
/// 3.1.3.6), and returns its claims.
pub fn verify_id_token(
    verifier: &CoreIdTokenVerifier<'_>,
    id_token: &str,
    nonce: Option<&str>,
    access_token: &str,
) -> Value {
    let token = CoreIdToken::from_str(id_token).unwrap();
    let claims = token
        .claims(verifier, nonce_is(nonce))
        .unwrap_or_else(|e| panic!("ID token rejected: {e:?}"));
    let expected = AccessTokenHash::from_token(
        &AccessToken::new(access_token.to_owned()),
        token.signing_alg().unwrap(),
        token.signing_key(verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected), "at_hash");
    jwt_claims(id_token)
}

/// `jwt` with one bit of its signature flipped: a token no key signed.
pub fn with_altered_signature(jwt: &str) -> String {
    let mut parts: Vec<String> = jwt.split('.').map(str::to_owned).collect();
    let mut signature = URL_SAFE_NO_PAD.decode(&parts[2]).unwrap();
    signature[0] ^= 0x01;
    parts[2] = URL_SAFE_NO_PAD.encode(signature);
    parts.join(".")
}
