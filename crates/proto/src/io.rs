//! The context every protocol handler runs in: the time, the random number
//! generator and the output buffer, all lent by the driver.

use std::time::{Duration, Instant};

use rand::{Rng, RngCore};

use super::{Event, Message, Offence, Output, Timer, TimerKind, TopicId};

/// Signs the bytes a signed GOSSIP's origin signs ([`crate::wire::signed_bytes`]).
pub type Signer = dyn Fn(&[u8]) -> bytes::Bytes + Send + Sync;

pub(crate) struct Io<'a, PI> {
    pub now: Instant,
    /// The wall clock at `now`, in milliseconds since the Unix epoch.
    pub wall_ms: u64,
    pub signer: Option<&'a Signer>,
    pub rng: &'a mut dyn RngCore,
    pub out: &'a mut Vec<Output<PI>>,
    pub topic: TopicId,
    pub generation: u64,
}

impl<PI> Io<'_, PI> {
    pub(crate) fn send(&mut self, to: PI, message: Message<PI>) {
        self.out.push(Output::Send { to, topic: self.topic, message });
    }

    pub(crate) fn timer(&mut self, after: Duration, kind: TimerKind) {
        self.out.push(Output::Timer { after, timer: Timer { topic: self.topic, generation: self.generation, kind } });
    }

    pub(crate) fn event(&mut self, event: Event<PI>) {
        self.out.push(Output::Event { topic: self.topic, event });
    }

    pub(crate) fn offence(&mut self, peer: PI, offence: Offence) {
        self.out.push(Output::Offence { peer, topic: self.topic, offence });
    }

    /// `d` scaled by a random factor in [0.5, 1.5), so periodic work of many
    /// nodes does not synchronise.
    pub(crate) fn jitter(&mut self, d: Duration) -> Duration {
        d.mul_f64(self.rng.gen_range(0.5..1.5))
    }
}
