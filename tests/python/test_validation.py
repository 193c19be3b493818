"""Signed topics, origins and validators in Python, against real nodes over loopback."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

import hypar
from conftest import Inbox, wait_neighbours, wait_until


def judge(msg: hypar.Message) -> object:
    """Verdicts by prefix, including the shorthands, a raise and a bad answer."""
    assert isinstance(msg, hypar.Message) and isinstance(msg, bytes)
    if msg.startswith(b"reject"):
        return hypar.Verdict.REJECT
    if msg.startswith(b"false"):
        return False
    if msg.startswith(b"ignore"):
        return hypar.Verdict.IGNORE
    if msg.startswith(b"raise"):
        raise ValueError("a validator that raises")
    if msg.startswith(b"odd"):
        return "not a verdict"
    if msg.startswith(b"true"):
        return True
    return hypar.Verdict.ACCEPT


def test_delivered_messages_are_bytes_with_their_origin_and_hops(network_factory):
    a, b = network_factory(), network_factory()
    inbox = Inbox()
    ta = a.join("origins")
    tb = b.join("origins", bootstrap=a.listen_addrs(), on_message=inbox)
    wait_neighbours(ta)
    ta.gossip(b"hello")
    wait_until(lambda: len(inbox.payloads()) == 1, what="the message")
    m = inbox.items[0]
    assert m == b"hello" and bytes(m) == b"hello" and m.decode() == "hello"
    assert (m.origin, m.hops) == (a.peer_id(), 1)
    assert "origin=" in repr(m)
    assert tb.stats().forged == 0


def test_an_unsigned_topic_names_no_origin_and_iterates_messages(network_factory):
    a, b = network_factory(), network_factory()
    ta = a.join("plain", signed=False)
    tb = b.join("plain", bootstrap=a.listen_addrs(), signed=False)
    wait_neighbours(ta)

    async def first() -> hypar.Message:
        async for m in tb.messages():
            return m
        raise AssertionError("the iterator ended")

    ta.gossip(b"anon")
    m = asyncio.run(asyncio.wait_for(first(), 20))
    assert (bytes(m), m.origin, m.hops) == (b"anon", None, 1)


def test_the_validator_decides_and_its_failures_count_as_ignore(network_factory, caplog):
    caplog.set_level(logging.ERROR, logger="hypar")
    a, b = network_factory(), network_factory()
    inbox = Inbox()
    ta = a.join("judged")
    tb = b.join("judged", bootstrap=a.listen_addrs(), on_message=inbox, validate=judge)
    wait_neighbours(ta)
    for p in [b"reject 1", b"false 1", b"ignore 1", b"raise 1", b"odd 1", b"true 1", b"accept 1"]:
        ta.gossip(p)
    wait_until(lambda: b"accept 1" in inbox.payloads(), what="the accepted messages")
    assert inbox.payloads() == [b"true 1", b"accept 1"]
    stats = tb.stats()
    assert (stats.delivered, stats.rejected, stats.ignored) == (2, 2, 3)
    assert "raised" in caplog.text and "not a hypar.Verdict" in caplog.text


def test_a_slow_validator_is_cut_off_and_what_follows_still_arrives(network_factory):
    a, b = network_factory(), network_factory()
    release = threading.Event()
    inbox = Inbox()

    def slow(msg: hypar.Message) -> bool:
        if msg.startswith(b"slow"):
            release.wait(10)
        return True

    ta = a.join("slow")
    tb = b.join("slow", bootstrap=a.listen_addrs(), on_message=inbox, validate=slow, validation_timeout=0.2)
    wait_neighbours(ta)
    ta.gossip(b"slow 1")
    wait_until(lambda: tb.stats().ignored == 1, what="the slow verdict to be given up")
    release.set()
    ta.gossip(b"next")
    wait_until(lambda: inbox.payloads() == [b"next"], what="the next message")


def test_bad_options_are_refused_with_their_names(network_factory):
    net = network_factory()
    with pytest.raises(hypar.InvalidArgument, match="validate"):
        net.join("t", validate=42)  # type: ignore[arg-type]
    with pytest.raises(hypar.InvalidArgument, match="signed"):
        net.join("t", signed="yes")  # type: ignore[arg-type]
    for bad in (0, -1, float("nan"), 1e9, "2"):
        with pytest.raises(hypar.InvalidConfig, match="validation_timeout"):
            net.join("t", validation_timeout=bad)  # type: ignore[arg-type]
    net.join("t", validation_timeout=0.5)  # and the name is still free after the refusals


def test_ban_settings_are_checked(network_factory):
    for bad in (-1, 2**32, 1.5, "100"):
        with pytest.raises(hypar.InvalidConfig, match="ban_threshold"):
            network_factory(ban_threshold=bad)
    with pytest.raises(hypar.InvalidConfig, match="ban_duration"):
        network_factory(ban_duration=0)
    net = network_factory(ban_threshold=0, ban_duration=60)
    stats = net.stats()
    assert (stats.peers_banned, stats.banned_now) == (0, 0)


def test_lan_discovery_is_a_network_option(network_factory):
    for bad in (1, "yes", None):
        with pytest.raises(hypar.InvalidConfig, match="mdns"):
            network_factory(mdns=bad)
    # With discovery on, a node still joins and delivers through a
    # bootstrap address (loopback has no LAN to search; tests/hosts proves
    # discovery between hosts).
    a, b = network_factory(mdns=True), network_factory(mdns=True)
    inbox = Inbox()
    ta = a.join("lan")
    tb = b.join("lan", bootstrap=a.listen_addrs(), on_message=inbox)
    wait_neighbours(ta)
    ta.gossip(b"with discovery on")
    wait_until(lambda: inbox.payloads() == [b"with discovery on"], what="the message")
    assert tb.stats().delivered == 1


def test_a_peer_over_its_rate_is_read_slower_and_nothing_is_lost(network_factory):
    for bad in (-1, 2**32, 1.5, "7"):
        with pytest.raises(hypar.InvalidConfig, match="peer_frame_rate"):
            network_factory(peer_frame_rate=bad)
    with pytest.raises(hypar.InvalidConfig, match="peer_byte_rate"):
        network_factory(peer_byte_rate=-1)
    # b reads a at most 100 frames a second, with a burst of 100: 400
    # messages take at least 3 s to be read, and every one arrives.
    a, b = network_factory(), network_factory(peer_frame_rate=100, peer_byte_rate=0)
    inbox = Inbox()
    ta = a.join("rate")
    tb = b.join("rate", bootstrap=a.listen_addrs(), on_message=inbox)
    wait_neighbours(ta)
    wait_neighbours(tb)
    started = time.monotonic()
    for i in range(400):
        ta.gossip(b"m%d" % i)
    wait_until(lambda: len(inbox.payloads()) == 400, timeout=60, what="all 400 messages")
    assert time.monotonic() - started >= 2.9
    assert sorted(inbox.payloads()) == sorted(b"m%d" % i for i in range(400))
    assert tb.stats().dropped == 0
