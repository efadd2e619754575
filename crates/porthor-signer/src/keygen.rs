//! New private keys for `porthor keygen`.

use aws_lc_rs::encoding::{AsDer as _, Pkcs8V1Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair,
};
use pem::{EncodeConfig, LineEnding, Pem};
use zeroize::Zeroizing;

use crate::error::boxed;
use crate::{SignerError, SigningAlgorithm};

/// Generates a new private key as unencrypted PKCS#8 v1 PEM (`BEGIN PRIVATE
/// KEY`, LF line endings), the form `openssl genpkey` writes and
/// [`crate::Signer::from_pem`] loads: RSA 2048 with e = 65537 for RS256,
/// P-256 for ES256, Ed25519 for EdDSA.
///
/// The PEM text is returned in a [`Zeroizing`] string, wiped when dropped.
pub fn generate_pem(alg: SigningAlgorithm) -> Result<Zeroizing<String>, SignerError> {
    let failed = |e: aws_lc_rs::error::Unspecified| SignerError::KeyGeneration(boxed(e));
    // aws-lc-rs ignores the rng argument (it always uses its own DRBG) but
    // the ring-compatible signatures still take one.
    let rng = SystemRandom::new();
    // Each aws-lc-rs buffer wipes itself on drop.
    let der: Zeroizing<Vec<u8>> = match alg {
        SigningAlgorithm::Rs256 => {
            // aws-lc always uses e = 65537 (RSA_F4).
            let pair = RsaKeyPair::generate(KeySize::Rsa2048).map_err(failed)?;
            let der: Pkcs8V1Der<'static> = pair.as_der().map_err(failed)?;
            Zeroizing::new(der.as_ref().to_vec())
        }
        SigningAlgorithm::Es256 => {
            let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(failed)?;
            Zeroizing::new(doc.as_ref().to_vec())
        }
        SigningAlgorithm::EdDsa => {
            // v1 rather than aws-lc's default v2: OpenSSL 1.1 cannot read v2.
            let doc = Ed25519KeyPair::generate_pkcs8v1(&rng).map_err(failed)?;
            Zeroizing::new(doc.as_ref().to_vec())
        }
    };

    let block = Pem::new("PRIVATE KEY", der.as_slice());
    let text = Zeroizing::new(pem::encode_config(
        &block,
        EncodeConfig::new().set_line_ending(LineEnding::LF),
    ));
    // Pem keeps its own copy and does not wipe it. (The base64 scratch buffer
    // inside encode_config is beyond reach.)
    drop(Zeroizing::new(block.into_contents()));
    Ok(text)
}
