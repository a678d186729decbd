"""The node, through iproute2 (``ip``) and nftables (``nft``).

Netlink through ``ip`` rather than writing sysfs and /proc/sys: in a container, even one on the
host's network, both are mounted read-only unless the container is privileged, while netlink
needs only NET_ADMIN. A pass runs two ``ip`` to discover, one ``ip -batch`` for all its changes,
and ``nft`` to list (and when needed load) the tables: a handful of processes whatever the
number of bridges, and no Python dependency beyond the standard library. With tunnels, one
``bridge -json fdb show`` for their peers, ``nft`` for the allow-list, and when something
changes one ``ip -batch`` and one ``bridge -batch`` for what goes and as many for what comes.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Collection, Sequence

from nodeagent.bridges import parse_links
from nodeagent.host import (
    Change,
    FlushAddresses,
    HostError,
    Link,
    SetBridgeMask,
    SetPortMask,
    StopAddressGeneration,
)
from nodeagent.knobs import PORT_MASK
from nodeagent.rules import FAMILIES, TABLE
from nodeagent.tunnels import (
    ALL_ZEROS,
    VXLAN_PORT,
    AddPeer,
    CreateTunnel,
    DeleteTunnel,
    RemovePeer,
    TunnelChange,
    parse_fdb,
)

# The interface group tunnel ports go to just before they are deleted together ("lq" in ASCII).
DELETE_GROUP = 0x6C71
# Every command is local and quick; one that hangs must not stop the loop.
TIMEOUT = 20.0
_NO_SUCH_TABLE = "No such file or directory"


def _ip_line(change: Change) -> str:
    """One line of ``ip -batch``."""
    match change:
        case SetBridgeMask(bridge, mask):
            return f"link set dev {bridge} type bridge group_fwd_mask {mask:#x}"
        case SetPortMask(port, mask):
            return f"link set dev {port} type bridge_slave group_fwd_mask {mask:#x}"
        case StopAddressGeneration(link):
            return f"link set dev {link} addrgenmode none"
        case FlushAddresses(link):
            return f"address flush dev {link}"


def _tunnel_lines(change: TunnelChange) -> tuple[list[str], list[str]]:
    """Its lines of ``ip -batch``, and then of ``bridge -batch``."""
    match change:
        case CreateTunnel(name, tunnel, ipv6):
            vxlan = (
                f"link add {name} mtu {tunnel.mtu} type vxlan id {tunnel.vni} "
                f"local {tunnel.local} dstport {VXLAN_PORT} nolearning"
            )
            lines = [vxlan] + ([f"link set dev {name} addrgenmode none"] if ipv6 else [])
            lines += [
                f"link set dev {name} master {tunnel.bridge}",
                f"link set dev {name} type bridge_slave group_fwd_mask {PORT_MASK:#x}",
                f"link set dev {name} up",
            ]
            peers = [f"fdb append {ALL_ZEROS} dev {name} dst {p}" for p in sorted(tunnel.peers)]
            return lines, peers
        case DeleteTunnel(name):
            return [f"link delete dev {name}"], []
        case AddPeer(name, peer):
            return [], [f"fdb append {ALL_ZEROS} dev {name} dst {peer}"]
        case RemovePeer(name, peer):
            return [], [f"fdb del {ALL_ZEROS} dev {name} dst {peer}"]


def tunnel_script(
    changes: Sequence[TunnelChange], together: bool = False
) -> tuple[list[str], list[str]]:
    """The ``ip -batch`` and ``bridge -batch`` lines for `changes`, in their order. `together`:
    each run of deletions moves the ports to `DELETE_GROUP` and then deletes the group, in one
    go (deleting a VXLAN device waits for an RCU grace period, about 20 ms, and deleting many
    at once waits once: 300 take 0.2 s instead of 6)."""
    links: list[str] = []
    fdb: list[str] = []
    grouped = False
    for change in changes:
        if together and isinstance(change, DeleteTunnel):
            links.append(f"link set dev {change.name} group {DELETE_GROUP}")
            grouped = True
            continue
        ip_lines, bridge_lines = _tunnel_lines(change)
        if grouped and ip_lines:
            links.append(f"link delete group {DELETE_GROUP}")
            grouped = False
        links += ip_lines
        fdb += bridge_lines
    if grouped:
        links.append(f"link delete group {DELETE_GROUP}")
    return links, fdb


class LinuxHost:
    def __init__(
        self, ip: str = "ip", nft: str = "nft", bridge: str = "bridge", timeout: float = TIMEOUT
    ) -> None:
        self.ip = ip
        self.nft = nft
        self.bridge = bridge
        self.timeout = timeout

    def _run(self, argv: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                argv, input=stdin, capture_output=True, text=True, timeout=self.timeout
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise HostError(f"{argv[0]}: {error}") from None

    def _check(self, argv: list[str], stdin: str | None = None) -> str:
        done = self._run(argv, stdin)
        if done.returncode != 0:
            raise HostError(f"{' '.join(argv)}: {' '.join(done.stderr.split())}")
        return done.stdout

    def links(self) -> list[Link]:
        links = self._check([self.ip, "-details", "-json", "link", "show"])
        return parse_links(links, self._check([self.ip, "-json", "address", "show"]))

    def apply(self, changes: Sequence[Change]) -> None:
        # -force: go on past a line that fails (a bridge deleted since discovery), then fail.
        script = "".join(_ip_line(change) + "\n" for change in changes)
        self._check([self.ip, "-force", "-batch", "-"], script)

    def delete_link(self, name: str) -> None:
        self._check([self.ip, "link", "delete", "dev", name])

    def tunnel_peers(self, names: Collection[str]) -> dict[str, frozenset[str]]:
        # The whole FDB in one process (every bridge's learned addresses too): one process
        # per tunnel would cost more than the parse.
        return parse_fdb(self._check([self.bridge, "-json", "fdb", "show"]), names)

    def apply_tunnels(self, changes: Sequence[TunnelChange]) -> None:
        doomed = {change.name for change in changes if isinstance(change, DeleteTunnel)}
        # Deleted together when nothing else is in the group (it should always be empty).
        members = self._check([self.ip, "-json", "link", "show", "group", str(DELETE_GROUP)])
        together = (
            bool(doomed)
            and {link["ifname"] for link in json.loads(members or "[]") if "ifname" in link}
            <= doomed
        )
        links, fdb = tunnel_script(changes, together)
        errors = []
        for argv, lines in (([self.ip], links), ([self.bridge], fdb)):
            if not lines:
                continue
            try:
                self._check(
                    [*argv, "-force", "-batch", "-"], "".join(f"{line}\n" for line in lines)
                )
            except HostError as error:
                errors.append(str(error))
        if errors:
            raise HostError("; ".join(errors))

    def table(self, family: str, name: str) -> str:
        done = self._run([self.nft, "list", "table", family, name])
        if done.returncode == 0:
            return done.stdout
        if _NO_SUCH_TABLE in done.stderr:
            return ""
        raise HostError(f"nft list table {family} {name}: {' '.join(done.stderr.split())}")

    def ruleset(self) -> str:
        listing = ""
        for family in FAMILIES:
            # One table per command: nft 1.0.6 fails a file that lists two.
            done = self._run([self.nft, "list", "table", family, TABLE])
            if done.returncode == 0:
                listing += done.stdout
            elif _NO_SUCH_TABLE not in done.stderr:
                raise HostError(f"nft list table {family} {TABLE}: {' '.join(done.stderr.split())}")
        return listing

    def load_ruleset(self, script: str) -> None:
        self._check([self.nft, "-f", "-"], script)
