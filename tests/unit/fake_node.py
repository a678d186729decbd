"""A node in memory for the node agent's pass logic: its interfaces, nftables tables as text,
and the kernel's refusals the agent must respect (the bits a bridge or a port will not take,
changes to interfaces that are gone)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from nodeagent.host import (
    Change,
    FlushAddresses,
    HostError,
    Link,
    SetBridgeMask,
    SetPortMask,
    StopAddressGeneration,
)
from nodeagent.knobs import RESTRICTED_ON_BRIDGE, RESTRICTED_ON_PORT

LINK_LOCAL = "fe80::1"


class FakeNode:
    def __init__(self, ipv6: bool = True) -> None:
        self.interfaces: dict[str, Link] = {}
        self.ipv6 = ipv6
        self.tables = ""
        self.loads = 0
        self.applied: list[Change] = []
        self.deleted: list[str] = []
        # One is run right after each call of links() (what happens while the agent works).
        self.after_links: list[Callable[[], object]] = []
        self.broken: set[str] = set()  # commands fail for these names
        self.links_fail = False
        self._index = 0

    # --- building the node ----------------------------------------------------------------

    def add(self, name: str, kind: str | None, master: str | None = None) -> Link:
        self._index += 1
        link = Link(
            name=name,
            index=self._index,
            kind=kind,
            master=master,
            bridge_mask=0 if kind == "bridge" else None,
            port_mask=0 if master is not None else None,
            addr_gen_mode="eui64" if self.ipv6 else None,
            addresses=(LINK_LOCAL,) if self.ipv6 and kind == "bridge" else (),
        )
        self.interfaces[name] = link
        return link

    def bridge(self, name: str, *ports: str) -> Link:
        link = self.add(name, "bridge")
        for port in ports:
            self.add(port, "veth", master=name)
        return link

    def remove(self, name: str) -> None:
        del self.interfaces[name]

    def _set(self, name: str, **values: object) -> None:
        self.interfaces[name] = dataclasses.replace(self.interfaces[name], **values)  # type: ignore[arg-type]

    # --- the Host protocol ------------------------------------------------------------------

    def links(self) -> list[Link]:
        if self.links_fail:
            raise HostError("ip: not found")
        found = list(self.interfaces.values())
        if self.after_links:
            self.after_links.pop(0)()
        return found

    def _change(self, change: Change) -> None:
        match change:
            case SetBridgeMask(name, mask):
                link = self.interfaces.get(name)
                if link is None or link.kind != "bridge" or mask & RESTRICTED_ON_BRIDGE:
                    raise HostError(f"link set dev {name}: invalid argument")
                self._set(name, bridge_mask=mask)
            case SetPortMask(name, mask):
                link = self.interfaces.get(name)
                if link is None or link.master is None or mask & RESTRICTED_ON_PORT:
                    raise HostError(f"link set dev {name}: invalid argument")
                self._set(name, port_mask=mask)
            case StopAddressGeneration(name):
                if name not in self.interfaces or not self.ipv6:
                    raise HostError(f"link set dev {name}: no such device")
                self._set(name, addr_gen_mode="none")
            case FlushAddresses(name):
                if name not in self.interfaces:
                    raise HostError(f"address flush dev {name}: no such device")
                self._set(name, addresses=())

    def apply(self, changes: Sequence[Change]) -> None:
        failed = []
        for change in changes:
            target = next(iter(dataclasses.astuple(change)))
            try:
                if target in self.broken:
                    raise HostError(f"{target}: operation not permitted")
                self._change(change)
                self.applied.append(change)
            except HostError as error:
                failed.append(str(error))
        if failed:
            raise HostError("; ".join(failed))

    def delete_link(self, name: str) -> None:
        if name in self.broken or name not in self.interfaces:
            raise HostError(f"link delete dev {name}: cannot")
        for port in [p for p in self.interfaces.values() if p.master == name]:
            self._set(port.name, master=None, port_mask=None)
        del self.interfaces[name]
        self.deleted.append(name)

    def ruleset(self) -> str:
        return self.tables

    def load_ruleset(self, script: str) -> None:
        if "nft" in self.broken:
            raise HostError("nft: Operation not permitted")
        self.tables = script
        self.loads += 1
