//! The ID token's claim set (OpenID Connect Core 2).

use porthor_models::UserClaims;
use serde::{Deserialize, Serialize};

/// The claims of an ID token: who authenticated, for whom, and when, plus the
/// identity claims that the granted scopes release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    /// Issuer identifier.
    pub iss: String,
    /// Audience: the client id.
    pub aud: String,
    /// Authorized party: the client id again (OpenID Connect Core 2), so
    /// that relying parties checking it find themselves.
    pub azp: String,
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// Issue time, Unix seconds.
    pub iat: u64,
    /// When the user authenticated, Unix seconds.
    pub auth_time: u64,
    /// Unique token identifier.
    pub jti: String,
    /// Authentication methods: `pwd` (RFC 8176), the only one Porthor has.
    pub amr: Vec<String>,
    /// Half the hash of the access token issued with this ID token
    /// (OpenID Connect Core 3.1.3.6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    /// The authorization request's nonce, when it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// `sub` and the scope-dependent identity claims.
    #[serde(flatten)]
    pub user: UserClaims,
}
