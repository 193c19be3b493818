//! Events and statistics the application may ask for.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::mpsc;

use crate::runtime::{Fact, Happened, NetworkSnapshot, TopicSnapshot};
use crate::PeerId;

/// Something that happened in one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The topic's name.
    pub topic: String,
    /// What happened.
    pub kind: EventKind,
}

/// What happened in a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventKind {
    /// The node got its first neighbour in the topic (again, after a rejoin).
    Joined,
    /// A peer became a neighbour, and its link carries frames: it has sent
    /// this node a frame of the topic. A peer that cannot be reached is
    /// never announced.
    NeighborUp(PeerId),
    /// A neighbour announced by `NeighborUp` left, failed or was replaced.
    NeighborDown(PeerId),
    /// No bootstrap peer could be reached; retrying with backoff.
    BootstrapFailed,
    /// A subscriber of the topic read slower than messages arrived: `missed`
    /// messages found its queue (`subscriber_queue`) full and were not handed
    /// to it (they are also counted in [`TopicStats::dropped`]). Reported at
    /// most once a second, with the count since the last report.
    Lagged {
        /// Messages missed since the last report, over all subscribers.
        missed: u64,
    },
    /// A peer misbehaved past `ban_threshold` and is banned for
    /// `ban_duration` (see [`crate::NetworkConfig::ban_threshold`]). A
    /// network-wide event: its topic is empty.
    PeerBanned(PeerId),
    /// Whether this node is publicly reachable changed, as AutoNAT probes
    /// by peers found (or as `external_addrs` declared). Network-wide.
    ReachabilityChanged(Reachability),
    /// A relay accepted this node's reservation: peers can reach it through
    /// the relay's `/p2p-circuit` address, now among its listen addresses
    /// and announced to neighbours. Network-wide.
    RelayReserved(PeerId),
    /// The reservation on this relay ended (the relay went away, or the
    /// node found it is publicly reachable and needs none). A node that
    /// still needs one reserves on another relay it is connected to.
    /// Network-wide.
    RelayLost(PeerId),
    /// Hole punching (DCUtR) gave a direct connection to this peer, which
    /// was reached through a relay; the relayed circuit is closed.
    /// Network-wide.
    DirectConnection(PeerId),
}

/// Whether other nodes can dial this one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Reachability {
    /// Not known yet: no probe answered (a fresh node, or no peer to ask).
    #[default]
    Unknown,
    /// Peers dialed this node back at one of its addresses, or the
    /// operator declared an external address.
    Public,
    /// Peers could not dial this node back: it is behind a NAT or a
    /// firewall, and is reached through a relay.
    Private,
}

impl From<Fact> for Event {
    fn from(fact: Fact) -> Self {
        let kind = match fact.what {
            Happened::Joined => EventKind::Joined,
            Happened::NeighborUp(p) => EventKind::NeighborUp(p),
            Happened::NeighborDown(p) => EventKind::NeighborDown(p),
            Happened::BootstrapFailed => EventKind::BootstrapFailed,
            Happened::Lagged { missed } => EventKind::Lagged { missed },
            Happened::Banned(p) => EventKind::PeerBanned(p),
            Happened::Reachability(r) => EventKind::ReachabilityChanged(r),
            Happened::RelayReserved(p) => EventKind::RelayReserved(p),
            Happened::RelayLost(p) => EventKind::RelayLost(p),
            Happened::Direct(p) => EventKind::DirectConnection(p),
        };
        Event { topic: fact.topic.to_string(), kind }
    }
}

/// A stream of [`Event`]s from [`Network::events`](crate::Network::events).
/// Bounded: if not read, further events are dropped.
pub struct Events {
    pub(crate) rx: mpsc::Receiver<Fact>,
}

impl Events {
    /// The next event; `None` once the network has shut down.
    pub async fn recv(&mut self) -> Option<Event> {
        self.rx.recv().await.map(Event::from)
    }

    /// The next event if one is waiting.
    pub fn try_recv(&mut self) -> Option<Event> {
        self.rx.try_recv().ok().map(Event::from)
    }

    /// Wait for the next event, blocking this thread. Works with or
    /// without an async runtime (it never enters one).
    pub fn recv_blocking(&mut self) -> Option<Event> {
        futures::executor::block_on(self.recv())
    }
}

impl Stream for Events {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.rx.poll_recv(cx).map(|f| f.map(Event::from))
    }
}

/// Counters of one topic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicStats {
    /// The topic's name.
    pub name: String,
    /// Peers in the active view (neighbours).
    pub active_view: usize,
    /// Peers in the passive view (backups).
    pub passive_view: usize,
    /// Neighbours on the broadcast tree (eager links); the others get
    /// announcements only.
    pub tree_links: usize,
    /// Senders whose messages travel a broadcast tree of their own here, or
    /// whose first message was seen (at most `plumtree.origin_trees`).
    pub origin_trees: usize,
    /// Announced messages fetched with a GRAFT because they did not arrive
    /// along the tree.
    pub grafts: u64,
    /// Messages published by this node.
    pub published: u64,
    /// Messages delivered (each once).
    pub delivered: u64,
    /// Payload copies sent to neighbours.
    pub relayed: u64,
    /// Duplicate payload copies received (and discarded).
    pub duplicates: u64,
    /// Messages dropped: refused as invalid, too old or from outsiders, or
    /// not taken by a full subscriber queue.
    pub dropped: u64,
    /// Messages the validator rejected.
    pub rejected: u64,
    /// Messages the validator ignored, or did not judge in time.
    pub ignored: u64,
    /// Messages refused for a missing or wrong signature.
    pub forged: u64,
    /// Broadcast frames (payloads, announcements, grafts) refused because
    /// their sender was not a neighbour in this topic.
    pub not_neighbor: u64,
    /// New messages not taken because `max_pending` were waiting for their
    /// verdict (they can still come by announcement), and announcements not
    /// taken because `missing_capacity` messages were already awaited.
    pub overloaded: u64,
    /// Direct messages sent to neighbours ([`crate::Topic::send`]).
    pub direct_sent: u64,
    /// Direct messages received from neighbours.
    pub direct_received: u64,
    /// Messages handed to neighbours to publish (proxy passing), retries
    /// included.
    pub handoffs_sent: u64,
    /// Messages neighbours handed this node to publish (proxy passing).
    pub handoffs_taken: u64,
    /// Frame bytes received for this topic.
    pub bytes_in: u64,
    /// Frame bytes sent for this topic, at their size on the wire (a
    /// stream names a topic and an origin in full once, then by a one-byte
    /// index), so one end's `bytes_out` is what the other ends count in
    /// `bytes_in` (frames lost with a failing connection count here too).
    pub bytes_out: u64,
}

impl From<TopicSnapshot> for TopicStats {
    fn from(s: TopicSnapshot) -> Self {
        let c = s.counters;
        TopicStats {
            name: s.name.to_string(),
            active_view: s.active_view,
            passive_view: s.passive_view,
            tree_links: s.tree_links,
            origin_trees: s.origin_trees,
            grafts: c.grafts_sent,
            published: c.published,
            delivered: c.delivered,
            relayed: c.relayed,
            duplicates: c.duplicates,
            dropped: c.dropped_invalid + c.dropped_too_old + c.dropped_outsider + s.subscriber_drops,
            rejected: c.rejected,
            ignored: c.ignored,
            forged: c.forged,
            not_neighbor: c.dropped_not_neighbor,
            overloaded: c.pending_full + c.missing_full,
            direct_sent: c.direct_sent,
            direct_received: c.direct_received,
            handoffs_sent: c.handoffs_sent,
            handoffs_taken: c.handoffs_taken,
            bytes_in: s.bytes_in,
            bytes_out: s.bytes_out,
        }
    }
}

/// Counters of the whole network.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// One entry per joined topic.
    pub topics: Vec<TopicStats>,
    /// Connected peers.
    pub connected_peers: usize,
    /// Frames dropped because a peer's queue was full or it could not be reached.
    pub frames_dropped: u64,
    /// Peers banned since the network started.
    pub peers_banned: u64,
    /// Peers banned now.
    pub banned_now: usize,
    /// Whether other nodes can dial this one, as last probed.
    pub reachability: Reachability,
    /// Neighbours (in any topic) reached only through a relay now.
    pub relayed_links: usize,
    /// Neighbours (in any topic) reached over a direct connection now.
    pub direct_links: usize,
    /// The relay holding this node's reservation, if one does.
    pub relay: Option<PeerId>,
}

impl From<NetworkSnapshot> for Stats {
    fn from(s: NetworkSnapshot) -> Self {
        Stats {
            topics: s.topics.into_iter().map(TopicStats::from).collect(),
            connected_peers: s.connected_peers,
            frames_dropped: s.frames_dropped,
            peers_banned: s.peers_banned,
            banned_now: s.banned_now,
            reachability: s.reachability,
            relayed_links: s.relayed_links,
            direct_links: s.direct_links,
            relay: s.relay,
        }
    }
}
