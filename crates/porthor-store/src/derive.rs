//! Record keys derived from names rather than drawn at random: a consent
//! grant is found again by its user and client, so its key must be a
//! function of both, yet must not reveal them to whoever can list the keys.
//!
//! The key is the user's slot tag (see `layout.rs`) followed by
//! HMAC-SHA256 under a key of its own, itself derived from the store's
//! encryption key, truncated to the rest of a record key's 128 bits. A plain
//! hash would not do: usernames and client ids are few and guessable, so
//! anyone reading Redis's key names could test every pair. Without the
//! store key nobody can, and each deployment (each store key) names the same
//! pair differently.

use porthor_models::hmac_sha256;
use zeroize::Zeroizing;

use crate::EncryptionKey;

/// What the derivation key is derived for, so that it is unrelated to the
/// AES-GCM use of the same store key and to every other derived key.
const DERIVATION_PURPOSE: &str = "record key derivation";

/// Derives record keys from names, under a key derived from the store key.
pub(crate) struct KeyDeriver {
    key: Zeroizing<[u8; 32]>,
}

impl KeyDeriver {
    pub(crate) fn new(store_key: &EncryptionKey) -> Self {
        Self {
            key: store_key.derive(DERIVATION_PURPOSE),
        }
    }

    /// The keyed hash of `parts` under `purpose`. Each part is preceded by
    /// its length, so no two lists of parts hash the same (`("ab", "c")` is
    /// not `("a", "bc")`), and the purpose keeps keys derived for different
    /// things apart.
    pub(crate) fn digest(&self, purpose: &str, parts: &[&str]) -> [u8; 32] {
        let lengths: Vec<[u8; 8]> = parts
            .iter()
            .map(|part| (part.len() as u64).to_be_bytes())
            .collect();
        let mut input: Vec<&[u8]> = vec![purpose.as_bytes(), &[0]];
        for (part, length) in parts.iter().zip(&lengths) {
            input.push(length);
            input.push(part.as_bytes());
        }
        hmac_sha256(&self.key, &input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_distinct_and_keyed() {
        let store_key = EncryptionKey::generate();
        let deriver = KeyDeriver::new(&store_key);
        let key = deriver.digest("consent", &["alice", "app"]);
        assert_eq!(key, deriver.digest("consent", &["alice", "app"]));
        assert_eq!(
            key,
            KeyDeriver::new(&store_key).digest("consent", &["alice", "app"])
        );
        for other in [
            deriver.digest("consent", &["alice", "app2"]),
            deriver.digest("consent", &["bob", "app"]),
            deriver.digest("consent", &["app", "alice"]),
            deriver.digest("consent", &["alic", "eapp"]),
            deriver.digest("consent", &["aliceapp"]),
            deriver.digest("other", &["alice", "app"]),
            KeyDeriver::new(&EncryptionKey::generate()).digest("consent", &["alice", "app"]),
        ] {
            assert_ne!(other, key);
        }
    }
}
