//! The network thread: an OS thread owning a single-threaded tokio runtime,
//! the libp2p swarm and the protocol state. The public handles talk to it
//! through a command channel; it hands payloads and events back through
//! bounded per-subscriber queues, so it never waits on the application.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{connection_limits, identify, noise, ping, tcp, yamux, Multiaddr, PeerId, Swarm};
use parking_lot::{Mutex, RwLock};
use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::sync::{mpsc, oneshot};

use crate::event::{Event, EventKind, TopicStats};
use crate::net::{peer_data, Behaviour as HyparBehaviour, BehaviourEvent};
use crate::proto::{self, wire, Output, PeerInfo, State, Timer, TopicConfig, TopicId};
use crate::topic::{Received, TopicShared};
use crate::{Config, Error, Keypair, Stats};

/// Requests from the public handles to the network thread.
pub(crate) enum Command {
    Join {
        shared: Arc<TopicShared>,
        config: Box<TopicConfig<PeerId>>,
        peers: Vec<PeerInfo<PeerId>>,
        addrs: Vec<Multiaddr>,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    Leave {
        topic: TopicId,
    },
    Gossip {
        topic: TopicId,
        payload: Bytes,
    },
    Stats {
        reply: oneshot::Sender<Stats>,
    },
    Shutdown,
    /// Stop at once, without telling anyone (a crash, for tests).
    Crash,
}

/// What the handles and the network thread share.
pub(crate) struct Shared {
    pub config: Config,
    pub peer_id: PeerId,
    cmd: mpsc::UnboundedSender<Command>,
    pub listen_addrs: RwLock<Vec<Multiaddr>>,
    pub event_subscribers: Mutex<Vec<mpsc::Sender<Event>>>,
    pub closed: AtomicBool,
    pub frames_dropped: AtomicU64,
    /// The process that started the thread; a `fork` child is another.
    pid: u32,
}

impl Shared {
    /// Counters of every topic, from the network thread.
    pub async fn stats(&self) -> Result<Stats, Error> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Stats { reply })?;
        rx.await.map_err(|_| Error::ShutDown)
    }

    /// Whether this process is a `fork` of the one that runs the thread.
    pub fn forked(&self) -> bool {
        self.pid != std::process::id()
    }

    pub fn send(&self, cmd: Command) -> Result<(), Error> {
        if self.forked() {
            return Err(Error::Forked);
        }
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::ShutDown);
        }
        self.cmd.send(cmd).map_err(|_| Error::ShutDown)
    }
}

#[derive(NetworkBehaviour)]
#[behaviour(prelude = "libp2p::swarm::derive_prelude")]
struct Composed {
    hypar: HyparBehaviour,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    limits: connection_limits::Behaviour,
}

/// Timers of the network thread.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Due {
    Proto(Timer),
    /// Dial a bootstrap address (without peer id) again.
    Redial {
        topic: TopicId,
        addr: Multiaddr,
        attempt: u32,
    },
}

struct TopicEntry {
    shared: Arc<TopicShared>,
    /// Backoff for redialing bootstrap addresses: the topic's join retry.
    retry_initial: Duration,
    retry_max: Duration,
    /// Frame bytes received and sent for the topic.
    bytes_in: u64,
    bytes_out: u64,
}

struct Runtime {
    shared: Arc<Shared>,
    swarm: Swarm<Composed>,
    state: State<PeerId>,
    rng: StdRng,
    out: Vec<Output<PeerId>>,
    timers: BinaryHeap<Reverse<(Instant, u64, Due)>>,
    timer_seq: u64,
    topics: HashMap<TopicId, TopicEntry>,
    /// Bootstrap addresses being dialed, and the topics waiting on each.
    address_dials: HashMap<Multiaddr, (Vec<TopicId>, u32)>,
}

/// Handle to the running thread, given to `Network`.
pub(crate) struct Started {
    pub shared: Arc<Shared>,
    pub thread: std::thread::JoinHandle<()>,
    pub done: oneshot::Receiver<()>,
}

/// Start the network thread; returns once every listener is bound.
pub(crate) fn start(config: Config, keypair: Keypair) -> Result<Started, Error> {
    config.validate()?;
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        peer_id: keypair.peer_id(),
        config: config.clone(),
        cmd: cmd_tx,
        listen_addrs: RwLock::new(Vec::new()),
        event_subscribers: Mutex::new(Vec::new()),
        closed: AtomicBool::new(false),
        frames_dropped: AtomicU64::new(0),
        pid: std::process::id(),
    });
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), Error>>();
    let (done_tx, done_rx) = oneshot::channel();
    let thread_shared = shared.clone();
    let thread = std::thread::Builder::new()
        .name(format!("hypar-{}", short(&shared.peer_id)))
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(Error::Runtime(e.to_string())));
                    return;
                }
            };
            let runtime_shared = thread_shared.clone();
            rt.block_on(async move {
                match Runtime::start(runtime_shared, keypair).await {
                    Ok(runtime) => {
                        let _ = ready_tx.send(Ok(()));
                        runtime.run(cmd_rx).await;
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            });
            thread_shared.closed.store(true, Ordering::Release);
            let _ = done_tx.send(());
        })
        .map_err(|e| Error::Runtime(e.to_string()))?;
    match ready_rx.recv_timeout(config.startup_timeout + Duration::from_secs(1)) {
        Ok(Ok(())) => Ok(Started { shared, thread, done: done_rx }),
        Ok(Err(e)) => {
            let _ = thread.join();
            Err(e)
        }
        Err(_) => {
            let _ = shared.cmd.send(Command::Shutdown);
            Err(Error::Runtime("the network thread did not start in time".into()))
        }
    }
}

fn short(p: &PeerId) -> String {
    let s = p.to_string();
    s[s.len().saturating_sub(6)..].to_string()
}

fn build_swarm(keypair: &Keypair, config: &Config) -> Result<Swarm<Composed>, Error> {
    let runtime_err = |e: &dyn std::fmt::Display| Error::Runtime(e.to_string());
    let swarm = libp2p::SwarmBuilder::with_existing_identity(keypair.0.clone())
        .with_tokio()
        .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)
        .map_err(|e| runtime_err(&e))?
        .with_quic()
        .with_dns()
        .map_err(|e| runtime_err(&e))?
        .with_behaviour(|key| {
            let limits = connection_limits::ConnectionLimits::default()
                .with_max_established(Some(config.max_connections))
                .with_max_established_per_peer(Some(2));
            Composed {
                hypar: HyparBehaviour::new(config.max_message_size, config.peer_queue),
                identify: identify::Behaviour::new(identify::Config::new("/hypar/id/1.0.0".into(), key.public())),
                ping: ping::Behaviour::new(ping::Config::new()),
                limits: connection_limits::Behaviour::new(limits),
            }
        })
        .map_err(|e| runtime_err(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(config.idle_connection_timeout))
        .build();
    Ok(swarm)
}

/// However the network thread ends (shutdown, crash, or a bug that panics),
/// every handle learns it: calls fail with `ShutDown`, streams end.
impl Drop for Runtime {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
        self.shared.event_subscribers.lock().clear();
        self.topics.values().for_each(|t| t.shared.close());
    }
}

impl Runtime {
    async fn start(shared: Arc<Shared>, keypair: Keypair) -> Result<Runtime, Error> {
        let config = shared.config.clone();
        let mut swarm = build_swarm(&keypair, &config)?;
        let mut listeners = Vec::new();
        for addr in &config.listen {
            let id = swarm
                .listen_on(addr.clone())
                .map_err(|e| Error::Listen { addr: addr.to_string(), reason: e.to_string() })?;
            listeners.push((id, addr.clone()));
        }
        // Wait until every listener has an address (port 0 resolved).
        let deadline = tokio::time::Instant::now() + config.startup_timeout;
        let mut bound: Vec<Multiaddr> = Vec::new();
        let mut pending: Vec<_> = listeners.iter().map(|(id, _)| *id).collect();
        while !pending.is_empty() {
            let event = tokio::time::timeout_at(deadline, swarm.select_next_some()).await.map_err(|_| {
                Error::Listen { addr: format!("{:?}", config.listen), reason: "no address bound in time".into() }
            })?;
            match event {
                SwarmEvent::NewListenAddr { listener_id, address } => {
                    pending.retain(|l| *l != listener_id);
                    bound.push(address);
                }
                SwarmEvent::ListenerError { listener_id, error }
                | SwarmEvent::ListenerClosed { listener_id, reason: Err(error), .. } => {
                    let addr = listeners.iter().find(|(l, _)| *l == listener_id).map(|(_, a)| a.to_string());
                    return Err(Error::Listen { addr: addr.unwrap_or_default(), reason: error.to_string() });
                }
                _ => {}
            }
        }
        *shared.listen_addrs.write() = bound.clone();
        let state = State::new(shared.peer_id, Some(peer_data::encode(&bound)));
        Ok(Runtime {
            shared,
            swarm,
            state,
            rng: StdRng::from_entropy(),
            out: Vec::new(),
            timers: BinaryHeap::new(),
            timer_seq: 0,
            topics: HashMap::new(),
            address_dials: HashMap::new(),
        })
    }

    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        loop {
            let next = self.timers.peek().map(|Reverse((at, _, _))| *at);
            let sleep = async {
                match next {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => futures::future::pending().await,
                }
            };
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    None | Some(Command::Shutdown) => break,
                    Some(Command::Crash) => {
                        return; // Drop marks everything closed
                    }
                    Some(cmd) => self.on_command(cmd),
                },
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                _ = sleep => self.on_timers(),
            }
            self.flush();
        }
        self.shutdown().await;
    }

    /// Leave every topic, then give the goodbyes a moment to go out.
    async fn shutdown(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
        let topics: Vec<TopicId> = self.topics.keys().copied().collect();
        for t in topics {
            self.leave(t);
        }
        self.flush();
        let grace = tokio::time::sleep(Duration::from_millis(200));
        tokio::pin!(grace);
        loop {
            tokio::select! {
                _ = &mut grace => break,
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
            }
        }
        self.shared.event_subscribers.lock().clear();
    }

    fn on_command(&mut self, cmd: Command) {
        let now = Instant::now();
        match cmd {
            Command::Join { shared, config, peers, addrs, reply } => {
                let id = shared.id;
                let name = shared.name.clone();
                let (retry_initial, retry_max) = (config.hyparview.join_retry_initial, config.hyparview.join_retry_max);
                let result = self.state.join(id, *config, peers, now, &mut self.rng, &mut self.out);
                if let Err(e) = result {
                    let _ = reply.send(Err(Error::from_proto(e, &name)));
                    return;
                }
                self.topics.insert(id, TopicEntry { shared, retry_initial, retry_max, bytes_in: 0, bytes_out: 0 });
                for addr in addrs {
                    self.dial_bootstrap(id, addr, 0);
                }
                let _ = reply.send(Ok(()));
            }
            Command::Leave { topic } => self.leave(topic),
            Command::Gossip { topic, payload } => {
                if let Some(t) = self.topics.get(&topic) {
                    t.shared.in_flight.fetch_sub(1, Ordering::AcqRel);
                    if let Err(e) = self.state.broadcast(topic, payload, now, &mut self.rng, &mut self.out) {
                        tracing::warn!(%topic, "publish refused: {e}");
                    }
                }
            }
            Command::Stats { reply } => {
                let _ = reply.send(self.stats());
            }
            Command::Shutdown | Command::Crash => {}
        }
    }

    fn leave(&mut self, topic: TopicId) {
        if let Some(entry) = self.topics.remove(&topic) {
            entry.shared.close();
            let _ = self.state.leave(topic, Instant::now(), &mut self.rng, &mut self.out);
        }
    }

    fn dial_bootstrap(&mut self, topic: TopicId, addr: Multiaddr, attempt: u32) {
        let entry = self.address_dials.entry(addr.clone()).or_insert_with(|| (Vec::new(), attempt));
        if !entry.0.contains(&topic) {
            entry.0.push(topic);
        }
        entry.1 = attempt;
        self.swarm.behaviour_mut().hypar.dial_address(addr);
    }

    fn stats(&self) -> Stats {
        let topics = self
            .topics
            .values()
            .filter_map(|e| {
                let t = self.state.topic(&e.shared.id)?;
                let s = t.stats();
                Some(TopicStats {
                    name: e.shared.name.clone(),
                    active_view: t.active().count(),
                    passive_view: t.passive().count(),
                    tree_links: t.eager().len(),
                    grafts: s.grafts_sent,
                    published: s.published,
                    delivered: s.delivered,
                    relayed: s.relayed,
                    duplicates: s.duplicates,
                    dropped: s.dropped_invalid
                        + s.dropped_too_old
                        + s.dropped_outsider
                        + e.shared.dropped.load(Ordering::Relaxed),
                    bytes_in: e.bytes_in,
                    bytes_out: e.bytes_out,
                })
            })
            .collect();
        Stats {
            topics,
            connected_peers: self.swarm.connected_peers().count(),
            frames_dropped: self.shared.frames_dropped.load(Ordering::Relaxed),
        }
    }

    fn on_timers(&mut self) {
        let now = Instant::now();
        while let Some(Reverse((at, _, _))) = self.timers.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((_, _, due))) = self.timers.pop() else { break };
            match due {
                Due::Proto(timer) => self.state.on_timer(timer, now, &mut self.rng, &mut self.out),
                Due::Redial { topic, addr, attempt } => {
                    if self.topics.contains_key(&topic) {
                        self.dial_bootstrap(topic, addr, attempt);
                    }
                }
            }
        }
    }

    fn schedule(&mut self, after: Duration, due: Due) {
        self.timer_seq += 1;
        self.timers.push(Reverse((Instant::now() + after, self.timer_seq, due)));
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<ComposedEvent>) {
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
                BehaviourEvent::Dropped { peer, count } => {
                    tracing::debug!(%peer, count, "frames dropped");
                    self.shared.frames_dropped.fetch_add(count as u64, Ordering::Relaxed);
                }
            },
            SwarmEvent::Behaviour(ComposedEvent::Identify(identify::Event::Received { peer_id, info, .. })) => {
                let addrs: Vec<Multiaddr> =
                    info.listen_addrs.iter().take(peer_data::MAX_ADDRS).map(peer_data::without_peer_id).collect();
                self.swarm.behaviour_mut().hypar.add_addresses(peer_id, addrs);
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                let mut addrs = self.shared.listen_addrs.write();
                if !addrs.contains(&address) {
                    addrs.push(address);
                }
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                self.shared.listen_addrs.write().retain(|a| *a != address);
            }
            _ => {}
        }
    }

    fn on_address_dialed(&mut self, addr: Multiaddr, result: Result<PeerId, String>) {
        let Some((topics, attempt)) = self.address_dials.remove(&addr) else { return };
        let now = Instant::now();
        match result {
            Ok(peer) => {
                for topic in topics {
                    let info = PeerInfo { id: peer, data: None };
                    let _ = self.state.add_bootstrap(topic, info, now, &mut self.rng, &mut self.out);
                }
            }
            Err(reason) => {
                tracing::debug!(%addr, "bootstrap dial failed: {reason}");
                for topic in topics {
                    let Some(t) = self.topics.get(&topic) else { continue };
                    let isolated = self.state.topic(&topic).is_some_and(|t| t.active().next().is_none());
                    if attempt == 0 && isolated {
                        emit(&self.shared, &t.shared.name, EventKind::BootstrapFailed);
                    }
                    let delay = t.retry_initial.saturating_mul(1 << attempt.min(16)).min(t.retry_max);
                    self.schedule(delay, Due::Redial { topic, addr: addr.clone(), attempt: attempt + 1 });
                }
            }
        }
    }

    /// Carry out what the protocol asked for.
    fn flush(&mut self) {
        let out = std::mem::take(&mut self.out);
        for o in out {
            match o {
                Output::Send { to, topic, message } => {
                    let mut frame = Vec::new();
                    let max = self.shared.config.max_message_size;
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

    fn on_proto_event(&mut self, topic: TopicId, event: proto::Event<PeerId>) {
        let Some(t) = self.topics.get(&topic) else { return };
        let kind = match event {
            proto::Event::Delivered(d) => {
                t.shared.deliver(&Received { payload: d.payload, hops: d.hops });
                return;
            }
            proto::Event::Joined => EventKind::Joined,
            proto::Event::NeighborUp(p) => {
                self.swarm.behaviour_mut().hypar.set_keep_alive(p, true);
                EventKind::NeighborUp(p)
            }
            proto::Event::NeighborDown(p) => EventKind::NeighborDown(p),
            proto::Event::BootstrapFailed => EventKind::BootstrapFailed,
        };
        emit(&self.shared, &t.shared.name, kind);
    }
}

/// Hand an event to every event subscriber without waiting.
fn emit(shared: &Shared, topic: &str, kind: EventKind) {
    let event = Event { topic: topic.to_string(), kind };
    shared.event_subscribers.lock().retain(|tx| match tx.try_send(event.clone()) {
        Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => true,
        Err(mpsc::error::TrySendError::Closed(_)) => false,
    });
}
