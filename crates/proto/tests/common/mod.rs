//! A driver for one protocol `State` in tests: feeds inputs, collects outputs.
#![allow(dead_code)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hypar_proto::*;
use rand::rngs::SmallRng;
use rand::SeedableRng;

pub(crate) const ME: u32 = 0;

pub(crate) struct Node {
    pub state: State<u32>,
    pub out: Vec<Output<u32>>,
    pub now: Instant,
    pub rng: SmallRng,
    pub topic: TopicId,
    /// The pending deadline of each armed timer, as a driver keeps them:
    /// arming a timer again replaces its deadline.
    pub armed: HashMap<TimerKind, Instant>,
}

impl Node {
    pub(crate) fn new(config: ProtocolConfig<u32>, bootstrap: &[u32]) -> Self {
        let mut n = Node {
            state: State::new(ME, None),
            out: Vec::new(),
            now: Instant::now(),
            rng: SmallRng::seed_from_u64(7),
            topic: TopicId::from_name("test"),
            armed: HashMap::new(),
        };
        let boot = bootstrap.iter().map(|&b| PeerInfo::new(b)).collect();
        n.state.join(n.topic, config, boot, n.now, &mut n.rng, &mut n.out).unwrap();
        n
    }

    pub(crate) fn topic(&self) -> &Topic<u32> {
        self.state.topic(&self.topic).unwrap()
    }

    /// The outputs so far, noting the timers they arm.
    pub(crate) fn take(&mut self) -> Vec<Output<u32>> {
        for o in &self.out {
            if let Output::Timer { after, timer } = o {
                self.armed.insert(timer.kind, self.now + *after);
            }
        }
        std::mem::take(&mut self.out)
    }

    pub(crate) fn recv(&mut self, from: u32, message: Message<u32>) -> Vec<Output<u32>> {
        self.state.on_message(from, self.topic, message, self.now, &mut self.rng, &mut self.out);
        self.take()
    }

    /// Fire the timer `kind`, first advancing the clock to its deadline if
    /// it is armed for later (as a driver would).
    pub(crate) fn timer(&mut self, kind: TimerKind) -> Vec<Output<u32>> {
        if let Some(at) = self.armed.remove(&kind) {
            self.now = self.now.max(at);
        }
        let timer = Timer { topic: self.topic, generation: self.topic().generation(), kind };
        self.state.on_timer(timer, self.now, &mut self.rng, &mut self.out);
        self.take()
    }

    pub(crate) fn dial_failed(&mut self, peer: u32) -> Vec<Output<u32>> {
        self.state.on_dial_failed(peer, self.now, &mut self.rng, &mut self.out);
        self.take()
    }

    pub(crate) fn disconnected(&mut self, peer: u32) -> Vec<Output<u32>> {
        self.state.on_peer_disconnected(peer, self.now, &mut self.rng, &mut self.out);
        self.take()
    }

    pub(crate) fn broadcast(&mut self, payload: &[u8]) -> Result<(MessageId, Vec<Output<u32>>), ProtoError> {
        let id = self.state.broadcast(
            self.topic,
            Bytes::copy_from_slice(payload),
            self.now,
            &mut self.rng,
            &mut self.out,
        )?;
        Ok((id, self.take()))
    }

    pub(crate) fn configure(&mut self, config: ProtocolConfig<u32>) -> Result<Vec<Output<u32>>, ProtoError> {
        self.state.configure(self.topic, config, self.now, &mut self.rng, &mut self.out)?;
        Ok(self.take())
    }

    pub(crate) fn advance(&mut self, d: Duration) {
        self.now += d;
    }

    /// Make `peers` active neighbours by accepting their high-priority NEIGHBOR requests.
    pub(crate) fn with_neighbors(mut self, peers: &[u32]) -> Self {
        for &p in peers {
            self.recv(p, Message::Neighbor { priority: Priority::High, data: None });
        }
        self.take();
        self
    }

    pub(crate) fn active(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self.topic().active().copied().collect();
        v.sort();
        v
    }

    pub(crate) fn passive(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self.topic().passive().copied().collect();
        v.sort();
        v
    }
}

/// The messages sent in `out`, as (to, message).
pub(crate) fn sends(out: &[Output<u32>]) -> Vec<(u32, Message<u32>)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send { to, message, .. } => Some((*to, message.clone())),
            _ => None,
        })
        .collect()
}

pub(crate) fn events(out: &[Output<u32>]) -> Vec<Event<u32>> {
    out.iter()
        .filter_map(|o| match o {
            Output::Event { event, .. } => Some(event.clone()),
            _ => None,
        })
        .collect()
}

pub(crate) fn timers(out: &[Output<u32>]) -> Vec<TimerKind> {
    out.iter()
        .filter_map(|o| match o {
            Output::Timer { timer, .. } => Some(timer.kind),
            _ => None,
        })
        .collect()
}

/// The peer that publishes the test messages: message `n` is number `n` of
/// its session 1.
pub(crate) const ORIGIN: u32 = 99;

/// The id of test message `n`.
pub(crate) fn id(n: u8) -> MessageId {
    MessageId::derive(&ORIGIN, 1, u64::from(n))
}

/// A copy of the test message whose id is `id`, `age_ms` old.
pub(crate) fn gossip_aged(id: MessageId, hops: u16, age_ms: u32, payload: &[u8]) -> Message<u32> {
    let n = (0..=u8::MAX).find(|n| self::id(*n) == id).expect("an id from id()");
    Message::Gossip(Gossip::new(ORIGIN, 1, u64::from(n), hops, age_ms, Bytes::copy_from_slice(payload)))
}

/// A fresh copy of the test message whose id is `id`.
pub(crate) fn gossip(id: MessageId, hops: u16, payload: &[u8]) -> Message<u32> {
    gossip_aged(id, hops, 0, payload)
}
