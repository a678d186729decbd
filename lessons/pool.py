"""Warm pools: READY lessons of a slug kept for sessions to claim, and what says a pool lesson
is the lesson a session asks for.

A pool lesson is provisioned like any other, with no session (``LessonPlan.session_id`` None,
its namespace named after its id). A create of the same curriculum lesson at stage 0 claims a
READY one whose version is the one the request would build: same lesson, images, folder and
settings. A lesson that changed since its pool lessons were made is provisioned afresh, and the
stale pool lessons are retired by the next refill.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

from config.settings import Settings
from lessons.files import LessonFiles
from lessons.model import Image, Lesson
from lessons.plan import build_plan

# The lesson id of the plan a version is computed from: any fixed id does.
_PROBE_ID = "0" * 16


def pool_version(
    lesson: Lesson, images: Mapping[str, Image], settings: Settings, files: LessonFiles | None
) -> str:
    """What a pool lesson must match to be handed to a session: a digest of the plan the lesson
    resolves to, with a fixed identity (everything else in it comes from the lesson, its
    images, its folder and the settings)."""
    plan = build_plan(
        lesson, images, lesson_id=_PROBE_ID, session_id=None, settings=settings, files=files
    )
    return hashlib.sha256(plan.model_dump_json().encode()).hexdigest()[:16]


class PoolStatus(BaseModel):
    """One warm pool: its size and what it holds now, and its figures since it was made."""

    model_config = ConfigDict(frozen=True)

    slug: str
    size: int = Field(description="READY lessons of this slug to keep")
    ready: int = Field(description="READY pool lessons waiting for a session")
    provisioning: int = Field(description="pool lessons on their way to READY")
    claims: int = Field(0, description="creates that got a pool lesson")
    misses: int = Field(0, description="creates of a pooled slug that found none READY")
    refills: int = Field(0, description="pool lessons that reached READY")
    refill_seconds: float = Field(0, description="their provisioning times, summed")
    last_refill_seconds: float | None = Field(None, description="the last one's provisioning time")
