"""The examples in examples-python, run as a user would."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples-python"
LISTEN = ["--listen", "/ip4/127.0.0.1/tcp/0"]


def run(script: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True, text=True,
                          timeout=120, **kwargs)


def test_swarm_delivers_everything():
    r = run("swarm.py", "--nodes", "8", "--messages", "10")
    assert r.returncode == 0, r.stderr
    assert "delivered 70/70 (100.0 %)" in r.stdout


class Lines:
    """Lines of a child's pipe, read on a thread so that a wait can time out."""

    def __init__(self, pipe) -> None:
        self.queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [self.queue.put(line) for line in pipe], daemon=True).start()

    def next(self, timeout: float = 30.0) -> str:
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            return ""


def test_two_chats_talk_through_pipes():
    first = subprocess.Popen([sys.executable, str(EXAMPLES / "chat.py"), "room", *LISTEN], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        err, out = Lines(first.stderr), Lines(first.stdout)
        addr = ""
        deadline = time.monotonic() + 30
        while "/p2p/" not in addr and time.monotonic() < deadline:
            addr = err.next().strip()
        assert "/p2p/" in addr, "the first chat printed no address"
        second = run("chat.py", "room", addr, *LISTEN, input="hello from the second chat\n")
        assert second.returncode == 0, second.stderr
        assert out.next().strip() == "hello from the second chat"
    finally:
        first.stdin.close()
        assert first.wait(30) == 0


def test_chat_reports_a_bad_bootstrap_address():
    r = run("chat.py", "room", "/not/a/multiaddr", *LISTEN, input="")
    assert r.returncode == 1
    assert "InvalidArgument" in r.stderr and "/not/a/multiaddr" in r.stderr
