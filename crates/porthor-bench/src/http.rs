//! The load generator's HTTP/1.1 client: one keep-alive connection per
//! virtual user, no redirects, no cookie jar, a timeout on every exchange.
//!
//! It shares two cores with the server it measures, so it is as lean as the
//! job allows: each request is written with one system call from a reused
//! buffer, and the response is parsed by `httparse` in place, on the virtual
//! user's own task. hyper's connection API, used before, moved every
//! exchange through a second task and a channel and cost about a third more
//! CPU per flow.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail, ensure};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// How long one request may take, connecting included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// More response headers than this is an error (the server sends about ten).
const MAX_HEADERS: usize = 32;
/// A response larger than this is an error (the largest, the login page, is
/// a few KiB).
const MAX_RESPONSE: usize = 1 << 20;

/// A response, its body read in full.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Names in lower case, values as sent (lossily decoded).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers_named(name).next()
    }

    /// Every value of header `name` (lower case), in order.
    pub fn headers_named<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> {
        self.headers
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, value)| value.as_str())
    }
}

/// One connection to the server, opened on first use and reopened after an
/// error (which is then counted in [`Conn::connects`]).
#[derive(Debug)]
pub struct Conn {
    address: SocketAddr,
    stream: Option<TcpStream>,
    /// The request being sent; reused.
    request: Vec<u8>,
    /// Bytes read from the connection; reused.
    received: Vec<u8>,
    /// How many TCP connections this `Conn` has opened so far.
    pub connects: u64,
}

impl Conn {
    pub fn new(address: SocketAddr) -> Self {
        Self {
            address,
            stream: None,
            request: Vec::with_capacity(1024),
            received: Vec::with_capacity(4096),
            connects: 0,
        }
    }

    /// `GET path` with extra `headers`.
    pub async fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> Result<Response> {
        self.send("GET", path, headers, None).await
    }

    /// `POST path` with a form body and extra `headers`.
    pub async fn post_form(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
        form: &str,
    ) -> Result<Response> {
        self.send("POST", path, headers, Some(form)).await
    }

    async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        form: Option<&str>,
    ) -> Result<Response> {
        write_request(&mut self.request, method, self.address, path, headers, form);
        timeout(REQUEST_TIMEOUT, self.exchange())
            .await
            .map_err(|_| anyhow!("no response within {REQUEST_TIMEOUT:?}"))?
    }

    async fn exchange(&mut self) -> Result<Response> {
        // Taken out for the exchange, so that an error or a timeout drops it.
        let mut stream = match self.stream.take() {
            Some(stream) => stream,
            None => self.connect().await?,
        };
        stream.write_all(&self.request).await?;
        self.received.clear();
        loop {
            if stream.read_buf(&mut self.received).await? == 0 {
                bail!("the connection closed before a whole response");
            }
            if let Some((response, keep_alive)) = parse_response(&self.received)? {
                if keep_alive {
                    self.stream = Some(stream);
                }
                return Ok(response);
            }
            ensure!(
                self.received.len() <= MAX_RESPONSE,
                "the response exceeds {MAX_RESPONSE} bytes"
            );
        }
    }

    async fn connect(&mut self) -> Result<TcpStream> {
        self.connects += 1;
        let stream = TcpStream::connect(self.address)
            .await
            .with_context(|| format!("could not connect to {}", self.address))?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

/// Writes an HTTP/1.1 request into `out`, replacing what it held.
fn write_request(
    out: &mut Vec<u8>,
    method: &str,
    host: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    form: Option<&str>,
) {
    use std::io::Write as _;
    out.clear();
    // Writing to a Vec cannot fail.
    let _ = write!(out, "{method} {path} HTTP/1.1\r\nhost: {host}\r\n");
    for (name, value) in headers {
        let _ = write!(out, "{name}: {value}\r\n");
    }
    if let Some(form) = form {
        let _ = write!(
            out,
            "content-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\n\r\n{form}",
            form.len()
        );
    } else {
        out.extend_from_slice(b"\r\n");
    }
}

/// The response in `received` and whether the connection stays open, once
/// it has all arrived; `None` while more is to come. Bodies must be sized by
/// `Content-Length` (the server sizes all of its bodies), and nothing may
/// follow the body, since requests are never pipelined.
fn parse_response(received: &[u8]) -> Result<Option<(Response, bool)>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut head = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(head_len) =
        head.parse(received).context("malformed response")?
    else {
        return Ok(None);
    };
    let status = head.code.context("a response without a status")?;
    let headers = head
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    let mut response = Response {
        status,
        headers,
        body: Vec::new(),
    };
    ensure!(
        response.header("transfer-encoding").is_none(),
        "a response with Transfer-Encoding (only Content-Length is supported)"
    );
    let length = match response.header("content-length") {
        Some(length) => length
            .trim()
            .parse::<usize>()
            .with_context(|| format!("bad Content-Length {length:?}"))?,
        None if matches!(status, 204 | 304) => 0,
        None => bail!("a {status} response without Content-Length"),
    };
    let Some(body) = received.get(head_len..head_len.saturating_add(length)) else {
        return Ok(None);
    };
    ensure!(
        received.len() == head_len + length,
        "bytes after the response body"
    );
    let keep_alive = !response
        .header("connection")
        .is_some_and(|v| v.eq_ignore_ascii_case("close"));
    response.body = body.to_vec();
    Ok(Some((response, keep_alive)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESPONSE: &[u8] = b"HTTP/1.1 302 Found\r\nLocation: /cb?code=x\r\n\
        Set-Cookie: a=1\r\nset-cookie: b=2\r\ncontent-length: 5\r\n\r\nhello";

    #[test]
    fn a_response_is_parsed_once_it_has_all_arrived() {
        for end in [0, 10, RESPONSE.len() - 6, RESPONSE.len() - 1] {
            assert!(parse_response(&RESPONSE[..end]).unwrap().is_none(), "{end}");
        }
        let (response, keep_alive) = parse_response(RESPONSE).unwrap().unwrap();
        assert!(keep_alive);
        assert_eq!(response.status, 302);
        assert_eq!(response.header("location"), Some("/cb?code=x"));
        assert_eq!(
            response.headers_named("set-cookie").collect::<Vec<_>>(),
            ["a=1", "b=2"]
        );
        assert_eq!(response.body, b"hello");
    }

    #[test]
    fn unsupported_or_broken_responses_are_errors() {
        let cases: [(&[u8], &str); 4] = [
            (b"HTTP/1.1 200 OK\r\n\r\n", "without Content-Length"),
            (
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
                "Transfer-Encoding",
            ),
            (
                b"HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n",
                "Content-Length",
            ),
            (
                b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nab",
                "after the",
            ),
        ];
        for (bytes, expected) in cases {
            let error = parse_response(bytes).unwrap_err();
            assert!(format!("{error:#}").contains(expected), "{error:#}");
        }
        let (empty, _) = parse_response(b"HTTP/1.1 204 No Content\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(empty.body.is_empty());
        let (_, keep_alive) =
            parse_response(b"HTTP/1.1 200 OK\r\nConnection: close\r\ncontent-length: 0\r\n\r\n")
                .unwrap()
                .unwrap();
        assert!(!keep_alive);
    }

    #[test]
    fn requests_carry_host_headers_and_a_sized_form() {
        let mut out = b"stale".to_vec();
        let host = SocketAddr::from(([127, 0, 0, 1], 8080));
        write_request(
            &mut out,
            "POST",
            host,
            "/t",
            &[("authorization", "Basic x")],
            Some("a=1"),
        );
        assert_eq!(
            out,
            b"POST /t HTTP/1.1\r\nhost: 127.0.0.1:8080\r\nauthorization: Basic x\r\n\
              content-type: application/x-www-form-urlencoded\r\ncontent-length: 3\r\n\r\na=1"
        );
        write_request(&mut out, "GET", host, "/u", &[], None);
        assert_eq!(out, b"GET /u HTTP/1.1\r\nhost: 127.0.0.1:8080\r\n\r\n");
    }
}
