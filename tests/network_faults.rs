//! Real nodes over loopback through faults that must not lose a message:
//! a bootstrap that is down or goes away and comes back, publishing before
//! any neighbour exists, bursts larger than a link's queue.

mod common_net;

use std::collections::BTreeSet;
use std::time::Duration;

use common_net::*;
use hypar::{topic, EventKind, Keypair, Multiaddr, Network, NetworkConfig};
use tokio::time::timeout;

/// A loopback TCP port that was free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A node at `port` whose subscribers can take a whole burst: these tests
/// look for losses in the network, not in a subscriber that reads slower
/// than a burst arrives.
fn at_port(port: u16) -> NetworkConfig {
    NetworkConfig { listen: vec![format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap()], ..roomy() }
}

fn roomy() -> NetworkConfig {
    NetworkConfig { subscriber_queue: 1 << 20, ..config(TCP) }
}

fn addr(port: u16, key: &Keypair) -> Multiaddr {
    format!("/ip4/127.0.0.1/tcp/{port}/p2p/{}", key.peer_id()).parse().unwrap()
}

/// Numbers 0..n, as payloads.
fn numbered(n: u32) -> BTreeSet<Vec<u8>> {
    (0..n).map(|i| i.to_be_bytes().to_vec()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_whose_bootstrap_is_down_joins_once_it_comes_up_and_sends_what_it_published_meanwhile() {
    let (port, boot_key) = (free_port(), Keypair::generate());
    let late = node(TCP);
    let mut events = late.events();
    let t = late.join(topic::Config::new("late", vec![addr(port, &boot_key)])).unwrap();
    wait_for(&mut events, 20, |e| e.kind == EventKind::BootstrapFailed).await;
    // Published with no neighbour: held, not lost.
    for i in 0..3000u32 {
        t.gossip(i.to_be_bytes().to_vec()).unwrap();
    }
    let boot = Network::new(at_port(port), boot_key).unwrap();
    let mut tb = boot.join(topic::Config::new("late", vec![])).unwrap();
    wait_for(&mut events, 60, |e| matches!(e.kind, EventKind::NeighborUp(_))).await;
    receive_all(&mut tb, &numbered(3000), 60).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_isolated_node_rejoins_through_its_bootstrap_when_it_comes_back() {
    let (port, boot_key) = (free_port(), Keypair::generate());
    let boot = Network::new(at_port(port), boot_key.clone()).unwrap();
    let _tb = boot.join(topic::Config::new("back", vec![])).unwrap();
    let member = node(TCP);
    let mut events = member.events();
    let tm = member.join(topic::Config::new("back", vec![addr(port, &boot_key)])).unwrap();
    wait_for(&mut events, 20, |e| matches!(e.kind, EventKind::NeighborUp(_))).await;
    // Its only peer dies: the member is alone.
    boot.crash();
    drop(boot);
    wait_for(&mut events, 30, |e| matches!(e.kind, EventKind::NeighborDown(_))).await;
    // The bootstrap comes back, same identity and address, much later.
    let boot = Network::new(at_port(port), boot_key).unwrap();
    let mut tb = boot.join(topic::Config::new("back", vec![])).unwrap();
    wait_for(&mut events, 90, |e| matches!(e.kind, EventKind::NeighborUp(_))).await;
    tm.gossip(b"back together".to_vec()).unwrap();
    receive_all(&mut tb, &BTreeSet::from([b"back together".to_vec()]), 20).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_publish_buffer_is_reported_and_gossip_async_waits_for_room() {
    let (port, boot_key) = (free_port(), Keypair::generate());
    let small = NetworkConfig { publish_queue: 10, ..config(TCP) };
    let late = Network::new(small, Keypair::generate()).unwrap();
    let mut events = late.events();
    let t = late.join(topic::Config::new("full", vec![addr(port, &boot_key)])).unwrap();
    wait_for(&mut events, 20, |e| e.kind == EventKind::BootstrapFailed).await;
    for i in 0..10u32 {
        t.gossip(i.to_be_bytes().to_vec()).unwrap();
    }
    match t.gossip(10u32.to_be_bytes().to_vec()) {
        Err(hypar::Error::QueueFull { waiting: 10, .. }) => {}
        other => panic!("expected QueueFull with 10 waiting, got {other:?}"),
    }
    // The next ones wait for room, which the bootstrap's arrival makes.
    let waiting = tokio::spawn(async move {
        for i in 10..40u32 {
            t.gossip_async(i.to_be_bytes().to_vec()).await.unwrap();
        }
    });
    let boot = Network::new(at_port(port), boot_key).unwrap();
    let mut tb = boot.join(topic::Config::new("full", vec![])).unwrap();
    timeout(Duration::from_secs(60), waiting).await.expect("gossip_async never found room").unwrap();
    receive_all(&mut tb, &numbered(40), 60).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_far_larger_than_the_link_queue_arrives_whole_on_a_lone_link() {
    let tiny = || NetworkConfig { peer_queue: 16, peer_queue_bytes: 64 * 1024, ..roomy() };
    let a = Network::new(tiny(), Keypair::generate()).unwrap();
    let b = Network::new(tiny(), Keypair::generate()).unwrap();
    let mut events = a.events();
    let ta = a.join(topic::Config::new("burst", vec![])).unwrap();
    let mut tb = b.join(topic::Config::new("burst", a.listen_addrs())).unwrap();
    wait_neighbor(&mut events).await;
    let n = 20_000u32;
    let sender = tokio::spawn(async move {
        for i in 0..n {
            let mut payload = vec![0u8; 256];
            payload[..4].copy_from_slice(&i.to_be_bytes());
            ta.gossip_async(payload).await.unwrap();
        }
        ta
    });
    let mut got = BTreeSet::new();
    timeout(Duration::from_secs(120), async {
        while got.len() < n as usize {
            let m = tb.recv().await.expect("stream ended");
            assert!(got.insert(u32::from_be_bytes(m[..4].try_into().unwrap())), "delivered twice");
        }
    })
    .await
    .unwrap_or_else(|_| {
        eprintln!("a: {:?}", futures::executor::block_on(a.stats_async()));
        eprintln!("b: {:?}", futures::executor::block_on(b.stats_async()));
        panic!("{} of {n} arrived", got.len())
    });
    let _ta = sender.await.unwrap();
    let stats = b.stats_async().await.unwrap();
    assert_eq!(stats.topics[0].delivered, u64::from(n));
}
