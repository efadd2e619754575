//! The token and userinfo endpoints' rules (RFC 6749 4.1.3, 5; OpenID
//! Connect Core 3.1.3, 5.3): client authentication, code redemption, token
//! issue and the claims an access token releases.

use std::fmt;
use std::time::Duration;

use porthor_models::{
    AccessToken, AccessTokenData, Authorization, AuthorizationCode, Client, RecordKey, SessionData,
    Timestamp, TokenResponse, UserClaims,
};

use crate::error::or_if_corrupt;
use crate::{IdTokenClaims, OidcError, OidcService};

/// The credentials a client presented, by either method (RFC 6749 2.3.1).
#[derive(Clone)]
pub struct ClientCredentials {
    /// The client id.
    pub client_id: String,
    /// The client secret; `None` when the client sent only its id.
    pub client_secret: Option<String>,
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

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
    /// The first single-valued parameter the request repeated, or the
    /// description of another framing error (two authentication methods at
    /// once) that makes the request invalid whatever else it says.
    pub malformed: Option<String>,
}

impl fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRequest")
            .field("client", &self.client)
            .field("grant_type", &self.grant_type)
            .field("code", &self.code.as_ref().map(|_| "<redacted>"))
            .field("redirect_uri", &self.redirect_uri)
            .field(
                "code_verifier",
                &self.code_verifier.as_ref().map(|_| "<redacted>"),
            )
            .field("malformed", &self.malformed)
            .finish()
    }
}

/// Why a presented code was refused: logged, never shown to the client,
/// which only learns `invalid_grant`.
const UNKNOWN_CODE: &str = "unknown, used or expired code";

impl OidcService {
    /// Authenticates a client by id and secret. An unknown id costs the same
    /// hash as a wrong secret and gets the same error, so neither the answer
    /// nor its timing tells whether a client exists.
    pub fn authenticate_client(
        &self,
        credentials: Option<&ClientCredentials>,
    ) -> Result<&Client, OidcError> {
        let Some(credentials) = credentials else {
            return Err(OidcError::InvalidClient);
        };
        let client = self.inner.clients.get(&credentials.client_id);
        let hash = client.map_or(&self.inner.dummy_client_secret, |client| {
            &client.secret_hash
        });
        let secret = credentials.client_secret.as_deref().unwrap_or_default();
        match client {
            Some(client) if hash.verify(secret) => Ok(client),
            _ => {
                tracing::info!(client.id = %credentials.client_id, outcome = "refused", reason = "client authentication failed", "token request refused");
                Err(OidcError::InvalidClient)
            }
        }
    }

    /// Redeems an authorization code for tokens (RFC 6749 4.1.3).
    ///
    /// The code's record is taken (read and deleted atomically) before any
    /// check, so a code is spent by its first presentation whatever the
    /// outcome, and of two racing redemptions at most one sees it.
    pub async fn redeem_code(
        &self,
        request: TokenRequest,
        now: Timestamp,
    ) -> Result<TokenResponse, OidcError> {
        if let Some(problem) = request.malformed {
            return Err(OidcError::InvalidRequest(problem));
        }
        let client = self.authenticate_client(request.client.as_ref())?;
        match request.grant_type.as_deref() {
            None => {
                return Err(OidcError::invalid_request(
                    "the grant_type parameter is missing",
                ));
            }
            Some("authorization_code") => {}
            Some(_) => return Err(OidcError::UnsupportedGrantType),
        }
        let code_verifier = request.code_verifier;
        let code = request
            .code
            .ok_or_else(|| OidcError::invalid_request("the code parameter is missing"))?;
        let redirect_uri = request
            .redirect_uri
            .ok_or_else(|| OidcError::invalid_request("the redirect_uri parameter is missing"))?;

        let refuse = |reason: &'static str| {
            tracing::info!(client.id = %client.client_id, outcome = "refused", reason, "authorization code refused");
            OidcError::InvalidGrant(reason)
        };
        let code = AuthorizationCode::parse(&code).map_err(|_| refuse("malformed code"))?;
        // The code and its session in one round trip; a corrupt record (the
        // code or the session) is logged and refused like a missing one.
        let (authorization, session) = or_if_corrupt(
            self.inner.store.take_code_with_session(code.key()).await,
            || Ok((None, None)),
        )?;
        let Some(authorization) = authorization else {
            return Err(refuse(UNKNOWN_CODE));
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
        if authorization.redirect_uri != redirect_uri {
            return Err(refuse(
                "redirect_uri does not match the authorization request",
            ));
        }
        // RFC 7636 4.6: a challenge must be answered, and a verifier for a
        // code issued without one is as wrong as a mismatch.
        match (&authorization.code_challenge, code_verifier.as_deref()) {
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
        let response = self.issue_token(&authorization, &session, now).await?;
        tracing::info!(client.id = %client.client_id, user = %authorization.username, scope = %authorization.scopes, outcome = "redeemed", "authorization code redeemed");
        Ok(response)
    }

    /// Issues an ID token and an access token for a redeemed authorization.
    /// Neither outlives the login session behind it.
    pub async fn issue_token(
        &self,
        authorization: &Authorization,
        session: &SessionData,
        now: Timestamp,
    ) -> Result<TokenResponse, OidcError> {
        let user = self.inner.users.get(&authorization.username).ok_or_else(|| {
            tracing::info!(client.id = %authorization.client_id, user = %authorization.username, outcome = "refused", reason = "user no longer configured", "authorization code refused");
            OidcError::InvalidGrant("user no longer configured")
        })?;
        let session_left = now.until(session.expires_at);
        let lifetimes = &self.inner.lifetimes;
        let access_lifetime = lifetimes.access_token.min(session_left);
        let id_lifetime = lifetimes.id_token.min(session_left);

        let access_token = AccessToken::generate_linked(&authorization.session_key)
            .ok_or_else(|| OidcError::Internal("session key is not a plain record key".into()))?;
        let access_token_text = access_token.expose();
        let claims = IdTokenClaims {
            iss: self.inner.issuer.as_str().to_owned(),
            aud: authorization.client_id.clone(),
            azp: authorization.client_id.clone(),
            amr: vec!["pwd".to_owned()],
            at_hash: Some(self.inner.signer.token_hash(&access_token_text)),
            exp: now.after(id_lifetime).as_unix(),
            iat: now.as_unix(),
            auth_time: authorization.auth_time.as_unix(),
            jti: RecordKey::random().as_str().to_owned(),
            nonce: authorization.nonce.clone(),
            user: UserClaims::for_scopes(user, authorization.scopes),
        };
        let id_token = self
            .inner
            .signer
            .sign(&claims)
            .map_err(|e| OidcError::Internal(e.into()))?;

        let data = AccessTokenData {
            secret_hash: access_token.secret_hash(),
            client_id: authorization.client_id.clone(),
            session_key: authorization.session_key.clone(),
            username: authorization.username.clone(),
            scopes: authorization.scopes,
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
            scope: authorization.scopes.to_string(),
        })
    }

    /// The claims an access token releases (OpenID Connect Core 5.3): exactly
    /// those its scopes allow. The token must be live, and so must the login
    /// session it was issued under.
    pub async fn userinfo(&self, bearer: &str, now: Timestamp) -> Result<UserClaims, OidcError> {
        let token =
            AccessToken::parse(bearer).map_err(|_| OidcError::InvalidToken("malformed token"))?;
        let (data, session) = or_if_corrupt(
            self.inner
                .store
                .access_token_with_session(token.key())
                .await,
            || Ok((None, None)),
        )?;
        let data = data
            .filter(|data| data.secret_hash.verify(&token.secret_hash()) && data.expires_at > now)
            .ok_or(OidcError::InvalidToken("unknown or expired token"))?;
        let linked = token
            .key()
            .session()
            .is_some_and(|key| key == data.session_key);
        if !linked || session.is_none_or(|session| session.expires_at <= now) {
            return Err(OidcError::InvalidToken("the login session has ended"));
        }
        let user = self
            .inner
            .users
            .get(&data.username)
            .ok_or(OidcError::InvalidToken("user no longer configured"))?;
        Ok(UserClaims::for_scopes(user, data.scopes))
    }
}

/// `expires_in` in whole seconds, never rounding a live token down to zero.
fn whole_seconds(duration: Duration) -> u64 {
    duration.as_secs().max(1)
}
