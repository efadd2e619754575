//! The authorization endpoint: `GET` and `POST /auth/openid/login`.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use porthor_oidc::{AUTHORIZATION_PATH, AuthorizationRequest, AuthorizeError, OidcError};

use crate::AppState;
use crate::error::page_error;
use crate::login::{LOGIN_PATH, current_session};
use crate::params::Params;

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
    "prompt",
    "max_age",
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
        prompt: params.take("prompt"),
        max_age: params.take("max_age"),
        response_mode: params.take("response_mode"),
        has_request_object: params.get("request").is_some(),
        has_request_uri: params.get("request_uri").is_some(),
        repeated: params.repeated(SINGLE_VALUED),
    };
    let client = request.client_id.clone().unwrap_or_default();
    let service = &state.service;
    let now = state.clock.now();
    let result = match service.validate_authorization(request) {
        Err(error) => Err(error),
        // Validated before anything else, and nothing is stored until the
        // user has a session: an anonymous request costs one session lookup.
        Ok(valid) => match current_session(state, req, now).await {
            Err(error) => Err(service.error_redirect(&valid, error)),
            Ok(session) if valid.needs_login(session.as_ref().map(|s| &s.data), now) => {
                if valid.prompt_none {
                    Err(service.error_redirect(&valid, OidcError::LoginRequired))
                } else {
                    // Back here after logging in, without the prompt and
                    // max_age that sent the user away: the new session
                    // satisfies them, and keeping them would loop.
                    let here = format!(
                        "{}?{}",
                        service.issuer().endpoint(AUTHORIZATION_PATH),
                        params.encode_without(&["prompt", "max_age"])
                    );
                    let mut login = form_urlencoded::Serializer::new(String::new());
                    login.append_pair("rd", &here);
                    if session.is_some() {
                        // Show the form even though a session exists.
                        login.append_pair("prompt", "login");
                    }
                    let login = format!(
                        "{}?{}",
                        service.issuer().endpoint(LOGIN_PATH),
                        login.finish()
                    );
                    return found(redirect, &login);
                }
            }
            Ok(Some(session)) => service.issue_code(&valid, &session, now).await,
            // `needs_login` is true without a session.
            Ok(None) => Err(service.error_redirect(&valid, OidcError::LoginRequired)),
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
