//! Turning commands and swarm events into protocol calls, and carrying out
//! what the protocol asks for (frames to send, timers, facts to report).

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;
use hypar_proto::{wire, Event, Message, Output, TopicId, Validation};
use libp2p::identify;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId};

use super::penalties::Fault;
use super::swarm::ComposedEvent;
use super::{validation, Command, Due, Fact, Happened, Inbound, NetworkSnapshot, Runtime, TopicEntry, TopicSnapshot};
use crate::net::{peer_data, BehaviourEvent, OutFrame};
use crate::Error;

impl Runtime {
    pub(super) fn on_command(&mut self, cmd: Command) {
        let now = Instant::now();
        match cmd {
            Command::Join { channels, config, peers, addrs, validator, reply } => {
                let id = channels.id;
                let (retry_initial, retry_max) = (config.hyparview.join_retry_initial, config.hyparview.join_retry_max);
                let (signed, validation_timeout) = (config.signed, config.plumtree.validation_timeout);
                let result = self.state.join(id, *config, peers, now, &mut self.rng, &mut self.out);
                if let Err(e) = result {
                    let _ = reply.send(Err(Error::from_proto(e, &channels.name)));
                    return;
                }
                let entry = TopicEntry {
                    channels,
                    held: VecDeque::new(),
                    retry_initial,
                    retry_max,
                    bytes_in: 0,
                    bytes_out: 0,
                    missed: 0,
                    lag_reported: None,
                    signed,
                    validator,
                    validation_timeout,
                };
                self.topics.insert(id, entry);
                for addr in addrs {
                    self.dial_bootstrap(id, addr, 0);
                }
                self.offer_lan_peers(id);
                let _ = reply.send(Ok(()));
            }
            Command::Leave { topic } => self.leave(topic),
            Command::Configure { topic, config, reply } => {
                let Some(entry) = self.topics.get_mut(&topic) else {
                    let _ = reply.send(Err(Error::ShutDown));
                    return;
                };
                let new = (*config).clone();
                match self.state.configure(topic, *config, now, &mut self.rng, &mut self.out) {
                    Ok(()) => {
                        entry.retry_initial = new.hyparview.join_retry_initial;
                        entry.retry_max = new.hyparview.join_retry_max;
                        entry.validation_timeout = new.plumtree.validation_timeout;
                        *entry.channels.config.lock() = new;
                        // Held publishes may have a neighbour to go to now.
                        self.to_release.push(topic);
                        let _ = reply.send(Ok(()));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(Error::from_proto(e, &entry.channels.name)));
                    }
                }
            }
            Command::Gossip { topic, payload, hops } => {
                if let Some(t) = self.topics.get_mut(&topic) {
                    t.held.push_back((payload, hops));
                    self.release_held(topic);
                }
            }
            Command::Direct { topic, peer, payload, reply } => {
                let Some(entry) = self.topics.get(&topic) else {
                    let _ = reply.send(Err(Error::ShutDown));
                    return;
                };
                // A direct message is never dropped for a congested link:
                // the sender is told to retry instead.
                let name = entry.channels.name.to_string();
                if self.swarm.behaviour().hypar.is_congested(&peer) {
                    let _ = reply.send(Err(Error::LinkCongested { topic: name, peer: peer.to_string() }));
                    return;
                }
                let result = self.state.send_direct(topic, peer, payload, now, &mut self.rng, &mut self.out);
                let _ = reply.send(result.map_err(|e| match e {
                    hypar_proto::ProtoError::NotNeighbor(_) => {
                        Error::NotNeighbor { topic: name, peer: peer.to_string() }
                    }
                    e => Error::from_proto(e, &name),
                }));
            }
            Command::Snapshot { reply } => {
                let _ = reply.send(self.snapshot());
            }
            Command::Validated { topic, id, from, verdict } => {
                if let Some(n) = self.validating.get_mut(&from) {
                    *n -= 1;
                    if *n == super::PAUSE_READING_AT / 2 {
                        self.swarm.behaviour_mut().hypar.pause_reading(from, false);
                    }
                    if *n == 0 {
                        self.validating.remove(&from);
                    }
                }
                self.state.on_validated(topic, id, verdict, now, &mut self.rng, &mut self.out);
            }
            Command::Shutdown | Command::Crash => {}
        }
    }

    /// Send what `topic` holds, oldest first, while it has a neighbour whose
    /// link is not congested. Each publish is carried out before the next,
    /// so the links' queues (and so their congestion) are up to date.
    fn release_held(&mut self, topic: TopicId) {
        let now = Instant::now();
        loop {
            let Some(entry) = self.topics.get_mut(&topic) else { return };
            let Some(t) = self.state.topic(&topic) else { return };
            let hypar = &self.swarm.behaviour().hypar;
            if entry.held.is_empty() {
                return;
            }
            if !t.told().any(|p| !hypar.is_congested(p)) {
                // No neighbour to tell, or every link to one is congested:
                // wait for a neighbour, or to be told when a link drains.
                let told: Vec<PeerId> = t.told().copied().collect();
                for p in told {
                    self.swarm.behaviour_mut().hypar.notify_when_drained(&p);
                }
                return;
            }
            let Some((payload, hops)) = entry.held.pop_front() else { return };
            entry.channels.release(payload.len());
            if let Err(e) = self.state.broadcast_within(topic, payload, hops, now, &mut self.rng, &mut self.out) {
                tracing::warn!(%topic, "publish refused: {e}");
            }
            for o in std::mem::take(&mut self.out) {
                self.carry_out(o);
            }
        }
    }

    pub(super) fn leave(&mut self, topic: TopicId) {
        if let Some(entry) = self.topics.remove(&topic) {
            for (payload, _) in &entry.held {
                entry.channels.release(payload.len());
            }
            entry.channels.close();
            self.timers.cancel_where(|due| match due {
                Due::Proto(timer) => timer.topic == topic,
                Due::Redial { topic: t, .. } => *t == topic,
                Due::CloseBanned(_) | Due::Relays => false,
            });
            let _ = self.state.leave(topic, Instant::now(), &mut self.rng, &mut self.out);
        }
    }

    pub(super) fn on_swarm_event(&mut self, event: SwarmEvent<ComposedEvent>) {
        let now = Instant::now();
        match event {
            SwarmEvent::Behaviour(ComposedEvent::Hypar(e)) => match e {
                BehaviourEvent::Frame { peer, frame, size } => {
                    if self.penalties.is_banned(&peer, now) {
                        return;
                    }
                    if let Some(t) = self.topics.get_mut(&frame.topic) {
                        t.bytes_in += size as u64;
                    }
                    self.state.on_message(peer, frame.topic, frame.message, now, &mut self.rng, &mut self.out);
                }
                BehaviourEvent::Disconnected { peer } => {
                    self.relay_peer_gone(&peer);
                    self.state.on_peer_disconnected(peer, now, &mut self.rng, &mut self.out)
                }
                BehaviourEvent::DialFailed { peer } => {
                    self.state.on_dial_failed(peer, now, &mut self.rng, &mut self.out)
                }
                BehaviourEvent::AddressDialed { addr, result } => self.on_address_dialed(addr, result),
                BehaviourEvent::Malformed { peer, error } => {
                    tracing::warn!(%peer, "closed a connection that sent an invalid frame: {error}");
                    self.charge(peer, Fault::Garbage);
                }
                BehaviourEvent::BadFrame { peer, error } => {
                    tracing::debug!(%peer, "skipped a malformed frame: {error}");
                    self.charge(peer, Fault::BadFrame);
                }
                BehaviourEvent::Broken { peer } => {
                    tracing::warn!(%peer, "closed a connection whose outbound stream kept failing");
                }
                BehaviourEvent::Silent { peer } => {
                    tracing::debug!(%peer, "closed the connection to a neighbour silent for too long");
                }
                BehaviourEvent::Lost { peer, count, payloads } => {
                    tracing::debug!(%peer, count, repaired = payloads.len(), "frames lost");
                    self.handle.frames_dropped.fetch_add(count as u64, Ordering::Relaxed);
                    for (topic, message) in payloads {
                        self.state.on_send_refused(peer, topic, &message, now, &mut self.rng, &mut self.out);
                    }
                }
                BehaviourEvent::Shortened { saved } => {
                    // Counted in full when handed over: now as written.
                    for (topic, n) in saved {
                        if let Some(t) = self.topics.get_mut(&topic) {
                            t.bytes_out = t.bytes_out.saturating_sub(n);
                        }
                    }
                }
                BehaviourEvent::Drained { peer } => {
                    tracing::trace!(%peer, "link drained");
                    self.to_release.extend(self.topics.keys().copied());
                }
            },
            SwarmEvent::Behaviour(ComposedEvent::Mdns(event)) => self.on_mdns(event),
            SwarmEvent::Behaviour(ComposedEvent::RelayClient(event)) => self.on_relay_client(event),
            SwarmEvent::Behaviour(ComposedEvent::RelayServer(event)) => tracing::debug!("relay service: {event:?}"),
            SwarmEvent::Behaviour(ComposedEvent::Dcutr(event)) => self.on_dcutr(event),
            SwarmEvent::Behaviour(ComposedEvent::Autonat(event)) => self.on_autonat(event),
            SwarmEvent::Behaviour(ComposedEvent::Upnp(event)) => tracing::debug!("UPnP: {event:?}"),
            SwarmEvent::ListenerClosed { listener_id, addresses, .. } => {
                // Its addresses expire with it (the swarm reports them here,
                // not as `ExpiredListenAddr`).
                for address in addresses {
                    self.on_expired_listen_addr(address);
                }
                self.on_listener_closed(listener_id)
            }
            SwarmEvent::ExternalAddrConfirmed { .. } | SwarmEvent::ExternalAddrExpired { .. } => {
                self.announce_addresses()
            }
            SwarmEvent::Behaviour(ComposedEvent::Identify(identify::Event::Received { peer_id, info, .. })) => {
                self.check_lan_peer(peer_id, &info);
                self.note_relay_offer(peer_id, &info);
                let addrs: Vec<Multiaddr> =
                    info.listen_addrs.iter().take(peer_data::MAX_ADDRS).map(peer_data::without_peer_id).collect();
                self.swarm.behaviour_mut().hypar.add_addresses(peer_id, addrs);
            }
            SwarmEvent::NewListenAddr { listener_id, address } => self.on_new_listen_addr(listener_id, address),
            SwarmEvent::ExpiredListenAddr { address, .. } => self.on_expired_listen_addr(address),
            _ => {}
        }
    }

    /// Carry out what the protocol asked for, and send held publishes that
    /// can go now.
    pub(super) fn flush(&mut self) {
        loop {
            for topic in std::mem::take(&mut self.to_release) {
                self.release_held(topic);
            }
            if self.out.is_empty() {
                return;
            }
            let out = std::mem::take(&mut self.out);
            for o in out {
                self.carry_out(o);
            }
        }
    }

    /// Hand a held message to the validation thread; reading from its
    /// sender pauses while [`super::PAUSE_READING_AT`] of its messages wait.
    fn hand_to_validation_thread(&mut self, job: validation::Job) {
        let n = self.validating.entry(job.from).or_default();
        *n += 1;
        if *n == super::PAUSE_READING_AT {
            self.swarm.behaviour_mut().hypar.pause_reading(job.from, true);
        }
        // The validation thread outlives the network thread's loop.
        let _ = self.validation.send(job);
    }

    /// Judge the held messages of topics without a validator. A few are
    /// checked here, as one batch, which costs less than two trips to the
    /// validation thread (and its wakeups) each; a batch of
    /// [`super::OFFLOAD_AT`] or more goes to the validation thread, so that
    /// under load the checks run beside the network's work.
    pub(super) fn verify_held(&mut self) {
        let jobs = std::mem::take(&mut self.to_verify);
        if jobs.len() >= super::OFFLOAD_AT {
            for job in jobs {
                self.hand_to_validation_thread(job);
            }
            return;
        }
        let genuine = self.keys.verify_all(&jobs);
        let now = Instant::now();
        for (job, genuine) in jobs.into_iter().zip(genuine) {
            let verdict = if genuine { Validation::Accept } else { Validation::Forged };
            self.state.on_validated(job.topic, job.message.id, verdict, now, &mut self.rng, &mut self.out);
        }
    }

    fn carry_out(&mut self, o: Output<PeerId>) {
        match o {
            Output::Send { to, topic, message } => {
                let mut bytes = Vec::new();
                let max = self.handle.config.max_message_size;
                if let Err(e) = wire::encode(&topic, &message, max, &mut bytes) {
                    tracing::warn!(%topic, kind = message.kind(), "cannot encode: {e}");
                    return;
                }
                let size = bytes.len() as u64;
                // Payload frames may be refused on a congested link; the
                // core then announces the message instead, or hands it to
                // another proxy.
                let payload =
                    matches!(message, Message::Gossip(_) | Message::Proxy { .. }).then(|| Box::new((topic, message)));
                let frame = OutFrame { bytes: Bytes::from(bytes), payload };
                match self.swarm.behaviour_mut().hypar.send(to, frame) {
                    Ok(()) => {
                        if let Some(t) = self.topics.get_mut(&topic) {
                            t.bytes_out += size;
                        }
                    }
                    Err(refused) => {
                        if let Some((topic, message)) = refused.payload.map(|p| *p) {
                            let now = Instant::now();
                            self.state.on_send_refused(to, topic, &message, now, &mut self.rng, &mut self.out);
                        }
                    }
                }
            }
            Output::Timer { after, timer } => self.schedule(after, Due::Proto(timer)),
            Output::Event { topic, event } => self.on_proto_event(topic, event),
            Output::PeerData { peer, data, firsthand } => {
                let addrs = peer_data::decode(&data);
                match firsthand {
                    true => self.swarm.behaviour_mut().hypar.add_addresses(peer, addrs),
                    false => self.swarm.behaviour_mut().hypar.add_addresses_if_room(peer, addrs),
                }
            }
            Output::Disconnect { peer } => self.swarm.behaviour_mut().hypar.set_keep_alive(peer, false),
            Output::Validate { topic, from, message } => {
                let Some(t) = self.topics.get(&topic) else { return };
                let job = |validator| validation::Job {
                    topic,
                    from,
                    message,
                    signed: t.signed,
                    validator,
                    timeout: t.validation_timeout,
                };
                match t.validator.clone() {
                    None => self.to_verify.push(job(None)),
                    Some(validator) => self.hand_to_validation_thread(job(Some(validator))),
                }
            }
            Output::Offence { peer, topic, offence } => {
                tracing::debug!(%peer, %topic, offence = offence.name(), "protocol offence");
                self.charge(peer, Fault::Protocol(offence));
            }
        }
    }

    /// Add `fault` to `peer`'s score, and ban it if that crosses the
    /// threshold: DISCONNECT in every topic where it is a neighbour, out of
    /// every view, connections refused, and the open ones closed after
    /// [`super::BAN_GRACE`].
    fn charge(&mut self, peer: PeerId, fault: Fault) {
        let now = Instant::now();
        if !self.penalties.charge(peer, fault, now) {
            return;
        }
        tracing::warn!(%peer, "banned (last fault: {fault:?})");
        self.state.forget(peer, now, &mut self.rng, &mut self.out);
        self.swarm.behaviour_mut().hypar.ban(peer);
        self.schedule(super::BAN_GRACE, Due::CloseBanned(peer));
        self.handle.facts.publish(Fact { topic: "".into(), what: Happened::Banned(peer) });
    }

    fn on_proto_event(&mut self, topic: TopicId, event: Event<PeerId>) {
        let inbound = match event {
            Event::Delivered(d) => Inbound { payload: d.payload, hops: d.hops, origin: d.origin, direct: false },
            Event::Direct { from, payload } => Inbound { payload, hops: 1, origin: Some(from), direct: true },
            Event::Joined => return self.report(topic, Happened::Joined),
            Event::NeighborUp(p) => {
                self.swarm.behaviour_mut().hypar.set_keep_alive(p, true);
                self.to_release.push(topic);
                return self.report(topic, Happened::NeighborUp(p));
            }
            Event::NeighborDown(p) => return self.report(topic, Happened::NeighborDown(p)),
            Event::BootstrapFailed => return self.report(topic, Happened::BootstrapFailed),
        };
        if let Some(t) = self.topics.get_mut(&topic) {
            t.missed += t.channels.deliver(&inbound);
            if t.missed > 0 {
                self.report_lag(topic);
            }
        }
    }

    /// Tell the application that subscribers of `topic` missed messages,
    /// unless it was told less than [`super::LAG_REPORT_EVERY`] ago (the
    /// count then waits for the next report).
    pub(super) fn report_lag(&mut self, topic: TopicId) {
        let now = Instant::now();
        let Some(t) = self.topics.get_mut(&topic) else { return };
        if t.missed == 0 || t.lag_reported.is_some_and(|at| now.duration_since(at) < super::LAG_REPORT_EVERY) {
            return;
        }
        let missed = std::mem::take(&mut t.missed);
        t.lag_reported = Some(now);
        self.report(topic, Happened::Lagged { missed });
    }

    /// Tell every fact subscriber what happened in `topic`.
    pub(super) fn report(&self, topic: TopicId, what: Happened) {
        if let Some(t) = self.topics.get(&topic) {
            self.handle.facts.publish(Fact { topic: t.channels.name.clone(), what });
        }
    }

    fn snapshot(&self) -> NetworkSnapshot {
        let mut neighbours: Vec<PeerId> = Vec::new();
        for id in self.topics.keys() {
            for p in self.state.topic(id).into_iter().flat_map(|t| t.active()) {
                if !neighbours.contains(p) && self.swarm.is_connected(p) {
                    neighbours.push(*p);
                }
            }
        }
        let relayed_links = neighbours.iter().filter(|p| self.swarm.behaviour().hypar.is_relayed(p)).count();
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
                    origin_trees: t.cache_sizes().origin_trees,
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
            peers_banned: self.penalties.banned_total,
            banned_now: self.penalties.banned_now(),
            reachability: self.relays.reachability(),
            relayed_links,
            direct_links: neighbours.len() - relayed_links,
            relay: self.relays.relay(),
        }
    }
}
