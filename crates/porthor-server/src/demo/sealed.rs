//! What the demo keeps in the browser between pages, in one cookie, sealed:
//! JSON encrypted and authenticated with AES-256-GCM under a key the binary
//! derives from the store key, so that every replica opens what another
//! sealed, and the browser can neither read the tokens nor change a value.
//!
//! ```text
//! base64url( [ nonce: 12 bytes ][ ciphertext of the JSON ][ tag: 16 bytes ] )
//! ```
//!
//! The cookie's name is the associated data. Every value carries its own
//! expiry, checked against the server's clock: the cookie's `Max-Age` is
//! only a hint to the browser.

use std::fmt;

use aes_gcm::aead::{Aead as _, KeyInit as _, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use porthor_models::Timestamp;
use rand::RngCore as _;
use serde::{Deserialize, Serialize};

const NONCE_LEN: usize = 12;

/// The key the demo's cookie is sealed under.
pub(super) struct CookieCipher(Aes256Gcm);

impl fmt::Debug for CookieCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CookieCipher(<redacted>)")
    }
}

impl CookieCipher {
    pub(super) fn new(key: &[u8; 32]) -> Self {
        Self(Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key)))
    }

    /// `value`, sealed for the cookie `name`.
    pub(super) fn seal(&self, name: &str, value: &DemoCookie) -> Option<String> {
        let json = serde_json::to_vec(value).ok()?;
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .0
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &json,
                    aad: name.as_bytes(),
                },
            )
            .ok()?;
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        Some(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The value sealed in `text` for the cookie `name`, if it opens and has
    /// not expired at `now`. Anything else (another key, a changed byte, a
    /// value from another cookie, garbage) is `None`.
    pub(super) fn open(&self, name: &str, text: &str, now: Timestamp) -> Option<DemoCookie> {
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        let (nonce, sealed) = bytes.split_at_checked(NONCE_LEN)?;
        let json = self
            .0
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: name.as_bytes(),
                },
            )
            .ok()?;
        let value: DemoCookie = serde_json::from_slice(&json).ok()?;
        (now < value.expires()).then_some(value)
    }
}

/// The demo's state in the browser: a login under way, or its result.
#[derive(Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(super) enum DemoCookie {
    /// Between `/demo/start` and `/demo/callback`: what binds the callback
    /// to this browser's request.
    Pending(Pending),
    /// After the callback: the tokens the demo application holds.
    Session(Session),
}

impl DemoCookie {
    fn expires(&self) -> Timestamp {
        match self {
            Self::Pending(pending) => pending.expires,
            Self::Session(session) => session.expires,
        }
    }
}

#[derive(Clone, Serialize, Deserialize)]
pub(super) struct Pending {
    pub(super) state: String,
    pub(super) nonce: String,
    pub(super) verifier: String,
    pub(super) expires: Timestamp,
}

#[derive(Clone, Serialize, Deserialize)]
pub(super) struct Session {
    pub(super) id_token: String,
    pub(super) access_token: String,
    pub(super) refresh_token: Option<String>,
    /// The nonce the current ID token must carry: the request's, until a
    /// refresh replaces the token with one that has none (OpenID Connect
    /// Core 12.2).
    pub(super) nonce: Option<String>,
    /// How many times the tokens were refreshed.
    pub(super) refreshes: u32,
    /// The token the page's forms carry, so that only the page posts them.
    pub(super) form_token: String,
    pub(super) expires: Timestamp,
}

/// Never the tokens, the verifier or the state.
impl fmt::Debug for DemoCookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pending(pending) => f
                .debug_struct("Pending")
                .field("expires", &pending.expires)
                .finish_non_exhaustive(),
            Self::Session(session) => f
                .debug_struct("Session")
                .field("refreshes", &session.refreshes)
                .field("expires", &session.expires)
                .finish_non_exhaustive(),
        }
    }
}

/// 256 random bits, base64url: states, nonces, PKCE verifiers, form tokens.
pub(super) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(expires: u64) -> DemoCookie {
        DemoCookie::Pending(Pending {
            state: "the-state".into(),
            nonce: "the-nonce".into(),
            verifier: "the-verifier".into(),
            expires: Timestamp::from_unix(expires),
        })
    }

    #[test]
    fn sealed_values_open_only_under_their_key_name_and_time() {
        let cipher = CookieCipher::new(&[7; 32]);
        let sealed = cipher.seal("porthor_demo", &pending(100)).unwrap();
        assert!(!sealed.contains("the-state") && !sealed.contains("the-verifier"));
        let now = Timestamp::from_unix(99);
        match cipher.open("porthor_demo", &sealed, now) {
            Some(DemoCookie::Pending(pending)) => assert_eq!(pending.verifier, "the-verifier"),
            other => panic!("{other:?}"),
        }
        // Expired, another cookie's name, another key, a changed byte.
        assert!(
            cipher
                .open("porthor_demo", &sealed, Timestamp::from_unix(100))
                .is_none()
        );
        assert!(cipher.open("other", &sealed, now).is_none());
        assert!(
            CookieCipher::new(&[8; 32])
                .open("porthor_demo", &sealed, now)
                .is_none()
        );
        let mut bytes = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let changed = URL_SAFE_NO_PAD.encode(bytes);
        assert!(cipher.open("porthor_demo", &changed, now).is_none());
        for garbage in ["", "AAAA", "not base64!", &"A".repeat(100)] {
            assert!(cipher.open("porthor_demo", garbage, now).is_none());
        }
        // A fresh nonce each time.
        assert_ne!(sealed, cipher.seal("porthor_demo", &pending(100)).unwrap());
    }

    #[test]
    fn debug_shows_no_secret() {
        let shown = format!("{:?}", pending(1));
        assert!(!shown.contains("the-"), "{shown}");
        assert_eq!(
            format!("{:?}", CookieCipher::new(&[1; 32])),
            "CookieCipher(<redacted>)"
        );
    }
}
