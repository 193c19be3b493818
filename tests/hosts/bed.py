"""A test bed of real hosts on one Linux machine.

Hosts are network namespaces with their own addresses. Each host is plugged
by a veth pair into a switch: a bridge inside a namespace of its own. A
router is a namespace with a port on two switches that forwards between
them, optionally masquerading (NAT) one side behind its address on the
other. Links can be cut, restored and throttled (``tc tbf``; this kernel has
no netem), and a switch can be split in two and healed. Processes run
inside hosts and can be killed with SIGKILL by pid.

Everything the bed creates carries a per-run prefix, ``hb<pid>-``, and is
removed by :meth:`Bed.close`, which also runs at interpreter exit and on
SIGTERM and SIGHUP. What a run killed outright (SIGKILL) left behind is
removed by the next bed: namespaces of a pid that no longer runs, and the
processes inside them. Only private addresses are used, inside the bed's
own namespaces.

Needs root, ``ip`` (iproute2), ``tc``, and for NAT ``nft`` (nftables).
"""

from __future__ import annotations

import atexit
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Optional


class BedUnavailable(RuntimeError):
    """The machine cannot host the bed (not root, no namespaces, a tool missing)."""


def _sh(*args: str, check: bool = True, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


def check_available(nat: bool = False) -> None:
    """Raise :class:`BedUnavailable`, saying why, unless this machine can run a bed."""
    if os.geteuid() != 0:
        raise BedUnavailable("the host bed needs root (network namespaces); run the suite as root")
    for tool in ["ip", "tc"] + (["nft"] if nat else []):
        if shutil.which(tool) is None:
            raise BedUnavailable(f"the host bed needs `{tool}`, which is not installed")
    probe = f"hbprobe{os.getpid()}"
    try:
        _sh("ip", "netns", "add", probe)
    except RuntimeError as e:
        raise BedUnavailable(f"cannot create a network namespace: {e}") from e
    finally:
        _sh("ip", "netns", "del", probe, check=False)


@dataclass
class Switch:
    """A bridge in a namespace of its own; hosts and routers plug into its ports."""

    bed: "Bed"
    name: str
    ns: str
    subnet: ipaddress.IPv4Network
    ports: dict[str, str] = field(default_factory=dict)  # member name -> port interface
    next_host: int = 10

    def _allocate(self) -> str:
        addr = self.subnet.network_address + self.next_host
        self.next_host += 1
        return str(addr)

    def plug(self, member_ns: str, member: str, ifname: str, addr: Optional[str] = None) -> str:
        """Connect namespace `member_ns` to this switch as `ifname`, with `addr`
        (allocated from the subnet if not given). Returns the address."""
        port = f"p{len(self.ports)}"
        addr = addr or self._allocate()
        _sh("ip", "-n", self.ns, "link", "add", port, "type", "veth", "peer", "name", ifname, "netns", member_ns)
        _sh("ip", "-n", self.ns, "link", "set", port, "master", "br0", "up")
        _sh("ip", "-n", member_ns, "addr", "add", f"{addr}/{self.subnet.prefixlen}", "dev", ifname)
        _sh("ip", "-n", member_ns, "link", "set", ifname, "up")
        self.ports[member] = port
        return addr

    def cut(self, member: str) -> None:
        """Take the member's link down: nothing passes, nobody is told."""
        _sh("ip", "-n", self.ns, "link", "set", self.ports[member], "down")

    def restore(self, member: str) -> None:
        """Bring the member's link back up."""
        _sh("ip", "-n", self.ns, "link", "set", self.ports[member], "up")

    def split(self, members: Sequence[str]) -> None:
        """Move `members` to a second bridge: the switch is two halves that
        cannot reach each other, and nobody is told."""
        _sh("ip", "-n", self.ns, "link", "add", "br1", "type", "bridge", check=False)
        _sh("ip", "-n", self.ns, "link", "set", "br1", "up")
        for m in members:
            _sh("ip", "-n", self.ns, "link", "set", self.ports[m], "master", "br1")

    def heal(self) -> None:
        """Put every port back on the first bridge."""
        for port in self.ports.values():
            _sh("ip", "-n", self.ns, "link", "set", port, "master", "br0")

    def throttle(self, member: str, rate: str = "1mbit") -> None:
        """Limit the member's link to `rate` each way (token bucket filter)."""
        member_ns, ifname = self.bed.members[member]
        for ns, dev in ((self.ns, self.ports[member]), (member_ns, ifname)):
            _sh("tc", "-n", ns, "qdisc", "replace", "dev", dev, "root", "tbf", "rate", rate, "burst", "16kb",
                "latency", "500ms")


@dataclass
class Host:
    """A namespace with one address on a switch."""

    bed: "Bed"
    name: str
    ns: str
    addr: str
    switch: Switch

    def spawn(self, args: Sequence[str], env: Optional[dict[str, str]] = None) -> "Process":
        """Start `args` inside the host, with pipes for stdin and stdout."""
        return self.bed._spawn(self, args, env)

    def exec(self, *args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
        """Run a command inside the host to completion."""
        return _sh("ip", "netns", "exec", self.ns, *args, timeout=timeout)


@dataclass
class Router:
    """A namespace forwarding between two switches; with `nat`, it
    masquerades the LAN behind its WAN address (connections from the LAN
    out are allowed, from the WAN in are not). Like most home routers it
    drops unsolicited packets from the WAN silently: no TCP reset, no ICMP
    port unreachable, so a hole-punching SYN that arrives before the
    router's own mapping exists is lost (and retransmitted), not refused."""

    bed: "Bed"
    name: str
    ns: str
    lan_addr: str
    wan_addr: str

    def count_to(self, addr: str) -> None:
        """Count the bytes this (NAT) router forwards to `addr`."""
        _sh("ip", "netns", "exec", self.ns, "nft", "insert", "rule", "ip", "filter", "forwarding",
            "ip", "daddr", addr, "counter")

    def bytes_to(self, addr: str) -> int:
        """Bytes forwarded to `addr` since `count_to(addr)`."""
        out = _sh("ip", "netns", "exec", self.ns, "nft", "list", "chain", "ip", "filter", "forwarding").stdout
        for line in out.splitlines():
            words = line.split()
            if words[:3] == ["ip", "daddr", addr] and "bytes" in words:
                return int(words[words.index("bytes") + 1])
        raise KeyError(f"no counter for {addr} on {self.name}")


class Process:
    """A process in a host. Its stdout is read line by line on a thread; each
    line that is a JSON object is kept in :attr:`records` with the host's name."""

    def __init__(self, host: Host, popen: "subprocess.Popen[str]") -> None:
        self.host = host
        self.popen = popen
        self.records: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, name=f"read-{host.name}", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            with self._cond:
                try:
                    record = json.loads(line)
                except ValueError:
                    self.raw.append(line.rstrip("\n"))
                else:
                    if isinstance(record, dict):
                        self.records.append(record)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def write_line(self, line: str) -> None:
        """Send one line to the process's stdin."""
        assert self.popen.stdin is not None
        self.popen.stdin.write(line + "\n")
        self.popen.stdin.flush()

    def snapshot(self) -> list[dict[str, Any]]:
        with self._cond:
            return list(self.records)

    def wait_for(self, what: str, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float) -> None:
        """Wait until `predicate(records)` holds; fail after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self.records):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self.host.name}: {what} did not happen within {timeout:.0f} s")
                if self.popen.poll() is not None and not self._reader.is_alive():
                    raise RuntimeError(f"{self.host.name}: the process exited ({self.popen.returncode}) "
                                       f"before {what}; its last output: {self.raw[-5:]}")
                self._cond.wait(min(left, 0.5))

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL, as a crash: no goodbye reaches anyone."""
        if self.alive():
            os.kill(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale() -> None:
    """Remove namespaces left by beds whose process no longer runs (it was
    killed outright, so it could not clean up), killing what runs in them."""
    for line in _sh("ip", "netns", "list", check=False).stdout.splitlines():
        ns = line.split(" ", 1)[0]
        pid = ns[2:].split("-", 1)[0]
        if not (ns.startswith("hb") and "-" in ns and pid.isdigit()) or _pid_alive(int(pid)):
            continue
        for p in _sh("ip", "netns", "pids", ns, check=False).stdout.split():
            try:
                os.kill(int(p), signal.SIGKILL)
            except ProcessLookupError:
                pass
        _sh("ip", "netns", "del", ns, check=False)


class Bed:
    """Namespaces, switches, hosts, routers and processes, removed on close."""

    def __init__(self, prefix: Optional[str] = None) -> None:
        check_available()
        sweep_stale()
        self.prefix = prefix or f"hb{os.getpid()}"
        self.namespaces: list[str] = []
        self.processes: list[Process] = []
        self.members: dict[str, tuple[str, str]] = {}  # member name -> (namespace, interface)
        self._closed = False
        atexit.register(self.close)
        self._old_handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGHUP)}
        if threading.current_thread() is threading.main_thread():
            for sig in self._old_handlers:
                signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.close()
        raise SystemExit(128 + signum)

    def _namespace(self, name: str) -> str:
        ns = f"{self.prefix}-{name}"
        _sh("ip", "netns", "add", ns)
        self.namespaces.append(ns)
        _sh("ip", "-n", ns, "link", "set", "lo", "up")
        return ns

    def switch(self, name: str, subnet: str) -> Switch:
        """A switch for addresses of `subnet` (a private range)."""
        net = ipaddress.IPv4Network(subnet)
        if not net.is_private:
            raise ValueError(f"{subnet} is not a private range")
        ns = self._namespace(f"sw-{name}")
        _sh("ip", "-n", ns, "link", "add", "br0", "type", "bridge")
        _sh("ip", "-n", ns, "link", "set", "br0", "up")
        return Switch(self, name, ns, net)

    def host(self, name: str, switch: Switch, addr: Optional[str] = None,
             gateway: Optional[str] = None) -> Host:
        """A host plugged into `switch`; `gateway` becomes its default route."""
        ns = self._namespace(name)
        addr = switch.plug(ns, name, "eth0", addr)
        self.members[name] = (ns, "eth0")
        if gateway:
            _sh("ip", "-n", ns, "route", "add", "default", "via", gateway)
        return Host(self, name, ns, addr, switch)

    def router(self, name: str, lan: Switch, wan: Switch, nat: bool = False, random_ports: bool = False) -> Router:
        """A router between `lan` and `wan`; hosts of the LAN use its LAN
        address as gateway. With `nat`, the LAN is masqueraded: a LAN host's
        source port is kept when it is free (what hole punching needs), or,
        with `random_ports`, replaced by a random one for every connection
        (a symmetric NAT, through which hole punching fails)."""
        ns = self._namespace(name)
        lan_addr = lan.plug(ns, name, "lan0", str(lan.subnet.network_address + 1))
        wan_addr = wan.plug(ns, f"{name}-wan", "wan0")
        self.members[name] = (ns, "lan0")
        self.members[f"{name}-wan"] = (ns, "wan0")
        _sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        if nat:
            if shutil.which("nft") is None:
                raise BedUnavailable("NAT needs `nft` (nftables), which is not installed")
            rules = f"""
table ip nat {{
  chain postrouting {{
    type nat hook postrouting priority 100;
    oifname "wan0" masquerade{" random" if random_ports else ""}
  }}
}}
table ip filter {{
  chain input {{
    type filter hook input priority 0; policy accept;
    iifname "wan0" ct state new drop
  }}
  chain forwarding {{
    type filter hook forward priority 0; policy drop;
    ct state established,related accept
    iifname "lan0" accept
  }}
}}
"""
            subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=rules, text=True, check=True,
                           capture_output=True, timeout=20)
        return Router(self, name, ns, lan_addr, wan_addr)

    def _spawn(self, host: Host, args: Sequence[str], env: Optional[dict[str, str]]) -> Process:
        full_env = dict(os.environ)
        full_env.update(env or {})
        # HOSTBED_LOGS=<dir> keeps each process's stderr in <dir>/<host>.log
        # (with HOSTBED_RUST_LOG as its RUST_LOG), for debugging.
        logs = os.environ.get("HOSTBED_LOGS")
        stderr: Any = subprocess.DEVNULL
        if logs:
            full_env["RUST_LOG"] = os.environ.get("HOSTBED_RUST_LOG", "debug")
            stderr = open(os.path.join(logs, f"{host.name}.log"), "a")
        popen = subprocess.Popen(["ip", "netns", "exec", host.ns, *args], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=stderr, text=True, bufsize=1,
                                 env=full_env)
        process = Process(host, popen)
        self.processes.append(process)
        return process

    def close(self) -> None:
        """Kill every process and remove every namespace (and so every link)."""
        if self._closed:
            return
        self._closed = True
        for p in self.processes:
            try:
                p.kill()
            except (OSError, subprocess.TimeoutExpired):
                pass
        for ns in reversed(self.namespaces):
            _sh("ip", "netns", "del", ns, check=False)
        self.namespaces.clear()
        if threading.current_thread() is threading.main_thread():
            for sig, handler in self._old_handlers.items():
                signal.signal(sig, handler)

    def __enter__(self) -> "Bed":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def bed(prefix: Optional[str] = None) -> Iterator[Bed]:
    """A bed for the duration of a `with` block."""
    b = Bed(prefix)
    try:
        yield b
    finally:
        b.close()
