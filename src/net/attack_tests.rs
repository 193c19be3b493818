//! A hostile peer against a real node: a bare libp2p swarm with this
//! module's behaviour, writing frames it builds itself, so it can lie in
//! every field. Each test checks that the lie is neither delivered nor
//! relayed, and that honest traffic still flows.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::StreamExt;
use hypar_proto::{wire, Auth, Gossip, Message, TopicId};
use libp2p::identity;
use libp2p::{noise, tcp, yamux, PeerId, Swarm};

use super::{Behaviour, Limits, Liveness, OutFrame};
use crate::{topic, EventKind, Keypair, Network, NetworkConfig, Topic, TopicStats};

const TOPIC: &str = "under-attack";

fn config() -> NetworkConfig {
    NetworkConfig { listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()], ..NetworkConfig::default() }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

struct Hostile {
    swarm: Swarm<Behaviour>,
    key: identity::Keypair,
    victim: PeerId,
    topic: TopicId,
}

impl Hostile {
    /// A hostile peer connected to `victim` (not joined to anything yet).
    fn new(victim: &Network) -> Hostile {
        let key = identity::Keypair::generate_ed25519();
        let liveness = Liveness { interval: Duration::from_secs(1), timeout: Duration::from_secs(60) };
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key.clone())
            .with_tokio()
            .with_tcp(tcp::Config::default(), noise::Config::new, yamux::Config::default)
            .unwrap()
            .with_behaviour(|_| Behaviour::new(64 * 1024, Limits { frames: 4096, bytes: 64 << 20 }, liveness))
            .unwrap()
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
            .build();
        let addr = super::peer_data::without_peer_id(&victim.listen_addrs()[0]);
        swarm.behaviour_mut().set_keep_alive(victim.peer_id(), true);
        swarm.behaviour_mut().add_addresses(victim.peer_id(), vec![addr]);
        Hostile { swarm, key, victim: victim.peer_id(), topic: TopicId::from_name(TOPIC) }
    }

    fn id(&self) -> PeerId {
        self.key.public().to_peer_id()
    }

    fn send(&mut self, message: Message<PeerId>) {
        let mut bytes = Vec::new();
        wire::encode(&self.topic, &message, 64 * 1024, &mut bytes).unwrap();
        let frame = OutFrame { bytes: Bytes::from(bytes), payload: None };
        self.swarm.behaviour_mut().send(self.victim, frame).unwrap();
    }

    /// Message `seq` of this peer's session 1, signed by `signer` at
    /// `time_ms`, claiming `age_ms`.
    fn gossip(&self, signer: &identity::Keypair, seq: u64, time_ms: u64, age_ms: u32, payload: &str) -> Gossip<PeerId> {
        let payload = Bytes::copy_from_slice(payload.as_bytes());
        let signed = wire::signed_bytes(&self.topic, &self.id(), 1, seq, time_ms, &payload);
        let signature = Bytes::from(signer.sign(&signed).unwrap());
        Gossip::new(self.id(), 1, seq, 1, age_ms, payload).with_auth(Auth { time_ms, signature })
    }

    /// Drive this peer's swarm until `until` finishes.
    async fn drive<T>(&mut self, until: impl std::future::Future<Output = T>) -> T {
        tokio::pin!(until);
        loop {
            tokio::select! {
                out = &mut until => return out,
                _ = self.swarm.select_next_some() => {}
            }
        }
    }
}

/// A victim in the topic, an honest peer joined through it, and the
/// victim's topic handle.
async fn victim_and_honest() -> (Network, Topic, Network, Topic) {
    let victim = Network::new(config(), Keypair::generate()).unwrap();
    let mut events = victim.events();
    let vt = victim.join(topic::Config::new(TOPIC, vec![])).unwrap();
    let honest = Network::new(config(), Keypair::generate()).unwrap();
    let ht = honest.join(topic::Config::new(TOPIC, victim.listen_addrs())).unwrap();
    wait_event(&mut events, |k| matches!(k, EventKind::NeighborUp(_))).await;
    (victim, vt, honest, ht)
}

async fn wait_event(events: &mut crate::Events, want: impl Fn(&EventKind) -> bool) {
    tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(e) = events.recv().await {
            if want(&e.kind) {
                return;
            }
        }
    })
    .await
    .expect("event did not come");
}

async fn stats(net: &Network) -> TopicStats {
    net.stats_async().await.unwrap().topics.remove(0)
}

async fn recv(topic: &mut Topic) -> Bytes {
    tokio::time::timeout(Duration::from_secs(20), topic.recv()).await.expect("nothing arrived").unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_replayed_and_reaged_messages_are_never_delivered() {
    let (victim, mut vt, _honest, ht) = victim_and_honest().await;
    let mut x = Hostile::new(&victim);
    let mut events = victim.events();
    // X joins the topic through the victim, which must take it in.
    x.send(Message::Join { data: None });
    let x_id = x.id();
    x.drive(wait_event(&mut events, |k| *k == EventKind::NeighborUp(x_id))).await;
    let other = identity::Keypair::generate_ed25519();
    let now = now_ms();

    // 1. Signed by someone else than the origin it names.
    x.send(Message::Gossip(x.gossip(&other, 1, now, 0, "wrong key")));
    // 2. No signature at all.
    let mut unsigned = x.gossip(&x.key, 2, now, 0, "unsigned");
    unsigned.auth = None;
    x.send(Message::Gossip(unsigned));
    // 3. A valid signature over other bytes (the payload changed on the way).
    let mut altered = x.gossip(&x.key, 3, now, 0, "original");
    altered.payload = Bytes::from_static(b"altered");
    x.send(Message::Gossip(altered));
    // 4. Published ten minutes ago, claiming to be fresh.
    x.send(Message::Gossip(x.gossip(&x.key, 4, now - 600_000, 0, "re-aged")));
    // 5. Timed an hour ahead.
    x.send(Message::Gossip(x.gossip(&x.key, 5, now + 3_600_000, 0, "from the future")));
    // 6. A valid message, then the same again with another age and hop count.
    let fresh = x.gossip(&x.key, 6, now, 0, "once");
    let mut again = fresh.clone();
    again.age_ms = 5;
    again.hops = 3;
    x.send(Message::Gossip(fresh));
    x.send(Message::Gossip(again));
    // A last valid message: frames of one stream are handled in order, and
    // verdicts come back in order, so once it arrives all of the above were
    // judged.
    x.send(Message::Gossip(x.gossip(&x.key, 7, now, 0, "sentinel")));

    let first = x.drive(recv(&mut vt)).await;
    let second = x.drive(recv(&mut vt)).await;
    assert_eq!((&first[..], &second[..]), (&b"once"[..], &b"sentinel"[..]));
    let s = stats(&victim).await;
    assert_eq!(s.forged, 3, "{s:?}");
    assert_eq!(s.delivered, 2, "{s:?}");
    assert!(s.duplicates >= 1 && s.dropped >= 2, "{s:?}");

    // Honest traffic still flows.
    ht.gossip(b"honest".to_vec()).unwrap();
    assert_eq!(&x.drive(recv(&mut vt)).await[..], b"honest");
    assert!(vt.try_recv().is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn only_neighbours_take_part_in_the_broadcast() {
    let (victim, mut vt, _honest, ht) = victim_and_honest().await;
    // X never joins: it just connects and pushes, announces and grafts.
    let mut x = Hostile::new(&victim);
    let now = now_ms();
    x.send(Message::Gossip(x.gossip(&x.key, 1, now, 0, "outsider")));
    x.send(Message::IHave(vec![]));
    x.send(Message::Graft { id: None });
    x.drive(async {
        tokio::time::timeout(Duration::from_secs(20), async {
            while stats(&victim).await.not_neighbor < 3 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the outsider's frames were not refused");
    })
    .await;
    ht.gossip(b"honest".to_vec()).unwrap();
    assert_eq!(&x.drive(recv(&mut vt)).await[..], b"honest");
    let s = stats(&victim).await;
    assert_eq!((s.delivered, s.tree_links), (1, 1), "only the honest peer is on the tree: {s:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forger_is_told_disconnect_banned_dropped_from_the_views_and_refused() {
    let (victim, mut vt, _honest, ht) = victim_and_honest().await;
    let mut x = Hostile::new(&victim);
    let mut events = victim.events();
    x.send(Message::Join { data: None });
    let x_id = x.id();
    x.drive(wait_event(&mut events, |k| *k == EventKind::NeighborUp(x_id))).await;
    let other = identity::Keypair::generate_ed25519();
    // Five forgeries reach the default threshold (20 each).
    for seq in 1..=5 {
        x.send(Message::Gossip(x.gossip(&other, seq, now_ms(), 0, "forged")));
    }
    // X hears DISCONNECT (for good) for the topic, then its connection closes.
    let topic = x.topic;
    let (told, closed) = tokio::time::timeout(Duration::from_secs(20), async {
        let (mut told, mut closed) = (false, false);
        while !(told && closed) {
            match x.swarm.select_next_some().await {
                libp2p::swarm::SwarmEvent::Behaviour(super::BehaviourEvent::Frame { frame, .. }) => {
                    told |= frame.topic == topic && frame.message == Message::Disconnect { alive: false };
                }
                libp2p::swarm::SwarmEvent::ConnectionClosed { peer_id, .. } => closed |= peer_id == x.victim,
                _ => {}
            }
        }
        (told, closed)
    })
    .await
    .unwrap_or_else(|_| {
        panic!("the forger was not sent away: {:?}", futures::executor::block_on(victim.stats_async()))
    });
    assert!(told && closed);
    wait_event(&mut events, |k| *k == EventKind::PeerBanned(x_id)).await;
    let stats = victim.stats_async().await.unwrap();
    assert_eq!((stats.peers_banned, stats.banned_now), (1, 1));
    let s = &stats.topics[0];
    assert_eq!((s.active_view, s.forged, s.delivered), (1, 5, 0), "{s:?}");

    // It cannot come back: a new connection is refused at once.
    x.send(Message::Join { data: None });
    let refused = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match x.swarm.select_next_some().await {
                libp2p::swarm::SwarmEvent::ConnectionClosed { .. } => return "closed",
                libp2p::swarm::SwarmEvent::OutgoingConnectionError { .. } => return "refused",
                libp2p::swarm::SwarmEvent::Behaviour(super::BehaviourEvent::DialFailed { .. }) => return "refused",
                _ => {}
            }
        }
    })
    .await
    .expect("the banned peer's new connection was neither refused nor closed");
    assert!(["closed", "refused"].contains(&refused));
    assert_eq!(victim.stats_async().await.unwrap().topics[0].active_view, 1);
    // Honest traffic flows on.
    ht.gossip(b"honest".to_vec()).unwrap();
    assert_eq!(&recv(&mut vt).await[..], b"honest");
}
