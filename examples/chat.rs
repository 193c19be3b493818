//! Minimal chat: lines from stdin are gossiped, received lines printed.
//!
//! ```sh
//! cargo run --example chat -- <topic> [bootstrap-multiaddr...]
//! ```

use std::io::BufRead;

use hypar::{topic, Keypair, Network, NetworkConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(name) = args.first() else {
        eprintln!("usage: chat <topic> [bootstrap-multiaddr...]");
        std::process::exit(2);
    };
    let bootstrap = args[1..].iter().map(|a| a.parse()).collect::<Result<Vec<_>, _>>()?;
    let net = Network::new(NetworkConfig::default(), Keypair::generate())?;
    for addr in net.listen_addrs() {
        println!("listening on {addr}");
    }
    let mut topic = net.join(topic::Config::new(name, bootstrap))?;
    let sender = topic.clone();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if let Err(e) = sender.gossip(line.into_bytes()) {
                eprintln!("not sent: {e}");
            }
        }
    });
    while let Some(m) = topic.recv_blocking() {
        println!("{}", String::from_utf8_lossy(&m));
    }
    Ok(())
}
