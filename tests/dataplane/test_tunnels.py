"""Links across nodes: the node agent's VXLAN tunnel ports on three nodes in namespaces, each
wired by the real plugins, its desired tunnels handed to ``python -m nodeagent --once
--tunnels FILE`` (``overlay``). One lab for the module: every test leaves it as it found it."""

from __future__ import annotations

import dataclasses
import itertools
import json
import select
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nodeagent.agent import Agent
from nodeagent.allowlist import FAMILY, TABLE
from nodeagent.knobs import PORT_MASK
from nodeagent.links import wanted
from nodeagent.linux import DELETE_GROUP, LinuxHost
from nodeagent.tunnels import VXLAN_PORT, tunnel_name, tunnel_prefix
from tests.dataplane import cni
from tests.dataplane.netns import (
    BROADCAST,
    TEST_ETHERTYPE,
    Listener,
    Namespaces,
    Netns,
    ping,
    send_frame,
    wait_for,
)
from tests.dataplane.overlay import (
    NODES,
    TAP,
    TAP_NODE,
    UNDERLAY_MTU,
    Overlay,
    OverlayLink,
    vxlan,
    write_tunnels,
)
from tests.dataplane.test_node_agent import LINK_LOCAL

Where = tuple[str, str]


@pytest.fixture(scope="module")
def overlay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Overlay]:
    spaces = Namespaces()
    try:
        lab = Overlay(spaces)
        files = tmp_path_factory.mktemp("tunnels")
        for node in lab.nodes:
            lab.files[node] = write_tunnels(files / f"n{node.number}.json", lab.desired(node))
        lab.agents(lab.files)
        yield lab
    finally:
        spaces.close()


def _tunnel_ports(netns: Netns) -> dict[str, dict[str, Any]]:
    return {
        name: link
        for name, link in netns.links().items()
        if link.get("linkinfo", {}).get("info_kind") == "vxlan"
    }


def _fdb(netns: Netns) -> set[tuple[str, str]]:
    """The (tunnel port, peer) of every all-zeros FDB entry: where floods go."""
    return {
        (entry["ifname"], entry["dst"])
        for entry in json.loads(netns.exec(["bridge", "-json", "fdb", "show"]))
        if entry["mac"] == "00:00:00:00:00:00" and "dst" in entry
    }


def _allowed(netns: Netns) -> set[tuple[str, int]]:
    """The (peer, VNI) pairs of the allow-list (none when there is no table)."""
    if TABLE not in netns.exec(["nft", "list", "tables"]):
        return set()
    pairs = set()
    for item in netns.nft_json(FAMILY, TABLE)["nftables"]:
        found = item.get("set", {})
        if found.get("name", "").startswith("peers"):
            pairs |= {(e["concat"][0], e["concat"][1]) for e in found.get("elem", [])}
    return pairs


def _dropped(netns: Netns) -> int:
    for item in netns.nft_json(FAMILY, TABLE)["nftables"]:
        rule = item.get("rule", {})
        if rule.get("comment") == "not a peer":
            (counter,) = [e["counter"] for e in rule["expr"] if "counter" in e]
            return int(counter["packets"])
    raise AssertionError("no drop rule")


def _snapshot(overlay: Overlay) -> dict[str, Any]:
    """What the agents made, on every node: tunnel ports (index, VNI, local, MTU, bridge, mask),
    their FDB destinations, the allow-list."""
    found: dict[str, Any] = {}
    for node in overlay.nodes:
        ports = {
            name: (
                link["ifindex"],
                link["linkinfo"]["info_data"]["id"],
                link["linkinfo"]["info_data"]["local"],
                link["linkinfo"]["info_data"]["port"],
                link["mtu"],
                link.get("master"),
                link["linkinfo"]["info_slave_data"]["group_fwd_mask"],
            )
            for name, link in _tunnel_ports(node.netns).items()
        }
        found[node.netns.name] = (ports, _fdb(node.netns), _allowed(node.netns))
    return found


def test_each_node_has_a_tunnel_port_per_link_crossing_it_and_an_allow_list(
    overlay: Overlay,
) -> None:
    for node in overlay.nodes:
        desired = {tunnel.bridge: tunnel for tunnel in overlay.desired(node)}
        # Each node holds ends of 4 links (2 per session), the tap's node one more.
        assert len(desired) == 4 + (node.number == 2)
        ports = _tunnel_ports(node.netns)
        assert set(ports) == {tunnel_name(bridge) for bridge in desired}
        for name, link in ports.items():
            (tunnel,) = [t for t in desired.values() if tunnel_name(t.bridge) == name]
            data = link["linkinfo"]["info_data"]
            assert (data["id"], data["local"], data["port"], data["learning"]) == (
                tunnel.vni,
                node.address,
                VXLAN_PORT,
                False,
            )
            assert link["mtu"] == tunnel.mtu == UNDERLAY_MTU - 50
            assert link["master"] == tunnel.bridge and "UP" in link["flags"]
            assert int(link["linkinfo"]["info_slave_data"]["group_fwd_mask"], 0) == PORT_MASK
            assert link["inet6_addr_gen_mode"] == "none"
        assert _fdb(node.netns) == {
            (tunnel_name(t.bridge), peer) for t in desired.values() for peer in t.peers
        }
        assert _allowed(node.netns) == {(peer, t.vni) for t in desired.values() for peer in t.peers}


def test_the_agents_cluster_side_wants_what_the_lab_wired(overlay: Overlay) -> None:
    """What the agent derives from the pods and definitions the API lists (nodeagent.links) is
    the lab's own account of each node's tunnels, but for the third end the lab added by hand
    (a tap, not a pod)."""
    addresses = {overlay.node_name(node): node.address for node in overlay.nodes}
    tapped = overlay.link(*TAP)
    for node in overlay.nodes:
        found = wanted(
            overlay.node_name(node), node.address, overlay.listed_pods, overlay.listed_nads,
            addresses,
        )  # fmt: skip
        tap = overlay.nodes[TAP_NODE]
        expected = {
            dataclasses.replace(tunnel, peers=tunnel.peers - {tap.address})
            if tunnel.bridge == tapped.bridge
            else tunnel
            for tunnel in overlay.desired(node)
            if not (node is tap and tunnel.bridge == tapped.bridge)
        }
        assert set(found.tunnels) == expected, node.number
        assert found.unknown == frozenset()


def test_every_link_carries_pings_both_ways_across_nodes(overlay: Overlay) -> None:
    for link in overlay.links:
        assert len(link.nodes) > 1
        for source, target in itertools.permutations(link.ends, 2):
            where = f"{link.session} link {link.index}: {source.pod} -> {target.pod}"
            assert ping(source.netns, target.address, source.interface), where
            # The same address lives in the other session: the answer must be the peer's.
            peer = target.netns.mac(target.interface)
            assert source.netns.neighbour(source.interface, target.address) == peer, where


def test_a_full_size_frame_crosses_the_underlay(overlay: Overlay) -> None:
    link = overlay.link("s2", 1)
    source, target = link.ends
    assert source.node is not target.node
    # ping -s 1422 -M do: a 1450-byte IP packet, the link's MTU; 1500 on the underlay.
    size = link.mtu - 28
    for a, b in ((source, target), (target, source)):
        assert ping(a.netns, b.address, a.interface, size=size, dont_fragment=True)


def _crossings(overlay: Overlay) -> tuple[dict[Where, set[bytes]], dict[Where, set[bytes]]]:
    """Each end of every link sends LLDP, LACP, 802.1X and a broadcast; once every broadcast
    is where it should be, what arrived where: (broadcasts, link-local frames)."""
    listeners = [Listener(end.netns, end.interface) for end in overlay.ends()]
    expected: dict[Where, set[bytes]] = {}
    for link in overlay.links:
        for source in link.ends:
            for protocol, (group, ethertype) in LINK_LOCAL.items():
                token = f"{protocol}/{link.session}/{source.pod}".encode()
                send_frame(source.netns, source.interface, group, ethertype, token)
            token = f"{link.session}/{source.pod}/{source.interface}".encode()
            send_frame(source.netns, source.interface, BROADCAST, TEST_ETHERTYPE, token)
            for target in link.ends:
                if target is not source:
                    expected.setdefault(target.where, set()).add(token)
    wait_for(listeners, expected)
    # A frame that leaked went through the same underlay: give it time to come in too.
    select.select([], [], [], 0.1)
    broadcasts = {lst.where: set(lst.drain()) for lst in listeners}
    link_local = {
        lst.where: {p for _, ethertype in LINK_LOCAL.values() for p in lst.drain(ethertype)}
        for lst in listeners
    }
    return broadcasts, link_local


def test_frames_reach_the_links_other_ends_across_nodes_and_nothing_else(
    overlay: Overlay,
) -> None:
    broadcasts, link_local = _crossings(overlay)
    expected: dict[Where, set[bytes]] = {}
    expected_link_local: dict[Where, set[bytes]] = {}
    for link in overlay.links:
        for source, target in itertools.permutations(link.ends, 2):
            token = f"{link.session}/{source.pod}/{source.interface}".encode()
            expected.setdefault(target.where, set()).add(token)
            expected_link_local.setdefault(target.where, set()).update(
                f"{protocol}/{link.session}/{source.pod}".encode() for protocol in LINK_LOCAL
            )
    # Nothing crossed between links, lessons or sessions (whose links join the same nodes
    # under other VNIs); the link with a third end took each frame to both others.
    assert broadcasts == expected
    tap_link = overlay.link(*TAP)
    assert len(tap_link.ends) == 3 and len(tap_link.nodes) == NODES
    # LLDP, LACP and 802.1X cross the tunnels as they cross a bridge.
    assert link_local == expected_link_local


def test_vxlan_from_a_host_that_is_no_peer_is_dropped(overlay: Overlay) -> None:
    link = overlay.link("s1", 1)
    receiver, sender_end = link.ends
    node, peer = receiver.node, sender_end.node
    listener = Listener(receiver.netns, receiver.interface)
    frame = bytes.fromhex(BROADCAST.replace(":", "")) + bytes.fromhex("02aabbccddee")
    frame += TEST_ETHERTYPE.to_bytes(2, "big")

    def inject(netns: Netns, source: str, token: bytes) -> None:
        sock = netns.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((source, 0))
        sock.sendto(vxlan(link.vni, frame + token.ljust(46, b"\0")), (node.address, VXLAN_PORT))

    before = _dropped(node.netns)
    # From the peer node's address, the packet is a frame on the link (it is well made) ...
    inject(peer.netns, peer.address, b"from a peer")
    wait_for([listener], {listener.where: {b"from a peer"}})
    # ... from another host on the underlay, with the link's VNI, it is dropped.
    inject(overlay.stranger, "10.99.0.200", b"from a stranger")
    # And from a peer of other links (the third node), with this link's VNI, too.
    (third,) = [n for n in overlay.nodes if n not in (node, peer)]
    inject(third.netns, third.address, b"from another peer")
    select.select([], [], [], 0.2)
    assert listener.drain() == [b"from a peer"]
    assert _dropped(node.netns) == before + 2


def test_a_fresh_agent_changes_nothing_and_without_a_file_leaves_tunnels_alone(
    overlay: Overlay,
) -> None:
    before = _snapshot(overlay)
    # A restarted agent (a new process) with the same desired state: no tunnel change.
    logs = overlay.agents(overlay.files)
    for log in logs:
        assert "tunnels: allow-list loaded, 0 changes, 0 waiting" in log, log
    # A fresh agent given the desired state as the pass's argument; then one without any
    # desired state, which leaves tunnels as they are.
    for node in overlay.nodes:
        result = overlay.agent_pass(node, overlay.desired(node))
        assert not result.errors and result.tunnel_changes == [] and result.changes == []
        result = overlay.agent_pass(node, None)
        assert not result.errors and result.tunnels is None and result.tunnel_changes == []
    assert _snapshot(overlay) == before
    link = overlay.link("s2", 2)
    a, b = link.ends
    assert ping(a.netns, b.address, a.interface)


def test_taking_the_tunnels_away_leaves_no_port_and_no_allow_list(
    overlay: Overlay, tmp_path: Path
) -> None:
    # On one node, someone else's interface in the group the agent deletes its ports through:
    # that node's ports go one by one, and that interface stays.
    first = overlay.nodes[0].netns
    first.ip("link", "add", "other0", "group", str(DELETE_GROUP), "type", "veth", "peer", "other1")
    empty = write_tunnels(tmp_path / "none.json", [])
    overlay.agents(dict.fromkeys(overlay.nodes, empty))
    assert {"other0", "other1"} <= set(first.links())
    first.ip("link", "delete", "other0")
    for node in overlay.nodes:
        assert _tunnel_ports(node.netns) == {}
        assert _fdb(node.netns) == set()
        assert _allowed(node.netns) == set()
        assert TABLE not in node.netns.exec(["nft", "list", "tables"])
        # The bridges, and the agent's own tables, stay.
        assert "lessonq" in node.netns.exec(["nft", "list", "tables"])
    link: OverlayLink = overlay.link("s1", 2)
    a, b = link.ends
    assert not ping(a.netns, b.address, a.interface, timeout=0.3)
    # Given back, the tunnels come back.
    for node in overlay.nodes:
        assert not overlay.agent_pass(node, overlay.desired(node)).errors
    assert ping(a.netns, b.address, a.interface)


def test_a_lesson_gone_from_every_node_leaves_no_tunnel_bridge_or_rule(overlay: Overlay) -> None:
    """Last (it takes the lab apart): every pod's DEL, then agents whose desired state has no
    tunnel left: the tunnel ports go, then the bridges, empty, after the grace (0 here)."""
    for link in overlay.links:
        config = overlay.link_config(link)
        for end in link.ends:
            cni.call(
                "DEL", end.node.netns, config, netns=end.netns, container_id=end.netns.name,
                interface=end.interface, pod=("overlay", end.netns.name),
            )  # fmt: skip
    bridges = {link.bridge for link in overlay.links}
    for node in overlay.nodes:
        agent = Agent(LinuxHost(), grace=0)
        for _ in range(2):  # the tunnel ports go, then the bridges they left empty
            assert not node.netns.call(lambda agent=agent: agent.run_pass([])).errors
        left = set(node.netns.links())
        assert not {name for name in left if name.startswith(tunnel_prefix())}, node.number
        assert not left & bridges, node.number
        assert TABLE not in node.netns.exec(["nft", "list", "tables"])
