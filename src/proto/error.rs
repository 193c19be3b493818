//! Errors of the protocol core.

use super::TopicId;

/// A configuration value out of its allowed range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid config: {field} = {value}: {reason}")]
pub struct ConfigError {
    /// The offending field, as `section.name`.
    pub field: &'static str,
    /// The value that was given, rendered.
    pub value: String,
    /// What the value must satisfy.
    pub reason: &'static str,
}

/// What a call into the protocol core can refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    /// The framed message would exceed the topic's `max_message_size`.
    #[error("message too large: {size} bytes on the wire (payload plus framing), the limit is {max}")]
    MessageTooLarge { size: usize, max: usize },
    /// The topic has not been joined (or was left).
    #[error("topic {0} is not joined")]
    NotJoined(TopicId),
    /// The topic is already joined.
    #[error("topic {0} is already joined")]
    AlreadyJoined(TopicId),
    /// The topic configuration was rejected.
    #[error(transparent)]
    Config(#[from] ConfigError),
}
