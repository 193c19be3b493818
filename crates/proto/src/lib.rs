//! The sans-IO protocol core: HyParView membership and Plumtree broadcast, one
//! instance of each per topic.
//!
//! Nothing in here touches a socket, a clock or a global random number
//! generator. Every entry point of [`State`] takes the current time and a
//! random number generator from its caller and appends what should happen
//! next (messages to send, timers to arm, events for the application) to an
//! output buffer. The libp2p runtime and the simulator drive this same code.
//!
//! Peers are identified by any type implementing [`PeerIdentity`]: the
//! runtime uses libp2p's `PeerId`, the simulator a plain integer. Each peer
//! may carry opaque [`PeerData`] (the runtime stores its dialable addresses
//! there) which travels with the peer through joins and shuffles.

mod cache;
mod config;
mod dedup;
mod error;
mod hyparview;
mod io;
mod message;
mod origins;
mod plumtree;
mod state;
mod topic;
pub mod wire;

pub use config::{HyParViewConfig, PlumtreeConfig, ProtocolConfig, PROXY_ATTEMPTS};
pub use error::{ConfigError, ProtoError};
pub use io::Signer;
pub use message::{Auth, Gossip, IHaveEntry, Message, MessageId, PeerInfo, Priority, TopicId};
pub use plumtree::check_gossip_size;
pub use state::State;
pub use topic::{CacheSizes, Topic, TopicCounters};

use std::fmt::Debug;
use std::hash::Hash;
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;

/// What a peer identifier must be: cheap to copy, comparable, hashable, and
/// encodable (message ids derive from their origin's encoding).
pub trait PeerIdentity: Copy + Eq + Ord + Hash + Debug + Send + Sync + Serialize + 'static {}
impl<T: Copy + Eq + Ord + Hash + Debug + Send + Sync + Serialize + 'static> PeerIdentity for T {}

/// Hash maps and sets on the per-message paths (ids, sessions, peers): a
/// fast hasher, seeded per process, so keys a peer chooses cannot be aimed
/// at one bucket.
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
pub(crate) type FastSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

/// Opaque bytes attached to a peer, carried unchanged through the overlay.
/// The libp2p runtime stores the peer's dialable addresses here.
pub type PeerData = Bytes;

/// Something the protocol asks its driver to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Output<PI> {
    /// Send `message` for `topic` to peer `to`, dialing it if needed (using the
    /// most recent [`Output::PeerData`] for that peer). If the peer cannot be
    /// reached, report it with [`State::on_dial_failed`].
    Send {
        /// The peer.
        to: PI,
        /// The topic the message belongs to.
        topic: TopicId,
        /// The message.
        message: Message<PI>,
    },
    /// Call [`State::on_timer`] with `timer` once `after` has elapsed. A
    /// timer is identified by its value: arming it again replaces its
    /// pending deadline, so at most one deadline per [`Timer`] is pending
    /// (a handful per topic). A timer of a topic that was left since is
    /// ignored when it fires.
    Timer {
        /// How long from now.
        after: Duration,
        /// Which timer.
        timer: Timer,
    },
    /// Something the application may want to know about.
    Event {
        /// The topic it happened in.
        topic: TopicId,
        /// What happened.
        event: Event<PI>,
    },
    /// The protocol learned opaque data (addresses) for a peer.
    PeerData {
        /// The peer.
        peer: PI,
        /// Its data, to use when dialing it.
        data: PeerData,
        /// The peer's own word (its JOIN, NEIGHBOR or SHUFFLE): it may
        /// replace what the driver knew. Otherwise a third party passed it
        /// on: the driver may add it where it knows too little, never let it
        /// displace what it knew (a third party must not redirect a peer).
        firsthand: bool,
    },
    /// No topic keeps `peer` in its active view any more: the connection to it
    /// may be closed.
    Disconnect {
        /// The peer.
        peer: PI,
    },
    /// A new message is held, neither delivered nor relayed, until the
    /// driver calls [`State::on_validated`] with its verdict: in a signed
    /// topic, after verifying `message.auth` against `message.origin`
    /// (over [`wire::signed_bytes`]); with [`ProtocolConfig::validation`],
    /// after asking the application. At most
    /// [`PlumtreeConfig::max_pending`] messages per topic wait at once.
    Validate {
        /// The topic.
        topic: TopicId,
        /// The neighbour it came from (to be penalised if it is rejected).
        from: PI,
        /// The message, as received.
        message: Gossip<PI>,
    },
    /// `peer` broke the protocol in `topic`: the driver keeps its score.
    Offence {
        /// The peer.
        peer: PI,
        /// The topic.
        topic: TopicId,
        /// What it did.
        offence: Offence,
    },
}

/// The driver's verdict on a held message ([`Output::Validate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Validation {
    /// Deliver and relay it.
    Accept,
    /// Neither deliver nor relay it; remember it as seen; nobody is to blame.
    Ignore,
    /// Neither deliver nor relay it; remember it as seen; the neighbour that
    /// sent it is penalised ([`Offence::Rejected`]).
    Reject,
    /// Its signature is missing or does not verify: neither deliver nor relay
    /// it, penalise the sender ([`Offence::BadSignature`]), and do not
    /// remember it (its id names a message its origin may yet send for real).
    Forged,
}

/// A breach of the protocol by a peer, reported through [`Output::Offence`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Offence {
    /// A message whose signature is missing or wrong.
    BadSignature,
    /// A message the application rejected.
    Rejected,
    /// GOSSIP, IHAVE, GRAFT or PRUNE from a peer outside the topic's active
    /// view. (Honest peers do this rarely, for frames in flight while a link
    /// goes down.)
    NotNeighbor,
    /// A GRAFT for a message this node never had.
    UnknownGraft,
    /// JOIN or NEIGHBOR for a topic this node is not in. (Honest peers do
    /// this for a topic just left.)
    UnknownTopic,
}

impl Offence {
    /// A short name for logs and statistics.
    pub fn name(&self) -> &'static str {
        match self {
            Offence::BadSignature => "bad_signature",
            Offence::Rejected => "rejected",
            Offence::NotNeighbor => "not_neighbor",
            Offence::UnknownGraft => "unknown_graft",
            Offence::UnknownTopic => "unknown_topic",
        }
    }
}

/// An event for the application, per topic.
#[derive(Debug, Clone, PartialEq)]
pub enum Event<PI> {
    /// The node has its first neighbour whose link carries frames: it is
    /// connected to the topic's overlay. Emitted again after a rejoin.
    Joined,
    /// A peer is in the active view and its link carries frames: it sent
    /// this node a frame of the topic. A peer added without having sent one
    /// (at the end of a forward-join walk) is announced at its first frame;
    /// one that never sends leaves the view without any event.
    NeighborUp(PI),
    /// A peer announced by [`Event::NeighborUp`] left the active view.
    NeighborDown(PI),
    /// A message was received for the first time.
    Delivered(DeliveredMessage<PI>),
    /// The node is isolated and its bootstrap peers could not be reached
    /// (emitted once per join). The node keeps retrying with backoff.
    BootstrapFailed,
    /// A neighbour sent this node a direct message ([`Message::Direct`]).
    Direct {
        /// The neighbour.
        from: PI,
        /// What it sent.
        payload: Bytes,
    },
}

/// A message delivered to the application.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveredMessage<PI> {
    /// The message's id.
    pub id: MessageId,
    /// What its origin published.
    pub payload: Bytes,
    /// Overlay hops the message travelled (1 = straight from its origin; 0 =
    /// a neighbour handed it to this node to publish, by proxy passing).
    pub hops: u16,
    /// The neighbour it arrived from.
    pub from: PI,
    /// Its origin, in a signed topic (whose driver verified the signature);
    /// `None` in an unsigned topic, where the origin field is only a claim.
    pub origin: Option<PI>,
}

/// A timer armed through [`Output::Timer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timer {
    /// The topic that armed it.
    pub topic: TopicId,
    /// Which join of the topic armed it: timers of a topic that was left
    /// and joined again are ignored.
    pub generation: u64,
    /// What it is for.
    pub kind: TimerKind,
}

/// What a timer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimerKind {
    /// Periodic HyParView shuffle.
    Shuffle,
    /// Periodic view maintenance: refill the active view, probe known peers.
    Maintenance,
    /// Retry joining through the bootstrap peers.
    JoinRetry,
    /// Send the queued IHAVE announcements.
    IHaveFlush,
    /// Announced messages have not arrived: graft those whose wait is over.
    Graft,
    /// Messages handed to proxies have not shown up in the overlay: hand
    /// those whose wait is over to other neighbours.
    Proxy,
}
