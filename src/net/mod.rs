//! libp2p glue: the `/hypar/7.0.0` stream protocol that carries the protocol
//! core's frames between connected peers, and the encoding of a peer's
//! addresses as [`hypar_proto::PeerData`].

#[cfg(test)]
mod attack_tests;
mod behaviour;
mod codec;
mod handler;
pub(crate) mod peer_data;

pub(crate) use behaviour::{Behaviour, Event as BehaviourEvent};
pub(crate) use handler::{Limits, Liveness, OutFrame, Rate};

/// The stream protocol hypar speaks.
pub(crate) const PROTOCOL: libp2p::StreamProtocol = libp2p::StreamProtocol::new("/hypar/7.0.0");

#[cfg(test)]
mod tests {
    //! Real libp2p peers (TCP + Noise + Yamux) that speak `/hypar/7.0.0`
    //! through this module's behaviour alone: one writes invalid bytes to a
    //! real network, two others watch a quiet link.

    use std::time::{Duration, Instant};

    use bytes::Bytes;
    use futures::StreamExt;
    use libp2p::swarm::SwarmEvent;
    use libp2p::{noise, tcp, yamux, Multiaddr, PeerId, Swarm};

    use super::{Behaviour, Limits, Liveness, OutFrame};
    use crate::{topic, Keypair, Network, NetworkConfig};

    fn bare_swarm(liveness: Liveness) -> Swarm<Behaviour> {
        libp2p::SwarmBuilder::with_new_identity()
            .with_tokio()
            .with_tcp(tcp::Config::default(), noise::Config::new, yamux::Config::default)
            .unwrap()
            .with_behaviour(|_| {
                Behaviour::new(64 * 1024, Limits { frames: 16, bytes: 1 << 20 }, liveness, super::Rate::default())
            })
            .unwrap()
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
            .build()
    }

    /// Connect `from` to `to` at `addr` by sending it `bytes`, keeping the
    /// connection alive on `from`'s side.
    fn send_raw(from: &mut Swarm<Behaviour>, to: PeerId, addr: Multiaddr, bytes: &'static [u8]) {
        from.behaviour_mut().set_keep_alive(to, true);
        from.behaviour_mut().add_addresses(to, vec![addr]);
        from.behaviour_mut().send(to, OutFrame { bytes: Bytes::from_static(bytes), payload: None }).unwrap();
    }

    async fn attack(victim: &Network, garbage: &'static [u8]) {
        let liveness = Liveness { interval: Duration::from_secs(1), timeout: Duration::from_secs(60) };
        let mut swarm = bare_swarm(liveness);
        let addr = crate::net::peer_data::without_peer_id(&victim.listen_addrs()[0]);
        send_raw(&mut swarm, victim.peer_id(), addr, garbage);
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

    /// A link both sides keep alive stays open while quiet (keep-alives flow
    /// both ways); once one side stops keeping it alive, and so stops
    /// sending keep-alives, the other closes it within the timeout.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_quiet_neighbour_link_stays_open_and_a_silent_one_is_closed() {
        let liveness = Liveness { interval: Duration::from_millis(100), timeout: Duration::from_millis(500) };
        let (mut a, mut b) = (bare_swarm(liveness), bare_swarm(liveness));
        let (a_id, b_id) = (*a.local_peer_id(), *b.local_peer_id());
        b.listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap()).unwrap();
        let addr = loop {
            if let SwarmEvent::NewListenAddr { address, .. } = b.select_next_some().await {
                break address;
            }
        };
        b.behaviour_mut().set_keep_alive(a_id, true);
        send_raw(&mut a, b_id, addr, &[hypar_proto::wire::KEEP_ALIVE]);

        // Quiet for twelve timeouts: neither side closes.
        let quiet = Duration::from_secs(6);
        let (started, mut established) = (Instant::now(), false);
        let _ = tokio::time::timeout(quiet, async {
            loop {
                let event = tokio::select! {
                    e = a.select_next_some() => e,
                    e = b.select_next_some() => e,
                };
                match event {
                    SwarmEvent::ConnectionEstablished { .. } => established = true,
                    SwarmEvent::ConnectionClosed { cause, .. } => {
                        panic!("a quiet link closed after {:?}: {cause:?}", started.elapsed())
                    }
                    _ => {}
                }
            }
        })
        .await;
        assert!(established, "the peers never connected");

        // B stops keeping the link alive: A hears nothing more and closes it.
        b.behaviour_mut().set_keep_alive(a_id, false);
        let silenced = Instant::now();
        let closed_after = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let event = tokio::select! {
                    e = a.select_next_some() => e,
                    e = b.select_next_some() => e,
                };
                if let SwarmEvent::ConnectionClosed { .. } = event {
                    return silenced.elapsed();
                }
            }
        })
        .await
        .expect("A kept a link on which nothing arrived for 20 timeouts");
        // The last keep-alive may have left B up to one interval before.
        assert!(closed_after >= liveness.timeout - liveness.interval, "closed after only {closed_after:?}");
    }
}
