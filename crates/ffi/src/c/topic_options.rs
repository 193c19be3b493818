//! The C builder of a topic's options, messages as C sees them, and
//! validators.

use std::ffi::{c_char, c_void, CString};

use hypar::Received;

use super::boundary::boundary;
use super::handles::{take_box, to_box_ptr, try_mut, Castable, OwnershipBox, UserData};
use super::hypar_result;
use crate::shared::{ForeignError, TopicOptions, Validator, Verdict};

/// How to join a topic, for `hypar_network_join_with`. Create with
/// `hypar_topic_options_new`; release with `hypar_topic_options_free` (also
/// after it was used: a join copies what it needs). One set of options may
/// serve several joins. Not thread-safe: use one from one thread at a time.
pub struct hypar_topic_options {
    _private: [u8; 0],
}

/// What `hypar_topic_options` holds.
#[derive(Default)]
pub(crate) struct CTopicOptions {
    pub(crate) options: TopicOptions,
    pub(crate) validator: Option<(ValidatorCallback, UserData)>,
}

impl Castable for hypar_topic_options {
    type Ownership = OwnershipBox;
    type RustType = CTopicOptions;
}

/// A validator's verdict on a message: one of the `HYPAR_VERDICT_*` values.
/// Any other value counts as `HYPAR_VERDICT_IGNORE`.
pub type hypar_verdict = u32;
/// Deliver the message and relay it.
pub const HYPAR_VERDICT_ACCEPT: hypar_verdict = 0;
/// Drop the message and penalise the neighbour that sent it: the message
/// breaks the topic's rules, and honest peers would not relay it.
pub const HYPAR_VERDICT_REJECT: hypar_verdict = 1;
/// Drop the message, blaming nobody.
pub const HYPAR_VERDICT_IGNORE: hypar_verdict = 2;

/// A message handed to a callback. Everything it points to is valid only
/// during the call: copy what you keep.
#[repr(C)]
pub struct hypar_message {
    /// The payload, `len` bytes. NOT NUL-terminated: copy it before using
    /// string functions on it.
    pub data: *const u8,
    /// The payload's length in bytes.
    pub len: usize,
    /// The publisher's peer id as a NUL-terminated string, verified by its
    /// signature, in a signed topic; NULL in an unsigned topic.
    pub origin: *const c_char,
    /// Overlay hops the message travelled: 1 when it came straight from its
    /// publisher.
    pub hops: u16,
}

pub(crate) type ValidatorCallback = extern "C" fn(*mut c_void, *const hypar_message) -> hypar_verdict;

/// Call `f` with `message` as C sees it, valid during the call.
pub(crate) fn with_c_message<R>(
    payload: &[u8],
    origin: Option<&str>,
    hops: u16,
    f: impl FnOnce(&hypar_message) -> R,
) -> R {
    // A peer id never holds a NUL.
    let origin = origin.and_then(|o| CString::new(o).ok());
    let message = hypar_message {
        data: payload.as_ptr(),
        len: payload.len(),
        origin: origin.as_ref().map_or(std::ptr::null(), |o| o.as_ptr()),
        hops,
    };
    f(&message)
}

/// Call `deliver(userdata, message)` for a message received.
pub(crate) fn deliver_c(deliver: extern "C" fn(*mut c_void, *const hypar_message), userdata: UserData, m: &Received) {
    let origin = m.origin.map(|p| p.to_string());
    with_c_message(&m.payload, origin.as_deref(), m.hops, |c| deliver(userdata.0, c));
}

impl CTopicOptions {
    /// The validator for the shared layer, if one is set.
    pub(crate) fn validator(&self) -> Option<Validator> {
        let (validate, userdata) = self.validator?;
        Some(Box::new(move |m| {
            let userdata = userdata;
            let verdict = with_c_message(&m.data, m.origin.as_deref(), m.hops, |c| validate(userdata.0, c));
            match verdict {
                HYPAR_VERDICT_ACCEPT => Verdict::Accept,
                HYPAR_VERDICT_REJECT => Verdict::Reject,
                _ => Verdict::Ignore,
            }
        }))
    }
}

/// Change the options behind `options`.
///
/// # Safety
/// `options` is NULL or live options used by no other thread.
unsafe fn edit(
    options: *mut hypar_topic_options,
    change: impl FnOnce(&mut CTopicOptions) -> Result<(), ForeignError>,
) -> hypar_result {
    // SAFETY: the caller's contract.
    boundary(|| change(unsafe { try_mut(options, "options")? }))
}

/// Options with the defaults: a signed topic, no validator, validators
/// given 2000 ms per message. Release with `hypar_topic_options_free`.
/// Never returns NULL unless memory is exhausted.
#[no_mangle]
pub extern "C" fn hypar_topic_options_new() -> *mut hypar_topic_options {
    boundary(|| to_box_ptr::<hypar_topic_options>(CTopicOptions::default()))
}

/// Whether every message carries its publisher's Ed25519 signature,
/// checked by every receiver (the default, `true`). Signed messages tell who
/// published them (`hypar_message.origin`), cannot be altered by a relay,
/// and cannot be replayed later with a forged age; they cost about 80 bytes
/// each and a signature check per message received. Every member of a
/// topic must agree: a signed node refuses unsigned messages.
///
/// # Safety
/// `options` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn hypar_topic_options_set_signed(
    options: *mut hypar_topic_options,
    signed_: bool,
) -> hypar_result {
    // SAFETY: the function's contract.
    unsafe {
        edit(options, |o| {
            o.options.signed = signed_;
            Ok(())
        })
    }
}

/// Judge every new message with `validator(userdata, message)` before it is
/// delivered or relayed (in a signed topic, after its signature was
/// checked). It returns `HYPAR_VERDICT_ACCEPT`, `_REJECT` or `_IGNORE`.
/// While it decides, the message is held: not delivered, relayed or
/// announced. Calls come one at a time, on a thread the library owns for
/// the topic (never the network's thread, never the caller's); `message`
/// is valid only during the call. A call that takes longer than the
/// validation timeout counts as `_IGNORE` (and the messages behind it wait).
/// `validator` NULL removes the validator.
///
/// # Safety
/// `options` is NULL or live; `userdata` must be usable from the library's
/// threads.
#[no_mangle]
pub unsafe extern "C" fn hypar_topic_options_set_validator(
    options: *mut hypar_topic_options,
    validator: Option<extern "C" fn(userdata: *mut c_void, message: *const hypar_message) -> hypar_verdict>,
    userdata: *mut c_void,
) -> hypar_result {
    // SAFETY: the function's contract.
    unsafe {
        edit(options, |o| {
            o.validator = validator.map(|v| (v, UserData(userdata)));
            Ok(())
        })
    }
}

/// Milliseconds a validator may take per message before the message is
/// ignored (default 2000; between 1 and 86400000).
///
/// # Safety
/// `options` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn hypar_topic_options_set_validation_timeout_ms(
    options: *mut hypar_topic_options,
    ms: u64,
) -> hypar_result {
    // SAFETY: the function's contract.
    unsafe {
        edit(options, |o| {
            o.options.validation_timeout_ms = Some(ms);
            Ok(())
        })
    }
}

/// Release options. NULL is ignored.
///
/// # Safety
/// `options` is NULL or live options not used again afterwards.
#[no_mangle]
pub unsafe extern "C" fn hypar_topic_options_free(options: *mut hypar_topic_options) {
    // SAFETY: the function's contract.
    boundary(|| drop(unsafe { take_box(options) }))
}
