//! The C builder of a topic's options, messages as C sees them, and
//! validators.

use std::ffi::{c_char, c_void, CString};

use hypar::Received;

use super::boundary::boundary;
use super::handles::{arg_strs, take_box, to_box_ptr, try_mut, Castable, OwnershipBox, UserData};
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
    /// Which of `signed`, the allow list, `hear`, `tell` and `proxy` were
    /// set: at configure only these replace the topic's (numbers left unset
    /// are kept by the shared layer).
    touched: [bool; 5],
}

/// The options whose being set is tracked (see [`CTopicOptions::touched`]).
#[derive(Clone, Copy)]
enum Touch {
    Signed = 0,
    Allow = 1,
    Hear = 2,
    Tell = 3,
    Proxy = 4,
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
    /// publisher; 0 when a neighbour handed it to this node to publish
    /// (proxy passing).
    pub hops: u16,
    /// A direct message from a neighbour (`hypar_topic_send`), not a
    /// broadcast; `origin` is then that neighbour's peer id.
    pub direct: bool,
}

pub(crate) type ValidatorCallback = extern "C" fn(*mut c_void, *const hypar_message) -> hypar_verdict;

/// Call `f` with `message` as C sees it, valid during the call.
pub(crate) fn with_c_message<R>(
    payload: &[u8],
    origin: Option<&str>,
    (hops, direct): (u16, bool),
    f: impl FnOnce(&hypar_message) -> R,
) -> R {
    // A peer id never holds a NUL.
    let origin = origin.and_then(|o| CString::new(o).ok());
    let message = hypar_message {
        data: payload.as_ptr(),
        len: payload.len(),
        origin: origin.as_ref().map_or(std::ptr::null(), |o| o.as_ptr()),
        hops,
        direct,
    };
    f(&message)
}

/// Call `deliver(userdata, message)` for a message received.
pub(crate) fn deliver_c(deliver: extern "C" fn(*mut c_void, *const hypar_message), userdata: UserData, m: &Received) {
    let origin = m.origin.map(|p| p.to_string());
    with_c_message(&m.payload, origin.as_deref(), (m.hops, m.direct), |c| deliver(userdata.0, c));
}

impl CTopicOptions {
    /// These options over the topic's `current` ones, for configure: what
    /// was set here replaces, the rest stays.
    pub(crate) fn over(&self, current: TopicOptions) -> TopicOptions {
        let mut merged = self.options.clone();
        let kept = |t: Touch| !self.touched[t as usize];
        if kept(Touch::Signed) {
            merged.signed = current.signed;
        }
        if kept(Touch::Allow) {
            merged.allow = current.allow;
        }
        if kept(Touch::Hear) {
            merged.hear = current.hear;
        }
        if kept(Touch::Proxy) {
            merged.proxy = current.proxy;
        }
        if kept(Touch::Tell) {
            merged.tell = current.tell;
        }
        merged
    }

    /// The validator for the shared layer, if one is set.
    pub(crate) fn validator(&self) -> Option<Validator> {
        let (validate, userdata) = self.validator?;
        Some(Box::new(move |m| {
            let userdata = userdata;
            let verdict = with_c_message(&m.data, m.origin.as_deref(), (m.hops, m.direct), |c| validate(userdata.0, c));
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
            o.touched[Touch::Signed as usize] = true;
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
    unsafe { set(options, |o| o.validation_timeout_ms = Some(ms)) }
}

/// Set one option of `options`.
///
/// # Safety
/// `options` is NULL or live options used by no other thread.
unsafe fn set(options: *mut hypar_topic_options, change: impl FnOnce(&mut TopicOptions)) -> hypar_result {
    // SAFETY: the caller's contract.
    unsafe {
        edit(options, |o| {
            change(&mut o.options);
            Ok(())
        })
    }
}

/// A peer set option: NULL `peer_ids` means anyone (the default); else the
/// `n` peer ids it points to (none at all when `n` is 0: nobody).
///
/// # Safety
/// `options` is NULL or live; `peer_ids` is NULL or points to `n` strings.
unsafe fn set_peers(
    options: *mut hypar_topic_options,
    peer_ids: *const *const c_char,
    n: usize,
    which: Touch,
) -> hypar_result {
    // SAFETY: the caller's contract.
    unsafe {
        edit(options, |o| {
            let ids = match peer_ids.is_null() {
                true => None,
                false => Some(arg_strs(peer_ids, n, "peer_ids")?.into_iter().map(str::to_owned).collect()),
            };
            o.touched[which as usize] = true;
            match which {
                Touch::Allow => o.options.allow = ids,
                Touch::Hear => o.options.hear = ids,
                Touch::Tell => o.options.tell = ids,
                Touch::Signed | Touch::Proxy => unreachable!("not a peer set"),
            }
            Ok(())
        })
    }
}

/// The peers allowed in the topic, as `n` peer id strings: the shorthand for
/// the same list in `hypar_topic_options_set_hear` and `_set_tell`. NULL
/// `peer_ids` allows anyone (the default); a non-NULL pointer with `n` 0
/// allows nobody. Peers outside the list never become neighbours, and their
/// messages are dropped. Malformed ids are reported by the join (or
/// `hypar_topic_configure`) as `HYPAR_ERR_INVALID_ARGUMENT`, naming them.
///
/// # Safety
/// `options` is NULL or live; `peer_ids` is NULL or points to `n` strings
/// (read during the call).
#[no_mangle]
pub unsafe extern "C" fn hypar_topic_options_set_allow(
    options: *mut hypar_topic_options,
    peer_ids: *const *const c_char,
    n: usize,
) -> hypar_result {
    // SAFETY: the function's contract.
    unsafe { set_peers(options, peer_ids, n, Touch::Allow) }
}

/// The peers this node takes messages from (NULL: anyone, the default; as
/// `hypar_topic_options_set_allow`). Messages from a neighbour outside it
/// are neither delivered nor relayed.
///
/// # Safety
/// As `hypar_topic_options_set_allow`.
#[no_mangle]
pub unsafe extern "C" fn hypar_topic_options_set_hear(
    options: *mut hypar_topic_options,
    peer_ids: *const *const c_char,
    n: usize,
) -> hypar_result {
    // SAFETY: the function's contract.
    unsafe { set_peers(options, peer_ids, n, Touch::Hear) }
}

/// The peers this node passes messages to (NULL: anyone, the default; as
/// `hypar_topic_options_set_allow`). A neighbour outside it is never sent
/// or announced a message. A peer in neither `hear` nor `tell` never
/// becomes a neighbour.
///
/// # Safety
/// As `hypar_topic_options_set_allow`.
#[no_mangle]
pub unsafe extern "C" fn hypar_topic_options_set_tell(
    options: *mut hypar_topic_options,
    peer_ids: *const *const c_char,
    n: usize,
) -> hypar_result {
    // SAFETY: the function's contract.
    unsafe { set_peers(options, peer_ids, n, Touch::Tell) }
}

/// How many overlay hops a message travels at most (default 64, at least
/// 1; 1 reaches only neighbours).
///
/// # Safety
/// `options` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn hypar_topic_options_set_max_hops(
    options: *mut hypar_topic_options,
    hops: u32,
) -> hypar_result {
    // SAFETY: the function's contract.
    unsafe { set(options, |o| o.max_hops = Some(hops)) }
}

/// Neighbours at most (the active view; default 5, between 1 and 64).
///
/// # Safety
/// `options` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn hypar_topic_options_set_active_view(
    options: *mut hypar_topic_options,
    n: u32,
) -> hypar_result {
    // SAFETY: the function's contract.
    unsafe { set(options, |o| o.active_view = Some(n)) }
}

/// Backup peers at most (the passive view; default 30, between 1 and 1024).
///
/// # Safety
/// `options` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn hypar_topic_options_set_passive_view(
    options: *mut hypar_topic_options,
    n: u32,
) -> hypar_result {
    // SAFETY: the function's contract.
    unsafe { set(options, |o| o.passive_view = Some(n)) }
}

/// Peers remembered beyond the views, to rejoin through (default 256; at
/// least both views' sizes, at most 65536).
///
/// # Safety
/// `options` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn hypar_topic_options_set_known_peers(
    options: *mut hypar_topic_options,
    n: u32,
) -> hypar_result {
    // SAFETY: the function's contract.
    unsafe { set(options, |o| o.known_peers = Some(n)) }
}

/// Senders given a broadcast tree of their own (default 0: one shared tree
/// for every sender; at most 65536; 64 suits a topic where a few dozen
/// senders publish again and again). A sender's second message starts
/// its tree from the shared one, later ones reshape it for that sender
/// alone, so its messages arrive in fewer hops and sooner; the least
/// recently active sender's tree is forgotten first. Each costs about 300
/// bytes per node. Every member of a topic should use the same setting.
///
/// # Safety
/// `options` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn hypar_topic_options_set_origin_trees(
    options: *mut hypar_topic_options,
    n: u32,
) -> hypar_result {
    // SAFETY: the function's contract.
    unsafe { set(options, |o| o.origin_trees = Some(n)) }
}

/// Duplicates in a row over a link that carries the broadcast tree before
/// the link is dropped from it (default 5, 1 to 255; others fail with
/// `HYPAR_ERR_INVALID_CONFIG` at join or configure). Fewer drop redundant
/// links sooner after failures, but with many senders let their messages
/// cut the tree into pieces joined only by announcements, which makes
/// delivery slower.
///
/// # Safety
/// `options` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn hypar_topic_options_set_duplicates_before_prune(
    options: *mut hypar_topic_options,
    n: u32,
) -> hypar_result {
    // SAFETY: the function's contract.
    unsafe { set(options, |o| o.duplicates_before_prune = Some(n)) }
}

/// Mean milliseconds between view shuffles (default 10000; 1 to 86400000).
///
/// # Safety
/// `options` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn hypar_topic_options_set_shuffle_interval_ms(
    options: *mut hypar_topic_options,
    ms: u64,
) -> hypar_result {
    // SAFETY: the function's contract.
    unsafe { set(options, |o| o.shuffle_interval_ms = Some(ms)) }
}

/// Shortest milliseconds to wait for an announced message before asking a
/// neighbour for it (default 150; the wait adapts up to 1000).
///
/// # Safety
/// `options` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn hypar_topic_options_set_graft_timeout_ms(
    options: *mut hypar_topic_options,
    ms: u64,
) -> hypar_result {
    // SAFETY: the function's contract.
    unsafe { set(options, |o| o.graft_timeout_ms = Some(ms)) }
}

/// Milliseconds announcements are batched for (default 100).
///
/// # Safety
/// `options` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn hypar_topic_options_set_ihave_interval_ms(
    options: *mut hypar_topic_options,
    ms: u64,
) -> hypar_result {
    // SAFETY: the function's contract.
    unsafe { set(options, |o| o.ihave_interval_ms = Some(ms)) }
}

/// Recent messages kept to answer neighbours that missed them: `count`
/// messages (default 4096) and `bytes` payload bytes (default 33554432) at
/// most.
///
/// # Safety
/// `options` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn hypar_topic_options_set_message_cache(
    options: *mut hypar_topic_options,
    count: u64,
    bytes: u64,
) -> hypar_result {
    // SAFETY: the function's contract.
    unsafe {
        set(options, |o| {
            o.message_cache = Some(count);
            o.message_cache_bytes = Some(bytes);
        })
    }
}

/// Proxy passing (off by default): each message this node publishes, or is
/// handed by a neighbour, goes with even chance to one random neighbour,
/// which publishes it as if it were its own, so a message's first
/// appearance in the overlay is no evidence of who wrote it. A neighbour
/// that does not show the message in the overlay within `timeout_ms`
/// milliseconds (0: the default, 2000) is replaced; after three, this node
/// publishes the message itself. Costs on average one more link latency per
/// message.
///
/// Needs an unsigned topic (`hypar_topic_options_set_signed(options,
/// false)`): a join or configure with both fails with
/// `HYPAR_ERR_INVALID_CONFIG`, and the last error names `plumtree.proxy`.
/// May be turned on and off while joined (`hypar_topic_configure`).
///
/// # Safety
/// `options` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn hypar_topic_options_set_proxy(
    options: *mut hypar_topic_options,
    on: bool,
    timeout_ms: u64,
) -> hypar_result {
    // SAFETY: the function's contract.
    unsafe {
        edit(options, |o| {
            o.options.proxy = on;
            if timeout_ms != 0 {
                o.options.proxy_timeout_ms = Some(timeout_ms);
            }
            o.touched[Touch::Proxy as usize] = true;
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
