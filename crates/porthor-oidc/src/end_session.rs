//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): checking
//! the request, and where the user goes afterwards.

use porthor_models::Client;

use crate::authorize::redirect_url;
use crate::{IdTokenClaims, OidcError, OidcService};

/// A logout request's parameters as received.
#[derive(Debug, Clone, Default)]
pub struct EndSessionRequest {
    /// `id_token_hint`: an ID token this provider issued to the client,
    /// expired or not.
    pub id_token_hint: Option<String>,
    /// `client_id`.
    pub client_id: Option<String>,
    /// `post_logout_redirect_uri`: registered for the client, exact match.
    pub post_logout_redirect_uri: Option<String>,
    /// `state`, echoed back on the redirect.
    pub state: Option<String>,
    /// The first single-valued parameter the request repeated, if any.
    pub repeated: Option<String>,
}

/// A valid logout request.
#[derive(Debug, Clone)]
pub struct EndSession {
    /// The client asking, from `client_id` or the hint's audience.
    pub client_id: Option<String>,
    /// The user the hint names. When it is the session's user, the request
    /// provably comes from a client the user signed in to, and the logout
    /// needs no confirmation.
    pub hinted_user: Option<String>,
    /// Where to send the user afterwards, `state` included.
    pub redirect: Option<String>,
}

impl OidcService {
    /// Checks a logout request. Every failure is for an error page: with
    /// the client or the redirect not established, nothing may redirect.
    pub fn validate_end_session(
        &self,
        request: EndSessionRequest,
    ) -> Result<EndSession, OidcError> {
        if let Some(name) = request.repeated {
            return Err(OidcError::InvalidRequest(format!(
                "the {name} parameter is repeated"
            )));
        }
        let hint = request
            .id_token_hint
            .map(|hint| {
                self.inner
                    .signer
                    .verify_ignoring_expiry::<IdTokenClaims>(&hint, self.inner.issuer.as_str())
                    .map_err(|_| {
                        OidcError::invalid_request(
                            "the id_token_hint is not an ID token of this provider",
                        )
                    })
            })
            .transpose()?;
        let client_id = match (request.client_id, &hint) {
            (Some(id), Some(hint)) if id != hint.aud => {
                return Err(OidcError::invalid_request(
                    "client_id is not the audience of the id_token_hint",
                ));
            }
            (Some(id), _) => Some(id),
            (None, hint) => hint.as_ref().map(|hint| hint.aud.clone()),
        };
        let client: Option<&Client> = match &client_id {
            Some(id) => Some(
                self.inner
                    .clients
                    .get(id)
                    .ok_or_else(|| OidcError::invalid_request("unknown client"))?,
            ),
            None => None,
        };
        let redirect = match (request.post_logout_redirect_uri, client) {
            (None, _) => None,
            (Some(_), None) => {
                return Err(OidcError::invalid_request(
                    "post_logout_redirect_uri needs a client_id or an id_token_hint",
                ));
            }
            (Some(uri), Some(client)) if client.allows_post_logout_redirect(&uri) => {
                Some(redirect_url(&uri, &[("state", request.state.as_deref())])?)
            }
            (Some(_), Some(_)) => {
                return Err(OidcError::invalid_request(
                    "the post_logout_redirect_uri is not registered for this client",
                ));
            }
        };
        Ok(EndSession {
            client_id,
            hinted_user: hint.map(|hint| hint.user.sub),
            redirect,
        })
    }
}
