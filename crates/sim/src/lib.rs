//! A deterministic discrete-event simulator that drives the protocol core
//! ([`hypar_proto`]) for thousands of nodes in one thread.
//!
//! Nodes are integers. Messages are handed over as values (no encoding), each
//! after its link's latency, which is fixed per pair of nodes and drawn
//! uniformly from `[latency_min, latency_max]` by hashing the pair with the
//! seed; links are therefore FIFO like TCP connections. A send to a dead node
//! fails back to the sender after a round trip (connection refused); a send
//! across a partition fails after `dial_timeout`. When a node dies, the peers
//! holding it in their active view see the connection close after one link
//! latency. Everything, including the protocol's randomness, derives from the
//! seed: the same seed gives the same run.

mod engine;
mod scenario;

pub use engine::{LinkModel, Sim, TreeShape};
pub use scenario::{run, Report, Scenario, ScenarioConfig, SenderMode};
