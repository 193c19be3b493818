//! Origin trees, one node at a time: which neighbours an origin's messages
//! are pushed to and announced to, how duplicates, PRUNE_ORIGIN, GRAFT_ORIGIN
//! and announcements with fewer hops shape that origin's tree alone, and the
//! bound on origins.

mod common;

use bytes::Bytes;
use common::*;
use hypar_proto::*;

const NEIGHBORS: [u32; 4] = [1, 2, 3, 4];
const ALICE: u32 = 90;
const BOB: u32 = 91;

fn config(origin_trees: usize) -> ProtocolConfig<u32> {
    let mut c = ProtocolConfig::default();
    c.plumtree.origin_trees = origin_trees;
    c
}

fn node(origin_trees: usize) -> Node {
    Node::new(config(origin_trees), &[]).with_neighbors(&NEIGHBORS)
}

/// Message `seq` of `origin` (session 1), as it arrives at `hops`.
fn msg(origin: u32, seq: u64, hops: u16) -> Message<u32> {
    Message::Gossip(Gossip::new(origin, 1, seq, hops, 0, Bytes::from_static(b"m")))
}

/// The neighbours `out` pushes a GOSSIP to, sorted.
fn pushed(out: &[Output<u32>]) -> Vec<u32> {
    let mut to: Vec<u32> =
        sends(out).into_iter().filter(|(_, m)| matches!(m, Message::Gossip(_))).map(|(p, _)| p).collect();
    to.sort();
    to
}

/// The neighbours the next IHAVE flush announces to, sorted.
fn announced(n: &mut Node) -> Vec<u32> {
    let out = n.timer(TimerKind::IHaveFlush);
    let mut to: Vec<u32> =
        sends(&out).into_iter().filter(|(_, m)| matches!(m, Message::IHave(_))).map(|(p, _)| p).collect();
    to.sort();
    to
}

/// Turn the shared tree into {1} eager, {2, 3, 4} lazy.
fn shared_tree_of_one(n: &mut Node) {
    for p in [2, 3, 4] {
        n.recv(p, Message::Prune);
    }
    assert_eq!(n.topic().eager(), &[1]);
}

#[test]
fn an_origins_first_message_takes_the_shared_tree_and_its_second_starts_its_own() {
    let mut n = node(8);
    shared_tree_of_one(&mut n);
    // First message of Alice, from 1: the shared tree (1 is the only eager
    // link, and the sender) pushes it nowhere; the lazy links hear of it.
    let out = n.recv(1, msg(ALICE, 1, 1));
    assert_eq!(pushed(&out), Vec::<u32>::new());
    assert_eq!(announced(&mut n), vec![2, 3, 4]);
    assert_eq!(n.topic().origin_tree(&ALICE), None);
    // Her second, from 2: her tree starts as the shared one, plus the link
    // her message came over.
    let out = n.recv(2, msg(ALICE, 2, 1));
    assert_eq!(pushed(&out), vec![1]);
    assert_eq!(announced(&mut n), vec![3, 4]);
    let mut tree = n.topic().origin_tree(&ALICE).unwrap().to_vec();
    tree.sort();
    assert_eq!(tree, vec![1, 2]);
    // The shared tree did not change.
    assert_eq!(n.topic().eager(), &[1]);
}

#[test]
fn a_duplicate_prunes_the_origins_tree_alone_in_the_direction_it_came() {
    let mut n = node(8);
    n.recv(1, msg(ALICE, 1, 1));
    n.recv(1, msg(ALICE, 2, 1));
    n.take();
    // A duplicate from 3 on Alice's tree: PRUNE_ORIGIN, not PRUNE. 3 had it
    // at 2 hops, no more than this node's copies would give it: this node
    // stops pushing to 3 as well.
    let out = n.recv(3, msg(ALICE, 2, 3));
    assert_eq!(sends(&out), vec![(3, Message::PruneOrigin { origin: ALICE })]);
    assert!(!n.topic().origin_tree(&ALICE).unwrap().contains(&3));
    assert!(n.topic().eager().contains(&3), "the shared tree keeps 3");
    // 4 had it the long way (5 hops): it is told to stop pushing here, but
    // still gets this node's pushes, which reach it in 2.
    let out = n.recv(4, msg(ALICE, 2, 6));
    assert_eq!(sends(&out), vec![(4, Message::PruneOrigin { origin: ALICE })]);
    assert!(n.topic().origin_tree(&ALICE).unwrap().contains(&4));
    // Alice's next message: 3 only hears of it.
    let out = n.recv(1, msg(ALICE, 3, 1));
    assert_eq!(pushed(&out), vec![2, 4]);
    assert_eq!(announced(&mut n), vec![3]);
    // Bob's messages are not affected: his first takes the shared tree,
    // which still pushes to 3.
    let out = n.recv(1, msg(BOB, 1, 1));
    assert_eq!(pushed(&out), vec![2, 3, 4]);
}

/// An announcement of message `seq` of Alice at `hops`.
fn ihave(origin: u32, seq: u64, hops: u16) -> Message<u32> {
    let Message::Gossip(g) = msg(origin, seq, hops) else { unreachable!() };
    Message::IHave(vec![IHaveEntry { id: g.id, hops, age_ms: 0 }])
}

#[test]
fn a_neighbour_announcing_an_origins_message_two_hops_closer_joins_its_tree_and_the_longer_path_goes() {
    let mut n = node(8);
    shared_tree_of_one(&mut n);
    n.recv(1, msg(ALICE, 1, 5));
    n.recv(1, msg(ALICE, 2, 5));
    n.take();
    // 3 announces message 2 at 4 hops: one better than 5, not enough.
    assert!(sends(&n.recv(3, ihave(ALICE, 2, 4))).is_empty());
    // At 3 hops: 3 is asked to push her messages here (GRAFT_ORIGIN); the
    // parent, 1, stays until a duplicate shows which path is shorter.
    assert_eq!(sends(&n.recv(3, ihave(ALICE, 2, 3))), vec![(3, Message::GraftOrigin { origin: ALICE })]);
    assert_eq!(n.topic().origin_tree(&ALICE), Some(&[1][..]));
    assert_eq!(n.topic().eager(), &[1], "the shared tree is unchanged");
    // Once per message: a still better announcement does not swap again.
    assert!(sends(&n.recv(4, ihave(ALICE, 2, 1))).is_empty());
    // Her next message comes both ways: the copy with more hops goes,
    // whichever came first.
    n.recv(1, msg(ALICE, 3, 5));
    n.take();
    assert_eq!(sends(&n.recv(3, msg(ALICE, 3, 3))), vec![(1, Message::PruneOrigin { origin: ALICE })]);
    n.recv(3, msg(ALICE, 4, 3));
    n.take();
    assert_eq!(sends(&n.recv(1, msg(ALICE, 4, 5))), vec![(1, Message::PruneOrigin { origin: ALICE })]);
    // 1, told twice to stop, prunes this node in turn when this node's
    // copies reach it as duplicates.
    n.recv(1, Message::PruneOrigin { origin: ALICE });
    let tree = n.topic().origin_tree(&ALICE).unwrap();
    assert!(tree.contains(&3) && !tree.contains(&1), "{tree:?}");
    // The shared tree is not optimised (its threshold is 0: off).
    n.recv(1, msg(BOB, 1, 5));
    n.take();
    assert!(sends(&n.recv(3, ihave(BOB, 1, 1))).is_empty());
}

#[test]
fn an_origin_whose_message_comes_back_keeps_pushing_to_that_neighbour() {
    // The neighbour got the origin's message the long way first and passed
    // it back: it is told to stop, but still needs the origin's pushes.
    let mut n = node(8);
    n.broadcast(b"1").unwrap();
    n.broadcast(b"2").unwrap();
    let (_, out) = n.broadcast(b"3").unwrap();
    let Some((_, Message::Gossip(mut back))) = sends(&out).into_iter().find(|(_, m)| matches!(m, Message::Gossip(_)))
    else {
        panic!("message 3 was not pushed: {out:?}")
    };
    back.hops = 4;
    let out = n.recv(2, Message::Gossip(back));
    assert_eq!(sends(&out), vec![(2, Message::PruneOrigin { origin: ME })]);
    let (_, out) = n.broadcast(b"4").unwrap();
    assert!(pushed(&out).contains(&2));
}

#[test]
fn an_announcer_that_lies_about_hops_and_never_pushes_takes_no_link_away() {
    let mut n = node(8);
    shared_tree_of_one(&mut n);
    n.recv(1, msg(ALICE, 1, 5));
    for seq in 2..12 {
        let out = n.recv(1, msg(ALICE, seq, 5));
        assert!(!pushed(&out).contains(&1), "the parent is not pushed to");
        // 3 claims every message at 1 hop but never sends one.
        for (_, m) in sends(&n.recv(3, ihave(ALICE, seq, 1))) {
            assert!(!matches!(m, Message::PruneOrigin { .. }), "the real parent was pruned: {m:?}");
        }
        assert!(n.topic().origin_tree(&ALICE).unwrap().contains(&1), "message {seq}");
    }
}

#[test]
fn graft_origin_makes_the_link_eager_for_that_origin() {
    let mut n = node(8);
    shared_tree_of_one(&mut n);
    n.recv(1, msg(ALICE, 1, 1));
    n.recv(1, msg(ALICE, 2, 1));
    assert_eq!(pushed(&n.recv(1, msg(ALICE, 3, 1))), Vec::<u32>::new());
    n.recv(4, Message::GraftOrigin { origin: ALICE });
    assert_eq!(pushed(&n.recv(1, msg(ALICE, 4, 1))), vec![4]);
    assert_eq!(n.topic().eager(), &[1], "the shared tree is unchanged");
    // For an origin without a tree here, nothing changes.
    n.recv(4, Message::GraftOrigin { origin: BOB });
    assert_eq!(n.topic().origin_tree(&BOB), None);
}

#[test]
fn a_duplicate_on_the_shared_tree_also_prunes_the_senders_tree_for_its_origin() {
    // Here Alice's message took the shared tree (her first), but the sender
    // may have pushed it on a tree of hers that this node no longer shares.
    let mut n = node(8);
    n.recv(1, msg(ALICE, 1, 1));
    n.take();
    let out = n.recv(2, msg(ALICE, 1, 3));
    assert_eq!(sends(&out), vec![(2, Message::Prune), (2, Message::PruneOrigin { origin: ALICE })]);
}

#[test]
fn on_an_origins_tree_a_duplicate_near_the_origin_still_prunes() {
    // The flood near the origin (eager_hops) is the shared tree's: an
    // origin's own tree never floods, so its duplicates are cycles.
    let mut c = config(8);
    c.plumtree.eager_hops = 2;
    let mut n = Node::new(c, &[]).with_neighbors(&NEIGHBORS);
    n.recv(1, msg(ALICE, 1, 1));
    n.recv(1, msg(ALICE, 2, 1));
    n.take();
    assert_eq!(sends(&n.recv(2, msg(ALICE, 2, 2))), vec![(2, Message::PruneOrigin { origin: ALICE })]);
}

#[test]
fn prune_origin_stops_pushes_of_that_origin_only_and_a_graft_restores_them() {
    let mut n = node(8);
    n.recv(1, msg(ALICE, 1, 1));
    n.recv(1, msg(ALICE, 2, 1));
    n.recv(1, msg(BOB, 1, 1));
    n.recv(1, msg(BOB, 2, 1));
    n.take();
    // Every link is eager in the shared tree, so in both origins' trees.
    n.recv(4, Message::PruneOrigin { origin: ALICE });
    assert_eq!(pushed(&n.recv(1, msg(ALICE, 3, 1))), vec![2, 3]);
    assert_eq!(pushed(&n.recv(1, msg(BOB, 3, 1))), vec![2, 3, 4]);
    // 4 misses one of Alice's messages and grafts it: it is sent, and 4 is
    // back on her tree.
    let wanted = match msg(ALICE, 3, 1) {
        Message::Gossip(g) => g.id,
        _ => unreachable!(),
    };
    assert_eq!(pushed(&n.recv(4, Message::Graft { id: Some(wanted) })), vec![4]);
    assert_eq!(pushed(&n.recv(1, msg(ALICE, 4, 1))), vec![2, 3, 4]);
    // An unknown origin's PRUNE_ORIGIN changes nothing.
    n.recv(2, Message::PruneOrigin { origin: 77 });
    assert_eq!(pushed(&n.recv(1, msg(ALICE, 5, 1))), vec![2, 3, 4]);
}

#[test]
fn this_nodes_own_second_message_starts_its_tree() {
    let mut n = node(8);
    shared_tree_of_one(&mut n);
    let (_, out) = n.broadcast(b"1").unwrap();
    assert_eq!(pushed(&out), vec![1]);
    assert_eq!(n.topic().origin_tree(&ME), None);
    let (_, out) = n.broadcast(b"2").unwrap();
    assert_eq!(pushed(&out), vec![1]);
    assert_eq!(n.topic().origin_tree(&ME), Some(&[1][..]));
    // Its tree is its own from now on: a graft for it leaves the shared
    // tree as it was.
    n.recv(3, Message::GraftOrigin { origin: ME });
    let (_, out) = n.broadcast(b"3").unwrap();
    assert_eq!(pushed(&out), vec![1, 3]);
    assert_eq!(n.topic().eager(), &[1]);
}

#[test]
fn neighbours_join_and_leave_every_origin_tree() {
    let mut n = node(8);
    n.recv(1, msg(ALICE, 1, 1));
    n.recv(1, msg(ALICE, 2, 1));
    n.disconnected(2);
    assert!(!n.topic().origin_tree(&ALICE).unwrap().contains(&2));
    let n = n.with_neighbors(&[5]);
    assert!(n.topic().origin_tree(&ALICE).unwrap().contains(&5));
}

#[test]
fn at_most_origin_trees_origins_are_kept_and_the_least_recent_goes_first() {
    let mut n = node(1);
    n.recv(1, msg(ALICE, 1, 1));
    // Bob replaces Alice: her second message is a first again (shared tree).
    n.recv(1, msg(BOB, 1, 1));
    shared_tree_of_one(&mut n);
    n.take();
    assert_eq!(pushed(&n.recv(1, msg(ALICE, 2, 1))), Vec::<u32>::new());
    assert_eq!(n.topic().cache_sizes().origin_trees, 1);
    assert_eq!(n.topic().origin_tree(&BOB), None);
}

#[test]
fn without_origin_trees_every_message_takes_the_shared_tree() {
    let mut n = node(0);
    shared_tree_of_one(&mut n);
    for seq in 1..4 {
        assert_eq!(pushed(&n.recv(2, msg(ALICE, seq, 1))), vec![1]);
    }
    assert_eq!(n.topic().cache_sizes().origin_trees, 0);
    // A duplicate prunes the shared tree, as always.
    let out = n.recv(3, msg(ALICE, 1, 4));
    assert_eq!(sends(&out), vec![(3, Message::Prune)]);
}

#[test]
fn anonymous_messages_take_the_shared_tree() {
    let mut n = node(8);
    shared_tree_of_one(&mut n);
    for nonce in 1..4u64 {
        let m = Message::Gossip(Gossip::new(ALICE, nonce, 0, 1, 0, Bytes::from_static(b"a")));
        assert_eq!(pushed(&n.recv(2, m)), vec![1]);
    }
    assert_eq!(n.topic().origin_tree(&ALICE), None);
}

#[test]
fn origin_trees_are_bounded_in_configuration() {
    let mut c = config(0);
    c.plumtree.origin_trees = PlumtreeConfig::MAX_ORIGIN_TREES + 1;
    assert_eq!(c.validate().unwrap_err().field, "plumtree.origin_trees");
}
