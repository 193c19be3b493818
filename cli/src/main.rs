//! The `hypar` command.

mod bench;
mod chat;
mod demo;
mod gossipsub_node;
mod measure;
mod plot;
mod progress;
mod sim;
mod soak;
mod throughput;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "hypar", version, about = "Peer-to-peer topic gossip: HyParView + Plumtree")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a local swarm of real nodes, gossip from random senders, and
    /// report delivery, latency, redundancy and view sizes (with a plot).
    Demo(demo::DemoArgs),
    /// Chat on a topic: lines from stdin are gossiped, received lines printed.
    Chat(chat::ChatArgs),
    /// Write a new identity (Ed25519 keypair) to a file.
    Keygen(chat::KeygenArgs),
    /// Run a public node that relays for nodes behind NAT, and prints its
    /// addresses; with --topic, also a bootstrap node for those topics.
    Relay(chat::RelayArgs),
    /// Run the deterministic protocol simulator.
    Sim(sim::SimArgs),
    /// Benchmark real nodes over loopback, side by side with gossipsub.
    Bench(bench::BenchArgs),
    /// Messages per second between two nodes, through the Rust API and the C ABI.
    Throughput(throughput::ThroughputArgs),
    /// Stream between a few nodes for a long time; print memory and counts.
    Soak(soak::SoakArgs),
}

fn main() {
    // Logs go to stderr, filtered by RUST_LOG (nothing without it).
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_default_env() {
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Chat(args) => chat::run(args),
        Command::Keygen(args) => chat::keygen(args),
        Command::Relay(args) => chat::relay(args),
        Command::Sim(args) => sim::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Throughput(args) => throughput::run(args),
        Command::Soak(args) => soak::run(args),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
