//! What issued tokens are good for after the token endpoint: userinfo
//! (OpenID Connect Core 5.3), revocation (RFC 7009) and introspection
//! (RFC 7662).

use std::fmt;

use porthor_models::{
    AccessToken, AccessTokenData, Introspection, RecordKey, RefreshFamily, RefreshToken, Timestamp,
    UserClaims,
};

use crate::telemetry::AUDIT;
use crate::token::RefreshTokenStatus;
use crate::{ClientCredentials, OidcError, OidcService};

/// A revocation or introspection request as received.
#[derive(Clone, Default)]
pub struct TokenQuery {
    /// The client's credentials, from the `Authorization` header or the form.
    pub client: Option<ClientCredentials>,
    /// `token`.
    pub token: Option<String>,
    /// A framing error that makes the request invalid, as in
    /// [`crate::TokenRequest::malformed`].
    pub malformed: Option<String>,
}

impl fmt::Debug for TokenQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenQuery")
            .field("client", &self.client)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("malformed", &self.malformed)
            .finish()
    }
}

/// A live token, found by its text, with its key.
enum LiveToken {
    Access(RecordKey, AccessTokenData),
    Refresh(RecordKey, RefreshFamily),
}

impl OidcService {
    /// The claims an access token releases (OpenID Connect Core 5.3): exactly
    /// those its scopes allow. The token must be live, and so must the grant
    /// it was issued under.
    pub async fn userinfo(&self, bearer: &str, now: Timestamp) -> Result<UserClaims, OidcError> {
        let token =
            AccessToken::parse(bearer).map_err(|_| OidcError::InvalidToken("malformed token"))?;
        let data = self
            .live_access_token(&token, now)
            .await?
            .ok_or(OidcError::InvalidToken("unknown, expired or revoked token"))?;
        let user = self
            .inner
            .users
            .get(&data.username)
            .ok_or(OidcError::InvalidToken("user no longer configured"))?;
        Ok(UserClaims::for_scopes(user, data.scopes))
    }

    /// The access token's record if the token is live: its own record is
    /// there, matches and has not expired, its login session has not been
    /// logged out (nor, for a token without a refresh-token family, simply
    /// expired), and its family, if it has one, has not been revoked.
    async fn live_access_token(
        &self,
        token: &AccessToken,
        now: Timestamp,
    ) -> Result<Option<AccessTokenData>, OidcError> {
        let (data, session, family) = self
            .inner
            .store
            .access_token_with_grant(token.key())
            .await?;
        // A token of a client or user a reload removed is dead too: it is
        // checked against the configuration at hand, not the one it was
        // issued under.
        let Some(data) = data.filter(|data| {
            data.secret_hash.verify(&token.secret_hash())
                && data.expires_at > now
                && self.is_valid_client(&data.client_id)
                && self.is_user(&data.username)
        }) else {
            return Ok(None);
        };
        let key = token.key();
        if key
            .session()
            .is_none_or(|session| session != data.session_key)
        {
            return Ok(None);
        }
        let grant_live = if data.refreshable {
            // The session record outlives the browser login while a family
            // needs it; its presence says nobody logged out.
            session.is_some()
                && family.is_some_and(|family| {
                    family.ends_at() > now
                        && family.client_id == data.client_id
                        && family.session_key == data.session_key
                })
        } else {
            session.is_some_and(|session| session.expires_at > now)
        };
        Ok(grant_live.then_some(data))
    }

    async fn live_token(&self, text: &str, now: Timestamp) -> Result<Option<LiveToken>, OidcError> {
        if let Ok(token) = AccessToken::parse(text) {
            let data = self.live_access_token(&token, now).await?;
            return Ok(data.map(|data| LiveToken::Access(token.key().clone(), data)));
        }
        if let Ok(token) = RefreshToken::parse(text) {
            return Ok(match self.refresh_token_status(&token, now).await? {
                RefreshTokenStatus::Current(family)
                    if self.is_valid_client(&family.client_id)
                        && self.is_user(&family.username) =>
                {
                    Some(LiveToken::Refresh(token.key().clone(), family))
                }
                _ => None,
            });
        }
        Ok(None)
    }

    /// Revokes an access or refresh token (RFC 7009). The client must be the
    /// one the token was issued to. Revoking a refresh token ends its family,
    /// access tokens included; revoking an access token ends only it.
    ///
    /// Whatever the token (unknown, expired, another client's, already
    /// revoked) the answer is the same success, so that the endpoint tells
    /// nobody anything about tokens they do not hold (RFC 7009 2.2).
    pub async fn revoke(&self, query: TokenQuery, now: Timestamp) -> Result<(), OidcError> {
        if let Some(problem) = query.malformed {
            return Err(OidcError::InvalidRequest(problem));
        }
        let client = self.authenticate_client(query.client.as_ref()).await?;
        let text = query
            .token
            .ok_or_else(|| OidcError::invalid_request("the token parameter is missing"))?;
        let store = &self.inner.store;
        let revoked = match self.live_token(&text, now).await? {
            Some(LiveToken::Access(key, data)) if data.client_id == client.client_id => {
                store.access_tokens().delete(&key).await?;
                "access token"
            }
            Some(LiveToken::Refresh(key, family)) if family.client_id == client.client_id => {
                self.revoke_family(&key, client, "revoked by its client")
                    .await?;
                "refresh token"
            }
            Some(_) => {
                tracing::info!(client.id = %client.client_id, outcome = "ignored", reason = "token of another client", "revocation ignored");
                return Ok(());
            }
            None => return Ok(()),
        };
        tracing::info!(target: AUDIT, token = revoked, client.id = %client.client_id, outcome = "revoked", "token revoked");
        Ok(())
    }

    /// Introspects a token for a resource server (RFC 7662), which
    /// authenticates as a confidential client. Anything but a live token is
    /// just `{"active": false}`, and so is another client's token unless the
    /// caller may introspect any (`introspect_any`, a resource server): a
    /// client learns nothing about tokens that are not its own.
    pub async fn introspect(
        &self,
        query: TokenQuery,
        now: Timestamp,
    ) -> Result<Introspection, OidcError> {
        if let Some(problem) = query.malformed {
            return Err(OidcError::InvalidRequest(problem));
        }
        let caller = self
            .authenticate_confidential_client(query.client.as_ref())
            .await?;
        let text = query
            .token
            .ok_or_else(|| OidcError::invalid_request("the token parameter is missing"))?;
        let (token_type, client_id, username, scopes, iat, exp) =
            match self.live_token(&text, now).await? {
                None => return Ok(Introspection::default()),
                Some(LiveToken::Access(_, data)) => (
                    "Bearer",
                    data.client_id,
                    data.username,
                    data.scopes,
                    data.issued_at,
                    data.expires_at,
                ),
                Some(LiveToken::Refresh(_, family)) => (
                    "refresh_token",
                    family.client_id.clone(),
                    family.username.clone(),
                    family.scopes,
                    family.issued_at,
                    family.ends_at(),
                ),
            };
        if client_id != caller.client_id && !caller.introspect_any {
            tracing::info!(client.id = %caller.client_id, outcome = "inactive", reason = "token of another client", "introspection of another client's token");
            return Ok(Introspection::default());
        }
        Ok(Introspection {
            active: true,
            scope: Some(scopes.to_string()),
            aud: Some(client_id.clone()),
            client_id: Some(client_id),
            sub: Some(username.clone()),
            username: Some(username),
            token_type: Some(token_type.to_owned()),
            exp: Some(exp.as_unix()),
            iat: Some(iat.as_unix()),
            iss: Some(self.inner.issuer.as_str().to_owned()),
        })
    }
}
