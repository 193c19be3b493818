//! The topic bridges of `examples/bridge.rs`, with real nodes.

mod common_net;

use std::collections::BTreeSet;
use std::time::Duration;

use common_net::*;
use hypar::{topic, Network, Topic};

/// The bridge loop of `examples/bridge.rs`.
async fn forward(mut from: Topic, to: Topic) {
    while let Some(payload) = from.recv().await {
        let _ = to.gossip(payload);
    }
}

struct Setup {
    _nets: Vec<Network>,
    a: Vec<Topic>,
    b: Vec<Topic>,
}

/// A bridge node in topics "a" and "b", and two more members in each.
async fn setup(both: bool) -> Setup {
    let bridge = node(TCP);
    let ba = bridge.join(topic::Config::new("a", vec![])).unwrap();
    let bb = bridge.join(topic::Config::new("b", vec![])).unwrap();
    let mut nets = vec![];
    let (mut a, mut b) = (vec![], vec![]);
    for _ in 0..2 {
        let n = node(TCP);
        a.push(n.join(topic::Config::new("a", bridge.listen_addrs())).unwrap());
        nets.push(n);
        let n = node(TCP);
        b.push(n.join(topic::Config::new("b", bridge.listen_addrs())).unwrap());
        nets.push(n);
    }
    nets.push(bridge);
    settle(&nets, 20).await;
    if both {
        tokio::spawn(forward(bb.clone(), ba.clone()));
    }
    tokio::spawn(forward(ba, bb));
    Setup { _nets: nets, a, b }
}

fn one(p: &[u8]) -> BTreeSet<Vec<u8>> {
    BTreeSet::from([p.to_vec()])
}

#[tokio::test(flavor = "multi_thread")]
async fn unidirectional_bridge_carries_a_to_b_only() {
    let mut s = setup(false).await;
    s.a[0].gossip(b"from a".to_vec()).unwrap();
    for t in s.b.iter_mut() {
        receive_all(t, &one(b"from a"), 20).await;
    }
    receive_all(&mut s.a[1], &one(b"from a"), 20).await;
    s.b[0].gossip(b"from b".to_vec()).unwrap();
    receive_all(&mut s.b[1], &one(b"from b"), 20).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(s.a[0].try_recv().is_none() && s.a[1].try_recv().is_none(), "b leaked into a");
}

#[tokio::test(flavor = "multi_thread")]
async fn bidirectional_bridge_carries_both_ways_once() {
    let mut s = setup(true).await;
    s.a[0].gossip(b"from a".to_vec()).unwrap();
    s.b[0].gossip(b"from b".to_vec()).unwrap();
    receive_all(&mut s.b[1], &BTreeSet::from([b"from a".to_vec(), b"from b".to_vec()]), 20).await;
    receive_all(&mut s.a[1], &BTreeSet::from([b"from a".to_vec(), b"from b".to_vec()]), 20).await;
    receive_all(&mut s.a[0], &one(b"from b"), 20).await;
    receive_all(&mut s.b[0], &one(b"from a"), 20).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for t in s.a.iter_mut().chain(s.b.iter_mut()) {
        assert!(t.try_recv().is_none(), "a bridged message echoed back");
    }
}
