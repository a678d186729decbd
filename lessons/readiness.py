"""Reading pod status: which endpoints are ready, and which will never be.

Pure functions over pod dicts as the API returns them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# Container states that do not heal by waiting: the lesson fails at once with the reason,
# instead of sitting out its whole provisioning deadline.
FATAL_WAITING_REASONS = frozenset(
    {
        "ImagePullBackOff",
        "ErrImageNeverPull",
        "InvalidImageName",
        "CrashLoopBackOff",
        "CreateContainerConfigError",
        "CreateContainerError",
    }
)


@dataclass(frozen=True)
class Readiness:
    ready: frozenset[str]
    total: int
    problem: str | None = None
    # Why each endpoint that is not ready is waiting (missing pods included).
    waiting: tuple[str, ...] = ()

    @property
    def healthy(self) -> int:
        return len(self.ready)

    @property
    def complete(self) -> bool:
        return self.healthy == self.total


def condition(pod: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    """The pod's status condition of that type, if it has one."""
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind:
            return condition  # type: ignore[no-any-return]
    return None


def is_ready(pod: Mapping[str, Any]) -> bool:
    ready = condition(pod, "Ready")
    return (
        ready is not None
        and ready.get("status") == "True"
        and pod.get("metadata", {}).get("deletionTimestamp") is None
    )


def fatal_problem(pod: Mapping[str, Any]) -> str | None:
    """Why this pod will never become ready on its own, or None."""
    name = pod.get("metadata", {}).get("name")
    status = pod.get("status", {})
    if status.get("phase") == "Failed":
        why = status.get("reason") or "Failed"
        return f"pod {name} failed: {why}: {status.get('message') or 'no message'}"
    for container in status.get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in FATAL_WAITING_REASONS:
            message = waiting.get("message") or "no message"
            return f"pod {name}: {waiting['reason']}: {message}"
    return None


def waiting_reason(pod: Mapping[str, Any]) -> str:
    """What a pod that is not ready is waiting for, as `kubectl describe` would hint."""
    scheduled = condition(pod, "PodScheduled")
    if scheduled is not None and scheduled.get("status") == "False":
        return f"{scheduled.get('reason')}: {scheduled.get('message') or 'not scheduled'}"
    ready = condition(pod, "Ready")
    if ready is not None and ready.get("reason") == "ReadinessGatesNotReady":
        # Its containers are ready; what it waits for is someone else's: on an overlay, the
        # node agent wiring its links.
        return f"ReadinessGatesNotReady: {ready.get('message') or 'a readiness gate'}"
    for container in pod.get("status", {}).get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting")
        if waiting:
            return str(waiting.get("reason") or "Waiting")
    return str(pod.get("status", {}).get("phase") or "Pending")


def assess(pods: Iterable[Mapping[str, Any]], endpoints: Iterable[str]) -> Readiness:
    """How far the lesson's endpoints are: only pods named after its endpoints count."""
    expected = list(endpoints)
    found = {pod.get("metadata", {}).get("name"): pod for pod in pods}
    ready: set[str] = set()
    waiting = []
    problem = None
    for name in expected:
        pod = found.get(name)
        if pod is None:
            waiting.append(f"{name} (no pod)")
        elif is_ready(pod):
            ready.add(name)
        else:
            problem = problem or fatal_problem(pod)
            waiting.append(f"{name} ({waiting_reason(pod)})")
    return Readiness(frozenset(ready), len(expected), problem, tuple(waiting))
