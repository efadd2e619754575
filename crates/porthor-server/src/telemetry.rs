//! HTTP metrics and the `/metrics` endpoint.
//!
//! Every request is counted by route template (never the raw path, so the
//! number of series is bounded: a path no route matches is the one label
//! `unmatched`), method and status, and timed per route, through the
//! `metrics` facade. Serving the numbers is a [`MetricsConfig::render`]
//! function the binary hands in: this crate knows neither the exporter nor
//! the text format, only that `/metrics` answers with what it renders.
//!
//! The handles are looked up once per worker thread and label set, then
//! kept: the recorder's registry (a hashed lookup of the whole key, and the
//! key's allocation) is not on every request's path. The recorder is the
//! process's, installed before any server starts, so a kept handle is
//! never one of a recorder that was replaced.
//!
//! It must not know which recorder is installed, or what the protocol's own
//! counters mean (those are `porthor-oidc`'s).

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse, web};
use metrics::{Counter, Histogram};

/// Renders the metrics text a scrape answers with.
pub type RenderMetrics = Arc<dyn Fn() -> String + Send + Sync>;

/// Where `/metrics` is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsListen {
    /// On the public port, beside the OpenID Connect endpoints.
    PublicPort,
    /// On a listener of its own (operators keep it on a private address).
    Separate(SocketAddr),
}

/// Metrics, when enabled.
#[derive(Clone)]
pub struct MetricsConfig {
    /// Where `/metrics` is served.
    pub listen: MetricsListen,
    /// Produces the scrape's body (Prometheus text format).
    pub render: RenderMetrics,
}

impl fmt::Debug for MetricsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsConfig")
            .field("listen", &self.listen)
            .finish_non_exhaustive()
    }
}

/// The route label of a request no route matches.
const UNMATCHED: &str = "unmatched";

/// Counts and times every request: the outermost middleware, so that
/// requests refused by the others (431, 413) are counted too.
pub(crate) async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    // The template of the matching resource ("/token"), from the app's
    // resource map: known before the request is routed.
    let route = req.match_pattern().unwrap_or_else(|| UNMATCHED.to_owned());
    let method = method_label(req.method());
    let result = next.call(req).await;
    let status = match &result {
        Ok(response) => response.status(),
        Err(error) => error.as_response_error().status_code(),
    };
    observe(
        route,
        method,
        status.as_u16(),
        started.elapsed().as_secs_f64(),
    );
    result
}

/// One route's handles: its duration histogram, and its request counter
/// per method and status seen so far.
struct RouteHandles {
    route: String,
    duration: Histogram,
    requests: HashMap<(&'static str, u16), Counter>,
}

thread_local! {
    /// This worker's handles by route template. Bounded: the templates are
    /// the app's routes and `unmatched`, the methods a fixed set, the
    /// statuses what handlers answer.
    static ROUTES: RefCell<HashMap<String, RouteHandles>> = RefCell::new(HashMap::new());
}

/// Records one request, through this thread's kept handles.
fn observe(route: String, method: &'static str, status: u16, seconds: f64) {
    ROUTES.with_borrow_mut(|routes| {
        let handles = routes
            .entry(route)
            .or_insert_with_key(|route| RouteHandles {
                route: route.clone(),
                duration: metrics::histogram!(
                    "porthor_http_request_duration_seconds",
                    "route" => route.clone()
                ),
                requests: HashMap::new(),
            });
        let RouteHandles {
            route,
            duration,
            requests,
        } = handles;
        duration.record(seconds);
        requests
            .entry((method, status))
            .or_insert_with(|| {
                metrics::counter!(
                    "porthor_http_requests_total",
                    "route" => route.clone(),
                    "method" => method,
                    "status" => status_label(status)
                )
            })
            .increment(1);
    });
}

/// A method as a label: the ones Porthor serves, and `other` for the rest
/// (a client may send any token as a method).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// A status code as a label, without allocating for the common ones.
fn status_label(status: u16) -> metrics::SharedString {
    match status {
        200 => "200".into(),
        302 => "302".into(),
        303 => "303".into(),
        400 => "400".into(),
        401 => "401".into(),
        404 => "404".into(),
        other => other.to_string().into(),
    }
}

/// `GET /metrics`.
pub(crate) async fn scrape(render: web::Data<RenderMetrics>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body((render.get_ref())())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusual_methods_share_one_label() {
        assert_eq!(method_label(&Method::POST), "POST");
        let odd = Method::from_bytes(b"BREW").unwrap_or(Method::TRACE);
        assert_eq!(method_label(&odd), "other");
    }

    #[test]
    fn status_labels_are_the_numbers() {
        assert_eq!(status_label(200).as_ref(), "200");
        assert_eq!(status_label(503).as_ref(), "503");
    }
}
