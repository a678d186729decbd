"""The garbage collector: ownerReferences cascade (background and foreground) and orphaning."""

from __future__ import annotations

from typing import Any

from kubesim import errors
from kubesim.api import FOREGROUND_FINALIZER, ORPHAN_FINALIZER, Api, DeleteOptions
from kubesim.resources import Registry
from kubesim.store import Change, TypeKey

JSON = dict[str, Any]
Dependent = tuple[TypeKey, str, str]  # (type, namespace, name)


def _owner_uids(obj: JSON | None) -> set[str]:
    if obj is None:
        return set()
    return {str(ref.get("uid")) for ref in obj["metadata"].get("ownerReferences") or []}


class GarbageCollector:
    def __init__(self, api: Api, registry: Registry) -> None:
        self._api = api
        self._registry = registry
        self._dependents: dict[str, set[Dependent]] = {}  # owner uid -> dependents
        self._owners: dict[str, tuple[TypeKey, str, str]] = {}  # uid -> where, for deleting owners

    def clear(self) -> None:
        self._dependents.clear()
        self._owners.clear()

    def on_change(self, change: Change) -> None:
        meta = change.obj["metadata"]
        where: Dependent = (change.type_key, meta.get("namespace", ""), meta["name"])
        for uid in _owner_uids(change.old) - _owner_uids(
            change.obj if change.type != "DELETED" else None
        ):
            self._dependents.get(uid, set()).discard(where)
        if change.type == "DELETED":
            self._owners.pop(meta["uid"], None)
            self._collect(meta["uid"])
            for uid in _owner_uids(change.obj):
                self._dependents.get(uid, set()).discard(where)
                self._maybe_release(uid)
            return
        for uid in _owner_uids(change.obj):
            self._dependents.setdefault(uid, set()).add(where)
        self._owners[meta["uid"]] = where
        finalizers = meta.get("finalizers") or []
        if meta.get("deletionTimestamp") and ORPHAN_FINALIZER in finalizers:
            self._orphan(meta["uid"])
        elif meta.get("deletionTimestamp") and FOREGROUND_FINALIZER in finalizers:
            self._collect(meta["uid"])
            self._maybe_release(meta["uid"])

    def _resource(self, key: TypeKey) -> Any:
        return self._registry.by_key(*key)

    def _collect(self, owner_uid: str) -> None:
        """Delete the dependents of a gone (or foreground-deleting) owner."""
        for key, namespace, name in sorted(self._dependents.get(owner_uid, set())):
            rt = self._resource(key)
            obj = self._api.store.get(key, namespace, name)
            if rt is None or obj is None or obj["metadata"].get("deletionTimestamp"):
                continue
            if (_owner_uids(obj) - {owner_uid}) & set(self._owners):
                continue  # another owner still holds it
            try:
                self._api.delete(rt, namespace, name, DeleteOptions(propagation="Background"))
            except errors.ApiError:
                continue

    def _orphan(self, owner_uid: str) -> None:
        for key, namespace, name in sorted(self._dependents.pop(owner_uid, set())):
            rt = self._resource(key)
            if rt is None:
                continue

            def drop_ref(obj: JSON) -> None:
                refs = [
                    r
                    for r in obj["metadata"].get("ownerReferences") or []
                    if r.get("uid") != owner_uid
                ]
                if refs:
                    obj["metadata"]["ownerReferences"] = refs
                else:
                    obj["metadata"].pop("ownerReferences", None)

            self._api.mutate(rt, namespace, name, drop_ref)
        self._remove_finalizer(owner_uid, ORPHAN_FINALIZER)

    def _maybe_release(self, owner_uid: str) -> None:
        """A foreground-deleting owner goes once its dependents have."""
        if not self._dependents.get(owner_uid):
            self._remove_finalizer(owner_uid, FOREGROUND_FINALIZER)

    def _remove_finalizer(self, owner_uid: str, finalizer: str) -> None:
        where = self._owners.get(owner_uid)
        if where is None:
            return
        key, namespace, name = where
        rt = self._resource(key)
        obj = self._api.store.get(key, namespace, name)
        if rt is None or obj is None or finalizer not in (obj["metadata"].get("finalizers") or []):
            return

        def drop(o: JSON) -> None:
            o["metadata"]["finalizers"] = [f for f in o["metadata"]["finalizers"] if f != finalizer]

        self._api.mutate(rt, namespace, name, drop)
