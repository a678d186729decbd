"""Checks every incoming object: upstream JSON schemas and the apiserver's name rules."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

import jsonschema  # type: ignore[import-untyped]
from referencing import Registry, Resource

from kubesim import schemas
from kubesim.errors import Cause
from kubesim.resources import NameRule, ResourceType

JSON = dict[str, Any]

OBJECT_META_REF = "/api/_definitions.json#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

# messages as k8s.io/apimachinery/pkg/util/validation words them
_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL = re.compile(f"^{_LABEL_FMT}$")
_DNS1123_SUBDOMAIN = re.compile(rf"^{_LABEL_FMT}(\.{_LABEL_FMT})*$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

DNS1123_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
DNS1035_LABEL_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
    "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
QUALIFIED_NAME_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
    "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  "
    "or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
ANNOTATIONS_MAX_BYTES = 256 * 1024
_CONFIG_MAP_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
CONFIG_MAP_KEY_MSG = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. "
    "'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
)


def mapping(obj: Any, key: str) -> JSON:
    """obj[key] when both are objects, else {} (a wrong type is the schema's to report)."""
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, dict) else {}


def show(value: Any) -> str:
    """A value as the apiserver quotes it in 'Invalid value: ...'."""
    if isinstance(value, dict):
        return '"object"'
    if isinstance(value, list):
        return '"array"'
    return json.dumps(value)


def invalid(field: str, value: Any, detail: str) -> Cause:
    return Cause("FieldValueInvalid", f"Invalid value: {show(value)}: {detail}", field)


def required(field: str, detail: str = "") -> Cause:
    return Cause("FieldValueRequired", "Required value" + (f": {detail}" if detail else ""), field)


def duplicate(field: str, value: Any) -> Cause:
    return Cause("FieldValueDuplicate", f"Duplicate value: {show(value)}", field)


def forbidden(field: str, detail: str) -> Cause:
    return Cause("FieldValueForbidden", f"Forbidden: {detail}", field)


def not_supported(field: str, value: Any, supported: Iterable[Any]) -> Cause:
    listed = ", ".join(json.dumps(s) for s in supported)
    return Cause(
        "FieldValueNotSupported",
        f"Unsupported value: {show(value)}: supported values: {listed}",
        field,
    )


def invalid_each(field: str, value: Any, messages: Iterable[str]) -> list[Cause]:
    """One FieldValueInvalid per message, as the apiserver turns a validator's []string."""
    return [invalid(field, value, message) for message in messages]


def _length_and_format(value: str, limit: int, pattern: re.Pattern[str], message: str) -> list[str]:
    messages = []
    if len(value) > limit:
        messages.append(f"must be no more than {limit} characters")
    if not pattern.fullmatch(value):  # Go's $ is the end of the text; Python's allows a "\n"
        messages.append(message)
    return messages


def is_dns1123_label(value: str) -> list[str]:
    messages = _length_and_format(value, 63, _DNS1123_LABEL, DNS1123_LABEL_MSG)
    if messages and messages[-1] == DNS1123_LABEL_MSG and _DNS1123_SUBDOMAIN.match(value):
        messages[-1] = "must not contain dots"  # a valid subdomain within the length: only dots
    return messages


def is_dns1123_subdomain(value: str) -> list[str]:
    return _length_and_format(value, 253, _DNS1123_SUBDOMAIN, DNS1123_SUBDOMAIN_MSG)


def is_dns1035_label(value: str) -> list[str]:
    return _length_and_format(value, 63, _DNS1035_LABEL, DNS1035_LABEL_MSG)


def dns1123_label(field: str, value: str) -> list[Cause]:
    return invalid_each(field, value, is_dns1123_label(value))


def dns1123_subdomain(field: str, value: str) -> list[Cause]:
    return invalid_each(field, value, is_dns1123_subdomain(value))


NAME_CHECKS = {
    NameRule.LABEL: is_dns1123_label,
    NameRule.SUBDOMAIN: is_dns1123_subdomain,
    NameRule.DNS1035: is_dns1035_label,
}


def is_config_map_key(key: str) -> list[str]:
    """validation.IsConfigMapKey: the keys of ConfigMaps and Secrets (file names in volumes)."""
    messages = _length_and_format(key, 253, _CONFIG_MAP_KEY, CONFIG_MAP_KEY_MSG)
    if key == ".":
        messages.append("must not be '.'")
    elif key == "..":
        messages.append("must not be '..'")
    elif key.startswith(".."):
        messages.append("must not start with '..'")
    return messages


def too_long(field: str, limit: int) -> Cause:
    """field.TooLong: the value itself is left out of the message."""
    return Cause("FieldValueTooLong", f"Too long: may not be more than {limit} bytes", field)


def not_found(field: str, value: Any) -> Cause:
    return Cause("FieldValueNotFound", f"Not found: {show(value)}", field)


def is_label_key(key: str) -> list[str]:
    """A label key (a qualified name): an optional DNS-subdomain prefix and a name part."""
    parts = key.split("/")
    if len(parts) > 2:
        return [
            "a valid label key "
            + QUALIFIED_NAME_MSG.removeprefix("name part ")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    messages = []
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            messages.append("prefix part must be non-empty")
        else:
            messages += [f"prefix part {m}" for m in is_dns1123_subdomain(prefix)]
    if not name:
        messages.append("name part must be non-empty")
    elif len(name) > 63:
        messages.append("name part must be no more than 63 characters")
    if not _QUALIFIED_NAME.match(name):
        messages.append(QUALIFIED_NAME_MSG)
    return messages


def is_label_value(value: str) -> list[str]:
    return _length_and_format(value, 63, _LABEL_VALUE, LABEL_VALUE_MSG)


def qualified_name(field: str, key: str) -> list[Cause]:
    return invalid_each(field, key, is_label_key(key))


def strict_qualified_name(field: str, key: str) -> list[Cause]:
    """ValidateQualifiedName (IsQualifiedName): a label key's rules, in its own words for a key
    of more than one '/' ("a qualified name ...", where newer label checks say "a valid label
    key ...")."""
    messages = [
        "a qualified name " + m.removeprefix("a valid label key ")
        if m.startswith("a valid label key ")
        else m
        for m in is_label_key(key)
    ]
    return invalid_each(field, key, messages)


def labels(field: str, values: Mapping[str, Any]) -> list[Cause]:
    causes = []
    for key, value in values.items():
        causes += qualified_name(field, key)
        if isinstance(value, str):  # the schema reports other types
            causes += invalid_each(field, value, is_label_value(value))
    return causes


def object_meta(rt: ResourceType, meta: JSON) -> list[Cause]:
    name = meta.get("name")
    causes = []
    if not name:
        causes.append(required("metadata.name", "name or generateName is required"))
    elif isinstance(name, str):
        causes += invalid_each("metadata.name", name, NAME_CHECKS[rt.name_rule](name))
    if rt.namespaced and not meta.get("namespace"):
        causes.append(required("metadata.namespace"))
    return causes + object_meta_update(meta)


def object_meta_update(meta: JSON) -> list[Cause]:
    """What ValidateObjectMetaUpdate checks again of an updated object: labels, annotations."""
    causes = []
    if isinstance(meta.get("labels"), dict):
        causes += labels("metadata.labels", meta["labels"])
    annotations = meta.get("annotations")
    if isinstance(annotations, dict):
        for key in annotations:
            causes += qualified_name("metadata.annotations", key)
        size = sum(len(k) + len(str(v)) for k, v in annotations.items())
        if size > ANNOTATIONS_MAX_BYTES:
            causes.append(too_long("metadata.annotations", ANNOTATIONS_MAX_BYTES))
    return causes


# JSON schema validation


def field_path(path: Iterable[str | int]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _join(base: str, name: str) -> str:
    return f"{base}.{name}" if base else name


def _causes_of(error: jsonschema.ValidationError) -> list[Cause]:
    path = field_path(error.absolute_path)
    instance = error.instance
    if error.validator == "required" and isinstance(instance, dict):
        missing = [name for name in error.validator_value if name not in instance]
        return [required(_join(path, name)) for name in missing]
    if error.validator == "enum":
        return [not_supported(path, instance, error.validator_value)]
    if error.validator == "type":
        wanted = [t for t in _as_list(error.validator_value) if t != "null"]
        return [
            Cause(
                "FieldValueTypeInvalid",
                f"Invalid value: {show(instance)}: must be of type {' or '.join(wanted)}",
                path,
            )
        ]
    if error.validator in ("oneOf", "anyOf"):
        return [
            Cause(
                "FieldValueTypeInvalid",
                f"Invalid value: {show(instance)}: must be an integer or a string",
                path,
            )
        ]
    return [invalid(path, instance, error.message)]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _crd_json_schema(schema: JSON) -> JSON:
    """An openAPIV3Schema as JSON schema (nullable, int-or-string); unknown fields are pruned
    before validation (decoding.py), so none is left to refuse here."""
    out: JSON = {}
    for key, value in schema.items():
        if key == "properties":
            out[key] = {name: _crd_json_schema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = _crd_json_schema(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [_crd_json_schema(sub) for sub in value]
        elif not key.startswith("x-kubernetes-") and key not in ("nullable", "type"):
            out[key] = value
    if "type" in schema:
        out["type"] = [schema["type"], "null"] if schema.get("nullable") else schema["type"]
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    return out


class SchemaValidators:
    """One compiled validator per resource type; built once since loading schemas is slow."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # value: (the CRD schema it was built from, or None for built-ins; the validator)
        self._validators: dict[
            tuple[str, str], tuple[JSON | None, jsonschema.protocols.Validator]
        ] = {}
        definitions = schemas.definitions_document()
        self._registry: Registry[Any] = Resource.from_contents(definitions) @ Registry()

    def validator_for(self, rt: ResourceType) -> jsonschema.protocols.Validator:
        key = (rt.api_version, rt.kind)
        found = self._validators.get(key)
        if found is not None and found[0] is rt.crd_schema:
            return found[1]
        with self._lock:
            if rt.crd_schema is not None:
                schema = _crd_json_schema(rt.crd_schema)
                schema.setdefault("properties", {})["metadata"] = {"$ref": OBJECT_META_REF}
                schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
                # a base URI under which "/api/_definitions.json" means the upstream definitions
                schema["$id"] = f"https://kubernetes.io/crd/{rt.group}/{rt.version}/{rt.plural}"
            else:
                schema = schemas.kind_schema(rt)
            registry = Resource.from_contents(schema) @ self._registry
            validator = jsonschema.Draft202012Validator(schema, registry=registry)
            self._validators[key] = (rt.crd_schema, validator)
            return validator

    def check(self, rt: ResourceType, obj: JSON) -> list[Cause]:
        causes = []
        for error in self.validator_for(rt).iter_errors(obj):
            causes += _causes_of(error)
        return causes
