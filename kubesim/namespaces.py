"""The namespace controller: a terminating namespace loses its contents, then itself."""

from __future__ import annotations

from kubesim import errors
from kubesim.api import Api, DeleteOptions, type_key
from kubesim.config import SimConfig
from kubesim.loop import Loop
from kubesim.resources import NAMESPACES, Registry
from kubesim.store import Change


class NamespaceController:
    def __init__(self, config: SimConfig, api: Api, loop: Loop, registry: Registry) -> None:
        self._config = config
        self._api = api
        self._loop = loop
        self._registry = registry
        self._terminating: set[str] = set()
        self._finalizing: set[str] = set()

    def clear(self) -> None:
        self._terminating.clear()
        self._finalizing.clear()

    def on_change(self, change: Change) -> None:
        meta = change.obj["metadata"]
        if change.type_key == type_key(NAMESPACES):
            if change.type == "DELETED":
                self._terminating.discard(meta["name"])
                self._finalizing.discard(meta["name"])
            elif meta.get("deletionTimestamp") and meta["name"] not in self._terminating:
                self._terminating.add(meta["name"])
                self._delete_contents(meta["name"])
                self._check_empty(meta["name"])
        elif change.type == "DELETED" and meta.get("namespace") in self._terminating:
            self._check_empty(meta["namespace"])

    def _namespaced_types(self) -> list[tuple[str, str]]:
        return sorted({type_key(rt) for rt in self._registry.all() if rt.namespaced})

    def _delete_contents(self, namespace: str) -> None:
        for rt in self._registry.all():
            if not rt.namespaced:
                continue
            for obj in self._api.select(rt, namespace):
                if obj["metadata"].get("deletionTimestamp"):
                    continue
                try:
                    self._api.delete(
                        rt,
                        namespace,
                        obj["metadata"]["name"],
                        DeleteOptions(propagation="Background"),
                    )
                except errors.ApiError:
                    continue  # gone meanwhile

    def _empty(self, namespace: str) -> bool:
        store = self._api.store
        with store.lock:
            return not any(store.count(key, namespace) for key in self._namespaced_types())

    def _check_empty(self, namespace: str) -> None:
        if namespace in self._finalizing or not self._empty(namespace):
            return
        self._finalizing.add(namespace)
        self._loop.call_later(
            self._config.scaled(self._config.namespace_delete_seconds),
            lambda: self._finalize(namespace),
        )

    def _finalize(self, namespace: str) -> None:
        """The controller's /finalize call: spec.finalizers emptied, the namespace goes."""
        self._finalizing.discard(namespace)
        if not self._empty(namespace):
            return

        def change(ns: dict[str, object]) -> None:
            ns["spec"] = {}

        self._api.mutate(NAMESPACES, "", namespace, change)
