//! C handles for running networks.

use std::ffi::{c_char, CString};

use super::boundary::boundary;
use super::config::{hypar_event_kind, hypar_network_config, hypar_reachability, CNetworkConfig, EventCallback};
use super::handles::{arg_out, take_box, try_ref, write_handle, write_out, Castable, OwnershipBox, UserData};
use super::hypar_result;
use crate::shared::{ForeignError, ForeignNetwork, NetworkEvent, NetworkEventKind, Reachability};

/// A running node. Create with `hypar_network_new`; release with
/// `hypar_network_free`. Every function taking a `const hypar_network *`
/// may be called from any thread, concurrently.
pub struct hypar_network {
    _private: [u8; 0],
}

impl Castable for hypar_network {
    type Ownership = OwnershipBox;
    type RustType = ForeignNetwork;
}

/// Counters of a whole network (see `hypar_network_get_stats`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct hypar_network_stats {
    /// Topics joined.
    pub topics: usize,
    /// Peers with an open connection.
    pub connected_peers: usize,
    /// Frames dropped because a peer's queue was full or it could not be reached.
    pub frames_dropped: u64,
    /// Peers banned since the network started.
    pub peers_banned: u64,
    /// Peers banned now.
    pub banned_now: u64,
    /// Whether other nodes can dial this one, as last probed.
    pub reachability: hypar_reachability,
    /// Neighbours (in any topic) reached only through a relay now.
    pub relayed_links: usize,
    /// Neighbours (in any topic) reached over a direct connection now.
    pub direct_links: usize,
}

/// The live network behind a handle, refusing handles from a parent process.
///
/// # Safety
/// `net` is NULL or a live network.
pub(crate) unsafe fn arg_network<'a>(net: *const hypar_network) -> Result<&'a ForeignNetwork, ForeignError> {
    // SAFETY: the caller's contract.
    let net = unsafe { try_ref(net, "net")? };
    net.check_process()?;
    Ok(net)
}

/// Start a node and write it to `*out`; returns once every listen address
/// is bound (or `HYPAR_ERR_LISTEN` if one cannot be). `cfg` may be NULL for
/// the defaults; it is only read, and may be freed or reused afterwards.
/// The node runs on its own thread: the caller needs no event loop.
/// Release it with `hypar_network_free`.
///
/// # Safety
/// `cfg` is NULL or live; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn hypar_network_new(
    cfg: *const hypar_network_config,
    out: *mut *mut hypar_network,
) -> hypar_result {
    boundary(|| -> Result<(), ForeignError> {
        // SAFETY: the pointers are as the function's contract states.
        let (out, cfg) = unsafe { (arg_out(out, "out")?, cfg.cast::<CNetworkConfig>().as_ref()) };
        let defaults = CNetworkConfig::default();
        let cfg = cfg.unwrap_or(&defaults);
        let net = ForeignNetwork::new(&cfg.config)?;
        if let Some((callback, userdata)) = cfg.on_event {
            net.set_event_handler(Some(Box::new(move |e| call_event_callback(callback, userdata, e))))?;
        }
        // SAFETY: `out` was checked and is writable.
        unsafe { write_handle(out, net) };
        Ok(())
    })
}

/// Call a C event callback with `event`'s strings lent for the call.
fn call_event_callback(callback: EventCallback, userdata: UserData, event: NetworkEvent) {
    let kind = match event.kind {
        NetworkEventKind::Joined => hypar_event_kind::HYPAR_EVENT_JOINED,
        NetworkEventKind::NeighborUp => hypar_event_kind::HYPAR_EVENT_NEIGHBOR_UP,
        NetworkEventKind::NeighborDown => hypar_event_kind::HYPAR_EVENT_NEIGHBOR_DOWN,
        NetworkEventKind::BootstrapFailed => hypar_event_kind::HYPAR_EVENT_BOOTSTRAP_FAILED,
        NetworkEventKind::Lagged => hypar_event_kind::HYPAR_EVENT_LAGGED,
        NetworkEventKind::PeerBanned => hypar_event_kind::HYPAR_EVENT_PEER_BANNED,
        NetworkEventKind::ReachabilityChanged => hypar_event_kind::HYPAR_EVENT_REACHABILITY_CHANGED,
        NetworkEventKind::RelayReserved => hypar_event_kind::HYPAR_EVENT_RELAY_RESERVED,
        NetworkEventKind::RelayLost => hypar_event_kind::HYPAR_EVENT_RELAY_LOST,
        NetworkEventKind::DirectConnection => hypar_event_kind::HYPAR_EVENT_DIRECT_CONNECTION,
    };
    let topic = CString::new(event.topic).unwrap_or_default();
    let peer = event.peer_id.map(|p| CString::new(p).unwrap_or_default());
    let peer = peer.as_ref().map_or(std::ptr::null(), |p| p.as_ptr());
    callback(userdata.0, kind, topic.as_ptr(), peer);
}

/// Write this node's peer id into `buf` as a NUL-terminated string.
/// `*written` is set to the string length plus one for the NUL. If `len` is
/// too small, returns `HYPAR_ERR_BUFFER_TOO_SMALL`, leaves `buf` untouched
/// and sets `*written` to the size needed (`buf` may be NULL when `len` is
/// 0). Works after shutdown too.
///
/// # Safety
/// `net` is NULL or live; `buf` is NULL or points to `len` writable bytes;
/// `written` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn hypar_network_peer_id(
    net: *const hypar_network,
    buf: *mut c_char,
    len: usize,
    written: *mut usize,
) -> hypar_result {
    boundary(|| -> Result<(), ForeignError> {
        // SAFETY: the pointers are as the function's contract states.
        unsafe { write_out(arg_network(net)?.peer_id().as_bytes(), true, buf.cast(), len, written) }
    })
}

/// Write the bound listen addresses into `buf`, separated by `'\n'`, each
/// ending in `/p2p/<peer id>` so it can be handed to other nodes as a
/// bootstrap address; NUL-terminated. Ports asked as 0 appear as the ports
/// actually bound. Buffer rules as for `hypar_network_peer_id`. Returns
/// `HYPAR_ERR_SHUT_DOWN` after shutdown.
///
/// # Safety
/// As for `hypar_network_peer_id`.
#[no_mangle]
pub unsafe extern "C" fn hypar_network_listen_addrs(
    net: *const hypar_network,
    buf: *mut c_char,
    len: usize,
    written: *mut usize,
) -> hypar_result {
    boundary(|| -> Result<(), ForeignError> {
        // SAFETY: the pointers are as the function's contract states.
        unsafe {
            let addrs = arg_network(net)?.listen_addrs()?;
            write_out(addrs.join("\n").as_bytes(), true, buf.cast(), len, written)
        }
    })
}

/// Fill `*out` with the network's counters. Waits (briefly) for the network
/// thread. Returns `HYPAR_ERR_SHUT_DOWN` after shutdown.
///
/// # Safety
/// `net` is NULL or live; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn hypar_network_get_stats(
    net: *const hypar_network,
    out: *mut hypar_network_stats,
) -> hypar_result {
    boundary(|| -> Result<(), ForeignError> {
        // SAFETY: the pointers are as the function's contract states.
        let (out, net) = unsafe { (arg_out(out, "out")?, arg_network(net)?) };
        let stats = net.stats()?;
        let stats = hypar_network_stats {
            topics: stats.topics.len(),
            connected_peers: stats.connected_peers as usize,
            frames_dropped: stats.frames_dropped,
            peers_banned: stats.peers_banned,
            banned_now: stats.banned_now,
            reachability: match stats.reachability {
                Reachability::Unknown => hypar_reachability::HYPAR_REACHABILITY_UNKNOWN,
                Reachability::Public => hypar_reachability::HYPAR_REACHABILITY_PUBLIC,
                Reachability::Private => hypar_reachability::HYPAR_REACHABILITY_PRIVATE,
            },
            relayed_links: stats.relayed_links as usize,
            direct_links: stats.direct_links as usize,
        };
        // SAFETY: `out` was checked and is writable.
        unsafe { *out = stats };
        Ok(())
    })
}

/// Leave every topic politely, close every connection and stop the network
/// thread; waits up to about a second for goodbyes to go out. Afterwards the
/// handle and its topics stay valid but inert: their calls return
/// `HYPAR_ERR_SHUT_DOWN`, and no callback is called again once this returns
/// (when called from a callback: except that one, which runs to its end).
/// Idempotent. May be called from a callback.
///
/// # Safety
/// `net` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn hypar_network_shutdown(net: *const hypar_network) -> hypar_result {
    boundary(|| -> Result<(), ForeignError> {
        // SAFETY: the function's contract.
        unsafe { arg_network(net)? }.shutdown();
        Ok(())
    })
}

/// Shut the network down (as `hypar_network_shutdown`) and release it. NULL
/// is ignored. Topics still held become inert and must still be freed with
/// `hypar_topic_free`. May be called from a callback, including the event
/// callback. In a forked child the parent's network cannot be stopped; its
/// memory is leaked instead.
///
/// # Safety
/// `net` is NULL or a live network not used again afterwards.
#[no_mangle]
pub unsafe extern "C" fn hypar_network_free(net: *mut hypar_network) {
    boundary(|| {
        // SAFETY: the function's contract.
        let Some(net) = (unsafe { take_box(net) }) else { return };
        if net.check_process().is_err() {
            std::mem::forget(net);
            return;
        }
        net.shutdown();
    })
}
