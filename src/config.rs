//! Network-wide settings.

use std::time::Duration;

use hypar_proto::{ConfigError, PlumtreeConfig};

use crate::Multiaddr;

/// Most bytes one relayed circuit carries (both directions) on a node that
/// offers relay service ([`NetworkConfig::relay_server`]). libp2p's default,
/// 128 KiB, would cut a busy topic's circuit within seconds; 4 MiB carries
/// gossip until hole punching replaces the circuit, which takes seconds,
/// and bounds what a node whose punching fails costs the relay.
pub const RELAY_CIRCUIT_BYTES: u64 = 4 * 1024 * 1024;
/// Longest life of one relayed circuit on a relay; as
/// [`RELAY_CIRCUIT_BYTES`]. A circuit cut here is a link loss: what it
/// held is repaired, and the peers reconnect (relayed again, or directly).
pub const RELAY_CIRCUIT_DURATION: Duration = Duration::from_secs(5 * 60);
/// Circuits a relay carries at once, and per peer.
pub const RELAY_MAX_CIRCUITS: (usize, usize) = (64, 8);

/// How a [`Network`](crate::Network) listens and what it bounds. Every
/// field has a default ([`NetworkConfig::default`]); [`NetworkConfig::validate`]
/// says which value is out of range.
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    /// Addresses to listen on; port 0 picks a free port. Default: TCP and
    /// QUIC on every IPv4 interface.
    pub listen: Vec<Multiaddr>,
    /// Largest frame on the wire, framing included, for every topic.
    pub max_message_size: usize,
    /// Most established connections at once.
    pub max_connections: u32,
    /// A connection no topic needs is closed after this long idle.
    pub idle_connection_timeout: Duration,
    /// Messages queued per subscriber (each `Topic` handle); beyond it new
    /// messages are dropped for that subscriber and counted.
    pub subscriber_queue: usize,
    /// Publishes per topic accepted but not sent yet: waiting for the network
    /// thread, for a first neighbour, or for a congested link to drain.
    /// Beyond it `gossip` returns [`Error::QueueFull`](crate::Error::QueueFull)
    /// (and `gossip_async` waits).
    pub publish_queue: usize,
    /// Payload bytes per topic accepted but not sent yet; the same rule.
    pub publish_buffer_bytes: usize,
    /// Frames queued per peer connection before its link counts as
    /// congested: a payload for a congested peer is announced to it instead
    /// (it fetches the payload once the link drains), and a publish waits
    /// while every neighbour of its topic is congested. Control frames may
    /// queue to four times this bound.
    pub peer_queue: usize,
    /// Frame bytes queued per peer connection before its link counts as
    /// congested; as `peer_queue`.
    pub peer_queue_bytes: usize,
    /// Frames a peer may send per second on one connection (a peer has at
    /// most two), with a burst of one second's worth. Beyond it the
    /// connection is read more slowly: unread frames wait in the transport,
    /// whose flow control fills the peer's own queue to this node, so its
    /// publishers see backpressure; nothing is dropped. A flood, even of
    /// valid messages, then costs this node and everything downstream at
    /// most this rate. Exceeding it is not penalised: a neighbour relaying a
    /// busy topic looks exactly like a flooder. Set it to the busiest
    /// honest rate you expect from one neighbour. 0: no bound.
    pub peer_frame_rate: u32,
    /// Frame bytes a peer may send per second on one connection; as
    /// `peer_frame_rate`. 0 (no bound) or at least `max_message_size`.
    pub peer_byte_rate: u64,
    /// A neighbour link on which nothing was sent for this long carries a
    /// one-byte keep-alive. Busy links and connections no topic needs carry
    /// none.
    pub liveness_interval: Duration,
    /// A neighbour link on which nothing arrived for this long is closed, so
    /// a neighbour that vanished silently (power lost, cable cut, partition)
    /// is replaced within about `liveness_timeout + liveness_interval`. At
    /// least three times `liveness_interval`: a quiet link carries a
    /// keep-alive about every second interval.
    pub liveness_timeout: Duration,
    /// Events queued per event subscriber.
    pub event_queue: usize,
    /// A peer whose misbehaviour score reaches this is banned: told
    /// DISCONNECT in every topic, dropped from every view, disconnected and
    /// refused for `ban_duration`. Each offence adds to the score, which
    /// halves every minute: a bad signature 20, a message the validator
    /// rejected 10, a malformed frame 25, bytes that are no frame 50, a
    /// broadcast frame from a non-neighbour or a GRAFT for an unknown
    /// message 2, a JOIN for a topic this node is not in 1. So the default
    /// 100 bans after five forgeries in a row, but never for the occasional
    /// slip of an honest peer. 0 never bans.
    pub ban_threshold: u32,
    /// How long a banned peer is refused.
    pub ban_duration: Duration,
    /// How long [`Network::new`](crate::Network::new) waits for listeners.
    pub startup_timeout: Duration,
    /// Find peers on the local networks with mDNS (multicast DNS, UDP port
    /// 5353): nodes on one LAN that join the same topic find each other
    /// with no bootstrap address. A discovered peer that speaks hypar (its
    /// identify record says so) becomes a join candidate for every topic
    /// this node is in, while the topic has too few neighbours. Loopback
    /// interfaces are not searched. Off by default: it announces this node
    /// to everyone on the LAN. Android apps must hold a `MulticastLock`
    /// (permission `CHANGE_WIFI_MULTICAST_STATE`); iOS apps need the
    /// multicast networking entitlement.
    pub mdns: bool,
    /// Offer relay service (circuit relay v2) to other nodes: nodes behind
    /// NAT reserve a slot here and are reached through it until hole
    /// punching (DCUtR) gives them a direct link. Off by default, even on a
    /// node that finds it is publicly reachable: relaying spends this
    /// node's bandwidth on others' traffic, which a phone or a laptop
    /// should not do unasked. Run it on the public nodes you operate for
    /// your application (`hypar relay`). A circuit carries at most
    /// [`RELAY_CIRCUIT_BYTES`](crate::RELAY_CIRCUIT_BYTES) for at most
    /// [`RELAY_CIRCUIT_DURATION`](crate::RELAY_CIRCUIT_DURATION); a circuit
    /// cut there is a link loss the overlay repairs.
    pub relay_server: bool,
    /// Addresses at which this node is publicly reachable, declared by the
    /// operator (a server with a known public IP, a port forward). They are
    /// announced to peers at once, and the node counts as publicly reachable
    /// without waiting for AutoNAT.
    pub external_addrs: Vec<Multiaddr>,
    /// Map ports on the local router with UPnP (IGD), and announce the
    /// mapped address once the router confirms it. Off by default.
    pub upnp: bool,
    /// Count private address ranges (10/8, 172.16/12, 192.168/16, ...) as
    /// public when probing reachability (AutoNAT), for test beds that play
    /// the internet on private addresses. Off by default; never turn it on
    /// in the field: a node would think itself reachable at a LAN address.
    pub private_is_public: bool,
    /// Name servers that resolve `/dns` addresses (bootstrap addresses
    /// such as `/dns4/boot.example.com/tcp/4001`). Empty (the default): the
    /// system's configuration (`/etc/resolv.conf` on Unix), or, where it
    /// cannot be read, [`FALLBACK_DNS_SERVERS`]. Android always takes the
    /// fallback: its resolver settings are reachable only through a Java
    /// context a library loaded by an app does not have.
    pub dns_servers: Vec<std::net::IpAddr>,
}

/// Public resolvers used when the system's configuration cannot be read
/// and [`NetworkConfig::dns_servers`] is empty: Cloudflare's and Google's.
pub const FALLBACK_DNS_SERVERS: [std::net::IpAddr; 4] = [
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(1, 1, 1, 1)),
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(8, 8, 8, 8)),
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(1, 0, 0, 1)),
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(8, 8, 4, 4)),
];

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            listen: vec![
                "/ip4/0.0.0.0/tcp/0".parse().expect("valid"),
                "/ip4/0.0.0.0/udp/0/quic-v1".parse().expect("valid"),
            ],
            max_message_size: PlumtreeConfig::default().max_message_size,
            max_connections: 512,
            idle_connection_timeout: Duration::from_secs(30),
            subscriber_queue: 1024,
            publish_queue: 4096,
            publish_buffer_bytes: 16 * 1024 * 1024,
            peer_queue: 1024,
            peer_queue_bytes: 256 * 1024,
            peer_frame_rate: 50_000,
            peer_byte_rate: 128 * 1024 * 1024,
            liveness_interval: Duration::from_secs(1),
            liveness_timeout: Duration::from_secs(5),
            event_queue: 256,
            ban_threshold: 100,
            ban_duration: Duration::from_secs(600),
            startup_timeout: Duration::from_secs(10),
            mdns: false,
            relay_server: false,
            external_addrs: Vec::new(),
            upnp: false,
            private_is_public: false,
            dns_servers: Vec::new(),
        }
    }
}

impl NetworkConfig {
    /// `Ok` if every value is in range; else the first that is not, with
    /// its field name and the rule it breaks.
    pub fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::check(!self.listen.is_empty(), "network.listen", "[]", "needs at least one address")?;
        ConfigError::check(
            self.external_addrs.len() <= crate::net::peer_data::MAX_ADDRS,
            "network.external_addrs",
            self.external_addrs.len(),
            "at most 8 addresses are announced",
        )?;
        ConfigError::check(
            (PlumtreeConfig::MIN_MESSAGE_SIZE..=PlumtreeConfig::MAX_MESSAGE_SIZE).contains(&self.max_message_size),
            "network.max_message_size",
            self.max_message_size,
            "must be between 256 and 16777216 bytes",
        )?;
        ConfigError::check(
            self.max_connections >= 1,
            "network.max_connections",
            self.max_connections,
            "must be at least 1",
        )?;
        for (field, n) in [
            ("network.subscriber_queue", self.subscriber_queue),
            ("network.publish_queue", self.publish_queue),
            ("network.peer_queue", self.peer_queue),
            ("network.event_queue", self.event_queue),
        ] {
            ConfigError::check((1..=1 << 20).contains(&n), field, n, "must be between 1 and 1048576")?;
        }
        ConfigError::check(
            self.publish_buffer_bytes >= self.max_message_size,
            "network.publish_buffer_bytes",
            self.publish_buffer_bytes,
            "must hold at least one message of max_message_size",
        )?;
        ConfigError::check(
            self.peer_queue_bytes >= self.max_message_size,
            "network.peer_queue_bytes",
            self.peer_queue_bytes,
            "must hold at least one message of max_message_size",
        )?;
        ConfigError::check(
            self.peer_byte_rate == 0 || self.peer_byte_rate >= self.max_message_size as u64,
            "network.peer_byte_rate",
            self.peer_byte_rate,
            "must be 0 (no bound) or at least max_message_size bytes a second",
        )?;
        ConfigError::check_duration("network.liveness_interval", self.liveness_interval)?;
        ConfigError::check_duration("network.liveness_timeout", self.liveness_timeout)?;
        ConfigError::check(
            self.liveness_timeout >= 3 * self.liveness_interval,
            "network.liveness_timeout",
            format!("{}ms", self.liveness_timeout.as_millis()),
            "must be at least three times liveness_interval",
        )?;
        ConfigError::check_duration("network.idle_connection_timeout", self.idle_connection_timeout)?;
        ConfigError::check_duration("network.ban_duration", self.ban_duration)?;
        ConfigError::check_duration("network.startup_timeout", self.startup_timeout)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::NetworkConfig;

    #[test]
    fn liveness_settings_are_validated() {
        assert_eq!(NetworkConfig::default().validate(), Ok(()));
        let config = |interval_ms, timeout_ms| NetworkConfig {
            liveness_interval: Duration::from_millis(interval_ms),
            liveness_timeout: Duration::from_millis(timeout_ms),
            ..NetworkConfig::default()
        };
        assert_eq!(config(1000, 3000).validate(), Ok(()));
        for (interval, timeout, field, reason) in [
            (0, 5000, "network.liveness_interval", "must be at least 1ms"),
            (1000, 0, "network.liveness_timeout", "must be at least 1ms"),
            (1000, 2999, "network.liveness_timeout", "must be at least three times liveness_interval"),
        ] {
            let err = config(interval, timeout).validate().unwrap_err();
            assert_eq!((err.field, err.reason), (field, reason), "{interval} ms / {timeout} ms");
        }
    }
}
