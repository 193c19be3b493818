//! One topic: its HyParView and Plumtree instances, and whom it hears and
//! tells. HyParView's neighbour changes are fed to Plumtree here.

use bytes::Bytes;

use super::dedup::SeenWindows;
use super::hyparview::{HyParView, NeighborChange};
use super::io::Io;
use super::plumtree::Plumtree;
use super::{
    ConfigError, Message, MessageId, Offence, PeerIdentity, PeerInfo, ProtoError, ProtocolConfig, TimerKind, TopicId,
    Validation,
};

/// Counters of one topic since it was joined.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TopicCounters {
    /// Messages published by this node.
    pub published: u64,
    /// Messages delivered to the application (each at most once).
    pub delivered: u64,
    /// Payload copies sent to neighbours (eager pushes and GRAFT answers).
    pub relayed: u64,
    /// Payload copies received for messages already delivered.
    pub duplicates: u64,
    /// Payloads refused for a bad hop count or an age past `max_message_age`.
    pub dropped_invalid: u64,
    /// Payloads refused because the seen-cache had already forgotten that
    /// far back (deduplication could no longer be guaranteed).
    pub dropped_too_old: u64,
    /// Messages from peers outside the allow list or `hear`.
    pub dropped_outsider: u64,
    /// GRAFT requests sent to recover announced messages.
    pub grafts_sent: u64,
    /// GOSSIP, IHAVE, GRAFT and PRUNE frames from peers outside the active
    /// view, refused.
    pub dropped_not_neighbor: u64,
    /// Messages the validator rejected.
    pub rejected: u64,
    /// Messages the validator ignored (or did not judge in time).
    pub ignored: u64,
    /// Messages whose signature was missing or wrong.
    pub forged: u64,
    /// New messages not taken because `max_pending` were already waiting
    /// for their verdict.
    pub pending_full: u64,
    /// Announcements of missing messages not taken because
    /// `missing_capacity` were already tracked.
    pub missing_full: u64,
    /// Direct messages sent to neighbours.
    pub direct_sent: u64,
    /// Direct messages received from neighbours.
    pub direct_received: u64,
    /// Messages handed to neighbours to publish (proxy passing), retries
    /// included.
    pub handoffs_sent: u64,
    /// Messages neighbours handed this node to publish (proxy passing).
    pub handoffs_taken: u64,
}

/// How full a topic's bounded structures are (see [`Topic::cache_sizes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheSizes {
    /// Sessions (origin, session) whose delivered numbers are tracked.
    pub sessions: usize,
    /// Ranges of delivered numbers over every session.
    pub ranges: usize,
    /// Anonymous messages (proxy passing) remembered one by one, at most
    /// `recent_ids_capacity`.
    pub anonymous: usize,
    /// Recent message ids remembered.
    pub recent_ids: usize,
    /// Messages kept to answer GRAFTs.
    pub cached_messages: usize,
    /// Announced messages not received yet.
    pub missing: usize,
    /// Peers in the known-peers cache.
    pub known_peers: usize,
    /// New messages held for the driver's verdict.
    pub pending: usize,
    /// Messages handed to proxies and not yet seen in the overlay.
    pub handoffs: usize,
    /// Origins with a tree of their own, or whose first message was seen
    /// (at most `origin_trees`).
    pub origin_trees: usize,
}

/// One joined topic.
#[derive(Debug)]
pub struct Topic<PI> {
    id: TopicId,
    generation: u64,
    hyparview: HyParView<PI>,
    plumtree: Plumtree<PI>,
    /// The configuration in force (the views and the broadcast hold their
    /// own copies of their parts).
    config: ProtocolConfig<PI>,
    /// Frames from peers outside the allow list or `hear`.
    dropped_outsider: u64,
    /// Broadcast messages from peers outside the active view.
    dropped_not_neighbor: u64,
    /// Direct messages sent and received.
    direct: (u64, u64),
}

impl<PI: PeerIdentity> Topic<PI> {
    /// Join `id` as `me` (with its data) at `now`, publishing under
    /// `session`; `windows` is the deduplication record of an earlier join.
    pub(crate) fn new(
        id: TopicId,
        generation: u64,
        me: PeerInfo<PI>,
        config: ProtocolConfig<PI>,
        windows: Option<SeenWindows<PI>>,
        session: u64,
        now: std::time::Instant,
    ) -> Self {
        let modes = (config.signed, config.holds_messages());
        let origin = config.publish_as.unwrap_or(me.id);
        Topic {
            id,
            generation,
            hyparview: HyParView::new(me.id, me.data, config.hyparview.clone()),
            plumtree: Plumtree::new(origin, session, now, config.plumtree.clone(), modes, windows),
            config,
            dropped_outsider: 0,
            dropped_not_neighbor: 0,
            direct: (0, 0),
        }
    }

    /// The topic's id.
    pub fn id(&self) -> TopicId {
        self.id
    }

    /// Which join of this topic the node is in (timers carry it).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Peers in the active view.
    pub fn active(&self) -> impl Iterator<Item = &PI> {
        self.hyparview.active()
    }

    /// Peers in the passive view.
    pub fn passive(&self) -> impl Iterator<Item = &PI> {
        self.hyparview.passive()
    }

    /// Peers in the known-peers cache.
    pub fn known(&self) -> impl Iterator<Item = &PI> {
        self.hyparview.known_peers()
    }

    /// Whether `peer` is in the active view.
    pub fn is_active(&self, peer: &PI) -> bool {
        self.hyparview.is_active(peer)
    }

    /// Active peers on the broadcast tree.
    pub fn eager(&self) -> &[PI] {
        self.plumtree.eager()
    }

    /// Active peers that only get announcements.
    pub fn lazy(&self) -> &[PI] {
        self.plumtree.lazy()
    }

    /// The neighbours `origin`'s messages are pushed to, if it has a tree
    /// of its own here ([`crate::PlumtreeConfig::origin_trees`]).
    pub fn origin_tree(&self, origin: &PI) -> Option<&[PI]> {
        self.plumtree.origin_tree(origin)
    }

    /// Active peers this node tells: the eager and lazy ones, to which its
    /// messages go.
    pub fn told(&self) -> impl Iterator<Item = &PI> {
        self.plumtree.eager().iter().chain(self.plumtree.lazy())
    }

    /// Active peers this node does not tell: it takes data from them but
    /// sends them none.
    pub fn muted(&self) -> &[PI] {
        self.plumtree.muted()
    }

    /// The configuration in force.
    pub fn config(&self) -> &ProtocolConfig<PI> {
        &self.config
    }

    /// What the topic counted since it was joined.
    pub fn counters(&self) -> TopicCounters {
        let p = self.plumtree.counters();
        TopicCounters {
            published: p.published,
            delivered: p.delivered,
            relayed: p.relayed,
            duplicates: p.duplicates,
            dropped_invalid: p.dropped_invalid,
            dropped_too_old: p.dropped_too_old,
            dropped_outsider: self.dropped_outsider,
            grafts_sent: p.grafts_sent,
            dropped_not_neighbor: self.dropped_not_neighbor,
            rejected: p.rejected,
            ignored: p.ignored,
            forged: p.forged,
            pending_full: p.pending_full,
            missing_full: p.missing_full,
            direct_sent: self.direct.0,
            direct_received: self.direct.1,
            handoffs_sent: p.handoffs_sent,
            handoffs_taken: p.handoffs_taken,
        }
    }

    /// How full the topic's bounded structures are.
    pub fn cache_sizes(&self) -> CacheSizes {
        CacheSizes { known_peers: self.hyparview.known_len(), ..self.plumtree.sizes() }
    }

    /// The configured largest frame, framing included.
    pub fn max_message_size(&self) -> usize {
        self.plumtree.max_message_size()
    }

    /// Whether `peer` may enter the views: it is heard or told (see
    /// [`ProtocolConfig::admits`]).
    pub fn is_allowed(&self, peer: &PI) -> bool {
        self.config.admits(peer)
    }

    fn filter_allowed(&self, peers: Vec<PeerInfo<PI>>) -> Vec<PeerInfo<PI>> {
        peers.into_iter().filter(|p| self.is_allowed(&p.id)).collect()
    }

    /// Tell Plumtree about the neighbour changes HyParView made.
    fn sync_neighbors(&mut self, io: &mut Io<'_, PI>) {
        for change in self.hyparview.take_changes() {
            match change {
                NeighborChange::Up(peer) => self.plumtree.on_neighbor_up(peer, self.config.tells(&peer), io),
                NeighborChange::Down(peer) => {
                    self.plumtree.on_neighbor_down(peer);
                    self.plumtree.retry_handoffs_to(peer, io);
                }
            }
        }
    }

    pub(crate) fn join(&mut self, bootstrap: Vec<PeerInfo<PI>>, io: &mut Io<'_, PI>) {
        let bootstrap = self.filter_allowed(bootstrap);
        self.hyparview.join(bootstrap, io);
        self.sync_neighbors(io);
    }

    pub(crate) fn add_bootstrap(&mut self, peer: PeerInfo<PI>, io: &mut Io<'_, PI>) {
        if self.is_allowed(&peer.id) {
            self.hyparview.add_bootstrap(peer, io);
        }
    }

    pub(crate) fn set_my_data(&mut self, data: Option<crate::PeerData>) {
        self.hyparview.set_my_data(data);
    }

    pub(crate) fn readvertise(&mut self, io: &mut Io<'_, PI>) {
        self.hyparview.readvertise(io);
    }

    pub(crate) fn add_candidate(&mut self, peer: PeerInfo<PI>, io: &mut Io<'_, PI>) {
        if self.is_allowed(&peer.id) {
            self.hyparview.add_candidate(peer, io);
        }
    }

    /// Tell the neighbours we leave; returns the deduplication record to keep.
    pub(crate) fn leave(mut self, io: &mut Io<'_, PI>) -> SeenWindows<PI> {
        self.hyparview.leave(io);
        self.plumtree.into_windows()
    }

    /// A message for `peer` could not be sent.
    pub(crate) fn on_send_refused(&mut self, peer: PI, message: &Message<PI>, io: &mut Io<'_, PI>) {
        match message {
            Message::Gossip(g) => self.plumtree.on_push_refused(peer, g, io),
            Message::Proxy { nonce, .. } => self.plumtree.on_handoff_refused(peer, *nonce, io),
            _ => {}
        }
    }

    pub(crate) fn broadcast(
        &mut self,
        payload: Bytes,
        limit: u16,
        io: &mut Io<'_, PI>,
    ) -> Result<MessageId, ProtoError> {
        self.plumtree.broadcast(payload, limit, io)
    }

    /// Send `payload` to the neighbour `to` alone.
    pub(crate) fn send_direct(&mut self, to: PI, payload: Bytes, io: &mut Io<'_, PI>) -> Result<(), ProtoError> {
        let size = super::wire::direct_frame_len(payload.len());
        let max = self.plumtree.max_message_size();
        if size > max {
            return Err(ProtoError::MessageTooLarge { size, max });
        }
        if !self.hyparview.is_active(&to) || !self.config.tells(&to) {
            return Err(ProtoError::NotNeighbor(self.id));
        }
        io.send(to, Message::Direct { payload });
        self.direct.0 += 1;
        Ok(())
    }

    pub(crate) fn on_validated(&mut self, id: MessageId, verdict: Validation, io: &mut Io<'_, PI>) {
        self.plumtree.on_validated(id, verdict, io);
    }

    pub(crate) fn check_size(&self, payload_len: usize) -> Result<(), ProtoError> {
        self.plumtree.check_size(payload_len)
    }

    pub(crate) fn on_message(&mut self, from: PI, message: Message<PI>, io: &mut Io<'_, PI>) {
        if !self.is_allowed(&from) {
            self.dropped_outsider += 1;
            // Refused for good: the outsider forgets us and holds no state.
            if matches!(message, Message::Join { .. } | Message::Neighbor { .. }) {
                io.send(from, Message::Disconnect { alive: false });
            }
            return;
        }
        if !matches!(message, Message::Disconnect { .. }) {
            // A frame from a neighbour not announced yet: its link works.
            self.hyparview.heard_from(&from, io);
        }
        let broadcast = matches!(
            message,
            Message::Gossip(_)
                | Message::IHave(_)
                | Message::Graft { .. }
                | Message::Prune
                | Message::PruneOrigin { .. }
                | Message::GraftOrigin { .. }
                | Message::Direct { .. }
                | Message::Proxy { .. }
        );
        if broadcast && !self.hyparview.is_active(&from) {
            // Only neighbours take part in the broadcast (or talk directly).
            self.dropped_not_neighbor += 1;
            io.offence(from, Offence::NotNeighbor);
            return;
        }
        let data =
            matches!(message, Message::Gossip(_) | Message::IHave(_) | Message::Direct { .. } | Message::Proxy { .. });
        if data && !self.config.hears(&from) {
            // Data from a neighbour not heard: not taken. One that pushes is
            // told to announce instead (announcements are dropped too).
            self.dropped_outsider += 1;
            if let Message::Gossip(g) = &message {
                io.send(from, Message::Prune);
                if g.seq != 0 {
                    // It may be pushing on the origin's own tree.
                    io.send(from, Message::PruneOrigin { origin: g.origin });
                }
            }
            return;
        }
        match message {
            Message::Gossip(g) => self.plumtree.on_gossip(from, g, io),
            Message::IHave(entries) => self.plumtree.on_ihave(from, entries, io),
            Message::Graft { id } => self.plumtree.on_graft(from, id, io),
            Message::Prune => self.plumtree.on_prune(from),
            Message::PruneOrigin { origin } => self.plumtree.on_prune_origin(from, origin),
            Message::GraftOrigin { origin } => self.plumtree.on_graft_origin(from, origin),
            Message::Direct { payload } => {
                self.direct.1 += 1;
                io.event(super::Event::Direct { from, payload });
            }
            Message::Proxy { nonce, limit, age_ms, payload } => {
                self.plumtree.on_proxy(from, nonce, limit, age_ms, payload, io)
            }
            Message::ForwardJoin { peer, ttl } => {
                if self.is_allowed(&peer.id) {
                    self.hyparview.on_message(from, Message::ForwardJoin { peer, ttl }, io);
                }
            }
            Message::Shuffle { origin, ttl, peers } => {
                let peers = self.filter_allowed(peers);
                if self.is_allowed(&origin.id) {
                    self.hyparview.on_message(from, Message::Shuffle { origin, ttl, peers }, io);
                }
            }
            Message::ShuffleReply { peers } => {
                let peers = self.filter_allowed(peers);
                self.hyparview.on_message(from, Message::ShuffleReply { peers }, io);
            }
            other => self.hyparview.on_message(from, other, io),
        }
        self.sync_neighbors(io);
    }

    /// Change the running topic's configuration (see
    /// [`crate::State::configure`]).
    pub(crate) fn reconfigure(&mut self, config: ProtocolConfig<PI>, io: &mut Io<'_, PI>) -> Result<(), ConfigError> {
        config.validate()?;
        self.config.check_change(&config)?;
        self.config = config;
        let c = &self.config;
        self.plumtree.reconfigure(c.plumtree.clone(), |p| c.tells(p), |p| c.hears(p), io);
        // Peers no longer admitted leave every view and cache, told
        // DISCONNECT (for good) where they were neighbours; then the views
        // take their new sizes and refill.
        self.hyparview.purge(|p| c.admits(p), io);
        self.hyparview.reconfigure(c.hyparview.clone(), io);
        self.sync_neighbors(io);
        Ok(())
    }

    pub(crate) fn on_timer(&mut self, kind: TimerKind, io: &mut Io<'_, PI>) {
        match kind {
            TimerKind::Shuffle => self.hyparview.on_shuffle_timer(io),
            TimerKind::Maintenance => {
                self.plumtree.expire(io);
                self.hyparview.on_maintenance_timer(io);
            }
            TimerKind::JoinRetry => self.hyparview.on_join_retry(io),
            TimerKind::IHaveFlush => self.plumtree.on_ihave_flush(io),
            TimerKind::Graft => self.plumtree.on_graft_timer(io),
            TimerKind::Proxy => self.plumtree.on_proxy_timer(io),
        }
        self.sync_neighbors(io);
    }

    pub(crate) fn on_peer_disconnected(&mut self, peer: PI, io: &mut Io<'_, PI>) {
        self.hyparview.on_peer_disconnected(peer, io);
        self.sync_neighbors(io);
    }

    pub(crate) fn forget(&mut self, peer: PI, io: &mut Io<'_, PI>) {
        self.hyparview.forget(peer, io);
        self.sync_neighbors(io);
    }

    pub(crate) fn on_dial_failed(&mut self, peer: PI, io: &mut Io<'_, PI>) {
        self.hyparview.on_dial_failed(peer, io);
        self.sync_neighbors(io);
    }
}
