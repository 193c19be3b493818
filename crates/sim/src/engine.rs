//! The event loop: nodes, links, timers and the delivery bookkeeping that the
//! scenarios turn into figures.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use hypar_proto::{Event, Message, MessageId, Output, PeerInfo, ProtocolConfig, State, Timer, TopicId};

pub(crate) type NodeId = u32;

/// Link behaviour.
#[derive(Debug, Clone)]
pub struct LinkModel {
    /// Shortest one-way latency of a link.
    pub latency_min: Duration,
    /// Longest one-way latency of a link.
    pub latency_max: Duration,
    /// How long a dial across a partition takes to fail.
    pub dial_timeout: Duration,
    /// How long after a partition starts the cut connections are noticed.
    pub partition_detect: Duration,
}

impl Default for LinkModel {
    fn default() -> Self {
        LinkModel {
            latency_min: Duration::from_millis(10),
            latency_max: Duration::from_millis(50),
            dial_timeout: Duration::from_secs(2),
            partition_detect: Duration::from_secs(2),
        }
    }
}

enum Ev {
    Msg { from: NodeId, to: NodeId, message: Message<NodeId> },
    Timer { node: NodeId, incarnation: u32, timer: Timer },
    DialFailed { node: NodeId, incarnation: u32, peer: NodeId },
    Disconnected { node: NodeId, incarnation: u32, peer: NodeId },
}

struct Queued {
    at: u64,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap is a max-heap: reverse for earliest first.
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

struct Node {
    state: State<NodeId>,
    /// The pending deadline of each armed timer: arming one again replaces
    /// its deadline, and a queued firing that no longer matches is skipped.
    timers: Vec<(Timer, u64)>,
    alive: bool,
    incarnation: u32,
    side: u8,
    born_at: u64,
}

/// What the simulator recorded about one broadcast.
#[derive(Debug, Clone)]
pub struct BroadcastRecord {
    pub sender: NodeId,
    /// Simulated microseconds at which it was published.
    pub sent_at: u64,
    /// Hops at which each node delivered it (`u16::MAX`: not delivered).
    pub hops: Vec<u16>,
    /// Microseconds from publication to delivery, per node.
    pub latency_us: Vec<u32>,
    /// Payload copies received by live nodes (for RMR).
    pub payload_receipts: u64,
    /// Deliveries of a message a node had already delivered, or to its
    /// own author (must stay 0).
    pub double_deliveries: u64,
    /// The first node that put it into the overlay (sent it at hop 1): its
    /// sender, unless proxy passing handed it to another node.
    pub first_broadcaster: Option<NodeId>,
    /// Proxy-passing hand-offs it took (retries included).
    pub handoffs: u32,
}

/// The simulator.
pub struct Sim {
    now: u64,
    seq: u64,
    epoch: Instant,
    queue: BinaryHeap<Queued>,
    nodes: Vec<Node>,
    rng: SmallRng,
    seed: u64,
    /// Link behaviour.
    pub links: LinkModel,
    /// The one topic every node is in.
    pub topic: TopicId,
    /// The protocol configuration of every node.
    pub config: ProtocolConfig<NodeId>,
    partitioned: bool,
    /// Every broadcast so far.
    pub broadcasts: Vec<BroadcastRecord>,
    by_id: HashMap<MessageId, usize>,
    out: Vec<Output<NodeId>>,
    /// Events processed so far.
    pub events: u64,
    /// Neighbour-down events so far (active view churn).
    pub neighbor_downs: u64,
    /// Protocol messages sent so far, by kind.
    pub sent: std::collections::BTreeMap<&'static str, u64>,
}

/// The message whose payload `message` carries, if any: a GOSSIP's, or the
/// anonymous message a PROXY hands over.
fn carried(message: &Message<NodeId>) -> Option<MessageId> {
    match message {
        Message::Gossip(g) => Some(g.id),
        Message::Proxy { nonce, .. } => Some(MessageId::anonymous(*nonce)),
        _ => None,
    }
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl Sim {
    /// An empty simulation.
    pub fn new(seed: u64, links: LinkModel, config: ProtocolConfig<NodeId>) -> Self {
        Sim {
            now: 0,
            seq: 0,
            epoch: Instant::now(),
            queue: BinaryHeap::new(),
            nodes: Vec::new(),
            rng: SmallRng::seed_from_u64(seed),
            seed,
            links,
            topic: TopicId::from_name("sim"),
            config,
            partitioned: false,
            broadcasts: Vec::new(),
            by_id: HashMap::new(),
            out: Vec::new(),
            events: 0,
            neighbor_downs: 0,
            sent: Default::default(),
        }
    }

    /// Simulated time, in microseconds.
    /// Simulated microseconds since the start.
    pub fn now_us(&self) -> u64 {
        self.now
    }

    /// The simulation's random number generator.
    pub fn rng(&mut self) -> &mut SmallRng {
        &mut self.rng
    }

    /// Nodes ever added, alive or not.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Whether node `n` is alive.
    pub fn is_alive(&self, n: NodeId) -> bool {
        self.nodes[n as usize].alive
    }

    /// When node `n` was added, in simulated microseconds.
    pub fn born_at(&self, n: NodeId) -> u64 {
        self.nodes[n as usize].born_at
    }

    /// The live nodes.
    pub fn alive_nodes(&self) -> Vec<NodeId> {
        (0..self.nodes.len() as NodeId).filter(|&n| self.is_alive(n)).collect()
    }

    /// Node `n`'s protocol state.
    pub fn state(&self, n: NodeId) -> &State<NodeId> {
        &self.nodes[n as usize].state
    }

    fn latency_us(&self, a: NodeId, b: NodeId) -> u64 {
        let (lo, hi) = if a < b { (a, b) } else { (b, a) };
        let h = splitmix(self.seed ^ ((lo as u64) << 32 | hi as u64));
        let min = self.links.latency_min.as_micros() as u64;
        let span = self.links.latency_max.as_micros() as u64 - min;
        min + if span == 0 { 0 } else { h % (span + 1) }
    }

    fn cut(&self, a: NodeId, b: NodeId) -> bool {
        self.partitioned && self.nodes[a as usize].side != self.nodes[b as usize].side
    }

    fn push(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        self.queue.push(Queued { at, seq: self.seq, ev });
    }

    fn instant(&self) -> Instant {
        self.epoch + Duration::from_micros(self.now)
    }

    /// Add a node that joins through `bootstrap` (empty: it is the first).
    pub fn add_node(&mut self, bootstrap: &[NodeId]) -> NodeId {
        let id = self.nodes.len() as NodeId;
        self.nodes.push(Node {
            state: State::new(id, None),
            timers: Vec::new(),
            alive: true,
            incarnation: 0,
            side: 0,
            born_at: self.now,
        });
        let boot = bootstrap.iter().map(|&b| PeerInfo::new(b)).collect();
        let now = self.instant();
        let mut out = std::mem::take(&mut self.out);
        let node = &mut self.nodes[id as usize];
        node.state
            .join(self.topic, self.config.clone(), boot, now, &mut self.rng, &mut out)
            .expect("simulator topic config is valid");
        self.process_outputs(id, &mut out);
        self.out = out;
        id
    }

    /// Publish a payload from `node`; returns the index of its record.
    pub fn broadcast(&mut self, node: NodeId, payload: Bytes) -> usize {
        let now = self.instant();
        let mut out = std::mem::take(&mut self.out);
        let id = self.nodes[node as usize]
            .state
            .broadcast(self.topic, payload, now, &mut self.rng, &mut out)
            .expect("simulator payload fits");
        let n = self.nodes.len();
        let idx = self.broadcasts.len();
        self.broadcasts.push(BroadcastRecord {
            sender: node,
            sent_at: self.now,
            hops: vec![u16::MAX; n],
            latency_us: vec![u32::MAX; n],
            payload_receipts: 0,
            double_deliveries: 0,
            first_broadcaster: None,
            handoffs: 0,
        });
        self.by_id.insert(id, idx);
        self.process_outputs(node, &mut out);
        self.out = out;
        idx
    }

    /// Crash `node` silently. Peers with a connection to it notice after one
    /// link latency.
    pub fn kill(&mut self, node: NodeId) {
        self.kill_many(&[node]);
    }

    /// Crash many nodes at the same instant.
    pub fn kill_many(&mut self, victims: &[NodeId]) {
        for &v in victims {
            let n = &mut self.nodes[v as usize];
            n.alive = false;
            n.incarnation += 1;
            n.timers.clear();
        }
        // Every live node with a dead node in its active view sees the
        // connection close.
        let topic = self.topic;
        let mut notes = Vec::new();
        for (i, n) in self.nodes.iter().enumerate() {
            if !n.alive {
                continue;
            }
            if let Some(t) = n.state.topic(&topic) {
                for &p in t.active() {
                    if !self.nodes[p as usize].alive {
                        notes.push((i as NodeId, n.incarnation, p));
                    }
                }
            }
        }
        for (node, incarnation, peer) in notes {
            let at = self.now + self.latency_us(node, peer);
            self.push(at, Ev::Disconnected { node, incarnation, peer });
        }
    }

    /// Split the live nodes in two: `side_b` on one side, everyone else on
    /// the other. Cut connections are noticed after `partition_detect`.
    pub fn partition(&mut self, side_b: &[NodeId]) {
        for n in self.nodes.iter_mut() {
            n.side = 0;
        }
        for &b in side_b {
            self.nodes[b as usize].side = 1;
        }
        self.partitioned = true;
        let topic = self.topic;
        let detect = self.links.partition_detect.as_micros() as u64;
        let mut notes = Vec::new();
        for (i, n) in self.nodes.iter().enumerate() {
            if let (true, Some(t)) = (n.alive, n.state.topic(&topic)) {
                for &p in t.active() {
                    if self.cut(i as NodeId, p) {
                        notes.push((i as NodeId, n.incarnation, p));
                    }
                }
            }
        }
        for (node, incarnation, peer) in notes {
            self.push(self.now + detect, Ev::Disconnected { node, incarnation, peer });
        }
    }

    /// End the partition.
    pub fn heal(&mut self) {
        self.partitioned = false;
    }

    /// Process events until simulated time `until_us`.
    pub fn run_until(&mut self, until_us: u64) {
        while let Some(top) = self.queue.peek() {
            if top.at > until_us {
                break;
            }
            let q = self.queue.pop().expect("peeked");
            self.now = q.at;
            self.events += 1;
            self.dispatch(q.ev);
        }
        self.now = self.now.max(until_us);
    }

    fn dispatch(&mut self, ev: Ev) {
        let now = self.instant();
        let topic = self.topic;
        let mut out = std::mem::take(&mut self.out);
        let node = match ev {
            Ev::Msg { from, to, message } => {
                let n = &self.nodes[to as usize];
                if !n.alive || self.cut(from, to) {
                    self.out = out;
                    return;
                }
                // Payload copies: pushes, graft answers and proxy hand-offs.
                if let Some(idx) = carried(&message).and_then(|id| self.by_id.get(&id)) {
                    self.broadcasts[*idx].payload_receipts += 1;
                }
                let n = &mut self.nodes[to as usize];
                n.state.on_message(from, topic, message, now, &mut self.rng, &mut out);
                to
            }
            Ev::Timer { node, incarnation, timer } => {
                let n = &mut self.nodes[node as usize];
                let due = n.timers.iter().position(|&(t, at)| t == timer && at == self.now);
                let (true, Some(i)) = (n.alive && n.incarnation == incarnation, due) else {
                    self.out = out;
                    return;
                };
                n.timers.swap_remove(i);
                n.state.on_timer(timer, now, &mut self.rng, &mut out);
                node
            }
            Ev::DialFailed { node, incarnation, peer } => {
                let n = &mut self.nodes[node as usize];
                if !n.alive || n.incarnation != incarnation {
                    self.out = out;
                    return;
                }
                n.state.on_dial_failed(peer, now, &mut self.rng, &mut out);
                node
            }
            Ev::Disconnected { node, incarnation, peer } => {
                let n = &mut self.nodes[node as usize];
                if !n.alive || n.incarnation != incarnation {
                    self.out = out;
                    return;
                }
                n.state.on_peer_disconnected(peer, now, &mut self.rng, &mut out);
                node
            }
        };
        self.process_outputs(node, &mut out);
        self.out = out;
    }

    /// Record who first put a measured message into the overlay, and its
    /// hand-offs.
    fn note_origination(&mut self, node: NodeId, message: &Message<NodeId>) {
        let Some(&idx) = carried(message).and_then(|id| self.by_id.get(&id)) else { return };
        let rec = &mut self.broadcasts[idx];
        match message {
            Message::Proxy { .. } => rec.handoffs += 1,
            Message::Gossip(g) if g.hops == 1 && rec.first_broadcaster.is_none() => rec.first_broadcaster = Some(node),
            _ => {}
        }
    }

    fn process_outputs(&mut self, node: NodeId, out: &mut Vec<Output<NodeId>>) {
        let incarnation = self.nodes[node as usize].incarnation;
        for o in out.drain(..) {
            match o {
                Output::Send { to, message, .. } => {
                    *self.sent.entry(message.kind()).or_default() += 1;
                    self.note_origination(node, &message);
                    if to as usize >= self.nodes.len() {
                        continue;
                    }
                    if !self.nodes[to as usize].alive {
                        let at = self.now + 2 * self.latency_us(node, to);
                        self.push(at, Ev::DialFailed { node, incarnation, peer: to });
                    } else if self.cut(node, to) {
                        let at = self.now + self.links.dial_timeout.as_micros() as u64;
                        self.push(at, Ev::DialFailed { node, incarnation, peer: to });
                    } else {
                        let at = self.now + self.latency_us(node, to);
                        self.push(at, Ev::Msg { from: node, to, message });
                    }
                }
                Output::Timer { after, timer } => {
                    // Rounded up: a timer never fires before its deadline
                    // (the clock counts whole microseconds).
                    let at = self.now + after.as_nanos().div_ceil(1000) as u64;
                    let timers = &mut self.nodes[node as usize].timers;
                    match timers.iter_mut().find(|(t, _)| *t == timer) {
                        Some(armed) => armed.1 = at,
                        None => timers.push((timer, at)),
                    }
                    self.push(at, Ev::Timer { node, incarnation, timer });
                }
                Output::Event { event: Event::Delivered(d), .. } => {
                    if let Some(&idx) = self.by_id.get(&d.id) {
                        let rec = &mut self.broadcasts[idx];
                        let Some(slot) = rec.hops.get_mut(node as usize) else { continue };
                        // A second delivery, or its author's own: both wrong.
                        if *slot != u16::MAX || node == rec.sender {
                            rec.double_deliveries += 1;
                        } else {
                            *slot = d.hops;
                            rec.latency_us[node as usize] = (self.now - rec.sent_at).min(u32::MAX as u64) as u32;
                        }
                    }
                }
                Output::Event { event: Event::NeighborDown(_), .. } => self.neighbor_downs += 1,
                // The simulated topics are neither signed nor validated, and
                // every simulated peer is honest.
                Output::Validate { .. } | Output::Offence { .. } => {}
                Output::Event { .. } | Output::PeerData { .. } | Output::Disconnect { .. } => {}
            }
        }
    }

    /// Component labels of the live nodes (`u32::MAX` for dead ones) in the
    /// graph where an edge joins two live nodes if either knows the other
    /// (active, passive or known-peers cache).
    pub fn knowledge_components(&self) -> Vec<u32> {
        let n = self.nodes.len();
        let mut adj: Vec<Vec<NodeId>> = vec![Vec::new(); n];
        for (i, node) in self.nodes.iter().enumerate() {
            if !node.alive {
                continue;
            }
            if let Some(t) = node.state.topic(&self.topic) {
                for &p in t.active().chain(t.passive()).chain(t.known()) {
                    if self.nodes[p as usize].alive && !self.cut(i as NodeId, p) {
                        adj[i].push(p);
                        adj[p as usize].push(i as NodeId);
                    }
                }
            }
        }
        let mut label = vec![u32::MAX; n];
        let mut next = 0;
        for start in 0..n {
            if !self.nodes[start].alive || label[start] != u32::MAX {
                continue;
            }
            let mut stack = vec![start as NodeId];
            label[start] = next;
            while let Some(x) = stack.pop() {
                for &y in &adj[x as usize] {
                    if label[y as usize] == u32::MAX {
                        label[y as usize] = next;
                        stack.push(y);
                    }
                }
            }
            next += 1;
        }
        label
    }

    /// Sizes of the live nodes' active views.
    pub fn active_view_sizes(&self) -> Vec<usize> {
        self.nodes
            .iter()
            .filter(|n| n.alive)
            .map(|n| n.state.topic(&self.topic).map_or(0, |t| t.active().count()))
            .collect()
    }

    /// A random live node.
    ///
    /// # Panics
    /// If no node is alive (the scenarios always keep one).
    pub fn random_alive(&mut self) -> NodeId {
        assert!(self.nodes.iter().any(|n| n.alive), "random_alive: no live node");
        loop {
            let n = self.rng.gen_range(0..self.nodes.len()) as NodeId;
            if self.nodes[n as usize].alive {
                return n;
            }
        }
    }
}

/// Shape of the broadcast tree over the live nodes.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct TreeShape {
    /// Links both ends hold as eager.
    pub eager_links: usize,
    /// Links only one end holds as eager.
    pub one_sided_links: usize,
    /// Connected components of the eager graph (1 for a spanning tree).
    pub components: usize,
}

impl Sim {
    /// Inspect the eager (tree) links of all live nodes.
    pub fn tree_shape(&self) -> TreeShape {
        let n = self.nodes.len();
        let mut parent: Vec<usize> = (0..n).collect();
        fn find(p: &mut [usize], mut x: usize) -> usize {
            while p[x] != x {
                p[x] = p[p[x]];
                x = p[x];
            }
            x
        }
        let mut shape = TreeShape::default();
        for (i, node) in self.nodes.iter().enumerate() {
            let Some(t) = node.state.topic(&self.topic).filter(|_| node.alive) else { continue };
            for &p in t.eager() {
                let other = self.nodes[p as usize].state.topic(&self.topic);
                let mutual = other.is_some_and(|o| o.eager().contains(&(i as NodeId)));
                if !mutual {
                    shape.one_sided_links += 1;
                } else if (i as NodeId) < p {
                    shape.eager_links += 1;
                }
                let (a, b) = (find(&mut parent, i), find(&mut parent, p as usize));
                parent[a] = b;
            }
        }
        let alive: Vec<usize> = (0..n).filter(|&i| self.nodes[i].alive).collect();
        let mut roots: Vec<usize> = alive.iter().map(|&i| find(&mut parent, i)).collect();
        roots.sort_unstable();
        roots.dedup();
        shape.components = roots.len();
        shape
    }
}
