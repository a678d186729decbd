"""Object storage with a cluster-wide resourceVersion, a bounded event history and watch fan-out.

Stored objects are never mutated in place: writers hand over a fresh dict and readers may keep a
reference and serialise it outside the lock.
"""

from __future__ import annotations

import pickle
import queue
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubesim.errors import expired

JSON = dict[str, Any]
TypeKey = tuple[str, str]  # (group, plural): one store per resource, whatever the version
ObjKey = tuple[str, str]  # (namespace or "", name)


@dataclass(frozen=True)
class Change:
    rv: int
    type: str  # ADDED, MODIFIED or DELETED
    type_key: TypeKey
    obj: JSON
    old: JSON | None


CLOSED = None  # queued to a watcher to end it


class Watcher:
    def __init__(self, type_key: TypeKey, namespace: str | None) -> None:
        self.type_key = type_key
        self.namespace = namespace
        self.queue: queue.SimpleQueue[Change | None] = queue.SimpleQueue()

    def wants(self, change: Change) -> bool:
        return change.type_key == self.type_key and (
            self.namespace is None or change.obj["metadata"].get("namespace") == self.namespace
        )


def clone(obj: JSON) -> JSON:
    """A deep copy of a JSON object; pickling is about three times faster than copy.deepcopy."""
    copied: JSON = pickle.loads(pickle.dumps(obj, pickle.HIGHEST_PROTOCOL))
    return copied


def key_of(obj: JSON) -> ObjKey:
    meta = obj["metadata"]
    return meta.get("namespace") or "", meta["name"]


class Store:
    def __init__(self, window: int) -> None:
        self.lock = threading.RLock()
        # type -> namespace ("" when cluster-scoped) -> name -> object
        self._objects: dict[TypeKey, dict[str, dict[str, JSON]]] = {}
        self._rv = 0
        self._history: deque[Change] = deque(maxlen=window)
        self._compacted = 0  # every resourceVersion up to here has left the history
        self._watchers: set[Watcher] = set()
        self._listeners: list[Callable[[Change], None]] = []

    @property
    def resource_version(self) -> int:
        return self._rv

    def add_listener(self, listener: Callable[[Change], None]) -> None:
        """Called under the lock for every change; it must only enqueue."""
        self._listeners.append(listener)

    def get(self, type_key: TypeKey, namespace: str, name: str) -> JSON | None:
        return self._objects.get(type_key, {}).get(namespace, {}).get(name)

    def list(self, type_key: TypeKey, namespace: str | None = None) -> list[JSON]:
        spaces = self._objects.get(type_key, {})
        if namespace is None:
            return [obj for names in spaces.values() for obj in names.values()]
        return list(spaces.get(namespace, {}).values())

    def count(self, type_key: TypeKey, namespace: str) -> int:
        return len(self._objects.get(type_key, {}).get(namespace, {}))

    def put(self, type_key: TypeKey, obj: JSON) -> Change:
        """Store a new or changed object, stamping the next resourceVersion on it."""
        with self.lock:
            namespace, name = key_of(obj)
            names = self._objects.setdefault(type_key, {}).setdefault(namespace, {})
            old = names.get(name)
            self._rv += 1
            obj["metadata"]["resourceVersion"] = str(self._rv)
            names[name] = obj
            return self._record(
                Change(self._rv, "MODIFIED" if old else "ADDED", type_key, obj, old)
            )

    def remove(self, type_key: TypeKey, obj: JSON) -> Change:
        """Drop an object; the DELETED event carries its last state at a new resourceVersion."""
        with self.lock:
            namespace, name = key_of(obj)
            spaces = self._objects.get(type_key, {})
            names = spaces.get(namespace, {})
            old = names.pop(name, None)
            if not names:
                spaces.pop(namespace, None)
            self._rv += 1
            final = {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(self._rv)}}
            return self._record(Change(self._rv, "DELETED", type_key, final, old))

    def _record(self, change: Change) -> Change:
        if len(self._history) == self._history.maxlen:
            self._compacted = self._history[0].rv
        self._history.append(change)
        for watcher in self._watchers:
            if watcher.wants(change):
                watcher.queue.put(change)
        for listener in self._listeners:
            listener(change)
        return change

    def watch(self, type_key: TypeKey, namespace: str | None, since: int | None) -> Watcher:
        """Register a watcher; with `since`, replay the kept changes after it (410 if compacted)."""
        with self.lock:
            watcher = Watcher(type_key, namespace)
            if since is not None:
                if since < self._compacted:
                    oldest = self._history[0].rv if self._history else self._rv
                    raise expired(f"too old resource version: {since} ({oldest})")
                for change in self._history:
                    if change.rv > since and watcher.wants(change):
                        watcher.queue.put(change)
            self._watchers.add(watcher)
            return watcher

    def unwatch(self, watcher: Watcher) -> None:
        with self.lock:
            self._watchers.discard(watcher)

    @property
    def watch_count(self) -> int:
        return len(self._watchers)

    def clear(self) -> None:
        """Forget every object and end every watch; resourceVersions stay monotonic."""
        with self.lock:
            self._objects.clear()
            self._history.clear()
            self._compacted = self._rv
            for watcher in self._watchers:
                watcher.queue.put(CLOSED)
            self._watchers.clear()
