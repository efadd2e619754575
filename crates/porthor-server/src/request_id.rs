//! The request id: one per request, on every log line of the request (a
//! `tracing` span) and echoed in the `X-Request-Id` response header.
//!
//! A trusted proxy's `X-Request-Id` is kept, so that one id follows the
//! request through the proxy's logs and Porthor's; anyone else's is
//! ignored (a client could otherwise plant misleading ids in the logs), as
//! is one that is not 1 to 128 of `A-Z a-z 0-9 - _ . :` (the charset of the
//! UUIDs and trace ids proxies send, with nothing a log reader could
//! mistake for structure). Otherwise Porthor makes one.
//!
//! It must not know what handlers do with the request.

use std::hash::{BuildHasher as _, RandomState};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, web};
use tracing::Instrument as _;

use crate::TrustedProxies;

/// The header, both ways.
pub(crate) const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest id accepted from a proxy.
const MAX_LEN: usize = 128;

/// Runs the request inside a span carrying its id, and echoes the id.
pub(crate) async fn request_id(
    proxies: web::Data<TrustedProxies>,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = forwarded(&req, &proxies).unwrap_or_else(generate);
    let span = tracing::info_span!("request", request_id = %id);
    let mut response = next.call(req).instrument(span).await?;
    // Checked or generated above: always a valid header value.
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(X_REQUEST_ID, value);
    }
    Ok(response)
}

/// The id a trusted proxy sent, if it is acceptable.
fn forwarded(req: &ServiceRequest, proxies: &TrustedProxies) -> Option<String> {
    let peer = req.peer_addr()?.ip().to_canonical();
    if !proxies.contains(peer) {
        return None;
    }
    let value = req.headers().get(X_REQUEST_ID)?.to_str().ok()?;
    valid(value).then(|| value.to_owned())
}

fn valid(id: &str) -> bool {
    (1..=MAX_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// A fresh id: a random per-process prefix and a counter, so ids are
/// unique across replicas and restarts without a random draw per request.
fn generate() -> String {
    static PREFIX: LazyLock<u64> = LazyLock::new(|| RandomState::new().hash_one(0_u8));
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{:016x}-{n:x}", *PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        assert!(valid("5f0c8d7e-2b1a-4c3d-9e8f-0a1b2c3d4e5f"));
        assert!(valid(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        ));
        assert!(!valid(""));
        assert!(!valid(&"a".repeat(MAX_LEN + 1)));
        assert!(valid(&"a".repeat(MAX_LEN)));
        for bad in ["a b", "a\"b", "a\nb", "a=b", "é"] {
            assert!(!valid(bad), "{bad:?}");
        }
    }

    #[test]
    fn generated_ids_are_unique_and_valid() {
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert!(valid(&a) && valid(&b));
    }
}
