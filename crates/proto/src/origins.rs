//! Trees of their own for the origins that keep publishing
//! ([`crate::PlumtreeConfig::origin_trees`]).
//!
//! One shared tree serves a single sender well: the sender's first message
//! floods, duplicates prune, and what is left is the latency-shortest tree
//! from that sender. Every other sender's messages climb toward wherever
//! the tree happens to be rooted and back down. Here each origin that
//! publishes a second message gets a tree of its own, starting as a copy of
//! the shared tree, which duplicates and announcements then reshape for
//! that origin alone (in `plumtree.rs`). Its first message (and every
//! message of an origin without a tree) travels the shared tree, so an
//! origin that publishes once costs nothing but its record.
//!
//! Bounded: at most `capacity` origins. Records of origins seen once go
//! first, oldest first, so one-off (or forged) origins cannot push out the
//! trees of origins that keep publishing; then the least recently active
//! tree. A tree is one origin id, its age stamp and its eager neighbours (a
//! subset of the active view).

use std::collections::BTreeMap;

use super::{FastMap, PeerIdentity};

#[derive(Debug)]
struct Tree<PI> {
    /// The neighbours this origin's messages are pushed to; `None` until
    /// the origin's second message (its first took the shared tree).
    eager: Option<Vec<PI>>,
    /// When the origin last published (a stamp in `OriginTrees::order`).
    stamp: u64,
}

#[derive(Debug)]
pub(crate) struct OriginTrees<PI> {
    capacity: usize,
    trees: FastMap<PI, Tree<PI>>,
    /// Origins seen once (no tree yet), and origins with a tree, each by
    /// the stamp of their last message, oldest first.
    once: BTreeMap<u64, PI>,
    grown: BTreeMap<u64, PI>,
    next_stamp: u64,
}

impl<PI: PeerIdentity> OriginTrees<PI> {
    pub(crate) fn new(capacity: usize) -> Self {
        OriginTrees {
            capacity,
            trees: FastMap::default(),
            once: BTreeMap::new(),
            grown: BTreeMap::new(),
            next_stamp: 0,
        }
    }

    /// Origins with a record (a tree, or a first message seen).
    pub(crate) fn len(&self) -> usize {
        self.trees.len()
    }

    /// Keep at most `capacity` origins from now on.
    pub(crate) fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity;
        while self.trees.len() > capacity {
            self.evict_oldest();
        }
    }

    /// Forget the oldest origin seen once, or if there is none, the least
    /// recently active tree.
    fn evict_oldest(&mut self) {
        let oldest = self.once.pop_first().or_else(|| self.grown.pop_first());
        if let Some((_, origin)) = oldest {
            self.trees.remove(&origin);
        }
    }

    /// A new message from `origin` is about to be relayed: whether it takes
    /// the origin's own tree (`true`) or the shared one. The origin's second
    /// message starts its tree as all of `neighbours`.
    pub(crate) fn route(&mut self, origin: PI, neighbours: impl Iterator<Item = PI>) -> bool {
        if self.capacity == 0 {
            return false;
        }
        let stamp = self.next_stamp;
        self.next_stamp += 1;
        match self.trees.get_mut(&origin) {
            Some(tree) => {
                if tree.eager.is_none() {
                    self.once.remove(&tree.stamp);
                    tree.eager = Some(neighbours.collect());
                } else {
                    self.grown.remove(&tree.stamp);
                }
                self.grown.insert(stamp, origin);
                tree.stamp = stamp;
                true
            }
            None => {
                if self.trees.len() >= self.capacity {
                    self.evict_oldest();
                }
                self.trees.insert(origin, Tree { eager: None, stamp });
                self.once.insert(stamp, origin);
                false
            }
        }
    }

    /// The neighbours `origin`'s messages are pushed to, if it has a tree.
    pub(crate) fn eager(&self, origin: &PI) -> Option<&[PI]> {
        self.trees.get(origin)?.eager.as_deref()
    }

    /// `peer` carries `origin`'s tree: it delivered a first copy, or asked
    /// for one (GRAFT).
    pub(crate) fn make_eager(&mut self, origin: &PI, peer: PI) {
        if let Some(eager) = self.trees.get_mut(origin).and_then(|t| t.eager.as_mut()) {
            if !eager.contains(&peer) {
                eager.push(peer);
            }
        }
    }

    /// `peer` does not need `origin`'s messages pushed (PRUNE_ORIGIN).
    pub(crate) fn prune(&mut self, origin: &PI, peer: &PI) {
        if let Some(eager) = self.trees.get_mut(origin).and_then(|t| t.eager.as_mut()) {
            eager.retain(|p| p != peer);
        }
    }

    /// A new neighbour: every tree pushes to it until it prunes.
    pub(crate) fn neighbor_up(&mut self, peer: PI) {
        for eager in self.trees.values_mut().filter_map(|t| t.eager.as_mut()) {
            if !eager.contains(&peer) {
                eager.push(peer);
            }
        }
    }

    /// A neighbour gone (or no longer told): out of every tree.
    pub(crate) fn neighbor_down(&mut self, peer: &PI) {
        for eager in self.trees.values_mut().filter_map(|t| t.eager.as_mut()) {
            eager.retain(|p| p != peer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_message_shared_second_floods_then_prunes() {
        let mut t = OriginTrees::<u64>::new(4);
        assert!(!t.route(7, [1, 2, 3].into_iter()));
        assert_eq!(t.eager(&7), None);
        assert!(t.route(7, [1, 2, 3].into_iter()));
        assert_eq!(t.eager(&7), Some(&[1, 2, 3][..]));
        t.prune(&7, &2);
        assert_eq!(t.eager(&7), Some(&[1, 3][..]));
        // Later messages keep the pruned tree.
        assert!(t.route(7, [1, 2, 3].into_iter()));
        assert_eq!(t.eager(&7), Some(&[1, 3][..]));
        t.make_eager(&7, 2);
        t.neighbor_up(4);
        t.neighbor_down(&1);
        assert_eq!(t.eager(&7), Some(&[3, 2, 4][..]));
    }

    #[test]
    fn origins_seen_once_go_before_trees() {
        let mut t = OriginTrees::<u64>::new(3);
        t.route(1, [9].into_iter());
        t.route(1, [9].into_iter()); // 1 has a tree
        for one_off in 10..100 {
            t.route(one_off, [9].into_iter());
        }
        assert_eq!(t.len(), 3);
        assert!(t.eager(&1).is_some(), "one-off origins pushed out a tree");
        // Only trees left: the least recently active goes.
        let mut t = OriginTrees::<u64>::new(2);
        for o in [1, 1, 2, 2, 1, 3] {
            t.route(o, [9].into_iter());
        }
        assert!(t.eager(&1).is_some() && t.eager(&2).is_none());
    }

    #[test]
    fn bounded_least_recently_active_forgotten_first() {
        let mut t = OriginTrees::<u64>::new(2);
        t.route(1, [9].into_iter());
        t.route(2, [9].into_iter());
        t.route(1, [9].into_iter()); // 1 is now the most recent
        t.route(3, [9].into_iter()); // evicts 2
        assert_eq!(t.len(), 2);
        assert!(t.route(1, [9].into_iter()));
        assert!(!t.route(2, [9].into_iter()), "2 was forgotten: its message takes the shared tree");
        t.set_capacity(1);
        assert_eq!(t.len(), 1);
        t.set_capacity(0);
        assert!(!t.route(5, [9].into_iter()));
        assert_eq!(t.len(), 0);
    }
}
