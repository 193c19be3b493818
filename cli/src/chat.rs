//! `hypar chat` and `hypar keygen`: a line-based chat on one topic, and the
//! identity files it can keep.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use clap::Args;
use hypar::{topic, EventKind, Keypair, Multiaddr, Network, NetworkConfig};

#[derive(Args)]
pub(crate) struct ChatArgs {
    /// The topic to join.
    #[arg(long)]
    topic: String,
    /// A member to join through, such as /ip4/192.0.2.7/tcp/4001/p2p/12D3KooW…
    /// (repeatable). Without one, this node starts the topic for others.
    #[arg(long, value_parser = parse_addr)]
    bootstrap: Vec<Multiaddr>,
    /// Where to listen (repeatable). Default: TCP and QUIC on every IPv4
    /// interface, ports chosen by the system.
    #[arg(long, value_parser = parse_addr)]
    listen: Vec<Multiaddr>,
    /// Identity file: used if it exists, created otherwise, so the peer id
    /// stays the same across runs.
    #[arg(long)]
    key: Option<PathBuf>,
    /// Machine-readable output: one JSON object per line on stdout for
    /// everything that happens (`ready`, `message`, `neighbor_up`,
    /// `neighbor_down`, `bootstrap_failed`, `error`, `stats`), each with `t`,
    /// the Unix time in milliseconds. A stdin line `/stats` prints the
    /// topic's counters.
    #[arg(long)]
    json: bool,
    /// Find members on the local network with mDNS: nodes on one LAN that
    /// join the same topic need no bootstrap address.
    #[arg(long)]
    mdns: bool,
}

#[derive(Args)]
pub(crate) struct KeygenArgs {
    /// The file to write (created with permissions 0600).
    #[arg(long, short)]
    out: PathBuf,
    /// Replace the file if it exists.
    #[arg(long)]
    force: bool,
}

fn parse_addr(s: &str) -> Result<Multiaddr, String> {
    s.parse().map_err(|e| {
        format!("{s:?} is not a multiaddr ({e}); expected something like /ip4/192.0.2.7/tcp/4001/p2p/12D3KooW…")
    })
}

fn write_key(path: &Path, key: &Keypair, replace: bool) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .create_new(!replace)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    file.write_all(&key.to_bytes()).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The identity in `path`, created there first if the file does not exist.
fn load_or_create(path: &Path) -> Result<Keypair, String> {
    match std::fs::read(path) {
        Ok(bytes) => Keypair::from_bytes(&bytes).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = Keypair::generate();
            write_key(path, &key, false)?;
            eprintln!("created identity file {}", path.display());
            Ok(key)
        }
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

pub(crate) fn keygen(a: KeygenArgs) -> Result<(), String> {
    let key = Keypair::generate();
    write_key(&a.out, &key, a.force).map_err(|e| {
        if a.out.exists() && !a.force {
            format!("{} already exists; pass --force to replace it", a.out.display())
        } else {
            e
        }
    })?;
    println!("{}", key.peer_id());
    Ok(())
}

/// Where the chat's output goes: plain text, or one JSON object per line.
struct Output {
    json: bool,
    stdout: std::sync::Mutex<std::io::Stdout>,
}

impl Output {
    /// Milliseconds since the Unix epoch.
    fn now_ms() -> f64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64() * 1e3)
    }

    /// Print a JSON record of `kind` with `fields` (in JSON mode only).
    fn record(&self, kind: &str, mut fields: serde_json::Value) {
        if !self.json {
            return;
        }
        fields["type"] = kind.into();
        fields["t"] = Self::now_ms().into();
        let mut out = self.stdout.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(out, "{fields}");
        let _ = out.flush();
    }

    /// A received message: its bytes on a line, or a `message` record.
    fn message(&self, m: &hypar::Received) {
        if self.json {
            let data = String::from_utf8_lossy(&m.payload);
            self.record("message", serde_json::json!({"data": data, "hops": m.hops}));
        } else {
            let mut out = self.stdout.lock().unwrap_or_else(|e| e.into_inner());
            let _ = out.write_all(&m.payload);
            let _ = out.write_all(b"\n");
            let _ = out.flush();
        }
    }

    /// Something for the person at the terminal, or a record.
    fn note(&self, text: String, kind: &str, fields: serde_json::Value) {
        if self.json {
            self.record(kind, fields);
        } else {
            eprintln!("{text}");
        }
    }
}

pub(crate) fn run(a: ChatArgs) -> Result<(), String> {
    let keypair = match &a.key {
        Some(path) => load_or_create(path)?,
        None => Keypair::generate(),
    };
    let mut config = NetworkConfig { mdns: a.mdns, ..NetworkConfig::default() };
    if !a.listen.is_empty() {
        config.listen = a.listen.clone();
    }
    let net = Network::new(config, keypair).map_err(|e| e.to_string())?;
    let mut events = net.events();
    let output = std::sync::Arc::new(Output { json: a.json, stdout: std::sync::Mutex::new(std::io::stdout()) });
    let addrs: Vec<String> = net.listen_addrs().iter().map(|a| a.to_string()).collect();
    output.record("ready", serde_json::json!({"peer_id": net.peer_id().to_string(), "addrs": addrs}));
    if !a.json {
        eprintln!("peer id {}", net.peer_id());
        eprintln!("others can join with --bootstrap and one of:");
        for addr in &addrs {
            eprintln!("  {addr}");
        }
    }
    let mut topic = net.join(topic::Config::new(a.topic.clone(), a.bootstrap.clone())).map_err(|e| e.to_string())?;
    let publisher = topic.publisher();

    // Received lines go to stdout; events to stderr (or all to stdout as JSON).
    let out = output.clone();
    let printer = std::thread::spawn(move || {
        while let Some(m) = futures::executor::block_on(topic.recv_with_hops()) {
            out.message(&m);
        }
    });
    let out = output.clone();
    std::thread::spawn(move || {
        while let Some(e) = events.recv_blocking() {
            match e.kind {
                EventKind::NeighborUp(p) => {
                    let peer = p.to_string();
                    out.note(format!("* {p} joined"), "neighbor_up", serde_json::json!({"peer": peer}));
                }
                EventKind::NeighborDown(p) => {
                    let peer = p.to_string();
                    out.note(format!("* {p} left"), "neighbor_down", serde_json::json!({"peer": peer}));
                }
                EventKind::BootstrapFailed => out.note(
                    "* no bootstrap peer answered yet; retrying".into(),
                    "bootstrap_failed",
                    serde_json::json!({}),
                ),
                _ => {}
            }
        }
    });
    // Lines typed before the first neighbour is there wait in the topic's
    // publish buffer and go out once it is.
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| format!("reading stdin: {e}"))?;
        if a.json && line == "/stats" {
            match publisher.stats() {
                Ok(s) => output.record("stats", stats_json(&s)),
                Err(e) => output.record("error", serde_json::json!({"error": e.to_string()})),
            }
            continue;
        }
        if let Err(e) = publisher.gossip(line.clone().into_bytes()) {
            output.note(format!("not sent: {e}"), "error", serde_json::json!({"data": line, "error": e.to_string()}));
        }
    }
    drop(publisher);
    net.shutdown();
    let _ = printer.join();
    Ok(())
}

/// A topic's counters as a JSON object.
fn stats_json(s: &hypar::TopicStats) -> serde_json::Value {
    serde_json::json!({
        "active_view": s.active_view,
        "passive_view": s.passive_view,
        "tree_links": s.tree_links,
        "grafts": s.grafts,
        "published": s.published,
        "delivered": s.delivered,
        "relayed": s.relayed,
        "duplicates": s.duplicates,
        "dropped": s.dropped,
        "bytes_in": s.bytes_in,
        "bytes_out": s.bytes_out,
    })
}
