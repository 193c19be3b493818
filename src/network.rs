//! The entry point: a node on the network, owning its thread.

use std::sync::Arc;
use std::thread::JoinHandle;

use libp2p::multiaddr::Protocol;
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};

use hypar_proto::{PeerInfo, TopicId};

use crate::event::Events;
use crate::net::peer_data;
use crate::runtime::{self, Command, RuntimeHandle, TopicChannels};
use crate::topic;
use crate::{Error, Keypair, Multiaddr, NetworkConfig, PeerId, Stats, Topic};

/// A node: listens, joins topics, and runs the protocol on its own thread.
///
/// Every method works from any thread, with or without an async runtime.
/// Methods that wait (`new`, `join`, `stats`, `shutdown`) block the calling
/// thread without entering any runtime, so they never panic inside one; from
/// async code prefer their `_async` variants.
pub struct Network {
    runtime: Arc<RuntimeHandle>,
    thread: Mutex<Option<JoinHandle<()>>>,
    done: Mutex<Option<oneshot::Receiver<()>>>,
}

impl Network {
    /// Start a node with identity `keypair`, listening on `config.listen`.
    /// Returns once every listener is bound.
    pub fn new(config: NetworkConfig, keypair: Keypair) -> Result<Network, Error> {
        let started = runtime::start(config, keypair)?;
        Ok(Network {
            runtime: started.handle,
            thread: Mutex::new(Some(started.thread)),
            done: Mutex::new(Some(started.done)),
        })
    }

    /// This node's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.runtime.peer_id
    }

    /// The addresses actually bound (port 0 resolved), each ending in
    /// `/p2p/<peer id>` so it can be given to others as a bootstrap address.
    pub fn listen_addrs(&self) -> Vec<Multiaddr> {
        let me = self.runtime.peer_id;
        self.runtime.listen_addrs.read().iter().map(|a| peer_data::without_peer_id(a).with(Protocol::P2p(me))).collect()
    }

    /// Join a topic. Fails if it is already joined, if its configuration is
    /// invalid, or after shutdown. Bootstrap peers that cannot be reached are
    /// retried with backoff; see [`Network::events`].
    pub fn join(&self, config: topic::Config) -> Result<Topic, Error> {
        let (cmd, channels, rx) = self.join_command(config)?;
        self.runtime.send(cmd)?;
        futures::executor::block_on(rx).map_err(|_| Error::ShutDown)??;
        Ok(Topic::new(channels, self.runtime.clone()))
    }

    /// [`Network::join`] for async code.
    pub async fn join_async(&self, config: topic::Config) -> Result<Topic, Error> {
        let (cmd, channels, rx) = self.join_command(config)?;
        self.runtime.send(cmd)?;
        rx.await.map_err(|_| Error::ShutDown)??;
        Ok(Topic::new(channels, self.runtime.clone()))
    }

    #[allow(clippy::type_complexity)]
    fn join_command(
        &self,
        config: topic::Config,
    ) -> Result<(Command, Arc<TopicChannels>, oneshot::Receiver<Result<(), Error>>), Error> {
        let mut protocol = config.protocol;
        protocol.plumtree.max_message_size = self.runtime.config.max_message_size;
        protocol.validation = config.validator.is_some();
        if !protocol.signed && protocol.publish_as.is_none() {
            // Unsigned messages name a throwaway origin, not this node.
            protocol.publish_as = Some(PeerId::random());
        }
        protocol.validate()?;
        let mut peers = Vec::new();
        let mut addrs = Vec::new();
        for addr in config.bootstrap {
            match addr.iter().last() {
                Some(Protocol::P2p(peer)) if peer == self.runtime.peer_id => {}
                Some(Protocol::P2p(peer)) => {
                    let dial = peer_data::without_peer_id(&addr);
                    let data = (!dial.is_empty()).then(|| peer_data::encode(&[dial]));
                    peers.push(PeerInfo { id: peer, data });
                }
                Some(_) => addrs.push(addr),
                None => return Err(Error::InvalidMultiaddr { addr: addr.to_string(), reason: "empty address".into() }),
            }
        }
        let id = TopicId::from_name(&config.name);
        let origin_len = hypar_proto::wire::encoded_len(&protocol.publish_as.unwrap_or(self.runtime.peer_id));
        let channels = Arc::new(TopicChannels::new(id, &config.name, protocol.clone(), origin_len));
        let (reply, rx) = oneshot::channel();
        let validator = config.validator.map(|v| v.0);
        let cmd =
            Command::Join { channels: channels.clone(), config: Box::new(protocol), peers, addrs, validator, reply };
        Ok((cmd, channels, rx))
    }

    /// Events of every topic (joined, neighbour up/down, bootstrap failed),
    /// from now on. Bounded: events not read in time are dropped.
    pub fn events(&self) -> Events {
        let (tx, rx) = mpsc::channel(self.runtime.config.event_queue);
        if !self.is_shut_down() {
            self.runtime.facts.add(tx);
        }
        Events { rx }
    }

    /// Whether this process is a `fork` of the one that created the network.
    /// There the network's thread does not exist: every call fails with
    /// [`Error::Forked`].
    pub fn is_forked(&self) -> bool {
        self.runtime.born.is_forked()
    }

    /// Whether [`Network::shutdown`] has run (or the thread stopped).
    pub fn is_shut_down(&self) -> bool {
        self.runtime.is_closed()
    }

    /// Counters per topic.
    pub fn stats(&self) -> Result<Stats, Error> {
        futures::executor::block_on(self.stats_async())
    }

    /// [`Network::stats`] for async code.
    pub async fn stats_async(&self) -> Result<Stats, Error> {
        Ok(self.runtime.snapshot().await?.into())
    }

    /// Take the thread's handle to join it, or forget it in a `fork`ed child
    /// (where the thread does not exist and joining would wait forever).
    fn take_thread(&self) -> Option<JoinHandle<()>> {
        let thread = self.thread.lock().take();
        if self.is_forked() {
            std::mem::forget(thread);
            return None;
        }
        thread
    }

    /// Leave every topic, close every connection and stop the thread.
    /// Topics still held become inert: their calls return
    /// [`Error::ShutDown`] and their streams end. Idempotent.
    pub fn shutdown(&self) {
        let _ = self.runtime.send(Command::Shutdown);
        if let Some(t) = self.take_thread() {
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
    }

    /// Stop at once without leaving topics or closing connections politely,
    /// as a crashed process would. For tests of failure handling.
    #[doc(hidden)]
    pub fn crash(&self) {
        let _ = self.runtime.send(Command::Crash);
        if let Some(t) = self.take_thread() {
            let _ = t.join();
        }
    }

    /// [`Network::shutdown`] for async code: waits without blocking.
    pub async fn shutdown_async(&self) {
        let _ = self.runtime.send(Command::Shutdown);
        let done = self.done.lock().take();
        if let Some(done) = done {
            let _ = done.await;
        }
        self.shutdown();
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network").field("peer_id", &self.runtime.peer_id).finish()
    }
}
