//! A peer's [`PeerData`](hypar_proto::PeerData) in the libp2p runtime: its
//! dialable addresses, so that peers learned through joins and shuffles can
//! be dialed. Encoded with postcard as a sequence of byte strings, each the
//! binary form of one multiaddr (without a trailing `/p2p/` component).

use bytes::Bytes;
use libp2p::multiaddr::Protocol;
use libp2p::Multiaddr;

/// At most this many addresses are announced or accepted per peer.
pub(crate) const MAX_ADDRS: usize = 8;
/// Longest accepted binary multiaddr.
pub(crate) const MAX_ADDR_LEN: usize = 256;

/// Encode `addrs` (at most [`MAX_ADDRS`], `/p2p/` suffixes removed).
pub(crate) fn encode(addrs: &[Multiaddr]) -> Bytes {
    let list: Vec<Vec<u8>> = addrs.iter().take(MAX_ADDRS).map(|a| without_peer_id(a).to_vec()).collect();
    Bytes::from(postcard::to_allocvec(&list).expect("a list of byte strings serialises"))
}

/// Decode addresses sent by a peer, skipping any that are malformed or too
/// long. Never fails: bad data just yields fewer addresses.
pub(crate) fn decode(data: &[u8]) -> Vec<Multiaddr> {
    let Ok(list) = postcard::from_bytes::<Vec<&[u8]>>(data) else { return Vec::new() };
    list.into_iter()
        .take(MAX_ADDRS)
        .filter(|b| b.len() <= MAX_ADDR_LEN)
        .filter_map(|b| Multiaddr::try_from(b.to_vec()).ok())
        .collect()
}

/// `addr` without a trailing `/p2p/<peer id>`.
pub(crate) fn without_peer_id(addr: &Multiaddr) -> Multiaddr {
    let mut a = addr.clone();
    if matches!(a.iter().last(), Some(Protocol::P2p(_))) {
        a.pop();
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        let addrs: Vec<Multiaddr> =
            vec!["/ip4/127.0.0.1/tcp/4001".parse().unwrap(), "/ip4/127.0.0.1/udp/4001/quic-v1".parse().unwrap()];
        assert_eq!(decode(&encode(&addrs)), addrs);
        for junk in [&b""[..], b"\xff\xff\xff", b"\x01\x03abc", b"\x02\x00\x00"] {
            let _ = decode(junk);
        }
        let many: Vec<Multiaddr> = (0..20).map(|p| format!("/ip4/1.2.3.4/tcp/{p}").parse().unwrap()).collect();
        assert_eq!(decode(&encode(&many)).len(), MAX_ADDRS);
    }
}
