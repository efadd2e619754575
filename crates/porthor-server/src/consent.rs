//! The consent page and its form, `POST /consent`.
//!
//! The page is the authorization endpoint's answer when the user must
//! approve a request (the rule is `porthor-oidc`'s): it names the client and
//! what each scope releases, and carries the authorization request along in
//! a hidden field, as the login form carries `rd`. Its form is protected
//! like the login form: POST only, and the browser's CSRF token must come
//! back, so that a cross-site page cannot make a user consent (the session
//! cookie, `SameSite=Lax`, is not even sent with a cross-site POST). It
//! also names the login session it was shown to, and an approval posted
//! with any other session is asked for again. The form's request is
//! validated again from scratch by the authorization endpoint's own path,
//! so an approval covers exactly the client and scopes it names, and there
//! is no URL that skips the page: the endpoint issues a code for a client
//! that needs consent only after a stored approval, or from this form.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use minijinja::context;
use porthor_models::Scope;
use porthor_oidc::{LoginSession, OidcError, ValidAuthorization};

use crate::authorize::{self, Step};
use crate::error::page_error;
use crate::limits::FormBody;
use crate::login::{csrf_ok, csrf_token};
use crate::params::Params;
use crate::{AppState, State, html};

/// Where the consent form posts.
pub(crate) const CONSENT_PATH: &str = "/consent";

/// The form's fields, each of which may appear once.
const FIELDS: [&str; 4] = ["csrf_token", "login_session", "request", "decision"];

/// The catalogue's key for what granting `scope` releases to the client,
/// in the user's words.
fn releases(scope: Scope) -> &'static str {
    match scope {
        Scope::OpenId => "consent.scope.openid",
        Scope::Profile => "consent.scope.profile",
        Scope::Email => "consent.scope.email",
        Scope::Groups => "consent.scope.groups",
        Scope::OfflineAccess => "consent.scope.offline_access",
    }
}

/// The consent page for `valid`, shown to `session`'s user; `params` is the
/// authorization request as received, which the form carries back.
pub(crate) fn page(
    state: &AppState,
    req: &HttpRequest,
    params: &Params,
    valid: &ValidAuthorization,
    session: &LoginSession,
) -> HttpResponse {
    let (csrf, cookie) = csrf_token(state, req);
    let client = state
        .service
        .client(&valid.client_id)
        .map_or(valid.client_id.as_str(), |client| client.display_name());
    let scopes: Vec<&str> = valid.scopes.iter().map(releases).collect();
    let mut response = HttpResponse::Ok();
    if let Some(cookie) = cookie {
        response.cookie(cookie);
    }
    let values = context! {
        action => state.path(CONSENT_PATH),
        csrf => csrf,
        client_name => client,
        username => session.data.username,
        releases => scopes,
        login_session => session.key.as_str(),
        request => params.encode_without(&[]),
    };
    html::render(state, req, &mut response, "consent.html", values)
}

fn refused(state: &AppState, req: &HttpRequest, detail: &str) -> HttpResponse {
    page_error(state, req, &OidcError::InvalidRequest(detail.to_owned()))
}

/// `POST /consent`: the user's answer. An approval stores the grant (for a
/// client that needs one) and continues to the client with a code; a
/// refusal sends the user back to the client with `access_denied`.
pub(crate) async fn decide(state: State, req: HttpRequest, body: FormBody) -> HttpResponse {
    let form = Params::parse(&body);
    if let Some(name) = form.repeated(&FIELDS) {
        return refused(&state, &req, &format!("the {name} parameter is repeated"));
    }
    if !csrf_ok(&state, &req, &form) {
        tracing::info!(
            outcome = "refused",
            reason = "CSRF token mismatch",
            "consent form refused"
        );
        return refused(&state, &req, "the consent form expired; please try again");
    }
    let step = match (form.get("decision"), form.get("login_session")) {
        (Some("allow"), Some(session)) => Step::Approved(session),
        (Some("deny"), _) => Step::Refused,
        _ => return refused(&state, &req, "the consent form is incomplete"),
    };
    let Some(request) = form.get("request") else {
        return refused(&state, &req, "the consent form is incomplete");
    };
    let params = Params::parse(request.as_bytes());
    authorize::respond(&state, &req, &params, StatusCode::SEE_OTHER, step).await
}
