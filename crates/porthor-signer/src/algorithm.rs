//! The JWS algorithms Porthor signs with.

use std::fmt;

use jsonwebtoken::Algorithm;

/// A JWS signing algorithm (RFC 7518 section 3.1, RFC 8037 section 3.1).
///
/// The algorithm is a property of the key: [`crate::Signer::from_pem`]
/// detects it, it is never configured separately.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SigningAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256; the one every OpenID Connect relying
    /// party must support (OpenID Connect Core 1.0 section 15.1).
    Rs256,
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// EdDSA with Ed25519.
    EdDsa,
}

impl SigningAlgorithm {
    /// The JOSE `alg` name: `RS256`, `ES256` or `EdDSA`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
        }
    }

    /// Parses a JOSE `alg` name. Case-sensitive, as JOSE names are
    /// (RFC 7515 section 4.1.1).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "RS256" => Some(Self::Rs256),
            "ES256" => Some(Self::Es256),
            "EdDSA" => Some(Self::EdDsa),
            _ => None,
        }
    }

    /// The JWK `kty` of keys for this algorithm.
    pub(crate) fn key_type(self) -> &'static str {
        match self {
            Self::Rs256 => "RSA",
            Self::Es256 => "EC",
            Self::EdDsa => "OKP",
        }
    }

    pub(crate) fn jwt_algorithm(self) -> Algorithm {
        match self {
            Self::Rs256 => Algorithm::RS256,
            Self::Es256 => Algorithm::ES256,
            Self::EdDsa => Algorithm::EdDSA,
        }
    }
}

impl fmt::Display for SigningAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for alg in [
            SigningAlgorithm::Rs256,
            SigningAlgorithm::Es256,
            SigningAlgorithm::EdDsa,
        ] {
            assert_eq!(SigningAlgorithm::parse(alg.as_str()), Some(alg));
            assert_eq!(alg.to_string(), alg.as_str());
        }
    }

    #[test]
    fn parse_is_case_sensitive_and_closed() {
        for name in ["rs256", "EDDSA", "HS256", "none", "PS256", ""] {
            assert_eq!(SigningAlgorithm::parse(name), None, "{name}");
        }
    }
}
