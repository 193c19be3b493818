//! `hypar bench`: N real nodes in one process over loopback TCP (Noise +
//! Yamux) on one topic, M messages of S bytes from random senders; and the
//! same run with rust-libp2p gossipsub on the same topology, for comparison.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::{Args, ValueEnum};
use hypar::{topic, Keypair, Multiaddr, Network, NetworkConfig};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::gossipsub_node::GossipNode;
use crate::measure::{cpu_seconds, loopback_tx_bytes, now_nanos, percentile, Collector};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Protocol {
    Hypar,
    Gossipsub,
    Both,
}

#[derive(Args)]
pub(crate) struct BenchArgs {
    /// Number of nodes.
    #[arg(long, default_value_t = 100)]
    nodes: usize,
    /// Number of messages.
    #[arg(long, default_value_t = 1000)]
    messages: usize,
    /// Payload size in bytes (at least 12: index and timestamp).
    #[arg(long, default_value_t = 1024)]
    size: usize,
    /// Which protocol to run; `both` runs hypar, then gossipsub.
    #[arg(long, value_enum, default_value = "both")]
    protocol: Protocol,
    /// Messages published per second, in total.
    #[arg(long, default_value_t = 200)]
    rate: u32,
    /// Earlier nodes each node connects to when it starts.
    #[arg(long, default_value_t = 3)]
    degree: usize,
    /// Seed for the topology and the senders.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// hypar publishes unsigned messages (topics are signed by default).
    #[arg(long)]
    unsigned: bool,
    /// hypar: senders given a broadcast tree of their own (0: one shared
    /// tree for every sender, the library's default).
    #[arg(long)]
    origin_trees: Option<usize>,
    /// Print one JSON object per protocol.
    #[arg(long)]
    json: bool,
    /// Also print diagnostics to stderr: slow deliveries over time, and the
    /// hypar overlay's counters.
    #[arg(long)]
    verbose: bool,
}

/// The payload: message index, send time, padding.
pub(crate) fn payload(index: u32, size: usize) -> Bytes {
    let mut v = vec![0u8; size];
    v[..4].copy_from_slice(&index.to_be_bytes());
    v[4..12].copy_from_slice(&now_nanos().to_be_bytes());
    Bytes::from(v)
}

/// Each node's earlier nodes to connect to, the same for both protocols.
pub(crate) fn topology(nodes: usize, degree: usize, rng: &mut StdRng) -> Vec<Vec<usize>> {
    (0..nodes)
        .map(|i| {
            let mut picks: Vec<usize> = Vec::new();
            while i > 0 && picks.len() < degree.min(i) {
                let p = rng.gen_range(0..i);
                if !picks.contains(&p) {
                    picks.push(p);
                }
            }
            picks
        })
        .collect()
}

/// What one protocol's run measured.
struct Figures {
    protocol: &'static str,
    delivered: f64,
    /// Deliveries counted (each message once per node).
    deliveries: usize,
    duplicates: usize,
    latencies: Vec<u64>,
    wire_bytes: u64,
    payload_bytes: u64,
    cpu_seconds: f64,
    wall_seconds: f64,
}

/// Publish `messages` from random senders at `rate` per second, then wait
/// until everything arrived (or 10 s passed without progress).
fn drive(a: &BenchArgs, collector: &Collector, mut publish: impl FnMut(usize, Bytes)) -> (u64, f64, f64) {
    let expected = a.messages * (a.nodes - 1);
    let mut rng = StdRng::seed_from_u64(a.seed ^ 0x5eed);
    let (bytes0, cpu0, t0) = (loopback_tx_bytes(), cpu_seconds(), Instant::now());
    let gap = Duration::from_secs_f64(1.0 / a.rate.max(1) as f64);
    for i in 0..a.messages {
        let due = t0 + gap * i as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        publish(rng.gen_range(0..a.nodes), payload(i as u32, a.size));
    }
    collector.wait_for(expected, Duration::from_secs(10), |_| {});
    (loopback_tx_bytes() - bytes0, cpu_seconds() - cpu0, t0.elapsed().as_secs_f64())
}

fn figures(protocol: &'static str, a: &BenchArgs, c: &Collector, wire: u64, cpu: f64, wall: f64) -> Figures {
    let mut latencies = Vec::new();
    let mut delivered = 0usize;
    let mut duplicates = 0usize;
    for v in &c.per_node {
        let v = v.lock();
        let mut seen = std::collections::HashSet::new();
        for &(index, latency, _) in v.iter() {
            if seen.insert(index) {
                delivered += 1;
                latencies.push(latency);
            } else {
                duplicates += 1;
            }
        }
    }
    if a.verbose {
        let mut slow = vec![0usize; 10];
        for v in &c.per_node {
            for &(index, latency, _) in v.lock().iter() {
                if latency > 50_000_000 {
                    slow[(index as usize * 10 / a.messages).min(9)] += 1;
                }
            }
        }
        eprintln!("{protocol}: deliveries over 50 ms per tenth of the run: {slow:?}");
    }
    latencies.sort_unstable();
    Figures {
        protocol,
        delivered: delivered as f64 / (a.messages * (a.nodes - 1)) as f64,
        deliveries: delivered,
        duplicates,
        latencies,
        wire_bytes: wire,
        payload_bytes: (delivered * a.size) as u64,
        cpu_seconds: cpu,
        wall_seconds: wall,
    }
}

fn run_hypar(a: &BenchArgs, links: &[Vec<usize>]) -> Result<Figures, String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let collector = Arc::new(Collector::new(a.nodes));
    let mut nets: Vec<Network> = Vec::new();
    let mut topics = Vec::new();
    let config =
        NetworkConfig { listen: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("valid")], ..NetworkConfig::default() };
    for (i, earlier) in links.iter().enumerate() {
        let net = Network::new(config.clone(), Keypair::generate()).map_err(|e| e.to_string())?;
        let boot: Vec<Multiaddr> = earlier.iter().map(|&e| nets[e].listen_addrs()[0].clone()).collect();
        let mut topic_config = topic::Config::new("bench", boot).signed(!a.unsigned);
        if let Some(trees) = a.origin_trees {
            topic_config.protocol.plumtree.origin_trees = trees;
        }
        let t = net.join(topic_config).map_err(|e| e.to_string())?;
        let mut rx = t.clone();
        let c = collector.clone();
        rt.spawn(async move {
            while let Some(m) = rx.recv_with_hops().await {
                c.record(i, &m.payload, m.hops);
            }
        });
        topics.push(t);
        nets.push(net);
    }
    settle(|| nets.iter().all(|n| n.stats().map(|s| s.topics[0].active_view > 0).unwrap_or(false)));
    let mut event_streams: Vec<hypar::Events> = nets.iter().map(|n| n.events()).collect();
    let (wire, cpu, wall) = drive(a, &collector, |sender, p| {
        let _ = topics[sender].gossip(p);
    });
    let f = figures("hypar", a, &collector, wire, cpu, wall);
    if a.verbose {
        let stats: Vec<hypar::TopicStats> = nets.iter().filter_map(|n| n.stats().ok()?.topics.pop()).collect();
        let sum = |f: fn(&hypar::TopicStats) -> u64| stats.iter().map(f).sum::<u64>();
        let mut downs = 0;
        for e in event_streams.iter_mut() {
            while let Some(ev) = e.try_recv() {
                downs += matches!(ev.kind, hypar::EventKind::NeighborDown(_)) as usize;
            }
        }
        eprintln!("hypar: neighbour-down events during the run: {downs}");
        eprintln!(
            "hypar: active {} tree {} relayed {} duplicates {} grafts {} dropped {} frames_dropped {}",
            sum(|s| s.active_view as u64),
            sum(|s| s.tree_links as u64),
            sum(|s| s.relayed),
            sum(|s| s.duplicates),
            sum(|s| s.grafts),
            sum(|s| s.dropped),
            nets.iter().filter_map(|n| n.stats().ok()).map(|s| s.frames_dropped).sum::<u64>()
        );
    }
    drop(topics);
    for n in &nets {
        n.shutdown();
    }
    Ok(f)
}

fn run_gossipsub(a: &BenchArgs, links: &[Vec<usize>]) -> Result<Figures, String> {
    let collector = Arc::new(Collector::new(a.nodes));
    let mut nodes: Vec<GossipNode> = Vec::new();
    for (i, earlier) in links.iter().enumerate() {
        let c = collector.clone();
        let node = GossipNode::start(move |m| c.record(i, m, 0))?;
        for &e in earlier {
            node.dial(nodes[e].addr.clone());
        }
        nodes.push(node);
    }
    settle(|| nodes.iter().all(|n| n.mesh_peers() > 0));
    let (wire, cpu, wall) = drive(a, &collector, |sender, p| nodes[sender].publish(p));
    let f = figures("gossipsub", a, &collector, wire, cpu, wall);
    for n in nodes {
        n.stop();
    }
    Ok(f)
}

/// Wait until `ready` (at most 30 s), then 2 s more for the overlay to settle.
fn settle(ready: impl Fn() -> bool) {
    let start = Instant::now();
    while !ready() && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(2));
}

pub(crate) fn run(a: BenchArgs) -> Result<(), String> {
    if a.nodes < 2 {
        return Err(format!("--nodes {} must be at least 2", a.nodes));
    }
    if a.size < 12 {
        return Err(format!("--size {} must be at least 12 (index and timestamp)", a.size));
    }
    if a.degree == 0 {
        return Err("--degree must be at least 1".into());
    }
    let links = topology(a.nodes, a.degree, &mut StdRng::seed_from_u64(a.seed));
    let mut results = Vec::new();
    let runs = if a.protocol == Protocol::Both { 2 } else { 1 };
    let progress = crate::progress::bar(a.json, runs, &format!("{} nodes, {} messages", a.nodes, a.messages));
    if a.protocol != Protocol::Gossipsub {
        results.push(run_hypar(&a, &links)?);
        progress.inc(1);
    }
    if a.protocol != Protocol::Hypar {
        results.push(run_gossipsub(&a, &links)?);
        progress.inc(1);
    }
    progress.finish_and_clear();
    for f in &results {
        let ms = |p: f64| percentile(&f.latencies, p) as f64 / 1e6;
        let ratio = f.wire_bytes as f64 / f.payload_bytes.max(1) as f64;
        // The whole process's CPU time (every node, the runtime, the
        // collector) over the deliveries.
        let cpu_us = f.cpu_seconds * 1e6 / f.deliveries.max(1) as f64;
        if a.json {
            let line = json!({
                "protocol": f.protocol, "nodes": a.nodes, "messages": a.messages, "size": a.size,
                "rate": a.rate, "delivered": f.delivered, "duplicates": f.duplicates,
                "latency_ms_p50": ms(0.5), "latency_ms_p99": ms(0.99), "latency_ms_max": ms(1.0),
                "wire_bytes": f.wire_bytes, "wire_bytes_per_payload_byte": ratio,
                "cpu_seconds": f.cpu_seconds, "cpu_us_per_delivery": cpu_us, "wall_seconds": f.wall_seconds,
            });
            println!("{line}");
        } else {
            println!(
                "{:<10} delivered={:.4} dup={} latency p50={:.2}ms p99={:.2}ms max={:.2}ms wire/payload={:.3} cpu={:.2}s ({:.0}us/delivery) wall={:.1}s",
                f.protocol, f.delivered, f.duplicates, ms(0.5), ms(0.99), ms(1.0), ratio, f.cpu_seconds, cpu_us, f.wall_seconds
            );
        }
    }
    Ok(())
}
