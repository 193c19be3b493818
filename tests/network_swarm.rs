//! Many real nodes over loopback TCP: topic isolation, healing after half
//! the nodes crash, rejoining with the same identity, leaving.

mod common_net;

use std::collections::BTreeSet;

use common_net::*;
use hypar::{topic, EventKind, Network};
use libp2p::multiaddr::Protocol;

#[tokio::test(flavor = "multi_thread")]
async fn thirty_nodes_in_three_topics_never_cross_topics() {
    let mut nets = Vec::new();
    let mut topics = Vec::new();
    for t in 0..3 {
        let (n, tp) = swarm(10, TCP, &format!("topic-{t}"));
        nets.extend(n);
        topics.push(tp);
    }
    settle(&nets, 30).await;
    for (t, members) in topics.iter().enumerate() {
        for (i, m) in members.iter().enumerate().take(3) {
            m.gossip(format!("{t}:{i}").into_bytes()).unwrap();
        }
    }
    for (t, members) in topics.iter_mut().enumerate() {
        for (i, m) in members.iter_mut().enumerate() {
            let expected: BTreeSet<Vec<u8>> =
                (0..3).filter(|s| *s != i).map(|s| format!("{t}:{s}").into_bytes()).collect();
            receive_all(m, &expected, 20).await;
            // Each node is in one topic: its delivery count is that topic's.
            let stats = nets[t * 10 + i].stats_async().await.unwrap();
            assert_eq!(stats.topics[0].delivered, expected.len() as u64, "a message crossed topics or came twice");
            assert!(m.try_recv().is_none(), "a message crossed topics or came twice");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn survivors_receive_everything_after_half_the_nodes_crash() {
    let (nets, mut topics) = swarm(30, TCP, "heal");
    settle(&nets, 30).await;
    // Crash every odd node at once, right after the last one joined: a late
    // joiner may have met only nodes that now die. It falls back to its
    // bootstrap addresses (node 0, which survives, among them).
    for (i, n) in nets.iter().enumerate() {
        if i % 2 == 1 {
            n.crash();
        }
    }
    let survivors: Vec<usize> = (0..30).step_by(2).collect();
    // Published at once, while the overlay repairs itself: a node with no
    // neighbour left holds what it publishes until it has one again.
    for &s in survivors.iter().take(5) {
        topics[s].gossip(format!("after-{s}").into_bytes()).unwrap();
    }
    for &r in &survivors {
        let expected: BTreeSet<Vec<u8>> =
            survivors.iter().take(5).filter(|s| **s != r).map(|s| format!("after-{s}").into_bytes()).collect();
        receive_all(&mut topics[r], &expected, 30).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_restarted_with_the_same_keypair_rejoins() {
    let a = node(TCP);
    let mut ta = a.join(topic::Config::new("restart", vec![])).unwrap();
    let key = hypar::Keypair::generate();
    let b = Network::new(config(TCP), key.clone()).unwrap();
    let mut events = a.events();
    let tb = b.join(topic::Config::new("restart", a.listen_addrs())).unwrap();
    wait_neighbor(&mut events).await;
    b.crash();
    drop(tb);
    let b2 = Network::new(config(TCP), key.clone()).unwrap();
    assert_eq!(b2.peer_id(), key.peer_id());
    let mut tb2 = b2.join(topic::Config::new("restart", a.listen_addrs())).unwrap();
    let id = key.peer_id();
    wait_for(&mut events, 20, |e| e.kind == EventKind::NeighborUp(id)).await;
    ta.gossip(b"welcome back".to_vec()).unwrap();
    receive_all(&mut tb2, &BTreeSet::from([b"welcome back".to_vec()]), 20).await;
    tb2.gossip(b"thanks".to_vec()).unwrap();
    receive_all(&mut ta, &BTreeSet::from([b"thanks".to_vec()]), 20).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dropping_the_last_topic_handle_leaves_and_neighbours_see_it() {
    let a = node(TCP);
    let b = node(TCP);
    let mut events = a.events();
    let mut ta = a.join(topic::Config::new("leave", vec![])).unwrap();
    let tb = b.join(topic::Config::new("leave", a.listen_addrs())).unwrap();
    wait_neighbor(&mut events).await;
    let clone = tb.clone();
    drop(tb);
    // The clone still holds the topic: what it publishes arrives.
    clone.gossip(b"still here".to_vec()).unwrap();
    receive_all(&mut ta, &BTreeSet::from([b"still here".to_vec()]), 20).await;
    drop(clone);
    let id = b.peer_id();
    wait_for(&mut events, 10, |e| e.kind == EventKind::NeighborDown(id)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bootstrap_through_a_dns_name() {
    let a = node(TCP);
    let port = a.listen_addrs()[0]
        .iter()
        .find_map(|p| match p {
            Protocol::Tcp(port) => Some(port),
            _ => None,
        })
        .unwrap();
    let mut events = a.events();
    let mut ta = a.join(topic::Config::new("dns", vec![])).unwrap();
    let b = node(TCP);
    let addr: hypar::Multiaddr = format!("/dns4/localhost/tcp/{port}").parse().unwrap();
    let tb = b.join(topic::Config::new("dns", vec![addr])).unwrap();
    wait_neighbor(&mut events).await;
    tb.gossip(b"via dns".to_vec()).unwrap();
    receive_all(&mut ta, &BTreeSet::from([b"via dns".to_vec()]), 20).await;
}
