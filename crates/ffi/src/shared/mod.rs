//! The one foreign layer beneath the C ABI and the uniffi exports. Each
//! thing both faces need is written here once: the error kinds, the plain
//! records (configuration, events, counters), argument parsing, callback
//! threads, and the network and topic objects with their join, delivery,
//! leave and shutdown rules. A face only maps these to its own types.

mod args;
mod callback_thread;
mod error;
mod network;
mod records;
mod topic;

pub use args::{parse_ips, parse_multiaddr, parse_multiaddrs};
pub(crate) use callback_thread::{CallbackSlot, CallbackThread};
pub use error::{ErrorKind, ForeignError};
pub use network::ForeignNetwork;
pub use records::{
    Message, NetworkConfig, NetworkEvent, NetworkEventKind, NetworkStats, Reachability, TopicOptions, TopicStats,
    Verdict,
};
pub use topic::{Delivery, ForeignTopic, Validator};
