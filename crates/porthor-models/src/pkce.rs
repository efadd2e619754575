//! Proof Key for Code Exchange (RFC 7636), `S256` only.
//!
//! The `plain` method is refused: it protects nothing once the authorization
//! request is observed, and OAuth 2.1 drops it.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// Unpadded base64url length of a SHA-256 digest: every S256 challenge.
const CHALLENGE_LEN: usize = 43;

/// An `S256` code challenge: `BASE64URL(SHA256(code_verifier))`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    /// Accepts a challenge as sent with `code_challenge_method=S256`: the
    /// base64url of a 32-byte digest.
    pub fn parse_s256(challenge: &str) -> Option<Self> {
        let valid = challenge.len() == CHALLENGE_LEN
            && URL_SAFE_NO_PAD
                .decode(challenge)
                .is_ok_and(|digest| digest.len() == 32);
        valid.then(|| Self(challenge.to_owned()))
    }

    /// Whether `verifier` is well formed (RFC 7636 4.1: 43 to 128 unreserved
    /// characters) and hashes to this challenge; compared in constant time.
    pub fn verify(&self, verifier: &str) -> bool {
        let well_formed = (43..=128).contains(&verifier.len())
            && verifier
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
        let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        well_formed && bool::from(computed.as_bytes().ct_eq(self.0.as_bytes()))
    }
}

impl fmt::Debug for CodeChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeChallenge(S256)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7636 appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn rfc_7636_example() {
        let challenge = CodeChallenge::parse_s256(CHALLENGE).unwrap();
        assert!(challenge.verify(VERIFIER));
        assert!(!challenge.verify(&VERIFIER.replace('d', "e")));
        assert!(!challenge.verify(CHALLENGE));
    }

    #[test]
    fn malformed_challenges_and_verifiers() {
        for bad in [
            "",
            "short",
            &CHALLENGE[1..],
            &format!("{CHALLENGE}A"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM",
        ] {
            assert!(CodeChallenge::parse_s256(bad).is_none(), "{bad}");
        }
        // A verifier whose hash matches but which is too short is refused.
        let short = "abc";
        let challenge =
            CodeChallenge::parse_s256(&URL_SAFE_NO_PAD.encode(Sha256::digest(short))).unwrap();
        assert!(!challenge.verify(short));
    }
}
