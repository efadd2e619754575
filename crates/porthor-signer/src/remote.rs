//! Verifying JWTs that another party signed, against the keys it publishes
//! (its JWKS): what a relying party does with an ID token.
//!
//! [`JwksVerifier`] takes a JWKS document as fetched (bytes) and the
//! algorithms the caller accepts, and keeps the keys it can use. A token's
//! algorithm is the algorithm of the key that verifies it, decided when the
//! JWKS is read (from the JWK's `kty`/`crv`, and its `alg` when present),
//! never by the token's header alone: a header saying `none`, `HS256` or
//! anything but its key's algorithm is refused. Only RS256 (RSA keys of
//! 2048 bits or more), ES256 (P-256) and EdDSA (Ed25519) are supported.
//!
//! It knows nothing of HTTP or caching: the caller fetches the document
//! (and fetches it again when a token names a `kid` it does not hold, as
//! providers rotate keys), and passes `now`.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{DecodingKey, Validation};
use porthor_models::Jwks;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::boxed;
use crate::{SignerError, SigningAlgorithm};

/// The smallest RSA modulus accepted, in bytes (2048 bits, RFC 7518 3.3).
const MIN_RSA_MODULUS_BYTES: usize = 256;

/// The keys of one JWKS that can verify tokens, each bound to its one
/// algorithm. Build it from a provider's JWKS, then [`JwksVerifier::verify`]
/// its tokens. Cheap to keep; rebuild it when the provider rotates keys.
pub struct JwksVerifier {
    keys: Vec<RemoteKey>,
}

struct RemoteKey {
    kid: Option<String>,
    algorithm: SigningAlgorithm,
    decoding: DecodingKey,
    validation: Validation,
}

/// What a verified token's claims must say (OpenID Connect Core 3.1.3.7).
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// `iss`, exactly.
    pub issuer: &'a str,
    /// The relying party's client id: `aud` must be it or contain it, and
    /// `azp`, when present (or when `aud` names several), must be it.
    pub audience: &'a str,
    /// The time to check `exp` and `nbf` against, in Unix seconds.
    pub now: u64,
    /// Seconds of clock skew tolerated between the caller and the issuer
    /// (0 when both read the same clock).
    pub leeway: u64,
    /// The `nonce` the relying party sent in its authorization request;
    /// when given, the token's `nonce` must equal it.
    pub nonce: Option<&'a str>,
}

/// A token whose signature and claims checked out.
#[derive(Debug, Clone)]
pub struct VerifiedJwt {
    /// The algorithm of the key that verified it.
    pub algorithm: SigningAlgorithm,
    /// The `kid` of that key, if the JWKS names it.
    pub kid: Option<String>,
    /// The decoded JOSE header, as sent.
    pub header: Map<String, Value>,
    /// The decoded claims.
    pub claims: Map<String, Value>,
}

/// One JWK as a provider may publish it: every member optional, unknown
/// ones (`x5c`, `key_ops`, ...) ignored.
#[derive(Deserialize)]
struct RawJwk {
    kty: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    alg: Option<String>,
    kid: Option<String>,
    n: Option<String>,
    e: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

#[derive(Deserialize)]
struct RawJwks {
    keys: Vec<RawJwk>,
}

/// A message for a `MalformedToken` or `InvalidJwks` source.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Reason(String);

fn invalid_jwks(reason: impl Into<String>) -> SignerError {
    SignerError::InvalidJwks(boxed(Reason(reason.into())))
}

fn malformed(reason: &str) -> SignerError {
    SignerError::MalformedToken(boxed(Reason(reason.to_owned())))
}

impl JwksVerifier {
    /// Reads a JWKS document (RFC 7517 5) as fetched from a `jwks_uri`.
    ///
    /// Keys the caller cannot use are left out: encryption keys (`use`
    /// other than `sig`), key types, curves and algorithms other than
    /// RS256, ES256 and EdDSA, algorithms not in `accepted`, RSA keys under
    /// 2048 bits. A usable key with broken members (bad base64, wrong
    /// lengths), two keys with one `kid`, or a document with no usable key
    /// at all is an error.
    pub fn from_json(jwks: &[u8], accepted: &[SigningAlgorithm]) -> Result<Self, SignerError> {
        let raw: RawJwks =
            serde_json::from_slice(jwks).map_err(|error| SignerError::InvalidJwks(boxed(error)))?;
        Self::from_raw(raw.keys, accepted)
    }

    /// The verifier of a JWKS already parsed, such as Porthor's own.
    pub fn from_jwks(jwks: &Jwks, accepted: &[SigningAlgorithm]) -> Result<Self, SignerError> {
        let keys = jwks
            .keys
            .iter()
            .map(|jwk| RawJwk {
                kty: Some(jwk.kty.clone()),
                use_: Some(jwk.use_.clone()),
                alg: Some(jwk.alg.clone()),
                kid: Some(jwk.kid.clone()),
                n: jwk.n.clone(),
                e: jwk.e.clone(),
                crv: jwk.crv.clone(),
                x: jwk.x.clone(),
                y: jwk.y.clone(),
            })
            .collect();
        Self::from_raw(keys, accepted)
    }

    fn from_raw(raw: Vec<RawJwk>, accepted: &[SigningAlgorithm]) -> Result<Self, SignerError> {
        let mut keys: Vec<RemoteKey> = Vec::new();
        for jwk in raw {
            let Some(key) = RemoteKey::from_jwk(&jwk, accepted)? else {
                continue;
            };
            if let Some(kid) = &key.kid
                && keys.iter().any(|other| other.kid.as_ref() == Some(kid))
            {
                return Err(invalid_jwks(format!("two keys have the kid {kid:?}")));
            }
            keys.push(key);
        }
        if keys.is_empty() {
            let names: Vec<&str> = accepted.iter().map(|alg| alg.as_str()).collect();
            return Err(invalid_jwks(format!(
                "no key in the JWKS signs with {}",
                names.join(", ")
            )));
        }
        Ok(Self { keys })
    }

    /// How many usable keys the JWKS holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether it holds none (never, once built).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Verifies a compact JWS: its header, its signature by the key its
    /// `kid` names (or by the one key of its algorithm, when it names none),
    /// and the claims `expected` lists. Returns the decoded header and
    /// claims.
    pub fn verify(&self, token: &str, expected: &Expected<'_>) -> Result<VerifiedJwt, SignerError> {
        let header = decode_header(token)?;
        let alg = match header.get("alg") {
            Some(Value::String(alg)) => alg.as_str(),
            _ => return Err(malformed("the header has no alg")),
        };
        let algorithm =
            SigningAlgorithm::parse(alg).ok_or_else(|| SignerError::UnsupportedAlgorithm {
                alg: alg.to_owned(),
            })?;
        // RFC 7515 4.1.11: an extension the recipient does not understand
        // must not be ignored; this verifier understands none.
        if header.contains_key("crit") {
            return Err(malformed("the header has crit extensions"));
        }
        let key = match header.get("kid") {
            Some(Value::String(kid)) => self
                .keys
                .iter()
                .find(|key| key.kid.as_deref() == Some(kid))
                .ok_or_else(|| SignerError::UnknownKid { kid: kid.clone() })?,
            Some(_) => return Err(malformed("the header's kid is not a string")),
            None => {
                let mut candidates = self.keys.iter().filter(|key| key.algorithm == algorithm);
                match (candidates.next(), candidates.next()) {
                    (Some(key), None) => key,
                    _ => return Err(SignerError::MissingKid),
                }
            }
        };
        if key.algorithm != algorithm {
            return Err(SignerError::AlgorithmMismatch);
        }
        let claims =
            jsonwebtoken::decode::<Map<String, Value>>(token, &key.decoding, &key.validation)
                .map_err(crate::signer::decode_error)?
                .claims;
        check_claims(&claims, expected)?;
        Ok(VerifiedJwt {
            algorithm,
            kid: key.kid.clone(),
            header,
            claims,
        })
    }
}

impl RemoteKey {
    /// The key `jwk` describes, or `None` when the caller cannot use it.
    fn from_jwk(jwk: &RawJwk, accepted: &[SigningAlgorithm]) -> Result<Option<Self>, SignerError> {
        if jwk.use_.as_deref().is_some_and(|use_| use_ != "sig") {
            return Ok(None);
        }
        let algorithm = match (jwk.kty.as_deref(), jwk.crv.as_deref()) {
            (Some("RSA"), _) => SigningAlgorithm::Rs256,
            (Some("EC"), Some("P-256")) => SigningAlgorithm::Es256,
            (Some("OKP"), Some("Ed25519")) => SigningAlgorithm::EdDsa,
            _ => return Ok(None),
        };
        // An RSA key published for PS256 or RS512 verifies those only.
        if jwk
            .alg
            .as_deref()
            .is_some_and(|alg| SigningAlgorithm::parse(alg) != Some(algorithm))
            || !accepted.contains(&algorithm)
        {
            return Ok(None);
        }
        let name = jwk.kid.as_deref().unwrap_or("(no kid)");
        fn member<'a>(
            value: &'a Option<String>,
            member: &str,
            name: &str,
        ) -> Result<&'a str, SignerError> {
            value
                .as_deref()
                .ok_or_else(|| invalid_jwks(format!("key {name:?} has no {member}")))
        }
        let bytes = |value: &str, member: &str| {
            URL_SAFE_NO_PAD
                .decode(value)
                .map_err(|_| invalid_jwks(format!("key {name:?}: {member} is not base64url")))
        };
        let sized = |value: &str, member: &str, len: usize| {
            let decoded = bytes(value, member)?;
            if decoded.len() == len {
                Ok(decoded)
            } else {
                Err(invalid_jwks(format!(
                    "key {name:?}: {member} is {} bytes, not {len}",
                    decoded.len()
                )))
            }
        };
        let decoding = match algorithm {
            SigningAlgorithm::Rs256 => {
                let n = bytes(member(&jwk.n, "n", name)?, "n")?;
                let e = bytes(member(&jwk.e, "e", name)?, "e")?;
                let significant = n.iter().skip_while(|byte| **byte == 0).count();
                if significant < MIN_RSA_MODULUS_BYTES {
                    return Ok(None);
                }
                if e.is_empty() {
                    return Err(invalid_jwks(format!("key {name:?}: e is empty")));
                }
                DecodingKey::from_rsa_raw_components(&n, &e)
            }
            SigningAlgorithm::Es256 => {
                let x = sized(member(&jwk.x, "x", name)?, "x", 32)?;
                let y = sized(member(&jwk.y, "y", name)?, "y", 32)?;
                let mut point = Vec::with_capacity(65);
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                DecodingKey::from_ec_der(&point)
            }
            SigningAlgorithm::EdDsa => {
                let x = sized(member(&jwk.x, "x", name)?, "x", 32)?;
                DecodingKey::from_ed_der(&x)
            }
        };
        // jsonwebtoken checks the signature and the header's alg against
        // this key's one algorithm; the claims are checked in
        // `check_claims` against the caller's `now` (jsonwebtoken's own
        // expiry check reads the system clock).
        let mut validation = Validation::new(algorithm.jwt_algorithm());
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.leeway = 0;
        Ok(Some(Self {
            kid: jwk.kid.clone(),
            algorithm,
            decoding,
            validation,
        }))
    }
}

/// The JOSE header of a compact JWS, as a JSON object.
fn decode_header(token: &str) -> Result<Map<String, Value>, SignerError> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("not three dot-separated parts"));
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| malformed("the header is not base64url"))?;
    serde_json::from_slice(&bytes).map_err(|_| malformed("the header is not a JSON object"))
}

/// OpenID Connect Core 3.1.3.7, steps 2 to 5, 9, 10 and 11.
fn check_claims(claims: &Map<String, Value>, expected: &Expected<'_>) -> Result<(), SignerError> {
    match claims.get("iss") {
        Some(Value::String(iss)) if iss == expected.issuer => {}
        _ => return Err(SignerError::WrongIssuer),
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(aud)) => vec![aud.as_str()],
        Some(Value::Array(auds)) => auds.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !audiences.contains(&expected.audience) {
        return Err(SignerError::WrongAudience);
    }
    match claims.get("azp") {
        Some(Value::String(azp)) if azp == expected.audience => {}
        None if audiences.len() == 1 => {}
        _ => return Err(SignerError::WrongAudience),
    }
    let exp = claims
        .get("exp")
        .and_then(Value::as_u64)
        .ok_or(SignerError::MissingExpiry)?;
    if exp.saturating_add(expected.leeway) <= expected.now {
        return Err(SignerError::Expired);
    }
    match claims.get("nbf") {
        None => {}
        Some(nbf) => match nbf.as_u64() {
            Some(nbf) if nbf <= expected.now.saturating_add(expected.leeway) => {}
            _ => return Err(SignerError::NotYetValid),
        },
    }
    if let Some(nonce) = expected.nonce {
        let sent = claims.get("nonce").and_then(Value::as_str).unwrap_or("");
        // Not a secret once the token is out, but compared in constant time
        // all the same: it is what binds the token to this browser.
        if aws_lc_rs::constant_time::verify_slices_are_equal(sent.as_bytes(), nonce.as_bytes())
            .is_err()
        {
            return Err(SignerError::WrongNonce);
        }
    }
    Ok(())
}

/// Shows each key's `kid` and algorithm: never key material.
impl fmt::Debug for JwksVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(
                self.keys
                    .iter()
                    .map(|key| (key.kid.as_deref(), key.algorithm)),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests;
