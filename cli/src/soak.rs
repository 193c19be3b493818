//! `hypar soak`: a few real nodes in one process stream messages for a
//! long time at the highest rate delivery keeps up with, and the process's
//! resident memory and the delivered counts are printed every few seconds,
//! to show that memory stays flat under an endless stream and that nothing
//! is lost.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use hypar::{topic, EventKind, Keypair, Network, NetworkConfig};
use serde_json::json;

#[derive(Args)]
pub(crate) struct SoakArgs {
    /// Seconds to stream for.
    #[arg(long, default_value_t = 600)]
    duration: u64,
    /// Nodes: node 0 publishes, the others receive (through each other:
    /// each joins through the previous one, so messages are relayed).
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Payload bytes per message.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Seconds between two reports.
    #[arg(long, default_value_t = 10)]
    every: u64,
    /// Most messages published but not yet delivered to the slowest node
    /// (kept below the subscriber queue, 1024, so that a reader busy for a
    /// moment loses nothing).
    #[arg(long, default_value_t = 512)]
    window: u64,
    /// One JSON object per report, and one for the summary.
    #[arg(long)]
    json: bool,
}

/// Resident memory of this process, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

pub(crate) fn run(a: SoakArgs) -> Result<(), String> {
    if a.nodes < 2 || a.duration == 0 || a.every == 0 || a.window == 0 || a.size < 8 {
        return Err("--nodes must be at least 2, --duration, --every and --window at least 1, --size at least 8".into());
    }
    let config =
        || NetworkConfig { listen: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("valid")], ..Default::default() };
    let mut nets: Vec<Network> = Vec::new();
    for _ in 0..a.nodes {
        nets.push(Network::new(config(), Keypair::generate()).map_err(|e| e.to_string())?);
    }
    let mut events = nets[0].events();
    let publisher = nets[0].join(topic::Config::new("soak", vec![])).map_err(|e| e.to_string())?;
    let counters: Vec<Arc<AtomicU64>> = (1..a.nodes).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let duplicate_or_foreign = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for (i, counter) in counters.iter().enumerate() {
        let boot = nets[i].listen_addrs();
        let mut t = nets[i + 1].join(topic::Config::new("soak", boot)).map_err(|e| e.to_string())?;
        let (counter, bad) = (counter.clone(), duplicate_or_foreign.clone());
        readers.push(std::thread::spawn(move || {
            // Messages carry their number; each must come exactly once, in
            // any order, so count them and check the largest gap stays sane.
            let mut next_expected = 0u64;
            let mut early = std::collections::BTreeSet::new();
            while let Some(m) = t.recv_blocking() {
                let n = u64::from_be_bytes(m[..8].try_into().unwrap_or_default());
                if n == next_expected {
                    next_expected += 1;
                    while early.remove(&next_expected) {
                        next_expected += 1;
                    }
                } else if n < next_expected || !early.insert(n) {
                    bad.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                counter.fetch_add(1, Ordering::Release);
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        match events.try_recv() {
            Some(e) if matches!(e.kind, EventKind::NeighborUp(_)) => break,
            _ => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    let sent = Arc::new(AtomicU64::new(0));
    let pump = {
        let (sent, stop, counters) = (sent.clone(), stop.clone(), counters.clone());
        let (size, window) = (a.size, a.window);
        std::thread::spawn(move || {
            let mut payload = vec![0u8; size];
            while !stop.load(Ordering::Acquire) {
                let slowest = counters.iter().map(|c| c.load(Ordering::Acquire)).min().unwrap_or(0);
                let n = sent.load(Ordering::Acquire);
                if n - slowest >= window {
                    std::thread::yield_now();
                    continue;
                }
                payload[..8].copy_from_slice(&n.to_be_bytes());
                match publisher.gossip(payload.clone()) {
                    Ok(()) => {
                        sent.store(n + 1, Ordering::Release);
                    }
                    Err(hypar::Error::QueueFull { .. }) => std::thread::yield_now(),
                    Err(e) => return Err(e.to_string()),
                }
            }
            Ok(publisher)
        })
    };
    let start = Instant::now();
    let mut samples: Vec<(u64, u64)> = Vec::new(); // (second, rss KiB)
    let mut last = (0u64, Instant::now());
    while start.elapsed() < Duration::from_secs(a.duration) {
        std::thread::sleep(Duration::from_secs(a.every).min(Duration::from_secs(a.duration) - start.elapsed()));
        let t = start.elapsed().as_secs();
        let rss = rss_kib();
        samples.push((t, rss));
        let delivered: Vec<u64> = counters.iter().map(|c| c.load(Ordering::Acquire)).collect();
        let n = sent.load(Ordering::Acquire);
        let rate = (n - last.0) as f64 / last.1.elapsed().as_secs_f64();
        last = (n, Instant::now());
        if a.json {
            println!(
                "{}",
                json!({"t_s": t, "rss_kib": rss, "published": n, "delivered": delivered, "msgs_per_s": rate.round()})
            );
        } else {
            println!(
                "{t:>5} s  RSS {:>7.1} MiB  published {n:>10}  delivered {delivered:?}  {rate:>8.0} msg/s",
                rss as f64 / 1024.0
            );
        }
    }
    stop.store(true, Ordering::Release);
    let publisher = pump.join().map_err(|_| "the publishing thread panicked".to_string())??;
    let total = sent.load(Ordering::Acquire);
    // Everything published must arrive everywhere.
    let drain = Instant::now() + Duration::from_secs(60);
    while counters.iter().any(|c| c.load(Ordering::Acquire) < total) && Instant::now() < drain {
        std::thread::sleep(Duration::from_millis(50));
    }
    let delivered: Vec<u64> = counters.iter().map(|c| c.load(Ordering::Acquire)).collect();
    drop(publisher);
    for n in &nets {
        n.shutdown();
    }
    for r in readers {
        let _ = r.join();
    }
    let settled: Vec<u64> = samples.iter().filter(|(t, _)| *t >= 60.min(a.duration / 2)).map(|(_, r)| *r).collect();
    let (lo, hi) = (settled.iter().min().copied().unwrap_or(0), settled.iter().max().copied().unwrap_or(0));
    let spread = if lo > 0 { (hi - lo) as f64 / lo as f64 } else { 0.0 };
    let lost: u64 = delivered.iter().map(|d| total - d.min(&total)).sum();
    let bad = duplicate_or_foreign.load(Ordering::Acquire);
    if a.json {
        println!(
            "{}",
            json!({"published": total, "delivered": delivered, "lost": lost, "duplicates": bad,
            "rss_min_kib": lo, "rss_max_kib": hi, "rss_spread": spread})
        );
    } else {
        println!("published {total}, delivered {delivered:?}: {lost} lost, {bad} duplicates");
        println!(
            "RSS after the first minute: {:.1} to {:.1} MiB ({:.1} % spread)",
            lo as f64 / 1024.0,
            hi as f64 / 1024.0,
            spread * 100.0
        );
    }
    if lost > 0 || bad > 0 {
        return Err(format!("{lost} messages lost and {bad} delivered twice"));
    }
    Ok(())
}
