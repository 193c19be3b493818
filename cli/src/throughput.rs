//! `hypar throughput`: two nodes in one process, small messages, as fast as
//! delivery keeps up, through the Rust API and through the C ABI, in
//! alternating rounds of one run so the figures compare like for like.

use std::ffi::{c_void, CStr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use hypar::{topic, EventKind, Keypair, Network, NetworkConfig};
use hypar_ffi::c::*;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Api {
    Rust,
    C,
    Both,
}

#[derive(Args)]
pub(crate) struct ThroughputArgs {
    /// Which API receives the messages.
    #[arg(long, value_enum, default_value = "both")]
    api: Api,
    /// Messages per round.
    #[arg(long, default_value_t = 100_000)]
    messages: u64,
    /// Payload bytes per message.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Rounds per API (alternating); the median is reported.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Most messages sent but not yet delivered; kept below the queues so
    /// nothing is dropped.
    #[arg(long, default_value_t = 512)]
    window: u64,
    /// Publish unsigned messages (topics are signed by default).
    #[arg(long)]
    unsigned: bool,
    /// Frames the receiver reads per second from the sender's connection
    /// (`NetworkConfig::peer_frame_rate`); 0 lifts the bound. Default: the
    /// library's default.
    #[arg(long, default_value_t = NetworkConfig::default().peer_frame_rate)]
    peer_rate: u32,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// What one round measured.
struct Round {
    per_sec: f64,
    delivered: u64,
}

const LOOPBACK: &str = "/ip4/127.0.0.1/tcp/0";

fn config(a: &ThroughputArgs) -> NetworkConfig {
    NetworkConfig {
        listen: vec![LOOPBACK.parse().expect("valid")],
        peer_frame_rate: a.peer_rate,
        ..NetworkConfig::default()
    }
}

/// Send `a.messages` through `publish`, never more than `a.window` ahead of
/// `delivered`, and time until all have arrived (or deliveries stall).
fn pump(a: &ThroughputArgs, delivered: &AtomicU64, mut publish: impl FnMut(&[u8]) -> bool) -> Round {
    let payload = vec![7u8; a.size];
    let start = Instant::now();
    let mut sent = 0;
    let mut last_progress = (Instant::now(), 0);
    while delivered.load(Ordering::Acquire) < a.messages {
        let got = delivered.load(Ordering::Acquire);
        if got != last_progress.1 {
            last_progress = (Instant::now(), got);
        } else if last_progress.0.elapsed() > Duration::from_secs(5) {
            break; // something was dropped: report what arrived
        }
        if sent < a.messages && sent - got < a.window && publish(&payload) {
            sent += 1;
        } else {
            std::thread::yield_now();
        }
    }
    let got = delivered.load(Ordering::Acquire);
    Round { per_sec: got as f64 / start.elapsed().as_secs_f64(), delivered: got }
}

fn wait_neighbour(events: &mut hypar::Events) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        match events.try_recv() {
            Some(e) if matches!(e.kind, EventKind::NeighborUp(_)) => return Ok(()),
            Some(_) => {}
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    Err("the two nodes did not connect within 20 s".into())
}

/// The Rust API: a thread blocked in `recv_blocking`, counting.
fn round_rust(a: &ThroughputArgs) -> Result<Round, String> {
    let sender = Network::new(config(a), Keypair::generate()).map_err(|e| e.to_string())?;
    let receiver = Network::new(config(a), Keypair::generate()).map_err(|e| e.to_string())?;
    let mut events = receiver.events();
    let signed = !a.unsigned;
    let out = sender.join(topic::Config::new("throughput", vec![]).signed(signed)).map_err(|e| e.to_string())?;
    let inbox = topic::Config::new("throughput", sender.listen_addrs()).signed(signed);
    let mut inbox = receiver.join(inbox).map_err(|e| e.to_string())?;
    wait_neighbour(&mut events)?;
    let delivered = Arc::new(AtomicU64::new(0));
    let counter = delivered.clone();
    let reader = std::thread::spawn(move || {
        while let Some(m) = inbox.recv_blocking() {
            std::hint::black_box(&m);
            counter.fetch_add(1, Ordering::Release);
        }
    });
    let round = pump(a, &delivered, |p| out.gossip(p.to_vec()).is_ok());
    receiver.shutdown();
    sender.shutdown();
    let _ = reader.join();
    Ok(round)
}

extern "C" fn ignore(_: *mut c_void, _: *const hypar_message) {}

extern "C" fn count(userdata: *mut c_void, message: *const hypar_message) {
    std::hint::black_box(message);
    // SAFETY: userdata is the AtomicU64 that outlives the topic (see round_c).
    unsafe { &*(userdata as *const AtomicU64) }.fetch_add(1, Ordering::Release);
}

fn check(r: hypar_result, what: &str) -> Result<(), String> {
    if r == hypar_result::HYPAR_OK {
        return Ok(());
    }
    let mut buf = [0 as std::ffi::c_char; 256];
    // SAFETY: the buffer is writable for its length; the name is static.
    let (name, detail) = unsafe {
        hypar_last_error(buf.as_mut_ptr(), buf.len());
        (CStr::from_ptr(hypar_result_name(r as i32)), CStr::from_ptr(buf.as_ptr()))
    };
    Err(format!("{what}: {name:?}: {detail:?}"))
}

/// The C ABI, called exactly as a C program would: a callback on the
/// library's delivery thread, counting.
fn round_c(a: &ThroughputArgs) -> Result<Round, String> {
    // SAFETY: every pointer passed is valid for the call; handles are freed
    // once, after the last use; `delivered` outlives the receiving topic.
    unsafe {
        let cfg = hypar_network_config_new();
        let addr = c"/ip4/127.0.0.1/tcp/0";
        check(hypar_network_config_add_listen_addr(cfg, addr.as_ptr()), "listen")?;
        let bytes_rate = NetworkConfig::default().peer_byte_rate;
        check(hypar_network_config_set_peer_rate(cfg, a.peer_rate, bytes_rate), "peer rate")?;
        let (mut sender, mut receiver) = (std::ptr::null_mut(), std::ptr::null_mut());
        check(hypar_network_new(cfg, &mut sender), "sender")?;
        check(hypar_network_new(cfg, &mut receiver), "receiver")?;
        hypar_network_config_free(cfg);
        let delivered = Arc::new(AtomicU64::new(0));
        let name = c"throughput";
        let options = hypar_topic_options_new();
        check(hypar_topic_options_set_signed(options, !a.unsigned), "options")?;
        let (mut out, mut inbox) = (std::ptr::null_mut(), std::ptr::null_mut());
        check(
            hypar_network_join_with(
                sender,
                name.as_ptr(),
                std::ptr::null(),
                0,
                options,
                Some(ignore),
                std::ptr::null_mut(),
                &mut out,
            ),
            "join",
        )?;
        let mut addrs = vec![0u8; 4096];
        let mut written = 0;
        check(hypar_network_listen_addrs(sender, addrs.as_mut_ptr().cast(), addrs.len(), &mut written), "addrs")?;
        let first = addrs.iter().position(|&b| b == b'\n' || b == 0).unwrap_or(0);
        addrs[first] = 0;
        let boot = [addrs.as_ptr().cast::<std::ffi::c_char>()];
        let userdata = Arc::as_ptr(&delivered) as *mut c_void;
        check(
            hypar_network_join_with(
                receiver,
                name.as_ptr(),
                boot.as_ptr(),
                1,
                options,
                Some(count),
                userdata,
                &mut inbox,
            ),
            "join",
        )?;
        hypar_topic_options_free(options);
        let mut stats = hypar_topic_stats::default();
        let deadline = Instant::now() + Duration::from_secs(20);
        while stats.active_view == 0 && Instant::now() < deadline {
            check(hypar_topic_get_stats(inbox, &mut stats), "stats")?;
            std::thread::sleep(Duration::from_millis(5));
        }
        let round = pump(a, &delivered, |p| hypar_topic_gossip(out, p.as_ptr(), p.len()) == hypar_result::HYPAR_OK);
        hypar_topic_free(inbox);
        hypar_topic_free(out);
        hypar_network_free(receiver);
        hypar_network_free(sender);
        Ok(round)
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub(crate) fn run(a: ThroughputArgs) -> Result<(), String> {
    if a.messages == 0 || a.rounds == 0 || a.window == 0 {
        return Err("--messages, --rounds and --window must be at least 1".into());
    }
    let apis: &[(Api, &str)] = match a.api {
        Api::Rust => &[(Api::Rust, "rust")],
        Api::C => &[(Api::C, "c")],
        Api::Both => &[(Api::Rust, "rust"), (Api::C, "c")],
    };
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); apis.len()];
    let mut lost = 0;
    for round in 0..a.rounds {
        for (i, (api, label)) in apis.iter().enumerate() {
            let r = if *api == Api::Rust { round_rust(&a)? } else { round_c(&a)? };
            lost += a.messages - r.delivered;
            if !a.json {
                eprintln!("round {}: {label:>4} {:>9.0} msg/s", round + 1, r.per_sec);
            }
            rates[i].push(r.per_sec);
        }
    }
    let medians: Vec<f64> = rates.into_iter().map(median).collect();
    if a.json {
        let mut out = serde_json::json!({"messages": a.messages, "size": a.size, "rounds": a.rounds, "signed": !a.unsigned, "peer_rate": a.peer_rate, "lost": lost});
        for ((_, label), m) in apis.iter().zip(&medians) {
            out[format!("{label}_msgs_per_sec")] = serde_json::json!(m.round());
        }
        if medians.len() == 2 {
            out["c_over_rust"] = serde_json::json!(medians[1] / medians[0]);
        }
        println!("{out}");
    } else {
        let rate = match a.peer_rate {
            0 => "no rate bound".to_string(),
            n => format!("peer rate bound {n} frames/s"),
        };
        let signing = if a.unsigned { "unsigned" } else { "signed" };
        println!("2 nodes, {} × {} B messages, {signing}, {rate}, median of {} rounds:", a.messages, a.size, a.rounds);
        for ((_, label), m) in apis.iter().zip(&medians) {
            println!("  {label:>4} API: {m:>9.0} msg/s");
        }
        if medians.len() == 2 {
            println!("  C / Rust: {:.2}", medians[1] / medians[0]);
        }
        if lost > 0 {
            println!("  warning: {lost} messages were not delivered");
        }
    }
    Ok(())
}
