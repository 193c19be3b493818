//! hypar: peer-to-peer topic gossip. Each topic is its own HyParView overlay
//! with Plumtree broadcast on top.
//!
//! This crate currently contains the sans-IO protocol core ([`proto`]) and a
//! deterministic discrete-event simulator driving it ([`sim`]).

pub mod proto;
pub mod sim;
