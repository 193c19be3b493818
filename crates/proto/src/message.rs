//! The messages peers exchange, per topic. Their byte encoding lives in
//! [`super::wire`] and is specified in `docs/PROTOCOL.md`.

use std::fmt;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::PeerData;

/// A topic's identifier: SHA-256 of `"hypar/topic/v1/"` followed by the
/// topic's name in UTF-8.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TopicId(pub [u8; 32]);

impl TopicId {
    /// The domain-separation prefix hashed before a topic's name.
    pub const PREFIX: &'static [u8] = b"hypar/topic/v1/";

    /// The id of the topic called `name`.
    pub fn from_name(name: &str) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(Self::PREFIX);
        hasher.update(name.as_bytes());
        TopicId(hasher.finalize().into())
    }

    /// The 32 bytes of the id.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for TopicId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0[..8] {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for TopicId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TopicId({self})")
    }
}

/// A broadcast message's identifier: the first 16 bytes of SHA-256 over
/// [`MessageId::PREFIX`], the origin's encoded peer id, its session (8 bytes,
/// little-endian) and the sequence number (8 bytes, little-endian). It is
/// derived by whoever receives the message, never taken from the wire, so a
/// relay cannot pass one message off under another's id.
#[derive(Copy, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MessageId(pub [u8; 16]);

impl MessageId {
    /// The domain-separation prefix hashed before a message's origin.
    pub const PREFIX: &'static [u8] = b"hypar/msg/v2/";

    /// The domain-separation prefix of an anonymous message's id.
    pub const ANONYMOUS_PREFIX: &'static [u8] = b"hypar/anon/v1/";

    /// The id of message `seq` of `origin`'s `session`. Number 0 marks an
    /// anonymous message (proxy passing): its id is
    /// [`MessageId::anonymous`] of the session, whoever broadcast it.
    pub fn derive<PI: Serialize>(origin: &PI, session: u64, seq: u64) -> MessageId {
        if seq == 0 {
            return MessageId::anonymous(session);
        }
        let mut hasher = Sha256::new();
        hasher.update(Self::PREFIX);
        let mut buf = [0u8; 128];
        match postcard::to_slice(origin, &mut buf) {
            Ok(encoded) => hasher.update(encoded),
            // A peer id that encodes to more than 128 bytes.
            Err(_) => hasher.update(postcard::to_allocvec(origin).unwrap_or_default()),
        }
        hasher.update(session.to_le_bytes());
        hasher.update(seq.to_le_bytes());
        let digest = hasher.finalize();
        let mut id = [0u8; 16];
        id.copy_from_slice(&digest[..16]);
        MessageId(id)
    }
}

impl MessageId {
    /// The id of the anonymous message its author named `nonce`: the first
    /// 16 bytes of SHA-256 over [`MessageId::ANONYMOUS_PREFIX`] and the
    /// nonce (8 bytes, little-endian). It names no node, so every proxy that
    /// publishes the message publishes it under the same id.
    pub fn anonymous(nonce: u64) -> MessageId {
        let mut hasher = Sha256::new();
        hasher.update(Self::ANONYMOUS_PREFIX);
        hasher.update(nonce.to_le_bytes());
        let digest = hasher.finalize();
        let mut id = [0u8; 16];
        id.copy_from_slice(&digest[..16]);
        MessageId(id)
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0[..6] {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageId({self})")
    }
}

/// A peer and its opaque data (addresses, in the libp2p runtime).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerInfo<PI> {
    /// The peer's identity.
    pub id: PI,
    /// Opaque data that travels with it (its addresses, in the runtime).
    pub data: Option<PeerData>,
}

impl<PI> PeerInfo<PI> {
    /// A peer without data.
    pub fn new(id: PI) -> Self {
        PeerInfo { id, data: None }
    }
}

/// How urgently a NEIGHBOR request wants to be accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Priority {
    /// The receiver must accept, evicting a random active peer if its view
    /// is full. Sent by a node whose active view is empty, by a node adding a
    /// peer unilaterally (JOIN, FORWARD_JOIN), and by a probe of a peer that
    /// was unreachable (bridging a healed partition).
    High,
    /// Accepted only if the receiver's active view has room.
    Low,
}

/// One Plumtree payload message.
///
/// Its origin numbers the messages of each session 1, 2, 3, …; a session
/// is a random number the origin picks each time it joins the topic. The
/// triple (origin, session, seq) names the message for deduplication, and
/// its id derives from it.
///
/// An anonymous message (proxy passing) has number 0: its session is a
/// nonce its author picked for it alone, which names it (see
/// [`MessageId::anonymous`]), and its origin is whichever node broadcast it,
/// which need not be its author.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(serialize = "PI: Serialize", deserialize = "PI: Deserialize<'de>"))]
pub struct Gossip<PI> {
    /// The message's id, derived from the three fields that follow (not
    /// on the wire).
    #[serde(skip)]
    pub id: MessageId,
    /// The peer that published it.
    #[serde(with = "origin_in_full")]
    pub origin: PI,
    /// The origin's session (8 bytes on the wire).
    #[serde(with = "postcard::fixint::le")]
    pub session: u64,
    /// The message's number in the session, from 1.
    pub seq: u64,
    /// Overlay hops travelled when this copy arrives (1 = sent by the origin).
    pub hops: u16,
    /// The most hops the origin lets the message travel (0: as far as each
    /// relay's topic allows). A node relays a copy only while its hops are
    /// below both this and its own `max_hops`; 1 reaches the origin's
    /// neighbours only. Signed with the message.
    pub limit: u16,
    /// Milliseconds the message has spent inside nodes since it was published
    /// (the sum of every relay's holding time). Messages older than the
    /// configured maximum age are neither delivered nor relayed.
    pub age_ms: u32,
    /// What the origin published.
    pub payload: Bytes,
    /// The origin's signature, in topics that require one; relayed unchanged.
    pub auth: Option<Auth>,
}

impl<PI: Serialize> Gossip<PI> {
    /// Message `seq` of `origin`'s `session`, with its id derived, unsigned.
    pub fn new(origin: PI, session: u64, seq: u64, hops: u16, age_ms: u32, payload: Bytes) -> Self {
        let id = MessageId::derive(&origin, session, seq);
        Gossip { id, origin, session, seq, hops, limit: 0, age_ms, payload, auth: None }
    }

    /// The same message with the origin's hop limit (0: none of its own).
    pub fn with_limit(mut self, limit: u16) -> Self {
        self.limit = limit;
        self
    }

    /// The same message carrying `auth`.
    pub fn with_auth(mut self, auth: Auth) -> Self {
        self.auth = Some(auth);
        self
    }
}

/// An origin's proof that it published a message: when, by its own clock,
/// and its signature over [`crate::wire::signed_bytes`] (the topic, origin,
/// session, number, time and payload).
///
/// A signed message's time, unlike its age, cannot be changed by a relay, so
/// a receiver bounds how old the message can be by its own clock (within
/// the configured clock skew): an old message replayed with a fresh age is
/// refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Auth {
    /// Milliseconds since the Unix epoch when the origin published it.
    pub time_ms: u64,
    /// The origin's Ed25519 signature (64 bytes; any other length is a bad
    /// signature, refused by verification, not by the decoder).
    pub signature: Bytes,
}

/// One lazy announcement: "I have message `id`; grafting it from me would
/// deliver it at `hops`, `age_ms` old".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IHaveEntry {
    /// The message announced.
    pub id: MessageId,
    /// Hops at which a graft from the announcer would deliver it.
    pub hops: u16,
    /// The message's age when announced, as in [`Gossip::age_ms`]: lets a
    /// node that joined after it was published leave it alone.
    pub age_ms: u32,
}

/// A protocol message, scoped to one topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message<PI> {
    // ---- HyParView (membership) ----
    /// "Let me into the overlay." Sent by a joining node to a contact.
    Join {
        /// The joiner's data (addresses).
        data: Option<PeerData>,
    },
    /// A random walk announcing a new node.
    ForwardJoin {
        /// The new node.
        peer: PeerInfo<PI>,
        /// Hops the walk has left.
        ttl: u8,
    },
    /// "Add me to your active view."
    Neighbor {
        /// Whether the receiver must accept.
        priority: Priority,
        /// The sender's data (addresses).
        data: Option<PeerData>,
    },
    /// The answer to [`Message::Neighbor`].
    NeighborReply {
        /// Whether the sender of the request is now in the active view.
        accepted: bool,
    },
    /// "You are no longer in my active view." Also the refusal of a JOIN.
    Disconnect {
        /// With `false` the sender is leaving the topic and must be
        /// forgotten; with `true` it may be kept as a passive peer.
        alive: bool,
    },
    /// A random walk carrying a sample of `origin`'s views.
    Shuffle {
        /// The node that started the shuffle, and gets the reply.
        origin: PeerInfo<PI>,
        /// Hops the walk has left.
        ttl: u8,
        /// The sample.
        peers: Vec<PeerInfo<PI>>,
    },
    /// The answer to a shuffle, sent straight to its origin.
    ShuffleReply {
        /// A sample of the answering node's passive view.
        peers: Vec<PeerInfo<PI>>,
    },
    // ---- Plumtree (broadcast) ----
    /// A payload, pushed eagerly or in answer to a GRAFT.
    Gossip(Gossip<PI>),
    /// Lazy announcements of messages the sender holds.
    IHave(Vec<IHaveEntry>),
    /// "Make our link eager", and, with an id, "send me that message".
    Graft {
        /// The message wanted, if any.
        id: Option<MessageId>,
    },
    /// "Make our link lazy."
    Prune,
    // ---- Between neighbours ----
    /// A message for this neighbour only: delivered to its application,
    /// never relayed, not deduplicated.
    Direct {
        /// What the sender sent.
        payload: Bytes,
    },
    /// Proxy passing: "publish this message as if it were yours". The
    /// receiver broadcasts it as the anonymous GOSSIP `{ origin: itself,
    /// session: nonce, seq: 0 }`, or hands it on to a neighbour of its own.
    Proxy {
        /// The author's random name for the message (8 bytes on the wire);
        /// its id is [`MessageId::anonymous`] of it.
        #[serde(with = "postcard::fixint::le")]
        nonce: u64,
        /// The author's hop limit, as in [`Gossip::limit`].
        limit: u16,
        /// Milliseconds the message has spent inside nodes so far, as in
        /// [`Gossip::age_ms`].
        age_ms: u32,
        /// What the author published.
        payload: Bytes,
    },
    /// "Make our link lazy for this origin's messages": the pruning of one
    /// origin's own tree ([`crate::PlumtreeConfig::origin_trees`]). The
    /// shared tree and other origins' trees keep the link as they have it.
    PruneOrigin {
        /// The origin whose tree no longer needs the link.
        #[serde(with = "origin_in_full")]
        origin: PI,
    },
    /// "Make our link eager for this origin's messages": the receiver
    /// pushes them to the sender from now on, as its parent on that
    /// origin's tree. Sent when the receiver announced them in fewer hops
    /// than the sender's parent delivers them.
    GraftOrigin {
        /// The origin whose tree takes the link.
        #[serde(with = "origin_in_full")]
        origin: PI,
    },
}

/// An origin field as a frame writes it by itself: the tag `00` ("the
/// origin in full"), then the peer id. A stream's writer may replace both
/// with a one-byte index of its origin table ([`crate::wire::StreamTables`]);
/// the tag keeps the two forms apart whatever a peer id's encoding.
mod origin_in_full {
    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<S: Serializer, PI: Serialize>(origin: &PI, s: S) -> Result<S::Ok, S::Error> {
        (crate::wire::NEW_ORIGIN, origin).serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>, PI: Deserialize<'de>>(d: D) -> Result<PI, D::Error> {
        let (tag, origin) = <(u8, PI)>::deserialize(d)?;
        match tag {
            crate::wire::NEW_ORIGIN => Ok(origin),
            other => Err(D::Error::custom(format!("origin reference {other} outside a stream"))),
        }
    }
}

impl<PI> Message<PI> {
    /// A short name for logs and statistics.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Join { .. } => "join",
            Message::ForwardJoin { .. } => "forward_join",
            Message::Neighbor { .. } => "neighbor",
            Message::NeighborReply { .. } => "neighbor_reply",
            Message::Disconnect { .. } => "disconnect",
            Message::Shuffle { .. } => "shuffle",
            Message::ShuffleReply { .. } => "shuffle_reply",
            Message::Gossip(_) => "gossip",
            Message::IHave(_) => "ihave",
            Message::Graft { .. } => "graft",
            Message::Prune => "prune",
            Message::Direct { .. } => "direct",
            Message::Proxy { .. } => "proxy",
            Message::PruneOrigin { .. } => "prune_origin",
            Message::GraftOrigin { .. } => "graft_origin",
        }
    }
}
