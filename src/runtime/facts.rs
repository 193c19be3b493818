//! What the network thread reports back to the API: messages delivered,
//! membership facts, and counter snapshots. The API turns these into its
//! own types (`Received`, `Event`, `Stats`); the runtime never builds those.

use std::sync::Arc;

use bytes::Bytes;
use hypar_proto::TopicCounters;
use libp2p::PeerId;
use tokio::sync::mpsc;

/// A message delivered in a topic, as the subscriber queues carry it.
#[derive(Debug, Clone)]
pub(crate) struct Inbound {
    pub payload: Bytes,
    /// Overlay hops it travelled (1: straight from its publisher).
    pub hops: u16,
    /// Its publisher, in a signed topic (verified); the sender of a direct
    /// message.
    pub origin: Option<PeerId>,
    /// A direct message from a neighbour, not a broadcast.
    pub direct: bool,
}

/// What happened in one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Happened {
    Joined,
    NeighborUp(PeerId),
    NeighborDown(PeerId),
    BootstrapFailed,
    /// Subscribers fell behind: `missed` messages did not fit their queues.
    Lagged {
        missed: u64,
    },
    /// A peer was banned (network-wide: the fact's topic is empty).
    Banned(PeerId),
    /// Whether this node is publicly reachable changed (network-wide).
    Reachability(crate::Reachability),
    /// A relay accepted this node's reservation and the circuit address
    /// through it is a listen address (network-wide).
    RelayReserved(PeerId),
    /// A reservation ended: the relay went away, or this node no longer
    /// needs one (network-wide).
    RelayLost(PeerId),
    /// Hole punching gave a direct connection to a peer this node had
    /// reached through a relay (network-wide).
    Direct(PeerId),
}

/// What happened, with the name of the topic it happened in.
#[derive(Debug, Clone)]
pub(crate) struct Fact {
    pub topic: Arc<str>,
    pub what: Happened,
}

/// Counters of one topic at one instant.
#[derive(Debug, Clone)]
pub(crate) struct TopicSnapshot {
    pub name: Arc<str>,
    pub active_view: usize,
    pub passive_view: usize,
    pub tree_links: usize,
    pub origin_trees: usize,
    pub counters: TopicCounters,
    /// Messages a full subscriber queue refused.
    pub subscriber_drops: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// Counters of the whole network at one instant.
#[derive(Debug, Clone)]
pub(crate) struct NetworkSnapshot {
    pub topics: Vec<TopicSnapshot>,
    pub connected_peers: usize,
    pub frames_dropped: u64,
    pub peers_banned: u64,
    pub banned_now: usize,
    pub reachability: crate::Reachability,
    pub relayed_links: usize,
    pub direct_links: usize,
    pub relay: Option<PeerId>,
}

/// The queues of everyone who asked for membership facts. Each is bounded:
/// a fact a full queue cannot take is dropped for that subscriber only.
#[derive(Default)]
pub(crate) struct FactSubscribers(parking_lot::Mutex<Vec<mpsc::Sender<Fact>>>);

impl FactSubscribers {
    /// Add a subscriber (forgetting those that went away).
    pub(crate) fn add(&self, tx: mpsc::Sender<Fact>) {
        let mut subscribers = self.0.lock();
        subscribers.retain(|tx| !tx.is_closed());
        subscribers.push(tx);
    }

    /// Hand `fact` to every subscriber without waiting.
    pub(crate) fn publish(&self, fact: Fact) {
        self.0.lock().retain(|tx| match tx.try_send(fact.clone()) {
            Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => true,
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        });
    }

    /// End every subscriber's stream.
    pub(crate) fn close(&self) {
        self.0.lock().clear();
    }
}
