//! A topic bridge: joins two topics and republishes what arrives on one into
//! the other (both ways with `--both`).
//!
//! ```sh
//! cargo run --example bridge -- <topic-a> <topic-b> [--both] [bootstrap-multiaddr...]
//! ```
//!
//! A node never receives its own messages, so one bridge cannot loop; two
//! bidirectional bridges between the same topics would echo each other's
//! messages forever, since each republished copy is a new message.

use hypar::{topic, Keypair, Network, NetworkConfig, Topic};

/// Republish everything `from` delivers into `to`, until the network stops.
async fn forward(mut from: Topic, to: Topic) {
    while let Some(payload) = from.recv().await {
        if let Err(e) = to.gossip(payload) {
            eprintln!("bridge {} -> {}: {e}", from.name(), to.name());
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let both = args.iter().any(|a| a == "--both");
    args.retain(|a| a != "--both");
    if args.len() < 2 {
        eprintln!("usage: bridge <topic-a> <topic-b> [--both] [bootstrap-multiaddr...]");
        std::process::exit(2);
    }
    let bootstrap = args[2..].iter().map(|a| a.parse()).collect::<Result<Vec<_>, _>>()?;
    let net = Network::new(NetworkConfig::default(), Keypair::generate())?;
    for addr in net.listen_addrs() {
        println!("listening on {addr}");
    }
    let a = net.join_async(topic::Config::new(&args[0], bootstrap.clone())).await?;
    let b = net.join_async(topic::Config::new(&args[1], bootstrap)).await?;
    if both {
        let (a2, b2) = (a.clone(), b.clone());
        tokio::spawn(forward(b2, a2));
    }
    forward(a, b).await;
    Ok(())
}
