"""Fault scenarios for `hypar chat --json` processes on the host bed, each
measured: delivered / expected to the live hosts, duplicates, latency
percentiles and time to recover.

Run as a program to print a table at a larger size::

    sudo python3 tests/hosts/scenarios.py --hosts 24            # every scenario
    sudo python3 tests/hosts/scenarios.py --hosts 12 --only crash power_off

The pytest suite next to this file runs the same scenarios at CI size and
checks what each must guarantee.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bed import Bed, Host, Process, Switch  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TOPIC = "bed"
PORT = 4001


def hypar_bin() -> str:
    """The `hypar` binary under test: $HYPAR_BIN, or the release build."""
    path = os.environ.get("HYPAR_BIN", str(ROOT / "target" / "release" / "hypar"))
    if not os.access(path, os.X_OK):
        raise FileNotFoundError(f"{path} not found: build it with `cargo build --release -p hypar-cli`")
    return path


def now_ms() -> float:
    return time.time() * 1e3


@dataclass
class Figures:
    """What a scenario measured. Latencies are in milliseconds."""

    scenario: str
    hosts: int
    expected: int = 0
    delivered: int = 0
    duplicates: int = 0
    latencies: list[float] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def delivery(self) -> float:
        return self.delivered / self.expected if self.expected else 1.0

    def percentile(self, p: float) -> Optional[float]:
        if not self.latencies:
            return None
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]

    def row(self) -> dict[str, Any]:
        p50, p99 = self.percentile(50), self.percentile(99)
        return {
            "scenario": self.scenario,
            "hosts": self.hosts,
            "delivered": f"{self.delivered}/{self.expected}",
            "duplicates": self.duplicates,
            "p50_ms": None if p50 is None else round(p50, 1),
            "p99_ms": None if p99 is None else round(p99, 1),
            **self.extra,
        }


class ChatSwarm:
    """`hypar chat --json` processes, one per host, on one switch. Host h0
    is the bootstrap host: every other host joins through it."""

    def __init__(self, bed: Bed, n: int, workdir: Path, subnet: str = "10.201.0.0/24",
                 switch: Optional[Switch] = None, hosts: Optional[Sequence[Host]] = None) -> None:
        """`n` hosts on a new switch of `subnet` (or on `switch`), or the
        `hosts` given, wherever they are plugged."""
        self.bed = bed
        self.workdir = workdir
        self.bin = hypar_bin()
        if hosts:
            self.switch = hosts[0].switch
            self.hosts: list[Host] = list(hosts)
        else:
            self.switch = switch or bed.switch("lan", subnet)
            self.hosts = [bed.host(f"h{i}", self.switch) for i in range(n)]
        self.peer_ids: dict[str, str] = {}
        for h in self.hosts:
            key = self.key(h)
            out = subprocess.run([self.bin, "keygen", "--out", str(key), "--force"], capture_output=True,
                                 text=True, check=True, timeout=30)
            self.peer_ids[h.name] = out.stdout.strip()
        self.procs: dict[str, Process] = {}
        self.sent: dict[str, tuple[str, float]] = {}  # message -> (sender, time published)
        self._seq = 0

    def key(self, h: Host) -> Path:
        return self.workdir / f"{h.name}.key"

    def addr(self, h: Host) -> str:
        return f"/ip4/{h.addr}/tcp/{PORT}/p2p/{self.peer_ids[h.name]}"

    def host(self, name: str) -> Host:
        return next(h for h in self.hosts if h.name == name)

    def start(self, h: Host, bootstrap: Optional[Sequence[Host]] = None,
              extra: Sequence[str] = (), prefix: Sequence[str] = (), tcp: bool = True) -> Process:
        """Start (or restart) the chat on `h`, joining through `bootstrap`
        (default: h0, unless `h` is h0), with `extra` arguments, run by the
        `prefix` command if one is given; listening on TCP unless not `tcp`
        (`extra` then gives the listen addresses)."""
        if bootstrap is None:
            bootstrap = [] if h is self.hosts[0] else [self.hosts[0]]
        listen = ["--listen", f"/ip4/{h.addr}/tcp/{PORT}"] if tcp else []
        args = [self.bin, "chat", "--json", "--topic", TOPIC, *listen, "--key", str(self.key(h)), *extra]
        for b in bootstrap:
            args += ["--bootstrap", self.addr(b)]
        p = h.spawn([*prefix, *args], env={"RUST_LOG": "off"})
        p.wait_for("ready", lambda rs: any(r["type"] == "ready" for r in rs), timeout=30)
        self.procs[h.name] = p
        return p

    def start_all(self) -> None:
        self.start(self.hosts[0])
        for h in self.hosts[1:]:
            self.start(h)
        self.wait_connected(self.live())

    def live(self) -> list[Host]:
        return [h for h in self.hosts if h.name in self.procs and self.procs[h.name].alive()]

    def neighbours(self, h: Host) -> set[str]:
        """The peer ids `h` has as neighbours now, from its events."""
        current: set[str] = set()
        for r in self.procs[h.name].snapshot():
            if r["type"] == "neighbor_up":
                current.add(r["peer"])
            elif r["type"] == "neighbor_down":
                current.discard(r["peer"])
        return current

    def wait_until(self, what: str, done: Callable[[], bool], timeout: float) -> float:
        """Poll `done` (every 50 ms) until it holds; returns the seconds it took."""
        start = time.monotonic()
        while not done():
            if time.monotonic() - start > timeout:
                raise TimeoutError(f"{what} did not happen within {timeout:.0f} s")
            time.sleep(0.05)
        return time.monotonic() - start

    def wait_connected(self, hosts: Sequence[Host], timeout: float = 60) -> float:
        return self.wait_until("every host having a neighbour",
                               lambda: all(self.neighbours(h) for h in hosts), timeout)

    def kill(self, h: Host) -> None:
        self.procs[h.name].kill()

    def publish(self, senders: Sequence[Host], per_sender: int, interval_s: float = 0.005,
                size: int = 0) -> list[str]:
        """Each sender publishes `per_sender` messages, round robin, one line
        every `interval_s`; a message is `m:<sender>:<n>:<time>` padded to
        `size` bytes. Returns the messages."""
        messages = []
        for _ in range(per_sender):
            for s in senders:
                self._seq += 1
                t = now_ms()
                m = f"m:{s.name}:{self._seq}:{t:.3f}"
                m = m + ":" + "x" * max(0, size - len(m) - 1) if size else m
                self.procs[s.name].write_line(m)
                self.sent[m] = (s.name, t)
                messages.append(m)
                if interval_s:
                    time.sleep(interval_s)
        return messages

    def received(self, h: Host) -> list[tuple[str, float]]:
        """(message, arrival time) of every message `h` delivered, in order,
        across restarts."""
        out = []
        for p in self.bed.processes:
            if p.host is h:
                out += [(r["data"], r["t"]) for r in p.snapshot() if r["type"] == "message"]
        return out

    def missing(self, messages: Iterable[str], receivers: Sequence[Host]) -> int:
        want = set(messages)
        total = 0
        for h in receivers:
            mine = {m for m in want if self.sent[m][0] != h.name}
            got = {m for m, _ in self.received(h)}
            total += len(mine - got)
        return total

    def wait_delivered(self, messages: Sequence[str], receivers: Sequence[Host], timeout: float) -> bool:
        try:
            self.wait_until("every message reaching every receiver",
                            lambda: self.missing(messages, receivers) == 0, timeout)
            return True
        except TimeoutError:
            return False

    def measure(self, figures: Figures, messages: Sequence[str], receivers: Sequence[Host]) -> Figures:
        want = set(messages)
        for h in receivers:
            counts: dict[str, int] = {}
            for m, t in self.received(h):
                if m in want:
                    counts[m] = counts.get(m, 0) + 1
                    if counts[m] == 1:
                        figures.latencies.append(t - self.sent[m][1])
            expected = [m for m in want if self.sent[m][0] != h.name]
            figures.expected += len(expected)
            figures.delivered += sum(1 for m in expected if m in counts)
            figures.duplicates += sum(c - 1 for c in counts.values())
        return figures


def _swarm(bed: Bed, n: int, workdir: Path) -> ChatSwarm:
    s = ChatSwarm(bed, n, workdir)
    s.start_all()
    return s


def steady(bed: Bed, workdir: Path, n: int = 12, per_host: int = 50) -> Figures:
    """Every host publishes `per_host` messages; every host gets every one once."""
    s = _swarm(bed, n, workdir)
    msgs = s.publish(s.hosts, per_host)
    s.wait_delivered(msgs, s.hosts, timeout=60)
    return s.measure(Figures("steady", n), msgs, s.hosts)


def _crash(bed: Bed, workdir: Path, n: int, settle_s: float, power_off: bool) -> Figures:
    name = "power_off" if power_off else "crash"
    s = _swarm(bed, n, workdir)
    victims = [h for i, h in enumerate(s.hosts) if i % 3 == 0]  # a third, h0 (the bootstrap) included
    survivors = [h for h in s.hosts if h not in victims]
    dead_ids = {s.peer_ids[v.name] for v in victims}
    crash_at = time.monotonic()
    crash_ms = now_ms()
    for v in victims:
        if power_off:
            s.switch.cut(v.name)
        s.kill(v)
    # Published at once, while the overlay repairs itself.
    during = s.publish(survivors, 5)
    s.wait_delivered(during, survivors, timeout=60)
    fig = s.measure(Figures(name, n), during, survivors)
    fig.extra["p99_during_repair_ms"] = round(fig.percentile(99) or 0, 1)
    try:
        views_clean = s.wait_until(
            "every survivor dropping its dead neighbours",
            lambda: all(not (s.neighbours(h) & dead_ids) and s.neighbours(h) for h in survivors), timeout=120)
        fig.extra["dead_gone_s"] = round(time.monotonic() - crash_at, 1)
    except TimeoutError:
        views_clean = None
        fig.extra["dead_gone_s"] = None
    # When the last dead neighbour left a survivor's view (by its own clock).
    downs = [r["t"] for h in survivors for r in s.procs[h.name].snapshot()
             if r["type"] == "neighbor_down" and r["peer"] in dead_ids]
    fig.extra["last_dead_down_s"] = round((max(downs) - crash_ms) / 1e3, 1) if downs else None
    time.sleep(max(0.0, settle_s - (time.monotonic() - crash_at)))
    after = s.publish(survivors, 5)
    s.wait_delivered(after, survivors, timeout=60)
    later = s.measure(Figures(name, n), after, survivors)
    fig.expected += later.expected
    fig.delivered += later.delivered
    fig.duplicates += later.duplicates
    fig.extra[f"p99_after_{settle_s:.0f}s_ms"] = round(later.percentile(99) or 0, 1)
    fig.latencies = later.latencies
    fig.extra["views_clean"] = views_clean is not None
    return fig


def crash(bed: Bed, workdir: Path, n: int = 12, settle_s: float = 30) -> Figures:
    """kill -9 a third of the hosts, the bootstrap host among them; the
    survivors keep publishing to each other."""
    return _crash(bed, workdir, n, settle_s, power_off=False)


def power_off(bed: Bed, workdir: Path, n: int = 12, settle_s: float = 30) -> Figures:
    """Like crash, but the victims' links go down first: no reset reaches anyone."""
    return _crash(bed, workdir, n, settle_s, power_off=True)


def partition(bed: Bed, workdir: Path, n: int = 12, split_s: float = 60) -> Figures:
    """The switch splits in two halves for `split_s` while both publish; then it heals."""
    s = _swarm(bed, n, workdir)
    half_a, half_b = s.hosts[: n // 2], s.hosts[n // 2:]
    s.switch.split([h.name for h in half_b])
    split_at = time.monotonic()
    during = s.publish(s.hosts, 3, interval_s=0.05)
    # Each half keeps working on its own.
    s.wait_delivered([m for m in during if s.sent[m][0] in {h.name for h in half_a}], half_a, timeout=60)
    s.wait_delivered([m for m in during if s.sent[m][0] in {h.name for h in half_b}], half_b, timeout=60)
    time.sleep(max(0.0, split_s - (time.monotonic() - split_at)))
    s.switch.heal()
    healed_at = time.monotonic()
    # Re-merged: a message from one half reaches the other. Probe until it does.
    merged_s: Optional[float] = None
    probes: list[str] = []
    deadline = healed_at + 180
    while time.monotonic() < deadline:
        probes += s.publish([half_a[0], half_b[0]], 1, interval_s=0)
        if s.missing(probes[-2:], s.hosts) == 0 or s.wait_delivered(probes[-2:], s.hosts, timeout=5):
            merged_s = time.monotonic() - healed_at
            break
    after = s.publish(s.hosts, 3)
    s.wait_delivered(after, s.hosts, timeout=60)
    fig = s.measure(Figures("partition", n), after, s.hosts)
    split_fig = s.measure(Figures("split", n), during, s.hosts)
    s.wait_delivered(during, s.hosts, timeout=5)
    fig.extra["merged_s"] = None if merged_s is None else round(merged_s, 1)
    fig.extra["during_split_delivered"] = f"{split_fig.delivered}/{split_fig.expected}"
    fig.duplicates += split_fig.duplicates
    return fig


def restart(bed: Bed, workdir: Path, n: int = 8) -> Figures:
    """A host is killed and restarted with the same key and bootstrap."""
    s = _swarm(bed, n, workdir)
    h = s.hosts[n // 2]
    s.kill(h)
    started = time.monotonic()
    s.start(h)
    rejoin_s = s.wait_until("the restarted host having a neighbour", lambda: bool(s.neighbours(h)), 60)
    msgs = s.publish([x for x in s.hosts if x is not h], 2) + s.publish([h], 2)
    s.wait_delivered(msgs, s.hosts, timeout=60)
    fig = s.measure(Figures("restart", n), msgs, s.hosts)
    fig.extra["rejoin_s"] = round(time.monotonic() - started - 0 * rejoin_s, 1)
    return fig


def late_bootstrap(bed: Bed, workdir: Path) -> Figures:
    """A host whose only bootstrap is down when it starts joins once the bootstrap comes up."""
    s = ChatSwarm(bed, 2, workdir)
    boot, late = s.hosts
    p = s.start(late, bootstrap=[boot])
    p.wait_for("bootstrap_failed", lambda rs: any(r["type"] == "bootstrap_failed" for r in rs), timeout=60)
    up_at = time.monotonic()
    s.start(boot)
    join_s = s.wait_until("the late host joining", lambda: bool(s.neighbours(late)), 120)
    msgs = s.publish([boot, late], 3)
    s.wait_delivered(msgs, s.hosts, timeout=30)
    fig = s.measure(Figures("late_bootstrap", 2), msgs, s.hosts)
    fig.extra["joined_after_s"] = round(join_s, 1)
    del up_at
    return fig


def slow_link(bed: Bed, workdir: Path, n: int = 8, count: int = 200, size: int = 1024) -> Figures:
    """Two hosts behind 1 Mbit/s links; a third publishes `count` messages of
    `size` bytes at once. The same burst is sent first with every link at
    full speed: the control for the other hosts' latency. Both bursts must
    reach every host exactly once; the latencies are the throttled burst's."""
    s = _swarm(bed, n, workdir)
    slow = s.hosts[-2:]
    fast = [h for h in s.hosts if h not in slow]
    sender = s.hosts[1]
    control = s.publish([sender], count, interval_s=0, size=size)
    s.wait_delivered(control, s.hosts, timeout=60)
    for h in slow:
        s.switch.throttle(h.name, "1mbit")
    msgs = s.publish([sender], count, interval_s=0, size=size)
    s.wait_delivered(msgs, s.hosts, timeout=120)
    fig = s.measure(Figures("slow_link", n), msgs, s.hosts)
    control_fig = s.measure(Figures("control", n), control, s.hosts)
    fig.expected += control_fig.expected
    fig.delivered += control_fig.delivered
    fig.duplicates += control_fig.duplicates
    fast_fig = s.measure(Figures("fast", n), msgs, fast)
    slow_fig = s.measure(Figures("slow", n), msgs, slow)
    fig.extra["fast_p99_ms"] = round(fast_fig.percentile(99) or 0, 1)
    fig.extra["control_fast_p99_ms"] = round(s.measure(Figures("control", n), control, fast).percentile(99) or 0, 1)
    fig.extra["slow_delivered"] = f"{slow_fig.delivered}/{slow_fig.expected}"
    fig.extra["slow_p99_ms"] = round(slow_fig.percentile(99) or 0, 1)
    return fig


def unreachable(bed: Bed, workdir: Path) -> Figures:
    """Two hosts behind two NAT routers join through a public host. Each
    learns of the other (the join's walk, the shuffle), but neither can dial
    the other: neither may ever announce the other as a neighbour, and
    messages flow both ways through the public host."""
    wan = bed.switch("wan", "10.210.0.0/24")
    hosts = [bed.host("h0", wan)]
    for i in (1, 2):
        lan = bed.switch(f"lan{i}", f"10.21{i}.0.0/24")
        router = bed.router(f"r{i}", lan, wan, nat=True)
        hosts.append(bed.host(f"h{i}", lan, gateway=router.lan_addr))
    s = ChatSwarm(bed, 3, workdir, hosts=hosts)
    s.start_all()
    public, b, c = s.hosts
    msgs = s.publish([b, c], 5)
    s.wait_delivered(msgs, s.hosts, timeout=60)
    fig = s.measure(Figures("unreachable", 3), msgs, s.hosts)
    ever_up = {h.name: {r["peer"] for r in s.procs[h.name].snapshot() if r["type"] == "neighbor_up"}
               for h in (b, c)}
    fig.extra["b_announced_c"] = s.peer_ids[c.name] in ever_up[b.name]
    fig.extra["c_announced_b"] = s.peer_ids[b.name] in ever_up[c.name]
    fig.extra["public_is_neighbour"] = all(s.peer_ids[public.name] in s.neighbours(h) for h in (b, c))
    return fig


def mdns(bed: Bed, workdir: Path, n: int = 3) -> Figures:
    """`n` hosts on one LAN start with `--mdns` and no bootstrap address at
    all: they find each other, form one overlay, and everyone delivers
    everything."""
    s = ChatSwarm(bed, n, workdir, subnet="10.220.0.0/24")
    for h in s.hosts:
        s.start(h, bootstrap=[], extra=["--mdns"])
    found_s = s.wait_until("every host finding a neighbour on the LAN",
                           lambda: all(s.neighbours(h) for h in s.hosts), 60)
    msgs = s.publish(s.hosts, 10)
    s.wait_delivered(msgs, s.hosts, timeout=60)
    fig = s.measure(Figures("mdns", n), msgs, s.hosts)
    fig.extra["found_s"] = round(found_s, 1)
    return fig


def no_resolver(bed: Bed, workdir: Path) -> Figures:
    """A host whose system resolver configuration cannot be read (as on
    Android: here /etc/resolv.conf is replaced, in the host's own mount
    namespace, by one without a name server) still starts, joins and
    delivers: it falls back to public resolvers."""
    s = ChatSwarm(bed, 2, workdir, subnet="10.221.0.0/24")
    broken = workdir / "resolv.conf"
    broken.write_text("# no name server here\n")
    s.start(s.hosts[0])
    mount = f"mount --bind {broken} /etc/resolv.conf && exec \"$@\""
    s.start(s.hosts[1], prefix=["unshare", "--mount", "sh", "-c", mount, "sh"])
    s.wait_connected(s.hosts)
    msgs = s.publish(s.hosts, 5)
    s.wait_delivered(msgs, s.hosts, timeout=30)
    return s.measure(Figures("no_resolver", 2), msgs, s.hosts)


SCENARIOS: dict[str, Callable[..., Figures]] = {
    "steady": steady,
    "crash": crash,
    "power_off": power_off,
    "partition": partition,
    "restart": restart,
    "late_bootstrap": late_bootstrap,
    "slow_link": slow_link,
    "unreachable": unreachable,
    "mdns": mdns,
    "no_resolver": no_resolver,
}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hosts", type=int, default=24, help="hosts per scenario (default 24)")
    p.add_argument("--only", nargs="*", choices=sorted(SCENARIOS), help="scenarios to run (default: all)")
    p.add_argument("--json", action="store_true", help="one JSON object per scenario instead of a table")
    a = p.parse_args()
    rows = []
    for name in a.only or list(SCENARIOS):
        with tempfile.TemporaryDirectory(prefix="hostbed-") as tmp, Bed() as b:
            fn = SCENARIOS[name]
            kwargs: dict[str, Any] = {} if name in ("late_bootstrap", "unreachable", "no_resolver") else {"n": a.hosts}
            fig = fn(b, Path(tmp), **kwargs)
        row = fig.row()
        rows.append(row)
        print(json.dumps(row) if a.json else f"{name}: {row}", flush=True)
    if not a.json:
        keys = ["scenario", "hosts", "delivered", "duplicates", "p50_ms", "p99_ms"]
        print("\n| " + " | ".join(keys) + " | other |")
        print("|" + "---|" * (len(keys) + 1))
        for r in rows:
            other = ", ".join(f"{k}={v}" for k, v in r.items() if k not in keys)
            print("| " + " | ".join(str(r[k]) for k in keys) + f" | {other} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
