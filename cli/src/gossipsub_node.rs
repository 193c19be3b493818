//! A rust-libp2p gossipsub node for `hypar bench --protocol gossipsub`,
//! built like a hypar node: its own OS thread with a single-threaded tokio
//! runtime, TCP + Noise + Yamux, default gossipsub settings (signed messages).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use libp2p::swarm::SwarmEvent;
use libp2p::{gossipsub, noise, tcp, yamux, Multiaddr};
use tokio::sync::mpsc;

enum Cmd {
    Dial(Multiaddr),
    Publish(Bytes),
    Stop,
}

pub(crate) struct GossipNode {
    pub addr: Multiaddr,
    cmd: mpsc::UnboundedSender<Cmd>,
    mesh: Arc<AtomicUsize>,
    thread: JoinHandle<()>,
}

impl GossipNode {
    /// Start a node subscribed to the bench topic; `on_message` is called
    /// for every message it receives.
    pub(crate) fn start(on_message: impl Fn(&[u8]) + Send + 'static) -> Result<GossipNode, String> {
        let (cmd, mut rx) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<Multiaddr, String>>();
        let mesh = Arc::new(AtomicUsize::new(0));
        let mesh2 = mesh.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async move {
                let swarm = libp2p::SwarmBuilder::with_new_identity()
                    .with_tokio()
                    .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)
                    .map_err(|e| e.to_string())
                    .and_then(|b| {
                        b.with_behaviour(|key| {
                            gossipsub::Behaviour::<gossipsub::IdentityTransform, gossipsub::AllowAllSubscriptionFilter>::new(
                                gossipsub::MessageAuthenticity::Signed(key.clone()),
                                gossipsub::Config::default(),
                            )
                            .map_err(|e| e.to_string().into())
                        })
                        .map_err(|e| e.to_string())
                    });
                let mut swarm = match swarm {
                    Ok(b) => b.with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60))).build(),
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let topic = gossipsub::IdentTopic::new("bench");
                let hash = topic.hash();
                if let Err(e) = swarm.behaviour_mut().subscribe(&topic) {
                    let _ = ready_tx.send(Err(e.to_string()));
                    return;
                }
                if let Err(e) = swarm.listen_on("/ip4/127.0.0.1/tcp/0".parse().expect("valid")) {
                    let _ = ready_tx.send(Err(e.to_string()));
                    return;
                }
                let mut ready = Some(ready_tx);
                loop {
                    tokio::select! {
                        c = rx.recv() => match c {
                            Some(Cmd::Dial(a)) => { let _ = swarm.dial(a); }
                            Some(Cmd::Publish(p)) => { let _ = swarm.behaviour_mut().publish(topic.clone(), p); }
                            Some(Cmd::Stop) | None => break,
                        },
                        e = swarm.select_next_some() => match e {
                            SwarmEvent::NewListenAddr { address, .. } => {
                                if let Some(tx) = ready.take() {
                                    let _ = tx.send(Ok(address));
                                }
                            }
                            SwarmEvent::Behaviour(gossipsub::Event::Message { message, .. }) => on_message(&message.data),
                            _ => {}
                        },
                    }
                    mesh2.store(swarm.behaviour().mesh_peers(&hash).count(), Ordering::Relaxed);
                }
            });
        });
        let addr = ready_rx
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| "gossipsub node did not start".to_string())??;
        Ok(GossipNode { addr, cmd, mesh, thread })
    }

    pub(crate) fn dial(&self, addr: Multiaddr) {
        let _ = self.cmd.send(Cmd::Dial(addr));
    }

    pub(crate) fn publish(&self, payload: Bytes) {
        let _ = self.cmd.send(Cmd::Publish(payload));
    }

    /// Peers in this node's gossipsub mesh for the topic.
    pub(crate) fn mesh_peers(&self) -> usize {
        self.mesh.load(Ordering::Relaxed)
    }

    pub(crate) fn stop(self) {
        let _ = self.cmd.send(Cmd::Stop);
        let _ = self.thread.join();
    }
}
