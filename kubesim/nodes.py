"""kubesim's nodes on a real control plane (KWOK's idea): Node objects with a Ready condition and
renewed heartbeats, and kubesim's own kubelet and Multus rules running the pods the real
scheduler binds to them, with lessonq's simulated link agent beside each kubelet.

The kubelet is the one `Cluster` runs, unchanged: here it reads a mirror of the apiserver kept by
list-and-watch, and writes through the apiserver (pod status through `pods/status`, events, the
final delete with grace 0), so kubesim and a real control plane share one definition of what a
node does."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import urllib3

from kubesim import multus
from kubesim.api import type_key
from kubesim.clock import Ids, timestamp
from kubesim.config import SimConfig
from kubesim.events import EventRecorder
from kubesim.kubelet import Kubelet
from kubesim.linkagent import LinkAgent
from kubesim.loop import Loop
from kubesim.node import node_object, ready_condition
from kubesim.resources import (
    CONFIG_MAPS,
    EVENTS,
    NAMESPACES,
    PODS,
    SECRETS,
    ResourceType,
    custom_types_of,
)
from kubesim.store import Change, TypeKey, clone

JSON = dict[str, Any]
HEARTBEAT_SECONDS = 10.0  # the kubelet's default nodeStatusUpdateFrequency
CONFLICT_RETRIES = 5
WATCH_SECONDS = 60
STRATEGIC_MERGE = "application/strategic-merge-patch+json"


@dataclass(frozen=True)
class Endpoint:
    """An apiserver and the bearer token to use on it."""

    url: str
    token: str
    ca_file: Path | None = None


class ApiError(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"{status}: {body[:300]}")
        self.status = status


class Remote:
    """JSON over HTTPS to the apiserver."""

    def __init__(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint
        self._http = urllib3.PoolManager(
            maxsize=8,
            ca_certs=str(endpoint.ca_file) if endpoint.ca_file else None,
        )
        self._headers = {"Authorization": f"Bearer {endpoint.token}", "Accept": "application/json"}

    def request(
        self,
        method: str,
        path: str,
        body: JSON | None = None,
        content_type: str = "application/json",
        **query: Any,
    ) -> JSON:
        url = self._endpoint.url + path + (f"?{urlencode(query)}" if query else "")
        data = json.dumps(body).encode() if body is not None else None
        headers = {**self._headers, "Content-Type": content_type}
        answer = self._http.request(method, url, body=data, headers=headers, timeout=30.0)
        if answer.status >= 300:
            raise ApiError(answer.status, answer.data.decode(errors="replace"))
        result: JSON = json.loads(answer.data)
        return result

    def stream(self, path: str, **query: Any) -> Iterator[JSON]:
        url = self._endpoint.url + path + f"?{urlencode(query)}"
        answer = self._http.request(
            "GET",
            url,
            headers=self._headers,
            preload_content=False,
            timeout=urllib3.Timeout(connect=10, read=None),
        )
        try:
            if answer.status >= 300:
                raise ApiError(answer.status, answer.read().decode(errors="replace"))
            buffer = b""
            for chunk in answer.stream(65536):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip():
                        yield json.loads(line)
        finally:
            answer.release_conn()


def object_path(rt: ResourceType, namespace: str, name: str = "") -> str:
    scope = f"/namespaces/{quote(namespace)}" if rt.namespaced and namespace else ""
    return f"{rt.base_path()}{scope}/{rt.plural}" + (f"/{quote(name)}" if name else "")


def _where(obj: JSON) -> tuple[str, str]:
    return obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


def _rv(obj: JSON) -> int:
    return int(obj["metadata"].get("resourceVersion") or 0)


class Mirror:
    """What the kubelet reads: the watched kinds as the apiserver last said, and the writes the
    kubelet makes, sent to the apiserver (the subset of kubesim's Store and Api it uses)."""

    def __init__(self, remote: Remote, ids: Ids) -> None:
        self.remote = remote
        self.ids = ids
        self.lock = threading.RLock()
        self._objects: dict[tuple[TypeKey, str, str], JSON] = {}
        self._kinds = {type_key(rt): rt for rt in WATCHED}

    @property
    def store(self) -> Mirror:
        return self

    def get(self, key: TypeKey, namespace: str, name: str) -> JSON | None:
        with self.lock:
            return self._objects.get((key, namespace, name))

    def seen(self, key: TypeKey, obj: JSON, deleted: bool = False) -> JSON | None:
        """Record what the apiserver said; returns the object this replaces. An older version
        than one already held (a watch event behind the kubelet's own write) is ignored."""
        at = (key, *_where(obj))
        with self.lock:
            old = self._objects.get(at)
            if old is not None and _rv(old) > _rv(obj):
                return old
            if deleted:
                self._objects.pop(at, None)
            else:
                self._objects[at] = obj
            return old

    def replace(self, key: TypeKey, items: list[JSON]) -> list[Change]:
        """A fresh list of one kind: what it adds, changes, and (gone since) deletes."""
        listed = {
            (item["metadata"].get("namespace", ""), item["metadata"]["name"]) for item in items
        }
        with self.lock:
            gone = [
                obj
                for (kind, namespace, name), obj in self._objects.items()
                if kind == key and (namespace, name) not in listed
            ]
        changes = [Change(_rv(obj), "DELETED", key, obj, self.seen(key, obj, True)) for obj in gone]
        for item in items:
            old = self.seen(key, item)
            changes.append(Change(_rv(item), "MODIFIED" if old else "ADDED", key, item, old))
        return changes

    def put(self, key: TypeKey, obj: JSON) -> None:
        """A new object of the kubelet's: events are all it creates."""
        if key != type_key(EVENTS):
            raise ValueError(f"the node simulator creates no {key}")
        namespace = obj["metadata"]["namespace"]
        try:
            self.remote.request("POST", object_path(EVENTS, namespace), obj)
        except ApiError as error:
            if error.status not in (403, 404, 409):  # a namespace going away refuses events
                raise

    def mutate(
        self, rt: ResourceType, namespace: str, name: str, change: Callable[[JSON], None]
    ) -> JSON | None:
        """Read-modify-write through the apiserver, again on a conflict; None when it is gone.
        A pod whose grace the change ends (the kubelet's last word on a terminating pod) then
        goes with a delete of grace 0, as a real kubelet deletes it."""
        key = type_key(rt)
        for _ in range(CONFLICT_RETRIES):
            current = self.get(key, namespace, name)
            if current is None:
                return None
            new = clone(current)
            change(new)
            grace = current["metadata"].get("deletionGracePeriodSeconds")
            finishing = rt == PODS and new["metadata"].get("deletionGracePeriodSeconds") == 0
            if finishing:  # immutable here: the delete below ends it
                new["metadata"]["deletionGracePeriodSeconds"] = grace
            path = object_path(rt, namespace, name) + ("/status" if rt.status_subresource else "")
            try:
                written = self.remote.request("PUT", path, new)
            except ApiError as error:
                if error.status == 404:
                    self.seen(key, current, deleted=True)
                    return None
                if error.status != 409:
                    raise
                self._refresh(rt, namespace, name)
                continue
            self.seen(key, written)
            if finishing:
                self._delete_now(written)
            return written
        return None

    def patch_status(self, rt: ResourceType, namespace: str, name: str, patch: JSON) -> None:
        """A strategic merge patch of the status subresource (the link agent's write)."""
        path = object_path(rt, namespace, name) + "/status"
        try:
            written = self.remote.request("PATCH", path, patch, STRATEGIC_MERGE)
        except ApiError as error:
            if error.status != 404:
                raise
            return
        self.seen(type_key(rt), written)

    def _refresh(self, rt: ResourceType, namespace: str, name: str) -> None:
        try:
            self.seen(type_key(rt), self.remote.request("GET", object_path(rt, namespace, name)))
        except ApiError as error:
            if error.status != 404:
                raise

    def _delete_now(self, pod: JSON) -> None:
        meta = pod["metadata"]
        options = {"gracePeriodSeconds": 0, "preconditions": {"uid": meta["uid"]}}
        try:
            self.remote.request(
                "DELETE", object_path(PODS, meta["namespace"], meta["name"]), options
            )
        except ApiError as error:
            if error.status not in (404, 409):
                raise


# what the kubelet reads: its pods, the networks they name, the objects their volumes and
# environment come from, and the namespaces events go to
WATCHED: tuple[ResourceType, ...] = (
    PODS,
    NAMESPACES,
    CONFIG_MAPS,
    SECRETS,
    custom_types_of(multus.MULTUS_CRD)[0],
)


class SimulatedNodes:
    """Nodes named in `config.nodes`, registered on the apiserver at `endpoint` (with a token
    that may create nodes and write pods' status: an admin's), until `stop()`."""

    def __init__(
        self, endpoint: Endpoint, config: SimConfig, heartbeat_seconds: float = HEARTBEAT_SECONDS
    ) -> None:
        self.config = config
        self._heartbeat_seconds = heartbeat_seconds
        self._remote = Remote(endpoint)
        self._ids = Ids(config.seed)
        self._mirror = Mirror(self._remote, self._ids)
        self._loop = Loop()
        events = EventRecorder(self._mirror)
        self._kubelet = Kubelet(config, self._mirror, events, self._loop, self._ids)
        self._link_agent = LinkAgent(config, self._mirror, self._mirror, events, self._loop)
        self._loop.subscribe(self._kubelet.on_change)
        self._loop.subscribe(self._link_agent.on_change)
        self._stopped = threading.Event()
        self._listed: set[ResourceType] = set()
        self._synced = threading.Barrier(len(WATCHED) + 1)  # start() returns once all listed

    def start(self) -> SimulatedNodes:
        version = self._remote.request("GET", "/version")["gitVersion"]
        for index, name in enumerate(self.config.nodes):
            resources = self.config.allocatable_of(name)
            node = node_object(name, index, version, self._ids, timestamp(), resources)
            self._create("/api/v1/nodes", node)
        for handler in self.config.runtime_classes:  # the runtimes these nodes have
            runtime_class = {"metadata": {"name": handler}, "handler": handler}
            self._create("/apis/node.k8s.io/v1/runtimeclasses", runtime_class)
        self._loop.start()
        for rt in WATCHED:
            self._spawn(f"watch-{rt.plural}", lambda rt=rt: self._watch(rt))  # type: ignore[misc]
        self._spawn("heartbeat", self._heartbeat)
        self._synced.wait(timeout=60)
        return self

    def stop(self) -> None:
        """The watches end at their next event or error (daemon threads: nobody waits)."""
        self._stopped.set()
        self._loop.stop()

    def __enter__(self) -> SimulatedNodes:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _create(self, path: str, obj: JSON) -> None:
        """Create unless there (nodes simulated before, in the same cluster)."""
        try:
            self._remote.request("POST", path, obj)
        except ApiError as error:
            if error.status != 409:
                raise

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        threading.Thread(target=target, name=f"kubesim-nodes-{name}", daemon=True).start()

    def _heartbeat(self) -> None:
        """The Ready condition's heartbeat: the node controller marks a node silent for 40 s
        unreachable, and the scheduler then places nothing on it."""
        while not self._stopped.wait(self._heartbeat_seconds):
            for name in self.config.nodes:
                patch = {"status": {"conditions": [ready_condition(timestamp())]}}
                try:
                    self._remote.request(
                        "PATCH", f"/api/v1/nodes/{name}/status", patch, STRATEGIC_MERGE
                    )
                except (ApiError, urllib3.exceptions.HTTPError) as error:
                    print(f"kubesim nodes: heartbeat of {name} failed: {error}", file=sys.stderr)

    def _watch(self, rt: ResourceType) -> None:
        """An informer: list, then watch from the list's version, and on from the last version
        seen when a watch ends; list again only when that version has expired (410)."""
        version = ""
        while not self._stopped.is_set():
            try:
                version = version or self._list(rt)
                version = self._follow(rt, version)
            except (ApiError, urllib3.exceptions.HTTPError, json.JSONDecodeError, ValueError):
                version = ""
                if self._stopped.wait(0.5):
                    return

    def _list(self, rt: ResourceType) -> str:
        key = type_key(rt)
        listed = self._remote.request("GET", object_path(rt, ""))
        for item in listed["items"]:
            item.setdefault("apiVersion", rt.api_version)
            item.setdefault("kind", rt.kind)
        for change in self._mirror.replace(key, listed["items"]):
            self._loop.notify(change)
        if rt not in self._listed:
            self._listed.add(rt)
            self._synced.wait(timeout=60)
        return str(listed["metadata"]["resourceVersion"])

    def _follow(self, rt: ResourceType, version: str) -> str:
        """Watch from `version`; the last version seen, or "" when it has expired."""
        key = type_key(rt)
        for event in self._remote.stream(
            object_path(rt, ""),
            watch="1",
            resourceVersion=version,
            timeoutSeconds=WATCH_SECONDS,
            allowWatchBookmarks="true",
        ):
            if self._stopped.is_set():
                break
            kind, obj = event["type"], event["object"]
            if kind == "ERROR":
                return ""  # 410 Expired: list again
            version = obj["metadata"]["resourceVersion"]
            if kind != "BOOKMARK":
                old = self._mirror.seen(key, obj, deleted=kind == "DELETED")
                self._loop.notify(Change(_rv(obj), kind, key, obj, old))
        return version
