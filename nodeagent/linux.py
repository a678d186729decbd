"""The node, through iproute2 (``ip``) and nftables (``nft``).

Netlink through ``ip`` rather than writing sysfs and /proc/sys: in a container, even one on the
host's network, both are mounted read-only unless the container is privileged, while netlink
needs only NET_ADMIN. A pass runs two ``ip`` to discover, one ``ip -batch`` for all its changes,
and ``nft`` to list (and when needed load) the tables: a handful of processes whatever the
number of bridges, and no Python dependency beyond the standard library.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

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
from nodeagent.rules import FAMILIES, TABLE

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


class LinuxHost:
    def __init__(self, ip: str = "ip", nft: str = "nft", timeout: float = TIMEOUT) -> None:
        self.ip = ip
        self.nft = nft
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
