"""Chat over a hypar topic: stdin lines are gossiped, received lines printed.

    python examples-python/chat.py TOPIC [BOOTSTRAP_MULTIADDR ...] [--listen MULTIADDR]

Without bootstrap addresses this node starts the topic; it prints the
addresses others can join through on stderr. Works with pipes too.
"""

from __future__ import annotations

import argparse
import sys
import time

import hypar


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("topic")
    p.add_argument("bootstrap", nargs="*", help="multiaddrs of members, ending in /p2p/<peer id>")
    p.add_argument("--listen", action="append", help="multiaddr to listen on (repeatable)")
    a = p.parse_args()
    try:
        with hypar.Network(listen=a.listen) as net:
            print("listening on (share one of these):", *net.listen_addrs(), sep="\n", file=sys.stderr)

            def show(data: bytes) -> None:
                print(data.decode("utf-8", "replace"), flush=True)

            topic = net.join(a.topic, bootstrap=a.bootstrap, on_message=show)
            deadline = time.monotonic() + 10
            while a.bootstrap and topic.stats().active_view == 0 and time.monotonic() < deadline:
                time.sleep(0.02)
            for line in sys.stdin:
                topic.gossip(line.rstrip("\n").encode())
            topic.leave()
    except hypar.HyparError as e:
        print(f"chat: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
