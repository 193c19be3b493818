"""A bidirectional bridge between two topics: what arrives on one is gossiped on the other.

    python examples-python/bridge.py TOPIC_A TOPIC_B [BOOTSTRAP_MULTIADDR ...]

Runs until stdin closes (Ctrl-D). A node does not receive its own messages,
so one bridge never loops; two bridges between the same topics would.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable

import hypar


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("topic_a")
    p.add_argument("topic_b")
    p.add_argument("bootstrap", nargs="*")
    a = p.parse_args()
    with hypar.Network() as net:
        print("listening on:", *net.listen_addrs(), sep="\n", file=sys.stderr)
        topics: dict[str, hypar.Topic] = {}
        forwarded = {a.topic_a: 0, a.topic_b: 0}

        def forward_to(name: str, source: str) -> Callable[[bytes], None]:
            def forward(data: bytes) -> None:
                target = topics.get(name)
                if target is not None:
                    target.gossip(data)
                    forwarded[source] += 1
            return forward

        topics[a.topic_a] = net.join(a.topic_a, bootstrap=a.bootstrap, on_message=forward_to(a.topic_b, a.topic_a))
        topics[a.topic_b] = net.join(a.topic_b, bootstrap=a.bootstrap, on_message=forward_to(a.topic_a, a.topic_b))
        print(f"bridging {a.topic_a} <-> {a.topic_b}; Ctrl-D stops", file=sys.stderr)
        sys.stdin.read()
        for t in topics.values():
            t.leave()
        print(f"forwarded {forwarded[a.topic_a]} from {a.topic_a}, {forwarded[a.topic_b]} from {a.topic_b}",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
