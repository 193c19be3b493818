//! Bounded caches: message ids seen (deduplication), messages kept to answer
//! GRAFTs, and peers met through the overlay. Each has a count bound, and the
//! first two also a time bound, so memory stays flat under an endless stream.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::seq::SliceRandom;
use rand::{Rng, RngCore};

use super::{MessageId, PeerIdentity, PeerInfo};

/// Ids of messages already delivered, bounded by age and count.
///
/// Each id is stored with the estimated time its message was published
/// (`origin`). Whenever an id is evicted, the cache's *horizon* moves up to
/// that id's origin, and [`SeenCache::is_before_horizon`] then refuses every
/// message published at or before it: an evicted id can never be delivered a
/// second time, whatever the load.
#[derive(Debug)]
pub struct SeenCache {
    ids: HashSet<MessageId>,
    order: VecDeque<(MessageId, Instant)>,
    ttl: Duration,
    capacity: usize,
    horizon: Option<Instant>,
}

impl SeenCache {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        SeenCache { ids: HashSet::new(), order: VecDeque::new(), ttl, capacity, horizon: None }
    }

    pub fn contains(&self, id: &MessageId) -> bool {
        self.ids.contains(id)
    }

    /// True if a message published at `origin` may have been forgotten.
    pub fn is_before_horizon(&self, origin: Instant) -> bool {
        self.horizon.is_some_and(|h| origin <= h)
    }

    pub fn insert(&mut self, id: MessageId, origin: Instant, now: Instant) {
        self.expire(now);
        if self.ids.insert(id) {
            self.order.push_back((id, origin));
            while self.order.len() > self.capacity {
                self.evict_front();
            }
        }
    }

    /// Forget ids whose messages are older than the time bound.
    pub fn expire(&mut self, now: Instant) {
        while let Some(&(_, origin)) = self.order.front() {
            if now.saturating_duration_since(origin) < self.ttl {
                break;
            }
            self.evict_front();
        }
    }

    fn evict_front(&mut self) {
        if let Some((id, origin)) = self.order.pop_front() {
            self.ids.remove(&id);
            self.horizon = Some(self.horizon.map_or(origin, |h| h.max(origin)));
        }
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// A message kept to answer GRAFTs and to announce to new neighbours.
#[derive(Debug, Clone)]
pub struct CachedMessage<PI> {
    pub payload: Bytes,
    /// Hops the message had travelled when it reached this node (0 at its origin).
    pub hops: u16,
    /// Estimated publication time (now minus the message's age on arrival).
    pub origin: Instant,
    /// The neighbour the first copy came from (`None` at the origin, or once
    /// the tree was optimised for this message).
    pub parent: Option<PI>,
    /// Set when the first copy answered one of our GRAFTs: when the message
    /// was first announced to us. A later copy down the tree then tells how
    /// long the graft should have waited.
    pub grafted_after: Option<Instant>,
}

/// Recently received messages, bounded by age, count and payload bytes.
#[derive(Debug)]
pub struct MessageCache<PI> {
    entries: HashMap<MessageId, CachedMessage<PI>>,
    order: VecDeque<(MessageId, Instant)>,
    bytes: usize,
    ttl: Duration,
    capacity: usize,
    max_bytes: usize,
}

impl<PI: PeerIdentity> MessageCache<PI> {
    pub fn new(ttl: Duration, capacity: usize, max_bytes: usize) -> Self {
        MessageCache { entries: HashMap::new(), order: VecDeque::new(), bytes: 0, ttl, capacity, max_bytes }
    }

    pub fn insert(&mut self, id: MessageId, message: CachedMessage<PI>, now: Instant) {
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

    pub fn get(&self, id: &MessageId) -> Option<&CachedMessage<PI>> {
        self.entries.get(id)
    }

    pub fn get_mut(&mut self, id: &MessageId) -> Option<&mut CachedMessage<PI>> {
        self.entries.get_mut(id)
    }

    /// Drop messages received longer than the time bound ago.
    pub fn expire(&mut self, now: Instant) {
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
    pub fn recent(&self, n: usize) -> impl Iterator<Item = (MessageId, &CachedMessage<PI>)> + '_ {
        self.order.iter().rev().take(n).filter_map(|(id, _)| self.entries.get(id).map(|m| (*id, m)))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

/// One entry of the known-peers cache.
#[derive(Debug, Clone)]
pub struct KnownPeer<PI> {
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
pub struct KnownPeers<PI> {
    entries: Vec<KnownPeer<PI>>,
    capacity: usize,
}

impl<PI: PeerIdentity> KnownPeers<PI> {
    pub fn new(capacity: usize) -> Self {
        KnownPeers { entries: Vec::new(), capacity }
    }

    fn position(&self, id: &PI) -> Option<usize> {
        self.entries.iter().position(|e| e.info.id == *id)
    }

    pub fn get(&self, id: &PI) -> Option<&KnownPeer<PI>> {
        self.position(id).map(|i| &self.entries[i])
    }

    pub fn contains(&self, id: &PI) -> bool {
        self.position(id).is_some()
    }

    /// Record `info`. Returns true if the peer is new or its data changed.
    /// When full, evicts the entry with the most failures (a random one among
    /// equals), never one for which `pinned` is true.
    pub fn insert(&mut self, info: PeerInfo<PI>, rng: &mut dyn RngCore, pinned: impl Fn(&PI) -> bool) -> bool {
        if let Some(i) = self.position(&info.id) {
            let e = &mut self.entries[i];
            if info.data.is_some() && e.info.data != info.data {
                e.info.data = info.data;
                return true;
            }
            return false;
        }
        if self.entries.len() >= self.capacity {
            let worst = self.entries.iter().filter(|e| !pinned(&e.info.id)).map(|e| e.failures).max();
            let Some(worst) = worst else { return false };
            let victims: Vec<usize> = (0..self.entries.len())
                .filter(|&i| self.entries[i].failures == worst && !pinned(&self.entries[i].info.id))
                .collect();
            let victim = victims[rng.gen_range(0..victims.len())];
            self.entries.swap_remove(victim);
        }
        self.entries.push(KnownPeer { info, failures: 0, retry_at: None });
        true
    }

    pub fn remove(&mut self, id: &PI) {
        if let Some(i) = self.position(id) {
            self.entries.swap_remove(i);
        }
    }

    /// The peer could not be reached: back off exponentially before the next try.
    pub fn mark_failed(&mut self, id: &PI, now: Instant, initial: Duration, max: Duration) {
        if let Some(i) = self.position(id) {
            let e = &mut self.entries[i];
            e.failures = e.failures.saturating_add(1);
            let backoff = initial.saturating_mul(1u32 << (e.failures - 1).min(16)).min(max);
            e.retry_at = Some(now + backoff);
        }
    }

    /// The peer answered.
    pub fn mark_alive(&mut self, id: &PI) {
        if let Some(i) = self.position(id) {
            self.entries[i].failures = 0;
            self.entries[i].retry_at = None;
        }
    }

    /// A random peer believed reachable, not excluded.
    pub fn random_alive(&self, rng: &mut dyn RngCore, exclude: impl Fn(&PI) -> bool) -> Option<&PeerInfo<PI>> {
        let c: Vec<&KnownPeer<PI>> = self.entries.iter().filter(|e| e.failures == 0 && !exclude(&e.info.id)).collect();
        c.choose(rng).map(|e| &e.info)
    }

    /// A random failed peer whose backoff has elapsed, not excluded.
    pub fn random_due(
        &self,
        now: Instant,
        rng: &mut dyn RngCore,
        exclude: impl Fn(&PI) -> bool,
    ) -> Option<&PeerInfo<PI>> {
        let c: Vec<&KnownPeer<PI>> =
            self.entries.iter().filter(|e| e.retry_at.is_some_and(|t| t <= now) && !exclude(&e.info.id)).collect();
        c.choose(rng).map(|e| &e.info)
    }

    pub fn iter(&self) -> impl Iterator<Item = &KnownPeer<PI>> {
        self.entries.iter()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
