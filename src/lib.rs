#![doc = include_str!("../README.md")]
//!
//! ## Modules
//!
//! - [`proto`]: the sans-IO protocol core (HyParView + Plumtree per topic) and
//!   its wire codec.
//! - [`sim`]: a deterministic discrete-event simulator driving [`proto`].

pub mod proto;
pub mod sim;
