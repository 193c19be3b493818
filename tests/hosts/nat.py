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
import threading
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


def world(bed: Bed, workdir: Path, publics: int, per_router: Sequence[int], random_ports: bool = False) -> World:
    """`publics` hosts on the internet switch; router i masquerades
    `per_router[i]` hosts behind it (symmetric NATs with `random_ports`)."""
    wan = bed.switch("wan", "10.230.0.0/24")
    public = [bed.host(f"p{i}", wan) for i in range(publics)]
    nated: list[Host] = []
    routers: list[Router] = []
    for r, count in enumerate(per_router):
        lan = bed.switch(f"lan{r}", f"10.{231 + r}.0.0/24")
        router = bed.router(f"r{r}", lan, wan, nat=True, random_ports=random_ports)
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


def start_relay(w: World, h: Host, bootstrap: Optional[Sequence[Host]] = None, quic_only: bool = False) -> None:
    w.swarm.start(h, bootstrap=bootstrap or [], extra=["--relay-server", *REACH, *listen_quic(h)], tcp=not quic_only)


def start_nated(w: World, h: Host, bootstrap: Sequence[Host], quic_only: bool = False) -> None:
    if quic_only:
        addrs = [f"/ip4/{b.addr}/udp/{PORT}/quic-v1/p2p/{w.swarm.peer_ids[b.name]}" for b in bootstrap]
        extra = [*REACH, *listen_quic(h), *(x for a in addrs for x in ("--bootstrap", a))]
        w.swarm.start(h, bootstrap=[], extra=extra, tcp=False)
    else:
        w.swarm.start(h, bootstrap=bootstrap, extra=[*REACH, *listen_quic(h)])


def stats(s: ChatSwarm, h: Host, timeout: float = 10) -> dict[str, Any]:
    """Ask `h` for its counters (`/stats`) and return the answer."""
    before = len(records(s, h, "stats"))
    s.procs[h.name].write_line("/stats")
    s.procs[h.name].wait_for("stats", lambda rs: sum(r["type"] == "stats" for r in rs) > before, timeout)
    return records(s, h, "stats")[-1]


def direct_pair(bed: Bed, workdir: Path, quic_only: bool = False) -> Figures:
    """Two hosts behind two different NATs and one public host, both relay
    and bootstrap. Both NATed hosts reserve a slot on the relay, become
    neighbours through it, and hole punching makes their link direct.
    Messages flow both ways; then the public host is killed (SIGKILL), and
    the two NATed hosts go on exchanging messages over their direct link,
    the only thing that still connects them. With `quic_only`, every node
    listens and dials on QUIC alone, so the punched link is QUIC (else it
    is TCP or QUIC, whichever punches first)."""
    w = world(bed, workdir, publics=1, per_router=[1, 1])
    s, (relay,), (a, b) = w.swarm, w.public, w.nated
    start_relay(w, relay, quic_only=quic_only)
    started = time.time() * 1e3
    start_nated(w, a, [relay], quic_only)
    start_nated(w, b, [relay], quic_only)
    ids = s.peer_ids
    fig = Figures("direct_pair_quic" if quic_only else "direct_pair", 3)
    s.wait_until("both NATed hosts reserving a relay slot",
                 lambda: all(records(s, h, "relay_reserved") for h in (a, b)), 60)
    s.wait_until("the NATed hosts becoming neighbours",
                 lambda: ids[b.name] in s.neighbours(a) and ids[a.name] in s.neighbours(b), 60)
    def direct_at() -> list[float]:
        return [t for t in (first_time(s, a, "direct", peer=ids[b.name]),
                            first_time(s, b, "direct", peer=ids[a.name])) if t is not None]

    s.wait_until("a direct connection between the NATed hosts", lambda: bool(direct_at()), 60)
    fig.extra["to_direct_s"] = round((min(direct_at()) - started) / 1e3, 2)
    # Traffic: what a's router forwards to b's router (the direct path)
    # and to the relay, while a publishes 1 KiB messages.
    r0, r1 = w.routers
    for addr in (r1.wan_addr, relay.addr):
        r0.count_to(addr)
    before = s.publish([a], 50, size=1024)
    s.wait_delivered(before, s.hosts, timeout=30)
    fig.extra["a_published_kib"] = 50
    fig.extra["direct_path_kib"] = round(r0.bytes_to(r1.wan_addr) / 1024, 1)
    fig.extra["to_relay_kib"] = round(r0.bytes_to(relay.addr) / 1024, 1)
    before += s.publish([b], 10)
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


def circuit_only(bed: Bed, workdir: Path) -> Figures:
    """A NATed host whose only contact is another NATed host's relay
    address (`/p2p-circuit`) joins through it and delivers."""
    w = world(bed, workdir, publics=1, per_router=[1, 1])
    s, (relay,), (a, c) = w.swarm, w.public, w.nated
    start_relay(w, relay)
    start_nated(w, a, [relay])
    s.wait_until("a relay slot", lambda: bool(records(s, a, "addrs")), 60)
    circuit = next(x for x in records(s, a, "addrs")[-1]["addrs"] if "/p2p-circuit/" in x)
    s.start(c, bootstrap=[], extra=[*REACH, *listen_quic(c), "--bootstrap", circuit])
    joined_s = s.wait_until("the host joining through the circuit address", lambda: bool(s.neighbours(c)), 60)
    msgs = s.publish([a, c], 10)
    s.wait_delivered(msgs, s.hosts, timeout=30)
    fig = s.measure(Figures("circuit_only", 3), msgs, s.hosts)
    fig.extra["joined_s"] = round(joined_s, 2)
    return fig


def two_relays(bed: Bed, workdir: Path, per_router: Sequence[int] = (2, 2, 2, 2)) -> Figures:
    """NATed hosts behind four routers and two public relays, which are
    also the bootstrap hosts. Everyone delivers everything; then the relay
    holding most reservations is killed, the hosts that lost their slot
    reserve on the other, and everything published by the live hosts
    still reaches every live host."""
    w = world(bed, workdir, publics=2, per_router=per_router)
    s, publics, nated = w.swarm, w.public, w.nated
    start_relay(w, publics[0])
    start_relay(w, publics[1], bootstrap=[publics[0]])
    for h in nated:
        start_nated(w, h, publics)
    s.wait_until("every NATed host reserving a relay slot", lambda: all(records(s, h, "relay_reserved")
                                                                          for h in nated), 60)
    s.wait_connected(s.hosts)
    before = s.publish(s.hosts, 5)
    s.wait_delivered(before, s.hosts, timeout=60)
    fig = s.measure(Figures("two_relays", len(s.hosts)), before, s.hosts)

    def relay_of(h: Host) -> str:
        return str(records(s, h, "relay_reserved")[-1]["relay"])

    busiest = max(publics, key=lambda p: sum(relay_of(h) == s.peer_ids[p.name] for h in nated))
    moved = [h for h in nated if relay_of(h) == s.peer_ids[busiest.name]]
    other = next(p for p in publics if p is not busiest)
    s.kill(busiest)
    killed_at = time.monotonic()
    s.wait_until("the hosts that lost their slot reserving on the other relay",
                 lambda: all(relay_of(h) == s.peer_ids[other.name] for h in moved), 60)
    fig.extra["re_reserved_s"] = round(time.monotonic() - killed_at, 2)
    fig.extra["moved"] = len(moved)
    live = s.live()
    after = s.publish(live, 5)
    s.wait_delivered(after, live, timeout=60)
    fig = s.measure(fig, after, live)
    return fig


def circuit_cut(bed: Bed, workdir: Path, seconds: float = 4.0) -> Figures:
    """Two hosts behind symmetric NATs (random source ports: hole punching
    fails, so their link stays relayed) and two public relays. Every host
    that bootstraps does so from relay p0, so both NATed hosts reserve
    there and their link is a circuit through p0. While every host streams
    messages, p0 is killed: the circuit is cut mid-stream. Everything the
    live hosts published must still reach every live host."""
    w = world(bed, workdir, publics=2, per_router=[1, 1], random_ports=True)
    s, (p0, p1), (a, c) = w.swarm, w.public, w.nated
    start_relay(w, p0)
    start_relay(w, p1, bootstrap=[p0])
    for h in (a, c):
        start_nated(w, h, [p0])
    ids = s.peer_ids
    s.wait_until("the NATed hosts linked through the relay",
                 lambda: ids[c.name] in s.neighbours(a) and ids[a.name] in s.neighbours(c), 60)
    fig = Figures("circuit_cut", 4)
    fig.extra["relayed_links_before"] = [stats(s, h)["relayed_links"] for h in (a, c)]
    live = [p1, a, c]
    sent: list[str] = []
    streamer = threading.Thread(target=lambda: sent.extend(s.publish(live, int(seconds / 0.02 / 3), 0.02)))
    streamer.start()
    time.sleep(seconds / 3)
    s.kill(p0)
    streamer.join()
    s.wait_delivered(sent, live, timeout=60)
    fig = s.measure(fig, sent, live)
    fig.extra["re_reserved"] = all(records(s, h, "relay_reserved")[-1]["relay"] == ids[p1.name] for h in (a, c))
    return fig


def direct_pair_quic(bed: Bed, workdir: Path) -> Figures:
    return direct_pair(bed, workdir, quic_only=True)


SCENARIOS = {
    "direct_pair": direct_pair,
    "direct_pair_quic": direct_pair_quic,
    "circuit_only": circuit_only,
    "two_relays": two_relays,
    "circuit_cut": circuit_cut,
}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--attempts", type=int, default=20, help="runs of the direct-upgrade scenario (default 20)")
    a = p.parse_args()

    def run(name: str) -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="natbed-") as tmp, Bed() as b:
            try:
                row = SCENARIOS[name](b, Path(tmp)).row()
            except (TimeoutError, RuntimeError) as e:
                row = {"scenario": name, "failed": str(e)}
        print(json.dumps(row), flush=True)
        return row

    results = {name: [run(name) for _ in range(a.attempts)] for name in ("direct_pair", "direct_pair_quic")}
    others = {name: run(name) for name in ("circuit_only", "circuit_cut", "two_relays")}
    print("\n| measure | value |\n|---|---|")
    for name, pairs in results.items():
        ok = [r for r in pairs if "failed" not in r and r["delivered_after_kill"]]
        direct = sorted(float(r["to_direct_s"]) for r in ok)
        print(f"| {name}: direct upgrade (two NATs, port-preserving masquerade) | {len(ok)} / {len(pairs)} attempts |")
        if direct:
            print(f"| {name}: time to direct, from the second NATed host's start | median "
                  f"{statistics.median(direct):.2f} s, max {direct[-1]:.2f} s |")
            p50 = statistics.median(float(r["p50_ms"]) for r in ok)
            print(f"| {name}: latency over direct links (p50 of the runs' p50) | {p50:.1f} ms |")
    for name, row in others.items():
        print(f"| {name} | {', '.join(f'{k}={v}' for k, v in row.items() if k != 'scenario')} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
