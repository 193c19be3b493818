//! Real nodes over loopback sockets.

mod common_net;

use std::collections::BTreeSet;
use std::time::Duration;

use common_net::*;
use hypar::{topic, EventKind, Keypair, Multiaddr, Network, NetworkConfig};
use tokio::time::timeout;

async fn exchange_1000(listen: &str) {
    let a = Network::new(config(listen), Keypair::generate()).unwrap();
    let b = Network::new(config(listen), Keypair::generate()).unwrap();
    let mut a_events = a.events();
    let ta = a.join(topic::Config::new("chat", vec![])).unwrap();
    let mut tb = b.join(topic::Config::new("chat", a.listen_addrs())).unwrap();
    wait_neighbor(&mut a_events).await;
    for i in 0..1000u32 {
        ta.gossip(i.to_be_bytes().to_vec()).unwrap();
    }
    let mut got = BTreeSet::new();
    while got.len() < 1000 {
        let m = timeout(Duration::from_secs(20), tb.recv()).await.expect("messages stopped arriving").unwrap();
        assert!(got.insert(u32::from_be_bytes(m[..].try_into().unwrap())), "delivered twice");
    }
    // The protocol counted each delivery: nothing more is on its way.
    let stats = b.stats_async().await.unwrap();
    assert_eq!(stats.topics[0].delivered, 1000);
    assert!(tb.try_recv().is_none(), "an extra delivery");
    a.shutdown_async().await;
    b.shutdown_async().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_nodes_exchange_1000_messages_over_tcp() {
    exchange_1000(TCP).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_nodes_exchange_1000_messages_over_quic() {
    exchange_1000(QUIC).await;
}

#[test]
fn listen_addrs_are_bound_and_end_in_the_peer_id() {
    let n = Network::new(config(TCP), Keypair::generate()).unwrap();
    let addrs = n.listen_addrs();
    assert_eq!(addrs.len(), 1);
    let s = addrs[0].to_string();
    assert!(s.starts_with("/ip4/127.0.0.1/tcp/") && !s.contains("/tcp/0/"), "{s}");
    assert!(s.ends_with(&format!("/p2p/{}", n.peer_id())), "{s}");
}

#[test]
fn oversized_publish_fails_and_use_after_shutdown_fails() {
    let n = Network::new(config(TCP), Keypair::generate()).unwrap();
    let t = n.join(topic::Config::new("big", vec![])).unwrap();
    match t.gossip(vec![0u8; 64 * 1024]) {
        Err(hypar::Error::MessageTooLarge { size, max }) => assert!(size > max && max == 64 * 1024),
        other => panic!("expected MessageTooLarge, got {other:?}"),
    }
    assert!(t.gossip(vec![0u8; 1000]).is_ok());
    assert_eq!(n.join(topic::Config::new("big", vec![])).unwrap_err(), hypar::Error::AlreadyJoined("big".into()));
    n.shutdown();
    assert_eq!(t.gossip(b"late".to_vec()), Err(hypar::Error::ShutDown));
    assert!(n.stats().is_err());
}

#[test]
fn keypair_round_trips_and_bad_bytes_are_refused() {
    let k = Keypair::generate();
    let k2 = Keypair::from_bytes(&k.to_bytes()).unwrap();
    assert_eq!(k.peer_id(), k2.peer_id());
    assert!(matches!(Keypair::from_bytes(b"nope"), Err(hypar::Error::InvalidKeypair(_))));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lagging_subscriber_loses_messages_without_stalling_others_and_is_told() {
    let small = NetworkConfig { subscriber_queue: 64, ..config(TCP) };
    let a = Network::new(config(TCP), Keypair::generate()).unwrap();
    let b = Network::new(small, Keypair::generate()).unwrap();
    let mut a_events = a.events();
    let mut b_events = b.events();
    let ta = a.join(topic::Config::new("lag", vec![])).unwrap();
    let mut reader = b.join(topic::Config::new("lag", a.listen_addrs())).unwrap();
    let _sleeper = reader.clone(); // never reads
    wait_neighbor(&mut a_events).await;
    // In lockstep with the reader, so that only the subscriber that never
    // reads falls behind: it keeps the first 64 and loses the other 136.
    for i in 0..200u32 {
        ta.gossip(i.to_be_bytes().to_vec()).unwrap();
        let m = timeout(Duration::from_secs(20), reader.recv()).await.expect("the reader was stalled").unwrap();
        assert_eq!(&m[..], i.to_be_bytes());
    }
    let stats = b.stats_async().await.unwrap();
    assert_eq!(stats.topics[0].delivered, 200);
    assert_eq!(stats.topics[0].dropped, 200 - 64, "the sleeper's drops are counted: {stats:?}");
    // ...and reported: the first miss at once, the rest at most a second later.
    let mut missed = 0;
    timeout(Duration::from_secs(20), async {
        while missed < 200 - 64 {
            if let EventKind::Lagged { missed: m } = b_events.recv().await.expect("events ended").kind {
                missed += m;
            }
        }
    })
    .await
    .expect("the lag was not reported");
    assert_eq!(missed, 200 - 64);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_bootstrap_is_reported() {
    let n = Network::new(config(TCP), Keypair::generate()).unwrap();
    let mut events = n.events();
    // A port nobody listens on, with and without a peer id.
    let dead = Keypair::generate().peer_id();
    let with_id: Multiaddr = format!("/ip4/127.0.0.1/tcp/9/p2p/{dead}").parse().unwrap();
    let _t = n.join(topic::Config::new("alone", vec![with_id])).unwrap();
    let e = timeout(Duration::from_secs(20), events.recv()).await.expect("no event").unwrap();
    assert_eq!((e.topic.as_str(), e.kind), ("alone", EventKind::BootstrapFailed));
    let no_id: Multiaddr = "/ip4/127.0.0.1/tcp/9".parse().unwrap();
    let _t2 = n.join(topic::Config::new("alone-too", vec![no_id])).unwrap();
    let e = timeout(Duration::from_secs(20), events.recv()).await.expect("no event").unwrap();
    assert_eq!((e.topic.as_str(), e.kind), ("alone-too", EventKind::BootstrapFailed));
}

#[tokio::test(flavor = "multi_thread")]
async fn streams_end_after_shutdown_even_while_handles_live() {
    let n = Network::new(config(TCP), Keypair::generate()).unwrap();
    let mut t = n.join_async(topic::Config::new("ending", vec![])).await.unwrap();
    let publisher = t.publisher();
    n.shutdown_async().await;
    let end = timeout(Duration::from_secs(5), t.recv()).await.expect("the stream did not end after shutdown");
    assert_eq!(end, None);
    let mut late = t.clone();
    assert_eq!(timeout(Duration::from_secs(5), late.recv()).await.expect("a late clone never ended"), None);
    assert_eq!(publisher.gossip(b"late".to_vec()), Err(hypar::Error::ShutDown));
}

#[tokio::test(flavor = "multi_thread")]
async fn queued_messages_are_not_delivered_after_shutdown() {
    let a = Network::new(config(TCP), Keypair::generate()).unwrap();
    let b = Network::new(config(TCP), Keypair::generate()).unwrap();
    let mut a_events = a.events();
    let ta = a.join_async(topic::Config::new("queued", vec![])).await.unwrap();
    let mut tb = b.join_async(topic::Config::new("queued", a.listen_addrs())).await.unwrap();
    wait_neighbor(&mut a_events).await;
    for i in 0..100u32 {
        ta.gossip(i.to_be_bytes().to_vec()).unwrap();
    }
    // Wait until all 100 are queued at b, unread.
    timeout(Duration::from_secs(20), async {
        while b.stats_async().await.unwrap().topics[0].delivered < 100 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("messages did not arrive");
    b.shutdown_async().await;
    assert_eq!(tb.try_recv(), None, "a queued message came out after shutdown");
    assert_eq!(timeout(Duration::from_secs(5), tb.recv()).await.expect("the stream did not end"), None);
    a.shutdown_async().await;
}

/// Both ends count a frame at its size on the wire, where a stream names a
/// topic and an origin in full once and by a one-byte index after that: what
/// one node sent is what the other received.
#[tokio::test(flavor = "multi_thread")]
async fn one_nodes_bytes_out_are_the_others_bytes_in() {
    let a = node(TCP);
    let b = node(TCP);
    let mut a_events = a.events();
    let ta = a.join(topic::Config::new("chat", vec![])).unwrap();
    let mut tb = b.join(topic::Config::new("chat", a.listen_addrs())).unwrap();
    wait_neighbor(&mut a_events).await;
    let sent: BTreeSet<Vec<u8>> = (0..200u32).map(|i| i.to_be_bytes().to_vec()).collect();
    for m in &sent {
        ta.gossip(m.clone()).unwrap();
    }
    receive_all(&mut tb, &sent, 20).await;
    // Control frames keep flowing both ways (shuffles), so the two ends
    // agree whenever none is in flight.
    let agree = timeout(Duration::from_secs(20), async {
        loop {
            let (sa, sb) = (ta.stats().unwrap(), tb.stats().unwrap());
            if sa.bytes_out == sb.bytes_in && sb.bytes_out == sa.bytes_in {
                return sa;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let sa = agree
        .unwrap_or_else(|_| panic!("the ends never agreed: a {:?}, b {:?}", ta.stats().unwrap(), tb.stats().unwrap()));
    // A signed GOSSIP of 4 bytes takes about 165 bytes with its topic id
    // (32 bytes) and origin (38) in full, under 100 with both by index.
    assert!(sa.bytes_out < 200 * 120, "{} bytes for 200 messages of 4 bytes", sa.bytes_out);
    a.shutdown_async().await;
    b.shutdown_async().await;
}
