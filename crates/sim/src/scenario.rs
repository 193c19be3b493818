//! Scenarios (steady, fail, partition, churn) and the figures they report.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::seq::SliceRandom;
use rand::Rng;
use serde::Serialize;

use super::engine::{LinkModel, NodeId, Sim, TreeShape};
use hypar_proto::ProtocolConfig;

/// Who publishes in the `steady` scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SenderMode {
    /// One node publishes every broadcast.
    One,
    /// Each broadcast comes from a random node.
    Random,
    /// All broadcasts are published at the same instant by distinct nodes.
    All,
    /// Each broadcast comes from one of this many nodes, chosen at random
    /// (a few active senders: a chat room, a handful of sensors).
    Pool(usize),
}

impl SenderMode {
    /// The mode's name, as `hypar sim --mode` takes it.
    pub fn name(&self) -> &'static str {
        match self {
            SenderMode::One => "one",
            SenderMode::Random => "random",
            SenderMode::All => "all",
            SenderMode::Pool(_) => "pool",
        }
    }
}

/// What to simulate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scenario {
    /// A stable overlay; `broadcasts` messages at `broadcast_interval`.
    Steady(SenderMode),
    /// A fraction of the nodes crashes at once; a survivor broadcasts at that
    /// very instant (the first broadcast), then every second; the figures of
    /// the broadcasts sent `heal_time` later are `healed_delivered`.
    Fail {
        /// The fraction of nodes that crash.
        fraction: f64,
    },
    /// The overlay splits in two halves for `heal_time`, then heals; the
    /// broadcasts sent `heal_time` after healing are `healed_delivered`.
    Partition,
    /// Nodes crash and new nodes join continuously (`rate` of the nodes
    /// replaced per simulated minute) while random nodes broadcast every second.
    Churn {
        /// Fraction of the nodes replaced per simulated minute.
        rate: f64,
    },
}

impl Scenario {
    /// The scenario's name, as `hypar sim --scenario` takes it.
    pub fn name(&self) -> &'static str {
        match self {
            Scenario::Steady(_) => "steady",
            Scenario::Fail { .. } => "fail",
            Scenario::Partition => "partition",
            Scenario::Churn { .. } => "churn",
        }
    }
}

/// Parameters common to every scenario.
#[derive(Debug, Clone)]
pub struct ScenarioConfig {
    /// Nodes in the overlay.
    pub nodes: usize,
    /// The seed everything derives from.
    pub seed: u64,
    /// Link latencies and failure detection.
    pub links: LinkModel,
    /// The protocol configuration of every node.
    pub topic: ProtocolConfig<NodeId>,
    /// Time between two nodes joining while the overlay is built.
    pub join_interval: Duration,
    /// Quiet time after the last join before anything is measured.
    pub warmup: Duration,
    /// Measured broadcasts (`steady`), or broadcasts after healing.
    pub broadcasts: usize,
    /// Time between two measured broadcasts.
    pub broadcast_interval: Duration,
    /// Payload bytes per broadcast.
    pub payload_size: usize,
    /// Time given to the overlay to heal (`fail`, `partition`), and the
    /// length of the partition itself and of the churn period.
    pub heal_time: Duration,
    /// Time allowed after the last broadcast for deliveries to finish.
    pub drain: Duration,
}

impl Default for ScenarioConfig {
    fn default() -> Self {
        ScenarioConfig {
            nodes: 1000,
            seed: 1,
            links: LinkModel::default(),
            topic: ProtocolConfig::default(),
            join_interval: Duration::from_millis(1),
            warmup: Duration::from_secs(60),
            broadcasts: 100,
            broadcast_interval: Duration::from_millis(100),
            payload_size: 64,
            heal_time: Duration::from_secs(30),
            drain: Duration::from_secs(10),
        }
    }
}

/// The figures of one run. Fractions are in [0, 1]; `None` where a figure
/// does not apply to the scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The scenario's name.
    pub scenario: String,
    /// Sender mode of `steady`.
    pub mode: Option<String>,
    /// Nodes in the overlay.
    pub nodes: usize,
    /// The seed of the run.
    pub seed: u64,
    /// Fraction of nodes crashed (`fail`), else 0.
    pub fail_fraction: f64,
    /// Mean over measured broadcasts of the fraction of eligible live nodes
    /// that delivered it.
    pub delivered: f64,
    /// Delivery of the first broadcast after the failure (or after healing).
    pub first_delivered: Option<f64>,
    /// Delivery of the broadcasts sent after the healing period.
    pub healed_delivered: Option<f64>,
    /// Mean fraction of live nodes in the sender's component of the graph of
    /// peers that live nodes know: the physical bound on delivery.
    pub reach_limit: f64,
    /// Relative message redundancy: payload copies received per delivery, minus one.
    pub rmr: f64,
    /// Last delivery hop: mean over broadcasts of the largest hop count at
    /// which a node delivered.
    pub ldh: f64,
    /// Median delivery latency, milliseconds.
    pub latency_ms_p50: f64,
    /// 99th-percentile delivery latency, milliseconds.
    pub latency_ms_p99: f64,
    /// Deliveries of an already delivered message (must be 0).
    pub double_deliveries: u64,
    /// Fraction of measured broadcasts first put into the overlay by their
    /// author (1 without proxy passing).
    pub author_first: f64,
    /// Proxy-passing hand-offs per measured broadcast (0 without it).
    pub handoffs_per_message: f64,
    /// Broadcasts the figures are over.
    pub measured_broadcasts: usize,
    /// Mean active-view size of the live nodes at the end.
    pub active_view_mean: f64,
    /// The eager graph at the end of the run.
    pub tree: TreeShape,
    /// Active-view changes (neighbour-down events) from the first measured
    /// broadcast on.
    pub neighbor_changes: u64,
    /// Protocol messages sent from the first measured broadcast on, by kind.
    pub messages_sent: BTreeMap<String, u64>,
    /// Simulator events processed.
    pub events: u64,
    /// Simulated time, seconds.
    pub sim_seconds: f64,
    /// Real time the run took, seconds.
    pub wall_seconds: f64,
}

fn us(d: Duration) -> u64 {
    d.as_micros() as u64
}

struct Measured {
    delivered: f64,
    rmr: f64,
    ldh: f64,
    latencies_us: Vec<u32>,
    double: u64,
}

/// Delivery figures of broadcast `idx`. Eligible nodes: alive now, joined at
/// least `settle` before the broadcast, and not its sender.
fn measure(sim: &Sim, idx: usize, settle: u64) -> Measured {
    let rec = &sim.broadcasts[idx];
    let mut eligible = 0u64;
    let mut got = 0u64;
    let mut receivers = 0u64;
    let mut ldh = 0u16;
    let mut latencies_us = Vec::new();
    for n in 0..rec.hops.len() {
        let h = rec.hops[n];
        if h != u16::MAX {
            receivers += 1;
            ldh = ldh.max(h);
        }
        let node = n as NodeId;
        if node == rec.sender || !sim.is_alive(node) || sim.born_at(node) + settle > rec.sent_at {
            continue;
        }
        eligible += 1;
        if h != u16::MAX {
            got += 1;
            latencies_us.push(rec.latency_us[n]);
        }
    }
    Measured {
        delivered: if eligible == 0 { 1.0 } else { got as f64 / eligible as f64 },
        rmr: if receivers == 0 { 0.0 } else { rec.payload_receipts as f64 / receivers as f64 - 1.0 },
        ldh: ldh as f64,
        latencies_us,
        double: rec.double_deliveries,
    }
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 {
        0.0
    } else {
        s / n as f64
    }
}

fn percentile_ms(sorted_us: &[u32], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let i = ((sorted_us.len() - 1) as f64 * p).round() as usize;
    sorted_us[i] as f64 / 1000.0
}

/// Mean fraction of the live nodes in each live sender's knowledge component.
fn reach(sim: &Sim, labels: &[u32], senders: &[NodeId]) -> f64 {
    let alive = sim.alive_nodes();
    let mut sizes = std::collections::HashMap::new();
    for &n in &alive {
        *sizes.entry(labels[n as usize]).or_insert(0usize) += 1;
    }
    // Senders that have died since (churn) reach nobody now: skip them.
    mean(senders.iter().filter(|s| sim.is_alive(**s)).map(|s| {
        let size = sizes.get(&labels[*s as usize]).copied().unwrap_or(0);
        size as f64 / alive.len().max(1) as f64
    }))
}

/// Build the overlay: nodes join one by one, each through a random live
/// node already in, then the overlay settles for `warmup`.
fn build(sim: &mut Sim, cfg: &ScenarioConfig) {
    sim.add_node(&[]);
    for i in 1..cfg.nodes {
        sim.run_until(i as u64 * us(cfg.join_interval));
        let contact = sim.random_alive();
        sim.add_node(&[contact]);
    }
    let t = sim.now_us() + us(cfg.warmup);
    sim.run_until(t);
}

/// Broadcast from random live nodes every `every` until `until` (exclusive);
/// returns the indices.
fn broadcast_every(sim: &mut Sim, payload: &Bytes, every: u64, until: u64) -> Vec<usize> {
    let mut v = Vec::new();
    let mut t = sim.now_us();
    while t < until {
        sim.run_until(t);
        let s = sim.random_alive();
        v.push(sim.broadcast(s, payload.clone()));
        t += every;
    }
    sim.run_until(until);
    v
}

/// Run one scenario with one seed.
pub fn run(scenario: Scenario, cfg: &ScenarioConfig) -> Report {
    let wall = Instant::now();
    let mut sim = Sim::new(cfg.seed, cfg.links.clone(), cfg.topic.clone());
    let payload = Bytes::from(vec![0xab; cfg.payload_size]);
    build(&mut sim, cfg);
    let interval = us(cfg.broadcast_interval);
    let second = 1_000_000;
    let settle = 2 * second;
    let mut first = None;
    let mut healed = Vec::new();
    let mut fail_fraction = 0.0;
    let measured: Vec<usize>;
    let labels;
    let (downs_before, sent_before) = (sim.neighbor_downs, sim.sent.clone());
    match scenario {
        Scenario::Steady(mode) => {
            labels = sim.knowledge_components();
            let one = sim.random_alive();
            let mut idx = Vec::new();
            let start = sim.now_us();
            let mut senders = sim.alive_nodes();
            senders.shuffle(sim.rng());
            for k in 0..cfg.broadcasts {
                let sender = match mode {
                    SenderMode::One => one,
                    SenderMode::Random => sim.random_alive(),
                    SenderMode::All => senders[k % senders.len()],
                    SenderMode::Pool(n) => {
                        let n = n.clamp(1, senders.len());
                        senders[sim.rng().gen_range(0..n)]
                    }
                };
                if mode != SenderMode::All {
                    sim.run_until(start + k as u64 * interval);
                }
                idx.push(sim.broadcast(sender, payload.clone()));
            }
            measured = idx;
        }
        Scenario::Fail { fraction } => {
            fail_fraction = fraction;
            let now = sim.now_us();
            broadcast_every(&mut sim, &payload, second, now + 5 * second);
            let mut alive = sim.alive_nodes();
            alive.shuffle(sim.rng());
            let victims = ((alive.len() as f64 * fraction).round() as usize).min(alive.len() - 1);
            sim.kill_many(&alive[..victims]);
            labels = sim.knowledge_components();
            let t_fail = sim.now_us();
            let mut all = broadcast_every(&mut sim, &payload, second, t_fail + us(cfg.heal_time));
            first = all.first().copied();
            let now = sim.now_us();
            healed = broadcast_every(&mut sim, &payload, interval, now + cfg.broadcasts as u64 * interval);
            all.extend(&healed);
            measured = all;
        }
        Scenario::Partition => {
            let now = sim.now_us();
            broadcast_every(&mut sim, &payload, second, now + 5 * second);
            let mut alive = sim.alive_nodes();
            alive.shuffle(sim.rng());
            sim.partition(&alive[..alive.len() / 2]);
            let now = sim.now_us();
            broadcast_every(&mut sim, &payload, second, now + us(cfg.heal_time));
            sim.heal();
            labels = sim.knowledge_components();
            let t_heal = sim.now_us();
            let mut all = broadcast_every(&mut sim, &payload, second, t_heal + us(cfg.heal_time));
            first = all.first().copied();
            let now = sim.now_us();
            healed = broadcast_every(&mut sim, &payload, interval, now + cfg.broadcasts as u64 * interval);
            all.extend(&healed);
            measured = all;
        }
        Scenario::Churn { rate } => {
            let per_minute = (cfg.nodes as f64 * rate).max(1.0);
            let churn_every = (60.0 * second as f64 / per_minute) as u64;
            let start = sim.now_us();
            let end = start + us(cfg.heal_time).max(cfg.broadcasts as u64 * second);
            let mut idx = Vec::new();
            let (mut next_churn, mut next_bcast) = (start, start);
            while next_churn.min(next_bcast) < end {
                if next_churn <= next_bcast {
                    sim.run_until(next_churn);
                    let victim = sim.random_alive();
                    sim.kill(victim);
                    let contact = sim.random_alive();
                    sim.add_node(&[contact]);
                    next_churn += churn_every.max(1);
                } else {
                    sim.run_until(next_bcast);
                    let s = sim.random_alive();
                    idx.push(sim.broadcast(s, payload.clone()));
                    next_bcast += second;
                }
            }
            labels = sim.knowledge_components();
            measured = idx;
        }
    }
    let last = measured.iter().map(|&i| sim.broadcasts[i].sent_at).max().unwrap_or(sim.now_us());
    sim.run_until(last.max(sim.now_us()) + us(cfg.drain));

    let messages_sent: BTreeMap<String, u64> =
        sim.sent.iter().map(|(k, v)| (k.to_string(), v - sent_before.get(k).copied().unwrap_or(0))).collect();
    let figures: Vec<Measured> = measured.iter().map(|&i| measure(&sim, i, settle)).collect();
    let senders: Vec<NodeId> = measured.iter().map(|&i| sim.broadcasts[i].sender).collect();
    let mut lat: Vec<u32> = figures.iter().flat_map(|m| m.latencies_us.iter().copied()).collect();
    lat.sort_unstable();
    let sizes = sim.active_view_sizes();
    Report {
        scenario: scenario.name().to_string(),
        mode: match scenario {
            Scenario::Steady(m) => Some(m.name().to_string()),
            _ => None,
        },
        nodes: cfg.nodes,
        seed: cfg.seed,
        fail_fraction,
        delivered: mean(figures.iter().map(|m| m.delivered)),
        first_delivered: first.map(|i| measure(&sim, i, settle).delivered),
        healed_delivered: if healed.is_empty() {
            None
        } else {
            Some(mean(healed.iter().map(|&i| measure(&sim, i, settle).delivered)))
        },
        reach_limit: reach(&sim, &labels, &senders),
        rmr: mean(figures.iter().map(|m| m.rmr)),
        ldh: mean(figures.iter().map(|m| m.ldh)),
        latency_ms_p50: percentile_ms(&lat, 0.5),
        latency_ms_p99: percentile_ms(&lat, 0.99),
        double_deliveries: figures.iter().map(|m| m.double).sum(),
        author_first: mean(measured.iter().map(|&i| {
            let rec = &sim.broadcasts[i];
            f64::from(u8::from(rec.first_broadcaster == Some(rec.sender)))
        })),
        handoffs_per_message: mean(measured.iter().map(|&i| f64::from(sim.broadcasts[i].handoffs))),
        measured_broadcasts: measured.len(),
        active_view_mean: mean(sizes.iter().map(|&s| s as f64)),
        tree: sim.tree_shape(),
        neighbor_changes: sim.neighbor_downs - downs_before,
        messages_sent,
        events: sim.events,
        sim_seconds: sim.now_us() as f64 / 1e6,
        wall_seconds: wall.elapsed().as_secs_f64(),
    }
}
