//! The uniffi interface for Python, Kotlin and Swift: objects over the Rust
//! API (not over the C ABI), foreign handler traits delivered on the same
//! library-owned threads as the C callbacks, and an async pull of messages
//! for `async for` / `Flow` / `AsyncSequence`.
//!
//! Sync methods block the calling thread without entering any runtime, so
//! they are safe from any foreign thread; `next_message` is a future the
//! foreign executor polls.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use futures::StreamExt;
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::delivery::{Delivery, DeliverySlot};
use crate::{topic, Config, Error, EventKind, Keypair, Multiaddr, Network, Publisher};

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
    /// The network thread could not start or run.
    #[error("{0}")]
    Runtime(String),
    /// The network was created in the parent of this forked process; create
    /// a new one in the child.
    #[error("{0}")]
    Forked(String),
}

impl From<Error> for HyparError {
    fn from(e: Error) -> Self {
        let m = e.to_string();
        match e {
            Error::MessageTooLarge { .. } => HyparError::MessageTooLarge(m),
            Error::ShutDown => HyparError::ShutDown(m),
            Error::InvalidMultiaddr { .. } | Error::InvalidKeypair(_) => HyparError::InvalidArgument(m),
            Error::InvalidConfig(_) => HyparError::InvalidConfig(m),
            Error::Listen { .. } => HyparError::Listen(m),
            Error::AlreadyJoined(_) => HyparError::AlreadyJoined(m),
            Error::QueueFull { .. } => HyparError::QueueFull(m),
            Error::Runtime(_) => HyparError::Runtime(m),
            Error::Forked => HyparError::Forked(m),
        }
    }
}

fn parse_addrs(addrs: &[String]) -> Result<Vec<Multiaddr>, HyparError> {
    addrs
        .iter()
        .map(|a| a.parse().map_err(|e| HyparError::InvalidArgument(format!("invalid multiaddr {a:?}: {e}"))))
        .collect()
}

/// Receives a topic's messages, one call at a time, on a thread the library
/// owns. An exception it raises is caught and the next message is delivered
/// as usual.
#[uniffi::export(foreign)]
pub trait MessageHandler: Send + Sync {
    fn on_message(&self, data: Vec<u8>);
}

/// Receives a topic's messages in batches: every message already waiting,
/// up to the batch size given to `join_batched`, in one call. For languages
/// whose foreign calls cost microseconds (Python), this amortises the cost.
#[uniffi::export(foreign)]
pub trait MessageBatchHandler: Send + Sync {
    fn on_messages(&self, batch: Vec<Vec<u8>>);
}

/// Receives the network's events, one call at a time, on a library thread.
#[uniffi::export(foreign)]
pub trait EventHandler: Send + Sync {
    fn on_event(&self, event: NetworkEvent);
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum NetworkEventKind {
    /// The node got its first neighbour in the topic (again, after a rejoin).
    Joined,
    /// A peer became a neighbour.
    NeighborUp,
    /// A neighbour left, failed or was replaced.
    NeighborDown,
    /// No bootstrap peer could be reached; retrying with backoff.
    BootstrapFailed,
}

/// Something that happened in one topic.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NetworkEvent {
    pub topic: String,
    pub kind: NetworkEventKind,
    /// The peer concerned, for neighbour events.
    pub peer_id: Option<String>,
}

impl From<crate::Event> for NetworkEvent {
    fn from(e: crate::Event) -> Self {
        let (kind, peer) = match e.kind {
            EventKind::Joined => (NetworkEventKind::Joined, None),
            EventKind::NeighborUp(p) => (NetworkEventKind::NeighborUp, Some(p)),
            EventKind::NeighborDown(p) => (NetworkEventKind::NeighborDown, Some(p)),
            EventKind::BootstrapFailed => (NetworkEventKind::BootstrapFailed, None),
        };
        NetworkEvent { topic: e.topic, kind, peer_id: peer.map(|p| p.to_string()) }
    }
}

/// How a network starts. Every field has a default.
#[derive(Debug, Clone, uniffi::Record)]
pub struct NetworkOptions {
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
}

/// Counters of one topic.
#[derive(Debug, Clone, uniffi::Record)]
pub struct TopicStats {
    pub name: String,
    pub active_view: u64,
    pub passive_view: u64,
    pub tree_links: u64,
    pub grafts: u64,
    pub published: u64,
    pub delivered: u64,
    pub relayed: u64,
    pub duplicates: u64,
    pub dropped: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

impl From<crate::TopicStats> for TopicStats {
    fn from(s: crate::TopicStats) -> Self {
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
        }
    }
}

/// Counters of a whole network.
#[derive(Debug, Clone, uniffi::Record)]
pub struct NetworkStats {
    pub topics: Vec<TopicStats>,
    pub connected_peers: u64,
    pub frames_dropped: u64,
}

/// A fresh Ed25519 identity in libp2p's protobuf encoding, to keep and pass
/// as `NetworkOptions.keypair`. Keep it secret.
#[uniffi::export]
pub fn generate_keypair() -> Vec<u8> {
    Keypair::generate().to_bytes()
}

/// The peer id of an identity from `generate_keypair`.
#[uniffi::export]
pub fn keypair_peer_id(keypair: Vec<u8>) -> Result<String, HyparError> {
    Ok(Keypair::from_bytes(&keypair)?.peer_id().to_string())
}

/// The library's version, such as "0.1.0".
#[uniffi::export]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// A node on the network, running on its own thread.
#[derive(uniffi::Object)]
pub struct HyparNetwork {
    net: Network,
    events: DeliverySlot,
    /// Bound of each `next_message` inbox (the network's subscriber queue).
    message_queue: usize,
}

#[uniffi::export]
impl HyparNetwork {
    /// Start a node; returns once every listen address is bound.
    #[uniffi::constructor]
    pub fn new(options: NetworkOptions) -> Result<Arc<Self>, HyparError> {
        let mut config = Config::default();
        if !options.listen.is_empty() {
            config.listen = parse_addrs(&options.listen)?;
        }
        if let Some(n) = options.max_message_size {
            config.max_message_size = usize::try_from(n).unwrap_or(usize::MAX);
        }
        if let Some(n) = options.message_queue {
            config.subscriber_queue = usize::try_from(n).unwrap_or(usize::MAX);
        }
        let keypair = match options.keypair {
            Some(bytes) => Keypair::from_bytes(&bytes)?,
            None => Keypair::generate(),
        };
        let message_queue = config.subscriber_queue;
        let net = Network::new(config, keypair)?;
        Ok(Arc::new(HyparNetwork { net, events: DeliverySlot::default(), message_queue }))
    }

    /// This node's peer id.
    pub fn peer_id(&self) -> String {
        self.net.peer_id().to_string()
    }

    /// The bound listen addresses, each ending in `/p2p/<peer id>`, ready to
    /// give to other nodes as bootstrap addresses.
    pub fn listen_addrs(&self) -> Result<Vec<String>, HyparError> {
        if self.net.is_shut_down() {
            return Err(Error::ShutDown.into());
        }
        Ok(self.net.listen_addrs().iter().map(|a| a.to_string()).collect())
    }

    /// Join `topic` through `bootstrap` (multiaddrs; empty: this node is a
    /// bootstrap node for others). With a `handler`, every message is passed
    /// to it on a library thread; without one, read them with
    /// `HyparTopic.next_message`.
    pub fn join(
        &self,
        topic: String,
        bootstrap: Vec<String>,
        handler: Option<Arc<dyn MessageHandler>>,
    ) -> Result<Arc<HyparTopic>, HyparError> {
        self.join_with(
            topic,
            bootstrap,
            handler.map(|h| (1, Box::new(move |m: Vec<_>| m.into_iter().for_each(|d| h.on_message(d))) as _)),
        )
    }

    /// Join like `join`, passing messages to `handler` in batches of up to
    /// `max_batch` (every message already waiting, in order).
    pub fn join_batched(
        &self,
        topic: String,
        bootstrap: Vec<String>,
        handler: Arc<dyn MessageBatchHandler>,
        max_batch: u32,
    ) -> Result<Arc<HyparTopic>, HyparError> {
        let deliver = Box::new(move |batch: Vec<Vec<u8>>| handler.on_messages(batch));
        self.join_with(topic, bootstrap, Some((max_batch as usize, deliver)))
    }

    /// Pass every event of every topic to `handler` (replacing any previous
    /// one); `None` stops event delivery.
    pub fn set_event_handler(&self, handler: Option<Arc<dyn EventHandler>>) -> Result<(), HyparError> {
        self.events.stop();
        if self.net.is_shut_down() {
            return Err(Error::ShutDown.into());
        }
        if let Some(handler) = handler {
            let deliver = move |e: crate::Event| handler.on_event(e.into());
            let d = Delivery::spawn("hypar-events".into(), self.net.events(), deliver)
                .map_err(|e| HyparError::Runtime(format!("cannot start the event thread: {e}")))?;
            self.events.replace(Some(d));
        }
        Ok(())
    }

    /// Counters of the network and each topic.
    pub fn stats(&self) -> Result<NetworkStats, HyparError> {
        let s = self.net.stats()?;
        Ok(NetworkStats {
            topics: s.topics.into_iter().map(Into::into).collect(),
            connected_peers: s.connected_peers as u64,
            frames_dropped: s.frames_dropped,
        })
    }

    /// Leave every topic, close every connection and stop the thread. Topics
    /// become inert; handlers are not called again. Idempotent.
    pub fn shutdown(&self) {
        self.net.shutdown();
        self.events.stop();
    }
}

type BatchCallback = Box<dyn FnMut(Vec<Vec<u8>>) + Send>;

impl HyparNetwork {
    fn join_with(
        &self,
        topic: String,
        bootstrap: Vec<String>,
        handler: Option<(usize, BatchCallback)>,
    ) -> Result<Arc<HyparTopic>, HyparError> {
        let joined = self.net.join(topic::Config::new(topic.clone(), parse_addrs(&bootstrap)?))?;
        let publisher = joined.publisher();
        let thread_name = format!("hypar-topic-{topic}");
        let spawn_failed = |e: std::io::Error| HyparError::Runtime(format!("cannot start the delivery thread: {e}"));
        let (delivery, inbox) = match handler {
            Some((max_batch, mut deliver)) => {
                let to_vecs = move |batch: Vec<bytes::Bytes>| deliver(batch.iter().map(|m| m.to_vec()).collect());
                (Delivery::spawn_batched(thread_name, joined, max_batch, to_vecs).map_err(spawn_failed)?, None)
            }
            None => {
                let inbox = Arc::new(Inbox::new(self.message_queue));
                let relay = inbox.clone();
                // The end of the stream travels as a `None`.
                let stream = joined.map(Some).chain(futures::stream::iter([None]));
                let d = Delivery::spawn_batched(thread_name, stream, 256, move |batch| relay.push(batch))
                    .map_err(spawn_failed)?;
                (d, Some(inbox))
            }
        };
        Ok(Arc::new(HyparTopic {
            name: topic,
            publisher: Mutex::new(Some(publisher)),
            delivery: DeliverySlot::new(Some(delivery)),
            inbox,
        }))
    }
}

/// Messages waiting for `next_message`. A library thread moves them here
/// from the topic's queue and wakes the reader, so that a foreign executor's
/// wake-up never runs on the network thread. Bounded like the topic's queue;
/// what does not fit is dropped and counted.
struct Inbox {
    queue: Mutex<VecDeque<Vec<u8>>>,
    capacity: usize,
    ended: AtomicBool,
    dropped: AtomicU64,
    ready: Notify,
}

impl Inbox {
    fn new(capacity: usize) -> Inbox {
        Inbox {
            queue: Mutex::new(VecDeque::new()),
            capacity,
            ended: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
            ready: Notify::new(),
        }
    }

    fn push(&self, batch: Vec<Option<bytes::Bytes>>) {
        {
            let mut queue = self.queue.lock();
            for item in batch {
                match item {
                    Some(m) if queue.len() < self.capacity => queue.push_back(m.to_vec()),
                    Some(_) => {
                        self.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                    None => self.ended.store(true, Ordering::Release),
                }
            }
        }
        self.ready.notify_waiters();
    }

    fn end(&self) {
        self.ended.store(true, Ordering::Release);
        self.ready.notify_waiters();
    }

    async fn next(&self) -> Option<Vec<u8>> {
        loop {
            let notified = self.ready.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(m) = self.queue.lock().pop_front() {
                return Some(m);
            }
            if self.ended.load(Ordering::Acquire) {
                return None;
            }
            notified.await;
        }
    }
}

/// A joined topic. Dropping (closing) it leaves the topic.
#[derive(uniffi::Object)]
pub struct HyparTopic {
    name: String,
    publisher: Mutex<Option<Publisher>>,
    /// The handler's thread, or the relay thread that fills `inbox`.
    delivery: DeliverySlot,
    /// Messages for `next_message` (topics joined without a handler).
    inbox: Option<Arc<Inbox>>,
}

impl HyparTopic {
    fn publisher(&self) -> Result<Publisher, HyparError> {
        self.publisher.lock().clone().ok_or_else(|| HyparError::ShutDown(format!("topic {:?} was left", self.name)))
    }
}

#[uniffi::export]
impl HyparTopic {
    /// The topic's name.
    pub fn name(&self) -> String {
        self.name.clone()
    }

    /// Publish `data` to every other member. Returns at once.
    pub fn gossip(&self, data: Vec<u8>) -> Result<(), HyparError> {
        Ok(self.publisher()?.gossip(data)?)
    }

    /// Publish each of `messages` in order, in one call (cheaper than one
    /// call per message from languages whose foreign calls are expensive).
    /// Returns how many were published: it stops at the first failure, and
    /// raises that failure if it hit the first message.
    pub fn gossip_many(&self, messages: Vec<Vec<u8>>) -> Result<u64, HyparError> {
        let publisher = self.publisher()?;
        let mut sent = 0;
        for m in messages {
            match publisher.gossip(m) {
                Ok(()) => sent += 1,
                Err(e) if sent == 0 => return Err(e.into()),
                Err(_) => break,
            }
        }
        Ok(sent)
    }

    /// This topic's counters.
    pub fn stats(&self) -> Result<TopicStats, HyparError> {
        let mut stats: TopicStats = self.publisher()?.stats()?.into();
        stats.dropped += self.inbox.as_ref().map_or(0, |i| i.dropped.load(Ordering::Relaxed));
        Ok(stats)
    }

    /// The next message, or `None` once the topic was left or the network
    /// shut down. Only for topics joined without a handler.
    pub async fn next_message(&self) -> Result<Option<Vec<u8>>, HyparError> {
        match &self.inbox {
            Some(inbox) => Ok(inbox.next().await),
            None => Err(HyparError::InvalidArgument(format!(
                "topic {:?} delivers to its handler; next_message is for topics joined without one",
                self.name
            ))),
        }
    }

    /// Leave the topic. Once it returns, the handler is not called again
    /// (unless called from the handler itself: then after the current call).
    /// Idempotent.
    pub fn leave(&self) {
        self.publisher.lock().take();
        self.delivery.stop();
        if let Some(inbox) = &self.inbox {
            inbox.end();
        }
    }
}
