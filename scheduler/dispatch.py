"""Sending lessonq's tasks: the payload every task receives, and the one place that enqueues.

Tasks are sent by name so the intake never imports the worker code. The payload names the
lesson, session and namespace so Flower shows what each task is working on; the plan itself
stays in the lesson's record in Redis.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from celery import Celery
from pydantic import BaseModel, ConfigDict

from scheduler.state import LessonRecord
from scheduler.steps import TEARDOWN_TASK, Step

TEARDOWN_MANY_TASK = "lessonq.teardown.many"


class StepPayload(BaseModel):
    """The keyword arguments of every provisioning and teardown task."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lesson_id: str
    lesson: str
    session_id: str
    namespace: str
    # Consecutive transient failures, for the backoff; a step that makes progress resets it.
    attempt: int = 0
    # When the readiness step first saw every endpoint ready (the lesson's readyDelay runs
    # from there).
    ready_since: float | None = None

    @classmethod
    def of(cls, record: LessonRecord) -> StepPayload:
        return cls(
            lesson_id=record.id,
            lesson=record.lesson,
            session_id=record.session_id,
            namespace=record.namespace,
        )

    def kwargs(self) -> dict[str, Any]:
        return self.model_dump(exclude_defaults=True)


class Dispatcher:
    def __init__(self, app: Celery, queue: str) -> None:
        self._app = app
        self._queue = queue

    def step(self, step: Step, payload: StepPayload) -> None:
        self._send(step.task_name, payload.kwargs())

    def steps(self, steps: Iterable[Step], payload: StepPayload) -> None:
        for step in steps:
            self.step(step, payload)

    def teardown(self, payload: StepPayload) -> None:
        self._send(TEARDOWN_TASK, payload.kwargs())

    def teardowns(self, lesson_ids: list[str]) -> None:
        """Start many teardowns with one message; a worker fans it out.

        GC may expire hundreds of lessons in one tick; one message keeps the tick short.
        """
        if lesson_ids:
            self._send(TEARDOWN_MANY_TASK, {"lesson_ids": lesson_ids})

    def _send(self, name: str, kwargs: dict[str, Any]) -> None:
        self._app.send_task(name, kwargs=kwargs, queue=self._queue)
