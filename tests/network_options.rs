//! Topic options changed while the topic runs, between real nodes on
//! loopback: whom a node hears and tells, the allow list, and the options
//! that cannot change.

mod common_net;

use std::collections::BTreeSet;
use std::time::Duration;

use common_net::{node, wait_for, wait_neighbor, wait_stats, TCP};
use hypar::proto::ProtocolConfig;
use hypar::{topic, Error, EventKind, Network, PeerId, Topic};
use tokio::time::timeout;

fn only(peers: &[PeerId]) -> Option<BTreeSet<PeerId>> {
    Some(peers.iter().copied().collect())
}

/// Two neighbours in `name`.
async fn pair(name: &str) -> (Network, Topic, Network, Topic) {
    let (a, b) = (node(TCP), node(TCP));
    let mut events = b.events();
    let ta = a.join(topic::Config::new(name, vec![])).unwrap();
    let tb = b.join(topic::Config::new(name, a.listen_addrs())).unwrap();
    wait_neighbor(&mut events).await;
    (a, ta, b, tb)
}

async fn next(topic: &mut Topic) -> bytes::Bytes {
    timeout(Duration::from_secs(20), topic.recv()).await.expect("nothing arrived").expect("stream ended")
}

#[tokio::test(flavor = "multi_thread")]
async fn hear_and_tell_change_at_runtime() {
    let (a, mut ta, b, mut tb) = pair("hear-tell").await;
    // B stops hearing A: A's message is dropped at B (counted), not delivered.
    let mut c = tb.config();
    c.hear = only(&[]);
    tb.configure(c.clone()).unwrap();
    assert_eq!(tb.config().hear, only(&[]));
    ta.gossip(&b"not heard"[..]).unwrap();
    wait_stats(&tb, |s| s.dropped >= 1).await;
    // B still tells A: what B publishes arrives.
    tb.gossip(&b"told"[..]).unwrap();
    assert_eq!(next(&mut ta).await, &b"told"[..]);
    // B hears A again: the next message is the first B delivers.
    c.hear = None;
    tb.configure(c.clone()).unwrap();
    ta.gossip(&b"heard"[..]).unwrap();
    assert_eq!(next(&mut tb).await, &b"heard"[..]);
    // B stops telling A: A gets nothing more from B, and B still hears A.
    c.tell = only(&[]);
    tb.configure(c).unwrap();
    tb.gossip(&b"not told"[..]).unwrap();
    ta.gossip(&b"still heard"[..]).unwrap();
    assert_eq!(next(&mut tb).await, &b"still heard"[..]);
    ta.gossip(&b"marker"[..]).unwrap();
    assert_eq!(next(&mut tb).await, &b"marker"[..]);
    assert!(ta.try_recv().is_none(), "A got a message B no longer tells it");
    assert_eq!(ta.stats().unwrap().delivered, 1);
    drop((a, b));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_peer_no_longer_allowed_is_disconnected_from_the_topic() {
    let (a, ta, b, tb) = pair("allow-at-runtime").await;
    let mut b_events = b.events();
    let mut c = ta.config();
    c.allowed_peers = only(&[PeerId::random()]);
    ta.configure(c).unwrap();
    // B is told DISCONNECT, and A's view is empty.
    wait_for(&mut b_events, 20, |e| e.kind == EventKind::NeighborDown(a.peer_id())).await;
    wait_stats(&ta, |s| s.active_view == 0).await;
    assert_eq!(tb.stats().unwrap().active_view, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn options_fixed_while_joined_are_refused_by_name() {
    let (_a, ta, _b, _tb) = pair("fixed").await;
    let before = ta.config();
    type Change = fn(&mut ProtocolConfig<PeerId>);
    let changes: [(Change, &str); 3] = [
        (|c| c.signed = false, "signed"),
        (|c| c.plumtree.max_sessions = 7, "plumtree.max_sessions"),
        (|c| c.hyparview.active_view_capacity = 0, "hyparview.active_view_capacity"),
    ];
    for (change, field) in changes {
        let mut c = before.clone();
        change(&mut c);
        match ta.configure(c) {
            Err(Error::InvalidConfig(e)) => assert_eq!(e.field, field),
            other => panic!("expected InvalidConfig for {field}, got {other:?}"),
        }
    }
    assert_eq!(ta.config(), before, "nothing changed");
    // What may change does, and reads back.
    let mut c = before;
    c.plumtree.max_hops = 3;
    c.hyparview.active_view_capacity = 3;
    c.hyparview.active_view_min = 1;
    ta.configure(c.clone()).unwrap();
    assert_eq!(ta.config(), c);
}

/// A line A - B - C (allow lists keep A and C apart).
async fn line(name: &str) -> ([Network; 3], [Topic; 3]) {
    line_with(name, |c| c).await
}

/// A line A - B - C, each topic's config passed through `tune`.
async fn line_with(name: &str, tune: fn(topic::Config) -> topic::Config) -> ([Network; 3], [Topic; 3]) {
    let (a, b, c) = (node(TCP), node(TCP), node(TCP));
    let (ia, ib, ic) = (a.peer_id(), b.peer_id(), c.peer_id());
    let mut b_events = b.events();
    let with = |peers: &[PeerId], boot: Vec<hypar::Multiaddr>| {
        let mut config = tune(topic::Config::new(name, boot));
        config.protocol.allowed_peers = only(peers);
        config
    };
    let tb = b.join(with(&[ia, ic], vec![])).unwrap();
    let ta = a.join(with(&[ib], b.listen_addrs())).unwrap();
    let tc = c.join(with(&[ib], b.listen_addrs())).unwrap();
    wait_neighbor(&mut b_events).await;
    wait_neighbor(&mut b_events).await;
    wait_stats(&ta, |s| s.active_view == 1).await;
    wait_stats(&tc, |s| s.active_view == 1).await;
    ([a, b, c], [ta, tb, tc])
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_limited_to_one_hop_reaches_neighbours_only() {
    let (_nets, [ta, mut tb, mut tc]) = line("one-hop").await;
    ta.gossip_within(&b"near"[..], 1).unwrap();
    ta.gossip_within(&b"far"[..], 2).unwrap();
    // B, one hop away, gets both; C, two hops away, only the second: the
    // first message it delivers is "far".
    let mut at_b = vec![next(&mut tb).await, next(&mut tb).await];
    at_b.sort();
    assert_eq!(at_b, vec![bytes::Bytes::from_static(b"far"), bytes::Bytes::from_static(b"near")]);
    assert_eq!(next(&mut tc).await, &b"far"[..]);
    // Unlimited, it goes as far as the topic allows.
    ta.gossip(&b"everywhere"[..]).unwrap();
    assert_eq!(next(&mut tc).await, &b"everywhere"[..]);
    assert_eq!(tc.stats().unwrap().delivered, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn direct_messages_reach_one_neighbour_marked_with_their_sender() {
    let (nets, [ta, mut tb, mut tc]) = line("direct").await;
    let (ia, ic) = (nets[0].peer_id(), nets[2].peer_id());
    // A to its neighbour B: delivered to B alone, marked direct, naming A;
    // sent twice, delivered twice.
    ta.send(nets[1].peer_id(), &b"hello B"[..]).unwrap();
    ta.send_async(nets[1].peer_id(), &b"hello B"[..]).await.unwrap();
    for _ in 0..2 {
        let m = timeout(Duration::from_secs(20), tb.recv_with_hops()).await.unwrap().unwrap();
        assert_eq!((&m.payload[..], m.origin, m.direct, m.hops), (&b"hello B"[..], Some(ia), true, 1));
    }
    // A to C, not its neighbour: refused, nothing sent.
    match ta.send(ic, &b"hello C"[..]) {
        Err(Error::NotNeighbor { peer, .. }) => assert_eq!(peer, ic.to_string()),
        other => panic!("expected NotNeighbor, got {other:?}"),
    }
    // C never got A's direct messages: its first delivery is a broadcast.
    ta.gossip(&b"broadcast"[..]).unwrap();
    let m = timeout(Duration::from_secs(20), tc.recv_with_hops()).await.unwrap().unwrap();
    assert_eq!((&m.payload[..], m.direct), (&b"broadcast"[..], false));
    let (sa, sb) = (ta.stats().unwrap(), tb.stats().unwrap());
    assert_eq!((sa.direct_sent, sb.direct_received), (2, 2));
}

#[tokio::test(flavor = "multi_thread")]
async fn proxy_passing_needs_an_unsigned_topic() {
    let a = node(TCP);
    match a.join(topic::Config::new("proxy-signed", vec![]).proxy(true)) {
        Err(Error::InvalidConfig(e)) => {
            assert_eq!(e.field, "plumtree.proxy");
            assert!(e.to_string().contains("unsigned"), "{e}");
        }
        other => panic!("expected InvalidConfig, got {other:?}"),
    }
    // Nor can a signed topic turn it on later; an unsigned one can.
    let signed = a.join(topic::Config::new("proxy-later", vec![])).unwrap();
    let mut c = signed.config();
    c.plumtree.proxy = true;
    assert!(matches!(signed.configure(c), Err(Error::InvalidConfig(e)) if e.field == "plumtree.proxy"));
    let unsigned = a.join(topic::Config::new("proxy-unsigned", vec![]).signed(false)).unwrap();
    let mut c = unsigned.config();
    c.plumtree.proxy = true;
    unsigned.configure(c).unwrap();
    assert!(unsigned.config().plumtree.proxy);
}

#[tokio::test(flavor = "multi_thread")]
async fn proxy_passing_delivers_every_message_once_through_proxies() {
    // A - B - C: A's hand-offs go to B, B's (never back to A) to C, and C
    // publishes what it is handed.
    let (_nets, [mut ta, mut tb, mut tc]) = line_with("proxy", |c| c.signed(false).proxy(true)).await;
    const N: u64 = 40;
    let sent: BTreeSet<bytes::Bytes> = (0..N).map(|i| bytes::Bytes::from(format!("m{i}"))).collect();
    for m in &sent {
        ta.gossip(m.clone()).unwrap();
    }
    for t in [&mut tb, &mut tc] {
        let mut got = BTreeSet::new();
        for _ in 0..N {
            got.insert(next(t).await);
        }
        assert_eq!(got, sent);
    }
    wait_stats(&tb, |s| s.delivered == N).await;
    wait_stats(&tc, |s| s.delivered == N).await;
    let (sa, sb, sc) = (ta.stats().unwrap(), tb.stats().unwrap(), tc.stats().unwrap());
    // About half of A's messages went to B, and about a quarter on to C
    // (none failed, so none was retried). A never delivers its own.
    assert!((1..N).contains(&sa.handoffs_sent), "{sa:?}");
    assert_eq!(sb.handoffs_taken, sa.handoffs_sent, "{sb:?}");
    assert!(sc.handoffs_taken >= 1 && sc.handoffs_taken == sb.handoffs_sent, "{sc:?}");
    assert_eq!((sa.delivered, sa.published), (0, N));
    assert!(ta.try_recv().is_none(), "A delivered its own message");
}

/// LAN discovery is a network option; with it on, nodes still join and
/// deliver through bootstrap addresses. (Loopback has no LAN to search:
/// `tests/hosts` proves that hosts on one LAN find each other.)
#[tokio::test(flavor = "multi_thread")]
async fn nodes_with_lan_discovery_on_join_and_deliver() {
    let with_mdns = || {
        Network::new(hypar::NetworkConfig { mdns: true, ..common_net::config(TCP) }, hypar::Keypair::generate())
            .unwrap()
    };
    let (a, b) = (with_mdns(), with_mdns());
    let mut events = b.events();
    let ta = a.join(topic::Config::new("lan", vec![])).unwrap();
    let mut tb = b.join(topic::Config::new("lan", a.listen_addrs())).unwrap();
    wait_neighbor(&mut events).await;
    ta.gossip(b"with discovery on".to_vec()).unwrap();
    assert_eq!(&next(&mut tb).await[..], b"with discovery on");
}
