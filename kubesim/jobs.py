"""The Job controller: runs pods to completion, replaces failed ones with back-off, and fails the
Job once backoffLimit is exceeded."""

from __future__ import annotations

import copy
from typing import Any

from kubesim import errors
from kubesim.api import Api, DeleteOptions, type_key
from kubesim.clock import timestamp
from kubesim.config import SimConfig
from kubesim.events import EventRecorder
from kubesim.kubelet import backoff
from kubesim.loop import Loop
from kubesim.podstatus import finished
from kubesim.resources import JOBS, PODS
from kubesim.store import Change

JSON = dict[str, Any]
COMPONENT = "job-controller"
POD_FAILURE_BACKOFF, MAX_POD_FAILURE_BACKOFF = 10.0, 600.0


def controller_uid(obj: JSON) -> str | None:
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid"))
    return None


def pod_failure_backoff(failures: int) -> float:
    """The Job controller's delay before it replaces a failed pod: 10 s doubling per failure, at
    most 10 minutes (DefaultJobPodFailureBackOff, MaxJobPodFailureBackOff)."""
    return backoff(failures, POD_FAILURE_BACKOFF, MAX_POD_FAILURE_BACKOFF)


def _past_backoff_limit_on_failure(spec: JSON, pods: list[JSON]) -> bool:
    """pastBackoffLimitOnFailure: with restartPolicy OnFailure a failing container restarts in its
    pod, so the restarts of pending and running pods count against the limit (reached, not
    exceeded; any restart at all when the limit is 0)."""
    if spec["template"]["spec"].get("restartPolicy") != "OnFailure":
        return False
    restarts: int = sum(
        int(status.get("restartCount", 0))
        for pod in pods
        if pod["status"].get("phase") in ("Pending", "Running")
        for group in ("initContainerStatuses", "containerStatuses")
        for status in pod["status"].get(group) or []
    )
    limit = int(spec.get("backoffLimit", 6))
    return restarts > 0 if limit == 0 else restarts >= limit


def _finished(job: JSON) -> bool:
    return any(
        c["type"] in ("Complete", "Failed") and c["status"] == "True"
        for c in (job.get("status") or {}).get("conditions") or []
    )


class JobController:
    def __init__(self, config: SimConfig, api: Api, events: EventRecorder, loop: Loop) -> None:
        self._config = config
        self._api = api
        self._events = events
        self._loop = loop
        self._replacing: set[str] = (
            set()
        )  # job uids with a replacement pod waiting out its back-off

    def clear(self) -> None:
        self._replacing.clear()

    def on_change(self, change: Change) -> None:
        obj = change.obj
        if change.type_key == type_key(JOBS) and change.type != "DELETED":
            self._reconcile(obj["metadata"]["namespace"], obj["metadata"]["name"])
        elif change.type_key == type_key(PODS):
            for ref in obj["metadata"].get("ownerReferences") or []:
                if ref.get("kind") == "Job" and ref.get("controller"):
                    self._reconcile(obj["metadata"]["namespace"], ref["name"])

    def _reconcile(self, namespace: str, name: str) -> None:
        store = self._api.store
        with store.lock:
            job = store.get(type_key(JOBS), namespace, name)
            if job is None or job["metadata"].get("deletionTimestamp") or _finished(job):
                return
            uid = job["metadata"]["uid"]
            pods = [p for p in store.list(type_key(PODS), namespace) if controller_uid(p) == uid]
        spec = job["spec"]
        phases = [p["status"].get("phase") for p in pods]
        succeeded, failed = phases.count("Succeeded"), phases.count("Failed")
        active = [p for p in pods if not finished(p) and not p["metadata"].get("deletionTimestamp")]
        terminating = sum(
            1 for p in pods if p["metadata"].get("deletionTimestamp") and not finished(p)
        )
        ready = sum(
            1
            for p in active
            if any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in p["status"].get("conditions") or []
            )
        )
        status: JSON = {
            "active": len(active) or None,
            "succeeded": succeeded or None,
            "failed": failed or None,
            "ready": ready,
            "terminating": terminating,
            "startTime": (job.get("status") or {}).get("startTime") or timestamp(),
            "uncountedTerminatedPods": {},
        }
        completions = spec.get("completions") or 1
        if succeeded >= completions:
            self._finish(
                job,
                status,
                active,
                "Complete",
                "SuccessCriteriaMet",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
            )
            self._events.record(job, "Normal", "Completed", "Job completed", COMPONENT)
            return
        if failed > spec.get("backoffLimit", 6) or _past_backoff_limit_on_failure(spec, pods):
            self._finish(
                job,
                status,
                active,
                "Failed",
                "FailureTarget",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            )
            self._events.record(
                job,
                "Warning",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
                COMPONENT,
            )
            return
        self._write_status(job, status)
        wanted = min(spec.get("parallelism", 1), completions - succeeded) - len(active)
        if wanted <= 0 or uid in self._replacing:
            return
        if failed:
            self._replacing.add(uid)

            def replace() -> None:
                self._replacing.discard(uid)
                self._create_pods(namespace, name, uid, wanted)

            self._loop.call_later(self._config.scaled(pod_failure_backoff(failed)), replace)
        else:
            self._create_pods(namespace, name, uid, wanted)

    def _create_pods(self, namespace: str, name: str, uid: str, count: int) -> None:
        job = self._api.store.get(type_key(JOBS), namespace, name)
        if job is None or job["metadata"]["uid"] != uid or _finished(job):
            return
        template = job["spec"]["template"]
        for _ in range(count):
            pod = {
                "metadata": {
                    "generateName": f"{name}-",
                    "labels": dict((template.get("metadata") or {}).get("labels") or {}),
                    "annotations": dict((template.get("metadata") or {}).get("annotations") or {}),
                    "ownerReferences": [
                        {
                            "apiVersion": "batch/v1",
                            "kind": "Job",
                            "name": name,
                            "uid": uid,
                            "controller": True,
                            "blockOwnerDeletion": True,
                        }
                    ],
                },
                "spec": copy.deepcopy(template["spec"]),
            }
            try:
                created = self._api.create(PODS, namespace, pod).body
            except errors.ApiError as exc:
                self._events.record(
                    job, "Warning", "FailedCreate", f"Error creating: {exc.message}", COMPONENT
                )
                return
            self._events.record(
                job,
                "Normal",
                "SuccessfulCreate",
                f"Created pod: {created['metadata']['name']}",
                COMPONENT,
            )

    def _finish(
        self,
        job: JSON,
        status: JSON,
        active: list[JSON],
        outcome: str,
        target: str,
        reason: str,
        message: str,
    ) -> None:
        now = timestamp()
        status["conditions"] = [
            {
                "type": target,
                "status": "True",
                "reason": reason,
                "message": message,
                "lastProbeTime": now,
                "lastTransitionTime": now,
            },
            {
                "type": outcome,
                "status": "True",
                "reason": reason,
                "message": message,
                "lastProbeTime": now,
                "lastTransitionTime": now,
            },
        ]
        status["active"] = None
        if outcome == "Complete":
            status["completionTime"] = now  # only a Job that succeeds gets one
        else:  # a failed Job's pods still running are stopped, and count as failed
            status["failed"] = (status.get("failed") or 0) + len(active) or None
        self._write_status(job, status)
        for pod in active:
            try:
                self._api.delete(
                    PODS, pod["metadata"]["namespace"], pod["metadata"]["name"], DeleteOptions()
                )
            except errors.ApiError:
                continue  # already gone

    def _write_status(self, job: JSON, status: JSON) -> None:
        def change(obj: JSON) -> None:
            obj["status"] = {k: v for k, v in status.items() if v is not None}

        self._api.mutate(JOBS, job["metadata"]["namespace"], job["metadata"]["name"], change)
