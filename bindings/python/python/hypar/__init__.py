"""hypar: peer-to-peer topic gossip (HyParView membership, Plumtree broadcast) over libp2p.

Join topics by name; every message another member gossips is delivered once,
either to an ``on_message`` callback or through ``async for`` over
:meth:`Topic.messages`::

    import hypar

    with hypar.Network(listen=["/ip4/127.0.0.1/tcp/0"]) as net:
        print(net.listen_addrs())          # give one of these to other nodes
        topic = net.join("chat", bootstrap=[], on_message=lambda data: print(data))
        topic.gossip(b"hello")

The network runs on its own thread: no event loop is needed, and every
method may be called from any thread. Callbacks run on a library-owned thread,
one at a time per topic; an exception a callback raises is logged through the
``hypar`` logger and the next message is delivered as usual.

Every exception hypar raises derives from :class:`HyparError`.

Topics are signed by default: every message carries its publisher's signature,
and each delivered :class:`Message` (a ``bytes`` subclass) tells who published it
(``.origin``) and how many hops it travelled (``.hops``). A ``validate`` function
given to :meth:`Network.join` sees each new message before it is delivered or
relayed, and returns a :class:`Verdict` (or ``True`` / ``False``)::

    def validate(msg: hypar.Message) -> hypar.Verdict:
        return hypar.Verdict.ACCEPT if msg.startswith(b"{") else hypar.Verdict.REJECT

    topic = net.join("chat", validate=validate, on_message=print)
"""

from __future__ import annotations

import atexit
import logging
import math
import weakref
from dataclasses import dataclass
from typing import AsyncIterator, Callable, Iterable, Optional, Union

from .hypar import (
    EventHandler as _EventHandler,
    HyparError,
    HyparNetwork as _HyparNetwork,
    HyparTopic as _HyparTopic,
    Message as _Message,
    MessageBatchHandler as _MessageBatchHandler,
    MessageValidator as _MessageValidator,
    TopicOptions as _TopicOptions,
    Verdict,
    NetworkEvent,
    NetworkEventKind,
    NetworkConfig as _NetworkConfig,
    NetworkStats,
    Reachability,
    TopicStats,
    generate_keypair as _generate_keypair,
    keypair_peer_id as _keypair_peer_id,
    version as _version,
)

__all__ = [
    "Network",
    "Topic",
    "TopicConfig",
    "Message",
    "Verdict",
    "HyparError",
    "MessageTooLarge",
    "ShutDown",
    "InvalidArgument",
    "InvalidConfig",
    "ListenError",
    "AlreadyJoined",
    "QueueFull",
    "RuntimeFailure",
    "Forked",
    "NetworkEvent",
    "NetworkEventKind",
    "NetworkStats",
    "Reachability",
    "TopicStats",
    "generate_keypair",
    "keypair_peer_id",
    "__version__",
]

__version__: str = _version()

logger = logging.getLogger("hypar")

#: The message with its framing exceeds the network's maximum message size.
MessageTooLarge: "type[HyparError]" = getattr(HyparError, "MessageTooLarge")
#: The network has shut down, or the topic was left.
ShutDown: "type[HyparError]" = getattr(HyparError, "ShutDown")
#: A malformed argument: a bad multiaddr, a bad key, a payload that is not bytes.
InvalidArgument: "type[HyparError]" = getattr(HyparError, "InvalidArgument")
#: A configuration value out of range.
InvalidConfig: "type[HyparError]" = getattr(HyparError, "InvalidConfig")
#: A listen address could not be bound.
ListenError: "type[HyparError]" = getattr(HyparError, "Listen")
#: The topic is already joined on this network.
AlreadyJoined: "type[HyparError]" = getattr(HyparError, "AlreadyJoined")
#: Too many publishes wait for the network thread; retry later.
QueueFull: "type[HyparError]" = getattr(HyparError, "QueueFull")
#: The network thread could not start or run.
RuntimeFailure: "type[HyparError]" = getattr(HyparError, "Runtime")
#: The network was created before this process was forked from its parent.
Forked: "type[HyparError]" = getattr(HyparError, "Forked")

BytesLike = Union[bytes, bytearray, memoryview]


def _as_bytes(data: BytesLike, what: str) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise InvalidArgument(f"{what} must be bytes, bytearray or memoryview, not {type(data).__name__}")


def _as_addrs(addrs: Optional[Iterable[str]], what: str, kind: str = "multiaddr") -> list[str]:
    if addrs is None:
        return []
    if isinstance(addrs, str):
        raise InvalidArgument(f"{what} must be a list of {kind} strings, not a single string")
    out = list(addrs)
    for a in out:
        if not isinstance(a, str):
            raise InvalidArgument(f"{what} must hold {kind} strings, not {type(a).__name__}")
    return out


def _as_count(value: Optional[int], what: str) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise InvalidConfig(f"{what} must be an int between 0 and 2**63 - 1, not {value!r}")
    return value


def _as_u32(value: Optional[int], what: str) -> Optional[int]:
    count = _as_count(value, what)
    if count is not None and count >= 2**32:
        raise InvalidConfig(f"{what} must be below 2**32, not {count}")
    return count


class Message(bytes):
    """A delivered message: its payload as ``bytes``, plus what is known of it.

    ``origin`` is the publisher's peer id, verified by its signature, in a signed
    topic (``None`` in an unsigned one); ``hops`` is how many overlay hops it
    travelled (1: straight from its publisher; 0: a neighbour handed it to this node to
    publish, by proxy passing). ``direct`` is true for a message a
    neighbour sent this node alone (:meth:`Topic.send`); ``origin`` is then that
    neighbour. Code written for plain ``bytes`` keeps working.
    """

    origin: Optional[str]
    hops: int
    direct: bool

    def __new__(cls, data: bytes, origin: Optional[str] = None, hops: int = 1, direct: bool = False) -> "Message":
        message = super().__new__(cls, data)
        message.origin = origin
        message.hops = hops
        message.direct = direct
        return message

    @classmethod
    def _from(cls, m: _Message) -> "Message":
        return cls(m.data, m.origin, m.hops, m.direct)

    def __repr__(self) -> str:
        direct = ", direct=True" if self.direct else ""
        return f"hypar.Message({bytes(self)!r}, origin={self.origin!r}, hops={self.hops}{direct})"


#: What a validator may return: a :class:`Verdict`, or ``True`` / ``False`` for ACCEPT / REJECT.
VerdictLike = Union[Verdict, bool]


class _Validator(_MessageValidator):
    """Calls the application's validator; an exception or a bad answer counts as IGNORE."""

    def __init__(self, topic: str, validate: Callable[[Message], VerdictLike]) -> None:
        self._topic = topic
        self._validate = validate

    def validate(self, message: _Message) -> Verdict:
        try:
            verdict = self._validate(Message._from(message))
        except BaseException:  # noqa: BLE001 - a validator must never stop validation
            logger.exception("validator of topic %r raised; the message is ignored", self._topic)
            return Verdict.IGNORE
        if isinstance(verdict, Verdict):
            return verdict
        if verdict is True:
            return Verdict.ACCEPT
        if verdict is False:
            return Verdict.REJECT
        logger.error(
            "validator of topic %r returned %r, not a hypar.Verdict or a bool; the message is ignored",
            self._topic,
            verdict,
        )
        return Verdict.IGNORE


def _as_millis(seconds: Optional[float], what: str) -> Optional[int]:
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        raise InvalidConfig(f"{what} must be a number of seconds, not {seconds!r}")
    if not 0.001 <= seconds <= 86400:
        raise InvalidConfig(f"{what} must be between 0.001 and 86400 seconds, not {seconds!r}")
    return round(seconds * 1000)


def _as_peers(peers: Optional[Iterable[str]], what: str) -> Optional[list[str]]:
    if peers is None:
        return None
    if isinstance(peers, (str, bytes)):
        raise InvalidArgument(f"{what} must be a list of peer id strings (or None for anyone), not one string")
    items = list(peers)
    for p in items:
        if not isinstance(p, str):
            raise InvalidArgument(f"{what} must hold peer id strings, not {p!r}")
    return items


def _millis_as_seconds(ms: Optional[int]) -> float:
    return (ms or 0) / 1000


@dataclass(frozen=True)
class TopicConfig:
    """The options a topic runs with (:meth:`Topic.config`), under the names of the keywords of
    :meth:`Network.join` and :meth:`Topic.configure`. Peer sets are ``None`` for anyone."""

    signed: bool
    hops: int
    allow: Optional[list[str]]
    hear: Optional[list[str]]
    tell: Optional[list[str]]
    active_view: int
    passive_view: int
    known_peers: int
    shuffle_interval: float
    graft_timeout: float
    ihave_interval: float
    validation_timeout: float
    message_cache: int
    message_cache_bytes: int
    proxy: bool
    proxy_timeout: float
    origin_trees: int
    duplicates_before_prune: int


#: The keywords that set topic options, for join and configure.
_OPTION_KEYWORDS = (
    "hops",
    "allow",
    "hear",
    "tell",
    "active_view",
    "passive_view",
    "known_peers",
    "shuffle_interval",
    "graft_timeout",
    "ihave_interval",
    "validation_timeout",
    "message_cache",
    "message_cache_bytes",
    "proxy",
    "proxy_timeout",
    "origin_trees",
    "duplicates_before_prune",
)


def _set_options(options: _TopicOptions, given: dict[str, object]) -> None:
    """Set the options named in ``given`` (keyword -> value; ``None`` leaves a number as it is
    and means anyone for a peer set), checking each."""
    unknown = set(given) - set(_OPTION_KEYWORDS)
    if unknown:
        raise InvalidArgument(f"unknown topic option(s): {', '.join(sorted(unknown))}")
    counts = {"hops": "max_hops", "active_view": "active_view", "passive_view": "passive_view",
              "known_peers": "known_peers", "message_cache": "message_cache",
              "message_cache_bytes": "message_cache_bytes", "origin_trees": "origin_trees",
              "duplicates_before_prune": "duplicates_before_prune"}
    for keyword, field in counts.items():
        if keyword in given and given[keyword] is not None:
            check = _as_count if field.startswith("message_cache") else _as_u32
            setattr(options, field, check(given[keyword], keyword))  # type: ignore[arg-type]
    durations = {"shuffle_interval": "shuffle_interval_ms", "graft_timeout": "graft_timeout_ms",
                 "ihave_interval": "ihave_interval_ms", "validation_timeout": "validation_timeout_ms",
                 "proxy_timeout": "proxy_timeout_ms"}
    for keyword, field in durations.items():
        if keyword in given and given[keyword] is not None:
            setattr(options, field, _as_millis(given[keyword], keyword))  # type: ignore[arg-type]
    for keyword in ("allow", "hear", "tell"):
        if keyword in given:
            setattr(options, keyword, _as_peers(given[keyword], keyword))  # type: ignore[arg-type]
    proxy = given.get("proxy")
    if proxy is not None:
        if not isinstance(proxy, bool):
            raise InvalidArgument(f"proxy must be True or False, not {proxy!r}")
        options.proxy = proxy


#: Messages handed from Rust to Python per call at most. A foreign call costs
#: microseconds in Python, so messages already waiting cross together.
_BATCH = 256


class _CallbackHandler(_MessageBatchHandler):
    """Calls the application's callback per message; an exception is logged, never propagated."""

    def __init__(self, topic: str, callback: Callable[[Message], object]) -> None:
        self._topic = topic
        self._callback = callback
        self.active = True

    def on_messages(self, batch: list[_Message]) -> None:
        callback = self._callback
        for m in batch:
            if not self.active:  # the topic was left, maybe by this very callback
                return
            try:
                callback(Message._from(m))
            except BaseException:  # noqa: BLE001 - a callback must never stop delivery
                logger.exception("on_message callback of topic %r raised; delivery goes on", self._topic)


class _EventCallback(_EventHandler):
    def __init__(self, callback: Callable[[NetworkEvent], object]) -> None:
        self._callback = callback

    def on_event(self, event: NetworkEvent) -> None:
        try:
            self._callback(event)
        except BaseException:  # noqa: BLE001
            logger.exception("on_event callback raised; delivery goes on")


def generate_keypair() -> bytes:
    """A fresh Ed25519 identity (libp2p protobuf encoding) for ``Network(keypair=...)``. Keep it secret."""
    return _generate_keypair()


def keypair_peer_id(keypair: BytesLike) -> str:
    """The peer id of an identity from :func:`generate_keypair`."""
    return _keypair_peer_id(_as_bytes(keypair, "keypair"))


class Topic:
    """A joined topic. Publish with :meth:`gossip`; leave with :meth:`leave` or a ``with`` block."""

    def __init__(self, network: "Network", inner: _HyparTopic, handler: Optional[_CallbackHandler]) -> None:
        self._network = network  # a topic keeps its network running
        self._inner = inner
        self._handler = handler
        _live_topics.add(self)
        network._topics.add(self)

    @property
    def name(self) -> str:
        """The topic's name."""
        return self._inner.name()

    def gossip(self, data: BytesLike, hops: Optional[int] = None) -> None:
        """Publish ``data`` to every other member; returns at once.

        With ``hops``, only to members at most that many overlay hops away: 1 reaches this
        node's neighbours only. The topic's ``hops`` option stays the ceiling (a larger value
        acts as it).

        Raises :class:`MessageTooLarge`, :class:`QueueFull`, :class:`ShutDown`, or
        :class:`InvalidArgument` for a ``hops`` that is not an int from 1 to 65535.
        """
        payload = _as_bytes(data, "data")
        if hops is None:
            self._inner.gossip(payload)
            return
        if isinstance(hops, bool) or not isinstance(hops, int) or not 1 <= hops <= 65535:
            raise InvalidArgument(f"hops must be an int from 1 to 65535, not {hops!r}")
        self._inner.gossip_within(payload, hops)

    def send(self, peer_id: str, data: BytesLike) -> None:
        """Send ``data`` to the neighbour ``peer_id`` alone: it arrives there as a
        :class:`Message` with ``direct`` set and ``origin`` naming this node. Not gossiped, not
        deduplicated (sent twice, it arrives twice), never relayed: for example, to hand a new
        neighbour (a ``NEIGHBOR_UP`` event) the current state.

        Raises :class:`InvalidArgument` if ``peer_id`` is malformed or not a current neighbour
        in this topic, :class:`QueueFull` if the link to it is congested (nothing was sent:
        retry later), :class:`MessageTooLarge` or :class:`ShutDown`.
        """
        if not isinstance(peer_id, str):
            raise InvalidArgument(f"peer_id must be a str, not {type(peer_id).__name__}")
        self._inner.send(peer_id, _as_bytes(data, "data"))

    def gossip_many(self, messages: Iterable[BytesLike]) -> int:
        """Publish each of ``messages`` in order, in one call into the library (much cheaper
        than one :meth:`gossip` per message). Returns how many were published: it stops at the
        first failure (such as :class:`QueueFull`), and raises it if it hit the first message."""
        return self._inner.gossip_many([_as_bytes(m, "message") for m in messages])

    def stats(self) -> TopicStats:
        """This topic's counters: view sizes, tree links, delivered, relayed, duplicates, dropped, bytes."""
        return self._inner.stats()

    def config(self) -> TopicConfig:
        """The options the topic runs with now."""
        o = self._inner.config()
        return TopicConfig(
            signed=o.signed,
            hops=o.max_hops or 0,
            allow=o.allow,
            hear=o.hear,
            tell=o.tell,
            active_view=o.active_view or 0,
            passive_view=o.passive_view or 0,
            known_peers=o.known_peers or 0,
            shuffle_interval=_millis_as_seconds(o.shuffle_interval_ms),
            graft_timeout=_millis_as_seconds(o.graft_timeout_ms),
            ihave_interval=_millis_as_seconds(o.ihave_interval_ms),
            validation_timeout=_millis_as_seconds(o.validation_timeout_ms),
            message_cache=o.message_cache or 0,
            message_cache_bytes=o.message_cache_bytes or 0,
            proxy=o.proxy,
            proxy_timeout=_millis_as_seconds(o.proxy_timeout_ms),
            origin_trees=o.origin_trees or 0,
            duplicates_before_prune=o.duplicates_before_prune or 0,
        )

    def configure(self, **options: object) -> None:
        """Change options while the topic runs, at once; the keywords of :meth:`Network.join`
        (``hops``, ``allow``, ``hear``, ``tell``, ``proxy``, view sizes, timers, caches). Options not given keep
        their value. A peer no longer allowed (or in neither ``hear`` nor ``tell``) is
        disconnected from the topic; a neighbour no longer in ``tell`` gets no more messages; a
        smaller ``hops`` applies to what is relayed from now on; a smaller view sheds peers.

        ``signed`` and the validator are fixed while joined. Raises :class:`InvalidConfig` (a
        value out of range) or :class:`InvalidArgument` (an unknown keyword, a malformed peer id),
        naming it; then nothing changed.
        """
        if "signed" in options:
            raise InvalidArgument("signed is fixed while joined (leave and join again to change it)")
        current = self._inner.config()
        _set_options(current, options)
        self._inner.configure(current)

    async def messages(self) -> AsyncIterator[Message]:
        """Every message, as an asyncio iterator that ends when the topic is left or the network shuts down.

        Only for topics joined without ``on_message``.
        """
        if self._handler is not None:
            raise InvalidArgument(f"topic {self.name!r} delivers to its on_message callback")
        while True:
            m = await self._inner.next_message()
            if m is None:
                return
            yield Message._from(m)

    @property
    def delivering(self) -> bool:
        """Whether messages are still delivered: ``False`` once the topic was left or its
        network shut down. Once it is ``False``, the callback is not called again."""
        return self._inner.is_delivering()

    def _stop_callbacks(self) -> None:
        """Stop calling ``on_message``, even for messages of a batch already handed over."""
        if self._handler is not None:
            self._handler.active = False

    def leave(self) -> None:
        """Leave the topic. Once it returns, the callback is not called again (called from the
        callback itself: once the callback returns). Idempotent."""
        self._stop_callbacks()
        self._inner.leave()

    def __enter__(self) -> "Topic":
        return self

    def __exit__(self, *exc: object) -> None:
        self.leave()

    def __repr__(self) -> str:
        return f"<hypar.Topic {self.name!r}>"


class Network:
    """A node: listens, joins topics, and runs the protocol on its own thread.

    All arguments are optional keywords:

    - ``listen``: multiaddrs to listen on (default: TCP and QUIC on every IPv4 interface,
      system-chosen ports), such as ``"/ip4/127.0.0.1/tcp/0"`` or ``"/ip4/0.0.0.0/udp/4001/quic-v1"``;
    - ``keypair``: an identity from :func:`generate_keypair` (default: a fresh one);
    - ``max_message_size``: largest frame on the wire, framing included (default 65536);
    - ``message_queue``: messages queued per topic for its callback or iterator (default 1024);
      beyond it messages are dropped and counted in :meth:`Topic.stats`;
    - ``ban_threshold``: misbehaviour score at which a peer is banned (default 100; 0 never
      bans). A bad signature scores 20, a message a validator rejected 10, a malformed frame 25;
      scores halve every minute. A banned peer is disconnected, dropped from every view and
      refused, and reported as a ``PEER_BANNED`` event;
    - ``ban_duration``: seconds a banned peer is refused (default 600);
    - ``peer_frame_rate``, ``peer_byte_rate``: frames and frame bytes a peer may send per second
      on one connection (defaults 50000 and 128 MiB; 0 no bound; a byte rate is at least
      ``max_message_size``). Beyond them the peer is read
      more slowly, so its publishers see backpressure; nothing is dropped or penalised. Set them
      to the busiest honest rate one neighbour may send: a flood then costs at most that;
    - ``mdns``: find peers on the local networks with mDNS (default off): nodes on one LAN
      that join the same topic need no bootstrap address. Loopback is not searched;
    - ``relay_server``: offer relay service to nodes behind NAT (default off, even when this
      node is publicly reachable: relaying spends its bandwidth on others' traffic);
    - ``external_addrs``: multiaddrs at which this node is publicly reachable (at most 8),
      announced at once; the node then counts as public without waiting for probes;
    - ``upnp``: map a port on the local router with UPnP (default off);
    - ``private_is_public``: count private address ranges as public when probing
      reachability, for test beds only;
    - ``dns_servers``: IP addresses of name servers for ``/dns`` addresses (default: the
      system's configuration, or where it cannot be read, as on Android, public resolvers).

    Every node can be reached through a relay: while it is not known to be publicly
    reachable, it reserves a slot on a connected peer that offers relay service, and hole
    punching then makes its links direct. :meth:`stats` and the ``REACHABILITY_CHANGED``,
    ``RELAY_RESERVED``, ``RELAY_LOST`` and ``DIRECT_CONNECTION`` events report it.

    Returns once every listen address is bound. Use as a context manager to shut down on exit.
    """

    def __init__(
        self,
        *,
        listen: Optional[Iterable[str]] = None,
        keypair: Optional[BytesLike] = None,
        max_message_size: Optional[int] = None,
        message_queue: Optional[int] = None,
        ban_threshold: Optional[int] = None,
        ban_duration: Optional[float] = None,
        peer_frame_rate: Optional[int] = None,
        peer_byte_rate: Optional[int] = None,
        mdns: bool = False,
        relay_server: bool = False,
        external_addrs: Optional[Iterable[str]] = None,
        upnp: bool = False,
        private_is_public: bool = False,
        dns_servers: Optional[Iterable[str]] = None,
    ) -> None:
        flags = dict(mdns=mdns, relay_server=relay_server, upnp=upnp, private_is_public=private_is_public)
        for name, value in flags.items():
            if not isinstance(value, bool):
                raise InvalidConfig(f"{name} must be True or False, not {value!r}")
        options = _NetworkConfig(
            listen=_as_addrs(listen, "listen"),
            keypair=None if keypair is None else _as_bytes(keypair, "keypair"),
            max_message_size=_as_count(max_message_size, "max_message_size"),
            message_queue=_as_count(message_queue, "message_queue"),
            ban_threshold=_as_u32(ban_threshold, "ban_threshold"),
            ban_duration_ms=_as_millis(ban_duration, "ban_duration"),
            peer_frame_rate=_as_u32(peer_frame_rate, "peer_frame_rate"),
            peer_byte_rate=_as_count(peer_byte_rate, "peer_byte_rate"),
            mdns=mdns,
            relay_server=relay_server,
            external_addrs=_as_addrs(external_addrs, "external_addrs"),
            upnp=upnp,
            private_is_public=private_is_public,
            dns_servers=_as_addrs(dns_servers, "dns_servers", "IP address"),
        )
        self._inner = _HyparNetwork(options)
        self._topics: "weakref.WeakSet[Topic]" = weakref.WeakSet()
        _live_networks.add(self)

    def peer_id(self) -> str:
        """This node's peer id."""
        return self._inner.peer_id()

    def listen_addrs(self) -> list[str]:
        """The bound addresses, each ending in ``/p2p/<peer id>``, to give to other nodes."""
        return self._inner.listen_addrs()

    def join(
        self,
        topic: str,
        *,
        bootstrap: Optional[Iterable[str]] = None,
        on_message: Optional[Callable[[Message], object]] = None,
        validate: Optional[Callable[[Message], VerdictLike]] = None,
        signed: bool = True,
        validation_timeout: Optional[float] = None,
        hops: Optional[int] = None,
        allow: Optional[Iterable[str]] = None,
        hear: Optional[Iterable[str]] = None,
        tell: Optional[Iterable[str]] = None,
        active_view: Optional[int] = None,
        passive_view: Optional[int] = None,
        known_peers: Optional[int] = None,
        shuffle_interval: Optional[float] = None,
        graft_timeout: Optional[float] = None,
        ihave_interval: Optional[float] = None,
        message_cache: Optional[int] = None,
        message_cache_bytes: Optional[int] = None,
        proxy: Optional[bool] = None,
        proxy_timeout: Optional[float] = None,
        origin_trees: Optional[int] = None,
        duplicates_before_prune: Optional[int] = None,
    ) -> Topic:
        """Join ``topic`` through the ``bootstrap`` multiaddrs (none: this node is a bootstrap node).

        With ``on_message``, every message is passed to it as a :class:`Message` (a ``bytes``
        subclass) on a library thread; without, iterate :meth:`Topic.messages`. Unreachable
        bootstrap peers are retried with backoff (see :meth:`on_event`). Keep the returned
        :class:`Topic`: once it is garbage collected, the node leaves the topic.

        ``validate(msg)`` sees every new message first, on a library thread, and returns
        :class:`Verdict` ``ACCEPT`` (deliver and relay), ``REJECT`` (drop, and penalise the
        neighbour that sent it) or ``IGNORE`` (drop, blaming nobody); ``True`` and ``False``
        stand for ACCEPT and REJECT. An exception, another answer, or no answer within
        ``validation_timeout`` seconds (default 2) counts as IGNORE.

        ``signed`` (default ``True``): every message carries its publisher's signature, which
        every receiver checks; ``Message.origin`` names the publisher. Every member of a topic
        must agree. Unsigned topics cost about 80 bytes less per message and name no origin.

        Options (each default in brackets; all but ``signed`` can change later with
        :meth:`Topic.configure`, and :meth:`Topic.config` reads them back):

        - ``hops``: overlay hops a message travels at most [64]; 1 reaches only neighbours;
        - ``allow``: peer ids allowed in the topic [anyone]: the shorthand for ``hear`` and
          ``tell`` both set to it;
        - ``hear``: peer ids whose messages this node takes [anyone];
        - ``tell``: peer ids this node passes messages to [anyone]; a peer in neither never
          becomes a neighbour;
        - ``active_view``, ``passive_view``, ``known_peers``: neighbours [5], backup peers [30]
          and peers remembered to rejoin through [256];
        - ``shuffle_interval``, ``graft_timeout``, ``ihave_interval``: seconds between view
          shuffles [10], shortest wait for an announced message [0.15], announcement batching
          [0.1];
        - ``message_cache``, ``message_cache_bytes``: messages and payload bytes kept for
          neighbours that missed them [4096, 32 MiB];
        - ``proxy``: proxy passing [False]: each message this node publishes, or is handed by a
          neighbour, goes with even chance to one random neighbour, which publishes it as its
          own, so a message's first appearance is no evidence of its author; it needs
          ``signed=False``. A proxy that does not show the message within ``proxy_timeout``
          seconds [2] is replaced; after three, this node publishes it. Messages a node
          publishes for a neighbour arrive there with ``hops`` 0;
        - ``origin_trees``: senders given a broadcast tree of their own [0: one shared tree for
          every sender]; 64 suits a topic where a few dozen senders publish again and again. A sender's messages then travel a tree shaped for it, arriving in
          fewer hops and sooner; each costs about 300 bytes. Every member should agree;
        - ``duplicates_before_prune``: duplicates in a row over a link that carries the
          broadcast tree before the link is dropped from it [5], 1 to 255. Fewer drop redundant
          links sooner after failures, but with many senders let their messages cut the tree
          into pieces joined only by announcements, which makes delivery slower.

        Raises :class:`InvalidArgument`, :class:`InvalidConfig`, :class:`AlreadyJoined` or
        :class:`ShutDown`.
        """
        if not isinstance(topic, str):
            raise InvalidArgument(f"topic must be a str, not {type(topic).__name__}")
        if on_message is not None and not callable(on_message):
            raise InvalidArgument("on_message must be callable")
        if validate is not None and not callable(validate):
            raise InvalidArgument("validate must be callable")
        if not isinstance(signed, bool):
            raise InvalidArgument(f"signed must be True or False, not {signed!r}")
        addrs = _as_addrs(bootstrap, "bootstrap")
        options = _TopicOptions(signed=signed)
        _set_options(
            options,
            dict(
                validation_timeout=validation_timeout,
                hops=hops,
                allow=allow,
                hear=hear,
                tell=tell,
                active_view=active_view,
                passive_view=passive_view,
                known_peers=known_peers,
                shuffle_interval=shuffle_interval,
                graft_timeout=graft_timeout,
                ihave_interval=ihave_interval,
                message_cache=message_cache,
                message_cache_bytes=message_cache_bytes,
                proxy=proxy,
                proxy_timeout=proxy_timeout,
                origin_trees=origin_trees,
                duplicates_before_prune=duplicates_before_prune,
            ),
        )
        validator = None if validate is None else _Validator(topic, validate)
        if on_message is None:
            return Topic(self, self._inner.join(topic, addrs, None, options, validator), None)
        handler = _CallbackHandler(topic, on_message)
        return Topic(self, self._inner.join_batched(topic, addrs, handler, _BATCH, options, validator), handler)

    def on_event(self, callback: Optional[Callable[[NetworkEvent], object]]) -> None:
        """Call ``callback(event)`` for every event of every topic (joined, neighbour up/down,
        bootstrap failed), on a library thread; ``None`` stops it."""
        if callback is not None and not callable(callback):
            raise InvalidArgument("callback must be callable")
        self._inner.set_event_handler(None if callback is None else _EventCallback(callback))

    def stats(self) -> NetworkStats:
        """Counters of the network and of each topic."""
        return self._inner.stats()

    def shutdown(self) -> None:
        """Leave every topic, close every connection and stop the thread. Idempotent.

        Topics become inert: their calls raise :class:`ShutDown` and their iterators end. Once
        it returns, no ``on_message`` or ``on_event`` callback of this network is called again
        (called from a callback: except that one, which runs to its end)."""
        for topic in list(self._topics):
            topic._stop_callbacks()
        self._inner.shutdown()

    def __enter__(self) -> "Network":
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        return f"<hypar.Network {self.peer_id()}>"


# Callbacks run on library threads. If they are still running while the
# interpreter finalizes, Python ends them in a way that unwinds through the
# library and aborts the process; so at exit every topic still joined is left
# (which waits for its callback) and every network shut down.
_live_topics: "weakref.WeakSet[Topic]" = weakref.WeakSet()
_live_networks: "weakref.WeakSet[Network]" = weakref.WeakSet()


@atexit.register
def _stop_everything() -> None:
    for topic in list(_live_topics):
        try:
            topic.leave()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass
    for network in list(_live_networks):
        try:
            network.shutdown()
        except Exception:  # noqa: BLE001
            pass
