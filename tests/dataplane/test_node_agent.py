"""The node agent on a node wired by the real plugins: each problem seen first without it (so a
test that passes proves the agent did it), then gone after one pass of ``nodeagent --once``."""

from __future__ import annotations

import itertools
import select
import socket
from typing import Any

import pytest

from nodeagent.knobs import BRIDGE_MASK, PORT_MASK
from tests.dataplane.lab import CLUSTER_BRIDGE, NODE_ADDRESS, Lab, LessonLink
from tests.dataplane.netns import (
    BROADCAST,
    TEST_ETHERTYPE,
    Listener,
    Netns,
    ping,
    ping6_all_nodes,
    send_frame,
    wait_for,
)

# Link-local protocols network devices run over a cable: group address and ethertype.
LINK_LOCAL = {
    "lldp": ("01:80:c2:00:00:0e", 0x88CC),
    "lacp": ("01:80:c2:00:00:02", 0x8809),
    "802.1x": ("01:80:c2:00:00:03", 0x888E),
}
Where = tuple[str, str]


def link_local_crossings(lab: Lab) -> dict[Where, set[bytes]]:
    """Each end of every link sends LLDP, LACP and 802.1X, then a broadcast; once every
    broadcast is in (it went the same way after them), what arrived of the link-local ones."""
    listeners = [Listener(pod.netns, a.interface) for pod in lab.pods for a in pod.attachments]
    expected: dict[Where, set[bytes]] = {}
    for link in lab.links:
        for source, target in itertools.permutations(link.ends):
            netns, interface = source.pod.netns, source.interface
            for protocol, (group, ethertype) in LINK_LOCAL.items():
                token = f"{protocol}/{link.session}/{source.pod.name}/{interface}".encode()
                send_frame(netns, interface, group, ethertype, token)
            send_frame(netns, interface, BROADCAST, TEST_ETHERTYPE, b"after")
            expected[(target.pod.netns.name, target.interface)] = {b"after"}
    wait_for(listeners, expected)
    received = {
        lst.where: {p for _, ethertype in LINK_LOCAL.values() for p in lst.drain(ethertype)}
        for lst in listeners
    }
    return {where: got for where, got in received.items() if got}


def test_lldp_lacp_and_8021x_cross_a_link_to_its_peer_once_the_agent_ran(lab: Lab) -> None:
    assert link_local_crossings(lab) == {}  # the plugin's bridges drop them all
    lab.agent()
    expected: dict[Where, set[bytes]] = {}
    for link in lab.links:
        for source, target in itertools.permutations(link.ends):
            expected[(target.pod.netns.name, target.interface)] = {
                f"{protocol}/{link.session}/{source.pod.name}/{source.interface}".encode()
                for protocol in LINK_LOCAL
            }
    assert link_local_crossings(lab) == expected


def _udp_listener(netns: Netns) -> tuple[socket.socket, int]:
    sock = netns.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", 0))
    return sock, sock.getsockname()[1]


def _received(sock: socket.socket, wait: float) -> list[str]:
    sources = []
    while select.select([sock], [], [], wait)[0]:
        sources.append(sock.recvfrom(2048)[1][0])
        wait = 0
    return sources


def _subnet_link(lab: Lab, session: str) -> LessonLink:
    (link,) = [link for link in lab.links if link.session == session and link.ends[0].ips]
    return link


def test_the_node_cannot_be_reached_over_a_lesson_link_once_the_agent_ran(lab: Lab) -> None:
    link = _subnet_link(lab, "s1")
    end, peer = link.ends
    pod, interface = end.pod.netns, end.interface
    peer_address = peer.pod.netns.addresses(peer.interface)[-1]  # its fe80:: address
    (node_link_local,) = lab.node.addresses(link.bridge)
    # IPv6: the node answers on the link, with the address the kernel gave the bridge.
    assert ping6_all_nodes(pod, interface) == {peer_address, node_link_local}
    # IPv4: the node's own address (on the cluster network), routed over the lesson link: the
    # node answers ARP there and takes the packet.
    pod.ip("route", "add", f"{NODE_ADDRESS}/32", "dev", interface)
    node_socket, port = _udp_listener(lab.node)
    sender = pod.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.sendto(b"hello", (NODE_ADDRESS, port))
    assert _received(node_socket, 3.0) == [link.addresses[0]]
    bridge_mac = lab.node.mac(link.bridge)
    assert pod.neighbour(interface, NODE_ADDRESS) == bridge_mac

    lab.agent()

    assert lab.node.addresses(link.bridge) == []
    assert ping6_all_nodes(pod, interface) == {peer_address}
    pod.ip("neigh", "flush", "dev", interface)
    sender.sendto(b"hello", (NODE_ADDRESS, port))
    assert _received(node_socket, 0.5) == []
    assert pod.neighbour(interface, NODE_ADDRESS) is None  # no ARP answer either
    # Even knowing the bridge's address (no ARP needed), nothing gets in.
    pod.ip("neigh", "replace", NODE_ADDRESS, "lladdr", bridge_mac, "dev", interface)
    sender.sendto(b"hello", (NODE_ADDRESS, port))
    assert _received(node_socket, 0.5) == []
    # The link itself still works, and the node still reaches the pods where it should.
    assert ping(pod, link.addresses[1], interface)
    assert ping(lab.node, peer.pod.address, CLUSTER_BRIDGE)


# The node's own firewall, as a node has one: it counts what conntrack makes of forwarded IPv4
# packets (IPv6 neighbour discovery and MLD are never tracked).
FIREWALL = """
table inet node-firewall {
\tchain forward {
\t\ttype filter hook forward priority filter; policy accept;
\t\tmeta nfproto ipv4 ct state new counter comment "new"
\t\tmeta nfproto ipv4 ct state untracked counter comment "untracked"
\t}
}
"""


def _counts(lab: Lab) -> dict[str, int]:
    found = {}
    for item in lab.node.nft_json("inet", "node-firewall")["nftables"]:
        rule: dict[str, Any] = item.get("rule", {})
        if "comment" in rule:
            (counter,) = [e["counter"] for e in rule["expr"] if "counter" in e]
            found[rule["comment"]] = counter["packets"]
    return found


def test_lesson_packets_skip_the_nodes_conntrack_once_the_agent_ran(lab: Lab) -> None:
    if not lab.br_netfilter:
        pytest.skip("this kernel has no br_netfilter: bridged frames never reach conntrack")
    lab.node.nft(FIREWALL)
    link = _subnet_link(lab, "s2")
    end = link.ends[0]
    assert ping(end.pod.netns, link.addresses[1], end.interface)
    before = _counts(lab)
    # Each lesson packet bridged went through the node's FORWARD hook and conntrack.
    assert before["new"] >= 1 and before["untracked"] == 0

    lab.agent()
    assert ping(end.pod.netns, link.addresses[1], end.interface)
    after = _counts(lab)
    assert after["new"] == before["new"]  # no new conntrack entry for lesson packets
    assert after["untracked"] >= 2  # the echo and its reply


def test_the_agent_changes_lesson_bridges_and_their_ports_and_nothing_else(lab: Lab) -> None:
    def settings() -> dict[str, dict[str, Any]]:
        """What the agent could change of each interface of the node."""
        found = {}
        for name, link in lab.node.links().items():
            info = link.get("linkinfo", {})
            found[name] = {
                "bridge_mask": info.get("info_data", {}).get("group_fwd_mask"),
                "port_mask": info.get("info_slave_data", {}).get("group_fwd_mask"),
                "master": link.get("master"),
                "generation": link.get("inet6_addr_gen_mode"),
                "addresses": sorted(lab.node.addresses(name)),
            }
        return found

    before = settings()
    bridges = {link.bridge for link in lab.links}
    ports = {name for name, link in before.items() if link["master"] in bridges}
    assert len(ports) == 12
    lab.agent(command="lessonq")
    after = settings()
    assert set(after) == set(before)
    for name in bridges:
        assert int(after[name]["bridge_mask"], 0) == BRIDGE_MASK, name
        assert after[name]["generation"] == "none" and after[name]["addresses"] == [], name
    for name in ports:
        assert int(after[name]["port_mask"], 0) == PORT_MASK, name
    others = set(before) - bridges - ports  # lo, cni0 and its ports: as they were
    assert {name: after[name] for name in others} == {name: before[name] for name in others}
    assert NODE_ADDRESS in after[CLUSTER_BRIDGE]["addresses"]
    assert before[CLUSTER_BRIDGE]["generation"] == "eui64"
