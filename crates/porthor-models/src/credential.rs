//! Bearer credentials of the form `<prefix>-<key>.<secret>`.
//!
//! The key names the stored record and may appear in storage keys; the secret
//! proves possession and is never stored, only its SHA-256 hash. A stolen copy
//! of the store therefore cannot be replayed as credentials.
//!
//! Keys are *linked* into a chain that mirrors where each credential comes
//! from: a code's key is its login session's key followed by its own; the
//! grant a code starts (its refresh-token family) is named by the code's key;
//! and an access token's key is that grant's key followed by its own. So the
//! store can fetch a credential together with the session and grant it
//! depends on in one round trip, and ending either ends the credential. A
//! session's own key is made by the store for its user
//! ([`crate::AuthorizationStore::new_session_key`]): it may begin with
//! something of the user's (porthor-store puts a Redis Cluster slot tag
//! there), which every key linked to it then carries too. Keys
//! are identifiers, not secrets (the secrets never leave their holders), and
//! with public `sub` values they tell a client nothing it could not already
//! correlate.

use std::fmt;
use std::marker::PhantomData;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

const KEY_BYTES: usize = 16;
const SECRET_BYTES: usize = 32;
/// Unpadded base64url length of [`KEY_BYTES`].
const KEY_LEN: usize = 22;
/// The longest chain of linked keys: session, grant, access token.
const MAX_LINKS: usize = 3;
/// Unpadded base64url length of [`SECRET_BYTES`].
const SECRET_LEN: usize = 43;

/// Which kind of credential a [`Credential`] is; fixes its prefix.
pub trait CredentialKind {
    /// The text before the `-`, which tells credential kinds apart at a glance.
    const PREFIX: &'static str;
    /// A human name for error messages.
    const NAME: &'static str;
}

/// Marker for authorization codes.
#[derive(Debug)]
pub enum Code {}
impl CredentialKind for Code {
    const PREFIX: &'static str = "pc";
    const NAME: &'static str = "authorization code";
}

/// Marker for opaque access tokens.
#[derive(Debug)]
pub enum Access {}
impl CredentialKind for Access {
    const PREFIX: &'static str = "pat";
    const NAME: &'static str = "access token";
}

/// Marker for refresh tokens.
#[derive(Debug)]
pub enum Refresh {}
impl CredentialKind for Refresh {
    const PREFIX: &'static str = "prt";
    const NAME: &'static str = "refresh token";
}

/// Marker for login session tokens (the session cookie's value).
#[derive(Debug)]
pub enum Session {}
impl CredentialKind for Session {
    const PREFIX: &'static str = "ps";
    const NAME: &'static str = "session token";
}

/// An authorization code: `pc-<key>.<secret>`.
pub type AuthorizationCode = Credential<Code>;
/// An opaque access token: `pat-<key>.<secret>`.
pub type AccessToken = Credential<Access>;
/// A refresh token: `prt-<key>.<secret>`, its key naming its family.
pub type RefreshToken = Credential<Refresh>;
/// A login session token: `ps-<key>.<secret>`.
pub type SessionToken = Credential<Session>;

/// The public half of a credential: names its record in the store.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RecordKey(String);

impl RecordKey {
    /// The key as text, for building storage keys.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Parses a key as it appears in a credential: plain or linked.
    pub fn parse(key: &str) -> Option<Self> {
        (1..=MAX_LINKS)
            .any(|links| is_base64url(key, links * KEY_LEN))
            .then(|| Self(key.to_owned()))
    }

    /// A fresh key linked to `parent`: `parent` followed by a random key.
    /// `None` if `parent` is already at the end of the longest chain.
    pub fn linked_to(parent: &RecordKey) -> Option<Self> {
        (parent.0.len() < MAX_LINKS * KEY_LEN)
            .then(|| Self(format!("{}{}", parent.0, Self::random().0)))
    }

    /// The key this one is linked to (all but its own last part); `None` for
    /// a plain key.
    pub fn parent(&self) -> Option<RecordKey> {
        let len = self.0.len().checked_sub(KEY_LEN).filter(|len| *len > 0)?;
        Some(Self(self.0[..len].to_owned()))
    }

    /// The login session's key that a linked key's chain starts with; `None`
    /// for a plain key.
    pub fn session(&self) -> Option<RecordKey> {
        (self.0.len() > KEY_LEN).then(|| Self(self.0[..KEY_LEN].to_owned()))
    }

    /// The key made of `bytes`, for a record named by something other than a
    /// credential, or a session key the store makes for its user: the store
    /// derives such keys with a keyed hash (see
    /// [`crate::AuthorizationStore::consent_key`] and
    /// [`crate::AuthorizationStore::new_session_key`]). A plain key, linked
    /// to nothing.
    pub fn derived(bytes: [u8; KEY_BYTES]) -> Self {
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// A fresh random key, also fit as a unique identifier such as a `jti`.
    pub fn random() -> Self {
        let mut key = [0u8; KEY_BYTES];
        rand::rng().fill_bytes(&mut key);
        Self(URL_SAFE_NO_PAD.encode(key))
    }
}

impl fmt::Display for RecordKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A credential that did not parse. Says why, without echoing the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {kind}: {reason}")]
pub struct MalformedCredential {
    kind: &'static str,
    reason: &'static str,
}

/// A bearer credential `<prefix>-<key>.<secret>`.
///
/// `Debug` shows the key only; the full text is reachable through
/// [`Credential::expose`] so that every place handing it out is explicit.
pub struct Credential<K> {
    key: RecordKey,
    secret: String,
    kind: PhantomData<K>,
}

impl<K: CredentialKind> Credential<K> {
    /// A fresh credential from the thread's CSPRNG (ChaCha, seeded by the OS).
    pub fn generate() -> Self {
        Self::with_key(RecordKey::random())
    }

    /// A fresh credential whose key is linked to `parent` (see the module
    /// docs). `None` if `parent` is already at the end of the longest chain.
    pub fn generate_linked(parent: &RecordKey) -> Option<Self> {
        RecordKey::linked_to(parent).map(Self::with_key)
    }

    /// A fresh credential under a given key: a refresh token is named by the
    /// grant it renews.
    pub fn with_key(key: RecordKey) -> Self {
        let mut secret = [0u8; SECRET_BYTES];
        rand::rng().fill_bytes(&mut secret);
        Self {
            key,
            secret: URL_SAFE_NO_PAD.encode(secret),
            kind: PhantomData,
        }
    }

    /// Parses the text form. Never panics, whatever the input.
    pub fn parse(text: &str) -> Result<Self, MalformedCredential> {
        let malformed = |reason| MalformedCredential {
            kind: K::NAME,
            reason,
        };
        let rest = text
            .strip_prefix(K::PREFIX)
            .and_then(|rest| rest.strip_prefix('-'))
            .ok_or_else(|| malformed("wrong prefix"))?;
        let (key, secret) = rest
            .split_once('.')
            .ok_or_else(|| malformed("no separator"))?;
        let key = RecordKey::parse(key).ok_or_else(|| malformed("bad key"))?;
        if !is_base64url(secret, SECRET_LEN) {
            return Err(malformed("bad secret"));
        }
        Ok(Self {
            key,
            secret: secret.to_owned(),
            kind: PhantomData,
        })
    }

    /// The key naming this credential's record.
    pub fn key(&self) -> &RecordKey {
        &self.key
    }

    /// The hash that the store keeps in place of the secret.
    pub fn secret_hash(&self) -> SecretHash {
        SecretHash(Sha256::digest(self.secret.as_bytes()).into())
    }

    /// The full text, to hand to its holder. Never log it.
    pub fn expose(&self) -> String {
        format!("{}-{}.{}", K::PREFIX, self.key.0, self.secret)
    }
}

impl<K: CredentialKind> fmt::Debug for Credential<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("kind", &K::NAME)
            .field("key", &self.key.0)
            .field("secret", &"<redacted>")
            .finish()
    }
}

fn is_base64url(text: &str, len: usize) -> bool {
    text.len() == len
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// SHA-256 of a credential's secret, compared in constant time.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SecretHash([u8; 32]);

impl SecretHash {
    /// Whether `presented` hashes to this value, without leaking timing.
    pub fn verify(&self, presented: &SecretHash) -> bool {
        self.0.ct_eq(&presented.0).into()
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash(<redacted>)")
    }
}

impl Serialize for SecretHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&URL_SAFE_NO_PAD.encode(self.0))
    }
}

impl<'de> Deserialize<'de> for SecretHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(text.as_bytes())
            .map_err(serde::de::Error::custom)?;
        let bytes = <[u8; 32]>::try_from(bytes.as_slice())
            .map_err(|_| serde::de::Error::custom("secret hash must be 32 bytes"))?;
        Ok(Self(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_round_trip() {
        let code = AuthorizationCode::generate();
        let text = code.expose();
        assert!(text.starts_with("pc-"));
        assert_eq!(text.len(), 3 + KEY_LEN + 1 + SECRET_LEN);
        let parsed = AuthorizationCode::parse(&text).unwrap();
        assert_eq!(parsed.key(), code.key());
        assert!(parsed.secret_hash().verify(&code.secret_hash()));
    }

    #[test]
    fn malformed_codes_are_errors() {
        let good = AuthorizationCode::generate().expose();
        let (key, secret) = good.trim_start_matches("pc-").split_once('.').unwrap();
        let cases = [
            String::new(),
            "pc-".to_owned(),
            "pc".to_owned(),
            format!("pat-{key}.{secret}"),
            format!("pc{key}.{secret}"),
            format!("pc-{key}{secret}"),
            format!("pc-{key}x.{secret}"),
            format!("pc-{key}.{secret}x"),
            format!("pc-{key}.{}", &secret[1..]),
            format!("pc-{}!.{secret}", &key[1..]),
            format!("pc-{key}.{secret}.{secret}"),
            format!("pc-{}é.{secret}", &key[2..]),
            "pc-.".to_owned(),
        ];
        for case in cases {
            assert!(
                AuthorizationCode::parse(&case).is_err(),
                "accepted {case:?}"
            );
        }
    }

    #[test]
    fn derived_keys_are_plain_keys() {
        let key = RecordKey::derived([0xfb; KEY_BYTES]);
        assert_eq!(key.as_str().len(), KEY_LEN);
        assert_eq!(RecordKey::parse(key.as_str()), Some(key.clone()));
        assert_eq!(key.session(), None);
        assert_eq!(key.parent(), None);
        assert_ne!(RecordKey::derived([0xfa; KEY_BYTES]), key);
    }

    #[test]
    fn kinds_do_not_mix() {
        let token = AccessToken::generate().expose();
        assert!(AuthorizationCode::parse(&token).is_err());
        assert!(SessionToken::parse(&token).is_err());
        assert!(AccessToken::parse(&token).is_ok());
    }

    #[test]
    fn debug_redacts_the_secret() {
        let code = AuthorizationCode::generate();
        let text = code.expose();
        let secret = text.rsplit('.').next().unwrap();
        let debug = format!("{code:?} {:?}", code.secret_hash());
        assert!(!debug.contains(secret));
        assert!(debug.contains("redacted"));
    }

    #[test]
    fn wrong_secret_does_not_verify() {
        let a = AuthorizationCode::generate();
        let b = AuthorizationCode::generate();
        assert!(!a.secret_hash().verify(&b.secret_hash()));
    }

    #[test]
    fn secret_hash_serde_round_trip() {
        let hash = AccessToken::generate().secret_hash();
        let json = serde_json::to_string(&hash).unwrap();
        let back: SecretHash = serde_json::from_str(&json).unwrap();
        assert!(hash.verify(&back));
        assert!(serde_json::from_str::<SecretHash>("\"abc\"").is_err());
    }

    #[test]
    fn linked_credentials_carry_their_session() {
        let session = SessionToken::generate();
        let code = AuthorizationCode::generate_linked(session.key()).unwrap();
        assert_eq!(code.key().session().as_ref(), Some(session.key()));
        let parsed = AuthorizationCode::parse(&code.expose()).unwrap();
        assert_eq!(parsed.key(), code.key());
        assert_eq!(parsed.key().session().as_ref(), Some(session.key()));
        assert!(parsed.secret_hash().verify(&code.secret_hash()));
        assert_eq!(code.key().parent().as_ref(), Some(session.key()));
        // A plain key has no session or parent.
        assert_eq!(session.key().session(), None);
        assert_eq!(session.key().parent(), None);
        // An access token under the code's grant: its chain names both.
        let token = AccessToken::generate_linked(code.key()).unwrap();
        assert_eq!(token.key().parent().as_ref(), Some(code.key()));
        assert_eq!(token.key().session().as_ref(), Some(session.key()));
        let parsed = AccessToken::parse(&token.expose()).unwrap();
        assert_eq!(parsed.key(), token.key());
        // The chain ends there.
        assert!(AccessToken::generate_linked(token.key()).is_none());
        // Not a whole number of links: refused.
        assert!(RecordKey::parse(&code.key().as_str()[..33]).is_none());
        assert!(RecordKey::parse(&format!("{}{}", token.key(), session.key())).is_none());
    }
}
