"""Start N nodes in this process, join one topic, gossip from random nodes, print delivery.

    python examples-python/swarm.py [--nodes 20] [--messages 50]
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time

import hypar


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nodes", type=int, default=20)
    p.add_argument("--messages", type=int, default=50)
    p.add_argument("--timeout", type=float, default=30.0)
    a = p.parse_args()
    if a.nodes < 2 or a.messages < 1:
        p.error("--nodes must be at least 2 and --messages at least 1")

    lock = threading.Lock()
    received = [0] * a.nodes
    nets = [hypar.Network(listen=["/ip4/127.0.0.1/tcp/0"]) for _ in range(a.nodes)]
    topics = []
    try:
        for i, net in enumerate(nets):
            def count(data: bytes, i: int = i) -> None:
                with lock:
                    received[i] += 1

            # each node joins through up to 3 earlier ones
            boot = [nets[j].listen_addrs()[0] for j in random.sample(range(i), min(i, 3))]
            topics.append(net.join("swarm", bootstrap=boot, on_message=count))
        deadline = time.monotonic() + a.timeout
        while any(t.stats().active_view == 0 for t in topics) and time.monotonic() < deadline:
            time.sleep(0.05)

        start = time.monotonic()
        for m in range(a.messages):
            random.choice(topics).gossip(b"message %d" % m)
            time.sleep(0.01)
        expected = a.messages * (a.nodes - 1)  # every node but the sender
        while time.monotonic() < deadline:
            with lock:
                if sum(received) >= expected:
                    break
            time.sleep(0.05)
        elapsed = time.monotonic() - start
        total = sum(received)
        views = [t.stats().active_view for t in topics]
        print(f"{a.nodes} nodes, {a.messages} messages from random senders")
        print(f"delivered {total}/{expected} ({100.0 * total / expected:.1f} %) in {elapsed:.2f} s")
        print(f"active views: min {min(views)}, max {max(views)}, mean {sum(views) / len(views):.1f}")
        return 0 if total == expected else 1
    finally:
        for net in nets:
            net.shutdown()


if __name__ == "__main__":
    sys.exit(main())
