//! The records kept in the authorization store: one per live credential,
//! and one per remembered consent.
//!
//! A credential's record holds the hash of its secret, never the secret.
//! Every record carries its own expiry, so that one outliving its storage
//! TTL is still refused.

use serde::{Deserialize, Serialize};

use crate::{CodeChallenge, RecordKey, Scopes, SecretHash, Timestamp};

/// What an authorization code stands for, from issue to redemption.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Authorization {
    /// Hash of the code's secret.
    pub secret_hash: SecretHash,
    /// The client the code was issued to.
    pub client_id: String,
    /// The redirect URI the code is delivered to: the request's, exactly as
    /// sent, or the client's only one when the request named none.
    pub redirect_uri: String,
    /// Whether the request named `redirect_uri` (RFC 6749 4.1.3: then the
    /// token request must repeat it).
    pub redirect_uri_sent: bool,
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

/// What is stored at a code's key: the authorization until the code is
/// redeemed, then a marker naming what the redemption issued, kept for the
/// rest of the code's life so that a replay can revoke it (RFC 6749 4.1.2).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CodeState {
    /// Issued and not yet presented.
    Issued(Authorization),
    /// Presented once. The grant the code started (its refresh-token family)
    /// is at the code's own key, so only the first access token is named.
    Redeemed {
        /// Hash of the code's secret, so that only the genuine code's replay
        /// revokes anything.
        secret_hash: SecretHash,
        /// The access token key issued by the first redemption (if it
        /// succeeded; otherwise a key that was never used).
        access_token: RecordKey,
    },
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
    /// Whether the token belongs to the refresh-token family at its key's
    /// parent, and dies with that family too. Absent from tokens issued
    /// before refresh tokens existed, which belong to none.
    #[serde(default)]
    pub refreshable: bool,
    /// The user the token speaks for.
    pub username: String,
    /// The granted scopes.
    pub scopes: Scopes,
    /// When the token was issued.
    pub issued_at: Timestamp,
    /// When the token expires.
    pub expires_at: Timestamp,
}

/// A refresh-token family: one grant, renewed by rotating refresh tokens.
///
/// Stored at the key of the code that started it. Only the newest refresh
/// token is accepted; presenting one it replaced (a rotated token, replayed)
/// ends the family and every access token in it. A made-up secret under
/// the family's key is merely refused: keys are not secrets.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshFamily {
    /// Hash of the current refresh token's secret.
    pub secret_hash: SecretHash,
    /// Hashes of the tokens it replaced, newest first, at most
    /// [`RefreshFamily::RETIRED_KEPT`].
    #[serde(default)]
    pub retired: Vec<SecretHash>,
    /// The client the family belongs to.
    pub client_id: String,
    /// The login session it started from; logging out ends the family.
    pub session_key: RecordKey,
    /// The user the tokens speak for.
    pub username: String,
    /// The scopes originally granted; a refresh may ask for fewer.
    pub scopes: Scopes,
    /// When the user authenticated.
    pub auth_time: Timestamp,
    /// When the current refresh token was issued.
    pub issued_at: Timestamp,
    /// When the family ends, however actively it is used.
    pub expires_at: Timestamp,
    /// When the family ends unless a refresh comes first.
    pub idle_expires_at: Timestamp,
}

impl RefreshFamily {
    /// How many replaced tokens are remembered for reuse detection: a
    /// stolen token is reused within a refresh or two of the theft, and the
    /// record stays small.
    pub const RETIRED_KEPT: usize = 8;

    /// Whether `presented` is one of the tokens the family replaced.
    pub fn is_retired(&self, presented: &SecretHash) -> bool {
        self.retired.iter().any(|hash| hash.verify(presented))
    }

    /// The family with `next` as its current token, the current one retired.
    pub fn rotated(mut self, next: SecretHash) -> Self {
        self.retired.insert(0, self.secret_hash);
        self.retired.truncate(Self::RETIRED_KEPT);
        self.secret_hash = next;
        self
    }

    /// When the family ends: the earlier of its two deadlines.
    pub fn ends_at(&self) -> Timestamp {
        self.expires_at.min(self.idle_expires_at)
    }
}

/// A user's approval of what a client asked for, remembered so that the
/// client's later requests for no more than that do not ask again.
///
/// Stored at the key [`crate::AuthorizationStore::consent_key`] derives from
/// the user and the client; it names both again, so that a record is only
/// ever taken for the pair it was made for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConsentGrant {
    /// The user who approved.
    pub username: String,
    /// The client approved.
    pub client_id: String,
    /// Exactly the scopes shown on the consent page the user approved.
    pub scopes: Scopes,
    /// When the user approved.
    pub granted_at: Timestamp,
    /// When the approval lapses and the user is asked again.
    pub expires_at: Timestamp,
}
