"""A Node object as a kubelet registers it: labels, address, capacity, a Ready condition."""

from __future__ import annotations

from typing import Any

from kubesim.addresses import node_address, pod_cidr
from kubesim.capacity import DEFAULT_ALLOCATABLE
from kubesim.clock import Ids
from kubesim.scheduler import node_labels

JSON = dict[str, Any]


def ready_condition(heartbeat: str | None = None) -> JSON:
    condition = {
        "type": "Ready",
        "status": "True",
        "reason": "KubeletReady",
        "message": "kubelet is posting ready status",
    }
    if heartbeat:
        condition["lastHeartbeatTime"] = condition["lastTransitionTime"] = heartbeat
    return condition


def node_object(
    name: str,
    index: int,
    version: str,
    ids: Ids,
    heartbeat: str | None = None,
    resources: dict[str, str] | None = None,
) -> JSON:
    """The node at `index` of the configured list; `heartbeat` stamps its Ready condition;
    `resources` (SimConfig.allocatable_of) is both its capacity and its allocatable."""
    resources = resources or DEFAULT_ALLOCATABLE
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": node_labels(name)},
        "spec": {"podCIDR": pod_cidr(index), "podCIDRs": [pod_cidr(index)]},
        "status": {
            "capacity": dict(resources),
            "allocatable": dict(resources),
            "addresses": [
                {"type": "InternalIP", "address": node_address(index)},
                {"type": "Hostname", "address": name},
            ],
            "conditions": [ready_condition(heartbeat)],
            "nodeInfo": {
                "machineID": ids.hex(32),
                "systemUUID": ids.uid(),
                "bootID": ids.uid(),
                "kernelVersion": "6.1.0-kubesim",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
                "containerRuntimeVersion": "containerd://1.7.24",
                "kubeletVersion": version,
                "kubeProxyVersion": version,
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        },
    }
