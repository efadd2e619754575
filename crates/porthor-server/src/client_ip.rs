//! Which address a request comes from, for counting failed logins per
//! client: the TCP peer, unless the peer is a trusted proxy, in which case
//! the right-most address in `X-Forwarded-For` that is not a trusted proxy.
//!
//! Each proxy appends the address it received the request from, so the
//! entries right of the client's own are written by trusted proxies and
//! the ones left of it by the client, who can write anything there: the
//! walk stops at the first untrusted address. A request from an untrusted
//! peer is the peer's, whatever its `X-Forwarded-For` says.

use std::net::{IpAddr, SocketAddr};

use actix_web::HttpRequest;
use ipnet::IpNet;

/// The proxies whose `X-Forwarded-For` is believed: `[server]
/// trusted_proxies`. Empty by default: then no header is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses CIDRs (`10.0.0.0/8`, `2001:db8::/32`) or single addresses
    /// (`192.0.2.1`). A CIDR with host bits set (`10.1.2.3/8`) is refused
    /// rather than widened, since it is likely a typo. Every bad entry is
    /// reported, with its index.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, Vec<(usize, String)>> {
        let mut networks = Vec::with_capacity(entries.len());
        let mut problems = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            match network(entry.as_ref().trim()) {
                Ok(network) => networks.push(network),
                Err(problem) => problems.push((index, problem)),
            }
        }
        if problems.is_empty() {
            Ok(Self(networks))
        } else {
            Err(problems)
        }
    }

    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|network| network.contains(&ip))
    }
}

fn network(text: &str) -> Result<IpNet, String> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(IpNet::from(ip.to_canonical()));
    }
    let network: IpNet = text.parse().map_err(|_| {
        format!("{text:?} is not an address or a CIDR such as \"10.0.0.0/8\" or \"2001:db8::/32\"")
    })?;
    if network.trunc() != network {
        return Err(format!(
            "{text:?} has bits set past its prefix length; the network is {}",
            network.trunc()
        ));
    }
    Ok(network)
}

/// The address `req` comes from, by the rule in the module documentation;
/// `None` if the connection has no peer address.
pub(crate) fn client_ip(req: &HttpRequest, trusted: &TrustedProxies) -> Option<IpAddr> {
    let mut client = req.peer_addr()?.ip().to_canonical();
    if !trusted.contains(client) {
        return Some(client);
    }
    // Several header lines are one list, in order (RFC 9110 5.3). Bytes,
    // not text: a value that is not ASCII must not make the whole header
    // vanish, or a client could be counted as its proxy.
    let hops: Vec<&[u8]> = req
        .headers()
        .get_all("x-forwarded-for")
        .flat_map(|value| value.as_bytes().split(|&b| b == b','))
        .collect();
    for hop in hops.into_iter().rev() {
        // Garbage where a proxy's entry should be: the last trusted hop is
        // the best there is.
        let Some(ip) = parse_hop(hop) else { break };
        client = ip;
        if !trusted.contains(ip) {
            break;
        }
    }
    Some(client)
}

/// One `X-Forwarded-For` entry: an address, bracketed or not, with or
/// without a port (some proxies add one).
fn parse_hop(hop: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(hop).ok()?.trim();
    let ip = text
        .parse::<IpAddr>()
        .or_else(|_| text.parse::<SocketAddr>().map(|addr| addr.ip()))
        .or_else(|_| {
            text.strip_prefix('[')
                .and_then(|rest| rest.strip_suffix(']'))
                .unwrap_or_default()
                .parse::<IpAddr>()
        })
        .ok()?;
    Some(ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn proxies(entries: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(entries).unwrap()
    }

    fn from(peer: &str, forwarded: &[&str], trusted: &TrustedProxies) -> Option<IpAddr> {
        let mut request = TestRequest::default().peer_addr(peer.parse().unwrap());
        for value in forwarded {
            request = request.append_header(("x-forwarded-for", *value));
        }
        client_ip(&request.to_http_request(), trusted)
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn parses_networks_and_addresses() {
        let trusted = proxies(&[
            "10.0.0.0/8",
            " 192.0.2.1 ",
            "2001:db8::/32",
            "::ffff:198.51.100.7",
        ]);
        for inside in [
            "10.255.0.1",
            "192.0.2.1",
            "2001:db8:ffff::1",
            "198.51.100.7",
        ] {
            assert!(trusted.contains(inside.parse().unwrap()), "{inside}");
        }
        for outside in ["11.0.0.1", "192.0.2.2", "2001:db9::1"] {
            assert!(!trusted.contains(outside.parse().unwrap()), "{outside}");
        }
        let problems = TrustedProxies::parse(&["10.0.0.0/8", "10.1.2.3/8", "proxy", "10.0.0.0/33"])
            .unwrap_err();
        let indexes: Vec<usize> = problems.iter().map(|(index, _)| *index).collect();
        assert_eq!(indexes, [1, 2, 3]);
        assert!(problems[0].1.contains("10.0.0.0/8"), "{problems:?}");
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let trusted = proxies(&["10.0.0.0/8"]);
        assert_eq!(
            from("203.0.113.9:5000", &["198.51.100.1"], &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            from("203.0.113.9:5000", &[], &TrustedProxies::default()),
            ip("203.0.113.9")
        );
        assert_eq!(
            from(
                "10.0.0.1:5000",
                &["198.51.100.1"],
                &TrustedProxies::default()
            ),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn a_trusted_proxy_names_the_right_most_untrusted_address() {
        let trusted = proxies(&["10.0.0.0/8", "2001:db8::/32"]);
        // The client wrote the left-most entries; the proxies appended the rest.
        assert_eq!(
            from(
                "10.0.0.1:5000",
                &["6.6.6.6, 198.51.100.1, 10.0.0.2"],
                &trusted
            ),
            ip("198.51.100.1")
        );
        // Several header lines are one list.
        assert_eq!(
            from(
                "10.0.0.1:5000",
                &["6.6.6.6", "198.51.100.1", "10.0.0.2"],
                &trusted
            ),
            ip("198.51.100.1")
        );
        // Ports and brackets, as some proxies write them; mapped IPv4.
        assert_eq!(
            from("10.0.0.1:1", &["198.51.100.1:4711"], &trusted),
            ip("198.51.100.1")
        );
        assert_eq!(
            from("10.0.0.1:1", &["[2001:db9::1]:443"], &trusted),
            ip("2001:db9::1")
        );
        assert_eq!(
            from("10.0.0.1:1", &["[2001:db9::2]"], &trusted),
            ip("2001:db9::2")
        );
        assert_eq!(
            from("[::ffff:10.0.0.1]:1", &["198.51.100.1"], &trusted),
            ip("198.51.100.1")
        );
        // Nothing forwarded, or only proxies: the left-most proxy is all there is.
        assert_eq!(from("10.0.0.1:5000", &[], &trusted), ip("10.0.0.1"));
        assert_eq!(
            from("10.0.0.1:5000", &["10.0.0.3, 10.0.0.2"], &trusted),
            ip("10.0.0.3")
        );
        // Garbage stops the walk where it is; what the client wrote left of
        // its own address is never reached.
        assert_eq!(
            from("10.0.0.1:5000", &["198.51.100.1, junk, 10.0.0.2"], &trusted),
            ip("10.0.0.2")
        );
        assert_eq!(
            from("10.0.0.1:5000", &["junk, 198.51.100.1"], &trusted),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn a_non_ascii_entry_does_not_hide_the_rest_of_the_header() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let request = TestRequest::default()
            .peer_addr("10.0.0.1:5000".parse().unwrap())
            .insert_header((
                "x-forwarded-for",
                actix_web::http::header::HeaderValue::from_bytes(b"\xff\xfe, 198.51.100.1")
                    .unwrap(),
            ))
            .to_http_request();
        assert_eq!(client_ip(&request, &trusted), ip("198.51.100.1"));
    }
}
