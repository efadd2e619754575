//! The one error type of this crate.

use std::error::Error as StdError;

/// The underlying error of a foreign library, boxed so that neither
/// jsonwebtoken, aws-lc-rs nor pem becomes part of this crate's public API.
pub type BoxedSource = Box<dyn StdError + Send + Sync + 'static>;

/// Everything that can go wrong loading keys, signing or verifying.
///
/// Loading errors (`Pem` .. `KeyGeneration`) mean a misconfiguration and
/// should stop startup; verification errors (`MalformedToken` ..
/// `InvalidClaims`, and `UnsupportedAlgorithm` .. `WrongNonce`) all mean
/// "reject this token" and their messages are safe to log but carry no key
/// material. `InvalidJwks` means another party's published keys cannot be
/// used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignerError {
    /// The bytes are not PEM at all.
    #[error("key is not a valid pem document")]
    Pem(#[source] BoxedSource),
    /// The PEM framing holds no block.
    #[error("key file contains no pem block")]
    EmptyPem,
    /// More than one key block; picking one silently could sign with the
    /// wrong key.
    #[error("key file contains {count} pem blocks; expected exactly one private key")]
    MultiplePemBlocks {
        /// How many blocks (not counting `EC PARAMETERS`) were found.
        count: usize,
    },
    /// A password-protected key; the provider has nowhere to get a password.
    #[error("encrypted private keys are not supported; store the key unencrypted")]
    EncryptedKey,
    /// A public key or certificate where a private key was expected.
    #[error("pem block {label:?} is not a private key")]
    NotAPrivateKey {
        /// The PEM label, e.g. `PUBLIC KEY`.
        label: String,
    },
    /// A PEM label this crate does not understand.
    #[error("unsupported pem block {label:?}")]
    UnsupportedPemLabel {
        /// The PEM label found.
        label: String,
    },
    /// An RSA key below the 2048-bit minimum of RFC 7518 section 3.3.
    #[error("rsa key is smaller than 2048 bits")]
    RsaKeyTooSmall,
    /// A well-formed key of a type or curve this crate does not sign with.
    #[error("unsupported key type: expected rsa (2048 bits or more), ec p-256 or ed25519")]
    UnsupportedKeyType,
    /// The PEM label promised a key type that the contents do not hold, or the
    /// key failed its consistency checks.
    #[error("invalid {kind} private key")]
    InvalidKey {
        /// The key type the PEM label announced.
        kind: &'static str,
        /// Why the crypto library rejected it.
        #[source]
        source: BoxedSource,
    },
    /// The freshly loaded key did not verify its own signature; the published
    /// JWKS would not match the tokens, so refuse to start.
    #[error("loaded key failed its sign-and-verify self test")]
    SelfTest(#[source] BoxedSource),
    /// The crypto library failed to produce a new key.
    #[error("key generation failed")]
    KeyGeneration(#[source] BoxedSource),
    /// Serialising the claims or the signature operation failed.
    #[error("signing failed")]
    Sign(#[source] BoxedSource),
    /// Not three base64url parts, or a header or payload that is not JSON.
    #[error("malformed token")]
    MalformedToken(#[source] BoxedSource),
    /// The token header has no `kid`; every token this crate issues has one.
    #[error("token header has no kid")]
    MissingKid,
    /// No published key has the token's `kid`.
    #[error("token kid {kid:?} is not a known key")]
    UnknownKid {
        /// The `kid` from the token header.
        kid: String,
    },
    /// The header `alg` is not the algorithm of the key its `kid` names.
    #[error("token algorithm does not match its key")]
    AlgorithmMismatch,
    /// The signature does not verify.
    #[error("invalid token signature")]
    InvalidSignature,
    /// `iss` is missing or is not the expected issuer.
    #[error("token issuer does not match")]
    WrongIssuer,
    /// `exp` is missing or not an integer number of seconds.
    #[error("token has no valid exp claim")]
    MissingExpiry,
    /// `exp` is not after `now`.
    #[error("token has expired")]
    Expired,
    /// The verified claims do not deserialise into the caller's type.
    #[error("token claims are invalid")]
    InvalidClaims(#[source] BoxedSource),
    /// A JWKS document that is not JSON, has a usable key with broken
    /// members, names two keys alike, or has no key the caller can use.
    #[error("invalid jwks")]
    InvalidJwks(#[source] BoxedSource),
    /// The token header's `alg` is one this crate never verifies: `none`,
    /// an HMAC, or anything but RS256, ES256 and EdDSA.
    #[error("token algorithm {alg:?} is not supported")]
    UnsupportedAlgorithm {
        /// The header's `alg`.
        alg: String,
    },
    /// `aud` does not name the expected audience, or `azp` names another.
    #[error("token audience does not match")]
    WrongAudience,
    /// `nbf` is in the future, or not an integer.
    #[error("token is not valid yet")]
    NotYetValid,
    /// `nonce` is missing or is not the one the relying party sent.
    #[error("token nonce does not match")]
    WrongNonce,
}

/// Boxes any foreign error as a [`BoxedSource`].
pub(crate) fn boxed<E: StdError + Send + Sync + 'static>(error: E) -> BoxedSource {
    Box::new(error)
}
