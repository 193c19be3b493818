//! Per-peer misbehaviour scores, and bans. Each offence adds its weight to
//! the peer's score, which halves every [`HALF_LIFE`]; a peer whose score
//! reaches the network's `ban_threshold` is banned for `ban_duration`:
//! told DISCONNECT in every topic, dropped from every view, its connections
//! closed and refused. Both maps are bounded ([`MAX_RECORDS`] each).

use std::time::{Duration, Instant};

use hypar_proto::Offence;
use libp2p::PeerId;

use crate::FastMap;

/// What a peer did wrong, as the runtime sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// A breach the protocol reported.
    Protocol(Offence),
    /// A whole frame whose body did not decode (skipped).
    BadFrame,
    /// Bytes that are not a frame at all (the connection was closed).
    Garbage,
}

impl Fault {
    /// How much the fault adds to a score. Honest peers commit the light
    /// ones now and then (a frame in flight when a link went down, a topic
    /// just left); a threshold of 100 takes dozens of those within a minute,
    /// but a handful of forgeries or broken frames.
    pub(crate) fn weight(self) -> f64 {
        match self {
            Fault::Garbage => 50.0,
            Fault::BadFrame => 25.0,
            Fault::Protocol(Offence::BadSignature) => 20.0,
            Fault::Protocol(Offence::Rejected) => 10.0,
            Fault::Protocol(Offence::NotNeighbor) | Fault::Protocol(Offence::UnknownGraft) => 2.0,
            Fault::Protocol(Offence::UnknownTopic) => 1.0,
        }
    }
}

/// A score halves this often.
pub(crate) const HALF_LIFE: Duration = Duration::from_secs(60);
/// Peers with a score, and peers banned, kept at most (each).
pub(crate) const MAX_RECORDS: usize = 4096;

pub(crate) struct Penalties {
    /// Score and when it was last brought up to date.
    scores: FastMap<PeerId, (f64, Instant)>,
    /// Banned peers, and until when.
    bans: FastMap<PeerId, Instant>,
    threshold: f64,
    ban_for: Duration,
    /// Bans so far.
    pub(crate) banned_total: u64,
}

impl Penalties {
    /// Ban at `threshold` (0: never) for `ban_for`.
    pub(crate) fn new(threshold: u32, ban_for: Duration) -> Self {
        Penalties {
            scores: FastMap::default(),
            bans: FastMap::default(),
            threshold: f64::from(threshold),
            ban_for,
            banned_total: 0,
        }
    }

    /// `score` set at `since`, decayed to `now` (in whole seconds, so that
    /// faults within a second add up exactly).
    fn decayed(score: f64, since: Instant, now: Instant) -> f64 {
        let seconds = now.saturating_duration_since(since).as_secs();
        if seconds == 0 {
            return score;
        }
        score * 0.5f64.powf(seconds as f64 / HALF_LIFE.as_secs_f64())
    }

    /// Add `fault` to `peer`'s score; true if that bans it (now).
    pub(crate) fn charge(&mut self, peer: PeerId, fault: Fault, now: Instant) -> bool {
        if self.threshold == 0.0 || self.is_banned(&peer, now) {
            return false;
        }
        if self.scores.len() >= MAX_RECORDS && !self.scores.contains_key(&peer) {
            // Forget the peer whose score has decayed the most.
            let lowest = self
                .scores
                .iter()
                .map(|(p, (s, at))| (*p, Self::decayed(*s, *at, now)))
                .min_by(|a, b| a.1.total_cmp(&b.1));
            if let Some((p, _)) = lowest {
                self.scores.remove(&p);
            }
        }
        let (score, at) = self.scores.entry(peer).or_insert((0.0, now));
        if now.saturating_duration_since(*at).as_secs() > 0 {
            *score = Self::decayed(*score, *at, now);
            *at = now;
        }
        *score += fault.weight();
        if *score < self.threshold {
            return false;
        }
        self.scores.remove(&peer);
        if self.bans.len() >= MAX_RECORDS {
            let soonest = self.bans.iter().min_by_key(|(_, until)| **until).map(|(p, _)| *p);
            if let Some(p) = soonest {
                self.bans.remove(&p);
            }
        }
        self.bans.insert(peer, now + self.ban_for);
        self.banned_total += 1;
        true
    }

    /// Whether `peer` is banned at `now` (an expired ban is forgotten).
    pub(crate) fn is_banned(&mut self, peer: &PeerId, now: Instant) -> bool {
        match self.bans.get(peer) {
            Some(until) if *until > now => true,
            Some(_) => {
                self.bans.remove(peer);
                false
            }
            None => false,
        }
    }

    /// Peers whose ban is over at `now` (forgotten here).
    pub(crate) fn expired(&mut self, now: Instant) -> Vec<PeerId> {
        let over: Vec<PeerId> = self.bans.iter().filter(|(_, until)| **until <= now).map(|(p, _)| *p).collect();
        for p in &over {
            self.bans.remove(p);
        }
        over
    }

    /// Peers banned now.
    pub(crate) fn banned_now(&self) -> usize {
        self.bans.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn light_faults_decay_and_heavy_ones_ban() {
        let mut p = Penalties::new(100, Duration::from_secs(600));
        let (peer, t0) = (PeerId::random(), Instant::now());
        // Forty light faults a minute apart never add up.
        for i in 0..40 {
            assert!(!p.charge(peer, Fault::Protocol(Offence::NotNeighbor), t0 + HALF_LIFE * i));
        }
        // Five forgeries in a row do.
        let later = t0 + HALF_LIFE * 41;
        let banned: Vec<bool> = (0..5).map(|_| p.charge(peer, Fault::Protocol(Offence::BadSignature), later)).collect();
        assert_eq!(banned, [false, false, false, false, true]);
        assert!(p.is_banned(&peer, later) && p.banned_total == 1);
        assert!(!p.charge(peer, Fault::Garbage, later), "already banned");
        assert!(p.expired(later + Duration::from_secs(599)).is_empty());
        assert_eq!(p.expired(later + Duration::from_secs(600)), vec![peer]);
        assert!(!p.is_banned(&peer, later + Duration::from_secs(600)));
    }

    #[test]
    fn records_are_bounded_and_zero_never_bans() {
        let mut p = Penalties::new(100, Duration::from_secs(60));
        let now = Instant::now();
        for _ in 0..MAX_RECORDS + 100 {
            p.charge(PeerId::random(), Fault::BadFrame, now);
        }
        assert!(p.scores.len() <= MAX_RECORDS);
        for _ in 0..MAX_RECORDS + 100 {
            let peer = PeerId::random();
            for _ in 0..2 {
                p.charge(peer, Fault::Garbage, now);
            }
        }
        assert!(p.bans.len() <= MAX_RECORDS && p.banned_total == (MAX_RECORDS + 100) as u64);
        let mut never = Penalties::new(0, Duration::from_secs(60));
        let peer = PeerId::random();
        assert!((0..100).all(|_| !never.charge(peer, Fault::Garbage, now)));
    }
}
