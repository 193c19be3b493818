"""Every topic option in Python, at join and while the topic runs, against real nodes over loopback."""

from __future__ import annotations

import threading

import pytest

import hypar
from conftest import wait_neighbours, wait_until


class Inbox:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: list[bytes] = []

    def __call__(self, message: hypar.Message) -> None:
        with self.lock:
            self.items.append(bytes(message))

    def payloads(self) -> list[bytes]:
        with self.lock:
            return list(self.items)


def a_peer_id() -> str:
    return hypar.keypair_peer_id(hypar.generate_keypair())


def test_options_given_at_join_read_back(network_factory):
    net = network_factory()
    friend = a_peer_id()
    t = net.join(
        "opts",
        hops=8,
        hear=[friend],
        tell=None,
        active_view=4,
        passive_view=20,
        known_peers=300,
        shuffle_interval=5,
        graft_timeout=0.2,
        ihave_interval=0.05,
        validation_timeout=1.5,
        message_cache=1000,
        message_cache_bytes=2**20,
    )
    c = t.config()
    assert isinstance(c, hypar.TopicConfig)
    assert (c.signed, c.hops, c.hear, c.tell, c.allow) == (True, 8, [friend], None, None)
    assert (c.active_view, c.passive_view, c.known_peers) == (4, 20, 300)
    assert (c.shuffle_interval, c.graft_timeout, c.ihave_interval, c.validation_timeout) == (5, 0.2, 0.05, 1.5)
    assert (c.message_cache, c.message_cache_bytes) == (1000, 2**20)
    # Defaults, for a topic joined without options.
    d = net.join("defaults").config()
    assert (d.hops, d.active_view, d.passive_view, d.allow, d.hear, d.tell) == (64, 5, 30, None, None, None)


def test_bad_options_are_refused_by_name(network_factory):
    net = network_factory()
    for kwargs, error, name in [
        (dict(hops=0), hypar.InvalidConfig, "max_hops"),
        (dict(hops=70000), hypar.InvalidConfig, "max_hops"),
        (dict(hops=-1), hypar.InvalidConfig, "hops"),
        (dict(active_view=0), hypar.InvalidConfig, "active_view"),
        (dict(graft_timeout=0), hypar.InvalidConfig, "graft_timeout"),
        (dict(hear=["not a peer id"]), hypar.InvalidArgument, "hear"),
        (dict(allow="12D3KooW"), hypar.InvalidArgument, "allow"),
        (dict(tell=[7]), hypar.InvalidArgument, "tell"),
    ]:
        with pytest.raises(error, match=name):
            net.join("bad", **kwargs)  # type: ignore[arg-type]
    t = net.join("bad")  # the name is still free after the refusals
    before = t.config()
    with pytest.raises(hypar.InvalidArgument, match="signed"):
        t.configure(signed=False)
    with pytest.raises(hypar.InvalidArgument, match="colour"):
        t.configure(colour="blue")
    with pytest.raises(hypar.InvalidConfig, match="active_view"):
        t.configure(active_view=0)
    assert t.config() == before, "nothing changed"


def test_hear_and_tell_change_at_runtime(network_factory):
    a, b = network_factory(), network_factory()
    at_a, at_b = Inbox(), Inbox()
    ta = a.join("hear-tell", on_message=at_a)
    tb = b.join("hear-tell", bootstrap=a.listen_addrs(), on_message=at_b)
    wait_neighbours(ta)
    wait_neighbours(tb)
    # b stops hearing anyone: a's message is dropped there, counted.
    tb.configure(hear=[])
    assert tb.config().hear == [] and tb.config().hops == 64  # options not given keep their value
    ta.gossip(b"not heard")
    wait_until(lambda: tb.stats().dropped >= 1, what="the message dropped at b")
    # b still tells a.
    tb.gossip(b"told")
    wait_until(lambda: at_a.payloads() == [b"told"], what="b's message at a")
    # b hears anyone again: the next message is the first it delivers.
    tb.configure(hear=None)
    ta.gossip(b"heard")
    wait_until(lambda: at_b.payloads() == [b"heard"], what="a's message at b")


def test_a_peer_no_longer_allowed_is_disconnected(network_factory):
    a, b = network_factory(), network_factory()
    ta = a.join("allow")
    tb = b.join("allow", bootstrap=a.listen_addrs())
    wait_neighbours(ta)
    wait_neighbours(tb)
    ta.configure(allow=[a_peer_id()], hops=3)
    assert ta.config().hops == 3
    wait_until(lambda: ta.stats().active_view == 0 and tb.stats().active_view == 0, what="the pair parted")
