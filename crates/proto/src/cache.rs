//! Bounded caches: messages kept to answer GRAFTs, and peers met through the
//! overlay. Each has a count bound, and the first also a time and a byte
//! bound, so memory stays flat under an endless stream. (Deduplication is
//! in `dedup`.)

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::{Rng, RngCore};

use super::{Auth, FastMap, MessageId, PeerIdentity, PeerInfo};

/// A message kept to answer GRAFTs and to announce to new neighbours.
#[derive(Debug, Clone)]
pub(crate) struct CachedMessage<PI> {
    /// The publisher, its session and the message's number in it.
    pub origin: PI,
    pub session: u64,
    pub seq: u64,
    pub payload: Bytes,
    /// The origin's signature, relayed with every copy.
    pub auth: Option<Auth>,
    /// Hops the message had travelled when it reached this node (0 at its origin).
    pub hops: u16,
    /// The origin's hop limit (0: none of its own).
    pub limit: u16,
    /// Estimated publication time (now minus the message's age on arrival).
    pub published: Instant,
    /// The neighbour the first copy came from (`None` at the origin, or once
    /// the tree was optimised for this message).
    pub parent: Option<PI>,
    /// Set when the first copy answered one of our GRAFTs: when the message
    /// was first announced to us. A later copy down the tree then tells how
    /// long the graft should have waited.
    pub grafted_after: Option<Instant>,
    /// It travels its origin's own tree here, not the shared one
    /// ([`crate::PlumtreeConfig::origin_trees`]): its duplicates prune that
    /// tree alone.
    pub own_tree: bool,
}

/// Recently received messages, bounded by age, count and payload bytes.
#[derive(Debug)]
pub(crate) struct MessageCache<PI> {
    entries: FastMap<MessageId, CachedMessage<PI>>,
    order: VecDeque<(MessageId, Instant)>,
    bytes: usize,
    ttl: Duration,
    capacity: usize,
    max_bytes: usize,
}

impl<PI: PeerIdentity> MessageCache<PI> {
    pub(crate) fn new(ttl: Duration, capacity: usize, max_bytes: usize) -> Self {
        MessageCache { entries: FastMap::default(), order: VecDeque::new(), bytes: 0, ttl, capacity, max_bytes }
    }

    pub(crate) fn insert(&mut self, id: MessageId, message: CachedMessage<PI>, now: Instant) {
        self.expire(now);
        let size = message.payload.len();
        if size > self.max_bytes || self.entries.contains_key(&id) {
            return;
        }
        self.bytes += size;
        self.entries.insert(id, message);
        self.order.push_back((id, now));
        while self.order.len() > self.capacity || self.bytes > self.max_bytes {
            self.evict_front();
        }
    }

    pub(crate) fn get(&self, id: &MessageId) -> Option<&CachedMessage<PI>> {
        self.entries.get(id)
    }

    /// New bounds, applied at once (the oldest entries leave first).
    pub(crate) fn set_limits(&mut self, ttl: Duration, capacity: usize, max_bytes: usize) {
        (self.ttl, self.capacity, self.max_bytes) = (ttl, capacity, max_bytes);
        while self.order.len() > self.capacity || self.bytes > self.max_bytes {
            self.evict_front();
        }
    }

    pub(crate) fn get_mut(&mut self, id: &MessageId) -> Option<&mut CachedMessage<PI>> {
        self.entries.get_mut(id)
    }

    /// Drop messages received longer than the time bound ago.
    pub(crate) fn expire(&mut self, now: Instant) {
        while let Some(&(_, received)) = self.order.front() {
            if now.saturating_duration_since(received) < self.ttl {
                break;
            }
            self.evict_front();
        }
    }

    fn evict_front(&mut self) {
        if let Some((id, _)) = self.order.pop_front() {
            if let Some(m) = self.entries.remove(&id) {
                self.bytes -= m.payload.len();
            }
        }
    }

    /// The `n` most recently received message ids, newest first.
    pub(crate) fn recent(&self, n: usize) -> impl Iterator<Item = (MessageId, &CachedMessage<PI>)> + '_ {
        self.order.iter().rev().take(n).filter_map(|(id, _)| self.entries.get(id).map(|m| (*id, m)))
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

/// One entry of the known-peers cache.
#[derive(Debug, Clone)]
pub(crate) struct KnownPeer<PI> {
    pub info: PeerInfo<PI>,
    /// Consecutive failed contacts; 0 while the peer is believed reachable.
    pub failures: u32,
    /// When a failed peer may be contacted again.
    pub retry_at: Option<Instant>,
}

/// Peers met through the overlay, kept after they leave the views. Larger
/// than the passive view; the source for rejoining after mass failure and for
/// re-merging partitions.
#[derive(Debug)]
pub(crate) struct KnownPeers<PI> {
    entries: Vec<KnownPeer<PI>>,
    /// Position of each peer in `entries`.
    index: FastMap<PI, usize>,
    capacity: usize,
}

/// Entries sampled to choose one to evict.
const EVICTION_SAMPLE: usize = 8;

impl<PI: PeerIdentity> KnownPeers<PI> {
    pub(crate) fn new(capacity: usize) -> Self {
        KnownPeers { entries: Vec::new(), index: FastMap::default(), capacity }
    }

    pub(crate) fn get(&self, id: &PI) -> Option<&KnownPeer<PI>> {
        self.index.get(id).map(|&i| &self.entries[i])
    }

    fn swap_remove(&mut self, i: usize) {
        let gone = self.entries.swap_remove(i);
        self.index.remove(&gone.info.id);
        if let Some(moved) = self.entries.get(i) {
            self.index.insert(moved.info.id, i);
        }
    }

    /// Record `info`. Returns true if the peer is new or its data changed.
    /// Known data is replaced only when `from_itself` (the peer vouches for
    /// its own addresses; a third party cannot redirect them). When full,
    /// evicts the entry with the most failures among a few sampled at random,
    /// never one for which `pinned` is true.
    pub(crate) fn insert(
        &mut self,
        info: PeerInfo<PI>,
        from_itself: bool,
        rng: &mut dyn RngCore,
        pinned: impl Fn(&PI) -> bool,
    ) -> bool {
        if let Some(&i) = self.index.get(&info.id) {
            let e = &mut self.entries[i];
            let may_replace = from_itself || e.info.data.is_none();
            if may_replace && info.data.is_some() && e.info.data != info.data {
                e.info.data = info.data;
                return true;
            }
            return false;
        }
        if self.entries.len() >= self.capacity {
            let mut victim: Option<usize> = None;
            for _ in 0..EVICTION_SAMPLE {
                let i = rng.gen_range(0..self.entries.len());
                if pinned(&self.entries[i].info.id) {
                    continue;
                }
                if victim.is_none_or(|v| self.entries[i].failures > self.entries[v].failures) {
                    victim = Some(i);
                }
            }
            let Some(victim) = victim else { return false };
            self.swap_remove(victim);
        }
        self.index.insert(info.id, self.entries.len());
        self.entries.push(KnownPeer { info, failures: 0, retry_at: None });
        true
    }

    pub(crate) fn remove(&mut self, id: &PI) {
        if let Some(&i) = self.index.get(id) {
            self.swap_remove(i);
        }
    }

    /// A new bound: beyond it, the entries with the most failures leave
    /// first, never one for which `pinned` is true. One pass: a sort of the
    /// candidates, then a rebuild.
    pub(crate) fn set_capacity(&mut self, capacity: usize, pinned: impl Fn(&PI) -> bool) {
        self.capacity = capacity;
        let excess = self.entries.len().saturating_sub(capacity);
        if excess == 0 {
            return;
        }
        let mut victims: Vec<(u32, usize)> = (0..self.entries.len())
            .filter(|&i| !pinned(&self.entries[i].info.id))
            .map(|i| (self.entries[i].failures, i))
            .collect();
        victims.sort_unstable_by(|a, b| b.cmp(a));
        let mut gone = vec![false; self.entries.len()];
        for &(_, i) in victims.iter().take(excess) {
            gone[i] = true;
        }
        let mut i = 0;
        self.entries.retain(|_| {
            i += 1;
            !gone[i - 1]
        });
        self.index = self.entries.iter().enumerate().map(|(i, e)| (e.info.id, i)).collect();
    }

    /// The peer could not be reached: back off exponentially before the next try.
    pub(crate) fn mark_failed(&mut self, id: &PI, now: Instant, initial: Duration, max: Duration) {
        if let Some(&i) = self.index.get(id) {
            let e = &mut self.entries[i];
            e.failures = e.failures.saturating_add(1);
            let backoff = initial.saturating_mul(1u32 << (e.failures - 1).min(16)).min(max);
            e.retry_at = Some(now + backoff);
        }
    }

    /// The peer answered.
    pub(crate) fn mark_alive(&mut self, id: &PI) {
        if let Some(&i) = self.index.get(id) {
            self.entries[i].failures = 0;
            self.entries[i].retry_at = None;
        }
    }

    /// A uniformly random entry satisfying `want`, in one pass without
    /// allocating (reservoir sampling).
    fn random_where(&self, rng: &mut dyn RngCore, want: impl Fn(&KnownPeer<PI>) -> bool) -> Option<&PeerInfo<PI>> {
        let mut chosen = None;
        let mut seen = 0u32;
        for e in &self.entries {
            if want(e) {
                seen += 1;
                if rng.gen_range(0..seen) == 0 {
                    chosen = Some(&e.info);
                }
            }
        }
        chosen
    }

    /// A random peer believed reachable, not excluded.
    pub(crate) fn random_alive(&self, rng: &mut dyn RngCore, exclude: impl Fn(&PI) -> bool) -> Option<&PeerInfo<PI>> {
        self.random_where(rng, |e| e.failures == 0 && !exclude(&e.info.id))
    }

    /// A random failed peer whose backoff has elapsed, not excluded.
    pub(crate) fn random_due(
        &self,
        now: Instant,
        rng: &mut dyn RngCore,
        exclude: impl Fn(&PI) -> bool,
    ) -> Option<&PeerInfo<PI>> {
        self.random_where(rng, |e| e.retry_at.is_some_and(|t| t <= now) && !exclude(&e.info.id))
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &KnownPeer<PI>> {
        self.entries.iter()
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}
