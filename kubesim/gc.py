"""The garbage collector: ownerReferences cascade (background and foreground), orphaning, and
dependents whose owners are gone (pkg/controller/garbagecollector, attemptToDelete)."""

from __future__ import annotations

from typing import Any

from kubesim import errors
from kubesim.api import FOREGROUND_FINALIZER, ORPHAN_FINALIZER, Api, DeleteOptions, type_key
from kubesim.resources import Registry, ResourceType
from kubesim.store import Change, TypeKey

JSON = dict[str, Any]
Dependent = tuple[TypeKey, str, str]  # (type, namespace, name)

SOLID, DANGLING, WAITING, UNKNOWN = "solid", "dangling", "waiting", "unknown"


def _owner_uids(obj: JSON | None) -> set[str]:
    if obj is None:
        return set()
    return {str(ref.get("uid")) for ref in obj["metadata"].get("ownerReferences") or []}


def _deleting_with(meta: JSON, finalizer: str) -> bool:
    return bool(meta.get("deletionTimestamp")) and finalizer in (meta.get("finalizers") or [])


class GarbageCollector:
    def __init__(self, api: Api, registry: Registry) -> None:
        self._api = api
        self._registry = registry
        self._dependents: dict[str, set[Dependent]] = {}  # owner uid -> dependents
        self._owners: dict[str, Dependent] = {}  # uid -> where, for deleting owners

    def clear(self) -> None:
        self._dependents.clear()
        self._owners.clear()

    def on_change(self, change: Change) -> None:
        meta = change.obj["metadata"]
        where: Dependent = (change.type_key, meta.get("namespace", ""), meta["name"])
        before = _owner_uids(change.old)
        now = _owner_uids(change.obj) if change.type != "DELETED" else set()
        for uid in before - now:
            self._forget_dependent(uid, where)
            self._maybe_release(uid)  # a blocking dependent of a foreground deletion went
        if change.type == "DELETED":
            self._owners.pop(meta["uid"], None)
            for dependent in sorted(self._dependents.pop(meta["uid"], set())):
                self._attempt_to_delete(dependent)  # its owner is gone now
            return
        for uid in now:
            self._dependents.setdefault(uid, set()).add(where)
        self._owners[meta["uid"]] = where
        if now != before:
            self._attempt_to_delete(where)  # owners that are not there make it garbage
        if _deleting_with(meta, ORPHAN_FINALIZER):
            self._orphan(meta["uid"])
        elif _deleting_with(meta, FOREGROUND_FINALIZER):
            for dependent in sorted(self._dependents.get(meta["uid"], set())):
                self._attempt_to_delete(dependent)
            self._maybe_release(meta["uid"])

    def _forget_dependent(self, owner_uid: str, where: Dependent) -> None:
        dependents = self._dependents.get(owner_uid)
        if dependents is not None:
            dependents.discard(where)
            if not dependents:
                del self._dependents[owner_uid]

    def _owner_state(self, ref: JSON, namespace: str) -> str:
        """isDangling: an owner whose kind is unknown cannot be judged; one that is not there, or
        is another object of that name (another uid), is dangling."""
        rt = self._registry.by_kind(str(ref.get("apiVersion", "")), str(ref.get("kind", "")))
        if rt is None:
            return UNKNOWN
        owner = self._api.store.get(
            type_key(rt), namespace if rt.namespaced else "", str(ref.get("name", ""))
        )
        if owner is None or owner["metadata"]["uid"] != ref.get("uid"):
            return DANGLING
        return WAITING if _deleting_with(owner["metadata"], FOREGROUND_FINALIZER) else SOLID

    def _attempt_to_delete(self, where: Dependent) -> None:
        """A dependent with no solid owner left is deleted; one that still has a solid owner loses
        its references to owners that are gone or waiting for their dependents to go."""
        key, namespace, name = where
        rt = self._registry.by_key(*key)
        obj = self._api.store.get(key, namespace, name)
        if rt is None or obj is None or obj["metadata"].get("deletionTimestamp"):
            return
        refs = obj["metadata"].get("ownerReferences") or []
        states = {str(ref.get("uid")): self._owner_state(ref, namespace) for ref in refs}
        if not refs or UNKNOWN in states.values():
            return  # the collector cannot resolve that kind: it retries, and deletes nothing
        if SOLID in states.values():
            stale = {uid for uid, state in states.items() if state != SOLID}
            if stale:
                self._drop_refs(rt, namespace, name, stale)
            return
        finalizers = obj["metadata"].get("finalizers") or []
        if ORPHAN_FINALIZER in finalizers:
            policy = "Orphan"
        elif FOREGROUND_FINALIZER in finalizers or (
            WAITING in states.values() and self._dependents.get(obj["metadata"]["uid"])
        ):
            policy = "Foreground"
        else:
            policy = "Background"
        try:
            self._api.delete(rt, namespace, name, DeleteOptions(propagation=policy))
        except errors.ApiError:
            return  # gone meanwhile

    def _drop_refs(self, rt: ResourceType, namespace: str, name: str, uids: set[str]) -> None:
        def drop(obj: JSON) -> None:
            refs = [
                r for r in obj["metadata"].get("ownerReferences") or [] if r.get("uid") not in uids
            ]
            if refs:
                obj["metadata"]["ownerReferences"] = refs
            else:
                obj["metadata"].pop("ownerReferences", None)

        self._api.mutate(rt, namespace, name, drop)

    def _orphan(self, owner_uid: str) -> None:
        for key, namespace, name in sorted(self._dependents.pop(owner_uid, set())):
            rt = self._registry.by_key(*key)
            if rt is not None:
                self._drop_refs(rt, namespace, name, {owner_uid})
        self._remove_finalizer(owner_uid, ORPHAN_FINALIZER)

    def _blocking(self, owner_uid: str) -> list[Dependent]:
        """Dependents whose reference to the owner sets blockOwnerDeletion."""
        found = []
        for key, namespace, name in self._dependents.get(owner_uid, set()):
            obj = self._api.store.get(key, namespace, name)
            refs = (obj or {"metadata": {}})["metadata"].get("ownerReferences") or []
            if any(r.get("uid") == owner_uid and r.get("blockOwnerDeletion") for r in refs):
                found.append((key, namespace, name))
        return found

    def _maybe_release(self, owner_uid: str) -> None:
        """A foreground-deleting owner goes once its blocking dependents have."""
        if not self._blocking(owner_uid):
            self._remove_finalizer(owner_uid, FOREGROUND_FINALIZER)

    def _remove_finalizer(self, owner_uid: str, finalizer: str) -> None:
        where = self._owners.get(owner_uid)
        if where is None:
            return
        key, namespace, name = where
        rt = self._registry.by_key(*key)
        obj = self._api.store.get(key, namespace, name)
        if rt is None or obj is None or finalizer not in (obj["metadata"].get("finalizers") or []):
            return

        def drop(o: JSON) -> None:
            o["metadata"]["finalizers"] = [f for f in o["metadata"]["finalizers"] if f != finalizer]

        self._api.mutate(rt, namespace, name, drop)
