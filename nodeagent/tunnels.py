"""Links across nodes: the VXLAN tunnel ports that join a link's bridges on different nodes.

A lesson whose pods spread over nodes has, for each link with ends on several nodes, one bridge
(the same name, from the bridge plugin) on each of those nodes. The agent joins them: on each
such node it adds a VXLAN port to the link's bridge, the link's own VNI, ``local`` this node's
address, no learning, UDP port `VXLAN_PORT`, the link's MTU, and sends every frame the bridge
floods to it to each peer node (an all-zeros FDB entry per peer: head-end replication), so a
link with ends on three nodes works as one on two.

This module is pure: the desired state (`Tunnel`s, from the pass's caller or a JSON file), the
port name a bridge's tunnel gets, and `plan`, the changes that make what discovery found match
the desired state. ``agent`` runs it; ``allowlist`` keeps the nftables table that lets VXLAN
in only from the peers wired; ``linux`` makes the changes.

A tunnel port is the agent's own by its kind and name: a VXLAN device named `tunnel_prefix`
(the bridge prefix and ``v``) and the bridge's hash cut to fit 15 characters. The agent
touches no other VXLAN device, and only ever adds tunnel ports to lesson bridges.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from config.settings import VNI_MAX
from lessons.naming import IFNAMSIZ_MAX
from nodeagent.bridges import BRIDGE_PREFIX
from nodeagent.host import Host, Link

VXLAN_PORT = 4789  # IANA's
# A frame the bridge floods to the tunnel port goes to every destination of this entry.
ALL_ZEROS = "00:00:00:00:00:00"
_NAME = re.compile(r"[a-z0-9]+")
MTU_MIN, MTU_MAX = 68, 65535


@dataclasses.dataclass(frozen=True)
class Tunnel:
    """One link's tunnel port on this node: on `bridge`, VNI `vni`, from address `local` (this
    node's) to each of `peers` (the other nodes holding an end of the link), `mtu` the link's."""

    bridge: str
    vni: int
    local: str
    peers: frozenset[str]
    mtu: int


def tunnel_prefix(prefix: str = BRIDGE_PREFIX) -> str:
    return prefix + "v"


def tunnel_name(bridge: str, prefix: str = BRIDGE_PREFIX) -> str:
    """The tunnel port of `bridge`: ``lqv`` and the bridge's hash, cut to 15 characters (12 of
    its 13 hash characters: two bridges of one node sharing 12 are about as likely as two
    sharing a name)."""
    start = tunnel_prefix(prefix)
    return start + bridge[len(prefix) :][: IFNAMSIZ_MAX - len(start)]


def is_tunnel_port(link: Link, prefix: str = BRIDGE_PREFIX) -> bool:
    """A VXLAN device named as the agent names its tunnel ports."""
    return (
        link.kind == "vxlan"
        and link.name.startswith(tunnel_prefix(prefix))
        and len(link.name) == IFNAMSIZ_MAX
    )


# --- the desired state ------------------------------------------------------------------------


def _address(value: object, what: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if not isinstance(value, str):
        raise ValueError(f"{what}: {value!r} is not an IP address")
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"{what}: {value!r} is not an IP address") from None


def _integer(value: object, low: int, high: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{what}: {value!r} is not an integer from {low} to {high}")
    return value


def check(tunnels: Iterable[Tunnel], prefix: str = BRIDGE_PREFIX) -> list[Tunnel]:
    """The tunnels with their addresses in canonical form, by bridge; ValueError naming the
    first problem (the whole desired state is refused then: a pass changes nothing of it)."""
    checked: dict[str, Tunnel] = {}
    names: dict[str, str] = {}
    vnis: dict[int, str] = {}
    for tunnel in tunnels:
        bridge = tunnel.bridge
        what = f"tunnel of {bridge!r}"
        if (
            not isinstance(bridge, str)
            or not bridge.startswith(prefix)
            or len(bridge) <= len(prefix)
            or len(bridge) > IFNAMSIZ_MAX
            or _NAME.fullmatch(bridge) is None
        ):
            raise ValueError(f"{what}: not a lesson bridge ({prefix} and up to 13 of [a-z0-9])")
        vni = _integer(tunnel.vni, 1, VNI_MAX, f"{what}: vni")
        mtu = _integer(tunnel.mtu, MTU_MIN, MTU_MAX, f"{what}: mtu")
        local = _address(tunnel.local, f"{what}: local")
        if isinstance(tunnel.peers, str) or not isinstance(tunnel.peers, Collection):
            raise ValueError(f"{what}: peers must be a list of IP addresses")
        peers = {_address(peer, f"{what}: peer") for peer in tunnel.peers}
        if any(peer.version != local.version for peer in peers):
            raise ValueError(f"{what}: peers and local must all be IPv4 or all IPv6")
        if local in peers:
            raise ValueError(f"{what}: local address {local} is among its peers")
        name = tunnel_name(bridge, prefix)
        for seen, key, kind in ((checked, bridge, "bridge"), (names, name, "tunnel port")):
            if key in seen:
                raise ValueError(f"{what}: {kind} {key} named twice")
        if vni in vnis:
            raise ValueError(f"{what}: vni {vni} is also the tunnel of {vnis[vni]!r}'s")
        checked[bridge] = Tunnel(bridge, vni, str(local), frozenset(map(str, peers)), mtu)
        names[name] = bridge
        vnis[vni] = bridge
    clash = set(names) & set(checked)
    if clash:
        raise ValueError(f"tunnel port name {min(clash)} is also a bridge's")
    return [checked[bridge] for bridge in sorted(checked)]


def parse(text: str, prefix: str = BRIDGE_PREFIX) -> list[Tunnel]:
    """The desired state in JSON: ``{"tunnels": [{"bridge": "lq...", "vni": 4096, "local":
    "192.0.2.1", "peers": ["192.0.2.2"], "mtu": 1450}, ...]}``; ValueError when it is not."""
    try:
        document: Any = json.loads(text)
    except ValueError as error:
        raise ValueError(f"not JSON: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("tunnels"), list):
        raise ValueError('expected an object with a list "tunnels"')
    fields = {field.name for field in dataclasses.fields(Tunnel)}
    tunnels = []
    for number, raw in enumerate(document["tunnels"]):
        if not isinstance(raw, dict) or set(raw) != fields:
            raise ValueError(f"tunnels[{number}]: expected exactly the keys {sorted(fields)}")
        peers = raw["peers"]
        if not isinstance(peers, list):
            raise ValueError(f"tunnels[{number}]: peers must be a list of IP addresses")
        tunnels.append(
            Tunnel(raw["bridge"], raw["vni"], raw["local"], frozenset(peers), raw["mtu"])
        )
    return check(tunnels, prefix)


def read(path: Path, prefix: str = BRIDGE_PREFIX) -> list[Tunnel]:
    """The desired state in the file `path` (OSError, ValueError when it cannot be had)."""
    return parse(path.read_text(), prefix)


# --- changes ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CreateTunnel:
    """Make the tunnel port `name` for `tunnel`: on its bridge, up, with its peers."""

    name: str
    tunnel: Tunnel
    # The node has IPv6: turn off the port's address generation (no link-local address).
    ipv6: bool = True


@dataclasses.dataclass(frozen=True)
class DeleteTunnel:
    name: str


@dataclasses.dataclass(frozen=True)
class AddPeer:
    name: str
    peer: str


@dataclasses.dataclass(frozen=True)
class RemovePeer:
    name: str
    peer: str


TunnelChange = CreateTunnel | DeleteTunnel | AddPeer | RemovePeer


@runtime_checkable
class TunnelHost(Host, Protocol):
    """A host that can also make tunnels (``linux.LinuxHost``)."""

    def tunnel_peers(self, names: Collection[str]) -> dict[str, frozenset[str]]:
        """The destinations of the all-zeros FDB entries of each of the VXLAN devices `names`."""
        ...

    def apply_tunnels(self, changes: Sequence[TunnelChange]) -> None:
        """Make every change it can, in order; then HostError naming those that failed."""
        ...

    def table(self, family: str, name: str) -> str:
        """The listing of one nftables table ("" when there is none)."""
        ...


def parse_fdb(fdb: str, names: Collection[str]) -> dict[str, frozenset[str]]:
    """From the output of ``bridge -json fdb show``: the destinations of the all-zeros entries
    of the devices `names` (every one of them, with none when it has none)."""
    peers: dict[str, set[str]] = {name: set() for name in names}
    for entry in json.loads(fdb or "[]"):
        name = entry.get("ifname")
        if name in peers and entry.get("mac") == ALL_ZEROS and "dst" in entry:
            peers[name].add(str(ipaddress.ip_address(entry["dst"])))
    return {name: frozenset(found) for name, found in peers.items()}


# --- from what is there to what is desired ----------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Plan:
    # What takes tunnels away (ports deleted, peers removed): made before the allow-list is.
    removals: list[TunnelChange]
    # What adds (ports made, peers added): made after the allow-list, only once it is loaded.
    additions: list[TunnelChange]
    # Bridges of desired tunnels that are not on the node (yet): their tunnels wait.
    waiting: list[str]
    # The VNIs of the agent's tunnel ports on the node now (should a removal fail,
    # ``allowlist`` keeps dropping them from strangers).
    present_vnis: frozenset[int]

    @property
    def changes(self) -> list[TunnelChange]:
        return self.removals + self.additions


def _as_desired(port: Link, tunnel: Tunnel) -> bool:
    """The port is the tunnel as it should be, peers aside."""
    vxlan = port.vxlan
    return (
        vxlan is not None
        and vxlan.vni == tunnel.vni
        and vxlan.local is not None
        and ipaddress.ip_address(vxlan.local) == ipaddress.ip_address(tunnel.local)
        and vxlan.port == VXLAN_PORT
        and not vxlan.learning
        and port.mtu == tunnel.mtu
        and port.master == tunnel.bridge
        and port.up is not False
    )


def plan(
    desired: Sequence[Tunnel],
    links: Sequence[Link],
    peers: Mapping[str, frozenset[str]],
    prefix: str = BRIDGE_PREFIX,
) -> Plan:
    """The changes that make the node's tunnel ports (in `links`, their peers in `peers`) the
    `desired` ones (checked): a missing port made; one whose VNI, local address, MTU or bridge
    differ (or not up) made again; peers added and removed; ports of the agent's that no tunnel
    wants deleted, and so is the port of a tunnel whose bridge is not there."""
    ours = {link.name: link for link in links if is_tunnel_port(link, prefix)}
    bridges = {link.name: link for link in links if link.kind == "bridge"}
    wanted = {tunnel_name(tunnel.bridge, prefix): tunnel for tunnel in desired}
    deletions: list[TunnelChange] = [DeleteTunnel(name) for name in sorted(ours.keys() - wanted)]
    creations: list[TunnelChange] = []
    added: list[TunnelChange] = []
    removed: list[TunnelChange] = []
    waiting = []
    for name, tunnel in sorted(wanted.items()):
        port = ours.get(name)
        bridge = bridges.get(tunnel.bridge)
        if bridge is None:
            waiting.append(tunnel.bridge)
            if port is not None:
                deletions.append(DeleteTunnel(name))
            continue
        if port is None or not _as_desired(port, tunnel):
            if port is not None:
                deletions.append(DeleteTunnel(name))
            creations.append(CreateTunnel(name, tunnel, ipv6=bridge.addr_gen_mode is not None))
            continue
        have = peers.get(name, frozenset())
        added += [AddPeer(name, peer) for peer in sorted(tunnel.peers - have)]
        removed += [RemovePeer(name, peer) for peer in sorted(have - tunnel.peers)]
    present = frozenset(port.vxlan.vni for port in ours.values() if port.vxlan is not None)
    return Plan(deletions + removed, creations + added, waiting, present)
