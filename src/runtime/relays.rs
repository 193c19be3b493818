//! Reachability and relays. AutoNAT probes (answered by connected peers)
//! say whether this node can be dialed; until they say it can, the node
//! keeps one reservation on a relay among its connected peers that offer
//! relay service (rust-libp2p has no automatic relay selection), and
//! announces the relay's `/p2p-circuit` address to its neighbours. When
//! the relay goes away it reserves on another. Hole punching (DCUtR) then
//! turns relayed connections into direct ones by itself.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use libp2p::core::transport::ListenerId;
use libp2p::multiaddr::Protocol;
use libp2p::{autonat, dcutr, identify, relay, Multiaddr, PeerId};

use super::{Due, Fact, Happened, Runtime};
use crate::net::peer_data;
use crate::Reachability;

/// Relays offered by connected peers, remembered at most.
const MAX_OFFERS: usize = 32;
/// A relay that refused or lost a reservation is not asked again for this
/// long.
const RELAY_BACKOFF: Duration = Duration::from_secs(30);

/// The node's view of its reachability and its relay reservation.
#[derive(Default)]
pub(super) struct Relays {
    reachability: Reachability,
    /// The operator declared external addresses: public, whatever probes say.
    declared_public: bool,
    /// This node offers relay service.
    serves: bool,
    /// Connected peers offering relay service, with an address of theirs,
    /// oldest first.
    offers: VecDeque<(PeerId, Multiaddr)>,
    /// Relays that failed us lately, and until when they are skipped.
    failed: Vec<(PeerId, Instant)>,
    reservation: Option<Reservation>,
}

struct Reservation {
    relay: PeerId,
    listener: ListenerId,
    /// The relay accepted.
    accepted: bool,
    /// The listener reported its circuit address: a listen address now.
    bound: bool,
}

impl Reservation {
    /// Accepted and bound: reported as `RelayReserved`, and the overlay was
    /// told (one join walk per reservation), when the second of the two
    /// came.
    fn announced(&self) -> bool {
        self.accepted && self.bound
    }
}

impl Relays {
    pub(super) fn new(declared_public: bool, serves: bool) -> Self {
        Relays {
            declared_public,
            serves,
            reachability: if declared_public { Reachability::Public } else { Reachability::Unknown },
            ..Default::default()
        }
    }

    pub(super) fn reachability(&self) -> Reachability {
        self.reachability
    }

    /// The relay holding a reservation announced as `RelayReserved`.
    pub(super) fn relay(&self) -> Option<PeerId> {
        self.reservation.as_ref().filter(|r| r.announced()).map(|r| r.relay)
    }

    /// A relay with no declared address serves from its bound ones.
    pub(super) fn serves_from_bound(&self) -> bool {
        self.serves && !self.declared_public
    }
}

/// A relay tells the nodes it serves where it is reached (a reservation
/// without addresses is useless to them): without declared addresses, its
/// bound ones count as external. Circuits of its own never do.
pub(super) fn serve_from(swarm: &mut libp2p::Swarm<super::swarm::Composed>, address: &Multiaddr) {
    if !address.iter().any(|p| p == Protocol::P2pCircuit) {
        swarm.add_external_address(address.clone());
    }
}

/// The first address of `addrs` that can reach a relay directly: not a
/// circuit itself, and not loopback unless nothing else is offered.
fn relay_address(addrs: &[Multiaddr]) -> Option<Multiaddr> {
    let direct = addrs.iter().filter(|a| !a.iter().any(|p| p == Protocol::P2pCircuit));
    let is_loopback = |a: &&Multiaddr| {
        a.iter().any(|p| {
            matches!(p, Protocol::Ip4(ip) if ip.is_loopback()) || matches!(p, Protocol::Ip6(ip) if ip.is_loopback())
        })
    };
    let (loopback, other): (Vec<_>, Vec<_>) = direct.partition(is_loopback);
    other.into_iter().chain(loopback).next().map(peer_data::without_peer_id)
}

impl Runtime {
    /// A peer identified itself: remember it if it offers relay service.
    pub(super) fn note_relay_offer(&mut self, peer: PeerId, info: &identify::Info) {
        tracing::trace!(%peer, protocols = ?info.protocols, addrs = ?info.listen_addrs, "identified");
        if !info.protocols.contains(&relay::HOP_PROTOCOL_NAME) || peer == self.handle.peer_id {
            return;
        }
        let Some(addr) = relay_address(&info.listen_addrs) else { return };
        let offers = &mut self.relays.offers;
        offers.retain(|(p, _)| *p != peer);
        if offers.len() >= MAX_OFFERS {
            offers.pop_front();
        }
        offers.push_back((peer, addr));
        self.maintain_relays();
    }

    /// The last connection to `peer` closed: it offers nothing any more.
    pub(super) fn relay_peer_gone(&mut self, peer: &PeerId) {
        self.relays.offers.retain(|(p, _)| p != peer);
    }

    /// Keep one reservation while the node is not known to be public, and
    /// none once it is.
    pub(super) fn maintain_relays(&mut self) {
        // A relay serves from its own addresses and needs no relay itself.
        let public =
            self.relays.declared_public || self.relays.serves || self.relays.reachability == Reachability::Public;
        if public {
            if let Some(r) = self.relays.reservation.take() {
                self.swarm.remove_listener(r.listener);
                if r.announced() {
                    self.publish(Happened::RelayLost(r.relay));
                }
            }
            return;
        }
        if self.relays.reservation.is_some() {
            return;
        }
        let now = Instant::now();
        self.relays.failed.retain(|(_, until)| *until > now);
        // A relay that failed lately is asked again when its backoff ends
        // (the `Due::Relays` timer), not at once. The others are tried in
        // turn until one takes the request.
        let failed = &self.relays.failed;
        let candidates: Vec<(PeerId, Multiaddr)> =
            self.relays.offers.iter().filter(|(p, _)| !failed.iter().any(|(f, _)| f == p)).cloned().collect();
        for (relay, addr) in candidates {
            let circuit = addr.with(Protocol::P2p(relay)).with(Protocol::P2pCircuit);
            match self.swarm.listen_on(circuit.clone()) {
                Ok(listener) => {
                    tracing::debug!(%relay, "reserving a slot at {circuit}");
                    let reservation = Reservation { relay, listener, accepted: false, bound: false };
                    self.relays.reservation = Some(reservation);
                    return;
                }
                Err(e) => {
                    tracing::debug!(%relay, "cannot reserve at {circuit}: {e}");
                    self.relay_failed(relay);
                }
            }
        }
    }

    /// `relay` refused or lost our reservation: skip it for a while, and
    /// look again then.
    fn relay_failed(&mut self, relay: PeerId) {
        let until = Instant::now() + RELAY_BACKOFF;
        self.relays.failed.retain(|(p, _)| *p != relay);
        self.relays.failed.push((relay, until));
        if self.relays.failed.len() > MAX_OFFERS {
            self.relays.failed.remove(0);
        }
        self.schedule(RELAY_BACKOFF, Due::Relays);
    }

    pub(super) fn on_relay_client(&mut self, event: relay::client::Event) {
        if let relay::client::Event::ReservationReqAccepted { relay_peer_id, .. } = event {
            let Some(r) = self.relays.reservation.as_mut().filter(|r| r.relay == relay_peer_id) else { return };
            if !r.accepted {
                r.accepted = true;
                self.announce_reservation();
            }
        }
    }

    /// A listener closed: if it held the reservation, the reservation is
    /// gone; reserve again (elsewhere, if this relay failed).
    pub(super) fn on_listener_closed(&mut self, listener: ListenerId) {
        let Some(r) = self.relays.reservation.take_if(|r| r.listener == listener) else { return };
        if r.announced() {
            self.publish(Happened::RelayLost(r.relay));
        }
        self.relay_failed(r.relay);
        self.announce_addresses();
        self.maintain_relays();
    }

    pub(super) fn on_autonat(&mut self, event: autonat::v1::Event) {
        if let autonat::v1::Event::StatusChanged { new, .. } = event {
            let reachability = match new {
                autonat::v1::NatStatus::Public(_) => Reachability::Public,
                autonat::v1::NatStatus::Private => Reachability::Private,
                autonat::v1::NatStatus::Unknown => Reachability::Unknown,
            };
            tracing::debug!(?reachability, "reachability probed");
            // Declared addresses are the operator's word: probes do not
            // overrule them.
            if reachability != self.relays.reachability && !self.relays.declared_public {
                self.relays.reachability = reachability;
                self.publish(Happened::Reachability(reachability));
                self.maintain_relays();
            }
        }
    }

    /// A listen address appeared: announced from now on.
    pub(super) fn on_new_listen_addr(&mut self, listener: ListenerId, address: Multiaddr) {
        let reservation = self.relays.reservation.as_mut().filter(|r| r.listener == listener && !r.bound);
        let newly_bound = reservation.map(|r| r.bound = true).is_some();
        if self.relays.serves_from_bound() {
            serve_from(&mut self.swarm, &address);
        }
        let fresh = {
            let mut addrs = self.handle.listen_addrs.write();
            let fresh = !addrs.contains(&address);
            if fresh {
                addrs.push(address);
            }
            fresh
        };
        if fresh {
            self.announce_addresses();
        }
        if newly_bound {
            self.announce_reservation();
        }
    }

    /// A listen address went away: no longer announced.
    pub(super) fn on_expired_listen_addr(&mut self, address: Multiaddr) {
        if self.relays.serves_from_bound() {
            self.swarm.remove_external_address(&address);
        }
        self.handle.listen_addrs.write().retain(|a| *a != address);
        self.announce_addresses();
    }

    /// A relayed circuit makes this node reachable where it was not. Called
    /// when the relay first accepts and when the reservation's listener
    /// first reports its circuit address: once both have come (in either
    /// order), the application is told (`RelayReserved`, by which time
    /// `listen_addrs` shows the address) and so is the overlay, through a
    /// fresh join walk.
    fn announce_reservation(&mut self) {
        let Some(relay) = self.relays.reservation.as_ref().filter(|r| r.announced()).map(|r| r.relay) else {
            return;
        };
        self.publish(Happened::RelayReserved(relay));
        self.state.readvertise(Instant::now(), &mut self.rng, &mut self.out);
    }

    pub(super) fn on_dcutr(&mut self, event: dcutr::Event) {
        match event.result {
            Ok(_) => self.publish(Happened::Direct(event.remote_peer_id)),
            Err(e) => tracing::debug!(peer = %event.remote_peer_id, "hole punching failed: {e}"),
        }
    }

    /// Announce this node's addresses to its neighbours from now on:
    /// confirmed external ones first, then relayed circuits, then the
    /// bound ones (at most [`peer_data::MAX_ADDRS`]).
    pub(super) fn announce_addresses(&mut self) {
        let listen = self.handle.listen_addrs.read().clone();
        let is_circuit = |a: &Multiaddr| a.iter().any(|p| p == Protocol::P2pCircuit);
        let mut addrs: Vec<Multiaddr> = Vec::new();
        let ordered = self
            .swarm
            .external_addresses()
            .cloned()
            .chain(listen.iter().filter(|a| is_circuit(a)).cloned())
            .chain(listen.iter().filter(|a| !is_circuit(a)).cloned());
        for a in ordered.map(|a| peer_data::without_peer_id(&a)) {
            if !addrs.contains(&a) && addrs.len() < peer_data::MAX_ADDRS {
                addrs.push(a);
            }
        }
        self.state.set_my_data(Some(peer_data::encode(&addrs)));
    }

    /// A network-wide fact (its topic is empty).
    fn publish(&self, what: Happened) {
        self.handle.facts.publish(Fact { topic: "".into(), what });
    }
}
