//! `hypar chat`, `hypar relay` and `hypar keygen`: a line-based chat on
//! one topic, a relay and bootstrap node, and the identity files they keep.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
    /// `neighbor_down`, `bootstrap_failed`, `reachability`,
    /// `relay_reserved` then `addrs`, `relay_lost`, `direct`, `error`,
    /// `stats`), each with `t`, the Unix time in milliseconds. A stdin line
    /// `/stats` prints the topic's counters and the network's links.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    reach: ReachArgs,
}

/// How a node is found and reached: LAN discovery, relays, NAT.
#[derive(Args)]
pub(crate) struct ReachArgs {
    /// Find members on the local network with mDNS: nodes on one LAN that
    /// join the same topic need no bootstrap address.
    #[arg(long)]
    mdns: bool,
    /// Offer relay service to nodes behind NAT (circuit relay v2).
    #[arg(long)]
    relay_server: bool,
    /// An address at which this node is publicly reachable (repeatable),
    /// such as /ip4/203.0.113.7/tcp/4001: announced to peers at once.
    #[arg(long, value_parser = parse_addr)]
    external_addr: Vec<Multiaddr>,
    /// Count private address ranges as public when probing reachability
    /// (for test beds that play the internet on private addresses).
    #[arg(long)]
    private_is_public: bool,
    /// Map a port on the local router with UPnP.
    #[arg(long)]
    upnp: bool,
}

impl ReachArgs {
    fn config(&self, listen: &[Multiaddr]) -> NetworkConfig {
        let mut config = NetworkConfig {
            mdns: self.mdns,
            relay_server: self.relay_server,
            external_addrs: self.external_addr.clone(),
            private_is_public: self.private_is_public,
            upnp: self.upnp,
            ..NetworkConfig::default()
        };
        if !listen.is_empty() {
            config.listen = listen.to_vec();
        }
        config
    }
}

#[derive(Args)]
pub(crate) struct RelayArgs {
    /// Where to listen (repeatable). Default: TCP and QUIC on every IPv4
    /// interface, ports chosen by the system; give fixed ports for a
    /// server others bootstrap from.
    #[arg(long, value_parser = parse_addr)]
    listen: Vec<Multiaddr>,
    /// Identity file: used if it exists, created otherwise, so the node's
    /// addresses stay the same across restarts.
    #[arg(long)]
    key: Option<PathBuf>,
    /// A topic to join, so that the relay is also a bootstrap node for it
    /// (repeatable).
    #[arg(long)]
    topic: Vec<String>,
    /// An address at which this node is publicly reachable (repeatable).
    #[arg(long, value_parser = parse_addr)]
    external_addr: Vec<Multiaddr>,
    /// Count private address ranges as public (test beds).
    #[arg(long)]
    private_is_public: bool,
    /// One JSON object per line on stdout, as `hypar chat --json`.
    #[arg(long)]
    json: bool,
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
    let net = Arc::new(Network::new(a.reach.config(&a.listen), keypair).map_err(|e| e.to_string())?);
    let output = Arc::new(Output { json: a.json, stdout: std::sync::Mutex::new(std::io::stdout()) });
    announce(&net, &output, "ready");
    // Subscribed before joining: the join's first events are not missed.
    let events = net.events();
    let mut topic = net.join(topic::Config::new(a.topic.clone(), a.bootstrap.clone())).map_err(|e| e.to_string())?;
    let publisher = topic.publisher();

    // Received lines go to stdout; events to stderr (or all to stdout as JSON).
    let out = output.clone();
    let printer = std::thread::spawn(move || {
        while let Some(m) = futures::executor::block_on(topic.recv_with_hops()) {
            out.message(&m);
        }
    });
    let (events_net, out) = (net.clone(), output.clone());
    std::thread::spawn(move || print_events(&events_net, events, &out));
    // Lines typed before the first neighbour is there wait in the topic's
    // publish buffer and go out once it is.
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| format!("reading stdin: {e}"))?;
        if a.json && line == "/stats" {
            match publisher.stats().and_then(|t| Ok((t, net.stats()?))) {
                Ok((t, n)) => {
                    let mut record = stats_json(&t);
                    record["reachability"] = format!("{:?}", n.reachability).to_lowercase().into();
                    record["relayed_links"] = n.relayed_links.into();
                    record["direct_links"] = n.direct_links.into();
                    record["relay"] = n.relay.map(|p| p.to_string()).into();
                    output.record("stats", record)
                }
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

/// Print this node's peer id and addresses (a `kind` record in JSON).
fn announce(net: &Network, output: &Output, kind: &str) {
    let addrs: Vec<String> = net.listen_addrs().iter().map(|a| a.to_string()).collect();
    output.record(kind, serde_json::json!({"peer_id": net.peer_id().to_string(), "addrs": addrs}));
    if !output.json {
        eprintln!("peer id {}", net.peer_id());
        eprintln!("others can join with --bootstrap and one of:");
        for addr in &addrs {
            eprintln!("  {addr}");
        }
    }
}

/// Print the network's events until it shuts down. A new relay
/// reservation changes the addresses: they are printed again (`addrs`).
fn print_events(net: &Network, mut events: hypar::Events, out: &Output) {
    while let Some(e) = events.recv_blocking() {
        let (text, kind, fields) = match e.kind {
            EventKind::NeighborUp(p) => {
                (format!("* {p} joined"), "neighbor_up", serde_json::json!({"peer": p.to_string()}))
            }
            EventKind::NeighborDown(p) => {
                (format!("* {p} left"), "neighbor_down", serde_json::json!({"peer": p.to_string()}))
            }
            EventKind::BootstrapFailed => {
                ("* no bootstrap peer answered yet; retrying".into(), "bootstrap_failed", serde_json::json!({}))
            }
            EventKind::ReachabilityChanged(r) => {
                let r = format!("{r:?}").to_lowercase();
                (format!("* reachability: {r}"), "reachability", serde_json::json!({"reachability": r}))
            }
            EventKind::RelayReserved(p) => {
                out.note(
                    format!("* reserved a slot on relay {p}"),
                    "relay_reserved",
                    serde_json::json!({"relay": p.to_string()}),
                );
                announce(net, out, "addrs");
                continue;
            }
            EventKind::RelayLost(p) => {
                (format!("* lost the slot on relay {p}"), "relay_lost", serde_json::json!({"relay": p.to_string()}))
            }
            EventKind::DirectConnection(p) => {
                (format!("* direct connection to {p}"), "direct", serde_json::json!({"peer": p.to_string()}))
            }
            _ => continue,
        };
        out.note(text, kind, fields);
    }
}

/// `hypar relay`: a public node that offers relay service (and is a
/// bootstrap node for the topics given) until it is stopped.
pub(crate) fn relay(a: RelayArgs) -> Result<(), String> {
    let keypair = match &a.key {
        Some(path) => load_or_create(path)?,
        None => Keypair::generate(),
    };
    let reach = ReachArgs {
        mdns: false,
        relay_server: true,
        external_addr: a.external_addr.clone(),
        private_is_public: a.private_is_public,
        upnp: false,
    };
    let net = Network::new(reach.config(&a.listen), keypair).map_err(|e| e.to_string())?;
    let events = net.events();
    let output = Output { json: a.json, stdout: std::sync::Mutex::new(std::io::stdout()) };
    let _topics: Vec<topic::Topic> = a
        .topic
        .iter()
        .map(|t| net.join(topic::Config::new(t.clone(), vec![])))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    announce(&net, &output, "ready");
    if !a.json {
        eprintln!("relaying for nodes behind NAT; stop with Ctrl-C");
    }
    print_events(&net, events, &output);
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
