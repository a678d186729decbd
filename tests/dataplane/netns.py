"""Network namespaces for the data-plane tests, and what the tests do inside them.

Commands run with ``ip -n`` / ``ip netns exec``; sockets are made inside a namespace by a thread
that enters it (setns affects only the calling thread) and keep working from any thread after.
Frames are sent and received with packet sockets, pings with raw ICMP sockets: no tcpdump, no
ping binary. Every socket made here is closed by `Namespaces.close`.
"""

from __future__ import annotations

import ctypes
import itertools
import json
import os
import select
import shutil
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

CLONE_NEWNET = 0x40000000
NETNS_DIR = "/var/run/netns"
_libc = ctypes.CDLL(None, use_errno=True)
_names = itertools.count()
BROADCAST = "ff:ff:ff:ff:ff:ff"
# IEEE 802 local experimental ethertype: frames of the tests' own.
TEST_ETHERTYPE = 0x88B5
PACKET_OUTGOING = 4
Socket = socket.socket  # the Netns.socket method hides the module in the class


def run(argv: list[str], stdin: str | None = None, check: bool = True) -> str:
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=30)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def missing_tools() -> list[str]:
    return [tool for tool in ("ip", "nft") if shutil.which(tool) is None]


class Netns:
    def __init__(self, name: str, sockets: list[socket.socket]) -> None:
        self.name = name
        self.path = f"{NETNS_DIR}/{name}"
        self._sockets = sockets
        self._senders: dict[str, Socket] = {}

    def ip(self, *args: str) -> str:
        return run(["ip", "-n", self.name, *args])

    def ip_json(self, *args: str) -> Any:
        return json.loads(self.ip("-json", *args) or "[]")

    def exec(self, argv: list[str], stdin: str | None = None, check: bool = True) -> str:
        return run(["ip", "netns", "exec", self.name, *argv], stdin, check)

    def nft(self, script: str) -> None:
        self.exec(["nft", "-f", "-"], script)

    def nft_json(self, family: str, table: str) -> Any:
        return json.loads(self.exec(["nft", "-j", "list", "table", family, table]))

    def call(self, function: Callable[[], T]) -> T:
        """`function()` on a thread inside this namespace."""
        outcome: dict[str, Any] = {}

        def inside() -> None:
            try:
                fd = os.open(self.path, os.O_RDONLY)
                try:
                    if _libc.setns(fd, CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), f"setns {self.path}")
                finally:
                    os.close(fd)
                outcome["value"] = function()
            except BaseException as error:  # handed to the caller's thread
                outcome["error"] = error

        thread = threading.Thread(target=inside)
        thread.start()
        thread.join()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]  # type: ignore[no-any-return]

    def socket(self, family: int, kind: int, proto: int = 0) -> socket.socket:
        made = self.call(lambda: socket.socket(family, kind, proto))
        self._sockets.append(made)
        return made

    def sender(self, interface: str) -> Socket:
        """A packet socket that sends whole frames out of `interface` (one per interface)."""
        if interface not in self._senders:
            self._senders[interface] = self.socket(socket.AF_PACKET, socket.SOCK_RAW)
            self._senders[interface].bind((interface, 0))
        return self._senders[interface]

    def links(self) -> dict[str, dict[str, Any]]:
        return {link["ifname"]: link for link in self.ip_json("-details", "link", "show")}

    def mac(self, interface: str) -> str:
        (link,) = self.ip_json("link", "show", "dev", interface)
        return str(link["address"])

    def addresses(self, interface: str) -> list[str]:
        (link,) = self.ip_json("address", "show", "dev", interface)
        return [a["local"] for a in link.get("addr_info", [])]

    def neighbour(self, interface: str, address: str) -> str | None:
        for entry in self.ip_json("neigh", "show", "dev", interface):
            if entry.get("dst") == address and "lladdr" in entry:
                return str(entry["lladdr"])
        return None

    def sysctl(self, name: str, value: str) -> bool:
        """Set a sysctl here; False when this kernel has no such setting."""
        path = Path("/proc/sys") / name.replace(".", "/")
        try:
            self.call(lambda: path.write_text(value))  # procfs follows the thread's namespace
        except FileNotFoundError:
            return False
        return True


class Namespaces:
    """Every namespace and socket a test made, all removed by `close` (a fixture's finalizer)."""

    def __init__(self) -> None:
        self.made: list[Netns] = []
        self.sockets: list[socket.socket] = []
        self._prefix = f"lqdp{os.getpid()}x{next(_names)}"

    def new(self, role: str) -> Netns:
        name = f"{self._prefix}{role}"
        run(["ip", "netns", "add", name])
        netns = Netns(name, self.sockets)
        self.made.append(netns)
        netns.ip("link", "set", "lo", "up")
        return netns

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()  # a socket keeps its namespace (and its interfaces) alive
        # Pods first: their veths go with them, then the node's bridges with the node.
        for netns in reversed(self.made):
            run(["ip", "netns", "delete", netns.name], check=False)
        self.made.clear()


# --- frames -----------------------------------------------------------------------------------


def _mac_bytes(mac: str) -> bytes:
    return bytes.fromhex(mac.replace(":", ""))


ETH_P_ALL = 0x0003


class Listener:
    """A packet socket on one interface that keeps the frames arriving there (not those it
    sends), by ethertype. One per interface: closing a packet socket waits for an RCU grace
    period, so a test with a socket per protocol and interface spends seconds in teardown."""

    def __init__(self, netns: Netns, interface: str) -> None:
        self.where = (netns.name, interface)
        self.sock = netns.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.sock.bind((interface, ETH_P_ALL))
        self.sock.setblocking(False)
        self.frames: list[tuple[int, bytes]] = []

    def drain(self, ethertype: int = TEST_ETHERTYPE) -> list[bytes]:
        """The payloads of `ethertype` received so far."""
        while True:
            try:
                frame, address = self.sock.recvfrom(65535)
            except BlockingIOError:
                break
            if address[2] != PACKET_OUTGOING:
                kind = struct.unpack("!H", frame[12:14])[0]
                self.frames.append((kind, frame[14:].rstrip(b"\0")))
        return [payload for kind, payload in self.frames if kind == ethertype]


def send_frame(
    netns: Netns, interface: str, destination: str, ethertype: int, payload: bytes
) -> None:
    header = _mac_bytes(destination) + _mac_bytes(netns.mac(interface))
    netns.sender(interface).send(header + struct.pack("!H", ethertype) + payload.ljust(46, b"\0"))


def wait_for(listeners: Iterable[Listener], expected: dict[tuple[str, str], set[bytes]]) -> None:
    """Drain `listeners` until each holds the test frames `expected` says (up to 5 s)."""
    deadline = time.monotonic() + 5
    pending = list(listeners)
    while True:
        received = {lst.where: set(lst.drain()) for lst in pending}
        if all(expected.get(where, set()) <= got for where, got in received.items()):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"frames missing: expected {expected}, received {received}")
        select.select([lst.sock for lst in pending], [], [], 0.05)


# --- pings ------------------------------------------------------------------------------------


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


_echo_ids = itertools.count(1)


IP_MTU_DISCOVER = 10
IP_PMTUDISC_DO = 2  # set DF, never fragment


def ping(
    netns: Netns,
    address: str,
    interface: str,
    timeout: float = 3.0,
    size: int | None = None,
    dont_fragment: bool = False,
) -> bool:
    """An ICMP echo from `interface` to `address`: True once the reply came back. `size`:
    the echo's data in bytes (``ping -s``); `dont_fragment`: with DF set (``ping -M do``)."""
    sock = netns.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode())
    if dont_fragment:
        sock.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO)
    ident = next(_echo_ids) & 0xFFFF
    data = b"lessonq" if size is None else (b"lessonq" * (size // 7 + 1))[:size]
    echo = struct.pack("!BBHHH", 8, 0, 0, ident, 1) + data
    sock.sendto(echo[:2] + struct.pack("!H", _checksum(echo)) + echo[4:], (address, 0))
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        if not select.select([sock], [], [], left)[0]:
            break
        data, source = sock.recvfrom(65535)
        icmp = data[(data[0] & 0x0F) * 4 :]
        if source[0] == address and icmp[0] == 0 and struct.unpack("!H", icmp[4:6])[0] == ident:
            return True
    return False


def ping6_all_nodes(netns: Netns, interface: str, wait: float = 0.5) -> set[str]:
    """Who else answers an ICMPv6 echo to ff02::1 (all nodes) on `interface`, within `wait`."""
    sock = netns.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    index = netns.call(lambda: socket.if_nametoindex(interface))
    ident = next(_echo_ids) & 0xFFFF
    sock.sendto(struct.pack("!BBHHH", 128, 0, 0, ident, 1) + b"lessonq", ("ff02::1", 0, 0, index))
    responders = set()
    deadline = time.monotonic() + wait
    while (left := deadline - time.monotonic()) > 0:
        if not select.select([sock], [], [], left)[0]:
            break
        data, source = sock.recvfrom(2048)
        if data[0] == 129 and struct.unpack("!H", data[4:6])[0] == ident:
            responders.add(source[0].split("%")[0])
    return responders - set(netns.addresses(interface))  # the sender answers itself too
