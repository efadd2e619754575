//! The demo application's calls to Porthor's own endpoints, over HTTP, as
//! any relying party's back end makes them: the token endpoint, the JWKS
//! and userinfo.
//!
//! It calls the server's own listening socket on loopback, not the issuer's
//! public URL: behind a TLS-terminating proxy the public URL is https (this
//! client speaks plain HTTP only, and needs no TLS library), and the public
//! name may not even resolve from inside the host or container. A server
//! listening on every address (`0.0.0.0`, `[::]`) is called on the loopback
//! address of the same family.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use porthor_oidc::{JWKS_PATH, TOKEN_PATH, USERINFO_PATH};
use serde::Deserialize;
use serde_json::{Map, Value};

/// How long one call may take. They go to this very process, so anything
/// slower means it is overloaded.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Why a call failed, worded for the technical details of an error page.
/// Never holds a token or a secret.
#[derive(Debug, thiserror::Error)]
pub(super) enum CallError {
    /// No answer: the connection failed or timed out.
    #[error("{endpoint} did not answer: {source}")]
    Unreachable {
        endpoint: &'static str,
        #[source]
        source: reqwest::Error,
    },
    /// An OAuth error answer (RFC 6749 5.2, RFC 6750 3).
    #[error("{endpoint} answered {status}: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Refused {
        endpoint: &'static str,
        status: u16,
        error: String,
        description: Option<String>,
    },
    /// An answer that is not what the endpoint promises.
    #[error("{endpoint} answered {status} with an unexpected body")]
    Malformed { endpoint: &'static str, status: u16 },
}

impl CallError {
    /// The OAuth error code, when the provider gave one.
    pub(super) fn code(&self) -> Option<&str> {
        match self {
            Self::Refused { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// A token endpoint's success answer; the fields the demo uses.
#[derive(Deserialize)]
pub(super) struct Tokens {
    pub(super) access_token: String,
    pub(super) id_token: Option<String>,
    pub(super) refresh_token: Option<String>,
}

#[derive(Deserialize)]
struct OAuthError {
    error: String,
    error_description: Option<String>,
}

/// An HTTP client for one server's own endpoints.
#[derive(Debug)]
pub(super) struct Backchannel {
    http: reqwest::Client,
    /// `http://{loopback}:{port}{issuer path}`.
    base: String,
    /// `Authorization: Basic ...` of the demo's client.
    basic: String,
}

impl Backchannel {
    /// Calls the server bound to `local_addr`, whose routes live under
    /// `base_path`, as the client `client_id` with `client_secret`.
    pub(super) fn new(
        local_addr: SocketAddr,
        base_path: &str,
        client_id: &str,
        client_secret: &str,
    ) -> Result<Self, reqwest::Error> {
        let ip = match local_addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            // No pooled connections: each actix worker is a runtime of its
            // own, and a connection kept by one would be driven by another.
            .pool_max_idle_per_host(0)
            .build()?;
        // RFC 6749 2.3.1: the id and secret are form-urlencoded first.
        let encode =
            |text: &str| form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
        let basic = STANDARD.encode(format!("{}:{}", encode(client_id), encode(client_secret)));
        Ok(Self {
            http,
            base: format!(
                "http://{}{base_path}",
                SocketAddr::new(ip, local_addr.port())
            ),
            basic: format!("Basic {basic}"),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A token request (`grant_type` and its parameters in `form`),
    /// authenticated with `client_secret_basic`.
    pub(super) async fn token(&self, form: &[(&str, &str)]) -> Result<Tokens, CallError> {
        const ENDPOINT: &str = "the token endpoint";
        let response = send(
            ENDPOINT,
            self.http
                .post(self.url(TOKEN_PATH))
                .header(reqwest::header::AUTHORIZATION, &self.basic)
                .form(form),
        )
        .await?;
        json(ENDPOINT, response).await
    }

    /// The JWKS document, as published.
    pub(super) async fn jwks(&self) -> Result<Vec<u8>, CallError> {
        const ENDPOINT: &str = "the JWKS endpoint";
        let response = send(ENDPOINT, self.http.get(self.url(JWKS_PATH))).await?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(CallError::Malformed {
                endpoint: ENDPOINT,
                status,
            });
        }
        response
            .bytes()
            .await
            .map(|bytes| bytes.to_vec())
            .map_err(|source| CallError::Unreachable {
                endpoint: ENDPOINT,
                source,
            })
    }

    /// The userinfo answer for `access_token`.
    pub(super) async fn userinfo(
        &self,
        access_token: &str,
    ) -> Result<Map<String, Value>, CallError> {
        const ENDPOINT: &str = "the userinfo endpoint";
        let response = send(
            ENDPOINT,
            self.http
                .get(self.url(USERINFO_PATH))
                .bearer_auth(access_token),
        )
        .await?;
        if response.status().as_u16() == 401 {
            // RFC 6750 3: the error is in WWW-Authenticate, not the body.
            let error = response
                .headers()
                .get(reqwest::header::WWW_AUTHENTICATE)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.split("error=\"").nth(1))
                .and_then(|rest| rest.split('"').next())
                .unwrap_or("invalid_token")
                .to_owned();
            return Err(CallError::Refused {
                endpoint: ENDPOINT,
                status: 401,
                error,
                description: None,
            });
        }
        json(ENDPOINT, response).await
    }
}

/// A JSON answer of 200, or the OAuth error it carries.
/// Sends `request` to `endpoint`; a request that gets no answer is
/// [`CallError::Unreachable`].
async fn send(
    endpoint: &'static str,
    request: reqwest::RequestBuilder,
) -> Result<reqwest::Response, CallError> {
    request
        .send()
        .await
        .map_err(|source| CallError::Unreachable { endpoint, source })
}

async fn json<T: for<'de> Deserialize<'de>>(
    endpoint: &'static str,
    response: reqwest::Response,
) -> Result<T, CallError> {
    let status = response.status().as_u16();
    let body = response
        .bytes()
        .await
        .map_err(|source| CallError::Unreachable { endpoint, source })?;
    if status == 200 {
        return serde_json::from_slice(&body)
            .map_err(|_| CallError::Malformed { endpoint, status });
    }
    match serde_json::from_slice::<OAuthError>(&body) {
        Ok(error) => Err(CallError::Refused {
            endpoint,
            status,
            error: error.error,
            description: error.error_description,
        }),
        Err(_) => Err(CallError::Malformed { endpoint, status }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wildcard_address_is_called_on_loopback() {
        for (listen, base) in [
            ("0.0.0.0:8080", "http://127.0.0.1:8080/idp"),
            ("[::]:8080", "http://[::1]:8080/idp"),
            ("127.0.0.1:9", "http://127.0.0.1:9/idp"),
            ("10.1.2.3:8080", "http://10.1.2.3:8080/idp"),
        ] {
            let channel = Backchannel::new(listen.parse().unwrap(), "/idp", "demo", "s").unwrap();
            assert_eq!(channel.base, base);
        }
    }

    #[test]
    fn client_credentials_are_form_encoded_in_basic() {
        let channel = Backchannel::new("127.0.0.1:1".parse().unwrap(), "", "a:b", "c d%").unwrap();
        let decoded = STANDARD
            .decode(channel.basic.strip_prefix("Basic ").unwrap())
            .unwrap();
        assert_eq!(decoded, b"a%3Ab:c+d%25");
    }
}
