//! `hypar demo`: a local swarm of real nodes in one process, gossiping from
//! random senders, optionally losing a fraction of its nodes mid-run; a
//! summary table (or JSON) and an SVG plot of latency and hops.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use hypar::{topic, Keypair, Multiaddr, Network, NetworkConfig, Topic};
use indicatif::ProgressBar;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde_json::json;

use crate::bench::{payload, topology};
use crate::measure::{loopback_tx_bytes, percentile, Collector};
use crate::progress;

#[derive(Args)]
pub(crate) struct DemoArgs {
    /// Nodes to start (each a full libp2p node on loopback).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(2..=1000))]
    nodes: u32,
    /// Messages to gossip, each from a random live node.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    messages: u32,
    /// Payload bytes per message (at least 16: index and timestamp).
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(16..=65_000))]
    size: u32,
    /// Messages per second.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    rate: u32,
    /// Kill this fraction of the nodes (0 < f < 1) halfway through, without
    /// warning, to show the overlay healing; delivery is reported before and after.
    #[arg(long, value_parser = parse_fraction)]
    kill: Option<f64>,
    /// Where to write the plot (latency CDF and hop histogram).
    #[arg(long, default_value = "hypar-demo.svg")]
    plot: PathBuf,
    /// Do not write a plot.
    #[arg(long)]
    no_plot: bool,
    /// Senders given a broadcast tree of their own (0: one shared tree for
    /// every sender, the library's default).
    #[arg(long)]
    origin_trees: Option<usize>,
    /// Seed for the topology, senders and victims.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

fn parse_fraction(s: &str) -> Result<f64, String> {
    let f: f64 = s.parse().map_err(|_| format!("{s:?} is not a number; give a fraction such as 0.5"))?;
    if f > 0.0 && f < 1.0 {
        Ok(f)
    } else {
        Err(format!("{f} is out of range: give a fraction strictly between 0 and 1, such as 0.5"))
    }
}

/// How long deliveries may stall before the demo stops waiting for them.
const DRAIN_STALL: Duration = Duration::from_secs(5);

struct Swarm {
    nets: Vec<Network>,
    topics: Vec<Option<Topic>>,
    alive: Vec<bool>,
}

fn start(a: &DemoArgs, rt: &tokio::runtime::Runtime, rng: &mut StdRng, log: &Arc<Collector>) -> Result<Swarm, String> {
    let n = a.nodes as usize;
    let links = topology(n, 3, rng);
    let config =
        NetworkConfig { listen: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("valid")], ..NetworkConfig::default() };
    let bar = progress::bar(a.json, n as u64, "starting nodes");
    let mut swarm = Swarm { nets: Vec::new(), topics: Vec::new(), alive: vec![true; n] };
    for (i, earlier) in links.iter().enumerate() {
        let net = Network::new(config.clone(), Keypair::generate()).map_err(|e| format!("node {i}: {e}"))?;
        let boot: Vec<Multiaddr> = earlier.iter().map(|&e| swarm.nets[e].listen_addrs()[0].clone()).collect();
        let mut topic_config = topic::Config::new("demo", boot);
        if let Some(trees) = a.origin_trees {
            topic_config.protocol.plumtree.origin_trees = trees;
        }
        let t = net.join(topic_config).map_err(|e| format!("node {i}: {e}"))?;
        let (mut rx, log) = (t.clone(), log.clone());
        rt.spawn(async move {
            while let Some(m) = rx.recv_with_hops().await {
                log.record(i, &m.payload, m.hops);
            }
        });
        swarm.topics.push(Some(t));
        swarm.nets.push(net);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let bar = progress::bar(a.json, n as u64, "forming the overlay");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let joined = swarm.nets.iter().filter(|n| n.stats().is_ok_and(|s| s.topics[0].active_view > 0)).count();
        bar.set_position(joined as u64);
        if joined == n || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Let the views fill and the first shuffles run, as a long-lived
    // overlay would have.
    std::thread::sleep(Duration::from_secs(2));
    bar.finish_and_clear();
    Ok(swarm)
}

/// Publish messages `range` from random live nodes at the configured rate.
fn publish(a: &DemoArgs, swarm: &Swarm, range: std::ops::Range<u32>, rng: &mut StdRng, bar: &ProgressBar) {
    let live: Vec<usize> = (0..swarm.nets.len()).filter(|&i| swarm.alive[i]).collect();
    let gap = Duration::from_secs_f64(1.0 / a.rate as f64);
    let t0 = Instant::now();
    for (k, index) in range.enumerate() {
        if let Some(wait) = (t0 + gap * k as u32).checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let sender = *live.choose(rng).expect("live nodes");
        if let Some(t) = &swarm.topics[sender] {
            let _ = t.gossip(payload(index, a.size as usize));
        }
        bar.inc(1);
    }
}

/// Fraction of (message, live receiver other than its sender) pairs
/// delivered, for messages in `range` and receivers in `nodes`.
fn delivered_fraction(log: &Collector, range: std::ops::Range<u32>, nodes: &[usize]) -> f64 {
    let got: usize =
        nodes.iter().map(|&i| log.per_node[i].lock().iter().filter(|r| range.contains(&r.0)).count()).sum();
    let expected = range.len() * nodes.len().saturating_sub(1);
    if expected == 0 {
        1.0
    } else {
        got as f64 / expected as f64
    }
}

pub(crate) fn run(a: DemoArgs) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let mut rng = StdRng::seed_from_u64(a.seed);
    let log = Arc::new(Collector::new(a.nodes as usize));
    let mut swarm = start(&a, &rt, &mut rng, &log)?;
    let n = a.nodes as usize;
    let half = if a.kill.is_some() { a.messages / 2 } else { a.messages };
    let (wire0, started) = (loopback_tx_bytes(), Instant::now());

    let bar = progress::bar(a.json, a.messages as u64, "gossiping");
    publish(&a, &swarm, 0..half, &mut rng, &bar);
    let mut killed = 0;
    if let Some(fraction) = a.kill {
        // Let the first half arrive everywhere, so the victims die between
        // broadcasts, not in the middle of one.
        log.wait_for(half as usize * (n - 1), DRAIN_STALL, |_| {});
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut rng);
        killed = ((n as f64 * fraction).round() as usize).clamp(1, n - 2);
        for &victim in &order[..killed] {
            swarm.alive[victim] = false;
            swarm.topics[victim] = None;
            swarm.nets[victim].crash();
        }
        bar.println(format!("killed {killed} of {n} nodes"));
        publish(&a, &swarm, half..a.messages, &mut rng, &bar);
    }
    bar.finish_and_clear();
    let survivors: Vec<usize> = (0..n).filter(|&i| swarm.alive[i]).collect();
    let all: Vec<usize> = (0..n).collect();
    let expected = half as usize * (n - 1) + (a.messages - half) as usize * (survivors.len() - 1);
    let bar = progress::bar(a.json, expected as u64, "delivering");
    log.wait_for(expected, DRAIN_STALL, |got| bar.set_position(got as u64));
    bar.finish_and_clear();
    let wall = started.elapsed().as_secs_f64();
    let wire = loopback_tx_bytes().saturating_sub(wire0);

    // Figures.
    let mut latencies: Vec<u64> = Vec::new();
    let mut hops = vec![0usize; 0];
    let mut duplicates = 0;
    for v in &log.per_node {
        let mut seen = std::collections::HashSet::new();
        for &(index, latency, h) in v.lock().iter() {
            if !seen.insert(index) {
                duplicates += 1;
                continue;
            }
            latencies.push(latency);
            let h = h as usize;
            if hops.len() <= h {
                hops.resize(h + 1, 0);
            }
            hops[h] += 1;
        }
    }
    latencies.sort_unstable();
    let deliveries = latencies.len();
    let delivered = deliveries as f64 / expected.max(1) as f64;
    let ms = |ns: u64| ns as f64 / 1e6;
    let (p50, p99, max) =
        (ms(percentile(&latencies, 0.5)), ms(percentile(&latencies, 0.99)), ms(*latencies.last().unwrap_or(&0)));
    let redundancy = wire as f64 / (deliveries as f64 * a.size as f64).max(1.0);
    let mut views = std::collections::BTreeMap::<usize, usize>::new();
    let (mut received, mut copies, mut grafts, mut connections) = (0u64, 0u64, 0u64, 0usize);
    for &i in &survivors {
        if let Ok(s) = swarm.nets[i].stats() {
            *views.entry(s.topics.first().map_or(0, |t| t.active_view)).or_default() += 1;
            connections += s.connected_peers;
            for t in &s.topics {
                received += t.delivered;
                copies += t.delivered + t.duplicates;
                grafts += t.grafts;
            }
        }
    }
    // Payload copies that crossed a link per message delivered, minus one:
    // the runtime's relative message redundancy.
    let rmr = copies as f64 / received.max(1) as f64 - 1.0;
    let connections = connections as f64 / survivors.len().max(1) as f64;
    let before = delivered_fraction(&log, 0..half, &all);
    let after = a.kill.map(|_| delivered_fraction(&log, half..a.messages, &survivors));

    let plot = if a.no_plot {
        None
    } else {
        crate::plot::demo_svg(&a.plot, &latencies, &hops)
            .map_err(|e| format!("cannot write {}: {e}", a.plot.display()))?;
        Some(a.plot.display().to_string())
    };

    if a.json {
        let mut out = json!({
            "nodes": a.nodes, "messages": a.messages, "size": a.size, "rate": a.rate,
            "delivered": delivered, "duplicates": duplicates,
            "latency_ms_p50": p50, "latency_ms_p99": p99, "latency_ms_max": max,
            "redundancy": redundancy, "wire_bytes": wire, "wall_seconds": wall,
            "rmr": rmr, "grafts": grafts, "connections_per_node": connections,
            "active_view_sizes": views.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "hops": hops, "plot": plot,
        });
        if let Some(after) = after {
            out["killed"] = json!(killed);
            out["delivered_before_kill"] = json!(before);
            out["delivered_after_kill"] = json!(after);
        }
        println!("{out}");
    } else {
        println!(
            "hypar demo: {} nodes on loopback, {} messages of {} B from random senders",
            a.nodes, a.messages, a.size
        );
        println!();
        println!(
            "  delivered                 {:>7.2} %  ({deliveries} of {expected}, {duplicates} duplicates)",
            delivered * 100.0
        );
        if let Some(after) = after {
            println!("    before the kill         {:>7.2} %  (messages 1-{half}, {n} nodes)", before * 100.0);
            println!(
                "    after killing {killed:<4}      {:>7.2} %  (messages {}-{}, {} survivors)",
                after * 100.0,
                half + 1,
                a.messages,
                survivors.len()
            );
        }
        println!("  latency p50 / p99 / max   {p50:>7.1} / {p99:.1} / {max:.1} ms");
        println!("  redundancy                {redundancy:>7.2} wire bytes per payload byte delivered");
        println!("  duplicate copies          {rmr:>7.3} per delivery (RMR), {grafts} grafts");
        println!("  connections               {connections:>7.1} per node");
        println!("  hops                      {}", histogram_line(hops.iter().copied().enumerate().skip(1)));
        println!("  active view sizes         {}", histogram_line(views.iter().map(|(k, v)| (*k, *v))));
        println!("  wall time                 {wall:>7.1} s");
        if let Some(p) = &plot {
            println!();
            println!("plot (latency CDF, hop histogram): {p}");
        }
    }
    drop(swarm.topics);
    for (i, net) in swarm.nets.iter().enumerate() {
        if swarm.alive[i] {
            net.shutdown();
        }
    }
    Ok(())
}

/// "size×count" pairs, such as "1×49  2×120".
fn histogram_line(items: impl Iterator<Item = (usize, usize)>) -> String {
    items.filter(|(_, c)| *c > 0).map(|(k, c)| format!("{k}: {c}")).collect::<Vec<_>>().join("  ")
}
