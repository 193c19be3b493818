//! The error type of the public API.

use hypar_proto::{ConfigError, ProtoError};

/// Everything the public API can fail with. Each variant is a stable kind;
/// its message says what was wrong and with which value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The payload's frame would exceed `max_message_size` (framing counted).
    #[error("message too large: {size} bytes on the wire (payload plus framing), the limit is {max}")]
    MessageTooLarge {
        /// The frame's size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The network was shut down (or its thread stopped).
    #[error("the network has shut down")]
    ShutDown,
    /// A multiaddr that does not parse or cannot be used.
    #[error("invalid multiaddr {addr:?}: {reason}")]
    InvalidMultiaddr {
        /// The address given.
        addr: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// Bytes that are not a protobuf-encoded Ed25519 keypair.
    #[error("invalid keypair: {0}")]
    InvalidKeypair(String),
    /// A configuration value out of range.
    #[error(transparent)]
    InvalidConfig(#[from] ConfigError),
    /// A listen address could not be bound.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: String,
        /// What the system said.
        reason: String,
    },
    /// The topic is already joined on this network.
    #[error("topic {0:?} is already joined")]
    AlreadyJoined(String),
    /// Too many publishes of this topic are waiting to be sent (for the
    /// network thread, a first neighbour, or a congested link). Retry later,
    /// or use `gossip_async`, which waits for room.
    #[error("the publish buffer of topic {topic:?} is full: {waiting} messages ({bytes} bytes) wait to be sent")]
    QueueFull {
        /// The topic's name.
        topic: String,
        /// Messages waiting.
        waiting: usize,
        /// Their payload bytes.
        bytes: usize,
    },
    /// A direct message's peer is not a neighbour this node tells in the
    /// topic (it may have left, or never been one).
    #[error("{peer} is not a neighbour in topic {topic:?}")]
    NotNeighbor {
        /// The topic's name.
        topic: String,
        /// The peer.
        peer: String,
    },
    /// The link to a direct message's peer is congested: nothing was sent.
    /// Retry later.
    #[error("the link to {peer} is congested (topic {topic:?}): nothing was sent, retry later")]
    LinkCongested {
        /// The topic's name.
        topic: String,
        /// The peer.
        peer: String,
    },
    /// The network thread could not start.
    #[error("network runtime failed: {0}")]
    Runtime(String),
    /// The network was created in the parent of this process (a `fork`);
    /// its thread does not exist here. Create a new network in the child.
    #[error("this network was created in the parent process; a forked child must create its own")]
    Forked,
}

impl Error {
    pub(crate) fn from_proto(e: ProtoError, topic: &str) -> Self {
        match e {
            ProtoError::MessageTooLarge { size, max } => Error::MessageTooLarge { size, max },
            ProtoError::AlreadyJoined(_) => Error::AlreadyJoined(topic.to_string()),
            ProtoError::NotJoined(_) => Error::ShutDown,
            ProtoError::Config(c) => Error::InvalidConfig(c),
            ProtoError::NotNeighbor(_) => Error::Runtime(format!("a peer is not a neighbour in topic {topic}")),
            ProtoError::NoSigner(_) => Error::Runtime(format!("topic {topic} is signed and the node cannot sign")),
        }
    }
}
