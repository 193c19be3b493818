"""NAT scenarios on the host bed: hosts behind masquerading routers reach
each other through relays, and hole punching (DCUtR) makes their links
direct. "The internet" is a switch of private addresses; every node runs
with `--private-is-public` so that AutoNAT treats those as public.

Run as a program to print a table (success rate of the direct upgrade over
several attempts, time to join through a relay, time to direct, latency
relayed vs direct)::

    sudo python3 tests/hosts/nat.py --attempts 20

The pytest suite next to this file runs each scenario once at CI size.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bed import Bed, Host, Router  # noqa: E402
from scenarios import PORT, ChatSwarm, Figures  # noqa: E402

#: Every node listens on TCP and QUIC at the same port number.
REACH = ["--private-is-public"]


def listen_quic(h: Host) -> list[str]:
    return ["--listen", f"/ip4/{h.addr}/udp/{PORT}/quic-v1"]


@dataclass
class World:
    """Public hosts on the "internet" switch, and NATed hosts behind routers."""

    swarm: ChatSwarm
    public: list[Host]
    nated: list[Host]
    routers: list[Router] = field(default_factory=list)


def world(bed: Bed, workdir: Path, publics: int, per_router: Sequence[int]) -> World:
    """`publics` hosts on the internet switch; router i masquerades
    `per_router[i]` hosts behind it."""
    wan = bed.switch("wan", "10.230.0.0/24")
    public = [bed.host(f"p{i}", wan) for i in range(publics)]
    nated: list[Host] = []
    routers: list[Router] = []
    for r, count in enumerate(per_router):
        lan = bed.switch(f"lan{r}", f"10.{231 + r}.0.0/24")
        router = bed.router(f"r{r}", lan, wan, nat=True)
        routers.append(router)
        nated += [bed.host(f"n{r}x{j}", lan, gateway=router.lan_addr) for j in range(count)]
    swarm = ChatSwarm(bed, 0, workdir, hosts=public + nated)
    return World(swarm, public, nated, routers)


def records(s: ChatSwarm, h: Host, kind: str) -> list[dict[str, Any]]:
    return [r for r in s.procs[h.name].snapshot() if r["type"] == kind]


def first_time(s: ChatSwarm, h: Host, kind: str, **match: str) -> Optional[float]:
    for r in records(s, h, kind):
        if all(r.get(k) == v for k, v in match.items()):
            return float(r["t"])
    return None


def start_relay(w: World, h: Host, bootstrap: Optional[Sequence[Host]] = None) -> None:
    w.swarm.start(h, bootstrap=bootstrap or [], extra=["--relay-server", *REACH, *listen_quic(h)])


def start_nated(w: World, h: Host, bootstrap: Sequence[Host]) -> None:
    w.swarm.start(h, bootstrap=bootstrap, extra=[*REACH, *listen_quic(h)])


def stats(s: ChatSwarm, h: Host, timeout: float = 10) -> dict[str, Any]:
    """Ask `h` for its counters (`/stats`) and return the answer."""
    before = len(records(s, h, "stats"))
    s.procs[h.name].write_line("/stats")
    s.procs[h.name].wait_for("stats", lambda rs: sum(r["type"] == "stats" for r in rs) > before, timeout)
    return records(s, h, "stats")[-1]


def direct_pair(bed: Bed, workdir: Path) -> Figures:
    """Two hosts behind two different NATs and one public host, both relay
    and bootstrap. Both NATed hosts reserve a slot on the relay, become
    neighbours through it, and hole punching makes their link direct.
    Messages flow both ways; then the public host is killed (SIGKILL), and
    the two NATed hosts go on exchanging messages over their direct link,
    the only thing that still connects them."""
    w = world(bed, workdir, publics=1, per_router=[1, 1])
    s, (relay,), (a, b) = w.swarm, w.public, w.nated
    start_relay(w, relay)
    started = time.time() * 1e3
    start_nated(w, a, [relay])
    start_nated(w, b, [relay])
    ids = s.peer_ids
    fig = Figures("direct_pair", 3)
    s.wait_until("both NATed hosts reserving a relay slot",
                 lambda: all(records(s, h, "relay_reserved") for h in (a, b)), 60)
    s.wait_until("the NATed hosts becoming neighbours",
                 lambda: ids[b.name] in s.neighbours(a) and ids[a.name] in s.neighbours(b), 60)
    def direct_at() -> list[float]:
        return [t for t in (first_time(s, a, "direct", peer=ids[b.name]),
                            first_time(s, b, "direct", peer=ids[a.name])) if t is not None]

    s.wait_until("a direct connection between the NATed hosts", lambda: bool(direct_at()), 60)
    fig.extra["to_direct_s"] = round((min(direct_at()) - started) / 1e3, 2)
    before = s.publish([a, b], 10)
    s.wait_delivered(before, s.hosts, timeout=30)
    fig = s.measure(fig, before, s.hosts)
    fig.extra["relayed_links"] = [stats(s, h)["relayed_links"] for h in (a, b)]
    # The relay dies: only the direct link connects a and b now.
    s.kill(relay)
    after = s.publish([a, b], 10)
    delivered = s.wait_delivered(after, [a, b], timeout=30)
    fig.extra["after_relay_killed"] = f"{s.measure(Figures('after', 2), after, [a, b]).delivered}/{len(after)}"
    fig.extra["delivered_after_kill"] = delivered
    fig = s.measure(fig, after, [a, b])
    return fig


SCENARIOS = {"direct_pair": direct_pair}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--attempts", type=int, default=1, help="runs of the direct-upgrade scenario (default 1)")
    a = p.parse_args()
    rows = []
    for i in range(a.attempts):
        with tempfile.TemporaryDirectory(prefix="natbed-") as tmp, Bed() as b:
            try:
                row = direct_pair(b, Path(tmp)).row()
            except (TimeoutError, RuntimeError) as e:
                row = {"scenario": "direct_pair", "failed": str(e)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    ok = [r for r in rows if "failed" not in r]
    if ok:
        direct = [float(r["to_direct_s"]) for r in ok]
        print(f"\ndirect upgrade: {len(ok)}/{len(rows)}; time to direct median {statistics.median(direct):.2f} s, "
              f"max {max(direct):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
