//! The client's address behind a reverse proxy.
//!
//! `X-Forwarded-For` is a header anyone can write, so it is believed only when the TCP
//! peer is a proxy the operator named (`--trusted-proxy`). Each proxy appends the address
//! it received the request from; the client is the rightmost address that is not itself a
//! trusted proxy (entries further left were written by the client and prove nothing).

use std::net::IpAddr;

use super::http::Request;

/// The address to count and log a connection under.
#[must_use]
pub fn client_ip(peer: IpAddr, req: &Request, trusted: &[IpAddr]) -> IpAddr {
    if !is_trusted(peer, trusted) {
        return peer;
    }
    let hops: Vec<&str> = req
        .headers
        .iter()
        .filter(|(n, _)| n == "x-forwarded-for")
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        match parse_hop(hop) {
            Some(ip) if is_trusted(ip, trusted) => client = ip,
            Some(ip) => return ip,
            // A hop we cannot read: stop at the last address we can vouch for.
            None => return client,
        }
    }
    client
}

fn is_trusted(ip: IpAddr, trusted: &[IpAddr]) -> bool {
    trusted.iter().any(|t| *t == canonical(ip))
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// An address as proxies write it: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or `[2001:db8::1]:80`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(sa) = hop.parse::<std::net::SocketAddr>() {
        return Some(canonical(sa.ip()));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(xff: &[&str]) -> Request {
        Request {
            method: "GET".into(),
            path: "/ws".into(),
            query: String::new(),
            headers: xff
                .iter()
                .map(|v| ("x-forwarded-for".to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxy = ip("127.0.0.1");
        let r = req(&["203.0.113.9"]);
        assert_eq!(
            client_ip(proxy, &r, &[]),
            proxy,
            "untrusted peer: header ignored"
        );
        assert_eq!(client_ip(proxy, &r, &[proxy]), ip("203.0.113.9"));
        // A client forging a hop gets the address the proxy saw, not the forged one.
        let forged = req(&["1.1.1.1, 198.51.100.7"]);
        assert_eq!(client_ip(proxy, &forged, &[proxy]), ip("198.51.100.7"));
        // Chained trusted proxies are skipped; several headers read as one list.
        let chain = req(&["198.51.100.7", "10.0.0.2"]);
        assert_eq!(
            client_ip(proxy, &chain, &[proxy, ip("10.0.0.2")]),
            ip("198.51.100.7")
        );
        assert_eq!(client_ip(proxy, &req(&[]), &[proxy]), proxy);
        assert_eq!(client_ip(proxy, &req(&["garbage"]), &[proxy]), proxy);
        assert_eq!(
            client_ip(proxy, &req(&["[2001:db8::1]:443"]), &[proxy]),
            ip("2001:db8::1")
        );
    }
}
