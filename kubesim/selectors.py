"""Label selectors (query strings and LabelSelector objects) and field selectors."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kubesim.errors import bad_request

JSON = dict[str, Any]

_REQUIREMENT = re.compile(
    r"^\s*(?P<neg>!)?\s*(?P<key>[A-Za-z0-9_.\-/]+)\s*"
    r"(?:(?P<op>==|=|!=|\s+in\s+|\s+notin\s+)\s*(?P<value>\([^)]*\)|[A-Za-z0-9_.\-]*))?\s*$"
)


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # In, NotIn, Exists, DoesNotExist
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.op == "Exists":
            return self.key in labels
        if self.op == "DoesNotExist":
            return self.key not in labels
        if self.op == "In":
            return self.key in labels and labels[self.key] in self.values
        return self.key not in labels or labels[self.key] not in self.values


LabelSelector = tuple[Requirement, ...]
EVERYTHING: LabelSelector = ()


def _split_top_level(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [p for p in parts if p.strip()]


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse the `labelSelector` query parameter; a malformed one is a 400 like the apiserver's."""
    if not text:
        return EVERYTHING
    requirements = []
    for part in _split_top_level(text):
        found = _REQUIREMENT.match(part)
        if not found:
            raise bad_request(
                f"unable to parse requirement: found '{part.strip()}', "
                "expected: ',' or 'end of string'"
            )
        key, op, value = found["key"], (found["op"] or "").strip(), found["value"]
        if found["neg"]:
            if op:
                raise bad_request(f"unable to parse requirement: unexpected operator after !{key}")
            requirements.append(Requirement(key, "DoesNotExist"))
        elif not op:
            requirements.append(Requirement(key, "Exists"))
        elif op in ("in", "notin"):
            if not value or not value.startswith("("):
                raise bad_request(f"unable to parse requirement: found '{value}', expected: '('")
            values = frozenset(v.strip() for v in value[1:-1].split(",") if v.strip())
            requirements.append(Requirement(key, "In" if op == "in" else "NotIn", values))
        else:
            requirements.append(
                Requirement(key, "NotIn" if op == "!=" else "In", frozenset([value or ""]))
            )
    return tuple(requirements)


def from_label_selector_object(selector: JSON | None) -> LabelSelector | None:
    """A metav1.LabelSelector; None (no selector) matches nothing, {} matches everything."""
    if selector is None:
        return None
    requirements = [
        Requirement(key, "In", frozenset([value]))
        for key, value in (selector.get("matchLabels") or {}).items()
    ]
    for expression in selector.get("matchExpressions") or []:
        requirements.append(
            Requirement(
                expression["key"], expression["operator"], frozenset(expression.get("values") or ())
            )
        )
    return tuple(requirements)


def labels_match(selector: LabelSelector, labels: Mapping[str, str] | None) -> bool:
    labels = labels or {}
    return all(requirement.matches(labels) for requirement in selector)


# field selectors


def _path(*keys: str) -> Callable[[JSON], str]:
    def get(obj: JSON) -> str:
        value: Any = obj
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        if value is None:
            return ""
        if isinstance(value, bool):
            return str(value).lower()
        return str(value)

    return get


_COMMON = {
    "metadata.name": _path("metadata", "name"),
    "metadata.namespace": _path("metadata", "namespace"),
}

FIELD_GETTERS: dict[str, dict[str, Callable[[JSON], str]]] = {
    "pods": {
        "spec.nodeName": _path("spec", "nodeName"),
        "spec.restartPolicy": _path("spec", "restartPolicy"),
        "spec.schedulerName": _path("spec", "schedulerName"),
        "spec.serviceAccountName": _path("spec", "serviceAccountName"),
        "spec.hostNetwork": lambda pod: "true" if pod["spec"].get("hostNetwork") else "false",
        "status.phase": _path("status", "phase"),
        "status.podIP": _path("status", "podIP"),
        "status.nominatedNodeName": _path("status", "nominatedNodeName"),
    },
    "events": {
        **{
            f"involvedObject.{key}": _path("involvedObject", key)
            for key in (
                "kind",
                "namespace",
                "name",
                "uid",
                "apiVersion",
                "resourceVersion",
                "fieldPath",
            )
        },
        "reason": _path("reason"),
        "reportingComponent": _path("reportingComponent"),
        "source": _path("source", "component"),
        "type": _path("type"),
    },
    "namespaces": {"status.phase": _path("status", "phase")},
    "secrets": {"type": _path("type")},
    "nodes": {
        "spec.unschedulable": lambda node: "true" if node["spec"].get("unschedulable") else "false"
    },
    "jobs": {"status.successful": _path("status", "succeeded")},
}


@dataclass(frozen=True)
class FieldRequirement:
    get: Callable[[JSON], str]
    value: str
    equal: bool

    def matches(self, obj: JSON) -> bool:
        return (self.get(obj) == self.value) == self.equal


FieldSelector = tuple[FieldRequirement, ...]


def parse_field_selector(text: str | None, plural: str) -> FieldSelector:
    if not text:
        return ()
    getters = {**_COMMON, **FIELD_GETTERS.get(plural, {})}
    requirements = []
    for part in text.split(","):
        if not part.strip():
            continue
        op = next((op for op in ("!=", "==", "=") if op in part), None)
        if op is None:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        key, value = (s.strip() for s in part.split(op, 1))
        equal = op != "!="
        if key not in getters:
            raise bad_request(f"field label not supported: {key}")
        requirements.append(FieldRequirement(getters[key], value, equal))
    return tuple(requirements)


def fields_match(selector: FieldSelector, obj: JSON) -> bool:
    return all(requirement.matches(obj) for requirement in selector)
