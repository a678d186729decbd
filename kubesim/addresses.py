"""The cluster's address plan: node addresses and pod ranges, pod IPs per node, Service ClusterIPs
and NodePorts, each handed out from a pool that remembers what is taken."""

from __future__ import annotations

import ipaddress
from typing import Any

from kubesim.store import Change

JSON = dict[str, Any]
SERVICES_KEY = ("", "services")
SERVICE_RANGE = ipaddress.ip_network("10.96.0.0/12")
NODE_PORTS = range(30000, 32768)


def node_address(index: int) -> str:
    """The InternalIP of the node at `index` in the configured list (a kind-like 172.18/16)."""
    return f"172.18.0.{index + 2}"


def pod_cidr(index: int) -> str:
    return f"10.244.{index}.0/24"


class Pool:
    """Numbers from a range, each free one found from a cursor after the last one handed out."""

    def __init__(self, first: int, last: int) -> None:
        self._first, self._last = first, last
        self._cursor = first
        self.used: set[int] = set()

    def next_free(self, also_taken: set[int] | frozenset[int] = frozenset()) -> int | None:
        size = self._last - self._first + 1
        for step in range(size):
            candidate = self._first + (self._cursor - self._first + step) % size
            if candidate not in self.used and candidate not in also_taken:
                self._cursor = candidate + 1 if candidate < self._last else self._first
                return candidate
        return None

    def __contains__(self, value: int) -> bool:
        return self._first <= value <= self._last


class PodAddresses:
    """The kubelets' pod IPs: x.2 to x.254 of each node's pod CIDR (x.1 is the bridge's)."""

    def __init__(self) -> None:
        self._pools: dict[int, Pool] = {}

    def allocate(self, node_index: int) -> str:
        network = ipaddress.ip_network(pod_cidr(node_index))
        base = int(network.network_address)
        pool = self._pools.setdefault(node_index, Pool(base + 2, base + 254))
        found = pool.next_free()
        if found is None:
            raise RuntimeError(f"node {node_index} has no pod IPs left")
        pool.used.add(found)
        return str(ipaddress.ip_address(found))

    def release(self, node_index: int, ip: str) -> None:
        pool = self._pools.get(node_index)
        if pool is not None and ip:
            pool.used.discard(int(ipaddress.ip_address(ip)))

    def clear(self) -> None:
        self._pools.clear()


def _cluster_ip(service: JSON | None) -> int | None:
    ip = ((service or {}).get("spec") or {}).get("clusterIP")
    if not isinstance(ip, str) or ip in ("", "None"):
        return None
    return int(ipaddress.ip_address(ip))


def _node_ports(service: JSON | None) -> set[int]:
    ports = ((service or {}).get("spec") or {}).get("ports") or []
    return {p["nodePort"] for p in ports if isinstance(p, dict) and p.get("nodePort")}


class ServiceAddresses:
    """ClusterIPs and NodePorts in use, kept from the store's changes (a store listener), so that
    choosing a free one does not read every Service."""

    def __init__(self) -> None:
        hosts = SERVICE_RANGE.num_addresses - 2
        first = int(SERVICE_RANGE.network_address) + 1
        self.cluster_ips = Pool(first, first + hosts - 1)
        self.node_ports = Pool(NODE_PORTS.start, NODE_PORTS.stop - 1)

    def on_change(self, change: Change) -> None:
        if change.type_key != SERVICES_KEY:
            return
        now = change.obj if change.type != "DELETED" else None
        before, after = _cluster_ip(change.old), _cluster_ip(now)
        if before is not None:
            self.cluster_ips.used.discard(before)
        if after is not None:
            self.cluster_ips.used.add(after)
        self.node_ports.used -= _node_ports(change.old)
        self.node_ports.used |= _node_ports(now)

    def clear(self) -> None:
        self.cluster_ips.used.clear()
        self.node_ports.used.clear()
