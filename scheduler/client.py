"""The Python client: ask for a lesson, watch it come up, keep it alive, tear it down.

    from scheduler.client import LessonClient
    client = LessonClient()
    lesson = client.create("routing-triangle", "session-42")
    client.wait(lesson.id, timeout=120)

Everything is validated before anything is written or enqueued: an invalid lesson or session id
raises (``LessonError`` naming file and field, ``ValueError`` naming ``session_id``) and leaves
no trace. A curriculum lesson that is broken raises the LessonError of its files; one of a tier
this instance does not serve (LESSONQ_TIER) is unknown.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

from config.settings import Settings, current_settings
from jobs import CeleryProducer, Producer, StepPayload
from lessons.curriculum import (
    Curriculum,
    Limits,
    check_lesson_file,
    parse_lesson,
    served_curriculum,
)
from lessons.files import LessonFiles
from lessons.model import Image, Lesson
from lessons.naming import validate_session_id
from lessons.plan import LessonPlan, build_plan
from lessons.pool import PoolStatus, pool_version
from lessons.state import SETTLED, LessonRecord
from lessons.steps import FIRST_STEPS, Step
from registry import LessonRegistry, new_lesson_id

LessonSource = str | os.PathLike[str] | Lesson
ProgressCallback = Callable[[LessonRecord], None]


class Resolved(NamedTuple):
    """A validated lesson, the images its endpoints may name, and its folder's files (None for
    a lesson without a folder)."""

    lesson: Lesson
    images: Mapping[str, Image]
    files: LessonFiles | None


class LessonClient:
    def __init__(
        self,
        settings: Settings | None = None,
        *,
        registry: LessonRegistry | None = None,
        producer: Producer | None = None,
    ) -> None:
        self.settings = settings or current_settings()
        self.registry = registry or LessonRegistry.from_settings(self.settings)
        self._producer = producer or CeleryProducer.from_settings(self.settings)
        self._pool_versions: dict[str, str] = {}

    @cached_property
    def limits(self) -> Limits:
        return Limits.from_settings(self.settings)

    @cached_property
    def curriculum(self) -> Curriculum:
        """The configured curriculum as this instance serves it (LESSONQ_TIER), loaded on first
        use: every valid lesson, the broken ones left out. With LESSONQ_CURRICULUM_STRICT, a
        LessonError listing every problem instead, when there is one."""
        return served_curriculum(self.settings)

    def _images(self) -> Mapping[str, Image]:
        return self.curriculum.images if self.settings.curriculum.is_dir() else {}

    def _curriculum_lesson(self, lesson: Lesson) -> Resolved | None:
        """The curriculum's own lesson (that very object: its pool version is worked out once),
        with its folder, when `lesson` is exactly that."""
        own = self.curriculum.lessons.get(lesson.slug)
        if not self.settings.curriculum.is_dir() or own != lesson:
            return None
        return Resolved(own, self.curriculum.images, self.curriculum.files[lesson.slug])

    def resolve(self, source: LessonSource) -> Resolved:
        """A validated lesson, the images its endpoints may name, and its folder's files."""
        if isinstance(source, Lesson):
            served = self._curriculum_lesson(source)
            if served is not None:
                return served
            data = source.model_dump(by_alias=True, exclude_none=True, mode="json")
            lesson = parse_lesson(data, f"<lesson {source.slug}>", self._images(), self.limits)
            return Resolved(lesson, self._images(), None)
        text = os.fspath(source)
        if isinstance(source, os.PathLike) or text.endswith((".yaml", ".yml")):
            check = check_lesson_file(Path(text), self._images(), self.limits)
            return Resolved(check.require(), self._images(), check.files)
        return Resolved(
            self.curriculum.lesson(text), self.curriculum.images, self.curriculum.files[text]
        )

    def prepare(
        self, source: LessonSource, session_id: str, lesson_id: str | None = None
    ) -> tuple[LessonPlan, LessonFiles | None]:
        """The plan for a lesson and session, and the files of the lesson's folder (None for a
        lesson without one): what `create` stores and provisions."""
        plan, resolved = self._prepare(source, session_id, lesson_id)
        return plan, resolved.files

    def _prepare(
        self, source: LessonSource, session_id: str, lesson_id: str | None = None
    ) -> tuple[LessonPlan, Resolved]:
        session_id = validate_session_id(session_id)
        resolved = self.resolve(source)
        plan = build_plan(
            resolved.lesson,
            resolved.images,
            lesson_id=lesson_id or new_lesson_id(),
            session_id=session_id,
            settings=self.settings,
            files=resolved.files,
        )
        return plan, resolved

    def _pool_version(self, resolved: Resolved) -> str | None:
        """The version a pool lesson must have to be handed out for this lesson; None for a
        lesson that is not the curriculum's own (an inline one is never pooled). Worked out
        once per curriculum lesson."""
        lesson = resolved.lesson
        if (
            not self.settings.curriculum.is_dir()
            or self.curriculum.lessons.get(lesson.slug) is not lesson
        ):
            return None
        version = self._pool_versions.get(lesson.slug)
        if version is None:
            version = pool_version(lesson, resolved.images, self.settings, resolved.files)
            self._pool_versions[lesson.slug] = version
        return version

    def plan(
        self, source: LessonSource, session_id: str, lesson_id: str | None = None
    ) -> LessonPlan:
        """The resolved plan for a lesson and session (what `create` would provision)."""
        return self.prepare(source, session_id, lesson_id)[0]

    def create(self, source: LessonSource, session_id: str, stage: int = 0) -> LessonRecord:
        """Ask for a lesson, its devices configured for `stage`; the same lesson and session
        again return the same live lesson (at the stage it is at).

        A curriculum lesson at stage 0 whose warm pool has a READY lesson gets that one, READY
        at once (`pooled` in its record); a worker then labels its objects with the session
        and refills the pool."""
        plan, resolved = self._prepare(source, session_id)
        check_stage(plan, stage)
        version = self._pool_version(resolved) if stage == 0 else None
        registered = self.registry.create(plan, stage, resolved.files, version)
        record = registered.record
        if registered.replaced is not None:
            self._producer.teardown(StepPayload.of(registered.replaced))
        if registered.claimed:
            self._producer.claimed(StepPayload.of(record))
        elif record.id == plan.lesson_id:
            self._producer.steps(FIRST_STEPS, StepPayload.of(record))
        return record

    def set_stage(self, lesson_id: str, stage: int) -> LessonRecord:
        """Move a READY lesson to `stage` (the stage it is at: configure it afresh). It is
        CONFIGURING until its configuration Jobs for that stage have run, then READY again.

        StageError for a stage the lesson does not have; StageConflict unless the lesson is
        READY (or already configuring that stage, which changes nothing).
        """
        check_stage(self.registry.plan(lesson_id), stage)
        if self.registry.begin_stage(lesson_id, stage):
            record = self.registry.require(lesson_id)
            self._producer.steps([Step.CONFIGURE], StepPayload.of(record))
        return self.registry.require(lesson_id)

    def pools(self) -> list[PoolStatus]:
        """Every warm pool: its size, what it holds, its claims, misses and refills."""
        return self.registry.pools.statuses()

    def set_pools(self, sizes: Mapping[str, int]) -> list[PoolStatus]:
        """Set the sizes of these warm pools (0 empties one; the others keep theirs) and have
        the workers refill them now. PoolSizeError naming each slug that is not a lesson this
        instance serves, or a size out of range; nothing changes then."""
        problems = []
        for slug, size in sizes.items():
            if slug not in self.curriculum.lessons:
                problems.append((slug, f"{slug!r} is not a lesson of the curriculum served here"))
            elif (
                isinstance(size, bool)
                or not isinstance(size, int)
                or not 0 <= size <= (self.settings.max_live_lessons)
            ):
                limit = self.settings.max_live_lessons
                problems.append((slug, f"the size must be 0 to {limit} (LESSONQ_MAX_LIVE_LESSONS)"))
        if problems:
            raise PoolSizeError(problems)
        self.registry.pools.set_sizes(sizes)
        self._producer.refill()
        return self.pools()

    def status(self, lesson_id: str) -> LessonRecord:
        return self.registry.require(lesson_id)

    def list(self, session_id: str | None = None) -> list[LessonRecord]:
        return self.registry.records(session_id)

    def keepalive(self, lesson_id: str) -> LessonRecord:
        return self.registry.keepalive(lesson_id)

    def teardown(self, lesson_id: str) -> LessonRecord:
        """Start tearing the lesson down (it wins over provisioning still under way)."""
        self.registry.require(lesson_id)
        if self.registry.begin_teardown([lesson_id]):
            self._producer.teardown(StepPayload.of(self.registry.require(lesson_id)))
        return self.registry.require(lesson_id)

    def wait(
        self,
        lesson_id: str,
        timeout: float,
        on_progress: ProgressCallback | None = None,
        poll: float = 0.1,
    ) -> LessonRecord:
        """Block until the lesson is READY, FAILED or GONE; TimeoutError after `timeout` s.

        `on_progress` is called with the record whenever its state, step, stage or count of
        healthy or configured endpoints changes.
        """
        give_up = time.monotonic() + timeout
        last: tuple[object, ...] | None = None
        while True:
            record = self.registry.require(lesson_id)
            seen = (
                record.state,
                record.current_step,
                record.stage,
                record.healthy,
                record.total,
                record.configured,
            )
            if on_progress is not None and seen != last:
                on_progress(record)
            last = seen
            if record.state in SETTLED:
                return record
            if time.monotonic() >= give_up:
                raise TimeoutError(
                    f"lesson {lesson_id} still {record.state} after {timeout:g}s"
                    f" (step {record.current_step})"
                )
            time.sleep(poll)


class PoolSizeError(ValueError):
    """Pool sizes that cannot be set: (slug, why) for each."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{slug}: {why}" for slug, why in problems))
        self.problems = problems


class StageError(ValueError):
    """A stage the lesson does not have."""


def check_stage(plan: LessonPlan, stage: int) -> None:
    """StageError naming `stage` unless the lesson has that stage."""
    if isinstance(stage, bool) or not isinstance(stage, int) or not 0 <= stage < plan.stage_count:
        raise StageError(
            f"stage must be a stage of lesson {plan.slug}: 0 to {plan.stage_count - 1}, "
            f"not {stage!r}"
        )
