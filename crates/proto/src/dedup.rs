//! Deduplication with bounded memory at any message rate.
//!
//! Every message is named by its origin, the origin's session and a
//! sequence number (1, 2, 3, … per session). [`SeenWindows`] keeps, per
//! (origin, session), the sequence numbers delivered as a few ranges, so an
//! endless stream in order costs one range, whatever its rate: memory is
//! O(sessions × gaps), not O(messages). A gap (a number not delivered while
//! higher ones were) is closed once no copy of its message can still be
//! accepted: when a message published after it is older than the maximum
//! message age. [`RecentIds`] remembers recent message ids to answer "do I
//! have it?" for announcements; it is only an optimisation (a forgotten id
//! costs a needless GRAFT, never a second delivery).
//!
//! Anonymous messages (proxy passing, number 0) each have a session of their
//! own, so ranges would not save anything: they are remembered one by one,
//! until they are too old to be accepted, at most `recent_ids_capacity` of
//! them.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rand::{Rng, RngCore};

use super::{FastMap, FastSet, MessageId, PeerIdentity};

/// What to do with a message, as far as deduplication goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Not delivered before: deliver it.
    New,
    /// Delivered before (or too old to tell apart from one that was).
    Duplicate,
    /// From a session whose record was evicted for room, and published before
    /// the eviction: it may have been delivered, so it is refused.
    TooOld,
}

/// Sequence numbers `lo..=hi` were delivered; `since` is when `lo` was.
#[derive(Debug, Clone, Copy)]
struct Range {
    lo: u64,
    hi: u64,
    since: Instant,
}

/// What was delivered of one session.
#[derive(Debug)]
struct Window<PI> {
    key: (PI, u64),
    /// Every number up to this one is settled: delivered, or closed.
    floor: u64,
    /// Delivered numbers above `floor`, as disjoint ranges in order, with a
    /// gap below each.
    ranges: Vec<Range>,
    last_active: Instant,
    /// The eviction horizon when this window was created: an earlier window
    /// of the same session may have been evicted, so its messages published
    /// before then cannot be told from ones delivered already.
    horizon: Option<Instant>,
}

impl<PI> Window<PI> {
    fn contains(&self, seq: u64) -> bool {
        if seq <= self.floor {
            return true;
        }
        match self.ranges.binary_search_by(|r| r.lo.cmp(&seq)) {
            Ok(_) => true,
            Err(0) => false,
            Err(i) => seq <= self.ranges[i - 1].hi,
        }
    }

    fn insert(&mut self, seq: u64, now: Instant) {
        self.last_active = now;
        if seq <= self.floor {
            return;
        }
        // The common case: the next number of an in-order stream.
        if let Some(last) = self.ranges.last_mut() {
            if seq == last.hi + 1 {
                last.hi = seq;
                return;
            }
        }
        let i = self.ranges.partition_point(|r| r.hi < seq);
        if i < self.ranges.len() && self.ranges[i].lo <= seq {
            return; // already there
        }
        let joins_prev = i > 0 && self.ranges[i - 1].hi + 1 == seq;
        let joins_next = i < self.ranges.len() && self.ranges[i].lo == seq + 1;
        match (joins_prev, joins_next) {
            (true, true) => {
                self.ranges[i - 1].hi = self.ranges[i].hi;
                self.ranges.remove(i);
            }
            (true, false) => self.ranges[i - 1].hi = seq,
            (false, true) => {
                self.ranges[i].lo = seq;
                self.ranges[i].since = self.ranges[i].since.min(now);
            }
            (false, false) => self.ranges.insert(i, Range { lo: seq, hi: seq, since: now }),
        }
        self.absorb_floor();
    }

    /// Fold into the floor a first range that starts right above it.
    fn absorb_floor(&mut self) {
        while let Some(first) = self.ranges.first() {
            if first.lo > self.floor + 1 {
                break;
            }
            self.floor = self.floor.max(first.hi);
            self.ranges.remove(0);
        }
    }

    /// Close the lowest gap: its numbers count as settled from now on.
    fn close_lowest_gap(&mut self) {
        if let Some(first) = self.ranges.first() {
            self.floor = first.lo - 1;
            self.absorb_floor();
        }
    }

    /// Close every gap below a range delivered longer than `after` ago, and
    /// keep at most `max_gaps` gaps; returns how many gaps were closed for
    /// room (not for age).
    fn settle(&mut self, now: Instant, after: Duration, max_gaps: usize) -> u64 {
        while self.ranges.first().is_some_and(|r| now.saturating_duration_since(r.since) > after) {
            self.close_lowest_gap();
        }
        let mut forced = 0;
        while self.ranges.len() > max_gaps {
            self.close_lowest_gap();
            forced += 1;
        }
        forced
    }
}

/// What was delivered, per (origin, session), within fixed memory.
#[derive(Debug)]
pub(crate) struct SeenWindows<PI> {
    windows: Vec<Window<PI>>,
    /// Position of each session's window in `windows`.
    index: FastMap<(PI, u64), usize>,
    max_sessions: usize,
    max_gaps: usize,
    /// Gaps are closed once a later message is this old (the maximum message
    /// age plus the link delay ages do not count).
    settle_after: Duration,
    /// A window idle this long is dropped: any copy of its messages is too
    /// old to be accepted anyway.
    idle_after: Duration,
    /// When a window was last evicted for room: messages of sessions without
    /// a window, published before it (plus `slack`), may have been delivered.
    horizon: Option<Instant>,
    slack: Duration,
    /// Gaps closed for room rather than age (messages that may have been
    /// lost), and windows evicted for room.
    pub(crate) forced_gap_closures: u64,
    pub(crate) evictions: u64,
    /// Anonymous messages delivered, by id, until every copy is too old.
    anonymous: RecentIds,
}

/// Windows sampled to choose one to evict.
const EVICTION_SAMPLE: usize = 8;

impl<PI: PeerIdentity> SeenWindows<PI> {
    pub(crate) fn new(
        max_sessions: usize,
        max_gaps: usize,
        max_age: Duration,
        link_delay: Duration,
        idle_after: Duration,
        max_anonymous: usize,
    ) -> Self {
        SeenWindows {
            windows: Vec::new(),
            index: FastMap::default(),
            max_sessions,
            max_gaps,
            settle_after: max_age + link_delay,
            idle_after,
            horizon: None,
            slack: link_delay,
            forced_gap_closures: 0,
            evictions: 0,
            anonymous: RecentIds::new(max_age + link_delay, max_anonymous),
        }
    }

    /// Whether message `seq` of `origin`'s `session`, published at
    /// `published`, is new.
    pub(crate) fn check(&self, origin: PI, session: u64, seq: u64, published: Instant) -> Verdict {
        if seq == 0 {
            let id = MessageId::anonymous(session);
            return match self.anonymous.contains(&id) {
                true => Verdict::Duplicate,
                false if self.before(self.anonymous.evicted_until, published) => Verdict::TooOld,
                false => Verdict::New,
            };
        }
        match self.index.get(&(origin, session)) {
            Some(&i) if self.windows[i].contains(seq) => Verdict::Duplicate,
            Some(&i) if self.before(self.windows[i].horizon, published) => Verdict::TooOld,
            Some(_) => Verdict::New,
            None if self.before(self.horizon, published) => Verdict::TooOld,
            None => Verdict::New,
        }
    }

    /// Whether a message published at `published` may predate `horizon`.
    fn before(&self, horizon: Option<Instant>, published: Instant) -> bool {
        horizon.is_some_and(|h| published <= h + self.slack)
    }

    /// Record message `seq` of `origin`'s `session` as delivered.
    pub(crate) fn insert(&mut self, origin: PI, session: u64, seq: u64, now: Instant, rng: &mut dyn RngCore) {
        if seq == 0 {
            self.anonymous.insert(MessageId::anonymous(session), now);
            return;
        }
        let key = (origin, session);
        let i = match self.index.get(&key) {
            Some(&i) => i,
            None => {
                if self.windows.len() >= self.max_sessions {
                    self.evict_one(rng);
                }
                self.index.insert(key, self.windows.len());
                let horizon = self.horizon;
                self.windows.push(Window { key, floor: 0, ranges: Vec::new(), last_active: now, horizon });
                self.windows.len() - 1
            }
        };
        let w = &mut self.windows[i];
        w.insert(seq, now);
        if w.ranges.len() > self.max_gaps {
            self.forced_gap_closures += w.settle(now, self.settle_after, self.max_gaps);
        }
    }

    /// Evict the least recently active of a few windows sampled at random.
    fn evict_one(&mut self, rng: &mut dyn RngCore) {
        let mut victim: Option<usize> = None;
        for _ in 0..EVICTION_SAMPLE {
            let i = rng.gen_range(0..self.windows.len());
            if victim.is_none_or(|v| self.windows[i].last_active < self.windows[v].last_active) {
                victim = Some(i);
            }
        }
        let Some(victim) = victim else { return };
        let evicted = self.remove(victim);
        self.evictions += 1;
        // Messages of sessions without a window, published before this one's
        // last delivery, may be its own: refuse them.
        self.horizon = Some(self.horizon.map_or(evicted.last_active, |h| h.max(evicted.last_active)));
    }

    fn remove(&mut self, i: usize) -> Window<PI> {
        let w = self.windows.swap_remove(i);
        self.index.remove(&w.key);
        if let Some(moved) = self.windows.get(i) {
            self.index.insert(moved.key, i);
        }
        w
    }

    /// Close gaps old enough to be settled and drop windows idle too long.
    pub(crate) fn expire(&mut self, now: Instant) {
        self.anonymous.expire(now);
        let mut i = 0;
        while i < self.windows.len() {
            let w = &mut self.windows[i];
            if now.saturating_duration_since(w.last_active) > self.idle_after {
                self.remove(i);
                continue;
            }
            self.forced_gap_closures += w.settle(now, self.settle_after, self.max_gaps);
            i += 1;
        }
    }

    /// Sessions tracked.
    pub(crate) fn len(&self) -> usize {
        self.windows.len()
    }

    /// Anonymous messages remembered.
    pub(crate) fn anonymous(&self) -> usize {
        self.anonymous.len()
    }

    /// Ranges held over every session (the memory the windows use).
    pub(crate) fn ranges(&self) -> usize {
        self.windows.iter().map(|w| w.ranges.len() + 1).sum()
    }
}

/// Ids of recently delivered messages, bounded by age and count: the answer
/// to "do I already have the message this IHAVE announces?".
#[derive(Debug)]
pub(crate) struct RecentIds {
    ids: FastSet<MessageId>,
    order: VecDeque<(MessageId, Instant)>,
    ttl: Duration,
    capacity: usize,
    /// The latest insertion forgotten for room rather than age: ids first
    /// seen up to then may have been forgotten early.
    evicted_until: Option<Instant>,
}

impl RecentIds {
    pub(crate) fn new(ttl: Duration, capacity: usize) -> Self {
        RecentIds { ids: FastSet::default(), order: VecDeque::new(), ttl, capacity, evicted_until: None }
    }

    pub(crate) fn contains(&self, id: &MessageId) -> bool {
        self.ids.contains(id)
    }

    pub(crate) fn insert(&mut self, id: MessageId, now: Instant) {
        self.expire(now);
        if self.ids.insert(id) {
            self.order.push_back((id, now));
            while self.order.len() > self.capacity {
                if let Some(&(_, at)) = self.order.front() {
                    self.evicted_until = Some(at);
                }
                self.pop();
            }
        }
    }

    pub(crate) fn expire(&mut self, now: Instant) {
        while self.order.front().is_some_and(|(_, at)| now.saturating_duration_since(*at) >= self.ttl) {
            self.pop();
        }
    }

    fn pop(&mut self) {
        if let Some((id, _)) = self.order.pop_front() {
            self.ids.remove(&id);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    use super::*;

    const AGE: Duration = Duration::from_secs(60);
    const DELAY: Duration = Duration::from_secs(5);

    fn windows(max_sessions: usize, max_gaps: usize) -> SeenWindows<u32> {
        SeenWindows::new(max_sessions, max_gaps, AGE, DELAY, Duration::from_secs(120), 3)
    }

    #[test]
    fn an_endless_stream_in_order_takes_one_range_and_is_never_refused() {
        let mut w = windows(16, 8);
        let mut rng = SmallRng::seed_from_u64(1);
        let t0 = Instant::now();
        for seq in 1..=3_000_000u64 {
            let now = t0 + Duration::from_micros(seq);
            assert_eq!(w.check(7, 1, seq, now), Verdict::New, "fresh message {seq} refused");
            w.insert(7, 1, seq, now, &mut rng);
        }
        assert_eq!((w.len(), w.ranges()), (1, 1));
        assert_eq!(w.check(7, 1, 2_999_999, t0), Verdict::Duplicate);
    }

    #[test]
    fn out_of_order_numbers_are_each_delivered_once() {
        let mut w = windows(16, 64);
        let mut rng = SmallRng::seed_from_u64(2);
        let now = Instant::now();
        let order = [5u64, 3, 9, 1, 2, 4, 8, 6, 7, 10];
        for &seq in &order {
            assert_eq!(w.check(1, 9, seq, now), Verdict::New);
            w.insert(1, 9, seq, now, &mut rng);
            assert_eq!(w.check(1, 9, seq, now), Verdict::Duplicate);
        }
        assert_eq!(w.ranges(), 1, "1..=10 folded into the floor");
        assert_eq!(w.check(1, 9, 11, now), Verdict::New);
        assert_eq!(w.check(1, 10, 1, now), Verdict::New, "another session is another window");
    }

    #[test]
    fn a_gap_stays_open_until_a_later_message_is_too_old_to_accept() {
        let mut w = windows(16, 64);
        let mut rng = SmallRng::seed_from_u64(3);
        let t0 = Instant::now();
        w.insert(1, 1, 1, t0, &mut rng);
        w.insert(1, 1, 3, t0, &mut rng); // 2 is missing
        w.expire(t0 + AGE);
        assert_eq!(w.check(1, 1, 2, t0 + AGE), Verdict::New, "2 can still arrive");
        w.expire(t0 + AGE + DELAY + Duration::from_millis(1));
        assert_eq!(w.check(1, 1, 2, t0), Verdict::Duplicate, "closed: 2 would be older than the maximum age");
        assert_eq!(w.forced_gap_closures, 0);
    }

    #[test]
    fn anonymous_messages_are_remembered_one_by_one_until_too_old_within_their_bound() {
        let mut w = windows(16, 8); // at most 3 anonymous messages
        let mut rng = SmallRng::seed_from_u64(6);
        let t0 = Instant::now();
        // Named by the nonce alone, whoever broadcast it.
        w.insert(1, 100, 0, t0, &mut rng);
        assert_eq!(w.check(2, 100, 0, t0), Verdict::Duplicate);
        assert_eq!((w.len(), w.anonymous()), (0, 1), "no session window for it");
        // Forgotten once every copy is too old to accept.
        w.expire(t0 + AGE + DELAY);
        assert_eq!(w.anonymous(), 0);
        assert_eq!(w.check(2, 100, 0, t0 + AGE + DELAY), Verdict::New);
        // Beyond the bound, the oldest is forgotten early, and a message not
        // remembered, published before then (within the link delay), could
        // be it: refused.
        let t1 = t0 + AGE * 2;
        for nonce in 0..4u64 {
            w.insert(1, nonce, 0, t1 + Duration::from_secs(nonce), &mut rng);
        }
        assert_eq!(w.anonymous(), 3);
        assert_eq!(w.check(1, 0, 0, t1), Verdict::TooOld, "forgotten for room");
        assert_eq!(w.check(1, 9, 0, t1 + DELAY), Verdict::TooOld);
        assert_eq!(w.check(1, 9, 0, t1 + DELAY + Duration::from_millis(1)), Verdict::New);
        assert_eq!(w.check(1, 3, 0, t1), Verdict::Duplicate);
    }

    #[test]
    fn gaps_and_sessions_are_bounded() {
        let mut w = windows(4, 8);
        let mut rng = SmallRng::seed_from_u64(4);
        let now = Instant::now();
        for seq in (1..200u64).step_by(2) {
            w.insert(1, 1, seq, now, &mut rng);
        }
        assert!(w.ranges() <= 8 + 1);
        assert!(w.forced_gap_closures > 0, "closing gaps for room is counted");
        for session in 0..100 {
            w.insert(2, session, 1, now + Duration::from_millis(session), &mut rng);
        }
        assert_eq!(w.len(), 4);
        assert!(w.evictions >= 96);
        // A session without a window, published before the last eviction: refused.
        assert_eq!(w.check(3, 0, 1, now), Verdict::TooOld);
        assert_eq!(w.check(3, 0, 1, now + Duration::from_secs(10)), Verdict::New);
    }

    #[test]
    fn a_session_evicted_then_seen_again_refuses_copies_from_before_the_eviction() {
        let mut w = windows(1, 8);
        let mut rng = SmallRng::seed_from_u64(5);
        let t0 = Instant::now();
        w.insert(1, 1, 4, t0, &mut rng);
        w.insert(2, 1, 1, t0 + Duration::from_secs(1), &mut rng); // evicts session (1, 1)
        let later = t0 + Duration::from_secs(20);
        w.insert(1, 1, 10, later, &mut rng); // (1, 1) is back, without message 4
        assert_eq!(w.check(1, 1, 4, t0), Verdict::TooOld, "a late copy of 4 must not be delivered again");
        assert_eq!(w.check(1, 1, 11, later), Verdict::New);
    }

    #[test]
    fn recent_ids_are_bounded_by_count_and_age() {
        let mut r = RecentIds::new(Duration::from_secs(10), 3);
        let t0 = Instant::now();
        for i in 0..5u8 {
            r.insert(MessageId([i; 16]), t0);
        }
        assert_eq!(r.len(), 3);
        assert!(!r.contains(&MessageId([0; 16])) && r.contains(&MessageId([4; 16])));
        r.expire(t0 + Duration::from_secs(10));
        assert_eq!(r.len(), 0);
    }
}
