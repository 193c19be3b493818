//! Process-wide measurements shared by the benchmarks: CPU time, bytes sent
//! over loopback, and latency percentiles.

use std::sync::OnceLock;
use std::time::Instant;

/// Nanoseconds since the first call, on a clock every thread shares.
pub fn now_nanos() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// CPU seconds (user + system) this process has used.
pub fn cpu_seconds() -> f64 {
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
pub fn loopback_tx_bytes() -> u64 {
    let dev = std::fs::read_to_string("/proc/net/dev").unwrap_or_default();
    dev.lines()
        .find_map(|l| {
            let (name, rest) = l.trim().split_once(':')?;
            (name == "lo").then(|| rest.split_whitespace().nth(8)?.parse().ok())?
        })
        .unwrap_or(0)
}

/// The `p`-quantile (0..=1) of sorted values, in the same unit.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}
