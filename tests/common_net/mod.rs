//! Helpers for tests with real nodes on loopback.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::time::Duration;

use hypar::{topic, EventKind, Events, Keypair, Network, NetworkConfig, Topic};
use rand::Rng;
use tokio::time::timeout;

pub(crate) const TCP: &str = "/ip4/127.0.0.1/tcp/0";
pub(crate) const QUIC: &str = "/ip4/127.0.0.1/udp/0/quic-v1";

pub(crate) fn config(listen: &str) -> NetworkConfig {
    NetworkConfig { listen: vec![listen.parse().unwrap()], ..NetworkConfig::default() }
}

pub(crate) fn node(listen: &str) -> Network {
    Network::new(config(listen), Keypair::generate()).unwrap()
}

/// Wait for an event matching `want`, at most `secs` seconds.
pub(crate) async fn wait_for(events: &mut Events, secs: u64, want: impl Fn(&hypar::Event) -> bool) {
    timeout(Duration::from_secs(secs), async {
        while let Some(e) = events.recv().await {
            if want(&e) {
                return;
            }
        }
        panic!("event stream ended");
    })
    .await
    .expect("event did not come in time");
}

pub(crate) async fn wait_neighbor(events: &mut Events) {
    wait_for(events, 20, |e| matches!(e.kind, EventKind::NeighborUp(_))).await;
}

/// `n` nodes joining `name`, each through node 0 (the well-known bootstrap
/// node) and a random earlier node.
pub(crate) fn swarm(n: usize, listen: &str, name: &str) -> (Vec<Network>, Vec<Topic>) {
    let mut nets: Vec<Network> = Vec::new();
    let mut topics = Vec::new();
    for i in 0..n {
        let net = node(listen);
        let mut boot = Vec::new();
        if i > 0 {
            boot.extend(nets[0].listen_addrs());
            boot.extend(nets[rand::thread_rng().gen_range(0..i)].listen_addrs());
            boot.dedup();
        }
        topics.push(net.join(topic::Config::new(name, boot)).unwrap());
        nets.push(net);
    }
    (nets, topics)
}

/// Receive until `expected` distinct payloads arrived, failing on a
/// duplicate or a payload not expected; `secs` seconds at most.
pub(crate) async fn receive_all(topic: &mut Topic, expected: &BTreeSet<Vec<u8>>, secs: u64) {
    let mut got = BTreeSet::new();
    let r = timeout(Duration::from_secs(secs), async {
        while got.len() < expected.len() {
            let m = topic.recv().await.expect("stream ended").to_vec();
            assert!(expected.contains(&m), "unexpected payload {m:?}");
            assert!(got.insert(m), "delivered twice");
        }
    })
    .await;
    assert!(r.is_ok(), "{} of {} payloads arrived", got.len(), expected.len());
}

/// Wait until every topic handle has at least one neighbour.
pub(crate) async fn settle(nets: &[Network], secs: u64) {
    timeout(Duration::from_secs(secs), async {
        loop {
            let mut ok = true;
            for n in nets {
                let s = n.stats_async().await.unwrap();
                ok &= s.topics.iter().all(|t| t.active_view > 0);
            }
            if ok {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("overlay did not settle");
}

/// Wait until `topic`'s counters satisfy `done`.
pub(crate) async fn wait_stats(topic: &Topic, done: impl Fn(&hypar::TopicStats) -> bool) {
    for _ in 0..2000 {
        if done(&topic.stats().unwrap()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the counters never got there: {:?}", topic.stats().unwrap());
}
