//! The C builder of a network's configuration.

use std::ffi::{c_char, c_void};

use hypar::Keypair;

use super::boundary::boundary;
use super::handles::{arg_bytes, arg_str, take_box, to_box_ptr, try_mut, Castable, OwnershipBox, UserData};
use super::hypar_result;
use crate::shared::{parse_ips, parse_multiaddr, ForeignError, NetworkConfig};

/// Settings for `hypar_network_new`. Create with `hypar_network_config_new`;
/// release with `hypar_network_config_free`. Not thread-safe: use one
/// configuration from one thread at a time.
pub struct hypar_network_config {
    _private: [u8; 0],
}

/// What `hypar_network_config` holds.
#[derive(Default)]
pub(crate) struct CNetworkConfig {
    pub(crate) config: NetworkConfig,
    pub(crate) on_event: Option<(EventCallback, UserData)>,
}

impl Castable for hypar_network_config {
    type Ownership = OwnershipBox;
    type RustType = CNetworkConfig;
}

/// What a network event is about.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum hypar_event_kind {
    /// The node got its first neighbour in the topic (again, after a rejoin).
    HYPAR_EVENT_JOINED = 0,
    /// A peer became a neighbour, and its link carries frames (it has sent
    /// this node a frame of the topic); `peer_id` names it. A peer that
    /// cannot be reached is never announced.
    HYPAR_EVENT_NEIGHBOR_UP = 1,
    /// A neighbour announced by HYPAR_EVENT_NEIGHBOR_UP left, failed or was
    /// replaced; `peer_id` names it.
    HYPAR_EVENT_NEIGHBOR_DOWN = 2,
    /// No bootstrap peer could be reached; the node retries with backoff.
    HYPAR_EVENT_BOOTSTRAP_FAILED = 3,
    /// The topic's callback was slower than messages arrived: some did not
    /// fit its queue and were dropped (counted in `hypar_topic_stats`'
    /// `dropped`). Reported at most once a second.
    HYPAR_EVENT_LAGGED = 4,
    /// A peer misbehaved past the ban threshold and is banned; `peer_id`
    /// names it and `topic` is "" (bans are network-wide).
    HYPAR_EVENT_PEER_BANNED = 5,
    /// Whether this node is publicly reachable changed; read it with
    /// `hypar_network_stats` (`reachability`). `topic` is "".
    HYPAR_EVENT_REACHABILITY_CHANGED = 6,
    /// A relay (`peer_id`) accepted this node's reservation: peers reach it
    /// through the relay's `/p2p-circuit` address, now among
    /// `hypar_network_listen_addrs`. `topic` is "".
    HYPAR_EVENT_RELAY_RESERVED = 7,
    /// The reservation on this relay (`peer_id`) ended; a node that still
    /// needs one reserves on another it is connected to. `topic` is "".
    HYPAR_EVENT_RELAY_LOST = 8,
    /// Hole punching gave a direct connection to `peer_id`, which was
    /// reached through a relay. `topic` is "".
    HYPAR_EVENT_DIRECT_CONNECTION = 9,
}

/// Whether other nodes can dial this one.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum hypar_reachability {
    /// Not known yet (no probe answered).
    #[default]
    HYPAR_REACHABILITY_UNKNOWN = 0,
    /// Peers dialed this node back, or an external address was declared.
    HYPAR_REACHABILITY_PUBLIC = 1,
    /// Peers could not dial this node back: it is reached through a relay.
    HYPAR_REACHABILITY_PRIVATE = 2,
}

pub(crate) type EventCallback = extern "C" fn(*mut c_void, hypar_event_kind, *const c_char, *const c_char);

/// Change the configuration behind `cfg`.
///
/// # Safety
/// `cfg` is NULL or a live configuration used by no other thread.
unsafe fn edit(
    cfg: *mut hypar_network_config,
    change: impl FnOnce(&mut CNetworkConfig) -> Result<(), ForeignError>,
) -> hypar_result {
    // SAFETY: the caller's contract.
    boundary(|| change(unsafe { try_mut(cfg, "cfg")? }))
}

/// A configuration with the defaults: a fresh identity, TCP and QUIC on
/// every IPv4 interface with ports chosen by the system, 64 KiB messages.
/// Release it with `hypar_network_config_free` (also after it was used).
/// Never returns NULL unless memory is exhausted.
#[no_mangle]
pub extern "C" fn hypar_network_config_new() -> *mut hypar_network_config {
    boundary(|| to_box_ptr::<hypar_network_config>(CNetworkConfig::default()))
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
    // SAFETY: the function's contract.
    unsafe {
        edit(cfg, |cfg| {
            let addr = arg_str(multiaddr, "multiaddr")?;
            parse_multiaddr(addr)?;
            cfg.config.listen.push(addr.to_string());
            Ok(())
        })
    }
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
    // SAFETY: the function's contract.
    unsafe {
        edit(cfg, |cfg| {
            let key = arg_bytes(key, len, "key")?;
            Keypair::from_bytes(key)?;
            cfg.config.keypair = Some(key.to_vec());
            Ok(())
        })
    }
}

/// Ban a peer whose misbehaviour score reaches `threshold` (default 100; 0
/// never bans) for `duration_ms` milliseconds (default 600000, between 1
/// and 86400000). A bad signature scores 20, a message the validator
/// rejected 10, a malformed frame 25, bytes that are no frame 50, lighter
/// slips 1 or 2; scores halve every minute. A banned peer is told
/// DISCONNECT, dropped from every view, disconnected and refused, and
/// reported as `HYPAR_EVENT_PEER_BANNED`. Out of range values are reported
/// by `hypar_network_new` as `HYPAR_ERR_INVALID_CONFIG`.
///
/// # Safety
/// `cfg` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn hypar_network_config_set_ban(
    cfg: *mut hypar_network_config,
    threshold: u32,
    duration_ms: u64,
) -> hypar_result {
    // SAFETY: the function's contract.
    unsafe {
        edit(cfg, |cfg| {
            cfg.config.ban_threshold = Some(threshold);
            cfg.config.ban_duration_ms = Some(duration_ms);
            Ok(())
        })
    }
}

/// How fast a peer may send on one connection (a peer has at most two):
/// `frames_per_second` frames (default 50000) and `bytes_per_second` frame
/// bytes (default 134217728; else at least the maximum message size), each
/// with a burst of one second's worth; 0 means no bound. A byte rate below
/// the maximum message size is reported by `hypar_network_new` as
/// `HYPAR_ERR_INVALID_CONFIG`. Beyond it the peer is read more slowly: its frames wait
/// in the transport, so its publishers see backpressure; nothing is dropped
/// and nothing is penalised (a neighbour relaying a busy topic looks like a
/// flooder). Set it to the busiest honest rate one neighbour may send: a
/// flood of even valid messages then costs this node at most that.
///
/// # Safety
/// `cfg` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn hypar_network_config_set_peer_rate(
    cfg: *mut hypar_network_config,
    frames_per_second: u32,
    bytes_per_second: u64,
) -> hypar_result {
    // SAFETY: the function's contract.
    unsafe {
        edit(cfg, |cfg| {
            cfg.config.peer_frame_rate = Some(frames_per_second);
            cfg.config.peer_byte_rate = Some(bytes_per_second);
            Ok(())
        })
    }
}

/// Find peers on the local networks with mDNS (multicast DNS, UDP port
/// 5353) when `enabled` (default off): nodes on one LAN that join the same
/// topic need no bootstrap address. A discovered peer that speaks hypar
/// becomes a join candidate for every topic the network is in. Loopback
/// interfaces are not searched. On Android the app must hold a
/// `WifiManager.MulticastLock` (permission `CHANGE_WIFI_MULTICAST_STATE`);
/// on iOS it needs the `com.apple.developer.networking.multicast`
/// entitlement.
///
/// # Safety
/// `cfg` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn hypar_network_config_set_mdns(cfg: *mut hypar_network_config, enabled: bool) -> hypar_result {
    // SAFETY: the function's contract.
    unsafe {
        edit(cfg, |cfg| {
            cfg.config.mdns = enabled;
            Ok(())
        })
    }
}

/// Offer relay service (circuit relay v2) to nodes behind NAT when
/// `enabled` (default off, even on a publicly reachable node: relaying
/// spends its bandwidth on others' traffic). Run it on the public nodes you
/// operate for your application. A circuit carries at most 4 MiB for at
/// most 5 minutes; hole punching normally replaces it within seconds.
///
/// # Safety
/// `cfg` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn hypar_network_config_set_relay_server(
    cfg: *mut hypar_network_config,
    enabled: bool,
) -> hypar_result {
    // SAFETY: the function's contract.
    unsafe {
        edit(cfg, |cfg| {
            cfg.config.relay_server = enabled;
            Ok(())
        })
    }
}

/// Declare `multiaddr` (such as `"/ip4/203.0.113.7/tcp/4001"`) an address
/// at which this node is publicly reachable (a server's public IP, a port
/// forward): it is announced to peers at once, and the node counts as
/// public without waiting for probes. Repeatable, at most 8 (more are
/// reported by `hypar_network_new` as `HYPAR_ERR_INVALID_CONFIG`). A
/// string that is not UTF-8 or not a multiaddr returns
/// `HYPAR_ERR_INVALID_ARGUMENT`. The string is copied.
///
/// # Safety
/// `cfg` is NULL or live; `multiaddr` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn hypar_network_config_add_external_addr(
    cfg: *mut hypar_network_config,
    multiaddr: *const c_char,
) -> hypar_result {
    // SAFETY: the function's contract.
    unsafe {
        edit(cfg, |cfg| {
            let addr = arg_str(multiaddr, "multiaddr")?;
            parse_multiaddr(addr)?;
            cfg.config.external_addrs.push(addr.to_string());
            Ok(())
        })
    }
}

/// Resolve `/dns` addresses with the name server at `ip` (such as
/// `"1.1.1.1"` or `"2606:4700::1111"`); repeatable. Without any, the
/// system's configuration is used, or, where it cannot be read (always on
/// Android), Cloudflare's and Google's public resolvers. A string that is
/// not an IP address returns `HYPAR_ERR_INVALID_ARGUMENT`.
///
/// # Safety
/// `cfg` is NULL or live; `ip` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn hypar_network_config_add_dns_server(
    cfg: *mut hypar_network_config,
    ip: *const c_char,
) -> hypar_result {
    // SAFETY: the function's contract.
    unsafe {
        edit(cfg, |cfg| {
            let ip = arg_str(ip, "ip")?.to_string();
            parse_ips(std::slice::from_ref(&ip), "ip")?;
            cfg.config.dns_servers.push(ip);
            Ok(())
        })
    }
}

/// Map a port on the local router with UPnP when `enabled` (default off).
///
/// # Safety
/// `cfg` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn hypar_network_config_set_upnp(cfg: *mut hypar_network_config, enabled: bool) -> hypar_result {
    // SAFETY: the function's contract.
    unsafe {
        edit(cfg, |cfg| {
            cfg.config.upnp = enabled;
            Ok(())
        })
    }
}

/// Count private address ranges (10/8, 172.16/12, 192.168/16, ...) as public
/// when probing reachability, when `enabled` (default off). For test beds
/// that play the internet on private addresses; never in the field, where
/// a node would think itself reachable at a LAN address.
///
/// # Safety
/// `cfg` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn hypar_network_config_set_private_is_public(
    cfg: *mut hypar_network_config,
    enabled: bool,
) -> hypar_result {
    // SAFETY: the function's contract.
    unsafe {
        edit(cfg, |cfg| {
            cfg.config.private_is_public = enabled;
            Ok(())
        })
    }
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
    // SAFETY: the function's contract.
    unsafe {
        edit(cfg, |cfg| {
            cfg.config.max_message_size = Some(bytes as u64);
            Ok(())
        })
    }
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
    // SAFETY: the function's contract.
    unsafe {
        edit(cfg, |cfg| {
            cfg.config.message_queue = Some(messages as u64);
            Ok(())
        })
    }
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
    // SAFETY: the function's contract.
    unsafe {
        edit(cfg, |cfg| {
            cfg.on_event = on_event.map(|f| (f, UserData(userdata)));
            Ok(())
        })
    }
}

/// Release a configuration. NULL is ignored. A network created from it is
/// not affected.
///
/// # Safety
/// `cfg` is NULL or a live configuration not used again afterwards.
#[no_mangle]
pub unsafe extern "C" fn hypar_network_config_free(cfg: *mut hypar_network_config) {
    // SAFETY: the function's contract.
    boundary(|| drop(unsafe { take_box(cfg) }))
}
