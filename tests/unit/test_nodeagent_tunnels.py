"""The node agent's tunnels without a node: the desired state and its file, the port names, the
plan from what is there to what is desired, the allow-list's nft script, the commands, and the
pass over a node in memory (what it makes, in which order, and what it never touches)."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Collection, Sequence
from pathlib import Path

import pytest

from kube import TransientError
from lessons.manifests import LINKS_WIRED, NAD_API_VERSION, NETWORKS_ANNOTATION, VNI_ANNOTATION
from lessons.naming import MANAGED, bridge_name
from nodeagent import allowlist
from nodeagent.agent import Agent, FileSource, one_pass
from nodeagent.cli import build_parser
from nodeagent.cluster import ClusterLinks
from nodeagent.host import HostError, Link, Vxlan
from nodeagent.knobs import PORT_MASK
from nodeagent.linux import DELETE_GROUP, _tunnel_lines, tunnel_script
from nodeagent.tunnels import (
    VXLAN_PORT,
    AddPeer,
    CreateTunnel,
    DeleteTunnel,
    RemovePeer,
    Tunnel,
    TunnelChange,
    TunnelHost,
    check,
    is_tunnel_port,
    parse,
    parse_fdb,
    plan,
    tunnel_name,
)
from tests.fakes.clock import FakeClock
from tests.fakes.kube import FakeKube
from tests.unit.fake_node import FakeNode

RED = bridge_name("snapshot-testing-s1-abcdefghij", 0)
BLUE = bridge_name("snapshot-testing-s1-abcdefghij", 1)
HERE, PEER, THIRD = "192.0.2.1", "192.0.2.2", "192.0.2.3"


def tunnel(bridge: str = RED, vni: int = 4097, peers: Collection[str] = (PEER,)) -> Tunnel:
    return Tunnel(bridge, vni, HERE, frozenset(peers), 1450)


# --- names and the desired state ----------------------------------------------------------------


def test_a_tunnel_port_is_named_after_its_bridge_within_15_characters() -> None:
    name = tunnel_name(RED)
    assert len(RED) == len(name) == 15
    assert name == "lqv" + RED[2:14]
    assert tunnel_name(BLUE) != name


def test_only_vxlan_devices_named_as_the_agent_names_them_are_its_own() -> None:
    ours = Link(tunnel_name(RED), 1, kind="vxlan")
    assert is_tunnel_port(ours)
    assert not is_tunnel_port(dataclasses.replace(ours, kind="bridge"))
    assert not is_tunnel_port(Link("vxlan.calico", 2, kind="vxlan"))
    assert not is_tunnel_port(Link("lqvshort", 3, kind="vxlan"))
    assert not is_tunnel_port(Link(RED, 4, kind="vxlan"))  # lq, but not lqv


def _document(**changes: object) -> str:
    raw = {"bridge": RED, "vni": 4097, "local": HERE, "peers": [PEER], "mtu": 1450}
    return json.dumps({"tunnels": [{**raw, **changes}]})


def test_the_desired_state_file_is_read_into_tunnels() -> None:
    text = json.dumps(
        {
            "tunnels": [
                {
                    "bridge": BLUE,
                    "vni": 5000,
                    "local": "fd00::1",
                    "peers": ["FD00::2"],
                    "mtu": 1430,
                },
                {"bridge": RED, "vni": 4097, "local": HERE, "peers": [THIRD, PEER], "mtu": 1450},
            ]
        }
    )
    assert parse(text) == sorted(
        [
            tunnel(RED, 4097, {PEER, THIRD}),
            Tunnel(BLUE, 5000, "fd00::1", frozenset({"fd00::2"}), 1430),  # canonical form
        ],
        key=lambda t: t.bridge,
    )
    assert parse('{"tunnels": []}') == []


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("nope", "not JSON"),
        ("[]", "an object"),
        (json.dumps({"tunnels": [{"bridge": RED}]}), "exactly the keys"),
        (_document(bridge="cni0"), "not a lesson bridge"),
        (_document(bridge="lq" + "a" * 14), "not a lesson bridge"),
        (_document(bridge="lq"), "not a lesson bridge"),
        (_document(vni=0), "vni"),
        (_document(vni=2**24), "vni"),
        (_document(vni=True), "vni"),
        (_document(mtu=67), "mtu"),
        (_document(local="node1"), "local"),
        (_document(peers="192.0.2.2"), "peers"),
        (_document(peers=["fd00::2"]), "IPv4 or all IPv6"),
        (_document(peers=[HERE]), "among its peers"),
    ],
)
def test_a_desired_state_that_is_not_right_is_refused_whole(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse(text)


def test_two_tunnels_never_share_a_bridge_a_vni_or_a_port_name() -> None:
    with pytest.raises(ValueError, match="named twice"):
        check([tunnel(RED, 1), tunnel(RED, 2)])
    with pytest.raises(ValueError, match="vni 7"):
        check([tunnel(RED, 7), tunnel(BLUE, 7)])
    twin = RED[:-1] + ("a" if RED[-1] != "a" else "b")  # the same 12 hash characters
    with pytest.raises(ValueError, match="tunnel port"):
        check([tunnel(RED, 1), tunnel(twin, 2)])


# --- the plan ------------------------------------------------------------------------------------


def _port(t: Tunnel, **changes: object) -> Link:
    port = Link(
        tunnel_name(t.bridge),
        10,
        kind="vxlan",
        master=t.bridge,
        mtu=t.mtu,
        up=True,
        vxlan=Vxlan(t.vni, t.local, VXLAN_PORT, learning=False),
    )
    return dataclasses.replace(port, **changes)  # type: ignore[arg-type]


BRIDGES = [Link(RED, 1, kind="bridge", addr_gen_mode="none"), Link(BLUE, 2, kind="bridge")]


def test_a_missing_tunnel_port_is_made_with_its_peers() -> None:
    t = tunnel(peers={PEER, THIRD})
    planned = plan([t], BRIDGES, {})
    assert planned.removals == [] and planned.waiting == []
    assert planned.additions == [CreateTunnel(tunnel_name(RED), t, ipv6=True)]
    # The bridge of a node without IPv6 (no generation mode): no addrgenmode for its port.
    assert plan([tunnel(BLUE)], BRIDGES, {}).additions == [
        CreateTunnel(tunnel_name(BLUE), tunnel(BLUE), ipv6=False)
    ]


def test_a_tunnel_as_desired_needs_nothing_and_changed_peers_are_repointed() -> None:
    t = tunnel(peers={PEER, THIRD})
    name = tunnel_name(RED)
    assert plan([t], [*BRIDGES, _port(t)], {name: frozenset({PEER, THIRD})}).changes == []
    moved = plan([t], [*BRIDGES, _port(t)], {name: frozenset({PEER, "192.0.2.9"})})
    assert moved.removals == [RemovePeer(name, "192.0.2.9")]
    assert moved.additions == [AddPeer(name, THIRD)]


@pytest.mark.parametrize(
    "difference",
    [
        {"mtu": 1500},
        {"master": BLUE},
        {"master": None},
        {"up": False},
        {"vxlan": Vxlan(4098, HERE, VXLAN_PORT, False)},
        {"vxlan": Vxlan(4097, "192.0.2.7", VXLAN_PORT, False)},
        {"vxlan": Vxlan(4097, HERE, 8472, False)},
        {"vxlan": Vxlan(4097, HERE, VXLAN_PORT, True)},
    ],
)
def test_a_port_unlike_its_tunnel_is_made_again(difference: dict[str, object]) -> None:
    t = tunnel()
    name = tunnel_name(RED)
    planned = plan([t], [*BRIDGES, _port(t, **difference)], {name: frozenset({PEER})})
    assert planned.removals == [DeleteTunnel(name)]
    assert planned.additions == [CreateTunnel(name, t)]


def test_ports_no_tunnel_wants_go_and_other_vxlan_devices_stay() -> None:
    t = tunnel()
    others = [
        Link("vxlan.calico", 20, kind="vxlan", vxlan=Vxlan(4096, HERE, VXLAN_PORT, False)),
        Link("flannel.1", 21, kind="vxlan", vxlan=Vxlan(1, HERE, 8472, False)),
    ]
    planned = plan([], [*BRIDGES, _port(t), *others], {})
    assert planned.changes == [DeleteTunnel(tunnel_name(RED))]
    assert planned.present_vnis == {4097}


def test_a_tunnel_waits_for_its_bridge_with_no_port_meanwhile() -> None:
    gone = bridge_name("snapshot-testing-s2-abcdefghij", 0)
    t = tunnel(gone)
    assert plan([t], BRIDGES, {}).waiting == [gone]
    assert plan([t], BRIDGES, {}).changes == []
    # A port left behind by a bridge deleted under it is deleted.
    planned = plan([t], [*BRIDGES, _port(t, master=None)], {})
    assert planned.changes == [DeleteTunnel(tunnel_name(gone))]


def test_the_fdb_gives_each_tunnel_ports_flood_destinations() -> None:
    fdb = json.dumps(
        [
            {"mac": "00:00:00:00:00:00", "ifname": "lqvport", "dst": PEER, "flags": ["self"]},
            {"mac": "00:00:00:00:00:00", "ifname": "lqvport", "dst": THIRD, "flags": ["self"]},
            {"mac": "aa:bb:cc:dd:ee:ff", "ifname": "lqvport", "dst": "192.0.2.9"},
            {"mac": "00:00:00:00:00:00", "ifname": "vxlan.calico", "dst": "192.0.2.9"},
            {"mac": "33:33:00:00:00:01", "ifname": RED, "flags": ["self"]},
        ]
    )
    assert parse_fdb(fdb, ["lqvport", "lqvempty"]) == {
        "lqvport": frozenset({PEER, THIRD}),
        "lqvempty": frozenset(),
    }


# --- the allow-list and the commands ------------------------------------------------------------


def test_the_allow_list_accepts_each_peer_with_its_vni_and_drops_strangers_on_those_vnis() -> None:
    tunnels = [
        tunnel(RED, 4097, {THIRD, PEER}),
        Tunnel(BLUE, 5000, "fd00::1", frozenset({"fd00::2"}), 1450),
    ]
    script = allowlist.script(tunnels, present_vnis={6000})
    table = f"{allowlist.FAMILY} {allowlist.TABLE}"
    assert script.startswith(f"table {table}\ndelete table {table}\ntable {table} {{\n")
    assert "typeof ip saddr . @th,96,24\n\t\telements = { 192.0.2.2 . 4097, 192.0.2.3 . 4097 }" in (
        script
    )
    assert "typeof ip6 saddr . @th,96,24\n\t\telements = { fd00::2 . 5000 }" in script
    assert "typeof @th,96,24\n\t\telements = { 4097, 5000, 6000 }" in script
    assert f"udp dport {VXLAN_PORT} ip saddr . @th,96,24 @peers4 accept" in script
    assert f"udp dport {VXLAN_PORT} @th,96,24 @vnis counter drop" in script
    # Nothing to protect: the table goes.
    assert allowlist.script([]) == f"table {table}\ndelete table {table}\n"


def test_the_commands_for_each_change() -> None:
    t = tunnel(peers={PEER, THIRD})
    name = tunnel_name(RED)
    links, fdb = _tunnel_lines(CreateTunnel(name, t))
    assert links == [
        f"link add {name} mtu 1450 type vxlan id 4097 local {HERE} dstport 4789 nolearning",
        f"link set dev {name} addrgenmode none",
        f"link set dev {name} master {RED}",
        f"link set dev {name} type bridge_slave group_fwd_mask {PORT_MASK:#x}",
        f"link set dev {name} up",
    ]
    assert fdb == [
        f"fdb append 00:00:00:00:00:00 dev {name} dst {PEER}",
        f"fdb append 00:00:00:00:00:00 dev {name} dst {THIRD}",
    ]
    assert "addrgenmode" not in " ".join(_tunnel_lines(CreateTunnel(name, t, ipv6=False))[0])
    assert _tunnel_lines(DeleteTunnel(name)) == ([f"link delete dev {name}"], [])
    assert _tunnel_lines(RemovePeer(name, PEER)) == (
        [],
        [f"fdb del 00:00:00:00:00:00 dev {name} dst {PEER}"],
    )


def test_ports_deleted_together_go_through_a_group_deleted_at_once() -> None:
    t = tunnel(BLUE)
    gone = [DeleteTunnel("lqvone"), DeleteTunnel("lqvtwo")]
    links, fdb = tunnel_script(
        [*gone, RemovePeer("lqvthree", PEER), CreateTunnel("lqvtwo", t)], True
    )
    assert links[:4] == [
        f"link set dev lqvone group {DELETE_GROUP}",
        f"link set dev lqvtwo group {DELETE_GROUP}",
        f"link delete group {DELETE_GROUP}",  # before the port is made again
        f"link add lqvtwo mtu 1450 type vxlan id 4097 local {HERE} dstport 4789 nolearning",
    ]
    assert fdb[0] == f"fdb del 00:00:00:00:00:00 dev lqvthree dst {PEER}"
    assert tunnel_script(gone, True)[0][-1] == f"link delete group {DELETE_GROUP}"
    # When the group is not empty (someone else's devices), one by one.
    assert tunnel_script(gone, False)[0] == ["link delete dev lqvone", "link delete dev lqvtwo"]


# --- the pass -----------------------------------------------------------------------------------


class TunnelNode(FakeNode):
    """A node in memory that also makes tunnels, and keeps the order of what it was asked."""

    def __init__(self) -> None:
        super().__init__()
        self.fdb: dict[str, set[str]] = {}
        self.vxlan_tables: dict[tuple[str, str], str] = {}
        self.calls: list[str] = []

    def tunnel_peers(self, names: Collection[str]) -> dict[str, frozenset[str]]:
        return {name: frozenset(self.fdb.get(name, ())) for name in names}

    def apply_tunnels(self, changes: Sequence[TunnelChange]) -> None:
        for change in changes:
            self.calls.append(type(change).__name__)
            if change.name in self.broken:
                raise HostError(f"{change.name}: operation not permitted")
            match change:
                case CreateTunnel(name, t):
                    self.add(name, "vxlan", master=t.bridge)
                    self._set(name, mtu=t.mtu, up=True, port_mask=PORT_MASK,
                              vxlan=Vxlan(t.vni, t.local, VXLAN_PORT, False))  # fmt: skip
                    self.fdb[name] = set(t.peers)
                case DeleteTunnel(name):
                    self.remove(name)
                    self.fdb.pop(name, None)
                case AddPeer(name, peer):
                    self.fdb[name].add(peer)
                case RemovePeer(name, peer):
                    self.fdb[name].discard(peer)

    def table(self, family: str, name: str) -> str:
        return self.vxlan_tables.get((family, name), "")

    def load_ruleset(self, script: str) -> None:
        if allowlist.TABLE not in script:
            return super().load_ruleset(script)
        self.calls.append("allow-list")
        if "allow-list" in self.broken:
            raise HostError("nft: Operation not permitted")
        key = (allowlist.FAMILY, allowlist.TABLE)
        body = script.split("\n", 2)[2]
        if body:
            self.vxlan_tables[key] = body
        else:
            self.vxlan_tables.pop(key, None)


@pytest.fixture
def node() -> TunnelNode:
    node = TunnelNode()
    node.bridge(RED, "veth-a")
    node.bridge(BLUE, "veth-b")
    return node


def agent(node: FakeNode) -> Agent:
    return Agent(node, grace=300, clock=FakeClock())


def test_the_linux_host_and_the_node_in_memory_can_make_tunnels(node: TunnelNode) -> None:
    from nodeagent.linux import LinuxHost

    assert isinstance(LinuxHost(), TunnelHost) and isinstance(node, TunnelHost)
    assert not isinstance(FakeNode(), TunnelHost)


def test_a_pass_makes_the_tunnels_and_the_allow_list_then_a_pass_does_nothing(
    node: TunnelNode,
) -> None:
    desired = [tunnel(RED, 4097, {PEER, THIRD}), tunnel(BLUE, 4098)]
    the_agent = agent(node)
    first = the_agent.run_pass(desired)
    assert not first.errors and first.tunnels == 2 and first.allowlist_loaded
    assert node.calls == ["allow-list", "CreateTunnel", "CreateTunnel"]
    assert node.fdb == {tunnel_name(RED): {PEER, THIRD}, tunnel_name(BLUE): {PEER}}
    assert "192.0.2.3 . 4097" in node.table(allowlist.FAMILY, allowlist.TABLE)
    node.calls.clear()
    second = the_agent.run_pass(desired)
    assert second.tunnel_changes == [] and not second.allowlist_loaded and node.calls == []
    assert not second.did_something
    # A fresh agent (a restart) adopts them: the allow-list loaded again, nothing else.
    third = agent(node).run_pass(desired)
    assert third.tunnel_changes == [] and node.calls == ["allow-list"]


def test_without_a_desired_state_tunnels_are_left_alone(node: TunnelNode) -> None:
    agent(node).run_pass([tunnel()])
    node.calls.clear()
    result = agent(node).run_pass()
    assert result.tunnels is None and node.calls == []
    assert tunnel_name(RED) in node.interfaces and node.vxlan_tables


def test_tunnels_taken_away_go_before_the_allow_list_changes(node: TunnelNode) -> None:
    the_agent = agent(node)
    the_agent.run_pass([tunnel(RED, 4097, {PEER, THIRD}), tunnel(BLUE, 4098)])
    node.calls.clear()
    result = the_agent.run_pass([tunnel(RED, 4097, {PEER, "192.0.2.4"})])
    assert node.calls == ["DeleteTunnel", "RemovePeer", "allow-list", "AddPeer"]
    assert result.tunnel_changes == [
        DeleteTunnel(tunnel_name(BLUE)),
        RemovePeer(tunnel_name(RED), THIRD),
        AddPeer(tunnel_name(RED), "192.0.2.4"),
    ]
    node.calls.clear()
    the_agent.run_pass([])
    assert node.calls == ["DeleteTunnel", "allow-list"]
    assert node.vxlan_tables == {} and node.fdb == {}
    assert set(node.interfaces) == {RED, "veth-a", BLUE, "veth-b"}


def test_a_port_that_fails_to_go_keeps_its_vni_dropped(node: TunnelNode) -> None:
    the_agent = agent(node)
    the_agent.run_pass([tunnel(RED, 4097), tunnel(BLUE, 4098)])
    node.broken.add(tunnel_name(BLUE))
    result = the_agent.run_pass([tunnel(RED, 4097)])
    assert result.errors and tunnel_name(BLUE) in node.interfaces
    table = node.table(allowlist.FAMILY, allowlist.TABLE)
    assert "elements = { 4097, 4098 }" in table and ". 4098" not in table


def test_without_the_allow_list_no_tunnel_is_added(node: TunnelNode) -> None:
    node.broken.add("allow-list")
    result = agent(node).run_pass([tunnel()])
    assert result.errors == ["allow-list: nft: Operation not permitted"]
    assert result.tunnel_changes == [] and tunnel_name(RED) not in node.interfaces


def test_a_desired_state_refused_or_a_host_without_tunnels_changes_nothing(
    node: TunnelNode,
) -> None:
    result = agent(node).run_pass([tunnel(RED, 0)])
    assert result.errors and "vni" in result.errors[0] and node.calls == []
    plain = FakeNode()
    plain.bridge(RED)
    assert agent(plain).run_pass([tunnel()]).errors == ["tunnels: this host cannot make tunnels"]


def test_the_tunnels_file_is_read_every_pass_and_a_bad_one_changes_nothing(
    node: TunnelNode, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    file = tmp_path / "tunnels.json"
    assert build_parser().parse_args(["--tunnels", str(file)]).tunnels == file
    the_agent = agent(node)
    caplog.set_level(logging.INFO, "lessonq.nodeagent")
    result = one_pass(the_agent, None, FileSource(file))  # no file yet
    assert result.errors[0].startswith(f"tunnels file {file}:") and result.tunnels is None
    file.write_text(_document())
    assert one_pass(the_agent, None, FileSource(file)).tunnel_changes == [
        CreateTunnel(tunnel_name(RED), tunnel())
    ]
    assert "1 tunnels: allow-list loaded, 1 changes, 0 waiting for a bridge" in caplog.text
    file.write_text("{")
    result = one_pass(the_agent, None, FileSource(file))
    assert "not JSON" in result.errors[0] and tunnel_name(RED) in node.interfaces


def test_with_the_cluster_as_its_source_a_pass_wires_the_link_then_sets_the_gate() -> None:
    node = TunnelNode()  # without the link's bridge, at first
    kube = FakeKube()
    kube.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "lesson"}})
    for name, address in (("here", HERE), ("there", PEER)):
        status = {"addresses": [{"type": "InternalIP", "address": address}]}
        kube.put({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}, "status": status})
    config = {"cniVersion": "0.3.1", "type": "bridge", "bridge": RED, "mtu": 1450}
    kube.put(
        {
            "apiVersion": NAD_API_VERSION,
            "kind": "NetworkAttachmentDefinition",
            "metadata": {
                "name": "a-b",
                "namespace": "lesson",
                "labels": {MANAGED: "true"},
                "annotations": {VNI_ANNOTATION: "4097"},
            },
            "spec": {"config": json.dumps(config)},
        }
    )
    for name, bound in (("a", "here"), ("b", "there")):
        kube.put(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": name,
                    "namespace": "lesson",
                    "labels": {MANAGED: "true"},
                    "annotations": {NETWORKS_ANNOTATION: json.dumps([{"name": "a-b"}])},
                },
                "spec": {"nodeName": bound, "readinessGates": [{"conditionType": LINKS_WIRED}]},
                "status": {"phase": "Running"},
            }
        )
    the_agent, cluster = agent(node), ClusterLinks(kube, "here")

    # Its bridge is not here yet: nothing is wired, nothing gated.
    assert one_pass(the_agent, None, cluster).wired == []
    node.bridge(RED, "veth-a")
    result = one_pass(the_agent, None, cluster)

    assert result.tunnel_changes == [CreateTunnel(tunnel_name(RED), tunnel())]
    assert result.wired == [("lesson", "a")]
    conditions = kube.objects[("Pod", "lesson", "a")]["status"]["conditions"]
    assert [(c["type"], c["status"]) for c in conditions] == [(LINKS_WIRED, "True")]
    assert one_pass(the_agent, None, cluster).wired == []  # set once
    kube.fail("list", TransientError("the API is down"))
    assert one_pass(the_agent, None, cluster).errors == [
        "the cluster cannot be read: the API is down"
    ]
