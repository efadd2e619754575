//! `/` under the issuer's path: a page saying what runs here (product and
//! version), the issuer, links to the discovery document and the JWKS, and,
//! when the demo relying party runs, a button to try a login with it.

use actix_web::{HttpRequest, HttpResponse};
use minijinja::context;
use porthor_oidc::DISCOVERY_PATH;

use crate::{State, demo, html};

/// `GET /`.
pub(crate) async fn landing(state: State, req: HttpRequest) -> HttpResponse {
    let metadata = state.service.openid_configuration();
    let issuer = metadata.issuer.trim_end_matches('/');
    let values = context! {
        version => env!("CARGO_PKG_VERSION"),
        issuer => &metadata.issuer,
        discovery_url => format!("{issuer}{DISCOVERY_PATH}"),
        jwks_url => &metadata.jwks_uri,
        demo_url => state.demo.is_some().then(|| demo::url(&state, demo::START_PATH)),
    };
    html::render(
        &state,
        &req,
        &mut HttpResponse::Ok(),
        "landing.html",
        values,
    )
}
