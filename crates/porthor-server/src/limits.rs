//! Bounded work per request: request headers and form bodies have a size
//! limit ([`RequestLimits`]), checked before any handler runs.
//!
//! actix-web itself refuses a request head over 128 KiB or with more than
//! 96 header lines (431); the header limit here is much lower, since no
//! honest request to an identity provider carries more than a few
//! kilobytes of headers (Porthor's own cookies are well under one; an
//! issuer sharing its host with other applications gets theirs too). Form
//! bodies are read by the `web::Bytes` extractor, whose limit
//! is the [`web::PayloadConfig`] set on the application: a declared
//! `Content-Length` over it is refused before anything is read, a chunked
//! body as soon as it grows past it. Handlers take it through [`FormBody`],
//! which also bounds how long the body may take to arrive
//! ([`BODY_TIMEOUT`]): actix-web times out a slow request head (5 s) but
//! not a body, so a client declaring a `Content-Length` and then stalling
//! held its connection open for as long as it liked (found by `cargo xtask
//! hostile`).

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap};
use actix_web::middleware::Next;
use actix_web::{Error, FromRequest, HttpRequest, HttpResponse, web};

/// How large a request may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimits {
    /// The most bytes of header fields (names, values and their `: ` and
    /// CRLF); more answers 431.
    pub max_header_bytes: usize,
    /// The most bytes of a form body; more answers 413.
    pub max_form_bytes: usize,
}

impl Default for RequestLimits {
    fn default() -> Self {
        Self {
            max_header_bytes: 16 * 1024,
            max_form_bytes: 64 * 1024,
        }
    }
}

impl RequestLimits {
    /// The body extractor's configuration for this limit.
    pub(crate) fn payload_config(&self) -> web::PayloadConfig {
        web::PayloadConfig::new(self.max_form_bytes)
    }
}

/// How long a request body may take to arrive in full. Every body Porthor
/// reads is a small form, sent at once by honest clients; the bound is
/// generous for slow links and short enough that stalled bodies cannot pile
/// up connections for long.
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A request body read in full within [`BODY_TIMEOUT`] (and within the
/// size limit of the application's [`web::PayloadConfig`]); 408 otherwise.
#[derive(Debug)]
pub(crate) struct FormBody(pub(crate) web::Bytes);

impl std::ops::Deref for FormBody {
    type Target = web::Bytes;

    fn deref(&self) -> &web::Bytes {
        &self.0
    }
}

impl FromRequest for FormBody {
    type Error = Error;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Self, Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let read = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            match actix_web::rt::time::timeout(BODY_TIMEOUT, read).await {
                Ok(body) => body.map(Self),
                Err(_) => {
                    tracing::info!(outcome = "refused", "request body timed out");
                    Err(actix_web::error::ErrorRequestTimeout(
                        "the request body did not arrive in time\n",
                    ))
                }
            }
        })
    }
}

/// The size of the header fields as they came on the wire.
fn header_bytes(headers: &HeaderMap) -> usize {
    headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + ": \r\n".len())
        .sum()
}

/// Middleware: 431 for headers over [`RequestLimits::max_header_bytes`].
pub(crate) async fn limit_headers(
    limits: web::Data<RequestLimits>,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let size = header_bytes(req.headers());
    if size > limits.max_header_bytes {
        tracing::info!(
            size,
            limit = limits.max_header_bytes,
            outcome = "refused",
            "request headers too large"
        );
        let response = HttpResponse::RequestHeaderFieldsTooLarge()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::CONNECTION, "close"))
            .body("request header fields too large\n");
        return Ok(req.into_response(response).map_into_right_body());
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderName, HeaderValue};

    use super::*;

    #[test]
    fn headers_are_measured_as_sent() {
        let mut headers = HeaderMap::new();
        assert_eq!(header_bytes(&headers), 0);
        headers.append(
            HeaderName::from_static("cookie"),
            HeaderValue::from_static("a=1"),
        );
        headers.append(
            HeaderName::from_static("cookie"),
            HeaderValue::from_static("b=22"),
        );
        // "cookie: a=1\r\n" and "cookie: b=22\r\n".
        assert_eq!(header_bytes(&headers), 13 + 14);
    }
}
