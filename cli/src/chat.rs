//! `hypar chat` and `hypar keygen`: a line-based chat on one topic, and the
//! identity files it can keep.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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

pub(crate) fn run(a: ChatArgs) -> Result<(), String> {
    let keypair = match &a.key {
        Some(path) => load_or_create(path)?,
        None => Keypair::generate(),
    };
    let mut config = NetworkConfig::default();
    if !a.listen.is_empty() {
        config.listen = a.listen.clone();
    }
    let net = Network::new(config, keypair).map_err(|e| e.to_string())?;
    let mut events = net.events();
    eprintln!("peer id {}", net.peer_id());
    eprintln!("others can join with --bootstrap and one of:");
    for addr in net.listen_addrs() {
        eprintln!("  {addr}");
    }
    let mut topic = net.join(topic::Config::new(a.topic.clone(), a.bootstrap.clone())).map_err(|e| e.to_string())?;
    let publisher = topic.publisher();

    // Received lines go to stdout; events to stderr.
    let printer = std::thread::spawn(move || {
        let stdout = std::io::stdout();
        while let Some(m) = topic.recv_blocking() {
            let mut out = stdout.lock();
            let _ = out.write_all(&m);
            let _ = out.write_all(b"\n");
            let _ = out.flush();
        }
    });
    let joined = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = joined.clone();
    std::thread::spawn(move || {
        while let Some(e) = events.recv_blocking() {
            match e.kind {
                EventKind::NeighborUp(p) => {
                    flag.store(true, std::sync::atomic::Ordering::Release);
                    eprintln!("* {p} joined");
                }
                EventKind::NeighborDown(p) => eprintln!("* {p} left"),
                EventKind::BootstrapFailed => eprintln!("* no bootstrap peer answered yet; retrying"),
                _ => {}
            }
        }
    });
    // With bootstrap peers, wait (briefly) for a neighbour so that the first
    // lines are not sent into the void.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !a.bootstrap.is_empty() && !joined.load(std::sync::atomic::Ordering::Acquire) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }

    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| format!("reading stdin: {e}"))?;
        if let Err(e) = publisher.gossip(line.into_bytes()) {
            eprintln!("not sent: {e}");
        }
    }
    drop(publisher);
    net.shutdown();
    let _ = printer.join();
    Ok(())
}
