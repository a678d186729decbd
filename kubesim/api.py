"""The API verbs (create, get, list, replace, patch, delete, deletecollection) over the store.

The HTTP layer and the simulated controllers both go through here; controllers use `mutate`,
which skips validation as a trusted component would.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from kubesim import errors, params
from kubesim.addresses import ServiceAddresses
from kubesim.clock import Ids, timestamp
from kubesim.decoding import (
    STRICT,
    WARN,
    DecodeError,
    compact,
    decode,
    go_value,
    unknown_fields,
)
from kubesim.patching import (
    PatchError,
    json_patch,
    json_patch_decode_error,
    merge_patch,
    strategic_merge,
)
from kubesim.podstatus import finished
from kubesim.resources import NAMESPACES, PODS, RUNTIME_CLASSES, Registry, ResourceType
from kubesim.schemas import kind_schema
from kubesim.selectors import EVERYTHING, FieldSelector, LabelSelector, fields_match, labels_match
from kubesim.store import Store, TypeKey, clone
from kubesim.strategies import prepare_status_update, strategy_for
from kubesim.validation import (
    SchemaValidators,
    not_supported,
    object_meta,
    object_meta_update,
    show,
)

JSON = dict[str, Any]

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"

ORPHAN_FINALIZER = "orphan"
FOREGROUND_FINALIZER = "foregroundDeletion"
JOB_ORPHAN_WARNING = (
    "child pods are preserved by default when jobs are deleted; set propagationPolicy=Background "
    "to remove them or set propagationPolicy=Orphan to suppress this warning"
)


def type_key(rt: ResourceType) -> TypeKey:
    return rt.group, rt.plural


def patch_types(rt: ResourceType) -> list[str]:
    """The patch media types a resource's PATCH route consumes."""
    return [JSON_PATCH, MERGE_PATCH] + ([] if rt.custom else [STRATEGIC_PATCH])


@dataclass(frozen=True)
class WriteOptions:
    """CreateOptions, UpdateOptions and PatchOptions: dryRun and fieldValidation."""

    dry_run: bool = False
    # The apiserver's default is Warn; kubesim refuses unknown fields unless told otherwise.
    field_validation: str = STRICT


@dataclass
class DeleteOptions:
    grace_period: int | None = None
    propagation: str | None = None
    preconditions: JSON = field(default_factory=dict)
    dry_run: bool = False
    orphan_dependents: bool | None = None

    @classmethod
    def from_request(cls, body: JSON, query: params.Query) -> DeleteOptions:
        """From the body when there is one (the query is then ignored, as upstream), else from
        the query parameters."""
        if body:
            grace, propagation = body.get("gracePeriodSeconds"), body.get("propagationPolicy")
            orphan, dry_run = body.get("orphanDependents"), body.get("dryRun") or []
        else:
            grace = params.optional_int(query, "gracePeriodSeconds")
            propagation = query.get("propagationPolicy")
            orphan = params.optional_flag(query, "orphanDependents")
            dry_run = [query["dryRun"]] if "dryRun" in query else []
        if propagation not in (None, "Orphan", "Background", "Foreground"):
            supported = ("Foreground", "Background", "Orphan", "nil")
            cause = not_supported("propagationPolicy", propagation, supported)
            raise errors.invalid("DeleteOptions", "meta.k8s.io", "", [cause])
        return cls(
            grace_period=int(grace) if grace is not None else None,
            propagation=propagation,
            preconditions=body.get("preconditions") or {},
            dry_run="All" in dry_run,
            orphan_dependents=orphan,
        )


@dataclass
class Result:
    """An answer: the object (or Status), the Warning headers it carries, its status code."""

    body: JSON
    warnings: list[str] = field(default_factory=list)
    code: int = 200


class Api:
    def __init__(
        self, store: Store, registry: Registry, validators: SchemaValidators, ids: Ids
    ) -> None:
        self.store = store
        self.registry = registry
        self.validators = validators
        self.ids = ids
        self.service_addresses = ServiceAddresses()
        store.add_listener(self.service_addresses.on_change)

    # reads

    def get(self, rt: ResourceType, namespace: str, name: str) -> JSON:
        obj = self.store.get(type_key(rt), namespace if rt.namespaced else "", name)
        if obj is None:
            raise errors.not_found(rt.plural, rt.group, name)
        return obj

    def select(
        self,
        rt: ResourceType,
        namespace: str | None,
        labels: LabelSelector = EVERYTHING,
        fields: FieldSelector = (),
    ) -> list[JSON]:
        """Matching objects sorted as etcd returns them (by namespace, then name)."""
        with self.store.lock:
            found = self.store.list(type_key(rt), namespace if rt.namespaced else None)
        chosen = [
            obj
            for obj in found
            if labels_match(labels, obj["metadata"].get("labels")) and fields_match(fields, obj)
        ]
        chosen.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
        return chosen

    def list_objects(
        self,
        rt: ResourceType,
        namespace: str | None,
        labels: LabelSelector = EVERYTHING,
        fields: FieldSelector = (),
        limit: int = 0,
        continue_token: str = "",
    ) -> JSON:
        rv = self.store.resource_version
        items = self.select(rt, namespace, labels, fields)
        meta: JSON = {"resourceVersion": str(rv)}
        if continue_token:
            try:
                after = tuple(json.loads(base64.b64decode(continue_token))["start"])
            except (ValueError, KeyError, TypeError) as exc:
                raise errors.bad_request(f"continue key is not valid: {exc}") from exc
            items = [
                o
                for o in items
                if (o["metadata"].get("namespace", ""), o["metadata"]["name"]) > after
            ]
        if limit and len(items) > limit:
            last = items[limit - 1]["metadata"]
            token = {"rv": rv, "start": [last.get("namespace", ""), last["name"]]}
            meta["continue"] = base64.b64encode(json.dumps(token).encode()).decode()
            meta["remainingItemCount"] = len(items) - limit
            items = items[:limit]
        if not rt.custom:  # typed lists carry no per-item apiVersion/kind
            items = [{k: v for k, v in o.items() if k not in ("apiVersion", "kind")} for o in items]
        return {
            "kind": f"{rt.kind}List",
            "apiVersion": rt.api_version,
            "metadata": meta,
            "items": items,
        }

    # writes

    def _decode(
        self,
        rt: ResourceType,
        namespace: str,
        body: Any,
        directive: str,
        patch: Callable[[], str] | None = None,
    ) -> tuple[JSON, list[str]]:
        """A request body as the object it decodes to, and the warnings that go with it.

        A type mismatch, or an unknown field under fieldValidation=Strict, fails the request as the
        apiserver's decoder does: a 400 naming the kind for a body, for a patch a 400 (unknown
        fields) or a 422 on the field "patch" (a type mismatch), showing what `patch` renders.
        """
        if not isinstance(body, dict):
            raise errors.bad_request("the body of the request must be a JSON object")
        for key, expected in (("apiVersion", rt.api_version), ("kind", rt.kind)):
            given = body.get(key)
            if given not in (None, "", expected):
                what = "API version" if key == "apiVersion" else "kind"
                raise errors.bad_request(
                    f"the {what} in the data ({given}) does not match the expected {what} "
                    f"({expected})"
                )
        body["apiVersion"], body["kind"] = rt.api_version, rt.kind
        cannot = f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
        try:
            decoded = decode(rt, body)
        except DecodeError as exc:
            if patch is None:
                raise errors.bad_request(cannot + str(exc)) from exc
            cause = errors.Cause(
                "FieldValueInvalid", f"Invalid value: {show(patch())}: {exc}", "patch"
            )
            raise errors.invalid("", "", "", [cause]) from exc
        problems = unknown_fields(decoded.unknown)
        if problems and directive == STRICT:
            strict = "strict decoding error: " + ", ".join(problems)
            raise errors.bad_request(strict if patch is not None else cannot + strict)
        obj = decoded.obj
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        if rt.namespaced:
            if meta.get("namespace") not in (None, "", namespace):
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent "
                    "on the request"
                )
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        return obj, problems if directive == WARN else []

    def _validate(
        self, rt: ResourceType, obj: JSON, extra: list[errors.Cause], update: bool = False
    ) -> None:
        """The schema, the metadata and the strategy's `extra` causes. An update checks metadata
        as often as the apiserver does (so its causes repeat as upstream's): rest.BeforeUpdate's
        common checks (ObjectMeta and ObjectMetaUpdate), then a built-in strategy's Validate and
        ValidateUpdate both check it again, a custom resource's only the update's part."""
        meta = obj["metadata"]
        causes = self.validators.check(rt, obj) + object_meta(rt, meta)
        if update:
            again = object_meta_update(meta)
            causes += again + (again if rt.custom else object_meta(rt, meta) + again)
        causes += extra
        if causes:
            raise errors.invalid(rt.kind, rt.group, str(obj["metadata"].get("name") or ""), causes)

    def _admit_create(self, rt: ResourceType, namespace: str, obj: JSON) -> None:
        """NamespaceLifecycle and RuntimeClass admission."""
        name = str(obj["metadata"].get("name") or "")
        if rt.namespaced:
            ns = self.store.get(type_key(NAMESPACES), "", namespace)
            if ns is None:
                raise errors.not_found("namespaces", "", namespace)
            if ns["metadata"].get("deletionTimestamp"):
                error = errors.forbidden(
                    rt.plural,
                    rt.group,
                    name,
                    f"unable to create new content in namespace {namespace} "
                    "because it is being terminated",
                )
                assert error.details is not None
                error.details["causes"] = [
                    {
                        "reason": "NamespaceTerminating",
                        "message": f"namespace {namespace} is being terminated",
                        "field": "metadata.namespace",
                    }
                ]
                raise error
        if rt is PODS:
            runtime_class = (obj.get("spec") or {}).get("runtimeClassName")
            if (
                runtime_class
                and self.store.get(type_key(RUNTIME_CLASSES), "", runtime_class) is None
            ):
                raise errors.forbidden(
                    rt.plural,
                    rt.group,
                    name,
                    f'pod rejected: RuntimeClass "{runtime_class}" not found',
                )

    def create(
        self, rt: ResourceType, namespace: str, body: Any, options: WriteOptions = WriteOptions()
    ) -> Result:
        obj, warnings = self._decode(rt, namespace, body, options.field_validation)
        meta = obj["metadata"]
        if meta.get("resourceVersion"):
            raise errors.unknown("resourceVersion should not be set on objects to be created")
        strategy = strategy_for(rt)
        with self.store.lock:
            self._admit_create(rt, namespace, obj)
        if not meta.get("name") and isinstance(meta.get("generateName"), str):
            meta["name"] = meta["generateName"] + self.ids.suffix()
        for key in ("uid", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"):
            meta.pop(key, None)
        strategy.default(obj)
        strategy.prepare_for_create(obj)
        self._validate(rt, obj, strategy.validate(obj))
        meta["uid"] = self.ids.uid()
        meta["creationTimestamp"] = timestamp()
        if rt.has_generation:
            meta["generation"] = 1
        with self.store.lock:
            self._admit_create(rt, namespace, obj)  # again: the namespace may have gone meanwhile
            if self.store.get(type_key(rt), meta.get("namespace", ""), meta["name"]) is not None:
                raise errors.already_exists(rt.plural, rt.group, meta["name"])
            causes = strategy.allocate(obj, self.service_addresses)
            if causes:
                raise errors.invalid(rt.kind, rt.group, meta["name"], causes)
            if not options.dry_run:
                self.store.put(type_key(rt), obj)
        return Result(obj, warnings + strategy.warnings(obj), 201)

    def replace(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        body: Any,
        subresource: str = "",
        options: WriteOptions = WriteOptions(),
    ) -> Result:
        new, warnings = self._decode(rt, namespace, body, options.field_validation)
        return self._update(
            rt, namespace, name, lambda _old: (clone(new), warnings), subresource, options.dry_run
        )

    def patch(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        content_type: str,
        patch: Any,
        subresource: str = "",
        options: WriteOptions = WriteOptions(),
    ) -> Result:
        if content_type not in patch_types(rt):
            raise errors.unsupported_patch_type()
        undecodable = json_patch_decode_error(patch) if content_type == JSON_PATCH else None
        if undecodable:
            raise errors.bad_request(undecodable)

        def apply(old: JSON) -> tuple[JSON, list[str]]:
            try:
                if content_type == JSON_PATCH:
                    patched = json_patch(old, patch)
                elif not isinstance(patch, dict):
                    raise errors.bad_request("the patch must be a JSON object")
                elif content_type == MERGE_PATCH:
                    patched = merge_patch(old, patch)
                else:
                    patched = strategic_merge(old, patch, kind_schema(rt))
            except PatchError as exc:
                raise errors.ApiError(422, "Invalid", str(exc)) from exc
            if not isinstance(patched, dict):
                raise errors.ApiError(422, "Invalid", "the patch removed the whole object")
            # what the apiserver shows of a patch it cannot decode: the patch map (strategic
            # merge) or the patched object's JSON
            shown = (
                partial(go_value, patch)
                if content_type == STRATEGIC_PATCH
                else partial(compact, patched)
            )
            return self._decode(rt, namespace, clone(patched), options.field_validation, shown)

        return self._update(rt, namespace, name, apply, subresource, options.dry_run)

    def _update(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        make_new: Callable[[JSON], tuple[JSON, list[str]]],
        subresource: str,
        dry_run: bool,
    ) -> Result:
        """Optimistic concurrency, as the apiserver's GuaranteedUpdate: the new object is made and
        validated from a snapshot without the lock; if the stored object moved on meanwhile, the
        update is made again from the new state (a client's resourceVersion then conflicts)."""
        key = type_key(rt)
        ns = namespace if rt.namespaced else ""
        while True:
            old = self.store.get(key, ns, name)  # stored objects are never changed in place
            if old is None:
                raise errors.not_found(rt.plural, rt.group, name)
            new, warnings = self._updated(rt, name, old, make_new, subresource)
            with self.store.lock:
                current = self.store.get(key, ns, name)
                if current is None:
                    raise errors.not_found(rt.plural, rt.group, name)
                if current["metadata"]["resourceVersion"] == old["metadata"]["resourceVersion"]:
                    return Result(new if dry_run else self.write(rt, old, new), warnings)

    def _updated(
        self,
        rt: ResourceType,
        name: str,
        old: JSON,
        make_new: Callable[[JSON], tuple[JSON, list[str]]],
        subresource: str,
    ) -> tuple[JSON, list[str]]:
        """The object an update would store in place of `old`, checked; and its warnings."""
        strategy = strategy_for(rt)
        new, warnings = make_new(old)
        meta = new["metadata"]
        if meta.get("name") != name:
            raise errors.bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on "
                f"the URL ({name})"
            )
        given_rv = meta.get("resourceVersion")
        if given_rv and given_rv != old["metadata"]["resourceVersion"]:
            raise errors.conflict(rt.plural, rt.group, name, errors.STALE_OBJECT)
        if meta.get("uid") not in (None, "", old["metadata"]["uid"]):
            raise errors.invalid(
                rt.kind,
                rt.group,
                name,
                [
                    errors.Cause(
                        "FieldValueInvalid",
                        f'Invalid value: "{meta["uid"]}": field is immutable',
                        "metadata.uid",
                    )
                ],
            )
        if subresource == "status":
            prepare_status_update(new, old)
            self._validate(rt, new, strategy.validate_status_update(new, old))
            return new, warnings
        strategy.default(new)
        strategy.prepare_for_update(new, old)
        for system in (
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ):
            if system in old["metadata"]:
                meta[system] = old["metadata"][system]
            else:
                meta.pop(system, None)
        created, updated = strategy.validate(new), strategy.validate_update(new, old)
        self._validate(
            rt,
            new,
            updated + created if strategy.update_rules_first else created + updated,
            update=True,
        )
        return new, warnings + strategy.warnings(new)

    def write(self, rt: ResourceType, old: JSON, new: JSON, spec_update: bool = True) -> JSON:
        """Store an update (lock held): no-ops are skipped, generation follows spec changes made
        through the resource itself, and an object whose deletion waits only for finalizers goes
        once they are gone."""
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        if new == old:
            return old
        if spec_update and rt.has_generation and strategy_for(rt).spec_changed(new, old):
            new["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
        meta = new["metadata"]
        pending = (
            meta.get("finalizers")
            or meta.get("deletionGracePeriodSeconds")
            or (rt is NAMESPACES and (new.get("spec") or {}).get("finalizers"))
        )
        if meta.get("deletionTimestamp") and not pending:
            return self.store.remove(type_key(rt), new).obj
        return self.store.put(type_key(rt), new).obj

    def mutate(
        self, rt: ResourceType, namespace: str, name: str, change: Callable[[JSON], None]
    ) -> JSON | None:
        """A trusted read-modify-write for controllers; None when the object is gone. Controllers
        write status, metadata and bindings, none of which moves metadata.generation."""
        with self.store.lock:
            old = self.store.get(type_key(rt), namespace, name)
            if old is None:
                return None
            new = clone(old)
            change(new)
            return self.write(rt, old, new, spec_update=False)

    # deletion

    def delete(self, rt: ResourceType, namespace: str, name: str, options: DeleteOptions) -> Result:
        key = type_key(rt)
        ns = namespace if rt.namespaced else ""
        warnings = []
        with self.store.lock:
            obj = self.store.get(key, ns, name)
            if obj is None:
                raise errors.not_found(rt.plural, rt.group, name)
            self._check_preconditions(rt, obj, options.preconditions)
            meta = obj["metadata"]
            grace = self._grace_period(rt, obj, options.grace_period)
            propagation = options.propagation
            if propagation is None and options.orphan_dependents is not None:
                propagation = "Orphan" if options.orphan_dependents else "Background"
            if propagation is None and rt.group == "batch":
                propagation = "Orphan"  # batch/v1 Jobs keep their pods unless told otherwise
                warnings.append(JOB_ORPHAN_WARNING)
            accepted = 202 if options.orphan_dependents is False else 200
            if meta.get("deletionTimestamp"):
                # already going: only a shorter grace period changes anything
                current = meta.get("deletionGracePeriodSeconds")
                if (
                    grace is not None
                    and current is not None
                    and grace < current
                    and not options.dry_run
                ):
                    return Result(self._mark_deleting(rt, obj, grace, None), warnings)
                return Result(obj, warnings, accepted)
            if options.dry_run:
                return Result(obj, warnings)
            if (
                grace
                or meta.get("finalizers")
                or propagation in ("Orphan", "Foreground")
                or rt is NAMESPACES
            ):
                return Result(self._mark_deleting(rt, obj, grace, propagation), warnings, accepted)
            final = self.store.remove(key, obj).obj
        if rt.returns_deleted_object:
            return Result(final, warnings)
        return Result(self.success_status(rt, final), warnings)

    @staticmethod
    def success_status(rt: ResourceType, obj: JSON) -> JSON:
        details: JSON = {
            "name": obj["metadata"]["name"],
            "kind": rt.plural,
            "uid": obj["metadata"]["uid"],
        }
        if rt.group:
            details["group"] = rt.group
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": details,
        }

    @staticmethod
    def _check_preconditions(rt: ResourceType, obj: JSON, preconditions: JSON) -> None:
        """A namespace's own REST delete words a failed precondition one way; the generic store
        (rest.BeforeDelete, checking early) another, naming the kind rather than the resource."""
        meta = obj["metadata"]
        name = meta["name"]
        uid, rv = preconditions.get("uid"), preconditions.get("resourceVersion")
        uid_failed = bool(uid) and uid != meta["uid"]
        rv_failed = bool(rv) and rv != meta["resourceVersion"]
        if rt is NAMESPACES and uid_failed:
            why = (
                f"Precondition failed: UID in precondition: {uid}, "
                f"UID in object meta: {meta['uid']}"
            )
        elif rt is NAMESPACES and rv_failed:
            why = (
                f"Precondition failed: ResourceVersion in precondition: {rv}, "
                f"ResourceVersion in object meta: {meta['resourceVersion']}"
            )
        elif uid_failed:
            why = (
                f"the UID in the precondition ({uid}) does not match the UID in record "
                f"({meta['uid']}). The object might have been deleted and then recreated"
            )
        elif rv_failed:
            why = (
                f"the ResourceVersion in the precondition ({rv}) does not match the "
                f"ResourceVersion in record ({meta['resourceVersion']}). The object might have "
                "been modified"
            )
        else:
            return
        resource = rt.plural if rt is NAMESPACES else rt.kind
        raise errors.conflict(resource, rt.group, name, why)

    @staticmethod
    def _grace_period(rt: ResourceType, obj: JSON, requested: int | None) -> int | None:
        """Only pods delete gracefully; unbound or finished pods go at once (the pod strategy's
        CheckGracefulDelete)."""
        if rt is not PODS:
            return None
        if not obj["spec"].get("nodeName") or finished(obj):
            return 0
        grace = int(
            requested
            if requested is not None
            else obj["spec"].get("terminationGracePeriodSeconds", 30)
        )
        return 1 if grace < 0 else grace  # CheckGracefulDelete: negative means one second

    def _mark_deleting(
        self, rt: ResourceType, obj: JSON, grace: int | None, propagation: str | None
    ) -> JSON:
        """Mark an object as going (rest.BeforeDelete and the generic store's markAsDeleting): its
        deletionTimestamp, grace period (not for namespaces) and propagation finalizer, and a
        generation bump the first time; a later, shorter grace period changes only the first two."""
        new = clone(obj)
        meta = new["metadata"]
        if not meta.get("deletionTimestamp"):
            finalizers = [
                f
                for f in meta.get("finalizers") or []
                if f not in (ORPHAN_FINALIZER, FOREGROUND_FINALIZER)
            ]
            if propagation == "Orphan":
                finalizers.append(ORPHAN_FINALIZER)
            elif propagation == "Foreground":
                finalizers.append(FOREGROUND_FINALIZER)
            if finalizers:
                meta["finalizers"] = finalizers
            else:
                meta.pop("finalizers", None)
            if meta.get("generation"):
                meta["generation"] += 1
        meta["deletionTimestamp"] = timestamp(time.time() + (grace or 0))
        if rt is NAMESPACES:
            new["status"] = {**new.get("status", {}), "phase": "Terminating"}
        else:
            meta["deletionGracePeriodSeconds"] = grace or 0
        return self.store.put(type_key(rt), new).obj

    def delete_collection(
        self,
        rt: ResourceType,
        namespace: str | None,
        labels: LabelSelector,
        fields: FieldSelector,
        options: DeleteOptions,
    ) -> JSON:
        deleted = []
        for obj in self.select(rt, namespace, labels, fields):
            meta = obj["metadata"]
            try:
                result = self.delete(rt, meta.get("namespace", ""), meta["name"], options)
            except errors.ApiError as exc:
                if exc.code == 404:
                    continue  # gone meanwhile
                raise
            deleted.append(result.body if result.body.get("kind") != "Status" else obj)
        return {
            "kind": f"{rt.kind}List",
            "apiVersion": rt.api_version,
            "metadata": {"resourceVersion": str(self.store.resource_version)},
            "items": deleted,
        }
