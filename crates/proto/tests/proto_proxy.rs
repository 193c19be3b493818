//! Proxy passing, one node at a time: what a node sends when it publishes
//! with proxy passing on, what it does with a hand-off, and how it retries,
//! confirms and deduplicates.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use hypar_proto::*;

const NEIGHBORS: [u32; 4] = [1, 2, 3, 4];

fn proxy_config() -> ProtocolConfig<u32> {
    let mut c = ProtocolConfig::default();
    c.plumtree.proxy = true;
    c
}

fn node(config: ProtocolConfig<u32>) -> Node {
    Node::new(config, &[]).with_neighbors(&NEIGHBORS)
}

/// The hand-offs in `out`: (to, nonce).
fn handoffs(out: &[Output<u32>]) -> Vec<(u32, u64)> {
    sends(out)
        .into_iter()
        .filter_map(|(to, m)| match m {
            Message::Proxy { nonce, .. } => Some((to, nonce)),
            _ => None,
        })
        .collect()
}

/// The GOSSIP frames in `out`.
fn gossips(out: &[Output<u32>]) -> Vec<(u32, Gossip<u32>)> {
    sends(out)
        .into_iter()
        .filter_map(|(to, m)| match m {
            Message::Gossip(g) => Some((to, g)),
            _ => None,
        })
        .collect()
}

fn delivered(out: &[Output<u32>]) -> Vec<DeliveredMessage<u32>> {
    events(out)
        .into_iter()
        .filter_map(|e| match e {
            Event::Delivered(d) => Some(d),
            _ => None,
        })
        .collect()
}

/// The anonymous copy of message `nonce` as `broadcaster` publishes it.
fn anonymous(broadcaster: u32, nonce: u64, payload: &[u8]) -> Message<u32> {
    Message::Gossip(Gossip::new(broadcaster, nonce, 0, 1, 0, Bytes::copy_from_slice(payload)))
}

fn handoff(nonce: u64, payload: &[u8]) -> Message<u32> {
    Message::Proxy { nonce, limit: 0, age_ms: 0, payload: Bytes::copy_from_slice(payload) }
}

/// Publish until one message is handed to a proxy; its id, nonce and proxy.
fn publish_handed_off(n: &mut Node) -> (MessageId, u64, u32) {
    for _ in 0..64 {
        let (id, out) = n.broadcast(b"secret").unwrap();
        if let [(to, nonce)] = handoffs(&out)[..] {
            assert_eq!(id, MessageId::anonymous(nonce));
            return (id, nonce, to);
        }
    }
    panic!("no hand-off in 64 messages")
}

#[test]
fn proxy_passing_in_a_signed_topic_is_a_clear_configuration_error() {
    let mut c = proxy_config();
    c.signed = true;
    let e = c.validate().unwrap_err();
    assert_eq!(e.field, "plumtree.proxy");
    assert!(e.to_string().contains("requires an unsigned topic"), "{e}");
    // Three proxies in turn must fit in a message's lifetime.
    let mut c = proxy_config();
    c.plumtree.proxy_timeout = c.plumtree.max_message_age / 3;
    assert_eq!(c.validate().unwrap_err().field, "plumtree.proxy_timeout");
}

#[test]
fn about_half_the_messages_go_to_one_proxy_and_the_rest_are_published_anonymously() {
    let mut n = node(proxy_config());
    let (mut handed, mut published) = (0, 0);
    for _ in 0..400 {
        let (id, out) = n.broadcast(b"m").unwrap();
        let h = handoffs(&out);
        let g = gossips(&out);
        match (h.len(), g.is_empty()) {
            (1, true) => {
                assert!(NEIGHBORS.contains(&h[0].0));
                assert_eq!(id, MessageId::anonymous(h[0].1));
                handed += 1;
            }
            (0, false) => {
                // Published here, anonymously: number 0, its own nonce.
                for (_, g) in g {
                    assert_eq!((g.origin, g.seq, g.id), (ME, 0, id));
                }
                published += 1;
            }
            other => panic!("a message must go to one proxy or to the overlay: {other:?}"),
        }
    }
    assert!((140..=260).contains(&handed), "handed {handed}, published {published} of 400");
    assert_eq!(n.topic().counters().published, 400);
    assert_eq!(n.topic().counters().handoffs_sent, handed);
}

#[test]
fn the_authors_message_coming_back_confirms_the_handoff_and_is_not_delivered_to_it() {
    let mut n = node(proxy_config());
    let (id, nonce, proxy) = publish_handed_off(&mut n);
    assert_eq!(n.topic().cache_sizes().handoffs, 1);
    let out = n.recv(proxy, anonymous(proxy, nonce, b"secret"));
    assert!(delivered(&out).is_empty(), "the author must not deliver its own message");
    // It relays it like any other node would.
    assert!(gossips(&out).iter().all(|(to, g)| *to != proxy && g.id == id));
    assert_eq!(n.topic().cache_sizes().handoffs, 0);
    assert!(handoffs(&n.timer(TimerKind::Proxy)).is_empty(), "confirmed: no retry");
    // Later copies are duplicates.
    let out = n.recv(3, anonymous(3, nonce, b"secret"));
    assert!(delivered(&out).is_empty());
}

#[test]
fn a_silent_proxy_is_replaced_and_after_the_last_attempt_the_author_publishes() {
    let mut n = node(proxy_config());
    let (id, nonce, first) = publish_handed_off(&mut n);
    let mut tried = vec![first];
    for _ in 1..PROXY_ATTEMPTS {
        n.advance(Duration::from_millis(500));
        assert!(handoffs(&n.take()).is_empty());
        let out = n.timer(TimerKind::Proxy);
        let h = handoffs(&out);
        assert_eq!(h.len(), 1, "one new proxy after the timeout: {out:?}");
        assert_eq!(h[0].1, nonce);
        assert!(!tried.contains(&h[0].0), "a proxy that failed is not tried again");
        tried.push(h[0].0);
    }
    let out = n.timer(TimerKind::Proxy);
    assert!(handoffs(&out).is_empty());
    let g = gossips(&out);
    assert!(!g.is_empty(), "after {PROXY_ATTEMPTS} silent proxies the author publishes itself");
    assert!(g.iter().all(|(_, g)| g.id == id && g.seq == 0 && g.origin == ME));
    assert_eq!(n.topic().counters().handoffs_sent, PROXY_ATTEMPTS as u64);
}

#[test]
fn an_announcement_holds_the_retry_back_while_the_copy_is_grafted() {
    let mut n = node(proxy_config());
    let (id, nonce, proxy) = publish_handed_off(&mut n);
    let other = *NEIGHBORS.iter().find(|p| **p != proxy).unwrap();
    n.advance(Duration::from_millis(1500));
    n.recv(other, Message::IHave(vec![IHaveEntry { id, hops: 2, age_ms: 0 }]));
    let out = n.timer(TimerKind::Proxy);
    assert!(handoffs(&out).is_empty(), "announced: in the overlay, no new proxy yet");
    let out = n.timer(TimerKind::Graft);
    assert!(sends(&out).contains(&(other, Message::Graft { id: Some(id) })));
    let out = n.recv(other, anonymous(proxy, nonce, b"secret"));
    assert!(delivered(&out).is_empty());
    assert_eq!(n.topic().cache_sizes().handoffs, 0);
    assert!(handoffs(&n.timer(TimerKind::Proxy)).is_empty());
}

#[test]
fn an_announced_copy_that_never_comes_is_handed_to_another_proxy() {
    // A proxy that announces but never serves (hostile, or gone) does not
    // stall the message.
    let mut n = node(proxy_config());
    let (id, nonce, proxy) = publish_handed_off(&mut n);
    n.recv(proxy, Message::IHave(vec![IHaveEntry { id, hops: 1, age_ms: 0 }]));
    n.advance(Duration::from_millis(2500));
    let h = handoffs(&n.timer(TimerKind::Proxy));
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].1, nonce);
    assert_ne!(h[0].0, proxy);
}

#[test]
fn an_author_never_delivers_its_message_even_after_leaving_and_joining_again() {
    let mut n = node(proxy_config());
    let (_, nonce, proxy) = publish_handed_off(&mut n);
    n.state.leave(n.topic, n.now, &mut n.rng, &mut n.out).unwrap();
    n.take();
    n.state.join(n.topic, proxy_config(), vec![], n.now, &mut n.rng, &mut n.out).unwrap();
    n.take();
    let mut n = n.with_neighbors(&NEIGHBORS);
    let out = n.recv(proxy, anonymous(proxy, nonce, b"secret"));
    assert!(delivered(&out).is_empty(), "its own message, after a rejoin");
    let out = n.recv(2, handoff(nonce, b"secret"));
    assert!(delivered(&out).is_empty() && gossips(&out).is_empty(), "nor handed back to it");
}

#[test]
fn a_proxy_that_goes_down_is_replaced_at_once() {
    let mut n = node(proxy_config());
    let (_, nonce, proxy) = publish_handed_off(&mut n);
    let out = n.recv(proxy, Message::Disconnect { alive: true });
    let h = handoffs(&out);
    assert_eq!(h.len(), 1, "{out:?}");
    assert_eq!(h[0].1, nonce);
    assert_ne!(h[0].0, proxy);
}

#[test]
fn a_handed_message_is_published_as_this_nodes_own_and_delivered_here_once() {
    // Proxy passing off here: a hand-off is always published, not passed on.
    let mut n = node(ProtocolConfig::default());
    let out = n.recv(2, handoff(77, b"from someone"));
    let d = delivered(&out);
    assert_eq!(d.len(), 1);
    assert_eq!((d[0].id, d[0].hops, d[0].from, d[0].origin), (MessageId::anonymous(77), 0, 2, None));
    let g = gossips(&out);
    let to: BTreeSet<u32> = g.iter().map(|(to, _)| *to).collect();
    assert_eq!(to, NEIGHBORS.into_iter().collect(), "pushed to every eager neighbour, the sender too");
    for (_, g) in g {
        assert_eq!((g.origin, g.session, g.seq, g.hops), (ME, 77, 0, 1), "published under this node's name");
    }
    assert_eq!(n.topic().counters().handoffs_taken, 1);
    // The same hand-off again (a retry after a slow answer), and copies
    // published by another proxy: neither published nor delivered again.
    let out = n.recv(3, handoff(77, b"from someone"));
    assert!(delivered(&out).is_empty() && gossips(&out).is_empty());
    let out = n.recv(4, anonymous(4, 77, b"from someone"));
    assert!(delivered(&out).is_empty());
}

#[test]
fn copies_of_one_anonymous_message_from_different_broadcasters_are_delivered_once() {
    let mut n = node(ProtocolConfig::default());
    let out = n.recv(1, anonymous(1, 5, b"x"));
    assert_eq!(delivered(&out).len(), 1);
    let out = n.recv(2, anonymous(2, 5, b"x"));
    assert!(delivered(&out).is_empty());
    let out = n.recv(3, anonymous(3, 6, b"y"));
    assert_eq!(delivered(&out).len(), 1, "another nonce is another message");
}

#[test]
fn a_signed_topic_refuses_handoffs_and_anonymous_messages() {
    let mut n = node(ProtocolConfig { signed: true, ..ProtocolConfig::default() });
    let out = n.recv(1, handoff(9, b"x"));
    assert!(sends(&out).is_empty() && delivered(&out).is_empty());
    let out = n.recv(1, anonymous(1, 9, b"x"));
    assert!(out.iter().all(|o| !matches!(o, Output::Validate { .. })) && delivered(&out).is_empty());
    // The hand-off is invalid there; the anonymous copy lacks a signature.
    assert_eq!((n.topic().counters().dropped_invalid, n.topic().counters().forged), (1, 1));
}

#[test]
fn a_handoff_from_a_peer_not_heard_is_refused() {
    let mut c = proxy_config();
    c.hear = Some([1, 3, 4].into_iter().collect());
    let mut n = node(c);
    let out = n.recv(2, handoff(11, b"x"));
    assert!(gossips(&out).is_empty() && handoffs(&out).is_empty() && delivered(&out).is_empty());
    assert_eq!(n.topic().counters().dropped_outsider, 1);
}

#[test]
fn hand_offs_go_only_to_told_neighbours() {
    let mut c = proxy_config();
    c.tell = Some([3].into_iter().collect());
    let mut n = node(c);
    for _ in 0..50 {
        let (_, out) = n.broadcast(b"m").unwrap();
        for (to, _) in handoffs(&out) {
            assert_eq!(to, 3);
        }
        n.recv(3, Message::Prune);
    }
}

#[test]
fn a_validated_topic_holds_a_handoff_for_its_verdict_before_publishing() {
    let mut n = node(ProtocolConfig { validation: true, ..ProtocolConfig::default() });
    let out = n.recv(2, handoff(13, b"check me"));
    assert!(gossips(&out).is_empty() && delivered(&out).is_empty());
    let held = out.iter().find_map(|o| match o {
        Output::Validate { from, message, .. } => Some((*from, message.clone())),
        _ => None,
    });
    let (from, g) = held.expect("held for the verdict");
    assert_eq!((from, g.id, g.seq), (2, MessageId::anonymous(13), 0));
    let mut out = Vec::new();
    n.state.on_validated(n.topic, g.id, Validation::Accept, n.now, &mut n.rng, &mut out);
    assert_eq!(delivered(&out).len(), 1);
    assert!(!gossips(&out).is_empty(), "published once accepted");
}

#[test]
fn proxy_passing_can_be_turned_on_and_off_while_joined() {
    let mut n = node(ProtocolConfig::default());
    for _ in 0..20 {
        assert!(handoffs(&n.broadcast(b"m").unwrap().1).is_empty());
    }
    n.configure(proxy_config()).unwrap();
    publish_handed_off(&mut n);
    let mut signed = proxy_config();
    signed.signed = true;
    assert!(n.configure(signed).is_err(), "signing is fixed, and excludes proxy passing");
    n.configure(ProtocolConfig::default()).unwrap();
    for _ in 0..20 {
        assert!(handoffs(&n.broadcast(b"m").unwrap().1).is_empty());
    }
}
