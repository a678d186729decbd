"""What a failed lesson's pods said: kept in its record, since its namespace, and the pods'
Events and logs with it, goes when the lesson is torn down.

Bounded, so that a record stays small: the pods that were not ready (at most `MAX_PODS`), for
each its last `MAX_EVENTS` Events and the last `LOG_LINES` lines of its log (`LOG_BYTES` at
most). Collecting must never hide the failure itself: what cannot be read is a note.
"""

from __future__ import annotations

from collections.abc import Iterable

from kube import KubeApi, KubeError, Obj
from kube.kinds import EVENT, POD
from lessons.readiness import is_ready, waiting_reason
from lessons.state import Diagnostics, PodDiagnostics

MAX_PODS = 8
MAX_EVENTS = 5
EVENT_CHARS = 300
LOG_LINES = 10
LOG_BYTES = 1000


def diagnose(kube: KubeApi, namespace: str) -> Diagnostics:
    """The pods of the namespace that are not ready (nor done), what happened to them, and
    what they printed."""
    try:
        pods = kube.listing(POD, namespace, "").items
        events = kube.listing(EVENT, namespace, "").items
    except KubeError as error:
        return Diagnostics(note=f"the pods or their Events could not be read: {error.message}")
    troubled = [pod for pod in pods if not is_ready(pod) and _phase(pod) != "Succeeded"]
    return Diagnostics(
        pods=[_pod(kube, namespace, pod, events) for pod in troubled[:MAX_PODS]],
        note=f"{len(troubled) - MAX_PODS} more pods left out" if len(troubled) > MAX_PODS else None,
    )


def _phase(pod: Obj) -> str | None:
    phase = (pod.get("status") or {}).get("phase")
    return str(phase) if phase else None


def _events_of(name: str, events: Iterable[Obj]) -> list[str]:
    mine = [
        event
        for event in events
        if (event.get("involvedObject") or {}).get("kind") == "Pod"
        and event["involvedObject"].get("name") == name
    ]
    # Events of v1 carry lastTimestamp; those written through events.k8s.io eventTime.
    mine.sort(key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))
    return [
        f"{e.get('type', 'Normal')} {e.get('reason', '')}: {e.get('message', '')}"[:EVENT_CHARS]
        for e in mine[-MAX_EVENTS:]
    ]


def _started(pod: Obj) -> bool:
    """Whether a container ran at all (a log to read)."""
    return any(
        "running" in (status.get("state") or {})
        or "terminated" in (status.get("state") or {})
        or status.get("restartCount")
        for status in (pod.get("status") or {}).get("containerStatuses") or []
    )


def _pod(kube: KubeApi, namespace: str, pod: Obj, events: list[Obj]) -> PodDiagnostics:
    name = pod["metadata"]["name"]
    log = log_tail(kube, namespace, name, LOG_LINES, LOG_BYTES) if _started(pod) else ""
    return PodDiagnostics(
        pod=name,
        phase=_phase(pod),
        waiting=waiting_reason(pod),
        events=_events_of(name, events),
        log=log or None,
    )


def log_tail(kube: KubeApi, namespace: str, pod: str, lines: int, limit_bytes: int) -> str:
    """The last `lines` a pod printed (empty when nothing), or a note saying why they could not
    be read: an error report must not fail over its own details."""
    try:
        return kube.log(namespace, pod, lines, limit_bytes).strip()
    except KubeError as error:
        return f"(its log could not be read: {error.message})"
