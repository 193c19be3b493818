//! One test per protocol message handler, driving a single node's sans-IO
//! state by hand.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use hypar_proto::*;

/// The defaults, with one shared tree for every origin: these tests pin the
/// shared tree's rules, and most of their messages come from one test
/// origin, whose own tree would take over from its second message
/// (`proto_origin_trees.rs` tests origin trees).
fn cfg() -> ProtocolConfig<u32> {
    let mut c = ProtocolConfig::default();
    c.plumtree.origin_trees = 0;
    c
}

#[test]
fn join_sends_join_to_every_bootstrap_peer_and_arms_timers() {
    let mut n = Node::new(cfg(), &[1, 2]);
    let out = n.take();
    let to: Vec<u32> = sends(&out).iter().filter(|(_, m)| matches!(m, Message::Join { .. })).map(|(p, _)| *p).collect();
    assert_eq!(to, vec![1, 2]);
    let t = timers(&out);
    assert!(t.contains(&TimerKind::Shuffle) && t.contains(&TimerKind::Maintenance));
}

#[test]
fn contact_accepts_joiner_and_forwards_join_to_other_neighbors() {
    let mut n = Node::new(cfg(), &[]).with_neighbors(&[1, 2, 3]);
    let out = n.recv(9, Message::Join { data: None });
    assert!(n.active().contains(&9));
    let s = sends(&out);
    assert!(s.contains(&(9, Message::Neighbor { priority: Priority::High, data: None })));
    let forwarded: BTreeSet<u32> =
        s.iter().filter(|(_, m)| matches!(m, Message::ForwardJoin { ttl: 6, .. })).map(|(p, _)| *p).collect();
    assert_eq!(forwarded, BTreeSet::from([1, 2, 3]));
    assert!(events(&out).contains(&Event::NeighborUp(9)));
}

#[test]
fn forward_join_with_zero_ttl_adds_the_new_node() {
    let mut n = Node::new(cfg(), &[]).with_neighbors(&[1, 2]);
    let out = n.recv(1, Message::ForwardJoin { peer: PeerInfo::new(9), ttl: 0 });
    assert!(n.active().contains(&9));
    assert!(sends(&out).contains(&(9, Message::Neighbor { priority: Priority::High, data: None })));
}

#[test]
fn a_peer_added_by_forward_join_is_announced_only_once_it_sends_a_frame() {
    // Isolated: the walk's end adds 9 at once, but 9 has sent nothing.
    let mut n = Node::new(cfg(), &[]);
    let out = n.recv(1, Message::ForwardJoin { peer: PeerInfo::new(9), ttl: 0 });
    assert!(n.active().contains(&9));
    assert!(sends(&out).contains(&(9, Message::Neighbor { priority: Priority::High, data: None })));
    assert_eq!(events(&out), vec![], "9 announced before its link carried a frame");
    // Its answer proves the link: announced, and the node is connected.
    let out = n.recv(9, Message::NeighborReply { accepted: true });
    assert_eq!(events(&out), vec![Event::NeighborUp(9), Event::Joined]);
    // Announced once only.
    assert_eq!(events(&n.recv(9, Message::Prune)), vec![]);
}

#[test]
fn a_peer_that_never_answers_leaves_without_any_event() {
    let mut n = Node::new(cfg(), &[]).with_neighbors(&[1, 2]);
    n.take();
    n.recv(1, Message::ForwardJoin { peer: PeerInfo::new(9), ttl: 0 });
    assert!(n.active().contains(&9));
    // Unreachable (behind a NAT, say): the dial fails.
    let out = n.dial_failed(9);
    assert!(!n.active().contains(&9));
    assert_eq!(events(&out), vec![], "a peer never announced was reported gone");
    // A DISCONNECT from a peer not announced yet announces nothing either.
    n.recv(1, Message::ForwardJoin { peer: PeerInfo::new(8), ttl: 0 });
    let out = n.recv(8, Message::Disconnect { alive: true });
    assert!(!n.active().contains(&8));
    assert_eq!(events(&out), vec![]);
}

#[test]
fn discovered_candidates_get_a_join_only_while_neighbours_are_wanted() {
    let mut n = Node::new(cfg(), &[]);
    n.take();
    let wanted = cfg().hyparview.active_view_min;
    let joins = |out: &[Output<u32>]| -> Vec<u32> {
        sends(out).iter().filter(|(_, m)| matches!(m, Message::Join { .. })).map(|(p, _)| *p).collect()
    };
    let mut sent = Vec::new();
    for p in 10..10 + 2 * wanted as u32 {
        n.state.add_candidate(n.topic, PeerInfo::new(p), n.now, &mut n.rng, &mut n.out).unwrap();
        sent.extend(joins(&n.take()));
    }
    // No more JOINs out at once than neighbours wanted; every candidate known.
    assert_eq!(sent, (10..10 + wanted as u32).collect::<Vec<_>>());
    let known: BTreeSet<u32> = n.topic().known().copied().collect();
    assert!((10..10 + 2 * wanted as u32).all(|p| known.contains(&p)), "{known:?}");
    // A candidate outside the topic refuses: forgotten, and other known
    // peers are asked instead.
    let out = n.recv(10, Message::Disconnect { alive: false });
    assert!(!n.topic().known().any(|p| *p == 10));
    assert!(sends(&out).iter().any(|(p, _)| *p > 10), "nobody else was asked: {:?}", sends(&out));
    // A node with enough neighbours sends none.
    let mut full = Node::new(cfg(), &[]).with_neighbors(&(1..=wanted as u32).collect::<Vec<_>>());
    full.state.add_candidate(full.topic, PeerInfo::new(99), full.now, &mut full.rng, &mut full.out).unwrap();
    assert_eq!(joins(&full.take()), Vec::<u32>::new());
    assert!(full.topic().known().any(|p| *p == 99));
}

#[test]
fn forward_join_at_passive_walk_length_adds_passive_and_forwards() {
    let mut n = Node::new(cfg(), &[]).with_neighbors(&[1, 2, 3]);
    let out = n.recv(1, Message::ForwardJoin { peer: PeerInfo::new(9), ttl: 3 });
    assert!(n.passive().contains(&9));
    assert!(!n.active().contains(&9));
    let fwd: Vec<u32> =
        sends(&out).iter().filter(|(_, m)| matches!(m, Message::ForwardJoin { ttl: 2, .. })).map(|(p, _)| *p).collect();
    assert_eq!(fwd.len(), 1);
    assert_ne!(fwd[0], 1, "never forwarded back to the sender");
}

#[test]
fn low_priority_neighbor_is_refused_when_full_and_kept_passive() {
    let mut n = Node::new(cfg(), &[]).with_neighbors(&[1, 2, 3, 4, 5]);
    let out = n.recv(9, Message::Neighbor { priority: Priority::Low, data: None });
    assert_eq!(sends(&out), vec![(9, Message::NeighborReply { accepted: false })]);
    assert!(!n.active().contains(&9));
    assert!(n.passive().contains(&9));
}

#[test]
fn high_priority_neighbor_evicts_a_random_active_peer() {
    let mut n = Node::new(cfg(), &[]).with_neighbors(&[1, 2, 3, 4, 5]);
    let out = n.recv(9, Message::Neighbor { priority: Priority::High, data: None });
    assert!(n.active().contains(&9));
    assert_eq!(n.active().len(), 5);
    let evicted: Vec<u32> =
        sends(&out).iter().filter(|(_, m)| *m == Message::Disconnect { alive: true }).map(|(p, _)| *p).collect();
    assert_eq!(evicted.len(), 1);
    assert!(n.passive().contains(&evicted[0]), "an evicted peer stays as a backup");
    assert!(events(&out).contains(&Event::NeighborDown(evicted[0])));
}

#[test]
fn accepted_neighbor_reply_adds_the_peer() {
    let mut n = Node::new(cfg(), &[]).with_neighbors(&[1]);
    n.recv(2, Message::ShuffleReply { peers: vec![PeerInfo::new(7)] });
    // Below capacity: maintenance asks one passive peer (7 or 2).
    let out = n.timer(TimerKind::Maintenance);
    let asked: Vec<u32> = sends(&out)
        .iter()
        .filter(|(_, m)| matches!(m, Message::Neighbor { priority: Priority::Low, .. }))
        .map(|(p, _)| *p)
        .collect();
    assert_eq!(asked.len(), 1);
    let out = n.recv(asked[0], Message::NeighborReply { accepted: true });
    assert!(n.active().contains(&asked[0]));
    assert!(events(&out).contains(&Event::NeighborUp(asked[0])));
}

#[test]
fn disconnect_alive_moves_peer_to_passive_and_leaving_forgets_it() {
    let mut n = Node::new(cfg(), &[]).with_neighbors(&[1, 2]);
    n.recv(1, Message::Disconnect { alive: true });
    assert!(!n.active().contains(&1));
    assert!(n.passive().contains(&1));
    n.recv(2, Message::Disconnect { alive: false });
    assert!(!n.active().contains(&2) && !n.passive().contains(&2));
    assert!(!n.topic().known().any(|p| *p == 2), "a leaving peer is forgotten");
}

#[test]
fn failed_active_peer_is_replaced_from_the_passive_view() {
    let mut n = Node::new(cfg(), &[]).with_neighbors(&[1]);
    n.recv(5, Message::ShuffleReply { peers: vec![PeerInfo::new(7), PeerInfo::new(8)] });
    let out = n.disconnected(1);
    assert!(events(&out).contains(&Event::NeighborDown(1)));
    assert!(out.contains(&Output::Disconnect { peer: 1 }));
    // The active view is now empty: ask several passive peers at once, with high priority.
    let asked: Vec<u32> = sends(&out)
        .iter()
        .filter(|(_, m)| matches!(m, Message::Neighbor { priority: Priority::High, .. }))
        .map(|(p, _)| *p)
        .collect();
    assert!(!asked.is_empty() && asked.iter().all(|p| [5, 7, 8].contains(p)), "asked {asked:?}");
    assert!(!n.passive().contains(&1), "a failed peer does not become a backup");
}

#[test]
fn shuffle_is_forwarded_while_ttl_lasts_then_answered() {
    let mut n = Node::new(cfg(), &[]).with_neighbors(&[1, 2, 3]);
    let peers = vec![PeerInfo::new(20), PeerInfo::new(21)];
    let out = n.recv(1, Message::Shuffle { origin: PeerInfo::new(10), ttl: 3, peers: peers.clone() });
    let s = sends(&out);
    assert_eq!(s.len(), 1);
    assert!(matches!(&s[0], (to, Message::Shuffle { ttl: 2, .. }) if *to != 1 && *to != 10));
    assert!(n.topic().known().any(|p| *p == 20), "a node on the walk learns the carried peers");

    let out = n.recv(1, Message::Shuffle { origin: PeerInfo::new(10), ttl: 0, peers });
    assert!(matches!(&sends(&out)[..], [(10, Message::ShuffleReply { .. })]));
    assert!(n.passive().contains(&20) && n.passive().contains(&21) && n.passive().contains(&10));
}

#[test]
fn shuffle_timer_sends_a_sample_to_an_active_peer() {
    let mut n = Node::new(cfg(), &[]).with_neighbors(&[1, 2, 3]);
    let out = n.timer(TimerKind::Shuffle);
    let s = sends(&out);
    assert_eq!(s.len(), 1);
    match &s[0] {
        (to, Message::Shuffle { origin, ttl: 6, peers }) => {
            assert!([1, 2, 3].contains(to));
            assert_eq!(origin.id, ME);
            assert!(peers.len() <= 3 + 4);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(timers(&out).contains(&TimerKind::Shuffle), "re-armed");
}

#[test]
fn unreachable_bootstrap_reports_once_and_retries_with_backoff() {
    let mut n = Node::new(cfg(), &[1]);
    n.take();
    let out = n.dial_failed(1);
    assert_eq!(events(&out), vec![Event::BootstrapFailed]);
    assert!(timers(&out).contains(&TimerKind::JoinRetry));
    let out = n.timer(TimerKind::JoinRetry);
    assert!(sends(&out).contains(&(1, Message::Join { data: None })));
    let out = n.dial_failed(1);
    assert!(events(&out).is_empty(), "reported only once");
    assert!(timers(&out).contains(&TimerKind::JoinRetry));
}

#[test]
fn joined_is_emitted_when_the_first_neighbor_arrives() {
    let mut n = Node::new(cfg(), &[1]);
    n.take();
    let out = n.recv(1, Message::Neighbor { priority: Priority::High, data: None });
    assert_eq!(events(&out)[..2], [Event::NeighborUp(1), Event::Joined]);
}

// ---- Plumtree ----

#[test]
fn broadcast_pushes_to_every_eager_neighbor() {
    let mut n = Node::new(cfg(), &[]).with_neighbors(&[1, 2, 3]);
    let (mid, out) = n.broadcast(b"hi").unwrap();
    let to: BTreeSet<u32> = sends(&out)
        .iter()
        .filter_map(|(p, m)| match m {
            Message::Gossip(g) if g.id == mid && g.hops == 1 => Some(*p),
            _ => None,
        })
        .collect();
    assert_eq!(to, BTreeSet::from([1, 2, 3]));
    assert_eq!(n.topic().counters().published, 1);
}

#[test]
fn first_gossip_is_delivered_and_relayed_duplicate_is_pruned() {
    let mut n = Node::new(cfg(), &[]).with_neighbors(&[1, 2, 3]);
    let out = n.recv(1, gossip(id(1), 1, b"x"));
    assert!(matches!(&events(&out)[..], [Event::Delivered(d)] if d.id == id(1) && d.hops == 1 && d.from == 1));
    let relayed: BTreeSet<u32> =
        sends(&out).iter().filter(|(_, m)| matches!(m, Message::Gossip(g) if g.hops == 2)).map(|(p, _)| *p).collect();
    assert_eq!(relayed, BTreeSet::from([2, 3]), "relayed to everyone but the sender");
    let out = n.recv(2, gossip(id(1), 2, b"x"));
    assert!(events(&out).is_empty(), "never delivered twice");
    assert_eq!(sends(&out), vec![(2, Message::Prune)]);
    assert!(n.topic().lazy().contains(&2));
    assert_eq!(n.topic().counters().duplicates, 1);
}

#[test]
fn a_first_copy_from_a_pruned_peer_leaves_its_link_lazy() {
    // In a burst of first broadcasts, a peer's pushes keep arriving for a
    // round trip after we pruned it. One of them may be a first copy here:
    // it is delivered, but the link stays lazy (otherwise links flap
    // between eager and lazy and every burst floods).
    let mut n = Node::new(cfg(), &[]).with_neighbors(&[1, 2, 3]);
    n.recv(1, gossip(id(1), 1, b"x"));
    let out = n.recv(2, gossip(id(1), 2, b"x"));
    assert_eq!(sends(&out), vec![(2, Message::Prune)]);
    let out = n.recv(2, gossip(id(2), 2, b"y"));
    assert!(matches!(&events(&out)[..], [Event::Delivered(d)] if d.id == id(2) && d.from == 2));
    assert!(n.topic().lazy().contains(&2), "the push crossed our PRUNE: the link stays lazy");
    let (_, out) = n.broadcast(b"z").unwrap();
    assert!(!sends(&out).iter().any(|(p, m)| *p == 2 && matches!(m, Message::Gossip(_))), "{out:?}");
}

#[test]
fn a_first_copy_from_a_peer_not_pruned_lately_makes_its_link_eager_again() {
    // A lazy peer that pushes long after our last PRUNE, or that we never
    // pruned, holds the link eager: a PRUNE or GRAFT was lost, or it saw
    // the link come up again. This side makes it eager too, so the link is
    // not left pushing one way and announcing the other.
    let mut n = Node::new(cfg(), &[]).with_neighbors(&[1, 2, 3]);
    n.recv(1, gossip(id(1), 1, b"x"));
    n.recv(2, gossip(id(1), 2, b"x"));
    assert!(n.topic().lazy().contains(&2));
    n.advance(Duration::from_secs(2));
    let out = n.recv(2, gossip(id(2), 2, b"y"));
    assert!(matches!(&events(&out)[..], [Event::Delivered(d)] if d.id == id(2) && d.from == 2));
    assert!(n.topic().eager().contains(&2), "pruned 2 s ago, beyond any graft wait: eager again");
    // Pruned by the peer, never by us: its push says it wants the link too.
    n.recv(3, Message::Prune);
    assert!(n.topic().lazy().contains(&3));
    n.recv(3, gossip(id(3), 2, b"z"));
    assert!(n.topic().eager().contains(&3), "we never pruned 3: its push makes the link eager");
    let (_, out) = n.broadcast(b"w").unwrap();
    let pushed: BTreeSet<u32> =
        sends(&out).iter().filter(|(_, m)| matches!(m, Message::Gossip(_))).map(|(p, _)| *p).collect();
    assert_eq!(pushed, BTreeSet::from([1, 2, 3]));
}

#[test]
fn a_tree_link_survives_duplicates_until_the_fifth_in_a_row() {
    assert_eq!(cfg().plumtree.duplicates_before_prune, 5, "the default");
    let mut n = Node::new(cfg(), &[]).with_neighbors(&[1, 2]);
    // Link 1 carried a first copy; mostly first copies here, so the eager
    // links are not redundant.
    n.recv(1, gossip(id(1), 1, b"a"));
    for k in 2..40 {
        n.recv(2, gossip(id(k), 1, b"b"));
    }
    // Duplicates over link 1, each among first copies over link 2.
    for k in 0..4 {
        let out = n.recv(1, gossip(id(39), 3, b"b"));
        assert!(sends(&out).is_empty(), "a duplicate on a tree link is tolerated: {out:?}");
        n.recv(2, gossip(id(40 + 2 * k), 1, b"b"));
        n.recv(2, gossip(id(41 + 2 * k), 1, b"b"));
    }
    let out = n.recv(1, gossip(id(39), 3, b"b"));
    assert_eq!(sends(&out), vec![(1, Message::Prune)]);
}

#[test]
fn a_first_copy_restarts_the_count_of_duplicates_in_a_row() {
    let mut n = Node::new(cfg(), &[]).with_neighbors(&[1, 2]);
    for k in 1..40 {
        n.recv(1, gossip(id(k), 1, b"a"));
    }
    for round in 0..3 {
        for k in 0..4 {
            let out = n.recv(1, gossip(id(1), 3, b"a"));
            assert!(sends(&out).is_empty(), "round {round}: {out:?}");
            n.recv(2, gossip(id(100 + 10 * round + 2 * k), 1, b"a"));
            n.recv(2, gossip(id(101 + 10 * round + 2 * k), 1, b"a"));
        }
        n.recv(1, gossip(id(200 + round), 1, b"a"));
    }
    assert!(n.topic().eager().contains(&1));
}

#[test]
fn while_many_copies_are_duplicates_a_tree_link_is_pruned_at_the_first() {
    // A node whose eager links form cycles (as in a fresh overlay, where
    // every link starts eager) receives many duplicates: at 16 of its last
    // 64 copies, even links that carry the tree are pruned at once.
    let mut n = Node::new(cfg(), &[]).with_neighbors(&[1, 2, 3, 4, 5]);
    for p in 2..=5u8 {
        n.recv(u32::from(p), gossip(id(200 + p), 1, b"c")); // links 2 to 5 carry the tree
    }
    // 14 duplicates among 56 more copies, at most 4 over any one link.
    for k in 1..=14u8 {
        for j in 0..3 {
            n.recv(1, gossip(id(3 * k + j), 1, b"a"));
        }
        n.recv(2 + u32::from(k % 4), gossip(id(3 * k), 2, b"a"));
    }
    assert_eq!(n.topic().eager().len(), 5, "no link pruned yet");
    // The fifteenth duplicate of the last 64 copies: tolerated.
    let out = n.recv(2, gossip(id(3), 2, b"a"));
    assert!(!sends(&out).contains(&(2, Message::Prune)), "{out:?}");
    n.recv(1, gossip(id(50), 1, b"a"));
    n.recv(1, gossip(id(51), 1, b"a"));
    // The sixteenth, link 5's fourth in a row: redundant, pruned at once.
    let out = n.recv(5, gossip(id(9), 2, b"a"));
    assert_eq!(sends(&out), vec![(5, Message::Prune)]);
    assert!(n.topic().lazy().contains(&5));
    assert!(n.topic().eager().contains(&2));
}

#[test]
fn a_lazy_peers_duplicates_do_not_make_the_tree_redundant() {
    // A neighbour this node does not push to may replay old messages (or
    // its push crossed our PRUNE): that says nothing about cycles of eager
    // links, and must not make this node prune the tree.
    let mut n = Node::new(cfg(), &[]).with_neighbors(&[1, 2, 3]);
    for k in 1..=40 {
        n.recv(1, gossip(id(k), 1, b"a"));
    }
    n.recv(2, gossip(id(100), 1, b"b")); // link 2 carries the tree
    n.recv(3, Message::Prune); // 3 is lazy
    for k in 1..=40 {
        n.recv(3, gossip(id(k), 2, b"a"));
    }
    let out = n.recv(2, gossip(id(1), 2, b"a"));
    assert!(!sends(&out).contains(&(2, Message::Prune)), "{out:?}");
    assert!(n.topic().eager().contains(&2));
}

#[test]
fn prune_makes_the_link_lazy_and_graft_makes_it_eager_and_answers() {
    let mut n = Node::new(cfg(), &[]).with_neighbors(&[1, 2]);
    n.recv(1, Message::Prune);
    assert!(n.topic().lazy().contains(&1));
    let (mid, out) = n.broadcast(b"payload").unwrap();
    assert!(!sends(&out).iter().any(|(p, _)| *p == 1), "no eager push on a lazy link");
    let out = n.timer(TimerKind::IHaveFlush);
    assert!(sends(&out).iter().any(|(p, m)| *p == 1 && matches!(m, Message::IHave(e) if e[0].id == mid)));
    let out = n.recv(1, Message::Graft { id: Some(mid) });
    assert!(n.topic().eager().contains(&1));
    assert!(matches!(&sends(&out)[..], [(1, Message::Gossip(g))] if g.id == mid && &g.payload[..] == b"payload"));
}

#[test]
fn missing_announced_message_is_grafted_after_the_timeout() {
    let mut n = Node::new(cfg(), &[]).with_neighbors(&[1, 2]);
    n.recv(1, Message::Prune);
    let out = n.recv(1, Message::IHave(vec![IHaveEntry { id: id(5), hops: 2, age_ms: 0 }]));
    assert_eq!(timers(&out), vec![TimerKind::Graft]);
    let out = n.timer(TimerKind::Graft);
    assert!(sends(&out).contains(&(1, Message::Graft { id: Some(id(5)) })));
    assert!(timers(&out).contains(&TimerKind::Graft), "the next announcer gets its own timeout");
    assert_eq!(n.topic().counters().grafts_sent, 1);
    // Arrives: the graft timer becomes a no-op.
    n.recv(1, gossip(id(5), 2, b"z"));
    assert!(sends(&n.timer(TimerKind::Graft)).is_empty());
}

/// The IHAVEs flushed to `peer` name these ids.
fn announced_to(out: &[hypar_proto::Output<u32>], peer: u32) -> Vec<MessageId> {
    sends(out)
        .into_iter()
        .filter(|(p, _)| *p == peer)
        .flat_map(|(_, m)| match m {
            Message::IHave(e) => e.into_iter().map(|e| e.id).collect(),
            _ => Vec::new(),
        })
        .collect()
}

#[test]
fn a_neighbour_that_announced_a_message_is_not_told_of_it() {
    let mut n = Node::new(cfg(), &[]).with_neighbors(&[1, 2, 3]);
    n.recv(2, Message::Prune);
    n.recv(3, Message::Prune);
    // 2 announces it before the eager copy comes from 1.
    n.recv(2, Message::IHave(vec![IHaveEntry { id: id(7), hops: 1, age_ms: 0 }]));
    n.recv(1, gossip(id(7), 2, b"m"));
    let out = n.timer(TimerKind::IHaveFlush);
    assert_eq!(announced_to(&out, 3), vec![id(7)], "the other lazy neighbour is told");
    assert!(announced_to(&out, 2).is_empty(), "the announcer holds it");
}

#[test]
fn with_origin_trees_or_the_hop_optimisation_on_every_lazy_neighbour_is_told() {
    for (threshold, trees) in [(3, 0), (0, 64)] {
        let mut config = cfg();
        config.plumtree.optimization_threshold = threshold;
        config.plumtree.origin_trees = trees;
        let mut n = Node::new(config, &[]).with_neighbors(&[1, 2, 3]);
        n.recv(2, Message::Prune);
        n.recv(3, Message::Prune);
        n.recv(2, Message::IHave(vec![IHaveEntry { id: id(7), hops: 1, age_ms: 0 }]));
        n.recv(1, gossip(id(7), 2, b"m"));
        n.recv(3, Message::IHave(vec![IHaveEntry { id: id(7), hops: 5, age_ms: 0 }]));
        let out = n.timer(TimerKind::IHaveFlush);
        // The hop counts may make them reshape a tree.
        assert_eq!(announced_to(&out, 2), vec![id(7)], "threshold {threshold}, trees {trees}");
        assert_eq!(announced_to(&out, 3), vec![id(7)], "threshold {threshold}, trees {trees}");
    }
}

#[test]
fn an_announcement_queued_for_a_neighbour_that_announces_the_same_message_is_dropped() {
    let mut n = Node::new(cfg(), &[]).with_neighbors(&[1, 2, 3]);
    n.recv(2, Message::Prune);
    n.recv(3, Message::Prune);
    n.recv(1, gossip(id(7), 1, b"m"));
    n.recv(1, gossip(id(8), 1, b"n"));
    // Before the flush, 2 announces one of the two: it holds that one.
    n.recv(2, Message::IHave(vec![IHaveEntry { id: id(7), hops: 3, age_ms: 0 }]));
    let out = n.timer(TimerKind::IHaveFlush);
    assert_eq!(announced_to(&out, 2), vec![id(8)]);
    assert_eq!(announced_to(&out, 3), vec![id(7), id(8)]);
}

#[test]
fn new_neighbor_is_told_about_recent_messages() {
    let mut n = Node::new(cfg(), &[]).with_neighbors(&[1]);
    n.recv(1, gossip(id(3), 1, b"recent"));
    n.recv(4, Message::Neighbor { priority: Priority::High, data: None });
    let out = n.timer(TimerKind::IHaveFlush);
    assert!(sends(&out)
        .iter()
        .any(|(p, m)| *p == 4 && matches!(m, Message::IHave(e) if e.iter().any(|e| e.id == id(3)))));
}

#[test]
fn oversized_publish_is_refused_counting_the_framing() {
    let mut config = cfg();
    config.plumtree.max_message_size = 1024;
    let mut n = Node::new(config, &[]);
    let origin_len = wire::encoded_len(&ME);
    let fits = (0..1024).rev().find(|&p| wire::gossip_frame_len(p, origin_len, false) <= 1024).unwrap();
    assert!(n.broadcast(&vec![0; fits]).is_ok());
    match n.broadcast(&vec![0; fits + 1]) {
        Err(ProtoError::MessageTooLarge { size, max }) => {
            assert_eq!(max, 1024);
            assert!(size > 1024);
        }
        other => panic!("expected MessageTooLarge, got {other:?}"),
    }
}

#[test]
fn hop_limit_stops_relaying_and_old_messages_are_dropped() {
    let mut config = cfg();
    config.plumtree.max_hops = 3;
    let mut n = Node::new(config, &[]).with_neighbors(&[1, 2]);
    let out = n.recv(1, gossip(id(1), 3, b"x"));
    assert_eq!(events(&out).len(), 1, "delivered at the limit");
    assert!(!sends(&out).iter().any(|(_, m)| matches!(m, Message::Gossip(_))), "but not relayed");
    let out = n.recv(1, gossip(id(2), 4, b"x"));
    assert!(events(&out).is_empty(), "beyond the limit: dropped");
    let old = gossip_aged(id(3), 1, 61_000, b"");
    assert!(events(&n.recv(1, old)).is_empty(), "older than max_message_age: dropped");
    assert_eq!(n.topic().counters().dropped_invalid, 2);
}

#[test]
fn a_session_evicted_for_room_refuses_copies_published_before_the_eviction() {
    let mut config = cfg();
    config.plumtree.max_sessions = 2;
    config.plumtree.recent_ids_capacity = 1;
    let mut n = Node::new(config, &[]).with_neighbors(&[1]);
    n.recv(1, gossip(id(1), 1, b"first"));
    n.advance(Duration::from_millis(10));
    // Two other sessions take the room: session 1 of ORIGIN is evicted.
    for origin in [50u32, 51] {
        n.recv(1, Message::Gossip(Gossip::new(origin, 7, 1, 1, 0, bytes::Bytes::new())));
    }
    assert_eq!(n.topic().cache_sizes().sessions, 2, "the sessions stay within their bound");
    // A late copy of message 1 (published before the eviction) may be a
    // duplicate: refused, not delivered again.
    assert!(events(&n.recv(1, gossip_aged(id(1), 2, 10, b"first"))).is_empty());
    assert_eq!(n.topic().counters().dropped_too_old, 1);
    // A message published well after the eviction is delivered.
    n.advance(Duration::from_secs(6));
    assert_eq!(events(&n.recv(1, gossip(id(2), 1, b"later"))).len(), 1);
}

#[test]
fn a_burst_of_any_length_from_one_origin_is_delivered_in_full_in_one_range() {
    let mut n = Node::new(cfg(), &[]).with_neighbors(&[1]);
    let mut delivered = 0;
    for seq in 1..=200_000u64 {
        let g = Gossip::new(ORIGIN, 3, seq, 1, 0, bytes::Bytes::new());
        delivered += events(&n.recv(1, Message::Gossip(g))).len();
        n.advance(Duration::from_micros(5));
    }
    assert_eq!(delivered, 200_000, "every message of the burst delivered");
    let sizes = n.topic().cache_sizes();
    assert_eq!((sizes.sessions, sizes.ranges), (1, 1), "{sizes:?}");
    assert!(sizes.recent_ids <= cfg().plumtree.recent_ids_capacity);
    // Every copy that comes again is a duplicate, however old its id.
    let again = Gossip::new(ORIGIN, 3, 17, 2, 0, bytes::Bytes::new());
    assert!(events(&n.recv(1, Message::Gossip(again))).is_empty());
    assert_eq!(n.topic().counters().duplicates, 1);
}

#[test]
fn announcements_of_history_are_not_fetched_unless_a_catch_up_window_asks() {
    let announce = |n: &mut Node, m: u8, age_ms: u32| {
        n.recv(1, Message::IHave(vec![IHaveEntry { id: id(m), hops: 2, age_ms }]));
        sends(&n.timer(TimerKind::Graft)).iter().any(|(_, msg)| *msg == Message::Graft { id: Some(id(m)) })
    };
    let mut n = Node::new(cfg(), &[]).with_neighbors(&[1]);
    n.recv(1, Message::Prune);
    assert!(!announce(&mut n, 1, 30_000), "published 30 s before the join: history");
    assert!(announce(&mut n, 2, 0), "published after the join: fetched");
    let mut config = cfg();
    config.plumtree.catch_up = Duration::from_secs(40);
    let mut n = Node::new(config, &[]).with_neighbors(&[1]);
    n.recv(1, Message::Prune);
    assert!(announce(&mut n, 3, 30_000), "within the catch-up window: fetched");
    assert!(!announce(&mut n, 4, 50_000), "beyond it: not");
}

#[test]
fn a_push_refused_by_a_congested_link_becomes_an_announcement_to_that_peer() {
    let mut n = Node::new(cfg(), &[]).with_neighbors(&[1, 2]);
    let (mid, out) = n.broadcast(b"payload").unwrap();
    let to_1 = sends(&out).into_iter().find(|(p, _)| *p == 1).expect("pushed to 1").1;
    n.state.on_send_refused(1, n.topic, &to_1, n.now, &mut n.rng, &mut n.out);
    n.take();
    let out = n.timer(TimerKind::IHaveFlush);
    assert!(sends(&out).iter().any(|(p, m)| *p == 1 && matches!(m, Message::IHave(e) if e[0].id == mid)), "{out:?}");
    // The peer grafts it once its link drains, and gets the payload.
    let out = n.recv(1, Message::Graft { id: Some(mid) });
    assert!(matches!(&sends(&out)[..], [(1, Message::Gossip(g))] if g.id == mid));
}

#[test]
fn outsiders_are_refused_cleanly_and_never_delivered() {
    let mut config = cfg();
    config.allowed_peers = Some(BTreeSet::from([1, 2, 3]));
    let mut n = Node::new(config, &[]).with_neighbors(&[1]);
    assert_eq!(sends(&n.recv(9, Message::Join { data: None })), vec![(9, Message::Disconnect { alive: false })]);
    assert_eq!(
        sends(&n.recv(9, Message::Neighbor { priority: Priority::High, data: None })),
        vec![(9, Message::Disconnect { alive: false })]
    );
    assert!(events(&n.recv(9, gossip(id(1), 1, b"spam"))).is_empty());
    n.recv(1, Message::ShuffleReply { peers: vec![PeerInfo::new(2), PeerInfo::new(9)] });
    n.recv(1, Message::ForwardJoin { peer: PeerInfo::new(9), ttl: 0 });
    assert!(!n.active().contains(&9) && !n.passive().contains(&9));
    assert!(!n.topic().known().any(|p| *p == 9));
    assert!(n.passive().contains(&2));
    assert_eq!(n.topic().counters().dropped_outsider, 3);
}

#[test]
fn requests_for_topics_not_joined_are_refused() {
    let mut n = Node::new(cfg(), &[]);
    n.take();
    let other = TopicId::from_name("other");
    n.state.on_message(4, other, Message::Join { data: None }, n.now, &mut n.rng, &mut n.out);
    let out = n.take();
    // Refused for good, and reported as a (light) offence.
    assert!(matches!(
        &out[..],
        [
            Output::Send { to: 4, topic, message: Message::Disconnect { alive: false } },
            Output::Offence { peer: 4, topic: t2, offence: Offence::UnknownTopic },
        ] if *topic == other && *t2 == other
    ));
}

#[test]
fn leaving_tells_neighbors_and_drops_the_topic() {
    let mut n = Node::new(cfg(), &[]).with_neighbors(&[1, 2]);
    n.state.leave(n.topic, n.now, &mut n.rng, &mut n.out).unwrap();
    let out = n.take();
    let told: BTreeSet<u32> =
        sends(&out).iter().filter(|(_, m)| *m == Message::Disconnect { alive: false }).map(|(p, _)| *p).collect();
    assert_eq!(told, BTreeSet::from([1, 2]));
    assert!(n.state.topic(&n.topic).is_none());
    assert_eq!(
        n.state.broadcast(n.topic, bytes::Bytes::new(), n.now, &mut n.rng, &mut n.out),
        Err(ProtoError::NotJoined(n.topic))
    );
}

#[test]
fn invalid_config_is_refused_with_the_field_named() {
    let mut config = cfg();
    config.hyparview.active_view_capacity = 0;
    let mut n = Node::new(cfg(), &[]);
    let err = n.state.join(TopicId::from_name("bad"), config, vec![], n.now, &mut n.rng, &mut n.out).unwrap_err();
    assert!(err.to_string().contains("hyparview.active_view_capacity"), "{err}");
    let mut config = cfg();
    config.plumtree.seen_ttl = config.plumtree.max_message_age;
    assert!(config.validate().unwrap_err().to_string().contains("plumtree.seen_ttl"));
    assert_eq!(
        n.state.join(n.topic, cfg(), vec![], n.now, &mut n.rng, &mut n.out),
        Err(ProtoError::AlreadyJoined(n.topic))
    );
}

#[test]
fn topic_id_is_sha256_of_the_prefixed_name() {
    use sha2::Digest;
    let expect: [u8; 32] = sha2::Sha256::digest(b"hypar/topic/v1/chat").into();
    assert_eq!(TopicId::from_name("chat").0, expect);
    assert_ne!(TopicId::from_name("chat"), TopicId::from_name("Chat"));
}

#[test]
fn a_graft_that_raced_a_slow_tree_path_is_undone_keeping_the_tree_link() {
    let mut n = Node::new(cfg(), &[]).with_neighbors(&[1, 2]);
    n.recv(1, gossip(id(1), 1, b"a")); // 1 carries the tree
    n.recv(2, Message::Prune); // 2 is lazy
    n.recv(2, Message::IHave(vec![IHaveEntry { id: id(7), hops: 2, age_ms: 0 }]));
    let out = n.timer(TimerKind::Graft);
    assert!(sends(&out).contains(&(2, Message::Graft { id: Some(id(7)) })));
    assert_eq!(events(&n.recv(2, gossip(id(7), 2, b"g"))).len(), 1);
    // The slow tree copy arrives: drop the grafted link, not the tree link.
    let out = n.recv(1, gossip(id(7), 5, b"g"));
    assert_eq!(sends(&out), vec![(2, Message::Prune)]);
    assert!(n.topic().eager().contains(&1) && n.topic().lazy().contains(&2));
}

#[test]
fn a_tree_parent_slower_than_the_longest_graft_wait_is_dropped_for_the_grafted_link() {
    let mut n = Node::new(cfg(), &[]).with_neighbors(&[1, 2]);
    n.recv(1, gossip(id(1), 1, b"a")); // 1 carries the tree
    n.recv(2, Message::Prune); // 2 is lazy
    n.recv(2, Message::IHave(vec![IHaveEntry { id: id(7), hops: 2, age_ms: 0 }]));
    assert!(sends(&n.timer(TimerKind::Graft)).contains(&(2, Message::Graft { id: Some(id(7)) })));
    assert_eq!(events(&n.recv(2, gossip(id(7), 2, b"g"))).len(), 1);
    // The tree copy comes 2 s after the announcement: 1 is too slow a parent.
    n.advance(Duration::from_secs(2));
    let out = n.recv(1, gossip(id(7), 5, b"g"));
    assert_eq!(sends(&out), vec![(1, Message::Prune)]);
    assert!(n.topic().eager().contains(&2) && n.topic().lazy().contains(&1));
}

#[test]
fn graft_wait_grows_to_the_observed_lag_of_eager_copies() {
    let after = |out: &[Output<u32>]| {
        out.iter().find_map(|o| match o {
            Output::Timer { after, timer } if matches!(timer.kind, TimerKind::Graft) => Some(*after),
            _ => None,
        })
    };
    let mut n = Node::new(cfg(), &[]).with_neighbors(&[1, 2]);
    n.recv(2, Message::Prune);
    let out = n.recv(2, Message::IHave(vec![IHaveEntry { id: id(1), hops: 2, age_ms: 0 }]));
    let in_range = |d: Option<Duration>, base: u64| {
        d.is_some_and(|d| d >= Duration::from_millis(base) && d < Duration::from_millis(base * 3 / 2))
    };
    assert!(in_range(after(&out), 150), "starts at graft_timeout_1, plus up to 50% jitter: {:?}", after(&out));
    n.advance(Duration::from_millis(400));
    n.recv(1, gossip(id(1), 6, b"late")); // eager copy 400 ms behind the announcement
    assert!(sends(&n.timer(TimerKind::Graft)).is_empty(), "nothing left to graft");
    let out = n.recv(2, Message::IHave(vec![IHaveEntry { id: id(2), hops: 2, age_ms: 0 }]));
    assert!(in_range(after(&out), 500), "1.25 x the longest recent lag, plus jitter: {:?}", after(&out));
}

#[test]
fn a_node_stuck_below_the_minimum_rejoins_through_a_known_peer() {
    // Our only neighbour is 1; the one other peer we know (2) is full and
    // refuses low-priority requests. We must not stay stuck.
    let mut n = Node::new(cfg(), &[]).with_neighbors(&[1]);
    n.recv(1, Message::ShuffleReply { peers: vec![PeerInfo::new(2)] });
    let out = n.timer(TimerKind::Maintenance);
    assert!(sends(&out).contains(&(2, Message::Neighbor { priority: Priority::Low, data: None })));
    n.recv(2, Message::NeighborReply { accepted: false });
    let out = n.timer(TimerKind::Maintenance);
    assert!(timers(&out).contains(&TimerKind::JoinRetry), "below the minimum with nothing pending: rejoin");
    let out = n.timer(TimerKind::JoinRetry);
    assert!(sends(&out).contains(&(2, Message::Join { data: None })), "JOIN through a known peer: {out:?}");
}

#[test]
fn a_node_that_knows_too_few_peers_escapes_through_a_join() {
    // A triangle island: two neighbours (at the minimum), one full outsider known.
    let mut n = Node::new(cfg(), &[]).with_neighbors(&[1, 2]);
    n.recv(1, Message::ShuffleReply { peers: vec![PeerInfo::new(3)] });
    let out = n.timer(TimerKind::Shuffle);
    assert!(sends(&out).contains(&(3, Message::Join { data: None })), "{out:?}");
    // Backs off: the next shuffle round does not join again.
    let out = n.timer(TimerKind::Shuffle);
    assert!(!sends(&out).iter().any(|(_, m)| matches!(m, Message::Join { .. })));
}

#[test]
fn a_peer_refusing_our_high_priority_neighbor_leaves_the_active_view() {
    let mut n = Node::new(cfg(), &[]).with_neighbors(&[1]);
    n.recv(1, Message::ForwardJoin { peer: PeerInfo::new(9), ttl: 0 }); // adds 9, sends NEIGHBOR{High}
    assert!(n.active().contains(&9));
    let out = n.recv(9, Message::NeighborReply { accepted: false });
    assert!(!n.active().contains(&9), "views must stay symmetric");
    assert!(events(&out).contains(&Event::NeighborDown(9)));
}

#[test]
fn an_unsolicited_acceptance_is_answered_with_disconnect() {
    let mut n = Node::new(cfg(), &[]).with_neighbors(&[1]);
    let out = n.recv(7, Message::NeighborReply { accepted: true });
    assert!(!n.active().contains(&7));
    assert_eq!(sends(&out), vec![(7, Message::Disconnect { alive: true })]);
}

#[test]
fn timers_of_an_earlier_join_are_ignored_after_rejoining() {
    let mut n = Node::new(cfg(), &[]).with_neighbors(&[1]);
    let old = Timer { topic: n.topic, generation: n.topic().generation(), kind: TimerKind::Shuffle };
    n.state.leave(n.topic, n.now, &mut n.rng, &mut n.out).unwrap();
    n.state.join(n.topic, cfg(), vec![], n.now, &mut n.rng, &mut n.out).unwrap();
    n.take();
    n.state.on_timer(old, n.now, &mut n.rng, &mut n.out);
    assert!(n.take().is_empty(), "a stale periodic timer must not start a second chain");
}

#[test]
fn rejoining_a_topic_does_not_deliver_old_messages_again() {
    let mut n = Node::new(cfg(), &[]).with_neighbors(&[1]);
    assert_eq!(events(&n.recv(1, gossip(id(1), 1, b"once"))).len(), 1);
    n.state.leave(n.topic, n.now, &mut n.rng, &mut n.out).unwrap();
    n.state.join(n.topic, cfg(), vec![], n.now, &mut n.rng, &mut n.out).unwrap();
    let mut n = n.with_neighbors(&[2]);
    assert!(events(&n.recv(2, gossip(id(1), 2, b"once"))).is_empty());
}

#[test]
fn an_announcer_already_grafted_is_grafted_again_only_if_it_announces_again() {
    let mut n = Node::new(cfg(), &[]).with_neighbors(&[1]);
    n.recv(1, Message::Prune);
    let announce = Message::IHave(vec![IHaveEntry { id: id(4), hops: 2, age_ms: 0 }]);
    n.recv(1, announce.clone());
    let graft = (1, Message::Graft { id: Some(id(4)) });
    assert!(sends(&n.timer(TimerKind::Graft)).contains(&graft));
    // It announces again: its answer could not be sent (its link was
    // congested), so the graft is repeated...
    n.recv(1, announce);
    assert!(sends(&n.timer(TimerKind::Graft)).contains(&graft));
    // ...but without a new announcement there is no endless grafting.
    assert!(sends(&n.timer(TimerKind::Graft)).is_empty());
    assert!(sends(&n.timer(TimerKind::Graft)).is_empty());
}

#[test]
fn a_third_party_cannot_redirect_a_known_peers_data() {
    let mut n = Node::new(cfg(), &[]).with_neighbors(&[1]);
    let real = bytes::Bytes::from_static(b"real-addr");
    n.recv(5, Message::Neighbor { priority: Priority::Low, data: Some(real) });
    let evil = PeerInfo { id: 5, data: Some(bytes::Bytes::from_static(b"evil")) };
    let out = n.recv(1, Message::ShuffleReply { peers: vec![evil] });
    assert!(!out.iter().any(|o| matches!(o, Output::PeerData { peer: 5, firsthand: true, .. })), "{out:?}");
}

#[test]
fn a_bootstrap_peer_identified_later_is_joined_through() {
    let mut n = Node::new(cfg(), &[]);
    n.take();
    n.state.add_bootstrap(n.topic, PeerInfo::new(4), n.now, &mut n.rng, &mut n.out).unwrap();
    assert!(sends(&n.take()).contains(&(4, Message::Join { data: None })));
    let out = n.dial_failed(4);
    assert_eq!(events(&out), vec![Event::BootstrapFailed]);
}

#[test]
fn a_joiner_is_given_backups_at_once() {
    let mut n = Node::new(cfg(), &[]).with_neighbors(&[1, 2]);
    n.recv(1, Message::ShuffleReply { peers: vec![PeerInfo::new(7)] });
    let out = n.recv(9, Message::Join { data: None });
    let sample = sends(&out).into_iter().find_map(|(to, m)| match m {
        Message::ShuffleReply { peers } if to == 9 => Some(peers),
        _ => None,
    });
    let ids: BTreeSet<u32> = sample.expect("a sample for the joiner").iter().map(|p| p.id).collect();
    assert!(!ids.contains(&9) && ids.is_subset(&BTreeSet::from([1, 2, 7])) && !ids.is_empty(), "{ids:?}");
}

#[test]
fn probes_insist_only_on_peers_that_failed_repeatedly() {
    let probe_to_7 = |out: &[Output<u32>]| {
        sends(out).into_iter().find_map(|(to, m)| match m {
            Message::Neighbor { priority, .. } if to == 7 => Some(priority),
            _ => None,
        })
    };
    let mut n = Node::new(cfg(), &[]).with_neighbors(&[1, 2]);
    n.recv(1, Message::ShuffleReply { peers: vec![PeerInfo::new(7)] });
    n.dial_failed(7); // once: maybe just a timeout under load
    n.advance(Duration::from_secs(6));
    assert_eq!(probe_to_7(&n.timer(TimerKind::Maintenance)), Some(Priority::Low));
    n.dial_failed(7); // again: cut off
    n.advance(Duration::from_secs(11));
    assert_eq!(probe_to_7(&n.timer(TimerKind::Maintenance)), Some(Priority::High));
}

#[test]
fn broadcast_frames_from_non_neighbours_are_refused_as_offences() {
    let mut n = Node::new(cfg(), &[]).with_neighbors(&[1]);
    for m in [gossip(id(1), 1, b"x"), Message::IHave(vec![]), Message::Graft { id: None }, Message::Prune] {
        let out = n.recv(7, m);
        assert!(matches!(&out[..], [Output::Offence { peer: 7, offence: Offence::NotNeighbor, .. }]), "{out:?}");
    }
    assert_eq!(n.topic().counters().dropped_not_neighbor, 4);
    // A neighbour's copy is taken.
    assert_eq!(events(&n.recv(1, gossip(id(1), 1, b"x"))).len(), 1);
}

#[test]
fn held_messages_wait_for_their_verdict() {
    let mut c = cfg();
    c.validation = true;
    c.plumtree.max_pending = 2;
    let mut n = Node::new(c, &[]).with_neighbors(&[1, 2]);
    let held = |out: &[Output<u32>]| -> Vec<MessageId> {
        out.iter()
            .filter_map(|o| if let Output::Validate { message, .. } = o { Some(message.id) } else { None })
            .collect()
    };
    // Held, not delivered, not relayed; a second copy is only a duplicate.
    let out = n.recv(1, gossip(id(1), 1, b"a"));
    assert_eq!(held(&out), vec![id(1)]);
    assert!(events(&out).is_empty() && sends(&out).is_empty());
    assert!(held(&n.recv(2, gossip(id(1), 1, b"a"))).is_empty());
    assert_eq!(n.topic().cache_sizes().pending, 1);
    // Accept: delivered (from the first sender) and relayed.
    n.state.on_validated(n.topic, id(1), Validation::Accept, n.now, &mut n.rng, &mut n.out);
    let out = n.take();
    assert!(matches!(&events(&out)[..], [Event::Delivered(d)] if d.from == 1));
    assert!(sends(&out).iter().any(|(to, m)| *to == 2 && matches!(m, Message::Gossip(_))));
    // Reject: never delivered, remembered, the sender penalised.
    n.recv(1, gossip(id(2), 1, b"b"));
    n.state.on_validated(n.topic, id(2), Validation::Reject, n.now, &mut n.rng, &mut n.out);
    let out = n.take();
    assert!(events(&out).is_empty());
    assert!(matches!(&out[..], [Output::Offence { peer: 1, offence: Offence::Rejected, .. }]));
    assert!(held(&n.recv(2, gossip(id(2), 1, b"b"))).is_empty(), "a rejected message is not judged again");
    // Forged: not remembered, so the genuine copy is judged when it comes.
    n.recv(1, gossip(id(3), 1, b"c"));
    n.state.on_validated(n.topic, id(3), Validation::Forged, n.now, &mut n.rng, &mut n.out);
    assert!(matches!(&n.take()[..], [Output::Offence { peer: 1, offence: Offence::BadSignature, .. }]));
    assert_eq!(held(&n.recv(2, gossip(id(3), 1, b"c"))), vec![id(3)]);
    // Full: a third held message is not taken (nor remembered).
    assert_eq!(held(&n.recv(1, gossip(id(4), 1, b"d"))), vec![id(4)]);
    assert!(held(&n.recv(1, gossip(id(5), 1, b"e"))).is_empty());
    assert_eq!(n.topic().counters().pending_full, 1);
    let c = n.topic().counters();
    assert_eq!((c.delivered, c.rejected, c.forged), (1, 1, 1));
}

#[test]
fn an_alias_publishes_unsigned_messages_and_is_refused_in_a_signed_topic() {
    let mut c = cfg();
    c.publish_as = Some(77);
    let mut n = Node::new(c.clone(), &[]).with_neighbors(&[1]);
    let (_, out) = n.broadcast(b"hi").unwrap();
    assert!(sends(&out).iter().all(|(_, m)| !matches!(m, Message::Gossip(g) if g.origin != 77)));
    assert!(sends(&out).iter().any(|(_, m)| matches!(m, Message::Gossip(g) if g.origin == 77)));
    c.signed = true;
    let err = c.validate().unwrap_err();
    assert_eq!(err.field, "publish_as");
}

#[test]
fn a_neighbour_announcing_a_flood_cannot_crowd_out_the_others() {
    let mut c = cfg();
    c.plumtree.missing_capacity = 4;
    let mut n = Node::new(c, &[]).with_neighbors(&[1, 2]);
    let ihave = |k: u8| Message::IHave(vec![IHaveEntry { id: id(k), hops: 1, age_ms: 0 }]);
    for k in 10..20 {
        n.recv(1, ihave(k));
    }
    assert_eq!((n.topic().cache_sizes().missing, n.topic().counters().missing_full), (4, 6));
    // Neighbour 2 holds less than its share (4 / 2): its announcement is
    // taken, in place of neighbour 1's oldest.
    n.recv(2, ihave(30));
    n.recv(2, ihave(31));
    assert_eq!(n.topic().cache_sizes().missing, 4);
    n.recv(2, ihave(32));
    assert_eq!(n.topic().counters().missing_full, 7, "beyond its share, neighbour 2 waits like anyone");
    // Once due, the grafts go where the tracked messages were announced.
    n.advance(Duration::from_secs(2));
    let out = n.timer(TimerKind::Graft);
    let grafted: BTreeSet<u32> =
        sends(&out).into_iter().filter(|(_, m)| matches!(m, Message::Graft { .. })).map(|(p, _)| p).collect();
    assert_eq!(grafted, [1, 2].into_iter().collect());
}

#[test]
fn a_neighbour_not_told_gets_no_data_but_is_heard() {
    let mut config = cfg();
    config.tell = Some(BTreeSet::from([1]));
    let mut n = Node::new(config, &[]).with_neighbors(&[1, 2]);
    assert_eq!((n.topic().eager(), n.topic().muted()), (&[1][..], &[2][..]));
    // Its messages are delivered, and relayed to the told neighbour only.
    let out = n.recv(2, gossip(id(1), 1, b"from 2"));
    assert!(matches!(&events(&out)[..], [Event::Delivered(d)] if d.from == 2));
    assert!(sends(&out).iter().all(|(p, _)| *p == 1), "{out:?}");
    // What this node publishes goes to 1 alone; 2's GRAFTs get nothing.
    let (mid, out) = n.broadcast(b"mine").unwrap();
    assert!(sends(&out).iter().all(|(p, _)| *p == 1), "{out:?}");
    assert!(sends(&n.recv(2, Message::Graft { id: Some(mid) })).is_empty());
}

#[test]
fn a_neighbour_not_heard_is_pruned_and_not_delivered() {
    let mut config = cfg();
    config.hear = Some(BTreeSet::from([1]));
    let mut n = Node::new(config, &[]).with_neighbors(&[1, 2]);
    let out = n.recv(2, gossip(id(1), 1, b"from 2"));
    assert!(events(&out).is_empty());
    // Pruned from the shared tree and from its origin's own, whichever it
    // pushed on.
    assert_eq!(sends(&out), vec![(2, Message::Prune), (2, Message::PruneOrigin { origin: 99 })]);
    let entry = IHaveEntry { id: id(2), hops: 1, age_ms: 0 };
    assert!(n.recv(2, Message::IHave(vec![entry])).is_empty());
    assert_eq!(n.topic().counters().dropped_outsider, 2);
    // It is still told: what 1 sends is relayed to it.
    let out = n.recv(1, gossip(id(3), 1, b"from 1"));
    assert!(events(&out).len() == 1 && sends(&out).iter().any(|(p, _)| *p == 2), "{out:?}");
}

#[test]
fn runtime_changes_apply_at_once_and_fixed_fields_are_refused() {
    let mut n = Node::new(cfg(), &[]).with_neighbors(&[1, 2, 3]);
    let mut c = n.topic().config().clone();
    // Narrowing the allow list: 3 is told DISCONNECT (for good) and
    // forgotten; 2, heard but no longer told, stays a neighbour.
    c.allowed_peers = Some(BTreeSet::from([1, 2]));
    c.tell = Some(BTreeSet::from([1]));
    c.plumtree.max_hops = 2;
    let out = n.configure(c.clone()).unwrap();
    assert!(sends(&out).contains(&(3, Message::Disconnect { alive: false })), "{out:?}");
    assert_eq!(n.active(), vec![1, 2]);
    assert!(!n.topic().known().any(|p| *p == 3));
    assert_eq!(n.topic().muted(), &[2][..]);
    assert_eq!(n.topic().config(), &c);
    // The smaller hop limit holds for what is relayed from now on.
    let out = n.recv(2, gossip(id(1), 2, b"two hops"));
    assert_eq!(events(&out).len(), 1);
    assert!(sends(&out).iter().all(|(_, m)| !matches!(m, Message::Gossip(_))), "{out:?}");
    // Signing cannot change while joined; nothing changes on error.
    let mut bad = c.clone();
    bad.signed = true;
    let err = n.configure(bad).unwrap_err();
    assert!(matches!(&err, ProtoError::Config(e) if e.field == "signed"), "{err}");
    let mut invalid = c.clone();
    invalid.hyparview.active_view_capacity = 0;
    assert!(matches!(n.configure(invalid), Err(ProtoError::Config(e)) if e.field == "hyparview.active_view_capacity"));
    assert_eq!(n.topic().config(), &c);
    // A smaller active view sheds a neighbour, told it may come back.
    c.hyparview.active_view_capacity = 1;
    c.hyparview.active_view_min = 1;
    c.hyparview.shuffle_active_count = 1;
    let out = n.configure(c).unwrap();
    assert_eq!(n.active().len(), 1);
    assert!(sends(&out).iter().any(|(_, m)| *m == Message::Disconnect { alive: true }), "{out:?}");
}

#[test]
fn a_hop_limit_travels_with_the_message_and_is_held_by_every_relay() {
    let mut n = Node::new(cfg(), &[]).with_neighbors(&[1, 2]);
    // Published for neighbours only: sent with its limit, relayed by nobody.
    let id = n.state.broadcast_within(n.topic, Bytes::from_static(b"near"), 1, n.now, &mut n.rng, &mut n.out).unwrap();
    let out = n.take();
    let limits: Vec<(u32, u16, u16)> = sends(&out)
        .into_iter()
        .filter_map(|(p, m)| match m {
            Message::Gossip(g) if g.id == id => Some((p, g.hops, g.limit)),
            _ => None,
        })
        .collect();
    assert!(!limits.is_empty() && limits.iter().all(|&(_, hops, limit)| (hops, limit) == (1, 1)), "{out:?}");
    // Received at its limit: delivered, not relayed nor announced.
    let at_limit = Gossip::new(ORIGIN, 1, 1, 2, 0, Bytes::from_static(b"x")).with_limit(2);
    let out = n.recv(1, Message::Gossip(at_limit));
    assert_eq!(events(&out).len(), 1);
    n.take();
    let flushed = n.timer(TimerKind::IHaveFlush);
    assert!(sends(&out)
        .iter()
        .chain(&sends(&flushed))
        .all(|(_, m)| !matches!(m, Message::Gossip(_) | Message::IHave(_))));
    // Past its limit: refused.
    let past = Gossip::new(ORIGIN, 1, 2, 3, 0, Bytes::from_static(b"y")).with_limit(2);
    assert!(events(&n.recv(1, Message::Gossip(past))).is_empty());
    // Below it: relayed with the same limit, to the other neighbour.
    let below = Gossip::new(ORIGIN, 1, 3, 1, 0, Bytes::from_static(b"z")).with_limit(2);
    let out = n.recv(1, Message::Gossip(below));
    assert!(matches!(&sends(&out)[..], [(2, Message::Gossip(g))] if (g.hops, g.limit) == (2, 2)), "{out:?}");
}

#[test]
fn direct_messages_go_to_one_neighbour_and_are_never_relayed() {
    let mut n = Node::new(cfg(), &[]).with_neighbors(&[1, 2]);
    let t = n.topic;
    n.state.send_direct(t, 1, Bytes::from_static(b"hi"), n.now, &mut n.rng, &mut n.out).unwrap();
    assert_eq!(sends(&n.take()), vec![(1, Message::Direct { payload: Bytes::from_static(b"hi") })]);
    let err = n.state.send_direct(t, 9, Bytes::from_static(b"hi"), n.now, &mut n.rng, &mut n.out).unwrap_err();
    assert_eq!(err, ProtoError::NotNeighbor(t));
    // Received from a neighbour: delivered (twice if sent twice), relayed to nobody.
    for _ in 0..2 {
        let out = n.recv(2, Message::Direct { payload: Bytes::from_static(b"yo") });
        assert_eq!(events(&out), vec![Event::Direct { from: 2, payload: Bytes::from_static(b"yo") }]);
        assert!(sends(&out).is_empty());
    }
    // From a non-neighbour: refused, an offence.
    let out = n.recv(9, Message::Direct { payload: Bytes::from_static(b"spam") });
    assert!(events(&out).is_empty());
    assert!(out.iter().any(|o| matches!(o, Output::Offence { peer: 9, offence: Offence::NotNeighbor, .. })));
    let c = n.topic().counters();
    assert_eq!((c.direct_sent, c.direct_received), (1, 2));
}

#[test]
fn below_eager_hops_a_message_goes_to_every_neighbour_and_its_copies_leave_the_tree_alone() {
    let mut c = cfg();
    c.plumtree.eager_hops = 1;
    c.plumtree.duplicates_before_prune = 2;
    let mut n = Node::new(c, &[]).with_neighbors(&[1, 2, 3]);
    n.recv(3, Message::Prune); // 3 is lazy now
    assert_eq!(n.topic().lazy(), &[3]);
    let (_, out) = n.broadcast(b"near").unwrap();
    let mut to: Vec<u32> =
        sends(&out).iter().filter(|(_, m)| matches!(m, Message::Gossip(_))).map(|(p, _)| *p).collect();
    to.sort();
    assert_eq!(to, vec![1, 2, 3], "pushed to the lazy neighbour too");
    assert!(timers(&out).iter().all(|t| *t != TimerKind::IHaveFlush), "nothing to announce");
    // A first copy at hop 1 from the lazy neighbour does not make it eager,
    // and a duplicate at hop 1 prunes nothing.
    let out = n.recv(3, gossip(id(1), 1, b"m"));
    assert_eq!(events(&out).len(), 1);
    assert_eq!(n.topic().lazy(), &[3]);
    let out = n.recv(1, gossip(id(1), 1, b"m"));
    assert!(sends(&out).iter().all(|(_, m)| *m != Message::Prune));
    assert!(n.topic().eager().contains(&1));
    // Beyond the flood, duplicates prune as usual: a link that carries the
    // tree after two in a row.
    for k in [2, 3] {
        let out = n.recv(2, gossip(id(k), 2, b"m"));
        assert_eq!(events(&out).len(), 1);
        let out = n.recv(1, gossip(id(k), 3, b"m"));
        assert_eq!(sends(&out).contains(&(1, Message::Prune)), k == 3, "{out:?}");
    }
}
