//! What a handler reads of the request itself, in one place: the client's
//! address (for throttling, audit and session records) and its user agent
//! (recorded with sessions, cut to 256 characters).
//!
//! The client's address is the TCP peer, unless the peer is one of the
//! configured reverse proxies (`server.trusted_proxies`): then it is read
//! from `X-Forwarded-For`, right to left, skipping the trusted hops, so a
//! client cannot choose its own address by sending the header itself.

use crate::AppState;
use actix_web::http::header;
use actix_web::{HttpRequest, web};
use ipnet::IpNet;
use std::net::IpAddr;

/// The client's address, as text (see the module doc).
pub fn client_ip(req: &HttpRequest) -> Option<String> {
    let peer = req.peer_addr()?.ip();
    let trusted = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.trusted_proxies.as_slice())
        .unwrap_or_default();
    // Each entry read from the raw bytes: a header line holding a byte
    // that is not text (a client can send one, and nginx appends the real
    // address to the same line) must not hide the hops after it.
    let forwarded: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .map(|hop| std::str::from_utf8(hop).unwrap_or("?"))
        .collect();
    Some(real_client(peer, forwarded.into_iter(), trusted).to_string())
}

/// The client behind `peer`: `peer` itself unless it is trusted; then the
/// last address of the `X-Forwarded-For` chain (its values in header
/// order) that is not a trusted proxy. A chain that is all proxies gives
/// its first address; an entry that is not an address stops the walk at
/// the last hop known good (a proxy, never a guess).
fn real_client<'a>(
    peer: IpAddr,
    forwarded: impl Iterator<Item = &'a str>,
    trusted: &[IpNet],
) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    // `::ffff:10.0.0.1` (a dual-stack listener) is 10.0.0.1.
    let peer = peer.to_canonical();
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<&str> = forwarded
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else {
            return client;
        };
        client = ip;
        if !is_trusted(&ip) {
            return ip;
        }
    }
    client
}

/// One `X-Forwarded-For` entry: an address, possibly with a port
/// (`192.0.2.7:4242`, `[2001:db8::1]:443`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
        .map(|ip| ip.to_canonical())
}

/// The `User-Agent`, at most 256 characters.
pub fn user_agent(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(256).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peer_is_the_client_and_long_user_agents_are_cut() {
        let req = actix_web::test::TestRequest::default()
            .peer_addr("192.0.2.7:4242".parse().expect("addr"))
            .insert_header((header::USER_AGENT, "x".repeat(300)))
            .insert_header(("X-Forwarded-For", "203.0.113.9"))
            .to_http_request();
        // No trusted proxy configured: the header is ignored.
        assert_eq!(client_ip(&req).as_deref(), Some("192.0.2.7"));
        assert_eq!(user_agent(&req).map(|u| u.len()), Some(256));
        let bare = actix_web::test::TestRequest::default().to_http_request();
        assert_eq!(user_agent(&bare), None);
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().expect("net")).collect()
    }

    #[test]
    fn a_hop_that_is_not_text_hides_nothing_and_mapped_addresses_are_plain() {
        let state_less = actix_web::test::TestRequest::default()
            .peer_addr("[::ffff:10.0.0.1]:4242".parse().expect("addr"))
            .insert_header((
                "X-Forwarded-For",
                actix_web::http::header::HeaderValue::from_bytes(b"\xff, 203.0.113.5")
                    .expect("header"),
            ))
            .to_http_request();
        // No state: nothing trusted, the peer (as plain IPv4) is the client.
        assert_eq!(client_ip(&state_less).as_deref(), Some("10.0.0.1"));
        let hops: Vec<&str> = state_less
            .headers()
            .get_all("x-forwarded-for")
            .flat_map(|v| v.as_bytes().split(|b| *b == b','))
            .map(|hop| std::str::from_utf8(hop).unwrap_or("?"))
            .collect();
        let trusted = nets(&["10.0.0.0/24"]);
        let got = real_client(ip("::ffff:10.0.0.1"), hops.into_iter(), &trusted);
        assert_eq!(got, ip("203.0.113.5"), "the proxy's own hop is read");
    }

    #[test]
    fn forwarded_for_counts_only_from_a_trusted_proxy() {
        let trusted = nets(&["10.0.0.0/24", "::1/128"]);
        // An untrusted peer cannot choose its address.
        let got = real_client(ip("198.51.100.4"), ["203.0.113.9"].into_iter(), &trusted);
        assert_eq!(got, ip("198.51.100.4"));
        // The proxy's word is taken: the nearest untrusted hop is the client,
        // whatever the client wrote further left.
        let got = real_client(
            ip("10.0.0.1"),
            ["6.6.6.6, 203.0.113.9", "10.0.0.2"].into_iter(),
            &trusted,
        );
        assert_eq!(got, ip("203.0.113.9"));
        // Ports and brackets are read.
        let got = real_client(ip("::1"), ["[2001:db8::7]:443"].into_iter(), &trusted);
        assert_eq!(got, ip("2001:db8::7"));
        // No header from a proxy: the proxy itself.
        assert_eq!(
            real_client(ip("10.0.0.1"), std::iter::empty(), &trusted),
            ip("10.0.0.1")
        );
        // Garbage stops at the last good hop, never a guess.
        let got = real_client(ip("10.0.0.1"), ["203.0.113.9, junk"].into_iter(), &trusted);
        assert_eq!(got, ip("10.0.0.1"));
        // A chain of proxies only: its first address.
        let got = real_client(ip("10.0.0.1"), ["10.0.0.3, 10.0.0.2"].into_iter(), &trusted);
        assert_eq!(got, ip("10.0.0.3"));
    }
}
