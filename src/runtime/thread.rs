//! Starting the network thread: the OS thread, its tokio runtime, the swarm,
//! and the wait until every listener is bound.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use hypar_proto::State;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId};
use parking_lot::RwLock;
use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::sync::{mpsc, oneshot};

use super::{
    bootstrap, penalties, relays, swarm, timers, validation, Command, FactSubscribers, Runtime, RuntimeHandle,
};
use crate::net::peer_data;
use crate::{BornIn, Error, FastMap, Keypair, NetworkConfig};

/// Handle to the running thread, given to `Network`.
pub(crate) struct Started {
    pub handle: Arc<RuntimeHandle>,
    pub thread: std::thread::JoinHandle<()>,
    pub done: oneshot::Receiver<()>,
}

/// Start the network thread; returns once every listener is bound.
pub(crate) fn start(config: NetworkConfig, keypair: Keypair) -> Result<Started, Error> {
    config.validate()?;
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let handle = Arc::new(RuntimeHandle {
        peer_id: keypair.peer_id(),
        config: config.clone(),
        commands: cmd_tx,
        listen_addrs: RwLock::new(Vec::new()),
        facts: FactSubscribers::default(),
        closed: AtomicBool::new(false),
        frames_dropped: AtomicU64::new(0),
        born: BornIn::here(),
    });
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), Error>>();
    let (done_tx, done_rx) = oneshot::channel();
    let thread_handle = handle.clone();
    let thread = std::thread::Builder::new()
        .name(format!("hypar-{}", short(&handle.peer_id)))
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(Error::Runtime(e.to_string())));
                    return;
                }
            };
            let runtime_handle = thread_handle.clone();
            rt.block_on(async move {
                match Runtime::start(runtime_handle, keypair).await {
                    Ok(runtime) => {
                        let _ = ready_tx.send(Ok(()));
                        runtime.run(cmd_rx).await;
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            });
            thread_handle.closed.store(true, Ordering::Release);
            let _ = done_tx.send(());
        })
        .map_err(|e| Error::Runtime(e.to_string()))?;
    match ready_rx.recv_timeout(config.startup_timeout + Duration::from_secs(1)) {
        Ok(Ok(())) => Ok(Started { handle, thread, done: done_rx }),
        Ok(Err(e)) => {
            let _ = thread.join();
            Err(e)
        }
        Err(_) => {
            let _ = handle.commands.send(Command::Shutdown);
            Err(Error::Runtime("the network thread did not start in time".into()))
        }
    }
}

/// The last characters of a peer id, to name the thread.
fn short(p: &PeerId) -> String {
    let s = p.to_string();
    s[s.len().saturating_sub(6)..].to_string()
}

impl Runtime {
    /// Build the swarm and wait until every listener has an address (port 0
    /// resolved).
    async fn start(handle: Arc<RuntimeHandle>, keypair: Keypair) -> Result<Runtime, Error> {
        let config = handle.config.clone();
        let mut swarm = swarm::build(&keypair, &config)?;
        let mut listeners = Vec::new();
        for addr in &config.listen {
            let id = swarm
                .listen_on(addr.clone())
                .map_err(|e| Error::Listen { addr: addr.to_string(), reason: e.to_string() })?;
            listeners.push((id, addr.clone()));
        }
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
        for addr in &config.external_addrs {
            swarm.add_external_address(addr.clone());
        }
        let relays = relays::Relays::new(!config.external_addrs.is_empty(), config.relay_server);
        if relays.serves_from_bound() {
            for addr in &bound {
                relays::serve_from(&mut swarm, addr);
            }
        }
        *handle.listen_addrs.write() = bound.clone();
        let mut state = State::new(handle.peer_id, Some(peer_data::encode(&bound)));
        let signing_key = keypair.0.clone();
        state.set_signer(Arc::new(move |bytes: &[u8]| Bytes::from(signing_key.sign(bytes).unwrap_or_default())));
        state.set_wall_clock(std::time::Instant::now(), super::unix_ms());
        let validation = validation::start(&format!("hypar-{}", short(&handle.peer_id)), handle.commands.clone())?;
        let timers = timers::TimerTable::new();
        let mut runtime = Runtime {
            handle,
            swarm,
            state,
            rng: StdRng::from_entropy(),
            out: Vec::new(),
            timers,
            topics: FastMap::default(),
            address_dials: bootstrap::AddressDials::default(),
            to_release: Vec::new(),
            validation,
            to_verify: Vec::new(),
            keys: Default::default(),
            validating: FastMap::default(),
            penalties: penalties::Penalties::new(config.ban_threshold, config.ban_duration),
            lan: Default::default(),
            relays,
        };
        runtime.announce_addresses();
        Ok(runtime)
    }
}
