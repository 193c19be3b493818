//! The network thread: an OS thread owning a single-threaded tokio runtime,
//! the libp2p swarm and the protocol state. The API's handles talk to it
//! through a command channel; it hands payloads and membership facts back
//! through bounded per-subscriber queues, so it never waits on the
//! application.
//!
//! One file per job: [`thread`] starts the thread and waits for listeners,
//! [`swarm`] builds the libp2p stack, [`dispatch`] turns commands and swarm
//! events into protocol calls and carries out the protocol's outputs,
//! [`timers`] keeps the deadlines, [`bootstrap`] dials bootstrap addresses,
//! [`facts`] is what the thread reports back, [`lan`] turns peers mDNS
//! finds into join candidates, [`relays`] keeps a relay reservation while
//! the node is not publicly reachable.

mod bootstrap;
mod dispatch;
mod facts;
mod lan;
mod penalties;
mod relays;
mod swarm;
mod thread;
mod timers;
mod topic_channels;
mod validation;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{FutureExt, StreamExt};
use hypar_proto::{MessageId, Output, PeerInfo, ProtocolConfig, State, Timer, TopicId, Validation};
use libp2p::{Multiaddr, PeerId, Swarm};
use parking_lot::RwLock;
use rand::rngs::StdRng;
use tokio::sync::{mpsc, oneshot};

pub(crate) use facts::{Fact, FactSubscribers, Happened, Inbound, NetworkSnapshot, TopicSnapshot};
pub(crate) use thread::start;
pub(crate) use topic_channels::TopicChannels;
#[cfg(feature = "fuzzing")]
pub(crate) use validation::verify_signatures;
pub(crate) use validation::ValidatorFn;

use crate::{BornIn, Error, FastMap, NetworkConfig};

/// Requests from the API's handles to the network thread.
pub(crate) enum Command {
    Join {
        channels: Arc<TopicChannels>,
        config: Box<ProtocolConfig<PeerId>>,
        peers: Vec<PeerInfo<PeerId>>,
        addrs: Vec<Multiaddr>,
        validator: Option<ValidatorFn>,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    Leave {
        topic: TopicId,
    },
    /// Change a joined topic's protocol configuration.
    Configure {
        topic: TopicId,
        config: Box<ProtocolConfig<PeerId>>,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    Gossip {
        topic: TopicId,
        payload: Bytes,
        /// The most hops it may travel (0: as far as the topic allows).
        hops: u16,
    },
    /// A direct message to a neighbour.
    Direct {
        topic: TopicId,
        peer: PeerId,
        payload: Bytes,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    Snapshot {
        reply: oneshot::Sender<NetworkSnapshot>,
    },
    /// The validation thread's verdict on a held message.
    Validated {
        topic: TopicId,
        id: MessageId,
        from: PeerId,
        verdict: Validation,
    },
    Shutdown,
    /// Stop at once, without telling anyone (a crash, for tests).
    Crash,
}

/// What the API's handles and the network thread share.
pub(crate) struct RuntimeHandle {
    pub config: NetworkConfig,
    pub peer_id: PeerId,
    commands: mpsc::UnboundedSender<Command>,
    pub listen_addrs: RwLock<Vec<Multiaddr>>,
    pub facts: FactSubscribers,
    pub closed: AtomicBool,
    pub frames_dropped: AtomicU64,
    pub born: BornIn,
}

impl RuntimeHandle {
    /// Counters of every topic, from the network thread.
    pub(crate) async fn snapshot(&self) -> Result<NetworkSnapshot, Error> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Snapshot { reply })?;
        rx.await.map_err(|_| Error::ShutDown)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub(crate) fn send(&self, cmd: Command) -> Result<(), Error> {
        if self.born.is_forked() {
            return Err(Error::Forked);
        }
        if self.is_closed() {
            return Err(Error::ShutDown);
        }
        self.commands.send(cmd).map_err(|_| Error::ShutDown)
    }
}

/// What the thread's timers are for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Due {
    /// A protocol timer.
    Proto(Timer),
    /// Dial a bootstrap address (without peer id) again, after `attempt` failures.
    Redial { topic: TopicId, addr: Multiaddr, attempt: u32 },
    /// Close the connections of a peer banned a moment ago (its DISCONNECTs
    /// had that moment to go out).
    CloseBanned(PeerId),
    /// Look for a relay again (one failed a while ago).
    Relays,
}

/// How long a banned peer's connections stay open for its DISCONNECTs.
const BAN_GRACE: Duration = Duration::from_millis(500);

struct TopicEntry {
    channels: Arc<TopicChannels>,
    /// Publishes accepted but not sent yet: the topic has no neighbour, or
    /// every neighbour's link is congested. Bounded by the publish buffer
    /// (counted in `channels`).
    held: VecDeque<(Bytes, u16)>,
    /// Backoff for redialing bootstrap addresses: the topic's join retry.
    retry_initial: Duration,
    retry_max: Duration,
    /// Frame bytes received and sent for the topic.
    bytes_in: u64,
    bytes_out: u64,
    /// Messages subscribers missed since the last `Lagged` report, and when
    /// that was: subscribers are told at most once per [`LAG_REPORT_EVERY`].
    missed: u64,
    lag_reported: Option<Instant>,
    /// Messages are signed; the application's validator, if any; how long
    /// a verdict may take.
    signed: bool,
    validator: Option<ValidatorFn>,
    validation_timeout: Duration,
}

/// How often a topic whose subscribers keep falling behind reports it.
const LAG_REPORT_EVERY: Duration = Duration::from_secs(1);

struct Runtime {
    handle: Arc<RuntimeHandle>,
    swarm: Swarm<swarm::Composed>,
    state: State<PeerId>,
    rng: StdRng,
    out: Vec<Output<PeerId>>,
    timers: timers::TimerTable<Due>,
    topics: FastMap<TopicId, TopicEntry>,
    address_dials: bootstrap::AddressDials,
    /// Topics whose held publishes may be sendable now (a neighbour came
    /// up, a link drained).
    to_release: Vec<TopicId>,
    /// Held messages of topics with a validator go to the validation
    /// thread through this.
    validation: mpsc::UnboundedSender<validation::Job>,
    /// Held messages of topics without one, gathered for their signature
    /// checks: a few are checked here, more on the validation thread
    /// (`Runtime::verify_held`).
    to_verify: Vec<validation::Job>,
    /// Origins' keys, for those checks.
    keys: validation::Keys,
    /// Messages from each peer waiting for a verdict; reading from a peer
    /// pauses at [`PAUSE_READING_AT`] (bounded by the peers with some).
    validating: FastMap<PeerId, usize>,
    /// Misbehaviour scores and bans.
    penalties: penalties::Penalties,
    /// Peers found on the LAN (mDNS).
    lan: lan::LanPeers,
    /// Reachability and the relay reservation.
    relays: relays::Relays,
}

/// A peer with this many messages waiting for a verdict is not read from
/// until half of them have one: backpressure instead of loss, and no peer
/// can take more than its share of a topic's `max_pending`.
const PAUSE_READING_AT: usize = 128;

/// Held messages whose signatures the network thread gathers at once, at
/// most.
const VERIFY_BATCH: usize = 64;

/// Gathered held messages that go to the validation thread rather than be
/// checked on the network thread: this many or more.
const OFFLOAD_AT: usize = 8;

impl Runtime {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        loop {
            let next = self.timers.next_deadline();
            let sleep = async {
                match next {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => futures::future::pending().await,
                }
            };
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    None | Some(Command::Shutdown) => break,
                    Some(Command::Crash) => return, // Drop marks everything closed
                    Some(cmd) => self.on_command(cmd),
                },
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                _ = sleep => self.on_timers(),
            }
            self.flush();
            // While held messages wait for their signature checks, what else
            // the swarm has ready (up to twice a batch of events, so that
            // commands and timers wait little) is taken first, so that under
            // load the checks go in batches.
            let mut taken = 0;
            while !self.to_verify.is_empty() && self.to_verify.len() < VERIFY_BATCH && taken < 2 * VERIFY_BATCH {
                let Some(Some(event)) = self.swarm.next().now_or_never() else { break };
                taken += 1;
                self.on_swarm_event(event);
                self.flush();
            }
            if !self.to_verify.is_empty() {
                self.verify_held();
                self.flush();
            }
        }
        self.shutdown().await;
    }

    /// Leave every topic, then give the goodbyes a moment to go out.
    async fn shutdown(&mut self) {
        self.handle.closed.store(true, Ordering::Release);
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
        self.handle.facts.close();
    }

    fn on_timers(&mut self) {
        let now = Instant::now();
        self.to_release.extend(self.topics.keys().copied());
        let lagging: Vec<TopicId> = self.topics.iter().filter(|(_, t)| t.missed > 0).map(|(id, _)| *id).collect();
        for topic in lagging {
            self.report_lag(topic);
        }
        self.state.set_wall_clock(now, unix_ms());
        while let Some(due) = self.timers.pop_due(now) {
            match due {
                Due::Proto(timer) => self.state.on_timer(timer, now, &mut self.rng, &mut self.out),
                Due::Redial { topic, addr, attempt } => self.redial(topic, addr, attempt),
                Due::CloseBanned(peer) => self.swarm.behaviour_mut().hypar.close_all(peer),
                Due::Relays => self.maintain_relays(),
            }
        }
        for peer in self.penalties.expired(now) {
            self.swarm.behaviour_mut().hypar.unban(&peer);
        }
    }

    fn schedule(&mut self, after: Duration, due: Due) {
        self.timers.arm(due, Instant::now() + after);
    }
}

/// The wall clock, in milliseconds since the Unix epoch.
fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// However the network thread ends (shutdown, crash, or a bug that panics),
/// every handle learns it: calls fail with `ShutDown`, streams end.
impl Drop for Runtime {
    fn drop(&mut self) {
        self.handle.closed.store(true, Ordering::Release);
        self.handle.facts.close();
        self.topics.values().for_each(|t| t.channels.close());
    }
}
