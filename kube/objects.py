"""Reading Kubernetes objects as the API returns them (plain dicts): whose, and whether going."""

from __future__ import annotations

from typing import Any

from lessons.naming import LESSON_ID

Obj = dict[str, Any]


def owner_of(obj: Obj) -> str | None:
    """The id of the lesson an object belongs to (its label), or None."""
    labels = obj.get("metadata", {}).get("labels") or {}
    owner = labels.get(LESSON_ID)
    return str(owner) if owner is not None else None


def is_terminating(obj: Obj) -> bool:
    return obj.get("metadata", {}).get("deletionTimestamp") is not None


def describe(manifest: Obj) -> str:
    """`Kind namespace/name`, for messages."""
    metadata = manifest.get("metadata", {})
    where = f"{metadata['namespace']}/" if metadata.get("namespace") else ""
    return f"{manifest.get('kind')} {where}{metadata.get('name')}"
