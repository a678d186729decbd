"""A request body decoded as the apiserver decodes it.

Built-in kinds go through Go's JSON decoder into their typed structs: a value of the wrong JSON type
is an error (worded as encoding/json words it), null is the zero value (dropped here), and fields
the struct lacks are unknown. Custom resources are decoded as unstructured JSON and pruned by their
CRD's structural schema: unknown fields are those the schema does not name (unless it preserves
them), and types are left to schema validation. What unknown fields cost is the request's
fieldValidation: refused (Strict), dropped with a warning (Warn) or dropped silently (Ignore).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from kubesim.resources import ResourceType
from kubesim.schemas import definition_name, definitions, json_kind, kind_schema
from kubesim.validation import OBJECT_META_REF, field_path

JSON = dict[str, Any]
Path = tuple[str | int, ...]

STRICT, WARN, IGNORE = "Strict", "Warn", "Ignore"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
_QUANTITY_FORMAT = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
_QUANTITY = re.compile(_QUANTITY_FORMAT)
_QUANTITY_SUFFIXES = frozenset(
    ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u", "m", "k", "M", "G", "T", "P", "E")
)
_INT_RANGES = {"int32": 2**31, "int64": 2**63}
_GO_SCALARS = {"string": "string", "boolean": "bool", "number": "float64", "integer": "int64"}


class DecodeError(Exception):
    """A value the Go types cannot hold; the text is the decoder's."""


@dataclass
class Decoded:
    obj: JSON
    unknown: list[str] = field(default_factory=list)  # field paths, in document order


def _deref(schema: JSON) -> tuple[JSON, str]:
    """Follow $refs; the schema and the name of the last definition reached ('' for none)."""
    name = ""
    while "$ref" in schema:
        name = definition_name(schema["$ref"])
        schema = definitions()[name]
    return schema, name


def _types(schema: JSON) -> set[str]:
    declared = schema.get("type")
    kinds = declared if isinstance(declared, list) else [declared] if declared else []
    return {k for k in kinds if k != "null"}


def _go_name(definition: str) -> str:
    """io.k8s.api.core.v1.PodSpec -> v1.PodSpec, as reflect's Type.String() prints it."""
    return ".".join(definition.split(".")[-2:])


def go_type(schema: JSON) -> str:
    """The Go type a schema stands for, as encoding/json names it in its errors."""
    schema, name = _deref(schema)
    if name == INT_OR_STRING:
        return "int32"  # IntOrString.UnmarshalJSON decodes a non-string into its int32
    if "properties" in schema:
        return _go_name(name)
    kinds = _types(schema)
    if "array" in kinds:
        return "[]" + go_type(schema.get("items") or {})
    if "object" in kinds:
        values = schema.get("additionalProperties")
        return "map[string]" + (go_type(values) if isinstance(values, dict) else "interface {}")
    if "string" in kinds and schema.get("format") == "byte":
        return "[]uint8"
    if "integer" in kinds and schema.get("format") in _INT_RANGES:
        return str(schema["format"])
    return next((_GO_SCALARS[k] for k in _GO_SCALARS if k in kinds), "interface {}")


def _fits_integer(value: Any, fmt: Any) -> bool:
    limit = _INT_RANGES.get(str(fmt), 2**63)
    return isinstance(value, int) and not isinstance(value, bool) and -limit <= value < limit


def _quantity_error(value: Any) -> str:
    """resource.ParseQuantity's refusal of a quantity ('' when it parses)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return ""
    text = value.strip() if isinstance(value, str) else ""
    found = _QUANTITY.match(text)
    if not found:
        return f"quantities must match the regular expression '{_QUANTITY_FORMAT}'"
    suffix = found[2]
    if suffix not in _QUANTITY_SUFFIXES and not re.fullmatch(r"[eE][-+]?[0-9]+", suffix):
        return "unable to parse quantity's suffix"
    return ""


_QUANTITY_SCALE = {
    "": 1,
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    **{suffix: 1024 ** (i + 1) for i, suffix in enumerate(("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"))},
}


def quantity_value(value: Any) -> Decimal | None:
    """A quantity's value (None if it does not parse): what validation compares."""
    if isinstance(value, bool) or _quantity_error(value):
        return None
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    found = _QUANTITY.match(value.strip())
    assert found is not None
    try:
        number = Decimal(found[1])
    except ArithmeticError:
        return None
    suffix = found[2]
    scale = _QUANTITY_SCALE.get(suffix)
    return number * (Decimal(10) ** int(suffix[1:]) if scale is None else Decimal(scale))


class _Walk:
    def __init__(self, typed: bool) -> None:
        self.typed = typed
        self.unknown: list[str] = []

    @staticmethod
    def _mismatch(value: Any, schema: JSON, fields: tuple[str, ...], struct: str) -> DecodeError:
        target = go_type(schema)
        what = json_kind(value)
        if what == "number" and target.startswith("int"):
            what = f"number {value}"  # the literal, when an integer cannot hold it
        return DecodeError(
            f"json: cannot unmarshal {what} into Go struct field {struct}."
            f"{'.'.join(fields)} of type {target}"
        )

    def value(
        self, value: Any, schema: JSON, path: Path, fields: tuple[str, ...], struct: str
    ) -> Any:
        resolved, name = _deref(schema)
        if self.typed and name == INT_OR_STRING:
            if not isinstance(value, str) and not _fits_integer(value, "int32"):
                raise self._mismatch(value, schema, fields, struct)
            return value
        if self.typed and name == QUANTITY:
            problem = _quantity_error(value)
            if problem:
                raise DecodeError(problem)
            return value
        kinds = _types(resolved)
        wanted = "object" if isinstance(value, dict) else "array" if isinstance(value, list) else ""
        if (
            self.typed
            and kinds
            and not (wanted in kinds or self._scalar_fits(value, resolved, kinds))
        ):
            raise self._mismatch(value, schema, fields, struct)
        if isinstance(value, dict):
            inner = name.rsplit(".", 1)[-1] if name else struct  # reflect's Type.Name()
            return self._object(value, resolved, path, fields, inner)
        if isinstance(value, list):
            items: JSON = resolved.get("items") or {}
            return [self.value(v, items, (*path, i), fields, struct) for i, v in enumerate(value)]
        if self.typed and isinstance(value, str) and resolved.get("format") == "byte":
            corrupt = base64_error(value)  # a []byte field: encoding/json decodes base64 into it
            if corrupt is not None:
                raise DecodeError(f"illegal base64 data at input byte {corrupt}")
        return value

    @staticmethod
    def _scalar_fits(value: Any, schema: JSON, kinds: set[str]) -> bool:
        if isinstance(value, (dict, list)):
            return False
        if isinstance(value, bool):
            return "boolean" in kinds
        if isinstance(value, str):
            return "string" in kinds
        if isinstance(value, (int, float)):
            return "number" in kinds or (
                "integer" in kinds and _fits_integer(value, schema.get("format"))
            )
        return True

    def _object(
        self, value: JSON, schema: JSON, path: Path, fields: tuple[str, ...], struct: str
    ) -> JSON:
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields") is True
        if properties is None and not isinstance(extra, dict):
            return value  # opaque: RawExtension, JSON, or a schema-less object
        out: JSON = {}
        for key, item in value.items():
            sub = (properties or {}).get(key)
            if sub is not None:
                # null is Go's zero value, left out; a structural schema prunes it unless nullable
                if item is not None or (not self.typed and sub.get("nullable") is True):
                    out[key] = self.value(item, sub, (*path, key), (*fields, key), struct)
            elif isinstance(extra, dict):  # a map: its keys are not fields
                if item is None and self.typed and "string" in _types(_deref(extra)[0]):
                    item = ""  # a null map value decodes to the zero string
                out[key] = self.value(item, extra, (*path, key), fields, struct)
            elif preserve:
                out[key] = item
            else:
                self.unknown.append(field_path((*path, key)))
        return out


_BASE64_ALPHABET = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_NEWLINES = frozenset(b"\r\n")


def base64_error(text: str) -> int | None:
    """Where Go's base64.StdEncoding.Decode finds the data corrupt (its CorruptInputError: a byte
    offset), or None when it decodes: padding required, newlines skipped anywhere, nothing after
    the padding. A port of encoding/base64's decodeQuantum."""
    src = text.encode()
    end, si = len(src), 0
    while si < end:
        j = 0  # characters of the current quantum
        while j < 4:
            if si == end:
                return si - j if j else None  # a short quantum: StdEncoding wants its padding
            char = src[si]
            si += 1
            if char in _BASE64_ALPHABET:
                j += 1
                continue
            if char in _NEWLINES:
                continue
            if char != ord("=") or j < 2:
                return si - 1  # not base64, or padding too early
            if j == 2:  # "==" expected, the first "=" read
                while si < end and src[si] in _NEWLINES:
                    si += 1
                if si == end:
                    return end
                if src[si] != ord("="):
                    return si - 1
                si += 1
            while si < end and src[si] in _NEWLINES:
                si += 1
            return si if si < end else None  # anything after the padding is garbage
    return None


def base64_size(text: str) -> int:
    """The number of bytes a value base64_error accepts decodes to."""
    clean = text.replace("\r", "").replace("\n", "")
    return len(clean) // 4 * 3 - len(clean[-2:]) + len(clean[-2:].rstrip("="))


def _custom_schema(rt: ResourceType) -> JSON:
    """A CRD's schema for pruning: apiVersion, kind and metadata (an ObjectMeta) always known."""
    schema = dict(rt.crd_schema or {})
    schema["properties"] = {
        **(schema.get("properties") or {}),
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"$ref": OBJECT_META_REF},
    }
    return schema


def decode(rt: ResourceType, obj: JSON) -> Decoded:
    """Decode a body as the apiserver does; raises DecodeError for a built-in kind's type error."""
    typed = not rt.custom
    walk = _Walk(typed)
    schema = kind_schema(rt) if typed else _custom_schema(rt)
    decoded = walk._object(obj, schema, (), (), rt.kind)
    return Decoded(decoded, walk.unknown)


def unknown_fields(paths: list[str]) -> list[str]:
    """sigs.k8s.io/json's strict decoding errors."""
    return [f'unknown field "{path}"' for path in paths]


def compact(obj: Any) -> str:
    """JSON as Go's encoder writes a map: no spaces, keys sorted."""
    return json.dumps(obj, separators=(",", ":"), sort_keys=True)


def go_value(value: Any) -> str:
    """A decoded JSON value as Go's fmt prints it with %+v (map[a:1 b:[x y]])."""
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_value(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_value(v) for v in value) + "]"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
