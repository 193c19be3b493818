#![doc = include_str!("../README.md")]
//!
//! ## Modules
//!
//! - [`Network`], [`Topic`], [`Keypair`], [`Config`], [`Event`], [`Stats`]:
//!   the API.
//! - [`proto`]: the sans-IO protocol core (HyParView + Plumtree per topic) and
//!   its wire codec.
//! - [`sim`]: a deterministic discrete-event simulator driving [`proto`].

/// cbindgen:ignore
pub mod bindings;
mod config;
mod delivery;
mod error;
mod event;
#[doc(hidden)]
pub mod ffi;
mod keypair;
/// cbindgen:ignore
pub(crate) mod net;
mod network;
/// cbindgen:ignore
pub mod proto;
mod runtime;
/// cbindgen:ignore
pub mod sim;
pub mod topic;

uniffi::setup_scaffolding!();

pub use config::Config;
pub use error::Error;
pub use event::{Event, EventKind, Events, Stats, TopicStats};
pub use keypair::Keypair;
pub use libp2p::{Multiaddr, PeerId};
pub use network::Network;
pub use topic::{Publisher, Received, Topic};
