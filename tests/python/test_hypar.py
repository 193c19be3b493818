"""The Python package against real nodes over loopback TCP."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

import hypar
from conftest import LOOPBACK, wait_neighbours, wait_until


class Inbox:
    """Collects messages from a callback thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: list[bytes] = []

    def __call__(self, data: bytes) -> None:
        assert isinstance(data, bytes)
        with self.lock:
            self.items.append(data)

    def count(self) -> int:
        with self.lock:
            return len(self.items)


def pair(network_factory, name="t", on_a=None, on_b=None):
    a, b = network_factory(), network_factory()
    ta = a.join(name, on_message=on_a)
    tb = b.join(name, bootstrap=a.listen_addrs(), on_message=on_b)
    wait_neighbours(ta)
    wait_neighbours(tb)
    return a, b, ta, tb


def test_identity_and_addresses(network_factory):
    key = hypar.generate_keypair()
    net = network_factory(keypair=key)
    assert net.peer_id() == hypar.keypair_peer_id(key)
    assert net.peer_id().startswith("12D3KooW")
    addrs = net.listen_addrs()
    assert len(addrs) == 1
    assert addrs[0].startswith("/ip4/127.0.0.1/tcp/") and addrs[0].endswith("/p2p/" + net.peer_id())
    assert "/tcp/0/" not in addrs[0]
    assert hypar.__version__.count(".") == 2


def test_two_nodes_exchange_each_message_exactly_once(network_factory):
    at_a, at_b = Inbox(), Inbox()
    _, _, ta, tb = pair(network_factory, on_a=at_a, on_b=at_b)
    for i in range(300):
        ta.gossip(b"a%d" % i)
        tb.gossip(bytearray(b"b%d" % i))
    wait_until(lambda: at_a.count() == 300 and at_b.count() == 300, what="300 messages each way")
    assert sorted(at_b.items) == sorted(b"a%d" % i for i in range(300))
    assert sorted(at_a.items) == sorted(b"b%d" % i for i in range(300))
    stats = tb.stats()
    assert stats.delivered == 300 and stats.published == 300 and stats.duplicates == 0


def test_three_nodes_relay(network_factory):
    inboxes = [Inbox() for _ in range(3)]
    nets = [network_factory() for _ in range(3)]
    t0 = nets[0].join("relay", on_message=inboxes[0])
    t1 = nets[1].join("relay", bootstrap=nets[0].listen_addrs(), on_message=inboxes[1])
    t2 = nets[2].join("relay", bootstrap=nets[1].listen_addrs(), on_message=inboxes[2])
    for t in (t0, t1, t2):
        wait_neighbours(t)
    t2.gossip(b"from the edge")
    wait_until(lambda: inboxes[0].count() == 1 and inboxes[1].count() == 1, what="relay to both")
    assert inboxes[2].count() == 0  # never delivered to its sender


def test_async_iteration(network_factory):
    _, _, ta, tb = pair(network_factory, name="async")

    async def main():
        received = []

        async def reader():
            async for data in tb.messages():
                received.append(data)
                if len(received) == 50:
                    return

        task = asyncio.ensure_future(reader())
        for i in range(50):
            ta.gossip(b"m%d" % i)
        await asyncio.wait_for(task, 20)
        return received

    received = asyncio.run(main())
    assert sorted(received) == sorted(b"m%d" % i for i in range(50))


def test_iteration_ends_when_the_topic_is_left(network_factory):
    net = network_factory()
    topic = net.join("ending")

    async def main():
        async def drain():
            return [m async for m in topic.messages()]

        task = asyncio.ensure_future(drain())
        await asyncio.sleep(0.2)
        topic.leave()
        return await asyncio.wait_for(task, 10)

    assert asyncio.run(main()) == []


def test_exception_in_callback_is_logged_and_delivery_goes_on(network_factory, caplog):
    inbox = Inbox()

    def flaky(data: bytes) -> None:
        inbox(data)
        if data == b"boom":
            raise ValueError("callback failure")

    _, _, ta, _ = pair(network_factory, name="flaky", on_b=flaky)
    with caplog.at_level(logging.ERROR, logger="hypar"):
        ta.gossip(b"boom")
        wait_until(lambda: inbox.count() == 1, what="the failing message")
        ta.gossip(b"after")
        wait_until(lambda: inbox.count() == 2, what="a message after the exception")
    assert inbox.items == [b"boom", b"after"]
    assert any("callback failure" in r.exc_text for r in caplog.records if r.exc_text)


def test_errors_are_hypar_errors(network_factory):
    with pytest.raises(hypar.InvalidArgument, match="not-an-addr"):
        hypar.Network(listen=["not-an-addr"])
    with pytest.raises(hypar.InvalidArgument):
        hypar.Network(listen="/ip4/127.0.0.1/tcp/0")
    with pytest.raises(hypar.InvalidArgument, match="keypair"):
        hypar.Network(listen=LOOPBACK, keypair=b"junk")
    with pytest.raises(hypar.InvalidConfig, match="max_message_size"):
        hypar.Network(listen=LOOPBACK, max_message_size=10)
    with pytest.raises(hypar.InvalidConfig):
        hypar.Network(listen=LOOPBACK, message_queue=-1)
    with pytest.raises(hypar.ListenError):
        hypar.Network(listen=["/ip4/192.0.2.1/tcp/0"])

    net = network_factory()
    topic = net.join("errors")
    with pytest.raises(hypar.MessageTooLarge, match="65536"):
        topic.gossip(b"x" * 70_000)
    with pytest.raises(hypar.InvalidArgument, match="bytes"):
        topic.gossip("text is not bytes")  # type: ignore[arg-type]
    with pytest.raises(hypar.AlreadyJoined):
        net.join("errors")
    with pytest.raises(hypar.InvalidArgument, match="bad"):
        net.join("other", bootstrap=["/bad"])
    with pytest.raises(hypar.InvalidArgument):
        net.join("other", on_message="not callable")  # type: ignore[arg-type]
    net.shutdown()
    net.shutdown()
    for call in (lambda: topic.gossip(b"late"), net.listen_addrs, net.stats, lambda: net.join("later")):
        with pytest.raises(hypar.ShutDown) as raised:
            call()
        assert isinstance(raised.value, hypar.HyparError)


def test_context_managers_and_leave(network_factory):
    inbox = Inbox()
    a = network_factory()
    ta = a.join("ctx")
    with hypar.Network(listen=LOOPBACK) as b:
        with b.join("ctx", bootstrap=a.listen_addrs(), on_message=inbox) as tb:
            wait_neighbours(tb)
            ta.gossip(b"inside")
            wait_until(lambda: inbox.count() == 1, what="a message inside the block")
        wait_until(lambda: ta.stats().active_view == 0, what="the neighbour to see the leave")
        ta.gossip(b"after leave")
        with pytest.raises(hypar.ShutDown):
            tb.gossip(b"left")
    with pytest.raises(hypar.ShutDown):
        b.stats()
    assert inbox.items == [b"inside"]


def test_events_and_stats(network_factory):
    events = []
    a = network_factory()
    a.on_event(events.append)
    ta = a.join("events")
    b = network_factory()
    tb = b.join("events", bootstrap=a.listen_addrs())  # kept: a dropped topic is left
    wait_until(
        lambda: any(e.kind == hypar.NetworkEventKind.NEIGHBOR_UP and e.peer_id == b.peer_id() for e in events),
        what="a NeighborUp event",
    )
    assert all(e.topic == "events" for e in events)
    stats = a.stats()
    assert stats.connected_peers >= 1
    assert [t.name for t in stats.topics] == ["events"]
    assert ta.stats().active_view == 1 and tb.stats().active_view == 1


def test_a_callback_that_falls_behind_is_told_it_missed_messages(network_factory):
    release = threading.Event()
    calls = Inbox()

    def stuck(data: bytes) -> None:
        calls(data)
        release.wait(30)  # blocks until the test has seen the lag

    events: list[hypar.NetworkEvent] = []
    a = network_factory()
    b = network_factory(message_queue=8)
    b.on_event(events.append)
    ta = a.join("lag")
    tb = b.join("lag", bootstrap=a.listen_addrs(), on_message=stuck)
    wait_neighbours(ta)
    wait_neighbours(tb)
    ta.gossip_many([b"m%d" % i for i in range(100)])
    lagged = lambda: [e for e in events if e.kind == hypar.NetworkEventKind.LAGGED]  # noqa: E731
    wait_until(lambda: sum(e.missed for e in lagged()) > 0, what="a LAGGED event")
    assert all(e.topic == "lag" for e in lagged())
    release.set()
    # The rest of the count comes with the next report, a second later at most.
    wait_until(lambda: tb.stats().dropped == sum(e.missed for e in lagged()), what="every missed message reported")


def test_a_topic_keeps_its_network_running():
    topic = hypar.Network(listen=LOOPBACK).join("kept")
    topic.gossip(b"the network object is gone, the topic still works")
    topic.leave()


def test_exit_with_callbacks_still_running_is_clean(tmp_path):
    script = tmp_path / "busy.py"
    script.write_text(
        "import hypar, time\n"
        "a = hypar.Network(listen=['/ip4/127.0.0.1/tcp/0'])\n"
        "b = hypar.Network(listen=['/ip4/127.0.0.1/tcp/0'])\n"
        "ta = a.join('busy')\n"
        "tb = b.join('busy', bootstrap=a.listen_addrs(), on_message=lambda d: time.sleep(0.001))\n"
        "while tb.stats().active_view == 0: time.sleep(0.01)\n"
        "for i in range(20): ta.gossip_many([b'x' * 64] * 200)\n"
        "print('exiting with deliveries pending', flush=True)\n"
    )
    import subprocess
    import sys

    for _ in range(3):
        r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr[-2000:]
        assert "exiting" in r.stdout


def test_a_forked_child_gets_an_error_not_a_hang(network_factory):
    import os

    net = network_factory()
    topic = net.join("forked")
    pid = os.fork()
    if pid == 0:  # the child: every call must fail fast with Forked
        code = 1
        try:
            topic.gossip(b"from the child")
        except hypar.Forked:
            try:
                net.stats()
            except hypar.Forked:
                code = 0
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    topic.gossip(b"the parent is unaffected")


def test_callbacks_stop_when_the_network_shuts_down(network_factory):
    import time

    calls = Inbox()

    def slow(data: bytes) -> None:
        calls(data)
        time.sleep(0.01)

    a, b, ta, tb = pair(network_factory, name="stop", on_b=slow)
    ta.gossip_many([b"m"] * 300)
    wait_until(lambda: calls.count() > 0, what="the first slow delivery")
    assert tb.delivering
    b.shutdown()
    # shutdown waited for the call in progress and stopped the delivery thread.
    after = calls.count()
    assert not tb.delivering
    assert after < 300, "the queued messages were still delivered"
    assert calls.count() == after
