//! The signing key, its predecessors, and the JWKS that publishes them.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use porthor_models::Jwks;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::boxed;
use crate::key::{self, LoadedKey, SigningKey};
use crate::{SignerError, SigningAlgorithm};

/// Signs JWTs with one private key and verifies tokens signed by it or by any
/// previous key. Everything is parsed once at load; share it behind an `Arc`.
pub struct Signer {
    algorithm: SigningAlgorithm,
    kid: String,
    signing: SigningKey,
    /// The base64url JOSE header `{typ: "JWT", alg, kid}`, encoded once.
    header: String,
    /// The current key first, then previous keys; looked up by `kid`.
    verifiers: Vec<Verifier>,
    /// Mirrors `verifiers`, in the same order.
    jwks: Jwks,
}

/// One published key.
struct Verifier {
    kid: String,
    algorithm: Algorithm,
    decoding: DecodingKey,
    validation: Validation,
}

impl Verifier {
    fn new(key: &LoadedKey) -> Self {
        let algorithm = key.algorithm.jwt_algorithm();
        // jsonwebtoken checks only the signature and alg here. exp and iss are
        // checked in `Signer::verify` against the caller's `now` (its own exp
        // check reads the system clock); aud is the caller's business.
        let mut validation = Validation::new(algorithm);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.leeway = 0;
        Self {
            kid: key.jwk.kid.clone(),
            algorithm,
            decoding: key.decoding.clone(),
            validation,
        }
    }
}

impl Signer {
    /// Loads a PEM private key and derives its algorithm from it:
    /// RSA of 2048 bits or more signs RS256, EC P-256 signs ES256, Ed25519
    /// signs EdDSA.
    ///
    /// Accepts PKCS#8 (`BEGIN PRIVATE KEY`), PKCS#1 (`BEGIN RSA PRIVATE KEY`)
    /// and SEC1 (`BEGIN EC PRIVATE KEY`, optionally after an
    /// `EC PARAMETERS` block). Anything else (encrypted keys, public keys,
    /// certificates, small RSA keys, other curves, several keys, garbage) is
    /// an error.
    pub fn from_pem(pem: &[u8]) -> Result<Signer, SignerError> {
        let key = key::load(pem)?;
        let kid = key.jwk.kid.clone();
        let mut header = Header::new(key.algorithm.jwt_algorithm());
        header.kid = Some(kid.clone());
        let header = serde_json::to_vec(&header).map_err(|e| SignerError::Sign(boxed(e)))?;
        Ok(Signer {
            algorithm: key.algorithm,
            kid,
            header: URL_SAFE_NO_PAD.encode(header),
            verifiers: vec![Verifier::new(&key)],
            jwks: Jwks {
                keys: vec![key.jwk.clone()],
            },
            signing: key.signing,
        })
    }

    /// Adds verification-only keys: the keys used before a rotation, so that
    /// tokens they signed keep verifying until they expire. They are published
    /// in the JWKS after the current key and never sign. Takes PEM private
    /// keys in the formats [`Signer::from_pem`] accepts, of any supported
    /// algorithm; their private halves are dropped once loaded. A key that is
    /// already published (e.g. the current key listed again) is skipped.
    pub fn with_previous_keys(mut self, pems: &[&[u8]]) -> Result<Signer, SignerError> {
        for pem in pems {
            let key = key::load(pem)?;
            if self.verifiers.iter().any(|v| v.kid == key.jwk.kid) {
                continue;
            }
            self.verifiers.push(Verifier::new(&key));
            self.jwks.keys.push(key.jwk);
        }
        Ok(self)
    }

    /// The algorithm of the signing key.
    pub fn algorithm(&self) -> SigningAlgorithm {
        self.algorithm
    }

    /// The signing key's `kid`: its RFC 7638 SHA-256 thumbprint, base64url.
    /// Stable for a key across loads and formats.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public keys to publish at `jwks_uri`: the signing key first, then
    /// previous keys. Each has `kty`, `use: "sig"`, `alg`, `kid` and its
    /// public members (`n`/`e` or `crv`/`x`/`y`).
    pub fn jwks(&self) -> &Jwks {
        &self.jwks
    }

    /// Signs `claims` as a compact JWS with header `{alg, kid, typ: "JWT"}`.
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, SignerError> {
        // The compact serialization (RFC 7515 7.1) is built here rather than
        // by jsonwebtoken::encode so that the key stays parsed between calls
        // (see the `key` module); jsonwebtoken still checks every signature
        // shape at load (the self test) and does all verification.
        let claims = serde_json::to_vec(claims).map_err(|e| SignerError::Sign(boxed(e)))?;
        let mut token = String::with_capacity(self.header.len() + claims.len() * 4 / 3 + 360);
        token.push_str(&self.header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&claims, &mut token);
        let mut signature = String::with_capacity(344);
        self.signing
            .sign_into(token.as_bytes(), &mut signature)
            .map_err(|e| SignerError::Sign(boxed(e)))?;
        token.push('.');
        token.push_str(&signature);
        Ok(token)
    }

    /// The `at_hash` of `access_token` for ID tokens this signer signs
    /// (OpenID Connect Core 3.1.3.6): base64url of the left half of its hash
    /// with the JWS algorithm's hash function: SHA-256 for RS256 and ES256,
    /// SHA-512 for EdDSA with Ed25519.
    pub fn token_hash(&self, access_token: &str) -> String {
        let algorithm = match self.algorithm {
            SigningAlgorithm::Rs256 | SigningAlgorithm::Es256 => &aws_lc_rs::digest::SHA256,
            SigningAlgorithm::EdDsa => &aws_lc_rs::digest::SHA512,
        };
        let hash = aws_lc_rs::digest::digest(algorithm, access_token.as_bytes());
        let hash = hash.as_ref();
        URL_SAFE_NO_PAD.encode(hash.get(..hash.len() / 2).unwrap_or(hash))
    }

    /// Verifies a token signed by any published key and returns its claims.
    ///
    /// The key is chosen by the header `kid`, and the header `alg` must be
    /// that key's algorithm. Then `iss` must equal `issuer` and `exp` (integer
    /// seconds) must be after `now` (Unix seconds), with no leeway. `aud` is
    /// deliberately not checked: the caller knows which audience it expects.
    pub fn verify<T: DeserializeOwned>(
        &self,
        token: &str,
        issuer: &str,
        now: u64,
    ) -> Result<T, SignerError> {
        self.verify_at(token, issuer, Some(now))
    }

    /// [`Signer::verify`] without the expiry check, for tokens that only
    /// identify, such as the `id_token_hint` of a logout request, which is
    /// often sent long after the token expired (RP-Initiated Logout 2).
    pub fn verify_ignoring_expiry<T: DeserializeOwned>(
        &self,
        token: &str,
        issuer: &str,
    ) -> Result<T, SignerError> {
        self.verify_at(token, issuer, None)
    }

    fn verify_at<T: DeserializeOwned>(
        &self,
        token: &str,
        issuer: &str,
        now: Option<u64>,
    ) -> Result<T, SignerError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| SignerError::MalformedToken(boxed(e)))?;
        let kid = header.kid.ok_or(SignerError::MissingKid)?;
        let verifier = self
            .verifiers
            .iter()
            .find(|v| v.kid == kid)
            .ok_or(SignerError::UnknownKid { kid })?;
        if header.alg != verifier.algorithm {
            return Err(SignerError::AlgorithmMismatch);
        }

        // Decode into a JSON object first so the registered claims can be
        // checked whatever shape `T` has, then convert.
        let claims = jsonwebtoken::decode::<Map<String, Value>>(
            token,
            &verifier.decoding,
            &verifier.validation,
        )
        .map_err(decode_error)?
        .claims;

        match claims.get("iss") {
            Some(Value::String(iss)) if iss == issuer => {}
            _ => return Err(SignerError::WrongIssuer),
        }
        let exp = claims
            .get("exp")
            .and_then(Value::as_u64)
            .ok_or(SignerError::MissingExpiry)?;
        if now.is_some_and(|now| exp <= now) {
            return Err(SignerError::Expired);
        }

        serde_json::from_value(Value::Object(claims))
            .map_err(|e| SignerError::InvalidClaims(boxed(e)))
    }
}

pub(crate) fn decode_error(error: jsonwebtoken::errors::Error) -> SignerError {
    match error.kind() {
        ErrorKind::InvalidSignature => SignerError::InvalidSignature,
        ErrorKind::InvalidAlgorithm => SignerError::AlgorithmMismatch,
        _ => SignerError::MalformedToken(boxed(error)),
    }
}

/// Shows the algorithm and `kid` only: never key material.
impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("algorithm", &self.algorithm)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}
