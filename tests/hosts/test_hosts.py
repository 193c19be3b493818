"""The host bed's scenarios at CI size, with what each must guarantee:
every live host gets every message published by a live host, exactly once.

Needs root (network namespaces); without it every test fails and says why.
Latency figures are printed (run pytest with -s), not asserted: they come
from `python3 tests/hosts/scenarios.py`, which prints a table.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nat  # noqa: E402
import scenarios  # noqa: E402
from bed import Bed  # noqa: E402

#: How long a silent neighbour may stay in a view: the liveness timeout the
#: library is configured with by default, plus repair and margin.
DEAD_NEIGHBOUR_BOUND_S = 15


@pytest.fixture
def bed(tmp_path: Path) -> Iterator[tuple[Bed, Path]]:
    with Bed() as b:
        yield b, tmp_path


def test_a_bed_killed_without_warning_is_swept_by_the_next() -> None:
    # A run killed with SIGKILL (or whose session ended) cannot clean up: its
    # namespaces and processes outlive it. The next bed removes them.
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = f"hb{dead.pid}-h0"
    subprocess.run(["ip", "netns", "add", stale], check=True)
    orphan = subprocess.Popen(["ip", "netns", "exec", stale, "sleep", "600"])
    try:
        with Bed():
            assert stale not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                                               check=True).stdout
            assert orphan.wait(timeout=10) != 0, "the orphan process was killed"
    finally:
        orphan.kill()
        subprocess.run(["ip", "netns", "del", stale], capture_output=True)


def report(fig: scenarios.Figures) -> None:
    print(f"\n{fig.scenario}: {fig.row()}")


def assert_exact(fig: scenarios.Figures) -> None:
    assert fig.expected > 0
    assert fig.delivered == fig.expected, f"{fig.expected - fig.delivered} of {fig.expected} lost: {fig.row()}"
    assert fig.duplicates == 0, fig.row()


def test_steady(bed: tuple[Bed, Path]) -> None:
    fig = scenarios.steady(*bed, n=12, per_host=50)
    report(fig)
    assert_exact(fig)


def test_crash(bed: tuple[Bed, Path]) -> None:
    fig = scenarios.crash(*bed, n=12, settle_s=10)
    report(fig)
    assert_exact(fig)
    assert fig.extra["views_clean"], fig.row()


def test_power_off(bed: tuple[Bed, Path]) -> None:
    fig = scenarios.power_off(*bed, n=12, settle_s=10)
    report(fig)
    assert_exact(fig)
    assert fig.extra["views_clean"], f"dead neighbours stayed in views: {fig.row()}"
    assert fig.extra["dead_gone_s"] <= DEAD_NEIGHBOUR_BOUND_S, fig.row()


def test_partition(bed: tuple[Bed, Path]) -> None:
    fig = scenarios.partition(*bed, n=10, split_s=20)
    report(fig)
    assert fig.extra["merged_s"] is not None, f"the halves did not re-merge: {fig.row()}"
    assert_exact(fig)


def test_restart(bed: tuple[Bed, Path]) -> None:
    fig = scenarios.restart(*bed, n=8)
    report(fig)
    assert_exact(fig)


def test_late_bootstrap(bed: tuple[Bed, Path]) -> None:
    fig = scenarios.late_bootstrap(*bed)
    report(fig)
    assert_exact(fig)


def test_slow_link(bed: tuple[Bed, Path]) -> None:
    fig = scenarios.slow_link(*bed, n=8)
    report(fig)
    assert_exact(fig)


def test_unreachable_peers_are_never_announced(bed: tuple[Bed, Path]) -> None:
    fig = scenarios.unreachable(*bed)
    report(fig)
    assert_exact(fig)
    assert fig.extra["public_is_neighbour"], fig.row()
    assert not fig.extra["b_announced_c"] and not fig.extra["c_announced_b"], \
        f"a peer no packet can reach was announced as a neighbour: {fig.row()}"


def test_mdns_finds_the_lan_without_bootstrap(bed: tuple[Bed, Path]) -> None:
    fig = scenarios.mdns(*bed, n=3)
    report(fig)
    assert_exact(fig)


def test_nat_pair_goes_direct_and_survives_the_relay(bed: tuple[Bed, Path]) -> None:
    fig = nat.direct_pair(*bed)
    report(fig)
    assert_exact(fig)
    assert fig.extra["relayed_links"] == [0, 0], f"a relayed link was left after the upgrade: {fig.row()}"
    # From traffic: a's router sent the relay one copy of what a published
    # (the relay's own, as a member); with b's copy relayed it would be two.
    assert fig.extra["to_relay_kib"] < 1.6 * fig.extra["a_published_kib"], fig.row()
    assert fig.extra["delivered_after_kill"], f"the NATed hosts lost each other with the relay: {fig.row()}"


def test_nat_pair_goes_direct_over_quic(bed: tuple[Bed, Path]) -> None:
    fig = nat.direct_pair_quic(*bed)
    report(fig)
    assert_exact(fig)
    assert fig.extra["relayed_links"] == [0, 0], f"a relayed link was left after the upgrade: {fig.row()}"
    assert fig.extra["delivered_after_kill"], f"the NATed hosts lost each other with the relay: {fig.row()}"


def test_a_host_known_only_by_its_circuit_address_is_joined(bed: tuple[Bed, Path]) -> None:
    fig = nat.circuit_only(*bed)
    report(fig)
    assert_exact(fig)


def test_a_circuit_cut_mid_stream_loses_nothing(bed: tuple[Bed, Path]) -> None:
    fig = nat.circuit_cut(*bed)
    report(fig)
    assert all(n >= 1 for n in fig.extra["relayed_links_before"]), f"the link was not relayed: {fig.row()}"
    assert_exact(fig)
    assert fig.extra["re_reserved"], fig.row()


def test_two_relays_one_killed(bed: tuple[Bed, Path]) -> None:
    fig = nat.two_relays(*bed)
    report(fig)
    assert_exact(fig)


def test_a_host_without_a_readable_resolver_configuration_starts(bed: tuple[Bed, Path]) -> None:
    fig = scenarios.no_resolver(*bed)
    report(fig)
    assert_exact(fig)
