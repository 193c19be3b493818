//! The libp2p swarm the network thread drives: TCP and QUIC, Noise, Yamux,
//! DNS, and the behaviours composed into it.

use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::NetworkBehaviour;
use libp2p::{connection_limits, identify, mdns, noise, tcp, yamux, Swarm};

use crate::net::{Behaviour as HyparBehaviour, Limits, Liveness, Rate};
use crate::{Error, Keypair, NetworkConfig};

#[derive(NetworkBehaviour)]
#[behaviour(prelude = "libp2p::swarm::derive_prelude")]
pub(crate) struct Composed {
    pub hypar: HyparBehaviour,
    pub identify: identify::Behaviour,
    pub limits: connection_limits::Behaviour,
    /// LAN discovery, when [`NetworkConfig::mdns`] asks for it.
    pub mdns: Toggle<mdns::tokio::Behaviour>,
}

/// Build the swarm for `keypair` with the limits of `config`.
pub(crate) fn build(keypair: &Keypair, config: &NetworkConfig) -> Result<Swarm<Composed>, Error> {
    let runtime_err = |e: &dyn std::fmt::Display| Error::Runtime(e.to_string());
    let mdns = match config.mdns {
        true => Some(
            mdns::tokio::Behaviour::new(mdns::Config::default(), keypair.peer_id())
                .map_err(|e| Error::Runtime(format!("mDNS could not start: {e}")))?,
        ),
        false => None,
    };
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
                // Neighbour links carry keep-alives when quiet; a silent
                // neighbour's connection is closed, so it is replaced in seconds.
                hypar: HyparBehaviour::new(
                    config.max_message_size,
                    Limits { frames: config.peer_queue, bytes: config.peer_queue_bytes },
                    Liveness { interval: config.liveness_interval, timeout: config.liveness_timeout },
                    Rate { frames: config.peer_frame_rate, bytes: config.peer_byte_rate },
                ),
                identify: identify::Behaviour::new(identify::Config::new("/hypar/id/1.0.0".into(), key.public())),
                limits: connection_limits::Behaviour::new(limits),
                mdns: Toggle::from(mdns),
            }
        })
        .map_err(|e| runtime_err(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(config.idle_connection_timeout))
        .build();
    Ok(swarm)
}
