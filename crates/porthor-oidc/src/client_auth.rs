//! Client authentication at the back-channel endpoints (RFC 6749 2.3; OpenID
//! Connect Core 9): token, revocation and introspection.

use std::fmt;

use porthor_models::{AuthMethod, Client, ClientAuth};

use crate::{OidcError, OidcService};

/// The credentials a client presented, and how.
#[derive(Clone)]
pub struct ClientCredentials {
    /// The client id.
    pub client_id: String,
    /// The client secret; `None` when the client sent only its id.
    pub client_secret: Option<String>,
    /// Where they came from: an HTTP Basic header
    /// ([`AuthMethod::ClientSecretBasic`]) or the form, with a secret
    /// ([`AuthMethod::ClientSecretPost`]) or without ([`AuthMethod::None`]).
    pub method: AuthMethod,
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("method", &self.method)
            .finish()
    }
}

impl OidcService {
    /// Authenticates a client by the method it registered: a confidential
    /// client by its secret (by its one configured method, or either secret
    /// method), a public client by its id alone and never with a secret.
    ///
    /// A failure of a registered client is counted (see `throttle.rs`): once
    /// its id is over the limit, failures answer
    /// [`OidcError::ClientThrottled`] instead of
    /// [`OidcError::InvalidClient`]. A success is never checked against the
    /// count, and costs no store command.
    pub async fn authenticate_client(
        &self,
        credentials: Option<&ClientCredentials>,
    ) -> Result<&Client, OidcError> {
        match self.check_client_credentials(credentials) {
            Err(OidcError::InvalidClient) => {
                let client_id = credentials.map_or("", |c| c.client_id.as_str());
                Err(self.client_authentication_failed(client_id).await)
            }
            result => result,
        }
    }

    /// The check itself. An unknown id costs the same hash as a wrong
    /// secret and gets the same error, so neither the answer nor its timing
    /// tells whether a confidential client exists (until a registered id is
    /// throttled, which says it is registered: client ids are public, and
    /// the authorization endpoint names unknown ones anyway).
    fn check_client_credentials(
        &self,
        credentials: Option<&ClientCredentials>,
    ) -> Result<&Client, OidcError> {
        let Some(credentials) = credentials else {
            return Err(OidcError::InvalidClient);
        };
        let client = self.inner.clients.get(&credentials.client_id);
        let secret = credentials.client_secret.as_deref().unwrap_or_default();
        let refused = |reason: &'static str| {
            tracing::info!(client.id = %credentials.client_id, method = %credentials.method, outcome = "refused", reason, "client authentication refused");
            OidcError::InvalidClient
        };
        match client.map(|client| (client, &client.auth)) {
            Some((client, ClientAuth::Public)) => match credentials.method {
                AuthMethod::None => Ok(client),
                _ => Err(refused("a public client must not send a secret")),
            },
            Some((client, ClientAuth::Secret { hash, method })) => {
                // Hash first, so a wrong method costs what a wrong secret does.
                let secret_ok = hash.verify(secret);
                if credentials.method == AuthMethod::None {
                    Err(refused("no client secret"))
                } else if method.is_some_and(|method| method != credentials.method) {
                    Err(refused("not the client's registered authentication method"))
                } else if !secret_ok {
                    Err(refused("wrong client secret"))
                } else {
                    Ok(client)
                }
            }
            None => {
                self.inner.dummy_client_secret.verify(secret);
                Err(refused("unknown client"))
            }
        }
    }

    /// Like [`OidcService::authenticate_client`], but for endpoints that
    /// only confidential clients may use (introspection).
    pub(crate) async fn authenticate_confidential_client(
        &self,
        credentials: Option<&ClientCredentials>,
    ) -> Result<&Client, OidcError> {
        let client = self.authenticate_client(credentials).await?;
        if client.is_public() {
            tracing::info!(client.id = %client.client_id, outcome = "refused", reason = "public clients cannot introspect", "client authentication refused");
            return Err(OidcError::InvalidClient);
        }
        Ok(client)
    }
}
