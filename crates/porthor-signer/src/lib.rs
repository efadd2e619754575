//! Porthor's signing keys.
//!
//! This crate owns loading PEM private keys (RSA >= 2048 bits, EC P-256,
//! Ed25519), the `kid` of each key (its RFC 7638 SHA-256 thumbprint), the JWKS
//! that publishes the public keys, signing JWTs (RS256, ES256, EdDSA) and
//! verifying the ones it signed, key rotation (previous keys that verify but
//! never sign), generating new keys for `porthor keygen`, and verifying
//! tokens another party signed against the JWKS it publishes
//! ([`JwksVerifier`]: the built-in demo relying party checks Porthor's ID
//! tokens with it as any application would, and a connector to an upstream
//! provider can check that provider's).
//!
//! It must not know about Redis, HTTP, the clock (callers pass `now`), or
//! where keys come from: it receives PEM bytes, never paths or environment
//! variables. jsonwebtoken and aws-lc-rs appear only here and none of their
//! types cross this crate's API; the JWKS is [`porthor_models::Jwks`].
//!
//! # Performance
//!
//! Keys are parsed and checked once, at load, into aws-lc key pairs that
//! sign directly: [`Signer::sign`] builds the compact JWS itself around the
//! kept key pair, and no jsonwebtoken `EncodingKey` is kept. jsonwebtoken's
//! own `encode` rebuilds an aws-lc key pair from the DER on every signature
//! (`RsaKeyPair::from_der` for RS256, which re-runs aws-lc's key checks and
//! starts without the Montgomery and blinding state a kept key reuses;
//! `EcdsaKeyPair::from_pkcs8` for ES256, `Ed25519KeyPair::from_pkcs8` for
//! EdDSA). On the 2-core development machine that made RS256 about 2.5
//! times slower than a kept key pair (~1,500 against ~3,750 signatures/s per
//! core), and ES256 and EdDSA about 1.7 to 1.9 times slower.
//! `examples/sign_throughput.rs` measures both. Verification
//! ([`Signer::verify`]) is jsonwebtoken's, with a `DecodingKey` per
//! published key.

#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod algorithm;
mod error;
#[cfg(test)]
mod hostile_input;
mod jwk;
mod key;
mod keygen;
mod remote;
mod signer;
#[cfg(test)]
mod tests;

pub use algorithm::SigningAlgorithm;
pub use error::{BoxedSource, SignerError};
pub use keygen::generate_pem;
pub use remote::{Expected, JwksVerifier, VerifiedJwt};
pub use signer::Signer;
