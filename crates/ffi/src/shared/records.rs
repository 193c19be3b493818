//! The plain data every foreign face shares: the network's configuration,
//! its events and its counters. uniffi exposes these types as they are; the
//! C ABI copies them into its `#[repr(C)]` structs and callbacks.

use std::collections::BTreeSet;
use std::time::Duration;

use hypar::proto::ProtocolConfig;
use hypar::{EventKind, Keypair, PeerId};

use super::args::{parse_ips, parse_multiaddrs};
use super::{ErrorKind, ForeignError};

/// How a network starts. Every field has a default.
#[derive(Debug, Clone, Default, uniffi::Record)]
pub struct NetworkConfig {
    /// Multiaddrs to listen on; empty means TCP and QUIC on every IPv4
    /// interface with system-chosen ports.
    #[uniffi(default)]
    pub listen: Vec<String>,
    /// An identity from `generate_keypair` (libp2p protobuf encoding);
    /// none means a fresh one.
    #[uniffi(default)]
    pub keypair: Option<Vec<u8>>,
    /// Largest frame on the wire, framing included (default 65536).
    #[uniffi(default)]
    pub max_message_size: Option<u64>,
    /// Messages queued per topic for its handler or `next_message`
    /// (default 1024); beyond it messages are dropped and counted.
    #[uniffi(default)]
    pub message_queue: Option<u64>,
    /// Misbehaviour score at which a peer is banned (default 100; 0 never
    /// bans). A bad signature scores 20, a message the validator rejected 10,
    /// a malformed frame 25; scores halve every minute.
    #[uniffi(default)]
    pub ban_threshold: Option<u32>,
    /// Milliseconds a banned peer is refused (default 600000).
    #[uniffi(default)]
    pub ban_duration_ms: Option<u64>,
    /// Frames a peer may send per second on one connection (default 50000;
    /// 0 no bound). Beyond it the peer is read more slowly, so its
    /// publishers see backpressure; nothing is dropped or penalised. Set it
    /// to the busiest honest rate one neighbour may send: a flood then costs
    /// at most that.
    #[uniffi(default)]
    pub peer_frame_rate: Option<u32>,
    /// Frame bytes a peer may send per second on one connection (default
    /// 134217728; 0 no bound, else at least the maximum message size); as
    /// `peer_frame_rate`.
    #[uniffi(default)]
    pub peer_byte_rate: Option<u64>,
    /// Find peers on the local networks with mDNS (default off): nodes on
    /// one LAN that join the same topic need no bootstrap address. Loopback
    /// is not searched. Android apps must hold a `WifiManager.MulticastLock`
    /// (permission `CHANGE_WIFI_MULTICAST_STATE`); iOS apps need the
    /// `com.apple.developer.networking.multicast` entitlement.
    #[uniffi(default)]
    pub mdns: bool,
    /// Offer relay service to nodes behind NAT (default off, even when the
    /// node is publicly reachable: relaying spends its bandwidth on others).
    /// Run it on the public nodes you operate for your application.
    #[uniffi(default)]
    pub relay_server: bool,
    /// Multiaddrs at which this node is publicly reachable, declared by the
    /// operator (at most 8): announced at once, and the node counts as
    /// public without waiting for probes.
    #[uniffi(default)]
    pub external_addrs: Vec<String>,
    /// Map a port on the local router with UPnP (default off).
    #[uniffi(default)]
    pub upnp: bool,
    /// Count private address ranges as public when probing reachability,
    /// for test beds that play the internet on private addresses. Never in
    /// the field.
    #[uniffi(default)]
    pub private_is_public: bool,
    /// IP addresses of name servers that resolve `/dns` addresses. Empty
    /// (the default): the system's configuration, or, where it cannot be
    /// read (always on Android), Cloudflare's and Google's public resolvers.
    #[uniffi(default)]
    pub dns_servers: Vec<String>,
}

impl NetworkConfig {
    /// The Rust API's configuration and identity. Malformed addresses and
    /// keys are refused here; out-of-range numbers when the network starts.
    pub fn resolve(&self) -> Result<(hypar::NetworkConfig, Keypair), ForeignError> {
        let mut config = hypar::NetworkConfig::default();
        if !self.listen.is_empty() {
            config.listen = parse_multiaddrs(&self.listen)?;
        }
        if let Some(n) = self.max_message_size {
            config.max_message_size = usize::try_from(n).unwrap_or(usize::MAX);
        }
        if let Some(n) = self.message_queue {
            config.subscriber_queue = usize::try_from(n).unwrap_or(usize::MAX);
        }
        if let Some(n) = self.ban_threshold {
            config.ban_threshold = n;
        }
        if let Some(ms) = self.ban_duration_ms {
            config.ban_duration = std::time::Duration::from_millis(ms);
        }
        if let Some(n) = self.peer_frame_rate {
            config.peer_frame_rate = n;
        }
        if let Some(n) = self.peer_byte_rate {
            config.peer_byte_rate = n;
        }
        config.mdns = self.mdns;
        config.relay_server = self.relay_server;
        config.external_addrs = parse_multiaddrs(&self.external_addrs)?;
        config.upnp = self.upnp;
        config.private_is_public = self.private_is_public;
        config.dns_servers = parse_ips(&self.dns_servers, "dns_servers")?;
        let keypair = match &self.keypair {
            Some(bytes) => Keypair::from_bytes(bytes)?,
            None => Keypair::generate(),
        };
        Ok((config, keypair))
    }
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum NetworkEventKind {
    /// The node got its first neighbour in the topic (again, after a rejoin).
    Joined,
    /// A peer became a neighbour, and its link carries frames: it has sent
    /// this node a frame of the topic. A peer that cannot be reached is
    /// never announced.
    NeighborUp,
    /// A neighbour announced by `NeighborUp` left, failed or was replaced.
    NeighborDown,
    /// No bootstrap peer could be reached; retrying with backoff.
    BootstrapFailed,
    /// A subscriber (handler) read slower than messages arrived: `missed`
    /// messages did not fit its queue. Reported at most once a second.
    Lagged,
    /// A peer misbehaved past the ban threshold and is banned (`peer_id`
    /// names it; the topic is empty: bans are network-wide).
    PeerBanned,
    /// Whether this node is publicly reachable changed (`reachability`
    /// says how; network-wide).
    ReachabilityChanged,
    /// A relay (`peer_id`) accepted this node's reservation: peers reach it
    /// through the relay's `/p2p-circuit` address, now among its listen
    /// addresses (network-wide).
    RelayReserved,
    /// The reservation on this relay (`peer_id`) ended; a node that still
    /// needs one reserves on another it is connected to (network-wide).
    RelayLost,
    /// Hole punching gave a direct connection to `peer_id`, which was
    /// reached through a relay (network-wide).
    DirectConnection,
}

/// Whether other nodes can dial this one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, uniffi::Enum)]
pub enum Reachability {
    /// Not known yet (no probe answered).
    #[default]
    Unknown,
    /// Peers dialed this node back, or an external address was declared.
    Public,
    /// Peers could not dial this node back: it is reached through a relay.
    Private,
}

impl From<hypar::Reachability> for Reachability {
    fn from(r: hypar::Reachability) -> Self {
        match r {
            hypar::Reachability::Unknown => Reachability::Unknown,
            hypar::Reachability::Public => Reachability::Public,
            hypar::Reachability::Private => Reachability::Private,
        }
    }
}

/// Something that happened in one topic.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NetworkEvent {
    /// The topic's name.
    pub topic: String,
    /// What happened.
    pub kind: NetworkEventKind,
    /// The peer concerned, for neighbour events.
    pub peer_id: Option<String>,
    /// Messages missed since the last report, for `Lagged`; 0 otherwise.
    pub missed: u64,
    /// The new reachability, for `ReachabilityChanged`.
    pub reachability: Option<Reachability>,
}

impl NetworkEvent {
    /// The foreign form of `e`; `None` for a kind the foreign faces do not
    /// name yet (the core's `EventKind` is non-exhaustive).
    pub fn from_event(e: hypar::Event) -> Option<Self> {
        let mut reachability = None;
        let (kind, peer, missed) = match e.kind {
            EventKind::Joined => (NetworkEventKind::Joined, None, 0),
            EventKind::NeighborUp(p) => (NetworkEventKind::NeighborUp, Some(p), 0),
            EventKind::NeighborDown(p) => (NetworkEventKind::NeighborDown, Some(p), 0),
            EventKind::BootstrapFailed => (NetworkEventKind::BootstrapFailed, None, 0),
            EventKind::Lagged { missed } => (NetworkEventKind::Lagged, None, missed),
            EventKind::PeerBanned(p) => (NetworkEventKind::PeerBanned, Some(p), 0),
            EventKind::ReachabilityChanged(r) => {
                reachability = Some(r.into());
                (NetworkEventKind::ReachabilityChanged, None, 0)
            }
            EventKind::RelayReserved(p) => (NetworkEventKind::RelayReserved, Some(p), 0),
            EventKind::RelayLost(p) => (NetworkEventKind::RelayLost, Some(p), 0),
            EventKind::DirectConnection(p) => (NetworkEventKind::DirectConnection, Some(p), 0),
            _ => return None,
        };
        Some(NetworkEvent { topic: e.topic, kind, peer_id: peer.map(|p| p.to_string()), missed, reachability })
    }
}

/// Counters of one topic.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct TopicStats {
    /// The topic's name.
    pub name: String,
    /// Peers in the active view (neighbours).
    pub active_view: u64,
    /// Peers in the passive view (backups).
    pub passive_view: u64,
    /// Neighbours on the broadcast tree.
    pub tree_links: u64,
    /// Messages fetched with a GRAFT because they did not arrive along the tree.
    pub grafts: u64,
    /// Messages published by this node.
    pub published: u64,
    /// Messages delivered (each once).
    pub delivered: u64,
    /// Payload copies sent to neighbours.
    pub relayed: u64,
    /// Duplicate copies received and discarded.
    pub duplicates: u64,
    /// Messages dropped: invalid, too old, or not taken by a full queue.
    pub dropped: u64,
    /// Frame bytes received for this topic.
    pub bytes_in: u64,
    /// Frame bytes sent for this topic, at their size on the wire (a
    /// stream names a topic and an origin in full once, then by a one-byte
    /// index), so one end's `bytes_out` is what the other ends count in
    /// `bytes_in` (frames lost with a failing connection count here too).
    pub bytes_out: u64,
    /// Messages the validator rejected.
    pub rejected: u64,
    /// Messages the validator ignored, or did not judge in time.
    pub ignored: u64,
    /// Messages refused for a missing or wrong signature.
    pub forged: u64,
    /// Broadcast frames refused because their sender was not a neighbour.
    pub not_neighbor: u64,
    /// New messages and announcements not taken for want of room (held
    /// messages, awaited announcements).
    pub overloaded: u64,
    /// Direct messages sent to neighbours.
    pub direct_sent: u64,
    /// Direct messages received from neighbours.
    pub direct_received: u64,
    /// Messages handed to neighbours to publish (proxy passing), retries
    /// included.
    pub handoffs_sent: u64,
    /// Messages neighbours handed this node to publish (proxy passing).
    pub handoffs_taken: u64,
    /// Senders whose messages travel a broadcast tree of their own here, or
    /// whose first message was seen (at most the `origin_trees` option).
    pub origin_trees: u64,
}

impl From<hypar::TopicStats> for TopicStats {
    fn from(s: hypar::TopicStats) -> Self {
        TopicStats {
            name: s.name,
            active_view: s.active_view as u64,
            passive_view: s.passive_view as u64,
            tree_links: s.tree_links as u64,
            grafts: s.grafts,
            published: s.published,
            delivered: s.delivered,
            relayed: s.relayed,
            duplicates: s.duplicates,
            dropped: s.dropped,
            bytes_in: s.bytes_in,
            bytes_out: s.bytes_out,
            rejected: s.rejected,
            ignored: s.ignored,
            forged: s.forged,
            not_neighbor: s.not_neighbor,
            overloaded: s.overloaded,
            direct_sent: s.direct_sent,
            direct_received: s.direct_received,
            handoffs_sent: s.handoffs_sent,
            handoffs_taken: s.handoffs_taken,
            origin_trees: s.origin_trees as u64,
        }
    }
}

/// Counters of a whole network.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct NetworkStats {
    /// One entry per joined topic.
    pub topics: Vec<TopicStats>,
    /// Peers with an open connection.
    pub connected_peers: u64,
    /// Frames dropped because a peer's queue was full or it could not be reached.
    pub frames_dropped: u64,
    /// Peers banned since the network started.
    pub peers_banned: u64,
    /// Peers banned now.
    pub banned_now: u64,
    /// Whether other nodes can dial this one, as last probed.
    pub reachability: Reachability,
    /// Neighbours (in any topic) reached only through a relay now.
    pub relayed_links: u64,
    /// Neighbours (in any topic) reached over a direct connection now.
    pub direct_links: u64,
    /// The relay holding this node's reservation, if one does.
    pub relay: Option<String>,
}

impl From<hypar::Stats> for NetworkStats {
    fn from(s: hypar::Stats) -> Self {
        NetworkStats {
            topics: s.topics.into_iter().map(Into::into).collect(),
            connected_peers: s.connected_peers as u64,
            frames_dropped: s.frames_dropped,
            peers_banned: s.peers_banned,
            banned_now: s.banned_now as u64,
            reachability: s.reachability.into(),
            relayed_links: s.relayed_links as u64,
            direct_links: s.direct_links as u64,
            relay: s.relay.map(|p| p.to_string()),
        }
    }
}

/// A message delivered (or offered to a validator), with what is known of it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Message {
    /// What the publisher sent.
    pub data: Vec<u8>,
    /// The publisher's peer id, verified by its signature, in a signed
    /// topic; none in an unsigned topic.
    pub origin: Option<String>,
    /// Overlay hops it travelled: 1 when it came straight from its publisher.
    pub hops: u16,
    /// A direct message from a neighbour (the topic's `send`), not a
    /// broadcast; `origin` is then that neighbour.
    pub direct: bool,
}

impl From<hypar::Received> for Message {
    fn from(m: hypar::Received) -> Self {
        let origin = m.origin.map(|p| p.to_string());
        Message { data: m.payload.to_vec(), origin, hops: m.hops, direct: m.direct }
    }
}

/// What a validator decides about a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Verdict {
    /// Deliver it and relay it.
    Accept,
    /// Drop it and penalise the neighbour that sent it.
    Reject,
    /// Drop it, blaming nobody.
    Ignore,
}

impl From<Verdict> for hypar::Verdict {
    fn from(v: Verdict) -> Self {
        match v {
            Verdict::Accept => hypar::Verdict::Accept,
            Verdict::Reject => hypar::Verdict::Reject,
            Verdict::Ignore => hypar::Verdict::Ignore,
        }
    }
}

/// How a topic is joined, beyond its name and bootstrap peers, and what it
/// runs with: every option of every language, one record. Every field has
/// a default; read back with the topic's `config`, changed while it runs
/// with its `configure` (which keeps the current value of a number left
/// unset, and takes an unset peer set as "anyone").
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TopicOptions {
    /// Every message carries its publisher's signature, checked by every
    /// receiver (default true). Every member of a topic must agree. Fixed
    /// while joined.
    #[uniffi(default = true)]
    pub signed: bool,
    /// Milliseconds a validator may take per message before the message is
    /// ignored (default 2000).
    #[uniffi(default)]
    pub validation_timeout_ms: Option<u64>,
    /// Peer ids allowed in the topic: the shorthand for `hear` = `tell` =
    /// this list (unset: anyone). A peer removed while the topic runs is
    /// disconnected from it.
    #[uniffi(default)]
    pub allow: Option<Vec<String>>,
    /// Peer ids this node takes messages from (unset: anyone).
    #[uniffi(default)]
    pub hear: Option<Vec<String>>,
    /// Peer ids this node passes messages to (unset: anyone). A peer in
    /// neither `hear` nor `tell` never becomes a neighbour.
    #[uniffi(default)]
    pub tell: Option<Vec<String>>,
    /// How many overlay hops a message travels at most (default 64; 1
    /// reaches only neighbours).
    #[uniffi(default)]
    pub max_hops: Option<u32>,
    /// Neighbours (active view) at most (default 5, 1 to 64).
    #[uniffi(default)]
    pub active_view: Option<u32>,
    /// Backup peers (passive view) at most (default 30, 1 to 1024).
    #[uniffi(default)]
    pub passive_view: Option<u32>,
    /// Mean milliseconds between view shuffles (default 10000).
    #[uniffi(default)]
    pub shuffle_interval_ms: Option<u64>,
    /// Shortest milliseconds to wait for an announced message before asking
    /// for it (default 150; the wait adapts up to 1000).
    #[uniffi(default)]
    pub graft_timeout_ms: Option<u64>,
    /// Milliseconds announcements are batched for (default 100).
    #[uniffi(default)]
    pub ihave_interval_ms: Option<u64>,
    /// Recent messages kept to answer peers that missed them (default 4096).
    #[uniffi(default)]
    pub message_cache: Option<u64>,
    /// Payload bytes kept for the same (default 33554432).
    #[uniffi(default)]
    pub message_cache_bytes: Option<u64>,
    /// Peers remembered beyond the views, to rejoin through (default 256).
    #[uniffi(default)]
    pub known_peers: Option<u32>,
    /// Proxy passing (default false): each message this node publishes, or
    /// is handed by a neighbour, goes with even chance to one random
    /// neighbour, which publishes it as its own, so a message's first
    /// appearance is no evidence of its author. Needs `signed` false.
    #[uniffi(default = false)]
    pub proxy: bool,
    /// Milliseconds a proxy has to show a message in the overlay before the
    /// message goes to another neighbour (default 2000).
    #[uniffi(default)]
    pub proxy_timeout_ms: Option<u64>,
    /// Senders given a broadcast tree of their own (default 0: one shared
    /// tree for every sender; at most 65536; 64 suits a topic where a few
    /// dozen senders publish again and again). A sender's messages
    /// then travel a tree shaped for it, so they arrive in fewer hops and
    /// sooner; each costs about 300 bytes of memory per node.
    #[uniffi(default)]
    pub origin_trees: Option<u32>,
    /// Duplicates in a row over a link that carries the broadcast tree
    /// before the link is dropped from it (default 5, 1 to 255). Fewer
    /// drop redundant links sooner after failures, but with many senders
    /// let their messages cut the tree into pieces joined only by
    /// announcements, which makes delivery slower.
    #[uniffi(default)]
    pub duplicates_before_prune: Option<u32>,
}

impl Default for TopicOptions {
    fn default() -> Self {
        TopicOptions {
            signed: true,
            validation_timeout_ms: None,
            allow: None,
            hear: None,
            tell: None,
            max_hops: None,
            active_view: None,
            passive_view: None,
            shuffle_interval_ms: None,
            graft_timeout_ms: None,
            ihave_interval_ms: None,
            message_cache: None,
            message_cache_bytes: None,
            known_peers: None,
            proxy: false,
            proxy_timeout_ms: None,
            origin_trees: None,
            duplicates_before_prune: None,
        }
    }
}

/// A list of peer ids as a set; `what` names the option in the error.
fn peer_set(ids: &Option<Vec<String>>, what: &str) -> Result<Option<BTreeSet<PeerId>>, ForeignError> {
    let Some(ids) = ids else { return Ok(None) };
    let parse = |s: &String| {
        s.parse::<PeerId>().map_err(|e| ForeignError::invalid(format!("{what}: invalid peer id {s:?}: {e}")))
    };
    ids.iter().map(parse).collect::<Result<_, _>>().map(Some)
}

fn peer_list(set: &Option<BTreeSet<PeerId>>) -> Option<Vec<String>> {
    set.as_ref().map(|s| s.iter().map(|p| p.to_string()).collect())
}

/// A count as the core's `usize` (saturating; the core's range check
/// reports values out of range, naming the field).
fn count(n: impl TryInto<usize>) -> usize {
    n.try_into().unwrap_or(usize::MAX)
}

/// `n` as the core's narrower field, or an error naming `what` and its
/// largest value `max`.
fn narrow<T: TryFrom<u32>>(n: u32, what: &str, max: u32) -> Result<T, ForeignError> {
    T::try_from(n)
        .map_err(|_| ForeignError::new(ErrorKind::InvalidConfig, format!("{what} = {n}: must be at most {max}")))
}

impl TopicOptions {
    /// Set `config` as these options say: numbers left unset keep their
    /// value, peer sets are taken as they are (unset: anyone). Malformed
    /// peer ids are refused here, values out of range by the core.
    pub fn apply(&self, config: &mut ProtocolConfig<PeerId>) -> Result<(), ForeignError> {
        let ms = Duration::from_millis;
        config.signed = self.signed;
        config.allowed_peers = peer_set(&self.allow, "allow")?;
        config.hear = peer_set(&self.hear, "hear")?;
        config.tell = peer_set(&self.tell, "tell")?;
        let (h, p) = (&mut config.hyparview, &mut config.plumtree);
        let set = |field: &mut Duration, v: Option<u64>| v.inspect(|v| *field = ms(*v));
        set(&mut p.validation_timeout, self.validation_timeout_ms);
        set(&mut h.shuffle_interval, self.shuffle_interval_ms);
        set(&mut p.graft_timeout_1, self.graft_timeout_ms);
        set(&mut p.ihave_interval, self.ihave_interval_ms);
        set(&mut p.proxy_timeout, self.proxy_timeout_ms);
        p.proxy = self.proxy;
        if let Some(n) = self.max_hops {
            p.max_hops = narrow(n, "max_hops", u16::MAX.into())?;
        }
        // Bounds that depend on the view sizes follow them (the defaults,
        // capped by the views), so any view size is accepted.
        let d = hypar::proto::HyParViewConfig::default();
        if let Some(n) = self.active_view {
            h.active_view_capacity = count(n);
            h.active_view_min = d.active_view_min.min(h.active_view_capacity);
            h.shuffle_active_count = d.shuffle_active_count.min(h.active_view_capacity);
        }
        if let Some(n) = self.passive_view {
            h.passive_view_capacity = count(n);
            h.shuffle_passive_count = d.shuffle_passive_count.min(h.passive_view_capacity);
        }
        match self.known_peers {
            Some(n) => h.known_peers_capacity = count(n),
            None => {
                let views = h.active_view_capacity.saturating_add(h.passive_view_capacity);
                h.known_peers_capacity = h.known_peers_capacity.max(views);
            }
        }
        // A longer shortest graft wait raises the longest one with it.
        p.graft_timeout_max = p.graft_timeout_max.max(p.graft_timeout_1);
        if let Some(n) = self.message_cache {
            p.message_cache_capacity = count(n);
        }
        if let Some(n) = self.message_cache_bytes {
            p.message_cache_max_bytes = count(n);
        }
        if let Some(n) = self.origin_trees {
            p.origin_trees = count(n);
        }
        if let Some(n) = self.duplicates_before_prune {
            p.duplicates_before_prune = narrow(n, "duplicates_before_prune", u8::MAX.into())?;
        }
        Ok(())
    }

    /// The options `config` amounts to, every field set.
    pub fn from_config(config: &ProtocolConfig<PeerId>) -> Self {
        let (h, p) = (&config.hyparview, &config.plumtree);
        let ms = |d: Duration| Some(d.as_millis().try_into().unwrap_or(u64::MAX));
        let n32 = |n: usize| Some(u32::try_from(n).unwrap_or(u32::MAX));
        TopicOptions {
            signed: config.signed,
            validation_timeout_ms: ms(p.validation_timeout),
            allow: peer_list(&config.allowed_peers),
            hear: peer_list(&config.hear),
            tell: peer_list(&config.tell),
            max_hops: Some(u32::from(p.max_hops)),
            active_view: n32(h.active_view_capacity),
            passive_view: n32(h.passive_view_capacity),
            shuffle_interval_ms: ms(h.shuffle_interval),
            graft_timeout_ms: ms(p.graft_timeout_1),
            ihave_interval_ms: ms(p.ihave_interval),
            message_cache: Some(p.message_cache_capacity as u64),
            message_cache_bytes: Some(p.message_cache_max_bytes as u64),
            known_peers: n32(h.known_peers_capacity),
            proxy: p.proxy,
            proxy_timeout_ms: ms(p.proxy_timeout),
            origin_trees: n32(p.origin_trees),
            duplicates_before_prune: Some(u32::from(p.duplicates_before_prune)),
        }
    }
}
