//! Joined topics: publishing, and receiving as a `Stream` of payloads.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::Stream;
use hypar_proto::{check_gossip_size, ProtocolConfig, Validation};
use tokio::sync::mpsc;

use crate::runtime::{Command, Inbound, RuntimeHandle, TopicChannels, ValidatorFn};
use crate::{Error, Multiaddr, PeerId, TopicStats};

/// What to join.
#[derive(Debug, Clone)]
pub struct Config {
    /// The topic's name; its id is the SHA-256 of it (see `docs/PROTOCOL.md`).
    pub name: String,
    /// Peers to join through. An address ending in `/p2p/<peer id>` is
    /// contacted directly; one without (`/dns4/host/tcp/4001`,
    /// `/dnsaddr/...`) is dialed first to learn who answers. Empty: this node
    /// is a bootstrap node for others.
    pub bootstrap: Vec<Multiaddr>,
    /// Protocol tuning (view sizes, timers, caches, allow list, signing).
    /// Its `max_message_size` is replaced by the network's before
    /// validation, and its `validation` flag is set when there is a
    /// validator.
    ///
    /// `protocol.signed` is on by default: every message carries its
    /// publisher's Ed25519 signature, so a receiver knows who wrote it
    /// ([`Received::origin`]), a relay cannot alter it, and an old message
    /// replayed with a forged age is refused. It costs 73 to 82 bytes per
    /// message and a signature check per message received. Every member
    /// of a topic must agree: a signed node refuses unsigned messages.
    /// Turned off, a topic's messages name a random origin chosen at each
    /// join instead of the publisher (its neighbours still see whom a
    /// message came from first), and cost less CPU and bytes.
    pub protocol: ProtocolConfig<PeerId>,
    /// Judges each new message before it is delivered or relayed; see
    /// [`Config::with_validator`].
    pub validator: Option<Validator>,
}

impl Default for Config {
    fn default() -> Self {
        let protocol = ProtocolConfig { signed: true, ..ProtocolConfig::default() };
        Config { name: String::new(), bootstrap: Vec::new(), protocol, validator: None }
    }
}

impl Config {
    /// A signed topic called `name`, joined through `bootstrap`.
    pub fn new(name: impl Into<String>, bootstrap: Vec<Multiaddr>) -> Self {
        Config { name: name.into(), bootstrap, ..Config::default() }
    }

    /// This config with signing on or off (see [`Config::protocol`]).
    pub fn signed(mut self, signed: bool) -> Self {
        self.protocol.signed = signed;
        self
    }

    /// This config with proxy passing on or off (off by default): each
    /// message this node publishes, or is handed by a neighbour, goes with
    /// even chance to one random neighbour, which publishes it as if it
    /// were its own, so a message's first appearance in the overlay is no
    /// evidence of who wrote it. A neighbour that does not show the message
    /// in the overlay within `protocol.plumtree.proxy_timeout` (2 s) is
    /// replaced; after three, this node publishes it itself.
    ///
    /// It needs an unsigned topic ([`Config::signed`]`(false)`): joining a
    /// signed topic with it fails with a [`crate::Error::Config`] naming
    /// `plumtree.proxy`. It may be turned on and off while joined
    /// ([`Topic::configure`]). The cost: on average one more link latency
    /// before a message enters the overlay. `docs/PROTOCOL.md` ("Proxy
    /// passing") says what it hides and what it does not.
    pub fn proxy(mut self, on: bool) -> Self {
        self.protocol.plumtree.proxy = on;
        self
    }

    /// This config with a validator: `validate` sees every new message (its
    /// signature already checked, in a signed topic) before it is delivered
    /// or relayed, and says what to do with it ([`Verdict`]). While it
    /// decides, the message is held: not delivered, relayed or announced.
    ///
    /// It runs on the network's validation thread, never on the network
    /// thread: a slow validator delays only messages of its topic, and
    /// several can be pending at once (up to `protocol.plumtree.max_pending`).
    /// One that has not answered after `protocol.plumtree.validation_timeout`
    /// (2 s by default) counts as [`Verdict::Ignore`], as does one that
    /// panics. Blocking work belongs in `tokio::task::spawn_blocking` or
    /// another thread, awaited here.
    pub fn with_validator<F, Fut>(mut self, validate: F) -> Self
    where
        F: Fn(Received) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Verdict> + Send + 'static,
    {
        let run: ValidatorFn = Arc::new(move |m: Inbound| {
            let verdict = validate(Received::from(m));
            Box::pin(async move { verdict.await.into() })
        });
        self.validator = Some(Validator(run));
        self
    }
}

/// A topic's validator (made by [`Config::with_validator`]).
#[derive(Clone)]
pub struct Validator(pub(crate) ValidatorFn);

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Validator")
    }
}

/// What a validator decides about a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Deliver it and relay it.
    Accept,
    /// Drop it and penalise the neighbour that sent it: the message breaks
    /// the topic's rules, and honest peers would not relay it.
    Reject,
    /// Drop it, blaming nobody (a message not wanted here, or that cannot be
    /// judged yet).
    Ignore,
}

impl From<bool> for Verdict {
    /// `true` is [`Verdict::Accept`], `false` [`Verdict::Reject`].
    fn from(accept: bool) -> Self {
        if accept {
            Verdict::Accept
        } else {
            Verdict::Reject
        }
    }
}

impl From<Verdict> for Validation {
    fn from(v: Verdict) -> Self {
        match v {
            Verdict::Accept => Validation::Accept,
            Verdict::Reject => Validation::Reject,
            Verdict::Ignore => Validation::Ignore,
        }
    }
}

/// A delivered message with what is known of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// What the publisher sent.
    pub payload: Bytes,
    /// Overlay hops it travelled: 1 when it came straight from its
    /// publisher; 0 when a neighbour handed it to this node to publish
    /// (proxy passing, see [`Config::proxy`]).
    pub hops: u16,
    /// Its publisher, whose signature was verified, in a signed topic;
    /// `None` in an unsigned topic. For a direct message, the neighbour that
    /// sent it (authenticated by the connection).
    pub origin: Option<PeerId>,
    /// A direct message from a neighbour ([`Publisher::send`]): not a
    /// broadcast, not deduplicated.
    pub direct: bool,
}

/// Publishing rights to a joined topic, without a subscriber queue: for
/// code that sends from several places while one place receives. It keeps
/// the topic joined like a [`Topic`] handle does.
pub struct Publisher {
    channels: Arc<TopicChannels>,
    net: Arc<RuntimeHandle>,
}

impl From<Inbound> for Received {
    fn from(m: Inbound) -> Self {
        Received { payload: m.payload, hops: m.hops, origin: m.origin, direct: m.direct }
    }
}

impl Publisher {
    fn new(channels: Arc<TopicChannels>, net: Arc<RuntimeHandle>) -> Self {
        channels.acquire();
        Publisher { channels, net }
    }

    /// The topic's name.
    pub fn name(&self) -> &str {
        &self.channels.name
    }

    /// Publish `payload` to every other member. Returns at once; the message
    /// is sent by the network thread.
    ///
    /// A publish waits in a buffer until it can be sent: while the topic has
    /// no neighbour yet (just joined, or cut off, until the overlay repairs
    /// itself) and while every neighbour's link is congested. The buffer is
    /// bounded (`publish_queue` messages, `publish_buffer_bytes` bytes);
    /// when it is full this returns [`Error::QueueFull`] and the message is
    /// not taken: nothing is dropped silently. [`Publisher::gossip_async`]
    /// waits for room instead. Also fails if the payload's frame exceeds the
    /// size limit, or after shutdown.
    pub fn gossip(&self, payload: impl Into<Bytes>) -> Result<(), Error> {
        self.try_gossip(payload.into(), 0).map_err(|(e, _)| e)
    }

    /// [`Publisher::gossip`] for members at most `hops` overlay hops away: 1
    /// reaches this node's neighbours only. The topic's `max_hops` stays the
    /// ceiling (a larger `hops`, or 0, acts as it). The limit travels with
    /// the message (signed, in a signed topic) and every relay holds it.
    pub fn gossip_within(&self, payload: impl Into<Bytes>, hops: u16) -> Result<(), Error> {
        self.try_gossip(payload.into(), hops).map_err(|(e, _)| e)
    }

    /// [`Publisher::gossip`] that waits while the publish buffer is full.
    pub async fn gossip_async(&self, payload: impl Into<Bytes>) -> Result<(), Error> {
        let mut payload = payload.into();
        loop {
            let room = self.channels.room();
            match self.try_gossip(payload, 0) {
                Err((Error::QueueFull { .. }, Some(p))) => payload = p,
                other => return other.map_err(|(e, _)| e),
            }
            room.await;
        }
    }

    /// Publish, or give back the payload with the error when the buffer is full.
    fn try_gossip(&self, payload: Bytes, hops: u16) -> Result<(), (Error, Option<Bytes>)> {
        let len = payload.len();
        self.check_size(len).map_err(|e| (e, None))?;
        let config = &self.net.config;
        if let Err((waiting, bytes)) = self.channels.reserve(len, config.publish_queue, config.publish_buffer_bytes) {
            let topic = self.channels.name.to_string();
            return Err((Error::QueueFull { topic, waiting, bytes }, Some(payload)));
        }
        self.net.send(Command::Gossip { topic: self.channels.id, payload, hops }).map_err(|e| {
            self.channels.release(len);
            (e, None)
        })
    }
}

impl Publisher {
    /// This topic's counters. Blocks the calling thread briefly (without
    /// entering any runtime); from async code prefer [`Publisher::stats_async`].
    pub fn stats(&self) -> Result<TopicStats, Error> {
        futures::executor::block_on(self.stats_async())
    }

    /// [`Publisher::stats`] for async code.
    pub async fn stats_async(&self) -> Result<TopicStats, Error> {
        let snapshot = self.net.snapshot().await?;
        snapshot.topics.into_iter().find(|t| t.name == self.channels.name).map(TopicStats::from).ok_or(Error::ShutDown)
    }
}

impl Publisher {
    /// Send `payload` to `peer` alone, a current neighbour in this topic
    /// (one this node tells): it arrives at that peer's subscribers as a
    /// [`Received`] with `direct` set and `origin` naming this node. Not
    /// gossiped, not deduplicated (sent twice, it arrives twice), never
    /// relayed. For example, to hand a new neighbour the current state when
    /// [`EventKind::NeighborUp`](crate::EventKind::NeighborUp) reports it.
    ///
    /// Fails with [`Error::NotNeighbor`] if `peer` is not a neighbour,
    /// [`Error::LinkCongested`] if its link is congested (retry later:
    /// nothing was sent), [`Error::MessageTooLarge`]. Blocks the calling thread
    /// briefly for the network thread's answer; from async code prefer
    /// [`Publisher::send_async`].
    pub fn send(&self, peer: PeerId, payload: impl Into<Bytes>) -> Result<(), Error> {
        futures::executor::block_on(self.send_async(peer, payload))
    }

    /// [`Publisher::send`] for async code.
    pub async fn send_async(&self, peer: PeerId, payload: impl Into<Bytes>) -> Result<(), Error> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        let payload = payload.into();
        self.net.send(Command::Direct { topic: self.channels.id, peer, payload, reply })?;
        rx.await.map_err(|_| Error::ShutDown)?
    }

    /// The topic's protocol configuration in force: what it was joined with
    /// (the message size set to the network's), as changed since by
    /// [`Publisher::configure`].
    pub fn config(&self) -> ProtocolConfig<PeerId> {
        self.channels.config.lock().clone()
    }

    /// Change the topic's protocol configuration while it runs, at once.
    /// Start from [`Publisher::config`] and change what you need:
    ///
    /// - the allow list, `hear` and `tell`: a peer no longer admitted is told
    ///   DISCONNECT and leaves every view and cache of the topic; a
    ///   neighbour no longer told gets no more messages or announcements; one
    ///   no longer heard has its messages dropped;
    /// - `plumtree.max_hops`: applies to every message relayed from now on;
    /// - view sizes (a smaller view sheds peers at once), timers (from their
    ///   next run), cache bounds, `validation_timeout`.
    ///
    /// Fixed while joined (leave and join again to change them), refused
    /// with [`Error::InvalidConfig`] naming the field: `signed`,
    /// `validation` (whether there is a validator), `publish_as` (left
    /// `None`, the current one is kept), the message size (the network's), the deduplication bounds (`max_message_age`,
    /// `seen_ttl`, `max_link_delay`, `max_clock_skew`, `max_sessions`,
    /// `max_gaps_per_session`, `recent_ids_capacity`) and `max_pending`.
    /// An out-of-range value is refused the same way; on any error nothing
    /// changes. Blocks the calling thread briefly (without entering any
    /// runtime); from async code prefer [`Publisher::configure_async`].
    pub fn configure(&self, config: ProtocolConfig<PeerId>) -> Result<(), Error> {
        futures::executor::block_on(self.configure_async(config))
    }

    /// [`Publisher::configure`] for async code.
    pub async fn configure_async(&self, mut config: ProtocolConfig<PeerId>) -> Result<(), Error> {
        {
            // What the network sets at join, kept.
            let current = self.channels.config.lock();
            config.plumtree.max_message_size = self.net.config.max_message_size;
            config.validation = current.validation;
            if config.publish_as.is_none() {
                config.publish_as = current.publish_as;
            }
        }
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.net.send(Command::Configure { topic: self.channels.id, config: Box::new(config), reply })?;
        rx.await.map_err(|_| Error::ShutDown)?
    }

    /// `Ok` if a payload of `len` bytes fits the size limit, framing
    /// counted; else the [`Error::MessageTooLarge`] that `gossip` would
    /// return. Lets a caller refuse a payload before building or copying it.
    pub fn check_size(&self, len: usize) -> Result<(), Error> {
        check_gossip_size(len, self.channels.origin_len, self.channels.signed, self.net.config.max_message_size)
            .map_err(|e| Error::from_proto(e, &self.channels.name))
    }
}

impl Clone for Publisher {
    fn clone(&self) -> Self {
        Publisher::new(self.channels.clone(), self.net.clone())
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        if self.channels.release_handle() {
            let _ = self.net.send(Command::Leave { topic: self.channels.id });
        }
    }
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher").field("name", &self.channels.name).finish()
    }
}

/// A joined topic. Publish with [`Topic::gossip`]; receive each payload once,
/// as a [`Stream`] or with [`Topic::recv`].
///
/// Cloning gives another subscriber with its own bounded queue (it receives
/// what arrives from then on); a subscriber that falls behind loses messages
/// (counted in [`Network::stats`](crate::Network::stats)) without slowing
/// anyone else. When the last handle is dropped, the node leaves the topic
/// and its neighbours see it go.
pub struct Topic {
    publisher: Publisher,
    subscriber: u64,
    rx: mpsc::Receiver<Inbound>,
}

impl Topic {
    pub(crate) fn new(channels: Arc<TopicChannels>, net: Arc<RuntimeHandle>) -> Self {
        let (subscriber, rx) = channels.subscribe(net.config.subscriber_queue);
        Topic { publisher: Publisher::new(channels, net), subscriber, rx }
    }

    /// The topic's name.
    pub fn name(&self) -> &str {
        self.publisher.name()
    }

    /// A [`Publisher`] for this topic, to send from elsewhere while this
    /// handle receives.
    pub fn publisher(&self) -> Publisher {
        self.publisher.clone()
    }

    /// Publish `payload` to every other member; see [`Publisher::gossip`].
    pub fn gossip(&self, payload: impl Into<Bytes>) -> Result<(), Error> {
        self.publisher.gossip(payload)
    }

    /// Publish, waiting while the publish buffer is full; see
    /// [`Publisher::gossip_async`].
    pub async fn gossip_async(&self, payload: impl Into<Bytes>) -> Result<(), Error> {
        self.publisher.gossip_async(payload).await
    }

    /// This topic's counters; see [`Publisher::stats`].
    pub fn stats(&self) -> Result<TopicStats, Error> {
        self.publisher.stats()
    }

    /// Publish to members at most `hops` away; see
    /// [`Publisher::gossip_within`].
    pub fn gossip_within(&self, payload: impl Into<Bytes>, hops: u16) -> Result<(), Error> {
        self.publisher.gossip_within(payload, hops)
    }

    /// Send to one neighbour alone; see [`Publisher::send`].
    pub fn send(&self, peer: PeerId, payload: impl Into<Bytes>) -> Result<(), Error> {
        self.publisher.send(peer, payload)
    }

    /// [`Topic::send`] for async code.
    pub async fn send_async(&self, peer: PeerId, payload: impl Into<Bytes>) -> Result<(), Error> {
        self.publisher.send_async(peer, payload).await
    }

    /// The protocol configuration in force; see [`Publisher::config`].
    pub fn config(&self) -> ProtocolConfig<PeerId> {
        self.publisher.config()
    }

    /// Change the protocol configuration while the topic runs; see
    /// [`Publisher::configure`].
    pub fn configure(&self, config: ProtocolConfig<PeerId>) -> Result<(), Error> {
        self.publisher.configure(config)
    }

    /// [`Topic::configure`] for async code.
    pub async fn configure_async(&self, config: ProtocolConfig<PeerId>) -> Result<(), Error> {
        self.publisher.configure_async(config).await
    }

    /// The next payload; `None` once the network has shut down.
    pub async fn recv(&mut self) -> Option<Bytes> {
        self.recv_with_hops().await.map(|m| m.payload)
    }

    /// The next payload if one is waiting.
    pub fn try_recv(&mut self) -> Option<Bytes> {
        let message = self.rx.try_recv().ok();
        self.open(message).map(|m| m.payload)
    }

    /// `message`, unless the topic was closed meanwhile.
    fn open(&self, message: Option<Inbound>) -> Option<Received> {
        message.filter(|_| !self.publisher.channels.is_closed()).map(Received::from)
    }

    /// Wait for the next payload, blocking this thread. Works with or
    /// without an async runtime (it never enters one).
    pub fn recv_blocking(&mut self) -> Option<Bytes> {
        futures::executor::block_on(self.recv())
    }

    /// The next message with its hop count; `None` once the network has
    /// shut down. Shares the queue with [`Topic::recv`].
    pub async fn recv_with_hops(&mut self) -> Option<Received> {
        futures::future::poll_fn(|cx| self.poll_received(cx)).await
    }

    fn poll_received(&mut self, cx: &mut Context<'_>) -> Poll<Option<Received>> {
        if self.publisher.channels.is_closed() {
            return Poll::Ready(None);
        }
        let message = std::task::ready!(self.rx.poll_recv(cx));
        Poll::Ready(self.open(message))
    }
}

impl Clone for Topic {
    fn clone(&self) -> Self {
        Topic::new(self.publisher.channels.clone(), self.publisher.net.clone())
    }
}

impl Drop for Topic {
    fn drop(&mut self) {
        self.publisher.channels.unsubscribe(self.subscriber);
    }
}

impl Stream for Topic {
    type Item = Bytes;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        self.poll_received(cx).map(|m| m.map(|m| m.payload))
    }
}

impl std::fmt::Debug for Topic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Topic").field("name", &self.name()).finish()
    }
}
