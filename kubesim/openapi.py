"""OpenAPI v3 documents per group-version, built from the same upstream schemas the validator
uses; kubectl reads them for strategic-merge patch metadata and fieldValidation support."""

from __future__ import annotations

import hashlib
import json
import threading
from functools import cache
from typing import Any

from kubesim import schemas
from kubesim.resources import Registry, ResourceType

JSON = dict[str, Any]
_PATCH_TYPES = (
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
)
_META = "io.k8s.apimachinery.pkg.apis.meta.v1."


def _to_openapi(schema: Any) -> Any:
    """JSON-schema 2020-12 (as kubernetes-validate ships it) back to OpenAPI 3.0 form."""
    if isinstance(schema, list):
        return [_to_openapi(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: JSON = {}
    for key, value in schema.items():
        if key in ("$schema", "$id"):
            continue
        if key == "$ref":
            out[key] = "#/components/schemas/" + schemas.definition_name(value)
        elif key == "type" and isinstance(value, list):
            kinds = [t for t in value if t != "null"]
            out[key] = kinds[0] if len(kinds) == 1 else kinds
        elif key in ("properties", "patternProperties"):
            out[key] = {name: _to_openapi(sub) for name, sub in value.items()}
        else:
            out[key] = _to_openapi(value)
    return out


@cache
def _definition_by_gvk() -> dict[tuple[str, str, str], str]:
    found: dict[tuple[str, str, str], str] = {}
    for name, definition in schemas.definitions().items():
        for gvk in definition.get("x-kubernetes-group-version-kind") or []:
            found.setdefault((gvk["group"], gvk["version"], gvk["kind"]), name)
    return found


def _refs(schema: Any, into: set[str]) -> None:
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "$ref" and isinstance(value, str):
                into.add(schemas.definition_name(value))
            else:
                _refs(value, into)
    elif isinstance(schema, list):
        for item in schema:
            _refs(item, into)


def _closure(names: set[str]) -> set[str]:
    defs = schemas.definitions()
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen or name not in defs:
            continue
        seen.add(name)
        found: set[str] = set()
        _refs(defs[name], found)
        todo.extend(found - seen)
    return seen


def _gvk(rt: ResourceType) -> JSON:
    return {"group": rt.group, "version": rt.version, "kind": rt.kind}


def _param(name: str, where: str = "query") -> JSON:
    return {
        "name": name,
        "in": where,
        "schema": {"type": "string"},
        **({"required": True} if where == "path" else {}),
    }


def _operation(
    rt: ResourceType, action: str, schema_ref: str, body_types: tuple[str, ...] = ()
) -> JSON:
    ref = {"$ref": f"#/components/schemas/{schema_ref}"}
    op: JSON = {
        "operationId": f"{action}{rt.kind}",
        "parameters": [_param("dryRun"), _param("fieldManager")]
        + ([_param("fieldValidation")] if action in ("create", "replace", "patch") else []),
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {"schema": ref}}}
        },
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": _gvk(rt),
    }
    if body_types:
        op["requestBody"] = {"content": {t: {"schema": ref} for t in body_types}, "required": True}
    return op


def _paths(rt: ResourceType, schema_name: str) -> JSON:
    base = rt.base_path() + ("/namespaces/{namespace}" if rt.namespaced else "") + f"/{rt.plural}"
    common = [_param("namespace", "path")] if rt.namespaced else []
    patch_types = tuple(t for t in _PATCH_TYPES if not (rt.custom and "strategic" in t))
    item = {
        "get": _operation(rt, "get", schema_name),
        "put": _operation(rt, "replace", schema_name, ("application/json",)),
        "patch": _operation(rt, "patch", schema_name, patch_types),
        "delete": _operation(rt, "delete", _META + "Status", ("application/json",)),
        "parameters": [*common, _param("name", "path")],
    }
    collection = {
        "get": _operation(rt, "list", schema_name),
        "post": _operation(rt, "create", schema_name, ("application/json",)),
        "parameters": common,
    }
    return {base: collection, f"{base}/{{name}}": item}


class OpenApi:
    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[tuple[ResourceType, ...], JSON, str]] = {}

    def _group_versions(self) -> dict[str, list[ResourceType]]:
        found: dict[str, list[ResourceType]] = {}
        for rt in self._registry.all():
            prefix = f"apis/{rt.group}/{rt.version}" if rt.group else f"api/{rt.version}"
            found.setdefault(prefix, []).append(rt)
        return found

    def _build(self, types: list[ResourceType]) -> JSON:
        names: set[str] = {_META + "Status", _META + "DeleteOptions"}
        components: JSON = {}
        paths: JSON = {}
        for rt in types:
            if rt.crd_schema is not None:
                name = ".".join(reversed(rt.group.split("."))) + f".{rt.version}.{rt.kind}"
                schema = dict(_to_openapi(rt.crd_schema))
                schema["x-kubernetes-group-version-kind"] = [_gvk(rt)]
                components[name] = schema
            else:
                name = _definition_by_gvk()[(rt.group, rt.version, rt.kind)]
                names.add(name)
            paths.update(_paths(rt, name))
        defs = schemas.definitions()
        for name in sorted(_closure(names)):
            components[name] = _to_openapi(defs[name])
        version = f"v{schemas.SCHEMA_VERSION}"
        return {
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": version},
            "paths": paths,
            "components": {"schemas": components},
        }

    def _document_for(self, prefix: str, types: list[ResourceType]) -> tuple[JSON, str]:
        key = tuple(sorted(types, key=lambda r: r.plural))
        with self._lock:
            cached = self._cache.get(prefix)
            if (
                cached is None
                or cached[0] != key
                or any(
                    a.crd_schema is not b.crd_schema for a, b in zip(cached[0], key, strict=True)
                )
            ):
                document = self._build(list(key))
                digest = (
                    hashlib.sha512(json.dumps(document, sort_keys=True).encode())
                    .hexdigest()
                    .upper()[:128]
                )
                cached = (key, document, digest)
                self._cache[prefix] = cached
            return cached[1], cached[2]

    def document(self, segments: list[str]) -> JSON | None:
        """/openapi/v3 (the index) and /openapi/v3/<api/v1 | apis/group/version>."""
        if segments[:1] != ["v3"]:
            return None
        groups = self._group_versions()
        if len(segments) == 1:
            paths = {}
            for prefix, types in sorted(groups.items()):
                _, digest = self._document_for(prefix, types)
                paths[prefix] = {"serverRelativeURL": f"/openapi/v3/{prefix}?hash={digest}"}
            return {"paths": paths}
        prefix = "/".join(segments[1:])
        if prefix not in groups:
            return None
        return self._document_for(prefix, groups[prefix])[0]
