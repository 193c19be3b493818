//! Errors of the protocol core.

use std::time::Duration;

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

impl ConfigError {
    /// Longest accepted duration of any timer or age.
    pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

    /// `Ok` if `ok`, else the error naming `field`, its `value` and the rule
    /// it broke.
    pub fn check(ok: bool, field: &'static str, value: impl ToString, reason: &'static str) -> Result<(), ConfigError> {
        if ok {
            Ok(())
        } else {
            Err(ConfigError { field, value: value.to_string(), reason })
        }
    }

    /// `Ok` if `d` is between 1 ms and [`ConfigError::MAX_DURATION`].
    pub fn check_duration(field: &'static str, d: Duration) -> Result<(), ConfigError> {
        let value = format!("{}ms", d.as_millis());
        Self::check(d >= Duration::from_millis(1), field, &value, "must be at least 1ms")?;
        Self::check(d <= Self::MAX_DURATION, field, value, "must be at most 24h")
    }
}

/// What a call into the protocol core can refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    /// The framed message would exceed the topic's `max_message_size`.
    #[error("message too large: {size} bytes on the wire (payload plus framing), the limit is {max}")]
    MessageTooLarge {
        /// The frame's size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The topic has not been joined (or was left).
    #[error("topic {0} is not joined")]
    NotJoined(TopicId),
    /// The topic is already joined.
    #[error("topic {0} is already joined")]
    AlreadyJoined(TopicId),
    /// The topic configuration was rejected.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A direct message's peer is not a neighbour this node tells in the
    /// topic.
    #[error("the peer is not a neighbour this node tells in topic {0}")]
    NotNeighbor(TopicId),
    /// The topic is signed and no signer was given (`State::set_signer`).
    #[error("topic {0} is signed, and this node has no signer")]
    NoSigner(TopicId),
}
