//! C handles for joined topics, with message delivery to a callback.

use std::ffi::{c_char, c_void};

use hypar::Received;

use super::boundary::boundary;
use super::handles::{
    arg_bytes, arg_out, arg_str, arg_strs, take_box, try_ref, write_handle, Castable, OwnershipBox, UserData,
};
use super::hypar_result;
use super::network::{arg_network, hypar_network};
use super::topic_options::{deliver_c, hypar_message, hypar_topic_options, CTopicOptions};
use crate::shared::{Delivery, ForeignError, ForeignTopic};

/// A joined topic. Create with `hypar_network_join`; release (and leave)
/// with `hypar_topic_free`. `hypar_topic_gossip` and `hypar_topic_get_stats`
/// may be called from any thread, concurrently.
pub struct hypar_topic {
    _private: [u8; 0],
}

impl Castable for hypar_topic {
    type Ownership = OwnershipBox;
    type RustType = ForeignTopic;
}

/// Counters of one topic (see `hypar_topic_get_stats`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct hypar_topic_stats {
    /// Peers in the active view (neighbours).
    pub active_view: usize,
    /// Peers in the passive view (backups).
    pub passive_view: usize,
    /// Neighbours on the broadcast tree.
    pub tree_links: usize,
    /// Messages fetched with a GRAFT because they did not arrive along the tree.
    pub grafts: u64,
    /// Messages published by this node.
    pub published: u64,
    /// Messages delivered (each once).
    pub delivered: u64,
    /// Payload copies sent to neighbours.
    pub relayed: u64,
    /// Duplicate copies received and discarded.
    pub duplicates: u64,
    /// Messages dropped: invalid, too old, or not taken by a full callback queue.
    pub dropped: u64,
    /// Frame bytes received for this topic.
    pub bytes_in: u64,
    /// Frame bytes sent for this topic, at their size on the wire (a
    /// stream names a topic and an origin in full once, then by a one-byte
    /// index), so one end's `bytes_out` is what the other ends count in
    /// `bytes_in` (frames lost with a failing connection count here too).
    pub bytes_out: u64,
    /// Messages the validator rejected.
    pub rejected: u64,
    /// Messages the validator ignored, or did not judge in time.
    pub ignored: u64,
    /// Messages refused for a missing or wrong signature.
    pub forged: u64,
    /// Broadcast frames refused because their sender was not a neighbour.
    pub not_neighbor: u64,
    /// New messages and announcements not taken for want of room.
    pub overloaded: u64,
    /// Direct messages sent to neighbours (`hypar_topic_send`).
    pub direct_sent: u64,
    /// Direct messages received from neighbours.
    pub direct_received: u64,
    /// Messages handed to neighbours to publish (proxy passing), retries
    /// included.
    pub handoffs_sent: u64,
    /// Messages neighbours handed this node to publish (proxy passing).
    pub handoffs_taken: u64,
    /// Senders whose messages travel a broadcast tree of their own here, or
    /// whose first message was seen (at most the `origin_trees` option).
    pub origin_trees: u64,
}

/// Join the topic named `topic` through the `bootstrap_len` multiaddrs in
/// `bootstrap` (NULL when `bootstrap_len` is 0: this node is then a
/// bootstrap node for others), and write the handle to `*out`.
///
/// A bootstrap address ending in `/p2p/<peer id>` is contacted directly;
/// one without (`/dns4/host/tcp/4001`, `/dnsaddr/host`) is dialed to learn
/// who answers. Unreachable bootstrap peers are retried with backoff and
/// reported as `HYPAR_EVENT_BOOTSTRAP_FAILED`; they do not fail the call.
///
/// Every message other members gossip is passed once to
/// `on_message(userdata, data, len)`. The calls happen one at a time, in
/// arrival order, on a thread the library owns for this topic (never the
/// caller's thread). `data` is valid only during the call. A callback may
/// call any hypar function, such as gossip, join, or free another topic.
/// A callback that is slow never stalls the network: messages queue up to
/// the callback queue's size and further ones are dropped and counted.
///
/// Returns `HYPAR_ERR_NULL_ARGUMENT` if `net`, `topic`, `on_message` or
/// `out` is NULL, `HYPAR_ERR_INVALID_ARGUMENT` for a name or address that is
/// not UTF-8 or an address that is not a multiaddr, `HYPAR_ERR_ALREADY_JOINED`
/// if this network has joined `topic`, `HYPAR_ERR_SHUT_DOWN` after shutdown.
/// All strings are copied.
///
/// # Safety
/// `net` is NULL or live; `topic` is NULL or a NUL-terminated string;
/// `bootstrap` is NULL or points to `bootstrap_len` pointers, each NULL or a
/// NUL-terminated string; `out` is NULL or writable; `userdata` must be
/// usable from the library's callback thread.
#[no_mangle]
pub unsafe extern "C" fn hypar_network_join(
    net: *const hypar_network,
    topic: *const c_char,
    bootstrap: *const *const c_char,
    bootstrap_len: usize,
    on_message: Option<extern "C" fn(userdata: *mut c_void, data: *const u8, len: usize)>,
    userdata: *mut c_void,
    out: *mut *mut hypar_topic,
) -> hypar_result {
    let deliver = on_message.map(|on_message| {
        move |m: Received, userdata: UserData| on_message(userdata.0, m.payload.as_ptr(), m.payload.len())
    });
    // SAFETY: the function's contract, which is join_c's.
    unsafe { join_c(net, topic, bootstrap, bootstrap_len, std::ptr::null(), deliver, userdata, out) }
}

/// Join like `hypar_network_join`, with `options` (NULL: the defaults, a
/// signed topic without validator; see `hypar_topic_options_new`), passing
/// each message to `on_message(userdata, message)` with its origin and hop
/// count. `message` and everything it points to are valid only during the
/// call; its `data` is NOT NUL-terminated. The options are copied: free
/// them whenever convenient. Returns as `hypar_network_join` does, and
/// `HYPAR_ERR_INVALID_CONFIG` for an option out of range.
///
/// # Safety
/// As for `hypar_network_join`; `options` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn hypar_network_join_with(
    net: *const hypar_network,
    topic: *const c_char,
    bootstrap: *const *const c_char,
    bootstrap_len: usize,
    options: *const hypar_topic_options,
    on_message: Option<extern "C" fn(userdata: *mut c_void, message: *const hypar_message)>,
    userdata: *mut c_void,
    out: *mut *mut hypar_topic,
) -> hypar_result {
    let deliver = on_message.map(|on_message| move |m: Received, userdata| deliver_c(on_message, userdata, &m));
    // SAFETY: the function's contract, which is join_c's.
    unsafe { join_c(net, topic, bootstrap, bootstrap_len, options, deliver, userdata, out) }
}

/// What both joins do: check the arguments, join with `options` (NULL: the
/// defaults), and pass each message to `deliver` with `userdata`.
///
/// # Safety
/// As for `hypar_network_join_with`.
#[allow(clippy::too_many_arguments)]
unsafe fn join_c(
    net: *const hypar_network,
    topic: *const c_char,
    bootstrap: *const *const c_char,
    bootstrap_len: usize,
    options: *const hypar_topic_options,
    deliver: Option<impl Fn(Received, UserData) + Send + 'static>,
    userdata: *mut c_void,
    out: *mut *mut hypar_topic,
) -> hypar_result {
    boundary(|| -> Result<(), ForeignError> {
        // SAFETY: the pointers are as the caller's contract states.
        let (out, net, name, bootstrap) = unsafe {
            (
                arg_out(out, "out")?,
                arg_network(net)?,
                arg_str(topic, "topic")?,
                arg_strs(bootstrap, bootstrap_len, "bootstrap")?,
            )
        };
        let defaults = CTopicOptions::default();
        // SAFETY: as the caller's contract states.
        let options = if options.is_null() { &defaults } else { unsafe { try_ref(options, "options")? } };
        let deliver = deliver.ok_or_else(|| ForeignError::null("on_message"))?;
        let userdata = UserData(userdata);
        let delivery = Delivery::Each(Box::new(move |m: Received| deliver(m, userdata)));
        let joined = net.join(name, &bootstrap, delivery, &options.options, options.validator())?;
        // SAFETY: `out` was checked and is writable.
        unsafe { write_handle(out, joined) };
        Ok(())
    })
}

/// The live topic behind a handle, refusing handles from a parent process.
///
/// # Safety
/// `topic` is NULL or a live topic.
unsafe fn arg_topic<'a>(topic: *const hypar_topic) -> Result<&'a ForeignTopic, ForeignError> {
    // SAFETY: the caller's contract.
    let topic = unsafe { try_ref(topic, "topic")? };
    topic.check_process()?;
    Ok(topic)
}

/// Publish `len` bytes at `data` to every other member of the topic. The
/// bytes are copied; the call returns at once and the network thread sends
/// them. This node's own callback is not called for its own message.
/// Returns `HYPAR_ERR_MESSAGE_TOO_LARGE` if the message with its framing
/// exceeds the maximum message size, `HYPAR_ERR_QUEUE_FULL` if too many
/// publishes are waiting (retry later), `HYPAR_ERR_SHUT_DOWN` after the
/// network shut down. `data` may be NULL when `len` is 0.
///
/// # Safety
/// `topic` is NULL or live; `data` is NULL or points to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn hypar_topic_gossip(topic: *const hypar_topic, data: *const u8, len: usize) -> hypar_result {
    boundary(|| -> Result<(), ForeignError> {
        // SAFETY: the pointers are as the function's contract states.
        let (topic, data) = unsafe { (arg_topic(topic)?, arg_bytes(data, len, "data")?) };
        topic.gossip_copy(data)
    })
}

/// The options a topic runs with (see `hypar_topic_get_settings`); each as
/// the `hypar_topic_options_set_*` of the same name sets it.
#[repr(C)]
#[derive(Debug, Default)]
pub struct hypar_topic_settings {
    /// Messages are signed (fixed while joined).
    pub is_signed: bool,
    /// Hops a message travels at most.
    pub max_hops: u32,
    /// Neighbours at most.
    pub active_view: u32,
    /// Backup peers at most.
    pub passive_view: u32,
    /// Peers remembered beyond the views.
    pub known_peers: u32,
    /// Mean milliseconds between shuffles.
    pub shuffle_interval_ms: u64,
    /// Shortest wait for an announced message, in milliseconds.
    pub graft_timeout_ms: u64,
    /// Milliseconds announcements are batched for.
    pub ihave_interval_ms: u64,
    /// Milliseconds a validator may take per message.
    pub validation_timeout_ms: u64,
    /// Recent messages kept for neighbours that missed them.
    pub message_cache: u64,
    /// Payload bytes kept for the same.
    pub message_cache_bytes: u64,
    /// How many peers the allow list, `hear` and `tell` name; `SIZE_MAX`
    /// for one that admits anyone.
    pub allow_count: usize,
    /// As `allow_count`, for `hear`.
    pub hear_count: usize,
    /// As `allow_count`, for `tell`.
    pub tell_count: usize,
    /// Proxy passing is on.
    pub proxy: bool,
    /// Milliseconds a proxy has to show a message before it is replaced.
    pub proxy_timeout_ms: u64,
    /// Senders given a broadcast tree of their own.
    pub origin_trees: u32,
    /// Duplicates in a row over a tree link before it is dropped.
    pub duplicates_before_prune: u32,
}

/// Fill `*out` with the options the topic runs with now. Waits for nothing.
///
/// # Safety
/// `topic` is NULL or live; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn hypar_topic_get_settings(
    topic: *const hypar_topic,
    out: *mut hypar_topic_settings,
) -> hypar_result {
    boundary(|| -> Result<(), ForeignError> {
        // SAFETY: the pointers are as the function's contract states.
        let (out, topic) = unsafe { (arg_out(out, "out")?, arg_topic(topic)?) };
        let o = topic.config()?;
        let count = |set: &Option<Vec<String>>| set.as_ref().map_or(usize::MAX, Vec::len);
        let settings = hypar_topic_settings {
            is_signed: o.signed,
            max_hops: o.max_hops.unwrap_or_default(),
            active_view: o.active_view.unwrap_or_default(),
            passive_view: o.passive_view.unwrap_or_default(),
            known_peers: o.known_peers.unwrap_or_default(),
            shuffle_interval_ms: o.shuffle_interval_ms.unwrap_or_default(),
            graft_timeout_ms: o.graft_timeout_ms.unwrap_or_default(),
            ihave_interval_ms: o.ihave_interval_ms.unwrap_or_default(),
            validation_timeout_ms: o.validation_timeout_ms.unwrap_or_default(),
            message_cache: o.message_cache.unwrap_or_default(),
            message_cache_bytes: o.message_cache_bytes.unwrap_or_default(),
            allow_count: count(&o.allow),
            hear_count: count(&o.hear),
            tell_count: count(&o.tell),
            proxy: o.proxy,
            proxy_timeout_ms: o.proxy_timeout_ms.unwrap_or_default(),
            origin_trees: o.origin_trees.unwrap_or_default(),
            duplicates_before_prune: o.duplicates_before_prune.unwrap_or_default(),
        };
        // SAFETY: `out` is writable (checked non-NULL above).
        unsafe { out.write(settings) };
        Ok(())
    })
}

/// Change the topic's options while it runs, at once, as `options` says:
/// what was set in `options` takes effect, and everything else keeps its
/// value (so a fresh `hypar_topic_options_new()` with one setter called
/// changes just that option; to admit anyone again, set a peer list to
/// NULL explicitly). A peer no longer admitted is told DISCONNECT and
/// leaves the topic's views; a neighbour no longer told gets no more
/// messages; a smaller `max_hops` applies to what is relayed from now on;
/// a smaller view sheds peers at once. Signing and the validator are fixed
/// while joined: `options` must not change the one nor carry the other. Returns `HYPAR_ERR_INVALID_CONFIG` for a value out of range or
/// a fixed option changed, `HYPAR_ERR_INVALID_ARGUMENT` for a malformed
/// peer id or a validator, naming it (`hypar_last_error`); then nothing
/// changed. Waits (briefly) for the network thread.
///
/// # Safety
/// `topic` and `options` are NULL or live.
#[no_mangle]
pub unsafe extern "C" fn hypar_topic_configure(
    topic: *const hypar_topic,
    options: *const hypar_topic_options,
) -> hypar_result {
    boundary(|| -> Result<(), ForeignError> {
        // SAFETY: the pointers are as the function's contract states.
        let (topic, options) = unsafe { (arg_topic(topic)?, try_ref(options, "options")?) };
        if options.validator.is_some() {
            return Err(ForeignError::invalid("options: a validator is fixed at join; configure takes none"));
        }
        topic.configure(&options.over(topic.config()?))
    })
}

/// Publish `len` bytes at `data` to the members at most `hops` overlay hops
/// away: 1 reaches this node's neighbours only; 0, or more than the topic's
/// `max_hops`, as far as the topic allows. Otherwise as `hypar_topic_gossip`.
///
/// # Safety
/// `topic` is NULL or live; `data` is NULL or points to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn hypar_topic_gossip_within(
    topic: *const hypar_topic,
    data: *const u8,
    len: usize,
    hops: u16,
) -> hypar_result {
    boundary(|| -> Result<(), ForeignError> {
        // SAFETY: the pointers are as the function's contract states.
        let (topic, data) = unsafe { (arg_topic(topic)?, arg_bytes(data, len, "data")?) };
        topic.gossip_within(data.to_vec(), hops)
    })
}

/// Send `len` bytes at `data` to the neighbour `peer_id` alone: it arrives
/// at that peer's callback with `direct` set and `origin` naming this node.
/// Not gossiped, not deduplicated (sent twice, it arrives twice), never
/// relayed. Returns `HYPAR_ERR_INVALID_ARGUMENT` if `peer_id` is malformed
/// or not a current neighbour in the topic, `HYPAR_ERR_QUEUE_FULL` if the
/// link to it is congested (nothing was sent: retry later),
/// `HYPAR_ERR_MESSAGE_TOO_LARGE`. Waits (briefly) for the network thread.
///
/// # Safety
/// `topic` is NULL or live; `peer_id` is NULL or a NUL-terminated string;
/// `data` is NULL or points to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn hypar_topic_send(
    topic: *const hypar_topic,
    peer_id: *const c_char,
    data: *const u8,
    len: usize,
) -> hypar_result {
    boundary(|| -> Result<(), ForeignError> {
        // SAFETY: the pointers are as the function's contract states.
        let (topic, peer, data) =
            unsafe { (arg_topic(topic)?, arg_str(peer_id, "peer_id")?, arg_bytes(data, len, "data")?) };
        topic.send(peer, data.to_vec())
    })
}

/// Fill `*out` with the topic's counters. Waits (briefly) for the network
/// thread. Returns `HYPAR_ERR_SHUT_DOWN` after the network shut down.
///
/// # Safety
/// `topic` is NULL or live; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn hypar_topic_get_stats(topic: *const hypar_topic, out: *mut hypar_topic_stats) -> hypar_result {
    boundary(|| -> Result<(), ForeignError> {
        // SAFETY: the pointers are as the function's contract states.
        let (out, topic) = unsafe { (arg_out(out, "out")?, arg_topic(topic)?) };
        let s = topic.stats()?;
        let stats = hypar_topic_stats {
            active_view: s.active_view as usize,
            passive_view: s.passive_view as usize,
            tree_links: s.tree_links as usize,
            grafts: s.grafts,
            published: s.published,
            delivered: s.delivered,
            relayed: s.relayed,
            duplicates: s.duplicates,
            dropped: s.dropped,
            bytes_in: s.bytes_in,
            bytes_out: s.bytes_out,
            rejected: s.rejected,
            ignored: s.ignored,
            forged: s.forged,
            not_neighbor: s.not_neighbor,
            overloaded: s.overloaded,
            direct_sent: s.direct_sent,
            direct_received: s.direct_received,
            handoffs_sent: s.handoffs_sent,
            handoffs_taken: s.handoffs_taken,
            origin_trees: s.origin_trees,
        };
        // SAFETY: `out` was checked and is writable.
        unsafe { *out = stats };
        Ok(())
    })
}

/// Leave the topic and release the handle. NULL is ignored.
///
/// Called from any other thread, it waits for a callback in progress to
/// return; once it returns, the topic's callback is never called again.
/// Called from the topic's own callback, it returns at once: the current
/// call runs to its end (its `data` stays valid) and no further call
/// follows; the node leaves the topic once the callback returns, so joining
/// the same topic again from within that callback fails with
/// `HYPAR_ERR_ALREADY_JOINED`. Two callbacks must not free each other's
/// topics (or one the network, the other a topic) at the same time: each
/// would wait for the other. Works on topics of a network already shut down
/// or freed.
///
/// # Safety
/// `topic` is NULL or a live topic not used again afterwards.
#[no_mangle]
pub unsafe extern "C" fn hypar_topic_free(topic: *mut hypar_topic) {
    boundary(|| {
        // SAFETY: the function's contract.
        let Some(topic) = (unsafe { take_box(topic) }) else { return };
        if topic.check_process().is_err() {
            std::mem::forget(topic);
        }
    })
}
