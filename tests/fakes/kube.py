"""A cluster in memory that keeps the `kube.KubeApi` contract, for fast tests of the steps.

It answers as the apiserver does where lessonq's logic depends on it: a taken name is 409
AlreadyExists, a namespace that does not exist is 404 and one that is terminating is 403 (no new
content), a delete with a stale uid leaves the object alone, a deleted namespace stays
terminating (with its contents) until the test finishes it. Label selectors are equality-only
(all lessonq uses); anything else is refused rather than guessed. Errors for the next calls of a
verb are queued with `fail`; every call is kept in `calls`, and `on_call` (when set) is told of
each one before it is answered: the world moving while a request is in flight (a teardown
starting, time passing).
"""

from __future__ import annotations

import copy
import itertools
import uuid
from collections import defaultdict, deque
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass

from kube import KubeError, Listing, Obj, PermanentError, WatchEvent, describe
from kube.kinds import JOB, NAMESPACE, POD, Kind, kind_of

Key = tuple[str, str, str]  # kind, namespace ("" for cluster-wide kinds), name

# A pod whose containers run and pass their readiness probes, as the kubelet reports it.
READY_STATUS: Obj = {
    "phase": "Running",
    "conditions": [
        {"type": "PodScheduled", "status": "True"},
        {"type": "ContainersReady", "status": "True"},
        {"type": "Ready", "status": "True"},
    ],
}


@dataclass(frozen=True)
class Call:
    verb: str
    kind: str
    namespace: str | None
    name: str | None


def _matches(labels: dict[str, str], selector: str) -> bool:
    for term in filter(None, selector.split(",")):
        key, equals, value = term.partition("=")
        if not equals or any(c in key + value for c in "!()<> "):
            raise ValueError(f"the fake cluster takes equality selectors only, not {term!r}")
        if labels.get(key) != value:
            return False
    return True


def _merge(target: Obj, patch: Obj) -> None:
    """RFC 7386: objects merge, null removes, anything else replaces."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


class FakeKube:
    def __init__(self) -> None:
        self.objects: dict[Key, Obj] = {}
        self.calls: list[Call] = []
        self._failures: dict[str, deque[KubeError]] = defaultdict(deque)
        self._versions = itertools.count(1)
        # What a watch yields, once, when the test sets it: events, or a function making them.
        self.watch_events: Callable[[], Iterable[WatchEvent]] | None = None
        # Told of every call before it is answered (and before a queued failure is raised).
        self.on_call: Callable[[Call], None] | None = None
        # What each pod printed: (namespace, pod) -> text, as `log` answers it.
        self.logs: dict[tuple[str, str], str] = {}

    # What the test arranges.

    def fail(self, verb: str, *errors: KubeError) -> None:
        """The next calls of `verb` (create, read, list, watch, delete, patch) raise these
        errors."""
        self._failures[verb].extend(errors)

    def put(self, obj: Obj) -> Obj:
        """An object that exists already (made by someone else), as the API would store it."""
        stored = self._stamp(copy.deepcopy(obj))
        self.objects[self._key_of(stored)] = stored
        return copy.deepcopy(stored)

    def finish_terminating(self, namespace: str) -> None:
        """The namespace controller is done: the namespace and its contents are gone."""
        going = [key for key in self.objects if key[1] == namespace or key == self._ns(namespace)]
        for key in going:
            del self.objects[key]

    def set_status(self, kind: Kind, namespace: str, name: str, status: Obj) -> Obj:
        """What a controller or the kubelet reports of an object."""
        obj = self.objects[(kind.kind, namespace, name)]
        obj["status"] = copy.deepcopy(status)
        obj["metadata"]["resourceVersion"] = str(next(self._versions))
        return copy.deepcopy(obj)

    def set_pod_status(self, namespace: str, name: str, status: Obj) -> Obj:
        return self.set_status(POD, namespace, name, status)

    def finish_jobs(self, namespace: str, condition: str = "Complete", **details: str) -> None:
        """The Job controller's verdict on every Job of the namespace not yet finished."""
        for key in [key for key in self.objects if key[0] == JOB.kind and key[1] == namespace]:
            if not (self.objects[key].get("status") or {}).get("conditions"):
                status = {"conditions": [{"type": condition, "status": "True", **details}]}
                self.set_status(JOB, namespace, key[2], status)

    def run_pods(self, namespace: str) -> None:
        """The kubelet's work: every pod of the namespace running, its containers ready."""
        for key in [key for key in self.objects if key[0] == POD.kind and key[1] == namespace]:
            self.set_pod_status(namespace, key[2], READY_STATUS)

    def names(self, kind: Kind, namespace: str | None = None) -> list[str]:
        return sorted(
            key[2] for key in self.objects if key[0] == kind.kind and key[1] == (namespace or "")
        )

    def verbs(self) -> list[str]:
        return [call.verb for call in self.calls]

    # KubeApi.

    def create(self, manifest: Obj) -> Obj:
        kind = kind_of(manifest)
        metadata = manifest["metadata"]
        self._called("create", kind, metadata.get("namespace"), metadata["name"])
        if kind.namespaced:
            namespace = self.objects.get(self._ns(metadata["namespace"]))
            if namespace is None:
                raise PermanentError(
                    f'{describe(manifest)}: namespaces "{metadata["namespace"]}" not found',
                    status=404,
                    reason="NotFound",
                )
            if "deletionTimestamp" in namespace["metadata"]:
                raise PermanentError(
                    f'{describe(manifest)}: {kind.plural} "{metadata["name"]}" is forbidden: '
                    f"unable to create new content in namespace {metadata['namespace']} "
                    "because it is being terminated",
                    status=403,
                    reason="Forbidden",
                )
        key = self._key_of(manifest)
        if key in self.objects:
            raise PermanentError(
                f'{describe(manifest)}: {kind.plural} "{metadata["name"]}" already exists',
                status=409,
                reason="AlreadyExists",
            )
        stored = self._stamp(copy.deepcopy(manifest))
        if kind is POD:
            stored["status"] = {"phase": "Pending"}
        self.objects[key] = stored
        return copy.deepcopy(stored)

    def read(self, kind: Kind, name: str, namespace: str | None = None) -> Obj | None:
        self._called("read", kind, namespace, name)
        found = self.objects.get((kind.kind, namespace or "", name))
        return copy.deepcopy(found) if found is not None else None

    def listing(self, kind: Kind, namespace: str | None, label_selector: str) -> Listing:
        self._called("list", kind, namespace, None)
        items = [
            copy.deepcopy(obj)
            for key, obj in sorted(self.objects.items())
            if key[0] == kind.kind
            and (namespace is None or key[1] == namespace)
            and _matches(obj["metadata"].get("labels") or {}, label_selector)
        ]
        return Listing(items, str(next(self._versions)))

    def watch(
        self,
        kind: Kind,
        namespace: str | None,
        label_selector: str,
        since: str,
        seconds: float,
    ) -> Generator[WatchEvent, None, None]:
        self._called("watch", kind, namespace, None)
        events, self.watch_events = self.watch_events, None
        yield from (events() if events is not None else ())

    def delete(
        self,
        kind: Kind,
        name: str,
        uid: str,
        namespace: str | None = None,
        grace_seconds: int | None = None,
    ) -> Obj | None:
        self._called("delete", kind, namespace, name)
        key = (kind.kind, namespace or "", name)
        found = self.objects.get(key)
        if found is None or found["metadata"]["uid"] != uid:
            return None  # gone, or another object of that name: left alone
        if kind is NAMESPACE:
            found["metadata"].setdefault("deletionTimestamp", "2026-01-01T00:00:00Z")
            return copy.deepcopy(found)
        del self.objects[key]
        return None

    def merge_patch(
        self, kind: Kind, name: str, patch: Obj, namespace: str | None = None
    ) -> Obj | None:
        self._called("patch", kind, namespace, name)
        found = self.objects.get((kind.kind, namespace or "", name))
        if found is None:
            return None
        _merge(found, patch)
        found["metadata"]["resourceVersion"] = str(next(self._versions))
        return copy.deepcopy(found)

    def patch_status(
        self, kind: Kind, name: str, status: Obj, namespace: str | None = None
    ) -> Obj | None:
        self._called("patch-status", kind, namespace, name)
        found = self.objects.get((kind.kind, namespace or "", name))
        if found is None:
            return None
        current = found.setdefault("status", {})
        for key, value in status.items():
            if key == "conditions":  # merged by type, as a strategic merge patch does
                kept = [
                    c
                    for c in current.get("conditions", [])
                    if c["type"] not in {new["type"] for new in value}
                ]
                current["conditions"] = kept + copy.deepcopy(value)
            else:
                current[key] = copy.deepcopy(value)
        found["metadata"]["resourceVersion"] = str(next(self._versions))
        return copy.deepcopy(found)

    def log(self, namespace: str, pod: str, tail_lines: int, limit_bytes: int) -> str:
        self._called("log", POD, namespace, pod)
        if (POD.kind, namespace, pod) not in self.objects:
            raise PermanentError(f'pods "{pod}" not found', status=404, reason="NotFound")
        lines = self.logs.get((namespace, pod), "").splitlines(keepends=True)
        return "".join(lines[-tail_lines:])[-limit_bytes:]

    def close(self) -> None:
        """Nothing to release."""

    # Inside.

    def _called(self, verb: str, kind: Kind, namespace: str | None, name: str | None) -> None:
        call = Call(verb, kind.kind, namespace, name)
        self.calls.append(call)
        if self.on_call is not None:
            self.on_call(call)
        if self._failures[verb]:
            raise self._failures[verb].popleft()

    @staticmethod
    def _ns(name: str) -> Key:
        return (NAMESPACE.kind, "", name)

    @staticmethod
    def _key_of(obj: Obj) -> Key:
        metadata = obj["metadata"]
        return (obj["kind"], metadata.get("namespace") or "", metadata["name"])

    def _stamp(self, obj: Obj) -> Obj:
        metadata = obj["metadata"]
        metadata.setdefault("uid", str(uuid.uuid4()))
        metadata["resourceVersion"] = str(next(self._versions))
        metadata.setdefault("creationTimestamp", "2026-01-01T00:00:00Z")
        return obj
