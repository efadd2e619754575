//! Discovery, keys and probes: the unauthenticated, read-only routes.

use std::sync::atomic::Ordering;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::State;
use crate::error::page_error;

/// Relying parties refetch these on unknown `kid`s; an hour of caching
/// spares the provider without delaying a key rotation much.
const PUBLIC_CACHE: &str = "public, max-age=3600";

fn json(body: &web::Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .insert_header((header::CACHE_CONTROL, PUBLIC_CACHE))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .body(body.clone())
}

/// `GET /.well-known/openid-configuration`.
pub(crate) async fn discovery(state: State) -> HttpResponse {
    json(&state.discovery)
}

/// `GET /.well-known/jwks.json`.
pub(crate) async fn jwks(state: State) -> HttpResponse {
    json(&state.jwks)
}

/// `GET /health`: the process is up.
pub(crate) async fn health() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok\n")
}

/// `GET /ready`: the store answers, so requests can be served, and the
/// process is not shutting down.
pub(crate) async fn ready(state: State, req: HttpRequest) -> HttpResponse {
    if state.draining.load(Ordering::Relaxed) {
        return HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body("draining: shutting down\n");
    }
    match state.service.ready().await {
        Ok(()) => HttpResponse::Ok()
            .content_type("text/plain")
            .body("ready\n"),
        Err(error) => page_error(&state, &req, &error),
    }
}
