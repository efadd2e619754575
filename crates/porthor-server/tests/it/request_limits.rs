//! Bounded work per request: request headers over `[server]
//! max_header_bytes` answer 431, form bodies over `[server] max_form_bytes`
//! 413, on every endpoint, before any handler runs.

use porthor_server::RequestLimits;
use reqwest::header::COOKIE;
use reqwest::{Method, StatusCode};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::harness::{Harness, Options, StoreKind};

const KIB: usize = 1024;

/// Every endpoint that reads a form body.
const FORM_ENDPOINTS: [&str; 7] = [
    "/auth/openid/login",
    "/auth/openid/token",
    "/auth/openid/revoke",
    "/auth/openid/introspect",
    "/auth/openid/logout",
    "/login",
    "/logout",
];

/// A form body of exactly `len` bytes.
fn form_of(len: usize) -> String {
    let mut body = "grant_type=authorization_code&pad=".to_owned();
    body.push_str(&"a".repeat(len - body.len()));
    body
}

async fn status_with_header(h: &Harness, path: &str, name: &str, value: &str) -> StatusCode {
    h.http
        .get(h.url(path))
        .header(name, value)
        .send()
        .await
        .unwrap()
        .status()
}

async fn post_form(h: &Harness, path: &str, body: String) -> StatusCode {
    h.http
        .post(h.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
}

async fn request_headers_over_max_header_bytes_answer_431(backend: StoreKind) {
    let h = Harness::start(backend).await;
    for path in [
        "/login",
        "/.well-known/openid-configuration",
        "/auth/openid/login",
    ] {
        let big = "x".repeat(17 * KIB);
        let status = status_with_header(&h, path, "x-padding", &big).await;
        assert_eq!(
            status,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "{path}"
        );
        let fits = "x".repeat(15 * KIB);
        let status = status_with_header(&h, path, "x-padding", &fits).await;
        assert_ne!(
            status,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "{path}"
        );
    }
    // Many small headers add up as much as one large one.
    let mut request = h.http.get(h.url("/health"));
    for index in 0..40 {
        request = request.header(format!("x-padding-{index}"), "y".repeat(500));
    }
    let status = request.send().await.unwrap().status();
    assert_eq!(status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
}

/// Before the limit, a 64 KiB cookie was accepted (and parsed) by every
/// route.
async fn a_64_kib_cookie_answers_431(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let cookie = format!("porthor_session={}", "a".repeat(64 * KIB));
    for path in ["/login", "/logout", "/auth/openid/login?client_id=app"] {
        let status = status_with_header(&h, path, COOKIE.as_str(), &cookie).await;
        assert_eq!(
            status,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "{path}"
        );
    }
}

async fn form_bodies_over_max_form_bytes_answer_413(backend: StoreKind) {
    let h = Harness::start(backend).await;
    for path in FORM_ENDPOINTS {
        let status = post_form(&h, path, form_of(64 * KIB + 1)).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{path}");
        // At the limit the body is read, and the endpoint answers it.
        let status = post_form(&h, path, form_of(64 * KIB)).await;
        assert_ne!(status, StatusCode::PAYLOAD_TOO_LARGE, "{path}");
        assert!(!status.is_server_error(), "{path}: {status}");
    }
    // RP-initiated logout reads a body on GET too.
    let status = h
        .http
        .request(Method::GET, h.url("/auth/openid/logout"))
        .body(form_of(64 * KIB + 1))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

/// A chunked body declares no length: it is refused once it grows past
/// the limit.
async fn chunked_form_bodies_over_max_form_bytes_answer_413(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let host = h.issuer.strip_prefix("http://").unwrap();
    let mut stream = TcpStream::connect(host).await.unwrap();
    let head = format!(
        "POST /auth/openid/token HTTP/1.1\r\nHost: {host}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = "a".repeat(8 * KIB);
    for _ in 0..9 {
        let framed = format!("{:x}\r\n{chunk}\r\n", chunk.len());
        // The server may answer and close before the last chunks.
        if stream.write_all(framed.as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
}

/// A body that stalls after its head is given up on after the body
/// timeout (408), instead of holding the connection open for ever (found
/// by `cargo xtask hostile`); the server answers others meanwhile.
async fn a_stalled_body_times_out_with_408(backend: StoreKind) {
    let h = Harness::start(backend).await;
    let host = h.issuer.strip_prefix("http://").unwrap();
    let mut stream = TcpStream::connect(host).await.unwrap();
    let head = format!(
        "POST /auth/openid/token HTTP/1.1\r\nHost: {host}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: 100\r\n\r\ngrant_type="
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = std::time::Instant::now();
    let health = h.http.get(h.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let mut response = vec![0; 4096];
    let read = tokio::time::timeout(
        porthor_server::BODY_TIMEOUT + std::time::Duration::from_secs(5),
        stream.read(&mut response),
    )
    .await
    .expect("the stalled body was not given up on")
    .unwrap();
    let response = String::from_utf8_lossy(&response[..read]);
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(started.elapsed() >= porthor_server::BODY_TIMEOUT - std::time::Duration::from_secs(1));
}

/// Both limits come from the configuration.
async fn request_limits_are_configurable(backend: StoreKind) {
    let h = Harness::start_with(Options {
        request_limits: RequestLimits {
            max_header_bytes: 4 * KIB,
            max_form_bytes: 2 * KIB,
        },
        ..Options::new(backend)
    })
    .await;
    let status = status_with_header(&h, "/login", "x-padding", &"x".repeat(5 * KIB)).await;
    assert_eq!(status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    let status = status_with_header(&h, "/login", "x-padding", &"x".repeat(3 * KIB)).await;
    assert_eq!(status, StatusCode::OK);
    let status = post_form(&h, "/auth/openid/token", form_of(2 * KIB + 1)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let status = post_form(&h, "/auth/openid/token", form_of(2 * KIB)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

crate::on_both_stores!(
    request_headers_over_max_header_bytes_answer_431,
    a_64_kib_cookie_answers_431,
    form_bodies_over_max_form_bytes_answer_413,
    chunked_form_bodies_over_max_form_bytes_answer_413,
    a_stalled_body_times_out_with_408,
    request_limits_are_configurable,
);
