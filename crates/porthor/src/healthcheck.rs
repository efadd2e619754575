//! `porthor healthcheck`: asks a running instance's `/health` (or `/ready`)
//! whether it is up, for a container's `HEALTHCHECK` or a script, and exits
//! 0 or 1.
//!
//! It is a plain blocking HTTP/1.1 GET over a `std` `TcpStream`, with no
//! HTTP client library and no TLS: a health check talks to the instance
//! beside it over loopback, and an image whose probe pulled in an HTTP stack
//! (or needed `curl`, which a distroless image lacks) would be larger for
//! nothing. An `https` URL is refused with a pointer to `--url
//! http://127.0.0.1:PORT`. It must not know the routes beyond the two probe
//! paths, nor load keys: with `--config` only `server.listen` and the
//! issuer's path are read, so a probe never fails on a key file it need not
//! open.

use std::io::{Read as _, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs as _};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use url::Url;

use crate::cli::HealthcheckArgs;
use crate::commands::read_settings;

/// At most this much of the answer is read: the status line is all that
/// counts, and a probe must not be made to buffer a large body.
const MAX_RESPONSE_BYTES: usize = 4096;

/// `porthor healthcheck`: `Ok` when the probe answered 200.
pub fn run(args: &HealthcheckArgs, out: &mut impl Write) -> Result<()> {
    let path = if args.ready { "/ready" } else { "/health" };
    let url = match (&args.url, &args.config) {
        (Some(url), _) => probe_url(url, path)?,
        (None, Some(file)) => url_from_config(Some(file), path)?,
        // Neither: the same layering `serve` uses, so that PORTHOR_* alone
        // (as in a container) names the instance.
        (None, None) => url_from_config(None, path)?,
    };
    let timeout = humantime::parse_duration(&args.timeout).with_context(|| {
        format!(
            "--timeout {:?} is not a duration such as \"2s\"",
            args.timeout
        )
    })?;
    let status = get(&url, timeout).with_context(|| format!("GET {url} failed"))?;
    if status != 200 {
        bail!("GET {url} answered {status}, not 200");
    }
    writeln!(out, "ok: GET {url} answered 200")?;
    Ok(())
}

/// `base` with the probe's path appended to whatever path it has (an
/// instance serving under an issuer path, `http://host/idp`, has its probes
/// under it too).
fn probe_url(base: &str, path: &str) -> Result<Url> {
    let mut url = Url::parse(base).with_context(|| format!("--url {base:?} is not a URL"))?;
    if url.scheme() != "http" {
        bail!(
            "--url {base:?}: only plain http is supported (probe the instance over loopback, such as --url http://127.0.0.1:8080)"
        );
    }
    let joined = format!("{}{path}", url.path().trim_end_matches('/'));
    url.set_path(&joined);
    url.set_query(None);
    Ok(url)
}

/// The probe URL of the instance `file` (and the environment) configures:
/// its `server.listen` address, with a wildcard address replaced by
/// loopback, and the issuer's path.
fn url_from_config(file: Option<&Path>, path: &str) -> Result<Url> {
    let loaded = read_settings(file)?;
    let settings = &loaded.settings;
    let listen: SocketAddr = settings.server.listen.parse().map_err(|_| {
        anyhow!(
            "server.listen: {:?} is not an address such as \"127.0.0.1:8080\"",
            settings.server.listen
        )
    })?;
    let base_path = match &settings.issuer {
        Some(issuer) => Url::parse(issuer)
            .map(|url| url.path().trim_end_matches('/').to_owned())
            .map_err(|error| anyhow!("issuer: {issuer:?} is not a URL: {error}"))?,
        None => String::new(),
    };
    probe_url(&format!("http://{}{base_path}", loopback(listen)), path)
}

/// Where to reach a server listening on `listen`: the wildcard addresses
/// are not connectable, so the same family's loopback stands in.
fn loopback(listen: SocketAddr) -> SocketAddr {
    match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), listen.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), listen.port())
        }
        _ => listen,
    }
}

/// GETs `url` within `timeout` (connecting, sending and reading the status
/// line together) and returns the status code.
fn get(url: &Url, timeout: Duration) -> Result<u16> {
    let deadline = Instant::now() + timeout;
    let host = url
        .host_str()
        .ok_or_else(|| anyhow!("the URL has no host"))?;
    let port = url.port_or_known_default().unwrap_or(80);
    let addrs: Vec<SocketAddr> = (host.trim_matches(['[', ']']), port)
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {host}"))?
        .collect();
    let mut last_error = None;
    let mut stream = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, remaining(deadline)?) {
            Ok(connected) => {
                stream = Some(connected);
                break;
            }
            Err(error) => last_error = Some(anyhow!("cannot connect to {addr}: {error}")),
        }
    }
    let mut stream = match stream {
        Some(stream) => stream,
        None => return Err(last_error.unwrap_or_else(|| anyhow!("{host} has no address"))),
    };
    let authority = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    stream.set_write_timeout(Some(remaining(deadline)?))?;
    write!(
        stream,
        "GET {} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: porthor-healthcheck\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        url.path()
    )?;
    let mut response = Vec::new();
    let mut buffer = [0u8; 512];
    while !response.contains(&b'\n') && response.len() < MAX_RESPONSE_BYTES {
        stream.set_read_timeout(Some(remaining(deadline)?))?;
        let read = stream
            .read(&mut buffer)
            .context("no answer within the timeout")?;
        if read == 0 {
            break;
        }
        response.extend(buffer.iter().take(read));
    }
    status_code(&response)
}

/// The time left before `deadline`, or an error once it has passed (a zero
/// duration would mean "no timeout" to the socket calls).
fn remaining(deadline: Instant) -> Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        bail!("timed out");
    }
    Ok(left)
}

/// The status code of an HTTP/1.x status line at the start of `response`.
fn status_code(response: &[u8]) -> Result<u16> {
    let line = response
        .split(|&byte| byte == b'\n')
        .next()
        .unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some(version), Some(code)) if version.starts_with("HTTP/1.") => code
            .parse()
            .map_err(|_| anyhow!("not an HTTP status line: {:?}", line.trim_end())),
        _ if response.is_empty() => bail!("the connection closed without an answer"),
        _ => bail!("not an HTTP status line: {:?}", line.trim_end()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_urls() {
        for (base, path, expected) in [
            (
                "http://127.0.0.1:8080",
                "/health",
                "http://127.0.0.1:8080/health",
            ),
            (
                "http://127.0.0.1:8080/",
                "/ready",
                "http://127.0.0.1:8080/ready",
            ),
            (
                "http://[::1]:8080/idp/",
                "/health",
                "http://[::1]:8080/idp/health",
            ),
            (
                "http://localhost/idp?x=1",
                "/health",
                "http://localhost/idp/health",
            ),
        ] {
            assert_eq!(probe_url(base, path).unwrap().as_str(), expected);
        }
        for bad in ["https://127.0.0.1:8443", "127.0.0.1:8080", "not a url"] {
            assert!(probe_url(bad, "/health").is_err(), "{bad}");
        }
    }

    #[test]
    fn wildcard_listen_addresses_become_loopback() {
        for (listen, expected) in [
            ("0.0.0.0:8080", "127.0.0.1:8080"),
            ("[::]:8080", "[::1]:8080"),
            ("10.1.2.3:80", "10.1.2.3:80"),
        ] {
            let listen: SocketAddr = listen.parse().unwrap();
            assert_eq!(loopback(listen).to_string(), expected);
        }
    }

    #[test]
    fn status_lines() {
        assert_eq!(status_code(b"HTTP/1.1 200 OK\r\n").unwrap(), 200);
        assert_eq!(
            status_code(b"HTTP/1.0 503 Service Unavailable\r\nx").unwrap(),
            503
        );
        assert!(status_code(b"").is_err());
        assert!(status_code(b"SSH-2.0-OpenSSH\r\n").is_err());
        assert!(status_code(b"HTTP/1.1 abc\r\n").is_err());
    }
}
