//! The authorization endpoint: `GET` and `POST /auth/openid/login`, and the
//! decision path the consent form returns to.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse};
use porthor_models::Timestamp;
use porthor_oidc::{
    AUTHORIZATION_PATH, AuthorizationRequest, AuthorizeError, OidcError, ValidAuthorization,
};

use crate::error::page_error;
use crate::limits::FormBody;
use crate::login::{LOGIN_PATH, current_session};
use crate::params::Params;
use crate::{AppState, State, consent};

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
pub(crate) async fn get(state: State, req: HttpRequest) -> HttpResponse {
    let params = Params::parse(req.query_string().as_bytes());
    respond(&state, &req, &params, StatusCode::FOUND, Step::Ask).await
}

/// `POST /auth/openid/login`: parameters in a form body (OpenID Connect Core
/// 3.1.2.1). Redirects use 303 so the browser follows them with `GET`.
pub(crate) async fn post(state: State, req: HttpRequest, body: FormBody) -> HttpResponse {
    let params = Params::parse(&body);
    respond(&state, &req, &params, StatusCode::SEE_OTHER, Step::Ask).await
}

/// Where an authorization request stands with the user's consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step<'a> {
    /// At the authorization endpoint: show the consent page if it is needed.
    Ask,
    /// The consent page was approved by the login session with this key;
    /// any other session is asked afresh.
    Approved(&'a str),
    /// The consent page was refused.
    Refused,
}

/// The authorization request carried in `params`, as the authorization
/// endpoint received it or as the consent form carried it along.
fn authorization_request(params: &Params) -> AuthorizationRequest {
    AuthorizationRequest {
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
    }
}

/// What happens next to a request that passed validation.
enum Next {
    /// Send the browser on: to the client with a code, or to the login form.
    Redirect(String),
    /// Show this page (the consent page).
    Page(HttpResponse),
}

/// The authorization endpoint's answer to the request in `params`, at the
/// `step` the consent page has brought it to. Every request is validated
/// here, the consent form's too, so that an approval is only ever an
/// approval of a valid request, bound to the client and scopes it names.
pub(crate) async fn respond(
    state: &AppState,
    req: &HttpRequest,
    params: &Params,
    redirect: StatusCode,
    step: Step<'_>,
) -> HttpResponse {
    let request = authorization_request(params);
    let client = request.client_id.clone().unwrap_or_default();
    let now = state.clock.now();
    let result = match state.service.validate_authorization(request) {
        Err(error) => Err(error),
        Ok(valid) => next(state, req, params, &valid, step, now).await,
    };
    match result {
        Ok(Next::Redirect(url)) => found(redirect, &url),
        Ok(Next::Page(page)) => page,
        Err(AuthorizeError::Redirect { url, error }) => {
            tracing::info!(client.id = %client, outcome = "refused", error = %error.code(), reason = %error, "authorization request refused");
            found(redirect, &url)
        }
        Err(AuthorizeError::Page(error)) => {
            tracing::info!(client.id = %client, outcome = "refused", error = %error.code(), reason = %error, "authorization request refused without redirect");
            page_error(state, req, &error)
        }
    }
}

/// A valid request's way on: refused, to the login form, to the consent
/// page, or to the client with a code. Validated before anything else,
/// and nothing is stored until the user has a session and has consented:
/// an anonymous request costs one session lookup.
async fn next(
    state: &AppState,
    req: &HttpRequest,
    params: &Params,
    valid: &ValidAuthorization,
    step: Step<'_>,
    now: Timestamp,
) -> Result<Next, AuthorizeError> {
    let service = &state.service;
    let refuse = |error| service.error_redirect(valid, error);
    if step == Step::Refused {
        return Err(refuse(OidcError::ConsentRefused));
    }
    let session = match current_session(state, req, now).await.map_err(refuse)? {
        Some(session) if !valid.needs_login(Some(&session.data), now) => session,
        _ if valid.prompt_none => return Err(refuse(OidcError::LoginRequired)),
        session => {
            return Ok(Next::Redirect(login_url(
                state,
                params,
                valid,
                session.is_some(),
            )));
        }
    };
    let approved = matches!(step, Step::Approved(key) if key == session.key.as_str());
    if approved {
        service
            .approve(valid, &session, now)
            .await
            .map_err(refuse)?;
    } else if service
        .needs_consent(valid, &session, now)
        .await
        .map_err(refuse)?
    {
        if valid.prompt_none {
            return Err(refuse(OidcError::ConsentRequired));
        }
        return Ok(Next::Page(consent::page(
            state, req, params, valid, &session,
        )));
    }
    service
        .issue_code(valid, &session, now)
        .await
        .map(Next::Redirect)
}

/// The login form, returning here afterwards without the `prompt=login` and
/// `max_age` that sent the user away: the new session satisfies them, and
/// keeping them would loop. `prompt=consent` is kept: logging in is no
/// approval.
fn login_url(
    state: &AppState,
    params: &Params,
    valid: &ValidAuthorization,
    has_session: bool,
) -> String {
    let issuer = state.service.issuer();
    let mut here = form_urlencoded::Serializer::new(params.encode_without(&["prompt", "max_age"]));
    if valid.prompt_consent {
        here.append_pair("prompt", "consent");
    }
    let here = format!("{}?{}", issuer.endpoint(AUTHORIZATION_PATH), here.finish());
    let mut login = form_urlencoded::Serializer::new(String::new());
    login.append_pair("rd", &here);
    if has_session {
        // Show the form even though a session exists.
        login.append_pair("prompt", "login");
    }
    format!("{}?{}", issuer.endpoint(LOGIN_PATH), login.finish())
}

fn found(status: StatusCode, location: &str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}
