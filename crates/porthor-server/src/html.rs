//! Sending pages: rendering a template of [`crate::ui`] in the browser's
//! language, with the headers every page carries, and serving the
//! stylesheet and logo the pages link to. Values reach a page only through
//! the template engine, which escapes them.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use minijinja::Value;

use crate::ui::Asset;
use crate::{AppState, State};

/// Pages load their stylesheet and logo from here and nothing else: no
/// script, no inline style, nothing from another origin.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// The language of the pages answered to `req`.
pub(crate) fn language(state: &AppState, req: &HttpRequest) -> String {
    let header = req
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|value| value.to_str().ok());
    state.ui.language(header)
}

/// A message from the catalogue in `req`'s language.
pub(crate) fn text(
    state: &AppState,
    req: &HttpRequest,
    key: &str,
    args: &[(&str, &str)],
) -> String {
    state.ui.text(&language(state, req), key, args)
}

/// Renders the template `name` with `values` in the language `req` asks
/// for, and sends it as a page that must not be cached, framed, or leak its
/// URL (which may carry an authorization request) in a `Referer`.
pub(crate) fn render(
    state: &AppState,
    req: &HttpRequest,
    response: &mut HttpResponseBuilder,
    name: &str,
    values: Value,
) -> HttpResponse {
    let lang = language(state, req);
    let body = match state.ui.render(name, &lang, &state.base_path, values) {
        Ok(body) => body,
        Err(error) => {
            // Every template rendered at start, so this is an override that
            // fails only on some values: say so to the operator, and show
            // the user a plain page rather than a broken one.
            tracing::error!(template = name, error = %error, "cannot render a page");
            return HttpResponse::InternalServerError()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .content_type("text/plain; charset=utf-8")
                .body("This page cannot be shown: the login service's templates are broken.");
        }
    };
    response
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::VARY, "Accept-Language"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(body)
}

/// Sends a stylesheet or logo. Its URL carries its content's hash (see
/// [`Asset`]), so a browser may keep it for a year: a changed file gets a
/// new URL.
fn asset(req: &HttpRequest, asset: &Asset) -> HttpResponse {
    let etag = format!("\"{}\"", asset.version);
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .is_some_and(|sent| sent.as_bytes() == etag.as_bytes());
    let mut response = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .insert_header((header::ETAG, etag))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        ));
    if asset.content_type.starts_with("image/svg") {
        // An SVG opened on its own is a document that could run script.
        response.insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; sandbox",
        ));
    }
    if fresh {
        response.finish()
    } else {
        response.body(web::Bytes::copy_from_slice(&asset.bytes))
    }
}

/// `GET /static/style.css`.
pub(crate) async fn style(state: State, req: HttpRequest) -> HttpResponse {
    asset(&req, &state.ui.style)
}

/// `GET /static/icon.svg`: the built-in icon.
pub(crate) async fn icon(state: State, req: HttpRequest) -> HttpResponse {
    asset(&req, &state.ui.icon)
}

/// `GET /static/logo`: 404 when no logo is configured.
pub(crate) async fn logo(state: State, req: HttpRequest) -> HttpResponse {
    match &state.ui.logo {
        Some(logo) => asset(&req, logo),
        None => HttpResponse::NotFound().finish(),
    }
}
