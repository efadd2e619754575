//! Public JWKs and their RFC 7638 thumbprints.
//!
//! The JWK members and the thumbprint are computed here from the raw public
//! key bytes rather than through jsonwebtoken's `Jwk::from_encoding_key`:
//! that helper rejects PKCS#8 v2 Ed25519 keys (it assumes a 48-byte DER), and
//! owning the canonical form keeps `kid` tied to exactly the strings the JWKS
//! publishes.

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use porthor_models::Jwk;

use crate::SigningAlgorithm;

/// The public half of a key, as big-endian or raw bytes.
pub(crate) enum PublicKey<'a> {
    /// RSA modulus and exponent, minimal big-endian (no leading zero byte),
    /// as RFC 7518 section 6.3.1 requires.
    Rsa { n: &'a [u8], e: &'a [u8] },
    /// P-256 affine coordinates, 32 bytes each (RFC 7518 section 6.2.1).
    P256 { x: &'a [u8], y: &'a [u8] },
    /// Ed25519 public key, 32 bytes (RFC 8037 section 2).
    Ed25519 { x: &'a [u8] },
}

impl PublicKey<'_> {
    fn algorithm(&self) -> SigningAlgorithm {
        match self {
            Self::Rsa { .. } => SigningAlgorithm::Rs256,
            Self::P256 { .. } => SigningAlgorithm::Es256,
            Self::Ed25519 { .. } => SigningAlgorithm::EdDsa,
        }
    }
}

/// Builds the published JWK, with `kid` set to its RFC 7638 thumbprint.
pub(crate) fn public_jwk(key: &PublicKey<'_>) -> Jwk {
    let alg = key.algorithm();
    let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
    let mut jwk = Jwk {
        kty: alg.key_type().to_owned(),
        use_: "sig".to_owned(),
        alg: alg.as_str().to_owned(),
        kid: String::new(),
        n: None,
        e: None,
        crv: None,
        x: None,
        y: None,
    };
    jwk.kid = match key {
        PublicKey::Rsa { n, e } => {
            let (n, e) = (b64(n), b64(e));
            let kid = rsa_thumbprint(&n, &e);
            jwk.n = Some(n);
            jwk.e = Some(e);
            kid
        }
        PublicKey::P256 { x, y } => {
            let (x, y) = (b64(x), b64(y));
            let kid = ec_thumbprint("P-256", &x, &y);
            jwk.crv = Some("P-256".to_owned());
            jwk.x = Some(x);
            jwk.y = Some(y);
            kid
        }
        PublicKey::Ed25519 { x } => {
            let x = b64(x);
            let kid = okp_thumbprint("Ed25519", &x);
            jwk.crv = Some("Ed25519".to_owned());
            jwk.x = Some(x);
            kid
        }
    };
    jwk
}

// RFC 7638 section 3.2: hash the JSON object holding only the required
// members, in lexicographic order, with no whitespace. Every value here is a
// fixed name or base64url text, so no JSON escaping is ever needed.

/// RFC 7638 thumbprint of an RSA key given its base64url `n` and `e`.
pub(crate) fn rsa_thumbprint(n: &str, e: &str) -> String {
    sha256_b64(&format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#))
}

/// RFC 7638 thumbprint of an EC key.
fn ec_thumbprint(crv: &str, x: &str, y: &str) -> String {
    sha256_b64(&format!(
        r#"{{"crv":"{crv}","kty":"EC","x":"{x}","y":"{y}"}}"#
    ))
}

/// RFC 8037 section 2 thumbprint of an OKP key.
fn okp_thumbprint(crv: &str, x: &str) -> String {
    sha256_b64(&format!(r#"{{"crv":"{crv}","kty":"OKP","x":"{x}"}}"#))
}

fn sha256_b64(canonical: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, canonical.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of RFC 7638 section 3.1.
    #[test]
    fn rfc7638_example_vector() {
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        assert_eq!(
            rsa_thumbprint(n, "AQAB"),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    /// The example of RFC 8037 appendix A.3.
    #[test]
    fn rfc8037_example_vector() {
        assert_eq!(
            okp_thumbprint("Ed25519", "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn rsa_jwk_members() {
        let jwk = public_jwk(&PublicKey::Rsa {
            n: &[0xC0, 0x01],
            e: &[1, 0, 1],
        });
        assert_eq!(jwk.kty, "RSA");
        assert_eq!(jwk.use_, "sig");
        assert_eq!(jwk.alg, "RS256");
        assert_eq!(jwk.n.as_deref(), Some("wAE"));
        assert_eq!(jwk.e.as_deref(), Some("AQAB"));
        assert_eq!(jwk.kid, rsa_thumbprint("wAE", "AQAB"));
        assert!(jwk.crv.is_none() && jwk.x.is_none() && jwk.y.is_none());
    }
}
