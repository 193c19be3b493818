"""Helpers for the Python tests: real nodes on loopback, and bounded waits."""

from __future__ import annotations

import threading
import time
from typing import Callable

import pytest

import hypar

LOOPBACK = ["/ip4/127.0.0.1/tcp/0"]


def wait_until(condition: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def wait_neighbours(topic: hypar.Topic, n: int = 1) -> None:
    wait_until(lambda: topic.stats().active_view >= n, what=f"{n} neighbour(s) in {topic.name!r}")


class Inbox:
    """An on_message callback that keeps every message it gets (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: list[hypar.Message] = []

    def __call__(self, message: hypar.Message) -> None:
        with self.lock:
            self.items.append(message)

    def messages(self) -> list[hypar.Message]:
        with self.lock:
            return list(self.items)

    def payloads(self) -> list[bytes]:
        return [bytes(m) for m in self.messages()]


@pytest.fixture
def network_factory():
    made: list[hypar.Network] = []

    def make(**kwargs) -> hypar.Network:
        kwargs.setdefault("listen", LOOPBACK)
        net = hypar.Network(**kwargs)
        made.append(net)
        return net

    yield make
    for net in made:
        net.shutdown()
