//! Arguments every foreign face parses the same way.

use hypar::Multiaddr;

use super::ForeignError;

/// A multiaddr, such as `/ip4/127.0.0.1/tcp/4001/p2p/12D3KooW...`.
pub fn parse_multiaddr(s: &str) -> Result<Multiaddr, ForeignError> {
    s.parse::<Multiaddr>().map_err(|e| ForeignError::invalid(format!("invalid multiaddr {s:?}: {e}")))
}

/// Several multiaddrs; the first malformed one is the error.
pub fn parse_multiaddrs(addrs: &[impl AsRef<str>]) -> Result<Vec<Multiaddr>, ForeignError> {
    addrs.iter().map(|a| parse_multiaddr(a.as_ref())).collect()
}

/// Parse IP addresses (such as `"1.1.1.1"` or `"2606:4700::1111"`) given
/// for `what`.
pub fn parse_ips(ips: &[String], what: &str) -> Result<Vec<std::net::IpAddr>, ForeignError> {
    ips.iter()
        .map(|ip| ip.parse().map_err(|_| ForeignError::invalid(format!("{what}: {ip:?} is not an IP address"))))
        .collect()
}
