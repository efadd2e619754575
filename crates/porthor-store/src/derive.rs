//! Record keys derived from names rather than drawn at random: a consent
//! grant is found again by its user and client, so its key must be a
//! function of both, yet must not reveal them to whoever can list the keys.
//!
//! The key is HMAC-SHA256 under a key of its own, itself derived from the
//! store's encryption key, truncated to a record key's 128 bits. A plain
//! hash would not do: usernames and client ids are few and guessable, so
//! anyone reading Redis's key names could test every pair. Without the
//! store key nobody can, and each deployment (each store key) names the same
//! pair differently.

use hmac::{Hmac, Mac as _};
use porthor_models::RecordKey;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::{EncryptionKey, OpenError};

type HmacSha256 = Hmac<Sha256>;

/// What the derivation key is derived for: a label of its own, so that it
/// is unrelated to the AES-GCM use of the same store key.
const DERIVATION_LABEL: &[u8] = b"porthor-store v1 record key derivation";

/// Derives record keys from names, under a key derived from the store key.
pub(crate) struct KeyDeriver {
    /// HMAC-SHA256 already keyed with the derivation key (the key itself is
    /// not kept); each derivation continues a copy.
    mac: HmacSha256,
}

impl KeyDeriver {
    pub(crate) fn new(store_key: &EncryptionKey) -> Result<Self, OpenError> {
        let mut derivation = keyed(store_key.as_bytes())?;
        derivation.update(DERIVATION_LABEL);
        let key = Zeroizing::new(<[u8; 32]>::from(derivation.finalize().into_bytes()));
        Ok(Self {
            mac: keyed(key.as_slice())?,
        })
    }

    /// The record key for `parts` under `purpose`. Each part is preceded by
    /// its length, so no two lists of parts hash the same (`("ab", "c")` is
    /// not `("a", "bc")`), and the purpose keeps keys derived for different
    /// things apart.
    pub(crate) fn record_key(&self, purpose: &str, parts: &[&str]) -> RecordKey {
        let mut mac = self.mac.clone();
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        let digest: [u8; 32] = mac.finalize().into_bytes().into();
        let mut truncated = [0u8; 16];
        truncated.copy_from_slice(&digest[..16]);
        RecordKey::derived(truncated)
    }
}

/// HMAC-SHA256 keyed with `key`. HMAC takes keys of any length, so the
/// error is never seen; it is reported rather than unwrapped all the same.
fn keyed(key: &[u8]) -> Result<HmacSha256, OpenError> {
    HmacSha256::new_from_slice(key)
        .map_err(|_| OpenError::InvalidKey("it cannot key HMAC-SHA256".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_distinct_and_keyed() {
        let store_key = EncryptionKey::generate();
        let deriver = KeyDeriver::new(&store_key).unwrap();
        let key = deriver.record_key("consent", &["alice", "app"]);
        assert_eq!(key, deriver.record_key("consent", &["alice", "app"]));
        assert_eq!(
            key,
            KeyDeriver::new(&store_key)
                .unwrap()
                .record_key("consent", &["alice", "app"])
        );
        for other in [
            deriver.record_key("consent", &["alice", "app2"]),
            deriver.record_key("consent", &["bob", "app"]),
            deriver.record_key("consent", &["app", "alice"]),
            deriver.record_key("consent", &["alic", "eapp"]),
            deriver.record_key("consent", &["aliceapp"]),
            deriver.record_key("other", &["alice", "app"]),
            KeyDeriver::new(&EncryptionKey::generate())
                .unwrap()
                .record_key("consent", &["alice", "app"]),
        ] {
            assert_ne!(other, key);
        }
        assert!(!key.as_str().contains("alice") && !key.as_str().contains("app"));
    }
}
