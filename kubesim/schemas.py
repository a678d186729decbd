"""The upstream Kubernetes JSON schemas shipped by kubernetes-validate, loaded once."""

from __future__ import annotations

from functools import cache
from typing import Any

from kubernetes_validate import utils as kv_utils

from kubesim.resources import ResourceType

JSON = dict[str, Any]

SCHEMA_VERSION: str = kv_utils.latest_version()
_SCHEMA_DIR = f"kubernetes-json-schema/v{SCHEMA_VERSION}-local-strict"


def load(filename: str) -> JSON:
    loaded: JSON = kv_utils.schema_contents(f"{_SCHEMA_DIR}/{filename}", SCHEMA_VERSION)
    return loaded


@cache
def definitions_document() -> JSON:
    return load("_definitions.json")


def definitions() -> dict[str, JSON]:
    defs: dict[str, JSON] = definitions_document()["$defs"]
    return defs


def kind_filename(rt: ResourceType) -> str:
    """kubernetes-validate's file for a kind: pod-v1.json, job-batch-v1.json, ..."""
    group = rt.group.split(".", 1)[0]
    version = f"{group}-{rt.version}" if group else rt.version
    return f"{rt.kind.lower()}-{version}.json"


@cache
def kind_schema(rt: ResourceType) -> JSON:
    return load(kind_filename(rt))


def definition_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def deref(schema: JSON | None) -> JSON:
    """Follow a $ref (or a single allOf ref) into the definitions; {} when there is no schema."""
    if not schema:
        return {}
    seen = 0
    while "$ref" in schema and seen < 50:
        schema = definitions()[definition_name(schema["$ref"])]
        seen += 1
    return schema


def json_kind(value: Any) -> str:
    """How encoding/json names a JSON value's type in an UnmarshalTypeError."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "string" if isinstance(value, str) else "number"
