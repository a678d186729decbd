"""Several cluster nodes in network namespaces, a lesson spread over them, joined by VXLAN.

Each node is a namespace with one leg on an underlay (a veth to a switch namespace, a bridge
there; `UNDERLAY_MTU`), its own lesson bridges and pods, wired by the real bridge and static
plugins from lessonq's own objects as ``lab`` does, with ``LESSONQ_LINKS=overlay`` (so every
link is at the overlay MTU, 1450, and its NetworkAttachmentDefinition carries its VNI). Two
sessions of ``snapshot-testing``, each endpoint on the node `PLACEMENT` gives it: every link
crosses nodes, and the two sessions' links join the same nodes under different VNIs. One link
gets a third end (`TAP`, a pod of the lab's own on a third node), as a link with ends on three
nodes. A stranger namespace on the underlay plays a host that is no peer of anyone.

The desired tunnels of each node come from those objects (`desired`): for each link with ends
on several nodes, on each of them, the link's bridge, the VNI annotated on its definition, the
node's address, the other nodes' addresses and the link's MTU, as the cluster side will give
them to the node agent.
"""

from __future__ import annotations

import dataclasses
import json
import struct
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lessons.manifests import NETWORKS_ANNOTATION, VNI_ANNOTATION, network_manifests, pod_manifests
from nodeagent.agent import Agent, PassResult
from nodeagent.linux import LinuxHost
from nodeagent.tunnels import Tunnel
from tests.dataplane import cni
from tests.dataplane.lab import REPO, session_plans
from tests.dataplane.netns import Namespaces, Netns

PLACEMENT = {"vqfx1": 0, "vqfx2": 1, "vqfx3": 2}
NODES = 3
UNDERLAY_MTU = 1500
SWITCH = "ul"
UNDERLAY = "ul0"
STRANGER_ADDRESS = "10.99.0.200"
# The link that gets a third end, on the node that has none of it: (session, link index).
TAP = ("s1", 0)
TAP_NODE = 2
TAP_ADDRESS = "10.12.0.99"
# Each session's links' VNIs, by link (what the cluster side allocates).
VNIS = {"s1": [70001, 70002, 70003], "s2": [70011, 70012, 70013]}


def node_address(number: int) -> str:
    return f"10.99.0.{number + 1}"


@dataclasses.dataclass(eq=False)
class Node:
    number: int
    netns: Netns
    address: str


@dataclasses.dataclass(eq=False)
class End:
    pod: str
    netns: Netns
    interface: str
    node: Node
    address: str  # without the prefix length

    @property
    def where(self) -> tuple[str, str]:
        return (self.netns.name, self.interface)


@dataclasses.dataclass(eq=False)
class OverlayLink:
    session: str
    index: int
    bridge: str
    vni: int
    mtu: int
    ends: list[End]

    @property
    def nodes(self) -> list[Node]:
        return sorted({end.node for end in self.ends}, key=lambda node: node.number)


class Overlay:
    def __init__(self, spaces: Namespaces) -> None:
        self.spaces = spaces
        self.switch = spaces.new("sw")
        self.switch.ip("link", "add", SWITCH, "type", "bridge")
        self.switch.ip("link", "set", SWITCH, "up")
        self.nodes = []
        for number in range(NODES):
            netns = spaces.new(f"n{number}")
            self._underlay(netns, f"n{number}", node_address(number))
            # Kubernetes nodes pass bridged frames through netfilter; these do too.
            netns.sysctl("net.bridge.bridge-nf-call-iptables", "1")
            self.nodes.append(Node(number, netns, node_address(number)))
        self._configs: dict[tuple[str, int], dict[str, Any]] = {}
        # Each node's --tunnels file, once the test wrote one.
        self.files: dict[Node, Path | None] = {}
        self.stranger = spaces.new("x")
        self._underlay(self.stranger, "x", STRANGER_ADDRESS)
        self.links: list[OverlayLink] = []
        # The lessons' pods and NetworkAttachmentDefinitions as the API would list them: what
        # the node agent's cluster side reads.
        self.listed_pods: list[dict[str, Any]] = []
        self.listed_nads: list[dict[str, Any]] = []
        for session, plan in session_plans("overlay", links="overlay"):
            nads = network_manifests(plan, VNIS[session])
            self._wire(session, plan.links, nads, plan)
            self.listed_nads += nads
            for pod in pod_manifests(plan):
                where = PLACEMENT.get(pod["metadata"]["name"])
                if where is not None:  # (the lab wires the pods with links alone)
                    pod["spec"]["nodeName"] = self.node_name(self.nodes[where])
                    self.listed_pods.append(pod)
        self._tap()

    def _underlay(self, netns: Netns, port: str, address: str) -> None:
        mtu = str(UNDERLAY_MTU)
        self.switch.ip(
            "link", "add", port, "mtu", mtu, "type", "veth", "peer", "name", UNDERLAY, "netns",
            netns.name,
        )  # fmt: skip
        self.switch.ip("link", "set", port, "master", SWITCH, "up")
        netns.ip("address", "add", f"{address}/24", "dev", UNDERLAY)
        netns.ip("link", "set", UNDERLAY, "up")

    def _attach(
        self, node: Node, netns: Netns, config: dict[str, Any], interface: str, ips: list[str]
    ) -> None:
        pod = ("overlay", netns.name)
        cni.call(
            "ADD", node.netns, config, netns=netns, container_id=netns.name,
            interface=interface, pod=pod, ips=ips,
        )  # fmt: skip

    def _wire(self, session: str, links: Sequence[Any], nads: list[Any], plan: Any) -> None:
        definitions = {nad["metadata"]["name"]: nad for nad in nads}
        by_network: dict[str, list[End]] = {}
        for manifest in pod_manifests(plan):
            metadata = manifest["metadata"]
            networks = json.loads(metadata.get("annotations", {}).get(NETWORKS_ANNOTATION, "[]"))
            if not networks:
                continue
            node = self.nodes[PLACEMENT[metadata["name"]]]
            netns = self.spaces.new(f"{session}{metadata['name']}")
            for element in networks:
                config = json.loads(definitions[element["name"]]["spec"]["config"])
                ips = element.get("ips", [])
                self._attach(node, netns, config, element["interface"], ips)
                end = End(metadata["name"], netns, element["interface"], node, "")
                by_network.setdefault(element["name"], []).append(end)
                if ips:
                    end.address = ips[0].split("/")[0]
        for link in links:
            nad = definitions[link.name]
            ends = sorted(by_network[link.name], key=lambda end: end.pod != link.a)
            for host, end in enumerate(ends, start=1):
                if not end.address:  # an L2 link: the same addresses in both sessions
                    end.address = f"192.168.{link.index}.{host}"
                    end.netns.ip("address", "add", f"{end.address}/24", "dev", end.interface)
            config = json.loads(nad["spec"]["config"])
            vni = int(nad["metadata"]["annotations"][VNI_ANNOTATION])
            self.links.append(
                OverlayLink(session, link.index, link.bridge, vni, config["mtu"], ends)
            )
            self._configs[(session, link.index)] = config

    def _tap(self) -> None:
        link = self.link(*TAP)
        node = self.nodes[TAP_NODE]
        assert node not in link.nodes
        netns = self.spaces.new("tap")
        self._attach(node, netns, self._configs[TAP], "tap0", [f"{TAP_ADDRESS}/24"])
        link.ends.append(End("tap", netns, "tap0", node, TAP_ADDRESS))

    # --- reading the lab --------------------------------------------------------------------

    def link_config(self, link: OverlayLink) -> dict[str, Any]:
        """The CNI configuration its definition gives a link's ends."""
        return self._configs[(link.session, link.index)]

    def link(self, session: str, index: int) -> OverlayLink:
        (link,) = [w for w in self.links if w.session == session and w.index == index]
        return link

    def ends(self) -> list[End]:
        return [end for link in self.links for end in link.ends]

    @staticmethod
    def node_name(node: Node) -> str:
        return f"node-{node.number}"

    def desired(self, node: Node) -> list[Tunnel]:
        """The tunnels `node` should have: one per link with ends on it and on other nodes."""
        tunnels = []
        for link in self.links:
            nodes = link.nodes
            if node in nodes and len(nodes) > 1:
                peers = frozenset(other.address for other in nodes if other is not node)
                tunnels.append(Tunnel(link.bridge, link.vni, node.address, peers, link.mtu))
        return tunnels

    def agent_pass(self, node: Node, desired: Sequence[Tunnel] | None) -> PassResult:
        """One pass of a fresh agent on `node`, in this process, `desired` its argument."""
        return node.netns.call(lambda: Agent(LinuxHost(), grace=300).run_pass(desired))

    def agents(self, files: dict[Node, Path | None]) -> list[str]:
        """One pass of ``python -m nodeagent --once`` on each node at once, with ``--tunnels``
        where `files` names a file; what each logged (fails when any pass reports errors)."""
        processes = []
        for node, file in files.items():
            options = ["--tunnels", str(file)] if file is not None else []
            argv = [sys.executable, "-m", "nodeagent", "--once", *options]
            processes.append(
                subprocess.Popen(
                    ["ip", "netns", "exec", node.netns.name, "env", f"PYTHONPATH={REPO}", *argv],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        logs = []
        for process in processes:
            out, err = process.communicate(timeout=30)
            if process.returncode != 0:
                raise AssertionError(f"node agent: exit {process.returncode}: {err}{out}")
            logs.append(err)
        return logs


def write_tunnels(path: Path, tunnels: Sequence[Tunnel]) -> Path:
    """The desired state as the agent's ``--tunnels`` file."""
    document = {
        "tunnels": [
            {**dataclasses.asdict(tunnel), "peers": sorted(tunnel.peers)} for tunnel in tunnels
        ]
    }
    path.write_text(json.dumps(document, indent=1))
    return path


def vxlan(vni: int, frame: bytes) -> bytes:
    """A VXLAN packet's UDP payload: the header (the I flag, the VNI) and the inner frame."""
    return struct.pack("!B3xI", 0x08, vni << 8) + frame
