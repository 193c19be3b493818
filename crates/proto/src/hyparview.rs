//! HyParView membership for one topic: a small symmetric active view that
//! messages flow through, a larger passive view of backups, and a known-peers
//! cache beyond both that lets a node rejoin after mass failure and lets
//! partitions re-merge on their own.
//!
//! Follows Leitão, Pereira and Rodrigues (DSN 2007), with these additions:
//! - failed peers are remembered in the known-peers cache and probed again
//!   with exponential backoff; a probe that succeeds is a high-priority
//!   NEIGHBOR request, which bridges healed partitions;
//! - below `active_view_min` active peers, the node refills from the passive
//!   view and the known-peers cache in parallel; below capacity, one
//!   low-priority request per maintenance round;
//! - joins through bootstrap peers retry with exponential backoff.

use std::time::Instant;

use rand::seq::SliceRandom;
use rand::Rng;

use super::cache::KnownPeers;
use super::io::Io;
use super::{Event, HyParViewConfig, Message, Output, PeerData, PeerIdentity, PeerInfo, Priority, TimerKind};

/// A change of the active view, for the topic to pass on to Plumtree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NeighborChange<PI> {
    Up(PI),
    Down(PI),
}

/// An outstanding NEIGHBOR request.
#[derive(Debug, Clone, Copy)]
struct Pending<PI> {
    peer: PI,
    deadline: Instant,
    priority: Priority,
}

#[derive(Debug)]
pub(crate) struct HyParView<PI> {
    me: PI,
    my_data: Option<PeerData>,
    config: HyParViewConfig,
    active: Vec<PeerInfo<PI>>,
    passive: Vec<PeerInfo<PI>>,
    known: KnownPeers<PI>,
    /// Active-view changes since the caller last took them.
    changes: Vec<NeighborChange<PI>>,
    /// Active peers that have sent nothing in this topic yet (added at the
    /// end of a forward-join walk). Their `NeighborUp` waits for their
    /// first frame, so that the application hears only of links that carry
    /// frames; a peer that never answers leaves silently. A subset of
    /// `active`.
    unheard: Vec<PI>,
    pending: Vec<Pending<PI>>,
    /// Peers that refused a NEIGHBOR request, not asked again until the
    /// instant given (bounded by the passive view's capacity).
    refused: Vec<(PI, Instant)>,
    bootstrap: Vec<PeerInfo<PI>>,
    /// JOINs sent and not yet answered, with when they were sent.
    joining: Vec<(PI, Instant)>,
    join_backoff: std::time::Duration,
    join_retry_armed: bool,
    bootstrap_failure_reported: bool,
    next_probe: Option<Instant>,
    /// When a node starved of peers may next rejoin to escape an island,
    /// and the backoff after that.
    next_escape: Option<Instant>,
    escape_backoff: std::time::Duration,
}

impl<PI: PeerIdentity> HyParView<PI> {
    pub(crate) fn new(me: PI, my_data: Option<PeerData>, config: HyParViewConfig) -> Self {
        HyParView {
            me,
            my_data,
            known: KnownPeers::new(config.known_peers_capacity),
            join_backoff: config.join_retry_initial,
            escape_backoff: config.shuffle_interval,
            config,
            active: Vec::new(),
            passive: Vec::new(),
            changes: Vec::new(),
            unheard: Vec::new(),
            pending: Vec::new(),
            refused: Vec::new(),
            bootstrap: Vec::new(),
            joining: Vec::new(),
            join_retry_armed: false,
            bootstrap_failure_reported: false,
            next_probe: None,
            next_escape: None,
        }
    }

    pub(crate) fn set_my_data(&mut self, data: Option<PeerData>) {
        self.my_data = data;
    }

    /// This node's data changed in a way that makes it reachable where it
    /// was not (a relay address): walk a JOIN through one neighbour again,
    /// so that nodes which failed to reach it at the old addresses learn
    /// the new ones, and the walk's end links to it. A neighbour already
    /// linked only forwards the walk.
    pub(crate) fn readvertise(&mut self, io: &mut Io<'_, PI>) {
        if let Some(contact) = self.active.choose(io.rng).map(|p| p.id) {
            io.send(contact, Message::Join { data: self.my_data.clone() });
        }
    }

    pub(crate) fn active(&self) -> impl Iterator<Item = &PI> {
        self.active.iter().map(|p| &p.id)
    }

    pub(crate) fn passive(&self) -> impl Iterator<Item = &PI> {
        self.passive.iter().map(|p| &p.id)
    }

    /// Peers in the known-peers cache.
    pub(crate) fn known_peers(&self) -> impl Iterator<Item = &PI> {
        self.known.iter().map(|k| &k.info.id)
    }

    pub(crate) fn known_len(&self) -> usize {
        self.known.len()
    }

    /// The active-view changes made since the last call, in order.
    pub(crate) fn take_changes(&mut self) -> Vec<NeighborChange<PI>> {
        std::mem::take(&mut self.changes)
    }

    /// Record a neighbour going away, for the caller and, if it was
    /// announced, for the application.
    fn neighbor_down(&mut self, peer: PI, io: &mut Io<'_, PI>) {
        match self.unheard.iter().position(|p| *p == peer) {
            Some(i) => {
                self.unheard.swap_remove(i);
            }
            None => io.event(Event::NeighborDown(peer)),
        }
        self.changes.push(NeighborChange::Down(peer));
    }

    /// A frame of this topic arrived from `peer`: if it is a neighbour not
    /// announced yet, its link works, so announce it now.
    pub(crate) fn heard_from(&mut self, peer: &PI, io: &mut Io<'_, PI>) {
        if let Some(i) = self.unheard.iter().position(|p| p == peer) {
            self.unheard.swap_remove(i);
            self.announce(*peer, io);
        }
    }

    /// Tell the application of a neighbour whose link carries frames, and
    /// that the node is connected if it is the first such.
    fn announce(&mut self, peer: PI, io: &mut Io<'_, PI>) {
        io.event(Event::NeighborUp(peer));
        if self.active.len() - self.unheard.len() == 1 {
            io.event(Event::Joined);
        }
    }

    pub(crate) fn is_active(&self, peer: &PI) -> bool {
        self.active.iter().any(|p| p.id == *peer)
    }

    fn is_passive(&self, peer: &PI) -> bool {
        self.passive.iter().any(|p| p.id == *peer)
    }

    fn is_pending(&self, peer: &PI) -> bool {
        self.pending.iter().any(|p| p.peer == *peer)
    }

    fn me_info(&self) -> PeerInfo<PI> {
        PeerInfo { id: self.me, data: self.my_data.clone() }
    }

    /// Best known data for `peer`.
    fn info_of(&self, peer: PI) -> PeerInfo<PI> {
        self.active
            .iter()
            .chain(self.passive.iter())
            .find(|p| p.id == peer)
            .cloned()
            .or_else(|| self.known.get(&peer).map(|k| k.info.clone()))
            .unwrap_or(PeerInfo::new(peer))
    }

    /// Remember a peer in the known-peers cache, telling the driver its data.
    /// `from_itself`: the data came from the peer itself.
    fn learn_from(&mut self, info: &PeerInfo<PI>, from_itself: bool, io: &mut Io<'_, PI>) {
        if info.id == self.me {
            return;
        }
        if from_itself && info.data.is_some() {
            // Its own word on its addresses replaces what the views held,
            // so that what this node passes on about it is current.
            for p in self.active.iter_mut().chain(self.passive.iter_mut()).filter(|p| p.id == info.id) {
                p.data = info.data.clone();
            }
        }
        let (active, passive) = (&self.active, &self.passive);
        let pinned = |id: &PI| active.iter().chain(passive.iter()).any(|p| p.id == *id);
        // The driver hears of the data even when the peer was known: its
        // addresses may have changed (a relay slot reserved since). What a
        // third party says is marked so, and cannot displace the peer's own.
        self.known.insert(info.clone(), from_itself, io.rng, pinned);
        if let Some(data) = &info.data {
            io.out.push(Output::PeerData { peer: info.id, data: data.clone(), firsthand: from_itself });
        }
    }

    /// Remember a peer heard of through someone else.
    fn learn(&mut self, info: &PeerInfo<PI>, io: &mut Io<'_, PI>) {
        self.learn_from(info, false, io);
    }

    /// Start participating: send JOIN to every bootstrap peer and arm the
    /// periodic timers. An empty list makes this node a bootstrap node.
    pub(crate) fn join(&mut self, bootstrap: Vec<PeerInfo<PI>>, io: &mut Io<'_, PI>) {
        self.bootstrap = bootstrap.into_iter().filter(|p| p.id != self.me).collect();
        for b in self.bootstrap.clone() {
            self.learn(&b, io);
        }
        self.send_joins(io);
        let d = io.jitter(self.config.shuffle_interval);
        io.timer(d, TimerKind::Shuffle);
        let d = io.jitter(self.config.maintenance_interval);
        io.timer(d, TimerKind::Maintenance);
    }

    /// A bootstrap peer learned after joining (its address was dialed
    /// first). JOIN through it unless the node already has enough neighbours.
    pub(crate) fn add_bootstrap(&mut self, peer: PeerInfo<PI>, io: &mut Io<'_, PI>) {
        if peer.id == self.me || self.bootstrap.iter().any(|b| b.id == peer.id) {
            return;
        }
        self.learn_from(&peer, true, io);
        self.bootstrap.push(peer.clone());
        if self.active.len() < self.rejoin_below() && !self.is_joining(&peer.id) {
            self.send_join(peer.id, io);
        }
    }

    /// A peer found by local discovery (mDNS), reachable and speaking the
    /// protocol, but perhaps not in this topic. It is remembered among the
    /// known peers, and sent a JOIN while the node has too few neighbours
    /// and fewer JOINs out than it needs neighbours; a peer outside the
    /// topic answers with a DISCONNECT. Unlike a bootstrap peer it is not
    /// retried.
    pub(crate) fn add_candidate(&mut self, peer: PeerInfo<PI>, io: &mut Io<'_, PI>) {
        if peer.id == self.me || self.is_active(&peer.id) {
            return;
        }
        self.learn_from(&peer, true, io);
        let wanted = self.rejoin_below();
        if self.active.len() < wanted && self.joining.len() < wanted && !self.is_joining(&peer.id) {
            self.send_join(peer.id, io);
        }
    }

    /// Send JOIN to `contact` and wait for its answer.
    fn send_join(&mut self, contact: PI, io: &mut Io<'_, PI>) {
        io.send(contact, Message::Join { data: self.my_data.clone() });
        self.joining.push((contact, io.now));
    }

    fn is_joining(&self, peer: &PI) -> bool {
        self.joining.iter().any(|(p, _)| p == peer)
    }

    fn send_joins(&mut self, io: &mut Io<'_, PI>) {
        self.joining.clear();
        let contacts: Vec<PI> = self.bootstrap.iter().map(|b| b.id).collect();
        for contact in contacts {
            self.send_join(contact, io);
        }
    }

    /// A JOIN went unanswered: once none is left and no neighbour exists,
    /// report (once) and retry with backoff.
    fn join_attempt_failed(&mut self, peer: PI, io: &mut Io<'_, PI>) {
        let before = self.joining.len();
        self.joining.retain(|(p, _)| *p != peer);
        if before == self.joining.len() || !self.joining.is_empty() || !self.active.is_empty() {
            return;
        }
        if !self.bootstrap_failure_reported && self.bootstrap.iter().any(|b| b.id == peer) {
            self.bootstrap_failure_reported = true;
            io.event(Event::BootstrapFailed);
        }
        self.arm_join_retry(io);
    }

    /// Fewer active peers than this means the node must rejoin.
    fn rejoin_below(&self) -> usize {
        self.config.active_view_min.max(1)
    }

    fn arm_join_retry(&mut self, io: &mut Io<'_, PI>) {
        if !self.join_retry_armed {
            self.join_retry_armed = true;
            let d = io.jitter(self.join_backoff);
            io.timer(d, TimerKind::JoinRetry);
            self.join_backoff = (self.join_backoff * 2).min(self.config.join_retry_max);
        }
    }

    /// Rejoin: through the bootstrap peers when isolated, and through one
    /// random known peer. A JOIN is always accepted and its random walks bring
    /// new neighbours, where NEIGHBOR requests to full peers are refused.
    pub(crate) fn on_join_retry(&mut self, io: &mut Io<'_, PI>) {
        self.join_retry_armed = false;
        if self.active.len() >= self.rejoin_below() {
            return;
        }
        if self.active.is_empty() {
            self.send_joins(io);
        }
        let skip = |id: &PI| self.is_active(id) || self.is_pending(id) || self.is_joining(id);
        let now = io.now;
        let contact = self.known.random_alive(io.rng, skip).or_else(|| self.known.random_due(now, io.rng, skip));
        if let Some(contact) = contact.map(|p| p.id) {
            self.send_join(contact, io);
        }
    }

    /// Tell every active peer we are leaving, and forget everything.
    pub(crate) fn leave(&mut self, io: &mut Io<'_, PI>) {
        for p in std::mem::take(&mut self.active) {
            io.send(p.id, Message::Disconnect { alive: false });
            self.neighbor_down(p.id, io);
        }
    }

    // ---- active view management ----

    /// Put `info` into the active view, evicting a random peer if full.
    /// With `notify`, the peer is told with a high-priority NEIGHBOR (it must
    /// accept). `heard`: the peer itself just sent a frame, so it is
    /// announced at once; otherwise at its first frame. Returns false if the
    /// peer was already active or is self.
    fn add_active(&mut self, info: PeerInfo<PI>, notify: bool, heard: bool, io: &mut Io<'_, PI>) -> bool {
        if info.id == self.me || self.is_active(&info.id) {
            return false;
        }
        self.learn(&info, io);
        self.known.mark_alive(&info.id);
        self.passive.retain(|p| p.id != info.id);
        self.pending.retain(|p| p.peer != info.id);
        self.joining.retain(|(p, _)| *p != info.id);
        if self.active.len() >= self.config.active_view_capacity {
            let i = io.rng.gen_range(0..self.active.len());
            let evicted = self.active.swap_remove(i);
            io.send(evicted.id, Message::Disconnect { alive: true });
            self.neighbor_down(evicted.id, io);
            self.add_passive(evicted, io);
        }
        let id = info.id;
        self.active.push(info);
        if notify {
            io.send(id, Message::Neighbor { priority: Priority::High, data: self.my_data.clone() });
        }
        if heard {
            self.announce(id, io);
        } else {
            self.unheard.push(id);
        }
        self.changes.push(NeighborChange::Up(id));
        if self.active.len() >= self.rejoin_below() {
            self.join_backoff = self.config.join_retry_initial;
        }
        true
    }

    /// Remove `peer` from the active view. Returns its entry if it was there.
    fn remove_active(&mut self, peer: &PI, io: &mut Io<'_, PI>) -> Option<PeerInfo<PI>> {
        let i = self.active.iter().position(|p| p.id == *peer)?;
        let info = self.active.swap_remove(i);
        self.neighbor_down(info.id, io);
        Some(info)
    }

    fn add_passive(&mut self, info: PeerInfo<PI>, io: &mut Io<'_, PI>) {
        if info.id == self.me || self.is_active(&info.id) {
            return;
        }
        self.learn(&info, io);
        if let Some(existing) = self.passive.iter_mut().find(|p| p.id == info.id) {
            if info.data.is_some() {
                existing.data = info.data;
            }
            return;
        }
        if self.passive.len() >= self.config.passive_view_capacity {
            let i = io.rng.gen_range(0..self.passive.len());
            self.passive.swap_remove(i);
        }
        self.passive.push(info);
    }

    /// Refill the active view. Below the minimum, send requests to several
    /// candidates at once, falling back to the known-peers cache; otherwise
    /// one low-priority request at a time.
    fn fill_active(&mut self, exclude: Option<PI>, io: &mut Io<'_, PI>) {
        let cap = self.config.active_view_capacity;
        let urgent = self.active.len() < self.config.active_view_min;
        let in_flight = self.active.len() + self.pending.len();
        if in_flight >= cap || (!urgent && !self.pending.is_empty()) {
            return;
        }
        let wanted = if urgent { cap - in_flight } else { 1 };
        let priority = if self.active.is_empty() { Priority::High } else { Priority::Low };
        for _ in 0..wanted {
            let skip = |id: &PI| {
                Some(*id) == exclude
                    || self.is_active(id)
                    || self.is_pending(id)
                    || *id == self.me
                    || self.refused.iter().any(|(p, _)| p == id)
            };
            let candidates: Vec<PI> = self.passive.iter().map(|p| p.id).filter(|id| !skip(id)).collect();
            let choice = candidates.choose(io.rng).copied().or_else(|| {
                if !urgent {
                    return None;
                }
                let now = io.now;
                self.known.random_alive(io.rng, skip).or_else(|| self.known.random_due(now, io.rng, skip)).map(|p| p.id)
            });
            let Some(peer) = choice else { break };
            self.request_neighbor(peer, priority, io);
        }
    }

    fn request_neighbor(&mut self, peer: PI, priority: Priority, io: &mut Io<'_, PI>) {
        io.send(peer, Message::Neighbor { priority, data: self.my_data.clone() });
        self.pending.push(Pending { peer, deadline: io.now + self.config.neighbor_request_timeout, priority });
    }

    /// `peer` cannot be reached (dial failed, request timed out).
    fn peer_unreachable(&mut self, peer: PI, io: &mut Io<'_, PI>) {
        self.passive.retain(|p| p.id != peer);
        self.pending.retain(|p| p.peer != peer);
        let c = &self.config;
        self.known.mark_failed(&peer, io.now, c.probe_backoff_initial, c.probe_backoff_max);
        self.join_attempt_failed(peer, io);
    }

    // ---- inputs ----

    /// The connection to `peer` closed.
    pub(crate) fn on_peer_disconnected(&mut self, peer: PI, io: &mut Io<'_, PI>) {
        let was_active = self.remove_active(&peer, io).is_some();
        let was_pending = self.is_pending(&peer) || self.is_joining(&peer);
        if was_active || was_pending {
            self.peer_unreachable(peer, io);
            self.fill_active(Some(peer), io);
        }
    }

    /// A dial to `peer`, or a send to it, failed.
    pub(crate) fn on_dial_failed(&mut self, peer: PI, io: &mut Io<'_, PI>) {
        self.remove_active(&peer, io);
        self.peer_unreachable(peer, io);
        self.fill_active(Some(peer), io);
    }

    pub(crate) fn on_message(&mut self, from: PI, message: Message<PI>, io: &mut Io<'_, PI>) {
        match message {
            Message::Join { data } => {
                let info = PeerInfo { id: from, data };
                self.learn_from(&info, true, io);
                self.on_join(info, io)
            }
            Message::ForwardJoin { peer, ttl } => self.on_forward_join(from, peer, ttl, io),
            Message::Neighbor { priority, data } => {
                let info = PeerInfo { id: from, data };
                self.learn_from(&info, true, io);
                self.on_neighbor(info, priority, io)
            }
            Message::NeighborReply { accepted } => self.on_neighbor_reply(from, accepted, io),
            Message::Disconnect { alive } => self.on_disconnect(from, alive, io),
            Message::Shuffle { origin, ttl, peers } => self.on_shuffle(from, origin, ttl, peers, io),
            Message::ShuffleReply { mut peers } => {
                self.known.mark_alive(&from);
                peers.truncate(self.shuffle_len());
                self.integrate(peers, io)
            }
            _ => {}
        }
    }

    fn on_join(&mut self, joiner: PeerInfo<PI>, io: &mut Io<'_, PI>) {
        let id = joiner.id;
        self.add_active(joiner.clone(), true, true, io);
        let others: Vec<PI> = self.active().copied().filter(|p| *p != id).collect();
        for &peer in &others {
            io.send(peer, Message::ForwardJoin { peer: joiner.clone(), ttl: self.config.active_random_walk_length });
        }
        // Give the newcomer backups at once: a node that joined moments ago
        // otherwise knows only its contacts, and is cut off if they fail.
        let sample: Vec<PeerInfo<PI>> = self
            .active
            .iter()
            .chain(self.passive.iter())
            .filter(|p| p.id != id)
            .cloned()
            .collect::<Vec<_>>()
            .choose_multiple(io.rng, self.shuffle_len())
            .cloned()
            .collect();
        if !sample.is_empty() {
            io.send(id, Message::ShuffleReply { peers: sample });
        }
    }

    fn on_forward_join(&mut self, from: PI, peer: PeerInfo<PI>, ttl: u8, io: &mut Io<'_, PI>) {
        if peer.id == self.me {
            return;
        }
        if ttl == 0 || self.active.len() <= 1 {
            self.add_active(peer, true, false, io);
            return;
        }
        if ttl == self.config.passive_random_walk_length {
            self.add_passive(peer.clone(), io);
        } else {
            // Every node on the walk learns of the newcomer: free knowledge
            // for rejoining after mass failure.
            self.learn(&peer, io);
        }
        let next: Vec<PI> = self.active().copied().filter(|p| *p != from && *p != peer.id).collect();
        match next.choose(io.rng) {
            Some(&next) => io.send(next, Message::ForwardJoin { peer, ttl: ttl - 1 }),
            None => {
                self.add_active(peer, true, false, io);
            }
        }
    }

    fn on_neighbor(&mut self, peer: PeerInfo<PI>, priority: Priority, io: &mut Io<'_, PI>) {
        let id = peer.id;
        let accept =
            self.is_active(&id) || priority == Priority::High || self.active.len() < self.config.active_view_capacity;
        if accept {
            self.add_active(peer, false, true, io);
        } else {
            self.add_passive(peer, io);
        }
        io.send(id, Message::NeighborReply { accepted: accept });
    }

    fn on_neighbor_reply(&mut self, from: PI, accepted: bool, io: &mut Io<'_, PI>) {
        let request = self.pending.iter().find(|p| p.peer == from).map(|p| p.priority);
        self.pending.retain(|p| p.peer != from);
        self.known.mark_alive(&from);
        if !accepted {
            // Alive but full. If we had already added it (our high-priority
            // NEIGHBOR was refused), drop it so the views stay symmetric.
            let info = self.remove_active(&from, io).unwrap_or_else(|| self.info_of(from));
            self.add_passive(info, io);
            if self.refused.len() >= self.config.passive_view_capacity {
                self.refused.remove(0);
            }
            self.refused.push((from, io.now + self.config.shuffle_interval));
            return;
        }
        if self.is_active(&from) {
            return;
        }
        // A low-priority request answered after the view filled up is
        // declined rather than evicting a neighbour (which may carry the
        // broadcast tree); high-priority ones (isolation, probes) insist.
        let room = self.active.len() < self.config.active_view_capacity;
        if request == Some(Priority::High) || (request == Some(Priority::Low) && room) {
            let info = self.info_of(from);
            self.add_active(info, false, true, io);
        } else {
            // An answer we no longer wait for: keep the views symmetric.
            io.send(from, Message::Disconnect { alive: true });
        }
    }

    /// Apply new parameters to the running views: views above their new
    /// capacity shed random peers at once (active ones are told
    /// DISCONNECT and kept as passive, as when a view is full), a larger
    /// active view fills, timers take the new intervals from their next run.
    pub(crate) fn reconfigure(&mut self, config: HyParViewConfig, io: &mut Io<'_, PI>) {
        self.config = config;
        while self.active.len() > self.config.active_view_capacity {
            let i = io.rng.gen_range(0..self.active.len());
            let evicted = self.active.swap_remove(i);
            io.send(evicted.id, Message::Disconnect { alive: true });
            self.neighbor_down(evicted.id, io);
            self.add_passive(evicted, io);
        }
        while self.passive.len() > self.config.passive_view_capacity {
            let i = io.rng.gen_range(0..self.passive.len());
            self.passive.swap_remove(i);
        }
        let pinned: std::collections::BTreeSet<PI> = self.active.iter().chain(&self.passive).map(|p| p.id).collect();
        self.known.set_capacity(self.config.known_peers_capacity, |p| pinned.contains(p));
        self.join_backoff = self.join_backoff.clamp(self.config.join_retry_initial, self.config.join_retry_max);
        self.fill_active(None, io);
    }

    /// Drop every peer `keep` refuses from the views, the known peers,
    /// the bootstrap list and the requests in flight, telling the active
    /// ones DISCONNECT (for good). The views are not refilled here.
    pub(crate) fn purge(&mut self, keep: impl Fn(&PI) -> bool, io: &mut Io<'_, PI>) {
        self.passive.retain(|p| keep(&p.id));
        let unknown: Vec<PI> = self.known.iter().map(|k| k.info.id).filter(|p| !keep(p)).collect();
        for p in unknown {
            self.known.remove(&p);
        }
        self.pending.retain(|p| keep(&p.peer));
        self.joining.retain(|(p, _)| keep(p));
        self.refused.retain(|(p, _)| keep(p));
        self.bootstrap.retain(|p| keep(&p.id));
        let gone: Vec<PI> = self.active.iter().map(|p| p.id).filter(|p| !keep(p)).collect();
        for p in gone {
            io.send(p, Message::Disconnect { alive: false });
            self.remove_active(&p, io);
        }
    }

    /// Drop `peer` from every view and from the known peers, telling it
    /// DISCONNECT (for good) if it was a neighbour.
    pub(crate) fn forget(&mut self, peer: PI, io: &mut Io<'_, PI>) {
        if self.is_active(&peer) {
            io.send(peer, Message::Disconnect { alive: false });
        }
        self.on_disconnect(peer, false, io);
    }

    fn on_disconnect(&mut self, from: PI, alive: bool, io: &mut Io<'_, PI>) {
        self.pending.retain(|p| p.peer != from);
        let removed = self.remove_active(&from, io);
        if alive {
            if let Some(info) = removed {
                self.add_passive(info, io);
            }
        } else {
            // It left the topic (or refuses us for good): forget it.
            self.passive.retain(|p| p.id != from);
            self.known.remove(&from);
        }
        // A refused JOIN counts as a failed attempt.
        self.join_attempt_failed(from, io);
        self.fill_active(Some(from), io);
    }

    /// Most peers taken from one SHUFFLE or SHUFFLE_REPLY: what we would send.
    fn shuffle_len(&self) -> usize {
        self.config.shuffle_active_count + self.config.shuffle_passive_count + 1
    }

    fn on_shuffle(
        &mut self,
        from: PI,
        origin: PeerInfo<PI>,
        ttl: u8,
        mut peers: Vec<PeerInfo<PI>>,
        io: &mut Io<'_, PI>,
    ) {
        if origin.id == self.me {
            return;
        }
        peers.truncate(self.shuffle_len());
        if origin.id == from {
            self.learn_from(&origin, true, io);
        }
        if ttl > 0 && self.active.len() > 1 {
            let next: Vec<PI> = self.active().copied().filter(|p| *p != from && *p != origin.id).collect();
            if let Some(&next) = next.choose(io.rng) {
                // Nodes a shuffle passes through learn the peers it carries
                // (into the known-peers cache, not the passive view).
                self.learn(&origin, io);
                for p in &peers {
                    self.learn(p, io);
                }
                io.send(next, Message::Shuffle { origin, ttl: ttl - 1, peers });
                return;
            }
        }
        let reply: Vec<PeerInfo<PI>> =
            self.passive.choose_multiple(io.rng, peers.len().max(1)).filter(|p| p.id != origin.id).cloned().collect();
        io.send(origin.id, Message::ShuffleReply { peers: reply });
        let mut all = peers;
        all.push(origin);
        self.integrate(all, io);
    }

    /// Add peers from a shuffle to the passive view.
    fn integrate(&mut self, peers: Vec<PeerInfo<PI>>, io: &mut Io<'_, PI>) {
        for p in peers {
            self.add_passive(p, io);
        }
    }

    pub(crate) fn on_shuffle_timer(&mut self, io: &mut Io<'_, PI>) {
        let d = io.jitter(self.config.shuffle_interval);
        io.timer(d, TimerKind::Shuffle);
        self.escape_island(io);
        let Some(target) = self.active.choose(io.rng).map(|p| p.id) else { return };
        let mut peers: Vec<PeerInfo<PI>> = self
            .active
            .iter()
            .filter(|p| p.id != target)
            .cloned()
            .collect::<Vec<_>>()
            .choose_multiple(io.rng, self.config.shuffle_active_count)
            .cloned()
            .collect();
        peers.extend(self.passive.choose_multiple(io.rng, self.config.shuffle_passive_count).cloned());
        let msg = Message::Shuffle { origin: self.me_info(), ttl: self.config.shuffle_random_walk_length, peers };
        io.send(target, msg);
    }

    /// A node that knows fewer reachable peers beyond its active view than it
    /// could fill a view with may be in a small island, whose shuffles never
    /// leave it and whose one known outsider refuses low-priority requests.
    /// It JOINs through a known outsider: a JOIN is always accepted and its
    /// random walks reach into the wider overlay. Backs off up to
    /// `probe_backoff_max`, so a small swarm settles.
    fn escape_island(&mut self, io: &mut Io<'_, PI>) {
        if self.next_escape.is_some_and(|t| t > io.now) {
            return;
        }
        let outside = self.known.iter().filter(|k| k.failures == 0 && !self.is_active(&k.info.id)).count();
        if outside >= self.config.active_view_capacity {
            self.escape_backoff = self.config.shuffle_interval;
            return;
        }
        let skip = |id: &PI| self.is_active(id) || self.is_joining(id);
        let Some(contact) = self.known.random_alive(io.rng, skip).map(|p| p.id) else { return };
        self.send_join(contact, io);
        self.next_escape = Some(io.now + self.escape_backoff);
        self.escape_backoff = (self.escape_backoff * 2).min(self.config.probe_backoff_max);
    }

    /// Periodic upkeep: time out requests, refill the active view, rejoin
    /// when isolated, probe a failed known peer.
    pub(crate) fn on_maintenance_timer(&mut self, io: &mut Io<'_, PI>) {
        let d = io.jitter(self.config.maintenance_interval);
        io.timer(d, TimerKind::Maintenance);
        let now = io.now;
        let expired: Vec<PI> = self.pending.iter().filter(|p| p.deadline <= now).map(|p| p.peer).collect();
        for peer in expired {
            self.peer_unreachable(peer, io);
        }
        let timeout = self.config.neighbor_request_timeout;
        let stale: Vec<PI> = self
            .joining
            .iter()
            .filter(|(_, at)| now.saturating_duration_since(*at) >= timeout)
            .map(|(p, _)| *p)
            .collect();
        for peer in stale {
            self.join_attempt_failed(peer, io);
        }
        self.refused.retain(|(_, until)| *until > now);
        self.fill_active(None, io);
        if self.active.len() < self.rejoin_below() && self.pending.is_empty() && self.joining.is_empty() {
            self.arm_join_retry(io);
        }
        self.probe(io);
    }

    /// Contact one failed known peer whose backoff has elapsed. If it answers,
    /// it can become a neighbour: this is what re-merges healed partitions.
    fn probe(&mut self, io: &mut Io<'_, PI>) {
        if self.next_probe.is_some_and(|t| t > io.now) {
            return;
        }
        let d = io.jitter(self.config.probe_backoff_initial);
        self.next_probe = Some(io.now + d);
        let skip = |id: &PI| self.is_active(id) || self.is_pending(id) || self.is_passive(id);
        let Some(peer) = self.known.random_due(io.now, io.rng, skip).map(|p| p.id) else { return };
        // A peer that failed once (often a timeout under load) is asked
        // politely: if it is alive but full it refuses, is marked alive, and
        // nothing is evicted. One that failed repeatedly was cut off (a
        // partition): insist, so the healed halves get a link.
        let repeated = self.known.get(&peer).is_some_and(|k| k.failures >= 2);
        let priority = if repeated { Priority::High } else { Priority::Low };
        self.request_neighbor(peer, priority, io);
    }
}
