//! One node's protocol state driven by any sequence of inputs (messages of
//! every kind from any peer, timers, failures, publishes, verdicts on held
//! messages, the clock, bans), checking after every step: no self in a view,
//! views within their sizes, active and passive views disjoint, eager and
//! lazy sets partitioning the active view, every cache within its bound,
//! the allow list, `hear` and `tell` held (also across configuration
//! changes while the topic runs: no data taken from a peer not heard, none
//! given to a peer not told, nobody outside both in a view), nothing sent to
//! self, held messages within `max_pending`, and a held message never
//! delivered before its verdict.
#![no_main]

#[path = "../../crates/proto/tests/common/mod.rs"]
mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use arbitrary::Arbitrary;
use bytes::Bytes;
use common::*;
use hypar_proto::*;
use libfuzzer_sys::fuzz_target;

const PEERS: u32 = 24;

#[derive(Debug, Arbitrary)]
struct Run {
    allow: bool,
    hold: bool,
    inputs: Vec<Input>,
}

#[derive(Debug, Arbitrary)]
enum Input {
    Recv(u8, ArbMessage),
    Timer(u8),
    DialFailed(u8),
    Disconnected(u8),
    Forget(u8),
    Broadcast(u8),
    Advance(u16),
    Verdict(u8, u8),
    Configure(Reconfig),
    /// Publish within a hop limit, or send a direct message.
    BroadcastWithin(u8, u8),
    SendDirect(u8, u8),
}

/// A change of the running topic's configuration: `hear` and `tell` as bit
/// masks over the peers (`None`: anyone), view and cache sizes, hop limit.
#[derive(Debug, Arbitrary)]
struct Reconfig {
    hear: Option<u32>,
    tell: Option<u32>,
    active: u8,
    passive: u8,
    max_hops: u8,
    missing: u8,
    cache: u8,
    proxy: bool,
    origin_trees: u8,
}

impl Reconfig {
    fn apply(&self, base: &ProtocolConfig<u32>) -> ProtocolConfig<u32> {
        let mut c = base.clone();
        let set = |mask: Option<u32>| mask.map(|m| (0..PEERS).filter(|p| m & (1 << p) != 0).collect());
        (c.hear, c.tell) = (set(self.hear), set(self.tell));
        let h = &mut c.hyparview;
        h.active_view_capacity = usize::from(self.active % 5) + 1;
        h.active_view_min = h.active_view_min.min(h.active_view_capacity);
        h.shuffle_active_count = h.shuffle_active_count.min(h.active_view_capacity);
        h.passive_view_capacity = usize::from(self.passive % 7) + 1;
        h.shuffle_passive_count = h.shuffle_passive_count.min(h.passive_view_capacity);
        h.known_peers_capacity = h.known_peers_capacity.max(h.active_view_capacity + h.passive_view_capacity);
        let p = &mut c.plumtree;
        p.max_hops = u16::from(self.max_hops % 50) + 1;
        p.missing_capacity = usize::from(self.missing % 5) + 1;
        p.message_cache_capacity = usize::from(self.cache % 6) + 1;
        p.proxy = self.proxy && !c.signed;
        p.origin_trees = usize::from(self.origin_trees % 4);
        c
    }
}

#[derive(Debug, Arbitrary)]
enum ArbMessage {
    Join(bool),
    ForwardJoin(u8, u8),
    Neighbor(bool),
    NeighborReply(bool),
    Disconnect(bool),
    Shuffle(u8, u8, Vec<u8>),
    ShuffleReply(Vec<u8>),
    Gossip { k: u8, hops: u16, limit: u8, age_ms: u32, len: u8 },
    IHave(Vec<(u8, u16, u32)>),
    Graft(Option<u8>),
    Prune,
    Direct(u8),
    Proxy { nonce: u8, limit: u8, age_ms: u32, len: u8 },
    PruneOrigin(u8),
    GraftOrigin(u8),
}

fn peer(p: u8) -> u32 {
    u32::from(p) % PEERS // includes ME (0)
}

fn info(p: u8) -> PeerInfo<u32> {
    PeerInfo { id: peer(p), data: (p & 0x80 != 0).then(|| Bytes::from_static(b"addr")) }
}

/// Test message `k`: for 0..24 from one of three origins, numbered within
/// session 1; for 24..32 anonymous (proxy passing), nonce `k`, published by
/// one of three nodes.
fn msg(k: u8, hops: u16, age_ms: u32, payload: Bytes) -> Gossip<u32> {
    match k % 32 {
        k @ 0..24 => Gossip::new(90 + u32::from(k % 3), 1, u64::from(k / 3) + 1, hops, age_ms, payload),
        k => Gossip::new(90 + u32::from(k % 3), u64::from(k), 0, hops, age_ms, payload),
    }
}

/// One of the three test origins, or any peer (this node included).
fn origin(o: u8) -> u32 {
    if o & 0x80 != 0 {
        90 + u32::from(o % 3)
    } else {
        peer(o)
    }
}

fn message(m: ArbMessage) -> Message<u32> {
    match m {
        ArbMessage::Join(d) => Message::Join { data: d.then(|| Bytes::from_static(b"addr")) },
        ArbMessage::ForwardJoin(p, ttl) => Message::ForwardJoin { peer: info(p), ttl: ttl % 8 },
        ArbMessage::Neighbor(hi) => {
            Message::Neighbor { priority: if hi { Priority::High } else { Priority::Low }, data: None }
        }
        ArbMessage::NeighborReply(accepted) => Message::NeighborReply { accepted },
        ArbMessage::Disconnect(alive) => Message::Disconnect { alive },
        ArbMessage::Shuffle(o, ttl, peers) => {
            Message::Shuffle { origin: info(o), ttl: ttl % 8, peers: peers.into_iter().take(12).map(info).collect() }
        }
        ArbMessage::ShuffleReply(peers) => {
            Message::ShuffleReply { peers: peers.into_iter().take(12).map(info).collect() }
        }
        ArbMessage::Gossip { k, hops, limit, age_ms, len } => {
            let g = msg(k, hops % 80, age_ms % 100_000, Bytes::from(vec![7; usize::from(len % 64)]));
            Message::Gossip(g.with_limit(u16::from(limit % 8)))
        }
        ArbMessage::IHave(entries) => Message::IHave(
            entries
                .into_iter()
                .take(8)
                .map(|(k, hops, age_ms)| IHaveEntry { id: msg(k, 1, 0, Bytes::new()).id, hops: hops % 80, age_ms })
                .collect(),
        ),
        ArbMessage::Graft(k) => Message::Graft { id: k.map(|k| msg(k, 1, 0, Bytes::new()).id) },
        ArbMessage::Prune => Message::Prune,
        ArbMessage::Direct(len) => Message::Direct { payload: Bytes::from(vec![3; usize::from(len % 64)]) },
        ArbMessage::Proxy { nonce, limit, age_ms, len } => Message::Proxy {
            nonce: u64::from(24 + nonce % 8),
            limit: u16::from(limit % 8),
            age_ms: age_ms % 100_000,
            payload: Bytes::from(vec![4; usize::from(len % 64)]),
        },
        ArbMessage::PruneOrigin(o) => Message::PruneOrigin { origin: origin(o) },
        ArbMessage::GraftOrigin(o) => Message::GraftOrigin { origin: origin(o) },
    }
}

const TIMERS: [TimerKind; 6] = [
    TimerKind::Shuffle,
    TimerKind::Maintenance,
    TimerKind::JoinRetry,
    TimerKind::IHaveFlush,
    TimerKind::Graft,
    TimerKind::Proxy,
];
const VERDICTS: [Validation; 4] = [Validation::Accept, Validation::Ignore, Validation::Reject, Validation::Forged];

fn config(allow: bool, hold: bool) -> ProtocolConfig<u32> {
    let mut c = ProtocolConfig::default();
    c.hyparview.active_view_capacity = 3;
    c.hyparview.active_view_min = 2;
    c.hyparview.passive_view_capacity = 5;
    c.hyparview.shuffle_active_count = 2;
    c.hyparview.shuffle_passive_count = 3;
    c.hyparview.known_peers_capacity = 8;
    c.plumtree.max_sessions = 2;
    c.plumtree.max_gaps_per_session = 2;
    c.plumtree.recent_ids_capacity = 6;
    c.plumtree.message_cache_capacity = 4;
    c.plumtree.message_cache_max_bytes = 64 * 1024;
    c.plumtree.missing_capacity = 3;
    c.plumtree.announcers_per_message = 2;
    c.plumtree.max_pending = 3;
    c.plumtree.max_hops = 40;
    // Fewer than the three test origins: trees are forgotten and rebuilt.
    c.plumtree.origin_trees = 2;
    c.validation = hold;
    if allow {
        c.allowed_peers = Some((0..PEERS).filter(|p| p % 3 != 0).collect());
    }
    c
}

fn check(n: &Node, c: &ProtocolConfig<u32>) {
    let t = n.topic();
    let active: BTreeSet<u32> = t.active().copied().collect();
    let passive: BTreeSet<u32> = t.passive().copied().collect();
    assert_eq!(active.len(), t.active().count(), "active view has duplicates");
    assert_eq!(passive.len(), t.passive().count(), "passive view has duplicates");
    assert!(!active.contains(&ME) && !passive.contains(&ME) && !t.known().any(|p| *p == ME), "self in a view");
    assert!(active.len() <= c.hyparview.active_view_capacity);
    assert!(passive.len() <= c.hyparview.passive_view_capacity);
    assert!(active.is_disjoint(&passive), "active {active:?} and passive {passive:?} overlap");
    assert!(active.iter().chain(passive.iter()).chain(t.known()).all(|p| c.admits(p)), "outsider in a view");
    assert_eq!(t.config(), c, "the configuration in force");
    let eager: BTreeSet<u32> = t.eager().iter().copied().collect();
    let lazy: BTreeSet<u32> = t.lazy().iter().copied().collect();
    let muted: BTreeSet<u32> = t.muted().iter().copied().collect();
    assert!(eager.is_disjoint(&lazy) && eager.is_disjoint(&muted) && lazy.is_disjoint(&muted));
    assert_eq!(&(&eager | &lazy) | &muted, active, "eager + lazy + muted must equal the active view");
    assert!(muted.iter().all(|p| !c.tells(p)) && eager.iter().chain(&lazy).all(|p| c.tells(p)), "tell broken");
    let s = t.cache_sizes();
    assert!(s.sessions <= c.plumtree.max_sessions);
    assert!(s.ranges <= c.plumtree.max_sessions * (c.plumtree.max_gaps_per_session + 1));
    assert!(s.recent_ids <= c.plumtree.recent_ids_capacity);
    assert!(s.cached_messages <= c.plumtree.message_cache_capacity);
    assert!(s.missing <= c.plumtree.missing_capacity);
    assert!(s.known_peers <= c.hyparview.known_peers_capacity);
    assert!(s.pending <= c.plumtree.max_pending, "{} messages held", s.pending);
    assert!(s.anonymous <= c.plumtree.recent_ids_capacity && s.handoffs <= c.plumtree.max_pending);
    assert!(s.origin_trees <= c.plumtree.origin_trees);
    for o in (0..PEERS).chain(90..93) {
        if let Some(tree) = t.origin_tree(&o) {
            let set: BTreeSet<u32> = tree.iter().copied().collect();
            assert_eq!(set.len(), tree.len(), "origin {o}'s tree has duplicates");
            assert!(set.is_subset(&(&eager | &lazy)), "origin {o}'s tree {tree:?} holds an untold peer");
        }
    }
}

fuzz_target!(|run: Run| {
    let base = config(run.allow, run.hold);
    let mut c = base.clone();
    let mut n = Node::new(c.clone(), &[1, 2]);
    n.take(); // the JOINs to the bootstrap peers, admitted when sent
    // Held messages (ids), as the driver would track them.
    let mut held: Vec<MessageId> = Vec::new();
    for input in run.inputs.into_iter().take(200) {
        let out = match input {
            Input::Recv(from, m) => n.recv(peer(from), message(m)),
            Input::Timer(k) => n.timer(TIMERS[usize::from(k) % TIMERS.len()]),
            Input::DialFailed(p) => n.dial_failed(peer(p)),
            Input::Disconnected(p) => n.disconnected(peer(p)),
            Input::Forget(p) => {
                n.state.forget(peer(p), n.now, &mut n.rng, &mut n.out);
                n.take()
            }
            Input::Broadcast(len) => n.broadcast(&vec![1; usize::from(len)]).map(|(_, o)| o).unwrap_or_default(),
            Input::Advance(ms) => {
                n.advance(Duration::from_millis(u64::from(ms)));
                Vec::new()
            }
            Input::Verdict(i, v) if !held.is_empty() => {
                let id = held.remove(usize::from(i) % held.len());
                n.state.on_validated(n.topic, id, VERDICTS[usize::from(v) % 4], n.now, &mut n.rng, &mut n.out);
                n.take()
            }
            Input::Verdict(..) => Vec::new(),
            Input::BroadcastWithin(len, hops) => {
                let payload = Bytes::from(vec![1; usize::from(len)]);
                let _ = n.state.broadcast_within(n.topic, payload, u16::from(hops % 8), n.now, &mut n.rng, &mut n.out);
                n.take()
            }
            Input::SendDirect(p, len) => {
                let payload = Bytes::from(vec![2; usize::from(len)]);
                let sent = n.state.send_direct(n.topic, peer(p), payload, n.now, &mut n.rng, &mut n.out).is_ok();
                assert_eq!(sent, n.topic().is_active(&peer(p)) && c.tells(&peer(p)), "send_direct to {}", peer(p));
                n.take()
            }
            Input::Configure(r) => {
                c = r.apply(&base);
                n.configure(c.clone()).expect("a valid change")
            }
        };
        for o in &out {
            match o {
                Output::Validate { message, .. } => {
                    assert!(c.holds_messages(), "held a message in a topic that holds none");
                    // (Held again after the state gave up on an earlier copy.)
                    if !held.contains(&message.id) {
                        held.push(message.id);
                    }
                }
                Output::Send { to, message, .. } => {
                    assert_ne!(*to, ME, "sent to self");
                    let refusal = matches!(message, Message::Disconnect { alive: false });
                    assert!(c.admits(to) || refusal, "sent {message:?} to outsider {to}");
                    let data = matches!(
                        message,
                        Message::Gossip(_) | Message::IHave(_) | Message::Direct { .. } | Message::Proxy { .. }
                    );
                    assert!(!data || c.tells(to), "sent {message:?} to {to}, not told");
                }
                Output::Event { event: Event::Delivered(d), .. } => {
                    assert!(d.from == ME || c.hears(&d.from), "delivered from {}, not heard", d.from);
                    assert!(!held.contains(&d.id), "delivered while held");
                }
                Output::Event { event: Event::Direct { from, .. }, .. } => {
                    assert!(n.topic().is_active(from) && c.hears(from), "direct message from {from}");
                }
                _ => {}
            }
        }
        check(&n, &c);
    }
});
