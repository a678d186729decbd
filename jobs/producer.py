"""Sending lessonq's jobs: the one place that enqueues, for the intake and the workers alike.

Jobs are sent by task name (``lessons.steps``), so the intake never imports the worker code:
its producer runs on a Celery app of its own that only sends (no task modules, no worker signal
handlers). Workers send the next steps through the app they run.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from celery import Celery

from config.settings import Settings
from jobs.payload import StepPayload
from lessons.steps import POOL_PRIORITY, TEARDOWN_PRIORITY, Job, Step


class Producer(Protocol):
    def steps(self, steps: Iterable[Step], payload: StepPayload) -> None:
        """Send these provisioning steps of one lesson."""
        ...

    def teardown(self, payload: StepPayload) -> None: ...

    def teardowns(self, lesson_ids: list[str]) -> None:
        """Start the teardowns of many lessons (already TEARING_DOWN)."""
        ...

    def claimed(self, payload: StepPayload) -> None:
        """A session claimed this pool lesson: relabel it, refill its pool."""
        ...

    def refill(self) -> None:
        """Bring every warm pool to its size."""
        ...

    def waiting(self) -> int:
        """Messages waiting in the queue for a free worker (not those already reserved)."""
        ...


def messaging(settings: Settings) -> dict[str, Any]:
    """The Celery settings of everything that sends or takes lessonq's jobs."""
    return {
        "broker_url": settings.redis_url,
        "task_default_queue": settings.queue,
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        "broker_transport_options": {"visibility_timeout": settings.visibility_timeout},
        "broker_connection_retry_on_startup": True,
        # No "task-sent" events: each would cost every enqueue a second publish, and Flower
        # does not need them.
        "task_send_sent_event": False,
    }


def sending_app(settings: Settings) -> Celery:
    """A Celery app that only sends jobs."""
    app = Celery("lessonq-producer", set_as_current=False)
    app.conf.update(messaging(settings))
    return app


class CeleryProducer:
    def __init__(self, app: Celery, queue: str) -> None:
        self._app = app
        self._queue = queue

    @classmethod
    def from_settings(cls, settings: Settings) -> CeleryProducer:
        """The intake's producer, on an app of its own."""
        return cls(sending_app(settings), settings.queue)

    def steps(self, steps: Iterable[Step], payload: StepPayload) -> None:
        """Send steps; several go in one round trip to the broker (a kombu publish batch)."""
        steps = list(steps)
        if not steps:
            return
        if len(steps) == 1:
            # A batch sets up a Redis pipeline, which costs more than a lone publish.
            self._send(steps[0].task_name, payload.kwargs(), steps[0].priority)
            return
        with self._app.producer_or_acquire() as producer, producer.batch():
            for step in steps:
                self._send(step.task_name, payload.kwargs(), step.priority, producer)

    def teardown(self, payload: StepPayload) -> None:
        self._send(Job.TEARDOWN, payload.kwargs(), TEARDOWN_PRIORITY)

    def teardowns(self, lesson_ids: list[str]) -> None:
        """Start many teardowns with one message; a worker fans it out.

        GC may expire hundreds of lessons in one tick; one message keeps the tick short.
        """
        if lesson_ids:
            self._send(Job.TEARDOWN_MANY, {"lesson_ids": lesson_ids}, TEARDOWN_PRIORITY)

    def claimed(self, payload: StepPayload) -> None:
        self._send(Job.POOL_CLAIMED, payload.kwargs(), POOL_PRIORITY)

    def refill(self) -> None:
        self._send(Job.POOL_REFILL, {}, POOL_PRIORITY)

    def waiting(self) -> int:
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
