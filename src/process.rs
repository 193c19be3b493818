//! Which process created a value. A `fork`ed child is another process, in
//! which the parent's threads (the network thread, callback threads) do not
//! exist: a value created in the parent must neither use nor join them there.

/// The process a value was created in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BornIn(u32);

impl BornIn {
    /// The calling process.
    pub fn here() -> Self {
        BornIn(std::process::id())
    }

    /// Whether the calling process is a `fork` of the one this was made in.
    pub fn is_forked(self) -> bool {
        self.0 != std::process::id()
    }
}
