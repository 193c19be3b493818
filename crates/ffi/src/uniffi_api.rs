//! The uniffi face for Python, Kotlin and Swift: objects over the shared
//! foreign layer, foreign handler traits called on the same library-owned
//! threads as the C callbacks, and an async pull of messages for
//! `async for` / `Flow` / `AsyncSequence`.
//!
//! Sync methods block the calling thread without entering any runtime, so
//! they are safe from any foreign thread; `next_message` is a future the
//! foreign executor polls.

use std::sync::Arc;

use hypar::Keypair;

use crate::shared::{
    Delivery, ErrorKind, ForeignError, ForeignNetwork, ForeignTopic, Message, NetworkConfig, NetworkEvent,
    NetworkStats, TopicOptions, TopicStats, Validator, Verdict,
};

/// Every error hypar raises. Each kind carries a message that says what was
/// wrong and with which value.
#[derive(Debug, thiserror::Error, uniffi::Error)]
#[uniffi(flat_error)]
pub enum HyparError {
    /// The message with its framing exceeds the maximum message size.
    #[error("{0}")]
    MessageTooLarge(String),
    /// The network has shut down, or the topic was left.
    #[error("{0}")]
    ShutDown(String),
    /// A malformed argument: a bad multiaddr, a bad key.
    #[error("{0}")]
    InvalidArgument(String),
    /// A configuration value out of range.
    #[error("{0}")]
    InvalidConfig(String),
    /// A listen address could not be bound.
    #[error("{0}")]
    Listen(String),
    /// The topic is already joined on this network.
    #[error("{0}")]
    AlreadyJoined(String),
    /// Too many publishes wait for the network thread; retry later.
    #[error("{0}")]
    QueueFull(String),
    /// The network thread could not start or run, or an internal error.
    #[error("{0}")]
    Runtime(String),
    /// The network was created in the parent of this forked process; create
    /// a new one in the child.
    #[error("{0}")]
    Forked(String),
}

impl From<ForeignError> for HyparError {
    fn from(e: ForeignError) -> Self {
        let m = e.message;
        match e.kind {
            ErrorKind::MessageTooLarge => HyparError::MessageTooLarge(m),
            ErrorKind::ShutDown => HyparError::ShutDown(m),
            // NULL pointers and buffers are C's; a foreign caller sees them
            // as bad arguments.
            ErrorKind::InvalidArgument | ErrorKind::NullArgument | ErrorKind::BufferTooSmall => {
                HyparError::InvalidArgument(m)
            }
            ErrorKind::InvalidConfig => HyparError::InvalidConfig(m),
            ErrorKind::Listen => HyparError::Listen(m),
            ErrorKind::AlreadyJoined => HyparError::AlreadyJoined(m),
            ErrorKind::QueueFull => HyparError::QueueFull(m),
            ErrorKind::Runtime | ErrorKind::Panic => HyparError::Runtime(m),
            ErrorKind::Forked => HyparError::Forked(m),
        }
    }
}

/// Receives a topic's messages, one call at a time, on a thread the library
/// owns. An exception it raises is caught and the next message is delivered
/// as usual.
#[uniffi::export(foreign)]
pub trait MessageHandler: Send + Sync {
    /// One message.
    fn on_message(&self, message: Message);
}

/// Receives a topic's messages in batches: every message already waiting,
/// up to the batch size given to `join_batched`, in one call. For languages
/// whose foreign calls cost microseconds (Python), this amortises the cost.
#[uniffi::export(foreign)]
pub trait MessageBatchHandler: Send + Sync {
    /// The messages, in arrival order.
    fn on_messages(&self, batch: Vec<Message>);
}

/// Judges each new message of a topic before it is delivered or relayed,
/// one call at a time, on a thread the library owns (its signature, in a
/// signed topic, is already checked). An exception it raises counts as
/// `Verdict.IGNORE`, as does an answer later than the topic's validation
/// timeout.
#[uniffi::export(foreign)]
pub trait MessageValidator: Send + Sync {
    /// The verdict on `message`.
    fn validate(&self, message: Message) -> Verdict;
}

/// Receives the network's events, one call at a time, on a library thread.
#[uniffi::export(foreign)]
pub trait EventHandler: Send + Sync {
    /// One event.
    fn on_event(&self, event: NetworkEvent);
}

/// A fresh Ed25519 identity in libp2p's protobuf encoding, to keep and pass
/// as `NetworkConfig.keypair`. Keep it secret.
#[uniffi::export]
pub fn generate_keypair() -> Vec<u8> {
    Keypair::generate().to_bytes()
}

/// The peer id of an identity from `generate_keypair`.
#[uniffi::export]
pub fn keypair_peer_id(keypair: Vec<u8>) -> Result<String, HyparError> {
    Ok(Keypair::from_bytes(&keypair).map_err(ForeignError::from)?.peer_id().to_string())
}

/// The library's version, such as "0.1.0".
#[uniffi::export]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// A node on the network, running on its own thread.
#[derive(uniffi::Object)]
pub struct HyparNetwork(ForeignNetwork);

impl HyparNetwork {
    fn join_with(
        &self,
        topic: String,
        bootstrap: Vec<String>,
        delivery: Delivery,
        options: Option<TopicOptions>,
        validator: Option<Arc<dyn MessageValidator>>,
    ) -> Result<Arc<HyparTopic>, HyparError> {
        let validator = validator.map(|v| Box::new(move |m| v.validate(m)) as Validator);
        let options = options.unwrap_or_default();
        Ok(Arc::new(HyparTopic(self.0.join(&topic, &bootstrap, delivery, &options, validator)?)))
    }
}

#[uniffi::export]
impl HyparNetwork {
    /// Start a node; returns once every listen address is bound.
    #[uniffi::constructor]
    pub fn new(config: NetworkConfig) -> Result<Arc<Self>, HyparError> {
        Ok(Arc::new(HyparNetwork(ForeignNetwork::new(&config)?)))
    }

    /// This node's peer id.
    pub fn peer_id(&self) -> String {
        self.0.peer_id()
    }

    /// The bound listen addresses, each ending in `/p2p/<peer id>`, ready to
    /// give to other nodes as bootstrap addresses.
    pub fn listen_addrs(&self) -> Result<Vec<String>, HyparError> {
        Ok(self.0.listen_addrs()?)
    }

    /// Join `topic` through `bootstrap` (multiaddrs; empty: this node is a
    /// bootstrap node for others). With a `handler`, every message is passed
    /// to it on a library thread; without one, read them with
    /// `HyparTopic.next_message`. `options` default to a signed topic; with
    /// a `validator`, only what it accepts is delivered and relayed.
    #[uniffi::method(default(options = None, validator = None))]
    pub fn join(
        &self,
        topic: String,
        bootstrap: Vec<String>,
        handler: Option<Arc<dyn MessageHandler>>,
        options: Option<TopicOptions>,
        validator: Option<Arc<dyn MessageValidator>>,
    ) -> Result<Arc<HyparTopic>, HyparError> {
        let delivery = match handler {
            Some(h) => Delivery::Each(Box::new(move |m| h.on_message(m.into()))),
            None => Delivery::Pull,
        };
        self.join_with(topic, bootstrap, delivery, options, validator)
    }

    /// Join like `join`, passing messages to `handler` in batches of up to
    /// `max_batch` (every message already waiting, in order).
    #[uniffi::method(default(options = None, validator = None))]
    pub fn join_batched(
        &self,
        topic: String,
        bootstrap: Vec<String>,
        handler: Arc<dyn MessageBatchHandler>,
        max_batch: u32,
        options: Option<TopicOptions>,
        validator: Option<Arc<dyn MessageValidator>>,
    ) -> Result<Arc<HyparTopic>, HyparError> {
        let callback = Box::new(move |batch: Vec<hypar::Received>| {
            handler.on_messages(batch.into_iter().map(Into::into).collect())
        });
        let delivery = Delivery::Batches { max: max_batch as usize, callback };
        self.join_with(topic, bootstrap, delivery, options, validator)
    }

    /// Pass every event of every topic to `handler` (replacing any previous
    /// one); `None` stops event delivery.
    pub fn set_event_handler(&self, handler: Option<Arc<dyn EventHandler>>) -> Result<(), HyparError> {
        let handler = handler.map(|h| Box::new(move |e| h.on_event(e)) as Box<dyn FnMut(NetworkEvent) + Send>);
        Ok(self.0.set_event_handler(handler)?)
    }

    /// Counters of the network and each topic.
    pub fn stats(&self) -> Result<NetworkStats, HyparError> {
        Ok(self.0.stats()?)
    }

    /// Leave every topic, close every connection and stop the thread. Once
    /// it returns, no handler of this network or its topics is called again
    /// (from a handler: except the one running). Topics become inert.
    /// Idempotent.
    pub fn shutdown(&self) {
        self.0.shutdown();
    }
}

/// A joined topic. Dropping (closing) it leaves the topic.
#[derive(uniffi::Object)]
pub struct HyparTopic(ForeignTopic);

#[uniffi::export]
impl HyparTopic {
    /// The topic's name.
    pub fn name(&self) -> String {
        self.0.name().to_string()
    }

    /// Publish `data` to every other member. Returns at once.
    pub fn gossip(&self, data: Vec<u8>) -> Result<(), HyparError> {
        Ok(self.0.gossip(data)?)
    }

    /// Publish each of `messages` in order, in one call (cheaper than one
    /// call per message from languages whose foreign calls are expensive).
    /// Returns how many were published: it stops at the first failure, and
    /// raises that failure if it hit the first message.
    pub fn gossip_many(&self, messages: Vec<Vec<u8>>) -> Result<u64, HyparError> {
        Ok(self.0.gossip_many(messages)?)
    }

    /// This topic's counters.
    pub fn stats(&self) -> Result<TopicStats, HyparError> {
        Ok(self.0.stats()?)
    }

    /// Publish `data` to the members at most `hops` overlay hops away: 1
    /// reaches this node's neighbours only; 0, or more than the topic's
    /// `max_hops`, as far as the topic allows.
    pub fn gossip_within(&self, data: Vec<u8>, hops: u16) -> Result<(), HyparError> {
        Ok(self.0.gossip_within(data, hops)?)
    }

    /// Send `data` to the neighbour `peer_id` alone: it arrives as a
    /// `Message` with `direct` set and `origin` naming this node; not
    /// gossiped, not deduplicated, never relayed. `InvalidArgument` if the
    /// peer is not a current neighbour, `QueueFull` if its link is
    /// congested (nothing was sent: retry later).
    pub fn send(&self, peer_id: String, data: Vec<u8>) -> Result<(), HyparError> {
        Ok(self.0.send(&peer_id, data)?)
    }

    /// The options in force, every field set.
    pub fn config(&self) -> Result<TopicOptions, HyparError> {
        Ok(self.0.config()?)
    }

    /// Change the options while the topic runs, at once: numbers left unset
    /// keep their value; `allow`, `hear` and `tell` are taken as given
    /// (unset: anyone). A peer no longer admitted is disconnected from the
    /// topic; a smaller `max_hops` applies to what is relayed from now on.
    /// Refused with `InvalidConfig`, changing nothing, for a value out of
    /// range or `signed` changed (fixed while joined).
    pub fn configure(&self, options: TopicOptions) -> Result<(), HyparError> {
        Ok(self.0.configure(&options)?)
    }

    /// The next message, or `None` once the topic was left or the network
    /// shut down. Only for topics joined without a handler.
    pub async fn next_message(&self) -> Result<Option<Message>, HyparError> {
        Ok(self.0.next_message().await?)
    }

    /// Whether messages are still delivered: false once the topic was left
    /// or its network shut down.
    pub fn is_delivering(&self) -> bool {
        self.0.is_delivering()
    }

    /// Leave the topic. Once it returns, the handler is not called again
    /// (unless called from the handler itself: then after the current call).
    /// Idempotent.
    pub fn leave(&self) {
        self.0.leave();
    }
}
