"""CustomResourceDefinitions: their resources are served while they exist, and go with them."""

from __future__ import annotations

from typing import Any

from kubesim.api import Api, type_key
from kubesim.resources import CRDS, Registry, custom_types_of
from kubesim.store import Change
from kubesim.strategies import CRD_CLEANUP_FINALIZER

JSON = dict[str, Any]


class CrdController:
    def __init__(self, api: Api, registry: Registry) -> None:
        self._api = api
        self._registry = registry

    def register(self, change: Change) -> None:
        """Store listener (under the store lock): serve a CRD's resources once it is stored."""
        if change.type_key != type_key(CRDS):
            return
        name = change.obj["metadata"]["name"]
        self._registry.set_custom(
            name, [] if change.type == "DELETED" else custom_types_of(change.obj)
        )

    def on_change(self, change: Change) -> None:
        meta = change.obj["metadata"]
        if (
            change.type_key != type_key(CRDS)
            or change.type == "DELETED"
            or not meta.get("deletionTimestamp")
        ):
            return
        if CRD_CLEANUP_FINALIZER not in (meta.get("finalizers") or []):
            return
        store = self._api.store
        with store.lock:
            for rt in custom_types_of(change.obj):
                for obj in store.list(type_key(rt)):
                    store.remove(type_key(rt), obj)

            def drop(crd: JSON) -> None:
                crd["metadata"]["finalizers"] = [
                    f for f in crd["metadata"]["finalizers"] if f != CRD_CLEANUP_FINALIZER
                ]

            self._api.mutate(CRDS, "", meta["name"], drop)
