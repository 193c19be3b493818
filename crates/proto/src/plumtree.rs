//! Plumtree broadcast for one topic (Leitão, Pereira, Rodrigues, SRDS 2007;
//! the 2019 corrected Algorithm 1): payloads are pushed eagerly along a
//! spanning tree of the active view, and announced lazily (IHAVE) on the
//! other links, which repair the tree when a payload fails to arrive.
//!
//! Additions beyond the paper:
//! - a neighbour that comes up is sent IHAVE for the most recent cached
//!   messages, so a broadcast in flight while neighbours die still reaches
//!   every survivor once the overlay repairs itself;
//! - messages are named (origin, session, seq) and deduplicated per
//!   session by ranges of numbers ([`super::dedup`]): exact, in bounded
//!   memory, at any rate;
//! - every message carries its age; messages older than `max_message_age`
//!   are dropped, and announcements of messages published before this node
//!   joined (beyond `catch_up`) are not fetched;
//! - an eager push that a congested link refused becomes an announcement
//!   to the same peer, which fetches it once the link drains;
//! - tree optimisation also triggers when the IHAVE arrives after the
//!   payload.

use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::Rng;

use super::cache::{CachedMessage, MessageCache};
use super::dedup::{RecentIds, SeenWindows, Verdict};
use super::io::Io;
use super::origins::OriginTrees;
use super::FastMap;
use super::{
    wire, Auth, CacheSizes, DeliveredMessage, Event, Gossip, IHaveEntry, Message, MessageId, Offence, Output,
    PeerIdentity, PlumtreeConfig, ProtoError, TimerKind, Validation,
};

/// What one topic's Plumtree instance counted since the topic was joined.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PlumtreeCounters {
    pub published: u64,
    pub delivered: u64,
    pub relayed: u64,
    pub duplicates: u64,
    pub dropped_invalid: u64,
    pub dropped_too_old: u64,
    pub grafts_sent: u64,
    pub rejected: u64,
    pub ignored: u64,
    pub forged: u64,
    pub pending_full: u64,
    pub missing_full: u64,
    pub handoffs_sent: u64,
    pub handoffs_taken: u64,
}

/// A new message waiting for the driver's verdict.
#[derive(Debug)]
struct Pending<PI> {
    gossip: Gossip<PI>,
    from: PI,
    since: Instant,
    published: Instant,
    /// Its announcements, if it was announced before it arrived.
    missing: Option<Missing<PI>>,
    /// `from` handed it to this node to publish (proxy passing).
    handoff: bool,
}

/// A message handed to a neighbour to publish (proxy passing), until the
/// overlay shows it.
#[derive(Debug)]
struct Handoff<PI> {
    nonce: u64,
    payload: Bytes,
    limit: u16,
    /// When it was published: its age counts from here.
    published: Instant,
    /// Who handed it to this node (`None`: this node wrote it).
    from: Option<PI>,
    /// The neighbour holding it now.
    to: PI,
    /// Neighbours it went to, `to` included.
    tried: Vec<PI>,
    /// When to give up on `to` (pushed back when the message is announced
    /// here: it is in the overlay, and its copy is being fetched).
    deadline: Instant,
}

/// Announcements of a message not received yet.
#[derive(Debug)]
struct Missing<PI> {
    /// (announcer, hops it would be delivered at), in arrival order.
    announcers: Vec<(PI, u16)>,
    /// Peers we sent a GRAFT for this message.
    grafted: Vec<PI>,
    /// When the first announcement arrived.
    announced_at: Instant,
    /// When to graft it (from the next announcer), if scheduled; mirrored in
    /// [`Plumtree::graft_deadlines`].
    graft_at: Option<Instant>,
    /// The neighbour whose announcement made us track it.
    first: PI,
}

/// What a neighbour's link has recently carried.
#[derive(Debug, Clone, Copy)]
struct LinkRecord<PI> {
    peer: PI,
    /// The link carries the tree: a first copy arrived over it, or a second
    /// eager push went out over it without the peer pruning the first (which
    /// it would have done at once had the first been a duplicate there).
    carried: bool,
    /// Eager pushes sent over it since it became eager.
    pushes: u8,
    /// Duplicates received over it since its last first copy.
    duplicate_streak: u8,
    /// When this node last sent the peer a PRUNE.
    pruned_at: Option<Instant>,
}

#[derive(Debug)]
pub(crate) struct Plumtree<PI> {
    config: PlumtreeConfig,
    counters: PlumtreeCounters,
    /// The origin this node's messages name (its own id, or an alias in an
    /// unsigned topic), its session in the topic and its next number.
    me: PI,
    session: u64,
    next_seq: u64,
    /// When this node joined: announcements of older messages are not fetched.
    joined_at: Instant,
    eager: Vec<PI>,
    lazy: Vec<PI>,
    /// Active neighbours this node does not tell (outside `tell`): heard
    /// from, grafted from, never pushed, announced or answered.
    muted: Vec<PI>,
    links: Vec<LinkRecord<PI>>,
    /// Trees of their own for the origins that keep publishing.
    origins: OriginTrees<PI>,
    windows: SeenWindows<PI>,
    recent: RecentIds,
    cache: MessageCache<PI>,
    missing: FastMap<MessageId, Missing<PI>>,
    /// Per neighbour, the missing messages it announced first: how many,
    /// and their ids in order (some perhaps no longer missing), so that a
    /// neighbour announcing more than its share cannot fill the set.
    missing_by: FastMap<PI, (usize, VecDeque<MessageId>)>,
    /// When each missing message is due to be grafted, earliest first. One
    /// `Graft` timer per topic fires at the earliest; this set says for what.
    graft_deadlines: BTreeSet<(Instant, MessageId)>,
    /// The deadline the topic's `Graft` timer is armed for.
    graft_timer_at: Option<Instant>,
    /// IHAVE entries waiting for the next flush, per peer (in first-queued order).
    ihave_queue: Vec<(PI, Vec<IHaveEntry>)>,
    flush_armed: bool,
    max_ihave_entries: usize,
    /// Recent delays between an announcement and the eager copy (a ring of
    /// the last `LAG_SAMPLES`), and the next slot to overwrite.
    eager_lags: Vec<Duration>,
    next_lag: usize,
    /// The last 64 copies received on the shared tree from eager peers
    /// (first copies, and duplicates not held for a verdict), newest in the
    /// low bit: 1 for a duplicate. While many are ([`REDUNDANT_COPIES`]),
    /// the eager links form cycles and are pruned at the first duplicate;
    /// otherwise a link carrying the tree needs `duplicates_before_prune`
    /// in a row.
    copies: u64,
    /// Messages are signed ([`crate::ProtocolConfig::signed`]), and held for
    /// the driver's verdict ([`crate::ProtocolConfig::holds_messages`]).
    signed: bool,
    holds: bool,
    pending: FastMap<MessageId, Pending<PI>>,
    /// Messages handed to proxies, not yet seen in the overlay: at most
    /// `max_pending`.
    handoffs: FastMap<MessageId, Handoff<PI>>,
    /// The deadline the topic's `Proxy` timer is armed for.
    proxy_timer_at: Option<Instant>,
}

/// On an origin's own tree, a neighbour that announces the origin's message
/// at least this many hops closer than the parent delivered it becomes the
/// parent.
const ORIGIN_SWAP_HOPS: u16 = 2;

/// The chance that a node passing proxies hands a message on rather than
/// publishing it itself.
const PROXY_CHANCE: f64 = 0.5;

/// Refuse a payload whose GOSSIP frame, framing included, would exceed
/// `max_message_size`, when published (signed or not) by an origin whose
/// peer id encodes to `origin_len` bytes.
pub fn check_gossip_size(
    payload_len: usize,
    origin_len: usize,
    signed: bool,
    max_message_size: usize,
) -> Result<(), ProtoError> {
    let size = wire::gossip_frame_len(payload_len, origin_len, signed);
    if size > max_message_size {
        return Err(ProtoError::MessageTooLarge { size, max: max_message_size });
    }
    Ok(())
}

/// A node's eager links are redundant (they form cycles, as in a fresh
/// overlay, where every link starts eager, or after many repairs) while this
/// many of the last 64 copies it received on the shared tree from eager
/// neighbours were duplicates, the one in hand included: they are pruned at
/// the first duplicate. (Simulated at 10,000 nodes, 8 or 12 cut the tree
/// apart after mass failures, 24 pruned later; a second test, 4 of the last
/// 8, let random senders cut the tree apart: README, "Trees".)
const REDUNDANT_COPIES: u32 = 16;

/// How many announcement-to-eager-copy delays the graft wait is learned from.
const LAG_SAMPLES: usize = 64;

/// Announcements of messages published up to this long before the join are
/// still fetched: a message's age does not count the link delays along its
/// path, so a message published just after the join may look a little older.
const JOIN_SLACK: Duration = Duration::from_secs(1);

/// The cache entry of message `g`, published at `published`.
fn cache_entry<PI>(
    g: Gossip<PI>,
    published: Instant,
    parent: Option<PI>,
    grafted_after: Option<Instant>,
    own_tree: bool,
) -> CachedMessage<PI> {
    CachedMessage {
        origin: g.origin,
        session: g.session,
        seq: g.seq,
        payload: g.payload,
        auth: g.auth,
        hops: g.hops,
        limit: g.limit,
        published,
        parent,
        grafted_after,
        own_tree,
    }
}

fn age_ms(now: Instant, origin: Instant) -> u32 {
    now.saturating_duration_since(origin).as_millis().min(u32::MAX as u128) as u32
}

impl<PI: PeerIdentity> Plumtree<PI> {
    /// A node `me` that joined at `now` with `session`. `windows`: the
    /// deduplication record kept from an earlier join of the same topic, so
    /// nothing delivered then is delivered again.
    pub(crate) fn new(
        me: PI,
        session: u64,
        now: Instant,
        config: PlumtreeConfig,
        (signed, holds): (bool, bool),
        windows: Option<SeenWindows<PI>>,
    ) -> Self {
        // A signed message's age is known up to the clock skew, which thus
        // counts as link delay.
        let link_delay = config.max_link_delay + if signed { config.max_clock_skew } else { Duration::ZERO };
        Plumtree {
            windows: windows.unwrap_or_else(|| {
                SeenWindows::new(
                    config.max_sessions,
                    config.max_gaps_per_session,
                    config.max_message_age,
                    link_delay,
                    config.seen_ttl,
                    config.recent_ids_capacity,
                )
            }),
            signed,
            holds,
            pending: FastMap::default(),
            handoffs: FastMap::default(),
            proxy_timer_at: None,
            recent: RecentIds::new(config.seen_ttl, config.recent_ids_capacity),
            me,
            session,
            next_seq: 1,
            joined_at: now,
            cache: MessageCache::new(
                config.message_cache_ttl,
                config.message_cache_capacity,
                config.message_cache_max_bytes,
            ),
            max_ihave_entries: wire::max_ihave_entries(config.max_message_size),
            origins: OriginTrees::new(config.origin_trees),
            config,
            counters: PlumtreeCounters::default(),
            eager: Vec::new(),
            lazy: Vec::new(),
            muted: Vec::new(),
            links: Vec::new(),
            missing: FastMap::default(),
            missing_by: FastMap::default(),
            graft_deadlines: BTreeSet::new(),
            graft_timer_at: None,
            ihave_queue: Vec::new(),
            flush_armed: false,
            eager_lags: Vec::with_capacity(LAG_SAMPLES),
            copies: 0,
            next_lag: 0,
        }
    }

    pub(crate) fn counters(&self) -> PlumtreeCounters {
        self.counters
    }

    pub(crate) fn max_message_size(&self) -> usize {
        self.config.max_message_size
    }

    pub(crate) fn eager(&self) -> &[PI] {
        &self.eager
    }

    pub(crate) fn lazy(&self) -> &[PI] {
        &self.lazy
    }

    pub(crate) fn origin_tree(&self, origin: &PI) -> Option<&[PI]> {
        self.origins.eager(origin)
    }

    /// How full the bounded structures are.
    pub(crate) fn sizes(&self) -> CacheSizes {
        let (w, c) = (&self.windows, &self.cache);
        CacheSizes {
            sessions: w.len(),
            ranges: w.ranges(),
            anonymous: w.anonymous(),
            recent_ids: self.recent.len(),
            cached_messages: c.len(),
            missing: self.missing.len(),
            known_peers: 0,
            pending: self.pending.len(),
            handoffs: self.handoffs.len(),
            origin_trees: self.origins.len(),
        }
    }

    /// Whether `p` is a neighbour this node sends data to (eager or lazy).
    fn is_neighbor(&self, p: &PI) -> bool {
        self.eager.contains(p) || self.lazy.contains(p)
    }

    /// Active neighbours this node does not tell.
    pub(crate) fn muted(&self) -> &[PI] {
        &self.muted
    }

    fn make_eager(&mut self, p: PI) {
        if !self.is_neighbor(&p) {
            return;
        }
        self.lazy.retain(|x| *x != p);
        if !self.eager.contains(&p) {
            self.eager.push(p);
        }
    }

    fn make_lazy(&mut self, p: PI) {
        if !self.is_neighbor(&p) {
            return;
        }
        if let Some(l) = self.links.iter_mut().find(|l| l.peer == p) {
            *l = LinkRecord { peer: p, carried: false, pushes: 0, duplicate_streak: 0, pruned_at: l.pruned_at };
        }
        self.eager.retain(|x| *x != p);
        if !self.lazy.contains(&p) {
            self.lazy.push(p);
        }
    }

    /// Make the link to `p` lazy and tell `p` to stop pushing (PRUNE).
    fn prune_link(&mut self, p: PI, io: &mut Io<'_, PI>) {
        self.make_lazy(p);
        if let Some(l) = self.links.iter_mut().find(|l| l.peer == p) {
            l.pruned_at = Some(io.now);
        }
        io.send(p, Message::Prune);
    }

    /// A first copy arrived from the lazy peer `p`. If this node pruned `p`
    /// within the graft wait (a round trip, as far as this node knows),
    /// the push crossed our PRUNE: the link stays lazy (in a burst of first
    /// broadcasts, re-making it eager at every first copy kept links
    /// flapping between eager and lazy). Otherwise `p` holds the link eager
    /// (a PRUNE or GRAFT was lost, or it saw the link come up again), and
    /// this node makes it eager too.
    fn on_lazy_first_copy(&mut self, p: PI, now: Instant) {
        let wait = self.graft_wait();
        let pruned_at = self.links.iter().find(|l| l.peer == p).and_then(|l| l.pruned_at);
        if pruned_at.is_none_or(|at| now.saturating_duration_since(at) >= wait) {
            self.make_eager(p);
        }
    }

    /// A duplicate arrived from `from`: should the link become lazy?
    /// A lazy link is pruned at once (after a PRUNE/GOSSIP race the sender
    /// may still push to us eagerly); an eager link that has carried first
    /// copies only after `duplicates_before_prune` duplicates in a row, or
    /// at once while this node's eager links are redundant.
    fn should_prune(&mut self, from: PI) -> bool {
        if !self.eager.contains(&from) {
            return self.lazy.contains(&from) || self.muted.contains(&from);
        }
        let threshold = self.config.duplicates_before_prune;
        let Some(l) = self.links.iter_mut().find(|l| l.peer == from) else { return true };
        l.duplicate_streak = l.duplicate_streak.saturating_add(1);
        let redundant = self.copies.count_ones() >= REDUNDANT_COPIES;
        if !l.carried || l.duplicate_streak >= threshold || redundant {
            return true;
        }
        false
    }

    /// Record one observed delay between an announcement and the eager copy.
    fn learn_lag(&mut self, sample: Duration) {
        let sample = sample.min(self.config.graft_timeout_max);
        if self.eager_lags.len() < LAG_SAMPLES {
            self.eager_lags.push(sample);
        } else {
            self.eager_lags[self.next_lag] = sample;
        }
        self.next_lag = (self.next_lag + 1) % LAG_SAMPLES;
    }

    /// How long to wait for an announced message before grafting it: a
    /// quarter more than the longest recent lag of an eager copy behind its
    /// announcement. Lags depend on where a message was published, so the
    /// longest, not the typical, lag keeps grafts from firing early.
    fn graft_wait(&self) -> Duration {
        let longest = self.eager_lags.iter().max().copied().unwrap_or_default();
        (longest * 5 / 4).clamp(self.config.graft_timeout_1, self.config.graft_timeout_max)
    }

    /// Refuse a broadcast whose frame would exceed `max_message_size`.
    pub(crate) fn check_size(&self, payload_len: usize) -> Result<(), ProtoError> {
        check_gossip_size(payload_len, wire::encoded_len(&self.me), self.signed, self.config.max_message_size)
    }

    /// Publish a new message from this node, to travel at most `limit` hops
    /// (0: as far as the topic allows; a larger limit acts as the topic's).
    pub(crate) fn broadcast(
        &mut self,
        payload: Bytes,
        limit: u16,
        io: &mut Io<'_, PI>,
    ) -> Result<MessageId, ProtoError> {
        self.check_size(payload.len())?;
        let limit = if limit >= self.config.max_hops { 0 } else { limit };
        if self.config.proxy && !self.signed {
            // Recorded as seen at once, like any message this node
            // publishes: it is never delivered here, even after a rejoin.
            let nonce = io.rng.next_u64();
            self.windows.insert(self.me, nonce, 0, io.now, io.rng);
            self.counters.published += 1;
            self.pass_on(nonce, payload, limit, io.now, None, io);
            return Ok(MessageId::anonymous(nonce));
        }
        let seq = self.next_seq;
        let auth = match (self.signed, io.signer) {
            (false, _) => None,
            (true, None) => return Err(ProtoError::NoSigner(io.topic)),
            (true, Some(sign)) => {
                let time_ms = io.wall_ms;
                let bytes = wire::signed_bytes(&io.topic, &self.me, self.session, seq, limit, time_ms, &payload);
                Some(Auth { time_ms, signature: sign(&bytes) })
            }
        };
        self.next_seq += 1;
        let own_tree = self.origins.route(self.me, self.eager.iter().copied());
        let cached = CachedMessage {
            origin: self.me,
            session: self.session,
            seq,
            payload,
            auth,
            hops: 0,
            limit,
            published: io.now,
            parent: None,
            grafted_after: None,
            own_tree,
        };
        let id = MessageId::derive(&self.me, self.session, seq);
        self.originate(id, cached, None, io);
        self.counters.published += 1;
        Ok(id)
    }

    /// Put a message into the overlay from this node (at hop 0): record it
    /// as seen, deliver it here if it came from `deliver_from` (a proxy's
    /// hand-off), push and announce it.
    fn originate(&mut self, id: MessageId, cached: CachedMessage<PI>, deliver_from: Option<PI>, io: &mut Io<'_, PI>) {
        self.windows.insert(cached.origin, cached.session, cached.seq, io.now, io.rng);
        self.recent.insert(id, io.now);
        if let Some(from) = deliver_from {
            io.event(Event::Delivered(DeliveredMessage {
                id,
                payload: cached.payload.clone(),
                hops: 0,
                from,
                origin: None,
            }));
            self.counters.delivered += 1;
        }
        self.push(id, &cached, None, &[], io);
        self.cache.insert(id, cached, io.now);
    }

    // ---- Proxy passing ----

    /// An anonymous message to publish, written here (`from` = `None`) or
    /// handed over by `from`: hand it to a random neighbour with even
    /// chance if this node passes proxies, else publish it.
    fn pass_on(
        &mut self,
        nonce: u64,
        payload: Bytes,
        limit: u16,
        published: Instant,
        from: Option<PI>,
        io: &mut Io<'_, PI>,
    ) {
        let now = io.now;
        let h = Handoff { nonce, payload, limit, published, from, to: self.me, tried: Vec::new(), deadline: now };
        let pass = self.config.proxy && self.handoffs.len() < self.config.max_pending && io.rng.gen_bool(PROXY_CHANCE);
        let h = if pass { self.hand_to_next(h, io) } else { Some(h) };
        if let Some(h) = h {
            self.publish_anonymous(h, io);
        }
    }

    /// Hand `h` to a neighbour not tried yet, if proxy passing is still on
    /// and attempts and neighbours are left; else give it back, for this
    /// node to publish (`None`: handed on, or too old to publish at all).
    fn hand_to_next(&mut self, mut h: Handoff<PI>, io: &mut Io<'_, PI>) -> Option<Handoff<PI>> {
        let now = io.now;
        if now.saturating_duration_since(h.published) > self.config.max_message_age {
            // Too old for anyone to accept now: publishing it would not
            // help either.
            self.counters.dropped_too_old += 1;
            return None;
        }
        let candidates: Vec<PI> = self
            .eager
            .iter()
            .chain(&self.lazy)
            .copied()
            .filter(|p| !h.tried.contains(p) && Some(*p) != h.from)
            .collect();
        if !self.config.proxy || h.tried.len() >= crate::PROXY_ATTEMPTS || candidates.is_empty() {
            return Some(h);
        }
        let to = candidates[io.rng.gen_range(0..candidates.len())];
        io.send(
            to,
            Message::Proxy {
                nonce: h.nonce,
                limit: h.limit,
                age_ms: age_ms(now, h.published),
                payload: h.payload.clone(),
            },
        );
        self.counters.handoffs_sent += 1;
        h.to = to;
        h.tried.push(to);
        h.deadline = now + self.config.proxy_timeout;
        self.arm_proxy_timer(h.deadline, io);
        self.handoffs.insert(MessageId::anonymous(h.nonce), h);
        None
    }

    /// Make sure the topic's `Proxy` timer fires by `deadline`.
    fn arm_proxy_timer(&mut self, deadline: Instant, io: &mut Io<'_, PI>) {
        if self.proxy_timer_at.is_none_or(|armed| deadline < armed) {
            self.proxy_timer_at = Some(deadline);
            io.timer(deadline.saturating_duration_since(io.now), TimerKind::Proxy);
        }
    }

    /// Publish an anonymous message under this node's name. One handed over
    /// by a neighbour (and, where messages are held, accepted already) is
    /// delivered here too, unless it was delivered meanwhile.
    fn publish_anonymous(&mut self, h: Handoff<PI>, io: &mut Io<'_, PI>) {
        let id = MessageId::anonymous(h.nonce);
        if h.from.is_some() {
            match self.windows.check(self.me, h.nonce, 0, h.published) {
                Verdict::New => {}
                // Here already, so in the overlay: nothing is lost.
                Verdict::Duplicate => return,
                // Not publishable any more; the neighbour that handed it
                // over hands it to another when it does not show up.
                Verdict::TooOld => {
                    self.counters.dropped_too_old += 1;
                    return;
                }
            }
        }
        let cached = CachedMessage {
            origin: self.me,
            session: h.nonce,
            seq: 0,
            payload: h.payload,
            auth: None,
            hops: 0,
            limit: h.limit,
            published: h.published,
            parent: None,
            grafted_after: None,
            own_tree: false,
        };
        self.originate(id, cached, h.from, io);
    }

    /// `from` hands this node a message to publish (proxy passing).
    pub(crate) fn on_proxy(
        &mut self,
        from: PI,
        nonce: u64,
        limit: u16,
        age_ms: u32,
        payload: Bytes,
        io: &mut Io<'_, PI>,
    ) {
        let age = Duration::from_millis(age_ms.into());
        // A signed topic cannot publish anonymously; a payload too large to
        // publish under this node's name, or too old, is refused (the
        // sender hands it to another neighbour).
        if self.signed || age > self.config.max_message_age || self.check_size(payload.len()).is_err() {
            self.counters.dropped_invalid += 1;
            return;
        }
        let id = MessageId::anonymous(nonce);
        let published = io.now.checked_sub(age).unwrap_or(io.now);
        let seen = self.recent.contains(&id) || self.windows.check(self.me, nonce, 0, published) != Verdict::New;
        if seen || self.pending.contains_key(&id) || self.handoffs.contains_key(&id) {
            // Published already (a hand-off retried after a slow proxy), or
            // on its way.
            self.counters.duplicates += 1;
            return;
        }
        self.counters.handoffs_taken += 1;
        if self.holds {
            // Judged before it goes anywhere, so an honest proxy never passes
            // on what its validator rejects.
            if self.pending.len() >= self.config.max_pending {
                // Not taken: the neighbour hands it to another proxy when it
                // does not show up.
                self.counters.pending_full += 1;
                return;
            }
            let g = Gossip { id, origin: self.me, session: nonce, seq: 0, hops: 0, limit, age_ms, payload, auth: None };
            io.out.push(Output::Validate { topic: io.topic, from, message: g.clone() });
            let pending = Pending { gossip: g, from, since: io.now, published, missing: None, handoff: true };
            self.pending.insert(id, pending);
            return;
        }
        self.pass_on(nonce, payload, limit, published, Some(from), io);
    }

    /// The topic's `Proxy` timer fired: hand every message whose proxy did
    /// not show it in time to another neighbour, then re-arm.
    pub(crate) fn on_proxy_timer(&mut self, io: &mut Io<'_, PI>) {
        self.proxy_timer_at = None;
        let now = io.now;
        let due: Vec<MessageId> = self.handoffs.iter().filter(|(_, h)| h.deadline <= now).map(|(id, _)| *id).collect();
        for id in due {
            self.retry_handoff(id, io);
        }
        if let Some(at) = self.handoffs.values().map(|h| h.deadline).min() {
            self.arm_proxy_timer(at, io);
        }
    }

    /// Hand message `id` to the next neighbour, or publish it here.
    fn retry_handoff(&mut self, id: MessageId, io: &mut Io<'_, PI>) {
        let Some(h) = self.handoffs.remove(&id) else { return };
        if let Some(h) = self.hand_to_next(h, io) {
            self.publish_anonymous(h, io);
        }
    }

    /// A hand-off to `peer` could not be sent: try the next neighbour now.
    pub(crate) fn on_handoff_refused(&mut self, peer: PI, nonce: u64, io: &mut Io<'_, PI>) {
        let id = MessageId::anonymous(nonce);
        if self.handoffs.get(&id).is_some_and(|h| h.to == peer) {
            self.counters.handoffs_sent = self.counters.handoffs_sent.saturating_sub(1);
            self.retry_handoff(id, io);
        }
    }

    /// The copy of cached message `id` to send one hop further.
    fn copy_of(id: MessageId, m: &CachedMessage<PI>, now: Instant) -> Gossip<PI> {
        Gossip {
            id,
            origin: m.origin,
            session: m.session,
            seq: m.seq,
            hops: m.hops + 1,
            limit: m.limit,
            age_ms: age_ms(now, m.published),
            payload: m.payload.clone(),
            auth: m.auth.clone(),
        }
    }

    /// The most hops a cached message may travel: the topic's limit, or the
    /// origin's if that is smaller.
    fn hop_limit(&self, m: &CachedMessage<PI>) -> u16 {
        match m.limit {
            0 => self.config.max_hops,
            limit => limit.min(self.config.max_hops),
        }
    }

    /// Relay a message received (or published) here: eager push to the tree,
    /// lazy announcement to the rest but `skip` and the peers in `has`
    /// (which announced it here: they hold it).
    fn push(&mut self, id: MessageId, m: &CachedMessage<PI>, skip: Option<PI>, has: &[PI], io: &mut Io<'_, PI>) {
        if m.hops >= self.hop_limit(m) {
            return;
        }
        let hops = m.hops + 1;
        let age = age_ms(io.now, m.published);
        let own = if m.own_tree { self.origins.eager(&m.origin) } else { None };
        if let Some(own) = own {
            // The origin's own tree: pushed to its eager neighbours,
            // announced to every other neighbour this node tells.
            let lazy: Vec<PI> = self.eager.iter().chain(&self.lazy).filter(|p| !own.contains(p)).copied().collect();
            for &p in own {
                if Some(p) != skip {
                    io.send(p, Message::Gossip(Self::copy_of(id, m, io.now)));
                    self.counters.relayed += 1;
                }
            }
            for p in lazy.into_iter().filter(|p| Some(*p) != skip && !has.contains(p)) {
                self.queue_ihave(p, IHaveEntry { id, hops, age_ms: age }, io);
            }
            return;
        }
        let flood = m.hops < self.config.eager_hops;
        for &p in self.eager.iter().chain(if flood { &self.lazy[..] } else { &[] }) {
            if Some(p) != skip {
                io.send(p, Message::Gossip(Self::copy_of(id, m, io.now)));
                self.counters.relayed += 1;
                if let Some(l) = self.links.iter_mut().find(|l| l.peer == p) {
                    l.pushes = l.pushes.saturating_add(1);
                    l.carried |= l.pushes >= 2;
                }
            }
        }
        let lazy: Vec<PI> = match flood {
            true => Vec::new(),
            false => self.lazy.iter().copied().filter(|p| Some(*p) != skip && !has.contains(p)).collect(),
        };
        for p in lazy {
            self.queue_ihave(p, IHaveEntry { id, hops, age_ms: age }, io);
        }
    }

    /// A payload copy for `peer` could not be sent (its link is congested,
    /// or the stream carrying it failed): announce the message to it
    /// instead, so it fetches the payload once the link drains.
    pub(crate) fn on_push_refused(&mut self, peer: PI, g: &Gossip<PI>, io: &mut Io<'_, PI>) {
        if self.counters.relayed > 0 {
            self.counters.relayed -= 1;
        }
        if self.is_neighbor(&peer) {
            self.queue_ihave(peer, IHaveEntry { id: g.id, hops: g.hops, age_ms: g.age_ms }, io);
        }
    }

    fn queue_ihave(&mut self, peer: PI, entry: IHaveEntry, io: &mut Io<'_, PI>) {
        match self.ihave_queue.iter_mut().find(|(p, _)| *p == peer) {
            Some((_, entries)) => entries.push(entry),
            None => self.ihave_queue.push((peer, vec![entry])),
        }
        if !self.flush_armed {
            self.flush_armed = true;
            io.timer(self.config.ihave_interval, TimerKind::IHaveFlush);
        }
    }

    pub(crate) fn on_ihave_flush(&mut self, io: &mut Io<'_, PI>) {
        self.flush_armed = false;
        for (peer, entries) in std::mem::take(&mut self.ihave_queue) {
            if !self.is_neighbor(&peer) {
                continue;
            }
            for chunk in entries.chunks(self.max_ihave_entries) {
                io.send(peer, Message::IHave(chunk.to_vec()));
            }
        }
    }

    /// How old `g` is, or `None` if it must be refused outright (an age past
    /// the maximum, a bad hop count, a signature missing where required, or
    /// a time in the future). In a signed topic the signed time bounds the
    /// age from below, so a relay cannot make an old message look fresh.
    fn age_of(&mut self, from: PI, g: &Gossip<PI>, io: &mut Io<'_, PI>) -> Option<Duration> {
        let mut age = Duration::from_millis(g.age_ms as u64);
        if self.signed {
            let Some(auth) = &g.auth else {
                self.counters.forged += 1;
                io.offence(from, Offence::BadSignature);
                return None;
            };
            let skew = self.config.max_clock_skew.as_millis() as u64;
            if auth.time_ms > io.wall_ms.saturating_add(skew) {
                self.counters.dropped_invalid += 1;
                return None;
            }
            let since = io.wall_ms.saturating_sub(auth.time_ms).saturating_sub(skew);
            age = age.max(Duration::from_millis(since));
        }
        let past_limit = g.hops > self.config.max_hops || (g.limit != 0 && g.hops > g.limit);
        // Number 0 (anonymous) only in unsigned topics: nobody signs it.
        let bad_seq = g.seq == 0 && self.signed;
        if age > self.config.max_message_age || g.hops == 0 || past_limit || bad_seq {
            self.counters.dropped_invalid += 1;
            return None;
        }
        Some(age)
    }

    pub(crate) fn on_gossip(&mut self, from: PI, g: Gossip<PI>, io: &mut Io<'_, PI>) {
        let now = io.now;
        let Some(age) = self.age_of(from, &g, io) else {
            self.forget_missing(&g.id);
            return;
        };
        if self.pending.contains_key(&g.id) {
            // Another copy of a message being validated.
            self.counters.duplicates += 1;
            return;
        }
        let published = now.checked_sub(age).unwrap_or(now);
        // A message this node handed to a proxy is in the overlay: the
        // hand-off is done. One this node wrote is not delivered here, and
        // needs no verdict; from here on this node relays it like any other.
        if let Some(h) = self.handoffs.remove(&g.id) {
            if h.from.is_none() {
                let missing = self.forget_missing(&g.id);
                self.accept(from, g, published, missing, false, io);
                return;
            }
        }
        let verdict = match self.recent.contains(&g.id) {
            true => Verdict::Duplicate,
            false => self.windows.check(g.origin, g.session, g.seq, published),
        };
        if verdict == Verdict::Duplicate {
            self.counters.duplicates += 1;
            if self.cache.get(&g.id).is_some_and(|m| m.own_tree) {
                self.on_origin_tree_duplicate(from, &g, now, io);
                return;
            }
            if g.hops <= self.config.eager_hops {
                // A copy of the flood near the origin: expected, not a cycle.
                return;
            }
            if self.eager.contains(&from) {
                // Only an eager link's duplicate says the eager links form
                // cycles (a lazy peer's is a PRUNE that crossed its push, or
                // a replay that must not make this node prune its tree).
                self.copies = self.copies << 1 | 1;
            }
            // A copy down the tree after our graft was answered. Usually the
            // graft only raced a slow tree path: learn the lag, keep the tree
            // link, and drop the grafted one, so spurious grafts neither leave
            // cycles nor rewire the tree. (The old parent tolerates the one
            // duplicate we relayed it, by the duplicate-streak rule.) But a
            // tree copy later than the longest graft wait comes from a parent
            // too slow to keep (a congested or throttled link): keep the
            // grafted link instead, and prune the slow one, so a slow node
            // does not hold its subtree back.
            let after_graft = self.cache.get_mut(&g.id).and_then(|m| m.grafted_after.take().map(|at| (at, m.parent)));
            if let Some((at, grafted)) = after_graft {
                let lag = now.saturating_duration_since(at);
                if let Some(grafted) = grafted.filter(|p| *p != from && self.eager.contains(&from)) {
                    let slow = if lag > self.config.graft_timeout_max { from } else { grafted };
                    if slow == grafted {
                        self.learn_lag(lag);
                    }
                    self.prune_link(slow, io);
                    return;
                }
                self.learn_lag(lag);
            }
            if self.should_prune(from) {
                self.prune_link(from, io);
                if g.seq != 0 && self.config.origin_trees > 0 {
                    // The sender may have pushed it on the origin's own tree
                    // (where this node has no tree for it: the record was
                    // forgotten, or the message left the cache).
                    io.send(from, Message::PruneOrigin { origin: g.origin });
                }
            }
            return;
        }
        if verdict == Verdict::TooOld {
            self.counters.dropped_too_old += 1;
            self.forget_missing(&g.id);
            return;
        }
        if self.holds {
            if self.pending.len() >= self.config.max_pending {
                // Not taken, not remembered: another neighbour's announcement
                // can still bring it once the backlog clears.
                self.counters.pending_full += 1;
                return;
            }
            let missing = self.forget_missing(&g.id);
            io.out.push(Output::Validate { topic: io.topic, from, message: g.clone() });
            self.pending.insert(g.id, Pending { gossip: g, from, since: now, published, missing, handoff: false });
            return;
        }
        let missing = self.forget_missing(&g.id);
        self.accept(from, g, published, missing, true, io);
    }

    /// The driver's verdict on a held message.
    pub(crate) fn on_validated(&mut self, id: MessageId, verdict: Validation, io: &mut Io<'_, PI>) {
        let Some(p) = self.pending.remove(&id) else { return };
        let g = &p.gossip;
        match verdict {
            Validation::Accept => {
                // Nothing else could deliver it meanwhile (copies of a held
                // message are duplicates), but the record may have moved on.
                match self.windows.check(g.origin, g.session, g.seq, p.published) {
                    Verdict::New if p.handoff => {
                        let g = p.gossip;
                        self.pass_on(g.session, g.payload, g.limit, p.published, Some(p.from), io);
                    }
                    Verdict::New => self.accept(p.from, p.gossip, p.published, p.missing, true, io),
                    Verdict::Duplicate => self.counters.duplicates += 1,
                    Verdict::TooOld => self.counters.dropped_too_old += 1,
                }
            }
            Validation::Ignore | Validation::Reject => {
                self.windows.insert(g.origin, g.session, g.seq, io.now, io.rng);
                self.recent.insert(id, io.now);
                if verdict == Validation::Reject {
                    self.counters.rejected += 1;
                    io.offence(p.from, Offence::Rejected);
                } else {
                    self.counters.ignored += 1;
                }
            }
            Validation::Forged => {
                self.counters.forged += 1;
                io.offence(p.from, Offence::BadSignature);
            }
        }
    }

    /// A duplicate of a message that took its origin's own tree here: one of
    /// the two senders is told to stop pushing that origin's messages here
    /// (PRUNE_ORIGIN). Fewer hops win (as in the swaps of `optimize`, so the
    /// two rules never undo each other): the one whose copy had more hops,
    /// the later one on a tie. But a copy that trails the answer to our
    /// graft by more than the longest graft wait comes from a parent too
    /// slow to keep, whatever its hops; within that, the lag teaches the
    /// graft wait. An origin's tree has a direction: this node keeps pushing
    /// to the peer it prunes when that peer's own copy came a longer way.
    fn on_origin_tree_duplicate(&mut self, from: PI, g: &Gossip<PI>, now: Instant, io: &mut Io<'_, PI>) {
        let Some(m) = self.cache.get_mut(&g.id) else { return };
        let (origin, parent, first_hops) = (m.origin, m.parent, m.hops);
        let lag = m.grafted_after.take().map(|at| now.saturating_duration_since(at));
        let too_slow = lag.is_some_and(|lag| lag > self.config.graft_timeout_max);
        let drop = match parent {
            Some(parent) if parent != from && !too_slow && g.hops < first_hops => {
                // The new copy came the shorter way: it is the parent now.
                m.parent = Some(from);
                m.hops = g.hops;
                if self.is_neighbor(&from) {
                    self.origins.make_eager(&origin, from);
                }
                parent
            }
            _ => from,
        };
        if let Some(lag) = lag.filter(|_| !too_slow) {
            self.learn_lag(lag);
        }
        io.send(drop, Message::PruneOrigin { origin });
        // Keep pushing to the pruned peer only if this node's copies reach it
        // in fewer hops than its own (it then keeps this node and prunes the
        // other way); otherwise it would prune this node at the next copy.
        let (mine, theirs) = match drop == from {
            true => (first_hops, g.hops.saturating_sub(1)),
            false => (g.hops, first_hops.saturating_sub(1)),
        };
        if mine.saturating_add(1) >= theirs {
            self.origins.prune(&origin, &drop);
        }
    }

    /// Deliver (if `deliver`: not a message this node wrote) and relay a
    /// new message that arrived from `from`.
    fn accept(
        &mut self,
        from: PI,
        g: Gossip<PI>,
        published: Instant,
        missing: Option<Missing<PI>>,
        deliver: bool,
        io: &mut Io<'_, PI>,
    ) {
        let now = io.now;
        self.windows.insert(g.origin, g.session, g.seq, now, io.rng);
        self.recent.insert(g.id, now);
        let mut grafted_after = None;
        if let Some(m) = &missing {
            if m.grafted.contains(&from) {
                grafted_after = Some(m.announced_at);
            } else {
                self.learn_lag(now.saturating_duration_since(m.announced_at));
            }
        }
        // Anonymous messages (number 0) have no lasting origin: shared tree.
        let own_tree = g.seq != 0 && self.origins.route(g.origin, self.eager.iter().copied());
        if own_tree {
            // The link that brought the first copy carries the origin's tree
            // (if this node tells the peer at all).
            if self.is_neighbor(&from) {
                self.origins.make_eager(&g.origin, from);
            }
        } else if g.hops > self.config.eager_hops {
            // (A first copy from the flood near the origin says nothing about
            // the tree: links keep their roles.)
            self.copies <<= 1;
            if self.lazy.contains(&from) {
                self.on_lazy_first_copy(from, now);
            }
            if self.eager.contains(&from) {
                if let Some(l) = self.links.iter_mut().find(|l| l.peer == from) {
                    l.carried = true;
                    l.duplicate_streak = 0;
                }
            }
        }
        let id = g.id;
        let origin = self.signed.then_some(g.origin);
        let cached = cache_entry(g, published, Some(from), grafted_after, own_tree);
        if deliver {
            io.event(Event::Delivered(DeliveredMessage {
                id,
                payload: cached.payload.clone(),
                hops: cached.hops,
                from,
                origin,
            }));
            self.counters.delivered += 1;
        }
        let hops = cached.hops;
        let has: Vec<PI> = match self.announcements_steer() {
            true => Vec::new(),
            false => missing.iter().flat_map(|m| m.announcers.iter().map(|(p, _)| *p)).collect(),
        };
        self.push(id, &cached, Some(from), &has, io);
        self.cache.insert(id, cached, now);
        // Tree optimisation: a lazy link announced this message much closer
        // to its origin than the copy we got.
        if let Some(best) = missing.and_then(|m| m.announcers.into_iter().min_by_key(|(_, h)| *h)) {
            self.optimize(id, best.0, best.1, hops, from, io);
        }
    }

    /// Swap the eager link `parent` (which delivered at `received_hops`) for
    /// the lazy link `announcer` (which offered `announced_hops`) when that
    /// saves at least `optimization_threshold` hops.
    fn optimize(
        &mut self,
        id: MessageId,
        announcer: PI,
        announced_hops: u16,
        received_hops: u16,
        parent: PI,
        io: &mut Io<'_, PI>,
    ) {
        if let Some(origin) = self.cache.get(&id).filter(|m| m.own_tree).map(|m| m.origin) {
            // On an origin's own tree: one origin, so swaps converge (the
            // shared tree's swaps for different origins undo each other).
            let Some(tree) = self.origins.eager(&origin) else { return };
            let switch = announcer != parent
                && !tree.contains(&announcer)
                && self.is_neighbor(&announcer)
                && received_hops >= announced_hops.saturating_add(ORIGIN_SWAP_HOPS);
            if switch {
                // The announcer is asked to push (it is upstream: this node
                // does not push to it); the parent stays until a duplicate
                // shows which of the two paths has fewer hops (announced hop
                // counts are the announcer's word: one that lies, or never
                // pushes, takes no link away).
                io.send(announcer, Message::GraftOrigin { origin });
                if let Some(m) = self.cache.get_mut(&id) {
                    m.parent = None;
                }
            }
            return;
        }
        let t = self.config.optimization_threshold;
        if t == 0 || announcer == parent || !self.lazy.contains(&announcer) || !self.eager.contains(&parent) {
            return;
        }
        if received_hops >= announced_hops.saturating_add(t) {
            self.make_eager(announcer);
            io.send(announcer, Message::Graft { id: None });
            self.prune_link(parent, io);
            if let Some(m) = self.cache.get_mut(&id) {
                m.parent = None;
            }
        }
    }

    pub(crate) fn on_ihave(&mut self, from: PI, entries: Vec<IHaveEntry>, io: &mut Io<'_, PI>) {
        let now = io.now;
        let wait = self.graft_wait();
        let catch_up = self.config.catch_up.max(JOIN_SLACK);
        // Messages both sides hold: announcements queued for `from` of
        // these are not sent.
        let mut both_hold = Vec::new();
        for e in entries {
            if self.pending.contains_key(&e.id) {
                continue;
            }
            if self.recent.contains(&e.id) || self.cache.get(&e.id).is_some() {
                if !self.announcements_steer() {
                    both_hold.push(e.id);
                }
                let parent = self.cache.get(&e.id).and_then(|m| m.parent.map(|p| (p, m.hops)));
                if let Some((parent, hops)) = parent {
                    self.optimize(e.id, from, e.hops, hops, parent, io);
                }
                continue;
            }
            let age = Duration::from_millis(e.age_ms.into());
            if e.hops > self.config.max_hops || age > self.config.max_message_age {
                continue;
            }
            // Published before this node joined (beyond the catch-up window):
            // history the application did not ask for.
            if now.checked_sub(age).is_none_or(|published| published + catch_up < self.joined_at) {
                continue;
            }
            let capacity = self.config.missing_capacity;
            let per_message = self.config.announcers_per_message;
            let len = self.missing.len();
            if !self.missing.contains_key(&e.id) {
                if len >= capacity && !self.make_room_for(from) {
                    self.counters.missing_full += 1;
                    continue;
                }
                let by = self.missing_by.entry(from).or_default();
                by.0 += 1;
                by.1.push_back(e.id);
                if by.1.len() > 2 * by.0 + 16 {
                    let missing = &self.missing;
                    by.1.retain(|id| missing.get(id).is_some_and(|m| m.first == from) || *id == e.id);
                }
                let fresh = Missing {
                    announcers: Vec::new(),
                    grafted: Vec::new(),
                    announced_at: now,
                    graft_at: None,
                    first: from,
                };
                self.missing.insert(e.id, fresh);
            }
            let Some(entry) = self.missing.get_mut(&e.id) else { continue };
            if let Some(h) = self.handoffs.get_mut(&e.id) {
                // Handed to a proxy, and in the overlay now: the copy is
                // fetched as any announced message, and the hand-off waits
                // for it one more timeout before going elsewhere.
                h.deadline = now + self.config.proxy_timeout;
            }
            // A peer we grafted from that announces again could not send its
            // answer (its link was congested): it may be grafted once more.
            entry.grafted.retain(|p| *p != from);
            let known = entry.announcers.iter().any(|(p, _)| *p == from);
            if entry.announcers.len() < per_message && !known {
                entry.announcers.push((from, e.hops));
            }
            if entry.graft_at.is_none() {
                // Randomised (+0-50 %), so the nodes of a tree fragment that
                // all heard the same announcement do not graft at once: the
                // first graft's copy reaches the others down the tree first.
                let jittered = wait.mul_f64(io.rng.gen_range(1.0..1.5));
                self.schedule_graft(e.id, now + jittered, io);
            }
        }
        if !both_hold.is_empty() {
            if let Some((_, queued)) = self.ihave_queue.iter_mut().find(|(p, _)| *p == from) {
                both_hold.sort_unstable();
                queued.retain(|q| both_hold.binary_search(&q.id).is_err());
            }
        }
    }

    /// Announcements of messages a neighbour already holds can still make
    /// it reshape a tree (the hop optimisation, origin trees' swaps): they
    /// are then always sent. Otherwise an announcement to a neighbour known
    /// to hold the message is left out.
    fn announcements_steer(&self) -> bool {
        self.config.optimization_threshold > 0 || self.config.origin_trees > 0
    }

    /// Graft `id` at `at` (replacing an earlier schedule), re-arming the
    /// topic's one `Graft` timer if this is now the earliest deadline.
    fn schedule_graft(&mut self, id: MessageId, at: Instant, io: &mut Io<'_, PI>) {
        let Some(m) = self.missing.get_mut(&id) else { return };
        if let Some(old) = m.graft_at.replace(at) {
            self.graft_deadlines.remove(&(old, id));
        }
        self.graft_deadlines.insert((at, id));
        if self.graft_timer_at.is_none_or(|armed| at < armed) {
            self.graft_timer_at = Some(at);
            io.timer(at.saturating_duration_since(io.now), TimerKind::Graft);
        }
    }

    /// Stop tracking a missing message (it arrived, or we gave up on it).
    fn forget_missing(&mut self, id: &MessageId) -> Option<Missing<PI>> {
        let m = self.missing.remove(id)?;
        if let Some(at) = m.graft_at {
            self.graft_deadlines.remove(&(at, *id));
        }
        if let Some(by) = self.missing_by.get_mut(&m.first) {
            by.0 -= 1;
            if by.0 == 0 {
                self.missing_by.remove(&m.first);
            }
        }
        Some(m)
    }

    /// The missing set is full and `from` announces something new: if
    /// `from` holds less than its share (the capacity over the neighbours),
    /// give up the oldest message first announced by whoever holds the
    /// most, and say whether there is room now. So a neighbour relaying a
    /// flood cannot crowd out the announcements of the others.
    fn make_room_for(&mut self, from: PI) -> bool {
        let neighbours = (self.eager.len() + self.lazy.len() + self.muted.len()).max(1);
        let share = self.config.missing_capacity / neighbours;
        let mine = self.missing_by.get(&from).map_or(0, |b| b.0);
        if mine >= share {
            return false;
        }
        let Some(top) = self.missing_by.iter().max_by_key(|(_, b)| b.0).map(|(p, _)| *p) else { return false };
        if top == from {
            return false;
        }
        while let Some(id) = self.missing_by.get_mut(&top).and_then(|b| b.1.pop_front()) {
            if self.missing.get(&id).is_some_and(|m| m.first == top) {
                self.forget_missing(&id);
                return true;
            }
        }
        false
    }

    /// The topic's `Graft` timer fired: graft every announced message whose
    /// deadline has passed, then re-arm for the next deadline.
    pub(crate) fn on_graft_timer(&mut self, io: &mut Io<'_, PI>) {
        self.graft_timer_at = None;
        while let Some(&(at, id)) = self.graft_deadlines.first() {
            if at > io.now {
                break;
            }
            self.graft_deadlines.pop_first();
            if let Some(m) = self.missing.get_mut(&id) {
                m.graft_at = None;
            }
            self.graft_next(id, io);
        }
        if let Some(&(at, _)) = self.graft_deadlines.first() {
            self.graft_timer_at = Some(at);
            io.timer(at.saturating_duration_since(io.now), TimerKind::Graft);
        }
    }

    /// An announced message is still missing: graft it from the next
    /// announcer, or give up if none is left.
    fn graft_next(&mut self, id: MessageId, io: &mut Io<'_, PI>) {
        if self.recent.contains(&id) || self.pending.contains_key(&id) {
            self.forget_missing(&id);
            return;
        }
        let Some(m) = self.missing.get_mut(&id) else { return };
        if io.now.saturating_duration_since(m.announced_at) > self.config.max_message_age {
            // Announced long ago and never delivered: give up.
            self.forget_missing(&id);
            return;
        }
        let next = loop {
            if m.announcers.is_empty() {
                break None;
            }
            let (p, _) = m.announcers.remove(0);
            if self.eager.contains(&p) || self.lazy.contains(&p) || self.muted.contains(&p) {
                break Some(p);
            }
        };
        match next {
            Some(peer) => {
                m.grafted.push(peer);
                let jittered = self.config.graft_timeout_2.mul_f64(io.rng.gen_range(1.0..1.5));
                self.schedule_graft(id, io.now + jittered, io);
                // The shared tree takes the link at once (joining tree
                // fragments sooner). An announcement does not tell whose
                // message it is: if it took its origin's own tree, the copy
                // that answers adds the link there too.
                self.make_eager(peer);
                io.send(peer, Message::Graft { id: Some(id) });
                self.counters.grafts_sent += 1;
            }
            None => {
                self.forget_missing(&id);
            }
        }
    }

    pub(crate) fn on_graft(&mut self, from: PI, id: Option<MessageId>, io: &mut Io<'_, PI>) {
        if self.muted.contains(&from) {
            // Not told: its requests are not answered (nor an offence).
            return;
        }
        // The peer needs this link, on the tree the message took here: its
        // origin's own, or the shared one (where it carries the tree from
        // our side too).
        let own = id.and_then(|id| self.cache.get(&id)).filter(|m| m.own_tree).map(|m| m.origin);
        match own {
            Some(origin) => self.origins.make_eager(&origin, from),
            None => {
                self.make_eager(from);
                if let Some(l) = self.links.iter_mut().find(|l| l.peer == from) {
                    l.carried = true;
                    l.duplicate_streak = 0;
                }
            }
        }
        let Some(id) = id else { return };
        let Some(m) = self.cache.get(&id) else {
            if !self.recent.contains(&id) && !self.pending.contains_key(&id) {
                io.offence(from, Offence::UnknownGraft);
            }
            return;
        };
        if m.hops >= self.hop_limit(m) || io.now.saturating_duration_since(m.published) > self.config.max_message_age {
            return;
        }
        io.send(from, Message::Gossip(Self::copy_of(id, m, io.now)));
        self.counters.relayed += 1;
    }

    pub(crate) fn on_prune(&mut self, from: PI) {
        self.make_lazy(from);
    }

    pub(crate) fn on_prune_origin(&mut self, from: PI, origin: PI) {
        self.origins.prune(&origin, &from);
    }

    pub(crate) fn on_graft_origin(&mut self, from: PI, origin: PI) {
        if self.is_neighbor(&from) {
            self.origins.make_eager(&origin, from);
        }
    }

    /// A new active neighbour: push to it eagerly from now on, and announce
    /// recent messages so it can graft what it missed; or, if this node
    /// does not `tell` it, only take data from it.
    pub(crate) fn on_neighbor_up(&mut self, peer: PI, tell: bool, io: &mut Io<'_, PI>) {
        if self.is_neighbor(&peer) || self.muted.contains(&peer) {
            return;
        }
        if !tell {
            self.muted.push(peer);
            return;
        }
        self.eager.push(peer);
        self.origins.neighbor_up(peer);
        self.links.push(LinkRecord { peer, carried: false, pushes: 0, duplicate_streak: 0, pruned_at: None });
        self.cache.expire(io.now);
        let now = io.now;
        let max_age = self.config.max_message_age;
        let recent: Vec<IHaveEntry> = self
            .cache
            .recent(self.config.announce_on_neighbor_up)
            .filter(|(_, m)| m.hops < self.hop_limit(m) && now.saturating_duration_since(m.published) < max_age)
            .map(|(id, m)| IHaveEntry { id, hops: m.hops + 1, age_ms: age_ms(now, m.published) })
            .collect();
        for e in recent {
            self.queue_ihave(peer, e, io);
        }
    }

    pub(crate) fn on_neighbor_down(&mut self, peer: PI) {
        self.eager.retain(|p| *p != peer);
        self.lazy.retain(|p| *p != peer);
        self.muted.retain(|p| *p != peer);
        self.links.retain(|l| l.peer != peer);
        self.origins.neighbor_down(&peer);
        self.ihave_queue.retain(|(p, _)| *p != peer);
        for m in self.missing.values_mut() {
            m.announcers.retain(|(p, _)| *p != peer);
        }
    }

    /// A neighbour went down: messages handed to it and not yet seen go to
    /// another neighbour at once.
    pub(crate) fn retry_handoffs_to(&mut self, peer: PI, io: &mut Io<'_, PI>) {
        let to_peer: Vec<MessageId> = self.handoffs.iter().filter(|(_, h)| h.to == peer).map(|(id, _)| *id).collect();
        for id in to_peer {
            self.retry_handoff(id, io);
        }
    }

    /// Apply a new configuration to the running topic (the fields that may
    /// change, see [`crate::ProtocolConfig::check_change`]): count and byte
    /// bounds apply at once, times (timers, the cache's age) from their next
    /// run. Neighbours no longer told stop
    /// getting data at once; neighbours told again are treated as new.
    /// Announcements from peers no longer heard are forgotten, and messages
    /// from them held for a verdict let go.
    pub(crate) fn reconfigure(
        &mut self,
        config: PlumtreeConfig,
        tells: impl Fn(&PI) -> bool,
        hears: impl Fn(&PI) -> bool,
        io: &mut Io<'_, PI>,
    ) {
        self.cache.set_limits(config.message_cache_ttl, config.message_cache_capacity, config.message_cache_max_bytes);
        self.origins.set_capacity(config.origin_trees);
        self.config = config;
        // Neighbours no longer told: no more pushes or announcements, but
        // still heard (their announcements stand).
        let silenced: Vec<PI> = self.eager.iter().chain(&self.lazy).copied().filter(|p| !tells(p)).collect();
        for p in silenced {
            self.eager.retain(|x| *x != p);
            self.lazy.retain(|x| *x != p);
            self.links.retain(|l| l.peer != p);
            self.origins.neighbor_down(&p);
            self.ihave_queue.retain(|(x, _)| *x != p);
            self.muted.push(p);
        }
        let told: Vec<PI> = self.muted.iter().copied().filter(|p| tells(p)).collect();
        for p in told {
            self.muted.retain(|m| *m != p);
            self.on_neighbor_up(p, true, io);
        }
        for m in self.missing.values_mut() {
            m.announcers.retain(|(p, _)| hears(p));
        }
        // Messages held for a verdict that came from a peer no longer heard
        // are let go, not recorded: a heard neighbour may bring them again.
        self.pending.retain(|_, p| hears(&p.from));
        // So are messages such a peer handed over to publish: it hands them
        // to another proxy when they do not show up.
        self.handoffs.retain(|_, h| h.from.is_none_or(|f| hears(&f)));
        // A smaller announcement set: give up the newest entries beyond it
        // (announcers will announce again what is still wanted).
        let excess = self.missing.len().saturating_sub(self.config.missing_capacity);
        if excess > 0 {
            let mut newest: Vec<(Instant, MessageId)> =
                self.missing.iter().map(|(id, m)| (m.announced_at, *id)).collect();
            newest.sort_unstable_by(|a, b| b.cmp(a));
            for (_, id) in newest.into_iter().take(excess) {
                self.forget_missing(&id);
            }
        }
    }

    /// Give up the deduplication record when leaving, to be kept for a rejoin.
    pub(crate) fn into_windows(self) -> SeenWindows<PI> {
        self.windows
    }

    /// Drop expired cache entries (called periodically).
    pub(crate) fn expire(&mut self, io: &mut Io<'_, PI>) {
        let now = io.now;
        // Verdicts never given count as Ignore (the driver lost them).
        let limit = self.config.validation_timeout * 2;
        let stale: Vec<MessageId> = self
            .pending
            .iter()
            .filter(|(_, p)| now.saturating_duration_since(p.since) > limit)
            .map(|(id, _)| *id)
            .collect();
        for id in stale {
            if let Some(p) = self.pending.remove(&id) {
                self.windows.insert(p.gossip.origin, p.gossip.session, p.gossip.seq, now, io.rng);
                self.recent.insert(id, now);
                self.counters.ignored += 1;
            }
        }
        // Hand-offs too old to publish or deliver (a proxy timeout longer
        // than the configuration allows could leave one): counted.
        let max_age = self.config.max_message_age;
        let before = self.handoffs.len();
        self.handoffs.retain(|_, h| now.saturating_duration_since(h.published) <= max_age);
        self.counters.dropped_too_old += (before - self.handoffs.len()) as u64;
        self.windows.expire(now);
        self.recent.expire(now);
        self.cache.expire(now);
    }
}
