//! The one place where errors become HTTP responses.
//!
//! Each endpoint family reports errors in its own dialect: the token
//! endpoint as RFC 6749 5.2 JSON, userinfo as an RFC 6750 3 `WWW-Authenticate`
//! challenge, browser-facing pages as HTML. The status for each protocol
//! error code is decided here and nowhere else, and so is `Retry-After`:
//! a lockout's remaining time on a 429, a few seconds on a 503.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};
use minijinja::context;
use porthor_models::ErrorCode;
use porthor_oidc::OidcError;
use serde::Serialize;

use crate::ui::ErrorKindKey;
use crate::{AppState, html};

/// How long a client should wait before retrying when the store is down or
/// every password-check slot is taken.
const RETRY_AFTER_SECS: u64 = 5;

/// The `Retry-After` of an error's answer, in seconds, if it has one.
pub(crate) fn retry_after(error: &OidcError) -> Option<u64> {
    match error.retry_after() {
        Some(wait) => Some(wait.as_secs()),
        None if error.code() == ErrorCode::TemporarilyUnavailable => Some(RETRY_AFTER_SECS),
        None => None,
    }
}

/// A throttled request answers 429 (RFC 6585 4), whatever its error code
/// says otherwise.
fn throttled(error: &OidcError) -> bool {
    error.retry_after().is_some()
}

fn status(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidClient | ErrorCode::InvalidToken | ErrorCode::AccessDenied => {
            StatusCode::UNAUTHORIZED
        }
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::InvalidRequest
        | ErrorCode::InvalidGrant
        | ErrorCode::UnauthorizedClient
        | ErrorCode::UnsupportedGrantType
        | ErrorCode::UnsupportedResponseType
        | ErrorCode::InvalidScope
        | ErrorCode::LoginRequired
        | ErrorCode::ConsentRequired
        | ErrorCode::RequestNotSupported
        | ErrorCode::RequestUriNotSupported => StatusCode::BAD_REQUEST,
    }
}

/// Starts a response for `error`: logs what the client will not see and
/// sets the status and the headers every error shares.
fn builder(error: &OidcError, status: StatusCode) -> HttpResponseBuilder {
    match error {
        OidcError::Internal(_) | OidcError::InvalidConfig(_) => {
            tracing::error!(error = %error, cause = ?std::error::Error::source(error), "internal error");
        }
        OidcError::Unavailable(source) => {
            tracing::warn!(error = %source, cause = ?std::error::Error::source(source), "authorization store unavailable");
        }
        _ => {}
    }
    let mut response = HttpResponse::build(status);
    response.insert_header((header::CACHE_CONTROL, "no-store"));
    if let Some(secs) = retry_after(error) {
        response.insert_header((header::RETRY_AFTER, secs));
    }
    response
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    error_description: String,
}

/// A token endpoint error (RFC 6749 5.2). A client that tried HTTP Basic
/// and failed gets 401 with a Basic challenge; otherwise invalid_client is
/// a plain 400 like the other codes. A client id throttled for failing
/// too often gets 429 with `Retry-After`, and still `invalid_client`.
pub(crate) fn token_error(error: &OidcError, used_basic: bool) -> HttpResponse {
    let code = error.code();
    let status = match code {
        _ if throttled(error) => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::InvalidClient if used_basic => StatusCode::UNAUTHORIZED,
        ErrorCode::InvalidClient | ErrorCode::AccessDenied | ErrorCode::InvalidToken => {
            StatusCode::BAD_REQUEST
        }
        other => status(other),
    };
    let mut response = builder(error, status);
    response.insert_header((header::PRAGMA, "no-cache"));
    if status == StatusCode::UNAUTHORIZED {
        response.insert_header((header::WWW_AUTHENTICATE, r#"Basic realm="porthor""#));
    }
    response.json(ErrorBody {
        error: code.as_str(),
        error_description: error.description(),
    })
}

/// The status of a login form shown again because of `error`: 401 for a
/// wrong password, 429 for a lockout, 503 when the password checks are
/// busy or the store is down.
pub(crate) fn login_form_status(error: &OidcError) -> StatusCode {
    if throttled(error) {
        StatusCode::TOO_MANY_REQUESTS
    } else {
        status(error.code())
    }
}

/// A userinfo error (RFC 6750 3). `None` means the request carried no
/// token at all, which gets a bare challenge with no error code (3.1).
pub(crate) fn bearer_error(error: Option<&OidcError>) -> HttpResponse {
    let Some(error) = error else {
        return HttpResponse::Unauthorized()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::WWW_AUTHENTICATE, r#"Bearer realm="porthor""#))
            .finish();
    };
    let code = error.code();
    let mut response = builder(error, status(code));
    match code {
        ErrorCode::InvalidToken | ErrorCode::InvalidRequest => {
            let challenge = format!(
                r#"Bearer realm="porthor", error="{}", error_description="{}""#,
                code.as_str(),
                error.description()
            );
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                response.insert_header((header::WWW_AUTHENTICATE, value));
            }
            response.finish()
        }
        _ => response.json(ErrorBody {
            error: code.as_str(),
            error_description: error.description(),
        }),
    }
}

/// Which error page explains `error` to a person: what went wrong and
/// what they can do next. The service's descriptions are for developers;
/// the few a person can act on are recognised here.
fn page_kind(error: &OidcError) -> ErrorKindKey {
    if throttled(error) {
        return ErrorKindKey::Throttled;
    }
    match error {
        OidcError::InvalidRequest(detail) if detail == "unknown client" => {
            ErrorKindKey::UnknownClient
        }
        OidcError::InvalidRequest(detail)
            if detail.contains("redirect_uri") && detail.contains("not registered") =>
        {
            ErrorKindKey::BadRedirect
        }
        OidcError::InvalidRequest(detail) if detail.contains("expired") => {
            ErrorKindKey::FormExpired
        }
        OidcError::Unavailable(_) | OidcError::PasswordChecksBusy => ErrorKindKey::Unavailable,
        OidcError::Internal(_) | OidcError::InvalidConfig(_) => ErrorKindKey::Internal,
        _ => ErrorKindKey::BadRequest,
    }
}

/// An error shown to the user's browser as a page (never a redirect).
pub(crate) fn page_error(state: &AppState, req: &HttpRequest, error: &OidcError) -> HttpResponse {
    let status = match error.code() {
        _ if throttled(error) => StatusCode::TOO_MANY_REQUESTS,
        // A page is not an API: a refused login is re-shown by the login
        // handler, so anything reaching here that would be 401 is a 400.
        ErrorCode::InvalidClient | ErrorCode::AccessDenied | ErrorCode::InvalidToken => {
            StatusCode::BAD_REQUEST
        }
        other => status(other),
    };
    let mut response = builder(error, status);
    let values = context! {
        kind => page_kind(error).key(),
        description => error.description(),
        code => error.code().as_str(),
    };
    html::render(state, req, &mut response, "error.html", values)
}
