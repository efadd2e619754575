//! CSRF tokens bound to this provider.
//!
//! A form's token travels twice, in a cookie and in the form, and the two
//! must match (the double-submit pattern, kept by the server). On its own
//! that trusts any value the cookie holds, and a sibling subdomain can plant
//! a cookie with a value of its choosing. So a token is also signed: a
//! random nonce and its HMAC-SHA256 under [`CsrfKey`], which every replica
//! derives from the store key. A planted value that this provider did not
//! issue fails, whatever the form carries.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use porthor_models::{RecordKey, hmac_sha256};
use rand::RngCore as _;
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use crate::OidcService;

/// Separates the signed message from others under the same key.
const LABEL: &[u8] = b"porthor csrf token v1: ";

/// The key that signs CSRF tokens. `Debug` never shows it, and it is wiped
/// when dropped.
#[derive(Clone)]
pub struct CsrfKey(Zeroizing<[u8; 32]>);

impl CsrfKey {
    /// A key from its bytes, such as `EncryptionKey::derive("csrf")` makes.
    pub fn new(key: &[u8; 32]) -> Self {
        Self(Zeroizing::new(*key))
    }

    /// A random key: for a single process, or a test.
    pub fn generate() -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(key.as_mut_slice());
        Self(key)
    }

    /// The signature of `nonce`, in base64url.
    fn sign(&self, nonce: &str) -> String {
        URL_SAFE_NO_PAD.encode(hmac_sha256(&self.0, &[LABEL, nonce.as_bytes()]))
    }
}

impl fmt::Debug for CsrfKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CsrfKey(<redacted>)")
    }
}

impl OidcService {
    /// A fresh CSRF token, `{nonce}.{signature}`: 128 random bits and their
    /// HMAC under the CSRF key, in base64url (cookie- and form-safe).
    pub fn csrf_token(&self) -> String {
        let nonce = RecordKey::random();
        let signature = self.inner.csrf_key.sign(nonce.as_str());
        format!("{nonce}.{signature}")
    }

    /// Whether `token` is a CSRF token this provider (or a replica sharing
    /// its store key) issued. The signature is compared in constant time.
    pub fn is_csrf_token(&self, token: &str) -> bool {
        let Some((nonce, signature)) = token.split_once('.') else {
            return false;
        };
        let expected = self.inner.csrf_key.sign(nonce);
        expected.as_bytes().ct_eq(signature.as_bytes()).into()
    }
}
