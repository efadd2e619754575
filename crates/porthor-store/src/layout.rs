//! The key layout: where each record lives, and which Redis Cluster hash slot
//! it falls in.
//!
//! Every storage key is `{key_prefix}:{<tag>}:v2:{kind}:{name}`. Redis
//! Cluster hashes only what is between the first `{` and the next `}`, the
//! *tag*, so the keys that one operation touches together must carry the
//! same one:
//!
//! - A user's tag is the first [`TAG_BYTES`] of HMAC-SHA256 of the username
//!   under a key derived from the store key: it is the same on every
//!   replica, reveals nothing about the name, and cannot be computed by
//!   guessing names without the store key.
//! - A login session's key begins with its user's tag (see
//!   [`Tagger::session_key`]); every code, refresh-token family and access
//!   token issued under the session has a key that begins with the
//!   session's (see [`porthor_models::RecordKey::session`]), so a
//!   credential's key alone says its slot: a record's tag is the first
//!   [`TAG_LEN`] characters of its record key. A consent grant's key begins
//!   with its user's tag too.
//! - The user index is tagged with its user's tag, so its scripts reach
//!   every session of the user in one slot.
//! - The failure counters, which one script updates together (a username,
//!   an address and a client at once), all share the fixed tag `throttle`:
//!   they are written only on failed logins and client authentications.
//!
//! So no operation spans two slots, and none can fail with `CROSSSLOT`. The
//! same layout serves a single Redis and Sentinel, where tags mean nothing.
//! Layout `v1` (no tags) is not read: a store written by it is empty to this
//! one (see docs/operations.md, upgrading).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use porthor_models::{RecordKey, hmac_sha256};
use rand::RngCore as _;
use zeroize::Zeroizing;

use crate::EncryptionKey;

/// The version of the key layout, the `v2` in every storage key.
pub(crate) const LAYOUT_VERSION: &str = "v2";

/// Bytes of a slot tag: 48 bits, four characters of base64 per three bytes,
/// so that the tag is exactly the first [`TAG_LEN`] characters of a record
/// key that begins with it. Enough to spread users evenly over Redis
/// Cluster's 16,384 slots; too few to be a useful fingerprint of anyone.
pub(crate) const TAG_BYTES: usize = 6;

/// Characters of a slot tag in a record key and a storage key.
pub(crate) const TAG_LEN: usize = TAG_BYTES / 3 * 4;

/// Bytes of a record key (see [`RecordKey::derived`]).
const KEY_BYTES: usize = 16;

/// The tag of the failure counters (see the module docs).
pub(crate) const THROTTLE_TAG: &str = "throttle";

/// What [`EncryptionKey::derive`] is asked for, to tag users.
const TAG_PURPOSE: &str = "user slot tags";

/// The tag of a record: the first [`TAG_LEN`] characters of its key, which
/// every key has (a record key is at least 22 base64url characters).
pub(crate) fn record_tag(key: &RecordKey) -> &str {
    let key = key.as_str();
    key.get(..TAG_LEN).unwrap_or(key)
}

/// The fixed parts of one kind's storage keys, around the tag:
/// `{key_prefix}:{` and `}:v2:{kind}:`.
#[derive(Debug, Clone)]
pub(crate) struct Namespace {
    before_tag: String,
    after_tag: String,
}

impl Namespace {
    pub(crate) fn new(key_prefix: &str, kind: &str) -> Self {
        Self {
            before_tag: format!("{key_prefix}:{{"),
            after_tag: format!("}}:{LAYOUT_VERSION}:{kind}:"),
        }
    }

    /// `{key_prefix}:{<tag>}:v2:{kind}:{name}`.
    pub(crate) fn key(&self, tag: &str, name: &str) -> String {
        let mut key = self.within(tag);
        key.push_str(name);
        key
    }

    /// `{key_prefix}:{<tag>}:v2:{kind}:`, what [`Namespace::key`] appends a
    /// name to.
    pub(crate) fn within(&self, tag: &str) -> String {
        let mut key =
            String::with_capacity(self.before_tag.len() + tag.len() + self.after_tag.len() + 48);
        key.push_str(&self.before_tag);
        key.push_str(tag);
        key.push_str(&self.after_tag);
        key
    }

    /// `{key_prefix}:{`: every key of the kind starts with it.
    #[cfg_attr(
        not(feature = "redis"),
        allow(dead_code, reason = "for the Redis backend's SCAN pattern")
    )]
    pub(crate) fn before_tag(&self) -> &str {
        &self.before_tag
    }

    /// `}:v2:{kind}:`: what follows the tag in every key of the kind.
    #[cfg_attr(
        not(feature = "redis"),
        allow(dead_code, reason = "for the Redis backend's SCAN pattern")
    )]
    pub(crate) fn after_tag(&self) -> &str {
        &self.after_tag
    }

    /// Whether `key` is one of this kind's: the part before the tag, a
    /// non-empty tag without braces, then the part after it.
    #[cfg_attr(
        not(feature = "memory"),
        allow(dead_code, reason = "for the memory backend's delete_matching")
    )]
    pub(crate) fn contains(&self, key: &str) -> bool {
        let Some(rest) = key.strip_prefix(&self.before_tag) else {
            return false;
        };
        match rest.find(['{', '}']) {
            Some(end) if end > 0 => rest
                .get(end..)
                .is_some_and(|rest| rest.starts_with(&self.after_tag)),
            _ => false,
        }
    }
}

/// Tags users, and mints the record keys that carry a user's tag.
pub(crate) struct Tagger {
    key: Zeroizing<[u8; 32]>,
}

impl Tagger {
    pub(crate) fn new(store_key: &EncryptionKey) -> Self {
        Self {
            key: store_key.derive(TAG_PURPOSE),
        }
    }

    fn tag_bytes(&self, username: &str) -> [u8; TAG_BYTES] {
        let digest = hmac_sha256(&self.key, &[username.as_bytes()]);
        let mut tag = [0u8; TAG_BYTES];
        tag.copy_from_slice(digest.get(..TAG_BYTES).unwrap_or(&[0; TAG_BYTES]));
        tag
    }

    /// `username`'s tag, as it appears in storage keys.
    pub(crate) fn user_tag(&self, username: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.tag_bytes(username))
    }

    /// A record key that begins with `username`'s tag, followed by `rest`'s
    /// first bytes.
    pub(crate) fn tagged_key(&self, username: &str, rest: &[u8]) -> RecordKey {
        let mut bytes = [0u8; KEY_BYTES];
        let (tag, tail) = bytes.split_at_mut(TAG_BYTES);
        tag.copy_from_slice(&self.tag_bytes(username));
        for (byte, source) in tail.iter_mut().zip(rest) {
            *byte = *source;
        }
        RecordKey::derived(bytes)
    }

    /// A fresh login session key for `username`: the user's tag, then 80
    /// random bits. Keys are names, not secrets (a session token's secret is
    /// apart, and 256 bits), and 80 bits keep one user's sessions apart.
    pub(crate) fn session_key(&self, username: &str) -> RecordKey {
        let mut random = [0u8; KEY_BYTES - TAG_BYTES];
        rand::rng().fill_bytes(&mut random);
        self.tagged_key(username, &random)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_documented_layout() {
        let codes = Namespace::new("p", "code");
        assert_eq!(
            codes.key("AbCdEfGh", "AbCdEfGhxyz"),
            "p:{AbCdEfGh}:v2:code:AbCdEfGhxyz"
        );
        assert_eq!(codes.within("t"), "p:{t}:v2:code:");
        assert!(codes.contains("p:{AbCdEfGh}:v2:code:AbCdEfGhxyz"));
        for other in [
            "p:{AbCdEfGh}:v2:session:AbCdEfGhxyz",
            "p:{}:v2:code:x",
            "px:{AbCdEfGh}:v2:code:x",
            "p:v1:code:AbCdEfGhxyz",
            "p:{a{b}:v2:code:x",
            "q:{AbCdEfGh}:v2:code:x",
        ] {
            assert!(!codes.contains(other), "{other}");
        }
    }

    #[test]
    fn session_keys_carry_their_users_tag() {
        let store_key = EncryptionKey::generate();
        let tagger = Tagger::new(&store_key);
        let tag = tagger.user_tag("alice");
        assert_eq!(tag.len(), TAG_LEN);
        assert_eq!(
            tag,
            Tagger::new(&store_key).user_tag("alice"),
            "every replica agrees"
        );
        assert_ne!(tag, tagger.user_tag("bob"));
        assert_ne!(
            tag,
            Tagger::new(&EncryptionKey::generate()).user_tag("alice")
        );
        let (one, two) = (tagger.session_key("alice"), tagger.session_key("alice"));
        assert_ne!(one, two);
        assert_eq!(record_tag(&one), tag);
        assert_eq!(record_tag(&two), tag);
        // Everything linked to the session shares its tag.
        let code = RecordKey::linked_to(&one).unwrap();
        let token = RecordKey::linked_to(&code).unwrap();
        assert_eq!(record_tag(&code), tag);
        assert_eq!(record_tag(&token), tag);
        assert_eq!(RecordKey::parse(one.as_str()), Some(one));
    }
}
