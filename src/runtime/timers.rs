//! The network thread's timers: at most one pending deadline per key.
//! Arming a key again moves its deadline, so the table never holds more
//! entries than there are distinct keys (a handful per topic).

use std::collections::BTreeSet;
use std::hash::Hash;
use std::time::Instant;

use crate::FastMap;

/// Deadlines by key, earliest first.
pub(crate) struct TimerTable<K> {
    by_key: FastMap<K, Instant>,
    by_deadline: BTreeSet<(Instant, K)>,
}

impl<K: Ord + Hash + Clone> TimerTable<K> {
    pub(crate) fn new() -> Self {
        TimerTable { by_key: FastMap::default(), by_deadline: BTreeSet::new() }
    }

    /// Fire `key` at `at`, replacing any deadline it had.
    pub(crate) fn arm(&mut self, key: K, at: Instant) {
        if let Some(old) = self.by_key.insert(key.clone(), at) {
            self.by_deadline.remove(&(old, key.clone()));
        }
        self.by_deadline.insert((at, key));
    }

    /// Forget every key `drop` selects.
    pub(crate) fn cancel_where(&mut self, drop: impl Fn(&K) -> bool) {
        self.by_key.retain(|k, _| !drop(k));
        self.by_deadline.retain(|(_, k)| !drop(k));
    }

    /// The earliest deadline.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.by_deadline.first().map(|(at, _)| *at)
    }

    /// Remove and return a key whose deadline is at or before `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<K> {
        let (at, _) = self.by_deadline.first()?;
        if *at > now {
            return None;
        }
        let (_, key) = self.by_deadline.pop_first()?;
        self.by_key.remove(&key);
        Some(key)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.by_key.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn rearming_moves_the_deadline_instead_of_adding_one() {
        let t0 = Instant::now();
        let mut t = TimerTable::new();
        for i in 0..1000u64 {
            t.arm("graft", t0 + Duration::from_millis(i));
        }
        t.arm("shuffle", t0 + Duration::from_millis(500));
        assert_eq!(t.len(), 2);
        assert_eq!(t.pop_due(t0 + Duration::from_millis(600)), Some("shuffle"));
        assert_eq!(t.pop_due(t0 + Duration::from_millis(600)), None, "graft moved to 999 ms");
        assert_eq!(t.next_deadline(), Some(t0 + Duration::from_millis(999)));
        t.cancel_where(|k| *k == "graft");
        assert_eq!((t.len(), t.next_deadline()), (0, None));
    }
}
