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
from scheduler.steps import TEARDOWN_PRIORITY, TEARDOWN_TASK, Step

TEARDOWN_MANY_TASK = "lessonq.teardown.many"


# The fields that name the lesson; the others are one step's own counters.
IDENTITY = {"lesson_id", "lesson", "session_id", "namespace"}


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
    # from there), and how many times it has looked so far.
    ready_since: float | None = None
    polls: int = 0

    @classmethod
    def of(cls, record: LessonRecord) -> StepPayload:
        return cls(
            lesson_id=record.id,
            lesson=record.lesson,
            session_id=record.session_id,
            namespace=record.namespace,
        )

    def fresh(self) -> StepPayload:
        """The same lesson with the per-step counters cleared, for the next step."""
        return StepPayload(**self.model_dump(include=IDENTITY))

    def kwargs(self) -> dict[str, Any]:
        return self.model_dump(exclude_defaults=True)


class Dispatcher:
    def __init__(self, app: Celery, queue: str) -> None:
        self._app = app
        self._queue = queue

    def step(self, step: Step, payload: StepPayload) -> None:
        self._send(step.task_name, payload.kwargs(), step.priority)

    def steps(self, steps: Iterable[Step], payload: StepPayload) -> None:
        """Send steps; several go in one round trip to the broker (a kombu publish batch)."""
        steps = list(steps)
        if len(steps) == 1:
            # A batch sets up a Redis pipeline, which costs more than a lone publish.
            self.step(steps[0], payload)
            return
        with self._app.producer_or_acquire() as producer, producer.batch():
            for step in steps:
                self._send(step.task_name, payload.kwargs(), step.priority, producer)

    def teardown(self, payload: StepPayload) -> None:
        self._send(TEARDOWN_TASK, payload.kwargs(), TEARDOWN_PRIORITY)

    def teardowns(self, lesson_ids: list[str]) -> None:
        """Start many teardowns with one message; a worker fans it out.

        GC may expire hundreds of lessons in one tick; one message keeps the tick short.
        """
        if lesson_ids:
            self._send(TEARDOWN_MANY_TASK, {"lesson_ids": lesson_ids}, TEARDOWN_PRIORITY)

    def waiting(self) -> int:
        """Messages waiting in the queue for a free worker (not those already reserved)."""
        with self._app.pool.acquire(block=True) as connection:
            # Declaring the queue the workers consume is harmless, and answers with its size
            # (a passive declare would fail on Redis whenever the queue is empty).
            declared = connection.default_channel.queue_declare(self._queue)
            return int(declared.message_count)

    def _send(self, name: str, kwargs: dict[str, Any], priority: int, producer: Any = None) -> None:
        # kwargsrepr (what Flower and the logs show) is built here: Celery's generic saferepr
        # of the arguments costs more than the rest of the publish.
        self._app.send_task(
            name,
            kwargs=kwargs,
            queue=self._queue,
            priority=priority,
            kwargsrepr=repr(kwargs),
            producer=producer,
        )
