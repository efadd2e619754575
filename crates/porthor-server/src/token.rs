//! The token endpoint and the userinfo endpoint: the back-channel routes a
//! client calls directly.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use porthor_oidc::{ClientCredentials, TokenRequest};

use crate::error::{bearer_error, token_error};
use crate::params::{Params, form_decode};
use crate::{AppState, now};

/// The parameters that may appear at most once (RFC 6749 3.2).
const SINGLE_VALUED: &[&str] = &[
    "code_verifier",
    "grant_type",
    "code",
    "redirect_uri",
    "client_id",
    "client_secret",
];

/// What the `Authorization` header says about client authentication.
enum BasicAuth {
    Absent,
    Present(ClientCredentials),
    /// `Basic` with something that is not `base64(id:secret)`.
    Malformed,
}

fn basic_auth(req: &HttpRequest) -> BasicAuth {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return BasicAuth::Absent;
    };
    let Some(encoded) = value.to_str().ok().and_then(|v| strip_scheme(v, "Basic")) else {
        return BasicAuth::Malformed;
    };
    let decoded = STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok());
    match decoded.as_deref().and_then(|text| text.split_once(':')) {
        // RFC 6749 2.3.1: both halves are form-urlencoded before encoding.
        Some((id, secret)) if !id.is_empty() => BasicAuth::Present(ClientCredentials {
            client_id: form_decode(id),
            client_secret: Some(form_decode(secret)).filter(|s| !s.is_empty()),
        }),
        _ => BasicAuth::Malformed,
    }
}

/// The credentials of an `Authorization: <scheme> <credentials>` header
/// (the scheme is case-insensitive, RFC 9110 11.1).
fn strip_scheme<'a>(value: &'a str, scheme: &str) -> Option<&'a str> {
    let (name, rest) = value.split_once(' ')?;
    name.eq_ignore_ascii_case(scheme)
        .then_some(rest.trim_start())
}

/// `POST /auth/openid/token`.
pub(crate) async fn token(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let form = Params::parse(&body);
    let basic = basic_auth(&req);
    let used_basic = !matches!(basic, BasicAuth::Absent);
    let mut malformed = form
        .repeated(SINGLE_VALUED)
        .map(|name| format!("the {name} parameter is repeated"));
    let form_client = form.take("client_id").map(|client_id| ClientCredentials {
        client_id,
        client_secret: form.take("client_secret"),
    });
    let client = match basic {
        BasicAuth::Malformed => None,
        BasicAuth::Absent => form_client,
        BasicAuth::Present(basic) => {
            // RFC 6749 2.3: one authentication method per request. A form
            // client_id that repeats the Basic one is harmless.
            let conflicting = form_client.is_some_and(|form| {
                form.client_secret.is_some() || form.client_id != basic.client_id
            });
            if conflicting {
                malformed.get_or_insert_with(|| {
                    "use one client authentication method, not two".to_owned()
                });
            }
            Some(basic)
        }
    };
    let content_type_ok = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';').next().is_some_and(|t| {
                t.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        });
    if !content_type_ok {
        malformed
            .get_or_insert_with(|| "the body must be application/x-www-form-urlencoded".to_owned());
    }
    let request = TokenRequest {
        client,
        grant_type: form.take("grant_type"),
        code: form.take("code"),
        redirect_uri: form.take("redirect_uri"),
        code_verifier: form.take("code_verifier"),
        malformed,
    };
    match state.service.redeem_code(request, now()).await {
        Ok(response) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"))
            .json(response),
        Err(error) => token_error(&error, used_basic),
    }
}

/// `GET` and `POST /auth/openid/userinfo` with a bearer token (RFC 6750 2.1).
pub(crate) async fn userinfo(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    // No header, or another scheme, is no authentication at all: a bare
    // challenge without an error code (RFC 6750 3.1).
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| strip_scheme(v, "Bearer"));
    let Some(token) = bearer else {
        return bearer_error(None);
    };
    match state.service.userinfo(token.trim(), now()).await {
        Ok(claims) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(claims),
        Err(error) => bearer_error(Some(&error)),
    }
}
