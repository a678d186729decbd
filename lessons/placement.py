"""Placement: every pod of a lesson on one node (its links' bridges are node-local), and what
lessonq does when the scheduler cannot manage that.

The lesson's first pod goes wherever the scheduler likes; the others follow it by pod affinity.
When that node cannot hold them all, they stay Unschedulable, and would wait for the
provisioning deadline while other nodes sit empty. The readiness step sees it here: `stranded`
says the lesson's pods are split between one node and Unschedulable; the lesson is then placed
again, its pods deleted and made anew away from that node (``lessons.manifests.pod_manifests``
`avoid`), a bounded number of times (LESSONQ_PLACEMENT_ATTEMPTS). And a lesson that asks for
more than any node allocates fails at once (`fits_a_node`), saying so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lessons.plan import TotalRequests
from lessons.quantity import millicores, whole_units
from lessons.readiness import condition

Obj = Mapping[str, Any]
# Taints that keep pods without tolerations off a node (lesson pods tolerate none).
_REPELLING = frozenset({"NoSchedule", "NoExecute"})


def unschedulable(pods: Iterable[Obj]) -> str | None:
    """The scheduler's message for a pod of these that it could not place, if there is one."""
    for pod in pods:
        scheduled = condition(pod, "PodScheduled")
        if (
            scheduled is not None
            and scheduled.get("status") == "False"
            and scheduled.get("reason") == "Unschedulable"
        ):
            return str(scheduled.get("message") or "Unschedulable")
    return None


@dataclass(frozen=True)
class Stranded:
    """Some of a lesson's pods landed on `node`, which cannot take the rest."""

    node: str
    message: str


def stranded(pods: Iterable[Obj]) -> Stranded | None:
    """Whether the lesson's pods are split between one node and Unschedulable."""
    pods = list(pods)
    nodes = {
        pod["spec"]["nodeName"]
        for pod in pods
        if pod.get("spec", {}).get("nodeName") and not pod["metadata"].get("deletionTimestamp")
    }
    message = unschedulable(pods)
    if len(nodes) != 1 or message is None:
        return None
    return Stranded(nodes.pop(), message)


@dataclass(frozen=True)
class NodeRoom:
    """What a node allocates to pods."""

    name: str
    cpu_millicores: int
    memory_bytes: int
    pods: int


def node_room(node: Obj) -> NodeRoom | None:
    """What a node allocates, None for one no lesson pod may go to (cordoned, or tainted)."""
    spec = node.get("spec") or {}
    if spec.get("unschedulable") or any(
        taint.get("effect") in _REPELLING for taint in spec.get("taints") or []
    ):
        return None
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    return NodeRoom(
        name=node["metadata"]["name"],
        cpu_millicores=millicores(str(allocatable.get("cpu", "0"))),
        memory_bytes=whole_units(str(allocatable.get("memory", "0"))),
        pods=whole_units(str(allocatable.get("pods", "0"))),
    )


def _fits(total: TotalRequests, room: NodeRoom) -> bool:
    return (
        total.cpu_millicores <= room.cpu_millicores
        and total.memory_bytes <= room.memory_bytes
        and total.pods <= room.pods
    )


def fits_a_node(total: TotalRequests, rooms: Sequence[NodeRoom]) -> bool:
    """Whether some node, empty, could hold the whole lesson."""
    return any(_fits(total, room) for room in rooms)


def _cpu(millis: int) -> str:
    return f"{millis // 1000}" if millis % 1000 == 0 else f"{millis}m"


def _memory(size: int) -> str:
    for unit, scale in (("Gi", 1024**3), ("Mi", 1024**2), ("Ki", 1024)):
        if size >= scale and size % scale == 0:
            return f"{size // scale}{unit}"
    return str(size)


def describe_requests(total: TotalRequests) -> str:
    return f"cpu {_cpu(total.cpu_millicores)}, memory {_memory(total.memory_bytes)}"


def too_big(total: TotalRequests, rooms: Sequence[NodeRoom], what: str = "") -> str:
    """Why no node can hold the lesson (or its pod `what`): what it asks for, and the most any
    node gives."""
    held = f"pod {what}" if what else f"{total.pods} pods"
    asked = f"no node could hold the lesson's {held} ({describe_requests(total)})"
    most = (
        f"cpu {_cpu(max(r.cpu_millicores for r in rooms))}, "
        f"memory {_memory(max(r.memory_bytes for r in rooms))}, "
        f"{max(r.pods for r in rooms)} pods"
    )
    return f"{asked}: the largest of {len(rooms)} nodes allocates {most}"


def rooms_of(nodes: Iterable[Obj]) -> list[NodeRoom]:
    return [room for room in map(node_room, nodes) if room is not None]
