"""The Python client: ask for a lesson, watch it come up, keep it alive, tear it down.

    from scheduler.client import LessonClient
    client = LessonClient()
    lesson = client.create("routing-triangle", "session-42")
    client.wait(lesson.id, timeout=120)

Everything is validated before anything is written or enqueued: an invalid lesson or session id
raises (``LessonError`` naming file and field, ``ValueError`` naming ``session_id``) and leaves
no trace.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from functools import cached_property
from pathlib import Path

from config.settings import Settings, current_settings
from jobs import CeleryProducer, Producer, StepPayload
from lessons.curriculum import Curriculum, Limits, load_curriculum, load_lesson_file, parse_lesson
from lessons.model import Image, Lesson
from lessons.naming import validate_session_id
from lessons.plan import LessonPlan, build_plan
from lessons.state import SETTLED, LessonRecord
from lessons.steps import FIRST_STEPS
from registry import LessonRegistry, new_lesson_id

LessonSource = str | os.PathLike[str] | Lesson
ProgressCallback = Callable[[LessonRecord], None]


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

    @cached_property
    def limits(self) -> Limits:
        return Limits.from_settings(self.settings)

    @cached_property
    def curriculum(self) -> Curriculum:
        """The configured curriculum, loaded on first use."""
        return load_curriculum(self.settings.curriculum, self.limits)

    def _images(self) -> Mapping[str, Image]:
        return self.curriculum.images if self.settings.curriculum.is_dir() else {}

    def resolve(self, source: LessonSource) -> tuple[Lesson, Mapping[str, Image]]:
        """A validated lesson, and the images its endpoints may name."""
        if isinstance(source, Lesson):
            data = source.model_dump(by_alias=True, exclude_none=True, mode="json")
            return parse_lesson(
                data, f"<lesson {source.slug}>", self._images(), self.limits
            ), self._images()
        text = os.fspath(source)
        if isinstance(source, os.PathLike) or text.endswith((".yaml", ".yml")):
            return load_lesson_file(Path(text), self._images(), self.limits), self._images()
        return self.curriculum.lesson(text), self.curriculum.images

    def plan(
        self, source: LessonSource, session_id: str, lesson_id: str | None = None
    ) -> LessonPlan:
        """The resolved plan for a lesson and session (what `create` would provision)."""
        session_id = validate_session_id(session_id)
        lesson, images = self.resolve(source)
        return build_plan(
            lesson,
            images,
            lesson_id=lesson_id or new_lesson_id(),
            session_id=session_id,
            settings=self.settings,
        )

    def create(self, source: LessonSource, session_id: str) -> LessonRecord:
        """Ask for a lesson; the same lesson and session again return the same live lesson."""
        plan = self.plan(source, session_id)
        record, replaced = self.registry.create(plan)
        if replaced is not None:
            self._producer.teardown(StepPayload.of(replaced))
        if record.id == plan.lesson_id:
            self._producer.steps(FIRST_STEPS, StepPayload.of(record))
        return record

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

        `on_progress` is called with the record whenever its state, step or count of healthy
        endpoints changes.
        """
        give_up = time.monotonic() + timeout
        last: tuple[object, ...] | None = None
        while True:
            record = self.registry.require(lesson_id)
            seen = (record.state, record.current_step, record.healthy, record.total)
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
