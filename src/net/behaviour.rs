//! The `NetworkBehaviour` that carries hypar frames: it dials peers when the
//! protocol sends to them, keeps connections open while some topic needs
//! them, refuses payloads for congested connections, remembers peers'
//! addresses (bounded), closes connections whose peer fell silent, and
//! reports frames, dial failures, lost frames, drained queues and
//! disconnections to the runtime.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::task::{Context, Poll};

use hypar_proto::{Message, TopicId};
use libp2p::core::transport::PortUse;
use libp2p::core::Endpoint;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{
    CloseConnection, ConnectionDenied, ConnectionId, DialError, FromSwarm, NetworkBehaviour, NotifyHandler, THandler,
    THandlerInEvent, THandlerOutEvent, ToSwarm,
};
use libp2p::{Multiaddr, PeerId};

use crate::FastMap;

use super::handler::{Gauge, Handler, In, Limits, Liveness, Out, OutFrame, Rate};
use hypar_proto::wire::Frame;

/// Control frames (anything but a payload) may queue to this many times the
/// congestion limits before they are dropped.
const CONTROL_FACTOR: usize = 4;

/// Peers whose addresses are remembered at most.
const ADDRESS_BOOK_CAPACITY: usize = 8192;
/// Peers with frames waiting for a connection at most.
const MAX_WAITING_PEERS: usize = 1024;

#[derive(Debug)]
pub(crate) enum Event {
    /// A frame arrived from `peer`; `size` is its length on the wire.
    Frame { peer: PeerId, frame: Frame<PeerId>, size: usize },
    /// The last connection to `peer` closed.
    Disconnected { peer: PeerId },
    /// `peer` could not be dialed; frames waiting for it were dropped.
    DialFailed { peer: PeerId },
    /// A dial to an address whose peer id was not known finished.
    AddressDialed { addr: Multiaddr, result: Result<PeerId, String> },
    /// `peer` sent bytes that are not a valid frame; the connection was closed.
    Malformed { peer: PeerId, error: String },
    /// `peer` sent a frame whose body is malformed; it was skipped, and the
    /// connection (its other topics) goes on.
    BadFrame { peer: PeerId, error: String },
    /// Frames to `peer` lost: `count` in all (dropped, or with a failed
    /// stream), and the payload messages among them, to repair.
    Lost { peer: PeerId, count: usize, payloads: Vec<(TopicId, Message<PeerId>)> },
    /// The connection to `peer` was congested and has drained.
    Drained { peer: PeerId },
    /// Frames written to a peer went out this many bytes shorter, per
    /// topic, than they were handed over.
    Shortened { saved: Vec<(TopicId, u64)> },
    /// The stream to `peer` kept failing; the connection was closed.
    Broken { peer: PeerId },
    /// `peer`, a neighbour, sent nothing for the liveness timeout; the
    /// connection was closed.
    Silent { peer: PeerId },
}

pub(crate) struct Behaviour {
    max_frame: usize,
    limits: Limits,
    liveness: Liveness,
    rate: Rate,
    connections: FastMap<PeerId, Vec<ConnectionId>>,
    /// What each connection has queued (connections whose handler exists).
    gauges: FastMap<ConnectionId, Arc<Gauge>>,
    waiting: HashMap<PeerId, VecDeque<OutFrame>>,
    addresses: HashMap<PeerId, Vec<Multiaddr>>,
    address_order: VecDeque<PeerId>,
    keep: HashSet<PeerId>,
    address_dials: HashMap<ConnectionId, Multiaddr>,
    events: VecDeque<ToSwarm<Event, In>>,
    /// Peers refused: no connection to or from them is established (bounded
    /// by the runtime's ban list, which lifts bans here).
    banned: HashSet<PeerId>,
    /// Connections that are relayed circuits (a subset of `gauges`' keys).
    relayed: HashSet<ConnectionId>,
}

impl Behaviour {
    pub(crate) fn new(max_frame: usize, limits: Limits, liveness: Liveness, rate: Rate) -> Self {
        Behaviour {
            max_frame,
            limits,
            liveness,
            rate,
            connections: FastMap::default(),
            gauges: FastMap::default(),
            waiting: HashMap::new(),
            addresses: HashMap::new(),
            address_order: VecDeque::new(),
            keep: HashSet::new(),
            address_dials: HashMap::new(),
            events: VecDeque::new(),
            banned: HashSet::new(),
            relayed: HashSet::new(),
        }
    }

    /// Send a frame to `peer`, dialing it if needed. A payload frame for a
    /// congested connection is refused and handed back; a control frame is
    /// queued up to [`CONTROL_FACTOR`] times the limits, then dropped.
    pub(crate) fn send(&mut self, peer: PeerId, frame: OutFrame) -> Result<(), OutFrame> {
        if let Some(&conn) = self.connections.get(&peer).and_then(|c| c.first()) {
            if let Some(gauge) = self.gauges.get(&conn) {
                if frame.payload.is_some() && gauge.is_over(self.limits, 1) {
                    gauge.mark_congested();
                    return Err(frame);
                }
                if gauge.is_over(self.limits, CONTROL_FACTOR) {
                    self.lost(peer, frame);
                    return Ok(());
                }
                gauge.add(frame.bytes.len());
            }
            self.events.push_back(ToSwarm::NotifyHandler {
                peer_id: peer,
                handler: NotifyHandler::One(conn),
                event: In::Send(frame),
            });
            return Ok(());
        }
        if let Some(queue) = self.waiting.get_mut(&peer) {
            if queue.len() < self.limits.frames {
                queue.push_back(frame);
            } else if frame.payload.is_some() {
                return Err(frame);
            } else {
                self.lost(peer, frame);
            }
            return Ok(());
        }
        if !self.addresses.contains_key(&peer) || self.waiting.len() >= MAX_WAITING_PEERS {
            self.events.push_back(ToSwarm::GenerateEvent(Event::DialFailed { peer }));
            return Ok(());
        }
        self.waiting.insert(peer, VecDeque::from([frame]));
        // Not `DisconnectedAndNotDialing`: a connection that is closing
        // still counts as connected to the swarm, and must not stop the
        // dial that replaces it.
        let opts = DialOpts::peer_id(peer).condition(PeerCondition::NotDialing).build();
        self.events.push_back(ToSwarm::Dial { opts });
        Ok(())
    }

    /// Whether the connection to `peer` is congested: payloads for it would
    /// be refused. A peer not connected is not congested.
    pub(crate) fn is_congested(&self, peer: &PeerId) -> bool {
        self.gauge_of(peer).is_some_and(|g| g.is_over(self.limits, 1))
    }

    /// Have the connection to `peer` report when its queue drains
    /// ([`Event::Drained`]).
    pub(crate) fn notify_when_drained(&self, peer: &PeerId) {
        if let Some(gauge) = self.gauge_of(peer) {
            gauge.mark_congested();
        }
    }

    /// The gauge of the connection frames to `peer` go through.
    fn gauge_of(&self, peer: &PeerId) -> Option<&Arc<Gauge>> {
        self.connections.get(peer).and_then(|c| c.first()).and_then(|c| self.gauges.get(c))
    }

    /// Report one frame to `peer` as lost.
    fn lost(&mut self, peer: PeerId, frame: OutFrame) {
        let payloads = frame.payload.into_iter().map(|p| *p).collect();
        self.events.push_back(ToSwarm::GenerateEvent(Event::Lost { peer, count: 1, payloads }));
    }

    /// Dial an address whose peer id is unknown (a bootstrap address such as
    /// `/dns4/host/tcp/4001`); the outcome arrives as [`Event::AddressDialed`].
    pub(crate) fn dial_address(&mut self, addr: Multiaddr) {
        let opts = DialOpts::unknown_peer_id().address(addr.clone()).build();
        self.address_dials.insert(opts.connection_id(), addr);
        self.events.push_back(ToSwarm::Dial { opts });
    }

    /// Whether some topic needs the connection to `peer` kept open.
    pub(crate) fn set_keep_alive(&mut self, peer: PeerId, keep: bool) {
        let changed = if keep { self.keep.insert(peer) } else { self.keep.remove(&peer) };
        if !changed {
            return;
        }
        for &c in self.connections.get(&peer).into_iter().flatten() {
            self.events.push_back(ToSwarm::NotifyHandler {
                peer_id: peer,
                handler: NotifyHandler::One(c),
                event: In::KeepAlive(keep),
            });
        }
    }

    /// Refuse every new connection to or from `peer`, and drop the frames
    /// waiting for one. Existing connections carry what is queued (the
    /// DISCONNECTs the ban sends) until [`Behaviour::close_all`].
    pub(crate) fn ban(&mut self, peer: PeerId) {
        self.banned.insert(peer);
        self.keep.remove(&peer);
        self.waiting.remove(&peer);
    }

    /// Accept `peer` again.
    pub(crate) fn unban(&mut self, peer: &PeerId) {
        self.banned.remove(peer);
    }

    /// Close every connection to `peer`.
    pub(crate) fn close_all(&mut self, peer: PeerId) {
        self.events.push_back(ToSwarm::CloseConnection { peer_id: peer, connection: CloseConnection::All });
    }

    fn refuse_banned(&self, peer: &PeerId) -> Result<(), ConnectionDenied> {
        match self.banned.contains(peer) {
            true => Err(ConnectionDenied::new(format!("peer {peer} is banned"))),
            false => Ok(()),
        }
    }

    /// Stop or resume reading frames from `peer` (see [`In::Pause`]).
    pub(crate) fn pause_reading(&mut self, peer: PeerId, paused: bool) {
        for &c in self.connections.get(&peer).into_iter().flatten() {
            self.events.push_back(ToSwarm::NotifyHandler {
                peer_id: peer,
                handler: NotifyHandler::One(c),
                event: In::Pause(paused),
            });
        }
    }

    /// Remember addresses at which `peer` can be dialed.
    pub(crate) fn add_addresses(&mut self, peer: PeerId, addrs: Vec<Multiaddr>) {
        if addrs.is_empty() {
            return;
        }
        if !self.addresses.contains_key(&peer) {
            // Evict the oldest peer that is neither connected nor needed, in
            // at most one pass (if all are, the book grows by them only).
            let mut tries = self.address_order.len();
            while self.addresses.len() >= ADDRESS_BOOK_CAPACITY && tries > 0 {
                tries -= 1;
                let Some(old) = self.address_order.pop_front() else { break };
                if self.connections.contains_key(&old) || self.keep.contains(&old) {
                    self.address_order.push_back(old);
                } else {
                    self.addresses.remove(&old);
                }
            }
            self.address_order.push_back(peer);
        }
        let known = self.addresses.entry(peer).or_default();
        for a in addrs {
            if !known.contains(&a) {
                known.insert(0, a);
            }
        }
        known.truncate(super::peer_data::MAX_ADDRS);
    }

    /// Send nothing more through `connection` (it is closing or closed).
    fn forget_connection(&mut self, peer: PeerId, connection: ConnectionId) {
        if let Some(conns) = self.connections.get_mut(&peer) {
            conns.retain(|c| *c != connection);
            if conns.is_empty() {
                self.connections.remove(&peer);
            }
        }
    }

    /// Whether frames to `peer` go through a relay (its only connections
    /// are relayed circuits). A peer not connected is not.
    pub(crate) fn is_relayed(&self, peer: &PeerId) -> bool {
        self.connections.get(peer).and_then(|c| c.first()).is_some_and(|c| self.relayed.contains(c))
    }

    /// Remember addresses for `peer` that a third party passed on: kept
    /// only in free room, after those known, so they never displace what
    /// the peer itself or a dial proved.
    pub(crate) fn add_addresses_if_room(&mut self, peer: PeerId, addrs: Vec<Multiaddr>) {
        let Some(known) = self.addresses.get_mut(&peer) else { return self.add_addresses(peer, addrs) };
        for a in addrs {
            if known.len() >= super::peer_data::MAX_ADDRS {
                break;
            }
            if !known.contains(&a) {
                known.push(a);
            }
        }
    }

    fn close(&mut self, peer: PeerId, connection: ConnectionId) {
        self.events.push_back(ToSwarm::CloseConnection { peer_id: peer, connection: CloseConnection::One(connection) });
    }

    fn handler_for(&mut self, connection: ConnectionId, peer: &PeerId) -> Handler {
        let gauge = Arc::new(Gauge::default());
        self.gauges.insert(connection, gauge.clone());
        Handler::new(self.max_frame, self.limits, self.liveness, self.rate, gauge, self.keep.contains(peer))
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = Handler;
    type ToSwarm = Event;

    fn handle_established_inbound_connection(
        &mut self,
        connection: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.refuse_banned(&peer)?;
        Ok(self.handler_for(connection, &peer))
    }

    fn handle_pending_outbound_connection(
        &mut self,
        _: ConnectionId,
        peer: Option<PeerId>,
        _: &[Multiaddr],
        _: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        if let Some(p) = &peer {
            self.refuse_banned(p)?;
        }
        Ok(peer.and_then(|p| self.addresses.get(&p).cloned()).unwrap_or_default())
    }

    fn handle_established_outbound_connection(
        &mut self,
        connection: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.refuse_banned(&peer)?;
        Ok(self.handler_for(connection, &peer))
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ConnectionEstablished(e) => {
                // Frames go through the first connection. A direct one takes
                // over from a relayed one, which is closed (what it still
                // holds is reported lost and repaired over the direct one);
                // a relayed one arriving when a direct one exists is closed.
                let conns = self.connections.entry(e.peer_id).or_default();
                let relayed = &mut self.relayed;
                let first_direct = conns.first().is_some_and(|c| !relayed.contains(c));
                let mut close = Vec::new();
                if e.endpoint.is_relayed() {
                    relayed.insert(e.connection_id);
                    conns.push(e.connection_id);
                    if first_direct {
                        close.push(e.connection_id);
                    }
                } else if first_direct {
                    conns.push(e.connection_id);
                } else {
                    conns.insert(0, e.connection_id);
                    close.extend(conns.iter().filter(|c| relayed.contains(c)));
                }
                for c in close {
                    self.events.push_back(ToSwarm::CloseConnection {
                        peer_id: e.peer_id,
                        connection: CloseConnection::One(c),
                    });
                }
                if let Some(addr) = self.address_dials.remove(&e.connection_id) {
                    self.add_addresses(e.peer_id, vec![addr.clone()]);
                    let result = Ok(e.peer_id);
                    self.events.push_back(ToSwarm::GenerateEvent(Event::AddressDialed { addr, result }));
                }
                let gauge = self.gauges.get(&e.connection_id).cloned();
                for frame in self.waiting.remove(&e.peer_id).into_iter().flatten() {
                    if let Some(g) = &gauge {
                        g.add(frame.bytes.len());
                    }
                    self.events.push_back(ToSwarm::NotifyHandler {
                        peer_id: e.peer_id,
                        handler: NotifyHandler::One(e.connection_id),
                        event: In::Send(frame),
                    });
                }
            }
            FromSwarm::ConnectionClosed(e) => {
                self.gauges.remove(&e.connection_id);
                self.relayed.remove(&e.connection_id);
                self.forget_connection(e.peer_id, e.connection_id);
                if e.remaining_established == 0 {
                    self.connections.remove(&e.peer_id);
                    // Frames that waited for a new connection (repairs of
                    // what the closed one held) are lost with it: the peer
                    // leaves the views now, and would take them as a
                    // non-neighbour's.
                    // Reported after the disconnection, so nothing is
                    // repaired towards a peer that is no neighbour now.
                    self.events.push_back(ToSwarm::GenerateEvent(Event::Disconnected { peer: e.peer_id }));
                    if let Some(frames) = self.waiting.remove(&e.peer_id) {
                        let count = frames.len();
                        let payloads = frames.into_iter().filter_map(|f| f.payload.map(|p| *p)).collect();
                        self.events.push_back(ToSwarm::GenerateEvent(Event::Lost { peer: e.peer_id, count, payloads }));
                    }
                }
            }
            FromSwarm::ListenFailure(e) => {
                self.gauges.remove(&e.connection_id);
            }
            FromSwarm::DialFailure(e) => {
                self.gauges.remove(&e.connection_id);
                if let Some(addr) = self.address_dials.remove(&e.connection_id) {
                    let result = Err(e.error.to_string());
                    self.events.push_back(ToSwarm::GenerateEvent(Event::AddressDialed { addr, result }));
                }
                // A dial refused because one to the peer is under way (frames
                // sent after a connection closed, while its redial ran) is no
                // failure: the frames wait for that dial, whose outcome
                // decides.
                let under_way = matches!(e.error, DialError::DialPeerConditionFalse(_));
                if let Some(peer) = e.peer_id {
                    if !under_way && !self.connections.contains_key(&peer) && self.waiting.remove(&peer).is_some() {
                        self.events.push_back(ToSwarm::GenerateEvent(Event::DialFailed { peer }));
                    }
                }
            }
            _ => {}
        }
    }

    fn on_connection_handler_event(&mut self, peer: PeerId, connection: ConnectionId, event: THandlerOutEvent<Self>) {
        let event = match event {
            Out::Closing => return self.forget_connection(peer, connection),
            Out::Frame(frame, size) => Event::Frame { peer, frame: *frame, size },
            Out::Lost { count, payloads } => Event::Lost { peer, count, payloads },
            Out::Drained => Event::Drained { peer },
            Out::Shortened(saved) => Event::Shortened { saved },
            Out::BadFrame(error) => Event::BadFrame { peer, error },
            Out::Malformed(error) => {
                self.close(peer, connection);
                Event::Malformed { peer, error }
            }
            Out::Unsupported => Event::Malformed { peer, error: format!("peer does not speak {}", super::PROTOCOL) },
            Out::Broken => {
                self.close(peer, connection);
                Event::Broken { peer }
            }
            Out::Silent => {
                self.close(peer, connection);
                Event::Silent { peer }
            }
        };
        self.events.push_back(ToSwarm::GenerateEvent(event));
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        match self.events.pop_front() {
            Some(e) => Poll::Ready(e),
            None => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;
    use libp2p::swarm::behaviour::DialFailure;
    use libp2p::swarm::ConnectionId;

    use super::*;

    /// Every event the behaviour has for the swarm now.
    fn drain(b: &mut Behaviour) -> Vec<ToSwarm<Event, In>> {
        std::iter::from_fn(|| b.events.pop_front()).collect()
    }

    fn frame(byte: u8) -> OutFrame {
        OutFrame { bytes: Bytes::from(vec![1, byte]), payload: None }
    }

    /// A send that finds the peer being dialed already (its dial refused
    /// with `DialPeerConditionFalse`) is no dial failure: its frames wait
    /// for that dial, and go out when it connects.
    #[test]
    fn a_dial_refused_because_one_is_under_way_fails_nothing() {
        let liveness = Liveness { interval: Duration::from_secs(1), timeout: Duration::from_secs(5) };
        let mut b = Behaviour::new(1 << 16, Limits { frames: 16, bytes: 1 << 20 }, liveness, Rate::default());
        let peer = PeerId::random();
        b.add_addresses(peer, vec!["/ip4/127.0.0.1/tcp/1".parse().unwrap()]);

        b.send(peer, frame(1)).unwrap();
        assert!(drain(&mut b).iter().any(|e| matches!(e, ToSwarm::Dial { .. })), "the first send dials");
        // The swarm refuses a second dial while the first is under way.
        let error = DialError::DialPeerConditionFalse(PeerCondition::NotDialing);
        let refused = ConnectionId::new_unchecked(999);
        b.on_swarm_event(FromSwarm::DialFailure(DialFailure {
            peer_id: Some(peer),
            error: &error,
            connection_id: refused,
        }));
        let events = drain(&mut b);
        assert!(
            !events.iter().any(|e| matches!(e, ToSwarm::GenerateEvent(Event::DialFailed { .. }))),
            "a refused duplicate dial was reported as a failure"
        );
        b.send(peer, frame(2)).unwrap();
        assert_eq!(b.waiting.get(&peer).map(VecDeque::len), Some(2), "both frames wait for the dial under way");
    }
}
