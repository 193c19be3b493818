"""Throughput of delivery into a Python callback, beside the Rust API's, in one run.

Two nodes in one process over loopback TCP; 64-byte messages are published
from Python (with ``Topic.gossip_many``, in chunks) and delivered into a
Python ``on_message`` that counts them, one call per message. The sender keeps
at most ``--window`` messages in flight so that no queue overflows. Rounds alternate with ``hypar throughput --api rust`` (the Rust
API, same setup) and the medians are printed side by side.

    python examples-python/bench.py [--messages 200000] [--rounds 3] [--hypar target/release/hypar]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import hypar

LOOPBACK = ["/ip4/127.0.0.1/tcp/0"]


def python_round(messages: int, size: int, window: int) -> float:
    """Messages per second delivered into a Python callback."""
    with hypar.Network(listen=LOOPBACK) as sender, hypar.Network(listen=LOOPBACK) as receiver:
        count = 0
        done = threading.Event()

        def on_message(data: bytes) -> None:
            nonlocal count
            count += 1
            if count == messages:
                done.set()

        out = sender.join("bench")
        inbox = receiver.join("bench", bootstrap=sender.listen_addrs(), on_message=on_message)
        deadline = time.monotonic() + 20
        while inbox.stats().active_view == 0:
            if time.monotonic() > deadline:
                raise SystemExit("the two nodes did not connect")
            time.sleep(0.01)
        payload = bytes(size)
        start = time.perf_counter()
        sent = 0
        while sent < messages:
            room = min(window - (sent - count), messages - sent)
            if room >= min(64, messages - sent):
                try:
                    sent += out.gossip_many([payload] * min(room, 256))
                except hypar.QueueFull:
                    time.sleep(0)
            else:
                time.sleep(0.0001)
        if not done.wait(30):
            raise SystemExit(f"only {count} of {messages} messages arrived")
        return messages / (time.perf_counter() - start)


def rust_round(hypar_bin: str, messages: int, size: int, window: int) -> float:
    cmd = [hypar_bin, "throughput", "--api", "rust", "--json", "--rounds", "1",
           "--messages", str(messages), "--size", str(size), "--window", str(window)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return float(json.loads(out)["rust_msgs_per_sec"])


def main() -> None:
    root = Path(__file__).resolve().parent.parent
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=200_000)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--window", type=int, default=512)
    p.add_argument("--hypar", default=shutil.which("hypar") or str(root / "target/release/hypar"),
                   help="the hypar command, for the Rust-API rounds")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    have_rust = Path(a.hypar).exists()
    py, rs = [], []
    for r in range(a.rounds):
        py.append(python_round(a.messages, a.size, a.window))
        line = f"round {r + 1}: python {py[-1]:>9.0f} msg/s"
        if have_rust:
            rs.append(rust_round(a.hypar, a.messages, a.size, a.window))
            line += f"   rust {rs[-1]:>9.0f} msg/s"
        print(line, file=sys.stderr)
    result = {"messages": a.messages, "size": a.size, "rounds": a.rounds,
              "python_msgs_per_sec": round(statistics.median(py))}
    if rs:
        result["rust_msgs_per_sec"] = round(statistics.median(rs))
        result["python_over_rust"] = result["python_msgs_per_sec"] / result["rust_msgs_per_sec"]
    if a.json:
        print(json.dumps(result))
        return
    print(f"2 nodes, {a.messages} x {a.size} B messages, median of {a.rounds} rounds:")
    print(f"  Python on_message: {result['python_msgs_per_sec']:>9} msg/s   (target >= 50000)")
    if rs:
        print(f"  Rust API:          {result['rust_msgs_per_sec']:>9} msg/s")
        print(f"  Python / Rust:     {result['python_over_rust']:.2f}")
    else:
        print(f"  (Rust API figure skipped: {a.hypar} not found; build it with cargo build --release)")


if __name__ == "__main__":
    main()
