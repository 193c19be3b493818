//! Relays between real nodes on loopback. Loopback addresses are not
//! global, so AutoNAT never finds these nodes public and every node keeps
//! a reservation on the relay it is connected to: the test bed in
//! `tests/hosts` proves the same across real NAT routers, with hole
//! punching.

mod common_net;

use std::time::Duration;

use common_net::{config, wait_for, TCP};
use hypar::multiaddr::Protocol;
use hypar::{topic, EventKind, Events, Keypair, Network, NetworkConfig, Reachability, Topic};
use tokio::time::timeout;

fn relay() -> Network {
    Network::new(NetworkConfig { relay_server: true, ..config(TCP) }, Keypair::generate()).unwrap()
}

fn is_circuit(a: &hypar::Multiaddr) -> bool {
    a.iter().any(|p| p == Protocol::P2pCircuit)
}

/// A relay in `name`, and a node that joined `name` through it and holds a
/// reservation on it (with its event stream, subscribed before the join).
async fn reserved_on_a_relay(name: &str) -> (Network, Topic, Network, Topic, Events) {
    let r = relay();
    let rt = r.join(topic::Config::new(name, vec![])).unwrap();
    let a = common_net::node(TCP);
    let mut events = a.events();
    let ta = a.join(topic::Config::new(name, r.listen_addrs())).unwrap();
    wait_for(&mut events, 20, |e| e.kind == EventKind::RelayReserved(r.peer_id())).await;
    (r, rt, a, ta, events)
}

/// A node reserves a slot on the relay it bootstraps from, and a node whose
/// only contact is that node's `/p2p-circuit` address joins through it and
/// gets its messages.
#[tokio::test(flavor = "multi_thread")]
async fn a_node_reached_only_through_its_relay_address_joins_and_delivers() {
    let (r, _rt, a, ta, _events) = reserved_on_a_relay("circuit").await;
    let stats = a.stats().unwrap();
    assert_eq!((stats.relay, stats.reachability), (Some(r.peer_id()), Reachability::Unknown));
    let circuit: Vec<_> = a.listen_addrs().into_iter().filter(is_circuit).collect();
    assert_eq!(circuit.len(), 1, "one circuit address among {:?}", a.listen_addrs());

    let c = common_net::node(TCP);
    let mut tc = c.join(topic::Config::new("circuit", circuit)).unwrap();
    let mut a_events = a.events();
    wait_for(&mut a_events, 20, |e| e.kind == EventKind::NeighborUp(c.peer_id())).await;
    ta.gossip(b"through the relay".to_vec()).unwrap();
    let got = timeout(Duration::from_secs(20), tc.recv()).await.expect("nothing arrived").unwrap();
    assert_eq!(&got[..], b"through the relay");
}

/// When the relay goes away, so does the circuit address through it: it
/// is no longer a listen address, nor announced.
#[tokio::test(flavor = "multi_thread")]
async fn a_lost_reservation_takes_its_circuit_address_with_it() {
    let (r, _rt, a, _ta, mut events) = reserved_on_a_relay("lost").await;
    assert!(a.listen_addrs().iter().any(is_circuit));
    r.shutdown();
    wait_for(&mut events, 20, |e| e.kind == EventKind::RelayLost(r.peer_id())).await;
    assert!(!a.listen_addrs().iter().any(is_circuit), "a circuit address outlived its relay: {:?}", a.listen_addrs());
    assert_eq!(a.stats().unwrap().relay, None);
}

/// A node that declares an external address is public at once, and keeps
/// no reservation even when a relay is at hand.
#[tokio::test(flavor = "multi_thread")]
async fn a_declared_external_address_makes_a_node_public_and_needs_no_relay() {
    let r = relay();
    let _rt = r.join(topic::Config::new("public", vec![])).unwrap();
    let external: hypar::Multiaddr = "/ip4/192.0.2.7/tcp/4001".parse().unwrap();
    let a = Network::new(NetworkConfig { external_addrs: vec![external], ..config(TCP) }, Keypair::generate()).unwrap();
    let mut events = a.events();
    let _ta = a.join(topic::Config::new("public", r.listen_addrs())).unwrap();
    wait_for(&mut events, 20, |e| e.kind == EventKind::NeighborUp(r.peer_id())).await;
    let stats = a.stats().unwrap();
    assert_eq!((stats.reachability, stats.relay), (Reachability::Public, None));
    assert!(!a.listen_addrs().iter().any(is_circuit));
    assert_eq!(stats.direct_links, 1);
}

#[test]
fn too_many_external_addresses_are_refused_by_name() {
    let many = (0..9).map(|i| format!("/ip4/192.0.2.{i}/tcp/4001").parse().unwrap()).collect();
    let err = Network::new(NetworkConfig { external_addrs: many, ..config(TCP) }, Keypair::generate()).err();
    assert!(err.is_some_and(|e| e.to_string().contains("external_addrs")));
}
