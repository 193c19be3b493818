//! `hypar sim`: run simulator scenarios and print their figures.

use std::time::Duration;

use clap::{Args, ValueEnum};
use hypar_sim::{self as sim, Report, Scenario, ScenarioConfig, SenderMode};

#[derive(Clone, Copy, ValueEnum)]
enum ScenarioArg {
    Steady,
    Fail,
    Partition,
    Churn,
}

#[derive(Clone, Copy, ValueEnum)]
enum ModeArg {
    One,
    Random,
    All,
    Pool,
}

#[derive(Args)]
pub(crate) struct SimArgs {
    /// Scenario to run.
    #[arg(long, value_enum, default_value = "steady")]
    scenario: ScenarioArg,
    /// Sender mode for `steady`.
    #[arg(long, value_enum, default_value = "one")]
    mode: ModeArg,
    /// Senders of `--mode pool`: each broadcast comes from one of this many
    /// nodes, chosen at random.
    #[arg(long, default_value_t = 10)]
    senders: usize,
    /// Number of nodes.
    #[arg(long, default_value_t = 1000)]
    nodes: usize,
    /// Number of seeds to run (seeds 1..=N unless --seed is given).
    #[arg(long, default_value_t = 1)]
    seeds: u64,
    /// First seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Fraction of nodes that fail at once (`fail`).
    #[arg(long = "fail", default_value_t = 0.5)]
    fail: f64,
    /// Fraction of nodes replaced per simulated minute (`churn`).
    #[arg(long, default_value_t = 0.1)]
    churn_rate: f64,
    /// Measured broadcasts (steady), or broadcasts after healing.
    #[arg(long, default_value_t = 100)]
    broadcasts: usize,
    /// Milliseconds between broadcasts.
    #[arg(long, default_value_t = 100)]
    interval_ms: u64,
    /// Seconds the overlay settles after the last join.
    #[arg(long, default_value_t = 60)]
    warmup_s: u64,
    /// Seconds allowed to heal (fail, partition); partition and churn length.
    #[arg(long, default_value_t = 30)]
    heal_s: u64,
    /// Minimum and maximum link latency in milliseconds.
    #[arg(long, default_value_t = 10)]
    latency_min_ms: u64,
    #[arg(long, default_value_t = 50)]
    latency_max_ms: u64,
    /// Active view capacity.
    #[arg(long, default_value_t = 5)]
    active: usize,
    /// Passive view capacity.
    #[arg(long, default_value_t = 30)]
    passive: usize,
    /// Plumtree optimisation threshold in hops (0 disables).
    #[arg(long)]
    optimization_threshold: Option<u16>,
    /// Plumtree: milliseconds to wait for an announced message before grafting.
    #[arg(long)]
    graft_timeout_ms: Option<u64>,
    /// Plumtree: longest adaptive wait before grafting, in milliseconds.
    #[arg(long)]
    graft_timeout_max_ms: Option<u64>,
    /// Plumtree: milliseconds IHAVE announcements are batched for.
    #[arg(long)]
    ihave_interval_ms: Option<u64>,
    /// Plumtree: push to every neighbour, not only the tree, below this many
    /// hops.
    #[arg(long)]
    eager_hops: Option<u16>,
    /// Plumtree: duplicates in a row over a tree link before it is pruned.
    #[arg(long)]
    duplicates_before_prune: Option<u8>,
    /// Plumtree: trees of their own for up to this many origins (0: one
    /// shared tree).
    #[arg(long)]
    origin_trees: Option<usize>,
    /// Proxy passing on every node: each message goes to a random
    /// neighbour to publish with even chance, at every step.
    #[arg(long)]
    proxy: bool,
    /// Print one JSON object per (scenario, seed) line.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(a: SimArgs) -> Result<(), String> {
    if !(0.0..1.0).contains(&a.fail) {
        return Err(format!("--fail {} must be in [0, 1)", a.fail));
    }
    if a.nodes < 2 {
        return Err(format!("--nodes {} must be at least 2", a.nodes));
    }
    if a.latency_min_ms > a.latency_max_ms {
        return Err(format!("--latency-min-ms {} exceeds --latency-max-ms {}", a.latency_min_ms, a.latency_max_ms));
    }
    if a.seeds == 0 {
        return Err("--seeds must be at least 1".into());
    }
    let scenario = match a.scenario {
        ScenarioArg::Steady => Scenario::Steady(match a.mode {
            ModeArg::One => SenderMode::One,
            ModeArg::Random => SenderMode::Random,
            ModeArg::All => SenderMode::All,
            ModeArg::Pool => SenderMode::Pool(a.senders),
        }),
        ScenarioArg::Fail => Scenario::Fail { fraction: a.fail },
        ScenarioArg::Partition => Scenario::Partition,
        ScenarioArg::Churn => Scenario::Churn { rate: a.churn_rate },
    };
    let mut base = ScenarioConfig {
        nodes: a.nodes,
        broadcasts: a.broadcasts,
        broadcast_interval: Duration::from_millis(a.interval_ms),
        warmup: Duration::from_secs(a.warmup_s),
        heal_time: Duration::from_secs(a.heal_s),
        ..ScenarioConfig::default()
    };
    base.links.latency_min = Duration::from_millis(a.latency_min_ms);
    base.links.latency_max = Duration::from_millis(a.latency_max_ms);
    base.topic.hyparview.active_view_capacity = a.active;
    base.topic.hyparview.passive_view_capacity = a.passive;
    if let Some(t) = a.optimization_threshold {
        base.topic.plumtree.optimization_threshold = t;
    }
    if let Some(ms) = a.graft_timeout_ms {
        base.topic.plumtree.graft_timeout_1 = Duration::from_millis(ms);
        base.topic.plumtree.graft_timeout_2 = Duration::from_millis(ms / 2);
    }
    if let Some(ms) = a.graft_timeout_max_ms {
        base.topic.plumtree.graft_timeout_max = Duration::from_millis(ms);
    }
    if let Some(ms) = a.ihave_interval_ms {
        base.topic.plumtree.ihave_interval = Duration::from_millis(ms);
    }
    base.topic.plumtree.proxy = a.proxy;
    if let Some(n) = a.duplicates_before_prune {
        base.topic.plumtree.duplicates_before_prune = n;
    }
    if let Some(n) = a.origin_trees {
        base.topic.plumtree.origin_trees = n;
    }
    if let Some(h) = a.eager_hops {
        base.topic.plumtree.eager_hops = h;
    }
    base.topic.validate().map_err(|e| e.to_string())?;

    let seeds: Vec<u64> = (a.seed..a.seed + a.seeds).collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(seeds.len());
    let progress = crate::progress::bar(a.json, seeds.len() as u64, &format!("simulating {} nodes", a.nodes));
    for chunk in seeds.chunks(threads) {
        let done: Vec<Report> = std::thread::scope(|s| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|&seed| {
                    let cfg = ScenarioConfig { seed, ..base.clone() };
                    s.spawn(move || sim::run(scenario, &cfg))
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("simulation thread panicked")).collect()
        });
        progress.inc(chunk.len() as u64);
        progress.suspend(|| done.iter().for_each(|r| print_report(r, a.json)));
    }
    progress.finish_and_clear();
    Ok(())
}

fn opt(v: Option<f64>) -> String {
    v.map_or("-".into(), |x| format!("{x:.4}"))
}

fn print_report(r: &Report, json: bool) {
    if json {
        println!("{}", serde_json::to_string(r).expect("report serialises"));
        return;
    }
    println!(
        "{}{} nodes={} seed={} fail={:.2} delivered={:.4} first={} healed={} reach={:.4} rmr={:.3} ldh={:.1} p50={:.0}ms p99={:.0}ms dup={} author_first={:.3} handoffs={:.2} active={:.2} tree={:?} events={} sim={:.1}s wall={:.2}s",
        r.scenario,
        r.mode.as_ref().map(|m| format!("/{m}")).unwrap_or_default(),
        r.nodes,
        r.seed,
        r.fail_fraction,
        r.delivered,
        opt(r.first_delivered),
        opt(r.healed_delivered),
        r.reach_limit,
        r.rmr,
        r.ldh,
        r.latency_ms_p50,
        r.latency_ms_p99,
        r.double_deliveries,
        r.author_first,
        r.handoffs_per_message,
        r.active_view_mean,
        r.tree,
        r.events,
        r.sim_seconds,
        r.wall_seconds
    );
}
