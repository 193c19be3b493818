//! Origin trees between real nodes on loopback: a ring of six, where the
//! shared tree is the ring cut where node 0's first message met itself. A
//! node next to the cut reaches the far side the long way round (5 hops) on
//! the shared tree, and in half the ring (3 hops) once its own tree has been
//! reshaped over the real wire (GRAFT_ORIGIN, PRUNE_ORIGIN).

mod common_net;

use std::collections::BTreeSet;
use std::time::Duration;

use common_net::{node, wait_stats, TCP};
use hypar::{topic, Network, PeerId, Topic};
use tokio::time::timeout;

const RING: usize = 6;

/// Six nodes in a ring (each allows only its two ring neighbours), with
/// `origin_trees`. A duplicate prunes at once (`duplicates_before_prune` 1)
/// so that the shared tree is a cut ring, announcements go out every 10 ms
/// so that trees settle within a few messages, and grafts wait 3 s.
async fn ring(name: &str, origin_trees: usize) -> (Vec<Network>, Vec<Topic>) {
    let nets: Vec<Network> = (0..RING).map(|_| node(TCP)).collect();
    let ids: Vec<PeerId> = nets.iter().map(|n| n.peer_id()).collect();
    let mut topics = Vec::new();
    for i in 0..RING {
        let (prev, next) = ((i + RING - 1) % RING, (i + 1) % RING);
        let boot = match i {
            0 => vec![],
            i if i == RING - 1 => [nets[prev].listen_addrs(), nets[next].listen_addrs()].concat(),
            _ => nets[prev].listen_addrs(),
        };
        let mut config = topic::Config::new(name, boot);
        config.protocol.allowed_peers = Some(BTreeSet::from([ids[prev], ids[next]]));
        let p = &mut config.protocol.plumtree;
        p.origin_trees = origin_trees;
        p.duplicates_before_prune = 1;
        p.ihave_interval = Duration::from_millis(10);
        // No grafts racing the long way round on a loaded machine: the
        // figures here are about the trees, not about repair.
        p.graft_timeout_1 = Duration::from_secs(3);
        p.graft_timeout_max = Duration::from_secs(3);
        topics.push(nets[i].join(config).unwrap());
    }
    for t in &topics {
        wait_stats(t, |s| s.active_view == 2).await;
    }
    (nets, topics)
}

/// Publish one message from `sender` and return the most hops it took to
/// reach the others, checking each gets it exactly once (and nothing else).
async fn spread(topics: &mut [Topic], sender: usize, payload: String) -> u16 {
    topics[sender].gossip(payload.clone().into_bytes()).unwrap();
    let mut most = 0;
    for (i, t) in topics.iter_mut().enumerate().filter(|(i, _)| *i != sender) {
        let m = timeout(Duration::from_secs(20), t.recv_with_hops()).await.expect("nothing arrived").unwrap();
        assert_eq!(m.payload, payload.as_bytes(), "node {i} got another message (lost or duplicated)");
        most = most.max(m.hops);
    }
    most
}

/// Node 0 publishes three messages (so every node keeps a record of it as
/// an origin); the first, meeting itself, cuts the shared tree's ring in
/// one place. Each waits until the PRUNE of the one before has landed: a
/// message sent while it is in flight still goes both ways round, and may
/// meet itself on another link, cutting the ring twice. Returns a node next
/// to the cut: its only tree link leads the long way.
async fn cut_the_ring(topics: &mut [Topic]) -> usize {
    let mut end = 0;
    for k in 0..3 {
        spread(topics, 0, format!("from 0: {k}")).await;
        end = wait_for_one_cut(topics).await;
    }
    end
}

/// Wait until the shared tree is the ring cut in one place (exactly two
/// nodes with one tree link), and return the first of the two.
async fn wait_for_one_cut(topics: &[Topic]) -> usize {
    let mut links = Vec::new();
    for _ in 0..2000 {
        links = topics.iter().map(|t| t.stats().unwrap().tree_links).collect();
        let ends: Vec<usize> = (0..RING).filter(|&i| links[i] == 1).collect();
        if ends.len() == 2 && links.iter().all(|&l| l >= 1) {
            return ends[0];
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stats: Vec<_> = topics.iter().map(|t| t.stats().unwrap()).collect();
    panic!("the shared tree never became a cut ring: tree links per node {links:?}, then {stats:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_senders_own_tree_takes_the_short_way_round_the_ring() {
    let (_nets, mut topics) = ring("trees-on", 64).await;
    let s = cut_the_ring(&mut topics).await;
    // The first message of the node next to the cut takes the shared tree:
    // 5 hops to the far side of the cut.
    assert_eq!(spread(&mut topics, s, "from s: 0".into()).await, 5);
    // Its tree then starts as the shared one and is reshaped by the
    // announcements from the short side, and by the duplicates where the two
    // halves of the ring meet, until ten messages in a row take 3 hops and
    // carry no duplicate. (Timing can make a round worse while it settles: a
    // late copy on a loaded machine is pruned as the slower one.)
    let duplicates = |topics: &[Topic]| -> u64 { topics.iter().map(|t| t.stats().unwrap().duplicates).sum() };
    let mut sent = 1;
    for round in 0.. {
        let before = duplicates(&topics);
        let mut most = 0;
        for _ in 0..10 {
            most = most.max(spread(&mut topics, s, format!("from s: {sent}")).await);
            sent += 1;
        }
        if most == 3 && duplicates(&topics) == before {
            break;
        }
        assert!(round < 30, "node {s}'s messages still take up to {most} hops, or carry duplicates, after {sent}");
    }
    // Every node keeps a record of both senders.
    for t in &topics {
        let stats = t.stats().unwrap();
        assert_eq!(stats.origin_trees, 2, "{stats:#?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn with_one_shared_tree_a_sender_behind_the_cut_takes_the_long_way() {
    // The same ring without origin trees: what the test above improves on.
    let (_nets, mut topics) = ring("trees-off", 0).await;
    let s = cut_the_ring(&mut topics).await;
    for k in 0..20 {
        assert_eq!(spread(&mut topics, s, format!("from s: {k}")).await, 5);
    }
    assert_eq!(topics[0].stats().unwrap().origin_trees, 0);
}
