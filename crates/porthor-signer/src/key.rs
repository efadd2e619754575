//! Turning PEM bytes into a validated key: its algorithm, public JWK, and the
//! jsonwebtoken keys that sign and verify with it.
//!
//! aws-lc-rs parses and checks the key (type, curve, RSA size, consistency)
//! and yields the public components; jsonwebtoken then gets the same key as
//! DER. A sign-then-verify self test proves the two agree, so the JWKS can
//! never publish a key other than the one tokens are signed with.

use aws_lc_rs::error::KeyRejected;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P256K1_SHA256_FIXED_SIGNING,
    ECDSA_P384_SHA384_FIXED_SIGNING, ECDSA_P521_SHA512_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair,
    KeyPair as _, RsaKeyPair, RsaPublicKeyComponents,
};
use jsonwebtoken::{DecodingKey, EncodingKey};
use porthor_models::Jwk;
use zeroize::Zeroizing;

use crate::error::boxed;
use crate::jwk::{PublicKey, public_jwk};
use crate::{SignerError, SigningAlgorithm};

/// A loaded key. `encoding` is only kept for the current signing key.
pub(crate) struct LoadedKey {
    pub(crate) algorithm: SigningAlgorithm,
    pub(crate) jwk: Jwk,
    pub(crate) encoding: EncodingKey,
    pub(crate) decoding: DecodingKey,
}

/// The three private-key containers accepted.
enum Container {
    /// `PRIVATE KEY`: PKCS#8 (RFC 5208/5958), any supported key type.
    Pkcs8,
    /// `RSA PRIVATE KEY`: PKCS#1 `RSAPrivateKey` (RFC 8017).
    Pkcs1,
    /// `EC PRIVATE KEY`: SEC1 `ECPrivateKey` (RFC 5915), what
    /// `openssl ecparam -genkey` writes.
    Sec1,
}

/// Parses one PEM private key; see [`crate::Signer::from_pem`].
pub(crate) fn load(pem_bytes: &[u8]) -> Result<LoadedKey, SignerError> {
    let (container, der) = single_private_key_block(pem_bytes)?;
    let key = match container {
        Container::Pkcs8 => from_pkcs8(&der)?,
        Container::Pkcs1 => {
            let pair = RsaKeyPair::from_der(&der).map_err(|e| rejected("rsa", e))?;
            rsa(&pair, EncodingKey::from_rsa_der(&der))
        }
        Container::Sec1 => {
            match EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, &der) {
                Ok(pair) => p256(&pair)?,
                Err(_) if is_other_curve(&der) => return Err(SignerError::UnsupportedKeyType),
                Err(e) => return Err(rejected("ec", e)),
            }
        }
    };
    self_test(&key)?;
    Ok(key)
}

/// Decodes the PEM text, skipping an `EC PARAMETERS` block (which
/// `openssl ecparam -genkey` puts before the key) and insisting on exactly one
/// key block of a private-key label.
fn single_private_key_block(
    pem_bytes: &[u8],
) -> Result<(Container, Zeroizing<Vec<u8>>), SignerError> {
    let blocks = pem::parse_many(pem_bytes).map_err(|e| SignerError::Pem(boxed(e)))?;
    let mut blocks = blocks.into_iter().filter(|b| b.tag() != "EC PARAMETERS");
    let Some(block) = blocks.next() else {
        return Err(SignerError::EmptyPem);
    };
    // The pem crate does not wipe its buffers; wipe every block we drop.
    let mut extra = 0;
    for other in blocks {
        drop(Zeroizing::new(other.into_contents()));
        extra += 1;
    }
    if extra > 0 {
        return Err(SignerError::MultiplePemBlocks { count: extra + 1 });
    }

    let label = block.tag().to_owned();
    // Legacy OpenSSL encryption keeps the PKCS#1/SEC1 label and adds headers.
    let legacy_encrypted = block
        .headers()
        .get("Proc-Type")
        .is_some_and(|v| v.contains("ENCRYPTED"));
    let der = Zeroizing::new(block.into_contents());
    if legacy_encrypted || label == "ENCRYPTED PRIVATE KEY" {
        return Err(SignerError::EncryptedKey);
    }
    let container = match label.as_str() {
        "PRIVATE KEY" => Container::Pkcs8,
        "RSA PRIVATE KEY" => Container::Pkcs1,
        "EC PRIVATE KEY" => Container::Sec1,
        _ if label.contains("PUBLIC KEY") || label.contains("CERTIFICATE") => {
            return Err(SignerError::NotAPrivateKey { label });
        }
        _ => return Err(SignerError::UnsupportedPemLabel { label }),
    };
    Ok((container, der))
}

/// PKCS#8 carries the key type in its AlgorithmIdentifier; aws-lc reports a
/// mismatch as `WrongAlgorithm`, so try each supported type in turn.
fn from_pkcs8(der: &[u8]) -> Result<LoadedKey, SignerError> {
    match RsaKeyPair::from_pkcs8(der) {
        Ok(pair) => {
            // jsonwebtoken wants the inner PKCS#1 RSAPrivateKey, which aws-lc
            // cannot export; its PEM loader extracts it from PKCS#8, so hand
            // it this one block re-framed.
            let block = pem::Pem::new("PRIVATE KEY", der);
            let framed = Zeroizing::new(pem::encode(&block));
            drop(Zeroizing::new(block.into_contents()));
            let encoding = EncodingKey::from_rsa_pem(framed.as_bytes()).map_err(|e| {
                SignerError::InvalidKey {
                    kind: "rsa",
                    source: boxed(e),
                }
            })?;
            return Ok(rsa(&pair, encoding));
        }
        Err(e) if is(&e, WRONG_ALGORITHM) => {}
        // EVP_parse_private_key failed before looking at the key type.
        Err(e) if is(&e, INVALID_ENCODING) => return Err(rejected("pkcs#8", e)),
        Err(e) => return Err(rejected("rsa", e)),
    }
    match EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der) {
        Ok(pair) => return p256(&pair),
        // Also an EC key on another curve.
        Err(e) if is(&e, WRONG_ALGORITHM) => {}
        Err(e) => return Err(rejected("ec", e)),
    }
    match Ed25519KeyPair::from_pkcs8(der) {
        Ok(pair) => ed25519(&pair),
        Err(e) if is(&e, WRONG_ALGORITHM) => Err(SignerError::UnsupportedKeyType),
        Err(e) => Err(rejected("ed25519", e)),
    }
}

/// Whether a SEC1 key that is not P-256 is a valid key on another curve.
/// aws-lc parses SEC1 for one expected curve and fails with an unspecific
/// error otherwise, so ask about the curves it knows to tell "unsupported"
/// from "corrupt".
fn is_other_curve(der: &[u8]) -> bool {
    [
        &ECDSA_P384_SHA384_FIXED_SIGNING,
        &ECDSA_P521_SHA512_FIXED_SIGNING,
        &ECDSA_P256K1_SHA256_FIXED_SIGNING,
    ]
    .into_iter()
    .any(|alg| EcdsaKeyPair::from_private_key_der(alg, der).is_ok())
}

fn rsa(pair: &RsaKeyPair, encoding: EncodingKey) -> LoadedKey {
    // BN_bn2bin output: minimal big-endian, as RFC 7518 section 6.3.1 wants.
    let public = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public_key());
    let jwk = public_jwk(&PublicKey::Rsa {
        n: &public.n,
        e: &public.e,
    });
    let decoding = DecodingKey::from_rsa_raw_components(&public.n, &public.e);
    LoadedKey {
        algorithm: SigningAlgorithm::Rs256,
        jwk,
        encoding,
        decoding,
    }
}

fn p256(pair: &EcdsaKeyPair) -> Result<LoadedKey, SignerError> {
    // Uncompressed SEC1 point: 0x04 || x || y.
    let invalid = || SignerError::InvalidKey {
        kind: "ec",
        source: "unexpected public key encoding".into(),
    };
    let point = pair.public_key().as_ref();
    let (x, y) = match point.split_first() {
        Some((0x04, xy)) if xy.len() == 64 => xy.split_at(32),
        _ => return Err(invalid()),
    };
    let jwk = public_jwk(&PublicKey::P256 { x, y });
    // Despite its name, from_ec_der wants the raw point: jsonwebtoken's aws-lc
    // verifier hands these bytes straight to ECDSA_P256_SHA256_FIXED.
    let decoding = DecodingKey::from_ec_der(point);
    // Normalise SEC1 or PKCS#8 input to the PKCS#8 v1 jsonwebtoken expects.
    let pkcs8 = pair.to_pkcs8v1().map_err(|e| SignerError::InvalidKey {
        kind: "ec",
        source: boxed(e),
    })?;
    Ok(LoadedKey {
        algorithm: SigningAlgorithm::Es256,
        encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
        jwk,
        decoding,
    })
}

fn ed25519(pair: &Ed25519KeyPair) -> Result<LoadedKey, SignerError> {
    let x = pair.public_key().as_ref();
    let jwk = public_jwk(&PublicKey::Ed25519 { x });
    // As for EC: the raw 32-byte key, not DER.
    let decoding = DecodingKey::from_ed_der(x);
    // v1 or v2 input alike become v1, the form OpenSSL writes.
    let pkcs8 = pair.to_pkcs8v1().map_err(|e| SignerError::InvalidKey {
        kind: "ed25519",
        source: boxed(e),
    })?;
    Ok(LoadedKey {
        algorithm: SigningAlgorithm::EdDsa,
        encoding: EncodingKey::from_ed_der(pkcs8.as_ref()),
        jwk,
        decoding,
    })
}

/// Signs a fixed message with the jsonwebtoken signing key and verifies it
/// against the published public key.
fn self_test(key: &LoadedKey) -> Result<(), SignerError> {
    const PROBE: &[u8] = b"porthor-signer self test";
    let alg = key.algorithm.jwt_algorithm();
    let signature = jsonwebtoken::crypto::sign(PROBE, &key.encoding, alg)
        .map_err(|e| SignerError::SelfTest(boxed(e)))?;
    match jsonwebtoken::crypto::verify(&signature, PROBE, &key.decoding, alg) {
        Ok(true) => Ok(()),
        Ok(false) => Err(SignerError::SelfTest(
            "signature does not verify with the published key".into(),
        )),
        Err(e) => Err(SignerError::SelfTest(boxed(e))),
    }
}

const WRONG_ALGORITHM: &str = "WrongAlgorithm";
const INVALID_ENCODING: &str = "InvalidEncoding";
const TOO_SMALL: &str = "TooSmall";

/// aws-lc-rs exposes why it rejected a key only as a static string.
fn is(error: &KeyRejected, why: &str) -> bool {
    error.description_() == why
}

fn rejected(kind: &'static str, error: KeyRejected) -> SignerError {
    if is(&error, TOO_SMALL) {
        SignerError::RsaKeyTooSmall
    } else {
        SignerError::InvalidKey {
            kind,
            source: boxed(error),
        }
    }
}
