"""Pod phases and conditions, shared by the API and the controllers."""

from __future__ import annotations

from typing import Any

from kubesim.clock import timestamp

JSON = dict[str, Any]
FINISHED = ("Succeeded", "Failed")  # terminal phases: the pod's containers will not run again


def finished(pod: JSON) -> bool:
    return (pod.get("status") or {}).get("phase") in FINISHED


def set_condition(pod: JSON, condition: JSON) -> None:
    """Set a pod condition, keeping lastTransitionTime while its status does not change."""
    status = pod.setdefault("status", {})
    conditions = status.setdefault("conditions", [])
    for index, existing in enumerate(conditions):
        if existing["type"] == condition["type"]:
            unchanged = existing.get("status") == condition["status"]
            since = existing.get("lastTransitionTime") if unchanged else None
            conditions[index] = {
                **condition,
                "lastProbeTime": None,
                "lastTransitionTime": since or timestamp(),
            }
            return
    conditions.append({**condition, "lastProbeTime": None, "lastTransitionTime": timestamp()})


def condition_of(pod: JSON, kind: str) -> JSON | None:
    return next(
        (c for c in (pod.get("status") or {}).get("conditions") or [] if c["type"] == kind), None
    )


def ready_condition(pod: JSON, containers_ready: JSON) -> JSON:
    """The kubelet's GeneratePodReadyCondition: ContainersReady's status, reason and message
    while that is not True; then False until every readiness gate's condition is True."""
    if containers_ready["status"] != "True":
        return {**containers_ready, "type": "Ready"}
    unready = []
    for gate in (pod.get("spec") or {}).get("readinessGates") or []:
        kind = gate.get("conditionType", "")
        condition = condition_of(pod, kind)
        if condition is None:
            unready.append(
                f'corresponding condition of pod readiness gate "{kind}" does not exist.'
            )
        elif condition.get("status") != "True":
            unready.append(
                f'the status of pod readiness gate "{kind}" is not "True", '
                f"but {condition.get('status', '')}"
            )
    if unready:
        return {
            "type": "Ready",
            "status": "False",
            "reason": "ReadinessGatesNotReady",
            "message": ", ".join(unready),
        }
    return {"type": "Ready", "status": "True"}
