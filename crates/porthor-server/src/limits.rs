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
//! body as soon as it grows past it.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap};
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse, web};

use crate::AppState;

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

/// The size of the header fields as they came on the wire.
fn header_bytes(headers: &HeaderMap) -> usize {
    headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + ": \r\n".len())
        .sum()
}

/// Middleware: 431 for headers over [`RequestLimits::max_header_bytes`].
pub(crate) async fn limit_headers(
    state: web::Data<AppState>,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let size = header_bytes(req.headers());
    if size > state.limits.max_header_bytes {
        tracing::info!(
            size,
            limit = state.limits.max_header_bytes,
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
