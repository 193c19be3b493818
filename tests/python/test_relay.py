"""Relays from Python, between real networks on loopback. Loopback is not a
public address, so AutoNAT never finds these nodes public and each keeps a
reservation on the relay it is connected to (tests/hosts proves the same
across real NAT routers, with hole punching)."""

from __future__ import annotations

import pytest

import hypar
from conftest import Inbox, wait_neighbours, wait_until


def test_a_node_reached_only_through_its_relay_address_joins_and_delivers(network_factory):
    relay = network_factory(relay_server=True)
    tr = relay.join("circuit")  # kept: a dropped topic is left
    events: list[hypar.NetworkEvent] = []
    a = network_factory()
    a.on_event(events.append)
    ta = a.join("circuit", bootstrap=relay.listen_addrs())
    wait_until(
        lambda: any(e.kind == hypar.NetworkEventKind.RELAY_RESERVED and e.peer_id == relay.peer_id() for e in events),
        what="a RelayReserved event",
    )
    reserved = next(e for e in events if e.kind == hypar.NetworkEventKind.RELAY_RESERVED)
    assert reserved.topic == ""  # network-wide
    stats = a.stats()
    assert (stats.relay, stats.reachability) == (relay.peer_id(), hypar.Reachability.UNKNOWN)
    circuit = [addr for addr in a.listen_addrs() if "/p2p-circuit/" in addr]
    assert len(circuit) == 1, a.listen_addrs()

    c = network_factory()
    inbox = Inbox()
    tc = c.join("circuit", bootstrap=circuit, on_message=inbox)
    wait_neighbours(tc)
    ta.gossip(b"through the relay")
    wait_until(lambda: inbox.payloads() == [b"through the relay"], what="the message")


def test_a_declared_external_address_makes_a_node_public(network_factory):
    a = network_factory(external_addrs=["/ip4/192.0.2.7/tcp/4001"])
    stats = a.stats()
    assert (stats.reachability, stats.relay, stats.relayed_links) == (hypar.Reachability.PUBLIC, None, 0)


def test_reach_options_are_checked_by_name(network_factory):
    for name in ("relay_server", "upnp", "private_is_public"):
        with pytest.raises(hypar.InvalidConfig, match=name):
            network_factory(**{name: "yes"})
    with pytest.raises(hypar.InvalidArgument, match="external_addrs"):
        network_factory(external_addrs="/ip4/192.0.2.7/tcp/4001")
    with pytest.raises(hypar.InvalidArgument):
        network_factory(external_addrs=["not a multiaddr"])
    with pytest.raises(hypar.InvalidConfig, match="external_addrs"):
        network_factory(external_addrs=[f"/ip4/192.0.2.{i}/tcp/4001" for i in range(9)])


def test_name_servers_are_a_network_option(network_factory):
    net = network_factory(dns_servers=["192.0.2.53", "2001:db8::53"])
    assert net.listen_addrs()
    with pytest.raises(hypar.InvalidArgument, match="dns_servers"):
        network_factory(dns_servers=["not an ip"])
    with pytest.raises(hypar.InvalidArgument, match="IP address strings"):
        network_factory(dns_servers="1.1.1.1")
