"""JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge patch.

Strategic merge follows the x-kubernetes-patch-strategy / -merge-key extensions of the upstream
schemas, with the directives kubectl sends: $patch, $setElementOrder, $deleteFromPrimitiveList
and $retainKeys.
"""

from __future__ import annotations

import copy
from typing import Any

from kubesim.schemas import deref, json_kind

JSON = dict[str, Any]


class PatchError(Exception):
    """The patch cannot be applied to this object (the apiserver answers 422)."""


# RFC 7386


def merge_patch(original: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(original) if isinstance(original, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# RFC 6902


def json_patch_decode_error(operations: Any) -> str | None:
    """What jsonpatch.DecodePatch says of a patch that is no list of objects (a 400, before
    anything is applied); None when it decodes."""
    if operations is None:
        return None  # null decodes to an empty patch
    if not isinstance(operations, list):
        kind = json_kind(operations)
        return f"json: cannot unmarshal {kind} into Go value of type jsonpatch.Patch"
    for op in operations:
        if op is not None and not isinstance(op, dict):
            kind = json_kind(op)
            return f"json: cannot unmarshal {kind} into Go value of type jsonpatch.Operation"
    return None


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _index(container: list[Any], token: str, allow_end: bool) -> int:
    if token == "-" and allow_end:
        return len(container)
    if not token.isdigit():
        raise PatchError(f"invalid array index {token!r}")
    index = int(token)
    if index > len(container) or (index == len(container) and not allow_end):
        raise PatchError(f"array index {index} out of bounds")
    return index


def _parent(doc: Any, parts: list[str]) -> Any:
    target = doc
    for token in parts[:-1]:
        if isinstance(target, dict) and token in target:
            target = target[token]
        elif isinstance(target, list):
            target = target[_index(target, token, False)]
        else:
            raise PatchError(f"path /{'/'.join(parts)} not found")
    return target


def _get(doc: Any, parts: list[str]) -> Any:
    if not parts:
        return doc
    parent = _parent(doc, parts)
    token = parts[-1]
    if isinstance(parent, list):
        return parent[_index(parent, token, False)]
    if isinstance(parent, dict) and token in parent:
        return parent[token]
    raise PatchError(f"path /{'/'.join(parts)} not found")


def _remove(doc: Any, parts: list[str]) -> Any:
    parent = _parent(doc, parts)
    token = parts[-1]
    if isinstance(parent, list):
        return parent.pop(_index(parent, token, False))
    if isinstance(parent, dict) and token in parent:
        return parent.pop(token)
    raise PatchError(f"unable to remove nonexistent key: {token}: missing value")


def _replace(doc: Any, parts: list[str], value: Any) -> Any:
    """The apiserver's json-patch (v4) checks that the target exists only in arrays: in an
    object that exists, a missing key is set, as by `add`."""
    if parts and isinstance(_parent(doc, parts), list):
        _remove(doc, parts)
    return _add(doc, parts, value)


def _add(doc: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    parent = _parent(doc, parts)
    token = parts[-1]
    if isinstance(parent, list):
        parent.insert(_index(parent, token, True), value)
    elif isinstance(parent, dict):
        parent[token] = value
    else:
        raise PatchError(f"path /{'/'.join(parts)} not found")
    return doc


def json_patch(original: JSON, operations: Any) -> JSON:
    if operations is None:
        operations = []
    if not isinstance(operations, list):
        raise PatchError("a JSON patch must be a list of operations")
    doc: Any = copy.deepcopy(original)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError(f"invalid JSON patch operation {op!r}")
        parts = _pointer(op["path"])
        kind = op["op"]
        if kind == "add":
            doc = _add(doc, parts, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            _remove(doc, parts)
        elif kind == "replace":
            doc = _replace(doc, parts, copy.deepcopy(op.get("value")))
        elif kind in ("move", "copy"):
            source = _pointer(op.get("from", ""))
            value = _remove(doc, source) if kind == "move" else copy.deepcopy(_get(doc, source))
            doc = _add(doc, parts, value)
        elif kind == "test":
            if _get(doc, parts) != op.get("value"):
                raise PatchError(f"testing value {op['path']} failed: test failed")
        else:
            raise PatchError(f"Unexpected kind: {kind}")
    if not isinstance(doc, dict):
        raise PatchError("the patch replaced the whole object with a non-object")
    return doc


# strategic merge patch

_DIRECTIVE = "$patch"
_ORDER = "$setElementOrder/"
_DELETE_PRIMITIVES = "$deleteFromPrimitiveList/"
_RETAIN = "$retainKeys"


def _field_schema(schema: JSON, key: str) -> JSON:
    schema = deref(schema)
    props = schema.get("properties") or {}
    if key in props:
        return deref(props[key]) | {
            k: v for k, v in props[key].items() if k.startswith("x-kubernetes-")
        }
    extra = schema.get("additionalProperties")
    return deref(extra) if isinstance(extra, dict) else {}


def _strip(value: Any) -> Any:
    """A patch value with directives removed, for where nothing is there to merge into."""
    if isinstance(value, dict):
        return {
            k: _strip(v)
            for k, v in value.items()
            if not (
                k.startswith("$")
                and (k in (_DIRECTIVE, _RETAIN) or k.startswith((_ORDER, _DELETE_PRIMITIVES)))
            )
            and v is not None
        }
    if isinstance(value, list):
        return [
            _strip(v) for v in value if not (isinstance(v, dict) and v.get(_DIRECTIVE) == "delete")
        ]
    return value


def _merge_key_of(item: Any, merge_key: str) -> Any:
    return item.get(merge_key) if isinstance(item, dict) else item


def _merge_list(
    original: list[Any], patch: list[Any], merge_key: str | None, items: JSON
) -> list[Any]:
    result = list(original)
    if not merge_key:  # a merged list of primitives: union, keeping order
        for value in patch:
            if value not in result:
                result.append(value)
        return result
    for item in patch:
        if not isinstance(item, dict):
            raise PatchError(f"expected a map with merge key {merge_key!r} in a merging list")
        key = item.get(merge_key)
        position = next(
            (i for i, o in enumerate(result) if _merge_key_of(o, merge_key) == key), None
        )
        if item.get(_DIRECTIVE) == "delete":
            result = [o for o in result if _merge_key_of(o, merge_key) != key]
        elif position is None:
            result.append(_strip(item))
        else:
            result[position] = strategic_merge(result[position], item, items)
    return result


def _reorder(values: list[Any], order: list[Any], merge_key: str | None) -> list[Any]:
    keys = [_merge_key_of(o, merge_key) if merge_key else o for o in order]

    def rank(value: Any) -> int:
        key = _merge_key_of(value, merge_key) if merge_key else value
        return keys.index(key) if key in keys else len(keys)

    return sorted(values, key=rank)


def strategic_merge(original: Any, patch: Any, schema: JSON) -> Any:
    """Apply a strategic merge patch to `original`, using `schema` for list strategies."""
    if not isinstance(patch, dict) or not isinstance(original, dict):
        return _strip(patch)
    directive = patch.get(_DIRECTIVE)
    if directive == "replace":
        return _strip(patch)
    if directive == "delete":
        return None
    result = dict(original)
    for key, value in patch.items():
        if key in (_DIRECTIVE, _RETAIN) or key.startswith((_ORDER, _DELETE_PRIMITIVES)):
            continue
        if value is None:
            result.pop(key, None)
            continue
        sub = _field_schema(schema, key)
        current = result.get(key)
        if isinstance(value, dict):
            merged = strategic_merge(current if isinstance(current, dict) else {}, value, sub)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            strategy = str(sub.get("x-kubernetes-patch-strategy", "")).split(",")
            if "merge" in strategy and isinstance(current, list):
                result[key] = _merge_list(
                    current, value, sub.get("x-kubernetes-patch-merge-key"), deref(sub.get("items"))
                )
            else:
                result[key] = _strip(value)
        else:
            result[key] = value
    for key, value in patch.items():
        if key.startswith(_DELETE_PRIMITIVES):
            name = key[len(_DELETE_PRIMITIVES) :]
            result[name] = [v for v in result.get(name) or [] if v not in value]
        elif key.startswith(_ORDER):
            name = key[len(_ORDER) :]
            if isinstance(result.get(name), list):
                merge_key = _field_schema(schema, name).get("x-kubernetes-patch-merge-key")
                result[name] = _reorder(result[name], value, merge_key)
    if isinstance(patch.get(_RETAIN), list):
        keep = set(patch[_RETAIN])
        result = {k: v for k, v in result.items() if k in keep}
    return result
