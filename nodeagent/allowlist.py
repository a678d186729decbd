"""The tunnels' firewall: VXLAN for a lesson link only from the peer nodes wired for it.

A VXLAN device takes a packet with its VNI from any source: anyone who can reach the node's UDP
port 4789 could put frames on a lesson link, or read its floods by joining nothing at all. So
the agent keeps a table of its own, `TABLE` (``inet``), in the input hook:

- accept UDP to `VXLAN_PORT` whose (source address, VNI) is one of the pairs it wired, a peer
  of a desired tunnel and that tunnel's VNI (the VNI read from the VXLAN header, ``@th,96,24``:
  bits 32-55 of the 8 bytes after the UDP header);
- drop any other UDP to `VXLAN_PORT` carrying a VNI of the agent's tunnels (desired, or of a
  port the pass failed to delete).

Other VNIs are left alone: the kernel drops a VNI it has no device for, and one it has belongs
to someone else's VXLAN (a cluster network on the same port, as Calico's is), whose own firewall
it is. With no tunnel desired and none on the node the table is deleted.

The table is replaced in one transaction whenever the pairs change, and loaded again when its
listing differs from the one the kernel gave after the last load (as ``rules`` does).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Sequence

from nodeagent.tunnels import VXLAN_PORT, Tunnel, TunnelHost

FAMILY = "inet"
TABLE = "lessonq-vxlan"
VNI = "@th,96,24"
_FILTER = "filter - 10"


def _elements(items: Sequence[str]) -> str:
    if not items:
        return ""
    return "\t\telements = { " + ", ".join(items) + " }\n"


def script(tunnels: Sequence[Tunnel], present_vnis: Collection[int] = ()) -> str:
    """The nft script that replaces the table with one for `tunnels` (checked), also dropping
    strangers' VXLAN for the VNIs in `present_vnis` (ports that should be gone and may not
    be); or deletes it when there is nothing to drop."""
    script = f"table {FAMILY} {TABLE}\ndelete table {FAMILY} {TABLE}\n"
    vnis = sorted({tunnel.vni for tunnel in tunnels} | set(present_vnis))
    if not vnis:
        return script
    pairs: dict[int, list[tuple[int, int, str]]] = {4: [], 6: []}
    for tunnel in tunnels:
        for peer in tunnel.peers:
            address = ipaddress.ip_address(peer)
            element = f"{address} . {tunnel.vni}"
            pairs[address.version].append((int(address), tunnel.vni, element))
    body = ""
    for version, protocol in ((4, "ip"), (6, "ip6")):
        ordered = [element for _, _, element in sorted(pairs[version])]
        body += (
            f"\tset peers{version} {{\n\t\ttypeof {protocol} saddr . {VNI}\n"
            + _elements(ordered)
            + "\t}\n"
        )
    body += f"\tset vnis {{\n\t\ttypeof {VNI}\n" + _elements([str(v) for v in vnis]) + "\t}\n"
    body += (
        "\tchain input {\n"
        f"\t\ttype filter hook input priority {_FILTER}; policy accept;\n"
        f"\t\tudp dport {VXLAN_PORT} ip saddr . {VNI} @peers4 accept\n"
        f"\t\tudp dport {VXLAN_PORT} ip6 saddr . {VNI} @peers6 accept\n"
        f'\t\tudp dport {VXLAN_PORT} {VNI} @vnis counter drop comment "not a peer"\n'
        "\t}\n"
    )
    return script + f"table {FAMILY} {TABLE} {{\n{body}}}\n"


class AllowList:
    """Loads the table when it should change or was changed; remembers what it loaded."""

    def __init__(self) -> None:
        self._script: str | None = None
        self._listing: str | None = None

    def ensure(self, host: TunnelHost, wanted: str) -> bool:
        """Make the table the one `wanted` (a `script`) loads; True when it loaded it."""
        if wanted == self._script and host.table(FAMILY, TABLE) == self._listing:
            return False
        host.load_ruleset(wanted)
        self._script = wanted
        self._listing = host.table(FAMILY, TABLE)
        return True
