"""Nodes' allocatable resources and pods' requests, in the scheduler's integer units."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from typing import Any

from kubesim.decoding import quantity_value

JSON = dict[str, Any]
MAX_PODS = 110  # the kubelet's default --max-pods
# what each simulated node offers unless configured otherwise: generous, so that nothing but the
# pod count limits a test that sets no requests
DEFAULT_ALLOCATABLE = {
    "cpu": "32",
    "memory": "128Gi",
    "pods": str(MAX_PODS),
    "ephemeral-storage": "100Gi",
}
# NodeResourcesFit's resources in the order it checks them; any other requested resource is a
# scalar one (hugepages, extended resources), checked after these
FIT_ORDER = ("cpu", "memory", "ephemeral-storage")


def amount(resource: str, quantity: Any) -> int | None:
    """A quantity as the scheduler counts it: cpu in millicores (MilliValue), everything else in
    whole units (Value); both round up, as resource.Quantity does. None if it does not parse."""
    value = quantity_value(quantity)
    if value is None:
        return None
    return math.ceil(value * 1000) if resource == "cpu" else math.ceil(value)


def amounts(resources: Mapping[str, Any]) -> dict[str, int]:
    """A resource list in the scheduler's units; unparsable quantities count as zero (the
    apiserver refuses them before a scheduler sees them)."""
    return {name: amount(name, quantity) or 0 for name, quantity in resources.items()}


def pod_requests(spec: JSON) -> dict[str, int]:
    """computePodResourceRequest: the containers' requests summed, then for each resource the
    larger of that and any one init container's request, plus the pod's overhead. Non-zero
    amounts only, the pod count left out."""
    total: Counter[str] = Counter()
    for container in spec.get("containers") or []:
        total.update(amounts((container.get("resources") or {}).get("requests") or {}))
    for container in spec.get("initContainers") or []:
        requests = amounts((container.get("resources") or {}).get("requests") or {})
        for name, value in requests.items():
            total[name] = max(total[name], value)
    total.update(amounts(spec.get("overhead") or {}))
    return {name: value for name, value in total.items() if value and name != "pods"}


def insufficient(
    allocatable: Mapping[str, int],
    requested: Mapping[str, int],
    pods: int,
    request: Mapping[str, int],
) -> list[tuple[str, int, int, int]]:
    """fitsRequest: each resource a node lacks for a pod, as (resource, the pod's request, what
    the node's pods request, allocatable), pods first; `requested` and `pods` are the node's
    unfinished pods' requests and count. A pod requesting nothing is limited by the count only."""
    missing = []
    if pods + 1 > allocatable.get("pods", 0):
        missing.append(("pods", 1, pods, allocatable.get("pods", 0)))
    if not request:
        return missing
    names = list(FIT_ORDER) + sorted(name for name in request if name not in FIT_ORDER)
    for name in names:
        want, used, offered = request.get(name, 0), requested.get(name, 0), allocatable.get(name, 0)
        if offered < want + used:
            missing.append((name, want, used, offered))
    return missing
