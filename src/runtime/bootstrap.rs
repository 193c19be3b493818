//! Bootstrap addresses without a peer id (`/dns4/host/tcp/4001`): dialed
//! to learn who answers, then handed to the protocol as bootstrap peers;
//! redialed with the topic's join backoff while they fail.

use std::collections::HashMap;
use std::time::Instant;

use hypar_proto::{PeerInfo, TopicId};
use libp2p::{Multiaddr, PeerId};

use super::{Due, Happened, Runtime};

/// Addresses being dialed, with the topics waiting on each.
#[derive(Default)]
pub(crate) struct AddressDials(HashMap<Multiaddr, Dial>);

struct Dial {
    topics: Vec<TopicId>,
    /// Failed attempts so far.
    attempt: u32,
}

impl Runtime {
    /// Dial `addr` for `topic`; `attempt` counts the failures so far.
    pub(super) fn dial_bootstrap(&mut self, topic: TopicId, addr: Multiaddr, attempt: u32) {
        let dial = self.address_dials.0.entry(addr.clone()).or_insert(Dial { topics: Vec::new(), attempt });
        if !dial.topics.contains(&topic) {
            dial.topics.push(topic);
        }
        dial.attempt = attempt;
        self.swarm.behaviour_mut().hypar.dial_address(addr);
    }

    /// The backoff timer of a failed address fired.
    pub(super) fn redial(&mut self, topic: TopicId, addr: Multiaddr, attempt: u32) {
        if self.topics.contains_key(&topic) {
            self.dial_bootstrap(topic, addr, attempt);
        }
    }

    /// A dial of a bootstrap address finished.
    pub(super) fn on_address_dialed(&mut self, addr: Multiaddr, result: Result<PeerId, String>) {
        let Some(dial) = self.address_dials.0.remove(&addr) else { return };
        let now = Instant::now();
        match result {
            Ok(peer) => {
                for topic in dial.topics {
                    let info = PeerInfo { id: peer, data: None };
                    let _ = self.state.add_bootstrap(topic, info, now, &mut self.rng, &mut self.out);
                }
            }
            Err(reason) => {
                tracing::debug!(%addr, "bootstrap dial failed: {reason}");
                for topic in dial.topics {
                    let Some(t) = self.topics.get(&topic) else { continue };
                    let isolated = self.state.topic(&topic).is_some_and(|t| t.active().next().is_none());
                    if dial.attempt == 0 && isolated {
                        self.report(topic, Happened::BootstrapFailed);
                    }
                    let delay = t.retry_initial.saturating_mul(1 << dial.attempt.min(16)).min(t.retry_max);
                    self.schedule(delay, Due::Redial { topic, addr: addr.clone(), attempt: dial.attempt + 1 });
                }
            }
        }
    }
}
