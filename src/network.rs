//! The entry point: a node on the network, owning its thread.

use std::sync::Arc;
use std::thread::JoinHandle;

use libp2p::multiaddr::Protocol;
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};

use crate::event::Events;
use crate::net::peer_data;
use crate::proto::{PeerInfo, TopicId};
use crate::runtime::{self, Command, Shared};
use crate::topic::{self, TopicShared};
use crate::{Config, Error, Keypair, Multiaddr, PeerId, Stats, Topic};

/// A node: listens, joins topics, and runs the protocol on its own thread.
///
/// Every method works from any thread, with or without an async runtime.
/// Methods that wait (`new`, `join`, `stats`, `shutdown`) block the calling
/// thread without entering any runtime, so they never panic inside one; from
/// async code prefer their `_async` variants.
pub struct Network {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
    done: Mutex<Option<oneshot::Receiver<()>>>,
}

impl Network {
    /// Start a node with identity `keypair`, listening on `config.listen`.
    /// Returns once every listener is bound.
    pub fn new(config: Config, keypair: Keypair) -> Result<Network, Error> {
        let started = runtime::start(config, keypair)?;
        Ok(Network {
            shared: started.shared,
            thread: Mutex::new(Some(started.thread)),
            done: Mutex::new(Some(started.done)),
        })
    }

    /// This node's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.shared.peer_id
    }

    /// The addresses actually bound (port 0 resolved), each ending in
    /// `/p2p/<peer id>` so it can be given to others as a bootstrap address.
    pub fn listen_addrs(&self) -> Vec<Multiaddr> {
        let me = self.shared.peer_id;
        self.shared.listen_addrs.read().iter().map(|a| peer_data::without_peer_id(a).with(Protocol::P2p(me))).collect()
    }

    /// Join a topic. Fails if it is already joined, if its configuration is
    /// invalid, or after shutdown. Bootstrap peers that cannot be reached are
    /// retried with backoff; see [`Network::events`].
    pub fn join(&self, config: topic::Config) -> Result<Topic, Error> {
        let (cmd, shared, rx) = self.join_command(config)?;
        self.shared.send(cmd)?;
        futures::executor::block_on(rx).map_err(|_| Error::ShutDown)??;
        Ok(Topic::new(shared, self.shared.clone()))
    }

    /// [`Network::join`] for async code.
    pub async fn join_async(&self, config: topic::Config) -> Result<Topic, Error> {
        let (cmd, shared, rx) = self.join_command(config)?;
        self.shared.send(cmd)?;
        rx.await.map_err(|_| Error::ShutDown)??;
        Ok(Topic::new(shared, self.shared.clone()))
    }

    #[allow(clippy::type_complexity)]
    fn join_command(
        &self,
        config: topic::Config,
    ) -> Result<(Command, Arc<TopicShared>, oneshot::Receiver<Result<(), Error>>), Error> {
        let mut protocol = config.protocol;
        protocol.plumtree.max_message_size = self.shared.config.max_message_size;
        protocol.validate()?;
        let mut peers = Vec::new();
        let mut addrs = Vec::new();
        for addr in config.bootstrap {
            match addr.iter().last() {
                Some(Protocol::P2p(peer)) if peer == self.shared.peer_id => {}
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
        let shared = Arc::new(TopicShared::new(id, config.name));
        let (reply, rx) = oneshot::channel();
        let cmd = Command::Join { shared: shared.clone(), config: Box::new(protocol), peers, addrs, reply };
        Ok((cmd, shared, rx))
    }

    /// Events of every topic (joined, neighbour up/down, bootstrap failed),
    /// from now on. Bounded: events not read in time are dropped.
    pub fn events(&self) -> Events {
        let (tx, rx) = mpsc::channel(self.shared.config.event_queue);
        let mut subscribers = self.shared.event_subscribers.lock();
        subscribers.retain(|tx| !tx.is_closed());
        if !self.is_shut_down() {
            subscribers.push(tx);
        }
        Events { rx }
    }

    /// In a `fork`ed child the parent's thread does not exist: every call
    /// fails with [`Error::Forked`] and stopping only forgets the thread.
    fn forked(&self) -> bool {
        if self.shared.forked() {
            std::mem::forget(self.thread.lock().take());
            return true;
        }
        false
    }

    /// Whether [`Network::shutdown`] has run (or the thread stopped).
    pub fn is_shut_down(&self) -> bool {
        self.shared.closed.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Counters per topic.
    pub fn stats(&self) -> Result<Stats, Error> {
        futures::executor::block_on(self.shared.stats())
    }

    /// [`Network::stats`] for async code.
    pub async fn stats_async(&self) -> Result<Stats, Error> {
        self.shared.stats().await
    }

    /// Leave every topic, close every connection and stop the thread.
    /// Topics still held become inert: their calls return
    /// [`Error::ShutDown`] and their streams end. Idempotent.
    pub fn shutdown(&self) {
        if self.forked() {
            return;
        }
        let _ = self.shared.send(Command::Shutdown);
        if let Some(t) = self.thread.lock().take() {
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
    }

    /// Stop at once without leaving topics or closing connections politely,
    /// as a crashed process would. For tests of failure handling.
    #[doc(hidden)]
    pub fn crash(&self) {
        if self.forked() {
            return;
        }
        let _ = self.shared.send(Command::Crash);
        if let Some(t) = self.thread.lock().take() {
            let _ = t.join();
        }
    }

    /// [`Network::shutdown`] for async code: waits without blocking.
    pub async fn shutdown_async(&self) {
        let _ = self.shared.send(Command::Shutdown);
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
        f.debug_struct("Network").field("peer_id", &self.shared.peer_id).finish()
    }
}
