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
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// Issue time, Unix seconds.
    pub iat: u64,
    /// When the user authenticated, Unix seconds.
    pub auth_time: u64,
    /// Unique token identifier.
    pub jti: String,
    /// The authorization request's nonce, when it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// `sub` and the scope-dependent identity claims.
    #[serde(flatten)]
    pub user: UserClaims,
}
