//! A node's protocol state across all the topics it has joined. This is the
//! sans-IO entry point the runtime and the simulator drive.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use rand::RngCore;

use super::dedup::SeenWindows;
use super::io::{Io, Signer};
use super::topic::Topic;
use super::{
    Event, Message, MessageId, Offence, Output, PeerData, PeerIdentity, PeerInfo, ProtoError, ProtocolConfig, Timer,
    TopicId, Validation,
};

/// Every topic a node is in. Each method takes the current time and a random
/// number generator, and appends what must happen next to `out`.
#[derive(Debug)]
pub struct State<PI> {
    me: PI,
    my_data: Option<PeerData>,
    topics: BTreeMap<TopicId, Topic<PI>>,
    /// Joins so far: each topic join gets its own timer generation.
    joins: u64,
    /// Deduplication records of topics left recently, with when they were
    /// left, so a rejoin does not deliver old messages again. At most
    /// [`RETIRED_SEEN_CAPACITY`], each kept for its `seen_ttl`.
    retired: Vec<(TopicId, Instant, SeenWindows<PI>)>,
    /// Signs what this node publishes in signed topics.
    signer: SignerSlot,
    /// An instant and the wall clock then (ms since the Unix epoch): the
    /// wall clock at any other instant is extrapolated from it.
    wall_anchor: (Instant, u64),
}

/// The signer, if any (a closure, shown by presence only).
struct SignerSlot(Option<Arc<Signer>>);

impl std::fmt::Debug for SignerSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "Some(signer)" } else { "None" })
    }
}

/// Left topics whose seen-caches are kept at most.
const RETIRED_SEEN_CAPACITY: usize = 16;

impl<PI: PeerIdentity> State<PI> {
    /// A node called `me`, whose data (addresses) travel with it through the
    /// overlay.
    pub fn new(me: PI, my_data: Option<PeerData>) -> Self {
        State {
            me,
            my_data,
            topics: BTreeMap::new(),
            joins: 0,
            retired: Vec::new(),
            signer: SignerSlot(None),
            wall_anchor: (Instant::now(), 0),
        }
    }

    /// How this node signs what it publishes in signed topics: a function
    /// from [`crate::wire::signed_bytes`] to the signature (64 bytes,
    /// Ed25519, in the libp2p runtime). Without one, publishing in a signed
    /// topic fails with [`ProtoError::NoSigner`].
    pub fn set_signer(&mut self, signer: Arc<Signer>) {
        self.signer = SignerSlot(Some(signer));
    }

    /// The wall clock (milliseconds since the Unix epoch) at `now`; other
    /// instants are extrapolated from the latest call. Signed topics use it
    /// to time what this node publishes and to bound the age of what it
    /// receives. Call it again from time to time to follow clock changes.
    pub fn set_wall_clock(&mut self, now: Instant, unix_ms: u64) {
        self.wall_anchor = (now, unix_ms);
    }

    fn wall_ms(&self, now: Instant) -> u64 {
        let (at, ms) = self.wall_anchor;
        match now.checked_duration_since(at) {
            Some(d) => ms.saturating_add(d.as_millis() as u64),
            None => ms.saturating_sub(at.duration_since(now).as_millis() as u64),
        }
    }

    /// The verdict on a message held by [`Output::Validate`]: deliver and
    /// relay it, or not. A verdict for a message no longer held (given up
    /// after `validation_timeout`, or a topic left since) is ignored.
    pub fn on_validated(
        &mut self,
        topic: TopicId,
        id: MessageId,
        verdict: Validation,
        now: Instant,
        rng: &mut dyn RngCore,
        out: &mut Vec<Output<PI>>,
    ) {
        self.with_topic(topic, now, rng, out, |t, io| t.on_validated(id, verdict, io));
    }

    /// This node's identity.
    pub fn me(&self) -> PI {
        self.me
    }

    /// Data announced for this node (its addresses), in every topic from
    /// the next message that carries it (JOIN, NEIGHBOR, SHUFFLE).
    pub fn set_my_data(&mut self, data: Option<PeerData>) {
        for t in self.topics.values_mut() {
            t.set_my_data(data.clone());
        }
        self.my_data = data;
    }

    /// Walk a JOIN carrying this node's current data through one neighbour
    /// in every topic: after its addresses changed so that nodes which could
    /// not reach it now can (it reserved a relay slot), they learn the new
    /// addresses and the walk's end links to it.
    pub fn readvertise(&mut self, now: Instant, rng: &mut dyn RngCore, out: &mut Vec<Output<PI>>) {
        let ids: Vec<TopicId> = self.topics.keys().copied().collect();
        for topic in ids {
            self.with_topic(topic, now, rng, out, |t, io| t.readvertise(io));
        }
    }

    /// The state of a joined topic.
    pub fn topic(&self, id: &TopicId) -> Option<&Topic<PI>> {
        self.topics.get(id)
    }

    /// Every joined topic.
    pub fn topics(&self) -> impl Iterator<Item = &Topic<PI>> {
        self.topics.values()
    }

    /// Run `f` on one topic (if joined), then emit `Disconnect` for peers that
    /// no topic keeps active any more.
    fn with_topic<T>(
        &mut self,
        topic: TopicId,
        now: Instant,
        rng: &mut dyn RngCore,
        out: &mut Vec<Output<PI>>,
        f: impl FnOnce(&mut Topic<PI>, &mut Io<'_, PI>) -> T,
    ) -> Option<T> {
        let start = out.len();
        let wall_ms = self.wall_ms(now);
        let t = self.topics.get_mut(&topic)?;
        let signer = self.signer.0.as_deref();
        let mut io = Io { now, wall_ms, signer, rng, out, topic, generation: t.generation() };
        let result = f(t, &mut io);
        self.emit_disconnects(start, out);
        Some(result)
    }

    fn emit_disconnects(&self, start: usize, out: &mut Vec<Output<PI>>) {
        let mut gone: Vec<PI> = Vec::new();
        for o in &out[start..] {
            if let Output::Event { event: Event::NeighborDown(p), .. } = o {
                if !gone.contains(p) && !self.topics.values().any(|t| t.is_active(p)) {
                    gone.push(*p);
                }
            }
        }
        out.extend(gone.into_iter().map(|peer| Output::Disconnect { peer }));
    }

    /// Join `topic`, contacting `bootstrap` (an empty list makes this node a
    /// bootstrap node for others).
    pub fn join(
        &mut self,
        topic: TopicId,
        config: ProtocolConfig<PI>,
        bootstrap: Vec<PeerInfo<PI>>,
        now: Instant,
        rng: &mut dyn RngCore,
        out: &mut Vec<Output<PI>>,
    ) -> Result<(), ProtoError> {
        config.validate()?;
        if self.topics.contains_key(&topic) {
            return Err(ProtoError::AlreadyJoined(topic));
        }
        self.joins += 1;
        let ttl = config.plumtree.seen_ttl;
        self.retired.retain(|(_, left, _)| now.saturating_duration_since(*left) < ttl);
        let seen = self.retired.iter().position(|(t, _, _)| *t == topic).map(|i| self.retired.remove(i).2);
        let session = rng.next_u64();
        let me = PeerInfo { id: self.me, data: self.my_data.clone() };
        let t = Topic::new(topic, self.joins, me, config, seen, session, now);
        self.topics.insert(topic, t);
        self.with_topic(topic, now, rng, out, |t, io| t.join(bootstrap, io));
        Ok(())
    }

    /// Change a joined topic's configuration while it runs. Everything may
    /// change but what [`ProtocolConfig::check_change`] lists (signing,
    /// validation, the message size and the deduplication bounds). Peers no
    /// longer admitted (`allowed_peers`, `hear`, `tell`) leave every view and
    /// cache at once, told DISCONNECT (for good) where they were
    /// neighbours; neighbours no longer told get no more data; views above
    /// a smaller capacity shed peers; a smaller hop limit applies to every
    /// message relayed from now on; timers take their new values from
    /// their next run. On error nothing changed.
    pub fn configure(
        &mut self,
        topic: TopicId,
        config: ProtocolConfig<PI>,
        now: Instant,
        rng: &mut dyn RngCore,
        out: &mut Vec<Output<PI>>,
    ) -> Result<(), ProtoError> {
        self.with_topic(topic, now, rng, out, |t, io| t.reconfigure(config, io))
            .ok_or(ProtoError::NotJoined(topic))?
            .map_err(ProtoError::from)
    }

    /// Add a bootstrap peer to a joined topic (for example once an address
    /// without a peer id was dialed and the peer identified itself).
    pub fn add_bootstrap(
        &mut self,
        topic: TopicId,
        peer: PeerInfo<PI>,
        now: Instant,
        rng: &mut dyn RngCore,
        out: &mut Vec<Output<PI>>,
    ) -> Result<(), ProtoError> {
        self.with_topic(topic, now, rng, out, |t, io| t.add_bootstrap(peer, io)).ok_or(ProtoError::NotJoined(topic))
    }

    /// Offer a joined topic a peer found by local discovery (mDNS): a
    /// reachable peer that may or may not be in the topic. It is sent a
    /// JOIN while the topic has too few neighbours (a peer outside the topic
    /// answers DISCONNECT), and kept among the known peers otherwise.
    pub fn add_candidate(
        &mut self,
        topic: TopicId,
        peer: PeerInfo<PI>,
        now: Instant,
        rng: &mut dyn RngCore,
        out: &mut Vec<Output<PI>>,
    ) -> Result<(), ProtoError> {
        self.with_topic(topic, now, rng, out, |t, io| t.add_candidate(peer, io)).ok_or(ProtoError::NotJoined(topic))
    }

    /// Leave `topic`: active peers are told, and all its state is dropped.
    pub fn leave(
        &mut self,
        topic: TopicId,
        now: Instant,
        rng: &mut dyn RngCore,
        out: &mut Vec<Output<PI>>,
    ) -> Result<(), ProtoError> {
        let start = out.len();
        let t = self.topics.remove(&topic).ok_or(ProtoError::NotJoined(topic))?;
        let generation = t.generation();
        let wall_ms = self.wall_ms(now);
        let seen = t.leave(&mut Io { now, wall_ms, signer: None, rng, out, topic, generation });
        if self.retired.len() >= RETIRED_SEEN_CAPACITY {
            self.retired.remove(0);
        }
        self.retired.push((topic, now, seen));
        self.emit_disconnects(start, out);
        Ok(())
    }

    /// Check that a payload of `len` bytes fits the topic's message size limit.
    pub fn check_size(&self, topic: TopicId, len: usize) -> Result<(), ProtoError> {
        self.topics.get(&topic).ok_or(ProtoError::NotJoined(topic))?.check_size(len)
    }

    /// Publish `payload` to everyone in `topic`.
    pub fn broadcast(
        &mut self,
        topic: TopicId,
        payload: Bytes,
        now: Instant,
        rng: &mut dyn RngCore,
        out: &mut Vec<Output<PI>>,
    ) -> Result<MessageId, ProtoError> {
        self.broadcast_within(topic, payload, 0, now, rng, out)
    }

    /// Publish `payload` to the members of `topic` at most `hops` overlay
    /// hops away (1: this node's neighbours only; 0, or more than the
    /// topic's `max_hops`: as far as the topic allows). The limit travels
    /// with the message, signed in a signed topic.
    pub fn broadcast_within(
        &mut self,
        topic: TopicId,
        payload: Bytes,
        hops: u16,
        now: Instant,
        rng: &mut dyn RngCore,
        out: &mut Vec<Output<PI>>,
    ) -> Result<MessageId, ProtoError> {
        self.with_topic(topic, now, rng, out, |t, io| t.broadcast(payload, hops, io))
            .ok_or(ProtoError::NotJoined(topic))?
    }

    /// Send `payload` to the neighbour `to` in `topic` alone: delivered to
    /// its application as a direct message ([`crate::Event::Direct`]), not
    /// relayed, not deduplicated. `to` must be a neighbour this node tells.
    pub fn send_direct(
        &mut self,
        topic: TopicId,
        to: PI,
        payload: Bytes,
        now: Instant,
        rng: &mut dyn RngCore,
        out: &mut Vec<Output<PI>>,
    ) -> Result<(), ProtoError> {
        self.with_topic(topic, now, rng, out, |t, io| t.send_direct(to, payload, io))
            .ok_or(ProtoError::NotJoined(topic))?
    }

    /// A message arrived from `from`.
    pub fn on_message(
        &mut self,
        from: PI,
        topic: TopicId,
        message: Message<PI>,
        now: Instant,
        rng: &mut dyn RngCore,
        out: &mut Vec<Output<PI>>,
    ) {
        if from == self.me {
            return;
        }
        if !self.topics.contains_key(&topic) {
            // Refuse membership requests for topics we are not in, so the
            // requester forgets us instead of waiting for a timeout.
            if matches!(message, Message::Join { .. } | Message::Neighbor { .. }) {
                out.push(Output::Send { to: from, topic, message: Message::Disconnect { alive: false } });
                out.push(Output::Offence { peer: from, topic, offence: Offence::UnknownTopic });
            }
            return;
        }
        self.with_topic(topic, now, rng, out, |t, io| t.on_message(from, message, io));
    }

    /// Forget `peer` in every topic (it is banned): it is told DISCONNECT
    /// (for good) where it is a neighbour, and leaves every view and cache
    /// of peers; the views refill from other peers.
    pub fn forget(&mut self, peer: PI, now: Instant, rng: &mut dyn RngCore, out: &mut Vec<Output<PI>>) {
        let ids: Vec<TopicId> = self.topics.keys().copied().collect();
        for topic in ids {
            self.with_topic(topic, now, rng, out, |t, io| t.forget(peer, io));
        }
    }

    /// A message given to the driver in an [`Output::Send`] could not be
    /// sent: the link to `to` is congested, or the stream carrying it failed.
    /// A payload becomes an announcement to the same peer, which fetches it
    /// once the link drains; other kinds are repaired by the protocol's own
    /// timeouts and need not be reported.
    pub fn on_send_refused(
        &mut self,
        to: PI,
        topic: TopicId,
        message: &Message<PI>,
        now: Instant,
        rng: &mut dyn RngCore,
        out: &mut Vec<Output<PI>>,
    ) {
        self.with_topic(topic, now, rng, out, |t, io| t.on_send_refused(to, message, io));
    }

    /// A timer armed through [`Output::Timer`] fired.
    pub fn on_timer(&mut self, timer: Timer, now: Instant, rng: &mut dyn RngCore, out: &mut Vec<Output<PI>>) {
        if self.topics.get(&timer.topic).is_none_or(|t| t.generation() != timer.generation) {
            return;
        }
        self.with_topic(timer.topic, now, rng, out, |t, io| t.on_timer(timer.kind, io));
    }

    /// The connection to `peer` closed.
    pub fn on_peer_disconnected(&mut self, peer: PI, now: Instant, rng: &mut dyn RngCore, out: &mut Vec<Output<PI>>) {
        let ids: Vec<TopicId> = self.topics.keys().copied().collect();
        for topic in ids {
            self.with_topic(topic, now, rng, out, |t, io| t.on_peer_disconnected(peer, io));
        }
    }

    /// `peer` could not be dialed, or a send to it failed.
    pub fn on_dial_failed(&mut self, peer: PI, now: Instant, rng: &mut dyn RngCore, out: &mut Vec<Output<PI>>) {
        let ids: Vec<TopicId> = self.topics.keys().copied().collect();
        for topic in ids {
            self.with_topic(topic, now, rng, out, |t, io| t.on_dial_failed(peer, io));
        }
    }
}
