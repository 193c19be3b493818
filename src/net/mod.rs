//! libp2p glue: the `/hypar/2.0.0` stream protocol that carries the protocol
//! core's frames between connected peers, and the encoding of a peer's
//! addresses as [`hypar_proto::PeerData`].

mod behaviour;
mod codec;
mod handler;
pub(crate) mod peer_data;

pub(crate) use behaviour::{Behaviour, Event as BehaviourEvent};
pub(crate) use handler::{Limits, OutFrame};

/// The stream protocol hypar speaks.
pub(crate) const PROTOCOL: libp2p::StreamProtocol = libp2p::StreamProtocol::new("/hypar/2.0.0");

#[cfg(test)]
mod tests {
    //! A real libp2p peer (TCP + Noise + Yamux) that speaks `/hypar/2.0.0`
    //! but writes invalid bytes, against a real network.

    use std::time::Duration;

    use bytes::Bytes;
    use futures::StreamExt;
    use libp2p::swarm::SwarmEvent;
    use libp2p::{noise, tcp, yamux};

    use super::Behaviour;
    use crate::{topic, Keypair, Network, NetworkConfig};

    async fn attack(victim: &Network, garbage: &'static [u8]) {
        let mut swarm = libp2p::SwarmBuilder::with_new_identity()
            .with_tokio()
            .with_tcp(tcp::Config::default(), noise::Config::new, yamux::Config::default)
            .unwrap()
            .with_behaviour(|_| Behaviour::new(64 * 1024, super::Limits { frames: 16, bytes: 1 << 20 }))
            .unwrap()
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
            .build();
        // The attacker keeps its side open: only the victim may close it.
        swarm.behaviour_mut().set_keep_alive(victim.peer_id(), true);
        let addr = crate::net::peer_data::without_peer_id(&victim.listen_addrs()[0]);
        swarm.behaviour_mut().add_addresses(victim.peer_id(), vec![addr]);
        let frame = super::OutFrame { bytes: Bytes::from_static(garbage), payload: None };
        swarm.behaviour_mut().send(victim.peer_id(), frame).unwrap();
        let closed = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let SwarmEvent::ConnectionClosed { peer_id, .. } = swarm.select_next_some().await {
                    if peer_id == victim.peer_id() {
                        return;
                    }
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "the victim kept a connection that sent {garbage:?}");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn garbage_frames_close_the_connection_and_harm_nothing() {
        let config =
            || NetworkConfig { listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()], ..NetworkConfig::default() };
        let victim = Network::new(config(), Keypair::generate()).unwrap();
        let mut topic = victim.join(topic::Config::new("t", vec![])).unwrap();
        for garbage in [
            &b"\x05\x09garbage"[..],         // unknown version
            b"\xff\xff\xff\x7f",             // declared length far above the limit
            b"\x06\x01\x00\x00\x00\x00\x00", // truncated topic id
            b"\x80\x00",                     // non-minimal length prefix
        ] {
            attack(&victim, garbage).await;
        }
        // Still healthy: an honest peer joins and talks.
        let honest = Network::new(config(), Keypair::generate()).unwrap();
        let mut events = victim.events();
        let t = honest.join(topic::Config::new("t", victim.listen_addrs())).unwrap();
        tokio::time::timeout(Duration::from_secs(20), async {
            while let Some(e) = events.recv().await {
                if matches!(e.kind, crate::EventKind::NeighborUp(_)) {
                    break;
                }
            }
        })
        .await
        .unwrap();
        t.gossip(b"still fine".to_vec()).unwrap();
        let got = tokio::time::timeout(Duration::from_secs(20), topic.recv()).await.unwrap().unwrap();
        assert_eq!(&got[..], b"still fine");
    }
}
