//! Behaviour tests for the public API, on the fixed keys in `tests/data/`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

use crate::{Signer, SignerError, SigningAlgorithm, generate_pem};

const RSA: &[u8] = include_bytes!("../tests/data/rsa-2048.pem");
const RSA_B: &[u8] = include_bytes!("../tests/data/rsa-2048-b.pem");
const RSA_PKCS1: &[u8] = include_bytes!("../tests/data/rsa-2048-pkcs1.pem");
const RSA_PKCS1_ENCRYPTED: &[u8] = include_bytes!("../tests/data/rsa-2048-pkcs1-encrypted.pem");
const RSA_PUBLIC: &[u8] = include_bytes!("../tests/data/rsa-2048-public.pem");
const RSA_1024: &[u8] = include_bytes!("../tests/data/rsa-1024.pem");
const EC: &[u8] = include_bytes!("../tests/data/ec-p256.pem");
const EC_SEC1: &[u8] = include_bytes!("../tests/data/ec-p256-sec1.pem");
const EC_SEC1_WITH_PARAMS: &[u8] = include_bytes!("../tests/data/ec-p256-sec1-with-params.pem");
const EC_ENCRYPTED: &[u8] = include_bytes!("../tests/data/ec-p256-encrypted.pem");
const EC_P384: &[u8] = include_bytes!("../tests/data/ec-p384.pem");
const EC_P384_SEC1: &[u8] = include_bytes!("../tests/data/ec-p384-sec1.pem");
const ED: &[u8] = include_bytes!("../tests/data/ed25519.pem");
const X25519: &[u8] = include_bytes!("../tests/data/x25519.pem");

pub(crate) const ISSUER: &str = "https://id.example.test";
pub(crate) const NOW: u64 = 1_700_000_000;

/// The claims every test signs (shared with `hostile_input`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Claims {
    pub(crate) iss: String,
    pub(crate) sub: String,
    pub(crate) aud: String,
    pub(crate) exp: u64,
}

fn claims() -> Claims {
    Claims {
        iss: ISSUER.to_owned(),
        sub: "alice".to_owned(),
        aud: "client-1".to_owned(),
        exp: NOW + 300,
    }
}

fn load(pem: &[u8]) -> Signer {
    Signer::from_pem(pem).unwrap()
}

fn all_signers() -> Vec<Signer> {
    vec![load(RSA), load(EC), load(ED)]
}

fn b64_decode(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).unwrap()
}

/// The (header, payload, signature) parts of a compact JWS.
fn parts(token: &str) -> (String, String, String) {
    let mut it = token.split('.');
    let parts = (
        it.next().unwrap().to_owned(),
        it.next().unwrap().to_owned(),
        it.next().unwrap().to_owned(),
    );
    assert!(it.next().is_none());
    parts
}

fn verify(signer: &Signer, token: &str) -> Result<Claims, SignerError> {
    signer.verify::<Claims>(token, ISSUER, NOW)
}

#[test]
fn detects_the_algorithm_from_the_key() {
    for (pem, alg) in [
        (RSA, SigningAlgorithm::Rs256),
        (RSA_PKCS1, SigningAlgorithm::Rs256),
        (EC, SigningAlgorithm::Es256),
        (EC_SEC1, SigningAlgorithm::Es256),
        (EC_SEC1_WITH_PARAMS, SigningAlgorithm::Es256),
        (ED, SigningAlgorithm::EdDsa),
    ] {
        assert_eq!(load(pem).algorithm(), alg);
    }
}

#[test]
fn round_trips_every_algorithm() {
    for signer in all_signers() {
        let token = signer.sign(&claims()).unwrap();
        assert_eq!(verify(&signer, &token).unwrap(), claims(), "{signer:?}");
    }
}

#[test]
fn header_is_alg_kid_typ() {
    for signer in all_signers() {
        let token = signer.sign(&claims()).unwrap();
        let header: serde_json::Value =
            serde_json::from_slice(&b64_decode(&parts(&token).0)).unwrap();
        assert_eq!(
            header,
            serde_json::json!({
                "alg": signer.algorithm().as_str(),
                "kid": signer.kid(),
                "typ": "JWT",
            })
        );
    }
}

#[test]
fn rsa_jwks_shape() {
    let signer = load(RSA);
    let [jwk] = signer.jwks().keys.as_slice() else {
        panic!("expected one key");
    };
    assert_eq!(jwk.kty, "RSA");
    assert_eq!(jwk.use_, "sig");
    assert_eq!(jwk.alg, "RS256");
    assert_eq!(jwk.kid, signer.kid());
    // Minimal big-endian: no leading zero byte even though the top bit is set.
    let n = b64_decode(jwk.n.as_deref().unwrap());
    assert_eq!(n.len(), 256);
    assert_ne!(n[0], 0);
    assert!(n[0] & 0x80 != 0, "a 2048-bit modulus fills all 256 bytes");
    assert_eq!(jwk.e.as_deref(), Some("AQAB"));
    assert!(jwk.crv.is_none() && jwk.x.is_none() && jwk.y.is_none());
    // Absent members are left out, not null.
    let json = serde_json::to_value(signer.jwks()).unwrap();
    let keys = json["keys"][0].as_object().unwrap();
    let mut members: Vec<_> = keys.keys().map(String::as_str).collect();
    members.sort_unstable();
    assert_eq!(members, ["alg", "e", "kid", "kty", "n", "use"]);
}

#[test]
fn ec_jwks_shape() {
    let signer = load(EC);
    let [jwk] = signer.jwks().keys.as_slice() else {
        panic!("expected one key");
    };
    assert_eq!(
        (jwk.kty.as_str(), jwk.use_.as_str(), jwk.alg.as_str()),
        ("EC", "sig", "ES256")
    );
    assert_eq!(jwk.crv.as_deref(), Some("P-256"));
    assert_eq!(b64_decode(jwk.x.as_deref().unwrap()).len(), 32);
    assert_eq!(b64_decode(jwk.y.as_deref().unwrap()).len(), 32);
    assert!(jwk.n.is_none() && jwk.e.is_none());
    assert_eq!(jwk.kid, signer.kid());
}

#[test]
fn ed25519_jwks_shape() {
    let signer = load(ED);
    let [jwk] = signer.jwks().keys.as_slice() else {
        panic!("expected one key");
    };
    assert_eq!(
        (jwk.kty.as_str(), jwk.use_.as_str(), jwk.alg.as_str()),
        ("OKP", "sig", "EdDSA")
    );
    assert_eq!(jwk.crv.as_deref(), Some("Ed25519"));
    assert_eq!(b64_decode(jwk.x.as_deref().unwrap()).len(), 32);
    assert!(jwk.n.is_none() && jwk.e.is_none() && jwk.y.is_none());
    assert_eq!(jwk.kid, signer.kid());
}

/// A second, independent RFC 7638 implementation agrees with ours.
#[test]
fn kid_equals_jsonwebtoken_thumbprint() {
    for signer in all_signers() {
        let published = &signer.jwks().keys[0];
        let theirs: jsonwebtoken::jwk::Jwk =
            serde_json::from_value(serde_json::to_value(published).unwrap()).unwrap();
        let thumbprint = theirs
            .thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
            .unwrap();
        assert_eq!(signer.kid(), thumbprint, "{signer:?}");
        assert_eq!(signer.kid().len(), 43, "base64url of 32 bytes, unpadded");
    }
}

#[test]
fn kid_is_stable_across_loads_and_formats() {
    assert_eq!(load(RSA).kid(), load(RSA).kid());
    assert_eq!(load(RSA).kid(), load(RSA_PKCS1).kid());
    assert_eq!(load(EC).kid(), load(EC_SEC1).kid());
    assert_eq!(load(ED).kid(), load(ED).kid());
    assert_ne!(load(RSA).kid(), load(RSA_B).kid());
}

/// The published RSA key is the one in the file: tokens verify against the
/// public key OpenSSL extracted, through jsonwebtoken directly.
#[test]
fn published_key_matches_openssl_public_key() {
    let signer = load(RSA);
    let token = signer.sign(&claims()).unwrap();
    let public = jsonwebtoken::DecodingKey::from_rsa_pem(RSA_PUBLIC).unwrap();
    let mut validation = jsonwebtoken::Validation::new(Algorithm::RS256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    jsonwebtoken::decode::<Claims>(&token, &public, &validation).unwrap();

    let theirs = jsonwebtoken::jwk::Jwk::from_decoding_key(&public, None).unwrap();
    let jsonwebtoken::jwk::AlgorithmParameters::RSA(rsa) = theirs.algorithm else {
        panic!("not rsa");
    };
    let ours = &signer.jwks().keys[0];
    assert_eq!(ours.n.as_deref(), Some(rsa.n.as_str()));
    assert_eq!(ours.e.as_deref(), Some(rsa.e.as_str()));
}

#[test]
fn tampered_tokens_are_rejected() {
    for signer in all_signers() {
        let token = signer.sign(&claims()).unwrap();
        let (header, _, signature) = parts(&token);

        let mut forged = claims();
        forged.sub = "mallory".to_owned();
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        let tampered = format!("{header}.{payload}.{signature}");
        assert!(matches!(
            verify(&signer, &tampered),
            Err(SignerError::InvalidSignature)
        ));

        let mut sig = b64_decode(&signature);
        sig[10] ^= 1;
        let (header, payload, _) = parts(&token);
        let flipped = format!("{header}.{payload}.{}", URL_SAFE_NO_PAD.encode(sig));
        assert!(matches!(
            verify(&signer, &flipped),
            Err(SignerError::InvalidSignature)
        ));
    }
}

#[test]
fn token_from_another_key_is_rejected() {
    let ours = load(RSA);
    let theirs = load(RSA_B);
    let token = theirs.sign(&claims()).unwrap();
    assert!(matches!(
        verify(&ours, &token),
        Err(SignerError::UnknownKid { kid }) if kid == theirs.kid()
    ));

    // The other key claiming our kid fails on the signature.
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(ours.kid().to_owned());
    let forged = jsonwebtoken::encode(
        &header,
        &claims(),
        &EncodingKey::from_rsa_pem(RSA_B).unwrap(),
    )
    .unwrap();
    assert!(matches!(
        verify(&ours, &forged),
        Err(SignerError::InvalidSignature)
    ));
}

#[test]
fn algorithm_must_match_the_key_named_by_kid() {
    let rsa = load(RSA);
    // Signed with the EC key, but naming the RSA key.
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(rsa.kid().to_owned());
    let ec_key = EncodingKey::from_ec_pem(EC).unwrap();
    let token = jsonwebtoken::encode(&header, &claims(), &ec_key).unwrap();
    assert!(matches!(
        verify(&rsa, &token),
        Err(SignerError::AlgorithmMismatch)
    ));

    // The classic confusion: HS256 keyed with the public modulus.
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(rsa.kid().to_owned());
    let n = rsa.jwks().keys[0].n.clone().unwrap();
    let token =
        jsonwebtoken::encode(&header, &claims(), &EncodingKey::from_secret(n.as_bytes())).unwrap();
    assert!(matches!(
        verify(&rsa, &token),
        Err(SignerError::AlgorithmMismatch)
    ));

    // alg "none" is not even a header jsonwebtoken parses.
    let none_header = URL_SAFE_NO_PAD.encode(format!(
        r#"{{"alg":"none","kid":"{}","typ":"JWT"}}"#,
        rsa.kid()
    ));
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims()).unwrap());
    assert!(matches!(
        verify(&rsa, &format!("{none_header}.{payload}.")),
        Err(SignerError::MalformedToken(_))
    ));
}

#[test]
fn wrong_or_missing_issuer_is_rejected() {
    let signer = load(EC);
    let token = signer.sign(&claims()).unwrap();
    assert!(matches!(
        signer.verify::<Claims>(&token, "https://other.example.test", NOW),
        Err(SignerError::WrongIssuer)
    ));
    // A trailing slash is a different issuer (OpenID Connect Core 3.1.3.7).
    assert!(matches!(
        signer.verify::<Claims>(&token, "https://id.example.test/", NOW),
        Err(SignerError::WrongIssuer)
    ));
    let no_iss = signer
        .sign(&serde_json::json!({"sub": "alice", "exp": NOW + 60}))
        .unwrap();
    assert!(matches!(
        signer.verify::<serde_json::Value>(&no_iss, ISSUER, NOW),
        Err(SignerError::WrongIssuer)
    ));
}

#[test]
fn expiry_is_checked_against_the_callers_now() {
    let signer = load(ED);
    let token = signer.sign(&claims()).unwrap();
    let exp = claims().exp;
    assert!(signer.verify::<Claims>(&token, ISSUER, exp - 1).is_ok());
    assert!(matches!(
        signer.verify::<Claims>(&token, ISSUER, exp),
        Err(SignerError::Expired)
    ));
    assert!(matches!(
        signer.verify::<Claims>(&token, ISSUER, exp + 3600),
        Err(SignerError::Expired)
    ));
    // Identifying an expired token is allowed only when asked for, and the
    // signature and issuer are still checked.
    assert!(
        signer
            .verify_ignoring_expiry::<Claims>(&token, ISSUER)
            .is_ok()
    );
    assert!(matches!(
        signer.verify_ignoring_expiry::<Claims>(&token, "https://other.example"),
        Err(SignerError::WrongIssuer)
    ));
    // One signature byte changed, well inside the last segment.
    let at = token.len() - 10;
    let flipped = if &token[at..=at] == "A" { "B" } else { "A" };
    let forged = format!("{}{flipped}{}", &token[..at], &token[at + 1..]);
    assert!(
        signer
            .verify_ignoring_expiry::<Claims>(&forged, ISSUER)
            .is_err()
    );

    for bad_exp in [
        serde_json::json!(null),
        serde_json::json!("9999999999"),
        serde_json::json!(-1),
    ] {
        let token = signer
            .sign(&serde_json::json!({"iss": ISSUER, "exp": bad_exp}))
            .unwrap();
        assert!(matches!(
            signer.verify::<serde_json::Value>(&token, ISSUER, NOW),
            Err(SignerError::MissingExpiry)
        ));
    }
}

#[test]
fn kid_must_be_present_and_known() {
    let signer = load(RSA);
    let key = EncodingKey::from_rsa_pem(RSA).unwrap();

    let no_kid = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims(), &key).unwrap();
    assert!(matches!(
        verify(&signer, &no_kid),
        Err(SignerError::MissingKid)
    ));

    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("not-a-kid".to_owned());
    let unknown = jsonwebtoken::encode(&header, &claims(), &key).unwrap();
    assert!(matches!(
        verify(&signer, &unknown),
        Err(SignerError::UnknownKid { kid }) if kid == "not-a-kid"
    ));
}

#[test]
fn malformed_tokens_are_rejected() {
    let signer = load(RSA);
    for token in ["", "abc", "a.b", "a.b.c", "..", "a.b.c.d"] {
        assert!(
            matches!(verify(&signer, token), Err(SignerError::MalformedToken(_))),
            "{token:?}"
        );
    }
}

#[test]
fn claims_that_do_not_fit_the_callers_type_are_rejected() {
    let signer = load(RSA);
    let token = signer
        .sign(&serde_json::json!({"iss": ISSUER, "exp": NOW + 60}))
        .unwrap();
    assert!(matches!(
        verify(&signer, &token),
        Err(SignerError::InvalidClaims(_))
    ));
}

#[test]
fn previous_keys_verify_but_never_sign() {
    let old = load(RSA_B);
    let old_token = old.sign(&claims()).unwrap();

    // Rotation may change the algorithm too.
    let new = Signer::from_pem(EC)
        .unwrap()
        .with_previous_keys(&[RSA_B, EC])
        .unwrap();
    assert_eq!(verify(&new, &old_token).unwrap(), claims());

    let new_token = new.sign(&claims()).unwrap();
    let header = jsonwebtoken::decode_header(&new_token).unwrap();
    assert_eq!(header.kid.as_deref(), Some(new.kid()));
    assert_eq!(header.alg, Algorithm::ES256);
    assert_ne!(new.kid(), old.kid());

    // Current key first; the repeated current key was not published twice.
    let kids: Vec<_> = new.jwks().keys.iter().map(|k| k.kid.as_str()).collect();
    assert_eq!(kids, [new.kid(), old.kid()]);
    assert_eq!(new.jwks().keys[1], old.jwks().keys[0]);

    // A bad previous key is an error, not silently dropped.
    assert!(
        Signer::from_pem(EC)
            .unwrap()
            .with_previous_keys(&[RSA_1024])
            .is_err()
    );
}

#[test]
fn debug_shows_no_key_material() {
    for (pem, signer) in [RSA, EC, ED].into_iter().zip(all_signers()) {
        let debug = format!("{signer:?}");
        assert!(debug.contains(signer.kid()), "{debug}");
        // No line of the PEM body, and no public member either.
        for line in std::str::from_utf8(pem).unwrap().lines() {
            if !line.starts_with("-----") {
                assert!(!debug.contains(&line[..20]), "{debug}");
            }
        }
        let jwk = &signer.jwks().keys[0];
        for member in [&jwk.n, &jwk.x, &jwk.y].into_iter().flatten() {
            assert!(!debug.contains(&member[..16]), "{debug}");
        }
        assert!(debug.len() < 120, "{debug}");
    }
}

#[test]
fn unusable_pem_is_an_error_not_a_panic() {
    let der = pem::parse(RSA).unwrap().into_contents();
    let two_keys = [RSA, EC].concat();
    let cases: [(&str, &[u8]); 13] = [
        ("empty", b""),
        ("garbage", b"this is not a key"),
        ("raw der", &der),
        (
            "broken base64",
            b"-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n",
        ),
        (
            "not a key inside",
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        ),
        ("public key", RSA_PUBLIC),
        ("encrypted pkcs8", EC_ENCRYPTED),
        ("encrypted pkcs1", RSA_PKCS1_ENCRYPTED),
        ("rsa 1024", RSA_1024),
        ("p-384 pkcs8", EC_P384),
        ("p-384 sec1", EC_P384_SEC1),
        ("x25519", X25519),
        ("two keys", &two_keys),
    ];
    for (name, input) in cases {
        let error = Signer::from_pem(input).unwrap_err();
        let expected = match name {
            "empty" | "garbage" | "raw der" => matches!(error, SignerError::EmptyPem),
            "broken base64" => matches!(error, SignerError::Pem(_)),
            "not a key inside" => matches!(error, SignerError::InvalidKey { .. }),
            "public key" => matches!(error, SignerError::NotAPrivateKey { .. }),
            "encrypted pkcs8" | "encrypted pkcs1" => matches!(error, SignerError::EncryptedKey),
            "rsa 1024" => matches!(error, SignerError::RsaKeyTooSmall),
            "p-384 pkcs8" | "p-384 sec1" | "x25519" => {
                matches!(error, SignerError::UnsupportedKeyType)
            }
            "two keys" => matches!(error, SignerError::MultiplePemBlocks { count: 2 }),
            _ => false,
        };
        assert!(expected, "{name}: {error:?}");
        // Messages are lowercase and unpunctuated at the end.
        let message = error.to_string();
        assert!(!message.starts_with(char::is_uppercase), "{message}");
        assert!(!message.ends_with('.'), "{message}");
    }
    assert!(matches!(
        Signer::from_pem(b"-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n"),
        Err(SignerError::UnsupportedPemLabel { label }) if label == "OPENSSH PRIVATE KEY"
    ));
}

#[test]
fn generated_keys_load_back() {
    for alg in [
        SigningAlgorithm::Rs256,
        SigningAlgorithm::Es256,
        SigningAlgorithm::EdDsa,
    ] {
        let pem = generate_pem(alg).unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{alg}");
        assert!(pem.ends_with("-----END PRIVATE KEY-----\n"), "{alg}");
        assert!(!pem.contains('\r'));
        let signer = Signer::from_pem(pem.as_bytes()).unwrap();
        assert_eq!(signer.algorithm(), alg);
        let token = signer.sign(&claims()).unwrap();
        assert_eq!(verify(&signer, &token).unwrap(), claims());
        if alg == SigningAlgorithm::Rs256 {
            let jwk = &signer.jwks().keys[0];
            assert_eq!(b64_decode(jwk.n.as_deref().unwrap()).len(), 256);
            assert_eq!(jwk.e.as_deref(), Some("AQAB"));
        }
    }
    assert_ne!(
        *generate_pem(SigningAlgorithm::EdDsa).unwrap(),
        *generate_pem(SigningAlgorithm::EdDsa).unwrap()
    );
}

#[test]
fn signer_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Signer>();
    assert_send_sync::<SignerError>();
}

/// OpenID Connect Core 3.1.3.6, with the example of the OpenID Connect
/// Core A.3 (`at_hash` of `jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y`
/// under RS256 is `77QmUPtjPfzWtF2AnpK9RQ`).
#[test]
fn token_hash_follows_the_signing_algorithm() {
    let rsa = Signer::from_pem(RSA).unwrap();
    assert_eq!(
        rsa.token_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
        "77QmUPtjPfzWtF2AnpK9RQ"
    );
    let ec = Signer::from_pem(EC).unwrap();
    assert_eq!(
        ec.token_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
        "77QmUPtjPfzWtF2AnpK9RQ"
    );
    // Ed25519 hashes with SHA-512: half of it is 32 bytes, 43 characters.
    let ed = Signer::from_pem(ED).unwrap();
    assert_eq!(ed.token_hash("x").len(), 43);
}
