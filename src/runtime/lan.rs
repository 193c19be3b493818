//! LAN discovery: peers that mDNS finds are dialed, and those whose
//! identify record lists hypar's protocol become join candidates for every
//! joined topic (now, and for topics joined later while they stay on the
//! LAN). Peers that merely run libp2p (another application on the LAN) are
//! never sent a hypar frame, so never penalised for not speaking it.

use std::collections::VecDeque;
use std::time::Instant;

use hypar_proto::{PeerInfo, TopicId};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::{identify, mdns, Multiaddr, PeerId};

use super::Runtime;

/// LAN peers checked or remembered at most; beyond it the oldest go first.
const CAPACITY: usize = 256;

/// What mDNS found, bounded.
#[derive(Default)]
pub(super) struct LanPeers {
    /// Discovered, dialed, and waiting for their identify record.
    unchecked: VecDeque<PeerId>,
    /// Discovered and speaking hypar, oldest first.
    hypar: VecDeque<PeerId>,
}

/// Push `peer` to the back of `queue` unless it is there, dropping the
/// oldest beyond [`CAPACITY`].
fn remember(queue: &mut VecDeque<PeerId>, peer: PeerId) {
    if queue.contains(&peer) {
        return;
    }
    if queue.len() >= CAPACITY {
        queue.pop_front();
    }
    queue.push_back(peer);
}

impl Runtime {
    pub(super) fn on_mdns(&mut self, event: mdns::Event) {
        match event {
            mdns::Event::Discovered(found) => {
                let me = self.handle.peer_id;
                let mut peers: Vec<(PeerId, Vec<Multiaddr>)> = Vec::new();
                for (peer, addr) in found.into_iter().filter(|(p, _)| *p != me) {
                    match peers.iter_mut().find(|(p, _)| *p == peer) {
                        Some((_, addrs)) => addrs.push(addr),
                        None => peers.push((peer, vec![addr])),
                    }
                }
                for (peer, addrs) in peers {
                    self.swarm.behaviour_mut().hypar.add_addresses(peer, addrs);
                    if self.lan.hypar.contains(&peer) {
                        continue;
                    }
                    tracing::debug!(%peer, "found on the LAN; checking that it speaks hypar");
                    remember(&mut self.lan.unchecked, peer);
                    // Connected already (it found us first): its next
                    // identify record (they are exchanged again every few
                    // minutes) decides; never a JOIN on trust.
                    let opts = DialOpts::peer_id(peer).condition(PeerCondition::DisconnectedAndNotDialing).build();
                    if let Err(e) = self.swarm.dial(opts) {
                        tracing::debug!(%peer, "not dialing a LAN peer: {e}");
                    }
                }
            }
            mdns::Event::Expired(gone) => {
                for (peer, _) in gone {
                    self.lan.unchecked.retain(|p| *p != peer);
                    self.lan.hypar.retain(|p| *p != peer);
                }
            }
        }
    }

    /// `peer` identified itself: if mDNS found it and it speaks hypar, it is
    /// a LAN peer.
    pub(super) fn check_lan_peer(&mut self, peer: PeerId, info: &identify::Info) {
        let Some(i) = self.lan.unchecked.iter().position(|p| *p == peer) else { return };
        self.lan.unchecked.remove(i);
        if info.protocols.contains(&crate::net::PROTOCOL) {
            self.on_lan_peer(peer);
        } else {
            tracing::debug!(%peer, "a LAN peer that does not speak hypar; ignored");
        }
    }

    fn on_lan_peer(&mut self, peer: PeerId) {
        remember(&mut self.lan.hypar, peer);
        let topics: Vec<TopicId> = self.topics.keys().copied().collect();
        for topic in topics {
            self.offer_lan_peer(topic, peer);
        }
    }

    /// Offer every LAN peer known to a topic just joined.
    pub(super) fn offer_lan_peers(&mut self, topic: TopicId) {
        for peer in self.lan.hypar.clone() {
            self.offer_lan_peer(topic, peer);
        }
    }

    fn offer_lan_peer(&mut self, topic: TopicId, peer: PeerId) {
        let info = PeerInfo { id: peer, data: None };
        let _ = self.state.add_candidate(topic, info, Instant::now(), &mut self.rng, &mut self.out);
    }
}
