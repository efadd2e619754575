//! The token endpoint's rules (RFC 6749 4.1.3, 5, 6; OpenID Connect Core
//! 3.1.3, 12): code redemption with replay revocation, refresh-token
//! rotation with reuse detection, and the tokens both issue.

use std::fmt;
use std::time::Duration;

use porthor_models::{
    AccessToken, AccessTokenData, AuthorizationCode, Client, CodeState, RecordKey, RefreshFamily,
    RefreshToken, Scope, Scopes, Timestamp, TokenResponse, UserClaims,
};

use crate::telemetry::{AUDIT, events};
use crate::{ClientCredentials, IdTokenClaims, OidcError, OidcService};

/// A token request's parameters as received. Empty values count as absent.
#[derive(Clone, Default)]
pub struct TokenRequest {
    /// The client's credentials, from the `Authorization` header or the form.
    pub client: Option<ClientCredentials>,
    /// `grant_type`.
    pub grant_type: Option<String>,
    /// `code`.
    pub code: Option<String>,
    /// `redirect_uri`.
    pub redirect_uri: Option<String>,
    /// `code_verifier` (RFC 7636 4.5).
    pub code_verifier: Option<String>,
    /// `refresh_token` (RFC 6749 6).
    pub refresh_token: Option<String>,
    /// `scope`, on a refresh: at most what was granted.
    pub scope: Option<String>,
    /// The first single-valued parameter the request repeated, or the
    /// description of another framing error (two authentication methods at
    /// once) that makes the request invalid whatever else it says.
    pub malformed: Option<String>,
}

impl fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |value: &Option<String>| value.as_ref().map(|_| "<redacted>");
        f.debug_struct("TokenRequest")
            .field("client", &self.client)
            .field("grant_type", &self.grant_type)
            .field("code", &redacted(&self.code))
            .field("redirect_uri", &self.redirect_uri)
            .field("code_verifier", &redacted(&self.code_verifier))
            .field("refresh_token", &redacted(&self.refresh_token))
            .field("scope", &self.scope)
            .field("malformed", &self.malformed)
            .finish()
    }
}

/// Why a presented code was refused: logged, never shown to the client,
/// which only learns `invalid_grant`.
const UNKNOWN_CODE: &str = "unknown, used or expired code";
const UNKNOWN_REFRESH_TOKEN: &str = "unknown, revoked or expired refresh token";

/// What a presented refresh token is to its family.
pub(crate) enum RefreshTokenStatus {
    /// The family's newest token; the family is live and its session was
    /// not logged out.
    Current(RefreshFamily),
    /// A token the family issued and has since replaced: a copy is loose.
    Replaced,
    /// The family's newest token, but its login session was logged out.
    LoggedOut,
    /// Anything else: unknown, expired or revoked, or a made-up secret under
    /// a family's key.
    Unknown,
}

/// What a set of tokens is issued for: a redeemed code or a refreshed family.
struct Grant<'a> {
    client_id: &'a str,
    username: &'a str,
    scopes: Scopes,
    auth_time: Timestamp,
    nonce: Option<&'a str>,
    /// Whether the access token belongs to the refresh-token family at its
    /// key's parent.
    refreshable: bool,
    /// Nothing issued outlives this: the login session, or the family.
    ends_at: Timestamp,
}

impl OidcService {
    /// The token endpoint: authenticates the client and runs its grant.
    pub async fn token(
        &self,
        request: TokenRequest,
        now: Timestamp,
    ) -> Result<TokenResponse, OidcError> {
        if let Some(problem) = &request.malformed {
            return Err(OidcError::InvalidRequest(problem.clone()));
        }
        let client = self.authenticate_client(request.client.as_ref()).await?;
        match request.grant_type.as_deref() {
            None => Err(OidcError::invalid_request(
                "the grant_type parameter is missing",
            )),
            Some("authorization_code") => self.redeem_code(client, request, now).await,
            Some("refresh_token") => self.refresh(client, request, now).await,
            Some(_) => Err(OidcError::UnsupportedGrantType),
        }
    }

    /// Redeems an authorization code for tokens (RFC 6749 4.1.3).
    ///
    /// The code's record is swapped for a "redeemed" marker before any
    /// check, so a code is spent by its first presentation whatever the
    /// outcome, and of two racing redemptions at most one sees it. The
    /// marker names the tokens the redemption issues, so that a replay of
    /// the code revokes them (RFC 6749 4.1.2).
    pub async fn redeem_code(
        &self,
        client: &Client,
        request: TokenRequest,
        now: Timestamp,
    ) -> Result<TokenResponse, OidcError> {
        let code = request
            .code
            .ok_or_else(|| OidcError::invalid_request("the code parameter is missing"))?;
        let refused = |reason: &'static str| {
            tracing::info!(target: AUDIT, outcome = "refused", client.id = %client.client_id, reason, "authorization code refused");
            OidcError::InvalidGrant(reason)
        };
        // Every refusal but a genuine replay, which counts as one.
        let refuse = |reason: &'static str| {
            crate::telemetry::code("refused", self.client_label(&client.client_id));
            refused(reason)
        };
        let code = AuthorizationCode::parse(&code).map_err(|_| refuse("malformed code"))?;
        if request.redirect_uri.is_none() {
            self.check_redirect_uri_optional(code.key()).await?;
        }
        // Codes are always linked to their session, and their tokens to them.
        let access_token =
            AccessToken::generate_linked(code.key()).ok_or_else(|| refuse("malformed code"))?;
        let redeemed = CodeState::Redeemed {
            secret_hash: code.secret_hash(),
            access_token: access_token.key().clone(),
        };
        // The swap and the session read in one round trip.
        let (previous, session) = self
            .inner
            .store
            .redeem_code_with_session(code.key(), &redeemed)
            .await?;
        let authorization = match previous {
            None => return Err(refuse(UNKNOWN_CODE)),
            Some(CodeState::Issued(authorization)) => authorization,
            Some(previous @ CodeState::Redeemed { .. }) => {
                let user = session.map(|session| session.username);
                return Err(
                    if self.code_replayed(client, &code, previous, user).await? {
                        refused(UNKNOWN_CODE)
                    } else {
                        refuse(UNKNOWN_CODE)
                    },
                );
            }
        };
        if !authorization.secret_hash.verify(&code.secret_hash()) {
            return Err(refuse(UNKNOWN_CODE));
        }
        if authorization.expires_at <= now {
            return Err(refuse(UNKNOWN_CODE));
        }
        if authorization.client_id != client.client_id {
            return Err(refuse("code was issued to another client"));
        }
        // RFC 6749 4.1.3: required if the request had it, and then equal.
        // A request that omitted it used the client's only URI, which a
        // token request may still name.
        match request.redirect_uri.as_deref() {
            Some(uri) if uri == authorization.redirect_uri => {}
            None if !authorization.redirect_uri_sent => {}
            // The peek above has answered this already, unless the record
            // was unreadable then.
            None => return Err(refuse("redirect_uri missing")),
            Some(_) => {
                return Err(refuse(
                    "redirect_uri does not match the authorization request",
                ));
            }
        }
        // RFC 7636 4.6: a challenge must be answered, and a verifier for a
        // code issued without one is as wrong as a mismatch.
        match (
            &authorization.code_challenge,
            request.code_verifier.as_deref(),
        ) {
            (None, None) => {}
            (Some(challenge), Some(verifier)) if challenge.verify(verifier) => {}
            (Some(_), Some(_)) => {
                return Err(refuse("code_verifier does not match the code_challenge"));
            }
            (Some(_), None) => return Err(refuse("code_verifier missing for a PKCE code")),
            (None, Some(_)) => {
                return Err(refuse("code_verifier sent for a code issued without PKCE"));
            }
        }
        // The session read is the one the code's key names; the record must
        // agree (its storage key, and so its encryption, already bind it).
        let linked = code
            .key()
            .session()
            .is_some_and(|key| key == authorization.session_key);
        let Some(session) = session.filter(|session| linked && session.expires_at > now) else {
            return Err(refuse("the login session has ended"));
        };

        let refresh_token = (authorization.scopes.contains(Scope::OfflineAccess)
            || client.always_issue_refresh_token)
            .then(|| RefreshToken::with_key(code.key().clone()));
        if let Some(refresh_token) = &refresh_token {
            self.start_family(
                refresh_token,
                RefreshFamily {
                    secret_hash: refresh_token.secret_hash(),
                    retired: Vec::new(),
                    client_id: client.client_id.clone(),
                    session_key: authorization.session_key.clone(),
                    username: authorization.username.clone(),
                    scopes: authorization.scopes,
                    auth_time: authorization.auth_time,
                    issued_at: now,
                    expires_at: now.after(self.inner.lifetimes.refresh_token),
                    idle_expires_at: now.after(self.inner.lifetimes.refresh_token_idle),
                },
                now,
            )
            .await?;
        }
        let grant = Grant {
            client_id: &client.client_id,
            username: &authorization.username,
            scopes: authorization.scopes,
            auth_time: authorization.auth_time,
            nonce: authorization.nonce.as_deref(),
            refreshable: refresh_token.is_some(),
            ends_at: session.expires_at,
        };
        let response = self
            .issue_token(&grant, access_token, refresh_token, now)
            .await?;
        tracing::info!(target: AUDIT, user = %authorization.username, client.id = %client.client_id, scope = %authorization.scopes, refresh = grant.refreshable, outcome = "redeemed", "authorization code redeemed");
        let client_label = self.client_label(&client.client_id);
        crate::telemetry::code("redeemed", client_label);
        crate::telemetry::token_issued("authorization_code", client_label);
        Ok(response)
    }

    /// RFC 6749 4.1.3 requires `redirect_uri` if the authorization request
    /// had it. Whether it did is in the code's record, so a request without
    /// one peeks at it first: a request missing a required parameter is
    /// invalid and must not spend the code.
    async fn check_redirect_uri_optional(&self, code: &RecordKey) -> Result<(), OidcError> {
        match self.inner.store.codes().get(code).await? {
            Some(CodeState::Issued(authorization)) if authorization.redirect_uri_sent => Err(
                OidcError::invalid_request("the redirect_uri parameter is missing"),
            ),
            _ => Ok(()),
        }
    }

    /// A code presented again: if it is the genuine code, revoke what its
    /// first redemption issued. Either way put the first marker back, so
    /// that a forged presentation cannot erase what a later genuine replay
    /// needs to revoke. Whether it was the genuine code. `session_user` is
    /// the user of the code's login session, if it still lives: the audit
    /// event names the user from what is revoked, or else from it.
    async fn code_replayed(
        &self,
        client: &Client,
        code: &AuthorizationCode,
        first: CodeState,
        session_user: Option<String>,
    ) -> Result<bool, OidcError> {
        let store = &self.inner.store;
        let key = code.key();
        let CodeState::Redeemed {
            secret_hash,
            access_token,
        } = &first
        else {
            return Ok(false);
        };
        let genuine = secret_hash.verify(&code.secret_hash());
        if genuine {
            // Taken rather than deleted (one command either way), to name
            // their user in the audit event.
            let (token, family) = tokio::try_join!(
                store.access_tokens().take(access_token),
                store.refresh_families().take(key),
            )?;
            let user = token
                .map(|token| token.username)
                .or_else(|| family.map(|family| family.username))
                .or(session_user);
            tracing::warn!(target: AUDIT, event = events::CODE_REPLAYED, outcome = "revoked", client.id = %client.client_id, user = user.as_deref().unwrap_or("unknown"), "authorization code replayed; the tokens issued from it are revoked");
            crate::telemetry::code("replayed", self.client_label(&client.client_id));
        }
        store.codes().replace(key, &first, None).await?;
        Ok(genuine)
    }

    /// Stores a new refresh-token family, and keeps its login session's
    /// record for as long as the family may live: the family ends when the
    /// session is logged out, which needs the record to still be there to
    /// delete. The user index, which must list the record as long as it
    /// lives, is kept as long.
    async fn start_family(
        &self,
        token: &RefreshToken,
        family: RefreshFamily,
        now: Timestamp,
    ) -> Result<(), OidcError> {
        let store = &self.inner.store;
        let anchored = now.until(family.expires_at);
        tokio::try_join!(
            store
                .refresh_families()
                .create(token.key(), &family, now.until(family.ends_at())),
            store.sessions().extend(&family.session_key, anchored),
            store.user_index().extend(&family.username, anchored),
        )?;
        Ok(())
    }

    /// Exchanges a refresh token for new tokens (RFC 6749 6), rotating it.
    ///
    /// Only the newest token of a family is accepted. Any other token of the
    /// family, presented by anyone, means a copy is in someone else's hands,
    /// so the whole family is revoked, access tokens included (OAuth 2.0
    /// Security BCP 4.14.2). Two refreshes racing with the same token count
    /// as reuse too: the family ends, and the client logs in again.
    pub async fn refresh(
        &self,
        client: &Client,
        request: TokenRequest,
        now: Timestamp,
    ) -> Result<TokenResponse, OidcError> {
        let token = request
            .refresh_token
            .ok_or_else(|| OidcError::invalid_request("the refresh_token parameter is missing"))?;
        let refuse = |reason: &'static str| {
            tracing::info!(target: AUDIT, outcome = "refused", client.id = %client.client_id, reason, "refresh token refused");
            OidcError::InvalidGrant(reason)
        };
        let token = RefreshToken::parse(&token).map_err(|_| refuse("malformed refresh token"))?;
        let key = token.key();
        let family = match self.refresh_token_status(&token, now).await? {
            RefreshTokenStatus::Current(family) => family,
            RefreshTokenStatus::Replaced => {
                self.revoke_family(key, client, "refresh token reused")
                    .await?;
                return Err(refuse("refresh token reused; its family is revoked"));
            }
            RefreshTokenStatus::LoggedOut => {
                return Err(refuse("the login session was logged out"));
            }
            RefreshTokenStatus::Unknown => return Err(refuse(UNKNOWN_REFRESH_TOKEN)),
        };
        if family.client_id != client.client_id {
            self.revoke_family(key, client, "refresh token presented by another client")
                .await?;
            return Err(refuse("refresh token was issued to another client"));
        }
        // Before the rotation: a user a reload removed keeps nothing.
        if !self.is_user(&family.username) {
            return Err(refuse("user no longer configured"));
        }
        let presented = token.secret_hash();
        let scopes = match request.scope.as_deref() {
            None => family.scopes,
            Some(text) => match Scopes::parse_known(text) {
                Some(scopes) if family.scopes.contains_all(scopes) => scopes,
                _ => {
                    return Err(OidcError::InvalidScope(
                        "a refresh may only ask for scopes that were granted",
                    ));
                }
            },
        };

        let next = RefreshToken::with_key(key.clone());
        let renewed = RefreshFamily {
            issued_at: now,
            idle_expires_at: now.after(self.inner.lifetimes.refresh_token_idle),
            ..family
        }
        .rotated(next.secret_hash());
        // Swap in the new hash atomically and check that the old one is what
        // was replaced: if another refresh rotated the family in between,
        // this token had already been used.
        let previous = self
            .inner
            .store
            .refresh_families()
            .replace(key, &renewed, Some(now.until(renewed.ends_at())))
            .await?;
        if previous.is_none_or(|previous| !previous.secret_hash.verify(&presented)) {
            self.revoke_family(key, client, "refresh token used twice at once")
                .await?;
            return Err(refuse("refresh token reused; its family is revoked"));
        }
        let grant = Grant {
            client_id: &renewed.client_id,
            username: &renewed.username,
            scopes,
            auth_time: renewed.auth_time,
            // OpenID Connect Core 12.2: a refreshed ID token has no nonce.
            nonce: None,
            refreshable: true,
            ends_at: renewed.ends_at(),
        };
        let access_token = AccessToken::generate_linked(key)
            .ok_or_else(|| OidcError::Internal("refresh token key is not a code key".into()))?;
        let response = self
            .issue_token(&grant, access_token, Some(next), now)
            .await?;
        tracing::info!(target: AUDIT, user = %renewed.username, client.id = %client.client_id, scope = %scopes, outcome = "refreshed", "refresh token rotated");
        crate::telemetry::token_issued("refresh_token", self.client_label(&client.client_id));
        Ok(response)
    }

    /// What `token` is to its family: the one rule for whether a refresh
    /// token is live, shared by the token endpoint, revocation and
    /// introspection.
    pub(crate) async fn refresh_token_status(
        &self,
        token: &RefreshToken,
        now: Timestamp,
    ) -> Result<RefreshTokenStatus, OidcError> {
        let key = token.key();
        let (family, session) = self.inner.store.refresh_family_with_session(key).await?;
        let Some(family) = family.filter(|family| family.ends_at() > now) else {
            return Ok(RefreshTokenStatus::Unknown);
        };
        let presented = token.secret_hash();
        if !family.secret_hash.verify(&presented) {
            // Only a token the family really issued proves a copy is loose;
            // anyone who has seen a code or access token knows the key.
            return Ok(if family.is_retired(&presented) {
                RefreshTokenStatus::Replaced
            } else {
                RefreshTokenStatus::Unknown
            });
        }
        // The family needs its login session's record, which outlives the
        // browser login for as long as the family may live: its absence
        // means a logout.
        let linked = key
            .session()
            .is_some_and(|session| session == family.session_key);
        Ok(if linked && session.is_some() {
            RefreshTokenStatus::Current(family)
        } else {
            RefreshTokenStatus::LoggedOut
        })
    }

    /// Ends a refresh-token family and, with it, every access token in it.
    pub(crate) async fn revoke_family(
        &self,
        key: &RecordKey,
        client: &Client,
        reason: &'static str,
    ) -> Result<(), OidcError> {
        // Taken rather than deleted (one command either way), to name its
        // user in the audit event.
        let family = self.inner.store.refresh_families().take(key).await?;
        let user = family
            .as_ref()
            .map_or("unknown", |family| family.username.as_str());
        let label = match reason {
            "refresh token reused" => "reuse",
            "refresh token presented by another client" => "other_client",
            "refresh token used twice at once" => "concurrent_use",
            "revoked by its client" => "revocation",
            _ => "other",
        };
        let event = if label == "revocation" {
            events::REFRESH_FAMILY_REVOKED
        } else {
            events::REFRESH_TOKEN_REUSED
        };
        tracing::warn!(target: AUDIT, event, outcome = "revoked", client.id = %client.client_id, user, reason, "refresh token family revoked");
        crate::telemetry::family_revoked(label);
        Ok(())
    }

    /// Issues an ID token and an access token (and hands out the refresh
    /// token, already stored) for a grant. None outlives the grant's end.
    async fn issue_token(
        &self,
        grant: &Grant<'_>,
        access_token: AccessToken,
        refresh_token: Option<RefreshToken>,
        now: Timestamp,
    ) -> Result<TokenResponse, OidcError> {
        let user = self.inner.users.get(grant.username).ok_or_else(|| {
            tracing::info!(client.id = %grant.client_id, user = %grant.username, outcome = "refused", reason = "user no longer configured", "token request refused");
            OidcError::InvalidGrant("user no longer configured")
        })?;
        let left = now.until(grant.ends_at);
        let lifetimes = &self.inner.lifetimes;
        let access_lifetime = lifetimes.access_token.min(left);
        let id_lifetime = lifetimes.id_token.min(left);

        let access_token_text = access_token.expose();
        let id_token = if grant.scopes.contains(Scope::OpenId) {
            let claims = IdTokenClaims {
                iss: self.inner.issuer.as_str().to_owned(),
                aud: grant.client_id.to_owned(),
                azp: grant.client_id.to_owned(),
                amr: vec!["pwd".to_owned()],
                at_hash: Some(self.inner.signer.token_hash(&access_token_text)),
                exp: now.after(id_lifetime).as_unix(),
                iat: now.as_unix(),
                auth_time: grant.auth_time.as_unix(),
                jti: RecordKey::random().as_str().to_owned(),
                nonce: grant.nonce.map(str::to_owned),
                user: UserClaims::for_scopes(user, grant.scopes),
            };
            let signed = self
                .inner
                .signer
                .sign(&claims)
                .map_err(|e| OidcError::Internal(e.into()))?;
            Some(signed)
        } else {
            None
        };

        let data = AccessTokenData {
            secret_hash: access_token.secret_hash(),
            client_id: grant.client_id.to_owned(),
            session_key: access_token
                .key()
                .session()
                .ok_or_else(|| OidcError::Internal("access token key is not linked".into()))?,
            refreshable: grant.refreshable,
            username: grant.username.to_owned(),
            scopes: grant.scopes,
            issued_at: now,
            expires_at: now.after(access_lifetime),
        };
        self.inner
            .store
            .access_tokens()
            .create(access_token.key(), &data, access_lifetime)
            .await?;
        Ok(TokenResponse {
            access_token: access_token_text,
            token_type: "Bearer",
            expires_in: whole_seconds(access_lifetime),
            id_token,
            refresh_token: refresh_token.map(|token| token.expose()),
            scope: grant.scopes.to_string(),
        })
    }
}

/// `expires_in` in whole seconds, never rounding a live token down to zero.
pub(crate) fn whole_seconds(duration: Duration) -> u64 {
    duration.as_secs().max(1)
}
