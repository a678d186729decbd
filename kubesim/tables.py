"""Server-side printing (meta.k8s.io/v1 Table), which `kubectl get` asks for."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kubesim.clock import parse_timestamp
from kubesim.resources import ResourceType

JSON = dict[str, Any]
Column = tuple[str, str, int, Callable[[JSON], Any]]  # name, type, priority, cell


def wants_table(accept: str) -> bool:
    return "as=Table" in accept


def age(obj: JSON) -> str:
    """Roughly kubectl's HumanDuration."""
    created = obj["metadata"].get("creationTimestamp")
    if not created:
        return "<unknown>"
    seconds = max(int(time.time() - parse_timestamp(created)), 0)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 120 * 60:
        return f"{seconds // 60}m"
    if seconds < 48 * 3600:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def _pod_status(pod: JSON) -> str:
    status = pod.get("status") or {}
    if pod["metadata"].get("deletionTimestamp"):
        return "Terminating"
    if status.get("reason"):
        return str(status["reason"])
    for container in status.get("containerStatuses") or []:
        state = container.get("state") or {}
        if "waiting" in state and state["waiting"].get("reason"):
            return str(state["waiting"]["reason"])
        if "terminated" in state and state["terminated"].get("reason"):
            return str(state["terminated"]["reason"])
    return str(status.get("phase") or "Pending")


def _pod_ready(pod: JSON) -> str:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    ready = sum(1 for c in statuses if c.get("ready"))
    return f"{ready}/{len(pod['spec'].get('containers') or [])}"


def _ports(svc: JSON) -> str:
    ports = svc["spec"].get("ports") or []
    text = []
    for port in ports:
        node_port = f":{port['nodePort']}" if port.get("nodePort") else ""
        text.append(f"{port.get('port')}{node_port}/{port.get('protocol', 'TCP')}")
    return ",".join(text) or "<none>"


def _name(obj: JSON) -> str:
    return str(obj["metadata"]["name"])


_NAME: Column = ("Name", "string", 0, _name)
_AGE: Column = ("Age", "string", 0, age)

COLUMNS: dict[tuple[str, str], list[Column]] = {
    ("", "pods"): [
        _NAME,
        ("Ready", "string", 0, _pod_ready),
        ("Status", "string", 0, _pod_status),
        (
            "Restarts",
            "string",
            0,
            lambda p: str(
                sum(
                    c.get("restartCount", 0)
                    for c in (p.get("status") or {}).get("containerStatuses") or []
                )
            ),
        ),
        _AGE,
        ("IP", "string", 1, lambda p: (p.get("status") or {}).get("podIP") or "<none>"),
        ("Node", "string", 1, lambda p: p["spec"].get("nodeName") or "<none>"),
    ],
    ("", "namespaces"): [
        _NAME,
        ("Status", "string", 0, lambda n: (n.get("status") or {}).get("phase", "")),
        _AGE,
    ],
    ("", "services"): [
        _NAME,
        ("Type", "string", 0, lambda s: s["spec"].get("type", "")),
        ("Cluster-IP", "string", 0, lambda s: s["spec"].get("clusterIP") or "<none>"),
        ("External-IP", "string", 0, lambda s: "<none>"),
        ("Port(s)", "string", 0, _ports),
        _AGE,
    ],
    ("batch", "jobs"): [
        _NAME,
        (
            "Completions",
            "string",
            0,
            lambda j: (
                f"{(j.get('status') or {}).get('succeeded', 0)}/{j['spec'].get('completions', 1)}"
            ),
        ),
        _AGE,
    ],
}


def to_table(rt: ResourceType, body: JSON) -> JSON:
    columns = COLUMNS.get((rt.group, rt.plural), [_NAME, _AGE])
    items = body.get("items", [body])
    rows = []
    for item in items:
        partial = {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": item["metadata"],
        }
        rows.append({"cells": [cell(item) for _, _, _, cell in columns], "object": partial})
    definitions = [
        {
            "name": name,
            "type": kind,
            "format": "name" if name == "Name" else "",
            "description": name,
            "priority": priority,
        }
        for name, kind, priority, _ in columns
    ]
    meta = {"resourceVersion": body["metadata"].get("resourceVersion", "")}
    if body["metadata"].get("continue") and "items" in body:
        meta["continue"] = body["metadata"]["continue"]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": definitions,
        "rows": rows,
    }
