//! The records kept in the authorization store, one per live credential.
//!
//! Each holds the hash of its credential's secret, never the secret, and its
//! own expiry so that a record outliving its storage TTL is still refused.

use serde::{Deserialize, Serialize};

use crate::{CodeChallenge, RecordKey, Scopes, SecretHash, Timestamp};

/// What an authorization code stands for, from issue to redemption.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Authorization {
    /// Hash of the code's secret.
    pub secret_hash: SecretHash,
    /// The client the code was issued to.
    pub client_id: String,
    /// The redirect URI of the request, exactly as sent.
    pub redirect_uri: String,
    /// The login session the user authenticated with.
    pub session_key: RecordKey,
    /// The authenticated user.
    pub username: String,
    /// The granted scopes.
    pub scopes: Scopes,
    /// The request's `nonce`, echoed in the ID token.
    pub nonce: Option<String>,
    /// The request's PKCE challenge, which the redemption must answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_challenge: Option<CodeChallenge>,
    /// When the user authenticated.
    pub auth_time: Timestamp,
    /// When the code stops being redeemable.
    pub expires_at: Timestamp,
}

/// A browser's login session, named by the session cookie.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionData {
    /// Hash of the session token's secret.
    pub secret_hash: SecretHash,
    /// The authenticated user.
    pub username: String,
    /// When the user authenticated.
    pub auth_time: Timestamp,
    /// When the session ends.
    pub expires_at: Timestamp,
}

/// What an opaque access token grants.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessTokenData {
    /// Hash of the token's secret.
    pub secret_hash: SecretHash,
    /// The client the token was issued to.
    pub client_id: String,
    /// The login session behind it; the token dies with the session.
    pub session_key: RecordKey,
    /// The user the token speaks for.
    pub username: String,
    /// The granted scopes.
    pub scopes: Scopes,
    /// When the token was issued.
    pub issued_at: Timestamp,
    /// When the token expires.
    pub expires_at: Timestamp,
}
