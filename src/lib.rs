#![doc = include_str!("../README.md")]
//!
//! ## Modules
//!
//! - [`Network`], [`Topic`], [`Keypair`], [`NetworkConfig`], [`Event`],
//!   [`Stats`]: the API.
//! - [`proto`]: the sans-IO protocol core (HyParView + Plumtree per topic)
//!   and its wire codec, re-exported from the `hypar-proto` crate.

mod config;
mod error;
mod event;
mod keypair;
mod net;
mod network;
mod process;
mod runtime;
pub mod topic;

pub use hypar_proto as proto;

pub use config::NetworkConfig;
pub use error::Error;
pub use event::{Event, EventKind, Events, Stats, TopicStats};
pub use keypair::Keypair;
pub use libp2p::{Multiaddr, PeerId};
pub use network::Network;
pub use process::BornIn;
pub use topic::{Publisher, Received, Topic, Validator, Verdict};

/// Hash maps on the per-frame and per-message paths: a fast hasher, seeded
/// per process.
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
