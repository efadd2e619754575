//! [`OidcError`]: every way an operation can fail, with its protocol code.

use std::time::Duration;

use porthor_models::{ErrorCode, StoreError};

/// A failed OpenID Connect operation.
///
/// Each variant maps to one protocol error code ([`OidcError::code`]) and a
/// description safe to show the client ([`OidcError::description`]). Details
/// that would help an attacker (why a code was refused, whether a client id
/// exists) are logged by the service, never put in the description.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The request is missing a parameter, repeats one, or is malformed.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// Client authentication failed: unknown client, wrong secret, or none.
    #[error("client authentication failed")]
    InvalidClient,
    /// The authorization code or refresh token is invalid, expired, used,
    /// revoked, or not this client's.
    #[error("invalid grant: {0}")]
    InvalidGrant(&'static str),
    /// The client may not use this grant or response type.
    #[error("unauthorized client")]
    UnauthorizedClient,
    /// `grant_type` is not one Porthor supports.
    #[error("unsupported grant type")]
    UnsupportedGrantType,
    /// `response_type` is not `code`.
    #[error("unsupported response type")]
    UnsupportedResponseType,
    /// `scope` lacks `openid`, or a refresh asks for more than was granted.
    #[error("invalid scope: {0}")]
    InvalidScope(&'static str),
    /// `prompt=none`, but the user would have to log in (OpenID Connect
    /// Core 3.1.2.6).
    #[error("login required")]
    LoginRequired,
    /// `prompt=none`, but the user would have to approve the request on the
    /// consent page (OpenID Connect Core 3.1.2.6).
    #[error("consent required")]
    ConsentRequired,
    /// The user refused the request on the consent page.
    #[error("the user refused consent")]
    ConsentRefused,
    /// The request used a `request` object (OpenID Connect Core 6.1).
    #[error("request objects are not supported")]
    RequestNotSupported,
    /// The request used `request_uri` (OpenID Connect Core 6.2).
    #[error("request_uri is not supported")]
    RequestUriNotSupported,
    /// The username or password is wrong.
    #[error("invalid username or password")]
    InvalidCredentials,
    /// The username or the client address has too many failed logins: the
    /// attempt is refused without checking the password, right or wrong.
    #[error("too many failed logins")]
    LoginThrottled {
        /// How long until the lockout ends, in whole seconds (at least 1).
        retry_after: Duration,
    },
    /// Client authentication failed, and the client id has failed too
    /// often: the same `invalid_client`, answered with 429.
    #[error("client authentication failed too often")]
    ClientThrottled {
        /// How long until the counter is forgotten, in whole seconds (at
        /// least 1).
        retry_after: Duration,
    },
    /// Every password-check slot stayed taken for the whole queue timeout.
    #[error("too many password checks at once")]
    PasswordChecksBusy,
    /// The bearer token is missing, malformed, expired or revoked.
    #[error("invalid token: {0}")]
    InvalidToken(&'static str),
    /// The store could not be reached; the request may be retried.
    #[error("temporarily unavailable")]
    Unavailable(#[source] StoreError),
    /// The settings handed to [`crate::OidcService::new`] contradict each other.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// A bug or an impossible state; details are in the source.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl OidcError {
    /// The protocol error code.
    pub fn code(&self) -> ErrorCode {
        match self {
            OidcError::InvalidRequest(_) => ErrorCode::InvalidRequest,
            OidcError::InvalidClient => ErrorCode::InvalidClient,
            OidcError::InvalidGrant(_) => ErrorCode::InvalidGrant,
            OidcError::UnauthorizedClient => ErrorCode::UnauthorizedClient,
            OidcError::UnsupportedGrantType => ErrorCode::UnsupportedGrantType,
            OidcError::UnsupportedResponseType => ErrorCode::UnsupportedResponseType,
            OidcError::InvalidScope(_) => ErrorCode::InvalidScope,
            OidcError::LoginRequired => ErrorCode::LoginRequired,
            OidcError::ConsentRequired => ErrorCode::ConsentRequired,
            OidcError::ConsentRefused => ErrorCode::AccessDenied,
            OidcError::RequestNotSupported => ErrorCode::RequestNotSupported,
            OidcError::RequestUriNotSupported => ErrorCode::RequestUriNotSupported,
            OidcError::InvalidCredentials | OidcError::LoginThrottled { .. } => {
                ErrorCode::AccessDenied
            }
            OidcError::ClientThrottled { .. } => ErrorCode::InvalidClient,
            OidcError::InvalidToken(_) => ErrorCode::InvalidToken,
            OidcError::Unavailable(_) | OidcError::PasswordChecksBusy => {
                ErrorCode::TemporarilyUnavailable
            }
            OidcError::InvalidConfig(_) | OidcError::Internal(_) => ErrorCode::ServerError,
        }
    }

    /// Text for `error_description`: specific where that helps a client
    /// developer, generic where detail would help an attacker.
    pub fn description(&self) -> String {
        match self {
            OidcError::InvalidRequest(detail) => detail.clone(),
            OidcError::InvalidClient => "client authentication failed".to_owned(),
            OidcError::InvalidGrant(_) => {
                "the authorization code or refresh token is invalid, expired or revoked".to_owned()
            }
            OidcError::UnauthorizedClient => "client is not authorized for this request".to_owned(),
            OidcError::UnsupportedGrantType => {
                "the supported grant types are authorization_code and refresh_token".to_owned()
            }
            OidcError::UnsupportedResponseType => {
                "only the code response type is supported".to_owned()
            }
            OidcError::InvalidScope(detail) => (*detail).to_owned(),
            OidcError::LoginRequired => "the user must log in".to_owned(),
            OidcError::ConsentRequired => "the user must approve the request".to_owned(),
            OidcError::ConsentRefused => "the user did not approve the request".to_owned(),
            OidcError::RequestNotSupported => "request objects are not supported".to_owned(),
            OidcError::RequestUriNotSupported => "request_uri is not supported".to_owned(),
            OidcError::InvalidCredentials => "invalid username or password".to_owned(),
            OidcError::LoginThrottled { .. } => {
                "too many failed logins; try again after the time in Retry-After".to_owned()
            }
            OidcError::ClientThrottled { .. } => {
                "client authentication failed too many times; retry after the time in Retry-After"
                    .to_owned()
            }
            OidcError::PasswordChecksBusy => {
                "too many logins at once; try again in a few seconds".to_owned()
            }
            OidcError::InvalidToken(_) => "the access token is invalid or expired".to_owned(),
            OidcError::Unavailable(_) => "the service is temporarily unavailable".to_owned(),
            OidcError::InvalidConfig(_) | OidcError::Internal(_) => "internal error".to_owned(),
        }
    }

    /// How long the client should wait before trying again, for the errors
    /// that say: a lockout's remaining time.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            OidcError::LoginThrottled { retry_after }
            | OidcError::ClientThrottled { retry_after } => Some(*retry_after),
            _ => None,
        }
    }

    pub(crate) fn invalid_request(detail: impl Into<String>) -> Self {
        OidcError::InvalidRequest(detail.into())
    }
}

impl From<StoreError> for OidcError {
    /// A store that cannot be reached is a temporary condition the client
    /// may retry; a record that cannot be encoded is a bug. Corrupt records
    /// never get here: the store reports them as absent.
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) => OidcError::Unavailable(error),
            StoreError::Unencodable { .. } => OidcError::Internal(error.into()),
        }
    }
}
