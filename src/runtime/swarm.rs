//! The libp2p swarm the network thread drives: TCP and QUIC, Noise, Yamux,
//! DNS, relayed circuits, and the behaviours composed into it.

use std::net::IpAddr;
use std::time::Duration;

use hickory_resolver::config::NameServerConfig;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::NetworkBehaviour;
use libp2p::{autonat, connection_limits, dcutr, dns, identify, mdns, noise, relay, tcp, upnp, yamux, Swarm};

use crate::config::{FALLBACK_DNS_SERVERS, RELAY_CIRCUIT_BYTES, RELAY_CIRCUIT_DURATION, RELAY_MAX_CIRCUITS};
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
    /// Every node can reserve a slot on a relay and be reached through it.
    pub relay_client: relay::client::Behaviour,
    /// Relay service for others, when [`NetworkConfig::relay_server`] asks.
    pub relay_server: Toggle<relay::Behaviour>,
    /// Hole punching: relayed connections become direct.
    pub dcutr: dcutr::Behaviour,
    /// Reachability probes, asked of peers and answered for them.
    pub autonat: autonat::v1::Behaviour,
    /// Port mapping on the local router, when [`NetworkConfig::upnp`] asks.
    pub upnp: Toggle<upnp::tokio::Behaviour>,
}

/// Connections to one peer at most: a direct one, a relayed one while hole
/// punching replaces it, and one more when both sides dial at once.
const MAX_CONNECTIONS_PER_PEER: u32 = 3;

/// How reachability is probed: the first probe soon after start (peers
/// must be connected first), then every 30 s until sure, then every
/// 5 min. libp2p's defaults (15 s, 90 s, 15 min) leave a fresh node
/// unsure for minutes.
fn autonat_config(config: &NetworkConfig) -> autonat::v1::Config {
    autonat::v1::Config {
        boot_delay: Duration::from_secs(2),
        retry_interval: Duration::from_secs(30),
        refresh_interval: Duration::from_secs(5 * 60),
        throttle_server_period: Duration::from_secs(15),
        confidence_max: 2,
        only_global_ips: !config.private_is_public,
        ..Default::default()
    }
}

fn relay_config() -> relay::Config {
    relay::Config {
        max_circuits: RELAY_MAX_CIRCUITS.0,
        max_circuits_per_peer: RELAY_MAX_CIRCUITS.1,
        max_circuit_duration: RELAY_CIRCUIT_DURATION,
        max_circuit_bytes: RELAY_CIRCUIT_BYTES,
        ..Default::default()
    }
}

/// Relay service, offered (the hop protocol advertised) from the start:
/// the operator asked for it. libp2p would wait for a confirmed external
/// address, which a server with a declared public address or a test bed
/// on private addresses may never get from probes.
fn relay_server(me: libp2p::PeerId) -> relay::Behaviour {
    let mut relay = relay::Behaviour::new(me, relay_config());
    relay.set_status(Some(relay::Status::Enable));
    relay
}

/// How `/dns` addresses are resolved: the configured servers, else the
/// system's configuration, else the public fallback (see
/// [`NetworkConfig::dns_servers`]).
fn resolver(config: &NetworkConfig) -> (dns::ResolverConfig, dns::ResolverOpts) {
    let servers = |ips: &[IpAddr]| {
        let servers = ips.iter().map(|ip| NameServerConfig::udp_and_tcp(*ip)).collect();
        (dns::ResolverConfig::from_name_servers(servers), dns::ResolverOpts::default())
    };
    if !config.dns_servers.is_empty() {
        return servers(&config.dns_servers);
    }
    match system_resolver() {
        Ok(system) => system,
        Err(reason) => {
            tracing::warn!("cannot read the system's DNS configuration ({reason}); using public resolvers");
            servers(&FALLBACK_DNS_SERVERS)
        }
    }
}

#[cfg(not(target_os = "android"))]
fn system_resolver() -> Result<(dns::ResolverConfig, dns::ResolverOpts), String> {
    hickory_resolver::system_conf::read_system_conf().map_err(|e| e.to_string())
}

/// hickory reads Android's settings through the app's Java context, which
/// a library loaded by an app (JNA, uniffi) never has: it would panic.
#[cfg(target_os = "android")]
fn system_resolver() -> Result<(dns::ResolverConfig, dns::ResolverOpts), String> {
    Err("Android's resolver settings need an app context".into())
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
    let resolver = resolver(config);
    let swarm = libp2p::SwarmBuilder::with_existing_identity(keypair.0.clone())
        .with_tokio()
        .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)
        .map_err(|e| runtime_err(&e))?
        .with_quic()
        .with_dns_config(resolver.0, resolver.1)
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .map_err(|e| runtime_err(&e))?
        .with_behaviour(|key, relay_client| {
            let me = key.public().to_peer_id();
            let limits = connection_limits::ConnectionLimits::default()
                .with_max_established(Some(config.max_connections))
                .with_max_established_per_peer(Some(MAX_CONNECTIONS_PER_PEER));
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
                relay_client,
                relay_server: Toggle::from(config.relay_server.then(|| relay_server(me))),
                dcutr: dcutr::Behaviour::new(me),
                autonat: autonat::v1::Behaviour::new(me, autonat_config(config)),
                upnp: Toggle::from(config.upnp.then(upnp::tokio::Behaviour::default)),
            }
        })
        .map_err(|e| runtime_err(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(config.idle_connection_timeout))
        .build();
    Ok(swarm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_name_servers_replace_the_system_ones() {
        let ip: IpAddr = "192.0.2.53".parse().unwrap();
        let config = NetworkConfig { dns_servers: vec![ip], ..NetworkConfig::default() };
        let (configured, _) = resolver(&config);
        let ips: Vec<IpAddr> = configured.name_servers.iter().map(|s| s.ip).collect();
        assert_eq!(ips, vec![ip]);
        // Without any: the system's, which this machine has.
        let (system, _) = resolver(&NetworkConfig::default());
        assert!(!system.name_servers.is_empty());
    }
}
