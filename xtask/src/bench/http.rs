//! The load generator's HTTP/1.1 client: one keep-alive connection per
//! virtual user, hyper's bare connection API (no pool, no redirects, no
//! cookie jar), and a timeout on every exchange.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::timeout;

/// How long one request may take, connecting included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A response, its body read in full.
#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Response {
    /// The first value of header `name` as text, if present and visible ASCII.
    pub fn header(&self, name: &header::HeaderName) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }
}

/// One connection to the server, opened on first use and reopened after an
/// error (which is then counted in [`Conn::connects`]).
#[derive(Debug)]
pub struct Conn {
    address: SocketAddr,
    host: HeaderValue,
    sender: Option<SendRequest<Full<Bytes>>>,
    /// How many TCP connections this `Conn` has opened so far.
    pub connects: u64,
}

impl Conn {
    pub fn new(address: SocketAddr) -> Self {
        let host = HeaderValue::from_str(&address.to_string())
            .unwrap_or_else(|_| HeaderValue::from_static("127.0.0.1"));
        Self {
            address,
            host,
            sender: None,
            connects: 0,
        }
    }

    /// `GET path` with extra `headers`.
    pub async fn get(
        &mut self,
        path: &str,
        headers: &[(header::HeaderName, &str)],
    ) -> Result<Response> {
        self.send(Method::GET, path, headers, None).await
    }

    /// `POST path` with a form body and extra `headers`.
    pub async fn post_form(
        &mut self,
        path: &str,
        headers: &[(header::HeaderName, &str)],
        form: String,
    ) -> Result<Response> {
        self.send(Method::POST, path, headers, Some(form)).await
    }

    async fn send(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(header::HeaderName, &str)],
        form: Option<String>,
    ) -> Result<Response> {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(map) = request.headers_mut() {
            map.insert(header::HOST, self.host.clone());
            for (name, value) in headers {
                map.append(name, HeaderValue::from_str(value)?);
            }
            if form.is_some() {
                map.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/x-www-form-urlencoded"),
                );
            }
        }
        let body = form.map_or_else(Bytes::new, Bytes::from);
        let request = request.body(Full::new(body))?;
        timeout(REQUEST_TIMEOUT, self.exchange(request))
            .await
            .map_err(|_| anyhow!("no response within {REQUEST_TIMEOUT:?}"))?
    }

    async fn exchange(&mut self, request: Request<Full<Bytes>>) -> Result<Response> {
        // Taken out for the exchange, so that an error or a timeout drops it.
        let mut sender = match self.sender.take() {
            Some(sender) if !sender.is_closed() => sender,
            _ => self.connect().await?,
        };
        sender.ready().await.context("the connection closed")?;
        let response = sender.send_request(request).await?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
        self.sender = Some(sender);
        Ok(Response {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    async fn connect(&mut self) -> Result<SendRequest<Full<Bytes>>> {
        self.connects += 1;
        let stream = TcpStream::connect(self.address)
            .await
            .with_context(|| format!("could not connect to {}", self.address))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            // Ends when the connection closes; errors surface on the sender.
            let _ = connection.await;
        });
        Ok(sender)
    }
}
