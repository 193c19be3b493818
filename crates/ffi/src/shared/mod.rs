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

pub use args::{parse_multiaddr, parse_multiaddrs};
pub(crate) use callback_thread::{CallbackSlot, CallbackThread};
pub use error::{ErrorKind, ForeignError};
pub use network::ForeignNetwork;
pub use records::{NetworkConfig, NetworkEvent, NetworkEventKind, NetworkStats, TopicStats};
pub use topic::{Delivery, ForeignTopic};

/// The process an object was created in. Threads of a process do not exist
/// in its `fork`ed children, so a child must neither use nor join them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BornIn(u32);

impl BornIn {
    pub(crate) fn here() -> Self {
        BornIn(std::process::id())
    }

    pub(crate) fn is_forked(self) -> bool {
        self.0 != std::process::id()
    }

    /// `Err(Forked)` in a `fork`ed child.
    pub(crate) fn check(self) -> Result<(), ForeignError> {
        if self.is_forked() {
            return Err(ForeignError::new(
                ErrorKind::Forked,
                "this handle was created in the parent process; a forked child must create its own network",
            ));
        }
        Ok(())
    }
}
