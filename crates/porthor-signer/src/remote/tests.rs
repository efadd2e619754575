//! The JWKS verifier against Porthor's own keys and tokens, and against
//! JWKS documents and tokens made by hand.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use super::{Expected, JwksVerifier};
use crate::{Signer, SignerError, SigningAlgorithm};

const RSA: &[u8] = include_bytes!("../../tests/data/rsa-2048.pem");
const RSA_B: &[u8] = include_bytes!("../../tests/data/rsa-2048-b.pem");
const EC: &[u8] = include_bytes!("../../tests/data/ec-p256.pem");
const ED: &[u8] = include_bytes!("../../tests/data/ed25519.pem");

const ISSUER: &str = "https://upstream.example.test";
const CLIENT: &str = "my-client";
const NOW: u64 = 1_700_000_000;
const ALL: [SigningAlgorithm; 3] = [
    SigningAlgorithm::Rs256,
    SigningAlgorithm::Es256,
    SigningAlgorithm::EdDsa,
];

fn claims() -> Value {
    json!({
        "iss": ISSUER,
        "sub": "alice",
        "aud": CLIENT,
        "exp": NOW + 300,
        "iat": NOW,
        "nonce": "n-0S6_WzA2Mj",
    })
}

fn expected() -> Expected<'static> {
    Expected {
        issuer: ISSUER,
        audience: CLIENT,
        now: NOW,
        leeway: 0,
        nonce: Some("n-0S6_WzA2Mj"),
    }
}

fn signer(pem: &[u8]) -> Signer {
    Signer::from_pem(pem).unwrap()
}

/// The verifier of `signers`' published keys, read from the JSON a
/// relying party fetches.
fn verifier_of(signers: &[&Signer], accepted: &[SigningAlgorithm]) -> JwksVerifier {
    let keys: Vec<_> = signers
        .iter()
        .flat_map(|signer| signer.jwks().keys.clone())
        .collect();
    let json = serde_json::to_vec(&json!({ "keys": keys })).unwrap();
    JwksVerifier::from_json(&json, accepted).unwrap()
}

fn verify(verifier: &JwksVerifier, token: &str) -> Result<Value, SignerError> {
    verifier
        .verify(token, &expected())
        .map(|verified| Value::Object(verified.claims))
}

/// A token signed by `pem` with `header`, through jsonwebtoken.
fn forge(header: &Header, claims: &Value, key: &EncodingKey) -> String {
    jsonwebtoken::encode(header, claims, key).unwrap()
}

fn header(alg: Algorithm, kid: Option<&str>) -> Header {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    header
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

#[test]
fn porthors_tokens_verify_with_every_algorithm() {
    for (pem, algorithm) in [
        (RSA, SigningAlgorithm::Rs256),
        (EC, SigningAlgorithm::Es256),
        (ED, SigningAlgorithm::EdDsa),
    ] {
        let signer = signer(pem);
        let verifier = verifier_of(&[&signer], &ALL);
        let token = signer.sign(&claims()).unwrap();
        let verified = verifier.verify(&token, &expected()).unwrap();
        assert_eq!(verified.algorithm, algorithm);
        assert_eq!(verified.kid.as_deref(), Some(signer.kid()));
        assert_eq!(verified.header["alg"], algorithm.as_str());
        assert_eq!(verified.header["kid"], signer.kid());
        assert_eq!(Value::Object(verified.claims), claims());
        // The parsed JWKS gives the same verifier.
        let direct = JwksVerifier::from_jwks(signer.jwks(), &ALL).unwrap();
        assert!(direct.verify(&token, &expected()).is_ok());
    }
}

#[test]
fn the_key_is_chosen_by_kid_among_several() {
    let (rsa, rsa_b, ec) = (signer(RSA), signer(RSA_B), signer(EC));
    let verifier = verifier_of(&[&rsa, &rsa_b, &ec], &ALL);
    assert_eq!(verifier.len(), 3);
    for signer in [&rsa, &rsa_b, &ec] {
        let token = signer.sign(&claims()).unwrap();
        let verified = verifier.verify(&token, &expected()).unwrap();
        assert_eq!(verified.kid.as_deref(), Some(signer.kid()));
    }
    // Signed by RSA_B's key, but naming RSA's kid: the named key refuses it.
    let token = forge(
        &header(Algorithm::RS256, Some(rsa.kid())),
        &claims(),
        &EncodingKey::from_rsa_pem(RSA_B).unwrap(),
    );
    assert!(matches!(
        verify(&verifier, &token),
        Err(SignerError::InvalidSignature)
    ));
    let token = forge(
        &header(Algorithm::RS256, Some("rotated-away")),
        &claims(),
        &EncodingKey::from_rsa_pem(RSA).unwrap(),
    );
    assert!(
        matches!(verify(&verifier, &token), Err(SignerError::UnknownKid { kid }) if kid == "rotated-away")
    );
}

#[test]
fn a_token_without_kid_needs_a_single_key_of_its_algorithm() {
    let (rsa, rsa_b, ec) = (signer(RSA), signer(RSA_B), signer(EC));
    let token = forge(
        &header(Algorithm::RS256, None),
        &claims(),
        &EncodingKey::from_rsa_pem(RSA).unwrap(),
    );
    let one_rsa = verifier_of(&[&rsa, &ec], &ALL);
    assert_eq!(
        one_rsa.verify(&token, &expected()).unwrap().kid.as_deref(),
        Some(rsa.kid())
    );
    let two_rsa = verifier_of(&[&rsa, &rsa_b], &ALL);
    assert!(matches!(
        verify(&two_rsa, &token),
        Err(SignerError::MissingKid)
    ));
}

#[test]
fn the_header_cannot_choose_the_algorithm() {
    let (rsa, ec) = (signer(RSA), signer(EC));
    let verifier = verifier_of(&[&rsa, &ec], &ALL);

    // alg "none", with and without a signature.
    let payload = b64(&claims());
    for kid in [Some(rsa.kid()), None] {
        let none = b64(&json!({ "alg": "none", "kid": kid }));
        for token in [
            format!("{none}.{payload}."),
            format!("{none}.{payload}.AAAA"),
        ] {
            assert!(
                matches!(verify(&verifier, &token), Err(SignerError::UnsupportedAlgorithm { alg }) if alg == "none"),
                "{token}"
            );
        }
    }

    // HS256 keyed with the RSA key's public modulus: the classic confusion.
    let n = rsa.jwks().keys[0].n.clone().unwrap();
    for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
        let token = forge(
            &header(alg, Some(rsa.kid())),
            &claims(),
            &EncodingKey::from_secret(n.as_bytes()),
        );
        assert!(matches!(
            verify(&verifier, &token),
            Err(SignerError::UnsupportedAlgorithm { .. })
        ));
    }

    // A header naming the EC key but claiming RS256, signed with RSA.
    let token = forge(
        &header(Algorithm::RS256, Some(ec.kid())),
        &claims(),
        &EncodingKey::from_rsa_pem(RSA).unwrap(),
    );
    assert!(matches!(
        verify(&verifier, &token),
        Err(SignerError::AlgorithmMismatch)
    ));

    // PS256 with the RSA key: an algorithm this verifier does not do.
    let token = forge(
        &header(Algorithm::PS256, Some(rsa.kid())),
        &claims(),
        &EncodingKey::from_rsa_pem(RSA).unwrap(),
    );
    assert!(matches!(
        verify(&verifier, &token),
        Err(SignerError::UnsupportedAlgorithm { alg }) if alg == "PS256"
    ));

    // Keys of algorithms the caller does not accept are not kept at all.
    let es_only = verifier_of(&[&rsa, &ec], &[SigningAlgorithm::Es256]);
    assert_eq!(es_only.len(), 1);
    let token = rsa.sign(&claims()).unwrap();
    assert!(matches!(
        verify(&es_only, &token),
        Err(SignerError::UnknownKid { .. })
    ));
}

#[test]
fn crit_extensions_and_broken_tokens_are_refused() {
    let rsa = signer(RSA);
    let verifier = verifier_of(&[&rsa], &ALL);
    let token = rsa.sign(&claims()).unwrap();
    let (_, rest) = token.split_once('.').unwrap();
    let crit = b64(&json!({ "alg": "RS256", "kid": rsa.kid(), "crit": ["exp"], "exp": 1 }));
    for bad in [
        format!("{crit}.{rest}"),
        String::new(),
        "a.b".to_owned(),
        format!("{token}.extra"),
        format!("!!.{rest}"),
        format!("{}.{rest}", URL_SAFE_NO_PAD.encode("[1]")),
        format!("{}.{rest}", b64(&json!({ "kid": rsa.kid() }))),
    ] {
        assert!(
            matches!(verify(&verifier, &bad), Err(SignerError::MalformedToken(_))),
            "{bad}"
        );
    }
    // One flipped bit in the signature.
    let mut bytes = URL_SAFE_NO_PAD
        .decode(token.rsplit('.').next().unwrap())
        .unwrap();
    bytes[0] ^= 1;
    let (signed, _) = token.rsplit_once('.').unwrap();
    let flipped = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(bytes));
    assert!(matches!(
        verify(&verifier, &flipped),
        Err(SignerError::InvalidSignature)
    ));
}

#[test]
fn the_claims_must_be_the_expected_ones() {
    let ec = signer(EC);
    let verifier = verifier_of(&[&ec], &ALL);
    let check = |edit: &dyn Fn(&mut Value), expected: Expected<'_>| {
        let mut claims = claims();
        edit(&mut claims);
        let token = ec.sign(&claims).unwrap();
        verifier.verify(&token, &expected).map(|_| ())
    };
    let same = |_: &mut Value| {};
    assert!(check(&same, expected()).is_ok());

    for (edit, error) in [
        (
            Box::new(|c: &mut Value| c["iss"] = json!("https://other.example"))
                as Box<dyn Fn(&mut Value)>,
            "WrongIssuer",
        ),
        (
            Box::new(|c: &mut Value| c["iss"] = json!(null)),
            "WrongIssuer",
        ),
        (
            Box::new(|c: &mut Value| c["aud"] = json!("other-client")),
            "WrongAudience",
        ),
        (
            Box::new(|c: &mut Value| c["aud"] = json!(["other", "x"])),
            "WrongAudience",
        ),
        // Several audiences need an azp naming the client.
        (
            Box::new(|c: &mut Value| c["aud"] = json!([CLIENT, "other"])),
            "WrongAudience",
        ),
        (
            Box::new(|c: &mut Value| {
                c["aud"] = json!([CLIENT]);
                c["azp"] = json!("other");
            }),
            "WrongAudience",
        ),
        (Box::new(|c: &mut Value| c["exp"] = json!(NOW)), "Expired"),
        (
            Box::new(|c: &mut Value| c["exp"] = json!("soon")),
            "MissingExpiry",
        ),
        (
            Box::new(|c: &mut Value| {
                c.as_object_mut().unwrap().remove("exp");
            }),
            "MissingExpiry",
        ),
        (
            Box::new(|c: &mut Value| c["nbf"] = json!(NOW + 1)),
            "NotYetValid",
        ),
        (
            Box::new(|c: &mut Value| c["nonce"] = json!("n-other")),
            "WrongNonce",
        ),
        (
            Box::new(|c: &mut Value| {
                c.as_object_mut().unwrap().remove("nonce");
            }),
            "WrongNonce",
        ),
    ] {
        let result = check(&*edit, expected());
        let name = format!("{result:?}");
        assert!(name.contains(error), "expected {error}, got {name}");
    }

    // What is allowed: several audiences with the right azp, an nbf in the
    // past, no nonce when none is expected, and skew within the leeway.
    let with_azp = |c: &mut Value| {
        c["aud"] = json!(["other", CLIENT]);
        c["azp"] = json!(CLIENT);
        c["nbf"] = json!(NOW);
    };
    assert!(check(&with_azp, expected()).is_ok());
    let no_nonce = |c: &mut Value| {
        c.as_object_mut().unwrap().remove("nonce");
    };
    let lenient = Expected {
        nonce: None,
        ..expected()
    };
    assert!(check(&no_nonce, lenient).is_ok());
    let skewed = |c: &mut Value| {
        c["exp"] = json!(NOW - 30);
        c["nbf"] = json!(NOW + 30);
    };
    assert!(check(&skewed, expected()).is_err());
    let tolerant = Expected {
        leeway: 60,
        ..expected()
    };
    assert!(check(&skewed, tolerant).is_ok());
}

#[test]
fn unusable_keys_are_left_out_and_broken_ones_refused() {
    let (rsa, ec, ed) = (signer(RSA), signer(EC), signer(ED));
    let jwk = |signer: &Signer| serde_json::to_value(&signer.jwks().keys[0]).unwrap();
    let with = |mut value: Value, edit: &dyn Fn(&mut Value)| {
        edit(&mut value);
        value
    };
    let read = |keys: Vec<Value>| {
        JwksVerifier::from_json(&serde_json::to_vec(&json!({ "keys": keys })).unwrap(), &ALL)
    };

    // Left out: an encryption key, a P-384 key, an RSA key for PS256, a key
    // type nobody signs with here, an RSA key of 1024 bits.
    let short_n = URL_SAFE_NO_PAD.encode([0xC5; 128]);
    let verifier = read(vec![
        with(jwk(&rsa), &|k| k["use"] = json!("enc")),
        json!({ "kty": "EC", "crv": "P-384", "kid": "p384", "x": "AA", "y": "AA" }),
        with(jwk(&rsa), &|k| {
            k["alg"] = json!("PS256");
            k["kid"] = json!("ps");
        }),
        json!({ "kty": "oct", "kid": "hmac", "k": "c2VjcmV0" }),
        json!({ "kty": "RSA", "kid": "short", "n": short_n, "e": "AQAB" }),
        // No `use` and no `alg`: both optional, the key type decides.
        with(jwk(&ec), &|k| {
            let k = k.as_object_mut().unwrap();
            k.remove("use");
            k.remove("alg");
        }),
        jwk(&ed),
    ])
    .unwrap();
    assert_eq!(verifier.len(), 2, "{verifier:?}");
    for signer in [&ec, &ed] {
        let token = signer.sign(&claims()).unwrap();
        assert!(verify(&verifier, &token).is_ok());
    }
    let token = rsa.sign(&claims()).unwrap();
    assert!(matches!(
        verify(&verifier, &token),
        Err(SignerError::UnknownKid { .. })
    ));

    // Refused: broken members of a usable key, two keys of one kid, no
    // usable key, not a JWKS.
    for keys in [
        vec![with(jwk(&ec), &|k| k["x"] = json!("not base64!"))],
        vec![with(jwk(&ec), &|k| k["x"] = json!("AAAA"))],
        vec![with(jwk(&ec), &|k| {
            k.as_object_mut().unwrap().remove("y");
        })],
        vec![with(jwk(&ed), &|k| {
            k["x"] = json!(URL_SAFE_NO_PAD.encode([1; 31]))
        })],
        vec![with(jwk(&rsa), &|k| k["e"] = json!(""))],
        vec![jwk(&rsa), with(jwk(&ec), &|k| k["kid"] = json!(rsa.kid()))],
        vec![with(jwk(&rsa), &|k| k["use"] = json!("enc"))],
        vec![],
    ] {
        assert!(
            matches!(read(keys.clone()), Err(SignerError::InvalidJwks(_))),
            "{keys:?}"
        );
    }
    for bad in [&b""[..], b"{}", b"[]", b"{\"keys\": 1}", b"{\"keys\": [1]}"] {
        assert!(matches!(
            JwksVerifier::from_json(bad, &ALL),
            Err(SignerError::InvalidJwks(_))
        ));
    }
}

#[test]
fn debug_shows_kids_and_algorithms_only() {
    let rsa = signer(RSA);
    let verifier = verifier_of(&[&rsa], &ALL);
    let shown = format!("{verifier:?}");
    assert!(
        shown.contains(rsa.kid()) && shown.contains("Rs256"),
        "{shown}"
    );
    assert!(!shown.contains(rsa.jwks().keys[0].n.as_deref().unwrap()));
}
