"""Watch streams: the current state or a replay from a resourceVersion, then the changes of one
resource type, bookmarks when asked, until the timeout, the server's stop, or the client leaving."""

from __future__ import annotations

import queue
import select
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kubesim import errors
from kubesim.api import type_key
from kubesim.resources import ResourceType
from kubesim.selectors import FieldSelector, LabelSelector, fields_match, labels_match
from kubesim.store import CLOSED, Change, Watcher

if TYPE_CHECKING:
    from kubesim.cluster import Cluster

JSON = dict[str, Any]
# the watch cache waits this long (blockTimeout) for a resourceVersion it has not reached yet
TOO_LARGE_WAIT_SECONDS = 3.0
TOO_LARGE_RETRY_SECONDS = 1  # resourceVersionTooHighRetrySeconds


def too_large(since: int, current: int) -> errors.ApiError:
    """storage.NewTooLargeResourceVersionError: a 504 Timeout, retry after a second."""
    return errors.ApiError(
        504,
        "Timeout",
        f"Timeout: Too large resource version: {since}, current: {current}",
        {
            "causes": [
                {"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}
            ],
            "retryAfterSeconds": TOO_LARGE_RETRY_SECONDS,
        },
    )


def visible_type(change: Change, labels: LabelSelector, fields: FieldSelector) -> str | None:
    """What a filtered watch sees: objects entering or leaving the selection appear or vanish."""

    def matches(obj: JSON | None) -> bool:
        return (
            obj is not None
            and labels_match(labels, obj["metadata"].get("labels"))
            and fields_match(fields, obj)
        )

    now = matches(change.obj)
    if change.type == "MODIFIED":
        before = matches(change.old)
        if now and before:
            return "MODIFIED"
        return "ADDED" if now else ("DELETED" if before else None)
    return change.type if now else None


@dataclass
class WatchRequest:
    rt: ResourceType
    namespace: str | None
    labels: LabelSelector
    fields: FieldSelector
    since: int | None  # None: start from the current state
    timeout: float
    bookmarks: bool


class WatchStream:
    """One watch, written event by event with `send`; `connection` is the client's socket."""

    def __init__(
        self,
        cluster: Cluster,
        request: WatchRequest,
        send: Callable[[JSON], None],
        connection: socket.socket,
    ) -> None:
        self._cluster = cluster
        self._request = request
        self._send = send
        self._connection = connection

    def _register(self) -> tuple[Watcher, list[JSON]]:
        """The watcher and the events to start with (the current state, or a 410 / 504 ERROR)."""
        request, store = self._request, self._cluster.store
        key = type_key(request.rt)
        if request.since is not None:
            deadline = time.monotonic() + TOO_LARGE_WAIT_SECONDS
            while store.resource_version < request.since and time.monotonic() < deadline:
                time.sleep(0.01)
        with store.lock:
            if request.since is not None and request.since > store.resource_version:
                error = too_large(request.since, store.resource_version)
                return store.watch(key, request.namespace, None), [self._error(error)]
            try:
                watcher = store.watch(key, request.namespace, request.since)
            except errors.ApiError as exc:  # compacted: the apiserver says so inside the stream
                return store.watch(key, request.namespace, None), [self._error(exc)]
            if request.since is not None:
                return watcher, []
            current = self._cluster.api.select(
                request.rt, request.namespace, request.labels, request.fields
            )
        return watcher, [{"type": "ADDED", "object": obj} for obj in current]

    @staticmethod
    def _error(error: errors.ApiError) -> JSON:
        return {"type": "ERROR", "object": error.status()}

    def run(self) -> None:
        watcher, first = self._register()
        try:
            for event in first:
                self._send(event)
            if not any(event["type"] == "ERROR" for event in first):
                self._pump(watcher)
        finally:
            self._cluster.store.unwatch(watcher)

    def _client_gone(self) -> bool:
        """Has the client closed its end? (readable with nothing to read, or an error)"""
        try:
            readable, _, _ = select.select([self._connection], [], [], 0)
            return bool(readable) and self._connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _pump(self, watcher: Watcher) -> None:
        request, cluster = self._request, self._cluster
        deadline = time.monotonic() + request.timeout
        interval = cluster.config.bookmark_seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                change = watcher.queue.get(timeout=min(left, interval))
            except queue.Empty:
                if self._client_gone():
                    return
                if request.bookmarks:
                    self._bookmark(watcher)
                continue
            if change is CLOSED or cluster.stopping:
                return
            event_type = visible_type(change, request.labels, request.fields)
            if event_type:
                self._send({"type": event_type, "object": change.obj})

    def _bookmark(self, watcher: Watcher) -> None:
        """A BOOKMARK at the store's resourceVersion, read under the lock and only when no change
        is queued: it must never claim a change the client has not been sent yet."""
        store, rt = self._cluster.store, self._request.rt
        with store.lock:
            if not watcher.queue.empty():
                return
            meta = {"resourceVersion": str(store.resource_version)}
        self._send(
            {
                "type": "BOOKMARK",
                "object": {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": meta},
            }
        )
