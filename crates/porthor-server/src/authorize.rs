//! The authorization endpoint: `GET` and `POST /auth/openid/login`.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use porthor_oidc::{AUTHORIZATION_PATH, AuthorizationRequest, AuthorizeError};

use crate::error::page_error;
use crate::login::{LOGIN_PATH, current_session};
use crate::params::Params;
use crate::{AppState, now};

/// The parameters that may appear at most once (RFC 6749 3.1).
const SINGLE_VALUED: &[&str] = &[
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "response_mode",
    "request",
    "request_uri",
];

/// `GET /auth/openid/login`: parameters in the query.
pub(crate) async fn get(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let params = Params::parse(req.query_string().as_bytes());
    authorize(&state, &req, params, StatusCode::FOUND).await
}

/// `POST /auth/openid/login`: parameters in a form body (OpenID Connect Core
/// 3.1.2.1). Redirects use 303 so the browser follows them with `GET`.
pub(crate) async fn post(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    authorize(&state, &req, Params::parse(&body), StatusCode::SEE_OTHER).await
}

async fn authorize(
    state: &AppState,
    req: &HttpRequest,
    params: Params,
    redirect: StatusCode,
) -> HttpResponse {
    let request = AuthorizationRequest {
        client_id: params.take("client_id"),
        redirect_uri: params.take("redirect_uri"),
        response_type: params.take("response_type"),
        scope: params.take("scope"),
        state: params.take("state"),
        nonce: params.take("nonce"),
        code_challenge: params.take("code_challenge"),
        code_challenge_method: params.take("code_challenge_method"),
        response_mode: params.take("response_mode"),
        has_request_object: params.get("request").is_some(),
        has_request_uri: params.get("request_uri").is_some(),
        repeated: params.repeated(SINGLE_VALUED),
    };
    let client = request.client_id.clone().unwrap_or_default();
    let service = &state.service;
    let result = match service.validate_authorization(request) {
        Err(error) => Err(error),
        // Validated before anything else, and nothing is stored until the
        // user has a session: an anonymous request costs one session lookup.
        Ok(valid) => match current_session(state, req).await {
            Err(error) => Err(service.error_redirect(&valid, error)),
            Ok(None) => {
                let here = format!(
                    "{}?{}",
                    service.issuer().endpoint(AUTHORIZATION_PATH),
                    params.encode()
                );
                let rd = form_urlencoded::Serializer::new(String::new())
                    .append_pair("rd", &here)
                    .finish();
                let login = format!("{}?{rd}", service.issuer().endpoint(LOGIN_PATH));
                return found(redirect, &login);
            }
            Ok(Some(session)) => service.issue_code(&valid, &session, now()).await,
        },
    };
    match result {
        Ok(url) => found(redirect, &url),
        Err(AuthorizeError::Redirect { url, error }) => {
            tracing::info!(client.id = %client, outcome = "refused", error = %error.code(), reason = %error, "authorization request refused");
            found(redirect, &url)
        }
        Err(AuthorizeError::Page(error)) => {
            tracing::info!(client.id = %client, outcome = "refused", error = %error.code(), reason = %error, "authorization request refused without redirect");
            page_error(&error)
        }
    }
}

fn found(status: StatusCode, location: &str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}
