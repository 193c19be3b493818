//! The errors every foreign caller can see, in one place: a stable kind and
//! a message that says what was wrong and with which value. The C ABI maps
//! the kind to a `hypar_result` code, uniffi to an exception type.

use hypar::Error;

/// What kind of failure. Each kind has a stable C code and a uniffi
/// exception; new kinds are only ever appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A required pointer argument was NULL (C only).
    NullArgument,
    /// A malformed argument: bad UTF-8, a bad multiaddr, a bad key.
    InvalidArgument,
    /// The message with its framing exceeds the maximum message size.
    MessageTooLarge,
    /// An output buffer is too small (C only).
    BufferTooSmall,
    /// The network has shut down, or the topic was left.
    ShutDown,
    /// An internal error (a bug) caught at the boundary.
    Panic,
    /// A configuration value out of range.
    InvalidConfig,
    /// A listen address could not be bound.
    Listen,
    /// The topic is already joined on this network.
    AlreadyJoined,
    /// Too many publishes wait for the network thread; retry later.
    QueueFull,
    /// The network thread could not start or run.
    Runtime,
    /// The handle was created in the parent of this `fork`ed process.
    Forked,
}

/// A failure on its way to a foreign caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignError {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// What was wrong, and with which value.
    pub message: String,
}

impl ForeignError {
    /// A failure of `kind` described by `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ForeignError { kind, message: message.into() }
    }

    /// The argument called `arg` was NULL.
    pub fn null(arg: &str) -> Self {
        Self::new(ErrorKind::NullArgument, format!("argument `{arg}` is NULL"))
    }

    /// A malformed argument.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }

    /// A library thread could not be started.
    pub(crate) fn thread(what: &str, e: std::io::Error) -> Self {
        Self::new(ErrorKind::Runtime, format!("cannot start the {what} thread: {e}"))
    }
}

impl std::fmt::Display for ForeignError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ForeignError {}

impl From<Error> for ForeignError {
    fn from(e: Error) -> Self {
        let kind = match e {
            Error::MessageTooLarge { .. } => ErrorKind::MessageTooLarge,
            Error::ShutDown => ErrorKind::ShutDown,
            Error::InvalidMultiaddr { .. } | Error::InvalidKeypair(_) | Error::NotNeighbor { .. } => {
                ErrorKind::InvalidArgument
            }
            Error::InvalidConfig(_) => ErrorKind::InvalidConfig,
            Error::Listen { .. } => ErrorKind::Listen,
            Error::AlreadyJoined(_) => ErrorKind::AlreadyJoined,
            Error::QueueFull { .. } | Error::LinkCongested { .. } => ErrorKind::QueueFull,
            Error::Runtime(_) => ErrorKind::Runtime,
            Error::Forked => ErrorKind::Forked,
            // `Error` is non-exhaustive: a kind added to the core without a
            // foreign kind yet surfaces as a runtime failure with its text.
            _ => ErrorKind::Runtime,
        };
        ForeignError::new(kind, e.to_string())
    }
}
