//! Encryption at rest: the byte format of every stored record.
//!
//! ```text
//! [ version: 1 byte = 1 ][ nonce: 12 bytes ][ AES-256-GCM ciphertext of the JSON record ][ tag: 16 bytes ]
//! ```
//!
//! The full storage key is the associated data, so a record copied or renamed
//! to another key (another code, another kind, another prefix) fails
//! authentication instead of being accepted there.

use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{AeadInPlace as _, KeyInit as _};
use aes_gcm::{Aes256Gcm, Key, Nonce, Tag};
use rand::RngCore as _;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::EncryptionKey;

/// The only format written so far. A new format gets a new number so that
/// old records are recognised rather than misread.
const FORMAT_VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 1 + NONCE_LEN;
/// Records are a few hundred bytes of JSON; reserving this much up front means
/// sealing allocates once.
const TYPICAL_RECORD_LEN: usize = 512;

/// Why a stored value could not be turned back into a record.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CorruptRecord {
    #[error("record is empty")]
    Empty,
    #[error("record has unknown format version {0}")]
    UnknownVersion(u8),
    #[error("record is truncated")]
    Truncated,
    /// Wrong key, tampered bytes, or a record moved from another storage key:
    /// GCM cannot tell these apart, and must not try.
    #[error("record fails authentication (wrong encryption key, tampered, or moved)")]
    Unauthentic,
    /// Only the error's category and position are kept: serde_json's message
    /// can quote the decrypted record, which must not reach the logs.
    #[error("decrypted record does not decode ({category} error at line {line}, column {column})")]
    Undecodable {
        category: &'static str,
        line: usize,
        column: usize,
    },
    #[error("record cannot be encoded")]
    Unencodable,
}

impl CorruptRecord {
    fn undecodable(error: &serde_json::Error) -> Self {
        let category = match error.classify() {
            serde_json::error::Category::Io => "io",
            serde_json::error::Category::Syntax => "syntax",
            serde_json::error::Category::Data => "data",
            serde_json::error::Category::Eof => "eof",
        };
        Self::Undecodable {
            category,
            line: error.line(),
            column: error.column(),
        }
    }
}

/// Seals records into the stored format and opens them again.
pub(crate) struct Cipher {
    aead: Aes256Gcm,
}

impl Cipher {
    pub(crate) fn new(key: &EncryptionKey) -> Self {
        Self {
            aead: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key.as_bytes())),
        }
    }

    /// Serializes and encrypts `value` for storage at `storage_key`.
    ///
    /// The nonce is 96 random bits from the thread's CSPRNG, fresh per write.
    /// Serialization and encryption both work in one buffer, so this
    /// allocates exactly once.
    pub(crate) fn seal<T: Serialize>(
        &self,
        storage_key: &str,
        value: &T,
    ) -> Result<Vec<u8>, CorruptRecord> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let mut sealed = Vec::with_capacity(TYPICAL_RECORD_LEN);
        sealed.push(FORMAT_VERSION);
        sealed.extend_from_slice(&nonce);
        serde_json::to_writer(&mut sealed, value).map_err(|_| CorruptRecord::Unencodable)?;
        let plaintext = sealed
            .get_mut(HEADER_LEN..)
            .ok_or(CorruptRecord::Unencodable)?;
        let tag = self
            .aead
            .encrypt_in_place_detached(
                &Nonce::<U12>::from(nonce),
                storage_key.as_bytes(),
                plaintext,
            )
            .map_err(|_| CorruptRecord::Unencodable)?;
        sealed.extend_from_slice(&tag);
        Ok(sealed)
    }

    /// Decrypts and deserializes what was read from `storage_key`, in place.
    pub(crate) fn open<T: DeserializeOwned>(
        &self,
        storage_key: &str,
        mut sealed: Vec<u8>,
    ) -> Result<T, CorruptRecord> {
        let (version, rest) = sealed.split_first_mut().ok_or(CorruptRecord::Empty)?;
        if *version != FORMAT_VERSION {
            return Err(CorruptRecord::UnknownVersion(*version));
        }
        let (nonce, rest) = rest
            .split_at_mut_checked(NONCE_LEN)
            .ok_or(CorruptRecord::Truncated)?;
        let ciphertext_len = rest
            .len()
            .checked_sub(TAG_LEN)
            .ok_or(CorruptRecord::Truncated)?;
        let (ciphertext, tag) = rest
            .split_at_mut_checked(ciphertext_len)
            .ok_or(CorruptRecord::Truncated)?;
        self.aead
            .decrypt_in_place_detached(
                Nonce::<U12>::from_slice(nonce),
                storage_key.as_bytes(),
                ciphertext,
                Tag::from_slice(tag),
            )
            .map_err(|_| CorruptRecord::Unauthentic)?;
        serde_json::from_slice(ciphertext).map_err(|e| CorruptRecord::undecodable(&e))
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Sample {
        username: String,
        n: u64,
    }

    fn sample() -> Sample {
        Sample {
            username: "alice".into(),
            n: 42,
        }
    }

    const KEY: &str = "porthor:v1:code:AAAAAAAAAAAAAAAAAAAAAA";

    #[test]
    fn round_trip() {
        let cipher = Cipher::new(&EncryptionKey::generate());
        let sealed = cipher.seal(KEY, &sample()).unwrap();
        assert_eq!(sealed[0], FORMAT_VERSION);
        let json_len = serde_json::to_vec(&sample()).unwrap().len();
        assert_eq!(sealed.len(), HEADER_LEN + json_len + TAG_LEN);
        assert!(
            !sealed.windows(5).any(|w| w == b"alice"),
            "plaintext visible"
        );
        let opened: Sample = cipher.open(KEY, sealed).unwrap();
        assert_eq!(opened, sample());
    }

    #[test]
    fn nonces_are_fresh() {
        let cipher = Cipher::new(&EncryptionKey::generate());
        let a = cipher.seal(KEY, &sample()).unwrap();
        let b = cipher.seal(KEY, &sample()).unwrap();
        assert_ne!(a[1..HEADER_LEN], b[1..HEADER_LEN]);
        assert_ne!(a, b);
    }

    #[test]
    fn every_flipped_byte_is_detected() {
        let cipher = Cipher::new(&EncryptionKey::generate());
        let sealed = cipher.seal(KEY, &sample()).unwrap();
        for i in 0..sealed.len() {
            let mut tampered = sealed.clone();
            tampered[i] ^= 0x01;
            let error = cipher.open::<Sample>(KEY, tampered).unwrap_err();
            let expected = if i == 0 {
                matches!(error, CorruptRecord::UnknownVersion(0))
            } else {
                matches!(error, CorruptRecord::Unauthentic)
            };
            assert!(expected, "byte {i}: {error}");
        }
    }

    #[test]
    fn wrong_key_is_detected() {
        let sealed = Cipher::new(&EncryptionKey::generate())
            .seal(KEY, &sample())
            .unwrap();
        let error = Cipher::new(&EncryptionKey::generate())
            .open::<Sample>(KEY, sealed)
            .unwrap_err();
        assert!(matches!(error, CorruptRecord::Unauthentic), "{error}");
    }

    #[test]
    fn record_moved_to_another_key_is_detected() {
        let cipher = Cipher::new(&EncryptionKey::generate());
        let sealed = cipher.seal(KEY, &sample()).unwrap();
        for other in [
            "porthor:v1:code:BAAAAAAAAAAAAAAAAAAAAA",
            "porthor:v1:session:AAAAAAAAAAAAAAAAAAAAAA",
            "other:v1:code:AAAAAAAAAAAAAAAAAAAAAA",
        ] {
            let error = cipher.open::<Sample>(other, sealed.clone()).unwrap_err();
            assert!(matches!(error, CorruptRecord::Unauthentic), "{other}");
        }
    }

    #[test]
    fn unknown_version_and_short_input_are_detected() {
        let cipher = Cipher::new(&EncryptionKey::generate());
        let mut sealed = cipher.seal(KEY, &sample()).unwrap();
        sealed[0] = 2;
        let error = cipher.open::<Sample>(KEY, sealed.clone()).unwrap_err();
        assert!(matches!(error, CorruptRecord::UnknownVersion(2)), "{error}");

        sealed[0] = FORMAT_VERSION;
        for len in [0, 1, HEADER_LEN, HEADER_LEN + TAG_LEN - 1] {
            let error = cipher
                .open::<Sample>(KEY, sealed[..len].to_vec())
                .unwrap_err();
            assert!(
                matches!(error, CorruptRecord::Empty | CorruptRecord::Truncated),
                "len {len}: {error}"
            );
        }
        // Header and tag with nothing between: authentic-looking shape, but the
        // tag cannot verify.
        let error = cipher
            .open::<Sample>(KEY, sealed[..HEADER_LEN + TAG_LEN].to_vec())
            .unwrap_err();
        assert!(matches!(error, CorruptRecord::Unauthentic), "{error}");
    }

    #[test]
    fn authentic_but_undecodable_record_does_not_leak_its_content() {
        // Same field names, but `n` holds a string: serde_json's own message
        // would quote it.
        #[derive(Serialize)]
        struct Other {
            username: &'static str,
            n: &'static str,
        }
        let cipher = Cipher::new(&EncryptionKey::generate());
        let sealed = cipher
            .seal(
                KEY,
                &Other {
                    username: "alice",
                    n: "hunter2",
                },
            )
            .unwrap();
        let error = cipher.open::<Sample>(KEY, sealed).unwrap_err();
        assert!(
            matches!(error, CorruptRecord::Undecodable { .. }),
            "{error}"
        );
        assert!(!error.to_string().contains("hunter2"));
    }
}
