//! C handles for keypairs, network configurations and networks.

use std::ffi::{c_char, c_void, CString};

use super::{
    arg_bytes, arg_out, arg_ref, arg_str, check_process, guard, guard_void, hypar_result, write_out, Fail, UserData,
};
use crate::delivery::{Delivery, DeliverySlot};
use crate::{Config, EventKind, Keypair, Multiaddr, Network};

/// An Ed25519 identity. Create with `hypar_keypair_generate` or
/// `hypar_keypair_from_bytes`; release with `hypar_keypair_free`.
pub struct hypar_keypair {
    key: Keypair,
}

/// Settings for `hypar_network_new`. Create with `hypar_network_config_new`;
/// release with `hypar_network_config_free`. Not thread-safe: use one
/// configuration from one thread at a time.
#[derive(Default)]
pub struct hypar_network_config {
    config: Config,
    keypair: Option<Keypair>,
    listen_replaced: bool,
    on_event: Option<(EventCallback, UserData)>,
}

/// A running node. Create with `hypar_network_new`; release with
/// `hypar_network_free`. Every function taking a `const hypar_network *`
/// may be called from any thread, concurrently.
pub struct hypar_network {
    net: Network,
    pid: u32,
    events: DeliverySlot,
}

/// What a network event is about.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum hypar_event_kind {
    /// The node got its first neighbour in the topic (again, after a rejoin).
    HYPAR_EVENT_JOINED = 0,
    /// A peer became a neighbour; `peer_id` names it.
    HYPAR_EVENT_NEIGHBOR_UP = 1,
    /// A neighbour left, failed or was replaced; `peer_id` names it.
    HYPAR_EVENT_NEIGHBOR_DOWN = 2,
    /// No bootstrap peer could be reached; the node retries with backoff.
    HYPAR_EVENT_BOOTSTRAP_FAILED = 3,
}

type EventCallback = extern "C" fn(*mut c_void, hypar_event_kind, *const c_char, *const c_char);

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
}

// ---------------------------------------------------------------- keypairs

/// Create a fresh random identity into `*out`. Release it with
/// `hypar_keypair_free`. Returns `HYPAR_ERR_NULL_ARGUMENT` if `out` is NULL.
///
/// # Safety
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn hypar_keypair_generate(out: *mut *mut hypar_keypair) -> hypar_result {
    guard(|| {
        let out = arg_out(out, "out")?;
        *out = Box::into_raw(Box::new(hypar_keypair { key: Keypair::generate() }));
        Ok(())
    })
}

/// Read an identity from `len` bytes at `key`, in libp2p's protobuf key
/// encoding (what `hypar_keypair_to_bytes` writes). Only Ed25519 keys are
/// accepted; anything else returns `HYPAR_ERR_INVALID_ARGUMENT`. The bytes
/// are copied; the caller keeps ownership of `key`.
///
/// # Safety
/// `key` is NULL or points to `len` readable bytes; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn hypar_keypair_from_bytes(
    key: *const u8,
    len: usize,
    out: *mut *mut hypar_keypair,
) -> hypar_result {
    guard(|| {
        let out = arg_out(out, "out")?;
        let key = Keypair::from_bytes(arg_bytes(key, len, "key")?)?;
        *out = Box::into_raw(Box::new(hypar_keypair { key }));
        Ok(())
    })
}

/// Write the secret key's bytes (libp2p protobuf encoding, 68 bytes for
/// Ed25519) into `buf`, to persist the identity; keep them secret.
/// `*written` is set to the byte count. If `len` is too small, returns
/// `HYPAR_ERR_BUFFER_TOO_SMALL`, leaves `buf` untouched and sets `*written`
/// to the size needed (`buf` may be NULL when `len` is 0).
///
/// # Safety
/// `keypair` is NULL or live; `buf` is NULL or points to `len` writable
/// bytes; `written` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn hypar_keypair_to_bytes(
    keypair: *const hypar_keypair,
    buf: *mut u8,
    len: usize,
    written: *mut usize,
) -> hypar_result {
    guard(|| write_out(&arg_ref(keypair, "keypair")?.key.to_bytes(), false, buf, len, written))
}

/// Write the identity's peer id (such as `12D3KooW...`) into `buf` as a
/// NUL-terminated string. `*written` is set to the string length plus one
/// for the NUL. If `len` is too small, returns `HYPAR_ERR_BUFFER_TOO_SMALL`
/// and sets `*written` to the size needed.
///
/// # Safety
/// As for `hypar_keypair_to_bytes`.
#[no_mangle]
pub unsafe extern "C" fn hypar_keypair_peer_id(
    keypair: *const hypar_keypair,
    buf: *mut c_char,
    len: usize,
    written: *mut usize,
) -> hypar_result {
    guard(|| {
        let id = arg_ref(keypair, "keypair")?.key.peer_id().to_string();
        write_out(id.as_bytes(), true, buf.cast(), len, written)
    })
}

/// Release a keypair. NULL is ignored.
///
/// # Safety
/// `keypair` is NULL or a live keypair not used again afterwards.
#[no_mangle]
pub unsafe extern "C" fn hypar_keypair_free(keypair: *mut hypar_keypair) {
    guard_void(|| {
        if !keypair.is_null() {
            drop(Box::from_raw(keypair));
        }
    })
}

// ----------------------------------------------------------- configuration

/// A configuration with the defaults: a fresh identity, TCP and QUIC on
/// every IPv4 interface with ports chosen by the system, 64 KiB messages.
/// Release it with `hypar_network_config_free` (also after it was used).
/// Never returns NULL unless memory is exhausted.
#[no_mangle]
pub extern "C" fn hypar_network_config_new() -> *mut hypar_network_config {
    let mut out = std::ptr::null_mut();
    guard_void(|| out = Box::into_raw(Box::default()));
    out
}

/// Listen on `multiaddr`, such as `"/ip4/127.0.0.1/tcp/0"` or
/// `"/ip4/0.0.0.0/udp/4001/quic-v1"`. The first call replaces the default
/// addresses; later calls add to them. A string that is not UTF-8 or not a
/// multiaddr returns `HYPAR_ERR_INVALID_ARGUMENT`. The string is copied.
///
/// # Safety
/// `cfg` is NULL or live; `multiaddr` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn hypar_network_config_add_listen_addr(
    cfg: *mut hypar_network_config,
    multiaddr: *const c_char,
) -> hypar_result {
    guard(|| {
        let cfg = cfg.as_mut().ok_or_else(|| Fail::null("cfg"))?;
        let addr = parse_multiaddr(arg_str(multiaddr, "multiaddr")?)?;
        if !cfg.listen_replaced {
            cfg.config.listen.clear();
            cfg.listen_replaced = true;
        }
        cfg.config.listen.push(addr);
        Ok(())
    })
}

/// Use the identity in `len` bytes at `key` (libp2p protobuf encoding, as
/// written by `hypar_keypair_to_bytes`) instead of a fresh one. A key that
/// is not an Ed25519 keypair returns `HYPAR_ERR_INVALID_ARGUMENT`. The bytes
/// are copied.
///
/// # Safety
/// `cfg` is NULL or live; `key` is NULL or points to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn hypar_network_config_set_keypair(
    cfg: *mut hypar_network_config,
    key: *const u8,
    len: usize,
) -> hypar_result {
    guard(|| {
        let cfg = cfg.as_mut().ok_or_else(|| Fail::null("cfg"))?;
        cfg.keypair = Some(Keypair::from_bytes(arg_bytes(key, len, "key")?)?);
        Ok(())
    })
}

/// The largest frame on the wire, framing included (payload limit is a few
/// dozen bytes less). Between 256 and 16777216; default 65536. Out of range
/// values are reported by `hypar_network_new` as `HYPAR_ERR_INVALID_CONFIG`.
///
/// # Safety
/// `cfg` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn hypar_network_config_set_max_message_size(
    cfg: *mut hypar_network_config,
    bytes: usize,
) -> hypar_result {
    guard(|| {
        cfg.as_mut().ok_or_else(|| Fail::null("cfg"))?.config.max_message_size = bytes;
        Ok(())
    })
}

/// Messages queued per topic for its callback (default 1024, between 1 and
/// 1048576). When a callback falls behind, further messages are dropped and
/// counted in `hypar_topic_get_stats`' `dropped`; the network never waits for it.
///
/// # Safety
/// `cfg` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn hypar_network_config_set_callback_queue(
    cfg: *mut hypar_network_config,
    messages: usize,
) -> hypar_result {
    guard(|| {
        cfg.as_mut().ok_or_else(|| Fail::null("cfg"))?.config.subscriber_queue = messages;
        Ok(())
    })
}

/// Have the network call `on_event(userdata, kind, topic, peer_id)` for
/// every event of every topic. `topic` is the topic's name; `peer_id` is
/// NULL for events about no peer. Both strings are valid for the call only.
/// Calls happen one at a time on a thread the library owns, never after
/// `hypar_network_free` returns; `userdata` must be usable from that thread.
/// Events the callback is too slow to take are dropped. NULL `on_event`
/// removes the callback.
///
/// # Safety
/// `cfg` is NULL or live; `on_event` is NULL or a function of this type.
#[no_mangle]
pub unsafe extern "C" fn hypar_network_config_set_event_callback(
    cfg: *mut hypar_network_config,
    on_event: Option<
        extern "C" fn(userdata: *mut c_void, kind: hypar_event_kind, topic: *const c_char, peer_id: *const c_char),
    >,
    userdata: *mut c_void,
) -> hypar_result {
    guard(|| {
        let cfg = cfg.as_mut().ok_or_else(|| Fail::null("cfg"))?;
        cfg.on_event = on_event.map(|f| (f, UserData(userdata)));
        Ok(())
    })
}

/// Release a configuration. NULL is ignored. A network created from it is
/// not affected.
///
/// # Safety
/// `cfg` is NULL or a live configuration not used again afterwards.
#[no_mangle]
pub unsafe extern "C" fn hypar_network_config_free(cfg: *mut hypar_network_config) {
    guard_void(|| {
        if !cfg.is_null() {
            drop(Box::from_raw(cfg));
        }
    })
}

pub(crate) fn parse_multiaddr(s: &str) -> Result<Multiaddr, Fail> {
    s.parse::<Multiaddr>().map_err(|e| Fail::invalid(format!("invalid multiaddr {s:?}: {e}")))
}

// ----------------------------------------------------------------- network

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
    guard(|| {
        let out = arg_out(out, "out")?;
        let defaults = hypar_network_config::default();
        let cfg = cfg.as_ref().unwrap_or(&defaults);
        let keypair = cfg.keypair.clone().unwrap_or_else(Keypair::generate);
        let net = Network::new(cfg.config.clone(), keypair)?;
        let events = match cfg.on_event {
            Some((callback, userdata)) => Some(spawn_event_delivery(&net, callback, userdata)?),
            None => None,
        };
        *out =
            Box::into_raw(Box::new(hypar_network { net, pid: std::process::id(), events: DeliverySlot::new(events) }));
        Ok(())
    })
}

fn spawn_event_delivery(net: &Network, callback: EventCallback, userdata: UserData) -> Result<Delivery, Fail> {
    let deliver = move |event: crate::Event| {
        let (kind, peer) = match event.kind {
            EventKind::Joined => (hypar_event_kind::HYPAR_EVENT_JOINED, None),
            EventKind::NeighborUp(p) => (hypar_event_kind::HYPAR_EVENT_NEIGHBOR_UP, Some(p)),
            EventKind::NeighborDown(p) => (hypar_event_kind::HYPAR_EVENT_NEIGHBOR_DOWN, Some(p)),
            EventKind::BootstrapFailed => (hypar_event_kind::HYPAR_EVENT_BOOTSTRAP_FAILED, None),
        };
        let topic = CString::new(event.topic).unwrap_or_default();
        let peer = peer.map(|p| CString::new(p.to_string()).unwrap_or_default());
        let userdata = userdata;
        callback(userdata.0, kind, topic.as_ptr(), peer.as_ref().map_or(std::ptr::null(), |p| p.as_ptr()));
    };
    Delivery::spawn("hypar-events".into(), net.events(), deliver)
        .map_err(|e| Fail::new(hypar_result::HYPAR_ERR_RUNTIME, format!("cannot start the event thread: {e}")))
}

/// The live network behind a handle, refusing handles from a parent process.
pub(crate) unsafe fn arg_network<'a>(net: *const hypar_network) -> Result<&'a hypar_network, Fail> {
    let net = arg_ref(net, "net")?;
    check_process(net.pid)?;
    Ok(net)
}

impl hypar_network {
    pub(crate) fn network(&self) -> &Network {
        &self.net
    }

    fn stop(&self) {
        self.net.shutdown();
        self.events.stop();
    }
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
    guard(|| write_out(arg_network(net)?.net.peer_id().to_string().as_bytes(), true, buf.cast(), len, written))
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
    guard(|| {
        let net = arg_network(net)?;
        if net.net.is_shut_down() {
            return Err(crate::Error::ShutDown.into());
        }
        let addrs: Vec<String> = net.net.listen_addrs().iter().map(|a| a.to_string()).collect();
        write_out(addrs.join("\n").as_bytes(), true, buf.cast(), len, written)
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
    guard(|| {
        let out = arg_out(out, "out")?;
        let stats = arg_network(net)?.net.stats()?;
        *out = hypar_network_stats {
            topics: stats.topics.len(),
            connected_peers: stats.connected_peers,
            frames_dropped: stats.frames_dropped,
        };
        Ok(())
    })
}

/// Leave every topic politely, close every connection and stop the network
/// thread; waits up to about a second for goodbyes to go out. Afterwards the
/// handle and its topics stay valid but inert: their calls return
/// `HYPAR_ERR_SHUT_DOWN`, and no callback is called again. Idempotent.
/// May be called from a callback.
///
/// # Safety
/// `net` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn hypar_network_shutdown(net: *const hypar_network) -> hypar_result {
    guard(|| {
        let net = arg_network(net)?;
        net.stop();
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
    guard_void(|| {
        if net.is_null() {
            return;
        }
        let net = Box::from_raw(net);
        if check_process(net.pid).is_err() {
            std::mem::forget(net);
            return;
        }
        net.stop();
    })
}
