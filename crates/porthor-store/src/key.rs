//! The key that encrypts records at rest.

use std::fmt;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::general_purpose::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use porthor_models::hmac_sha256;
use rand::RngCore as _;
use zeroize::{Zeroize as _, Zeroizing};

use crate::OpenError;

/// Length of an AES-256 key.
const KEY_LEN: usize = 32;

/// Operators paste keys from `openssl rand -base64 32`, from
/// `porthor keygen --store-key`, or from tools that emit base64url, with or
/// without padding; accept all of them rather than make them convert.
const LENIENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const STANDARD_LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);
const URL_SAFE_LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);

/// A 256-bit AES-GCM key for the records in the store.
///
/// `Debug` never shows it, and its bytes are overwritten when it is dropped.
#[derive(Clone)]
pub struct EncryptionKey([u8; KEY_LEN]);

impl EncryptionKey {
    /// Parses base64 text (standard or URL-safe alphabet, padding optional,
    /// surrounding whitespace ignored) that decodes to exactly 32 bytes.
    ///
    /// Error messages never echo the text, which is a secret.
    pub fn parse(text: &str) -> Result<Self, OpenError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(OpenError::InvalidKey("it is empty".to_owned()));
        }
        // Decode into a buffer that is wiped on drop, sized up front so that
        // growing it never leaves an unwiped copy behind.
        let mut decoded = Zeroizing::new(Vec::with_capacity(text.len()));
        if STANDARD_LENIENT.decode_vec(text, &mut decoded).is_err() {
            decoded.clear();
            URL_SAFE_LENIENT
                .decode_vec(text, &mut decoded)
                .map_err(|_| OpenError::InvalidKey("it is not base64".to_owned()))?;
        }
        let bytes = <[u8; KEY_LEN]>::try_from(decoded.as_slice()).map_err(|_| {
            OpenError::InvalidKey(format!(
                "it decodes to {} bytes, not {KEY_LEN}",
                decoded.len()
            ))
        })?;
        Ok(Self(bytes))
    }

    /// A new random key from the thread's CSPRNG (ChaCha, seeded by the OS).
    pub fn generate() -> Self {
        let mut bytes = [0u8; KEY_LEN];
        rand::rng().fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// The key as padded standard base64, the form [`EncryptionKey::parse`]
    /// reads back; for writing a freshly generated key to a secret file.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// A 256-bit key for `purpose`, derived from this one: HMAC-SHA256 keyed
    /// with this key over a versioned label naming the purpose. Keys for
    /// different purposes are independent of each other and of this key (none
    /// reveals another), and every process with the same store key derives
    /// the same ones, so that replicas agree without another secret to share.
    pub fn derive(&self, purpose: &str) -> Zeroizing<[u8; KEY_LEN]> {
        Zeroizing::new(hmac_sha256(
            &self.0,
            &[b"porthor derived key v1: ", purpose.as_bytes()],
        ))
    }

    pub(crate) fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl Drop for EncryptionKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EncryptionKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

    use super::*;

    /// 32 bytes chosen so that their base64 forms contain `+`, `/`, `-`, `_`.
    fn awkward_bytes() -> [u8; 32] {
        let mut bytes = [0xfbu8; 32];
        bytes[1] = 0xff;
        bytes[2] = 0xbf;
        bytes
    }

    #[test]
    fn parses_every_base64_flavour() {
        let bytes = awkward_bytes();
        let forms = [
            STANDARD.encode(bytes),
            STANDARD_NO_PAD.encode(bytes),
            URL_SAFE.encode(bytes),
            URL_SAFE_NO_PAD.encode(bytes),
            format!("  {}\n", STANDARD.encode(bytes)),
        ];
        assert!(forms[0].contains('+') || forms[0].contains('/'));
        assert!(forms[2].contains('-') || forms[2].contains('_'));
        for form in forms {
            let key = EncryptionKey::parse(&form).unwrap();
            assert_eq!(key.as_bytes(), &bytes, "form {form:?}");
        }
    }

    #[test]
    fn refuses_wrong_lengths_and_garbage_without_echoing_it() {
        let cases = [
            String::new(),
            "   ".to_owned(),
            STANDARD.encode([1u8; 31]),
            STANDARD.encode([1u8; 33]),
            STANDARD.encode([1u8; 16]),
            "not base64 at all!".to_owned(),
            format!("{}$", STANDARD_NO_PAD.encode([1u8; 32])),
            STANDARD.encode([1u8; 32]).replace('A', " A"),
        ];
        for text in cases {
            let error = EncryptionKey::parse(&text).unwrap_err();
            assert!(
                matches!(error, OpenError::InvalidKey(_)),
                "{text:?}: {error}"
            );
            let message = error.to_string();
            assert!(message.starts_with("invalid store encryption key: "));
            if text.trim().len() > 4 {
                assert!(!message.contains(text.trim()), "echoed {text:?}");
            }
        }
    }

    #[test]
    fn generate_and_round_trip() {
        let key = EncryptionKey::generate();
        let text = key.to_base64();
        assert_eq!(text.len(), 44);
        assert_eq!(
            EncryptionKey::parse(&text).unwrap().as_bytes(),
            key.as_bytes()
        );
        assert_ne!(EncryptionKey::generate().as_bytes(), key.as_bytes());
    }

    #[test]
    fn derived_keys_are_per_purpose_and_reproducible() {
        let key = EncryptionKey::generate();
        let csrf = key.derive("csrf");
        assert_eq!(*csrf, *key.derive("csrf"), "the same on every replica");
        assert_eq!(
            *csrf,
            *EncryptionKey::parse(&key.to_base64())
                .unwrap()
                .derive("csrf")
        );
        assert_ne!(*csrf, *key.derive("user index"));
        assert_ne!(&*csrf, key.as_bytes());
        assert_ne!(*csrf, *EncryptionKey::generate().derive("csrf"));
    }

    #[test]
    fn debug_is_redacted() {
        let key = EncryptionKey::generate();
        let debug = format!("{key:?}");
        assert_eq!(debug, "EncryptionKey(<redacted>)");
        assert!(!debug.contains(&key.to_base64()));
    }
}
