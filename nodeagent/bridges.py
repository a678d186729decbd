"""Discovering lessonq's bridges: which of the node's interfaces are lesson links, and their ports.

The node's interfaces come from ``ip -details -json link show`` and their addresses from
``ip -json address show`` (the first has no addresses, the second no IPv6 address generation
mode); both are parsed here, so the parsing is tested without a node. A lesson bridge is a
bridge whose name starts with lessonq's bridge prefix (``lessons.naming``). Nothing else is
ever the agent's to touch: other bridges (the cluster network's, Docker's) and their ports are
left out here, before any decision.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

# The prefix lessons.naming gives every bridge: imported, not repeated, so the two never disagree.
from lessons.naming import BRIDGE_PREFIX
from nodeagent.host import Link, Vxlan

__all__ = ["BRIDGE_PREFIX", "Bridge", "lesson_bridges", "parse_links"]


@dataclasses.dataclass(frozen=True)
class Bridge:
    """A lesson bridge and its ports (the veths of the pods on its link)."""

    link: Link
    ports: tuple[Link, ...]

    @property
    def name(self) -> str:
        return self.link.name


def _mask(value: Any) -> int | None:
    # iproute2 prints masks as strings, "0" or "0xfff8".
    return None if value is None else int(str(value), 0)


def _vxlan(data: dict[str, Any]) -> Vxlan:
    # iproute2 prints an IPv6 local address under its own key.
    local = data.get("local", data.get("local6"))
    return Vxlan(
        vni=int(data.get("id", 0)),
        local=None if local is None else str(local),
        port=int(data.get("port", 0)),
        learning=bool(data.get("learning", True)),
    )


def _link(raw: dict[str, Any], addresses: tuple[str, ...]) -> Link:
    info = raw.get("linkinfo") or {}
    data = info.get("info_data") or {}
    port_data = info.get("info_slave_data") or {}
    is_bridge = info.get("info_kind") == "bridge"
    is_bridge_port = info.get("info_slave_kind") == "bridge"
    return Link(
        name=raw["ifname"],
        index=int(raw["ifindex"]),
        kind=info.get("info_kind"),
        master=raw.get("master"),
        bridge_mask=_mask(data.get("group_fwd_mask")) if is_bridge else None,
        port_mask=_mask(port_data.get("group_fwd_mask")) if is_bridge_port else None,
        addr_gen_mode=raw.get("inet6_addr_gen_mode"),
        addresses=addresses,
        mtu=None if raw.get("mtu") is None else int(raw["mtu"]),
        up=None if "flags" not in raw else "UP" in raw["flags"],
        vxlan=_vxlan(data) if info.get("info_kind") == "vxlan" else None,
    )


def parse_links(links: str, addresses: str) -> list[Link]:
    """The interfaces in the output of ``ip -details -json link show``, with their addresses
    from that of ``ip -json address show`` (matched by interface index)."""
    local = {
        int(raw["ifindex"]): tuple(a["local"] for a in raw.get("addr_info", []) if "local" in a)
        for raw in json.loads(addresses)
        if "ifindex" in raw
    }
    return [
        _link(raw, local.get(int(raw["ifindex"]), ()))
        for raw in json.loads(links)
        if "ifname" in raw
    ]


def lesson_bridges(links: list[Link], prefix: str = BRIDGE_PREFIX) -> list[Bridge]:
    """The bridges named with `prefix`, each with its ports, by name."""
    bridges = sorted(
        (link for link in links if link.kind == "bridge" and link.name.startswith(prefix)),
        key=lambda link: link.name,
    )
    return [
        Bridge(link, tuple(port for port in links if port.master == link.name)) for link in bridges
    ]
