"""Records core/v1 Events about objects, counting repeats as client-go's recorder does (among the
events it still remembers)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from kubesim.api import type_key
from kubesim.clock import timestamp
from kubesim.nodeapi import NodeApi
from kubesim.resources import EVENTS, NAMESPACES

JSON = dict[str, Any]
SEEN_MAX = 4096  # client-go's EventCorrelator keeps this many recent events (maxLruCacheEntries)


class EventRecorder:
    def __init__(self, api: NodeApi) -> None:
        self._api = api
        self._lock = threading.Lock()
        # (uid, reason, message, field path) -> event name, least recently seen first
        self._seen: OrderedDict[tuple[str, str, str, str], str] = OrderedDict()

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()

    def record(
        self,
        obj: JSON,
        event_type: str,
        reason: str,
        message: str,
        component: str,
        host: str = "",
        field_path: str = "",
    ) -> None:
        meta = obj["metadata"]
        namespace = meta.get("namespace") or "default"
        key = (meta.get("uid", ""), reason, message, field_path)
        now = timestamp()
        store = self._api.store
        with store.lock:
            ns = store.get(type_key(NAMESPACES), "", namespace)
            if ns is None or ns["metadata"].get("deletionTimestamp"):
                return  # the apiserver refuses events into a namespace that is going
            with self._lock:
                existing = self._seen.get(key)
                if existing is not None:
                    self._seen.move_to_end(key)
            if existing is not None:

                def bump(event: JSON) -> None:
                    event["count"] = event.get("count", 1) + 1
                    event["lastTimestamp"] = now

                if self._api.mutate(EVENTS, namespace, existing, bump) is not None:
                    return
            name = f"{meta['name']}.{self._api.ids.hex(16)}"
            involved = {
                "kind": obj.get("kind"),
                "namespace": meta.get("namespace"),
                "name": meta["name"],
                "uid": meta.get("uid"),
                "apiVersion": obj.get("apiVersion"),
                "resourceVersion": meta.get("resourceVersion"),
                "fieldPath": field_path or None,
            }
            event = {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "uid": self._api.ids.uid(),
                    "creationTimestamp": now,
                },
                "involvedObject": {k: v for k, v in involved.items() if v is not None},
                "reason": reason,
                "message": message,
                "source": {"component": component, **({"host": host} if host else {})},
                "firstTimestamp": now,
                "lastTimestamp": now,
                "count": 1,
                "type": event_type,
                "eventTime": None,
                "reportingComponent": component,
                "reportingInstance": host,
            }
            store.put(type_key(EVENTS), event)
            with self._lock:
                self._seen[key] = name
                if len(self._seen) > SEEN_MAX:
                    self._seen.popitem(last=False)
