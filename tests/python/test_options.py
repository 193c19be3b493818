"""Every topic option in Python, at join and while the topic runs, against real nodes over loopback."""

from __future__ import annotations

import pytest

import hypar
from conftest import Inbox, wait_neighbours, wait_until


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
        origin_trees=16,
        duplicates_before_prune=3,
    )
    c = t.config()
    assert isinstance(c, hypar.TopicConfig)
    assert (c.signed, c.hops, c.hear, c.tell, c.allow) == (True, 8, [friend], None, None)
    assert (c.active_view, c.passive_view, c.known_peers) == (4, 20, 300)
    assert (c.shuffle_interval, c.graft_timeout, c.ihave_interval, c.validation_timeout) == (5, 0.2, 0.05, 1.5)
    assert (c.message_cache, c.message_cache_bytes, c.origin_trees) == (1000, 2**20, 16)
    assert c.duplicates_before_prune == 3
    t.configure(origin_trees=0, duplicates_before_prune=2)
    assert (t.config().origin_trees, t.config().duplicates_before_prune) == (0, 2)
    # Defaults, for a topic joined without options.
    d = net.join("defaults").config()
    assert (d.hops, d.active_view, d.passive_view, d.allow, d.hear, d.tell) == (64, 5, 30, None, None, None)
    assert (d.origin_trees, d.duplicates_before_prune) == (0, 5)


def test_bad_options_are_refused_by_name(network_factory):
    net = network_factory()
    for kwargs, error, name in [
        (dict(hops=0), hypar.InvalidConfig, "max_hops"),
        (dict(hops=70000), hypar.InvalidConfig, "max_hops"),
        (dict(hops=-1), hypar.InvalidConfig, "hops"),
        (dict(active_view=0), hypar.InvalidConfig, "active_view"),
        (dict(origin_trees=70000), hypar.InvalidConfig, "plumtree.origin_trees"),
        (dict(origin_trees=-1), hypar.InvalidConfig, "origin_trees"),
        (dict(duplicates_before_prune=0), hypar.InvalidConfig, "plumtree.duplicates_before_prune"),
        (dict(duplicates_before_prune=256), hypar.InvalidConfig, "duplicates_before_prune"),
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


def line(network_factory, name: str):
    """Nodes a - b - c in a line (allow lists keep a and c apart), with their topics and inboxes."""
    a, b, c = network_factory(), network_factory(), network_factory()
    boxes = Inbox(), Inbox(), Inbox()
    tb = b.join(name, allow=[a.peer_id(), c.peer_id()], on_message=boxes[1])
    ta = a.join(name, bootstrap=b.listen_addrs(), allow=[b.peer_id()], on_message=boxes[0])
    tc = c.join(name, bootstrap=b.listen_addrs(), allow=[b.peer_id()], on_message=boxes[2])
    wait_neighbours(tb, 2)
    wait_neighbours(ta)
    wait_neighbours(tc)
    return (a, b, c), (ta, tb, tc), boxes


def test_a_message_limited_to_one_hop_reaches_neighbours_only(network_factory):
    # Keep every handle: a topic whose handle is collected is left.
    nets, (ta, tb, tc), (_, at_b, at_c) = line(network_factory, "one-hop")
    ta.gossip(b"near", hops=1)
    ta.gossip(b"far", hops=2)
    wait_until(lambda: sorted(at_b.payloads()) == [b"far", b"near"], what="both at b")
    wait_until(lambda: at_c.payloads() == [b"far"], what="the second at c")
    for bad in (0, -1, 70000, 1.5, True):
        with pytest.raises(hypar.InvalidArgument, match="hops"):
            ta.gossip(b"x", hops=bad)  # type: ignore[arg-type]
    assert tb.stats().delivered == 2 and tc.stats().delivered == 1 and len(nets) == 3


def test_direct_messages_reach_one_neighbour_with_their_sender(network_factory):
    (a, b, c), (ta, tb, tc), (_, at_b, at_c) = line(network_factory, "direct")
    ta.send(b.peer_id(), b"hello b")
    ta.send(b.peer_id(), b"hello b")  # not deduplicated: arrives twice
    wait_until(lambda: len(at_b.messages()) == 2, what="both direct messages at b")
    for m in at_b.messages():
        assert (bytes(m), m.direct, m.origin, m.hops) == (b"hello b", True, a.peer_id(), 1)
    with pytest.raises(hypar.InvalidArgument, match="not a neighbour"):
        ta.send(c.peer_id(), b"hello c")
    with pytest.raises(hypar.InvalidArgument, match="peer id"):
        ta.send("nobody", b"x")
    # c never got a's direct messages: its first delivery is a broadcast.
    ta.gossip(b"broadcast")
    wait_until(lambda: at_c.payloads() == [b"broadcast"], what="the broadcast at c, and nothing before it")
    assert not at_c.messages()[0].direct
    assert (ta.stats().direct_sent, tb.stats().direct_received) == (2, 2)
    assert tc.stats().direct_received == 0


def test_proxy_passing_needs_an_unsigned_topic(network_factory):
    net = network_factory()
    with pytest.raises(hypar.InvalidConfig, match="plumtree.proxy"):
        net.join("proxy", proxy=True)
    with pytest.raises(hypar.InvalidArgument, match="proxy"):
        net.join("proxy", signed=False, proxy="yes")  # type: ignore[arg-type]
    t = net.join("proxy", signed=False, proxy=True, proxy_timeout=1.5)
    c = t.config()
    assert (c.signed, c.proxy, c.proxy_timeout) == (False, True, 1.5)
    t.configure(proxy=False)
    assert (t.config().proxy, t.config().proxy_timeout) == (False, 1.5)
    signed = net.join("proxy-signed")
    with pytest.raises(hypar.InvalidConfig, match="plumtree.proxy"):
        signed.configure(proxy=True)
    assert net.join("defaults").config().proxy is False


def test_proxy_passing_hands_messages_to_a_neighbour_that_publishes_them(network_factory):
    a, b = network_factory(), network_factory()
    inbox_a, inbox_b = Inbox(), Inbox()
    ta = a.join("anon", signed=False, proxy=True, on_message=inbox_a)
    tb = b.join("anon", signed=False, proxy=True, bootstrap=a.listen_addrs(), on_message=inbox_b)
    wait_neighbours(ta)
    wait_neighbours(tb)
    sent = [f"m{i}".encode() for i in range(30)]
    for m in sent:
        ta.gossip(m)
    wait_until(lambda: len(inbox_b.payloads()) >= len(sent), what="every message at b")
    # Every message once; those a handed to b arrive with hops 0 (b published them).
    assert sorted(inbox_b.payloads()) == sorted(sent)
    handed = [m for m in inbox_b.messages() if m.hops == 0]
    sa, sb = ta.stats(), tb.stats()
    assert 1 <= sa.handoffs_sent < len(sent)
    assert sb.handoffs_taken == sa.handoffs_sent == len(handed)
    assert all(m.origin is None for m in inbox_b.messages())
    assert inbox_a.payloads() == [] and sa.delivered == 0


def test_origin_trees_keep_one_record_per_sender_within_their_bound(network_factory):
    a, b, c = network_factory(), network_factory(), network_factory()
    inbox_b = Inbox()
    ta = a.join("trees")
    tb = b.join("trees", bootstrap=a.listen_addrs(), on_message=inbox_b, origin_trees=1)
    tc = c.join("trees", bootstrap=a.listen_addrs())
    for t in (ta, tb, tc):
        wait_neighbours(t)
    ta.gossip(b"from a")
    wait_until(lambda: len(inbox_b.payloads()) >= 1, what="a's message at b")
    assert tb.stats().origin_trees == 1
    # A second sender replaces the first: at most one record at b.
    tc.gossip(b"from c")
    wait_until(lambda: len(inbox_b.payloads()) >= 2, what="c's message at b")
    assert tb.stats().origin_trees == 1
    assert sorted(inbox_b.payloads()) == [b"from a", b"from c"]
    tb.configure(origin_trees=0)
    assert tb.stats().origin_trees == 0
