//! Turning commands and swarm events into protocol calls, and carrying out
//! what the protocol asks for (frames to send, timers, facts to report).

use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;
use hypar_proto::{wire, Event, Output, TopicId};
use libp2p::identify;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId};

use super::swarm::ComposedEvent;
use super::{Command, Due, Fact, Inbound, Membership, NetworkSnapshot, Runtime, TopicEntry, TopicSnapshot};
use crate::net::{peer_data, BehaviourEvent};
use crate::Error;

impl Runtime {
    pub(super) fn on_command(&mut self, cmd: Command) {
        let now = Instant::now();
        match cmd {
            Command::Join { channels, config, peers, addrs, reply } => {
                let id = channels.id;
                let (retry_initial, retry_max) = (config.hyparview.join_retry_initial, config.hyparview.join_retry_max);
                let result = self.state.join(id, *config, peers, now, &mut self.rng, &mut self.out);
                if let Err(e) = result {
                    let _ = reply.send(Err(Error::from_proto(e, &channels.name)));
                    return;
                }
                self.topics.insert(id, TopicEntry { channels, retry_initial, retry_max, bytes_in: 0, bytes_out: 0 });
                for addr in addrs {
                    self.dial_bootstrap(id, addr, 0);
                }
                let _ = reply.send(Ok(()));
            }
            Command::Leave { topic } => self.leave(topic),
            Command::Gossip { topic, payload } => {
                if let Some(t) = self.topics.get(&topic) {
                    t.channels.in_flight.fetch_sub(1, Ordering::AcqRel);
                    if let Err(e) = self.state.broadcast(topic, payload, now, &mut self.rng, &mut self.out) {
                        tracing::warn!(%topic, "publish refused: {e}");
                    }
                }
            }
            Command::Snapshot { reply } => {
                let _ = reply.send(self.snapshot());
            }
            Command::Shutdown | Command::Crash => {}
        }
    }

    pub(super) fn leave(&mut self, topic: TopicId) {
        if let Some(entry) = self.topics.remove(&topic) {
            entry.channels.close();
            self.timers.cancel_where(|due| match due {
                Due::Proto(timer) => timer.topic == topic,
                Due::Redial { topic: t, .. } => *t == topic,
            });
            let _ = self.state.leave(topic, Instant::now(), &mut self.rng, &mut self.out);
        }
    }

    pub(super) fn on_swarm_event(&mut self, event: SwarmEvent<ComposedEvent>) {
        let now = Instant::now();
        match event {
            SwarmEvent::Behaviour(ComposedEvent::Hypar(e)) => match e {
                BehaviourEvent::Frame { peer, frame, size } => {
                    if let Some(t) = self.topics.get_mut(&frame.topic) {
                        t.bytes_in += size as u64;
                    }
                    self.state.on_message(peer, frame.topic, frame.message, now, &mut self.rng, &mut self.out);
                }
                BehaviourEvent::Disconnected { peer } => {
                    self.state.on_peer_disconnected(peer, now, &mut self.rng, &mut self.out)
                }
                BehaviourEvent::DialFailed { peer } => {
                    self.state.on_dial_failed(peer, now, &mut self.rng, &mut self.out)
                }
                BehaviourEvent::AddressDialed { addr, result } => self.on_address_dialed(addr, result),
                BehaviourEvent::Malformed { peer, error } => {
                    tracing::warn!(%peer, "closed a connection that sent an invalid frame: {error}");
                }
                BehaviourEvent::Broken { peer } => {
                    tracing::warn!(%peer, "closed a connection whose outbound stream kept failing");
                }
                BehaviourEvent::Dropped { peer, count } => {
                    tracing::debug!(%peer, count, "frames dropped");
                    self.handle.frames_dropped.fetch_add(count as u64, Ordering::Relaxed);
                }
            },
            SwarmEvent::Behaviour(ComposedEvent::Identify(identify::Event::Received { peer_id, info, .. })) => {
                let addrs: Vec<Multiaddr> =
                    info.listen_addrs.iter().take(peer_data::MAX_ADDRS).map(peer_data::without_peer_id).collect();
                self.swarm.behaviour_mut().hypar.add_addresses(peer_id, addrs);
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                let mut addrs = self.handle.listen_addrs.write();
                if !addrs.contains(&address) {
                    addrs.push(address);
                }
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                self.handle.listen_addrs.write().retain(|a| *a != address);
            }
            _ => {}
        }
    }

    /// Carry out what the protocol asked for.
    pub(super) fn flush(&mut self) {
        let out = std::mem::take(&mut self.out);
        for o in out {
            match o {
                Output::Send { to, topic, message } => {
                    let mut frame = Vec::new();
                    let max = self.handle.config.max_message_size;
                    if let Err(e) = wire::encode(&topic, &message, max, &mut frame) {
                        tracing::warn!(%topic, kind = message.kind(), "cannot encode: {e}");
                        continue;
                    }
                    if let Some(t) = self.topics.get_mut(&topic) {
                        t.bytes_out += frame.len() as u64;
                    }
                    self.swarm.behaviour_mut().hypar.send(to, Bytes::from(frame));
                }
                Output::Timer { after, timer } => self.schedule(after, Due::Proto(timer)),
                Output::Event { topic, event } => self.on_proto_event(topic, event),
                Output::PeerData { peer, data } => {
                    self.swarm.behaviour_mut().hypar.add_addresses(peer, peer_data::decode(&data));
                }
                Output::Disconnect { peer } => self.swarm.behaviour_mut().hypar.set_keep_alive(peer, false),
            }
        }
    }

    fn on_proto_event(&mut self, topic: TopicId, event: Event<PeerId>) {
        let what = match event {
            Event::Delivered(d) => {
                if let Some(t) = self.topics.get(&topic) {
                    t.channels.deliver(&Inbound { payload: d.payload, hops: d.hops });
                }
                return;
            }
            Event::Joined => Membership::Joined,
            Event::NeighborUp(p) => {
                self.swarm.behaviour_mut().hypar.set_keep_alive(p, true);
                Membership::NeighborUp(p)
            }
            Event::NeighborDown(p) => Membership::NeighborDown(p),
            Event::BootstrapFailed => Membership::BootstrapFailed,
        };
        self.report(topic, what);
    }

    /// Tell every fact subscriber what happened in `topic`.
    pub(super) fn report(&self, topic: TopicId, what: Membership) {
        if let Some(t) = self.topics.get(&topic) {
            self.handle.facts.publish(Fact { topic: t.channels.name.clone(), what });
        }
    }

    fn snapshot(&self) -> NetworkSnapshot {
        let topics = self
            .topics
            .values()
            .filter_map(|e| {
                let t = self.state.topic(&e.channels.id)?;
                Some(TopicSnapshot {
                    name: e.channels.name.clone(),
                    active_view: t.active().count(),
                    passive_view: t.passive().count(),
                    tree_links: t.eager().len(),
                    counters: t.counters(),
                    subscriber_drops: e.channels.subscriber_drops.load(Ordering::Relaxed),
                    bytes_in: e.bytes_in,
                    bytes_out: e.bytes_out,
                })
            })
            .collect();
        NetworkSnapshot {
            topics,
            connected_peers: self.swarm.connected_peers().count(),
            frames_dropped: self.handle.frames_dropped.load(Ordering::Relaxed),
        }
    }
}
