//! The `hypar` command.

mod bench;
mod gossipsub_node;
mod measure;
mod sim;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "hypar", version, about = "Peer-to-peer topic gossip: HyParView + Plumtree")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the deterministic protocol simulator.
    Sim(sim::SimArgs),
    /// Benchmark real nodes over loopback, side by side with gossipsub.
    Bench(bench::BenchArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Sim(args) => sim::run(args),
        Command::Bench(args) => bench::run(args),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
