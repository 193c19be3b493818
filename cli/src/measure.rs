//! Process-wide measurements shared by the benchmarks and the demo: CPU
//! time, bytes sent over loopback, latency percentiles, and the log of who
//! received which message when.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Nanoseconds since the first call, on a clock every thread shares.
pub(crate) fn now_nanos() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// CPU seconds (user + system) this process has used.
pub(crate) fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields of the whole line.
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// Bytes transmitted on the loopback interface of this network namespace:
/// every byte any socket sent, plus TCP/IP headers and ACKs.
pub(crate) fn loopback_tx_bytes() -> u64 {
    let dev = std::fs::read_to_string("/proc/net/dev").unwrap_or_default();
    dev.lines()
        .find_map(|l| {
            let (name, rest) = l.trim().split_once(':')?;
            (name == "lo").then(|| rest.split_whitespace().nth(8)?.parse().ok())?
        })
        .unwrap_or(0)
}

/// The `p`-quantile (0..=1) of sorted values, in the same unit.
pub(crate) fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// One delivery: message index, latency in ns, overlay hops (0 if unknown).
pub(crate) type Record = (u32, u64, u16);

/// Deliveries seen by every node, written by each node's receiving task.
pub(crate) struct Collector {
    pub per_node: Vec<Mutex<Vec<Record>>>,
}

impl Collector {
    pub(crate) fn new(nodes: usize) -> Self {
        Collector { per_node: (0..nodes).map(|_| Mutex::new(Vec::new())).collect() }
    }

    /// Node `node` received `payload` (index and send time in its first 12
    /// bytes, as `bench::payload` writes them) after `hops` hops.
    pub(crate) fn record(&self, node: usize, payload: &[u8], hops: u16) {
        if payload.len() < 12 {
            return;
        }
        let index = u32::from_be_bytes(payload[..4].try_into().expect("4 bytes"));
        let sent = u64::from_be_bytes(payload[4..12].try_into().expect("8 bytes"));
        self.per_node[node].lock().push((index, now_nanos().saturating_sub(sent), hops));
    }

    pub(crate) fn total(&self) -> usize {
        self.per_node.iter().map(|v| v.lock().len()).sum()
    }

    /// Wait until `expected` deliveries arrived, or none came for `stall`;
    /// `progress` sees the count as it grows.
    pub(crate) fn wait_for(&self, expected: usize, stall: Duration, progress: impl Fn(usize)) {
        let (mut last, mut since) = (self.total(), Instant::now());
        while last < expected && since.elapsed() < stall {
            std::thread::sleep(Duration::from_millis(20));
            let now = self.total();
            progress(now.min(expected));
            if now != last {
                (last, since) = (now, Instant::now());
            }
        }
    }
}
