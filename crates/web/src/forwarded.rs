//! Who the client is when Paddock runs behind a gateway: the address the audit trail,
//! the sign-in throttle and the logs record. The TCP peer is the client unless it is
//! one of the configured trusted proxies (`--trusted-proxy CIDR`); only then is its
//! `Forwarded` (RFC 7239, preferred) or `X-Forwarded-For` header read, from the right:
//! each hop a trusted proxy vouches for is believed, and the first address that is not
//! a trusted proxy is the client. A client cannot spoof its address by sending the
//! header itself: whatever it puts on the left is never reached, because its own
//! address, appended by the first trusted proxy, is not trusted. With no trusted
//! proxies (the default) the headers are ignored.

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName};
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// The client's address as this deployment's proxies report it (request extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// The gateways whose forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Arc<[IpNet]>);

impl TrustedProxies {
    /// These networks (a single address is a /32 or /128).
    pub fn new(networks: Vec<IpNet>) -> Self {
        Self(networks.into())
    }

    /// Parses `10.0.0.0/8` or `192.0.2.7` (one address); `None` if it is neither.
    pub fn parse_network(text: &str) -> Option<IpNet> {
        let text = text.trim();
        text.parse::<IpNet>()
            .ok()
            .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
    }

    /// Whether none are configured (the forwarding headers are then never read).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `address` is one of these gateways.
    pub fn trusts(&self, address: IpAddr) -> bool {
        // An IPv4 peer on a dual-stack socket arrives as ::ffff:a.b.c.d.
        let address = address.to_canonical();
        self.0.iter().any(|network| network.contains(&address))
    }

    /// The client behind `peer`, from the forwarding headers when `peer` is trusted.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        let hops = forwarded_for(headers).unwrap_or_else(|| x_forwarded_for(headers));
        let mut client = peer;
        for hop in hops.iter().rev() {
            if !self.trusts(client) {
                break;
            }
            match hop {
                Some(address) => client = address.to_canonical(),
                // `unknown`, an obfuscated name or garbage: nothing further is known.
                None => break,
            }
        }
        client
    }
}

/// The hops of every `X-Forwarded-For` header, in order (`None` for one that is not
/// an address).
fn x_forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    values(headers, &HeaderName::from_static("x-forwarded-for"))
        .flat_map(|value| value.split(',').map(address_of).collect::<Vec<_>>())
        .collect()
}

/// The `for=` hops of every `Forwarded` header, in order; `None` when there is no
/// `Forwarded` header with a `for` parameter (then `X-Forwarded-For` is read).
fn forwarded_for(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let hops: Vec<Option<IpAddr>> = values(headers, &axum::http::header::FORWARDED)
        .flat_map(|value| {
            value
                .split(',')
                .filter_map(|element| {
                    element.split(';').find_map(|pair| {
                        let (name, value) = pair.split_once('=')?;
                        name.trim()
                            .eq_ignore_ascii_case("for")
                            .then(|| address_of(value))
                    })
                })
                .collect::<Vec<_>>()
        })
        .collect();
    (!hops.is_empty()).then_some(hops)
}

fn values<'a>(headers: &'a HeaderMap, name: &HeaderName) -> impl Iterator<Item = &'a str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
}

/// One hop: `192.0.2.7`, `192.0.2.7:4711`, `"[2001:db8::1]:4711"`, `2001:db8::1`.
fn address_of(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim().trim_matches('"');
    if let Ok(address) = hop.parse::<IpAddr>() {
        return Some(address);
    }
    if let Ok(socket) = hop.parse::<SocketAddr>() {
        return Some(socket.ip());
    }
    // `[2001:db8::1]` without a port.
    hop.strip_prefix('[')?.strip_suffix(']')?.parse().ok()
}

/// Puts the [`ClientIp`] of each request in its extensions, for the request context.
pub async fn client_ip(
    State(trusted): State<TrustedProxies>,
    mut request: Request,
    next: Next,
) -> Response {
    if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() {
        let client = trusted.client(peer.ip(), request.headers());
        request.extensions_mut().insert(ClientIp(client));
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(networks: &[&str]) -> TrustedProxies {
        TrustedProxies::new(
            networks
                .iter()
                .map(|n| TrustedProxies::parse_network(n).unwrap())
                .collect(),
        )
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_headers_count_only_from_a_trusted_proxy() {
        let trusted = proxies(&["10.0.0.0/8", "192.0.2.1"]);
        let sent = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(trusted.client(ip("10.1.2.3"), &sent), ip("203.0.113.9"));
        assert_eq!(trusted.client(ip("192.0.2.1"), &sent), ip("203.0.113.9"));
        // Anyone else's claim is ignored: the peer is the client.
        assert_eq!(
            trusted.client(ip("198.51.100.7"), &sent),
            ip("198.51.100.7")
        );
        assert_eq!(trusted.client(ip("192.0.2.2"), &sent), ip("192.0.2.2"));
        // No proxies configured: never read.
        let none = TrustedProxies::default();
        assert_eq!(none.client(ip("10.1.2.3"), &sent), ip("10.1.2.3"));
    }

    #[test]
    fn a_client_cannot_spoof_its_address_through_the_header() {
        let trusted = proxies(&["10.0.0.0/8"]);
        // The client sent "X-Forwarded-For: 1.1.1.1"; the gateway appended its address.
        let sent = headers(&[("x-forwarded-for", "1.1.1.1, 203.0.113.9")]);
        assert_eq!(trusted.client(ip("10.0.0.5"), &sent), ip("203.0.113.9"));
        // Two trusted gateways in a row: both are skipped.
        let chain = headers(&[("x-forwarded-for", "1.1.1.1, 203.0.113.9, 10.0.0.6")]);
        assert_eq!(trusted.client(ip("10.0.0.5"), &chain), ip("203.0.113.9"));
        // Split over two headers, in order.
        let split = headers(&[
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        assert_eq!(trusted.client(ip("10.0.0.5"), &split), ip("203.0.113.9"));
    }

    #[test]
    fn forwarded_is_read_before_x_forwarded_for_with_ports_and_ipv6() {
        let trusted = proxies(&["10.0.0.0/8", "2001:db8:ffff::/48"]);
        let both = headers(&[
            ("forwarded", "for=\"[2001:db8:cafe::17]:4711\";proto=https"),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        assert_eq!(
            trusted.client(ip("10.0.0.5"), &both),
            ip("2001:db8:cafe::17")
        );
        let chain = headers(&[(
            "forwarded",
            "for=198.51.100.3:5000, For=\"[2001:db8:ffff::2]\";by=10.0.0.5",
        )]);
        assert_eq!(trusted.client(ip("10.0.0.5"), &chain), ip("198.51.100.3"));
        // A dual-stack socket's mapped IPv4 peer is the IPv4 address.
        let sent = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(
            trusted.client(ip("::ffff:10.0.0.5"), &sent),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn what_is_not_an_address_stops_the_walk_at_the_last_trusted_hop() {
        let trusted = proxies(&["10.0.0.0/8"]);
        for garbage in ["unknown", "_hidden", "not an address", "", "300.1.1.1"] {
            let sent = headers(&[("x-forwarded-for", garbage)]);
            assert_eq!(
                trusted.client(ip("10.0.0.5"), &sent),
                ip("10.0.0.5"),
                "{garbage:?}"
            );
        }
        let hidden = headers(&[("forwarded", "for=_hidden, for=10.0.0.7")]);
        assert_eq!(trusted.client(ip("10.0.0.5"), &hidden), ip("10.0.0.7"));
        assert_eq!(TrustedProxies::parse_network("10.0.0.0/33"), None);
        assert_eq!(TrustedProxies::parse_network("proxy.example"), None);
    }
}
