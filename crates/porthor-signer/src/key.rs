//! Turning PEM bytes into a validated key: its algorithm, public JWK, the
//! parsed aws-lc key pair that signs, and the jsonwebtoken key that verifies.
//!
//! aws-lc-rs parses and checks the key (type, curve, RSA size, consistency)
//! once, and the parsed key pair is kept for signing: jsonwebtoken's aws-lc
//! provider re-parses its DER key on every signature, which for RSA cost more
//! than half of each signature (about 1,500 against 3,750 RS256 signs/s per
//! core here). A sign-then-verify self test through jsonwebtoken proves the
//! two agree, so the JWKS can never publish a key other than the one tokens
//! are signed with.

use aws_lc_rs::error::{KeyRejected, Unspecified};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P256K1_SHA256_FIXED_SIGNING,
    ECDSA_P384_SHA384_FIXED_SIGNING, ECDSA_P521_SHA512_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair,
    KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair, RsaPublicKeyComponents,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use porthor_models::Jwk;
use zeroize::Zeroizing;

use crate::error::boxed;
use crate::jwk::{PublicKey, public_jwk};
use crate::{SignerError, SigningAlgorithm};

/// A loaded key. `signing` is only kept for the current signing key.
pub(crate) struct LoadedKey {
    pub(crate) algorithm: SigningAlgorithm,
    pub(crate) jwk: Jwk,
    pub(crate) signing: SigningKey,
    pub(crate) decoding: DecodingKey,
}

/// A private key, parsed once, that makes JWS signatures (RFC 7518 3).
pub(crate) enum SigningKey {
    /// RS256: RSASSA-PKCS1-v1_5 with SHA-256.
    Rsa(RsaKeyPair),
    /// ES256: the fixed-width `r || s` form JWS wants, not DER.
    P256(EcdsaKeyPair),
    /// EdDSA with Ed25519.
    Ed25519(Ed25519KeyPair),
}

impl SigningKey {
    /// Signs `message`, appending the base64url signature to `out`.
    pub(crate) fn sign_into(&self, message: &[u8], out: &mut String) -> Result<(), Unspecified> {
        match self {
            SigningKey::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                // PKCS#1 v1.5 is deterministic: the RNG is unused but required.
                pair.sign(
                    &RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    message,
                    &mut signature,
                )?;
                URL_SAFE_NO_PAD.encode_string(&signature, out);
            }
            SigningKey::P256(pair) => {
                let signature = pair.sign(&SystemRandom::new(), message)?;
                URL_SAFE_NO_PAD.encode_string(signature.as_ref(), out);
            }
            SigningKey::Ed25519(pair) => {
                URL_SAFE_NO_PAD.encode_string(pair.sign(message).as_ref(), out);
            }
        }
        Ok(())
    }
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
            rsa(pair)
        }
        Container::Sec1 => {
            match EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, &der) {
                Ok(pair) => p256(pair)?,
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
        Ok(pair) => return Ok(rsa(pair)),
        Err(e) if is(&e, WRONG_ALGORITHM) => {}
        // EVP_parse_private_key failed before looking at the key type.
        Err(e) if is(&e, INVALID_ENCODING) => return Err(rejected("pkcs#8", e)),
        Err(e) => return Err(rejected("rsa", e)),
    }
    match EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der) {
        Ok(pair) => return p256(pair),
        // Also an EC key on another curve.
        Err(e) if is(&e, WRONG_ALGORITHM) => {}
        Err(e) => return Err(rejected("ec", e)),
    }
    match Ed25519KeyPair::from_pkcs8(der) {
        Ok(pair) => Ok(ed25519(pair)),
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

fn rsa(pair: RsaKeyPair) -> LoadedKey {
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
        signing: SigningKey::Rsa(pair),
        decoding,
    }
}

fn p256(pair: EcdsaKeyPair) -> Result<LoadedKey, SignerError> {
    // Uncompressed SEC1 point: 0x04 || x || y.
    let point = pair.public_key().as_ref();
    let (x, y) = match point.split_first() {
        Some((0x04, xy)) if xy.len() == 64 => xy.split_at(32),
        _ => {
            return Err(SignerError::InvalidKey {
                kind: "ec",
                source: "unexpected public key encoding".into(),
            });
        }
    };
    let jwk = public_jwk(&PublicKey::P256 { x, y });
    // Despite its name, from_ec_der wants the raw point: jsonwebtoken's aws-lc
    // verifier hands these bytes straight to ECDSA_P256_SHA256_FIXED.
    let decoding = DecodingKey::from_ec_der(point);
    Ok(LoadedKey {
        algorithm: SigningAlgorithm::Es256,
        jwk,
        signing: SigningKey::P256(pair),
        decoding,
    })
}

fn ed25519(pair: Ed25519KeyPair) -> LoadedKey {
    let x = pair.public_key().as_ref();
    let jwk = public_jwk(&PublicKey::Ed25519 { x });
    // As for EC: the raw 32-byte key, not DER.
    let decoding = DecodingKey::from_ed_der(x);
    LoadedKey {
        algorithm: SigningAlgorithm::EdDsa,
        jwk,
        signing: SigningKey::Ed25519(pair),
        decoding,
    }
}

/// Signs a fixed message with the signing key and verifies it through
/// jsonwebtoken against the published public key.
fn self_test(key: &LoadedKey) -> Result<(), SignerError> {
    const PROBE: &[u8] = b"porthor-signer self test";
    let mut signature = String::new();
    key.signing
        .sign_into(PROBE, &mut signature)
        .map_err(|e| SignerError::SelfTest(boxed(e)))?;
    let alg = key.algorithm.jwt_algorithm();
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
