"""Which links of this node's lesson pods cross to other nodes, from what the cluster says.

Pure: given the lesson pods (everywhere: a link's peers are the nodes of the other pods on it),
the overlay NetworkAttachmentDefinitions (a link each: its bridge, MTU and VNI annotation) and
the nodes' InternalIPs, `wanted` gives the tunnels this node should have (``nodeagent.tunnels``)
and, for each pod here waiting on the gate, the links it needs wired first. A link is known when
every pod attached to it is bound to a node: before that its peers are not, and its pods wait.
"""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lessons.manifests import LINKS_WIRED, NETWORKS_ANNOTATION, VNI_ANNOTATION
from lessons.readiness import condition
from nodeagent.tunnels import Tunnel

Obj = Mapping[str, Any]
# (namespace, name) of a NetworkAttachmentDefinition, or of a pod.
Key = tuple[str, str]
# What the bridge plugin takes when a NetworkAttachmentDefinition names no MTU.
DEFAULT_MTU = 1500


@dataclass(frozen=True)
class Wanted:
    """This node's tunnels, and the pods here whose gate waits on links (their NADs)."""

    tunnels: list[Tunnel]
    gated: dict[Key, frozenset[Key]]
    # Links with a pod not yet bound to a node: their peers are not known yet.
    unknown: frozenset[Key]
    # Each overlay link's bridge.
    bridges: dict[Key, str] = dataclasses.field(default_factory=dict)

    def wired(self, waiting: Collection[str]) -> list[Key]:
        """The gated pods whose every link is wired, once a pass made this node's tunnels:
        none of its links unknown, none whose bridge the pass found missing (`waiting`)."""
        return [
            pod
            for pod, needs in sorted(self.gated.items())
            if not needs & self.unknown
            and not any(self.bridges.get(link) in waiting for link in needs)
        ]


def attachments(pod: Obj) -> list[Key]:
    """The NetworkAttachmentDefinitions a pod's networks annotation names (JSON form)."""
    metadata = pod.get("metadata") or {}
    raw = (metadata.get("annotations") or {}).get(NETWORKS_ANNOTATION)
    try:
        entries = json.loads(raw) if raw else []
    except json.JSONDecodeError:
        return []
    if not isinstance(entries, list):
        return []
    namespace = str(metadata.get("namespace", ""))
    return [
        (str(entry.get("namespace") or namespace), str(entry["name"]))
        for entry in entries
        if isinstance(entry, dict) and entry.get("name")
    ]


def waits_on_gate(pod: Obj) -> bool:
    """The pod carries the links-wired readiness gate, not yet True."""
    gates = (pod.get("spec") or {}).get("readinessGates") or []
    if not any(gate.get("conditionType") == LINKS_WIRED for gate in gates):
        return False
    wired = condition(pod, LINKS_WIRED)
    return wired is None or wired.get("status") != "True"


@dataclass(frozen=True)
class Link:
    bridge: str
    vni: int
    mtu: int


def overlay_link(nad: Obj) -> Link | None:
    """A NetworkAttachmentDefinition's link when it is an overlay one (it has a VNI)."""
    vni = str(((nad.get("metadata") or {}).get("annotations") or {}).get(VNI_ANNOTATION))
    try:
        config = json.loads((nad.get("spec") or {}).get("config") or "{}")
        return Link(str(config["bridge"]), int(vni), int(config.get("mtu") or DEFAULT_MTU))
    except (TypeError, ValueError, KeyError):
        return None


def _key(obj: Obj) -> Key:
    return str(obj["metadata"].get("namespace", "")), str(obj["metadata"]["name"])


def wanted(
    node: str, local: str, pods: Iterable[Obj], nads: Iterable[Obj], node_ips: Mapping[str, str]
) -> Wanted:
    """This node's tunnels (from `local`, its address) and gated pods."""
    links = {_key(nad): link for nad in nads if (link := overlay_link(nad)) is not None}
    ends: dict[Key, set[str | None]] = defaultdict(set)
    gated: dict[Key, frozenset[Key]] = {}
    for pod in pods:
        if pod["metadata"].get("deletionTimestamp"):
            continue
        mine = [key for key in attachments(pod) if key in links]
        bound = (pod.get("spec") or {}).get("nodeName")
        for key in mine:
            ends[key].add(bound)
        if bound == node and waits_on_gate(pod):
            gated[_key(pod)] = frozenset(mine)
    tunnels = []
    unknown = set()
    for key, bound_to in sorted(ends.items()):
        nodes = {name for name in bound_to if name is not None}
        if len(nodes) < len(bound_to):
            unknown.add(key)
            continue
        if node not in nodes:
            continue
        peers = frozenset(node_ips[other] for other in nodes - {node} if other in node_ips)
        if len(peers) < len(nodes) - 1:
            unknown.add(key)  # a peer node whose address is not known (yet)
        if peers:
            link = links[key]
            tunnels.append(Tunnel(link.bridge, link.vni, local, peers, link.mtu))
    bridges = {key: link.bridge for key, link in links.items()}
    return Wanted(tunnels, gated, frozenset(unknown), bridges)


def internal_ips(nodes: Iterable[Obj]) -> dict[str, str]:
    """Each node's InternalIP, by name."""
    found = {}
    for node in nodes:
        for address in (node.get("status") or {}).get("addresses") or []:
            if address.get("type") == "InternalIP":
                found[str(node["metadata"]["name"])] = str(address["address"])
                break
    return found
