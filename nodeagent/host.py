"""The agent's view of its node, and the one Protocol all its I/O goes through.

The pass logic (``agent``) only reads `Link`s and asks for `Change`s, rule loads and deletions;
``linux.LinuxHost`` does them with iproute2 and nftables, and the unit tests with a host in
memory, so the logic is tested in milliseconds and the real commands in the data-plane tests.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Protocol


class HostError(Exception):
    """A command on the node failed; the message says which and why."""


@dataclasses.dataclass(frozen=True)
class Vxlan:
    """A VXLAN device's settings, as far as the agent's tunnels care (``tunnels``)."""

    vni: int
    local: str | None
    port: int
    learning: bool


@dataclasses.dataclass(frozen=True)
class Link:
    """One network interface of the node, as far as the agent cares."""

    name: str
    index: int
    # "bridge", "veth", ...; None for a device without link info (lo).
    kind: str | None = None
    # The bridge this interface is a port of.
    master: str | None = None
    # A bridge's group_fwd_mask, and a bridge port's own.
    bridge_mask: int | None = None
    port_mask: int | None = None
    # "eui64", "none", ...; None where the node has no IPv6 at all.
    addr_gen_mode: str | None = None
    addresses: tuple[str, ...] = ()
    mtu: int | None = None
    # Administratively up (the UP flag).
    up: bool | None = None
    # A VXLAN device's settings; None for any other kind.
    vxlan: Vxlan | None = None


@dataclasses.dataclass(frozen=True)
class SetBridgeMask:
    bridge: str
    mask: int


@dataclasses.dataclass(frozen=True)
class SetPortMask:
    port: str
    mask: int


@dataclasses.dataclass(frozen=True)
class StopAddressGeneration:
    """No IPv6 link-local address generated on the interface any more."""

    link: str


@dataclasses.dataclass(frozen=True)
class FlushAddresses:
    link: str


Change = SetBridgeMask | SetPortMask | StopAddressGeneration | FlushAddresses


class Host(Protocol):
    def links(self) -> list[Link]:
        """Every interface of the node (its network namespace)."""
        ...

    def apply(self, changes: Sequence[Change]) -> None:
        """Make every change it can; then HostError naming those that failed, if any did."""
        ...

    def delete_link(self, name: str) -> None:
        """Delete the interface (HostError when it cannot)."""
        ...

    def ruleset(self) -> str:
        """The listing of the agent's nftables tables as the kernel has them ("" for none)."""
        ...

    def load_ruleset(self, script: str) -> None:
        """Run an nft script, in one transaction."""
        ...
