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

pub use config::{
    NetworkConfig, FALLBACK_DNS_SERVERS, RELAY_CIRCUIT_BYTES, RELAY_CIRCUIT_DURATION, RELAY_MAX_CIRCUITS,
};
pub use error::Error;
pub use event::{Event, EventKind, Events, Reachability, Stats, TopicStats};
pub use keypair::Keypair;
pub use libp2p::{multiaddr, Multiaddr, PeerId};
pub use network::Network;
pub use process::BornIn;
pub use topic::{Publisher, Received, Topic, Validator, Verdict};

/// Entry points for the fuzz targets in `fuzz/`; not a public API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    use bytes::Bytes;
    use hypar_proto::{wire, Auth, Gossip, TopicId};
    use libp2p::identity;

    use crate::PeerId;

    /// The topic every fuzzed message belongs to.
    pub fn topic() -> TopicId {
        TopicId::from_name("fuzz")
    }

    /// An Ed25519 key made from one byte.
    pub struct Key(identity::Keypair);

    impl Key {
        /// The key whose secret is 32 copies of `seed`.
        pub fn from_seed(seed: u8) -> Key {
            Key(identity::Keypair::ed25519_from_bytes([seed; 32]).expect("32 bytes"))
        }

        /// Its peer id.
        pub fn peer_id(&self) -> PeerId {
            self.0.public().to_peer_id()
        }
    }

    /// Message `seq` of session 1 of `key`'s node, published at `time_ms`.
    pub fn sign(key: &Key, seq: u64, time_ms: u64, payload: Bytes) -> Gossip<PeerId> {
        let origin = key.peer_id();
        let signed = wire::signed_bytes(&topic(), &origin, 1, seq, 0, time_ms, &payload);
        let signature = Bytes::from(key.0.sign(&signed).expect("Ed25519 signs"));
        Gossip::new(origin, 1, seq, 1, 0, payload).with_auth(Auth { time_ms, signature })
    }

    /// Whether each message is genuine, checked as one batch.
    pub fn verify_batch(messages: &[Gossip<PeerId>]) -> Vec<bool> {
        crate::runtime::verify_signatures(&topic(), messages)
    }

    /// Whether `message` is genuine, checked alone.
    pub fn verify_one(message: &Gossip<PeerId>) -> bool {
        verify_batch(std::slice::from_ref(message))[0]
    }
}

/// Hash maps on the per-frame and per-message paths: a fast hasher, seeded
/// per process.
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
